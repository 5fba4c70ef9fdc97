//! Adversarial node kinds and the forged material they send.
//!
//! Every node in the simulator runs the real [`Node`](election_proto::node::Node)
//! core. An adversary is a node whose traffic the simulator tampers with:
//!
//! | kind        | what it does |
//! |-------------|--------------|
//! | `forwarder` | on someone else's query: answers *first* with a garbage signature, then forks the query to its two contacts closest to the token and relays **every** reply back (a second, different answer blocks the channel) |
//! | `forger`    | answers every query at once with an invented signature that *verifies* (made-up block, fabricated walk with the demanded suffixes) — never agrees with anyone |
//! | `colluder`  | like a forger, but the members of a group derive their inventions from a shared secret, so they agree with each other 10/10 and form clusters |
//! | `lazy`      | honest code over a thinned, staler store (coverage and stale share set in [`SimConfig`](crate::sim::SimConfig)) |
//! | `dropper`   | sends nothing: every datagram it emits is dropped (a black hole) |
//! | `mangler`   | every datagram it emits has bytes flipped, is truncated or has garbage appended |

use crate::rng::SimRng;
use election_proto::proof::signature_chunks;
use election_proto::{BlockId, PeerId, TokenId, TokenMapping, TokenSignature, SIGNATURE_SIZE};
use serde::Serialize;

/// What a simulated node is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    /// Runs the protocol as written, over an honest store.
    Honest,
    /// Forks queries and answers first with garbage.
    Forwarder,
    /// Invents signatures that verify.
    Forger,
    /// Invents signatures consistently with its group.
    Colluder,
    /// Honest code, thinned and stale store.
    Lazy,
    /// Drops everything it sends.
    Dropper,
    /// Mangles everything it sends.
    Mangler,
}

impl NodeKind {
    /// Every kind, in index order.
    pub const ALL: [NodeKind; 7] = [
        Self::Honest,
        Self::Forwarder,
        Self::Forger,
        Self::Colluder,
        Self::Lazy,
        Self::Dropper,
        Self::Mangler,
    ];

    /// Dense index into [`NodeKind::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Lowercase name, as accepted by [`NodeKind::parse`].
    pub fn name(self) -> &'static str {
        match self {
            Self::Honest => "honest",
            Self::Forwarder => "forwarder",
            Self::Forger => "forger",
            Self::Colluder => "colluder",
            Self::Lazy => "lazy",
            Self::Dropper => "dropper",
            Self::Mangler => "mangler",
        }
    }

    /// Parses a kind name (a trailing `s` is accepted: `forgers`).
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim().to_ascii_lowercase();
        let s = s
            .strip_suffix('s')
            .filter(|t| !t.is_empty() && *t != "hone")
            .unwrap_or(&s);
        Self::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// Parses `KIND:FRACTION,KIND:FRACTION,...` (fractions in `[0, 1]`, summing to at most 1).
pub fn parse_adversaries(spec: &str) -> Result<Vec<(NodeKind, f64)>, String> {
    let mut out: Vec<(NodeKind, f64)> = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, f) = part
            .split_once(':')
            .ok_or_else(|| format!("`{part}`: expected KIND:FRACTION"))?;
        let kind = NodeKind::parse(k).ok_or_else(|| {
            let names: Vec<&str> = NodeKind::ALL[1..].iter().map(|k| k.name()).collect();
            format!("unknown adversary kind `{k}` (one of {})", names.join(", "))
        })?;
        if kind == NodeKind::Honest {
            return Err("`honest` is not an adversary kind".into());
        }
        let f: f64 = f.trim().parse().map_err(|_| format!("`{f}`: not a number"))?;
        if !(0.0..=1.0).contains(&f) {
            return Err(format!("fraction {f} outside [0, 1]"));
        }
        match out.iter_mut().find(|(k, _)| *k == kind) {
            Some(e) => e.1 += f,
            None => out.push((kind, f)),
        }
    }
    if out.iter().map(|(_, f)| f).sum::<f64>() > 1.0 + 1e-9 {
        return Err("adversary fractions sum to more than 1".into());
    }
    Ok(out)
}

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

/// The stream a colluder group uses to invent its answer for `(challenger, token)`.
pub fn colluder_stream(group_secret: &[u8; 32], challenger: &PeerId, token: &TokenId) -> SimRng {
    let mut h = blake3::Hasher::new_keyed(group_secret);
    h.update(challenger.as_bytes());
    h.update(token.as_bytes());
    SimRng::from_bytes(*h.finalize().as_bytes())
}

/// Damages a datagram: flips bytes, truncates it, or appends garbage.
pub fn mangle(bytes: &mut Vec<u8>, rng: &mut SimRng) {
    if bytes.is_empty() {
        bytes.push(rng.next_u64() as u8);
        return;
    }
    match rng.below(4) {
        0 | 1 => {
            for _ in 0..rng.between(1, 3) {
                let i = rng.below(bytes.len() as u64) as usize;
                bytes[i] ^= (rng.between(1, 255)) as u8;
            }
        }
        2 => {
            let keep = rng.below(bytes.len() as u64) as usize;
            bytes.truncate(keep);
        }
        _ => {
            for _ in 0..rng.between(1, 8) {
                bytes.push(rng.next_u64() as u8);
            }
        }
    }
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

    #[test]
    fn parses_adversary_lists() {
        let v = parse_adversaries("forgers:0.1, colluder:0.05,lazy:0.1").unwrap();
        assert_eq!(
            v,
            vec![
                (NodeKind::Forger, 0.1),
                (NodeKind::Colluder, 0.05),
                (NodeKind::Lazy, 0.1)
            ]
        );
        assert!(parse_adversaries("").unwrap().is_empty());
        assert!(parse_adversaries("wizard:0.1").is_err());
        assert!(parse_adversaries("forger:1.5").is_err());
        assert!(parse_adversaries("forger:0.6,lazy:0.6").is_err());
        assert!(parse_adversaries("honest:0.1").is_err());
        assert_eq!(NodeKind::parse("Manglers"), Some(NodeKind::Mangler));
    }
}
