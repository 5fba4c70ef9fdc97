//! Reverse-path table for forwarded queries: `(ticket, token) -> previous hop`.

use crate::election::MessageTicket;
use crate::id::TokenId;
use std::collections::{BTreeMap, BTreeSet};

type Key = (MessageTicket, TokenId);

/// Bounded, expiring reverse-path table.
///
/// When full, expired entries are purged; if none has expired the new entry is
/// refused (the caller then refers instead of forwarding). Live routes are never
/// evicted to make room, so a flood of queries cannot break routes in use.
#[derive(Clone, Debug)]
pub(crate) struct ForwardTable<A> {
    entries: BTreeMap<Key, (A, u64)>,
    by_expiry: BTreeSet<(u64, Key)>,
    cap: usize,
    ttl_ms: u64,
}

impl<A: Clone> ForwardTable<A> {
    pub fn new(cap: usize, ttl_ms: u64) -> Self {
        Self {
            entries: BTreeMap::new(),
            by_expiry: BTreeSet::new(),
            cap,
            ttl_ms,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Drops entries whose time has passed.
    pub fn expire(&mut self, now_ms: u64) {
        while let Some(&(at, key)) = self.by_expiry.first() {
            if at > now_ms {
                break;
            }
            self.by_expiry.pop_first();
            self.entries.remove(&key);
        }
    }

    /// Whether a live entry exists for the key (a query seen before: a loop).
    pub fn contains(&self, key: &Key, now_ms: u64) -> bool {
        self.entries.get(key).is_some_and(|(_, at)| *at > now_ms)
    }

    /// Records the previous hop; `false` if the table is full of live entries.
    pub fn insert(&mut self, key: Key, prev: A, now_ms: u64) -> bool {
        self.expire(now_ms);
        if self.entries.len() >= self.cap && !self.entries.contains_key(&key) {
            return false;
        }
        let at = now_ms.saturating_add(self.ttl_ms);
        if let Some((_, old)) = self.entries.insert(key, (prev, at)) {
            self.by_expiry.remove(&(old, key));
        }
        self.by_expiry.insert((at, key));
        true
    }

    /// Takes the previous hop for a reply, removing the entry: one reply per
    /// forwarded query travels back, duplicates are dropped.
    pub fn take(&mut self, key: &Key, now_ms: u64) -> Option<A> {
        let (prev, at) = self.entries.remove(key)?;
        self.by_expiry.remove(&(at, *key));
        (at > now_ms).then_some(prev)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u64) -> Key {
        (MessageTicket(n), TokenId::from_u64(n))
    }

    #[test]
    fn full_table_refuses_until_entries_expire() {
        let mut t = ForwardTable::new(2, 100);
        assert!(t.insert(key(1), 10u32, 0));
        assert!(t.insert(key(2), 20u32, 10));
        assert!(!t.insert(key(3), 30u32, 20), "full of live entries");
        assert_eq!(t.len(), 2);
        assert!(t.insert(key(3), 30u32, 100), "entry 1 expired at 100");
        assert_eq!(t.len(), 2);
        assert!(!t.contains(&key(1), 100));
        assert!(t.contains(&key(3), 100));
    }

    #[test]
    fn take_returns_once_and_not_after_expiry() {
        let mut t = ForwardTable::new(8, 100);
        t.insert(key(1), 7u32, 0);
        t.insert(key(2), 8u32, 0);
        assert_eq!(t.take(&key(1), 50), Some(7));
        assert_eq!(t.take(&key(1), 50), None);
        assert_eq!(t.take(&key(2), 100), None, "expired exactly at ttl");
        assert_eq!(t.len(), 0);
    }
}
