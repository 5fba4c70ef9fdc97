//! The `node` harness: a [`Node`] with small table caps fed datagrams, timers,
//! time jumps and host commands, its outputs drained and checked after every
//! input, and the whole run repeated to check determinism.

use crate::decode::EnvelopeSpec;
use crate::fixtures::{
    fixtures, forge, hash32, pool_index_of_addr, proof_from, sign_answer, store, ContactSel, Forgery,
    StoreKind, TokenSel,
};
use arbitrary::{Arbitrary, Unstructured};
use election_proto::election::{ElectionConfig, MessageTicket};
use election_proto::id::{PeerId, TokenId};
use election_proto::node::{
    Command, ElectedPeer, Event, Input, Node, NodeConfig, Output, PeerSnapshot, SplitBrainPolicy,
    SNAPSHOT_VERSION,
};
use election_proto::proof::generate_signature;
use election_proto::store::MemoryStore;
use election_proto::wire::{self, Contact, Envelope, Message, MAX_DATAGRAM_LEN};
use std::collections::BTreeSet;

/// One input for the fuzzed [`Node`].
#[derive(Clone, Debug)]
pub enum NodeOp {
    /// Raw bytes from an address.
    Raw {
        /// Source address (pool addresses are `1..=16`, the node is `0`).
        from: u32,
        /// Payload.
        bytes: Vec<u8>,
    },
    /// A structurally valid message from an address.
    Message {
        /// Source: a pool peer (index) or any address.
        from: ContactSel,
        /// Sender id and message.
        envelope: EnvelopeSpec,
    },
    /// An honest answer to one of the node's recent queries, from the peer it was sent to.
    AnswerQuery {
        /// Which query (most recent first).
        which: u8,
        /// The responder's ledger.
        store: StoreKind,
        /// Alteration, if any.
        forgery: Option<Forgery>,
        /// Deliver twice.
        twice: bool,
    },
    /// A referral in reply to one of the node's recent queries.
    ReferQuery {
        /// Which query (most recent first).
        which: u8,
        /// Suggested peer clockwise.
        high: ContactSel,
        /// Suggested peer counter-clockwise.
        low: ContactSel,
    },
    /// A datagram the node sent, fed back to it, possibly with one byte changed.
    Echo {
        /// Which datagram (most recent first).
        which: u8,
        /// Position of the change (mod length), if any.
        edit: Option<(u16, u8)>,
        /// Source address.
        from: u32,
    },
    /// The validation round trip completed: a `CookieQuery` carrying the
    /// cookie of a recent `Retry` the node sent, for the deferred ticket and
    /// token, from the address the Retry went to (or, if `elsewhere`, from
    /// another address, where the cookie must not work).
    FollowRetry {
        /// Which Retry (most recent first).
        which: u8,
        /// Challenger named in the resent query.
        challenger: crate::fixtures::PeerSel,
        /// Hop limit of the resent query.
        hops_left: u8,
        /// Send from another address than the cookie's.
        elsewhere: bool,
    },
    /// A `Retry` for one of the node's recent queries (its own or forwarded),
    /// from the address the query went to, with an arbitrary cookie.
    RetryQuery {
        /// Which query (most recent first).
        which: u8,
        /// The cookie.
        cookie: [u8; wire::COOKIE_LEN],
    },
    /// A timer firing after `step` milliseconds.
    Timer(u16),
    /// A long jump in time, then a timer.
    Jump(u32),
    /// A timer at exactly the node's next deadline.
    Deadline,
    /// A timer at an earlier time than already seen.
    Rewind(u16),
    /// `Command::StartElection`.
    Start(TokenSel),
    /// `Command::AddContacts`.
    AddContacts(Vec<ContactSel>),
    /// `Command::Shutdown`.
    Shutdown,
    /// `Node::restore` of a snapshot: contacts, then elected peers
    /// `(contact, token, time offset, wins)`; the node must keep its caps.
    Restore(Vec<ContactSel>, Vec<(ContactSel, TokenSel, u16, u8)>),
}

