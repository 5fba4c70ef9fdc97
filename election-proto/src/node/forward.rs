//! Reverse-path table for forwarded queries: `(ticket, token) -> previous hop`.

use crate::election::MessageTicket;
use crate::id::TokenId;
use crate::mem::release_if_empty;
use crate::wire::Query;
use std::collections::{BTreeMap, BTreeSet};

type Key = (MessageTicket, TokenId);

/// One forwarded query.
#[derive(Clone, Debug)]
struct Entry<A> {
    /// Where replies go back to.
    prev: A,
    /// Expiry time.
    at: u64,
    /// Where the query went onward, and what was sent: a `Retry` from there
    /// is followed by resending it with the cookie (once).
    next: Option<(A, Query)>,
}

/// Bounded, expiring reverse-path table.
///
/// When full, expired entries are purged; if none has expired the new entry is
/// refused (the caller then refers instead of forwarding). Live routes are never
/// evicted to make room, so a flood of queries cannot break routes in use.
#[derive(Clone, Debug)]
pub(crate) struct ForwardTable<A> {
    entries: BTreeMap<Key, Entry<A>>,
    by_expiry: BTreeSet<(u64, Key)>,
    cap: usize,
    ttl_ms: u64,
}

impl<A: Clone + PartialEq> ForwardTable<A> {
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
        release_if_empty(&mut self.entries);
        release_if_empty(&mut self.by_expiry);
    }

    /// Whether a live entry exists for the key (a query seen before: a loop).
    pub fn contains(&self, key: &Key, now_ms: u64) -> bool {
        self.entries.get(key).is_some_and(|e| e.at > now_ms)
    }

    /// Records the previous hop, and that `onward` went to `next`; `false` if
    /// the table is full of live entries.
    pub fn insert(&mut self, key: Key, prev: A, next: A, onward: Query, now_ms: u64) -> bool {
        self.expire(now_ms);
        if self.entries.len() >= self.cap && !self.entries.contains_key(&key) {
            return false;
        }
        let at = now_ms.saturating_add(self.ttl_ms);
        let entry = Entry {
            prev,
            at,
            next: Some((next, onward)),
        };
        if let Some(old) = self.entries.insert(key, entry) {
            self.by_expiry.remove(&(old.at, key));
        }
        self.by_expiry.insert((at, key));
        true
    }

    /// A `Retry` for the forwarded query `key` came from `from`: the query to
    /// resend with its cookie, if `from` is where it went and it has not been
    /// resent yet (so a Retry is followed at most once per forwarded query).
    pub fn retry(&mut self, key: &Key, from: &A, now_ms: u64) -> Option<Query> {
        let e = self.entries.get_mut(key).filter(|e| e.at > now_ms)?;
        match &e.next {
            Some((next, _)) if next == from => e.next.take().map(|(_, q)| q),
            _ => None,
        }
    }

    /// Takes the previous hop for a reply, removing the entry: one reply per
    /// forwarded query travels back, duplicates are dropped.
    pub fn take(&mut self, key: &Key, now_ms: u64) -> Option<A> {
        let e = self.entries.remove(key)?;
        self.by_expiry.remove(&(e.at, *key));
        release_if_empty(&mut self.entries);
        release_if_empty(&mut self.by_expiry);
        (e.at > now_ms).then_some(e.prev)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u64) -> Key {
        (MessageTicket(n), TokenId::from_u64(n))
    }

    fn q(n: u64) -> Query {
        Query {
            token: TokenId::from_u64(n),
            ticket: MessageTicket(n),
            challenger: crate::id::PeerId::from_u64(n),
            hops_left: 3,
        }
    }

    #[test]
    fn a_retry_resends_once_and_only_from_the_next_hop() {
        let mut t = ForwardTable::new(8, 100);
        assert!(t.insert(key(1), 7u32, 9, q(1), 0));
        assert_eq!(t.retry(&key(1), &8, 10), None, "not where the query went");
        assert_eq!(t.retry(&key(1), &9, 10), Some(q(1)));
        assert_eq!(t.retry(&key(1), &9, 20), None, "followed once");
        assert_eq!(t.take(&key(1), 30), Some(7), "the reverse path stays");
        assert!(t.insert(key(2), 7u32, 9, q(2), 0));
        assert_eq!(t.retry(&key(2), &9, 100), None, "expired");
    }

    #[test]
    fn full_table_refuses_until_entries_expire() {
        let mut t = ForwardTable::new(2, 100);
        assert!(t.insert(key(1), 10u32, 0, q(1), 0));
        assert!(t.insert(key(2), 20u32, 0, q(2), 10));
        assert!(!t.insert(key(3), 30u32, 0, q(3), 20), "full of live entries");
        assert_eq!(t.len(), 2);
        assert!(t.insert(key(3), 30u32, 0, q(3), 100), "entry 1 expired at 100");
        assert_eq!(t.len(), 2);
        assert!(!t.contains(&key(1), 100));
        assert!(t.contains(&key(3), 100));
    }

    #[test]
    fn take_returns_once_and_not_after_expiry() {
        let mut t = ForwardTable::new(8, 100);
        t.insert(key(1), 7u32, 0, q(1), 0);
        t.insert(key(2), 8u32, 0, q(2), 0);
        assert_eq!(t.take(&key(1), 50), Some(7));
        assert_eq!(t.take(&key(1), 50), None);
        assert_eq!(t.take(&key(2), 100), None, "expired exactly at ttl");
        assert_eq!(t.len(), 0);
    }
}
