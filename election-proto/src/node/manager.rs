//! Election manager (docs/PROTOCOL.md §9, seed phases 1–3): starts elections,
//! opens their channels and carries out their verdicts.
//!
//! The election runs ([`super::elections`]) decide; the health subsystem
//! ([`super::health`]) says which peer a challenge is for and records what
//! came of it; this module sends the queries, emits the events and hands
//! each subsystem its part of an outcome.

use super::elections::{Chain, Ending, Step, Win};
use super::health::{Check, Recorded};
use super::{ElectionPurpose, Event, EvictionReason, FailureReason, Node};
use crate::election::{MessageTicket, PeerElection};
use crate::id::{PeerId, TokenId};
use crate::proof::generate_signature;
use crate::store::TokenStore;
use crate::wire::{Address, Contact, Message, Query};

impl<A: Address, S: TokenStore> Node<A, S> {
    /// Starts an election; reports failure at once if it cannot run. The
    /// first channels go straight to the peers in `direct` (direct
    /// challenges, see [`super::health`]; the first is the one the
    /// election is for), up to `initial_channels`, the others to other first
    /// hops.
    pub(super) fn start_election(
        &mut self,
        now: u64,
        token: TokenId,
        purpose: ElectionPurpose,
        direct: Vec<Contact<A>>,
    ) {
        self.out.metrics.elections_started += 1;
        self.out.emit(Event::ElectionStarted { token, purpose });
        let reason = if self.elections.contains(&token) {
            Some(FailureReason::AlreadyRunning)
        } else if self.elections.len() >= self.config.elections.max_active_elections {
            Some(FailureReason::Busy)
        } else if self.store.lookup(&token).is_none() {
            Some(FailureReason::NoToken)
        } else if self.membership.contacts().len() == 0 {
            Some(FailureReason::NoContacts)
        } else {
            None
        };
        if let Some(reason) = reason {
            self.out.metrics.record_failure(reason);
            self.out.emit(Event::ElectionFailed {
                token,
                reason,
                responses: 0,
            });
            return;
        }
        let secret = self.rng.bytes32();
        let mut election =
            PeerElection::new(token, self.me.id, self.config.elections.consensus.clone(), secret);
        // We hold the token, so our own walk is the yardstick winners must match:
        // responders that only agree with each other (colluders, another ledger
        // version) can then never be elected. A store too sparse to walk falls
        // back to plain consensus among responders.
        if let Some(own) = generate_signature(&self.store, &token, &self.me.id) {
            let _ = election.set_reference(own);
        }
        self.elections.start(now, election);
        let mut opened = 0;
        for (i, hop) in direct.into_iter().enumerate() {
            if opened >= self.config.elections.initial_channels {
                break;
            }
            opened += usize::from(self.open_direct(now, token, hop, i == 0));
        }
        opened += self.open_channels(
            now,
            token,
            self.config.elections.initial_channels.saturating_sub(opened),
        );
        if opened == 0 {
            self.fail(token, FailureReason::NoContacts);
        }
    }

    /// A scheduled election with no token to challenge: reported as a failure.
    pub(super) fn no_token(&mut self) {
        self.out.metrics.elections_started += 1;
        self.out.metrics.record_failure(FailureReason::NoToken);
        self.out.emit(Event::ElectionFailed {
            token: TokenId::ZERO,
            reason: FailureReason::NoToken,
            responses: 0,
        });
    }

    /// Starts a re-verification election of `peer` (see [`super::health`]).
    pub(super) fn start_check(&mut self, now: u64, peer: PeerId) {
        match self
            .health
            .plan_check(&mut cx!(self), &self.store, &self.membership, now, peer)
        {
            Check::Start { token, direct } => {
                self.start_election(now, token, ElectionPurpose::Reverify(peer), direct);
            }
            Check::NoToken => self.no_token(),
            Check::Gone => {}
        }
    }

    /// Opens up to `n` channels to fresh first hops near the token on both sides.
    /// Returns how many were opened.
    pub(super) fn open_channels(&mut self, now: u64, token: TokenId, n: usize) -> usize {
        let Some(run) = self.elections.get(&token) else {
            return 0;
        };
        let me = self.me.id;
        let hops = self
            .membership
            .contacts()
            .first_hops(&token, n, |id| *id != me && !run.has_used_hop(id));
        let mut opened = 0;
        for hop in hops {
            if self.open_channel_to(now, token, hop, None).is_some() {
                opened += 1;
            }
        }
        opened
    }

    /// Opens one channel to `hop` (the next link of `chain`, if a referral
    /// named it) and sends its query. Returns its ticket if it was opened.
    pub(super) fn open_channel_to(
        &mut self,
        now: u64,
        token: TokenId,
        hop: Contact<A>,
        chain: Option<Chain>,
    ) -> Option<MessageTicket> {
        let ticket = self.elections.open_channel(now, token, &hop, chain)?;
        self.out.metrics.election_messages_sent += 1;
        let query = Query {
            token,
            ticket,
            challenger: self.me.id,
            hops_left: self.config.elections.max_hops,
        };
        self.out.send(hop.addr, Message::Query(query));
        Some(ticket)
    }

