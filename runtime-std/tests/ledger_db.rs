//! The on-disk ledger (feature `ledger-db`): the store answers exactly as the
//! in-memory one, follows commits, rejects bad input and bad files without
//! writing, survives `kill -9` mid-batch, and nodes over it elect on what was
//! committed while they ran.

use election_proto::proof::TokenMapping;
use election_proto::{generate_signature, BlockId, MemoryStore, PeerId, TokenId, TokenStore};
use proptest::prelude::*;
use runtime_std::ledger::{synthetic_ledger, write_ledger};
use runtime_std::ledger_db::{
    parse_change_line, read_all, Change, LedgerDb, LedgerDbError, LedgerDbOptions, LedgerDbStore,
    MAX_LINE_BYTES,
};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_election-node");

fn t(n: u64) -> TokenId {
    TokenId::from_u64(n)
}

fn b(n: u64) -> BlockId {
    BlockId::from_u64(n)
}

/// A token with the given high bytes and suffix `s`.
fn tok(bytes: [u8; 32], s: u16) -> TokenId {
    let mut x = bytes;
    x[31] = s as u8;
    x[30] = (x[30] & !0x03) | ((s >> 8) as u8 & 0x03);
    TokenId::new(x)
}

fn fresh(dir: &Path, mappings: impl IntoIterator<Item = (TokenId, BlockId)>) -> (Arc<LedgerDb>, PathBuf) {
    let path = dir.join("ledger.redb");
    let db = LedgerDb::create(&path).expect("create");
    db.apply(mappings.into_iter().map(|(t, b)| Change::Put(t, b)))
        .expect("initial batch");
    (Arc::new(db), path)
}

fn pinned() -> LedgerDbOptions {
    LedgerDbOptions {
        max_staleness: Duration::from_secs(3600),
        ..LedgerDbOptions::default()
    }
}

fn following() -> LedgerDbOptions {
    LedgerDbOptions {
        max_staleness: Duration::ZERO,
        ..LedgerDbOptions::default()
    }
}

fn contents(store: &LedgerDbStore) -> BTreeMap<TokenId, BlockId> {
    read_all(store)
        .expect("readable")
        .into_iter()
        .map(|m| (m.id, m.block))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Every lookup and suffix step of the on-disk store equals the in-memory
    /// store's on the same mappings: wrap-around, `from` itself, empty
    /// buckets, out-of-range suffixes.
    #[test]
    fn answers_equal_the_memory_store(
        raw in prop::collection::vec((any::<[u8; 32]>(), 0u16..4, any::<u64>()), 0..40),
        froms in prop::collection::vec((any::<[u8; 32]>(), 0u16..4), 1..6),
        pick in any::<prop::sample::Index>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let pairs: Vec<(TokenId, BlockId)> = raw.iter().map(|&(x, s, v)| (tok(x, s), b(v))).collect();
        let memory = MemoryStore::from_mappings(pairs.iter().copied());
        let (_db, path) = fresh(dir.path(), pairs.iter().copied());
        let disk = LedgerDbStore::open(&path, pinned()).unwrap();
        prop_assert_eq!(disk.len(), memory.len() as u64);
        let mut starts: Vec<TokenId> = froms.iter().map(|&(x, s)| tok(x, s)).collect();
        if !pairs.is_empty() {
            starts.push(pairs[pick.index(pairs.len())].0);
        }
        starts.extend([TokenId::ZERO, TokenId::MAX]);
        for from in &starts {
            prop_assert_eq!(disk.lookup(from), memory.lookup(from));
            for s in [0u16, 1, 2, 3, 4, 1023, 1024, u16::MAX] {
                prop_assert_eq!(disk.next_with_suffix(from, s), memory.next_with_suffix(from, s));
                prop_assert_eq!(disk.prev_with_suffix(from, s), memory.prev_with_suffix(from, s));
            }
        }
        prop_assert_eq!(disk.errors(), 0);
    }
}

