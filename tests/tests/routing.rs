//! Full election with routing: queries are forwarded, answers come back along the
//! reverse path, a winner is elected.

mod common;

use common::*;
use election_proto::node::{Command, ElectionPurpose, Event};
use election_proto::{TokenId, TokenStore};
use election_tests::adversary::NodeKind;
use election_tests::sim::{Sim, WinnerClass};

#[test]
fn queries_are_forwarded_and_answers_return() {
    // No ring neighbours at bootstrap: first hops are random nodes far from the
    // token, so answers can only come from forwarding.
    let mut cfg = config(60, 11);
    cfg.bootstrap_neighbours = 0;
    cfg.bootstrap_random = 6;
    let mut sim = Sim::new(cfg).unwrap();

    // Requested elections on tokens node 0 stores, one every 5 s.
    let me = TokenId::new(*sim.id(0).as_bytes());
    let tokens: Vec<TokenId> = (0..6u16)
        .map(|s| {
            sim.view(0)
                .next_with_suffix(&me, s * 100)
                .expect("node 0 stores tokens")
                .id
        })
        .collect();
    for (k, token) in tokens.iter().enumerate() {
        sim.run_until((1 + 5 * k as u64) * SECOND);
        sim.command(0, Command::StartElection(*token));
    }
    sim.run_until(40 * SECOND);

    let mut won = 0;
    for token in &tokens {
        let started = sim.events().iter().any(|(_, n, e)| {
            *n == 0
                && matches!(e, Event::ElectionStarted { token: t, purpose: ElectionPurpose::Requested } if t == token)
        });
        assert!(started);
        let Some(win) = sim.wins().iter().find(|w| w.challenger == 0 && w.token == *token) else {
            continue;
        };
        won += 1;
        assert_eq!(win.class, WinnerClass::HonestBlock, "{win:?}");
        assert!(
            win.can_sign && win.cluster_size >= 2 && win.responses >= 2,
            "{win:?}"
        );
        let winner = win.winner.unwrap() as usize;
        assert_ne!(winner, 0);
        assert!(sim.node(0).unwrap().elected_peer(&sim.id(winner)).is_some());
    }
    // An election can end without consensus (see docs/RESULTS.md on the threshold);
    // most must be won.
    assert!(
        won >= 5,
        "{won} of {} requested elections won: {}",
        tokens.len(),
        summary(&sim)
    );

    let core = sim.core_totals();
    assert!(core.queries_forwarded > 0, "{core:?}");
    assert!(core.replies_relayed > 0, "{core:?}");
    assert!(core.queries_answered > 0, "{core:?}");

    // Scheduled elections ran too, and every winner is verified.
    let h = sim.honest();
    assert!(h.succeeded >= 100, "{}", summary(&sim));
    assert!(h.success_rate() >= 0.9, "{}", summary(&sim));
    assert_winners_verified(&sim, &[NodeKind::Honest]);
    assert_eq!(sim.stuck_timers(), 0);
}

#[test]
fn answers_travel_several_hops() {
    // A sparse start (3 random contacts each) in a larger network forces longer routes.
    let mut cfg = config(150, 5);
    cfg.bootstrap_neighbours = 0;
    cfg.bootstrap_random = 3;
    cfg.node.health.election_interval_ms = 20 * SECOND;
    let mut sim = Sim::new(cfg).unwrap();
    sim.run_until(40 * SECOND);
    let core = sim.core_totals();
    let h = sim.honest();
    // More forwards than elections: many routes took more than one hop.
    assert!(core.queries_forwarded > h.started, "{core:?} {}", summary(&sim));
    assert!(core.replies_relayed > h.started / 2, "{core:?}");
    assert!(h.success_rate() >= 0.75, "{}", summary(&sim));
    assert_winners_verified(&sim, &[NodeKind::Honest]);
    // Routing taught nodes about the ring: contact tables grew past the bootstrap.
    let mean_contacts = (0..sim.len())
        .map(|i| sim.node(i).unwrap().contacts().count())
        .sum::<usize>() as f64
        / sim.len() as f64;
    assert!(mean_contacts > 10.0, "{mean_contacts}");
}
