//! `simulate --html`: one self-contained HTML page (no scripts, no external
//! resources) with the summary table and SVG charts drawn by `plotters`.
//!
//! Charts, one `<figure class="chart">` each, in this order ([`CHARTS`]):
//! elections started and won per minute, success rate per minute (with its
//! target), the latency CDF (with the p50 and p99 targets), messages per
//! node-hour per minute (with its target), and contacts and elected peers per
//! honest online node (mean, p10–p90 band, min and max).
//!
//! Text: `plotters` is built without its `ttf` feature, so it needs no font
//! files at build or run time. Its SVG backend writes every label as an SVG
//! `<text>` element that the browser lays out with its own fonts; `plotters`
//! only estimates label sizes for spacing.

use crate::report::Report;
use crate::summary;
use crate::targets::{self, Target};
use crate::timeline::{Minute, Spread};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Chart size in pixels.
pub const WIDTH: u32 = 880;
/// Chart size in pixels.
pub const HEIGHT: u32 = 340;

/// The charts' `id`s, in page order.
pub const CHARTS: [&str; 6] = [
    "elections",
    "success",
    "latency",
    "messages",
    "contacts",
    "elected",
];

const FONT: &str = "sans-serif";
const BLUE: RGBColor = RGBColor(31, 119, 180);
const GREEN: RGBColor = RGBColor(44, 160, 44);
const ORANGE: RGBColor = RGBColor(230, 120, 20);
const TARGET_RED: RGBColor = RGBColor(200, 30, 30);
const GREY: RGBColor = RGBColor(120, 120, 120);

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// A series: its legend name, its look, and what it reads from a sample.
type Named<Look, From, To> = (&'static str, Look, fn(&From) -> To);

/// The page for `report` (its `timeline` gives the time series) and the
/// latencies of every honest win (in any order).
pub fn render(report: &Report, latencies: &[u32]) -> Result<String, String> {
    let t = &report.timeline;
    let mut sorted = latencies.to_vec();
    sorted.sort_unstable();
    let figures = [
        (
            "Elections per simulated minute (honest challengers)",
            chart(elections(t))?,
        ),
        ("Success rate per simulated minute", chart(success(t))?),
        (
            "Win latency, cumulative distribution",
            chart(latency_cdf(&sorted))?,
        ),
        (
            "Messages per node-hour, per simulated minute",
            chart(messages(t))?,
        ),
        (
            "Contacts per honest online node",
            chart(spread(t, "contacts per node", |m| &m.contacts_per_node))?,
        ),
        (
            "Elected peers per honest online node",
            chart(spread(t, "elected peers per node", |m| &m.elected_peers_per_node))?,
        ),
    ];
    let mut out = String::with_capacity(64 * 1024);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str(&format!(
        "<title>simulate: {}</title>\n",
        escape(&summary::title(report))
    ));
    out.push_str(STYLE);
    out.push_str("</head>\n<body>\n<h1>Peer election simulation</h1>\n");
    out.push_str(&format!("<p>{}</p>\n", escape(&summary::title(report))));
    out.push_str(&table(report));
    for ((caption, svg), id) in figures.iter().zip(CHARTS) {
        out.push_str(&format!(
            "<figure class=\"chart\" id=\"{id}\">\n{svg}\n<figcaption>{}</figcaption>\n</figure>\n",
            escape(caption)
        ));
    }
    out.push_str(&format!(
        "<p class=\"foot\">Digest {}. Full detail: <code>simulate --json</code> \
         (the time series are under <code>\"timeline\"</code>).</p>\n</body>\n</html>\n",
        escape(&report.digest)
    ));
    Ok(out)
}

const STYLE: &str = "<style>\n\
body { font-family: sans-serif; margin: 24px; color: #222; background: #fff; }\n\
table { border-collapse: collapse; margin-bottom: 16px; }\n\
th, td { text-align: left; padding: 2px 12px 2px 0; }\n\
td.ok { color: #1a7f37; } td.miss { color: #c62828; font-weight: bold; }\n\
figure { margin: 0 0 18px 0; width: 880px; }\n\
figcaption { font-size: 13px; color: #555; }\n\
.foot { font-size: 13px; color: #555; }\n\
</style>\n";

fn table(report: &Report) -> String {
    let mut s = String::from(
        "<table class=\"summary\">\n<tr><th>figure</th><th>value</th><th>target</th><th></th></tr>\n",
    );
    for row in summary::rows(report) {
        let (target, mark) = match (&row.target, row.met) {
            (Some(t), Some(true)) => (escape(t), "<td class=\"ok\">✓</td>"),
            (Some(t), Some(false)) => (escape(t), "<td class=\"miss\">✗</td>"),
            (Some(t), None) => (escape(t), "<td>—</td>"),
            _ => (String::new(), "<td></td>"),
        };
        s.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{target}</td>{mark}</tr>\n",
            escape(&row.label),
            escape(&row.value)
        ));
    }
    s.push_str("</table>\n");
    s
}

