// Tests tweak one field of a default config at a time; that reads best as assignment.
#![allow(clippy::field_reassign_with_default)]

use super::*;
use crate::id::{clockwise_distance, counter_clockwise_distance, suffix, BlockId, Distance};
use crate::proof::{agreement, generate_signature, signature_chunks, CLOCKWISE_STEPS};
use crate::store::MemoryStore;

/// Deterministic 32-byte values for tests.
fn h(domain: &str, i: u64) -> [u8; 32] {
    let mut x = blake3::Hasher::new();
    x.update(domain.as_bytes());
    x.update(&i.to_le_bytes());
    *x.finalize().as_bytes()
}

fn ledger(n: u64, seed: &str) -> Vec<(TokenId, BlockId)> {
    (0..n)
        .map(|i| (TokenId::new(h(seed, i)), BlockId::new(h("block", i))))
        .collect()
}

const ME: PeerId = PeerId::new([0x11; 32]);

fn peer(n: u8) -> PeerId {
    PeerId::new([n; 32])
}

/// A signature that verifies but is made up: ids with the demanded suffixes at
/// increasing distance, blocks invented. What a forger without the ledger sends.
fn forge(challenger: &PeerId, token: &TokenId, block: BlockId, salt: u64) -> TokenSignature {
    let chunks = signature_chunks(challenger, token, &block);
    let mut signature = [TokenMapping::default(); SIGNATURE_SIZE];
    for (i, c) in chunks.iter().enumerate() {
        // Step k lands (k+1)·2^40 away, adjusted to carry the wanted suffix.
        let k = (i % CLOCKWISE_STEPS) as u64 + 1;
        let mut d = Distance::from_u64(k << 40).0;
        d[31] = 0;
        d[30] &= !0x03;
        let mut id = if i < CLOCKWISE_STEPS {
            token.add(&Distance(d))
        } else {
            token.sub(&Distance(d))
        };
        let mut b = *id.as_bytes();
        b[30] = (b[30] & !0x03) | ((c >> 8) as u8);
        b[31] = *c as u8;
        id = TokenId::new(b);
        signature[i] = TokenMapping {
            id,
            block: BlockId::new(h("forged", salt * 100 + i as u64)),
        };
    }
    TokenSignature {
        answer: TokenMapping { id: *token, block },
        signature,
    }
}

struct Fixture {
    token: TokenId,
    honest: MemoryStore,
    other: MemoryStore,
}

/// Two ledger versions that differ only in the challenged token's block, so
/// responders within a version agree 10/10 and across versions ~0.
fn fixture() -> Fixture {
    let l = ledger(40_000, "ledger");
    let token = l[17].0;
    let honest = MemoryStore::from_mappings(l.iter().copied());
    let mut other = honest.clone();
    other.insert(token, BlockId::new([0xee; 32]));
    Fixture { token, honest, other }
}

fn election(token: TokenId) -> PeerElection {
    PeerElection::new(token, ME, ElectionConfig::default(), [9; 32])
}

/// Opens a channel to `hop` and answers it with `store`'s signature from `responder`.
fn answer_from(e: &mut PeerElection, store: &MemoryStore, hop: PeerId, responder: PeerId) -> MessageTicket {
    let t = e.create_channel(hop).unwrap();
    let sig = generate_signature(store, &e.challenge_token(), &ME).unwrap();
    assert_eq!(
        e.handle_answer(t, &sig.answer, &sig.signature, responder),
        Ok(AnswerAccepted::New)
    );
    t
}

#[test]
fn config_validation_names_the_bad_field() {
    let ok = ElectionConfig::default();
    assert_eq!(ok.validate(), Ok(()));
    let bad = |f: fn(&mut ElectionConfig)| {
        let mut c = ElectionConfig::default();
        f(&mut c);
        c.validate().unwrap_err()
    };
    assert_eq!(
        bad(|c| c.consensus_threshold = 11),
        ConfigError::ConsensusThreshold
    );
    assert_eq!(
        bad(|c| c.consensus_threshold = 0),
        ConfigError::ConsensusThreshold
    );
    assert_eq!(bad(|c| c.min_cluster_size = 1), ConfigError::MinClusterSize);
    assert_eq!(bad(|c| c.max_channels = 65), ConfigError::MaxChannels);
    assert_eq!(
        bad(|c| c.majority_threshold = f64::NAN),
        ConfigError::MajorityThreshold
    );
    assert_eq!(
        bad(|c| c.majority_threshold = 0.0),
        ConfigError::MajorityThreshold
    );
    assert_eq!(bad(|c| c.query_budget = 3), ConfigError::QueryBudget);
    // new() clamps instead of failing.
    let mut c = ElectionConfig::default();
    c.max_channels = 1000;
    c.min_cluster_size = 0;
    let e = PeerElection::new(TokenId::ZERO, ME, c, [0; 32]);
    assert_eq!(e.config().max_channels, 64);
    assert_eq!(e.config().min_cluster_size, 2);
    assert_eq!(e.config().validate(), Ok(()));
}

