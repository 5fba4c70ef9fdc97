//! The Prometheus endpoint of `run --metrics ADDR` (feature `metrics-http`,
//! which `cli` turns on).
//!
//! A node's [`Metrics`] are cumulative snapshots, so nothing here counts
//! anything: the owner of the node pushes its latest snapshot into a
//! [`MetricsFeed`] (the `run` loop does so once a second), and a
//! [`prometheus_client`] collector turns whatever snapshot is current into the
//! Prometheus text format (version 0.0.4) at scrape time. Every per-kind
//! counter is one labelled family (`reason`, `kind`), never positional; the
//! election latency is a histogram in seconds with the bucket bounds of
//! [`LATENCY_BUCKETS_MS`]; table sizes are gauges.
//!
//! [`MetricsServer`] serves `GET /metrics` over HTTP/1.x on a std
//! [`TcpListener`] with one thread. The endpoint faces the network, so it is
//! bounded: one connection at a time, a request (line and headers) of at most
//! [`MAX_REQUEST_BYTES`], [`REQUEST_DEADLINE`] for the whole exchange, and a
//! `Connection: close` reply. Anything else gets a 4xx: 404 for another
//! method or path, 400 for a request that is not HTTP, 431 for an oversized
//! one, 408 for one that does not arrive in time.
//!
//! # Why not a server crate
//!
//! Written by hand because no small, maintained server crate keeps all four
//! bounds (reviewed for issue 18, in the crates' published sources):
//!
//! - **tiny_http 0.12.0** (the latest release; also what `rouille` serves
//!   with): `ServerConfig` has only `addr` and `ssl`, no size or time limit
//!   (`src/lib.rs:174`). The accept thread hands each connection to
//!   `util::TaskPool` (`src/lib.rs:323`): "A new thread is created every time
//!   all the existing threads are full", at least 4 (`src/util/task_pool.rs:9`,
//!   `:30`), so connections are served concurrently and threads grow with
//!   them. `read_next_line` (`src/client.rs:80`) pushes bytes into a `Vec`
//!   until CRLF and the header loop reads lines until a blank one, neither
//!   capped; its 408 reply needs an `ErrorKind::TimedOut` read, and nothing
//!   sets a read timeout on accepted sockets, so a slow client holds its
//!   thread for ever. Breaks the size bound, the deadline, one connection at a
//!   time and no thread growth.
//! - **astra 0.4.0** (a blocking server on hyper 1 and mio): `max_workers(1)`
//!   would serve one connection at a time and `http1_max_buf_size(8192)` keeps
//!   the size bound, but `serve` pushes every accepted connection onto an
//!   unbounded queue for the workers (`src/executor.rs`, `execute`), so open
//!   sockets pile up instead of waiting in the listen backlog; it gives hyper
//!   no timer, so hyper's `header_read_timeout` cannot be used and nothing
//!   bounds a slow client; and `serve` loops over `incoming()` with no way to
//!   stop it, so [`MetricsServer::shutdown`] could not join its thread. Breaks
//!   the deadline and the bound on connections held.
//! - **hyper 1** itself on a current-thread tokio runtime could keep every
//!   bound (`http1::Builder::max_buf_size(8192)`, `keep_alive(false)`,
//!   `tokio::time::timeout` around each `serve_connection`, awaited before the
//!   next `accept`), but it is not small: hyper, hyper-util, http, http-body,
//!   httparse, want and an async runtime in the plain std adapter (the
//!   workspace manifest chose `prometheus-client` for having no HTTP stack or
//!   async runtime), to replace the ~210 lines of [`MetricsServer`] and its
//!   helpers.
//! - **httparse** alone is a parser, not a server: the bounds live in the read
//!   loop, which would stay; it would replace only `parse_head` (two dozen
//!   lines) and add a fixed header-count limit the endpoint does not have.

