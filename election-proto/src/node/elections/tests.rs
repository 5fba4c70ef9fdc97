//! Election runs without a node: the ticket index, timeouts and verdict steps.

use super::*;
use crate::id::BlockId;
use crate::proof::{generate_signature, TokenMapping};
use crate::store::MemoryStore;
use std::sync::OnceLock;

const ME: PeerId = PeerId::new([0x11; 32]);
const START: u64 = 1_000;

fn h(domain: &str, i: u64) -> [u8; 32] {
    let mut x = blake3::Hasher::new();
    x.update(domain.as_bytes());
    x.update(&i.to_le_bytes());
    *x.finalize().as_bytes()
}

struct Fixture {
    token: TokenId,
    honest: MemoryStore,
    /// Another ledger version: only the challenged token's block differs, so
    /// its walks share ~nothing with the honest ones.
    other: MemoryStore,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let l: Vec<(TokenId, BlockId)> = (0..40_000u64)
            .map(|i| (TokenId::new(h("ledger", i)), BlockId::new(h("block", i))))
            .collect();
        let token = l[17].0;
        let honest = MemoryStore::from_mappings(l.iter().copied());
        let mut other = honest.clone();
        other.insert(token, BlockId::new([0xee; 32]));
        Fixture { token, honest, other }
    })
}

/// A first hop: `id` at address 0 (the runs never read the address).
fn first_hop(id: PeerId) -> Contact<u32> {
    Contact { id, addr: 0 }
}

fn peer(n: u8) -> PeerId {
    PeerId::new([n; 32])
}

fn config() -> NodeConfig {
    NodeConfig::default()
}

/// A run of the fixture's token started at [`START`], without a reference.
fn elections() -> (Elections<u32>, TokenId) {
    let token = fixture().token;
    let mut e = Elections::new();
    e.start(
        START,
        PeerElection::new(token, ME, config().elections.consensus, [9; 32]),
    );
    (e, token)
}

/// `store`'s answer on `ticket` from `responder`, who says it is at `addr`.
fn answer(ticket: MessageTicket, store: &MemoryStore, responder: u8, addr: u32) -> Answer<u32> {
    let sig = generate_signature(store, &fixture().token, &ME).expect("the store can sign");
    Answer {
        ticket,
        answer: sig.answer,
        signature: sig.signature,
        // The run never looks at the proof either: the router checks it first.
        proof: [[0; 4]; crate::proof::PROOF_STEPS],
        responder: Contact {
            id: peer(responder),
            addr,
        },
        // The run never looks at the v2 authentication: the router checks it first.
        key: crate::keys::PublicKey([0; 32]),
        pow: 0,
        auth: crate::keys::Signature::from_bytes([0; 64]),
    }
}

fn referral(ticket: MessageTicket, high: u8, low: u8) -> Referral<u32> {
    Referral {
        ticket,
        token: fixture().token,
        high: Contact {
            id: peer(high),
            addr: u32::from(high),
        },
        low: Contact {
            id: peer(low),
            addr: u32::from(low),
        },
    }
}

/// Opens a channel to `peer(hop)` at `now` and answers it from `store`.
fn answered(e: &mut Elections<u32>, token: TokenId, now: u64, hop: u8, store: &MemoryStore) {
    let t = e.open_channel(now, token, &first_hop(peer(hop)), None).unwrap();
    assert_eq!(
        e.on_answer(&answer(t, store, hop, u32::from(hop))),
        AnswerOutcome::Counted
    );
}

#[test]
fn the_index_follows_channels_and_a_finished_run_takes_its_tickets() {
    let (mut e, token) = elections();
    assert!(e.contains(&token));
    assert_eq!(e.len(), 1);
    let a = e.open_channel(START, token, &first_hop(peer(2)), None).unwrap();
    let b = e.open_channel(START, token, &first_hop(peer(3)), None).unwrap();
    assert_eq!(
        e.open_channel(START, token, &first_hop(peer(2)), None),
        None,
        "one channel per first hop"
    );
    assert_eq!(
        e.open_channel(START, token, &first_hop(ME), None),
        None,
        "no channel to ourselves"
    );
    assert_eq!(
        e.open_channel(START, TokenId::from_u64(5), &first_hop(peer(4)), None),
        None,
        "no such run"
    );
    assert_eq!((e.owner(&a), e.owner(&b)), (Some(token), Some(token)));
    assert!(e.get(&token).unwrap().has_used_hop(&peer(2)));

    let run = e.finish(token).expect("it was running");
    assert_eq!(run.started_at(), START);
    assert_eq!((e.owner(&a), e.owner(&b)), (None, None));
    assert_eq!(e.len(), 0);
    assert!(e.finish(token).is_none());
    assert_eq!(
        e.on_answer(&answer(a, &fixture().honest, 2, 2)),
        AnswerOutcome::Unmatched
    );
    assert_eq!(e.step(START, token, &config()), Step::Wait);
}

