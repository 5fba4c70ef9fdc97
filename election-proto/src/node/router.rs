//! The datagram router (docs/PROTOCOL.md §8): answer, forward greedily, or
//! refer; relay replies back; hand membership messages to membership.
//!
//! Replies to our own channels are handed, by ticket, to the election runs
//! ([`super::elections::Elections`]); membership messages to
//! [`super::membership::Membership`]; what either returns that concerns
//! another subsystem is handed on here. The reverse-path table of forwarded
//! queries belongs to this module alone.

use super::elections::{AnswerOutcome, ReferralOutcome};
use super::Node;
use crate::election::MessageTicket;
use crate::id::{ring_distance, PeerId, TokenId};
use crate::keys::answer_signed_bytes;
use crate::proof::{generate_proof, generate_signature, proof_agreement};
use crate::store::TokenStore;
use crate::wire::{
    Address, Answer, CookieQuery, FindNeighbours, Message, Neighbours, Ping, Pong, Query, Referral, Retry,
};

impl<A: Address, S: TokenStore> Node<A, S> {
    pub(super) fn on_query(&mut self, now: u64, from: A, sender: PeerId, query: Query) {
        let Query {
            token,
            ticket,
            challenger,
            hops_left,
        } = query;
        // The sender of an unsolicited datagram is only a candidate.
        self.membership.offer(&mut cx!(self), now, sender, from.clone());
        if challenger == self.me.id {
            // One of our own queries came back around: a loop.
            self.out.metrics.loops_cut += 1;
            return;
        }
        // 0. Toward an address that has not proven it receives, nothing larger
        // than the query: a Retry with a cookie for it. Only a sender that gets
        // the cookie can come back with it (docs/PROTOCOL.md "Address validation").
        if !self.is_validated(&from, &sender, now) {
            self.out.metrics.retries_sent += 1;
            let cookie = self.guard.cookie(&from, now);
            self.out.send(
                from,
                Message::Retry(Retry {
                    ticket,
                    token,
                    cookie,
                }),
            );
            return;
        }
        // A validated source still gets at most its host's rate of service.
        if !self.guard.allow_query(&mut self.out.metrics, &from.groups(), now) {
            return;
        }
        // 1. Answer if the store can sign for the challenger.
        let signed = generate_signature(&self.store, &token, &challenger).and_then(|sig| {
            let proof = generate_proof(&self.store, &challenger, &self.me.id, &token)?;
            Some((sig, proof))
        });
        if let Some((sig, proof)) = signed {
            let Some(signed) = answer_signed_bytes(
                &challenger,
                ticket,
                &token,
                &sig.answer,
                &sig.signature,
                &proof,
                &self.me.addr,
            ) else {
                self.out.metrics.encode_errors += 1;
                return;
            };
            self.out.metrics.queries_answered += 1;
            let answer = Answer {
                ticket,
                answer: sig.answer,
                signature: sig.signature,
                proof,
                responder: self.me.clone(),
                key: self.key.public(),
                pow: self.key.pow_nonce(),
                auth: self.key.sign(&signed),
            };
            self.out.send(from, Message::Answer(answer));
            return;
        }
        // 2. Forward greedily to a strictly closer peer.
        if hops_left > 0 {
            let key = (ticket, token);
            if self.forward.contains(&key, now) {
                self.out.metrics.loops_cut += 1;
            } else {
                let my_distance = ring_distance(&self.me.id, &token);
                let next = self
                    .membership
                    .contacts()
                    .closest_to(&token, |id, c| {
                        *id != sender && *id != challenger && c.addr != from
                    })
                    .filter(|c| ring_distance(&c.id, &token) < my_distance);
                if let Some(next) = next {
                    let onward = Query {
                        hops_left: hops_left - 1,
                        ..query
                    };
                    if self
                        .forward
                        .insert(key, from.clone(), next.addr.clone(), onward, now)
                    {
                        self.out.metrics.queries_forwarded += 1;
                        self.out.send(next.addr, Message::Query(onward));
                        return;
                    }
                    self.out.metrics.forward_table_full += 1;
                }
            }
        }
        // 3. Refer to the nearest known peers on each side of the token.
        self.out.metrics.queries_referred += 1;
        let (high, low) = self
            .membership
            .contacts()
            .neighbours(&token, |id| *id != challenger);
        let (high, low) = match (high, low) {
            (Some(h), Some(l)) => (h, l),
            (Some(h), None) => (h.clone(), h),
            (None, Some(l)) => (l.clone(), l),
            (None, None) => (self.me.clone(), self.me.clone()),
        };
        let referral = Referral {
            ticket,
            token,
            high,
            low,
        };
        self.out.send(from, Message::Referral(referral));
    }

