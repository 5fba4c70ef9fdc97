//! The cost of wire v2 identities: one proof-of-work check (one Argon2id
//! evaluation), Ed25519 signing and verification of an answer's signed bytes,
//! and the id derivation.
//!
//! ```text
//! cargo bench -p election-proto --bench identity
//! ```
//!
//! In bench mode the run ends by printing the proof-of-work check beside an
//! Ed25519 verification measured in the same run, and what mining a 24-bit
//! proof costs at that rate (2^24 checks expected).

use criterion::{black_box, Criterion};
use election_proto::keys::{pow_hash, pow_valid, NodeKey};
use std::time::{Duration, Instant};

fn main() {
    let key = NodeKey::from_secret([42; 32]);
    let public = key.public();
    // About the size of an answer's signed bytes (docs/WIRE.md §4).
    let message = vec![0x5au8; 810];
    let sig = key.sign(&message);
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .sample_size(20)
        .configure_from_args();
    let mut g = c.benchmark_group("identity");
    let mut nonce = 0u64;
    g.bench_function("pow_check", |b| {
        b.iter(|| {
            nonce += 1;
            // One bit: exactly one Argon2id evaluation, as any check costs.
            black_box(pow_valid(black_box(&public), nonce, 1))
        })
    });
    g.bench_function("ed25519_sign", |b| b.iter(|| key.sign(black_box(&message))));
    g.bench_function("ed25519_verify", |b| {
        b.iter(|| public.verify(black_box(&message), black_box(&sig)))
    });
    g.bench_function("peer_id", |b| b.iter(|| black_box(&public).peer_id()));
    g.finish();
    c.final_summary();
    if std::env::args().any(|a| a == "--bench") {
        let time = |n: u32, f: &mut dyn FnMut()| {
            let start = Instant::now();
            for _ in 0..n {
                f();
            }
            start.elapsed() / n
        };
        let pow = time(200, &mut || {
            black_box(pow_hash(&public, black_box(7)));
        });
        let verify = time(2_000, &mut || {
            black_box(public.verify(&message, &sig).is_ok());
        });
        println!();
        println!(
            "proof-of-work check {pow:?} = {:.0}x an Ed25519 verification ({verify:?}); mining 24 bits ~ 2^24 checks = {:.1} h on one core",
            pow.as_secs_f64() / verify.as_secs_f64(),
            pow.as_secs_f64() * f64::from(1u32 << 24) / 3600.0
        );
    }
}
