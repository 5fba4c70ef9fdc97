//! How healthy the honest nodes' elected-peer tables are (issue 11): entries
//! pointing at departed or misaligned peers, how long a departed or switched
//! peer stays in some table, evictions of peers that did nothing wrong, and
//! how long ago alive entries were last verified.

use super::node::SimNode;
use super::world::World;
use crate::adversary::NodeKind;
use election_proto::node::EvictionReason;
use election_proto::PeerId;
use std::collections::BTreeMap;

/// What the tables looked like and what happened to them.
#[derive(Debug, Default)]
pub(super) struct TableHealth {
    /// Per sample: share of entries (over all honest online tables) whose peer is offline.
    pub(super) dead_share: Vec<f64>,
    /// Per sample: share of entries whose peer is on another ledger version
    /// than the table's owner, or lazy (by kind or by switch).
    pub(super) misaligned_share: Vec<(u64, f64)>,
    /// `now - verified_at` of every entry whose peer is online, every sample
    /// (ms; `u32`, so up to 49 days, at half the memory: one entry per honest
    /// table entry per minute is the largest record a long run keeps).
    pub(super) reverify_ages: Vec<u32>,
    /// Departed or switched nodes still in some honest table: since when.
    tracked: BTreeMap<u32, u64>,
    /// How long each tracked node took to leave every table.
    pub(super) evict_ms: Vec<u64>,
    /// Evictions (departed or misaligned) of honest, online, unswitched peers
    /// on their evictor's version, by honest evictors.
    pub(super) false_evictions: u64,
    /// Evictions by reason, by honest evictors.
    pub(super) evictions: [u64; EvictionReason::COUNT],
}

/// What the classification reads: the world, the nodes and which switched.
#[derive(Clone, Copy, Debug)]
pub(super) struct Flags<'a> {
    pub(super) world: &'a World,
    pub(super) nodes: &'a [SimNode],
    pub(super) switched: &'a [bool],
}

impl TableHealth {
    /// Node `node` departed or switched at `now`: follow it until no honest
    /// online table holds it (nothing to follow if none does now).
    pub(super) fn track(&mut self, now: u64, node: u32, flags: Flags<'_>) {
        let world = flags.world;
        if held(flags, &world.id(node as usize)) {
            self.tracked.insert(node, now);
        }
    }

    /// Node `owner` evicted `peer` at `now` for `reason`.
    pub(super) fn evicted(
        &mut self,
        now: u64,
        owner: u32,
        peer: &PeerId,
        reason: EvictionReason,
        flags: Flags<'_>,
    ) {
        let (world, nodes) = (flags.world, flags.nodes);
        let o = owner as usize;
        if world.kind(o) != NodeKind::Honest || flags.switched[o] {
            return;
        }
        self.evictions[reason.index()] += 1;
        let Some(j) = world.index_of(peer).map(|j| j as usize) else {
            return;
        };
        if reason != EvictionReason::Replaced
            && world.kind(j) == NodeKind::Honest
            && nodes[j].is_online()
            && !flags.switched[j]
            && world.view(j).version() == world.view(o).version()
        {
            self.false_evictions += 1;
        }
        self.settle(now, j as u32, flags);
    }

    /// If tracked `node` is in no honest online table any more, it is out.
    fn settle(&mut self, now: u64, node: u32, flags: Flags<'_>) {
        let world = flags.world;
        if let Some(since) = self.tracked.get(&node).copied() {
            if !held(flags, &world.id(node as usize)) {
                self.tracked.remove(&node);
                self.evict_ms.push(now - since);
            }
        }
    }

    /// One sample of every honest online table at `now`.
    pub(super) fn sample(&mut self, now: u64, flags: Flags<'_>) {
        let (world, nodes) = (flags.world, flags.nodes);
        let (mut all, mut dead, mut misaligned) = (0u64, 0u64, 0u64);
        for (o, n) in nodes.iter().enumerate() {
            // Switched nodes are no longer honest owners: their tables do not count.
            if world.kind(o) != NodeKind::Honest || flags.switched[o] {
                continue;
            }
            let Some(core) = n.core() else {
                continue;
            };
            let version = world.view(o).version();
            for p in core.elected_peers() {
                all += 1;
                let Some(j) = world.index_of(&p.contact.id).map(|j| j as usize) else {
                    continue;
                };
                if !nodes[j].is_online() {
                    dead += 1;
                    continue;
                }
                let age = now.saturating_sub(p.health.verified_at);
                self.reverify_ages.push(u32::try_from(age).unwrap_or(u32::MAX));
                let lazy = world.kind(j) == NodeKind::Lazy;
                if world.view(j).version() != version || lazy || flags.switched[j] {
                    misaligned += 1;
                }
            }
        }
        let share = |k: u64| if all == 0 { 0.0 } else { k as f64 / all as f64 };
        self.dead_share.push(share(dead));
        self.misaligned_share.push((now, share(misaligned)));
        // Holders can also disappear by going offline themselves.
        let tracked: Vec<u32> = self.tracked.keys().copied().collect();
        for node in tracked {
            self.settle(now, node, flags);
        }
    }

    /// Tracked nodes still in some table at `end`, with how long so far
    /// (a lower bound on their time to leave every table).
    pub(super) fn pending(&self, end: u64) -> Vec<u64> {
        self.tracked.values().map(|since| end - since).collect()
    }
}

/// Whether some honest, unswitched online node's table holds `peer`.
fn held(flags: Flags<'_>, peer: &PeerId) -> bool {
    let (world, nodes) = (flags.world, flags.nodes);
    nodes.iter().enumerate().any(|(o, n)| {
        world.kind(o) == NodeKind::Honest
            && !flags.switched[o]
            && n.core().is_some_and(|c| c.elected_peer(peer).is_some())
    })
}
