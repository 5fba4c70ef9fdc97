//! Runs one window's events for a contiguous range of nodes.
//!
//! A worker feeds inputs to its nodes' cores, drains their outputs, and sends
//! datagrams through the adversaries ([`crate::adversary`]) and the network
//! model. It changes only its own nodes' state; everything that concerns other
//! nodes or the run as a whole (datagrams for later, digest records, counts) goes
//! into its [`WorkerOutput`], keyed so the outputs of several workers merge into
//! one order.

use super::counters::{ElectionCounters, NetCounters};
use super::digest;
use super::network::Fate;
use super::node::SimNode;
use super::oracle::{self, Win, WinRecord};
use super::queue::{Entry, Key, NodeEvent};
use super::world::World;
use crate::adversary::referrer::{self, Referrer};
use crate::adversary::relay::{self, Relay};
use crate::adversary::{self, eclipse, sybil, NodeKind, Outgoing, Receiver};
use election_proto::node::{Event, EvictionReason, Input, Output};
use election_proto::wire::{self, Contact, Envelope, Message};
use election_proto::PeerId;
use std::collections::BinaryHeap;

/// Sequence numbers of events a worker schedules for itself inside a window
/// start here (above every queue sequence number), offset by the node's counter,
/// so they run after the window's queued events at the same time, in the order
/// the node produced them.
const LOCAL_SEQ: u64 = 1 << 62;

/// What workers count while they run a window. Order-sensitive records carry
/// their [`Key`], so the merge of several workers' tallies can restore one order.
#[derive(Debug, Default)]
pub(super) struct Tally {
    /// Elections run by honest nodes.
    pub(super) honest: ElectionCounters,
    /// Elections run by every other node.
    pub(super) others: ElectionCounters,
    pub(super) net: NetCounters,
    /// Timers asked for when already due.
    pub(super) stuck_timers: u64,
    /// Latencies of honest wins.
    pub(super) latencies: Vec<(Key, u32)>,
    /// Classified honest wins (when recording).
    pub(super) wins: Vec<(Key, WinRecord)>,
    /// Every node event (when recording).
    pub(super) events: Vec<(Key, Event<u32>)>,
    /// Every eviction: its key (time, evicting node, counter), the peer and why.
    pub(super) evictions: Vec<(Key, PeerId, EvictionReason)>,
}

impl Tally {
    /// Adds `o`'s counts and records (in no particular order; see [`Tally::sort`]).
    pub(super) fn merge(&mut self, o: Tally) {
        self.honest.add(&o.honest);
        self.others.add(&o.others);
        self.net.add(&o.net);
        self.stuck_timers += o.stuck_timers;
        self.latencies.extend(o.latencies);
        self.wins.extend(o.wins);
        self.events.extend(o.events);
        self.evictions.extend(o.evictions);
    }

    /// Puts the records in key order.
    pub(super) fn sort(&mut self) {
        self.latencies.sort_unstable_by_key(|(k, _)| *k);
        self.wins.sort_unstable_by_key(|(k, _)| *k);
        self.events.sort_unstable_by_key(|(k, _)| *k);
        self.evictions.sort_unstable_by_key(|(k, _, _)| *k);
    }

    /// Puts records that are runs of sorted parts (see
    /// [`WorkerOutput::merge_sorted`]) in key order: the stable sort finds the
    /// runs and merges them in linear time.
    fn sort_runs(&mut self) {
        self.latencies.sort_by_key(|(k, _)| *k);
        self.wins.sort_by_key(|(k, _)| *k);
        self.events.sort_by_key(|(k, _)| *k);
        self.evictions.sort_by_key(|(k, _, _)| *k);
    }
}

/// What a worker produced, for the simulator to merge after the window.
#[derive(Debug, Default)]
pub(super) struct WorkerOutput {
    /// Events at or after the window's end, for the queue.
    pub(super) outbox: Vec<(Key, NodeEvent)>,
    /// Digest records.
    pub(super) log: Vec<(Key, [u8; 32])>,
    /// Counts and records.
    pub(super) tally: Tally,
    /// Time of the last event run.
    pub(super) last_time: u64,
}

impl WorkerOutput {
    /// Adds `o` (in no particular order; see [`WorkerOutput::sort`]).
    pub(super) fn merge(&mut self, o: WorkerOutput) {
        self.outbox.extend(o.outbox);
        self.log.extend(o.log);
        self.tally.merge(o.tally);
        self.last_time = self.last_time.max(o.last_time);
    }

