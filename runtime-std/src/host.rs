//! The host glue both adapters share: everything between "something happened"
//! and "wait for the next thing", written once.
//!
//! A [`Host`] owns the [`Node`], its [`Clock`], the event sink, the transport
//! counters and an outbox of datagrams to send. An adapter's loop only waits,
//! in its own way, for the next of three things and hands it over:
//!
//! - a [`HostCommand`] from the adapter's handle: [`Host::command`], which
//!   returns [`Flow::Stop`] once the node has been shut down (an adapter whose
//!   command channel closed calls [`Host::shutdown`] itself);
//! - the timer, when [`Host::deadline`] is reached: [`Host::on_timer`];
//! - what the socket returned: [`Host::on_datagram`], or
//!   [`Host::on_recv_error`], which says whether to pause before the next
//!   receive.
//!
//! Before the loop it calls [`Host::start`] (the node's first input is a timer
//! at the current time). After every input the host drains the node's outputs:
//! events go to the [`EventSink`] without blocking (dropped and counted in
//! [`IoStats::events_dropped`] when it is full, so a host that never reads
//! events cannot make the loop grow or block) and datagrams to the outbox. The
//! adapter then sends the outbox: [`Host::flush`] on a blocking socket, or
//! [`Host::next_send`] and [`Host::record_send`] around an async `send_to`.
//! [`Host::deadline`] is read back after that, so it always reflects the last
//! input.
//!
//! A node that still asks for a timer at or before the time it just handled
//! one (a bug, never seen) is paced: the deadline moves 1 ms on, and a warning
//! is logged once, instead of the loop spinning.
//!
//! The handle side of an adapter keeps a [`NodeInfo`] (from [`Host::info`]):
//! what it knows without asking the loop, and how to turn the node the loop
//! returns into [`Stopped`].

use crate::clock::Clock;
use crate::control::{IoCounters, IoStats, NodeEvent, Stopped};
use election_proto::node::{Command, Input, Node, Output};
use election_proto::wire::Contact;
use election_proto::{PeerId, TokenStore};
use std::collections::VecDeque;
use std::fmt;
use std::io::{self, ErrorKind};
use std::net::SocketAddr;
use std::sync::{mpsc, Arc};
use std::time::Duration;

/// Receive buffer size. Larger than the protocol's datagram cap, so an
/// oversized datagram is seen as oversized (and counted) rather than truncated
/// into something that might parse.
pub const RECV_BUFFER_LEN: usize = 2048;

/// Capacity of each node's event channel.
pub const EVENT_CAPACITY: usize = 4096;

/// How long a loop pauses after a receive error that is not a timeout or an
/// ICMP report (so a broken socket cannot make it spin).
pub const RECV_ERROR_PAUSE: Duration = Duration::from_millis(10);

/// A closure run on the node inside its loop.
pub type NodeCall<S> = Box<dyn FnOnce(&mut Node<SocketAddr, S>) + Send>;

/// What an adapter's handle asks of its node's loop.
pub enum HostCommand<S> {
    /// Feed a command to the node.
    Input(Command<SocketAddr>),
    /// Send a datagram from the node's socket (bootstrap probes).
    Send {
        /// Destination.
        to: SocketAddr,
        /// Payload.
        bytes: Vec<u8>,
    },
    /// Run a closure on the node; its outputs are drained as after any input.
    Call(NodeCall<S>),
    /// Shut the node down and end the loop.
    Shutdown,
}

impl<S> HostCommand<S> {
    /// A [`HostCommand::Call`] of `f`.
    pub fn call(f: impl FnOnce(&mut Node<SocketAddr, S>) + Send + 'static) -> Self {
        Self::Call(Box::new(f))
    }
}

impl<S> fmt::Debug for HostCommand<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Input(c) => f.debug_tuple("Input").field(c).finish(),
            Self::Send { to, bytes } => f
                .debug_struct("Send")
                .field("to", to)
                .field("len", &bytes.len())
                .finish(),
            Self::Call(_) => f.write_str("Call(..)"),
            Self::Shutdown => f.write_str("Shutdown"),
        }
    }
}

/// Whether a loop goes on after a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Keep looping.
    Continue,
    /// The node has shut down: send what is left in the outbox and return it.
    Stop,
}

/// Where a [`Host`] puts the node's events.
pub trait EventSink {
    /// Queues `event` without blocking; `false` if it could not be queued
    /// (the channel is full or nobody listens any more).
    fn offer(&mut self, event: NodeEvent) -> bool;
}

