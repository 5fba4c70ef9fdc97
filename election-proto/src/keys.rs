//! Node keys, key-bound peer ids, signed answers and the identity proof of
//! work (docs/WIRE.md §3–§5).
//!
//! - Every node has an Ed25519 key pair. Its [`PeerId`] is the BLAKE3 hash of
//!   its 32-byte public key ([`peer_id_of`]), so an id can be claimed only by
//!   whoever holds the matching secret key.
//! - An [`Answer`](crate::wire::Answer) is signed by its responder over the
//!   bytes [`answer_signed_bytes`] builds; a relay that rewrites any signed
//!   field, or names another responder, breaks the signature.
//! - Optionally, an identity carries a memory-hard proof of work
//!   ([`pow_hash`], Argon2id) bound to its public key, so minting ids costs
//!   time ([`pow_valid`]).
//!
//! The core stays sans-IO: secret keys come from the host
//! ([`NodeKey::from_secret`]), never from hidden randomness.
//!
//! # The signature seam
//!
//! A [`NodeKey`] signs with real Ed25519 unless it was built with
//! [`NodeKey::with_scheme`], which hands signing and verifying to a
//! [`SignatureScheme`]. A [`Node`](crate::node::Node) verifies the answers it
//! receives through its own key ([`NodeKey::verify_peer`]), so the scheme a
//! node was given is the one it checks others with. The public key, and so
//! the [`PeerId`], is the Ed25519 one whatever the scheme (unless the scheme
//! overrides [`SignatureScheme::public_key`]): a network of nodes on another
//! scheme has the same ids, the same ring and the same elections.
//!
//! Hosts use the seam to move signing elsewhere (an HSM, a remote signer, a
//! verification cache); the simulator uses it for a scheme that costs a hash
//! instead of a curve operation inside its closed world (see
//! `election-tests`' `sim::crypto`). Outside such a world, keep Ed25519: it
//! is the only scheme the wire format (docs/WIRE.md §4) promises peers.

use crate::election::MessageTicket;
use crate::id::{PeerId, TokenId};
use crate::proof::{PossessionProof, TokenMapping, PROOF_STEPS, PROOF_TAG_LEN, SIGNATURE_SIZE};
use crate::wire::{Address, PROTOCOL_VERSION};
use core::fmt;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Length of a public key on the wire, in bytes.
pub const PUBLIC_KEY_LEN: usize = 32;

/// Length of an Ed25519 signature on the wire, in bytes.
pub const SIGNATURE_LEN: usize = 64;

/// Domain-separation prefix of the bytes an answer's responder signs
/// ([`answer_signed_bytes`]); no other signed message starts with it.
pub const ANSWER_SIGNING_DOMAIN: &[u8; 26] = b"election-proto answer v3\0\0";

/// An Ed25519 public key (32 bytes, the compressed Edwards point), as carried
/// on the wire. Not checked when decoded; [`PublicKey::verify`] rejects keys
/// that are not valid points.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PublicKey(pub [u8; PUBLIC_KEY_LEN]);

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey(")?;
        for b in &self.0[..4] {
            write!(f, "{b:02x}")?;
        }
        write!(f, "..)")
    }
}

/// An Ed25519 signature (64 bytes: `R` then `s`), as carried on the wire.
///
/// Two 32-byte halves because serde derives arrays only up to 32 elements;
/// postcard writes them as 64 raw bytes either way.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Signature {
    r: [u8; 32],
    s: [u8; 32],
}

impl Signature {
    /// The signature from its 64 bytes.
    pub fn from_bytes(bytes: [u8; SIGNATURE_LEN]) -> Self {
        let mut r = [0u8; 32];
        let mut s = [0u8; 32];
        r.copy_from_slice(&bytes[..32]);
        s.copy_from_slice(&bytes[32..]);
        Self { r, s }
    }

    /// The 64 bytes of the signature.
    pub fn to_bytes(&self) -> [u8; SIGNATURE_LEN] {
        let mut out = [0u8; SIGNATURE_LEN];
        out[..32].copy_from_slice(&self.r);
        out[32..].copy_from_slice(&self.s);
        out
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({:02x}{:02x}..)", self.r[0], self.r[1])
    }
}

