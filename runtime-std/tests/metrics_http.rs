//! The Prometheus endpoint: named, labelled series with the node's values,
//! a histogram whose buckets add up, and 4xx answers to bad requests that do
//! not stop the server.

use election_proto::node::{FailureReason, Metrics, LATENCY_BUCKETS_MS};
use election_proto::wire::{DecodeError, MessageKind};
use runtime_std::cluster::{Cluster, ClusterOptions};
use runtime_std::metrics_http::{MetricsFeed, MetricsServer, MAX_REQUEST_BYTES};
use runtime_std::{IoStats, StdRuntime};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

/// Sends `request` (then closes the writing side) and returns status code and body.
fn exchange(addr: SocketAddr, request: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    // The server may answer (and stop reading) before all of an oversized
    // request is written; that is the point, so a failed write is fine.
    let _ = s.write_all(request);
    let _ = s.shutdown(Shutdown::Write);
    let mut reply = Vec::new();
    s.read_to_end(&mut reply).unwrap();
    let reply = String::from_utf8(reply).unwrap();
    let (head, body) = reply.split_once("\r\n\r\n").expect("a head and a body");
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .expect("Content-Length")
        .parse()
        .unwrap();
    assert_eq!(length, body.len(), "Content-Length matches the body");
    (status, body.to_string())
}

fn scrape(addr: SocketAddr) -> BTreeMap<String, f64> {
    let (status, body) = exchange(addr, b"GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_eq!(status, 200, "{body}");
    parse(&body)
}

/// `series{labels} value` lines into a map keyed by `series{labels}`.
fn parse(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').unwrap_or_else(|| panic!("bad line {l:?}"));
            (
                series.to_string(),
                value.parse().unwrap_or_else(|_| panic!("bad value in {l:?}")),
            )
        })
        .collect()
}

fn busy_metrics() -> Metrics {
    let mut m = Metrics {
        elections_started: 20,
        elections_succeeded: 9,
        contacts: 7,
        elected_peers: 3,
        forward_entries: 2,
        active_elections: 1,
        ..Metrics::default()
    };
    m.elections_failed[FailureReason::Timeout.index()] = 4;
    m.elections_failed[FailureReason::NoConsensus.index()] = 2;
    m.sent.count[MessageKind::Query.index()] = 31;
    m.received.count[MessageKind::Referral.index()] = 5;
    m.decode_errors[DecodeError::Malformed.index()] = 6;
    // 9 successes: 5 in the first bucket, 3 in the third, 1 overflow.
    m.latency_histogram[0] = 5;
    m.latency_histogram[2] = 3;
    m.latency_histogram[LATENCY_BUCKETS_MS.len()] = 1;
    m.latency_sum_ms = 123_456;
    m
}

