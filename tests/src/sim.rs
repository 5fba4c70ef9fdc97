//! The discrete-event simulator: owns time, randomness, delivery order and faults.
//!
//! # Model
//!
//! - **Time** is a millisecond counter. Deliveries and timers sit in a binary heap
//!   keyed by `(time, sequence number)`; churn and partition events in a second
//!   one and run alone, between windows. See [`Sim::run_until`] for how events
//!   are processed in conservative windows (in parallel when
//!   [`SimConfig::threads`] > 1) with a result independent of the thread count.
//! - **Randomness**: every draw comes from a stream derived from the seed: one
//!   per node (the fate of what it sends, its adversarial inventions), one for
//!   churn, one each for ids, kinds, bootstrap and partition halves. Nothing
//!   depends on hash-map order or on which thread ran what.
//! - **Nodes** are real [`Node`]s addressed by their index (`u32`). After every
//!   input the simulator drains the node's outputs: datagrams go onto the network,
//!   events into the statistics, and the node's [`Node::poll_timeout`] is the one
//!   timer it keeps in the heap (a newer deadline supersedes the older entry, which
//!   is skipped when it comes up).
//! - **Network**: every datagram gets its own latency, uniform in
//!   [`SimConfig::latency_ms`] (so datagrams on one link reorder freely), is lost
//!   with probability [`SimConfig::loss`] and duplicated with
//!   [`SimConfig::duplicate`] (the copy gets its own latency). While a
//!   [`Partition`] is open, datagrams between the two halves are dropped.
//! - **Ledger**: one procedural [`Ledger`]; each node stores the arc of the ring
//!   around its id ([`SimConfig::replication`] nodes hold a token on average),
//!   minus a share `1 - coverage` of missing tokens, with a share
//!   [`SimConfig::stale`] of stale blocks. See [`crate::ledger`].
//! - **Bootstrap**: each node starts knowing [`SimConfig::bootstrap_neighbours`]
//!   ring neighbours on each side and [`SimConfig::bootstrap_random`] random nodes.
//! - **Churn**: every simulated minute some nodes shut down, keep their
//!   [`Node::snapshot`], and come back after a random downtime as a fresh [`Node`]
//!   (new seed) restored from it.
//! - **Partition**: at `at_ms` the nodes split into two random halves that cannot
//!   reach each other, and the second half moves to ledger version 1 (a share
//!   `fork_share` of blocks differ). At `heal_ms` connectivity returns, while the
//!   ledgers still disagree (split-brain is now visible to elections); at
//!   `heal_ms + resync_after_ms` the second half's ledger reconciles to version 0.
//! - **Adversaries**: see [`crate::adversary`].
//!
//! Every delivered datagram and every node event is folded into a BLAKE3
//! [`digest`](Sim::digest), in `(time, node, per-node counter)` order: two runs of
//! one configuration give the same digest, whatever the thread count.
//!
//! The **oracle** ([`WinRecord`], [`ElectionCounters::winners_by_class`]) looks at
//! every win of an honest challenger and checks, against the ledger, what the
//! winner's store really holds for the token, whether it could have signed, its
//! kind, and whether it is on the challenger's ledger version.

use crate::adversary::{self, NodeKind};
use crate::ledger::{Ledger, LedgerView};
use crate::rng::{derive32, derive64, SimRng};
use election_proto::node::{
    Command, Event, FailureReason, Input, Metrics, Node, NodeConfig, NodeConfigError, Output, PeerSnapshot,
};
use election_proto::wire::{self, Contact, Envelope, Message};
use election_proto::{generate_signature, ring_distance, PeerId, TokenId, TokenStore};
use serde::Serialize;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::Arc;

/// A network partition with a ledger fork (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct Partition {
    /// When the halves lose contact and the second half's ledger forks.
    pub at_ms: u64,
    /// When contact returns.
    pub heal_ms: u64,
    /// How long after healing the ledgers reconcile.
    pub resync_after_ms: u64,
    /// Share of tokens whose block differs between the two versions.
    pub fork_share: f64,
}

/// Nodes leaving and rejoining.
#[derive(Clone, Debug, PartialEq)]
pub struct Churn {
    /// Expected share of all nodes that leave per simulated hour.
    pub per_hour: f64,
    /// Downtime, uniform in this range.
    pub downtime_ms: (u64, u64),
    /// No churn before this time.
    pub start_ms: u64,
}

/// Everything a run depends on.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Number of nodes.
    pub nodes: usize,
    /// The run's seed: ids, stores, node seeds, network decisions all derive from it.
    pub seed: u64,
    /// Configuration given to every node.
    pub node: NodeConfig,
    /// Per-datagram latency, uniform in `lo..=hi` ms. Default 20–80.
    pub latency_ms: (u64, u64),
    /// Loss probability per datagram. Default 0.01.
    pub loss: f64,
    /// Duplication probability per datagram. Default 0.
    pub duplicate: f64,
    /// Share of its arc's tokens an honest node stores. Default 0.9.
    pub coverage: f64,
    /// Share of stored blocks that are stale. Default 0.01.
    pub stale: f64,
    /// Average number of nodes holding a token (arc width = replication / nodes of
    /// the ring). Default 12.
    pub replication: f64,
    /// Expected number of tokens of each suffix inside one node's arc; the arc holds
    /// about `1024 ×` this many tokens. A signature walk spans about 5 cells each
    /// way, so this sets how rarely a walk leaves a responder's arc. Default 256.
    pub arc_depth: u64,
    /// Random contacts each node starts with. Default 8.
    pub bootstrap_random: usize,
    /// Ring neighbours on each side each node starts with. Default 4.
    pub bootstrap_neighbours: usize,
    /// Adversary kinds and the share of nodes of each.
    pub adversaries: Vec<(NodeKind, f64)>,
    /// Coverage of a lazy node's store. Default 0.6.
    pub lazy_coverage: f64,
    /// Stale share of a lazy node's store. Default 0.3.
    pub lazy_stale: f64,
    /// Colluders per group; 0 puts all colluders in one group. Default 0.
    pub colluder_group_size: usize,
    /// An optional partition.
    pub partition: Option<Partition>,
    /// Optional churn.
    pub churn: Option<Churn>,
    /// Keep every node event and every classified win (for tests; costs memory).
    pub record_events: bool,
    /// Worker threads. Results do not depend on it (see [`Sim::run_until`]). Default 1.
    pub threads: usize,
    /// A window with fewer events runs on one thread even when `threads > 1`
    /// (spawning costs more than it saves). Default 24.
    pub parallel_min_events: usize,
}

impl SimConfig {
    /// Defaults for `nodes` nodes (see each field).
    pub fn new(nodes: usize, seed: u64) -> Self {
        Self {
            nodes,
            seed,
            node: NodeConfig::default(),
            latency_ms: (20, 80),
            loss: 0.01,
            duplicate: 0.0,
            coverage: 0.9,
            stale: 0.01,
            replication: 12.0,
            arc_depth: 256,
            bootstrap_random: 8,
            bootstrap_neighbours: 4,
            adversaries: Vec::new(),
            lazy_coverage: 0.6,
            lazy_stale: 0.3,
            colluder_group_size: 0,
            partition: None,
            churn: None,
            record_events: false,
            threads: 1,
            parallel_min_events: 24,
        }
    }
}