/// Why a key-bound signature was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// The public key is not the one the claimed id derives from.
    IdMismatch,
    /// The 32 bytes are not a valid Ed25519 public key.
    BadKey,
    /// The signature does not verify (strict Ed25519) over the signed bytes.
    BadSignature,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::IdMismatch => "public key does not hash to the claimed peer id",
            Self::BadKey => "not a valid Ed25519 public key",
            Self::BadSignature => "signature does not verify",
        })
    }
}

impl std::error::Error for KeyError {}

/// The peer id a public key stands for: `BLAKE3(public key bytes)`.
pub fn peer_id_of(key: &PublicKey) -> PeerId {
    PeerId::new(*blake3::hash(&key.0).as_bytes())
}

impl PublicKey {
    /// The peer id of this key ([`peer_id_of`]).
    pub fn peer_id(&self) -> PeerId {
        peer_id_of(self)
    }

    /// Checks `signature` over `message` with strict Ed25519 verification
    /// (rejects non-canonical encodings and small-order keys, so a signature
    /// has one accepted form).
    pub fn verify(&self, message: &[u8], signature: &Signature) -> Result<(), KeyError> {
        let key = VerifyingKey::from_bytes(&self.0).map_err(|_| KeyError::BadKey)?;
        let sig = ed25519_dalek::Signature::from_bytes(&signature.to_bytes());
        key.verify_strict(message, &sig)
            .map_err(|_| KeyError::BadSignature)
    }

    /// Checks that this key is `claimed`'s ([`peer_id_of`]) and that
    /// `signature` verifies over `message`.
    pub fn verify_for(
        &self,
        claimed: &PeerId,
        message: &[u8],
        signature: &Signature,
    ) -> Result<(), KeyError> {
        if peer_id_of(self) != *claimed {
            return Err(KeyError::IdMismatch);
        }
        self.verify(message, signature)
    }
}

/// How signatures are made and checked: the seam between the protocol and
/// its signature scheme (see the [module docs](self#the-signature-seam)).
///
/// A scheme must keep Ed25519's two promises within the world it serves:
/// only the holder of a key's secret can make a signature that
/// [`verify`](SignatureScheme::verify) accepts for that key, and a signature
/// stops verifying if one bit of the message, key or signature changes.
/// Signatures are [`SIGNATURE_LEN`] bytes whatever the scheme, so datagram
/// sizes, and everything that depends on them, do not change.
pub trait SignatureScheme: fmt::Debug + Send + Sync {
    /// The public key of `secret`. The default is the Ed25519 public key, so
    /// ids do not depend on the scheme.
    fn public_key(&self, secret: &[u8; 32]) -> PublicKey {
        ed25519_public_key(secret)
    }

    /// A signature over `message` by the key whose secret is `secret` and
    /// whose public key is `public` ([`NodeKey`] passes the pair it holds, so
    /// they always match).
    fn sign(&self, secret: &[u8; 32], public: &PublicKey, message: &[u8]) -> Signature;

    /// Whether `signature` is `public`'s over `message`.
    fn verify(&self, public: &PublicKey, message: &[u8], signature: &Signature) -> Result<(), KeyError>;
}

/// Real Ed25519 as a [`SignatureScheme`], for hosts that wrap or compose
/// schemes. A [`NodeKey::from_secret`] key does the same without the seam
/// (and keeps its expanded secret, so it does not re-derive it per signature).
#[derive(Clone, Copy, Debug, Default)]
pub struct Ed25519;

impl SignatureScheme for Ed25519 {
    fn sign(&self, secret: &[u8; 32], _public: &PublicKey, message: &[u8]) -> Signature {
        Signature::from_bytes(SigningKey::from_bytes(secret).sign(message).to_bytes())
    }

    fn verify(&self, public: &PublicKey, message: &[u8], signature: &Signature) -> Result<(), KeyError> {
        public.verify(message, signature)
    }
}

/// The Ed25519 public key of `secret` (one base-point multiplication).
pub fn ed25519_public_key(secret: &[u8; 32]) -> PublicKey {
    PublicKey(SigningKey::from_bytes(secret).verifying_key().to_bytes())
}

/// What signs for a [`NodeKey`].
#[derive(Clone)]
enum Signer {
    /// Real Ed25519 (the default). Boxed: the expanded key is 224 bytes, and a
    /// key on another scheme should not pay for it.
    Ed25519(Box<SigningKey>),
    /// A host-chosen scheme, with the secret it signs from.
    Scheme {
        secret: [u8; 32],
        scheme: Arc<dyn SignatureScheme>,
    },
}

