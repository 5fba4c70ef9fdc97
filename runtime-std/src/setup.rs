//! One long-running node as the `run` subcommand starts it: identity, ledger,
//! state directory, socket, bootstrap, periodic snapshots.

use crate::clock::Clock;
use crate::control::{NodeControl, NodeEvent, Runtime, Stopped};
use crate::host::short_id;
use crate::identity::{
    mine_identity_pow, os_random, Identity, MineOutcome, MiningProgress, RandomSource, RandomnessError,
};
use crate::ledger::{load_ledger_file, synthetic_ledger, LedgerFileError, LedgerView};
use crate::state::{PowFile, StateDir, StateError, StateFile, POW_FORMAT, STATE_FORMAT};
use election_proto::node::{Event, Node, NodeConfig, NodeConfigError};
use election_proto::wire::Contact;
use election_proto::PeerId;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often mining the identity proof of work reports progress and saves it
/// to the state directory (so an interrupted first start loses at most this).
pub const POW_CHECKPOINT: Duration = Duration::from_secs(2);

/// How the host watches and interrupts mining the identity proof of work
/// ([`NodeSetup::start`] mines it when `config.pow_difficulty` > 0 and no
/// valid proof is saved).
#[derive(Clone, Debug, Default)]
pub struct MiningControl {
    /// Set to stop mining: [`NodeSetup::start`] then saves how far it got and
    /// fails with [`SetupError::Interrupted`].
    pub stop: Option<Arc<AtomicBool>>,
    /// Called about every [`POW_CHECKPOINT`] with the progress (e.g. to
    /// print a progress line).
    pub progress: Option<fn(&MiningProgress)>,
}

/// How often a node with no contacts asks its seed addresses again.
pub const BOOTSTRAP_RETRY: Duration = Duration::from_secs(5);

/// A bootstrap peer: an address, optionally with the peer's id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BootstrapPeer {
    /// Only the address (`ADDR`): the node joins through it (`Command::AddSeeds`)
    /// and learns its id from its reply.
    Addr(SocketAddr),
    /// Id and address (`HEXID@ADDR`): added as a contact directly.
    Contact(Contact<SocketAddr>),
}

impl BootstrapPeer {
    /// The peer's address.
    pub fn addr(&self) -> SocketAddr {
        match self {
            Self::Addr(a) => *a,
            Self::Contact(c) => c.addr,
        }
    }
}

impl FromStr for BootstrapPeer {
    type Err = String;
    /// Parses `ADDR` or `HEXID@ADDR`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        match s.split_once('@') {
            Some((id, addr)) => {
                let id: PeerId = id.parse().map_err(|e| format!("bad peer id in {s:?}: {e}"))?;
                let addr: SocketAddr = addr.parse().map_err(|e| format!("bad address in {s:?}: {e}"))?;
                Ok(Self::Contact(Contact { id, addr }))
            }
            None => s
                .parse()
                .map(Self::Addr)
                .map_err(|e| format!("bad address {s:?}: {e} (expected IP:PORT or HEXID@IP:PORT)")),
        }
    }
}

/// Where a node's ledger view comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum LedgerSource {
    /// A ledger file: the node holds every mapping in it.
    File(PathBuf),
    /// A synthetic shared ledger; the node holds the arc of `coverage` around its id.
    Synthetic {
        /// Ledger seed: nodes with the same seed share the ledger.
        seed: u64,
        /// Number of tokens in the whole ledger.
        tokens: usize,
        /// Share of the ring held.
        coverage: f64,
    },
    /// An on-disk ledger database (feature `ledger-db`), opened read-only;
    /// the node holds all of it and follows its commits while it runs.
    #[cfg(feature = "ledger-db")]
    Db {
        /// The database file.
        path: PathBuf,
        /// How the node reads it (page cache, staleness).
        options: crate::ledger_db::LedgerDbOptions,
    },
}

