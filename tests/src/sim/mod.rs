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
//!
//! # Layout
//!
//! Each module uses only modules below it in this table:
//!
//! | module | owns |
//! |--------|------|
//! | this one | [`Sim`]: the run's clock and queues, driving windows and faults, inspection |
//! | `faults` | the churn and partition schedule, and which nodes churn picks |
//! | `bootstrap` | the contacts each node starts with |
//! | `stats` | run totals: counters, latencies, recorded events and wins, churn log |
//! | `window` | splitting one window's events among worker threads and merging their output |
//! | `worker` | running one window's events for a range of nodes, and what it counts |
//! | `counters` | the public counters: [`ElectionCounters`], [`NetCounters`] |
//! | `oracle` | classifying winners against the ledger: [`WinnerClass`], [`WinRecord`] |
//! | `digest` | the digest's records and their byte encoding |
//! | `node` | one node's running state (core, timer, snapshot, stream) |
//! | `world` | what workers share read-only: ids, kinds, store views, the network |
//! | `network` | the network model: latency, loss, duplication, the partition cut |
//! | `queue` | time-ordered queues and the merge key |
//! | `config` | [`SimConfig`], [`Partition`], [`Churn`] |
//! | `crypto` | [`Crypto`]: real Ed25519 or the run's [`Simulated`] signatures |
//!
//! Adversary behaviour (what adversaries do with what they receive and send)
//! lives in [`crate::adversary`].

mod bootstrap;
mod config;
mod counters;
mod crypto;
mod digest;
mod faults;
mod network;
mod node;
mod oracle;
mod queue;
mod stats;
mod tables;
mod window;
mod worker;
mod world;

pub use config::{Churn, Departures, Joiners, Partition, SimConfig, Switch, SwitchKind};
pub use counters::{ElectionCounters, NetCounters};
pub use crypto::{Crypto, Simulated};
pub use node::SimNodeCore;
pub use oracle::{WinRecord, WinnerClass};

use crate::adversary::NodeKind;
use crate::ledger::{Ledger, LedgerView};
use crate::rng::{derive32, SimRng};
use digest::Digest;
use election_proto::node::{Command, Event, Input, Metrics, Node, NodeConfigError};
use election_proto::wire::Contact;
use election_proto::PeerId;
use faults::{Fault, Faults};
use node::SimNode;
use queue::{NodeEvent, Queue};
use stats::Stats;
use std::sync::Arc;
use tables::{Flags, TableHealth};
use window::Window;
use worker::{Worker, WorkerOutput};
use world::World;

/// Sybil hosts' ids (relays', referrers') in honest contact tables, at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SybilContacts {
    /// Honest contact tables looked at (honest nodes online).
    pub tables: u64,
    /// Entries in them.
    pub entries: u64,
    /// Entries that are ids of sybil hosts.
    pub sybil: u64,
    /// Tables holding at least one.
    pub tables_with_sybil: u64,
}

/// A running simulation.
///
/// Deterministic: the same [`SimConfig`] gives the same run, bit for bit (same
/// [`digest`](Sim::digest), counters, latencies, events), whatever
/// [`SimConfig::threads`] is and however the run is cut into
/// [`run_until`](Sim::run_until) calls.
#[derive(Debug)]
pub struct Sim {
    cfg: SimConfig,
    world: World,
    nodes: Vec<SimNode>,
    /// Deliveries and timers.
    queue: Queue<NodeEvent>,
    /// Churn and partitions: run alone, between windows.
    faults: Faults,
    now: u64,
    /// Window length: the smallest latency.
    lookahead: u64,
    digest: Digest,
    stats: Stats,
    windows: u64,
    parallel_windows: u64,
    /// Next minute at which contact tables are sampled for eclipse ids (the
    /// first sample is at minute 1; at 0 every table is empty).
    next_sample_at: u64,
    /// Largest share of eclipse ids in any honest contact table at any sample.
    eclipse_share_max: f64,
    /// Samples (node, minute) with more than a tenth eclipse ids, and the
    /// last minute that had one.
    eclipse_over_tenth: (u64, u64),
    /// Largest share of sybil hosts' ids (relays, referrers) in any honest
    /// contact table at any sample.
    sybil_share_max: f64,
    /// Nodes that left for good.
    departed: Vec<bool>,
    /// Nodes that switched version or turned lazy.
    switched: Vec<bool>,
    /// Late joiners not yet joined, with the contacts they will bootstrap from.
    joining: Vec<Option<Vec<Contact<u32>>>>,
    /// The elected-peer tables' health (issue 11).
    tables: TableHealth,
    /// When the partition healed, if it did.
    healed_at: Option<u64>,
}

