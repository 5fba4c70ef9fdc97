//! The sans-IO node: routing, election runs and their manager, peer tables and scheduler.
//!
//! A [`Node`] never reads a clock, touches a socket or draws unseeded
//! randomness. The host feeds it [`Input`]s with the current time, drains
//! [`Output`]s until [`Node::poll_output`] returns `None`, then asks
//! [`Node::poll_timeout`] when to feed [`Input::Timer`] next:
//!
//! ```
//! use election_proto::node::{Input, Node, NodeConfig, Output};
//! use election_proto::{MemoryStore, NodeKey};
//!
//! // The host supplies the secret key (and the seed): the core draws no randomness.
//! let key = NodeKey::from_secret([1; 32]);
//! let mut node = Node::new(NodeConfig::default(), key, 0u32, MemoryStore::new(), [7; 32]).unwrap();
//! node.handle_input(0, Input::Timer); // starts the node's clock and scheduler
//! while let Some(out) = node.poll_output() {
//!     match out {
//!         Output::Send { to, bytes } => { /* socket.send_to(&bytes, to) */ let _ = (to, bytes); }
//!         Output::Event(e) => println!("{e:?}"),
//!     }
//! }
//! // Wake the node at this time (or on the next datagram or command, whichever is first).
//! let wake_at: Option<u64> = node.poll_timeout();
//! # let _ = wake_at;
//! ```
//!
//! Guarantees: same configuration, identity, store, seed and inputs ⇒ the same
//! outputs, bit for bit; no input panics; every table is bounded by a
//! [`NodeConfig`] cap; a timer input that arrives early, late or twice is harmless.

mod admission;
mod config;
mod contacts;
mod crowds;
mod discovery;
mod event;
mod forward;
mod health;
mod liveness;
mod manager;
mod membership;
mod metrics;
mod peers;
mod proven;
mod router;
mod run;
mod schedule;
mod validation;

pub use config::{NodeConfig, NodeConfigError, SplitBrainPolicy};
pub use contacts::Reputation;
pub use event::{ElectionPurpose, Event, EvictionReason, FailureReason};
pub use health::{
    Observation, PeerHealth, PeerState, LLR_BY_SHARED, LLR_CONFIRMED, LLR_INVALID, LLR_MISALIGNED,
};
pub use metrics::{KindCounters, Metrics, LATENCY_BUCKETS_MS, LATENCY_SLOTS, LATENCY_SLOT_NAMES};
pub use peers::{ElectedPeer, PeerSnapshot, SNAPSHOT_VERSION};

use crate::id::{PeerId, TokenId};
use crate::keys::NodeKey;
use crate::rng::SeededRng;
use crate::store::TokenStore;
use crate::wire::{self, Address, Contact, Envelope, Message};
use admission::Admission;
use contacts::{Admit, ContactTable, GroupCaps};
use discovery::Discovery;
use forward::ForwardTable;
use peers::ElectedPeers;
use proven::ProvenIdentities;
use run::Elections;
use schedule::DirectCheck;
use std::collections::{BTreeMap, VecDeque};
use validation::{Cookies, RateLimits, Validated};

/// Something that happened to the node.
#[derive(Debug)]
pub enum Input<'a, A> {
    /// A datagram arrived from transport address `from`.
    Datagram {
        /// Where it came from (replies go only here).
        from: A,
        /// Its payload.
        bytes: &'a [u8],
    },
    /// A timer fired. Spurious or late firings are harmless.
    Timer,
    /// The host asks for something.
    Command(Command<A>),
}

/// Host commands.
///
/// New commands may be added in minor releases.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command<A> {
    /// Start an election for this token now (the node must store it).
    StartElection(TokenId),
    /// Learn these contacts (bootstrap): the host vouches for them, so they
    /// are admitted at once (within `max_contacts`, without the per-group
    /// caps), and the node starts a lookup of its own id through them.
    AddContacts(Vec<Contact<A>>),
    /// Join through these seed addresses, whose ids are unknown: the node asks
    /// each for its neighbours (a lookup of its own id) and admits a seed once
    /// it replies from that address with the request's nonce.
    AddSeeds(Vec<A>),
    /// End every running election (reported as failed with
    /// [`FailureReason::Shutdown`]) and ignore all later inputs.
    Shutdown,
}

/// Something the host must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Output<A> {
    /// Send a datagram.
    Send {
        /// Destination.
        to: A,
        /// Payload, at most [`wire::MAX_DATAGRAM_LEN`] bytes.
        bytes: Vec<u8>,
    },
    /// Tell the host something.
    Event(Event<A>),
}

