//! Per-minute time series of a run: what `simulate --json` reports under
//! `"timeline"` and what `simulate --html` draws.
//!
//! A [`Timeline`] only reads the simulator (counters, latencies, node tables)
//! between [`Sim::run_until`] calls that end on whole simulated minutes. Cutting a
//! run into steps does not change it (see [`Sim`]), so collecting the timeline
//! leaves the digest as it was. A sample costs one pass over the nodes plus a
//! sort of the node tables' sizes.

use crate::adversary::NodeKind;
use crate::sim::{ElectionCounters, Sim};
use serde::Serialize;

/// One simulated minute, in ms.
pub const MINUTE_MS: u64 = 60_000;

/// How a per-node figure spreads over the nodes sampled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Spread {
    /// Mean.
    pub mean: f64,
    /// Smallest.
    pub min: u64,
    /// 10th percentile (nearest rank).
    pub p10: u64,
    /// Median (nearest rank).
    pub p50: u64,
    /// 90th percentile (nearest rank).
    pub p90: u64,
    /// Largest.
    pub max: u64,
}

impl Spread {
    /// The spread of `values` (sorted in place); all zeros when empty.
    pub fn of(values: &mut [u64]) -> Self {
        if values.is_empty() {
            return Self::default();
        }
        values.sort_unstable();
        let rank = |p: f64| {
            let r = ((p * values.len() as f64).ceil() as usize).clamp(1, values.len());
            values[r - 1]
        };
        Self {
            mean: values.iter().sum::<u64>() as f64 / values.len() as f64,
            min: values[0],
            p10: rank(0.10),
            p50: rank(0.50),
            p90: rank(0.90),
            max: values[values.len() - 1],
        }
    }
}

/// What happened during one sampled interval (normally one simulated minute),
/// and the state of the node tables at its end.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Minute {
    /// Simulated time at the end of the interval, in minutes (a run of 2.5
    /// minutes has samples 1, 2 and 2.5).
    pub minute: f64,
    /// Elections honest nodes started in the interval.
    pub elections_started: u64,
    /// Elections honest nodes won in the interval.
    pub elections_succeeded: u64,
    /// Honest elections that finished in the interval and count for the success
    /// rate (churn shutdowns excluded).
    pub elections_finished: u64,
    /// `elections_succeeded / elections_finished` of the interval; `null` when
    /// none finished.
    pub success_rate: Option<f64>,
    /// Median latency of the interval's wins (ms); `null` without wins.
    pub latency_ms_p50: Option<u64>,
    /// 99th percentile latency of the interval's wins (ms); `null` without wins.
    pub latency_ms_p99: Option<u64>,
    /// Datagrams sent network-wide in the interval.
    pub messages_sent: u64,
    /// `messages_sent` per node per hour, at the interval's rate.
    pub messages_per_node_hour: f64,
    /// Honest nodes online at the end of the interval: the nodes the two spreads
    /// below are taken over.
    pub honest_online: usize,
    /// Contacts per honest online node at the end of the interval.
    pub contacts_per_node: Spread,
    /// Elected peers per honest online node at the end of the interval.
    pub elected_peers_per_node: Spread,
}

/// Collects [`Minute`]s while a [`Sim`] runs.
#[derive(Clone, Debug, Default)]
pub struct Timeline {
    minutes: Vec<Minute>,
    last_ms: u64,
    last_honest: ElectionCounters,
    last_sent: u64,
    last_latencies: usize,
}

impl Timeline {
    /// An empty timeline for a simulation that has not run yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `sim` until `end_ms` in steps of at most `step_ms` that never cross a
    /// minute boundary, sampling at every whole minute and at `end_ms`. After each
    /// step `on_step` sees the simulator (for a progress line).
    pub fn run(&mut self, sim: &mut Sim, end_ms: u64, step_ms: u64, mut on_step: impl FnMut(&Sim)) {
        let step_ms = step_ms.clamp(1, MINUTE_MS);
        while sim.now() < end_ms {
            let next_minute = (sim.now() / MINUTE_MS + 1) * MINUTE_MS;
            let to = (sim.now() + step_ms).min(next_minute).min(end_ms);
            sim.run_until(to);
            if sim.now().is_multiple_of(MINUTE_MS) || sim.now() >= end_ms {
                self.sample(sim);
            }
            on_step(sim);
        }
    }

