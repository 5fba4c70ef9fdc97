//! Membership tests: admission by a proven round trip, the caps, test before
//! evict, lookups, and every rejection path. Each node is driven by hand.
// Tests tweak one field of a default config at a time; that reads best as assignment.
#![allow(clippy::field_reassign_with_default)]

use crate::id::{PeerId, TokenId};
use crate::keys::NodeKey;
use crate::keys::PublicKey;
use crate::node::*;
use crate::wire::{decode, encode, FindNeighbours, MessageKind, Neighbours, Ping, Pong, Query};
use crate::wire::{Contact, Envelope, Message};
use crate::MemoryStore;

fn id(n: u64) -> PeerId {
    PeerId::new(*blake3::hash(&n.to_le_bytes()).as_bytes())
}

/// The key of the node under test; its id is `me()`.
fn my_key() -> NodeKey {
    NodeKey::from_secret([0xe0; 32])
}

fn me() -> PeerId {
    my_key().peer_id()
}

fn node_with(cfg: NodeConfig) -> Node<u32, MemoryStore> {
    let mut n = Node::new(cfg, my_key(), 0, MemoryStore::new(), [9; 32]).unwrap();
    n.handle_input(0, Input::Timer);
    n
}

fn node() -> Node<u32, MemoryStore> {
    let mut c = NodeConfig::default();
    c.health.election_interval_ms = 10_000_000;
    c.health.target_elected_peers = 0; // no startup burst either
    node_with(c)
}

fn sent(n: &mut Node<u32, MemoryStore>) -> Vec<(u32, Envelope<u32>, usize)> {
    let mut v = Vec::new();
    while let Some(o) = n.poll_output() {
        if let Output::Send { to, bytes } = o {
            let len = bytes.len();
            v.push((to, decode(&bytes).unwrap(), len));
        }
    }
    v
}

fn datagram(sender: PeerId, message: Message<u32>) -> Vec<u8> {
    encode(&Envelope { sender, message }).unwrap()
}

fn feed(n: &mut Node<u32, MemoryStore>, now: u64, from: u32, bytes: &[u8]) {
    n.handle_input(now, Input::Datagram { from, bytes });
}

/// Feeds a query from `sender` at `from`; returns the ping the node answers with, if any.
fn query_from(n: &mut Node<u32, MemoryStore>, now: u64, sender: PeerId, from: u32) -> Option<Ping> {
    let q = Message::Query(Query {
        token: TokenId::new([5; 32]),
        ticket: MessageTicket(now),
        challenger: sender,
        hops_left: 0,
    });
    feed(n, now, from, &datagram(sender, q));
    sent(n).into_iter().find_map(|(to, e, _)| match e.message {
        Message::Ping(p) if to == from => Some(p),
        _ => None,
    })
}

use crate::election::MessageTicket;

#[test]
fn an_unsolicited_sender_is_admitted_only_after_its_pong() {
    let mut n = node();
    let ping = query_from(&mut n, 1, id(1), 7).expect("the sender is pinged");
    assert_eq!(ping.target, id(1));
    assert_eq!(n.metrics().contacts, 0, "a query alone admits nobody");
    // A pong with another nonce, from another address or under another id: dropped and counted.
    for (from, sender, nonce) in [
        (7, id(1), ping.nonce ^ 1),
        (8, id(1), ping.nonce),
        (7, id(2), ping.nonce),
    ] {
        feed(
            &mut n,
            2,
            from,
            &datagram(
                sender,
                Message::Pong(Pong {
                    nonce,
                    key: PublicKey([0; 32]),
                    pow: 0,
                }),
            ),
        );
        assert_eq!(n.metrics().contacts, 0);
    }
    assert_eq!(n.metrics().unsolicited_replies, 3);
    feed(
        &mut n,
        3,
        7,
        &datagram(
            id(1),
            Message::Pong(Pong {
                nonce: ping.nonce,
                key: PublicKey([0; 32]),
                pow: 0,
            }),
        ),
    );
    assert_eq!(
        n.contacts().collect::<Vec<_>>(),
        vec![Contact { id: id(1), addr: 7 }]
    );
    assert_eq!(n.metrics().contacts_admitted, 1);
    // Replayed: the probe is gone.
    feed(
        &mut n,
        4,
        7,
        &datagram(
            id(1),
            Message::Pong(Pong {
                nonce: ping.nonce,
                key: PublicKey([0; 32]),
                pow: 0,
            }),
        ),
    );
    assert_eq!(n.metrics().unsolicited_replies, 4);
}

