//! Measures the protocol at scale in the deterministic simulator.
//!
//! ```text
//! cargo run --release -p election-tests --bin simulate -- [--nodes N] [--minutes M]
//!     [--seed S] [--coverage Q] [--loss P] [--latency-ms LO-HI]
//!     [--adversaries KIND:FRACTION,...] [--partition-at MIN --heal-at MIN] [--json]
//!     [--html FILE]
//! ```
//!
//! Prints a short summary (each target beside its figure), or with `--json` the
//! full report including the per-minute `timeline`; `--html FILE` also writes a
//! page of charts.
//!
//! Kinds: forwarder, forger, colluder, lazy, dropper, mangler, eclipse, relay,
//! referrer (`--sybil-ids`, `--sybil-subnet` shape the last two). Further flags tune
//! the model and the node configuration (see `--help`); without them every node
//! runs `NodeConfig::default()`.

use clap::Parser;
use election_tests::adversary::parse_adversaries;
use election_tests::adversary::sybil::Sybils;
use election_tests::output::PendingFile;
use election_tests::report::Report;
use election_tests::sim::{
    Churn, Crypto, Departures, Joiners, Partition, Sim, SimConfig, Switch, SwitchKind,
};
use election_tests::timeline::Timeline;
use election_tests::{html, summary};
use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

#[derive(Parser, Debug)]
#[command(
    name = "simulate",
    about = "Simulate peer election via proof-of-storage and report the outcome"
)]
struct Args {
    /// Number of nodes.
    #[arg(long, default_value_t = 1000)]
    nodes: usize,
    /// Simulated minutes.
    #[arg(long, default_value_t = 60.0)]
    minutes: f64,
    /// Seed of the run (everything derives from it).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Share of its arc's tokens an honest node stores.
    #[arg(long, default_value_t = 0.9)]
    coverage: f64,
    /// Datagram loss probability.
    #[arg(long, default_value_t = 0.01)]
    loss: f64,
    /// Per-datagram latency range in ms, uniform: LO-HI.
    #[arg(long, default_value = "20-80", value_parser = parse_range)]
    latency_ms: (u64, u64),
    /// Adversaries: KIND:FRACTION,... (forwarder, forger, colluder, lazy, dropper, mangler, eclipse,
    /// relay, referrer).
    #[arg(long, default_value = "")]
    adversaries: String,
    /// Open a partition (with a ledger fork in one half) at this minute.
    #[arg(long)]
    partition_at: Option<f64>,
    /// Heal the partition at this minute.
    #[arg(long, requires = "partition_at")]
    heal_at: Option<f64>,
    /// Nodes leaving for good: expected share of the nodes per hour, from minute 10.
    #[arg(long, default_value_t = 0.0)]
    departures: f64,
    /// Honest nodes switching for good, from minute 10: RATE:KIND, RATE the
    /// expected share of the nodes per hour, KIND `version` (another ledger
    /// version, `--fork-share` of blocks differ) or `lazy` (a thin, stale store).
    #[arg(long, value_parser = parse_switch)]
    switch: Option<(f64, SwitchKind)>,
    /// Honest nodes that join the running network, evenly spread from minute
    /// 10 to 5 minutes before the end; `time_to_*` keys are measured over them.
    #[arg(long, default_value_t = 20)]
    joiners: usize,
    /// Override NodeConfig: reverify_period_ms, in seconds.
    #[arg(long)]
    reverify_s: Option<u64>,
    /// Override NodeConfig: liveness_interval_ms, in seconds.
    #[arg(long)]
    liveness_s: Option<u64>,
    /// Print the full report as one JSON object instead of the summary.
    #[arg(long)]
    json: bool,
    /// Also write a self-contained HTML page with charts to FILE.
    // An OsString, not a PathBuf: clap rejects an empty PathBuf with a
    // multi-line error, while `PendingFile::create` reports it in one line.
    #[arg(long, value_name = "FILE")]
    html: Option<OsString>,