#[test]
fn tickets_are_keyed_by_secret_and_fresh_per_channel() {
    let token = TokenId::from_u64(5);
    let mut a = PeerElection::new(token, ME, ElectionConfig::default(), [1; 32]);
    let mut b = PeerElection::new(token, ME, ElectionConfig::default(), [1; 32]);
    let mut c = PeerElection::new(token, ME, ElectionConfig::default(), [2; 32]);
    let ta = a.create_channel(peer(1)).unwrap();
    assert_eq!(ta, b.create_channel(peer(1)).unwrap(), "same secret, same ticket");
    assert_ne!(ta, c.create_channel(peer(1)).unwrap(), "different secret");
    // Same first hop again after a referral: channel_seq differs, so the ticket does.
    // (Suggestions strictly closer to the token than the referrer.)
    let closer = |k: u64| PeerId::new(*TokenId::from_u64(5 + k).as_bytes());
    a.handle_referral(ta, token, [closer(1), closer(2)], peer(1))
        .unwrap();
    let ta2 = a.create_channel(peer(1)).unwrap();
    assert_ne!(ta, ta2);
    // The late answer for the destroyed channel finds nothing.
    assert_eq!(
        a.handle_answer(
            ta,
            &TokenMapping::default(),
            &[TokenMapping::default(); 10],
            peer(1)
        ),
        Err(ElectionError::UnknownTicket)
    );
}

#[test]
fn create_channel_errors() {
    let mut e = election(TokenId::from_u64(1));
    assert_eq!(e.create_channel(ME), Err(ElectionError::SelfChannel));
    e.create_channel(peer(1)).unwrap();
    assert_eq!(
        e.create_channel(peer(1)),
        Err(ElectionError::ChannelAlreadyExists)
    );
    for n in 2..=10 {
        e.create_channel(peer(n)).unwrap();
    }
    assert!(!e.can_create_channel());
    assert_eq!(e.create_channel(peer(50)), Err(ElectionError::MaxChannelsReached));
    assert_eq!(e.channel_count(), 10);
}

#[test]
fn query_budget_bounds_referral_chains() {
    let token = TokenId::from_u64(1);
    let mut cfg = ElectionConfig::default();
    cfg.max_channels = 2;
    cfg.query_budget = 4;
    let mut e = PeerElection::new(token, ME, cfg, [3; 32]);
    let mut t = e.create_channel(peer(1)).unwrap();
    let mut next_peer = 2u8;
    let mut created = 1;
    loop {
        let suggested = e
            .handle_referral(t, token, [peer(next_peer), peer(next_peer + 1)], peer(0x40))
            .unwrap();
        next_peer += 2;
        match e.create_channel(suggested) {
            Ok(nt) => {
                t = nt;
                created += 1;
            }
            Err(err) => {
                assert_eq!(err, ElectionError::QueryBudgetExhausted);
                break;
            }
        }
    }
    assert_eq!(created, 4);
    assert_eq!(e.channels_created(), 4);
    assert!(!e.can_create_channel());
}

