//! Counters a node keeps about itself; cheap to update, snapshotted on demand.

use super::event::FailureReason;
use crate::wire::{DecodeError, MessageKind};
use serde::{Deserialize, Serialize};

/// Upper bounds (ms, inclusive) of the latency histogram buckets; the last bucket is open.
pub const LATENCY_BUCKETS_MS: [u64; 12] = [
    50, 100, 200, 300, 500, 750, 1_000, 1_500, 2_000, 3_000, 5_000, 8_000,
];

/// Per-message-kind counters, indexed by [`MessageKind::index`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindCounters {
    /// Datagrams of each kind (Query, Answer, Referral).
    pub count: [u64; 3],
    /// Bytes of each kind.
    pub bytes: [u64; 3],
}

impl KindCounters {
    fn merge(&mut self, other: &KindCounters) {
        add_all(&mut self.count, &other.count);
        add_all(&mut self.bytes, &other.bytes);
    }

    pub(crate) fn add(&mut self, kind: MessageKind, bytes: usize) {
        self.count[kind.index()] += 1;
        self.bytes[kind.index()] += bytes as u64;
    }

    /// Datagrams of all kinds.
    pub fn total(&self) -> u64 {
        self.count.iter().sum()
    }

    /// Bytes of all kinds.
    pub fn total_bytes(&self) -> u64 {
        self.bytes.iter().sum()
    }
}

/// A snapshot of a node's counters and table sizes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Elections started (including ones that failed at once).
    pub elections_started: u64,
    /// Elections that elected a winner.
    pub elections_succeeded: u64,
    /// Failed elections per reason, indexed by [`FailureReason::index`].
    pub elections_failed: [u64; 9],
    /// Split-brain verdicts seen (an election may see several).
    pub split_brains: u64,
    /// Partition alerts raised.
    pub partition_alerts: u64,
    /// Latency histogram of successful elections, buckets per [`LATENCY_BUCKETS_MS`] plus overflow.
    pub latency_histogram: [u64; 13],
    /// Sum of successful-election latencies, for the mean.
    pub latency_sum_ms: u64,
    /// Messages this node's own elections caused it to send (queries).
    pub election_messages_sent: u64,
    /// Datagrams sent, by kind.
    pub sent: KindCounters,
    /// Datagrams received and decoded, by kind.
    pub received: KindCounters,
    /// Datagrams dropped as undecodable, per [`DecodeError`] kind
    /// (empty, oversized, unknown version, malformed, trailing bytes).
    pub decode_errors: [u64; 5],
    /// Re-delivered identical answers ignored.
    pub duplicate_answers: u64,
    /// Conflicting second answers (channels blocked).
    pub conflicting_answers: u64,
    /// Answers whose signature failed verification.
    pub invalid_signatures: u64,
    /// Answers or referrals that matched no election and no reverse path.
    pub unmatched_replies: u64,
    /// Queries answered from the local store.
    pub queries_answered: u64,
    /// Queries forwarded toward the token.
    pub queries_forwarded: u64,
    /// Queries answered with a referral.
    pub queries_referred: u64,
    /// Queries recognised as loops.
    pub loops_cut: u64,
    /// Queries not forwarded because the forward table was full.
    pub forward_table_full: u64,
    /// Replies relayed back along a reverse path.
    pub replies_relayed: u64,
    /// Channels abandoned after `channel_timeout_ms`.
    pub channel_timeouts: u64,
    /// Outgoing messages that could not be encoded (an address type too large for a datagram).
    pub encode_errors: u64,
    /// Current number of known contacts.
    pub contacts: usize,
    /// Current number of elected peers.
    pub elected_peers: usize,
    /// Current number of reverse-path entries.
    pub forward_entries: usize,
    /// Current number of running elections.
    pub active_elections: usize,
}

fn add_all<const N: usize>(into: &mut [u64; N], from: &[u64; N]) {
    for (a, b) in into.iter_mut().zip(from) {
        *a += b;
    }
}

