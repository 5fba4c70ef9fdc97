//! Election runs (docs/PROTOCOL.md §9): the one owner of a running election's state.
//!
//! An [`ElectionRun`] is a [`PeerElection`] plus what the node keeps around it:
//! when each channel's query went out, the addresses responders answered
//! with, when the run started and whether it has seen a split-brain.
//! [`Elections`] holds every run and the ticket index that routes replies to
//! them, and the recent outcomes that raise a partition alert. Neither sends, emits or counts anything: each operation returns plain
//! data ([`Step`], [`AnswerOutcome`], [`ReferralOutcome`], [`Expiry`]) that the
//! node carries out, so everything an election decides is visible here.

use super::{FailureReason, NodeConfig, SplitBrainPolicy};
use crate::cluster::ConsensusCluster;
use crate::election::{AnswerAccepted, ElectionError, MessageTicket, PeerElection, WinnerResult};
use crate::id::{PeerId, TokenId};
use crate::mem::release_if_empty;
use crate::wire::{Answer, Contact, Referral};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Every running election of a node, by token, and the index from a channel's
/// ticket to the election it belongs to.
///
/// Guarantees: channels are opened and closed only through this type, so the
/// index stays in step with the runs: every indexed ticket is a live channel of
/// the run it names, and every live channel is indexed (unless two runs drew
/// the same 64-bit ticket; the later channel then takes it and the earlier one
/// hears no replies). A finished run takes all its tickets out of the index.
#[derive(Debug)]
pub(super) struct Elections<A> {
    /// Boxed: a run is about 1 KB (the reference walk alone is 704 bytes), and
    /// a B-tree leaf has room for 11 values whether or not they are there, so
    /// unboxed runs cost every node 11 KB for as long as it lives, running or
    /// not. Boxed, the leaf is 11 pointers and a run costs only while it runs.
    runs: BTreeMap<TokenId, Box<ElectionRun<A>>>,
    tickets: BTreeMap<MessageTicket, TokenId>,
    /// Clique searches, over all runs, that hit the configured bound.
    clique_truncations: u64,
    /// Whether each of the last `partition_window` finished elections saw a
    /// split-brain (oldest first).
    recent_splits: VecDeque<bool>,
}

/// One running election and the node-side bookkeeping around it.
///
/// Guarantees: `sent_at` holds exactly the pending channels of the election
/// (a channel leaves it on its first counted reply, its referral or its
/// timeout), so only channels still waiting can time out; every responder with
/// a counted answer has the address it answered with in `responders`.
#[derive(Debug)]
pub(super) struct ElectionRun<A> {
    election: PeerElection,
    started_at: u64,
    /// Send time of each pending channel, for channel timeouts.
    sent_at: BTreeMap<MessageTicket, u64>,
    /// The first hop of every channel (at most `query_budget`): a reply from
    /// it, at that address, carrying the ticket, proves it reachable.
    hops: BTreeMap<MessageTicket, Contact<A>>,
    /// Addresses responders gave with their answers: the winner is recorded at
    /// the address it answered from, which may be newer than our contact entry.
    responders: BTreeMap<PeerId, A>,
    /// Counted once per run, and reported to partition detection when it ends.
    saw_split: bool,
    /// Whether the verdict has been looked at since `min_collection_ms` passed.
    /// Until then the end of the collection window is a deadline of its own.
    collect_checked: bool,
    /// Channels whose query was resent with a cookie after a `Retry` (each at
    /// most once; at most `query_budget` entries).
    retried: BTreeSet<MessageTicket>,
    /// The referral chain each channel belongs to (at most `query_budget` entries).
    chains: BTreeMap<MessageTicket, Chain>,
}

/// A chain of channels: a first hop the node picked, and the referrals
/// followed from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Chain {
    /// The first hop the node chose itself.
    pub(super) origin: PeerId,
    /// Referrals followed to reach this channel (0 for the origin's own).
    pub(super) depth: u8,
}

