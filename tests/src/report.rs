//! The `simulate` report: the keys plus the breakdowns needed to explain them.
//!
//! Every value is keyed by a name: counter arrays serialize as `name → count`
//! maps (message kinds by [`MessageKind::as_str`], failure reasons by
//! [`FailureReason::name`], as in the core's `Metrics`), ranges as `{lo, hi}`.

use crate::adversary::NodeKind;
use crate::named;
use crate::sim::{ElectionCounters, Sim, WinnerClass};
use crate::timeline::Minute;
use election_proto::node::{EvictionReason, FailureReason};
use election_proto::wire::MessageKind;
use serde::Serialize;
use serde_json::{Map, Value};

/// An inclusive range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Range {
    /// Lower end.
    pub lo: u64,
    /// Upper end.
    pub hi: u64,
}

/// Winners of honest nodes' elections, by what the oracle found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Winners {
    /// Winner stores the token with the honest block.
    pub honest_block: u64,
    /// Winner stores the token with a stale block.
    pub stale_block: u64,
    /// Winner does not store the token.
    pub not_holding: u64,
    /// Winner is no node.
    pub phantom: u64,
    /// Winner's store could not produce a valid signature for the challenger.
    pub unable_to_sign: u64,
    /// Winner on another ledger version than the challenger.
    pub other_version: u64,
    /// Winners by node kind.
    pub by_kind: std::collections::BTreeMap<String, u64>,
    /// Winners failing the oracle in any way (not the honest block, unable to
    /// sign, or on another version), each counted once.
    pub not_honest: u64,
}

/// What the relay and referrer adversaries (issue 19) achieved.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SybilAttack {
    /// Ids each relay or referrer host presents.
    pub ids_per_host: u64,
    /// Hosts per /24 (0: each host its own).
    pub hosts_per_subnet: usize,
    /// Honest elections won by a relay, a node that stores nothing (target 0).
    pub relay_wins: u64,
    /// `relay_wins` over all honest wins.
    pub relay_win_share: f64,
    /// Honest elections won by a referrer.
    pub referrer_wins: u64,
    /// Honest elections that ended `exhausted` (query budget spent).
    pub exhausted: u64,
    /// `exhausted` over finished honest elections.
    pub exhausted_share: f64,
    /// Relays in the honest nodes' elected-peer tables at the end.
    pub relay_elected_slots: u64,
    /// Entries in those tables at the end.
    pub elected_slots: u64,
    /// Sybil hosts' ids in the honest contact tables at the end.
    pub sybil_contacts: crate::sim::SybilContacts,
    /// Largest share of sybil ids in any honest contact table, sampled every minute.
    pub sybil_contact_share_max: f64,
}

