//! Proof-of-storage costs on a 1,000,000-token store.
//!
//! ```text
//! cargo bench -p election-proto --bench proof
//! ```
//!
//! `generate/indexed` uses [`MemoryStore`] (one ordered bucket per suffix);
//! `generate/linear_scan` uses a store that answers suffix searches the seed's way, by
//! stepping through all tokens in ring order until one has the wanted suffix (~1024
//! tokens per step). Both must produce identical signatures, which is checked first.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use election_proto::{
    agreement, generate_signature, suffix, verify_signature, BlockId, MemoryStore, PeerId, TokenId,
    TokenMapping, TokenStore,
};

const TOKENS: usize = 1_000_000;
const SAMPLES: usize = 256;

#[path = "../tests/support/ledger.rs"]
mod support;
use support::{mapping, SplitMix64};

/// All tokens in one sorted `Vec`; suffix search walks it one token at a time.
struct LinearScanStore(Vec<(TokenId, BlockId)>);

impl LinearScanStore {
    fn new(mut all: Vec<(TokenId, BlockId)>) -> Self {
        all.sort_unstable_by_key(|(t, _)| *t);
        all.dedup_by_key(|(t, _)| *t);
        Self(all)
    }

    /// Steps from `from` in one direction, wrapping, for at most one full turn.
    fn scan(&self, from: &TokenId, s: u16, clockwise: bool) -> Option<TokenMapping> {
        let n = self.0.len();
        if n == 0 {
            return None;
        }
        // Index of the first token after `from` (clockwise) or before it (counter-clockwise).
        let mut i = match (self.0.binary_search_by_key(from, |(t, _)| *t), clockwise) {
            (Ok(i), true) => (i + 1) % n,
            (Err(i), true) => i % n,
            (Ok(i) | Err(i), false) => (i + n - 1) % n,
        };
        for _ in 0..n {
            let (t, b) = self.0[i];
            if t == *from {
                return None;
            }
            if suffix(&t) == s {
                return Some(TokenMapping { id: t, block: b });
            }
            i = if clockwise { (i + 1) % n } else { (i + n - 1) % n };
        }
        None
    }
}

impl TokenStore for LinearScanStore {
    fn lookup(&self, token: &TokenId) -> Option<BlockId> {
        self.0
            .binary_search_by_key(token, |(t, _)| *t)
            .ok()
            .map(|i| self.0[i].1)
    }
    fn next_with_suffix(&self, from: &TokenId, s: u16) -> Option<TokenMapping> {
        self.scan(from, s, true)
    }
    fn prev_with_suffix(&self, from: &TokenId, s: u16) -> Option<TokenMapping> {
        self.scan(from, s, false)
    }
}

fn bench_proof(c: &mut Criterion) {
    let mut rng = SplitMix64(42);
    let all: Vec<(TokenId, BlockId)> = (0..TOKENS).map(|_| mapping(&mut rng)).collect();
    let indexed = MemoryStore::from_mappings(all.iter().copied());
    let scan = LinearScanStore::new(all.clone());
    let queries: Vec<(TokenId, PeerId)> = (0..SAMPLES)
        .map(|_| {
            let k = rng.below(TOKENS);
            (all[k].0, PeerId::new(rng.bytes32()))
        })
        .collect();
    let sigs: Vec<_> = queries
        .iter()
        .map(|(t, p)| {
            let sig = generate_signature(&indexed, t, p).expect("dense store answers");
            assert_eq!(generate_signature(&scan, t, p), Some(sig), "stores disagree");
            sig
        })
        .collect();

    let mut g = c.benchmark_group("generate");
    let mut i = 0;
    g.bench_function("indexed", |b| {
        b.iter(|| {
            let (t, p) = &queries[i % SAMPLES];
            i += 1;
            black_box(generate_signature(&indexed, t, p))
        })
    });
    let mut i = 0;
    g.bench_function("linear_scan", |b| {
        b.iter(|| {
            let (t, p) = &queries[i % SAMPLES];
            i += 1;
            black_box(generate_signature(&scan, t, p))
        })
    });
    g.finish();

    let mut i = 0;
    c.bench_function("verify_signature", |b| {
        b.iter(|| {
            let k = i % SAMPLES;
            i += 1;
            let (t, p) = &queries[k];
            black_box(verify_signature(p, t, &sigs[k]))
        })
    });
    let mut i = 0;
    c.bench_function("agreement", |b| {
        b.iter(|| {
            let k = i % SAMPLES;
            i += 1;
            black_box(agreement(&sigs[k], &sigs[(k * 7 + 1) % SAMPLES]))
        })
    });
}

criterion_group!(benches, bench_proof);
criterion_main!(benches);
