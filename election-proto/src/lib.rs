//! Peer election via proof-of-storage, as a sans-IO state machine.
//!
//! See the workspace README for an overview and an embedding example.
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
pub use election::{ElectionConfig, ElectionError, MessageTicket, PeerElection, WinnerResult};
pub use id::{
    clockwise_distance, counter_clockwise_distance, ring_distance, suffix, BlockId, Distance, PeerId,
    RingPoint, TokenId,
};
pub use proof::{
    agreement, generate_signature, verify_signature, SignatureError, TokenMapping, TokenSignature,
    SIGNATURE_SIZE,
};
pub use store::{MemoryStore, TokenStore};
