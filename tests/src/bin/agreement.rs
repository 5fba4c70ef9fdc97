//! How often do two honest holders of a token agree, by ledger coverage?
//!
//! ```text
//! cargo run --release -p election-tests --bin agreement -- [SAMPLES]
//! ```
//!
//! For each coverage, draws random tokens and a random challenger, lets two
//! distinct nodes whose arcs hold the token sign it, and tabulates the agreement
//! (shared `(token, block)` pairs out of 10) and `P(agreement ≥ t)`. This is the
//! probability that two honest answers form a cluster under `consensus_threshold = t`.
//!
//! `agreement -- SAMPLES --peers` instead measures what the elected-peer
//! table's sequential test sees: the agreement of a responder's answer with an
//! honest challenger's own walk (coverage 0.9, stale 0.01), for an honest
//! responder, one on another ledger version (fork share 0.5, the simulator's
//! partition default) and a lazy one (coverage 0.6, stale 0.3), with
//! `P(agreement ≥ t)` and how often the responder cannot answer at all; then
//! the same for the wire v3 possession proof (steps of 32 that match the
//! challenger's own store), the log-likelihood ratio per matched count that
//! the elected-peer table's evidence uses (`LLR_BY_SHARED`), and, by Monte
//! Carlo over those histograms, how many answers the sequential test needs to
//! evict a peer on the other version and how often it evicts an honest one.

use election_proto::{
    agreement, generate_proof, generate_signature, proof_agreement, PeerId, TokenId, TokenStore, PROOF_STEPS,
};
use election_tests::ledger::{Ledger, LedgerView};
use election_tests::rng::SimRng;
use std::sync::Arc;

fn main() {
    let samples: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    let nodes = 1000usize;
    let replication = 12.0;
    let arc_depth = 256u64;
    if std::env::args().any(|a| a == "--peers") {
        return peers(samples, nodes, replication, arc_depth);
    }
    let ledger = Arc::new(Ledger::new(99, arc_depth * nodes as u64 / 12, 0.0));
    let half = (replication / nodes as f64 / 2.0 * 18_446_744_073_709_551_616.0) as u64;
    println!("coverage stale | mean  | P(>=5) P(>=6) P(>=7) P(>=8) P(>=9) P(=10) | no answer");
    for (coverage, stale) in [
        (1.0, 0.0),
        (1.0, 0.01),
        (0.95, 0.01),
        (0.9, 0.0),
        (0.9, 0.01),
        (0.85, 0.01),
        (0.8, 0.01),
    ] {
        let mut rng = SimRng::new(7, "agreement");
        let mut hist = [0u64; 11];
        let mut unanswerable = 0u64;
        let mut pairs = 0u64;
        while pairs < samples as u64 {
            // A token and two holders within the replication radius of it.
            let t0 = TokenId::new(rng.bytes32());
            let probe = LedgerView::new(
                ledger.clone(),
                &PeerId::new(*t0.as_bytes()),
                u64::MAX / 2,
                0,
                1.0,
                0.0,
            );
            let token = probe
                .next_with_suffix(&t0, (rng.next_u64() % 1024) as u16)
                .unwrap()
                .id;
            let top = election_tests::ledger::top64(token.as_bytes());
            let mut holder = |k: u64| {
                let off = rng.below(2 * half) as i128 - half as i128;
                let mut b = [0u8; 32];
                b[..8].copy_from_slice(&((top as i128 + off) as u64).to_be_bytes());
                LedgerView::new(
                    ledger.clone(),
                    &PeerId::new(b),
                    half,
                    k ^ rng.next_u64(),
                    coverage,
                    stale,
                )
            };
            let (a, b) = (holder(1), holder(2));
            let challenger = PeerId::new(rng.bytes32());
            let (Some(sa), Some(sb)) = (
                generate_signature(&a, &token, &challenger),
                generate_signature(&b, &token, &challenger),
            ) else {
                unanswerable += 1;
                if unanswerable > 10 * samples as u64 {
                    break;
                }
                continue;
            };
            hist[agreement(&sa, &sb)] += 1;
            pairs += 1;
        }
        let (_, mean, at_least) = summary(&hist, pairs);
        println!(
            "{coverage:>8} {stale:>5} | {mean:.2} | {:.3}  {:.3}  {:.3}  {:.3}  {:.3}  {:.3} | {:.3}",
            at_least(5),
            at_least(6),
            at_least(7),
            at_least(8),
            at_least(9),
            at_least(10),
            unanswerable as f64 / (unanswerable + pairs) as f64
        );
    }
}

