//! Time-ordered event queues and the key that orders what a window produced.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// `(time, node, that node's counter)`: orders everything a window produced
/// independently of how nodes were split among workers. Unique, because each
/// node numbers what it produces.
pub(super) type Key = (u64, u32, u64);

/// Something that happens to one node: it runs inside a window, on the worker
/// owning the node.
#[derive(Debug)]
pub(super) enum NodeEvent {
    /// A datagram arrives at `to`.
    Deliver { to: u32, from: u32, bytes: Vec<u8> },
    /// A node's timer, armed for `at`; stale if the node re-armed it since.
    Timer { node: u32, at: u64 },
}

impl NodeEvent {
    /// The node this event happens to.
    pub(super) fn node(&self) -> u32 {
        match self {
            Self::Deliver { to, .. } => *to,
            Self::Timer { node, .. } => *node,
        }
    }
}

/// One scheduled event; ordered by `(time, seq)`, earliest first.
#[derive(Debug)]
pub(super) struct Entry<E> {
    pub(super) time: u64,
    pub(super) seq: u64,
    pub(super) ev: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        (self.time, self.seq) == (other.time, other.seq)
    }
}
impl<E> Eq for Entry<E> {}
impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<E> Ord for Entry<E> {
    /// Reversed, so the max-heap pops the earliest `(time, seq)` first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.time, other.seq).cmp(&(self.time, self.seq))
    }
}

/// A priority queue of events that pops them by time, and events at the same
/// time in the order they were pushed.
#[derive(Debug)]
pub(super) struct Queue<E> {
    heap: BinaryHeap<Entry<E>>,
    /// Sequence number of the next push (far below the numbers a worker gives the
    /// events it schedules for itself within a window).
    seq: u64,
}

impl<E> Default for Queue<E> {
    fn default() -> Self {
        Self {
            heap: BinaryHeap::new(),
            seq: 0,
        }
    }
}

impl<E> Queue<E> {
    /// Schedules `ev` at `time`, after everything already scheduled at `time`.
    pub(super) fn push(&mut self, time: u64, ev: E) {
        let seq = self.seq;
        self.seq += 1;
        self.heap.push(Entry { time, seq, ev });
    }

    /// Time of the earliest event.
    pub(super) fn next_time(&self) -> Option<u64> {
        self.heap.peek().map(|e| e.time)
    }

    /// Removes the earliest event.
    pub(super) fn pop(&mut self) -> Option<Entry<E>> {
        self.heap.pop()
    }

    /// Removes every event before `end`, earliest first.
    pub(super) fn pop_before(&mut self, end: u64) -> Vec<Entry<E>> {
        let mut out = Vec::new();
        while self.heap.peek().is_some_and(|e| e.time < end) {
            if let Some(e) = self.heap.pop() {
                out.push(e);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_by_time_then_push_order() {
        let mut q = Queue::default();
        for (t, v) in [(5, 'a'), (3, 'b'), (5, 'c'), (1, 'd'), (3, 'e')] {
            q.push(t, v);
        }
        assert_eq!(q.next_time(), Some(1));
        let early: Vec<char> = q.pop_before(5).into_iter().map(|e| e.ev).collect();
        assert_eq!(early, ['d', 'b', 'e']);
        let rest: Vec<char> = std::iter::from_fn(|| q.pop()).map(|e| e.ev).collect();
        assert_eq!(rest, ['a', 'c']);
    }
}
