//! On-disk ledger against `MemoryStore`, in the same run (feature `ledger-db`).
//!
//! ```text
//! cargo bench -p runtime-std --features ledger-db --bench ledger_db -- [--tokens 1000000,3000000]
//!     [--walks 20000] [--dir DIR] [--cold] [--cluster-secs 180] [--skip-stores]
//! ```
//!
//! Per ledger size: build time of the `MemoryStore` and import time of the
//! database (per million tokens), bytes on disk and RSS per token, and the
//! time of one signature (`generate_signature`: a lookup and ten suffix steps)
//! p50/p99 on both stores, warm, and on the database cold (a fresh reader;
//! with `--cold`, also after dropping the OS page cache: needs root). The RSS
//! of a reader doing walks is measured in a child process of its own.
//!
//! `--cluster-secs S`: 16 nodes on loopback over one ledger database that
//! receives a batch of changes every 500 ms; node 15 reads a copy that stops
//! receiving them after a third of the run. Reports the followers' election
//! success, how long a newly inserted token takes to be electable, and when
//! the laggard left the followers' tables.

use election_proto::node::{Event, EvictionReason, FailureReason, Node, NodeConfig};
use election_proto::wire::Contact;
use election_proto::{generate_signature, BlockId, MemoryStore, PeerId, TokenId, TokenStore};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use runtime_std::cluster::cluster_node_config;
use runtime_std::ledger::write_ledger;
use runtime_std::ledger_db::{Change, LedgerDb, LedgerDbOptions, LedgerDbStore};
use runtime_std::{Clock, Identity, LedgerView, NodeControl, Runtime, StdRuntime};
use std::collections::{BTreeMap, HashSet};
use std::net::{Ipv4Addr, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

struct Args {
    tokens: Vec<usize>,
    walks: usize,
    dir: PathBuf,
    cold: bool,
    cluster_secs: u64,
    skip_stores: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        tokens: vec![1_000_000],
        walks: 20_000,
        dir: std::env::temp_dir().join("election-ledger-bench"),
        cold: false,
        cluster_secs: 0,
        skip_stores: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut val = || it.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--tokens" => {
                a.tokens = val()?
                    .split(',')
                    .map(|s| {
                        s.trim()
                            .replace('_', "")
                            .parse()
                            .map_err(|e| format!("--tokens: {e}"))
                    })
                    .collect::<Result<_, _>>()?
            }
            "--walks" => a.walks = val()?.parse().map_err(|e| format!("--walks: {e}"))?,
            "--dir" => a.dir = PathBuf::from(val()?),
            "--cold" => a.cold = true,
            "--cluster-secs" => {
                a.cluster_secs = val()?.parse().map_err(|e| format!("--cluster-secs: {e}"))?
            }
            "--skip-stores" => a.skip_stores = true,
            "--bench" => {} // cargo bench passes it
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(a)
}

fn main() {
    let raw: Vec<String> = std::env::args().collect();
    if raw.get(1).map(String::as_str) == Some("--child-rss") {
        child_rss(Path::new(&raw[2]), raw[3].parse().unwrap_or(10_000));
        return;
    }
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    std::fs::create_dir_all(&args.dir).expect("bench directory");
    if !args.skip_stores {
        for &n in &args.tokens {
            stores(n, &args);
        }
    }
    if args.cluster_secs > 0 {
        cluster(&args);
    }
}

/// Mappings of a random ledger of `n` tokens (seeded: the same every run).
fn ledger(n: usize, seed: u64) -> Vec<(TokenId, BlockId)> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let t: [u8; 32] = rng.random();
            (TokenId::new(t), BlockId::new(*blake3::hash(&t).as_bytes()))
        })
        .collect()
}

fn proc_status(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse::<u64>().ok()))
        })
        .map_or(0, |kb| kb * 1024)
}

