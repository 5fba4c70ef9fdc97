//! One election (docs/PROTOCOL.md §5–6): tickets, channels, answers, referrals, the verdict.
//!
//! A [`PeerElection`] is pure bookkeeping: it never sends anything. The caller
//! (normally [`crate::node::Node`]) creates channels, sends the queries, and feeds
//! back whatever answers and referrals arrive; [`PeerElection::check_for_winner`]
//! can be asked at any time and is side-effect free.

use crate::cluster::{self, ConsensusCluster, Decision, MAX_RESPONSES};
use crate::id::{ring_distance, PeerId, TokenId};
use crate::proof::{
    agreement, verify_signature, SignatureError, TokenMapping, TokenSignature, SIGNATURE_SIZE,
};
use core::fmt;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Opaque 64-bit tag that ties an answer or referral to the channel that asked.
///
/// Derived from the election's secret, so an outsider cannot forge a ticket for
/// a channel it never saw.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct MessageTicket(pub u64);

/// Parameters of one election. Defaults are the seed's except where a field says otherwise.
///
/// `#[non_exhaustive]`: start from [`ElectionConfig::default()`] and set fields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ElectionConfig {
    /// Two answers agree when they share at least this many of their
    /// [`SIGNATURE_SIZE`] mappings. Default 6 (the seed had 8): two honest
    /// nodes each missing 10 % of the ledger share ≥ 8 mappings only ~49 % of the
    /// time but ≥ 6 ~77 % of the time, while answers from different ledger
    /// versions share ~0 (see `tests/calibration.rs` and docs/RESULTS.md).
    pub consensus_threshold: usize,
    /// Smallest group of agreeing responders that counts as a cluster. Default 2; at least 2.
    pub min_cluster_size: usize,
    /// Most channels alive at once. Default 10; at most [`MAX_RESPONSES`].
    pub max_channels: usize,
    /// Share of valid responses the strongest cluster needs to be decisive. Default 0.6.
    pub majority_threshold: f64,
    /// Most channels an election may ever create, counting those that replace a
    /// referred channel. Bounds how long responders can keep an election alive
    /// by referring it around. Default 24.
    pub query_budget: usize,
    /// With a [reference](PeerElection::set_reference), an answer is *aligned*
    /// with the challenger when it shares at least this many mappings with the
    /// challenger's own signature; only aligned answers can win. Default 1:
    /// sharing even one `(token, block)` pair at the walk positions the hash
    /// demands requires holding the challenged token's real block (otherwise
    /// the walk goes elsewhere entirely) *and* real ledger entries, which an
    /// invented walk or another ledger version does not have (they share ~0),
    /// while honest responders almost never fall below it (two nodes each
    /// missing 10 % share ≥ 1 mapping 99.7 % of the time). Measured in the
    /// simulator (1,000 nodes, 90 % coverage): success 97.9 % at 1, 96.5 % at
    /// 2, 94.1 % at 3. Pairwise consensus among responders is still required
    /// on top.
    pub alignment_threshold: usize,
    /// Bound on the work of each clique search behind a verdict, in
    /// Bron–Kerbosch steps (see [`cluster::find_clusters_bounded`]). Default
    /// [`cluster::DEFAULT_MAX_CLIQUE_STEPS`] (10,000); at least
    /// [`cluster::MIN_CLIQUE_STEPS`]. Honest responses never come near it; a
    /// search that hits it uses the clusters found within it and is counted
    /// ([`PeerElection::check_for_winner_counted`]).
    pub max_clique_steps: u64,
}

impl Default for ElectionConfig {
    fn default() -> Self {
        Self {
            consensus_threshold: 6,
            min_cluster_size: 2,
            max_channels: 10,
            majority_threshold: 0.6,
            query_budget: 24,
            alignment_threshold: 1,
            max_clique_steps: cluster::DEFAULT_MAX_CLIQUE_STEPS,
        }
    }
}

