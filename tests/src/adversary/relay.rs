//! The relay adversary: stores nothing, and answers queries with other
//! nodes' proofs signed as its own (issue 19, "relay sybils that store
//! nothing get elected").
//!
//! On a query for someone else's election it forwards the query (same ticket,
//! token and challenger) to its [`FAN_OUT`] contacts nearest the token,
//! whether or not they are closer than itself, and remembers where the query
//! came from ([`Relays`]). What comes back:
//!
//! - a `Retry` from a node it asked: it completes address validation (a
//!   `CookieQuery`), as an honest forwarder does;
//! - the first `Answer`: [`rewrite_answer`] makes it its own (its id as
//!   responder, its key, re-signed) and it sends that to where the query came
//!   from; later answers are dropped (a second, different answer would block the
//!   challenger's channel);
//! - a `Referral`: it follows it itself, up to [`FOLLOWS`] times per query;
//!   once every query it sent has been referred and it may follow no more, it
//!   passes the referral back, as an honest node that cannot answer would.
//!
//! The walk of a proof depends only on (challenger, token, block), so the
//! rewritten answer verifies and agrees 10/10 with the holder's own: the relay
//! joins the honest cluster and wins whenever its id is the member nearest the
//! token. A relay with extra sybil ids ([`super::sybil`]) signs with the one
//! nearest the token.
//!
//! Queries for its own elections, and everything else, go to its core (it
//! runs membership and elections like anyone; its elections fail for want of
//! a store).

use super::incoming::closest_contacts;
use election_proto::keys::answer_signed_bytes;
use election_proto::node::Node;
use election_proto::wire::{self, Contact, CookieQuery, Message, Query};
use election_proto::{ring_distance, NodeKey, PeerId, TokenId, TokenStore};
use std::collections::BTreeMap;

/// Contacts a relay forwards each query to.
pub const FAN_OUT: usize = 2;
/// Referrals a relay follows itself per query.
pub const FOLLOWS: u8 = 2;
/// How long a relay remembers a query.
const TTL_MS: u64 = 10_000;
/// Most queries a relay remembers.
const CAP: usize = 1024;

/// One query a relay is working on.
#[derive(Clone, Debug)]
struct Pending {
    /// Where the query came from (the rewritten answer goes back there).
    prev: u32,
    /// The query as it forwards it.
    query: Query,
    /// Addresses it sent the query to.
    asked: Vec<u32>,
    /// Queries sent that have neither been answered nor referred.
    outstanding: usize,
    /// Referrals it may still follow itself.
    follows_left: u8,
    /// Whether an answer already went back.
    answered: bool,
    /// When it forgets the query.
    expires: u64,
}

/// A relay's memory: `(ticket, token) →` the query it is relaying. Bounded;
/// expired entries are purged when it is full.
#[derive(Clone, Debug, Default)]
pub struct Relays {
    entries: BTreeMap<(u64, TokenId), Pending>,
}

impl Relays {
    fn live(&mut self, ticket: u64, token: TokenId, now: u64) -> Option<&mut Pending> {
        self.entries.get_mut(&(ticket, token)).filter(|p| p.expires > now)
    }

    fn insert(&mut self, key: (u64, TokenId), p: Pending, now: u64) -> bool {
        if self.entries.len() >= CAP {
            self.entries.retain(|_, e| e.expires > now);
        }
        if self.entries.len() >= CAP {
            return false;
        }
        self.entries.insert(key, p);
        true
    }

    /// Queries remembered (live or not yet purged).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it remembers no query.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// What a relay node [`intercept`] reads and changes.
#[derive(Debug)]
pub struct Relay<'a, S> {
    /// Its id and address (the id its core runs as).
    pub me: Contact<u32>,
    /// Its core: its contacts are where it forwards.
    pub core: &'a Node<u32, S>,
    /// Every id it can sign as: its own key first, then its extra sybil keys.
    pub keys: &'a [(PeerId, NodeKey)],
    /// Every relay's address, sorted: relays never forward to each other
    /// (they are one attacker, and none of them stores anything).
    pub relay_addrs: &'a [u32],
    /// Its memory.
    pub relays: &'a mut Relays,
    /// Current simulated time (ms).
    pub now: u64,
}

