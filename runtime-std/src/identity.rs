//! Node identity and the host-side randomness the runtimes need.
//!
//! A node has a 32-byte *identity seed*: its Ed25519 secret key (wire v2). Its
//! [`PeerId`] is BLAKE3 of the matching public key ([`Identity::key`]), so
//! persisting the seed persists the identity, and no one without the seed can
//! answer for the id.
//! The seed handed to [`Node::new`](election_proto::node::Node::new) (the node's
//! only source of randomness) is a different value: fresh OS randomness per
//! run, or, for reproducible demos, derived from the identity seed.
//!
//! OS randomness comes from the `getrandom` crate, and a failure to read it
//! is a [`RandomnessError`], never a weaker fallback. Host-side choices that
//! must be reproducible from a seed use [`seeded_rng`] (ChaCha20).

use election_proto::{NodeKey, PeerId};
use rand_chacha::rand_core::SeedableRng;
use std::fmt;
use std::io;

const SEED_FROM_U64_CONTEXT: &str = "election-node 2024 identity seed from u64 v1";
const RNG_SEED_CONTEXT: &str = "election-node 2024 node rng seed v1";

/// A node's identity seed. Its [`PeerId`] follows from it.
#[derive(Clone, PartialEq, Eq)]
pub struct Identity {
    seed: [u8; 32],
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The seed is a secret: show only the public id.
        f.debug_struct("Identity")
            .field("peer_id", &self.peer_id())
            .finish()
    }
}

impl Identity {
    /// An identity from raw seed bytes.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self { seed }
    }

    /// A deterministic identity for `n` (the `--id-seed` option): the same `n`
    /// always gives the same peer id.
    pub fn from_u64(n: u64) -> Self {
        Self::from_seed(blake3::derive_key(SEED_FROM_U64_CONTEXT, &n.to_le_bytes()))
    }

    /// A fresh identity from the operating system's randomness.
    pub fn random() -> Result<Self, RandomnessError> {
        Self::random_from(os_random)
    }

    /// A fresh identity from `source`.
    pub fn random_from(source: RandomSource) -> Result<Self, RandomnessError> {
        source().map(Self::from_seed)
    }

    /// The seed bytes (secret: whoever has them can impersonate this node's id).
    pub fn seed(&self) -> &[u8; 32] {
        &self.seed
    }

    /// The node's key pair: the seed is its Ed25519 secret key. Hand it to
    /// [`Node::new`](election_proto::node::Node::new).
    pub fn key(&self) -> NodeKey {
        NodeKey::from_secret(self.seed)
    }

    /// The peer id this identity stands for: BLAKE3 of its public key.
    pub fn peer_id(&self) -> PeerId {
        self.key().peer_id()
    }

    /// A deterministic node RNG seed for run number `run` of this identity
    /// (reproducible demos and tests). Production runs use [`os_random`].
    pub fn derived_rng_seed(&self, run: u64) -> [u8; 32] {
        let mut input = [0u8; 40];
        input[..32].copy_from_slice(&self.seed);
        input[32..].copy_from_slice(&run.to_le_bytes());
        blake3::derive_key(RNG_SEED_CONTEXT, &input)
    }
}

/// The operating system's randomness could not be read.
///
/// Fresh identities and node RNG seeds are secrets, so there is no fallback:
/// a host without a working OS random source cannot start a node with a new
/// identity or fresh randomness, only `--id-seed` demos, which derive both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RandomnessError(getrandom::Error);

impl RandomnessError {
    /// Wraps the error a [`RandomSource`] failed with.
    pub fn new(error: getrandom::Error) -> Self {
        Self(error)
    }

    /// The underlying `getrandom` error.
    pub fn source_error(&self) -> getrandom::Error {
        self.0
    }
}

impl fmt::Display for RandomnessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot read the operating system's randomness: {}", self.0)
    }
}

impl std::error::Error for RandomnessError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

