//! Membership (docs/PROTOCOL.md §9, §9a): who this node knows and how it
//! finds them. Answering pings and lookups, admitting proven contacts,
//! probing candidates, running lookups and the periodic refresh.
//!
//! [`Membership`] owns the contact table ([`contacts`], with its crowd
//! tracking in [`crowds`]), the probes waiting for pongs ([`admission`]), the
//! running lookups ([`discovery`]), the seed addresses, the queue of lookups
//! to start and the refresh schedule. It is the only place a contact enters
//! or leaves the table. What it learns that concerns another subsystem (a
//! liveness pong or a lost ping of an elected peer, an address proven to
//! receive) it returns to the node, which hands it on.

pub(super) mod admission;
pub(super) mod contacts;
mod crowds;
mod discovery;
#[cfg(test)]
mod tests;

use super::guard::Guard;
use super::io::Cx;
use super::metrics::Rejection;
use crate::id::{ring_distance, Distance, PeerId};
use crate::wire::{
    self, Address, AddressGroups, Contact, Envelope, FindNeighbours, Message, MessageKind, Neighbours, Ping,
    Pong, FIND_NEIGHBOURS_PADDED_LEN, REPLY_FACTOR,
};
use admission::{Admission, Probe, Purpose};
use contacts::{Admit, ContactTable, GroupCaps};
use discovery::{Discovery, Hop, Proven};
use std::collections::VecDeque;

pub use contacts::Reputation;

/// Most seed addresses remembered for asking again.
const MAX_SEEDS: usize = 16;

/// Most scale lookups queued after the self lookup.
const MAX_SCALE_LOOKUPS: usize = 8;

/// Requests a scale or random-point lookup sends (a lookup of the node's own
/// id sends up to `lookup_max_queries`).
const SHORT_LOOKUP_QUERIES: usize = 3;

/// First refresh after joining; each later one waits `2^REFRESH_GROWTH_BITS`
/// times as long, up to `refresh_interval_ms` (30 s, 4 min, 30 min, ...).
const FIRST_REFRESH_MS: u64 = 30_000;

/// Growth of the refresh wait, in bits: 3 (×8). Measured (1,000 × 60 min):
/// doubling cost 20 more messages per node-hour for the same success and
/// table sizes. (Starting at 60 s instead of 30 s saved nothing and left
/// early joiners of a star knowing only the seed for a minute.)
const REFRESH_GROWTH_BITS: u32 = 3;

/// Contacts, probes, lookups and the refresh schedule (see the module docs).
#[derive(Debug)]
pub(super) struct Membership<A> {
    contacts: ContactTable<A>,
    /// Pings waiting for pongs, and the unsolicited-probe allowance.
    admission: Admission<A>,
    /// Running lookups.
    discovery: Discovery<A>,
    /// Whether the scale lookups have been queued (after the first lookup ends).
    far_lookup_done: bool,
    /// Seed addresses given by the host (at most [`MAX_SEEDS`]), asked again
    /// by refreshes while the table is small.
    seeds: Vec<A>,
    /// Lookup targets waiting for a free lookup slot (at most a handful).
    lookup_queue: VecDeque<PeerId>,
    next_refresh_at: Option<u64>,
    /// Refreshes so far (each waits longer than the last, up to the interval).
    refreshes: u32,
}

impl<A: Address> Membership<A> {
    pub(super) fn new(config: &super::NodeConfig) -> Self {
        Self {
            contacts: ContactTable::new(
                config.membership.max_contacts,
                config.membership.contact_stale_ms,
                GroupCaps {
                    per_ip: config.membership.max_contacts_per_ip,
                    per_subnet: config.membership.max_contacts_per_subnet,
                },
            ),
            admission: Admission::new(
                config.membership.max_pending_probes,
                config.membership.probe_timeout_ms,
                config.membership.probe_burst,
                config.membership.probe_refill_ms,
            ),
            discovery: Discovery::new(
                config.membership.lookup_parallelism,
                config.membership.lookup_max_queries,
                config.membership.probe_timeout_ms,
            ),
            far_lookup_done: false,
            seeds: Vec::new(),
            lookup_queue: VecDeque::new(),
            next_refresh_at: None,
            refreshes: 0,
        }
    }

