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
use crate::ledger::{DEFAULT_COVERAGE, DEFAULT_SYNTHETIC_TOKENS};
use crate::ledger_db::{LedgerDb, LedgerDbError, LedgerDbOptions, LedgerDbStats, LedgerDbStore};
use crate::metrics_http::{MetricsFeed, MetricsServer};
use crate::setup::{log_event, LedgerSource, NodeSetup};
use crate::state::StateDir;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use election_proto::node::NodeConfig;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Exit code: success.
pub const EXIT_OK: u8 = 0;
/// Exit code: the run failed (`cluster` checks, or a node did not stop cleanly).
pub const EXIT_FAILED: u8 = 1;
/// Exit code: bad arguments, or the node or cluster could not start.
pub const EXIT_USAGE: u8 = 2;

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
/// returned channel, the second exits the process at once.
fn interrupt_channel() -> mpsc::Receiver<()> {
    let (tx, rx) = mpsc::channel();
    let count = AtomicUsize::new(0);
    let installed = ctrlc::set_handler(move || {
        if count.fetch_add(1, Ordering::SeqCst) > 0 {
            eprintln!("\ninterrupted again; exiting without cleanup");
            std::process::exit(130);
        }
        let _ = tx.send(());
    });
    if let Err(e) = installed {
        log::warn!("cannot install a Ctrl-C handler ({e}); Ctrl-C will not shut down cleanly");
    }
    rx
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
            config
        },
        save_interval: Duration::from_secs(args.save_interval.max(1)),
        ..NodeSetup::new(listen)
    };
    let interrupts = interrupt_channel();
    let mut started = match setup.start(runtime) {
        Ok(s) => s,
        Err(e) => return usage_error(e),
    };
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
    loop {
        match interrupts.recv_timeout(Duration::from_millis(250)) {
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        while let Some(e) = started.node_mut().try_event() {
            log_event(&id, &e);
        }
        started.tick();
        if last_refresh.is_none_or(|t| t.elapsed() >= METRICS_REFRESH) {
            last_refresh = Some(Instant::now());
            if let Ok(m) = started.node().metrics() {
                for warning in health.check(began.elapsed(), &m) {
                    log::warn!("{warning}");
                }
                feed.update(m, started.node().io_stats());
            }
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
    match started.stop() {
        Ok(stopped) => {
            log::info!("peer tables saved; stopped");
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
    let interrupts = interrupt_channel();
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
