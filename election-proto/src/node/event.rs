//! What a node reports to its host.

use crate::id::{PeerId, TokenId};
use crate::wire::Contact;
use serde::{Deserialize, Serialize};

/// Why an election ended without electing anyone.
///
/// New reasons may be added in minor releases; match with a wildcard arm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum FailureReason {
    /// The node knows no contact to send a query to.
    NoContacts,
    /// The store holds no token to challenge.
    NoToken,
    /// `max_active_elections` elections are already running.
    Busy,
    /// An election for this token is already running.
    AlreadyRunning,
    /// The deadline passed with fewer valid responses than `min_cluster_size`.
    Timeout,
    /// Enough responses arrived, but no group of them agreed.
    NoConsensus,
    /// Two disjoint clusters disagreed and extra channels did not settle it
    /// (under [`SplitBrainPolicy::Abandon`](super::SplitBrainPolicy::Abandon)).
    SplitBrain,
    /// No channel was pending and none could be opened (query budget spent or no
    /// fresh first hop), before any verdict was possible.
    Exhausted,
    /// The node was shut down.
    Shutdown,
}

impl FailureReason {
    /// Number of reasons; the length of a per-reason counter array.
    pub const COUNT: usize = 9;

    /// Every reason, in a fixed order (for metrics tables). `ALL[r.index()] == r`.
    pub const ALL: [FailureReason; Self::COUNT] = [
        Self::NoContacts,
        Self::NoToken,
        Self::Busy,
        Self::AlreadyRunning,
        Self::Timeout,
        Self::NoConsensus,
        Self::SplitBrain,
        Self::Exhausted,
        Self::Shutdown,
    ];

    /// Position in [`FailureReason::ALL`]: a dense index in `0..FailureReason::COUNT`.
    pub const fn index(self) -> usize {
        match self {
            Self::NoContacts => 0,
            Self::NoToken => 1,
            Self::Busy => 2,
            Self::AlreadyRunning => 3,
            Self::Timeout => 4,
            Self::NoConsensus => 5,
            Self::SplitBrain => 6,
            Self::Exhausted => 7,
            Self::Shutdown => 8,
        }
    }

    /// Short snake_case name for reports and metric labels.
    pub const fn name(self) -> &'static str {
        match self {
            Self::NoContacts => "no_contacts",
            Self::NoToken => "no_token",
            Self::Busy => "busy",
            Self::AlreadyRunning => "already_running",
            Self::Timeout => "timeout",
            Self::NoConsensus => "no_consensus",
            Self::SplitBrain => "split_brain",
            Self::Exhausted => "exhausted",
            Self::Shutdown => "shutdown",
        }
    }
}

/// Why a peer left the elected-peer table (see [`Event::PeerEvicted`]).
///
/// New reasons may be added in minor releases; match with a wildcard arm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum EvictionReason {
    /// `departed_after_misses` direct challenges in a row went unanswered.
    Departed,
    /// Its answers failed the sequential test: it is not on this node's ledger
    /// (another version, a thin or stale store, or invented walks).
    Misaligned,
    /// The table was full and a new winner took its place.
    Replaced,
}

impl EvictionReason {
    /// Number of reasons; the length of a per-reason counter array.
    pub const COUNT: usize = 3;

    /// Every reason, in a fixed order. `ALL[r.index()] == r`.
    pub const ALL: [EvictionReason; Self::COUNT] = [Self::Departed, Self::Misaligned, Self::Replaced];

    /// Position in [`EvictionReason::ALL`].
    pub const fn index(self) -> usize {
        match self {
            Self::Departed => 0,
            Self::Misaligned => 1,
            Self::Replaced => 2,
        }
    }

    /// Short snake_case name for reports and metric labels.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Departed => "departed",
            Self::Misaligned => "misaligned",
            Self::Replaced => "replaced",
        }
    }
}

/// Why an election was started.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ElectionPurpose {
    /// The host asked for it.
    Requested,
    /// Scheduled re-verification of an elected peer.
    Reverify(PeerId),
    /// Scheduled discovery of a new peer.
    Discover,
}

/// Something the host may want to know or act on.
///
/// New events may be added in minor releases; match with a wildcard arm.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Event<A> {
    /// An election started.
    ElectionStarted {
        /// The challenged token.
        token: TokenId,
        /// Why it was started.
        purpose: ElectionPurpose,
    },
    /// An election produced a winner, now in the elected-peer table.
    Elected {
        /// The challenged token.
        token: TokenId,
        /// The winner (the cluster member closest to the token).
        winner: Contact<A>,
        /// Members of the winning cluster.
        cluster_size: usize,
        /// Valid responses counted (distinct responders).
        responses: usize,
        /// Time from start to verdict.
        latency_ms: u64,
        /// Whether a disjoint disagreeing cluster was present (only under
        /// [`SplitBrainPolicy::AcceptStrongest`](super::SplitBrainPolicy::AcceptStrongest)).
        contested: bool,
    },
    /// An election saw two disjoint clusters that disagree.
    SplitBrain {
        /// The challenged token.
        token: TokenId,
        /// Winner of the strongest cluster.
        winner1: PeerId,
        /// Its size.
        size1: usize,
        /// Winner of the strongest cluster disjoint from the first.
        winner2: PeerId,
        /// Its size.
        size2: usize,
        /// Whether the election will open more channels to try to settle it.
        spawning_channels: bool,
    },
    /// An election ended without a winner.
    ElectionFailed {
        /// The challenged token.
        token: TokenId,
        /// Why.
        reason: FailureReason,
        /// Valid responses counted when it ended.
        responses: usize,
    },
    /// A peer entered the elected-peer table.
    PeerAdded(Contact<A>),
    /// A peer left the elected-peer table.
    PeerEvicted {
        /// The peer.
        peer: PeerId,
        /// Why it left.
        reason: EvictionReason,
    },
    /// Split-brain keeps recurring: the network may be partitioned.
    PartitionSuspected {
        /// Split-brains among the last `window` finished elections.
        split_brains: usize,
        /// Elections examined.
        window: usize,
    },
}