/// Checks the histogram: cumulative buckets in bound order never decrease,
/// and `+Inf`, `_count` and `elections_succeeded_total` agree.
fn check_histogram(s: &BTreeMap<String, f64>) {
    let mut buckets: Vec<(f64, f64)> = s
        .iter()
        .filter_map(|(k, v)| {
            let le = k
                .strip_prefix("election_latency_seconds_bucket{le=\"")?
                .strip_suffix("\"}")?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().unwrap()
            };
            Some((le, *v))
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let bounds: Vec<f64> = LATENCY_BUCKETS_MS
        .iter()
        .map(|b| *b as f64 / 1000.0)
        .chain([f64::INFINITY])
        .collect();
    assert_eq!(
        buckets.iter().map(|b| b.0).collect::<Vec<_>>(),
        bounds,
        "one bucket per bound"
    );
    for w in buckets.windows(2) {
        assert!(
            w[1].1 >= w[0].1,
            "bucket le={} is {} after {}",
            w[1].0,
            w[1].1,
            w[0].1
        );
    }
    assert_eq!(buckets.last().unwrap().1, s["election_latency_seconds_count"]);
    assert_eq!(
        s["election_latency_seconds_count"],
        s["elections_succeeded_total"]
    );
}

/// The cumulative count of the first bucket.
fn first_bucket(s: &BTreeMap<String, f64>) -> f64 {
    let first = LATENCY_BUCKETS_MS[0] as f64 / 1000.0;
    s.iter()
        .find(|(k, _)| {
            k.strip_prefix("election_latency_seconds_bucket{le=\"")
                .and_then(|r| r.strip_suffix("\"}"))
                .and_then(|le| le.parse::<f64>().ok())
                == Some(first)
        })
        .map(|(_, v)| *v)
        .expect("first bucket")
}

#[test]
fn series_are_named_labelled_and_exact() {
    let feed = MetricsFeed::new();
    let server = MetricsServer::start("127.0.0.1:0".parse().unwrap(), feed.clone()).unwrap();
    let io = IoStats {
        send_errors: 2,
        ..IoStats::default()
    };
    feed.update(busy_metrics(), io);
    let s = scrape(server.local_addr());
    assert_eq!(s["elections_started_total"], 20.0);
    assert_eq!(s["elections_succeeded_total"], 9.0);
    for r in FailureReason::ALL {
        let key = format!("elections_failed_total{{reason=\"{}\"}}", r.name());
        assert!(s.contains_key(&key), "{key} missing");
    }
    assert_eq!(s["elections_failed_total{reason=\"timeout\"}"], 4.0);
    assert_eq!(s["elections_failed_total{reason=\"no_consensus\"}"], 2.0);
    assert_eq!(s["elections_failed_total{reason=\"shutdown\"}"], 0.0);
    for k in MessageKind::ALL {
        assert!(s.contains_key(&format!("datagrams_sent_total{{kind=\"{}\"}}", k.as_str())));
    }
    assert_eq!(s["datagrams_sent_total{kind=\"query\"}"], 31.0);
    assert_eq!(s["datagrams_received_total{kind=\"referral\"}"], 5.0);
    for name in DecodeError::NAMES {
        assert!(s.contains_key(&format!("decode_errors_total{{kind=\"{name}\"}}")));
    }
    assert_eq!(s["decode_errors_total{kind=\"malformed\"}"], 6.0);
    assert_eq!(s["transport_errors_total{kind=\"send\"}"], 2.0);
    assert_eq!(
        (
            s["contacts"],
            s["elected_peers"],
            s["forward_entries"],
            s["active_elections"]
        ),
        (7.0, 3.0, 2.0, 1.0)
    );
    check_histogram(&s);
    assert_eq!(first_bucket(&s), 5.0);
    assert!((s["election_latency_seconds_sum"] - 123.456).abs() < 1e-9);
    // A new snapshot replaces the old one: nothing is added up twice.
    feed.update(busy_metrics(), io);
    assert_eq!(scrape(server.local_addr()), s);
    server.shutdown();
}

#[test]
fn bad_requests_get_4xx_and_the_server_keeps_serving() {
    let feed = MetricsFeed::new();
    feed.update(busy_metrics(), IoStats::default());
    let server = MetricsServer::start("127.0.0.1:0".parse().unwrap(), feed).unwrap();
    let addr = server.local_addr();
    let mut oversized = b"GET /metrics HTTP/1.1\r\nX-Padding: ".to_vec();
    oversized.resize(4 * MAX_REQUEST_BYTES, b'a');
    let cases: [(&str, Vec<u8>, u16); 6] = [
        ("other path", b"GET / HTTP/1.1\r\n\r\n".to_vec(), 404),
        ("other method", b"POST /metrics HTTP/1.1\r\n\r\n".to_vec(), 404),
        ("not HTTP", b"hello there\r\n\r\n".to_vec(), 400),
        (
            "binary",
            vec![0xff; 64].into_iter().chain(*b"\r\n\r\n").collect(),
            400,
        ),
        ("cut short", b"GET /metrics HTTP/1.1\r\nHost:".to_vec(), 400),
        ("oversized", oversized, 431),
    ];
    for (what, request, want) in cases {
        let (status, _) = exchange(addr, &request);
        assert_eq!(status, want, "{what}");
        // Still serving, with the right values.
        assert_eq!(scrape(addr)["elections_succeeded_total"], 9.0, "after {what}");
    }
}

#[test]
fn a_live_node_is_scraped_with_plausible_values() {
    let opts = ClusterOptions {
        nodes: 5,
        seed: 21,
        ..ClusterOptions::default()
    };
    let mut cluster = Cluster::start(&[&StdRuntime], &opts).unwrap();
    cluster
        .wait_until(Duration::from_secs(90), Duration::from_millis(100), |p| {
            p.per_node[0].elections_succeeded >= 2
        })
        .expect("node 0 elects");
    let node = &cluster.nodes()[0];
    let feed = MetricsFeed::new();
    let server = MetricsServer::start("127.0.0.1:0".parse().unwrap(), feed.clone()).unwrap();
    let m = node.metrics().unwrap();
    feed.update(m.clone(), node.io_stats());
    let s = scrape(server.local_addr());
    assert_eq!(s["elections_succeeded_total"], m.elections_succeeded as f64);
    assert!(s["elections_succeeded_total"] >= 2.0);
    assert!(s["elections_started_total"] >= s["elections_succeeded_total"]);
    assert_eq!(
        s["elections_failed_total{reason=\"timeout\"}"],
        m.failed(FailureReason::Timeout) as f64
    );
    assert!(s["datagrams_sent_total{kind=\"query\"}"] > 0.0);
    assert!(s["contacts"] >= 2.0);
    check_histogram(&s);
    server.shutdown();
    cluster.finish();
}