/// A node's key pair, plus the proof-of-work nonce that goes with its public
/// key (0 when the network asks for none).
///
/// Built from 32 secret bytes the host supplies (Ed25519 secret-key seed);
/// the same bytes always give the same key pair and [`PeerId`]. Signs with
/// Ed25519 unless built with [`NodeKey::with_scheme`]. `Debug` shows the
/// public key only.
#[derive(Clone)]
pub struct NodeKey {
    signer: Signer,
    public: PublicKey,
    pow_nonce: u64,
}

impl fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("NodeKey");
        d.field("public", &self.public)
            .field("pow_nonce", &self.pow_nonce);
        if let Signer::Scheme { scheme, .. } = &self.signer {
            d.field("scheme", scheme);
        }
        d.finish_non_exhaustive()
    }
}

impl NodeKey {
    /// The key pair whose Ed25519 secret key is `secret`.
    pub fn from_secret(secret: [u8; 32]) -> Self {
        let signing = SigningKey::from_bytes(&secret);
        let public = PublicKey(signing.verifying_key().to_bytes());
        Self {
            signer: Signer::Ed25519(Box::new(signing)),
            public,
            pow_nonce: 0,
        }
    }

    /// The key of `secret` under `scheme`: it signs with the scheme, and a
    /// node holding it verifies others' signatures with the scheme too
    /// ([`NodeKey::verify_peer`]). Its public key is
    /// [`SignatureScheme::public_key`] of `secret`.
    pub fn with_scheme(secret: [u8; 32], scheme: Arc<dyn SignatureScheme>) -> Self {
        let public = scheme.public_key(&secret);
        Self {
            signer: Signer::Scheme { secret, scheme },
            public,
            pow_nonce: 0,
        }
    }

    /// The same key with `nonce` as its proof of work (see [`pow_valid`]).
    pub fn with_pow_nonce(mut self, nonce: u64) -> Self {
        self.pow_nonce = nonce;
        self
    }

    /// The proof-of-work nonce that goes with this key.
    pub fn pow_nonce(&self) -> u64 {
        self.pow_nonce
    }

    /// The secret key bytes (whoever has them can act as this node).
    pub fn secret_bytes(&self) -> [u8; 32] {
        match &self.signer {
            Signer::Ed25519(signing) => signing.to_bytes(),
            Signer::Scheme { secret, .. } => *secret,
        }
    }

    /// The public key.
    pub fn public(&self) -> PublicKey {
        self.public
    }

    /// This key's peer id ([`peer_id_of`] of the public key).
    pub fn peer_id(&self) -> PeerId {
        peer_id_of(&self.public)
    }

    /// Signature over `message` (deterministic: same key and message, same
    /// signature): Ed25519, or this key's scheme.
    pub fn sign(&self, message: &[u8]) -> Signature {
        match &self.signer {
            Signer::Ed25519(signing) => Signature::from_bytes(signing.sign(message).to_bytes()),
            Signer::Scheme { secret, scheme } => scheme.sign(secret, &self.public, message),
        }
    }

    /// Checks that `key` is `claimed`'s ([`peer_id_of`]) and that `signature`
    /// is `key`'s over `message`, under the scheme this key signs with: the
    /// one check a node applies to what others signed.
    pub fn verify_peer(
        &self,
        key: &PublicKey,
        claimed: &PeerId,
        message: &[u8],
        signature: &Signature,
    ) -> Result<(), KeyError> {
        match &self.signer {
            Signer::Ed25519(_) => key.verify_for(claimed, message, signature),
            Signer::Scheme { scheme, .. } => {
                if peer_id_of(key) != *claimed {
                    return Err(KeyError::IdMismatch);
                }
                scheme.verify(key, message, signature)
            }
        }
    }
}

