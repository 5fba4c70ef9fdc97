//! Known contacts: a bounded map from peer id to address, with reputation.

use crate::id::{clockwise_distance, counter_clockwise_distance, ring_distance, PeerId, RingPoint};
use crate::wire::{Address, Contact};
use core::ops::Bound::{Excluded, Unbounded};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What this node has observed of a peer's behaviour in its own elections.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reputation {
    /// Valid answers the peer gave in this node's elections.
    pub participated: u32,
    /// Elections the peer won.
    pub won: u32,
    /// Sum of the peer's average agreement with its cluster, in tenths (for the mean).
    pub agreement_tenths: u32,
    /// Invalid signatures or conflicting answers attributed to the peer.
    pub strikes: u32,
}

impl Reputation {
    /// A single comparable score: higher is better. Strikes weigh heavily.
    pub fn score(&self) -> i64 {
        i64::from(self.participated) + 2 * i64::from(self.won) - 8 * i64::from(self.strikes)
    }
}

#[derive(Clone, Debug)]
pub(crate) struct ContactInfo<A> {
    pub addr: A,
    pub last_seen_ms: u64,
    pub reputation: Reputation,
}

/// Bounded contact table. Admission when full replaces the longest-silent
/// contact, and only if it has been silent for `stale_ms`: a flood of new ids
/// cannot push out contacts that are in active use.
#[derive(Clone, Debug)]
pub(crate) struct ContactTable<A> {
    map: BTreeMap<PeerId, ContactInfo<A>>,
    cap: usize,
    stale_ms: u64,
}

