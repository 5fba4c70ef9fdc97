//! Clustering benchmarks: `find_clusters` and `maximal_cliques` (Bron–Kerbosch on
//! bitsets) beside the brute-force reference `brute_force_cliques`, on realistic
//! agreement graphs: 80% of responders in one agreeing cluster, the rest noise.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use election_proto::cluster::{
    agreement_graph, brute_force_cliques, find_clusters, find_clusters_bounded, maximal_cliques,
    maximal_cliques_bounded, DEFAULT_MAX_CLIQUE_STEPS,
};
use election_proto::{agreement, BlockId, PeerId, TokenId, TokenMapping, TokenSignature};
use election_splitmix::SplitMix64;
use std::time::Duration;

/// 32 bytes from four outputs of `rng`, each big-endian.
fn id(rng: &mut SplitMix64) -> [u8; 32] {
    let mut b = [0u8; 32];
    for c in b.chunks_mut(8) {
        c.copy_from_slice(&rng.next_u64().to_be_bytes());
    }
    b
}

/// A full-width, random-looking mapping determined by `key`.
fn mapping(key: u64) -> TokenMapping {
    let mut rng = SplitMix64(key);
    TokenMapping {
        id: TokenId::new(id(&mut rng)),
        block: BlockId::new(id(&mut rng)),
    }
}

/// `n` responses: 80% hold the 8 core mappings plus 2 of 4 variants (agreement
/// 8..=10 among them); the rest are noise: pairs of stale nodes that agree with each
/// other (9/10) and up to 6 core mappings, or lone nodes with up to 6 core mappings.
fn responses(n: usize, seed: u64) -> (TokenId, Vec<(PeerId, TokenSignature)>) {
    let mut rng = SplitMix64(seed);
    let token = TokenId::new(id(&mut rng));
    let members = n * 8 / 10;
    let variants = [(0, 1), (2, 3), (0, 2), (1, 3), (0, 3), (1, 2)];
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let mut keys = [0u64; 10];
        if i < members {
            for (s, k) in keys.iter_mut().take(8).enumerate() {
                *k = s as u64;
            }
            let (a, b) = variants[(rng.next_u64() % 6) as usize];
            keys[8] = 100 + a;
            keys[9] = 100 + b;
        } else {
            let core = (rng.next_u64() % 7) as usize;
            let stale_pair = (i - members) / 2;
            for (s, k) in keys.iter_mut().enumerate() {
                *k = if s < core {
                    s as u64
                } else if s < 9 && (i - members) % 3 != 2 {
                    // shared with the other node of its stale pair
                    10_000 + 100 * stale_pair as u64 + s as u64
                } else {
                    1_000_000 + 100 * i as u64 + s as u64
                };
            }
        }
        let signature = TokenSignature {
            answer: TokenMapping {
                id: token,
                block: BlockId::from_u64(1),
            },
            signature: keys.map(mapping),
        };
        out.push((PeerId::new(id(&mut rng)), signature));
    }
    // Interleave members and noise.
    for i in (1..out.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        out.swap(i, j);
    }
    (token, out)
}