#[test]
fn pings_are_answered_only_for_our_own_id_and_never_larger() {
    let mut n = node();
    let ping = datagram(
        id(3),
        Message::Ping(Ping {
            nonce: 42,
            target: me(),
            key: PublicKey([0; 32]),
            pow: 0,
        }),
    );
    feed(&mut n, 1, 5, &ping);
    let out = sent(&mut n);
    let pong = out.iter().find(|(to, e, _)| {
        *to == 5
            && matches!(e.message, Message::Pong(Pong { nonce: 42, key, .. }) if key == my_key().public())
    });
    assert!(pong.is_some_and(|(_, _, len)| *len <= ping.len()), "{out:?}");
    let other = datagram(
        id(3),
        Message::Ping(Ping {
            nonce: 43,
            target: id(99),
            key: PublicKey([0; 32]),
            pow: 0,
        }),
    );
    feed(&mut n, 2, 5, &other);
    assert!(sent(&mut n)
        .iter()
        .all(|(_, e, _)| !matches!(e.message, Message::Pong(_))));
    assert_eq!(n.metrics().unsolicited_replies, 1);
}

#[test]
fn a_flood_from_one_host_fills_at_most_the_per_host_cap() {
    // Vouch for 40 contacts so the table-size share allows the full caps.
    let mut n = node();
    let vouched = (100..140)
        .map(|i| Contact {
            id: id(i),
            addr: i as u32,
        })
        .collect();
    n.handle_input(0, Input::Command(Command::AddContacts(vouched)));
    sent(&mut n);
    let mut admitted_from_attacker = 0;
    for i in 0..2_000u64 {
        let sender = id(10_000 + i);
        // One attacking host (address 77) answering every ping it gets.
        if let Some(p) = query_from(&mut n, 10 + i * 1_000, sender, 77) {
            feed(
                &mut n,
                11 + i * 1_000,
                77,
                &datagram(
                    sender,
                    Message::Pong(Pong {
                        nonce: p.nonce,
                        key: PublicKey([0; 32]),
                        pow: 0,
                    }),
                ),
            );
        }
        admitted_from_attacker = n.contacts().filter(|c| c.addr == 77).count();
        assert!(admitted_from_attacker <= n.config().membership.max_contacts_per_ip);
    }
    assert_eq!(admitted_from_attacker, n.config().membership.max_contacts_per_ip);
    assert!(n.metrics().contacts_rejected > 1_000, "{:?}", n.metrics());
    assert!(
        n.metrics().probes_sent <= 2 + u64::from(n.config().membership.probe_burst) + 2_000 / 120,
        "{:?}",
        n.metrics()
    );
}

#[test]
fn a_young_table_holds_one_contact_per_subnet() {
    let mut n = node();
    // Two hosts of one u32 "subnet" (same low 24 bits).
    let (a, b) = (5u32 | 1 << 24, 5u32 | 2 << 24);
    let pa = query_from(&mut n, 1, id(1), a).unwrap();
    feed(
        &mut n,
        2,
        a,
        &datagram(
            id(1),
            Message::Pong(Pong {
                nonce: pa.nonce,
                key: PublicKey([0; 32]),
                pow: 0,
            }),
        ),
    );
    assert_eq!(n.metrics().contacts, 1);
    assert!(
        query_from(&mut n, 3, id(2), b).is_none(),
        "the subnet is full: not even pinged"
    );
    assert_eq!(n.metrics().contacts_rejected, 1);
}

#[test]
fn neighbours_replies_stay_within_three_times_the_request() {
    let mut n = node();
    let vouched = (1..=16)
        .map(|i| Contact {
            id: id(i),
            addr: 100 + i as u32,
        })
        .collect();
    n.handle_input(0, Input::Command(Command::AddContacts(vouched)));
    sent(&mut n);
    for pad in [0usize, 20, 100] {
        let req = datagram(
            id(50),
            Message::FindNeighbours(FindNeighbours {
                target: id(3),
                nonce: 9,
                padding: vec![0; pad],
            }),
        );
        feed(&mut n, 1, 60, &req);
        let out = sent(&mut n);
        let (_, env, len) = out
            .iter()
            .find(|(_, e, _)| matches!(e.message, Message::Neighbours(_)))
            .unwrap();
        assert!(
            *len <= 3 * req.len(),
            "{len} bytes for a {}-byte request",
            req.len()
        );
        let Message::Neighbours(Neighbours { nonce, contacts }) = &env.message else {
            unreachable!()
        };
        assert_eq!(*nonce, 9);
        assert!(contacts.len() <= n.config().membership.neighbours_per_reply);
        if pad == 100 {
            assert_eq!(
                contacts.len(),
                n.config().membership.neighbours_per_reply,
                "a padded request gets a full reply"
            );
        }
        assert!(contacts.iter().all(|c| c.id != id(50)), "never the requester");
    }
}

