//! The async adapter: one node on an async UDP socket, as one task.
//!
//! The task is a [`Host`] plus a way to wait:
//! `futures::select_biased!` on, in this fixed priority order, a command from
//! the [`AsyncNode`] handle, the host's deadline, a datagram. Commands come
//! first so that shutdown and metrics requests are served promptly even under
//! a datagram flood; the timer comes before datagrams so that a flood cannot
//! starve elections of their deadlines. After each, the host's outbox is sent
//! on the socket, and the timer is re-armed only when the deadline changed
//! (see [`runtime_std::host`] for what the host does with every input).

use crate::exec;
use election_proto::node::{Command, Metrics, Node, PeerSnapshot};
use election_proto::wire::Contact;
use election_proto::{PeerId, TokenId, TokenStore};
use futures::channel::{mpsc, oneshot};
use futures::future::{Fuse, FusedFuture, RemoteHandle};
use futures::{select_biased, FutureExt, StreamExt};
use runtime_std::host::{EventSink, Flow, Host, HostCommand, NodeInfo, EVENT_CAPACITY, RECV_BUFFER_LEN};
use runtime_std::{Clock, IoStats, LedgerView, NodeControl, NodeEvent, NodeStopped, Runtime, Stopped};
use std::any::Any;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;

type LoopResult<S> = Result<Node<SocketAddr, S>, Box<dyn Any + Send>>;

/// Handle to a node running as a task (see the [module docs](self)).
///
/// Dropping the handle without [`shutdown`](Self::shutdown) cancels the task.
pub struct AsyncNode<S> {
    info: NodeInfo,
    commands: mpsc::UnboundedSender<HostCommand<S>>,
    events: mpsc::Receiver<NodeEvent>,
    task: Option<RemoteHandle<LoopResult<S>>>,
}

impl<S> fmt::Debug for AsyncNode<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncNode")
            .field("contact", self.info.contact())
            .field("local_addr", &self.info.local_addr())
            .field("running", &self.task.is_some())
            .finish_non_exhaustive()
    }
}

impl<S: TokenStore + Send + 'static> AsyncNode<S> {
    /// Starts `node`'s loop as a task reading and writing `socket` (a bound std
    /// socket, made non-blocking here), with time from `clock`. The node's first
    /// input is a timer at the current time.
    ///
    /// The task runs on the selected [executor](crate#executors); on tokio,
    /// on the runtime the calling thread is in, if any, else on one this
    /// crate owns.
    pub fn spawn(node: Node<SocketAddr, S>, socket: std::net::UdpSocket, clock: Clock) -> io::Result<Self> {
        let local_addr = socket.local_addr()?;
        let socket = exec::udp_from_std(socket)?;
        let (commands, command_rx) = mpsc::unbounded();
        let (event_tx, events) = mpsc::channel(EVENT_CAPACITY);
        let host = Host::new(node, clock, EventTx(event_tx), module_path!());
        let info = host.info(local_addr);
        let looped = AssertUnwindSafe(node_loop(host, socket, command_rx)).catch_unwind();
        let (remote, task) = looped.remote_handle();
        exec::spawn(remote)?;
        Ok(Self {
            info,
            commands,
            events,
            task: Some(task),
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

    /// The node's events, a `Stream`. Bounded: when nobody reads, new events are
    /// dropped and counted in [`IoStats::events_dropped`].
    pub fn events(&mut self) -> &mut mpsc::Receiver<NodeEvent> {
        &mut self.events
    }

    fn command(&self, cmd: HostCommand<S>) -> Result<(), NodeStopped> {
        self.commands.unbounded_send(cmd).map_err(|_| NodeStopped)
    }

    /// Starts an election for `token` (never blocks).
    pub fn start_election(&self, token: TokenId) -> Result<(), NodeStopped> {
        self.command(HostCommand::Input(Command::StartElection(token)))
    }

    /// Teaches the node contacts (never blocks).
    pub fn add_contacts(&self, contacts: Vec<Contact<SocketAddr>>) -> Result<(), NodeStopped> {
        self.command(HostCommand::Input(Command::AddContacts(contacts)))
    }

    /// Joins through seed addresses whose ids are unknown (`Command::AddSeeds`).
    pub fn add_seeds(&self, seeds: Vec<SocketAddr>) -> Result<(), NodeStopped> {
        self.command(HostCommand::Input(Command::AddSeeds(seeds)))
    }

    /// Sends `bytes` to `to` from the node's socket (never blocks).
    pub fn send_datagram(&self, to: SocketAddr, bytes: Vec<u8>) -> Result<(), NodeStopped> {
        self.command(HostCommand::Send { to, bytes })
    }

    /// Runs `f` on the node inside its loop and returns the result. Outputs `f`
    /// causes are drained as after any input.
    pub async fn with_node<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Node<SocketAddr, S>) -> R + Send + 'static,
    ) -> Result<R, NodeStopped> {
        let (tx, rx) = oneshot::channel();
        self.command(HostCommand::call(move |node| {
            let _ = tx.send(f(node));
        }))?;
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
        self.info.io_stats()
    }

    /// Shuts the node down cleanly and returns its final counters.
    pub async fn shutdown(self) -> Result<Metrics, NodeStopped> {
        self.shutdown_into_node().await.map(|node| node.metrics())
    }

    /// Shuts the node down cleanly and returns it (store, tables and all).
    pub async fn shutdown_into_node(mut self) -> Result<Node<SocketAddr, S>, NodeStopped> {
        let task = self.task.take().ok_or(NodeStopped)?;
        let _ = self.commands.unbounded_send(HostCommand::Shutdown);
        // `Ok(Err(_))`: the loop panicked. `Err(_)`: the executor dropped the
        // task unfinished (a tokio runtime shut down), and the remote handle
        // resumed a `Canceled` panic. Either way, a stopped node.
        match AssertUnwindSafe(task).catch_unwind().await {
            Ok(Ok(node)) => Ok(node),
            Ok(Err(_)) | Err(_) => Err(NodeStopped),
        }
    }
}

