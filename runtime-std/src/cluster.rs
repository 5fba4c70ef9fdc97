//! A local cluster of nodes on loopback, sharing a synthetic ledger, and the
//! report the `cluster` subcommand prints.

use crate::clock::Clock;
use crate::control::{IoStats, NodeControl, NodeEvent, Runtime};
use crate::identity::{seeded_rng, Identity};
use crate::ledger::{synthetic_ledger, LedgerView, DEFAULT_COVERAGE, DEFAULT_SYNTHETIC_TOKENS};
use election_proto::node::{Event, FailureReason, Metrics, Node, NodeConfig};
use election_proto::wire::{Contact, DecodeError, MessageKind};
use election_proto::{MemoryStore, PeerId};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::net::{Ipv4Addr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Node configuration for a loopback demo: elections every ~2.5 s instead of
/// 60 s, and collection/timeout windows sized for sub-millisecond round trips
/// with room for a busy machine.
pub fn cluster_node_config() -> NodeConfig {
    let mut config = NodeConfig::default();
    config.health.election_interval_ms = 2_500;
    config.elections.min_collection_ms = 150;
    config.elections.channel_timeout_ms = 700;
    config.elections.election_timeout_ms = 2_500;
    config
}

/// How to build a cluster.
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    /// Number of nodes.
    pub nodes: usize,
    /// Seed for node identities, bootstrap choices and the ledger.
    pub seed: u64,
    /// Tokens in the shared synthetic ledger.
    pub ledger_tokens: usize,
    /// Share of the ring each node holds, centred on its id.
    pub coverage: f64,
    /// Ring neighbours on each side every node starts knowing.
    pub ring_neighbours: usize,
    /// Further random contacts every node starts knowing.
    pub random_contacts: usize,
    /// Protocol configuration of every node.
    pub config: NodeConfig,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        Self {
            nodes: 16,
            seed: 0,
            ledger_tokens: DEFAULT_SYNTHETIC_TOKENS,
            coverage: DEFAULT_COVERAGE,
            ring_neighbours: 2,
            random_contacts: 3,
            config: cluster_node_config(),
        }
    }
}

/// Sums over a set of nodes' [`Metrics`]. Every per-kind count is a map
/// keyed by name (snake_case), never a positional array.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Elections started.
    pub elections_started: u64,
    /// Elections that elected a winner.
    pub elections_succeeded: u64,
    /// Elections that failed, except those ended by shutdown.
    pub elections_failed: u64,
    /// Elections ended by shutdown.
    pub elections_interrupted: u64,
    /// Failures by reason (snake_case names), shutdown included.
    pub failures: BTreeMap<String, u64>,
    /// Split-brain verdicts.
    pub split_brains: u64,
    /// Datagrams the nodes sent.
    pub datagrams_sent: u64,
    /// Datagrams the nodes received and decoded.
    pub datagrams_received: u64,
    /// Datagrams dropped as undecodable.
    pub decode_errors: u64,
    /// Datagrams sent, by message kind (every kind, zeros included).
    pub sent_by_kind: BTreeMap<String, u64>,
    /// Datagrams received and decoded, by message kind (every kind).
    pub received_by_kind: BTreeMap<String, u64>,
    /// Undecodable datagrams, by kind of decode error (every kind).
    pub decode_errors_by_kind: BTreeMap<String, u64>,
    /// Nodes with at least one elected peer.
    pub nodes_with_elected_peer: usize,
    /// Elected peers, summed over nodes.
    pub elected_peers: u64,
}

