//! Binding a server's address, the same way for a server on its own thread and for one
//! on the test's runtime.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use tokio::net::TcpListener;
use tokio::runtime::Handle;

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

/// The address a builder listens on unless told otherwise: loopback only, on a free port.
pub(super) const DEFAULT_ADDRESS: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);

/// Binds and listens on `address` and registers the listener with `runtime`, returning
/// it and the address it got.
///
/// A server's address is bound before its start returns, so it is known and taken when
/// the test sees it; port 0 lets the system pick a free port without a race.
pub(super) fn listen(
    runtime: &Handle,
    address: SocketAddr,
) -> io::Result<(TcpListener, SocketAddr)> {
    let listener = bind(address).map_err(|error| annotate(address, error))?;
    let bound = listener
        .local_addr()
        .map_err(|error| annotate(address, error))?;
    let _inside = runtime.enter();
    let listener = TcpListener::from_std(listener).map_err(|error| annotate(bound, error))?;
    Ok((listener, bound))
}

/// `error`, saying which address chatmock could not listen on.
fn annotate(address: SocketAddr, error: io::Error) -> io::Error {
    io::Error::new(
        error.kind(),
        format!("chatmock could not listen on {address}: {error}"),
    )
}