use crate::control::IoStats;
use crate::health::HealthGauges;
use election_proto::node::{FailureReason, Metrics, LATENCY_BUCKETS_MS};
use election_proto::wire::{DecodeError, MessageKind};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Largest request (request line and headers) read; a longer one gets 431.
pub const MAX_REQUEST_BYTES: usize = 8 * 1024;
/// Time one connection may take, from accept to the last byte written.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(5);
/// Most bytes read and discarded after replying to an oversized request
/// (so that the client sees the reply rather than a reset).
const MAX_DRAIN_BYTES: usize = 64 * 1024;
/// Pause after a failed `accept` (e.g. out of file descriptors), so that a
/// persistent failure does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// What the collector exports: a node's latest metrics and transport counters.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    /// The node's cumulative protocol counters and table sizes.
    pub metrics: Metrics,
    /// The adapter's transport counters.
    pub io: IoStats,
}

/// Where the node's owner puts the latest [`Snapshot`]; cheap to clone, and
/// every clone shares one snapshot.
#[derive(Clone, Debug, Default)]
pub struct MetricsFeed {
    latest: Arc<Mutex<Option<Snapshot>>>,
    health: Arc<Mutex<Option<HealthGauges>>>,
}

impl MetricsFeed {
    /// An empty feed: until the first [`update`](Self::update) a scrape
    /// returns no node series.
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces the exported snapshot (not added to it: the node's counters
    /// are cumulative already).
    pub fn update(&self, metrics: Metrics, io: IoStats) {
        *self.latest.lock().unwrap_or_else(PoisonError::into_inner) = Some(Snapshot { metrics, io });
    }

    /// Replaces the exported eclipse figures ([`HealthGauges`], from the
    /// host's [`HealthWatch`](crate::health::HealthWatch)); until the first
    /// call a scrape exports none.
    pub fn update_health(&self, gauges: HealthGauges) {
        *self.health.lock().unwrap_or_else(PoisonError::into_inner) = Some(gauges);
    }

    /// The eclipse figures a scrape would export now.
    pub fn latest_health(&self) -> Option<HealthGauges> {
        *self.health.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The snapshot a scrape would export now.
    pub fn latest(&self) -> Option<Snapshot> {
        self.latest.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// A registry holding this feed's collector (one per process or node;
    /// nothing global).
    pub fn registry(&self) -> Registry {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(FeedCollector(self.clone())));
        registry
    }

    /// The current snapshot in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail, and the collector only fails
        // when its writer does.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry());
        out
    }
}

#[derive(Debug)]
struct FeedCollector(MetricsFeed);

fn counter(enc: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> fmt::Result {
    let c = ConstCounter::new(value);
    c.encode(enc.encode_descriptor(name, help, None, c.metric_type())?)
}

fn gauge(enc: &mut DescriptorEncoder, name: &str, help: &str, value: usize) -> fmt::Result {
    let g = ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX));
    g.encode(enc.encode_descriptor(name, help, None, g.metric_type())?)
}

fn ratio(enc: &mut DescriptorEncoder, name: &str, help: &str, value: f64) -> fmt::Result {
    let g = ConstGauge::new(value);
    g.encode(enc.encode_descriptor(name, help, None, g.metric_type())?)
}

fn labelled<'a>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    label: &'static str,
    values: impl IntoIterator<Item = (&'a str, u64)>,
) -> fmt::Result {
    let mut family = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (value, count) in values {
        ConstCounter::new(count).encode(family.encode_family(&[(label, value)])?)?;
    }
    Ok(())
}