impl Totals {
    /// Adds up `metrics`.
    pub fn of<'a>(metrics: impl IntoIterator<Item = &'a Metrics>) -> Self {
        let mut sum = Metrics::default();
        let mut nodes_with_elected_peer = 0;
        for m in metrics {
            sum.merge(m);
            nodes_with_elected_peer += usize::from(m.elected_peers > 0);
        }
        let interrupted = sum.failed(FailureReason::Shutdown);
        let named = |names: &[&str], counts: &[u64]| -> BTreeMap<String, u64> {
            names
                .iter()
                .map(|n| n.to_string())
                .zip(counts.iter().copied())
                .collect()
        };
        let kinds = MessageKind::ALL.map(MessageKind::as_str);
        Totals {
            elections_started: sum.elections_started,
            elections_succeeded: sum.elections_succeeded,
            elections_failed: sum.failed_total() - interrupted,
            elections_interrupted: interrupted,
            failures: FailureReason::ALL
                .into_iter()
                .filter(|r| sum.failed(*r) > 0)
                .map(|r| (r.name().to_string(), sum.failed(r)))
                .collect(),
            split_brains: sum.split_brains,
            datagrams_sent: sum.sent.total(),
            datagrams_received: sum.received.total(),
            decode_errors: sum.decode_errors_total(),
            sent_by_kind: named(&kinds, &sum.sent.count),
            received_by_kind: named(&kinds, &sum.received.count),
            decode_errors_by_kind: named(&DecodeError::NAMES, &sum.decode_errors),
            nodes_with_elected_peer,
            elected_peers: sum.elected_peers as u64,
        }
    }

    /// Succeeded over finished (shutdown interruptions excluded).
    pub fn success_rate(&self) -> Option<f64> {
        let done = self.elections_succeeded + self.elections_failed;
        (done > 0).then(|| self.elections_succeeded as f64 / done as f64)
    }
}

/// A look at a running cluster.
#[derive(Clone, Debug)]
pub struct Progress {
    /// Time since the cluster started.
    pub elapsed: Duration,
    /// Sums over all nodes.
    pub totals: Totals,
    /// Every node's metrics, in node order (default for a node that stopped).
    pub per_node: Vec<Metrics>,
    /// Median latency of the successful elections seen so far.
    pub latency_ms_p50: Option<u64>,
}

impl fmt::Display for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = &self.totals;
        write!(
            f,
            "[{:5.1}s] elections {}/{} ok",
            self.elapsed.as_secs_f64(),
            t.elections_succeeded,
            t.elections_succeeded + t.elections_failed
        )?;
        if let Some(r) = t.success_rate() {
            write!(f, " ({:.0} %)", r * 100.0)?;
        }
        if let Some(p) = self.latency_ms_p50 {
            write!(f, ", p50 {p} ms")?;
        }
        write!(
            f,
            ", nodes with peers {}/{}, datagrams {}",
            t.nodes_with_elected_peer,
            self.per_node.len(),
            t.datagrams_sent
        )
    }
}

/// N nodes on 127.0.0.1, each holding an arc of one synthetic ledger.
pub struct Cluster {
    nodes: Vec<Box<dyn NodeControl>>,
    ledger: Arc<MemoryStore>,
    runtime: String,
    started: Instant,
    cpu_at_start: Option<Duration>,
    latencies: Vec<u64>,
}

