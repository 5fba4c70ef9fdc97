//! Memory footprint and build time of a 1,000,000-token [`MemoryStore`].
//!
//! ```text
//! cargo run --release -p election-proto --example store_footprint [-- TOKENS]
//! ```
//!
//! Each measurement runs in a fresh child process so that memory freed by one does not
//! hide the cost of the next. Memory is the growth of the resident set (`VmRSS` from
//! `/proc/self/status`), so it includes allocator overhead and anything the build left
//! behind, and is compared with the bare 64 bytes of a `(TokenId, BlockId)` pair.

use election_proto::{MemoryStore, TokenId, TokenStore};
use std::hint::black_box;
use std::process::Command;
use std::time::{Duration, Instant};

const DEFAULT_TOKENS: usize = 1_000_000;
const BARE_BYTES: f64 = 64.0;
/// Target from the issue: at most ~2.5x the bare mappings.
const TARGET_BYTES: f64 = 160.0;

#[path = "../tests/support/ledger.rs"]
mod support;
use support::mappings;

/// A field of `/proc/self/status` in kB (`VmRSS`, `VmHWM`).
fn status_kb(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        rest.trim().trim_end_matches("kB").trim().parse().ok()
    })
}

fn rss_bytes() -> u64 {
    status_kb("VmRSS").unwrap_or(0) * 1024
}

fn report(label: &str, n: usize, elapsed: Duration, before: u64, after: u64, store: &MemoryStore) {
    assert_eq!(store.len(), n, "generator produced a duplicate token");
    // Touch the store so the measurement cannot be optimised away.
    let probe = TokenId::new([0x5a; 32]);
    black_box(store.next_with_suffix(&probe, 7));
    let per_token = after.saturating_sub(before) as f64 / n as f64;
    let peak = status_kb("VmHWM").unwrap_or(0) * 1024;
    println!(
        "{label:<22} {n:>9} tokens  {:>9.1} ms  {:>6.1} B/token  ({:.2}x bare 64 B, target <= {TARGET_BYTES} B: {})  peak RSS {:.1} MiB",
        elapsed.as_secs_f64() * 1e3,
        per_token,
        per_token / BARE_BYTES,
        if per_token <= TARGET_BYTES { "ok" } else { "MISSED" },
        peak as f64 / (1024.0 * 1024.0),
    );
}

fn run(mode: &str, n: usize) {
    match mode {
        "bulk" => {
            let before = rss_bytes();
            let start = Instant::now();
            let store = MemoryStore::from_mappings(mappings(n, 1));
            let elapsed = start.elapsed();
            report("from_mappings", n, elapsed, before, rss_bytes(), &store);
        }
        "insert" => {
            let before = rss_bytes();
            let start = Instant::now();
            let mut store = MemoryStore::new();
            for (t, b) in mappings(n, 1) {
                store.insert(t, b);
            }
            let elapsed = start.elapsed();
            report("single inserts", n, elapsed, before, rss_bytes(), &store);
        }
        other => panic!("unknown mode {other:?}"),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--mode") {
        let mode = args.get(2).expect("--mode needs a value");
        let n = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(DEFAULT_TOKENS);
        run(mode, n);
        return;
    }
    let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(DEFAULT_TOKENS);
    if cfg!(debug_assertions) {
        println!("note: debug build; run with --release for meaningful timings");
    }
    let exe = std::env::current_exe().expect("current_exe");
    for mode in ["bulk", "insert"] {
        let status = Command::new(&exe)
            .args(["--mode", mode, &n.to_string()])
            .status()
            .expect("spawn measurement child");
        assert!(status.success(), "{mode} measurement failed");
    }
}
