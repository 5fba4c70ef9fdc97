//! Fixtures shared by every harness: stores and peers built once per process,
//! and the input-driven selectors (tokens, peers, contacts, forgeries) that
//! pick among them.

use arbitrary::{Arbitrary, Unstructured};
use election_proto::id::{
    clockwise_distance, counter_clockwise_distance, BlockId, Distance, PeerId, TokenId,
};
use election_proto::keys::{answer_signed_bytes, NodeKey, Signature};
use election_proto::proof::{generate_signature, TokenSignature, SIGNATURE_SIZE};
use election_proto::store::MemoryStore;
use election_proto::wire::Contact;
use election_proto::MessageTicket;
use election_proto::{generate_proof, PossessionProof, PROOF_STEPS};
use std::sync::OnceLock;

// ---------------------------------------------------------------------------
// Fixtures: stores and peers shared by every run (built once per process).
// ---------------------------------------------------------------------------

/// Half-width of the consecutive token range stored around each center. A
/// challenge token within [`CHALLENGE_SPREAD`] of a center always has a complete
/// signature walk (each step moves at most 1023 tokens, five steps each way).
const STORE_HALF_WIDTH: u64 = 5 * 1024 + 2 * CHALLENGE_SPREAD;

/// Challenge tokens are drawn within this many steps of a center.
const CHALLENGE_SPREAD: u64 = 256;

/// Number of peers in the pool that answers, refers and sends datagrams.
pub(crate) const POOL: usize = 16;

/// The ledger variants remote responders can hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Arbitrary)]
pub enum StoreKind {
    /// The reference ledger.
    Honest,
    /// The reference ledger with about one block in seven replaced (agreement
    /// with honest answers hovers around the consensus threshold).
    Stale,
    /// Every block different: answers disagree completely with honest ones.
    Forked,
    /// The reference ledger with about one token in eleven missing.
    Sparse,
}

pub(crate) struct Fixtures {
    centers: [TokenId; 2],
    /// Indexed by `StoreKind as usize`.
    stores: [MemoryStore; 4],
    /// Honest mappings around the first center only: what a fuzzed node holds,
    /// so queries for tokens near the second center must be routed.
    pub(crate) node_store: MemoryStore,
    /// `pool[i]` is `pool_keys[i].peer_id()` (wire v2: ids derive from keys).
    pub(crate) pool: [PeerId; POOL],
    pub(crate) pool_keys: [NodeKey; POOL],
    /// The challenger of the `election` harness, and the id of the `node` harness's node.
    pub(crate) me: PeerId,
    pub(crate) me_key: NodeKey,
}

/// Candidate keys searched for ids near the wanted points of the ring.
const KEY_CANDIDATES: u64 = 256;

/// The key a contact signs with: its pool key, the node's own, or for any
/// other id a key that is not the id's (so its answers fail verification).
pub(crate) fn key_of(id: &PeerId) -> NodeKey {
    let f = fixtures();
    if *id == f.me {
        return f.me_key.clone();
    }
    match f.pool.iter().position(|p| p == id) {
        Some(i) => f.pool_keys[i].clone(),
        None => NodeKey::from_secret(hash32("stranger key", id.as_bytes())),
    }
}

/// The possession proof `responder` gives `challenger` for `token` from the
/// store of `kind` (all-zero tags where that store does not hold the token:
/// what a responder without the blocks can send).
pub(crate) fn proof_from(
    kind: StoreKind,
    challenger: &PeerId,
    responder: &PeerId,
    token: &TokenId,
) -> PossessionProof {
    generate_proof(store(kind), challenger, responder, token).unwrap_or([[0; 4]; PROOF_STEPS])
}

/// The v3 signature `responder` puts on an answer for `challenger`.
pub(crate) fn sign_answer(
    challenger: &PeerId,
    ticket: MessageTicket,
    token: &TokenId,
    sig: &TokenSignature,
    proof: &PossessionProof,
    responder: &Contact<u32>,
) -> (NodeKey, Signature) {
    let key = key_of(&responder.id);
    let bytes = answer_signed_bytes(
        challenger,
        ticket,
        token,
        &sig.answer,
        &sig.signature,
        proof,
        &responder.addr,
    )
    .unwrap_or_default();
    let auth = key.sign(&bytes);
    (key, auth)
}

