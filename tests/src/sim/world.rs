//! Everything about the simulated nodes that is not their running state: who
//! they are, what they store, how the network treats them.

use super::config::SimConfig;
use super::network::Network;
use crate::adversary::{assign_kinds, sybil, ColluderGroups, NodeKind};
use crate::ledger::{Ledger, LedgerView};
use crate::rng::{derive32, derive64, SimRng};
use election_proto::wire::Contact;
use election_proto::{NodeKey, PeerId};
use std::sync::Arc;

/// What every worker may read during a window. It changes only between windows
/// (a partition opens or heals, a ledger version changes), so workers share it
/// without locks.
#[derive(Debug)]
pub(super) struct World {
    ledger: Arc<Ledger>,
    /// Each node's Ed25519 key pair (wire v2), derived from the seed.
    keys: Vec<NodeKey>,
    /// `ids[i]` is `keys[i].peer_id()`.
    ids: Vec<PeerId>,
    /// `(id, index)` sorted by id, to find a node by id.
    ring: Vec<(PeerId, u32)>,
    kinds: Vec<NodeKind>,
    colluders: ColluderGroups,
    /// Each node's store as the oracle sees it; kept on the same ledger version as
    /// the store inside the node's core.
    views: Vec<LedgerView>,
    network: Network,
    /// Each node's address: its index, except eclipse nodes (see
    /// [`crate::adversary::eclipse::address`]) and, when several share a /24,
    /// sybil hosts (see [`crate::adversary::sybil::address`]).
    addrs: Vec<u32>,
    /// Addresses other than node indices and their nodes, sorted by address.
    eclipse: Vec<(u32, u32)>,
    /// Each sybil host's extra ids and keys (empty for everyone else).
    sybil_extra: Vec<Vec<(PeerId, NodeKey)>>,
    /// Each sybil host's own id and key, then its extra ones (empty for
    /// everyone else).
    sybil_keys: Vec<Vec<(PeerId, NodeKey)>>,
    /// `(extra id, node)` sorted by id, to find a sybil host by any of its ids.
    sybil_ring: Vec<(PeerId, u32)>,
    /// Every referrer host's own id and address, in node order.
    referrers: Vec<Contact<u32>>,
    /// Every relay's address, sorted.
    relay_addrs: Vec<u32>,
    /// Every eclipse address, in node order.
    eclipse_addrs: Vec<u32>,
    /// Whether to keep every event and classified win.
    record: bool,
}

