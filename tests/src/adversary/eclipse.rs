//! The eclipse adversary: a few addresses, each presenting many ids, trying to
//! fill honest contact tables with ids that all lead back to the attacker.
//!
//! Addresses: the simulator gives the k-th eclipse node the `u32` address
//! `((k % 128 + 1) << 24) | (0xff_ffff - k / 128)`, so 128 eclipse addresses share
//! one /24 (the core reads a `u32`'s low 24 bits as its /24, see
//! `election_proto::wire::AddressGroups`), while every other node's address is
//! its index (a /24 of its own).
//!
//! Behaviour, on what it receives ([`intercept`]):
//! - a `Ping` for any id: a `Pong` with that id as sender (it claims them all);
//! - a `FindNeighbours`: a `Neighbours` reply naming only eclipse ids;
//! - a `Query`: nothing (elections through it die);
//! - anything else: its core.
//!
//! and on its own ([`flood`]), every [`FLOOD_EVERY_MS`]: [`FLOOD_BURST`]
//! `FindNeighbours` and `Query` datagrams to random nodes, each with a random one
//! of its ids as sender.

use crate::rng::{derive32, SimRng};
use election_proto::election::MessageTicket;
use election_proto::wire::{self, Contact, FindNeighbours, Message, Neighbours, Pong, Query};
use election_proto::{PeerId, PublicKey, TokenId};

/// Ids each eclipse address presents.
pub const IDS_PER_ADDRESS: u64 = 64;
/// Eclipse addresses per /24.
pub const ADDRESSES_PER_SUBNET: usize = 128;
/// Datagrams in one flood burst.
pub const FLOOD_BURST: usize = 6;
/// Time between an eclipse node's flood bursts.
pub const FLOOD_EVERY_MS: u64 = 20_000;

/// The address of the `k`-th eclipse node.
pub fn address(k: usize) -> u32 {
    let member = (k % ADDRESSES_PER_SUBNET + 1) as u32;
    let subnet = 0x00ff_ffff - (k / ADDRESSES_PER_SUBNET) as u32;
    (member << 24) | subnet
}

/// The `j`-th id presented at eclipse address `addr`.
pub fn fake_id(addr: u32, j: u64) -> PeerId {
    PeerId::new(derive32(u64::from(addr), "eclipse id", j))
}

/// A random id of those presented at `addr`.
fn random_fake(addr: u32, rng: &mut SimRng) -> PeerId {
    fake_id(addr, rng.below(IDS_PER_ADDRESS))
}

/// The eclipse node at `me` answers `bytes` from `from`; `None` hands it to the core.
/// `others` are every eclipse address. Replies are `(to, sender, message)`.
pub fn intercept(
    me: u32,
    others: &[u32],
    from: u32,
    bytes: &[u8],
    rng: &mut SimRng,
) -> Option<Vec<(u32, PeerId, Message<u32>)>> {
    let env = wire::decode::<u32>(bytes).ok()?;
    match env.message {
        // It cannot sign for the target's id, but with no difficulty a pong
        // needs no key that matches (answers do).
        Message::Ping(p) => Some(vec![(
            from,
            p.target,
            Message::Pong(Pong {
                nonce: p.nonce,
                key: PublicKey([0; 32]),
                pow: 0,
            }),
        )]),
        Message::FindNeighbours(f) => {
            let contacts = (0..8)
                .map(|_| {
                    let addr = others[rng.below(others.len() as u64) as usize];
                    Contact {
                        id: random_fake(addr, rng),
                        addr,
                    }
                })
                .collect();
            let reply = Message::Neighbours(Neighbours {
                nonce: f.nonce,
                contacts,
            });
            Some(vec![(from, random_fake(me, rng), reply)])
        }
        Message::Query(_) => Some(Vec::new()),
        _ => None,
    }
}

/// One flood burst from eclipse address `me` toward nodes `0..nodes`.
pub fn flood(me: u32, nodes: usize, rng: &mut SimRng) -> Vec<(u32, PeerId, Message<u32>)> {
    (0..FLOOD_BURST)
        .map(|i| {
            let to = rng.below(nodes as u64) as u32;
            let sender = random_fake(me, rng);
            let message = if i % 2 == 0 {
                Message::FindNeighbours(FindNeighbours {
                    target: PeerId::new(rng.bytes32()),
                    nonce: rng.next_u64(),
                    padding: vec![0; 80],
                })
            } else {
                Message::Query(Query {
                    token: TokenId::new(rng.bytes32()),
                    ticket: MessageTicket(rng.next_u64()),
                    challenger: sender,
                    hops_left: 2,
                })
            };
            (to, sender, message)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eclipse_addresses_share_subnets_and_never_collide_with_indices() {
        let g = |a: u32| a.groups();
        use election_proto::wire::Address;
        assert_eq!(g(address(0)).subnet, g(address(127)).subnet);
        assert_ne!(g(address(0)).subnet, g(address(128)).subnet);
        assert_ne!(g(address(0)).ip, g(address(1)).ip);
        assert!(address(0) >> 24 > 0, "never a node index");
        assert_ne!(g(5).subnet, g(6).subnet, "indices are subnets of their own");
    }

    #[test]
    fn pings_for_any_id_are_answered_with_that_id() {
        let mut rng = SimRng::new(1, "t");
        let target = PeerId::from_u64(99);
        let ping = wire::encode(&wire::Envelope::<u32> {
            sender: PeerId::from_u64(1),
            message: Message::Ping(wire::Ping {
                nonce: 5,
                target,
                key: PublicKey([0; 32]),
                pow: 0,
            }),
        })
        .unwrap();
        let out = intercept(address(0), &[address(0)], 3, &ping, &mut rng).unwrap();
        assert_eq!(
            out,
            vec![(
                3,
                target,
                Message::Pong(Pong {
                    nonce: 5,
                    key: PublicKey([0; 32]),
                    pow: 0
                })
            )]
        );
    }
}
