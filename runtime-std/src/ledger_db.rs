//! Ledgers that live on disk and change while the node runs (feature `ledger-db`).
//!
//! A [`LedgerDb`] is one [redb](https://docs.rs/redb) file holding the
//! ledger's mappings, keyed by `suffix (2 bytes, big-endian) || token (32
//! bytes)`. That key *is* the suffix index the proof-of-storage walk needs
//! (docs/PROTOCOL.md §4, SPEC §3): "the first token clockwise of `from` with
//! suffix `s`" is one ordered range read in bucket `s`, so a walk is eleven
//! B-tree descents and no second index is kept.
//!
//! One process writes ([`LedgerDb`]: [`import`](LedgerDb::import) a ledger
//! file, [`apply`](LedgerDb::apply) a batch of changes); any number of
//! processes read ([`LedgerDbStore`], a [`TokenStore`]), at the same time,
//! through redb's `SingleWriter` concurrency mode. Every write is one redb
//! transaction, committed durably (`fsync`) and atomically: a reader, and a
//! process that opens the file after a crash (even `kill -9` in the middle of
//! a batch), sees the ledger as of the last committed batch, never half a
//! batch.
//!
//! A [`LedgerDbStore`] answers from one read snapshot (a *view*) and moves to
//! the newest committed one when the view is older than its
//! [`max_staleness`](LedgerDbOptions::max_staleness) (1 s by default),
//! checked on every [`TokenStore::lookup`], the first call of every walk; the
//! ten suffix steps of a walk are answered from the view its lookup saw, so a
//! walk never mixes two versions of the ledger. Its memory is redb's page
//! cache ([`cache_bytes`](LedgerDbOptions::cache_bytes), 32 MiB by default)
//! plus a few pages, whatever the size of the ledger.
//!
//! Every file is untrusted: opening one that is not a ledger database, is of
//! another format, or that redb reports corrupt is a [`LedgerDbError::Corrupt`],
//! and the file is never written to (a read-only look comes before any
//! writer's open). A panic inside redb on a damaged file is
//! caught and reported the same way (redb's debug builds assert on some
//! corruptions). The command line moves a corrupt file aside
//! (`NAME.corrupt-<UTC time>`) before importing into a fresh one, as
//! [`crate::state`] does with state files.
//!
//! ## Change batches
//!
//! [`LedgerDb::apply_reader`] reads a batch as UTF-8 text, one change per line
//! (`#` comments and blank lines are ignored, like ledger files):
//!
//! ```text
//! + <token: 64 hex> <block: 64 hex>   # insert, or replace the token's block
//! <token> <block>                     # the same (a ledger file is a batch of inserts)
//! - <token: 64 hex>                   # remove (a token not stored is counted, not an error)
//! ```
//!
//! Changes apply in file order (a token changed twice ends with its last
//! change). Every bad line is reported with its line number and nothing is
//! applied; lines longer than [`MAX_LINE_BYTES`] are bad lines, so no input
//! makes a parser's memory grow with it.

use crate::ledger::{parse_mapping_line, LedgerFileError, LineError, MAX_REPORTED_LINE_ERRORS};
use election_proto::proof::TokenMapping;
use election_proto::{suffix, BlockId, TokenId, TokenStore};
use redb::{
    ConcurrencyMode, Database, DatabaseError, ReadOnlyDatabase, ReadOnlyTable, ReadTransaction,
    ReadableDatabase, ReadableTable, ReadableTableMetadata, StorageError, TableDefinition, TableError,
};
use std::fmt;
use std::io::{self, BufRead, Read};
use std::ops::Bound::{Excluded, Included};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// `suffix (big-endian u16) || token`: the suffix-bucketed key of a mapping.
type Key = [u8; 34];

/// Token (as [`Key`]) to block.
const MAPPINGS: TableDefinition<Key, [u8; 32]> = TableDefinition::new("mappings");
/// Bookkeeping: [`META_FORMAT`], [`META_GENERATION`], [`META_COMMITTED_AT`].
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const META_FORMAT: &str = "format";
const META_GENERATION: &str = "generation";
const META_COMMITTED_AT: &str = "committed_at_unix_s";

/// The layout version written into every ledger database; others are rejected.
pub const LEDGER_DB_FORMAT: u64 = 1;

/// Longest line (bytes, newline excluded) the batch and import parsers accept.
pub const MAX_LINE_BYTES: usize = 1024;

/// Default redb page cache of a reading [`LedgerDbStore`].
pub const DEFAULT_READER_CACHE_BYTES: usize = 32 << 20;

/// Default redb page cache of a writing [`LedgerDb`].
pub const DEFAULT_WRITER_CACHE_BYTES: usize = 256 << 20;

/// Default [`LedgerDbOptions::max_staleness`].
pub const DEFAULT_MAX_STALENESS: Duration = Duration::from_secs(1);

