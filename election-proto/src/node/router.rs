//! Responder and router (SPEC.md §8): answer, forward greedily, or refer; relay replies back.

use super::Node;
use crate::election::{AnswerAccepted, ElectionError, MessageTicket};
use crate::id::{ring_distance, PeerId, TokenId};
use crate::proof::{generate_signature, TokenMapping, SIGNATURE_SIZE};
use crate::store::TokenStore;
use crate::wire::{Address, Answer, Contact, Message, Query, Referral};

impl<A: Address, S: TokenStore> Node<A, S> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_query(
        &mut self,
        now: u64,
        from: A,
        sender: PeerId,
        token: TokenId,
        ticket: MessageTicket,
        challenger: PeerId,
        hops_left: u8,
    ) {
        self.contacts.observe(&self.me.id, sender, from.clone(), now);
        if challenger == self.me.id {
            // One of our own queries came back around: a loop.
            self.metrics.loops_cut += 1;
            return;
        }
        // 1. Answer if the store can sign for the challenger.
        if let Some(sig) = generate_signature(&self.store, &token, &challenger) {
            self.metrics.queries_answered += 1;
            let responder = self.me.clone();
            self.send(
                from,
                Message::Answer(Answer {
                    ticket,
                    answer: sig.answer,
                    signature: sig.signature,
                    responder,
                }),
            );
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
                        self.send(
                            next.addr,
                            Message::Query(Query {
                                token,
                                ticket,
                                challenger,
                                hops_left: hops_left - 1,
                            }),
                        );
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
        self.send(
            from,
            Message::Referral(Referral {
                ticket,
                token,
                high,
                low,
            }),
        );
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_answer(
        &mut self,
        now: u64,
        from: A,
        sender: PeerId,
        ticket: MessageTicket,
        answer: TokenMapping,
        signature: [TokenMapping; SIGNATURE_SIZE],
        responder: Contact<A>,
    ) {
        self.contacts.observe(&self.me.id, sender, from, now);
        let Some(token) = self.tickets.get(&ticket).copied() else {
            self.relay(now, ticket, answer.id, |t| {
                Message::Answer(Answer {
                    ticket: t,
                    answer,
                    signature,
                    responder,
                })
            });
            return;
        };
        if responder.id == self.me.id {
            self.metrics.unmatched_replies += 1;
            return;
        }
        let Some(active) = self.elections.get_mut(&token) else {
            self.tickets.remove(&ticket);
            self.metrics.unmatched_replies += 1;
            return;
        };
        match active
            .election
            .handle_answer(ticket, &answer, &signature, responder.id)
        {
            Ok(AnswerAccepted::New) => {
                active.sent_at.remove(&ticket);
                active.responders.insert(responder.id, responder.addr.clone());
                self.contacts
                    .observe(&self.me.id, responder.id, responder.addr, now);
                self.evaluate(now, token);
            }
            Ok(AnswerAccepted::Redelivery) => self.metrics.duplicate_answers += 1,
            Err(ElectionError::DuplicateResponse) | Err(ElectionError::ChannelBlocked) => {
                active.sent_at.remove(&ticket);
                self.metrics.conflicting_answers += 1;
                self.strike(&responder.id, &sender);
                self.evaluate(now, token);
            }
            Err(ElectionError::SignatureVerificationFailed(_)) => {
                self.metrics.invalid_signatures += 1;
                self.strike(&responder.id, &sender);
            }
            Err(_) => self.metrics.unmatched_replies += 1,
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

    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_referral(
        &mut self,
        now: u64,
        from: A,
        sender: PeerId,
        ticket: MessageTicket,
        token: TokenId,
        high: Contact<A>,
        low: Contact<A>,
    ) {
        self.contacts.observe(&self.me.id, sender, from, now);
        let Some(own_token) = self.tickets.get(&ticket).copied() else {
            self.relay(now, ticket, token, |t| {
                Message::Referral(Referral {
                    ticket: t,
                    token,
                    high,
                    low,
                })
            });
            return;
        };
        let Some(active) = self.elections.get_mut(&own_token) else {
            self.tickets.remove(&ticket);
            self.metrics.unmatched_replies += 1;
            return;
        };
        // Either way the referred channel is closed: follow the suggestion if
        // there is a fresh one, else open a replacement to another first hop.
        let next = match active
            .election
            .handle_referral(ticket, token, [high.id, low.id], sender)
        {
            Ok(next) => Some(if next == high.id {
                high.clone()
            } else {
                low.clone()
            }),
            Err(ElectionError::NoFreshReferral) => None,
            Err(_) => {
                self.metrics.unmatched_replies += 1;
                return;
            }
        };
        active.sent_at.remove(&ticket);
        self.tickets.remove(&ticket);
        self.contacts.observe(&self.me.id, high.id, high.addr, now);
        self.contacts.observe(&self.me.id, low.id, low.addr, now);
        if !next.is_some_and(|hop| self.open_channel_to(now, own_token, hop)) {
            self.open_channels(now, own_token, 1);
        }
        self.evaluate(now, own_token);
    }

    /// Sends a reply for someone else's query back along its reverse path.
    fn relay(
        &mut self,
        now: u64,
        ticket: MessageTicket,
        token: TokenId,
        build: impl FnOnce(MessageTicket) -> Message<A>,
    ) {
        match self.forward.take(&(ticket, token), now) {
            Some(prev) => {
                self.metrics.replies_relayed += 1;
                self.send(prev, build(ticket));
            }
            None => self.metrics.unmatched_replies += 1,
        }
    }
}