#[test]
fn signatures_equal_the_memory_stores() {
    let dir = tempfile::tempdir().unwrap();
    let memory = synthetic_ledger(7, 20_000);
    let (_db, path) = fresh(dir.path(), memory.iter().map(|m| (m.id, m.block)));
    let disk = LedgerDbStore::open(&path, LedgerDbOptions::default()).unwrap();
    let mut compared = 0;
    for (i, m) in memory.iter().step_by(97).enumerate() {
        let challenger = PeerId::from_u64(i as u64);
        let want = generate_signature(&memory, &m.id, &challenger);
        assert_eq!(generate_signature(&disk, &m.id, &challenger), want);
        compared += usize::from(want.is_some());
    }
    assert!(compared > 150, "only {compared} signatures compared");
    // A token that is not stored gives no signature on either.
    assert_eq!(generate_signature(&disk, &t(3), &PeerId::from_u64(1)), None);
}

#[test]
fn a_commit_is_seen_by_the_next_walk_after_the_staleness_bound_or_a_refresh() {
    let dir = tempfile::tempdir().unwrap();
    let (db, path) = fresh(dir.path(), (1..=100).map(|i| (t(i), b(i))));
    let pinned = LedgerDbStore::open(&path, pinned()).unwrap();
    let follows = LedgerDbStore::open(&path, following()).unwrap();
    let before = pinned.stats();
    let report = db
        .apply([
            Change::Put(t(500), b(5)),
            Change::Remove(t(1)),
            Change::Put(t(2), b(22)),
        ])
        .unwrap();
    assert_eq!(report.generation, before.generation + 1);
    // The pinned store still answers from its snapshot, consistently.
    assert_eq!(pinned.lookup(&t(500)), None);
    assert_eq!(pinned.lookup(&t(1)), Some(b(1)));
    assert_eq!(pinned.lookup(&t(2)), Some(b(2)));
    assert_eq!(pinned.stats(), before);
    // A store with no staleness sees the commit at its next lookup.
    assert_eq!(follows.lookup(&t(500)), Some(b(5)));
    assert_eq!(follows.lookup(&t(1)), None);
    assert_eq!(follows.lookup(&t(2)), Some(b(22)));
    assert_eq!(follows.stats().generation, report.generation);
    // refresh() moves the pinned one on at once.
    let after = pinned.refresh().unwrap();
    assert_eq!(after.generation, report.generation);
    assert_eq!(after.tokens, 100);
    assert_eq!(pinned.lookup(&t(500)), Some(b(5)));
    assert_eq!(contents(&pinned), contents(&follows));

    // Through the writer's own handle (a host that writes in-process).
    let inproc = LedgerDbStore::from_writer(db.clone(), following()).unwrap();
    db.apply([Change::Remove(t(500))]).unwrap();
    assert_eq!(inproc.lookup(&t(500)), None);
}

#[test]
fn a_walk_sees_one_snapshot() {
    // The steps after a lookup answer from the lookup's snapshot even when a
    // commit lands in between (the store refreshes only on lookup).
    let dir = tempfile::tempdir().unwrap();
    let (db, path) = fresh(dir.path(), [(tok([1; 32], 9), b(1)), (tok([5; 32], 9), b(2))]);
    let store = LedgerDbStore::open(
        &path,
        LedgerDbOptions {
            max_staleness: Duration::from_millis(1),
            ..LedgerDbOptions::default()
        },
    )
    .unwrap();
    assert_eq!(store.lookup(&tok([1; 32], 9)), Some(b(1)));
    db.apply([Change::Put(tok([3; 32], 9), b(3))]).unwrap();
    std::thread::sleep(Duration::from_millis(5));
    // Same snapshot: [3;32] not there yet.
    assert_eq!(
        store.next_with_suffix(&tok([1; 32], 9), 9).map(|m| m.block),
        Some(b(2))
    );
    // The next walk's lookup moves on, and its steps see the insert.
    assert_eq!(store.lookup(&tok([1; 32], 9)), Some(b(1)));
    assert_eq!(
        store.next_with_suffix(&tok([1; 32], 9), 9).map(|m| m.block),
        Some(b(3))
    );
}

