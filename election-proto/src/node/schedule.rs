//! The scheduler (docs/PROTOCOL.md §9, seed phase 4) and re-verification of
//! elected peers.
//!
//! # When elections run
//!
//! One scheduled election per slot. A slot comes every `election_interval_ms`
//! (± jitter) while the table holds `target_elected_peers` or more, and every
//! `burst_interval_ms` while it holds fewer (a joining node fills its table in
//! seconds, then settles). A slot challenges the elected peer whose direct
//! challenge is due first, if it is due before the next slot; otherwise it
//! runs discovery. So the table grows by discovery until its peers' challenges
//! fill the slots, about `reverify_period_ms / election_interval_ms` peers, and
//! then stays there. Besides the slots, a peer that is overdue (a large
//! table, a recheck of a suspect peer, peers just restored from a snapshot) is
//! challenged at once, at most [`MAX_CHECKS`] at a time and never beyond
//! `max_active_elections`. The order is always earliest-due (ties: smaller
//! id): a peer that never answers cannot hold up the others.
//!
//! # Direct challenges
//!
//! A re-verification election for peer P uses a token both P and this node
//! store, opens one channel straight to P and `initial_channels − 1` to other
//! first hops, as any election. P's own answer is evidence for the sequential
//! test ([`super::health`]); any reply from P on that channel shows it is
//! there; silence until the channel timeout is a miss. After the election P
//! is due again a full period later, or after `recheck_ms` if the evidence
//! leans against it or the challenge told nothing (P did not hold the token).

use super::health::{Observation, Verdict};
use super::{ElectionPurpose, Event, EvictionReason, FailureReason, Node};
use crate::election::MessageTicket;
use crate::id::{Distance, PeerId, TokenId, SUFFIX_SPACE};
use crate::store::TokenStore;
use crate::wire::{Address, Contact};

/// Most direct challenges running at once outside the slots.
pub(super) const MAX_CHECKS: usize = 2;

/// Longest doubling of the burst interval counted (far beyond any
/// `election_interval_ms / burst_interval_ms` in use).
const MAX_BURST_DOUBLINGS: u32 = 16;

/// Score from which a peer is challenged again at once rather than at the
/// next slot: an answer sharing nothing, or two sharing 1–3 (about 3 % of
/// honest answers leave a confirmed peer there).
const URGENT_SCORE: i32 = super::health::LLR_BY_SHARED[0] - 100;

/// Most peers remembered as evicted for misalignment.
pub(super) const BANNED_CAP: usize = 32;

/// A running direct challenge of an elected peer (one channel straight to it).
#[derive(Clone, Debug)]
pub(super) struct DirectCheck<A> {
    /// The election it belongs to.
    pub(super) token: TokenId,
    /// Whether the election was started for this peer (the other direct
    /// challenge of an election rides along).
    pub(super) primary: bool,
    /// The peer challenged.
    pub(super) peer: PeerId,
    /// The address the query went to.
    pub(super) addr: A,
    /// When the query went out.
    pub(super) sent_at: u64,
    /// Whether it replied on that channel (with anything, from that address).
    pub(super) replied: bool,
    /// Whether it answered itself (signed the token for us).
    pub(super) answered: bool,
}

impl<A: Address, S: TokenStore> Node<A, S> {
    /// The interval of the slot that follows now: `burst_interval_ms` while
    /// the table is below its target, doubled for each burst discovery since
    /// the last new peer (the one just started aside), never beyond
    /// `election_interval_ms`. A joiner that knows its neighbours fills its
    /// table at the burst rate; a node whose discoveries keep re-electing
    /// the peers it has (a whole network starting at once, a minority ledger
    /// version, a tiny network) settles to the interval within a few slots
    /// instead of electing every two seconds for nothing.
    fn slot_interval(&self) -> u64 {
        let interval = self.config.election_interval_ms;
        if self.elected.len() >= self.config.target_elected_peers {
            return interval;
        }
        let doublings = self.burst_fruitless.saturating_sub(1).min(MAX_BURST_DOUBLINGS);
        self.config
            .burst_interval_ms
            .saturating_mul(1u64 << doublings)
            .min(interval)
    }

    /// The first slot after start: somewhere within the first interval, so
    /// nodes started together do not all elect at once.
    pub(super) fn first_slot(&mut self, now: u64) {
        let first = self.rng.below(self.slot_interval().max(1));
        self.next_election_at = Some(now.saturating_add(first));
    }

    pub(super) fn schedule_next(&mut self, now: u64) {
        let base = self.slot_interval();
        let spread = base.saturating_mul(u64::from(self.config.election_jitter_percent)) / 100;
        let low = base.saturating_sub(spread).max(1);
        let wait = low.saturating_add(self.rng.below(spread.saturating_mul(2).saturating_add(1)));
        self.next_election_at = Some(now.saturating_add(wait));
    }

