//! async-std: its global executor (one thread per core) and reactor, started
//! on first use.

use futures::future::BoxFuture;
use futures::FutureExt;
use std::future::Future;
use std::io;
use std::time::Duration;

/// The executor's name, as [`crate::EXECUTOR`].
pub(crate) const NAME: &str = "async-std";

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
pub(crate) fn spawn(future: impl Future<Output = ()> + Send + 'static) -> io::Result<()> {
    drop(async_std::task::spawn(future));
    Ok(())
}