/// Text for HTML: `&`, `<`, `>` and `"` escaped.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// Draws one chart into an SVG string.
fn chart(draw: impl FnOnce(&Area<'_>) -> Result<(), String>) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        draw(&root)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

fn err(e: impl std::fmt::Display) -> String {
    format!("drawing a chart: {e}")
}

/// An axis label: whole numbers without decimals, others with one.
fn tick(v: &f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn last_minute(t: &[Minute]) -> f64 {
    t.last().map_or(1.0, |m| m.minute).max(1.0)
}

/// A range from 0 to a little above `max` (at least `floor`).
fn headroom(max: f64, floor: f64) -> f64 {
    (max * 1.1).max(floor)
}

fn target_line(t: &Target) -> (f64, String) {
    (t.bound.limit(), format!("target {}", t.describe()))
}

fn elections<'t>(t: &'t [Minute]) -> impl FnOnce(&Area<'_>) -> Result<(), String> + 't {
    move |root| {
        let ymax = t.iter().map(|m| m.elections_started).max().unwrap_or(0) as f64;
        let mut c = per_minute(
            root,
            t,
            "Elections per minute",
            "elections",
            0.0..headroom(ymax, 1.0),
        )?;
        let series: [Named<RGBColor, Minute, u64>; 2] = [
            ("started", BLUE, |m| m.elections_started),
            ("won", GREEN, |m| m.elections_succeeded),
        ];
        for (name, color, get) in series {
            c.draw_series(LineSeries::new(
                t.iter().map(|m| (m.minute, get(m) as f64)),
                color.stroke_width(2),
            ))
            .map_err(err)?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
        }
        legend(&mut c)
    }
}

fn success<'t>(t: &'t [Minute]) -> impl FnOnce(&Area<'_>) -> Result<(), String> + 't {
    move |root| {
        let (limit, label) = target_line(&targets::SUCCESS_RATE);
        let lowest = t
            .iter()
            .filter_map(|m| m.success_rate)
            .fold(100.0f64, |a, r| a.min(100.0 * r));
        let ymin = ((lowest.min(limit) - 5.0) / 5.0).floor().max(0.0) * 5.0;
        let mut c = per_minute(
            root,
            t,
            "Success rate per minute",
            "success rate (%)",
            ymin..100.0,
        )?;
        c.draw_series(LineSeries::new(
            t.iter()
                .filter_map(|m| m.success_rate.map(|r| (m.minute, 100.0 * r))),
            BLUE.stroke_width(2),
        ))
        .map_err(err)?
        .label("won / finished")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE.stroke_width(2)));
        horizontal(&mut c, limit, 0.0, last_minute(t), &label)?;
        legend(&mut c)
    }
}

fn latency_cdf(sorted: &[u32]) -> impl FnOnce(&Area<'_>) -> Result<(), String> + '_ {
    move |root| {
        let lo = f64::from(sorted.first().copied().unwrap_or(1).max(1));
        let hi = f64::from(sorted.last().copied().unwrap_or(1)).max(targets::LATENCY_P99.bound.limit()) * 1.2;
        let mut c = ChartBuilder::on(root)
            .caption("Win latency CDF", (FONT, 22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d((lo * 0.9..hi).log_scale(), 0.0..100.0)
            .map_err(err)?;
        c.configure_mesh()
            .x_desc("latency (ms, log scale)")
            .y_desc("wins at or below (%)")
            .label_style((FONT, 15))
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&tick)
            .draw()
            .map_err(err)?;
        // At most ~400 points: one per quantile step, plus the last.
        let n = sorted.len();
        let step = (n / 400).max(1);
        let points = (0..n)
            .step_by(step)
            .chain((n > 0).then_some(n - 1))
            .map(|i| (f64::from(sorted[i].max(1)), 100.0 * (i + 1) as f64 / n as f64));
        c.draw_series(LineSeries::new(points, BLUE.stroke_width(2)))
            .map_err(err)?
            .label(format!("{} wins", summary::grouped(n as u64)))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE.stroke_width(2)));
        for (t, pct) in [(&targets::LATENCY_P50, 50.0), (&targets::LATENCY_P99, 99.0)] {
            let (limit, label) = target_line(t);
            let style = TARGET_RED.stroke_width(1);
            c.draw_series(DashedLineSeries::new([(limit, 0.0), (limit, 100.0)], 6, 4, style))
                .map_err(err)?;
            // Labels sit left of their line, so the rightmost stays on the chart.
            let style = (FONT, 14)
                .into_font()
                .color(&TARGET_RED)
                .pos(Pos::new(HPos::Right, VPos::Center));
            c.draw_series(std::iter::once(Text::new(
                format!("{} {label}", t.label),
                (limit * 0.97, pct - 8.0),
                style,
            )))
            .map_err(err)?;
        }
        legend(&mut c)
    }
}

fn messages<'t>(t: &'t [Minute]) -> impl FnOnce(&Area<'_>) -> Result<(), String> + 't {
    move |root| {
        let (limit, label) = target_line(&targets::MESSAGES_PER_NODE_HOUR);
        let ymax = t.iter().map(|m| m.messages_per_node_hour).fold(0.0, f64::max);
        let mut c = per_minute(
            root,
            t,
            "Messages per node-hour",
            "datagrams / node / hour",
            0.0..headroom(ymax.max(limit), 1.0),
        )?;
        c.draw_series(LineSeries::new(
            t.iter().map(|m| (m.minute, m.messages_per_node_hour)),
            ORANGE.stroke_width(2),
        ))
        .map_err(err)?
        .label("at the minute's rate")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], ORANGE.stroke_width(2)));
        horizontal(&mut c, limit, 0.0, last_minute(t), &label)?;
        legend(&mut c)
    }
}

