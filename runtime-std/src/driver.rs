//! The std adapter: one node on a [`std::net::UdpSocket`], its loop on its own thread.
//!
//! The loop waits for whichever comes first: a datagram (a blocking
//! `recv_from` whose read timeout is the node's next timer), the timer itself,
//! or a command from the [`StdNode`] handle. Commands travel over an `mpsc`
//! channel; to interrupt a `recv_from` in progress the handle sends an empty
//! datagram from a private loopback "waker" socket, which the loop recognises
//! by its source address and never shows to the node. The wait is capped at
//! [`MAX_IDLE_WAIT`], so a waker datagram lost to a full receive buffer only
//! delays a command, never loses it.
//!
//! Priority on every turn: queued commands first, then a due timer, then one
//! datagram. After every input the node's outputs are drained: datagrams go to
//! the socket, events to a bounded channel (dropped and counted when full, so a
//! host that never reads events cannot make the loop grow or block), and the
//! next timer is read back with `poll_timeout`.

use crate::clock::Clock;
use crate::control::{IoCounters, IoStats, NodeControl, NodeEvent, NodeStopped, Runtime, Stopped};
use crate::ledger::LedgerView;
use election_proto::node::{Command, Input, Metrics, Node, Output, PeerSnapshot};
use election_proto::wire::Contact;
use election_proto::{PeerId, TokenId, TokenStore};
use std::fmt;
use std::io::{self, ErrorKind};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::mpsc::{self, TryRecvError, TrySendError};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// Receive buffer size. Larger than the protocol's datagram cap, so an
/// oversized datagram is seen as oversized (and counted) rather than truncated
/// into something that might parse.
pub const RECV_BUFFER_LEN: usize = 2048;

/// Longest the loop blocks in `recv_from` before looking at its command queue again.
pub const MAX_IDLE_WAIT: Duration = Duration::from_secs(1);

/// Capacity of each node's event channel.
pub const EVENT_CAPACITY: usize = 4096;

type NodeCall<S> = Box<dyn FnOnce(&mut Node<SocketAddr, S>) + Send>;

enum Cmd<S> {
    Input(Command<SocketAddr>),
    Send { to: SocketAddr, bytes: Vec<u8> },
    Call(NodeCall<S>),
    Shutdown,
}

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
    contact: Contact<SocketAddr>,
    local_addr: SocketAddr,
    clock: Clock,
    commands: mpsc::Sender<Cmd<S>>,
    waker: Waker,
    events: mpsc::Receiver<NodeEvent>,
    io: Arc<IoCounters>,
    thread: Option<thread::JoinHandle<Node<SocketAddr, S>>>,
}

