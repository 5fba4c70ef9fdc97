//! When churn and partitions happen, and which nodes churn picks.
//!
//! Fault events live in their own queue and run alone, between windows, because
//! they change what every worker reads (the partition cut, ledger versions) or
//! which nodes are online. This module only schedules and decides; the simulator
//! carries the decisions out.

use super::config::{Churn, Partition, SimConfig};
use super::queue::Queue;
use crate::rng::SimRng;

/// Simulated time between churn ticks.
const CHURN_TICK_MS: u64 = 60_000;

/// A scheduled fault event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Fault {
    /// Time for this minute's departures.
    ChurnTick,
    /// A node that left comes back.
    Rejoin { node: u32 },
    /// The partition opens and the second half's ledger forks.
    PartitionOpen,
    /// The partition heals; ledgers still differ.
    PartitionHeal,
    /// The second half's ledger reconciles.
    Resync,
}

/// The fault schedule and the churn stream.
#[derive(Debug)]
pub(super) struct Faults {
    queue: Queue<Fault>,
    churn: Option<Churn>,
    partition: Option<Partition>,
    /// Which nodes leave and for how long; no other draws use it.
    rng: SimRng,
}

impl Faults {
    /// The schedule of `cfg`: the partition's opening and healing, and the first
    /// churn tick.
    pub(super) fn new(cfg: &SimConfig) -> Self {
        let mut queue = Queue::default();
        if let Some(p) = &cfg.partition {
            queue.push(p.at_ms, Fault::PartitionOpen);
            // Healing never comes before opening.
            queue.push(p.heal_ms.max(p.at_ms), Fault::PartitionHeal);
        }
        if let Some(c) = &cfg.churn {
            if c.per_hour > 0.0 {
                queue.push(c.start_ms, Fault::ChurnTick);
            }
        }
        Self {
            queue,
            churn: cfg.churn.clone(),
            partition: cfg.partition.clone(),
            rng: SimRng::new(cfg.seed, "churn"),
        }
    }

    /// Time of the next fault event.
    pub(super) fn next_time(&self) -> Option<u64> {
        self.queue.next_time()
    }

    /// Removes the next fault event: `(time, event)`.
    pub(super) fn pop(&mut self) -> Option<(u64, Fault)> {
        self.queue.pop().map(|e| (e.time, e.ev))
    }

    /// The partition healed at `now`: schedules the ledgers' reconciliation.
    pub(super) fn healed(&mut self, now: u64) {
        let after = self.partition.as_ref().map_or(0, |p| p.resync_after_ms);
        self.queue.push(now + after, Fault::Resync);
    }

    /// This minute's departures among `n` nodes, in order: `per_hour × n / 60`
    /// expected, each a uniformly drawn node that is `online` (drawing a node
    /// already away, or already leaving, skips it), with a uniform downtime.
    /// Schedules each one's return, then the next tick.
    pub(super) fn churn_tick(&mut self, now: u64, n: usize, online: impl Fn(usize) -> bool) -> Vec<usize> {
        let Some(c) = &self.churn else {
            return Vec::new();
        };
        let expect = c.per_hour * n as f64 / 60.0;
        let mut k = expect.floor() as u64;
        if self.rng.chance(expect - expect.floor()) {
            k += 1;
        }
        let mut leaving = Vec::new();
        for _ in 0..k {
            let i = self.rng.below(n as u64) as usize;
            if !online(i) || leaving.contains(&i) {
                continue;
            }
            let down = self.rng.between(c.downtime_ms.0, c.downtime_ms.1);
            self.queue.push(now + down, Fault::Rejoin { node: i as u32 });
            leaving.push(i);
        }
        self.queue.push(now + CHURN_TICK_MS, Fault::ChurnTick);
        leaving
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_and_churn_are_scheduled_in_order() {
        let mut cfg = SimConfig::new(10, 1);
        cfg.partition = Some(Partition {
            at_ms: 1_000,
            heal_ms: 500,
            resync_after_ms: 200,
            fork_share: 0.5,
        });
        cfg.churn = Some(Churn {
            per_hour: 600.0,
            downtime_ms: (10, 20),
            start_ms: 1_000,
        });
        let mut f = Faults::new(&cfg);
        assert_eq!(f.pop(), Some((1_000, Fault::PartitionOpen)));
        assert_eq!(
            f.pop(),
            Some((1_000, Fault::PartitionHeal)),
            "heal clamped to open"
        );
        assert_eq!(f.pop(), Some((1_000, Fault::ChurnTick)));
        f.healed(1_000);
        // 600 per hour of 10 nodes: 100 draws a minute, each node leaves at most once.
        let leaving = f.churn_tick(1_000, 10, |i| i != 3);
        assert!(!leaving.contains(&3) && leaving.len() <= 9 && !leaving.is_empty());
        let mut sorted = leaving.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), leaving.len());
        let mut rejoins = 0;
        while let Some((t, ev)) = f.pop() {
            match ev {
                Fault::Rejoin { node } => {
                    assert!((1_010..=1_020).contains(&t) && leaving.contains(&(node as usize)));
                    rejoins += 1;
                }
                Fault::Resync => assert_eq!(t, 1_200),
                Fault::ChurnTick => assert_eq!(t, 61_000),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(rejoins, leaving.len());
    }
}