/// How an elected winner relates to the ledger (the simulator's oracle).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WinnerClass {
    /// A node that stores the token with the honest block of its ledger version.
    HonestBlock,
    /// A node that stores the token, but with a stale block.
    StaleBlock,
    /// A node that does not store the token at all.
    NotHolding,
    /// No node has this id and address.
    Phantom,
}

/// One won election, classified (kept when [`SimConfig::record_events`] is set).
#[derive(Clone, Debug)]
pub struct WinRecord {
    /// When.
    pub time_ms: u64,
    /// Who ran the election.
    pub challenger: u32,
    /// The challenged token.
    pub token: TokenId,
    /// The winner's node index, if it is a node.
    pub winner: Option<u32>,
    /// The winner's kind, if it is a node.
    pub winner_kind: Option<NodeKind>,
    /// What the winner's store holds for the token.
    pub class: WinnerClass,
    /// Whether the winner's store can produce a valid signature for the challenger.
    pub can_sign: bool,
    /// Whether the winner is on the challenger's ledger version (false: the
    /// challenger elected a peer that does not share its ledger state).
    pub same_version: bool,
    /// Members of the winning cluster.
    pub cluster_size: usize,
    /// Distinct valid responders.
    pub responses: usize,
    /// Start-to-verdict time.
    pub latency_ms: u64,
}

/// Outcome counters of elections run by one class of challengers.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ElectionCounters {
    /// `ElectionStarted` events.
    pub started: u64,
    /// `Elected` events.
    pub succeeded: u64,
    /// `ElectionFailed` events per reason, indexed by [`FailureReason::index`].
    pub failed: [u64; 9],
    /// `SplitBrain` events.
    pub split_brain_events: u64,
    /// Elections that saw at least one `SplitBrain` event.
    pub split_brain_elections: u64,
    /// `SplitBrain` events that opened extra channels.
    pub split_brain_spawning: u64,
    /// Wins with a disjoint disagreeing cluster present.
    pub contested_wins: u64,
    /// `PartitionSuspected` events.
    pub partition_alerts: u64,
    /// `PeerAdded` events.
    pub peers_added: u64,
    /// `PeerEvicted` events.
    pub peers_evicted: u64,
    /// Sum of valid distinct responders over finished elections that ran
    /// (timeout, no consensus, split-brain, exhausted or won).
    pub responders_sum: u64,
    /// Number of those elections.
    pub responders_n: u64,
    /// Sum of win latencies.
    pub latency_sum_ms: u64,
    /// Winners by [`WinnerClass`] (honest block, stale block, not holding, phantom).
    pub winners_by_class: [u64; 4],
    /// Winners by [`NodeKind`] index (phantoms not counted).
    pub winners_by_kind: [u64; 7],
    /// Winners whose store could not have produced a valid signature for the challenger.
    pub winners_unable_to_sign: u64,
    /// Winners on a different ledger version than the challenger.
    pub winners_other_version: u64,
}

impl ElectionCounters {
    /// Failed elections for `reason`.
    pub fn failed(&self, reason: FailureReason) -> u64 {
        self.failed[reason.index()]
    }

    /// Finished elections that count for the success rate (every outcome but
    /// [`FailureReason::Shutdown`], which churn causes).
    pub fn finished(&self) -> u64 {
        self.succeeded + self.failed.iter().sum::<u64>() - self.failed(FailureReason::Shutdown)
    }

    /// `succeeded / finished`, or 0.
    pub fn success_rate(&self) -> f64 {
        let f = self.finished();
        if f == 0 {
            0.0
        } else {
            self.succeeded as f64 / f as f64
        }
    }

    /// Winners of class `c`.
    pub fn winners(&self, c: WinnerClass) -> u64 {
        self.winners_by_class[c as usize]
    }

    /// Winners of kind `k`.
    pub fn winners_of_kind(&self, k: NodeKind) -> u64 {
        self.winners_by_kind[k.index()]
    }

    fn add(&mut self, o: &Self) {
        self.started += o.started;
        self.succeeded += o.succeeded;
        self.split_brain_events += o.split_brain_events;
        self.split_brain_elections += o.split_brain_elections;
        self.split_brain_spawning += o.split_brain_spawning;
        self.contested_wins += o.contested_wins;
        self.partition_alerts += o.partition_alerts;
        self.peers_added += o.peers_added;
        self.peers_evicted += o.peers_evicted;
        self.responders_sum += o.responders_sum;
        self.responders_n += o.responders_n;
        self.latency_sum_ms += o.latency_sum_ms;
        self.winners_unable_to_sign += o.winners_unable_to_sign;
        self.winners_other_version += o.winners_other_version;
        for (a, b) in self.failed.iter_mut().zip(o.failed) {
            *a += b;
        }
        for (a, b) in self.winners_by_class.iter_mut().zip(o.winners_by_class) {
            *a += b;
        }
        for (a, b) in self.winners_by_kind.iter_mut().zip(o.winners_by_kind) {
            *a += b;
        }
    }

    /// Counter-wise `self - earlier` (for measuring a phase of a run).
    pub fn since(&self, earlier: &Self) -> Self {
        let sub = |a: u64, b: u64| a.saturating_sub(b);
        let arr = |a: &[u64], b: &[u64], out: &mut [u64]| {
            for i in 0..out.len() {
                out[i] = sub(a[i], b[i]);
            }
        };
        let mut d = Self {
            started: sub(self.started, earlier.started),
            succeeded: sub(self.succeeded, earlier.succeeded),
            split_brain_events: sub(self.split_brain_events, earlier.split_brain_events),
            split_brain_elections: sub(self.split_brain_elections, earlier.split_brain_elections),
            split_brain_spawning: sub(self.split_brain_spawning, earlier.split_brain_spawning),
            contested_wins: sub(self.contested_wins, earlier.contested_wins),
            partition_alerts: sub(self.partition_alerts, earlier.partition_alerts),
            peers_added: sub(self.peers_added, earlier.peers_added),
            peers_evicted: sub(self.peers_evicted, earlier.peers_evicted),
            responders_sum: sub(self.responders_sum, earlier.responders_sum),
            responders_n: sub(self.responders_n, earlier.responders_n),
            latency_sum_ms: sub(self.latency_sum_ms, earlier.latency_sum_ms),
            winners_unable_to_sign: sub(self.winners_unable_to_sign, earlier.winners_unable_to_sign),
            winners_other_version: sub(self.winners_other_version, earlier.winners_other_version),
            ..Self::default()
        };
        arr(&self.failed, &earlier.failed, &mut d.failed);
        arr(
            &self.winners_by_class,
            &earlier.winners_by_class,
            &mut d.winners_by_class,
        );
        arr(
            &self.winners_by_kind,
            &earlier.winners_by_kind,
            &mut d.winners_by_kind,
        );
        d
    }
}

