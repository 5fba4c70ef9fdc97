//! The command line shared by `election-node` and `election-node-async`
//! (feature `cli`, off by default: it is the only user of `clap`,
//! `env_logger` and `ctrlc`).
//!
//! ```text
//! election-node run --listen ADDR [--advertise ADDR] [--bootstrap ADDR,...]
//!                   [--state-dir DIR] [--ledger FILE | --ledger-db PATH | --ledger-seed N]
//!                   [--ledger-db-cache-mb MIB]
//!                   [--ledger-tokens N] [--id-seed N] [--interval-ms MS]
//!                   [--save-interval SECS] [--metrics ADDR]
//!                   [--pow-difficulty BITS] [--summary FILE]
//! election-node cluster [--nodes N] [--duration SECS] [--json] [--seed N]
//!                       [--ledger-tokens N] [--interval-ms MS] [--min-success R]
//! election-node ledger import --db PATH FILE     # replace the ledger with FILE's
//! election-node ledger apply --db PATH BATCH     # one batch of changes
//! election-node ledger stats --db PATH [--json]
//! ```
//!
//! `run --ledger-db PATH` (instead of `--ledger FILE`) reads an on-disk ledger
//! database that `ledger import|apply` (or the host) update while it runs; see
//! [`crate::ledger_db`]. `FILE` and `BATCH` may be `-` for standard input.
//!
//! Every `ADDR` is `IP:PORT` or `HOST:PORT`, resolved once at startup (see
//! [`crate::addr`]). Both binaries are [`main`] with a different [`Runtime`].
//! Logging goes to stderr through `env_logger` (`RUST_LOG` overrides the
//! default level: `info` for `run`, `warn` for `cluster`). Ctrl-C (or SIGTERM)
//! shuts down cleanly: `run` saves its peers and prints its metrics, `cluster`
//! prints its report; a second Ctrl-C exits at once.
//!
//! Exit codes: [`EXIT_OK`] (0), [`EXIT_FAILED`] (1: `cluster` failed a check,
//! or a node could not be stopped cleanly), [`EXIT_USAGE`] (2: bad arguments
//! or nothing could start: unresolvable address, unreadable ledger, port in
//! use, too small a cluster), 130 (a second Ctrl-C).

use crate::addr::{resolve, resolve_bootstrap};
use crate::cluster::{cluster_node_config, too_small, Cluster, ClusterOptions};
use crate::control::Runtime;
use crate::health::HealthWatch;
use crate::identity::MiningProgress;
use crate::ledger::{DEFAULT_COVERAGE, DEFAULT_SYNTHETIC_TOKENS};
use crate::ledger_db::{LedgerDb, LedgerDbError, LedgerDbOptions, LedgerDbStats, LedgerDbStore};
use crate::metrics_http::{MetricsFeed, MetricsServer};
use crate::setup::MiningControl;
use crate::setup::{log_event, LedgerSource, NodeSetup, SetupError};
use crate::state::StateDir;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use election_proto::node::NodeConfig;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// Exit code: success.
pub const EXIT_OK: u8 = 0;
/// Exit code: the run failed (`cluster` checks, or a node did not stop cleanly).
pub const EXIT_FAILED: u8 = 1;
/// Exit code: bad arguments, or the node or cluster could not start.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: interrupted (a second Ctrl-C, or Ctrl-C while mining the
/// identity proof of work: its progress is kept for the next start).
pub const EXIT_INTERRUPTED: u8 = 130;

/// Command line of both node binaries.
#[derive(Debug, Parser)]
#[command(version, about = "Peer election via proof-of-storage over UDP")]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: CliCommand,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum CliCommand {
    /// Run one long-lived node.
    Run(RunArgs),
    /// Run N nodes on 127.0.0.1 in this process and report on their elections.
    Cluster(ClusterArgs),
    /// Create and update an on-disk ledger database (what `run --ledger-db` reads).
    #[command(subcommand)]
    Ledger(LedgerCommand),
}

