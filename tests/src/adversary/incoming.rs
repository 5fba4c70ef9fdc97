//! What forwarders, forgers and colluders do with the datagrams they receive.
//!
//! [`intercept`] decides, for one datagram addressed to an adversary, whether the
//! adversary consumes it and what it sends instead. It only *returns* the replies;
//! the simulator sends them in order, so they take the same path through the
//! network model (and draw from the node's stream in the same order) as anything
//! the core itself sends.

use super::forge::{colluder_stream, fabricate_proof, fabricate_signature, garbage_signature};
use super::NodeKind;
use crate::rng::SimRng;
use election_proto::keys::answer_signed_bytes;
use election_proto::node::Node;
use election_proto::wire::{self, Contact, Message};
use election_proto::{
    ring_distance, Distance, MessageTicket, NodeKey, PeerId, TokenId, TokenSignature, TokenStore,
};
use std::collections::BTreeMap;

/// How long a forwarder remembers a fork.
const FORK_TTL_MS: u64 = 10_000;
/// Most forks a forwarder remembers.
const FORK_CAP: usize = 1024;

/// A forwarder's memory of the queries it forked, so it can relay the replies:
/// `(ticket, token) → (previous hop, expiry)`. Bounded by a fixed capacity; expired
/// entries are purged only when it is full.
#[derive(Clone, Debug, Default)]
pub struct Forks {
    entries: BTreeMap<(u64, TokenId), (u32, u64)>,
}

impl Forks {
    /// Remembers that replies for `(ticket, token)` go back to `prev`, for
    /// [`FORK_TTL_MS`] from `now`; does nothing if the table is full of live forks.
    fn remember(&mut self, ticket: u64, token: TokenId, prev: u32, now: u64) {
        if self.entries.len() >= FORK_CAP {
            self.entries.retain(|_, (_, exp)| *exp > now);
        }
        if self.entries.len() < FORK_CAP {
            self.entries.insert((ticket, token), (prev, now + FORK_TTL_MS));
        }
    }

    /// Where replies for `(ticket, token)` go back to, if the fork is still live.
    fn previous_hop(&self, ticket: u64, token: TokenId, now: u64) -> Option<u32> {
        match self.entries.get(&(ticket, token)) {
            Some(&(prev, exp)) if exp > now => Some(prev),
            _ => None,
        }
    }
}

/// The parts of an adversary node [`intercept`] reads and changes.
#[derive(Debug)]
pub struct Receiver<'a, S> {
    /// What the node is; kinds without interception pass everything to the core.
    pub kind: NodeKind,
    /// The node's own id and address.
    pub me: Contact<u32>,
    /// The node's core (a forwarder forks to its contacts).
    pub core: &'a Node<u32, S>,
    /// The node's own stream (forger and forwarder inventions).
    pub rng: &'a mut SimRng,
    /// The node's forwarder memory.
    pub forks: &'a mut Forks,
    /// The secret of the node's colluder group (used by colluders only).
    pub colluder_secret: &'a [u8; 32],
    /// Current simulated time (ms).
    pub now: u64,
}

/// Adversary logic on an incoming datagram from `from`. `None`: the datagram goes
/// to the core as usual. `Some(replies)`: the adversary consumed it and sends
/// `replies` (`(to, message)`, sent in order with `me` as the sender).
pub fn intercept<S: TokenStore>(
    node: Receiver<'_, S>,
    from: u32,
    bytes: &[u8],
) -> Option<Vec<(u32, Message<u32>)>> {
    if !matches!(
        node.kind,
        NodeKind::Forwarder | NodeKind::Forger | NodeKind::Colluder
    ) {
        return None;
    }
    let Ok(env) = wire::decode::<u32>(bytes) else {
        return None;
    };
    let Receiver {
        kind,
        me,
        core,
        rng,
        forks,
        colluder_secret,
        now,
    } = node;
    let mut replies = Vec::new();
    match env.message {
        Message::Query(wire::Query {
            token,
            ticket,
            challenger,
            hops_left,
        }) if challenger != me.id => match kind {
            NodeKind::Forger | NodeKind::Colluder => {
                let (sig, proof) = if kind == NodeKind::Forger {
                    (
                        fabricate_signature(&challenger, &token, rng),
                        fabricate_proof(rng),
                    )
                } else {
                    let mut s = colluder_stream(colluder_secret, &challenger, &token);
                    (
                        fabricate_signature(&challenger, &token, &mut s),
                        fabricate_proof(&mut s),
                    )
                };
                replies.push((
                    from,
                    answer(ticket, sig, proof, &me, core.key(), &challenger, &token),
                ));
            }
            NodeKind::Forwarder => {
                let junk = garbage_signature(&token, rng);
                let proof = fabricate_proof(rng);
                replies.push((
                    from,
                    answer(ticket, junk, proof, &me, core.key(), &challenger, &token),
                ));
                if hops_left > 0 {
                    let targets = closest_contacts(core, &token, 2, |id, addr| {
                        *id != challenger && *id != env.sender && addr != from
                    });
                    if !targets.is_empty() {
                        forks.remember(ticket.0, token, from, now);
                    }
                    for to in targets {
                        let q = Message::Query(wire::Query {
                            token,
                            ticket,
                            challenger,
                            hops_left: hops_left - 1,
                        });
                        replies.push((to, q));
                    }
                }
            }
            _ => return None,
        },
        message @ (Message::Answer(_) | Message::Referral(_)) if kind == NodeKind::Forwarder => {
            let token = match &message {
                Message::Answer(wire::Answer { answer, .. }) => answer.id,
                Message::Referral(wire::Referral { token, .. })
                | Message::Query(wire::Query { token, .. }) => *token,
                Message::Ping(_)
                | Message::Pong(_)
                | Message::FindNeighbours(_)
                | Message::Neighbours(_)
                | Message::Retry(_)
                | Message::CookieQuery(_) => return None,
            };
            // Relay every reply, not just the first: two different answers on one
            // channel block it.
            let prev = forks.previous_hop(message.ticket().0, token, now)?;
            replies.push((prev, message));
        }
        _ => return None,
    }
    Some(replies)
}

