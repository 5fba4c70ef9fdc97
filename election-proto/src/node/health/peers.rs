//! The elected-peer table: winners of this node's elections, bounded, with
//! eviction, and the evidence about each (see [`super::evidence`]).

use super::evidence::PeerHealth;
use crate::id::{clockwise_distance, Distance, PeerId, TokenId};
use crate::wire::{Address, Contact};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One elected peer and its election history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ElectedPeer<A> {
    /// The peer and where to reach it.
    pub contact: Contact<A>,
    /// When it first entered the table.
    pub elected_at: u64,
    /// When it last won an election.
    pub last_election: u64,
    /// How many elections it has won while in the table.
    pub election_count: u32,
    /// The token of its most recent winning election.
    pub challenge_token: TokenId,
    /// Evidence about it, its state and when it is next challenged. Snapshots
    /// of version 1 have none: such peers load on probation with no evidence.
    #[serde(default)]
    pub health: PeerHealth,
}

/// Outcome of recording a winner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Recorded {
    /// Already present; its history was updated.
    Reelected,
    /// New, and there was room.
    Added,
    /// New, and this peer was evicted to make room.
    AddedEvicting(PeerId),
}

/// Bounded table of elected peers.
///
/// Eviction policy when full (the new winner *replaces* someone): drop the
/// peer verified longest ago (smallest `last_election`), then the one with
/// fewer wins, then the larger id. Peers that stop answering or stop agreeing
/// are evicted by their evidence long before that (see [`super::evidence`]).
#[derive(Clone, Debug)]
pub(crate) struct ElectedPeers<A> {
    map: BTreeMap<PeerId, ElectedPeer<A>>,
    cap: usize,
}

