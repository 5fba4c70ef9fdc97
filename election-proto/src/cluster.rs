//! Consensus clusters (docs/PROTOCOL.md §6, steps 3–6): maximal cliques of the agreement
//! graph, their ranking, and the single / split-brain decision.
//!
//! Responses are indexed `0..n` in the order the caller passes them, with
//! `n ≤` [`MAX_RESPONSES`], so any set of responses is a `u64` bitset (bit `i` set
//! ⇔ response `i` is in the set). The pipeline is:
//!
//! 1. [`agreement_graph`]: pairwise [`agreement`](crate::proof::agreement) counts and
//!    an edge between two responses iff they agree on at least `consensus_threshold`
//!    mappings.
//! 2. [`maximal_cliques`]: every maximal clique of that graph (Bron–Kerbosch with
//!    pivoting on bitsets). [`brute_force_cliques`] is the exhaustive reference it is
//!    tested and benchmarked against.
//! 3. [`find_clusters`]: the cliques of at least `min_cluster_size` members, as
//!    [`ConsensusCluster`]s ranked strongest first.
//! 4. [`decide`]: the strongest cluster wins outright if it holds a large enough share
//!    of the valid responses; otherwise a *disjoint* competitor means split-brain.

use crate::id::{ring_distance, Distance, PeerId, TokenId};
use crate::proof::{TokenMapping, TokenSignature, SIGNATURE_SIZE};
use core::cmp::Ordering;

/// Largest number of responses the clustering considers; sets of responses are `u64`
/// bitsets. Elections cap the responses they collect at this number.
pub const MAX_RESPONSES: usize = 64;

/// Bitset of the first `n` indices (`n ≤ 64`).
fn low_mask(n: usize) -> u64 {
    if n >= 64 {
        u64::MAX
    } else {
        (1u64 << n) - 1
    }
}

/// Iterator over the indices of the set bits of `set`, ascending.
fn bits(mut set: u64) -> impl Iterator<Item = usize> {
    core::iter::from_fn(move || {
        if set == 0 {
            None
        } else {
            let i = set.trailing_zeros() as usize;
            set &= set - 1;
            Some(i)
        }
    })
}

/// Bits per agreement counter: agreements are at most `SIGNATURE_SIZE = 10 < 16`.
const COUNTER_BITS: usize = 4;

/// Bits of a sort key that hold the mapping's position (`signature · 10 + slot < 640`).
const POSITION_BITS: u32 = 10;

/// Pairwise agreement between responses, and the graph it induces.
///
/// Built by [`agreement_graph`]. Guarantees: [`len`](Self::len) `≤` [`MAX_RESPONSES`];
/// [`agreement`](Self::agreement) is symmetric and equals
/// [`proof::agreement`](crate::proof::agreement) for every pair (the diagonal holds the
/// number of distinct mappings in that signature); the adjacency is symmetric, has no
/// self loops, no bits at or above `len`, and `j` is adjacent to `i ≠ j` exactly when
/// their agreement is at least the consensus threshold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgreementGraph {
    consensus_threshold: usize,
    /// Bit-sliced counters: bit `j` of `counters[i][b]` is bit `b` of `agreement(i, j)`.
    counters: Vec<[u64; COUNTER_BITS]>,
    /// `adjacency[i]` has bit `j` set iff `i ≠ j` and `agreement(i, j) ≥ threshold`.
    adjacency: Vec<u64>,
}

impl AgreementGraph {
    /// Number of responses (nodes) in the graph, at most [`MAX_RESPONSES`].
    pub fn len(&self) -> usize {
        self.adjacency.len()
    }

    /// Whether the graph has no nodes.
    pub fn is_empty(&self) -> bool {
        self.adjacency.is_empty()
    }

    /// The threshold the edges were built with.
    pub fn consensus_threshold(&self) -> usize {
        self.consensus_threshold
    }

    /// Number of `(token, block)` pairs responses `i` and `j` share, in `0..=10`.
    ///
    /// # Panics
    /// If `i` or `j` is not below [`len`](Self::len).
    pub fn agreement(&self, i: usize, j: usize) -> usize {
        assert!(i < self.len() && j < self.len(), "response index out of range");
        self.counters[i]
            .iter()
            .enumerate()
            .map(|(b, plane)| ((plane >> j & 1) as usize) << b)
            .sum()
    }

    /// Adjacency bitsets, one per response: bit `j` of entry `i` is set iff `i ≠ j`
    /// and the two responses agree on at least the consensus threshold.
    pub fn adjacency(&self) -> &[u64] {
        &self.adjacency
    }

    /// Sum of `agreement(i, j)` over the responses `j ≠ i` in the bitset `set`.
    fn sum_within(&self, i: usize, set: u64) -> u64 {
        let lanes = set & low_mask(self.len()) & !(1u64 << i);
        self.counters[i]
            .iter()
            .enumerate()
            .map(|(b, plane)| u64::from((plane & lanes).count_ones()) << b)
            .sum()
    }

    /// Smallest `agreement(i, j)` over the responses `j ≠ i` in `set`, if any.
    fn min_within(&self, i: usize, set: u64) -> Option<usize> {
        let mut candidates = set & low_mask(self.len()) & !(1u64 << i);
        if candidates == 0 {
            return None;
        }
        // Bit-sliced minimum: from the top bit down, keep the lanes with a 0 if any.
        let mut min = 0;
        for b in (0..COUNTER_BITS).rev() {
            let zeros = candidates & !self.counters[i][b];
            if zeros == 0 {
                min |= 1 << b;
            } else {
                candidates = zeros;
            }
        }
        Some(min)
    }

    /// The responses adjacent to response `i`, as a bitset.
    ///
    /// # Panics
    /// If `i` is not below [`len`](Self::len).
    pub fn neighbors(&self, i: usize) -> u64 {
        self.adjacency[i]
    }
}

/// Builds the agreement graph of `signatures`: all pairwise agreement counts, and an
/// edge between two distinct responses iff they share at least `consensus_threshold`
/// `(token, block)` pairs.
///
/// Callers pass at most [`MAX_RESPONSES`] signatures (elections cap their responses at
/// that). This is checked by a `debug_assert!`; in release builds only the first
/// [`MAX_RESPONSES`] are used. Never panics otherwise.
///
/// Cost: one sort of `10·n` integer keys groups equal mappings; each distinct mapping
/// then adds its set of holders to each holder's row of bit-sliced counters. No
/// per-pair comparison of 64-byte mappings.
pub fn agreement_graph(signatures: &[&TokenSignature], consensus_threshold: usize) -> AgreementGraph {
    debug_assert!(
        signatures.len() <= MAX_RESPONSES,
        "agreement_graph: {} signatures, at most {MAX_RESPONSES} supported",
        signatures.len()
    );
    build_graph(signatures, consensus_threshold, fingerprint)
}

