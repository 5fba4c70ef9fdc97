//! Each adversary kind at 15 %: no election elects a peer outside a verified
//! cluster (the oracle checks every winner's store), and honest winners dominate.
//!
//! A mangled responder id in a relayed answer used to win now and then,
//! electing a peer that does not exist; since wire v2 answers are signed by
//! their responder and `mangled_responder_ids_never_win` (bottom of this file)
//! holds. Colluding forgers used to win about their population share; answers
//! must now agree with the challenger's own walk, and `colluders_never_win`
//! holds.

mod common;

use common::*;
use election_proto::wire::MessageKind;
use election_tests::adversary::NodeKind;
use election_tests::sim::{Sim, WinnerClass};

const SHARE: f64 = 0.15;

fn run(kind: NodeKind, seed: u64) -> Sim {
    let mut cfg = config(60, seed);
    cfg.adversaries = vec![(kind, SHARE)];
    let mut sim = Sim::new(cfg).unwrap();
    sim.run_until(5 * MINUTE);
    let h = sim.honest();
    eprintln!(
        "{kind:?}: rate {:.3} wins {} honest share {:.3} by kind {:?} by class {:?} core {:?}",
        h.success_rate(),
        h.succeeded,
        honest_share(&sim),
        h.winners_by_kind,
        h.winners_by_class,
        sim.core_totals()
    );
    assert_eq!(
        (0..sim.len()).filter(|&i| sim.kind(i) == kind).count(),
        (60.0 * SHARE).round() as usize
    );
    assert!(h.succeeded >= 1000, "{}", summary(&sim));
    sim
}

fn wins_of(sim: &Sim, kind: NodeKind) -> usize {
    sim.wins().iter().filter(|w| w.winner_kind == Some(kind)).count()
}

#[test]
fn forwarders_forking_and_answering_first_install_no_winner() {
    let sim = run(NodeKind::Forwarder, 31);
    let core = sim.core_totals();
    // The attack happened: garbage answers arrived first and were rejected, forked
    // queries brought second answers that blocked channels.
    assert!(
        sim.net().adversary_sent[MessageKind::Answer.index()] > 200,
        "{:?}",
        sim.net()
    );
    assert!(core.invalid_signatures > 200, "{core:?}");
    assert!(core.conflicting_answers > 10, "{core:?}");
    assert_winners_verified(&sim, &[NodeKind::Honest]);
    assert!(honest_share(&sim) >= 0.99);
    assert!(sim.honest().success_rate() >= 0.9, "{}", summary(&sim));
}

#[test]
fn forgers_inventing_valid_signatures_never_win() {
    let sim = run(NodeKind::Forger, 32);
    // Forged answers verify (so they count as responses) but agree with nobody.
    assert!(
        sim.net().adversary_sent[MessageKind::Answer.index()] > 200,
        "{:?}",
        sim.net()
    );
    assert_eq!(sim.core_totals().invalid_signatures, 0);
    assert_winners_verified(&sim, &[NodeKind::Honest]);
    assert!(honest_share(&sim) >= 0.99);
    assert!(sim.honest().success_rate() >= 0.9, "{}", summary(&sim));
}

#[test]
fn lazy_nodes_win_only_with_tokens_they_hold() {
    let sim = run(NodeKind::Lazy, 33);
    // A lazy winner answered validly: it stores the token and could sign.
    assert_winners_verified(&sim, &[NodeKind::Honest, NodeKind::Lazy]);
    let lazy = wins_of(&sim, NodeKind::Lazy) as f64 / sim.wins().len() as f64;
    assert!(lazy < SHARE / 3.0, "lazy nodes win {lazy:.3} of elections");
    assert!(honest_share(&sim) >= 0.95);
    assert!(sim.honest().success_rate() >= 0.9, "{}", summary(&sim));
}

#[test]
fn droppers_cost_time_not_correctness() {
    let sim = run(NodeKind::Dropper, 34);
    // Droppers were asked (as seeds, candidates, first hops) ...
    assert!(sim.net().adversary_dropped > 20, "{:?}", sim.net());
    assert!(sim.core_totals().channel_timeouts > 10);
    // ... but a contact must answer before it is admitted, so none of them
    // ever enters an honest contact table (before membership they were 15 %).
    for i in (0..sim.len()).filter(|&i| sim.kind(i) == NodeKind::Honest) {
        let node = sim.node(i).unwrap();
        let droppers = node
            .contacts()
            .filter(|c| sim.kind(c.addr as usize) == NodeKind::Dropper)
            .count();
        assert_eq!(droppers, 0, "node {i} admitted a dropper");
    }
    assert_winners_verified(&sim, &[NodeKind::Honest]);
    assert!(honest_share(&sim) >= 0.99);
    assert!(sim.honest().success_rate() >= 0.9, "{}", summary(&sim));
}

