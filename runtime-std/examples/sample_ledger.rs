//! Writes the repository's sample ledger, `examples/ledger.txt`, to stdout: a
//! synthetic ledger (the same code `run --ledger-seed` uses) in the ledger
//! file format. Every node started with `--ledger examples/ledger.txt` holds
//! all of it, so any three of them can elect each other.
//!
//! ```text
//! cargo run -p runtime-std --example sample_ledger > examples/ledger.txt
//! ```
//!
//! Optional arguments: `SEED` (default 2024) and `TOKENS` (default 8192).
//!
//! Why 8192 tokens (about 1 MB): an answer's proof of storage walks 5 steps
//! each way from the token, each to the next token with a given 10-bit
//! suffix, and must not wrap around the ring. With 8 tokens per suffix value
//! a step covers about an eighth of the ring, so most tokens can be signed
//! for; with 256 or 1024 tokens almost none can, and elections fail.
#![forbid(unsafe_code)]

use runtime_std::ledger::{synthetic_ledger, write_ledger};
use std::io::Write;
use std::process::ExitCode;

/// Seed of the sample ledger.
const SEED: u64 = 2024;
/// Tokens in the sample ledger.
const TOKENS: usize = 8192;

fn arg<T: std::str::FromStr>(args: &[String], i: usize, name: &str, default: T) -> Result<T, String> {
    match args.get(i) {
        None => Ok(default),
        Some(s) => s.parse().map_err(|_| format!("{name}: {s:?} is not a number")),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parsed = arg(&args, 0, "SEED", SEED).and_then(|seed| Ok((seed, arg(&args, 1, "TOKENS", TOKENS)?)));
    let (seed, tokens) = match parsed {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e} (usage: sample_ledger [SEED] [TOKENS])");
            return ExitCode::from(2);
        }
    };
    let ledger = synthetic_ledger(seed, tokens);
    let mut out = std::io::stdout().lock();
    let written = writeln!(
        out,
        "# Sample ledger for election-node: {tokens} tokens of synthetic ledger {seed}.\n\
         # Regenerate: cargo run -p runtime-std --example sample_ledger -- {seed} {tokens} > examples/ledger.txt\n\
         # Format: <64-hex token> <64-hex block> per line (runtime-std/src/ledger.rs)."
    )
    .and_then(|()| write_ledger(&mut out, ledger.iter()));
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: writing the ledger: {e}");
            ExitCode::FAILURE
        }
    }
}
