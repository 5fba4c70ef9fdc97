//! Deterministic test data shared by this crate's tests, benches and examples.
//!
//! Included with `#[path = "…/tests/support/ledger.rs"] mod support;`: benches,
//! examples and tests are separate crates and cannot share a module otherwise, and this
//! is not part of the library's API. Changing what it generates changes every measured
//! result that depends on it, so keep the values stable.

// Each includer uses only part of this.
#![allow(dead_code)]

use election_proto::{BlockId, TokenId};

/// splitmix64: the workspace's one copy (`election-splitmix`).
pub use election_splitmix::SplitMix64;

/// A random mapping: the token's 32 bytes, then the block's.
pub fn mapping(rng: &mut SplitMix64) -> (TokenId, BlockId) {
    let token = TokenId::new(rng.bytes32());
    (token, BlockId::new(rng.bytes32()))
}

/// `n` random mappings from `seed`, generated lazily (nothing is collected).
pub fn mappings(n: usize, seed: u64) -> impl Iterator<Item = (TokenId, BlockId)> {
    let mut rng = SplitMix64(seed);
    (0..n).map(move |_| mapping(&mut rng))
}

/// `n` random mappings from `seed`: the same values as [`mappings`], collected.
pub fn ledger(n: usize, seed: u64) -> Vec<(TokenId, BlockId)> {
    mappings(n, seed).collect()
}