    /// The contact table (read-only: only this module changes it).
    pub(super) fn contacts(&self) -> &ContactTable<A> {
        &self.contacts
    }

    /// Whether a ping to `id` is waiting for its pong.
    pub(super) fn is_probing(&self, id: &PeerId) -> bool {
        self.admission.is_probing(id)
    }

    /// Whether the probe table has room for another ping.
    pub(super) fn can_probe(&self, config: &super::NodeConfig) -> bool {
        self.admission.len() < config.membership.max_pending_probes
    }

    /// When a probe or lookup request times out or a refresh is due.
    pub(super) fn next_deadline(&self) -> Option<u64> {
        self.admission
            .next_deadline()
            .into_iter()
            .chain(self.discovery.next_deadline())
            .chain(self.next_refresh_at)
            .min()
    }

    /// Every source address counts toward its subnet's crowd; a subnet that
    /// turns out crowded loses its contacts beyond a tenth of the table.
    pub(super) fn observe_source(
        &mut self,
        cx: &mut Cx<'_, A>,
        groups: &AddressGroups,
        sender: PeerId,
        now: u64,
    ) {
        let gone = self.contacts.observe(groups, sender, now);
        cx.out.metrics.contacts_evicted += gone.len() as u64;
    }

    /// Admits a contact the host vouches for (bootstrap, restore).
    pub(super) fn vouch(&mut self, cx: &mut Cx<'_, A>, c: Contact<A>, now: u64) {
        if self.contacts.admit(&cx.me.id, c.id, c.addr, now, true) == Admit::Added {
            cx.out.metrics.contacts_admitted += 1;
        }
    }

    /// Marks a misbehaving contact (it answered us directly with a conflicting
    /// or forged answer).
    pub(super) fn strike(&mut self, id: &PeerId) {
        if let Some(r) = self.contacts.reputation_mut(id) {
            r.strikes = r.strikes.saturating_add(1);
        }
    }

    /// A first hop of ours referred us to nobody closer to the token: struck
    /// once such dead ends outnumber twice its cluster memberships plus one
    /// (a refer-only node never takes part in a cluster; an honest node near
    /// the token mostly does).
    pub(super) fn dead_end(&mut self, id: &PeerId) -> bool {
        let Some(r) = self.contacts.reputation_mut(id) else {
            return false;
        };
        r.dead_ends = r.dead_ends.saturating_add(1);
        if r.dead_ends < r.participated.saturating_add(1).saturating_mul(2) {
            return false;
        }
        r.dead_ends = 0;
        r.strikes = r.strikes.saturating_add(1);
        true
    }

    /// Credits the members of an election's winning cluster.
    pub(super) fn credit_cluster(&mut self, members: &[PeerId], winner: &PeerId, avg_agreement: f64) {
        for m in members {
            if let Some(r) = self.contacts.reputation_mut(m) {
                r.participated = r.participated.saturating_add(1);
                r.agreement_tenths = r
                    .agreement_tenths
                    .saturating_add((avg_agreement * 10.0).round() as u32);
                if m == winner {
                    r.won = r.won.saturating_add(1);
                }
            }
        }
    }

    pub(super) fn on_ping(&mut self, cx: &mut Cx<'_, A>, now: u64, from: A, sender: PeerId, ping: Ping) {
        if ping.target != cx.me.id {
            cx.out.metrics.unsolicited_replies += 1;
            return;
        }
        let (key, pow) = (cx.key.public(), cx.key.pow_nonce());
        cx.send(
            from.clone(),
            Message::Pong(Pong {
                nonce: ping.nonce,
                key,
                pow,
            }),
        );
        // Not checked here even with a difficulty: an unsolicited ping would
        // buy an Argon2id evaluation for free. The pinger is only a candidate;
        // the pong to our own ping carries the proof that admits it.
        self.offer(cx, now, sender, from);
    }

