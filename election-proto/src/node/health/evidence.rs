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
//! Each answer adds the log-likelihood ratio *misaligned : aligned* of the
//! number of mappings it shares with our walk to the peer's score. The
//! probabilities are measured with `cargo run --release -p election-tests
//! --bin agreement -- 20000 --peers` (challenger and honest responder at 90 %
//! coverage, 1 % stale; another ledger version with half its blocks
//! different, the simulator's partition default; a lazy responder at 60 %
//! coverage, 30 % stale):
//!
//! | shared | honest | other version | lazy   | ln(other / honest) |
//! |--------|--------|---------------|--------|--------------------|
//! | 0      | 0.0232 | 0.5192        | 0.3871 | +3.11 |
//! | 1      | 0.0124 | 0.0517        | 0.1389 | +1.43 |
//! | 2      | 0.0231 | 0.0921        | 0.1498 | +1.38 |
//! | 3      | 0.0408 | 0.1071        | 0.1330 | +0.97 |
//! | 4      | 0.0738 | 0.1031        | 0.0969 | +0.33 |
//! | 5      | 0.1210 | 0.0712        | 0.0548 | −0.53 |
//! | 6      | 0.1323 | 0.0374        | 0.0264 | −1.26 |
//! | 7      | 0.1514 | 0.0135        | 0.0095 | −2.42 |
//! | 8      | 0.1631 | 0.0040        | 0.0027 | −3.71 |
//! | 9      | 0.1585 | 0.0008        | 0.0008 | −5.29 |
//! | 10     | 0.1004 | < 0.0001      | 0.0001 | −6.00 (bounded) |
//!
//! (the misaligned column is the other-version one; lazy peers look much the
//! same.) An answer that does not verify, or contradicts an earlier one on
//! its channel, counts as sharing nothing. Each count keeps its own ratio:
//! grouping them (6–10, 4–5, 0–3, as this module first did) threw away most
//! of what an answer says. Per answer a switched peer now adds +1.81 on
//! average (grouped: +1.41) and an aligned one −3.06 (grouped: −1.59).
//!
//! A peer on probation runs Wald's SPRT with error rates α = 10⁻³ (evicting an
//! aligned peer) and β = 10⁻² (confirming a misaligned one): it is evicted when
//! the score reaches ln((1 − β) / α) = 6.90 and confirmed when it falls to
//! ln(β / (1 − α)) = −4.60 (one answer sharing 9 or 10, two sharing 7 or
//! more). A confirmed peer is watched by Page's CUSUM on the same increments
//! (the repeated SPRT whose lower boundary is 0: the score never goes below
//! 0, so old good behaviour cannot hide a later switch), evicted at the same
//! upper boundary: a switched peer is out after about four answers. Scores
//! are kept in thousandths of a nat, as integers, so the decision is exact
//! and the snapshot stores it as is.
//!
//! `departed_after_misses` consecutive unanswered direct challenges evict the
//! peer as departed. With 1 % loss each way a challenge goes unanswered about
//! 2 % of the time, so three in a row happen to an online peer about once in
//! 10⁵ challenges.

use serde::{Deserialize, Serialize};

/// Log-likelihood ratio *misaligned : aligned* of an answer sharing `k`
/// mappings with our own walk (index `k`), in thousandths of a nat (see the
/// module docs for the measurement). The last entry is bounded: no
/// misaligned answer in 20,000 shared all ten.
pub const LLR_BY_SHARED: [i32; 11] = [
    3_110, 1_430, 1_380, 970, 330, -530, -1_260, -2_420, -3_710, -5_290, -6_000,
];
/// Log-likelihood ratio of an answer that does not verify or contradicts
/// itself: as bad as sharing nothing.
pub const LLR_INVALID: i32 = LLR_BY_SHARED[0];
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
    /// It verified and shares this many mappings (at most
    /// [`SIGNATURE_SIZE`](crate::proof::SIGNATURE_SIZE); more counts as that).
    Shared(usize),
    /// It does not verify, or contradicts an earlier answer on its channel.
    Invalid,
}

impl Observation {
    /// Its log-likelihood ratio, misaligned : aligned, in thousandths of a nat.
    pub fn llr(self) -> i32 {
        match self {
            Self::Shared(k) => LLR_BY_SHARED[k.min(LLR_BY_SHARED.len() - 1)],
            Self::Invalid => LLR_INVALID,
        }
    }