/// `ledger` subcommands. Each write is one atomic, durable commit; nodes
/// reading the database see it within their staleness bound (1 s).
#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Replace the whole ledger with a ledger file's mappings (creates the
    /// database if needed; a corrupt one is moved aside to
    /// NAME.corrupt-YYYYMMDDTHHMMSSZ first).
    Import {
        /// The database file.
        #[arg(long)]
        db: PathBuf,
        /// Ledger file (`<token> <block>` per line), or `-` for stdin.
        file: PathBuf,
    },
    /// Apply one batch of changes: `+ <token> <block>` (insert or replace),
    /// `- <token>` (remove), one per line; all or nothing.
    Apply {
        /// The database file (must exist).
        #[arg(long)]
        db: PathBuf,
        /// Batch file, or `-` for stdin.
        batch: PathBuf,
    },
    /// Print what the database holds.
    Stats {
        /// The database file.
        #[arg(long)]
        db: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// Options of `run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// UDP address to listen on, IP:PORT or HOST:PORT, e.g. 127.0.0.1:7000
    /// or localhost:7000 (port 0: any free port).
    #[arg(long)]
    pub listen: String,
    /// Address to advertise to peers, IP:PORT or HOST:PORT (default: the
    /// bound address).
    #[arg(long)]
    pub advertise: Option<String>,
    /// Peers to start from: HOST:PORT, or HEXID@HOST:PORT when the id is known.
    #[arg(long, value_delimiter = ',')]
    pub bootstrap: Vec<String>,
    /// Directory for the identity seed and peer snapshots (restored on restart).
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// Ledger file: one `<64-hex token> <64-hex block>` pair per line, `#` comments.
    #[arg(long, conflicts_with = "ledger_seed")]
    pub ledger: Option<PathBuf>,
    /// On-disk ledger database (built with `ledger import`), read while
    /// `ledger apply` or the host changes it.
    #[arg(long, conflicts_with_all = ["ledger", "ledger_seed"])]
    pub ledger_db: Option<PathBuf>,
    /// Page cache for --ledger-db, MiB: what its memory use is bounded by.
    #[arg(long, default_value_t = crate::ledger_db::DEFAULT_READER_CACHE_BYTES >> 20, requires = "ledger_db")]
    pub ledger_db_cache_mb: usize,
    /// Seed of the synthetic shared ledger used without --ledger (this node
    /// holds the 90 % arc around its id).
    #[arg(long, default_value_t = 0)]
    pub ledger_seed: u64,
    /// Tokens in the synthetic ledger.
    #[arg(long, default_value_t = DEFAULT_SYNTHETIC_TOKENS)]
    pub ledger_tokens: usize,
    /// Derive the identity (and the node's randomness) from this number
    /// instead of random bytes: for reproducible demos only.
    #[arg(long)]
    pub id_seed: Option<u64>,
    /// Mean time between scheduled elections, ms.
    #[arg(long, default_value_t = NodeConfig::default().health.election_interval_ms)]
    pub interval_ms: u64,
    /// Seconds between peer-table snapshots to --state-dir.
    #[arg(long, default_value_t = 30)]
    pub save_interval: u64,
    /// Serve Prometheus metrics over HTTP at http://ADDR/metrics (IP:PORT or
    /// HOST:PORT; port 0: any free port, logged at startup).
    #[arg(long)]
    pub metrics: Option<String>,
    /// Identity proof of work, in leading zero bits of Argon2id: this node
    /// mines it once per identity (kept in --state-dir) and admits only
    /// peers whose proof has as many. Every node of a network must use the
    /// same value. 0 turns it off (identities are then free: tests and
    /// demos only). See docs/OPERATING.md for how the default was chosen.
    #[arg(long, default_value_t = DEFAULT_POW_DIFFICULTY, value_parser = clap::value_parser!(u8).range(0..=i64::from(election_proto::keys::MAX_POW_BITS)))]
    pub pow_difficulty: u8,
    /// On shutdown, write a machine-readable summary of the run (JSON: id,
    /// address, time to 8 contacts, metrics, contacts, elected peers,
    /// elections won per winner) to this file.
    #[arg(long)]
    pub summary: Option<PathBuf>,
    /// How addresses on loopback (127.0.0.0/8, ::1) are grouped for the
    /// per-host and per-subnet contact caps: `per-port` (each port its own
    /// host and subnet: local demo clusters on 127.0.0.1) or `per-ip` (as
    /// any other address). Process-wide.
    #[arg(long, value_enum, default_value_t = LoopbackGroupsArg::PerPort)]
    pub loopback_groups: LoopbackGroupsArg,
}