impl<'a> Arbitrary<'a> for NodeOp {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let tag: u8 = u.arbitrary()?;
        Ok(match tag {
            0..=59 => NodeOp::AnswerQuery {
                which: u.arbitrary::<u8>()? % 8,
                store: u.arbitrary()?,
                forgery: if u.ratio(1, 4)? {
                    Some(u.arbitrary()?)
                } else {
                    None
                },
                twice: u.ratio(1, 8)?,
            },
            60..=79 => NodeOp::ReferQuery {
                which: u.arbitrary::<u8>()? % 8,
                high: u.arbitrary()?,
                low: u.arbitrary()?,
            },
            80..=119 => NodeOp::Timer(u16::from(u.arbitrary::<u8>()?) * 8),
            120..=139 => NodeOp::Deadline,
            140..=159 => NodeOp::Start(u.arbitrary()?),
            160..=179 => {
                let n = u.int_in_range(1..=6u8)?;
                NodeOp::AddContacts((0..n).map(|_| u.arbitrary()).collect::<arbitrary::Result<_>>()?)
            }
            207..=210 => NodeOp::FollowRetry {
                which: u.arbitrary::<u8>()? % 8,
                challenger: u.arbitrary()?,
                hops_left: u.arbitrary::<u8>()? % 8,
                elsewhere: u.ratio(1, 8)?,
            },
            211..=214 => NodeOp::RetryQuery {
                which: u.arbitrary::<u8>()? % 8,
                cookie: u.arbitrary()?,
            },
            180..=206 => NodeOp::Message {
                from: u.arbitrary()?,
                envelope: u.arbitrary()?,
            },
            215..=226 => NodeOp::Echo {
                which: u.arbitrary()?,
                edit: u.arbitrary()?,
                from: u.arbitrary::<u8>()?.into(),
            },
            227..=238 => {
                let len = u.arbitrary::<u8>()?;
                NodeOp::Raw {
                    from: u.arbitrary::<u8>()?.into(),
                    bytes: u.bytes(usize::from(len).min(u.len()))?.to_vec(),
                }
            }
            239..=246 => NodeOp::Jump(u.arbitrary()?),
            247..=253 => NodeOp::Rewind(u.arbitrary()?),
            254 => NodeOp::AddContacts(u.arbitrary_iter()?.take(64).collect::<arbitrary::Result<_>>()?),
            255 if u.ratio(1, 2)? => NodeOp::Shutdown,
            _ => {
                let n = u.int_in_range(0..=12u8)?;
                let contacts = (0..n).map(|_| u.arbitrary()).collect::<arbitrary::Result<_>>()?;
                let n = u.int_in_range(0..=12u8)?;
                let elected = (0..n).map(|_| u.arbitrary()).collect::<arbitrary::Result<_>>()?;
                NodeOp::Restore(contacts, elected)
            }
        })
    }
}

#[derive(Clone, Debug, Arbitrary)]
struct NodeSetup {
    caps: (u8, u8, u8, u8),
    election: Option<(u8, u8, u8)>,
    timing: (u16, u16, u16, u32, u8),
    misc: (u8, u8, bool, u8, u8),
    forward_ttl: u16,
    stale: u32,
    seed: [u8; 32],
    start: u32,
}

