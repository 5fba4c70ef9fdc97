//! The std adapter: one node on a [`std::net::UdpSocket`], its loop on its own thread.
//!
//! The loop is a [`Host`] plus a way to wait: a blocking `recv_from` whose
//! read timeout is the time to the host's next deadline. Commands from the
//! [`StdNode`] handle travel over an `mpsc` channel; to interrupt a
//! `recv_from` in progress the handle sends an empty datagram from a private
//! loopback "waker" socket, which the loop recognises by its source address
//! and never shows to the node. The wait is capped at [`MAX_IDLE_WAIT`], so a
//! waker datagram lost to a full receive buffer only delays a command, never
//! loses it.
//!
//! Priority on every turn: queued commands first, then a due timer, then one
//! datagram. After each, the host's outbox is sent on the socket (see
//! [`host`](crate::host) for what the host does with every input).

use crate::clock::Clock;
use crate::control::{IoStats, NodeControl, NodeEvent, NodeStopped, Runtime, Stopped};
use crate::host::{short_id, Flow, Host, HostCommand, NodeInfo, EVENT_CAPACITY, RECV_BUFFER_LEN};
use crate::ledger::LedgerView;
use election_proto::node::{Command, Metrics, Node, PeerSnapshot};
use election_proto::wire::Contact;
use election_proto::{PeerId, TokenId, TokenStore};
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::mpsc::{self, TryRecvError};
use std::thread;
use std::time::Duration;

/// Longest the loop blocks in `recv_from` before looking at its command queue again.
pub const MAX_IDLE_WAIT: Duration = Duration::from_secs(1);

/// Wakes a loop blocked in `recv_from` by sending it an empty datagram.
#[derive(Debug)]
struct Waker {
    socket: UdpSocket,
    target: SocketAddr,
}

impl Waker {
    fn new(node_addr: SocketAddr) -> io::Result<Self> {
        let loopback: IpAddr = match node_addr {
            SocketAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
        };
        let socket = UdpSocket::bind(SocketAddr::new(loopback, 0))?;
        let ip = if node_addr.ip().is_unspecified() {
            loopback
        } else {
            node_addr.ip()
        };
        Ok(Self {
            socket,
            target: SocketAddr::new(ip, node_addr.port()),
        })
    }

    fn wake(&self) {
        // Best effort: the loop also wakes on its own every MAX_IDLE_WAIT.
        let _ = self.socket.send_to(&[], self.target);
    }
}

/// Handle to a node running on its own thread (see the [module docs](self)).
///
/// Dropping the handle shuts the node down and waits for its thread.
pub struct StdNode<S> {
    info: NodeInfo,
    commands: mpsc::Sender<HostCommand<S>>,
    waker: Waker,
    events: mpsc::Receiver<NodeEvent>,
    thread: Option<thread::JoinHandle<Node<SocketAddr, S>>>,
}

impl<S> fmt::Debug for StdNode<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StdNode")
            .field("contact", self.info.contact())
            .field("local_addr", &self.info.local_addr())
            .field("running", &self.thread.is_some())
            .finish_non_exhaustive()
    }
}