/// `--loopback-groups` values (see [`election_proto::wire::LoopbackGroups`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LoopbackGroupsArg {
    /// Each loopback port is its own host and subnet.
    PerPort,
    /// Loopback addresses are grouped like any other: by IP and /24 (/64).
    PerIp,
}

impl From<LoopbackGroupsArg> for election_proto::wire::LoopbackGroups {
    fn from(a: LoopbackGroupsArg) -> Self {
        match a {
            LoopbackGroupsArg::PerPort => Self::PerPort,
            LoopbackGroupsArg::PerIp => Self::PerIp,
        }
    }
}

/// Default of `run --pow-difficulty` (see docs/OPERATING.md, "Identity
/// proof of work", for the measurement behind it).
pub const DEFAULT_POW_DIFFICULTY: u8 = 16;

/// Contacts counted for [`RunSummary::time_to_contacts_ms`].
pub const SUMMARY_CONTACTS: usize = 8;

/// One finished election in a [`RunSummary`].
#[derive(Clone, Debug, serde::Serialize)]
pub struct ElectionRecord {
    /// When it finished, ms since the node started.
    pub at_ms: u64,
    /// `elected`, or the failure reason's name (`timeout`, `exhausted`, ...).
    pub outcome: String,
    /// The winner's address, if one was elected.
    pub winner: Option<std::net::SocketAddr>,
}

/// Most [`ElectionRecord`]s a summary keeps (the first ones).
pub const SUMMARY_MAX_ELECTIONS: usize = 100_000;

/// What `run --summary FILE` writes on shutdown.
#[derive(Debug, serde::Serialize)]
pub struct RunSummary {
    /// The node's id.
    pub peer_id: election_proto::PeerId,
    /// The address it advertised.
    pub addr: std::net::SocketAddr,
    /// How long it ran, ms.
    pub uptime_ms: u64,
    /// Time from start until it first knew [`SUMMARY_CONTACTS`] contacts
    /// (ms, to the 250 ms the run loop polls at), if it ever did.
    pub time_to_contacts_ms: Option<u64>,
    /// Time from start until its first successful election, ms.
    pub time_to_first_success_ms: Option<u64>,
    /// Its contacts at shutdown.
    pub contacts: Vec<election_proto::wire::Contact<std::net::SocketAddr>>,
    /// Its elected peers at shutdown.
    pub elected: Vec<election_proto::wire::Contact<std::net::SocketAddr>>,
    /// Elections it won per winner address (from its `Elected` events).
    pub wins: std::collections::BTreeMap<std::net::SocketAddr, u64>,
    /// Wall-clock time it started, ms since the Unix epoch (to line runs up).
    pub started_unix_ms: u64,
    /// Every election it finished, in order.
    pub elections: Vec<ElectionRecord>,
    /// Every health warning it raised (see [`crate::health`]), with the time
    /// since start (ms), in order.
    pub warnings: Vec<(u64, String)>,
    /// Its final metrics.
    pub metrics: election_proto::node::Metrics,
}

/// Options of `cluster`.
#[derive(Debug, Args)]
pub struct ClusterArgs {
    /// Number of nodes.
    #[arg(long, default_value_t = 16)]
    pub nodes: usize,
    /// How long to run, seconds.
    #[arg(long, default_value_t = 20)]
    pub duration: u64,
    /// Print the final report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Seed for identities, bootstrap choices and the shared ledger.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Tokens in the shared synthetic ledger.
    #[arg(long, default_value_t = DEFAULT_SYNTHETIC_TOKENS)]
    pub ledger_tokens: usize,
    /// Mean time between scheduled elections per node, ms.
    #[arg(long, default_value_t = cluster_node_config().health.election_interval_ms)]
    pub interval_ms: u64,
    /// Least success rate (0 to 1) for exit code 0; below it, or with a node
    /// left without an elected peer, `cluster` exits with 1.
    #[arg(long, default_value_t = 0.9, value_parser = parse_rate)]
    pub min_success: f64,
}

