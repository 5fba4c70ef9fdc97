//! The counters a run reports: election outcomes and what happened to datagrams.
//!
//! Counter arrays are sized by the enums that index them and serialize as
//! `name → count` maps.

use super::oracle::{WinRecord, WinnerClass};
use crate::adversary::NodeKind;
use crate::named;
use election_proto::node::{Event, FailureReason};
use election_proto::wire::MessageKind;
use serde::{Serialize, Serializer};

/// Outcome counters of elections run by one class of challengers.
///
/// Every counter is a plain sum, so counters of disjoint parts of a run add up
/// to the counters of the whole, and [`ElectionCounters::since`] measures a phase.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ElectionCounters {
    /// `ElectionStarted` events.
    pub started: u64,
    /// `Elected` events.
    pub succeeded: u64,
    /// `ElectionFailed` events per reason, indexed by [`FailureReason::index`].
    #[serde(serialize_with = "named::by_failure_reason")]
    pub failed: [u64; FailureReason::COUNT],
    /// `SplitBrain` events.
    pub split_brain_events: u64,
    /// Elections that saw at least one `SplitBrain` event.
    pub split_brain_elections: u64,
    /// `SplitBrain` events that opened extra channels.
    pub split_brain_spawning: u64,
    /// Wins with a disjoint disagreeing cluster present.
    pub contested_wins: u64,
    /// `PartitionSuspected` events.
    pub partition_alerts: u64,
    /// `PeerAdded` events.
    pub peers_added: u64,
    /// `PeerEvicted` events.
    pub peers_evicted: u64,
    /// Sum of valid distinct responders over finished elections that ran
    /// (timeout, no consensus, split-brain, exhausted or won).
    pub responders_sum: u64,
    /// Number of those elections.
    pub responders_n: u64,
    /// Sum of win latencies.
    pub latency_sum_ms: u64,
    /// Winners by [`WinnerClass`], indexed by [`WinnerClass::index`].
    #[serde(serialize_with = "by_winner_class")]
    pub winners_by_class: [u64; WinnerClass::COUNT],
    /// Winners by [`NodeKind`], indexed by [`NodeKind::index`] (phantoms not counted).
    #[serde(serialize_with = "by_node_kind")]
    pub winners_by_kind: [u64; NodeKind::COUNT],
    /// Winners whose store could not have produced a valid signature for the challenger.
    pub winners_unable_to_sign: u64,
    /// Winners on a different ledger version than the challenger.
    pub winners_other_version: u64,
    /// Winners that fail the oracle in any way: not [`WinnerClass::HonestBlock`],
    /// unable to sign, or on another ledger version (each win counted once).
    pub winners_not_honest: u64,
}

fn by_winner_class<S: Serializer>(v: &[u64; WinnerClass::COUNT], s: S) -> Result<S::Ok, S::Error> {
    named::serialize(WinnerClass::ALL.map(WinnerClass::name), v, s)
}

fn by_node_kind<S: Serializer>(v: &[u64; NodeKind::COUNT], s: S) -> Result<S::Ok, S::Error> {
    named::serialize(NodeKind::ALL.map(NodeKind::name), v, s)
}

impl ElectionCounters {
    /// Failed elections for `reason`.
    pub fn failed(&self, reason: FailureReason) -> u64 {
        self.failed[reason.index()]
    }

    /// Finished elections that count for the success rate (every outcome but
    /// [`FailureReason::Shutdown`], which churn causes).
    pub fn finished(&self) -> u64 {
        self.succeeded + self.failed.iter().sum::<u64>() - self.failed(FailureReason::Shutdown)
    }

    /// `succeeded / finished`, or 0.
    pub fn success_rate(&self) -> f64 {
        let f = self.finished();
        if f == 0 {
            0.0
        } else {
            self.succeeded as f64 / f as f64
        }
    }

    /// Winners of class `c`.
    pub fn winners(&self, c: WinnerClass) -> u64 {
        self.winners_by_class[c.index()]
    }

    /// Winners of kind `k`.
    pub fn winners_of_kind(&self, k: NodeKind) -> u64 {
        self.winners_by_kind[k.index()]
    }