/// What happened to datagrams, and how much work the simulator did.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct NetCounters {
    /// Datagrams nodes (and adversaries) handed to the network.
    pub sent: u64,
    /// Bytes of those.
    pub sent_bytes: u64,
    /// Datagrams handed to a node.
    pub delivered: u64,
    /// Lost to random loss.
    pub lost: u64,
    /// Dropped by an open partition.
    pub partition_dropped: u64,
    /// Arrived at a node that was offline.
    pub offline_dropped: u64,
    /// Extra copies made by duplication.
    pub duplicated: u64,
    /// Swallowed by droppers.
    pub adversary_dropped: u64,
    /// Damaged by manglers.
    pub mangled: u64,
    /// Addressed to an index that is no node (a mangled contact).
    pub bad_address: u64,
    /// Datagrams adversary logic sent itself (forged answers, forks, relays), by
    /// kind: query, answer, referral.
    pub adversary_sent: [u64; 3],
    /// Heap events processed.
    pub events: u64,
    /// Timer inputs fed.
    pub timers: u64,
    /// Node departures.
    pub churn_leaves: u64,
    /// Node returns.
    pub churn_joins: u64,
}

impl NetCounters {
    fn add(&mut self, o: &Self) {
        self.sent += o.sent;
        self.sent_bytes += o.sent_bytes;
        self.delivered += o.delivered;
        self.lost += o.lost;
        self.partition_dropped += o.partition_dropped;
        self.offline_dropped += o.offline_dropped;
        self.duplicated += o.duplicated;
        self.adversary_dropped += o.adversary_dropped;
        self.mangled += o.mangled;
        self.bad_address += o.bad_address;
        for (a, b) in self.adversary_sent.iter_mut().zip(o.adversary_sent) {
            *a += b;
        }
        self.events += o.events;
        self.timers += o.timers;
        self.churn_leaves += o.churn_leaves;
        self.churn_joins += o.churn_joins;
    }
}

/// Core type the simulator runs.
pub type SimNodeCore = Node<u32, LedgerView>;

/// Mutable state of one node; only the worker that owns the node touches it.
#[derive(Debug)]
struct NodeState {
    core: Option<Box<SimNodeCore>>,
    snapshot: Option<PeerSnapshot<u32>>,
    timer_at: Option<u64>,
    incarnation: u64,
    /// Tokens of running elections that already reported a split-brain.
    split_tokens: Vec<TokenId>,
    /// Forwarder state: `(ticket, token) -> (previous hop, expiry)`.
    forks: BTreeMap<(u64, TokenId), (u32, u64)>,
    colluder_group: usize,
    /// This node's own stream: network fate of what it sends, adversary inventions.
    rng: SimRng,
    /// Numbers everything this node's processing produces (see [`Key`]).
    counter: u64,
}

/// What every worker may read; changed only between windows.
#[derive(Debug)]
struct Shared {
    ledger: Arc<Ledger>,
    ids: Vec<PeerId>,
    kinds: Vec<NodeKind>,
    groups: Vec<u8>,
    views: Vec<LedgerView>,
    ring: Vec<(PeerId, u32)>,
    colluder_secrets: Vec<[u8; 32]>,
    partitioned: bool,
    latency: (u64, u64),
    loss: f64,
    duplicate: f64,
    record: bool,
}

impl Shared {
    fn index_of(&self, id: &PeerId) -> Option<u32> {
        self.ring
            .binary_search_by(|(p, _)| p.cmp(id))
            .ok()
            .map(|k| self.ring[k].1)
    }
}

#[derive(Debug)]
enum Ev {
    Deliver { to: u32, from: u32, bytes: Vec<u8> },
    Timer { node: u32, at: u64 },
    ChurnTick,
    Rejoin { node: u32 },
    PartitionOpen,
    PartitionHeal,
    Resync,
}

#[derive(Debug)]
struct Entry {
    time: u64,
    seq: u64,
    ev: Ev,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.time, self.seq) == (other.time, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    /// Reversed, so the max-heap pops the earliest `(time, seq)` first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.time, other.seq).cmp(&(self.time, self.seq))
    }
}

/// `(time, node, that node's counter)`: orders everything a window produced
/// independently of how nodes were split among workers.
type Key = (u64, u32, u64);

/// What processing produced, merged into the simulator after each window.
#[derive(Debug, Default)]
struct Acc {
    outbox: Vec<(Key, Ev)>,
    log: Vec<(Key, [u8; 32])>,
    honest: ElectionCounters,
    others: ElectionCounters,
    net: NetCounters,
    latencies: Vec<(Key, u32)>,
    wins: Vec<(Key, WinRecord)>,
    events: Vec<(Key, Event<u32>)>,
    stuck_timers: u64,
    last_time: u64,
}

impl Acc {
    fn merge(&mut self, o: Acc) {
        self.outbox.extend(o.outbox);
        self.log.extend(o.log);
        self.honest.add(&o.honest);
        self.others.add(&o.others);
        self.net.add(&o.net);
        self.latencies.extend(o.latencies);
        self.wins.extend(o.wins);
        self.events.extend(o.events);
        self.stuck_timers += o.stuck_timers;
        self.last_time = self.last_time.max(o.last_time);
    }
}

/// How long a forwarder remembers a fork.
const FORK_TTL_MS: u64 = 10_000;
/// Most forks a forwarder remembers.
const FORK_CAP: usize = 1024;
/// Sequence numbers of events a worker schedules for itself inside a window
/// start here (above every global sequence number), offset by the node's counter.
const LOCAL_SEQ: u64 = 1 << 62;

/// Processes the events of one window for a contiguous range of nodes.
struct Worker<'a> {
    shared: &'a Shared,
    nodes: &'a mut [NodeState],
    base: usize,
    wend: u64,
    now: u64,
    local: BinaryHeap<Entry>,
    acc: Acc,
    out_buf: Vec<Output<u32>>,
}

impl<'a> Worker<'a> {
    fn new(shared: &'a Shared, nodes: &'a mut [NodeState], base: usize, wend: u64, now: u64) -> Self {
        Self {
            shared,
            nodes,
            base,
            wend,
            now,
            local: BinaryHeap::new(),
            acc: Acc::default(),
            out_buf: Vec::new(),
        }
    }

    fn run(&mut self) {
        while let Some(e) = self.local.pop() {
            self.now = e.time;
            self.acc.last_time = self.acc.last_time.max(e.time);
            self.acc.net.events += 1;
            match e.ev {
                Ev::Deliver { to, from, bytes } => self.deliver(to as usize, from, bytes),
                Ev::Timer { node, at } => {
                    let st = self.st(node as usize);
                    if st.timer_at == Some(at) && st.core.is_some() {
                        st.timer_at = None;
                        self.acc.net.timers += 1;
                        self.feed(node as usize, Input::Timer);
                    }
                }
                other => unreachable!("global event {other:?} in a worker"),
            }
        }
    }

    #[inline]
    fn st(&mut self, i: usize) -> &mut NodeState {
        &mut self.nodes[i - self.base]
    }

    fn key(&mut self, i: usize, time: u64) -> Key {
        let st = self.st(i);
        st.counter += 1;
        (time, i as u32, st.counter)
    }

