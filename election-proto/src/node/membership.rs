//! Membership (docs/PROTOCOL.md §9): answering pings and lookups, admitting
//! proven contacts, probing candidates, and running lookups.
//!
//! The tables are owned elsewhere ([`super::contacts`], [`super::admission`],
//! [`super::discovery`]); this module carries out what they decide and is the
//! only place a contact enters the table.

use super::admission::Purpose;
use super::contacts::Admit;
use super::discovery::Hop;
use super::metrics::Rejection;
use super::Node;
use crate::id::{ring_distance, Distance, PeerId};

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
use crate::store::TokenStore;
use crate::wire::{
    self, Address, Contact, Envelope, FindNeighbours, Message, Neighbours, Ping, Pong,
    FIND_NEIGHBOURS_PADDED_LEN, REPLY_FACTOR,
};

impl<A: Address, S: TokenStore> Node<A, S> {
    pub(super) fn on_ping(&mut self, now: u64, from: A, sender: PeerId, ping: Ping) {
        if ping.target != self.me.id {
            self.metrics.unsolicited_replies += 1;
            return;
        }
        let (key, pow) = (self.key.public(), self.key.pow_nonce());
        self.send(
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
        self.offer(now, sender, from);
    }

    pub(super) fn on_pong(&mut self, now: u64, from: A, sender: PeerId, pong: Pong) {
        let Some(probe) = self.admission.answer(pong.nonce, &from, &sender) else {
            self.metrics.unsolicited_replies += 1;
            return;
        };
        // Wire v2 identity price: with a difficulty, the key must be the id's and carry its proof.
        let bits = self.config.pow_difficulty;
        if bits > 0 && !self.proven.check(&sender, &pong.key, pong.pow, bits) {
            self.metrics.identities_rejected += 1;
            return;
        }
        self.validate(from.clone(), now);
        match probe.purpose {
            Purpose::Admit => self.admit(now, probe.contact),
            // The stale contact is alive: it keeps its slot, the newcomer waits.
            Purpose::Liveness { .. } => self.contacts.touch(&sender, &from, now),
            Purpose::Elected => {
                self.contacts.touch(&sender, &from, now);
                self.peer_ponged(&sender);
            }
        }
    }

    pub(super) fn on_find_neighbours(
        &mut self,
        now: u64,
        from: A,
        sender: PeerId,
        req: FindNeighbours,
        len: usize,
    ) {
        let mut contacts = self
            .contacts
            .nearest(&req.target, self.config.neighbours_per_reply, |id| *id != sender);
        // Never more than REPLY_FACTOR times the request: trim the farthest.
        let limit = len.saturating_mul(REPLY_FACTOR);
        let bytes = loop {
            let env = Envelope {
                sender: self.me.id,
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
            Some(b) if b.len() <= limit => {
                self.metrics.sent.add(wire::MessageKind::Neighbours, b.len());
                self.outputs.push_back(super::Output::Send {
                    to: from.clone(),
                    bytes: b,
                });
            }
            _ => self.metrics.encode_errors += 1,
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
            if self.joiner_is_near(&sender) {
                self.offer_with(now, sender, from, false);
            } else {
                self.offer(now, sender, from);
            }
        } else {
            self.offer(now, sender, from);
        }
    }

    pub(super) fn on_neighbours(&mut self, now: u64, from: A, sender: PeerId, reply: Neighbours<A>) {
        // A replier naming others in its own subnet says that subnet holds
        // many nodes: take its word for that much (it can only crowd its own
        // subnet this way, never someone else's), before admitting it.
        let own = from.groups();
        for c in &reply.contacts {
            let g = c.addr.groups();
            if g.subnet == own.subnet {
                let gone = self.contacts.observe(&g, c.id, now);
                self.metrics.contacts_evicted += gone.len() as u64;
            }
        }
        let Some(proven) = self
            .discovery
            .on_reply(reply.nonce, &from, sender, reply.contacts)
        else {
            self.metrics.unsolicited_replies += 1;
            return;
        };
        self.validate(from, now);
        self.admit(now, proven.contact);
        self.advance_lookup(now, proven.lookup);
    }

    /// A candidate seen in traffic (a sender, a relayed responder, a referral
    /// suggestion): pinged if it would fit, a probe slot and the allowance permit.
    pub(super) fn offer(&mut self, now: u64, id: PeerId, addr: A) {
        self.offer_with(now, id, addr, true);
    }

    /// [`Self::offer`], spending the unsolicited-probe allowance only if `spend`.
    fn offer_with(&mut self, now: u64, id: PeerId, addr: A, spend: bool) {
        if id == self.me.id || self.contacts.contains(&id) || self.admission.is_probing(&id) {
            return;
        }
        let groups = addr.groups();
        if !self
            .contacts
            .group_has_room(&groups, self.admission.pending_in(&groups))
        {
            self.metrics.reject(Rejection::BeforeProbe);
            return;
        }
        if self.contacts.len() >= self.config.max_contacts {
            return;
        }
        if self.admission.len() >= self.config.max_pending_probes
            || (spend && !self.admission.take_allowance(now))
        {
            self.metrics.candidates_dropped += 1;
            return;
        }
        let _ = self.probe(now, Contact { id, addr }, Purpose::Admit);
    }

    /// Sends a ping to `contact` for `purpose`. Returns whether it went out.
    pub(super) fn probe(&mut self, now: u64, contact: Contact<A>, purpose: Purpose<A>) -> bool {
        let nonce = self.rng.next_u64();
        let to = contact.addr.clone();
        let target = contact.id;
        if self.admission.start(nonce, contact, purpose, now) {
            self.metrics.probes_sent += 1;
            let (key, pow) = (self.key.public(), self.key.pow_nonce());
            self.send(
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
    fn joiner_is_near(&self, id: &PeerId) -> bool {
        let k = self.config.neighbours_per_reply.max(1);
        if self.contacts.len() < 2 * k {
            return true;
        }
        let me = self.me.id;
        let near = self.contacts.nearest(&me, k, |_| true);
        match near.last() {
            Some(far) if near.len() >= k => ring_distance(&me, id) < ring_distance(&me, &far.id),
            _ => true,
        }
    }

    /// Enters a proven contact into the table, within the caps.
    pub(super) fn admit(&mut self, now: u64, c: Contact<A>) {
        if self.config.pow_difficulty > 0 && !self.proven.is_proven(&c.id) {
            // No proof of work seen yet: its pong (which carries it) decides.
            return self.offer_with(now, c.id, c.addr, false);
        }
        match self.contacts.admit(&self.me.id, c.id, c.addr.clone(), now, false) {
            Admit::Known => {}
            Admit::Added => self.metrics.contacts_admitted += 1,
            Admit::GroupFull => self.metrics.reject(Rejection::GroupFull),
            Admit::Full => self.metrics.reject(Rejection::TableFull),
            Admit::CheckFirst(victim) => {
                if self.admission.is_probing(&victim.id)
                    || self.admission.len() >= self.config.max_pending_probes
                {
                    self.metrics.reject(Rejection::TableFull);
                } else {
                    let _ = self.probe(now, victim, Purpose::Liveness { newcomer: c });
                }
            }
        }
    }

    /// Probes that timed out: an unanswered liveness check evicts its contact
    /// and admits the newcomer that waited for the slot.
    pub(super) fn expire_probes(&mut self, now: u64) {
        for p in self.admission.expire(now) {
            self.metrics.probes_timed_out += 1;
            match p.purpose {
                Purpose::Liveness { newcomer } => {
                    if self.contacts.remove(&p.contact.id) {
                        self.metrics.contacts_evicted += 1;
                    }
                    self.admit(now, newcomer);
                }
                Purpose::Elected => self.peer_ping_lost(now, &p.contact.id),
                Purpose::Admit => {}
            }
        }
    }

    /// Queues the scale lookups (see `run_membership`).
    fn queue_scale_lookups(&mut self) {
        let me = self.me.id;
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
    pub(super) fn start_lookup(&mut self, now: u64, target: PeerId, seeds: Vec<A>) {
        self.start_lookup_bounded(now, target, seeds, self.config.lookup_max_queries);
    }

    fn start_lookup_bounded(&mut self, now: u64, target: PeerId, seeds: Vec<A>, max_queries: usize) {
        let mut start: Vec<Hop<A>> = seeds.into_iter().map(|addr| Hop { id: None, addr }).collect();
        let near = self
            .contacts
            .nearest(&target, 2 * self.config.lookup_parallelism, |_| true);
        start.extend(near.into_iter().map(|c| Hop {
            id: Some(c.id),
            addr: c.addr,
        }));
        if let Some(l) = self.discovery.start(&self.me.id, target, start, max_queries) {
            self.metrics.lookups_started += 1;
            self.advance_lookup(now, l);
        }
    }

    /// Sends whatever requests lookup `l` may send now.
    pub(super) fn advance_lookup(&mut self, now: u64, l: u64) {
        for (target, hop) in self.discovery.due(l) {
            // A named candidate whose host or subnet is full could not be
            // admitted anyway: do not spend a request on it.
            let groups = hop.addr.groups();
            let known = hop.id.map_or(true, |id| self.contacts.contains(&id));
            if !known
                && !self
                    .contacts
                    .group_has_room(&groups, self.admission.pending_in(&groups))
            {
                self.metrics.reject(Rejection::BeforeProbe);
                continue;
            }
            let nonce = self.rng.next_u64();
            let to = hop.addr.clone();
            if self.discovery.sent(nonce, l, hop, now) {
                let base: Envelope<A> = Envelope {
                    sender: self.me.id,
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
                self.send(to, Message::FindNeighbours(req));
            }
        }
    }

    /// Timeouts, lookups that can move on, the periodic refresh.
    pub(super) fn run_membership(&mut self, now: u64) {
        self.expire_probes(now);
        for l in self.discovery.expire(now) {
            self.advance_lookup(now, l);
        }
        let ended = self.discovery.finish_idle();
        let me = self.me.id;
        for f in ended.iter().filter(|f| f.target == me) {
            // The nearest names a lookup of our own id heard but never asked
            // are our likeliest neighbours (a converged lookup asks only a few
            // of them): prove them with a ping each, as asked-for names, not
            // from the unsolicited allowance. Without this a joiner knows a
            // third of the nodes its store overlaps and its burst keeps
            // re-electing the same few.
            for c in f.unasked.iter().take(self.config.neighbours_per_reply) {
                self.offer_with(now, c.id, c.addr.clone(), false);
            }
        }
        if !ended.is_empty() && !self.far_lookup_done {
            // After the first lookup (our own id), short lookups at distances
            // 2^255, 2^253, ... down to a few times the nearest neighbour's, on
            // alternate sides: the table then spans the ring at every scale,
            // which is what greedy routing needs.
            self.far_lookup_done = true;
            self.queue_scale_lookups();
        }
        while self.discovery.running() < 2 {
            let Some(target) = self.lookup_queue.pop_front() else {
                break;
            };
            self.start_lookup_bounded(now, target, Vec::new(), SHORT_LOOKUP_QUERIES);
        }
        if self.next_refresh_at.is_some_and(|at| at <= now) {
            self.schedule_refresh(now);
            // Our own neighbourhood again (tables everywhere fill as the network
            // forms, so a later lookup finds neighbours an early one could not).
            let me = self.me.id;
            // While the table is still small the seeds are asked again: a lost
            // request or reply must not leave a node alone for good.
            let seeds = if self.contacts.len() < self.config.neighbours_per_reply {
                self.seeds.clone()
            } else {
                Vec::new()
            };
            // Only our own neighbourhood: far contacts come from the scale
            // lookups at the start and, for free, from election traffic (a
            // random-point lookup per refresh cost 36 messages per node-hour
            // and changed neither success nor table sizes; see README).
            self.start_lookup(now, me, seeds);
        }
    }

    /// Starts the node's first lookup (its own id), once it knows someone.
    pub(super) fn join(&mut self, now: u64, seeds: Vec<A>) {
        if self.next_refresh_at.is_none() {
            self.schedule_refresh(now);
        }
        for s in &seeds {
            if self.seeds.len() < MAX_SEEDS && !self.seeds.contains(s) {
                self.seeds.push(s.clone());
            }
        }
        let me = self.me.id;
        self.start_lookup(now, me, seeds);
    }

    /// The next refresh: 30 s after joining, then eight times as long
    /// each time up to `refresh_interval_ms` (a network forming at once fills
    /// in quickly, a settled one is refreshed rarely).
    fn schedule_refresh(&mut self, now: u64) {
        let wait = FIRST_REFRESH_MS
            .saturating_mul(1u64 << (REFRESH_GROWTH_BITS * self.refreshes.min(8)))
            .min(self.config.refresh_interval_ms);
        self.refreshes = self.refreshes.saturating_add(1);
        self.next_refresh_at = Some(now.saturating_add(wait));
    }
}