/// A field of [`ElectionConfig`] outside its valid range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// `consensus_threshold` must be in `1..=SIGNATURE_SIZE`.
    ConsensusThreshold,
    /// `min_cluster_size` must be in `2..=max_channels`.
    MinClusterSize,
    /// `max_channels` must be in `1..=MAX_RESPONSES`.
    MaxChannels,
    /// `majority_threshold` must be in `(0, 1]`.
    MajorityThreshold,
    /// `query_budget` must be at least `max_channels`.
    QueryBudget,
    /// `alignment_threshold` must be in `1..=SIGNATURE_SIZE`.
    AlignmentThreshold,
    /// `max_clique_steps` must be at least [`cluster::MIN_CLIQUE_STEPS`].
    MaxCliqueSteps,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Self::ConsensusThreshold => "consensus_threshold must be between 1 and the signature size (10)",
            Self::MinClusterSize => "min_cluster_size must be at least 2 and at most max_channels",
            Self::MaxChannels => "max_channels must be between 1 and 64",
            Self::MajorityThreshold => "majority_threshold must be in (0, 1]",
            Self::QueryBudget => "query_budget must be at least max_channels",
            Self::AlignmentThreshold => "alignment_threshold must be between 1 and the signature size (10)",
            Self::MaxCliqueSteps => "max_clique_steps must be at least 2080",
        };
        f.write_str(s)
    }
}

impl std::error::Error for ConfigError {}

impl ElectionConfig {
    /// Checks every field's range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=SIGNATURE_SIZE).contains(&self.consensus_threshold) {
            return Err(ConfigError::ConsensusThreshold);
        }
        if !(1..=MAX_RESPONSES).contains(&self.max_channels) {
            return Err(ConfigError::MaxChannels);
        }
        if self.min_cluster_size < 2 || self.min_cluster_size > self.max_channels {
            return Err(ConfigError::MinClusterSize);
        }
        if !(self.majority_threshold > 0.0 && self.majority_threshold <= 1.0) {
            return Err(ConfigError::MajorityThreshold);
        }
        if self.query_budget < self.max_channels {
            return Err(ConfigError::QueryBudget);
        }
        if !(1..=SIGNATURE_SIZE).contains(&self.alignment_threshold) {
            return Err(ConfigError::AlignmentThreshold);
        }
        if self.max_clique_steps < cluster::MIN_CLIQUE_STEPS {
            return Err(ConfigError::MaxCliqueSteps);
        }
        Ok(())
    }

    /// The configuration with every field forced into its valid range.
    fn clamped(&self) -> Self {
        let max_channels = self.max_channels.clamp(1, MAX_RESPONSES);
        let majority = if self.majority_threshold.is_nan() {
            Self::default().majority_threshold
        } else {
            self.majority_threshold.clamp(f64::MIN_POSITIVE, 1.0)
        };
        Self {
            consensus_threshold: self.consensus_threshold.clamp(1, SIGNATURE_SIZE),
            min_cluster_size: self.min_cluster_size.clamp(2, max_channels.max(2)),
            max_channels,
            majority_threshold: majority,
            query_budget: self.query_budget.max(max_channels),
            alignment_threshold: self.alignment_threshold.clamp(1, SIGNATURE_SIZE),
            max_clique_steps: self.max_clique_steps.max(cluster::MIN_CLIQUE_STEPS),
        }
    }
}

/// Why an election refused an operation. Every variant leaves the election
/// unchanged unless its documentation says otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ElectionError {
    /// No live channel has this ticket (never created, replaced or abandoned).
    UnknownTicket,
    /// The message names a token other than the one challenged.
    WrongToken,
    /// A second, different answer that itself verifies arrived on a channel that
    /// already had one. The channel is now [blocked](ElectionError::ChannelBlocked)
    /// and excluded from consensus. (A different answer that fails verification is
    /// [`SignatureVerificationFailed`](ElectionError::SignatureVerificationFailed)
    /// and leaves the channel as it was.)
    DuplicateResponse,
    /// A live channel to this first hop already exists.
    ChannelAlreadyExists,
    /// `max_channels` channels are alive.
    MaxChannelsReached,
    /// The channel was blocked by conflicting answers; it accepts nothing more.
    ChannelBlocked,
    /// The answer's proof-of-storage signature does not verify.
    SignatureVerificationFailed(SignatureError),
    /// A referral arrived on a channel that already holds an answer; referrals
    /// may only redirect channels still waiting.
    ChannelAnswered,
    /// The election has created `query_budget` channels and may create no more.
    QueryBudgetExhausted,
    /// A channel to ourselves was requested.
    SelfChannel,
    /// The referral named only peers that are unusable (ourselves, the referrer,
    /// or first hops already used in this election). The referred channel is closed.
    NoFreshReferral,
    /// The referral named no peer strictly closer to the token than the
    /// referrer (Kademlia's rule: a route must converge). The referred channel
    /// is closed; the chain that led here ended nowhere.
    ReferralNotCloser,
}