impl Sim {
    /// Builds the network and bootstraps every node at time 0.
    pub fn new(cfg: SimConfig) -> Result<Self, NodeConfigError> {
        cfg.node.validate()?;
        let seed = cfg.seed;
        let world = World::new(&cfg);
        let n = world.len();
        let mut nodes = Vec::with_capacity(n);
        for i in 0..world.len() {
            let core = Node::new(
                cfg.node.clone(),
                world.key(i).clone(),
                world.addr(i),
                world.view(i).clone(),
                derive32(seed, "node seed", i as u64),
            )?;
            let rng = SimRng::from_bytes(derive32(seed, "node stream", i as u64));
            nodes.push(SimNode::new(core, rng));
        }
        let mut sim = Self {
            lookahead: world.network().min_latency(),
            faults: Faults::new(&cfg),
            world,
            nodes,
            queue: Queue::default(),
            now: 0,
            digest: Digest::default(),
            stats: Stats::default(),
            windows: 0,
            parallel_windows: 0,
            next_sample_at: 60_000,
            eclipse_share_max: 0.0,
            eclipse_over_tenth: (0, 0),
            sybil_share_max: 0.0,
            departed: vec![false; n],
            switched: vec![false; n],
            joining: vec![None; n],
            tables: TableHealth::default(),
            healed_at: None,
            cfg,
        };
        let late = faults::joiners(&sim.cfg);
        let start = bootstrap::contacts(
            &sim.world,
            sim.cfg.bootstrap_neighbours,
            sim.cfg.bootstrap_random,
            sim.cfg.bootstrap_pool,
            seed,
        );
        for (i, contacts) in start {
            if late.contains(&(i as u32)) {
                // Offline until its join; it bootstraps from these then.
                sim.nodes[i].leave();
                sim.joining[i] = Some(contacts);
                continue;
            }
            let cmd = if sim.cfg.seeds_by_address {
                Command::AddSeeds(contacts.into_iter().map(|c| c.addr).collect())
            } else {
                Command::AddContacts(contacts)
            };
            sim.serial_feed(i, Input::Command(cmd));
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
        self.world.ledger()
    }

    /// Node `i`'s id.
    pub fn id(&self, i: usize) -> PeerId {
        self.world.id(i)
    }

    /// The node at address `addr` (node indices, and the addresses of
    /// eclipse nodes and packed sybil hosts), if any.
    pub fn node_at(&self, addr: u32) -> Option<usize> {
        self.world.node_at(addr)
    }

    /// Node `i`'s kind.
    pub fn kind(&self, i: usize) -> NodeKind {
        self.world.kind(i)
    }

    /// Node `i`'s partition half (0 or 1).
    pub fn group(&self, i: usize) -> u8 {
        self.world.network().half(i)
    }

    /// Node `i`'s store view.
    pub fn view(&self, i: usize) -> &LedgerView {
        self.world.view(i)
    }

    /// Node `i`'s core, if it is online.
    pub fn node(&self, i: usize) -> Option<&SimNodeCore> {
        self.nodes[i].core()
    }

    /// The node index with this id, if any.
    pub fn index_of(&self, id: &PeerId) -> Option<u32> {
        self.world.index_of(id)
    }

    /// Outcomes of elections run by honest nodes.
    pub fn honest(&self) -> &ElectionCounters {
        self.stats.honest()
    }

    /// Outcomes of elections run by all other nodes (adversaries, lazy nodes).
    pub fn others(&self) -> &ElectionCounters {
        self.stats.others()
    }

    /// Latencies of honest wins, in the order they happened.
    pub fn latencies(&self) -> &[u32] {
        self.stats.latencies()
    }

    /// Network and simulator counters.
    pub fn net(&self) -> &NetCounters {
        self.stats.net()
    }

    /// Core metrics summed over every node, including past incarnations
    /// (see [`Metrics::merge`]).
    pub fn core_totals(&self) -> Metrics {
        let mut t = self.stats.retired().clone();
        for c in self.nodes.iter().filter_map(SimNode::core) {
            t.merge(&c.metrics());
        }
        t
    }

    /// Times a node asked for a timer that was already due (should be 0).
    pub fn stuck_timers(&self) -> u64 {
        self.stats.stuck_timers()
    }

    /// Every node event so far, when recording.
    pub fn events(&self) -> &[(u64, u32, Event<u32>)] {
        self.stats.events()
    }

    /// Every classified win of an honest challenger so far, when recording.
    pub fn wins(&self) -> &[WinRecord] {
        self.stats.wins()
    }

    /// Whether a partition is open now.
    pub fn partitioned(&self) -> bool {
        self.world.network().is_cut()
    }

    /// Churn so far: `(time, node, true if it came back / false if it left)`.
    pub fn churn_log(&self) -> &[(u64, u32, bool)] {
        self.stats.churn_log()
    }

    /// Windows run so far, and how many of them ran on several threads.
    pub fn windows(&self) -> (u64, u64) {
        (self.windows, self.parallel_windows)
    }

    /// BLAKE3 over every delivered datagram and every node event so far, in
    /// `(time, node, per-node counter)` order, plus churn and partition markers.
    pub fn digest(&self) -> [u8; 32] {
        self.digest.value()
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
            let tq = self.queue.next_time();
            let tf = self.faults.next_time();
            let t0 = match (tq, tf) {
                (None, None) => break,
                (a, b) => a.unwrap_or(u64::MAX).min(b.unwrap_or(u64::MAX)),
            };
            if t0 > end_ms {
                break;
            }
            while self.next_sample_at <= t0 {
                self.sample_contacts();
                self.sample_tables();
                self.next_sample_at += 60_000;
            }
            // A fault due now runs before the node events at the same time.
            if tf == Some(t0) {
                if let Some((time, fault)) = self.faults.pop() {
                    self.now = self.now.max(time);
                    self.stats.count_fault_event();
                    self.run_fault(fault);
                }
                continue;
            }
            let end = t0
                .saturating_add(self.lookahead)
                .min(end_ms.saturating_add(1))
                .min(tf.unwrap_or(u64::MAX));
            let batch = self.queue.pop_before(end);
            self.now = self.now.max(t0);
            self.windows += 1;
            let window = Window {
                now: self.now,
                end,
                threads: self.cfg.threads,
                parallel_min_events: self.cfg.parallel_min_events,
            };
            let (out, parallel) = window.run(&self.world, &mut self.nodes, batch);
            self.parallel_windows += u64::from(parallel);
            self.absorb(out);
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

    /// Largest share of eclipse adversaries' ids in any honest node's contact
    /// table, over samples taken every simulated minute (0 without eclipse nodes).
    pub fn eclipse_share_max(&self) -> f64 {
        self.eclipse_share_max
    }

    /// How many (honest node, minute) samples found more than a tenth of the
    /// contact table eclipse ids, and the last minute any did (0 if none).
    pub fn eclipse_over_tenth(&self) -> (u64, u64) {
        self.eclipse_over_tenth
    }

    /// Largest share of sybil hosts' ids (relays' and referrers', every id
    /// they present) in any honest contact table, over samples taken every
    /// simulated minute (0 without sybil hosts).
    pub fn sybil_share_max(&self) -> f64 {
        self.sybil_share_max
    }

    /// Sybil hosts' ids in the honest nodes' contact tables now.
    pub fn sybil_contacts(&self) -> SybilContacts {
        let mut c = SybilContacts::default();
        for core in self.honest_cores() {
            let (all, sybil) = self.sybil_count(core.contacts().map(|c| c.addr));
            c.tables += 1;
            c.entries += all as u64;
            c.sybil += sybil as u64;
            c.tables_with_sybil += u64::from(sybil > 0);
        }
        c
    }

    /// Relays in the honest nodes' elected-peer tables now: `(relay entries,
    /// all entries)`.
    pub fn relay_elected(&self) -> (u64, u64) {
        let (mut relays, mut all) = (0, 0);
        for core in self.honest_cores() {
            for p in core.elected_peers() {
                all += 1;
                let kind = self
                    .world
                    .index_of(&p.contact.id)
                    .map(|j| self.world.kind(j as usize));
                relays += u64::from(kind == Some(NodeKind::Relay));
            }
        }
        (relays, all)
    }

    /// For every honest node, when its first and its eighth elected peer arrived
    /// (ms since the start), if they did.
    pub fn peer_milestones(&self) -> Vec<[Option<u64>; 2]> {
        (0..self.nodes.len())
            .filter(|i| self.world.kind(*i) == NodeKind::Honest)
            .map(|i| self.nodes[i].peer_milestones())
            .collect()
    }

    /// For every honest late joiner that joined, how long after its join its
    /// eighth elected peer arrived (`None`: not yet).
    pub fn join_times_to_8_peers(&self) -> Vec<Option<u64>> {
        (0..self.nodes.len())
            .filter(|i| self.world.kind(*i) == NodeKind::Honest)
            .filter_map(|i| {
                let at = self.nodes[i].joined_at()?;
                Some(self.nodes[i].peer_milestones()[1].map(|t| t - at))
            })
            .collect()
    }

    /// Per-minute samples (after the first 10) of the share of honest table
    /// entries pointing at offline peers.
    pub fn table_dead_share(&self) -> &[f64] {
        &self.tables.dead_share
    }

    /// Per-minute samples `(time, share)` of honest table entries whose peer is
    /// on another ledger version than the owner, lazy, or switched.
    pub fn table_misaligned_share(&self) -> &[(u64, f64)] {
        &self.tables.misaligned_share
    }

    /// When the partition healed, if it did.
    pub fn healed_at(&self) -> Option<u64> {
        self.healed_at
    }

    /// For every departed or switched node that was in some honest table,
    /// the time until it was in none (ms); those still in one at the end
    /// count with the time so far.
    pub fn evict_ms(&self) -> Vec<u64> {
        let mut v = self.tables.evict_ms.clone();
        v.extend(self.tables.pending(self.now));
        v
    }

    /// Departed or switched nodes still in some honest table now.
    pub fn evict_pending(&self) -> usize {
        self.tables.pending(self.now).len()
    }

    /// Evictions by honest nodes, by [`EvictionReason::index`](election_proto::node::EvictionReason::index).
    pub fn evictions_by_reason(&self) -> [u64; election_proto::node::EvictionReason::COUNT] {
        self.tables.evictions
    }

    /// Evictions (departed or misaligned) of honest, online, unswitched peers
    /// on the evictor's version, by honest evictors.
    pub fn false_evictions(&self) -> u64 {
        self.tables.false_evictions
    }

    /// `now - verified_at` (ms, at most `u32::MAX`) of every alive entry of
    /// every honest table, every sample.
    pub fn reverify_ages(&self) -> &[u32] {
        &self.tables.reverify_ages
    }

    /// Mean contact-table size over the honest nodes online.
    pub fn contacts_mean(&self) -> f64 {
        let sizes: Vec<usize> = (0..self.nodes.len())
            .filter(|i| self.world.kind(*i) == NodeKind::Honest)
            .filter_map(|i| self.nodes[i].core().map(|c| c.metrics().contacts))
            .collect();
        sizes.iter().sum::<usize>() as f64 / sizes.len().max(1) as f64
    }

    // ----- internals ---------------------------------------------------------

    /// The cores of the honest nodes online.
    fn honest_cores(&self) -> impl Iterator<Item = &SimNodeCore> {
        (0..self.nodes.len())
            .filter(|i| self.world.kind(*i) == NodeKind::Honest)
            .filter_map(|i| self.nodes[i].core())
    }

    /// Of the contacts at `addrs`: how many, and how many are sybil hosts.
    fn sybil_count(&self, addrs: impl Iterator<Item = u32>) -> (usize, usize) {
        let (mut all, mut sybil) = (0, 0);
        for a in addrs {
            all += 1;
            let kind = self.world.node_at(a).map(|j| self.world.kind(j));
            sybil += usize::from(kind.is_some_and(NodeKind::is_sybil_host));
        }
        (all, sybil)
    }

    /// Samples the sybil share of every honest contact table.
    fn sample_sybil_contacts(&mut self) {
        if !self
            .cfg
            .adversaries
            .iter()
            .any(|(k, f)| k.is_sybil_host() && *f > 0.0)
        {
            return;
        }
        let max = self
            .honest_cores()
            .map(|core| self.sybil_count(core.contacts().map(|c| c.addr)))
            .filter(|(all, _)| *all > 0)
            .map(|(all, sybil)| sybil as f64 / all as f64)
            .fold(0.0, f64::max);
        self.sybil_share_max = self.sybil_share_max.max(max);
    }

    /// Samples the eclipse share of every honest contact table.
    fn sample_contacts(&mut self) {
        self.sample_sybil_contacts();
        if self.world.eclipse_addrs().is_empty() {
            return;
        }
        for i in 0..self.nodes.len() {
            if self.world.kind(i) != NodeKind::Honest {
                continue;
            }
            let Some(core) = self.nodes[i].core() else {
                continue;
            };
            let (mut all, mut eclipse) = (0usize, 0usize);
            for c in core.contacts() {
                all += 1;
                let kind = self.world.node_at(c.addr).map(|j| self.world.kind(j));
                eclipse += usize::from(kind == Some(NodeKind::Eclipse));
            }
            if all > 0 {
                self.eclipse_share_max = self.eclipse_share_max.max(eclipse as f64 / all as f64);
                if eclipse * 10 > all {
                    self.eclipse_over_tenth.0 += 1;
                    self.eclipse_over_tenth.1 = self.next_sample_at / 60_000;
                }
            }
        }
    }

    /// Samples the elected-peer tables, every minute after the first 10.
    fn sample_tables(&mut self) {
        if self.next_sample_at <= 600_000 {
            return;
        }
        let flags = Flags {
            world: &self.world,
            nodes: &self.nodes,
            switched: &self.switched,
        };
        self.tables.sample(self.next_sample_at, flags);
    }

    /// Takes in what a window (or a single input) produced, in key order.
    fn absorb(&mut self, mut out: WorkerOutput) {
        for (k, ev) in out.outbox {
            self.queue.push(k.0, ev);
        }
        let flags = Flags {
            world: &self.world,
            nodes: &self.nodes,
            switched: &self.switched,
        };
        for ((time, owner, _), peer, reason) in std::mem::take(&mut out.tally.evictions) {
            self.tables.evicted(time, owner, &peer, reason, flags);
        }
        self.digest.records(&out.log);
        self.stats.absorb(out.tally);
        self.now = self.now.max(out.last_time);
    }

    /// Feeds one input to node `i` now, outside any window.
    fn serial_feed(&mut self, i: usize, input: Input<'_, u32>) {
        let now = self.now;
        let mut out = Worker::new(&self.world, &mut self.nodes, 0, now, now).feed_one(i, input);
        out.sort();
        self.absorb(out);
    }

    fn run_fault(&mut self, fault: Fault) {
        self.digest.fault(self.now);
        match fault {
            Fault::ChurnTick => {
                let nodes = &self.nodes;
                let leaving = self
                    .faults
                    .churn_tick(self.now, nodes.len(), |i| nodes[i].is_online());
                for i in leaving {
                    self.leave(i);
                }
            }
            Fault::Rejoin { node } => {
                if !self.departed[node as usize] {
                    self.rejoin(node as usize)
                }
            }
            Fault::DepartureTick => {
                let (nodes, joining) = (&self.nodes, &self.joining);
                let leaving = self.faults.departure_tick(self.now, nodes.len(), |i| {
                    nodes[i].is_online() && joining[i].is_none()
                });
                for i in leaving {
                    self.digest.node_marker(b"depart", i as u32);
                    self.leave(i);
                    self.departed[i] = true;
                    let flags = Flags {
                        world: &self.world,
                        nodes: &self.nodes,
                        switched: &self.switched,
                    };
                    self.tables.track(self.now, i as u32, flags);
                }
            }
            Fault::SwitchTick => {
                let (nodes, switched, world) = (&self.nodes, &self.switched, &self.world);
                let turning = self.faults.switch_tick(self.now, nodes.len(), |i| {
                    nodes[i].is_online() && !switched[i] && world.kind(i) == NodeKind::Honest
                });
                let kind = self.cfg.switch.as_ref().map(|s| s.kind);
                for i in turning {
                    self.digest.node_marker(b"switch", i as u32);
                    self.switched[i] = true;
                    match kind {
                        Some(SwitchKind::Version) => {
                            self.world.set_version(i, 1);
                            if let Some(c) = self.nodes[i].core_mut() {
                                c.store_mut().set_version(1);
                            }
                        }
                        Some(SwitchKind::Lazy) => {
                            let (cov, stale) = (self.cfg.lazy_coverage, self.cfg.lazy_stale);
                            self.world.set_quality(i, cov, stale);
                            if let Some(c) = self.nodes[i].core_mut() {
                                c.store_mut().set_quality(cov, stale);
                            }
                        }
                        None => {}
                    }
                    let flags = Flags {
                        world: &self.world,
                        nodes: &self.nodes,
                        switched: &self.switched,
                    };
                    self.tables.track(self.now, i as u32, flags);
                }
            }
            Fault::Join { node } => self.join(node as usize),
            Fault::PartitionOpen => {
                self.digest.marker(b"partition");
                self.world.network_mut().set_cut(true);
                self.set_half_version(1, 1);
            }
            Fault::PartitionHeal => {
                self.digest.marker(b"heal");
                self.world.network_mut().set_cut(false);
                self.faults.healed(self.now);
                self.healed_at = Some(self.now);
            }
            Fault::Resync => {
                self.digest.marker(b"resync");
                self.set_half_version(1, 0);
            }
        }
    }

    /// Moves every node of partition half `half` to ledger `version`, in the
    /// oracle's view and in the node's own store alike.
    fn set_half_version(&mut self, half: u8, version: u32) {
        for i in 0..self.nodes.len() {
            if self.world.network().half(i) == half {
                self.world.set_version(i, version);
                if let Some(c) = self.nodes[i].core_mut() {
                    c.store_mut().set_version(version);
                }
            }
        }
    }

    /// Node `i` shuts down and goes offline (its return is already scheduled).
    fn leave(&mut self, i: usize) {
        self.serial_feed(i, Input::Command(Command::Shutdown));
        let metrics = self.nodes[i].leave();
        self.stats.left(self.now, i as u32, metrics.as_ref());
        self.digest.node_marker(b"leave", i as u32);
    }

    /// Late joiner `i` starts now and bootstraps from its seeds.
    fn join(&mut self, i: usize) {
        let Some(contacts) = self.joining[i].take() else {
            return;
        };
        self.rejoin(i);
        self.nodes[i].set_joined(self.now);
        let cmd = if self.cfg.seeds_by_address {
            Command::AddSeeds(contacts.into_iter().map(|c| c.addr).collect())
        } else {
            Command::AddContacts(contacts)
        };
        self.serial_feed(i, Input::Command(cmd));
    }

    /// Node `i` comes back as a fresh core (new seed) restored from its snapshot.
    fn rejoin(&mut self, i: usize) {
        let (world, cfg) = (&self.world, &self.cfg);
        let back = self.nodes[i].rejoin(|incarnation| {
            let seed = derive32(cfg.seed, "node seed", i as u64 | (incarnation << 32));
            Node::new(
                cfg.node.clone(),
                world.key(i).clone(),
                world.addr(i),
                world.view(i).clone(),
                seed,
            )
            .ok()
        });
        if back {
            self.stats.joined(self.now, i as u32);
            self.digest.node_marker(b"join", i as u32);
            self.serial_feed(i, Input::Timer);
        }
    }
}