impl NodeSetup {
    fn config(&self) -> NodeConfig {
        let (contacts, forward, elected, active) = self.caps;
        let mut election = ElectionConfig::default();
        if let Some((maxc, mcs, ct)) = self.election {
            election.max_channels = 2 + usize::from(maxc % 9);
            election.min_cluster_size = (2 + usize::from(mcs % 2)).min(election.max_channels);
            election.consensus_threshold = 6 + usize::from(ct % 5);
            election.query_budget = election.max_channels + 6;
        }
        let (collect, channel_to, election_to, interval, jitter) = self.timing;
        let (initial, extra, accept, window, threshold) = self.misc;
        let partition_window = 1 + usize::from(window % 10);
        // Every field is set: `NodeConfig` is `#[non_exhaustive]`, so it starts from
        // the defaults, but nothing here is left to them.
        let mut c = NodeConfig::default();
        c.elections.initial_channels = (1 + usize::from(initial % 4)).min(election.max_channels);
        c.elections.consensus = election;
        c.elections.split_brain_extra_channels = usize::from(extra % 4);
        c.elections.split_brain_policy = if accept {
            SplitBrainPolicy::AcceptStrongest
        } else {
            SplitBrainPolicy::Abandon
        };
        c.health.election_interval_ms = 1 + u64::from(interval % 200_000);
        c.health.election_jitter_percent = jitter % 101;
        c.elections.min_collection_ms = u64::from(collect % 2_000);
        c.elections.channel_timeout_ms = 1 + u64::from(channel_to % 4_000);
        c.elections.election_timeout_ms = 1 + u64::from(election_to % 12_000);
        c.elections.max_hops = 6;
        c.elections.max_active_elections = 1 + usize::from(active % 4);
        c.routing.max_forward_entries = 1 + usize::from(forward % 8);
        c.routing.forward_ttl_ms = 1 + u64::from(self.forward_ttl);
        c.membership.max_contacts = 1 + usize::from(contacts % 12);
        c.membership.contact_stale_ms = 1 + u64::from(self.stale % 600_000);
        c.health.max_elected_peers = 1 + usize::from(elected % 5);
        c.elections.partition_window = partition_window;
        c.elections.partition_alert_threshold = 1 + usize::from(threshold) % partition_window;
        // Small validation tables, so floods reach their caps.
        c.guard.max_validated_addresses = 1 + usize::from(contacts % 6);
        c.guard.max_rate_limited_hosts = 1 + usize::from(forward % 6);
        c.guard.query_rate_burst = 1 + u32::from(active % 8);
        c.guard.query_rate_refill_ms = 1 + u64::from(self.forward_ttl % 2_000);
        c
    }
}

/// What a node run reached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeStats {
    /// Inputs fed.
    pub inputs: usize,
    /// Datagrams the node sent.
    pub sends: usize,
    /// Answers the node sent (from its own store or relayed).
    pub answers_sent: usize,
    /// Queries the node forwarded (sent with a challenger other than itself).
    pub forwarded: usize,
    /// `Event::Elected` outputs.
    pub elected: usize,
    /// `Event::SplitBrain` outputs.
    pub split_brains: usize,
    /// `Event::ElectionFailed` outputs.
    pub failed: usize,
    /// `Event::PeerEvicted` outputs.
    pub evicted: usize,
    /// Queries the node sent for its own elections.
    pub own_queries: usize,
    /// `Event::ElectionStarted` outputs.
    pub started: usize,
    /// Honest or forged answers the harness sent to the node's own queries.
    pub replies_fed: usize,
    /// Pings and lookup requests the node sent.
    pub membership_requests: usize,
    /// Pongs and `Neighbours` replies the node sent.
    pub membership_replies: usize,
    /// `Retry`s the node sent (queries from addresses not yet validated).
    pub retries_sent: usize,
    /// `CookieQuery`s the node sent (it followed a Retry).
    pub cookie_queries_sent: usize,
}

/// Most inputs in one node run.
const MAX_NODE_INPUTS: usize = 192;

/// An input's outputs must drain within this many polls.
const MAX_OUTPUTS_PER_INPUT: usize = 4_096;

/// Runs the inputs encoded in `data` through a fresh [`Node`] twice, checking
/// the node's invariants after every input and that both runs produce the same
/// outputs.
pub fn node(data: &[u8]) -> NodeStats {
    let (stats, first) = node_run(data);
    let (_, second) = node_run(data);
    assert!(
        first == second,
        "the node is not deterministic: same inputs, different outputs"
    );
    stats
}