fn key(s: u16, token: &TokenId) -> Key {
    let mut k = [0u8; 34];
    k[..2].copy_from_slice(&s.to_be_bytes());
    k[2..].copy_from_slice(token.as_bytes());
    k
}

fn key_of(token: &TokenId) -> Key {
    key(suffix(token), token)
}

fn mapping(k: &Key, block: [u8; 32]) -> TokenMapping {
    let mut t = [0u8; 32];
    t.copy_from_slice(&k[2..]);
    TokenMapping {
        id: TokenId::new(t),
        block: BlockId::new(block),
    }
}

/// Why a ledger database could not be used.
#[derive(Debug)]
pub enum LedgerDbError {
    /// The file (or its directory) cannot be read or written.
    Io {
        /// The database file.
        path: PathBuf,
        /// The underlying error.
        error: io::Error,
    },
    /// The file is not a ledger database this version can read: not a redb
    /// file, damaged, another layout version, or tables missing. It was not
    /// written to.
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Another process has the database open for writing (one writer at a time).
    Locked {
        /// The database file.
        path: PathBuf,
    },
    /// The input (a ledger file or a change batch) has bad lines or cannot be
    /// read; nothing was written.
    Input(LedgerFileError),
}

impl fmt::Display for LedgerDbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { path, error } => write!(f, "ledger database {}: {error}", path.display()),
            Self::Corrupt { path, reason } => {
                write!(f, "ledger database {} is corrupt: {reason}", path.display())
            }
            Self::Locked { path } => write!(
                f,
                "ledger database {} is open for writing by another process",
                path.display()
            ),
            Self::Input(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for LedgerDbError {}

impl LedgerDbError {
    fn corrupt(path: &Path, reason: impl fmt::Display) -> Self {
        Self::Corrupt {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        }
    }

    fn from_database(path: &Path, e: DatabaseError) -> Self {
        match e {
            DatabaseError::DatabaseAlreadyOpen | DatabaseError::LockProtocolMismatch => Self::Locked {
                path: path.to_path_buf(),
            },
            DatabaseError::Storage(s) => Self::from_storage(path, s),
            other => Self::corrupt(path, other),
        }
    }

    fn from_storage(path: &Path, e: StorageError) -> Self {
        match e {
            StorageError::Io(error) => Self::from_io(path, error),
            other => Self::corrupt(path, other),
        }
    }

    /// redb reports a file that is not one of its databases (bad magic
    /// number, impossible header) as `InvalidData`.
    fn from_io(path: &Path, error: io::Error) -> Self {
        if error.kind() == io::ErrorKind::InvalidData {
            Self::corrupt(path, error)
        } else {
            Self::Io {
                path: path.to_path_buf(),
                error,
            }
        }
    }

    fn from_table(path: &Path, e: TableError) -> Self {
        match e {
            TableError::Storage(s) => Self::from_storage(path, s),
            other => Self::corrupt(path, other),
        }
    }

    fn from_redb(path: &Path, e: redb::Error) -> Self {
        match e {
            redb::Error::Io(error) => Self::from_io(path, error),
            redb::Error::DatabaseAlreadyOpen | redb::Error::LockProtocolMismatch => Self::Locked {
                path: path.to_path_buf(),
            },
            other => Self::corrupt(path, other),
        }
    }

    /// Whether the file itself is unusable (and should be kept aside, never
    /// overwritten) rather than, say, locked or unreadable for a while.
    pub fn is_corrupt(&self) -> bool {
        matches!(self, Self::Corrupt { .. })
    }
}

/// Runs `f`, turning a panic inside redb into [`LedgerDbError::Corrupt`].
fn guarded<T>(path: &Path, f: impl FnOnce() -> Result<T, LedgerDbError>) -> Result<T, LedgerDbError> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|panic| Err(panicked(path, &*panic)))
}

fn panicked(path: &Path, panic: &(dyn std::any::Any + Send)) -> LedgerDbError {
    let what = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("redb panicked");
    LedgerDbError::corrupt(path, format!("database engine failed: {what}"))
}

/// What a ledger database holds, as of its last commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerDbStats {
    /// Mappings stored.
    pub tokens: u64,
    /// Commits since the database was created (each import and each batch is one).
    pub generation: u64,
    /// When the last commit was made, seconds since the Unix epoch (UTC).
    pub committed_at_unix_s: u64,
    /// Size of the file, bytes.
    pub file_bytes: u64,
}

/// What an import or a batch changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// Tokens that were not stored before and now are.
    pub inserted: u64,
    /// Tokens whose block changed.
    pub replaced: u64,
    /// Insert lines that named the block the token already had.
    pub unchanged: u64,
    /// Tokens removed.
    pub removed: u64,
    /// Remove lines naming a token that was not stored.
    pub missing: u64,
    /// Mappings stored after the commit.
    pub tokens: u64,
    /// The database's generation after the commit.
    pub generation: u64,
}

