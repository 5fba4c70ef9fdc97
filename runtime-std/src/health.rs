//! Warnings for a long-running node that cannot elect: nobody answers, or too
//! few holders of a token are known. [`HealthWatch::check`] is fed the node's
//! metrics and the time since start, and returns each [`Warning`] once when
//! its condition starts to hold (again after it has cleared), so the log is
//! not spammed. The `run` loop logs them with `log::warn!`.
//!
//! An election needs valid answers from at least `min_cluster_size` other
//! nodes (2 by default) that hold the challenged token: a network of fewer
//! than `min_cluster_size + 1` holders never elects.
//!
//! Signs of an eclipse (docs/OPERATING.md, "Seeing an eclipse"):
//! [`HealthWatch::check_contacts`] warns when one address group holds more
//! than its share of the contacts ([`Warning::GroupConcentration`]);
//! [`HealthWatch::check`] warns when the success rate of the last
//! [`RECENT_ELECTIONS`] elections collapses after elections had worked
//! ([`Warning::SuccessCollapsed`]) and when most of them end `exhausted`
//! (every route referred onward until none was left:
//! [`Warning::MostlyExhausted`]). [`HealthWatch::gauges`] gives the same
//! figures for the metrics endpoint.

use election_proto::node::{FailureReason, Metrics};
use election_proto::wire::{Address, Contact, GroupKey, LoopbackGroups};
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// Contacts a node must know before their spread over address groups is judged.
pub const CONCENTRATION_MIN_CONTACTS: usize = 8;
/// Largest share of the contacts one subnet (`Address::groups().subnet`: an
/// IPv4 /24, an IPv6 /64) may hold without a warning.
pub const SUBNET_SHARE_WARN: f64 = 0.25;
/// Largest share of the contacts one public IPv4 /16 or IPv6 /48 may hold
/// without a warning (private and loopback addresses are not judged at this
/// level: a private network is one block by design).
pub const BLOCK_SHARE_WARN: f64 = 0.5;
/// Finished elections in the recent window the rates are taken over.
pub const RECENT_ELECTIONS: u64 = 20;
/// A recent success rate below this, after the earlier rate was at least
/// this, is a collapse.
pub const COLLAPSE_BELOW: f64 = 0.5;
/// A recent share of `exhausted` endings above this is warned about.
pub const EXHAUSTED_ABOVE: f64 = 0.5;

/// How long a node waits for any peer to answer before warning (a constant:
/// bootstrap probes are re-sent every 5 s, so 30 s is six rounds).
pub const SILENCE_WARN_AFTER: Duration = Duration::from_secs(30);

/// Finished elections without a single success before warning that too few
/// holders answer.
pub const FAILED_ELECTIONS_WARN_AFTER: u64 = 3;