struct NodeHarness {
    /// The node's store is the shared fixture, borrowed (`&MemoryStore` is a
    /// `TokenStore` through the blanket impl): the same code as an owned
    /// store, without copying ten thousand mappings per run.
    node: Node<u32, &'static MemoryStore>,
    now: u64,
    /// Addresses datagrams came from: the only places replies may go.
    heard_from: BTreeSet<u32>,
    /// Recent datagrams the node sent.
    sent: Vec<(u32, Vec<u8>)>,
    /// Recent queries the node sent: (to, token, ticket, challenger).
    queries: Vec<(u32, TokenId, MessageTicket, PeerId)>,
    tickets: Vec<MessageTicket>,
    /// Length of the last datagram fed (a Retry may not exceed it).
    last_in: usize,
    /// Recent Retries the node sent: (to, the Retry).
    retries: Vec<(u32, wire::Retry)>,
    log: Vec<Output<u32>>,
    stats: NodeStats,
}

fn node_run(data: &[u8]) -> (NodeStats, Vec<Output<u32>>) {
    let mut u = Unstructured::new(data);
    let Ok(setup) = NodeSetup::arbitrary(&mut u) else {
        return (NodeStats::default(), Vec::new());
    };
    let f = fixtures();
    let config = setup.config();
    let node = match Node::new(config.clone(), f.me_key.clone(), 0, &f.node_store, setup.seed) {
        Ok(n) => n,
        Err(e) => panic!("harness built an invalid config ({e}): {config:?}"),
    };
    let mut h = NodeHarness {
        node,
        now: u64::from(setup.start),
        heard_from: BTreeSet::new(),
        sent: Vec::new(),
        queries: Vec::new(),
        tickets: Vec::new(),
        retries: Vec::new(),
        last_in: usize::MAX,
        log: Vec::new(),
        stats: NodeStats::default(),
    };
    for _ in 0..MAX_NODE_INPUTS {
        if u.is_empty() {
            break;
        }
        let Ok(op) = NodeOp::arbitrary(&mut u) else {
            break;
        };
        h.apply(op);
        if h.node.is_stopped() {
            // Nothing may come out of a stopped node.
            h.feed(h.now.saturating_add(1), Input::Timer);
            h.feed(
                h.now,
                Input::Command(Command::StartElection(
                    TokenSel::Stored {
                        center: false,
                        offset: 0,
                    }
                    .token(),
                )),
            );
            break;
        }
    }
    (h.stats, h.log)
}

impl NodeHarness {
    fn datagram(&mut self, from: u32, bytes: &[u8]) {
        self.heard_from.insert(from);
        self.last_in = bytes.len();
        self.feed(self.now, Input::Datagram { from, bytes });
    }

    fn send_env(&mut self, from: u32, env: &Envelope<u32>) {
        let bytes = wire::encode(env).expect("u32 envelopes always encode");
        self.datagram(from, &bytes);
    }