/// Challenger's own walk against one responder of each kind (see the module docs).
fn peers(samples: usize, nodes: usize, replication: f64, arc_depth: u64) {
    let ledger = Arc::new(Ledger::new(99, arc_depth * nodes as u64 / 12, 0.5));
    let half = (replication / nodes as f64 / 2.0 * 18_446_744_073_709_551_616.0) as u64;
    println!("responder      | mean  | P(>=1) P(>=2) P(>=3) P(>=4) P(>=5) P(>=6) | no answer");
    let mut proofs = Vec::new();
    // (name, coverage, stale, ledger version)
    for (name, coverage, stale, version) in [
        ("honest", 0.9, 0.01, 0u32),
        ("other version", 0.9, 0.01, 1),
        ("lazy", 0.6, 0.3, 0),
    ] {
        let mut rng = SimRng::new(7, "agreement peers");
        let mut hist = [0u64; 11];
        let mut proof_hist = [0u64; PROOF_STEPS + 1];
        let (mut pairs, mut unanswerable) = (0u64, 0u64);
        while pairs < samples as u64 && unanswerable < 10 * samples as u64 {
            let t0 = TokenId::new(rng.bytes32());
            let probe = LedgerView::new(
                ledger.clone(),
                &PeerId::new(*t0.as_bytes()),
                u64::MAX / 2,
                0,
                1.0,
                0.0,
            );
            let token = probe
                .next_with_suffix(&t0, (rng.next_u64() % 1024) as u16)
                .unwrap()
                .id;
            let top = election_tests::ledger::top64(token.as_bytes());
            let mut holder = |coverage: f64, stale: f64| {
                let off = rng.below(2 * half) as i128 - half as i128;
                let mut b = [0u8; 32];
                b[..8].copy_from_slice(&((top as i128 + off) as u64).to_be_bytes());
                LedgerView::new(
                    ledger.clone(),
                    &PeerId::new(b),
                    half,
                    rng.next_u64(),
                    coverage,
                    stale,
                )
            };
            let me = holder(0.9, 0.01);
            let mut other = holder(coverage, stale);
            other.set_version(version);
            let challenger = PeerId::new(rng.bytes32());
            let Some(own) = generate_signature(&me, &token, &challenger) else {
                continue;
            };
            let Some(theirs) = generate_signature(&other, &token, &challenger) else {
                unanswerable += 1;
                continue;
            };
            hist[agreement(&own, &theirs)] += 1;
            let responder = PeerId::new(rng.bytes32());
            let proof = generate_proof(&other, &challenger, &responder, &token)
                .expect("it signed, so it holds the token");
            proof_hist[proof_agreement(&me, &challenger, &responder, &token, &proof)] += 1;
            pairs += 1;
        }
        proofs.push((name, proof_hist, pairs));
        let (n, mean, at_least) = summary(&hist, pairs);
        println!(
            "{name:<14} | {mean:.2}  | {:.3}  {:.3}  {:.3}  {:.3}  {:.3}  {:.3} | {:.3}",
            at_least(1),
            at_least(2),
            at_least(3),
            at_least(4),
            at_least(5),
            at_least(6),
            unanswerable as f64 / (unanswerable + pairs).max(1) as f64
        );
        let exact: Vec<String> = hist.iter().map(|c| format!("{:.4}", *c as f64 / n)).collect();
        println!("{:<14} | P(=0..=10) {}", "", exact.join(" "));
    }
    proof_report(&proofs);
}