    /// The probe a pong answers (its nonce, from the address pinged, with the
    /// id pinged), if any; counted as unsolicited otherwise.
    pub(super) fn take_probe(
        &mut self,
        cx: &mut Cx<'_, A>,
        pong: &Pong,
        from: &A,
        sender: &PeerId,
    ) -> Option<Probe<A>> {
        let probe = self.admission.answer(pong.nonce, from, sender);
        if probe.is_none() {
            cx.out.metrics.unsolicited_replies += 1;
        }
        probe
    }

    /// A probe was answered (identity checked, address validated by the
    /// caller). Returns whether it was the liveness ping of an elected peer.
    pub(super) fn probe_answered(
        &mut self,
        cx: &mut Cx<'_, A>,
        guard: &Guard<A>,
        now: u64,
        probe: Probe<A>,
        from: &A,
        sender: &PeerId,
    ) -> bool {
        match probe.purpose {
            Purpose::Admit => {
                self.admit(cx, guard, now, probe.contact);
                false
            }
            // The stale contact is alive: it keeps its slot, the newcomer waits.
            Purpose::Liveness { .. } => {
                self.contacts.touch(sender, from, now);
                false
            }
            Purpose::Elected => {
                self.contacts.touch(sender, from, now);
                true
            }
        }
    }

    pub(super) fn on_find_neighbours(
        &mut self,
        cx: &mut Cx<'_, A>,
        now: u64,
        from: A,
        sender: PeerId,
        req: FindNeighbours,
        len: usize,
    ) {
        let mut contacts =
            self.contacts
                .nearest(&req.target, cx.config.membership.neighbours_per_reply, |id| {
                    *id != sender
                });
        // Never more than REPLY_FACTOR times the request: trim the farthest.
        let limit = len.saturating_mul(REPLY_FACTOR);
        let bytes = loop {
            let env = Envelope {
                sender: cx.me.id,
                message: Message::Neighbours(Neighbours {
                    nonce: req.nonce,
                    contacts: contacts.clone(),
                }),
            };
            match wire::encode(&env) {
                Ok(b) if b.len() <= limit || contacts.is_empty() => break Some(b),
                Ok(_) => {
                    contacts.pop();
                }
                Err(_) => break None,
            }
        };
        match bytes {
            Some(b) if b.len() <= limit => cx.out.send_encoded(from.clone(), MessageKind::Neighbours, b),
            _ => cx.out.metrics.encode_errors += 1,
        }
        if req.target == sender {
            // A node looking up its own id is joining: probe it even without
            // allowance if it would be one of our nearest (its neighbourhood is
            // where routes to it end, and a popular seed must learn who joined
            // through it) or our table is still small. Far joiners are left to
            // their own neighbourhood: pinging each of them back would double a
            // join's traffic for contacts greedy routing rarely uses. Still
            // bounded: the pending table and the per-host and per-subnet caps
            // (pending probes count).
            if self.joiner_is_near(cx, &sender) {
                self.offer_with(cx, now, sender, from, false);
            } else {
                self.offer(cx, now, sender, from);
            }
        } else {
            self.offer(cx, now, sender, from);
        }
    }

    /// A `Neighbours` reply: the lookup it answers and the replier, now
    /// proven (the caller validates `from`, then calls [`Self::admit_replier`]).
    pub(super) fn on_neighbours(
        &mut self,
        cx: &mut Cx<'_, A>,
        now: u64,
        from: &A,
        sender: PeerId,
        reply: Neighbours<A>,
    ) -> Option<Proven<A>> {
        // A replier naming others in its own subnet says that subnet holds
        // many nodes: take its word for that much (it can only crowd its own
        // subnet this way, never someone else's), before admitting it.
        let own = from.groups();
        for c in &reply.contacts {
            let g = c.addr.groups();
            if g.subnet == own.subnet {
                let gone = self.contacts.observe(&g, c.id, now);
                cx.out.metrics.contacts_evicted += gone.len() as u64;
            }
        }
        let proven = self.discovery.on_reply(reply.nonce, from, sender, reply.contacts);
        if proven.is_none() {
            cx.out.metrics.unsolicited_replies += 1;
        }
        proven
    }

