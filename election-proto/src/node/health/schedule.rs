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
//! test ([`super::evidence`]); any reply from P on that channel shows it is
//! there; silence until the channel timeout is a miss. After the election P
//! is due again a full period later, or after `recheck_ms` if the evidence
//! leans against it or the challenge told nothing (P did not hold the token).

use super::peers::ElectedPeers;
use super::{Health, Membership};
use crate::election::MessageTicket;
use crate::id::{Distance, PeerId, TokenId, SUFFIX_SPACE};
use crate::node::io::Cx;
use crate::node::membership::contacts::ContactTable;
use crate::node::NodeConfig;
use crate::store::TokenStore;
use crate::wire::{Address, Contact};

/// Most direct challenges running at once outside the slots.
pub(crate) const MAX_CHECKS: usize = 2;

/// Longest doubling of the burst interval counted (far beyond any
/// `election_interval_ms / burst_interval_ms` in use).
const MAX_BURST_DOUBLINGS: u32 = 16;

/// Score from which a peer is challenged again at once rather than at the
/// next slot: one answer whose possession proof matched 12 steps or fewer, or
/// two or three weak ones (an honest peer's answers match fewer than 19 steps
/// about 2 % of the time; see `agreement -- 20000 --peers`).
const URGENT_SCORE: i32 = super::evidence::LLR_BY_SHARED[0] - 100;

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

impl<A: Address> Health<A> {
    /// The interval of the slot that follows now: `burst_interval_ms` while
    /// the table is below its target, doubled for each burst discovery since
    /// the last new peer (the one just started aside), never beyond
    /// `election_interval_ms`. A joiner that knows its neighbours fills its
    /// table at the burst rate; a node whose discoveries keep re-electing
    /// the peers it has (a whole network starting at once, a minority ledger
    /// version, a tiny network) settles to the interval within a few slots
    /// instead of electing every two seconds for nothing.
    pub(super) fn slot_interval(&self, config: &NodeConfig) -> u64 {
        let interval = config.health.election_interval_ms;
        if self.elected.len() >= config.health.target_elected_peers {
            return interval;
        }
        let doublings = self.burst_fruitless.saturating_sub(1).min(MAX_BURST_DOUBLINGS);
        config
            .health
            .burst_interval_ms
            .saturating_mul(1u64 << doublings)
            .min(interval)
    }

    /// When the next slot comes, if scheduled.
    pub(crate) fn next_slot(&self) -> Option<u64> {
        self.next_election_at
    }