impl Collector for FeedCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
        let Some(Snapshot { metrics: m, io }) = self.0.latest() else {
            return Ok(());
        };
        let e = &mut enc;
        counter(
            e,
            "elections_started",
            "Elections started, including those that failed at once.",
            m.elections_started,
        )?;
        counter(
            e,
            "elections_succeeded",
            "Elections that elected a peer.",
            m.elections_succeeded,
        )?;
        labelled(
            e,
            "elections_failed",
            "Elections that failed, by reason.",
            "reason",
            FailureReason::ALL.map(|r| (r.name(), m.failed(r))),
        )?;
        {
            let bounds = LATENCY_BUCKETS_MS
                .iter()
                .map(|b| *b as f64 / 1000.0)
                .chain([f64::INFINITY]);
            let buckets: Vec<(f64, u64)> = bounds.zip(m.latency_histogram.iter().copied()).collect();
            let count = m.latency_histogram.iter().sum();
            let mut h = e.encode_descriptor(
                "election_latency_seconds",
                "Latency of successful elections.",
                None,
                MetricType::Histogram,
            )?;
            h.encode_histogram::<NoLabelSet>(m.latency_sum_ms as f64 / 1000.0, count, &buckets, None)?;
        }
        counter(e, "split_brains", "Split-brain verdicts seen.", m.split_brains)?;
        counter(
            e,
            "partition_alerts",
            "Partition alerts raised.",
            m.partition_alerts,
        )?;
        counter(
            e,
            "election_messages_sent",
            "Queries this node's own elections sent.",
            m.election_messages_sent,
        )?;
        let kinds = MessageKind::ALL;
        labelled(
            e,
            "datagrams_sent",
            "Datagrams sent, by message kind.",
            "kind",
            kinds.map(|k| (k.as_str(), m.sent.count[k.index()])),
        )?;
        labelled(
            e,
            "datagram_bytes_sent",
            "Bytes sent, by message kind.",
            "kind",
            kinds.map(|k| (k.as_str(), m.sent.bytes[k.index()])),
        )?;
        labelled(
            e,
            "datagrams_received",
            "Datagrams received and decoded, by message kind.",
            "kind",
            kinds.map(|k| (k.as_str(), m.received.count[k.index()])),
        )?;
        labelled(
            e,
            "datagram_bytes_received",
            "Bytes received and decoded, by message kind.",
            "kind",
            kinds.map(|k| (k.as_str(), m.received.bytes[k.index()])),
        )?;
        labelled(
            e,
            "decode_errors",
            "Datagrams dropped as undecodable, by kind of error.",
            "kind",
            DecodeError::NAMES
                .iter()
                .copied()
                .zip(m.decode_errors.iter().copied()),
        )?;
        labelled(
            e,
            "queries_handled",
            "Queries from other nodes, by what this node did with them.",
            "outcome",
            [
                ("answered", m.queries_answered),
                ("forwarded", m.queries_forwarded),
                ("referred", m.queries_referred),
                ("loop_cut", m.loops_cut),
                ("forward_table_full", m.forward_table_full),
            ],
        )?;
        labelled(
            e,
            "replies_dropped",
            "Replies not used, by why.",
            "reason",
            [
                ("duplicate_answer", m.duplicate_answers),
                ("conflicting_answer", m.conflicting_answers),
                ("invalid_signature", m.invalid_signatures),
                ("unmatched", m.unmatched_replies),
            ],
        )?;
        counter(
            e,
            "replies_relayed",
            "Replies relayed back along a reverse path.",
            m.replies_relayed,
        )?;
        counter(
            e,
            "channel_timeouts",
            "Channels abandoned after the channel timeout.",
            m.channel_timeouts,
        )?;
        counter(
            e,
            "encode_errors",
            "Outgoing messages that could not be encoded.",
            m.encode_errors,
        )?;
        labelled(
            e,
            "transport_errors",
            "Socket errors and dropped events, by kind.",
            "kind",
            [
                ("send", io.send_errors),
                ("recv", io.recv_errors),
                ("event_dropped", io.events_dropped),
            ],
        )?;
        gauge(e, "contacts", "Known contacts.", m.contacts)?;
        gauge(e, "elected_peers", "Elected peers.", m.elected_peers)?;
        gauge(e, "forward_entries", "Reverse-path entries.", m.forward_entries)?;
        gauge(e, "active_elections", "Elections running.", m.active_elections)?;
        labelled(
            e,
            "contacts_rejected",
            "Contacts or candidates refused, by why.",
            "reason",
            [
                ("before_probe", m.rejected_before_probe),
                ("group_full", m.rejected_group_full),
                ("table_full", m.rejected_table_full),
            ],
        )?;
        if let Some(h) = self.0.latest_health() {
            ratio(
                e,
                "contacts_largest_subnet_share",
                "Largest share of the contacts in one subnet (/24, /64).",
                h.largest_subnet_share,
            )?;
            ratio(
                e,
                "contacts_largest_block_share",
                "Largest share of the contacts in one public /16 (IPv4) or /48 (IPv6).",
                h.largest_block_share,
            )?;
            if let Some(r) = h.recent_success {
                ratio(
                    e,
                    "recent_success_ratio",
                    "Success rate of the last 20 finished elections.",
                    r,
                )?;
            }
            if let Some(r) = h.recent_exhausted {
                ratio(
                    e,
                    "recent_exhausted_ratio",
                    "Share of the last 20 finished elections that ended exhausted.",
                    r,
                )?;
            }
            gauge(
                e,
                "health_warnings_active",
                "Health warnings raised now (see the log).",
                h.warnings_active,
            )?;
        }
        Ok(())
    }
}