/// The relay at `node.me` receives `bytes` from `from`. `None`: its core
/// handles it. `Some(replies)`: `(to, sender, message)` to send instead.
pub fn intercept<S: TokenStore>(
    node: Relay<'_, S>,
    from: u32,
    bytes: &[u8],
) -> Option<Vec<(u32, PeerId, Message<u32>)>> {
    let env = wire::decode::<u32>(bytes).ok()?;
    let Relay {
        me,
        core,
        keys,
        relay_addrs,
        relays,
        now,
    } = node;
    let mut out = Vec::new();
    match env.message {
        Message::Query(q) if q.challenger != me.id => {
            if relays.live(q.ticket.0, q.token, now).is_some() {
                // Already relaying this one: a loop or a copy.
                return Some(out);
            }
            let targets = closest_contacts(core, &q.token, FAN_OUT, |id, addr| {
                *id != q.challenger
                    && *id != env.sender
                    && addr != from
                    && relay_addrs.binary_search(&addr).is_err()
            });
            if targets.is_empty() {
                return None;
            }
            let pending = Pending {
                prev: from,
                query: q,
                asked: targets.clone(),
                outstanding: targets.len(),
                follows_left: FOLLOWS,
                answered: false,
                expires: now + TTL_MS,
            };
            if !relays.insert((q.ticket.0, q.token), pending, now) {
                return None;
            }
            for to in targets {
                out.push((to, me.id, Message::Query(q)));
            }
        }
        Message::Retry(r) => {
            let p = relays.live(r.ticket.0, r.token, now)?;
            if !p.asked.contains(&from) {
                return None;
            }
            let cq = CookieQuery {
                query: p.query,
                cookie: r.cookie,
            };
            out.push((from, me.id, Message::CookieQuery(cq)));
        }
        Message::Answer(a) => {
            let p = relays.live(a.ticket.0, a.answer.id, now)?;
            if p.answered {
                return Some(out);
            }
            p.answered = true;
            let signer = nearest_key(keys, &p.query.token);
            let (id, rewritten) = rewrite_answer(&a, &p.query.challenger, signer, me.addr)?;
            out.push((p.prev, id, rewritten));
        }
        Message::Referral(r) => {
            let p = relays.live(r.ticket.0, r.token, now)?;
            p.outstanding = p.outstanding.saturating_sub(1);
            if p.answered {
                return Some(out);
            }
            let challenger = p.query.challenger;
            let next = [&r.high, &r.low]
                .into_iter()
                .filter(|c| {
                    c.id != challenger
                        && c.id != me.id
                        && !p.asked.contains(&c.addr)
                        && relay_addrs.binary_search(&c.addr).is_err()
                })
                .min_by_key(|c| (ring_distance(&c.id, &r.token), c.id));
            match next {
                Some(c) if p.follows_left > 0 => {
                    p.follows_left -= 1;
                    p.outstanding += 1;
                    p.asked.push(c.addr);
                    out.push((c.addr, me.id, Message::Query(p.query)));
                }
                _ if p.outstanding == 0 => {
                    // Nothing more to try: refer back, like a node that cannot answer.
                    p.answered = true;
                    out.push((p.prev, me.id, Message::Referral(r)));
                }
                _ => {}
            }
        }
        _ => return None,
    }
    Some(out)
}

/// The key, of those a relay holds, whose id is nearest `token`.
fn nearest_key<'k>(keys: &'k [(PeerId, NodeKey)], token: &TokenId) -> &'k (PeerId, NodeKey) {
    keys.iter()
        .min_by_key(|(id, _)| (ring_distance(id, token), *id))
        .expect("a relay holds at least its own key")
}

