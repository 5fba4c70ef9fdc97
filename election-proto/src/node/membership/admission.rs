//! Admission probes (docs/PROTOCOL.md §9): the pings this node has sent and
//! waits on, and the allowance that limits pings to candidates it did not ask for.
//!
//! A candidate becomes a contact only by answering a [`Ping`](crate::wire::Ping)
//! whose nonce this node drew from its seeded rng, from the address the ping
//! went to, with the id the ping named. The same probe checks that a stale
//! contact is still alive before a newcomer may replace it in a full table.

use crate::id::PeerId;
use crate::mem::release_if_empty;
use crate::wire::{Address, AddressGroups, Contact};
use std::collections::BTreeMap;

/// Why a probe was sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Purpose<A> {
    /// Admit the probed candidate if it answers.
    Admit,
    /// The probed contact is the stalest of a full table: if it does not
    /// answer it is evicted and `newcomer` (already proven) takes its place.
    Liveness {
        /// The proven contact waiting for the slot.
        newcomer: Contact<A>,
    },
    /// The probed contact is an elected peer not heard from for a while
    /// (see [`super::liveness`]).
    Elected,
}

/// One ping waiting for its pong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Probe<A> {
    /// Who was pinged, where.
    pub contact: Contact<A>,
    /// Its address's groups (for the pending count per group).
    pub groups: AddressGroups,
    /// When the ping went out.
    pub sent_at: u64,
    /// What to do with the answer.
    pub purpose: Purpose<A>,
}

/// Pending probes, keyed by nonce, and the unsolicited-probe allowance.
///
/// Guarantees: at most `cap` probes pending, at most one per id; a probe is
/// answered only by a pong with its nonce from its address and id; every
/// probe leaves after `timeout_ms` at the latest; the allowance never exceeds
/// `burst` and grows by one per `refill_ms`.
#[derive(Clone, Debug)]
pub(crate) struct Admission<A> {
    probes: BTreeMap<u64, Probe<A>>,
    cap: usize,
    timeout_ms: u64,
    allowance: u32,
    burst: u32,
    refill_ms: u64,
    refilled_at: Option<u64>,
}

impl<A: Address> Admission<A> {
    pub fn new(cap: usize, timeout_ms: u64, burst: u32, refill_ms: u64) -> Self {
        Self {
            probes: BTreeMap::new(),
            cap,
            timeout_ms,
            allowance: burst,
            burst,
            refill_ms: refill_ms.max(1),
            refilled_at: None,
        }
    }

    pub fn len(&self) -> usize {
        self.probes.len()
    }

    /// Whether `id` is being probed now.
    pub fn is_probing(&self, id: &PeerId) -> bool {
        self.probes.values().any(|p| p.contact.id == *id)
    }

    /// Pending probes to the host and to the subnet of `groups`.
    pub fn pending_in(&self, groups: &AddressGroups) -> (usize, usize) {
        let ip = self.probes.values().filter(|p| p.groups.ip == groups.ip).count();
        let subnet = self
            .probes
            .values()
            .filter(|p| p.groups.subnet == groups.subnet)
            .count();
        (ip, subnet)
    }

    /// Takes one unit of the unsolicited-probe allowance, if there is one.
    pub fn take_allowance(&mut self, now: u64) -> bool {
        let since = *self.refilled_at.get_or_insert(now);
        let earned = now.saturating_sub(since) / self.refill_ms;
        if earned > 0 {
            let earned = u32::try_from(earned).unwrap_or(u32::MAX);
            self.allowance = self.allowance.saturating_add(earned).min(self.burst);
            self.refilled_at = Some(since.saturating_add(u64::from(earned) * self.refill_ms));
        }
        if self.allowance == 0 {
            return false;
        }
        self.allowance -= 1;
        true
    }