fn spread<'t>(
    t: &'t [Minute],
    what: &'static str,
    get: fn(&Minute) -> &Spread,
) -> impl FnOnce(&Area<'_>) -> Result<(), String> + 't {
    move |root| {
        let ymax = t.iter().map(|m| get(m).max).max().unwrap_or(0) as f64;
        let mut c = per_minute(root, t, what, what, 0.0..headroom(ymax, 1.0))?;
        // The p10-p90 band: along p90, back along p10.
        let band: Vec<(f64, f64)> = t
            .iter()
            .map(|m| (m.minute, get(m).p90 as f64))
            .chain(t.iter().rev().map(|m| (m.minute, get(m).p10 as f64)))
            .collect();
        let fill = BLUE.mix(0.18);
        c.draw_series(std::iter::once(Polygon::new(band, fill.filled())))
            .map_err(err)?
            .label("p10 – p90")
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 20, y + 5)], fill.filled()));
        let lines: [Named<ShapeStyle, Spread, f64>; 3] = [
            ("mean", BLUE.stroke_width(2), |s| s.mean),
            ("min", GREY.stroke_width(1), |s| s.min as f64),
            ("max", GREY.stroke_width(1), |s| s.max as f64),
        ];
        for (name, style, pick) in lines {
            c.draw_series(LineSeries::new(t.iter().map(|m| (m.minute, pick(get(m)))), style))
                .map_err(err)?
                .label(name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        }
        legend(&mut c)
    }
}

type Chart<'a, 'b, X> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<X, RangedCoordf64>>;

