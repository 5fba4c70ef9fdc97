//! Peer election via proof-of-storage, as a sans-IO state machine.
//!
//! A node finds peers that hold the same ledger state it does by challenging a
//! token through several routes; nodes that store the token answer with a
//! proof-of-storage signature bound to the challenger; answers that agree with
//! each other *and* with the challenger's own walk of its ledger form a
//! consensus cluster whose member closest to the token wins. Elections repeat,
//! so elected peers keep being re-verified and disagreement (split-brain) is
//! detected. The protocol, byte for byte, is `docs/PROTOCOL.md` in the
//! repository.
//!
//! # The model: you own the I/O, the [`Node`] owns the protocol
//!
//! A [`Node`] never reads a clock, opens a socket, spawns a thread or draws
//! randomness it was not given. Its host runs one loop:
//!
//! 1. feed an [`Input`] (a datagram, a timer firing, or a [`Command`]) with the
//!    current monotonic time in milliseconds: [`Node::handle_input`];
//! 2. drain [`Output`]s until [`Node::poll_output`] returns `None`: send each
//!    [`Output::Send`] to its address, act on each [`Output::Event`];
//! 3. ask [`Node::poll_timeout`] when to feed [`Input::Timer`] next, and wait
//!    for that time, a datagram or a command, whichever comes first.
//!
//! Same configuration, identity, store, seed and inputs give the same outputs,
//! bit for bit; no datagram panics it; every table is capped by [`NodeConfig`].
//! Here is that loop in full, with four nodes exchanging datagrams through an
//! in-memory queue instead of sockets (`runtime-std` and `runtime-async` are
//! the same loop on real UDP):
//!
//! ```
//! use election_proto::{
//!     BlockId, Command, Contact, Event, Input, MemoryStore, Node, NodeConfig, NodeKey, Output,
//!     PeerId, TokenId,
//! };
//! use std::collections::VecDeque;
//!
//! /// Datagrams in flight as (arrival ms, from, to, bytes); one fixed latency keeps it in time order.
//! type Wire = VecDeque<(u64, u32, u32, Vec<u8>)>;
//!
//! /// Step 2: drain everything the last input caused.
//! fn drain(me: u32, node: &mut Node<u32, MemoryStore>, now: u64, wire: &mut Wire, won: &mut Vec<PeerId>) {
//!     while let Some(out) = node.poll_output() {
//!         match out {
//!             Output::Send { to, bytes } => wire.push_back((now + 10, me, to, bytes)), // 10 ms network
//!             Output::Event(Event::Elected { winner, .. }) => won.push(winner.id),
//!             Output::Event(_) => {} // started, failed, peer added, split-brain, ...
//!         }
//!     }
//! }
//!
//! // One ledger (token -> block) that all four nodes hold. Real hosts implement
//! // `TokenStore` over their own ledger.
//! let ledger = MemoryStore::from_mappings((0..20_000u64).map(|i| {
//!     let t = *blake3::hash(&i.to_le_bytes()).as_bytes();
//!     (TokenId::new(t), BlockId::new(*blake3::hash(&t).as_bytes()))
//! }));
//! // Each node's Ed25519 key comes from the host (here: fixed bytes; really:
//! // the OS's randomness, kept secret); its id is BLAKE3 of the public key.
//! let keys: Vec<NodeKey> = (0..4u8).map(|i| NodeKey::from_secret([i + 1; 32])).collect();
//! // Addresses are plain `u32`s here; a UDP host uses `SocketAddr`.
//! let contacts: Vec<Contact<u32>> =
//!     keys.iter().zip(0..).map(|(k, i)| Contact { id: k.peer_id(), addr: i }).collect();
//! let mut nodes: Vec<Node<u32, MemoryStore>> = keys
//!     .into_iter()
//!     .zip(&contacts)
//!     .map(|(key, me)| {
//!         // The seed is the node's only randomness: give each node its own, secret one.
//!         let seed = *blake3::hash(me.id.as_bytes()).as_bytes();
//!         Node::new(NodeConfig::default(), key, me.addr, ledger.clone(), seed).unwrap()
//!     })
//!     .collect();
//!
//! let (mut wire, mut won, mut now) = (Wire::new(), Vec::new(), 0u64);
//! for (i, node) in nodes.iter_mut().enumerate() {
//!     // Step 1: an input with the current time; here, bootstrap contacts.
//!     node.handle_input(now, Input::Command(Command::AddContacts(contacts.clone())));
//!     drain(i as u32, node, now, &mut wire, &mut won);
//! }
//! let token = ledger.iter().next().unwrap().id;
//! nodes[0].handle_input(now, Input::Command(Command::StartElection(token)));
//! drain(0, &mut nodes[0], now, &mut wire, &mut won);
//!
//! while won.is_empty() && now < 10_000 {
//!     // Step 3: sleep until the next datagram or the earliest timeout.
//!     let next_datagram = wire.front().map(|d| d.0);
//!     let next_timer = nodes.iter().filter_map(|n| n.poll_timeout()).min();
//!     now = next_datagram.into_iter().chain(next_timer).min().expect("always something to do");
//!     while wire.front().is_some_and(|d| d.0 <= now) {
//!         let (_, from, to, bytes) = wire.pop_front().unwrap();
//!         let node = &mut nodes[to as usize];
//!         node.handle_input(now, Input::Datagram { from, bytes: &bytes });
//!         drain(to, node, now, &mut wire, &mut won);
//!     }
//!     for (i, node) in nodes.iter_mut().enumerate() {
//!         if node.poll_timeout().is_some_and(|at| at <= now) {
//!             node.handle_input(now, Input::Timer);
//!             drain(i as u32, node, now, &mut wire, &mut won);
//!         }
//!     }
//! }
//! assert_eq!(won.len(), 1, "node 0 elected one of its three peers");
//! assert!(nodes[0].elected_peer(&won[0]).is_some());
//! # let _: PeerId = won[0];
//! ```
//!
//! # Layers
//!
//! ```text
//!  ┌──────────────────────────────── node ─────────────────────────────────┐
//!  │ Node: Input → (router | election runs | tables | scheduler) → Output  │
//!  └──────┬───────────────────────────────┬──────────────────────┬─────────┘
//!         │ one election                  │ datagrams            │ own walk
//!  ┌──────▼──────── election ───────┐  ┌──▼──── wire ─────┐      │
//!  │ PeerElection: tickets,         │  │ versioned        │      │
//!  │ channels, verdict              │  │ postcard codec   │      │
//!  └──────┬─────────────────────────┘  └──────────────────┘      │
//!  ┌──────▼──────── cluster ────────┐                            │
//!  │ agreement graph, maximal       │                            │
//!  │ cliques, split-brain ranking   │                            │
//!  └──────┬─────────────────────────┘                            │
//!  ┌──────▼──────── proof ──────────────────────────────────────▼─┐
//!  │ signature generation, verification, agreement                │
//!  └──────┬───────────────────────────────────────────────────────┘
//!  ┌──────▼──────── store ────────┐  ┌──────────── id ────────────┐
//!  │ TokenStore, MemoryStore      │─▶│ 256-bit ring ids, distance │
//!  └──────────────────────────────┘  └────────────────────────────┘
//! ```
//!
//! Each layer is usable on its own: [`id`] (ring identifiers), [`store`] (the
//! [`TokenStore`] trait and the suffix-indexed [`MemoryStore`]), [`proof`]
//! (signatures), [`cluster`] (consensus clusters), [`election`] (one
//! [`PeerElection`], driven by hand in the crate's `by_hand` example),
//! [`wire`] (the datagram codec) and [`node`] (the [`Node`]).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cluster;
pub mod election;
pub mod id;
pub mod keys;
mod mem;
pub mod node;
pub mod proof;
mod rng;
pub mod store;
pub mod wire;