/// Everything needed to start one node.
#[derive(Clone, Debug)]
pub struct NodeSetup {
    /// Address to bind.
    pub listen: SocketAddr,
    /// Address to advertise to peers (default: the bound address; an
    /// unspecified IP is replaced by loopback).
    pub advertise: Option<SocketAddr>,
    /// Peers to start from.
    pub bootstrap: Vec<BootstrapPeer>,
    /// Where to keep identity and peer snapshots (none: nothing persists).
    pub state_dir: Option<PathBuf>,
    /// The ledger.
    pub ledger: LedgerSource,
    /// Deterministic identity (and node RNG) from this number.
    pub id_seed: Option<u64>,
    /// Protocol configuration.
    pub config: NodeConfig,
    /// How often to snapshot the peer tables to the state directory.
    pub save_interval: Duration,
    /// Where fresh identities and node RNG seeds come from
    /// when not derived from `id_seed` (default [`os_random`]; a failure fails
    /// [`start`](Self::start) with [`SetupError::Randomness`]).
    pub random: RandomSource,
    /// Progress reports and interruption of identity mining.
    pub mining: MiningControl,
}

impl NodeSetup {
    /// A setup with defaults: no bootstrap, no state, synthetic ledger 0.
    pub fn new(listen: SocketAddr) -> Self {
        Self {
            listen,
            advertise: None,
            bootstrap: Vec::new(),
            state_dir: None,
            ledger: LedgerSource::Synthetic {
                seed: 0,
                tokens: crate::ledger::DEFAULT_SYNTHETIC_TOKENS,
                coverage: crate::ledger::DEFAULT_COVERAGE,
            },
            id_seed: None,
            config: NodeConfig::default(),
            save_interval: Duration::from_secs(30),
            random: os_random,
            mining: MiningControl::default(),
        }
    }
}

/// Where the node's identity came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdentityOrigin {
    /// Read from the state directory.
    Loaded,
    /// Derived from `--id-seed` (and saved, if there is a state directory).
    FromSeed,
    /// Freshly generated (and saved, if there is a state directory).
    Generated,
}

/// What happened while starting a node.
#[derive(Debug)]
pub struct StartReport {
    /// Where the identity came from.
    pub identity: IdentityOrigin,
    /// Mappings in the node's ledger view.
    pub ledger_mappings: usize,
    /// Elected peers restored from the state directory.
    pub restored_peers: usize,
    /// Contacts in the restored snapshot.
    pub restored_contacts: usize,
    /// Problems with the state directory that were survived (each was logged;
    /// the affected state was started fresh).
    pub state_problems: Vec<StateError>,
    /// Where each unusable state file was moved (`NAME.corrupt-TIMESTAMP`),
    /// in the order of `state_problems`; its bytes are kept as they were.
    pub moved_aside: Vec<PathBuf>,
}

/// Why a node could not start.
#[derive(Debug)]
pub enum SetupError {
    /// The ledger file is unreadable or has bad lines.
    Ledger(LedgerFileError),
    /// The ledger database cannot be opened (missing, corrupt, unreadable);
    /// it was not written to.
    #[cfg(feature = "ledger-db")]
    LedgerDb(crate::ledger_db::LedgerDbError),
    /// The state directory cannot be used at all.
    State(StateError),
    /// The listen address cannot be bound.
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        error: io::Error,
    },
    /// The node configuration is invalid.
    Config(NodeConfigError),
    /// The state directory belongs to another identity than `--id-seed` names.
    IdentityMismatch {
        /// Id saved in the state directory.
        saved: PeerId,
        /// Id `--id-seed` derives.
        requested: PeerId,
    },
    /// Fresh randomness was needed and the OS could not provide it.
    Randomness(RandomnessError),
    /// Mining the identity proof of work was interrupted
    /// ([`MiningControl::stop`]); its progress was saved (with a state
    /// directory), and the next start resumes from it.
    Interrupted {
        /// The difficulty being mined.
        bits: u8,
        /// Nonces tried in this session.
        tries: u64,
    },
    /// Any other I/O failure (spawning, talking to the node).
    Io(io::Error),
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ledger(e) => e.fmt(f),
            #[cfg(feature = "ledger-db")]
            Self::LedgerDb(e) => e.fmt(f),
            Self::State(e) => write!(f, "state directory: {e}"),
            Self::Bind { addr, error } => write!(f, "cannot bind {addr}: {error}"),
            Self::Config(e) => write!(f, "invalid node configuration: {e}"),
            Self::IdentityMismatch { saved, requested } => write!(
                f,
                "the state directory holds identity {saved}, but --id-seed gives {requested}; \
                 use another directory or drop --id-seed"
            ),
            Self::Randomness(e) => e.fmt(f),
            Self::Interrupted { bits, tries } => write!(
                f,
                "interrupted while mining the identity proof of work ({bits} bits, {tries} tries this time); \
                 with --state-dir the next start resumes where it stopped"
            ),
            Self::Io(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for SetupError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Ledger(e) => Some(e),
            #[cfg(feature = "ledger-db")]
            Self::LedgerDb(e) => Some(e),
            Self::State(e) => Some(e),
            Self::Bind { error, .. } | Self::Io(error) => Some(error),
            Self::Config(e) => Some(e),
            Self::Randomness(e) => Some(e),
            Self::IdentityMismatch { .. } | Self::Interrupted { .. } => None,
        }
    }
}

