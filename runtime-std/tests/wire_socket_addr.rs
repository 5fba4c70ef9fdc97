//! The wire codec with the runtimes' real address type, `SocketAddr`: the sizes
//! documented in `election_proto::wire`, the 1,200-byte cap, and the V6 caveat.
//! (The core's own tests use a stand-in with the same wire shape, so the core
//! never names a networking type.)

use election_proto::wire::{
    decode, encode, Answer, Contact, Envelope, FindNeighbours, Message, Neighbours, Ping, Pong, Query,
    Referral, MAX_DATAGRAM_LEN,
};
use election_proto::{BlockId, MessageTicket, PeerId, PublicKey, Signature, TokenId, TokenMapping};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};

fn mapping(n: u64) -> TokenMapping {
    TokenMapping {
        id: TokenId::from_u64(n),
        block: BlockId::from_u64(n + 1000),
    }
}

fn query(ticket: u64) -> Envelope<SocketAddr> {
    Envelope {
        sender: PeerId::new([0xaa; 32]),
        message: Message::Query(Query {
            token: TokenId::new([0xbb; 32]),
            ticket: MessageTicket(ticket),
            challenger: PeerId::new([0xcc; 32]),
            hops_left: 255,
        }),
    }
}

fn answer(ticket: u64, addr: SocketAddr) -> Envelope<SocketAddr> {
    Envelope {
        sender: PeerId::from_u64(1),
        message: Message::Answer(Answer {
            ticket: MessageTicket(ticket),
            answer: mapping(7),
            signature: core::array::from_fn(|i| mapping(100 + i as u64)),
            proof: core::array::from_fn(|i| [i as u8; 4]),
            responder: Contact {
                id: PeerId::from_u64(2),
                addr,
            },
            key: PublicKey([0x11; 32]),
            pow: ticket,
            auth: Signature::from_bytes([0x22; 64]),
        }),
    }
}

/// Ping, Pong, FindNeighbours (unpadded) and Neighbours with 8 contacts, with
/// every varint at `n` (0 or `u64::MAX`).
fn membership(n: u64, addr: SocketAddr) -> [Envelope<SocketAddr>; 4] {
    let env = |message| Envelope {
        sender: PeerId::from_u64(1),
        message,
    };
    [
        env(Message::Ping(Ping {
            nonce: n,
            target: PeerId::from_u64(2),
            key: PublicKey([0x33; 32]),
            pow: n,
        })),
        env(Message::Pong(Pong {
            nonce: n,
            key: PublicKey([0x44; 32]),
            pow: n,
        })),
        env(Message::FindNeighbours(FindNeighbours {
            target: PeerId::from_u64(3),
            nonce: n,
            padding: Vec::new(),
        })),
        env(Message::Neighbours(Neighbours {
            nonce: n,
            contacts: (0..8u8)
                .map(|i| Contact {
                    id: PeerId::new([i + 1; 32]),
                    addr,
                })
                .collect(),
        })),
    ]
}

fn referral(ticket: u64, addr: SocketAddr) -> Envelope<SocketAddr> {
    Envelope {
        sender: PeerId::from_u64(3),
        message: Message::Referral(Referral {
            ticket: MessageTicket(ticket),
            token: TokenId::from_u64(9),
            high: Contact {
                id: PeerId::from_u64(4),
                addr,
            },
            low: Contact {
                id: PeerId::from_u64(5),
                addr,
            },
        }),
    }
}

#[test]
fn socket_addr_datagram_sizes_match_the_documented_table() {
    let len = |e: Envelope<SocketAddr>| encode(&e).unwrap().len();
    let sizes = |min: SocketAddr, max: SocketAddr| {
        [
            (len(query(0)), len(query(u64::MAX))),
            (len(answer(0, min)), len(answer(u64::MAX, max))),
            (len(referral(0, min)), len(referral(u64::MAX, max))),
        ]
    };
    let v4 = |port| SocketAddr::from((Ipv4Addr::BROADCAST, port));
    let v6 = |port| SocketAddr::from((Ipv6Addr::from([0xff; 16]), port));
    assert_eq!(sizes(v4(0), v4(u16::MAX)), [(100, 109), (1002, 1022), (143, 156)]);
    assert_eq!(sizes(v6(0), v6(u16::MAX)), [(100, 109), (1014, 1034), (167, 180)]);
    assert!(len(answer(u64::MAX, v6(u16::MAX))) <= MAX_DATAGRAM_LEN);

    let msizes = |min: SocketAddr, max: SocketAddr| {
        let lo = membership(0, min).map(len);
        let hi = membership(u64::MAX, max).map(len);
        [0, 1, 2, 3].map(|i| (lo[i], hi[i]))
    };
    assert_eq!(
        msizes(v4(0), v4(u16::MAX)),
        [(100, 118), (68, 86), (68, 77), (340, 365)]
    );
    assert_eq!(
        msizes(v6(0), v6(u16::MAX)),
        [(100, 118), (68, 86), (68, 77), (436, 461)]
    );
}

#[test]
fn socket_addrs_round_trip_and_v6_scope_is_not_carried() {
    for addr in [
        SocketAddr::from((Ipv4Addr::new(192, 0, 2, 1), 40000)),
        SocketAddr::from((Ipv6Addr::LOCALHOST, 443)),
    ] {
        for env in [answer(5, addr), referral(6, addr)] {
            assert_eq!(decode::<SocketAddr>(&encode(&env).unwrap()), Ok(env));
        }
    }
    let scoped = SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::LOCALHOST, 80, 7, 3));
    let plain = SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::LOCALHOST, 80, 0, 0));
    let bytes = encode(&answer(1, scoped)).unwrap();
    assert_eq!(bytes, encode(&answer(1, plain)).unwrap());
    assert_eq!(decode::<SocketAddr>(&bytes), Ok(answer(1, plain)));
}
