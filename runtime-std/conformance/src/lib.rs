//! Behaviour every runtime adapter must show, as functions both adapters'
//! test suites call with their own [`Runtime`] (so the scenarios are written
//! once). Each returns `Err` with a description instead of panicking.
//!
//! Dev-only: this crate is not published, and only the adapters' tests
//! depend on it.
//!
//! All scenarios run real nodes on 127.0.0.1 with OS-chosen ports and wait
//! for outcomes with a generous deadline ([`DEADLINE`]); none asserts speed.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use election_proto::node::{FailureReason, Metrics, Node, NodeConfig};
use election_proto::wire::{MAX_DATAGRAM_LEN, PROTOCOL_VERSION};
use election_proto::{MemoryStore, PeerId};
use rand::RngCore;
use runtime_std::cluster::{cluster_node_config, Cluster, ClusterOptions, ClusterReport, Progress};
use runtime_std::control::{NodeControl, Runtime};
use runtime_std::identity::{seeded_rng, Identity};
use runtime_std::ledger::{DEFAULT_COVERAGE, DEFAULT_SYNTHETIC_TOKENS};
use runtime_std::setup::StartReport;
use runtime_std::setup::{BootstrapPeer, IdentityOrigin, LedgerSource, NodeSetup};
use runtime_std::state::{StateDir, StateError};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

/// How long any scenario waits for an outcome before declaring failure.
pub const DEADLINE: Duration = Duration::from_secs(90);

const POLL: Duration = Duration::from_millis(100);

fn options(nodes: usize, seed: u64) -> ClusterOptions {
    ClusterOptions {
        nodes,
        seed,
        ..ClusterOptions::default()
    }
}

fn wait(cluster: &mut Cluster, what: &str, done: impl FnMut(&Progress) -> bool) -> Result<Progress, String> {
    cluster
        .wait_until(DEADLINE, POLL, done)
        .map_err(|p| format!("{what}: not reached within {DEADLINE:?}; last progress: {p}"))
}

fn wait_for(what: &str, mut done: impl FnMut() -> Result<bool, String>) -> Result<(), String> {
    let start = Instant::now();
    loop {
        if done()? {
            return Ok(());
        }
        if start.elapsed() >= DEADLINE {
            return Err(format!("{what}: not reached within {DEADLINE:?}"));
        }
        std::thread::sleep(POLL);
    }
}

/// Waits until `node` has won an election.
fn wait_until_elected(what: &str, node: &dyn NodeControl) -> Result<(), String> {
    wait_for(what, || {
        Ok(node.metrics().map_err(|e| e.to_string())?.elections_succeeded > 0)
    })
}

/// A cluster of `nodes` nodes (on `runtimes`, alternating) elects: every node
/// ends up with an elected peer, and the final report counts the successes.
pub fn cluster_completes_elections(runtimes: &[&dyn Runtime], nodes: usize) -> Result<ClusterReport, String> {
    let mut cluster = Cluster::start(runtimes, &options(nodes, 11)).map_err(|e| format!("start: {e}"))?;
    wait(&mut cluster, "every node has an elected peer", |p| {
        p.totals.nodes_with_elected_peer == nodes
    })?;
    let report = cluster.finish();
    if report.nodes != nodes || report.elections_succeeded == 0 || report.nodes_with_elected_peer != nodes {
        return Err(format!("unexpected report: {report:?}"));
    }
    if report.latency_ms_p50.is_none() || report.success_rate.is_none() {
        return Err(format!("report lacks latency or success rate: {report:?}"));
    }
    Ok(report)
}

/// One datagram of each decode-error kind: empty, oversized, unknown version,
/// malformed, trailing bytes.
pub fn garbage_datagrams(me: PeerId) -> Vec<Vec<u8>> {
    let mut rng = seeded_rng("election-node 2024 garbage", b"conformance");
    let mut random = vec![0u8; 300];
    rng.fill_bytes(&mut random);
    let mut unknown_version = random.clone();
    unknown_version[0] = PROTOCOL_VERSION.wrapping_add(1);
    let mut malformed = vec![PROTOCOL_VERSION];
    malformed.extend_from_slice(me.as_bytes());
    malformed.push(0x7f); // no such message variant
    let mut trailing = election_proto::wire::encode(&election_proto::Envelope::<SocketAddr> {
        sender: me,
        message: election_proto::Message::Pong(election_proto::wire::Pong {
            nonce: rng.next_u64(),
            key: election_proto::PublicKey([0; 32]),
            pow: 0,
        }),
    })
    .unwrap_or_default();
    trailing.push(0);
    vec![
        Vec::new(),
        vec![PROTOCOL_VERSION; MAX_DATAGRAM_LEN + 300],
        unknown_version,
        malformed,
        trailing,
    ]
}