fn pct(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// Involuntary context switches of this thread so far (0 if unreadable).
fn preemptions() -> u64 {
    std::fs::read_to_string("/proc/thread-self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("nonvoluntary_ctxt_switches:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Walk times (µs, sorted): all of them, and those during which the thread
/// was not preempted (this machine is shared: a walk that loses the CPU
/// measures the other jobs, not the store). Plus how many walks failed.
struct Timed {
    all: Vec<f64>,
    unpreempted: Vec<f64>,
    unsigned: usize,
}

fn time_walks(store: &dyn TokenStore, picks: &[(TokenId, PeerId)]) -> Timed {
    let mut all = Vec::with_capacity(picks.len());
    let mut unpreempted = Vec::with_capacity(picks.len());
    let mut unsigned = 0;
    for (t, c) in picks {
        let before = preemptions();
        let start = Instant::now();
        let sig = generate_signature(store, t, c);
        let us = start.elapsed().as_secs_f64() * 1e6;
        all.push(us);
        if preemptions() == before {
            unpreempted.push(us);
        }
        unsigned += usize::from(sig.is_none());
    }
    all.sort_by(f64::total_cmp);
    unpreempted.sort_by(f64::total_cmp);
    Timed {
        all,
        unpreempted,
        unsigned,
    }
}

fn drop_os_cache() -> bool {
    let _ = std::process::Command::new("sync").status();
    std::fs::write("/proc/sys/vm/drop_caches", "1\n").is_ok()
}

fn stores(n: usize, args: &Args) {
    let m = n as f64 / 1e6;
    println!("\n== {n} tokens");
    let mappings = ledger(n, 42);
    let rss0 = proc_status("RssAnon:");
    let t = Instant::now();
    let memory = MemoryStore::from_mappings(mappings.iter().copied());
    let build = t.elapsed().as_secs_f64();
    let mem_rss = proc_status("RssAnon:").saturating_sub(rss0);
    println!(
        "MemoryStore: build {:.2} s ({:.2} s per million), RSS +{:.1} MB ({:.1} B/token)",
        build,
        build / m,
        mem_rss as f64 / 1e6,
        mem_rss as f64 / n as f64
    );

    // Import through the operator's path: a ledger file parsed line by line.
    let text = args.dir.join(format!("ledger-{n}.txt"));
    let db_path = args.dir.join(format!("ledger-{n}.redb"));
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&text).expect("ledger file"));
        write_ledger(&mut f, memory.iter()).expect("write ledger");
    }
    let _ = std::fs::remove_file(&db_path);
    let t = Instant::now();
    let before_compaction;
    {
        let mut db = LedgerDb::create(&db_path).expect("create");
        let f = std::io::BufReader::with_capacity(1 << 16, std::fs::File::open(&text).expect("open"));
        db.import(f, &text).expect("import");
        before_compaction = std::fs::metadata(&db_path).map_or(0, |md| md.len());
        db.compact().expect("compact"); // what `election-node ledger import` does
    }
    let import = t.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&text);
    let bytes = std::fs::metadata(&db_path).map_or(0, |md| md.len());
    println!(
        "LedgerDb import (text file, one commit, then compaction): {:.2} s ({:.2} s per million, \
         {:.1}x the MemoryStore build); {:.1} MB on disk ({:.1} B/token; {:.1} B/token before compaction)",
        import,
        import / m,
        import / build,
        bytes as f64 / 1e6,
        bytes as f64 / n as f64,
        before_compaction as f64 / n as f64
    );

    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let picks: Vec<(TokenId, PeerId)> = (0..args.walks)
        .map(|_| {
            let (t, _) = mappings[rng.random_range(0..mappings.len())];
            (t, PeerId::new(rng.random()))
        })
        .collect();
    let show = |name: &str, t: &Timed| {
        println!(
            "  {name:<44} p50 {:>7.2} µs  p99 {:>8.2} µs  (not preempted: {} walks, p50 {:>6.2} µs, p99 {:>7.2} µs)  \
             mean {:>7.2} µs  {} walks, {} unsigned",
            pct(&t.all, 0.5),
            pct(&t.all, 0.99),
            t.unpreempted.len(),
            pct(&t.unpreempted, 0.5),
            pct(&t.unpreempted, 0.99),
            t.all.iter().sum::<f64>() / t.all.len() as f64,
            t.all.len(),
            t.unsigned
        );
        (pct(&t.unpreempted, 0.5), pct(&t.unpreempted, 0.99))
    };
    println!(
        "signature generation (lookup + 10 suffix steps), {} random tokens and challengers:",
        args.walks
    );
    // Cold: a fresh reader (empty redb cache); optionally an empty OS cache too.
    if args.cold {
        if drop_os_cache() {
            let store = LedgerDbStore::open(&db_path, LedgerDbOptions::default()).expect("open");
            show(
                "LedgerDbStore cold (fresh reader, OS cache dropped)",
                &time_walks(&store, &picks),
            );
        } else {
            println!("  (cannot drop the OS page cache: not root?)");
        }
    }
    let store = LedgerDbStore::open(&db_path, LedgerDbOptions::default()).expect("open");
    show(
        "LedgerDbStore cold (fresh reader, OS cache warm)",
        &time_walks(&store, &picks),
    );
    // Warm: the same walks again, interleaved with the memory store's so
    // that both see the same machine load.
    let mut disk = Timed {
        all: Vec::new(),
        unpreempted: Vec::new(),
        unsigned: 0,
    };
    let mut mem = Timed {
        all: Vec::new(),
        unpreempted: Vec::new(),
        unsigned: 0,
    };
    for chunk in picks.chunks(1000) {
        for (into, t) in [
            (&mut disk, time_walks(&store, chunk)),
            (&mut mem, time_walks(&memory, chunk)),
        ] {
            into.all.extend(t.all);
            into.unpreempted.extend(t.unpreempted);
            into.unsigned += t.unsigned;
        }
    }
    for t in [&mut disk, &mut mem] {
        t.all.sort_by(f64::total_cmp);
        t.unpreempted.sort_by(f64::total_cmp);
    }
    let (m50, m99) = show("MemoryStore", &mem);
    let (d50, d99) = show("LedgerDbStore warm (32 MiB cache)", &disk);
    println!(
        "  ratio disk/memory (walks not preempted): p50 {:.1}x, p99 {:.1}x; all walks: p50 {:.1}x, p99 {:.1}x",
        d50 / m50,
        d99 / m99,
        pct(&disk.all, 0.5) / pct(&mem.all, 0.5),
        pct(&disk.all, 0.99) / pct(&mem.all, 0.99)
    );
    for mb in [128usize, 1024] {
        let big = LedgerDbStore::open(
            &db_path,
            LedgerDbOptions {
                cache_bytes: mb << 20,
                ..LedgerDbOptions::default()
            },
        )
        .expect("open");
        time_walks(&big, &picks);
        show(
            &format!("LedgerDbStore warm ({mb} MiB cache)"),
            &time_walks(&big, &picks),
        );
    }
    drop(store);
    drop(memory);

    // A reader's own RSS, in a process that holds nothing else.
    let out = std::process::Command::new(std::env::current_exe().expect("exe"))
        .arg("--child-rss")
        .arg(&db_path)
        .arg(args.walks.max(50_000).to_string())
        .output()
        .expect("child");
    print!("{}", String::from_utf8_lossy(&out.stdout));
    let _ = std::fs::remove_file(&db_path);
}