#[test]
fn answers_are_counted_once_and_a_different_second_answer_blocks_the_channel() {
    let (mut e, token) = elections();
    let f = fixture();
    let t = e.open_channel(START, token, &first_hop(peer(2)), None).unwrap();

    let mut forged = answer(t, &f.honest, 2, 2);
    forged.signature[0] = TokenMapping {
        id: TokenId::from_u64(1),
        block: BlockId::from_u64(1),
    };
    assert_eq!(e.on_answer(&forged), AnswerOutcome::Forged);
    assert_eq!(
        e.get(&token).unwrap().deadline(&config()),
        START + config().elections.min_collection_ms,
        "a forged answer leaves the channel pending"
    );

    let good = answer(t, &f.honest, 2, 77);
    assert_eq!(e.on_answer(&good), AnswerOutcome::Counted);
    let run = e.get(&token).unwrap();
    assert_eq!(run.responses(), 1);
    assert_eq!(
        run.responder_addr(&peer(2)),
        Some(&77),
        "the address it answered with"
    );
    assert_eq!(e.on_answer(&good), AnswerOutcome::Redelivery);
    assert_eq!(e.on_answer(&answer(t, &f.other, 2, 77)), AnswerOutcome::Conflict);
    assert_eq!(
        e.get(&token).unwrap().responses(),
        0,
        "a blocked channel counts nothing"
    );
    assert_eq!(e.on_answer(&good), AnswerOutcome::Conflict, "blocked for good");
    assert_eq!(e.owner(&t), Some(token), "a blocked channel is still live");

    let stranger = answer(MessageTicket(12_345), &f.honest, 3, 3);
    assert_eq!(e.owner(&stranger.ticket), None);
    assert_eq!(e.on_answer(&stranger), AnswerOutcome::Unmatched);
}

/// The peer `k` steps clockwise of the fixture's token (smaller `k`: closer).
fn near(k: u64) -> PeerId {
    let mut d = [0u8; 32];
    d[24..].copy_from_slice(&k.to_be_bytes());
    PeerId::new(*fixture().token.add(&crate::id::Distance(d)).as_bytes())
}

fn contact(id: PeerId) -> Contact<u32> {
    Contact { id, addr: 7 }
}

/// A referral on `ticket` naming `high` and `low`.
fn referral_to(ticket: MessageTicket, high: PeerId, low: PeerId) -> Referral<u32> {
    Referral {
        ticket,
        token: fixture().token,
        high: contact(high),
        low: contact(low),
    }
}

