//! Churn: nodes leave and come back restored from their snapshot; elections keep succeeding.

mod common;

use common::*;
use election_tests::adversary::NodeKind;
use election_tests::sim::{Churn, Sim};

#[test]
fn nodes_leave_and_rejoin_from_snapshots() {
    let mut cfg = config(60, 21);
    cfg.churn = Some(Churn {
        per_hour: 2.0, // two departures per node-hour: ~2 nodes a minute
        downtime_ms: (20 * SECOND, 90 * SECOND),
        start_ms: MINUTE,
    });
    let mut sim = Sim::new(cfg).unwrap();
    sim.run_until(10 * MINUTE);

    let net = sim.net().clone();
    assert!(net.churn_leaves >= 10, "{net:?}");
    assert!(net.churn_joins >= 8, "{net:?}");
    assert!(
        net.offline_dropped > 0,
        "datagrams to departed nodes are dropped: {net:?}"
    );

    // A node that came back restored its elected peers from the snapshot: some of
    // its entries were elected before it rejoined.
    let mut restored = 0;
    for &(t, node, joined) in sim.churn_log() {
        if !joined {
            continue;
        }
        let Some(core) = sim.node(node as usize) else {
            continue;
        };
        if core.elected_peers().any(|p| p.elected_at < t) {
            restored += 1;
        }
    }
    assert!(restored >= 5, "{restored} rejoined nodes kept peers from before");

    let h = sim.honest();
    assert!(h.success_rate() >= 0.9, "{}", summary(&sim));
    assert_winners_verified(&sim, &[NodeKind::Honest]);
    // Winners are never offline at the moment they win... but they may be later:
    // the table keeps them until re-verification fails and they age out.
    assert_eq!(sim.stuck_timers(), 0);
}