/// The exact bytes the responder of an answer signs (docs/WIRE.md §4):
///
/// | bytes | field |
/// |-------|-------|
/// | 26    | [`ANSWER_SIGNING_DOMAIN`] |
/// | 1     | [`PROTOCOL_VERSION`] |
/// | 32    | challenger id |
/// | 8     | ticket, big-endian `u64` |
/// | 32    | challenged token |
/// | 64    | answer: token id, block id |
/// | 640   | walk: 10 × (token id, block id) |
/// | 128   | possession proof: 32 × 4-byte tags (wire v3) |
/// | 2     | length `n` of the responder address encoding, big-endian `u16` |
/// | n     | responder address, its postcard encoding |
///
/// The responder's id is not in it: it is `BLAKE3(public key)`, and the key is
/// what verifies the signature. Returns `None` only for an address type that
/// cannot be encoded (or one longer than 65,535 bytes).
pub fn answer_signed_bytes<A: Address>(
    challenger: &PeerId,
    ticket: MessageTicket,
    token: &TokenId,
    answer: &TokenMapping,
    walk: &[TokenMapping; SIGNATURE_SIZE],
    proof: &PossessionProof,
    responder_addr: &A,
) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(
        ANSWER_SIGNING_DOMAIN.len() + 1 + 32 + 8 + 32 + 64 * 11 + PROOF_STEPS * PROOF_TAG_LEN + 2 + 24,
    );
    out.extend_from_slice(ANSWER_SIGNING_DOMAIN);
    out.push(PROTOCOL_VERSION);
    out.extend_from_slice(challenger.as_bytes());
    out.extend_from_slice(&ticket.0.to_be_bytes());
    out.extend_from_slice(token.as_bytes());
    for m in core::iter::once(answer).chain(walk.iter()) {
        out.extend_from_slice(m.id.as_bytes());
        out.extend_from_slice(m.block.as_bytes());
    }
    for tag in proof {
        out.extend_from_slice(tag);
    }
    let addr = postcard::to_allocvec(responder_addr).ok()?;
    let len = u16::try_from(addr.len()).ok()?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&addr);
    Some(out)
}

/// Argon2id memory cost of the identity proof of work, in KiB (16 MiB): one
/// check then costs about 5 ms (the `identity` bench measured 2.6 ms at
/// 8 MiB), so 24 bits (2^24 checks expected) take about a day of one core
/// to mine, as in the original design.
pub const POW_MEMORY_KIB: u32 = 16_384;
/// Argon2id passes of the identity proof of work.
pub const POW_PASSES: u32 = 1;
/// Argon2id salt of the identity proof of work (a fixed domain string; the
/// public key is in the password, so one salt serves every identity).
pub const POW_SALT: &[u8] = b"election-proto identity pow v2";
/// Most difficulty bits a configuration may ask for (the hash has 256).
pub const MAX_POW_BITS: u8 = 64;

/// The proof-of-work hash of `(key, nonce)`: Argon2id (version 0x13,
/// [`POW_MEMORY_KIB`] KiB, [`POW_PASSES`] pass, 1 lane, 32-byte output) of the
/// password `key bytes ‖ nonce as little-endian u64`, salt [`POW_SALT`].
pub fn pow_hash(key: &PublicKey, nonce: u64) -> [u8; 32] {
    let mut password = [0u8; 40];
    password[..32].copy_from_slice(&key.0);
    password[32..].copy_from_slice(&nonce.to_le_bytes());
    let mut out = [0u8; 32];
    // The parameters are constants within argon2's limits, so neither call
    // can fail; should one ever fail, the all-ones hash is a failed proof
    // rather than a panic.
    let ok = argon2::Params::new(POW_MEMORY_KIB, POW_PASSES, 1, Some(32))
        .ok()
        .map(|p| argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, p))
        .is_some_and(|a| a.hash_password_into(&password, POW_SALT, &mut out).is_ok());
    if ok {
        out
    } else {
        [0xff; 32]
    }
}

/// Number of leading zero bits of `hash`, read big-endian.
pub fn leading_zero_bits(hash: &[u8; 32]) -> u32 {
    let mut n = 0;
    for b in hash {
        if *b == 0 {
            n += 8;
        } else {
            return n + b.leading_zeros();
        }
    }
    n
}

/// Whether `nonce` is a proof of work of at least `bits` difficulty for `key`:
/// [`pow_hash`] starts with `bits` zero bits. `bits == 0` is always valid and
/// costs nothing; otherwise one check is one Argon2id evaluation (see the
/// `pow` criterion bench for its cost).
pub fn pow_valid(key: &PublicKey, nonce: u64, bits: u8) -> bool {
    bits == 0 || leading_zero_bits(&pow_hash(key, nonce)) >= u32::from(bits)
}

