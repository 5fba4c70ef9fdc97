//! What a run depends on: [`SimConfig`] and the optional faults it schedules.
//!
//! Two runs with equal configurations are identical, bit for bit, whatever
//! [`SimConfig::threads`] says.

use super::crypto::Crypto;
use crate::adversary::sybil::Sybils;
use crate::adversary::NodeKind;
use election_proto::node::NodeConfig;

/// A network partition with a ledger fork.
///
/// At `at_ms` the nodes split into two seeded random halves that cannot reach
/// each other, and the second half moves to ledger version 1 (a share
/// `fork_share` of blocks differ). At `heal_ms` connectivity returns while the
/// ledgers still disagree, so split-brain becomes visible to elections; at
/// `heal_ms + resync_after_ms` the second half reconciles to version 0.
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
///
/// Every simulated minute from `start_ms` on, some nodes receive `Shutdown`, keep
/// their snapshot, and come back after a downtime as a fresh node (new seed)
/// restored from it. A node already away is not picked again.
#[derive(Clone, Debug, PartialEq)]
pub struct Churn {
    /// Expected share of all nodes that leave per simulated hour.
    pub per_hour: f64,
    /// Downtime, uniform in this range.
    pub downtime_ms: (u64, u64),
    /// No churn before this time.
    pub start_ms: u64,
}

/// Nodes leaving for good: from `start_ms` on, every simulated minute each
/// online node leaves with probability `per_hour / 60` (drawn as a count,
/// like churn) and never comes back.
#[derive(Clone, Debug, PartialEq)]
pub struct Departures {
    /// Expected share of the nodes that leave per simulated hour.
    pub per_hour: f64,
    /// No departures before this time.
    pub start_ms: u64,
}

/// What a switching node turns into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SwitchKind {
    /// It moves to another ledger version (a share `fork_share` of blocks differ).
    Version,
    /// Its store becomes thin and stale (`lazy_coverage`, `lazy_stale`).
    Lazy,
}

/// Honest nodes that change mid-run: from `start_ms` on, every simulated
/// minute `per_hour × nodes / 60` honest nodes that have not switched yet are
/// drawn and switch for good.
#[derive(Clone, Debug, PartialEq)]
pub struct Switch {
    /// Expected share of the nodes that switch per simulated hour.
    pub per_hour: f64,
    /// What they turn into.
    pub kind: SwitchKind,
    /// No switches before this time.
    pub start_ms: u64,
}

/// Nodes that join a running network: `count` honest nodes (drawn from the
/// seed) are offline from the start and join at evenly spaced times from
/// `from_ms` to `until_ms`, each with its bootstrap seeds. Their time to 8
/// peers is measured from their join.
#[derive(Clone, Debug, PartialEq)]
pub struct Joiners {
    /// How many.
    pub count: usize,
    /// The first joins then.
    pub from_ms: u64,
    /// The last joins then.
    pub until_ms: u64,
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
    /// Random contacts each node starts with. Default 3 (seeds).
    pub bootstrap_random: usize,
    /// Ring neighbours on each side each node starts with. Default 0.
    pub bootstrap_neighbours: usize,
    /// Draw the random contacts from the first this-many nodes only (a small set
    /// of well-known seed nodes, as deployments have, which start knowing each
    /// other), or from every node when 0. Default 0. With one uniformly random seed per node the "who knows whom"
    /// graph usually falls apart into islands no protocol can join (a random
    /// mapping on 1,000 nodes has ~3 components, the largest holding ~78 %);
    /// a shared pool keeps it connected.
    pub bootstrap_pool: usize,
    /// Give the starting contacts as seed addresses only (`Command::AddSeeds`,
    /// ids unknown) rather than as vouched contacts (`Command::AddContacts`).
    /// Default true. [`SimConfig::legacy_bootstrap`] sets the old generous start.
    pub seeds_by_address: bool,
    /// Adversary kinds and the share of nodes of each.
    pub adversaries: Vec<(NodeKind, f64)>,
    /// Coverage of a lazy node's store. Default 0.6.
    pub lazy_coverage: f64,
    /// Stale share of a lazy node's store. Default 0.3.
    pub lazy_stale: f64,
    /// Colluders per group; 0 puts all colluders in one group. Default 0.
    pub colluder_group_size: usize,
    /// How relays and referrers (sybil hosts) present themselves: ids per
    /// host, hosts per /24. Default one id per host, each host its own /24.
    pub sybils: Sybils,
    /// An optional partition.
    pub partition: Option<Partition>,
    /// Optional churn.
    pub churn: Option<Churn>,
    /// Optional departures for good.
    pub departures: Option<Departures>,
    /// Optional honest nodes switching version or turning lazy.
    pub switch: Option<Switch>,
    /// Share of blocks another version changes for `switch` nodes (the
    /// partition uses its own). Default 0.5.
    pub switch_fork_share: f64,
    /// Optional late joiners.
    pub joiners: Option<Joiners>,
    /// Keep every node event and every classified win (for tests; costs memory).
    pub record_events: bool,
    /// Worker threads. Results do not depend on it (see [`Sim::run_until`](super::Sim::run_until)). Default 1.
    pub threads: usize,
    /// A window with fewer events runs on one thread even when `threads > 1`
    /// (spawning costs more than it saves). Default 24.
    pub parallel_min_events: usize,
    /// The nodes' signature scheme. Default [`Crypto::Real`] (Ed25519);
    /// [`Crypto::Simulated`] gives the same verdicts for a fraction of the CPU.
    pub crypto: Crypto,
}

impl SimConfig {
    /// The bootstrap before membership: 4 ring neighbours on each side and 8
    /// random nodes, all given as vouched contacts.
    pub fn legacy_bootstrap(&mut self) {
        self.bootstrap_neighbours = 4;
        self.bootstrap_random = 8;
        self.seeds_by_address = false;
    }

    /// Which bootstrap the run uses, for the report: `"seeds:3"` (seed
    /// addresses) or `"contacts:4+8"` (vouched ring neighbours per side + random).
    pub fn bootstrap_name(&self) -> String {
        let name = self.bootstrap_kind();
        if self.bootstrap_pool > 0 {
            format!("{name} from {} well-known nodes", self.bootstrap_pool)
        } else {
            name
        }
    }

    fn bootstrap_kind(&self) -> String {
        if self.seeds_by_address && self.bootstrap_neighbours == 0 {
            format!("seeds:{}", self.bootstrap_random)
        } else if self.seeds_by_address {
            format!("seeds:{}+{}", self.bootstrap_neighbours, self.bootstrap_random)
        } else {
            format!("contacts:{}+{}", self.bootstrap_neighbours, self.bootstrap_random)
        }
    }

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
            bootstrap_random: 3,
            bootstrap_neighbours: 0,
            bootstrap_pool: 0,
            seeds_by_address: true,
            adversaries: Vec::new(),
            lazy_coverage: 0.6,
            lazy_stale: 0.3,
            colluder_group_size: 0,
            sybils: Sybils::default(),
            partition: None,
            churn: None,
            departures: None,
            switch: None,
            switch_fork_share: 0.5,
            joiners: None,
            record_events: false,
            threads: 1,
            parallel_min_events: 24,
            crypto: Crypto::Real,
        }
    }
}
