//! Warnings for a long-running node that cannot elect: nobody answers, or too
//! few holders of a token are known. [`HealthWatch::check`] is fed the node's
//! metrics and the time since start, and returns each [`Warning`] once when
//! its condition starts to hold (again after it has cleared), so the log is
//! not spammed. The `run` loop logs them with `log::warn!`.
//!
//! An election needs valid answers from at least `min_cluster_size` other
//! nodes (2 by default) that hold the challenged token: a network of fewer
//! than `min_cluster_size + 1` holders never elects.

use election_proto::node::{FailureReason, Metrics};
use std::fmt;
use std::time::Duration;

/// How long a node waits for any peer to answer before warning (a constant:
/// bootstrap probes are re-sent every 5 s, so 30 s is six rounds).
pub const SILENCE_WARN_AFTER: Duration = Duration::from_secs(30);

/// Finished elections without a single success before warning that too few
/// holders answer.
pub const FAILED_ELECTIONS_WARN_AFTER: u64 = 3;

/// Something an operator should know about a node that cannot elect.
#[derive(Clone, Debug, PartialEq, Eq)]
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
        /// Elections that ended in timeout or for want of contacts.
        failed: u64,
        /// `min_cluster_size`.
        needed: usize,
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
        }
    }
}

/// Remembers which warnings are raised; see the [module docs](self).
#[derive(Clone, Debug)]
pub struct HealthWatch {
    bootstrap: Vec<String>,
    min_cluster_size: usize,
    silent: bool,
    few_contacts: bool,
    no_success: bool,
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
        }
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
        let starved = m.failed(FailureReason::Timeout) + m.failed(FailureReason::NoContacts);
        let no_success = m.elections_succeeded == 0 && starved >= FAILED_ELECTIONS_WARN_AFTER;
        if raise(&mut self.no_success, no_success) {
            out.push(Warning::NoElectionSucceeds {
                failed: starved,
                needed: self.min_cluster_size,
            });
        }
        out
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
