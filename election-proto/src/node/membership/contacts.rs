//! Admitted contacts: a bounded map from peer id to proven address, with
//! reputation and per-host / per-subnet caps (docs/PROTOCOL.md §9).

use super::crowds::Crowds;
use crate::id::{clockwise_distance, counter_clockwise_distance, ring_distance, Distance, PeerId, RingPoint};
use crate::wire::{Address, AddressGroups, Contact, GroupKey};
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
    /// Invalid signatures or conflicting answers attributed to the peer, and
    /// referral chains it started that led nowhere (see `dead_ends`).
    pub strikes: u32,
    /// Times, since its last strike for it, that the peer as a first hop
    /// referred us to nobody closer to the token. An honest node does that
    /// now and then (it knows nobody closer and does not hold the token);
    /// one that does it twice as often as it takes part in a cluster, plus
    /// twice, is struck.
    #[serde(default)]
    pub dead_ends: u32,
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
    /// The address's host and subnet, for the per-group caps.
    pub groups: AddressGroups,
    pub last_seen_ms: u64,
    pub reputation: Reputation,
}

/// What [`ContactTable::admit`] did with a proven contact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Admit<A> {
    /// Already in the table (its address and last-seen time are now updated).
    Known,
    /// Added.
    Added,
    /// Refused: its host or subnet already has the most contacts allowed.
    GroupFull,
    /// The table is full and no contact has been silent for `stale_ms`.
    Full,
    /// The table is full; this stale contact must fail a liveness check before
    /// the newcomer may take its place.
    CheckFirst(Contact<A>),
}

/// A host or subnet may hold one contact plus one per this many in the table
/// (see [`ContactTable::group_has_room`]): at most about 1/16 of a table.
pub(crate) const GROUP_SHARE: usize = 16;

/// A crowded subnet (see [`super::crowds`]) may hold at most one contact per
/// this many in the table, counting the newcomer: a tenth.
pub(crate) const CROWDED_SHARE: usize = 10;

/// Per-group caps: most contacts per host and per subnet.
#[derive(Clone, Copy, Debug)]
pub(crate) struct GroupCaps {
    pub per_ip: usize,
    pub per_subnet: usize,
}

/// Bounded contact table of *admitted* contacts: ids that answered this node,
/// at the address recorded, a round trip carrying a nonce (or ticket) this
/// node chose, or that the host vouched for. At most `per_ip` contacts share
/// a host and `per_subnet` a subnet. A full table replaces an entry only after
/// that entry, silent for `stale_ms`, failed a liveness check (the node runs
/// the check; see [`Admit::CheckFirst`]).
#[derive(Clone, Debug)]
pub(crate) struct ContactTable<A> {
    map: BTreeMap<PeerId, ContactInfo<A>>,
    cap: usize,
    stale_ms: u64,
    caps: GroupCaps,
    crowds: Crowds,
}

