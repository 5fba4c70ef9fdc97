//! The run's digest: BLAKE3 over everything that happened, in a fixed order.
//!
//! Two runs of one configuration give the same digest, whatever the thread count,
//! and a change in behaviour (a datagram, an event, its time or its order) changes
//! it, so the digest is the cheap proof that a refactor changed nothing.
//!
//! # Format (`election-tests digest v1`)
//!
//! BLAKE3 in derive-key mode with context `"election-tests digest v1"`, fed:
//!
//! - per window, every record in `(time, node, counter)` order as
//!   `time: u64 LE, node: u32 LE, counter: u64 LE, hash: [u8; 32]`, where `hash`
//!   is [`datagram_hash`] of a delivered datagram or [`event_hash`] of a node event;
//! - per churn or partition event, `now: u64 LE`, then a marker: `"partition"`,
//!   `"heal"`, `"resync"`, or `"leave"`/`"join"` followed by the node as `u32 LE`.
//!
//! # Why not postcard over the `Serialize` events
//!
//! The encoding is written by hand, with fixed-width little-endian integers
//! (`usize` fields as `u32`). Postcard writes every integer as a LEB128 varint
//! instead, so any record with an integer in it hashes different bytes:
//! `Elected { addr: 7, cluster_size: 6, responses: 7, latency_ms: 144, .. }` ends
//! in `07000000 06000000 07000000 9000000000000000 00` here and in
//! `07 06 07 9001 00` under postcard (86 vs 71 bytes); `ElectionFailed`,
//! `SplitBrain`, `PeerAdded` and `PartitionSuspected` differ alike, and so do the
//! record keys and the datagram record's sender. Only `ElectionStarted` and
//! `PeerEvicted` (tags, ids and purposes, no integers) would encode the same.
//! Switching would change every digest, which is the proof that changes to the
//! simulator did not change its behaviour, so the encoder stays.

use super::queue::Key;
use election_proto::node::{ElectionPurpose, Event};

/// BLAKE3 over every record of the run, in the order of the module docs.
#[derive(Debug, Clone)]
pub(super) struct Digest(blake3::Hasher);

impl Default for Digest {
    fn default() -> Self {
        Self(blake3::Hasher::new_derive_key("election-tests digest v1"))
    }
}

impl Digest {
    /// Folds in one window's records, already in key order.
    pub(super) fn records(&mut self, log: &[(Key, [u8; 32])]) {
        for ((t, node, c), h) in log {
            self.0.update(&t.to_le_bytes());
            self.0.update(&node.to_le_bytes());
            self.0.update(&c.to_le_bytes());
            self.0.update(h);
        }
    }

    /// Starts the record of a churn or partition event at `now`.
    pub(super) fn fault(&mut self, now: u64) {
        self.0.update(&now.to_le_bytes());
    }

    /// A marker: `"partition"`, `"heal"` or `"resync"`.
    pub(super) fn marker(&mut self, tag: &[u8]) {
        self.0.update(tag);
    }

    /// A marker about one node: `"leave"` or `"join"`.
    pub(super) fn node_marker(&mut self, tag: &[u8], node: u32) {
        self.0.update(tag);
        self.0.update(&node.to_le_bytes());
    }

    /// The digest so far.
    pub(super) fn value(&self) -> [u8; 32] {
        *self.0.clone().finalize().as_bytes()
    }
}

/// The record of a datagram from `from` delivered (or arriving at an offline node):
/// BLAKE3 of `0xd0, from: u32 LE, bytes`.
pub(super) fn datagram_hash(from: u32, bytes: &[u8]) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(&[0xd0]);
    h.update(&from.to_le_bytes());
    h.update(bytes);
    *h.finalize().as_bytes()
}

/// The record of a node event: BLAKE3 of its [`encode_event`] bytes.
pub(super) fn event_hash(e: &Event<u32>) -> [u8; 32] {
    let mut buf = [0u8; 256];
    *blake3::hash(encode_event(e, &mut buf)).as_bytes()
}

