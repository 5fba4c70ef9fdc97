//! Proof-of-storage signatures (docs/PROTOCOL.md §4): generation, verification, agreement.
//!
//! A responder proves it holds token `T` (mapped to block `B`) by walking its
//! store: ten suffix-directed steps, five clockwise and five counter-clockwise of
//! `T`, where the suffix sought at each step is a 10-bit chunk of a hash bound to
//! the challenger. Generation and verification share [`signature_chunks`], so an
//! honest answer always verifies.

use crate::id::{clockwise_distance, counter_clockwise_distance, suffix, BlockId, PeerId, TokenId};
use crate::store::TokenStore;
use core::fmt;
use serde::{Deserialize, Serialize};

/// Number of mappings in a signature.
pub const SIGNATURE_SIZE: usize = 10;

/// Number of steps walked clockwise; the rest go counter-clockwise.
pub const CLOCKWISE_STEPS: usize = SIGNATURE_SIZE / 2;

/// Key-derivation context for the signature hash. Changing it changes the protocol.
pub const SIGNATURE_CONTEXT: &str = "election-proto v1 signature";

/// One ledger entry: a token and the block it maps to.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default, Serialize, Deserialize)]
pub struct TokenMapping {
    /// The token.
    pub id: TokenId,
    /// The block the token maps to.
    pub block: BlockId,
}

/// A responder's proof that it stores the challenged token and the ledger around it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct TokenSignature {
    /// The challenged token and the block the responder holds for it.
    pub answer: TokenMapping,
    /// Steps `0..5` walk clockwise from the token, steps `5..10` counter-clockwise.
    pub signature: [TokenMapping; SIGNATURE_SIZE],
}

/// Why a signature failed verification. Each variant names the first check that failed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum SignatureError {
    /// `answer.id` is not the challenged token.
    WrongToken,
    /// Step `index` has a token whose suffix is not the chunk the hash demands.
    SuffixMismatch {
        /// Which signature step failed.
        index: usize,
    },
    /// Step `index` is not strictly farther from the token than the step before it
    /// (in its walk's direction), or is the token itself.
    OutOfOrder {
        /// Which signature step failed.
        index: usize,
    },
}

impl fmt::Display for SignatureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WrongToken => f.write_str("signature answers a different token"),
            Self::SuffixMismatch { index } => write!(f, "step {index} has the wrong suffix"),
            Self::OutOfOrder { index } => write!(f, "step {index} is out of walk order"),
        }
    }
}

impl std::error::Error for SignatureError {}

/// The ten 10-bit suffixes a signature for `(challenger, token, block)` must hit.
///
/// `h = BLAKE3-derive-key(SIGNATURE_CONTEXT, challenger || token || block)`;
/// chunk `i` is bits `[10i, 10i + 10)` of `h` read as a little-endian bit string.
pub fn signature_chunks(challenger: &PeerId, token: &TokenId, block: &BlockId) -> [u16; SIGNATURE_SIZE] {
    let mut hasher = blake3::Hasher::new_derive_key(SIGNATURE_CONTEXT);
    hasher.update(challenger.as_bytes());
    hasher.update(token.as_bytes());
    hasher.update(block.as_bytes());
    let h = hasher.finalize();
    let h = h.as_bytes();
    let mut chunks = [0u16; SIGNATURE_SIZE];
    for (i, c) in chunks.iter_mut().enumerate() {
        let bit = 10 * i;
        let byte = bit / 8;
        let word = u16::from_le_bytes([h[byte], h[byte + 1]]);
        *c = (word >> (bit % 8)) & 0x03ff;
    }
    chunks
}

/// Builds the signature `store` gives challenger `challenger` for `token`.
///
/// Returns `None` if the token is not stored, if some step finds no token with
/// the required suffix, or if a walk wraps back past its start (the store is too
/// sparse to produce a signature that would verify).
pub fn generate_signature<S: TokenStore + ?Sized>(
    store: &S,
    token: &TokenId,
    challenger: &PeerId,
) -> Option<TokenSignature> {
    let block = store.lookup(token)?;
    let chunks = signature_chunks(challenger, token, &block);
    let mut signature = [TokenMapping::default(); SIGNATURE_SIZE];

    let mut at = *token;
    let mut last = None;
    for i in 0..CLOCKWISE_STEPS {
        let m = store.next_with_suffix(&at, chunks[i])?;
        let d = clockwise_distance(token, &m.id);
        if last.is_some_and(|l| d <= l) || m.id == *token {
            return None;
        }
        last = Some(d);
        signature[i] = m;
        at = m.id;
    }
    let mut at = *token;
    let mut last = None;
    for i in CLOCKWISE_STEPS..SIGNATURE_SIZE {
        let m = store.prev_with_suffix(&at, chunks[i])?;
        let d = counter_clockwise_distance(token, &m.id);
        if last.is_some_and(|l| d <= l) || m.id == *token {
            return None;
        }
        last = Some(d);
        signature[i] = m;
        at = m.id;
    }
    Some(TokenSignature {
        answer: TokenMapping { id: *token, block },
        signature,
    })
}

