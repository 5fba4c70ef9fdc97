//! Iterative lookups (docs/PROTOCOL.md §9): asking contacts for the peers they
//! know nearest a target, and asking those in turn, nearest first.
//!
//! A lookup's requests carry nonces this node drew, so a `Neighbours` reply
//! with the right nonce, from the address the request went to, proves the
//! replier reachable there: the node admits it. The contacts a reply names are
//! only candidates: the lookup asks them in turn (which proves them or not),
//! it never admits them on hearsay.

use crate::id::{ring_distance, Distance, PeerId};
use crate::mem::release_if_empty;
use crate::wire::{Address, Contact};
use std::collections::{BTreeMap, BTreeSet};

/// Whom a lookup asks: a contact, or a seed known only by address.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Hop<A> {
    /// The id, if known (a seed given as an address has none).
    pub id: Option<PeerId>,
    /// Where to send the request.
    pub addr: A,
}

#[derive(Clone, Debug)]
struct Lookup<A> {
    target: PeerId,
    /// Not yet asked, nearest the target first (seeds without an id first of all).
    todo: BTreeMap<(Option<Distance>, Hop<A>), ()>,
    /// Every id and address asked or queued, so none is asked twice.
    seen_ids: BTreeSet<PeerId>,
    seen_addrs: BTreeSet<A>,
    sent: usize,
    /// Most requests this lookup sends.
    max_queries: usize,
    /// Distances of the nearest repliers so far (at most `alpha`, ascending).
    replied: Vec<Distance>,
}

/// A lookup that ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Finished<A> {
    /// What it looked up.
    pub target: PeerId,
    /// Candidates repliers named that it never asked, nearest the target
    /// first (at most `max_queries`): hearsay, to be proven before use.
    pub unasked: Vec<Contact<A>>,
}

/// A request in flight.
#[derive(Clone, Debug)]
struct InFlight<A> {
    lookup: u64,
    hop: Hop<A>,
    sent_at: u64,
}

/// A `Neighbours` reply that matched a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Proven<A> {
    /// The replier, proven reachable at its address.
    pub contact: Contact<A>,
    /// The lookup it belonged to.
    pub lookup: u64,
}

/// Running lookups and their requests in flight.
///
/// Guarantees: at most `max_lookups` lookups; each sends at most `max_queries`
/// requests, at most `alpha` in flight, never two to one id or address; each
/// lookup keeps at most `4 * max_queries` queued candidates (the farthest are
/// dropped); a reply counts only with a request's nonce, from its address, and
/// (when the id was known) from its id; contacts a reply names in the
/// replier's own subnet are ignored; every request leaves after the timeout.
#[derive(Clone, Debug)]
pub(crate) struct Discovery<A> {
    lookups: BTreeMap<u64, Lookup<A>>,
    inflight: BTreeMap<u64, InFlight<A>>,
    next_lookup: u64,
    max_lookups: usize,
    alpha: usize,
    max_queries: usize,
    timeout_ms: u64,
}

impl<A: Address> Discovery<A> {
    pub fn new(alpha: usize, max_queries: usize, timeout_ms: u64) -> Self {
        Self {
            lookups: BTreeMap::new(),
            inflight: BTreeMap::new(),
            next_lookup: 0,
            max_lookups: 2,
            alpha,
            max_queries,
            timeout_ms,
        }
    }

    /// Starts a lookup of `target` from `start`; `None` if too many run already
    /// or there is nobody to ask.
    pub fn start(
        &mut self,
        me: &PeerId,
        target: PeerId,
        start: Vec<Hop<A>>,
        max_queries: usize,
    ) -> Option<u64> {
        let max_queries = max_queries.clamp(1, self.max_queries);
        if self.lookups.len() >= self.max_lookups || start.is_empty() {
            return None;
        }
        let id = self.next_lookup;
        self.next_lookup += 1;
        let mut l = Lookup {
            target,
            todo: BTreeMap::new(),
            seen_ids: BTreeSet::new(),
            seen_addrs: BTreeSet::new(),
            sent: 0,
            max_queries,
            replied: Vec::new(),
        };
        l.seen_ids.insert(*me);
        for h in start {
            l.queue(h, 4 * self.max_queries);
        }
        self.lookups.insert(id, l);
        Some(id)
    }

