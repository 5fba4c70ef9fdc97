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
                // Stable sort keeps insertion order among equal keys; then keep the
                // last block of each run explicitly (which duplicate `BTreeMap`'s
                // `FromIterator` keeps is not documented). The bulk build from sorted,
                // distinct input packs the tree's nodes full.
                v.sort_by_key(|(t, _)| *t);
                v.dedup_by(|later, kept| {
                    let same = later.0 == kept.0;
                    if same {
                        kept.1 = later.1;
                    }
                    same
                });
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::{clockwise_distance, counter_clockwise_distance, SUFFIX_BITS};
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    /// A token with the given high bytes and suffix `s` (low 10 bits replaced).
    fn tok(bytes: [u8; 32], s: u16) -> TokenId {
        let mut b = bytes;
        b[31] = s as u8;
        b[30] = (b[30] & !0x03) | ((s >> 8) as u8 & 0x03);
        TokenId::new(b)
    }

    /// A token whose value is `hi * 1024 + s`.
    fn t(hi: u64, s: u16) -> TokenId {
        assert!(s < 1 << SUFFIX_BITS);
        TokenId::from_u64((hi << SUFFIX_BITS) | u64::from(s))
    }

    fn blk(v: u64) -> BlockId {
        BlockId::from_u64(v)
    }

    /// Brute force: among all stored tokens with suffix `s` other than `from`, the one
    /// at the smallest clockwise distance from `from`. Independent of the bucket index.
    fn ref_next(all: &[(TokenId, BlockId)], from: &TokenId, s: u16) -> Option<TokenMapping> {
        all.iter()
            .filter(|(id, _)| suffix(id) == s && id != from)
            .min_by_key(|(id, _)| clockwise_distance(from, id))
            .map(|&(id, block)| TokenMapping { id, block })
    }

    fn ref_prev(all: &[(TokenId, BlockId)], from: &TokenId, s: u16) -> Option<TokenMapping> {
        all.iter()
            .filter(|(id, _)| suffix(id) == s && id != from)
            .min_by_key(|(id, _)| counter_clockwise_distance(from, id))
            .map(|&(id, block)| TokenMapping { id, block })
    }

    fn m(id: TokenId, block: BlockId) -> Option<TokenMapping> {
        Some(TokenMapping { id, block })
    }

    #[test]
    fn empty_store_and_empty_bucket() {
        let empty = MemoryStore::new();
        assert!(empty.is_empty());
        assert_eq!(empty.len(), 0);
        assert_eq!(empty.next_with_suffix(&t(5, 3), 3), None);
        assert_eq!(empty.prev_with_suffix(&t(5, 3), 3), None);

        let store = MemoryStore::from_mappings([(t(1, 3), blk(1)), (t(9, 3), blk(9))]);
        // Bucket 4 is empty even though its neighbours on the ring are not.
        assert_eq!(store.next_with_suffix(&t(1, 3), 4), None);
        assert_eq!(store.prev_with_suffix(&t(9, 3), 4), None);
        // Suffixes out of range find nothing rather than panicking.
        assert_eq!(store.next_with_suffix(&t(1, 3), 1024), None);
        assert_eq!(store.prev_with_suffix(&t(1, 3), u16::MAX), None);
    }

    #[test]
    fn single_element_bucket() {
        let only = t(7, 42);
        let store = MemoryStore::from_mappings([(only, blk(1)), (t(3, 5), blk(2))]);
        // From the element itself: a full turn finds nothing else.
        assert_eq!(store.next_with_suffix(&only, 42), None);
        assert_eq!(store.prev_with_suffix(&only, 42), None);
        // From anywhere else it is found in both directions, wrapping if needed.
        for from in [
            t(0, 0),
            t(7, 41),
            t(7, 43),
            t(100, 42),
            TokenId::MAX,
            TokenId::ZERO,
        ] {
            assert_eq!(store.next_with_suffix(&from, 42), m(only, blk(1)), "{from:?}");
            assert_eq!(store.prev_with_suffix(&from, 42), m(only, blk(1)), "{from:?}");
        }
    }

    #[test]
    fn from_itself_is_skipped_and_neighbours_found() {
        let (a, b, c) = (t(10, 9), t(20, 9), t(30, 9));
        let store = MemoryStore::from_mappings([(a, blk(1)), (b, blk(2)), (c, blk(3))]);
        assert_eq!(store.next_with_suffix(&b, 9), m(c, blk(3)));
        assert_eq!(store.prev_with_suffix(&b, 9), m(a, blk(1)));
        // Strictly after: a `from` between stored tokens.
        assert_eq!(store.next_with_suffix(&t(20, 10), 9), m(c, blk(3)));
        assert_eq!(store.prev_with_suffix(&t(20, 8), 9), m(a, blk(1)));
    }

    #[test]
    fn wraps_around_the_ring() {
        let (a, b, c) = (t(10, 9), t(20, 9), t(30, 9));
        let store = MemoryStore::from_mappings([(a, blk(1)), (b, blk(2)), (c, blk(3))]);
        // Past the largest token clockwise wraps to the smallest, and vice versa.
        assert_eq!(store.next_with_suffix(&c, 9), m(a, blk(1)));
        assert_eq!(store.next_with_suffix(&TokenId::MAX, 9), m(a, blk(1)));
        assert_eq!(store.prev_with_suffix(&a, 9), m(c, blk(3)));
        assert_eq!(store.prev_with_suffix(&TokenId::ZERO, 9), m(c, blk(3)));

        // Tokens at the very ends of the ring.
        let lo = tok([0; 32], 9);
        let hi = tok([0xff; 32], 9);
        let store = MemoryStore::from_mappings([(lo, blk(1)), (hi, blk(2))]);
        assert_eq!(store.next_with_suffix(&hi, 9), m(lo, blk(1)));
        assert_eq!(store.prev_with_suffix(&lo, 9), m(hi, blk(2)));
        assert_eq!(store.next_with_suffix(&lo, 9), m(hi, blk(2)));
        assert_eq!(store.prev_with_suffix(&hi, 9), m(lo, blk(1)));
    }

    #[test]
    fn insert_remove_len_lookup() {
        let mut store = MemoryStore::new();
        assert_eq!(store.insert(t(1, 1), blk(10)), None);
        assert_eq!(store.insert(t(2, 1), blk(20)), None);
        assert_eq!(store.insert(t(1, 2), blk(30)), None);
        assert_eq!(store.len(), 3);
        // Replacing keeps the length and returns the old block.
        assert_eq!(store.insert(t(1, 1), blk(11)), Some(blk(10)));
        assert_eq!(store.len(), 3);
        assert_eq!(store.lookup(&t(1, 1)), Some(blk(11)));
        assert_eq!(store.next_with_suffix(&t(0, 0), 1), m(t(1, 1), blk(11)));
        // Removing something absent changes nothing.
        assert_eq!(store.remove(&t(9, 9)), None);
        assert_eq!(store.len(), 3);
        assert_eq!(store.remove(&t(1, 1)), Some(blk(11)));
        assert_eq!(store.remove(&t(1, 1)), None);
        assert_eq!(store.len(), 2);
        assert_eq!(store.lookup(&t(1, 1)), None);
        // The removed token is gone from the suffix search too.
        assert_eq!(store.next_with_suffix(&t(0, 0), 1), m(t(2, 1), blk(20)));
        assert_eq!(store.next_with_suffix(&t(2, 1), 1), None);
        store.remove(&t(2, 1));
        store.remove(&t(1, 2));
        assert!(store.is_empty());
        assert_eq!(store.iter().count(), 0);
    }

    #[test]
    fn from_mappings_keeps_last_duplicate() {
        let store = MemoryStore::from_mappings([
            (t(1, 1), blk(1)),
            (t(2, 1), blk(2)),
            (t(1, 1), blk(3)),
            (t(1, 1), blk(4)),
            (t(2, 1), blk(5)),
            (t(3, 7), blk(6)),
        ]);
        assert_eq!(store.len(), 3);
        assert_eq!(store.lookup(&t(1, 1)), Some(blk(4)));
        assert_eq!(store.lookup(&t(2, 1)), Some(blk(5)));
        assert_eq!(store.lookup(&t(3, 7)), Some(blk(6)));
        assert_eq!(store.iter().count(), 3);
        assert!(MemoryStore::from_mappings(core::iter::empty()).is_empty());
    }

    #[test]
    fn iter_is_bucket_then_token_order() {
        let store = MemoryStore::from_mappings([
            (t(5, 2), blk(1)),
            (t(1, 2), blk(2)),
            (t(9, 0), blk(3)),
            (t(0, 1023), blk(4)),
        ]);
        let ids: Vec<TokenId> = store.iter().map(|m| m.id).collect();
        assert_eq!(ids, vec![t(9, 0), t(1, 2), t(5, 2), t(0, 1023)]);
    }

    /// Random stores whose tokens use only a few suffixes, so buckets hold several
    /// tokens and walks wrap often.
    fn small_store() -> impl Strategy<Value = Vec<(TokenId, BlockId)>> {
        prop::collection::vec((any::<[u8; 32]>(), 0u16..4, any::<u64>()), 0..40).prop_map(|v| {
            v.into_iter()
                .map(|(b, s, block)| (tok(b, s), blk(block)))
                .collect()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn suffix_search_matches_linear_scan(
            raw in small_store(),
            froms in prop::collection::vec((any::<[u8; 32]>(), 0u16..4), 1..8),
            pick in any::<prop::sample::Index>(),
        ) {
            let store = MemoryStore::from_mappings(raw.iter().copied());
            // The reference sees the deduplicated contents (last block wins).
            let dedup: BTreeMap<TokenId, BlockId> = raw.iter().copied().collect();
            let all: Vec<(TokenId, BlockId)> = dedup.into_iter().collect();
            prop_assert_eq!(store.len(), all.len());

            let mut starts: Vec<TokenId> = froms.iter().map(|&(b, s)| tok(b, s)).collect();
            // A stored token as `from` (it must be skipped), and the ring's ends.
            if !all.is_empty() {
                starts.push(all[pick.index(all.len())].0);
            }
            starts.extend([TokenId::ZERO, TokenId::MAX]);
            for from in &starts {
                // 0..4 are the populated suffixes; 4 and 1023 are empty buckets.
                for s in [0u16, 1, 2, 3, 4, 1023] {
                    prop_assert_eq!(store.next_with_suffix(from, s), ref_next(&all, from, s));
                    prop_assert_eq!(store.prev_with_suffix(from, s), ref_prev(&all, from, s));
                }
            }
        }

        #[test]
        fn operations_match_a_model(
            ops in prop::collection::vec((any::<bool>(), 0u64..24, 0u16..3, any::<u64>()), 0..120),
        ) {
            let mut store = MemoryStore::new();
            let mut model: BTreeMap<TokenId, BlockId> = BTreeMap::new();
            for (is_insert, hi, s, block) in ops {
                let id = t(hi, s);
                if is_insert {
                    prop_assert_eq!(store.insert(id, blk(block)), model.insert(id, blk(block)));
                } else {
                    prop_assert_eq!(store.remove(&id), model.remove(&id));
                }
                prop_assert_eq!(store.len(), model.len());
                prop_assert_eq!(store.is_empty(), model.is_empty());
                prop_assert_eq!(store.lookup(&id), model.get(&id).copied());
            }
            let mut seen: Vec<(TokenId, BlockId)> = store.iter().map(|m| (m.id, m.block)).collect();
            seen.sort();
            let expect: Vec<(TokenId, BlockId)> = model.iter().map(|(k, v)| (*k, *v)).collect();
            prop_assert_eq!(&seen, &expect);
            // Suffix search after arbitrary edits still matches the scan.
            for hi in 0..25 {
                for s in 0..3 {
                    let from = t(hi, s);
                    prop_assert_eq!(store.next_with_suffix(&from, s), ref_next(&expect, &from, s));
                    prop_assert_eq!(store.prev_with_suffix(&from, s), ref_prev(&expect, &from, s));
                }
            }
            // And a bulk build of the same contents is indistinguishable.
            let bulk = MemoryStore::from_mappings(expect.iter().copied());
            prop_assert_eq!(bulk.len(), store.len());
            prop_assert!(bulk.iter().eq(store.iter()));
        }

        #[test]
        fn from_mappings_equals_sequential_inserts(
            raw in prop::collection::vec((0u64..16, 0u16..3, any::<u64>()), 0..60),
        ) {
            let pairs: Vec<(TokenId, BlockId)> = raw.iter().map(|&(h, s, b)| (t(h, s), blk(b))).collect();
            let bulk = MemoryStore::from_mappings(pairs.iter().copied());
            let mut seq = MemoryStore::new();
            for &(id, b) in &pairs {
                seq.insert(id, b);
            }
            prop_assert_eq!(bulk.len(), seq.len());
            prop_assert!(bulk.iter().eq(seq.iter()));
        }
    }
}