impl fmt::Display for ElectionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownTicket => f.write_str("unknown ticket"),
            Self::WrongToken => f.write_str("message is for a different token"),
            Self::DuplicateResponse => f.write_str("conflicting second answer; channel blocked"),
            Self::ChannelAlreadyExists => f.write_str("a channel to this first hop already exists"),
            Self::MaxChannelsReached => f.write_str("maximum number of live channels reached"),
            Self::ChannelBlocked => f.write_str("channel is blocked"),
            Self::SignatureVerificationFailed(e) => write!(f, "signature verification failed: {e}"),
            Self::ChannelAnswered => f.write_str("referral on a channel that already has an answer"),
            Self::QueryBudgetExhausted => f.write_str("query budget exhausted"),
            Self::SelfChannel => f.write_str("cannot open a channel to ourselves"),
            Self::NoFreshReferral => f.write_str("referral suggested no usable peer; channel closed"),
            Self::ReferralNotCloser => f.write_str(
                "referral suggested no peer closer to the token than the referrer; channel closed",
            ),
        }
    }
}

impl std::error::Error for ElectionError {}

/// How an accepted answer was taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnswerAccepted {
    /// First answer on its channel; now counted.
    New,
    /// Byte-identical re-delivery of the answer already stored (networks duplicate
    /// datagrams); ignored.
    Redelivery,
}

/// The verdict of [`PeerElection::check_for_winner`].
#[derive(Clone, Debug, PartialEq)]
pub enum WinnerResult {
    /// One cluster is decisive, or has no disjoint competitor.
    Single {
        /// The cluster member closest to the challenged token.
        winner: PeerId,
        /// The winning cluster.
        cluster: ConsensusCluster,
        /// Each member's verified signature, in `cluster.members` order.
        cluster_signatures: Vec<(PeerId, TokenSignature)>,
    },
    /// Two disjoint clusters disagree and neither has a majority.
    SplitBrain {
        /// Strongest cluster.
        cluster1: ConsensusCluster,
        /// Its member closest to the token.
        winner1: PeerId,
        /// Its members' signatures.
        signatures1: Vec<(PeerId, TokenSignature)>,
        /// Strongest cluster disjoint from `cluster1`.
        cluster2: ConsensusCluster,
        /// Its member closest to the token.
        winner2: PeerId,
        /// Its members' signatures.
        signatures2: Vec<(PeerId, TokenSignature)>,
    },
    /// Too few valid responses, or no group of them agrees.
    NoConsensus,
}

/// State of one channel.
// A signature is 704 bytes; channels are few (≤ 64) and short-lived, so boxing buys nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChannelState {
    /// Query sent, nothing back yet.
    Pending,
    /// One verified answer stored.
    Responded {
        /// Who answered.
        responder: PeerId,
        /// The verified signature.
        signature: TokenSignature,
    },
    /// Two different answers arrived; excluded from consensus.
    Blocked,
}

#[derive(Clone, Debug)]
struct Channel {
    first_hop: PeerId,
    seq: u64,
    state: ChannelState,
}

/// One election: the challenge of a token through several channels.
///
/// Guarantees: at most `max_channels` channels live at once and at most
/// `query_budget` ever created; tickets are unique per channel and fresh for a
/// replacement channel; only verified answers are stored; a blocked channel and a
/// repeated responder never add weight to a cluster.
#[derive(Clone)]
pub struct PeerElection {
    token: TokenId,
    me: PeerId,
    config: ElectionConfig,
    secret: [u8; 32],
    channels: BTreeMap<MessageTicket, Channel>,
    used_hops: BTreeSet<PeerId>,
    next_seq: u64,
    /// The challenger's own signature for the token, if it set one.
    reference: Option<TokenSignature>,
}

impl fmt::Debug for PeerElection {
    // The secret stays out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerElection")
            .field("token", &self.token)
            .field("channels", &self.channels.len())
            .field("created", &self.next_seq)
            .finish_non_exhaustive()
    }
}

