//! The `--state-dir` directory: identity seed and peer-table snapshots.
//!
//! Two files, each replaced atomically (written to a temporary file in the same
//! directory, flushed with `fsync`, renamed over the old one, then the directory
//! itself is synced), so a crash leaves either the old or the new version:
//!
//! - `identity`: the node's secret key (the 32-byte Ed25519 secret key its
//!   peer id derives from, wire v2) as 64 hex digits and a newline. Written
//!   with mode 0600 (owner only) on Unix.
//! - `peers.json`: a [`StateFile`]: the node's [`PeerSnapshot`] and the clock
//!   reading it was taken at.
//! - `identity.pow`: a [`PowFile`]: the identity's proof of work (see
//!   [`election_proto::keys::pow_valid`]) once mined, or how far mining got
//!   (the next nonce to try), so that an interrupted first start resumes.
//!
//! Reading never panics: a missing file is "nothing saved yet"; a truncated or
//! corrupt one is a [`StateError`]. A file that cannot be used is never
//! overwritten: [`StateDir::move_aside`] renames it to
//! `NAME.corrupt-YYYYMMDDTHHMMSSZ` (UTC) first, and the caller logs where it went.

use crate::identity::Identity;
use election_proto::node::PeerSnapshot;
use election_proto::PeerId;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// File name of the identity seed inside the state directory.
pub const IDENTITY_FILE: &str = "identity";
/// File name of the peer snapshot inside the state directory.
pub const PEERS_FILE: &str = "peers.json";
/// File name of the identity's proof of work inside the state directory.
pub const POW_FILE: &str = "identity.pow";
/// Current [`PowFile::format`].
pub const POW_FORMAT: u32 = 1;
/// Current [`StateFile::format`].
pub const STATE_FORMAT: u32 = 1;

/// What `peers.json` holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateFile {
    /// Format version; files with another version are rejected.
    pub format: u32,
    /// The node the snapshot belongs to.
    pub peer_id: PeerId,
    /// The node's clock reading (ms) when the snapshot was taken; a restarted
    /// node's clock continues from here.
    pub saved_at_ms: u64,
    /// The peer tables.
    pub snapshot: PeerSnapshot<SocketAddr>,
}

/// What `identity.pow` holds: the proof of work of the identity beside it,
/// or the progress of mining one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PowFile {
    /// Format version; files with another version are rejected.
    pub format: u32,
    /// The identity the proof belongs to.
    pub peer_id: PeerId,
    /// The difficulty (leading zero bits) mined for.
    pub bits: u8,
    /// The nonce found, once mining has finished.
    pub nonce: Option<u64>,
    /// Mining resumes from this nonce (every smaller one failed `bits`).
    pub next_nonce: u64,
}

/// A problem with the state directory.
#[derive(Debug)]
pub enum StateError {
    /// Reading or writing failed.
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        error: io::Error,
    },
    /// A file exists but its content is not valid (truncated, corrupt, or another format).
    Corrupt {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { path, error } => write!(f, "{}: {error}", path.display()),
            Self::Corrupt { path, reason } => write!(f, "{} is corrupt: {reason}", path.display()),
        }
    }
}

impl std::error::Error for StateError {}

/// A node's state directory.
#[derive(Clone, Debug)]
pub struct StateDir {
    dir: PathBuf,
}

