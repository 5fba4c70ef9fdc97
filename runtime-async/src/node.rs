//! The async adapter: one node on an async UDP socket, as one task.
//!
//! The task's loop waits with `futures::select_biased!` on, in this fixed
//! priority order: a command from the [`AsyncNode`] handle, the node's timer,
//! a datagram. Commands come first so that shutdown and metrics requests are
//! served promptly even under a datagram flood; the timer comes before
//! datagrams so that a flood cannot starve elections of their deadlines. After
//! every input the node's outputs are drained: datagrams to the socket, events
//! to a bounded channel (dropped and counted when full), and the timer is
//! re-armed from `poll_timeout` only when the deadline changed.

use crate::exec;
use election_proto::node::{Command, Input, Metrics, Node, Output, PeerSnapshot};
use election_proto::wire::Contact;
use election_proto::{PeerId, TokenId, TokenStore};
use futures::channel::{mpsc, oneshot};
use futures::future::{Fuse, FusedFuture, RemoteHandle};
use futures::{select_biased, FutureExt, StreamExt};
use runtime_std::control::IoCounters;
use runtime_std::driver::{record_send, stopped, StuckTimerWarning, EVENT_CAPACITY, RECV_BUFFER_LEN};
use runtime_std::{Clock, IoStats, LedgerView, NodeControl, NodeEvent, NodeStopped, Runtime, Stopped};
use std::any::Any;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

type NodeCall<S> = Box<dyn FnOnce(&mut Node<SocketAddr, S>) + Send>;
type LoopResult<S> = Result<Node<SocketAddr, S>, Box<dyn Any + Send>>;

enum Cmd<S> {
    Input(Command<SocketAddr>),
    Send { to: SocketAddr, bytes: Vec<u8> },
    Call(NodeCall<S>),
    Shutdown,
}

/// Handle to a node running as a task (see the [module docs](self)).
///
/// Dropping the handle without [`shutdown`](Self::shutdown) cancels the task.
pub struct AsyncNode<S> {
    contact: Contact<SocketAddr>,
    local_addr: SocketAddr,
    clock: Clock,
    commands: mpsc::UnboundedSender<Cmd<S>>,
    events: mpsc::Receiver<NodeEvent>,
    io: Arc<IoCounters>,
    task: Option<RemoteHandle<LoopResult<S>>>,
}

impl<S> fmt::Debug for AsyncNode<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncNode")
            .field("contact", &self.contact)
            .field("local_addr", &self.local_addr)
            .field("running", &self.task.is_some())
            .finish_non_exhaustive()
    }
}

