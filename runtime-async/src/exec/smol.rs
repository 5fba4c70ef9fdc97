//! smol: its global executor (`smol::spawn`, `SMOL_THREADS` threads, default
//! 1) and the `async-io` reactor, started on first use.

use futures::future::BoxFuture;
use futures::FutureExt;
use std::future::Future;
use std::io;
use std::time::Duration;

/// The executor's name, as [`crate::EXECUTOR`].
pub(crate) const NAME: &str = "smol";

/// The async UDP socket type.
pub(crate) type UdpSocket = smol::net::UdpSocket;

/// Turns a bound std socket into the executor's async socket (registered with
/// the reactor, non-blocking).
pub(crate) fn udp_from_std(socket: std::net::UdpSocket) -> io::Result<UdpSocket> {
    socket.set_nonblocking(true)?;
    UdpSocket::try_from(socket)
}

/// A future that completes after `duration`.
pub(crate) fn sleep(duration: Duration) -> BoxFuture<'static, ()> {
    smol::Timer::after(duration).map(drop).boxed()
}

/// Runs `future` in the background, detached (its result travels through a
/// `futures` remote handle, not the executor's task).
pub(crate) fn spawn(future: impl Future<Output = ()> + Send + 'static) -> io::Result<()> {
    smol::spawn(future).detach();
    Ok(())
}
