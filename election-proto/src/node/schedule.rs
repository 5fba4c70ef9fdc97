//! The scheduler (docs/PROTOCOL.md §9, seed phase 4): when the next scheduled
//! election runs, what it challenges (re-verification of an elected peer or
//! discovery), and which stored token it uses.

use super::{ElectionPurpose, Event, FailureReason, Node};
use crate::id::{Distance, PeerId, TokenId, SUFFIX_SPACE};
use crate::store::TokenStore;
use crate::wire::Address;

impl<A: Address, S: TokenStore> Node<A, S> {
    pub(super) fn schedule_next(&mut self, now: u64) {
        let base = self.config.election_interval_ms;
        let spread = base.saturating_mul(u64::from(self.config.election_jitter_percent)) / 100;
        let low = base.saturating_sub(spread).max(1);
        let wait = low.saturating_add(self.rng.below(spread.saturating_mul(2).saturating_add(1)));
        self.next_election_at = Some(now.saturating_add(wait));
    }

    /// Alternates re-verification of the stalest elected peer with discovery.
    pub(super) fn scheduled_election(&mut self, now: u64) {
        let reverify = self.reverify_next;
        self.reverify_next = !self.reverify_next;
        let (token, purpose) = match self.elected.stalest().map(|p| p.contact.id) {
            Some(peer) if reverify => (self.token_near(&peer), ElectionPurpose::Reverify(peer)),
            _ => (self.discovery_token(), ElectionPurpose::Discover),
        };
        match token {
            Some(t) => self.start_election(now, t, purpose),
            None => {
                self.metrics.elections_started += 1;
                self.metrics.record_failure(FailureReason::NoToken);
                self.emit(Event::ElectionFailed {
                    token: TokenId::ZERO,
                    reason: FailureReason::NoToken,
                    responses: 0,
                });
            }
        }
    }

    /// A stored token near `point`, with a random suffix so repeated challenges
    /// around one peer use different tokens (a cached answer is no use).
    fn token_near(&mut self, point: &PeerId) -> Option<TokenId> {
        let from = TokenId::new(*point.as_bytes());
        let s = self.rng.below(SUFFIX_SPACE as u64) as u16;
        let m = if self.rng.coin() {
            self.store.next_with_suffix(&from, s)
        } else {
            self.store.prev_with_suffix(&from, s)
        };
        m.map(|m| m.id)
    }

    /// A stored token for discovery: half the time inside the widest arc between
    /// elected peers (the worst-covered area), otherwise at a random distance from
    /// this node (log-uniform, so near and far are both explored). The search
    /// walks from that point toward this node, so it lands in the part of the
    /// ledger this node holds.
    fn discovery_token(&mut self) -> Option<TokenId> {
        let me = TokenId::new(*self.me.id.as_bytes());
        let gap = if self.rng.coin() {
            self.elected.largest_gap()
        } else {
            None
        };
        let point = match gap {
            Some((start, len)) => {
                let mut d = [0u8; 32];
                self.rng.fill(&mut d);
                let off = scale(&d, &len);
                TokenId::new(*start.as_bytes()).add(&off)
            }
            None => {
                let bits = self.rng.below(256) as usize;
                let mut d = [0u8; 32];
                self.rng.fill(&mut d);
                mask_to_bits(&mut d, bits);
                let off = Distance(d);
                if self.rng.coin() {
                    me.add(&off)
                } else {
                    me.sub(&off)
                }
            }
        };
        let s = self.rng.below(SUFFIX_SPACE as u64) as u16;
        let toward_me_ccw =
            crate::id::clockwise_distance(&me, &point) <= crate::id::counter_clockwise_distance(&me, &point);
        let m = if toward_me_ccw {
            self.store.prev_with_suffix(&point, s)
        } else {
            self.store.next_with_suffix(&point, s)
        };
        m.map(|m| m.id)
            .or_else(|| self.store.lookup(&point).map(|_| point))
    }
}

/// Keeps only the low `bits` bits of a big-endian value.
fn mask_to_bits(d: &mut [u8; 32], bits: usize) {
    for (i, b) in d.iter_mut().enumerate() {
        let bit_lo = (31 - i) * 8; // value of this byte's lowest bit position
        if bit_lo >= bits {
            *b = 0;
        } else if bit_lo + 8 > bits {
            *b &= (1u16 << (bits - bit_lo)) as u8 - 1;
        }
    }
}

/// Roughly `random * len / 2^256`: a uniform-ish offset inside an arc, using the
/// top 64 bits of each (precision is irrelevant for picking a point).
fn scale(random: &[u8; 32], len: &Distance) -> Distance {
    let mut r = [0u8; 8];
    r.copy_from_slice(&random[..8]);
    let r = u128::from(u64::from_be_bytes(r));
    let l = u128::from(len.high_u64());
    let hi = ((r * l) >> 64) as u64;
    let mut out = [0u8; 32];
    out[..8].copy_from_slice(&hi.to_be_bytes());
    out[8..].copy_from_slice(&random[8..]);
    // hi < len's top word, so any low bits keep the offset inside the arc.
    Distance(out)
}