impl PeerElection {
    /// Starts an election for `challenge_token` run by `my_peer_id`.
    ///
    /// `secret` must be fresh per election and kept private (draw it from a
    /// CSPRNG); it keys the tickets. Out-of-range configuration values are clamped
    /// into range (see [`ElectionConfig::validate`] to reject them instead).
    pub fn new(
        challenge_token: TokenId,
        my_peer_id: PeerId,
        config: ElectionConfig,
        secret: [u8; 32],
    ) -> Self {
        Self {
            token: challenge_token,
            me: my_peer_id,
            config: config.clamped(),
            secret,
            channels: BTreeMap::new(),
            used_hops: BTreeSet::new(),
            next_seq: 0,
            reference: None,
        }
    }

    /// Sets the challenger's own signature for the token as the reference that
    /// winners must agree with.
    ///
    /// Without a reference, a group of responders that merely agree with each
    /// other can win — including colluders sharing one invented ledger (their
    /// walks verify: verification only checks suffixes and order) or peers on
    /// another ledger version. With it, only responders whose answers share at
    /// least `alignment_threshold` mappings with the challenger's own walk can
    /// form the winning cluster; clusters that disagree with it can still be
    /// reported as the other side of a split-brain, never elected. The
    /// challenger always stores the token it challenges, so a node should set this.
    pub fn set_reference(&mut self, own: TokenSignature) -> Result<(), ElectionError> {
        if own.answer.id != self.token {
            return Err(ElectionError::WrongToken);
        }
        verify_signature(&self.me, &self.token, &own).map_err(ElectionError::SignatureVerificationFailed)?;
        self.reference = Some(own);
        Ok(())
    }

    /// The reference set by [`set_reference`](Self::set_reference).
    pub fn reference(&self) -> Option<&TokenSignature> {
        self.reference.as_ref()
    }

    /// The challenged token.
    pub fn challenge_token(&self) -> TokenId {
        self.token
    }

    /// The configuration in force (after clamping).
    pub fn config(&self) -> &ElectionConfig {
        &self.config
    }

    /// Number of live channels (pending, responded or blocked).
    pub fn channel_count(&self) -> usize {
        self.channels.len()
    }

    /// Number of channels still waiting for a reply.
    pub fn pending_count(&self) -> usize {
        self.channels
            .values()
            .filter(|c| c.state == ChannelState::Pending)
            .count()
    }

    /// Number of channels ever created (the part of the query budget spent).
    pub fn channels_created(&self) -> usize {
        usize::try_from(self.next_seq).unwrap_or(usize::MAX)
    }

    /// Whether [`create_channel`](Self::create_channel) can succeed for some new first hop.
    pub fn can_create_channel(&self) -> bool {
        self.channels.len() < self.config.max_channels && self.channels_created() < self.config.query_budget
    }

    /// Whether `peer` has been the first hop of any channel of this election.
    pub fn has_used_hop(&self, peer: &PeerId) -> bool {
        self.used_hops.contains(peer)
    }

    /// The state of the channel with `ticket`, if it is live.
    pub fn channel_state(&self, ticket: MessageTicket) -> Option<&ChannelState> {
        self.channels.get(&ticket).map(|c| &c.state)
    }

    /// The first hop of the live channel with `ticket`.
    pub fn channel_first_hop(&self, ticket: MessageTicket) -> Option<PeerId> {
        self.channels.get(&ticket).map(|c| c.first_hop)
    }