#[test]
fn answer_errors_wrong_token_unknown_ticket_bad_signature() {
    let f = fixture();
    let mut e = election(f.token);
    let t = e.create_channel(peer(1)).unwrap();
    let sig = generate_signature(&f.honest, &f.token, &ME).unwrap();
    assert_eq!(
        e.handle_answer(MessageTicket(t.0 ^ 1), &sig.answer, &sig.signature, peer(1)),
        Err(ElectionError::UnknownTicket)
    );
    let mut wrong = sig.answer;
    wrong.id = TokenId::from_u64(99);
    assert_eq!(
        e.handle_answer(t, &wrong, &sig.signature, peer(1)),
        Err(ElectionError::WrongToken)
    );
    // Signed for someone else: chunks differ.
    let other = generate_signature(&f.honest, &f.token, &peer(7)).unwrap();
    assert!(matches!(
        e.handle_answer(t, &other.answer, &other.signature, peer(1)),
        Err(ElectionError::SignatureVerificationFailed(_))
    ));
    // The channel is still pending: an honest answer is still taken.
    assert_eq!(e.channel_state(t), Some(&ChannelState::Pending));
    assert_eq!(
        e.handle_answer(t, &sig.answer, &sig.signature, peer(1)),
        Ok(AnswerAccepted::New)
    );
}

#[test]
fn redelivery_is_ignored_but_a_different_second_answer_blocks() {
    let f = fixture();
    let mut e = election(f.token);
    let t = answer_from(&mut e, &f.honest, peer(1), peer(1));
    let sig = generate_signature(&f.honest, &f.token, &ME).unwrap();
    assert_eq!(
        e.handle_answer(t, &sig.answer, &sig.signature, peer(1)),
        Ok(AnswerAccepted::Redelivery)
    );
    assert_eq!(e.valid_response_count(), 1);
    // Same content from a different responder on the same channel: gaming.
    assert_eq!(
        e.handle_answer(t, &sig.answer, &sig.signature, peer(2)),
        Err(ElectionError::DuplicateResponse)
    );
    assert_eq!(e.channel_state(t), Some(&ChannelState::Blocked));
    assert_eq!(e.valid_response_count(), 0, "blocked channel excluded");
    assert_eq!(
        e.handle_answer(t, &sig.answer, &sig.signature, peer(1)),
        Err(ElectionError::ChannelBlocked)
    );
    assert_eq!(
        e.handle_referral(t, f.token, [peer(5), peer(6)], peer(1)),
        Err(ElectionError::ChannelBlocked)
    );
    assert_eq!(e.abandon_channel(t), Err(ElectionError::ChannelBlocked));
}

#[test]
fn a_second_answer_that_fails_verification_changes_nothing() {
    let f = fixture();
    let mut e = election(f.token);
    let t = answer_from(&mut e, &f.honest, peer(1), peer(1));
    let other = e.create_channel(peer(2)).unwrap();
    let sig = generate_signature(&f.honest, &f.token, &ME).unwrap();
    e.handle_answer(other, &sig.answer, &sig.signature, peer(2))
        .unwrap();
    assert!(matches!(e.check_for_winner(), WinnerResult::Single { .. }));
    // The same answer with one suffix bit flipped in transit: it no longer verifies.
    let mut garbled = sig.signature;
    let mut id = *garbled[3].id.as_bytes();
    id[31] ^= 1;
    garbled[3].id = TokenId::new(id);
    assert!(matches!(
        e.handle_answer(t, &sig.answer, &garbled, peer(1)),
        Err(ElectionError::SignatureVerificationFailed(_))
    ));
    assert!(matches!(e.channel_state(t), Some(ChannelState::Responded { .. })));
    assert_eq!(e.valid_response_count(), 2);
    assert!(
        matches!(e.check_for_winner(), WinnerResult::Single { .. }),
        "the two agreeing responders still elect"
    );
    // A different answer that does verify still blocks the channel.
    let forged = forge(&ME, &f.token, sig.answer.block, 1);
    assert_eq!(
        e.handle_answer(t, &forged.answer, &forged.signature, peer(1)),
        Err(ElectionError::DuplicateResponse)
    );
    assert_eq!(e.channel_state(t), Some(&ChannelState::Blocked));
}