    /// Schedules `ev`, produced by node `origin`, at `time`.
    fn schedule(&mut self, origin: usize, time: u64, ev: Ev) {
        let key = self.key(origin, time);
        if time < self.wend {
            // Only a node's own timer can fall inside the window (datagrams take at
            // least the lookahead), and the target is then this worker's own node.
            self.local.push(Entry {
                time,
                seq: LOCAL_SEQ + key.2,
                ev,
            });
        } else {
            self.acc.outbox.push((key, ev));
        }
    }

    fn log(&mut self, i: usize, hash: [u8; 32]) {
        let key = self.key(i, self.now);
        self.acc.log.push((key, hash));
    }

    fn feed(&mut self, i: usize, input: Input<'_, u32>) {
        let now = self.now;
        let Some(core) = self.st(i).core.as_mut() else {
            return;
        };
        core.handle_input(now, input);
        self.drain(i);
    }

    fn drain(&mut self, i: usize) {
        let mut buf = std::mem::take(&mut self.out_buf);
        let timeout = {
            let Some(core) = self.st(i).core.as_mut() else {
                self.out_buf = buf;
                return;
            };
            while let Some(o) = core.poll_output() {
                buf.push(o);
            }
            core.poll_timeout()
        };
        for o in buf.drain(..) {
            match o {
                Output::Send { to, bytes } => self.transmit(i, to, bytes),
                Output::Event(e) => self.on_event(i, e),
            }
        }
        self.out_buf = buf;
        let now = self.now;
        let st = self.st(i);
        if timeout != st.timer_at {
            st.timer_at = timeout;
            if let Some(mut at) = timeout {
                if at <= now {
                    // The node wants a timer for work it just had the chance to do;
                    // never spin on one millisecond.
                    at = now + 1;
                    st.timer_at = Some(at);
                    self.acc.stuck_timers += 1;
                }
                self.schedule(i, at, Ev::Timer { node: i as u32, at });
            }
        }
    }

    fn transmit(&mut self, from: usize, to: u32, mut bytes: Vec<u8>) {
        let shared = self.shared;
        self.acc.net.sent += 1;
        self.acc.net.sent_bytes += bytes.len() as u64;
        match shared.kinds[from] {
            NodeKind::Dropper => {
                self.acc.net.adversary_dropped += 1;
                return;
            }
            NodeKind::Mangler => {
                adversary::mangle(&mut bytes, &mut self.st(from).rng);
                self.acc.net.mangled += 1;
            }
            _ => {}
        }
        let Some(&dest_group) = shared.groups.get(to as usize) else {
            self.acc.net.bad_address += 1;
            return;
        };
        if shared.partitioned && dest_group != shared.groups[from] {
            self.acc.net.partition_dropped += 1;
            return;
        }
        let now = self.now;
        let (lo, hi) = shared.latency;
        let rng = &mut self.st(from).rng;
        if rng.chance(shared.loss) {
            self.acc.net.lost += 1;
            return;
        }
        let copy = rng.chance(shared.duplicate).then(|| now + rng.between(lo, hi));
        let at = now + rng.between(lo, hi);
        if let Some(at2) = copy {
            self.acc.net.duplicated += 1;
            let ev = Ev::Deliver {
                to,
                from: from as u32,
                bytes: bytes.clone(),
            };
            self.schedule(from, at2, ev);
        }
        self.schedule(
            from,
            at,
            Ev::Deliver {
                to,
                from: from as u32,
                bytes,
            },
        );
    }

    fn deliver(&mut self, i: usize, from: u32, bytes: Vec<u8>) {
        let mut h = blake3::Hasher::new();
        h.update(&[0xd0]);
        h.update(&from.to_le_bytes());
        h.update(&bytes);
        self.log(i, *h.finalize().as_bytes());
        if self.st(i).core.is_none() {
            self.acc.net.offline_dropped += 1;
            return;
        }
        self.acc.net.delivered += 1;
        let handled = match self.shared.kinds[i] {
            NodeKind::Forwarder | NodeKind::Forger | NodeKind::Colluder => self.intercept(i, from, &bytes),
            _ => false,
        };
        if !handled {
            self.feed(i, Input::Datagram { from, bytes: &bytes });
        }
    }

    /// Adversary logic on an incoming datagram; `true` if it consumed it.
    fn intercept(&mut self, i: usize, from: u32, bytes: &[u8]) -> bool {
        let Ok(env) = wire::decode::<u32>(bytes) else {
            return false;
        };
        let shared = self.shared;
        let me = Contact {
            id: shared.ids[i],
            addr: i as u32,
        };
        let kind = shared.kinds[i];
        match env.message {
            Message::Query(wire::Query {
                token,
                ticket,
                challenger,
                hops_left,
            }) if challenger != me.id => match kind {
                NodeKind::Forger | NodeKind::Colluder => {
                    let sig = if kind == NodeKind::Forger {
                        adversary::fabricate_signature(&challenger, &token, &mut self.st(i).rng)
                    } else {
                        let secret = shared.colluder_secrets[self.st(i).colluder_group];
                        let mut s = adversary::colluder_stream(&secret, &challenger, &token);
                        adversary::fabricate_signature(&challenger, &token, &mut s)
                    };
                    let msg = Message::Answer(wire::Answer {
                        ticket,
                        answer: sig.answer,
                        signature: sig.signature,
                        responder: me.clone(),
                    });
                    self.adversary_send(i, from, me.id, msg);
                    true
                }
                NodeKind::Forwarder => {
                    let junk = adversary::garbage_signature(&token, &mut self.st(i).rng);
                    let msg = Message::Answer(wire::Answer {
                        ticket,
                        answer: junk.answer,
                        signature: junk.signature,
                        responder: me.clone(),
                    });
                    self.adversary_send(i, from, me.id, msg);
                    if hops_left > 0 {
                        let targets = self.closest_contacts(i, &token, 2, |id, addr| {
                            *id != challenger && *id != env.sender && addr != from
                        });
                        let now = self.now;
                        if !targets.is_empty() {
                            let forks = &mut self.st(i).forks;
                            if forks.len() >= FORK_CAP {
                                forks.retain(|_, (_, exp)| *exp > now);
                            }
                            if forks.len() < FORK_CAP {
                                forks.insert((ticket.0, token), (from, now + FORK_TTL_MS));
                            }
                        }
                        for to in targets {
                            let q = Message::Query(wire::Query {
                                token,
                                ticket,
                                challenger,
                                hops_left: hops_left - 1,
                            });
                            self.adversary_send(i, to, me.id, q);
                        }
                    }
                    true
                }
                _ => false,
            },
            message @ (Message::Answer(_) | Message::Referral(_)) if kind == NodeKind::Forwarder => {
                let token = match &message {
                    Message::Answer(a) => a.answer.id,
                    Message::Referral(r) => r.token,
                    Message::Query(q) => q.token,
                };
                let now = self.now;
                match self.st(i).forks.get(&(message.ticket().0, token)) {
                    Some(&(prev, exp)) if exp > now => {
                        // Relay every reply, not just the first: two different
                        // answers on one channel block it.
                        self.adversary_send(i, prev, me.id, message);
                        true
                    }
                    _ => false,
                }
            }
            _ => false,
        }
    }