    /// Opens the channel straight to `hop` of `token`'s election and records
    /// the challenge. Returns whether it was opened.
    fn open_direct(&mut self, now: u64, token: TokenId, hop: Contact<A>, primary: bool) -> bool {
        let Some(ticket) = self.open_channel_to(now, token, hop.clone(), None) else {
            return false;
        };
        self.health.challenge_sent(now, ticket, token, hop, primary);
        true
    }

    /// `peer`, an elected peer, answered one of our channels itself as its
    /// first hop: evidence for the health subsystem (see [`super::health`]).
    pub(super) fn observe(&mut self, now: u64, ticket: &MessageTicket, peer: PeerId, shared: Option<usize>) {
        if self.health.observe(&self.config, now, ticket, peer, shared) {
            self.out.emit(Event::PeerEvicted {
                peer,
                reason: EvictionReason::Misaligned,
            });
        }
    }

    /// Looks at an election's verdict and carries out what it asks for.
    pub(super) fn evaluate(&mut self, now: u64, token: TokenId) {
        match self.elections.step(now, token, &self.config) {
            Step::Wait => {}
            Step::End(ending) => self.end(now, token, ending),
            Step::Widen { channels, otherwise } => {
                if self.open_channels(now, token, channels) == 0 {
                    self.fail(token, otherwise);
                }
            }
            Step::Split {
                report,
                channels,
                otherwise,
            } => {
                if report.first {
                    self.out.metrics.split_brains += 1;
                }
                let opened = if channels > 0 {
                    self.open_channels(now, token, channels)
                } else {
                    0
                };
                self.out.emit(Event::SplitBrain {
                    token,
                    winner1: report.winner1,
                    size1: report.size1,
                    winner2: report.winner2,
                    size2: report.size2,
                    spawning_channels: opened > 0,
                });
                if opened == 0 {
                    self.end(now, token, otherwise);
                }
            }
        }
    }

    fn end(&mut self, now: u64, token: TokenId, ending: Ending) {
        match ending {
            Ending::Elected(win) => self.succeed(now, token, win),
            Ending::Failed(reason) => self.fail(token, reason),
        }
    }

    fn succeed(&mut self, now: u64, token: TokenId, win: Win) {
        let Some(run) = self.elections.finish(token) else {
            return;
        };
        let was_check = self.health.has_check(&token);
        self.settle_checks(now, &token);
        self.note_outcome(run.saw_split());
        let Win {
            winner,
            cluster,
            contested,
        } = win;
        let responses = run.responses();
        let latency = now.saturating_sub(run.started_at());
        let Some(addr) = run
            .responder_addr(&winner)
            .cloned()
            .or_else(|| self.membership.contacts().addr_of(&winner))
        else {
            // Cannot happen: every stored answer recorded its responder's address.
            self.out.metrics.record_failure(FailureReason::NoConsensus);
            self.out.emit(Event::ElectionFailed {
                token,
                reason: FailureReason::NoConsensus,
                responses,
            });
            return;
        };
        self.membership
            .credit_cluster(&cluster.members, &winner, cluster.avg_agreement);
        self.out.metrics.elections_succeeded += 1;
        self.out.metrics.record_latency(latency);
        let winner = Contact { id: winner, addr };
        match self
            .health
            .elect(&self.config, now, winner.clone(), token, was_check)
        {
            None | Some(Recorded::Reelected) => {}
            Some(Recorded::Added) => self.out.emit(Event::PeerAdded(winner.clone())),
            Some(Recorded::AddedEvicting(old)) => {
                self.out.emit(Event::PeerEvicted {
                    peer: old,
                    reason: EvictionReason::Replaced,
                });
                self.out.emit(Event::PeerAdded(winner.clone()));
            }
        }
        self.out.emit(Event::Elected {
            token,
            winner,
            cluster_size: cluster.members.len(),
            responses,
            latency_ms: latency,
            contested,
        });
    }

    pub(super) fn fail(&mut self, token: TokenId, reason: FailureReason) {
        let Some(run) = self.elections.finish(token) else {
            return;
        };
        if reason != FailureReason::Shutdown {
            self.settle_checks(self.now_ms, &token);
        }
        self.note_outcome(run.saw_split());
        self.out.metrics.record_failure(reason);
        self.out.emit(Event::ElectionFailed {
            token,
            reason,
            responses: run.responses(),
        });
    }

    /// Settles `token`'s direct challenges, reporting the peers that turned
    /// out departed.
    fn settle_checks(&mut self, now: u64, token: &TokenId) {
        for peer in self.health.settle(&self.config, now, token) {
            self.out.emit(Event::PeerEvicted {
                peer,
                reason: EvictionReason::Departed,
            });
        }
    }

    /// Tracks split-brain frequency and raises a partition alert when it recurs.
    fn note_outcome(&mut self, saw_split: bool) {
        if let Some((split_brains, window)) = self.elections.note_outcome(&self.config, saw_split) {
            self.out.metrics.partition_alerts += 1;
            self.out.emit(Event::PartitionSuspected { split_brains, window });
        }
    }
}
