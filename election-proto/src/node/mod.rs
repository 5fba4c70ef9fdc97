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

// Builds the [`io::Cx`] a subsystem call gets from the node's own fields
// (a macro, not a method, so the borrow checker sees the fields apart from
// the subsystem being called).
macro_rules! cx {
    ($node:ident) => {
        $crate::node::io::Cx {
            me: &$node.me,
            key: &$node.key,
            config: &$node.config,
            rng: &mut $node.rng,
            out: &mut $node.out,
        }
    };
}

mod config;
mod elections;
mod event;
mod forward;
mod guard;
mod health;
mod io;
mod manager;
mod membership;
mod metrics;
mod persist;
mod router;
mod timers;

pub use config::{NodeConfig, NodeConfigError, SplitBrainPolicy};
pub use event::{ElectionPurpose, Event, EvictionReason, FailureReason};
pub use health::{
    ElectedPeer, Observation, PeerHealth, PeerSnapshot, PeerState, LLR_BY_SHARED, LLR_CONFIRMED, LLR_INVALID,
    LLR_MISALIGNED, SNAPSHOT_VERSION,
};
pub use io::{Command, Input, Output};
pub use membership::Reputation;
pub use metrics::{KindCounters, Metrics, LATENCY_BUCKETS_MS, LATENCY_SLOTS, LATENCY_SLOT_NAMES};

use crate::id::{PeerId, TokenId};
use crate::keys::NodeKey;
use crate::rng::SeededRng;
use crate::store::TokenStore;
use crate::wire::{self, Address, Contact, Envelope, Message};
use elections::Elections;
use forward::ForwardTable;
use guard::Guard;
use health::Health;
use io::Outbox;
use membership::Membership;

/// A protocol participant: answers, forwards and refers queries; runs its own
/// elections; keeps contacts and elected peers; schedules re-elections.
///
/// `A` is the transport address type, `S` the host's ledger view.
///
/// The node is a fold of subsystems, each owning its state:
/// [`membership`](self) (contacts, probes, lookups), health (elected peers,
/// evidence, slots, challenges, liveness), guard (address validation, rate
/// limits, proven identities) and the running elections; the router and the
/// manager carry out what they return.
#[derive(Debug)]
pub struct Node<A, S> {
    config: NodeConfig,
    me: Contact<A>,
    /// Signs this node's answers; `me.id` is its peer id.
    key: NodeKey,
    store: S,
    rng: SeededRng,
    /// Outputs waiting to be drained, and the counters.
    out: Outbox<A>,
    now_ms: u64,
    started: bool,
    stopped: bool,
    guard: Guard<A>,
    membership: Membership<A>,
    health: Health<A>,
    /// Running elections and the ticket index that routes replies to them.
    elections: Elections<A>,
    /// Reverse paths of forwarded queries (the router's alone).
    forward: ForwardTable<A>,
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
        let me = Contact {
            id: key.peer_id(),
            addr,
        };
        Ok(Self {
            guard: Guard::new(&config, &seed),
            membership: Membership::new(&config),
            health: Health::new(&config),
            elections: Elections::new(),
            forward: ForwardTable::new(config.routing.max_forward_entries, config.routing.forward_ttl_ms),
            rng: SeededRng::new(&seed, "election-proto node v1"),
            out: Outbox::new(me.id),
            config,
            me,
            key,
            store,
            now_ms: 0,
            started: false,
            stopped: false,
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
        let mut m = self.out.metrics.clone();
        m.contacts = self.membership.contacts().len();
        m.elected_peers = self.health.len();
        m.forward_entries = self.forward.len();
        m.active_elections = self.elections.len();
        m.clique_searches_truncated = self.elections.clique_truncations();
        m.validated_addresses = self.guard.validated_len();
        m.rate_limited_hosts = self.guard.rate_limited_len();
        m
    }

    /// Elected peers, in id order. Each carries its [`PeerHealth`]: state
    /// (probation or confirmed), the evidence so far and when it is next challenged.
    pub fn elected_peers(&self) -> impl Iterator<Item = &ElectedPeer<A>> {
        self.health.peers()
    }

    /// The elected-peer entry for `peer`, if it is in the table.
    pub fn elected_peer(&self, peer: &PeerId) -> Option<&ElectedPeer<A>> {
        self.health.peer(peer)
    }

    /// Known contacts, in id order.
    pub fn contacts(&self) -> impl Iterator<Item = Contact<A>> + '_ {
        self.membership.contacts().iter().map(|(id, c)| Contact {
            id: *id,
            addr: c.addr.clone(),
        })
    }

    /// What this node has seen of `peer` in its own elections.
    pub fn reputation(&self, peer: &PeerId) -> Option<Reputation> {
        self.membership.contacts().get(peer).map(|c| c.reputation)
    }

    /// Tokens of the elections running now, in token order.
    pub fn active_elections(&self) -> impl Iterator<Item = TokenId> + '_ {
        self.elections.tokens()
    }

    /// Takes the next output, if any. Drain until `None` after every input.
    pub fn poll_output(&mut self) -> Option<Output<A>> {
        self.out.pop()
    }

    /// When the node next needs [`Input::Timer`], if ever: the one timer
    /// mechanism. Ask after draining the outputs of every input (any input can
    /// move the deadline) and fire [`Input::Timer`] at or after the returned
    /// monotonic millisecond. Firing early, late or twice is harmless; `None`
    /// means nothing is scheduled until the next datagram or command.
    ///
    /// It is the earliest of the subsystems' own deadlines.
    pub fn poll_timeout(&self) -> Option<u64> {
        if self.stopped {
            return None;
        }
        let active = self.elections.len();
        [
            self.health.next_slot(),
            self.elections.next_deadline(&self.config),
            self.membership.next_deadline(),
            self.health.next_check_due(&self.config, active),
            self.health.next_ping_due(&self.config, &self.membership),
        ]
        .into_iter()
        .flatten()
        .min()
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
            self.health.first_slot(&mut cx!(self), now);
        }
        match input {
            Input::Datagram { from, bytes } => self.on_datagram(now, from, bytes),
            Input::Timer => {}
            Input::Command(Command::StartElection(token)) => {
                self.start_election(now, token, ElectionPurpose::Requested, Vec::new());
            }
            Input::Command(Command::AddContacts(list)) => {
                for c in list {
                    self.membership.vouch(&mut cx!(self), c, now);
                }
                self.membership.join(&mut cx!(self), now, Vec::new());
            }
            Input::Command(Command::AddSeeds(seeds)) => self.membership.join(&mut cx!(self), now, seeds),
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
                self.out.metrics.record_decode_error(e);
                return;
            }
        };
        let len = bytes.len();
        self.out.metrics.received.add(env.message.kind(), len);
        if env.sender == self.me.id {
            // Our own id from elsewhere: a reflection or an impostor; never useful.
            return;
        }
        self.membership
            .observe_source(&mut cx!(self), &from.groups(), env.sender, now);
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
        self.membership
            .contacts()
            .get(sender)
            .is_some_and(|c| c.addr == *from)
            || self.guard.is_validated(from, now)
    }

    fn shutdown(&mut self) {
        let tokens: Vec<TokenId> = self.elections.tokens().collect();
        for t in tokens {
            self.fail(t, FailureReason::Shutdown);
        }
        self.stopped = true;
        self.health.stop();
    }
}

#[cfg(test)]
mod tests;