/// One change to a ledger.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// Insert `token -> block`, or replace the token's block.
    Put(TokenId, BlockId),
    /// Remove the token (nothing happens if it is not stored).
    Remove(TokenId),
}

/// Parses one line of a change batch: `Ok(None)` for blank and comment lines.
pub fn parse_change_line(text: &str) -> Result<Option<Change>, String> {
    let content = text.split('#').next().unwrap_or("").trim();
    if let Some(rest) = content.strip_prefix('-') {
        let mut fields = rest.split_whitespace();
        return match (fields.next(), fields.next()) {
            (Some(t), None) => t
                .parse::<TokenId>()
                .map(|t| Some(Change::Remove(t)))
                .map_err(|e| format!("token: {e}")),
            _ => Err("expected `- <token hex>`".into()),
        };
    }
    let rest = content.strip_prefix('+').unwrap_or(content);
    Ok(parse_mapping_line(rest)?.map(|(t, b)| Change::Put(t, b)))
}

/// Reads lines of at most [`MAX_LINE_BYTES`] from `reader`, calling `each`
/// with the 1-based line number and the line (or why it is bad). Memory stays
/// bounded by the line cap whatever the input.
fn for_each_line(
    mut reader: impl BufRead,
    mut each: impl FnMut(usize, Result<&str, String>) -> Result<(), LedgerDbError>,
) -> io::Result<Result<(), LedgerDbError>> {
    let mut buf = Vec::with_capacity(256);
    let mut n = 0usize;
    loop {
        buf.clear();
        let read = (&mut reader)
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut buf)?;
        if read == 0 {
            return Ok(Ok(()));
        }
        n += 1;
        let ended = buf.last() == Some(&b'\n');
        if ended {
            buf.pop();
        }
        let line = if buf.len() > MAX_LINE_BYTES {
            // Skip the rest of the over-long line in bounded reads.
            if !ended {
                loop {
                    let avail = reader.fill_buf()?;
                    if avail.is_empty() {
                        break;
                    }
                    match avail.iter().position(|&b| b == b'\n') {
                        Some(i) => {
                            reader.consume(i + 1);
                            break;
                        }
                        None => {
                            let len = avail.len();
                            reader.consume(len);
                        }
                    }
                }
            }
            Err(format!("line longer than {MAX_LINE_BYTES} bytes"))
        } else {
            std::str::from_utf8(&buf).map_err(|_| "not valid UTF-8".to_string())
        };
        if let Err(e) = each(n, line) {
            return Ok(Err(e));
        }
    }
}

/// Collects line errors: the first [`MAX_REPORTED_LINE_ERRORS`] and a count.
#[derive(Default)]
struct LineErrors {
    kept: Vec<LineError>,
    total: usize,
}

impl LineErrors {
    fn push(&mut self, line: usize, message: String) {
        self.total += 1;
        if self.kept.len() < MAX_REPORTED_LINE_ERRORS {
            self.kept.push(LineError { line, message });
        }
    }

    fn into_result(mut self, input: &Path) -> Result<(), LedgerDbError> {
        if self.total == 0 {
            return Ok(());
        }
        self.kept.sort_by_key(|e| e.line);
        Err(LedgerDbError::Input(LedgerFileError::BadLines {
            path: input.to_path_buf(),
            errors: self.kept,
            total: self.total,
        }))
    }
}

fn now_unix_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The writing side of a ledger database: one per file at a time, in any
/// process; readers ([`LedgerDbStore`]) in this and other processes follow
/// its commits.
///
/// Every method that writes is one durable, atomic transaction: after it
/// returns `Ok` the change survives a crash; if the process dies before, the
/// database holds the previous commit.
pub struct LedgerDb {
    db: Database,
    path: PathBuf,
}