    // ----- beyond the issue's flags -----
    /// Minutes after healing until the forked half's ledger reconciles.
    #[arg(long, default_value_t = 2.0)]
    resync_minutes: f64,
    /// Share of tokens whose block the partition's fork changes.
    #[arg(long, default_value_t = 0.5)]
    fork_share: f64,
    /// Datagram duplication probability.
    #[arg(long, default_value_t = 0.0)]
    duplicate: f64,
    /// Share of stored blocks that are stale.
    #[arg(long, default_value_t = 0.01)]
    stale: f64,
    /// Average number of nodes holding each token.
    #[arg(long, default_value_t = 12.0)]
    replication: f64,
    /// Expected tokens of each suffix per node arc (arc holds ~1024x this).
    #[arg(long, default_value_t = 256)]
    arc_depth: u64,
    /// Share of nodes leaving per hour (each comes back after 1-10 minutes).
    #[arg(long, default_value_t = 0.0)]
    churn: f64,
    /// Relays and referrers (sybil hosts): ids each presents at its address.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=4096))]
    sybil_ids: u64,
    /// Relays and referrers (sybil hosts) per /24, 1-255 (0: each in a /24 of its own).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=255))]
    sybil_subnet: u64,
    /// Colluders per group (0: one group of all colluders).
    #[arg(long, default_value_t = 0)]
    colluder_group: usize,
    /// Random bootstrap contacts per node.
    #[arg(long, default_value_t = 3)]
    bootstrap_random: usize,
    /// Ring-neighbour bootstrap contacts per side.
    #[arg(long, default_value_t = 0)]
    bootstrap_neighbours: usize,
    /// Draw random bootstrap contacts from the first K nodes only (well-known
    /// seed nodes); 0: from every node.
    #[arg(long, default_value_t = 0)]
    bootstrap_pool: usize,
    /// The bootstrap before membership: 4 ring neighbours per side + 8 random,
    /// given as vouched contacts (overrides the two flags above).
    #[arg(long)]
    bootstrap_legacy: bool,
    /// Override NodeConfig: election.consensus_threshold.
    #[arg(long)]
    threshold: Option<usize>,
    /// Override NodeConfig: initial_channels.
    #[arg(long)]
    initial_channels: Option<usize>,
    /// Override NodeConfig: min_collection_ms.
    #[arg(long)]
    min_collection_ms: Option<u64>,
    /// Override NodeConfig: channel_timeout_ms.
    #[arg(long)]
    channel_timeout_ms: Option<u64>,
    /// Override NodeConfig: election_interval_ms, in seconds.
    #[arg(long)]
    interval_s: Option<u64>,
    /// Override NodeConfig: max_hops.
    #[arg(long)]
    max_hops: Option<u8>,
    /// Override NodeConfig: election.majority_threshold.
    #[arg(long)]
    majority: Option<f64>,
    /// Worker threads (results do not depend on it). Default: available cores, at most 4.
    #[arg(long)]
    threads: Option<usize>,
    /// No progress line even on a terminal.
    #[arg(long)]
    no_progress: bool,
    /// Signature scheme of the nodes: `real` (Ed25519) or `sim` (the run's
    /// keyed-BLAKE3 signatures: the same verdicts, a fraction of the CPU;
    /// the digest differs because signature bytes do).
    #[arg(long, default_value = "real", value_parser = Crypto::parse)]
    crypto: Crypto,
}

fn parse_range(s: &str) -> Result<(u64, u64), String> {
    let (a, b) = s.split_once('-').ok_or("expected LO-HI, e.g. 20-80")?;
    let lo: u64 = a.trim().parse().map_err(|_| format!("`{a}` is not a number"))?;
    let hi: u64 = b.trim().parse().map_err(|_| format!("`{b}` is not a number"))?;
    if hi < lo {
        return Err("HI must be at least LO".into());
    }
    Ok((lo, hi))
}

fn parse_switch(s: &str) -> Result<(f64, SwitchKind), String> {
    let (rate, kind) = s.split_once(':').ok_or("expected RATE:KIND, e.g. 0.1:version")?;
    let rate: f64 = rate
        .trim()
        .parse()
        .map_err(|_| format!("`{rate}` is not a number"))?;
    if !(0.0..=60.0).contains(&rate) {
        return Err("RATE must be between 0 and 60 per hour".into());
    }
    let kind = match kind.trim() {
        "version" => SwitchKind::Version,
        "lazy" => SwitchKind::Lazy,
        other => return Err(format!("unknown KIND `{other}` (version, lazy)")),
    };
    Ok((rate, kind))
}

fn ms(minutes: f64) -> u64 {
    (minutes.max(0.0) * 60_000.0).round() as u64
}

