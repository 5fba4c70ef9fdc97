//! Evidence about each elected peer and the sequential test that decides its fate.
//!
//! # What counts as evidence
//!
//! Only what the peer itself said on a channel whose first hop it was, from
//! the address the query went to, carrying the query's secret ticket: a relayed
//! answer's responder id could frame anyone (or vouch for a peer that is gone).
//! From such an answer the node takes how many of the 32 steps of its
//! possession proof (wire v3, [`crate::proof::proof_agreement`]) match the
//! node's own store (0–32); an answer that fails verification, or a second,
//! different answer on one channel, counts as the worst observation. A *direct
//! challenge* (the re-verification channel straight to the peer) also tells
//! whether the peer is there at all: any reply from it resets a run of misses,
//! and silence until the channel timeout is a miss.
//!
//! # The decision
//!
//! Each answer adds the log-likelihood ratio *misaligned : aligned* of its
//! matched count to the peer's score. The probabilities are measured with
//! `cargo run --release -p election-tests --bin agreement -- 20000 --peers`
//! (challenger and honest responder at 90 % coverage, 1 % stale; another
//! ledger version with half its blocks different, the simulator's partition
//! default; a lazy responder at 60 % coverage, 30 % stale): an honest
//! responder matches 25.5 of 32 steps on average, one on the other version
//! 12.7, a lazy one 12.4. The ratio per count (Laplace-smoothed, bounded at
//! ±6 nats, made non-increasing in the count) is [`LLR_BY_SHARED`]: 13 or
//! fewer matching steps is strong evidence against (+4.8 to +6.0 nats), 20 is
//! neutral, 23 or more is strong evidence for (−5.9 to −6.0).
//!
//! Wire v2 took the evidence from the ten mappings the signature walk shares
//! with the node's own walk: a chained walk (one gap spoils every later step)
//! of ten steps, whose per-answer ratio was at most ±3 nats on average; a
//! switched peer needed about four answers. The possession proof's 32
//! independent steps separate the two ledgers far better: by Monte Carlo over
//! the measured histograms a peer on the other version is evicted after 2
//! answers (p50), 3 (p99), 6 (max of 10,000), and an honest peer is evicted
//! within 100 answers in 86 of 10,000 runs.
//!
//! A peer on probation runs Wald's SPRT with error rates α = 10⁻³ (evicting an
//! aligned peer) and β = 10⁻² (confirming a misaligned one): it is evicted when
//! the score reaches ln((1 − β) / α) = 6.90 and confirmed when it falls to
//! ln(β / (1 − α)) = −4.60 (one answer matching 22 or more steps, two
//! matching 21). A confirmed peer is watched by Page's CUSUM on the same increments
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

/// Log-likelihood ratio *misaligned : aligned* of an answer whose possession
/// proof matches `k` of the [`PROOF_STEPS`](crate::proof::PROOF_STEPS) steps of
/// our own store (index `k`), in thousandths of a nat (see the module docs for
/// the measurement).
pub const LLR_BY_SHARED: [i32; crate::proof::PROOF_STEPS + 1] = [
    5_978, 5_978, 5_978, 5_978, 5_978, 5_978, 5_978, 5_978, 5_978, 5_978, 5_978, 5_978, 5_978, 4_785, 4_580,
    4_165, 3_351, 2_978, 2_067, 543, -852, -2_411, -3_963, -5_939, -5_994, -5_994, -5_994, -5_994, -5_994,
    -5_994, -5_994, -5_994, -5_994,
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
    /// It verified, and this many steps of its possession proof match our
    /// store (at most [`PROOF_STEPS`](crate::proof::PROOF_STEPS); more counts as that).
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

    /// Whether it counts as an answer against the peer (a positive ratio:
    /// 19 or fewer matching steps, or invalid).
    pub fn is_against(self) -> bool {
        match self {
            Self::Shared(k) => LLR_BY_SHARED[k.min(LLR_BY_SHARED.len() - 1)] > 0,
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
    fn the_table_never_speaks_less_for_more_matching_steps() {
        for w in LLR_BY_SHARED.windows(2) {
            assert!(w[1] <= w[0], "{LLR_BY_SHARED:?}");
        }
        assert!(LLR_BY_SHARED.iter().all(|r| r.abs() <= 6_000));
    }

    #[test]
    fn strong_answers_confirm_and_answers_against_evict() {
        let mut h = PeerHealth::new(0, 0);
        assert_eq!(h.observe(Observation::Shared(21)), Verdict::Undecided);
        assert_eq!(
            h.observe(Observation::Shared(21)),
            Verdict::Confirmed,
            "two matching 21 confirm"
        );
        assert_eq!((h.state, h.score_milli), (PeerState::Confirmed, 0));
        let mut fresh = PeerHealth::new(0, 0);
        assert_eq!(
            fresh.observe(Observation::Shared(23)),
            Verdict::Confirmed,
            "one matching 23 confirms"
        );
        // A confirmed peer's score never goes below 0, so its good past does
        // not delay the verdict once it switches.
        for _ in 0..20 {
            h.observe(Observation::Shared(30));
        }
        assert_eq!(h.score_milli, 0);
        assert_eq!(h.observe(Observation::Shared(0)), Verdict::Undecided);
        assert_eq!(
            h.observe(Observation::Shared(12)),
            Verdict::Misaligned,
            "two answers matching few steps evict a confirmed peer"
        );
        assert_eq!(h.against, 2);
        let mut g = PeerHealth::new(0, 0);
        assert_eq!(g.observe(Observation::Invalid), Verdict::Undecided);
        assert_eq!(
            g.score_milli, LLR_BY_SHARED[0],
            "an invalid answer counts as matching nothing"
        );
        assert_eq!(
            Observation::Shared(99).llr(),
            LLR_BY_SHARED[crate::proof::PROOF_STEPS],
            "beyond the proof size counts as all steps"
        );
    }

    #[test]
    fn the_other_version_mix_is_evicted_in_a_few_answers() {
        // Answers as the other-version histogram gives them (mostly 9–16 of
        // 32): from 0 once confirmed, two or three of them evict.
        let mut h = PeerHealth::new(0, 0);
        h.observe(Observation::Shared(25));
        assert_eq!(h.state, PeerState::Confirmed);
        let mix = [16, 18, 14, 12];
        let n = mix
            .iter()
            .position(|k| h.observe(Observation::Shared(*k)) == Verdict::Misaligned)
            .map(|i| i + 1);
        // 3.351 + 2.067 + 4.580 = 9.998 ≥ 6.90, not before: 5.418.
        assert_eq!(n, Some(3), "evicted on the third answer of the mix");
    }

    #[test]
    fn ordinary_honest_gaps_do_not_evict() {
        // Rounds of 20 answers with a weak one in four (the honest histogram
        // gives counts of 20 or fewer about 4 % of the time), spread as they
        // come, not bunched.
        let round = [
            26, 19, 27, 25, 24, 28, 20, 26, 25, 18, 27, 24, 26, 29, 25, 21, 26, 27, 24, 25,
        ];
        let mut h = PeerHealth::new(0, 0);
        for _ in 0..100 {
            for k in round {
                assert_ne!(h.observe(Observation::Shared(k)), Verdict::Misaligned);
            }
        }
        assert_eq!(h.state, PeerState::Confirmed);
        assert!(h.score_milli < 3_000, "the score stays near 0: {}", h.score_milli);
        // One answer matching nothing (a stale region) still leaves room.
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
        h.observe(Observation::Shared(25));
        h.restored(500);
        assert_eq!((h.state, h.due_at), (PeerState::Probation, 500));
    }
}
