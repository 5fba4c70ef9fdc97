//! The answers forgers, colluders and forwarders invent.
//!
//! All randomness comes from the [`SimRng`] passed in, so a run stays
//! reproducible and two colluders seeding it alike invent the same answer.

use crate::rng::SimRng;
use election_proto::proof::signature_chunks;
use election_proto::{BlockId, PeerId, TokenId, TokenMapping, TokenSignature, SIGNATURE_SIZE};

/// A made-up token whose top word is `top` and whose suffix (low 10 bits) is `suffix`.
fn token_with(top: u64, rng: &mut SimRng, suffix: u16) -> TokenId {
    let mut b = [0u8; 32];
    b[..8].copy_from_slice(&top.to_be_bytes());
    b[8..16].copy_from_slice(&rng.next_u64().to_be_bytes());
    b[16..24].copy_from_slice(&rng.next_u64().to_be_bytes());
    let low = (rng.next_u64() & !0x3ff) | u64::from(suffix);
    b[24..].copy_from_slice(&low.to_be_bytes());
    TokenId::new(b)
}

/// An invented signature that passes [`verify_signature`](election_proto::verify_signature)
/// for `(challenger, token)`: a made-up block, and a walk of made-up tokens carrying
/// exactly the suffixes the hash demands, at strictly increasing distance on each side.
/// All randomness comes from `rng`, so two colluders seeding it alike agree 10/10.
pub fn fabricate_signature(challenger: &PeerId, token: &TokenId, rng: &mut SimRng) -> TokenSignature {
    let block = BlockId::new(rng.bytes32());
    let chunks = signature_chunks(challenger, token, &block);
    let top = crate::ledger::top64(token.as_bytes());
    // Steps far apart in the top word: each one is strictly farther than the last
    // whatever the low bits are, and nothing wraps past the token.
    let step = 1u64 << 36;
    let mut signature = [TokenMapping::default(); SIGNATURE_SIZE];
    for (i, slot) in signature.iter_mut().enumerate() {
        let k = (i % 5) as u64 + 1;
        let at = if i < 5 {
            top.wrapping_add(k * step)
        } else {
            top.wrapping_sub(k * step)
        };
        *slot = TokenMapping {
            id: token_with(at, rng, chunks[i]),
            block: BlockId::new(rng.bytes32()),
        };
    }
    TokenSignature {
        answer: TokenMapping { id: *token, block },
        signature,
    }
}

/// An answer that does not verify (random walk, wrong suffixes).
/// A possession proof made up without the blocks (wire v3): random tags.
/// A challenger's own store matches each with probability 2⁻³².
pub fn fabricate_proof(rng: &mut SimRng) -> election_proto::PossessionProof {
    let mut proof = [[0u8; 4]; election_proto::PROOF_STEPS];
    for tag in proof.iter_mut() {
        tag.copy_from_slice(&rng.next_u64().to_le_bytes()[..4]);
    }
    proof
}

pub fn garbage_signature(token: &TokenId, rng: &mut SimRng) -> TokenSignature {
    let mut signature = [TokenMapping::default(); SIGNATURE_SIZE];
    for slot in signature.iter_mut() {
        *slot = TokenMapping {
            id: TokenId::new(rng.bytes32()),
            block: BlockId::new(rng.bytes32()),
        };
    }
    TokenSignature {
        answer: TokenMapping {
            id: *token,
            block: BlockId::new(rng.bytes32()),
        },
        signature,
    }
}

/// The stream a colluder group uses to invent its answer for `(challenger, token)`:
/// keyed by the group's secret, so every member derives the same stream and
/// outsiders cannot.
pub fn colluder_stream(group_secret: &[u8; 32], challenger: &PeerId, token: &TokenId) -> SimRng {
    let mut h = blake3::Hasher::new_keyed(group_secret);
    h.update(challenger.as_bytes());
    h.update(token.as_bytes());
    SimRng::from_bytes(*h.finalize().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use election_proto::{agreement, verify_signature};

    #[test]
    fn fabricated_signatures_verify_and_colluders_agree() {
        let mut rng = SimRng::new(5, "t");
        for _ in 0..200 {
            let c = PeerId::new(rng.bytes32());
            let t = TokenId::new(rng.bytes32());
            let forged = fabricate_signature(&c, &t, &mut rng);
            assert_eq!(verify_signature(&c, &t, &forged), Ok(()));
            let secret = rng.bytes32();
            let a = fabricate_signature(&c, &t, &mut colluder_stream(&secret, &c, &t));
            let b = fabricate_signature(&c, &t, &mut colluder_stream(&secret, &c, &t));
            assert_eq!(a, b);
            assert_eq!(agreement(&a, &b), 10);
            assert!(agreement(&a, &forged) == 0);
            assert!(verify_signature(&c, &t, &garbage_signature(&t, &mut rng)).is_err());
        }
    }
}