    /// Puts everything in key order: keys are unique, so the order does not
    /// depend on how nodes were split among workers.
    pub(super) fn sort(&mut self) {
        self.outbox.sort_unstable_by_key(|(k, _)| *k);
        self.log.sort_unstable_by_key(|(k, _)| *k);
        self.tally.sort();
    }

    /// Merges outputs each already in key order ([`WorkerOutput::sort`], done
    /// by each worker on its own thread) into one in key order. Appending
    /// them leaves one sorted run per part, which the stable sort merges in
    /// linear time: the thread that merges does no `n log n` work.
    pub(super) fn merge_sorted(parts: Vec<WorkerOutput>) -> WorkerOutput {
        let mut all = WorkerOutput::default();
        for p in parts {
            all.merge(p);
        }
        all.outbox.sort_by_key(|(k, _)| *k);
        all.log.sort_by_key(|(k, _)| *k);
        all.tally.sort_runs();
        all
    }
}

/// Processes the events of one window for the nodes `base..base + nodes.len()`.
#[derive(Debug)]
pub(super) struct Worker<'a> {
    world: &'a World,
    nodes: &'a mut [SimNode],
    base: usize,
    /// End of the window: events scheduled before it run in this worker.
    wend: u64,
    now: u64,
    local: BinaryHeap<Entry<NodeEvent>>,
    out: WorkerOutput,
    out_buf: Vec<Output<u32>>,
}

impl<'a> Worker<'a> {
    /// A worker for `nodes` (the first is node `base`) in the window ending at
    /// `wend`, with time at `now`.
    pub(super) fn new(world: &'a World, nodes: &'a mut [SimNode], base: usize, wend: u64, now: u64) -> Self {
        Self {
            world,
            nodes,
            base,
            wend,
            now,
            local: BinaryHeap::new(),
            out: WorkerOutput::default(),
            out_buf: Vec::new(),
        }
    }

    /// Runs `events` (all for this worker's nodes, all before the window's end)
    /// and whatever they schedule inside the window.
    pub(super) fn run(mut self, events: Vec<Entry<NodeEvent>>) -> WorkerOutput {
        self.local = BinaryHeap::from(events);
        while let Some(e) = self.local.pop() {
            self.now = e.time;
            self.out.last_time = self.out.last_time.max(e.time);
            self.out.tally.net.events += 1;
            match e.ev {
                NodeEvent::Deliver { to, from, bytes } => self.deliver(to as usize, from, bytes),
                NodeEvent::Timer { node, at } => {
                    if self.node(node as usize).take_timer(at) {
                        self.out.tally.net.timers += 1;
                        self.feed(node as usize, Input::Timer);
                    }
                }
            }
        }
        self.out
    }

    /// Feeds one input to node `i` now, outside any window: with the window
    /// ending now, everything it schedules lands in the outbox.
    pub(super) fn feed_one(mut self, i: usize, input: Input<'_, u32>) -> WorkerOutput {
        debug_assert_eq!(self.wend, self.now);
        self.feed(i, input);
        debug_assert!(self.local.is_empty());
        self.out
    }

    #[inline]
    fn node(&mut self, i: usize) -> &mut SimNode {
        &mut self.nodes[i - self.base]
    }

    fn key(&mut self, i: usize, time: u64) -> Key {
        self.node(i).next_key(i as u32, time)
    }

    /// Schedules `ev`, produced by node `origin`, at `time`.
    fn schedule(&mut self, origin: usize, time: u64, ev: NodeEvent) {
        let key = self.key(origin, time);
        if time < self.wend {
            // Only a node's own timer can fall inside the window (datagrams take at
            // least the lookahead), and the target is then this worker's own node.
            self.local.push(Entry {
                time,
                seq: LOCAL_SEQ + key.2,
                ev,
            });
        } else {
            self.out.outbox.push((key, ev));
        }
    }

    /// Adds a digest record for node `i`, now.
    fn log(&mut self, i: usize, hash: [u8; 32]) {
        let key = self.key(i, self.now);
        self.out.log.push((key, hash));
    }

    fn feed(&mut self, i: usize, input: Input<'_, u32>) {
        let now = self.now;
        let Some(core) = self.node(i).core_mut() else {
            return;
        };
        core.handle_input(now, input);
        self.drain(i);
    }

