//! Peer election via proof-of-storage, as a sans-IO state machine.
//!
//! A node finds peers that hold the same ledger state it does by challenging a
//! token through several routes; nodes that store the token answer with a
//! proof-of-storage signature bound to the challenger; answers that agree form a
//! consensus cluster whose member closest to the token wins. Elections repeat,
//! so elected peers keep being re-verified and disagreement (split-brain) is
//! detected.
//!
//! Layers, each usable on its own:
//! - [`id`]: 256-bit ring identifiers and distances;
//! - [`store`]: the [`TokenStore`] trait and the suffix-indexed [`MemoryStore`];
//! - [`proof`]: signature generation, verification and agreement;
//! - [`cluster`]: maximal-clique consensus clusters and the split-brain rule;
//! - [`election`]: one [`PeerElection`] (tickets, channels, verdict);
//! - [`wire`]: the versioned datagram codec;
//! - [`node`]: the sans-IO [`Node`] that routes, runs elections and re-elects.
//!
//! Nothing here reads a clock, opens a socket or draws unseeded randomness.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cluster;
pub mod election;
pub mod id;
pub mod node;
pub mod proof;
mod rng;
pub mod store;
pub mod wire;

pub use cluster::ConsensusCluster;
pub use election::{
    AnswerAccepted, ChannelState, ConfigError, ElectionConfig, ElectionError, MessageTicket, PeerElection,
    WinnerResult,
};
pub use id::{
    clockwise_distance, counter_clockwise_distance, ring_distance, suffix, BlockId, Distance, PeerId,
    RingPoint, TokenId,
};
pub use node::{Command, Event, FailureReason, Input, Metrics, Node, NodeConfig, NodeConfigError, Output};
pub use proof::{
    agreement, generate_signature, verify_signature, SignatureError, TokenMapping, TokenSignature,
    SIGNATURE_SIZE,
};
pub use store::{MemoryStore, TokenStore};
pub use wire::{Address, Contact, DecodeError, Envelope, Message};