    fn adversary_send(&mut self, from: usize, to: u32, sender: PeerId, message: Message<u32>) {
        self.acc.net.adversary_sent[message.kind().index()] += 1;
        if let Ok(bytes) = wire::encode(&Envelope { sender, message }) {
            self.transmit(from, to, bytes);
        }
    }

    /// Up to `k` of node `i`'s contacts closest to `token`, allowed by `ok`.
    fn closest_contacts(
        &mut self,
        i: usize,
        token: &TokenId,
        k: usize,
        ok: impl Fn(&PeerId, u32) -> bool,
    ) -> Vec<u32> {
        let Some(core) = self.st(i).core.as_ref() else {
            return Vec::new();
        };
        let mut best: Vec<(election_proto::Distance, u32)> = Vec::with_capacity(k + 1);
        for c in core.contacts() {
            if !ok(&c.id, c.addr) {
                continue;
            }
            let d = ring_distance(&c.id, token);
            if best.len() < k || d < best[best.len() - 1].0 {
                best.push((d, c.addr));
                best.sort();
                best.truncate(k);
            }
        }
        best.into_iter().map(|(_, a)| a).collect()
    }

    fn on_event(&mut self, i: usize, e: Event<u32>) {
        let mut buf = [0u8; 256];
        let bytes = encode_event(&e, &mut buf);
        self.log(i, *blake3::hash(bytes).as_bytes());
        let honest = self.shared.kinds[i] == NodeKind::Honest;
        let st = &mut self.nodes[i - self.base];
        let c = if honest {
            &mut self.acc.honest
        } else {
            &mut self.acc.others
        };
        match &e {
            Event::ElectionStarted { .. } => c.started += 1,
            Event::Elected {
                token,
                responses,
                latency_ms,
                contested,
                ..
            } => {
                c.succeeded += 1;
                c.responders_sum += *responses as u64;
                c.responders_n += 1;
                c.latency_sum_ms += latency_ms;
                c.contested_wins += u64::from(*contested);
                st.split_tokens.retain(|t| t != token);
            }
            Event::ElectionFailed {
                token,
                reason,
                responses,
            } => {
                c.failed[reason.index()] += 1;
                if matches!(
                    reason,
                    FailureReason::Timeout
                        | FailureReason::NoConsensus
                        | FailureReason::SplitBrain
                        | FailureReason::Exhausted
                ) {
                    c.responders_sum += *responses as u64;
                    c.responders_n += 1;
                }
                st.split_tokens.retain(|t| t != token);
            }
            Event::SplitBrain {
                token,
                spawning_channels,
                ..
            } => {
                c.split_brain_events += 1;
                c.split_brain_spawning += u64::from(*spawning_channels);
                if !st.split_tokens.contains(token) {
                    st.split_tokens.push(*token);
                    c.split_brain_elections += 1;
                }
            }
            Event::PeerAdded(_) => c.peers_added += 1,
            Event::PeerEvicted(_) => c.peers_evicted += 1,
            Event::PartitionSuspected { .. } => c.partition_alerts += 1,
            _ => {}
        }
        if let Event::Elected {
            token,
            winner,
            cluster_size,
            responses,
            latency_ms,
            ..
        } = &e
        {
            let rec = classify(
                self.shared,
                self.now,
                i,
                token,
                winner,
                *cluster_size,
                *responses,
                *latency_ms,
            );
            let c = if honest {
                &mut self.acc.honest
            } else {
                &mut self.acc.others
            };
            c.winners_by_class[rec.class as usize] += 1;
            if let Some(k) = rec.winner_kind {
                c.winners_by_kind[k.index()] += 1;
            }
            c.winners_unable_to_sign += u64::from(!rec.can_sign);
            c.winners_other_version += u64::from(!rec.same_version);
            if honest {
                let key = self.key(i, self.now);
                self.acc
                    .latencies
                    .push((key, u32::try_from(*latency_ms).unwrap_or(u32::MAX)));
                if self.shared.record {
                    self.acc.wins.push((key, rec));
                }
            }
        }
        if self.shared.record {
            let key = self.key(i, self.now);
            self.acc.events.push((key, e));
        }
    }
}

/// The oracle: what the winner's store really holds for the token.
#[allow(clippy::too_many_arguments)]
fn classify(
    shared: &Shared,
    now: u64,
    challenger: usize,
    token: &TokenId,
    winner: &Contact<u32>,
    cluster_size: usize,
    responses: usize,
    latency_ms: u64,
) -> WinRecord {
    let idx = match shared.ids.get(winner.addr as usize) {
        Some(id) if *id == winner.id => Some(winner.addr),
        _ => shared.index_of(&winner.id),
    };
    let (class, can_sign, same_version) = match idx {
        // A phantom's ledger version is unknowable; it is counted as a phantom only.
        None => (WinnerClass::Phantom, false, true),
        Some(w) => {
            let view = &shared.views[w as usize];
            let class = match view.lookup(token) {
                None => WinnerClass::NotHolding,
                Some(b) if b == shared.ledger.block(token, view.version()) => WinnerClass::HonestBlock,
                Some(_) => WinnerClass::StaleBlock,
            };
            let can_sign = generate_signature(view, token, &shared.ids[challenger]).is_some();
            (
                class,
                can_sign,
                view.version() == shared.views[challenger].version(),
            )
        }
    };
    WinRecord {
        time_ms: now,
        challenger: challenger as u32,
        token: *token,
        winner: idx,
        winner_kind: idx.map(|w| shared.kinds[w as usize]),
        class,
        can_sign,
        same_version,
        cluster_size,
        responses,
        latency_ms,
    }
}

/// A running simulation.
#[derive(Debug)]
pub struct Sim {
    cfg: SimConfig,
    shared: Shared,
    nodes: Vec<NodeState>,
    /// Deliveries and timers.
    queue: BinaryHeap<Entry>,
    /// Churn, partitions: run alone, between windows.
    globals: BinaryHeap<Entry>,
    seq: u64,
    now: u64,
    lookahead: u64,
    churn_rng: SimRng,
    digest: blake3::Hasher,
    honest: ElectionCounters,
    others: ElectionCounters,
    latencies: Vec<u32>,
    net: NetCounters,
    retired: Metrics,
    stuck_timers: u64,
    events: Vec<(u64, u32, Event<u32>)>,
    wins: Vec<WinRecord>,
    windows: u64,
    parallel_windows: u64,
    churn_log: Vec<(u64, u32, bool)>,
}

