//! The responder's view of the ledger: a map `TokenId -> BlockId` with suffix search.

use crate::id::{suffix, BlockId, TokenId, SUFFIX_SPACE};
use crate::proof::TokenMapping;
use std::collections::BTreeMap;

/// A node's ledger view, owned by the host application.
///
/// The proof-of-storage walk needs, besides plain lookup, "the first stored token
/// strictly clockwise (counter-clockwise) of `from` whose [`suffix`] is `s`".
/// Implementations must wrap around the ring, search at most one full turn and
/// never return `from` itself.
pub trait TokenStore {
    /// The block `token` maps to, if stored.
    fn lookup(&self, token: &TokenId) -> Option<BlockId>;

    /// The first stored mapping strictly clockwise of `from` whose token has suffix `s`.
    fn next_with_suffix(&self, from: &TokenId, s: u16) -> Option<TokenMapping>;

    /// The first stored mapping strictly counter-clockwise of `from` whose token has suffix `s`.
    fn prev_with_suffix(&self, from: &TokenId, s: u16) -> Option<TokenMapping>;
}

impl<S: TokenStore + ?Sized> TokenStore for &S {
    fn lookup(&self, token: &TokenId) -> Option<BlockId> {
        (**self).lookup(token)
    }
    fn next_with_suffix(&self, from: &TokenId, s: u16) -> Option<TokenMapping> {
        (**self).next_with_suffix(from, s)
    }
    fn prev_with_suffix(&self, from: &TokenId, s: u16) -> Option<TokenMapping> {
        (**self).prev_with_suffix(from, s)
    }
}

/// In-memory [`TokenStore`] indexed by suffix.
///
/// Tokens are kept in 1024 ordered buckets, one per suffix value, so every
/// operation (lookup, insert, remove, next/prev-with-suffix) is `O(log n)`; the
/// bucket a token lives in is fixed by its own suffix, so no second index is needed.
#[derive(Debug, Clone)]
pub struct MemoryStore {
    buckets: Vec<BTreeMap<TokenId, BlockId>>,
    len: usize,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self {
            buckets: (0..SUFFIX_SPACE).map(|_| BTreeMap::new()).collect(),
            len: 0,
        }
    }

    /// Builds a store from mappings; a token given twice keeps its last block.
    pub fn from_mappings(mappings: impl IntoIterator<Item = (TokenId, BlockId)>) -> Self {
        let mut per_bucket: Vec<Vec<(TokenId, BlockId)>> = vec![Vec::new(); SUFFIX_SPACE];
        for (t, b) in mappings {
            per_bucket[usize::from(suffix(&t))].push((t, b));
        }
        let mut len = 0;
        let buckets = per_bucket
            .into_iter()
            .map(|mut v| {
                // Stable sort keeps insertion order among equal keys, and BTreeMap's
                // bulk build from sorted input keeps the last duplicate.
                v.sort_by_key(|(t, _)| *t);
                let m: BTreeMap<_, _> = v.into_iter().collect();
                len += m.len();
                m
            })
            .collect();
        Self { buckets, len }
    }

    /// Inserts or replaces a mapping; returns the previous block, if any.
    pub fn insert(&mut self, token: TokenId, block: BlockId) -> Option<BlockId> {
        let old = self.buckets[usize::from(suffix(&token))].insert(token, block);
        if old.is_none() {
            self.len += 1;
        }
        old
    }

    /// Removes a mapping; returns its block, if it was stored.
    pub fn remove(&mut self, token: &TokenId) -> Option<BlockId> {
        let old = self.buckets[usize::from(suffix(token))].remove(token);
        if old.is_some() {
            self.len -= 1;
        }
        old
    }

    /// Number of stored mappings.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the store holds no mappings.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// All mappings in token order within each suffix bucket (bucket 0 first).
    pub fn iter(&self) -> impl Iterator<Item = TokenMapping> + '_ {
        self.buckets.iter().flat_map(|b| {
            b.iter().map(|(id, block)| TokenMapping {
                id: *id,
                block: *block,
            })
        })
    }

    fn bucket(&self, s: u16) -> Option<&BTreeMap<TokenId, BlockId>> {
        self.buckets.get(usize::from(s))
    }
}

impl TokenStore for MemoryStore {
    fn lookup(&self, token: &TokenId) -> Option<BlockId> {
        self.buckets[usize::from(suffix(token))].get(token).copied()
    }

    fn next_with_suffix(&self, from: &TokenId, s: u16) -> Option<TokenMapping> {
        use core::ops::Bound::{Excluded, Unbounded};
        let bucket = self.bucket(s)?;
        bucket
            .range((Excluded(*from), Unbounded))
            .next()
            // Wrap: the smallest token, unless that is `from` itself.
            .or_else(|| bucket.iter().next().filter(|(t, _)| *t != from))
            .map(|(id, block)| TokenMapping {
                id: *id,
                block: *block,
            })
    }

    fn prev_with_suffix(&self, from: &TokenId, s: u16) -> Option<TokenMapping> {
        use core::ops::Bound::{Excluded, Unbounded};
        let bucket = self.bucket(s)?;
        bucket
            .range((Unbounded, Excluded(*from)))
            .next_back()
            .or_else(|| bucket.iter().next_back().filter(|(t, _)| *t != from))
            .map(|(id, block)| TokenMapping {
                id: *id,
                block: *block,
            })
    }
}