/// A compact, deterministic byte encoding of an event for the digest.
fn encode_event<'a>(e: &Event<u32>, buf: &'a mut [u8; 256]) -> &'a [u8] {
    let mut w = Writer { buf, len: 0 };
    match e {
        Event::ElectionStarted { token, purpose } => {
            w.put(&[0]);
            w.put(token.as_bytes());
            match purpose {
                ElectionPurpose::Requested => w.put(&[0]),
                ElectionPurpose::Reverify(p) => {
                    w.put(&[1]);
                    w.put(p.as_bytes());
                }
                ElectionPurpose::Discover => w.put(&[2]),
                other => w.put(format!("{other:?}").as_bytes()),
            }
        }
        Event::Elected {
            token,
            winner,
            cluster_size,
            responses,
            latency_ms,
            contested,
        } => {
            w.put(&[1]);
            w.put(token.as_bytes());
            w.put(winner.id.as_bytes());
            w.put(&winner.addr.to_le_bytes());
            w.put(&(*cluster_size as u32).to_le_bytes());
            w.put(&(*responses as u32).to_le_bytes());
            w.put(&latency_ms.to_le_bytes());
            w.put(&[u8::from(*contested)]);
        }
        Event::SplitBrain {
            token,
            winner1,
            size1,
            winner2,
            size2,
            spawning_channels,
        } => {
            w.put(&[2]);
            w.put(token.as_bytes());
            w.put(winner1.as_bytes());
            w.put(&(*size1 as u32).to_le_bytes());
            w.put(winner2.as_bytes());
            w.put(&(*size2 as u32).to_le_bytes());
            w.put(&[u8::from(*spawning_channels)]);
        }
        Event::ElectionFailed {
            token,
            reason,
            responses,
        } => {
            w.put(&[3]);
            w.put(token.as_bytes());
            w.put(&[reason.index() as u8]);
            w.put(&(*responses as u32).to_le_bytes());
        }
        Event::PeerAdded(c) => {
            w.put(&[4]);
            w.put(c.id.as_bytes());
            w.put(&c.addr.to_le_bytes());
        }
        Event::PeerEvicted { peer, reason } => {
            w.put(&[5]);
            w.put(peer.as_bytes());
            w.put(&[reason.index() as u8]);
        }
        Event::PartitionSuspected { split_brains, window } => {
            w.put(&[6]);
            w.put(&(*split_brains as u32).to_le_bytes());
            w.put(&(*window as u32).to_le_bytes());
        }
        // Events this encoder does not know yet still reach the digest.
        other => w.put(format!("{other:?}").as_bytes()),
    }
    let len = w.len;
    &buf[..len]
}

/// Appends to a fixed buffer, silently truncating past its end (no event comes
/// near 256 bytes; a `Debug` fallback might, and a truncated one still hashes
/// deterministically).
struct Writer<'a> {
    buf: &'a mut [u8; 256],
    len: usize,
}

impl Writer<'_> {
    fn put(&mut self, b: &[u8]) {
        let end = (self.len + b.len()).min(self.buf.len());
        let n = end - self.len;
        self.buf[self.len..end].copy_from_slice(&b[..n]);
        self.len = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use election_proto::node::FailureReason;
    use election_proto::wire::Contact;
    use election_proto::{PeerId, TokenId};

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// Pins the byte encoding: a change here changes every digest ever reported.
    #[test]
    fn encoding_is_fixed_width_little_endian() {
        let t = TokenId::new([0xaa; 32]);
        let p = PeerId::new([0xbb; 32]);
        let mut buf = [0u8; 256];
        let elected = Event::Elected {
            token: t,
            winner: Contact { id: p, addr: 7 },
            cluster_size: 6,
            responses: 7,
            latency_ms: 144,
            contested: false,
        };
        let bytes = encode_event(&elected, &mut buf);
        assert_eq!(bytes.len(), 86);
        assert_eq!(bytes[0], 1);
        // addr, cluster_size, responses as u32, latency_ms as u64, contested.
        assert_eq!(
            hex(&bytes[65..]),
            ["07000000", "06000000", "07000000", "9000000000000000", "00"].concat()
        );
        let failed = Event::ElectionFailed {
            token: t,
            reason: FailureReason::Timeout,
            responses: 3,
        };
        assert_eq!(hex(&encode_event(&failed, &mut buf)[33..]), "0403000000");
        let suspected = Event::<u32>::PartitionSuspected {
            split_brains: 3,
            window: 20,
        };
        assert_eq!(hex(encode_event(&suspected, &mut buf)), "060300000014000000");
        assert_eq!(
            hex(&event_hash(&suspected)),
            "7d58eef86fc0ea8c16fe97f95a115a1daac2eb8c89183fbf00062945760ab8dc"
        );
        assert_eq!(
            hex(&datagram_hash(513, &[1, 2, 3])),
            "dd259c7f301e55456d83207de5634ce756b49762992fc530a0b7fa08fe114ec9"
        );
        let mut d = Digest::default();
        d.records(&[((1, 2, 3), [9; 32])]);
        d.fault(4);
        d.node_marker(b"join", 5);
        assert_eq!(
            hex(&d.value()),
            "8f466748f625a654e5bc6e0641d34873b0903bcbd5821ae95ded864ed25993d7"
        );
    }

    #[test]
    fn records_and_markers_change_the_digest() {
        let mut a = Digest::default();
        let b = a.clone();
        a.records(&[((1, 2, 3), [0; 32])]);
        assert_ne!(a.value(), b.value());
        let mut c = a.clone();
        c.node_marker(b"leave", 4);
        let mut d = a.clone();
        d.node_marker(b"leave", 5);
        assert_ne!(c.value(), d.value());
    }
}
