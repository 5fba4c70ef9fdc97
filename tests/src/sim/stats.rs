//! What a run has counted and kept so far.

use super::counters::{ElectionCounters, NetCounters};
use super::oracle::WinRecord;
use super::worker::Tally;
use election_proto::node::{Event, Metrics};

/// Totals of the run so far. Records are appended window by window, each
/// window's in key order, so they come out in `(time, node, counter)` order
/// whatever the thread count.
#[derive(Debug, Default)]
pub(super) struct Stats {
    honest: ElectionCounters,
    others: ElectionCounters,
    net: NetCounters,
    stuck_timers: u64,
    latencies: Vec<u32>,
    wins: Vec<WinRecord>,
    events: Vec<(u64, u32, Event<u32>)>,
    /// Core metrics of incarnations that shut down.
    retired: Metrics,
    /// `(time, node, returned)` for every departure and return.
    churn_log: Vec<(u64, u32, bool)>,
}

impl Stats {
    /// Adds one window's tally, already in key order.
    pub(super) fn absorb(&mut self, t: Tally) {
        self.honest.add(&t.honest);
        self.others.add(&t.others);
        self.net.add(&t.net);
        self.stuck_timers += t.stuck_timers;
        self.latencies.extend(t.latencies.into_iter().map(|(_, l)| l));
        self.wins.extend(t.wins.into_iter().map(|(_, w)| w));
        self.events
            .extend(t.events.into_iter().map(|((time, node, _), e)| (time, node, e)));
    }

    /// Counts a churn or partition event the simulator ran.
    pub(super) fn count_fault_event(&mut self) {
        self.net.events += 1;
    }

    /// Node `node` left at `time`; `metrics` are its core's last.
    pub(super) fn left(&mut self, time: u64, node: u32, metrics: Option<&Metrics>) {
        if let Some(m) = metrics {
            self.retired.merge(m);
        }
        self.net.churn_leaves += 1;
        self.churn_log.push((time, node, false));
    }

    /// Node `node` came back at `time`.
    pub(super) fn joined(&mut self, time: u64, node: u32) {
        self.net.churn_joins += 1;
        self.churn_log.push((time, node, true));
    }

    pub(super) fn honest(&self) -> &ElectionCounters {
        &self.honest
    }

    pub(super) fn others(&self) -> &ElectionCounters {
        &self.others
    }

    pub(super) fn net(&self) -> &NetCounters {
        &self.net
    }

    pub(super) fn stuck_timers(&self) -> u64 {
        self.stuck_timers
    }

    pub(super) fn latencies(&self) -> &[u32] {
        &self.latencies
    }

    pub(super) fn wins(&self) -> &[WinRecord] {
        &self.wins
    }

    pub(super) fn events(&self) -> &[(u64, u32, Event<u32>)] {
        &self.events
    }

    /// Metrics of every incarnation that shut down, summed.
    pub(super) fn retired(&self) -> &Metrics {
        &self.retired
    }

    pub(super) fn churn_log(&self) -> &[(u64, u32, bool)] {
        &self.churn_log
    }
}
