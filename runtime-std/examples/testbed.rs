//! Helper of the real-address testbed (`testbed/run.sh`, docs/TESTBED.md):
//! the attacker, the summary of a run, and the identity proof-of-work cost.
//! A dev-only example: it is never part of the library or the daemon.
//!
//! ```text
//! testbed sybil --variant refer|relay|store --addrs IP:PORT,... --target ADDR
//!               --target-id-seed N [--honest ADDR,...] [--duration SECS]
//!               [--near-bits K] [--ledger-seed N] [--ledger-tokens N] [--out FILE]
//! testbed summarize DIR [--json]
//! testbed pow-cost [--tries N] [--bits B,...]
//! ```
//!
//! `sybil` runs one sybil identity per address in `--addrs` (one UDP socket
//! and one protocol core each, one thread each), all with ids mined within
//! `2^(256 - K)` of the target's id (free keys: `pow_difficulty` 0, as the
//! testbed's honest nodes), each joining through the target. What a sybil
//! does with a `Query` (or `CookieQuery`) for another challenger:
//!
//! - `refer`: answers with a `Referral` to two of the attacker's other ids;
//! - `relay`: forwards it (same challenger and ticket, no hops left) to an
//!   honest node of `--honest`, completing address validation if asked, and
//!   re-signs the `Answer` that comes back as its own (it stores nothing);
//! - `store`: nothing special: its core holds an honest copy of the ledger
//!   (the 90 % arc around its id, like an honest node) and answers.
//!
//! Everything else goes to the sybil's core. On exit (after `--duration` or
//! SIGTERM-less: the testbed waits for it) it writes `--out` (JSON: the
//! sybils' contacts and counters).
//!
//! `summarize DIR` reads what `testbed/run.sh` left in `DIR` and prints the
//! run's figures (see docs/TESTBED.md for each).
#![forbid(unsafe_code)]