    fn apply(&mut self, op: NodeOp) {
        let f = fixtures();
        match op {
            NodeOp::Raw { from, bytes } => self.datagram(from, &bytes),
            NodeOp::Message { from, envelope } => {
                let env = Envelope {
                    sender: envelope.sender.peer(),
                    message: envelope.message.message(&self.tickets),
                };
                self.send_env(from.contact().addr, &env);
            }
            NodeOp::AnswerQuery {
                which,
                store: kind,
                forgery,
                twice,
            } => {
                let Some(&(to, token, ticket, challenger)) = recent(&self.queries, which) else {
                    return;
                };
                let Some(honest) = generate_signature(store(kind), &token, &challenger) else {
                    return;
                };
                let sig = match forgery {
                    Some(g) => forge(&honest, g, &challenger, kind),
                    None => honest,
                };
                let id = pool_index_of_addr(to).map_or_else(
                    || PeerId::new(hash32("stranger", &to.to_le_bytes())),
                    |i| f.pool[i],
                );
                let responder = Contact { id, addr: to };
                let proof = proof_from(kind, &challenger, &responder.id, &token);
                let (key, auth) = sign_answer(&challenger, ticket, &token, &sig, &proof, &responder);
                let env = Envelope {
                    sender: id,
                    message: Message::Answer(election_proto::wire::Answer {
                        ticket,
                        answer: sig.answer,
                        signature: sig.signature,
                        proof,
                        responder,
                        key: key.public(),
                        pow: 0,
                        auth,
                    }),
                };
                self.stats.replies_fed += 1;
                self.send_env(to, &env);
                if twice {
                    self.send_env(to, &env);
                }
            }
            NodeOp::ReferQuery { which, high, low } => {
                let Some(&(to, token, ticket, _)) = recent(&self.queries, which) else {
                    return;
                };
                let id = pool_index_of_addr(to).map_or_else(
                    || PeerId::new(hash32("stranger", &to.to_le_bytes())),
                    |i| f.pool[i],
                );
                let env = Envelope {
                    sender: id,
                    message: Message::Referral(election_proto::wire::Referral {
                        ticket,
                        token,
                        high: high.contact(),
                        low: low.contact(),
                    }),
                };
                self.send_env(to, &env);
            }
            NodeOp::Echo { which, edit, from } => {
                let Some((_, bytes)) = recent(&self.sent, which) else {
                    return;
                };
                let mut bytes = bytes.clone();
                if let Some((pos, b)) = edit {
                    let i = usize::from(pos) % bytes.len();
                    bytes[i] = b;
                }
                self.datagram(from, &bytes);
            }
            NodeOp::FollowRetry {
                which,
                challenger,
                hops_left,
                elsewhere,
            } => {
                let Some(&(to, retry)) = recent(&self.retries, which) else {
                    return;
                };
                let env = Envelope {
                    sender: PeerId::new(hash32("cookie sender", &to.to_le_bytes())),
                    message: Message::CookieQuery(wire::CookieQuery {
                        query: wire::Query {
                            token: retry.token,
                            ticket: retry.ticket,
                            challenger: challenger.peer(),
                            hops_left,
                        },
                        cookie: retry.cookie,
                    }),
                };
                let from = if elsewhere { to.wrapping_add(1) } else { to };
                let before = self.node.metrics().cookies_rejected;
                self.send_env(from, &env);
                let rejected = self.node.metrics().cookies_rejected - before;
                if elsewhere && !self.node.is_stopped() {
                    assert_eq!(rejected, 1, "a cookie worked from another address");
                }
            }
            NodeOp::RetryQuery { which, cookie } => {
                let Some(&(to, token, ticket, _)) = recent(&self.queries, which) else {
                    return;
                };
                let id = pool_index_of_addr(to).map_or_else(
                    || PeerId::new(hash32("stranger", &to.to_le_bytes())),
                    |i| f.pool[i],
                );
                let env = Envelope {
                    sender: id,
                    message: Message::Retry(wire::Retry {
                        ticket,
                        token,
                        cookie,
                    }),
                };
                self.send_env(to, &env);
            }
            NodeOp::Timer(step) => {
                self.now = self.now.saturating_add(u64::from(step));
                self.feed(self.now, Input::Timer);
            }
            NodeOp::Jump(step) => {
                self.now = self.now.saturating_add(u64::from(step));
                self.feed(self.now, Input::Timer);
            }
            NodeOp::Deadline => {
                if let Some(at) = self.node.poll_timeout() {
                    self.now = self.now.max(at);
                }
                self.feed(self.now, Input::Timer);
            }
            NodeOp::Rewind(back) => self.feed(self.now.saturating_sub(u64::from(back)), Input::Timer),
            NodeOp::Start(t) => self.feed(self.now, Input::Command(Command::StartElection(t.token()))),
            NodeOp::AddContacts(list) => {
                let list = list.into_iter().take(32).map(ContactSel::contact).collect();
                self.feed(self.now, Input::Command(Command::AddContacts(list)));
            }
            NodeOp::Restore(contacts, elected) => {
                let now = self.now;
                let snapshot = PeerSnapshot {
                    version: SNAPSHOT_VERSION,
                    contacts: contacts.into_iter().map(ContactSel::contact).collect(),
                    elected: elected
                        .into_iter()
                        .map(|(c, t, back, wins)| ElectedPeer {
                            contact: c.contact(),
                            elected_at: now.saturating_sub(u64::from(back)),
                            last_election: now.saturating_sub(u64::from(back) / 2),
                            election_count: u32::from(wins),
                            challenge_token: t.token(),
                            health: Default::default(),
                        })
                        .collect(),
                };
                let offered = snapshot.elected.len();
                let restored = self.node.restore(snapshot);
                assert!(restored <= offered, "restored more peers than offered");
                self.check_tables();
            }
            NodeOp::Shutdown => {
                self.feed(self.now, Input::Command(Command::Shutdown));
                assert!(self.node.is_stopped());
                assert_eq!(
                    self.node.poll_timeout(),
                    None,
                    "a stopped node still wants a timer"
                );
            }
        }
    }

