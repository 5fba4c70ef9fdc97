//! Sybil hosts: where relays and referrers live, and the extra ids they present.
//!
//! Relays and referrers are *sybil hosts*. [`Sybils`] says how many ids each
//! host presents at its one address and how many hosts share a /24:
//!
//! - **ids per host**: the host's own key (the id its core runs as) plus
//!   `ids_per_host - 1` extra Ed25519 keys derived from the seed
//!   ([`extra_key`]). Real keys: a relay can sign answers as any of them, and a
//!   pong for any of them carries the matching key.
//! - **hosts per subnet**: 0 (the default) leaves every host at its node index,
//!   a /24 of its own (sybils spread over as many subnets as there are hosts);
//!   `m > 0` packs `m` hosts into each /24, with the scheme the eclipse
//!   adversary uses ([`address`]: the host number in the top byte, the subnet in
//!   the low 24 bits), in a range of subnets that meets neither node indices
//!   nor eclipse subnets.
//!
//! A host with extra ids introduces them ([`introduce`]): every
//! [`INTRO_EVERY_MS`] it sends [`INTRO_BURST`] `FindNeighbours` lookups of an
//! extra id *for itself* (what a joining node sends, which an honest node
//! answers by probing the sender even without allowance), and it answers the
//! pings that follow for any of its ids ([`pong_for`]). The per-host and
//! per-subnet caps of honest contact tables are what stands against it.

use crate::rng::{derive32, SimRng};
use election_proto::wire::{FindNeighbours, Message, Ping, Pong, FIND_NEIGHBOURS_PADDED_LEN};
use election_proto::{NodeKey, PeerId};

/// How sybil hosts (relays and referrers) present themselves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sybils {
    /// Ids each host presents at its one address (its own included). At least 1.
    pub ids_per_host: u64,
    /// Hosts sharing one /24; 0: every host in a /24 of its own (its node index).
    pub hosts_per_subnet: usize,
}

impl Default for Sybils {
    /// One id per host, every host in its own /24.
    fn default() -> Self {
        Self {
            ids_per_host: 1,
            hosts_per_subnet: 0,
        }
    }
}

/// Most hosts per /24: the host number takes the address's top byte (1..=255).
pub const MAX_HOSTS_PER_SUBNET: usize = 255;
/// First /24 of sybil hosts (low 24 bits of the address); far above node
/// indices and below the eclipse subnets, which count down from `0xff_ffff`.
const FIRST_SUBNET: u32 = 0x0080_0000;
/// Time between a sybil host's introduction bursts.
pub const INTRO_EVERY_MS: u64 = 20_000;
/// Lookups in one introduction burst.
pub const INTRO_BURST: usize = 4;

/// The address of the `k`-th sybil host when `per_subnet` hosts share a /24
/// (`per_subnet` in `1..=`[`MAX_HOSTS_PER_SUBNET`]).
pub fn address(k: usize, per_subnet: usize) -> u32 {
    let per = per_subnet.clamp(1, MAX_HOSTS_PER_SUBNET);
    let member = (k % per + 1) as u32;
    let subnet = FIRST_SUBNET + (k / per) as u32;
    (member << 24) | subnet
}

/// The `j`-th extra key (`j ≥ 1`) of the sybil host that is node `node`.
pub fn extra_key(seed: u64, node: usize, j: u64) -> NodeKey {
    NodeKey::from_secret(derive32(seed ^ j.rotate_left(32), "sybil key", node as u64))
}

/// The pong a host presenting `keys` sends to `ping` if it targets one of
/// them: `(sender, pong)`.
pub fn pong_for(keys: &[(PeerId, NodeKey)], ping: &Ping) -> Option<(PeerId, Message<u32>)> {
    let (id, key) = keys.iter().find(|(id, _)| *id == ping.target)?;
    Some((
        *id,
        Message::Pong(Pong {
            nonce: ping.nonce,
            key: key.public(),
            pow: key.pow_nonce(),
        }),
    ))
}

