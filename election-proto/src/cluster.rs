//! Consensus clusters: maximal cliques of the agreement graph (placeholder, being written).

use crate::id::PeerId;

/// A group of responders that pairwise agree on at least `consensus_threshold` mappings.
#[derive(Clone, Debug, PartialEq)]
pub struct ConsensusCluster {
    /// Members, closest to the challenged token first.
    pub members: Vec<PeerId>,
}
