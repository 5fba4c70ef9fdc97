//! `simulate --html`: the page as headless Chromium draws it, and the flag's
//! errors.
//!
//! The Chromium test needs Debian's `chromium` (`.ci/run` installs it; the
//! binary can be named with `CHROMIUM`). Without it the test fails when
//! `CI=true` and skips with a message otherwise.

use election_tests::html::{self, CHARTS};
use election_tests::report::Report;
use election_tests::sim::{Sim, SimConfig};
use election_tests::timeline::Timeline;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("election-html-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin")])
        .map(|d| d.join("chromium"))
        .find(|p| p.is_file())
}

/// Runs Chromium headless on `page` with `extra` flags; stdout goes to `out`.
/// A hung browser is killed after two minutes (a guard, not a measurement).
fn run_chromium(bin: &Path, dir: &Path, page: &Path, extra: &[String], out: &Path) {
    let mut child = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--force-device-scale-factor=1",
        ])
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(File::create(out).unwrap())
        .stderr(File::create(dir.join("chromium.stderr")).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("{} did not finish within 120 s", bin.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let err = std::fs::read_to_string(dir.join("chromium.stderr")).unwrap_or_default();
    assert!(status.success(), "chromium failed ({status}):\n{err}");
}

/// Appended to a copy of the page: after layout, writes what the browser drew
/// for each chart into `<pre id="probe">`, one line per chart:
/// `id left top width height texts_with_width polyline_points polyline_length`,
/// and a last line `page height`.
const PROBE: &str = r#"<script>
const lines = [];
for (const f of document.querySelectorAll('figure.chart')) {
  const svg = f.querySelector('svg');
  const r = svg.getBoundingClientRect();
  let texts = 0;
  for (const t of svg.querySelectorAll('text')) if (t.getComputedTextLength() > 0) texts++;
  let points = 0, length = 0;
  for (const p of svg.querySelectorAll('polyline')) {
    points = Math.max(points, p.points.numberOfItems);
    length += p.getTotalLength();
  }
  lines.push([f.id, r.left, r.top, r.width, r.height, texts, points, length].map(v => typeof v === 'number' ? Math.round(v) : v).join(' '));
}
lines.push('page ' + document.documentElement.scrollHeight);
const pre = document.createElement('pre');
pre.id = 'probe';
pre.textContent = lines.join('\n');
document.body.appendChild(pre);
</script>
"#;

#[derive(Debug)]
struct Drawn {
    id: String,
    left: u32,
    top: u32,
    width: u32,
    height: u32,
    texts: u32,
    points: u32,
    length: u32,
}

fn parse_probe(dom: &str) -> (Vec<Drawn>, u32) {
    let start = dom.find("<pre id=\"probe\">").expect("probe output in the DOM") + 16;
    let body = &dom[start..start + dom[start..].find("</pre>").unwrap()];
    let mut charts = Vec::new();
    let mut height = 0;
    for line in body.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f[0] == "page" {
            height = f[1].parse().unwrap();
            continue;
        }
        let n = |i: usize| f[i].parse::<i64>().unwrap().max(0) as u32;
        charts.push(Drawn {
            id: f[0].to_string(),
            left: n(1),
            top: n(2),
            width: n(3),
            height: n(4),
            texts: n(5),
            points: n(6),
            length: n(7),
        });
    }
    (charts, height)
}