    /// The peer due first that is not being challenged already, and when.
    fn earliest_due(&self) -> Option<(PeerId, u64)> {
        let checks = &self.checks;
        self.elected
            .earliest_due(|id| !checks.values().any(|c| c.peer == *id))
            .map(|p| (p.contact.id, p.health.due_at))
    }

    /// The peer whose challenge is next due outside the slots, and when: a
    /// peer that left its last challenge unanswered, or has two answers
    /// against it, at its due time, any
    /// other once it is a slot interval overdue (the slots normally take it
    /// first, so a table the slots keep up with costs no extra elections).
    fn earliest_overdue(&self) -> Option<(PeerId, u64)> {
        let checks = &self.checks;
        let grace = self.config.election_interval_ms;
        self.elected
            .iter()
            .filter(|p| !checks.values().any(|c| c.peer == p.contact.id))
            .map(|p| {
                let at = if p.health.score_milli >= URGENT_SCORE {
                    p.health.due_at
                } else {
                    p.health.due_at.saturating_add(grace)
                };
                (at, p.contact.id)
            })
            .min()
            .map(|(at, id)| (id, at))
    }

    /// Re-verification elections running.
    fn check_elections(&self) -> usize {
        self.checks.values().filter(|c| c.primary).count()
    }

    /// The second direct challenge of `peer`'s election: the elected peer
    /// contacted longest ago (see [`super::liveness`]). A challenge is also
    /// a liveness contact, so taking the peer whose ping is due first spares
    /// that ping, and each slot advances two peers' contact schedules.
    fn second_witness(&self, peer: &PeerId) -> Option<Contact<A>> {
        let (_, id) = self.least_recently_contacted(Some(peer))?;
        self.elected.get(&id).map(|p| p.contact.clone())
    }

    /// When an overdue peer's challenge can next start outside the slots, if
    /// one could start at all now.
    pub(super) fn next_check_due(&self) -> Option<u64> {
        if self.check_elections() >= MAX_CHECKS || self.elections.len() >= self.config.max_active_elections {
            return None;
        }
        self.earliest_overdue().map(|(_, at)| at)
    }

    /// Starts the challenges of overdue peers (see the module docs).
    pub(super) fn run_checks(&mut self, now: u64) {
        while self.check_elections() < MAX_CHECKS && self.elections.len() < self.config.max_active_elections {
            match self.earliest_overdue() {
                Some((peer, at)) if at <= now => self.start_check(now, peer),
                _ => break,
            }
        }
    }

    /// The slot's election. At or above the target: the earliest-due peer's
    /// challenge, due or not (early re-verification costs nothing extra: the
    /// slot runs anyway). Below it: that challenge if it is due before the
    /// next slot, else discovery, half the time aimed at a near contact not
    /// yet elected (skipped, not failed, while the node knows no contact or is running
    /// its most elections).
    pub(super) fn scheduled_election(&mut self, now: u64) {
        let horizon = now.saturating_add(self.slot_interval());
        let below = self.elected.len() < self.config.target_elected_peers;
        if let Some((peer, at)) = self.earliest_due() {
            if !below || at <= horizon {
                self.start_check(now, peer);
                return;
            }
        }
        if self.elections.len() >= self.config.max_active_elections || self.contacts.len() == 0 {
            return;
        }
        // Below the target, discovery aims at a near contact not elected yet
        // while one qualifies, then goes where discovery always goes (the
        // widest gap, a random distance).
        let aimed = if below { self.burst_token() } else { None };
        let token = aimed.or_else(|| self.discovery_token());
        if below {
            self.burst_fruitless = self.burst_fruitless.saturating_add(1);
        }
        match token {
            Some(t) => self.start_election(now, t, ElectionPurpose::Discover, Vec::new()),
            None => self.no_token(),
        }
    }

    /// A token just on this node's side of a near contact not elected yet,
    /// where that contact would be the responder nearest the token (so it is
    /// the likely winner, a new peer). Candidates are the `2 × target`
    /// contacts nearest this node, tried in random order; one whose token
    /// lies nearer an elected peer (the contact is beyond the arc this node
    /// stores, so the walk back lands at the arc's edge and re-elects whoever
    /// sits there) is skipped. `None` if no candidate qualifies.
    fn burst_token(&mut self) -> Option<TokenId> {
        let me = self.me.id;
        let elected = &self.elected;
        let mut near = self.contacts.first_hops(
            &me,
            self.config.target_elected_peers.saturating_mul(2).max(1),
            |id| *id != me && !elected.contains(id),
        );
        while !near.is_empty() {
            let pick = near.swap_remove(self.rng.below(near.len() as u64) as usize).id;
            let Some(token) = self.token_toward(&pick, Aim::AtPeer) else {
                continue;
            };
            let d = crate::id::ring_distance(&token, &pick);
            let nearer_peer = self
                .elected
                .iter()
                .any(|p| crate::id::ring_distance(&token, &p.contact.id) < d);
            if !nearer_peer {
                return Some(token);
            }
        }
        None
    }