/// What a run's verdict asks of the node right now ([`Elections::step`]).
#[derive(Debug, PartialEq)]
pub(super) enum Step {
    /// Nothing to do until more replies arrive or the next deadline.
    Wait,
    /// End the run.
    End(Ending),
    /// Every channel has replied or been dropped without a verdict: open up to
    /// `channels` more, or fail with `otherwise` if none can be opened.
    Widen {
        /// How many channels to try to open (at least one).
        channels: usize,
        /// The failure if none opens.
        otherwise: FailureReason,
    },
    /// Two disjoint clusters disagree and no reply that could settle it is on
    /// its way. Open up to `channels` more (none if `channels` is 0), report the
    /// split, and end with `otherwise` if no channel was opened.
    Split {
        /// What to report.
        report: SplitReport,
        /// How many extra channels to try to open.
        channels: usize,
        /// The ending, per [`SplitBrainPolicy`], if no channel opens.
        otherwise: Ending,
    },
}

/// How a run ends.
#[derive(Debug, PartialEq)]
pub(super) enum Ending {
    /// Someone is elected.
    Elected(Win),
    /// Nobody is.
    Failed(FailureReason),
}

/// A winner and the cluster that elected it.
#[derive(Debug, PartialEq)]
pub(super) struct Win {
    /// The cluster member closest to the token.
    pub(super) winner: PeerId,
    /// The agreeing responders.
    pub(super) cluster: ConsensusCluster,
    /// Whether a disjoint cluster disagreed (a split-brain resolved by policy).
    pub(super) contested: bool,
}

/// The two sides of a split-brain.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct SplitReport {
    /// Whether this is the run's first split-brain (count it only then).
    pub(super) first: bool,
    /// The strongest cluster's winner.
    pub(super) winner1: PeerId,
    /// The strongest cluster's size.
    pub(super) size1: usize,
    /// The competing cluster's winner.
    pub(super) winner2: PeerId,
    /// The competing cluster's size.
    pub(super) size2: usize,
}

/// What became of an answer to one of our own channels ([`Elections::on_answer`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum AnswerOutcome {
    /// A first, verified answer: now counted.
    Counted,
    /// A byte-identical re-delivery of the stored answer: ignored.
    Redelivery,
    /// A different answer on a channel that had one: the channel is now blocked.
    Conflict,
    /// The signature does not verify.
    Forged,
    /// No live channel can take it (unknown ticket, wrong token).
    Unmatched,
}

/// What became of a referral of one of our own channels ([`Elections::on_referral`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum ReferralOutcome<A> {
    /// The channel is closed; this suggested peer is a fresh first hop to
    /// try, as the next link of the chain.
    Follow(Contact<A>, Chain),
    /// The channel is closed; neither suggestion is usable, so a replacement
    /// should go to some other first hop. `strike` names the first hop of a
    /// chain that ended nowhere: it reached its length, every referral
    /// coming closer and none answering.
    Replace {
        /// The chain's first hop, to mark, if the chain ended nowhere.
        strike: Option<PeerId>,
        /// The referrer, if it named nobody closer than itself (a dead end
        /// its record counts, see `Membership::dead_end`).
        dead_end: Option<PeerId>,
    },
    /// No pending channel can take it: nothing changed.
    Unmatched,
}

/// What [`Elections::expire`] did to a run whose deadline passed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Expiry {
    /// Channels abandoned because their first hop did not reply in time.
    pub(super) timed_out: usize,
    /// Replacement channels to open: as many as timed out, or none once the
    /// election itself has timed out.
    pub(super) replace: usize,
}

impl<A: Clone> Elections<A> {
    pub(super) fn new() -> Self {
        Self {
            runs: BTreeMap::new(),
            tickets: BTreeMap::new(),
            clique_truncations: 0,
            recent_splits: VecDeque::new(),
        }
    }

    /// Tracks split-brain frequency over the last `partition_window` finished
    /// elections: when `partition_alert_threshold` of them saw one, returns
    /// `(split-brains, window)` for a partition alert and starts over.
    pub(super) fn note_outcome(&mut self, config: &NodeConfig, saw_split: bool) -> Option<(usize, usize)> {
        self.recent_splits.push_back(saw_split);
        while self.recent_splits.len() > config.elections.partition_window {
            self.recent_splits.pop_front();
        }
        let splits = self.recent_splits.iter().filter(|s| **s).count();
        if splits < config.elections.partition_alert_threshold {
            return None;
        }
        let window = self.recent_splits.len();
        self.recent_splits.clear();
        Some((splits, window))
    }

