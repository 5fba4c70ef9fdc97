//! Messages and their datagram encoding (docs/PROTOCOL.md §7).
//!
//! Every datagram is one byte of [`PROTOCOL_VERSION`] followed by the
//! [postcard](https://docs.rs/postcard) encoding of an [`Envelope`]. The codec is
//! generic over the transport address carried in a [`Contact`]: runtimes use
//! [`std::net::SocketAddr`], the simulator uses `u32` node indices; anything
//! meeting the [`Address`] bounds works.
//!
//! # Guarantees
//!
//! - [`decode`] never panics, whatever the input. Every rejected datagram is a
//!   [`DecodeError`] value; the size cap is checked before anything is parsed.
//! - Decoding is strict and the encoding is canonical: if `decode(bytes)` returns
//!   `Ok(env)`, then `encode(&env)` returns exactly `bytes`. Postcard alone accepts
//!   over-long varints (for example `0x80 0x00` for zero), so [`decode`] re-encodes
//!   what it parsed and rejects any datagram that is not the one canonical form
//!   ([`DecodeError::Malformed`]). Consequently two datagrams carry equal envelopes
//!   exactly when their bytes are equal.
//! - Round trip: for every envelope whose encoding fits [`MAX_DATAGRAM_LEN`],
//!   `decode(&encode(&env)?) == Ok(env)`, with one caveat inherited from serde:
//!   a [`std::net::SocketAddrV6`] is carried as address and port only; its
//!   `flowinfo` and `scope_id` are not sent and decode as `0`.
//! - The wire tag of each [`Message`] variant is its declaration order (`Query` = 0,
//!   `Answer` = 1, `Referral` = 2, `Ping` = 3, `Pong` = 4, `FindNeighbours` = 5,
//!   `Neighbours` = 6, `Retry` = 7, `CookieQuery` = 8); reordering the variants
//!   changes the protocol.
//!
//! # Datagram sizes
//!
//! Wire version 2 (docs/WIRE.md). Measured by the tests `tests::datagram_sizes`
//! and `tests::membership_datagram_sizes_and_the_reply_factor` here and
//! `runtime-std/tests/wire_socket_addr.rs` (version byte included). Integers
//! are postcard varints, so sizes depend on values; "max" uses the largest ticket
//! or nonce and proof-of-work nonce (`u64::MAX`, 10 bytes each), the largest
//! port and the largest `u32`, "min" uses zero for all of them. Tickets and
//! nonces are hashes, so real datagrams are near the max less 6–9 bytes of
//! proof-of-work nonce (0 with no difficulty, about 4 bytes at 24 bits).
//! `Neighbours` is measured with 8 contacts, `FindNeighbours` unpadded (nodes
//! pad it to [`FIND_NEIGHBOURS_PADDED_LEN`]).
//!
//! | message          | `u32` min..max | `SocketAddr` V4 min..max | `SocketAddr` V6 min..max |
//! |------------------|----------------|--------------------------|--------------------------|
//! | `Query`          | 100..109       | 100..109                 | 100..109                 |
//! | `Answer`         | 869..891       | 874..894                 | 886..906                 |
//! | `Referral`       | 133..150       | 143..156                 | 167..180                 |
//! | `Ping`           | 100..118       | 100..118                 | 100..118                 |
//! | `Pong`           | 68..86         | 68..86                   | 68..86                   |
//! | `FindNeighbours` | 68..77         | 68..77                   | 68..77                   |
//! | `Neighbours` (8) | 300..341       | 340..365                 | 436..461                 |
//! | `Retry`          | 83..92         | 83..92                   | 83..92                   |
//! | `CookieQuery`    | 116..125       | 116..125                 | 116..125                 |
//!
//! Every message fits [`MAX_DATAGRAM_LEN`] (1200 bytes, below the IPv6 minimum MTU
//! of 1280 minus headers) for these address types.

use crate::election::MessageTicket;
use crate::id::{PeerId, TokenId};
use crate::keys::{PublicKey, Signature};
use crate::proof::{PossessionProof, TokenMapping, SIGNATURE_SIZE};
use core::fmt;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Version byte that starts every datagram. A datagram with any other first byte
/// is rejected with [`DecodeError::UnknownVersion`].
pub const PROTOCOL_VERSION: u8 = 3;

/// Largest datagram, in bytes (version byte included), that [`encode`] produces
/// and [`decode`] accepts. Longer input is rejected before it is parsed.
pub const MAX_DATAGRAM_LEN: usize = 1200;

/// A transport address a [`Contact`] can carry.
///
/// Implemented for every type with these bounds (for example
/// [`std::net::SocketAddr`] and `u32`). The ordering and hashing bounds let the
/// core keep addresses in ordered maps and sets, so behaviour never depends on
/// hash iteration order.
pub trait Address: Clone + Eq + Ord + core::hash::Hash + fmt::Debug + Serialize + DeserializeOwned {
    /// The groups this address belongs to, for the contact table's per-IP and
    /// per-subnet caps. Derived from the address's wire encoding
    /// ([`AddressGroups::of_encoding`]), so the core needs no networking types.
    fn groups(&self) -> AddressGroups {
        let mut buf = Vec::with_capacity(24);
        match postcard::serialize_with_flavor(self, Append(&mut buf)) {
            Ok(()) => AddressGroups::of_encoding(&buf),
            Err(_) => AddressGroups::of_encoding(&[]),
        }
    }
}

/// A key naming one group of addresses (one host, or one subnet).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupKey([u8; 20]);

/// How loopback addresses (127.0.0.0/8, `::1`) are grouped for the contact
/// caps; see [`AddressGroups`] and [`set_loopback_groups`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum LoopbackGroups {
    /// Each loopback address *and port* is its own host and subnet: many
    /// nodes on 127.0.0.1 (a local demo or test cluster) do not crowd each
    /// other out. The default.
    #[default]
    PerPort,
    /// Loopback addresses are grouped like any other (by IP and /24 or /64):
    /// the caps bite on many sockets of one address, as they do on real
    /// networks. For tests of the caps on 127.x.y.z addresses.
    PerIp,
}

static LOOPBACK_PER_IP: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Sets how every node in this process groups loopback addresses from now on
/// (process-wide: it is a property of the host's addresses, not of one node;
/// set it before starting nodes, as contacts already admitted keep the groups
/// they were admitted with).
pub fn set_loopback_groups(groups: LoopbackGroups) {
    LOOPBACK_PER_IP.store(
        groups == LoopbackGroups::PerIp,
        core::sync::atomic::Ordering::Relaxed,
    );
}

/// How this process groups loopback addresses (see [`set_loopback_groups`]).
pub fn loopback_groups() -> LoopbackGroups {
    if LOOPBACK_PER_IP.load(core::sync::atomic::Ordering::Relaxed) {
        LoopbackGroups::PerIp
    } else {
        LoopbackGroups::PerPort
    }
}

/// The two groups an address falls in: its host (`ip`) and its subnet (`subnet`).
///
/// | address (its postcard encoding)            | `ip`                  | `subnet`            |
/// |--------------------------------------------|-----------------------|---------------------|
/// | `SocketAddr` V4 (tag 0, 4 bytes, port)     | the IPv4 address      | its /24             |
/// | `SocketAddr` V6 (tag 1, 16 bytes, port)    | the IPv6 address      | its /64             |
/// | loopback (127.0.0.0/8, `::1`), [`LoopbackGroups::PerPort`] | address **and port** | same as `ip`        |
/// | `u32` (a varint of 1..=5 bytes)            | the value             | its low 24 bits     |
/// | anything else                              | the whole encoding    | same as `ip`        |
///
/// Loopback is grouped by port because a test or demo cluster runs many
/// nodes on 127.0.0.1: each local socket counts as its own host. That rule is
/// the process-wide setting [`LoopbackGroups::PerPort`] (the default); with
/// [`LoopbackGroups::PerIp`] ([`set_loopback_groups`]) loopback addresses are
/// grouped like any other (IPv4 by address and /24, so 127.0.1.1 and
/// 127.0.2.1 are two hosts in two subnets; `::1` by address and /64), and
/// the per-host and per-subnet caps apply to many sockets on one address. A `u32` is
/// read as an IPv4 address whose *first* octet is its lowest byte, so
/// consecutive integers (simulator node indices, test addresses) fall in
/// different /24s, while values that differ only in their top byte share one
/// (the simulator puts attackers' addresses there).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AddressGroups {
    /// The host: at most `max_contacts_per_ip` contacts share it.
    pub ip: GroupKey,
    /// The subnet: at most `max_contacts_per_subnet` contacts share it.
    pub subnet: GroupKey,
}

impl AddressGroups {
    /// Groups from an address's postcard encoding (see the type's table),
    /// loopback grouped as the process-wide [`loopback_groups`] says.
    pub fn of_encoding(bytes: &[u8]) -> Self {
        Self::of_encoding_with(bytes, loopback_groups())
    }

