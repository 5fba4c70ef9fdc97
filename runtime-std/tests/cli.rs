//! The `election-node` binary: exit codes, one-line errors naming the flag,
//! loud cluster failures, and `run --metrics` served over HTTP.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn node() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_election-node"));
    c.env_remove("RUST_LOG");
    c
}

fn run(args: &[&str]) -> Output {
    node().args(args).stdin(Stdio::null()).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Exit code 2 and a first stderr line starting `error:` that names `flag`.
fn usage_error(args: &[&str], flag: &str) -> String {
    let o = run(args);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
    let first = err.lines().next().unwrap_or("");
    assert!(
        first.starts_with("error:") && first.contains(flag),
        "{args:?}: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    first.to_string()
}

#[test]
fn too_small_clusters_fail_fast_with_the_reason() {
    for n in ["0", "1", "2"] {
        let line = usage_error(&["cluster", "--nodes", n], "--nodes");
        assert!(
            line.contains("at least 3 nodes") && line.contains("2 other nodes"),
            "{line}"
        );
    }
}

#[test]
fn bad_values_name_their_flag() {
    usage_error(&["cluster", "--min-success", "1.5"], "--min-success");
    usage_error(&["cluster", "--min-success", "lots"], "--min-success");
    usage_error(&["run", "--listen", "nowhere.invalid:7000"], "--listen");
    usage_error(&["run", "--listen", "127.0.0.1"], "--listen");
    usage_error(
        &["run", "--listen", "127.0.0.1:0", "--bootstrap", "localhost:x"],
        "--bootstrap",
    );
    usage_error(
        &["run", "--listen", "127.0.0.1:0", "--bootstrap", "zz@127.0.0.1:1"],
        "--bootstrap",
    );
    usage_error(
        &[
            "run",
            "--listen",
            "127.0.0.1:0",
            "--advertise",
            "nowhere.invalid:1",
        ],
        "--advertise",
    );
    usage_error(
        &[
            "run",
            "--listen",
            "127.0.0.1:0",
            "--metrics",
            "nowhere.invalid:9100",
        ],
        "--metrics",
    );
    usage_error(
        &[
            "run",
            "--listen",
            "127.0.0.1:0",
            "--ledger",
            "/nonexistent/ledger.txt",
        ],
        "ledger",
    );
}

#[test]
fn a_metrics_port_in_use_is_a_usage_error_naming_the_flag() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let line = usage_error(
        &["run", "--listen", "127.0.0.1:0", "--metrics", &addr],
        "--metrics",
    );
    assert!(line.contains(&addr) && line.contains("cannot listen"), "{line}");
}

#[test]
fn a_cluster_that_does_not_elect_exits_1_and_says_why() {
    // Elections about every ten minutes and no time to run: none finishes.
    let o = run(&[
        "cluster",
        "--nodes",
        "3",
        "--duration",
        "0",
        "--interval-ms",
        "600000",
        "--json",
    ]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("error: no election finished"), "{err}");
    assert!(
        err.contains("error: 3 of 3 nodes ended without an elected peer"),
        "{err}"
    );
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["min_success"], 0.9);
    assert!(report["failed_checks"]["success_rate"].is_string(), "{report}");
    assert!(
        report["failed_checks"]["elected_peer_on_every_node"].is_string(),
        "{report}"
    );
}

#[test]
fn run_serves_metrics_over_http() {
    let mut child = node()
        .args([
            "run",
            "--listen",
            "localhost:0",
            "--metrics",
            "localhost:0",
            "--id-seed",
            "5",
            // No identity proof of work: this test is about the endpoint.
            "--pow-difficulty",
            "0",
        ])
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr: SocketAddr = loop {
        let line = lines.next().expect("a metrics line before stderr ends").unwrap();
        if let Some(rest) = line.split("metrics on http://").nth(1) {
            break rest.trim_end_matches("/metrics").parse().unwrap();
        }
    };
    assert!(addr.ip().is_loopback(), "{addr}");
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply}");
    assert!(
        reply.contains("Content-Type: text/plain; version=0.0.4"),
        "{reply}"
    );
    // The node's series are there once its first metrics are read (at start).
    for series in [
        "elections_failed_total{reason=\"timeout\"} ",
        "datagrams_sent_total{kind=\"query\"} ",
        "election_latency_seconds_count ",
        "contacts ",
    ] {
        assert!(
            reply.contains(&format!("\n{series}")),
            "{series} missing:\n{reply}"
        );
    }
}

#[test]
fn run_flags_for_pow_and_loopback_grouping_are_checked() {
    usage_error(
        &["run", "--listen", "127.0.0.1:0", "--pow-difficulty", "65"],
        "--pow-difficulty",
    );
    usage_error(
        &["run", "--listen", "127.0.0.1:0", "--loopback-groups", "per-host"],
        "--loopback-groups",
    );
}

/// `run` mines its identity proof of work (2 bits here: cheap), keeps it in
/// the state directory, and on SIGTERM writes the `--summary` file.
#[cfg(unix)]
#[test]
fn run_mines_its_proof_keeps_it_and_writes_a_summary_on_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.json");
    let mut child = node()
        .args([
            "run",
            "--listen",
            "127.0.0.1:0",
            "--id-seed",
            "9",
            "--pow-difficulty",
            "2",
        ])
        .args(["--loopback-groups", "per-ip", "--state-dir"])
        .arg(dir.path())
        .arg("--summary")
        .arg(&summary)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut mined = false;
    loop {
        let line = lines
            .next()
            .expect("a listening line before stderr ends")
            .unwrap();
        mined |= line.contains("identity proof of work (2 bits) found");
        if line.contains(" listening on ") {
            break;
        }
    }
    assert!(mined, "mining was logged before the node started");
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let pow: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("identity.pow")).unwrap()).unwrap();
    assert_eq!(pow["bits"], 2);
    assert!(pow["nonce"].is_u64(), "{pow}");
    let s: serde_json::Value = serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    assert_eq!(s["peer_id"], pow["peer_id"]);
    for key in [
        "addr",
        "uptime_ms",
        "contacts",
        "elected",
        "wins",
        "elections",
        "warnings",
        "metrics",
    ] {
        assert!(!s[key].is_null(), "{key} missing from {s}");
    }
    assert!(
        s["time_to_contacts_ms"].is_null(),
        "a lone node never knows 8 contacts"
    );
    assert!(s["metrics"]["rejected_before_probe"].is_u64());
}
