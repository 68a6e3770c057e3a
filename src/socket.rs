//! The TCP side of a server: accepting connections, and ending one with a reset.
//!
//! A reset (RST) instead of an orderly close is what a client sees when a peer crashes or
//! a middlebox kills a connection. The OS sends one when a socket closes with `SO_LINGER`
//! set to zero; the HTTP server owns the socket, so the listener keeps each accepted
//! socket's descriptor (as the connection's "address", which axum hands to every request
//! on it) to set that option just before the connection is dropped.

use std::io;
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::net::{TcpListener, TcpStream};

/// The listener a server accepts on.
pub(crate) struct Accepting(pub(crate) TcpListener);

/// The connection a request arrived on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Connection {
    #[cfg(unix)]
    socket: std::os::fd::RawFd,
    #[cfg(windows)]
    socket: std::os::windows::io::RawSocket,
}

impl Connection {
    #[cfg(unix)]
    fn of(socket: &impl std::os::fd::AsRawFd) -> Connection {
        Connection {
            socket: socket.as_raw_fd(),
        }
    }

    #[cfg(windows)]
    fn of(socket: &impl std::os::windows::io::AsRawSocket) -> Connection {
        Connection {
            socket: socket.as_raw_socket(),
        }
    }

    /// Makes the next close of this connection a reset.
    ///
    /// Call it only from the response to a request on this connection: while the response
    /// is being produced, the HTTP server still owns the socket, so the descriptor is open
    /// and still names this connection.
    pub(crate) fn reset_on_close(&self) {
        // SAFETY: per the contract above the socket is open for the duration of this
        // call, and the borrow does not outlive it.
        #[cfg(unix)]
        let socket = unsafe { std::os::fd::BorrowedFd::borrow_raw(self.socket) };
        #[cfg(windows)]
        let socket = unsafe { std::os::windows::io::BorrowedSocket::borrow_raw(self.socket) };
        // Failing here only turns the reset into an ordinary abort; the client's own
        // assertion in the test would show which one it met.
        let _ = socket2::SockRef::from(&socket).set_linger(Some(Duration::ZERO));
    }
}

impl Listener for Accepting {
    type Io = TcpStream;
    type Addr = Connection;

    async fn accept(&mut self) -> (TcpStream, Connection) {
        loop {
            match self.0.accept().await {
                Ok((stream, _)) => {
                    // Small SSE events must leave at once, not wait for Nagle's algorithm.
                    let _ = stream.set_nodelay(true);
                    let connection = Connection::of(&stream);
                    return (stream, connection);
                }
                // The client gave up before we accepted: nothing to serve.
                Err(error) if is_connection_error(&error) => {}
                // Out of file descriptors, most likely: wait for streams to end rather
                // than spin.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Connection> {
        Ok(Connection::of(&self.0))
    }
}

impl Connected<IncomingStream<'_, Accepting>> for Connection {
    fn connect_info(stream: IncomingStream<'_, Accepting>) -> Connection {
        *stream.remote_addr()
    }
}

fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}
