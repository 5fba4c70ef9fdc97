//! Adversarial node kinds and everything they do.
//!
//! Every node in the simulator runs the real [`Node`](election_proto::node::Node)
//! core. An adversary is a node whose traffic is tampered with on its way in or
//! out; the simulator asks this module what to do and otherwise treats the node
//! like any other:
//!
//! | kind        | what it does |
//! |-------------|--------------|
//! | `forwarder` | on someone else's query: answers *first* with a garbage signature, then forks the query to its two contacts closest to the token and relays **every** reply back (a second, different answer blocks the channel) |
//! | `forger`    | answers every query at once with an invented signature that *verifies* (made-up block, fabricated walk with the demanded suffixes) — never agrees with anyone |
//! | `colluder`  | like a forger, but the members of a group derive their inventions from a shared secret, so they agree with each other 10/10 and form clusters |
//! | `lazy`      | honest code over a thinned, staler store (coverage and stale share set in [`SimConfig`](crate::sim::SimConfig)) |
//! | `dropper`   | sends nothing: every datagram it emits is dropped (a black hole) |
//! | `mangler`   | every datagram it emits has bytes flipped, is truncated or has garbage appended |
//! | `eclipse`   | one address presenting [`eclipse::IDS_PER_ADDRESS`] ids; eclipse addresses share a few /24s. It floods lookups and queries with those ids as senders, answers every ping for any of them, names only eclipse ids in its `Neighbours` replies, and drops queries (see [`eclipse`]) |
//! | `relay`     | stores nothing; forwards each query to its contacts nearest the token and returns the first answer re-signed as its own (see [`relay`]) |
//! | `referrer`  | answers every query with a referral naming only ids it controls (see [`referrer`]) |
//!
//! Relays and referrers are *sybil hosts*: [`sybil::Sybils`] sets how many
//! ids each presents at its one address and how many hosts share a /24.
//!
//! Where each behaviour lives:
//!
//! - [`incoming`]: what forwarders, forgers and colluders do with what they receive
//!   ([`intercept`]), and the forwarder's memory ([`Forks`]);
//! - [`outgoing`]: what droppers and manglers do to what they send ([`tamper`]);
//! - [`forge`]: the answers they invent;
//! - [`population`]: which nodes are adversaries, and the colluder groups;
//! - [`relay`], [`referrer`]: those two kinds, whole (what they receive, what
//!   they remember);
//! - [`sybil`]: sybil hosts' addresses, extra ids and introductions.
//!
//! Lazy nodes need no code here: the simulator gives them a thinner, staler store.

pub mod eclipse;
pub mod forge;
pub mod incoming;
pub mod outgoing;
pub mod population;
pub mod referrer;
pub mod relay;
pub mod sybil;

pub use forge::{colluder_stream, fabricate_signature, garbage_signature};
pub use incoming::{intercept, Forks, Receiver};
pub use outgoing::{mangle, tamper, Outgoing};
pub use population::{assign_kinds, ColluderGroups};

use serde::Serialize;

/// What a simulated node is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    /// Runs the protocol as written, over an honest store.
    Honest,
    /// Forks queries and answers first with garbage.
    Forwarder,
    /// Invents signatures that verify.
    Forger,
    /// Invents signatures consistently with its group.
    Colluder,
    /// Honest code, thinned and stale store.
    Lazy,
    /// Drops everything it sends.
    Dropper,
    /// Mangles everything it sends.
    Mangler,
    /// Presents many ids at one address, floods lookups and queries, names only
    /// other eclipse ids in its `Neighbours` replies, and drops elections.
    Eclipse,
    /// Stores nothing; relays other nodes' answers re-signed as its own.
    Relay,
    /// Answers every query with a referral to its own ids.
    Referrer,
}

impl NodeKind {
    /// Number of kinds; the length of a per-kind counter array.
    pub const COUNT: usize = 10;

