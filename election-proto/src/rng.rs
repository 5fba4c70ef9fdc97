//! The core's only source of randomness: a CSPRNG stream expanded from one seed.
//!
//! BLAKE3's extendable output keyed by the seed is a sound stream cipher-grade
//! generator and costs no extra dependency. Same seed ⇒ same stream, bit for bit.

/// Deterministic random stream.
#[derive(Clone)]
pub(crate) struct SeededRng {
    reader: blake3::OutputReader,
}

impl core::fmt::Debug for SeededRng {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SeededRng(..)")
    }
}

impl SeededRng {
    /// A stream for `seed` under a domain label, so different uses of one seed never share output.
    pub(crate) fn new(seed: &[u8; 32], domain: &str) -> Self {
        let mut h = blake3::Hasher::new_keyed(seed);
        h.update(domain.as_bytes());
        Self {
            reader: h.finalize_xof(),
        }
    }

    pub(crate) fn fill(&mut self, out: &mut [u8]) {
        self.reader.fill(out);
    }

    pub(crate) fn bytes32(&mut self) -> [u8; 32] {
        let mut b = [0u8; 32];
        self.fill(&mut b);
        b
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill(&mut b);
        u64::from_le_bytes(b)
    }

    /// Uniform in `0..n` (0 when `n == 0`), without modulo bias.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        // Rejection sampling on the top of the range.
        let zone = u64::MAX - (u64::MAX % n);
        loop {
            let v = self.next_u64();
            if v < zone {
                return v % n;
            }
        }
    }

    /// `true` with probability one half.
    pub(crate) fn coin(&mut self) -> bool {
        self.next_u64() & 1 == 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_domains_differ() {
        let mut a = SeededRng::new(&[7; 32], "x");
        let mut b = SeededRng::new(&[7; 32], "x");
        let mut c = SeededRng::new(&[7; 32], "y");
        let va: Vec<u64> = (0..8).map(|_| a.next_u64()).collect();
        let vb: Vec<u64> = (0..8).map(|_| b.next_u64()).collect();
        let vc: Vec<u64> = (0..8).map(|_| c.next_u64()).collect();
        assert_eq!(va, vb);
        assert_ne!(va, vc);
    }

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut r = SeededRng::new(&[1; 32], "t");
        let mut seen = [false; 7];
        for _ in 0..1000 {
            let v = r.below(7);
            assert!(v < 7);
            seen[v as usize] = true;
        }
        assert!(seen.iter().all(|s| *s));
        assert_eq!(r.below(0), 0);
    }
}