    /// Admits the replier of a lookup and moves its lookup on.
    pub(super) fn admit_replier(
        &mut self,
        cx: &mut Cx<'_, A>,
        guard: &Guard<A>,
        now: u64,
        proven: Proven<A>,
    ) {
        self.admit(cx, guard, now, proven.contact);
        self.advance_lookup(cx, now, proven.lookup);
    }

    /// A candidate seen in traffic (a sender, a relayed responder, a referral
    /// suggestion): pinged if it would fit, a probe slot and the allowance permit.
    pub(super) fn offer(&mut self, cx: &mut Cx<'_, A>, now: u64, id: PeerId, addr: A) {
        self.offer_with(cx, now, id, addr, true);
    }

    /// [`Self::offer`], spending the unsolicited-probe allowance only if `spend`.
    fn offer_with(&mut self, cx: &mut Cx<'_, A>, now: u64, id: PeerId, addr: A, spend: bool) {
        if id == cx.me.id || self.contacts.contains(&id) || self.admission.is_probing(&id) {
            return;
        }
        let groups = addr.groups();
        if !self
            .contacts
            .group_has_room(&groups, self.admission.pending_in(&groups))
        {
            cx.out.metrics.reject(Rejection::BeforeProbe);
            return;
        }
        if self.contacts.len() >= cx.config.membership.max_contacts {
            return;
        }
        if self.admission.len() >= cx.config.membership.max_pending_probes
            || (spend && !self.admission.take_allowance(now))
        {
            cx.out.metrics.candidates_dropped += 1;
            return;
        }
        let _ = self.probe(cx, now, Contact { id, addr }, Purpose::Admit);
    }

    /// Sends a ping to `contact` for `purpose`. Returns whether it went out.
    pub(super) fn probe(
        &mut self,
        cx: &mut Cx<'_, A>,
        now: u64,
        contact: Contact<A>,
        purpose: Purpose<A>,
    ) -> bool {
        let nonce = cx.rng.next_u64();
        let to = contact.addr.clone();
        let target = contact.id;
        if self.admission.start(nonce, contact, purpose, now) {
            cx.out.metrics.probes_sent += 1;
            let (key, pow) = (cx.key.public(), cx.key.pow_nonce());
            cx.send(
                to,
                Message::Ping(Ping {
                    nonce,
                    target,
                    key,
                    pow,
                }),
            );
            true
        } else {
            false
        }
    }

    /// Whether `id` would be among our `neighbours_per_reply` nearest
    /// contacts, or the table holds fewer than twice that.
    fn joiner_is_near(&self, cx: &Cx<'_, A>, id: &PeerId) -> bool {
        let k = cx.config.membership.neighbours_per_reply.max(1);
        if self.contacts.len() < 2 * k {
            return true;
        }
        let me = cx.me.id;
        let near = self.contacts.nearest(&me, k, |_| true);
        match near.last() {
            Some(far) if near.len() >= k => ring_distance(&me, id) < ring_distance(&me, &far.id),
            _ => true,
        }
    }

    /// Enters a proven contact into the table, within the caps.
    pub(super) fn admit(&mut self, cx: &mut Cx<'_, A>, guard: &Guard<A>, now: u64, c: Contact<A>) {
        if !guard.may_admit(&c.id) {
            // No proof of work seen yet: its pong (which carries it) decides.
            return self.offer_with(cx, now, c.id, c.addr, false);
        }
        match self.contacts.admit(&cx.me.id, c.id, c.addr.clone(), now, false) {
            Admit::Known => {}
            Admit::Added => cx.out.metrics.contacts_admitted += 1,
            Admit::GroupFull => cx.out.metrics.reject(Rejection::GroupFull),
            Admit::Full => cx.out.metrics.reject(Rejection::TableFull),
            Admit::CheckFirst(victim) => {
                if self.admission.is_probing(&victim.id)
                    || self.admission.len() >= cx.config.membership.max_pending_probes
                {
                    cx.out.metrics.reject(Rejection::TableFull);
                } else {
                    let _ = self.probe(cx, now, victim, Purpose::Liveness { newcomer: c });
                }
            }
        }
    }

