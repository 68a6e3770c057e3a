//! Binding a server's address, the same way for a server on its own thread and for one
//! on the test's runtime.

use std::io;
use std::net::SocketAddr;

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

/// Binds and listens on `address`, returning the listener and the address it got.
///
/// A server's address is bound before its start returns, so it is known and taken when
/// the test sees it; port 0 lets the system pick a free port without a race.
pub(super) fn listen(address: SocketAddr) -> io::Result<(std::net::TcpListener, SocketAddr)> {
    let listener = bind(address).map_err(|error| annotate(address, error))?;
    let bound = listener
        .local_addr()
        .map_err(|error| annotate(address, error))?;
    Ok((listener, bound))
}

/// `error`, saying which address chatmock could not listen on.
pub(super) fn annotate(address: SocketAddr, error: io::Error) -> io::Error {
    io::Error::new(
        error.kind(),
        format!("chatmock could not listen on {address}: {error}"),
    )
}
