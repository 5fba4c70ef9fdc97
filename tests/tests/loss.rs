//! Lossy and duplicating networks still converge.

mod common;

use common::*;
use election_tests::adversary::NodeKind;
use election_tests::sim::Sim;

#[test]
fn ten_percent_loss_still_converges() {
    let mut cfg = config(60, 8);
    cfg.loss = 0.10;
    let mut sim = Sim::new(cfg).unwrap();
    sim.run_until(3 * MINUTE);
    let net = sim.net();
    let lost = net.lost as f64 / net.sent as f64;
    assert!((0.08..0.12).contains(&lost), "loss {lost}");
    let h = sim.honest();
    assert!(h.success_rate() >= 0.85, "{}", summary(&sim));
    assert!(sim.core_totals().channel_timeouts > 0);
    assert_winners_verified(&sim, &[NodeKind::Honest]);
    let mean = (0..sim.len())
        .map(|i| sim.node(i).unwrap().elected_peers().count())
        .sum::<usize>() as f64
        / sim.len() as f64;
    assert!(mean >= 5.0, "elected table mean {mean}");
}

#[test]
fn duplicated_datagrams_are_harmless() {
    let mut cfg = config(40, 9);
    cfg.duplicate = 0.10;
    cfg.latency_ms = (10, 200);
    let mut sim = Sim::new(cfg).unwrap();
    sim.run_until(2 * MINUTE);
    let core = sim.core_totals();
    assert!(sim.net().duplicated > 100);
    assert!(
        core.duplicate_answers > 0,
        "re-delivered answers are recognised: {core:?}"
    );
    assert_eq!(
        core.conflicting_answers, 0,
        "a duplicate never blocks a channel: {core:?}"
    );
    assert!(sim.honest().success_rate() >= 0.9, "{}", summary(&sim));
    assert_winners_verified(&sim, &[NodeKind::Honest]);
}