/// Something an operator should know about a node that cannot elect.
#[derive(Clone, Debug, PartialEq)]
pub enum Warning {
    /// No datagram has been received since start.
    NoAnswer {
        /// Time since start.
        after: Duration,
        /// The bootstrap peers given (empty: none).
        bootstrap: Vec<String>,
    },
    /// The node knows fewer contacts than an election needs answers.
    TooFewContacts {
        /// Contacts known.
        known: usize,
        /// `min_cluster_size`.
        needed: usize,
    },
    /// Elections finish, but none has succeeded for lack of answers.
    NoElectionSucceeds {
        /// Elections that ended in timeout, exhausted, or for want of contacts.
        failed: u64,
        /// `min_cluster_size`.
        needed: usize,
    },
    /// One address group holds more than its share of the contacts.
    GroupConcentration {
        /// The group (`a.b.c.0/24`, `a.b.0.0/16`, an IPv6 prefix, or a
        /// loopback address and port).
        group: String,
        /// Contacts in it.
        held: usize,
        /// Contacts in all.
        contacts: usize,
        /// The share it may hold without a warning.
        limit: f64,
    },
    /// Elections had worked, and most of the recent ones fail.
    SuccessCollapsed {
        /// Success rate of the last `window` finished elections.
        recent: f64,
        /// Success rate before them.
        earlier: f64,
        /// Elections in the recent window.
        window: u64,
    },
    /// Most recent elections ended `exhausted`: every route was referred
    /// onward until none was left (what contacts that only refer, e.g.
    /// sybils, cause).
    MostlyExhausted {
        /// Recent elections that ended `exhausted`.
        exhausted: u64,
        /// Elections in the recent window.
        window: u64,
    },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoAnswer { after, bootstrap } if bootstrap.is_empty() => write!(
                f,
                "no peer has contacted this node in {} s and no --bootstrap peer was given; \
                 start it with --bootstrap HOST:PORT of a running node",
                after.as_secs()
            ),
            Self::NoAnswer { after, bootstrap } => write!(
                f,
                "no bootstrap peer has answered in {} s ({}): are they running and reachable over UDP?",
                after.as_secs(),
                bootstrap.join(", ")
            ),
            Self::TooFewContacts { known, needed } => write!(
                f,
                "this node knows {known} contact(s); an election needs answers from at least {needed} \
                 other nodes holding the token ({} nodes in all), so it cannot elect yet",
                needed + 1
            ),
            Self::NoElectionSucceeds { failed, needed } => write!(
                f,
                "{failed} elections failed and none succeeded: fewer than {needed} other holders of the \
                 tokens answered (a network needs at least {} nodes holding a token to elect)",
                needed + 1
            ),
            Self::GroupConcentration {
                group,
                held,
                contacts,
                limit,
            } => write!(
                f,
                "{held} of this node's {contacts} contacts are in {group} (more than {:.0} %): one network \
                 may be filling its table (an eclipse attempt, or many nodes behind one address block)",
                limit * 100.0
            ),
            Self::SuccessCollapsed {
                recent,
                earlier,
                window,
            } => write!(
                f,
                "only {:.0} % of the last {window} elections succeeded, against {:.0} % before: this node \
                 may be eclipsed (check its contacts) or its peers are gone",
                recent * 100.0,
                earlier * 100.0
            ),
            Self::MostlyExhausted { exhausted, window } => write!(
                f,
                "{exhausted} of the last {window} elections ended exhausted (every route only referred \
                 onward): this node's contacts may be sybils that never answer"
            ),
        }
    }
}

/// The eclipse figures [`HealthWatch`] tracks, for the metrics endpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct HealthGauges {
    /// Largest share of the contacts in one subnet (0 with no contacts).
    pub largest_subnet_share: f64,
    /// Largest share of the contacts in one public /16 (IPv4) or /48 (IPv6).
    pub largest_block_share: f64,
    /// Success rate of the last [`RECENT_ELECTIONS`] elections, once that
    /// many have finished.
    pub recent_success: Option<f64>,
    /// Share of them that ended `exhausted`.
    pub recent_exhausted: Option<f64>,
    /// Warnings raised now (of all kinds).
    pub warnings_active: usize,
}

/// Finished, succeeded and exhausted elections at one check.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Tally {
    finished: u64,
    succeeded: u64,
    exhausted: u64,
}

/// Most tallies kept (one per check at which elections finished).
const MAX_TALLIES: usize = 4096;

/// Remembers which warnings are raised; see the [module docs](self).
#[derive(Clone, Debug)]
pub struct HealthWatch {
    bootstrap: Vec<String>,
    min_cluster_size: usize,
    silent: bool,
    few_contacts: bool,
    no_success: bool,
    concentrated: bool,
    collapsed: bool,
    exhausted: bool,
    tallies: VecDeque<Tally>,
    gauges: HealthGauges,
}

