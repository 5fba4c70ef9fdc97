//! Node identity and the host-side randomness the runtimes need.
//!
//! A node has a 32-byte *identity seed*; its [`PeerId`] is derived from it with
//! BLAKE3 in key-derivation mode, so persisting the seed persists the identity.
//! The seed handed to [`Node::new`](election_proto::node::Node::new) (the node's
//! only source of randomness) is a different value: fresh OS randomness per
//! run, or, for reproducible demos, derived from the identity seed.

use election_proto::PeerId;
use std::fmt;
use std::io::{self, Read};

const PEER_ID_CONTEXT: &str = "election-node 2024 peer id v1";
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
    pub fn random() -> io::Result<Self> {
        os_random().map(Self::from_seed)
    }

    /// The seed bytes (secret: whoever has them can impersonate this node's id).
    pub fn seed(&self) -> &[u8; 32] {
        &self.seed
    }

    /// The peer id this identity stands for.
    pub fn peer_id(&self) -> PeerId {
        PeerId::new(blake3::derive_key(PEER_ID_CONTEXT, &self.seed))
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

/// 32 bytes from the operating system's randomness (`/dev/urandom`).
///
/// Where that device does not exist, falls back to hashing the time, the
/// process id and a stack address: unpredictable enough to keep nodes apart,
/// not a secret. The fallback is logged.
pub fn os_random() -> io::Result<[u8; 32]> {
    let mut out = [0u8; 32];
    match std::fs::File::open("/dev/urandom") {
        Ok(mut f) => {
            f.read_exact(&mut out)?;
            Ok(out)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            log::warn!("/dev/urandom not found; deriving a seed from time and process id");
            let marker = 0u8;
            let mut h = blake3::Hasher::new_derive_key("election-node 2024 fallback seed v1");
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            h.update(&now.to_le_bytes());
            h.update(&std::process::id().to_le_bytes());
            h.update(&(std::ptr::addr_of!(marker) as usize).to_le_bytes());
            Ok(*h.finalize().as_bytes())
        }
        Err(e) => Err(e),
    }
}

/// A small deterministic random stream (BLAKE3 in XOF mode) for host-side
/// choices such as synthetic ledgers and bootstrap contacts. Not used by the
/// protocol core, which has its own seeded generator.
pub struct DetRng {
    reader: blake3::OutputReader,
}

impl fmt::Debug for DetRng {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DetRng").finish_non_exhaustive()
    }
}

impl DetRng {
    /// A stream determined by a context string and a seed.
    pub fn new(context: &str, seed: &[u8]) -> Self {
        let mut h = blake3::Hasher::new_derive_key(context);
        h.update(seed);
        Self {
            reader: h.finalize_xof(),
        }
    }

    /// Fills `out` with the next bytes of the stream.
    pub fn fill(&mut self, out: &mut [u8]) {
        self.reader.fill(out);
    }

    /// The next 32 bytes.
    pub fn bytes32(&mut self) -> [u8; 32] {
        let mut b = [0u8; 32];
        self.fill(&mut b);
        b
    }

    /// The next `u64`.
    pub fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill(&mut b);
        u64::from_le_bytes(b)
    }

    /// A value in `0..n` (`n > 0`), by rejection so it is unbiased.
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "below(0)");
        let zone = u64::MAX - (u64::MAX % n);
        loop {
            let v = self.next_u64();
            if v < zone {
                return v % n;
            }
        }
    }
}
