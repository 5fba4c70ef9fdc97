//! Signatures that cost what they must inside the simulated world.
//!
//! Every answer on wire v2 is Ed25519-signed by its responder and verified by
//! its challenger: about 53 µs a pair, half the simulator's time. Inside a
//! simulation nobody outside the world attacks the scheme, so a cheaper one
//! with the same two promises serves: [`Simulated`] signs with a keyed BLAKE3
//! hash (a MAC) under a key only the run holds.
//!
//! - **Only the key's owner can sign.** A signature is made through a
//!   [`NodeKey`], which exists only for a secret, and signs as that secret's
//!   public key; the MAC key lives in the scheme, which the simulator hands to
//!   keys and to nobody else (adversaries sign through their own keys, as on a
//!   real network).
//! - **Tampering fails verification.** The MAC covers the public key and the
//!   signed bytes; a changed bit anywhere changes the expected tag (64 bytes
//!   of BLAKE3 output, like an Ed25519 signature in length).
//!
//! Ids are unchanged: a key's public key is still the Ed25519 one of its
//! secret (computed once per node), so the ring, the stores and every
//! election are those of a run with real crypto. What differs is the bytes of
//! the signatures, hence the datagram digest; verdicts do not (the
//! `crypto` scenario test compares the event streams of both).

use crate::rng::derive32;
use election_proto::keys::{KeyError, SignatureScheme, SIGNATURE_LEN};
use election_proto::{NodeKey, PublicKey, Signature};
use std::fmt;
use std::sync::Arc;

/// Which signature scheme simulated nodes use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Crypto {
    /// Real Ed25519, as every host outside the simulator (the default).
    #[default]
    Real,
    /// The run's keyed-BLAKE3 scheme ([`Simulated`]): same verdicts, about
    /// 1 µs per signature or check instead of about 25.
    Simulated,
}

impl Crypto {
    /// The name the report uses: `"real"` or `"simulated"`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Real => "real",
            Self::Simulated => "simulated",
        }
    }

    /// Parses `real` or `sim`/`simulated`.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "real" | "ed25519" => Ok(Self::Real),
            "sim" | "simulated" => Ok(Self::Simulated),
            _ => Err(format!("unknown crypto {s:?}: real or sim")),
        }
    }

    /// The keys of a run: `secret(i)` for node `i`, signing with this scheme.
    /// With [`Crypto::Simulated`] every key shares one [`Simulated`] scheme
    /// keyed from `seed`.
    pub fn keys(self, seed: u64, n: usize, secret: impl Fn(u64) -> [u8; 32]) -> Vec<NodeKey> {
        match self {
            Self::Real => (0..n as u64).map(|i| NodeKey::from_secret(secret(i))).collect(),
            Self::Simulated => {
                let scheme: Arc<dyn SignatureScheme> = Arc::new(Simulated::new(seed));
                (0..n as u64)
                    .map(|i| NodeKey::with_scheme(secret(i), scheme.clone()))
                    .collect()
            }
        }
    }
}

/// Keyed BLAKE3 over the signer's public key and the message, 64 bytes of
/// output: a signature only the simulated world can make or check.
pub struct Simulated {
    key: [u8; 32],
}

impl fmt::Debug for Simulated {
    // The MAC key stays out of logs, as a secret key would.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Simulated")
    }
}

impl Simulated {
    /// The scheme of the run with this seed.
    pub fn new(seed: u64) -> Self {
        Self {
            key: derive32(seed, "simulated signatures", 0),
        }
    }

    fn tag(&self, public: &PublicKey, message: &[u8]) -> [u8; SIGNATURE_LEN] {
        let mut h = blake3::Hasher::new_keyed(&self.key);
        h.update(&public.0);
        h.update(message);
        let mut out = [0u8; SIGNATURE_LEN];
        h.finalize_xof().fill(&mut out);
        out
    }
}

impl SignatureScheme for Simulated {
    fn sign(&self, _secret: &[u8; 32], public: &PublicKey, message: &[u8]) -> Signature {
        Signature::from_bytes(self.tag(public, message))
    }

    fn verify(&self, public: &PublicKey, message: &[u8], signature: &Signature) -> Result<(), KeyError> {
        if self.tag(public, message) == signature.to_bytes() {
            Ok(())
        } else {
            Err(KeyError::BadSignature)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulated_keys_keep_their_ids_and_only_the_owner_signs() {
        let secret = |i: u64| derive32(5, "k", i);
        let real = Crypto::Real.keys(5, 3, secret);
        let sim = Crypto::Simulated.keys(5, 3, secret);
        for (r, s) in real.iter().zip(&sim) {
            assert_eq!(r.peer_id(), s.peer_id());
        }
        let sig = sim[0].sign(b"answer");
        let check = |k: &NodeKey, msg: &[u8], sig: &Signature| {
            sim[1].verify_peer(&k.public(), &k.peer_id(), msg, sig)
        };
        assert_eq!(check(&sim[0], b"answer", &sig), Ok(()));
        assert_eq!(check(&sim[2], b"answer", &sig), Err(KeyError::BadSignature));
        assert_eq!(check(&sim[0], b"answes", &sig), Err(KeyError::BadSignature));
        for bit in [0, 9, 300, 511] {
            let mut b = sig.to_bytes();
            b[bit / 8] ^= 1 << (bit % 8);
            assert_eq!(
                check(&sim[0], b"answer", &Signature::from_bytes(b)),
                Err(KeyError::BadSignature)
            );
        }
        // Another run's world (another seed) does not accept this one's signatures.
        let other = Crypto::Simulated.keys(6, 1, secret);
        assert_eq!(
            other[0].verify_peer(&sim[0].public(), &sim[0].peer_id(), b"answer", &sig),
            Err(KeyError::BadSignature)
        );
        assert_eq!(Crypto::parse("sim"), Ok(Crypto::Simulated));
        assert_eq!(Crypto::parse("real"), Ok(Crypto::Real));
        assert!(Crypto::parse("rot13").is_err());
    }
}
