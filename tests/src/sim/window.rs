//! Conservative windows: one window's events, on one thread or several.
//!
//! With `t0` the earliest pending event and `L` the smallest possible latency,
//! nothing done in `[t0, t0 + L)` can reach another node before `t0 + L`. The
//! nodes' events in that window are therefore independent across nodes, and run
//! on workers that each own a contiguous range of nodes. Every random draw comes
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
        let parts = if parallel {
            self.run_parallel(world, nodes, batch, threads)
        } else {
            vec![Worker::new(world, nodes, 0, self.end, self.now).run(batch)]
        };
        let mut all = WorkerOutput::default();
        for p in parts {
            all.merge(p);
        }
        all.sort();
        (all, parallel)
    }

    fn run_parallel(
        self,
        world: &World,
        nodes: &mut [SimNode],
        batch: Vec<Entry<NodeEvent>>,
        threads: usize,
    ) -> Vec<WorkerOutput> {
        let chunk = nodes.len().div_ceil(threads);
        let mut per: Vec<Vec<Entry<NodeEvent>>> = (0..threads).map(|_| Vec::new()).collect();
        for e in batch {
            per[e.ev.node() as usize / chunk].push(e);
        }
        let Window { now, end, .. } = self;
        std::thread::scope(|s| {
            let mut parts = nodes.chunks_mut(chunk).zip(per).enumerate();
            let Some((_, (first_nodes, first_events))) = parts.next() else {
                return Vec::new();
            };
            let handles: Vec<_> = parts
                .map(|(k, (nodes, events))| {
                    s.spawn(move || Worker::new(world, nodes, k * chunk, end, now).run(events))
                })
                .collect();
            // The calling thread takes the first range itself.
            let mut outs = vec![Worker::new(world, first_nodes, 0, end, now).run(first_events)];
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
