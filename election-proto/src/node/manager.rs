//! Election manager and scheduler (docs/PROTOCOL.md §9, seed phases 1–4).
//!
//! The election runs ([`super::run`]) decide; this module carries their
//! decisions out: it sends the queries, emits the events, keeps the counters
//! and updates the contact and elected-peer tables.

use super::peers::Recorded;
use super::run::{Ending, Step, Win};
use super::{ElectionPurpose, Event, FailureReason, Node};
use crate::election::PeerElection;
use crate::id::{Distance, PeerId, TokenId, SUFFIX_SPACE};
use crate::proof::generate_signature;
use crate::store::TokenStore;
use crate::wire::{Address, Contact, Message, Query};

impl<A: Address, S: TokenStore> Node<A, S> {
    /// Starts an election; reports failure at once if it cannot run.
    pub(super) fn start_election(&mut self, now: u64, token: TokenId, purpose: ElectionPurpose) {
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
        let opened = self.open_channels(now, token, self.config.initial_channels);
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
            if self.open_channel_to(now, token, hop) {
                opened += 1;
            }
        }
        opened
    }

    /// Opens one channel to `hop` and sends its query. Returns whether it was opened.
    pub(super) fn open_channel_to(&mut self, now: u64, token: TokenId, hop: Contact<A>) -> bool {
        let Some(ticket) = self.elections.open_channel(now, token, &hop) else {
            return false;
        };
        self.metrics.election_messages_sent += 1;
        let query = Query {
            token,
            ticket,
            challenger: self.me.id,
            hops_left: self.config.max_hops,
        };
        self.send(hop.addr, Message::Query(query));
        true
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
        match self.elected.record(winner.clone(), token, now) {
            Recorded::Reelected => {}
            Recorded::Added => self.emit(Event::PeerAdded(winner.clone())),
            Recorded::AddedEvicting(old) => {
                self.emit(Event::PeerEvicted(old));
                self.emit(Event::PeerAdded(winner.clone()));
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

    fn schedule_next(&mut self, now: u64) {
        let base = self.config.election_interval_ms;
        let spread = base.saturating_mul(u64::from(self.config.election_jitter_percent)) / 100;
        let low = base.saturating_sub(spread).max(1);
        let wait = low.saturating_add(self.rng.below(spread.saturating_mul(2).saturating_add(1)));
        self.next_election_at = Some(now.saturating_add(wait));
    }

    /// Alternates re-verification of the stalest elected peer with discovery.
    fn scheduled_election(&mut self, now: u64) {
        let reverify = self.reverify_next;
        self.reverify_next = !self.reverify_next;
        let (token, purpose) = match self.elected.stalest().map(|p| p.contact.id) {
            Some(peer) if reverify => (self.token_near(&peer), ElectionPurpose::Reverify(peer)),
            _ => (self.discovery_token(), ElectionPurpose::Discover),
        };
        match token {
            Some(t) => self.start_election(now, t, purpose),
            None => {
                self.metrics.elections_started += 1;
                self.metrics.record_failure(FailureReason::NoToken);
                self.emit(Event::ElectionFailed {
                    token: TokenId::ZERO,
                    reason: FailureReason::NoToken,
                    responses: 0,
                });
            }
        }
    }

    /// A stored token near `point`, with a random suffix so repeated challenges
    /// around one peer use different tokens (a cached answer is no use).
    fn token_near(&mut self, point: &PeerId) -> Option<TokenId> {
        let from = TokenId::new(*point.as_bytes());
        let s = self.rng.below(SUFFIX_SPACE as u64) as u16;
        let m = if self.rng.coin() {
            self.store.next_with_suffix(&from, s)
        } else {
            self.store.prev_with_suffix(&from, s)
        };
        m.map(|m| m.id)
    }

    /// A stored token for discovery: half the time inside the widest arc between
    /// elected peers (the worst-covered area), otherwise at a random distance from
    /// this node (log-uniform, so near and far are both explored). The search
    /// walks from that point toward this node, so it lands in the part of the
    /// ledger this node holds.
    fn discovery_token(&mut self) -> Option<TokenId> {
        let me = TokenId::new(*self.me.id.as_bytes());
        let gap = if self.rng.coin() {
            self.elected.largest_gap()
        } else {
            None
        };
        let point = match gap {
            Some((start, len)) => {
                let mut d = [0u8; 32];
                self.rng.fill(&mut d);
                let off = scale(&d, &len);
                TokenId::new(*start.as_bytes()).add(&off)
            }
            None => {
                let bits = self.rng.below(256) as usize;
                let mut d = [0u8; 32];
                self.rng.fill(&mut d);
                mask_to_bits(&mut d, bits);
                let off = Distance(d);
                if self.rng.coin() {
                    me.add(&off)
                } else {
                    me.sub(&off)
                }
            }
        };
        let s = self.rng.below(SUFFIX_SPACE as u64) as u16;
        let toward_me_ccw =
            crate::id::clockwise_distance(&me, &point) <= crate::id::counter_clockwise_distance(&me, &point);
        let m = if toward_me_ccw {
            self.store.prev_with_suffix(&point, s)
        } else {
            self.store.next_with_suffix(&point, s)
        };
        m.map(|m| m.id)
            .or_else(|| self.store.lookup(&point).map(|_| point))
    }
}

/// Keeps only the low `bits` bits of a big-endian value.
fn mask_to_bits(d: &mut [u8; 32], bits: usize) {
    for (i, b) in d.iter_mut().enumerate() {
        let bit_lo = (31 - i) * 8; // value of this byte's lowest bit position
        if bit_lo >= bits {
            *b = 0;
        } else if bit_lo + 8 > bits {
            *b &= (1u16 << (bits - bit_lo)) as u8 - 1;
        }
    }
}

/// Roughly `random * len / 2^256`: a uniform-ish offset inside an arc, using the
/// top 64 bits of each (precision is irrelevant for picking a point).
fn scale(random: &[u8; 32], len: &Distance) -> Distance {
    let mut r = [0u8; 8];
    r.copy_from_slice(&random[..8]);
    let r = u128::from(u64::from_be_bytes(r));
    let l = u128::from(len.high_u64());
    let hi = ((r * l) >> 64) as u64;
    let mut out = [0u8; 32];
    out[..8].copy_from_slice(&hi.to_be_bytes());
    out[8..].copy_from_slice(&random[8..]);
    // hi < len's top word, so any low bits keep the offset inside the arc.
    Distance(out)
}