impl StateDir {
    /// Opens (creating if needed) a state directory.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, StateError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(|error| StateError::Io {
            path: dir.clone(),
            error,
        })?;
        Ok(Self { dir })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Path of the identity file.
    pub fn identity_path(&self) -> PathBuf {
        self.dir.join(IDENTITY_FILE)
    }

    /// Path of the peer snapshot file.
    pub fn peers_path(&self) -> PathBuf {
        self.dir.join(PEERS_FILE)
    }

    /// The saved identity: `Ok(None)` if none was saved yet.
    pub fn load_identity(&self) -> Result<Option<Identity>, StateError> {
        let path = self.identity_path();
        let Some(bytes) = read_if_exists(&path)? else {
            return Ok(None);
        };
        let corrupt = |reason: &str| StateError::Corrupt {
            path: path.clone(),
            reason: reason.to_string(),
        };
        let text = std::str::from_utf8(&bytes).map_err(|_| corrupt("not UTF-8"))?;
        let id: PeerId = text.trim().parse().map_err(|e| corrupt(&format!("{e}")))?;
        Ok(Some(Identity::from_seed(*id.as_bytes())))
    }

    /// Saves the identity seed atomically.
    pub fn save_identity(&self, identity: &Identity) -> Result<(), StateError> {
        // PeerId's Display is exactly 64 hex digits; reuse it for the seed bytes.
        let text = format!("{}\n", PeerId::new(*identity.seed()));
        write_atomic(&self.identity_path(), text.as_bytes(), true)
    }

    /// Path of the proof-of-work file.
    pub fn pow_path(&self) -> PathBuf {
        self.dir.join(POW_FILE)
    }

    /// The saved proof of work (or mining progress): `Ok(None)` if none was
    /// saved yet. Whether it belongs to this identity and is valid is the
    /// caller's check.
    pub fn load_pow(&self) -> Result<Option<PowFile>, StateError> {
        let path = self.pow_path();
        let Some(bytes) = read_if_exists(&path)? else {
            return Ok(None);
        };
        let pow: PowFile = serde_json::from_slice(&bytes).map_err(|e| StateError::Corrupt {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        if pow.format != POW_FORMAT {
            return Err(StateError::Corrupt {
                path,
                reason: format!("format {} (expected {POW_FORMAT})", pow.format),
            });
        }
        Ok(Some(pow))
    }

    /// Saves the proof of work (or mining progress) atomically.
    pub fn save_pow(&self, pow: &PowFile) -> Result<(), StateError> {
        let path = self.pow_path();
        let bytes = serde_json::to_vec(pow).map_err(|e| StateError::Corrupt {
            path: path.clone(),
            reason: format!("cannot encode: {e}"),
        })?;
        write_atomic(&path, &bytes, false)
    }

    /// The saved peer state: `Ok(None)` if none was saved yet.
    pub fn load_peers(&self) -> Result<Option<StateFile>, StateError> {
        let path = self.peers_path();
        let Some(bytes) = read_if_exists(&path)? else {
            return Ok(None);
        };
        let state: StateFile = serde_json::from_slice(&bytes).map_err(|e| StateError::Corrupt {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        if state.format != STATE_FORMAT {
            return Err(StateError::Corrupt {
                path,
                reason: format!("format {} (expected {STATE_FORMAT})", state.format),
            });
        }
        Ok(Some(state))
    }

    /// Renames `path` (a file in this directory that cannot be used) to
    /// `NAME.corrupt-YYYYMMDDTHHMMSSZ`, the time now in UTC, with `-1`, `-2`,
    /// ... appended if that name is taken, and returns the new path. The
    /// bytes are kept as they were, for a person to look at.
    pub fn move_aside(&self, path: &Path) -> Result<PathBuf, StateError> {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.move_aside_at(path, secs)
    }

    /// [`move_aside`](Self::move_aside) with the time given, seconds since the
    /// Unix epoch.
    pub fn move_aside_at(&self, path: &Path, unix_secs: u64) -> Result<PathBuf, StateError> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let base = format!("{name}.corrupt-{}", utc_stamp(unix_secs));
        let dir = path.parent().unwrap_or(&self.dir);
        for n in 0u32..1000 {
            let candidate = match n {
                0 => dir.join(&base),
                n => dir.join(format!("{base}-{n}")),
            };
            if fs::symlink_metadata(&candidate).is_ok() {
                continue;
            }
            fs::rename(path, &candidate).map_err(|error| StateError::Io {
                path: path.to_path_buf(),
                error,
            })?;
            return Ok(candidate);
        }
        Err(StateError::Io {
            path: path.to_path_buf(),
            error: io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("too many files named {base}*"),
            ),
        })
    }

    /// Saves the peer state atomically.
    pub fn save_peers(&self, state: &StateFile) -> Result<(), StateError> {
        let path = self.peers_path();
        let bytes = serde_json::to_vec(state).map_err(|e| StateError::Corrupt {
            path: path.clone(),
            reason: format!("cannot encode: {e}"),
        })?;
        write_atomic(&path, &bytes, false)
    }
}

/// `YYYYMMDDTHHMMSSZ` for `unix_secs` seconds after the Unix epoch (UTC).
pub fn utc_stamp(unix_secs: u64) -> String {
    let days = unix_secs / 86_400;
    let rem = unix_secs % 86_400;
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    )
}

fn read_if_exists(path: &Path) -> Result<Option<Vec<u8>>, StateError> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(StateError::Io {
            path: path.to_path_buf(),
            error,
        }),
    }
}

/// Replaces `path` with `bytes` atomically: temporary file in the same
/// directory, `fsync`, rename, then `fsync` of the directory (where the
/// platform allows opening one).
pub fn write_atomic(path: &Path, bytes: &[u8], private: bool) -> Result<(), StateError> {
    let io_err = |p: &Path| {
        let p = p.to_path_buf();
        move |error| StateError::Io { path: p, error }
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.tmp.{}.{unique}", std::process::id()));
    let result = (|| {
        let mut opts = OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        if private {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        #[cfg(not(unix))]
        let _ = private;
        let mut f = opts.open(&tmp).map_err(io_err(&tmp))?;
        f.write_all(bytes).map_err(io_err(&tmp))?;
        f.sync_all().map_err(io_err(&tmp))?;
        drop(f);
        fs::rename(&tmp, path).map_err(io_err(path))?;
        // Make the rename itself durable. Not possible on every platform.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