pub(crate) fn hash32(label: &str, data: &[u8]) -> [u8; 32] {
    let mut h = blake3::Hasher::new_derive_key("election-proto fuzz fixtures");
    h.update(label.as_bytes());
    h.update(data);
    *h.finalize().as_bytes()
}

pub(crate) fn block_for(token: &TokenId, variant: u8) -> BlockId {
    BlockId::new(hash32(
        "block",
        &[token.as_bytes().as_slice(), &[variant]].concat(),
    ))
}

pub(crate) fn fixtures() -> &'static Fixtures {
    static F: OnceLock<Fixtures> = OnceLock::new();
    F.get_or_init(|| {
        // One center somewhere on the ring, one whose range wraps through zero.
        let centers = [TokenId::new(hash32("center", b"0")), TokenId::from_u64(1000)];
        let range = |c: &TokenId| {
            let c = *c;
            (0..=2 * STORE_HALF_WIDTH).map(move |i| {
                c.sub(&Distance::from_u64(STORE_HALF_WIDTH))
                    .add(&Distance::from_u64(i))
            })
        };
        let all: Vec<TokenId> = centers.iter().flat_map(range).collect();
        let last = |t: &TokenId| u64::from(t.as_bytes()[31]) + 256 * u64::from(t.as_bytes()[30]);
        let honest = MemoryStore::from_mappings(all.iter().map(|t| (*t, block_for(t, 0))));
        let stale =
            MemoryStore::from_mappings(all.iter().map(|t| (*t, block_for(t, u8::from(last(t) % 7 == 3)))));
        let forked = MemoryStore::from_mappings(all.iter().map(|t| (*t, block_for(t, 2))));
        let sparse = MemoryStore::from_mappings(
            all.iter()
                .filter(|t| last(t) % 11 != 5)
                .map(|t| (*t, block_for(t, 0))),
        );
        let node_store = MemoryStore::from_mappings(range(&centers[0]).map(|t| (t, block_for(&t, 0))));
        // Peers: six near the first center, four near the second, six anywhere.
        // Ids are BLAKE3 of public keys, so "near" is: the nearest unused
        // candidate key on that side of the center.
        let candidates: Vec<NodeKey> = (0..KEY_CANDIDATES)
            .map(|i| NodeKey::from_secret(hash32("pool key", &i.to_le_bytes())))
            .collect();
        let mut used = vec![false; candidates.len()];
        let pool_keys: [NodeKey; POOL] = core::array::from_fn(|i| {
            let (center, clockwise) = match i {
                0..=2 => (centers[0], true),
                3..=5 => (centers[0], false),
                6..=7 => (centers[1], true),
                8..=9 => (centers[1], false),
                _ => return NodeKey::from_secret(hash32("peer", &[i as u8])),
            };
            let c = PeerId::new(*center.as_bytes());
            let best = (0..candidates.len())
                .filter(|j| !used[*j])
                .min_by_key(|j| {
                    let id = candidates[*j].peer_id();
                    if clockwise {
                        clockwise_distance(&c, &id)
                    } else {
                        counter_clockwise_distance(&c, &id)
                    }
                })
                .expect("enough candidates");
            used[best] = true;
            candidates[best].clone()
        });
        let pool = core::array::from_fn(|i| pool_keys[i].peer_id());
        let me_key = NodeKey::from_secret(hash32("me", b""));
        Fixtures {
            centers,
            stores: [honest, stale, forked, sparse],
            node_store,
            pool,
            pool_keys,
            me: me_key.peer_id(),
            me_key,
        }
    })
}

/// Builds every fixture now (they are otherwise built on first use, which would
/// be counted in the first input's time).
pub fn init() {
    fixtures();
}

