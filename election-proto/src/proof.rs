//! Proof-of-storage signatures (SPEC.md §4): generation, verification, agreement.
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
