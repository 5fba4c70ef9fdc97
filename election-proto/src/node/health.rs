//! Evidence about each elected peer and the sequential test that decides its fate.
//!
//! # What counts as evidence
//!
//! Only what the peer itself said on a channel whose first hop it was, from
//! the address the query went to, carrying the query's secret ticket: a relayed
//! answer's responder id is unauthenticated and could frame anyone (or vouch for
//! a peer that is gone). From such an answer the node takes the number of
//! mappings it shares with the node's own walk for the token (0–10); an answer
//! that fails verification, or a second, different answer on one channel, counts
//! as the worst observation. A *direct challenge* (the re-verification channel
//! straight to the peer) also tells whether the peer is there at all: any reply
//! from it resets a run of misses, and silence until the channel timeout is a
//! miss.
//!
//! # The decision
//!
//! Each answer is put in one of three bins and adds the bin's log-likelihood
//! ratio *misaligned : aligned* to the peer's score. The bin probabilities are
//! measured with `cargo run --release -p election-tests --bin agreement --
//! 20000 --peers` (challenger and honest responder at 90 % coverage, 1 % stale;
//! another ledger version with half its blocks different, the simulator's
//! partition default; a lazy responder at 60 % coverage, 30 % stale):
//!
//! | shared with own walk | honest | other version | lazy  | ln(misaligned / aligned) |
//! |----------------------|--------|---------------|-------|--------------------------|
//! | 6–10 ([`Observation::Strong`])  | 0.706 | 0.056 | 0.040 | −2.53 |
//! | 4–5 ([`Observation::Partial`])  | 0.194 | 0.174 | 0.151 | −0.11 |
//! | 0–3 ([`Observation::Against`])  | 0.100 | 0.770 | 0.809 | +2.04 |
//!
//! (the misaligned column is the other-version one; lazy peers look the same.)
//!
//! A peer on probation runs Wald's SPRT with error rates α = 10⁻³ (evicting an
//! aligned peer) and β = 10⁻² (confirming a misaligned one): it is evicted when
//! the score reaches ln((1 − β) / α) = 6.90 and confirmed when it falls to
//! ln(β / (1 − α)) = −4.60, i.e. after two strong answers. A confirmed peer is
//! watched by Page's CUSUM on the same increments (the repeated SPRT whose
//! lower boundary is 0: the score never goes below 0, so old good behaviour
//! cannot hide a later switch), evicted at the same upper boundary. A switched
//! peer adds +1.41 per answer on average, so it is out after about five answers;
//! an aligned one drifts down by −1.59 per answer, and needs four Against
//! answers with nothing strong in between (about 10⁻⁴ per start) to be
//! evicted. Scores are kept in thousandths of a nat, as integers, so the
//! decision is exact and the snapshot stores it as is.
//!
//! `departed_after_misses` consecutive unanswered direct challenges evict the
//! peer as departed. With 1 % loss each way a challenge goes unanswered about
//! 2 % of the time, so three in a row happen to an online peer about once in
//! 10⁵ challenges.

use serde::{Deserialize, Serialize};

/// Log-likelihood ratio of a strong answer (6–10 mappings shared), in thousandths of a nat.
pub const LLR_STRONG: i32 = -2_530;
/// Log-likelihood ratio of a partial answer (4–5 shared).
pub const LLR_PARTIAL: i32 = -110;
/// Log-likelihood ratio of an answer against us (0–3 shared, unverifiable, conflicting).
pub const LLR_AGAINST: i32 = 2_040;
/// Score at which a peer is judged misaligned: ln((1 − β) / α), α = 10⁻³, β = 10⁻².
pub const LLR_MISALIGNED: i32 = 6_900;
/// Score at which a peer on probation is confirmed: ln(β / (1 − α)).
pub const LLR_CONFIRMED: i32 = -4_600;

/// Where an elected peer stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum PeerState {
    /// Newly elected or restored from a snapshot: not yet confirmed by evidence.
    #[default]
    Probation,
    /// The sequential test accepted it as aligned with this node's ledger.
    Confirmed,
}

/// One piece of evidence: what a peer's own answer shared with this node's walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Observation {
    /// 6–10 mappings shared.
    Strong,
    /// 4–5 shared.
    Partial,
    /// 0–3 shared, or an answer that does not verify or contradicts itself.
    Against,
}

impl Observation {
    /// The bin of an answer sharing `shared` mappings with our own walk.
    pub fn from_shared(shared: usize) -> Self {
        match shared {
            6.. => Self::Strong,
            4 | 5 => Self::Partial,
            _ => Self::Against,
        }
    }

    /// Its log-likelihood ratio, misaligned : aligned, in thousandths of a nat.
    pub fn llr(self) -> i32 {
        match self {
            Self::Strong => LLR_STRONG,
            Self::Partial => LLR_PARTIAL,
            Self::Against => LLR_AGAINST,
        }
    }
}

/// What one piece of evidence decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing yet.
    Undecided,
    /// A peer on probation was just confirmed.
    Confirmed,
    /// The peer is misaligned: evict it.
    Misaligned,
    /// Too many direct challenges in a row went unanswered: evict it as departed.
    Departed,
}