/// The HTTP endpoint: one thread serving `GET /metrics` from a [`MetricsFeed`]
/// (see the [module docs](self) for its limits). Stops when dropped.
#[derive(Debug)]
pub struct MetricsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// Binds `addr` (port 0: any free port) and starts serving `feed`.
    pub fn start(addr: SocketAddr, feed: MetricsFeed) -> io::Result<Self> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("metrics-http".into())
            .spawn(move || serve(listener, feed, &flag))?;
        Ok(Self {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving and waits for the thread (at most one request in
    /// progress, itself bounded by [`REQUEST_DEADLINE`]).
    pub fn shutdown(mut self) {
        self.stop_thread();
    }

    fn stop_thread(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept with a connection of our own.
        let mut wake = self.addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(match wake {
                SocketAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
            });
        }
        if TcpStream::connect_timeout(&wake, Duration::from_secs(1)).is_ok() {
            let _ = thread.join();
        }
        // Otherwise the thread stays parked in accept until the process exits.
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop_thread();
    }
}

fn serve(listener: TcpListener, feed: MetricsFeed, stop: &AtomicBool) {
    loop {
        let accepted = listener.accept();
        if stop.load(Ordering::SeqCst) {
            return;
        }
        match accepted {
            Ok((stream, peer)) => {
                if let Err(e) = handle(stream, &feed) {
                    log::debug!("metrics request from {peer}: {e}");
                }
            }
            Err(e) => {
                log::debug!("metrics accept: {e}");
                std::thread::sleep(ACCEPT_ERROR_PAUSE);
            }
        }
    }
}

/// What a request asked for, as far as this server cares.
#[derive(Debug, PartialEq, Eq)]
enum Request {
    Metrics,
    NotFound,
    Malformed,
    TooLarge,
    TimedOut,
}

/// Reads one request head: at most [`MAX_REQUEST_BYTES`], before `deadline`.
fn read_request(stream: &mut TcpStream, deadline: Instant) -> Request {
    let mut buf = vec![0u8; MAX_REQUEST_BYTES];
    let mut len = 0;
    loop {
        if let Some(end) = find_head_end(&buf[..len]) {
            return parse_head(&buf[..end]);
        }
        if len == buf.len() {
            return Request::TooLarge;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return Request::TimedOut;
        }
        match stream.read(&mut buf[len..]) {
            Ok(0) => {
                return if len == 0 {
                    Request::TimedOut
                } else {
                    Request::Malformed
                }
            }
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Request::TimedOut,
        }
    }
}

/// Index just past the blank line ending the head (`\r\n\r\n` or `\n\n`).
fn find_head_end(bytes: &[u8]) -> Option<usize> {
    let crlf = bytes.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    let lf = bytes.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn parse_head(head: &[u8]) -> Request {
    let Ok(text) = std::str::from_utf8(head) else {
        return Request::Malformed;
    };
    let line = text.lines().next().unwrap_or("");
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Request::Malformed;
    };
    if !version.starts_with("HTTP/1.") || method.is_empty() || !target.starts_with('/') {
        return Request::Malformed;
    }
    let path = target.split('?').next().unwrap_or(target);
    if method == "GET" && path == "/metrics" {
        Request::Metrics
    } else {
        Request::NotFound
    }
}

fn handle(mut stream: TcpStream, feed: &MetricsFeed) -> io::Result<()> {
    let deadline = Instant::now() + REQUEST_DEADLINE;
    stream.set_write_timeout(Some(REQUEST_DEADLINE))?;
    let request = read_request(&mut stream, deadline);
    let (status, content_type, body) = match request {
        Request::Metrics => (
            "200 OK",
            prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
            feed.render(),
        ),
        Request::NotFound => (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "not found; try GET /metrics\n".into(),
        ),
        Request::Malformed => (
            "400 Bad Request",
            "text/plain; charset=utf-8",
            "bad request\n".into(),
        ),
        Request::TooLarge => (
            "431 Request Header Fields Too Large",
            "text/plain; charset=utf-8",
            format!("request larger than {MAX_REQUEST_BYTES} bytes\n"),
        ),
        Request::TimedOut => (
            "408 Request Timeout",
            "text/plain; charset=utf-8",
            "request timeout\n".into(),
        ),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    stream.flush()?;
    stream.shutdown(Shutdown::Write)?;
    if request != Request::Metrics {
        // Read (and drop) what the client still sends, briefly and boundedly,
        // so that closing does not reset the connection before it has read
        // the reply.
        let mut sink = [0u8; 4096];
        let mut drained = 0;
        while drained < MAX_DRAIN_BYTES {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
                break;
            }
            match stream.read(&mut sink) {
                Ok(0) | Err(_) => break,
                Ok(n) => drained += n,
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_heads_are_classified() {
        assert_eq!(
            parse_head(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Request::Metrics
        );
        assert_eq!(parse_head(b"GET /metrics?x=1 HTTP/1.0\r\n\r\n"), Request::Metrics);
        assert_eq!(parse_head(b"GET / HTTP/1.1\r\n\r\n"), Request::NotFound);
        assert_eq!(parse_head(b"POST /metrics HTTP/1.1\r\n\r\n"), Request::NotFound);
        assert_eq!(parse_head(b"GET /metrics\r\n\r\n"), Request::Malformed);
        assert_eq!(parse_head(b"GET /metrics SMTP/1\r\n\r\n"), Request::Malformed);
        assert_eq!(
            parse_head(b"\xff\xfe /metrics HTTP/1.1\r\n\r\n"),
            Request::Malformed
        );
        assert_eq!(parse_head(b"GET metrics HTTP/1.1\r\n\r\n"), Request::Malformed);
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\nA: b\r\n"), None);
        assert_eq!(find_head_end(b"GET / HTTP/1.1\n\nrest"), Some(16));
    }

    #[test]
    fn an_empty_feed_renders_no_node_series() {
        let feed = MetricsFeed::new();
        assert!(!feed.render().contains("elections_started"));
        feed.update(Metrics::default(), IoStats::default());
        let text = feed.render();
        assert!(text.contains("elections_started_total 0\n"), "{text}");
        assert!(
            text.contains("elections_failed_total{reason=\"timeout\"} 0\n"),
            "{text}"
        );
        assert!(!text.contains("recent_success_ratio"), "no health figures yet");
    }

    #[test]
    fn rejections_by_reason_and_eclipse_figures_are_exported() {
        let feed = MetricsFeed::new();
        let m = Metrics {
            contacts_rejected: 7,
            rejected_before_probe: 5,
            rejected_group_full: 2,
            ..Metrics::default()
        };
        feed.update(m, IoStats::default());
        feed.update_health(HealthGauges {
            largest_subnet_share: 0.5,
            largest_block_share: 0.75,
            recent_success: Some(0.25),
            recent_exhausted: None,
            warnings_active: 2,
        });
        let text = feed.render();
        for line in [
            "contacts_rejected_total{reason=\"before_probe\"} 5\n",
            "contacts_rejected_total{reason=\"group_full\"} 2\n",
            "contacts_rejected_total{reason=\"table_full\"} 0\n",
            "contacts_largest_subnet_share 0.5\n",
            "contacts_largest_block_share 0.75\n",
            "recent_success_ratio 0.25\n",
            "health_warnings_active 2\n",
        ] {
            assert!(text.contains(line), "{line:?} missing from {text}");
        }
        assert!(!text.contains("recent_exhausted_ratio"), "not known yet");
    }
}