/// Checks that `sig` is a well-formed signature for `challenger` on `token`.
///
/// This proves the walk is consistent with the hash, not that the mappings match
/// any particular ledger: agreement between independent responders is what
/// carries that weight (see [`agreement`]).
pub fn verify_signature(
    challenger: &PeerId,
    token: &TokenId,
    sig: &TokenSignature,
) -> Result<(), SignatureError> {
    if sig.answer.id != *token {
        return Err(SignatureError::WrongToken);
    }
    let chunks = signature_chunks(challenger, token, &sig.answer.block);
    for (index, (m, c)) in sig.signature.iter().zip(chunks.iter()).enumerate() {
        if suffix(&m.id) != *c {
            return Err(SignatureError::SuffixMismatch { index });
        }
    }
    let mut last = None;
    for (index, m) in sig.signature[..CLOCKWISE_STEPS].iter().enumerate() {
        let d = clockwise_distance(token, &m.id);
        if m.id == *token || last.is_some_and(|l| d <= l) {
            return Err(SignatureError::OutOfOrder { index });
        }
        last = Some(d);
    }
    let mut last = None;
    for (k, m) in sig.signature[CLOCKWISE_STEPS..].iter().enumerate() {
        let d = counter_clockwise_distance(token, &m.id);
        if m.id == *token || last.is_some_and(|l| d <= l) {
            return Err(SignatureError::OutOfOrder {
                index: CLOCKWISE_STEPS + k,
            });
        }
        last = Some(d);
    }
    Ok(())
}

/// Number of `(token, block)` pairs two signatures share, with set semantics
/// (a pair repeated inside one signature counts once). Ranges over `0..=10`.
pub fn agreement(a: &TokenSignature, b: &TokenSignature) -> usize {
    let mut count = 0;
    for (i, m) in a.signature.iter().enumerate() {
        // Skip repeats within `a` so each distinct pair counts once.
        if a.signature[..i].contains(m) {
            continue;
        }
        if b.signature.contains(m) {
            count += 1;
        }
    }
    count
}

/// Steps of a possession proof (wire v3): half walk clockwise of the
/// challenged token, half counter-clockwise.
pub const PROOF_STEPS: usize = 32;

/// Bytes of one possession-proof tag.
pub const PROOF_TAG_LEN: usize = 4;

/// Key-derivation context of the possession proof. Changing it changes the protocol.
pub const PROOF_CONTEXT: &str = "election-proto v3 possession proof";

/// One step's tag: the first [`PROOF_TAG_LEN`] bytes of a keyed hash of the
/// step's mapping.
pub type ProofTag = [u8; PROOF_TAG_LEN];

/// A responder's possession proof (wire v3): one tag per step, the tag of a
/// step the store cannot take being all zeros.
pub type PossessionProof = [ProofTag; PROOF_STEPS];

/// The key every tag of the proof `responder` gives `challenger` for
/// `token` is made with:
/// `BLAKE3-derive-key(PROOF_CONTEXT, challenger || responder || token)`.
///
/// The responder's id is in it, so a proof made by one node is worthless to
/// another: a node that forwards a query to an honest holder and signs the
/// holder's walk as its own (the walk of [`generate_signature`] depends only on
/// the challenger, the token and the block) cannot produce this part without
/// the blocks. The token's own block is not in the key (each tag carries its
/// step's block): a holder whose block for the token alone is stale still
/// matches on the other steps, so one stale entry does not read as another
/// ledger.
pub fn proof_key(challenger: &PeerId, responder: &PeerId, token: &TokenId) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new_derive_key(PROOF_CONTEXT);
    hasher.update(challenger.as_bytes());
    hasher.update(responder.as_bytes());
    hasher.update(token.as_bytes());
    *hasher.finalize().as_bytes()
}

/// The [`PROOF_STEPS`] 10-bit suffixes the proof's steps look for: bits
/// `[10i, 10i + 10)` (little-endian bit order, as in [`signature_chunks`]) of
/// the first 40 bytes of `BLAKE3-keyed(key, "chunks")`'s output stream.
pub fn proof_chunks(key: &[u8; 32]) -> [u16; PROOF_STEPS] {
    let mut hasher = blake3::Hasher::new_keyed(key);
    hasher.update(b"chunks");
    let mut bits = [0u8; PROOF_STEPS * 10 / 8];
    hasher.finalize_xof().fill(&mut bits);
    let mut chunks = [0u16; PROOF_STEPS];
    for (i, c) in chunks.iter_mut().enumerate() {
        let bit = 10 * i;
        let byte = bit / 8;
        let word = u16::from_le_bytes([bits[byte], bits[byte + 1]]);
        *c = (word >> (bit % 8)) & 0x03ff;
    }
    chunks
}