impl<S> Drop for AsyncNode<S> {
    fn drop(&mut self) {
        if self.task.is_some() {
            // Best effort; dropping the remote handle then cancels the task.
            let _ = self.commands.unbounded_send(HostCommand::Shutdown);
        }
    }
}

/// Blocking [`NodeControl`] for the shared tooling. Each call blocks the
/// calling thread (see `exec::block_on`); never call these from inside a task.
impl<S: TokenStore + Send + 'static> NodeControl for AsyncNode<S> {
    fn runtime_name(&self) -> &'static str {
        "async"
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
        AsyncNode::start_election(self, token)
    }
    fn add_contacts(&self, contacts: Vec<Contact<SocketAddr>>) -> Result<(), NodeStopped> {
        AsyncNode::add_contacts(self, contacts)
    }
    fn add_seeds(&self, seeds: Vec<SocketAddr>) -> Result<(), NodeStopped> {
        AsyncNode::add_seeds(self, seeds)
    }
    fn send_datagram(&self, to: SocketAddr, bytes: Vec<u8>) -> Result<(), NodeStopped> {
        AsyncNode::send_datagram(self, to, bytes)
    }
    fn restore(&self, snapshot: PeerSnapshot<SocketAddr>) -> Result<usize, NodeStopped> {
        exec::block_on(AsyncNode::restore(self, snapshot))
    }
    fn metrics(&self) -> Result<Metrics, NodeStopped> {
        exec::block_on(AsyncNode::metrics(self))
    }
    fn snapshot(&self) -> Result<PeerSnapshot<SocketAddr>, NodeStopped> {
        exec::block_on(AsyncNode::snapshot(self))
    }
    fn io_stats(&self) -> IoStats {
        self.info.io_stats()
    }
    fn try_event(&mut self) -> Option<NodeEvent> {
        self.events.try_recv().ok()
    }
    fn stop(self: Box<Self>) -> Result<Stopped, NodeStopped> {
        let info = self.info.clone();
        let node = exec::block_on(self.shutdown_into_node())?;
        Ok(info.stopped(&node))
    }
}

/// The async adapter as a [`Runtime`] (nodes run as tasks on the selected
/// [executor](crate#executors)).
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

/// The host's event sink: the bounded `futures` channel behind [`AsyncNode::events`].
struct EventTx(mpsc::Sender<NodeEvent>);

impl EventSink for EventTx {
    fn offer(&mut self, event: NodeEvent) -> bool {
        self.0.try_send(event).is_ok()
    }
}

type AsyncHost<S> = Host<S, EventTx>;

enum Step<S> {
    Command(Option<HostCommand<S>>),
    Timer,
    Datagram(io::Result<(usize, SocketAddr)>),
}

/// Sends the host's outbox.
async fn flush<S: TokenStore>(host: &mut AsyncHost<S>, socket: &exec::UdpSocket) {
    while let Some((to, bytes)) = host.next_send() {
        let result = socket.send_to(&bytes, to).await;
        host.record_send(to, result);
    }
}

/// The loop: waits with `select_biased!`, hands everything to the host.
async fn node_loop<S: TokenStore>(
    mut host: AsyncHost<S>,
    socket: exec::UdpSocket,
    mut commands: mpsc::UnboundedReceiver<HostCommand<S>>,
) -> Node<SocketAddr, S> {
    let mut buf = vec![0u8; RECV_BUFFER_LEN];
    let mut timer = Fuse::terminated();
    let mut timer_at: Option<u64> = None;
    host.start();
    flush(&mut host, &socket).await;
    loop {
        let want = host.deadline();
        if want != timer_at || (want.is_some() && timer.is_terminated()) {
            timer_at = want;
            timer = match want {
                Some(at) => exec::sleep(host.clock().until(at)).fuse(),
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
        let flow = match step {
            Step::Command(Some(cmd)) => host.command(cmd),
            Step::Command(None) => {
                host.shutdown();
                Flow::Stop
            }
            Step::Timer => {
                host.on_timer();
                Flow::Continue
            }
            Step::Datagram(Ok((n, from))) => {
                host.on_datagram(from, &buf[..n]);
                Flow::Continue
            }
            Step::Datagram(Err(e)) => {
                if let Some(pause) = host.on_recv_error(&e) {
                    exec::sleep(pause).await;
                }
                Flow::Continue
            }
        };
        flush(&mut host, &socket).await;
        if flow == Flow::Stop {
            return host.into_node();
        }
    }
}
