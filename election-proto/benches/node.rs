//! Answer intake and node throughput, each beside a reference measured in the same run.
//!
//! ```text
//! cargo bench -p election-proto --bench node
//! ```
//!
//! - `answer_intake/floor`: the least any intake could cost: a bare postcard
//!   decode of the `Answer` datagram, the BLAKE3 hash of its public key (the
//!   id check) and one strict Ed25519 verification of its signature (over the
//!   signed bytes, prepared outside the loop).
//! - `answer_intake/decode_verify_store`: what a challenger does per `Answer`:
//!   strict `wire::decode` (canonical-form check included), building the
//!   signed bytes, the id check and Ed25519 verification (as the node's router
//!   does), the wire v3 possession-proof check against the store, then
//!   `PeerElection::handle_answer` (ticket lookup, walk
//!   verification, store). `answer_intake/decode`, `answer_intake/ed25519` and
//!   `answer_intake/walk` split that cost.
//! - `node_throughput/node_answers`: datagrams per second through one `Node`
//!   (`handle_input` + draining outputs) that answers `Query`s from a
//!   100,000-token store. `node_throughput/bare_responder` is the same work without
//!   the node (decode, generate, encode): the node's overhead is the ratio.
//!   `node_throughput/node_refers` is the referral path (token not stored).
//!
//! In bench mode the run ends by printing each ratio (ours / reference), measured
//! again with a plain timer so the numbers sit side by side.

use criterion::{black_box, BatchSize, Criterion, Throughput};
use election_proto::keys::answer_signed_bytes;
use election_proto::node::{Input, Node, NodeConfig, Output};
use election_proto::wire::{self, Answer, Contact, Envelope, Message, Query};
use election_proto::{
    generate_proof, generate_signature, proof_agreement, verify_signature, BlockId, ElectionConfig,
    MemoryStore, MessageTicket, NodeKey, PeerElection, PeerId, TokenId,
};
use std::time::{Duration, Instant};

const STORE_TOKENS: usize = 100_000;
const QUERIES: usize = 1_024;

#[path = "../tests/support/ledger.rs"]
mod support;
use support::SplitMix64;

struct Setup {
    store: MemoryStore,
    tokens: Vec<TokenId>,
    rng: SplitMix64,
}

fn setup() -> Setup {
    let mut rng = SplitMix64(0x0b5e_55ed);
    let tokens: Vec<TokenId> = (0..STORE_TOKENS).map(|_| TokenId::new(rng.bytes32())).collect();
    let store = MemoryStore::from_mappings(tokens.iter().map(|t| (*t, BlockId::new(rng.bytes32()))));
    Setup { store, tokens, rng }
}

/// A challenger's election with one pending channel, and the `Answer`
/// datagram an honest responder sends on it.
struct Intake {
    election: PeerElection,
    datagram: Vec<u8>,
    me: PeerId,
    token: TokenId,
    /// The bytes the responder signed (for the floor).
    signed: Vec<u8>,
    /// The challenger's store (the possession proof is checked against it).
    store: MemoryStore,
}

fn intake(s: &mut Setup) -> Intake {
    let me = PeerId::new(s.rng.bytes32());
    let key = NodeKey::from_secret(s.rng.bytes32());
    let responder = Contact {
        id: key.peer_id(),
        addr: 7u32,
    };
    let token = *s
        .tokens
        .iter()
        .find(|t| generate_signature(&s.store, t, &me).is_some())
        .expect("a token with a complete signature");
    let sig = generate_signature(&s.store, &token, &me).expect("signature");
    let mut election = PeerElection::new(token, me, ElectionConfig::default(), s.rng.bytes32());
    let ticket = election.create_channel(responder.id).expect("channel");
    let proof = generate_proof(&s.store, &me, &responder.id, &token).expect("stored");
    let signed = answer_signed_bytes(
        &me,
        ticket,
        &token,
        &sig.answer,
        &sig.signature,
        &proof,
        &responder.addr,
    )
    .expect("signed bytes");
    let datagram = wire::encode(&Envelope {
        sender: responder.id,
        message: Message::Answer(Answer {
            ticket,
            answer: sig.answer,
            signature: sig.signature,
            proof,
            responder,
            key: key.public(),
            pow: key.pow_nonce(),
            auth: key.sign(&signed),
        }),
    })
    .expect("encode");
    Intake {
        election,
        datagram,
        me,
        token,
        signed,
        store: s.store.clone(),
    }
}