/// Up to `k` of the node's contacts closest to `token`, allowed by `ok`
/// (forwarders and relays pick their next hops with it).
pub(super) fn closest_contacts<S: TokenStore>(
    core: &Node<u32, S>,
    token: &TokenId,
    k: usize,
    ok: impl Fn(&PeerId, u32) -> bool,
) -> Vec<u32> {
    let mut best: Vec<(Distance, u32)> = Vec::with_capacity(k + 1);
    for c in core.contacts() {
        if !ok(&c.id, c.addr) {
            continue;
        }
        let d = ring_distance(&c.id, token);
        if best.len() < k || d < best[best.len() - 1].0 {
            best.push((d, c.addr));
            best.sort();
            best.truncate(k);
        }
    }
    best.into_iter().map(|(_, a)| a).collect()
}

/// An `Answer` carrying `sig` and `proof`, signed (wire v3) with the
/// adversary's own key as coming from `me`: its invented walk is its own, so
/// the signature is valid and only the walk and proof checks can reject it.
fn answer(
    ticket: MessageTicket,
    sig: TokenSignature,
    proof: election_proto::PossessionProof,
    me: &Contact<u32>,
    key: &NodeKey,
    challenger: &PeerId,
    token: &TokenId,
) -> Message<u32> {
    let signed = answer_signed_bytes(
        challenger,
        ticket,
        token,
        &sig.answer,
        &sig.signature,
        &proof,
        &me.addr,
    )
    .expect("u32 addresses encode");
    Message::Answer(wire::Answer {
        ticket,
        answer: sig.answer,
        signature: sig.signature,
        proof,
        responder: me.clone(),
        key: key.public(),
        pow: key.pow_nonce(),
        auth: key.sign(&signed),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use election_proto::node::NodeConfig;
    use election_proto::MemoryStore;

    #[test]
    fn forks_expire_and_stay_bounded() {
        let t = TokenId::new([1; 32]);
        let mut f = Forks::default();
        f.remember(7, t, 3, 0);
        assert_eq!(f.previous_hop(7, t, FORK_TTL_MS - 1), Some(3));
        assert_eq!(f.previous_hop(7, t, FORK_TTL_MS), None, "expired");
        assert_eq!(f.previous_hop(8, t, 0), None);
        for ticket in 0..FORK_CAP as u64 + 10 {
            f.remember(100 + ticket, t, 1, 5);
        }
        assert_eq!(
            f.entries.len(),
            FORK_CAP,
            "full of live forks: new ones are dropped"
        );
        f.remember(1, t, 2, 5 + FORK_TTL_MS);
        assert_eq!(f.entries.len(), 1, "a full table purges expired forks first");
        assert_eq!(f.previous_hop(1, t, 5 + FORK_TTL_MS), Some(2));
    }

    #[test]
    fn only_forwarders_forgers_and_colluders_intercept_and_only_what_decodes() {
        let key = NodeKey::from_secret([2; 32]);
        let me = Contact {
            id: key.peer_id(),
            addr: 0,
        };
        let core = Node::new(NodeConfig::default(), key, me.addr, MemoryStore::new(), [3; 32]).unwrap();
        let mut rng = SimRng::new(1, "t");
        let mut forks = Forks::default();
        for kind in NodeKind::ALL {
            let node = Receiver {
                kind,
                me: me.clone(),
                core: &core,
                rng: &mut rng,
                forks: &mut forks,
                colluder_secret: &[0; 32],
                now: 0,
            };
            assert!(intercept(node, 1, &[0xff, 1, 2, 3]).is_none(), "{kind:?}");
        }
    }
}