/// A started node with its persistence and bootstrap duties.
pub struct StartedNode {
    node: Box<dyn NodeControl>,
    state: Option<StateDir>,
    report: StartReport,
    probe_addrs: Vec<SocketAddr>,
    save_interval: Duration,
    last_save: Instant,
    last_probe: Instant,
}

impl fmt::Debug for StartedNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StartedNode")
            .field("contact", &self.node.contact())
            .field("runtime", &self.node.runtime_name())
            .field("state", &self.state)
            .field("report", &self.report)
            .finish_non_exhaustive()
    }
}

impl NodeSetup {
    /// Starts the node on `runtime`: loads or creates the identity, loads the
    /// ledger, binds the socket, loads or mines the identity's proof of work
    /// (when `config.pow_difficulty` > 0: saved as `identity.pow` in the
    /// state directory, progress every [`POW_CHECKPOINT`], interruptible
    /// through [`NodeSetup::mining`]), restores saved peers, contacts
    /// bootstrap peers.
    ///
    /// A corrupt or unreadable state file is moved aside (see
    /// [`StateDir::move_aside`]), reported in [`StartReport::state_problems`]
    /// and [`StartReport::moved_aside`] and logged, and the node starts fresh
    /// (a new identity, or empty peer tables); one that cannot be moved aside
    /// fails the start. A bad ledger file is an error.
    pub fn start(&self, runtime: &dyn Runtime) -> Result<StartedNode, SetupError> {
        let mut problems = Vec::new();
        let state = match &self.state_dir {
            Some(dir) => Some(StateDir::open(dir).map_err(SetupError::State)?),
            None => None,
        };
        // Identity.
        let requested = self.id_seed.map(Identity::from_u64);
        let mut moved_aside = Vec::new();
        let saved = match &state {
            Some(s) => match s.load_identity() {
                Ok(id) => id,
                Err(e) => {
                    let to = set_aside(s, &s.identity_path(), &e)?;
                    log::error!(
                        "{e}; moved it aside to {}; starting with a new identity",
                        to.display()
                    );
                    moved_aside.push(to);
                    problems.push(e);
                    None
                }
            },
            None => None,
        };
        let (identity, origin) = match (saved, requested) {
            (Some(saved), Some(req)) if saved != req => {
                return Err(SetupError::IdentityMismatch {
                    saved: saved.peer_id(),
                    requested: req.peer_id(),
                })
            }
            (Some(saved), _) => (saved, IdentityOrigin::Loaded),
            (None, Some(req)) => (req, IdentityOrigin::FromSeed),
            (None, None) => (
                Identity::random_from(self.random).map_err(SetupError::Randomness)?,
                IdentityOrigin::Generated,
            ),
        };
        if let (Some(s), false) = (&state, origin == IdentityOrigin::Loaded) {
            s.save_identity(&identity).map_err(SetupError::State)?;
        }
        let id = identity.peer_id();
        self.config.validate().map_err(SetupError::Config)?;
        // Saved peers.
        let saved_peers = match &state {
            Some(s) => match s.load_peers() {
                Ok(Some(file)) if file.peer_id != id => {
                    let e = StateError::Corrupt {
                        path: s.peers_path(),
                        reason: format!("snapshot belongs to peer {}, not {id}", file.peer_id),
                    };
                    let to = set_aside(s, &s.peers_path(), &e)?;
                    log::error!(
                        "{e}; moved it aside to {}; starting with empty peer tables",
                        to.display()
                    );
                    moved_aside.push(to);
                    problems.push(e);
                    None
                }
                Ok(file) => file,
                Err(e) => {
                    let to = set_aside(s, &s.peers_path(), &e)?;
                    log::error!(
                        "{e}; moved it aside to {}; starting with empty peer tables",
                        to.display()
                    );
                    moved_aside.push(to);
                    problems.push(e);
                    None
                }
            },
            None => None,
        };
        // Ledger.
        let view = match &self.ledger {
            LedgerSource::File(path) => {
                LedgerView::full(Arc::new(load_ledger_file(path).map_err(SetupError::Ledger)?))
            }
            LedgerSource::Synthetic {
                seed,
                tokens,
                coverage,
            } => LedgerView::arc_around(Arc::new(synthetic_ledger(*seed, *tokens)), &id, *coverage),
            #[cfg(feature = "ledger-db")]
            LedgerSource::Db { path, options } => LedgerView::from_db(
                crate::ledger_db::LedgerDbStore::open(path, options.clone()).map_err(SetupError::LedgerDb)?,
            ),
        };
        #[cfg(feature = "ledger-db")]
        if let Some(db) = view.db() {
            let stats = db.stats();
            log::info!(
                "ledger database {}: {} tokens, generation {}; following its commits \
                 (each walk sees the last commit older than {} ms)",
                db.path().display(),
                stats.tokens,
                stats.generation,
                db.options().max_staleness.as_millis()
            );
        }
        let ledger_mappings = view.count();
        if ledger_mappings == 0 {
            log::warn!("the ledger view is empty: this node can route but never answer or elect");
        }
        // Socket and node.
        let socket = UdpSocket::bind(self.listen).map_err(|error| SetupError::Bind {
            addr: self.listen,
            error,
        })?;
        let bound = socket.local_addr().map_err(SetupError::Io)?;
        // The identity's proof of work: loaded, resumed or mined, once
        // everything that can fail fast (ledger, socket) has been checked.
        let pow_nonce = self.identity_pow(&identity, state.as_ref(), &mut problems, &mut moved_aside)?;
        let advertise = advertised(self.advertise.unwrap_or(bound));
        // With --id-seed the node's seed is derived from it (reproducible
        // demos, no OS randomness needed); otherwise it is fresh, drawn before
        // the node starts so that a failure leaves nothing running.
        let rng_seed = match self.id_seed {
            Some(_) => identity.derived_rng_seed(0),
            None => (self.random)().map_err(SetupError::Randomness)?,
        };
        let key = identity.key().with_pow_nonce(pow_nonce);
        let node =
            Node::new(self.config.clone(), key, advertise, view, rng_seed).map_err(SetupError::Config)?;
        let clock = Clock::starting_at(saved_peers.as_ref().map_or(0, |f| f.saved_at_ms));
        let node = runtime.spawn(node, socket, clock).map_err(SetupError::Io)?;
        let mut report = StartReport {
            identity: origin,
            ledger_mappings,
            restored_peers: 0,
            restored_contacts: 0,
            state_problems: problems,
            moved_aside,
        };
        if let Some(file) = saved_peers {
            report.restored_contacts = file.snapshot.contacts.len();
            report.restored_peers = node
                .restore(file.snapshot)
                .map_err(|e| SetupError::Io(io::Error::other(e)))?;
        }
        let contacts: Vec<_> = self
            .bootstrap
            .iter()
            .filter_map(|b| match b {
                BootstrapPeer::Contact(c) => Some(c.clone()),
                BootstrapPeer::Addr(_) => None,
            })
            .collect();
        if !contacts.is_empty() {
            node.add_contacts(contacts)
                .map_err(|e| SetupError::Io(io::Error::other(e)))?;
        }
        let probe_addrs = self
            .bootstrap
            .iter()
            .filter_map(|b| match b {
                BootstrapPeer::Addr(a) => Some(*a),
                BootstrapPeer::Contact(_) => None,
            })
            .collect();
        let mut started = StartedNode {
            node,
            state,
            report,
            probe_addrs,
            save_interval: self.save_interval,
            last_save: Instant::now(),
            last_probe: Instant::now(),
        };
        started.probe_bootstrap_now();
        Ok(started)
    }
}