/// Garbage sent at a running node is counted as decode errors (one per
/// datagram) and the node goes on electing.
pub fn garbage_is_counted_and_node_keeps_electing(runtime: &dyn Runtime) -> Result<(), String> {
    let mut cluster = Cluster::start(&[runtime], &options(8, 12)).map_err(|e| format!("start: {e}"))?;
    wait(&mut cluster, "first successful election", |p| {
        p.totals.elections_succeeded > 0
    })?;
    let target = cluster.nodes()[0].local_addr();
    let before = cluster.nodes()[0].metrics().map_err(|e| e.to_string())?;
    let attacker = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| e.to_string())?;
    let kinds = garbage_datagrams(PeerId::new([0x5a; 32]));
    let rounds = 40;
    for round in 0..rounds {
        for d in &kinds {
            attacker.send_to(d, target).map_err(|e| format!("send: {e}"))?;
        }
        if round % 10 == 9 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let sent = (rounds * kinds.len()) as u64;
    let expected = before.decode_errors_total() + sent;
    let node_metrics = |c: &Cluster| c.nodes()[0].metrics().map_err(|e| e.to_string());
    wait_for("every garbage datagram counted", || {
        Ok(node_metrics(&cluster)?.decode_errors_total() >= expected)
    })?;
    let after = node_metrics(&cluster)?;
    if after.decode_errors_total() != expected {
        return Err(format!(
            "{} decode errors, expected {expected}",
            after.decode_errors_total()
        ));
    }
    for (i, n) in after.decode_errors.iter().enumerate() {
        if *n < before.decode_errors[i] + rounds as u64 {
            return Err(format!(
                "decode error kind {i} counted {n} times: {:?}",
                after.decode_errors
            ));
        }
    }
    let succeeded = after.elections_succeeded;
    wait_for("node 0 elects again after the garbage", || {
        Ok(node_metrics(&cluster)?.elections_succeeded > succeeded)
    })?;
    cluster.finish();
    Ok(())
}

/// Stopping a node returns its final metrics and peer tables; the node is
/// then gone (its handle is consumed) and the others carry on.
pub fn stop_returns_metrics(runtime: &dyn Runtime) -> Result<(), String> {
    let mut cluster = Cluster::start(&[runtime], &options(8, 13)).map_err(|e| format!("start: {e}"))?;
    wait(&mut cluster, "node 0 elects a peer", |p| {
        p.per_node[0].elections_succeeded > 0
    })?;
    let report = cluster.finish();
    if report.elections_succeeded == 0 || report.elections_started < report.elections_succeeded {
        return Err(format!("final metrics do not show the elections: {report:?}"));
    }
    Ok(())
}

