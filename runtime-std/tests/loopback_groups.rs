//! The per-host and per-subnet contact caps on real, distinct loopback
//! addresses (Linux routes all of 127.0.0.0/8 to `lo`, so 127.0.1.1 and
//! 127.0.2.1 are two hosts in two /24s without any namespace).
//!
//! With the default `--loopback-groups per-port` every loopback port is its
//! own host and subnet (demo clusters on 127.0.0.1), so many sockets on one
//! address fill a node's table; with `per-ip` the caps bite as they do on a
//! real network: at most `max_contacts_per_ip` (2) contacts per address and
//! `max_contacts_per_subnet` (4) per /24 (in practice fewer: six nodes in a
//! /24 make it a crowded subnet, and the table keeps one of each group; the
//! run measured 1 and 1, with 120 refusals).
//!
//! The setting is process-wide, so this file is its own test binary and its
//! one test runs both settings in turn, each with fresh nodes.

use election_proto::node::NodeConfig;
use election_proto::wire::{set_loopback_groups, LoopbackGroups};
use runtime_std::setup::{BootstrapPeer, LedgerSource, NodeSetup, StartedNode};
use runtime_std::StdRuntime;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

/// Sockets on one address (group A) and addresses in one /24 (group B).
const FLOOD: u8 = 6;

fn start(ip: [u8; 4], id_seed: u64, bootstrap: Option<SocketAddr>) -> StartedNode {
    let setup = NodeSetup {
        bootstrap: bootstrap.map(BootstrapPeer::Addr).into_iter().collect(),
        ledger: LedgerSource::Synthetic {
            seed: 5,
            tokens: 1024,
            coverage: 0.9,
        },
        id_seed: Some(id_seed),
        config: NodeConfig::default(),
        ..NodeSetup::new(SocketAddr::new(IpAddr::V4(Ipv4Addr::from(ip)), 0))
    };
    setup
        .start(&StdRuntime)
        .expect("start a node on a loopback address")
}

struct Outcome {
    /// The target's contacts on the one address of group A.
    from_host: usize,
    /// The target's contacts in the /24 of group B.
    from_subnet: usize,
    /// The target's refusals of group members (`rejected_before_probe` + `rejected_group_full`).
    refused: u64,
}

/// A target on `127.0.T.1`, `FLOOD` nodes on `127.0.T+1.1` (one address,
/// many ports) and `FLOOD` on `127.0.T+2.1..` (one /24), all joining through
/// the target. Waits (bounded) until `done` holds, then stops everything.
fn flood(t: u8, done: impl Fn(&Outcome, usize) -> bool) -> Outcome {
    let target = start([127, 0, t, 1], u64::from(t) * 100, None);
    let at = target.node().contact().addr;
    let mut others = Vec::new();
    for i in 0..FLOOD {
        others.push(start(
            [127, 0, t + 1, 1],
            u64::from(t) * 100 + 1 + u64::from(i),
            Some(at),
        ));
        others.push(start(
            [127, 0, t + 2, 1 + i],
            u64::from(t) * 100 + 50 + u64::from(i),
            Some(at),
        ));
    }
    let measure = |target: &StartedNode| {
        let snapshot = target.node().snapshot().expect("target running");
        let metrics = target.node().metrics().expect("target running");
        let ip = |c: &election_proto::wire::Contact<SocketAddr>| match c.addr.ip() {
            IpAddr::V4(v4) => v4.octets(),
            IpAddr::V6(_) => [0; 4],
        };
        Outcome {
            from_host: snapshot
                .contacts
                .iter()
                .filter(|c| ip(c) == [127, 0, t + 1, 1])
                .count(),
            from_subnet: snapshot
                .contacts
                .iter()
                .filter(|c| ip(c)[..3] == [127, 0, t + 2])
                .count(),
            refused: metrics.rejected_before_probe + metrics.rejected_group_full,
        }
    };
    let mut outcome = measure(&target);
    // Bounded wait (not a timed assertion): at most 60 s for the condition.
    for round in 0..600 {
        let joined = others
            .iter()
            .filter(|o| {
                o.node()
                    .snapshot()
                    .is_ok_and(|s| s.contacts.iter().any(|c| c.addr == at))
            })
            .count();
        outcome = measure(&target);
        if done(&outcome, joined) || round == 599 {
            eprintln!(
                "127.0.{t}.1 after {round} rounds: {joined} joined; {} contacts from one address, {} from one /24, {} refused",
                outcome.from_host, outcome.from_subnet, outcome.refused
            );
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    for o in others {
        let _ = o.stop();
    }
    let _ = target.stop();
    outcome
}

#[test]
fn per_host_and_per_subnet_caps_bite_on_loopback_only_when_grouped_per_ip() {
    // Per port (the default): the one address's sockets are all distinct hosts.
    set_loopback_groups(LoopbackGroups::PerPort);
    let per_port = flood(10, |o, _| o.from_host > 2 && o.from_subnet > 4);
    assert!(
        per_port.from_host > 2 && per_port.from_subnet > 4,
        "per port, the caps do not apply to loopback: {} from one address, {} from one /24",
        per_port.from_host,
        per_port.from_subnet
    );

    // Per IP: wait until every flooding node has met the target and the
    // target has refused at least the members beyond the caps.
    set_loopback_groups(LoopbackGroups::PerIp);
    let beyond = u64::from(FLOOD - 2) + u64::from(FLOOD - 4);
    let per_ip = flood(20, |o, joined| {
        joined == 2 * usize::from(FLOOD) && o.refused >= beyond && o.from_host >= 1 && o.from_subnet >= 1
    });
    set_loopback_groups(LoopbackGroups::PerPort);
    assert!(
        per_ip.from_host <= 2,
        "per-host cap: {} contacts on one address",
        per_ip.from_host
    );
    assert!(
        per_ip.from_subnet <= 4,
        "per-subnet cap: {} contacts in one /24",
        per_ip.from_subnet
    );
    assert!(
        per_ip.refused >= beyond,
        "the target refused {} (expected at least {beyond})",
        per_ip.refused
    );
    assert!(
        per_ip.from_host >= 1 && per_ip.from_subnet >= 1,
        "the caps limit, they do not exclude"
    );
}
