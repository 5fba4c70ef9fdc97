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
        let (token, block) = match parse_mapping_line(text) {
            Ok(None) => continue,
            Ok(Some(pair)) => pair,
            Err(message) => {
                bad(n, message, &mut errors);
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

/// Parses one line of a ledger file (see the [module docs](self)): `Ok(None)`
/// for a blank or comment line, the mapping, or what is wrong with the line.
pub fn parse_mapping_line(text: &str) -> Result<Option<(TokenId, BlockId)>, String> {
    let content = text.split('#').next().unwrap_or("").trim();
    if content.is_empty() {
        return Ok(None);
    }
    let mut fields = content.split_whitespace();
    let (Some(token), Some(block), None) = (fields.next(), fields.next(), fields.next()) else {
        return Err(format!(
            "expected `<token hex> <block hex>`, found {} field(s)",
            content.split_whitespace().count()
        ));
    };
    let token = token.parse::<TokenId>().map_err(|e| format!("token: {e}"))?;
    let block = block.parse::<BlockId>().map_err(|e| format!("block: {e}"))?;
    Ok(Some((token, block)))
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
/// The ledger is in memory behind an [`Arc`], so a cluster of nodes holding
/// arcs of one ledger keeps a single copy; or (feature `ledger-db`) on disk, a
/// `ledger_db::LedgerDbStore` that follows the
/// database's commits while the node runs. Every [`TokenStore`] operation is
/// at most two searches of the underlying ledger.
#[derive(Clone, Debug)]
pub struct LedgerView {
    ledger: Backing,
    /// `(start, length)`: holds tokens `t` with `clockwise_distance(start, t) <= length`.
    arc: Option<(TokenId, Distance)>,
}

/// The ledger under a [`LedgerView`].
#[derive(Clone, Debug)]
enum Backing {
    Memory(Arc<MemoryStore>),
    #[cfg(feature = "ledger-db")]
    Db(crate::ledger_db::LedgerDbStore),
}

impl TokenStore for Backing {
    fn lookup(&self, token: &TokenId) -> Option<BlockId> {
        match self {
            Self::Memory(m) => m.lookup(token),
            #[cfg(feature = "ledger-db")]
            Self::Db(d) => d.lookup(token),
        }
    }

    fn next_with_suffix(&self, from: &TokenId, s: u16) -> Option<TokenMapping> {
        match self {
            Self::Memory(m) => m.next_with_suffix(from, s),
            #[cfg(feature = "ledger-db")]
            Self::Db(d) => d.next_with_suffix(from, s),
        }
    }

    fn prev_with_suffix(&self, from: &TokenId, s: u16) -> Option<TokenMapping> {
        match self {
            Self::Memory(m) => m.prev_with_suffix(from, s),
            #[cfg(feature = "ledger-db")]
            Self::Db(d) => d.prev_with_suffix(from, s),
        }
    }
}

impl LedgerView {
    /// A view holding the whole ledger.
    pub fn full(ledger: Arc<MemoryStore>) -> Self {
        Self {
            ledger: Backing::Memory(ledger),
            arc: None,
        }
    }

    /// A view holding the whole of an on-disk ledger, following its commits.
    #[cfg(feature = "ledger-db")]
    pub fn from_db(store: crate::ledger_db::LedgerDbStore) -> Self {
        Self {
            ledger: Backing::Db(store),
            arc: None,
        }
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
            ledger: Backing::Memory(ledger),
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

    /// The whole underlying ledger, if it is in memory.
    pub fn ledger(&self) -> Option<&MemoryStore> {
        match &self.ledger {
            Backing::Memory(m) => Some(m),
            #[cfg(feature = "ledger-db")]
            Backing::Db(_) => None,
        }
    }

    /// The underlying in-memory ledger for changes. Other views sharing it
    /// keep the old version (copy on write). `None` for an on-disk ledger,
    /// which changes through its `ledger_db::LedgerDb`.
    pub fn ledger_mut(&mut self) -> Option<&mut MemoryStore> {
        match &mut self.ledger {
            Backing::Memory(m) => Some(Arc::make_mut(m)),
            #[cfg(feature = "ledger-db")]
            Backing::Db(_) => None,
        }
    }

    /// The on-disk ledger store, if the view is over one.
    #[cfg(feature = "ledger-db")]
    pub fn db(&self) -> Option<&crate::ledger_db::LedgerDbStore> {
        match &self.ledger {
            Backing::Db(d) => Some(d),
            Backing::Memory(_) => None,
        }
    }

    /// The held arc as `(start, length)`, or `None` for the whole ledger.
    pub fn arc(&self) -> Option<(TokenId, Distance)> {
        self.arc
    }

    /// Number of mappings this view holds (an arc of an in-memory ledger
    /// counts them: `O(n)`; an on-disk ledger's current snapshot knows it).
    pub fn count(&self) -> usize {
        match (&self.ledger, self.arc) {
            (Backing::Memory(m), None) => m.len(),
            (Backing::Memory(m), Some(_)) => m.iter().filter(|t| self.covers(&t.id)).count(),
            #[cfg(feature = "ledger-db")]
            (Backing::Db(d), _) => usize::try_from(d.len()).unwrap_or(usize::MAX),
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