/// [`agreement_graph`] with the fingerprint as a parameter, so tests can force
/// fingerprint collisions.
fn build_graph(
    signatures: &[&TokenSignature],
    consensus_threshold: usize,
    fingerprint: fn(&TokenMapping) -> u64,
) -> AgreementGraph {
    let sigs = &signatures[..signatures.len().min(MAX_RESPONSES)];
    let n = sigs.len();
    let position_mask = (1u64 << POSITION_BITS) - 1;
    let mapping_at = |key: u64| {
        let position = (key & position_mask) as usize;
        &sigs[position / SIGNATURE_SIZE].signature[position % SIGNATURE_SIZE]
    };
    let holder = |key: u64| 1u64 << ((key & position_mask) as usize / SIGNATURE_SIZE);

    // Key = fingerprint (high bits) | position (low bits). Sorting groups equal
    // fingerprints; equality is then decided on the full mappings, so the result
    // is exact whatever the fingerprints are.
    let mut keys: Vec<u64> = Vec::with_capacity(n * SIGNATURE_SIZE);
    for (s, sig) in sigs.iter().enumerate() {
        for (slot, m) in sig.signature.iter().enumerate() {
            keys.push(fingerprint(m) << POSITION_BITS | (s * SIGNATURE_SIZE + slot) as u64);
        }
    }
    keys.sort_unstable();

    // Each distinct mapping, held by the signatures in `holders`, adds 1 to
    // `agreement(s, j)` for every holder `s` and every `j` in `holders` (a mapping
    // repeated inside one signature counts once, as in `proof::agreement`).
    let mut counters = vec![[0u64; COUNTER_BITS]; n];
    let mut add = |holders: u64| {
        for s in bits(holders) {
            let mut carry = holders;
            for plane in counters[s].iter_mut() {
                let next = *plane & carry;
                *plane ^= carry;
                carry = next;
            }
        }
    };
    let mut rest = &mut keys[..];
    while let Some(&first) = rest.first() {
        let len = rest
            .iter()
            .take_while(|&&k| k >> POSITION_BITS == first >> POSITION_BITS)
            .count();
        let (block, tail) = rest.split_at_mut(len);
        let representative = mapping_at(first);
        if block.iter().all(|&k| mapping_at(k) == representative) {
            add(block.iter().fold(0, |h, &k| h | holder(k)));
        } else {
            // Different mappings with one fingerprint: group them by value.
            block.sort_unstable_by(|&a, &b| mapping_at(a).cmp(mapping_at(b)));
            for run in block.chunk_by(|&a, &b| mapping_at(a) == mapping_at(b)) {
                add(run.iter().fold(0, |h, &k| h | holder(k)));
            }
        }
        rest = tail;
    }

    let mask = low_mask(n);
    let adjacency = counters
        .iter()
        .enumerate()
        .map(|(i, c)| at_least(c, consensus_threshold) & mask & !(1u64 << i))
        .collect();
    AgreementGraph {
        consensus_threshold,
        counters,
        adjacency,
    }
}

/// Lanes (bits) whose bit-sliced counter is at least `threshold`.
fn at_least(counter: &[u64; COUNTER_BITS], threshold: usize) -> u64 {
    if threshold >= 1 << COUNTER_BITS {
        return 0;
    }
    let mut greater = 0u64;
    let mut equal = u64::MAX;
    for b in (0..COUNTER_BITS).rev() {
        if threshold >> b & 1 == 1 {
            equal &= counter[b];
        } else {
            greater |= equal & counter[b];
            equal &= !counter[b];
        }
    }
    greater | equal
}

/// A 64-bit mix of all 64 bytes of a mapping (not cryptographic; only speeds up
/// sorting, equality is always decided on the full mapping).
fn fingerprint(m: &TokenMapping) -> u64 {
    let words =
        m.id.as_bytes()
            .chunks_exact(8)
            .chain(m.block.as_bytes().chunks_exact(8));
    words.fold(0u64, |h, chunk| {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        (h ^ u64::from_le_bytes(w))
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .rotate_left(29)
    })
}

/// The undirected simple graph `adj` describes: at most 64 nodes, an edge `{i, j}`
/// only if both `adj[i]` has bit `j` and `adj[j]` has bit `i`, no self loops, no bits
/// at or above the node count.
fn normalize(adj: &[u64]) -> Vec<u64> {
    let n = adj.len().min(MAX_RESPONSES);
    let mut rows = [0u64; 64];
    rows[..n].copy_from_slice(&adj[..n]);
    let columns = transpose(rows);
    let mask = low_mask(n);
    (0..n)
        .map(|i| rows[i] & columns[i] & mask & !(1u64 << i))
        .collect()
}

/// Transpose of a 64×64 bit matrix (row `i` = `a[i]`, column `j` = bit `j`): swaps the
/// off-diagonal blocks of every 2j×2j block, for j = 32, 16, …, 1.
fn transpose(mut a: [u64; 64]) -> [u64; 64] {
    let mut j = 32;
    let mut m: u64 = 0x0000_0000_FFFF_FFFF;
    while j != 0 {
        let mut k = 0;
        while k < 64 {
            let t = ((a[k] >> j) ^ a[k + j]) & m;
            a[k + j] ^= t;
            a[k] ^= t << j;
            k = (k + j + 1) & !j;
        }
        j >>= 1;
        m ^= m << j;
    }
    a
}

/// All maximal cliques of the graph with adjacency bitsets `adj` (node `i`'s
/// neighbours are the set bits of `adj[i]`), as bitsets sorted ascending.
///
/// Guarantees: every returned set is a non-empty clique that no other node can
/// extend; every maximal clique is returned exactly once; the output is sorted
/// ascending (so it is deterministic and equal to [`brute_force_cliques`]). An empty
/// `adj` gives no cliques; an isolated node is a maximal clique of its own.
///
/// Input handling: the graph is read as undirected — an edge `{i, j}` exists only if
/// both `adj[i]` has bit `j` and `adj[j]` has bit `i` — and self loops and bits at or
/// above `adj.len()` are ignored. At most [`MAX_RESPONSES`] nodes are supported
/// (`debug_assert!`; in release builds entries beyond the 64th are ignored).
///
/// Algorithm: Bron–Kerbosch with Tomita pivoting (pivot = node of `P ∪ X` with most
/// neighbours in `P`) on `u64` bitsets, one search per node in degeneracy order
/// (Eppstein–Löffler–Strash). Agreement graphs — a few dense clusters plus
/// noise — take microseconds at 64 nodes. The worst case is bounded by the number of
/// maximal cliques a graph can have, `3^(n/3)` (Moon–Moser): exponential, so this
/// exact form is for tests and trusted input; elections use
/// [`maximal_cliques_bounded`] (through [`find_clusters_bounded`]).
pub fn maximal_cliques(adj: &[u64]) -> Vec<u64> {
    debug_assert!(
        adj.len() <= MAX_RESPONSES,
        "maximal_cliques: {} nodes, at most {MAX_RESPONSES} supported",
        adj.len()
    );
    search(&normalize(adj), 1, u64::MAX).cliques
}

/// Default bound on the work of one clique search, in Bron–Kerbosch steps
/// (see [`CliqueSearch::steps`]): 10,000. Honest agreement graphs of 64
/// responses need about a hundred (115 in benches/cluster.rs, which prints the
/// counts); the bound is reached only by shapes built to have exponentially
/// many maximal cliques. Ranking the cliques found costs more than finding
/// them, and at most one clique is found per step, so this also bounds that.
pub const DEFAULT_MAX_CLIQUE_STEPS: u64 = 10_000;

/// Work every bounded search may take whatever its bound: one first descent
/// per node, `edges + nodes ≤ 64·63/2 + 64 = 2,080` steps at 64 responses.
/// Promising each node's search its first descent is what lets a separate
/// cluster be found however much work a hostile subgraph demands.
pub const MIN_CLIQUE_STEPS: u64 = 2_080;

/// What a bounded clique search ([`maximal_cliques_bounded`]) found and what it cost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CliqueSearch {
    /// Maximal cliques found, sorted ascending. Each is a true maximal clique of
    /// the whole graph, even when the search was truncated; a truncated search
    /// may miss some.
    pub cliques: Vec<u64>,
    /// Bron–Kerbosch steps taken (calls of the recursive step, one per node of
    /// the search tree). At most the bound given, or [`MIN_CLIQUE_STEPS`] if
    /// the bound is below that.
    pub steps: u64,
    /// Whether the bound stopped the search before it had visited every branch.
    pub truncated: bool,
}

/// [`maximal_cliques`] with at most `max_steps` steps of work.
///
/// Behaviour when the bound is hit: the search stops, `truncated` is set, and
/// the cliques found so far are returned (each genuinely maximal). Work is at
/// most `max(max_steps, MIN_CLIQUE_STEPS)` steps. The graph is searched once
/// per node in degeneracy order (the cliques a node forms with its later
/// neighbours); each of these searches is promised its first descent (a path
/// to one leaf, one step per later neighbour plus one) and then a fair share
/// of what is left of the bound (the unspent pool divided by the searches still
/// to run). So a subgraph with exponentially many cliques can use up only its
/// own share, and a clique disjoint from it (a separate honest cluster) is
/// still found whole, whatever order the responses arrived in. Exactly
/// [`maximal_cliques`] when not truncated.
pub fn maximal_cliques_bounded(adj: &[u64], max_steps: u64) -> CliqueSearch {
    search(&normalize(adj), 1, max_steps)
}