#[test]
fn referral_rules() {
    let f = fixture();
    let mut e = election(f.token);
    let answered = answer_from(&mut e, &f.honest, peer(1), peer(1));
    assert_eq!(
        e.handle_referral(answered, f.token, [peer(5), peer(6)], peer(1)),
        Err(ElectionError::ChannelAnswered),
        "a referral cannot destroy an answered channel"
    );
    assert_eq!(e.abandon_channel(answered), Err(ElectionError::ChannelAnswered));
    assert_eq!(e.valid_response_count(), 1);
    let pending = e.create_channel(peer(2)).unwrap();
    assert_eq!(
        e.handle_referral(pending, TokenId::from_u64(3), [peer(5), peer(6)], peer(2)),
        Err(ElectionError::WrongToken)
    );
    assert_eq!(
        e.handle_referral(MessageTicket(0), f.token, [peer(5), peer(6)], peer(2)),
        Err(ElectionError::UnknownTicket)
    );
    // Suggests the unused one closest to the token; used hops and self are skipped.
    let closest = PeerId::new(*f.token.as_bytes());
    let got = e
        .handle_referral(pending, f.token, [peer(1), closest], peer(2))
        .unwrap();
    assert_eq!(got, closest);
    assert_eq!(e.channel_count(), 1, "referred channel closed");
    let p3 = e.create_channel(peer(3)).unwrap();
    assert_eq!(
        e.handle_referral(p3, f.token, [ME, peer(1)], peer(3)),
        Err(ElectionError::NoFreshReferral)
    );
    assert_eq!(
        e.channel_state(p3),
        None,
        "closed even without a fresh suggestion"
    );
    let p4 = e.create_channel(peer(4)).unwrap();
    assert_eq!(e.abandon_channel(p4), Ok(()));
    assert_eq!(e.abandon_channel(p4), Err(ElectionError::UnknownTicket));
}

#[test]
fn one_responder_over_two_channels_counts_once() {
    let f = fixture();
    let mut e = election(f.token);
    answer_from(&mut e, &f.honest, peer(1), peer(9));
    answer_from(&mut e, &f.honest, peer(2), peer(9));
    assert_eq!(e.valid_response_count(), 1);
    assert_eq!(e.check_for_winner(), WinnerResult::NoConsensus);
    answer_from(&mut e, &f.honest, peer(3), peer(8));
    assert_eq!(e.valid_response_count(), 2);
    match e.check_for_winner() {
        WinnerResult::Single { cluster, .. } => assert_eq!(cluster.members.len(), 2),
        other => panic!("expected a winner, got {other:?}"),
    }
}

/// Runs an election with `a` responders on one ledger version and `b` on the other.
fn versus(a: u8, b: u8) -> WinnerResult {
    let f = fixture();
    let mut e = election(f.token);
    let mut cfg = ElectionConfig::default();
    cfg.max_channels = 20;
    e.config = cfg;
    for i in 0..a {
        answer_from(&mut e, &f.honest, peer(100 + i), peer(100 + i));
    }
    for i in 0..b {
        answer_from(&mut e, &f.other, peer(200 + i), peer(200 + i));
    }
    e.check_for_winner()
}