/// Opens the database, walks, and prints its RSS (for `stores`).
fn child_rss(db: &Path, walks: usize) {
    let before = (proc_status("VmRSS:"), proc_status("RssAnon:"));
    let store = LedgerDbStore::open(db, LedgerDbOptions::default()).expect("open");
    let n = store.len();
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    let mut signed = 0;
    for _ in 0..walks {
        // A random point, its next token in a random bucket, then a walk from it.
        let from = TokenId::new(rng.random());
        if let Some(m) = store.next_with_suffix(&from, rng.random_range(0..1024)) {
            signed += usize::from(generate_signature(&store, &m.id, &PeerId::new(rng.random())).is_some());
        }
    }
    let (rss, anon, file) = (
        proc_status("VmRSS:"),
        proc_status("RssAnon:"),
        proc_status("RssFile:"),
    );
    println!(
        "reader process over {n} tokens after {walks} walks ({signed} signed): VmRSS {:.1} MB \
         (anon {:.1} MB, file {:.1} MB; {:.1} MB before opening) = {:.2} B/token",
        rss as f64 / 1e6,
        anon as f64 / 1e6,
        file as f64 / 1e6,
        before.0 as f64 / 1e6,
        rss as f64 / n.max(1) as f64
    );
}

/// 16 nodes on loopback, one ledger database, a stream of changes; node 15
/// stops following a third of the way in.
fn cluster(args: &Args) {
    const NODES: usize = 16;
    const TOKENS: usize = 32 * 1024;
    const BATCH_MS: u64 = 500;
    const CHANGED_PER_BATCH: usize = 160; // 0.5 % of the ledger per batch, 1 %/s
    let secs = args.cluster_secs;
    let stop_following = Duration::from_secs(secs / 3);
    println!(
        "\n== cluster: {NODES} nodes, {TOKENS} tokens, a batch every {BATCH_MS} ms \
         ({CHANGED_PER_BATCH} blocks changed, 8 inserted, 8 removed, 1 probe token), {secs} s; \
         node 15 stops following at {} s",
        stop_following.as_secs()
    );
    let main_path = args.dir.join("cluster-main.redb");
    let lag_path = args.dir.join("cluster-lag.redb");
    let mut ledger_now: BTreeMap<TokenId, BlockId> = ledger(TOKENS, 5).into_iter().collect();
    let mut writers = Vec::new();
    for p in [&main_path, &lag_path] {
        let _ = std::fs::remove_file(p);
        let w = LedgerDb::create(p).expect("create");
        w.apply(ledger_now.iter().map(|(t, b)| Change::Put(*t, *b)))
            .expect("fill");
        writers.push(w);
    }
    let initial_bytes = std::fs::metadata(&main_path).map_or(0, |m| m.len());
    // Time-scaled healing: the cluster elects every 2.5 s instead of 60 s (24x),
    // so re-verification and liveness run 24x faster too.
    let mut config: NodeConfig = cluster_node_config();
    config.health.reverify_period_ms = 600_000 / 24;
    config.health.liveness_interval_ms = 240_000 / 24;
    config.health.recheck_ms = 15_000 / 24;
    let runtime = StdRuntime;
    let clock = Clock::new();
    let mut members = Vec::new();
    for i in 0..NODES {
        let identity = Identity::from_u64(1_000 + i as u64);
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let contact = Contact {
            id: identity.peer_id(),
            addr: socket.local_addr().expect("addr"),
        };
        members.push((identity, socket, contact));
    }
    let contacts: Vec<Contact<_>> = members.iter().map(|m| m.2.clone()).collect();
    let mut nodes: Vec<Box<dyn NodeControl>> = Vec::new();
    for (i, (identity, socket, contact)) in members.into_iter().enumerate() {
        let path = if i == NODES - 1 { &lag_path } else { &main_path };
        let store = LedgerDbStore::open(path, LedgerDbOptions::default()).expect("reader");
        let node = Node::new(
            config.clone(),
            identity.key(),
            contact.addr,
            LedgerView::from_db(store),
            identity.derived_rng_seed(0),
        )
        .expect("node");
        let node = runtime.spawn(node, socket, clock).expect("spawn");
        // Ring neighbours and a few others, as `cluster` does.
        let known: Vec<_> = (1..=3).map(|k| contacts[(i + k) % NODES].clone()).collect();
        node.add_contacts(known).expect("contacts");
        nodes.push(node);
    }
    let laggard = nodes[NODES - 1].id();
    let mut rng = ChaCha20Rng::seed_from_u64(11);
    let start = Instant::now();
    let mut next_batch = start + Duration::from_millis(BATCH_MS);
    let mut followed = true;
    let mut generation_commits = 0u64;
    // Probe tokens: inserted in a batch; a follower asks for an election on
    // each until one succeeds.
    let mut probes: Vec<(TokenId, Instant, usize, Option<Duration>)> = Vec::new();
    let mut last_probe_try = Instant::now();
    let (mut started, mut succeeded) = (0u64, 0u64);
    let mut probe_set: HashSet<TokenId> = HashSet::new();
    let mut follower_failures: BTreeMap<String, u64> = BTreeMap::new();
    let mut file_sizes: Vec<(u64, f64)> = Vec::new();
    let mut next_size = start + Duration::from_secs(30);
    let (mut f_started, mut f_succeeded) = (0u64, 0u64);
    let mut misaligned_evictions_of_laggard = Vec::new();
    let mut laggard_in_tables_at_stop = 0usize;
    let mut laggard_gone_at: Option<Duration> = None;
    let mut last_check = Instant::now();
    while start.elapsed() < Duration::from_secs(secs) {
        let now = Instant::now();
        if now >= next_batch {
            next_batch += Duration::from_millis(BATCH_MS);
            let keys: Vec<TokenId> = ledger_now.keys().copied().collect();
            let mut batch = Vec::new();
            for _ in 0..CHANGED_PER_BATCH {
                let t = keys[rng.random_range(0..keys.len())];
                batch.push(Change::Put(t, BlockId::new(rng.random())));
            }
            for _ in 0..8 {
                batch.push(Change::Remove(keys[rng.random_range(0..keys.len())]));
                batch.push(Change::Put(
                    TokenId::new(rng.random()),
                    BlockId::new(rng.random()),
                ));
            }
            let probe = TokenId::new(rng.random());
            batch.push(Change::Put(probe, BlockId::new(rng.random())));
            for c in &batch {
                match *c {
                    Change::Put(t, b) => {
                        ledger_now.insert(t, b);
                    }
                    Change::Remove(t) => {
                        ledger_now.remove(&t);
                    }
                }
            }
            if followed && start.elapsed() >= stop_following {
                followed = false;
                laggard_in_tables_at_stop = in_tables(&nodes, &laggard);
            }
            let targets = if followed { &writers[..] } else { &writers[..1] };
            for w in targets {
                w.apply(batch.iter().copied()).expect("apply");
            }
            generation_commits += 1;
            probes.push((probe, Instant::now(), rng.random_range(0..NODES - 1), None));
            probe_set.insert(probe);
            if Instant::now() >= next_size {
                next_size += Duration::from_secs(30);
                let mb = std::fs::metadata(&main_path).map_or(0, |m| m.len()) as f64 / 1e6;
                file_sizes.push((start.elapsed().as_secs(), mb));
            }
        }
        // Ask for the pending probes every 250 ms (an election is refused
        // while the node's view does not hold the token yet).
        if last_probe_try.elapsed() >= Duration::from_millis(250) {
            last_probe_try = Instant::now();
            for (t, _, who, done) in probes.iter().rev().take(8) {
                if done.is_none() {
                    let _ = nodes[*who].start_election(*t);
                }
            }
        }
        for (i, node) in nodes.iter_mut().enumerate() {
            while let Some(e) = node.try_event() {
                match e {
                    // The node's own elections (scheduled, re-verification,
                    // discovery), not the probes this harness asks for.
                    Event::ElectionFailed { token, reason, .. }
                        if reason != FailureReason::Shutdown && !probe_set.contains(&token) =>
                    {
                        started += 1;
                        f_started += u64::from(i < NODES - 1);
                        if i < NODES - 1 {
                            *follower_failures.entry(format!("{reason:?}")).or_insert(0u64) += 1;
                        }
                    }
                    Event::Elected { token, .. } => {
                        if !probe_set.contains(&token) {
                            started += 1;
                            succeeded += 1;
                            f_started += u64::from(i < NODES - 1);
                            f_succeeded += u64::from(i < NODES - 1);
                        }
                        for p in probes.iter_mut() {
                            if p.0 == token && p.3.is_none() {
                                p.3 = Some(p.1.elapsed());
                            }
                        }
                    }
                    Event::PeerEvicted { peer, reason }
                        if peer == laggard && reason == EvictionReason::Misaligned && !followed =>
                    {
                        misaligned_evictions_of_laggard.push(start.elapsed().saturating_sub(stop_following));
                    }
                    _ => {}
                }
            }
        }
        if !followed && laggard_gone_at.is_none() && last_check.elapsed() >= Duration::from_millis(500) {
            last_check = Instant::now();
            if in_tables(&nodes, &laggard) == 0 {
                laggard_gone_at = Some(start.elapsed().saturating_sub(stop_following));
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let in_tables_end = in_tables(&nodes, &laggard);
    let mut lat: Vec<f64> = probes
        .iter()
        .filter_map(|p| p.3.map(|d| d.as_secs_f64() * 1e3))
        .collect();
    lat.sort_by(f64::total_cmp);
    let stopped: Vec<_> = nodes.into_iter().map(|n| n.stop()).collect();
    let peers_per_follower: Vec<usize> = stopped
        .iter()
        .take(NODES - 1)
        .filter_map(|s| s.as_ref().ok().map(|s| s.metrics.elected_peers))
        .collect();
    println!(
        "{generation_commits} batches committed; the nodes' own elections (probes excluded): \
         {succeeded}/{started} succeeded overall, followers {f_succeeded}/{f_started} ({:.1} %); \
         followers' failures {follower_failures:?}",
        100.0 * f_succeeded as f64 / f_started.max(1) as f64
    );
    println!(
        "new token electable after its commit: {} of {} probes, p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms \
         (election interval {} ms, reader staleness 1000 ms)",
        lat.len(),
        probes.len(),
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        lat.last().copied().unwrap_or(f64::NAN),
        config.health.election_interval_ms
    );
    let ev: HashSet<u64> = misaligned_evictions_of_laggard
        .iter()
        .map(|d| d.as_secs())
        .collect();
    println!(
        "laggard (stopped following at {} s): in {laggard_in_tables_at_stop} follower tables then; \
         {} misaligned evictions by followers, first after {:?}, last after {:?}; \
         out of every table after {:?}; in {in_tables_end} tables at the end \
         (followers' elected peers at the end: {:?}; {} distinct seconds)",
        stop_following.as_secs(),
        misaligned_evictions_of_laggard.len(),
        misaligned_evictions_of_laggard.first(),
        misaligned_evictions_of_laggard.last(),
        laggard_gone_at,
        peers_per_follower,
        ev.len()
    );
    println!(
        "database file: {:.2} MB after the initial fill, {file_sizes:?} (s, MB) every 30 s, {:.2} MB at the end ({} tokens)",
        initial_bytes as f64 / 1e6,
        std::fs::metadata(&main_path).map_or(0, |m| m.len()) as f64 / 1e6,
        ledger_now.len()
    );
    let _ = std::fs::remove_file(&main_path);
    let _ = std::fs::remove_file(&lag_path);
}

fn in_tables(nodes: &[Box<dyn NodeControl>], peer: &PeerId) -> usize {
    nodes
        .iter()
        .filter(|n| n.id() != *peer)
        .filter(|n| {
            n.snapshot()
                .map(|s| s.elected.iter().any(|p| p.contact.id == *peer))
                .unwrap_or(false)
        })
        .count()
}
