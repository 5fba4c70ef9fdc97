//! What runs when the clock moves: timeouts of every subsystem, the
//! scheduler's slots, overdue challenges and liveness pings, in that order.
//!
//! Every input ends here ([`Node::run_due`]), so a subsystem's deadline is
//! met whatever input arrives first, and a spurious timer changes nothing.

use super::health::Slot;
use super::membership::admission::Purpose;
use super::{ElectionPurpose, Event, EvictionReason, Node};
use crate::store::TokenStore;
use crate::wire::Address;

impl<A: Address, S: TokenStore> Node<A, S> {
    /// Does everything that is due: expiries, probe and channel timeouts,
    /// verdicts, the scheduler.
    pub(super) fn run_due(&mut self, now: u64) {
        self.expire_routes(now);
        self.guard.expire(now);
        self.expire_probes(now);
        self.membership.run(&mut cx!(self), now);
        for token in self.elections.due(now, &self.config) {
            let expiry = self.elections.expire(now, token, &self.config);
            self.out.metrics.channel_timeouts += expiry.timed_out as u64;
            if expiry.replace > 0 {
                self.open_channels(now, token, expiry.replace);
            }
            self.evaluate(now, token);
        }
        if self.health.take_slot(&mut cx!(self), now) {
            self.scheduled_election(now);
        }
        // Last: the elections that just ended may have freed a slot for an
        // overdue challenge (the deadline asked for next must not be past),
        // and peers just challenged need no ping.
        while let Some(peer) = self.health.overdue_check(&self.config, self.elections.len(), now) {
            self.start_check(now, peer);
        }
        while let Some(contact) = self.health.take_due_ping(&self.config, &self.membership, now) {
            if !self
                .membership
                .probe(&mut cx!(self), now, contact, Purpose::Elected)
            {
                break;
            }
        }
    }

    /// Probes that timed out, in order: an elected peer's lost ping is
    /// evidence for the health subsystem; any other is membership's.
    fn expire_probes(&mut self, now: u64) {
        for probe in self.membership.expired_probes(&mut cx!(self), now) {
            match probe.purpose {
                Purpose::Elected => {
                    let peer = probe.contact.id;
                    if self.health.ping_lost(&self.config, now, &peer) {
                        self.out.emit(Event::PeerEvicted {
                            peer,
                            reason: EvictionReason::Departed,
                        });
                    }
                }
                Purpose::Admit | Purpose::Liveness { .. } => {
                    self.membership
                        .probe_lost(&mut cx!(self), &self.guard, now, probe);
                }
            }
        }
    }

    /// The slot's election, as the health subsystem plans it.
    fn scheduled_election(&mut self, now: u64) {
        let slot = self.health.plan_slot(
            &mut cx!(self),
            &self.store,
            self.membership.contacts(),
            self.elections.len(),
            now,
        );
        match slot {
            Slot::Check(peer) => self.start_check(now, peer),
            Slot::Discover(token) => self.start_election(now, token, ElectionPurpose::Discover, Vec::new()),
            Slot::NoToken => self.no_token(),
            Slot::Skip => {}
        }
    }
}