pub(crate) fn store(kind: StoreKind) -> &'static MemoryStore {
    &fixtures().stores[kind as usize]
}

/// A token chosen from the input: usually near a center, where stores hold
/// every token, sometimes anywhere.
#[derive(Clone, Copy, Debug)]
pub enum TokenSel {
    /// `center ± offset` (offsets past 256 may fall outside the walkable range).
    Near {
        /// Which center (mod 2).
        center: bool,
        /// Signed offset.
        offset: i16,
    },
    /// Within 256 tokens of a center: always stored with a complete walk.
    Stored {
        /// Which center.
        center: bool,
        /// Offset, folded into the spread.
        offset: u16,
    },
    /// Any 256-bit token.
    Raw([u8; 32]),
}

impl TokenSel {
    pub(crate) fn token(self) -> TokenId {
        let f = fixtures();
        match self {
            TokenSel::Near { center, offset } => {
                let c = f.centers[usize::from(center)];
                let d = Distance::from_u64(u64::from(offset.unsigned_abs()));
                if offset < 0 {
                    c.sub(&d)
                } else {
                    c.add(&d)
                }
            }
            TokenSel::Stored { center, offset } => {
                let c = f.centers[usize::from(center)];
                let o = u64::from(offset) % (2 * CHALLENGE_SPREAD + 1);
                c.sub(&Distance::from_u64(CHALLENGE_SPREAD))
                    .add(&Distance::from_u64(o))
            }
            TokenSel::Raw(b) => TokenId::new(b),
        }
    }
}

/// A peer chosen from the input.
#[derive(Clone, Copy, Debug)]
pub enum PeerSel {
    /// A pool peer (index mod pool size).
    Pool(u8),
    /// The harness's own id (the challenger / the fuzzed node).
    Me,
    /// Any 256-bit id.
    Raw([u8; 32]),
}

impl PeerSel {
    pub(crate) fn peer(self) -> PeerId {
        let f = fixtures();
        match self {
            PeerSel::Pool(i) => f.pool[usize::from(i) % POOL],
            PeerSel::Me => f.me,
            PeerSel::Raw(b) => PeerId::new(b),
        }
    }
}

pub(crate) fn pool_peer(i: u8) -> PeerId {
    fixtures().pool[usize::from(i) % POOL]
}

/// Transport address of pool peer `i` in the `node` harness (the node is `0`).
fn pool_addr(i: usize) -> u32 {
    i as u32 + 1
}

pub(crate) fn pool_index_of_addr(addr: u32) -> Option<usize> {
    (1..=POOL as u32).contains(&addr).then(|| addr as usize - 1)
}

/// A contact chosen from the input.
#[derive(Clone, Copy, Debug)]
pub enum ContactSel {
    /// A pool peer at its own address.
    Pool(u8),
    /// A pool peer at another address.
    Moved(u8, u32),
    /// Any id at any address.
    Raw([u8; 32], u32),
    /// The fuzzed node itself.
    Me,
}

impl ContactSel {
    pub(crate) fn contact(self) -> Contact<u32> {
        let f = fixtures();
        match self {
            ContactSel::Pool(i) => Contact {
                id: pool_peer(i),
                addr: pool_addr(usize::from(i) % POOL),
            },
            ContactSel::Moved(i, addr) => Contact {
                id: pool_peer(i),
                addr,
            },
            ContactSel::Raw(b, addr) => Contact {
                id: PeerId::new(b),
                addr,
            },
            ContactSel::Me => Contact { id: f.me, addr: 0 },
        }
    }
}

/// How a forged answer is made from an honest signature (or from nothing).
#[derive(Clone, Copy, Debug, Arbitrary)]
pub enum Forgery {
    /// Change the block of one step: still verifies, but agrees less.
    StepBlock {
        /// Step index (mod 10).
        step: u8,
        /// Byte XORed into the block's first byte (0 becomes 1).
        xor: u8,
    },
    /// Change the answered block (changes every chunk: should not verify).
    AnswerBlock(u8),
    /// Flip one bit of one step's token id.
    StepId {
        /// Step index (mod 10).
        step: u8,
        /// Bit index (mod 256).
        bit: u8,
    },
    /// Swap two steps.
    Swap(u8, u8),
    /// An honest signature made for another challenger.
    OtherChallenger(PeerSel),
    /// An honest signature for a neighbouring token.
    OtherToken(i8),
    /// Copy one step over another.
    Repeat(u8, u8),
    /// Mappings expanded from a seed, answering the challenged token.
    Noise(u64),
}