/// A protocol participant: answers, forwards and refers queries; runs its own
/// elections; keeps contacts and elected peers; schedules re-elections.
///
/// `A` is the transport address type, `S` the host's ledger view.
#[derive(Debug)]
pub struct Node<A, S> {
    config: NodeConfig,
    me: Contact<A>,
    /// Signs this node's answers; `me.id` is its peer id.
    key: NodeKey,
    /// Proof-of-work results per peer (used when `pow_difficulty > 0`).
    proven: ProvenIdentities,
    store: S,
    rng: SeededRng,
    contacts: ContactTable<A>,
    /// Pings waiting for pongs, and the unsolicited-probe allowance.
    admission: Admission<A>,
    /// Running lookups.
    discovery: Discovery<A>,
    far_lookup_done: bool,
    /// Seed addresses given by the host (at most 16), asked again by refreshes
    /// while the table is small.
    seeds: Vec<A>,
    /// Lookup targets waiting for a free lookup slot (at most a handful).
    lookup_queue: VecDeque<PeerId>,
    next_refresh_at: Option<u64>,
    /// Refreshes so far (each waits twice as long as the last, up to the interval).
    refreshes: u32,
    forward: ForwardTable<A>,
    elected: ElectedPeers<A>,
    /// Running elections and the ticket index that routes replies to them.
    elections: Elections<A>,
    outputs: VecDeque<Output<A>>,
    metrics: Metrics,
    now_ms: u64,
    started: bool,
    stopped: bool,
    next_election_at: Option<u64>,
    /// Burst discoveries since the table last gained a peer (each doubles the
    /// burst interval, see `schedule::slot_interval`).
    burst_fruitless: u32,
    /// Running direct challenges of elected peers, by channel ticket.
    checks: BTreeMap<crate::election::MessageTicket, DirectCheck<A>>,
    /// Peers evicted as misaligned and until when they may not re-enter (at
    /// most [`schedule::BANNED_CAP`], oldest dropped first).
    banned: VecDeque<(PeerId, u64)>,
    recent_splits: VecDeque<bool>,
    /// Cookies for the address-validation round trip (keyed from the seed).
    cookies: Cookies,
    /// Addresses proven to receive, beyond the contact table's.
    validated: Validated<A>,
    /// Per-source-host budgets for answered and forwarded queries.
    rate_limits: RateLimits,
}

impl<A: Address, S: TokenStore> Node<A, S> {
    /// Builds a node. `key` is this node's key pair (its id is
    /// [`NodeKey::peer_id`]), `addr` the address peers reach it at (signed
    /// into its answers); `seed` is the only randomness the node will ever use
    /// (give each node a distinct, secret one: election secrets derive from
    /// it). Both secrets come from the host: the core draws none.
    pub fn new(
        config: NodeConfig,
        key: NodeKey,
        addr: A,
        store: S,
        seed: [u8; 32],
    ) -> Result<Self, NodeConfigError> {
        config.validate()?;
        let identity = Contact {
            id: key.peer_id(),
            addr,
        };
        Ok(Self {
            proven: ProvenIdentities::new(config.max_contacts.saturating_mul(2)),
            key,
            contacts: ContactTable::new(
                config.max_contacts,
                config.contact_stale_ms,
                GroupCaps {
                    per_ip: config.max_contacts_per_ip,
                    per_subnet: config.max_contacts_per_subnet,
                },
            ),
            admission: Admission::new(
                config.max_pending_probes,
                config.probe_timeout_ms,
                config.probe_burst,
                config.probe_refill_ms,
            ),
            discovery: Discovery::new(
                config.lookup_parallelism,
                config.lookup_max_queries,
                config.probe_timeout_ms,
            ),
            far_lookup_done: false,
            seeds: Vec::new(),
            lookup_queue: VecDeque::new(),
            next_refresh_at: None,
            refreshes: 0,
            forward: ForwardTable::new(config.max_forward_entries, config.forward_ttl_ms),
            elected: ElectedPeers::new(config.max_elected_peers),
            rng: SeededRng::new(&seed, "election-proto node v1"),
            cookies: Cookies::new(&seed, config.cookie_epoch_ms),
            validated: Validated::new(config.max_validated_addresses, config.validated_ttl_ms),
            rate_limits: RateLimits::new(
                config.max_rate_limited_hosts,
                config.query_rate_burst,
                config.query_rate_refill_ms,
            ),
            config,
            me: identity,
            store,
            elections: Elections::new(),
            outputs: VecDeque::new(),
            metrics: Metrics::default(),
            now_ms: 0,
            started: false,
            stopped: false,
            next_election_at: None,
            checks: BTreeMap::new(),
            burst_fruitless: 0,
            banned: VecDeque::new(),
            recent_splits: VecDeque::new(),
        })
    }