/// **The only wire-format-specific code of the relay** (wire v3): turns an
/// honest holder's `answer` into the relay's own. Same ticket, proof and walk;
/// the responder becomes `signer`'s id at the relay's address `addr`, with
/// `signer`'s public key and proof-of-work nonce, and `auth` is `signer`'s
/// signature over [`answer_signed_bytes`] for `challenger` (exactly what an
/// honest node signs in `on_query`). Returns `(envelope sender, message)`, or
/// `None` if the signed bytes cannot be built.
///
/// Wire v3 binds the answer's possession proof to the responder's id: the
/// relay can only copy the holder's, which matches nothing for its own id,
/// so the challenger counts the answer for nothing.
pub fn rewrite_answer(
    answer: &wire::Answer<u32>,
    challenger: &PeerId,
    signer: &(PeerId, NodeKey),
    addr: u32,
) -> Option<(PeerId, Message<u32>)> {
    let (id, key) = signer;
    let token = answer.answer.id;
    let signed = answer_signed_bytes(
        challenger,
        answer.ticket,
        &token,
        &answer.answer,
        &answer.signature,
        &answer.proof,
        &addr,
    )?;
    let mine = wire::Answer {
        ticket: answer.ticket,
        answer: answer.answer,
        signature: answer.signature,
        // The holder's possession proof, keyed to the holder's id: all a
        // relay without the blocks has (wire v3 counts it for nothing).
        proof: answer.proof,
        responder: Contact { id: *id, addr },
        key: key.public(),
        pow: key.pow_nonce(),
        auth: key.sign(&signed),
    };
    Some((*id, Message::Answer(mine)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SimRng;
    use election_proto::{generate_signature, verify_signature, MemoryStore};

    #[test]
    fn a_rewritten_answer_is_the_relays_own_and_verifies_for_the_challenger() {
        let holder = NodeKey::from_secret([1; 32]);
        let relay = NodeKey::from_secret([2; 32]);
        let challenger = PeerId::from_u64(77);
        let mut rng = SimRng::new(3, "t");
        let tokens: Vec<TokenId> = (0..20_000).map(|_| TokenId::new(rng.bytes32())).collect();
        let store = MemoryStore::from_mappings(
            tokens
                .iter()
                .map(|t| (*t, election_proto::BlockId::new(rng.bytes32()))),
        );
        let (token, sig) = tokens
            .iter()
            .find_map(|t| generate_signature(&store, t, &challenger).map(|s| (*t, s)))
            .unwrap();
        let ticket = election_proto::MessageTicket(5);
        let proof = election_proto::generate_proof(&store, &challenger, &holder.peer_id(), &token).unwrap();
        let signed = answer_signed_bytes(
            &challenger,
            ticket,
            &token,
            &sig.answer,
            &sig.signature,
            &proof,
            &9u32,
        )
        .unwrap();
        let honest = wire::Answer {
            ticket,
            answer: sig.answer,
            signature: sig.signature,
            proof,
            responder: Contact {
                id: holder.peer_id(),
                addr: 9,
            },
            key: holder.public(),
            pow: 0,
            auth: holder.sign(&signed),
        };
        let (sender, m) = rewrite_answer(&honest, &challenger, &(relay.peer_id(), relay.clone()), 4).unwrap();
        assert_eq!(sender, relay.peer_id());
        let Message::Answer(a) = m else { panic!() };
        assert_eq!(
            a.responder,
            Contact {
                id: relay.peer_id(),
                addr: 4
            }
        );
        assert_eq!((a.answer, a.signature), (honest.answer, honest.signature));
        let mine = answer_signed_bytes(
            &challenger,
            ticket,
            &token,
            &a.answer,
            &a.signature,
            &a.proof,
            &4u32,
        )
        .unwrap();
        assert!(a.key.verify_for(&relay.peer_id(), &mine, &a.auth).is_ok());
        // Wire v3: the copied proof is the holder's; for the relay's id it
        // matches nothing in the challenger's store.
        assert_eq!(
            election_proto::proof_agreement(&store, &challenger, &holder.peer_id(), &token, &a.proof),
            election_proto::PROOF_STEPS
        );
        assert_eq!(
            election_proto::proof_agreement(&store, &challenger, &relay.peer_id(), &token, &a.proof),
            0
        );
        let walk = election_proto::TokenSignature {
            answer: a.answer,
            signature: a.signature,
        };
        assert_eq!(verify_signature(&challenger, &token, &walk), Ok(()));
    }

    #[test]
    fn the_nearest_id_signs() {
        let keys: Vec<(PeerId, NodeKey)> = (1..=8u8)
            .map(|b| NodeKey::from_secret([b; 32]))
            .map(|k| (k.peer_id(), k))
            .collect();
        let token = TokenId::new(*keys[5].0.as_bytes());
        assert_eq!(nearest_key(&keys, &token).0, keys[5].0);
    }
}