impl HealthWatch {
    /// A watch for a node started with `bootstrap` peers whose elections need
    /// `min_cluster_size` answers.
    pub fn new(bootstrap: Vec<String>, min_cluster_size: usize) -> Self {
        Self {
            bootstrap,
            min_cluster_size,
            silent: false,
            few_contacts: false,
            no_success: false,
            concentrated: false,
            collapsed: false,
            exhausted: false,
            tallies: VecDeque::from([Tally::default()]),
            gauges: HealthGauges::default(),
        }
    }

    /// The latest eclipse figures.
    pub fn gauges(&self) -> HealthGauges {
        HealthGauges {
            warnings_active: [
                self.silent,
                self.few_contacts,
                self.no_success,
                self.concentrated,
                self.collapsed,
                self.exhausted,
            ]
            .iter()
            .filter(|b| **b)
            .count(),
            ..self.gauges
        }
    }

    /// Judges how the node's contacts spread over address groups; returns
    /// [`Warning::GroupConcentration`] when one starts to hold more than its
    /// share (the most crowded group, subnets before /16 blocks).
    pub fn check_contacts(&mut self, contacts: &[Contact<SocketAddr>]) -> Vec<Warning> {
        let n = contacts.len();
        let mut subnets: BTreeMap<GroupKey, (usize, String)> = BTreeMap::new();
        let mut blocks: BTreeMap<String, usize> = BTreeMap::new();
        for c in contacts {
            let e = subnets
                .entry(c.addr.groups().subnet)
                .or_insert_with(|| (0, subnet_label(&c.addr)));
            e.0 += 1;
            if let Some(b) = public_block(&c.addr.ip()) {
                *blocks.entry(b).or_insert(0) += 1;
            }
        }
        let top_subnet = subnets.into_values().max_by_key(|(k, _)| *k);
        let top_block = blocks.into_iter().max_by_key(|(_, k)| *k);
        let share = |k: usize| if n == 0 { 0.0 } else { k as f64 / n as f64 };
        self.gauges.largest_subnet_share = top_subnet.as_ref().map_or(0.0, |(k, _)| share(*k));
        self.gauges.largest_block_share = top_block.as_ref().map_or(0.0, |(_, k)| share(*k));
        let judged = n >= CONCENTRATION_MIN_CONTACTS;
        let over = match (top_subnet, top_block) {
            (Some((k, group)), _) if judged && share(k) > SUBNET_SHARE_WARN => {
                Some((group, k, SUBNET_SHARE_WARN))
            }
            (_, Some((group, k))) if judged && share(k) > BLOCK_SHARE_WARN => {
                Some((group, k, BLOCK_SHARE_WARN))
            }
            _ => None,
        };
        let mut out = Vec::new();
        if raise(&mut self.concentrated, over.is_some()) {
            if let Some((group, held, limit)) = over {
                out.push(Warning::GroupConcentration {
                    group,
                    held,
                    contacts: n,
                    limit,
                });
            }
        }
        out
    }

    /// The warnings that start to hold now, `elapsed` after start.
    pub fn check(&mut self, elapsed: Duration, m: &Metrics) -> Vec<Warning> {
        let mut out = Vec::new();
        let waited = elapsed >= SILENCE_WARN_AFTER;
        let silent = waited && m.received.total() == 0 && m.decode_errors_total() == 0;
        if raise(&mut self.silent, silent) {
            out.push(Warning::NoAnswer {
                after: elapsed,
                bootstrap: self.bootstrap.clone(),
            });
        }
        let few = waited && m.contacts < self.min_cluster_size;
        if raise(&mut self.few_contacts, few) {
            out.push(Warning::TooFewContacts {
                known: m.contacts,
                needed: self.min_cluster_size,
            });
        }
        let starved = m.failed(FailureReason::Timeout)
            + m.failed(FailureReason::NoContacts)
            + m.failed(FailureReason::Exhausted);
        let no_success = m.elections_succeeded == 0 && starved >= FAILED_ELECTIONS_WARN_AFTER;
        if raise(&mut self.no_success, no_success) {
            out.push(Warning::NoElectionSucceeds {
                failed: starved,
                needed: self.min_cluster_size,
            });
        }
        out.extend(self.check_recent(m));
        out
    }