/// Decode + authenticate + check the possession proof + verify the walk +
/// store, as a challenger does it. Returns whether it was accepted.
fn take_answer(it: &Intake, election: &mut PeerElection, datagram: &[u8]) -> bool {
    let (me, token) = (&it.me, &it.token);
    let Ok(env) = wire::decode::<u32>(datagram) else {
        return false;
    };
    match env.message {
        Message::Answer(a) => {
            let authentic = answer_signed_bytes(
                me,
                a.ticket,
                token,
                &a.answer,
                &a.signature,
                &a.proof,
                &a.responder.addr,
            )
            .is_some_and(|signed| a.key.verify_for(&a.responder.id, &signed, &a.auth).is_ok());
            authentic
                && proof_agreement(&it.store, me, &a.responder.id, token, &a.proof) >= 8
                && election
                    .handle_answer(a.ticket, &a.answer, &a.signature, a.responder.id)
                    .is_ok()
        }
        _ => false,
    }
}

/// Bare decode, the id hash and one Ed25519 verification.
fn floor(datagram: &[u8], signed: &[u8]) -> bool {
    let env: Envelope<u32> = postcard::from_bytes(&datagram[1..]).expect("postcard");
    let Message::Answer(a) = env.message else {
        return false;
    };
    let id = blake3::hash(&a.key.0);
    black_box(id);
    a.key.verify(signed, &a.auth).is_ok()
}

/// A node holding the store, and `QUERIES` query datagrams from 64 senders.
struct Responder {
    node: Node<u32, MemoryStore>,
    queries: Vec<(u32, Vec<u8>)>,
    unstored: Vec<(u32, Vec<u8>)>,
}

fn responder(s: &mut Setup) -> Responder {
    let key = NodeKey::from_secret(s.rng.bytes32());
    let senders: Vec<PeerId> = (0..64).map(|_| PeerId::new(s.rng.bytes32())).collect();
    let make = |token: TokenId, i: usize, rng: &mut SplitMix64| {
        let from = (i % senders.len()) as u32 + 1;
        let env = Envelope {
            sender: senders[i % senders.len()],
            message: Message::<u32>::Query(Query {
                token,
                ticket: MessageTicket(rng.next_u64()),
                challenger: senders[i % senders.len()],
                hops_left: 0,
            }),
        };
        (from, wire::encode(&env).expect("encode"))
    };
    let mut queries = Vec::with_capacity(QUERIES);
    let mut unstored = Vec::with_capacity(QUERIES);
    for i in 0..QUERIES {
        let token = s.tokens[s.rng.below(STORE_TOKENS)];
        queries.push(make(token, i, &mut s.rng));
        unstored.push(make(TokenId::new(s.rng.bytes32()), i, &mut s.rng));
    }
    let node = Node::new(NodeConfig::default(), key, 0u32, s.store.clone(), [9; 32]).expect("node");
    Responder {
        node,
        queries,
        unstored,
    }
}

/// Feeds one datagram and drains the outputs; returns the number of datagrams sent.
fn handle(node: &mut Node<u32, MemoryStore>, from: u32, bytes: &[u8]) -> usize {
    node.handle_input(1, Input::Datagram { from, bytes });
    let mut sent = 0;
    while let Some(out) = node.poll_output() {
        if let Output::Send { bytes, .. } = out {
            black_box(bytes);
            sent += 1;
        }
    }
    sent
}

/// The responder's work without the node: decode, generate, sign, encode.
fn bare_answer(store: &MemoryStore, me: &Contact<u32>, key: &NodeKey, bytes: &[u8]) -> Option<Vec<u8>> {
    let env = wire::decode::<u32>(bytes).ok()?;
    let Message::Query(Query {
        token,
        ticket,
        challenger,
        ..
    }) = env.message
    else {
        return None;
    };
    let sig = generate_signature(store, &token, &challenger)?;
    let proof = generate_proof(store, &challenger, &me.id, &token)?;
    let signed = answer_signed_bytes(
        &challenger,
        ticket,
        &token,
        &sig.answer,
        &sig.signature,
        &proof,
        &me.addr,
    )?;
    wire::encode(&Envelope {
        sender: me.id,
        message: Message::Answer(Answer {
            ticket,
            answer: sig.answer,
            signature: sig.signature,
            proof,
            responder: me.clone(),
            key: key.public(),
            pow: key.pow_nonce(),
            auth: key.sign(&signed),
        }),
    })
    .ok()
}

