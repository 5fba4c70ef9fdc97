//! splitmix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number
//! generators", OOPSLA 2014; Vigna's reference `splitmix64.c`): the one copy of
//! the generator that the workspace's tests, benches, fuzz replay and the
//! simulator's stateless mixing use.
//!
//! Dev-only: nothing shipped depends on it. Its outputs feed fixtures, measured
//! results and simulator digests, so they must never change; the known values
//! in the tests below pin them (the first, for seed 1234567, is the reference
//! implementation's).

#![no_std]

/// The increment of the state per output: 2^64 / φ, rounded to odd.
pub const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// The first output of [`SplitMix64`] started at `state`: the splitmix64
/// finalizer of `state + GAMMA`. A bijective, well-avalanching mix of one word,
/// for where a stateless hash of a 64-bit value is enough.
#[inline]
pub fn mix64(state: u64) -> u64 {
    let mut z = state.wrapping_add(GAMMA);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A splitmix64 stream; the field is the state (the seed, to start).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// The next 64-bit output.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let out = mix64(self.0);
        self.0 = self.0.wrapping_add(GAMMA);
        out
    }

    /// Uniform in `[0, 1)`: the top 53 bits of one output.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// In `0..n`, by one output modulo `n` (with the slight modulo bias, which
    /// test data can live with). Panics if `n` is 0.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Four outputs, each little-endian, in order.
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

    fn first4(seed: u64) -> [u64; 4] {
        let mut r = SplitMix64(seed);
        [r.next_u64(), r.next_u64(), r.next_u64(), r.next_u64()]
    }

    #[test]
    fn outputs_are_the_reference_values() {
        // splitmix64.c seeded with 1234567 starts 6457827717110365317.
        assert_eq!(first4(1_234_567)[0], 6_457_827_717_110_365_317);
        assert_eq!(
            first4(1_234_567),
            [
                0x599e_d017_fb08_fc85,
                0x2c73_f084_5854_0fa5,
                0x883e_bce5_a3f2_7c77,
                0x3fbe_f740_e917_7b3f
            ]
        );
        assert_eq!(
            first4(0),
            [
                0xe220_a839_7b1d_cdaf,
                0x6e78_9e6a_a1b9_65f4,
                0x06c4_5d18_8009_454f,
                0xf88b_b8a8_724c_81ec
            ]
        );
        assert_eq!(
            first4(42),
            [
                0xbdd7_3226_2feb_6e95,
                0x28ef_e333_b266_f103,
                0x4752_6757_130f_9f52,
                0x581c_e1ff_0e4a_e394
            ]
        );
    }

    #[test]
    fn mix64_is_the_first_output_of_a_stream_at_that_state() {
        assert_eq!(mix64(5), 0x6303_3b0c_a389_c35a);
        assert_eq!(mix64(u64::MAX), 0xe4d9_7177_1b65_2c20);
        for state in [0, 1, 42, 1_234_567, u64::MAX] {
            assert_eq!(mix64(state), SplitMix64(state).next_u64());
        }
        let mut r = SplitMix64(9);
        r.next_u64();
        assert_eq!(r, SplitMix64(9u64.wrapping_add(GAMMA)));
    }

    #[test]
    fn derived_values_are_pinned() {
        let mut r = SplitMix64(7);
        let expected: [u8; 32] = [
            0xd7, 0x0d, 0x32, 0x59, 0xe4, 0xe1, 0xcb, 0x63, 0x1c, 0x66, 0x3c, 0xf4, 0xd7, 0x3c, 0x4c, 0x04,
            0x02, 0x2a, 0xb1, 0xba, 0x80, 0x40, 0x98, 0xe6, 0xcb, 0x29, 0x3e, 0x67, 0x70, 0xeb, 0x3a, 0x95,
        ];
        assert_eq!(r.bytes32(), expected);

        let mut r = SplitMix64(99);
        assert_eq!(r.unit(), 0.261_530_471_569_384_6);
        assert_eq!(r.unit(), 0.031_657_761_086_184_9);
        let mut r = SplitMix64(99);
        let below: [usize; 5] = core::array::from_fn(|_| r.below(10));
        assert_eq!(below, [3, 4, 7, 7, 6]);
    }
}