    /// Probes that timed out, oldest first. The caller hands each to
    /// [`Self::probe_lost`] (or, for an elected peer's ping, to the health
    /// subsystem) in order.
    pub(super) fn expired_probes(&mut self, cx: &mut Cx<'_, A>, now: u64) -> Vec<Probe<A>> {
        let expired = self.admission.expire(now);
        cx.out.metrics.probes_timed_out += expired.len() as u64;
        expired
    }

    /// An admission or liveness probe went unanswered: an unanswered
    /// liveness check evicts its contact and admits the newcomer that waited
    /// for the slot.
    pub(super) fn probe_lost(&mut self, cx: &mut Cx<'_, A>, guard: &Guard<A>, now: u64, probe: Probe<A>) {
        match probe.purpose {
            Purpose::Liveness { newcomer } => {
                if self.contacts.remove(&probe.contact.id) {
                    cx.out.metrics.contacts_evicted += 1;
                }
                self.admit(cx, guard, now, newcomer);
            }
            Purpose::Elected | Purpose::Admit => {}
        }
    }

    /// Queues the scale lookups (see [`Self::run`]).
    fn queue_scale_lookups(&mut self, me: PeerId) {
        let nearest = self
            .contacts
            .nearest(&me, 1, |_| true)
            .first()
            .map_or(Distance::ZERO, |c| ring_distance(&me, &c.id));
        let power = |bit: usize| {
            let mut d = [0u8; 32];
            d[31 - bit / 8] = 1 << (bit % 8);
            Distance(d)
        };
        let mut clockwise = true;
        let mut bit = 255usize;
        // Down to the arc of 4 neighbour gaps, which the self lookup covered.
        while bit >= 2 && power(bit - 2) > nearest && self.lookup_queue.len() < MAX_SCALE_LOOKUPS {
            let d = power(bit);
            self.lookup_queue
                .push_back(if clockwise { me.add(&d) } else { me.sub(&d) });
            clockwise = !clockwise;
            bit -= 2;
        }
    }

    /// Starts a lookup of `target` from the nearest admitted contacts plus `seeds`.
    fn start_lookup(&mut self, cx: &mut Cx<'_, A>, now: u64, target: PeerId, seeds: Vec<A>) {
        let max = cx.config.membership.lookup_max_queries;
        self.start_lookup_bounded(cx, now, target, seeds, max);
    }

    fn start_lookup_bounded(
        &mut self,
        cx: &mut Cx<'_, A>,
        now: u64,
        target: PeerId,
        seeds: Vec<A>,
        max_queries: usize,
    ) {
        let mut start: Vec<Hop<A>> = seeds.into_iter().map(|addr| Hop { id: None, addr }).collect();
        let near = self
            .contacts
            .nearest(&target, 2 * cx.config.membership.lookup_parallelism, |_| true);
        start.extend(near.into_iter().map(|c| Hop {
            id: Some(c.id),
            addr: c.addr,
        }));
        if let Some(l) = self.discovery.start(&cx.me.id, target, start, max_queries) {
            cx.out.metrics.lookups_started += 1;
            self.advance_lookup(cx, now, l);
        }
    }

    /// Sends whatever requests lookup `l` may send now.
    fn advance_lookup(&mut self, cx: &mut Cx<'_, A>, now: u64, l: u64) {
        for (target, hop) in self.discovery.due(l) {
            // A named candidate whose host or subnet is full could not be
            // admitted anyway: do not spend a request on it.
            let groups = hop.addr.groups();
            let known = hop.id.is_none_or(|id| self.contacts.contains(&id));
            if !known
                && !self
                    .contacts
                    .group_has_room(&groups, self.admission.pending_in(&groups))
            {
                cx.out.metrics.reject(Rejection::BeforeProbe);
                continue;
            }
            let nonce = cx.rng.next_u64();
            let to = hop.addr.clone();
            if self.discovery.sent(nonce, l, hop, now) {
                let base: Envelope<A> = Envelope {
                    sender: cx.me.id,
                    message: Message::FindNeighbours(FindNeighbours {
                        target,
                        nonce,
                        padding: Vec::new(),
                    }),
                };
                let unpadded = wire::encode(&base).map_or(0, |b| b.len());
                // `unpadded` already counts the padding's one-byte length prefix
                // (the padding stays below 128 bytes, so the prefix stays one byte).
                let pad = FIND_NEIGHBOURS_PADDED_LEN.saturating_sub(unpadded);
                let req = FindNeighbours {
                    target,
                    nonce,
                    padding: vec![0; pad],
                };
                cx.send(to, Message::FindNeighbours(req));
            }
        }
    }