/// One introduction burst of a host presenting the extra ids `extra`, toward
/// random nodes of `0..nodes`: `(to node index, sender, message)`.
pub fn introduce(
    extra: &[(PeerId, NodeKey)],
    nodes: usize,
    rng: &mut SimRng,
) -> Vec<(u32, PeerId, Message<u32>)> {
    if extra.is_empty() {
        return Vec::new();
    }
    (0..INTRO_BURST)
        .map(|_| {
            let to = rng.below(nodes as u64) as u32;
            let (id, _) = &extra[rng.below(extra.len() as u64) as usize];
            let lookup = Message::FindNeighbours(FindNeighbours {
                target: *id,
                nonce: rng.next_u64(),
                padding: Vec::new(),
            });
            (to, *id, pad(lookup))
        })
        .collect()
}

/// A `FindNeighbours` padded as honest nodes pad it (so the reply may be full).
fn pad(m: Message<u32>) -> Message<u32> {
    match m {
        Message::FindNeighbours(mut f) => {
            let bare = election_proto::wire::encode(&election_proto::wire::Envelope {
                sender: f.target,
                message: Message::<u32>::FindNeighbours(f.clone()),
            })
            .map_or(0, |b| b.len());
            f.padding = vec![0; FIND_NEIGHBOURS_PADDED_LEN.saturating_sub(bare)];
            Message::FindNeighbours(f)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use election_proto::wire::Address;

    #[test]
    fn sybil_addresses_pack_hosts_into_subnets_apart_from_everyone_else() {
        let g = |a: u32| a.groups();
        assert_eq!(g(address(0, 4)).subnet, g(address(3, 4)).subnet);
        assert_ne!(g(address(0, 4)).subnet, g(address(4, 4)).subnet);
        assert_ne!(g(address(0, 4)).ip, g(address(1, 4)).ip);
        for k in 0..1000 {
            let a = address(k, 255);
            assert!(a >> 24 > 0, "never a node index");
            assert_ne!(a, crate::adversary::eclipse::address(k));
            assert_ne!(g(a).subnet, g(crate::adversary::eclipse::address(k)).subnet);
        }
    }

    #[test]
    fn pongs_carry_the_key_of_the_id_pinged() {
        let keys: Vec<(PeerId, NodeKey)> = (1..4)
            .map(|j| extra_key(7, 3, j))
            .map(|k| (k.peer_id(), k))
            .collect();
        assert_ne!(keys[0].0, keys[1].0);
        let ping = Ping {
            nonce: 9,
            target: keys[1].0,
            key: keys[0].1.public(),
            pow: 0,
        };
        let (id, pong) = pong_for(&keys, &ping).unwrap();
        assert_eq!(id, keys[1].0);
        let Message::Pong(p) = pong else { panic!() };
        assert_eq!((p.nonce, p.key), (9, keys[1].1.public()));
        let other = Ping {
            target: PeerId::from_u64(1),
            ..ping
        };
        assert!(pong_for(&keys, &other).is_none());
    }

    #[test]
    fn introductions_are_padded_self_lookups_of_extra_ids() {
        let keys: Vec<(PeerId, NodeKey)> = (1..4)
            .map(|j| extra_key(7, 3, j))
            .map(|k| (k.peer_id(), k))
            .collect();
        let mut rng = SimRng::new(1, "t");
        let burst = introduce(&keys, 10, &mut rng);
        assert_eq!(burst.len(), INTRO_BURST);
        for (to, sender, m) in burst {
            assert!(to < 10);
            let Message::FindNeighbours(f) = &m else { panic!() };
            assert_eq!(f.target, sender);
            assert!(keys.iter().any(|(id, _)| *id == sender));
            let bytes =
                election_proto::wire::encode(&election_proto::wire::Envelope { sender, message: m }).unwrap();
            assert_eq!(bytes.len(), FIND_NEIGHBOURS_PADDED_LEN);
        }
        assert!(introduce(&[], 10, &mut rng).is_empty());
    }
}