    /// Groups from an address's postcard encoding, loopback grouped by `loopback`.
    pub fn of_encoding_with(bytes: &[u8], loopback: LoopbackGroups) -> Self {
        let per_port = loopback == LoopbackGroups::PerPort;
        let key = |family: u8, part: &[u8]| {
            let mut k = [0u8; 20];
            k[0] = family;
            let n = part.len().min(19);
            k[1..1 + n].copy_from_slice(&part[..n]);
            GroupKey(k)
        };
        let port_ok =
            |rest: &[u8]| matches!(postcard::take_from_bytes::<u16>(rest), Ok((_, r)) if r.is_empty());
        match bytes {
            [0, ip @ ..] if bytes.len() >= 6 && bytes.len() <= 8 && port_ok(&bytes[5..]) => {
                let ip = &ip[..4];
                if ip[0] == 127 && per_port {
                    let k = key(3, &bytes[1..]);
                    return Self { ip: k, subnet: k };
                }
                Self {
                    ip: key(1, ip),
                    subnet: key(2, &ip[..3]),
                }
            }
            [1, ip @ ..] if bytes.len() >= 18 && bytes.len() <= 20 && port_ok(&bytes[17..]) => {
                let ip = &ip[..16];
                let mut loopback = [0u8; 16];
                loopback[15] = 1;
                if ip == loopback && per_port {
                    let k = key(6, &bytes[1..]);
                    return Self { ip: k, subnet: k };
                }
                Self {
                    ip: key(4, ip),
                    subnet: key(5, &ip[..8]),
                }
            }
            _ if (1..=5).contains(&bytes.len()) => match postcard::take_from_bytes::<u32>(bytes) {
                Ok((v, [])) => {
                    let v = v.to_le_bytes();
                    Self {
                        ip: key(7, &v),
                        subnet: key(8, &v[..3]),
                    }
                }
                _ => Self::opaque(bytes),
            },
            _ => Self::opaque(bytes),
        }
    }

    /// One group of its own for an address of no known shape.
    fn opaque(bytes: &[u8]) -> Self {
        let mut k = [0u8; 20];
        k[0] = 9;
        k[1..].copy_from_slice(&blake3::hash(bytes).as_bytes()[..19]);
        Self {
            ip: GroupKey(k),
            subnet: GroupKey(k),
        }
    }
}

impl<T> Address for T where T: Clone + Eq + Ord + core::hash::Hash + fmt::Debug + Serialize + DeserializeOwned {}

/// A peer and the transport address it can be reached at.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Contact<A> {
    /// The peer's identity on the ring.
    pub id: PeerId,
    /// Where to send datagrams for this peer.
    pub addr: A,
}

/// A protocol message (docs/PROTOCOL.md §7).
///
/// The variant order is the wire tag order and is part of the protocol. Each
/// variant holds one struct; postcard encodes a newtype variant exactly like a
/// struct variant with the same fields (tag, then the fields in declaration
/// order), so the field order of [`Query`], [`Answer`] and [`Referral`] is part
/// of the protocol too.
///
/// An `Answer` takes over 700 bytes in memory, the other variants about 100; the
/// signature stays inline because a message is a short-lived decode result and
/// answers are the common case, so boxing would only add an allocation each.
// Deliberate, see above.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Message<A> {
    /// Asks the receiver to prove it stores a token, or to route the query onward.
    Query(Query),
    /// A proof-of-storage answer to a [`Query`].
    Answer(Answer<A>),
    /// The receiver cannot answer; it names its nearest known peers around the token.
    Referral(Referral<A>),
    /// Asks the receiver to prove it is reachable at this address (tag 3).
    Ping(Ping),
    /// The reply to a [`Ping`], echoing its nonce (tag 4).
    Pong(Pong),
    /// Asks the receiver for the peers it knows nearest a target (tag 5).
    FindNeighbours(FindNeighbours),
    /// The reply to a [`FindNeighbours`] (tag 6).
    Neighbours(Neighbours<A>),
    /// Instead of an answer, to a [`Query`] from an address not yet validated:
    /// a cookie to resend the query with (tag 7, docs/PROTOCOL.md "Address
    /// validation (anti-amplification)"). Never larger than the query.
    Retry(Retry),
    /// A [`Query`] resent with the cookie a [`Retry`] gave (tag 8).
    CookieQuery(CookieQuery),
}

/// Most contacts a [`Neighbours`] reply may carry; [`decode`] rejects more as
/// [`DecodeError::Malformed`].
pub const MAX_NEIGHBOURS: usize = 16;

/// Length a [`FindNeighbours`] datagram is padded to by this crate's nodes
/// (version byte included). A reply is never more than
/// [`REPLY_FACTOR`] times its request, so the padding is what lets an honest
/// requester receive a full reply: with 8 IPv6 contacts a [`Neighbours`] reply
/// is 461 bytes, which needs a request of at least 154.
pub const FIND_NEIGHBOURS_PADDED_LEN: usize = 160;

/// A reply to a request is at most this many times the request's size, in
/// bytes (for the new membership messages; an [`Answer`] to a [`Query`] is
/// larger, see docs/PROTOCOL.md §7).
pub const REPLY_FACTOR: usize = 3;

/// Asks the receiver to prove it is reachable: it must answer with a [`Pong`]
/// carrying the same `nonce`, from the address the ping was sent to, with
/// `target` as the envelope's sender.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Ping {
    /// Chosen at random by the pinger; the pong must echo it.
    pub nonce: u64,
    /// The id the pinger expects to answer. A node answers only pings for its own id.
    pub target: PeerId,
    /// The pinger's public key (wire v2). Informational: this crate does not
    /// check it (an unsolicited ping must not buy a proof-of-work check; the
    /// pinger is admitted by the pong to a ping of our own). It keeps every
    /// ping at least as large as its pong.
    pub key: PublicKey,
    /// The pinger's identity proof of work for `key` (wire v2).
    pub pow: u64,
}

/// The answer to a [`Ping`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Pong {
    /// The ping's nonce.
    pub nonce: u64,
    /// The ponger's public key: the pinger admits it only if
    /// `BLAKE3(key)` is the pinged id (wire v2).
    pub key: PublicKey,
    /// The ponger's identity proof of work for `key`
    /// ([`crate::keys::pow_valid`]); checked when the pinger's difficulty is
    /// above zero (wire v2).
    pub pow: u64,
}

/// Asks the receiver for the contacts it knows nearest `target` on the ring.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FindNeighbours {
    /// The point of the ring the requester is looking around.
    pub target: PeerId,
    /// Chosen at random by the requester; the reply must echo it.
    pub nonce: u64,
    /// Zero bytes that make the request large enough for a full reply (see
    /// [`FIND_NEIGHBOURS_PADDED_LEN`]); any non-zero byte makes the datagram
    /// [`DecodeError::Malformed`].
    pub padding: Vec<u8>,
}

/// The reply to a [`FindNeighbours`]: up to [`MAX_NEIGHBOURS`] admitted
/// contacts of the sender, nearest the target first, trimmed so the datagram
/// is at most [`REPLY_FACTOR`] times the request.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Neighbours<A> {
    /// The request's nonce.
    pub nonce: u64,
    /// The contacts (only candidates to the receiver until they prove reachability).
    pub contacts: Vec<Contact<A>>,
}

/// Length of an address-validation cookie, in bytes.
pub const COOKIE_LEN: usize = 16;

/// An address-validation cookie: the first [`COOKIE_LEN`] bytes of a keyed
/// BLAKE3 hash of the receiver's address and a time epoch, under a key only
/// the issuing node knows. Opaque to everyone else.
pub type Cookie = [u8; COOKIE_LEN];

/// The reply to a [`Query`] from an address that has not proven it receives
/// there: no answer yet, only a cookie bound to that address. The querier (the
/// challenger, or a relay that forwarded the query) resends the query as a
/// [`CookieQuery`] to the address the Retry came from. `ticket` and `token`
/// name the query, so the querier needs no state beyond what it keeps for the
/// query anyway.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Retry {
    /// The ticket of the query being deferred.
    pub ticket: MessageTicket,
    /// The token that query is about.
    pub token: TokenId,
    /// Proof, on return, that the querier receives at its address.
    pub cookie: Cookie,
}

/// A [`Query`] resent with the cookie from a [`Retry`]: a receiver that issued
/// the cookie for the sender's address (in this epoch or the previous one)
/// treats the address as validated and handles the query as usual.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CookieQuery {
    /// The query, as first sent.
    pub query: Query,
    /// The cookie the [`Retry`] carried.
    pub cookie: Cookie,
}

/// Asks the receiver to prove it stores `token`, or to route the query onward.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Query {
    /// The challenged token.
    pub token: TokenId,
    /// Ties the reply to the challenger's channel.
    pub ticket: MessageTicket,
    /// The node that started the election; answers are signed for it, not for
    /// whoever forwarded the query.
    pub challenger: PeerId,
    /// How many more times the query may be forwarded.
    pub hops_left: u8,
}