    /// Records a ping with `nonce` to `contact`. `false` (nothing recorded) if
    /// the table is full, the nonce is in use or `contact` is already probed.
    pub fn start(&mut self, nonce: u64, contact: Contact<A>, purpose: Purpose<A>, now: u64) -> bool {
        if self.probes.len() >= self.cap || self.probes.contains_key(&nonce) || self.is_probing(&contact.id) {
            return false;
        }
        let groups = contact.addr.groups();
        self.probes.insert(
            nonce,
            Probe {
                contact,
                groups,
                sent_at: now,
                purpose,
            },
        );
        true
    }

    /// A pong with `nonce` came from `from`, sent by `sender`: the probe it
    /// answers, if it matches one (it then leaves the table).
    pub fn answer(&mut self, nonce: u64, from: &A, sender: &PeerId) -> Option<Probe<A>> {
        let p = self.probes.get(&nonce)?;
        if p.contact.addr != *from || p.contact.id != *sender {
            return None;
        }
        let p = self.probes.remove(&nonce);
        release_if_empty(&mut self.probes);
        p
    }

    /// Removes and returns the probes unanswered for `timeout_ms`, in nonce order.
    pub fn expire(&mut self, now: u64) -> Vec<Probe<A>> {
        let late: Vec<u64> = self
            .probes
            .iter()
            .filter(|(_, p)| now >= p.sent_at.saturating_add(self.timeout_ms))
            .map(|(n, _)| *n)
            .collect();
        let late = late.into_iter().filter_map(|n| self.probes.remove(&n)).collect();
        release_if_empty(&mut self.probes);
        late
    }

    /// When the oldest probe times out.
    pub fn next_deadline(&self) -> Option<u64> {
        self.probes
            .values()
            .map(|p| p.sent_at.saturating_add(self.timeout_ms))
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(n: u64, addr: u32) -> Contact<u32> {
        Contact {
            id: PeerId::from_u64(n),
            addr,
        }
    }

    #[test]
    fn a_pong_must_match_nonce_address_and_id() {
        let mut a = Admission::new(4, 100, 8, 1000);
        assert!(a.start(7, c(1, 10), Purpose::Admit, 0));
        assert_eq!(a.answer(8, &10, &PeerId::from_u64(1)), None, "wrong nonce");
        assert_eq!(a.answer(7, &11, &PeerId::from_u64(1)), None, "wrong address");
        assert_eq!(a.answer(7, &10, &PeerId::from_u64(2)), None, "wrong id");
        let p = a.answer(7, &10, &PeerId::from_u64(1)).unwrap();
        assert_eq!(p.contact, c(1, 10));
        assert_eq!(a.answer(7, &10, &PeerId::from_u64(1)), None, "answered once");
        assert_eq!(a.len(), 0);
    }

    #[test]
    fn table_is_capped_deduplicated_and_expires() {
        let mut a = Admission::new(2, 100, 8, 1000);
        assert!(a.start(1, c(1, 1), Purpose::Admit, 0));
        assert!(!a.start(2, c(1, 1), Purpose::Admit, 0), "same id twice");
        assert!(!a.start(1, c(2, 2), Purpose::Admit, 0), "nonce in use");
        assert!(a.start(2, c(2, 2), Purpose::Admit, 50));
        assert!(!a.start(3, c(3, 3), Purpose::Admit, 50), "full");
        assert_eq!(a.next_deadline(), Some(100));
        assert_eq!(a.pending_in(&1u32.groups()), (1, 1));
        let late = a.expire(100);
        assert_eq!(late.len(), 1);
        assert_eq!(late[0].contact, c(1, 1));
        assert_eq!(a.next_deadline(), Some(150));
        assert!(a.start(3, c(3, 3), Purpose::Admit, 100));
    }

    #[test]
    fn allowance_spends_and_refills_up_to_the_burst() {
        let mut a: Admission<u32> = Admission::new(4, 100, 2, 1000);
        assert!(a.take_allowance(0));
        assert!(a.take_allowance(10));
        assert!(!a.take_allowance(999));
        assert!(a.take_allowance(1000), "one earned after 1000 ms");
        assert!(!a.take_allowance(1500));
        // A long silence earns at most the burst.
        assert!(a.take_allowance(100_000));
        assert!(a.take_allowance(100_000));
        assert!(!a.take_allowance(100_000));
    }
}
