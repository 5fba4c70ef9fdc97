//! The network model: what happens to a datagram between two nodes.

use crate::rng::SimRng;

/// What the network does with one datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Fate {
    /// Addressed to an index that is no node (a mangled contact).
    BadAddress,
    /// Between the two halves of an open partition.
    PartitionDropped,
    /// Lost at random.
    Lost,
    /// Arrives at `at`, and a duplicate at `copy_at`.
    Arrives { at: u64, copy_at: Option<u64> },
}

/// Latency, loss, duplication and the partition cut. Read-only inside a window:
/// the cut only opens or heals between windows.
#[derive(Debug)]
pub(super) struct Network {
    /// Per-datagram latency, uniform in `lo..=hi` ms, `lo >= 1`.
    latency: (u64, u64),
    loss: f64,
    duplicate: f64,
    /// Each node's partition half (0 or 1).
    halves: Vec<u8>,
    /// Whether the two halves are cut off from each other.
    cut: bool,
}

impl Network {
    /// A network over nodes in `halves` (each node's partition half). Latency is
    /// raised to at least 1 ms, which the conservative windows rely on.
    pub(super) fn new(latency_ms: (u64, u64), loss: f64, duplicate: f64, halves: Vec<u8>) -> Self {
        let lo = latency_ms.0.max(1);
        let hi = latency_ms.1.max(lo);
        Self {
            latency: (lo, hi),
            loss,
            duplicate,
            halves,
            cut: false,
        }
    }

    /// The smallest latency: nothing sent at `t` arrives before `t + min_latency()`.
    pub(super) fn min_latency(&self) -> u64 {
        self.latency.0
    }

    /// Node `i`'s partition half.
    pub(super) fn half(&self, i: usize) -> u8 {
        self.halves[i]
    }

    /// Whether the partition is open.
    pub(super) fn is_cut(&self) -> bool {
        self.cut
    }

    /// Opens (`true`) or heals (`false`) the partition.
    pub(super) fn set_cut(&mut self, cut: bool) {
        self.cut = cut;
    }

    /// The fate of a datagram `from` sends to `to` at `now`. Draws from the
    /// sender's stream, in a fixed order (loss, duplication, the copy's latency,
    /// the latency), and only for datagrams that reach the random stage.
    pub(super) fn fate(&self, from: usize, to: u32, now: u64, rng: &mut SimRng) -> Fate {
        let Some(&dest_half) = self.halves.get(to as usize) else {
            return Fate::BadAddress;
        };
        if self.cut && dest_half != self.halves[from] {
            return Fate::PartitionDropped;
        }
        if rng.chance(self.loss) {
            return Fate::Lost;
        }
        let (lo, hi) = self.latency;
        let copy_at = rng.chance(self.duplicate).then(|| now + rng.between(lo, hi));
        let at = now + rng.between(lo, hi);
        Fate::Arrives { at, copy_at }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fates_follow_the_model() {
        let mut rng = SimRng::new(1, "t");
        let mut net = Network::new((0, 0), 0.0, 1.0, vec![0, 1]);
        assert_eq!(net.min_latency(), 1, "latency is at least 1 ms");
        assert_eq!(net.fate(0, 2, 10, &mut rng), Fate::BadAddress);
        assert_eq!(
            net.fate(0, 1, 10, &mut rng),
            Fate::Arrives {
                at: 11,
                copy_at: Some(11)
            }
        );
        net.set_cut(true);
        assert_eq!(net.fate(0, 1, 10, &mut rng), Fate::PartitionDropped);
        assert!(matches!(net.fate(1, 1, 10, &mut rng), Fate::Arrives { .. }));
        let lossy = Network::new((20, 80), 1.0, 0.0, vec![0, 0]);
        assert_eq!(lossy.fate(0, 1, 10, &mut rng), Fate::Lost);
    }
}