impl fmt::Debug for Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cluster")
            .field("nodes", &self.nodes.len())
            .field("runtime", &self.runtime)
            .field("elapsed", &self.started.elapsed())
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// Starts `opts.nodes` nodes, node `i` on `runtimes[i % runtimes.len()]`,
    /// and bootstraps each with its ring neighbours and a few random contacts.
    pub fn start(runtimes: &[&dyn Runtime], opts: &ClusterOptions) -> io::Result<Self> {
        if runtimes.is_empty() || opts.nodes == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a cluster needs a runtime and a node",
            ));
        }
        let cpu_at_start = process_cpu_time();
        let ledger = Arc::new(synthetic_ledger(opts.seed, opts.ledger_tokens));
        // Bind every socket first so each node can be given its contacts the
        // moment it starts (before its first scheduled election can fire).
        let mut members = Vec::with_capacity(opts.nodes);
        for i in 0..opts.nodes {
            let identity = cluster_identity(opts.seed, i);
            let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
            let contact = Contact {
                id: identity.peer_id(),
                addr: socket.local_addr()?,
            };
            members.push((identity, socket, contact));
        }
        let ids: Vec<PeerId> = members.iter().map(|m| m.2.id).collect();
        let bootstrap: Vec<Vec<Contact<_>>> = bootstrap_plan(&ids, opts)
            .into_iter()
            .map(|picks| picks.into_iter().map(|j| members[j].2.clone()).collect())
            .collect();
        let n = members.len();
        let clock = Clock::new();
        let mut nodes: Vec<Box<dyn NodeControl>> = Vec::with_capacity(n);
        for (i, ((identity, socket, contact), contacts)) in members.into_iter().zip(bootstrap).enumerate() {
            let view = LedgerView::arc_around(ledger.clone(), &contact.id, opts.coverage);
            let node = Node::new(
                opts.config.clone(),
                identity.key(),
                contact.addr,
                view,
                identity.derived_rng_seed(0),
            )
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            let node = runtimes[i % runtimes.len()].spawn(node, socket, clock)?;
            node.add_contacts(contacts)
                .map_err(|e| io::Error::new(io::ErrorKind::BrokenPipe, e))?;
            nodes.push(node);
        }
        let mut names: Vec<&str> = runtimes.iter().map(|r| r.name()).collect();
        names.dedup();
        Ok(Self {
            nodes,
            ledger,
            runtime: names.join("+"),
            started: Instant::now(),
            cpu_at_start,
            latencies: Vec::new(),
        })
    }

    /// The nodes, in start order.
    pub fn nodes(&self) -> &[Box<dyn NodeControl>] {
        &self.nodes
    }

    /// The shared ledger.
    pub fn ledger(&self) -> &Arc<MemoryStore> {
        &self.ledger
    }

    /// Time since start.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Takes every queued event, as `(node index, event)`, and records the
    /// latencies of successful elections for the report.
    pub fn drain_events(&mut self) -> Vec<(usize, NodeEvent)> {
        let mut out = Vec::new();
        for (i, node) in self.nodes.iter_mut().enumerate() {
            while let Some(e) = node.try_event() {
                if let Event::Elected { latency_ms, .. } = &e {
                    self.latencies.push(*latency_ms);
                }
                out.push((i, e));
            }
        }
        out
    }

    /// Drains events and reads every node's metrics.
    pub fn progress(&mut self) -> Progress {
        self.drain_events();
        let per_node: Vec<Metrics> = self
            .nodes
            .iter()
            .map(|n| n.metrics().unwrap_or_default())
            .collect();
        Progress {
            elapsed: self.elapsed(),
            totals: Totals::of(&per_node),
            per_node,
            latency_ms_p50: percentile(&self.latencies, 0.5),
        }
    }

    /// Polls [`progress`](Self::progress) every `every` until `done` holds
    /// (`Ok`) or `timeout` has passed (`Err`, with the last progress).
    pub fn wait_until(
        &mut self,
        timeout: Duration,
        every: Duration,
        mut done: impl FnMut(&Progress) -> bool,
    ) -> Result<Progress, Box<Progress>> {
        let start = Instant::now();
        loop {
            let p = self.progress();
            if done(&p) {
                return Ok(p);
            }
            if start.elapsed() >= timeout {
                return Err(Box::new(p));
            }
            std::thread::sleep(every);
        }
    }

    /// Stops every node cleanly and reports on the whole run.
    pub fn finish(mut self) -> ClusterReport {
        self.drain_events();
        let duration = self.elapsed();
        let nodes = std::mem::take(&mut self.nodes);
        let count = nodes.len();
        let mut run = ClusterRun {
            runtime: std::mem::take(&mut self.runtime),
            duration,
            metrics: Vec::with_capacity(count),
            latencies: std::mem::take(&mut self.latencies),
            cpu: None,
            io: IoStats::default(),
        };
        for node in nodes {
            match node.stop() {
                Ok(s) => {
                    run.io.merge(&s.io);
                    run.metrics.push(s.metrics);
                }
                Err(_) => run.metrics.push(Metrics::default()),
            }
        }
        run.cpu = match (self.cpu_at_start, process_cpu_time()) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a)),
            _ => None,
        };
        ClusterReport::from_run(&run)
    }
}

/// The identity of node `i` of a cluster with seed `seed` (the same in every run).
pub fn cluster_identity(seed: u64, i: usize) -> Identity {
    let mut input = [0u8; 16];
    input[..8].copy_from_slice(&seed.to_le_bytes());
    input[8..].copy_from_slice(&(i as u64).to_le_bytes());
    Identity::from_seed(blake3::derive_key("election-node 2024 cluster node v1", &input))
}