impl EventSink for mpsc::SyncSender<NodeEvent> {
    fn offer(&mut self, event: NodeEvent) -> bool {
        self.try_send(event).is_ok()
    }
}

/// One node and everything its loop needs besides a way to wait (see the
/// [module docs](self)).
pub struct Host<S, E> {
    node: Node<SocketAddr, S>,
    clock: Clock,
    events: E,
    io: Arc<IoCounters>,
    outbox: VecDeque<(SocketAddr, Vec<u8>)>,
    paced_until: Option<u64>,
    warned_stuck: bool,
    log_target: &'static str,
}

impl<S: TokenStore, E> fmt::Debug for Host<S, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Host")
            .field("contact", self.node.contact())
            .field("outbox", &self.outbox.len())
            .field("paced_until", &self.paced_until)
            .finish_non_exhaustive()
    }
}

impl<S: TokenStore, E: EventSink> Host<S, E> {
    /// A host for `node` on `clock`, putting events into `events`; its log
    /// lines go to `log_target` (the calling adapter's `module_path!()`).
    pub fn new(node: Node<SocketAddr, S>, clock: Clock, events: E, log_target: &'static str) -> Self {
        Self {
            node,
            clock,
            events,
            io: Arc::new(IoCounters::default()),
            outbox: VecDeque::new(),
            paced_until: None,
            warned_stuck: false,
            log_target,
        }
    }

    /// What the adapter's handle keeps: the node's contact, the socket's
    /// `local_addr`, the clock, and the transport counters (shared with this host).
    pub fn info(&self, local_addr: SocketAddr) -> NodeInfo {
        NodeInfo {
            contact: self.node.contact().clone(),
            local_addr,
            clock: self.clock,
            io: self.io.clone(),
        }
    }

    /// The node.
    pub fn node(&self) -> &Node<SocketAddr, S> {
        &self.node
    }

    /// The clock the node runs on.
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// Gives the node its first input: a timer at the current time.
    pub fn start(&mut self) {
        self.feed(Input::Timer);
    }

    /// Carries out a command from the handle.
    pub fn command(&mut self, cmd: HostCommand<S>) -> Flow {
        match cmd {
            HostCommand::Input(c) => self.feed(Input::Command(c)),
            HostCommand::Send { to, bytes } => self.outbox.push_back((to, bytes)),
            HostCommand::Call(f) => {
                f(&mut self.node);
                self.drain();
            }
            HostCommand::Shutdown => {
                self.shutdown();
                return Flow::Stop;
            }
        }
        Flow::Continue
    }

    /// Shuts the node down: running elections end as failed with reason
    /// `Shutdown`, and later inputs are ignored.
    pub fn shutdown(&mut self) {
        self.feed(Input::Command(Command::Shutdown));
    }

    /// The clock reading (ms) at which to call [`on_timer`](Self::on_timer)
    /// next, or `None` if nothing is scheduled until the next datagram or
    /// command. Read it after every input.
    pub fn deadline(&self) -> Option<u64> {
        let want = self.node.poll_timeout()?;
        Some(match self.paced_until {
            Some(paced) if want < paced => paced,
            _ => want,
        })
    }

    /// How long from now until [`deadline`](Self::deadline) (zero if it is
    /// due), or `None` if nothing is scheduled.
    pub fn time_to_deadline(&self) -> Option<Duration> {
        self.deadline().map(|at| self.clock.until(at))
    }

    /// The timer fired: feeds it to the node at the current time, and paces a
    /// node that still wants a timer now.
    pub fn on_timer(&mut self) {
        let now = self.clock.now_ms();
        self.feed_at(now, Input::Timer);
        self.paced_until = match self.node.poll_timeout() {
            Some(at) if at <= now => {
                if !self.warned_stuck {
                    self.warned_stuck = true;
                    log::warn!(
                        target: self.log_target,
                        "node {} asks for a timer in the past; pacing it",
                        short_id(&self.node.id())
                    );
                }
                Some(now.saturating_add(1))
            }
            _ => None,
        };
    }

    /// A datagram arrived from `from`: counts it and feeds it to the node.
    pub fn on_datagram(&mut self, from: SocketAddr, bytes: &[u8]) {
        self.io.received();
        self.feed(Input::Datagram { from, bytes });
    }

    /// A receive failed. Timeouts, interruptions and ICMP reports for earlier
    /// sends (`ConnectionReset`, `ConnectionRefused` on some platforms) are not
    /// ours to act on: `None`. Anything else is counted and logged, and the
    /// loop should pause for the returned time before receiving again.
    pub fn on_recv_error(&self, error: &io::Error) -> Option<Duration> {
        match error.kind() {
            ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted => None,
            ErrorKind::ConnectionReset | ErrorKind::ConnectionRefused => None,
            _ => {
                self.io.recv_error();
                log::warn!(target: self.log_target, "recv_from: {error}");
                Some(RECV_ERROR_PAUSE)
            }
        }
    }

