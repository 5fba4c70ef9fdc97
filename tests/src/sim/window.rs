//! Conservative windows: one window's events, on one thread or several.
//!
//! With `t0` the earliest pending event and `L` the smallest possible latency,
//! nothing done in `[t0, t0 + L)` can reach another node before `t0 + L`. The
//! nodes' events in that window are therefore independent across nodes, and run
//! on workers that each own a contiguous range of nodes, cut so that each range
//! holds about as many of the window's events. Each worker sorts its own
//! output; the calling thread only merges the sorted parts. Every random draw comes
//! from a per-node stream and everything produced is keyed by
//! `(time, node, per-node counter)`, so the merged, sorted output is the same for
//! any number of threads.

use super::node::SimNode;
use super::queue::{Entry, NodeEvent};
use super::worker::{Worker, WorkerOutput};
use super::world::World;

/// How to run one window.
#[derive(Clone, Copy, Debug)]
pub(super) struct Window {
    /// Time at the start of the window.
    pub(super) now: u64,
    /// End of the window (exclusive).
    pub(super) end: u64,
    /// Most worker threads.
    pub(super) threads: usize,
    /// Fewer events than this run on one thread (spawning costs more than it saves).
    pub(super) parallel_min_events: usize,
}

impl Window {
    /// Runs `batch` (every queued event before `end`) over `nodes`. Returns the
    /// merged output in key order, and whether it ran on several threads.
    pub(super) fn run(
        self,
        world: &World,
        nodes: &mut [SimNode],
        batch: Vec<Entry<NodeEvent>>,
    ) -> (WorkerOutput, bool) {
        let n = nodes.len();
        let threads = self.threads.clamp(1, n);
        let parallel = threads > 1 && batch.len() >= self.parallel_min_events;
        if parallel {
            let parts = self.run_parallel(world, nodes, batch, threads);
            (WorkerOutput::merge_sorted(parts), true)
        } else {
            let mut out = Worker::new(world, nodes, 0, self.end, self.now).run(batch);
            out.sort();
            (out, false)
        }
    }

    /// Splits `nodes` into `threads` contiguous ranges holding about as many
    /// of `batch`'s events each (fixed ranges leave one thread idle whenever
    /// a window's events cluster), runs each range on its own thread (the
    /// calling thread takes the first) and returns their outputs, each sorted.
    fn run_parallel(
        self,
        world: &World,
        nodes: &mut [SimNode],
        batch: Vec<Entry<NodeEvent>>,
        threads: usize,
    ) -> Vec<WorkerOutput> {
        let bounds = split_points(&batch, nodes.len(), threads);
        let mut per: Vec<Vec<Entry<NodeEvent>>> = (0..threads).map(|_| Vec::new()).collect();
        for e in batch {
            let node = e.ev.node() as usize;
            per[bounds.partition_point(|b| *b <= node)].push(e);
        }
        let mut ranges = Vec::with_capacity(threads);
        let mut rest = nodes;
        let mut base = 0;
        for b in bounds.iter().copied().chain(std::iter::once(base + rest.len())) {
            let (head, tail) = std::mem::take(&mut rest).split_at_mut(b - base);
            ranges.push((base, head));
            rest = tail;
            base = b;
        }
        let Window { now, end, .. } = self;
        let run = move |base: usize, nodes: &mut [SimNode], events: Vec<Entry<NodeEvent>>| {
            let mut out = Worker::new(world, nodes, base, end, now).run(events);
            out.sort();
            out
        };
        std::thread::scope(|s| {
            let mut parts = ranges.into_iter().zip(per);
            let Some(((first_base, first_nodes), first_events)) = parts.next() else {
                return Vec::new();
            };
            let handles: Vec<_> = parts
                .filter(|(_, events)| !events.is_empty())
                .map(|((base, nodes), events)| s.spawn(move || run(base, nodes, events)))
                .collect();
            let mut outs = vec![run(first_base, first_nodes, first_events)];
            for h in handles {
                match h.join() {
                    Ok(out) => outs.push(out),
                    Err(p) => std::panic::resume_unwind(p),
                }
            }
            outs
        })
    }
}

/// The `threads - 1` node indices where the second and later ranges of a
/// parallel window start (non-decreasing, at most `n`; equal neighbours leave
/// a range empty): cut at the event-count quantiles of `batch`, so each range
/// gets about `batch.len() / threads` events.
fn split_points(batch: &[Entry<NodeEvent>], n: usize, threads: usize) -> Vec<usize> {
    let mut at: Vec<usize> = batch.iter().map(|e| e.ev.node() as usize).collect();
    at.sort_unstable();
    let mut bounds = Vec::with_capacity(threads - 1);
    let mut last = 0;
    for t in 1..threads {
        // The range boundary sits just after the node holding the t-th quantile.
        let q = at.get(t * at.len() / threads).copied().unwrap_or(n);
        let b = q.clamp(last, n);
        bounds.push(b);
        last = b;
    }
    bounds
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timer(node: u32) -> Entry<NodeEvent> {
        Entry {
            time: 0,
            seq: 0,
            ev: NodeEvent::Timer { node, at: 0 },
        }
    }

    #[test]
    fn split_points_balance_events_and_stay_in_order() {
        let batch: Vec<_> = [0, 0, 1, 1, 2, 9, 9, 9].into_iter().map(timer).collect();
        assert_eq!(split_points(&batch, 10, 2), vec![2]);
        assert_eq!(split_points(&batch, 10, 4), vec![1, 2, 9]);
        // One node holds everything: the other ranges are empty, never reversed.
        let one: Vec<_> = [5, 5, 5].into_iter().map(timer).collect();
        let b = split_points(&one, 10, 3);
        assert!(
            b.windows(2).all(|w| w[0] <= w[1]) && b.iter().all(|x| *x <= 10),
            "{b:?}"
        );
    }
}
