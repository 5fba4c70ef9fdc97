//! Runs one configuration with real Ed25519 and with simulated signatures and
//! compares their event streams (every election, winner, split-brain, failure,
//! peer added and evicted, with its time and node).
//!
//! ```text
//! cargo run --release -p election-tests --bin verdicts -- [--nodes 1000] [--minutes 30] [--seed 1] [--threads 2]
//! ```
//!
//! Exits with status 1 if the streams differ.

use clap::Parser;
use election_tests::sim::SimConfig;
use election_tests::verdicts;

#[derive(Parser, Debug)]
#[command(
    name = "verdicts",
    about = "Compare a run's verdicts with real and with simulated signatures"
)]
struct Args {
    /// Number of nodes.
    #[arg(long, default_value_t = 1000)]
    nodes: usize,
    /// Simulated minutes.
    #[arg(long, default_value_t = 30.0)]
    minutes: f64,
    /// Seed of the run.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Worker threads (results do not depend on it).
    #[arg(long, default_value_t = 2)]
    threads: usize,
}

fn main() {
    let args = Args::parse();
    let mut cfg = SimConfig::new(args.nodes.max(1), args.seed);
    cfg.threads = args.threads.max(1);
    let end = (args.minutes.max(0.0) * 60_000.0).round() as u64;
    let c = verdicts::compare(&cfg, end);
    println!(
        "verdicts: {} nodes, {} simulated minutes, seed {}",
        args.nodes, args.minutes, args.seed
    );
    println!(
        "events: {} real, {} simulated ({} elected, {} failed, {} split-brain, {} evicted)",
        c.events, c.events_simulated, c.elected, c.failed, c.split_brain, c.evicted
    );
    println!("digest real      {}", c.digest_real);
    println!("digest simulated {}", c.digest_simulated);
    match &c.first_difference {
        None if c.identical() => println!("event streams identical"),
        None => println!("event streams differ in length"),
        Some((k, a, b)) => println!("event streams differ at event {k}:\n  real      {a}\n  simulated {b}"),
    }
    if !c.identical() {
        std::process::exit(1);
    }
}
