//! 256-bit identifiers and arithmetic on the ring Z/2^256.
//!
//! Every identifier is read as an unsigned big-endian integer, so the derived
//! byte-wise ordering is the numeric ordering. "Clockwise" means increasing,
//! wrapping from `2^256 - 1` to `0`.

use core::fmt;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Width of every identifier in bytes.
pub const ID_LEN: usize = 32;

/// Number of low bits that form an identifier's [`suffix`].
pub const SUFFIX_BITS: u32 = 10;

/// Number of distinct suffix values (`2^SUFFIX_BITS`).
pub const SUFFIX_SPACE: usize = 1 << SUFFIX_BITS;

macro_rules! ring_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        ///
        /// Serializes as 32 raw bytes in binary formats (the wire) and as 64 hex
        /// digits in human-readable ones (JSON state files, reports).
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name([u8; ID_LEN]);

        impl Serialize for $name {
            fn serialize<Ser: Serializer>(&self, s: Ser) -> Result<Ser::Ok, Ser::Error> {
                if s.is_human_readable() {
                    s.collect_str(self)
                } else {
                    self.0.serialize(s)
                }
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                if d.is_human_readable() {
                    let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                    text.parse().map_err(serde::de::Error::custom)
                } else {
                    <[u8; ID_LEN]>::deserialize(d).map(Self)
                }
            }
        }

        impl $name {
            /// The identifier `0`.
            pub const ZERO: Self = Self([0; ID_LEN]);
            /// The identifier `2^256 - 1`.
            pub const MAX: Self = Self([0xff; ID_LEN]);

            /// Builds an identifier from its big-endian bytes.
            pub const fn new(bytes: [u8; ID_LEN]) -> Self {
                Self(bytes)
            }

            /// The big-endian bytes of this identifier.
            pub const fn as_bytes(&self) -> &[u8; ID_LEN] {
                &self.0
            }

            /// Builds an identifier whose value is `v` (high bytes zero). Handy in tests.
            pub fn from_u64(v: u64) -> Self {
                let mut b = [0u8; ID_LEN];
                b[ID_LEN - 8..].copy_from_slice(&v.to_be_bytes());
                Self(b)
            }

            /// This identifier moved `delta` steps clockwise (wrapping).
            pub fn add(&self, delta: &Distance) -> Self {
                Self(wrapping_add(&self.0, &delta.0))
            }

            /// This identifier moved `delta` steps counter-clockwise (wrapping).
            pub fn sub(&self, delta: &Distance) -> Self {
                Self(wrapping_sub(&self.0, &delta.0))
            }
        }

        impl From<[u8; ID_LEN]> for $name {
            fn from(bytes: [u8; ID_LEN]) -> Self {
                Self(bytes)
            }
        }

        impl From<$name> for [u8; ID_LEN] {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl RingPoint for $name {
            fn ring_bytes(&self) -> &[u8; ID_LEN] {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), ShortHex(&self.0))
            }
        }

        impl fmt::Display for $name {
            /// Full lowercase hex, 64 characters.
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                for b in &self.0 {
                    write!(f, "{b:02x}")?;
                }
                Ok(())
            }
        }

        impl core::str::FromStr for $name {
            type Err = ParseIdError;
            /// Parses exactly 64 hex digits (either case).
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                parse_hex(s).map(Self)
            }
        }
    };
}

ring_id!(
    /// Identity of a node on the ring.
    PeerId
);
ring_id!(
    /// Key of a ledger entry; the thing elections challenge.
    TokenId
);
ring_id!(
    /// The block a token currently maps to in a node's ledger view.
    BlockId
);

/// A distance on the ring: a 256-bit unsigned value, ordered numerically.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct Distance(pub [u8; ID_LEN]);

impl Distance {
    /// Zero distance.
    pub const ZERO: Self = Self([0; ID_LEN]);

    /// A distance of `v` steps.
    pub fn from_u64(v: u64) -> Self {
        let mut b = [0u8; ID_LEN];
        b[ID_LEN - 8..].copy_from_slice(&v.to_be_bytes());
        Self(b)
    }

