//! The `decode` harness, and the structured envelopes ([`EnvelopeSpec`]) the
//! `node` harness and the replay generator also build datagrams from.

use crate::fixtures::{
    block_for, forge, proof_from, sign_answer, store, ContactSel, Forgery, PeerSel, StoreKind, TokenSel,
};
use arbitrary::{Arbitrary, Unstructured};
use election_proto::election::MessageTicket;
use election_proto::keys::Signature;
use election_proto::proof::{generate_signature, TokenMapping, TokenSignature, SIGNATURE_SIZE};
use election_proto::wire::MAX_NEIGHBOURS;
use election_proto::wire::{self, DecodeError, Envelope, Message, MAX_DATAGRAM_LEN, PROTOCOL_VERSION};
use std::net::SocketAddr;

/// Feeds `data` to [`wire::decode`] (as `u32` addresses and as
/// [`SocketAddr`], the address `runtime-std` puts on the wire: an enum-tagged
/// address).
///
/// Invariants: never panics; whatever decodes re-encodes to exactly `data` and
/// decodes again to the same envelope; every error names the right reason
/// (empty, oversized, version byte, trailing bytes), and a [`DecodeError`]
/// variant this harness does not know fails the run until its invariant is
/// added here. Returns whether `data` decoded as a `u32` envelope.
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
            // `DecodeError` is `#[non_exhaustive]`: a new reason needs its own check above.
            Err(e) => panic!("decode returned {e:?}, a reason the harness does not check"),
        }
    }
    let ok = check::<u32>(data);
    check::<SocketAddr>(data);
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
        /// Replace the responder's signature with garbage (wire v2).
        bad_auth: bool,
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
    /// A [`Message::Ping`].
    Ping {
        /// Nonce (small values pick one the node used).
        nonce: u64,
        /// The id the ping is for.
        target: PeerSel,
        /// The pinger's key bytes (wire v2).
        key: [u8; 32],
        /// Its proof-of-work nonce.
        pow: u64,
    },
    /// A [`Message::Pong`].
    Pong {
        /// Nonce (small values pick one the node used).
        nonce: u64,
        /// The ponger's key: its real one (for the pool and the node) or raw bytes.
        key: KeySel,
        /// Its proof-of-work nonce.
        pow: u64,
    },
    /// A [`Message::FindNeighbours`].
    FindNeighbours {
        /// The point looked around.
        target: PeerSel,
        /// Nonce.
        nonce: u64,
        /// Zero padding bytes.
        padding: u8,
    },
    /// A [`Message::Neighbours`] (at most [`MAX_NEIGHBOURS`] contacts).
    Neighbours {
        /// Nonce (small values pick one the node used).
        nonce: u64,
        /// Named contacts.
        contacts: Vec<ContactSel>,
    },
    /// A [`Message::Retry`] (arbitrary cookie).
    Retry {
        /// Ticket (small values pick one the node used).
        ticket: u64,
        /// Token.
        token: TokenSel,
        /// Cookie.
        cookie: [u8; wire::COOKIE_LEN],
    },
    /// A [`Message::CookieQuery`] (arbitrary cookie: a node must reject it).
    CookieQuery {
        /// Token.
        token: TokenSel,
        /// Ticket.
        ticket: u64,
        /// Challenger.
        challenger: PeerSel,
        /// Hop limit.
        hops_left: u8,
        /// Cookie.
        cookie: [u8; wire::COOKIE_LEN],
    },
}

/// The public key a message carries (wire v2).
#[derive(Clone, Copy, Debug, Arbitrary)]
pub enum KeySel {
    /// The key of a pool peer (index mod pool size).
    Pool(u8),
    /// Any 32 bytes (usually not a valid point, never the right id's).
    Raw([u8; 32]),
}

impl KeySel {
    fn key(self) -> election_proto::PublicKey {
        match self {
            KeySel::Pool(i) => crate::fixtures::key_of(&crate::fixtures::pool_peer(i)).public(),
            KeySel::Raw(b) => election_proto::PublicKey(b),
        }
    }
}

impl MessageSpec {
    pub(crate) fn message(&self, tickets: &[MessageTicket]) -> Message<u32> {
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
            } => Message::Query(election_proto::wire::Query {
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
                bad_auth,
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
                let ticket = ticket(*t);
                let responder = responder.contact();
                // Signed by the responder's key (a stranger's key for ids outside the pool).
                let proof = proof_from(*kind, &challenger, &responder.id, &token);
                let (key, auth) = sign_answer(&challenger, ticket, &token, &sig, &proof, &responder);
                Message::Answer(election_proto::wire::Answer {
                    ticket,
                    answer: sig.answer,
                    signature: sig.signature,
                    proof,
                    responder,
                    key: key.public(),
                    pow: 0,
                    auth: if *bad_auth {
                        Signature::from_bytes([0x5a; 64])
                    } else {
                        auth
                    },
                })
            }
            MessageSpec::Referral {
                ticket: t,
                token,
                high,
                low,
            } => Message::Referral(election_proto::wire::Referral {
                ticket: ticket(*t),
                token: token.token(),
                high: high.contact(),
                low: low.contact(),
            }),
            MessageSpec::Ping {
                nonce,
                target,
                key,
                pow,
            } => Message::Ping(election_proto::wire::Ping {
                nonce: ticket(*nonce).0,
                target: target.peer(),
                key: election_proto::PublicKey(*key),
                pow: *pow,
            }),
            MessageSpec::Pong { nonce, key, pow } => Message::Pong(election_proto::wire::Pong {
                nonce: ticket(*nonce).0,
                key: key.key(),
                pow: *pow,
            }),
            MessageSpec::FindNeighbours {
                target,
                nonce,
                padding,
            } => Message::FindNeighbours(election_proto::wire::FindNeighbours {
                target: target.peer(),
                nonce: *nonce,
                padding: vec![0; usize::from(*padding)],
            }),
            MessageSpec::Neighbours { nonce, contacts } => {
                Message::Neighbours(election_proto::wire::Neighbours {
                    nonce: ticket(*nonce).0,
                    contacts: contacts
                        .iter()
                        .take(MAX_NEIGHBOURS)
                        .map(|c| c.contact())
                        .collect(),
                })
            }
            MessageSpec::Retry {
                ticket: t,
                token,
                cookie,
            } => Message::Retry(wire::Retry {
                ticket: ticket(*t),
                token: token.token(),
                cookie: *cookie,
            }),
            MessageSpec::CookieQuery {
                token,
                ticket: t,
                challenger,
                hops_left,
                cookie,
            } => Message::CookieQuery(wire::CookieQuery {
                query: election_proto::wire::Query {
                    token: token.token(),
                    ticket: ticket(*t),
                    challenger: challenger.peer(),
                    hops_left: *hops_left,
                },
                cookie: *cookie,
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
