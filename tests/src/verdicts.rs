//! Real against simulated signatures: the same run twice, compared event by event.
//!
//! [`Crypto::Simulated`] must change what a run costs, never what it decides.
//! [`compare`] runs one configuration with real Ed25519 and with the run's
//! simulated signatures, recording every node event, and compares the two
//! streams: every election started, every winner, every split-brain, every
//! failure, every peer added and evicted, each with its time and node. Events
//! carry no signature bytes, so the streams are comparable as they are; the
//! datagram digests differ (signature bytes differ), and the comparison
//! reports both.

use crate::sim::{Crypto, Sim, SimConfig};
use election_proto::node::Event;

/// What [`compare`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Comparison {
    /// Events in the real run's stream.
    pub events: usize,
    /// Of which `Elected`.
    pub elected: usize,
    /// Of which `ElectionFailed`.
    pub failed: usize,
    /// Of which `SplitBrain`.
    pub split_brain: usize,
    /// Of which `PeerEvicted`.
    pub evicted: usize,
    /// Events in the simulated run's stream.
    pub events_simulated: usize,
    /// The first position where the streams differ (`None`: identical), with
    /// both events there as text (`-` when a stream ended).
    pub first_difference: Option<(usize, String, String)>,
    /// The real run's datagram digest (hex).
    pub digest_real: String,
    /// The simulated run's datagram digest (hex).
    pub digest_simulated: String,
}

impl Comparison {
    /// Whether the two event streams are identical.
    pub fn identical(&self) -> bool {
        self.first_difference.is_none() && self.events == self.events_simulated
    }
}

fn hex(d: [u8; 32]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

fn run(cfg: &SimConfig, crypto: Crypto, end_ms: u64) -> Sim {
    let mut cfg = cfg.clone();
    cfg.crypto = crypto;
    cfg.record_events = true;
    let mut sim = Sim::new(cfg).expect("a valid node configuration");
    sim.run_until(end_ms);
    sim
}

/// Runs `cfg` until `end_ms` with real and with simulated signatures
/// (whatever `cfg.crypto` says) and compares their event streams.
pub fn compare(cfg: &SimConfig, end_ms: u64) -> Comparison {
    let real = run(cfg, Crypto::Real, end_ms);
    let sim = run(cfg, Crypto::Simulated, end_ms);
    let (a, b) = (real.events(), sim.events());
    let count = |f: fn(&Event<u32>) -> bool| a.iter().filter(|(_, _, e)| f(e)).count();
    let first_difference = (0..a.len().max(b.len()))
        .find(|&k| a.get(k) != b.get(k))
        .map(|k| {
            let show = |x: Option<&(u64, u32, Event<u32>)>| x.map_or("-".to_string(), |e| format!("{e:?}"));
            (k, show(a.get(k)), show(b.get(k)))
        });
    Comparison {
        events: a.len(),
        elected: count(|e| matches!(e, Event::Elected { .. })),
        failed: count(|e| matches!(e, Event::ElectionFailed { .. })),
        split_brain: count(|e| matches!(e, Event::SplitBrain { .. })),
        evicted: count(|e| matches!(e, Event::PeerEvicted { .. })),
        events_simulated: b.len(),
        first_difference,
        digest_real: hex(real.digest()),
        digest_simulated: hex(sim.digest()),
    }
}
