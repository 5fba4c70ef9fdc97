//! A hostile client on real UDP (127.0.0.1 only) against a small honest
//! cluster (docs/PROTOCOL.md "Address validation (anti-amplification)"):
//!
//! 1. a socket that never completes address validation sends queries naming
//!    random challengers for tokens the node stores: what comes back to it is
//!    at most 3× (in fact under 1×) the bytes it sent;
//! 2. 200,000 hostile datagrams from 128 sockets that do complete validation
//!    (queries for stored and for random tokens, forged answers, garbage)
//!    leave every table the node reports at or below its cap, the validation
//!    and rate-limit tables at their caps;
//! 3. during that flood, forged answers at every node leave the honest
//!    elections succeeding (≥ 90 % of those that finish).

use election_proto::election::MessageTicket;
use election_proto::id::{ring_distance, PeerId, TokenId};
use election_proto::node::Metrics;
use election_proto::wire::{self, Envelope, Message, Query};
use election_splitmix::SplitMix64;
use runtime_std::cluster::{cluster_node_config, Cluster, ClusterOptions};
use runtime_std::StdRuntime;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn query(rng: &mut SplitMix64, token: TokenId) -> Vec<u8> {
    let env: Envelope<SocketAddr> = Envelope {
        sender: PeerId::new(rng.bytes32()),
        message: Message::Query(Query {
            token,
            ticket: MessageTicket(rng.next_u64()),
            challenger: PeerId::new(rng.bytes32()),
            hops_left: 4,
        }),
    };
    wire::encode(&env).unwrap()
}

/// Counts every byte and datagram that arrives at `socket` until `stop`.
fn count_incoming(socket: UdpSocket, stop: Arc<AtomicBool>) -> (Arc<AtomicU64>, std::thread::JoinHandle<()>) {
    let bytes = Arc::new(AtomicU64::new(0));
    let b = bytes.clone();
    socket.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let handle = std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while !stop.load(Ordering::Relaxed) {
            if let Ok((n, _)) = socket.recv_from(&mut buf) {
                b.fetch_add(n as u64, Ordering::Relaxed);
            }
        }
    });
    (bytes, handle)
}

/// Sends `query` from `socket` to `to`, waits for the Retry, and resends the
/// query with its cookie: afterwards `socket`'s address is validated at `to`.
/// Returns the reply to the cookie query, if one came.
fn validate(socket: &UdpSocket, to: SocketAddr, query: &[u8]) -> Option<Vec<u8>> {
    socket.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 2048];
    for _ in 0..3 {
        socket.send_to(query, to).unwrap();
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            if from != to {
                continue;
            }
            let Ok(env) = wire::decode::<SocketAddr>(&buf[..n]) else {
                continue;
            };
            let Message::Retry(retry) = env.message else {
                continue;
            };
            let Ok(Envelope {
                sender,
                message: Message::Query(q),
            }) = wire::decode::<SocketAddr>(query)
            else {
                panic!("not a query");
            };
            let cq = Envelope::<SocketAddr> {
                sender,
                message: Message::CookieQuery(wire::CookieQuery {
                    query: q,
                    cookie: retry.cookie,
                }),
            };
            socket.send_to(&wire::encode(&cq).unwrap(), to).unwrap();
            socket.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            while let Ok((n, from)) = socket.recv_from(&mut buf) {
                if from == to {
                    if let Ok(env) = wire::decode::<SocketAddr>(&buf[..n]) {
                        if matches!(env.message, Message::Answer(_) | Message::Referral(_)) {
                            return Some(buf[..n].to_vec());
                        }
                    }
                }
            }
            return None;
        }
    }
    None
}

/// `(succeeded, finished)` elections summed over `metrics`.
fn outcomes(metrics: &[Metrics]) -> (u64, u64) {
    metrics.iter().fold((0, 0), |(s, f), m| {
        (
            s + m.elections_succeeded,
            f + m.elections_succeeded + m.failed_total(),
        )
    })
}

