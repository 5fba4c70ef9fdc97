//! Node configuration: every limit and timing the node enforces, with
//! defaults, grouped by the subsystem that uses it.

use crate::election::{ConfigError, ElectionConfig};
use core::fmt;
use serde::{Deserialize, Serialize};

/// What to do when an election still has two disjoint disagreeing clusters
/// after the extra channels it may spawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum SplitBrainPolicy {
    /// Elect nobody and report the split (the seed's MVP behaviour).
    Abandon,
    /// Elect the strongest cluster's winner and still report the split. The
    /// default: `Node` checks answers against its own walk, so the strongest
    /// cluster is always one aligned with this node's ledger and the competitor
    /// is the side that disagrees with it (another version, or colluders). Under
    /// `Abandon`, a pair of colluders could veto any election they reach.
    AcceptStrongest,
}

/// Configuration of a [`Node`](super::Node), one part per subsystem. Times are
/// milliseconds.
///
/// Every table the node keeps has a cap here, and every cap is enforced: memory
/// does not grow with the number or content of datagrams received. Each part
/// documents its defaults and checks its own ranges ([`NodeConfig::validate`]
/// checks them all).
///
/// Fields will be added as the protocol grows, so the structs are
/// `#[non_exhaustive]`: start from [`NodeConfig::default()`] and set fields,
/// e.g. `config.health.election_interval_ms = 10_000`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct NodeConfig {
    /// The elections this node runs.
    pub elections: ElectionsConfig,
    /// Queries it forwards for others.
    pub routing: RoutingConfig,
    /// Its contacts.
    pub membership: MembershipConfig,
    /// Its elected peers and the schedule that keeps them verified.
    pub health: HealthConfig,
    /// What bounds the work others can make it do.
    pub guard: GuardConfig,
}

/// Elections this node runs: how many channels, how long to wait, what to do with a split, when to suspect a partition.
///
/// Part of [`NodeConfig`]; start from its `Default` and set fields (the
/// struct is `#[non_exhaustive]`: fields will be added as the protocol grows).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ElectionsConfig {
    /// Per-election verdict parameters (thresholds, channels, clique bound).
    pub consensus: ElectionConfig,
    /// Channels opened when an election starts. Default 2 (the seed had 3): two
    /// agreeing answers already settle an election, a third is opened only when
    /// one of the first two fails or disagrees. Saves a third of the traffic.
    pub initial_channels: usize,
    /// Channels added each time an election sees a split-brain. Default 2 (the seed's).
    pub split_brain_extra_channels: usize,
    /// What to do with a split-brain that extra channels did not resolve.
    /// Default [`SplitBrainPolicy::AcceptStrongest`] (the seed abandoned).
    pub split_brain_policy: SplitBrainPolicy,
    /// Wait at least this long for answers before deciding an election that is not
    /// already settled. Default 400 ms: a few round trips on a WAN.
    pub min_collection_ms: u64,
    /// A channel with no reply after this long is abandoned and replaced. Default 1,500 ms.
    pub channel_timeout_ms: u64,
    /// An election undecided after this long ends with a reason. Default 5,000 ms.
    pub election_timeout_ms: u64,
    /// Hop limit put on queries this node sends. Default 6.
    pub max_hops: u8,
    /// Referrals followed, at most, from one first hop (a chain). Each spends
    /// one query of the election's budget, so this bounds what one hostile
    /// first hop can take from an election: `1 + max_referral_hops` queries.
    /// Default 1: honest referrals seldom come closer to the token (an honest
    /// node refers when it knows nobody closer than itself), so longer chains
    /// buy honest elections nothing; with 20 % refer-only nodes, 1 instead of
    /// 3 took honest success from 94.7 % to 95 %+ in `sybil_attacks`.
    pub max_referral_hops: u8,
    /// Most elections running at once. Default 4.
    pub max_active_elections: usize,
    /// Steps of an answer's possession proof (of
    /// [`PROOF_STEPS`](crate::proof::PROOF_STEPS)) that must match this node's
    /// own store for the answer to count. Default 8: a relay that holds no
    /// blocks matches none (a 4-byte tag is guessed with probability 2⁻³²);
    /// an honest holder matches most of the 32, another ledger version about
    /// half as many (its answers still count, so a split stays visible).
    pub min_proof_steps: u8,
    /// Split-brains among the last `partition_window` finished elections that raise
    /// [`Event::PartitionSuspected`](super::Event::PartitionSuspected). Default 3.
    pub partition_alert_threshold: usize,
    /// Number of recent elections examined for partition alerts. Default 10.
    pub partition_window: usize,
}