    /// The distance saturated into a `u64` (useful for statistics and tests).
    pub fn saturating_u64(&self) -> u64 {
        if self.0[..ID_LEN - 8].iter().any(|&b| b != 0) {
            u64::MAX
        } else {
            let mut w = [0u8; 8];
            w.copy_from_slice(&self.0[ID_LEN - 8..]);
            u64::from_be_bytes(w)
        }
    }

    /// The top 64 bits of the distance, i.e. the distance as a fraction of the ring
    /// scaled to `2^64`. Used for coverage arithmetic where full precision is not needed.
    pub fn high_u64(&self) -> u64 {
        let mut w = [0u8; 8];
        w.copy_from_slice(&self.0[..8]);
        u64::from_be_bytes(w)
    }
}

impl fmt::Debug for Distance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Distance({})", ShortHex(&self.0))
    }
}

/// Anything that sits at a point on the ring.
///
/// Lets distances be taken between different identifier kinds (a peer and a
/// token) without converting one into the other.
pub trait RingPoint {
    /// The point's big-endian 256-bit value.
    fn ring_bytes(&self) -> &[u8; ID_LEN];
}

/// Clockwise distance from `from` to `to`: `(to - from) mod 2^256`.
pub fn clockwise_distance(from: &impl RingPoint, to: &impl RingPoint) -> Distance {
    Distance(wrapping_sub(to.ring_bytes(), from.ring_bytes()))
}

/// Counter-clockwise distance from `from` to `to`: `(from - to) mod 2^256`.
pub fn counter_clockwise_distance(from: &impl RingPoint, to: &impl RingPoint) -> Distance {
    Distance(wrapping_sub(from.ring_bytes(), to.ring_bytes()))
}

/// Shorter of the two ways around the ring: `min(a - b, b - a) mod 2^256`.
pub fn ring_distance(a: &impl RingPoint, b: &impl RingPoint) -> Distance {
    let cw = clockwise_distance(a, b);
    let ccw = counter_clockwise_distance(a, b);
    cw.min(ccw)
}

/// The identifier modulo 1024: its lowest [`SUFFIX_BITS`] bits.
pub fn suffix(id: &impl RingPoint) -> u16 {
    let b = id.ring_bytes();
    (u16::from(b[ID_LEN - 2] & 0x03) << 8) | u16::from(b[ID_LEN - 1])
}

fn wrapping_sub(a: &[u8; ID_LEN], b: &[u8; ID_LEN]) -> [u8; ID_LEN] {
    let mut out = [0u8; ID_LEN];
    let mut borrow = 0i16;
    for i in (0..ID_LEN).rev() {
        let mut d = i16::from(a[i]) - i16::from(b[i]) - borrow;
        if d < 0 {
            d += 256;
            borrow = 1;
        } else {
            borrow = 0;
        }
        out[i] = d as u8;
    }
    out
}

fn wrapping_add(a: &[u8; ID_LEN], b: &[u8; ID_LEN]) -> [u8; ID_LEN] {
    let mut out = [0u8; ID_LEN];
    let mut carry = 0u16;
    for i in (0..ID_LEN).rev() {
        let s = u16::from(a[i]) + u16::from(b[i]) + carry;
        out[i] = s as u8;
        carry = s >> 8;
    }
    out
}

/// Error from parsing an identifier out of hex text.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseIdError {
    /// The text was not exactly 64 characters long; holds the length seen.
    Length(usize),
    /// A character that is not a hex digit, at this byte offset.
    InvalidDigit(usize),
}

impl fmt::Display for ParseIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Length(n) => write!(f, "expected 64 hex digits, found {n} characters"),
            Self::InvalidDigit(i) => write!(f, "invalid hex digit at offset {i}"),
        }
    }
}

impl std::error::Error for ParseIdError {}

