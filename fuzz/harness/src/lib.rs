//! Fuzzing harnesses for `election-proto`, shared by the cargo-fuzz targets
//! (`fuzz/fuzz_targets/`) and the stable replay test (`tests/replay.rs`). Not
//! published: the core library ships no fuzzing code.
//!
//! Each harness takes raw bytes, so a libFuzzer corpus file, a regression
//! input and a deterministically generated input are all replayed the same
//! way. Structured harnesses read their operations from the bytes with
//! [`arbitrary::Unstructured`]; running out of bytes just ends the run.
//!
//! Every harness panics (with a message naming the broken invariant) when the
//! code under test misbehaves, and returns a small summary of what it reached,
//! so tests can check that the harness is not vacuous.
//!
//! - [`decode()`](decode()) ([`mod@decode`]): bytes into
//!   [`wire::decode`](election_proto::wire::decode); whatever decodes
//!   re-encodes to the same bytes, and each rejection names the right reason.
//! - [`election()`](election()) ([`mod@election`]): a sequence of
//!   [`PeerElection`](election_proto::PeerElection) operations (channels,
//!   honest, forged, re-delivered and misdelivered answers, referrals,
//!   abandons, checks) with every observable invariant checked after each step.
//! - [`node()`](node()) ([`mod@node`]): a [`Node`](election_proto::Node) fed
//!   datagrams (raw, structured, honest replies to its own queries, mutated
//!   echoes), timers, time jumps and host commands; outputs are drained after
//!   every input and checked. Each scenario runs twice and the two output
//!   streams must be identical (determinism).
//!
//! [`fixtures`] holds what they share: the ledgers and peers (built once per
//! process, see [`init`]) and the input-driven selectors that pick among them.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod decode;
pub mod election;
pub mod fixtures;
pub mod node;

pub use decode::{arbitrary_datagram, decode, EnvelopeSpec, MessageSpec};
pub use election::{election, ElectionOp, ElectionStats, TicketSel};
pub use fixtures::{init, ContactSel, Forgery, PeerSel, StoreKind, TokenSel};
pub use node::{node, NodeOp, NodeStats};
