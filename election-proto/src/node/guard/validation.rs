//! Address validation and per-source rate limits (docs/PROTOCOL.md "Address
//! validation (anti-amplification)").
//!
//! UDP source addresses can be forged, so a node must not answer a small
//! datagram with a large one toward an address that has not shown it receives
//! there: that would let anyone reflect amplified traffic at a victim. Three
//! pieces keep it from happening:
//!
//! - [`Cookies`]: stateless proof of receipt. A cookie is a keyed BLAKE3 hash
//!   of an address and a time epoch under a key derived from the node's seed;
//!   it is sent only to that address (in a [`Retry`](crate::wire::Retry)), so a
//!   datagram that returns it proves the sender receives there. Valid for the
//!   epoch it was made in and the next one.
//! - [`Validated`]: the addresses that proved it (a cookie came back, a pong
//!   answered our ping, a reply carried our ticket or nonce), bounded and
//!   expiring.
//! - [`RateLimits`]: a token bucket per source host ([`AddressGroups::ip`]),
//!   spent by each query this node answers or forwards, bounded in number.

use crate::wire::{Address, AddressGroups, Cookie, GroupKey, COOKIE_LEN};
use std::collections::{BTreeMap, BTreeSet};

/// Stateless cookies bound to an address and a time epoch.
///
/// Guarantees: [`Cookies::check`] accepts exactly the cookies [`Cookies::make`]
/// gives for the same address in the current or the previous epoch; without
/// the key (derived from the node's seed, never sent) a cookie for a given
/// address cannot be computed. No state grows with use.
#[derive(Clone)]
pub(crate) struct Cookies {
    key: [u8; 32],
    epoch_ms: u64,
}

impl core::fmt::Debug for Cookies {
    // The key stays out of logs.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Cookies")
            .field("epoch_ms", &self.epoch_ms)
            .finish_non_exhaustive()
    }
}

impl Cookies {
    /// Cookies keyed from the node's `seed` (its one secret), with epochs of `epoch_ms`.
    pub fn new(seed: &[u8; 32], epoch_ms: u64) -> Self {
        Self {
            key: blake3::derive_key("election-proto address cookie v1", seed),
            epoch_ms: epoch_ms.max(1),
        }
    }

    fn at_epoch<A: Address>(&self, addr: &A, epoch: u64) -> Cookie {
        let mut h = blake3::Hasher::new_keyed(&self.key);
        h.update(&epoch.to_le_bytes());
        // The address's wire encoding names it exactly (and is what the peer sees).
        match postcard::to_allocvec(addr) {
            Ok(bytes) => h.update(&bytes),
            Err(_) => h.update(&[]),
        };
        let mut out = [0u8; COOKIE_LEN];
        out.copy_from_slice(&h.finalize().as_bytes()[..COOKIE_LEN]);
        out
    }

    /// The cookie for `addr` at time `now`.
    pub fn make<A: Address>(&self, addr: &A, now: u64) -> Cookie {
        self.at_epoch(addr, now / self.epoch_ms)
    }

    /// Whether `cookie` is one [`Cookies::make`] gave for `addr` in this epoch or the last.
    pub fn check<A: Address>(&self, addr: &A, cookie: &Cookie, now: u64) -> bool {
        let epoch = now / self.epoch_ms;
        let same = |c: Cookie| c.iter().zip(cookie).fold(0u8, |d, (a, b)| d | (a ^ b)) == 0;
        same(self.at_epoch(addr, epoch)) || (epoch > 0 && same(self.at_epoch(addr, epoch - 1)))
    }
}

/// Addresses that proved they receive, each until it expires.
///
/// Guarantees: at most `cap` entries; an entry lives `ttl_ms` from its last
/// validation; when full, the entry closest to expiry makes room (a fresh proof
/// is worth more than an old one).
#[derive(Clone, Debug)]
pub(crate) struct Validated<A> {
    until: BTreeMap<A, u64>,
    by_expiry: BTreeSet<(u64, A)>,
    cap: usize,
    ttl_ms: u64,
}