impl fmt::Debug for LedgerDb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LedgerDb")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl LedgerDb {
    /// Opens the ledger database at `path` for writing, creating an empty one
    /// if the file does not exist (or is empty). A file that is not a ledger
    /// database is [`LedgerDbError::Corrupt`] and left as it was.
    pub fn create(path: impl AsRef<Path>) -> Result<Self, LedgerDbError> {
        Self::open_inner(path.as_ref(), true)
    }

    /// Opens an existing ledger database for writing (a missing file is
    /// [`LedgerDbError::Io`] with `NotFound`).
    pub fn open(path: impl AsRef<Path>) -> Result<Self, LedgerDbError> {
        Self::open_inner(path.as_ref(), false)
    }

    fn open_inner(path: &Path, create: bool) -> Result<Self, LedgerDbError> {
        let fresh = match std::fs::metadata(path) {
            Ok(m) => m.len() == 0,
            Err(e) if e.kind() == io::ErrorKind::NotFound && create => true,
            Err(error) => {
                return Err(LedgerDbError::Io {
                    path: path.to_path_buf(),
                    error,
                })
            }
        };
        if !fresh {
            // Look before writing: a writer's open marks the file in use
            // (writes its header), so a file that is not a ledger database
            // must be refused by a read-only look first.
            match probe(path) {
                Ok(()) | Err(Probe::NeedsRecovery) => {}
                Err(Probe::Failed(e)) => return Err(e),
            }
        }
        guarded(path, || {
            let mut builder = Database::builder();
            builder
                .set_concurrency_mode(ConcurrencyMode::SingleWriter)
                .set_cache_size(DEFAULT_WRITER_CACHE_BYTES);
            let db = if create {
                builder.create(path)
            } else {
                builder.open(path)
            }
            .map_err(|e| LedgerDbError::from_database(path, e))?;
            let this = Self {
                db,
                path: path.to_path_buf(),
            };
            if fresh {
                this.initialise()?;
            }
            // After a recovery the look happens here (before any commit).
            this.stats()?;
            Ok(this)
        })
    }

    fn initialise(&self) -> Result<(), LedgerDbError> {
        let p = &self.path;
        let txn = self
            .db
            .begin_write()
            .map_err(|e| LedgerDbError::from_redb(p, e.into()))?;
        {
            let mut meta = txn
                .open_table(META)
                .map_err(|e| LedgerDbError::from_table(p, e))?;
            if meta.len().map_err(|e| LedgerDbError::from_storage(p, e))? == 0 {
                let put = |m: &mut redb::Table<&str, u64>, k: &str, v: u64| {
                    m.insert(k, v)
                        .map(|_| ())
                        .map_err(|e| LedgerDbError::from_storage(p, e))
                };
                put(&mut meta, META_FORMAT, LEDGER_DB_FORMAT)?;
                put(&mut meta, META_GENERATION, 0)?;
                put(&mut meta, META_COMMITTED_AT, now_unix_s())?;
            }
            txn.open_table(MAPPINGS)
                .map_err(|e| LedgerDbError::from_table(p, e))?;
        }
        txn.commit().map_err(|e| LedgerDbError::from_redb(p, e.into()))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Rewrites the file to give back the space freed pages hold (after a
    /// large import, say). Returns whether anything was compacted; refused
    /// (an error, nothing changed) while a reader of this process holds a
    /// snapshot.
    pub fn compact(&mut self) -> Result<bool, LedgerDbError> {
        let p = self.path.clone();
        guarded(&p, || {
            self.db
                .compact(redb::CompactionMode::Balanced)
                .map_err(|e| LedgerDbError::from_redb(&p, e.into()))
        })
    }

    /// What the database holds as of its last commit.
    pub fn stats(&self) -> Result<LedgerDbStats, LedgerDbError> {
        guarded(&self.path, || {
            let txn = self
                .db
                .begin_read()
                .map_err(|e| LedgerDbError::from_redb(&self.path, e.into()))?;
            read_stats(&self.path, &txn)
        })
    }

    /// Replaces the whole ledger with the mappings of a ledger file (the
    /// [`crate::ledger`] format; a token may appear once), in one commit.
    /// Readers see the old ledger until the commit, then the new one. On any
    /// bad line nothing changes and every bad line is reported.
    pub fn import(&self, reader: impl BufRead, input: &Path) -> Result<ApplyReport, LedgerDbError> {
        guarded(&self.path, || self.write_batch(reader, input, true))
    }

    /// Applies a change batch (see the [module docs](self)) in one commit; on
    /// any bad line nothing changes and every bad line is reported. `input`
    /// names the batch in error messages.
    pub fn apply_reader(&self, reader: impl BufRead, input: &Path) -> Result<ApplyReport, LedgerDbError> {
        guarded(&self.path, || self.write_batch(reader, input, false))
    }

    /// Applies `changes` in order, in one commit.
    pub fn apply(&self, changes: impl IntoIterator<Item = Change>) -> Result<ApplyReport, LedgerDbError> {
        guarded(&self.path, || {
            let p = &self.path;
            let txn = self
                .db
                .begin_write()
                .map_err(|e| LedgerDbError::from_redb(p, e.into()))?;
            let mut report = ApplyReport::default();
            {
                let mut table = txn
                    .open_table(MAPPINGS)
                    .map_err(|e| LedgerDbError::from_table(p, e))?;
                for c in changes {
                    apply_one(p, &mut table, c, &mut report)?;
                }
                report.tokens = table.len().map_err(|e| LedgerDbError::from_storage(p, e))?;
            }
            report.generation = bump_generation(p, &txn)?;
            txn.commit().map_err(|e| LedgerDbError::from_redb(p, e.into()))?;
            Ok(report)
        })
    }

    fn write_batch(
        &self,
        reader: impl BufRead,
        input: &Path,
        replace_all: bool,
    ) -> Result<ApplyReport, LedgerDbError> {
        let p = &self.path;
        let txn = self
            .db
            .begin_write()
            .map_err(|e| LedgerDbError::from_redb(p, e.into()))?;
        let mut report = ApplyReport::default();
        let mut errors = LineErrors::default();
        // An import inserts in sorted runs of at most IMPORT_CHUNK mappings:
        // far fewer pages touched per insert than in file order.
        let mut pending: Vec<(Key, [u8; 32], usize)> = Vec::new();
        {
            if replace_all {
                txn.delete_table(MAPPINGS)
                    .map_err(|e| LedgerDbError::from_table(p, e))?;
            }
            let mut table = txn
                .open_table(MAPPINGS)
                .map_err(|e| LedgerDbError::from_table(p, e))?;
            let read = for_each_line(reader, |n, line| {
                let change = match line.and_then(|l| {
                    if replace_all {
                        parse_mapping_line(l).map(|m| m.map(|(t, b)| Change::Put(t, b)))
                    } else {
                        parse_change_line(l)
                    }
                }) {
                    Ok(Some(c)) => c,
                    Ok(None) => return Ok(()),
                    Err(message) => {
                        errors.push(n, message);
                        return Ok(());
                    }
                };
                if errors.total > 0 {
                    // The batch is lost anyway: only look for more bad lines.
                    return Ok(());
                }
                match (replace_all, change) {
                    (true, Change::Put(t, b)) => {
                        pending.push((key_of(&t), *b.as_bytes(), n));
                        if pending.len() >= IMPORT_CHUNK {
                            insert_sorted(p, &mut table, &mut pending, &mut errors, &mut report)?;
                        }
                    }
                    _ => {
                        apply_one(p, &mut table, change, &mut report)?;
                    }
                }
                Ok(())
            })
            .map_err(|error| {
                LedgerDbError::Input(LedgerFileError::Io {
                    path: input.to_path_buf(),
                    error,
                })
            })?;
            read?;
            if errors.total == 0 {
                insert_sorted(p, &mut table, &mut pending, &mut errors, &mut report)?;
            }
            // Dropping `txn` without commit aborts it: nothing is written.
            errors.into_result(input)?;
            report.tokens = table.len().map_err(|e| LedgerDbError::from_storage(p, e))?;
        }
        report.generation = bump_generation(p, &txn)?;
        txn.commit().map_err(|e| LedgerDbError::from_redb(p, e.into()))?;
        Ok(report)
    }
}

/// Mappings an import sorts in memory before inserting them (about 75 MB).
const IMPORT_CHUNK: usize = 1 << 20;

/// Inserts an import's pending mappings in key order; a token seen twice (in
/// this run or an earlier one) is a bad line.
fn insert_sorted(
    p: &Path,
    table: &mut redb::Table<Key, [u8; 32]>,
    pending: &mut Vec<(Key, [u8; 32], usize)>,
    errors: &mut LineErrors,
    report: &mut ApplyReport,
) -> Result<(), LedgerDbError> {
    pending.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(a.2.cmp(&b.2)));
    let mut last: Option<Key> = None;
    for (k, v, line) in pending.drain(..) {
        let repeated = last == Some(k);
        last = Some(k);
        if repeated || errors.total > 0 {
            if repeated {
                errors.push(line, "token already mapped earlier in the file".into());
            }
            continue;
        }
        let existed = table
            .insert(k, v)
            .map_err(|e| LedgerDbError::from_storage(p, e))?
            .is_some();
        if existed {
            errors.push(line, "token already mapped earlier in the file".into());
        } else {
            report.inserted += 1;
        }
    }
    Ok(())
}