impl NodeSetup {
    /// The proof-of-work nonce for `identity` at `config.pow_difficulty`
    /// (0 when the difficulty is 0): a valid one saved in the state
    /// directory, or one mined now, resuming saved progress. An unusable
    /// `identity.pow` (corrupt, or another identity's) is moved aside.
    fn identity_pow(
        &self,
        identity: &Identity,
        state: Option<&StateDir>,
        problems: &mut Vec<StateError>,
        moved_aside: &mut Vec<PathBuf>,
    ) -> Result<u64, SetupError> {
        let bits = self.config.guard.pow_difficulty;
        if bits == 0 {
            return Ok(0);
        }
        let key = identity.key().public();
        let id = identity.peer_id();
        let mut start = 0;
        if let Some(s) = state {
            let unusable = match s.load_pow() {
                Ok(None) => None,
                Ok(Some(f)) if f.peer_id != id => Some(StateError::Corrupt {
                    path: s.pow_path(),
                    reason: format!("proof of work belongs to peer {}, not {id}", f.peer_id),
                }),
                Ok(Some(f)) => {
                    if let Some(n) = f
                        .nonce
                        .filter(|n| election_proto::keys::pow_valid(&key, *n, bits))
                    {
                        log::info!(
                            "identity proof of work ({bits} bits) loaded from {}",
                            s.pow_path().display()
                        );
                        return Ok(n);
                    }
                    // Every nonce below `next_nonce` had fewer than `f.bits`
                    // zero bits, so also fewer than `bits` if `bits >= f.bits`.
                    if bits >= f.bits {
                        start = f.next_nonce;
                    }
                    None
                }
                Err(e) => Some(e),
            };
            if let Some(e) = unusable {
                let to = set_aside(s, &s.pow_path(), &e)?;
                log::error!("{e}; moved it aside to {}; mining anew", to.display());
                moved_aside.push(to);
                problems.push(e);
            }
        } else {
            log::warn!("no --state-dir: the identity proof of work mined now is not kept");
        }
        if start > 0 {
            log::info!("resuming the identity proof of work ({bits} bits) at nonce {start}");
        } else {
            log::info!(
                "mining the identity proof of work ({bits} bits, about {} Argon2id evaluations expected); \
                 this happens once per identity",
                1u64 << bits.min(63)
            );
        }
        let save = |next_nonce: u64, nonce: Option<u64>| -> Result<(), StateError> {
            match state {
                Some(s) => s.save_pow(&PowFile {
                    format: POW_FORMAT,
                    peer_id: id,
                    bits,
                    nonce,
                    next_nonce,
                }),
                None => Ok(()),
            }
        };
        let stop_flag = self.mining.stop.clone();
        let stop = move || stop_flag.as_ref().is_some_and(|f| f.load(Ordering::SeqCst));
        let mut save_error = None;
        let mut checkpoint = |p: &MiningProgress| {
            if let Some(report) = self.mining.progress {
                report(p);
            }
            match save(p.next_nonce, None) {
                Ok(()) => true,
                Err(e) => {
                    save_error = Some(e);
                    false
                }
            }
        };
        let began = Instant::now();
        match mine_identity_pow(&key, bits, start, POW_CHECKPOINT, &stop, &mut checkpoint) {
            MineOutcome::Found(nonce) => {
                save(nonce, Some(nonce)).map_err(SetupError::State)?;
                log::info!(
                    "identity proof of work ({bits} bits) found at nonce {nonce} after {} tries in {:.1} s",
                    nonce - start + 1,
                    began.elapsed().as_secs_f64()
                );
                Ok(nonce)
            }
            MineOutcome::Stopped { next_nonce } => {
                if let Some(e) = save_error {
                    return Err(SetupError::State(e));
                }
                save(next_nonce, None).map_err(SetupError::State)?;
                Err(SetupError::Interrupted {
                    bits,
                    tries: next_nonce - start,
                })
            }
        }
    }
}