impl<A: Address> Validated<A> {
    pub fn new(cap: usize, ttl_ms: u64) -> Self {
        Self {
            until: BTreeMap::new(),
            by_expiry: BTreeSet::new(),
            cap: cap.max(1),
            ttl_ms,
        }
    }

    pub fn len(&self) -> usize {
        self.until.len()
    }

    /// Whether `addr` has proved it receives and the proof has not expired.
    pub fn contains(&self, addr: &A, now: u64) -> bool {
        self.until.get(addr).is_some_and(|at| *at > now)
    }

    /// Records (or refreshes) a proof that `addr` receives. Returns whether an
    /// entry had to be evicted to make room.
    pub fn insert(&mut self, addr: A, now: u64) -> bool {
        self.expire(now);
        let at = now.saturating_add(self.ttl_ms);
        let mut evicted = false;
        if let Some(old) = self.until.get(&addr).copied() {
            self.by_expiry.remove(&(old, addr.clone()));
        } else if self.until.len() >= self.cap {
            if let Some((_, victim)) = self.by_expiry.pop_first() {
                self.until.remove(&victim);
                evicted = true;
            }
        }
        self.until.insert(addr.clone(), at);
        self.by_expiry.insert((at, addr));
        evicted
    }

    /// Drops proofs whose time has passed.
    pub fn expire(&mut self, now: u64) {
        while let Some((at, _)) = self.by_expiry.first() {
            if *at > now {
                break;
            }
            if let Some((_, addr)) = self.by_expiry.pop_first() {
                self.until.remove(&addr);
            }
        }
    }
}

/// One source host's token bucket.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: u32,
    /// When `tokens` was last brought up to date.
    at: u64,
    /// Last time the source was seen (the LRU order).
    seen: u64,
}

/// Token buckets per source host ([`AddressGroups::ip`]) for the queries a node
/// answers or forwards.
///
/// Guarantees: at most `cap` buckets of their own plus one shared overflow
/// bucket; a host spends at most `burst` in a burst and earns one more per
/// `refill_ms`. When the table is full, a newcomer takes over the bucket of
/// the host seen least recently only if that bucket has refilled completely
/// (an idle host: nothing is lost, it would start full anyway); otherwise the
/// newcomer spends from the overflow bucket, which all hosts without a bucket
/// share. So a flood from more hosts than `cap` gets, all together, one
/// host's rate, and cannot reset anyone's bucket by churning the table.
#[derive(Clone, Debug)]
pub(crate) struct RateLimits {
    buckets: BTreeMap<GroupKey, Bucket>,
    by_seen: BTreeSet<(u64, GroupKey)>,
    overflow: Bucket,
    cap: usize,
    burst: u32,
    refill_ms: u64,
}

impl RateLimits {
    pub fn new(cap: usize, burst: u32, refill_ms: u64) -> Self {
        Self {
            buckets: BTreeMap::new(),
            by_seen: BTreeSet::new(),
            overflow: Bucket {
                tokens: burst,
                at: 0,
                seen: 0,
            },
            cap: cap.max(1),
            burst,
            refill_ms: refill_ms.max(1),
        }
    }

    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    /// Brings `b` up to `now`.
    fn refill(&self, b: &mut Bucket, now: u64) {
        let earned = now.saturating_sub(b.at) / self.refill_ms;
        if earned > 0 {
            let earned32 = u32::try_from(earned).unwrap_or(u32::MAX);
            b.tokens = b.tokens.saturating_add(earned32).min(self.burst);
            b.at = b.at.saturating_add(earned.saturating_mul(self.refill_ms));
        }
        if b.tokens >= self.burst {
            // A full bucket earns nothing by waiting: restart its clock.
            b.at = now;
        }
    }