impl<A: Address> ContactTable<A> {
    pub fn new(cap: usize, stale_ms: u64) -> Self {
        Self {
            map: BTreeMap::new(),
            cap,
            stale_ms,
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn get(&self, id: &PeerId) -> Option<&ContactInfo<A>> {
        self.map.get(id)
    }

    pub fn addr_of(&self, id: &PeerId) -> Option<A> {
        self.map.get(id).map(|c| c.addr.clone())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&PeerId, &ContactInfo<A>)> {
        self.map.iter()
    }

    /// Records that `id` is reachable at `addr` (seen now). Returns whether it is
    /// in the table afterwards.
    pub fn observe(&mut self, me: &PeerId, id: PeerId, addr: A, now_ms: u64) -> bool {
        if id == *me {
            return false;
        }
        if let Some(c) = self.map.get_mut(&id) {
            c.addr = addr;
            c.last_seen_ms = c.last_seen_ms.max(now_ms);
            return true;
        }
        if self.map.len() >= self.cap {
            let victim = self
                .map
                .iter()
                .filter(|(_, c)| now_ms.saturating_sub(c.last_seen_ms) >= self.stale_ms)
                .min_by_key(|(id, c)| (c.last_seen_ms, c.reputation.score(), **id))
                .map(|(id, _)| *id);
            match victim {
                Some(v) => {
                    self.map.remove(&v);
                }
                None => return false,
            }
        }
        self.map.insert(
            id,
            ContactInfo {
                addr,
                last_seen_ms: now_ms,
                reputation: Reputation::default(),
            },
        );
        true
    }

    pub fn reputation_mut(&mut self, id: &PeerId) -> Option<&mut Reputation> {
        self.map.get_mut(id).map(|c| &mut c.reputation)
    }

    /// The contact closest to `point` (by ring distance) among those `allowed`.
    pub fn closest_to(
        &self,
        point: &impl RingPoint,
        mut allowed: impl FnMut(&PeerId, &ContactInfo<A>) -> bool,
    ) -> Option<Contact<A>> {
        // Walk outward from the point in both directions, merging by distance;
        // stops at the first allowed contact on each side, so typically O(log n).
        let key = PeerId::new(*point.ring_bytes());
        let cw = self.map.range(key..).chain(self.map.range(..key));
        let best_cw = cw
            .take(self.map.len())
            .find(|(id, c)| allowed(id, c))
            .map(|(id, c)| (clockwise_distance(point, id), *id, c.addr.clone()));
        let ccw = self.map.range(..key).rev().chain(self.map.range(key..).rev());
        let best_ccw = ccw
            .take(self.map.len())
            .find(|(id, c)| allowed(id, c))
            .map(|(id, c)| (counter_clockwise_distance(point, id), *id, c.addr.clone()));
        [best_cw, best_ccw]
            .into_iter()
            .flatten()
            .min_by_key(|(d, id, _)| (*d, *id))
            .map(|(_, id, addr)| Contact { id, addr })
    }

    /// Nearest allowed contact strictly clockwise of `point` (wrapping), and nearest
    /// strictly counter-clockwise.
    pub fn neighbours(
        &self,
        point: &impl RingPoint,
        mut allowed: impl FnMut(&PeerId) -> bool,
    ) -> (Option<Contact<A>>, Option<Contact<A>>) {
        let key = PeerId::new(*point.ring_bytes());
        let high = self
            .map
            .range((Excluded(key), Unbounded))
            .chain(self.map.range(..=key))
            .find(|(id, _)| **id != key && allowed(id))
            .map(|(id, c)| Contact {
                id: *id,
                addr: c.addr.clone(),
            });
        let low = self
            .map
            .range(..key)
            .rev()
            .chain(self.map.range(key..).rev())
            .find(|(id, _)| **id != key && allowed(id))
            .map(|(id, c)| Contact {
                id: *id,
                addr: c.addr.clone(),
            });
        (high, low)
    }

    /// Up to `n` contacts for first hops of an election on `point`: alternately the
    /// nearest unused contact clockwise and counter-clockwise of the point, so
    /// routes start on both sides of the token and never repeat a peer. Peers
    /// with strikes are passed over entirely, and used (nearest first) only when
    /// too few clean ones remain.
    pub fn first_hops(
        &self,
        point: &impl RingPoint,
        n: usize,
        mut usable: impl FnMut(&PeerId) -> bool,
    ) -> Vec<Contact<A>> {
        let key = PeerId::new(*point.ring_bytes());
        let clean = |c: &ContactInfo<A>| c.reputation.strikes == 0;
        let cw: Vec<(PeerId, A)> = self
            .map
            .range(key..)
            .chain(self.map.range(..key))
            .filter(|(id, c)| clean(c) && usable(id))
            .map(|(id, c)| (*id, c.addr.clone()))
            .collect();
        let ccw: Vec<(PeerId, A)> = self
            .map
            .range(..key)
            .rev()
            .chain(self.map.range(key..).rev())
            .filter(|(id, c)| clean(c) && usable(id))
            .map(|(id, c)| (*id, c.addr.clone()))
            .collect();
        let mut sides = [cw.into_iter(), ccw.into_iter()];
        let mut picked: Vec<Contact<A>> = Vec::with_capacity(n);
        let mut side = 0;
        let mut exhausted = [false; 2];
        while picked.len() < n && !(exhausted[0] && exhausted[1]) {
            match sides[side].next() {
                Some((id, addr)) => {
                    if !picked.iter().any(|p| p.id == id) {
                        picked.push(Contact { id, addr });
                    }
                }
                None => exhausted[side] = true,
            }
            side ^= 1;
        }
        if picked.len() < n {
            // Fall back to struck-off peers rather than run no election at all.
            let mut rest: Vec<(PeerId, A)> = self
                .map
                .iter()
                .filter(|(id, c)| !clean(c) && usable(id))
                .map(|(id, c)| (*id, c.addr.clone()))
                .collect();
            rest.sort_by_key(|(id, _)| (ring_distance(point, id), *id));
            for (id, addr) in rest {
                if picked.len() >= n {
                    break;
                }
                picked.push(Contact { id, addr });
            }
        }
        picked
    }
}