/// Maximal cliques of at least `min_size` nodes of an already normalized graph,
/// sorted ascending, within `max_steps` steps. Branches that cannot reach
/// `min_size` are pruned (safe: a maximal clique found below `R` lies within
/// `R ∪ P`).
fn search(adj: &[u64], min_size: usize, max_steps: u64) -> CliqueSearch {
    let n = adj.len();
    let min_size = u32::try_from(min_size.max(1)).unwrap_or(u32::MAX);
    let order = degeneracy_order(adj);
    // Node `order[i]` searches the cliques it forms with its later neighbours,
    // excluding its earlier ones (each maximal clique is found from its first
    // node). Each search is promised its first descent (one step per later
    // neighbour, plus one), then a fair share of the rest of the bound.
    let mut earlier = 0u64;
    let plan: Vec<(u64, u64, u64)> = order
        .iter()
        .map(|&v| {
            let bit = 1u64 << v;
            let later = low_mask(n) & !earlier & !bit;
            earlier |= bit;
            (bit, later & adj[v], (earlier & !bit) & adj[v])
        })
        .collect();
    let reserve = |p: u64| u64::from(p.count_ones()) + 1;
    let reserved: u64 = plan.iter().map(|&(_, p, _)| reserve(p)).sum();
    let pool = max_steps.saturating_sub(reserved);
    let mut pool_used = 0u64;
    let mut budget = Budget {
        left: 0,
        steps: 0,
        truncated: false,
    };
    let mut cliques = Vec::new();
    for (i, &(r, p, x)) in plan.iter().enumerate() {
        let share = (pool - pool_used) / (n - i) as u64;
        budget.left = reserve(p) + share;
        let before = budget.steps;
        expand(adj, r, p, x, min_size, &mut budget, &mut cliques);
        pool_used += (budget.steps - before).saturating_sub(reserve(p));
    }
    cliques.sort_unstable();
    CliqueSearch {
        cliques,
        steps: budget.steps,
        truncated: budget.truncated,
    }
}

/// Nodes in degeneracy order: repeatedly the node of least degree among those
/// not yet taken (lowest index on ties). Deterministic.
fn degeneracy_order(adj: &[u64]) -> Vec<usize> {
    let n = adj.len();
    let mut left = low_mask(n);
    let mut order = Vec::with_capacity(n);
    while left != 0 {
        let v = bits(left)
            .min_by_key(|&v| ((adj[v] & left).count_ones(), v))
            .unwrap_or(0);
        order.push(v);
        left &= !(1u64 << v);
    }
    order
}

/// Work accounting of one search.
struct Budget {
    /// Steps the current per-node search may still take.
    left: u64,
    /// Steps taken in all.
    steps: u64,
    /// Whether some branch was cut.
    truncated: bool,
}

/// One Bron–Kerbosch step: report `r` if it is maximal, else branch on the
/// candidates in `p` that are not neighbours of the pivot. Stops (marking the
/// search truncated) when the budget is spent.
fn expand(
    adj: &[u64],
    r: u64,
    mut p: u64,
    mut x: u64,
    min_size: u32,
    budget: &mut Budget,
    out: &mut Vec<u64>,
) {
    if budget.left == 0 {
        budget.truncated = true;
        return;
    }
    budget.left -= 1;
    budget.steps += 1;
    if r.count_ones() + p.count_ones() < min_size {
        return;
    }
    if p == 0 {
        if x == 0 {
            out.push(r);
        }
        return;
    }
    let pivot = choose_pivot(adj, p, x);
    let mut todo = p & !adj[pivot];
    while todo != 0 {
        if budget.left == 0 {
            budget.truncated = true;
            return;
        }
        let v = todo.trailing_zeros() as usize;
        let bit = 1u64 << v;
        todo &= todo - 1;
        expand(adj, r | bit, p & adj[v], x & adj[v], min_size, budget, out);
        p &= !bit;
        x |= bit;
    }
}

/// The node of `p ∪ x` (`p` non-empty) with the most neighbours in `p`; the lowest
/// index wins ties.
fn choose_pivot(adj: &[u64], p: u64, x: u64) -> usize {
    let size = p.count_ones();
    let mut best = p.trailing_zeros() as usize;
    let mut best_count = 0u32;
    let mut first = true;
    for u in bits(p | x) {
        let count = (p & adj[u]).count_ones();
        if first || count > best_count {
            best = u;
            best_count = count;
            first = false;
            // No node can have more than these neighbours in `p`.
            let ceiling = size - u32::from(p >> u & 1 == 1);
            if count == ceiling {
                break;
            }
        }
    }
    best
}

/// Reference implementation of [`maximal_cliques`] for tests and benchmarks: checks
/// every one of the `2^n` subsets and keeps the maximal cliques.
///
/// Same input handling and the same output (sorted ascending) as
/// [`maximal_cliques`]. Exponential in `n`: meant for `n ≲ 22`.
///
/// # Panics
/// If `adj.len() > 32` (that would be more than 4·10⁹ subsets).
pub fn brute_force_cliques(adj: &[u64]) -> Vec<u64> {
    assert!(
        adj.len() <= 32,
        "brute_force_cliques is a reference for small graphs (n ≤ 32)"
    );
    let adj = normalize(adj);
    let n = adj.len();
    let all = low_mask(n);
    let mut out = Vec::new();
    for set in 1..=all {
        // A clique: every member is adjacent to every other member.
        let is_clique = bits(set).all(|i| (adj[i] | 1u64 << i) & set == set);
        if !is_clique {
            continue;
        }
        // Maximal: no node outside is adjacent to all members.
        let common = bits(set).fold(all, |common, i| common & adj[i]);
        if common & !set == 0 {
            out.push(set);
        }
    }
    out.sort_unstable();
    out
}

/// A maximal group of responders that pairwise agree on at least
/// `consensus_threshold` mappings (a maximal clique of the [`AgreementGraph`]).
#[derive(Clone, Debug, PartialEq)]
pub struct ConsensusCluster {
    /// Members ordered by ascending `ring_distance(member, token)`, ties by `PeerId`;
    /// `members[0]` is the [`winner`](Self::winner). Never empty.
    pub members: Vec<PeerId>,
    /// The member closest to the challenged token (SPEC §6 step 6).
    pub winner: PeerId,
    /// Smallest agreement between two members (`0` for a single-member cluster).
    pub min_agreement: usize,
    /// Mean agreement over all member pairs (`0.0` for a single-member cluster).
    /// Ranking does not use this float; it compares the exact sums.
    pub avg_agreement: f64,
    /// The members as indices into the responses slice given to [`find_clusters`].
    pub member_mask: u64,
}

impl ConsensusCluster {
    /// Number of members.
    pub fn size(&self) -> usize {
        self.members.len()
    }

    /// Whether the two clusters share no response (by [`member_mask`](Self::member_mask);
    /// only meaningful for clusters found in the same responses).
    pub fn is_disjoint(&self, other: &ConsensusCluster) -> bool {
        self.member_mask & other.member_mask == 0
    }
}

/// A cluster with the exact keys it is ranked by.
struct Ranked {
    cluster: ConsensusCluster,
    agreement_sum: u64,
    pairs: u64,
    winner_distance: Distance,
    sorted_ids: Vec<PeerId>,
}

/// Strongest first: larger, then higher mean agreement (exact, by cross
/// multiplication), then winner closer to the token, then the lexicographically
/// smaller sorted member-id list, then (only reachable with repeated ids) the mask.
fn rank(a: &Ranked, b: &Ranked) -> Ordering {
    b.cluster
        .size()
        .cmp(&a.cluster.size())
        .then_with(|| (b.agreement_sum * a.pairs).cmp(&(a.agreement_sum * b.pairs)))
        .then_with(|| a.winner_distance.cmp(&b.winner_distance))
        .then_with(|| a.sorted_ids.cmp(&b.sorted_ids))
        .then_with(|| a.cluster.member_mask.cmp(&b.cluster.member_mask))
}