use election_proto::election::MessageTicket;
use election_proto::id::{ring_distance, PeerId};
use election_proto::keys::{answer_signed_bytes, pow_hash, NodeKey};
use election_proto::node::{Command, Input, Node, NodeConfig, Output};
use election_proto::wire::{self, Answer, Contact, CookieQuery, Envelope, Message, Query, Referral};
use runtime_std::identity::{seeded_rng, Identity};
use runtime_std::ledger::{synthetic_ledger, LedgerView, DEFAULT_COVERAGE, DEFAULT_SYNTHETIC_TOKENS};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("sybil") => sybil(&Opts::parse(&args[1..])),
        Some("summarize") => summarize(&args[1..]),
        Some("pow-cost") => pow_cost(&Opts::parse(&args[1..])),
        _ => Err("usage: testbed sybil|summarize|pow-cost ... (see the file's docs)".to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// `--key value` options.
struct Opts(BTreeMap<String, String>);

impl Opts {
    fn parse(args: &[String]) -> Self {
        let mut m = BTreeMap::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            if let Some(k) = a.strip_prefix("--") {
                m.insert(k.to_string(), it.next().cloned().unwrap_or_default());
            }
        }
        Self(m)
    }

    fn get<T: std::str::FromStr>(&self, key: &str, default: Option<T>) -> Result<T, String> {
        match self.0.get(key) {
            Some(v) => v.parse().map_err(|_| format!("--{key} {v:?}: not valid")),
            None => default.ok_or_else(|| format!("--{key} is required")),
        }
    }

    fn addrs(&self, key: &str) -> Result<Vec<SocketAddr>, String> {
        self.0
            .get(key)
            .map(|v| {
                v.split(',')
                    .filter(|s| !s.is_empty())
                    .map(|s| s.parse().map_err(|_| format!("--{key}: bad address {s:?}")))
                    .collect()
            })
            .unwrap_or(Ok(Vec::new()))
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Variant {
    Refer,
    Relay,
    Store,
}

/// Leading zero bits of the ring distance between two points.
fn closeness(a: &PeerId, b: &PeerId) -> u32 {
    election_proto::keys::leading_zero_bits(&ring_distance(a, b).0)
}

/// `count` keys whose ids are within `2^(256 - near_bits)` of `target`
/// (a ring distance has at most 255 significant bits, so `near_bits` 1 is
/// any key). Deterministic from `seed`.
fn mine_near(target: &PeerId, count: usize, near_bits: u32, seed: u64) -> Vec<NodeKey> {
    let mut rng = seeded_rng("election testbed sybil keys v1", &seed.to_le_bytes());
    let mut out = Vec::with_capacity(count);
    let limit = 1u64 << near_bits.min(40);
    while out.len() < count {
        // Bounded: expected 2^near_bits tries per key; give up widening after 64x.
        let mut found = None;
        for _ in 0..limit.saturating_mul(64) {
            let mut secret = [0u8; 32];
            rand_chacha::rand_core::RngCore::fill_bytes(&mut rng, &mut secret);
            let key = NodeKey::from_secret(secret);
            if closeness(&key.peer_id(), target) + 1 >= near_bits {
                found = Some(key);
                break;
            }
        }
        match found {
            Some(k) => out.push(k),
            None => return out,
        }
    }
    out
}

/// What one sybil counted.
#[derive(Default, Clone, Copy)]
struct Counts {
    queries: u64,
    referrals_sent: u64,
    relayed_out: u64,
    relayed_answers: u64,
    relay_referrals: u64,
}

fn sybil(o: &Opts) -> Result<(), String> {
    let variant = match o.get::<String>("variant", None)?.as_str() {
        "refer" => Variant::Refer,
        "relay" => Variant::Relay,
        "store" => Variant::Store,
        v => return Err(format!("--variant {v:?}: expected refer, relay or store")),
    };
    let addrs = o.addrs("addrs")?;
    if addrs.len() < 3 {
        return Err("--addrs: give at least 3 addresses".into());
    }
    let target: SocketAddr = o.get("target", None)?;
    let target_id = Identity::from_u64(o.get("target-id-seed", None)?).peer_id();
    let honest = o.addrs("honest")?;
    if variant == Variant::Relay && honest.is_empty() {
        return Err("--variant relay needs --honest ADDR,...".into());
    }
    let duration = Duration::from_secs(o.get("duration", Some(60))?);
    let near_bits: u32 = o.get("near-bits", Some(10))?;
    let ledger_seed: u64 = o.get("ledger-seed", Some(0))?;
    let ledger_tokens: usize = o.get("ledger-tokens", Some(DEFAULT_SYNTHETIC_TOKENS))?;
    let began = Instant::now();
    let keys = mine_near(&target_id, addrs.len(), near_bits, o.get("seed", Some(7))?);
    if keys.len() < addrs.len() {
        return Err(format!("could mine only {} ids near the target", keys.len()));
    }
    eprintln!(
        "sybil: {} {variant:?} ids within 2^{} of {} mined in {:.1} s",
        keys.len(),
        256 - near_bits,
        target_id,
        began.elapsed().as_secs_f64()
    );
    let contacts: Arc<Vec<Contact<SocketAddr>>> = Arc::new(
        keys.iter()
            .zip(&addrs)
            .map(|(k, a)| Contact {
                id: k.peer_id(),
                addr: *a,
            })
            .collect(),
    );
    let ledger = Arc::new(synthetic_ledger(ledger_seed, ledger_tokens));
    let started_unix_ms = unix_ms();
    let mut handles = Vec::new();
    for (i, key) in keys.into_iter().enumerate() {
        let socket = UdpSocket::bind(addrs[i]).map_err(|e| format!("bind {}: {e}", addrs[i]))?;
        let id = key.peer_id();
        let view = match variant {
            Variant::Store => LedgerView::arc_around(ledger.clone(), &id, DEFAULT_COVERAGE),
            _ => LedgerView::arc_around(ledger.clone(), &id, 0.0),
        };
        let mut config = NodeConfig::default();
        // The sybils' own elections are not the attack; keep them rare.
        config.health.election_interval_ms = 600_000;
        let seed = *blake3::hash(&key.secret_bytes()).as_bytes();
        let node = Node::new(config, key.clone(), addrs[i], view, seed).map_err(|e| e.to_string())?;
        let contacts = contacts.clone();
        let honest = honest.clone();
        handles.push(std::thread::spawn(move || {
            drive(
                node, key, socket, i, &contacts, &honest, target, variant, duration,
            )
        }));
    }
    let mut total = Counts::default();
    let mut per: Vec<Value> = Vec::new();
    for (h, c) in handles.into_iter().zip(contacts.iter()) {
        let (counts, metrics, known) = h.join().map_err(|_| "a sybil thread panicked".to_string())?;
        total.queries += counts.queries;
        total.referrals_sent += counts.referrals_sent;
        total.relayed_out += counts.relayed_out;
        total.relayed_answers += counts.relayed_answers;
        total.relay_referrals += counts.relay_referrals;
        per.push(json!({
            "id": c.id.to_string(), "addr": c.addr.to_string(), "contacts": known,
            "elections_succeeded": metrics.elections_succeeded,
        }));
    }
    let out = json!({
        "started_unix_ms": started_unix_ms,
        "ended_unix_ms": unix_ms(),
        "variant": format!("{variant:?}").to_lowercase(),
        "target": target.to_string(),
        "target_id": target_id.to_string(),
        "near_bits": near_bits,
        "queries": total.queries,
        "referrals_sent": total.referrals_sent,
        "relayed_out": total.relayed_out,
        "relayed_answers": total.relayed_answers,
        "relay_referrals": total.relay_referrals,
        "sybils": per,
    });
    let text = serde_json::to_string_pretty(&out).map_err(|e| e.to_string())?;
    match o.0.get("out") {
        Some(path) => std::fs::write(path, text).map_err(|e| format!("{path}: {e}"))?,
        None => println!("{text}"),
    }
    Ok(())
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A query this relay forwarded: to whom the answer goes back.
struct Relayed {
    from: SocketAddr,
    query: Query,
    tries: u8,
}

/// Runs one sybil until `duration` has passed. Returns its counters, its
/// core's metrics and how many contacts its core knows.
#[allow(clippy::too_many_arguments)]
fn drive(
    mut node: Node<SocketAddr, LedgerView>,
    key: NodeKey,
    socket: UdpSocket,
    index: usize,
    sybils: &[Contact<SocketAddr>],
    honest: &[SocketAddr],
    target: SocketAddr,
    variant: Variant,
    duration: Duration,
) -> (Counts, election_proto::node::Metrics, usize) {
    let me = sybils[index].clone();
    let start = Instant::now();
    let now = || start.elapsed().as_millis() as u64;
    let mut counts = Counts::default();
    let mut relayed: BTreeMap<MessageTicket, Relayed> = BTreeMap::new();
    let mut pick = index as u64;
    let mut buf = [0u8; 2048];
    node.handle_input(now(), Input::Command(Command::AddSeeds(vec![target])));
    let send = |to: SocketAddr, message: Message<SocketAddr>| {
        let env = Envelope {
            sender: me.id,
            message,
        };
        if let Ok(bytes) = wire::encode(&env) {
            let _ = socket.send_to(&bytes, to);
        }
    };
    while start.elapsed() < duration {
        while let Some(out) = node.poll_output() {
            if let Output::Send { to, bytes } = out {
                let _ = socket.send_to(&bytes, to);
            }
        }
        let wait = node
            .poll_timeout()
            .map_or(50, |t| t.saturating_sub(now()))
            .clamp(1, 50);
        let _ = socket.set_read_timeout(Some(Duration::from_millis(wait)));
        let got = socket.recv_from(&mut buf);
        if let Ok((n, from)) = got {
            let bytes = &buf[..n];
            let env = wire::decode::<SocketAddr>(bytes).ok();
            let query = match env.as_ref().map(|e| &e.message) {
                Some(Message::Query(q)) => Some(*q),
                Some(Message::CookieQuery(CookieQuery { query, .. })) => Some(*query),
                _ => None,
            };
            let handled = match (variant, query) {
                (Variant::Refer, Some(q)) if q.challenger != me.id => {
                    counts.queries += 1;
                    pick = pick
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let a = (index + 1 + (pick >> 33) as usize % (sybils.len() - 1)) % sybils.len();
                    let b = if (a + 1) % sybils.len() == index {
                        (a + 2) % sybils.len()
                    } else {
                        (a + 1) % sybils.len()
                    };
                    send(
                        from,
                        Message::Referral(Referral {
                            ticket: q.ticket,
                            token: q.token,
                            high: sybils[a].clone(),
                            low: sybils[b].clone(),
                        }),
                    );
                    counts.referrals_sent += 1;
                    true
                }
                (Variant::Relay, Some(q)) if q.challenger != me.id => {
                    counts.queries += 1;
                    if relayed.len() >= 4096 {
                        relayed.clear();
                    }
                    pick = pick
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let to = honest[(pick >> 33) as usize % honest.len()];
                    let fwd = Query { hops_left: 0, ..q };
                    relayed.insert(
                        q.ticket,
                        Relayed {
                            from,
                            query: fwd,
                            tries: 1,
                        },
                    );
                    send(to, Message::Query(fwd));
                    counts.relayed_out += 1;
                    true
                }
                (Variant::Relay, None) => match env.map(|e| e.message) {
                    Some(Message::Retry(r)) if relayed.contains_key(&r.ticket) => {
                        if let Some(rel) = relayed.get(&r.ticket) {
                            send(
                                from,
                                Message::CookieQuery(CookieQuery {
                                    query: rel.query,
                                    cookie: r.cookie,
                                }),
                            );
                        }
                        true
                    }
                    Some(Message::Answer(a)) if relayed.contains_key(&a.ticket) => {
                        if let Some(rel) = relayed.remove(&a.ticket) {
                            let q = rel.query;
                            if let Some(signed) = answer_signed_bytes(
                                &q.challenger,
                                q.ticket,
                                &q.token,
                                &a.answer,
                                &a.signature,
                                &a.proof,
                                &me.addr,
                            ) {
                                send(
                                    rel.from,
                                    Message::Answer(Answer {
                                        ticket: a.ticket,
                                        answer: a.answer,
                                        signature: a.signature,
                                        // The holder's proof: all a relay has.
                                        proof: a.proof,
                                        responder: me.clone(),
                                        key: key.public(),
                                        pow: key.pow_nonce(),
                                        auth: key.sign(&signed),
                                    }),
                                );
                                counts.relayed_answers += 1;
                            }
                        }
                        true
                    }
                    Some(Message::Referral(r)) if relayed.contains_key(&r.ticket) => {
                        counts.relay_referrals += 1;
                        // That honest node does not hold the token: try another, twice at most.
                        if let Some(rel) = relayed.get_mut(&r.ticket) {
                            if rel.tries < 3 {
                                rel.tries += 1;
                                let q = rel.query;
                                pick = pick
                                    .wrapping_mul(6364136223846793005)
                                    .wrapping_add(1442695040888963407);
                                let to = honest[(pick >> 33) as usize % honest.len()];
                                send(to, Message::Query(q));
                            } else {
                                relayed.remove(&r.ticket);
                            }
                        }
                        true
                    }
                    _ => false,
                },
                _ => false,
            };
            if !handled {
                node.handle_input(now(), Input::Datagram { from, bytes });
            }
        }
        if node.poll_timeout().is_some_and(|t| t <= now()) {
            node.handle_input(now(), Input::Timer);
        }
    }
    let known = node.contacts().count();
    (counts, node.metrics(), known)
}

/// Argon2id cost of the identity proof of work on this machine, one core.
fn pow_cost(o: &Opts) -> Result<(), String> {
    let tries: u64 = o.get("tries", Some(200))?;
    let key = NodeKey::from_secret([9; 32]).public();
    let began = Instant::now();
    let mut zeros = 0u32;
    for n in 0..tries {
        zeros = zeros.max(election_proto::keys::leading_zero_bits(&pow_hash(&key, n)));
    }
    let per = began.elapsed().as_secs_f64() / tries.max(1) as f64;
    println!(
        "{tries} Argon2id evaluations: {:.2} ms each (one core)",
        per * 1e3
    );
    // Keys, no proof of work: the cost of grinding an id near a point.
    let began = Instant::now();
    let n = 20_000u32;
    let mut best = 0;
    for i in 0..n {
        let mut s = [0u8; 32];
        s[..4].copy_from_slice(&i.to_le_bytes());
        best = best.max(NodeKey::from_secret(s).peer_id().as_bytes()[0]);
    }
    let per_key = began.elapsed().as_secs_f64() / f64::from(n);
    println!("{n} Ed25519 keys + ids: {:.2} us each", per_key * 1e6);
    println!("bits  expected mining time (one core)  per id, attacker near a point 2^-12 of the ring");
    for bits in [8u32, 12, 14, 16, 18, 20, 22, 24] {
        let t = per * 2f64.powi(bits as i32);
        let grind = per_key * 4096.0;
        println!("{bits:>4}  {:>12}  {:>12}", human(t), human(t + grind));
    }
    let _ = (zeros, best);
    Ok(())
}

fn human(secs: f64) -> String {
    if secs < 120.0 {
        format!("{secs:.1} s")
    } else if secs < 7200.0 {
        format!("{:.1} min", secs / 60.0)
    } else if secs < 172_800.0 {
        format!("{:.1} h", secs / 3600.0)
    } else {
        format!("{:.1} d", secs / 86_400.0)
    }
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// The sum of a JSON object's (or array's) numbers.
fn sum_values(v: &Value) -> u64 {
    match v {
        Value::Object(m) => m.values().map(u).sum(),
        Value::Array(a) => a.iter().map(u).sum(),
        _ => 0,
    }
}

fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted.get(i).copied()
}

/// The run's figures from `DIR/meta.json`, `DIR/node-*/summary.json`,
/// `DIR/sybil.json` and `DIR/counters.txt`.
fn summarize(args: &[String]) -> Result<(), String> {
    let dir = Path::new(args.first().ok_or("summarize DIR")?);
    let as_json = args.iter().any(|a| a == "--json");
    let meta = read_json(&dir.join("meta.json"))?;
    let mut nodes = Vec::new();
    let mut missing = 0;
    for i in 0..u(&meta["nodes"]) {
        match read_json(&dir.join(format!("node-{i}")).join("summary.json")) {
            Ok(v) => nodes.push((i, v)),
            Err(_) => missing += 1,
        }
    }
    let sybil = read_json(&dir.join("sybil.json")).ok();
    let sybil_addrs: BTreeSet<String> = sybil
        .as_ref()
        .and_then(|s| s["sybils"].as_array())
        .map(|a| {
            a.iter()
                .filter_map(|x| x["addr"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let is_sybil = |v: &Value| v["addr"].as_str().is_some_and(|a| sybil_addrs.contains(a));
    let attack_from = sybil.as_ref().map_or(0, |s| u(&s["started_unix_ms"]));
    let attack_to = sybil.as_ref().map_or(u64::MAX, |s| u(&s["ended_unix_ms"]));
    let target_index = meta["target_index"].as_u64();
    // Honest totals.
    let (mut ok, mut finished, mut sent, mut t8) = (0u64, 0u64, 0u64, Vec::new());
    let mut never8 = 0;
    let mut elected8 = 0;
    let mut exhausted = 0;
    let mut min_contacts = u64::MAX;
    for (_, n) in &nodes {
        let m = &n["metrics"];
        ok += u(&m["elections_succeeded"]);
        let failed: u64 = sum_values(&m["elections_failed"]);
        finished += u(&m["elections_succeeded"]) + failed;
        sent += sum_values(&m["sent"]["count"]);
        match n["time_to_contacts_ms"].as_u64() {
            Some(t) => t8.push(t),
            None => never8 += 1,
        }
        if n["elected"].as_array().map_or(0, Vec::len) >= 8 {
            elected8 += 1;
        }
        min_contacts = min_contacts.min(n["contacts"].as_array().map_or(0, |a| a.len() as u64));
        exhausted += u(&m["elections_failed"]["exhausted"]);
    }
    t8.sort_unstable();
    let mut out = json!({
        "label": meta["label"],
        "nodes": meta["nodes"], "subnets": meta["subnets"], "duration_s": meta["duration"],
        "summaries_missing": missing,
        "success": if finished > 0 { ok as f64 / finished as f64 } else { 0.0 },
        "elections_finished": finished,
        "elections_exhausted": exhausted,
        "messages_sent": sent,
        "messages_per_election": if finished > 0 { sent as f64 / finished as f64 } else { 0.0 },
        "time_to_8_contacts_ms": {"median": percentile(&t8, 0.5), "p90": percentile(&t8, 0.9), "max": t8.last()},
        "nodes_never_8_contacts": never8,
        "nodes_with_8_elected_at_end": elected8,
        "least_contacts_at_end": if min_contacts == u64::MAX { 0 } else { min_contacts },
        "nodes_with_warnings": nodes.iter().filter(|(_, n)| n["warnings"].as_array().is_some_and(|w| !w.is_empty())).count(),
    });
    if let (Some(s), Some(t)) = (&sybil, target_index) {
        let target = nodes.iter().find(|(i, _)| *i == t).map(|(_, n)| n);
        if let Some(n) = target {
            let started = u(&n["started_unix_ms"]);
            let in_window: Vec<&Value> = n["elections"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter(|e| {
                            let at = started + u(&e["at_ms"]);
                            at >= attack_from && at <= attack_to
                        })
                        .collect()
                })
                .unwrap_or_default();
            let won = in_window.iter().filter(|e| e["outcome"] == "elected").count();
            let by_sybil = in_window
                .iter()
                .filter(|e| e["winner"].as_str().is_some_and(|a| sybil_addrs.contains(a)))
                .count();
            let exhausted = in_window.iter().filter(|e| e["outcome"] == "exhausted").count();
            let contacts = n["contacts"].as_array().cloned().unwrap_or_default();
            let elected = n["elected"].as_array().cloned().unwrap_or_default();
            out["target"] = json!({
                "elections_in_attack": in_window.len(),
                "success_in_attack": if in_window.is_empty() { 0.0 } else { won as f64 / in_window.len() as f64 },
                "exhausted_in_attack": exhausted,
                "sybil_contacts": contacts.iter().filter(|c| is_sybil(c)).count(),
                "contacts": contacts.len(),
                "sybil_elected": elected.iter().filter(|c| is_sybil(c)).count(),
                "elected": elected.len(),
                "won_by_sybils_in_attack": by_sybil,
                "elected_in_attack": won,
                "warnings": n["warnings"].as_array().map_or(Vec::new(), |w| {
                    w.iter().filter_map(|x| x[1].as_str()).map(|t| t.chars().take(60).collect::<String>()).collect()
                }),
            });
        }
        // The other honest nodes.
        let others: Vec<&Value> = nodes
            .iter()
            .filter(|(i, _)| Some(*i) != target_index)
            .map(|(_, n)| n)
            .collect();
        let share: f64 = others
            .iter()
            .map(|n| {
                let c = n["contacts"].as_array().cloned().unwrap_or_default();
                if c.is_empty() {
                    0.0
                } else {
                    c.iter().filter(|c| is_sybil(c)).count() as f64 / c.len() as f64
                }
            })
            .sum::<f64>()
            / others.len().max(1) as f64;
        let with_elected = others
            .iter()
            .filter(|n| n["elected"].as_array().is_some_and(|a| a.iter().any(&is_sybil)))
            .count();
        out["others"] = json!({
            "mean_sybil_share_of_contacts": share,
            "nodes_with_a_sybil_elected": with_elected,
            "nodes": others.len(),
        });
        out["attacker"] = json!({
            "variant": s["variant"], "ids": sybil_addrs.len(), "queries": s["queries"],
            "referrals_sent": s["referrals_sent"], "relayed_answers": s["relayed_answers"],
        });
    }
    if let Ok(c) = std::fs::read_to_string(dir.join("counters.txt")) {
        out["counters"] = Value::String(c.trim().to_string());
    }
    if as_json {
        println!("{}", serde_json::to_string(&out).map_err(|e| e.to_string())?);
    } else {
        println!(
            "{}",
            serde_json::to_string_pretty(&out).map_err(|e| e.to_string())?
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mined_keys_are_near_the_target() {
        let target = PeerId::new([0x55; 32]);
        let keys = mine_near(&target, 3, 6, 1);
        assert_eq!(keys.len(), 3);
        for k in keys {
            assert!(closeness(&k.peer_id(), &target) + 1 >= 6);
        }
    }

    #[test]
    fn options_parse_and_complain() {
        let o = Opts::parse(&["--a".into(), "1".into(), "--addrs".into(), "127.0.0.1:1,x".into()]);
        assert_eq!(o.get::<u32>("a", None), Ok(1));
        assert!(o.get::<u32>("b", None).is_err());
        assert!(o.addrs("addrs").is_err());
        assert_eq!(percentile(&[1, 2, 3], 0.5), Some(2));
        assert_eq!(percentile(&[], 0.5), None);
    }
}