impl<S: TokenStore + Send + 'static> StdNode<S> {
    /// Starts `node`'s loop on a new thread, reading and writing `socket`, with
    /// time from `clock`. The node's first input is a timer at the current time.
    pub fn spawn(node: Node<SocketAddr, S>, socket: UdpSocket, clock: Clock) -> io::Result<Self> {
        let local_addr = socket.local_addr()?;
        socket.set_nonblocking(false)?;
        let waker = Waker::new(local_addr)?;
        let waker_addr = waker.socket.local_addr()?;
        let (commands, command_rx) = mpsc::channel();
        let (event_tx, events) = mpsc::sync_channel(EVENT_CAPACITY);
        let host = Host::new(node, clock, event_tx, module_path!());
        let info = host.info(local_addr);
        let thread = thread::Builder::new()
            .name(format!("node-{}", short_id(&info.id())))
            .spawn(move || node_loop(host, &socket, &command_rx, waker_addr))?;
        Ok(Self {
            info,
            commands,
            waker,
            events,
            thread: Some(thread),
        })
    }

    /// The node's id.
    pub fn id(&self) -> PeerId {
        self.info.id()
    }

    /// The contact the node advertises.
    pub fn contact(&self) -> &Contact<SocketAddr> {
        self.info.contact()
    }

    /// The address the node's socket is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.info.local_addr()
    }

    /// The clock the node runs on.
    pub fn clock(&self) -> Clock {
        self.info.clock()
    }

    /// The node's events, in order. Bounded: when nobody reads, new events are
    /// dropped and counted in [`IoStats::events_dropped`].
    pub fn events(&self) -> &mpsc::Receiver<NodeEvent> {
        &self.events
    }

    fn command(&self, cmd: HostCommand<S>) -> Result<(), NodeStopped> {
        self.commands.send(cmd).map_err(|_| NodeStopped)?;
        self.waker.wake();
        Ok(())
    }

    /// Starts an election for `token` (the node must store it; otherwise the
    /// election fails at once and says why in an event).
    pub fn start_election(&self, token: TokenId) -> Result<(), NodeStopped> {
        self.command(HostCommand::Input(Command::StartElection(token)))
    }

    /// Teaches the node contacts.
    pub fn add_contacts(&self, contacts: Vec<Contact<SocketAddr>>) -> Result<(), NodeStopped> {
        self.command(HostCommand::Input(Command::AddContacts(contacts)))
    }

    /// Joins through seed addresses whose ids are unknown (`Command::AddSeeds`).
    pub fn add_seeds(&self, seeds: Vec<SocketAddr>) -> Result<(), NodeStopped> {
        self.command(HostCommand::Input(Command::AddSeeds(seeds)))
    }

    /// Sends `bytes` to `to` from the node's socket.
    pub fn send_datagram(&self, to: SocketAddr, bytes: Vec<u8>) -> Result<(), NodeStopped> {
        self.command(HostCommand::Send { to, bytes })
    }

    /// Runs `f` on the node inside its loop and returns the result. Outputs `f`
    /// causes are drained as after any input.
    pub fn with_node<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Node<SocketAddr, S>) -> R + Send + 'static,
    ) -> Result<R, NodeStopped> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.command(HostCommand::call(move |node| {
            let _ = tx.send(f(node));
        }))?;
        rx.recv().map_err(|_| NodeStopped)
    }

    /// Changes the node's store; the change applies to the next query. Returns
    /// once it is applied.
    pub fn update_store(&self, f: impl FnOnce(&mut S) + Send + 'static) -> Result<(), NodeStopped> {
        self.with_node(move |node| f(node.store_mut()))
    }

    /// The node's counters now.
    pub fn metrics(&self) -> Result<Metrics, NodeStopped> {
        self.with_node(|node| node.metrics())
    }

    /// The node's peer tables now.
    pub fn snapshot(&self) -> Result<PeerSnapshot<SocketAddr>, NodeStopped> {
        self.with_node(|node| node.snapshot())
    }

    /// Restores peer tables; returns how many elected peers were kept.
    pub fn restore(&self, snapshot: PeerSnapshot<SocketAddr>) -> Result<usize, NodeStopped> {
        self.with_node(move |node| node.restore(snapshot))
    }

    /// The adapter's transport counters.
    pub fn io_stats(&self) -> IoStats {
        self.info.io_stats()
    }

    /// Shuts the node down cleanly and returns its final counters.
    pub fn shutdown(self) -> Result<Metrics, NodeStopped> {
        self.shutdown_into_node().map(|node| node.metrics())
    }

    /// Shuts the node down cleanly and returns it (store, tables and all).
    pub fn shutdown_into_node(mut self) -> Result<Node<SocketAddr, S>, NodeStopped> {
        self.stop_thread().ok_or(NodeStopped)
    }
}

impl<S> StdNode<S> {
    /// Asks the loop to shut down and waits for its thread: the node, unless
    /// the thread is already gone (joined before, or ended by a panic).
    fn stop_thread(&mut self) -> Option<Node<SocketAddr, S>> {
        let thread = self.thread.take()?;
        let _ = self.commands.send(HostCommand::Shutdown);
        self.waker.wake();
        thread.join().ok()
    }
}

impl<S> Drop for StdNode<S> {
    fn drop(&mut self) {
        self.stop_thread();
    }
}