    /// Whether it counts as an answer against the peer (0–3 shared, or invalid).
    pub fn is_against(self) -> bool {
        match self {
            Self::Shared(k) => k <= 3,
            Self::Invalid => true,
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
    /// Of these, how many were against it ([`Observation::is_against`]).
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
    /// When a direct challenge or a liveness ping last went to it (0 in a
    /// snapshot written before this field existed).
    #[serde(default)]
    pub contacted_at: u64,
    /// Liveness pings sent to it, and how many it answered.
    #[serde(default)]
    pub pinged: u32,
    /// Of these, the pongs.
    #[serde(default)]
    pub ponged: u32,
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
        if obs.is_against() {
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

    /// A direct challenge was sent at `now`.
    pub(crate) fn challenged(&mut self, now: u64) {
        self.challenged = self.challenged.saturating_add(1);
        self.contacted_at = now;
    }

    /// A liveness ping was sent at `now`.
    pub(crate) fn pinged(&mut self, now: u64) {
        self.pinged = self.pinged.saturating_add(1);
        self.contacted_at = now;
    }

    /// It answered a liveness ping.
    pub(crate) fn ponged(&mut self) {
        self.ponged = self.ponged.saturating_add(1);
        self.missed_in_row = 0;
    }

    /// When it should next be pinged: `interval` after the last direct
    /// contact, `recheck` after it if that went unanswered.
    pub fn ping_due(&self, interval: u64, recheck: u64) -> u64 {
        let wait = if self.missed_in_row > 0 { recheck } else { interval };
        self.contacted_at.saturating_add(wait)
    }

    /// The peer replied to a direct challenge (answer, relayed answer or referral).
    pub(crate) fn replied(&mut self) {
        self.replied = self.replied.saturating_add(1);
        self.missed_in_row = 0;
    }

    /// A direct challenge or a liveness ping went unanswered; `limit` misses
    /// in a row mean departed.
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
    fn strong_answers_confirm_and_answers_against_evict() {
        let mut h = PeerHealth::new(0, 0);
        assert_eq!(h.observe(Observation::Shared(7)), Verdict::Undecided);
        assert_eq!(
            h.observe(Observation::Shared(7)),
            Verdict::Confirmed,
            "two sharing 7 confirm"
        );
        assert_eq!((h.state, h.score_milli), (PeerState::Confirmed, 0));
        let mut fresh = PeerHealth::new(0, 0);
        assert_eq!(
            fresh.observe(Observation::Shared(9)),
            Verdict::Confirmed,
            "one sharing 9 confirms"
        );
        // A confirmed peer's score never goes below 0, so its good past does
        // not delay the verdict once it switches.
        for _ in 0..20 {
            h.observe(Observation::Shared(10));
        }
        assert_eq!(h.score_milli, 0);
        let mut n = 0;
        while h.observe(Observation::Shared(0)) != Verdict::Misaligned {
            n += 1;
            assert!(n < 10);
        }
        assert_eq!(n + 1, 3, "three answers sharing nothing evict a confirmed peer");
        assert_eq!(h.against, 3);
        let mut g = PeerHealth::new(0, 0);
        assert_eq!(g.observe(Observation::Invalid), Verdict::Undecided);
        assert_eq!(
            g.score_milli, LLR_BY_SHARED[0],
            "an invalid answer counts as sharing nothing"
        );
        assert_eq!(
            Observation::Shared(25).llr(),
            LLR_BY_SHARED[10],
            "beyond the signature size counts as ten"
        );
    }

    #[test]
    fn the_other_version_mix_is_evicted_in_a_few_answers() {
        // Answers as the other-version histogram gives them (half share
        // nothing, the rest mostly 2–5): a switched peer drifts up by ~1.8
        // per answer, from 0 once confirmed.
        let mut h = PeerHealth::new(0, 0);
        h.observe(Observation::Shared(9));
        assert_eq!(h.state, PeerState::Confirmed);
        let mix = [0, 4, 0, 3, 5, 0, 2];
        let n = mix
            .iter()
            .position(|k| h.observe(Observation::Shared(*k)) == Verdict::Misaligned)
            .map(|i| i + 1);
        // 3.11 + 0.33 + 3.11 + 0.97 = 7.52 ≥ 6.90.
        assert_eq!(n, Some(4), "evicted on the fourth answer of the mix");
    }

    #[test]
    fn ordinary_honest_gaps_do_not_evict() {
        // Rounds of 20 answers with twice the honest share of weak ones (one
        // each sharing 0, 1, 2, 3 and 4: 25 %, the histogram gives 17 %),
        // spread as they come, not bunched.
        let round = [9, 0, 8, 7, 4, 10, 6, 5, 8, 3, 9, 7, 2, 10, 8, 5, 6, 9, 1, 7];
        let mut h = PeerHealth::new(0, 0);
        for _ in 0..100 {
            for k in round {
                assert_ne!(h.observe(Observation::Shared(k)), Verdict::Misaligned);
            }
        }
        assert_eq!(h.state, PeerState::Confirmed);
        assert!(h.score_milli < 1_500, "the score stays near 0: {}", h.score_milli);
        // Two sharing nothing in a row (about 1 in 2,000 pairs) still leave room.
        assert_ne!(h.observe(Observation::Shared(0)), Verdict::Misaligned);
        assert_ne!(h.observe(Observation::Shared(0)), Verdict::Misaligned);
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
        h.observe(Observation::Shared(9));
        h.restored(500);
        assert_eq!((h.state, h.due_at), (PeerState::Probation, 500));
    }
}
