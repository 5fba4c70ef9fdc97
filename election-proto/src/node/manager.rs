//! Election manager (docs/PROTOCOL.md §9, seed phases 1–3); the scheduler is in [`super::schedule`].
//!
//! The election runs ([`super::run`]) decide; this module carries their
//! decisions out: it sends the queries, emits the events, keeps the counters
//! and updates the contact and elected-peer tables.

use super::peers::Recorded;
use super::run::{Ending, Step, Win};
use super::{ElectionPurpose, Event, EvictionReason, FailureReason, Node};
use crate::election::{MessageTicket, PeerElection};
use crate::id::TokenId;
use crate::proof::generate_signature;
use crate::store::TokenStore;
use crate::wire::{Address, Contact, Message, Query};

impl<A: Address, S: TokenStore> Node<A, S> {
    /// Starts an election; reports failure at once if it cannot run. The
    /// first channels go straight to the peers in `direct` (direct
    /// challenges, see [`super::schedule`]; the first is the one the
    /// election is for), up to `initial_channels`, the others to other first
    /// hops.
    pub(super) fn start_election(
        &mut self,
        now: u64,
        token: TokenId,
        purpose: ElectionPurpose,
        direct: Vec<Contact<A>>,
    ) {
        self.metrics.elections_started += 1;
        self.emit(Event::ElectionStarted { token, purpose });
        let reason = if self.elections.contains(&token) {
            Some(FailureReason::AlreadyRunning)
        } else if self.elections.len() >= self.config.max_active_elections {
            Some(FailureReason::Busy)
        } else if self.store.lookup(&token).is_none() {
            Some(FailureReason::NoToken)
        } else if self.contacts.len() == 0 {
            Some(FailureReason::NoContacts)
        } else {
            None
        };
        if let Some(reason) = reason {
            self.metrics.record_failure(reason);
            self.emit(Event::ElectionFailed {
                token,
                reason,
                responses: 0,
            });
            return;
        }
        let secret = self.rng.bytes32();
        let mut election = PeerElection::new(token, self.me.id, self.config.election.clone(), secret);
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
            if opened >= self.config.initial_channels {
                break;
            }
            opened += usize::from(self.open_direct(now, token, hop, i == 0));
        }
        opened += self.open_channels(now, token, self.config.initial_channels.saturating_sub(opened));
        if opened == 0 {
            self.fail(token, FailureReason::NoContacts);
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
            .contacts
            .first_hops(&token, n, |id| *id != me && !run.has_used_hop(id));
        let mut opened = 0;
        for hop in hops {
            if self.open_channel_to(now, token, hop).is_some() {
                opened += 1;
            }
        }
        opened
    }

    /// Opens one channel to `hop` and sends its query. Returns whether it was opened.
    pub(super) fn open_channel_to(
        &mut self,
        now: u64,
        token: TokenId,
        hop: Contact<A>,
    ) -> Option<MessageTicket> {
        let ticket = self.elections.open_channel(now, token, &hop)?;
        self.metrics.election_messages_sent += 1;
        let query = Query {
            token,
            ticket,
            challenger: self.me.id,
            hops_left: self.config.max_hops,
        };
        self.send(hop.addr, Message::Query(query));
        Some(ticket)
    }

    /// Does everything that is due: channel timeouts, verdicts, the scheduler.
    pub(super) fn run_due(&mut self, now: u64) {
        self.forward.expire(now);
        self.validated.expire(now);
        self.run_membership(now);
        for token in self.elections.due(now, &self.config) {
            let expiry = self.elections.expire(now, token, &self.config);
            self.metrics.channel_timeouts += expiry.timed_out as u64;
            if expiry.replace > 0 {
                self.open_channels(now, token, expiry.replace);
            }
            self.evaluate(now, token);
        }
        if self.next_election_at.is_some_and(|at| at <= now) {
            self.schedule_next(now);
            self.scheduled_election(now);
        }
        // Last: the elections that just ended may have freed a slot for an
        // overdue challenge (the deadline asked for next must not be past),
        // and peers just challenged need no ping.
        self.run_checks(now);
        self.run_pings(now);
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
                    self.metrics.split_brains += 1;
                }
                let opened = if channels > 0 {
                    self.open_channels(now, token, channels)
                } else {
                    0
                };
                self.emit(Event::SplitBrain {
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
        let was_check = self.checks.values().any(|c| c.token == token);
        self.settle_check(now, &token);
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
            .or_else(|| self.contacts.addr_of(&winner))
        else {
            // Cannot happen: every stored answer recorded its responder's address.
            self.metrics.record_failure(FailureReason::NoConsensus);
            self.emit(Event::ElectionFailed {
                token,
                reason: FailureReason::NoConsensus,
                responses,
            });
            return;
        };
        for m in &cluster.members {
            if let Some(r) = self.contacts.reputation_mut(m) {
                r.participated = r.participated.saturating_add(1);
                r.agreement_tenths = r
                    .agreement_tenths
                    .saturating_add((cluster.avg_agreement * 10.0).round() as u32);
                if *m == winner {
                    r.won = r.won.saturating_add(1);
                }
            }
        }
        self.metrics.elections_succeeded += 1;
        self.metrics.record_latency(latency);
        let winner = Contact { id: winner, addr };
        // A peer evicted as misaligned does not come back for a while: another
        // version still wins the odd election (it shares ≥ 1 mapping half the time).
        // A direct challenge is about its peer: someone else winning it joins
        // the table only while the table is below its target (discovery fills
        // the rest), so challenges do not grow the table they have to cover.
        let incidental = was_check
            && !self.elected.contains(&winner.id)
            && self.elected.len() >= self.config.target_elected_peers;
        if !incidental && !self.is_banned(&winner.id, now) {
            // A new peer is on probation: its first direct challenge comes soon
            // (at the next slot once the table is at its target).
            let due = now.saturating_add(self.config.recheck_ms);
            match self.elected.record(winner.clone(), token, now, due) {
                Recorded::Reelected => {}
                Recorded::Added => {
                    self.burst_fruitless = 0;
                    self.emit(Event::PeerAdded(winner.clone()));
                }
                Recorded::AddedEvicting(old) => {
                    self.emit(Event::PeerEvicted {
                        peer: old,
                        reason: EvictionReason::Replaced,
                    });
                    self.emit(Event::PeerAdded(winner.clone()));
                }
            }
        }
        self.emit(Event::Elected {
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
            self.settle_check(self.now_ms, &token);
        }
        self.note_outcome(run.saw_split());
        self.metrics.record_failure(reason);
        self.emit(Event::ElectionFailed {
            token,
            reason,
            responses: run.responses(),
        });
    }

    /// Tracks split-brain frequency and raises a partition alert when it recurs.
    fn note_outcome(&mut self, saw_split: bool) {
        self.recent_splits.push_back(saw_split);
        while self.recent_splits.len() > self.config.partition_window {
            self.recent_splits.pop_front();
        }
        let splits = self.recent_splits.iter().filter(|s| **s).count();
        if splits >= self.config.partition_alert_threshold {
            self.metrics.partition_alerts += 1;
            let window = self.recent_splits.len();
            self.recent_splits.clear();
            self.emit(Event::PartitionSuspected {
                split_brains: splits,
                window,
            });
        }
    }
}
