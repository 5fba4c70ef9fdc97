//! Health of the elected-peer table (docs/PROTOCOL.md §9): the table itself
//! ([`peers`]), the evidence about each peer ([`evidence`]), the slots that
//! schedule elections and the direct challenges that re-verify peers
//! ([`schedule`]), the liveness pings between them ([`liveness`]), and the
//! peers banned after a misaligned eviction.
//!
//! [`Health`] owns all of that state; every write to it is in this file
//! (the other files of the folder only read it, or hold pure helpers). It
//! sends nothing itself: it tells the node which election to start, which
//! peer to ping and which peer it evicted, and the node carries that out.

mod evidence;
mod liveness;
mod peers;
mod schedule;

pub use evidence::{
    Observation, PeerHealth, PeerState, LLR_BY_SHARED, LLR_CONFIRMED, LLR_INVALID, LLR_MISALIGNED,
};
pub(crate) use peers::Recorded;
pub use peers::{ElectedPeer, PeerSnapshot, SNAPSHOT_VERSION};
pub(super) use schedule::MAX_CHECKS;

use super::io::Cx;
use super::membership::contacts::ContactTable;
use super::membership::Membership;
use super::{EvictionReason, NodeConfig};
use crate::election::MessageTicket;
use crate::id::{PeerId, TokenId};
use crate::mem::release_if_empty;
use crate::store::TokenStore;
use crate::wire::{Address, Contact};
use evidence::Verdict;
use peers::ElectedPeers;
use schedule::{DirectCheck, BANNED_CAP};
use std::collections::{BTreeMap, VecDeque};

/// What the slot that just came is for.
#[derive(Debug)]
pub(super) enum Slot {
    /// Re-verify this elected peer (see [`Health::plan_check`]).
    Check(PeerId),
    /// Discovery on this token.
    Discover(TokenId),
    /// Discovery, but this node stores no token to challenge.
    NoToken,
    /// Nothing this time (no contacts, or the most elections are running).
    Skip,
}

/// A re-verification election, planned.
#[derive(Debug)]
pub(super) enum Check<A> {
    /// Start it on `token`, with channels straight to `direct` (the peer first).
    Start { token: TokenId, direct: Vec<Contact<A>> },
    /// This node stores no token to challenge it on.
    NoToken,
    /// The peer is no longer in the table.
    Gone,
}

/// The elected peers, their evidence and the schedule (see the module docs).
#[derive(Debug)]
pub(super) struct Health<A> {
    elected: ElectedPeers<A>,
    /// Running direct challenges of elected peers, by channel ticket.
    checks: BTreeMap<MessageTicket, DirectCheck<A>>,
    /// Peers evicted as misaligned and until when they may not re-enter (at
    /// most [`BANNED_CAP`], oldest dropped first).
    banned: VecDeque<(PeerId, u64)>,
    /// The next scheduled slot (`None` before start and after shutdown).
    next_election_at: Option<u64>,
    /// Burst discoveries since the table last gained a peer (each doubles the
    /// burst interval, see [`Health::slot_interval`]).
    burst_fruitless: u32,
}

impl<A: Address> Health<A> {
    pub(super) fn new(config: &NodeConfig) -> Self {
        Self {
            elected: ElectedPeers::new(config.health.max_elected_peers),
            checks: BTreeMap::new(),
            banned: VecDeque::new(),
            next_election_at: None,
            burst_fruitless: 0,
        }
    }

    /// Elected peers, in id order.
    pub(super) fn peers(&self) -> impl Iterator<Item = &ElectedPeer<A>> {
        self.elected.iter()
    }

    /// The entry for `peer`, if it is elected.
    pub(super) fn peer(&self, peer: &PeerId) -> Option<&ElectedPeer<A>> {
        self.elected.get(peer)
    }

    /// How many peers are elected.
    pub(super) fn len(&self) -> usize {
        self.elected.len()
    }

    /// Restores a peer from a snapshot: on probation and due now. Returns
    /// whether it fit.
    pub(super) fn restore(&mut self, now: u64, mut p: ElectedPeer<A>) -> bool {
        p.health.restored(now);
        self.elected.restore(p)
    }

    /// Stops scheduling (shutdown).
    pub(super) fn stop(&mut self) {
        self.next_election_at = None;
        self.checks.clear();
    }

    /// The first slot after start: somewhere within the first interval, so
    /// nodes started together do not all elect at once.
    pub(super) fn first_slot(&mut self, cx: &mut Cx<'_, A>, now: u64) {
        let first = cx.rng.below(self.slot_interval(cx.config).max(1));
        self.next_election_at = Some(now.saturating_add(first));
    }

