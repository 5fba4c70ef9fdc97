//! Ledger views for runtime nodes: the ledger file format, synthetic ledgers and
//! [`LedgerView`], the [`TokenStore`] every runtime node uses.
//!
//! # Ledger file format
//!
//! UTF-8 text, one mapping per line:
//!
//! ```text
//! # comment lines and blank lines are ignored
//! <token: 64 hex digits> <block: 64 hex digits>
//! ```
//!
//! The two fields are separated by spaces or tabs; leading and trailing
//! whitespace is ignored, and so is anything after a `#` that follows the
//! fields. A token may appear only once. Every bad line is reported with its
//! line number (see [`LedgerFileError`]); none is silently skipped, and a file
//! with any bad line is rejected as a whole.

use crate::identity::seeded_rng;
use election_proto::proof::TokenMapping;
use election_proto::{clockwise_distance, BlockId, Distance, MemoryStore, RingPoint, TokenId, TokenStore};
use rand::Rng;
use std::collections::HashMap;
use std::fmt;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Tokens in a synthetic ledger unless told otherwise: 32 per suffix value, so
/// a proof-of-storage walk (5 steps each way) spans about a third of the ring
/// and fits inside a 90 % arc.
pub const DEFAULT_SYNTHETIC_TOKENS: usize = 32 * 1024;

/// Share of the ring each node of a synthetic ledger holds, centred on its id.
pub const DEFAULT_COVERAGE: f64 = 0.9;

/// Most line errors kept (and printed) for one file; the rest are only counted.
pub const MAX_REPORTED_LINE_ERRORS: usize = 50;

/// One bad line of a ledger file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// Why a ledger file was rejected.
#[derive(Debug)]
pub enum LedgerFileError {
    /// The file could not be read.
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        error: std::io::Error,
    },
    /// Some lines are malformed. Holds the first [`MAX_REPORTED_LINE_ERRORS`].
    BadLines {
        /// The file (empty when parsing from a reader).
        path: PathBuf,
        /// The bad lines, in file order.
        errors: Vec<LineError>,
        /// Total number of bad lines, including those not kept.
        total: usize,
    },
}