    /// Records what happened since the previous sample (nothing if time has not
    /// moved since).
    pub fn sample(&mut self, sim: &Sim) {
        let now = sim.now();
        if now <= self.last_ms {
            return;
        }
        let h = sim.honest().since(&self.last_honest);
        let sent = sim.net().sent - self.last_sent;
        let mut lat: Vec<u32> = sim.latencies()[self.last_latencies..].to_vec();
        lat.sort_unstable();
        let mut contacts = Vec::with_capacity(sim.len());
        let mut elected = Vec::with_capacity(sim.len());
        for i in 0..sim.len() {
            if sim.kind(i) != NodeKind::Honest {
                continue;
            }
            if let Some(n) = sim.node(i) {
                let m = n.metrics();
                contacts.push(m.contacts as u64);
                elected.push(m.elected_peers as u64);
            }
        }
        let hours = (now - self.last_ms) as f64 / (60.0 * MINUTE_MS as f64);
        let finished = h.finished();
        self.minutes.push(Minute {
            minute: now as f64 / MINUTE_MS as f64,
            elections_started: h.started,
            elections_succeeded: h.succeeded,
            elections_finished: finished,
            success_rate: (finished > 0).then(|| h.succeeded as f64 / finished as f64),
            latency_ms_p50: percentile(&lat, 0.50),
            latency_ms_p99: percentile(&lat, 0.99),
            messages_sent: sent,
            messages_per_node_hour: sent as f64 / sim.len() as f64 / hours,
            honest_online: contacts.len(),
            contacts_per_node: Spread::of(&mut contacts),
            elected_peers_per_node: Spread::of(&mut elected),
        });
        self.last_ms = now;
        self.last_honest = sim.honest().clone();
        self.last_sent = sim.net().sent;
        self.last_latencies = sim.latencies().len();
    }

    /// The samples so far, oldest first.
    pub fn minutes(&self) -> &[Minute] {
        &self.minutes
    }

    /// The samples.
    pub fn into_minutes(self) -> Vec<Minute> {
        self.minutes
    }
}

fn percentile(sorted: &[u32], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(u64::from(sorted[rank - 1]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::SimConfig;

    #[test]
    fn spread_takes_nearest_ranks() {
        let mut v: Vec<u64> = (1..=10).rev().collect();
        let s = Spread::of(&mut v);
        assert_eq!((s.min, s.p10, s.p50, s.p90, s.max), (1, 1, 5, 9, 10));
        assert!((s.mean - 5.5).abs() < 1e-12);
        assert_eq!(Spread::of(&mut []), Spread::default());
    }

    fn small() -> SimConfig {
        let mut cfg = SimConfig::new(40, 3);
        cfg.node.health.election_interval_ms = 20_000;
        cfg
    }

    #[test]
    fn samples_each_minute_and_the_partial_end_and_sums_to_the_totals() {
        let mut sim = Sim::new(small()).unwrap();
        let mut t = Timeline::new();
        let mut steps = 0;
        t.run(&mut sim, 150_000, 25_000, |_| steps += 1);
        let m = t.minutes();
        let at: Vec<f64> = m.iter().map(|s| s.minute).collect();
        assert_eq!(at, [1.0, 2.0, 2.5]);
        // 25 s steps cut at each minute: 0-25-50-60-85-110-120-145-150.
        assert_eq!(steps, 8);
        let started: u64 = m.iter().map(|s| s.elections_started).sum();
        let succeeded: u64 = m.iter().map(|s| s.elections_succeeded).sum();
        let sent: u64 = m.iter().map(|s| s.messages_sent).sum();
        assert_eq!(started, sim.honest().started);
        assert_eq!(succeeded, sim.honest().succeeded);
        assert_eq!(sent, sim.net().sent);
        assert!(succeeded > 0);
        let last = m.last().unwrap();
        assert_eq!(last.honest_online, 40);
        assert!(last.contacts_per_node.min > 0);
        assert!(last.contacts_per_node.min <= last.contacts_per_node.p10);
        assert!(last.contacts_per_node.p90 <= last.contacts_per_node.max);
        assert!(last.elected_peers_per_node.mean > 0.0);
    }

    #[test]
    fn collecting_the_timeline_does_not_change_the_run() {
        let mut plain = Sim::new(small()).unwrap();
        plain.run_until(150_000);
        let mut sampled = Sim::new(small()).unwrap();
        Timeline::new().run(&mut sampled, 150_000, 7_000, |_| {});
        assert_eq!(plain.digest(), sampled.digest());
        assert_eq!(plain.honest(), sampled.honest());
    }

    #[test]
    fn a_sample_without_time_passing_adds_nothing() {
        let mut sim = Sim::new(small()).unwrap();
        let mut t = Timeline::new();
        t.sample(&sim);
        sim.run_until(MINUTE_MS);
        t.sample(&sim);
        t.sample(&sim);
        assert_eq!(t.minutes().len(), 1);
        let json = serde_json::to_value(&t.minutes()[0]).unwrap();
        for key in [
            "minute",
            "success_rate",
            "contacts_per_node",
            "elected_peers_per_node",
        ] {
            assert!(json.get(key).is_some(), "{key}");
        }
        assert!(json["contacts_per_node"].get("p90").is_some());
    }
}