impl<S: TokenStore + Send + 'static> NodeControl for StdNode<S> {
    fn runtime_name(&self) -> &'static str {
        "std"
    }
    fn id(&self) -> PeerId {
        self.info.id()
    }
    fn local_addr(&self) -> SocketAddr {
        self.info.local_addr()
    }
    fn contact(&self) -> Contact<SocketAddr> {
        self.info.contact().clone()
    }
    fn now_ms(&self) -> u64 {
        self.info.clock().now_ms()
    }
    fn start_election(&self, token: TokenId) -> Result<(), NodeStopped> {
        StdNode::start_election(self, token)
    }
    fn add_contacts(&self, contacts: Vec<Contact<SocketAddr>>) -> Result<(), NodeStopped> {
        StdNode::add_contacts(self, contacts)
    }
    fn add_seeds(&self, seeds: Vec<SocketAddr>) -> Result<(), NodeStopped> {
        StdNode::add_seeds(self, seeds)
    }
    fn send_datagram(&self, to: SocketAddr, bytes: Vec<u8>) -> Result<(), NodeStopped> {
        StdNode::send_datagram(self, to, bytes)
    }
    fn restore(&self, snapshot: PeerSnapshot<SocketAddr>) -> Result<usize, NodeStopped> {
        StdNode::restore(self, snapshot)
    }
    fn metrics(&self) -> Result<Metrics, NodeStopped> {
        StdNode::metrics(self)
    }
    fn snapshot(&self) -> Result<PeerSnapshot<SocketAddr>, NodeStopped> {
        StdNode::snapshot(self)
    }
    fn io_stats(&self) -> IoStats {
        self.info.io_stats()
    }
    fn try_event(&mut self) -> Option<NodeEvent> {
        self.events.try_recv().ok()
    }
    fn stop(mut self: Box<Self>) -> Result<Stopped, NodeStopped> {
        let node = self.stop_thread().ok_or(NodeStopped)?;
        Ok(self.info.stopped(&node))
    }
}

/// The std adapter as a [`Runtime`].
#[derive(Clone, Copy, Debug, Default)]
pub struct StdRuntime;

impl Runtime for StdRuntime {
    fn name(&self) -> &'static str {
        "std"
    }
    fn spawn(
        &self,
        node: Node<SocketAddr, LedgerView>,
        socket: UdpSocket,
        clock: Clock,
    ) -> io::Result<Box<dyn NodeControl>> {
        Ok(Box::new(StdNode::spawn(node, socket, clock)?))
    }
}

type StdHost<S> = Host<S, mpsc::SyncSender<NodeEvent>>;

/// The loop: waits by blocking in `recv_from`, hands everything to the host.
fn node_loop<S: TokenStore>(
    mut host: StdHost<S>,
    socket: &UdpSocket,
    commands: &mpsc::Receiver<HostCommand<S>>,
    waker_addr: SocketAddr,
) -> Node<SocketAddr, S> {
    let send = |bytes: &[u8], to: SocketAddr| socket.send_to(bytes, to);
    let mut buf = vec![0u8; RECV_BUFFER_LEN];
    let mut read_timeout = None;
    host.start();
    host.flush(send);
    loop {
        // 1. Commands.
        loop {
            let flow = match commands.try_recv() {
                Ok(cmd) => host.command(cmd),
                Err(TryRecvError::Disconnected) => {
                    host.shutdown();
                    Flow::Stop
                }
                Err(TryRecvError::Empty) => break,
            };
            host.flush(send);
            if flow == Flow::Stop {
                return host.into_node();
            }
        }
        // 2. A due timer.
        let wait = match host.time_to_deadline() {
            Some(Duration::ZERO) => {
                host.on_timer();
                host.flush(send);
                continue;
            }
            Some(wait) => wait,
            None => MAX_IDLE_WAIT,
        };
        // 3. One datagram, or the timeout.
        let wait = wait.clamp(Duration::from_millis(1), MAX_IDLE_WAIT);
        if read_timeout != Some(wait) {
            if let Err(e) = socket.set_read_timeout(Some(wait)) {
                log::warn!("set_read_timeout: {e}");
            }
            read_timeout = Some(wait);
        }
        match socket.recv_from(&mut buf) {
            Ok((_, from)) if from == waker_addr => {}
            Ok((n, from)) => host.on_datagram(from, &buf[..n]),
            Err(e) => {
                if let Some(pause) = host.on_recv_error(&e) {
                    thread::sleep(pause);
                }
            }
        }
        host.flush(send);
    }
}