impl World {
    /// Ids, kinds, colluder groups, the ledger, every node's store view and the
    /// network, all derived from `cfg.seed` (one stream per purpose, so they do
    /// not depend on each other's draws).
    pub(super) fn new(cfg: &SimConfig) -> Self {
        let n = cfg.nodes.max(1);
        assert!(n <= u32::MAX as usize, "node indices are u32");
        let seed = cfg.seed;

        // Every node has a real key pair, its secret drawn from the seed; its
        // id is BLAKE3 of the public key, as on a real network. The scheme it
        // signs with is the run's (the ids do not depend on it).
        let keys: Vec<NodeKey> = cfg.crypto.keys(seed, n, |i| derive32(seed, "node key", i));
        let ids: Vec<PeerId> = keys.iter().map(NodeKey::peer_id).collect();
        let mut ring: Vec<(PeerId, u32)> = ids.iter().enumerate().map(|(i, id)| (*id, i as u32)).collect();
        ring.sort_unstable();

        let kinds = assign_kinds(n, &cfg.adversaries, seed);
        let colluders = ColluderGroups::new(&kinds, cfg.colluder_group_size, seed);

        let fork_share = match (&cfg.partition, &cfg.switch) {
            (Some(p), _) => p.fork_share,
            (None, Some(_)) => cfg.switch_fork_share,
            (None, None) => 0.0,
        };
        let replication = cfg.replication.max(1.0);
        let cells = ((cfg.arc_depth.max(1) as f64) * n as f64 / replication).ceil() as u64;
        let ledger = Arc::new(Ledger::new(derive64(seed, "ledger", 0), cells, fork_share));
        // Half the arc width as a share of the ring (2^64 positions).
        let half = ((replication / n as f64 / 2.0).min(0.5) * 18_446_744_073_709_551_616.0) as u64;

        let views = ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let (coverage, stale) = match kinds[i] {
                    NodeKind::Lazy => (cfg.lazy_coverage, cfg.lazy_stale),
                    // A relay stores nothing.
                    NodeKind::Relay => (0.0, 0.0),
                    _ => (cfg.coverage, cfg.stale),
                };
                LedgerView::new(
                    ledger.clone(),
                    id,
                    half,
                    derive64(seed, "store", i as u64),
                    coverage,
                    stale,
                )
            })
            .collect();

        let mut grng = SimRng::new(seed, "partition groups");
        let halves = (0..n).map(|_| u8::from(grng.next_u64() & 1 == 1)).collect();
        let network = Network::new(cfg.latency_ms, cfg.loss, cfg.duplicate, halves);

        let mut addrs: Vec<u32> = (0..n as u32).collect();
        let mut eclipse = Vec::new();
        for (i, a) in addrs.iter_mut().enumerate() {
            if kinds[i] == NodeKind::Eclipse {
                *a = crate::adversary::eclipse::address(eclipse.len());
                eclipse.push((*a, i as u32));
            }
        }
        let eclipse_addrs = eclipse.iter().map(|(a, _)| *a).collect();
        let per_subnet = cfg.sybils.hosts_per_subnet;
        let mut hosts = 0;
        for (i, a) in addrs.iter_mut().enumerate() {
            if kinds[i].is_sybil_host() && per_subnet > 0 {
                *a = sybil::address(hosts, per_subnet);
                eclipse.push((*a, i as u32));
                hosts += 1;
            }
        }
        eclipse.sort_unstable();

        let extra_ids = cfg.sybils.ids_per_host.max(1) - 1;
        let sybil_extra: Vec<Vec<(PeerId, NodeKey)>> = (0..n)
            .map(|i| {
                if !kinds[i].is_sybil_host() {
                    return Vec::new();
                }
                (1..=extra_ids)
                    .map(|j| {
                        let k = sybil::extra_key(seed, i, j);
                        (k.peer_id(), k)
                    })
                    .collect()
            })
            .collect();
        let sybil_keys = (0..n)
            .map(|i| {
                if !kinds[i].is_sybil_host() {
                    return Vec::new();
                }
                std::iter::once((ids[i], keys[i].clone()))
                    .chain(sybil_extra[i].iter().cloned())
                    .collect()
            })
            .collect();
        let mut sybil_ring: Vec<(PeerId, u32)> = sybil_extra
            .iter()
            .enumerate()
            .flat_map(|(i, v)| v.iter().map(move |(id, _)| (*id, i as u32)))
            .collect();
        sybil_ring.sort_unstable();
        let referrers = (0..n)
            .filter(|i| kinds[*i] == NodeKind::Referrer)
            .map(|i| Contact {
                id: ids[i],
                addr: addrs[i],
            })
            .collect();

        let mut relay_addrs: Vec<u32> = (0..n)
            .filter(|i| kinds[*i] == NodeKind::Relay)
            .map(|i| addrs[i])
            .collect();
        relay_addrs.sort_unstable();
        Self {
            relay_addrs,
            addrs,
            eclipse,
            eclipse_addrs,
            sybil_extra,
            sybil_keys,
            sybil_ring,
            referrers,
            ledger,
            keys,
            ids,
            ring,
            kinds,
            colluders,
            views,
            network,
            record: cfg.record_events,
        }
    }

    /// Number of nodes (at least 1).
    pub(super) fn len(&self) -> usize {
        self.ids.len()
    }

    /// The shared ledger.
    pub(super) fn ledger(&self) -> &Arc<Ledger> {
        &self.ledger
    }

    /// Node `i`'s id.
    pub(super) fn id(&self, i: usize) -> PeerId {
        self.ids[i]
    }

    /// Node `i`'s key pair (its id is [`World::id`]).
    pub(super) fn key(&self, i: usize) -> &NodeKey {
        &self.keys[i]
    }

    /// Node `i`'s id, or `None` if there is no node `i`.
    pub(super) fn get_id(&self, i: usize) -> Option<&PeerId> {
        self.ids.get(i)
    }

    /// Node `i`'s kind.
    pub(super) fn kind(&self, i: usize) -> NodeKind {
        self.kinds[i]
    }

    /// The secret of node `i`'s colluder group.
    pub(super) fn colluder_secret(&self, i: usize) -> &[u8; 32] {
        self.colluders.secret_of(i)
    }

    /// Node `i`'s store view.
    pub(super) fn view(&self, i: usize) -> &LedgerView {
        &self.views[i]
    }

    /// Moves node `i`'s view to ledger `version` (the caller moves the store in
    /// the node's core alike).
    pub(super) fn set_version(&mut self, i: usize, version: u32) {
        self.views[i].set_version(version);
    }

    /// Node `i` turns lazy: its view thins (the caller changes the core's store alike).
    pub(super) fn set_quality(&mut self, i: usize, coverage: f64, stale: f64) {
        self.views[i].set_quality(coverage, stale);
    }

    /// The network model.
    pub(super) fn network(&self) -> &Network {
        &self.network
    }

    /// The network model, to open or heal the partition between windows.
    pub(super) fn network_mut(&mut self) -> &mut Network {
        &mut self.network
    }

    /// The node index with this id (or, for a sybil host, one of its extra
    /// ids), if any.
    pub(super) fn index_of(&self, id: &PeerId) -> Option<u32> {
        let find = |ring: &[(PeerId, u32)]| ring.binary_search_by(|(p, _)| p.cmp(id)).ok().map(|k| ring[k].1);
        find(&self.ring).or_else(|| find(&self.sybil_ring))
    }

    /// Sybil host `i`'s extra ids and keys (empty for other nodes).
    pub(super) fn sybil_extra(&self, i: usize) -> &[(PeerId, NodeKey)] {
        &self.sybil_extra[i]
    }

    /// Sybil host `i`'s own id and key, then its extra ones (empty for other nodes).
    pub(super) fn sybil_keys(&self, i: usize) -> &[(PeerId, NodeKey)] {
        &self.sybil_keys[i]
    }

    /// Every relay's address, sorted.
    pub(super) fn relay_addrs(&self) -> &[u32] {
        &self.relay_addrs
    }

    /// Every referrer host's own id and address.
    pub(super) fn referrers(&self) -> &[Contact<u32>] {
        &self.referrers
    }

    /// The `pos`-th node in id order (wrapping).
    pub(super) fn by_ring_position(&self, pos: usize) -> u32 {
        self.ring[pos % self.ring.len()].1
    }

    /// Node `i`'s address.
    pub(super) fn addr(&self, i: usize) -> u32 {
        self.addrs[i]
    }

    /// The node at address `addr`, if any.
    pub(super) fn node_at(&self, addr: u32) -> Option<usize> {
        let i = addr as usize;
        if i < self.addrs.len() && self.addrs[i] == addr {
            return Some(i);
        }
        self.eclipse
            .binary_search_by_key(&addr, |(a, _)| *a)
            .ok()
            .map(|k| self.eclipse[k].1 as usize)
    }

    /// Every eclipse node's address.
    pub(super) fn eclipse_addrs(&self) -> &[u32] {
        &self.eclipse_addrs
    }

    /// Whether every event and classified win is kept.
    pub(super) fn records(&self) -> bool {
        self.record
    }
}
