//! Fuzzing harnesses shared by the cargo-fuzz targets (`fuzz/`) and the stable
//! replay test (`tests/fuzz_replay.rs`). Only built with the `fuzzing` feature.
//!
//! Each harness takes raw bytes, so a libFuzzer corpus file, a regression
//! input and a deterministically generated input are all replayed the same
//! way. Structured harnesses read their operations from the bytes with
//! [`arbitrary::Unstructured`]; running out of bytes just ends the run.
//!
//! Every harness panics (with a message naming the broken invariant) when the
//! code under test misbehaves, and returns a small summary of what it reached,
//! so tests can check that the harness is not vacuous.
//!
//! - [`decode`]: bytes into [`wire::decode`]; whatever decodes re-encodes to the
//!   same bytes, and each rejection names the right reason.
//! - [`election`]: a sequence of [`PeerElection`] operations (channels, honest,
//!   forged, re-delivered and misdelivered answers, referrals, abandons, checks)
//!   with every observable invariant checked after each step.
//! - [`node`]: a [`Node`] fed datagrams (raw, structured, honest replies to its
//!   own queries, mutated echoes), timers, time jumps and host commands; outputs
//!   are drained after every input and checked. Each scenario runs twice and
//!   the two output streams must be identical (determinism).

use crate::cluster::ConsensusCluster;
use crate::election::{
    AnswerAccepted, ChannelState, ElectionConfig, ElectionError, MessageTicket, PeerElection, WinnerResult,
};
use crate::id::{ring_distance, BlockId, Distance, PeerId, TokenId};
use crate::node::{
    Command, ElectedPeer, Event, Input, Node, NodeConfig, Output, PeerSnapshot, SplitBrainPolicy,
    SNAPSHOT_VERSION,
};
use crate::proof::{
    agreement, generate_signature, verify_signature, TokenMapping, TokenSignature, SIGNATURE_SIZE,
};
use crate::store::MemoryStore;
use crate::wire::{self, Contact, DecodeError, Envelope, Message, MAX_DATAGRAM_LEN, PROTOCOL_VERSION};
use arbitrary::{Arbitrary, Unstructured};
use std::collections::BTreeSet;
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
const POOL: usize = 16;

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

struct Fixtures {
    centers: [TokenId; 2],
    /// Indexed by `StoreKind as usize`.
    stores: [MemoryStore; 4],
    /// Honest mappings around the first center only: what a fuzzed node holds,
    /// so queries for tokens near the second center must be routed.
    node_store: MemoryStore,
    pool: [PeerId; POOL],
    /// The challenger of the `election` harness, and the id of the `node` harness's node.
    me: PeerId,
}

fn hash32(label: &str, data: &[u8]) -> [u8; 32] {
    let mut h = blake3::Hasher::new_derive_key("election-proto fuzz fixtures");
    h.update(label.as_bytes());
    h.update(data);
    *h.finalize().as_bytes()
}

fn block_for(token: &TokenId, variant: u8) -> BlockId {
    BlockId::new(hash32(
        "block",
        &[token.as_bytes().as_slice(), &[variant]].concat(),
    ))
}

fn fixtures() -> &'static Fixtures {
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
        let pool = core::array::from_fn(|i| {
            let off = Distance::from_u64((i as u64 + 1) * 1_000_003);
            let t = match i {
                0..=2 => centers[0].add(&off),
                3..=5 => centers[0].sub(&off),
                6..=7 => centers[1].add(&off),
                8..=9 => centers[1].sub(&off),
                _ => TokenId::new(hash32("peer", &[i as u8])),
            };
            PeerId::new(*t.as_bytes())
        });
        Fixtures {
            centers,
            stores: [honest, stale, forked, sparse],
            node_store,
            pool,
            me: PeerId::new(hash32("me", b"")),
        }
    })
}

/// Builds every fixture now (they are otherwise built on first use, which would
/// be counted in the first input's time).
pub fn init() {
    fixtures();
}

fn store(kind: StoreKind) -> &'static MemoryStore {
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
    fn token(self) -> TokenId {
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
    fn peer(self) -> PeerId {
        let f = fixtures();
        match self {
            PeerSel::Pool(i) => f.pool[usize::from(i) % POOL],
            PeerSel::Me => f.me,
            PeerSel::Raw(b) => PeerId::new(b),
        }
    }
}

fn pool_peer(i: u8) -> PeerId {
    fixtures().pool[usize::from(i) % POOL]
}

/// Transport address of pool peer `i` in the `node` harness (the node is `0`).
fn pool_addr(i: usize) -> u32 {
    i as u32 + 1
}