fn main() {
    let args = Args::parse();
    let adversaries = match parse_adversaries(&args.adversaries) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("simulate: --adversaries: {e}");
            std::process::exit(2);
        }
    };
    let mut cfg = SimConfig::new(args.nodes.max(1), args.seed);
    cfg.coverage = args.coverage;
    cfg.loss = args.loss;
    cfg.latency_ms = args.latency_ms;
    cfg.adversaries = adversaries;
    cfg.duplicate = args.duplicate;
    cfg.stale = args.stale;
    cfg.replication = args.replication;
    cfg.arc_depth = args.arc_depth;
    cfg.colluder_group_size = args.colluder_group;
    cfg.sybils = Sybils {
        ids_per_host: args.sybil_ids,
        hosts_per_subnet: args.sybil_subnet as usize,
    };
    cfg.bootstrap_random = args.bootstrap_random;
    cfg.bootstrap_neighbours = args.bootstrap_neighbours;
    cfg.bootstrap_pool = args.bootstrap_pool;
    if args.bootstrap_legacy {
        cfg.legacy_bootstrap();
    }
    if let Some(at) = args.partition_at {
        cfg.partition = Some(Partition {
            at_ms: ms(at),
            heal_ms: args.heal_at.map_or(u64::MAX / 2, ms),
            resync_after_ms: ms(args.resync_minutes),
            fork_share: args.fork_share,
        });
    }
    if args.churn > 0.0 {
        cfg.churn = Some(Churn {
            per_hour: args.churn,
            downtime_ms: (60_000, 600_000),
            start_ms: 60_000,
        });
    }
    if args.departures > 0.0 {
        cfg.departures = Some(Departures {
            per_hour: args.departures,
            start_ms: ms(10.0),
        });
    }
    if let Some((per_hour, kind)) = args.switch {
        cfg.switch = Some(Switch {
            per_hour,
            kind,
            start_ms: ms(10.0),
        });
        cfg.switch_fork_share = args.fork_share;
    }
    if args.joiners > 0 && args.minutes > 15.0 {
        cfg.joiners = Some(Joiners {
            count: args.joiners,
            from_ms: ms(10.0),
            until_ms: ms(args.minutes - 5.0),
        });
    }
    if let Some(s) = args.reverify_s {
        cfg.node.health.reverify_period_ms = s * 1000;
    }
    if let Some(s) = args.liveness_s {
        cfg.node.health.liveness_interval_ms = s * 1000;
    }
    if let Some(t) = args.threshold {
        cfg.node.elections.consensus.consensus_threshold = t;
    }
    if let Some(c) = args.initial_channels {
        cfg.node.elections.initial_channels = c;
    }
    if let Some(m) = args.min_collection_ms {
        cfg.node.elections.min_collection_ms = m;
    }
    if let Some(m) = args.channel_timeout_ms {
        cfg.node.elections.channel_timeout_ms = m;
    }
    if let Some(s) = args.interval_s {
        cfg.node.health.election_interval_ms = s * 1000;
    }
    if let Some(h) = args.max_hops {
        cfg.node.elections.max_hops = h;
    }
    if let Some(m) = args.majority {
        cfg.node.elections.consensus.majority_threshold = m;
    }

    cfg.crypto = args.crypto;
    cfg.threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()).min(4))
        .max(1);

    // Fail before the run, not after it, if the page cannot be written.
    let page = match args
        .html
        .as_ref()
        .map(|p| PendingFile::create(&PathBuf::from(p)))
        .transpose()
    {
        Ok(p) => p,
        Err(e) => fail("--html", &e),
    };

    let start = Instant::now();
    let mut sim = match Sim::new(cfg) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("simulate: invalid node configuration: {e}");
            std::process::exit(2);
        }
    };
    let end = ms(args.minutes);
    let progress = !args.no_progress && std::io::stderr().is_terminal();
    let mut timeline = Timeline::new();
    timeline.run(&mut sim, end, 10_000, |sim| {
        if progress {
            let frac = sim.now() as f64 / end.max(1) as f64;
            let filled = (frac * 30.0).round() as usize;
            let h = sim.honest();
            eprint!(
                "\r[{}{}] {:>5.1}/{} min  elections {:>8}  success {:>5.1}%  {:>6.1} s ",
                "#".repeat(filled),
                ".".repeat(30 - filled.min(30)),
                sim.now() as f64 / 60_000.0,
                args.minutes,
                h.started,
                100.0 * h.success_rate(),
                start.elapsed().as_secs_f64()
            );
            let _ = std::io::stderr().flush();
        }
    });
    if progress {
        eprintln!();
    }
    let report = Report::new(&sim, start.elapsed().as_secs_f64())
        .with_timeline(timeline.into_minutes())
        .with_usage(election_tests::usage::now());
    // The report goes out first: a page that cannot be written loses nothing else.
    if args.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", summary::text(&report));
    }
    if let Some(page) = page {
        let written = html::render(&report, sim.latencies()).and_then(|h| page.commit(h.as_bytes()));
        if let Err(e) = written {
            fail("--html", &e);
        }
    }
}

/// Exits with a one-line error naming the flag.
fn fail(flag: &str, e: &str) -> ! {
    eprintln!("simulate: {flag}: {e}");
    std::process::exit(2);
}
