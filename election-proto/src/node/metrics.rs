//! Counters a node keeps about itself; cheap to update, snapshotted on demand.
//!
//! Counter arrays are sized by the enums they count and serialize as maps from
//! each slot's name to its count (`{"timeout": 3, ...}`), so reports and JSON
//! consumers never depend on positions.

use super::event::FailureReason;
use crate::wire::{DecodeError, MessageKind};
use serde::{Deserialize, Serialize};

/// Upper bounds (ms, inclusive) of the latency histogram buckets; the last bucket is open.
pub const LATENCY_BUCKETS_MS: [u64; 12] = [
    50, 100, 200, 300, 500, 750, 1_000, 1_500, 2_000, 3_000, 5_000, 8_000,
];

/// Number of latency histogram slots: one per bound in [`LATENCY_BUCKETS_MS`] plus overflow.
pub const LATENCY_SLOTS: usize = LATENCY_BUCKETS_MS.len() + 1;

/// Why a contact or candidate was refused ([`Metrics::contacts_rejected`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// A candidate whose host or subnet is full, before any ping.
    BeforeProbe,
    /// A proven contact whose host or subnet is full.
    GroupFull,
    /// A proven contact, the table full of fresh contacts.
    TableFull,
}

/// Per-message-kind counters, indexed by [`MessageKind::index`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindCounters {
    /// Datagrams of each kind.
    #[serde(with = "by_kind")]
    pub count: [u64; MessageKind::COUNT],
    /// Bytes of each kind.
    #[serde(with = "by_kind")]
    pub bytes: [u64; MessageKind::COUNT],
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
    #[serde(with = "by_reason")]
    pub elections_failed: [u64; FailureReason::COUNT],
    /// Split-brain verdicts seen (an election may see several).
    pub split_brains: u64,
    /// Partition alerts raised.
    pub partition_alerts: u64,
    /// Latency histogram of successful elections, buckets per [`LATENCY_BUCKETS_MS`] plus
    /// overflow; serialized with the keys in [`LATENCY_SLOT_NAMES`].
    #[serde(with = "by_latency")]
    pub latency_histogram: [u64; LATENCY_SLOTS],
    /// Sum of successful-election latencies, for the mean.
    pub latency_sum_ms: u64,
    /// Messages this node's own elections caused it to send (queries).
    pub election_messages_sent: u64,
    /// Datagrams sent, by kind.
    pub sent: KindCounters,
    /// Datagrams received and decoded, by kind.
    pub received: KindCounters,
    /// Datagrams dropped as undecodable, indexed by [`DecodeError::index`].
    #[serde(with = "by_decode_error")]
    pub decode_errors: [u64; DecodeError::COUNT],
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
    /// Contacts that entered the table (proven, or vouched for by the host).
    pub contacts_admitted: u64,
    /// Proven contacts or candidates refused: their host or subnet was at its
    /// cap, or the table was full of fresh contacts. The sum of
    /// `rejected_before_probe`, `rejected_group_full` and `rejected_table_full`.
    pub contacts_rejected: u64,
    /// Of `contacts_rejected`: candidates turned away before any ping (or
    /// lookup request) because their host or subnet was at its cap. A flood
    /// of candidates raises this without touching the table.
    #[serde(default)]
    pub rejected_before_probe: u64,
    /// Of `contacts_rejected`: proven contacts refused because their host or
    /// subnet was at its cap.
    #[serde(default)]
    pub rejected_group_full: u64,
    /// Of `contacts_rejected`: proven contacts refused because the table was
    /// full of fresh contacts (or no probe slot was free to test its stalest).
    #[serde(default)]
    pub rejected_table_full: u64,
    /// Contacts evicted after failing a liveness check.
    pub contacts_evicted: u64,
    /// Candidates not probed for lack of a probe slot or allowance.
    pub candidates_dropped: u64,
    /// Referral chains of our elections that ended without an answer: a
    /// referral named nobody strictly closer to the token than its sender, or
    /// the chain reached `max_referral_hops`. Each struck the chain's first hop.
    #[serde(default)]
    pub referral_chains_ended: u64,
    /// Authentic answers to our own channels whose possession proof matched
    /// fewer than `min_proof_steps` steps of our store: not counted.
    #[serde(default)]
    pub unproven_answers: u64,
    /// Pings sent (admission and liveness probes).
    pub probes_sent: u64,
    /// Pings unanswered in time.
    pub probes_timed_out: u64,
    /// Pongs and `Neighbours` replies that matched no request (and pings for another id): dropped.
    pub unsolicited_replies: u64,
    /// Lookups started.
    pub lookups_started: u64,
    /// Current number of known contacts.
    pub contacts: usize,
    /// Current number of elected peers.
    pub elected_peers: usize,
    /// Current number of reverse-path entries.
    pub forward_entries: usize,
    /// Current number of running elections.
    pub active_elections: usize,
    /// Clique searches behind a verdict that hit `election.max_clique_steps`
    /// (the verdict then used the clusters found within the bound).
    pub clique_searches_truncated: u64,
    /// Queries from addresses not yet validated, answered with a `Retry`
    /// (a cookie) instead of an answer, a forward or a referral.
    pub retries_sent: u64,
    /// `Retry`s received for our own or a forwarded query, and followed by
    /// resending the query with the cookie.
    pub retries_followed: u64,
    /// `CookieQuery`s whose cookie was not ours for the sender's address (or stale): dropped.
    pub cookies_rejected: u64,
    /// Proofs that an address receives (cookie returned, pong, reply with our ticket or nonce).
    pub addresses_validated: u64,
    /// Validated addresses evicted from a full table to make room.
    pub validated_evictions: u64,
    /// Queries not served because their source host had spent its rate limit.
    pub queries_rate_limited: u64,
    /// Rate-limit buckets of idle hosts (refilled completely) taken over by
    /// newcomers in a full table.
    pub rate_limit_evictions: u64,
    /// Current number of validated addresses (beyond the contact table's).
    pub validated_addresses: usize,
    /// Current number of source hosts with a rate-limit bucket.
    pub rate_limited_hosts: usize,
    /// Pongs and answers refused because their key does not hash to the
    /// sender's id or its proof of work is below `pow_difficulty` (wire v2).
    pub identities_rejected: u64,
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
            contacts_admitted,
            contacts_rejected,
            rejected_before_probe,
            rejected_group_full,
            rejected_table_full,
            contacts_evicted,
            candidates_dropped,
            referral_chains_ended,
            unproven_answers,
            probes_sent,
            probes_timed_out,
            unsolicited_replies,
            lookups_started,
            contacts,
            elected_peers,
            forward_entries,
            active_elections,
            clique_searches_truncated,
            retries_sent,
            retries_followed,
            cookies_rejected,
            addresses_validated,
            validated_evictions,
            queries_rate_limited,
            rate_limit_evictions,
            validated_addresses,
            rate_limited_hosts,
            identities_rejected,
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
        self.contacts_admitted += contacts_admitted;
        self.contacts_rejected += contacts_rejected;
        self.rejected_before_probe += rejected_before_probe;
        self.rejected_group_full += rejected_group_full;
        self.rejected_table_full += rejected_table_full;
        self.contacts_evicted += contacts_evicted;
        self.candidates_dropped += candidates_dropped;
        self.referral_chains_ended += referral_chains_ended;
        self.unproven_answers += unproven_answers;
        self.probes_sent += probes_sent;
        self.probes_timed_out += probes_timed_out;
        self.unsolicited_replies += unsolicited_replies;
        self.lookups_started += lookups_started;
        self.contacts += contacts;
        self.elected_peers += elected_peers;
        self.forward_entries += forward_entries;
        self.active_elections += active_elections;
        self.clique_searches_truncated += clique_searches_truncated;
        self.retries_sent += retries_sent;
        self.retries_followed += retries_followed;
        self.cookies_rejected += cookies_rejected;
        self.addresses_validated += addresses_validated;
        self.validated_evictions += validated_evictions;
        self.queries_rate_limited += queries_rate_limited;
        self.rate_limit_evictions += rate_limit_evictions;
        self.validated_addresses += validated_addresses;
        self.rate_limited_hosts += rate_limited_hosts;
        self.identities_rejected += identities_rejected;
    }

    /// Counts one refused contact or candidate, in `contacts_rejected` and
    /// in the counter of its reason.
    pub(crate) fn reject(&mut self, why: Rejection) {
        self.contacts_rejected += 1;
        match why {
            Rejection::BeforeProbe => self.rejected_before_probe += 1,
            Rejection::GroupFull => self.rejected_group_full += 1,
            Rejection::TableFull => self.rejected_table_full += 1,
        }
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
        self.decode_errors[e.index()] += 1;
    }

    /// Undecodable datagrams of one kind (the payload of `e` is ignored).
    pub fn decode_errors_of(&self, e: DecodeError) -> u64 {
        self.decode_errors[e.index()]
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

/// Serde for a counter array as a map `{slot name: count}`; missing names read
/// as 0, unknown names are an error (a report from a newer version should be
/// read by a newer reader, not silently truncated).
mod named {
    use core::fmt;
    use serde::de::{Error, MapAccess, Visitor};
    use serde::ser::SerializeMap;
    use serde::{Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer, const N: usize>(
        names: &[&str; N],
        values: &[u64; N],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(N))?;
        for (name, v) in names.iter().zip(values) {
            map.serialize_entry(name, v)?;
        }
        map.end()
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        names: [&'static str; N],
        d: D,
    ) -> Result<[u64; N], D::Error> {
        struct Named<const N: usize>([&'static str; N]);
        impl<'de, const N: usize> Visitor<'de> for Named<N> {
            type Value = [u64; N];
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a map from counter names ({}) to counts", self.0.join(", "))
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<[u64; N], M::Error> {
                let mut out = [0u64; N];
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    let i = self
                        .0
                        .iter()
                        .position(|n| *n == key)
                        .ok_or_else(|| M::Error::unknown_field(&key, &[]))?;
                    out[i] = map.next_value()?;
                }
                Ok(out)
            }
        }
        d.deserialize_map(Named(names))
    }
}

/// One `with` module per counted enum, so fields say what indexes them.
macro_rules! named_counts {
    ($module:ident, $len:expr, $names:expr) => {
        mod $module {
            use super::*;
            pub(super) fn serialize<S: serde::Serializer>(v: &[u64; $len], s: S) -> Result<S::Ok, S::Error> {
                named::serialize(&$names, v, s)
            }
            pub(super) fn deserialize<'de, D: serde::Deserializer<'de>>(
                d: D,
            ) -> Result<[u64; $len], D::Error> {
                named::deserialize($names, d)
            }
        }
    };
}

named_counts!(
    by_kind,
    MessageKind::COUNT,
    MessageKind::ALL.map(MessageKind::as_str)
);
named_counts!(
    by_reason,
    FailureReason::COUNT,
    FailureReason::ALL.map(FailureReason::name)
);
named_counts!(by_decode_error, DecodeError::COUNT, DecodeError::NAMES);
named_counts!(by_latency, LATENCY_SLOTS, LATENCY_SLOT_NAMES);

/// Keys of the latency histogram's slots, one per bound in [`LATENCY_BUCKETS_MS`]
/// plus the open overflow slot (a test checks they match the bounds).
pub const LATENCY_SLOT_NAMES: [&str; LATENCY_SLOTS] = [
    "le_50_ms",
    "le_100_ms",
    "le_200_ms",
    "le_300_ms",
    "le_500_ms",
    "le_750_ms",
    "le_1000_ms",
    "le_1500_ms",
    "le_2000_ms",
    "le_3000_ms",
    "le_5000_ms",
    "le_8000_ms",
    "gt_8000_ms",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejections_are_counted_in_the_total_and_by_reason_and_merge() {
        let mut m = Metrics::default();
        m.reject(Rejection::BeforeProbe);
        m.reject(Rejection::BeforeProbe);
        m.reject(Rejection::GroupFull);
        m.reject(Rejection::TableFull);
        assert_eq!(
            (
                m.contacts_rejected,
                m.rejected_before_probe,
                m.rejected_group_full,
                m.rejected_table_full
            ),
            (4, 2, 1, 1)
        );
        let mut total = m.clone();
        total.merge(&m);
        assert_eq!((total.contacts_rejected, total.rejected_before_probe), (8, 4));
        // Metrics saved before the split still load, the split counters at 0.
        let mut json = serde_json::to_value(&m).unwrap();
        for k in [
            "rejected_before_probe",
            "rejected_group_full",
            "rejected_table_full",
        ] {
            json.as_object_mut().unwrap().remove(k);
        }
        let old: Metrics = serde_json::from_value(json).unwrap();
        assert_eq!((old.contacts_rejected, old.rejected_before_probe), (4, 0));
    }

    #[test]
    fn json_names_every_counter_and_round_trips() {
        let mut m = Metrics::default();
        m.record_failure(FailureReason::Timeout);
        m.record_decode_error(DecodeError::TrailingBytes { count: 3 });
        m.record_latency(9_000);
        m.received.add(MessageKind::Referral, 150);
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(v["elections_failed"]["timeout"], 1);
        assert_eq!(v["elections_failed"]["no_contacts"], 0);
        assert_eq!(
            v["elections_failed"].as_object().unwrap().len(),
            FailureReason::COUNT
        );
        assert_eq!(v["decode_errors"]["trailing_bytes"], 1);
        assert_eq!(v["latency_histogram"]["gt_8000_ms"], 1);
        assert_eq!(v["latency_histogram"]["le_50_ms"], 0);
        assert_eq!(v["received"]["count"]["referral"], 1);
        assert_eq!(v["received"]["bytes"]["referral"], 150);
        let back: Metrics = serde_json::from_value(v).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn json_with_an_unknown_counter_name_is_rejected_and_missing_names_read_as_zero() {
        let mut v = serde_json::to_value(Metrics::default()).unwrap();
        v["elections_failed"] = serde_json::json!({ "timeout": 2 });
        let m: Metrics = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(m.failed(FailureReason::Timeout), 2);
        assert_eq!(m.failed_total(), 2);
        v["elections_failed"] = serde_json::json!({ "gremlins": 1 });
        let err = serde_json::from_value::<Metrics>(v).unwrap_err().to_string();
        assert!(err.contains("gremlins"), "{err}");
    }

    #[test]
    fn every_index_is_dense_and_matches_all() {
        for (i, r) in FailureReason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
        for (i, k) in MessageKind::ALL.iter().enumerate() {
            assert_eq!(k.index(), i);
        }
        let errors = [
            DecodeError::Empty,
            DecodeError::Oversized { len: 2_000 },
            DecodeError::UnknownVersion(9),
            DecodeError::Malformed,
            DecodeError::TrailingBytes { count: 1 },
        ];
        for (i, e) in errors.iter().enumerate() {
            assert_eq!(e.index(), i);
            assert_eq!(e.name(), DecodeError::NAMES[i]);
        }
        for (i, b) in LATENCY_BUCKETS_MS.iter().enumerate() {
            assert_eq!(LATENCY_SLOT_NAMES[i], format!("le_{b}_ms"));
        }
        assert_eq!(
            LATENCY_SLOT_NAMES[LATENCY_SLOTS - 1],
            format!("gt_{}_ms", LATENCY_BUCKETS_MS[11])
        );
    }

    #[test]
    fn merge_sums_every_field() {
        let mut one = Metrics {
            elections_started: 2,
            contacts: 5,
            channel_timeouts: 4,
            ..Metrics::default()
        };
        one.record_failure(FailureReason::AlreadyRunning);
        one.sent.add(MessageKind::Answer, 700);
        one.record_decode_error(DecodeError::Malformed);
        one.record_latency(120);
        let mut total = one.clone();
        total.merge(&one);
        assert_eq!(total.elections_started, 4);
        assert_eq!(total.failed(FailureReason::AlreadyRunning), 2);
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
