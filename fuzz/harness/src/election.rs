//! The `election` harness: a sequence of [`PeerElection`] operations with every
//! observable invariant checked after each step.

use crate::fixtures::{
    block_for, fixtures, forge, pool_peer, store, Forgery, PeerSel, StoreKind, TokenSel, POOL,
};
use arbitrary::{Arbitrary, Unstructured};
use election_proto::cluster::{ConsensusCluster, MAX_RESPONSES};
use election_proto::election::{
    AnswerAccepted, ChannelState, ElectionConfig, ElectionError, MessageTicket, PeerElection, WinnerResult,
};
use election_proto::id::{ring_distance, Distance, PeerId, TokenId};
use election_proto::proof::{
    agreement, generate_signature, verify_signature, TokenMapping, TokenSignature, SIGNATURE_SIZE,
};
use std::collections::BTreeSet;

/// Picks a ticket: one the harness created (most recent first) or any value.
#[derive(Clone, Copy, Debug)]
pub enum TicketSel {
    /// The `n`-th most recently created ticket (mod the number created).
    Known(u8),
    /// Any ticket.
    Raw(u64),
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
            let mut c = ElectionConfig::default();
            c.consensus_threshold = 1 + usize::from(ct % 10);
            c.min_cluster_size = 2 + usize::from(mcs % 3);
            c.max_channels = max_channels;
            c.majority_threshold = [0.6, 0.5, 0.34, 0.75, 1.0, 0.01][usize::from(maj % 6)];
            c.query_budget = max_channels + usize::from(budget % 24);
            c
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
                // Only suggestions strictly closer to the token than the referrer may be followed.
                let referrer = ring_distance(&responder, &self.token);
                let closer: Vec<bool> = suggested
                    .iter()
                    .map(|p| ring_distance(p, &self.token) < referrer)
                    .collect();
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
                            next != self.me && next != responder && !used[k] && closer[k],
                            "referral returned an unusable peer"
                        );
                        // The choice is the usable suggestion closest to the token.
                        for ((p, u), c) in suggested.iter().zip(&used).zip(&closer) {
                            if *p != self.me && *p != responder && !*u && *c {
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
                        assert!(
                            closer.iter().any(|c| *c),
                            "NoFreshReferral without a closer suggestion"
                        );
                        for ((p, u), c) in suggested.iter().zip(&used).zip(&closer) {
                            assert!(
                                *p == self.me || *u || !*c,
                                "NoFreshReferral with a usable suggestion"
                            );
                        }
                    }
                    Err(ElectionError::ReferralNotCloser) => {
                        assert_eq!(before, Some(ChannelState::Pending));
                        assert_eq!(
                            self.e.channel_state(ticket),
                            None,
                            "ReferralNotCloser must close the channel"
                        );
                        assert!(closer.iter().all(|c| !*c), "a closer suggestion was refused");
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
                assert!(
                    verify_signature(&self.me, &self.token, &sig).is_ok(),
                    "an answer that fails verification blocked a channel"
                );
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
                        // On a pending channel, or as a different second answer on
                        // an answered one: either way it changed nothing (above).
                        assert!(
                            matches!(
                                before,
                                Some(ChannelState::Pending | ChannelState::Responded { .. })
                            ),
                            "verification failure on {before:?}"
                        );
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
        valid.truncate(MAX_RESPONSES);
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