impl<S> fmt::Debug for StdNode<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StdNode")
            .field("contact", &self.contact)
            .field("local_addr", &self.local_addr)
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
        let io = Arc::new(IoCounters::default());
        let contact = node.contact().clone();
        let loop_io = io.clone();
        let thread = thread::Builder::new()
            .name(format!("node-{}", short_id(&contact.id)))
            .spawn(move || {
                let out = Outputs {
                    socket: &socket,
                    events: event_tx,
                    io: &loop_io,
                };
                node_loop(node, &socket, command_rx, waker_addr, out, clock)
            })?;
        Ok(Self {
            contact,
            local_addr,
            clock,
            commands,
            waker,
            events,
            io,
            thread: Some(thread),
        })
    }

    /// The node's id.
    pub fn id(&self) -> PeerId {
        self.contact.id
    }

    /// The contact the node advertises.
    pub fn contact(&self) -> &Contact<SocketAddr> {
        &self.contact
    }

    /// The address the node's socket is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The clock the node runs on.
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// The node's events, in order. Bounded: when nobody reads, new events are
    /// dropped and counted in [`IoStats::events_dropped`].
    pub fn events(&self) -> &mpsc::Receiver<NodeEvent> {
        &self.events
    }

    fn command(&self, cmd: Cmd<S>) -> Result<(), NodeStopped> {
        self.commands.send(cmd).map_err(|_| NodeStopped)?;
        self.waker.wake();
        Ok(())
    }

    /// Starts an election for `token` (the node must store it; otherwise the
    /// election fails at once and says why in an event).
    pub fn start_election(&self, token: TokenId) -> Result<(), NodeStopped> {
        self.command(Cmd::Input(Command::StartElection(token)))
    }

    /// Teaches the node contacts.
    pub fn add_contacts(&self, contacts: Vec<Contact<SocketAddr>>) -> Result<(), NodeStopped> {
        self.command(Cmd::Input(Command::AddContacts(contacts)))
    }

    /// Sends `bytes` to `to` from the node's socket.
    pub fn send_datagram(&self, to: SocketAddr, bytes: Vec<u8>) -> Result<(), NodeStopped> {
        self.command(Cmd::Send { to, bytes })
    }

    /// Runs `f` on the node inside its loop and returns the result. Outputs `f`
    /// causes are drained as after any input.
    pub fn with_node<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Node<SocketAddr, S>) -> R + Send + 'static,
    ) -> Result<R, NodeStopped> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.command(Cmd::Call(Box::new(move |node| {
            let _ = tx.send(f(node));
        })))?;
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
        self.io.snapshot()
    }

    /// Shuts the node down cleanly and returns its final counters.
    pub fn shutdown(self) -> Result<Metrics, NodeStopped> {
        self.shutdown_into_node().map(|node| node.metrics())
    }

    /// Shuts the node down cleanly and returns it (store, tables and all).
    pub fn shutdown_into_node(mut self) -> Result<Node<SocketAddr, S>, NodeStopped> {
        self.stop_thread().ok_or(NodeStopped)
    }

    fn stop_thread(&mut self) -> Option<Node<SocketAddr, S>> {
        let thread = self.thread.take()?;
        let _ = self.commands.send(Cmd::Shutdown);
        self.waker.wake();
        thread.join().ok()
    }
}

impl<S> Drop for StdNode<S> {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = self.commands.send(Cmd::Shutdown);
            self.waker.wake();
            let _ = thread.join();
        }
    }
}

impl<S: TokenStore + Send + 'static> NodeControl for StdNode<S> {
    fn runtime_name(&self) -> &'static str {
        "std"
    }
    fn id(&self) -> PeerId {
        self.contact.id
    }
    fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }
    fn contact(&self) -> Contact<SocketAddr> {
        self.contact.clone()
    }
    fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }
    fn start_election(&self, token: TokenId) -> Result<(), NodeStopped> {
        StdNode::start_election(self, token)
    }
    fn add_contacts(&self, contacts: Vec<Contact<SocketAddr>>) -> Result<(), NodeStopped> {
        StdNode::add_contacts(self, contacts)
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
        StdNode::io_stats(self)
    }
    fn try_event(&mut self) -> Option<NodeEvent> {
        self.events.try_recv().ok()
    }
    fn stop(mut self: Box<Self>) -> Result<Stopped, NodeStopped> {
        let node = self.stop_thread().ok_or(NodeStopped)?;
        Ok(stopped(&node, self.clock, &self.io))
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

/// Where the loop puts the node's outputs.
struct Outputs<'a> {
    socket: &'a UdpSocket,
    events: mpsc::SyncSender<NodeEvent>,
    io: &'a IoCounters,
}

impl Outputs<'_> {
    fn feed<S: TokenStore>(&self, node: &mut Node<SocketAddr, S>, now_ms: u64, input: Input<'_, SocketAddr>) {
        node.handle_input(now_ms, input);
        self.drain(node);
    }

    fn drain<S: TokenStore>(&self, node: &mut Node<SocketAddr, S>) {
        while let Some(out) = node.poll_output() {
            match out {
                Output::Send { to, bytes } => self.send(to, &bytes),
                Output::Event(e) => match self.events.try_send(e) {
                    Ok(()) => {}
                    Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                        self.io.event_dropped()
                    }
                },
            }
        }
    }

    fn send(&self, to: SocketAddr, bytes: &[u8]) {
        record_send(module_path!(), self.io, to, self.socket.send_to(bytes, to));
    }
}

// Loop bookkeeping shared with the async adapter (`runtime-async`), whose loop
// differs only in how it waits.

/// What a stopped node leaves behind: its final counters and tables, the
/// clock's reading now, and the adapter's transport counters.
pub fn stopped<S: TokenStore>(node: &Node<SocketAddr, S>, clock: Clock, io: &IoCounters) -> Stopped {
    Stopped {
        metrics: node.metrics(),
        snapshot: node.snapshot(),
        stopped_at_ms: clock.now_ms(),
        io: io.snapshot(),
    }
}