/// Searches nonces `start, start + 1, ..` for a proof of work of `bits`
/// difficulty for `key`, trying at most `max_tries`. Expected tries: `2^bits`.
pub fn mine_pow(key: &PublicKey, bits: u8, start: u64, max_tries: u64) -> Option<u64> {
    (0..max_tries)
        .map(|i| start.wrapping_add(i))
        .find(|n| pow_valid(key, *n, bits))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::BlockId;

    fn mapping(i: u8) -> TokenMapping {
        TokenMapping {
            id: TokenId::new([i; 32]),
            block: BlockId::new([i.wrapping_add(1); 32]),
        }
    }

    #[test]
    fn peer_id_is_blake3_of_the_public_key_and_deterministic() {
        let k = NodeKey::from_secret([7; 32]);
        assert_eq!(k.peer_id(), PeerId::new(*blake3::hash(&k.public().0).as_bytes()));
        assert_eq!(NodeKey::from_secret([7; 32]).public(), k.public());
        assert_ne!(NodeKey::from_secret([8; 32]).peer_id(), k.peer_id());
        assert_eq!(NodeKey::from_secret(k.secret_bytes()).peer_id(), k.peer_id());
        let dbg = format!("{k:?}");
        assert!(!dbg.contains("signing"), "secret not shown: {dbg}");
    }

    #[test]
    fn signatures_verify_only_for_the_key_its_id_and_the_exact_bytes() {
        let k = NodeKey::from_secret([1; 32]);
        let other = NodeKey::from_secret([2; 32]);
        let sig = k.sign(b"hello");
        assert_eq!(k.public().verify(b"hello", &sig), Ok(()));
        assert_eq!(k.public().verify_for(&k.peer_id(), b"hello", &sig), Ok(()));
        assert_eq!(k.public().verify(b"hellp", &sig), Err(KeyError::BadSignature));
        assert_eq!(other.public().verify(b"hello", &sig), Err(KeyError::BadSignature));
        assert_eq!(
            k.public().verify_for(&other.peer_id(), b"hello", &sig),
            Err(KeyError::IdMismatch)
        );
        let mut bytes = sig.to_bytes();
        bytes[40] ^= 1;
        assert_eq!(
            k.public().verify(b"hello", &Signature::from_bytes(bytes)),
            Err(KeyError::BadSignature)
        );
        // A y-coordinate that is not on the curve (2 is not a valid y; its x² is a non-residue).
        let mut bad = [0u8; 32];
        bad[0] = 2;
        assert_eq!(PublicKey(bad).verify(b"hello", &sig), Err(KeyError::BadKey));
    }

    /// A scheme for the seam's tests: a BLAKE3 MAC under a key only this
    /// test world holds (as the simulator's is).
    #[derive(Debug)]
    struct Mac([u8; 32]);

    impl SignatureScheme for Mac {
        fn sign(&self, _secret: &[u8; 32], public: &PublicKey, message: &[u8]) -> Signature {
            let mut h = blake3::Hasher::new_keyed(&self.0);
            h.update(&public.0).update(message);
            let mut out = [0u8; SIGNATURE_LEN];
            h.finalize_xof().fill(&mut out);
            Signature::from_bytes(out)
        }

        fn verify(&self, public: &PublicKey, message: &[u8], signature: &Signature) -> Result<(), KeyError> {
            if self.sign(&[0; 32], public, message) == *signature {
                Ok(())
            } else {
                Err(KeyError::BadSignature)
            }
        }
    }

    #[test]
    fn a_scheme_key_has_the_ed25519_id_and_verifies_with_its_scheme_only() {
        let scheme: Arc<dyn SignatureScheme> = Arc::new(Mac([9; 32]));
        let real = NodeKey::from_secret([1; 32]);
        let k = NodeKey::with_scheme([1; 32], scheme.clone());
        let other = NodeKey::with_scheme([2; 32], scheme);
        assert_eq!(k.public(), real.public(), "same public key, same id");
        assert_eq!(k.peer_id(), real.peer_id());
        assert_eq!(k.secret_bytes(), [1; 32]);
        let sig = k.sign(b"hello");
        assert_ne!(sig, real.sign(b"hello"), "signed by the scheme");
        // A node on the scheme accepts the owner's signature and nothing else.
        assert_eq!(
            other.verify_peer(&k.public(), &k.peer_id(), b"hello", &sig),
            Ok(())
        );
        assert_eq!(
            other.verify_peer(&k.public(), &k.peer_id(), b"hellp", &sig),
            Err(KeyError::BadSignature)
        );
        let mut bytes = sig.to_bytes();
        bytes[63] ^= 0x80;
        assert_eq!(
            other.verify_peer(&k.public(), &k.peer_id(), b"hello", &Signature::from_bytes(bytes)),
            Err(KeyError::BadSignature)
        );
        assert_eq!(
            other.verify_peer(&other.public(), &other.peer_id(), b"hello", &sig),
            Err(KeyError::BadSignature),
            "another key's signature"
        );
        assert_eq!(
            other.verify_peer(&k.public(), &other.peer_id(), b"hello", &sig),
            Err(KeyError::IdMismatch)
        );
        // Ed25519 and the scheme do not accept each other's signatures.
        assert_eq!(
            real.verify_peer(&k.public(), &k.peer_id(), b"hello", &sig),
            Err(KeyError::BadSignature)
        );
        let real_sig = real.sign(b"hello");
        assert_eq!(
            other.verify_peer(&k.public(), &k.peer_id(), b"hello", &real_sig),
            Err(KeyError::BadSignature)
        );
        assert!(format!("{k:?}").contains("Mac"), "Debug names the scheme");
    }

    #[test]
    fn the_ed25519_scheme_signs_and_verifies_as_a_plain_key_does() {
        let plain = NodeKey::from_secret([4; 32]);
        let seamed = NodeKey::with_scheme([4; 32], Arc::new(Ed25519));
        assert_eq!(seamed.public(), plain.public());
        assert_eq!(seamed.sign(b"x"), plain.sign(b"x"));
        let sig = plain.sign(b"x");
        assert_eq!(
            seamed.verify_peer(&plain.public(), &plain.peer_id(), b"x", &sig),
            Ok(())
        );
        assert_eq!(
            plain.verify_peer(&plain.public(), &plain.peer_id(), b"x", &sig),
            Ok(())
        );
        assert_eq!(
            seamed.verify_peer(&plain.public(), &plain.peer_id(), b"y", &sig),
            Err(KeyError::BadSignature)
        );
    }

    #[test]
    fn signed_answer_bytes_cover_every_field() {
        let walk = core::array::from_fn(|i| mapping(10 + i as u8));
        let proof: PossessionProof = core::array::from_fn(|i| [i as u8; 4]);
        let base = answer_signed_bytes(
            &PeerId::new([3; 32]),
            MessageTicket(9),
            &TokenId::new([4; 32]),
            &mapping(4),
            &walk,
            &proof,
            &5u32,
        )
        .unwrap();
        assert_eq!(base.len(), 26 + 1 + 32 + 8 + 32 + 64 + 640 + 128 + 2 + 1);
        assert!(base.starts_with(ANSWER_SIGNING_DOMAIN));
        assert_eq!(base[26], PROTOCOL_VERSION);
        let mut walk2 = walk;
        walk2[9].block = BlockId::new([0; 32]);
        let mut proof2 = proof;
        proof2[31][3] ^= 1;
        let variants = [
            answer_signed_bytes(
                &PeerId::new([0; 32]),
                MessageTicket(9),
                &TokenId::new([4; 32]),
                &mapping(4),
                &walk,
                &proof,
                &5u32,
            ),
            answer_signed_bytes(
                &PeerId::new([3; 32]),
                MessageTicket(8),
                &TokenId::new([4; 32]),
                &mapping(4),
                &walk,
                &proof,
                &5u32,
            ),
            answer_signed_bytes(
                &PeerId::new([3; 32]),
                MessageTicket(9),
                &TokenId::new([5; 32]),
                &mapping(4),
                &walk,
                &proof,
                &5u32,
            ),
            answer_signed_bytes(
                &PeerId::new([3; 32]),
                MessageTicket(9),
                &TokenId::new([4; 32]),
                &mapping(5),
                &walk,
                &proof,
                &5u32,
            ),
            answer_signed_bytes(
                &PeerId::new([3; 32]),
                MessageTicket(9),
                &TokenId::new([4; 32]),
                &mapping(4),
                &walk2,
                &proof,
                &5u32,
            ),
            answer_signed_bytes(
                &PeerId::new([3; 32]),
                MessageTicket(9),
                &TokenId::new([4; 32]),
                &mapping(4),
                &walk,
                &proof,
                &6u32,
            ),
        ];
        let variants = variants.into_iter().chain([answer_signed_bytes(
            &PeerId::new([3; 32]),
            MessageTicket(9),
            &TokenId::new([4; 32]),
            &mapping(4),
            &walk,
            &proof2,
            &5u32,
        )]);
        for v in variants {
            assert_ne!(v.unwrap(), base);
        }
    }

    #[test]
    fn pow_of_zero_bits_is_free_and_low_difficulty_mines_and_checks() {
        let k = NodeKey::from_secret([5; 32]).public();
        assert!(pow_valid(&k, 12345, 0));
        let nonce = mine_pow(&k, 4, 0, 10_000).expect("4 bits: 16 tries expected");
        assert!(pow_valid(&k, nonce, 4));
        assert!(leading_zero_bits(&pow_hash(&k, nonce)) >= 4);
        // The proof is bound to the key: the same nonce for another key is
        // (with overwhelming probability over a few keys) not a proof.
        let others = (0..8u8)
            .map(|i| NodeKey::from_secret([40 + i; 32]).public())
            .filter(|o| pow_valid(o, nonce, 4))
            .count();
        assert!(others < 8);
        assert_eq!(pow_hash(&k, nonce), pow_hash(&k, nonce), "deterministic");
    }

    #[test]
    fn leading_zero_bits_counts_from_the_first_byte() {
        let mut h = [0u8; 32];
        assert_eq!(leading_zero_bits(&h), 256);
        h[1] = 0x10;
        assert_eq!(leading_zero_bits(&h), 11);
        h[0] = 0x80;
        assert_eq!(leading_zero_bits(&h), 0);
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// Test vectors of docs/WIRE.md: a compatible implementation must give
    /// the same key, id, signed bytes, signature and proof-of-work hash.
    #[test]
    fn test_vectors_pin_keys_signed_bytes_and_pow() {
        let k = NodeKey::from_secret([1; 32]);
        assert_eq!(
            hex(&k.public().0),
            "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c"
        );
        assert_eq!(
            k.peer_id().to_string(),
            "83561adb398fd87f8e7ed8331bff2fcb945733cc3012879cb9fab07928667062"
        );
        let walk = core::array::from_fn(|i| TokenMapping {
            id: TokenId::from_u64(100 + i as u64),
            block: BlockId::from_u64(200 + i as u64),
        });
        let m = TokenMapping {
            id: TokenId::from_u64(7),
            block: BlockId::from_u64(8),
        };
        let proof: PossessionProof = core::array::from_fn(|i| [i as u8, 0xa0, 0x0b, 0x5e]);
        let b = answer_signed_bytes(
            &PeerId::from_u64(3),
            MessageTicket(0x81),
            &TokenId::from_u64(7),
            &m,
            &walk,
            &proof,
            &5u32,
        )
        .unwrap();
        assert_eq!(b.len(), 934);
        assert_eq!(
            blake3::hash(&b).to_hex().as_str(),
            "19da7cfebd68f0751b7db934c28d29f4cf2ef6581bbfdc8b4f6abfaa64317cc4"
        );
        assert_eq!(
            &b[b.len() - 3..],
            &[0, 1, 5],
            "address: u16 length 1, then postcard 05"
        );
        assert_eq!(
            hex(&k.sign(&b).to_bytes()),
            "d0531d2dd56250d28023390a26e9fd327dc7eae63e51b0d3d29d9cf63330cef7\
             99e5fc2dc8b2aa4b38cd84297bb0c1e75eb49c49cb41ed6714578544f24f6208"
        );
        assert_eq!(
            hex(&pow_hash(&k.public(), 0)),
            POW0_HASH,
            "Argon2id(m = {POW_MEMORY_KIB} KiB, t = {POW_PASSES}, p = 1)"
        );
    }

    /// `pow_hash(key of secret [1; 32], 0)` with the current parameters.
    const POW0_HASH: &str = "84474fd8eb8d8e88872e8a036248a02e4ab372e19e1331ac5db98d5679c6b802";
}