impl Sim {
    /// Builds the network and bootstraps every node at time 0.
    pub fn new(cfg: SimConfig) -> Result<Self, NodeConfigError> {
        cfg.node.validate()?;
        let n = cfg.nodes.max(1);
        assert!(n <= u32::MAX as usize, "node indices are u32");
        let seed = cfg.seed;

        let ids: Vec<PeerId> = (0..n as u64)
            .map(|i| PeerId::new(derive32(seed, "node id", i)))
            .collect();
        let mut ring: Vec<(PeerId, u32)> = ids.iter().enumerate().map(|(i, id)| (*id, i as u32)).collect();
        ring.sort_unstable();

        // Kinds: a seeded shuffle, then the first shares go to each adversary kind.
        let mut kinds = vec![NodeKind::Honest; n];
        let mut order: Vec<usize> = (0..n).collect();
        let mut krng = SimRng::new(seed, "kinds");
        for i in (1..n).rev() {
            let j = krng.below(i as u64 + 1) as usize;
            order.swap(i, j);
        }
        let mut next = 0;
        for (kind, share) in &cfg.adversaries {
            let count = ((share * n as f64).round() as usize).min(n - next);
            for &i in &order[next..next + count] {
                kinds[i] = *kind;
            }
            next += count;
        }
        let colluders: Vec<usize> = (0..n).filter(|i| kinds[*i] == NodeKind::Colluder).collect();
        let group_size = if cfg.colluder_group_size == 0 {
            colluders.len().max(1)
        } else {
            cfg.colluder_group_size
        };
        let groups_n = colluders.len().div_ceil(group_size).max(1);
        let colluder_secrets = (0..groups_n as u64)
            .map(|g| derive32(seed, "colluder group", g))
            .collect();

        let fork_share = cfg.partition.as_ref().map_or(0.0, |p| p.fork_share);
        let replication = cfg.replication.max(1.0);
        let cells = ((cfg.arc_depth.max(1) as f64) * n as f64 / replication).ceil() as u64;
        let ledger = Arc::new(Ledger::new(derive64(seed, "ledger", 0), cells, fork_share));
        let half = ((replication / n as f64 / 2.0).min(0.5) * 18_446_744_073_709_551_616.0) as u64;

        let mut grng = SimRng::new(seed, "partition groups");
        let mut groups = Vec::with_capacity(n);
        let mut views = Vec::with_capacity(n);
        let mut nodes = Vec::with_capacity(n);
        for (i, id) in ids.iter().enumerate() {
            let kind = kinds[i];
            let (coverage, stale) = if kind == NodeKind::Lazy {
                (cfg.lazy_coverage, cfg.lazy_stale)
            } else {
                (cfg.coverage, cfg.stale)
            };
            let view = LedgerView::new(
                ledger.clone(),
                id,
                half,
                derive64(seed, "store", i as u64),
                coverage,
                stale,
            );
            let core = Node::new(
                cfg.node.clone(),
                Contact {
                    id: *id,
                    addr: i as u32,
                },
                view.clone(),
                derive32(seed, "node seed", i as u64),
            )?;
            groups.push(u8::from(grng.next_u64() & 1 == 1));
            views.push(view);
            nodes.push(NodeState {
                core: Some(Box::new(core)),
                snapshot: None,
                timer_at: None,
                incarnation: 0,
                split_tokens: Vec::new(),
                forks: BTreeMap::new(),
                colluder_group: colluders
                    .iter()
                    .position(|c| *c == i)
                    .map_or(0, |p| p / group_size),
                rng: SimRng::from_bytes(derive32(seed, "node stream", i as u64)),
                counter: 0,
            });
        }

        let lo = cfg.latency_ms.0.max(1);
        let hi = cfg.latency_ms.1.max(lo);
        let shared = Shared {
            ledger,
            ids,
            kinds,
            groups,
            views,
            ring,
            colluder_secrets,
            partitioned: false,
            latency: (lo, hi),
            loss: cfg.loss,
            duplicate: cfg.duplicate,
            record: cfg.record_events,
        };
        let mut sim = Self {
            shared,
            nodes,
            queue: BinaryHeap::new(),
            globals: BinaryHeap::new(),
            seq: 0,
            now: 0,
            lookahead: lo,
            churn_rng: SimRng::new(seed, "churn"),
            digest: blake3::Hasher::new_derive_key("election-tests digest v1"),
            honest: ElectionCounters::default(),
            others: ElectionCounters::default(),
            latencies: Vec::new(),
            net: NetCounters::default(),
            retired: Metrics::default(),
            stuck_timers: 0,
            events: Vec::new(),
            wins: Vec::new(),
            windows: 0,
            parallel_windows: 0,
            churn_log: Vec::new(),
            cfg,
        };

        // Bootstrap: ring neighbours on both sides plus random contacts.
        let mut brng = SimRng::new(seed, "bootstrap");
        for pos in 0..n {
            let idx = sim.shared.ring[pos].1 as usize;
            let mut chosen: Vec<u32> = Vec::new();
            let side = sim.cfg.bootstrap_neighbours.min((n - 1) / 2);
            for d in 1..=side {
                chosen.push(sim.shared.ring[(pos + d) % n].1);
                chosen.push(sim.shared.ring[(pos + n - d) % n].1);
            }
            let want = (chosen.len() + sim.cfg.bootstrap_random).min(n - 1);
            let mut guard = 0;
            while chosen.len() < want && guard < 100 * want {
                guard += 1;
                let j = brng.below(n as u64) as u32;
                if j as usize != idx && !chosen.contains(&j) {
                    chosen.push(j);
                }
            }
            let contacts: Vec<Contact<u32>> = chosen
                .iter()
                .map(|&j| Contact {
                    id: sim.shared.ids[j as usize],
                    addr: j,
                })
                .collect();
            sim.serial_feed(idx, Input::Command(Command::AddContacts(contacts)));
        }

        if let Some(p) = sim.cfg.partition.clone() {
            sim.push_global(p.at_ms, Ev::PartitionOpen);
            sim.push_global(p.heal_ms.max(p.at_ms), Ev::PartitionHeal);
        }
        if let Some(c) = sim.cfg.churn.clone() {
            if c.per_hour > 0.0 {
                sim.push_global(c.start_ms, Ev::ChurnTick);
            }
        }
        Ok(sim)
    }

    // ----- public inspection -------------------------------------------------

    /// The configuration.
    pub fn config(&self) -> &SimConfig {
        &self.cfg
    }