    /// Every kind, in index order: `ALL[k.index()] == k`.
    pub const ALL: [NodeKind; Self::COUNT] = [
        Self::Honest,
        Self::Forwarder,
        Self::Forger,
        Self::Colluder,
        Self::Lazy,
        Self::Dropper,
        Self::Mangler,
        Self::Eclipse,
        Self::Relay,
        Self::Referrer,
    ];

    /// Dense index into [`NodeKind::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Lowercase name, as accepted by [`NodeKind::parse`].
    pub fn name(self) -> &'static str {
        match self {
            Self::Honest => "honest",
            Self::Forwarder => "forwarder",
            Self::Forger => "forger",
            Self::Colluder => "colluder",
            Self::Lazy => "lazy",
            Self::Dropper => "dropper",
            Self::Mangler => "mangler",
            Self::Eclipse => "eclipse",
            Self::Relay => "relay",
            Self::Referrer => "referrer",
        }
    }

    /// Whether this kind is a sybil host (see [`sybil`]).
    pub fn is_sybil_host(self) -> bool {
        matches!(self, Self::Relay | Self::Referrer)
    }

    /// Parses a kind name (a trailing `s` is accepted: `forgers`).
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim().to_ascii_lowercase();
        let s = s
            .strip_suffix('s')
            .filter(|t| !t.is_empty() && *t != "hone")
            .unwrap_or(&s);
        Self::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// Parses `KIND:FRACTION,KIND:FRACTION,...` (fractions in `[0, 1]`, summing to at most 1).
pub fn parse_adversaries(spec: &str) -> Result<Vec<(NodeKind, f64)>, String> {
    let mut out: Vec<(NodeKind, f64)> = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, f) = part
            .split_once(':')
            .ok_or_else(|| format!("`{part}`: expected KIND:FRACTION"))?;
        let kind = NodeKind::parse(k).ok_or_else(|| {
            let names: Vec<&str> = NodeKind::ALL[1..].iter().map(|k| k.name()).collect();
            format!("unknown adversary kind `{k}` (one of {})", names.join(", "))
        })?;
        if kind == NodeKind::Honest {
            return Err("`honest` is not an adversary kind".into());
        }
        let f: f64 = f.trim().parse().map_err(|_| format!("`{f}`: not a number"))?;
        if !(0.0..=1.0).contains(&f) {
            return Err(format!("fraction {f} outside [0, 1]"));
        }
        match out.iter_mut().find(|(k, _)| *k == kind) {
            Some(e) => e.1 += f,
            None => out.push((kind, f)),
        }
    }
    if out.iter().map(|(_, f)| f).sum::<f64>() > 1.0 + 1e-9 {
        return Err("adversary fractions sum to more than 1".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_adversary_lists() {
        let v = parse_adversaries("forgers:0.1, colluder:0.05,lazy:0.1").unwrap();
        assert_eq!(
            v,
            vec![
                (NodeKind::Forger, 0.1),
                (NodeKind::Colluder, 0.05),
                (NodeKind::Lazy, 0.1)
            ]
        );
        assert!(parse_adversaries("").unwrap().is_empty());
        assert!(parse_adversaries("wizard:0.1").is_err());
        assert!(parse_adversaries("forger:1.5").is_err());
        assert!(parse_adversaries("forger:0.6,lazy:0.6").is_err());
        assert!(parse_adversaries("honest:0.1").is_err());
        assert_eq!(NodeKind::parse("Manglers"), Some(NodeKind::Mangler));
        assert_eq!(
            parse_adversaries("relay:0.2,referrers:0.1").unwrap(),
            vec![(NodeKind::Relay, 0.2), (NodeKind::Referrer, 0.1)]
        );
    }

    #[test]
    fn kinds_index_their_table_and_parse_their_names() {
        for (i, k) in NodeKind::ALL.into_iter().enumerate() {
            assert_eq!(k.index(), i);
            assert_eq!(NodeKind::parse(k.name()), Some(k));
        }
    }
}