fn pool_index_of_addr(addr: u32) -> Option<usize> {
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
    fn contact(self) -> Contact<u32> {
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

fn forge(base: &TokenSignature, forgery: Forgery, me: &PeerId, kind: StoreKind) -> TokenSignature {
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

impl<'a> Arbitrary<'a> for TicketSel {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let tag: u8 = u.arbitrary()?;
        Ok(match tag {
            0..=239 => TicketSel::Known(tag % 16),
            _ => TicketSel::Raw(u.arbitrary()?),
        })
    }
}

// ---------------------------------------------------------------------------
// decode
// ---------------------------------------------------------------------------

/// Feeds `data` to [`wire::decode`] (as `u32` addresses and as an address
/// with `SocketAddr`'s wire shape).
///
/// Invariants: never panics; whatever decodes re-encodes to exactly `data` and
/// decodes again to the same envelope; every error names the right reason
/// (empty, oversized, version byte, trailing bytes). Returns whether `data`
/// decoded as a `u32` envelope.
pub fn decode(data: &[u8]) -> bool {
    fn check<A: wire::Address>(data: &[u8]) -> bool {
        match wire::decode::<A>(data) {
            Ok(env) => {
                assert!(data.len() <= MAX_DATAGRAM_LEN, "decoded an oversized datagram");
                let again = wire::encode(&env).expect("a decoded envelope must encode");
                assert_eq!(again, data, "decode is not canonical: re-encoding differs");
                assert_eq!(
                    wire::decode::<A>(&again).as_ref(),
                    Ok(&env),
                    "round trip changed the envelope"
                );
                true
            }
            Err(DecodeError::Empty) => {
                assert!(data.is_empty(), "Empty for a non-empty datagram");
                false
            }
            Err(DecodeError::Oversized { len }) => {
                assert_eq!(len, data.len());
                assert!(len > MAX_DATAGRAM_LEN, "Oversized for {len} bytes");
                false
            }
            Err(DecodeError::UnknownVersion(v)) => {
                assert!(data.len() <= MAX_DATAGRAM_LEN);
                assert_eq!(Some(&v), data.first());
                assert_ne!(v, PROTOCOL_VERSION, "UnknownVersion for the current version");
                false
            }
            Err(DecodeError::TrailingBytes { count }) => {
                assert!(data.len() <= MAX_DATAGRAM_LEN && data[0] == PROTOCOL_VERSION);
                // Version byte and at least a sender precede the extra bytes.
                assert!(
                    count >= 1 && count + 1 + 32 < data.len(),
                    "TrailingBytes {{ count: {count} }} of {}",
                    data.len()
                );
                false
            }
            Err(DecodeError::Malformed) => {
                assert!(data.len() <= MAX_DATAGRAM_LEN && data[0] == PROTOCOL_VERSION);
                false
            }
        }
    }
    let ok = check::<u32>(data);
    check::<crate::wire::NetAddr>(data);
    ok
}

/// A structurally valid envelope built from input bytes (biased toward the
/// fixtures' tokens and peers so receivers get past their first checks).
#[derive(Clone, Debug, Arbitrary)]
pub struct EnvelopeSpec {
    /// Claimed sender.
    pub sender: PeerSel,
    /// The message.
    pub message: MessageSpec,
}

/// The fields of one message, chosen from the input.
#[derive(Clone, Debug, Arbitrary)]
pub enum MessageSpec {
    /// A [`Message::Query`].
    Query {
        /// Token.
        token: TokenSel,
        /// Ticket.
        ticket: u64,
        /// Challenger.
        challenger: PeerSel,
        /// Hop limit.
        hops_left: u8,
    },
    /// A [`Message::Answer`] with an honest signature (for `challenger`) that a forgery may alter.
    Answer {
        /// Ticket.
        ticket: u64,
        /// Token.
        token: TokenSel,
        /// Whom the signature is made for.
        challenger: PeerSel,
        /// Which ledger signs.
        store: StoreKind,
        /// Optional alteration.
        forgery: Option<Forgery>,
        /// Claimed responder.
        responder: ContactSel,
    },
    /// A [`Message::Referral`].
    Referral {
        /// Ticket.
        ticket: u64,
        /// Token.
        token: TokenSel,
        /// Suggested peer clockwise.
        high: ContactSel,
        /// Suggested peer counter-clockwise.
        low: ContactSel,
    },
}

impl MessageSpec {
    fn message(&self, tickets: &[MessageTicket]) -> Message<u32> {
        // Small ticket values pick a ticket the harness has seen, if any.
        let ticket = |t: u64| match tickets.len() {
            n if n > 0 && t < 4 * n as u64 => tickets[n - 1 - (t as usize % n)],
            _ => MessageTicket(t),
        };
        match self {
            MessageSpec::Query {
                token,
                ticket: t,
                challenger,
                hops_left,
            } => Message::Query(wire::Query {
                token: token.token(),
                ticket: ticket(*t),
                challenger: challenger.peer(),
                hops_left: *hops_left,
            }),
            MessageSpec::Answer {
                ticket: t,
                token,
                challenger,
                store: kind,
                forgery,
                responder,
            } => {
                let token = token.token();
                let challenger = challenger.peer();
                let honest =
                    generate_signature(store(*kind), &token, &challenger).unwrap_or(TokenSignature {
                        answer: TokenMapping {
                            id: token,
                            block: block_for(&token, 0),
                        },
                        signature: [TokenMapping::default(); SIGNATURE_SIZE],
                    });
                let sig = match forgery {
                    Some(f) => forge(&honest, *f, &challenger, *kind),
                    None => honest,
                };
                Message::Answer(wire::Answer {
                    ticket: ticket(*t),
                    answer: sig.answer,
                    signature: sig.signature,
                    responder: responder.contact(),
                })
            }
            MessageSpec::Referral {
                ticket: t,
                token,
                high,
                low,
            } => Message::Referral(wire::Referral {
                ticket: ticket(*t),
                token: token.token(),
                high: high.contact(),
                low: low.contact(),
            }),
        }
    }
}

impl EnvelopeSpec {
    /// The envelope these fields describe.
    pub fn envelope(&self) -> Envelope<u32> {
        Envelope {
            sender: self.sender.peer(),
            message: self.message.message(&[]),
        }
    }
}

/// A datagram for the `decode` harness built from input bytes: a valid encoding
/// of an arbitrary envelope, then up to three byte edits (so most results sit
/// just beside the valid ones). Used to generate seeds and replay inputs.
pub fn arbitrary_datagram(u: &mut Unstructured<'_>) -> arbitrary::Result<Vec<u8>> {
    let spec: EnvelopeSpec = u.arbitrary()?;
    let mut bytes = wire::encode(&spec.envelope()).expect("u32 envelopes always encode");
    let edits = u.int_in_range(0..=3u8)?;
    for _ in 0..edits {
        if bytes.is_empty() {
            break;
        }
        let at = u.choose_index(bytes.len() + 1)?;
        let b: u8 = u.arbitrary()?;
        match u.int_in_range(0..=2u8)? {
            0 if at < bytes.len() => bytes[at] = b,
            1 => bytes.insert(at, b),
            _ if at < bytes.len() => {
                bytes.remove(at);
            }
            _ => bytes.push(b),
        }
    }
    Ok(bytes)
}

// ---------------------------------------------------------------------------
// election
// ---------------------------------------------------------------------------

/// Picks a ticket: one the harness created (most recent first) or any value.
#[derive(Clone, Copy, Debug)]
pub enum TicketSel {
    /// The `n`-th most recently created ticket (mod the number created).
    Known(u8),
    /// Any ticket.
    Raw(u64),
}

fn pick_ticket(sel: TicketSel, created: &[MessageTicket]) -> MessageTicket {
    match sel {
        TicketSel::Known(n) if !created.is_empty() => {
            created[created.len() - 1 - usize::from(n) % created.len()]
        }
        TicketSel::Known(n) => MessageTicket(u64::from(n)),
        TicketSel::Raw(t) => MessageTicket(t),
    }
}

/// One operation on a [`PeerElection`].
#[derive(Clone, Debug, Arbitrary)]
pub enum ElectionOp {
    /// `create_channel` to a pool peer (index 16 mod 17 is the challenger itself).
    Create(u8),
    /// An honest answer from `responder` holding ledger `store`.
    Honest {
        /// Channel.
        ticket: TicketSel,
        /// Responder (pool index).
        responder: u8,
        /// Its ledger.
        store: StoreKind,
    },
    /// A forged answer.
    Forged {
        /// Channel.
        ticket: TicketSel,
        /// Responder (pool index).
        responder: u8,
        /// The ledger the forgery starts from.
        store: StoreKind,
        /// How it is forged.
        forgery: Forgery,
    },
    /// The `n`-th most recent answer delivered again, unchanged, on its ticket.
    Redeliver(u8),
    /// The `n`-th most recent answer delivered on another channel.
    Misdeliver(u8, TicketSel),
    /// The `n`-th most recent answer again, with another responder id.
    Impersonate(u8, u8),
    /// A referral.
    Referral {
        /// Channel.
        ticket: TicketSel,
        /// Whether it names the challenged token (else a neighbour).
        right_token: bool,
        /// Suggested peers.
        suggested: [PeerSel; 2],
        /// Referrer (pool index).
        responder: u8,
        /// Open the channel the referral suggests.
        follow: bool,
    },
    /// `abandon_channel`.
    Abandon(TicketSel),
    /// An extra verdict check (one runs after every step anyway).
    Check,
}

/// Configuration of an election run, from the input.
#[derive(Clone, Debug, Arbitrary)]
struct ElectionSetup {
    custom: Option<(u8, u8, u8, u8, u8)>,
    token: TokenSel,
    secret: [u8; 32],
}

/// What an election run reached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ElectionStats {
    /// Operations applied.
    pub ops: usize,
    /// Answers accepted as new.
    pub accepted: usize,
    /// Channels blocked by a conflicting answer.
    pub blocked: usize,
    /// Referrals accepted.
    pub referrals: usize,
    /// Verdicts with a single winner.
    pub singles: usize,
    /// Split-brain verdicts.
    pub split_brains: usize,
}

const MAX_OPS: usize = 256;

/// Runs the operations encoded in `data` on one [`PeerElection`], checking its
/// invariants after every step.
pub fn election(data: &[u8]) -> ElectionStats {
    let mut u = Unstructured::new(data);
    let mut stats = ElectionStats::default();
    let _ = run_election(&mut u, &mut stats);
    stats
}

struct ElectionHarness {
    e: PeerElection,
    me: PeerId,
    token: TokenId,
    /// Every ticket `create_channel` returned, in creation order.
    created: Vec<MessageTicket>,
    /// Channels the harness saw blocked.
    blocked: BTreeSet<MessageTicket>,
    /// Answers delivered: (ticket, signature, responder).
    answers: Vec<(MessageTicket, TokenSignature, PeerId)>,
}

fn run_election(u: &mut Unstructured<'_>, stats: &mut ElectionStats) -> arbitrary::Result<()> {
    let f = fixtures();
    let setup: ElectionSetup = u.arbitrary()?;
    let config = match setup.custom {
        None => ElectionConfig::default(),
        Some((ct, mcs, maxc, maj, budget)) => {
            let max_channels = 1 + usize::from(maxc % 16);
            ElectionConfig {
                consensus_threshold: 1 + usize::from(ct % 10),
                min_cluster_size: 2 + usize::from(mcs % 3),
                max_channels,
                majority_threshold: [0.6, 0.5, 0.34, 0.75, 1.0, 0.01][usize::from(maj % 6)],
                query_budget: max_channels + usize::from(budget % 24),
                ..ElectionConfig::default()
            }
        }
    };
    let token = setup.token.token();
    let mut h = ElectionHarness {
        e: PeerElection::new(token, f.me, config.clone(), setup.secret),
        me: f.me,
        token,
        created: Vec::new(),
        blocked: BTreeSet::new(),
        answers: Vec::new(),
    };
    if config.validate().is_ok() {
        assert_eq!(h.e.config(), &config, "a valid configuration must not be altered");
    }
    assert_eq!(h.e.challenge_token(), token);
    h.check(stats);
    for _ in 0..MAX_OPS {
        if u.is_empty() {
            break;
        }
        let op: ElectionOp = u.arbitrary()?;
        h.apply(op, stats);
        stats.ops += 1;
        h.check(stats);
    }
    Ok(())
}

impl ElectionHarness {
    fn apply(&mut self, op: ElectionOp, stats: &mut ElectionStats) {
        match op {
            ElectionOp::Create(i) => {
                let hop = if usize::from(i) % (POOL + 1) == POOL {
                    self.me
                } else {
                    pool_peer(i)
                };
                self.create(hop);
            }
            ElectionOp::Honest {
                ticket,
                responder,
                store: kind,
            } => {
                let ticket = pick_ticket(ticket, &self.created);
                if let Some(sig) = generate_signature(store(kind), &self.token, &self.me) {
                    let pending = self.e.channel_state(ticket) == Some(&ChannelState::Pending);
                    let r = self.answer(ticket, sig, pool_peer(responder), stats);
                    if pending {
                        assert_eq!(
                            r,
                            Ok(AnswerAccepted::New),
                            "an honest answer on a pending channel was refused"
                        );
                    }
                }
            }
            ElectionOp::Forged {
                ticket,
                responder,
                store: kind,
                forgery,
            } => {
                let ticket = pick_ticket(ticket, &self.created);
                let base = generate_signature(store(kind), &self.token, &self.me).unwrap_or(TokenSignature {
                    answer: TokenMapping {
                        id: self.token,
                        block: block_for(&self.token, 0),
                    },
                    signature: [TokenMapping::default(); SIGNATURE_SIZE],
                });
                let sig = forge(&base, forgery, &self.me, kind);
                let _ = self.answer(ticket, sig, pool_peer(responder), stats);
            }
            ElectionOp::Redeliver(n) => {
                if let Some((t, sig, r)) = self.nth_answer(n) {
                    let before = self.e.channel_state(t).cloned();
                    let res = self.answer(t, sig, r, stats);
                    if let Some(ChannelState::Responded { responder, signature }) = before {
                        if responder == r && signature == sig {
                            assert_eq!(
                                res,
                                Ok(AnswerAccepted::Redelivery),
                                "a byte-identical re-delivery was not ignored"
                            );
                        }
                    }
                }
            }
            ElectionOp::Misdeliver(n, ticket) => {
                if let Some((_, sig, r)) = self.nth_answer(n) {
                    let t = pick_ticket(ticket, &self.created);
                    let _ = self.answer(t, sig, r, stats);
                }
            }
            ElectionOp::Impersonate(n, who) => {
                if let Some((t, sig, _)) = self.nth_answer(n) {
                    let _ = self.answer(t, sig, pool_peer(who), stats);
                }
            }
            ElectionOp::Referral {
                ticket,
                right_token,
                suggested,
                responder,
                follow,
            } => {
                let ticket = pick_ticket(ticket, &self.created);
                let token = if right_token {
                    self.token
                } else {
                    self.token.add(&Distance::from_u64(1))
                };
                let suggested = suggested.map(PeerSel::peer);
                let responder = pool_peer(responder);
                let before = self.e.channel_state(ticket).cloned();
                let used: Vec<bool> = suggested.iter().map(|p| self.e.has_used_hop(p)).collect();
                let count = self.e.channel_count();
                let created = self.e.channels_created();
                let r = self.e.handle_referral(ticket, token, suggested, responder);
                assert_eq!(self.e.channels_created(), created, "a referral created a channel");
                match r {
                    Ok(next) => {
                        stats.referrals += 1;
                        assert_eq!(
                            before,
                            Some(ChannelState::Pending),
                            "referral accepted on a non-pending channel"
                        );
                        assert!(right_token);
                        let k = suggested
                            .iter()
                            .position(|p| *p == next)
                            .expect("referral returned a peer it was not given");
                        assert!(
                            next != self.me && next != responder && !used[k],
                            "referral returned an unusable peer"
                        );
                        // The choice is the usable suggestion closest to the token.
                        for (p, u) in suggested.iter().zip(&used) {
                            if *p != self.me && *p != responder && !*u {
                                assert!(
                                    (ring_distance(&next, &self.token), next)
                                        <= (ring_distance(p, &self.token), *p),
                                    "referral did not pick the closest usable peer"
                                );
                            }
                        }
                        assert_eq!(
                            self.e.channel_state(ticket),
                            None,
                            "the referred channel is still live"
                        );
                        assert_eq!(self.e.channel_count() + 1, count);
                        if follow {
                            self.create(next);
                        }
                    }
                    Err(ElectionError::NoFreshReferral) => {
                        assert_eq!(before, Some(ChannelState::Pending));
                        assert_eq!(
                            self.e.channel_state(ticket),
                            None,
                            "NoFreshReferral must close the channel"
                        );
                        for (p, u) in suggested.iter().zip(&used) {
                            assert!(
                                *p == self.me || *p == responder || *u,
                                "NoFreshReferral with a usable suggestion"
                            );
                        }
                    }
                    Err(e) => {
                        assert_eq!(
                            self.e.channel_state(ticket).cloned(),
                            before,
                            "failed referral ({e:?}) changed the channel"
                        );
                        assert_eq!(self.e.channel_count(), count);
                        match e {
                            ElectionError::UnknownTicket => assert!(before.is_none()),
                            ElectionError::WrongToken => assert!(!right_token),
                            ElectionError::ChannelAnswered => {
                                assert!(matches!(before, Some(ChannelState::Responded { .. })))
                            }
                            ElectionError::ChannelBlocked => assert_eq!(before, Some(ChannelState::Blocked)),
                            other => panic!("unexpected referral error {other:?}"),
                        }
                    }
                }
            }
            ElectionOp::Abandon(ticket) => {
                let ticket = pick_ticket(ticket, &self.created);
                let before = self.e.channel_state(ticket).cloned();
                let r = self.e.abandon_channel(ticket);
                match (&before, r) {
                    (Some(ChannelState::Pending), Ok(())) => assert_eq!(self.e.channel_state(ticket), None),
                    (None, Err(ElectionError::UnknownTicket))
                    | (Some(ChannelState::Responded { .. }), Err(ElectionError::ChannelAnswered))
                    | (Some(ChannelState::Blocked), Err(ElectionError::ChannelBlocked)) => {
                        assert_eq!(self.e.channel_state(ticket).cloned(), before)
                    }
                    (b, r) => panic!("abandon_channel on {b:?} returned {r:?}"),
                }
            }
            ElectionOp::Check => {
                let _ = self.e.is_settled();
            }
        }
    }

    fn nth_answer(&self, n: u8) -> Option<(MessageTicket, TokenSignature, PeerId)> {
        let len = self.answers.len();
        (len > 0).then(|| self.answers[len - 1 - usize::from(n) % len])
    }

    fn create(&mut self, hop: PeerId) {
        let count = self.e.channel_count();
        let created = self.e.channels_created();
        let cfg = self.e.config().clone();
        let exists = self.e.tickets().any(|t| self.e.channel_first_hop(t) == Some(hop));
        match self.e.create_channel(hop) {
            Ok(t) => {
                assert!(hop != self.me && !exists && count < cfg.max_channels && created < cfg.query_budget);
                assert!(!self.created.contains(&t), "a ticket was issued twice");
                assert_eq!(self.e.channel_state(t), Some(&ChannelState::Pending));
                assert_eq!(self.e.channel_first_hop(t), Some(hop));
                assert!(self.e.has_used_hop(&hop));
                assert_eq!(self.e.channel_count(), count + 1);
                assert_eq!(self.e.channels_created(), created + 1);
                self.created.push(t);
            }
            Err(e) => {
                let expected = if hop == self.me {
                    ElectionError::SelfChannel
                } else if exists {
                    ElectionError::ChannelAlreadyExists
                } else if count >= cfg.max_channels {
                    ElectionError::MaxChannelsReached
                } else {
                    ElectionError::QueryBudgetExhausted
                };
                assert_eq!(e, expected, "create_channel gave the wrong error");
                assert_eq!(self.e.channel_count(), count);
                assert_eq!(self.e.channels_created(), created);
            }
        }
    }

    fn answer(
        &mut self,
        ticket: MessageTicket,
        sig: TokenSignature,
        responder: PeerId,
        stats: &mut ElectionStats,
    ) -> Result<AnswerAccepted, ElectionError> {
        let before = self.e.channel_state(ticket).cloned();
        let r = self
            .e
            .handle_answer(ticket, &sig.answer, &sig.signature, responder);
        let after = self.e.channel_state(ticket).cloned();
        match &r {
            Ok(AnswerAccepted::New) => {
                stats.accepted += 1;
                assert_eq!(before, Some(ChannelState::Pending));
                assert!(
                    verify_signature(&self.me, &self.token, &sig).is_ok(),
                    "accepted an unverifiable answer"
                );
                assert_eq!(
                    after,
                    Some(ChannelState::Responded {
                        responder,
                        signature: sig
                    })
                );
            }
            Ok(AnswerAccepted::Redelivery) => {
                assert_eq!(
                    before,
                    Some(ChannelState::Responded {
                        responder,
                        signature: sig
                    })
                );
                assert_eq!(after, before);
            }
            Err(ElectionError::DuplicateResponse) => {
                stats.blocked += 1;
                assert!(sig.answer.id == self.token);
                match &before {
                    Some(ChannelState::Responded {
                        responder: r0,
                        signature: s0,
                    }) => {
                        assert!(
                            *r0 != responder || *s0 != sig,
                            "an identical re-delivery blocked a channel"
                        )
                    }
                    other => panic!("DuplicateResponse on {other:?}"),
                }
                assert_eq!(after, Some(ChannelState::Blocked));
                self.blocked.insert(ticket);
            }
            Err(e) => {
                assert_eq!(after, before, "a refused answer ({e:?}) changed the channel");
                match e {
                    ElectionError::UnknownTicket => assert!(before.is_none()),
                    ElectionError::WrongToken => assert!(sig.answer.id != self.token),
                    ElectionError::ChannelBlocked => assert_eq!(before, Some(ChannelState::Blocked)),
                    ElectionError::SignatureVerificationFailed(v) => {
                        assert_eq!(before, Some(ChannelState::Pending));
                        assert_eq!(verify_signature(&self.me, &self.token, &sig), Err(*v));
                    }
                    other => panic!("unexpected answer error {other:?}"),
                }
            }
        }
        if before.is_some() {
            self.answers.push((ticket, sig, responder));
        }
        r
    }

    /// Every observable invariant of the election.
    fn check(&self, stats: &mut ElectionStats) {
        let e = &self.e;
        let cfg = e.config();
        assert!(
            e.channel_count() <= cfg.max_channels,
            "more live channels than max_channels"
        );
        assert!(
            e.channels_created() <= cfg.query_budget,
            "more channels created than the query budget"
        );
        assert_eq!(e.tickets().count(), e.channel_count());
        assert_eq!(
            e.can_create_channel(),
            e.channel_count() < cfg.max_channels && e.channels_created() < cfg.query_budget
        );
        for t in &self.blocked {
            assert_eq!(
                e.channel_state(*t),
                Some(&ChannelState::Blocked),
                "a blocked channel came back"
            );
        }
        // Valid responses, as the spec defines them: responded (never blocked)
        // channels, one per responder, the earliest created channel counting.
        let mut valid: Vec<(PeerId, TokenSignature)> = Vec::new();
        let mut pending = 0;
        for t in &self.created {
            match e.channel_state(*t) {
                Some(ChannelState::Responded { responder, signature }) => {
                    assert!(
                        verify_signature(&self.me, &self.token, signature).is_ok(),
                        "a stored answer does not verify"
                    );
                    if !valid.iter().any(|(p, _)| p == responder) {
                        valid.push((*responder, *signature));
                    }
                }
                Some(ChannelState::Blocked) => {
                    assert!(self.blocked.contains(t), "a channel was blocked silently")
                }
                Some(ChannelState::Pending) => pending += 1,
                None => {}
            }
        }
        valid.truncate(crate::cluster::MAX_RESPONSES);
        assert_eq!(e.pending_count(), pending);
        assert_eq!(
            e.valid_response_count(),
            valid.len(),
            "valid_response_count disagrees with the channels"
        );
        let verdict = e.check_for_winner();
        assert_eq!(verdict, e.check_for_winner(), "check_for_winner is not pure");
        let settled = e.is_settled();
        if pending == 0 {
            assert!(settled, "nothing pending, yet not settled");
        }
        let sig_of = |p: &PeerId| valid.iter().find(|(q, _)| q == p).map(|(_, s)| *s);
        match &verdict {
            WinnerResult::NoConsensus => {
                if valid.len() >= cfg.min_cluster_size && cfg.min_cluster_size == 2 {
                    for (i, (_, a)) in valid.iter().enumerate() {
                        for (_, b) in &valid[i + 1..] {
                            assert!(
                                agreement(a, b) < cfg.consensus_threshold,
                                "NoConsensus although two responses agree"
                            );
                        }
                    }
                }
            }
            WinnerResult::Single {
                winner,
                cluster,
                cluster_signatures,
            } => {
                stats.singles += 1;
                self.check_cluster(cluster, winner, cluster_signatures, &valid, &sig_of);
            }
            WinnerResult::SplitBrain {
                cluster1,
                winner1,
                signatures1,
                cluster2,
                winner2,
                signatures2,
            } => {
                stats.split_brains += 1;
                self.check_cluster(cluster1, winner1, signatures1, &valid, &sig_of);
                self.check_cluster(cluster2, winner2, signatures2, &valid, &sig_of);
                assert!(
                    cluster1.members.iter().all(|m| !cluster2.members.contains(m)),
                    "split-brain clusters overlap"
                );
                assert!(
                    cluster1.size() >= cluster2.size(),
                    "the second cluster outranks the first"
                );
                assert!(
                    (cluster1.size() as f64 / valid.len() as f64) < cfg.majority_threshold,
                    "split-brain reported although the first cluster has a majority"
                );
            }
        }
    }

    fn check_cluster(
        &self,
        c: &ConsensusCluster,
        winner: &PeerId,
        sigs: &[(PeerId, TokenSignature)],
        valid: &[(PeerId, TokenSignature)],
        sig_of: &dyn Fn(&PeerId) -> Option<TokenSignature>,
    ) {
        let cfg = self.e.config();
        assert!(
            c.size() >= cfg.min_cluster_size,
            "cluster smaller than min_cluster_size"
        );
        assert_eq!(c.winner, *winner);
        assert_eq!(
            c.members.first(),
            Some(winner),
            "the winner is not the first member"
        );
        let distinct: BTreeSet<&PeerId> = c.members.iter().collect();
        assert_eq!(distinct.len(), c.size(), "a cluster names a member twice");
        let wd = ring_distance(winner, &self.token);
        for m in &c.members {
            assert!(
                sig_of(m).is_some(),
                "cluster member {m:?} has no valid response (blocked or unknown)"
            );
            assert!(
                wd <= ring_distance(m, &self.token),
                "the winner is not the member closest to the token"
            );
        }
        assert_eq!(
            sigs.len(),
            c.size(),
            "cluster signatures do not match the members"
        );
        let mut min = usize::MAX;
        for (k, (p, s)) in sigs.iter().enumerate() {
            assert_eq!(*p, c.members[k]);
            assert_eq!(
                Some(*s),
                sig_of(p),
                "a cluster signature is not the member's response"
            );
            for (_, s2) in &sigs[k + 1..] {
                let a = agreement(s, s2);
                assert!(a >= cfg.consensus_threshold, "cluster members disagree ({a})");
                min = min.min(a);
            }
        }
        assert_eq!(c.min_agreement, min, "min_agreement is wrong");
        // Maximal: no valid responder outside the cluster agrees with every member.
        for (p, s) in valid {
            if !c.members.contains(p) {
                assert!(
                    sigs.iter()
                        .any(|(_, m)| agreement(s, m) < cfg.consensus_threshold),
                    "cluster is not maximal"
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------
// node
// ---------------------------------------------------------------------------

/// One input for the fuzzed [`Node`].
#[derive(Clone, Debug)]
pub enum NodeOp {
    /// Raw bytes from an address.
    Raw {
        /// Source address (pool addresses are `1..=16`, the node is `0`).
        from: u32,
        /// Payload.
        bytes: Vec<u8>,
    },
    /// A structurally valid message from an address.
    Message {
        /// Source: a pool peer (index) or any address.
        from: ContactSel,
        /// Sender id and message.
        envelope: EnvelopeSpec,
    },
    /// An honest answer to one of the node's recent queries, from the peer it was sent to.
    AnswerQuery {
        /// Which query (most recent first).
        which: u8,
        /// The responder's ledger.
        store: StoreKind,
        /// Alteration, if any.
        forgery: Option<Forgery>,
        /// Deliver twice.
        twice: bool,
    },
    /// A referral in reply to one of the node's recent queries.
    ReferQuery {
        /// Which query (most recent first).
        which: u8,
        /// Suggested peer clockwise.
        high: ContactSel,
        /// Suggested peer counter-clockwise.
        low: ContactSel,
    },
    /// A datagram the node sent, fed back to it, possibly with one byte changed.
    Echo {
        /// Which datagram (most recent first).
        which: u8,
        /// Position of the change (mod length), if any.
        edit: Option<(u16, u8)>,
        /// Source address.
        from: u32,
    },
    /// A timer firing after `step` milliseconds.
    Timer(u16),
    /// A long jump in time, then a timer.
    Jump(u32),
    /// A timer at exactly the node's next deadline.
    Deadline,
    /// A timer at an earlier time than already seen.
    Rewind(u16),
    /// `Command::StartElection`.
    Start(TokenSel),
    /// `Command::AddContacts`.
    AddContacts(Vec<ContactSel>),
    /// `Command::Shutdown`.
    Shutdown,
    /// `Node::restore` of a snapshot: contacts, then elected peers
    /// `(contact, token, time offset, wins)`; the node must keep its caps.
    Restore(Vec<ContactSel>, Vec<(ContactSel, TokenSel, u16, u8)>),
}

impl<'a> Arbitrary<'a> for NodeOp {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let tag: u8 = u.arbitrary()?;
        Ok(match tag {
            0..=59 => NodeOp::AnswerQuery {
                which: u.arbitrary::<u8>()? % 8,
                store: u.arbitrary()?,
                forgery: if u.ratio(1, 4)? {
                    Some(u.arbitrary()?)
                } else {
                    None
                },
                twice: u.ratio(1, 8)?,
            },
            60..=79 => NodeOp::ReferQuery {
                which: u.arbitrary::<u8>()? % 8,
                high: u.arbitrary()?,
                low: u.arbitrary()?,
            },
            80..=119 => NodeOp::Timer(u16::from(u.arbitrary::<u8>()?) * 8),
            120..=139 => NodeOp::Deadline,
            140..=159 => NodeOp::Start(u.arbitrary()?),
            160..=179 => {
                let n = u.int_in_range(1..=6u8)?;
                NodeOp::AddContacts((0..n).map(|_| u.arbitrary()).collect::<arbitrary::Result<_>>()?)
            }
            180..=214 => NodeOp::Message {
                from: u.arbitrary()?,
                envelope: u.arbitrary()?,
            },
            215..=226 => NodeOp::Echo {
                which: u.arbitrary()?,
                edit: u.arbitrary()?,
                from: u.arbitrary::<u8>()?.into(),
            },
            227..=238 => {
                let len = u.arbitrary::<u8>()?;
                NodeOp::Raw {
                    from: u.arbitrary::<u8>()?.into(),
                    bytes: u.bytes(usize::from(len).min(u.len()))?.to_vec(),
                }
            }
            239..=246 => NodeOp::Jump(u.arbitrary()?),
            247..=253 => NodeOp::Rewind(u.arbitrary()?),
            254 => NodeOp::AddContacts(u.arbitrary_iter()?.take(64).collect::<arbitrary::Result<_>>()?),
            255 if u.ratio(1, 2)? => NodeOp::Shutdown,
            _ => {
                let n = u.int_in_range(0..=12u8)?;
                let contacts = (0..n).map(|_| u.arbitrary()).collect::<arbitrary::Result<_>>()?;
                let n = u.int_in_range(0..=12u8)?;
                let elected = (0..n).map(|_| u.arbitrary()).collect::<arbitrary::Result<_>>()?;
                NodeOp::Restore(contacts, elected)
            }
        })
    }
}

#[derive(Clone, Debug, Arbitrary)]
struct NodeSetup {
    caps: (u8, u8, u8, u8),
    election: Option<(u8, u8, u8)>,
    timing: (u16, u16, u16, u32, u8),
    misc: (u8, u8, bool, u8, u8),
    forward_ttl: u16,
    stale: u32,
    seed: [u8; 32],
    start: u32,
}

impl NodeSetup {
    fn config(&self) -> NodeConfig {
        let (contacts, forward, elected, active) = self.caps;
        let mut election = ElectionConfig::default();
        if let Some((maxc, mcs, ct)) = self.election {
            election.max_channels = 2 + usize::from(maxc % 9);
            election.min_cluster_size = (2 + usize::from(mcs % 2)).min(election.max_channels);
            election.consensus_threshold = 6 + usize::from(ct % 5);
            election.query_budget = election.max_channels + 6;
        }
        let (collect, channel_to, election_to, interval, jitter) = self.timing;
        let (initial, extra, accept, window, threshold) = self.misc;
        let partition_window = 1 + usize::from(window % 10);
        NodeConfig {
            initial_channels: (1 + usize::from(initial % 4)).min(election.max_channels),
            election,
            split_brain_extra_channels: usize::from(extra % 4),
            split_brain_policy: if accept {
                SplitBrainPolicy::AcceptStrongest
            } else {
                SplitBrainPolicy::Abandon
            },
            election_interval_ms: 1 + u64::from(interval % 200_000),
            election_jitter_percent: jitter % 101,
            min_collection_ms: u64::from(collect % 2_000),
            channel_timeout_ms: 1 + u64::from(channel_to % 4_000),
            election_timeout_ms: 1 + u64::from(election_to % 12_000),
            max_hops: 6,
            max_active_elections: 1 + usize::from(active % 4),
            max_forward_entries: 1 + usize::from(forward % 8),
            forward_ttl_ms: 1 + u64::from(self.forward_ttl),
            max_contacts: 1 + usize::from(contacts % 12),
            contact_stale_ms: 1 + u64::from(self.stale % 600_000),
            max_elected_peers: 1 + usize::from(elected % 5),
            partition_window,
            partition_alert_threshold: 1 + usize::from(threshold) % partition_window,
        }
    }
}

/// What a node run reached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeStats {
    /// Inputs fed.
    pub inputs: usize,
    /// Datagrams the node sent.
    pub sends: usize,
    /// Answers the node sent (from its own store or relayed).
    pub answers_sent: usize,
    /// Queries the node forwarded (sent with a challenger other than itself).
    pub forwarded: usize,
    /// `Event::Elected` outputs.
    pub elected: usize,
    /// `Event::SplitBrain` outputs.
    pub split_brains: usize,
    /// `Event::ElectionFailed` outputs.
    pub failed: usize,
    /// `Event::PeerEvicted` outputs.
    pub evicted: usize,
    /// Queries the node sent for its own elections.
    pub own_queries: usize,
    /// `Event::ElectionStarted` outputs.
    pub started: usize,
    /// Honest or forged answers the harness sent to the node's own queries.
    pub replies_fed: usize,
}

/// Most inputs in one node run.
const MAX_NODE_INPUTS: usize = 192;

/// An input's outputs must drain within this many polls.
const MAX_OUTPUTS_PER_INPUT: usize = 4_096;

/// Runs the inputs encoded in `data` through a fresh [`Node`] twice, checking
/// the node's invariants after every input and that both runs produce the same
/// outputs.
pub fn node(data: &[u8]) -> NodeStats {
    let (stats, first) = node_run(data);
    let (_, second) = node_run(data);
    assert!(
        first == second,
        "the node is not deterministic: same inputs, different outputs"
    );
    stats
}

struct NodeHarness {
    /// The node's store is the shared fixture, borrowed (`&MemoryStore` is a
    /// `TokenStore` through the blanket impl): the same code as an owned
    /// store, without copying ten thousand mappings per run.
    node: Node<u32, &'static MemoryStore>,
    now: u64,
    /// Addresses datagrams came from: the only places replies may go.
    heard_from: BTreeSet<u32>,
    /// Recent datagrams the node sent.
    sent: Vec<(u32, Vec<u8>)>,
    /// Recent queries the node sent: (to, token, ticket, challenger).
    queries: Vec<(u32, TokenId, MessageTicket, PeerId)>,
    tickets: Vec<MessageTicket>,
    log: Vec<Output<u32>>,
    stats: NodeStats,
}

fn node_run(data: &[u8]) -> (NodeStats, Vec<Output<u32>>) {
    let mut u = Unstructured::new(data);
    let Ok(setup) = NodeSetup::arbitrary(&mut u) else {
        return (NodeStats::default(), Vec::new());
    };
    let f = fixtures();
    let config = setup.config();
    let identity = Contact { id: f.me, addr: 0 };
    let node = match Node::new(config.clone(), identity, &f.node_store, setup.seed) {
        Ok(n) => n,
        Err(e) => panic!("harness built an invalid config ({e}): {config:?}"),
    };
    let mut h = NodeHarness {
        node,
        now: u64::from(setup.start),
        heard_from: BTreeSet::new(),
        sent: Vec::new(),
        queries: Vec::new(),
        tickets: Vec::new(),
        log: Vec::new(),
        stats: NodeStats::default(),
    };
    for _ in 0..MAX_NODE_INPUTS {
        if u.is_empty() {
            break;
        }
        let Ok(op) = NodeOp::arbitrary(&mut u) else {
            break;
        };
        h.apply(op);
        if h.node.is_stopped() {
            // Nothing may come out of a stopped node.
            h.feed(h.now.saturating_add(1), Input::Timer);
            h.feed(
                h.now,
                Input::Command(Command::StartElection(
                    TokenSel::Stored {
                        center: false,
                        offset: 0,
                    }
                    .token(),
                )),
            );
            break;
        }
    }
    (h.stats, h.log)
}

impl NodeHarness {
    fn datagram(&mut self, from: u32, bytes: &[u8]) {
        self.heard_from.insert(from);
        self.feed(self.now, Input::Datagram { from, bytes });
    }

    fn send_env(&mut self, from: u32, env: &Envelope<u32>) {
        let bytes = wire::encode(env).expect("u32 envelopes always encode");
        self.datagram(from, &bytes);
    }

    fn apply(&mut self, op: NodeOp) {
        let f = fixtures();
        match op {
            NodeOp::Raw { from, bytes } => self.datagram(from, &bytes),
            NodeOp::Message { from, envelope } => {
                let env = Envelope {
                    sender: envelope.sender.peer(),
                    message: envelope.message.message(&self.tickets),
                };
                self.send_env(from.contact().addr, &env);
            }
            NodeOp::AnswerQuery {
                which,
                store: kind,
                forgery,
                twice,
            } => {
                let Some(&(to, token, ticket, challenger)) = recent(&self.queries, which) else {
                    return;
                };
                let Some(honest) = generate_signature(store(kind), &token, &challenger) else {
                    return;
                };
                let sig = match forgery {
                    Some(g) => forge(&honest, g, &challenger, kind),
                    None => honest,
                };
                let id = pool_index_of_addr(to).map_or_else(
                    || PeerId::new(hash32("stranger", &to.to_le_bytes())),
                    |i| f.pool[i],
                );
                let env = Envelope {
                    sender: id,
                    message: Message::Answer(wire::Answer {
                        ticket,
                        answer: sig.answer,
                        signature: sig.signature,
                        responder: Contact { id, addr: to },
                    }),
                };
                self.stats.replies_fed += 1;
                self.send_env(to, &env);
                if twice {
                    self.send_env(to, &env);
                }
            }
            NodeOp::ReferQuery { which, high, low } => {
                let Some(&(to, token, ticket, _)) = recent(&self.queries, which) else {
                    return;
                };
                let id = pool_index_of_addr(to).map_or_else(
                    || PeerId::new(hash32("stranger", &to.to_le_bytes())),
                    |i| f.pool[i],
                );
                let env = Envelope {
                    sender: id,
                    message: Message::Referral(wire::Referral {
                        ticket,
                        token,
                        high: high.contact(),
                        low: low.contact(),
                    }),
                };
                self.send_env(to, &env);
            }
            NodeOp::Echo { which, edit, from } => {
                let Some((_, bytes)) = recent(&self.sent, which) else {
                    return;
                };
                let mut bytes = bytes.clone();
                if let Some((pos, b)) = edit {
                    let i = usize::from(pos) % bytes.len();
                    bytes[i] = b;
                }
                self.datagram(from, &bytes);
            }
            NodeOp::Timer(step) => {
                self.now = self.now.saturating_add(u64::from(step));
                self.feed(self.now, Input::Timer);
            }
            NodeOp::Jump(step) => {
                self.now = self.now.saturating_add(u64::from(step));
                self.feed(self.now, Input::Timer);
            }
            NodeOp::Deadline => {
                if let Some(at) = self.node.poll_timeout() {
                    self.now = self.now.max(at);
                }
                self.feed(self.now, Input::Timer);
            }
            NodeOp::Rewind(back) => self.feed(self.now.saturating_sub(u64::from(back)), Input::Timer),
            NodeOp::Start(t) => self.feed(self.now, Input::Command(Command::StartElection(t.token()))),
            NodeOp::AddContacts(list) => {
                let list = list.into_iter().take(32).map(ContactSel::contact).collect();
                self.feed(self.now, Input::Command(Command::AddContacts(list)));
            }
            NodeOp::Restore(contacts, elected) => {
                let now = self.now;
                let snapshot = PeerSnapshot {
                    version: SNAPSHOT_VERSION,
                    contacts: contacts.into_iter().map(ContactSel::contact).collect(),
                    elected: elected
                        .into_iter()
                        .map(|(c, t, back, wins)| ElectedPeer {
                            contact: c.contact(),
                            elected_at: now.saturating_sub(u64::from(back)),
                            last_election: now.saturating_sub(u64::from(back) / 2),
                            election_count: u32::from(wins),
                            challenge_token: t.token(),
                        })
                        .collect(),
                };
                let offered = snapshot.elected.len();
                let restored = self.node.restore(snapshot);
                assert!(restored <= offered, "restored more peers than offered");
                self.check_tables();
            }
            NodeOp::Shutdown => {
                self.feed(self.now, Input::Command(Command::Shutdown));
                assert!(self.node.is_stopped());
                assert_eq!(
                    self.node.poll_timeout(),
                    None,
                    "a stopped node still wants a timer"
                );
            }
        }
    }

    /// Feeds one input, drains every output and checks the node's invariants.
    fn feed(&mut self, now: u64, input: Input<'_, u32>) {
        let stopped = self.node.is_stopped();
        self.stats.inputs += 1;
        self.node.handle_input(now, input);
        let me = self.node.id();
        let mut drained = false;
        for _ in 0..MAX_OUTPUTS_PER_INPUT {
            let Some(out) = self.node.poll_output() else {
                drained = true;
                break;
            };
            assert!(!stopped, "a stopped node produced {out:?}");
            match &out {
                Output::Send { to, bytes } => {
                    self.stats.sends += 1;
                    assert!(bytes.len() <= MAX_DATAGRAM_LEN, "oversized datagram sent");
                    let env = match wire::decode::<u32>(bytes) {
                        Ok(env) => env,
                        Err(e) => panic!("the node sent a datagram that does not decode ({e}): {bytes:?}"),
                    };
                    assert_eq!(env.sender, me, "the node sent a datagram under another id");
                    match env.message {
                        Message::Query(wire::Query {
                            token,
                            ticket,
                            challenger,
                            ..
                        }) => {
                            if challenger != me {
                                self.stats.forwarded += 1;
                            } else {
                                self.stats.own_queries += 1;
                            }
                            push_bounded(&mut self.queries, (*to, token, ticket, challenger));
                            push_bounded(&mut self.tickets, ticket);
                        }
                        Message::Answer(_) | Message::Referral(_) => {
                            if matches!(env.message, Message::Answer(_)) {
                                self.stats.answers_sent += 1;
                            }
                            assert!(
                                self.heard_from.contains(to),
                                "a reply went to {to}, an address no datagram came from"
                            );
                        }
                    }
                    push_bounded(&mut self.sent, (*to, bytes.clone()));
                }
                Output::Event(ev) => match ev {
                    Event::Elected {
                        winner,
                        cluster_size,
                        responses,
                        ..
                    } => {
                        self.stats.elected += 1;
                        assert!(winner.id != me, "the node elected itself");
                        assert!(
                            *cluster_size >= 1 && cluster_size <= responses,
                            "cluster larger than the responses"
                        );
                    }
                    Event::SplitBrain { .. } => self.stats.split_brains += 1,
                    Event::ElectionStarted { .. } => self.stats.started += 1,
                    Event::ElectionFailed { .. } => self.stats.failed += 1,
                    Event::PeerAdded(c) => assert!(c.id != me, "the node added itself as a peer"),
                    Event::PeerEvicted(_) => self.stats.evicted += 1,
                    _ => {}
                },
            }
            self.log.push(out);
        }
        assert!(
            drained,
            "outputs did not drain within {MAX_OUTPUTS_PER_INPUT} polls"
        );
        self.check_tables();
    }

    fn check_tables(&self) {
        let cfg = self.node.config();
        let m = self.node.metrics();
        assert!(
            m.contacts <= cfg.max_contacts,
            "contacts {} > cap {}",
            m.contacts,
            cfg.max_contacts
        );
        assert!(
            m.forward_entries <= cfg.max_forward_entries,
            "forward entries {} > cap {}",
            m.forward_entries,
            cfg.max_forward_entries
        );
        assert!(
            m.elected_peers <= cfg.max_elected_peers,
            "elected peers {} > cap {}",
            m.elected_peers,
            cfg.max_elected_peers
        );
        assert!(
            m.active_elections <= cfg.max_active_elections,
            "active elections {} > cap {}",
            m.active_elections,
            cfg.max_active_elections
        );
        assert_eq!(self.node.contacts().count(), m.contacts);
        assert_eq!(self.node.elected_peers().count(), m.elected_peers);
        assert_eq!(self.node.active_elections().count(), m.active_elections);
        let me = self.node.id();
        assert!(
            self.node.contacts().all(|c| c.id != me),
            "the node lists itself as a contact"
        );
        assert!(
            self.node.elected_peers().all(|p| p.contact.id != me),
            "the node elected itself"
        );
    }
}

fn recent<T>(v: &[T], which: u8) -> Option<&T> {
    (!v.is_empty()).then(|| &v[v.len() - 1 - usize::from(which) % v.len()])
}

fn push_bounded<T>(v: &mut Vec<T>, x: T) {
    const KEEP: usize = 64;
    if v.len() >= 2 * KEEP {
        v.drain(..KEEP);
    }
    v.push(x);
}
