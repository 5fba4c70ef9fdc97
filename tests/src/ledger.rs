//! One global ledger, defined procedurally, and per-node store *views* over it.
//!
//! # The ledger
//!
//! The ledger is a pure function of a seed: no token is ever stored. For each of
//! the 1024 suffixes the ring's top 64 bits are cut into equal *cells*; cell `c` of
//! suffix `s` holds a Poisson(1) number of tokens whose position and random bits
//! come from `mix(seed, s, c)`. Tokens of one suffix therefore form a Poisson
//! process on the ring (exactly what a uniformly random ledger looks like), and
//! "the next token with suffix `s` clockwise of `x`" is found by generating the
//! cell that holds `x` and, rarely, the cells after it: O(1) time and no memory.
//! That is what lets the simulator give every node a dense ledger (by default
//! ~260,000 tokens per node arc, 2×10⁸ tokens for 10,000 nodes) for free.
//!
//! A token's honest block is a hash of the token (and of the ledger version for
//! tokens touched by a fork); a *stale* block is a hash with a fixed "previous
//! version" tag, so every stale holder of a token holds the same old block.
//!
//! # Views
//!
//! A [`LedgerView`] is what one node stores: the tokens inside an arc of the ring
//! around its id, minus those a per-node predicate marks missing, with a per-node
//! predicate marking some blocks stale. Both predicates are hashes of
//! `(node key, token)`. A view is an `Arc` to the ledger plus a few words, and it
//! implements [`TokenStore`] exactly as a [`MemoryStore`](election_proto::MemoryStore)
//! filled with the same mappings would (checked by the tests below).

use crate::rng::{mix2, mix64, threshold};
use election_proto::{suffix, BlockId, PeerId, TokenId, TokenMapping, TokenStore};
use std::sync::Arc;

/// Most tokens one cell can hold (Poisson(1) is capped here; P(≥ 8) ≈ 10⁻⁵).
const MAX_PER_CELL: usize = 8;

/// Cumulative Poisson(1) probabilities for counts 0..=6.
const POISSON_CDF: [f64; 7] = [
    0.367_879_441,
    0.735_758_882,
    0.919_698_603,
    0.981_011_843,
    0.996_340_153,
    0.999_405_815,
    0.999_916_758,
];

const DOMAIN_CELL: u64 = 0x6365_6c6c_5f5f_7631;
const DOMAIN_BLOCK: u64 = 0x626c_6f63_6b5f_7631;
const DOMAIN_FORK: u64 = 0x666f_726b_5f5f_7631;
const DOMAIN_STALE: u64 = 0x7374_616c_655f_7631;
/// Block tag of the "previous version" a stale holder still has.
const STALE_TAG: u64 = 0xffff_ffff_0000_0001;

/// The top 64 bits of an identifier (its position on the ring, coarsely).
#[inline]
pub fn top64(b: &[u8; 32]) -> u64 {
    u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
}

/// Bits 64..128 of a token: random for every ledger token; keys the per-node predicates.
#[inline]
fn word1(t: &TokenId) -> u64 {
    let b = t.as_bytes();
    u64::from_be_bytes([b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]])
}

/// The tokens of one cell, sorted ascending.
#[derive(Clone, Copy, Debug)]
pub struct Cell {
    ids: [TokenId; MAX_PER_CELL],
    len: usize,
}

impl Cell {
    /// The tokens, ascending.
    pub fn tokens(&self) -> &[TokenId] {
        &self.ids[..self.len]
    }
}

/// The procedural global ledger (see the module docs).
#[derive(Debug)]
pub struct Ledger {
    seed: u64,
    width: u64,
    ncells: u64,
    fork_threshold: u64,
    cdf: [u64; 7],
}

