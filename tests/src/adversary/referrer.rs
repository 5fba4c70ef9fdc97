//! The referrer adversary: answers every query with a referral to its own ids
//! (issue 19, "refer-only sybils stop elections").
//!
//! A referral is followed when it names any id the election has not used yet,
//! closer to the token or not, and every followed hop spends one query of the
//! election's budget. A referrer exploits exactly that: to every query for
//! someone else's election (sent to it directly, or forwarded to it by an
//! honest node) it replies with a `Referral` naming two ids it controls:
//!
//! - a host with extra sybil ids ([`super::sybil`]) names two of its own
//!   extra ids, at its own address, so the whole chain stays on one host; it
//!   remembers which of the two the challenger will follow (the one nearer the
//!   token) and replies to the next query for that `(challenger, token)` as
//!   that id, so the hop is admitted like any first hop that replies;
//! - a host with one id names two other referrer hosts (their own ids, at
//!   their addresses).
//!
//! Everything else goes to its core.

use crate::rng::SimRng;
use election_proto::wire::{self, Contact, Message, Referral};
use election_proto::{ring_distance, NodeKey, PeerId, TokenId};
use std::collections::BTreeMap;

/// How long a referrer remembers which id a challenger will ask next.
const TTL_MS: u64 = 10_000;
/// Most such expectations it remembers.
const CAP: usize = 1024;

/// A referrer's memory: `(challenger, token) →` the id of its own that the
/// challenger will follow next, and until when.
#[derive(Clone, Debug, Default)]
pub struct Referrals {
    expected: BTreeMap<(PeerId, TokenId), (PeerId, u64)>,
}

impl Referrals {
    fn take(&mut self, challenger: PeerId, token: TokenId, now: u64) -> Option<PeerId> {
        match self.expected.remove(&(challenger, token)) {
            Some((id, exp)) if exp > now => Some(id),
            _ => None,
        }
    }

    fn put(&mut self, challenger: PeerId, token: TokenId, id: PeerId, now: u64) {
        if self.expected.len() >= CAP {
            self.expected.retain(|_, (_, exp)| *exp > now);
        }
        if self.expected.len() < CAP {
            self.expected.insert((challenger, token), (id, now + TTL_MS));
        }
    }
}

/// What a referrer node [`intercept`] reads and changes.
#[derive(Debug)]
pub struct Referrer<'a> {
    /// Its own id and address.
    pub me: Contact<u32>,
    /// Its extra sybil ids (at its own address).
    pub extra: &'a [(PeerId, NodeKey)],
    /// Every referrer host's own id and address (it included).
    pub hosts: &'a [Contact<u32>],
    /// Its memory.
    pub memory: &'a mut Referrals,
    /// Its stream: which ids it names.
    pub rng: &'a mut SimRng,
    /// Current simulated time (ms).
    pub now: u64,
}

/// The referrer at `node.me` receives `bytes` from `from`. `None`: its core
/// handles it. `Some(replies)`: `(to, sender, message)` to send instead.
pub fn intercept(node: Referrer<'_>, from: u32, bytes: &[u8]) -> Option<Vec<(u32, PeerId, Message<u32>)>> {
    let env = wire::decode::<u32>(bytes).ok()?;
    let Referrer {
        me,
        extra,
        hosts,
        memory,
        rng,
        now,
    } = node;
    let Message::Query(q) = env.message else {
        return None;
    };
    if q.challenger == me.id {
        return None;
    }
    let sender = memory.take(q.challenger, q.token, now).unwrap_or(me.id);
    let (high, low) = if extra.len() >= 2 {
        let a = rng.below(extra.len() as u64) as usize;
        let b = (a + 1 + rng.below(extra.len() as u64 - 1) as usize) % extra.len();
        let (ia, ib) = (extra[a].0, extra[b].0);
        let next = if (ring_distance(&ia, &q.token), ia) <= (ring_distance(&ib, &q.token), ib) {
            ia
        } else {
            ib
        };
        memory.put(q.challenger, q.token, next, now);
        let at = |id| Contact { id, addr: me.addr };
        (at(ia), at(ib))
    } else {
        let others: Vec<&Contact<u32>> = hosts
            .iter()
            .filter(|c| c.id != me.id && c.id != q.challenger)
            .collect();
        if others.is_empty() {
            // Alone: name itself, which the challenger cannot follow.
            (me.clone(), me.clone())
        } else {
            let a = rng.below(others.len() as u64) as usize;
            let b = rng.below(others.len() as u64) as usize;
            (others[a].clone(), others[b].clone())
        }
    };
    let referral = Referral {
        ticket: q.ticket,
        token: q.token,
        high,
        low,
    };
    Some(vec![(from, sender, Message::Referral(referral))])
}