/// Moves the unusable state file `path` aside (never overwriting it); if it
/// cannot be moved, the node does not start.
fn set_aside(state: &StateDir, path: &std::path::Path, problem: &StateError) -> Result<PathBuf, SetupError> {
    state.move_aside(path).map_err(|e| {
        SetupError::State(StateError::Io {
            path: path.to_path_buf(),
            error: io::Error::other(format!("{problem}, and it cannot be moved aside: {e}")),
        })
    })
}

/// An unspecified advertised IP (`0.0.0.0`, `::`) is useless to peers; use loopback instead.
fn advertised(addr: SocketAddr) -> SocketAddr {
    if !addr.ip().is_unspecified() {
        return addr;
    }
    let ip: IpAddr = if addr.is_ipv4() {
        Ipv4Addr::LOCALHOST.into()
    } else {
        Ipv6Addr::LOCALHOST.into()
    };
    log::warn!(
        "bound to {addr}; advertising {ip}:{} (pass --advertise for other hosts)",
        addr.port()
    );
    SocketAddr::new(ip, addr.port())
}

impl StartedNode {
    /// The running node.
    pub fn node(&self) -> &dyn NodeControl {
        &*self.node
    }

    /// The running node, mutably (to drain its events).
    pub fn node_mut(&mut self) -> &mut dyn NodeControl {
        &mut *self.node
    }

