//! Responder and router (docs/PROTOCOL.md §8): answer, forward greedily, or refer; relay replies back.
//!
//! Replies to our own channels are handed, by ticket, to the election runs
//! ([`super::run::Elections`]); this module only carries out what they say.

use super::run::{AnswerOutcome, ReferralOutcome};
use super::Node;
use crate::election::MessageTicket;
use crate::id::{ring_distance, PeerId, TokenId};
use crate::keys::answer_signed_bytes;
use crate::proof::generate_signature;
use crate::store::TokenStore;
use crate::wire::{Address, Answer, CookieQuery, Message, Query, Referral, Retry};

impl<A: Address, S: TokenStore> Node<A, S> {
    pub(super) fn on_query(&mut self, now: u64, from: A, sender: PeerId, query: Query) {
        let Query {
            token,
            ticket,
            challenger,
            hops_left,
        } = query;
        // The sender of an unsolicited datagram is only a candidate.
        self.offer(now, sender, from.clone());
        if challenger == self.me.id {
            // One of our own queries came back around: a loop.
            self.metrics.loops_cut += 1;
            return;
        }
        // 0. Toward an address that has not proven it receives, nothing larger
        // than the query: a Retry with a cookie for it. Only a sender that gets
        // the cookie can come back with it (docs/PROTOCOL.md "Address validation").
        if !self.is_validated(&from, &sender, now) {
            self.metrics.retries_sent += 1;
            let cookie = self.cookies.make(&from, now);
            self.send(
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
        let (allowed, evicted) = self.rate_limits.allow(&from.groups(), now);
        self.metrics.rate_limit_evictions += u64::from(evicted);
        if !allowed {
            self.metrics.queries_rate_limited += 1;
            return;
        }
        // 1. Answer if the store can sign for the challenger.
        if let Some(sig) = generate_signature(&self.store, &token, &challenger) {
            let Some(signed) = answer_signed_bytes(
                &challenger,
                ticket,
                &token,
                &sig.answer,
                &sig.signature,
                &self.me.addr,
            ) else {
                self.metrics.encode_errors += 1;
                return;
            };
            self.metrics.queries_answered += 1;
            let answer = Answer {
                ticket,
                answer: sig.answer,
                signature: sig.signature,
                responder: self.me.clone(),
                key: self.key.public(),
                pow: self.key.pow_nonce(),
                auth: self.key.sign(&signed),
            };
            self.send(from, Message::Answer(answer));
            return;
        }
        // 2. Forward greedily to a strictly closer peer.
        if hops_left > 0 {
            let key = (ticket, token);
            if self.forward.contains(&key, now) {
                self.metrics.loops_cut += 1;
            } else {
                let my_distance = ring_distance(&self.me.id, &token);
                let next = self
                    .contacts
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
                        self.metrics.queries_forwarded += 1;
                        self.send(next.addr, Message::Query(onward));
                        return;
                    }
                    self.metrics.forward_table_full += 1;
                }
            }
        }
        // 3. Refer to the nearest known peers on each side of the token.
        self.metrics.queries_referred += 1;
        let (high, low) = self.contacts.neighbours(&token, |id| *id != challenger);
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
        self.send(from, Message::Referral(referral));
    }

