//! What the shared tooling (cluster, `run`, CLI) needs from a runtime adapter.
//!
//! Both adapters implement [`Runtime`] and hand out [`NodeControl`] objects, so
//! the cluster driver, the `run` command and the binaries are written once and
//! can even mix adapters in one cluster.

use crate::clock::Clock;
use crate::ledger::LedgerView;
use election_proto::node::{Event, Metrics, Node, PeerSnapshot};
use election_proto::wire::Contact;
use election_proto::{PeerId, TokenId};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};

/// An event as the runtimes report it.
pub type NodeEvent = Event<SocketAddr>;

/// The node loop has ended (shut down, or its thread or task is gone).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeStopped;

impl fmt::Display for NodeStopped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the node has stopped")
    }
}

impl std::error::Error for NodeStopped {}

/// Transport-level counters kept by an adapter (the node keeps protocol counters
/// in [`Metrics`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IoStats {
    /// Datagrams received and handed to the node.
    pub datagrams_received: u64,
    /// Datagrams the socket accepted for sending.
    pub datagrams_sent: u64,
    /// Sends the socket refused (logged at debug level).
    pub send_errors: u64,
    /// Receive errors other than timeouts.
    pub recv_errors: u64,
    /// Events dropped because nobody drained the event channel.
    pub events_dropped: u64,
}

impl IoStats {
    /// Adds `other` into `self`, counter by counter (totals over nodes).
    pub fn merge(&mut self, other: &IoStats) {
        // Destructured so that a new counter cannot be forgotten here.
        let IoStats {
            datagrams_received,
            datagrams_sent,
            send_errors,
            recv_errors,
            events_dropped,
        } = other;
        self.datagrams_received += datagrams_received;
        self.datagrams_sent += datagrams_sent;
        self.send_errors += send_errors;
        self.recv_errors += recv_errors;
        self.events_dropped += events_dropped;
    }
}

/// Lock-free [`IoStats`] shared between a node loop and its handle.
#[derive(Debug, Default)]
pub struct IoCounters {
    datagrams_received: AtomicU64,
    datagrams_sent: AtomicU64,
    send_errors: AtomicU64,
    recv_errors: AtomicU64,
    events_dropped: AtomicU64,
}

impl IoCounters {
    /// Counts a datagram handed to the node.
    pub fn received(&self) {
        self.datagrams_received.fetch_add(1, Ordering::Relaxed);
    }
    /// Counts a datagram sent.
    pub fn sent(&self) {
        self.datagrams_sent.fetch_add(1, Ordering::Relaxed);
    }
    /// Counts a failed send.
    pub fn send_error(&self) {
        self.send_errors.fetch_add(1, Ordering::Relaxed);
    }
    /// Counts a failed receive.
    pub fn recv_error(&self) {
        self.recv_errors.fetch_add(1, Ordering::Relaxed);
    }
    /// Counts a dropped event.
    pub fn event_dropped(&self) {
        self.events_dropped.fetch_add(1, Ordering::Relaxed);
    }
    /// A consistent-enough copy of the counters.
    pub fn snapshot(&self) -> IoStats {
        IoStats {
            datagrams_received: self.datagrams_received.load(Ordering::Relaxed),
            datagrams_sent: self.datagrams_sent.load(Ordering::Relaxed),
            send_errors: self.send_errors.load(Ordering::Relaxed),
            recv_errors: self.recv_errors.load(Ordering::Relaxed),
            events_dropped: self.events_dropped.load(Ordering::Relaxed),
        }
    }
}

/// What a stopped node leaves behind.
#[derive(Clone, Debug)]
pub struct Stopped {
    /// Final protocol counters.
    pub metrics: Metrics,
    /// Final peer tables (for persistence).
    pub snapshot: PeerSnapshot<SocketAddr>,
    /// The node's clock reading when it stopped.
    pub stopped_at_ms: u64,
    /// Final transport counters.
    pub io: IoStats,
}

/// A running node, whichever adapter runs it. Every method is blocking and
/// must be called from outside the adapter's own executor threads.
pub trait NodeControl: Send {
    /// The adapter's name (`"std"` or `"async"`).
    fn runtime_name(&self) -> &'static str;
    /// The node's id.
    fn id(&self) -> PeerId;
    /// The address the node's socket is bound to.
    fn local_addr(&self) -> SocketAddr;
    /// The contact the node advertises (its id and the address peers reach it at).
    fn contact(&self) -> Contact<SocketAddr>;
    /// The node's clock reading now.
    fn now_ms(&self) -> u64;
    /// Starts an election for a token the node stores.
    fn start_election(&self, token: TokenId) -> Result<(), NodeStopped>;
    /// Teaches the node contacts.
    fn add_contacts(&self, contacts: Vec<Contact<SocketAddr>>) -> Result<(), NodeStopped>;
    /// Joins through seed addresses whose ids are unknown
    /// ([`Command::AddSeeds`](election_proto::Command::AddSeeds)).
    fn add_seeds(&self, seeds: Vec<SocketAddr>) -> Result<(), NodeStopped>;
    /// Sends a datagram from the node's socket (bootstrap probes).
    fn send_datagram(&self, to: SocketAddr, bytes: Vec<u8>) -> Result<(), NodeStopped>;
    /// Restores peer tables; returns how many elected peers were kept.
    fn restore(&self, snapshot: PeerSnapshot<SocketAddr>) -> Result<usize, NodeStopped>;
    /// The node's counters now.
    fn metrics(&self) -> Result<Metrics, NodeStopped>;
    /// The node's peer tables now.
    fn snapshot(&self) -> Result<PeerSnapshot<SocketAddr>, NodeStopped>;
    /// The adapter's transport counters now.
    fn io_stats(&self) -> IoStats;
    /// The next queued event, if any (never blocks).
    fn try_event(&mut self) -> Option<NodeEvent>;
    /// Shuts the node down cleanly (running elections end as failed with
    /// reason `Shutdown`) and returns what it leaves behind.
    fn stop(self: Box<Self>) -> Result<Stopped, NodeStopped>;
}

/// An adapter that can run a node.
pub trait Runtime: Sync {
    /// The adapter's name (`"std"` or `"async"`).
    fn name(&self) -> &'static str;
    /// Starts running `node` on `socket` (already bound) with `clock`.
    fn spawn(
        &self,
        node: Node<SocketAddr, LedgerView>,
        socket: UdpSocket,
        clock: Clock,
    ) -> io::Result<Box<dyn NodeControl>>;
}
