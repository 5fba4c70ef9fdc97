//! Stable replay of the fuzz targets (`fuzz/`), so CI covers fuzzing without nightly.
//!
//! For each target (`decode`, `election`, `node`) this replays every file of the
//! committed corpus (`fuzz/corpus/<target>/`: seeds and regression inputs) and a
//! few thousand inputs from a deterministic generator through the same harness
//! the libFuzzer target runs (`election_fuzz_harness`), which panics on any
//! broken invariant. It also checks that the generated inputs reach the
//! interesting states (answers accepted, split-brains, elections won), so a
//! harness change that makes the fuzzing vacuous fails here.
//!
//! The harness crate is a member of the root workspace, so plain
//! `cargo test --workspace` runs this file on stable.
//!
//! `FUZZ_REPLAY_CASES=N` changes the number of generated inputs per target;
//! `FUZZ_REPLAY_WORK=1` also replays what local fuzzing runs found
//! (`fuzz/target/corpus-work/<target>/`), e.g. to check them on stable.
//! `cargo test -p election-fuzz-harness --test replay -- --ignored write_seed_corpus`
//! rewrites the generated seed files (`seed-*`) of the committed corpus.

use arbitrary::Unstructured;
use election_fuzz_harness::{self as fuzzing, ElectionStats, NodeStats};
use election_splitmix::SplitMix64;
use std::path::{Path, PathBuf};

const TARGETS: [&str; 3] = ["decode", "election", "node"];

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../corpus")
        .join(target)
}

/// The committed corpus of `target`, plus, when `FUZZ_REPLAY_WORK` is set, the
/// inputs local fuzzing runs found (`fuzz/target/corpus-work/<target>/`).
fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let mut all = files_in(&corpus_dir(target));
    if std::env::var_os("FUZZ_REPLAY_WORK").is_some() {
        let work = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../target/corpus-work")
            .join(target);
        if work.is_dir() {
            all.extend(files_in(&work));
        }
    }
    all
}

fn files_in(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.expect("corpus entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()));
            (p, bytes)
        })
        .collect()
}

/// Runs `f` on `data`, naming the input if it panics.
fn replay<T>(what: &str, data: &[u8], f: impl Fn(&[u8]) -> T) -> T {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(data))) {
        Ok(t) => t,
        Err(e) => {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("{what} failed: {msg}\ninput ({} bytes): {data:02x?}", data.len());
        }
    }
}

/// Generated inputs: a splitmix64 stream (`election-splitmix`) seeded by the
/// target's name.
struct Gen(SplitMix64);

impl Gen {
    fn new(target: &str) -> Self {
        let seed = target
            .bytes()
            .fold(0x5eed_f00d_u64, |h, b| h.rotate_left(8) ^ u64::from(b));
        Gen(SplitMix64(seed))
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0.next_u64() % n
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.0.next_u64() as u8).collect()
    }
}

