//! Deterministic network simulator for `election-proto`, its scenario tests and
//! the `simulate` report.
//!
//! - [`ledger`]: the procedural global ledger and the per-node store views.
//! - [`sim`]: the discrete-event simulator (time, delivery order, the network
//!   model, churn, partitions, the winner oracle, the digest), one module per part.
//! - [`adversary`]: adversarial node kinds and everything they do to traffic.
//! - [`report`]: the `simulate` report (`--json` gives all of it).
//! - [`timeline`]: per-minute time series of a run.
//! - [`targets`]: the project's targets, in one table.
//! - [`summary`]: the short terminal summary, each target beside its figure.
//! - [`html`]: the `--html` page with SVG charts.
//! - [`output`]: files written atomically (temporary file, then rename).
//! - [`rng`]: seeded randomness.
//! - [`usage`]: CPU time and peak memory of the process.
//! - [`verdicts`]: one run with real and with simulated signatures, compared
//!   event by event.
//!
//! ```
//! use election_tests::sim::{Sim, SimConfig};
//! let mut cfg = SimConfig::new(20, 7);
//! cfg.node.health.election_interval_ms = 10_000;
//! let mut sim = Sim::new(cfg).unwrap();
//! sim.run_until(30_000);
//! assert!(sim.honest().succeeded > 0);
//! ```
pub mod adversary;
pub mod html;
pub mod ledger;
mod named;
pub mod output;
pub mod report;
pub mod rng;
pub mod sim;
pub mod summary;
pub mod targets;
pub mod timeline;
pub mod usage;
pub mod verdicts;
