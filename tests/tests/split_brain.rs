//! Split-brain in a partitioned network: two halves on different ledger versions
//! are detected and reported (extra channels spawned); after healing and ledger
//! reconciliation, elections succeed again.

mod common;

use common::*;
use election_proto::node::Event;
use election_tests::adversary::NodeKind;
use election_tests::sim::{ElectionCounters, Partition, Sim};

const PARTITION_AT: u64 = 2 * MINUTE;
const HEAL_AT: u64 = 4 * MINUTE;
const RESYNC_AFTER: u64 = 2 * MINUTE;
const END: u64 = 8 * MINUTE;

fn phase(sim: &mut Sim, until: u64) -> ElectionCounters {
    let before = sim.honest().clone();
    sim.run_until(until);
    sim.honest().since(&before)
}

fn split_rate(c: &ElectionCounters) -> f64 {
    c.split_brain_elections as f64 / c.finished().max(1) as f64
}

fn forked_run() -> (Sim, [ElectionCounters; 4], usize) {
    let mut cfg = config(60, 17);
    cfg.node.health.election_interval_ms = 5 * SECOND;
    cfg.partition = Some(Partition {
        at_ms: PARTITION_AT,
        heal_ms: HEAL_AT,
        resync_after_ms: RESYNC_AFTER,
        fork_share: 0.5,
    });
    let mut sim = Sim::new(cfg).unwrap();
    let healthy = phase(&mut sim, PARTITION_AT);
    let cut = phase(&mut sim, HEAL_AT);
    let forked = phase(&mut sim, HEAL_AT + RESYNC_AFTER);
    let events_before_resync = sim.events().len();
    let healed = phase(&mut sim, END);
    for (name, c) in [
        ("healthy", &healthy),
        ("cut", &cut),
        ("forked", &forked),
        ("healed", &healed),
    ] {
        eprintln!(
            "{name:8} started {:4} rate {:.3} split {:3} ({:.3}) spawning {:3} alerts {:2} other-version wins {:3} failed {:?}",
            c.started,
            c.success_rate(),
            c.split_brain_elections,
            split_rate(c),
            c.split_brain_spawning,
            c.partition_alerts,
            c.winners_other_version,
            c.failed
        );
    }
    (sim, [healthy, cut, forked, healed], events_before_resync)
}

#[test]
fn forked_halves_are_detected_and_recover_after_healing() {
    let (sim, [healthy, cut, forked, healed], events_before_resync) = forked_run();
    let net = sim.net();
    assert!(net.partition_dropped > 0, "{net:?}");
    assert!(cut.succeeded > 0, "{cut:?}");
    assert_eq!(healthy.winners_other_version, 0);

    // Connected but forked: elections see both versions and report it.
    assert!(forked.split_brain_elections >= 20, "{forked:?}");
    assert!(
        split_rate(&forked) >= 1.5 * split_rate(&healthy),
        "forked vs healthy"
    );
    assert!(
        forked.split_brain_spawning > 0,
        "extra channels were spawned: {forked:?}"
    );
    // ... as events naming two disjoint clusters with different winners.
    let reported = sim.events()[..events_before_resync].iter().any(|(t, _, e)| {
        *t >= HEAL_AT
            && matches!(e, Event::SplitBrain { size1, size2, winner1, winner2, spawning_channels: true, .. }
                if *size1 >= 2 && *size2 >= 2 && winner1 != winner2)
    });
    assert!(reported);

    // Healthy before, and healthy again once the ledgers reconcile.
    assert!(healthy.success_rate() >= 0.95, "{healthy:?}");
    assert!(healed.success_rate() >= 0.95, "{healed:?}");
    assert!(
        split_rate(&healed) <= 2.0 * split_rate(&healthy) + 0.01,
        "{healed:?}"
    );
    assert_eq!(healed.winners_other_version, 0, "{healed:?}");
    assert!(healed.succeeded >= 60 * 20, "{healed:?}");
    assert_winners_verified(&sim, &[NodeKind::Honest]);
}

/// Known limit: in this scenario the fork changes half the blocks but usually
/// not the challenged token's, so a forked responder still shares ~3–5 of 10
/// mappings with the challenger — as much as an honest responder with the
/// default 90 % coverage often does. Ten mappings per answer cannot tell the two
/// apart one answer at a time. The alignment check (winners must share
/// `alignment_threshold` mappings with the challenger's own walk) and ranking
/// clusters by closeness to that walk cut wrong-version wins from ~51 % to ~33 %
/// of wins during the fork; a full fix needs larger signatures or a
/// cluster-level alignment test.
#[test]
#[ignore = "statistical limit: a 50 % fork is not separable from 10 % divergence with 10-mapping answers"]
fn no_peer_on_another_ledger_version_is_elected() {
    let (_, [_, _, forked, _], _) = forked_run();
    assert_eq!(forked.winners_other_version, 0, "{forked:?}");
}