impl Default for ElectionsConfig {
    fn default() -> Self {
        Self {
            consensus: ElectionConfig::default(),
            initial_channels: 2,
            split_brain_extra_channels: 2,
            split_brain_policy: SplitBrainPolicy::AcceptStrongest,
            min_collection_ms: 400,
            channel_timeout_ms: 1_500,
            election_timeout_ms: 5_000,
            max_hops: 6,
            max_referral_hops: 1,
            max_active_elections: 4,
            min_proof_steps: 8,
            partition_alert_threshold: 3,
            partition_window: 10,
        }
    }
}

/// Queries this node forwards for others: the reverse-path table.
///
/// Part of [`NodeConfig`]; start from its `Default` and set fields (the
/// struct is `#[non_exhaustive]`: fields will be added as the protocol grows).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RoutingConfig {
    /// Most reverse-path entries kept for forwarded queries. Default 4,096.
    pub max_forward_entries: usize,
    /// How long a reverse-path entry lives. Default 10,000 ms.
    pub forward_ttl_ms: u64,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        Self {
            max_forward_entries: 4_096,
            forward_ttl_ms: 10_000,
        }
    }
}

/// Contacts: the table and its per-group caps, probes, lookups and the refresh.
///
/// Part of [`NodeConfig`]; start from its `Default` and set fields (the
/// struct is `#[non_exhaustive]`: fields will be added as the protocol grows).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MembershipConfig {
    /// Most known contacts. Default 256.
    pub max_contacts: usize,
    /// A full contact table admits a newcomer only by replacing a contact not heard
    /// from for this long. Default 300,000 ms (5 min).
    pub contact_stale_ms: u64,
    /// Most contacts in the table that share one IP address (one host;
    /// loopback counts each port as a host, see
    /// [`AddressGroups`](crate::wire::AddressGroups)). Default 2: two nodes
    /// behind one NAT still fit, while one attacking host can never hold more
    /// than 2 of the 256 slots, however many ids it presents.
    pub max_contacts_per_ip: usize,
    /// Most contacts in the table that share one IPv4 /24 or IPv6 /64. Default 4
    /// (discv5 allows 2 per /24 per bucket; this table is one flat table, so a
    /// little more): an attacker needs 64 distinct subnets to fill a 256-entry
    /// table, and the simulator's eclipse adversary (128 addresses per /24)
    /// stays at a few percent of any honest table.
    pub max_contacts_per_subnet: usize,
    /// Most admission and liveness probes (pings) waiting for a pong. Default 32.
    pub max_pending_probes: usize,
    /// A probe or lookup request unanswered after this long has failed. Default 2,000 ms.
    pub probe_timeout_ms: u64,
    /// Probes this node may send in a burst to candidates it did not ask for
    /// (senders of queries and lookups, relayed responders, referral suggestions).
    /// Default 8. Lookups (which prove their contacts with their own replies) do
    /// not spend from it.
    pub probe_burst: u32,
    /// One probe is added to the burst allowance every this many ms. Default
    /// 120,000 (at most 30 unsolicited-candidate probes an hour: 60 datagrams
    /// with the pongs, within the traffic budget).
    pub probe_refill_ms: u64,
    /// Lookup requests in flight at once per lookup (alpha). Default 3.
    pub lookup_parallelism: usize,
    /// Most requests one lookup sends. Default 8.
    pub lookup_max_queries: usize,
    /// Contacts put in a `Neighbours` reply (before the size rule trims it). Default 8.
    pub neighbours_per_reply: usize,
    /// Longest wait between refreshes (lookups of the node's own id); the first
    /// comes 30 s after joining, each later one eight times later. Default
    /// 1,800,000 ms (30 min).
    pub refresh_interval_ms: u64,
}