    /// The next datagram to send, oldest first.
    pub fn next_send(&mut self) -> Option<(SocketAddr, Vec<u8>)> {
        self.outbox.pop_front()
    }

    /// Counts the outcome of sending a datagram to `to`; a failure is logged
    /// at debug level.
    pub fn record_send(&self, to: SocketAddr, result: io::Result<usize>) {
        match result {
            Ok(_) => self.io.sent(),
            Err(e) => {
                self.io.send_error();
                log::debug!(target: self.log_target, "send to {to} failed: {e}");
            }
        }
    }

    /// Sends the whole outbox with a blocking `send_to(bytes, to)`.
    pub fn flush(&mut self, mut send_to: impl FnMut(&[u8], SocketAddr) -> io::Result<usize>) {
        while let Some((to, bytes)) = self.next_send() {
            let result = send_to(&bytes, to);
            self.record_send(to, result);
        }
    }

    /// Ends the host, returning the node (store, tables and counters).
    pub fn into_node(self) -> Node<SocketAddr, S> {
        self.node
    }

    fn feed(&mut self, input: Input<'_, SocketAddr>) {
        self.feed_at(self.clock.now_ms(), input);
    }

    fn feed_at(&mut self, now_ms: u64, input: Input<'_, SocketAddr>) {
        self.node.handle_input(now_ms, input);
        self.drain();
    }

    fn drain(&mut self) {
        while let Some(out) = self.node.poll_output() {
            match out {
                Output::Send { to, bytes } => self.outbox.push_back((to, bytes)),
                Output::Event(e) => {
                    if !self.events.offer(e) {
                        self.io.event_dropped();
                    }
                }
            }
        }
    }
}

/// What an adapter's handle knows about its node without asking the loop.
#[derive(Clone, Debug)]
pub struct NodeInfo {
    contact: Contact<SocketAddr>,
    local_addr: SocketAddr,
    clock: Clock,
    io: Arc<IoCounters>,
}

impl NodeInfo {
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

    /// The transport counters now.
    pub fn io_stats(&self) -> IoStats {
        self.io.snapshot()
    }

    /// What the stopped `node` leaves behind: its final counters and tables,
    /// the clock's reading now, and the transport counters.
    pub fn stopped<S: TokenStore>(&self, node: &Node<SocketAddr, S>) -> Stopped {
        Stopped {
            metrics: node.metrics(),
            snapshot: node.snapshot(),
            stopped_at_ms: self.clock.now_ms(),
            io: self.io.snapshot(),
        }
    }
}