/// Everything `simulate` prints. The first block of fields are the keys.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Nodes simulated.
    pub nodes: usize,
    /// Simulated minutes.
    pub simulated_minutes: f64,
    /// Seed.
    pub seed: u64,
    /// Elections started by honest nodes.
    pub elections_started: u64,
    /// Elections honest nodes won.
    pub elections_succeeded: u64,
    /// `elections_succeeded / finished` (finished excludes elections cut by churn shutdowns).
    pub success_rate: f64,
    /// Honest elections that saw a split-brain.
    pub split_brain: u64,
    /// Failed: fewer than `min_cluster_size` valid answers by the deadline.
    pub failed_timeout: u64,
    /// Failed: answers, but no agreeing group.
    pub failed_no_consensus: u64,
    /// Median win latency (ms).
    pub latency_ms_p50: u64,
    /// 99th percentile win latency (ms).
    pub latency_ms_p99: u64,
    /// Datagrams sent network-wide (every node, every kind, relays and adversaries
    /// included) per honest election started.
    pub messages_per_election: f64,
    /// Datagrams sent network-wide per node per simulated hour.
    pub messages_per_node_hour: f64,
    /// Mean elected-table size over honest online nodes at the end.
    pub elected_peers_per_node_mean: f64,
    /// Mean distinct valid responders per finished honest election that ran.
    pub distinct_responders_mean: f64,
    /// Which bootstrap the run used (`seeds:3`: three seed addresses per
    /// node; `contacts:4+8`: the old vouched ring neighbours + random contacts).
    pub bootstrap: String,
    /// Mean contact-table size over honest online nodes at the end.
    pub contacts_mean: f64,
    /// Contacts admitted, every node (core `contacts_admitted`).
    pub contacts_admitted: u64,
    /// Contacts or candidates refused by the caps, every node (core `contacts_rejected`).
    pub contacts_rejected: u64,
    /// Per honest node, ms from the start of the run to its first elected peer:
    /// median and 99th percentile (`null`: that share of nodes never got there).
    /// When the run has late joiners (`--joiners`), over those only and from
    /// their join: the time a node joining a running network takes.
    pub time_to_first_peer_ms_p50: Option<u64>,
    /// See `time_to_first_peer_ms_p50`.
    pub time_to_first_peer_ms_p99: Option<u64>,
    /// The same for the eighth elected peer.
    pub time_to_8_peers_ms_p50: Option<u64>,
    /// See `time_to_8_peers_ms_p50`.
    pub time_to_8_peers_ms_p99: Option<u64>,
    /// Largest share of eclipse ids in any honest contact table, sampled every minute.
    pub eclipse_share_max: f64,
    /// (Honest node, minute) samples with more than a tenth of the contact
    /// table eclipse ids.
    pub eclipse_tables_over_tenth: u64,
    /// The last minute such a sample was taken (0 if never).
    pub eclipse_over_tenth_last_minute: u64,
    /// Attacks of issue 19: relays, referrers and their sybil ids.
    pub sybil_attack: SybilAttack,
    /// Datagrams honest nodes sent per honest node per simulated hour
    /// (adversaries' traffic left out).
    pub honest_messages_per_node_hour: f64,
    /// Wall time of the run (s).
    pub wall_seconds: f64,
    /// Simulator events (deliveries, timers, churn, partitions) per wall second.
    pub events_per_second: f64,

    /// Share of honest table entries whose peer is offline, sampled every
    /// simulated minute after the first 10: mean over the samples.
    pub table_dead_share_mean: f64,
    /// See `table_dead_share_mean`: the largest sample.
    pub table_dead_share_max: f64,
    /// Share of honest table entries whose peer is on another ledger version
    /// than the owner, lazy or switched (sampled as above): mean.
    pub table_misaligned_share_mean: f64,
    /// See `table_misaligned_share_mean`: the largest sample.
    pub table_misaligned_share_max: f64,
    /// The same over the samples after the partition healed (`null`: no healing).
    pub table_misaligned_share_after_heal_mean: Option<f64>,
    /// See `table_misaligned_share_after_heal_mean`: the largest such sample.
    pub table_misaligned_share_after_heal_max: Option<f64>,
    /// Per departed or switched node that was in some honest table: ms until
    /// it was in none; those still in one at the end count with the time so
    /// far (`null`: none departed or switched).
    pub evict_ms_p50: Option<u64>,
    /// See `evict_ms_p50`.
    pub evict_ms_p99: Option<u64>,
    /// Departed or switched nodes still in some honest table at the end.
    pub evict_pending: usize,
    /// Evictions (departed or misaligned) of honest, online, unswitched peers
    /// on their evictor's version, by honest evictors, per honest node-hour.
    pub false_evictions_per_node_hour: f64,
    /// `now − verified_at` of every honest table entry whose peer is online,
    /// at every sample: 99th percentile (ms).
    pub reverify_age_ms_p99: u64,
    /// Evictions by honest nodes, by reason.
    pub evictions_by_reason: std::collections::BTreeMap<String, u64>,
    /// Election traffic only (query + answer + referral datagrams) per node per
    /// simulated hour; `messages_per_node_hour` adds membership traffic.
    pub election_messages_per_node_hour: f64,

    /// Failed: split-brain not settled by extra channels (policy `Abandon`).
    pub failed_split_brain: u64,
    /// Failed: no channel pending and none could be opened.
    pub failed_exhausted: u64,
    /// Failed for the remaining reasons (busy, already running, no token, no contacts).
    pub failed_other: u64,
    /// Elections cut by churn shutdowns (not in the success rate).
    pub cut_by_shutdown: u64,
    /// Mean win latency (ms).
    pub latency_ms_mean: f64,
    /// 90th percentile win latency (ms).
    pub latency_ms_p90: u64,
    /// Maximum win latency (ms).
    pub latency_ms_max: u64,
    /// Datagrams by kind, network-wide (own, forwarded, relayed and adversarial),
    /// indexed by [`MessageKind::index`].
    #[serde(serialize_with = "named::by_message_kind")]
    pub messages_by_kind: [u64; MessageKind::COUNT],
    /// Bytes sent per node per simulated hour.
    pub bytes_per_node_hour: f64,
    /// Winners' classification (the oracle).
    pub winners: Winners,
    /// Split-brain events (an election may report several).
    pub split_brain_events: u64,
    /// Split-brain events that opened extra channels.
    pub split_brain_spawning: u64,
    /// Partition alerts raised by honest nodes.
    pub partition_alerts: u64,
    /// Peers evicted from full elected tables.
    pub peers_evicted: u64,
    /// Core counters summed over all nodes.
    pub core: election_proto::node::Metrics,
    /// Network counters.
    pub network: crate::sim::NetCounters,
    /// Ledger coverage of honest nodes.
    pub coverage: f64,
    /// Loss probability.
    pub loss: f64,
    /// Latency range (ms).
    pub latency_ms_range: Range,
    /// Adversary shares.
    pub adversaries: std::collections::BTreeMap<String, f64>,
    /// Consensus threshold in force.
    pub consensus_threshold: usize,
    /// Initial channels in force.
    pub initial_channels: usize,
    /// Election interval in force (ms).
    pub election_interval_ms: u64,
    /// Worker threads used.
    pub threads: usize,
    /// The nodes' signature scheme: `"real"` (Ed25519) or `"simulated"`.
    pub crypto: String,
    /// CPU time of the process, all threads, user + system (s), when known
    /// (set with [`Report::with_usage`]).
    pub cpu_seconds: Option<f64>,
    /// Peak resident memory of the process (bytes), when known.
    pub peak_rss_bytes: Option<u64>,
    /// `peak_rss_bytes` per simulated node.
    pub peak_rss_bytes_per_node: Option<f64>,
    /// Times a node asked for a timer already due after handling an input (should be 0).
    pub stuck_timers: u64,
    /// One entry per simulated minute (see [`crate::timeline::Minute`]); empty
    /// unless set with [`Report::with_timeline`].
    pub timeline: Vec<Minute>,
    /// BLAKE3 digest of every delivered datagram and node event (hex): equal
    /// configurations give equal digests, whatever the thread count.
    pub digest: String,
}

