//! Membership in the simulator: a network found from one seed address, and an
//! eclipse attack bounded by the per-host and per-subnet caps.

mod common;

use common::*;
use election_proto::node::{Command, Event};
use election_tests::adversary::NodeKind;
use election_tests::sim::Sim;

#[test]
fn a_star_bootstrapped_from_one_seed_address_finds_itself() {
    // No bootstrap at all, then every node but 0 is told only node 0's address.
    let mut cfg = config(40, 61);
    cfg.bootstrap_random = 0;
    cfg.bootstrap_neighbours = 0;
    let mut sim = Sim::new(cfg).unwrap();
    for i in 1..sim.len() {
        sim.command(i, Command::AddSeeds(vec![0]));
    }
    sim.run_until(5 * MINUTE);
    for i in 0..sim.len() {
        let node = sim.node(i).unwrap();
        let contacts = node.contacts().count();
        let peers = node.elected_peers().count();
        assert!(contacts >= 8, "node {i} knows {contacts} contacts");
        assert!(peers >= 3, "node {i} elected {peers} peers: {}", summary(&sim));
    }
    // Node 0 learned the nodes that joined through it (it had no seed of its own).
    assert!(sim.node(0).unwrap().contacts().count() >= 8);
    assert!(sim.honest().success_rate() >= 0.9, "{}", summary(&sim));
}

#[test]
fn eclipse_ids_stay_within_the_group_caps() {
    let mut cfg = config(80, 62);
    cfg.adversaries = vec![(NodeKind::Eclipse, 0.1)];
    let mut sim = Sim::new(cfg).unwrap();
    sim.run_until(5 * MINUTE);
    let per_subnet = sim.config().node.membership.max_contacts_per_subnet;
    let mut eclipse_seen = 0;
    for i in (0..sim.len()).filter(|&i| sim.kind(i) == NodeKind::Honest) {
        let node = sim.node(i).unwrap();
        let all = node.contacts().count();
        // 8 eclipse addresses, all in one /24: at most one group's worth of ids.
        let eclipse = node.contacts().filter(|c| c.addr >> 24 != 0).count();
        eclipse_seen += eclipse;
        assert!(
            eclipse <= per_subnet.min(1 + all / 16),
            "node {i}: {eclipse} of {all}"
        );
    }
    let core = sim.core_totals();
    assert!(eclipse_seen > 0, "the attack reached the tables at all");
    assert!(core.contacts_rejected > 100, "{core:?}");
    assert!(core.unsolicited_replies > 0, "{core:?}");
    // No eclipse node ever wins an honest election, and honest elections go on.
    assert_winners_verified(&sim, &[NodeKind::Honest]);
    assert!(sim.honest().success_rate() >= 0.9, "{}", summary(&sim));
    assert!(sim.eclipse_share_max() <= 0.25, "{}", sim.eclipse_share_max());
    assert!(count_events(&sim, |e| matches!(e, Event::Elected { .. })) > 500);
}

#[test]
fn one_seed_each_from_a_few_well_known_nodes_reaches_everyone() {
    // Every node is told one address, drawn from three well-known seed nodes
    // that know each other: the seed graph is connected, so lookups must find
    // the whole network from there.
    let mut cfg = config(120, 62);
    cfg.bootstrap_random = 1;
    cfg.bootstrap_neighbours = 0;
    cfg.bootstrap_pool = 3;
    assert_eq!(cfg.bootstrap_name(), "seeds:1 from 3 well-known nodes");
    let mut sim = Sim::new(cfg).unwrap();
    sim.run_until(5 * MINUTE);
    for i in 0..sim.len() {
        let node = sim.node(i).unwrap();
        let contacts = node.contacts().count();
        assert!(contacts >= 8, "node {i} knows {contacts} contacts");
        assert!(node.elected_peers().count() >= 1, "node {i}: {}", summary(&sim));
    }
    assert!(sim.honest().success_rate() >= 0.9, "{}", summary(&sim));
}