impl Ledger {
    /// A ledger with about `cells_per_suffix` tokens of each suffix on the whole
    /// ring (so about `1024 × cells_per_suffix` tokens). In version `v > 0` a share
    /// `fork_share` of the tokens map to a different block than in version 0.
    pub fn new(seed: u64, cells_per_suffix: u64, fork_share: f64) -> Self {
        let n = u128::from(cells_per_suffix.max(2));
        let width = (1u128 << 64).div_ceil(n) as u64;
        let ncells = (1u128 << 64).div_ceil(u128::from(width)) as u64;
        Self {
            seed,
            width,
            ncells,
            fork_threshold: threshold(fork_share),
            cdf: POISSON_CDF.map(threshold),
        }
    }

    /// Number of cells per suffix (the expected number of tokens per suffix).
    pub fn cells_per_suffix(&self) -> u64 {
        self.ncells
    }

    /// Width of a cell in top-64-bit ring units.
    pub fn cell_width(&self) -> u64 {
        self.width
    }

    #[inline]
    fn cell_of(&self, top: u64) -> u64 {
        top / self.width
    }

    /// Generates cell `c` of suffix `s`.
    pub fn cell(&self, s: u16, c: u64) -> Cell {
        let lo = c.wrapping_mul(self.width);
        let w = if c + 1 == self.ncells {
            ((1u128 << 64) - u128::from(lo)) as u64
        } else {
            self.width
        };
        let h = mix2(
            self.seed ^ DOMAIN_CELL ^ u64::from(s).wrapping_mul(0x9e37_79b9_7f4a_7c15),
            c,
        );
        let u = mix64(h);
        let count = self.cdf.iter().take_while(|&&t| u >= t).count();
        let mut cell = Cell {
            ids: [TokenId::ZERO; MAX_PER_CELL],
            len: count,
        };
        for (j, slot) in cell.ids[..count].iter_mut().enumerate() {
            let r = mix2(h, j as u64 + 1);
            let top = lo + ((u128::from(r) * u128::from(w)) >> 64) as u64;
            let w1 = mix64(r ^ 0xa5a5_a5a5_a5a5_a5a5);
            let w2 = mix64(w1);
            let w3 = (mix64(w2) & !0x3ff) | u64::from(s);
            let mut b = [0u8; 32];
            b[..8].copy_from_slice(&top.to_be_bytes());
            b[8..16].copy_from_slice(&w1.to_be_bytes());
            b[16..24].copy_from_slice(&w2.to_be_bytes());
            b[24..].copy_from_slice(&w3.to_be_bytes());
            *slot = TokenId::new(b);
        }
        cell.ids[..count].sort_unstable();
        cell
    }

    /// Whether `t` is a token of the ledger.
    pub fn contains(&self, t: &TokenId) -> bool {
        let c = self.cell_of(top64(t.as_bytes()));
        self.cell(suffix(t), c).tokens().contains(t)
    }

    /// Whether a fork (version > 0) changes this token's block.
    pub fn forked(&self, t: &TokenId) -> bool {
        self.fork_threshold != 0 && mix2(self.seed ^ DOMAIN_FORK, word1(t)) < self.fork_threshold
    }

    fn block_with_tag(&self, t: &TokenId, tag: u64) -> BlockId {
        let k = mix2(
            mix2(
                self.seed ^ DOMAIN_BLOCK,
                word1(t) ^ top64(t.as_bytes()).rotate_left(29),
            ),
            tag,
        );
        let mut b = [0u8; 32];
        for (i, c) in b.chunks_exact_mut(8).enumerate() {
            c.copy_from_slice(&mix2(k, i as u64).to_be_bytes());
        }
        BlockId::new(b)
    }

    /// The honest block of `t` in ledger version `version`.
    pub fn block(&self, t: &TokenId, version: u32) -> BlockId {
        let tag = if version != 0 && self.forked(t) {
            u64::from(version)
        } else {
            0
        };
        self.block_with_tag(t, tag)
    }

    /// The out-of-date block a stale holder of `t` has.
    pub fn stale_block(&self, t: &TokenId) -> BlockId {
        self.block_with_tag(t, STALE_TAG)
    }