#[test]
fn batches_apply_in_order_and_count_what_they_did() {
    let dir = tempfile::tempdir().unwrap();
    let (db, path) = fresh(dir.path(), [(t(1), b(1)), (t(2), b(2))]);
    let text = format!(
        "# changes\n+ {t3} {b3}\n{t1} {b1}   # same block: unchanged\n+ {t2} {b9}\n- {t4}\n- {t1}\n\n+ {t3} {b4}\n",
        t1 = t(1),
        t2 = t(2),
        t3 = t(3),
        t4 = t(4),
        b1 = b(1),
        b3 = b(3),
        b4 = b(4),
        b9 = b(9),
    );
    let r = db.apply_reader(text.as_bytes(), Path::new("batch")).unwrap();
    assert_eq!(
        (
            r.inserted,
            r.replaced,
            r.unchanged,
            r.removed,
            r.missing,
            r.tokens
        ),
        (1, 2, 1, 1, 1, 2)
    );
    let store = LedgerDbStore::open(&path, following()).unwrap();
    let want: BTreeMap<TokenId, BlockId> = [(t(2), b(9)), (t(3), b(4))].into_iter().collect();
    assert_eq!(contents(&store), want);
    assert_eq!(
        parse_change_line(&format!("-{}", t(7))),
        Ok(Some(Change::Remove(t(7))))
    );
    assert_eq!(parse_change_line("   # only a comment"), Ok(None));
}

#[test]
fn a_batch_with_any_bad_line_changes_nothing_and_names_every_bad_line() {
    let dir = tempfile::tempdir().unwrap();
    let (db, path) = fresh(dir.path(), [(t(1), b(1))]);
    let before = LedgerDbStore::open(&path, following()).unwrap();
    let (gen_before, map_before) = (before.stats().generation, contents(&before));
    let mut text = Vec::new();
    writeln!(text, "+ {} {}", t(5), b(5)).unwrap(); // good, but the batch is lost
    writeln!(text, "- {} {}", t(1), b(1)).unwrap(); // 2: remove takes one field
    writeln!(text, "+ {}", t(6)).unwrap(); // 3: no block
    text.extend_from_slice(b"+ \xff\xfe\n"); // 4: not UTF-8
    text.extend(std::iter::repeat_n(b'a', MAX_LINE_BYTES * 50)); // 5: far too long
    text.push(b'\n');
    writeln!(text, "- {}", t(1)).unwrap(); // good
    writeln!(text, "* {} {}", t(1), b(1)).unwrap(); // 7: unknown
    let err = db.apply_reader(&text[..], Path::new("b.txt")).unwrap_err();
    let LedgerDbError::Input(e) = &err else {
        panic!("expected an input error, got {err}")
    };
    let lines: Vec<usize> = e.line_errors().iter().map(|l| l.line).collect();
    assert_eq!(lines, vec![2, 3, 4, 5, 7], "{err}");
    assert!(
        err.to_string().contains("line 5: line longer than 1024 bytes"),
        "{err}"
    );
    let after = LedgerDbStore::open(&path, following()).unwrap();
    assert_eq!(after.stats().generation, gen_before);
    assert_eq!(contents(&after), map_before);
}

#[test]
fn import_replaces_the_ledger_and_rejects_a_token_mapped_twice() {
    let dir = tempfile::tempdir().unwrap();
    let (db, path) = fresh(dir.path(), [(t(1), b(1)), (t(2), b(2))]);
    let mut file = Vec::new();
    write_ledger(
        &mut file,
        [3u64, 4, 5].map(|i| TokenMapping {
            id: t(i),
            block: b(i),
        }),
    )
    .unwrap();
    let r = db.import(&file[..], Path::new("l.txt")).unwrap();
    assert_eq!((r.inserted, r.tokens), (3, 3));
    let store = LedgerDbStore::open(&path, following()).unwrap();
    let want: BTreeMap<TokenId, BlockId> = [3u64, 4, 5].map(|i| (t(i), b(i))).into_iter().collect();
    assert_eq!(contents(&store), want);

    let dup = format!("{} {}\n{} {}\n# c\n{} {}\n", t(7), b(1), t(8), b(2), t(7), b(3));
    let err = db.import(dup.as_bytes(), Path::new("dup.txt")).unwrap_err();
    assert!(
        err.to_string().contains("line 4: token already mapped earlier"),
        "{err}"
    );
    // Remove lines are not ledger lines.
    let err = db
        .import(format!("- {}\n", t(3)).as_bytes(), Path::new("x"))
        .unwrap_err();
    assert!(err.to_string().contains("line 1: "), "{err}");
    assert_eq!(contents(&store), want, "a failed import keeps the ledger");
}