fn apply_one(
    p: &Path,
    table: &mut redb::Table<Key, [u8; 32]>,
    change: Change,
    report: &mut ApplyReport,
) -> Result<bool, LedgerDbError> {
    Ok(match change {
        Change::Put(t, b) => {
            let old = table
                .insert(key_of(&t), *b.as_bytes())
                .map_err(|e| LedgerDbError::from_storage(p, e))?
                .map(|g| g.value());
            match old {
                None => report.inserted += 1,
                Some(o) if o == *b.as_bytes() => report.unchanged += 1,
                Some(_) => report.replaced += 1,
            }
            old.is_some()
        }
        Change::Remove(t) => {
            let old = table
                .remove(key_of(&t))
                .map_err(|e| LedgerDbError::from_storage(p, e))?
                .is_some();
            if old {
                report.removed += 1;
            } else {
                report.missing += 1;
            }
            old
        }
    })
}

fn bump_generation(p: &Path, txn: &redb::WriteTransaction) -> Result<u64, LedgerDbError> {
    let mut meta = txn
        .open_table(META)
        .map_err(|e| LedgerDbError::from_table(p, e))?;
    let g = meta
        .get(META_GENERATION)
        .map_err(|e| LedgerDbError::from_storage(p, e))?
        .map_or(0, |v| v.value())
        .saturating_add(1);
    meta.insert(META_GENERATION, g)
        .map_err(|e| LedgerDbError::from_storage(p, e))?;
    meta.insert(META_COMMITTED_AT, now_unix_s())
        .map_err(|e| LedgerDbError::from_storage(p, e))?;
    Ok(g)
}