    /// The recent-window warnings: success collapsed, mostly exhausted.
    fn check_recent(&mut self, m: &Metrics) -> Vec<Warning> {
        let now = Tally {
            finished: m.elections_succeeded + m.failed_total(),
            succeeded: m.elections_succeeded,
            exhausted: m.failed(FailureReason::Exhausted),
        };
        if self.tallies.back().is_some_and(|t| t.finished != now.finished) {
            if self.tallies.len() >= MAX_TALLIES {
                self.tallies.pop_front();
            }
            self.tallies.push_back(now);
        }
        // The latest tally at least RECENT_ELECTIONS elections back.
        let base = self
            .tallies
            .iter()
            .rev()
            .find(|t| t.finished + RECENT_ELECTIONS <= now.finished)
            .copied();
        let mut out = Vec::new();
        let Some(base) = base else {
            self.gauges.recent_success = None;
            self.gauges.recent_exhausted = None;
            return out;
        };
        let window = now.finished - base.finished;
        let recent = (now.succeeded - base.succeeded) as f64 / window as f64;
        let exhausted = now.exhausted.saturating_sub(base.exhausted);
        self.gauges.recent_success = Some(recent);
        self.gauges.recent_exhausted = Some(exhausted as f64 / window as f64);
        let earlier = if base.finished == 0 {
            0.0
        } else {
            base.succeeded as f64 / base.finished as f64
        };
        let collapsed = base.succeeded > 0 && earlier >= COLLAPSE_BELOW && recent < COLLAPSE_BELOW;
        if raise(&mut self.collapsed, collapsed) {
            out.push(Warning::SuccessCollapsed {
                recent,
                earlier,
                window,
            });
        }
        let mostly = exhausted as f64 / window as f64 > EXHAUSTED_ABOVE;
        if raise(&mut self.exhausted, mostly) {
            out.push(Warning::MostlyExhausted { exhausted, window });
        }
        out
    }
}