/// A rate in `0..=1`, for `--min-success`.
fn parse_rate(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        Ok(_) => Err(format!("{s:?} is not between 0 and 1")),
        Err(_) => Err(format!("{s:?} is not a number (expected 0 to 1, e.g. 0.9)")),
    }
}

fn usage_error(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(EXIT_USAGE)
}

/// Parses the command line (program name `name`) and runs it on `runtime`.
pub fn main(name: &'static str, runtime: &dyn Runtime) -> ExitCode {
    let cmd = Cli::command().name(name).bin_name(name);
    let cli = match Cli::from_arg_matches(&cmd.get_matches()) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    let default_level = match cli.command {
        CliCommand::Run(_) => "info",
        CliCommand::Cluster(_) => "warn",
        CliCommand::Ledger(_) => "info",
    };
    let _ =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default_level)).try_init();
    match cli.command {
        CliCommand::Run(args) => run(args, runtime),
        CliCommand::Cluster(args) => cluster(args, runtime),
        CliCommand::Ledger(cmd) => ledger(cmd),
    }
}

/// Installs the Ctrl-C / SIGTERM handler: the first signal is delivered on the
/// returned channel and sets the returned flag, the second exits the process
/// at once.
fn interrupt_channel() -> (mpsc::Receiver<()>, Arc<AtomicBool>) {
    let (tx, rx) = mpsc::channel();
    let flag = Arc::new(AtomicBool::new(false));
    let set = flag.clone();
    let count = AtomicUsize::new(0);
    let installed = ctrlc::set_handler(move || {
        if count.fetch_add(1, Ordering::SeqCst) > 0 {
            eprintln!("\ninterrupted again; exiting without cleanup");
            std::process::exit(130);
        }
        set.store(true, Ordering::SeqCst);
        let _ = tx.send(());
    });
    if let Err(e) = installed {
        log::warn!("cannot install a Ctrl-C handler ({e}); Ctrl-C will not shut down cleanly");
    }
    (rx, flag)
}

/// Prints identity-mining progress: a live line on a terminal, a log line
/// every 30 s otherwise.
fn mining_progress(p: &MiningProgress) {
    let line = format!(
        "mining the identity proof of work ({} bits): {} tries ({:.0} % of the {:.0} expected), {} s",
        p.bits,
        p.tries,
        100.0 * p.tries as f64 / p.expected_tries(),
        p.expected_tries(),
        p.elapsed.as_secs()
    );
    if std::io::stderr().is_terminal() {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{line}");
        let _ = err.flush();
    } else if p.elapsed.as_secs() % 30 < crate::setup::POW_CHECKPOINT.as_secs().max(1) {
        log::info!("{line}");
    }
}

/// How often `run` reads the node's metrics: for the metrics endpoint and the
/// health warnings.
const METRICS_REFRESH: Duration = Duration::from_secs(1);

