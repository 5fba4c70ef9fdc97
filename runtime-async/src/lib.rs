//! Runs [`election_proto`]'s sans-IO [`Node`](election_proto::node::Node) as an
//! async task: async-std's UDP socket and timer, a `futures` channel for
//! commands, and `futures::select_biased!` to wait on all three with a fixed
//! priority (command, then timer, then datagram).
//!
//! [`AsyncNode::spawn`] starts a node and returns a handle with async methods
//! (metrics, snapshot, store updates, shutdown returning the final
//! [`Metrics`](election_proto::node::Metrics)) and a `Stream` of events.
//! [`AsyncRuntime`] plugs the adapter into the shared tooling of
//! [`runtime_std`] (ledger files, state directory, cluster, command line), so
//! the `election-node-async` binary behaves exactly like `election-node`.
//!
//! ```no_run
//! use election_proto::node::{Node, NodeConfig};
//! use election_proto::{wire::Contact, MemoryStore};
//! use runtime_async::AsyncNode;
//! use runtime_std::{Clock, Identity};
//!
//! # fn main() -> std::io::Result<()> {
//! let socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
//! let identity = Identity::random()?;
//! let me = Contact { id: identity.peer_id(), addr: socket.local_addr()? };
//! let node = Node::new(NodeConfig::default(), me, MemoryStore::new(), runtime_std::identity::os_random()?)
//!     .expect("valid config");
//! let running = AsyncNode::spawn(node, socket, Clock::new())?;
//! futures::executor::block_on(async {
//!     let metrics = running.shutdown().await.expect("node was running");
//!     println!("{} elections", metrics.elections_started);
//! });
//! # Ok(()) }
//! ```
//!
//! # Changing the executor
//!
//! async-std is discontinued upstream in favour of smol. What a node does with
//! each input is [`runtime_std::host`]'s, shared with the std adapter; the
//! loop in [`node`] only waits, using `futures` (channels, `select_biased!`,
//! `FutureExt::fuse`, `remote_handle`). Everything executor-specific is in
//! the private `exec` module, five items long. To move to smol, add `smol` as
//! a dependency and change only `exec.rs`:
//!
//! - `type UdpSocket = smol::net::UdpSocket;` (same `recv_from` / `send_to`);
//! - `udp_from_std`: `smol::net::UdpSocket::try_from(socket)`;
//! - `sleep`: `smol::Timer::after(duration).map(|_| ()).boxed()`;
//! - `spawn`: `smol::spawn(future).detach()`;
//! - `block_on`: `futures::executor::block_on` works with any executor (or
//!   `smol::block_on`).
//!
//! Tokio works the same way (`tokio::net::UdpSocket::from_std`,
//! `tokio::time::sleep`, `tokio::spawn`), with the proviso that tokio's socket
//! and timer need a tokio runtime to exist when the node is spawned.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod exec;
pub mod node;

pub use node::{AsyncNode, AsyncRuntime};