#[test]
fn a_seed_address_is_admitted_by_its_reply_and_named_contacts_are_only_asked() {
    let mut n = node();
    n.handle_input(1, Input::Command(Command::AddSeeds(vec![40])));
    let out = sent(&mut n);
    let (to, env, len) = &out[0];
    assert_eq!((*to, *len), (40, wire::FIND_NEIGHBOURS_PADDED_LEN));
    let Message::FindNeighbours(req) = &env.message else {
        panic!("{env:?}")
    };
    assert_eq!(req.target, me(), "the first lookup is of our own id");
    // An unsolicited reply (wrong nonce) is dropped and counted.
    let named = vec![Contact { id: id(7), addr: 41 }, Contact { id: id(8), addr: 42 }];
    let bogus = Neighbours {
        nonce: req.nonce ^ 1,
        contacts: named.clone(),
    };
    feed(&mut n, 2, 40, &datagram(id(6), Message::Neighbours(bogus)));
    assert_eq!(n.metrics().unsolicited_replies, 1);
    assert_eq!(n.metrics().contacts, 0);
    let reply = Neighbours {
        nonce: req.nonce,
        contacts: named,
    };
    feed(&mut n, 3, 40, &datagram(id(6), Message::Neighbours(reply)));
    assert_eq!(
        n.contacts().collect::<Vec<_>>(),
        vec![Contact { id: id(6), addr: 40 }],
        "only the replier"
    );
    let asked: Vec<u32> = sent(&mut n)
        .into_iter()
        .filter(|(_, e, _)| e.message.kind() == MessageKind::FindNeighbours)
        .map(|(to, _, _)| to)
        .collect();
    assert_eq!(asked.len(), 2, "the named contacts are asked in turn");
    assert!(asked.contains(&41) && asked.contains(&42));
}

#[test]
fn a_full_table_evicts_only_a_contact_that_fails_its_liveness_check() {
    let mut c = NodeConfig::default();
    c.health.election_interval_ms = 10_000_000;
    c.health.target_elected_peers = 0;
    c.membership.max_contacts = 2;
    c.membership.contact_stale_ms = 1_000;
    let mut n = node_with(c);
    n.handle_input(
        0,
        Input::Command(Command::AddContacts(vec![
            Contact { id: id(1), addr: 11 },
            Contact { id: id(2), addr: 12 },
        ])),
    );
    sent(&mut n);
    // Much later a newcomer proves itself (via a lookup reply): the stalest
    // contact is pinged first.
    n.handle_input(5_000, Input::Command(Command::AddSeeds(vec![13])));
    let nonce = sent(&mut n)
        .into_iter()
        .find_map(|(to, e, _)| match e.message {
            Message::FindNeighbours(f) if to == 13 => Some(f.nonce),
            _ => None,
        })
        .unwrap();
    feed(
        &mut n,
        5_001,
        13,
        &datagram(
            id(3),
            Message::Neighbours(Neighbours {
                nonce,
                contacts: vec![],
            }),
        ),
    );
    let liveness: Vec<(u32, Ping)> = sent(&mut n)
        .into_iter()
        .filter_map(|(to, e, _)| match e.message {
            Message::Ping(p) => Some((to, p)),
            _ => None,
        })
        .collect();
    assert_eq!(liveness.len(), 1);
    let (victim_addr, ping) = liveness[0];
    assert_eq!(n.metrics().contacts, 2, "nobody evicted yet");
    // The victim answers: it stays, the newcomer is turned away.
    feed(
        &mut n,
        5_002,
        victim_addr,
        &datagram(
            ping.target,
            Message::Pong(Pong {
                nonce: ping.nonce,
                key: PublicKey([0; 32]),
                pow: 0,
            }),
        ),
    );
    assert!(n.contacts().any(|c| c.id == ping.target));
    assert!(!n.contacts().any(|c| c.id == id(3)));
    // Later another newcomer: this time the stalest contact stays silent.
    n.handle_input(20_000, Input::Command(Command::AddSeeds(vec![14])));
    let nonce = sent(&mut n)
        .into_iter()
        .find_map(|(to, e, _)| match e.message {
            Message::FindNeighbours(f) if to == 14 => Some(f.nonce),
            _ => None,
        })
        .unwrap();
    feed(
        &mut n,
        20_001,
        14,
        &datagram(
            id(4),
            Message::Neighbours(Neighbours {
                nonce,
                contacts: vec![],
            }),
        ),
    );
    let victim = sent(&mut n)
        .into_iter()
        .find_map(|(_, e, _)| match e.message {
            Message::Ping(p) => Some(p.target),
            _ => None,
        })
        .unwrap();
    n.handle_input(20_001 + n.config().membership.probe_timeout_ms, Input::Timer);
    assert!(
        !n.contacts().any(|c| c.id == victim),
        "evicted after failing the check"
    );
    assert!(n.contacts().any(|c| c.id == id(4)), "the newcomer took its place");
    assert_eq!(n.metrics().contacts_evicted, 1);
    assert_eq!(n.metrics().contacts, 2);
}

