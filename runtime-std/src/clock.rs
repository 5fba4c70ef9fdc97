//! The monotonic millisecond clock both runtimes feed to the node.

use std::time::{Duration, Instant};

/// Monotonic milliseconds since the runtime started, optionally continuing a
/// previous run's timeline.
///
/// The node only ever sees `now_ms()`. Starting from `base_ms` (for example the
/// time a restored snapshot was saved at) keeps timestamps in the node's peer
/// tables in the past after a restart, so they keep their meaning.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    origin: Instant,
    base_ms: u64,
}

impl Clock {
    /// A clock reading 0 now.
    pub fn new() -> Self {
        Self::starting_at(0)
    }

    /// A clock reading `base_ms` now.
    pub fn starting_at(base_ms: u64) -> Self {
        Self {
            origin: Instant::now(),
            base_ms,
        }
    }

    /// The current reading in milliseconds.
    pub fn now_ms(&self) -> u64 {
        let elapsed = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.base_ms.saturating_add(elapsed)
    }

    /// How long from now until the clock reads `at_ms` (zero if already past).
    pub fn until(&self, at_ms: u64) -> Duration {
        Duration::from_millis(at_ms.saturating_sub(self.now_ms()))
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}