impl<S: TokenStore + Send + 'static> AsyncNode<S> {
    /// Starts `node`'s loop as a task reading and writing `socket` (a bound std
    /// socket, made non-blocking here), with time from `clock`. The node's first
    /// input is a timer at the current time.
    pub fn spawn(node: Node<SocketAddr, S>, socket: std::net::UdpSocket, clock: Clock) -> io::Result<Self> {
        let local_addr = socket.local_addr()?;
        let socket = exec::udp_from_std(socket)?;
        let (commands, command_rx) = mpsc::unbounded();
        let (event_tx, events) = mpsc::channel(EVENT_CAPACITY);
        let io = Arc::new(IoCounters::default());
        let contact = node.contact().clone();
        let out = Outputs {
            events: event_tx,
            io: io.clone(),
        };
        let looped = AssertUnwindSafe(node_loop(node, socket, command_rx, out, clock)).catch_unwind();
        let (remote, task) = looped.remote_handle();
        exec::spawn(remote);
        Ok(Self {
            contact,
            local_addr,
            clock,
            commands,
            events,
            io,
            task: Some(task),
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

    /// The node's events, a `Stream`. Bounded: when nobody reads, new events are
    /// dropped and counted in [`IoStats::events_dropped`].
    pub fn events(&mut self) -> &mut mpsc::Receiver<NodeEvent> {
        &mut self.events
    }

    fn command(&self, cmd: Cmd<S>) -> Result<(), NodeStopped> {
        self.commands.unbounded_send(cmd).map_err(|_| NodeStopped)
    }

    /// Starts an election for `token` (never blocks).
    pub fn start_election(&self, token: TokenId) -> Result<(), NodeStopped> {
        self.command(Cmd::Input(Command::StartElection(token)))
    }

    /// Teaches the node contacts (never blocks).
    pub fn add_contacts(&self, contacts: Vec<Contact<SocketAddr>>) -> Result<(), NodeStopped> {
        self.command(Cmd::Input(Command::AddContacts(contacts)))
    }

    /// Sends `bytes` to `to` from the node's socket (never blocks).
    pub fn send_datagram(&self, to: SocketAddr, bytes: Vec<u8>) -> Result<(), NodeStopped> {
        self.command(Cmd::Send { to, bytes })
    }

    /// Runs `f` on the node inside its loop and returns the result. Outputs `f`
    /// causes are drained as after any input.
    pub async fn with_node<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Node<SocketAddr, S>) -> R + Send + 'static,
    ) -> Result<R, NodeStopped> {
        let (tx, rx) = oneshot::channel();
        self.command(Cmd::Call(Box::new(move |node| {
            let _ = tx.send(f(node));
        })))?;
        rx.await.map_err(|_| NodeStopped)
    }

    /// Changes the node's store; the change applies to the next query.
    /// Completes once it is applied.
    pub async fn update_store(&self, f: impl FnOnce(&mut S) + Send + 'static) -> Result<(), NodeStopped> {
        self.with_node(move |node| f(node.store_mut())).await
    }

    /// The node's counters now.
    pub async fn metrics(&self) -> Result<Metrics, NodeStopped> {
        self.with_node(|node| node.metrics()).await
    }

    /// The node's peer tables now.
    pub async fn snapshot(&self) -> Result<PeerSnapshot<SocketAddr>, NodeStopped> {
        self.with_node(|node| node.snapshot()).await
    }

    /// Restores peer tables; returns how many elected peers were kept.
    pub async fn restore(&self, snapshot: PeerSnapshot<SocketAddr>) -> Result<usize, NodeStopped> {
        self.with_node(move |node| node.restore(snapshot)).await
    }

    /// The adapter's transport counters.
    pub fn io_stats(&self) -> IoStats {
        self.io.snapshot()
    }

    /// Shuts the node down cleanly and returns its final counters.
    pub async fn shutdown(self) -> Result<Metrics, NodeStopped> {
        self.shutdown_into_node().await.map(|node| node.metrics())
    }

    /// Shuts the node down cleanly and returns it (store, tables and all).
    pub async fn shutdown_into_node(mut self) -> Result<Node<SocketAddr, S>, NodeStopped> {
        let task = self.task.take().ok_or(NodeStopped)?;
        let _ = self.commands.unbounded_send(Cmd::Shutdown);
        task.await.map_err(|_| NodeStopped)
    }
}

impl<S> Drop for AsyncNode<S> {
    fn drop(&mut self) {
        if self.task.is_some() {
            // Best effort; dropping the remote handle then cancels the task.
            let _ = self.commands.unbounded_send(Cmd::Shutdown);
        }
    }
}

/// Blocking [`NodeControl`] for the shared tooling. Each call blocks the
/// calling thread on a `futures` executor; never call these from inside a task.
impl<S: TokenStore + Send + 'static> NodeControl for AsyncNode<S> {
    fn runtime_name(&self) -> &'static str {
        "async"
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
        AsyncNode::start_election(self, token)
    }
    fn add_contacts(&self, contacts: Vec<Contact<SocketAddr>>) -> Result<(), NodeStopped> {
        AsyncNode::add_contacts(self, contacts)
    }
    fn send_datagram(&self, to: SocketAddr, bytes: Vec<u8>) -> Result<(), NodeStopped> {
        AsyncNode::send_datagram(self, to, bytes)
    }
    fn restore(&self, snapshot: PeerSnapshot<SocketAddr>) -> Result<usize, NodeStopped> {
        futures::executor::block_on(AsyncNode::restore(self, snapshot))
    }
    fn metrics(&self) -> Result<Metrics, NodeStopped> {
        futures::executor::block_on(AsyncNode::metrics(self))
    }
    fn snapshot(&self) -> Result<PeerSnapshot<SocketAddr>, NodeStopped> {
        futures::executor::block_on(AsyncNode::snapshot(self))
    }
    fn io_stats(&self) -> IoStats {
        AsyncNode::io_stats(self)
    }
    fn try_event(&mut self) -> Option<NodeEvent> {
        self.events.try_recv().ok()
    }
    fn stop(self: Box<Self>) -> Result<Stopped, NodeStopped> {
        let clock = self.clock;
        let io = self.io.clone();
        let node = futures::executor::block_on(self.shutdown_into_node())?;
        Ok(stopped(&node, clock, &io))
    }
}

/// The async adapter as a [`Runtime`] (nodes run as async-std tasks).
#[derive(Clone, Copy, Debug, Default)]
pub struct AsyncRuntime;

