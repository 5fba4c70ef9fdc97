//! Identity checks (wire v2): a key must hash to the id it speaks for, and,
//! when the configuration asks for one, carry a proof of work. Argon2id
//! checks cost milliseconds, so each result is cached per peer in a bounded,
//! ordered table.

use crate::id::PeerId;
use crate::keys::{peer_id_of, pow_valid, PublicKey};
use std::collections::{BTreeMap, VecDeque};

/// Results of proof-of-work checks, per peer: `(nonce, valid)`. At most
/// `cap` entries; the oldest is forgotten first.
#[derive(Debug)]
pub(super) struct ProvenIdentities {
    cap: usize,
    checked: BTreeMap<PeerId, (u64, bool)>,
    order: VecDeque<PeerId>,
}

impl ProvenIdentities {
    pub(super) fn new(cap: usize) -> Self {
        Self {
            cap: cap.max(1),
            checked: BTreeMap::new(),
            order: VecDeque::new(),
        }
    }

    /// Whether `key` is `id`'s and `nonce` is a proof of `bits` difficulty for
    /// it. The key-to-id check is one BLAKE3 hash and is never cached; the
    /// proof of work is checked once per `(id, nonce)` while the entry lasts.
    pub(super) fn check(&mut self, id: &PeerId, key: &PublicKey, nonce: u64, bits: u8) -> bool {
        if peer_id_of(key) != *id {
            return false;
        }
        if bits == 0 {
            return true;
        }
        if let Some((n, ok)) = self.checked.get(id) {
            if *n == nonce {
                return *ok;
            }
        }
        let ok = pow_valid(key, nonce, bits);
        if self.checked.insert(*id, (nonce, ok)).is_none() {
            self.order.push_back(*id);
            if self.order.len() > self.cap {
                if let Some(old) = self.order.pop_front() {
                    self.checked.remove(&old);
                }
            }
        }
        ok
    }

    /// Whether `id` has passed a proof-of-work check (and is still cached).
    pub(super) fn is_proven(&self, id: &PeerId) -> bool {
        self.checked.get(id).is_some_and(|(_, ok)| *ok)
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.checked.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{mine_pow, NodeKey};

    #[test]
    fn checks_binding_caches_results_and_stays_bounded() {
        let k = NodeKey::from_secret([3; 32]);
        let (id, pk) = (k.peer_id(), k.public());
        let mut p = ProvenIdentities::new(2);
        assert!(p.check(&id, &pk, 0, 0));
        assert!(!p.check(&PeerId::new([1; 32]), &pk, 0, 0), "key of another id");
        assert_eq!(p.len(), 0, "difficulty 0 caches nothing");
        let good = mine_pow(&pk, 3, 0, 1_000).unwrap();
        let bad = (0..64).find(|n| !pow_valid(&pk, *n, 3)).unwrap();
        assert!(!p.check(&id, &pk, bad, 3));
        assert!(!p.is_proven(&id));
        assert!(p.check(&id, &pk, good, 3));
        assert!(p.is_proven(&id));
        assert!(p.check(&id, &pk, good, 3), "cached");
        for s in 10..20u8 {
            let o = NodeKey::from_secret([s; 32]);
            p.check(&o.peer_id(), &o.public(), 0, 3);
        }
        assert!(p.len() <= 2);
        assert!(!p.is_proven(&id), "forgotten oldest first");
    }
}