    /// Whether the slot is due; if so, the next one is scheduled.
    pub(super) fn take_slot(&mut self, cx: &mut Cx<'_, A>, now: u64) -> bool {
        if self.next_election_at.is_none_or(|at| at > now) {
            return false;
        }
        let base = self.slot_interval(cx.config);
        let spread = base.saturating_mul(u64::from(cx.config.health.election_jitter_percent)) / 100;
        let low = base.saturating_sub(spread).max(1);
        let wait = low.saturating_add(cx.rng.below(spread.saturating_mul(2).saturating_add(1)));
        self.next_election_at = Some(now.saturating_add(wait));
        true
    }

    /// The slot's election. At or above the target: the earliest-due peer's
    /// challenge, due or not (early re-verification costs nothing extra: the
    /// slot runs anyway). Below it: that challenge if it is due before the
    /// next slot, else discovery, half the time aimed at a near contact not
    /// yet elected (skipped, not failed, while the node knows no contact or
    /// is running its most elections).
    pub(super) fn plan_slot<S: TokenStore>(
        &mut self,
        cx: &mut Cx<'_, A>,
        store: &S,
        contacts: &ContactTable<A>,
        active_elections: usize,
        now: u64,
    ) -> Slot {
        let horizon = now.saturating_add(self.slot_interval(cx.config));
        let below = self.elected.len() < cx.config.health.target_elected_peers;
        if let Some((peer, at)) = self.earliest_due() {
            if !below || at <= horizon {
                return Slot::Check(peer);
            }
        }
        if active_elections >= cx.config.elections.max_active_elections || contacts.len() == 0 {
            return Slot::Skip;
        }
        // Below the target, discovery aims at a near contact not elected yet
        // while one qualifies, then goes where discovery always goes (the
        // widest gap, a random distance).
        let aimed = if below {
            schedule::burst_token(cx, store, contacts, &self.elected)
        } else {
            None
        };
        let token = aimed.or_else(|| schedule::discovery_token(cx, store, &self.elected));
        if below {
            self.burst_fruitless = self.burst_fruitless.saturating_add(1);
        }
        token.map_or(Slot::NoToken, Slot::Discover)
    }

    /// Plans a re-verification election of `peer` with a channel straight
    /// to it, and to the elected peer contacted longest ago beside it.
    pub(super) fn plan_check<S: TokenStore>(
        &mut self,
        cx: &mut Cx<'_, A>,
        store: &S,
        membership: &Membership<A>,
        now: u64,
        peer: PeerId,
    ) -> Check<A> {
        let recheck = cx.config.health.recheck_ms;
        let Some(p) = self.elected.get_mut(&peer) else {
            return Check::Gone;
        };
        let contact = p.contact.clone();
        // Provisional: a start that fails must not leave the peer due (the
        // outcome of a real challenge overrides it).
        p.health.due_at = now.saturating_add(recheck);
        let second = self.second_witness(cx.config, membership, &peer);
        // A token both challenged peers (and this node) store: halfway
        // between the two, or between this node and the peer alone.
        match schedule::token_near(cx, store, &peer) {
            Some(token) => Check::Start {
                token,
                direct: std::iter::once(contact).chain(second).collect(),
            },
            None => Check::NoToken,
        }
    }

