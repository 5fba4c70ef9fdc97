//! Deterministic test data shared by this crate's tests, benches and examples.
//!
//! Included with `#[path = "…/tests/support/ledger.rs"] mod support;`: benches,
//! examples and tests are separate crates and cannot share a module otherwise, and this
//! is not part of the library's API. Changing what it generates changes every measured
//! result that depends on it, so keep the values stable.

// Each includer uses only part of this.
#![allow(dead_code)]

use election_proto::{BlockId, TokenId};

/// splitmix64: deterministic test data without extra crates.
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// In `0..n` (with the slight modulo bias, which test data can live with).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Four outputs, little-endian.
    pub fn bytes32(&mut self) -> [u8; 32] {
        let mut b = [0u8; 32];
        for c in b.chunks_exact_mut(8) {
            c.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        b
    }

    /// A random mapping: the token's 32 bytes, then the block's.
    pub fn mapping(&mut self) -> (TokenId, BlockId) {
        let token = TokenId::new(self.bytes32());
        (token, BlockId::new(self.bytes32()))
    }
}

/// `n` random mappings from `seed`, generated lazily (nothing is collected).
pub fn mappings(n: usize, seed: u64) -> impl Iterator<Item = (TokenId, BlockId)> {
    let mut rng = SplitMix64(seed);
    (0..n).map(move |_| rng.mapping())
}

/// `n` random mappings from `seed`: the same values as [`mappings`], collected.
pub fn ledger(n: usize, seed: u64) -> Vec<(TokenId, BlockId)> {
    mappings(n, seed).collect()
}