fn adjacency(resp: &[(PeerId, TokenSignature)]) -> Vec<u64> {
    let sigs: Vec<&TokenSignature> = resp.iter().map(|(_, s)| s).collect();
    agreement_graph(&sigs, 8).adjacency().to_vec()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("cluster");
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));

    for n in [10usize, 64] {
        let (token, resp) = responses(n, n as u64);
        g.bench_with_input(BenchmarkId::new("find_clusters", n), &resp, |b, resp| {
            b.iter(|| find_clusters(black_box(&token), black_box(resp), 8, 2))
        });
        let sigs: Vec<&TokenSignature> = resp.iter().map(|(_, s)| s).collect();
        g.bench_with_input(BenchmarkId::new("agreement_graph", n), &sigs, |b, sigs| {
            b.iter(|| agreement_graph(black_box(sigs), 8))
        });
        // Reference: `proof::agreement` on every pair.
        g.bench_with_input(
            BenchmarkId::new("agreement_pairwise_reference", n),
            &sigs,
            |b, sigs| {
                b.iter(|| {
                    let sigs = black_box(sigs);
                    let mut adj = vec![0u64; sigs.len()];
                    for i in 0..sigs.len() {
                        for j in i + 1..sigs.len() {
                            if agreement(sigs[i], sigs[j]) >= 8 {
                                adj[i] |= 1 << j;
                                adj[j] |= 1 << i;
                            }
                        }
                    }
                    adj
                })
            },
        );
        let adj = adjacency(&resp);
        g.bench_with_input(BenchmarkId::new("maximal_cliques", n), &adj, |b, adj| {
            b.iter(|| maximal_cliques(black_box(adj)))
        });
    }
    for n in [10usize, 16, 20] {
        let (_, resp) = responses(n, n as u64);
        let adj = adjacency(&resp);
        assert_eq!(maximal_cliques(&adj), brute_force_cliques(&adj));
        let id = BenchmarkId::new("maximal_cliques", n);
        if n != 10 {
            g.bench_with_input(id, &adj, |b, adj| b.iter(|| maximal_cliques(black_box(adj))));
        }
        g.bench_with_input(BenchmarkId::new("brute_force_cliques", n), &adj, |b, adj| {
            b.iter(|| brute_force_cliques(black_box(adj)))
        });
    }

    // Stress case, not an agreement graph: G(64, 1/2) has thousands of maximal cliques.
    let mut rng = SplitMix64(99);
    let mut adj = vec![0u64; 64];
    for i in 0..64 {
        for j in i + 1..64 {
            if rng.next_u64() & 1 == 1 {
                adj[i] |= 1 << j;
                adj[j] |= 1 << i;
            }
        }
    }
    println!("G(64, 1/2): {} maximal cliques", maximal_cliques(&adj).len());
    g.bench_with_input(
        BenchmarkId::new("maximal_cliques_random_p50", 64),
        &adj,
        |b, adj| b.iter(|| maximal_cliques(black_box(adj))),
    );

    // Worst shape: 16 honest answers and 48 hostile ones whose agreement graph
    // is the complete 16-partite graph with parts of 3 (Moon–Moser: 3^16 ≈
    // 4.3e7 maximal cliques, the most 48 nodes can have). Unbounded this
    // would run for hours; bounded it costs at most DEFAULT_MAX_CLIQUE_STEPS
    // steps. Reference in the same run: the honest 64-response case above.
    for n in [10usize, 64] {
        let (token, resp) = responses(n, n as u64);
        let found = find_clusters_bounded(&token, &resp, 8, 2, u64::MAX);
        println!(
            "honest {n}: {} steps, {} clusters",
            found.steps,
            found.clusters.len()
        );
    }
    let found = maximal_cliques_bounded(&adj, u64::MAX);
    println!("G(64, 1/2): {} steps unbounded", found.steps);
    let (token, hostile) = hostile_responses();
    let found = find_clusters_bounded(&token, &hostile, HOSTILE_T, 2, DEFAULT_MAX_CLIQUE_STEPS);
    println!(
        "hostile 64: {} steps (bound {DEFAULT_MAX_CLIQUE_STEPS}), truncated {}, {} clusters, strongest has {} members",
        found.steps,
        found.truncated,
        found.clusters.len(),
        found.clusters[0].size()
    );
    g.bench_with_input(
        BenchmarkId::new("find_clusters_bounded_hostile", 64),
        &hostile,
        |b, resp| {
            b.iter(|| {
                find_clusters_bounded(
                    black_box(&token),
                    black_box(resp),
                    HOSTILE_T,
                    2,
                    DEFAULT_MAX_CLIQUE_STEPS,
                )
            })
        },
    );
    let sigs: Vec<&TokenSignature> = hostile.iter().map(|(_, s)| s).collect();
    let adj = agreement_graph(&sigs, HOSTILE_T).adjacency().to_vec();
    g.bench_with_input(
        BenchmarkId::new("maximal_cliques_bounded_hostile", 64),
        &adj,
        |b, adj| b.iter(|| maximal_cliques_bounded(black_box(adj), DEFAULT_MAX_CLIQUE_STEPS)),
    );
    g.finish();
}

/// Threshold the hostile shape is built for (3 shared slots plus one more).
const HOSTILE_T: usize = 4;

/// The worst shape (as in the cluster tests): hostile member `k` of part `p`
/// shares slots 0–2 with every hostile answer, holds colour `k` in slot 3 and
/// `k + m·d_j (mod 3)` in slots 4–9 (base-3 digits `d_j` of `p`, `m ∈ {1, 2}`),
/// so two members of one part agree on 3 mappings, of different parts on ≥ 4.
fn hostile_responses() -> (TokenId, Vec<(PeerId, TokenSignature)>) {
    let sig = |keys: [u64; 10]| TokenSignature {
        answer: mapping(1),
        signature: keys.map(mapping),
    };
    let mut out: Vec<(PeerId, TokenSignature)> = (0..48u64)
        .map(|i| {
            let (part, k) = (i / 3, i % 3);
            let digits = [part % 3, part / 3 % 3, part / 9 % 3];
            let keys = core::array::from_fn(|slot| {
                let colour = match slot {
                    0..=2 => 0,
                    3 => k,
                    _ => (k + (1 + (slot as u64 - 4) % 2) * digits[(slot - 4) / 2]) % 3,
                };
                50_000 + 100 * slot as u64 + colour
            });
            (PeerId::from_u64(10_000 + i), sig(keys))
        })
        .collect();
    let honest = sig(core::array::from_fn(|slot| 500 + slot as u64));
    out.extend((0..16u64).map(|i| (PeerId::from_u64(100 + i), honest)));
    (TokenId::from_u64(0), out)
}

criterion_group!(benches, bench);
criterion_main!(benches);