/// A proof-of-storage answer to a [`Query`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Answer<A> {
    /// The ticket of the query being answered.
    pub ticket: MessageTicket,
    /// The challenged token and the block the responder holds for it.
    pub answer: TokenMapping,
    /// The signature walk: steps `0..5` clockwise, `5..10` counter-clockwise.
    pub signature: [TokenMapping; SIGNATURE_SIZE],
    /// The possession proof (wire v3): tags only a holder of the blocks near
    /// the token can compute for this responder's id
    /// ([`crate::proof::generate_proof`]).
    pub proof: PossessionProof,
    /// The node that produced the answer. Its address is signed; its id is
    /// `BLAKE3(key)`.
    pub responder: Contact<A>,
    /// The responder's public key (wire v2).
    pub key: PublicKey,
    /// The responder's identity proof of work for `key` (wire v2; 0 when the
    /// network asks for none).
    pub pow: u64,
    /// The responder's Ed25519 signature over
    /// [`crate::keys::answer_signed_bytes`] (wire v2).
    pub auth: Signature,
}

/// The receiver of a [`Query`] cannot answer it; it names its nearest known
/// peers around `token`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Referral<A> {
    /// The ticket of the query being referred.
    pub ticket: MessageTicket,
    /// The token the query was about.
    pub token: TokenId,
    /// Nearest known peer clockwise of the token.
    pub high: Contact<A>,
    /// Nearest known peer counter-clockwise of the token.
    pub low: Contact<A>,
}

impl<A> Message<A> {
    /// Which kind of message this is.
    pub fn kind(&self) -> MessageKind {
        match self {
            Message::Query(_) => MessageKind::Query,
            Message::Answer(_) => MessageKind::Answer,
            Message::Referral(_) => MessageKind::Referral,
            Message::Ping(_) => MessageKind::Ping,
            Message::Pong(_) => MessageKind::Pong,
            Message::FindNeighbours(_) => MessageKind::FindNeighbours,
            Message::Neighbours(_) => MessageKind::Neighbours,
            Message::Retry(_) => MessageKind::Retry,
            Message::CookieQuery(_) => MessageKind::CookieQuery,
        }
    }

    /// The ticket an election message carries, or the nonce of a membership
    /// message (as a ticket; every kind carries one of the two).
    pub fn ticket(&self) -> MessageTicket {
        match self {
            Message::Query(q) => q.ticket,
            Message::Answer(a) => a.ticket,
            Message::Referral(r) => r.ticket,
            Message::Ping(p) => MessageTicket(p.nonce),
            Message::Pong(p) => MessageTicket(p.nonce),
            Message::FindNeighbours(f) => MessageTicket(f.nonce),
            Message::Neighbours(n) => MessageTicket(n.nonce),
            Message::Retry(r) => r.ticket,
            Message::CookieQuery(c) => c.query.ticket,
        }
    }

    /// Whether the message obeys the limits `decode` enforces beyond the
    /// postcard grammar: at most [`MAX_NEIGHBOURS`] contacts, zero padding.
    fn within_limits(&self) -> bool {
        match self {
            Message::Neighbours(n) => n.contacts.len() <= MAX_NEIGHBOURS,
            Message::FindNeighbours(f) => f.padding.iter().all(|b| *b == 0),
            Message::Query(_)
            | Message::Answer(_)
            | Message::Referral(_)
            | Message::Ping(_)
            | Message::Pong(_)
            | Message::Retry(_)
            | Message::CookieQuery(_) => true,
        }
    }
}

/// The kind of a [`Message`], without its payload. Handy for metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum MessageKind {
    /// [`Message::Query`].
    Query,
    /// [`Message::Answer`].
    Answer,
    /// [`Message::Referral`].
    Referral,
    /// [`Message::Ping`].
    Ping,
    /// [`Message::Pong`].
    Pong,
    /// [`Message::FindNeighbours`].
    FindNeighbours,
    /// [`Message::Neighbours`].
    Neighbours,
    /// [`Message::Retry`].
    Retry,
    /// [`Message::CookieQuery`].
    CookieQuery,
}

impl MessageKind {
    /// Number of kinds; the length of a per-kind metrics array.
    pub const COUNT: usize = 9;

    /// Every kind, in declaration order. `ALL[k.index()] == k` for every kind `k`.
    pub const ALL: [MessageKind; Self::COUNT] = [
        MessageKind::Query,
        MessageKind::Answer,
        MessageKind::Referral,
        MessageKind::Ping,
        MessageKind::Pong,
        MessageKind::FindNeighbours,
        MessageKind::Neighbours,
        MessageKind::Retry,
        MessageKind::CookieQuery,
    ];

    /// Whether this kind belongs to membership (discovery and admission)
    /// rather than to elections.
    pub const fn is_membership(self) -> bool {
        matches!(
            self,
            MessageKind::Ping | MessageKind::Pong | MessageKind::FindNeighbours | MessageKind::Neighbours
        )
    }

    /// Position of this kind in [`MessageKind::ALL`]: a dense index in
    /// `0..MessageKind::COUNT`, usable to index per-kind arrays.
    pub const fn index(self) -> usize {
        match self {
            MessageKind::Query => 0,
            MessageKind::Answer => 1,
            MessageKind::Referral => 2,
            MessageKind::Ping => 3,
            MessageKind::Pong => 4,
            MessageKind::FindNeighbours => 5,
            MessageKind::Neighbours => 6,
            MessageKind::Retry => 7,
            MessageKind::CookieQuery => 8,
        }
    }

    /// Snake_case name (`"query"`, `"answer"`, `"referral"`, `"ping"`, `"pong"`,
    /// `"find_neighbours"`, `"neighbours"`, `"retry"`, `"cookie_query"`), e.g.
    /// for metric labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            MessageKind::Query => "query",
            MessageKind::Answer => "answer",
            MessageKind::Referral => "referral",
            MessageKind::Ping => "ping",
            MessageKind::Pong => "pong",
            MessageKind::FindNeighbours => "find_neighbours",
            MessageKind::Neighbours => "neighbours",
            MessageKind::Retry => "retry",
            MessageKind::CookieQuery => "cookie_query",
        }
    }
}

impl fmt::Display for MessageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one datagram carries: the sending peer and one message.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Envelope<A> {
    /// Identity the sender claims (not authenticated by the codec).
    pub sender: PeerId,
    /// The message.
    pub message: Message<A>,
}

/// Why [`encode`] could not produce a datagram.
///
/// Neither happens for `u32` or [`std::net::SocketAddr`] addresses: their largest
/// message is 906 bytes (see the module docs) and they always serialize.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// The datagram would be `len` bytes, more than [`MAX_DATAGRAM_LEN`] (only
    /// possible with an address type whose encoding is hundreds of bytes).
    Oversized {
        /// Length the datagram would have had, version byte included.
        len: usize,
    },
    /// The address type's `Serialize` impl failed or used a form postcard cannot
    /// encode (for example a sequence of unknown length).
    Unencodable,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Oversized { len } => write!(
                f,
                "encoded datagram is {len} bytes, above the {MAX_DATAGRAM_LEN}-byte cap"
            ),
            Self::Unencodable => f.write_str("address type cannot be encoded with postcard"),
        }
    }
}

impl std::error::Error for EncodeError {}

/// Why [`decode`] rejected a datagram. Checks run in the order of the variants,
/// except that the canonical-encoding check (reported as
/// [`Malformed`](DecodeError::Malformed)) runs last, after
/// [`TrailingBytes`](DecodeError::TrailingBytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The datagram has no bytes at all.
    Empty,
    /// The datagram is longer than [`MAX_DATAGRAM_LEN`]; nothing was parsed.
    Oversized {
        /// Length of the datagram.
        len: usize,
    },
    /// The first byte is not [`PROTOCOL_VERSION`]; it holds the byte seen.
    UnknownVersion(u8),
    /// The body is not the canonical encoding of an [`Envelope`]: it ends early,
    /// has an unknown message tag, an invalid or over-long varint, or an address
    /// the address type rejects.
    Malformed,
    /// A complete envelope was followed by `count` extra bytes.
    TrailingBytes {
        /// Number of bytes after the envelope.
        count: usize,
    },
}

impl DecodeError {
    /// Number of kinds of decode error; the length of a per-kind counter array.
    pub const COUNT: usize = 5;

    /// Snake_case name of each kind, indexed by [`DecodeError::index`].
    pub const NAMES: [&'static str; Self::COUNT] = [
        "empty",
        "oversized",
        "unknown_version",
        "malformed",
        "trailing_bytes",
    ];

    /// Dense index of this error's kind in `0..DecodeError::COUNT` (its payload ignored).
    pub const fn index(&self) -> usize {
        match self {
            Self::Empty => 0,
            Self::Oversized { .. } => 1,
            Self::UnknownVersion(_) => 2,
            Self::Malformed => 3,
            Self::TrailingBytes { .. } => 4,
        }
    }

    /// Snake_case name of this error's kind, for reports and metric labels.
    pub const fn name(&self) -> &'static str {
        Self::NAMES[self.index()]
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("empty datagram"),
            Self::Oversized { len } => write!(
                f,
                "datagram is {len} bytes, above the {MAX_DATAGRAM_LEN}-byte cap"
            ),
            Self::UnknownVersion(v) => write!(f, "unknown protocol version {v}"),
            Self::Malformed => f.write_str("malformed envelope"),
            Self::TrailingBytes { count } => {
                write!(f, "{count} trailing bytes after the envelope")
            }
        }
    }
}