    /// Counts one node event; `first_split_brain` says whether it is the first
    /// split-brain its election reports.
    pub(super) fn count_event(&mut self, e: &Event<u32>, first_split_brain: bool) {
        match e {
            Event::ElectionStarted { .. } => self.started += 1,
            Event::Elected {
                responses,
                latency_ms,
                contested,
                ..
            } => {
                self.succeeded += 1;
                self.responders_sum += *responses as u64;
                self.responders_n += 1;
                self.latency_sum_ms += latency_ms;
                self.contested_wins += u64::from(*contested);
            }
            Event::ElectionFailed {
                reason, responses, ..
            } => {
                self.failed[reason.index()] += 1;
                // Only elections that ran to a verdict say something about how
                // many responders answer.
                if matches!(
                    reason,
                    FailureReason::Timeout
                        | FailureReason::NoConsensus
                        | FailureReason::SplitBrain
                        | FailureReason::Exhausted
                ) {
                    self.responders_sum += *responses as u64;
                    self.responders_n += 1;
                }
            }
            Event::SplitBrain {
                spawning_channels, ..
            } => {
                self.split_brain_events += 1;
                self.split_brain_spawning += u64::from(*spawning_channels);
                self.split_brain_elections += u64::from(first_split_brain);
            }
            Event::PeerAdded(_) => self.peers_added += 1,
            Event::PeerEvicted { .. } => self.peers_evicted += 1,
            Event::PartitionSuspected { .. } => self.partition_alerts += 1,
            _ => {}
        }
    }

    /// Counts the oracle's verdict on one win.
    pub(super) fn count_win(&mut self, rec: &WinRecord) {
        self.winners_by_class[rec.class.index()] += 1;
        if let Some(k) = rec.winner_kind {
            self.winners_by_kind[k.index()] += 1;
        }
        self.winners_unable_to_sign += u64::from(!rec.can_sign);
        self.winners_other_version += u64::from(!rec.same_version);
        self.winners_not_honest +=
            u64::from(rec.class != WinnerClass::HonestBlock || !rec.can_sign || !rec.same_version);
    }

    /// Adds `o` counter-wise.
    pub(super) fn add(&mut self, o: &Self) {
        self.started += o.started;
        self.succeeded += o.succeeded;
        self.split_brain_events += o.split_brain_events;
        self.split_brain_elections += o.split_brain_elections;
        self.split_brain_spawning += o.split_brain_spawning;
        self.contested_wins += o.contested_wins;
        self.partition_alerts += o.partition_alerts;
        self.peers_added += o.peers_added;
        self.peers_evicted += o.peers_evicted;
        self.responders_sum += o.responders_sum;
        self.responders_n += o.responders_n;
        self.latency_sum_ms += o.latency_sum_ms;
        self.winners_unable_to_sign += o.winners_unable_to_sign;
        self.winners_other_version += o.winners_other_version;
        self.winners_not_honest += o.winners_not_honest;
        add_all(&mut self.failed, &o.failed);
        add_all(&mut self.winners_by_class, &o.winners_by_class);
        add_all(&mut self.winners_by_kind, &o.winners_by_kind);
    }

    /// Counter-wise `self - earlier` (for measuring a phase of a run).
    pub fn since(&self, earlier: &Self) -> Self {
        let sub = |a: u64, b: u64| a.saturating_sub(b);
        Self {
            started: sub(self.started, earlier.started),
            succeeded: sub(self.succeeded, earlier.succeeded),
            failed: sub_all(&self.failed, &earlier.failed),
            split_brain_events: sub(self.split_brain_events, earlier.split_brain_events),
            split_brain_elections: sub(self.split_brain_elections, earlier.split_brain_elections),
            split_brain_spawning: sub(self.split_brain_spawning, earlier.split_brain_spawning),
            contested_wins: sub(self.contested_wins, earlier.contested_wins),
            partition_alerts: sub(self.partition_alerts, earlier.partition_alerts),
            peers_added: sub(self.peers_added, earlier.peers_added),
            peers_evicted: sub(self.peers_evicted, earlier.peers_evicted),
            responders_sum: sub(self.responders_sum, earlier.responders_sum),
            responders_n: sub(self.responders_n, earlier.responders_n),
            latency_sum_ms: sub(self.latency_sum_ms, earlier.latency_sum_ms),
            winners_by_class: sub_all(&self.winners_by_class, &earlier.winners_by_class),
            winners_by_kind: sub_all(&self.winners_by_kind, &earlier.winners_by_kind),
            winners_unable_to_sign: sub(self.winners_unable_to_sign, earlier.winners_unable_to_sign),
            winners_other_version: sub(self.winners_other_version, earlier.winners_other_version),
            winners_not_honest: sub(self.winners_not_honest, earlier.winners_not_honest),
        }
    }
}