    /// Feeds one input, drains every output and checks the node's invariants.
    fn feed(&mut self, now: u64, input: Input<'_, u32>) {
        let stopped = self.node.is_stopped();
        self.stats.inputs += 1;
        self.node.handle_input(now, input);
        let me = self.node.id();
        let mut drained = false;
        for _ in 0..MAX_OUTPUTS_PER_INPUT {
            let Some(out) = self.node.poll_output() else {
                drained = true;
                break;
            };
            assert!(!stopped, "a stopped node produced {out:?}");
            match &out {
                Output::Send { to, bytes } => {
                    self.stats.sends += 1;
                    assert!(bytes.len() <= MAX_DATAGRAM_LEN, "oversized datagram sent");
                    let env = match wire::decode::<u32>(bytes) {
                        Ok(env) => env,
                        Err(e) => panic!("the node sent a datagram that does not decode ({e}): {bytes:?}"),
                    };
                    assert_eq!(env.sender, me, "the node sent a datagram under another id");
                    match env.message {
                        Message::Query(election_proto::wire::Query {
                            token,
                            ticket,
                            challenger,
                            ..
                        }) => {
                            if challenger != me {
                                self.stats.forwarded += 1;
                            } else {
                                self.stats.own_queries += 1;
                            }
                            push_bounded(&mut self.queries, (*to, token, ticket, challenger));
                            push_bounded(&mut self.tickets, ticket);
                        }
                        Message::CookieQuery(cq) => {
                            // A query resent after a Retry: only to an address
                            // a Retry came from.
                            self.stats.cookie_queries_sent += 1;
                            assert!(
                                self.heard_from.contains(to),
                                "a cookie query to {to}, never heard from"
                            );
                            let q = cq.query;
                            push_bounded(&mut self.queries, (*to, q.token, q.ticket, q.challenger));
                        }
                        Message::Retry(r) => {
                            self.stats.retries_sent += 1;
                            assert!(self.heard_from.contains(to), "a Retry to {to}, never heard from");
                            assert!(
                                bytes.len() <= self.last_in,
                                "a Retry of {} bytes for a datagram of {}",
                                bytes.len(),
                                self.last_in
                            );
                            push_bounded(&mut self.retries, (*to, r));
                        }
                        Message::Answer(_)
                        | Message::Referral(_)
                        | Message::Pong(_)
                        | Message::Neighbours(_) => {
                            if matches!(env.message, Message::Answer(_)) {
                                self.stats.answers_sent += 1;
                            }
                            if matches!(env.message, Message::Neighbours(_) | Message::Pong(_)) {
                                self.stats.membership_replies += 1;
                            }
                            assert!(
                                self.heard_from.contains(to),
                                "a reply went to {to}, an address no datagram came from"
                            );
                        }
                        Message::Ping(election_proto::wire::Ping { nonce, .. })
                        | Message::FindNeighbours(election_proto::wire::FindNeighbours { nonce, .. }) => {
                            // Requests of the node's own: remember the nonce so
                            // generated replies can carry it.
                            self.stats.membership_requests += 1;
                            push_bounded(&mut self.tickets, MessageTicket(nonce));
                        }
                    }
                    push_bounded(&mut self.sent, (*to, bytes.clone()));
                }
                Output::Event(ev) => match ev {
                    Event::Elected {
                        winner,
                        cluster_size,
                        responses,
                        ..
                    } => {
                        self.stats.elected += 1;
                        assert!(winner.id != me, "the node elected itself");
                        assert!(
                            *cluster_size >= 1 && cluster_size <= responses,
                            "cluster larger than the responses"
                        );
                    }
                    Event::SplitBrain { .. } => self.stats.split_brains += 1,
                    Event::ElectionStarted { .. } => self.stats.started += 1,
                    Event::ElectionFailed { .. } => self.stats.failed += 1,
                    Event::PeerAdded(c) => assert!(c.id != me, "the node added itself as a peer"),
                    Event::PeerEvicted { .. } => self.stats.evicted += 1,
                    _ => {}
                },
            }
            self.log.push(out);
        }
        assert!(
            drained,
            "outputs did not drain within {MAX_OUTPUTS_PER_INPUT} polls"
        );
        self.check_tables();
    }

