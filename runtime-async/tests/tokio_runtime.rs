//! tokio only: which runtime a node runs on (see the crate docs, Executors).
#![cfg(feature = "tokio")]

use election_proto::MemoryStore;
use runtime_async::AsyncNode;
use runtime_conformance as conformance;
use runtime_std::{Clock, NodeStopped};

fn lone_node(n: u64) -> AsyncNode<MemoryStore> {
    let (node, socket) = conformance::lone_node(n).unwrap_or_else(|e| panic!("{e}"));
    AsyncNode::spawn(node, socket, Clock::new()).unwrap()
}

/// Spawned inside the caller's single-threaded runtime, the node runs on it:
/// it answers while that runtime is driven.
#[test]
fn a_node_spawned_inside_a_runtime_runs_on_it() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let node = lone_node(11);
        assert_eq!(node.metrics().await.unwrap().elections_started, 0);
        let metrics = node.shutdown().await.expect("clean shutdown");
        assert_eq!(metrics.elections_started, 0);
    });
}

/// The node lives as long as the caller's runtime: once it is shut down, the
/// handle reports `NodeStopped` instead of hanging. A node spawned from a
/// plain thread (on the crate's own runtime) is unaffected.
#[test]
fn a_node_on_a_dropped_runtime_reports_stopped() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let on_caller = {
        let _entered = rt.enter();
        lone_node(12)
    };
    let on_owned = lone_node(13);
    futures::executor::block_on(async {
        assert!(on_caller.metrics().await.is_ok());
        drop(rt);
        assert_eq!(on_caller.metrics().await, Err(NodeStopped));
        assert_eq!(on_caller.shutdown().await, Err(NodeStopped));
        assert!(on_owned.metrics().await.is_ok());
        assert!(on_owned.shutdown().await.is_ok());
    });
}