impl Runtime for AsyncRuntime {
    fn name(&self) -> &'static str {
        "async"
    }
    fn spawn(
        &self,
        node: Node<SocketAddr, LedgerView>,
        socket: std::net::UdpSocket,
        clock: Clock,
    ) -> io::Result<Box<dyn NodeControl>> {
        Ok(Box::new(AsyncNode::spawn(node, socket, clock)?))
    }
}

/// Where the loop puts the node's outputs (besides the socket).
struct Outputs {
    events: mpsc::Sender<NodeEvent>,
    io: Arc<IoCounters>,
}

impl Outputs {
    async fn feed<S: TokenStore>(
        &mut self,
        socket: &exec::UdpSocket,
        node: &mut Node<SocketAddr, S>,
        now_ms: u64,
        input: Input<'_, SocketAddr>,
    ) {
        node.handle_input(now_ms, input);
        self.drain(socket, node).await;
    }

    async fn drain<S: TokenStore>(&mut self, socket: &exec::UdpSocket, node: &mut Node<SocketAddr, S>) {
        while let Some(out) = node.poll_output() {
            match out {
                Output::Send { to, bytes } => self.send(socket, to, &bytes).await,
                Output::Event(e) => {
                    if self.events.try_send(e).is_err() {
                        self.io.event_dropped();
                    }
                }
            }
        }
    }

    async fn send(&self, socket: &exec::UdpSocket, to: SocketAddr, bytes: &[u8]) {
        record_send(module_path!(), &self.io, to, socket.send_to(bytes, to).await);
    }
}

enum Step<S> {
    Command(Option<Cmd<S>>),
    Timer,
    Datagram(io::Result<(usize, SocketAddr)>),
}

async fn node_loop<S: TokenStore>(
    mut node: Node<SocketAddr, S>,
    socket: exec::UdpSocket,
    mut commands: mpsc::UnboundedReceiver<Cmd<S>>,
    mut out: Outputs,
    clock: Clock,
) -> Node<SocketAddr, S> {
    let mut buf = vec![0u8; RECV_BUFFER_LEN];
    let mut timer = Fuse::terminated();
    let mut timer_at: Option<u64> = None;
    let mut stuck = StuckTimerWarning::new(module_path!());
    out.feed(&socket, &mut node, clock.now_ms(), Input::Timer).await;
    loop {
        let want = node.poll_timeout();
        if want != timer_at || (want.is_some() && timer.is_terminated()) {
            timer_at = want;
            timer = match want {
                Some(at) => exec::sleep(clock.until(at)).fuse(),
                None => Fuse::terminated(),
            };
        }
        let step = {
            let recv = socket.recv_from(&mut buf).fuse();
            futures::pin_mut!(recv);
            select_biased! {
                cmd = commands.next() => Step::Command(cmd),
                () = timer => Step::Timer,
                r = recv => Step::Datagram(r),
            }
        };
        match step {
            Step::Command(Some(Cmd::Input(c))) => {
                out.feed(&socket, &mut node, clock.now_ms(), Input::Command(c))
                    .await
            }
            Step::Command(Some(Cmd::Send { to, bytes })) => out.send(&socket, to, &bytes).await,
            Step::Command(Some(Cmd::Call(f))) => {
                f(&mut node);
                out.drain(&socket, &mut node).await;
            }
            Step::Command(Some(Cmd::Shutdown)) | Step::Command(None) => {
                let now = clock.now_ms();
                out.feed(&socket, &mut node, now, Input::Command(Command::Shutdown))
                    .await;
                return node;
            }
            Step::Timer => {
                let now = clock.now_ms();
                out.feed(&socket, &mut node, now, Input::Timer).await;
                if let Some(at) = node.poll_timeout().filter(|at| *at <= now) {
                    // The node still wants a timer now: do not spin on it.
                    stuck.warn_once(&node.id());
                    timer = exec::sleep(Duration::from_millis(1)).fuse();
                    timer_at = Some(at);
                }
            }
            Step::Datagram(Ok((n, from))) => {
                out.io.received();
                let input = Input::Datagram {
                    from,
                    bytes: &buf[..n],
                };
                out.feed(&socket, &mut node, clock.now_ms(), input).await;
            }
            Step::Datagram(Err(e)) => match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => {}
                // ICMP errors reported on some platforms for earlier sends: not ours to act on.
                io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionRefused => {}
                _ => {
                    out.io.recv_error();
                    log::warn!("recv_from: {e}");
                    exec::sleep(Duration::from_millis(10)).await;
                }
            },
        }
    }
}