    /// The channel straight to `hop` of `token`'s election was opened with
    /// `ticket`: records the challenge.
    pub(super) fn challenge_sent(
        &mut self,
        now: u64,
        ticket: MessageTicket,
        token: TokenId,
        hop: Contact<A>,
        primary: bool,
    ) {
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
    /// Returns whether the evidence evicted it as misaligned.
    pub(super) fn observe(
        &mut self,
        config: &NodeConfig,
        now: u64,
        ticket: &MessageTicket,
        peer: PeerId,
        shared: Option<usize>,
    ) -> bool {
        let obs = shared.map_or(Observation::Invalid, Observation::Shared);
        if let Some(c) = self.checks.get_mut(ticket) {
            if c.peer == peer {
                c.answered = true;
            }
        }
        let Some(p) = self.elected.get_mut(&peer) else {
            return false;
        };
        let verdict = p.health.observe(obs);
        if p.health.suspect() {
            p.health.due_at = p.health.due_at.min(now.saturating_add(config.health.recheck_ms));
        }
        verdict == Verdict::Misaligned && self.evict(config, now, peer, EvictionReason::Misaligned)
    }

    /// `token`'s election ended: settles its direct challenges. Returns the
    /// peers evicted as departed, in ticket order.
    pub(super) fn settle(&mut self, config: &NodeConfig, now: u64, token: &TokenId) -> Vec<PeerId> {
        let tickets: Vec<MessageTicket> = self
            .checks
            .iter()
            .filter(|(_, c)| c.token == *token)
            .map(|(t, _)| *t)
            .collect();
        let mut departed = Vec::new();
        for t in tickets {
            if let Some(c) = self.checks.remove(&t) {
                let peer = c.peer;
                if self.settle_one(config, now, c) {
                    departed.push(peer);
                }
            }
        }
        release_if_empty(&mut self.checks);
        departed
    }

    /// Settles one direct challenge. Returns whether the peer was evicted as departed.
    fn settle_one(&mut self, config: &NodeConfig, now: u64, c: DirectCheck<A>) -> bool {
        let (period, recheck, limit) = (
            config.health.reverify_period_ms,
            config.health.recheck_ms,
            config.health.departed_after_misses,
        );
        let timeout = config.elections.channel_timeout_ms;
        let Some(p) = self.elected.get_mut(&c.peer) else {
            return false;
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
        verdict == Verdict::Departed && self.evict(config, now, c.peer, EvictionReason::Departed)
    }

    /// Whether a direct challenge belongs to `token`'s election.
    pub(super) fn has_check(&self, token: &TokenId) -> bool {
        self.checks.values().any(|c| c.token == *token)
    }

    /// Takes `peer` out of the table (a misaligned peer is banned for six
    /// periods). Returns whether it was there; the caller tells the host.
    pub(super) fn evict(
        &mut self,
        config: &NodeConfig,
        now: u64,
        peer: PeerId,
        reason: EvictionReason,
    ) -> bool {
        if self.elected.remove(&peer).is_none() {
            return false;
        }
        if reason == EvictionReason::Misaligned {
            if self.banned.len() >= BANNED_CAP {
                self.banned.pop_front();
            }
            // Six periods (an hour by default): long enough that a peer that
            // keeps winning the odd election does not cycle back into the table.
            self.banned.push_back((
                peer,
                now.saturating_add(config.health.reverify_period_ms.saturating_mul(6)),
            ));
        }
        true
    }

    /// An election `token` elected `winner`. A peer evicted as misaligned
    /// does not come back for a while: another version still wins the odd
    /// election (it shares ≥ 1 mapping half the time). A direct challenge
    /// (`was_check`) is about its peer: someone else winning it joins the
    /// table only while the table is below its target (discovery fills the
    /// rest), so challenges do not grow the table they have to cover.
    /// Returns what the table did, `None` if the winner was not recorded.
    pub(super) fn elect(
        &mut self,
        config: &NodeConfig,
        now: u64,
        winner: Contact<A>,
        token: TokenId,
        was_check: bool,
    ) -> Option<Recorded> {
        let incidental = was_check
            && !self.elected.contains(&winner.id)
            && self.elected.len() >= config.health.target_elected_peers;
        if incidental || self.is_banned(&winner.id, now) {
            return None;
        }
        // A new peer is on probation: its first direct challenge comes soon
        // (at the next slot once the table is at its target).
        let due = now.saturating_add(config.health.recheck_ms);
        let recorded = self.elected.record(winner, token, now, due);
        if recorded == Recorded::Added {
            self.burst_fruitless = 0;
        }
        Some(recorded)
    }

    /// The next overdue challenge that may start now, if any (see
    /// [`Self::next_check_due`]).
    pub(super) fn overdue_check(
        &self,
        config: &NodeConfig,
        active_elections: usize,
        now: u64,
    ) -> Option<PeerId> {
        if self.check_elections() >= MAX_CHECKS || active_elections >= config.elections.max_active_elections {
            return None;
        }
        match self.earliest_overdue(config) {
            Some((peer, at)) if at <= now => Some(peer),
            _ => None,
        }
    }

    /// The elected peer whose liveness ping is due now, marked as pinged;
    /// `None` if none is due or the probe table is full.
    pub(super) fn take_due_ping(
        &mut self,
        config: &NodeConfig,
        membership: &Membership<A>,
        now: u64,
    ) -> Option<Contact<A>> {
        let (at, peer) = self.earliest_ping(config, membership)?;
        if at > now {
            return None;
        }
        let p = self.elected.get_mut(&peer)?;
        // Counted as contacted even if the ping could not be recorded (a
        // nonce collision): the peer is then not due again at once.
        p.health.pinged(now);
        Some(p.contact.clone())
    }

    /// An elected peer answered its liveness ping.
    pub(super) fn ponged(&mut self, peer: &PeerId) {
        if let Some(p) = self.elected.get_mut(peer) {
            p.health.ponged();
        }
    }

    /// An elected peer left its liveness ping unanswered. Returns whether
    /// that evicted it as departed.
    pub(super) fn ping_lost(&mut self, config: &NodeConfig, now: u64, peer: &PeerId) -> bool {
        let Some(p) = self.elected.get_mut(peer) else {
            return false;
        };
        p.health.missed(config.health.departed_after_misses) == Verdict::Departed
            && self.evict(config, now, *peer, EvictionReason::Departed)
    }
}
