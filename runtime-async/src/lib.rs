//! Runs [`election_proto`]'s sans-IO [`Node`](election_proto::node::Node) as an
//! async task: the [executor](#executors)'s UDP socket and timer (async-std by
//! default, tokio or smol by feature), a `futures` channel for commands, and
//! `futures::select_biased!` to wait on all three with a fixed priority
//! (command, then timer, then datagram).
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
//! let addr = socket.local_addr()?;
//! let node = Node::new(NodeConfig::default(), identity.key(), addr, MemoryStore::new(), runtime_std::identity::os_random()?)
//!     .expect("valid config");
//! let running = AsyncNode::spawn(node, socket, Clock::new())?;
//! futures::executor::block_on(async {
//!     let metrics = running.shutdown().await.expect("node was running");
//!     println!("{} elections", metrics.elections_started);
//! });
//! # Ok(()) }
//! ```
//!
//! # Executors
//!
//! The node loop in [`node`] only waits, using `futures` (channels,
//! `select_biased!`, `FutureExt::fuse`, `remote_handle`); what a node does
//! with each input is [`runtime_std::host`]'s, shared with the std adapter.
//! Everything executor-specific (a UDP socket, a sleep, spawning a task) is in
//! the private `exec` module, one small submodule per executor, chosen by
//! feature:
//!
//! | feature | executor | tasks run on |
//! |---|---|---|
//! | `async-std` (default) | async-std (discontinued upstream) | its global executor, one thread per core |
//! | `tokio` | tokio | the caller's runtime, else one this crate owns (below) |
//! | `smol` | smol | `smol::spawn`'s global executor, `SMOL_THREADS` threads (default 1) |
//!
//! Select tokio or smol with `default-features = false, features = ["tokio"]`
//! (or `"smol"`). When several executor features are enabled, as under
//! `cargo --all-features`, exactly one is still used, by a fixed precedence:
//! **tokio, then smol, then async-std**; [`EXECUTOR`] names it. Enabling none
//! is a compile error.
//!
//! **tokio.** A tokio socket belongs to a runtime's reactor and a task needs a
//! runtime, so [`AsyncNode::spawn`] uses the runtime the calling thread is in
//! (`tokio::runtime::Handle::try_current`: inside `#[tokio::main]`, a task, or
//! `Runtime::enter`), which must have IO and time enabled (`enable_all`, as
//! `#[tokio::main]` does). Called from a plain thread (the shared tooling, the
//! `election-node-async` binary), it starts a multi-thread runtime of its own
//! on first use (one worker per core, threads named `runtime-async`), kept for
//! the life of the process. Nodes on the caller's runtime live as long as it:
//! once it shuts down, their handles report [`NodeStopped`](runtime_std::NodeStopped).
//! On every executor, the blocking [`NodeControl`](runtime_std::NodeControl)
//! methods wait with `futures::executor::block_on`: call them from plain
//! threads, never from a task (on a single-threaded runtime that would
//! deadlock).
//!
//! # Embedding the core in your own tokio loop
//!
//! [`AsyncNode`] is one way to host a node. A tokio service that wants the
//! node in its own loop needs none of this crate: `election_proto::Node` is
//! sans-IO, so a `tokio::select!` over a command channel, the node's
//! `poll_timeout()` and the socket is the whole host. From
//! `examples/tokio_select.rs` (three nodes on loopback; `cargo run -p
//! runtime-async --no-default-features --features tokio --example
//! tokio_select`):
//!
//! ```ignore
//! // node: election_proto::node::Node<SocketAddr, _>, socket: tokio::net::UdpSocket,
//! // commands: tokio::sync::mpsc::Receiver<Command<SocketAddr>>
//! let start = Instant::now();
//! let now_ms = || start.elapsed().as_millis() as u64;
//! let mut buf = [0u8; 2048];
//! let mut elected = 0;
//! node.handle_input(now_ms(), Input::Timer);
//! while !node.is_stopped() {
//!     while let Some(output) = node.poll_output() {
//!         match output {
//!             Output::Send { to, bytes } => _ = socket.send_to(&bytes, to).await, // UDP: best effort
//!             Output::Event(Event::Elected { winner, .. }) => {
//!                 elected += 1;
//!                 println!("{} elected {}", short_id(&node.id()), short_id(&winner.id));
//!             }
//!             Output::Event(_) => {}
//!         }
//!     }
//!     let deadline = node.poll_timeout();
//!     let wake_at = start + Duration::from_millis(deadline.unwrap_or(0));
//!     let input = tokio::select! {
//!         biased;
//!         cmd = commands.recv() => Input::Command(cmd.unwrap_or(Command::Shutdown)),
//!         () = sleep_until(wake_at), if deadline.is_some() => Input::Timer,
//!         Ok((n, from)) = socket.recv_from(&mut buf) => Input::Datagram { from, bytes: &buf[..n] },
//!     };
//!     node.handle_input(now_ms(), input);
//! }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod exec;
pub mod node;

pub use node::{AsyncNode, AsyncRuntime};

/// The executor this build runs nodes on: `"tokio"`, `"smol"` or
/// `"async-std"` (see [Executors](crate#executors) for how it is chosen).
pub const EXECUTOR: &str = exec::NAME;
