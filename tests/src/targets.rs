//! The project's targets, in one table: what the summary marks ✓/✗ and what the
//! HTML charts draw as reference lines.
//!
//! | figure | target | from |
//! |---|---|---|
//! | success rate | ≥ 95 % | issue 4 |
//! | latency p50 | ≤ 1 s | issue 4 |
//! | latency p99 | ≤ 3 s | issue 4 |
//! | messages per election | ≤ 12 | issue 4 |
//! | messages per node-hour | ≤ 500 | the seed's bound |
//! | winners not honest | 0 | the oracle: every winner must pass |
//! | table dead share mean / max | ≤ 1 % / ≤ 3 % | issue 11 (`--departures 0.25`) |
//! | table misaligned share mean | ≤ 1 % | issue 11 (`--switch 0.1:version`, partition after healing) |
//! | evict p99 | ≤ 300 s | issue 11 (departed; a switched peer: ≤ 600 s) |
//! | false evictions per node-hour | ≤ 0.05 | issue 11 |
//! | reverify age p99 | ≤ 1200 s | issue 11: 2 × the default `reverify_period_ms` |
//! | time to 8 peers p50 / p99 | ≤ 20 s / ≤ 90 s | issue 11, for a node joining a running network |
//!
//! A target whose figure the run has nothing to measure for (evict p99 without
//! a departed or switched peer) does not apply to the run: [`Target::value`]
//! and [`Target::met`] give `None`, and the summary marks it "—", neither met
//! nor missed. A figure that is missing because the run fell short (time to 8
//! peers when the p-th node never got there) is infinite and missed.

use crate::report::Report;

/// Which side of its limit a figure must stay on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Bound {
    /// The figure must be at least this.
    AtLeast(f64),
    /// The figure must be at most this.
    AtMost(f64),
}

impl Bound {
    /// The limit itself.
    pub fn limit(self) -> f64 {
        match self {
            Self::AtLeast(v) | Self::AtMost(v) => v,
        }
    }

    /// Whether `value` meets the bound (NaN never does).
    pub fn met_by(self, value: f64) -> bool {
        match self {
            Self::AtLeast(v) => value >= v,
            Self::AtMost(v) => value <= v,
        }
    }

    /// `≥ 95`, `≤ 12`, or `= 0` for an upper bound of zero on a count.
    pub fn symbol(self) -> &'static str {
        match self {
            Self::AtLeast(_) => "≥",
            Self::AtMost(0.0) => "=",
            Self::AtMost(_) => "≤",
        }
    }
}

/// One target: a figure of the report, its unit, its bound and where it comes from.
#[derive(Clone, Copy, Debug)]
pub struct Target {
    /// What the figure is called in the summary.
    pub label: &'static str,
    /// Unit shown after the figure and the limit (empty for plain counts and ratios).
    pub unit: &'static str,
    /// Decimals shown for the figure.
    pub decimals: usize,
    /// The bound, in `unit`.
    pub bound: Bound,
    /// Where the target comes from.
    pub source: &'static str,
    /// Reads the figure, in `unit`, from a report; `None` when the run has
    /// nothing to measure it on.
    pub measure: fn(&Report) -> Option<f64>,
}

impl Target {
    /// The figure of `report`, in [`Target::unit`], or `None` when the target
    /// does not apply to the run.
    pub fn value(&self, report: &Report) -> Option<f64> {
        (self.measure)(report)
    }

    /// Whether `report` meets this target, or `None` when it does not apply.
    pub fn met(&self, report: &Report) -> Option<bool> {
        self.value(report).map(|v| self.bound.met_by(v))
    }

    /// The target as text, e.g. `≥ 95 %` or `≤ 1000 ms`.
    pub fn describe(&self) -> String {
        with_unit(
            format!("{} {}", self.bound.symbol(), trim_number(self.bound.limit())),
            self.unit,
        )
    }

