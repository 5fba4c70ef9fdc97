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

use super::{Health, Membership};
use crate::id::PeerId;
use crate::node::NodeConfig;
use crate::wire::Address;

impl<A: Address> Health<A> {
    /// The elected peer whose ping is due first (not being pinged or
    /// challenged now), and when; `None` while the probe table is full.
    pub(super) fn earliest_ping(
        &self,
        config: &NodeConfig,
        membership: &Membership<A>,
    ) -> Option<(u64, PeerId)> {
        if !membership.can_probe(config) {
            return None;
        }
        self.least_recently_contacted(config, membership, None)
    }

    /// The elected peer whose ping is due first (contacted longest ago),
    /// other than `except`, and not being pinged or challenged now: when its
    /// ping is due, and its id (ties: smaller id).
    pub(super) fn least_recently_contacted(
        &self,
        config: &NodeConfig,
        membership: &Membership<A>,
        except: Option<&PeerId>,
    ) -> Option<(u64, PeerId)> {
        let (interval, recheck) = (config.health.liveness_interval_ms, config.health.recheck_ms);
        let checks = &self.checks;
        self.elected
            .iter()
            .filter(|p| except != Some(&p.contact.id))
            .filter(|p| !membership.is_probing(&p.contact.id))
            .filter(|p| !checks.values().any(|c| c.peer == p.contact.id))
            .map(|p| (p.health.ping_due(interval, recheck), p.contact.id))
            .min()
    }

    /// When the next liveness ping is due, if one can be sent.
    pub(crate) fn next_ping_due(&self, config: &NodeConfig, membership: &Membership<A>) -> Option<u64> {
        self.earliest_ping(config, membership).map(|(at, _)| at)
    }
}