/// How a subnet is named in a warning.
fn subnet_label(addr: &SocketAddr) -> String {
    match addr.ip() {
        IpAddr::V4(ip)
            if ip.is_loopback() && election_proto::wire::loopback_groups() == LoopbackGroups::PerPort =>
        {
            addr.to_string()
        }
        IpAddr::V6(ip)
            if ip.is_loopback() && election_proto::wire::loopback_groups() == LoopbackGroups::PerPort =>
        {
            addr.to_string()
        }
        IpAddr::V4(ip) => {
            let o = ip.octets();
            format!("{}.{}.{}.0/24", o[0], o[1], o[2])
        }
        IpAddr::V6(ip) => {
            let s = ip.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

/// The /16 (IPv4) or /48 (IPv6) of a public address; `None` for private,
/// loopback, link-local and unique-local ones.
fn public_block(ip: &IpAddr) -> Option<String> {
    match ip {
        IpAddr::V4(ip)
            if !(ip.is_private() || ip.is_loopback() || ip.is_link_local() || ip.is_unspecified()) =>
        {
            let o = ip.octets();
            Some(format!("{}.{}.0.0/16", o[0], o[1]))
        }
        IpAddr::V6(ip)
            if !(ip.is_loopback()
                || ip.is_unspecified()
                || (ip.segments()[0] & 0xfe00) == 0xfc00
                || (ip.segments()[0] & 0xffc0) == 0xfe80) =>
        {
            let s = ip.segments();
            Some(format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2]))
        }
        _ => None,
    }
}

/// Records `now` in `raised`; true if it has just become true.
fn raise(raised: &mut bool, now: bool) -> bool {
    let new = now && !*raised;
    *raised = now;
    new
}

#[cfg(test)]
mod tests {
    use super::*;
    use election_proto::wire::MessageKind;

    const EARLY: Duration = Duration::from_secs(5);
    const LATE: Duration = Duration::from_secs(31);

    #[test]
    fn silence_is_reported_once_after_the_wait_and_again_only_after_it_cleared() {
        let mut w = HealthWatch::new(vec!["127.0.0.1:7000".into()], 2);
        let mut m = Metrics {
            contacts: 5,
            ..Metrics::default()
        };
        assert!(w.check(EARLY, &m).is_empty(), "too early");
        let got = w.check(LATE, &m);
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0]
            .to_string()
            .contains("no bootstrap peer has answered in 31 s (127.0.0.1:7000)"));
        assert!(w.check(LATE * 2, &m).is_empty(), "not repeated");
        m.received.count[MessageKind::ALL[0].index()] = 1;
        assert!(w.check(LATE * 3, &m).is_empty());
    }

    #[test]
    fn too_few_contacts_and_failing_elections_are_explained() {
        let mut w = HealthWatch::new(Vec::new(), 2);
        let mut m = Metrics {
            contacts: 1,
            ..Metrics::default()
        };
        m.received.count[0] = 4;
        assert!(w.check(EARLY, &m).is_empty());
        let got = w.check(LATE, &m);
        assert_eq!(got, [Warning::TooFewContacts { known: 1, needed: 2 }]);
        assert!(got[0]
            .to_string()
            .contains("at least 2 other nodes holding the token (3 nodes in all)"));
        m.elections_failed[FailureReason::Timeout.index()] = 3;
        let got = w.check(LATE, &m);
        assert_eq!(got, [Warning::NoElectionSucceeds { failed: 3, needed: 2 }]);
        // Cleared by a success and by more contacts, raised again when back.
        m.elections_succeeded = 1;
        m.contacts = 4;
        assert!(w.check(LATE, &m).is_empty());
        m.contacts = 0;
        assert_eq!(
            w.check(LATE, &m),
            [Warning::TooFewContacts { known: 0, needed: 2 }]
        );
    }

    fn contacts(addrs: &[&str]) -> Vec<Contact<SocketAddr>> {
        addrs
            .iter()
            .enumerate()
            .map(|(i, a)| Contact {
                id: election_proto::PeerId::new([i as u8; 32]),
                addr: a.parse().unwrap(),
            })
            .collect()
    }

    #[test]
    fn one_subnet_or_public_block_holding_too_many_contacts_is_warned_about_once() {
        let mut w = HealthWatch::new(Vec::new(), 2);
        let spread = contacts(&[
            "1.1.1.1:1",
            "2.2.2.2:1",
            "3.3.3.3:1",
            "4.4.4.4:1",
            "5.5.5.5:1",
            "6.6.6.6:1",
            "7.7.7.7:1",
            "8.8.8.8:1",
        ]);
        assert!(w.check_contacts(&spread).is_empty());
        assert!((w.gauges().largest_subnet_share - 0.125).abs() < 1e-9);
        // Three of eight in one /24: 37.5 % > 25 %.
        let crowded = contacts(&[
            "203.0.113.1:1",
            "203.0.113.2:1",
            "203.0.113.3:9",
            "4.4.4.4:1",
            "5.5.5.5:1",
            "6.6.6.6:1",
            "7.7.7.7:1",
            "8.8.8.8:1",
        ]);
        let got = w.check_contacts(&crowded);
        assert_eq!(
            got,
            [Warning::GroupConcentration {
                group: "203.0.113.0/24".into(),
                held: 3,
                contacts: 8,
                limit: SUBNET_SHARE_WARN
            }]
        );
        assert!(got[0]
            .to_string()
            .contains("3 of this node's 8 contacts are in 203.0.113.0/24"));
        assert!(w.check_contacts(&crowded).is_empty(), "not repeated");
        assert_eq!(w.gauges().warnings_active, 1);
        assert!(w.check_contacts(&spread).is_empty(), "cleared");
        // Five of eight in one public /16, two per /24.
        let block = contacts(&[
            "198.51.1.1:1",
            "198.51.1.2:1",
            "198.51.2.1:1",
            "198.51.2.2:1",
            "198.51.3.1:1",
            "6.6.6.6:1",
            "7.7.7.7:1",
            "8.8.8.8:1",
        ]);
        let got = w.check_contacts(&block);
        assert!(
            matches!(&got[..], [Warning::GroupConcentration { group, held: 5, .. }] if group == "198.51.0.0/16"),
            "{got:?}"
        );
        // A private network is one block by design; below 8 contacts nothing is judged.
        let mut w = HealthWatch::new(Vec::new(), 2);
        let private: Vec<String> = (0..8).map(|i| format!("10.0.{i}.1:7000")).collect();
        let private: Vec<&str> = private.iter().map(String::as_str).collect();
        assert!(w.check_contacts(&contacts(&private)).is_empty());
        assert!(w.check_contacts(&crowded[..7]).is_empty());
        assert!(w.check_contacts(&[]).is_empty());
        assert_eq!(w.gauges().largest_subnet_share, 0.0);
    }

    #[test]
    fn a_collapse_after_success_and_mostly_exhausted_elections_are_warned_about() {
        let mut w = HealthWatch::new(Vec::new(), 2);
        let mut m = Metrics {
            contacts: 20,
            ..Metrics::default()
        };
        m.received.count[0] = 1;
        for _ in 0..30 {
            m.elections_succeeded += 1;
            assert!(w.check(LATE, &m).is_empty());
        }
        assert_eq!(w.gauges().recent_success, Some(1.0));
        // Then every election ends exhausted.
        let mut got = Vec::new();
        for _ in 0..RECENT_ELECTIONS {
            m.elections_failed[FailureReason::Exhausted.index()] += 1;
            got.extend(w.check(LATE, &m));
        }
        assert!(
            got.iter()
                .any(|w| matches!(w, Warning::SuccessCollapsed { earlier, .. } if *earlier == 1.0)),
            "{got:?}"
        );
        assert!(
            got.iter().any(|w| matches!(
                w,
                Warning::MostlyExhausted {
                    window: RECENT_ELECTIONS,
                    ..
                }
            )),
            "{got:?}"
        );
        assert_eq!(got.len(), 2, "each once: {got:?}");
        assert_eq!(w.gauges().recent_success, Some(0.0));
        assert_eq!(w.gauges().recent_exhausted, Some(1.0));
        assert!(got[0].to_string().contains("elections"));
    }

    #[test]
    fn exhausted_elections_count_as_failing_without_any_success() {
        let mut w = HealthWatch::new(Vec::new(), 2);
        let mut m = Metrics {
            contacts: 20,
            ..Metrics::default()
        };
        m.received.count[0] = 1;
        m.elections_failed[FailureReason::Exhausted.index()] = 3;
        assert_eq!(
            w.check(LATE, &m),
            [Warning::NoElectionSucceeds { failed: 3, needed: 2 }]
        );
        // A node that never succeeded has not collapsed: only "mostly exhausted".
        m.elections_failed[FailureReason::Exhausted.index()] = 30;
        let got = w.check(LATE, &m);
        assert!(matches!(&got[..], [Warning::MostlyExhausted { .. }]), "{got:?}");
        assert_eq!(w.gauges().recent_success, Some(0.0));
    }

    #[test]
    fn no_bootstrap_is_its_own_advice() {
        let mut w = HealthWatch::new(Vec::new(), 2);
        let got = w.check(LATE, &Metrics::default());
        assert!(
            got[0].to_string().contains("no --bootstrap peer was given"),
            "{got:?}"
        );
    }
}
