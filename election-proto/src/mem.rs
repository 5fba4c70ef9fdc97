//! Memory hygiene for the node's tables.
//!
//! A `BTreeMap` keeps its root leaf allocated after its last entry is
//! removed: room for 11 keys and 11 values, whatever they weigh. Most of a
//! node's transient tables (running lookups, pending probes, direct checks,
//! forwarded queries, the ticket index) are empty most of the time, so a node
//! that used each once carries a dozen empty leaves for the rest of its life:
//! several KB per node, which a simulator running 100,000 nodes in one
//! process multiplies. [`release_if_empty`] hands the leaf back; the next
//! insert allocates a fresh one (one allocation, the cost of any insert that
//! splits a leaf).

use std::collections::{BTreeMap, BTreeSet};

/// A table whose storage can be given back when it holds nothing.
pub(crate) trait Release {
    /// Frees the table's storage if it is empty (a no-op otherwise).
    fn release_if_empty(&mut self);
}

impl<K, V> Release for BTreeMap<K, V> {
    fn release_if_empty(&mut self) {
        if self.is_empty() {
            *self = BTreeMap::new();
        }
    }
}

impl<T> Release for BTreeSet<T> {
    fn release_if_empty(&mut self) {
        if self.is_empty() {
            *self = BTreeSet::new();
        }
    }
}

/// Frees `table`'s storage if it is empty.
pub(crate) fn release_if_empty(table: &mut impl Release) {
    table.release_if_empty();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_emptied_table_is_a_new_one_and_a_full_one_is_untouched() {
        let mut m: BTreeMap<u64, [u8; 512]> = (0..3).map(|i| (i, [0; 512])).collect();
        release_if_empty(&mut m);
        assert_eq!(m.len(), 3);
        for i in 0..3 {
            m.remove(&i);
        }
        release_if_empty(&mut m);
        assert!(m.is_empty());
        m.insert(9, [1; 512]);
        assert_eq!(m.get(&9), Some(&[1; 512]));
        let mut s: BTreeSet<u8> = [1].into();
        s.remove(&1);
        release_if_empty(&mut s);
        assert!(s.is_empty());
    }
}
