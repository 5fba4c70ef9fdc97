//! Subnets seen to hold many nodes (docs/PROTOCOL.md §9): where an attacker
//! with a block of addresses, or one address presenting many ids, comes from.
//!
//! An honest deployment rarely shows one node more than one node per /24 (or
//! /64), and one host runs one id; an attacker renting a block shows dozens.
//! A subnet is *crowded* once [`CROWD_HOSTS`] distinct (host, id) pairs have
//! been seen in it, and the contact table then holds it to a tenth of its
//! entries, where an ordinary subnet may take `1 + len/16`. What counts as
//! seen: the source address and sender id of every datagram received, and the
//! contacts a `Neighbours` reply names *in the replier's own subnet* (a
//! replier can crowd only its own subnet, never someone else's). Nothing else a
//! third party names is counted, so no one can make an honest subnet look
//! crowded without sending from it.
//!
//! The price of a false alarm (two honest nodes behind one /24, or a node that
//! restarted under a new id) is only that their subnet gets a tenth of a table.

use crate::id::PeerId;
use crate::wire::{AddressGroups, GroupKey};
use std::collections::BTreeMap;

/// Distinct (host, id) pairs seen in one subnet that make it crowded. Measured
/// with `--adversaries eclipse:0.1` (1,000 × 60 min): 3 left eclipse ids above
/// a tenth of some young table in 9 of the first 10 minutes, 2 in only the
/// first; honest runs are unchanged either way.
pub(crate) const CROWD_HOSTS: usize = 2;

// `Crowd` counts pairs in a `u8` and keeps `CROWD_HOSTS - 1` of them.
const _: () = assert!(CROWD_HOSTS >= 1 && CROWD_HOSTS <= u8::MAX as usize);

/// Most subnets remembered; the one seen longest ago is forgotten first.
pub(crate) const MAX_SUBNETS: usize = 1024;

/// Below this many subnets seen, a node cannot be choosy: a small LAN or a
/// private test network is all one subnet, and crowding is not evidence. (8
/// left a young node unjudging for its first minute.)
pub(crate) const MIN_SUBNETS_TO_JUDGE: usize = 4;

#[derive(Clone, Debug)]
struct Crowd {
    /// The first distinct (host, id) pairs seen, up to `CROWD_HOSTS - 1` of
    /// them (slots past `count` hold copies of the first). The last pair that
    /// makes a subnet crowded is only counted: once crowded, nothing is
    /// compared any more. Inline rather than a `Vec`: a node keeps up to
    /// [`MAX_SUBNETS`] of these, and a heap block per subnet cost four times
    /// the pairs it held.
    seen: [(GroupKey, PeerId); CROWD_HOSTS - 1],
    /// Distinct (host, id) pairs seen, up to [`CROWD_HOSTS`] (enough to decide).
    count: u8,
    last_seen_ms: u64,
}

impl Crowd {
    fn new(first: (GroupKey, PeerId), now_ms: u64) -> Self {
        Self {
            seen: [first; CROWD_HOSTS - 1],
            count: 1,
            last_seen_ms: now_ms,
        }
    }

    fn is_crowded(&self) -> bool {
        usize::from(self.count) >= CROWD_HOSTS
    }

    /// Counts `pair` if it is new and the subnet not yet crowded.
    fn note(&mut self, pair: (GroupKey, PeerId)) {
        let n = usize::from(self.count);
        if n >= CROWD_HOSTS || self.seen[..n].contains(&pair) {
            return;
        }
        if n < self.seen.len() {
            self.seen[n] = pair;
        }
        self.count += 1;
    }
}

/// Bounded record of how many hosts each recently seen subnet has shown.
///
/// Guarantees: at most [`MAX_SUBNETS`] subnets of at most [`CROWD_HOSTS`]
/// hosts each, whatever the traffic; deterministic (ordered maps, ties broken
/// by key).
#[derive(Clone, Debug, Default)]
pub(crate) struct Crowds {
    subnets: BTreeMap<GroupKey, Crowd>,
}