    /// A query resent with a cookie: if the cookie is ours for `from` (this
    /// epoch or the last), `from` is validated and the query handled as usual.
    pub(super) fn on_cookie_query(&mut self, now: u64, from: A, sender: PeerId, cq: CookieQuery) {
        if !self.guard.cookie_is_valid(&from, &cq.cookie, now) {
            self.out.metrics.cookies_rejected += 1;
            return;
        }
        self.guard.validate(&mut self.out.metrics, from.clone(), now);
        self.on_query(now, from, sender, cq.query);
    }

    /// A Retry for one of our queries or one we forwarded: resend the query
    /// with the cookie, once, to the address the Retry came from (where the
    /// query went). The Retry carried our ticket from there, so that address
    /// receives: it is validated too.
    pub(super) fn on_retry(&mut self, now: u64, from: A, sender: PeerId, retry: Retry) {
        let Retry {
            ticket,
            token,
            cookie,
        } = retry;
        let query = if self.elections.retry(&ticket, &token, &from, &sender, now) {
            // Validates `from` too.
            self.admit_first_hop(now, &ticket, sender, &from);
            Query {
                token,
                ticket,
                challenger: self.me.id,
                hops_left: self.config.elections.max_hops,
            }
        } else if let Some(q) = self.forward.retry(&(ticket, token), &from, now) {
            self.guard.validate(&mut self.out.metrics, from.clone(), now);
            q
        } else {
            self.out.metrics.unmatched_replies += 1;
            return;
        };
        self.out.metrics.retries_followed += 1;
        self.out
            .send(from, Message::CookieQuery(CookieQuery { query, cookie }));
    }