    fn no_token(&mut self) {
        self.metrics.elections_started += 1;
        self.metrics.record_failure(FailureReason::NoToken);
        self.emit(Event::ElectionFailed {
            token: TokenId::ZERO,
            reason: FailureReason::NoToken,
            responses: 0,
        });
    }

    /// Starts a re-verification election of `peer` with a channel straight to it.
    fn start_check(&mut self, now: u64, peer: PeerId) {
        let Some(contact) = self.elected.get(&peer).map(|p| p.contact.clone()) else {
            return;
        };
        // Provisional: a start that fails must not leave the peer due (the
        // outcome of a real challenge overrides it).
        if let Some(p) = self.elected.get_mut(&peer) {
            p.health.due_at = now.saturating_add(self.config.recheck_ms);
        }
        let second = self.second_witness(&peer);
        // A token both challenged peers (and this node) store: halfway
        // between the two, or between this node and the peer alone.
        let token = self.token_near(&peer);
        match token {
            Some(t) => {
                let direct = std::iter::once(contact).chain(second).collect();
                self.start_election(now, t, ElectionPurpose::Reverify(peer), direct);
            }
            None => self.no_token(),
        }
    }

    /// Opens the channel straight to `hop` of `token`'s election and records
    /// the challenge. Returns whether it was opened.
    pub(super) fn open_direct(&mut self, now: u64, token: TokenId, hop: Contact<A>, primary: bool) -> bool {
        let Some(ticket) = self.open_channel_to(now, token, hop.clone()) else {
            return false;
        };
        if let Some(p) = self.elected.get_mut(&hop.id) {
            p.health.challenged(now);
        }
        self.checks.insert(
            ticket,
            DirectCheck {
                token,
                primary,
                peer: hop.id,
                addr: hop.addr,
                sent_at: now,
                replied: false,
                answered: false,
            },
        );
        true
    }

    /// Whether `ticket` is `token`'s direct challenge and `sender`, at `from`,
    /// the peer challenged at the address asked.
    pub(super) fn is_direct_channel(&self, ticket: &MessageTicket, sender: &PeerId, from: &A) -> bool {
        self.checks
            .get(ticket)
            .is_some_and(|c| c.peer == *sender && c.addr == *from)
    }

    /// A reply (answer, relayed answer or referral) for `ticket` came from
    /// `sender` at `from`: if it is a direct challenge's channel and the
    /// challenged peer at the address asked, the peer is there.
    pub(super) fn note_direct_reply(&mut self, ticket: &MessageTicket, sender: &PeerId, from: &A) {
        if let Some(c) = self.checks.get_mut(ticket) {
            if c.peer == *sender && c.addr == *from {
                c.replied = true;
            }
        }
    }

    /// `peer`, an elected peer, answered one of our channels itself as its
    /// first hop: evidence. `shared` is what the answer shares with our own
    /// walk (`None`: it does not verify, or contradicts an earlier answer).
    pub(super) fn observe(&mut self, now: u64, ticket: &MessageTicket, peer: PeerId, shared: Option<usize>) {
        let obs = shared.map_or(Observation::Invalid, Observation::Shared);
        if let Some(c) = self.checks.get_mut(ticket) {
            if c.peer == peer {
                c.answered = true;
            }
        }
        let Some(p) = self.elected.get_mut(&peer) else {
            return;
        };
        let verdict = p.health.observe(obs);
        if p.health.suspect() {
            p.health.due_at = p.health.due_at.min(now.saturating_add(self.config.recheck_ms));
        }
        if verdict == Verdict::Misaligned {
            self.evict(now, peer, EvictionReason::Misaligned);
        }
    }

    /// `token`'s election ended: settles its direct challenges.
    pub(super) fn settle_check(&mut self, now: u64, token: &TokenId) {
        let tickets: Vec<MessageTicket> = self
            .checks
            .iter()
            .filter(|(_, c)| c.token == *token)
            .map(|(t, _)| *t)
            .collect();
        for t in tickets {
            if let Some(c) = self.checks.remove(&t) {
                self.settle_one(now, c);
            }
        }
        crate::mem::release_if_empty(&mut self.checks);
    }

