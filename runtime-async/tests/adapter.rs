//! The async adapter on real loopback sockets, and its interoperation with the
//! std adapter. Executor-neutral: the same tests run on whichever executor the
//! features select (`.ci/run` runs them on each).

use election_proto::node::Event;
use election_proto::{BlockId, MemoryStore, TokenId};
use futures::channel::oneshot;
use futures::future::{self, Either};
use futures::StreamExt;
use runtime_async::{AsyncNode, AsyncRuntime};
use runtime_conformance as conformance;
use runtime_std::{Clock, NodeStopped, StdRuntime};
use std::future::Future;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn ok<T>(r: Result<T, String>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn cluster_of_eight_completes_elections() {
    let report = ok(conformance::cluster_completes_elections(&[&AsyncRuntime], 8));
    assert_eq!(report.runtime, "async");
}

#[test]
fn garbage_datagrams_are_counted_and_node_keeps_electing() {
    ok(conformance::garbage_is_counted_and_node_keeps_electing(
        &AsyncRuntime,
    ));
}

#[test]
fn stopping_a_cluster_returns_metrics() {
    ok(conformance::stop_returns_metrics(&AsyncRuntime));
}

#[test]
fn restart_with_same_state_dir_restores_elected_peers() {
    let dir = tempfile::tempdir().unwrap();
    ok(conformance::restart_restores_elected_peers(
        &AsyncRuntime,
        dir.path(),
    ));
}

#[test]
fn bootstrap_from_bare_addresses_learns_ids_and_elects() {
    ok(conformance::bootstrap_by_address_only(&AsyncRuntime));
}

#[test]
fn corrupt_state_file_is_reported_and_node_starts_fresh() {
    let dir = tempfile::tempdir().unwrap();
    ok(conformance::corrupt_state_starts_fresh(&AsyncRuntime, dir.path()));
}

#[test]
fn std_and_async_nodes_elect_each_other() {
    ok(conformance::adapters_elect_each_other(&StdRuntime, &AsyncRuntime));
}

/// `future`'s output, or `None` after `limit` (timed by a plain thread, so
/// that the tests need no executor's timer).
async fn within<F: Future>(limit: Duration, future: F) -> Option<F::Output> {
    let (tx, rx) = oneshot::channel::<()>();
    std::thread::spawn(move || {
        std::thread::sleep(limit);
        let _ = tx.send(());
    });
    futures::pin_mut!(future);
    match future::select(future, rx).await {
        Either::Left((out, _)) => Some(out),
        Either::Right(_) => None,
    }
}

#[test]
fn the_executor_follows_the_documented_precedence() {
    let expected = if cfg!(feature = "tokio") {
        "tokio"
    } else if cfg!(feature = "smol") {
        "smol"
    } else {
        "async-std"
    };
    assert_eq!(runtime_async::EXECUTOR, expected);
}

fn lone_node(n: u64) -> AsyncNode<MemoryStore> {
    let (node, socket) = ok(conformance::lone_node(n));
    AsyncNode::spawn(node, socket, Clock::new()).unwrap()
}

/// The handle's own async API: commands, store updates, the event stream,
/// shutdown with metrics.
#[test]
fn handle_commands_store_updates_and_clean_shutdown() {
    futures::executor::block_on(async {
        let mut node = lone_node(7);
        let token = TokenId::from_u64(5);
        node.start_election(token).unwrap();
        node.update_store(move |s| {
            s.insert(token, BlockId::from_u64(6));
        })
        .await
        .unwrap();
        node.start_election(token).unwrap();
        let mut reasons = Vec::new();
        while reasons.len() < 2 {
            let next = within(Duration::from_secs(30), node.events().next()).await;
            match next.expect("events arrive").expect("stream open") {
                Event::ElectionFailed { reason, .. } => reasons.push(reason),
                Event::ElectionStarted { .. } => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(node.with_node(|n| n.store().len()).await.unwrap(), 1);
        let metrics = node.shutdown().await.expect("clean shutdown");
        ok(conformance::lone_node_elections_failed(&reasons, &metrics));
    });
}

#[test]
fn a_dead_loop_reports_stopped_instead_of_hanging() {
    futures::executor::block_on(async {
        let node = lone_node(8);
        assert!(node.metrics().await.is_ok());
        // Kill the task with a panicking call (the panic message is expected).
        let r: Result<(), NodeStopped> = node
            .with_node(|_| panic!("deliberate panic inside the node task"))
            .await;
        assert_eq!(r, Err(NodeStopped));
        assert_eq!(node.metrics().await, Err(NodeStopped));
        assert_eq!(node.start_election(TokenId::from_u64(1)), Err(NodeStopped));
        assert_eq!(node.shutdown().await, Err(NodeStopped));
    });
}

#[test]
fn cli_run_prints_named_metrics_on_sigterm() {
    ok(conformance::cli_run_prints_named_metrics_on_sigterm(Path::new(
        env!("CARGO_BIN_EXE_election-node-async"),
    )));
}

#[test]
fn cli_cluster_prints_a_json_report() {
    ok(conformance::cli_cluster_prints_a_json_report(
        Path::new(env!("CARGO_BIN_EXE_election-node-async")),
        "async",
    ));
}

#[test]
fn cli_reports_bad_ledger_lines_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.txt");
    std::fs::write(&path, "not a ledger line\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_election-node-async"))
        .args(["run", "--listen", "127.0.0.1:0", "--ledger"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("line 1: expected"), "{stderr}");
}

#[test]
fn star_bootstrapped_from_one_seed_address_elects_three_peers_each() {
    ok(conformance::star_from_one_seed_elects_three_peers_each(
        &AsyncRuntime,
    ));
}

#[test]
fn made_up_sender_flood_keeps_success_and_the_per_host_cap() {
    ok(conformance::made_up_sender_flood_is_capped(&AsyncRuntime));
}
