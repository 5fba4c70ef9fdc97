//! The oracle: what an elected winner really is, checked against the ledger.
//!
//! The core only sees answers; the simulator knows every store. For each win it
//! looks up the winner by id and address and asks the winner's own store view
//! whether it holds the token, with which block, and whether it could have signed
//! for the challenger.

use super::world::World;
use crate::adversary::NodeKind;
use election_proto::wire::Contact;
use election_proto::{generate_signature, TokenId, TokenStore};
use serde::Serialize;

/// How an elected winner relates to the ledger (the simulator's oracle).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WinnerClass {
    /// A node that stores the token with the honest block of its ledger version.
    HonestBlock,
    /// A node that stores the token, but with a stale block.
    StaleBlock,
    /// A node that does not store the token at all.
    NotHolding,
    /// No node has this id and address.
    Phantom,
}

impl WinnerClass {
    /// Number of classes; the length of a per-class counter array.
    pub const COUNT: usize = 4;

    /// Every class, in index order: `ALL[c.index()] == c`.
    pub const ALL: [WinnerClass; Self::COUNT] = [
        Self::HonestBlock,
        Self::StaleBlock,
        Self::NotHolding,
        Self::Phantom,
    ];

    /// Dense index into [`WinnerClass::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// snake_case name, as serialized.
    pub fn name(self) -> &'static str {
        match self {
            Self::HonestBlock => "honest_block",
            Self::StaleBlock => "stale_block",
            Self::NotHolding => "not_holding",
            Self::Phantom => "phantom",
        }
    }
}

/// One won election, classified (kept when
/// [`SimConfig::record_events`](super::SimConfig::record_events) is set).
#[derive(Clone, Debug)]
pub struct WinRecord {
    /// When.
    pub time_ms: u64,
    /// Who ran the election.
    pub challenger: u32,
    /// The challenged token.
    pub token: TokenId,
    /// The winner's node index, if it is a node.
    pub winner: Option<u32>,
    /// The winner's kind, if it is a node.
    pub winner_kind: Option<NodeKind>,
    /// What the winner's store holds for the token.
    pub class: WinnerClass,
    /// Whether the winner's store can produce a valid signature for the challenger.
    pub can_sign: bool,
    /// Whether the winner is on the challenger's ledger version (false: the
    /// challenger elected a peer that does not share its ledger state).
    pub same_version: bool,
    /// Members of the winning cluster.
    pub cluster_size: usize,
    /// Distinct valid responders.
    pub responses: usize,
    /// Start-to-verdict time.
    pub latency_ms: u64,
}

/// A win as the challenger's core reported it (the fields of its `Elected` event).
#[derive(Clone, Copy, Debug)]
pub(super) struct Win<'a> {
    /// When it was reported.
    pub(super) time_ms: u64,
    /// The challenger's node index.
    pub(super) challenger: usize,
    pub(super) token: &'a TokenId,
    pub(super) winner: &'a Contact<u32>,
    pub(super) cluster_size: usize,
    pub(super) responses: usize,
    pub(super) latency_ms: u64,
}

/// Classifies `win`: which node the winner is, what its store holds for the
/// token, whether it could sign, and whether it shares the challenger's ledger
/// version.
pub(super) fn classify(world: &World, win: &Win<'_>) -> WinRecord {
    let token = win.token;
    // Trust the address only if the id matches it; otherwise look the id up.
    let at = world.node_at(win.winner.addr);
    let idx = match at.and_then(|i| world.get_id(i)) {
        Some(id) if *id == win.winner.id => at.map(|i| i as u32),
        _ => world.index_of(&win.winner.id),
    };
    let (class, can_sign, same_version) = match idx {
        // A phantom's ledger version is unknowable; it is counted as a phantom only.
        None => (WinnerClass::Phantom, false, true),
        Some(w) => {
            let view = world.view(w as usize);
            let class = match view.lookup(token) {
                None => WinnerClass::NotHolding,
                Some(b) if b == world.ledger().block(token, view.version()) => WinnerClass::HonestBlock,
                Some(_) => WinnerClass::StaleBlock,
            };
            let can_sign = generate_signature(view, token, &world.id(win.challenger)).is_some();
            (
                class,
                can_sign,
                view.version() == world.view(win.challenger).version(),
            )
        }
    };
    WinRecord {
        time_ms: win.time_ms,
        challenger: win.challenger as u32,
        token: *token,
        winner: idx,
        winner_kind: idx.map(|w| world.kind(w as usize)),
        class,
        can_sign,
        same_version,
        cluster_size: win.cluster_size,
        responses: win.responses,
        latency_ms: win.latency_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_index_their_table_and_serialize_as_their_names() {
        for (i, c) in WinnerClass::ALL.into_iter().enumerate() {
            assert_eq!(c.index(), i);
            assert_eq!(serde_json::to_value(c).unwrap(), c.name());
        }
    }
}
