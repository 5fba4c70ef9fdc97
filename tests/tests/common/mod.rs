//! Helpers shared by the scenario tests.
#![allow(dead_code)]

use election_proto::node::Event;
use election_tests::adversary::NodeKind;
use election_tests::sim::{Sim, SimConfig, WinnerClass};

pub const SECOND: u64 = 1_000;
pub const MINUTE: u64 = 60_000;

/// A small network with a short election interval, recording events.
pub fn config(nodes: usize, seed: u64) -> SimConfig {
    let mut cfg = SimConfig::new(nodes, seed);
    cfg.node.health.election_interval_ms = 10 * SECOND;
    cfg.record_events = true;
    cfg
}

/// Checks the oracle on every win of an honest challenger: the winner is a real
/// node of an allowed kind that stores the challenged token and can sign for it.
/// Returns the number of wins checked.
pub fn assert_winners_verified(sim: &Sim, allowed: &[NodeKind]) -> usize {
    for w in sim.wins() {
        let kind = w.winner_kind.unwrap_or_else(|| panic!("phantom winner: {w:?}"));
        assert!(allowed.contains(&kind), "winner of kind {kind:?}: {w:?}");
        assert!(
            matches!(w.class, WinnerClass::HonestBlock | WinnerClass::StaleBlock),
            "winner does not store the token: {w:?}"
        );
        assert!(w.can_sign, "winner could not have produced a valid answer: {w:?}");
        assert!(w.cluster_size >= 2, "winner outside a cluster: {w:?}");
    }
    sim.wins().len()
}

/// Share of honest wins whose winner is honest and holds the honest block.
pub fn honest_share(sim: &Sim) -> f64 {
    let wins = sim.wins();
    let good = wins
        .iter()
        .filter(|w| w.winner_kind == Some(NodeKind::Honest) && w.class == WinnerClass::HonestBlock)
        .count();
    good as f64 / wins.len().max(1) as f64
}

/// Number of recorded events matching `f`.
pub fn count_events(sim: &Sim, f: impl Fn(&Event<u32>) -> bool) -> usize {
    sim.events().iter().filter(|(_, _, e)| f(e)).count()
}

/// One-line summary for assertion messages.
pub fn summary(sim: &Sim) -> String {
    let h = sim.honest();
    format!(
        "started {} succeeded {} rate {:.3} failed {:?} split {} wins {} net {:?}",
        h.started,
        h.succeeded,
        h.success_rate(),
        h.failed,
        h.split_brain_elections,
        sim.wins().len(),
        sim.net()
    )
}