/// Counts the outcome of a `send_to` to `to`; a failure is logged at debug
/// level under `log_target` (the calling adapter's `module_path!()`).
pub fn record_send(log_target: &str, io: &IoCounters, to: SocketAddr, result: io::Result<usize>) {
    match result {
        Ok(_) => io.sent(),
        Err(e) => {
            io.send_error();
            log::debug!(target: log_target, "send to {to} failed: {e}");
        }
    }
}

/// Warns, once per loop, that a node asks for a timer that is already due right
/// after handling one (the loop then paces it instead of spinning).
#[derive(Debug)]
pub struct StuckTimerWarning {
    log_target: &'static str,
    warned: bool,
}

impl StuckTimerWarning {
    /// Not warned yet; the warning goes to `log_target` (the calling adapter's
    /// `module_path!()`).
    pub fn new(log_target: &'static str) -> Self {
        Self {
            log_target,
            warned: false,
        }
    }

    /// Logs the warning for node `id`, the first time only.
    pub fn warn_once(&mut self, id: &PeerId) {
        if !self.warned {
            self.warned = true;
            log::warn!(
                target: self.log_target,
                "node {} asks for a timer in the past; pacing it",
                short_id(id)
            );
        }
    }
}

fn node_loop<S: TokenStore>(
    mut node: Node<SocketAddr, S>,
    socket: &UdpSocket,
    commands: mpsc::Receiver<Cmd<S>>,
    waker_addr: SocketAddr,
    out: Outputs<'_>,
    clock: Clock,
) -> Node<SocketAddr, S> {
    let mut buf = vec![0u8; RECV_BUFFER_LEN];
    let mut read_timeout = None;
    let mut stuck = StuckTimerWarning::new(module_path!());
    out.feed(&mut node, clock.now_ms(), Input::Timer);
    loop {
        // 1. Commands.
        loop {
            match commands.try_recv() {
                Ok(Cmd::Input(c)) => out.feed(&mut node, clock.now_ms(), Input::Command(c)),
                Ok(Cmd::Send { to, bytes }) => out.send(to, &bytes),
                Ok(Cmd::Call(f)) => {
                    f(&mut node);
                    out.drain(&mut node);
                }
                Ok(Cmd::Shutdown) | Err(TryRecvError::Disconnected) => {
                    out.feed(&mut node, clock.now_ms(), Input::Command(Command::Shutdown));
                    return node;
                }
                Err(TryRecvError::Empty) => break,
            }
        }
        // 2. A due timer.
        let now = clock.now_ms();
        let mut wait = match node.poll_timeout() {
            Some(at) if at > now => Duration::from_millis(at - now),
            Some(_) => {
                out.feed(&mut node, now, Input::Timer);
                match node.poll_timeout() {
                    Some(at) if at <= now => {
                        // The node still wants a timer now: do not spin on it.
                        stuck.warn_once(&node.id());
                        Duration::from_millis(1)
                    }
                    _ => continue,
                }
            }
            None => MAX_IDLE_WAIT,
        };
        // 3. One datagram, or the timeout.
        wait = wait.clamp(Duration::from_millis(1), MAX_IDLE_WAIT);
        if read_timeout != Some(wait) {
            if let Err(e) = socket.set_read_timeout(Some(wait)) {
                log::warn!("set_read_timeout: {e}");
            }
            read_timeout = Some(wait);
        }
        match socket.recv_from(&mut buf) {
            Ok((_, from)) if from == waker_addr => {}
            Ok((n, from)) => {
                out.io.received();
                out.feed(
                    &mut node,
                    clock.now_ms(),
                    Input::Datagram {
                        from,
                        bytes: &buf[..n],
                    },
                );
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            // ICMP errors reported on some platforms for earlier sends: not ours to act on.
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::ConnectionReset | ErrorKind::ConnectionRefused
                ) => {}
            Err(e) => {
                out.io.recv_error();
                log::warn!("recv_from: {e}");
                thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// First bytes of an id in hex, for names and log lines.
pub fn short_id(id: &PeerId) -> String {
    id.as_bytes()[..4].iter().map(|b| format!("{b:02x}")).collect()
}