    /// The hops lookup `lookup` should ask now, with the target to ask them
    /// about. The caller sends each request and reports it with [`Self::sent`].
    pub fn due(&mut self, lookup: u64) -> Vec<(PeerId, Hop<A>)> {
        let in_flight = self.inflight.values().filter(|f| f.lookup == lookup).count();
        let Some(l) = self.lookups.get_mut(&lookup) else {
            return Vec::new();
        };
        let room = self
            .alpha
            .saturating_sub(in_flight)
            .min(l.max_queries.saturating_sub(l.sent));
        let alpha = self.alpha;
        let mut out = Vec::new();
        for _ in 0..room {
            // Converged: once `alpha` have replied, only a candidate nearer the
            // target than the farthest of the `alpha` nearest repliers can teach
            // us anything; the lookup stops rather than ask farther nodes. In a
            // settled network a refresh ends after one round.
            if l.converged(alpha) {
                break;
            }
            let Some(((_, hop), ())) = l.todo.pop_first() else {
                break;
            };
            l.sent += 1;
            out.push((l.target, hop));
        }
        out
    }

    /// Records that a request with `nonce` went to `hop` for `lookup`.
    /// `false` if the nonce is in use (the caller then drops the request).
    pub fn sent(&mut self, nonce: u64, lookup: u64, hop: Hop<A>, now: u64) -> bool {
        if self.inflight.contains_key(&nonce) {
            return false;
        }
        self.inflight.insert(
            nonce,
            InFlight {
                lookup,
                hop,
                sent_at: now,
            },
        );
        true
    }

    /// A `Neighbours` reply with `nonce` arrived from `from`, sent by `sender`.
    /// If it answers a request, the replier is proven and the contacts it named
    /// join its lookup's queue (the replier itself, this node and anyone already
    /// seen excepted).
    pub fn on_reply(
        &mut self,
        nonce: u64,
        from: &A,
        sender: PeerId,
        named: Vec<Contact<A>>,
    ) -> Option<Proven<A>> {
        let f = self.inflight.get(&nonce)?;
        if f.hop.addr != *from || f.hop.id.is_some_and(|id| id != sender) {
            return None;
        }
        let f = self.inflight.remove(&nonce)?;
        release_if_empty(&mut self.inflight);
        let cap = 4 * self.max_queries;
        let own = from.groups().subnet;
        let alpha = self.alpha;
        if let Some(l) = self.lookups.get_mut(&f.lookup) {
            let d = ring_distance(&l.target, &sender);
            let at = l.replied.partition_point(|x| *x <= d);
            l.replied.insert(at, d);
            l.replied.truncate(alpha.max(1));
            l.seen_ids.insert(sender);
            l.seen_addrs.insert(from.clone());
            // A subnet cannot vouch for itself: contacts in the replier's own
            // subnet are not followed (others will name them if they are real).
            for c in named.into_iter().filter(|c| c.addr.groups().subnet != own) {
                l.queue(
                    Hop {
                        id: Some(c.id),
                        addr: c.addr,
                    },
                    cap,
                );
            }
        }
        Some(Proven {
            contact: Contact {
                id: sender,
                addr: from.clone(),
            },
            lookup: f.lookup,
        })
    }

    /// Drops requests unanswered for the timeout. Returns the lookups that lost one.
    pub fn expire(&mut self, now: u64) -> BTreeSet<u64> {
        let timeout = self.timeout_ms;
        let late: Vec<u64> = self
            .inflight
            .iter()
            .filter(|(_, f)| now >= f.sent_at.saturating_add(timeout))
            .map(|(n, _)| *n)
            .collect();
        let lost = late
            .into_iter()
            .filter_map(|n| self.inflight.remove(&n))
            .map(|f| f.lookup)
            .collect();
        release_if_empty(&mut self.inflight);
        lost
    }