impl<A: Address> ContactTable<A> {
    pub fn new(cap: usize, stale_ms: u64, caps: GroupCaps) -> Self {
        Self {
            map: BTreeMap::new(),
            cap,
            stale_ms,
            caps,
            crowds: Crowds::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn contains(&self, id: &PeerId) -> bool {
        self.map.contains_key(id)
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

    /// Whether a contact at an address of `groups` would fit the per-group caps,
    /// counting `pending` more contacts of the same host and subnet on the way.
    ///
    /// A small table is held to less: one host or subnet may fill at most one
    /// slot plus one per [`GROUP_SHARE`] contacts already in the table (up to
    /// the configured caps), so a young table cannot be mostly one attacker's.
    /// A crowded subnet gets at most a [`CROWDED_SHARE`]th of the table, newcomer
    /// included (none at all below that many contacts).
    pub fn group_has_room(&self, groups: &AddressGroups, pending: (usize, usize)) -> bool {
        let (mut ip, mut subnet) = pending;
        for c in self.map.values() {
            ip += usize::from(c.groups.ip == groups.ip);
            subnet += usize::from(c.groups.subnet == groups.subnet);
        }
        ip < self.caps.per_ip.min(self.scaled_cap()) && subnet < self.subnet_cap(groups)
    }

    fn scaled_cap(&self) -> usize {
        1 + self.map.len() / GROUP_SHARE
    }

    /// Most contacts the subnet of `groups` may hold with one more admitted.
    fn subnet_cap(&self, groups: &AddressGroups) -> usize {
        let cap = self.caps.per_subnet.min(self.scaled_cap());
        if self.crowds.is_crowded(&groups.subnet) {
            cap.min((self.map.len() + 1) / CROWDED_SHARE)
        } else {
            cap
        }
    }

    /// Notes a datagram received from `sender` at an address of `groups`. Any
    /// subnet this shows to be crowded loses its contacts beyond its cap (the
    /// most recently seen stay); their ids are returned.
    pub fn observe(&mut self, groups: &AddressGroups, sender: PeerId, now_ms: u64) -> Vec<PeerId> {
        let mut gone = Vec::new();
        for subnet in self.crowds.observe(groups, sender, now_ms) {
            gone.extend(self.trim_subnet(&subnet));
        }
        gone
    }

    /// Removes `subnet`'s contacts beyond a [`CROWDED_SHARE`]th of the table
    /// that remains.
    fn trim_subnet(&mut self, subnet: &GroupKey) -> Vec<PeerId> {
        let mut members: Vec<(u64, PeerId)> = self
            .map
            .iter()
            .filter(|(_, c)| c.groups.subnet == *subnet)
            .map(|(id, c)| (c.last_seen_ms, *id))
            .collect();
        // With the members gone the table is smaller: keep as many as the cap
        // allows for the table that remains.
        let others = self.map.len() - members.len();
        let keep = (0..=members.len())
            .rev()
            .find(|k| *k <= (others + k) / CROWDED_SHARE)
            .unwrap_or(0);
        if keep == members.len() {
            return Vec::new();
        }
        members.sort_by_key(|(seen, id)| (core::cmp::Reverse(*seen), *id));
        let gone: Vec<PeerId> = members.split_off(keep).into_iter().map(|(_, id)| id).collect();
        for id in &gone {
            self.map.remove(id);
        }
        gone
    }

    /// Refreshes `id`'s last-seen time if it is a contact at `from`: it has just
    /// answered one of this node's own requests.
    pub fn touch(&mut self, id: &PeerId, from: &A, now_ms: u64) {
        if let Some(c) = self.map.get_mut(id) {
            if c.addr == *from {
                c.last_seen_ms = c.last_seen_ms.max(now_ms);
            }
        }
    }

    /// Removes a contact (it failed a liveness check).
    pub fn remove(&mut self, id: &PeerId) -> bool {
        self.map.remove(id).is_some()
    }

    /// Takes in a contact whose reachability at `addr` is proven (or vouched for
    /// by the host when `vouched`, which skips the per-group caps).
    pub fn admit(&mut self, me: &PeerId, id: PeerId, addr: A, now_ms: u64, vouched: bool) -> Admit<A> {
        if id == *me {
            return Admit::Full;
        }
        let groups = addr.groups();
        if let Some(c) = self.map.get_mut(&id) {
            if c.addr != addr {
                c.addr = addr;
                c.groups = groups;
            }
            c.last_seen_ms = c.last_seen_ms.max(now_ms);
            return Admit::Known;
        }
        if !vouched && !self.group_has_room(&groups, (0, 0)) {
            return Admit::GroupFull;
        }
        if self.map.len() >= self.cap {
            let victim = self
                .map
                .iter()
                .filter(|(_, c)| now_ms.saturating_sub(c.last_seen_ms) >= self.stale_ms)
                .min_by_key(|(id, c)| (c.last_seen_ms, c.reputation.score(), **id))
                .map(|(id, c)| Contact {
                    id: *id,
                    addr: c.addr.clone(),
                });
            return match victim {
                Some(v) if vouched => {
                    self.map.remove(&v.id);
                    self.insert(id, addr, groups, now_ms);
                    Admit::Added
                }
                Some(v) => Admit::CheckFirst(v),
                None => Admit::Full,
            };
        }
        self.insert(id, addr, groups, now_ms);
        Admit::Added
    }

    fn insert(&mut self, id: PeerId, addr: A, groups: AddressGroups, now_ms: u64) {
        self.map.insert(
            id,
            ContactInfo {
                addr,
                groups,
                last_seen_ms: now_ms,
                reputation: Reputation::default(),
            },
        );
    }

    /// Up to `n` contacts nearest `point` by ring distance, nearest first,
    /// leaving out those not `allowed`.
    pub fn nearest(
        &self,
        point: &impl RingPoint,
        n: usize,
        mut allowed: impl FnMut(&PeerId) -> bool,
    ) -> Vec<Contact<A>> {
        let key = PeerId::new(*point.ring_bytes());
        let cw = self
            .map
            .range(key..)
            .chain(self.map.range(..key))
            .filter(|(id, _)| allowed(id));
        let mut picked: Vec<(Distance, PeerId, A)> = cw
            .take(n)
            .map(|(id, c)| (ring_distance(point, id), *id, c.addr.clone()))
            .collect();
        let ccw = self
            .map
            .range(..key)
            .rev()
            .chain(self.map.range(key..).rev())
            .filter(|(id, _)| allowed(id));
        for (id, c) in ccw.take(n) {
            if !picked.iter().any(|p| p.1 == *id) {
                picked.push((ring_distance(point, id), *id, c.addr.clone()));
            }
        }
        picked.sort_by_key(|p| (p.0, p.1));
        picked.truncate(n);
        picked
            .into_iter()
            .map(|(_, id, addr)| Contact { id, addr })
            .collect()
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