fn cases(default: usize) -> usize {
    std::env::var("FUZZ_REPLAY_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The `i`-th generated input for `target`.
fn generated(target: &str, count: usize) -> Vec<Vec<u8>> {
    let mut g = Gen::new(target);
    (0..count)
        .map(|_| match target {
            "decode" => match g.below(4) {
                // Random bytes behind the right version byte (rarely valid).
                0 => {
                    let len = g.below(1_300) as usize;
                    let mut b = g.bytes(len);
                    if let Some(first) = b.first_mut() {
                        if g.below(4) > 0 {
                            *first = election_proto::wire::PROTOCOL_VERSION;
                        }
                    }
                    b
                }
                // Valid envelopes, some with a few byte edits.
                _ => {
                    let len = 64 + g.below(1_024) as usize;
                    let raw = g.bytes(len);
                    fuzzing::arbitrary_datagram(&mut Unstructured::new(&raw)).unwrap_or_default()
                }
            },
            "election" => {
                let len = 16 + g.below(1_500) as usize;
                g.bytes(len)
            }
            _ => {
                let len = 64 + g.below(2_000) as usize;
                g.bytes(len)
            }
        })
        .collect()
}

#[test]
fn corpus_has_every_target() {
    for t in TARGETS {
        assert!(!corpus(t).is_empty(), "fuzz/corpus/{t} is empty");
    }
}

#[test]
fn decode_corpus_and_generated() {
    fuzzing::init();
    for (path, data) in corpus("decode") {
        replay(&format!("decode {}", path.display()), &data, fuzzing::decode);
    }
    let inputs = generated("decode", cases(4_000));
    let decoded = inputs
        .iter()
        .enumerate()
        .filter(|(i, d)| replay(&format!("decode generated #{i}"), d, fuzzing::decode))
        .count();
    assert!(
        decoded * 4 >= inputs.len(),
        "only {decoded} of {} generated datagrams decoded",
        inputs.len()
    );
    assert!(decoded < inputs.len(), "no generated datagram was rejected");
}

#[test]
fn election_corpus_and_generated() {
    fuzzing::init();
    let mut total = ElectionStats::default();
    let mut from_corpus = ElectionStats::default();
    for (path, data) in corpus("election") {
        let s = replay(&format!("election {}", path.display()), &data, fuzzing::election);
        add_election(&mut from_corpus, &s);
    }
    println!("election corpus reached {from_corpus:?}");
    for (i, d) in generated("election", cases(3_000)).iter().enumerate() {
        let s = replay(&format!("election generated #{i}"), d, fuzzing::election);
        add_election(&mut total, &s);
    }
    println!("election replay reached {total:?}");
    assert!(
        total.accepted > 0 && total.blocked > 0 && total.referrals > 0,
        "{total:?}"
    );
    assert!(total.singles > 0 && total.split_brains > 0, "{total:?}");
}

#[test]
fn node_corpus_and_generated() {
    fuzzing::init();
    let mut from_corpus = NodeStats::default();
    for (path, data) in corpus("node") {
        let s = replay(&format!("node {}", path.display()), &data, fuzzing::node);
        add_node(&mut from_corpus, &s);
    }
    println!("node corpus reached {from_corpus:?}");
    let mut total = NodeStats::default();
    for (i, d) in generated("node", cases(2_000)).iter().enumerate() {
        let s = replay(&format!("node generated #{i}"), d, fuzzing::node);
        add_node(&mut total, &s);
    }
    println!("node replay reached {total:?}");
    assert!(
        total.sends > 0 && total.answers_sent > 0 && total.forwarded > 0,
        "{total:?}"
    );
    assert!(total.elected > 0 && total.failed > 0, "{total:?}");
    assert!(
        total.retries_sent > 0 && total.cookie_queries_sent > 0,
        "{total:?}"
    );
}

fn add_election(total: &mut ElectionStats, s: &ElectionStats) {
    total.ops += s.ops;
    total.accepted += s.accepted;
    total.blocked += s.blocked;
    total.referrals += s.referrals;
    total.singles += s.singles;
    total.split_brains += s.split_brains;
}

fn add_node(total: &mut NodeStats, s: &NodeStats) {
    total.inputs += s.inputs;
    total.sends += s.sends;
    total.answers_sent += s.answers_sent;
    total.forwarded += s.forwarded;
    total.elected += s.elected;
    total.split_brains += s.split_brains;
    total.failed += s.failed;
    total.evicted += s.evicted;
    total.own_queries += s.own_queries;
    total.started += s.started;
    total.replies_fed += s.replies_fed;
    total.retries_sent += s.retries_sent;
    total.cookie_queries_sent += s.cookie_queries_sent;
}

/// Rewrites the generated seeds of the committed corpus: a few generated inputs
/// per target that reach each interesting state. Regression inputs (any file
/// not named `seed-*`) are left alone.
#[test]
#[ignore = "writes fuzz/corpus; run by hand"]
fn write_seed_corpus() {
    fuzzing::init();
    for t in TARGETS {
        let dir = corpus_dir(t);
        std::fs::create_dir_all(&dir).unwrap();
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("seed-"))
            {
                std::fs::remove_file(p).unwrap();
            }
        }
    }
    let write = |t: &str, name: String, data: &[u8]| {
        std::fs::write(corpus_dir(t).join(format!("seed-{name}")), data).unwrap();
    };

    // decode: one valid datagram of each kind, plus edited ones.
    let mut kinds = [0usize; election_proto::wire::MessageKind::COUNT];
    let mut rejected = 0;
    for (i, d) in generated("decode", 4_000).iter().enumerate() {
        match election_proto::wire::decode::<u32>(d) {
            Ok(env) => {
                let k = env.message.kind().index();
                if kinds[k] < 3 {
                    kinds[k] += 1;
                    write("decode", format!("{}-{i}", env.message.kind()), d);
                }
            }
            Err(_) if rejected < 6 && !d.is_empty() => {
                rejected += 1;
                write("decode", format!("rejected-{i}"), d);
            }
            Err(_) => {}
        }
    }

    // election: inputs reaching a verdict of each kind, blocking and referrals.
    type Pick = fn(&ElectionStats) -> bool;
    let wanted: [(&str, Pick); 4] = [
        ("single", |s| s.singles > 0),
        ("split", |s| s.split_brains > 0),
        ("blocked", |s| s.blocked > 0),
        ("referral", |s| s.referrals > 0),
    ];
    for (name, pick) in wanted {
        let found = generated("election", 3_000)
            .into_iter()
            .enumerate()
            .filter(|(_, d)| pick(&fuzzing::election(d)))
            .take(2)
            .collect::<Vec<_>>();
        for (i, d) in found {
            write("election", format!("{name}-{i}"), &d);
        }
    }

    // node: inputs that elect, split, forward, answer and evict.
    type PickNode = fn(&NodeStats) -> bool;
    let wanted: [(&str, PickNode); 9] = [
        ("retry", |s| s.retries_sent > 0),
        ("cookie-query", |s| s.cookie_queries_sent > 0),
        ("membership-request", |s| s.membership_requests > 0),
        ("membership-reply", |s| s.membership_replies > 0),
        ("elected", |s| s.elected > 0),
        ("split", |s| s.split_brains > 0),
        ("forwarded", |s| s.forwarded > 0),
        ("answered", |s| s.answers_sent > 0),
        ("evicted", |s| s.evicted > 0),
    ];
    let node_inputs = generated("node", 2_000);
    let node_stats: Vec<NodeStats> = node_inputs.iter().map(|d| fuzzing::node(d)).collect();
    for (name, pick) in wanted {
        for (i, _) in node_stats.iter().enumerate().filter(|(_, s)| pick(s)).take(2) {
            write("node", format!("{name}-{i}"), &node_inputs[i]);
        }
    }
}

