//! The executor seam: the only module of this crate that names async-std.
//!
//! The node loop needs three things from an executor: a UDP socket with
//! `async fn recv_from(&self, &mut [u8])` and `async fn send_to(&self, &[u8], addr)`,
//! a sleep future, and a way to run a `'static + Send` future in the
//! background; the blocking `NodeControl` methods need a fourth, a way to wait
//! for a future on a plain thread. Everything else (channels,
//! `select_biased!`, fusing, the task's result) comes from the
//! executor-neutral `futures` crate, and the host glue from
//! `runtime_std::host`.

use futures::future::BoxFuture;
use futures::FutureExt;
use std::future::Future;
use std::io;
use std::time::Duration;

/// The async UDP socket type.
pub(crate) type UdpSocket = async_std::net::UdpSocket;

/// Turns a bound std socket into the executor's async socket.
pub(crate) fn udp_from_std(socket: std::net::UdpSocket) -> io::Result<UdpSocket> {
    socket.set_nonblocking(true)?;
    Ok(UdpSocket::from(socket))
}

/// A future that completes after `duration`.
pub(crate) fn sleep(duration: Duration) -> BoxFuture<'static, ()> {
    async_std::task::sleep(duration).boxed()
}

/// Runs `future` in the background, detached (its result travels through a
/// `futures` remote handle, not the executor's join handle).
pub(crate) fn spawn(future: impl Future<Output = ()> + Send + 'static) {
    drop(async_std::task::spawn(future));
}

/// Blocks the calling thread until `future` completes (for the blocking
/// `NodeControl` methods, called from outside any task).
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    futures::executor::block_on(future)
}