impl Metrics {
    /// Adds `other` into `self`, field by field: counters and histograms sum,
    /// and the table sizes sum too (so over many nodes they are totals, not
    /// one node's size). For reports over a whole network.
    pub fn merge(&mut self, other: &Metrics) {
        // Destructured so that a new field cannot be forgotten here.
        let Metrics {
            elections_started,
            elections_succeeded,
            elections_failed,
            split_brains,
            partition_alerts,
            latency_histogram,
            latency_sum_ms,
            election_messages_sent,
            sent,
            received,
            decode_errors,
            duplicate_answers,
            conflicting_answers,
            invalid_signatures,
            unmatched_replies,
            queries_answered,
            queries_forwarded,
            queries_referred,
            loops_cut,
            forward_table_full,
            replies_relayed,
            channel_timeouts,
            encode_errors,
            contacts,
            elected_peers,
            forward_entries,
            active_elections,
        } = other;
        self.elections_started += elections_started;
        self.elections_succeeded += elections_succeeded;
        add_all(&mut self.elections_failed, elections_failed);
        self.split_brains += split_brains;
        self.partition_alerts += partition_alerts;
        add_all(&mut self.latency_histogram, latency_histogram);
        self.latency_sum_ms += latency_sum_ms;
        self.election_messages_sent += election_messages_sent;
        self.sent.merge(sent);
        self.received.merge(received);
        add_all(&mut self.decode_errors, decode_errors);
        self.duplicate_answers += duplicate_answers;
        self.conflicting_answers += conflicting_answers;
        self.invalid_signatures += invalid_signatures;
        self.unmatched_replies += unmatched_replies;
        self.queries_answered += queries_answered;
        self.queries_forwarded += queries_forwarded;
        self.queries_referred += queries_referred;
        self.loops_cut += loops_cut;
        self.forward_table_full += forward_table_full;
        self.replies_relayed += replies_relayed;
        self.channel_timeouts += channel_timeouts;
        self.encode_errors += encode_errors;
        self.contacts += contacts;
        self.elected_peers += elected_peers;
        self.forward_entries += forward_entries;
        self.active_elections += active_elections;
    }

    pub(crate) fn record_failure(&mut self, reason: FailureReason) {
        self.elections_failed[reason.index()] += 1;
    }

    /// Failed elections for one reason.
    pub fn failed(&self, reason: FailureReason) -> u64 {
        self.elections_failed[reason.index()]
    }

    /// Failed elections, all reasons.
    pub fn failed_total(&self) -> u64 {
        self.elections_failed.iter().sum()
    }

    pub(crate) fn record_latency(&mut self, ms: u64) {
        let i = LATENCY_BUCKETS_MS
            .iter()
            .position(|b| ms <= *b)
            .unwrap_or(LATENCY_BUCKETS_MS.len());
        self.latency_histogram[i] += 1;
        self.latency_sum_ms += ms;
    }

    pub(crate) fn record_decode_error(&mut self, e: DecodeError) {
        let i = match e {
            DecodeError::Empty => 0,
            DecodeError::Oversized { .. } => 1,
            DecodeError::UnknownVersion(_) => 2,
            DecodeError::Malformed => 3,
            DecodeError::TrailingBytes { .. } => 4,
        };
        self.decode_errors[i] += 1;
    }

    /// Undecodable datagrams, all kinds.
    pub fn decode_errors_total(&self) -> u64 {
        self.decode_errors.iter().sum()
    }

    /// Share of finished elections that succeeded, if any finished.
    pub fn success_rate(&self) -> Option<f64> {
        let done = self.elections_succeeded + self.failed_total();
        (done > 0).then(|| self.elections_succeeded as f64 / done as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_sums_every_field() {
        let mut one = Metrics {
            elections_started: 2,
            contacts: 5,
            channel_timeouts: 4,
            ..Metrics::default()
        };
        one.elections_failed[3] = 1;
        one.sent.add(MessageKind::Answer, 700);
        one.record_decode_error(DecodeError::Malformed);
        one.record_latency(120);
        let mut total = one.clone();
        total.merge(&one);
        assert_eq!(total.elections_started, 4);
        assert_eq!(total.elections_failed[3], 2);
        assert_eq!(total.sent.count[MessageKind::Answer.index()], 2);
        assert_eq!(total.sent.total_bytes(), 1400);
        assert_eq!(total.decode_errors_total(), 2);
        assert_eq!(total.latency_histogram.iter().sum::<u64>(), 2);
        assert_eq!(total.latency_sum_ms, 240);
        assert_eq!((total.contacts, total.channel_timeouts), (10, 8));
        let mut from_zero = Metrics::default();
        from_zero.merge(&one);
        assert_eq!(from_zero, one);
    }
}