    /// What happened at start.
    pub fn report(&self) -> &StartReport {
        &self.report
    }

    /// The state directory, if any.
    pub fn state_dir(&self) -> Option<&StateDir> {
        self.state.as_ref()
    }

    /// Asks every address-only bootstrap peer again (`Command::AddSeeds`).
    pub fn probe_bootstrap(&mut self) {
        self.last_probe = Instant::now();
        self.probe_bootstrap_now();
    }

    fn probe_bootstrap_now(&mut self) {
        if self.probe_addrs.is_empty() {
            return;
        }
        log::debug!("joining through seed addresses {:?}", self.probe_addrs);
        let _ = self.node.add_seeds(self.probe_addrs.clone());
    }

    /// Writes the peer tables to the state directory now. Returns `Ok(false)`
    /// without a state directory.
    pub fn save(&self) -> Result<bool, StateError> {
        let Some(state) = &self.state else {
            return Ok(false);
        };
        let Ok(snapshot) = self.node.snapshot() else {
            return Ok(false);
        };
        state.save_peers(&StateFile {
            format: STATE_FORMAT,
            peer_id: self.node.id(),
            saved_at_ms: self.node.now_ms(),
            snapshot,
        })?;
        Ok(true)
    }

    /// Periodic duties; call every few hundred milliseconds: saves when the
    /// save interval has passed, re-probes bootstrap peers while the node
    /// knows no contact.
    pub fn tick(&mut self) {
        if self.state.is_some() && self.last_save.elapsed() >= self.save_interval {
            self.last_save = Instant::now();
            if let Err(e) = self.save() {
                log::error!("saving peer tables: {e}");
            }
        }
        if !self.probe_addrs.is_empty() && self.last_probe.elapsed() >= BOOTSTRAP_RETRY {
            self.last_probe = Instant::now();
            if self.node.metrics().map(|m| m.contacts == 0).unwrap_or(false) {
                self.probe_bootstrap_now();
            }
        }
    }

    /// Shuts the node down cleanly and saves its final peer tables.
    pub fn stop(self) -> Result<Stopped, SetupError> {
        let peer_id = self.node.id();
        let stopped = self
            .node
            .stop()
            .map_err(|e| SetupError::Io(io::Error::other(e)))?;
        if let Some(state) = &self.state {
            state
                .save_peers(&StateFile {
                    format: STATE_FORMAT,
                    peer_id,
                    saved_at_ms: stopped.stopped_at_ms,
                    snapshot: stopped.snapshot.clone(),
                })
                .map_err(SetupError::State)?;
        }
        Ok(stopped)
    }
}

/// Logs a node event at a level fitting for a long-running node.
pub fn log_event(me: &PeerId, event: &NodeEvent) {
    let me = short_id(me);
    match event {
        Event::ElectionStarted { token, purpose } => {
            log::debug!("[{me}] election started for token {token:?} ({purpose:?})")
        }
        Event::Elected {
            token,
            winner,
            cluster_size,
            responses,
            latency_ms,
            contested,
        } => log::info!(
            "[{me}] elected {} at {} for token {token:?}: cluster {cluster_size}/{responses}, {latency_ms} ms{}",
            short_id(&winner.id),
            winner.addr,
            if *contested { ", contested" } else { "" }
        ),
        Event::ElectionFailed {
            token,
            reason,
            responses,
        } => log::info!(
            "[{me}] election for token {token:?} failed: {} ({responses} responses)",
            reason.name()
        ),
        Event::SplitBrain {
            token,
            winner1,
            size1,
            winner2,
            size2,
            spawning_channels,
        } => log::warn!(
            "[{me}] split-brain on token {token:?}: {} ({size1}) vs {} ({size2}){}",
            short_id(winner1),
            short_id(winner2),
            if *spawning_channels { "; opening more channels" } else { "" }
        ),
        Event::PeerAdded(c) => log::info!("[{me}] peer added: {} at {}", short_id(&c.id), c.addr),
        Event::PeerEvicted { peer, reason } => {
            log::info!("[{me}] peer evicted ({}): {}", reason.name(), short_id(peer))
        }
        Event::PartitionSuspected { split_brains, window } => log::warn!(
            "[{me}] partition suspected: {split_brains} split-brains in the last {window} elections"
        ),
        other => log::debug!("[{me}] {other:?}"),
    }
}