pub(crate) fn forge(base: &TokenSignature, forgery: Forgery, me: &PeerId, kind: StoreKind) -> TokenSignature {
    let mut s = *base;
    let step = |i: u8| usize::from(i) % SIGNATURE_SIZE;
    match forgery {
        Forgery::StepBlock { step: i, xor } => {
            let mut b = *s.signature[step(i)].block.as_bytes();
            b[0] ^= xor.max(1);
            s.signature[step(i)].block = BlockId::new(b);
        }
        Forgery::AnswerBlock(x) => {
            let mut b = *s.answer.block.as_bytes();
            b[31] ^= x.max(1);
            s.answer.block = BlockId::new(b);
        }
        Forgery::StepId { step: i, bit } => {
            let mut b = *s.signature[step(i)].id.as_bytes();
            b[usize::from(bit / 8)] ^= 1 << (bit % 8);
            s.signature[step(i)].id = TokenId::new(b);
        }
        Forgery::Swap(i, j) => s.signature.swap(step(i), step(j)),
        Forgery::OtherChallenger(p) => {
            let p = p.peer();
            if let Some(o) = generate_signature(store(kind), &s.answer.id, &p) {
                s = o;
            }
        }
        Forgery::OtherToken(d) => {
            let d64 = Distance::from_u64(u64::from(d.unsigned_abs()));
            let t = if d < 0 {
                s.answer.id.sub(&d64)
            } else {
                s.answer.id.add(&d64)
            };
            if let Some(o) = generate_signature(store(kind), &t, me) {
                s = o;
                // Claim the challenged token, keep the other token's walk.
                s.answer.id = base.answer.id;
            }
        }
        Forgery::Repeat(i, j) => s.signature[step(j)] = s.signature[step(i)],
        Forgery::Noise(seed) => {
            for (k, m) in s.signature.iter_mut().enumerate() {
                let b = seed.to_le_bytes();
                m.id = TokenId::new(hash32("noise id", &[b.as_slice(), &[k as u8]].concat()));
                m.block = BlockId::new(hash32("noise block", &[b.as_slice(), &[k as u8]].concat()));
            }
        }
    }
    s
}

// Hand-written `Arbitrary` impls: one tag byte picks the variant with weights
// that favour the fixtures (a raw 32-byte id costs 33 input bytes and rarely
// leads anywhere), so a short input holds many useful operations.

impl<'a> Arbitrary<'a> for TokenSel {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let tag: u8 = u.arbitrary()?;
        Ok(match tag {
            0..=159 => TokenSel::Stored {
                center: tag & 1 == 1,
                offset: u.arbitrary()?,
            },
            160..=239 => TokenSel::Near {
                center: tag & 1 == 1,
                offset: u.arbitrary()?,
            },
            _ => TokenSel::Raw(u.arbitrary()?),
        })
    }
}

impl<'a> Arbitrary<'a> for PeerSel {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let tag: u8 = u.arbitrary()?;
        Ok(match tag {
            0..=223 => PeerSel::Pool(tag),
            224..=239 => PeerSel::Me,
            _ => PeerSel::Raw(u.arbitrary()?),
        })
    }
}

impl<'a> Arbitrary<'a> for ContactSel {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let tag: u8 = u.arbitrary()?;
        Ok(match tag {
            0..=207 => ContactSel::Pool(tag),
            208..=231 => ContactSel::Moved(tag, u.arbitrary()?),
            232..=243 => ContactSel::Me,
            _ => ContactSel::Raw(u.arbitrary()?, u.arbitrary()?),
        })
    }
}