    /// Ends lookups with nothing in flight and nothing left to ask (or
    /// converged, or out of requests), and returns them.
    pub fn finish_idle(&mut self) -> Vec<Finished<A>> {
        let busy: BTreeSet<u64> = self.inflight.values().map(|f| f.lookup).collect();
        let alpha = self.alpha;
        let done: Vec<u64> = self
            .lookups
            .iter()
            .filter(|(id, l)| {
                !busy.contains(id) && (l.converged(alpha) || l.sent >= l.max_queries || l.todo.is_empty())
            })
            .map(|(id, _)| *id)
            .collect();
        let finished = done
            .into_iter()
            .filter_map(|id| self.lookups.remove(&id))
            .map(|l| Finished {
                target: l.target,
                unasked: l
                    .todo
                    .into_keys()
                    .filter_map(|(_, hop)| hop.id.map(|id| Contact { id, addr: hop.addr }))
                    .take(l.max_queries)
                    .collect(),
            })
            .collect();
        release_if_empty(&mut self.lookups);
        finished
    }

    /// Number of running lookups.
    pub fn running(&self) -> usize {
        self.lookups.len()
    }

    /// When the oldest request times out.
    pub fn next_deadline(&self) -> Option<u64> {
        self.inflight
            .values()
            .map(|f| f.sent_at.saturating_add(self.timeout_ms))
            .min()
    }
}

impl<A: Address> Lookup<A> {
    /// Whether `alpha` nodes replied and none left to ask is nearer the
    /// target than the farthest of the `alpha` nearest of them: asking
    /// farther nodes would teach us nothing (a later reply naming someone
    /// nearer makes it go on).
    fn converged(&self, alpha: usize) -> bool {
        if alpha == 0 || self.replied.len() < alpha {
            return false;
        }
        let bound = self.replied[alpha - 1];
        matches!(self.todo.first_key_value(), Some(((Some(d), _), ())) if *d >= bound)
    }

    /// Queues `hop` unless seen; keeps the `cap` nearest.
    fn queue(&mut self, hop: Hop<A>, cap: usize) {
        if self.seen_addrs.contains(&hop.addr) || hop.id.is_some_and(|id| self.seen_ids.contains(&id)) {
            return;
        }
        if let Some(id) = hop.id {
            self.seen_ids.insert(id);
        }
        self.seen_addrs.insert(hop.addr.clone());
        let d = hop.id.map(|id| ring_distance(&self.target, &id));
        self.todo.insert((d, hop), ());
        while self.todo.len() > cap {
            self.todo.pop_last();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hop(n: u64, addr: u32) -> Hop<u32> {
        Hop {
            id: Some(PeerId::from_u64(n)),
            addr,
        }
    }

    fn contact(n: u64, addr: u32) -> Contact<u32> {
        Contact {
            id: PeerId::from_u64(n),
            addr,
        }
    }

    #[test]
    fn lookup_asks_nearest_first_with_bounded_parallelism_and_total() {
        let me = PeerId::from_u64(1000);
        let mut d = Discovery::new(2, 3, 100);
        let l = d
            .start(
                &me,
                PeerId::from_u64(50),
                vec![hop(10, 1), hop(49, 2), hop(95, 3)],
                8,
            )
            .unwrap();
        let first = d.due(l);
        assert_eq!(
            first.iter().map(|(_, h)| h.addr).collect::<Vec<_>>(),
            [2, 1],
            "nearest two"
        );
        for (i, (_, h)) in first.into_iter().enumerate() {
            assert!(d.sent(i as u64, l, h, 0));
        }
        assert!(d.due(l).is_empty(), "alpha reached");
        // The reply from 2 names a nearer node, ourselves and an already queued one.
        let named = vec![contact(51, 4), contact(1000, 9), contact(10, 1)];
        let p = d.on_reply(0, &2, PeerId::from_u64(49), named).unwrap();
        assert_eq!(p.contact, contact(49, 2));
        let next = d.due(l);
        assert_eq!(next.len(), 1, "one slot free, and the total is 3");
        assert_eq!(next[0].1, hop(51, 4));
        d.sent(5, l, next[0].1.clone(), 10);
        assert!(d.due(l).is_empty(), "max_queries reached");
        assert!(d.finish_idle().is_empty(), "requests in flight");
        assert_eq!(d.expire(110), BTreeSet::from([l]));
        assert_eq!(d.finish_idle().len(), 1);
        assert!(d.lookups.is_empty());
    }

    #[test]
    fn replies_must_match_nonce_address_and_known_id() {
        let me = PeerId::from_u64(1000);
        let mut d = Discovery::new(3, 8, 100);
        let seed = Hop { id: None, addr: 7u32 };
        let l = d.start(&me, me, vec![seed.clone(), hop(5, 8)], 8).unwrap();
        let due = d.due(l);
        assert_eq!(due[0].1, seed, "seeds without an id go first");
        d.sent(1, l, due[0].1.clone(), 0);
        d.sent(2, l, due[1].1.clone(), 0);
        assert_eq!(
            d.on_reply(3, &7, PeerId::from_u64(1), vec![]),
            None,
            "unknown nonce"
        );
        assert_eq!(
            d.on_reply(1, &8, PeerId::from_u64(1), vec![]),
            None,
            "wrong address"
        );
        assert_eq!(d.on_reply(2, &8, PeerId::from_u64(6), vec![]), None, "wrong id");
        assert!(
            d.on_reply(1, &7, PeerId::from_u64(77), vec![]).is_some(),
            "a seed may be anyone"
        );
        assert!(
            d.on_reply(1, &7, PeerId::from_u64(77), vec![]).is_none(),
            "answered once"
        );
    }

    #[test]
    fn a_lookup_stops_once_alpha_repliers_name_nobody_nearer() {
        let me = PeerId::from_u64(1000);
        let mut d = Discovery::new(2, 8, 100);
        let start = vec![hop(48, 1), hop(52, 2), hop(30, 3), hop(70, 4), hop(90, 5)];
        let l = d.start(&me, PeerId::from_u64(50), start, 8).unwrap();
        let first = d.due(l);
        assert_eq!(first.iter().map(|(_, h)| h.addr).collect::<Vec<_>>(), [1, 2]);
        for (i, (_, h)) in first.into_iter().enumerate() {
            assert!(d.sent(i as u64, l, h, 0));
        }
        // Both name only nodes farther than themselves.
        d.on_reply(0, &1, PeerId::from_u64(48), vec![contact(20, 6)])
            .unwrap();
        d.on_reply(1, &2, PeerId::from_u64(52), vec![contact(80, 7)])
            .unwrap();
        assert!(
            d.due(l).is_empty(),
            "converged: nobody left nearer than the repliers"
        );
        let done = d.finish_idle();
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].target, PeerId::from_u64(50));
        assert_eq!(
            done[0].unasked,
            vec![
                contact(30, 3),
                contact(70, 4),
                contact(20, 6),
                contact(80, 7),
                contact(90, 5)
            ],
            "the candidates never asked, nearest the target first"
        );
    }