    /// Handles everything node `i`'s core wants after an input, then re-arms its timer.
    fn drain(&mut self, i: usize) {
        let mut buf = std::mem::take(&mut self.out_buf);
        let timeout = {
            let Some(core) = self.node(i).core_mut() else {
                self.out_buf = buf;
                return;
            };
            while let Some(o) = core.poll_output() {
                buf.push(o);
            }
            core.poll_timeout()
        };
        for o in buf.drain(..) {
            match o {
                Output::Send { to, bytes } => self.transmit(i, to, bytes),
                Output::Event(e) => self.on_event(i, e),
            }
        }
        self.out_buf = buf;
        let world = self.world;
        let now = self.now;
        if world.kind(i) == NodeKind::Eclipse && self.node(i).flood_due(now, eclipse::FLOOD_EVERY_MS) {
            let burst = eclipse::flood(world.addr(i), world.len(), self.node(i).rng());
            for (to, sender, message) in burst {
                let to = world.addr(to as usize);
                self.adversary_send(i, to, sender, message);
            }
        }
        if world.kind(i).is_sybil_host()
            && !world.sybil_extra(i).is_empty()
            && self.node(i).flood_due(now, sybil::INTRO_EVERY_MS)
        {
            let burst = sybil::introduce(world.sybil_extra(i), world.len(), self.node(i).rng());
            for (to, sender, message) in burst {
                let to = world.addr(to as usize);
                self.adversary_send(i, to, sender, message);
            }
        }
        let now = self.now;
        if let Some(r) = self.node(i).rearm(timeout, now) {
            self.out.tally.stuck_timers += u64::from(r.stuck);
            self.schedule(
                i,
                r.at,
                NodeEvent::Timer {
                    node: i as u32,
                    at: r.at,
                },
            );
        }
    }

    /// Hands a datagram from node `from` to the network: the sender's own
    /// tampering first, then the network's fate.
    fn transmit(&mut self, from: usize, to_addr: u32, mut bytes: Vec<u8>) {
        let world = self.world;
        self.out.tally.net.sent += 1;
        self.out.tally.net.sent_bytes += bytes.len() as u64;
        if world.kind(from) == NodeKind::Honest {
            self.out.tally.net.honest_sent += 1;
        }
        let Some(to) = world.node_at(to_addr) else {
            self.out.tally.net.bad_address += 1;
            return;
        };
        let to = to as u32;
        match adversary::tamper(world.kind(from), &mut bytes, self.node(from).rng()) {
            Outgoing::Dropped => {
                self.out.tally.net.adversary_dropped += 1;
                return;
            }
            Outgoing::Mangled => self.out.tally.net.mangled += 1,
            Outgoing::Untouched => {}
        }
        let now = self.now;
        let fate = world.network().fate(from, to, now, self.node(from).rng());
        let net = &mut self.out.tally.net;
        match fate {
            Fate::BadAddress => net.bad_address += 1,
            Fate::PartitionDropped => net.partition_dropped += 1,
            Fate::Lost => net.lost += 1,
            Fate::Arrives { at, copy_at } => {
                let from32 = world.addr(from);
                if let Some(at2) = copy_at {
                    net.duplicated += 1;
                    let copy = bytes.clone();
                    let ev = NodeEvent::Deliver {
                        to,
                        from: from32,
                        bytes: copy,
                    };
                    self.schedule(from, at2, ev);
                }
                self.schedule(
                    from,
                    at,
                    NodeEvent::Deliver {
                        to,
                        from: from32,
                        bytes,
                    },
                );
            }
        }
    }