    /// Every token of the ledger, in (suffix, position) order. Only for small test ledgers.
    pub fn all_tokens(&self) -> impl Iterator<Item = TokenId> + '_ {
        (0..1024u16).flat_map(move |s| (0..self.ncells).flat_map(move |c| self.cell(s, c).tokens().to_vec()))
    }
}

/// Which way a scan walks.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Dir {
    Clockwise,
    CounterClockwise,
}

/// One node's store: an arc of the shared [`Ledger`] minus missing tokens, with
/// some stale blocks. Cheap to clone (an `Arc` and seven words).
#[derive(Clone, Debug)]
pub struct LedgerView {
    ledger: Arc<Ledger>,
    /// Arc start (top 64 bits) and length; `full` means the whole ring.
    start: u64,
    len: u64,
    full: bool,
    key: u64,
    miss: u64,
    stale: u64,
    version: u32,
}

impl LedgerView {
    /// The view of a node at `center` holding the arc `center ± half_width` (top-64
    /// units), missing a share `1 - coverage` of its tokens and holding a share
    /// `stale` of blocks out of date. `key` individualises both predicates.
    pub fn new(
        ledger: Arc<Ledger>,
        center: &PeerId,
        half_width: u64,
        key: u64,
        coverage: f64,
        stale: f64,
    ) -> Self {
        let width = ledger.width;
        let len = half_width.saturating_mul(2);
        let full = len >= u64::MAX - 2 * width;
        Self {
            start: top64(center.as_bytes()).wrapping_sub(half_width),
            len: if full { u64::MAX } else { len },
            full,
            ledger,
            key: mix64(key),
            miss: threshold(1.0 - coverage),
            stale: threshold(stale),
            version: 0,
        }
    }

    /// The ledger this view looks at.
    pub fn ledger(&self) -> &Arc<Ledger> {
        &self.ledger
    }

    /// The ledger version this node is on.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Changes what share of its arc this node stores and how much of it is
    /// stale (a node turning lazy mid-run).
    pub fn set_quality(&mut self, coverage: f64, stale: f64) {
        self.miss = threshold(1.0 - coverage);
        self.stale = threshold(stale);
    }

    /// Moves this node to another ledger version (a fork, or its resolution).
    pub fn set_version(&mut self, version: u32) {
        self.version = version;
    }

    #[inline]
    fn in_arc(&self, top: u64) -> bool {
        self.full || top.wrapping_sub(self.start) <= self.len
    }

    #[inline]
    fn missing(&self, t: &TokenId) -> bool {
        self.miss != 0 && mix2(self.key, word1(t)) < self.miss
    }

    #[inline]
    fn is_stale(&self, t: &TokenId) -> bool {
        self.stale != 0 && mix2(self.key ^ DOMAIN_STALE, word1(t)) < self.stale
    }

    /// Whether this view stores ledger token `t` (assumes `t` is a ledger token).
    #[inline]
    pub fn holds(&self, t: &TokenId) -> bool {
        self.in_arc(top64(t.as_bytes())) && !self.missing(t)
    }

    /// Whether the token's position lies inside this node's arc.
    pub fn covers(&self, t: &TokenId) -> bool {
        self.in_arc(top64(t.as_bytes()))
    }

    /// The block this view maps a held token to.
    #[inline]
    pub fn block_of(&self, t: &TokenId) -> BlockId {
        if self.is_stale(t) {
            self.ledger.stale_block(t)
        } else {
            self.ledger.block(t, self.version)
        }
    }

    /// Whether this view's block for `t` is out of date.
    pub fn has_stale(&self, t: &TokenId) -> bool {
        self.is_stale(t)
    }

    /// First arc cell and number of arc cells.
    #[inline]
    fn arc_cells(&self) -> (u64, u64) {
        let l = &self.ledger;
        if self.full {
            return (0, l.ncells);
        }
        let first = l.cell_of(self.start);
        let last = l.cell_of(self.start.wrapping_add(self.len));
        let m = if last >= first {
            last - first + 1
        } else {
            l.ncells - first + last + 1
        };
        (first, m)
    }