    /// Clique searches so far, over all runs, that hit `election.max_clique_steps`.
    pub(super) fn clique_truncations(&self) -> u64 {
        self.clique_truncations
    }

    /// A `Retry` for the channel with `ticket` about `token` came from `from`,
    /// sent by `sender`: whether to resend its query with the cookie. Yes only
    /// if the channel is still waiting, `from` and `sender` are its first hop,
    /// and it has not been retried before; its timeout then restarts at `now`
    /// (the resent query needs a round trip of its own).
    pub(super) fn retry(
        &mut self,
        ticket: &MessageTicket,
        token: &TokenId,
        from: &A,
        sender: &PeerId,
        now: u64,
    ) -> bool
    where
        A: PartialEq,
    {
        if self.owner(ticket) != Some(*token) {
            return false;
        }
        let Some(run) = self.runs.get_mut(token) else {
            return false;
        };
        let first_hop = run
            .hops
            .get(ticket)
            .is_some_and(|h| h.addr == *from && h.id == *sender);
        if !first_hop || !run.sent_at.contains_key(ticket) || !run.retried.insert(*ticket) {
            return false;
        }
        run.sent_at.insert(*ticket, now);
        true
    }

    /// Number of running elections.
    pub(super) fn len(&self) -> usize {
        self.runs.len()
    }

    /// Whether an election for `token` is running.
    pub(super) fn contains(&self, token: &TokenId) -> bool {
        self.runs.contains_key(token)
    }