    /// Lookup timeouts, lookups that can move on, the periodic refresh.
    /// (Probe timeouts come first, through [`Self::expired_probes`].)
    pub(super) fn run(&mut self, cx: &mut Cx<'_, A>, now: u64) {
        for l in self.discovery.expire(now) {
            self.advance_lookup(cx, now, l);
        }
        let ended = self.discovery.finish_idle();
        let me = cx.me.id;
        for f in ended.iter().filter(|f| f.target == me) {
            // The nearest names a lookup of our own id heard but never asked
            // are our likeliest neighbours (a converged lookup asks only a few
            // of them): prove them with a ping each, as asked-for names, not
            // from the unsolicited allowance. Without this a joiner knows a
            // third of the nodes its store overlaps and its burst keeps
            // re-electing the same few.
            for c in f.unasked.iter().take(cx.config.membership.neighbours_per_reply) {
                self.offer_with(cx, now, c.id, c.addr.clone(), false);
            }
        }
        if !ended.is_empty() && !self.far_lookup_done {
            // After the first lookup (our own id), short lookups at distances
            // 2^255, 2^253, ... down to a few times the nearest neighbour's, on
            // alternate sides: the table then spans the ring at every scale,
            // which is what greedy routing needs.
            self.far_lookup_done = true;
            self.queue_scale_lookups(me);
        }
        while self.discovery.running() < 2 {
            let Some(target) = self.lookup_queue.pop_front() else {
                break;
            };
            self.start_lookup_bounded(cx, now, target, Vec::new(), SHORT_LOOKUP_QUERIES);
        }
        if self.next_refresh_at.is_some_and(|at| at <= now) {
            self.schedule_refresh(cx, now);
            // Our own neighbourhood again (tables everywhere fill as the network
            // forms, so a later lookup finds neighbours an early one could not).
            // While the table is still small the seeds are asked again: a lost
            // request or reply must not leave a node alone for good.
            let seeds = if self.contacts.len() < cx.config.membership.neighbours_per_reply {
                self.seeds.clone()
            } else {
                Vec::new()
            };
            // Only our own neighbourhood: far contacts come from the scale
            // lookups at the start and, for free, from election traffic (a
            // random-point lookup per refresh cost 36 messages per node-hour
            // and changed neither success nor table sizes; see docs/RESULTS.md).
            self.start_lookup(cx, now, me, seeds);
        }
    }

    /// Starts the node's first lookup (its own id), once it knows someone.
    pub(super) fn join(&mut self, cx: &mut Cx<'_, A>, now: u64, seeds: Vec<A>) {
        if self.next_refresh_at.is_none() {
            self.schedule_refresh(cx, now);
        }
        for s in &seeds {
            if self.seeds.len() < MAX_SEEDS && !self.seeds.contains(s) {
                self.seeds.push(s.clone());
            }
        }
        let me = cx.me.id;
        self.start_lookup(cx, now, me, seeds);
    }

    /// The next refresh: 30 s after joining, then eight times as long
    /// each time up to `refresh_interval_ms` (a network forming at once fills
    /// in quickly, a settled one is refreshed rarely).
    fn schedule_refresh(&mut self, cx: &Cx<'_, A>, now: u64) {
        let wait = FIRST_REFRESH_MS
            .saturating_mul(1u64 << (REFRESH_GROWTH_BITS * self.refreshes.min(8)))
            .min(cx.config.membership.refresh_interval_ms);
        self.refreshes = self.refreshes.saturating_add(1);
        self.next_refresh_at = Some(now.saturating_add(wait));
    }
}