fn parse_hex(s: &str) -> Result<[u8; ID_LEN], ParseIdError> {
    let bytes = s.as_bytes();
    if bytes.len() != ID_LEN * 2 {
        return Err(ParseIdError::Length(bytes.len()));
    }
    let digit = |i: usize| -> Result<u8, ParseIdError> {
        match bytes[i] {
            c @ b'0'..=b'9' => Ok(c - b'0'),
            c @ b'a'..=b'f' => Ok(c - b'a' + 10),
            c @ b'A'..=b'F' => Ok(c - b'A' + 10),
            _ => Err(ParseIdError::InvalidDigit(i)),
        }
    };
    let mut out = [0u8; ID_LEN];
    for (k, o) in out.iter_mut().enumerate() {
        *o = (digit(2 * k)? << 4) | digit(2 * k + 1)?;
    }
    Ok(out)
}

struct ShortHex<'a>(&'a [u8; ID_LEN]);

impl fmt::Display for ShortHex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.0[..4] {
            write!(f, "{b:02x}")?;
        }
        f.write_str("…")?;
        for b in &self.0[ID_LEN - 2..] {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn u128_id(v: u128) -> TokenId {
        let mut b = [0u8; ID_LEN];
        b[ID_LEN - 16..].copy_from_slice(&v.to_be_bytes());
        TokenId::new(b)
    }

    #[test]
    fn distance_wraps_around_zero() {
        let a = TokenId::MAX;
        let b = TokenId::from_u64(1);
        assert_eq!(clockwise_distance(&a, &b), Distance::from_u64(2));
        assert_eq!(ring_distance(&a, &b), Distance::from_u64(2));
        assert_eq!(ring_distance(&b, &a), Distance::from_u64(2));
        assert_eq!(ring_distance(&a, &a), Distance::ZERO);
    }

    #[test]
    fn suffix_is_low_ten_bits() {
        assert_eq!(suffix(&TokenId::from_u64(0x1234_5678)), 0x278);
        assert_eq!(suffix(&TokenId::MAX), 1023);
        assert_eq!(suffix(&TokenId::ZERO), 0);
    }

    #[test]
    fn hex_round_trip_and_errors() {
        let id = PeerId::new([0xab; 32]);
        let text = id.to_string();
        assert_eq!(text.parse::<PeerId>().unwrap(), id);
        assert_eq!("abc".parse::<PeerId>(), Err(ParseIdError::Length(3)));
        let mut bad = text.clone();
        bad.replace_range(10..11, "g");
        assert_eq!(bad.parse::<PeerId>(), Err(ParseIdError::InvalidDigit(10)));
    }

    #[test]
    fn serde_is_hex_for_humans_and_raw_bytes_on_the_wire() {
        let id = TokenId::new([0x5c; 32]);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{}\"", "5c".repeat(32)));
        assert_eq!(serde_json::from_str::<TokenId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<TokenId>("\"zz\"").is_err());
        let bin = postcard::to_allocvec(&id).unwrap();
        assert_eq!(bin, vec![0x5c; 32]);
        assert_eq!(postcard::from_bytes::<TokenId>(&bin).unwrap(), id);
    }

    proptest! {
        #[test]
        fn matches_u128_arithmetic_when_high_bits_are_zero(a in any::<u128>(), b in any::<u128>()) {
            // Below 2^128 and with no wrap, cw distance is plain subtraction.
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            let d = clockwise_distance(&u128_id(lo), &u128_id(hi));
            let mut expect = [0u8; ID_LEN];
            expect[ID_LEN - 16..].copy_from_slice(&(hi - lo).to_be_bytes());
            prop_assert_eq!(d, Distance(expect));
        }

        #[test]
        fn cw_plus_ccw_is_full_turn(a in any::<[u8; 32]>(), b in any::<[u8; 32]>()) {
            let (a, b) = (TokenId::new(a), TokenId::new(b));
            let cw = clockwise_distance(&a, &b);
            let ccw = counter_clockwise_distance(&a, &b);
            // cw + ccw == 0 mod 2^256
            prop_assert_eq!(wrapping_add(&cw.0, &ccw.0), [0u8; ID_LEN]);
            prop_assert_eq!(ring_distance(&a, &b), ring_distance(&b, &a));
            prop_assert!(ring_distance(&a, &b) <= cw && ring_distance(&a, &b) <= ccw);
            // moving a clockwise by cw lands on b
            prop_assert_eq!(a.add(&cw), b);
            prop_assert_eq!(a.sub(&ccw), b);
        }
    }
}