/// Which nodes each node of a cluster starts knowing, as indices into `ids`:
/// its `opts.ring_neighbours` ring neighbours on each side plus
/// `opts.random_contacts` random picks (duplicates and itself removed, in
/// ascending order). Determined by `ids` and `opts.seed`.
pub fn bootstrap_plan(ids: &[PeerId], opts: &ClusterOptions) -> Vec<Vec<usize>> {
    let n = ids.len();
    let mut ring: Vec<usize> = (0..n).collect();
    ring.sort_by_key(|&i| ids[i]);
    let mut rng = seeded_rng(
        "election-node 2024 cluster bootstrap v1",
        &opts.seed.to_le_bytes(),
    );
    let mut plan = vec![Vec::new(); n];
    for (pos, &i) in ring.iter().enumerate() {
        let mut picks: Vec<usize> = Vec::new();
        for d in 1..=opts.ring_neighbours.min(n / 2) {
            picks.push(ring[(pos + d) % n]);
            picks.push(ring[(pos + n - d) % n]);
        }
        for _ in 0..opts.random_contacts {
            picks.push(rng.random_range(0..n));
        }
        picks.sort_unstable();
        picks.dedup();
        picks.retain(|&j| j != i);
        plan[i] = picks;
    }
    plan
}

/// What a finished cluster run measured; [`ClusterReport::from_run`] sums it up.
#[derive(Clone, Debug, Default)]
pub struct ClusterRun {
    /// Adapter(s) the nodes ran on (`std`, `async`, `std+async`).
    pub runtime: String,
    /// Wall-clock length of the run.
    pub duration: Duration,
    /// Every node's final metrics, one entry per node.
    pub metrics: Vec<Metrics>,
    /// Latencies of the successful elections seen, ms.
    pub latencies: Vec<u64>,
    /// CPU time the process used during the run, if known.
    pub cpu: Option<Duration>,
    /// Transport counters, summed over the nodes.
    pub io: IoStats,
}

/// Final report of a cluster run. The JSON form (`--json`) has these keys.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClusterReport {
    /// Adapter(s) the nodes ran on (`std`, `async`, `std+async`).
    pub runtime: String,
    /// Number of nodes.
    pub nodes: usize,
    /// Wall-clock length of the run, seconds.
    pub duration_s: f64,
    /// Elections started, all nodes.
    pub elections_started: u64,
    /// Elections that elected a winner.
    pub elections_succeeded: u64,
    /// Elections that failed (shutdown interruptions excluded).
    pub elections_failed: u64,
    /// Elections still running when the nodes shut down.
    pub elections_interrupted: u64,
    /// `succeeded / (succeeded + failed)`; `null` if none finished.
    pub success_rate: Option<f64>,
    /// Median latency of successful elections, ms.
    pub latency_ms_p50: Option<u64>,
    /// 99th percentile latency, ms.
    pub latency_ms_p99: Option<u64>,
    /// Largest latency, ms.
    pub latency_ms_max: Option<u64>,
    /// Nodes that ended with at least one elected peer.
    pub nodes_with_elected_peer: usize,
    /// Mean size of the elected-peer tables at the end.
    pub elected_peers_mean: f64,
    /// Datagrams sent, all nodes.
    pub datagrams_sent: u64,
    /// Datagrams received and decoded, all nodes.
    pub datagrams_received: u64,
    /// Datagrams sent per election started.
    pub datagrams_per_election: Option<f64>,
    /// Undecodable datagrams dropped.
    pub decode_errors: u64,
    /// Datagrams sent, by message kind (`query`, `answer`, `referral`).
    #[serde(default)]
    pub datagrams_sent_by_kind: BTreeMap<String, u64>,
    /// Datagrams received and decoded, by message kind.
    #[serde(default)]
    pub datagrams_received_by_kind: BTreeMap<String, u64>,
    /// Undecodable datagrams, by kind of decode error (`empty`, `oversized`,
    /// `unknown_version`, `malformed`, `trailing_bytes`).
    #[serde(default)]
    pub decode_errors_by_kind: BTreeMap<String, u64>,
    /// Split-brain verdicts.
    pub split_brains: u64,
    /// Failed elections by reason name (shutdown included; only reasons that occurred).
    pub failures: BTreeMap<String, u64>,
    /// Sends the sockets refused.
    pub send_errors: u64,
    /// Events dropped for want of a reader.
    pub events_dropped: u64,
    /// CPU time (user + system) the whole process used during the run, seconds.
    pub cpu_s: Option<f64>,
    /// `cpu_s` per node, milliseconds.
    pub cpu_ms_per_node: Option<f64>,
    /// CPU use per node as a share of one core, percent.
    pub cpu_percent_per_node: Option<f64>,
    /// The least success rate the run was checked against (`null`: not
    /// checked; see [`ClusterReport::check`]).
    #[serde(default)]
    pub min_success: Option<f64>,
    /// The checks the run failed, by name (`success_rate`,
    /// `elected_peer_on_every_node`), each with why in one line; empty if
    /// all passed or none was made.
    #[serde(default)]
    pub failed_checks: BTreeMap<String, String>,
}