    /// The figure of `report` as text with its unit, e.g. `98.2 %`; `never`
    /// for a time that was not reached, [`NOT_APPLICABLE`] when the target
    /// does not apply to the run.
    pub fn show(&self, report: &Report) -> String {
        match self.value(report) {
            Some(v) if v.is_infinite() => "never".to_string(),
            Some(v) => with_unit(format!("{:.*}", self.decimals, v), self.unit),
            None => NOT_APPLICABLE.to_string(),
        }
    }
}

/// What the summary shows for the figure and the mark of a target that does
/// not apply to the run.
pub const NOT_APPLICABLE: &str = "—";

/// `text unit`, or `text` alone when there is no unit.
pub fn with_unit(text: String, unit: &str) -> String {
    if unit.is_empty() {
        text
    } else {
        format!("{text} {unit}")
    }
}

/// A limit without trailing zeros: `95`, `0.5`.
fn trim_number(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Share of finished honest elections that elected a peer.
pub const SUCCESS_RATE: Target = Target {
    label: "success rate",
    unit: "%",
    decimals: 1,
    bound: Bound::AtLeast(95.0),
    source: "issue 4",
    measure: |r| Some(100.0 * r.success_rate),
};

/// Median win latency.
pub const LATENCY_P50: Target = Target {
    label: "latency p50",
    unit: "ms",
    decimals: 0,
    bound: Bound::AtMost(1000.0),
    source: "issue 4",
    measure: |r| Some(r.latency_ms_p50 as f64),
};

/// 99th percentile win latency.
pub const LATENCY_P99: Target = Target {
    label: "latency p99",
    unit: "ms",
    decimals: 0,
    bound: Bound::AtMost(3000.0),
    source: "issue 4",
    measure: |r| Some(r.latency_ms_p99 as f64),
};

/// Datagrams sent network-wide per honest election started.
pub const MESSAGES_PER_ELECTION: Target = Target {
    label: "messages per election",
    unit: "",
    decimals: 1,
    bound: Bound::AtMost(12.0),
    source: "issue 4",
    measure: |r| Some(r.messages_per_election),
};

/// Datagrams sent per node per simulated hour.
pub const MESSAGES_PER_NODE_HOUR: Target = Target {
    label: "messages per node-hour",
    unit: "",
    decimals: 0,
    bound: Bound::AtMost(500.0),
    source: "seed's bound",
    measure: |r| Some(r.messages_per_node_hour),
};

/// Winners of honest elections that fail the oracle.
pub const WINNERS_NOT_HONEST: Target = Target {
    label: "winners not honest",
    unit: "",
    decimals: 0,
    bound: Bound::AtMost(0.0),
    source: "oracle",
    measure: |r| Some(r.winners.not_honest as f64),
};

/// Mean share of honest table entries pointing at offline peers.
pub const TABLE_DEAD_SHARE_MEAN: Target = Target {
    label: "table dead share mean",
    unit: "%",
    decimals: 2,
    bound: Bound::AtMost(1.0),
    source: "issue 11",
    measure: |r| Some(100.0 * r.table_dead_share_mean),
};

/// Largest per-minute share of honest table entries pointing at offline peers.
pub const TABLE_DEAD_SHARE_MAX: Target = Target {
    label: "table dead share max",
    unit: "%",
    decimals: 2,
    bound: Bound::AtMost(3.0),
    source: "issue 11",
    measure: |r| Some(100.0 * r.table_dead_share_max),
};

/// Mean share of honest table entries whose peer is misaligned (after
/// healing, when the run has a partition).
pub const TABLE_MISALIGNED_SHARE_MEAN: Target = Target {
    label: "table misaligned share mean",
    unit: "%",
    decimals: 2,
    bound: Bound::AtMost(1.0),
    source: "issue 11",
    measure: |r| {
        Some(
            100.0
                * r.table_misaligned_share_after_heal_mean
                    .unwrap_or(r.table_misaligned_share_mean),
        )
    },
};

/// Time until a departed or switched peer is out of every honest table, p99.
pub const EVICT_P99: Target = Target {
    label: "evict p99",
    unit: "s",
    decimals: 0,
    bound: Bound::AtMost(300.0),
    source: "issue 11",
    measure: |r| r.evict_ms_p99.map(|v| v as f64 / 1000.0),
};

/// Honest, online, aligned peers evicted per honest node-hour.
pub const FALSE_EVICTIONS: Target = Target {
    label: "false evictions per node-hour",
    unit: "",
    decimals: 3,
    bound: Bound::AtMost(0.05),
    source: "issue 11",
    measure: |r| Some(r.false_evictions_per_node_hour),
};

/// Time since alive entries were last verified, p99.
pub const REVERIFY_AGE_P99: Target = Target {
    label: "reverify age p99",
    unit: "s",
    decimals: 0,
    bound: Bound::AtMost(1200.0),
    source: "issue 11",
    measure: |r| Some(r.reverify_age_ms_p99 as f64 / 1000.0),
};

/// A time in ms as seconds; `None` (that share of nodes never got there) as
/// infinity, which no upper bound meets.
fn never_reached(ms: Option<u64>) -> f64 {
    ms.map_or(f64::INFINITY, |v| v as f64 / 1000.0)
}

/// Time for a joining node to reach 8 elected peers, median.
pub const TIME_TO_8_PEERS_P50: Target = Target {
    label: "time to 8 peers p50",
    unit: "s",
    decimals: 1,
    bound: Bound::AtMost(20.0),
    source: "issue 11",
    measure: |r| Some(never_reached(r.time_to_8_peers_ms_p50)),
};

/// Time for a joining node to reach 8 elected peers, p99.
pub const TIME_TO_8_PEERS_P99: Target = Target {
    label: "time to 8 peers p99",
    unit: "s",
    decimals: 1,
    bound: Bound::AtMost(90.0),
    source: "issue 11",
    measure: |r| Some(never_reached(r.time_to_8_peers_ms_p99)),
};

/// Every target, in the order the summary lists them.
pub const ALL: [&Target; 14] = [
    &SUCCESS_RATE,
    &LATENCY_P50,
    &LATENCY_P99,
    &MESSAGES_PER_ELECTION,
    &MESSAGES_PER_NODE_HOUR,
    &WINNERS_NOT_HONEST,
    &TABLE_DEAD_SHARE_MEAN,
    &TABLE_DEAD_SHARE_MAX,
    &TABLE_MISALIGNED_SHARE_MEAN,
    &EVICT_P99,
    &FALSE_EVICTIONS,
    &REVERIFY_AGE_P99,
    &TIME_TO_8_PEERS_P50,
    &TIME_TO_8_PEERS_P99,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_compare_on_the_right_side() {
        assert!(Bound::AtLeast(95.0).met_by(95.0));
        assert!(!Bound::AtLeast(95.0).met_by(94.99));
        assert!(Bound::AtMost(12.0).met_by(12.0));
        assert!(!Bound::AtMost(12.0).met_by(12.01));
        assert!(!Bound::AtMost(0.0).met_by(f64::NAN));
        assert!(!Bound::AtLeast(0.0).met_by(f64::NAN));
    }

    #[test]
    fn targets_describe_themselves_with_units() {
        assert_eq!(SUCCESS_RATE.describe(), "≥ 95 %");
        assert_eq!(LATENCY_P50.describe(), "≤ 1000 ms");
        assert_eq!(LATENCY_P99.describe(), "≤ 3000 ms");
        assert_eq!(MESSAGES_PER_ELECTION.describe(), "≤ 12");
        assert_eq!(MESSAGES_PER_NODE_HOUR.describe(), "≤ 500");
        assert_eq!(WINNERS_NOT_HONEST.describe(), "= 0");
        assert_eq!(trim_number(0.5), "0.5");
    }

    #[test]
    fn labels_are_unique() {
        for (i, a) in ALL.iter().enumerate() {
            for b in &ALL[i + 1..] {
                assert_ne!(a.label, b.label);
            }
        }
    }
}