    /// The held token of cell `(s, c)` that passes `keep`, nearest in direction `dir`
    /// (smallest for clockwise, largest for counter-clockwise).
    #[inline]
    fn best_in_cell(&self, s: u16, c: u64, dir: Dir, keep: impl Fn(&TokenId) -> bool) -> Option<TokenId> {
        let cell = self.ledger.cell(s, c);
        let ok = |t: &&TokenId| keep(t) && self.holds(t);
        match dir {
            Dir::Clockwise => cell.tokens().iter().find(ok).copied(),
            Dir::CounterClockwise => cell.tokens().iter().rev().find(ok).copied(),
        }
    }

    /// The nearest held token with suffix `s` strictly in direction `dir` of `from`,
    /// wrapping, at most one full turn, never `from`.
    fn scan(&self, from: &TokenId, s: u16, dir: Dir) -> Option<TokenId> {
        if usize::from(s) >= 1024 {
            return None;
        }
        let n = self.ledger.ncells;
        let (first, m) = self.arc_cells();
        let fc = self.ledger.cell_of(top64(from.as_bytes()));
        let p = if fc >= first { fc - first } else { n - first + fc };
        let at = |k: u64| (first + k) % n;
        let cw = dir == Dir::Clockwise;
        let ahead = |t: &TokenId, f: &TokenId| if cw { t > f } else { t < f };
        let behind = |t: &TokenId, f: &TokenId| if cw { t < f } else { t > f };
        if p < m {
            // `from`'s cell is in the arc: the rest of it, the other arc cells in
            // order, then the part of `from`'s cell behind `from` (a full turn).
            if let Some(t) = self.best_in_cell(s, fc, dir, |t| ahead(t, from)) {
                return Some(t);
            }
            for k in 1..m {
                let c = match dir {
                    Dir::Clockwise => at((p + k) % m),
                    Dir::CounterClockwise => at((p + m - k) % m),
                };
                if let Some(t) = self.best_in_cell(s, c, dir, |_| true) {
                    return Some(t);
                }
            }
            self.best_in_cell(s, fc, dir, |t| behind(t, from))
        } else {
            // `from` is outside the arc: the arc's cells from the near end.
            (0..m).find_map(|k| {
                let c = match dir {
                    Dir::Clockwise => at(k),
                    Dir::CounterClockwise => at(m - 1 - k),
                };
                self.best_in_cell(s, c, dir, |_| true)
            })
        }
    }

    fn mapping(&self, t: TokenId) -> TokenMapping {
        TokenMapping {
            id: t,
            block: self.block_of(&t),
        }
    }

    /// Every mapping this view stores. Only for small test ledgers.
    pub fn mappings(&self) -> Vec<TokenMapping> {
        self.ledger
            .all_tokens()
            .filter(|t| self.holds(t))
            .map(|t| self.mapping(t))
            .collect()
    }
}

impl TokenStore for LedgerView {
    fn lookup(&self, token: &TokenId) -> Option<BlockId> {
        (self.holds(token) && self.ledger.contains(token)).then(|| self.block_of(token))
    }

    fn next_with_suffix(&self, from: &TokenId, s: u16) -> Option<TokenMapping> {
        self.scan(from, s, Dir::Clockwise).map(|t| self.mapping(t))
    }

