//! Same seed ⇒ same run, bit for bit; different seed ⇒ different run; the number
//! of worker threads changes nothing.

mod common;

use common::*;
use election_tests::adversary::NodeKind;
use election_tests::sim::{Churn, Partition, Sim, SimConfig};

/// A configuration that exercises every source of randomness: loss, duplication,
/// churn, a partition, and every adversary kind.
fn busy(seed: u64) -> SimConfig {
    let mut cfg = config(50, seed);
    cfg.loss = 0.05;
    cfg.duplicate = 0.05;
    cfg.churn = Some(Churn {
        per_hour: 2.0,
        downtime_ms: (10 * SECOND, 40 * SECOND),
        start_ms: 10 * SECOND,
    });
    cfg.partition = Some(Partition {
        at_ms: 30 * SECOND,
        heal_ms: 50 * SECOND,
        resync_after_ms: 10 * SECOND,
        fork_share: 0.5,
    });
    cfg.adversaries = vec![
        (NodeKind::Forwarder, 0.04),
        (NodeKind::Forger, 0.04),
        (NodeKind::Colluder, 0.04),
        (NodeKind::Lazy, 0.04),
        (NodeKind::Dropper, 0.04),
        (NodeKind::Mangler, 0.04),
    ];
    cfg
}

fn run(cfg: SimConfig) -> Sim {
    let mut sim = Sim::new(cfg).unwrap();
    sim.run_until(90 * SECOND);
    sim
}

#[test]
fn same_seed_same_digest_different_seed_different_digest() {
    let a = run(busy(1));
    let b = run(busy(1));
    let c = run(busy(2));
    assert!(a.honest().succeeded > 50, "{}", summary(&a));
    assert!(a.net().churn_leaves > 0 && a.net().partition_dropped > 0 && a.net().mangled > 0);
    assert_eq!(a.digest(), b.digest());
    assert_eq!(a.honest(), b.honest());
    assert_eq!(a.net(), b.net());
    assert_eq!(a.latencies(), b.latencies());
    assert_eq!(a.events(), b.events());
    assert_ne!(a.digest(), c.digest());
}

#[test]
fn thread_count_does_not_change_the_run() {
    let one = run(busy(3));
    let mut cfg = busy(3);
    cfg.threads = 3;
    cfg.parallel_min_events = 1;
    let three = run(cfg);
    assert!(three.windows().1 > 100, "parallel windows: {:?}", three.windows());
    assert_eq!(one.digest(), three.digest());
    assert_eq!(one.events(), three.events());
    assert_eq!(one.honest(), three.honest());
    assert_eq!(one.net(), three.net());
}

#[test]
fn a_run_can_be_resumed_in_steps() {
    let whole = run(busy(4));
    let mut steps = Sim::new(busy(4)).unwrap();
    for t in (7..=90).step_by(7) {
        steps.run_until(t * SECOND);
    }
    steps.run_until(90 * SECOND);
    assert_eq!(whole.digest(), steps.digest());
}
