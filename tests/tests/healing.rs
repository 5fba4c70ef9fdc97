//! The elected-peer table heals (issue 11): departed and switched peers leave
//! every table, honest peers stay, joiners fill their tables by a burst.

mod common;

use common::*;
use election_proto::node::{Event, EvictionReason};
use election_tests::sim::{Departures, Joiners, Sim, Switch, SwitchKind};

fn evicted(sim: &Sim, reason: EvictionReason) -> usize {
    count_events(
        sim,
        |e| matches!(e, Event::PeerEvicted { reason: r, .. } if *r == reason),
    )
}

#[test]
fn departed_nodes_leave_every_table() {
    let mut cfg = config(80, 5);
    cfg.record_events = true;
    cfg.departures = Some(Departures {
        per_hour: 0.5,
        start_ms: 4 * MINUTE,
    });
    let mut sim = Sim::new(cfg).unwrap();
    sim.run_until(20 * MINUTE);
    let gone: Vec<usize> = (0..sim.len()).filter(|i| sim.node(*i).is_none()).collect();
    assert!(gone.len() >= 3, "{} departed", gone.len());
    assert!(evicted(&sim, EvictionReason::Departed) > 0, "{}", summary(&sim));
    // Those that left more than 8 minutes ago are in no table any more.
    for &(t, node, joined) in sim.churn_log() {
        if joined || t > 12 * MINUTE {
            continue;
        }
        let id = sim.id(node as usize);
        for i in 0..sim.len() {
            if let Some(c) = sim.node(i) {
                assert!(
                    c.elected_peer(&id).is_none(),
                    "node {i} still holds departed {node}"
                );
            }
        }
    }
    assert!(
        sim.table_dead_share().iter().all(|s| *s < 0.05),
        "{:?}",
        sim.table_dead_share()
    );
}

#[test]
fn switched_nodes_leave_every_honest_table_and_honest_peers_stay() {
    let mut cfg = config(80, 6);
    cfg.record_events = true;
    cfg.switch = Some(Switch {
        per_hour: 0.3,
        kind: SwitchKind::Version,
        start_ms: 4 * MINUTE,
    });
    let mut sim = Sim::new(cfg).unwrap();
    sim.run_until(25 * MINUTE);
    let switched: Vec<usize> = (0..sim.len()).filter(|i| sim.view(*i).version() == 1).collect();
    assert!(switched.len() >= 3, "{} switched", switched.len());
    assert!(evicted(&sim, EvictionReason::Misaligned) > 0, "{}", summary(&sim));
    // Switches keep coming until the end, so a few entries are still on
    // their way out; most switched peers have left every honest table.
    let last = sim.table_misaligned_share().last().unwrap().1;
    assert!(last < 0.05, "{:?}", sim.table_misaligned_share());
    // Evictions of honest, aligned, online peers stay within the issue's
    // bound, 0.05 per node-hour at the default one-minute interval. Every
    // answer is a chance of a false verdict, and at this test's 10 s interval
    // each node sees six times as many: 80 nodes × 25 min × 0.05 × 6 = 10.
    // (Measured: 7 with one ratio per shared count; 2 with the three bins it
    // replaced, which let switched peers stay longer.)
    assert!(sim.false_evictions() <= 10, "{}", sim.false_evictions());
}

#[test]
fn a_default_network_evicts_almost_no_honest_peer() {
    // The default interval: evidence (and so the chance of a false verdict)
    // comes with every challenge, so the rate per node-hour depends on it.
    let mut cfg = config(100, 7);
    cfg.node.health.election_interval_ms = MINUTE;
    let mut sim = Sim::new(cfg).unwrap();
    sim.run_until(30 * MINUTE);
    // 100 nodes × 0.5 h: the bound (0.05 per node-hour) allows 2.5.
    assert!(sim.false_evictions() <= 2, "{}", sim.false_evictions());
    assert!(sim.evict_ms().is_empty());
}

#[test]
fn joiners_fill_their_table_by_a_burst() {
    let mut cfg = config(100, 8);
    cfg.joiners = Some(Joiners {
        count: 5,
        from_ms: 10 * MINUTE,
        until_ms: 14 * MINUTE,
    });
    let mut sim = Sim::new(cfg).unwrap();
    sim.run_until(20 * MINUTE);
    let times = sim.join_times_to_8_peers();
    assert_eq!(times.len(), 5);
    // Without the burst a joiner needs 8 scheduled slots (8 minutes at least).
    let quick = times.iter().filter(|t| t.is_some_and(|t| t < 3 * MINUTE)).count();
    assert!(quick >= 3, "{times:?}");
}