/// Fewest nodes a cluster with node configuration `config` needs for any
/// election to succeed: an election needs valid answers from at least
/// `min_cluster_size` other nodes holding the token, plus the node itself.
pub fn min_cluster_nodes(config: &NodeConfig) -> usize {
    config.elections.consensus.min_cluster_size + 1
}

/// Why `nodes` nodes with `config` cannot elect, or `None` if they can.
pub fn too_small(nodes: usize, config: &NodeConfig) -> Option<String> {
    let need = min_cluster_nodes(config);
    (nodes < need).then(|| {
        format!(
            "--nodes {nodes} is too small: an election needs answers from at least {} other nodes \
             holding the token (min_cluster_size), so a cluster needs at least {need} nodes",
            config.elections.consensus.min_cluster_size
        )
    })
}

impl ClusterReport {
    /// The report on `run`.
    pub fn from_run(run: &ClusterRun) -> Self {
        let nodes = run.metrics.len();
        let latencies = &run.latencies;
        let t = Totals::of(&run.metrics);
        let secs = run.duration.as_secs_f64();
        let cpu_s = run.cpu.map(|c| c.as_secs_f64());
        let per_node = |x: f64| if nodes == 0 { 0.0 } else { x / nodes as f64 };
        Self {
            runtime: run.runtime.clone(),
            nodes,
            duration_s: (secs * 10.0).round() / 10.0,
            elections_started: t.elections_started,
            elections_succeeded: t.elections_succeeded,
            elections_failed: t.elections_failed,
            elections_interrupted: t.elections_interrupted,
            success_rate: t.success_rate().map(|r| (r * 10_000.0).round() / 10_000.0),
            latency_ms_p50: percentile(latencies, 0.5),
            latency_ms_p99: percentile(latencies, 0.99),
            latency_ms_max: latencies.iter().copied().max(),
            nodes_with_elected_peer: t.nodes_with_elected_peer,
            elected_peers_mean: (per_node(t.elected_peers as f64) * 100.0).round() / 100.0,
            datagrams_sent: t.datagrams_sent,
            datagrams_received: t.datagrams_received,
            datagrams_per_election: (t.elections_started > 0)
                .then(|| ((t.datagrams_sent as f64 / t.elections_started as f64) * 100.0).round() / 100.0),
            decode_errors: t.decode_errors,
            datagrams_sent_by_kind: t.sent_by_kind,
            datagrams_received_by_kind: t.received_by_kind,
            decode_errors_by_kind: t.decode_errors_by_kind,
            split_brains: t.split_brains,
            failures: t.failures,
            send_errors: run.io.send_errors,
            events_dropped: run.io.events_dropped,
            cpu_s: cpu_s.map(|c| (c * 1000.0).round() / 1000.0),
            cpu_ms_per_node: cpu_s.map(|c| (per_node(c * 1000.0) * 10.0).round() / 10.0),
            cpu_percent_per_node: cpu_s
                .filter(|_| secs > 0.0)
                .map(|c| (per_node(c / secs * 100.0) * 1000.0).round() / 1000.0),
            min_success: None,
            failed_checks: BTreeMap::new(),
        }
    }