    /// The peer due first that is not being challenged already, and when.
    pub(super) fn earliest_due(&self) -> Option<(PeerId, u64)> {
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
    pub(super) fn earliest_overdue(&self, config: &NodeConfig) -> Option<(PeerId, u64)> {
        let checks = &self.checks;
        let grace = config.health.election_interval_ms;
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
    pub(super) fn check_elections(&self) -> usize {
        self.checks.values().filter(|c| c.primary).count()
    }

    /// The second direct challenge of `peer`'s election: the elected peer
    /// contacted longest ago (see [`super::liveness`]). A challenge is also
    /// a liveness contact, so taking the peer whose ping is due first spares
    /// that ping, and each slot advances two peers' contact schedules.
    pub(super) fn second_witness(
        &self,
        config: &NodeConfig,
        membership: &Membership<A>,
        peer: &PeerId,
    ) -> Option<Contact<A>> {
        let (_, id) = self.least_recently_contacted(config, membership, Some(peer))?;
        self.elected.get(&id).map(|p| p.contact.clone())
    }

    /// When an overdue peer's challenge can next start outside the slots, if
    /// one could start at all now.
    pub(crate) fn next_check_due(&self, config: &NodeConfig, active_elections: usize) -> Option<u64> {
        if self.check_elections() >= MAX_CHECKS || active_elections >= config.elections.max_active_elections {
            return None;
        }
        self.earliest_overdue(config).map(|(_, at)| at)
    }

    /// Whether `ticket` is a direct challenge's channel and `sender`, at
    /// `from`, the peer challenged at the address asked.
    pub(crate) fn is_direct_channel(&self, ticket: &MessageTicket, sender: &PeerId, from: &A) -> bool {
        self.checks
            .get(ticket)
            .is_some_and(|c| c.peer == *sender && c.addr == *from)
    }

    /// Whether `peer` was evicted as misaligned less than six periods ago.
    pub(super) fn is_banned(&self, peer: &PeerId, now: u64) -> bool {
        self.banned.iter().any(|(p, until)| p == peer && *until > now)
    }
}

/// A token just on this node's side of a near contact not elected yet,
/// where that contact would be the responder nearest the token (so it is
/// the likely winner, a new peer). Candidates are the `2 × target`
/// contacts nearest this node, tried in random order; one whose token
/// lies nearer an elected peer (the contact is beyond the arc this node
/// stores, so the walk back lands at the arc's edge and re-elects whoever
/// sits there) is skipped. `None` if no candidate qualifies.
pub(super) fn burst_token<A: Address, S: TokenStore>(
    cx: &mut Cx<'_, A>,
    store: &S,
    contacts: &ContactTable<A>,
    elected: &ElectedPeers<A>,
) -> Option<TokenId> {
    let me = cx.me.id;
    let mut near = contacts.first_hops(
        &me,
        cx.config.health.target_elected_peers.saturating_mul(2).max(1),
        |id| *id != me && !elected.contains(id),
    );
    while !near.is_empty() {
        let pick = near.swap_remove(cx.rng.below(near.len() as u64) as usize).id;
        let Some(token) = token_toward(cx, store, &pick, Aim::AtPeer) else {
            continue;
        };
        let d = crate::id::ring_distance(&token, &pick);
        let nearer_peer = elected
            .iter()
            .any(|p| crate::id::ring_distance(&token, &p.contact.id) < d);
        if !nearer_peer {
            return Some(token);
        }
    }
    None
}

/// A stored token halfway between `peer` and this node (both stores
/// hold their arc around their own id, so the midpoint is where both
/// walks stay inside them), found walking from the midpoint toward this
/// node, with a random suffix so repeated challenges use different tokens
/// (a cached answer is no use).
pub(super) fn token_near<A: Address, S: TokenStore>(
    cx: &mut Cx<'_, A>,
    store: &S,
    peer: &PeerId,
) -> Option<TokenId> {
    token_toward(cx, store, peer, Aim::Midpoint)
}

/// A stored token at or next to `point` on this node's side, with a
/// random suffix.
fn token_from<A: Address, S: TokenStore>(cx: &mut Cx<'_, A>, store: &S, point: &TokenId) -> Option<TokenId> {
    let me = TokenId::new(*cx.me.id.as_bytes());
    let s = cx.rng.below(SUFFIX_SPACE as u64) as u16;
    let toward_me_ccw =
        crate::id::clockwise_distance(&me, point) <= crate::id::counter_clockwise_distance(&me, point);
    let m = if toward_me_ccw {
        store.prev_with_suffix(point, s)
    } else {
        store.next_with_suffix(point, s)
    };
    m.map(|m| m.id)
}

/// A stored token on the way from `peer` to this node, found walking
/// toward this node from `aim`'s point, with a random suffix.
fn token_toward<A: Address, S: TokenStore>(
    cx: &mut Cx<'_, A>,
    store: &S,
    peer: &PeerId,
    aim: Aim,
) -> Option<TokenId> {
    let me = TokenId::new(*cx.me.id.as_bytes());
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
    token_from(cx, store, &point)
}

/// A stored token for discovery: half the time inside the widest arc between
/// elected peers (the worst-covered area), otherwise at a random distance from
/// this node (log-uniform, so near and far are both explored). The search
/// walks from that point toward this node, so it lands in the part of the
/// ledger this node holds.
pub(super) fn discovery_token<A: Address, S: TokenStore>(
    cx: &mut Cx<'_, A>,
    store: &S,
    elected: &ElectedPeers<A>,
) -> Option<TokenId> {
    let me = TokenId::new(*cx.me.id.as_bytes());
    let gap = if cx.rng.coin() {
        elected.largest_gap()
    } else {
        None
    };
    let point = match gap {
        Some((start, len)) => {
            let mut d = [0u8; 32];
            cx.rng.fill(&mut d);
            let off = scale(&d, &len);
            TokenId::new(*start.as_bytes()).add(&off)
        }
        None => {
            let bits = cx.rng.below(256) as usize;
            let mut d = [0u8; 32];
            cx.rng.fill(&mut d);
            mask_to_bits(&mut d, bits);
            let off = Distance(d);
            if cx.rng.coin() {
                me.add(&off)
            } else {
                me.sub(&off)
            }
        }
    };
    token_from(cx, store, &point).or_else(|| store.lookup(&point).map(|_| point))
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