fn bench_intake(c: &mut Criterion, it: &Intake) {
    let mut g = c.benchmark_group("answer_intake");
    g.throughput(Throughput::Elements(1));
    g.bench_function("floor", |b| {
        b.iter(|| assert!(floor(black_box(&it.datagram), black_box(&it.signed))))
    });
    g.bench_function("decode", |b| {
        b.iter(|| wire::decode::<u32>(black_box(&it.datagram)))
    });
    let Message::Answer(a) = wire::decode::<u32>(&it.datagram).expect("decode").message else {
        unreachable!("the intake datagram is an answer")
    };
    let sig = election_proto::TokenSignature {
        answer: a.answer,
        signature: a.signature,
    };
    g.bench_function("walk", |b| {
        b.iter(|| verify_signature(black_box(&it.me), black_box(&it.token), black_box(&sig)))
    });
    g.bench_function("ed25519", |b| {
        b.iter(|| a.key.verify(black_box(&it.signed), black_box(&a.auth)))
    });
    g.bench_function("decode_verify_store", |b| {
        b.iter_batched_ref(
            || it.election.clone(),
            |e| assert!(take_answer(it, e, black_box(&it.datagram))),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn bench_node(c: &mut Criterion, r: &mut Responder, store: &MemoryStore) {
    let mut g = c.benchmark_group("node_throughput");
    g.throughput(Throughput::Elements(1));
    let mut i = 0;
    g.bench_function("node_answers", |b| {
        b.iter(|| {
            let (from, q) = &r.queries[i % QUERIES];
            i += 1;
            // The reply, plus a ping to the sender while the probe allowance lasts.
            assert!(handle(&mut r.node, *from, q) >= 1);
        })
    });
    let me = r.node.contact().clone();
    let key = r.node.key().clone();
    let mut i = 0;
    g.bench_function("bare_responder", |b| {
        b.iter(|| {
            let (_, q) = &r.queries[i % QUERIES];
            i += 1;
            assert!(bare_answer(store, &me, &key, q).is_some());
        })
    });
    let mut i = 0;
    g.bench_function("node_refers", |b| {
        b.iter(|| {
            let (from, q) = &r.unstored[i % QUERIES];
            i += 1;
            // The reply, plus a ping to the sender while the probe allowance lasts.
            assert!(handle(&mut r.node, *from, q) >= 1);
        })
    });
    g.finish();
}

/// Mean time per call of `f` over about `budget`, after a short warm-up.
fn time_per_call(budget: Duration, mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    while start.elapsed() < budget / 10 {
        f();
    }
    let mut n = 0u32;
    let start = Instant::now();
    while start.elapsed() < budget {
        for _ in 0..64 {
            f();
        }
        n += 64;
    }
    start.elapsed() / n
}

fn print_ratios(it: &Intake, r: &mut Responder, store: &MemoryStore) {
    let budget = Duration::from_secs(2);
    let floor_t = time_per_call(budget, || {
        black_box(floor(black_box(&it.datagram), black_box(&it.signed)));
    });
    // The election clone is needed per call (a channel takes one answer); time it
    // separately and subtract it.
    let clone_t = time_per_call(budget, || {
        black_box(it.election.clone());
    });
    let intake_t = time_per_call(budget, || {
        let mut e = it.election.clone();
        assert!(take_answer(it, &mut e, black_box(&it.datagram)));
        black_box(e);
    })
    .saturating_sub(clone_t);
    let mut i = 0;
    let node_t = time_per_call(budget, || {
        let (from, q) = &r.queries[i % QUERIES];
        i += 1;
        handle(&mut r.node, *from, q);
    });
    let me = r.node.contact().clone();
    let key = r.node.key().clone();
    let mut i = 0;
    let bare_t = time_per_call(budget, || {
        let (_, q) = &r.queries[i % QUERIES];
        i += 1;
        black_box(bare_answer(store, &me, &key, q));
    });
    println!();
    println!("ratios (plain timer, {} s each):", budget.as_secs());
    println!(
        "  answer intake: decode+authenticate+walk+store {:?} vs floor (postcard + blake3 + one ed25519 verify) {:?} = {:.2}x (target <= 1.5x)",
        intake_t,
        floor_t,
        intake_t.as_secs_f64() / floor_t.as_secs_f64()
    );
    println!(
        "  node throughput: {:.0} datagrams/s ({:?} each) vs bare responder {:?} = {:.2}x",
        1.0 / node_t.as_secs_f64(),
        node_t,
        bare_t,
        node_t.as_secs_f64() / bare_t.as_secs_f64()
    );
}

fn main() {
    let mut s = setup();
    let it = intake(&mut s);
    let mut r = responder(&mut s);
    // Sanity: the node answers a stored token and refers an unstored one.
    assert!(handle(&mut r.node, r.queries[0].0, &r.queries[0].1.clone()) >= 1);
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    bench_intake(&mut c, &it);
    bench_node(&mut c, &mut r, &s.store);
    c.final_summary();
    // Only in bench mode (`cargo bench`), not when `cargo test --benches` smoke-runs it.
    if std::env::args().any(|a| a == "--bench") {
        print_ratios(&it, &mut r, &s.store);
    }
}