    pub(super) fn on_answer(&mut self, now: u64, from: A, sender: PeerId, answer: Answer<A>) {
        let Some(token) = self.elections.owner(&answer.ticket) else {
            let key = answer.answer.id;
            self.relay(now, key, Message::Answer(answer));
            return;
        };
        if answer.responder.id == self.me.id {
            self.out.metrics.unmatched_replies += 1;
            return;
        }
        // Wire v2: only an answer its responder signed, for us, this ticket and
        // this token, may reach the election; anything else changes nothing
        // but a counter (relays can neither forge nor rewrite responders).
        if !self.answer_is_authentic(&token, &answer) {
            self.out.metrics.invalid_signatures += 1;
            return;
        }
        if !self.guard.identity_ok(
            &mut self.out.metrics,
            &answer.responder.id,
            &answer.key,
            answer.pow,
        ) {
            return;
        }
        self.admit_first_hop(now, &answer.ticket, sender, &from);
        self.health.note_direct_reply(&answer.ticket, &sender, &from);
        // Evidence about an elected peer: only its own answer to a direct
        // challenge, from the address we asked (see `health`).
        let witness =
            self.health.is_direct_channel(&answer.ticket, &sender, &from) && answer.responder.id == sender;
        // Wire v3: the possession proof is keyed by the responder's id, so
        // only a holder of the blocks around the token can make it for itself;
        // checked against our own store (we hold the token we challenge).
        let proven = proof_agreement(
            &self.store,
            &self.me.id,
            &answer.responder.id,
            &token,
            &answer.proof,
        );
        // (Alignment with our walk is looked at only for an unproven answer:
        // the common, proven case pays for no extra comparison.)
        let unproven = proven < usize::from(self.config.elections.min_proof_steps);
        if unproven
            && self
                .elections
                .get(&token)
                .and_then(|run| run.is_aligned(&answer))
                .unwrap_or(true)
        {
            // A walk like ours signed by someone who cannot show it holds
            // the blocks (a relay re-signing another's answer, a node that
            // stores next to nothing): it carries no weight. Its channel is
            // closed and replaced, and a responder that answered us directly
            // is marked. (An unproven walk unlike ours can never win: it
            // still counts, so that a node holding another ledger version,
            // whose blocks we cannot check, shows up as a split-brain.)
            self.out.metrics.unproven_answers += 1;
            if witness {
                self.observe(now, &answer.ticket, sender, Some(proven));
            }
            if self.elections.reject(&answer.ticket) {
                self.strike(&answer.responder.id, &sender);
                self.open_channels(now, token, 1);
                self.evaluate(now, token);
            }
            return;
        }
        match self.elections.on_answer(&answer) {
            AnswerOutcome::Counted => {
                if witness {
                    self.observe(now, &answer.ticket, sender, Some(proven));
                }
                // A relayed responder is only a candidate.
                let responder = answer.responder;
                if responder.id != sender {
                    self.membership
                        .offer(&mut cx!(self), now, responder.id, responder.addr);
                }
                self.evaluate(now, token);
            }
            AnswerOutcome::Redelivery => self.out.metrics.duplicate_answers += 1,
            AnswerOutcome::Conflict => {
                self.out.metrics.conflicting_answers += 1;
                if witness {
                    self.observe(now, &answer.ticket, sender, None);
                }
                self.strike(&answer.responder.id, &sender);
                self.evaluate(now, token);
            }
            AnswerOutcome::Forged => {
                self.out.metrics.invalid_signatures += 1;
                if witness {
                    self.observe(now, &answer.ticket, sender, None);
                }
                self.strike(&answer.responder.id, &sender);
            }
            AnswerOutcome::Unmatched => self.out.metrics.unmatched_replies += 1,
        }
    }

    /// Whether `answer` carries its responder's key (`BLAKE3(key)` is the
    /// responder id) and a valid signature over the v2 signed bytes, with this
    /// node as challenger and `token` as the challenged token.
    fn answer_is_authentic(&self, token: &TokenId, answer: &Answer<A>) -> bool {
        answer_signed_bytes(
            &self.me.id,
            answer.ticket,
            token,
            &answer.answer,
            &answer.signature,
            &answer.proof,
            &answer.responder.addr,
        )
        .is_some_and(|signed| {
            self.key
                .verify_peer(&answer.key, &answer.responder.id, &signed, &answer.auth)
                .is_ok()
        })
    }

    /// A reply to one of our channels came from `sender` at `from`: if that is
    /// the channel's first hop at the address the query went to, the ticket
    /// (drawn from our secret) proves it reachable there. A first hop that is
    /// not a contact yet (a referral named it) is only a candidate, admitted
    /// like any other: through the probe allowance and the per-group caps, so
    /// a referrer cannot fill our table with the ids it names.
    fn admit_first_hop(&mut self, now: u64, ticket: &MessageTicket, sender: PeerId, from: &A) {
        if let Some(hop) = self.elections.first_hop(ticket) {
            if hop.id == sender && hop.addr == *from {
                let hop = hop.clone();
                self.guard.validate(&mut self.out.metrics, hop.addr.clone(), now);
                self.membership.offer(&mut cx!(self), now, hop.id, hop.addr);
            }
        }
    }

    /// Marks a misbehaving responder, but only when it answered us directly.
    /// (The rule predates signed answers, when a relayed responder id could
    /// frame anyone; an answer that reaches here is now signed by its
    /// responder, but the rule is unchanged.)
    fn strike(&mut self, responder: &PeerId, sender: &PeerId) {
        if responder == sender {
            self.membership.strike(responder);
        }
    }

