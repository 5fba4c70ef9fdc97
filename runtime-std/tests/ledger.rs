//! Ledger files, synthetic ledgers and the arc view.

use election_proto::{BlockId, Distance, MemoryStore, PeerId, TokenId, TokenStore};
use rand::Rng;
use runtime_std::identity::seeded_rng;
use runtime_std::ledger::{load_ledger_file, parse_ledger, synthetic_ledger, write_ledger, LedgerFileError};
use runtime_std::LedgerView;
use std::process::Command;
use std::sync::Arc;

fn hex(n: u64) -> String {
    TokenId::from_u64(n).to_string()
}

#[test]
fn ledger_file_bad_lines_are_reported_with_line_numbers() {
    let text = format!(
        "# a comment\n\
         {t1} {b1}\n\
         \n\
         {t2}\n\
         {t3} {b1} extra\n\
         {t1} {b2}\n\
         nothex{t3} {b1}\n\
         {t3} zz{b1}\n\
         \t{t3}   {b2}   # trailing comment\n",
        t1 = hex(1),
        t2 = hex(2),
        t3 = hex(3),
        b1 = hex(10),
        b2 = hex(11),
    );
    let err = parse_ledger(text.as_bytes()).expect_err("bad lines must be rejected");
    let lines: Vec<usize> = err.line_errors().iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![4, 5, 6, 7, 8]);
    let shown = err.to_string();
    assert!(shown.contains("5 bad line(s)"), "{shown}");
    assert!(
        shown.contains("line 6: token already mapped on line 2"),
        "{shown}"
    );
    assert!(
        shown.contains("line 4: expected `<token hex> <block hex>`, found 1 field(s)"),
        "{shown}"
    );
    assert!(shown.contains("line 7: token:"), "{shown}");
    assert!(shown.contains("line 8: block:"), "{shown}");
}

#[test]
fn ledger_file_accepts_comments_blank_lines_and_either_case() {
    let text = format!(
        "\n# x\n{} {}  # c\n{} {}\n",
        hex(7),
        hex(8),
        hex(9).to_uppercase(),
        hex(10)
    );
    let parsed = parse_ledger(text.as_bytes()).unwrap();
    assert_eq!(
        parsed,
        vec![
            (TokenId::from_u64(7), BlockId::from_u64(8)),
            (TokenId::from_u64(9), BlockId::from_u64(10))
        ]
    );
}

#[test]
fn ledger_file_round_trips_and_reports_missing_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.txt");
    let ledger = synthetic_ledger(3, 500);
    write_ledger(std::fs::File::create(&path).unwrap(), ledger.iter()).unwrap();
    let loaded = load_ledger_file(&path).unwrap();
    assert_eq!(loaded.len(), 500);
    assert!(ledger.iter().all(|m| loaded.lookup(&m.id) == Some(m.block)));
    let missing = load_ledger_file(&dir.path().join("nope")).unwrap_err();
    assert!(matches!(missing, LedgerFileError::Io { .. }), "{missing}");
}

#[test]
fn many_bad_lines_are_counted_beyond_the_reported_ones() {
    let text = "bad\n".repeat(120);
    match parse_ledger(text.as_bytes()) {
        Err(LedgerFileError::BadLines { errors, total, .. }) => {
            assert_eq!(total, 120);
            assert_eq!(errors.len(), runtime_std::ledger::MAX_REPORTED_LINE_ERRORS);
            assert_eq!(
                errors.last().unwrap().line,
                runtime_std::ledger::MAX_REPORTED_LINE_ERRORS
            );
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn synthetic_ledgers_are_deterministic() {
    let a = synthetic_ledger(5, 1000);
    let b = synthetic_ledger(5, 1000);
    let c = synthetic_ledger(6, 1000);
    assert!(a.iter().eq(b.iter()));
    assert!(!a.iter().eq(c.iter()));
}

/// The arc view answers exactly like a store holding only the covered tokens.
#[test]
fn arc_view_matches_a_store_of_the_covered_tokens() {
    // 4 tokens per suffix: walks often cross the gap, which is what we test.
    let ledger = Arc::new(synthetic_ledger(9, 4096));
    let mut rng = seeded_rng("arc view test", b"");
    for coverage in [0.05, 0.5, 0.9, 0.999, 1.0] {
        for _ in 0..3 {
            let center = PeerId::new(rng.random());
            let view = LedgerView::arc_around(ledger.clone(), &center, coverage);
            let reference = MemoryStore::from_mappings(
                ledger
                    .iter()
                    .filter(|m| view.covers(&m.id))
                    .map(|m| (m.id, m.block)),
            );
            assert_eq!(view.count(), reference.len());
            let mut froms: Vec<TokenId> = ledger.iter().step_by(37).map(|m| m.id).collect();
            froms.extend((0..50).map(|_| TokenId::new(rng.random())));
            if let Some((start, len)) = view.arc() {
                let one = Distance::from_u64(1);
                let end = start.add(&len);
                froms.extend([
                    start,
                    start.sub(&one),
                    start.add(&one),
                    end,
                    end.add(&one),
                    end.sub(&one),
                ]);
            }
            for from in froms {
                assert_eq!(view.lookup(&from), reference.lookup(&from));
                let suffixes: Vec<u16> = (0..8).map(|_| rng.random_range(0..1024u16)).collect();
                for s in suffixes {
                    assert_eq!(
                        view.next_with_suffix(&from, s),
                        reference.next_with_suffix(&from, s)
                    );
                    assert_eq!(
                        view.prev_with_suffix(&from, s),
                        reference.prev_with_suffix(&from, s)
                    );
                }
            }
        }
    }
}

#[test]
fn cli_reports_bad_ledger_lines_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.txt");
    std::fs::write(
        &path,
        format!("{} {}\noops\n{} {}\n", hex(1), hex(2), hex(1), hex(3)),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_election-node"))
        .args(["run", "--listen", "127.0.0.1:0", "--ledger"])
        .arg(&path)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("line 2: expected"), "{stderr}");
    assert!(
        stderr.contains("line 3: token already mapped on line 1"),
        "{stderr}"
    );
}