/// Copies a few inputs that local fuzzing runs found and that reach rare states
/// (split-brains, evictions) from `fuzz/target/corpus-work/` into the committed
/// corpus as `found-*` files, smallest first. Run after `fuzz/run.sh`.
#[test]
#[ignore = "writes fuzz/corpus; run by hand after fuzzing"]
fn promote_found_inputs() {
    fuzzing::init();
    for t in TARGETS {
        for (p, _) in files_in(&corpus_dir(t)) {
            if p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("found-"))
            {
                std::fs::remove_file(p).unwrap();
            }
        }
    }
    let work = |t: &str| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../target/corpus-work")
            .join(t);
        let mut v = if dir.is_dir() { files_in(&dir) } else { Vec::new() };
        v.sort_by_key(|(_, d)| d.len());
        v
    };
    let write = |t: &str, name: &str, data: &[u8]| {
        let digest = blake3::hash(data).to_hex();
        let path = corpus_dir(t).join(format!("found-{name}-{}", &digest[..12]));
        std::fs::write(path, data).unwrap();
    };
    for (_, d) in work("election")
        .iter()
        .filter(|(_, d)| fuzzing::election(d).split_brains > 0)
        .take(3)
    {
        write("election", "split", d);
    }
    type PickNode = fn(&NodeStats) -> bool;
    let node_inputs = work("node");
    let node_stats: Vec<NodeStats> = node_inputs.iter().map(|(_, d)| fuzzing::node(d)).collect();
    let wanted: [(&str, PickNode); 2] = [("split", |s| s.split_brains > 0), ("evicted", |s| s.evicted > 1)];
    for (name, pick) in wanted {
        for (i, _) in node_stats.iter().enumerate().filter(|(_, s)| pick(s)).take(3) {
            write("node", name, &node_inputs[i].1);
        }
    }
}