    /// This node's id.
    pub fn id(&self) -> PeerId {
        self.me.id
    }

    /// This node's contact (id and advertised address).
    pub fn contact(&self) -> &Contact<A> {
        &self.me
    }

    /// This node's key pair.
    pub fn key(&self) -> &NodeKey {
        &self.key
    }

    /// The configuration in force.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// The ledger view.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Mutable access to the ledger view; changes apply to the next query.
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    /// Whether [`Command::Shutdown`] has been handled.
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// Counters and current table sizes.
    pub fn metrics(&self) -> Metrics {
        let mut m = self.metrics.clone();
        m.contacts = self.contacts.len();
        m.elected_peers = self.elected.len();
        m.forward_entries = self.forward.len();
        m.active_elections = self.elections.len();
        m.clique_searches_truncated = self.elections.clique_truncations();
        m.validated_addresses = self.validated.len();
        m.rate_limited_hosts = self.rate_limits.len();
        m
    }

    /// Elected peers, in id order. Each carries its [`PeerHealth`]: state
    /// (probation or confirmed), the evidence so far and when it is next challenged.
    pub fn elected_peers(&self) -> impl Iterator<Item = &ElectedPeer<A>> {
        self.elected.iter()
    }

    /// The elected-peer entry for `peer`, if it is in the table.
    pub fn elected_peer(&self, peer: &PeerId) -> Option<&ElectedPeer<A>> {
        self.elected.get(peer)
    }