/// All consensus clusters among `responses` for `token`, strongest first (SPEC §6
/// steps 3, 4 and 6).
///
/// A cluster is a maximal set of responses that pairwise agree on at least
/// `consensus_threshold` mappings, with at least `min_cluster_size` members (the
/// election validates `min_cluster_size ≥ 2`; with 0 or 1 single responses become
/// clusters too). Each maximal clique is returned once, with
/// [`member_mask`](ConsensusCluster::member_mask) indexing `responses`.
///
/// Ranking, strongest first: more members; then higher mean pairwise agreement,
/// compared exactly (integer cross-multiplication of agreement sums and pair counts);
/// then the winner closer to `token`; then the lexicographically smaller list of
/// member ids sorted ascending. The order is therefore a deterministic function of
/// the responses.
///
/// Responders are expected to be distinct (the election counts one response per
/// responder). At most [`MAX_RESPONSES`] responses are considered: if more are
/// passed, only the first 64 are used. Never panics.
///
/// The clique search is bounded by [`DEFAULT_MAX_CLIQUE_STEPS`]; see
/// [`find_clusters_bounded`] for another bound and for whether it was hit.
pub fn find_clusters(
    token: &TokenId,
    responses: &[(PeerId, TokenSignature)],
    consensus_threshold: usize,
    min_cluster_size: usize,
) -> Vec<ConsensusCluster> {
    find_clusters_bounded(
        token,
        responses,
        consensus_threshold,
        min_cluster_size,
        DEFAULT_MAX_CLIQUE_STEPS,
    )
    .clusters
}

/// What [`find_clusters_bounded`] found and what the clique search cost.
#[derive(Clone, Debug, PartialEq)]
pub struct Clusters {
    /// The clusters, strongest first (as [`find_clusters`] returns them).
    pub clusters: Vec<ConsensusCluster>,
    /// Bron–Kerbosch steps the clique search took (at most the bound).
    pub steps: u64,
    /// Whether the bound cut the search short. The clusters are then the
    /// maximal cliques found within the bound, ranked as usual: each is a real
    /// cluster, but a cluster may be missing (see [`maximal_cliques_bounded`]
    /// for how the work is shared so that a separate cluster is still found).
    pub truncated: bool,
}

/// [`find_clusters`] with the clique search bounded by `max_clique_steps`
/// steps, reporting whether the bound was hit. Identical to [`find_clusters`]
/// whenever the search is not truncated.
pub fn find_clusters_bounded(
    token: &TokenId,
    responses: &[(PeerId, TokenSignature)],
    consensus_threshold: usize,
    min_cluster_size: usize,
    max_clique_steps: u64,
) -> Clusters {
    let responses = &responses[..responses.len().min(MAX_RESPONSES)];
    let signatures: Vec<&TokenSignature> = responses.iter().map(|(_, s)| s).collect();
    let graph = agreement_graph(&signatures, consensus_threshold);
    let distances: Vec<Distance> = responses.iter().map(|(p, _)| ring_distance(p, token)).collect();

    let found = search(graph.adjacency(), min_cluster_size, max_clique_steps);
    let mut ranked: Vec<Ranked> = found
        .cliques
        .into_iter()
        .map(|mask| {
            let mut order: Vec<usize> = bits(mask).collect();
            // Each pair is counted from both ends.
            let agreement_sum = order.iter().map(|&i| graph.sum_within(i, mask)).sum::<u64>() / 2;
            let min_agreement = order
                .iter()
                .filter_map(|&i| graph.min_within(i, mask))
                .min()
                .unwrap_or(0);
            let size = order.len() as u64;
            let pairs = size * (size - 1) / 2;
            order.sort_by(|&i, &j| {
                distances[i]
                    .cmp(&distances[j])
                    .then_with(|| responses[i].0.cmp(&responses[j].0))
            });
            let members: Vec<PeerId> = order.iter().map(|&i| responses[i].0).collect();
            let mut sorted_ids = members.clone();
            sorted_ids.sort_unstable();
            let cluster = ConsensusCluster {
                winner: members[0],
                members,
                min_agreement,
                avg_agreement: if pairs == 0 {
                    0.0
                } else {
                    agreement_sum as f64 / pairs as f64
                },
                member_mask: mask,
            };
            Ranked {
                winner_distance: distances[order[0]],
                cluster,
                agreement_sum,
                pairs,
                sorted_ids,
            }
        })
        .collect();
    ranked.sort_by(rank);
    Clusters {
        clusters: ranked.into_iter().map(|r| r.cluster).collect(),
        steps: found.steps,
        truncated: found.truncated,
    }
}

/// Outcome of [`decide`]; indices refer to the ranked cluster slice it was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// No cluster: nobody wins.
    NoConsensus,
    /// One cluster wins (always index 0, the strongest).
    Single(usize),
    /// The strongest cluster (first index) lacks a majority and a cluster disjoint
    /// from it exists; the second index is the strongest such cluster.
    SplitBrain(usize, usize),
}

/// Whether `size` of `total` responses reaches `majority_threshold`: the one
/// majority rule used by [`decide`] and by the election's settledness check, so
/// the two can never disagree at a boundary. An empty total is a majority.
pub fn is_majority(size: usize, total: usize, majority_threshold: f64) -> bool {
    total == 0 || size as f64 / total as f64 >= majority_threshold
}

