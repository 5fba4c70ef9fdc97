//! The std adapter on real loopback sockets.

use election_proto::node::Event;
use election_proto::wire::Contact;
use election_proto::{BlockId, TokenId};
use runtime_conformance as conformance;
use runtime_std::{Clock, Identity, NodeStopped, StdNode, StdRuntime};
use std::path::Path;
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
    let (node, socket) = ok(conformance::lone_node(7));
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
    assert_eq!(node.with_node(|n| n.store().len()).unwrap(), 1);
    let metrics = node.shutdown().expect("clean shutdown");
    ok(conformance::lone_node_elections_failed(&reasons, &metrics));
}

#[test]
fn a_dead_loop_reports_stopped_instead_of_hanging() {
    let (node, socket) = ok(conformance::lone_node(8));
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
fn cli_run_prints_named_metrics_on_sigterm() {
    ok(conformance::cli_run_prints_named_metrics_on_sigterm(Path::new(
        env!("CARGO_BIN_EXE_election-node"),
    )));
}

#[test]
fn cli_cluster_prints_a_json_report() {
    ok(conformance::cli_cluster_prints_a_json_report(
        Path::new(env!("CARGO_BIN_EXE_election-node")),
        "std",
    ));
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

#[test]
fn star_bootstrapped_from_one_seed_address_elects_three_peers_each() {
    ok(conformance::star_from_one_seed_elects_three_peers_each(
        &StdRuntime,
    ));
}

#[test]
fn made_up_sender_flood_keeps_success_and_the_per_host_cap() {
    ok(conformance::made_up_sender_flood_is_capped(&StdRuntime));
}
