//! Liveness of elected peers (docs/PROTOCOL.md §9): a ping to every elected
//! peer not contacted directly for `liveness_interval_ms`, and again
//! `recheck_ms` after a miss.
//!
//! Re-verification elections ([`super::schedule`]) are what tell whether a
//! peer still holds our ledger; a few per peer per hour are enough for that.
//! Whether it is still there at all has to be asked more often, or a departed
//! peer stays in the table for a whole re-verification period, and a ping
//! with its pong (two datagrams of about a hundred bytes) costs a fraction of
//! an election (six datagrams, two of them answers of 300–900 bytes). So the
//! elections carry the evidence and the pings fill the gaps between them.
//!
//! A pong with the ping's nonce, from the address pinged, with the peer's id
//! resets its run of misses, as a reply to a direct challenge does; silence
//! until `probe_timeout_ms` is a miss, as an unanswered direct challenge is;
//! `departed_after_misses` misses in a row, pings and challenges alike, evict
//! it as departed. Pings go through the admission table, so they share its
//! bound on probes in flight.

use super::admission::Purpose;
use super::health::Verdict;
use super::{EvictionReason, Node};
use crate::id::PeerId;
use crate::store::TokenStore;
use crate::wire::Address;

impl<A: Address, S: TokenStore> Node<A, S> {
    /// The elected peer whose ping is due first (not being pinged or
    /// challenged now), and when; `None` while the probe table is full.
    fn earliest_ping(&self) -> Option<(u64, PeerId)> {
        if self.admission.len() >= self.config.max_pending_probes {
            return None;
        }
        self.least_recently_contacted(None)
    }

    /// The elected peer whose ping is due first (contacted longest ago),
    /// other than `except`, and not being pinged or challenged now: when its
    /// ping is due, and its id (ties: smaller id).
    pub(super) fn least_recently_contacted(&self, except: Option<&PeerId>) -> Option<(u64, PeerId)> {
        let (interval, recheck) = (self.config.liveness_interval_ms, self.config.recheck_ms);
        let checks = &self.checks;
        self.elected
            .iter()
            .filter(|p| except != Some(&p.contact.id))
            .filter(|p| !self.admission.is_probing(&p.contact.id))
            .filter(|p| !checks.values().any(|c| c.peer == p.contact.id))
            .map(|p| (p.health.ping_due(interval, recheck), p.contact.id))
            .min()
    }

    /// When the next liveness ping is due, if one can be sent.
    pub(super) fn next_ping_due(&self) -> Option<u64> {
        self.earliest_ping().map(|(at, _)| at)
    }

    /// Pings every elected peer whose ping is due (earliest first, ties by id).
    pub(super) fn run_pings(&mut self, now: u64) {
        while let Some((at, peer)) = self.earliest_ping() {
            if at > now {
                break;
            }
            let Some(contact) = self.elected.get(&peer).map(|p| p.contact.clone()) else {
                break;
            };
            // Counted as contacted even if the ping could not be recorded (a
            // nonce collision): the peer is then not due again at once.
            if let Some(p) = self.elected.get_mut(&peer) {
                p.health.pinged(now);
            }
            if !self.probe(now, contact, Purpose::Elected) {
                break;
            }
        }
    }

    /// An elected peer answered its liveness ping.
    pub(super) fn peer_ponged(&mut self, peer: &PeerId) {
        if let Some(p) = self.elected.get_mut(peer) {
            p.health.ponged();
        }
    }

    /// An elected peer left its liveness ping unanswered.
    pub(super) fn peer_ping_lost(&mut self, now: u64, peer: &PeerId) {
        let limit = self.config.departed_after_misses;
        let Some(p) = self.elected.get_mut(peer) else {
            return;
        };
        if p.health.missed(limit) == Verdict::Departed {
            self.evict(now, *peer, EvictionReason::Departed);
        }
    }
}