/// Reads and checks the bookkeeping of a snapshot.
fn read_stats(p: &Path, txn: &ReadTransaction) -> Result<LedgerDbStats, LedgerDbError> {
    let not_ours =
        |what: &str| LedgerDbError::corrupt(p, format!("not an election ledger database ({what})"));
    let meta = match txn.open_table(META) {
        Ok(m) => m,
        Err(TableError::TableDoesNotExist(_)) => return Err(not_ours("no meta table")),
        Err(e) => return Err(LedgerDbError::from_table(p, e)),
    };
    let get = |k: &str| -> Result<Option<u64>, LedgerDbError> {
        Ok(meta
            .get(k)
            .map_err(|e| LedgerDbError::from_storage(p, e))?
            .map(|v| v.value()))
    };
    match get(META_FORMAT)? {
        Some(LEDGER_DB_FORMAT) => {}
        Some(other) => {
            return Err(LedgerDbError::corrupt(
                p,
                format!("layout version {other}, this build reads {LEDGER_DB_FORMAT}"),
            ))
        }
        None => return Err(not_ours("no format version")),
    }
    let mappings = match txn.open_table(MAPPINGS) {
        Ok(m) => m,
        Err(TableError::TableDoesNotExist(_)) => return Err(not_ours("no mappings table")),
        Err(e) => return Err(LedgerDbError::from_table(p, e)),
    };
    let file_bytes = std::fs::metadata(p).map_or(0, |m| m.len());
    Ok(LedgerDbStats {
        tokens: mappings.len().map_err(|e| LedgerDbError::from_storage(p, e))?,
        generation: get(META_GENERATION)?.unwrap_or(0),
        committed_at_unix_s: get(META_COMMITTED_AT)?.unwrap_or(0),
        file_bytes,
    })
}

/// Why a read-only look at a file did not succeed.
enum Probe {
    /// The last writer died mid-write and no writer is running: only a
    /// writer's open can recover the file (to its last commit).
    NeedsRecovery,
    /// Anything else.
    Failed(LedgerDbError),
}

fn open_reader(path: &Path, cache_bytes: usize) -> Result<ReadOnlyDatabase, Probe> {
    let opened = catch_unwind(AssertUnwindSafe(|| {
        redb::Builder::new()
            .set_concurrency_mode(ConcurrencyMode::SingleWriter)
            .set_cache_size(cache_bytes)
            .open_read_only(path)
    }));
    match opened {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(DatabaseError::RepairAborted)) => Err(Probe::NeedsRecovery),
        Ok(Err(e)) => Err(Probe::Failed(LedgerDbError::from_database(path, e))),
        Err(panic) => Err(Probe::Failed(panicked(path, &*panic))),
    }
}

/// Opens `path` read-only and checks it is a ledger database.
fn probe(path: &Path) -> Result<(), Probe> {
    let db = open_reader(path, 1 << 20)?;
    guarded(path, || {
        let txn = db
            .begin_read()
            .map_err(|e| LedgerDbError::from_redb(path, e.into()))?;
        read_stats(path, &txn).map(|_| ())
    })
    .map_err(Probe::Failed)
}

/// How a [`LedgerDbStore`] reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerDbOptions {
    /// redb's page cache, bytes: what the store's memory is bounded by.
    pub cache_bytes: usize,
    /// A view older than this is replaced by the newest commit at the next
    /// walk ([`TokenStore::lookup`]).
    pub max_staleness: Duration,
}

impl Default for LedgerDbOptions {
    fn default() -> Self {
        Self {
            cache_bytes: DEFAULT_READER_CACHE_BYTES,
            max_staleness: DEFAULT_MAX_STALENESS,
        }
    }
}

/// Where a store's snapshots come from.
enum Source {
    /// Another process (or [`LedgerDb`] elsewhere) writes; this one only reads.
    ReadOnly(ReadOnlyDatabase),
    /// The writer of this process.
    Writer(Arc<LedgerDb>),
}

impl Source {
    fn begin_read(&self) -> Result<ReadTransaction, redb::TransactionError> {
        match self {
            Self::ReadOnly(db) => db.begin_read(),
            Self::Writer(w) => w.db.begin_read(),
        }
    }
}

/// One read snapshot and what it holds.
struct View {
    table: ReadOnlyTable<Key, [u8; 32]>,
    stats: LedgerDbStats,
    taken: Instant,
    // Kept alive with the table (declared last: dropped after it).
    _txn: ReadTransaction,
}