    /// Tokens of the running elections, in token order.
    pub(super) fn tokens(&self) -> impl Iterator<Item = TokenId> + '_ {
        self.runs.keys().copied()
    }

    /// The run for `token`, to read.
    pub(super) fn get(&self, token: &TokenId) -> Option<&ElectionRun<A>> {
        self.runs.get(token).map(|r| &**r)
    }

    /// The election a reply with `ticket` belongs to; `None` means it answers
    /// someone else's query (relay it) or a channel that is gone.
    pub(super) fn owner(&self, ticket: &MessageTicket) -> Option<TokenId> {
        self.tickets.get(ticket).copied()
    }

    /// Starts a run of `election` at `now`. The caller checks that no run for its
    /// token exists; `election` must have no channels yet (they would not be indexed).
    pub(super) fn start(&mut self, now: u64, election: PeerElection) {
        debug_assert_eq!(election.channels_created(), 0, "a run starts with no channels");
        self.runs.insert(
            election.challenge_token(),
            Box::new(ElectionRun::new(election, now)),
        );
    }

    /// Opens a channel of `token`'s run whose query goes to `hop` at `now`, as
    /// the next link of `chain` (`None`: a first hop of the node's own choice);
    /// returns its ticket, or `None` if the election refuses it.
    pub(super) fn open_channel(
        &mut self,
        now: u64,
        token: TokenId,
        hop: &Contact<A>,
        chain: Option<Chain>,
    ) -> Option<MessageTicket> {
        let ticket = self.runs.get_mut(&token)?.open_channel(now, hop, chain)?;
        self.tickets.insert(ticket, token);
        Some(ticket)
    }

    /// The first hop the channel with `ticket` was opened to, if its run is still going.
    pub(super) fn first_hop(&self, ticket: &MessageTicket) -> Option<&Contact<A>> {
        let token = self.owner(ticket)?;
        self.runs.get(&token)?.hops.get(ticket)
    }

    /// Takes an answer for one of our channels.
    pub(super) fn on_answer(&mut self, answer: &Answer<A>) -> AnswerOutcome {
        match self.run_for(&answer.ticket) {
            Some(run) => run.on_answer(answer),
            None => AnswerOutcome::Unmatched,
        }
    }

    /// Closes the still pending channel `ticket` without counting its reply
    /// (an answer that carries no weight: its possession proof failed).
    /// Returns whether a pending channel was closed.
    pub(super) fn reject(&mut self, ticket: &MessageTicket) -> bool {
        let Some(run) = self.run_for(ticket) else {
            return false;
        };
        if run.election.abandon_channel(*ticket).is_err() {
            return false;
        }
        run.sent_at.remove(ticket);
        self.tickets.remove(ticket);
        true
    }

    /// Takes a referral, sent by `sender`, for one of our channels; a closed
    /// channel leaves the index.
    pub(super) fn on_referral(
        &mut self,
        referral: &Referral<A>,
        sender: PeerId,
        config: &NodeConfig,
    ) -> ReferralOutcome<A> {
        let Some(run) = self.run_for(&referral.ticket) else {
            return ReferralOutcome::Unmatched;
        };
        let outcome = run.on_referral(referral, sender, config.elections.max_referral_hops);
        match outcome {
            ReferralOutcome::Follow(..) | ReferralOutcome::Replace { .. } => {
                self.tickets.remove(&referral.ticket);
            }
            ReferralOutcome::Unmatched => {}
        }
        outcome
    }

    /// The run the index names for `ticket`.
    fn run_for(&mut self, ticket: &MessageTicket) -> Option<&mut ElectionRun<A>> {
        let token = self.owner(ticket)?;
        let run = self.runs.get_mut(&token).map(|r| &mut **r);
        if run.is_none() {
            // Ruled out by the index guarantee; drop the stray entry rather than panic.
            self.tickets.remove(ticket);
        }
        run
    }

    /// The earliest deadline of any run.
    pub(super) fn next_deadline(&self, config: &NodeConfig) -> Option<u64> {
        self.runs.values().map(|r| r.deadline(config)).min()
    }

    /// Tokens of the runs whose deadline is at or before `now`, in token order.
    pub(super) fn due(&self, now: u64, config: &NodeConfig) -> Vec<TokenId> {
        self.runs
            .iter()
            .filter(|(_, r)| r.deadline(config) <= now)
            .map(|(t, _)| *t)
            .collect()
    }

    /// Brings `token`'s run up to `now` once its deadline has passed: notes that
    /// the collection window was seen to close, and abandons channels whose first
    /// hop is late (they leave the index).
    pub(super) fn expire(&mut self, now: u64, token: TokenId, config: &NodeConfig) -> Expiry {
        let Some(run) = self.runs.get_mut(&token) else {
            return Expiry::default();
        };
        let late = run.expire(now, config);
        for ticket in &late {
            self.tickets.remove(ticket);
        }
        let replace = if !late.is_empty() && !run.timed_out(now, config) {
            late.len()
        } else {
            0
        };
        Expiry {
            timed_out: late.len(),
            replace,
        }
    }

    /// What `token`'s verdict asks for at `now` (nothing if it is not running).
    pub(super) fn step(&mut self, now: u64, token: TokenId, config: &NodeConfig) -> Step {
        match self.runs.get_mut(&token) {
            Some(run) => {
                let (step, truncated) = run.step(now, config);
                self.clique_truncations += truncated as u64;
                step
            }
            None => Step::Wait,
        }
    }

    /// Ends `token`'s run: it and all its tickets leave. Returns it, if it was running.
    pub(super) fn finish(&mut self, token: TokenId) -> Option<ElectionRun<A>> {
        let run = self.runs.remove(&token)?;
        for ticket in run.election.tickets() {
            self.tickets.remove(&ticket);
        }
        release_if_empty(&mut self.runs);
        release_if_empty(&mut self.tickets);
        Some(*run)
    }
}

impl<A: Clone> ElectionRun<A> {
    fn new(election: PeerElection, started_at: u64) -> Self {
        Self {
            election,
            started_at,
            sent_at: BTreeMap::new(),
            hops: BTreeMap::new(),
            responders: BTreeMap::new(),
            saw_split: false,
            collect_checked: false,
            retried: BTreeSet::new(),
            chains: BTreeMap::new(),
        }
    }

    /// When the run started.
    pub(super) fn started_at(&self) -> u64 {
        self.started_at
    }

    /// Number of distinct responders with a counted answer.
    pub(super) fn responses(&self) -> usize {
        self.election.valid_response_count()
    }

    /// Whether the run has seen a split-brain.
    pub(super) fn saw_split(&self) -> bool {
        self.saw_split
    }