    #[test]
    fn a_nearer_candidate_keeps_a_converging_lookup_going() {
        let me = PeerId::from_u64(1000);
        let mut d = Discovery::new(2, 8, 100);
        let l = d
            .start(
                &me,
                PeerId::from_u64(50),
                vec![hop(40, 1), hop(60, 2), hop(90, 5)],
                8,
            )
            .unwrap();
        for (i, (_, h)) in d.due(l).into_iter().enumerate() {
            d.sent(i as u64, l, h, 0);
        }
        d.on_reply(0, &1, PeerId::from_u64(40), vec![contact(49, 6)])
            .unwrap();
        d.on_reply(1, &2, PeerId::from_u64(60), vec![]).unwrap();
        let next = d.due(l);
        assert_eq!(next.len(), 1, "only the nearer one, not the farther start hop");
        assert_eq!(next[0].1, hop(49, 6));
    }

    #[test]
    fn lookups_and_queues_are_bounded() {
        let me = PeerId::from_u64(1000);
        let mut d = Discovery::new(1, 2, 100);
        assert!(d.start(&me, me, vec![], 8).is_none(), "nobody to ask");
        let a = d.start(&me, me, vec![hop(1, 1)], 8).unwrap();
        assert!(d.start(&me, me, vec![hop(1, 1)], 8).is_some());
        assert!(
            d.start(&me, me, vec![hop(1, 1)], 8).is_none(),
            "two lookups at most"
        );
        let (_, h) = d.due(a).pop().unwrap();
        d.sent(9, a, h, 0);
        let flood: Vec<Contact<u32>> = (0..100).map(|i| contact(2000 + i, 100 + i as u32)).collect();
        d.on_reply(9, &1, PeerId::from_u64(1), flood).unwrap();
        assert_eq!(d.lookups[&a].todo.len(), 8, "4 * max_queries kept");
    }
}