impl From<RandomnessError> for io::Error {
    fn from(e: RandomnessError) -> Self {
        io::Error::other(e)
    }
}

/// Where fresh secrets come from: 32 random bytes or an error. [`os_random`]
/// in production; tests substitute a failing source to check the error path.
pub type RandomSource = fn() -> Result<[u8; 32], RandomnessError>;

/// 32 bytes from the operating system's randomness (through `getrandom`).
/// Fails, never falls back to anything weaker.
pub fn os_random() -> Result<[u8; 32], RandomnessError> {
    let mut out = [0u8; 32];
    getrandom::fill(&mut out).map_err(RandomnessError)?;
    Ok(out)
}

/// The seeded generator the runtimes use for host-side choices (synthetic
/// ledgers, bootstrap contacts, probe contents); the protocol core has its own.
pub type HostRng = rand_chacha::ChaCha20Rng;

/// A [`HostRng`] determined by a context string and a seed: ChaCha20 keyed
/// with BLAKE3 in key-derivation mode, so each use (context) has its own
/// stream and the same `(context, seed)` always gives the same one.
pub fn seeded_rng(context: &str, seed: &[u8]) -> HostRng {
    let mut h = blake3::Hasher::new_derive_key(context);
    h.update(seed);
    HostRng::from_seed(*h.finalize().as_bytes())
}

/// How far mining an identity proof of work has got, as reported to
/// [`mine_identity_pow`]'s checkpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MiningProgress {
    /// The difficulty mined for (leading zero bits).
    pub bits: u8,
    /// Nonces tried in this session.
    pub tries: u64,
    /// The next nonce to try (every smaller one since the start failed).
    pub next_nonce: u64,
    /// Time spent in this session.
    pub elapsed: std::time::Duration,
}

impl MiningProgress {
    /// Expected number of tries for the whole search: `2^bits`.
    pub fn expected_tries(&self) -> f64 {
        2f64.powi(i32::from(self.bits))
    }
}

/// How [`mine_identity_pow`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MineOutcome {
    /// A nonce that proves `bits` of work for the key.
    Found(u64),
    /// Stopped before finding one; mining may resume at `next_nonce`.
    Stopped {
        /// The first nonce not yet tried.
        next_nonce: u64,
    },
}

/// Mines the identity proof of work of `key` at `bits` difficulty
/// ([`election_proto::keys::pow_valid`], one Argon2id evaluation per try, on
/// this thread), trying nonces `start, start + 1, ..`.
///
/// `stop` is asked before every try: when it returns true, mining stops with
/// [`MineOutcome::Stopped`]. `checkpoint` is called about every `every`
/// with the progress so far (to print it and save it); when it returns false
/// mining stops too. The search is bounded by the nonce space: at most
/// `u64::MAX - start` tries.
pub fn mine_identity_pow(
    key: &election_proto::PublicKey,
    bits: u8,
    start: u64,
    every: std::time::Duration,
    stop: &dyn Fn() -> bool,
    checkpoint: &mut dyn FnMut(&MiningProgress) -> bool,
) -> MineOutcome {
    let began = std::time::Instant::now();
    let mut last = began;
    let progress = |next_nonce: u64| MiningProgress {
        bits,
        tries: next_nonce - start,
        next_nonce,
        elapsed: began.elapsed(),
    };
    for nonce in start..=u64::MAX {
        if stop() {
            return MineOutcome::Stopped { next_nonce: nonce };
        }
        if election_proto::keys::pow_valid(key, nonce, bits) {
            return MineOutcome::Found(nonce);
        }
        if last.elapsed() >= every {
            last = std::time::Instant::now();
            if !checkpoint(&progress(nonce.saturating_add(1))) {
                return MineOutcome::Stopped {
                    next_nonce: nonce.saturating_add(1),
                };
            }
        }
    }
    MineOutcome::Stopped { next_nonce: u64::MAX }
}