    /// Whether `peer` has been the first hop of any of the run's channels.
    pub(super) fn has_used_hop(&self, peer: &PeerId) -> bool {
        self.election.has_used_hop(peer)
    }

    /// Whether `answer`'s walk is aligned with this node's own (shares at
    /// least `alignment_threshold` mappings with the reference); `None` if
    /// the run has no reference (a store too sparse to walk).
    pub(super) fn is_aligned(&self, answer: &Answer<A>) -> Option<bool> {
        let reference = self.election.reference()?;
        let sig = crate::proof::TokenSignature {
            answer: answer.answer,
            signature: answer.signature,
        };
        Some(crate::proof::agreement(reference, &sig) >= self.election.config().alignment_threshold)
    }

    /// The address `peer` gave with its latest counted answer.
    pub(super) fn responder_addr(&self, peer: &PeerId) -> Option<&A> {
        self.responders.get(peer)
    }

    /// The next time the run needs attention: the election timeout, the first
    /// pending channel's timeout, and (until it has been looked at) the end of
    /// the collection window.
    pub(super) fn deadline(&self, config: &NodeConfig) -> u64 {
        let timeout = self
            .started_at
            .saturating_add(config.elections.election_timeout_ms);
        let channel = self.sent_at.values().min().map_or(u64::MAX, |t| {
            t.saturating_add(config.elections.channel_timeout_ms)
        });
        let d = timeout.min(channel);
        if self.collect_checked {
            d
        } else {
            d.min(self.started_at.saturating_add(config.elections.min_collection_ms))
        }
    }

    fn timed_out(&self, now: u64, config: &NodeConfig) -> bool {
        now >= self
            .started_at
            .saturating_add(config.elections.election_timeout_ms)
    }

    fn collected(&self, now: u64, config: &NodeConfig) -> bool {
        now >= self.started_at.saturating_add(config.elections.min_collection_ms)
    }

    fn open_channel(&mut self, now: u64, hop: &Contact<A>, chain: Option<Chain>) -> Option<MessageTicket> {
        let ticket = self.election.create_channel(hop.id).ok()?;
        self.sent_at.insert(ticket, now);
        self.hops.insert(ticket, hop.clone());
        let chain = chain.unwrap_or(Chain {
            origin: hop.id,
            depth: 0,
        });
        self.chains.insert(ticket, chain);
        Some(ticket)
    }

    fn on_answer(&mut self, a: &Answer<A>) -> AnswerOutcome {
        match self
            .election
            .handle_answer(a.ticket, &a.answer, &a.signature, a.responder.id)
        {
            Ok(AnswerAccepted::New) => {
                self.sent_at.remove(&a.ticket);
                self.responders.insert(a.responder.id, a.responder.addr.clone());
                AnswerOutcome::Counted
            }
            Ok(AnswerAccepted::Redelivery) => AnswerOutcome::Redelivery,
            Err(ElectionError::DuplicateResponse) | Err(ElectionError::ChannelBlocked) => {
                self.sent_at.remove(&a.ticket);
                AnswerOutcome::Conflict
            }
            Err(ElectionError::SignatureVerificationFailed(_)) => AnswerOutcome::Forged,
            Err(_) => AnswerOutcome::Unmatched,
        }
    }

    fn on_referral(&mut self, r: &Referral<A>, sender: PeerId, max_hops: u8) -> ReferralOutcome<A> {
        let chain = self.chains.get(&r.ticket).copied().unwrap_or(Chain {
            origin: sender,
            depth: 0,
        });
        // On `Ok` and on the two referral errors alike the election has closed the channel.
        let outcome = match self
            .election
            .handle_referral(r.ticket, r.token, [r.high.id, r.low.id], sender)
        {
            // A chain may spend 1 + max_hops queries, no more: one hostile
            // first hop (or a string of sybils, each a little closer) cannot
            // exhaust the election.
            Ok(_) if chain.depth >= max_hops => ReferralOutcome::Replace {
                strike: Some(chain.origin),
                dead_end: None,
            },
            Ok(next) => ReferralOutcome::Follow(
                if next == r.high.id {
                    r.high.clone()
                } else {
                    r.low.clone()
                },
                Chain {
                    origin: chain.origin,
                    depth: chain.depth + 1,
                },
            ),
            // Closer peers exist but are in use already: an honest dead end.
            Err(ElectionError::NoFreshReferral) => ReferralOutcome::Replace {
                strike: None,
                dead_end: None,
            },
            // The referrer knows nobody closer than itself: that is where an
            // honest referral comes from too (a node that knew a closer peer
            // would have forwarded the query), so it ends the chain without a
            // strike; the referrer's record decides (`Membership::dead_end`).
            Err(ElectionError::ReferralNotCloser) => ReferralOutcome::Replace {
                strike: None,
                dead_end: Some(sender),
            },
            Err(_) => return ReferralOutcome::Unmatched,
        };
        self.sent_at.remove(&r.ticket);
        outcome
    }