// The node and what a host exchanges with it.
pub use node::{
    Command, ElectionPurpose, Event, FailureReason, Input, Metrics, Node, NodeConfig, NodeConfigError,
    Output, SplitBrainPolicy,
};
pub use wire::{
    Address, AddressGroups, Answer, Contact, DecodeError, Envelope, FindNeighbours, Message, Neighbours,
    Ping, Pong, Query, Referral,
};

// One election, driven by hand.
pub use cluster::ConsensusCluster;
pub use election::{
    AnswerAccepted, ChannelState, ConfigError, ElectionConfig, ElectionError, MessageTicket, PeerElection,
    WinnerResult,
};

// Ledger view and proof-of-storage.
pub use proof::{
    agreement, generate_proof, generate_signature, proof_agreement, verify_signature, PossessionProof,
    ProofTag, SignatureError, TokenMapping, TokenSignature, PROOF_STEPS, SIGNATURE_SIZE,
};
pub use store::{MemoryStore, TokenStore};

// Node keys and signed answers.
pub use keys::{peer_id_of, NodeKey, PublicKey, Signature, SignatureScheme};

// Identifiers and ring math.
pub use id::{
    clockwise_distance, counter_clockwise_distance, ring_distance, suffix, BlockId, Distance, PeerId,
    RingPoint, TokenId,
};

// The README's Rust examples compile and run as doc-tests (`cargo test --doc`), so the
// front door cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