impl Default for MembershipConfig {
    fn default() -> Self {
        Self {
            max_contacts: 256,
            contact_stale_ms: 300_000,
            max_contacts_per_ip: 2,
            max_contacts_per_subnet: 4,
            max_pending_probes: 32,
            probe_timeout_ms: 2_000,
            probe_burst: 8,
            probe_refill_ms: 120_000,
            lookup_parallelism: 3,
            lookup_max_queries: 8,
            neighbours_per_reply: 8,
            refresh_interval_ms: 1_800_000,
        }
    }
}

/// The elected-peer table: its size, the scheduler's slots, re-verification, liveness and eviction.
///
/// Part of [`NodeConfig`]; start from its `Default` and set fields (the
/// struct is `#[non_exhaustive]`: fields will be added as the protocol grows).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct HealthConfig {
    /// Most elected peers. Default 50 (the seed's `max_peers`).
    pub max_elected_peers: usize,
    /// Mean time between scheduled elections. Default 60 s (the seed's).
    pub election_interval_ms: u64,
    /// Each interval is drawn uniformly from `interval ± interval * jitter_percent / 100`.
    /// Default 20, so nodes started together drift apart.
    pub election_jitter_percent: u8,
    /// The scheduler's interval while the table is below its target (never
    /// more than `max_active_elections` elections at once), doubled for each
    /// burst discovery since the table last gained a peer and never beyond
    /// `election_interval_ms`. Default 2,000 ms: a joining node reaches 8
    /// peers in about 20 s; a node that finds nobody new settles within a few slots.
    pub burst_interval_ms: u64,
    /// Below this many elected peers the node runs discovery every
    /// `burst_interval_ms` instead of every `election_interval_ms`. Default 8.
    pub target_elected_peers: usize,
    /// Every elected peer is challenged directly at least this often (a
    /// re-verification election with a channel straight to it). Default
    /// 600,000 ms (10 min); at the target table size the one-a-minute slots
    /// challenge two peers each, so each peer is in practice asked every few
    /// minutes and this is the bound, not the rate. Whether a peer is still
    /// there is watched by `liveness_interval_ms`.
    pub reverify_period_ms: u64,
    /// A peer whose evidence leans against it, or whose last direct challenge
    /// was inconclusive (it did not hold the token, or the election ended
    /// first), is challenged again after this long. Default 15,000 ms.
    pub recheck_ms: u64,
    /// An elected peer not contacted directly (challenge or ping) for this
    /// long is pinged, and pinged again `recheck_ms` after a miss: what bounds
    /// how long a departed peer stays in the table (this plus about
    /// `departed_after_misses × recheck_ms`). Default 240,000 ms (4 min; see
    /// the README for the measured trade against traffic).
    pub liveness_interval_ms: u64,
    /// This many direct challenges or liveness pings in a row left
    /// unanswered evict a peer as departed. Default 3 (about 10⁻⁵ for an online peer at 1 % loss each way).
    pub departed_after_misses: u32,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            max_elected_peers: 50,
            election_interval_ms: 60_000,
            election_jitter_percent: 20,
            burst_interval_ms: 2_000,
            target_elected_peers: 8,
            reverify_period_ms: 600_000,
            recheck_ms: 15_000,
            liveness_interval_ms: 240_000,
            departed_after_misses: 3,
        }
    }
}