fn run(args: RunArgs, runtime: &dyn Runtime) -> ExitCode {
    let listen = match resolve("--listen", &args.listen) {
        Ok(a) => a,
        Err(e) => return usage_error(e),
    };
    let advertise = match args
        .advertise
        .as_deref()
        .map(|a| resolve("--advertise", a))
        .transpose()
    {
        Ok(a) => a,
        Err(e) => return usage_error(e),
    };
    let mut bootstrap = Vec::with_capacity(args.bootstrap.len());
    for b in &args.bootstrap {
        match resolve_bootstrap("--bootstrap", b) {
            Ok(b) => bootstrap.push(b),
            Err(e) => return usage_error(e),
        }
    }
    let metrics_addr = match args
        .metrics
        .as_deref()
        .map(|a| resolve("--metrics", a))
        .transpose()
    {
        Ok(a) => a,
        Err(e) => return usage_error(e),
    };
    // Bound before the node starts, so that a taken port leaves nothing running.
    let feed = MetricsFeed::new();
    let metrics_server = match metrics_addr {
        Some(addr) => match MetricsServer::start(addr, feed.clone()) {
            Ok(server) => Some(server),
            Err(e) => return usage_error(format_args!("--metrics {addr}: cannot listen: {e}")),
        },
        None => None,
    };
    let mut health = HealthWatch::new(
        args.bootstrap.clone(),
        NodeConfig::default().elections.consensus.min_cluster_size,
    );
    let setup = NodeSetup {
        advertise,
        bootstrap,
        state_dir: args.state_dir,
        ledger: match (args.ledger, args.ledger_db) {
            (Some(path), _) => LedgerSource::File(path),
            (None, Some(path)) => LedgerSource::Db {
                path,
                options: LedgerDbOptions {
                    cache_bytes: args.ledger_db_cache_mb.saturating_mul(1 << 20),
                    ..LedgerDbOptions::default()
                },
            },
            (None, None) => LedgerSource::Synthetic {
                seed: args.ledger_seed,
                tokens: args.ledger_tokens,
                coverage: DEFAULT_COVERAGE,
            },
        },
        id_seed: args.id_seed,
        config: {
            let mut config = NodeConfig::default();
            config.health.election_interval_ms = args.interval_ms;
            config.guard.pow_difficulty = args.pow_difficulty;
            config
        },
        save_interval: Duration::from_secs(args.save_interval.max(1)),
        ..NodeSetup::new(listen)
    };
    election_proto::wire::set_loopback_groups(args.loopback_groups.into());
    let (interrupts, interrupted) = interrupt_channel();
    let setup = NodeSetup {
        mining: MiningControl {
            stop: Some(interrupted),
            progress: Some(mining_progress),
        },
        ..setup
    };
    let mut started = match setup.start(runtime) {
        Ok(s) => s,
        Err(e @ SetupError::Interrupted { .. }) => {
            if std::io::stderr().is_terminal() {
                eprintln!();
            }
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_INTERRUPTED);
        }
        Err(e) => return usage_error(e),
    };
    if args.pow_difficulty > 0 && std::io::stderr().is_terminal() {
        eprintln!();
    }
    let node = started.node();
    let id = node.id();
    log::info!(
        "node {id}@{} listening on {} ({} runtime); {} ledger mappings; {} elected peers restored",
        node.contact().addr,
        node.local_addr(),
        node.runtime_name(),
        started.report().ledger_mappings,
        started.report().restored_peers
    );
    if let Some(server) = &metrics_server {
        // Something to serve from the first scrape on.
        if let Ok(m) = started.node().metrics() {
            feed.update(m, started.node().io_stats());
        }
        log::info!("metrics on http://{}/metrics", server.local_addr());
    }
    let began = Instant::now();
    let mut last_summary = Instant::now();
    let mut last_refresh: Option<Instant> = None;
    let mut time_to_contacts_ms = None;
    let mut time_to_first_success_ms = None;
    let mut wins = std::collections::BTreeMap::new();
    let mut elections = Vec::new();
    let mut warnings = Vec::new();
    let started_unix_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
        .saturating_sub(began.elapsed().as_millis() as u64);
    loop {
        match interrupts.recv_timeout(Duration::from_millis(250)) {
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        while let Some(e) = started.node_mut().try_event() {
            let at_ms = began.elapsed().as_millis() as u64;
            let record = match &e {
                election_proto::node::Event::Elected { winner, .. } => {
                    *wins.entry(winner.addr).or_insert(0u64) += 1;
                    time_to_first_success_ms.get_or_insert(at_ms);
                    Some(("elected".to_string(), Some(winner.addr)))
                }
                election_proto::node::Event::ElectionFailed { reason, .. } => {
                    Some((reason.name().to_string(), None))
                }
                _ => None,
            };
            if let Some((outcome, winner)) = record.filter(|_| elections.len() < SUMMARY_MAX_ELECTIONS) {
                elections.push(ElectionRecord {
                    at_ms,
                    outcome,
                    winner,
                });
            }
            log_event(&id, &e);
        }
        if time_to_contacts_ms.is_none()
            && started
                .node()
                .metrics()
                .is_ok_and(|m| m.contacts >= SUMMARY_CONTACTS)
        {
            let ms = began.elapsed().as_millis() as u64;
            time_to_contacts_ms = Some(ms);
            log::info!("{SUMMARY_CONTACTS} contacts known after {ms} ms");
        }
        started.tick();
        if last_refresh.is_none_or(|t| t.elapsed() >= METRICS_REFRESH) {
            last_refresh = Some(Instant::now());
            let mut raised = Vec::new();
            if let Ok(m) = started.node().metrics() {
                raised.extend(health.check(began.elapsed(), &m));
                feed.update(m, started.node().io_stats());
            }
            if let Ok(snapshot) = started.node().snapshot() {
                raised.extend(health.check_contacts(&snapshot.contacts));
            }
            for warning in raised {
                log::warn!("{warning}");
                if warnings.len() < SUMMARY_MAX_ELECTIONS {
                    warnings.push((began.elapsed().as_millis() as u64, warning.to_string()));
                }
            }
            feed.update_health(health.gauges());
        }
        if last_summary.elapsed() >= Duration::from_secs(60) {
            last_summary = Instant::now();
            if let Ok(m) = started.node().metrics() {
                log::info!(
                    "{} elections, {} succeeded; {} elected peers, {} contacts",
                    m.elections_started,
                    m.elections_succeeded,
                    m.elected_peers,
                    m.contacts
                );
            }
        }
    }
    log::info!("shutting down");
    if let Some(server) = metrics_server {
        server.shutdown();
    }
    let uptime_ms = began.elapsed().as_millis() as u64;
    let addr = started.node().contact().addr;
    match started.stop() {
        Ok(stopped) => {
            log::info!("peer tables saved; stopped");
            if let Some(path) = &args.summary {
                let summary = RunSummary {
                    peer_id: id,
                    addr,
                    uptime_ms,
                    time_to_contacts_ms,
                    time_to_first_success_ms,
                    contacts: stopped.snapshot.contacts.clone(),
                    elected: stopped
                        .snapshot
                        .elected
                        .iter()
                        .map(|p| p.contact.clone())
                        .collect(),
                    wins,
                    started_unix_ms,
                    elections,
                    warnings,
                    metrics: stopped.metrics.clone(),
                };
                let written = serde_json::to_vec_pretty(&summary)
                    .map_err(std::io::Error::other)
                    .and_then(|b| std::fs::write(path, b));
                if let Err(e) = written {
                    eprintln!("error: cannot write --summary {}: {e}", path.display());
                }
            }
            match serde_json::to_string_pretty(&stopped.metrics) {
                Ok(json) => println!("{json}"),
                Err(e) => eprintln!("error: cannot print metrics: {e}"),
            }
            ExitCode::from(EXIT_OK)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

fn cluster(args: ClusterArgs, runtime: &dyn Runtime) -> ExitCode {
    let opts = ClusterOptions {
        nodes: args.nodes,
        seed: args.seed,
        ledger_tokens: args.ledger_tokens,
        config: {
            let mut config = cluster_node_config();
            config.health.election_interval_ms = args.interval_ms.max(1);
            config
        },
        ..ClusterOptions::default()
    };
    if let Some(why) = too_small(opts.nodes, &opts.config) {
        return usage_error(why);
    }
    let (interrupts, _) = interrupt_channel();
    let mut cluster = match Cluster::start(&[runtime], &opts) {
        Ok(c) => c,
        Err(e) => return usage_error(format_args!("cannot start the cluster: {e}")),
    };
    let live = std::io::stderr().is_terminal();
    let duration = Duration::from_secs(args.duration);
    let mut last_line = Instant::now();
    while cluster.elapsed() < duration {
        let left = duration
            .saturating_sub(cluster.elapsed())
            .min(Duration::from_millis(250));
        match interrupts.recv_timeout(left) {
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        if live && last_line.elapsed() >= Duration::from_millis(500) {
            last_line = Instant::now();
            let p = cluster.progress();
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K{p}");
            let _ = err.flush();
        } else {
            // Keep event queues short even without a progress line.
            cluster.drain_events();
        }
    }
    if live {
        eprintln!();
    }
    let mut report = cluster.finish();
    let passed = report.check(args.min_success);
    if args.json {
        match serde_json::to_string_pretty(&report) {
            Ok(json) => println!("{json}"),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(EXIT_FAILED);
            }
        }
    } else {
        print!("{report}");
    }
    for message in report.failed_checks.values() {
        eprintln!("error: {message}");
    }
    if passed {
        ExitCode::from(EXIT_OK)
    } else {
        ExitCode::from(EXIT_FAILED)
    }
}

fn ledger(cmd: LedgerCommand) -> ExitCode {
    match cmd {
        LedgerCommand::Import { db, file } => ledger_write(&db, &file, true),
        LedgerCommand::Apply { db, batch } => ledger_write(&db, &batch, false),
        LedgerCommand::Stats { db, json } => {
            // Read-only, beside a writer if one is at work: `stats` never writes.
            let opened = LedgerDbStore::open(&db, LedgerDbOptions::default()).map(|s| s.stats());
            let stats = match opened {
                Ok(stats) => stats,
                Err(e) => return ledger_error(&e),
            };
            if json {
                println!("{}", stats_json(&stats));
            } else {
                println!(
                    "{}: {} tokens, generation {}, last commit {} (unix s), {} bytes on disk ({:.1} per token)",
                    db.display(),
                    stats.tokens,
                    stats.generation,
                    stats.committed_at_unix_s,
                    stats.file_bytes,
                    stats.file_bytes as f64 / stats.tokens.max(1) as f64
                );
            }
            ExitCode::from(EXIT_OK)
        }
    }
}

fn stats_json(s: &LedgerDbStats) -> String {
    serde_json::json!({
        "tokens": s.tokens,
        "generation": s.generation,
        "committed_at_unix_s": s.committed_at_unix_s,
        "file_bytes": s.file_bytes,
    })
    .to_string()
}

fn ledger_error(e: &LedgerDbError) -> ExitCode {
    if e.is_corrupt() {
        usage_error(format_args!(
            "{e}; the file was left as it was (rebuild with `ledger import`, which moves it aside)"
        ))
    } else {
        usage_error(e)
    }
}

fn ledger_write(db_path: &std::path::Path, input: &std::path::Path, import: bool) -> ExitCode {
    let opened = if import {
        match LedgerDb::create(db_path) {
            Err(e) if e.is_corrupt() => {
                let dir = db_path
                    .parent()
                    .filter(|d| !d.as_os_str().is_empty())
                    .unwrap_or(std::path::Path::new("."));
                let moved = StateDir::open(dir).and_then(|d| d.move_aside(db_path));
                match moved {
                    Ok(to) => {
                        log::error!(
                            "{e}; moved it aside to {}; importing into a new database",
                            to.display()
                        );
                        LedgerDb::create(db_path)
                    }
                    Err(m) => return usage_error(format_args!("{e}, and it cannot be moved aside: {m}")),
                }
            }
            other => other,
        }
    } else {
        LedgerDb::open(db_path)
    };
    let mut db = match opened {
        Ok(db) => db,
        Err(e) => return ledger_error(&e),
    };
    let began = Instant::now();
    log::info!(
        "{} {} into {}",
        if import { "importing" } else { "applying" },
        input.display(),
        db_path.display()
    );
    let result = if input.as_os_str() == "-" {
        let stdin = std::io::stdin().lock();
        if import {
            db.import(stdin, std::path::Path::new("<stdin>"))
        } else {
            db.apply_reader(stdin, std::path::Path::new("<stdin>"))
        }
    } else {
        match std::fs::File::open(input) {
            Ok(f) => {
                let r = std::io::BufReader::with_capacity(1 << 16, f);
                if import {
                    db.import(r, input)
                } else {
                    db.apply_reader(r, input)
                }
            }
            Err(error) => Err(LedgerDbError::Input(crate::ledger::LedgerFileError::Io {
                path: input.to_path_buf(),
                error,
            })),
        }
    };
    if import && result.is_ok() {
        // A fresh ledger's file holds the pages the import freed; give them back.
        if let Err(e) = db.compact() {
            log::warn!("{e} (compaction skipped; the ledger is imported)");
        }
    }
    match result {
        Ok(r) => {
            println!(
                "generation {}: {} inserted, {} replaced, {} unchanged, {} removed, {} not found; \
                 {} tokens ({:.2} s)",
                r.generation,
                r.inserted,
                r.replaced,
                r.unchanged,
                r.removed,
                r.missing,
                r.tokens,
                began.elapsed().as_secs_f64()
            );
            ExitCode::from(EXIT_OK)
        }
        Err(e) => {
            eprintln!("error: {e}");
            eprintln!("nothing was written");
            ExitCode::from(EXIT_USAGE)
        }
    }
}
