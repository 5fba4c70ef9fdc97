//! The short summary `simulate` prints: the headline figures with units, each
//! target (from [`crate::targets`]) beside its figure with a ✓/✗ mark.
//! `simulate --json` keeps the full detail.

use crate::report::Report;
use crate::targets::{self, with_unit};

/// One line of the summary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// What the figure is.
    pub label: String,
    /// The figure with its unit.
    pub value: String,
    /// The target as text, if the figure has one.
    pub target: Option<String>,
    /// Whether the target is met, if the figure has one.
    pub met: Option<bool>,
}

impl Row {
    fn plain(label: &str, value: String) -> Self {
        Self {
            label: label.to_string(),
            value,
            target: None,
            met: None,
        }
    }
}

/// `1234567` as `1,234,567`.
pub fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The run in one line: nodes, simulated minutes, seed.
pub fn title(r: &Report) -> String {
    format!(
        "{} nodes, {} simulated minutes, seed {}",
        grouped(r.nodes as u64),
        trim(r.simulated_minutes),
        r.seed
    )
}

fn trim(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The summary's rows: first every target, then the figures that explain them.
pub fn rows(r: &Report) -> Vec<Row> {
    let mut rows: Vec<Row> = targets::ALL
        .iter()
        .map(|t| Row {
            label: t.label.to_string(),
            value: t.show(r),
            target: Some(t.describe()),
            met: Some(t.met(r)),
        })
        .collect();
    rows.push(Row::plain(
        "elections started / won",
        format!(
            "{} / {}",
            grouped(r.elections_started),
            grouped(r.elections_succeeded)
        ),
    ));
    rows.push(Row::plain(
        "failed: timeout / no consensus / other",
        format!(
            "{} / {} / {}",
            grouped(r.failed_timeout),
            grouped(r.failed_no_consensus),
            grouped(r.failed_split_brain + r.failed_exhausted + r.failed_other)
        ),
    ));
    rows.push(Row::plain("split-brain elections", grouped(r.split_brain)));
    rows.push(Row::plain(
        "elected peers per node",
        format!(
            "{:.1} (mean over honest online nodes)",
            r.elected_peers_per_node_mean
        ),
    ));
    rows.push(Row::plain(
        "distinct responders",
        format!("{:.1} per election (mean)", r.distinct_responders_mean),
    ));
    rows.push(Row::plain(
        "latency p90 / max",
        with_unit(format!("{} / {}", r.latency_ms_p90, r.latency_ms_max), "ms"),
    ));
    let cpu = r.cpu_seconds.map_or(String::new(), |c| format!(", CPU {c:.1} s"));
    rows.push(Row::plain(
        "time",
        format!(
            "wall {:.1} s{cpu} ({} thread{}, {} events/s, {} crypto)",
            r.wall_seconds,
            r.threads,
            if r.threads == 1 { "" } else { "s" },
            grouped(r.events_per_second.round() as u64),
            r.crypto
        ),
    ));
    if let (Some(peak), Some(per_node)) = (r.peak_rss_bytes, r.peak_rss_bytes_per_node) {
        rows.push(Row::plain(
            "peak memory",
            format!("{:.0} MB ({:.1} KB per node)", peak as f64 / 1e6, per_node / 1e3),
        ));
    }
    rows
}

/// How many targets `r` meets, of how many.
pub fn targets_met(r: &Report) -> (usize, usize) {
    let met = targets::ALL.iter().filter(|t| t.met(r)).count();
    (met, targets::ALL.len())
}

/// The summary as terminal text: a title, an aligned table, and where the
/// full detail is.
pub fn text(r: &Report) -> String {
    let rows = rows(r);
    let w_label = rows.iter().map(|x| x.label.chars().count()).max().unwrap_or(0);
    let w_value = rows
        .iter()
        .filter(|x| x.target.is_some())
        .map(|x| x.value.chars().count())
        .max()
        .unwrap_or(0);
    let w_target = rows
        .iter()
        .filter_map(|x| x.target.as_ref())
        .map(|t| t.chars().count())
        .max()
        .unwrap_or(0)
        .max("target".len());
    let mut out = format!("simulate: {}\n\n", title(r));
    let header = format!(
        "{:<w_label$}  {:<w_value$}  {:<w_target$}",
        "figure", "value", "target"
    );
    out.push_str(header.trim_end());
    out.push('\n');
    for row in &rows {
        let line = match (&row.target, row.met) {
            (Some(t), Some(met)) => format!(
                "{:<w_label$}  {:<w_value$}  {:<w_target$}  {}",
                row.label,
                row.value,
                t,
                if met { "✓" } else { "✗" }
            ),
            _ => format!("{:<w_label$}  {}", row.label, row.value),
        };
        out.push_str(line.trim_end());
        out.push('\n');
    }
    let (met, of) = targets_met(r);
    out.push_str(&format!(
        "\ntargets met: {met} of {of}; digest {}\nfull detail: --json\n",
        r.digest
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{Sim, SimConfig};

    #[test]
    fn numbers_are_grouped_by_thousands() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1000), "1,000");
        assert_eq!(grouped(1_234_567), "1,234,567");
    }

    fn report() -> Report {
        let mut cfg = SimConfig::new(30, 5);
        cfg.node.election_interval_ms = 20_000;
        let mut sim = Sim::new(cfg).unwrap();
        sim.run_until(90_000);
        Report::new(&sim, 1.5)
    }

    #[test]
    fn the_summary_is_short_has_units_and_marks_every_target() {
        let r = report();
        let text = text(&r);
        let lines: Vec<&str> = text.lines().collect();
        assert!((12..=28).contains(&lines.len()), "{} lines:\n{text}", lines.len());
        assert!(text.contains("full detail: --json"));
        assert!(text.contains(&r.digest));
        for t in targets::ALL {
            let line = lines
                .iter()
                .find(|l| l.starts_with(t.label))
                .unwrap_or_else(|| panic!("no line for {}:\n{text}", t.label));
            assert!(line.contains(&t.describe()), "{line}");
            assert!(line.contains(&t.show(&r)), "{line}");
            let mark = if t.met(&r) { '✓' } else { '✗' };
            assert!(line.ends_with(mark), "{line}");
        }
        let rate = lines.iter().find(|l| l.starts_with("success rate")).unwrap();
        assert!(
            rate.contains(&format!("{:.1} %", 100.0 * r.success_rate)),
            "{rate}"
        );
        let p99 = lines.iter().find(|l| l.starts_with("latency p99")).unwrap();
        assert!(p99.contains(&format!("{} ms", r.latency_ms_p99)), "{p99}");
        assert!(text.contains("1.5 s"), "{text}");
    }

    #[test]
    fn a_missed_target_is_marked() {
        let mut r = report();
        r.success_rate = 0.5;
        r.winners.not_honest = 3;
        let text = text(&r);
        let rate = text.lines().find(|l| l.starts_with("success rate")).unwrap();
        assert!(rate.ends_with('✗'), "{rate}");
        assert!(rate.contains("50.0 %"), "{rate}");
        let bad = text
            .lines()
            .find(|l| l.starts_with("winners not honest"))
            .unwrap();
        assert!(bad.ends_with('✗') && bad.contains(" 3 "), "{bad}");
        let (met, of) = targets_met(&r);
        assert!(met <= of - 2);
        assert!(text.contains(&format!("targets met: {met} of {of}")));
    }
}