impl<A: Address> ElectedPeers<A> {
    pub fn new(cap: usize) -> Self {
        Self {
            map: BTreeMap::new(),
            cap,
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn get(&self, id: &PeerId) -> Option<&ElectedPeer<A>> {
        self.map.get(id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &ElectedPeer<A>> {
        self.map.values()
    }

    pub fn get_mut(&mut self, id: &PeerId) -> Option<&mut ElectedPeer<A>> {
        self.map.get_mut(id)
    }

    pub fn contains(&self, id: &PeerId) -> bool {
        self.map.contains_key(id)
    }

    pub fn remove(&mut self, id: &PeerId) -> Option<ElectedPeer<A>> {
        self.map.remove(id)
    }

    /// Records a winner at `now_ms`; a new entry is first challenged at `due_at`.
    pub fn record(&mut self, winner: Contact<A>, token: TokenId, now_ms: u64, due_at: u64) -> Recorded {
        if let Some(p) = self.map.get_mut(&winner.id) {
            p.contact.addr = winner.addr;
            p.last_election = now_ms;
            p.election_count = p.election_count.saturating_add(1);
            p.challenge_token = token;
            return Recorded::Reelected;
        }
        let mut evicted = None;
        if self.map.len() >= self.cap {
            evicted = self
                .map
                .values()
                .min_by_key(|p| {
                    (
                        p.last_election,
                        p.election_count,
                        core::cmp::Reverse(p.contact.id),
                    )
                })
                .map(|p| p.contact.id);
            if let Some(v) = evicted {
                self.map.remove(&v);
            }
        }
        self.map.insert(
            winner.id,
            ElectedPeer {
                contact: winner,
                elected_at: now_ms,
                last_election: now_ms,
                election_count: 1,
                challenge_token: token,
                health: PeerHealth::new(now_ms, due_at),
            },
        );
        match evicted {
            Some(v) => Recorded::AddedEvicting(v),
            None => Recorded::Added,
        }
    }

    /// The peer whose direct challenge is due first among those `eligible`
    /// (ties: smaller id): the scheduler's one order, so every peer gets its
    /// turn whatever the others do.
    pub fn earliest_due(&self, eligible: impl Fn(&PeerId) -> bool) -> Option<&ElectedPeer<A>> {
        self.map
            .values()
            .filter(|p| eligible(&p.contact.id))
            .min_by_key(|p| (p.health.due_at, p.contact.id))
    }

    /// The largest arc between consecutive elected peers (clockwise), as
    /// `(start, length)`: where discovery should look. `None` when empty.
    pub fn largest_gap(&self) -> Option<(PeerId, Distance)> {
        let ids: Vec<PeerId> = self.map.keys().copied().collect();
        let first = *ids.first()?;
        if ids.len() == 1 {
            return Some((first, Distance([0xff; 32])));
        }
        ids.iter()
            .zip(ids.iter().cycle().skip(1))
            .map(|(a, b)| (*a, clockwise_distance(a, b)))
            .max_by_key(|(a, d)| (*d, core::cmp::Reverse(*a)))
    }

    /// Inserts a restored entry if there is room; returns whether it was kept.
    pub fn restore(&mut self, p: ElectedPeer<A>) -> bool {
        if self.map.len() >= self.cap && !self.map.contains_key(&p.contact.id) {
            return false;
        }
        self.map.insert(p.contact.id, p);
        true
    }
}

/// Persistable state of a node's peer tables (see [`Node::snapshot`](crate::node::Node::snapshot)).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerSnapshot<A> {
    /// Format version of this snapshot.
    pub version: u32,
    /// Known contacts.
    pub contacts: Vec<Contact<A>>,
    /// Elected peers with their history.
    pub elected: Vec<ElectedPeer<A>>,
}

/// Current [`PeerSnapshot::version`]: 2 adds [`ElectedPeer::health`]. Version 1
/// snapshots still load (their peers start on probation with no evidence).
pub const SNAPSHOT_VERSION: u32 = 2;

#[cfg(test)]
mod tests {
    use super::*;

    fn c(n: u64) -> Contact<u32> {
        Contact {
            id: PeerId::from_u64(n),
            addr: n as u32,
        }
    }

    #[test]
    fn eviction_keeps_cap_and_drops_stalest() {
        let mut t = ElectedPeers::new(3);
        assert_eq!(t.record(c(1), TokenId::from_u64(1), 10, 0), Recorded::Added);
        assert_eq!(t.record(c(2), TokenId::from_u64(2), 20, 0), Recorded::Added);
        assert_eq!(t.record(c(3), TokenId::from_u64(3), 30, 0), Recorded::Added);
        // Re-verify peer 1: now peer 2 is stalest.
        assert_eq!(t.record(c(1), TokenId::from_u64(9), 40, 0), Recorded::Reelected);
        assert_eq!(t.get(&PeerId::from_u64(1)).unwrap().election_count, 2);
        assert_eq!(t.get(&PeerId::from_u64(1)).unwrap().elected_at, 10);
        assert_eq!(
            t.record(c(4), TokenId::from_u64(4), 50, 0),
            Recorded::AddedEvicting(PeerId::from_u64(2))
        );
        assert_eq!(t.len(), 3);
        assert!(t.get(&PeerId::from_u64(2)).is_none());
    }

    #[test]
    fn largest_gap_finds_widest_arc_including_wrap() {
        let mut t = ElectedPeers::new(8);
        for n in [10u64, 20, 100] {
            t.record(c(n), TokenId::ZERO, 0, 0);
        }
        // Gaps: 10→20 = 10, 20→100 = 80, 100→10 wraps (huge).
        let (start, len) = t.largest_gap().unwrap();
        assert_eq!(start, PeerId::from_u64(100));
        assert!(len > Distance::from_u64(80));
        let mut u = ElectedPeers::new(8);
        u.record(c(0), TokenId::ZERO, 0, 0);
        assert!(u.largest_gap().is_some());
        assert!(ElectedPeers::<u32>::new(1).largest_gap().is_none());
    }

    #[test]
    fn earliest_due_is_the_schedule_order() {
        let mut t = ElectedPeers::new(8);
        t.record(c(1), TokenId::ZERO, 0, 300);
        t.record(c(2), TokenId::ZERO, 0, 100);
        t.record(c(3), TokenId::ZERO, 0, 100);
        let first = |t: &ElectedPeers<u32>| {
            t.earliest_due(|id| *id != PeerId::from_u64(2))
                .map(|p| p.contact.id)
        };
        assert_eq!(first(&t), Some(PeerId::from_u64(3)));
        t.get_mut(&PeerId::from_u64(3)).unwrap().health.due_at = 400;
        assert_eq!(first(&t), Some(PeerId::from_u64(1)));
    }
}
