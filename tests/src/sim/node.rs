//! The running state of one simulated node.

use super::queue::Key;
use crate::adversary::referrer::Referrals;
use crate::adversary::relay::Relays;
use crate::adversary::Forks;
use crate::ledger::LedgerView;
use crate::rng::SimRng;
use election_proto::node::{Event, Metrics, Node, PeerSnapshot};
use election_proto::TokenId;

/// Core type the simulator runs.
pub type SimNodeCore = Node<u32, LedgerView>;

/// Mutable state of one node. During a window only the worker owning the node
/// touches it; between windows only the simulator (churn, ledger versions).
#[derive(Debug)]
pub(super) struct SimNode {
    /// The core while the node is online.
    core: Option<Box<SimNodeCore>>,
    /// What the core knew when it last shut down, for its return.
    snapshot: Option<PeerSnapshot<u32>>,
    /// The deadline of the one timer entry that counts; older entries are stale.
    timer_at: Option<u64>,
    /// How often the node came back (part of each new core's seed).
    incarnation: u64,
    /// Tokens of running elections that already reported a split-brain.
    split_tokens: Vec<TokenId>,
    /// Forwarder memory (empty for other kinds).
    forks: Forks,
    /// Relay memory (empty for other kinds).
    relays: Relays,
    /// Referrer memory (empty for other kinds).
    referrals: Referrals,
    /// This node's own stream: network fate of what it sends, adversary inventions.
    rng: SimRng,
    /// Numbers everything this node's processing produces (see [`Key`]).
    counter: u64,
    /// When an eclipse node floods next.
    next_flood_at: u64,
    /// Peers that entered this node's elected table (all incarnations).
    peers_added: u32,
    /// When the first and the eighth peer entered it (ms from the start of the run).
    peer_milestones: [Option<u64>; 2],
    /// When a late joiner joined (ms from the start of the run).
    joined_at: Option<u64>,
}

/// Whether a node's next timer needs a new queue entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Rearm {
    /// When the entry fires.
    pub(super) at: u64,
    /// The core asked for a deadline already due; `at` was moved to the next
    /// millisecond so the simulator never spins.
    pub(super) stuck: bool,
}

impl SimNode {
    /// Counts a `PeerAdded` at `now`.
    pub(super) fn peer_added(&mut self, now: u64) {
        self.peers_added += 1;
        match self.peers_added {
            1 => self.peer_milestones[0] = Some(now),
            8 => self.peer_milestones[1] = Some(now),
            _ => {}
        }
    }

    /// A late joiner joined at `now`.
    pub(super) fn set_joined(&mut self, now: u64) {
        self.joined_at = Some(now);
    }

    /// When a late joiner joined.
    pub(super) fn joined_at(&self) -> Option<u64> {
        self.joined_at
    }

    /// When the first and the eighth elected peer arrived, if they did.
    pub(super) fn peer_milestones(&self) -> [Option<u64>; 2] {
        self.peer_milestones
    }

    /// Whether an eclipse node's flood is due at `now`; if so the next is
    /// scheduled `every` later.
    pub(super) fn flood_due(&mut self, now: u64, every: u64) -> bool {
        if now < self.next_flood_at {
            return false;
        }
        self.next_flood_at = now + every;
        true
    }

    /// An online node running `core`, drawing from `rng`.
    pub(super) fn new(core: SimNodeCore, rng: SimRng) -> Self {
        Self {
            core: Some(Box::new(core)),
            snapshot: None,
            timer_at: None,
            incarnation: 0,
            split_tokens: Vec::new(),
            forks: Forks::default(),
            relays: Relays::default(),
            referrals: Referrals::default(),
            next_flood_at: 0,
            peers_added: 0,
            peer_milestones: [None; 2],
            joined_at: None,
            rng,
            counter: 0,
        }
    }

    /// The core, if the node is online.
    pub(super) fn core(&self) -> Option<&SimNodeCore> {
        self.core.as_deref()
    }