struct Inner {
    source: Source,
    path: PathBuf,
    options: LedgerDbOptions,
    view: Mutex<View>,
    errors: AtomicU64,
    refreshes: AtomicU64,
}

/// A [`TokenStore`] over a ledger database, following its commits (see the
/// [module docs](self)).
///
/// Guarantees: every answer comes from one committed snapshot; a walk (a
/// [`lookup`](TokenStore::lookup) and the suffix steps after it) sees one
/// snapshot; a commit is seen by the first walk that starts
/// [`max_staleness`](LedgerDbOptions::max_staleness) after it, or at once
/// after [`refresh`](Self::refresh). It never writes to the file, except
/// that [`open`](Self::open) runs redb's crash recovery (which restores the
/// last commit) when the last writer died mid-write and none runs. A read that
/// fails (I/O error, damage found while running) answers "not stored",
/// counts in [`errors`](Self::errors) and is logged; the store keeps serving.
///
/// Clones share the snapshot and the database handle.
#[derive(Clone)]
pub struct LedgerDbStore {
    inner: Arc<Inner>,
}

impl fmt::Debug for LedgerDbStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LedgerDbStore")
            .field("path", &self.inner.path)
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

impl LedgerDbStore {
    /// Opens the ledger database at `path` read-only, beside whichever
    /// process writes it. The file must exist and be a ledger database; one
    /// left unclean by a writer that died is recovered first (logged).
    pub fn open(path: impl AsRef<Path>, options: LedgerDbOptions) -> Result<Self, LedgerDbError> {
        let path = path.as_ref();
        // redb would report a missing file as an I/O error too; say which.
        std::fs::metadata(path).map_err(|error| LedgerDbError::Io {
            path: path.to_path_buf(),
            error,
        })?;
        let db = match open_reader(path, options.cache_bytes) {
            Ok(db) => db,
            Err(Probe::Failed(e)) => return Err(e),
            Err(Probe::NeedsRecovery) => {
                // The writer died mid-batch and none runs now. redb's recovery
                // (which only a writer's open runs) restores the last commit;
                // run it, then read as before.
                log::warn!(
                    "ledger database {} was left open by a writer that died; recovering its last commit",
                    path.display()
                );
                match LedgerDb::open(path) {
                    Ok(w) => drop(w),
                    // A writer started meanwhile: it recovers the file itself.
                    Err(LedgerDbError::Locked { .. }) => {}
                    Err(e) => return Err(e),
                }
                open_reader(path, options.cache_bytes).map_err(|e| match e {
                    Probe::Failed(e) => e,
                    Probe::NeedsRecovery => LedgerDbError::corrupt(path, "recovery did not complete"),
                })?
            }
        };
        Self::with_source(Source::ReadOnly(db), path, options)
    }

    /// A store reading through `writer`'s handle: for a host that updates
    /// the ledger in the same process. (The writer's cache serves both.)
    pub fn from_writer(writer: Arc<LedgerDb>, options: LedgerDbOptions) -> Result<Self, LedgerDbError> {
        let path = writer.path.clone();
        Self::with_source(Source::Writer(writer), &path, options)
    }

    fn with_source(source: Source, path: &Path, options: LedgerDbOptions) -> Result<Self, LedgerDbError> {
        let view = guarded(path, || take_view(&source, path))?;
        Ok(Self {
            inner: Arc::new(Inner {
                source,
                path: path.to_path_buf(),
                options,
                view: Mutex::new(view),
                errors: AtomicU64::new(0),
                refreshes: AtomicU64::new(0),
            }),
        })
    }

    /// Moves to the newest committed snapshot now; returns its statistics.
    /// On failure the store keeps its current snapshot.
    pub fn refresh(&self) -> Result<LedgerDbStats, LedgerDbError> {
        let view = guarded(&self.inner.path, || {
            take_view(&self.inner.source, &self.inner.path)
        })?;
        let stats = view.stats.clone();
        *self.lock() = view;
        self.inner.refreshes.fetch_add(1, Ordering::Relaxed);
        Ok(stats)
    }

    /// The statistics of the snapshot the store answers from.
    pub fn stats(&self) -> LedgerDbStats {
        self.lock().stats.clone()
    }

    /// Mappings in the current snapshot.
    pub fn len(&self) -> u64 {
        self.lock().stats.tokens
    }

    /// Whether the current snapshot holds no mapping.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reads that failed since the store was opened (each answered "not stored").
    pub fn errors(&self) -> u64 {
        self.inner.errors.load(Ordering::Relaxed)
    }

