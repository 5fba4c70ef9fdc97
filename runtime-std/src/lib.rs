//! Runs [`election_proto`]'s sans-IO [`Node`](election_proto::node::Node) on real
//! UDP sockets with std threads, plus everything both runtime adapters share.
//!
//! - [`host`]: the host glue both adapters share. A [`Host`] owns the node and
//!   does everything between one input and the next wait: commands, feeding
//!   inputs, draining outputs into the outbox and the event channel, the next
//!   deadline, transport counters; an adapter only waits.
//! - [`driver`]: the std adapter. [`StdNode::spawn`] runs one node on a
//!   [`std::net::UdpSocket`] on its own thread and returns a handle to send it
//!   commands (start an election, add contacts, change the store, shut down)
//!   and read its metrics and events.
//! - [`control`]: [`NodeControl`] and [`Runtime`], the blocking interface both
//!   adapters implement so that what follows is written once.
//! - [`ledger`]: the ledger file format (line-numbered errors), synthetic
//!   shared ledgers, and [`LedgerView`], the store runtime nodes use.
//! - `ledger_db` (feature `ledger-db`, which `cli` turns on; brings in
//!   `redb`): ledgers in an on-disk database that change while the node
//!   runs, read by a [`TokenStore`](election_proto::TokenStore) that follows
//!   the writer's commits.
//! - [`state`]: the `--state-dir` directory (identity seed, peer snapshots,
//!   atomic writes).
//! - [`identity`], [`clock`]: identities derived from seeds, OS randomness
//!   (`getrandom`, no fallback) and the seeded host RNG; the monotonic
//!   millisecond clock.
//! - [`setup`]: one long-running node (`run`); [`cluster`]: N nodes on
//!   loopback, their report and its checks (`cluster`).
//! - [`addr`]: `HOST:PORT` options resolved once, with errors naming the
//!   flag; [`health`]: the warnings of a node that cannot elect.
//! - `metrics_http` (feature `metrics-http`, which `cli` turns on; brings in
//!   `prometheus-client`): the Prometheus endpoint of `run --metrics`.
//! - `cli` (only with the non-default `cli` feature, which also builds the
//!   `election-node` binary and brings in `clap`, `env_logger` and `ctrlc`):
//!   the command line of both binaries. Operating it: `docs/OPERATING.md`. Run the demo with
//!   `cargo run --release -p runtime-std --features cli --bin election-node -- cluster`.
//!
//! The behaviour tests both adapters run live in the unpublished
//! `runtime-conformance` crate (`runtime-std/conformance`), a dev-dependency
//! of both adapters' test suites.
//!
//! ```no_run
//! use election_proto::node::{Node, NodeConfig};
//! use election_proto::{wire::Contact, MemoryStore};
//! use runtime_std::{Clock, Identity, StdNode};
//! use std::net::UdpSocket;
//!
//! let socket = UdpSocket::bind("127.0.0.1:0")?;
//! let identity = Identity::random()?;
//! let addr = socket.local_addr()?;
//! let node = Node::new(NodeConfig::default(), identity.key(), addr, MemoryStore::new(), runtime_std::identity::os_random()?)
//!     .expect("valid config");
//! let running = StdNode::spawn(node, socket, Clock::new())?;
//! // ... running.add_contacts(..), running.events(), running.metrics() ...
//! let metrics = running.shutdown().expect("node was running");
//! println!("{} elections", metrics.elections_started);
//! # Ok::<(), std::io::Error>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod addr;
#[cfg(feature = "cli")]
pub mod cli;
pub mod clock;
pub mod cluster;
pub mod control;
pub mod driver;
pub mod health;
pub mod host;
pub mod identity;
pub mod ledger;
#[cfg(feature = "ledger-db")]
pub mod ledger_db;
#[cfg(feature = "metrics-http")]
pub mod metrics_http;
pub mod setup;
pub mod state;

pub use clock::Clock;
pub use cluster::{Cluster, ClusterOptions, ClusterReport};
pub use control::{IoStats, NodeControl, NodeEvent, NodeStopped, Runtime, Stopped};
pub use driver::{StdNode, StdRuntime};
pub use host::{Host, HostCommand, NodeInfo};
pub use identity::Identity;
pub use ledger::LedgerView;
pub use setup::{BootstrapPeer, LedgerSource, NodeSetup, StartedNode};
pub use state::StateDir;