/// The evidence about one elected peer and the state the test has reached.
///
/// Guarantees: `score_milli` stays within `[LLR_CONFIRMED, LLR_MISALIGNED]`
/// (and at or above 0 once confirmed); counters saturate.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerHealth {
    /// Probation or confirmed.
    pub state: PeerState,
    /// Accumulated log-likelihood ratio *misaligned : aligned*, thousandths of a nat.
    pub score_milli: i32,
    /// Answers taken as evidence.
    pub answers: u32,
    /// Of these, how many were [`Observation::Against`].
    pub against: u32,
    /// Direct challenges sent (channels straight to the peer).
    pub challenged: u32,
    /// Direct challenges it replied to.
    pub replied: u32,
    /// Consecutive direct challenges it left unanswered.
    pub missed_in_row: u32,
    /// When it last answered a direct challenge itself (or entered the table).
    pub verified_at: u64,
    /// When its next direct challenge is due.
    pub due_at: u64,
}

impl PeerHealth {
    /// A peer entering the table at `now`, first challenged at `due_at`.
    pub fn new(now: u64, due_at: u64) -> Self {
        Self {
            verified_at: now,
            due_at,
            ..Self::default()
        }
    }

    /// Takes one answer as evidence.
    pub fn observe(&mut self, obs: Observation) -> Verdict {
        self.answers = self.answers.saturating_add(1);
        if obs == Observation::Against {
            self.against = self.against.saturating_add(1);
        }
        let floor = match self.state {
            PeerState::Probation => LLR_CONFIRMED,
            PeerState::Confirmed => 0,
        };
        self.score_milli = self
            .score_milli
            .saturating_add(obs.llr())
            .clamp(floor, LLR_MISALIGNED);
        if self.score_milli >= LLR_MISALIGNED {
            return Verdict::Misaligned;
        }
        if self.state == PeerState::Probation && self.score_milli <= LLR_CONFIRMED {
            // Monitoring starts afresh from 0 (Page's CUSUM).
            self.state = PeerState::Confirmed;
            self.score_milli = 0;
            return Verdict::Confirmed;
        }
        Verdict::Undecided
    }

    /// Whether the evidence leans against the peer (a positive score): worth
    /// checking again soon rather than at the end of the period.
    pub fn suspect(&self) -> bool {
        self.score_milli > 0 || self.missed_in_row > 0
    }

    /// A direct challenge was sent.
    pub(crate) fn challenged(&mut self) {
        self.challenged = self.challenged.saturating_add(1);
    }

    /// The peer replied to a direct challenge (answer, relayed answer or referral).
    pub(crate) fn replied(&mut self) {
        self.replied = self.replied.saturating_add(1);
        self.missed_in_row = 0;
    }

    /// A direct challenge went unanswered; `limit` misses in a row mean departed.
    pub(crate) fn missed(&mut self, limit: u32) -> Verdict {
        self.missed_in_row = self.missed_in_row.saturating_add(1);
        if self.missed_in_row >= limit {
            Verdict::Departed
        } else {
            Verdict::Undecided
        }
    }

    /// Restored from a snapshot: unconfirmed until the evidence says otherwise,
    /// and due at once. The score is kept, but a confirmed peer's (≥ 0) now has
    /// to reach the confirmation boundary again.
    pub(crate) fn restored(&mut self, now: u64) {
        self.state = PeerState::Probation;
        self.missed_in_row = 0;
        self.due_at = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_strong_answers_confirm_and_against_answers_evict() {
        let mut h = PeerHealth::new(0, 0);
        assert_eq!(h.observe(Observation::Strong), Verdict::Undecided);
        assert_eq!(h.observe(Observation::Strong), Verdict::Confirmed);
        assert_eq!((h.state, h.score_milli), (PeerState::Confirmed, 0));
        // A confirmed peer's score never goes below 0, so its good past does
        // not delay the verdict once it switches.
        for _ in 0..20 {
            h.observe(Observation::Strong);
        }
        assert_eq!(h.score_milli, 0);
        let mut n = 0;
        while h.observe(Observation::Against) != Verdict::Misaligned {
            n += 1;
            assert!(n < 10);
        }
        assert_eq!(n + 1, 4, "four answers against evict a confirmed peer");
    }

    #[test]
    fn ordinary_honest_gaps_do_not_evict() {
        // The honest mix at 90 % coverage, 7 strong : 2 partial : 1 against,
        // with the against answers in the worst places allowed by that mix.
        let mut h = PeerHealth::new(0, 0);
        let round = [
            Observation::Against,
            Observation::Partial,
            Observation::Partial,
            Observation::Strong,
            Observation::Strong,
            Observation::Strong,
            Observation::Strong,
            Observation::Strong,
            Observation::Strong,
            Observation::Strong,
        ];
        for _ in 0..100 {
            for o in round {
                assert_ne!(h.observe(o), Verdict::Misaligned);
            }
        }
        assert_eq!(h.state, PeerState::Confirmed);
        // Two against in a row (1 % of pairs for an honest peer) still leave room.
        assert_ne!(h.observe(Observation::Against), Verdict::Misaligned);
        assert_ne!(h.observe(Observation::Against), Verdict::Misaligned);
        assert!(h.suspect());
    }

    #[test]
    fn misses_in_a_row_mean_departed_and_a_reply_resets_them() {
        let mut h = PeerHealth::new(0, 0);
        assert_eq!(h.missed(3), Verdict::Undecided);
        assert_eq!(h.missed(3), Verdict::Undecided);
        h.replied();
        assert_eq!(h.missed(3), Verdict::Undecided);
        assert_eq!(h.missed(3), Verdict::Undecided);
        assert_eq!(h.missed(3), Verdict::Departed);
    }

    #[test]
    fn restored_peers_start_on_probation_and_due_now() {
        let mut h = PeerHealth::new(0, 1_000);
        h.observe(Observation::Strong);
        h.observe(Observation::Strong);
        h.restored(500);
        assert_eq!((h.state, h.due_at), (PeerState::Probation, 500));
    }
}
