//! What crosses the node's boundary: inputs from the host, outputs to it, and
//! the outbox the subsystems write their datagrams and events into.

use super::{Event, Metrics, NodeConfig};
use crate::id::{PeerId, TokenId};
use crate::keys::NodeKey;
use crate::rng::SeededRng;
use crate::wire::{self, Contact, Envelope, Message, MessageKind};
use std::collections::VecDeque;

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
    /// [`FailureReason::Shutdown`](super::FailureReason::Shutdown)) and ignore all later inputs.
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

/// Outputs waiting to be drained, in the order they were produced, and the
/// node's counters. Every subsystem writes here (through [`Cx`]); nothing
/// here decides anything, so the order of writes is the only thing that
/// matters, and it is the order of the calls.
#[derive(Debug)]
pub(super) struct Outbox<A> {
    /// Stamped on every datagram as its sender.
    sender: PeerId,
    queue: VecDeque<Output<A>>,
    /// Counters; each is incremented by the one module that does what it counts.
    pub(super) metrics: Metrics,
}

impl<A> Outbox<A> {
    pub(super) fn new(sender: PeerId) -> Self {
        Self {
            sender,
            queue: VecDeque::new(),
            metrics: Metrics::default(),
        }
    }

    /// Encodes and queues a datagram, counting it.
    pub(super) fn send(&mut self, to: A, message: Message<A>)
    where
        A: wire::Address,
    {
        let kind = message.kind();
        let env = Envelope {
            sender: self.sender,
            message,
        };
        match wire::encode(&env) {
            Ok(bytes) => self.send_encoded(to, kind, bytes),
            Err(_) => self.metrics.encode_errors += 1,
        }
    }

    /// Queues a datagram encoded by the caller, counting it.
    pub(super) fn send_encoded(&mut self, to: A, kind: MessageKind, bytes: Vec<u8>) {
        self.metrics.sent.add(kind, bytes.len());
        self.queue.push_back(Output::Send { to, bytes });
    }

    /// Tells the host something.
    pub(super) fn emit(&mut self, event: Event<A>) {
        self.queue.push_back(Output::Event(event));
    }

    /// Takes the oldest output.
    pub(super) fn pop(&mut self) -> Option<Output<A>> {
        self.queue.pop_front()
    }
}

/// What a subsystem may use while it handles an input: who this node is,
/// the configuration, the node's randomness and the outbox. Built from the
/// node's fields for one call (see `cx!` in the parent module), so a
/// subsystem gets these and its own state, never another subsystem's.
pub(super) struct Cx<'a, A> {
    pub(super) me: &'a Contact<A>,
    pub(super) key: &'a NodeKey,
    pub(super) config: &'a NodeConfig,
    pub(super) rng: &'a mut SeededRng,
    pub(super) out: &'a mut Outbox<A>,
}

impl<A: wire::Address> Cx<'_, A> {
    /// Sends `message` to `to` as this node.
    pub(super) fn send(&mut self, to: A, message: Message<A>) {
        self.out.send(to, message);
    }
}