/// The nearest-rank `p` quantile of `v` (unsorted), without copying it: the
/// ages of every table entry every minute are the largest record a run keeps
/// (16 MB at 10,000 nodes for an hour), and a sorted copy would double the
/// run's peak at the moment the report is built. Bisects the value range,
/// counting: 32 passes over `v`.
fn nearest_rank_u32(v: &[u32], p: f64) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    let rank = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len());
    // The smallest x with at least `rank` values <= x.
    let (mut lo, mut hi) = (0u64, u64::from(u32::MAX));
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let at_most = v.iter().filter(|x| u64::from(**x) <= mid).count();
        if at_most >= rank {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    Some(lo)
}

fn percentile(sorted: &[u32], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    // Nearest rank.
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    u64::from(sorted[rank - 1])
}

impl Report {
    /// Builds the report of `sim` after `wall_seconds` of wall time.
    pub fn new(sim: &Sim, wall_seconds: f64) -> Self {
        let cfg = sim.config();
        let h: &ElectionCounters = sim.honest();
        let mut lat = sim.latencies().to_vec();
        lat.sort_unstable();
        let minutes = sim.now() as f64 / 60_000.0;
        let hours = (minutes / 60.0).max(1e-9);
        let net = sim.net().clone();
        let core = sim.core_totals();
        let by_kind = MessageKind::ALL.map(|k| core.sent.count[k.index()] + net.adversary_sent[k.index()]);
        let honest_online: Vec<usize> = (0..sim.len())
            .filter(|&i| sim.kind(i) == NodeKind::Honest && sim.node(i).is_some())
            .collect();
        let elected_mean = if honest_online.is_empty() {
            0.0
        } else {
            honest_online
                .iter()
                .map(|&i| sim.node(i).map_or(0, |n| n.elected_peers().count()))
                .sum::<usize>() as f64
                / honest_online.len() as f64
        };
        let other = [
            FailureReason::Busy,
            FailureReason::AlreadyRunning,
            FailureReason::NoToken,
            FailureReason::NoContacts,
        ]
        .iter()
        .map(|r| h.failed(*r))
        .sum();
        let mut winners = Winners {
            honest_block: h.winners(WinnerClass::HonestBlock),
            stale_block: h.winners(WinnerClass::StaleBlock),
            not_holding: h.winners(WinnerClass::NotHolding),
            phantom: h.winners(WinnerClass::Phantom),
            unable_to_sign: h.winners_unable_to_sign,
            other_version: h.winners_other_version,
            by_kind: Default::default(),
            not_honest: h.winners_not_honest,
        };
        for k in NodeKind::ALL {
            let n = h.winners_of_kind(k);
            if n > 0 {
                winners.by_kind.insert(k.name().to_string(), n);
            }
        }
        let n = sim.len() as f64;
        let joiners = sim.join_times_to_8_peers();
        let milestones: Vec<[Option<u64>; 2]> = if joiners.is_empty() {
            sim.peer_milestones()
        } else {
            joiners.iter().map(|t| [None, *t]).collect()
        };
        let by_node = |slot: usize, p: f64| -> Option<u64> {
            // Nodes that never got there sort last.
            let mut v: Vec<u64> = milestones.iter().map(|m| m[slot].unwrap_or(u64::MAX)).collect();
            v.sort_unstable();
            if v.is_empty() {
                return None;
            }
            let rank = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len());
            Some(v[rank - 1]).filter(|t| *t != u64::MAX)
        };
        let mean = |v: &[f64]| {
            if v.is_empty() {
                0.0
            } else {
                v.iter().sum::<f64>() / v.len() as f64
            }
        };
        let max = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
        let dead = sim.table_dead_share();
        let mis: Vec<f64> = sim.table_misaligned_share().iter().map(|(_, s)| *s).collect();
        let after_heal: Option<Vec<f64>> = sim.healed_at().map(|h| {
            sim.table_misaligned_share()
                .iter()
                .filter(|(t, _)| *t > h)
                .map(|(_, s)| *s)
                .collect()
        });
        let mut evict = sim.evict_ms();
        evict.sort_unstable();
        let rank = |v: &[u64], p: f64| -> Option<u64> {
            if v.is_empty() {
                return None;
            }
            Some(v[((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1])
        };
        let age_p99 = nearest_rank_u32(sim.reverify_ages(), 0.99);
        let honest_nodes = (0..sim.len())
            .filter(|i| sim.kind(*i) == NodeKind::Honest)
            .count()
            .max(1);
        let by_reason = sim.evictions_by_reason();
        Self {
            table_dead_share_mean: mean(dead),
            table_dead_share_max: max(dead),
            table_misaligned_share_mean: mean(&mis),
            table_misaligned_share_max: max(&mis),
            table_misaligned_share_after_heal_mean: after_heal.as_deref().map(mean),
            table_misaligned_share_after_heal_max: after_heal.as_deref().map(max),
            evict_ms_p50: rank(&evict, 0.5),
            evict_ms_p99: rank(&evict, 0.99),
            evict_pending: sim.evict_pending(),
            false_evictions_per_node_hour: sim.false_evictions() as f64 / honest_nodes as f64 / hours,
            reverify_age_ms_p99: age_p99.unwrap_or(0),
            evictions_by_reason: EvictionReason::ALL
                .iter()
                .map(|r| (r.name().to_string(), by_reason[r.index()]))
                .collect(),
            election_messages_per_node_hour: [MessageKind::Query, MessageKind::Answer, MessageKind::Referral]
                .iter()
                .map(|k| by_kind[k.index()])
                .sum::<u64>() as f64
                / n
                / hours,
            bootstrap: cfg.bootstrap_name(),
            contacts_mean: sim.contacts_mean(),
            contacts_admitted: core.contacts_admitted,
            contacts_rejected: core.contacts_rejected,
            time_to_first_peer_ms_p50: by_node(0, 0.5),
            time_to_first_peer_ms_p99: by_node(0, 0.99),
            time_to_8_peers_ms_p50: by_node(1, 0.5),
            time_to_8_peers_ms_p99: by_node(1, 0.99),
            sybil_attack: {
                let (relay_elected_slots, elected_slots) = sim.relay_elected();
                let relay_wins = h.winners_of_kind(NodeKind::Relay);
                let exhausted = h.failed(FailureReason::Exhausted);
                SybilAttack {
                    ids_per_host: cfg.sybils.ids_per_host,
                    hosts_per_subnet: cfg.sybils.hosts_per_subnet,
                    relay_wins,
                    relay_win_share: relay_wins as f64 / h.succeeded.max(1) as f64,
                    referrer_wins: h.winners_of_kind(NodeKind::Referrer),
                    exhausted,
                    exhausted_share: exhausted as f64 / h.finished().max(1) as f64,
                    relay_elected_slots,
                    elected_slots,
                    sybil_contacts: sim.sybil_contacts(),
                    sybil_contact_share_max: sim.sybil_share_max(),
                }
            },
            eclipse_share_max: sim.eclipse_share_max(),
            eclipse_tables_over_tenth: sim.eclipse_over_tenth().0,
            eclipse_over_tenth_last_minute: sim.eclipse_over_tenth().1,
            honest_messages_per_node_hour: net.honest_sent as f64 / honest_nodes as f64 / hours,
            nodes: sim.len(),
            simulated_minutes: minutes,
            seed: cfg.seed,
            elections_started: h.started,
            elections_succeeded: h.succeeded,
            success_rate: h.success_rate(),
            split_brain: h.split_brain_elections,
            failed_timeout: h.failed(FailureReason::Timeout),
            failed_no_consensus: h.failed(FailureReason::NoConsensus),
            latency_ms_p50: percentile(&lat, 0.50),
            latency_ms_p99: percentile(&lat, 0.99),
            messages_per_election: if h.started == 0 {
                0.0
            } else {
                net.sent as f64 / h.started as f64
            },
            messages_per_node_hour: net.sent as f64 / n / hours,
            elected_peers_per_node_mean: elected_mean,
            distinct_responders_mean: if h.responders_n == 0 {
                0.0
            } else {
                h.responders_sum as f64 / h.responders_n as f64
            },
            wall_seconds,
            events_per_second: if wall_seconds > 0.0 {
                net.events as f64 / wall_seconds
            } else {
                0.0
            },
            failed_split_brain: h.failed(FailureReason::SplitBrain),
            failed_exhausted: h.failed(FailureReason::Exhausted),
            failed_other: other,
            cut_by_shutdown: h.failed(FailureReason::Shutdown),
            latency_ms_mean: if h.succeeded == 0 {
                0.0
            } else {
                h.latency_sum_ms as f64 / h.succeeded as f64
            },
            latency_ms_p90: percentile(&lat, 0.90),
            latency_ms_max: lat.last().map_or(0, |v| u64::from(*v)),
            messages_by_kind: by_kind,
            bytes_per_node_hour: net.sent_bytes as f64 / n / hours,
            winners,
            split_brain_events: h.split_brain_events,
            split_brain_spawning: h.split_brain_spawning,
            partition_alerts: h.partition_alerts,
            peers_evicted: h.peers_evicted,
            core,
            network: net,
            coverage: cfg.coverage,
            loss: cfg.loss,
            latency_ms_range: Range {
                lo: cfg.latency_ms.0,
                hi: cfg.latency_ms.1,
            },
            adversaries: cfg
                .adversaries
                .iter()
                .map(|(k, f)| (k.name().to_string(), *f))
                .collect(),
            consensus_threshold: cfg.node.elections.consensus.consensus_threshold,
            initial_channels: cfg.node.elections.initial_channels,
            election_interval_ms: cfg.node.health.election_interval_ms,
            threads: cfg.threads,
            crypto: cfg.crypto.name().to_string(),
            cpu_seconds: None,
            peak_rss_bytes: None,
            peak_rss_bytes_per_node: None,
            stuck_timers: sim.stuck_timers(),
            timeline: Vec::new(),
            digest: sim.digest().iter().map(|b| format!("{b:02x}")).collect(),
        }
    }

    /// The report with the process's CPU time and peak memory (`None`: unknown).
    pub fn with_usage(mut self, usage: Option<crate::usage::Usage>) -> Self {
        self.cpu_seconds = usage.map(|u| u.cpu_seconds);
        self.peak_rss_bytes = usage.map(|u| u.peak_rss_bytes);
        self.peak_rss_bytes_per_node = usage.map(|u| u.peak_rss_bytes as f64 / self.nodes.max(1) as f64);
        self
    }

    /// The report with these per-minute samples under `timeline`.
    pub fn with_timeline(mut self, minutes: Vec<Minute>) -> Self {
        self.timeline = minutes;
        self
    }

    /// One JSON object.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// A two-column table: the keys in order, then every other field,
    /// nested objects flattened to `outer.inner`.
    pub fn to_table(&self) -> String {
        const HEADLINE: [&str; 17] = [
            "nodes",
            "simulated_minutes",
            "seed",
            "elections_started",
            "elections_succeeded",
            "success_rate",
            "split_brain",
            "failed_timeout",
            "failed_no_consensus",
            "latency_ms_p50",
            "latency_ms_p99",
            "messages_per_election",
            "messages_per_node_hour",
            "elected_peers_per_node_mean",
            "distinct_responders_mean",
            "wall_seconds",
            "events_per_second",
        ];
        let value = serde_json::to_value(self).unwrap_or(Value::Null);
        let mut rows: Vec<(String, String)> = Vec::new();
        if let Value::Object(map) = &value {
            for k in HEADLINE {
                if let Some(v) = map.get(k) {
                    flatten(k, v, &mut rows);
                }
            }
            rows.push((String::new(), String::new()));
            let rest: Map<String, Value> = map
                .iter()
                .filter(|(k, _)| !HEADLINE.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            flatten_map("", &rest, &mut rows);
        }
        let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        let mut out = String::new();
        for (k, v) in rows {
            out.push_str(format!("{k:<width$}  {v}").trim_end());
            out.push('\n');
        }
        out
    }
}

fn flatten(prefix: &str, v: &Value, rows: &mut Vec<(String, String)>) {
    match v {
        Value::Object(map) => flatten_map(prefix, map, rows),
        Value::Number(n) => {
            let s = match n.as_f64() {
                Some(f) if n.is_f64() => {
                    if f.abs() >= 100.0 {
                        format!("{f:.1}")
                    } else {
                        format!("{f:.4}")
                    }
                }
                _ => n.to_string(),
            };
            rows.push((prefix.to_string(), s));
        }
        Value::Array(items) => rows.push((
            prefix.to_string(),
            format!("[{} entries; see --json]", items.len()),
        )),
        other => rows.push((prefix.to_string(), other.to_string())),
    }
}

fn flatten_map(prefix: &str, map: &Map<String, Value>, rows: &mut Vec<(String, String)>) {
    for (k, v) in map {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        flatten(&key, v, rows);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_without_sorting_matches_the_sorted_rank() {
        let v: Vec<u32> = (0..1000u32)
            .map(|i| i.wrapping_mul(2_654_435_761) % 5000)
            .collect();
        let mut sorted = v.clone();
        sorted.sort_unstable();
        for p in [0.01, 0.5, 0.99, 1.0] {
            assert_eq!(nearest_rank_u32(&v, p), Some(percentile(&sorted, p)), "p {p}");
        }
        assert_eq!(nearest_rank_u32(&[], 0.99), None);
        assert_eq!(nearest_rank_u32(&[u32::MAX, 0], 1.0), Some(u64::from(u32::MAX)));
    }
}