#[test]
fn a_hostile_client_gets_no_amplification_no_memory_and_no_say() {
    let mut config = cluster_node_config();
    // Small caps, so the flood reaches them.
    config.guard.max_validated_addresses = 64;
    config.guard.max_rate_limited_hosts = 32;
    config.routing.max_forward_entries = 64;
    let opts = ClusterOptions {
        nodes: 6,
        seed: 12,
        config: config.clone(),
        ..ClusterOptions::default()
    };
    let mut cluster = Cluster::start(&[&StdRuntime], &opts).unwrap();
    let victim = cluster.nodes()[0].local_addr();
    assert!(victim.ip().is_loopback());
    let victim_id = cluster.nodes()[0].id();
    // Tokens the victim stores (its view is an arc around its id): the ones it
    // would answer with ~800-byte proofs.
    let mut tokens: Vec<TokenId> = cluster.ledger().iter().map(|m| m.id).collect();
    tokens.sort_by_key(|t| ring_distance(&victim_id, t));
    tokens.truncate(64);
    cluster
        .wait_until(Duration::from_secs(120), Duration::from_millis(100), |p| {
            p.totals.elections_succeeded >= 12
        })
        .expect("the honest cluster elects before the attack");

    // 1. Amplification toward a sender that never completes validation.
    let mut rng = SplitMix64(7);
    let stop = Arc::new(AtomicBool::new(false));
    let lurker = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (came_back, reader) = count_incoming(lurker.try_clone().unwrap(), stop.clone());
    let mut sent = 0u64;
    for i in 0..2_000 {
        let q = query(&mut rng, tokens[i % tokens.len()]);
        sent += q.len() as u64;
        lurker.send_to(&q, victim).unwrap();
        if i % 10 == 9 {
            // Pace the lurker so the loopback buffers keep (nearly) everything:
            // the figure is about what the node sends, not what the kernel drops.
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    reader.join().unwrap();
    let ratio = came_back.load(Ordering::Relaxed) as f64 / sent as f64;
    println!(
        "unvalidated sender: {} bytes sent, {} bytes came back: {ratio:.3}x",
        sent,
        came_back.load(Ordering::Relaxed)
    );
    assert!(ratio <= 3.0, "amplification {ratio:.3}x");
    assert!(
        came_back.load(Ordering::Relaxed) > 0,
        "the victim sent its Retries"
    );
    let m = cluster.nodes()[0].metrics().unwrap();
    assert!(m.retries_sent >= 1_000, "{m:?}");

    // 2 and 3. 128 sockets complete validation once, then flood: queries
    // naming random challengers at the victim, forged answers at everyone,
    // garbage. The honest elections go on meanwhile.
    let hostile: Vec<UdpSocket> = (0..128)
        .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    let mut answer = None;
    for (i, s) in hostile.iter().enumerate() {
        let reply = validate(s, victim, &query(&mut rng, tokens[i % tokens.len()]));
        answer = answer.or(reply.filter(|r| {
            matches!(
                wire::decode::<SocketAddr>(r),
                Ok(Envelope {
                    message: Message::Answer(_),
                    ..
                })
            )
        }));
    }
    let answer = answer.expect("a validated query for a stored token is answered");
    let targets: Vec<SocketAddr> = cluster.nodes().iter().map(|n| n.local_addr()).collect();
    let before = outcomes(&cluster.progress().per_node);
    for s in &hostile {
        s.set_nonblocking(true).unwrap();
    }
    let mut buf = [0u8; 2048];
    let total = 200_000usize;
    for i in 0..total {
        let s = &hostile[i % hostile.len()];
        let (to, bytes) = match i % 4 {
            0 => {
                let t = tokens[rng.next_u64() as usize % tokens.len()];
                (victim, query(&mut rng, t))
            }
            // A token it does not store: forwarded (a reverse-path entry) or referred.
            1 => {
                let t = TokenId::new(rng.bytes32());
                (victim, query(&mut rng, t))
            }
            2 => {
                // A real answer with a random ticket and a mangled walk.
                let mut env = wire::decode::<SocketAddr>(&answer).unwrap();
                if let Message::Answer(a) = &mut env.message {
                    a.ticket = MessageTicket(rng.next_u64());
                    let k = rng.next_u64() as usize % a.signature.len();
                    a.signature[k].block = election_proto::id::BlockId::new(rng.bytes32());
                }
                (
                    targets[rng.next_u64() as usize % targets.len()],
                    wire::encode(&env).unwrap(),
                )
            }
            _ => {
                let len = 1 + rng.next_u64() as usize % 200;
                let mut b: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
                b[0] = wire::PROTOCOL_VERSION;
                (targets[rng.next_u64() as usize % targets.len()], b)
            }
        };
        let _ = s.send_to(&bytes, to);
        // Replies are read and dropped, so no socket buffer fills up.
        while s.recv_from(&mut buf).is_ok() {}
        if i % 500 == 499 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    // Let the elections running during the flood finish.
    std::thread::sleep(Duration::from_secs(4));
    let progress = cluster.progress();
    let after = outcomes(&progress.per_node);
    let (succeeded, finished) = (after.0 - before.0, after.1 - before.1);
    println!("during the flood: {succeeded} of {finished} honest elections succeeded");
    assert!(finished >= 10, "elections kept running: {finished}");
    assert!(
        succeeded as f64 >= 0.9 * finished as f64,
        "{succeeded} of {finished} succeeded"
    );

    // Every table at or below its cap; the ones the flood fills, at it.
    let m = &progress.per_node[0];
    println!(
        "victim tables: validated {} / {}, rate-limited hosts {} / {}, forward {} / {}, contacts {} / {}",
        m.validated_addresses,
        config.guard.max_validated_addresses,
        m.rate_limited_hosts,
        config.guard.max_rate_limited_hosts,
        m.forward_entries,
        config.routing.max_forward_entries,
        m.contacts,
        config.membership.max_contacts
    );
    assert_eq!(
        m.validated_addresses, config.guard.max_validated_addresses,
        "{m:?}"
    );
    assert_eq!(m.rate_limited_hosts, config.guard.max_rate_limited_hosts, "{m:?}");
    assert!(m.validated_evictions > 0, "{m:?}");
    assert!(m.queries_rate_limited > 0, "{m:?}");
    for n in &progress.per_node {
        assert!(n.forward_entries <= config.routing.max_forward_entries);
        assert!(n.contacts <= config.membership.max_contacts);
        assert!(n.validated_addresses <= config.guard.max_validated_addresses);
        assert!(n.rate_limited_hosts <= config.guard.max_rate_limited_hosts);
        assert!(n.active_elections <= config.elections.max_active_elections);
    }
    cluster.finish();
}