fn setup_for(cluster: &Cluster, seed: u64, dir: &Path) -> NodeSetup {
    NodeSetup {
        bootstrap: cluster
            .nodes()
            .iter()
            .map(|n| BootstrapPeer::Contact(n.contact()))
            .collect(),
        state_dir: Some(dir.to_path_buf()),
        ledger: LedgerSource::Synthetic {
            seed,
            tokens: DEFAULT_SYNTHETIC_TOKENS,
            coverage: DEFAULT_COVERAGE,
        },
        config: cluster_node_config(),
        ..NodeSetup::new(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
    }
}

/// A node with a state directory elects peers next to a cluster, stops, and
/// restarts from the same directory with the same identity and its elected
/// peers restored, then elects again without any bootstrap.
pub fn restart_restores_elected_peers(runtime: &dyn Runtime, dir: &Path) -> Result<(), String> {
    let seed = 14;
    let cluster = Cluster::start(&[runtime], &options(8, seed)).map_err(|e| format!("start: {e}"))?;
    let setup = setup_for(&cluster, seed, dir);
    let first = setup.start(runtime).map_err(|e| format!("first start: {e}"))?;
    if first.report().identity != IdentityOrigin::Generated {
        return Err(format!(
            "fresh directory, yet identity {:?}",
            first.report().identity
        ));
    }
    let id = first.node().id();
    wait_for("the node elects two peers", || {
        Ok(first.node().metrics().map_err(|e| e.to_string())?.elected_peers >= 2)
    })?;
    let stopped = first.stop().map_err(|e| format!("stop: {e}"))?;
    let saved: BTreeSet<PeerId> = stopped.snapshot.elected.iter().map(|p| p.contact.id).collect();
    let file = StateDir::open(dir)
        .and_then(|d| d.load_peers())
        .map_err(|e| format!("reading the saved state: {e}"))?
        .ok_or("no state saved on stop")?;
    if file.peer_id != id || file.snapshot != stopped.snapshot {
        return Err("the saved state differs from the final snapshot".into());
    }

    let restart = NodeSetup {
        bootstrap: Vec::new(),
        ..setup
    };
    let second = restart.start(runtime).map_err(|e| format!("restart: {e}"))?;
    let report = second.report();
    if report.identity != IdentityOrigin::Loaded || second.node().id() != id {
        return Err(format!("identity not kept: {:?}", report.identity));
    }
    if !report.state_problems.is_empty() {
        return Err(format!("problems on restart: {:?}", report.state_problems));
    }
    if report.restored_peers != saved.len() {
        return Err(format!(
            "restored {} elected peers, saved {}",
            report.restored_peers,
            saved.len()
        ));
    }
    let now: BTreeSet<PeerId> = second
        .node()
        .snapshot()
        .map_err(|e| e.to_string())?
        .elected
        .iter()
        .map(|p| p.contact.id)
        .collect();
    if !saved.is_subset(&now) {
        return Err(format!(
            "elected peers after restart {now:?} lack some of {saved:?}"
        ));
    }
    if second.node().now_ms() < file.saved_at_ms {
        return Err("the restarted clock runs behind the saved snapshot".into());
    }
    wait_until_elected(
        "the restarted node elects again from its restored peers",
        second.node(),
    )?;
    second.stop().map_err(|e| format!("final stop: {e}"))?;
    cluster.finish();
    Ok(())
}

/// Corrupt and truncated state files are reported and the node starts fresh,
/// keeps working, and leaves valid files behind.
pub fn corrupt_state_starts_fresh(runtime: &dyn Runtime, dir: &Path) -> Result<(), String> {
    let seed = 15;
    let cluster = Cluster::start(&[runtime], &options(8, seed)).map_err(|e| format!("start: {e}"))?;
    let setup = setup_for(&cluster, seed, dir);
    // A valid state to damage: run once until something is saved.
    let first = setup.start(runtime).map_err(|e| format!("first start: {e}"))?;
    wait_for("the node elects a peer", || {
        Ok(first.node().metrics().map_err(|e| e.to_string())?.elected_peers >= 1)
    })?;
    first.stop().map_err(|e| format!("stop: {e}"))?;
    let state = StateDir::open(dir).map_err(|e| e.to_string())?;
    let peers = std::fs::read(state.peers_path()).map_err(|e| e.to_string())?;

    let damaged: BTreeMap<&str, Vec<u8>> = BTreeMap::from([
        ("truncated", peers[..peers.len() / 2].to_vec()),
        ("garbage", b"\x00\xff not json at all".to_vec()),
        ("empty", Vec::new()),
    ]);
    for (what, bytes) in &damaged {
        std::fs::write(state.peers_path(), bytes).map_err(|e| e.to_string())?;
        let node = setup
            .start(runtime)
            .map_err(|e| format!("{what} state file: start failed: {e}"))?;
        let report = node.report();
        if report.restored_peers != 0
            || !matches!(report.state_problems.as_slice(), [StateError::Corrupt { .. }])
            || report.identity != IdentityOrigin::Loaded
        {
            return Err(format!("{what} state file: unexpected start report {report:?}"));
        }
        kept_aside(what, report, 0, "peers.json.corrupt-", bytes)?;
        wait_until_elected("the node works after a corrupt state file", node.node())?;
        node.stop().map_err(|e| format!("{what}: stop: {e}"))?;
        match state.load_peers() {
            Ok(Some(_)) => {}
            other => return Err(format!("{what}: state not rewritten validly: {other:?}")),
        }
    }
    // A corrupt identity: reported, replaced by a new identity, old snapshot not applied.
    let peers_before = std::fs::read(state.peers_path()).map_err(|e| e.to_string())?;
    std::fs::write(state.identity_path(), b"xyz").map_err(|e| e.to_string())?;
    let node = setup
        .start(runtime)
        .map_err(|e| format!("corrupt identity: start failed: {e}"))?;
    let report = node.report();
    if report.identity != IdentityOrigin::Generated
        || report.restored_peers != 0
        || report.state_problems.len() != 2
    {
        return Err(format!("corrupt identity: unexpected start report {report:?}"));
    }
    // Never overwritten: the old identity and the snapshot of its id are kept.
    kept_aside("corrupt identity", report, 0, "identity.corrupt-", b"xyz")?;
    kept_aside(
        "corrupt identity",
        report,
        1,
        "peers.json.corrupt-",
        &peers_before,
    )?;
    node.stop().map_err(|e| format!("stop: {e}"))?;
    match state.load_identity() {
        Ok(Some(_)) => {}
        other => return Err(format!("identity not rewritten validly: {other:?}")),
    }
    cluster.finish();
    Ok(())
}

/// Checks that `report.moved_aside[i]` is named `PREFIX<timestamp>` and holds `bytes`.
fn kept_aside(what: &str, report: &StartReport, i: usize, prefix: &str, bytes: &[u8]) -> Result<(), String> {
    let Some(path) = report.moved_aside.get(i) else {
        return Err(format!("{what}: nothing moved aside: {report:?}"));
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stamp = name.strip_prefix(prefix).unwrap_or("").as_bytes();
    let well_formed = stamp.len() >= 16
        && stamp[..8].iter().chain(&stamp[9..15]).all(u8::is_ascii_digit)
        && stamp[8] == b'T'
        && stamp[15] == b'Z';
    if !well_formed {
        return Err(format!(
            "{what}: moved aside to {}, not {prefix}YYYYMMDDTHHMMSSZ",
            path.display()
        ));
    }
    match std::fs::read(path) {
        Ok(kept) if kept == bytes => Ok(()),
        Ok(_) => Err(format!(
            "{what}: {} does not hold the original bytes",
            path.display()
        )),
        Err(e) => Err(format!("{what}: {}: {e}", path.display())),
    }
}

/// Nodes of two adapters in one cluster elect each other: some node of `a`
/// has a node of `b` among its elected peers, and the other way round.
pub fn adapters_elect_each_other(a: &dyn Runtime, b: &dyn Runtime) -> Result<(), String> {
    let nodes = 8;
    let mut cluster = Cluster::start(&[a, b], &options(nodes, 16)).map_err(|e| format!("start: {e}"))?;
    let runtime_of: BTreeMap<PeerId, &'static str> = cluster
        .nodes()
        .iter()
        .map(|n| (n.id(), n.runtime_name()))
        .collect();
    let (name_a, name_b) = (a.name(), b.name());
    if name_a == name_b {
        return Err("two different adapters are needed".into());
    }
    let start = Instant::now();
    loop {
        cluster.drain_events();
        let mut a_elected_b = false;
        let mut b_elected_a = false;
        for n in cluster.nodes() {
            let Ok(snap) = n.snapshot() else { continue };
            for p in &snap.elected {
                let theirs = runtime_of.get(&p.contact.id).copied();
                match (n.runtime_name(), theirs) {
                    (x, Some(y)) if x == name_a && y == name_b => a_elected_b = true,
                    (x, Some(y)) if x == name_b && y == name_a => b_elected_a = true,
                    _ => {}
                }
            }
        }
        if a_elected_b && b_elected_a {
            break;
        }
        if start.elapsed() >= DEADLINE {
            return Err(format!(
                "within {DEADLINE:?}: {name_a} elected {name_b}: {a_elected_b}; {name_b} elected {name_a}: {b_elected_a}"
            ));
        }
        std::thread::sleep(POLL);
    }
    let report = cluster.finish();
    if report.runtime != format!("{name_a}+{name_b}") {
        return Err(format!("report names runtime {:?}", report.runtime));
    }
    Ok(())
}

/// A node given only bare addresses (`--bootstrap IP:PORT`) learns those
/// peers' ids through its probes and goes on to elect.
pub fn bootstrap_by_address_only(runtime: &dyn Runtime) -> Result<(), String> {
    let seed = 17;
    let cluster = Cluster::start(&[runtime], &options(8, seed)).map_err(|e| format!("start: {e}"))?;
    let dir = std::env::temp_dir();
    let setup = NodeSetup {
        bootstrap: cluster.nodes()[..2]
            .iter()
            .map(|n| BootstrapPeer::Addr(n.local_addr()))
            .collect(),
        state_dir: None,
        ..setup_for(&cluster, seed, &dir)
    };
    let node = setup.start(runtime).map_err(|e| format!("start: {e}"))?;
    let wanted: BTreeSet<PeerId> = cluster.nodes()[..2].iter().map(|n| n.id()).collect();
    wait_for("the probed peers become contacts", || {
        let snap = node.node().snapshot().map_err(|e| e.to_string())?;
        let known: BTreeSet<PeerId> = snap.contacts.iter().map(|c| c.id).collect();
        Ok(wanted.is_subset(&known))
    })?;
    wait_until_elected("the node elects", node.node())?;
    node.stop().map_err(|e| format!("stop: {e}"))?;
    cluster.finish();
    Ok(())
}

/// A node with an empty store and no contacts, and the loopback socket it
/// advertises (identity from `n`), for tests of an adapter's own handle.
pub fn lone_node(n: u64) -> Result<(Node<SocketAddr, MemoryStore>, UdpSocket), String> {
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| format!("bind: {e}"))?;
    let identity = Identity::from_u64(n);
    let addr = socket.local_addr().map_err(|e| format!("local_addr: {e}"))?;
    let node = Node::new(
        NodeConfig::default(),
        identity.key(),
        addr,
        MemoryStore::new(),
        identity.derived_rng_seed(0),
    )
    .map_err(|e| format!("node: {e:?}"))?;
    Ok((node, socket))
}

/// The outcome the handle scenario expects of a [`lone_node`] asked for two
/// elections: first before its token is stored (`NoToken`), then after (no
/// contacts): the failures in that order, and final counters to match.
pub fn lone_node_elections_failed(reasons: &[FailureReason], metrics: &Metrics) -> Result<(), String> {
    if reasons != [FailureReason::NoToken, FailureReason::NoContacts] {
        return Err(format!("failure reasons: {reasons:?}"));
    }
    if metrics.elections_started != 2
        || metrics.failed(FailureReason::NoToken) != 1
        || metrics.failed(FailureReason::NoContacts) != 1
    {
        return Err(format!("final metrics: {metrics:?}"));
    }
    Ok(())
}

/// The adapter's command-line binary at `bin`, run as `cluster --nodes 8
/// --duration 10 --json`, succeeds and prints a JSON [`ClusterReport`] with
/// every documented key, naming `runtime` and counting some successes.
pub fn cli_cluster_prints_a_json_report(bin: &Path, runtime: &str) -> Result<(), String> {
    let out = std::process::Command::new(bin)
        .args(["cluster", "--nodes", "8", "--duration", "10", "--json"])
        .output()
        .map_err(|e| format!("run {}: {e}", bin.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("no JSON on stdout: {e}"))?;
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
        if report.get(key).is_none() {
            return Err(format!("missing {key}: {report}"));
        }
    }
    if report["nodes"] != 8 || report["runtime"] != runtime {
        return Err(format!("expected 8 {runtime} nodes: {report}"));
    }
    if report["elections_succeeded"].as_u64().unwrap_or(0) == 0 {
        return Err(format!("no election succeeded: {report}"));
    }
    expect_no_arrays("the cluster report", &report)?;
    for kind in ["query", "answer", "referral"] {
        if !report["datagrams_sent_by_kind"][kind].is_u64() {
            return Err(format!("datagrams_sent_by_kind lacks {kind}: {report}"));
        }
    }
    if report["datagrams_sent_by_kind"]["query"].as_u64().unwrap_or(0) == 0 {
        return Err(format!("no query counted by name: {report}"));
    }
    if !report["failures"].is_object() || !report["decode_errors_by_kind"]["malformed"].is_u64() {
        return Err(format!("failures or decode errors not keyed by name: {report}"));
    }
    Ok(())
}

/// The adapter's command-line binary at `bin`, run as a lone node (`run
/// --listen 127.0.0.1:0 --id-seed 7 --pow-difficulty 0`: no identity proof
/// of work to mine) and sent SIGTERM once it is listening,
/// shuts down cleanly and prints its final metrics as JSON on stdout, every
/// count keyed by name (no arrays). Uses the `kill` command (Unix).
pub fn cli_run_prints_named_metrics_on_sigterm(bin: &Path) -> Result<(), String> {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let mut child = Command::new(bin)
        .args([
            "run",
            "--listen",
            "127.0.0.1:0",
            "--id-seed",
            "7",
            "--pow-difficulty",
            "0",
        ])
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("run {}: {e}", bin.display()))?;
    // Wait (on another thread, with a deadline) for the line logged once the
    // signal handler is installed and the node runs; keep draining stderr.
    let stderr = child.stderr.take().ok_or("no stderr")?;
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("listening on") {
                let _ = tx.send(());
            }
            seen.push(line);
        }
        seen
    });
    let listening = rx.recv_timeout(DEADLINE);
    let signalled = match listening {
        Ok(()) => Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .map_err(|e| format!("kill: {e}")),
        Err(_) => Err(format!("no \"listening on\" line within {DEADLINE:?}")),
    };
    if signalled.is_err() {
        let _ = child.kill();
    }
    let out = child.wait_with_output().map_err(|e| format!("wait: {e}"))?;
    let log = reader.join().unwrap_or_default().join("\n");
    match signalled {
        Ok(status) if status.success() => {}
        Ok(status) => return Err(format!("kill -TERM failed: {status}")),
        Err(e) => return Err(format!("{e}; stderr:\n{log}")),
    }
    if !out.status.success() {
        return Err(format!("{} after SIGTERM; stderr:\n{log}", out.status));
    }
    let metrics: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| {
        format!(
            "no JSON on stdout ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })?;
    expect_no_arrays("the final metrics", &metrics)?;
    for (key, name) in [
        ("elections_failed", "no_contacts"),
        ("decode_errors", "malformed"),
        ("latency_histogram", "le_50_ms"),
    ] {
        if !metrics[key][name].is_u64() {
            return Err(format!("{key} is not keyed by name ({name} missing): {metrics}"));
        }
    }
    if !metrics["sent"]["count"]["query"].is_u64() {
        return Err(format!("sent counts not keyed by message kind: {metrics}"));
    }
    Ok(())
}

/// Paths (`a.b[2].c`) of every array inside `value`: the runtimes' JSON
/// reports have none, every count is keyed by name.
pub fn json_arrays(value: &serde_json::Value) -> Vec<String> {
    fn walk(v: &serde_json::Value, path: String, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Array(items) => {
                out.push(path.clone());
                for (i, item) in items.iter().enumerate() {
                    walk(item, format!("{path}[{i}]"), out);
                }
            }
            serde_json::Value::Object(map) => {
                for (k, item) in map {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    walk(item, p, out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(value, String::new(), &mut out);
    out
}

fn expect_no_arrays(what: &str, value: &serde_json::Value) -> Result<(), String> {
    let arrays = json_arrays(value);
    if arrays.is_empty() {
        Ok(())
    } else {
        Err(format!("{what} has positional arrays at {arrays:?}: {value}"))
    }
}

/// Eight nodes bootstrapped as a star: node 0 knows nobody, every other node
/// only node 0's address (`NodeControl::add_seeds`). Through lookups every
/// node comes to elect at least 3 peers.
pub fn star_from_one_seed_elects_three_peers_each(runtime: &dyn Runtime) -> Result<(), String> {
    let mut opts = options(8, 21);
    opts.ring_neighbours = 0;
    opts.random_contacts = 0;
    let cluster = Cluster::start(&[runtime], &opts).map_err(|e| format!("start: {e}"))?;
    let seed = cluster.nodes()[0].local_addr();
    for n in &cluster.nodes()[1..] {
        n.add_seeds(vec![seed]).map_err(|e| e.to_string())?;
    }
    wait_for("every node of the star elects 3 peers", || {
        let mut all = true;
        for n in cluster.nodes() {
            all &= n.metrics().map_err(|e| e.to_string())?.elected_peers >= 3;
        }
        Ok(all)
    })?;
    cluster.finish();
    Ok(())
}

/// A hostile socket sprays 2,000 well-formed queries with made-up sender ids at
/// node 0 of an 8-node cluster, and answers every ping it gets for any of
/// those ids. Node 0 keeps at least 90 % election success afterwards, and its
/// contact table never holds more of the attacker's ids than the per-host cap.
pub fn made_up_sender_flood_is_capped(runtime: &dyn Runtime) -> Result<(), String> {
    use election_proto::wire::{self, Envelope, Message, Pong, Query};
    use election_proto::{MessageTicket, TokenId};
    let mut cluster = Cluster::start(&[runtime], &options(8, 22)).map_err(|e| format!("start: {e}"))?;
    wait(&mut cluster, "first successful election", |p| {
        p.totals.elections_succeeded > 0
    })?;
    let target = cluster.nodes()[0].local_addr();
    let attacker = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| e.to_string())?;
    let attacker_addr = attacker.local_addr().map_err(|e| e.to_string())?;
    let answerer = attacker.try_clone().map_err(|e| e.to_string())?;
    answerer
        .set_read_timeout(Some(Duration::from_millis(50)))
        .map_err(|e| e.to_string())?;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    // Pongs for every ping, under whatever id it names: the attacker proves
    // every id it claims, so only the caps can keep it out.
    let pongs = std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        let mut pongs = 0u64;
        while !stop2.load(std::sync::atomic::Ordering::Relaxed) {
            let Ok((n, from)) = answerer.recv_from(&mut buf) else {
                continue;
            };
            if let Ok(Envelope {
                message: Message::Ping(p),
                ..
            }) = wire::decode::<SocketAddr>(&buf[..n])
            {
                let pong = Envelope::<SocketAddr> {
                    sender: p.target,
                    // No difficulty: the pinger checks no key (answers are what is signed).
                    message: Message::Pong(Pong {
                        nonce: p.nonce,
                        key: election_proto::PublicKey([0; 32]),
                        pow: 0,
                    }),
                };
                if let Ok(b) = wire::encode(&pong) {
                    let _ = answerer.send_to(&b, from);
                    pongs += 1;
                }
            }
        }
        pongs
    });
    let mut rng = seeded_rng("election-node 2024 flood", b"conformance");
    let before = cluster.nodes()[0].metrics().map_err(|e| e.to_string())?;
    for i in 0..2_000u64 {
        let mut id = [0u8; 32];
        rng.fill_bytes(&mut id);
        let sender = PeerId::new(id);
        let mut token = [0u8; 32];
        rng.fill_bytes(&mut token);
        let q = Envelope::<SocketAddr> {
            sender,
            message: Message::Query(Query {
                token: TokenId::new(token),
                ticket: MessageTicket(rng.next_u64()),
                challenger: sender,
                hops_left: 1,
            }),
        };
        let bytes = wire::encode(&q).map_err(|e| e.to_string())?;
        attacker
            .send_to(&bytes, target)
            .map_err(|e| format!("send: {e}"))?;
        if i % 100 == 99 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let attackers_in_table = |c: &Cluster| -> Result<usize, String> {
        let snap = c.nodes()[0].snapshot().map_err(|e| e.to_string())?;
        Ok(snap.contacts.iter().filter(|k| k.addr == attacker_addr).count())
    };
    let finished = |m: &Metrics| m.elections_succeeded + m.failed_total();
    let done_before = finished(&before);
    let mut worst = 0;
    wait_for("node 0 finishes 20 more elections after the flood", || {
        worst = worst.max(attackers_in_table(&cluster)?);
        let m = cluster.nodes()[0].metrics().map_err(|e| e.to_string())?;
        Ok(finished(&m) >= done_before + 20)
    })?;
    let after = cluster.nodes()[0].metrics().map_err(|e| e.to_string())?;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let pongs = pongs.join().map_err(|_| "pong thread panicked".to_string())?;
    let succeeded = after.elections_succeeded - before.elections_succeeded;
    let total = finished(&after) - done_before;
    let per_ip = cluster_node_config().membership.max_contacts_per_ip;
    cluster.finish();
    if worst > per_ip {
        return Err(format!(
            "{worst} attacker ids in the table, cap {per_ip} ({pongs} pongs)"
        ));
    }
    if (succeeded as f64) < 0.9 * total as f64 {
        return Err(format!(
            "{succeeded} of {total} elections succeeded after the flood"
        ));
    }
    Ok(())
}
