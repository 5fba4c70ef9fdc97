//! The std adapter on real loopback sockets.

use election_proto::node::{Event, FailureReason, Node, NodeConfig};
use election_proto::wire::Contact;
use election_proto::{BlockId, MemoryStore, TokenId};
use runtime_std::conformance;
use runtime_std::{Clock, Identity, NodeStopped, StdNode, StdRuntime};
use std::net::UdpSocket;
use std::process::Command;
use std::time::Duration;

fn ok<T>(r: Result<T, String>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn cluster_of_eight_completes_elections() {
    let report = ok(conformance::cluster_completes_elections(&[&StdRuntime], 8));
    assert_eq!(report.runtime, "std");
}

#[test]
fn garbage_datagrams_are_counted_and_node_keeps_electing() {
    ok(conformance::garbage_is_counted_and_node_keeps_electing(
        &StdRuntime,
    ));
}

#[test]
fn stopping_a_cluster_returns_metrics() {
    ok(conformance::stop_returns_metrics(&StdRuntime));
}

#[test]
fn restart_with_same_state_dir_restores_elected_peers() {
    let dir = tempfile::tempdir().unwrap();
    ok(conformance::restart_restores_elected_peers(
        &StdRuntime,
        dir.path(),
    ));
}

#[test]
fn bootstrap_from_bare_addresses_learns_ids_and_elects() {
    ok(conformance::bootstrap_by_address_only(&StdRuntime));
}

#[test]
fn corrupt_state_file_is_reported_and_node_starts_fresh() {
    let dir = tempfile::tempdir().unwrap();
    ok(conformance::corrupt_state_starts_fresh(&StdRuntime, dir.path()));
}

/// The handle's own API: commands, store updates, events, shutdown with metrics.
#[test]
fn handle_commands_store_updates_and_clean_shutdown() {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let identity = Identity::from_u64(7);
    let me = Contact {
        id: identity.peer_id(),
        addr: socket.local_addr().unwrap(),
    };
    let node = Node::new(
        NodeConfig::default(),
        me,
        MemoryStore::new(),
        identity.derived_rng_seed(0),
    )
    .unwrap();
    let node = StdNode::spawn(node, socket, Clock::new()).unwrap();
    let token = TokenId::from_u64(5);
    // Not stored yet: the election fails for want of the token.
    node.start_election(token).unwrap();
    node.update_store(move |s| {
        s.insert(token, BlockId::from_u64(6));
    })
    .unwrap();
    // Stored now, but no contacts.
    node.start_election(token).unwrap();
    let mut reasons = Vec::new();
    while reasons.len() < 2 {
        match node
            .events()
            .recv_timeout(Duration::from_secs(30))
            .expect("events arrive")
        {
            Event::ElectionFailed { reason, .. } => reasons.push(reason),
            Event::ElectionStarted { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(reasons, vec![FailureReason::NoToken, FailureReason::NoContacts]);
    assert_eq!(node.with_node(|n| n.store().len()).unwrap(), 1);
    let metrics = node.shutdown().expect("clean shutdown");
    assert_eq!(metrics.elections_started, 2);
    assert_eq!(metrics.failed(FailureReason::NoToken), 1);
    assert_eq!(metrics.failed(FailureReason::NoContacts), 1);
}

#[test]
fn a_dead_loop_reports_stopped_instead_of_hanging() {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let identity = Identity::from_u64(8);
    let me = Contact {
        id: identity.peer_id(),
        addr: socket.local_addr().unwrap(),
    };
    let node = Node::new(NodeConfig::default(), me, MemoryStore::new(), [1; 32]).unwrap();
    let node = StdNode::spawn(node, socket, Clock::new()).unwrap();
    assert!(node.metrics().is_ok());
    // Kill the loop thread with a panicking call (the panic message is expected).
    let r: Result<(), NodeStopped> = node.with_node(|_| panic!("deliberate panic inside the node loop"));
    assert_eq!(r, Err(NodeStopped));
    assert_eq!(node.metrics(), Err(NodeStopped));
    assert_eq!(node.start_election(TokenId::from_u64(1)), Err(NodeStopped));
    assert_eq!(node.shutdown(), Err(NodeStopped));
    assert_eq!(NodeStopped.to_string(), "the node has stopped");
}

#[test]
fn cli_cluster_prints_a_json_report() {
    let out = Command::new(env!("CARGO_BIN_EXE_election-node"))
        .args(["cluster", "--nodes", "8", "--duration", "10", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    for key in [
        "nodes",
        "duration_s",
        "elections_started",
        "elections_succeeded",
        "success_rate",
        "latency_ms_p50",
        "latency_ms_p99",
        "nodes_with_elected_peer",
        "datagrams_sent",
        "decode_errors",
    ] {
        assert!(report.get(key).is_some(), "missing {key}: {report}");
    }
    assert_eq!(report["nodes"], 8);
    assert!(report["elections_succeeded"].as_u64().unwrap() > 0, "{report}");
}

#[test]
fn bootstrap_peers_parse_as_address_or_id_at_address() {
    use runtime_std::BootstrapPeer;
    let addr: std::net::SocketAddr = "127.0.0.1:7000".parse().unwrap();
    assert_eq!(
        " 127.0.0.1:7000 ".parse::<BootstrapPeer>(),
        Ok(BootstrapPeer::Addr(addr))
    );
    let id = Identity::from_u64(3).peer_id();
    assert_eq!(
        format!("{id}@127.0.0.1:7000").parse::<BootstrapPeer>(),
        Ok(BootstrapPeer::Contact(Contact { id, addr }))
    );
    for bad in ["", "127.0.0.1", "xyz@127.0.0.1:7000", "localhost:7000"] {
        assert!(bad.parse::<BootstrapPeer>().is_err(), "{bad:?} accepted");
    }
}