    /// A datagram arrives at node `i`: recorded, then handed to the adversary
    /// logic or the core.
    fn deliver(&mut self, i: usize, from: u32, bytes: Vec<u8>) {
        self.log(i, digest::datagram_hash(from, &bytes));
        if !self.node(i).is_online() {
            self.out.tally.net.offline_dropped += 1;
            return;
        }
        self.out.tally.net.delivered += 1;
        let world = self.world;
        let now = self.now;
        let me = Contact {
            id: world.id(i),
            addr: world.addr(i),
        };
        if world.kind(i) == NodeKind::Eclipse {
            let eclipse_addrs = world.eclipse_addrs();
            if let Some(replies) =
                eclipse::intercept(me.addr, eclipse_addrs, from, &bytes, self.node(i).rng())
            {
                for (to, sender, message) in replies {
                    self.adversary_send(i, to, sender, message);
                }
                return;
            }
        }
        if world.kind(i).is_sybil_host() {
            if let Some(replies) = self.sybil_intercept(i, me.clone(), from, &bytes) {
                for (to, sender, message) in replies {
                    self.adversary_send(i, to, sender, message);
                }
                return;
            }
        }
        let replies = self.node(i).adversary_parts().and_then(|(core, rng, forks)| {
            let node = Receiver {
                kind: world.kind(i),
                me,
                core,
                rng,
                forks,
                colluder_secret: world.colluder_secret(i),
                now,
            };
            adversary::intercept(node, from, &bytes)
        });
        match replies {
            Some(replies) => {
                let sender = world.id(i);
                for (to, message) in replies {
                    self.adversary_send(i, to, sender, message);
                }
            }
            None => self.feed(i, Input::Datagram { from, bytes: &bytes }),
        }
    }

    /// What sybil host `i` (a relay or a referrer, at `me`) does with a
    /// datagram: pongs for its extra ids, then its kind's own interception.
    /// `None`: its core handles the datagram.
    fn sybil_intercept(
        &mut self,
        i: usize,
        me: Contact<u32>,
        from: u32,
        bytes: &[u8],
    ) -> Option<Vec<(u32, PeerId, Message<u32>)>> {
        let world = self.world;
        let now = self.now;
        if let Ok(Envelope {
            message: Message::Ping(ping),
            ..
        }) = wire::decode::<u32>(bytes)
        {
            let (sender, pong) = sybil::pong_for(world.sybil_extra(i), &ping)?;
            return Some(vec![(from, sender, pong)]);
        }
        match world.kind(i) {
            NodeKind::Relay => {
                let (core, relays) = self.node(i).relay_parts()?;
                let node = Relay {
                    me,
                    core,
                    keys: world.sybil_keys(i),
                    relay_addrs: world.relay_addrs(),
                    relays,
                    now,
                };
                relay::intercept(node, from, bytes)
            }
            NodeKind::Referrer => {
                let (rng, memory) = self.node(i).referrer_parts()?;
                let node = Referrer {
                    me,
                    extra: world.sybil_extra(i),
                    hosts: world.referrers(),
                    memory,
                    rng,
                    now,
                };
                referrer::intercept(node, from, bytes)
            }
            _ => None,
        }
    }

    /// Sends a message adversary logic wrote (not the core) from node `from`.
    fn adversary_send(&mut self, from: usize, to: u32, sender: PeerId, message: Message<u32>) {
        self.out.tally.net.adversary_sent[message.kind().index()] += 1;
        if let Ok(bytes) = wire::encode(&Envelope { sender, message }) {
            self.transmit(from, to, bytes);
        }
    }

    /// Node `i` reported `e`: recorded, counted, and a win classified by the oracle.
    fn on_event(&mut self, i: usize, e: Event<u32>) {
        self.log(i, digest::event_hash(&e));
        let world = self.world;
        let honest = world.kind(i) == NodeKind::Honest;
        let first_split_brain = self.node(i).first_split_brain(&e);
        if matches!(e, Event::PeerAdded(_)) {
            let now = self.now;
            self.node(i).peer_added(now);
        }
        if let Event::PeerEvicted { peer, reason } = &e {
            let key = self.key(i, self.now);
            self.out.tally.evictions.push((key, *peer, *reason));
        }
        let tally = &mut self.out.tally;
        let counters = if honest {
            &mut tally.honest
        } else {
            &mut tally.others
        };
        counters.count_event(&e, first_split_brain);
        if let Event::Elected {
            token,
            winner,
            cluster_size,
            responses,
            latency_ms,
            ..
        } = &e
        {
            let win = Win {
                time_ms: self.now,
                challenger: i,
                token,
                winner,
                cluster_size: *cluster_size,
                responses: *responses,
                latency_ms: *latency_ms,
            };
            let rec = oracle::classify(world, &win);
            counters.count_win(&rec);
            if honest {
                let key = self.key(i, self.now);
                let latency = u32::try_from(*latency_ms).unwrap_or(u32::MAX);
                self.out.tally.latencies.push((key, latency));
                if world.records() {
                    self.out.tally.wins.push((key, rec));
                }
            }
        }
        if world.records() {
            let key = self.key(i, self.now);
            self.out.tally.events.push((key, e));
        }
    }
}
