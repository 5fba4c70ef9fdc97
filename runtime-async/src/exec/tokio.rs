//! tokio: the caller's runtime if there is one, else one owned by this crate.
//!
//! A tokio socket is registered with a runtime's reactor when it is created,
//! and a task needs a runtime to run on, so both [`udp_from_std`] and
//! [`spawn`] pick a runtime the same way: the one the calling thread is in
//! (`Handle::try_current`, e.g. inside `#[tokio::main]` or `Runtime::enter`),
//! which must have its IO and time drivers enabled (`enable_all`); otherwise
//! a multi-thread runtime (one worker per core, threads named
//! `runtime-async`) that this crate creates on first use and keeps for the
//! life of the process. A node on the caller's runtime lives as long as that
//! runtime: once it is shut down, the handle reports `NodeStopped`.

use futures::future::BoxFuture;
use futures::FutureExt;
use std::future::Future;
use std::io;
use std::sync::OnceLock;
use std::time::Duration;
use tokio::runtime::{Builder, Handle, Runtime};

/// The executor's name, as [`crate::EXECUTOR`].
pub(crate) const NAME: &str = "tokio";

/// The async UDP socket type.
pub(crate) type UdpSocket = tokio::net::UdpSocket;

/// The runtime to register sockets with and spawn on (see the module docs).
fn runtime() -> io::Result<Handle> {
    if let Ok(current) = Handle::try_current() {
        return Ok(current);
    }
    static OWNED: OnceLock<Result<Runtime, (io::ErrorKind, String)>> = OnceLock::new();
    let owned = OWNED.get_or_init(|| {
        Builder::new_multi_thread()
            .thread_name("runtime-async")
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| (e.kind(), e.to_string()))
    });
    match owned {
        Ok(rt) => Ok(rt.handle().clone()),
        Err((kind, msg)) => Err(io::Error::new(*kind, format!("starting a tokio runtime: {msg}"))),
    }
}

/// Turns a bound std socket into the executor's async socket, registered with
/// the runtime [`spawn`] will then run the node on.
pub(crate) fn udp_from_std(socket: std::net::UdpSocket) -> io::Result<UdpSocket> {
    socket.set_nonblocking(true)?;
    let _entered = runtime()?.enter();
    UdpSocket::from_std(socket)
}

/// A future that completes after `duration` (created inside the node's task,
/// so on its runtime).
pub(crate) fn sleep(duration: Duration) -> BoxFuture<'static, ()> {
    tokio::time::sleep(duration).boxed()
}

/// Runs `future` in the background, detached (its result travels through a
/// `futures` remote handle, not the executor's join handle).
pub(crate) fn spawn(future: impl Future<Output = ()> + Send + 'static) -> io::Result<()> {
    drop(runtime()?.spawn(future));
    Ok(())
}