/// Vouches for one contact per address in `addrs` (each its own subnet).
fn vouch_for(n: &mut Node<u32, MemoryStore>, addrs: std::ops::Range<u32>) -> Vec<Contact<u32>> {
    let list: Vec<Contact<u32>> = addrs
        .map(|i| Contact {
            id: id(u64::from(i)),
            addr: i,
        })
        .collect();
    n.handle_input(0, Input::Command(Command::AddContacts(list.clone())));
    list
}

#[test]
fn a_crowded_subnet_gets_a_tenth_of_the_table_and_loses_the_rest() {
    let mut n = node();
    let honest = vouch_for(&mut n, 100..105u32);
    sent(&mut n);
    // Host 1 of "subnet" 9 gets in: nothing is known against its subnet yet.
    let (a, b) = (9u32 | 1 << 24, 9u32 | 2 << 24);
    let p = query_from(&mut n, 1, id(1), a).unwrap();
    feed(
        &mut n,
        2,
        a,
        &datagram(
            id(1),
            Message::Pong(Pong {
                nonce: p.nonce,
                key: PublicKey([0; 32]),
                pow: 0,
            }),
        ),
    );
    assert!(n.contacts().any(|c| c.addr == a));
    // Traffic from three honest subnets: four subnets seen, enough to judge.
    for c in &honest[..3] {
        query_from(&mut n, 3, c.id, c.addr);
    }
    assert!(
        n.contacts().any(|c| c.addr == a),
        "one node per subnet is no crowd"
    );
    let evicted = n.metrics().contacts_evicted;
    // A second (host, id) in subnet 9: crowded. A table of 6 may hold none of it.
    assert!(query_from(&mut n, 4, id(2), b).is_none(), "not even pinged");
    assert!(!n.contacts().any(|c| c.addr == a || c.addr == b));
    assert_eq!(n.metrics().contacts_evicted, evicted + 1);
    assert_eq!(n.contacts().count(), honest.len());
}

#[test]
fn a_replier_naming_its_own_subnet_crowds_it_before_it_is_admitted() {
    let mut n = node();
    let honest = vouch_for(&mut n, 100..104u32);
    for c in &honest {
        query_from(&mut n, 1, c.id, c.addr);
    }
    // A seed address in subnet 9 answers our lookup naming only subnet 9.
    let seed = 9u32 | 1 << 24;
    n.handle_input(2, Input::Command(Command::AddSeeds(vec![seed])));
    let req = sent(&mut n)
        .into_iter()
        .find_map(|(to, e, _)| match e.message {
            Message::FindNeighbours(f) if to == seed => Some(f),
            _ => None,
        })
        .unwrap();
    let named = (2..10u32)
        .map(|h| Contact {
            id: id(u64::from(h) + 500),
            addr: 9 | h << 24,
        })
        .collect();
    let reply = Message::Neighbours(Neighbours {
        nonce: req.nonce,
        contacts: named,
    });
    feed(&mut n, 3, seed, &datagram(id(500), reply));
    assert!(
        !n.contacts().any(|c| c.addr & 0xff_ffff == 9),
        "crowded: no room in a table of 4"
    );
    assert_eq!(n.contacts().count(), honest.len());
}

#[test]
fn an_unanswered_seed_is_asked_again_by_the_first_refresh() {
    let mut n = node();
    n.handle_input(1, Input::Command(Command::AddSeeds(vec![40])));
    let asked = |n: &mut Node<u32, MemoryStore>| {
        sent(n)
            .into_iter()
            .filter(|(to, e, _)| *to == 40 && e.message.kind() == MessageKind::FindNeighbours)
            .count()
    };
    assert_eq!(asked(&mut n), 1);
    // The request is lost; the lookup times out, nothing else happens until the refresh.
    n.handle_input(1 + n.config().membership.probe_timeout_ms, Input::Timer);
    assert_eq!(asked(&mut n), 0);
    let at = n.poll_timeout().unwrap();
    assert!(at <= 31_000, "refresh due 30 s after joining, not {at}");
    n.handle_input(at, Input::Timer);
    assert_eq!(asked(&mut n), 1, "the seed is asked again");
}