    pub(super) fn on_referral(&mut self, now: u64, from: A, sender: PeerId, referral: Referral<A>) {
        let Some(token) = self.elections.owner(&referral.ticket) else {
            let key = referral.token;
            self.relay(now, key, Message::Referral(referral));
            return;
        };
        self.admit_first_hop(now, &referral.ticket, sender, &from);
        self.health.note_direct_reply(&referral.ticket, &sender, &from);
        // Either way the referred channel is closed: follow the suggestion if
        // there is a fresh one, else open a replacement to another first hop.
        let next = match self.elections.on_referral(&referral, sender, &self.config) {
            ReferralOutcome::Follow(hop, chain) => Some((hop, chain)),
            ReferralOutcome::Replace { strike, dead_end } => {
                if let Some(origin) = strike {
                    // The chain we started there went nowhere: its first hop
                    // is passed over by later elections' first-hop picks.
                    self.out.metrics.referral_chains_ended += 1;
                    self.membership.strike(&origin);
                }
                if let Some(referrer) = dead_end {
                    if self.membership.dead_end(&referrer) {
                        self.out.metrics.referral_chains_ended += 1;
                    }
                }
                None
            }
            ReferralOutcome::Unmatched => {
                self.out.metrics.unmatched_replies += 1;
                return;
            }
        };
        // A referral names the next hop outright; following it sends a query
        // whose ticket its direct reply must carry, which is what admits it
        // (see `admit_first_hop`). Channels opened from the table use admitted
        // contacts only.
        if next.is_none_or(|(hop, chain)| self.open_channel_to(now, token, hop, Some(chain)).is_none()) {
            self.open_channels(now, token, 1);
        }
        self.evaluate(now, token);
    }

    /// Sends a reply for someone else's query back along its reverse path,
    /// found by the reply's ticket and the `token` it is about.
    fn relay(&mut self, now: u64, token: TokenId, reply: Message<A>) {
        match self.forward.take(&(reply.ticket(), token), now) {
            Some(prev) => {
                self.out.metrics.replies_relayed += 1;
                self.out.send(prev, reply);
            }
            None => self.out.metrics.unmatched_replies += 1,
        }
    }

    /// Forgets reverse paths past their lifetime.
    pub(super) fn expire_routes(&mut self, now: u64) {
        self.forward.expire(now);
    }

    pub(super) fn on_ping(&mut self, now: u64, from: A, sender: PeerId, ping: Ping) {
        self.membership.on_ping(&mut cx!(self), now, from, sender, ping);
    }

    pub(super) fn on_pong(&mut self, now: u64, from: A, sender: PeerId, pong: Pong) {
        let Some(probe) = self.membership.take_probe(&mut cx!(self), &pong, &from, &sender) else {
            return;
        };
        // Wire v2 identity price: with a difficulty, the key must be the id's and carry its proof.
        if !self
            .guard
            .identity_ok(&mut self.out.metrics, &sender, &pong.key, pong.pow)
        {
            return;
        }
        self.guard.validate(&mut self.out.metrics, from.clone(), now);
        if self
            .membership
            .probe_answered(&mut cx!(self), &self.guard, now, probe, &from, &sender)
        {
            self.health.ponged(&sender);
        }
    }

    pub(super) fn on_find_neighbours(
        &mut self,
        now: u64,
        from: A,
        sender: PeerId,
        req: FindNeighbours,
        len: usize,
    ) {
        self.membership
            .on_find_neighbours(&mut cx!(self), now, from, sender, req, len);
    }

    pub(super) fn on_neighbours(&mut self, now: u64, from: A, sender: PeerId, reply: Neighbours<A>) {
        let Some(proven) = self
            .membership
            .on_neighbours(&mut cx!(self), now, &from, sender, reply)
        else {
            return;
        };
        self.guard.validate(&mut self.out.metrics, from, now);
        self.membership
            .admit_replier(&mut cx!(self), &self.guard, now, proven);
    }
}
