//! The server thread: binding, running a server on its own runtime, and stopping it.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::oneshot;

use crate::http::ServerState;
use crate::socket::Connection;

/// A running server and the way to stop it.
pub(super) struct Running {
    shutdown: oneshot::Sender<()>,
    /// Ends once the server has stopped: its runtime dropped, every stream cut, every
    /// socket closed.
    thread: std::thread::JoinHandle<()>,
}

impl Running {
    /// Stops the server, returning once its thread has ended.
    pub(super) fn stop(self) {
        let _ = self.shutdown.send(());
        // A panic on the server thread has already failed the request it served; the
        // server is stopped either way.
        let _ = self.thread.join();
    }
}

/// How many connections may wait to be accepted. The standard library's 128 drops SYNs
/// when thousands of clients connect at once, which costs each of them a second or more.
const LISTEN_BACKLOG: i32 = 4096;

fn bind(address: SocketAddr) -> io::Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(address), Type::STREAM, None)?;
    // As the standard library does on Unix: a restarted server rebinds its port at once,
    // whatever its previous connections left in TIME_WAIT.
    #[cfg(unix)]
    socket.set_reuse_address(true)?;
    socket.bind(&address.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// Binds `address` and serves `state` on a server thread.
///
/// Binding happens here, on the caller's thread, so the address is known (and taken)
/// before start returns; port 0 lets the system pick a free port without a race.
pub(super) fn serve(
    address: SocketAddr,
    state: Arc<ServerState>,
) -> io::Result<(SocketAddr, Running)> {
    let annotate = |error: io::Error| {
        io::Error::new(
            error.kind(),
            format!("chatmock could not listen on {address}: {error}"),
        )
    };
    let listener = bind(address).map_err(annotate)?;
    let address = listener.local_addr().map_err(annotate)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let listener = {
        let _inside = runtime.enter();
        tokio::net::TcpListener::from_std(listener).map_err(annotate)?
    };
    let (shutdown, stop) = oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("chatmock-server".to_owned())
        .spawn(move || {
            // Serves until stopped, then drops the runtime, which cancels every
            // connection task and so closes their sockets.
            runtime.block_on(serve_until(listener, state, stop));
        })?;
    Ok((address, Running { shutdown, thread }))
}

/// Serves until `stop` fires. The router is built on the server thread, while the test
/// goes on.
async fn serve_until(
    listener: tokio::net::TcpListener,
    state: Arc<ServerState>,
    stop: oneshot::Receiver<()>,
) {
    let app = crate::http::router(state).into_make_service_with_connect_info::<Connection>();
    tokio::select! {
        _ = axum::serve(crate::socket::Accepting(listener), app) => {}
        _ = stop => {}
    }
}
