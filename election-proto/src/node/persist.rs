//! Persistence of the peer tables: a snapshot out, a snapshot back in.
//!
//! The tables belong to membership (contacts) and health (elected peers);
//! this is only the node-level glue that reads them out and hands restored
//! entries back to their owners.

use super::{Node, PeerSnapshot, SNAPSHOT_VERSION};
use crate::store::TokenStore;
use crate::wire::Address;

impl<A: Address, S: TokenStore> Node<A, S> {
    /// The peer tables, for persistence.
    pub fn snapshot(&self) -> PeerSnapshot<A> {
        PeerSnapshot {
            version: SNAPSHOT_VERSION,
            contacts: self.contacts().collect(),
            elected: self.health.peers().cloned().collect(),
        }
    }

    /// Restores peer tables from a snapshot, within this node's caps. Returns the
    /// number of elected peers restored. Entries naming this node are skipped.
    ///
    /// Timestamps (`elected_at`, `last_election`) are kept as saved, so the host
    /// must continue the same monotonic timeline across restarts (e.g. start its
    /// clock at the time the snapshot was taken) for eviction order to stay meaningful.
    ///
    /// Restored peers keep their evidence but start on probation
    /// ([`PeerState::Probation`](super::PeerState::Probation)) and due now, so they are re-verified before
    /// anything else is scheduled. Snapshots of version 1 (no evidence) load too.
    pub fn restore(&mut self, snapshot: PeerSnapshot<A>) -> usize {
        let now = self.now_ms;
        for c in snapshot.contacts {
            self.membership.vouch(&mut cx!(self), c, now);
        }
        let mut restored = 0;
        for p in snapshot.elected {
            if p.contact.id == self.me.id {
                continue;
            }
            self.membership.vouch(&mut cx!(self), p.contact.clone(), now);
            if self.health.restore(now, p) {
                restored += 1;
            }
        }
        restored
    }
}