#[cfg(test)]
mod tests {
    use super::*;
    use election_proto::wire::{Envelope, Query};
    use election_proto::MessageTicket;

    fn query(challenger: PeerId, token: TokenId) -> Vec<u8> {
        wire::encode(&Envelope::<u32> {
            sender: challenger,
            message: Message::Query(Query {
                token,
                ticket: MessageTicket(3),
                challenger,
                hops_left: 2,
            }),
        })
        .unwrap()
    }

    #[test]
    fn a_sybil_host_refers_to_its_own_ids_and_replies_as_the_one_followed() {
        let extra: Vec<(PeerId, NodeKey)> = (1..=6u8)
            .map(|b| NodeKey::from_secret([b; 32]))
            .map(|k| (k.peer_id(), k))
            .collect();
        let me = Contact {
            id: PeerId::from_u64(1),
            addr: 40,
        };
        let (c, t) = (PeerId::from_u64(9), TokenId::new([7; 32]));
        let mut memory = Referrals::default();
        let mut rng = SimRng::new(2, "t");
        let mut asked_as = me.id;
        for _ in 0..5 {
            let node = Referrer {
                me: me.clone(),
                extra: &extra,
                hosts: &[],
                memory: &mut memory,
                rng: &mut rng,
                now: 0,
            };
            let out = intercept(node, 5, &query(c, t)).unwrap();
            let [(to, sender, Message::Referral(r))] = out.as_slice() else {
                panic!("{out:?}")
            };
            assert_eq!((*to, *sender), (5, asked_as));
            assert_eq!((r.high.addr, r.low.addr), (40, 40));
            assert_ne!(r.high.id, r.low.id);
            assert!([r.high.id, r.low.id]
                .iter()
                .all(|id| extra.iter().any(|(e, _)| e == id)));
            // The challenger follows the one nearer the token.
            asked_as = *[r.high.id, r.low.id]
                .iter()
                .min_by_key(|id| (ring_distance(*id, &t), **id))
                .unwrap();
        }
    }

    #[test]
    fn a_single_id_host_refers_to_other_hosts_and_leaves_the_rest_to_its_core() {
        let hosts: Vec<Contact<u32>> = (1..=4u64)
            .map(|i| Contact {
                id: PeerId::from_u64(i),
                addr: i as u32,
            })
            .collect();
        let mut memory = Referrals::default();
        let mut rng = SimRng::new(2, "t");
        let node = Referrer {
            me: hosts[0].clone(),
            extra: &[],
            hosts: &hosts,
            memory: &mut memory,
            rng: &mut rng,
            now: 0,
        };
        let out = intercept(node, 7, &query(PeerId::from_u64(9), TokenId::new([7; 32]))).unwrap();
        let [(7, sender, Message::Referral(r))] = out.as_slice() else {
            panic!("{out:?}")
        };
        assert_eq!(*sender, hosts[0].id);
        assert!(hosts[1..].contains(&r.high) && hosts[1..].contains(&r.low));
        let own = query(hosts[0].id, TokenId::new([7; 32]));
        let node = Referrer {
            me: hosts[0].clone(),
            extra: &[],
            hosts: &hosts,
            memory: &mut memory,
            rng: &mut rng,
            now: 0,
        };
        assert!(
            intercept(node, 7, &own).is_none(),
            "its own elections are its core's"
        );
    }
}