/// First bytes of an id in hex, for names and log lines.
pub fn short_id(id: &PeerId) -> String {
    id.as_bytes()[..4].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use election_proto::node::{Event, FailureReason, NodeConfig};
    use election_proto::{BlockId, MemoryStore, TokenId};
    use std::net::Ipv4Addr;

    /// Keeps up to `room` events, refuses the rest.
    struct Sink {
        room: usize,
        got: Vec<NodeEvent>,
    }

    impl EventSink for Sink {
        fn offer(&mut self, event: NodeEvent) -> bool {
            if self.got.len() < self.room {
                self.got.push(event);
                true
            } else {
                false
            }
        }
    }

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, port))
    }

    fn host(room: usize) -> Host<MemoryStore, Sink> {
        let mut store = MemoryStore::new();
        store.insert(TokenId::from_u64(5), BlockId::from_u64(6));
        let node = Node::new(
            NodeConfig::default(),
            election_proto::NodeKey::from_secret([1; 32]),
            addr(1),
            store,
            [7; 32],
        )
        .unwrap();
        Host::new(
            node,
            Clock::new(),
            Sink {
                room,
                got: Vec::new(),
            },
            module_path!(),
        )
    }

    fn failures(host: &Host<MemoryStore, Sink>) -> Vec<FailureReason> {
        host.events
            .got
            .iter()
            .filter_map(|e| match e {
                Event::ElectionFailed { reason, .. } => Some(*reason),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn start_schedules_the_first_election() {
        let mut h = host(16);
        assert_eq!(h.deadline(), None, "nothing scheduled before the first input");
        h.start();
        let at = h.deadline().expect("first election scheduled");
        assert!(at <= h.clock().now_ms() + NodeConfig::default().health.election_interval_ms);
        assert!(h.time_to_deadline().unwrap() <= Duration::from_millis(at));
        assert!(h.next_send().is_none());
    }

    #[test]
    fn commands_reach_the_node_and_shutdown_stops() {
        let mut h = host(16);
        h.start();
        let token = TokenId::from_u64(5);
        // No contacts: the election fails at once, with an event.
        assert_eq!(
            h.command(HostCommand::Input(Command::StartElection(token))),
            Flow::Continue
        );
        assert_eq!(failures(&h), [FailureReason::NoContacts]);
        // A call runs on the node; what it causes is drained like any input.
        let (tx, rx) = mpsc::channel();
        h.command(HostCommand::call(move |n: &mut Node<SocketAddr, MemoryStore>| {
            tx.send(n.store().len()).unwrap();
            n.handle_input(0, Input::Command(Command::StartElection(TokenId::from_u64(9))));
        }));
        assert_eq!(rx.try_recv(), Ok(1));
        assert_eq!(failures(&h), [FailureReason::NoContacts, FailureReason::NoToken]);
        assert_eq!(h.command(HostCommand::Shutdown), Flow::Stop);
        assert_eq!(h.deadline(), None, "a stopped node schedules nothing");
        let node = h.into_node();
        assert_eq!(node.metrics().elections_started, 2);
    }

    #[test]
    fn datagrams_to_send_go_through_the_outbox_and_are_counted() {
        let mut h = host(16);
        let info = h.info(addr(1));
        h.command(HostCommand::Send {
            to: addr(2),
            bytes: vec![1, 2, 3],
        });
        h.command(HostCommand::Send {
            to: addr(3),
            bytes: vec![4],
        });
        let mut sent = Vec::new();
        h.flush(|bytes, to| {
            sent.push((to, bytes.to_vec()));
            if to == addr(3) {
                Err(io::Error::other("refused"))
            } else {
                Ok(bytes.len())
            }
        });
        assert_eq!(sent, [(addr(2), vec![1, 2, 3]), (addr(3), vec![4])]);
        let io = info.io_stats();
        assert_eq!((io.datagrams_sent, io.send_errors), (1, 1));
        assert!(h.next_send().is_none());
    }

    #[test]
    fn a_full_event_sink_drops_and_counts() {
        let mut h = host(1);
        let info = h.info(addr(1));
        h.start();
        for _ in 0..3 {
            h.command(HostCommand::Input(Command::StartElection(TokenId::from_u64(5))));
        }
        // Each failed election is two events (started, failed): one kept.
        assert_eq!(h.events.got.len(), 1);
        assert_eq!(info.io_stats().events_dropped, 5);
    }

    #[test]
    fn received_datagrams_are_counted_and_decoded() {
        let mut h = host(16);
        let info = h.info(addr(1));
        h.start();
        h.on_datagram(addr(9), &[]);
        h.on_datagram(addr(9), b"garbage");
        assert_eq!(info.io_stats().datagrams_received, 2);
        assert_eq!(h.node().metrics().decode_errors_total(), 2);
    }

    #[test]
    fn receive_errors_are_ignored_or_counted_with_a_pause() {
        let h = host(16);
        let info = h.info(addr(1));
        for kind in [
            ErrorKind::WouldBlock,
            ErrorKind::TimedOut,
            ErrorKind::Interrupted,
            ErrorKind::ConnectionReset,
            ErrorKind::ConnectionRefused,
        ] {
            assert_eq!(h.on_recv_error(&io::Error::from(kind)), None, "{kind:?}");
        }
        assert_eq!(info.io_stats().recv_errors, 0);
        assert_eq!(
            h.on_recv_error(&io::Error::other("broken")),
            Some(RECV_ERROR_PAUSE)
        );
        assert_eq!(info.io_stats().recv_errors, 1);
    }

    #[test]
    fn stopped_reports_final_state() {
        let mut h = host(16);
        let info = h.info(addr(4));
        assert_eq!(info.id(), election_proto::NodeKey::from_secret([1; 32]).peer_id());
        assert_eq!(info.local_addr(), addr(4));
        h.start();
        h.command(HostCommand::Input(Command::StartElection(TokenId::from_u64(5))));
        h.shutdown();
        let node = h.into_node();
        let stopped = info.stopped(&node);
        assert_eq!(stopped.metrics, node.metrics());
        assert_eq!(stopped.snapshot, node.snapshot());
        assert_eq!(stopped.io, info.io_stats());
    }

    #[test]
    fn short_ids_are_eight_hex_digits() {
        assert_eq!(short_id(&PeerId::new([0xab; 32])), "abababab");
    }
}