#[test]
fn majority_boundaries() {
    assert!(matches!(versus(3, 2), WinnerResult::Single { ref cluster, .. } if cluster.members.len() == 3));
    assert!(matches!(versus(3, 3), WinnerResult::SplitBrain { .. }));
    assert!(
        matches!(versus(4, 3), WinnerResult::SplitBrain { .. }),
        "4/7 < 0.6"
    );
    assert!(
        matches!(versus(3, 1), WinnerResult::Single { .. }),
        "a lone dissenter is no cluster"
    );
    assert_eq!(versus(1, 1), WinnerResult::NoConsensus);
    match versus(3, 3) {
        WinnerResult::SplitBrain {
            cluster1,
            cluster2,
            signatures1,
            signatures2,
            winner1,
            winner2,
        } => {
            assert!(cluster1.is_disjoint(&cluster2));
            assert_eq!(signatures1.len(), 3);
            assert_eq!(signatures2.len(), 3);
            assert_eq!(winner1, cluster1.members[0]);
            assert_eq!(winner2, cluster2.members[0]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn is_settled_tracks_whether_pending_channels_could_change_the_verdict() {
    let f = fixture();
    let mut e = election(f.token);
    answer_from(&mut e, &f.honest, peer(1), peer(1));
    e.create_channel(peer(2)).unwrap();
    e.create_channel(peer(3)).unwrap();
    assert!(!e.is_settled(), "1 answer, 2 pending");
    answer_from(&mut e, &f.honest, peer(4), peer(4));
    // 2 agree out of a possible 4: 2/4 < 0.6, two pending could still make 2 v 2.
    assert!(!e.is_settled());
    answer_from(&mut e, &f.honest, peer(5), peer(5));
    // 3 agree of a possible 5: 3/5 ≥ 0.6 whatever the pending two say.
    assert!(e.is_settled());
}

#[test]
fn full_election_by_hand_honest_cluster_beats_stale_and_colluding_forgers() {
    // A 60,000-token ledger; six honest responders each missing a few hundred
    // tokens; one stale responder (older block for the token); two forgers
    // that share one invented ledger.
    let l = ledger(60_000, "big");
    let token = l[4242].0;
    let stores: Vec<MemoryStore> = (0..6u64)
        .map(|k| {
            MemoryStore::from_mappings(
                l.iter()
                    .enumerate()
                    .filter(|(i, _)| h("miss", k * 1_000_000 + *i as u64)[0] > 0) // ~0.4 % missing
                    .map(|(_, m)| *m),
            )
        })
        .collect();
    let mut stale = MemoryStore::from_mappings(l.iter().copied());
    stale.insert(token, BlockId::new([0x5a; 32]));

    let mut cfg = ElectionConfig::default();
    cfg.max_channels = 12;
    let mut e = PeerElection::new(token, ME, cfg, [42; 32]);
    let honest_ids: Vec<PeerId> = (0..6u64).map(|k| PeerId::new(h("honest", k))).collect();
    for (k, s) in stores.iter().enumerate() {
        answer_from(&mut e, s, peer(10 + k as u8), honest_ids[k]);
    }
    answer_from(&mut e, &stale, peer(30), PeerId::new(h("stale", 0)));
    let fake_block = BlockId::new([0xf0; 32]);
    for k in 0..2u8 {
        let t = e.create_channel(peer(40 + k)).unwrap();
        let sig = forge(&ME, &token, fake_block, 1);
        assert_eq!(
            verify_signature(&ME, &token, &sig),
            Ok(()),
            "forgeries verify: only agreement exposes them"
        );
        // The forgers claim ids very close to the token, to win if elected.
        let claimed = PeerId::new(*token.add(&Distance::from_u64(1 + u64::from(k))).as_bytes());
        e.handle_answer(t, &sig.answer, &sig.signature, claimed).unwrap();
    }
    assert_eq!(e.valid_response_count(), 9);
    match e.check_for_winner() {
        WinnerResult::Single {
            winner,
            cluster,
            cluster_signatures,
        } => {
            let mut members = cluster.members.clone();
            members.sort();
            let mut expect = honest_ids.clone();
            expect.sort();
            assert_eq!(members, expect, "the honest six form the cluster");
            let closest = honest_ids
                .iter()
                .min_by_key(|p| ring_distance(*p, &token))
                .unwrap();
            assert_eq!(&winner, closest);
            assert_eq!(cluster_signatures.len(), 6);
            assert!(cluster.min_agreement >= 8);
        }
        other => panic!("expected the honest cluster to win, got {other:?}"),
    }
    // Sanity of the forgery helper: ordering is what verification demands.
    let sig = forge(&ME, &token, fake_block, 1);
    for (i, m) in sig.signature.iter().enumerate() {
        assert_eq!(suffix(&m.id), signature_chunks(&ME, &token, &fake_block)[i]);
    }
    let d0 = clockwise_distance(&token, &sig.signature[0].id);
    let d5 = counter_clockwise_distance(&token, &sig.signature[5].id);
    assert!(d0 > Distance::ZERO && d5 > Distance::ZERO);
}

#[test]
fn reference_keeps_colluders_and_other_ledger_versions_from_winning() {
    let f = fixture();
    let own = generate_signature(&f.honest, &f.token, &ME).unwrap();
    let fake = BlockId::new([0xf0; 32]);
    let near_token = |k: u64| PeerId::new(*f.token.add(&Distance::from_u64(k)).as_bytes());
    let colluders_and_one_honest = |e: &mut PeerElection| {
        for k in 0..2u64 {
            let t = e.create_channel(peer(40 + k as u8)).unwrap();
            let sig = forge(&ME, &f.token, fake, 7);
            e.handle_answer(t, &sig.answer, &sig.signature, near_token(k + 1))
                .unwrap();
        }
        answer_from(e, &f.honest, peer(50), peer(50));
    };
    // Without a reference, two colluders sharing an invented ledger win.
    let mut plain = election(f.token);
    colluders_and_one_honest(&mut plain);
    assert!(
        matches!(plain.check_for_winner(), WinnerResult::Single { winner, .. } if winner == near_token(1))
    );
    // With the challenger's own walk as reference, they cannot.
    let mut e = election(f.token);
    e.set_reference(own).unwrap();
    colluders_and_one_honest(&mut e);
    assert_eq!(e.check_for_winner(), WinnerResult::NoConsensus);
    answer_from(&mut e, &f.honest, peer(51), peer(51));
    match e.check_for_winner() {
        WinnerResult::SplitBrain {
            cluster1, cluster2, ..
        } => {
            // 2 aligned of 4 is no majority; the colluders are the other side.
            assert_eq!(cluster1.members.len(), 2);
            assert!(cluster1.members.contains(&peer(50)) && cluster1.members.contains(&peer(51)));
            assert!(cluster2.members.contains(&near_token(1)));
        }
        other => panic!("{other:?}"),
    }

    // A majority on another ledger version is reported, not elected.
    let mut e = election(f.token);
    e.config.max_channels = 20;
    e.set_reference(own).unwrap();
    for i in 0..3 {
        answer_from(&mut e, &f.other, peer(100 + i), peer(100 + i));
    }
    for i in 0..2 {
        answer_from(&mut e, &f.honest, peer(120 + i), peer(120 + i));
    }
    match e.check_for_winner() {
        WinnerResult::SplitBrain {
            cluster1, cluster2, ..
        } => {
            assert_eq!(cluster1.members.len(), 2, "ours first, though smaller");
            assert_eq!(cluster2.members.len(), 3);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn set_reference_rejects_foreign_or_invalid_signatures() {
    let f = fixture();
    let mut e = election(f.token);
    let for_someone_else = generate_signature(&f.honest, &f.token, &peer(3)).unwrap();
    assert!(matches!(
        e.set_reference(for_someone_else),
        Err(ElectionError::SignatureVerificationFailed(_))
    ));
    let other_token = generate_signature(&f.honest, &ledger(40_000, "ledger")[18].0, &ME).unwrap();
    assert_eq!(e.set_reference(other_token), Err(ElectionError::WrongToken));
    assert!(e.reference().is_none());
    let own = generate_signature(&f.honest, &f.token, &ME).unwrap();
    assert_eq!(e.set_reference(own), Ok(()));
    assert_eq!(e.reference(), Some(&own));
}

#[test]
fn two_aligned_clusters_that_disagree_are_noise_not_a_split() {
    let f = fixture();
    let own = generate_signature(&f.honest, &f.token, &ME).unwrap();
    // Step blocks are not covered by verification, so altering them keeps the
    // walk valid: X keeps our first five mappings, Y our last five.
    let variant = |keep_first: bool, salt: u64| {
        let mut s = own;
        for (i, m) in s.signature.iter_mut().enumerate() {
            if (i < CLOCKWISE_STEPS) != keep_first {
                m.block = BlockId::new(h("variant", salt * 10 + i as u64));
            }
        }
        s
    };
    let (x, y) = (variant(true, 1), variant(false, 2));
    assert_eq!(
        (agreement(&own, &x), agreement(&own, &y), agreement(&x, &y)),
        (5, 5, 0)
    );
    let mut e = election(f.token);
    e.set_reference(own).unwrap();
    for (k, sig) in [(1u8, x), (2, x), (3, y), (4, y)] {
        let t = e.create_channel(peer(60 + k)).unwrap();
        e.handle_answer(t, &sig.answer, &sig.signature, peer(60 + k))
            .unwrap();
    }
    // Without a reference this is 2 v 2: a split-brain.
    let mut plain = election(f.token);
    for (k, sig) in [(1u8, x), (2, x), (3, y), (4, y)] {
        let t = plain.create_channel(peer(60 + k)).unwrap();
        plain
            .handle_answer(t, &sig.answer, &sig.signature, peer(60 + k))
            .unwrap();
    }
    assert!(matches!(
        plain.check_for_winner(),
        WinnerResult::SplitBrain { .. }
    ));
    assert!(matches!(e.check_for_winner(), WinnerResult::Single { ref cluster, .. } if cluster.size() == 2));
}