#[test]
fn files_that_are_not_ledger_databases_are_corrupt_and_left_as_they_were() {
    let dir = tempfile::tempdir().unwrap();
    // A text file.
    let text = dir.path().join("ledger.txt");
    std::fs::write(&text, format!("{} {}\n", t(1), b(1))).unwrap();
    // A redb database of someone else's (no meta table).
    let foreign = dir.path().join("foreign.redb");
    {
        let db = redb::Database::create(&foreign).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(redb::TableDefinition::<u64, u64>::new("x"))
            .unwrap()
            .insert(1, 2)
            .unwrap();
        txn.commit().unwrap();
    }
    // A ledger database of a future layout.
    let (db, future) = fresh(dir.path(), [(t(1), b(1))]);
    drop(db);
    {
        let db = redb::Database::create(&future).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(redb::TableDefinition::<&str, u64>::new("meta"))
            .unwrap()
            .insert("format", 99)
            .unwrap();
        txn.commit().unwrap();
    }
    for (path, why) in [
        (&text, "Not a redb database"),
        (&foreign, "not an election ledger database"),
        (&future, "layout version 99"),
    ] {
        let bytes = std::fs::read(path).unwrap();
        let e = LedgerDbStore::open(path, LedgerDbOptions::default()).unwrap_err();
        assert!(
            e.is_corrupt() && e.to_string().contains(why),
            "{}: {e}",
            path.display()
        );
        let e = LedgerDb::open(path).unwrap_err();
        assert!(
            e.is_corrupt() && e.to_string().contains(why),
            "{}: {e}",
            path.display()
        );
        let e = LedgerDb::create(path).unwrap_err();
        assert!(e.is_corrupt(), "{}: {e}", path.display());
        assert_eq!(
            std::fs::read(path).unwrap(),
            bytes,
            "{} was written to",
            path.display()
        );
    }
    // Missing files are I/O errors that say so.
    let e = LedgerDbStore::open(dir.path().join("nope"), LedgerDbOptions::default()).unwrap_err();
    assert!(matches!(&e, LedgerDbError::Io { error, .. } if error.kind() == std::io::ErrorKind::NotFound));
    assert!(!e.is_corrupt());
    let e = LedgerDb::open(dir.path().join("nope")).unwrap_err();
    assert!(matches!(&e, LedgerDbError::Io { error, .. } if error.kind() == std::io::ErrorKind::NotFound));
    assert!(!dir.path().join("nope").exists());
}

#[test]
fn damaged_pages_are_errors_never_panics_or_writes() {
    // Overwrite stretches of a real database with garbage: opening and
    // walking either work (the damage missed the live pages), fail with an
    // error, or answer "not stored" and count errors; the file is not written.
    let dir = tempfile::tempdir().unwrap();
    let memory = synthetic_ledger(3, 5_000);
    let (db, path) = fresh(dir.path(), memory.iter().map(|m| (m.id, m.block)));
    drop(db);
    let clean = std::fs::read(&path).unwrap();
    let mut outcomes = BTreeMap::<&str, usize>::new();
    for (k, at) in (4096..clean.len()).step_by(clean.len() / 9).enumerate() {
        let mut bytes = clean.clone();
        let end = (at + 4096).min(bytes.len());
        for (i, x) in bytes[at..end].iter_mut().enumerate() {
            *x = (i * 131 + k * 17) as u8;
        }
        let broken = dir.path().join(format!("broken-{k}.redb"));
        std::fs::write(&broken, &bytes).unwrap();
        let outcome = match LedgerDbStore::open(&broken, LedgerDbOptions::default()) {
            Err(e) => {
                assert!(e.is_corrupt(), "{e}");
                "open refused"
            }
            Ok(store) => {
                let mut same = true;
                for m in memory.iter().step_by(250) {
                    same &= generate_signature(&store, &m.id, &PeerId::from_u64(1))
                        == generate_signature(&memory, &m.id, &PeerId::from_u64(1));
                }
                match (same, store.errors()) {
                    (true, 0) => "unaffected",
                    (_, 0) => "different answers",
                    _ => "read errors",
                }
            }
        };
        *outcomes.entry(outcome).or_default() += 1;
        assert_eq!(
            std::fs::read(&broken).unwrap(),
            bytes,
            "the reader wrote to the file"
        );
    }
    eprintln!("damaged databases: {outcomes:?}");
    assert!(outcomes.values().sum::<usize>() >= 9);
}