    fn settle_one(&mut self, now: u64, c: DirectCheck<A>) {
        let (period, recheck, limit) = (
            self.config.reverify_period_ms,
            self.config.recheck_ms,
            self.config.departed_after_misses,
        );
        let timeout = self.config.channel_timeout_ms;
        let Some(p) = self.elected.get_mut(&c.peer) else {
            return;
        };
        let h = &mut p.health;
        let mut verdict = Verdict::Undecided;
        if c.replied {
            h.replied();
            if c.answered {
                h.verified_at = now;
            }
        } else if now >= c.sent_at.saturating_add(timeout) {
            verdict = h.missed(limit);
        }
        // A full period after a clean answer; soon when the evidence leans
        // against it (another token: a random suffix each time); half a
        // period when it told nothing (it did not hold the token, or was
        // silent: whether it is still there is for the liveness pings).
        h.due_at = if h.score_milli > 0 {
            now.saturating_add(recheck)
        } else if c.answered {
            now.saturating_add(period)
        } else {
            now.saturating_add(period / 2)
        };
        if verdict == Verdict::Departed {
            self.evict(now, c.peer, EvictionReason::Departed);
        }
    }

    /// Takes `peer` out of the table and tells the host why.
    pub(super) fn evict(&mut self, now: u64, peer: PeerId, reason: EvictionReason) {
        if self.elected.remove(&peer).is_none() {
            return;
        }
        if reason == EvictionReason::Misaligned {
            if self.banned.len() >= BANNED_CAP {
                self.banned.pop_front();
            }
            // Six periods (an hour by default): long enough that a peer that
            // keeps winning the odd election does not cycle back into the table.
            self.banned.push_back((
                peer,
                now.saturating_add(self.config.reverify_period_ms.saturating_mul(6)),
            ));
        }
        self.emit(Event::PeerEvicted { peer, reason });
    }

    /// Whether `peer` was evicted as misaligned less than six periods ago.
    pub(super) fn is_banned(&self, peer: &PeerId, now: u64) -> bool {
        self.banned.iter().any(|(p, until)| p == peer && *until > now)
    }

    /// A stored token halfway between `peer` and this node (both stores
    /// hold their arc around their own id, so the midpoint is where both
    /// walks stay inside them), found walking from the midpoint toward this
    /// node, with a random suffix so repeated challenges use different tokens
    /// (a cached answer is no use).
    fn token_near(&mut self, peer: &PeerId) -> Option<TokenId> {
        self.token_toward(peer, Aim::Midpoint)
    }

    /// A stored token at or next to `point` on this node's side, with a
    /// random suffix.
    fn token_from(&mut self, point: &TokenId) -> Option<TokenId> {
        let me = TokenId::new(*self.me.id.as_bytes());
        let s = self.rng.below(SUFFIX_SPACE as u64) as u16;
        let toward_me_ccw =
            crate::id::clockwise_distance(&me, point) <= crate::id::counter_clockwise_distance(&me, point);
        let m = if toward_me_ccw {
            self.store.prev_with_suffix(point, s)
        } else {
            self.store.next_with_suffix(point, s)
        };
        m.map(|m| m.id)
    }

    /// A stored token on the way from `peer` to this node, found walking
    /// toward this node from `aim`'s point, with a random suffix.
    fn token_toward(&mut self, peer: &PeerId, aim: Aim) -> Option<TokenId> {
        let me = TokenId::new(*self.me.id.as_bytes());
        let them = TokenId::new(*peer.as_bytes());
        let point = match aim {
            Aim::AtPeer => them,
            Aim::Midpoint => {
                let cw = crate::id::clockwise_distance(&me, &them);
                let ccw = crate::id::counter_clockwise_distance(&me, &them);
                if cw <= ccw {
                    me.add(&half(&cw))
                } else {
                    me.sub(&half(&ccw))
                }
            }
        };
        self.token_from(&point)
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
        self.token_from(&point)
            .or_else(|| self.store.lookup(&point).map(|_| point))
    }
}

/// Where on the arc between this node and a peer a token is sought.
#[derive(Clone, Copy)]
enum Aim {
    /// Halfway: both stores hold their arc around their own id, so both
    /// walks stay inside them (direct challenges).
    Midpoint,
    /// Just on this node's side of the peer: the peer is then the responder
    /// nearest the token, the likely winner (discovery aimed at a contact).
    AtPeer,
}

/// Half a distance (rounded down).
fn half(d: &Distance) -> Distance {
    let mut out = [0u8; 32];
    let mut carry = 0u8;
    for (o, b) in out.iter_mut().zip(d.0.iter()) {
        *o = (b >> 1) | carry;
        carry = (b & 1) << 7;
    }
    Distance(out)
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