    /// The core, if the node is online.
    pub(super) fn core_mut(&mut self) -> Option<&mut SimNodeCore> {
        self.core.as_deref_mut()
    }

    /// Whether the node is online.
    pub(super) fn is_online(&self) -> bool {
        self.core.is_some()
    }

    /// The node's own stream.
    pub(super) fn rng(&mut self) -> &mut SimRng {
        &mut self.rng
    }

    /// What an adversary's interception needs at once: the core (if online), the
    /// node's stream and its forwarder memory.
    pub(super) fn adversary_parts(&mut self) -> Option<(&SimNodeCore, &mut SimRng, &mut Forks)> {
        let core = self.core.as_deref()?;
        Some((core, &mut self.rng, &mut self.forks))
    }

    /// What a relay's interception needs at once: the core (if online) and
    /// its relay memory.
    pub(super) fn relay_parts(&mut self) -> Option<(&SimNodeCore, &mut Relays)> {
        let core = self.core.as_deref()?;
        Some((core, &mut self.relays))
    }

    /// What a referrer's interception needs: the node's stream and its
    /// referrer memory (`None` while it is offline).
    pub(super) fn referrer_parts(&mut self) -> Option<(&mut SimRng, &mut Referrals)> {
        self.core.as_ref()?;
        Some((&mut self.rng, &mut self.referrals))
    }

    /// The next key for something node `index` produced at `time`.
    pub(super) fn next_key(&mut self, index: u32, time: u64) -> Key {
        self.counter += 1;
        (time, index, self.counter)
    }

    /// Whether a timer entry armed for `at` is the current one (and the node is
    /// online); if so it is consumed.
    pub(super) fn take_timer(&mut self, at: u64) -> bool {
        if self.timer_at == Some(at) && self.core.is_some() {
            self.timer_at = None;
            true
        } else {
            false
        }
    }

    /// Records the core's wanted deadline `timeout` after an input at `now`.
    /// Returns the entry to schedule if it changed; an unchanged deadline keeps
    /// its existing entry.
    pub(super) fn rearm(&mut self, timeout: Option<u64>, now: u64) -> Option<Rearm> {
        if timeout == self.timer_at {
            return None;
        }
        self.timer_at = timeout;
        let at = timeout?;
        if at <= now {
            // The node wants a timer for work it just had the chance to do;
            // never spin on one millisecond.
            self.timer_at = Some(now + 1);
            return Some(Rearm {
                at: now + 1,
                stuck: true,
            });
        }
        Some(Rearm { at, stuck: false })
    }

    /// Whether `e` is the first split-brain its election reports; forgets an
    /// election once it ends.
    pub(super) fn first_split_brain(&mut self, e: &Event<u32>) -> bool {
        match e {
            Event::Elected { token, .. } | Event::ElectionFailed { token, .. } => {
                self.split_tokens.retain(|t| t != token);
                false
            }
            Event::SplitBrain { token, .. } if !self.split_tokens.contains(token) => {
                self.split_tokens.push(*token);
                true
            }
            _ => false,
        }
    }

    /// Takes the node offline (after its core handled `Shutdown`): keeps the
    /// core's snapshot for its return and returns the core's final metrics.
    pub(super) fn leave(&mut self) -> Option<Metrics> {
        let core = self.core.take();
        let metrics = core.map(|core| {
            self.snapshot = Some(core.snapshot());
            core.metrics()
        });
        self.timer_at = None;
        self.split_tokens.clear();
        metrics
    }

    /// Brings an offline node back with the core `build` makes for the new
    /// incarnation number, restored from the snapshot it left with. `false` if the
    /// node was online or `build` failed.
    pub(super) fn rejoin(&mut self, build: impl FnOnce(u64) -> Option<SimNodeCore>) -> bool {
        if self.core.is_some() {
            return false;
        }
        self.incarnation += 1;
        let Some(mut core) = build(self.incarnation) else {
            return false;
        };
        if let Some(s) = self.snapshot.take() {
            core.restore(s);
        }
        self.core = Some(Box::new(core));
        true
    }
}