/// SPEC §6 step 5: decides between a single winner and split-brain.
///
/// `clusters` must be ranked strongest first and already filtered by size, as
/// [`find_clusters`] returns them; `valid_responses` is the number of valid
/// responses they were found among.
///
/// - no clusters → [`Decision::NoConsensus`];
/// - `|c1| / valid_responses ≥ majority_threshold` → [`Decision::Single(0)`](Decision::Single)
///   (computed as a float division, so e.g. `3 / 5 ≥ 0.6` holds exactly);
/// - else the first (strongest) cluster disjoint from `c1` at index `i` →
///   [`Decision::SplitBrain(0, i)`](Decision::SplitBrain); clusters that overlap `c1` are
///   never competitors;
/// - else [`Decision::Single(0)`](Decision::Single).
///
/// Never panics; `valid_responses == 0` counts as a majority.
pub fn decide(clusters: &[ConsensusCluster], valid_responses: usize, majority_threshold: f64) -> Decision {
    let Some(strongest) = clusters.first() else {
        return Decision::NoConsensus;
    };
    if is_majority(strongest.size(), valid_responses, majority_threshold) {
        return Decision::Single(0);
    }
    match clusters
        .iter()
        .enumerate()
        .skip(1)
        .find(|(_, c)| c.is_disjoint(strongest))
    {
        Some((i, _)) => Decision::SplitBrain(0, i),
        None => Decision::Single(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::BlockId;
    use crate::proof::agreement;
    use election_splitmix::SplitMix64;
    use proptest::prelude::*;

    // ---------- graph helpers ----------

    fn graph_from_edges(n: usize, edges: &[(usize, usize)]) -> Vec<u64> {
        let mut adj = vec![0u64; n];
        for &(a, b) in edges {
            adj[a] |= 1 << b;
            adj[b] |= 1 << a;
        }
        adj
    }

    fn mask(members: &[usize]) -> u64 {
        members.iter().fold(0, |m, &i| m | 1 << i)
    }

    /// Every member is adjacent to every other member.
    fn is_clique(adj: &[u64], set: u64) -> bool {
        bits(set).all(|i| (adj[i] | 1 << i) & set == set)
    }

    /// No node outside `set` is adjacent to all of it.
    fn is_maximal(adj: &[u64], set: u64) -> bool {
        (0..adj.len()).all(|v| set >> v & 1 == 1 || adj[v] & set != set)
    }

    fn symmetric_graph(n: usize, density: u8, bytes: &[u8]) -> Vec<u64> {
        let mut adj = vec![0u64; n];
        for i in 0..n {
            for j in i + 1..n {
                if bytes[i * n + j] < density {
                    adj[i] |= 1 << j;
                    adj[j] |= 1 << i;
                }
            }
        }
        adj
    }

    fn arb_graph(max_n: usize) -> impl Strategy<Value = Vec<u64>> {
        (0..=max_n, any::<u8>()).prop_flat_map(|(n, density)| {
            prop::collection::vec(any::<u8>(), n * n).prop_map(move |b| symmetric_graph(n, density, &b))
        })
    }

    // ---------- signature helpers ----------

    fn mapping(key: u64) -> TokenMapping {
        TokenMapping {
            id: TokenId::from_u64(key),
            block: BlockId::from_u64(key.wrapping_mul(7)),
        }
    }

    fn sig_of(keys: [u64; SIGNATURE_SIZE]) -> TokenSignature {
        TokenSignature {
            answer: TokenMapping {
                id: TokenId::from_u64(1),
                block: BlockId::from_u64(1),
            },
            signature: keys.map(mapping),
        }
    }

    /// Signature of a member of group `group`: its first `shared` mappings are the
    /// group's, the rest are unique to `who`. Two members of a group with `s1`, `s2`
    /// shared mappings agree on `min(s1, s2)`; members of different groups on 0.
    fn member_sig(group: u64, shared: usize, who: u64) -> TokenSignature {
        let mut keys = [0u64; SIGNATURE_SIZE];
        for (slot, k) in keys.iter_mut().enumerate() {
            *k = if slot < shared {
                1_000 * (group + 1) + slot as u64
            } else {
                1_000_000 + 100 * who + slot as u64
            };
        }
        sig_of(keys)
    }

    fn peer(v: u64) -> PeerId {
        PeerId::from_u64(v)
    }

    /// Responses: for each group, its peers (by id value) all sharing all 10 of the
    /// group's mappings; `noise` peers agree with nobody.
    fn responses(groups: &[&[u64]], noise: &[u64]) -> Vec<(PeerId, TokenSignature)> {
        let mut out = Vec::new();
        for (g, ids) in groups.iter().enumerate() {
            for &id in *ids {
                out.push((peer(id), member_sig(g as u64, SIGNATURE_SIZE, id)));
            }
        }
        for &id in noise {
            out.push((peer(id), member_sig(999, 0, id)));
        }
        out
    }

    fn ids(cluster: &ConsensusCluster) -> Vec<u64> {
        let mut v: Vec<u64> = cluster
            .members
            .iter()
            .map(|p| Distance(*p.as_bytes()).saturating_u64())
            .collect();
        v.sort_unstable();
        v
    }

    const T: usize = 8;
    const MAJORITY: f64 = 0.6;

    // ---------- maximal_cliques / brute_force_cliques ----------

    #[test]
    fn small_known_graphs() {
        // Triangle 0-1-2 with a pendant 3 on 2, and isolated 4.
        let adj = graph_from_edges(5, &[(0, 1), (1, 2), (0, 2), (2, 3)]);
        let expect = vec![mask(&[2, 3]), mask(&[0, 1, 2]), mask(&[4])];
        let mut sorted = expect.clone();
        sorted.sort_unstable();
        assert_eq!(maximal_cliques(&adj), sorted);
        assert_eq!(brute_force_cliques(&adj), sorted);
        // Path 0-1-2-3: three edges.
        let adj = graph_from_edges(4, &[(0, 1), (1, 2), (2, 3)]);
        assert_eq!(maximal_cliques(&adj), vec![0b0011, 0b0110, 0b1100]);
        assert_eq!(brute_force_cliques(&adj), vec![0b0011, 0b0110, 0b1100]);
    }

    #[test]
    fn empty_input_has_no_cliques() {
        assert!(maximal_cliques(&[]).is_empty());
        assert!(brute_force_cliques(&[]).is_empty());
    }

    #[test]
    fn complete_graph_of_64_is_one_clique() {
        let adj: Vec<u64> = (0..64).map(|i| !(1u64 << i)).collect();
        assert_eq!(maximal_cliques(&adj), vec![u64::MAX]);
    }

    #[test]
    fn edgeless_graph_of_64_is_64_singletons() {
        let adj = vec![0u64; 64];
        let expect: Vec<u64> = (0..64).map(|i| 1u64 << i).collect();
        assert_eq!(maximal_cliques(&adj), expect);
    }

    proptest! {
        #[test]
        fn sum_and_min_within_match_pairwise(
            keys in prop::collection::vec(prop::array::uniform10(0u64..12), 1..=64),
            set in any::<u64>(),
        ) {
            let sigs: Vec<TokenSignature> = keys.iter().map(|k| sig_of(*k)).collect();
            let refs: Vec<&TokenSignature> = sigs.iter().collect();
            let g = agreement_graph(&refs, 8);
            for i in 0..sigs.len() {
                let others: Vec<usize> =
                    (0..sigs.len()).filter(|&j| j != i && set >> j & 1 == 1).collect();
                let values: Vec<usize> = others.iter().map(|&j| agreement(&sigs[i], &sigs[j])).collect();
                prop_assert_eq!(g.sum_within(i, set), values.iter().sum::<usize>() as u64);
                prop_assert_eq!(g.min_within(i, set), values.iter().copied().min());
            }
        }
    }

    #[test]
    fn transpose_matches_naive() {
        let mut rng = SplitMix64(3);
        let mut a = [0u64; 64];
        for row in a.iter_mut() {
            *row = rng.next_u64();
        }
        let t = transpose(a);
        for (i, row) in a.iter().enumerate() {
            for (j, column) in t.iter().enumerate() {
                assert_eq!(column >> i & 1, row >> j & 1, "({i}, {j})");
            }
        }
        assert_eq!(transpose(t), a);
    }

    #[test]
    fn one_sided_edges_self_loops_and_stray_bits_are_ignored() {
        // 0→1 only one-sided, 1-2 both ways, self loop on 0, bit 7 beyond n = 3.
        let adj = vec![0b1000_0011, 0b100, 0b010];
        let expect = vec![mask(&[0]), mask(&[1, 2])];
        assert_eq!(maximal_cliques(&adj), expect);
        assert_eq!(brute_force_cliques(&adj), expect);
    }

    #[test]
    fn planted_clusters_among_64_noisy_nodes() {
        let mut rng = SplitMix64(7);
        let groups = [0..30usize, 30..45, 45..52];
        let mut adj = vec![0u64; 64];
        for g in &groups {
            for i in g.clone() {
                for j in g.clone() {
                    if i != j {
                        adj[i] |= 1 << j;
                    }
                }
            }
        }
        // Sparse noise edges among the remaining 12 nodes and into the groups.
        for i in 52..64 {
            for j in 0..i {
                if rng.next_u64().is_multiple_of(10) {
                    adj[i] |= 1 << j;
                    adj[j] |= 1 << i;
                }
            }
        }
        let cliques = maximal_cliques(&adj);
        for g in &groups {
            let planted = mask(&g.clone().collect::<Vec<_>>());
            assert!(
                cliques.iter().any(|&c| c & planted == planted),
                "planted group {g:?} not inside any clique"
            );
        }
        for &c in &cliques {
            assert!(is_clique(&adj, c) && is_maximal(&adj, c));
        }
    }

    proptest! {
        // Dense random graphs on 64 nodes have thousands of maximal cliques: fewer cases.
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn cliques_are_maximal_distinct_sorted_and_cover_all_nodes(adj in arb_graph(64)) {
            let cliques = maximal_cliques(&adj);
            prop_assert!(cliques.windows(2).all(|w| w[0] < w[1]), "not sorted / duplicates");
            let mut covered = 0u64;
            for &c in &cliques {
                prop_assert!(c != 0);
                prop_assert!(is_clique(&adj, c), "{:#x} is not a clique", c);
                prop_assert!(is_maximal(&adj, c), "{:#x} is not maximal", c);
                covered |= c;
            }
            prop_assert_eq!(covered, low_mask(adj.len()));
        }
    }

    proptest! {
        #[test]
        fn maximal_cliques_equal_brute_force(adj in arb_graph(14)) {
            prop_assert_eq!(maximal_cliques(&adj), brute_force_cliques(&adj));
        }

        #[test]
        fn size_pruning_equals_filtering(adj in arb_graph(20), min in 0usize..6) {
            let filtered: Vec<u64> = maximal_cliques(&adj)
                .into_iter()
                .filter(|c| c.count_ones() as usize >= min.max(1))
                .collect();
            prop_assert_eq!(search(&normalize(&adj), min, u64::MAX).cliques, filtered);
        }

        #[test]
        fn agreement_graph_matches_proof_agreement(
            keys in prop::collection::vec(prop::array::uniform10(0u64..16), 0..=64),
            threshold in 0usize..=17,
        ) {
            let sigs: Vec<TokenSignature> = keys.iter().map(|k| sig_of(*k)).collect();
            let refs: Vec<&TokenSignature> = sigs.iter().collect();
            // The real fingerprint, and degenerate ones that force collisions.
            let graphs = [
                agreement_graph(&refs, threshold),
                build_graph(&refs, threshold, |_| 0),
                build_graph(&refs, threshold, |m| u64::from(m.id.as_bytes()[31] & 3)),
            ];
            for g in &graphs {
                prop_assert_eq!(g.len(), sigs.len());
                prop_assert_eq!(g.consensus_threshold(), threshold);
                for i in 0..sigs.len() {
                    for j in 0..sigs.len() {
                        let a = agreement(&sigs[i], &sigs[j]);
                        prop_assert_eq!(g.agreement(i, j), a, "pair ({}, {})", i, j);
                        let edge = g.neighbors(i) >> j & 1 == 1;
                        prop_assert_eq!(edge, i != j && a >= threshold, "edge ({}, {})", i, j);
                    }
                }
            }
        }

        /// find_clusters against a reference built from `proof::agreement` and
        /// brute-force cliques: same clusters, valid ranking, correct members/stats.
        #[test]
        fn find_clusters_matches_reference(
            keys in prop::collection::vec(prop::array::uniform10(0u64..14), 0..12),
            peer_ids in prop::collection::hash_set(any::<u64>(), 12),
            token in any::<u64>(),
            threshold in 5usize..=9,
            min_size in 2usize..4,
        ) {
            let token = TokenId::from_u64(token);
            let peer_ids: Vec<u64> = peer_ids.into_iter().collect();
            let resp: Vec<(PeerId, TokenSignature)> =
                keys.iter().zip(&peer_ids).map(|(k, &p)| (peer(p), sig_of(*k))).collect();
            let n = resp.len();
            let agree = |i: usize, j: usize| agreement(&resp[i].1, &resp[j].1);
            let adj: Vec<u64> = (0..n)
                .map(|i| {
                    (0..n)
                        .filter(|&j| i != j && agree(i, j) >= threshold)
                        .fold(0, |row, j| row | 1 << j)
                })
                .collect();
            let mut expect: Vec<u64> = brute_force_cliques(&adj)
                .into_iter()
                .filter(|c| c.count_ones() as usize >= min_size)
                .collect();
            expect.sort_unstable();

            let clusters = find_clusters(&token, &resp, threshold, min_size);
            let mut got: Vec<u64> = clusters.iter().map(|c| c.member_mask).collect();
            got.sort_unstable();
            prop_assert_eq!(got, expect);

            for c in &clusters {
                let members: Vec<usize> = bits(c.member_mask).collect();
                let mut want: Vec<PeerId> = members.iter().map(|&i| resp[i].0).collect();
                want.sort_by_key(|p| (ring_distance(p, &token), *p));
                prop_assert_eq!(&c.members, &want);
                prop_assert_eq!(c.winner, want[0]);
                let pairs: Vec<usize> = members
                    .iter()
                    .enumerate()
                    .flat_map(|(k, &i)| members[k + 1..].iter().map(move |&j| (i, j)))
                    .map(|(i, j)| agree(i, j))
                    .collect();
                prop_assert_eq!(c.min_agreement, *pairs.iter().min().unwrap());
                let avg = pairs.iter().sum::<usize>() as f64 / pairs.len() as f64;
                prop_assert!((c.avg_agreement - avg).abs() < 1e-9);
            }
            for w in clusters.windows(2) {
                prop_assert!(w[0].size() >= w[1].size());
                if w[0].size() == w[1].size() {
                    prop_assert!(w[0].avg_agreement >= w[1].avg_agreement - 1e-9);
                }
            }
        }
    }

    // ---------- find_clusters ----------

    #[test]
    fn ranks_by_size_then_average_agreement() {
        // Group 0: 3 members at 10/10. Group 1: 3 members at 8 (shared 8). Group 2: 4
        // members at 8. Noise: 2.
        let mut resp = Vec::new();
        for id in [10, 11, 12] {
            resp.push((peer(id), member_sig(0, 10, id)));
        }
        for id in [20, 21, 22] {
            resp.push((peer(id), member_sig(1, 8, id)));
        }
        for id in [30, 31, 32, 33] {
            resp.push((peer(id), member_sig(2, 8, id)));
        }
        resp.push((peer(40), member_sig(3, 0, 40)));
        let token = TokenId::from_u64(0);
        let clusters = find_clusters(&token, &resp, T, 2);
        assert_eq!(clusters.len(), 3);
        assert_eq!(ids(&clusters[0]), vec![30, 31, 32, 33]);
        assert_eq!(ids(&clusters[1]), vec![10, 11, 12]);
        assert_eq!(clusters[1].avg_agreement, 10.0);
        assert_eq!(clusters[1].min_agreement, 10);
        assert_eq!(ids(&clusters[2]), vec![20, 21, 22]);
        assert_eq!(clusters[2].min_agreement, 8);
        assert_eq!(clusters[0].member_mask, mask(&[6, 7, 8, 9]));
    }

    #[test]
    fn average_agreement_is_compared_exactly_then_by_winner_distance() {
        let token = TokenId::from_u64(1_000);
        // Cluster A (ids far from token): agreements 9, 9, 10 → sum 28.
        // Cluster B (ids near token): agreements 9, 9, 9 → sum 27. A must rank first.
        let a = vec![
            (peer(50_000), member_sig(0, 10, 1)),
            (peer(50_001), member_sig(0, 10, 2)),
            (peer(50_002), member_sig(0, 9, 3)),
        ];
        let b = vec![
            (peer(1_001), member_sig(1, 9, 4)),
            (peer(1_002), member_sig(1, 9, 5)),
            (peer(1_003), member_sig(1, 9, 6)),
        ];
        let resp: Vec<_> = b.iter().chain(&a).cloned().collect();
        let clusters = find_clusters(&token, &resp, T, 2);
        assert_eq!(ids(&clusters[0]), vec![50_000, 50_001, 50_002]);
        assert_eq!(ids(&clusters[1]), vec![1_001, 1_002, 1_003]);

        // Equal averages: the closer winner ranks first, whatever the input order.
        let c: Vec<_> = (0..3).map(|k| (peer(50_000 + k), member_sig(0, 9, k))).collect();
        let resp: Vec<_> = c.iter().chain(&b).cloned().collect();
        let clusters = find_clusters(&token, &resp, T, 2);
        assert_eq!(ids(&clusters[0]), vec![1_001, 1_002, 1_003]);
    }

    #[test]
    fn equal_winner_distance_breaks_by_member_ids() {
        // Winners at token + 5 and token - 5: equal distance; the cluster with the
        // smaller sorted id list ranks first.
        let token = TokenId::from_u64(1_000);
        let resp = responses(&[&[1_005, 2_000], &[995, 3_000]], &[]);
        let clusters = find_clusters(&token, &resp, T, 2);
        assert_eq!(ids(&clusters[0]), vec![995, 3_000]);
        assert_eq!(ids(&clusters[1]), vec![1_005, 2_000]);
        let reversed: Vec<_> = resp.iter().rev().cloned().collect();
        let again = find_clusters(&token, &reversed, T, 2);
        assert_eq!(ids(&again[0]), vec![995, 3_000]);
    }

    #[test]
    fn winner_is_closest_member_across_wrap_around() {
        // Token 5: PeerId::MAX is 6 away (wrapping), 100 is 95 away.
        let token = TokenId::from_u64(5);
        let mut resp = responses(&[&[100, 1_000_000]], &[]);
        resp.push((PeerId::MAX, member_sig(0, 10, 7)));
        let clusters = find_clusters(&token, &resp, T, 2);
        assert_eq!(clusters.len(), 1);
        assert_eq!(clusters[0].winner, PeerId::MAX);
        assert_eq!(clusters[0].members, vec![PeerId::MAX, peer(100), peer(1_000_000)]);

        // Token just below MAX: peer 1 (3 away, wrapping) beats MAX - 100.
        let token = TokenId::MAX.sub(&Distance::from_u64(1));
        let far = PeerId::MAX.sub(&Distance::from_u64(100));
        let resp = vec![(far, member_sig(0, 10, 1)), (peer(1), member_sig(0, 10, 2))];
        let clusters = find_clusters(&token, &resp, T, 2);
        assert_eq!(clusters[0].winner, peer(1));
        assert_eq!(clusters[0].members, vec![peer(1), far]);
    }

    #[test]
    fn clusters_below_min_size_are_dropped() {
        let token = TokenId::from_u64(0);
        let resp = responses(&[&[1, 2, 3], &[4, 5]], &[6]);
        assert_eq!(find_clusters(&token, &resp, T, 3).len(), 1);
        assert_eq!(find_clusters(&token, &resp, T, 2).len(), 2);
        assert_eq!(find_clusters(&token, &resp, T, 4).len(), 0);
        assert!(find_clusters(&token, &[], T, 2).is_empty());
    }

    /// A-B-C and C-D-E share C: C agrees 8 with everyone, A/B vs D/E only 6.
    fn overlapping() -> Vec<(PeerId, TokenSignature)> {
        let core: [u64; 10] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
        let with = |keep: core::ops::Range<usize>, extra: [u64; 2]| {
            let mut k = [0u64; 10];
            let kept: Vec<u64> = core[keep].to_vec();
            k[..8].copy_from_slice(&kept);
            k[8..].copy_from_slice(&extra);
            sig_of(k)
        };
        vec![
            (peer(0xA), with(0..8, [100, 101])),
            (peer(0xB), with(0..8, [102, 103])),
            (peer(0xC), sig_of(core)),
            (peer(0xD), with(2..10, [104, 105])),
            (peer(0xE), with(2..10, [106, 107])),
        ]
    }

    #[test]
    fn overlapping_cliques_are_not_split_brain() {
        let token = TokenId::from_u64(0);
        let mut resp = overlapping();
        for id in [0x20, 0x21, 0x22] {
            resp.push((peer(id), member_sig(50, 0, id)));
        }
        let clusters = find_clusters(&token, &resp, T, 2);
        assert_eq!(clusters.len(), 2);
        assert_eq!(ids(&clusters[0]), vec![0xA, 0xB, 0xC]);
        assert_eq!(ids(&clusters[1]), vec![0xC, 0xD, 0xE]);
        assert!(!clusters[0].is_disjoint(&clusters[1]));
        // 3 of 8 valid is no majority, but the only competitor overlaps.
        assert_eq!(decide(&clusters, resp.len(), MAJORITY), Decision::Single(0));
    }

    #[test]
    fn split_brain_skips_overlapping_for_disjoint_competitor() {
        let token = TokenId::from_u64(0);
        let mut resp = overlapping();
        resp.push((peer(0x30), member_sig(60, 10, 0x30)));
        resp.push((peer(0x31), member_sig(60, 10, 0x31)));
        let clusters = find_clusters(&token, &resp, T, 2);
        assert_eq!(clusters.len(), 3);
        assert_eq!(ids(&clusters[2]), vec![0x30, 0x31]);
        assert_eq!(
            decide(&clusters, resp.len(), MAJORITY),
            Decision::SplitBrain(0, 2)
        );
    }

    // ---------- decide ----------

    #[test]
    fn no_clusters_is_no_consensus() {
        let token = TokenId::from_u64(0);
        let resp = responses(&[], &[1, 2, 3, 4]);
        let clusters = find_clusters(&token, &resp, T, 2);
        assert!(clusters.is_empty());
        assert_eq!(decide(&clusters, resp.len(), MAJORITY), Decision::NoConsensus);
    }

    #[test]
    fn three_vs_two_of_five_is_single_at_the_boundary() {
        let token = TokenId::from_u64(0);
        let resp = responses(&[&[1, 2, 3], &[4, 5]], &[]);
        let clusters = find_clusters(&token, &resp, T, 2);
        assert_eq!(clusters.len(), 2);
        assert!(clusters[0].is_disjoint(&clusters[1]));
        assert_eq!(decide(&clusters, 5, MAJORITY), Decision::Single(0));
        // One more valid (non-agreeing) response drops 3/6 below the threshold.
        assert_eq!(decide(&clusters, 6, MAJORITY), Decision::SplitBrain(0, 1));
    }

    #[test]
    fn three_vs_three_is_split_brain() {
        let token = TokenId::from_u64(0);
        let resp = responses(&[&[1, 2, 3], &[4, 5, 6]], &[]);
        let clusters = find_clusters(&token, &resp, T, 2);
        assert_eq!(ids(&clusters[0]), vec![1, 2, 3]);
        assert_eq!(decide(&clusters, 6, MAJORITY), Decision::SplitBrain(0, 1));
    }

    #[test]
    fn four_vs_three_of_seven_is_split_brain() {
        let token = TokenId::from_u64(0);
        let resp = responses(&[&[1, 2, 3], &[4, 5, 6, 7]], &[]);
        let clusters = find_clusters(&token, &resp, T, 2);
        assert_eq!(ids(&clusters[0]), vec![4, 5, 6, 7]);
        assert_eq!(decide(&clusters, 7, MAJORITY), Decision::SplitBrain(0, 1));
        // 4 of 6 is a majority.
        assert_eq!(decide(&clusters, 6, MAJORITY), Decision::Single(0));
    }

    // ---------- 64 responses ----------

    /// `sizes[g]` members in dense group `g`: each member holds the group's 8 core
    /// mappings plus 2 of 4 variants, so in-group agreement is 8..=10 and not always
    /// 10. Peer ids are pseudo-random; members are interleaved in the slice.
    fn dense_groups(sizes: &[usize], seed: u64) -> (Vec<(PeerId, TokenSignature)>, Vec<u64>) {
        let mut rng = SplitMix64(seed);
        let pairs = [(0, 1), (2, 3), (0, 2), (1, 3), (0, 3), (1, 2)];
        let total: usize = sizes.iter().sum();
        let mut left = sizes.to_vec();
        let mut masks = vec![0u64; sizes.len()];
        let mut resp = Vec::new();
        for i in 0..total {
            let g = (0..sizes.len()).cycle().skip(i).find(|&g| left[g] > 0).unwrap();
            left[g] -= 1;
            masks[g] |= 1 << i;
            let base = 10_000 * (g as u64 + 1);
            let (v1, v2) = pairs[(rng.next_u64() % 6) as usize];
            let mut keys = [0u64; 10];
            for (s, k) in keys.iter_mut().take(8).enumerate() {
                *k = base + s as u64;
            }
            keys[8] = base + 100 + v1;
            keys[9] = base + 100 + v2;
            let mut id = [0u8; 32];
            for chunk in id.chunks_mut(8) {
                chunk.copy_from_slice(&rng.next_u64().to_be_bytes());
            }
            resp.push((PeerId::new(id), sig_of(keys)));
        }
        (resp, masks)
    }

    #[test]
    fn sixty_four_responses_in_two_dense_clusters() {
        let token = TokenId::new([0x5a; 32]);
        let (resp, masks) = dense_groups(&[40, 24], 1);
        assert_eq!(resp.len(), 64);
        let clusters = find_clusters(&token, &resp, T, 2);
        assert_eq!(clusters.len(), 2);
        assert_eq!(clusters[0].member_mask, masks[0]);
        assert_eq!(clusters[1].member_mask, masks[1]);
        assert_eq!(clusters[0].size(), 40);
        assert!(clusters.iter().all(|c| c.min_agreement >= T));
        assert!(
            clusters[0].min_agreement < 10,
            "variants should lower some agreements"
        );
        for c in &clusters {
            let best = bits(c.member_mask)
                .map(|i| resp[i].0)
                .min_by_key(|p| ring_distance(p, &token))
                .unwrap();
            assert_eq!(c.winner, best);
        }
        assert_eq!(decide(&clusters, 64, MAJORITY), Decision::Single(0));

        let (resp, masks) = dense_groups(&[32, 32], 2);
        let clusters = find_clusters(&token, &resp, T, 2);
        assert_eq!(clusters.len(), 2);
        let mut got = [clusters[0].member_mask, clusters[1].member_mask];
        got.sort_unstable();
        let mut want = [masks[0], masks[1]];
        want.sort_unstable();
        assert_eq!(got, want);
        assert_eq!(decide(&clusters, 64, MAJORITY), Decision::SplitBrain(0, 1));
    }

    #[test]
    fn responses_beyond_64_are_ignored() {
        let token = TokenId::from_u64(0);
        let (mut resp, masks) = dense_groups(&[50, 14], 3);
        // Six extra copies of a second-group answer would make that group 20 strong.
        let idx = bits(masks[1]).next().unwrap();
        for k in 0..6 {
            resp.push((peer(k), resp[idx].1));
        }
        assert_eq!(resp.len(), 70);
        let clusters = find_clusters(&token, &resp, T, 2);
        assert_eq!(clusters.len(), 2);
        assert_eq!(clusters[0].member_mask, masks[0]);
        assert_eq!(clusters[1].member_mask, masks[1]);
        assert_eq!(clusters[1].size(), 14);
    }

    // ---------- bounded clique search under hostile shapes ----------

    /// Threshold the hostile shape is built for: 3 slots every hostile answer
    /// shares, plus at least one of the 7 others.
    const HOSTILE_T: usize = 4;

    /// A hostile answer: member `k` (0..3) of part `part` (0..27). Slots 0–2 are
    /// shared by all hostile answers; slot 3 holds colour `k`; slots 4–9 hold
    /// `k + m·d_j (mod 3)` for each base-3 digit `d_j` of `part` and `m ∈ {1, 2}`.
    /// Two members of one part differ in every coloured slot (agreement 3, no
    /// edge); members of different parts share a colour somewhere (agreement ≥ 4,
    /// an edge): the agreement graph is the complete multipartite graph with
    /// parts of 3, which has `3^parts` maximal cliques (Moon–Moser, the most any
    /// graph can have).
    fn hostile_sig(part: u64, k: u64) -> TokenSignature {
        let digits = [part % 3, part / 3 % 3, part / 9 % 3];
        let mut keys = [0u64; SIGNATURE_SIZE];
        for (slot, key) in keys.iter_mut().enumerate() {
            let colour = match slot {
                0..=2 => 0,
                3 => k,
                _ => {
                    let j = (slot - 4) / 2;
                    let m = 1 + (slot - 4) as u64 % 2;
                    (k + m * digits[j]) % 3
                }
            };
            *key = 50_000 + 100 * slot as u64 + colour;
        }
        sig_of(keys)
    }

    /// 16 honest answers (identical walks, agreeing with nobody else) and 48
    /// hostile ones in 16 parts of 3, with the honest ones placed at `honest_at`
    /// (`0`: first, `48`: last, anything between: inside).
    fn hostile_64(honest_at: usize) -> (Vec<(PeerId, TokenSignature)>, u64) {
        let honest = sig_of(core::array::from_fn(|slot| 500 + slot as u64));
        let mut hostile: Vec<(PeerId, TokenSignature)> = (0..48u64)
            .map(|i| (peer(10_000 + i), hostile_sig(i / 3, i % 3)))
            .collect();
        let tail = hostile.split_off(honest_at);
        let mut out = hostile;
        out.extend((0..16u64).map(|i| (peer(100 + i), honest)));
        out.extend(tail);
        (out, low_mask(16) << honest_at)
    }

    #[test]
    fn hostile_shape_is_the_moon_moser_graph() {
        let (resp, honest) = hostile_64(0);
        let sigs: Vec<&TokenSignature> = resp.iter().map(|(_, s)| s).collect();
        let g = agreement_graph(&sigs, HOSTILE_T);
        for i in 16..64 {
            // Adjacent to every hostile answer outside its own part, nothing else.
            let part = (i - 16) / 3;
            let own = 0b111u64 << (16 + 3 * part);
            assert_eq!(g.neighbors(i), !honest & !own, "answer {i}");
        }
        for i in 0..16 {
            assert_eq!(g.neighbors(i), honest & !(1u64 << i));
        }
        // Small enough to enumerate: 4 parts have 3^4 maximal cliques.
        let small: Vec<u64> = (0..12)
            .map(|i| g.neighbors(16 + i) >> 16 & low_mask(12))
            .collect();
        assert_eq!(maximal_cliques(&small).len(), 81);
    }

    #[test]
    fn clique_search_of_64_hostile_answers_is_bounded_and_finds_the_honest_cluster() {
        // 3^16 ≈ 4.3e7 hostile maximal cliques: unbounded, this would not finish.
        let token = TokenId::from_u64(0);
        let bound = 20_000;
        for honest_at in [0, 21, 48] {
            let (resp, honest) = hostile_64(honest_at);
            let found = find_clusters_bounded(&token, &resp, HOSTILE_T, 2, bound);
            assert!(found.truncated, "honest at {honest_at}");
            assert!(found.steps <= bound, "{} steps", found.steps);
            assert!(found.clusters.len() as u64 <= found.steps);
            // The honest cluster is found, whole, and ranks first.
            assert_eq!(found.clusters[0].member_mask, honest, "honest at {honest_at}");
            let sigs: Vec<&TokenSignature> = resp.iter().map(|(_, s)| s).collect();
            let g = agreement_graph(&sigs, HOSTILE_T);
            for c in &found.clusters {
                assert!(is_clique(g.adjacency(), c.member_mask) && is_maximal(g.adjacency(), c.member_mask));
            }
            // 16 of 64 is no majority; the hostile side is a disjoint competitor.
            match decide(&found.clusters, resp.len(), MAJORITY) {
                Decision::SplitBrain(0, i) => assert_eq!(found.clusters[i].member_mask & honest, 0),
                d => panic!("honest at {honest_at}: {d:?}"),
            }
        }
    }

    #[test]
    fn bounded_search_of_a_quarter_hostile_election_keeps_the_honest_majority() {
        // 40 honest, 24 hostile (8 parts, 3^8 = 6561 cliques): the honest side
        // holds the majority and wins outright even with a tight bound.
        let token = TokenId::from_u64(0);
        let honest = sig_of(core::array::from_fn(|slot| 500 + slot as u64));
        let mut resp: Vec<(PeerId, TokenSignature)> = (0..24u64)
            .map(|i| (peer(10_000 + i), hostile_sig(i / 3, i % 3)))
            .collect();
        resp.extend((0..40u64).map(|i| (peer(100 + i), honest)));
        let found = find_clusters_bounded(&token, &resp, HOSTILE_T, 2, MIN_CLIQUE_STEPS);
        assert!(found.truncated && found.steps <= MIN_CLIQUE_STEPS);
        assert_eq!(found.clusters[0].member_mask, low_mask(40) << 24);
        assert_eq!(decide(&found.clusters, 64, MAJORITY), Decision::Single(0));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn bounded_search_is_exact_or_a_subset_within_the_bound(adj in arb_graph(40), bound in 1u64..4_000) {
            let exact = maximal_cliques(&adj);
            let found = maximal_cliques_bounded(&adj, bound);
            prop_assert!(found.steps <= bound.max(MIN_CLIQUE_STEPS));
            if found.truncated {
                prop_assert!(found.cliques.iter().all(|c| exact.binary_search(c).is_ok()));
            } else {
                prop_assert_eq!(&found.cliques, &exact);
            }
            let unbounded = maximal_cliques_bounded(&adj, u64::MAX);
            prop_assert!(!unbounded.truncated);
            prop_assert_eq!(unbounded.cliques, exact);
        }
    }
}