#[test]
fn one_writer_at_a_time_beside_any_number_of_readers() {
    let dir = tempfile::tempdir().unwrap();
    let (_db, path) = fresh(dir.path(), [(t(1), b(1))]);
    let readers: Vec<_> = (0..3)
        .map(|_| LedgerDbStore::open(&path, following()).unwrap())
        .collect();
    // Another writer in another process is refused while this one is open.
    let out = Command::new(BIN)
        .args(["ledger", "apply", "--db"])
        .arg(&path)
        .arg("-")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("open for writing by another process"), "{stderr}");
    assert!(readers.iter().all(|r| r.lookup(&t(1)) == Some(b(1))));
}

fn cli(args: &[&str], db: &Path, input: Option<&Path>) -> std::process::Output {
    let mut c = Command::new(BIN);
    c.args(args).arg("--db").arg(db);
    if let Some(i) = input {
        c.arg(i);
    }
    c.env("RUST_LOG", "info").stdin(Stdio::null()).output().unwrap()
}

#[test]
fn operators_import_apply_and_read_stats_and_a_reader_in_this_process_follows() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("l.redb");
    let ledger = dir.path().join("l.txt");
    let memory = synthetic_ledger(1, 1_000);
    write_ledger(std::fs::File::create(&ledger).unwrap(), memory.iter()).unwrap();
    let out = cli(&["ledger", "import"], &db, Some(&ledger));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("1000 inserted"));

    let store = LedgerDbStore::open(&db, following()).unwrap();
    assert_eq!(store.len(), 1000);
    let batch = dir.path().join("b.txt");
    let gone = memory.iter().next().unwrap().id;
    std::fs::write(&batch, format!("- {gone}\n+ {} {}\n", t(42), b(43))).unwrap();
    let out = cli(&["ledger", "apply"], &db, Some(&batch));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Another process committed; this reader sees it at its next walk.
    assert_eq!(store.lookup(&t(42)), Some(b(43)));
    assert_eq!(store.lookup(&gone), None);

    let out = cli(&["ledger", "stats", "--json"], &db, None);
    assert!(out.status.success());
    let stats: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(stats["tokens"], 1000);
    assert_eq!(stats["generation"], 2, "import, apply");
    assert!(stats["file_bytes"].as_u64().unwrap() > 64_000);

    // A bad batch: exit 2, every bad line named, nothing written.
    std::fs::write(&batch, "- nothex\n").unwrap();
    let out = cli(&["ledger", "apply"], &db, Some(&batch));
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 1: token") && stderr.contains("nothing was written"),
        "{stderr}"
    );
    assert_eq!(store.refresh().unwrap().generation, 2);
    // An input file that cannot be read: exit 2, named, nothing written.
    let out = cli(&["ledger", "apply"], &db, Some(&dir.path().join("missing.txt")));
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot read ledger") && stderr.contains("missing.txt"),
        "{stderr}"
    );
    // A database that does not exist is not created by apply or stats.
    let nowhere = dir.path().join("nowhere.redb");
    for args in [&["ledger", "apply"][..], &["ledger", "stats"]] {
        let out = cli(args, &nowhere, (args[1] == "apply").then_some(batch.as_path()));
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("No such file"));
    }
    assert!(!nowhere.exists());
    assert_eq!(store.refresh().unwrap().generation, 2);
}

#[test]
fn a_corrupt_database_is_moved_aside_by_import_and_left_alone_by_everything_else() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("l.redb");
    let garbage = b"this is not a database\n".repeat(300);
    std::fs::write(&db, &garbage).unwrap();
    let batch = dir.path().join("b.txt");
    // Both a ledger file (for import) and a batch (for apply).
    std::fs::write(&batch, format!("{} {}\n", t(1), b(1))).unwrap();
    // apply, stats and run refuse (exit 2) and leave it be.
    for args in [&["ledger", "apply"][..], &["ledger", "stats"]] {
        let out = cli(args, &db, (args[1] == "apply").then_some(batch.as_path()));
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("is corrupt") && stderr.contains("left as it was"),
            "{stderr}"
        );
    }
    let out = Command::new(BIN)
        .args(["run", "--listen", "127.0.0.1:0", "--ledger-db"])
        .arg(&db)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is corrupt"));
    assert_eq!(std::fs::read(&db).unwrap(), garbage);
    // import moves it aside, bytes intact, and builds a fresh one.
    let out = cli(&["ledger", "import"], &db, Some(&batch));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let aside: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("l.redb.corrupt-"))
        .collect();
    assert_eq!(aside.len(), 1);
    assert_eq!(std::fs::read(&aside[0]).unwrap(), garbage);
    assert!(String::from_utf8_lossy(&out.stderr).contains(&*aside[0].to_string_lossy()));
    let store = LedgerDbStore::open(&db, following()).unwrap();
    assert_eq!(store.lookup(&t(1)), Some(b(1)));
}