#[test]
fn a_referral_closes_its_channel_and_names_a_fresh_closer_first_hop() {
    let (mut e, token) = elections();
    let c = config();
    let t = e.open_channel(START, token, &first_hop(near(100)), None).unwrap();
    // near(10) is closer to the token than the referrer, near(200) is not.
    let r = referral_to(t, near(200), near(10));
    assert_eq!(
        e.on_referral(&r, near(100), &c),
        ReferralOutcome::Follow(
            contact(near(10)),
            Chain {
                origin: near(100),
                depth: 1
            }
        )
    );
    assert_eq!(e.owner(&t), None);
    assert_eq!(
        e.on_referral(&r, near(100), &c),
        ReferralOutcome::Unmatched,
        "already closed"
    );

    // The only closer suggestion is a used hop: an honest dead end, no strike.
    let t = e.open_channel(START, token, &first_hop(near(80)), None).unwrap();
    let t2 = e.open_channel(START, token, &first_hop(near(90)), None).unwrap();
    assert_eq!(
        e.on_referral(&referral_to(t2, near(80), near(300)), near(90), &c),
        ReferralOutcome::Replace {
            strike: None,
            dead_end: None
        }
    );
    assert_eq!(e.owner(&t2), None, "closed even without a usable suggestion");
    assert_eq!(e.owner(&t), Some(token));

    let t = e.open_channel(START, token, &first_hop(peer(4)), None).unwrap();
    let mut wrong = referral(t, 5, 6);
    wrong.token = TokenId::from_u64(1);
    assert_eq!(e.on_referral(&wrong, peer(4), &c), ReferralOutcome::Unmatched);
    assert_eq!(
        e.on_answer(&answer(t, &fixture().honest, 4, 4)),
        AnswerOutcome::Counted
    );
    assert_eq!(
        e.on_referral(&referral(t, 5, 6), peer(4), &c),
        ReferralOutcome::Unmatched,
        "an answered channel cannot be referred"
    );
    assert_eq!(e.owner(&t), Some(token));
}

#[test]
fn a_referral_that_does_not_come_closer_ends_its_chain() {
    let (mut e, token) = elections();
    let c = config();
    let t = e
        .open_channel(START, token, &first_hop(near(1_000)), None)
        .unwrap();
    // Sideways and back: neither suggestion is closer than the referrer.
    let r = referral_to(t, near(5_000), near(1_000));
    // Not followed; no strike: an honest node refers only when it knows
    // nobody closer than itself. The referrer's record counts a dead end.
    assert_eq!(
        e.on_referral(&r, near(1_000), &c),
        ReferralOutcome::Replace {
            strike: None,
            dead_end: Some(near(1_000))
        }
    );
    assert_eq!(e.owner(&t), None);
}

#[test]
fn a_chain_of_referrals_spends_at_most_one_plus_max_referral_hops_queries() {
    let (mut e, token) = elections();
    let c = config();
    let max = c.elections.max_referral_hops;
    assert!(max >= 1);
    // Each referrer names one a little closer (a string of sybils mined
    // nearer and nearer the token): followed until the chain is full.
    let origin = near(1 << 20);
    let mut hop = origin;
    let mut chain = None;
    let mut spent = 0;
    loop {
        let t = e.open_channel(START, token, &first_hop(hop), chain).unwrap();
        spent += 1;
        let closer = near((1 << 20) >> (spent * 2));
        match e.on_referral(&referral_to(t, closer, closer), hop, &c) {
            ReferralOutcome::Follow(next, link) => {
                assert_eq!(link.origin, origin, "every link remembers the first hop");
                assert_eq!(usize::from(link.depth), spent);
                hop = next.id;
                chain = Some(link);
            }
            ReferralOutcome::Replace { strike, .. } => {
                assert_eq!(
                    strike,
                    Some(origin),
                    "a chain that ends nowhere strikes its first hop"
                );
                break;
            }
            ReferralOutcome::Unmatched => panic!("the channel was pending"),
        }
    }
    assert_eq!(spent, 1 + usize::from(max));
}

#[test]
fn deadlines_and_expiry_follow_collection_channel_and_election_timeouts() {
    let c = config();
    let (mut e, token) = elections();
    let t = e.open_channel(START, token, &first_hop(peer(2)), None).unwrap();
    let collect = START + c.elections.min_collection_ms;
    assert!(collect < START + c.elections.channel_timeout_ms);
    assert_eq!(e.next_deadline(&c), Some(collect));
    assert!(e.due(collect - 1, &c).is_empty());
    assert_eq!(e.due(collect, &c), [token]);

    // The collection window closes; nothing is late yet.
    assert_eq!(e.expire(collect, token, &c), Expiry::default());
    let channel = START + c.elections.channel_timeout_ms;
    assert_eq!(
        e.next_deadline(&c),
        Some(channel),
        "collection is no longer a deadline"
    );

    // The channel is late: abandoned, unindexed, and to be replaced.
    let expiry = e.expire(channel, token, &c);
    assert_eq!(
        expiry,
        Expiry {
            timed_out: 1,
            replace: 1
        }
    );
    assert_eq!(e.owner(&t), None);
    assert_eq!(e.next_deadline(&c), Some(START + c.elections.election_timeout_ms));

    // Late after the election's own timeout: abandoned, not replaced.
    let late = START + c.elections.election_timeout_ms - 1;
    let t = e.open_channel(late, token, &first_hop(peer(3)), None).unwrap();
    let expiry = e.expire(late + c.elections.channel_timeout_ms, token, &c);
    assert_eq!(
        expiry,
        Expiry {
            timed_out: 1,
            replace: 0
        }
    );
    assert_eq!(e.owner(&t), None);

    assert_eq!(
        e.expire(late, TokenId::from_u64(5), &c),
        Expiry::default(),
        "no such run"
    );
    assert_eq!(Elections::<u32>::new().next_deadline(&c), None);
}