/// RGB pixels of a PNG.
fn decode(png_path: &Path) -> (u32, u32, Vec<[u8; 3]>) {
    let decoder = png::Decoder::new(std::io::BufReader::new(File::open(png_path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    assert!(channels >= 3, "{:?}", info.color_type);
    let px = buf[..info.buffer_size()]
        .chunks(channels)
        .map(|c| [c[0], c[1], c[2]])
        .collect();
    (info.width, info.height, px)
}

fn near(p: [u8; 3], c: [u8; 3], tolerance: i32) -> bool {
    p.iter()
        .zip(c)
        .all(|(&a, b)| (i32::from(a) - i32::from(b)).abs() <= tolerance)
}

/// The colour of the series each chart must show (the first one drawn).
fn series_colour(id: &str) -> [u8; 3] {
    match id {
        "messages" => [230, 120, 20],
        _ => [31, 119, 180],
    }
}

#[test]
fn headless_chromium_draws_every_chart_with_lines_and_axis_text() {
    let Some(bin) = chromium() else {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("chromium not found and CI=true: .ci/run must install Debian's chromium");
        }
        eprintln!("SKIPPED headless_chromium_draws_every_chart: no chromium (apt-get install chromium)");
        return;
    };
    let dir = scratch("chromium");
    let mut cfg = SimConfig::new(200, 4);
    cfg.node.health.election_interval_ms = 30_000;
    let mut sim = Sim::new(cfg).unwrap();
    let mut timeline = Timeline::new();
    timeline.run(&mut sim, 4 * 60_000, 10_000, |_| {});
    let report = Report::new(&sim, 0.0).with_timeline(timeline.into_minutes());
    let page = html::render(&report, sim.latencies()).unwrap();
    let page_path = dir.join("page.html");
    std::fs::write(&page_path, &page).unwrap();
    let probe_path = dir.join("probe.html");
    std::fs::write(&probe_path, page.replace("</body>", &format!("{PROBE}</body>"))).unwrap();

    // 1. The DOM after layout: every chart an <svg> with text of real width and
    //    plotted polylines.
    let width = 1000;
    let dom_path = dir.join("dom.html");
    let size = format!("--window-size={width},1000");
    run_chromium(&bin, &dir, &probe_path, &[size, "--dump-dom".into()], &dom_path);
    let dom = std::fs::read_to_string(&dom_path).unwrap();
    assert_eq!(
        dom.matches("<svg").count(),
        CHARTS.len(),
        "svg elements in the DOM"
    );
    let (charts, page_height) = parse_probe(&dom);
    let ids: Vec<&str> = charts.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, CHARTS);
    for c in &charts {
        assert_eq!((c.width, c.height), (html::WIDTH, html::HEIGHT), "{c:?}");
        // Caption, two axis descriptions and at least 4 tick labels per axis.
        assert!(c.texts >= 11, "{}: {} texts with width", c.id, c.texts);
        // The latency CDF has a point per win (capped); time series one per minute.
        assert!(
            c.points >= 4,
            "{}: longest polyline has {} points",
            c.id,
            c.points
        );
        assert!(c.length > 300, "{}: polylines {} px long", c.id, c.length);
    }

    // 2. The pixels of the real page (no probe): each chart area holds more than
    //    the light grid, pixels of its series colour (a 2 px line, not just the
    //    legend's 20 px swatch), and dark y-axis text.
    let shot = dir.join("page.png");
    run_chromium(
        &bin,
        &dir,
        &page_path,
        &[
            format!("--window-size={width},{page_height}"),
            format!("--screenshot={}", shot.display()),
        ],
        &dir.join("screenshot.out"),
    );
    let (w, h, px) = decode(&shot);
    assert_eq!((w, h), (width, page_height));
    for c in &charts {
        assert!(
            c.top + c.height <= h && c.left + c.width <= w,
            "{c:?} outside the screenshot"
        );
        let at = |x: u32, y: u32| px[(y * w + x) as usize];
        let (mut ink, mut dark_left, mut series) = (0u32, 0u32, 0u32);
        for y in c.top..c.top + c.height {
            for x in c.left..c.left + c.width {
                let p = at(x, y);
                // Darker than the light grid: axes, text, lines.
                ink += u32::from(p.iter().any(|&v| v < 200));
                series += u32::from(near(p, series_colour(&c.id), 40));
                // The y axis' tick labels and description, left of the plot.
                dark_left += u32::from(x < c.left + 64 && p.iter().all(|&v| v < 110));
            }
        }
        let area = c.width * c.height;
        println!(
            "{}: {ink} of {area} pixels darker than the grid, {series} of the series colour, {dark_left} of y-axis text",
            c.id
        );
        assert!(
            ink > area / 100,
            "{}: {ink} of {area} pixels darker than the grid",
            c.id
        );
        assert!(series > 300, "{}: {series} pixels of the series colour", c.id);
        assert!(dark_left > 100, "{}: {dark_left} dark pixels of axis text", c.id);
    }
    println!("screenshot checked: {}", shot.display());
    // Kept when KEEP_HTML_TEST is set, to look at.
    if std::env::var_os("KEEP_HTML_TEST").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
}

// ----- the flag ---------------------------------------------------------------

fn simulate(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_simulate"))
        .args([
            "--nodes",
            "30",
            "--minutes",
            "1.5",
            "--interval-s",
            "20",
            "--no-progress",
        ])
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn html_to_an_unwritable_path_fails_at_once_naming_flag_and_path() {
    let dir = scratch("bad");
    let missing = dir.join("no-such-dir").join("page.html");
    let dir_s = dir.display().to_string();
    let missing_s = missing.display().to_string();
    for (path, why) in [
        (missing_s.as_str(), "No such file"),
        (dir_s.as_str(), "is a directory"),
        ("", "does not name a file"),
    ] {
        let out = simulate(&["--html", path]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{path}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with("simulate: --html: "), "{err}");
        assert!(err.contains(path) && err.contains(why), "{err}");
        assert!(!err.contains("panicked"), "{err}");
        // Checked before the run: no report was printed and then lost.
        assert!(out.stdout.is_empty());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn html_writes_the_page_atomically_beside_the_summary_and_json_timeline() {
    let dir = scratch("ok");
    let page = dir.join("page.html");
    std::fs::write(&page, "old").unwrap();
    let out = simulate(&["--html", page.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(summary.contains("full detail: --json"), "{summary}");
    assert!(summary.lines().count() <= 30, "{summary}");
    let html = std::fs::read_to_string(&page).unwrap();
    assert_eq!(html.matches("<svg").count(), CHARTS.len());
    // Only the page: the temporary file was renamed over the old one.
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["page.html"]);

    let out = simulate(&["--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let timeline = v["timeline"].as_array().expect("timeline array");
    let minutes: Vec<f64> = timeline.iter().map(|m| m["minute"].as_f64().unwrap()).collect();
    assert_eq!(minutes, [1.0, 1.5]);
    for m in timeline {
        assert!(m.is_object());
        assert!(m["elections_started"].as_u64().is_some());
        assert!(m["contacts_per_node"]["mean"].as_f64().unwrap() > 0.0);
        assert!(m["elected_peers_per_node"]["p90"].as_u64().is_some());
    }
    let started: u64 = timeline
        .iter()
        .map(|m| m["elections_started"].as_u64().unwrap())
        .sum();
    assert_eq!(started, v["elections_started"].as_u64().unwrap());
    std::fs::remove_dir_all(&dir).unwrap();
}