impl std::error::Error for DecodeError {}

/// Encodes `env` as one datagram: [`PROTOCOL_VERSION`], then the postcard bytes.
///
/// The result is at most [`MAX_DATAGRAM_LEN`] bytes and [`decode`] maps it back to
/// `env` (see the module docs for the `SocketAddrV6` caveat). For `u32` and
/// [`std::net::SocketAddr`] addresses this never fails.
pub fn encode<A: Address>(env: &Envelope<A>) -> Result<Vec<u8>, EncodeError> {
    // One allocation in the common case, without holding a full 1200-byte
    // buffer for the small messages that dominate traffic.
    let mut out = Vec::with_capacity(match env.message {
        Message::Answer(_) => 1024,
        Message::Query(_)
        | Message::Referral(_)
        | Message::Ping(_)
        | Message::Pong(_)
        | Message::FindNeighbours(_)
        | Message::Neighbours(_)
        | Message::Retry(_)
        | Message::CookieQuery(_) => 256,
    });
    encode_into(env, &mut out)?;
    Ok(out)
}

/// Appends the datagram for `env` to `out`, reusing its allocation.
///
/// Produces the same bytes as [`encode`]. On error `out` is left exactly as it was
/// (truncated back to its original length). The [`MAX_DATAGRAM_LEN`] cap applies
/// to the appended bytes, not to whatever `out` already held.
pub fn encode_into<A: Address>(env: &Envelope<A>, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let start = out.len();
    out.push(PROTOCOL_VERSION);
    let result = match postcard::serialize_with_flavor(env, Append(out)) {
        Err(_) => Err(EncodeError::Unencodable),
        Ok(()) => {
            let len = out.len() - start;
            if len > MAX_DATAGRAM_LEN {
                Err(EncodeError::Oversized { len })
            } else {
                Ok(())
            }
        }
    };
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// Decodes one datagram produced by [`encode`].
///
/// Checks, in order: not empty, at most [`MAX_DATAGRAM_LEN`] bytes, version byte,
/// a postcard [`Envelope`] with nothing after it, and that the body is the
/// canonical encoding of what was parsed. Never panics; every failure is a
/// [`DecodeError`]. On success, `encode` of the result gives back `bytes` exactly.
pub fn decode<A: Address>(bytes: &[u8]) -> Result<Envelope<A>, DecodeError> {
    let (&version, body) = bytes.split_first().ok_or(DecodeError::Empty)?;
    if bytes.len() > MAX_DATAGRAM_LEN {
        return Err(DecodeError::Oversized { len: bytes.len() });
    }
    if version != PROTOCOL_VERSION {
        return Err(DecodeError::UnknownVersion(version));
    }
    let (env, rest) = postcard::take_from_bytes::<Envelope<A>>(body).map_err(|_| DecodeError::Malformed)?;
    if !rest.is_empty() {
        return Err(DecodeError::TrailingBytes { count: rest.len() });
    }
    // Postcard accepts over-long varints; re-encode and demand the same bytes so
    // each envelope has exactly one accepted datagram.
    postcard::serialize_with_flavor(&env, Matches { expected: body }).map_err(|_| DecodeError::Malformed)?;
    if !env.message.within_limits() {
        return Err(DecodeError::Malformed);
    }
    Ok(env)
}

/// Postcard flavor that appends to a borrowed `Vec`, so the caller keeps the
/// buffer even when serialization fails.
#[derive(Debug)]
struct Append<'a>(&'a mut Vec<u8>);

impl postcard::ser_flavors::Flavor for Append<'_> {
    type Output = ();

    #[inline]
    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        self.0.extend_from_slice(data);
        Ok(())
    }

    #[inline]
    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.0.push(data);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

/// Postcard flavor that writes nothing: it checks that the serialized bytes are
/// exactly `expected`, failing at the first difference.
#[derive(Debug)]
struct Matches<'a> {
    expected: &'a [u8],
}

impl postcard::ser_flavors::Flavor for Matches<'_> {
    type Output = ();

    #[inline]
    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        match self.expected.strip_prefix(data) {
            Some(rest) => {
                self.expected = rest;
                Ok(())
            }
            None => Err(postcard::Error::SerializeBufferFull),
        }
    }

    #[inline]
    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.try_extend(&[data])
    }

    fn finalize(self) -> postcard::Result<()> {
        if self.expected.is_empty() {
            Ok(())
        } else {
            Err(postcard::Error::SerializeBufferFull)
        }
    }
}

