//! What droppers and manglers do to the datagrams their own core sends.

use super::NodeKind;
use crate::rng::SimRng;

/// What became of a datagram a node handed to the network, before the network
/// itself (loss, latency, partitions) sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outgoing {
    /// Sent as the core wrote it.
    Untouched,
    /// Swallowed: a dropper sends nothing.
    Dropped,
    /// Sent damaged (see [`mangle`]).
    Mangled,
}

/// Applies `kind`'s tampering to one outgoing datagram. Only manglers draw from
/// `rng`, so every other kind leaves the node's stream untouched.
pub fn tamper(kind: NodeKind, bytes: &mut Vec<u8>, rng: &mut SimRng) -> Outgoing {
    match kind {
        NodeKind::Dropper => Outgoing::Dropped,
        NodeKind::Mangler => {
            mangle(bytes, rng);
            Outgoing::Mangled
        }
        _ => Outgoing::Untouched,
    }
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

    #[test]
    fn only_droppers_and_manglers_tamper() {
        let mut rng = SimRng::new(3, "t");
        for kind in NodeKind::ALL {
            let mut bytes = vec![1, 2, 3, 4, 5, 6, 7, 8];
            let before = rng.clone();
            let out = tamper(kind, &mut bytes, &mut rng);
            match kind {
                NodeKind::Dropper => assert_eq!(out, Outgoing::Dropped),
                NodeKind::Mangler => {
                    assert_eq!(out, Outgoing::Mangled);
                    assert_ne!(bytes, [1, 2, 3, 4, 5, 6, 7, 8]);
                }
                _ => {
                    assert_eq!(out, Outgoing::Untouched);
                    assert_eq!(bytes, [1, 2, 3, 4, 5, 6, 7, 8]);
                    assert_eq!(
                        rng.next_u64(),
                        before.clone().next_u64(),
                        "{kind:?} drew randomness"
                    );
                }
            }
        }
    }
}