    /// Snapshots taken since the store was opened, the first excluded.
    pub fn refreshes(&self) -> u64 {
        self.inner.refreshes.load(Ordering::Relaxed)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// How the store reads.
    pub fn options(&self) -> &LedgerDbOptions {
        &self.inner.options
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, View> {
        // A panic while the lock was held left the view as it was: keep using it.
        self.inner.view.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs a read on the current view; a failure (error or panic) counts and
    /// answers `None`.
    fn read<T>(
        &self,
        view: &View,
        f: impl FnOnce(&ReadOnlyTable<Key, [u8; 32]>) -> Result<Option<T>, StorageError>,
    ) -> Option<T> {
        let result = catch_unwind(AssertUnwindSafe(|| f(&view.table)));
        match result {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => {
                self.failed(&e.to_string());
                None
            }
            Err(_) => {
                self.failed("database engine panicked");
                None
            }
        }
    }

    fn failed(&self, what: &str) {
        let n = self.inner.errors.fetch_add(1, Ordering::Relaxed);
        // The first failure and then every 1,000th: a broken disk must not flood the log.
        if n.is_multiple_of(1000) {
            log::error!(
                "ledger database {}: read failed ({what}); answering as if the token were not stored \
                 ({} failures so far)",
                self.inner.path.display(),
                n + 1
            );
        }
    }
}

fn take_view(source: &Source, path: &Path) -> Result<View, LedgerDbError> {
    let txn = source
        .begin_read()
        .map_err(|e| LedgerDbError::from_redb(path, e.into()))?;
    let stats = read_stats(path, &txn)?;
    let table = txn
        .open_table(MAPPINGS)
        .map_err(|e| LedgerDbError::from_table(path, e))?;
    Ok(View {
        table,
        stats,
        taken: Instant::now(),
        _txn: txn,
    })
}

type Entry<'a> = Option<(redb::AccessGuard<'a, Key>, redb::AccessGuard<'a, [u8; 32]>)>;

/// The entry, if it lies in bucket `s` (a cursor step may leave the bucket).
fn in_bucket(entry: Entry<'_>, s: u16) -> Option<TokenMapping> {
    let (k, v) = entry?;
    let k = k.value();
    (k[..2] == s.to_be_bytes()).then(|| mapping(&k, v.value()))
}

impl TokenStore for LedgerDbStore {
    fn lookup(&self, token: &TokenId) -> Option<BlockId> {
        let mut view = self.lock();
        if view.taken.elapsed() >= self.inner.options.max_staleness {
            match guarded(&self.inner.path, || {
                take_view(&self.inner.source, &self.inner.path)
            }) {
                Ok(fresh) => {
                    *view = fresh;
                    self.inner.refreshes.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    // Keep answering from the old snapshot; try again after another period.
                    view.taken = Instant::now();
                    self.failed(&format!("cannot take a new snapshot: {e}"));
                }
            }
        }
        self.read(&view, |t| {
            Ok(t.get(key_of(token))?.map(|v| BlockId::new(v.value())))
        })
    }

    fn next_with_suffix(&self, from: &TokenId, s: u16) -> Option<TokenMapping> {
        if usize::from(s) >= election_proto::id::SUFFIX_SPACE {
            return None;
        }
        let view = self.lock();
        // One B-tree descent to the gap after `from` in bucket `s`; a second
        // only to wrap around to the bucket's start.
        self.read(&view, |t| {
            let after = t.lower_bound(Excluded(key(s, from)))?.peek_next()?;
            if let Some(m) = in_bucket(after, s) {
                return Ok(Some(m));
            }
            let start = t.lower_bound(Included(key(s, &TokenId::ZERO)))?.peek_next()?;
            Ok(in_bucket(start, s).filter(|m| m.id != *from))
        })
    }

    fn prev_with_suffix(&self, from: &TokenId, s: u16) -> Option<TokenMapping> {
        if usize::from(s) >= election_proto::id::SUFFIX_SPACE {
            return None;
        }
        let view = self.lock();
        self.read(&view, |t| {
            let before = t.lower_bound(Included(key(s, from)))?.peek_prev()?;
            if let Some(m) = in_bucket(before, s) {
                return Ok(Some(m));
            }
            // Wrap: the bucket's largest token, unless that is `from` itself.
            let end = t.lower_bound(Excluded(key(s, &TokenId::MAX)))?.peek_prev()?;
            Ok(in_bucket(end, s).filter(|m| m.id != *from))
        })
    }
}

/// Reads a whole ledger database's mappings (for tests and tools: `O(n)` memory).
pub fn read_all(store: &LedgerDbStore) -> Result<Vec<TokenMapping>, LedgerDbError> {
    let view = store.lock();
    let p = store.path();
    guarded(p, || {
        let mut out = Vec::new();
        for item in view
            .table
            .range(..)
            .map_err(|e| LedgerDbError::from_storage(p, e))?
        {
            let (k, v) = item.map_err(|e| LedgerDbError::from_storage(p, e))?;
            out.push(mapping(&k.value(), v.value()));
        }
        Ok(out)
    })
}