/// The possession-proof part of `--peers`: histograms, the per-count
/// log-likelihood ratio (other version : honest, Laplace-smoothed, bounded at
/// ±6 nats, in thousandths) and the sequential test's behaviour on them.
fn proof_report(proofs: &[(&str, [u64; PROOF_STEPS + 1], u64)]) {
    println!();
    println!("possession proof: steps of {PROOF_STEPS} matching the challenger's own store");
    for (name, hist, pairs) in proofs {
        let n = (*pairs).max(1) as f64;
        let mean = hist
            .iter()
            .enumerate()
            .map(|(k, c)| k as f64 * *c as f64)
            .sum::<f64>()
            / n;
        let exact: Vec<String> = hist.iter().map(|c| format!("{:.3}", *c as f64 / n)).collect();
        println!(
            "{name:<14} | mean {mean:.2} | P(=0..={PROOF_STEPS}) {}",
            exact.join(" ")
        );
    }
    let (honest, other) = (&proofs[0], &proofs[1]);
    let p = |h: &[u64; PROOF_STEPS + 1], n: u64, k: usize| {
        (h[k] as f64 + 0.5) / (n as f64 + 0.5 * (PROOF_STEPS + 1) as f64)
    };
    let raw: Vec<f64> = (0..=PROOF_STEPS)
        .map(|k| {
            (p(&other.1, other.2, k) / p(&honest.1, honest.2, k))
                .ln()
                .clamp(-6.0, 6.0)
        })
        .collect();
    // More matching steps never speak less for the peer: the ratio is made
    // non-increasing in the count (pool-adjacent-violators, weighted by how
    // often each count was seen), which also evens out the noisy tails where
    // both histograms are nearly empty.
    let weight: Vec<f64> = (0..=PROOF_STEPS)
        .map(|k| (honest.1[k] + other.1[k]) as f64 + 1.0)
        .collect();
    let llr: Vec<i32> = non_increasing(&raw, &weight)
        .into_iter()
        .map(|r| (r * 1000.0).round() as i32)
        .collect();
    println!("LLR_BY_SHARED (milli-nats, other version : honest) = {llr:?}");
    // The sequential test as the elected-peer table runs it on a confirmed
    // peer (Page's CUSUM from 0, evicted at 6,900).
    let draw = |h: &[u64; PROOF_STEPS + 1], n: u64, x: u64| {
        let mut at = x % n.max(1);
        for (k, c) in h.iter().enumerate() {
            if at < *c {
                return k;
            }
            at -= c;
        }
        PROOF_STEPS
    };
    let mut rng = SimRng::new(11, "agreement cusum");
    let mut needed: Vec<u32> = (0..10_000)
        .map(|_| {
            let (mut score, mut answers) = (0i32, 0u32);
            while score < 6_900 && answers < 1_000 {
                score = (score + llr[draw(&other.1, other.2, rng.next_u64())]).max(0);
                answers += 1;
            }
            answers
        })
        .collect();
    needed.sort_unstable();
    println!(
        "answers to evict a peer on the other version (alpha = 1e-3): p50 {} p99 {} max {}",
        needed[needed.len() / 2],
        needed[needed.len() * 99 / 100],
        needed[needed.len() - 1]
    );
    let runs = 10_000u32;
    let per_run = 100u32;
    let evicted = (0..runs)
        .filter(|_| {
            let mut score = 0i32;
            (0..per_run).any(|_| {
                score = (score + llr[draw(&honest.1, honest.2, rng.next_u64())]).max(0);
                score >= 6_900
            })
        })
        .count();
    println!("honest peers evicted within {per_run} answers: {evicted} of {runs}");
}

/// The weighted least-squares non-increasing fit of `values`
/// (pool-adjacent-violators).
fn non_increasing(values: &[f64], weights: &[f64]) -> Vec<f64> {
    // Blocks of (mean, weight, length), merged while a later block's mean
    // exceeds an earlier one's.
    let mut blocks: Vec<(f64, f64, usize)> = Vec::new();
    for (v, w) in values.iter().zip(weights) {
        blocks.push((*v, *w, 1));
        while blocks.len() > 1 && blocks[blocks.len() - 1].0 > blocks[blocks.len() - 2].0 {
            let (m2, w2, n2) = blocks.pop().expect("two blocks");
            let (m1, w1, n1) = blocks.pop().expect("two blocks");
            blocks.push(((m1 * w1 + m2 * w2) / (w1 + w2), w1 + w2, n1 + n2));
        }
    }
    blocks
        .into_iter()
        .flat_map(|(m, _, n)| std::iter::repeat_n(m, n))
        .collect()
}

/// Of a histogram of shared mappings over `pairs` samples: the sample count
/// as a float (at least 1), the mean, and the share sharing at least `t`.
fn summary(hist: &[u64; 11], pairs: u64) -> (f64, f64, impl Fn(usize) -> f64 + '_) {
    let n = pairs.max(1) as f64;
    let mean = hist
        .iter()
        .enumerate()
        .map(|(k, c)| k as f64 * *c as f64)
        .sum::<f64>()
        / n;
    (n, mean, move |t: usize| hist[t..].iter().sum::<u64>() as f64 / n)
}
