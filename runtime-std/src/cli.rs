//! The command line shared by `election-node` and `election-node-async`
//! (feature `cli`, off by default: it is the only user of `clap`,
//! `env_logger` and `ctrlc`).
//!
//! ```text
//! election-node run --listen ADDR [--advertise ADDR] [--bootstrap ADDR,...]
//!                   [--state-dir DIR] [--ledger FILE | --ledger-seed N]
//!                   [--ledger-tokens N] [--id-seed N] [--interval-ms MS]
//!                   [--save-interval SECS]
//! election-node cluster [--nodes N] [--duration SECS] [--json] [--seed N]
//!                       [--ledger-tokens N] [--interval-ms MS]
//! ```
//!
//! Both binaries are [`main`] with a different [`Runtime`]. Logging goes to
//! stderr through `env_logger` (`RUST_LOG` overrides the default level: `info`
//! for `run`, `warn` for `cluster`). Ctrl-C (or SIGTERM) shuts down cleanly:
//! `run` saves its peers and prints its metrics, `cluster` prints its report;
//! a second Ctrl-C exits at once.

use crate::cluster::{cluster_node_config, Cluster, ClusterOptions};
use crate::control::Runtime;
use crate::ledger::{DEFAULT_COVERAGE, DEFAULT_SYNTHETIC_TOKENS};
use crate::setup::{log_event, BootstrapPeer, LedgerSource, NodeSetup};
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use election_proto::node::NodeConfig;
use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

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
}

/// Options of `run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// UDP address to listen on, e.g. 127.0.0.1:7000 (port 0: any free port).
    #[arg(long)]
    pub listen: SocketAddr,
    /// Address to advertise to peers (default: the bound address).
    #[arg(long)]
    pub advertise: Option<SocketAddr>,
    /// Peers to start from: IP:PORT, or HEXID@IP:PORT when the id is known.
    #[arg(long, value_delimiter = ',')]
    pub bootstrap: Vec<BootstrapPeer>,
    /// Directory for the identity seed and peer snapshots (restored on restart).
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// Ledger file: one `<64-hex token> <64-hex block>` pair per line, `#` comments.
    #[arg(long, conflicts_with = "ledger_seed")]
    pub ledger: Option<PathBuf>,
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
    #[arg(long, default_value_t = NodeConfig::default().election_interval_ms)]
    pub interval_ms: u64,
    /// Seconds between peer-table snapshots to --state-dir.
    #[arg(long, default_value_t = 30)]
    pub save_interval: u64,
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
    #[arg(long, default_value_t = cluster_node_config().election_interval_ms)]
    pub interval_ms: u64,
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
    };
    let _ =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default_level)).try_init();
    match cli.command {
        CliCommand::Run(args) => run(args, runtime),
        CliCommand::Cluster(args) => cluster(args, runtime),
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

fn run(args: RunArgs, runtime: &dyn Runtime) -> ExitCode {
    let setup = NodeSetup {
        advertise: args.advertise,
        bootstrap: args.bootstrap,
        state_dir: args.state_dir,
        ledger: match args.ledger {
            Some(path) => LedgerSource::File(path),
            None => LedgerSource::Synthetic {
                seed: args.ledger_seed,
                tokens: args.ledger_tokens,
                coverage: DEFAULT_COVERAGE,
            },
        },
        id_seed: args.id_seed,
        config: {
            let mut config = NodeConfig::default();
            config.election_interval_ms = args.interval_ms;
            config
        },
        save_interval: Duration::from_secs(args.save_interval.max(1)),
        ..NodeSetup::new(args.listen)
    };
    let interrupts = interrupt_channel();
    let mut started = match setup.start(runtime) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
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
    let mut last_summary = Instant::now();
    loop {
        match interrupts.recv_timeout(Duration::from_millis(250)) {
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        while let Some(e) = started.node_mut().try_event() {
            log_event(&id, &e);
        }
        started.tick();
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
    match started.stop() {
        Ok(stopped) => {
            match serde_json::to_string_pretty(&stopped.metrics) {
                Ok(json) => println!("{json}"),
                Err(e) => eprintln!("error: cannot print metrics: {e}"),
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn cluster(args: ClusterArgs, runtime: &dyn Runtime) -> ExitCode {
    let opts = ClusterOptions {
        nodes: args.nodes.max(1),
        seed: args.seed,
        ledger_tokens: args.ledger_tokens,
        config: {
            let mut config = cluster_node_config();
            config.election_interval_ms = args.interval_ms.max(1);
            config
        },
        ..ClusterOptions::default()
    };
    let interrupts = interrupt_channel();
    let mut cluster = match Cluster::start(&[runtime], &opts) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: cannot start the cluster: {e}");
            return ExitCode::FAILURE;
        }
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
    let report = cluster.finish();
    if args.json {
        match serde_json::to_string_pretty(&report) {
            Ok(json) => println!("{json}"),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        print!("{report}");
    }
    ExitCode::SUCCESS
}