/// The tag of step `index` landing on mapping `m`: the first
/// [`PROOF_TAG_LEN`] bytes of `BLAKE3-keyed(key, index as u8 || m.id || m.block)`.
pub fn proof_tag(key: &[u8; 32], index: usize, m: &TokenMapping) -> ProofTag {
    let mut hasher = blake3::Hasher::new_keyed(key);
    hasher.update(&[index as u8]);
    hasher.update(m.id.as_bytes());
    hasher.update(m.block.as_bytes());
    let mut tag = [0u8; PROOF_TAG_LEN];
    tag.copy_from_slice(&hasher.finalize().as_bytes()[..PROOF_TAG_LEN]);
    tag
}

/// The mapping each step lands on in `store`: step `i < PROOF_STEPS / 2` is
/// the first stored token clockwise of `token` with suffix `chunks[i]`, the
/// others the first counter-clockwise. Every step starts from `token` itself
/// (unlike the chained signature walk), so a gap in one store spoils one step,
/// not the rest: each step is a separate piece of evidence.
fn proof_steps<S: TokenStore + ?Sized>(
    store: &S,
    token: &TokenId,
    chunks: &[u16; PROOF_STEPS],
) -> [Option<TokenMapping>; PROOF_STEPS] {
    let mut steps = [None; PROOF_STEPS];
    for (i, (step, c)) in steps.iter_mut().zip(chunks).enumerate() {
        *step = if i < PROOF_STEPS / 2 {
            store.next_with_suffix(token, *c)
        } else {
            store.prev_with_suffix(token, *c)
        };
    }
    steps
}

/// The possession proof `store` gives: `responder` answering `challenger` on
/// `token`. `None` if the token is not stored.
pub fn generate_proof<S: TokenStore + ?Sized>(
    store: &S,
    challenger: &PeerId,
    responder: &PeerId,
    token: &TokenId,
) -> Option<PossessionProof> {
    store.lookup(token)?;
    let key = proof_key(challenger, responder, token);
    let steps = proof_steps(store, token, &proof_chunks(&key));
    let mut proof = [[0u8; PROOF_TAG_LEN]; PROOF_STEPS];
    for (i, (tag, step)) in proof.iter_mut().zip(steps.iter()).enumerate() {
        if let Some(m) = step {
            *tag = proof_tag(&key, i, m);
        }
    }
    Some(proof)
}