/// `kill -9` of `ledger apply` in the middle of a batch: the database opens
/// (for reading and for writing) and holds exactly the last committed batch.
#[test]
fn kill_9_during_apply_leaves_the_last_committed_batch() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("l.redb");
    // Start from a committed ledger of 2,000 tokens mapped to block 1.
    let base: Vec<(TokenId, BlockId)> = (0..2_000u64).map(|i| (t(i * 7919 + 1), b(1))).collect();
    let writer = LedgerDb::create(&db).unwrap();
    writer
        .apply(base.iter().map(|&(t, b)| Change::Put(t, b)))
        .unwrap();
    drop(writer);
    let mut committed: BTreeMap<TokenId, BlockId> = base.iter().copied().collect();
    // A batch big enough to take a while: 400,000 inserts and a change of every base token.
    let batch = dir.path().join("big.txt");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&batch).unwrap());
        for &(tk, _) in &base {
            writeln!(f, "+ {tk} {}", b(2)).unwrap();
        }
        for i in 0..400_000u64 {
            let x = *blake3::hash(&i.to_le_bytes()).as_bytes();
            writeln!(f, "+ {} {}", TokenId::new(x), b(3)).unwrap();
        }
    }
    // A reader that stays open through every kill (a running node).
    let running = LedgerDbStore::open(&db, following()).unwrap();
    let mut killed_mid_batch = 0;
    for attempt in 0..6u64 {
        let mut child = Command::new(BIN)
            .args(["ledger", "apply", "--db"])
            .arg(&db)
            .arg(&batch)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Wait until it has opened the database and begun ("applying ..."),
        // then let it write for a little while before the kill.
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        err.read_line(&mut line).unwrap();
        assert!(line.contains("applying"), "{line}");
        std::thread::sleep(Duration::from_millis(30 + 60 * attempt));
        let finished_before_kill = child.try_wait().unwrap().is_some();
        child.kill().unwrap(); // SIGKILL
        let status = child.wait().unwrap();
        if finished_before_kill {
            // Too quick for this machine: the batch is the committed state now.
            committed = contents(&LedgerDbStore::open(&db, following()).unwrap());
            continue;
        }
        assert!(!status.success());
        killed_mid_batch += 1;
        // The running reader moves on to the last commit and reads it whole.
        running.refresh().unwrap();
        assert_eq!(contents(&running), committed, "attempt {attempt}: running reader");
        // A reader opening now (recovering the file if it must) sees the same.
        let store = LedgerDbStore::open(&db, following()).unwrap();
        assert_eq!(
            contents(&store),
            committed,
            "attempt {attempt}: not the last committed batch"
        );
        assert_eq!(store.errors(), 0);
        drop(store);
        // And a writer can open it (repairing if needed) and commit again.
        let w = LedgerDb::open(&db).unwrap();
        w.apply([Change::Put(t(3), b(3))]).unwrap();
        w.apply([Change::Remove(t(3))]).unwrap();
    }
    assert!(
        killed_mid_batch >= 3,
        "only {killed_mid_batch} kills landed mid-batch"
    );
}