/// Address validation, per-host rate limits and the identity price.
///
/// Part of [`NodeConfig`]; start from its `Default` and set fields (the
/// struct is `#[non_exhaustive]`: fields will be added as the protocol grows).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GuardConfig {
    /// Most addresses remembered as validated (proven to receive: a cookie
    /// came back, a pong answered our ping, a reply carried our ticket or
    /// nonce). Default 1,024: four times the contact table, whose own
    /// addresses count as validated without an entry here.
    pub max_validated_addresses: usize,
    /// How long an address stays validated after its last proof. Default
    /// 3,600,000 ms (1 h): long enough that the validation round trip is rare
    /// in steady state, short enough that a reassigned address loses it.
    pub validated_ttl_ms: u64,
    /// Length of a cookie epoch; a cookie is accepted in the epoch it was made
    /// in and the next, so for at least this long. Default 60,000 ms (a round
    /// trip takes well under a second; a captured cookie is stale in two minutes).
    pub cookie_epoch_ms: u64,
    /// Queries one source host (one [`AddressGroups::ip`](crate::wire::AddressGroups))
    /// may have answered or forwarded in a burst. Default 32.
    pub query_rate_burst: u32,
    /// One more query per host is allowed every this many ms. Default 500
    /// (2 per second sustained; an honest node sends about one query a minute
    /// to any one peer, a relay a few).
    pub query_rate_refill_ms: u64,
    /// Most source hosts with a rate-limit bucket of their own. Default 1,024.
    /// When full, a newcomer takes the bucket of the least recently seen host
    /// only if that host is idle (its bucket refilled); otherwise it shares one
    /// overflow bucket with every other host that has none, so a flood from
    /// more hosts than this gets one host's rate between them.
    pub max_rate_limited_hosts: usize,
    /// Identity proof-of-work difficulty, in leading zero bits of the
    /// Argon2id hash ([`crate::keys::pow_valid`]). Above 0, a contact enters
    /// the table, and its answers count, only once its key's proof (carried in
    /// its `Pong` and `Answer`) checks; each result is cached per peer. Default
    /// 0 (no proof asked for; tests and the demo cluster). The original design
    /// used 24 (about a day of mining). At most [`crate::keys::MAX_POW_BITS`].
    pub pow_difficulty: u8,
}

impl Default for GuardConfig {
    fn default() -> Self {
        Self {
            max_validated_addresses: 1_024,
            validated_ttl_ms: 3_600_000,
            cookie_epoch_ms: 60_000,
            query_rate_burst: 32,
            query_rate_refill_ms: 500,
            max_rate_limited_hosts: 1_024,
            pow_difficulty: 0,
        }
    }
}

/// A [`NodeConfig`] field outside its valid range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NodeConfigError {
    /// The embedded election configuration is invalid.
    Election(ConfigError),
    /// This field (named by its path, e.g. `"membership.max_contacts"`) must be non-zero.
    Zero(&'static str),
    /// `initial_channels` exceeds `election.max_channels`.
    InitialChannels,
    /// `partition_alert_threshold` exceeds `partition_window`.
    PartitionThreshold,
    /// `election_jitter_percent` above 100.
    Jitter,
    /// `neighbours_per_reply` above [`MAX_NEIGHBOURS`](crate::wire::MAX_NEIGHBOURS).
    NeighboursPerReply,
    /// `pow_difficulty` above [`MAX_POW_BITS`](crate::keys::MAX_POW_BITS).
    PowDifficulty,
}

impl fmt::Display for NodeConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Election(e) => write!(f, "election config: {e}"),
            Self::Zero(field) => write!(f, "{field} must be greater than zero"),
            Self::InitialChannels => {
                f.write_str("elections.initial_channels must not exceed elections.consensus.max_channels")
            }
            Self::PartitionThreshold => {
                f.write_str("elections.partition_alert_threshold must not exceed elections.partition_window")
            }
            Self::Jitter => f.write_str("health.election_jitter_percent must be at most 100"),
            Self::NeighboursPerReply => {
                f.write_str("membership.neighbours_per_reply must be at most MAX_NEIGHBOURS (16)")
            }
            Self::PowDifficulty => f.write_str("guard.pow_difficulty must be at most MAX_POW_BITS (64)"),
        }
    }
}

impl std::error::Error for NodeConfigError {}