    /// Spends one unit of the host's allowance if it has one. Returns whether
    /// the query may be served, and whether an idle host's bucket was recycled for it.
    pub fn allow(&mut self, groups: &AddressGroups, now: u64) -> (bool, bool) {
        let key = groups.ip;
        let mut recycled = false;
        let mut b = match self.buckets.get(&key).copied() {
            Some(b) => {
                self.by_seen.remove(&(b.seen, key));
                b
            }
            None => {
                if self.buckets.len() >= self.cap {
                    let idle = self.by_seen.first().copied().filter(|(_, k)| {
                        self.buckets.get(k).is_some_and(|old| {
                            let mut old = *old;
                            self.refill(&mut old, now);
                            old.tokens >= self.burst
                        })
                    });
                    match idle {
                        Some((seen, victim)) => {
                            self.by_seen.remove(&(seen, victim));
                            self.buckets.remove(&victim);
                            recycled = true;
                        }
                        None => {
                            // No idle bucket to take: share the overflow one.
                            let mut o = self.overflow;
                            self.refill(&mut o, now);
                            let ok = o.tokens > 0;
                            o.tokens -= u32::from(ok);
                            self.overflow = o;
                            return (ok, false);
                        }
                    }
                }
                Bucket {
                    tokens: self.burst,
                    at: now,
                    seen: now,
                }
            }
        };
        self.refill(&mut b, now);
        let ok = b.tokens > 0;
        b.tokens -= u32::from(ok);
        b.seen = now;
        self.buckets.insert(key, b);
        self.by_seen.insert((now, key));
        (ok, recycled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_bind_address_and_epoch() {
        let c = Cookies::new(&[1; 32], 1000);
        let k = c.make(&7u32, 5_500);
        assert!(c.check(&7u32, &k, 5_500));
        assert!(c.check(&7u32, &k, 6_999), "valid through the next epoch");
        assert!(!c.check(&7u32, &k, 7_000), "two epochs later: stale");
        assert!(!c.check(&8u32, &k, 5_500), "another address");
        assert!(!c.check(&7u32, &k, 4_999), "not before its epoch");
        let other = Cookies::new(&[2; 32], 1000);
        assert!(!other.check(&7u32, &k, 5_500), "another node's key");
        let mut flipped = k;
        flipped[0] ^= 1;
        assert!(!c.check(&7u32, &flipped, 5_500));
    }

    #[test]
    fn validated_table_is_capped_and_expires() {
        let mut v = Validated::new(2, 100);
        assert!(!v.insert(1u32, 0));
        assert!(!v.insert(2u32, 10));
        assert!(v.contains(&1, 99) && !v.contains(&1, 100));
        assert!(v.insert(3u32, 20), "full: the entry nearest expiry goes");
        assert_eq!(v.len(), 2);
        assert!(!v.contains(&1, 20) && v.contains(&2, 20) && v.contains(&3, 20));
        assert!(!v.insert(2u32, 50), "a refresh evicts nothing");
        assert!(v.insert(4u32, 60));
        assert!(v.contains(&2, 60) && !v.contains(&3, 60), "3 expired soonest");
        v.expire(1_000);
        assert_eq!(v.len(), 0);
    }

    #[test]
    fn buckets_spend_refill_and_stay_capped() {
        let g = |n: u32| n.groups();
        let mut r = RateLimits::new(2, 2, 100);
        assert_eq!(r.allow(&g(1), 0), (true, false));
        assert_eq!(r.allow(&g(1), 0), (true, false));
        assert_eq!(r.allow(&g(1), 99), (false, false), "burst spent");
        assert_eq!(r.allow(&g(1), 100), (true, false), "one earned per 100 ms");
        assert_eq!(r.allow(&g(2), 100), (true, false), "another host has its own");
        // Full, and no bucket is idle: newcomers share the overflow bucket.
        assert_eq!(r.allow(&g(3), 110), (true, false));
        assert_eq!(r.allow(&g(4), 110), (true, false));
        assert_eq!(r.allow(&g(5), 110), (false, false), "overflow spent by 3 and 4");
        assert_eq!(r.len(), 2);
        assert_eq!(r.allow(&g(1), 150), (false, false), "1 keeps its (empty) bucket");
        // Host 2 idle long enough to be full again: its bucket is recycled.
        assert_eq!(r.allow(&g(3), 400), (true, true));
        assert_eq!(r.len(), 2);
        // A long silence earns at most the burst.
        assert!(r.allow(&g(3), 100_000).0 && r.allow(&g(3), 100_000).0);
        assert!(!r.allow(&g(3), 100_000).0);
    }
}