#[test]
fn without_a_verdict_the_run_waits_then_widens_then_fails() {
    let c = config();
    let (mut e, token) = elections();
    let t = e.open_channel(START, token, &first_hop(peer(2)), None).unwrap();
    assert_eq!(e.step(START, token, &c), Step::Wait, "a reply is pending");

    e.expire(START + c.elections.channel_timeout_ms, token, &c);
    assert_eq!(e.owner(&t), None);
    assert_eq!(
        e.step(START + c.elections.channel_timeout_ms, token, &c),
        Step::Widen {
            channels: c.elections.initial_channels.clamp(1, 2),
            otherwise: FailureReason::Exhausted,
        }
    );
    assert_eq!(
        e.step(START + c.elections.election_timeout_ms, token, &c),
        Step::End(Ending::Failed(FailureReason::Timeout))
    );
}

#[test]
fn two_agreeing_answers_elect_once_settled_or_collected() {
    let c = config();
    let (mut e, token) = elections();
    let f = fixture();
    answered(&mut e, token, START, 2, &f.honest);
    answered(&mut e, token, START, 3, &f.honest);
    // Two of three pending-or-answered agree: settled however the third replies.
    e.open_channel(START, token, &first_hop(peer(4)), None).unwrap();
    let Step::End(Ending::Elected(win)) = e.step(START, token, &c) else {
        panic!("settled verdict not acted on");
    };
    assert!([peer(2), peer(3)].contains(&win.winner));
    assert_eq!(win.cluster.members.len(), 2);
    assert!(!win.contested);
}

#[test]
fn a_split_brain_is_reported_once_then_grows_or_ends_by_policy() {
    let mut c = config();
    let (mut e, token) = elections();
    let f = fixture();
    // Two against two, no reference: neither side has a majority.
    answered(&mut e, token, START, 2, &f.honest);
    answered(&mut e, token, START, 3, &f.honest);
    answered(&mut e, token, START, 4, &f.other);
    answered(&mut e, token, START, 5, &f.other);
    e.open_channel(START, token, &first_hop(peer(6)), None).unwrap();
    assert_eq!(
        e.step(START, token, &c),
        Step::Wait,
        "the pending reply may settle it"
    );
    assert!(!e.get(&token).unwrap().saw_split());

    let now = START + c.elections.channel_timeout_ms;
    assert_eq!(
        e.expire(now, token, &c),
        Expiry {
            timed_out: 1,
            replace: 1
        }
    );
    let Step::Split {
        report,
        channels,
        otherwise,
    } = e.step(now, token, &c)
    else {
        panic!("expected a split");
    };
    assert!(report.first);
    assert_eq!((report.size1, report.size2), (2, 2));
    assert_eq!(channels, c.elections.split_brain_extra_channels);
    let Ending::Elected(win) = otherwise else {
        panic!("AcceptStrongest elects");
    };
    assert_eq!((win.winner, win.contested), (report.winner1, true));
    assert!(e.get(&token).unwrap().saw_split());

    // Seen again, after the timeout, under the other policy.
    c.elections.split_brain_policy = SplitBrainPolicy::Abandon;
    let Step::Split {
        report,
        channels,
        otherwise,
    } = e.step(START + c.elections.election_timeout_ms, token, &c)
    else {
        panic!("expected a split");
    };
    assert!(!report.first, "counted once per run");
    assert_eq!(channels, 0, "no extra channels after the timeout");
    assert!(matches!(otherwise, Ending::Failed(FailureReason::SplitBrain)));
}