    /// A query resent with a cookie: if the cookie is ours for `from` (this
    /// epoch or the last), `from` is validated and the query handled as usual.
    pub(super) fn on_cookie_query(&mut self, now: u64, from: A, sender: PeerId, cq: CookieQuery) {
        if !self.cookies.check(&from, &cq.cookie, now) {
            self.metrics.cookies_rejected += 1;
            return;
        }
        self.validate(from.clone(), now);
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
                hops_left: self.config.max_hops,
            }
        } else if let Some(q) = self.forward.retry(&(ticket, token), &from, now) {
            self.validate(from.clone(), now);
            q
        } else {
            self.metrics.unmatched_replies += 1;
            return;
        };
        self.metrics.retries_followed += 1;
        self.send(from, Message::CookieQuery(CookieQuery { query, cookie }));
    }

    pub(super) fn on_answer(&mut self, now: u64, from: A, sender: PeerId, answer: Answer<A>) {
        let Some(token) = self.elections.owner(&answer.ticket) else {
            let key = answer.answer.id;
            self.relay(now, key, Message::Answer(answer));
            return;
        };
        if answer.responder.id == self.me.id {
            self.metrics.unmatched_replies += 1;
            return;
        }
        // Wire v2: only an answer its responder signed, for us, this ticket and
        // this token, may reach the election; anything else changes nothing
        // but a counter (relays can neither forge nor rewrite responders).
        if !self.answer_is_authentic(&token, &answer) {
            self.metrics.invalid_signatures += 1;
            return;
        }
        let bits = self.config.pow_difficulty;
        if bits > 0
            && !self
                .proven
                .check(&answer.responder.id, &answer.key, answer.pow, bits)
        {
            self.metrics.identities_rejected += 1;
            return;
        }
        self.admit_first_hop(now, &answer.ticket, sender, &from);
        self.note_direct_reply(&answer.ticket, &sender, &from);
        // Evidence about an elected peer: only its own answer to a direct
        // challenge, from the address we asked (see `health`).
        let witness = self.is_direct_channel(&answer.ticket, &sender, &from) && answer.responder.id == sender;
        match self.elections.on_answer(&answer) {
            AnswerOutcome::Counted => {
                if witness {
                    let shared = self
                        .elections
                        .get(&token)
                        .and_then(|run| run.shared_with_reference(&answer.ticket));
                    // Without a reference (a store too sparse to walk) there is nothing to compare.
                    if let Some(shared) = shared {
                        self.observe(now, &answer.ticket, sender, Some(shared));
                    }
                }
                // A relayed responder is only a candidate.
                let responder = answer.responder;
                if responder.id != sender {
                    self.offer(now, responder.id, responder.addr);
                }
                self.evaluate(now, token);
            }
            AnswerOutcome::Redelivery => self.metrics.duplicate_answers += 1,
            AnswerOutcome::Conflict => {
                self.metrics.conflicting_answers += 1;
                if witness {
                    self.observe(now, &answer.ticket, sender, None);
                }
                self.strike(&answer.responder.id, &sender);
                self.evaluate(now, token);
            }
            AnswerOutcome::Forged => {
                self.metrics.invalid_signatures += 1;
                if witness {
                    self.observe(now, &answer.ticket, sender, None);
                }
                self.strike(&answer.responder.id, &sender);
            }
            AnswerOutcome::Unmatched => self.metrics.unmatched_replies += 1,
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
    /// (drawn from our secret) proves it reachable there.
    fn admit_first_hop(&mut self, now: u64, ticket: &MessageTicket, sender: PeerId, from: &A) {
        if let Some(hop) = self.elections.first_hop(ticket) {
            if hop.id == sender && hop.addr == *from {
                let hop = hop.clone();
                self.validate(hop.addr.clone(), now);
                self.admit(now, hop);
            }
        }
    }

    /// Marks a misbehaving responder, but only when it answered us directly.
    /// (The rule predates signed answers, when a relayed responder id could
    /// frame anyone; an answer that reaches here is now signed by its
    /// responder, but the rule is unchanged.)
    fn strike(&mut self, responder: &PeerId, sender: &PeerId) {
        if responder == sender {
            if let Some(r) = self.contacts.reputation_mut(responder) {
                r.strikes = r.strikes.saturating_add(1);
            }
        }
    }

    pub(super) fn on_referral(&mut self, now: u64, from: A, sender: PeerId, referral: Referral<A>) {
        let Some(token) = self.elections.owner(&referral.ticket) else {
            let key = referral.token;
            self.relay(now, key, Message::Referral(referral));
            return;
        };
        self.admit_first_hop(now, &referral.ticket, sender, &from);
        self.note_direct_reply(&referral.ticket, &sender, &from);
        // Either way the referred channel is closed: follow the suggestion if
        // there is a fresh one, else open a replacement to another first hop.
        let next = match self.elections.on_referral(&referral, sender) {
            ReferralOutcome::Follow(hop) => Some(hop),
            ReferralOutcome::Replace => None,
            ReferralOutcome::Unmatched => {
                self.metrics.unmatched_replies += 1;
                return;
            }
        };
        // A referral names the next hop outright; following it sends a query
        // whose ticket its direct reply must carry, which is what admits it
        // (see `admit_first_hop`). Channels opened from the table use admitted
        // contacts only.
        if !next.is_some_and(|hop| self.open_channel_to(now, token, hop).is_some()) {
            self.open_channels(now, token, 1);
        }
        self.evaluate(now, token);
    }

    /// Sends a reply for someone else's query back along its reverse path,
    /// found by the reply's ticket and the `token` it is about.
    fn relay(&mut self, now: u64, token: TokenId, reply: Message<A>) {
        match self.forward.take(&(reply.ticket(), token), now) {
            Some(prev) => {
                self.metrics.replies_relayed += 1;
                self.send(prev, reply);
            }
            None => self.metrics.unmatched_replies += 1,
        }
    }
}
