//! Continuous re-election over simulated time: elections keep completing, peers
//! are re-elected, tables fill to their cap and evict.

mod common;

use common::*;
use election_proto::node::{ElectionPurpose, Event};
use election_tests::adversary::NodeKind;
use election_tests::sim::Sim;

#[test]
fn peers_are_reelected_and_full_tables_evict() {
    let mut cfg = config(40, 3);
    cfg.node.health.election_interval_ms = 5 * SECOND;
    cfg.node.health.max_elected_peers = 4;
    let mut sim = Sim::new(cfg).unwrap();
    sim.run_until(5 * MINUTE);

    let h = sim.honest().clone();
    // ~60 elections per node.
    assert!(h.started >= 40 * 50, "{}", summary(&sim));
    assert!(h.success_rate() >= 0.9, "{}", summary(&sim));
    assert_winners_verified(&sim, &[NodeKind::Honest]);

    // Both halves of the scheduler ran.
    let reverify = count_events(&sim, |e| {
        matches!(
            e,
            Event::ElectionStarted {
                purpose: ElectionPurpose::Reverify(_),
                ..
            }
        )
    });
    let discover = count_events(&sim, |e| {
        matches!(
            e,
            Event::ElectionStarted {
                purpose: ElectionPurpose::Discover,
                ..
            }
        )
    });
    assert!(
        reverify > 500 && discover > 500,
        "reverify {reverify} discover {discover}"
    );

    // Tables are at their cap and have evicted.
    let full = (0..sim.len())
        .filter(|&i| sim.node(i).unwrap().elected_peers().count() == 4)
        .count();
    assert!(full >= sim.len() * 3 / 4, "{full} of {} tables full", sim.len());
    assert!(h.peers_evicted > 0, "{}", summary(&sim));
    assert!(count_events(&sim, |e| matches!(e, Event::PeerEvicted { .. })) as u64 == h.peers_evicted);
    for i in 0..sim.len() {
        assert!(sim.node(i).unwrap().elected_peers().count() <= 4);
    }

    // Re-elected peers: entries won more than once, verified again after they entered.
    let mut reelected = 0;
    for i in 0..sim.len() {
        for p in sim.node(i).unwrap().elected_peers() {
            assert!(p.last_election >= p.elected_at);
            if p.election_count > 1 {
                reelected += 1;
                assert!(p.last_election > p.elected_at, "{p:?}");
            }
        }
    }
    assert!(reelected >= sim.len(), "{reelected} re-elected entries");

    // Elections keep completing over time, not only at the start.
    let last_minute = sim.wins().iter().filter(|w| w.time_ms >= 4 * MINUTE).count();
    assert!(last_minute >= 40 * 8, "{last_minute} wins in the last minute");
}