    /// Tickets of all live channels, in ticket order.
    pub fn tickets(&self) -> impl Iterator<Item = MessageTicket> + '_ {
        self.channels.keys().copied()
    }

    /// Number of distinct responders with a stored answer on an unblocked channel.
    pub fn valid_response_count(&self) -> usize {
        self.valid_responses().len()
    }

    /// Opens a channel whose query goes first to `first_hop`; returns its ticket.
    pub fn create_channel(&mut self, first_hop: PeerId) -> Result<MessageTicket, ElectionError> {
        if first_hop == self.me {
            return Err(ElectionError::SelfChannel);
        }
        if self.channels.values().any(|c| c.first_hop == first_hop) {
            return Err(ElectionError::ChannelAlreadyExists);
        }
        if self.channels.len() >= self.config.max_channels {
            return Err(ElectionError::MaxChannelsReached);
        }
        if self.channels_created() >= self.config.query_budget {
            return Err(ElectionError::QueryBudgetExhausted);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let mut ticket = self.ticket_for(&first_hop, seq);
        // A 64-bit collision with a live channel is astronomically unlikely, but
        // resolve it deterministically rather than overwrite a channel.
        let mut salt = 0u64;
        while self.channels.contains_key(&ticket) {
            salt += 1;
            ticket = MessageTicket(ticket.0 ^ self.ticket_for(&first_hop, seq ^ (salt << 32)).0);
        }
        self.channels.insert(
            ticket,
            Channel {
                first_hop,
                seq,
                state: ChannelState::Pending,
            },
        );
        self.used_hops.insert(first_hop);
        Ok(ticket)
    }

    /// `ticket = first 8 bytes (LE) of BLAKE3-keyed(secret, T || first_hop || seq)`.
    fn ticket_for(&self, first_hop: &PeerId, seq: u64) -> MessageTicket {
        let mut h = blake3::Hasher::new_keyed(&self.secret);
        h.update(self.token.as_bytes());
        h.update(first_hop.as_bytes());
        h.update(&seq.to_le_bytes());
        let out = h.finalize();
        let mut w = [0u8; 8];
        w.copy_from_slice(&out.as_bytes()[..8]);
        MessageTicket(u64::from_le_bytes(w))
    }

    /// Takes an answer that arrived for `ticket` from `responder_peer`.
    ///
    /// The signature is verified against this node's id (the challenger). An
    /// identical re-delivery is accepted as [`AnswerAccepted::Redelivery`] and
    /// changes nothing; a different second answer blocks the channel only if it
    /// verifies (otherwise it is rejected and changes nothing).
    pub fn handle_answer(
        &mut self,
        ticket: MessageTicket,
        answer: &TokenMapping,
        signature_mappings: &[TokenMapping; SIGNATURE_SIZE],
        responder_peer: PeerId,
    ) -> Result<AnswerAccepted, ElectionError> {
        let channel = self
            .channels
            .get_mut(&ticket)
            .ok_or(ElectionError::UnknownTicket)?;
        if answer.id != self.token {
            return Err(ElectionError::WrongToken);
        }
        let sig = TokenSignature {
            answer: *answer,
            signature: *signature_mappings,
        };
        match &channel.state {
            ChannelState::Blocked => Err(ElectionError::ChannelBlocked),
            ChannelState::Responded { responder, signature } => {
                if *responder == responder_peer && *signature == sig {
                    return Ok(AnswerAccepted::Redelivery);
                }
                // Only a second answer that itself verifies is evidence of gaming;
                // a copy garbled in transit (or by a relay) must not remove the
                // honest answer already held.
                verify_signature(&self.me, &self.token, &sig)
                    .map_err(ElectionError::SignatureVerificationFailed)?;
                channel.state = ChannelState::Blocked;
                Err(ElectionError::DuplicateResponse)
            }
            ChannelState::Pending => {
                verify_signature(&self.me, &self.token, &sig)
                    .map_err(ElectionError::SignatureVerificationFailed)?;
                channel.state = ChannelState::Responded {
                    responder: responder_peer,
                    signature: sig,
                };
                Ok(AnswerAccepted::New)
            }
        }
    }

    /// Takes a referral for `ticket`: the pending channel is closed and the
    /// suggested peer to try next is returned (the unused one closest to the
    /// token, and strictly closer to it than the referrer, else
    /// [`ElectionError::ReferralNotCloser`]). Open the replacement with [`create_channel`](Self::create_channel);
    /// it gets a fresh ticket.
    pub fn handle_referral(
        &mut self,
        ticket: MessageTicket,
        token_challenge: TokenId,
        suggested_peers: [PeerId; 2],
        responder_peer: PeerId,
    ) -> Result<PeerId, ElectionError> {
        let channel = self.channels.get(&ticket).ok_or(ElectionError::UnknownTicket)?;
        if token_challenge != self.token {
            return Err(ElectionError::WrongToken);
        }
        match channel.state {
            ChannelState::Pending => {}
            ChannelState::Responded { .. } => return Err(ElectionError::ChannelAnswered),
            ChannelState::Blocked => return Err(ElectionError::ChannelBlocked),
        }
        self.channels.remove(&ticket);
        // Only toward the token: a referrer may not send us sideways or back,
        // so a chain of referrals converges (or ends) instead of spending the
        // election's query budget on whoever the referrer likes.
        let referrer = ring_distance(&responder_peer, &self.token);
        let closer: Vec<PeerId> = suggested_peers
            .iter()
            .filter(|p| ring_distance(*p, &self.token) < referrer)
            .copied()
            .collect();
        if closer.is_empty() {
            return Err(ElectionError::ReferralNotCloser);
        }
        closer
            .into_iter()
            .filter(|p| *p != self.me && !self.used_hops.contains(p))
            .min_by_key(|p| (ring_distance(p, &self.token), *p))
            .ok_or(ElectionError::NoFreshReferral)
    }

    /// Closes a channel that is still pending (e.g. its first hop timed out),
    /// freeing its slot. Answered and blocked channels cannot be abandoned.
    pub fn abandon_channel(&mut self, ticket: MessageTicket) -> Result<(), ElectionError> {
        match self.channels.get(&ticket).map(|c| &c.state) {
            None => Err(ElectionError::UnknownTicket),
            Some(ChannelState::Pending) => {
                self.channels.remove(&ticket);
                Ok(())
            }
            Some(ChannelState::Responded { .. }) => Err(ElectionError::ChannelAnswered),
            Some(ChannelState::Blocked) => Err(ElectionError::ChannelBlocked),
        }
    }

    /// Valid responses: answered, unblocked channels in creation order, one per
    /// distinct responder (the earliest channel wins), at most [`MAX_RESPONSES`].
    fn valid_responses(&self) -> Vec<(PeerId, TokenSignature)> {
        let mut answered: Vec<(u64, PeerId, TokenSignature)> = self
            .channels
            .values()
            .filter_map(|c| match &c.state {
                ChannelState::Responded { responder, signature } => Some((c.seq, *responder, *signature)),
                _ => None,
            })
            .collect();
        answered.sort_by_key(|(seq, _, _)| *seq);
        let mut seen = BTreeSet::new();
        answered
            .into_iter()
            .filter(|(_, r, _)| seen.insert(*r))
            .map(|(_, r, s)| (r, s))
            .take(MAX_RESPONSES)
            .collect()
    }

    /// The current verdict (docs/PROTOCOL.md §6). Pure: may be called as often as wanted.
    ///
    /// With a [reference](Self::set_reference), the winning cluster is drawn
    /// only from responders aligned with the challenger's own signature (see
    /// [`ElectionConfig::alignment_threshold`]), most aligned first; the
    /// strongest cluster of the *unaligned* responders, if any, is the
    /// split-brain competitor. Two aligned clusters that fail to agree with each
    /// other are both "like us" (honest gaps make that common at 90 % coverage):
    /// that is noise, not a split, and is not reported as one.
    pub fn check_for_winner(&self) -> WinnerResult {
        self.check_for_winner_counted().0
    }

    /// [`check_for_winner`](Self::check_for_winner), and how many of the clique
    /// searches behind it hit [`ElectionConfig::max_clique_steps`] (0, 1 or 2).
    /// A truncated search contributes the clusters it found within the bound
    /// (see [`cluster::find_clusters_bounded`]); the count lets a node report
    /// how often that happens.
    pub fn check_for_winner_counted(&self) -> (WinnerResult, usize) {
        let responses = self.valid_responses();
        if responses.len() < self.config.min_cluster_size {
            return (WinnerResult::NoConsensus, 0);
        }
        let mut truncated = 0;
        let sides = match &self.reference {
            Some(reference) => self.aligned_sides(&responses, reference, &mut truncated),
            None => self.plain_sides(&responses, &mut truncated),
        };
        (self.verdict(&responses, sides), truncated)
    }

    /// The verdict for the sides found among `responses`.
    fn verdict(&self, responses: &[(PeerId, TokenSignature)], sides: Option<Sides>) -> WinnerResult {
        let Some((c1, c2)) = sides else {
            return WinnerResult::NoConsensus;
        };
        let signatures = |c: &ConsensusCluster| -> Vec<(PeerId, TokenSignature)> {
            c.members
                .iter()
                .filter_map(|m| responses.iter().find(|(p, _)| p == m).copied())
                .collect()
        };
        match c2 {
            None => WinnerResult::Single {
                winner: c1.winner,
                cluster_signatures: signatures(&c1),
                cluster: c1,
            },
            Some(c2) => WinnerResult::SplitBrain {
                winner1: c1.winner,
                signatures1: signatures(&c1),
                winner2: c2.winner,
                signatures2: signatures(&c2),
                cluster1: c1,
                cluster2: c2,
            },
        }
    }

    /// docs/PROTOCOL.md §6 without a reference: the strongest cluster, and its disjoint
    /// competitor when it has no majority.
    fn plain_sides(&self, responses: &[(PeerId, TokenSignature)], truncated: &mut usize) -> Option<Sides> {
        let mut clusters = self.clusters(responses, self.config.consensus_threshold, truncated);
        match cluster::decide(&clusters, responses.len(), self.config.majority_threshold) {
            Decision::NoConsensus => None,
            Decision::Single(i) => Some((clusters.swap_remove(i), None)),
            Decision::SplitBrain(i, j) => {
                let c2 = clusters[j].clone();
                Some((clusters.swap_remove(i), Some(c2)))
            }
        }
    }

    /// With a reference: the winning side is drawn from aligned responders, most
    /// like us first; the competitor is the strongest cluster of the rest.
    fn aligned_sides(
        &self,
        responses: &[(PeerId, TokenSignature)],
        reference: &TokenSignature,
        truncated: &mut usize,
    ) -> Option<Sides> {
        let threshold = self.config.consensus_threshold;
        // Agreement with our own walk, computed once per response.
        let to_ref: Vec<usize> = responses.iter().map(|(_, s)| agreement(reference, s)).collect();
        let (aligned, other): (Vec<_>, Vec<_>) = responses
            .iter()
            .zip(&to_ref)
            .partition(|(_, a)| **a >= self.config.alignment_threshold);
        let aligned: Vec<(PeerId, TokenSignature)> = aligned.into_iter().map(|(r, _)| *r).collect();
        let other: Vec<(PeerId, TokenSignature)> = other.into_iter().map(|(r, _)| *r).collect();
        // Most like us first: when two aligned clusters exist (e.g. a partial
        // fork that kept the challenged block), the one closer to our own walk is
        // ours. Exact comparison of mean agreement with the reference; the sort
        // is stable, so ties keep the size/agreement ranking.
        let ref_sum = |c: &ConsensusCluster| -> usize {
            c.members
                .iter()
                .filter_map(|m| responses.iter().position(|(p, _)| p == m))
                .map(|i| to_ref[i])
                .sum()
        };
        let mut ours: Vec<(usize, ConsensusCluster)> = self
            .clusters(&aligned, threshold, truncated)
            .into_iter()
            .map(|c| (ref_sum(&c), c))
            .collect();
        ours.sort_by(|(sa, a), (sb, b)| (sb * a.size()).cmp(&(sa * b.size())));
        let (_, c1) = ours.into_iter().next()?;
        if cluster::is_majority(c1.size(), responses.len(), self.config.majority_threshold) {
            return Some((c1, None));
        }
        // Two aligned clusters that miss each other's threshold are both "like
        // us" (honest gaps): noise, not a split. Only the unaligned compete.
        let c2 = self.clusters(&other, threshold, truncated).into_iter().next();
        Some((c1, c2))
    }

    /// The clusters among `responses` within the configured clique bound,
    /// counting a truncated search in `truncated`.
    fn clusters(
        &self,
        responses: &[(PeerId, TokenSignature)],
        threshold: usize,
        truncated: &mut usize,
    ) -> Vec<ConsensusCluster> {
        let found = cluster::find_clusters_bounded(
            &self.token,
            responses,
            threshold,
            self.config.min_cluster_size,
            self.config.max_clique_steps,
        );
        *truncated += usize::from(found.truncated);
        found.clusters
    }

    /// Whether the verdict can no longer change however the pending channels
    /// reply: nothing is pending, or the strongest cluster stays decisive even if
    /// every pending channel brought a new, disagreeing responder.
    pub fn is_settled(&self) -> bool {
        self.is_settled_given(&self.check_for_winner())
    }

    /// [`is_settled`](Self::is_settled) for a verdict the caller already has from
    /// [`check_for_winner`](Self::check_for_winner) (saves computing it twice).
    pub fn is_settled_given(&self, verdict: &WinnerResult) -> bool {
        let pending = self.pending_count();
        if pending == 0 {
            return true;
        }
        match verdict {
            // |c1| / (valid + pending) ≥ majority ⇒ no later cluster can outrank c1
            // (it would need more than the remaining minority of responses).
            WinnerResult::Single { cluster, .. } => cluster::is_majority(
                cluster.size(),
                self.valid_response_count() + pending,
                self.config.majority_threshold,
            ),
            WinnerResult::SplitBrain { .. } | WinnerResult::NoConsensus => false,
        }
    }
}

/// The winning cluster and, if there is a split-brain, its competitor.
type Sides = (ConsensusCluster, Option<ConsensusCluster>);

#[cfg(test)]
mod tests;
