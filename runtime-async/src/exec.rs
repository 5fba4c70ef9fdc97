//! The executor seam: the only module of this crate that names an executor.
//!
//! The node loop needs three things from an executor: a UDP socket with
//! `async fn recv_from(&self, &mut [u8])` and `async fn send_to(&self, &[u8], addr)`,
//! a sleep future, and a way to run a `'static + Send` future in the
//! background. Everything else (channels, `select_biased!`, fusing, the task's
//! result, and waiting for a future on a plain thread for the blocking
//! `NodeControl` methods) comes from the executor-neutral `futures` crate, and
//! the host glue from `runtime_std::host`.
//!
//! One submodule per executor, `backend`, provides those three things and the
//! executor's name. Exactly one is compiled, chosen by feature with a fixed
//! precedence so that `--all-features` builds: `tokio`, else `smol`, else
//! `async-std` (the default feature). No executor feature is a compile error.

#[cfg(not(any(feature = "async-std", feature = "tokio", feature = "smol")))]
compile_error!(
    "runtime-async needs an executor: enable one of its features `async-std` (the default), \
     `tokio` or `smol` (for the latter two, with `default-features = false`)"
);

#[cfg(feature = "tokio")]
#[path = "exec/tokio.rs"]
mod backend;

#[cfg(all(feature = "smol", not(feature = "tokio")))]
#[path = "exec/smol.rs"]
mod backend;

#[cfg(all(feature = "async-std", not(any(feature = "tokio", feature = "smol"))))]
#[path = "exec/async_std.rs"]
mod backend;

pub(crate) use backend::{sleep, spawn, udp_from_std, UdpSocket, NAME};

use std::future::Future;

/// Blocks the calling thread until `future` completes (for the blocking
/// `NodeControl` methods, called from outside any task). The futures waited
/// for are `futures` channels, so any executor's tasks can complete them.
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    futures::executor::block_on(future)
}
