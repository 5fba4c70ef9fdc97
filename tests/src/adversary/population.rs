//! Which nodes are adversaries, and which colluders collude together.

use super::NodeKind;
use crate::rng::{derive32, SimRng};

/// Every node's kind: a seeded shuffle of the nodes, then the first `share × n`
/// of it go to the first listed kind, the next ones to the second, and so on
/// (counts rounded, never more than `n` in total). The rest are honest.
pub fn assign_kinds(n: usize, shares: &[(NodeKind, f64)], seed: u64) -> Vec<NodeKind> {
    let mut kinds = vec![NodeKind::Honest; n];
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = SimRng::new(seed, "kinds");
    for i in (1..n).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        order.swap(i, j);
    }
    let mut next = 0;
    for (kind, share) in shares {
        let count = ((share * n as f64).round() as usize).min(n - next);
        for &i in &order[next..next + count] {
            kinds[i] = *kind;
        }
        next += count;
    }
    kinds
}

/// Colluders split into groups, each sharing a secret from which its members
/// derive identical inventions (see [`colluder_stream`](super::colluder_stream)).
#[derive(Clone, Debug)]
pub struct ColluderGroups {
    /// Group of each node (0 for non-colluders, who never use it).
    group_of: Vec<u32>,
    /// One secret per group (at least one, even without colluders).
    secrets: Vec<[u8; 32]>,
}

impl ColluderGroups {
    /// Groups of `group_size` colluders, in node-index order; `group_size` 0 puts
    /// every colluder in one group.
    pub fn new(kinds: &[NodeKind], group_size: usize, seed: u64) -> Self {
        let colluders: Vec<usize> = (0..kinds.len())
            .filter(|i| kinds[*i] == NodeKind::Colluder)
            .collect();
        let group_size = if group_size == 0 {
            colluders.len().max(1)
        } else {
            group_size
        };
        let groups = colluders.len().div_ceil(group_size).max(1);
        let secrets = (0..groups as u64)
            .map(|g| derive32(seed, "colluder group", g))
            .collect();
        let mut group_of = vec![0u32; kinds.len()];
        for (p, &i) in colluders.iter().enumerate() {
            group_of[i] = (p / group_size) as u32;
        }
        Self { group_of, secrets }
    }

    /// The secret of node `i`'s group.
    pub fn secret_of(&self, i: usize) -> &[u8; 32] {
        &self.secrets[self.group_of[i] as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_become_counts_and_groups_have_their_size() {
        let shares = [(NodeKind::Forger, 0.1), (NodeKind::Colluder, 0.25)];
        let kinds = assign_kinds(100, &shares, 9);
        let count = |k| kinds.iter().filter(|x| **x == k).count();
        assert_eq!(count(NodeKind::Forger), 10);
        assert_eq!(count(NodeKind::Colluder), 25);
        assert_eq!(count(NodeKind::Honest), 65);
        assert_eq!(kinds, assign_kinds(100, &shares, 9));
        assert_ne!(kinds, assign_kinds(100, &shares, 10));

        let groups = ColluderGroups::new(&kinds, 10, 9);
        let colluders: Vec<usize> = (0..100).filter(|&i| kinds[i] == NodeKind::Colluder).collect();
        let mut secrets: Vec<[u8; 32]> = colluders.iter().map(|&i| *groups.secret_of(i)).collect();
        secrets.dedup();
        assert_eq!(secrets.len(), 3, "25 colluders in groups of 10");
        let one = ColluderGroups::new(&kinds, 0, 9);
        assert!(colluders
            .iter()
            .all(|&i| one.secret_of(i) == one.secret_of(colluders[0])));
    }
}