    /// Known contacts, in id order.
    pub fn contacts(&self) -> impl Iterator<Item = Contact<A>> + '_ {
        self.contacts.iter().map(|(id, c)| Contact {
            id: *id,
            addr: c.addr.clone(),
        })
    }

    /// What this node has seen of `peer` in its own elections.
    pub fn reputation(&self, peer: &PeerId) -> Option<Reputation> {
        self.contacts.get(peer).map(|c| c.reputation)
    }

    /// Tokens of the elections running now, in token order.
    pub fn active_elections(&self) -> impl Iterator<Item = TokenId> + '_ {
        self.elections.tokens()
    }

    /// The peer tables, for persistence.
    pub fn snapshot(&self) -> PeerSnapshot<A> {
        PeerSnapshot {
            version: SNAPSHOT_VERSION,
            contacts: self.contacts().collect(),
            elected: self.elected.iter().cloned().collect(),
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
    /// ([`PeerState::Probation`]) and due now, so they are re-verified before
    /// anything else is scheduled. Snapshots of version 1 (no evidence) load too.
    pub fn restore(&mut self, snapshot: PeerSnapshot<A>) -> usize {
        let now = self.now_ms;
        for c in snapshot.contacts {
            self.vouch(c, now);
        }
        let mut restored = 0;
        for mut p in snapshot.elected {
            if p.contact.id == self.me.id {
                continue;
            }
            p.health.restored(now);
            self.vouch(p.contact.clone(), now);
            if self.elected.restore(p) {
                restored += 1;
            }
        }
        restored
    }

    /// Takes the next output, if any. Drain until `None` after every input.
    pub fn poll_output(&mut self) -> Option<Output<A>> {
        self.outputs.pop_front()
    }

    /// When the node next needs [`Input::Timer`], if ever: the one timer
    /// mechanism. Ask after draining the outputs of every input (any input can
    /// move the deadline) and fire [`Input::Timer`] at or after the returned
    /// monotonic millisecond. Firing early, late or twice is harmless; `None`
    /// means nothing is scheduled until the next datagram or command.
    pub fn poll_timeout(&self) -> Option<u64> {
        if self.stopped {
            return None;
        }
        self.next_deadline()
    }

    /// Feeds one input at monotonic time `now_ms` (a smaller time than one seen
    /// before is treated as the later one).
    pub fn handle_input(&mut self, now_ms: u64, input: Input<'_, A>) {
        if self.stopped {
            return;
        }
        let now = now_ms.max(self.now_ms);
        self.now_ms = now;
        if !self.started {
            self.started = true;
            self.first_slot(now);
        }
        match input {
            Input::Datagram { from, bytes } => self.on_datagram(now, from, bytes),
            Input::Timer => {}
            Input::Command(Command::StartElection(token)) => {
                self.start_election(now, token, ElectionPurpose::Requested, Vec::new());
            }
            Input::Command(Command::AddContacts(list)) => {
                for c in list {
                    self.vouch(c, now);
                }
                self.join(now, Vec::new());
            }
            Input::Command(Command::AddSeeds(seeds)) => self.join(now, seeds),
            Input::Command(Command::Shutdown) => {
                self.shutdown();
                return;
            }
        }
        self.run_due(now);
    }

    fn on_datagram(&mut self, now: u64, from: A, bytes: &[u8]) {
        let env: Envelope<A> = match wire::decode(bytes) {
            Ok(e) => e,
            Err(e) => {
                self.metrics.record_decode_error(e);
                return;
            }
        };
        let len = bytes.len();
        self.metrics.received.add(env.message.kind(), len);
        if env.sender == self.me.id {
            // Our own id from elsewhere: a reflection or an impostor; never useful.
            return;
        }
        // Every source address counts toward its subnet's crowd; a subnet that
        // turns out crowded loses its contacts beyond a tenth of the table.
        let gone = self.contacts.observe(&from.groups(), env.sender, now);
        self.metrics.contacts_evicted += gone.len() as u64;
        match env.message {
            Message::Query(query) => self.on_query(now, from, env.sender, query),
            Message::Answer(answer) => self.on_answer(now, from, env.sender, answer),
            Message::Referral(referral) => self.on_referral(now, from, env.sender, referral),
            Message::Ping(ping) => self.on_ping(now, from, env.sender, ping),
            Message::Pong(pong) => self.on_pong(now, from, env.sender, pong),
            Message::FindNeighbours(req) => self.on_find_neighbours(now, from, env.sender, req, len),
            Message::Neighbours(reply) => self.on_neighbours(now, from, env.sender, reply),
            Message::Retry(retry) => self.on_retry(now, from, env.sender, retry),
            Message::CookieQuery(cq) => self.on_cookie_query(now, from, env.sender, cq),
        }
    }

    /// Whether `from` has proven it receives: it is the admitted address of
    /// the contact `sender`, or it proved so recently (docs/PROTOCOL.md
    /// "Address validation (anti-amplification)").
    fn is_validated(&self, from: &A, sender: &PeerId, now: u64) -> bool {
        self.contacts.get(sender).is_some_and(|c| c.addr == *from) || self.validated.contains(from, now)
    }

    /// Records that `addr` proved it receives (a round trip came back from it).
    fn validate(&mut self, addr: A, now: u64) {
        self.metrics.addresses_validated += 1;
        if self.validated.insert(addr, now) {
            self.metrics.validated_evictions += 1;
        }
    }

    /// Admits a contact the host vouches for (bootstrap, restore).
    fn vouch(&mut self, c: Contact<A>, now: u64) {
        if self.contacts.admit(&self.me.id, c.id, c.addr, now, true) == Admit::Added {
            self.metrics.contacts_admitted += 1;
        }
    }

    /// Encodes and queues a datagram, counting it.
    fn send(&mut self, to: A, message: Message<A>) {
        let kind = message.kind();
        let env = Envelope {
            sender: self.me.id,
            message,
        };
        match wire::encode(&env) {
            Ok(bytes) => {
                self.metrics.sent.add(kind, bytes.len());
                self.outputs.push_back(Output::Send { to, bytes });
            }
            Err(_) => self.metrics.encode_errors += 1,
        }
    }

    fn emit(&mut self, event: Event<A>) {
        self.outputs.push_back(Output::Event(event));
    }

    fn next_deadline(&self) -> Option<u64> {
        let elections = self.elections.next_deadline(&self.config);
        self.next_election_at
            .into_iter()
            .chain(elections)
            .chain(self.admission.next_deadline())
            .chain(self.discovery.next_deadline())
            .chain(self.next_refresh_at)
            .chain(self.next_check_due())
            .chain(self.next_ping_due())
            .min()
    }

    fn shutdown(&mut self) {
        let tokens: Vec<TokenId> = self.elections.tokens().collect();
        for t in tokens {
            self.fail(t, FailureReason::Shutdown);
        }
        self.stopped = true;
        self.next_election_at = None;
        self.checks.clear();
    }
}

#[cfg(test)]
mod membership_tests;
#[cfg(test)]
mod tests;