/// A stand-in with the exact wire shape of `std::net::SocketAddr` (postcard:
/// variant tag, then 4 or 16 address bytes, then a varint port), so the codec's
/// tests exercise an enum-tagged address without the core naming a networking
/// type. `runtime-std` checks the real `SocketAddr` sizes; the fuzz harness
/// (outside the core) uses `SocketAddr` itself.
#[cfg(test)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub(crate) enum NetAddr {
    /// IPv4 address bytes and port.
    V4([u8; 4], u16),
    /// IPv6 address bytes and port.
    V6([u8; 16], u16),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::BlockId;
    use proptest::prelude::*;

    const LOCALHOST_V6: [u8; 16] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];

    fn peer(n: u64) -> PeerId {
        PeerId::from_u64(n)
    }

    fn mapping(n: u64) -> TokenMapping {
        TokenMapping {
            id: TokenId::from_u64(n),
            block: BlockId::from_u64(n + 1000),
        }
    }

    fn query<A>(ticket: u64) -> Envelope<A> {
        Envelope {
            sender: PeerId::new([0xaa; 32]),
            message: Message::Query(Query {
                token: TokenId::new([0xbb; 32]),
                ticket: MessageTicket(ticket),
                challenger: PeerId::new([0xcc; 32]),
                hops_left: 255,
            }),
        }
    }

    fn answer<A>(ticket: u64, addr: A) -> Envelope<A> {
        Envelope {
            sender: peer(1),
            message: Message::Answer(Answer {
                ticket: MessageTicket(ticket),
                answer: mapping(7),
                signature: core::array::from_fn(|i| mapping(100 + i as u64)),
                proof: core::array::from_fn(|i| [i as u8; 4]),
                responder: Contact { id: peer(2), addr },
                key: PublicKey([0x11; 32]),
                // Varint sizes: the proof of work spans its range like the ticket.
                pow: ticket,
                auth: Signature::from_bytes([0x22; 64]),
            }),
        }
    }

    fn referral<A: Clone>(ticket: u64, addr: A) -> Envelope<A> {
        Envelope {
            sender: peer(3),
            message: Message::Referral(Referral {
                ticket: MessageTicket(ticket),
                token: TokenId::from_u64(9),
                high: Contact {
                    id: peer(4),
                    addr: addr.clone(),
                },
                low: Contact { id: peer(5), addr },
            }),
        }
    }

    /// Valid datagrams of every kind with `u32` addresses.
    fn u32_samples() -> Vec<Vec<u8>> {
        vec![
            encode(&query::<u32>(u64::MAX)).unwrap(),
            encode(&query::<u32>(0)).unwrap(),
            encode(&answer(0x1234, 77u32)).unwrap(),
            encode(&answer(u64::MAX, u32::MAX)).unwrap(),
            encode(&referral(5, u32::MAX)).unwrap(),
            encode(&referral(0, 0u32)).unwrap(),
            encode(&retry(u64::MAX)).unwrap(),
            encode(&cookie_query(3)).unwrap(),
        ]
    }

    /// Valid datagrams of every kind with socket-shaped addresses.
    fn socket_samples() -> Vec<Vec<u8>> {
        let v4 = NetAddr::V4([192, 0, 2, 1], 40000);
        let v6 = NetAddr::V6(LOCALHOST_V6, 443);
        vec![
            encode(&query::<NetAddr>(7)).unwrap(),
            encode(&answer(0x1234, v4)).unwrap(),
            encode(&answer(u64::MAX, v6)).unwrap(),
            encode(&referral(5, v4)).unwrap(),
            encode(&referral(5, v6)).unwrap(),
        ]
    }

    fn samples() -> Vec<Vec<u8>> {
        let mut all = u32_samples();
        all.extend(socket_samples());
        all
    }

    /// Decodes as both address types the tests use.
    fn decode_both(bytes: &[u8]) -> [Result<(), DecodeError>; 2] {
        [decode::<u32>(bytes).map(drop), decode::<NetAddr>(bytes).map(drop)]
    }

    #[test]
    fn datagram_sizes() {
        fn sizes<A: Address>(min: A, max: A) -> [(usize, usize); 3] {
            let len = |e: Envelope<A>| encode(&e).unwrap().len();
            [
                (len(query(0)), len(query(u64::MAX))),
                (len(answer(0, min.clone())), len(answer(u64::MAX, max.clone()))),
                (len(referral(0, min)), len(referral(u64::MAX, max))),
            ]
        }
        let v4 = |port| NetAddr::V4([0xff; 4], port);
        let v6 = |port| NetAddr::V6([0xff; 16], port);

        // Wire v3: an answer carries 128 more bytes (the possession proof).
        assert_eq!(sizes(0u32, u32::MAX), [(100, 109), (997, 1019), (133, 150)]);
        assert_eq!(sizes(v4(0), v4(u16::MAX)), [(100, 109), (1002, 1022), (143, 156)]);
        assert_eq!(sizes(v6(0), v6(u16::MAX)), [(100, 109), (1014, 1034), (167, 180)]);

        // The largest message with the largest address type fits the cap.
        let worst = encode(&answer(u64::MAX, v6(u16::MAX))).unwrap();
        assert!(worst.len() <= MAX_DATAGRAM_LEN);

        // Retry and CookieQuery carry no address: the same for every type.
        let retry = |t| encode::<u32>(&retry(t)).unwrap().len();
        let cq = |t| encode::<u32>(&cookie_query(t)).unwrap().len();
        assert_eq!([retry(0), retry(u64::MAX)], [83, 92]);
        assert_eq!([cq(0), cq(u64::MAX)], [116, 125]);
        // A Retry is never larger than the query it answers (same ticket).
        for t in [0, 1, 300, u64::MAX] {
            assert!(retry(t) <= encode::<u32>(&query(t)).unwrap().len());
        }
    }

    fn retry(ticket: u64) -> Envelope<u32> {
        Envelope {
            sender: PeerId::new([0xaa; 32]),
            message: Message::Retry(Retry {
                ticket: MessageTicket(ticket),
                token: TokenId::new([0xbb; 32]),
                cookie: [0xdd; COOKIE_LEN],
            }),
        }
    }

    fn cookie_query(ticket: u64) -> Envelope<u32> {
        let Message::Query(query) = query::<u32>(ticket).message else {
            unreachable!("query() builds a Query")
        };
        Envelope {
            sender: PeerId::new([0xaa; 32]),
            message: Message::CookieQuery(CookieQuery {
                query,
                cookie: [0xee; COOKIE_LEN],
            }),
        }
    }

    fn membership<A: Clone>(nonce: u64, addr: A, contacts: usize, pad: usize) -> [Envelope<A>; 4] {
        let env = |message| Envelope {
            sender: peer(1),
            message,
        };
        [
            env(Message::Ping(Ping {
                nonce,
                target: peer(2),
                key: PublicKey([0x33; 32]),
                pow: nonce,
            })),
            env(Message::Pong(Pong {
                nonce,
                key: PublicKey([0x44; 32]),
                pow: nonce,
            })),
            env(Message::FindNeighbours(FindNeighbours {
                target: peer(3),
                nonce,
                padding: vec![0; pad],
            })),
            env(Message::Neighbours(Neighbours {
                nonce,
                contacts: (0..contacts)
                    .map(|i| Contact {
                        id: PeerId::new([i as u8 + 1; 32]),
                        addr: addr.clone(),
                    })
                    .collect(),
            })),
        ]
    }

    #[test]
    fn membership_datagram_sizes_and_the_reply_factor() {
        fn sizes<A: Address>(min: A, max: A) -> [(usize, usize); 4] {
            let lo = membership(0, min, 8, 0).map(|e| encode(&e).unwrap().len());
            let hi = membership(u64::MAX, max, 8, 0).map(|e| encode(&e).unwrap().len());
            [0, 1, 2, 3].map(|i| (lo[i], hi[i]))
        }
        let v4 = |port| NetAddr::V4([0xff; 4], port);
        let v6 = |port| NetAddr::V6([0xff; 16], port);
        // Ping, Pong, FindNeighbours (unpadded), Neighbours with 8 contacts.
        assert_eq!(
            sizes(0u32, u32::MAX),
            [(100, 118), (68, 86), (68, 77), (300, 341)]
        );
        assert_eq!(
            sizes(v4(0), v4(u16::MAX)),
            [(100, 118), (68, 86), (68, 77), (340, 365)]
        );
        assert_eq!(
            sizes(v6(0), v6(u16::MAX)),
            [(100, 118), (68, 86), (68, 77), (436, 461)]
        );
        // The largest full reply (8 IPv6 contacts, 10-byte nonce) is at most
        // REPLY_FACTOR times a request padded to FIND_NEIGHBOURS_PADDED_LEN.
        assert!(sizes(v6(0), v6(u16::MAX))[3].1 <= REPLY_FACTOR * FIND_NEIGHBOURS_PADDED_LEN);
        // A pong is never larger than its ping.
        assert!(sizes(v6(0), v6(u16::MAX))[1].1 <= sizes(v6(0), v6(u16::MAX))[0].0);
        // The most contacts a reply may carry fit a datagram with the largest address.
        let most = membership(u64::MAX, v6(u16::MAX), MAX_NEIGHBOURS, 0);
        assert!(encode(&most[3]).unwrap().len() <= MAX_DATAGRAM_LEN);
    }

    #[test]
    fn neighbours_beyond_the_cap_and_nonzero_padding_are_malformed() {
        let [_, _, find, reply] = membership(7, 1u32, MAX_NEIGHBOURS + 1, 3);
        let bytes = encode(&reply).unwrap();
        assert_eq!(decode::<u32>(&bytes), Err(DecodeError::Malformed));
        let [_, _, _, ok] = membership(7, 1u32, MAX_NEIGHBOURS, 0);
        assert_eq!(decode::<u32>(&encode(&ok).unwrap()), Ok(ok));
        let mut bytes = encode(&find).unwrap();
        assert_eq!(decode::<u32>(&bytes), Ok(find));
        *bytes.last_mut().unwrap() = 1;
        assert_eq!(decode::<u32>(&bytes), Err(DecodeError::Malformed));
    }

    #[test]
    fn address_groups_follow_the_address_shape() {
        let g = |a: NetAddr| a.groups();
        // IPv4: same /24 shares a subnet, not a host; the port is ignored.
        let a = g(NetAddr::V4([192, 0, 2, 1], 1));
        assert_eq!(a, g(NetAddr::V4([192, 0, 2, 1], 2)));
        let b = g(NetAddr::V4([192, 0, 2, 9], 1));
        assert_eq!(a.subnet, b.subnet);
        assert_ne!(a.ip, b.ip);
        assert_ne!(a.subnet, g(NetAddr::V4([192, 0, 3, 1], 1)).subnet);
        // Loopback: every port is a host and a subnet of its own.
        let l1 = g(NetAddr::V4([127, 0, 0, 1], 4000));
        let l2 = g(NetAddr::V4([127, 0, 0, 1], 4001));
        assert_ne!(l1.ip, l2.ip);
        assert_ne!(l1.subnet, l2.subnet);
        assert_ne!(
            g(NetAddr::V6(LOCALHOST_V6, 1)).subnet,
            g(NetAddr::V6(LOCALHOST_V6, 2)).subnet
        );
        // IPv6: same /64 shares a subnet.
        let mut x = [0x20u8; 16];
        let v = g(NetAddr::V6(x, 1));
        x[15] = 1;
        assert_eq!(v.subnet, g(NetAddr::V6(x, 1)).subnet);
        assert_ne!(v.ip, g(NetAddr::V6(x, 1)).ip);
        x[7] = 1;
        assert_ne!(v.subnet, g(NetAddr::V6(x, 1)).subnet);
        // u32: low 24 bits are the subnet, so consecutive integers differ.
        assert_ne!(1u32.groups().subnet, 2u32.groups().subnet);
        assert_eq!(5u32.groups().subnet, (5u32 | 7 << 24).groups().subnet);
        assert_ne!(5u32.groups().ip, (5u32 | 7 << 24).groups().ip);
        // Other shapes: one group per address, never shared with a u32 or IP.
        let big = vec![1u8; 40].groups();
        assert_eq!(big.ip, big.subnet);
        assert_ne!(big, vec![2u8; 40].groups());
        assert_ne!(AddressGroups::of_encoding(&[]), 0u32.groups());
    }

    #[test]
    fn loopback_grouping_per_ip_treats_127_addresses_as_real_hosts_and_subnets() {
        let enc = |a: NetAddr| postcard::to_allocvec(&a).unwrap();
        let per_ip = |a: NetAddr| AddressGroups::of_encoding_with(&enc(a), LoopbackGroups::PerIp);
        let per_port = |a: NetAddr| AddressGroups::of_encoding_with(&enc(a), LoopbackGroups::PerPort);
        // Per IP: two ports of 127.0.1.1 are one host; 127.0.1.2 shares its /24; 127.0.2.1 does not.
        let a = per_ip(NetAddr::V4([127, 0, 1, 1], 7000));
        assert_eq!(a, per_ip(NetAddr::V4([127, 0, 1, 1], 7001)));
        let b = per_ip(NetAddr::V4([127, 0, 1, 2], 7000));
        assert_ne!(a.ip, b.ip);
        assert_eq!(a.subnet, b.subnet);
        assert_ne!(a.subnet, per_ip(NetAddr::V4([127, 0, 2, 1], 7000)).subnet);
        assert_eq!(
            per_ip(NetAddr::V6(LOCALHOST_V6, 1)),
            per_ip(NetAddr::V6(LOCALHOST_V6, 2))
        );
        // Per port (the default): every loopback port is its own host and subnet.
        let p = per_port(NetAddr::V4([127, 0, 1, 1], 7000));
        assert_ne!(p.ip, per_port(NetAddr::V4([127, 0, 1, 1], 7001)).ip);
        assert_ne!(p.subnet, per_port(NetAddr::V4([127, 0, 1, 1], 7001)).subnet);
        assert_eq!(loopback_groups(), LoopbackGroups::PerPort, "the default");
        assert_eq!(LoopbackGroups::default(), LoopbackGroups::PerPort);
        // Non-loopback addresses do not depend on the setting.
        let real = NetAddr::V4([192, 0, 2, 1], 1);
        assert_eq!(per_ip(real), per_port(real));
    }

    #[test]
    fn golden_bytes_pin_the_format() {
        let bytes = encode(&referral(0x81, 0x0102u32)).unwrap();
        let mut expect = vec![PROTOCOL_VERSION];
        expect.extend_from_slice(peer(3).as_bytes()); // sender
        expect.push(2); // Message::Referral tag
        expect.extend_from_slice(&[0x81, 0x01]); // ticket 0x81 as varint
        expect.extend_from_slice(TokenId::from_u64(9).as_bytes());
        expect.extend_from_slice(peer(4).as_bytes());
        expect.extend_from_slice(&[0x82, 0x02]); // address 0x0102 as varint
        expect.extend_from_slice(peer(5).as_bytes());
        expect.extend_from_slice(&[0x82, 0x02]);
        assert_eq!(bytes, expect);

        let q = encode(&query::<u32>(3)).unwrap();
        assert_eq!(q[0], PROTOCOL_VERSION);
        assert_eq!(q[33], 0, "Query tag");
        let a = encode(&answer(3, 1u32)).unwrap();
        assert_eq!(a[33], 1, "Answer tag");

        let r = encode(&retry(0x81)).unwrap();
        let mut expect = vec![PROTOCOL_VERSION];
        expect.extend_from_slice(&[0xaa; 32]); // sender
        expect.push(7); // Message::Retry tag
        expect.extend_from_slice(&[0x81, 0x01]); // ticket
        expect.extend_from_slice(&[0xbb; 32]); // token
        expect.extend_from_slice(&[0xdd; COOKIE_LEN]); // cookie, no length prefix
        assert_eq!(r, expect);
        let c = encode(&cookie_query(3)).unwrap();
        assert_eq!(c[33], 8, "CookieQuery tag");
        assert_eq!(
            &c[34..],
            &[&q[34..], &[0xee; COOKIE_LEN][..]].concat()[..],
            "query, then cookie"
        );
        // v2 answer tail: responder contact, then key (32), pow (varint), auth (64).
        let n = a.len();
        assert_eq!(a[n - 64..], [0x22; 64], "auth");
        assert_eq!(a[n - 65], 3, "pow 3 as a one-byte varint");
        assert_eq!(a[n - 97..n - 65], [0x11; 32], "key");
        assert_eq!(a[n - 98], 1, "responder address 1 (u32 varint)");
        assert_eq!(a[n - 130..n - 98], *peer(2).as_bytes(), "responder id");
    }

    #[test]
    fn kind_helpers_are_consistent() {
        assert_eq!(query::<u32>(1).message.kind(), MessageKind::Query);
        assert_eq!(answer(1, 1u32).message.kind(), MessageKind::Answer);
        assert_eq!(referral(1, 1u32).message.kind(), MessageKind::Referral);
        assert_eq!(referral(42, 1u32).message.ticket(), MessageTicket(42));
        assert_eq!(MessageKind::ALL.len(), MessageKind::COUNT);
        for (i, k) in MessageKind::ALL.into_iter().enumerate() {
            assert_eq!(k.index(), i);
            assert_eq!(k.to_string(), k.as_str());
        }
    }

    #[test]
    fn empty_datagram_is_rejected() {
        assert_eq!(decode::<u32>(&[]), Err(DecodeError::Empty));
    }

    #[test]
    fn oversized_datagram_is_rejected_before_parsing() {
        for first in [PROTOCOL_VERSION, 0, 0xff] {
            let mut bytes = vec![0u8; MAX_DATAGRAM_LEN + 1];
            bytes[0] = first;
            assert_eq!(
                decode_both(&bytes),
                [Err(DecodeError::Oversized { len: 1201 }); 2]
            );
        }
        // A valid envelope padded to exactly the cap is judged on its content.
        let mut bytes = encode(&query::<u32>(1)).unwrap();
        let count = MAX_DATAGRAM_LEN - bytes.len();
        bytes.resize(MAX_DATAGRAM_LEN, 0);
        assert_eq!(
            decode_both(&bytes),
            [Err(DecodeError::TrailingBytes { count }); 2]
        );
    }

    #[test]
    fn unknown_version_is_rejected() {
        for bytes in samples() {
            for v in [0u8, 1, 2, 4, 0x7f, 0xff] {
                let mut b = bytes.clone();
                b[0] = v;
                assert_eq!(decode_both(&b), [Err(DecodeError::UnknownVersion(v)); 2]);
            }
        }
        assert_eq!(decode::<u32>(&[1]), Err(DecodeError::UnknownVersion(1)));
    }

    /// A datagram in the version-1 format (an answer without key, proof of
    /// work or signature) is refused by its version byte, before any parsing.
    #[test]
    fn version_1_datagrams_are_rejected() {
        #[derive(Serialize)]
        struct V1Answer {
            ticket: MessageTicket,
            answer: TokenMapping,
            signature: [TokenMapping; SIGNATURE_SIZE],
            responder: Contact<u32>,
        }
        // Only the Answer is built; the Query variant gives it tag 1.
        #[allow(clippy::large_enum_variant, dead_code)]
        #[derive(Serialize)]
        enum V1Message {
            Query(Query),
            Answer(V1Answer),
        }
        #[derive(Serialize)]
        struct V1Envelope {
            sender: PeerId,
            message: V1Message,
        }
        let v1 = V1Envelope {
            sender: peer(1),
            message: V1Message::Answer(V1Answer {
                ticket: MessageTicket(5),
                answer: mapping(7),
                signature: core::array::from_fn(|i| mapping(100 + i as u64)),
                responder: Contact { id: peer(2), addr: 3 },
            }),
        };
        let mut bytes = vec![1u8];
        bytes.extend(postcard::to_allocvec(&v1).unwrap());
        assert_eq!(decode::<u32>(&bytes), Err(DecodeError::UnknownVersion(1)));
        // The same body under the current byte is not an answer either (too short).
        bytes[0] = PROTOCOL_VERSION;
        assert!(decode::<u32>(&bytes).is_err());
    }

    /// A version-2 answer (no possession proof) is refused by its version
    /// byte; its body under the v3 byte is too short to be a v3 answer.
    #[test]
    fn version_2_datagrams_are_rejected() {
        let mut v3 = encode(&answer(5, 3u32)).unwrap();
        // The v2 body: the v3 one without the 128 proof bytes after the walk
        // (1 version + 32 sender + 1 tag + 1 ticket + 64 answer + 640 walk).
        let at = 1 + 32 + 1 + 1 + 64 + 640;
        let mut v2 = v3[..at].to_vec();
        v2.extend_from_slice(&v3[at + 128..]);
        v2[0] = 2;
        assert_eq!(decode::<u32>(&v2), Err(DecodeError::UnknownVersion(2)));
        v2[0] = PROTOCOL_VERSION;
        assert!(decode::<u32>(&v2).is_err());
        v3[0] = 2;
        assert_eq!(decode::<u32>(&v3), Err(DecodeError::UnknownVersion(2)));
    }

    #[test]
    fn every_truncation_is_rejected() {
        fn check<A: Address>(samples: Vec<Vec<u8>>) {
            for bytes in samples {
                assert_eq!(decode::<A>(&bytes[..0]), Err(DecodeError::Empty));
                for len in 1..bytes.len() {
                    assert_eq!(
                        decode::<A>(&bytes[..len]),
                        Err(DecodeError::Malformed),
                        "prefix of {len} of {} bytes",
                        bytes.len()
                    );
                }
                assert!(decode::<A>(&bytes).is_ok());
            }
        }
        check::<u32>(u32_samples());
        check::<NetAddr>(socket_samples());
    }

    #[test]
    fn trailing_bytes_are_rejected() {
        let u = [
            encode(&query::<u32>(1)).unwrap(),
            encode(&answer(1, 5u32)).unwrap(),
            encode(&referral(1, 5u32)).unwrap(),
        ];
        for bytes in u {
            for extra in [0u8, 1, 0xff] {
                let mut b = bytes.clone();
                b.push(extra);
                assert_eq!(decode::<u32>(&b), Err(DecodeError::TrailingBytes { count: 1 }));
                b.extend_from_slice(&[extra; 4]);
                assert_eq!(decode::<u32>(&b), Err(DecodeError::TrailingBytes { count: 5 }));
            }
        }
        let v6 = NetAddr::V6(LOCALHOST_V6, 9);
        let mut b = encode(&answer(1, v6)).unwrap();
        b.push(0);
        assert_eq!(
            decode::<NetAddr>(&b),
            Err(DecodeError::TrailingBytes { count: 1 })
        );
    }

    #[test]
    fn unknown_message_tag_is_rejected() {
        // Byte 33 (after version and sender) is the message variant tag.
        for bytes in samples() {
            assert!(bytes[33] <= 8);
            for tag in [9u8, 10, 0x7f] {
                let mut b = bytes.clone();
                b[33] = tag;
                assert_eq!(decode_both(&b), [Err(DecodeError::Malformed); 2]);
            }
            // A multi-byte varint tag that is out of range is Malformed as well.
            let mut b = bytes.clone();
            b.splice(33..34, [0xff, 0xff, 0xff, 0xff, 0x0f]);
            assert_eq!(decode_both(&b), [Err(DecodeError::Malformed); 2]);
        }
        // The address has two variants (V4 = 0, V6 = 1); tag 2 is unknown.
        let v4 = NetAddr::V4([127, 0, 0, 1], 1);
        let mut b = encode(&answer(1, v4)).unwrap();
        let at = 1 + 32 + 1 + 1 + 64 + 640 + 128 + 32;
        assert_eq!(b[at], 0);
        b[at] = 2;
        assert_eq!(decode::<NetAddr>(&b), Err(DecodeError::Malformed));
    }

    #[test]
    fn overlong_varints_are_rejected() {
        // Ticket 0 is one byte (0x00) at offset 66 of a Query (after version,
        // sender, tag and token); 0x80 0x00 is the same value in two bytes.
        // Postcard alone accepts it; decode must not.
        let canonical = encode(&query::<u32>(0)).unwrap();
        assert_eq!(canonical[66], 0);
        let mut overlong = canonical.clone();
        overlong.splice(66..67, [0x80, 0x00]);
        let (lenient, rest) = postcard::take_from_bytes::<Envelope<u32>>(&overlong[1..]).unwrap();
        assert!(rest.is_empty());
        assert_eq!(lenient, query(0), "postcard accepts the over-long form");
        assert_eq!(decode::<u32>(&overlong), Err(DecodeError::Malformed));

        // Same for an over-long u32 address (1 as 0x81 0x80 0x00) at the very end.
        let canonical = encode(&referral(1, 1u32)).unwrap();
        assert_eq!(*canonical.last().unwrap(), 1);
        let mut overlong = canonical.clone();
        overlong.pop();
        overlong.extend_from_slice(&[0x81, 0x80, 0x00]);
        assert!(postcard::take_from_bytes::<Envelope<u32>>(&overlong[1..]).is_ok());
        assert_eq!(decode::<u32>(&overlong), Err(DecodeError::Malformed));
        assert_eq!(decode::<u32>(&canonical), Ok(referral(1, 1u32)));
    }

    #[test]
    fn encode_reports_oversized_and_keeps_the_buffer() {
        // Vec<u8> meets the Address bounds; a 600-byte address makes every
        // message with a contact too large.
        let big = vec![7u8; 600];
        for env in [answer(1, big.clone()), referral(1, big.clone())] {
            let len = postcard::to_allocvec(&env).unwrap().len() + 1;
            assert!(len > MAX_DATAGRAM_LEN);
            assert_eq!(encode(&env), Err(EncodeError::Oversized { len }));

            let mut buf = vec![1, 2, 3];
            assert_eq!(encode_into(&env, &mut buf), Err(EncodeError::Oversized { len }));
            assert_eq!(buf, [1, 2, 3]);
        }

        // A 160-byte address still fits in every message and round-trips.
        let medium = vec![7u8; 160];
        for env in [answer(1, medium.clone()), referral(1, medium)] {
            let bytes = encode(&env).unwrap();
            assert!(bytes.len() <= MAX_DATAGRAM_LEN);
            assert_eq!(decode::<Vec<u8>>(&bytes), Ok(env));
        }
    }

    #[test]
    fn encode_reports_unencodable_address() {
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
        struct Refuses;
        impl Serialize for Refuses {
            fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
                Err(serde::ser::Error::custom("no"))
            }
        }
        assert_eq!(encode(&answer(1, Refuses)), Err(EncodeError::Unencodable));
        let mut buf = vec![9];
        assert_eq!(
            encode_into(&answer(1, Refuses), &mut buf),
            Err(EncodeError::Unencodable)
        );
        assert_eq!(buf, [9]);
        // Messages without a contact do not touch the address type.
        assert!(encode(&query::<Refuses>(1)).is_ok());
    }

    #[test]
    fn encode_into_appends_the_same_bytes() {
        let env = answer(77, 3u32);
        let mut buf = vec![0xde, 0xad];
        encode_into(&env, &mut buf).unwrap();
        assert_eq!(buf[..2], [0xde, 0xad]);
        assert_eq!(buf[2..], encode(&env).unwrap()[..]);
    }

    #[test]
    fn errors_display() {
        assert_eq!(
            DecodeError::Oversized { len: 1201 }.to_string(),
            "datagram is 1201 bytes, above the 1200-byte cap"
        );
        assert_eq!(
            DecodeError::UnknownVersion(9).to_string(),
            "unknown protocol version 9"
        );
        assert_eq!(
            DecodeError::TrailingBytes { count: 1 }.to_string(),
            "1 trailing bytes after the envelope"
        );
        let e: Box<dyn std::error::Error> = Box::new(EncodeError::Oversized { len: 1300 });
        assert!(e.to_string().contains("1300"));
    }

    // ---- property tests ----

    fn arb_id() -> impl Strategy<Value = [u8; 32]> {
        prop_oneof![
            any::<[u8; 32]>(),
            any::<u64>().prop_map(|v| *PeerId::from_u64(v).as_bytes()),
        ]
    }

    fn arb_ticket() -> impl Strategy<Value = MessageTicket> {
        prop_oneof![
            any::<u64>(),
            0u64..300,
            Just(u64::MAX),
            (0u32..64).prop_map(|s| 1u64 << s),
        ]
        .prop_map(MessageTicket)
    }

    fn arb_mapping() -> impl Strategy<Value = TokenMapping> {
        (arb_id(), arb_id()).prop_map(|(t, b)| TokenMapping {
            id: TokenId::new(t),
            block: BlockId::new(b),
        })
    }

    fn arb_u32_addr() -> impl Strategy<Value = u32> + Clone {
        prop_oneof![any::<u32>(), 0u32..300]
    }

    fn arb_net_addr() -> impl Strategy<Value = NetAddr> + Clone {
        prop_oneof![
            (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, port)| NetAddr::V4(ip, port)),
            (any::<[u8; 16]>(), any::<u16>()).prop_map(|(ip, port)| NetAddr::V6(ip, port)),
        ]
    }

    fn arb_envelope<A: Address + 'static>(
        addr: impl Strategy<Value = A> + Clone + 'static,
    ) -> BoxedStrategy<Envelope<A>> {
        let contact = move || {
            (arb_id(), addr.clone()).prop_map(|(id, addr)| Contact {
                id: PeerId::new(id),
                addr,
            })
        };
        let query = (arb_id(), arb_ticket(), arb_id(), any::<u8>()).prop_map(
            |(token, ticket, challenger, hops_left)| {
                Message::Query(Query {
                    token: TokenId::new(token),
                    ticket,
                    challenger: PeerId::new(challenger),
                    hops_left,
                })
            },
        );
        let answer = (
            arb_ticket(),
            arb_mapping(),
            prop::array::uniform10(arb_mapping()),
            contact(),
            (arb_id(), any::<u64>(), arb_id(), arb_id(), any::<[[u8; 4]; 32]>()),
        )
            .prop_map(
                |(ticket, answer, signature, responder, (key, pow, r, s, proof))| {
                    let mut auth = [0u8; 64];
                    auth[..32].copy_from_slice(&r);
                    auth[32..].copy_from_slice(&s);
                    Message::Answer(Answer {
                        ticket,
                        answer,
                        signature,
                        proof,
                        responder,
                        key: PublicKey(key),
                        pow,
                        auth: Signature::from_bytes(auth),
                    })
                },
            );
        let referral =
            (arb_ticket(), arb_id(), contact(), contact()).prop_map(|(ticket, token, high, low)| {
                Message::Referral(Referral {
                    ticket,
                    token: TokenId::new(token),
                    high,
                    low,
                })
            });
        (arb_id(), prop_oneof![query, answer, referral])
            .prop_map(|(sender, message)| Envelope {
                sender: PeerId::new(sender),
                message,
            })
            .boxed()
    }

    /// Envelopes carrying the membership messages (tags 3..=6) and the
    /// address-validation messages (tags 7 and 8).
    fn arb_membership_envelope<A: Address + 'static>(
        addr: impl Strategy<Value = A> + Clone + 'static,
    ) -> BoxedStrategy<Envelope<A>> {
        let contact = (arb_id(), addr).prop_map(|(id, addr)| Contact {
            id: PeerId::new(id),
            addr,
        });
        let message = prop_oneof![
            (any::<u64>(), arb_id(), arb_id(), any::<u64>()).prop_map(|(nonce, t, k, pow)| Message::Ping(
                Ping {
                    nonce,
                    target: PeerId::new(t),
                    key: PublicKey(k),
                    pow,
                }
            )),
            (any::<u64>(), arb_id(), any::<u64>()).prop_map(|(nonce, k, pow)| Message::Pong(Pong {
                nonce,
                key: PublicKey(k),
                pow,
            })),
            (arb_id(), any::<u64>(), 0usize..200).prop_map(|(t, nonce, pad)| {
                Message::FindNeighbours(FindNeighbours {
                    target: PeerId::new(t),
                    nonce,
                    padding: vec![0; pad],
                })
            }),
            (any::<u64>(), prop::collection::vec(contact, 0..=MAX_NEIGHBOURS))
                .prop_map(|(nonce, contacts)| Message::Neighbours(Neighbours { nonce, contacts })),
            (any::<u64>(), arb_id(), any::<[u8; COOKIE_LEN]>()).prop_map(|(t, token, cookie)| {
                Message::Retry(Retry {
                    ticket: MessageTicket(t),
                    token: TokenId::new(token),
                    cookie,
                })
            }),
            (
                any::<u64>(),
                arb_id(),
                arb_id(),
                any::<u8>(),
                any::<[u8; COOKIE_LEN]>()
            )
                .prop_map(|(t, token, challenger, hops_left, cookie)| {
                    Message::CookieQuery(CookieQuery {
                        query: Query {
                            token: TokenId::new(token),
                            ticket: MessageTicket(t),
                            challenger: PeerId::new(challenger),
                            hops_left,
                        },
                        cookie,
                    })
                }),
        ];
        (arb_id(), message)
            .prop_map(|(sender, message)| Envelope {
                sender: PeerId::new(sender),
                message,
            })
            .boxed()
    }

    /// The message shape before the variants held named structs: struct variants
    /// with the same fields in the same order. Kept to show that the change is
    /// invisible on the wire.
    #[allow(clippy::large_enum_variant)]
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum LegacyMessage<A> {
        Query {
            token: TokenId,
            ticket: MessageTicket,
            challenger: PeerId,
            hops_left: u8,
        },
        Answer {
            ticket: MessageTicket,
            answer: TokenMapping,
            signature: [TokenMapping; SIGNATURE_SIZE],
            proof: PossessionProof,
            responder: Contact<A>,
            key: PublicKey,
            pow: u64,
            auth: Signature,
        },
        Referral {
            ticket: MessageTicket,
            token: TokenId,
            high: Contact<A>,
            low: Contact<A>,
        },
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct LegacyEnvelope<A> {
        sender: PeerId,
        message: LegacyMessage<A>,
    }

    fn legacy<A>(env: Envelope<A>) -> LegacyEnvelope<A> {
        let message = match env.message {
            Message::Query(Query {
                token,
                ticket,
                challenger,
                hops_left,
            }) => LegacyMessage::Query {
                token,
                ticket,
                challenger,
                hops_left,
            },
            Message::Answer(Answer {
                ticket,
                answer,
                signature,
                proof,
                responder,
                key,
                pow,
                auth,
            }) => LegacyMessage::Answer {
                ticket,
                answer,
                signature,
                proof,
                responder,
                key,
                pow,
                auth,
            },
            Message::Referral(Referral {
                ticket,
                token,
                high,
                low,
            }) => LegacyMessage::Referral {
                ticket,
                token,
                high,
                low,
            },
            m @ (Message::Ping(_)
            | Message::Pong(_)
            | Message::FindNeighbours(_)
            | Message::Neighbours(_)
            | Message::Retry(_)
            | Message::CookieQuery(_)) => {
                panic!(
                    "no legacy shape for a {} message: arb_envelope makes election messages only",
                    m.kind()
                )
            }
        };
        LegacyEnvelope {
            sender: env.sender,
            message,
        }
    }

    /// The legacy shape and the current one give the same bytes, and each
    /// decodes the other's.
    fn check_legacy_shape<A: Address>(env: Envelope<A>) -> Result<(), TestCaseError> {
        let bytes = postcard::to_allocvec(&env).unwrap();
        let old = legacy(env.clone());
        let old_bytes = postcard::to_allocvec(&old).unwrap();
        prop_assert_eq!(&bytes, &old_bytes);
        prop_assert_eq!(postcard::from_bytes::<Envelope<A>>(&old_bytes).unwrap(), env);
        prop_assert_eq!(postcard::from_bytes::<LegacyEnvelope<A>>(&bytes).unwrap(), old);
        Ok(())
    }

    /// Decodes as `A`; on success the datagram must be the canonical encoding.
    fn check_canonical<A: Address>(bytes: &[u8]) -> Result<(), TestCaseError> {
        if let Ok(env) = decode::<A>(bytes) {
            let again = encode(&env);
            prop_assert_eq!(again.as_deref(), Ok(bytes));
        }
        Ok(())
    }

    /// A datagram edit: replace, insert or remove one byte at a position.
    #[derive(Clone, Debug)]
    enum Edit {
        Replace(prop::sample::Index, u8),
        Insert(prop::sample::Index, u8),
        Remove(prop::sample::Index),
    }

    fn arb_edit() -> impl Strategy<Value = Edit> {
        prop_oneof![
            (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Edit::Replace(i, b)),
            (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Edit::Insert(i, b)),
            any::<prop::sample::Index>().prop_map(Edit::Remove),
        ]
    }

    fn apply(bytes: &mut Vec<u8>, edit: &Edit) {
        match edit {
            Edit::Replace(i, b) => {
                let i = i.index(bytes.len());
                bytes[i] = *b;
            }
            Edit::Insert(i, b) => {
                let i = i.index(bytes.len() + 1);
                bytes.insert(i, *b);
            }
            Edit::Remove(i) => {
                let i = i.index(bytes.len());
                bytes.remove(i);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn round_trip_u32(env in arb_envelope(arb_u32_addr())) {
            let bytes = encode(&env).unwrap();
            prop_assert!(bytes.len() <= MAX_DATAGRAM_LEN);
            prop_assert_eq!(bytes[0], PROTOCOL_VERSION);
            prop_assert_eq!(decode::<u32>(&bytes), Ok(env));
        }

        #[test]
        fn round_trip_net_addr(env in arb_envelope(arb_net_addr())) {
            let bytes = encode(&env).unwrap();
            prop_assert!(bytes.len() <= MAX_DATAGRAM_LEN);
            let mut buf = vec![0x55];
            encode_into(&env, &mut buf).unwrap();
            prop_assert_eq!(&buf[1..], &bytes[..]);
            prop_assert_eq!(decode::<NetAddr>(&bytes), Ok(env));
        }

        #[test]
        fn membership_messages_round_trip(
            u in arb_membership_envelope(arb_u32_addr()),
            n in arb_membership_envelope(arb_net_addr()),
            edits in prop::collection::vec(arb_edit(), 1..4),
        ) {
            let bytes = encode(&u).unwrap();
            prop_assert_eq!(decode::<u32>(&bytes), Ok(u));
            let bytes = encode(&n).unwrap();
            prop_assert!(bytes.len() <= MAX_DATAGRAM_LEN);
            prop_assert_eq!(decode::<NetAddr>(&bytes), Ok(n));
            check_edited(bytes, &edits)?;
        }

        #[test]
        fn struct_variants_and_newtype_variants_share_one_encoding_u32(env in arb_envelope(arb_u32_addr())) {
            check_legacy_shape(env)?;
        }

        #[test]
        fn struct_variants_and_newtype_variants_share_one_encoding_net_addr(
            env in arb_envelope(arb_net_addr()),
        ) {
            check_legacy_shape(env)?;
        }

        #[test]
        fn decode_arbitrary_bytes_is_total_and_canonical(
            version in prop_oneof![3 => Just(PROTOCOL_VERSION), 1 => any::<u8>()],
            body in prop::collection::vec(any::<u8>(), 0..1300),
        ) {
            let mut bytes = vec![version];
            bytes.extend_from_slice(&body);
            check_canonical::<u32>(&bytes)?;
            check_canonical::<NetAddr>(&bytes)?;
        }

        /// Edited valid datagrams reach far deeper into the decoder than random
        /// bytes; whatever still decodes must be canonical.
        #[test]
        fn decode_edited_datagrams_is_total_and_canonical(
            env in arb_envelope(arb_net_addr()),
            edits in prop::collection::vec(arb_edit(), 1..4),
        ) {
            check_edited(encode(&env).unwrap(), &edits)?;
        }

        #[test]
        fn decode_edited_u32_datagrams_is_total_and_canonical(
            env in arb_envelope(arb_u32_addr()),
            edits in prop::collection::vec(arb_edit(), 1..4),
        ) {
            check_edited(encode(&env).unwrap(), &edits)?;
        }
    }

    /// Applies `edits` to a valid datagram and checks that whatever still
    /// decodes, under either address type, is canonical.
    fn check_edited(mut bytes: Vec<u8>, edits: &[Edit]) -> Result<(), TestCaseError> {
        for edit in edits {
            if bytes.is_empty() {
                break;
            }
            apply(&mut bytes, edit);
        }
        check_canonical::<u32>(&bytes)?;
        check_canonical::<NetAddr>(&bytes)
    }
}
