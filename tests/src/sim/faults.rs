//! When churn and partitions happen, and which nodes churn picks.
//!
//! Fault events live in their own queue and run alone, between windows, because
//! they change what every worker reads (the partition cut, ledger versions) or
//! which nodes are online. This module only schedules and decides; the simulator
//! carries the decisions out.

use super::config::{Churn, Departures, Joiners, Partition, SimConfig, Switch};
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
    /// Time for this minute's departures for good.
    DepartureTick,
    /// Time for this minute's switches.
    SwitchTick,
    /// A late joiner starts.
    Join { node: u32 },
}

/// The fault schedule and the churn stream.
#[derive(Debug)]
pub(super) struct Faults {
    queue: Queue<Fault>,
    churn: Option<Churn>,
    partition: Option<Partition>,
    /// Which nodes leave and for how long; no other draws use it.
    rng: SimRng,
    departures: Option<Departures>,
    switch: Option<Switch>,
    /// Which nodes depart for good and which switch (its own stream, so adding
    /// either leaves churn's draws alone).
    rng2: SimRng,
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
        if let Some(d) = &cfg.departures {
            if d.per_hour > 0.0 {
                queue.push(d.start_ms, Fault::DepartureTick);
            }
        }
        if let Some(w) = &cfg.switch {
            if w.per_hour > 0.0 {
                queue.push(w.start_ms, Fault::SwitchTick);
            }
        }
        for (k, node) in joiners(cfg).into_iter().enumerate() {
            let j = cfg.joiners.as_ref().map_or(0, |j| j.count.max(2) as u64 - 1);
            let (from, until) = cfg
                .joiners
                .as_ref()
                .map_or((0, 0), |j| (j.from_ms, j.until_ms.max(j.from_ms)));
            let at = from + (until - from) * k as u64 / j.max(1);
            queue.push(at, Fault::Join { node });
        }
        Self {
            queue,
            churn: cfg.churn.clone(),
            partition: cfg.partition.clone(),
            rng: SimRng::new(cfg.seed, "churn"),
            departures: cfg.departures.clone(),
            switch: cfg.switch.clone(),
            rng2: SimRng::new(cfg.seed, "departures and switches"),
        }
    }

    /// This minute's departures for good: like churn, `per_hour × n / 60`
    /// expected draws among the nodes `eligible` (online, not joining later).
    /// Schedules the next tick.
    pub(super) fn departure_tick(
        &mut self,
        now: u64,
        n: usize,
        eligible: impl Fn(usize) -> bool,
    ) -> Vec<usize> {
        let Some(d) = &self.departures else {
            return Vec::new();
        };
        let per_hour = d.per_hour;
        let out = draw(&mut self.rng2, per_hour, n, &eligible);
        self.queue.push(now + CHURN_TICK_MS, Fault::DepartureTick);
        out
    }

    /// This minute's switches, drawn as departures are, among the nodes `eligible`.
    pub(super) fn switch_tick(&mut self, now: u64, n: usize, eligible: impl Fn(usize) -> bool) -> Vec<usize> {
        let Some(w) = &self.switch else {
            return Vec::new();
        };
        let per_hour = w.per_hour;
        let out = draw(&mut self.rng2, per_hour, n, &eligible);
        self.queue.push(now + CHURN_TICK_MS, Fault::SwitchTick);
        out
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

/// `per_hour × n / 60` expected uniform draws (the fraction drawn as a
/// chance), keeping the distinct ones that are `eligible`.
fn draw(rng: &mut SimRng, per_hour: f64, n: usize, eligible: &impl Fn(usize) -> bool) -> Vec<usize> {
    let expect = per_hour * n as f64 / 60.0;
    let mut k = expect.floor() as u64;
    if rng.chance(expect - expect.floor()) {
        k += 1;
    }
    let mut out = Vec::new();
    for _ in 0..k {
        let i = rng.below(n as u64) as usize;
        if eligible(i) && !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

/// The late joiners of `cfg`, in join order: `count` distinct nodes drawn
/// from the seed (their own stream).
pub(super) fn joiners(cfg: &SimConfig) -> Vec<u32> {
    let Some(Joiners { count, .. }) = cfg.joiners else {
        return Vec::new();
    };
    let n = cfg.nodes.max(1);
    let mut rng = SimRng::new(cfg.seed, "joiners");
    let mut out: Vec<u32> = Vec::new();
    let want = count.min(n.saturating_sub(1));
    while out.len() < want {
        let i = rng.below(n as u64) as u32;
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
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
