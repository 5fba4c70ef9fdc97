//! The guard: what this node knows about the addresses and identities that
//! talk to it, and the budgets that bound what they can make it do.
//!
//! It owns the address-validation cookies and the set of addresses proven to
//! receive ([`validation`]), the per-host query rate limits, and the cache of
//! identity proof-of-work checks ([`proven`]). It sends nothing and decides
//! nothing about elections or contacts: it answers "may I?" and remembers
//! "this was proven".

mod proven;
mod validation;

use super::{Metrics, NodeConfig};
use crate::id::PeerId;
use crate::keys::PublicKey;
use crate::wire::{Address, AddressGroups, Cookie};
use proven::ProvenIdentities;
use validation::{Cookies, RateLimits, Validated};

/// Validation, rate limits and proven identities (see the module docs).
#[derive(Debug)]
pub(super) struct Guard<A> {
    cookies: Cookies,
    /// Addresses proven to receive, beyond the contact table's.
    validated: Validated<A>,
    /// Per-source-host budgets for answered and forwarded queries.
    rate_limits: RateLimits,
    /// Proof-of-work results per peer (used when `pow_difficulty > 0`).
    proven: ProvenIdentities,
    /// Identity proof-of-work difficulty peers must meet (0: none).
    pow_bits: u8,
}

impl<A: Address> Guard<A> {
    pub(super) fn new(config: &NodeConfig, seed: &[u8; 32]) -> Self {
        Self {
            cookies: Cookies::new(seed, config.guard.cookie_epoch_ms),
            validated: Validated::new(
                config.guard.max_validated_addresses,
                config.guard.validated_ttl_ms,
            ),
            rate_limits: RateLimits::new(
                config.guard.max_rate_limited_hosts,
                config.guard.query_rate_burst,
                config.guard.query_rate_refill_ms,
            ),
            proven: ProvenIdentities::new(config.membership.max_contacts.saturating_mul(2)),
            pow_bits: config.guard.pow_difficulty,
        }
    }

    /// Addresses remembered as validated.
    pub(super) fn validated_len(&self) -> usize {
        self.validated.len()
    }

    /// Source hosts with a rate-limit bucket of their own.
    pub(super) fn rate_limited_len(&self) -> usize {
        self.rate_limits.len()
    }

    /// Whether `addr` proved recently that it receives (the contact table's
    /// own addresses are checked by the caller).
    pub(super) fn is_validated(&self, addr: &A, now: u64) -> bool {
        self.validated.contains(addr, now)
    }

    /// Records that `addr` proved it receives (a round trip came back from it).
    pub(super) fn validate(&mut self, metrics: &mut Metrics, addr: A, now: u64) {
        metrics.addresses_validated += 1;
        if self.validated.insert(addr, now) {
            metrics.validated_evictions += 1;
        }
    }

    /// Forgets validations past their lifetime.
    pub(super) fn expire(&mut self, now: u64) {
        self.validated.expire(now);
    }

    /// A cookie only `addr` can return (it is sent nowhere else).
    pub(super) fn cookie(&self, addr: &A, now: u64) -> Cookie {
        self.cookies.make(addr, now)
    }

    /// Whether `cookie` is ours for `addr` (this epoch or the last).
    pub(super) fn cookie_is_valid(&self, addr: &A, cookie: &Cookie, now: u64) -> bool {
        self.cookies.check(addr, cookie, now)
    }

    /// Spends one query from the budget of `groups`' host: whether it may be
    /// served. Counts refusals and bucket evictions.
    pub(super) fn allow_query(&mut self, metrics: &mut Metrics, groups: &AddressGroups, now: u64) -> bool {
        let (allowed, evicted) = self.rate_limits.allow(groups, now);
        metrics.rate_limit_evictions += u64::from(evicted);
        if !allowed {
            metrics.queries_rate_limited += 1;
        }
        allowed
    }

    /// Whether `key`, with proof-of-work `nonce`, may speak for `id` under the
    /// configured difficulty (always, without one). Counts rejections.
    pub(super) fn identity_ok(
        &mut self,
        metrics: &mut Metrics,
        id: &PeerId,
        key: &PublicKey,
        nonce: u64,
    ) -> bool {
        let ok = self.pow_bits == 0 || self.proven.check(id, key, nonce, self.pow_bits);
        if !ok {
            metrics.identities_rejected += 1;
        }
        ok
    }

    /// Whether `id` may enter the contact table: no proof of work is asked
    /// for, or its proof has been checked.
    pub(super) fn may_admit(&self, id: &PeerId) -> bool {
        self.pow_bits == 0 || self.proven.is_proven(id)
    }
}