    /// Notes whether the collection window has closed, then abandons the
    /// channels whose first hop has not replied within `channel_timeout_ms`;
    /// returns their tickets.
    fn expire(&mut self, now: u64, config: &NodeConfig) -> Vec<MessageTicket> {
        if self.collected(now, config) {
            self.collect_checked = true;
        }
        let limit = config.elections.channel_timeout_ms;
        let late: Vec<MessageTicket> = self
            .sent_at
            .iter()
            .filter(|(_, sent)| now.saturating_sub(**sent) >= limit)
            .map(|(t, _)| *t)
            .collect();
        for ticket in &late {
            self.sent_at.remove(ticket);
            // Cannot fail: `sent_at` holds only pending channels.
            let _ = self.election.abandon_channel(*ticket);
        }
        late
    }

    /// Looks at the verdict and says what the time makes of it, and how many
    /// clique searches behind the verdict hit their bound. Records a
    /// split-brain the first time one is acted on.
    fn step(&mut self, now: u64, config: &NodeConfig) -> (Step, usize) {
        let (verdict, truncated) = self.election.check_for_winner_counted();
        (self.step_given(verdict, now, config), truncated)
    }

    fn step_given(&mut self, verdict: WinnerResult, now: u64, config: &NodeConfig) -> Step {
        let settled = self.election.is_settled_given(&verdict);
        let pending = self.election.pending_count();
        let collected = self.collected(now, config);
        let timed_out = self.timed_out(now, config);
        let too_few = self.election.valid_response_count() < config.elections.consensus.min_cluster_size;
        match verdict {
            WinnerResult::Single { winner, cluster, .. } => {
                if settled || collected || timed_out {
                    Step::End(Ending::Elected(Win {
                        winner,
                        cluster,
                        contested: false,
                    }))
                } else {
                    Step::Wait
                }
            }
            WinnerResult::SplitBrain {
                cluster1,
                winner1,
                cluster2,
                winner2,
                ..
            } => {
                if pending > 0 && !timed_out {
                    // Replies still on their way may settle it.
                    return Step::Wait;
                }
                let first = !self.saw_split;
                self.saw_split = true;
                let channels = if !timed_out && self.election.can_create_channel() {
                    config.elections.split_brain_extra_channels
                } else {
                    0
                };
                let report = SplitReport {
                    first,
                    winner1,
                    size1: cluster1.members.len(),
                    winner2,
                    size2: cluster2.members.len(),
                };
                let otherwise = match config.elections.split_brain_policy {
                    SplitBrainPolicy::Abandon => Ending::Failed(FailureReason::SplitBrain),
                    SplitBrainPolicy::AcceptStrongest => Ending::Elected(Win {
                        winner: winner1,
                        cluster: cluster1,
                        contested: true,
                    }),
                };
                Step::Split {
                    report,
                    channels,
                    otherwise,
                }
            }
            WinnerResult::NoConsensus => {
                if timed_out {
                    let reason = if too_few {
                        FailureReason::Timeout
                    } else {
                        FailureReason::NoConsensus
                    };
                    Step::End(Ending::Failed(reason))
                } else if pending == 0 {
                    // Every channel has replied or been dropped: widen the search.
                    let otherwise = if too_few {
                        FailureReason::Exhausted
                    } else {
                        FailureReason::NoConsensus
                    };
                    Step::Widen {
                        channels: config.elections.initial_channels.clamp(1, 2),
                        otherwise,
                    }
                } else {
                    Step::Wait
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
