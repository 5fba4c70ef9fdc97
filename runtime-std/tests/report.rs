//! The cluster report names every count: failure reasons, message kinds and
//! decode errors are maps keyed by name, and the JSON has no positional arrays.

use election_proto::node::{FailureReason, Metrics};
use election_proto::wire::{DecodeError, MessageKind};
use runtime_conformance::json_arrays;
use runtime_std::cluster::{ClusterRun, Totals};
use runtime_std::{ClusterReport, IoStats};
use std::time::Duration;

fn busy_metrics(k: u64) -> Metrics {
    let mut m = Metrics {
        elections_started: 10 * k,
        elections_succeeded: 6 * k,
        elected_peers: k as usize,
        ..Metrics::default()
    };
    m.elections_failed[FailureReason::Timeout.index()] = 2 * k;
    m.elections_failed[FailureReason::NoConsensus.index()] = k;
    m.elections_failed[FailureReason::Shutdown.index()] = k;
    m.sent.count[MessageKind::Query.index()] = 30 * k;
    m.sent.count[MessageKind::Referral.index()] = 5 * k;
    m.received.count[MessageKind::Answer.index()] = 20 * k;
    m.decode_errors[DecodeError::Malformed.index()] = 3 * k;
    m
}

#[test]
fn totals_count_by_name() {
    let t = Totals::of(&[busy_metrics(1), busy_metrics(2), Metrics::default()]);
    assert_eq!(t.elections_started, 30);
    assert_eq!(t.elections_succeeded, 18);
    assert_eq!(t.elections_interrupted, 3);
    assert_eq!(t.elections_failed, 9);
    assert_eq!(t.failures.get("timeout"), Some(&6));
    assert_eq!(t.failures.get("no_consensus"), Some(&3));
    assert_eq!(t.failures.get("shutdown"), Some(&3));
    assert_eq!(
        t.failures.len(),
        3,
        "only reasons that occurred: {:?}",
        t.failures
    );
    assert_eq!(t.sent_by_kind.get("query"), Some(&90));
    assert_eq!(t.sent_by_kind.get("answer"), Some(&0));
    assert_eq!(t.sent_by_kind.get("referral"), Some(&15));
    assert_eq!(t.datagrams_sent, 105);
    assert_eq!(t.received_by_kind.get("answer"), Some(&60));
    assert_eq!(t.decode_errors_by_kind.get("malformed"), Some(&9));
    assert_eq!(t.decode_errors_by_kind.len(), DecodeError::COUNT);
    assert_eq!(t.decode_errors, 9);
    assert_eq!(t.nodes_with_elected_peer, 2);
    assert_eq!(t.elected_peers, 3);
}

#[test]
fn report_json_is_keyed_by_name_without_arrays() {
    let run = ClusterRun {
        runtime: "std".into(),
        duration: Duration::from_secs(10),
        metrics: vec![busy_metrics(1), busy_metrics(1)],
        latencies: vec![5, 1, 3],
        cpu: Some(Duration::from_millis(500)),
        io: IoStats {
            send_errors: 4,
            events_dropped: 2,
            ..IoStats::default()
        },
    };
    let report = ClusterReport::from_run(&run);
    assert_eq!(report.nodes, 2);
    assert_eq!((report.send_errors, report.events_dropped), (4, 2));
    assert_eq!(report.latency_ms_p50, Some(3));
    assert_eq!(report.latency_ms_max, Some(5));
    assert_eq!(report.success_rate, Some(0.6667));
    assert_eq!(report.datagrams_per_election, Some(3.5));
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json_arrays(&json), Vec::<String>::new(), "{json}");
    assert_eq!(json["failures"]["timeout"], 4);
    assert_eq!(json["datagrams_sent_by_kind"]["query"], 60);
    assert_eq!(json["datagrams_received_by_kind"]["answer"], 40);
    assert_eq!(json["decode_errors_by_kind"]["malformed"], 6);
    // And back.
    let back: ClusterReport = serde_json::from_value(json).unwrap();
    assert_eq!(back, report);
    let shown = report.to_string();
    assert!(
        shown.contains("failures:    no_consensus 2, shutdown 2, timeout 4"),
        "{shown}"
    );
}

#[test]
fn json_arrays_finds_nested_arrays() {
    let v = serde_json::json!({"a": {"b": [1, {"c": []}]}, "d": 1});
    assert_eq!(json_arrays(&v), vec!["a.b".to_string(), "a.b[1].c".to_string()]);
}

fn report_of(metrics: Vec<Metrics>) -> ClusterReport {
    ClusterReport::from_run(&ClusterRun {
        runtime: "std".into(),
        duration: Duration::from_secs(10),
        metrics,
        ..ClusterRun::default()
    })
}

#[test]
fn checks_fail_on_low_success_and_nodes_without_peers_by_name() {
    // 6 of 9 finished elections succeeded; one node of three has no peer.
    let mut report = report_of(vec![busy_metrics(1), busy_metrics(2), Metrics::default()]);
    assert!(!report.check(0.9));
    assert_eq!(report.min_success, Some(0.9));
    let names: Vec<&str> = report.failed_checks.keys().map(String::as_str).collect();
    assert_eq!(names, ["elected_peer_on_every_node", "success_rate"]);
    assert_eq!(
        report.failed_checks["success_rate"],
        "success rate 66.7 % is below --min-success 90.0 % (9 of 27 elections failed)"
    );
    assert_eq!(
        report.failed_checks["elected_peer_on_every_node"],
        "1 of 3 nodes ended without an elected peer"
    );
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json_arrays(&json), Vec::<String>::new(), "{json}");
    assert!(json["failed_checks"]["success_rate"].is_string());
    // The same run passes a lower bar once every node has a peer.
    let mut report = report_of(vec![busy_metrics(1), busy_metrics(2)]);
    assert!(report.check(0.6), "{:?}", report.failed_checks);
    assert!(report.failed_checks.is_empty());
}

#[test]
fn a_run_without_finished_elections_fails_its_check() {
    let mut report = report_of(vec![Metrics::default(); 3]);
    assert!(!report.check(0.0));
    assert!(report.failed_checks["success_rate"].starts_with("no election finished"));
}

#[test]
fn clusters_below_min_cluster_size_plus_one_are_too_small() {
    use runtime_std::cluster::{cluster_node_config, min_cluster_nodes, too_small};
    let config = cluster_node_config();
    assert_eq!(
        min_cluster_nodes(&config),
        config.elections.consensus.min_cluster_size + 1
    );
    assert_eq!(too_small(3, &config), None);
    let why = too_small(2, &config).expect("two nodes cannot elect");
    assert!(
        why.contains("at least 2 other nodes") && why.contains("at least 3 nodes"),
        "{why}"
    );
    assert!(!why.contains('\n'));
}
