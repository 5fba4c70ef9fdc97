//! The contacts each node starts with.

use super::world::World;
use crate::rng::SimRng;
use election_proto::wire::Contact;

/// Every node's starting contacts, in ring (id) order: `neighbours` ring
/// neighbours on each side (fewer in a tiny network), then `random` distinct
/// random other nodes (fewer if the network is too small or the draws keep
/// hitting known ones).
pub(super) fn contacts(
    world: &World,
    neighbours: usize,
    random: usize,
    pool: usize,
    seed: u64,
) -> Vec<(usize, Vec<Contact<u32>>)> {
    let n = world.len();
    // Where random contacts are drawn from: every node, or the first `pool` ones.
    let draw_from = if pool == 0 { n } else { pool.min(n) } as u64;
    let mut rng = SimRng::new(seed, "bootstrap");
    let side = neighbours.min((n - 1) / 2);
    (0..n)
        .map(|pos| {
            let idx = world.by_ring_position(pos) as usize;
            let mut chosen: Vec<u32> = Vec::new();
            for d in 1..=side {
                chosen.push(world.by_ring_position(pos + d));
                chosen.push(world.by_ring_position(pos + n - d));
            }
            let well_known = pool > 0 && (idx as u64) < draw_from;
            if well_known {
                // Well-known seed nodes are set up knowing each other, so the
                // seed set itself is one connected piece; they draw nothing else.
                for j in 0..draw_from as u32 {
                    if j as usize != idx && !chosen.contains(&j) {
                        chosen.push(j);
                    }
                }
            }
            let want = if well_known {
                chosen.len()
            } else {
                (chosen.len() + random).min(n - 1)
            };
            // Bounded, so a tiny network cannot loop forever.
            let mut guard = 0;
            while chosen.len() < want && guard < 100 * want {
                guard += 1;
                let j = rng.below(draw_from) as u32;
                if j as usize != idx && !chosen.contains(&j) {
                    chosen.push(j);
                }
            }
            let contacts = chosen
                .iter()
                .map(|&j| Contact {
                    id: world.id(j as usize),
                    addr: world.addr(j as usize),
                })
                .collect();
            (idx, contacts)
        })
        .collect()
}