    /// Current simulated time (ms).
    pub fn now(&self) -> u64 {
        self.now
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether there are no nodes (never: at least one is built).
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The shared ledger.
    pub fn ledger(&self) -> &Arc<Ledger> {
        &self.shared.ledger
    }

    /// Node `i`'s id.
    pub fn id(&self, i: usize) -> PeerId {
        self.shared.ids[i]
    }

    /// Node `i`'s kind.
    pub fn kind(&self, i: usize) -> NodeKind {
        self.shared.kinds[i]
    }

    /// Node `i`'s partition half (0 or 1).
    pub fn group(&self, i: usize) -> u8 {
        self.shared.groups[i]
    }

    /// Node `i`'s store view.
    pub fn view(&self, i: usize) -> &LedgerView {
        &self.shared.views[i]
    }

    /// Node `i`'s core, if it is online.
    pub fn node(&self, i: usize) -> Option<&SimNodeCore> {
        self.nodes[i].core.as_deref()
    }

    /// The node index with this id, if any.
    pub fn index_of(&self, id: &PeerId) -> Option<u32> {
        self.shared.index_of(id)
    }

    /// Outcomes of elections run by honest nodes.
    pub fn honest(&self) -> &ElectionCounters {
        &self.honest
    }

    /// Outcomes of elections run by all other nodes (adversaries, lazy nodes).
    pub fn others(&self) -> &ElectionCounters {
        &self.others
    }

    /// Latencies of honest wins, in the order they happened.
    pub fn latencies(&self) -> &[u32] {
        &self.latencies
    }

    /// Network and simulator counters.
    pub fn net(&self) -> &NetCounters {
        &self.net
    }

    /// Core metrics summed over every node, including past incarnations
    /// (see [`Metrics::merge`]).
    pub fn core_totals(&self) -> Metrics {
        let mut t = self.retired.clone();
        for n in &self.nodes {
            if let Some(c) = &n.core {
                t.merge(&c.metrics());
            }
        }
        t
    }

    /// Times a node asked for a timer that was already due (should be 0).
    pub fn stuck_timers(&self) -> u64 {
        self.stuck_timers
    }

    /// Every node event so far, when recording.
    pub fn events(&self) -> &[(u64, u32, Event<u32>)] {
        &self.events
    }

    /// Every classified win of an honest challenger so far, when recording.
    pub fn wins(&self) -> &[WinRecord] {
        &self.wins
    }

    /// Whether a partition is open now.
    pub fn partitioned(&self) -> bool {
        self.shared.partitioned
    }

    /// Churn so far: `(time, node, true if it came back / false if it left)`.
    pub fn churn_log(&self) -> &[(u64, u32, bool)] {
        &self.churn_log
    }

    /// Windows run so far, and how many of them ran on several threads.
    pub fn windows(&self) -> (u64, u64) {
        (self.windows, self.parallel_windows)
    }

    /// BLAKE3 over every delivered datagram and every node event so far, in
    /// `(time, node, per-node counter)` order.
    pub fn digest(&self) -> [u8; 32] {
        *self.digest.clone().finalize().as_bytes()
    }

    // ----- driving -----------------------------------------------------------

    /// Runs every event due at or before `end_ms`; time then stands at `end_ms`.
    ///
    /// Conservative windows: with `t0` the earliest pending event and `L` the
    /// smallest possible latency, nothing done in `[t0, t0 + L)` can reach another
    /// node before `t0 + L`, so the nodes' events in that window are independent
    /// across nodes and run on [`SimConfig::threads`] workers. What the workers
    /// produce is merged in `(time, node, counter)` order, so the result is the
    /// same for any number of threads. Churn and partition events run alone.
    pub fn run_until(&mut self, end_ms: u64) {
        loop {
            let tq = self.queue.peek().map(|e| e.time);
            let tg = self.globals.peek().map(|e| e.time);
            let t0 = match (tq, tg) {
                (None, None) => break,
                (a, b) => a.unwrap_or(u64::MAX).min(b.unwrap_or(u64::MAX)),
            };
            if t0 > end_ms {
                break;
            }
            if tg == Some(t0) {
                if let Some(e) = self.globals.pop() {
                    self.now = self.now.max(e.time);
                    self.net.events += 1;
                    self.global(e.ev);
                }
                continue;
            }
            let wend = t0
                .saturating_add(self.lookahead)
                .min(end_ms.saturating_add(1))
                .min(tg.unwrap_or(u64::MAX));
            let mut batch = Vec::new();
            while self.queue.peek().is_some_and(|e| e.time < wend) {
                if let Some(e) = self.queue.pop() {
                    batch.push(e);
                }
            }
            self.now = self.now.max(t0);
            self.run_window(batch, wend);
        }
        self.now = self.now.max(end_ms);
    }

    /// Runs for `ms` more milliseconds.
    pub fn run_for(&mut self, ms: u64) {
        self.run_until(self.now.saturating_add(ms));
    }

    /// Gives node `i` a host command now (ignored if it is offline).
    pub fn command(&mut self, i: usize, cmd: Command<u32>) {
        self.serial_feed(i, Input::Command(cmd));
    }

    // ----- internals ---------------------------------------------------------

    fn run_window(&mut self, batch: Vec<Entry>, wend: u64) {
        self.windows += 1;
        let n = self.nodes.len();
        let threads = self.cfg.threads.clamp(1, n);
        let now = self.now;
        let accs: Vec<Acc> = if threads == 1 || batch.len() < self.cfg.parallel_min_events {
            let mut w = Worker::new(&self.shared, &mut self.nodes, 0, wend, now);
            w.local = BinaryHeap::from(batch);
            w.run();
            vec![w.acc]
        } else {
            self.parallel_windows += 1;
            let chunk = n.div_ceil(threads);
            let mut per: Vec<Vec<Entry>> = (0..threads).map(|_| Vec::new()).collect();
            for e in batch {
                let node = match &e.ev {
                    Ev::Deliver { to, .. } => *to,
                    Ev::Timer { node, .. } => *node,
                    _ => 0,
                };
                per[node as usize / chunk].push(e);
            }
            let shared = &self.shared;
            std::thread::scope(|s| {
                let mut parts = self.nodes.chunks_mut(chunk).zip(per).enumerate();
                let Some((_, (first_nodes, first_events))) = parts.next() else {
                    return Vec::new();
                };
                let handles: Vec<_> = parts
                    .map(|(k, (nodes, events))| {
                        s.spawn(move || {
                            let mut w = Worker::new(shared, nodes, k * chunk, wend, now);
                            w.local = BinaryHeap::from(events);
                            w.run();
                            w.acc
                        })
                    })
                    .collect();
                let mut w = Worker::new(shared, first_nodes, 0, wend, now);
                w.local = BinaryHeap::from(first_events);
                w.run();
                let mut accs = vec![w.acc];
                for h in handles {
                    match h.join() {
                        Ok(acc) => accs.push(acc),
                        Err(p) => std::panic::resume_unwind(p),
                    }
                }
                accs
            })
        };
        self.absorb(accs);
    }

    /// Merges what workers produced, in `(time, node, counter)` order.
    fn absorb(&mut self, accs: Vec<Acc>) {
        let mut all = Acc::default();
        for a in accs {
            all.merge(a);
        }
        all.outbox.sort_unstable_by_key(|(k, _)| *k);
        for (k, ev) in all.outbox {
            let seq = self.seq;
            self.seq += 1;
            self.queue.push(Entry { time: k.0, seq, ev });
        }
        all.log.sort_unstable_by_key(|(k, _)| *k);
        for ((t, node, c), h) in &all.log {
            self.digest.update(&t.to_le_bytes());
            self.digest.update(&node.to_le_bytes());
            self.digest.update(&c.to_le_bytes());
            self.digest.update(h);
        }
        self.honest.add(&all.honest);
        self.others.add(&all.others);
        self.net.add(&all.net);
        self.stuck_timers += all.stuck_timers;
        self.now = self.now.max(all.last_time);
        all.latencies.sort_unstable_by_key(|(k, _)| *k);
        self.latencies.extend(all.latencies.into_iter().map(|(_, l)| l));
        if self.shared.record {
            all.wins.sort_unstable_by_key(|(k, _)| *k);
            self.wins.extend(all.wins.into_iter().map(|(_, w)| w));
            all.events.sort_unstable_by_key(|(k, _)| *k);
            self.events
                .extend(all.events.into_iter().map(|((t, node, _), e)| (t, node, e)));
        }
    }

    /// Feeds one input to node `i` now, outside any window.
    fn serial_feed(&mut self, i: usize, input: Input<'_, u32>) {
        let now = self.now;
        let mut w = Worker::new(&self.shared, &mut self.nodes, 0, now, now);
        w.feed(i, input);
        // With the window ending now, everything scheduled lands in the outbox.
        debug_assert!(w.local.is_empty());
        let acc = std::mem::take(&mut w.acc);
        drop(w);
        self.absorb(vec![acc]);
    }

    fn push_global(&mut self, time: u64, ev: Ev) {
        let seq = self.seq;
        self.seq += 1;
        self.globals.push(Entry { time, seq, ev });
    }

    fn global(&mut self, ev: Ev) {
        self.digest.update(&self.now.to_le_bytes());
        match ev {
            Ev::ChurnTick => self.churn_tick(),
            Ev::Rejoin { node } => self.rejoin(node as usize),
            Ev::PartitionOpen => {
                self.digest.update(b"partition");
                self.shared.partitioned = true;
                self.set_group_version(1, 1);
            }
            Ev::PartitionHeal => {
                self.digest.update(b"heal");
                self.shared.partitioned = false;
                let after = self.cfg.partition.as_ref().map_or(0, |p| p.resync_after_ms);
                self.push_global(self.now + after, Ev::Resync);
            }
            Ev::Resync => {
                self.digest.update(b"resync");
                self.set_group_version(1, 0);
            }
            Ev::Deliver { .. } | Ev::Timer { .. } => unreachable!("node event in the global queue"),
        }
    }

    fn set_group_version(&mut self, group: u8, version: u32) {
        for i in 0..self.nodes.len() {
            if self.shared.groups[i] == group {
                self.shared.views[i].set_version(version);
                if let Some(c) = self.nodes[i].core.as_mut() {
                    c.store_mut().set_version(version);
                }
            }
        }
    }

    fn churn_tick(&mut self) {
        let Some(c) = self.cfg.churn.clone() else { return };
        let n = self.nodes.len();
        let expect = c.per_hour * n as f64 / 60.0;
        let mut k = expect.floor() as u64;
        if self.churn_rng.chance(expect - expect.floor()) {
            k += 1;
        }
        for _ in 0..k {
            let i = self.churn_rng.below(n as u64) as usize;
            if self.nodes[i].core.is_none() {
                continue;
            }
            let down = self.churn_rng.between(c.downtime_ms.0, c.downtime_ms.1);
            self.leave(i, down);
        }
        self.push_global(self.now + 60_000, Ev::ChurnTick);
    }

    fn leave(&mut self, i: usize, downtime: u64) {
        self.serial_feed(i, Input::Command(Command::Shutdown));
        let st = &mut self.nodes[i];
        if let Some(core) = st.core.take() {
            st.snapshot = Some(core.snapshot());
            self.retired.merge(&core.metrics());
        }
        st.timer_at = None;
        st.split_tokens.clear();
        self.net.churn_leaves += 1;
        self.churn_log.push((self.now, i as u32, false));
        self.digest.update(b"leave");
        self.digest.update(&(i as u32).to_le_bytes());
        self.push_global(self.now + downtime, Ev::Rejoin { node: i as u32 });
    }

    fn rejoin(&mut self, i: usize) {
        let seed = self.cfg.seed;
        let st = &mut self.nodes[i];
        if st.core.is_some() {
            return;
        }
        st.incarnation += 1;
        let node_seed = derive32(seed, "node seed", i as u64 | (st.incarnation << 32));
        let Ok(mut core) = Node::new(
            self.cfg.node.clone(),
            Contact {
                id: self.shared.ids[i],
                addr: i as u32,
            },
            self.shared.views[i].clone(),
            node_seed,
        ) else {
            return;
        };
        if let Some(s) = st.snapshot.take() {
            core.restore(s);
        }
        st.core = Some(Box::new(core));
        self.net.churn_joins += 1;
        self.churn_log.push((self.now, i as u32, true));
        self.digest.update(b"join");
        self.digest.update(&(i as u32).to_le_bytes());
        self.serial_feed(i, Input::Timer);
    }
}

/// A compact, deterministic byte encoding of an event for the digest.
fn encode_event<'a>(e: &Event<u32>, buf: &'a mut [u8; 256]) -> &'a [u8] {
    let mut w = Writer { buf, len: 0 };
    match e {
        Event::ElectionStarted { token, purpose } => {
            w.put(&[0]);
            w.put(token.as_bytes());
            match purpose {
                election_proto::node::ElectionPurpose::Requested => w.put(&[0]),
                election_proto::node::ElectionPurpose::Reverify(p) => {
                    w.put(&[1]);
                    w.put(p.as_bytes());
                }
                election_proto::node::ElectionPurpose::Discover => w.put(&[2]),
                other => w.put(format!("{other:?}").as_bytes()),
            }
        }
        Event::Elected {
            token,
            winner,
            cluster_size,
            responses,
            latency_ms,
            contested,
        } => {
            w.put(&[1]);
            w.put(token.as_bytes());
            w.put(winner.id.as_bytes());
            w.put(&winner.addr.to_le_bytes());
            w.put(&(*cluster_size as u32).to_le_bytes());
            w.put(&(*responses as u32).to_le_bytes());
            w.put(&latency_ms.to_le_bytes());
            w.put(&[u8::from(*contested)]);
        }
        Event::SplitBrain {
            token,
            winner1,
            size1,
            winner2,
            size2,
            spawning_channels,
        } => {
            w.put(&[2]);
            w.put(token.as_bytes());
            w.put(winner1.as_bytes());
            w.put(&(*size1 as u32).to_le_bytes());
            w.put(winner2.as_bytes());
            w.put(&(*size2 as u32).to_le_bytes());
            w.put(&[u8::from(*spawning_channels)]);
        }
        Event::ElectionFailed {
            token,
            reason,
            responses,
        } => {
            w.put(&[3]);
            w.put(token.as_bytes());
            w.put(&[reason.index() as u8]);
            w.put(&(*responses as u32).to_le_bytes());
        }
        Event::PeerAdded(c) => {
            w.put(&[4]);
            w.put(c.id.as_bytes());
            w.put(&c.addr.to_le_bytes());
        }
        Event::PeerEvicted(p) => {
            w.put(&[5]);
            w.put(p.as_bytes());
        }
        Event::PartitionSuspected { split_brains, window } => {
            w.put(&[6]);
            w.put(&(*split_brains as u32).to_le_bytes());
            w.put(&(*window as u32).to_le_bytes());
        }
        // Events this encoder does not know yet still reach the digest.
        other => w.put(format!("{other:?}").as_bytes()),
    }
    let len = w.len;
    &buf[..len]
}

struct Writer<'a> {
    buf: &'a mut [u8; 256],
    len: usize,
}

impl Writer<'_> {
    fn put(&mut self, b: &[u8]) {
        let end = (self.len + b.len()).min(self.buf.len());
        let n = end - self.len;
        self.buf[self.len..end].copy_from_slice(&b[..n]);
        self.len = end;
    }
}