    fn check_tables(&self) {
        let cfg = self.node.config();
        let m = self.node.metrics();
        assert!(
            m.contacts <= cfg.membership.max_contacts,
            "contacts {} > cap {}",
            m.contacts,
            cfg.membership.max_contacts
        );
        assert!(
            m.forward_entries <= cfg.routing.max_forward_entries,
            "forward entries {} > cap {}",
            m.forward_entries,
            cfg.routing.max_forward_entries
        );
        assert!(
            m.elected_peers <= cfg.health.max_elected_peers,
            "elected peers {} > cap {}",
            m.elected_peers,
            cfg.health.max_elected_peers
        );
        assert!(
            m.active_elections <= cfg.elections.max_active_elections,
            "active elections {} > cap {}",
            m.active_elections,
            cfg.elections.max_active_elections
        );
        assert!(
            m.validated_addresses <= cfg.guard.max_validated_addresses,
            "validated addresses {} > cap",
            m.validated_addresses
        );
        assert!(
            m.rate_limited_hosts <= cfg.guard.max_rate_limited_hosts,
            "rate-limited hosts {} > cap",
            m.rate_limited_hosts
        );
        assert_eq!(self.node.contacts().count(), m.contacts);
        assert_eq!(self.node.elected_peers().count(), m.elected_peers);
        assert_eq!(self.node.active_elections().count(), m.active_elections);
        let me = self.node.id();
        assert!(
            self.node.contacts().all(|c| c.id != me),
            "the node lists itself as a contact"
        );
        assert!(
            self.node.elected_peers().all(|p| p.contact.id != me),
            "the node elected itself"
        );
    }
}

fn recent<T>(v: &[T], which: u8) -> Option<&T> {
    (!v.is_empty()).then(|| &v[v.len() - 1 - usize::from(which) % v.len()])
}

fn push_bounded<T>(v: &mut Vec<T>, x: T) {
    const KEEP: usize = 64;
    if v.len() >= 2 * KEEP {
        v.drain(..KEEP);
    }
    v.push(x);
}
