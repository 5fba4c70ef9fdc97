//! Simulated signatures change what a run costs, not what it decides: the same
//! run with real Ed25519 and with simulated signatures gives the same event
//! stream (elections, winners, split-brains, failures, evictions), under
//! every adversary, churn and a partition. The full-size check is the
//! `verdicts` binary (1,000 nodes × 30 min).

mod common;

use common::*;
use election_tests::adversary::NodeKind;
use election_tests::sim::{Churn, Partition};
use election_tests::verdicts;

#[test]
fn real_and_simulated_signatures_give_the_same_verdicts() {
    let mut cfg = config(60, 3);
    cfg.loss = 0.05;
    cfg.duplicate = 0.05;
    cfg.churn = Some(Churn {
        per_hour: 2.0,
        downtime_ms: (10 * SECOND, 40 * SECOND),
        start_ms: 10 * SECOND,
    });
    cfg.partition = Some(Partition {
        at_ms: 40 * SECOND,
        heal_ms: 60 * SECOND,
        resync_after_ms: 10 * SECOND,
        fork_share: 0.5,
    });
    // Forgers and manglers put bad signatures and tampered answers on the
    // wire; colluders and lazy nodes sign answers the walk checks reject.
    cfg.adversaries = vec![
        (NodeKind::Forwarder, 0.05),
        (NodeKind::Forger, 0.05),
        (NodeKind::Colluder, 0.05),
        (NodeKind::Lazy, 0.05),
        (NodeKind::Mangler, 0.1),
    ];
    let c = verdicts::compare(&cfg, 2 * MINUTE);
    assert!(
        c.elected > 100 && c.failed > 0 && c.split_brain > 0 && c.evicted > 0,
        "{c:?}"
    );
    assert_ne!(c.digest_real, c.digest_simulated, "the signature bytes differ");
    assert!(c.identical(), "{:?}", c.first_difference);
}