fn add_all<const N: usize>(a: &mut [u64; N], b: &[u64; N]) {
    for (a, b) in a.iter_mut().zip(b) {
        *a += b;
    }
}

fn sub_all<const N: usize>(a: &[u64; N], b: &[u64; N]) -> [u64; N] {
    std::array::from_fn(|i| a[i].saturating_sub(b[i]))
}

/// What happened to datagrams, and how much work the simulator did.
///
/// Every counter is a plain sum over the run.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct NetCounters {
    /// Datagrams nodes (and adversaries) handed to the network.
    pub sent: u64,
    /// Bytes of those.
    pub sent_bytes: u64,
    /// Datagrams honest nodes' cores handed to the network.
    pub honest_sent: u64,
    /// Datagrams handed to a node.
    pub delivered: u64,
    /// Lost to random loss.
    pub lost: u64,
    /// Dropped by an open partition.
    pub partition_dropped: u64,
    /// Arrived at a node that was offline.
    pub offline_dropped: u64,
    /// Extra copies made by duplication.
    pub duplicated: u64,
    /// Swallowed by droppers.
    pub adversary_dropped: u64,
    /// Damaged by manglers.
    pub mangled: u64,
    /// Addressed to an index that is no node (a mangled contact).
    pub bad_address: u64,
    /// Datagrams adversary logic sent itself (forged answers, forks, relays),
    /// indexed by [`MessageKind::index`].
    #[serde(serialize_with = "named::by_message_kind")]
    pub adversary_sent: [u64; MessageKind::COUNT],
    /// Heap events processed.
    pub events: u64,
    /// Timer inputs fed.
    pub timers: u64,
    /// Node departures.
    pub churn_leaves: u64,
    /// Node returns.
    pub churn_joins: u64,
}

impl NetCounters {
    /// Adds `o` counter-wise.
    pub(super) fn add(&mut self, o: &Self) {
        self.sent += o.sent;
        self.sent_bytes += o.sent_bytes;
        self.delivered += o.delivered;
        self.lost += o.lost;
        self.partition_dropped += o.partition_dropped;
        self.offline_dropped += o.offline_dropped;
        self.duplicated += o.duplicated;
        self.adversary_dropped += o.adversary_dropped;
        self.mangled += o.mangled;
        self.bad_address += o.bad_address;
        self.honest_sent += o.honest_sent;
        add_all(&mut self.adversary_sent, &o.adversary_sent);
        self.events += o.events;
        self.timers += o.timers;
        self.churn_leaves += o.churn_leaves;
        self.churn_joins += o.churn_joins;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_add_and_subtract_counter_wise() {
        let mut a = ElectionCounters {
            started: 5,
            ..Default::default()
        };
        a.failed[FailureReason::Timeout.index()] = 2;
        a.failed[FailureReason::Shutdown.index()] = 1;
        a.winners_by_kind[NodeKind::Forger.index()] = 3;
        let mut b = a.clone();
        b.add(&a);
        assert_eq!(b.since(&a), a);
        assert_eq!(b.failed(FailureReason::Timeout), 4);
        assert_eq!(b.winners_of_kind(NodeKind::Forger), 6);
        assert_eq!(a.finished(), 2, "shutdowns do not count");
    }

    #[test]
    fn counter_arrays_serialize_as_named_maps() {
        let mut c = ElectionCounters::default();
        c.winners_by_class[WinnerClass::Phantom.index()] = 1;
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["failed"]["no_consensus"], 0);
        assert_eq!(v["winners_by_class"]["phantom"], 1);
        assert_eq!(v["winners_by_kind"]["mangler"], 0);
        let mut n = NetCounters::default();
        n.adversary_sent[MessageKind::Answer.index()] = 7;
        let v = serde_json::to_value(&n).unwrap();
        assert_eq!(v["adversary_sent"]["answer"], 7);
    }
}