impl fmt::Display for LedgerFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { path, error } => write!(f, "cannot read ledger {}: {error}", path.display()),
            Self::BadLines { path, errors, total } => {
                write!(f, "ledger {}: {total} bad line(s)", path.display())?;
                for e in errors {
                    write!(f, "\n  {e}")?;
                }
                if *total > errors.len() {
                    write!(f, "\n  … and {} more", total - errors.len())?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for LedgerFileError {}

impl LedgerFileError {
    /// The line errors, if this is a parse failure.
    pub fn line_errors(&self) -> &[LineError] {
        match self {
            Self::BadLines { errors, .. } => errors,
            Self::Io { .. } => &[],
        }
    }
}

/// Parses ledger text (see the [module docs](self) for the format).
pub fn parse_ledger(reader: impl BufRead) -> Result<Vec<(TokenId, BlockId)>, LedgerFileError> {
    parse_ledger_named(reader, PathBuf::new())
}

fn parse_ledger_named(
    reader: impl BufRead,
    path: PathBuf,
) -> Result<Vec<(TokenId, BlockId)>, LedgerFileError> {
    let mut out = Vec::new();
    let mut first_line: HashMap<TokenId, usize> = HashMap::new();
    let mut errors = Vec::new();
    let mut total = 0usize;
    let mut bad = |line: usize, message: String, errors: &mut Vec<LineError>| {
        total += 1;
        if errors.len() < MAX_REPORTED_LINE_ERRORS {
            errors.push(LineError { line, message });
        }
    };
    for (i, line) in reader.split(b'\n').enumerate() {
        let n = i + 1;
        let raw = line.map_err(|error| LedgerFileError::Io {
            path: path.clone(),
            error,
        })?;
        let Ok(text) = std::str::from_utf8(&raw) else {
            bad(n, "not valid UTF-8".into(), &mut errors);
            continue;
        };
        let content = text.split('#').next().unwrap_or("").trim();
        if content.is_empty() {
            continue;
        }
        let fields: Vec<&str> = content.split_whitespace().collect();
        if fields.len() != 2 {
            bad(
                n,
                format!(
                    "expected `<token hex> <block hex>`, found {} field(s)",
                    fields.len()
                ),
                &mut errors,
            );
            continue;
        }
        let token = match fields[0].parse::<TokenId>() {
            Ok(t) => t,
            Err(e) => {
                bad(n, format!("token: {e}"), &mut errors);
                continue;
            }
        };
        let block = match fields[1].parse::<BlockId>() {
            Ok(b) => b,
            Err(e) => {
                bad(n, format!("block: {e}"), &mut errors);
                continue;
            }
        };
        if let Some(first) = first_line.get(&token) {
            bad(n, format!("token already mapped on line {first}"), &mut errors);
            continue;
        }
        first_line.insert(token, n);
        out.push((token, block));
    }
    if total > 0 {
        return Err(LedgerFileError::BadLines { path, errors, total });
    }
    Ok(out)
}

/// Reads and parses a ledger file.
pub fn load_ledger_file(path: &Path) -> Result<MemoryStore, LedgerFileError> {
    let file = std::fs::File::open(path).map_err(|error| LedgerFileError::Io {
        path: path.to_path_buf(),
        error,
    })?;
    let mappings = parse_ledger_named(std::io::BufReader::new(file), path.to_path_buf())?;
    Ok(MemoryStore::from_mappings(mappings))
}

/// Writes mappings in the ledger file format (for tools and tests).
pub fn write_ledger(
    mut out: impl std::io::Write,
    mappings: impl IntoIterator<Item = TokenMapping>,
) -> std::io::Result<()> {
    for m in mappings {
        writeln!(out, "{} {}", m.id, m.block)?;
    }
    Ok(())
}

/// A synthetic shared ledger: `tokens` random token ids, each mapped to a
/// block derived from the token. The same `seed` gives the same ledger in
/// every process, so separately started nodes agree on it.
pub fn synthetic_ledger(seed: u64, tokens: usize) -> MemoryStore {
    let mut rng = seeded_rng("election-node 2024 synthetic ledger v1", &seed.to_le_bytes());
    let key = blake3::derive_key("election-node 2024 synthetic blocks v1", &seed.to_le_bytes());
    MemoryStore::from_mappings((0..tokens).map(|_| {
        let token: [u8; 32] = rng.random();
        let block = *blake3::keyed_hash(&key, &token).as_bytes();
        (TokenId::new(token), BlockId::new(block))
    }))
}

/// A node's view of a shared ledger: all of it, or the arc of the ring
/// centred on the node's id.
///
/// The ledger sits behind an [`Arc`], so a cluster of nodes holding arcs of
/// one ledger keeps a single copy. Every [`TokenStore`] operation is two
/// `O(log n)` searches of the underlying [`MemoryStore`].
#[derive(Clone, Debug)]
pub struct LedgerView {
    ledger: Arc<MemoryStore>,
    /// `(start, length)`: holds tokens `t` with `clockwise_distance(start, t) <= length`.
    arc: Option<(TokenId, Distance)>,
}

impl LedgerView {
    /// A view holding the whole ledger.
    pub fn full(ledger: Arc<MemoryStore>) -> Self {
        Self { ledger, arc: None }
    }

    /// A view holding the arc of `coverage` (a share of the ring in `(0, 1]`)
    /// centred on `center`. A coverage of 1 or more is the whole ledger.
    pub fn arc_around(ledger: Arc<MemoryStore>, center: &impl RingPoint, coverage: f64) -> Self {
        if coverage >= 1.0 || coverage.is_nan() {
            return Self::full(ledger);
        }
        let share = coverage.max(0.0);
        let len = fraction_of_ring(share);
        let half = fraction_of_ring(share / 2.0);
        let start = TokenId::new(*center.ring_bytes()).sub(&half);
        Self {
            ledger,
            arc: Some((start, len)),
        }
    }

    /// Whether `token` lies in the part of the ring this view holds.
    pub fn covers(&self, token: &TokenId) -> bool {
        match &self.arc {
            None => true,
            Some((start, len)) => clockwise_distance(start, token) <= *len,
        }
    }

    /// The whole underlying ledger.
    pub fn ledger(&self) -> &MemoryStore {
        &self.ledger
    }

    /// The underlying ledger for changes. Other views sharing it keep the old
    /// version (copy on write).
    pub fn ledger_mut(&mut self) -> &mut MemoryStore {
        Arc::make_mut(&mut self.ledger)
    }

    /// The held arc as `(start, length)`, or `None` for the whole ledger.
    pub fn arc(&self) -> Option<(TokenId, Distance)> {
        self.arc
    }

    /// Number of mappings this view holds (counts them: `O(n)`).
    pub fn count(&self) -> usize {
        match self.arc {
            None => self.ledger.len(),
            Some(_) => self.ledger.iter().filter(|m| self.covers(&m.id)).count(),
        }
    }
}

/// `share * 2^256` as a distance (only the top 64 bits are set; precision is irrelevant).
fn fraction_of_ring(share: f64) -> Distance {
    let top = if share >= 1.0 {
        u64::MAX
    } else {
        (share * 18_446_744_073_709_551_616.0) as u64
    };
    let mut d = [0u8; 32];
    d[..8].copy_from_slice(&top.to_be_bytes());
    Distance(d)
}

impl TokenStore for LedgerView {
    fn lookup(&self, token: &TokenId) -> Option<BlockId> {
        if self.covers(token) {
            self.ledger.lookup(token)
        } else {
            None
        }
    }

    fn next_with_suffix(&self, from: &TokenId, s: u16) -> Option<TokenMapping> {
        let Some((start, _)) = self.arc else {
            return self.ledger.next_with_suffix(from, s);
        };
        // The first ledger token clockwise of `from` is the answer if the view
        // holds it: any held token before it would be a ledger token before it.
        let first = self.ledger.next_with_suffix(from, s)?;
        if self.covers(&first.id) {
            return Some(first);
        }
        // Otherwise it lies in the gap; the answer is the first held token
        // after the gap, i.e. the first ledger token at or after the arc start.
        let from_start = self
            .ledger
            .next_with_suffix(&start.sub(&Distance::from_u64(1)), s)?;
        (self.covers(&from_start.id) && from_start.id != *from).then_some(from_start)
    }

    fn prev_with_suffix(&self, from: &TokenId, s: u16) -> Option<TokenMapping> {
        let Some((start, len)) = self.arc else {
            return self.ledger.prev_with_suffix(from, s);
        };
        let first = self.ledger.prev_with_suffix(from, s)?;
        if self.covers(&first.id) {
            return Some(first);
        }
        let end = start.add(&len);
        let from_end = self
            .ledger
            .prev_with_suffix(&end.add(&Distance::from_u64(1)), s)?;
        (self.covers(&from_end.id) && from_end.id != *from).then_some(from_end)
    }
}