/// How many steps of `proof`, which `responder` gave this node
/// (`challenger`) for `token`, match what this node's own `store` gives for
/// the same responder (`0..=PROOF_STEPS`). A step this store cannot take
/// never matches. 0 if this store does not hold `token`.
pub fn proof_agreement<S: TokenStore + ?Sized>(
    store: &S,
    challenger: &PeerId,
    responder: &PeerId,
    token: &TokenId,
    proof: &PossessionProof,
) -> usize {
    if store.lookup(token).is_none() {
        return 0;
    }
    let key = proof_key(challenger, responder, token);
    let steps = proof_steps(store, token, &proof_chunks(&key));
    steps
        .iter()
        .zip(proof.iter())
        .enumerate()
        .filter(|(i, (step, tag))| step.is_some_and(|m| proof_tag(&key, *i, &m) == **tag))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::{clockwise_distance, counter_clockwise_distance};
    use crate::store::MemoryStore;
    use election_splitmix::SplitMix64;
    use proptest::prelude::*;
    use std::collections::BTreeSet;
    use std::sync::OnceLock;

    fn random_mappings(n: usize, seed: u64) -> Vec<(TokenId, BlockId)> {
        let mut rng = SplitMix64(seed);
        (0..n)
            .map(|_| (TokenId::new(rng.bytes32()), BlockId::new(rng.bytes32())))
            .collect()
    }

    /// The seed's way: every query scans all stored tokens. Independent of the
    /// suffix index in `MemoryStore`.
    struct ScanStore(Vec<(TokenId, BlockId)>);

    impl TokenStore for ScanStore {
        fn lookup(&self, token: &TokenId) -> Option<BlockId> {
            self.0.iter().find(|(t, _)| t == token).map(|(_, b)| *b)
        }
        fn next_with_suffix(&self, from: &TokenId, s: u16) -> Option<TokenMapping> {
            self.0
                .iter()
                .filter(|(t, _)| suffix(t) == s && t != from)
                .min_by_key(|(t, _)| clockwise_distance(from, t))
                .map(|&(id, block)| TokenMapping { id, block })
        }
        fn prev_with_suffix(&self, from: &TokenId, s: u16) -> Option<TokenMapping> {
            self.0
                .iter()
                .filter(|(t, _)| suffix(t) == s && t != from)
                .min_by_key(|(t, _)| counter_clockwise_distance(from, t))
                .map(|&(id, block)| TokenMapping { id, block })
        }
    }

    /// A 100,000-token store shared by the deterministic tests (~98 tokens per suffix).
    ///
    /// Dense enough that an honest walk never wraps past its start: a five-step walk
    /// wraps when a suffix bucket holds fewer than ~5 tokens over a whole turn, about
    /// `P(Poisson(n / 1024) <= 4)` per direction. At 20,000 tokens that is ~2.5e-5,
    /// which a 256-case property test does hit (k = 15208 with one challenger did).
    fn shared() -> &'static (MemoryStore, Vec<(TokenId, BlockId)>) {
        static SHARED: OnceLock<(MemoryStore, Vec<(TokenId, BlockId)>)> = OnceLock::new();
        SHARED.get_or_init(|| {
            let m = random_mappings(100_000, 7);
            (MemoryStore::from_mappings(m.iter().copied()), m)
        })
    }

    fn peer(v: u64) -> PeerId {
        PeerId::new(SplitMix64(v ^ 0xa5a5).bytes32())
    }

    /// An honest signature from the shared store.
    fn honest(k: usize, challenger: &PeerId) -> (TokenId, TokenSignature) {
        let (store, m) = shared();
        let token = m[k].0;
        let sig = generate_signature(store, &token, challenger).expect("dense store answers");
        (token, sig)
    }

    /// Chunks computed bit by bit from the hash, as the spec words it.
    fn reference_chunks(c: &PeerId, t: &TokenId, b: &BlockId) -> [u16; SIGNATURE_SIZE] {
        let mut input = Vec::with_capacity(96);
        input.extend_from_slice(c.as_bytes());
        input.extend_from_slice(t.as_bytes());
        input.extend_from_slice(b.as_bytes());
        let h = blake3::derive_key("election-proto v1 signature", &input);
        let bit = |k: usize| u16::from((h[k / 8] >> (k % 8)) & 1);
        let mut out = [0u16; SIGNATURE_SIZE];
        for (i, o) in out.iter_mut().enumerate() {
            *o = (0..10).map(|j| bit(10 * i + j) << j).sum();
        }
        out
    }

    #[test]
    fn chunks_match_bitwise_reference() {
        let mut rng = SplitMix64(1);
        for _ in 0..2_000 {
            let c = PeerId::new(rng.bytes32());
            let t = TokenId::new(rng.bytes32());
            let b = BlockId::new(rng.bytes32());
            let chunks = signature_chunks(&c, &t, &b);
            assert_eq!(chunks, reference_chunks(&c, &t, &b));
            assert!(chunks.iter().all(|&x| x < 1024));
        }
    }

    #[test]
    fn chunks_known_answer() {
        // Pinned so an accidental change of context, input order or bit layout shows up.
        let c = PeerId::from_u64(1);
        let t = TokenId::from_u64(2);
        let b = BlockId::from_u64(3);
        assert_eq!(signature_chunks(&c, &t, &b), reference_chunks(&c, &t, &b));
        assert_eq!(
            signature_chunks(&c, &t, &b),
            [425, 96, 344, 372, 181, 605, 754, 552, 676, 899]
        );
    }

    #[test]
    fn honest_signature_has_expected_shape() {
        let c = peer(1);
        let (token, sig) = honest(0, &c);
        let (store, _) = shared();
        assert_eq!(verify_signature(&c, &token, &sig), Ok(()));
        assert_eq!(
            sig.answer,
            TokenMapping {
                id: token,
                block: store.lookup(&token).unwrap()
            }
        );
        // Every step is a real mapping from the store.
        for m in &sig.signature {
            assert_eq!(store.lookup(&m.id), Some(m.block));
        }
        // And matches the walk done against the brute-force store.
        let scan = ScanStore(shared().1.clone());
        assert_eq!(generate_signature(&scan, &token, &c), Some(sig));
    }

    #[test]
    fn bound_to_challenger() {
        for k in 0..50 {
            let c = peer(k);
            let (token, sig) = honest(k as usize, &c);
            assert_eq!(verify_signature(&c, &token, &sig), Ok(()));
            for other in [peer(k + 1000), peer(k + 2000)] {
                assert!(verify_signature(&other, &token, &sig).is_err());
            }
            // A different challenger gets a different walk.
            let (_, sig2) = honest(k as usize, &peer(k + 1000));
            assert_ne!(sig.signature, sig2.signature);
        }
    }

    #[test]
    fn tampered_answer_fails() {
        let c = peer(3);
        let (token, sig) = honest(3, &c);

        let mut bad = sig;
        bad.answer.id = shared().1[4].0;
        assert_eq!(
            verify_signature(&c, &token, &bad),
            Err(SignatureError::WrongToken)
        );
        // Verifying against the wrong token fails the same way.
        assert_eq!(
            verify_signature(&c, &shared().1[4].0, &sig),
            Err(SignatureError::WrongToken)
        );

        // A different answer block means different chunks.
        let chunks = signature_chunks(&c, &token, &sig.answer.block);
        for v in 0..32u64 {
            let mut bad = sig;
            bad.answer.block = BlockId::from_u64(v);
            let new = signature_chunks(&c, &token, &bad.answer.block);
            let index = (0..SIGNATURE_SIZE).find(|&i| new[i] != chunks[i]).unwrap();
            assert_eq!(
                verify_signature(&c, &token, &bad),
                Err(SignatureError::SuffixMismatch { index })
            );
        }
    }

    #[test]
    fn tampered_step_id_fails() {
        let c = peer(4);
        let (token, sig) = honest(4, &c);
        for i in 0..SIGNATURE_SIZE {
            // Any change of the low ten bits breaks the suffix.
            for flip in [1u8, 2, 0x80] {
                let mut bad = sig;
                let mut b = *bad.signature[i].id.as_bytes();
                b[31] ^= flip;
                bad.signature[i].id = TokenId::new(b);
                assert_eq!(
                    verify_signature(&c, &token, &bad),
                    Err(SignatureError::SuffixMismatch { index: i }),
                    "step {i} flip {flip:#x}"
                );
            }
            let mut bad = sig;
            let mut b = *bad.signature[i].id.as_bytes();
            b[30] ^= 0x01;
            bad.signature[i].id = TokenId::new(b);
            assert_eq!(
                verify_signature(&c, &token, &bad),
                Err(SignatureError::SuffixMismatch { index: i })
            );
        }
        // Keeping the suffix but stepping back behind the previous step breaks the order:
        // step i moved to 1024 before step i-1 (same suffix as step i).
        for i in (1..CLOCKWISE_STEPS).chain(CLOCKWISE_STEPS + 1..SIGNATURE_SIZE) {
            let mut bad = sig;
            let prev = sig.signature[i - 1].id;
            let mut b = *prev.as_bytes();
            let want = suffix(&sig.signature[i].id);
            b[31] = want as u8;
            b[30] = (b[30] & !0x03) | (want >> 8) as u8;
            let same_suffix = TokenId::new(b);
            let delta = crate::id::Distance::from_u64(1024);
            // Clockwise walk: go counter-clockwise of the previous step, and vice versa.
            bad.signature[i].id = if i < CLOCKWISE_STEPS {
                same_suffix.sub(&delta)
            } else {
                same_suffix.add(&delta)
            };
            assert_eq!(
                verify_signature(&c, &token, &bad),
                Err(SignatureError::OutOfOrder { index: i }),
                "step {i}"
            );
        }
    }

    /// The challenged token itself, placed as the first step of either walk where the
    /// chunk happens to equal its own suffix, is rejected (distance 0).
    #[test]
    fn token_itself_as_step_is_out_of_order() {
        let (store, m) = shared();
        for first in [0, CLOCKWISE_STEPS] {
            let (c, token) = (0..400_000u64)
                .find_map(|k| {
                    let c = peer(k);
                    let (t, b) = m[(k % 1000) as usize];
                    (signature_chunks(&c, &t, &b)[first] == suffix(&t)).then_some((c, t))
                })
                .expect("a chunk equal to the token's suffix within 400k challengers");
            let mut bad = generate_signature(store, &token, &c).unwrap();
            bad.signature[first].id = token;
            assert_eq!(
                verify_signature(&c, &token, &bad),
                Err(SignatureError::OutOfOrder { index: first })
            );
        }
    }

    /// What verification cannot see: the challenger holds no ledger, so a step's block,
    /// or a step replaced by another in-order token of the right suffix, passes
    /// `verify_signature`. Agreement with an honest peer is what exposes it.
    #[test]
    fn tampered_step_block_is_caught_by_agreement_not_verification() {
        let c = peer(5);
        let (token, sig) = honest(5, &c);
        for i in 0..SIGNATURE_SIZE {
            let mut bad = sig;
            bad.signature[i].block = BlockId::from_u64(i as u64);
            assert_eq!(verify_signature(&c, &token, &bad), Ok(()));
            assert_eq!(agreement(&sig, &bad), SIGNATURE_SIZE - 1);
        }
        // Skipping a token: t0 replaced by t0 + 1024 (same suffix, still before t1).
        let mut bad = sig;
        bad.signature[0].id = sig.signature[0].id.add(&crate::id::Distance::from_u64(1024));
        assert_eq!(verify_signature(&c, &token, &bad), Ok(()));
        assert_eq!(agreement(&sig, &bad), SIGNATURE_SIZE - 1);
    }

    #[test]
    fn swapped_or_reversed_steps_fail() {
        let c = peer(6);
        let (token, sig) = honest(6, &c);
        let chunks = signature_chunks(&c, &token, &sig.answer.block);
        for i in 0..SIGNATURE_SIZE {
            for j in i + 1..SIGNATURE_SIZE {
                let mut bad = sig;
                bad.signature.swap(i, j);
                let got = verify_signature(&c, &token, &bad);
                if chunks[i] != chunks[j] {
                    assert_eq!(got, Err(SignatureError::SuffixMismatch { index: i }), "{i}<->{j}");
                } else {
                    assert!(matches!(got, Err(SignatureError::OutOfOrder { .. })), "{i}<->{j}");
                }
            }
        }
        let mut bad = sig;
        bad.signature.reverse();
        let index = (0..SIGNATURE_SIZE)
            .find(|&i| chunks[i] != chunks[SIGNATURE_SIZE - 1 - i])
            .unwrap();
        assert_eq!(
            verify_signature(&c, &token, &bad),
            Err(SignatureError::SuffixMismatch { index })
        );
        // The two walks exchanged.
        let mut bad = sig;
        bad.signature.rotate_left(CLOCKWISE_STEPS);
        assert!(matches!(
            verify_signature(&c, &token, &bad),
            Err(SignatureError::SuffixMismatch { .. })
        ));
    }

    /// When two consecutive chunks are equal only the order check can catch a swap
    /// or a repeated step. Checked on both walks.
    #[test]
    fn swap_with_equal_suffixes_is_out_of_order() {
        let (store, m) = shared();
        for (i, j) in [(0, 1), (3, 4), (5, 6), (8, 9)] {
            let (c, token) = (0..400_000u64)
                .find_map(|k| {
                    let c = peer(k);
                    let (t, b) = m[(k % 1000) as usize];
                    let ch = signature_chunks(&c, &t, &b);
                    (ch[i] == ch[j]).then_some((c, t))
                })
                .expect("a chunk collision within 400k challengers");
            let sig = generate_signature(store, &token, &c).unwrap();
            let mut bad = sig;
            bad.signature.swap(i, j);
            assert_eq!(
                verify_signature(&c, &token, &bad),
                Err(SignatureError::OutOfOrder { index: j }),
                "swap {i}<->{j}"
            );
            // Repeating a step (same token twice) is caught the same way.
            let mut bad = sig;
            bad.signature[j] = bad.signature[i];
            assert_eq!(
                verify_signature(&c, &token, &bad),
                Err(SignatureError::OutOfOrder { index: j }),
                "repeat {i}->{j}"
            );
        }
    }

    #[test]
    fn unstored_token_gives_none() {
        let (store, _) = shared();
        let mut rng = SplitMix64(99);
        for _ in 0..100 {
            let t = TokenId::new(rng.bytes32());
            assert_eq!(store.lookup(&t), None);
            assert_eq!(generate_signature(store, &t, &peer(1)), None);
        }
    }

    #[test]
    fn too_sparse_store_gives_none() {
        let m = random_mappings(3, 11);
        let store = MemoryStore::from_mappings(m.iter().copied());
        for (t, _) in &m {
            for k in 0..50 {
                assert_eq!(generate_signature(&store, t, &peer(k)), None);
            }
        }
        // One token per suffix: every suffix is findable, but a five-step walk almost
        // always passes its start. Whatever is produced must verify; most must be None.
        let mut rng = SplitMix64(12);
        let one_each: Vec<(TokenId, BlockId)> = (0..1024u16)
            .map(|s| {
                let mut b = rng.bytes32();
                b[31] = s as u8;
                b[30] = (b[30] & !0x03) | (s >> 8) as u8;
                (TokenId::new(b), BlockId::new(rng.bytes32()))
            })
            .collect();
        let store = MemoryStore::from_mappings(one_each.iter().copied());
        let mut some = 0;
        for (t, _) in &one_each {
            let c = peer(u64::from(suffix(t)));
            if let Some(sig) = generate_signature(&store, t, &c) {
                assert_eq!(verify_signature(&c, t, &sig), Ok(()));
                some += 1;
            }
        }
        assert!(some < 50, "{some} of 1024 sparse walks succeeded");
    }

    #[test]
    fn identical_stores_agree_fully() {
        let m = &shared().1;
        let a = &shared().0;
        let mut b = MemoryStore::new();
        for &(t, blk) in m.iter().rev() {
            b.insert(t, blk);
        }
        for k in 0..100 {
            let c = peer(k);
            let t = m[k as usize * 7].0;
            let sa = generate_signature(a, &t, &c).unwrap();
            let sb = generate_signature(&b, &t, &c).unwrap();
            assert_eq!(agreement(&sa, &sb), SIGNATURE_SIZE);
        }
    }

    #[test]
    fn divergent_stores_agree_less() {
        let (a, _) = shared();
        let c = peer(8);
        let (token, sig) = honest(8, &c);
        // Drop the first clockwise step from a copy: the walk diverges there.
        let mut b = a.clone();
        b.remove(&sig.signature[0].id);
        let sb = generate_signature(&b, &token, &c).unwrap();
        assert!(agreement(&sig, &sb) < SIGNATURE_SIZE);
        assert_eq!(verify_signature(&c, &token, &sb), Ok(()));
        // A stale answer block changes every chunk: almost nothing is shared.
        let mut b = a.clone();
        b.insert(token, BlockId::from_u64(1));
        let sb = generate_signature(&b, &token, &c).unwrap();
        assert!(agreement(&sig, &sb) <= 2);
    }

    fn tm(t: u64, b: u64) -> TokenMapping {
        TokenMapping {
            id: TokenId::from_u64(t),
            block: BlockId::from_u64(b),
        }
    }

    fn sig_of(steps: [TokenMapping; SIGNATURE_SIZE]) -> TokenSignature {
        TokenSignature {
            answer: tm(0, 0),
            signature: steps,
        }
    }

    #[test]
    fn agreement_is_set_intersection() {
        let base: [TokenMapping; SIGNATURE_SIZE] = core::array::from_fn(|i| tm(i as u64 + 1, 1));
        let a = sig_of(base);
        assert_eq!(agreement(&a, &a), 10);
        // Position does not matter.
        let mut rev = base;
        rev.reverse();
        assert_eq!(agreement(&a, &sig_of(rev)), 10);
        // Same token, different block: not shared.
        let mut stale = base;
        stale[3].block = BlockId::from_u64(2);
        assert_eq!(agreement(&a, &sig_of(stale)), 9);
        // Nothing shared.
        let other = sig_of(core::array::from_fn(|i| tm(i as u64 + 100, 1)));
        assert_eq!(agreement(&a, &other), 0);
        // Repeats count once, from either side.
        let rep = sig_of([tm(1, 1); SIGNATURE_SIZE]);
        assert_eq!(agreement(&a, &rep), 1);
        assert_eq!(agreement(&rep, &a), 1);
        assert_eq!(agreement(&rep, &rep), 1);
        let mut half = base;
        half[5..].copy_from_slice(&base[..5]);
        assert_eq!(agreement(&a, &sig_of(half)), 5);
        assert_eq!(agreement(&sig_of(half), &a), 5);
        // The answer mapping is not part of agreement.
        let mut diff_answer = a;
        diff_answer.answer = tm(77, 77);
        assert_eq!(agreement(&a, &diff_answer), 10);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn agreement_matches_sets(
            xs in prop::collection::vec((0u64..14, 0u64..2), SIGNATURE_SIZE),
            ys in prop::collection::vec((0u64..14, 0u64..2), SIGNATURE_SIZE),
        ) {
            let a = sig_of(core::array::from_fn(|i| tm(xs[i].0, xs[i].1)));
            let b = sig_of(core::array::from_fn(|i| tm(ys[i].0, ys[i].1)));
            let sa: BTreeSet<_> = a.signature.iter().collect();
            let sb: BTreeSet<_> = b.signature.iter().collect();
            prop_assert_eq!(agreement(&a, &b), sa.intersection(&sb).count());
            prop_assert_eq!(agreement(&a, &b), agreement(&b, &a));
        }

        /// Dense store: every stored token answers, the answer verifies for its
        /// challenger and for no other.
        #[test]
        fn round_trip_dense(k in 0usize..100_000, c in any::<[u8; 32]>(), other in any::<[u8; 32]>()) {
            let (store, m) = shared();
            let (token, block) = m[k];
            let c = PeerId::new(c);
            let sig = generate_signature(store, &token, &c);
            prop_assert!(sig.is_some());
            let sig = sig.unwrap();
            prop_assert_eq!(sig.answer, TokenMapping { id: token, block });
            prop_assert_eq!(verify_signature(&c, &token, &sig), Ok(()));
            let other = PeerId::new(other);
            if other != c {
                prop_assert!(verify_signature(&other, &token, &sig).is_err());
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Random stores from very sparse to dense: the indexed store gives exactly
        /// the brute-force store's answer (including `None`), and every `Some` verifies.
        #[test]
        fn generate_matches_scan_and_verifies(
            n in prop_oneof![1usize..3_000, 3_000usize..12_000],
            seed in any::<u64>(),
            picks in prop::collection::vec((any::<prop::sample::Index>(), any::<[u8; 32]>()), 6),
        ) {
            let m = random_mappings(n, seed);
            let store = MemoryStore::from_mappings(m.iter().copied());
            let scan = ScanStore(m.clone());
            for (pick, c) in &picks {
                let c = PeerId::new(*c);
                let token = m[pick.index(m.len())].0;
                let sig = generate_signature(&store, &token, &c);
                prop_assert_eq!(sig, generate_signature(&scan, &token, &c));
                if let Some(sig) = sig {
                    prop_assert_eq!(verify_signature(&c, &token, &sig), Ok(()));
                    for s in &sig.signature {
                        prop_assert_eq!(store.lookup(&s.id), Some(s.block));
                    }
                }
            }
        }
    }

    #[test]
    fn a_possession_proof_matches_its_own_store_only_for_its_own_responder() {
        let l = random_mappings(20_000, 41);
        let store = MemoryStore::from_mappings(l.iter().copied());
        let token = l[7].0;
        let (c, r, relay) = (PeerId::new([1; 32]), PeerId::new([2; 32]), PeerId::new([3; 32]));
        let proof = generate_proof(&store, &c, &r, &token).expect("stored");
        assert_eq!(proof_agreement(&store, &c, &r, &token, &proof), PROOF_STEPS);
        // Another id signing r's proof (a relay) matches nothing.
        assert_eq!(proof_agreement(&store, &c, &relay, &token, &proof), 0);
        // Bound to the challenger too, and to the token.
        assert_eq!(
            proof_agreement(&store, &PeerId::new([9; 32]), &r, &token, &proof),
            0
        );
        assert_eq!(proof_agreement(&store, &c, &r, &l[8].0, &proof), 0);
        // Made up without the blocks: nothing.
        assert_eq!(
            proof_agreement(&store, &c, &r, &token, &[[0xab; 4]; PROOF_STEPS]),
            0
        );
        // A token not stored cannot be proven, nor checked.
        let missing = TokenId::new([0x55; 32]);
        assert_eq!(generate_proof(&store, &c, &r, &missing), None);
        assert_eq!(proof_agreement(&store, &c, &r, &missing, &proof), 0);
    }

    #[test]
    fn each_missing_or_changed_entry_spoils_at_most_its_own_step() {
        let l = random_mappings(20_000, 43);
        let full = MemoryStore::from_mappings(l.iter().copied());
        let token = l[11].0;
        let (c, r) = (PeerId::new([1; 32]), PeerId::new([2; 32]));
        // The responder lacks every tenth entry and holds another block for
        // every seventh (the challenged token's own entry kept).
        let theirs = MemoryStore::from_mappings(l.iter().enumerate().filter(|(i, _)| i % 10 != 3).map(
            |(i, (t, b))| {
                if i % 7 == 2 && *t != token {
                    (*t, BlockId::new([0xee; 32]))
                } else {
                    (*t, *b)
                }
            },
        ));
        let proof = generate_proof(&theirs, &c, &r, &token).expect("stored");
        let matched = proof_agreement(&full, &c, &r, &token, &proof);
        // Steps are independent: about (0.9 × 6/7) of them still match.
        assert!((15..PROOF_STEPS).contains(&matched), "{matched}");
        // The same answer, recounted step by step.
        let key = proof_key(&c, &r, &token);
        let chunks = proof_chunks(&key);
        let ours = proof_steps(&full, &token, &chunks);
        let same = proof_steps(&theirs, &token, &chunks)
            .iter()
            .zip(ours.iter())
            .filter(|(a, b)| a.is_some() && a == b)
            .count();
        assert_eq!(same, matched);
    }

    #[test]
    fn proof_chunks_are_ten_bit_slices_of_the_keyed_stream() {
        let key = proof_key(
            &PeerId::new([1; 32]),
            &PeerId::new([2; 32]),
            &TokenId::new([3; 32]),
        );
        let chunks = proof_chunks(&key);
        let mut stream = [0u8; 40];
        let mut h = blake3::Hasher::new_keyed(&key);
        h.update(b"chunks");
        h.finalize_xof().fill(&mut stream);
        for (i, c) in chunks.iter().enumerate() {
            let bits: u16 = (0..10)
                .map(|b| {
                    let at = 10 * i + b;
                    u16::from((stream[at / 8] >> (at % 8)) & 1) << b
                })
                .sum();
            assert_eq!(*c, bits, "chunk {i}");
        }
    }
}