/// The first field of `fields` that is zero, as an error.
fn nonzero(fields: &[(&'static str, u64)]) -> Result<(), NodeConfigError> {
    match fields.iter().find(|(_, v)| *v == 0) {
        Some((field, _)) => Err(NodeConfigError::Zero(field)),
        None => Ok(()),
    }
}

impl NodeConfig {
    /// Checks every field's range, part by part.
    pub fn validate(&self) -> Result<(), NodeConfigError> {
        self.elections.validate()?;
        self.routing.validate()?;
        self.membership.validate()?;
        self.health.validate()?;
        self.guard.validate()
    }
}

impl ElectionsConfig {
    /// Checks this part's ranges.
    pub fn validate(&self) -> Result<(), NodeConfigError> {
        self.consensus.validate().map_err(NodeConfigError::Election)?;
        nonzero(&[
            ("elections.initial_channels", self.initial_channels as u64),
            ("elections.channel_timeout_ms", self.channel_timeout_ms),
            ("elections.election_timeout_ms", self.election_timeout_ms),
            ("elections.max_active_elections", self.max_active_elections as u64),
            (
                "elections.partition_alert_threshold",
                self.partition_alert_threshold as u64,
            ),
            ("elections.partition_window", self.partition_window as u64),
        ])?;
        if self.initial_channels > self.consensus.max_channels {
            return Err(NodeConfigError::InitialChannels);
        }
        if self.partition_alert_threshold > self.partition_window {
            return Err(NodeConfigError::PartitionThreshold);
        }
        Ok(())
    }
}

impl RoutingConfig {
    /// Checks this part's ranges.
    pub fn validate(&self) -> Result<(), NodeConfigError> {
        nonzero(&[
            ("routing.max_forward_entries", self.max_forward_entries as u64),
            ("routing.forward_ttl_ms", self.forward_ttl_ms),
        ])
    }
}

impl MembershipConfig {
    /// Checks this part's ranges.
    pub fn validate(&self) -> Result<(), NodeConfigError> {
        nonzero(&[
            ("membership.max_contacts", self.max_contacts as u64),
            ("membership.max_contacts_per_ip", self.max_contacts_per_ip as u64),
            (
                "membership.max_contacts_per_subnet",
                self.max_contacts_per_subnet as u64,
            ),
            ("membership.max_pending_probes", self.max_pending_probes as u64),
            ("membership.probe_timeout_ms", self.probe_timeout_ms),
            ("membership.probe_refill_ms", self.probe_refill_ms),
            ("membership.lookup_parallelism", self.lookup_parallelism as u64),
            ("membership.lookup_max_queries", self.lookup_max_queries as u64),
            (
                "membership.neighbours_per_reply",
                self.neighbours_per_reply as u64,
            ),
            ("membership.refresh_interval_ms", self.refresh_interval_ms),
        ])?;
        if self.neighbours_per_reply > crate::wire::MAX_NEIGHBOURS {
            return Err(NodeConfigError::NeighboursPerReply);
        }
        Ok(())
    }
}

impl HealthConfig {
    /// Checks this part's ranges.
    pub fn validate(&self) -> Result<(), NodeConfigError> {
        nonzero(&[
            ("health.max_elected_peers", self.max_elected_peers as u64),
            ("health.election_interval_ms", self.election_interval_ms),
            ("health.reverify_period_ms", self.reverify_period_ms),
            ("health.burst_interval_ms", self.burst_interval_ms),
            ("health.recheck_ms", self.recheck_ms),
            ("health.liveness_interval_ms", self.liveness_interval_ms),
            (
                "health.departed_after_misses",
                u64::from(self.departed_after_misses),
            ),
        ])?;
        if self.election_jitter_percent > 100 {
            return Err(NodeConfigError::Jitter);
        }
        Ok(())
    }
}

impl GuardConfig {
    /// Checks this part's ranges.
    pub fn validate(&self) -> Result<(), NodeConfigError> {
        nonzero(&[
            (
                "guard.max_validated_addresses",
                self.max_validated_addresses as u64,
            ),
            ("guard.validated_ttl_ms", self.validated_ttl_ms),
            ("guard.cookie_epoch_ms", self.cookie_epoch_ms),
            ("guard.query_rate_burst", u64::from(self.query_rate_burst)),
            ("guard.query_rate_refill_ms", self.query_rate_refill_ms),
            ("guard.max_rate_limited_hosts", self.max_rate_limited_hosts as u64),
        ])?;
        if self.pow_difficulty > crate::keys::MAX_POW_BITS {
            return Err(NodeConfigError::PowDifficulty);
        }
        Ok(())
    }
}