impl Crowds {
    /// Notes a datagram from `id` at an address of `groups`. Returns the
    /// subnets that may have just become crowded in the sense of
    /// [`Self::is_crowded`]: this one, or, when this observation brought the
    /// record to [`MIN_SUBNETS_TO_JUDGE`] subnets, every crowded one.
    pub fn observe(&mut self, groups: &AddressGroups, id: PeerId, now_ms: u64) -> Vec<GroupKey> {
        let known = self.subnets.contains_key(&groups.subnet);
        if !known && self.subnets.len() >= MAX_SUBNETS {
            if let Some(oldest) = self
                .subnets
                .iter()
                .min_by_key(|(k, c)| (c.last_seen_ms, **k))
                .map(|(k, _)| *k)
            {
                self.subnets.remove(&oldest);
            }
        }
        let pair = (groups.ip, id);
        match self.subnets.entry(groups.subnet) {
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(Crowd::new(pair, now_ms));
            }
            std::collections::btree_map::Entry::Occupied(mut o) => {
                let c = o.get_mut();
                c.last_seen_ms = c.last_seen_ms.max(now_ms);
                c.note(pair);
            }
        }
        if !known && self.subnets.len() == MIN_SUBNETS_TO_JUDGE {
            self.subnets
                .iter()
                .filter(|(_, c)| c.is_crowded())
                .map(|(k, _)| *k)
                .collect()
        } else if self.is_crowded(&groups.subnet) {
            vec![groups.subnet]
        } else {
            Vec::new()
        }
    }

    /// Whether `subnet` is crowded and this node has seen enough subnets for
    /// that to mean something.
    pub fn is_crowded(&self, subnet: &GroupKey) -> bool {
        self.subnets.len() >= MIN_SUBNETS_TO_JUDGE && self.subnets.get(subnet).is_some_and(Crowd::is_crowded)
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.subnets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Address;

    /// `u32` addresses read as IPv4: host `h` of subnet `s`.
    fn at(s: u32, h: u32) -> AddressGroups {
        ((h << 24) | s).groups()
    }

    #[test]
    fn a_subnet_is_crowded_after_enough_host_id_pairs_once_enough_subnets_are_seen() {
        let mut c = Crowds::default();
        let id = PeerId::from_u64;
        assert!(c.observe(&at(1, 1), id(1), 0).is_empty());
        assert!(
            c.observe(&at(1, 1), id(1), 1).is_empty(),
            "the same host and id twice count once"
        );
        assert!(c.observe(&at(1, 2), id(2), 2).is_empty());
        assert!(
            c.observe(&at(1, 2), id(3), 3).is_empty(),
            "crowded, but one subnet seen: no judgement"
        );
        assert!(!c.is_crowded(&at(1, 1).subnet));
        for s in 2..MIN_SUBNETS_TO_JUDGE as u32 {
            assert!(c.observe(&at(s, 1), id(10 + u64::from(s)), 5).is_empty());
        }
        let s = MIN_SUBNETS_TO_JUDGE as u32;
        assert_eq!(
            c.observe(&at(s, 1), id(99), 6),
            vec![at(1, 0).subnet],
            "judging starts: every crowded subnet is reported"
        );
        assert!(c.is_crowded(&at(1, 9).subnet));
        assert!(!c.is_crowded(&at(2, 1).subnet));
        assert_eq!(
            c.observe(&at(1, 7), id(7), 7),
            vec![at(1, 0).subnet],
            "crowded stays reported"
        );
        assert!(c.observe(&at(2, 1), id(12), 8).is_empty());
    }

    #[test]
    fn the_record_is_bounded_and_forgets_the_oldest() {
        let mut c = Crowds::default();
        for s in 0..(MAX_SUBNETS as u32 + 100) {
            for h in 0..10 {
                c.observe(&at(s + 1, h), PeerId::from_u64(u64::from(h)), u64::from(s));
            }
        }
        assert_eq!(c.len(), MAX_SUBNETS);
        assert!(c.subnets.values().all(|x| usize::from(x.count) <= CROWD_HOSTS));
        assert!(!c.subnets.contains_key(&at(1, 0).subnet), "oldest forgotten");
        assert!(c.is_crowded(&at(MAX_SUBNETS as u32 + 100, 0).subnet));
    }
}
