//! Responder and router (docs/PROTOCOL.md §8): answer, forward greedily, or refer; relay replies back.
//!
//! Replies to our own channels are handed, by ticket, to the election runs
//! ([`super::run::Elections`]); this module only carries out what they say.

use super::run::{AnswerOutcome, ReferralOutcome};
use super::Node;
use crate::election::MessageTicket;
use crate::id::{ring_distance, PeerId, TokenId};
use crate::proof::generate_signature;
use crate::store::TokenStore;
use crate::wire::{Address, Answer, Message, Query, Referral};

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
        // 1. Answer if the store can sign for the challenger.
        if let Some(sig) = generate_signature(&self.store, &token, &challenger) {
            self.metrics.queries_answered += 1;
            let answer = Answer {
                ticket,
                answer: sig.answer,
                signature: sig.signature,
                responder: self.me.clone(),
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
                    if self.forward.insert(key, from.clone(), now) {
                        self.metrics.queries_forwarded += 1;
                        let onward = Query {
                            hops_left: hops_left - 1,
                            ..query
                        };
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

    pub(super) fn on_answer(&mut self, now: u64, from: A, sender: PeerId, answer: Answer<A>) {
        let Some(token) = self.elections.owner(&answer.ticket) else {
            let key = answer.answer.id;
            self.relay(now, key, Message::Answer(answer));
            return;
        };
        self.admit_first_hop(now, &answer.ticket, sender, &from);
        if answer.responder.id == self.me.id {
            self.metrics.unmatched_replies += 1;
            return;
        }
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

    /// A reply to one of our channels came from `sender` at `from`: if that is
    /// the channel's first hop at the address the query went to, the ticket
    /// (drawn from our secret) proves it reachable there.
    fn admit_first_hop(&mut self, now: u64, ticket: &MessageTicket, sender: PeerId, from: &A) {
        if let Some(hop) = self.elections.first_hop(ticket) {
            if hop.id == sender && hop.addr == *from {
                let hop = hop.clone();
                self.admit(now, hop);
            }
        }
    }

    /// Marks a misbehaving responder, but only when it answered us directly: a
    /// relayed answer's responder id is unauthenticated and could frame anyone.
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
