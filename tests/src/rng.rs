//! The simulator's randomness: one seeded stream per purpose, nothing global.
//!
//! [`SimRng`] is xoshiro256** seeded through BLAKE3, so every stream is a pure
//! function of `(seed, domain, index)`. [`mix64`] is the splitmix64 finalizer, used
//! wherever a cheap, stateless hash of a 64-bit word is enough (ledger layout,
//! per-node missing/stale predicates).

/// The splitmix64 finalizer (of `z + GAMMA`): a bijective, well-avalanching
/// mix of one word; the workspace's one copy, in `election-splitmix`.
pub use election_splitmix::mix64;

/// Mixes two words into one (order matters).
#[inline]
pub fn mix2(a: u64, b: u64) -> u64 {
    mix64(mix64(a) ^ b.rotate_left(17) ^ 0x2545_f491_4f6c_dd1d)
}

/// 32 bytes derived from `(seed, domain, index)`; distinct domains never collide.
pub fn derive32(seed: u64, domain: &str, index: u64) -> [u8; 32] {
    let mut h = blake3::Hasher::new_derive_key("election-tests simulator v1");
    h.update(&seed.to_le_bytes());
    h.update(&(domain.len() as u64).to_le_bytes());
    h.update(domain.as_bytes());
    h.update(&index.to_le_bytes());
    *h.finalize().as_bytes()
}

/// A 64-bit value derived like [`derive32`].
pub fn derive64(seed: u64, domain: &str, index: u64) -> u64 {
    let b = derive32(seed, domain, index);
    u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
}

/// Probability `p` as a threshold on a uniform `u64`: `word < threshold(p)` with
/// probability `p` (clamped to `[0, 1]`).
pub fn threshold(p: f64) -> u64 {
    if p.is_nan() || p <= 0.0 {
        0
    } else if p >= 1.0 {
        u64::MAX
    } else {
        (p * 18_446_744_073_709_551_616.0) as u64
    }
}

/// xoshiro256**: small, fast, deterministic. Not for secrets (the nodes' own
/// secrets come from their BLAKE3-based core RNG, seeded from [`derive32`]).
#[derive(Clone, Debug)]
pub struct SimRng {
    s: [u64; 4],
}

impl SimRng {
    /// The stream for `(seed, domain)`.
    pub fn new(seed: u64, domain: &str) -> Self {
        Self::from_bytes(derive32(seed, domain, 0))
    }

    /// A stream keyed by 32 bytes (e.g. a hash of what a colluder group agrees on).
    pub fn from_bytes(b: [u8; 32]) -> Self {
        let mut s = [0u64; 4];
        for (w, c) in s.iter_mut().zip(b.chunks_exact(8)) {
            *w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        }
        if s == [0; 4] {
            s[0] = 1;
        }
        Self { s }
    }

    /// Next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in `0..n` (0 when `n == 0`); multiply-shift, bias below 2^-64·n.
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi` (`lo` if `hi <= lo`).
    #[inline]
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            lo
        } else {
            lo + self.below(hi - lo + 1)
        }
    }

    /// `true` with probability `p`.
    #[inline]
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && (p >= 1.0 || ((self.next_u64() >> 11) as f64) * (1.0 / (1u64 << 53) as f64) < p)
    }

    /// 32 random bytes.
    pub fn bytes32(&mut self) -> [u8; 32] {
        let mut b = [0u8; 32];
        for c in b.chunks_exact_mut(8) {
            c.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_separated() {
        let a: Vec<u64> = {
            let mut r = SimRng::new(7, "net");
            (0..16).map(|_| r.next_u64()).collect()
        };
        let b: Vec<u64> = {
            let mut r = SimRng::new(7, "net");
            (0..16).map(|_| r.next_u64()).collect()
        };
        let c: Vec<u64> = {
            let mut r = SimRng::new(7, "churn");
            (0..16).map(|_| r.next_u64()).collect()
        };
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(derive32(1, "x", 0), derive32(1, "x", 1));
        assert_ne!(derive32(1, "x", 0), derive32(2, "x", 0));
    }

    #[test]
    fn below_between_chance_stay_in_range() {
        let mut r = SimRng::new(1, "t");
        let mut seen = [0u32; 5];
        for _ in 0..5000 {
            let v = r.below(5);
            seen[v as usize] += 1;
            let w = r.between(20, 80);
            assert!((20..=80).contains(&w));
        }
        assert!(seen.iter().all(|&n| n > 800), "{seen:?}");
        assert_eq!(r.below(0), 0);
        assert_eq!(r.between(9, 3), 9);
        let hits = (0..10_000).filter(|_| r.chance(0.1)).count();
        assert!((800..1200).contains(&hits), "{hits}");
        assert!(!r.chance(0.0));
        assert!(r.chance(1.0));
        assert_eq!(threshold(0.0), 0);
        assert_eq!(threshold(1.0), u64::MAX);
        assert_eq!(threshold(0.5), 1 << 63);
    }
}