#[test]
fn manglers_bytes_are_rejected_or_harmless() {
    let sim = run(NodeKind::Mangler, 35);
    let core = sim.core_totals();
    assert!(sim.net().mangled > 200);
    assert!(core.decode_errors_total() > 200, "{core:?}");
    // Mangled walks are caught by verification. How many there are depends on
    // the trajectory: with address validation (Retry/CookieQuery reshape the
    // traffic) seeds 35..=40 give 16, 27, 24, 38, 35, 27 (it was > 20 here before).
    assert!(core.invalid_signatures > 10, "{core:?}");
    // Every winner that is a node stores the token and could sign for it; a
    // mangler can win with its own (intact) answer, as any holder can.
    for w in sim.wins().iter().filter(|w| w.class != WinnerClass::Phantom) {
        assert!(
            matches!(w.winner_kind, Some(NodeKind::Honest | NodeKind::Mangler)),
            "{w:?}"
        );
        assert!(
            w.class == WinnerClass::HonestBlock || w.class == WinnerClass::StaleBlock,
            "{w:?}"
        );
        assert!(w.can_sign, "{w:?}");
    }
    // Phantom winners (a flipped byte in the unauthenticated responder id) exist
    // but are rare; see `mangled_responder_ids_never_win` (none since wire v2).
    let phantom = sim.honest().winners(WinnerClass::Phantom) as f64 / sim.wins().len() as f64;
    assert!(phantom < 0.03, "phantom share {phantom}");
    assert!(honest_share(&sim) >= 0.8);
    assert!(sim.honest().success_rate() >= 0.8, "{}", summary(&sim));
}

#[test]
fn colluders_stay_a_minority_of_winners() {
    let sim = run(NodeKind::Colluder, 36);
    assert_eq!(sim.honest().winners(WinnerClass::Phantom), 0);
    // Colluders agree with each other 10/10, so two colluding answers form a
    // cluster; it cannot win because it shares nothing with the challenger's own
    // walk (before that check, 15 % colluders won 12-16 % of elections). What
    // they can still do is stand as the other side of a split-brain.
    let colluder = wins_of(&sim, NodeKind::Colluder) as f64 / sim.wins().len() as f64;
    assert_eq!(colluder, 0.0, "colluders win {colluder:.3}");
    for w in sim
        .wins()
        .iter()
        .filter(|w| w.winner_kind == Some(NodeKind::Honest))
    {
        assert!(
            matches!(w.class, WinnerClass::HonestBlock | WinnerClass::StaleBlock) && w.can_sign,
            "{w:?}"
        );
    }
    assert!(honest_share(&sim) >= 0.75);
    // A colluding pair can still stand as the other side of a split-brain; the
    // default policy elects our (aligned) side anyway, so they cannot veto.
    assert!(sim.honest().success_rate() >= 0.9, "{}", summary(&sim));
}

/// Colluders answering every query with the same invented walk form a cluster
/// of valid, agreeing signatures; it never wins because winners must agree with
/// the challenger's own walk (before that check, they won ~30 % of elections).
#[test]
fn colluders_never_win() {
    let sim = run(NodeKind::Colluder, 36);
    assert_eq!(wins_of(&sim, NodeKind::Colluder), 0);
}

/// Wire v2 closed this gap: before, `Answer.responder` was not covered by the
/// signature, so a relay (or a flipped byte) could replace it and an id close
/// to the token won although no such node existed (0.5–1 % of elections with
/// 15 % manglers). Now the responder signs its answer and its id is BLAKE3 of
/// the signing key, so a mangled responder fails verification and never
/// reaches a cluster.
#[test]
fn mangled_responder_ids_never_win() {
    let sim = run(NodeKind::Mangler, 35);
    assert_eq!(sim.honest().winners(WinnerClass::Phantom), 0);
}