    fn prev_with_suffix(&self, from: &TokenId, s: u16) -> Option<TokenMapping> {
        self.scan(from, s, Dir::CounterClockwise).map(|t| self.mapping(t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SimRng;
    use election_proto::MemoryStore;

    fn check_against_memory_store(view: &LedgerView, rng: &mut SimRng, probes: usize) {
        let held = view.mappings();
        let reference = MemoryStore::from_mappings(held.iter().map(|m| (m.id, m.block)));
        assert_eq!(reference.len(), held.len());
        let all: Vec<TokenId> = view.ledger().all_tokens().collect();
        for i in 0..probes {
            let from = match i % 4 {
                0 => TokenId::new(rng.bytes32()),
                1 => all[rng.below(all.len() as u64) as usize],
                2 if !held.is_empty() => held[rng.below(held.len() as u64) as usize].id,
                _ => [TokenId::ZERO, TokenId::MAX][i % 2],
            };
            let s = if i % 3 == 0 {
                election_proto::suffix(&from)
            } else {
                rng.below(1024) as u16
            };
            assert_eq!(view.lookup(&from), reference.lookup(&from), "lookup {from:?}");
            assert_eq!(
                view.next_with_suffix(&from, s),
                reference.next_with_suffix(&from, s),
                "next {from:?} s={s}"
            );
            assert_eq!(
                view.prev_with_suffix(&from, s),
                reference.prev_with_suffix(&from, s),
                "prev {from:?} s={s}"
            );
        }
        assert_eq!(view.next_with_suffix(&TokenId::ZERO, 1024), None);
    }

    #[test]
    fn views_match_a_memory_store_of_the_same_mappings() {
        let ledger = Arc::new(Ledger::new(42, 6, 0.5));
        let mut rng = SimRng::new(3, "ledger test");
        let w = ledger.cell_width();
        let arcs: [(PeerId, u64); 6] = [
            (PeerId::new(rng.bytes32()), w),             // about two cells
            (PeerId::new(rng.bytes32()), w * 2 + w / 3), // straddles cells
            (PeerId::ZERO, w + 12_345),                  // wraps the top of the ring
            (PeerId::MAX, w / 7),                        // tiny, wraps
            (PeerId::new(rng.bytes32()), w / 5),         // inside one cell
            (PeerId::new(rng.bytes32()), u64::MAX / 2),  // the whole ring
        ];
        for (k, (center, half)) in arcs.iter().enumerate() {
            for (coverage, stale, version) in [(1.0, 0.0, 0), (0.9, 0.05, 0), (0.5, 0.3, 1)] {
                let mut view = LedgerView::new(ledger.clone(), center, *half, k as u64, coverage, stale);
                view.set_version(version);
                check_against_memory_store(&view, &mut rng, 300);
            }
        }
    }

    #[test]
    fn density_coverage_and_predicates() {
        let ledger = Arc::new(Ledger::new(9, 40, 0.5));
        let total = ledger.all_tokens().count() as f64;
        let expect = 1024.0 * 40.0;
        assert!((total / expect - 1.0).abs() < 0.03, "{total} tokens");
        let view = LedgerView::new(ledger.clone(), &PeerId::ZERO, u64::MAX / 2, 1, 0.9, 0.1);
        let all: Vec<TokenId> = ledger.all_tokens().collect();
        let held = all.iter().filter(|t| view.holds(t)).count() as f64 / total;
        assert!((held - 0.9).abs() < 0.01, "held {held}");
        let stale = all.iter().filter(|t| view.has_stale(t)).count() as f64 / total;
        assert!((stale - 0.1).abs() < 0.01, "stale {stale}");
        let forked = all.iter().filter(|t| ledger.forked(t)).count() as f64 / total;
        assert!((forked - 0.5).abs() < 0.02, "forked {forked}");
        for t in all.iter().take(500) {
            assert!(ledger.contains(t));
            assert_eq!(ledger.block(t, 0) == ledger.block(t, 1), !ledger.forked(t));
            assert_ne!(ledger.block(t, 0), ledger.stale_block(t));
        }
        assert!(!ledger.contains(&TokenId::new([7; 32])));
        // Two views with different keys miss different tokens.
        let other = LedgerView::new(ledger.clone(), &PeerId::ZERO, u64::MAX / 2, 2, 0.9, 0.1);
        let both = all.iter().filter(|t| view.holds(t) && other.holds(t)).count() as f64 / total;
        assert!((both - 0.81).abs() < 0.02, "both {both}");
    }
}
