//! The short summary `simulate` prints: the headline figures with units, each
//! target (from [`crate::targets`]) beside its figure with a ✓/✗ mark, or "—"
//! for a target that does not apply to the run (no departure, no joiner).
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
    /// Whether the target is met; `None` for a figure without a target and for
    /// a target that does not apply to the run.
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
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
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
            met: t.met(r),
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
    let sybil_hosts = ["relay", "referrer"]
        .iter()
        .any(|k| r.adversaries.get(*k).is_some_and(|f| *f > 0.0));
    if sybil_hosts {
        let a = &r.sybil_attack;
        rows.push(Row::plain(
            "relay wins (store nothing)",
            format!(
                "{} ({:.1} % of wins; {} of {} elected slots at the end)",
                grouped(a.relay_wins),
                100.0 * a.relay_win_share,
                grouped(a.relay_elected_slots),
                grouped(a.elected_slots)
            ),
        ));
        rows.push(Row::plain(
            "exhausted elections",
            format!(
                "{} ({:.1} % of finished)",
                grouped(a.exhausted),
                100.0 * a.exhausted_share
            ),
        ));
        let c = &a.sybil_contacts;
        rows.push(Row::plain(
            "sybil ids in honest tables",
            format!(
                "{} of {} entries, in {} of {} tables (max share {:.1} %; {} ids/host, {} hosts/24)",
                grouped(c.sybil),
                grouped(c.entries),
                grouped(c.tables_with_sybil),
                grouped(c.tables),
                100.0 * a.sybil_contact_share_max,
                a.ids_per_host,
                a.hosts_per_subnet
            ),
        ));
    }
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

/// How many targets `r` meets, of how many apply to the run.
pub fn targets_met(r: &Report) -> (usize, usize) {
    let marks: Vec<bool> = targets::ALL.iter().filter_map(|t| t.met(r)).collect();
    (marks.iter().filter(|&&met| met).count(), marks.len())
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
            (Some(t), met) => format!(
                "{:<w_label$}  {:<w_value$}  {:<w_target$}  {}",
                row.label,
                row.value,
                t,
                match met {
                    Some(true) => "✓",
                    Some(false) => "✗",
                    None => targets::NOT_APPLICABLE,
                }
            ),
            _ => format!("{:<w_label$}  {}", row.label, row.value),
        };
        out.push_str(line.trim_end());
        out.push('\n');
    }
    let (met, of) = targets_met(r);
    let idle = match targets::ALL.len() - of {
        0 => String::new(),
        n => format!(" ({n} not applicable to this run)"),
    };
    out.push_str(&format!(
        "\ntargets met: {met} of {of}{idle}; digest {}\nfull detail: --json\n",
        r.digest
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{Departures, Sim, SimConfig};

    #[test]
    fn numbers_are_grouped_by_thousands() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1000), "1,000");
        assert_eq!(grouped(1_234_567), "1,234,567");
    }

    fn report() -> Report {
        run(None)
    }

    fn run(departures: Option<Departures>) -> Report {
        let mut cfg = SimConfig::new(30, 5);
        cfg.node.health.election_interval_ms = 20_000;
        cfg.departures = departures;
        let mut sim = Sim::new(cfg).unwrap();
        sim.run_until(90_000);
        Report::new(&sim, 1.5)
    }

    /// The summary's line for `target`.
    fn line_of<'a>(text: &'a str, target: &targets::Target) -> &'a str {
        text.lines()
            .find(|l| l.starts_with(target.label))
            .unwrap_or_else(|| panic!("no line for {}:\n{text}", target.label))
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
            let mark = match t.met(&r) {
                Some(true) => "✓",
                Some(false) => "✗",
                None => targets::NOT_APPLICABLE,
            };
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

    #[test]
    fn a_target_the_run_has_nothing_for_is_marked_not_applicable() {
        let evict = &targets::EVICT_P99;
        // No departure, no switch: nothing to evict, so no eviction time.
        let calm = report();
        assert_eq!(calm.evict_ms_p99, None);
        let text = text(&calm);
        let line = line_of(&text, evict);
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words, ["evict", "p99", "—", "≤", "300", "s", "—"], "{line}");
        let (_, of) = targets_met(&calm);
        assert_eq!(of, targets::ALL.len() - 1);
        assert!(text.contains("(1 not applicable to this run)"), "{text}");

        // A third of the nodes leave per minute from the first on: departed
        // peers that sat in honest tables give eviction times, and the mark is
        // the comparison with the bound.
        let departing = run(Some(Departures {
            per_hour: 20.0,
            start_ms: 60_000,
        }));
        let p99 = departing.evict_ms_p99.expect("departed peers were in tables");
        let text = super::text(&departing);
        let line = line_of(&text, evict);
        let mark = if p99 <= 300_000 { '✓' } else { '✗' };
        assert!(line.ends_with(mark), "{line}");
        assert!(line.contains(&format!("{:.0} s", p99 as f64 / 1000.0)), "{line}");
        assert_eq!(targets_met(&departing).1, targets::ALL.len());
        assert!(!text.contains("not applicable"), "{text}");

        // Both marks, on the same report.
        let mut r = calm;
        r.evict_ms_p99 = Some(299_000);
        assert!(line_of(&super::text(&r), evict).ends_with('✓'));
        r.evict_ms_p99 = Some(301_000);
        assert!(line_of(&super::text(&r), evict).ends_with('✗'));
    }

    #[test]
    fn a_node_that_never_got_there_is_a_miss_not_a_blank() {
        let mut r = report();
        r.time_to_8_peers_ms_p99 = None;
        let text = text(&r);
        let line = line_of(&text, &targets::TIME_TO_8_PEERS_P99);
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words[words.len() - 5..], ["never", "≤", "90", "s", "✗"], "{line}");
        assert_eq!(targets::TIME_TO_8_PEERS_P99.met(&r), Some(false));
    }
}