/// Nodes over one ledger database elect on what was committed while they
/// run: a token inserted after they started is electable, and for tokens
/// whose block changed, a node reading a copy that missed the change is
/// never the winner, even where it is the node closest to the token.
#[test]
fn running_nodes_elect_on_committed_changes_and_a_node_that_missed_them_loses() {
    use election_proto::node::{Event, Node};
    use election_proto::ring_distance;
    use election_proto::wire::Contact;
    use runtime_std::cluster::cluster_node_config;
    use runtime_std::{Clock, Identity, LedgerView, NodeControl, Runtime, StdRuntime};
    use std::net::{Ipv4Addr, UdpSocket};
    use std::time::Instant;

    let dir = tempfile::tempdir().unwrap();
    let memory = synthetic_ledger(11, runtime_std::ledger::DEFAULT_SYNTHETIC_TOKENS);
    let (main, main_path) = fresh(dir.path(), memory.iter().map(|m| (m.id, m.block)));
    let lag_path = dir.path().join("lag.redb");
    LedgerDb::create(&lag_path)
        .unwrap()
        .apply(memory.iter().map(|m| Change::Put(m.id, m.block)))
        .unwrap();
    const FOLLOWERS: usize = 11;
    let config = cluster_node_config();
    let clock = Clock::new();
    let mut members = Vec::new();
    for i in 0..=FOLLOWERS {
        let identity = Identity::from_u64(500 + i as u64);
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let contact = Contact {
            id: identity.peer_id(),
            addr: socket.local_addr().unwrap(),
        };
        members.push((identity, socket, contact));
    }
    let contacts: Vec<_> = members.iter().map(|m| m.2.clone()).collect();
    let laggard = contacts[FOLLOWERS].id;
    let mut nodes: Vec<Box<dyn NodeControl>> = Vec::new();
    for (i, (identity, socket, contact)) in members.into_iter().enumerate() {
        let path = if i == FOLLOWERS { &lag_path } else { &main_path };
        let store = LedgerDbStore::open(path, following()).unwrap();
        let node = Node::new(
            config.clone(),
            identity.key(),
            contact.addr,
            LedgerView::from_db(store),
            identity.derived_rng_seed(0),
        )
        .unwrap();
        let node = StdRuntime.spawn(node, socket, clock).unwrap();
        // A few contacts each, as `cluster` gives: routes must differ for
        // answers to come from several nodes.
        let n = contacts.len();
        node.add_contacts((1..=3).map(|k| contacts[(i + k) % n].clone()).collect())
            .unwrap();
        nodes.push(node);
    }
    // Let the cluster settle: every follower has won an election (bounded).
    let settle = Instant::now() + Duration::from_secs(90);
    while Instant::now() < settle
        && !nodes[..FOLLOWERS]
            .iter()
            .all(|n| n.metrics().is_ok_and(|m| m.elections_succeeded > 0))
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    for n in nodes.iter_mut() {
        while n.try_event().is_some() {}
    }
    // Tokens the laggard is the node closest to: it would be the winner if
    // it were in the winning cluster (and queries travel towards it).
    let closest_is_laggard = |t: &TokenId| {
        contacts
            .iter()
            .min_by_key(|c| ring_distance(&c.id, t))
            .is_some_and(|c| c.id == laggard)
    };
    let changed: Vec<TokenId> = memory
        .iter()
        .map(|m| m.id)
        .filter(closest_is_laggard)
        .take(4)
        .collect();
    assert_eq!(changed.len(), 4);
    let fresh_token = (0u64..)
        .map(|i| TokenId::new(*blake3::hash(&i.to_le_bytes()).as_bytes()))
        .find(closest_is_laggard)
        .unwrap();
    main.apply(
        changed
            .iter()
            .map(|t| Change::Put(*t, b(77)))
            .chain([Change::Put(fresh_token, b(78))]),
    )
    .unwrap();

    // Follower 0 asks for each election until it succeeds (bounded).
    let mut winners = Vec::new();
    for token in changed.iter().chain([&fresh_token]) {
        let deadline = Instant::now() + Duration::from_secs(40);
        let mut winner = None;
        'asking: while Instant::now() < deadline {
            nodes[0].start_election(*token).unwrap();
            let asked = Instant::now();
            while asked.elapsed() < Duration::from_secs(4) {
                while let Some(e) = nodes[0].try_event() {
                    if let Event::Elected {
                        token: t, winner: w, ..
                    } = e
                    {
                        if t == *token {
                            winner = Some(w.id);
                            break 'asking;
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let winner = winner.unwrap_or_else(|| panic!("no election on {token} succeeded"));
        winners.push(winner);
    }
    // The laggard holds no block for the fresh token and an old one for the
    // changed ones: never elected, though the closest node to every one.
    assert!(winners.iter().all(|w| *w != laggard), "{winners:?}");
    assert!(winners
        .iter()
        .all(|w| contacts[..FOLLOWERS].iter().any(|c| c.id == *w)));
    for n in nodes {
        n.stop().unwrap();
    }
}