/// A chart over the run's simulated minutes with `y` on the vertical axis, its
/// caption, grid and axis labels drawn: the frame every per-minute chart shares.
fn per_minute<'a, 'b>(
    root: &'a Area<'b>,
    t: &[Minute],
    caption: &str,
    y_desc: &str,
    y: std::ops::Range<f64>,
) -> Result<Chart<'a, 'b, RangedCoordf64>, String> {
    let mut c = ChartBuilder::on(root)
        .caption(caption, (FONT, 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..last_minute(t), y)
        .map_err(err)?;
    c.configure_mesh()
        .x_desc("simulated minute")
        .y_desc(y_desc)
        .label_style((FONT, 15))
        .x_label_formatter(&tick)
        .y_label_formatter(&tick)
        .draw()
        .map_err(err)?;
    Ok(c)
}

/// A dashed red target line across the chart, with its label in the legend.
fn horizontal<'a, 'b: 'a>(
    c: &mut Chart<'a, 'b, RangedCoordf64>,
    y: f64,
    x0: f64,
    x1: f64,
    label: &str,
) -> Result<(), String> {
    let style = TARGET_RED.stroke_width(1);
    c.draw_series(DashedLineSeries::new([(x0, y), (x1, y)], 6, 4, style))
        .map_err(err)?
        .label(label)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
    Ok(())
}

/// The legend, bottom right.
fn legend<'a, 'b: 'a, X: Ranged>(c: &mut Chart<'a, 'b, X>) -> Result<(), String> {
    c.configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(GREY)
        .label_font((FONT, 15))
        .draw()
        .map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{Sim, SimConfig};
    use crate::timeline::Timeline;

    fn page() -> (Report, String) {
        let mut cfg = SimConfig::new(40, 9);
        cfg.node.health.election_interval_ms = 20_000;
        let mut sim = Sim::new(cfg).unwrap();
        let mut t = Timeline::new();
        t.run(&mut sim, 180_000, 10_000, |_| {});
        let report = Report::new(&sim, 0.5).with_timeline(t.into_minutes());
        let html = render(&report, sim.latencies()).unwrap();
        (report, html)
    }

    #[test]
    fn the_page_is_self_contained_with_one_svg_per_chart() {
        let (report, html) = page();
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert_eq!(html.matches("<svg").count(), CHARTS.len());
        assert_eq!(html.matches("</svg>").count(), CHARTS.len());
        for id in CHARTS {
            assert!(html.contains(&format!("id=\"{id}\"")), "{id}");
        }
        for external in ["<script", "src=", "href=", "@import", "url("] {
            assert!(!html.contains(external), "{external}");
        }
        // Axis descriptions are text elements, not paths.
        let texts: Vec<&str> = html
            .split("<text")
            .skip(1)
            .filter_map(|t| Some(t[t.find('>')? + 1..t.find("</text>")?].trim()))
            .collect();
        for label in [
            "simulated minute",
            "latency (ms, log scale)",
            "success rate (%)",
            "elected peers per node",
        ] {
            assert!(texts.contains(&label), "{label}");
        }
        assert!(html.contains(&report.digest));
        for t in targets::ALL {
            assert!(html.contains(&escape(&t.describe())), "{}", t.label);
        }
    }

    #[test]
    fn every_chart_plots_a_line_through_its_samples() {
        let (report, html) = page();
        assert_eq!(report.timeline.len(), 3);
        for (id, chunk) in CHARTS.iter().zip(html.split("<svg").skip(1)) {
            let svg = &chunk[..chunk.find("</svg>").unwrap()];
            // A polyline with at least as many points as samples (the CDF: wins).
            let longest = svg
                .split("<polyline")
                .skip(1)
                .map(|p| {
                    let pts = p.split("points=\"").nth(1).unwrap_or("");
                    pts[..pts.find('"').unwrap_or(0)].split_whitespace().count()
                })
                .max()
                .unwrap_or(0);
            assert!(longest >= 3, "{id}: longest polyline has {longest} points");
        }
    }

    #[test]
    fn escape_covers_markup() {
        assert_eq!(escape("a<b & \"c\">"), "a&lt;b &amp; &quot;c&quot;&gt;");
    }
}