    /// Checks the run: the success rate is at least `min_success` (a run in
    /// which no election finished fails), and every node ended with an
    /// elected peer. Records `min_success` and the failed checks in the
    /// report and returns whether all passed.
    pub fn check(&mut self, min_success: f64) -> bool {
        let mut failed = BTreeMap::new();
        let mut fail = |check: &str, message: String| {
            failed.insert(check.to_string(), message);
        };
        match self.success_rate {
            None => fail(
                "success_rate",
                format!("no election finished in {:.1} s (run longer?)", self.duration_s),
            ),
            Some(r) if r < min_success => fail(
                "success_rate",
                format!(
                    "success rate {:.1} % is below --min-success {:.1} % ({} of {} elections failed)",
                    r * 100.0,
                    min_success * 100.0,
                    self.elections_failed,
                    self.elections_succeeded + self.elections_failed
                ),
            ),
            Some(_) => {}
        }
        if self.nodes_with_elected_peer < self.nodes {
            fail(
                "elected_peer_on_every_node",
                format!(
                    "{} of {} nodes ended without an elected peer",
                    self.nodes - self.nodes_with_elected_peer,
                    self.nodes
                ),
            );
        }
        self.min_success = Some(min_success);
        self.failed_checks = failed;
        self.failed_checks.is_empty()
    }
}

impl fmt::Display for ClusterReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let opt = |v: Option<u64>| v.map_or("-".to_string(), |v| format!("{v} ms"));
        writeln!(
            f,
            "cluster of {} nodes ({} runtime), {:.1} s",
            self.nodes, self.runtime, self.duration_s
        )?;
        write!(
            f,
            "  elections:   {} started, {} succeeded, {} failed, {} interrupted by shutdown",
            self.elections_started,
            self.elections_succeeded,
            self.elections_failed,
            self.elections_interrupted
        )?;
        match self.success_rate {
            Some(r) => writeln!(f, "; success rate {:.1} %", r * 100.0)?,
            None => writeln!(f)?,
        }
        if !self.failures.is_empty() {
            let list: Vec<String> = self.failures.iter().map(|(k, v)| format!("{k} {v}")).collect();
            writeln!(f, "  failures:    {}", list.join(", "))?;
        }
        writeln!(
            f,
            "  latency:     p50 {}, p99 {}, max {}",
            opt(self.latency_ms_p50),
            opt(self.latency_ms_p99),
            opt(self.latency_ms_max)
        )?;
        writeln!(
            f,
            "  peers:       {}/{} nodes have an elected peer ({:.1} on average); {} split-brains",
            self.nodes_with_elected_peer, self.nodes, self.elected_peers_mean, self.split_brains
        )?;
        write!(
            f,
            "  datagrams:   {} sent, {} received, {} decode errors",
            self.datagrams_sent, self.datagrams_received, self.decode_errors
        )?;
        match self.datagrams_per_election {
            Some(d) => writeln!(f, "; {d:.1} per election")?,
            None => writeln!(f)?,
        }
        if let (Some(c), Some(per), Some(pct)) = (self.cpu_s, self.cpu_ms_per_node, self.cpu_percent_per_node)
        {
            writeln!(
                f,
                "  cpu:         {c:.2} s total, {per:.1} ms per node ({pct:.3} % of a core per node)"
            )?;
        }
        if self.send_errors > 0 || self.events_dropped > 0 {
            writeln!(
                f,
                "  transport:   {} send errors, {} events dropped",
                self.send_errors, self.events_dropped
            )?;
        }
        Ok(())
    }
}

/// Nearest-rank percentile (`p` in `(0, 1]`) of unsorted values.
pub fn percentile(values: &[u64], p: f64) -> Option<u64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_unstable();
    let rank = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len());
    Some(v[rank - 1])
}

/// CPU time (user + system) this process has used, from `/proc/self/stat`
/// (Linux; `None` elsewhere). Assumes the usual 100 clock ticks per second.
pub fn process_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}
