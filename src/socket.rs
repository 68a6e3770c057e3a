//! The TCP side of a server: accepting connections, and ending one with a reset.
//!
//! A reset (RST) instead of an orderly close is what a client sees when a peer crashes or
//! a middlebox kills a connection. The OS sends one when a socket closes with `SO_LINGER`
//! set to zero. The HTTP server owns each connection's socket, so the socket is wrapped
//! in a [`Socket`] that shares a flag with the connection's [`Connection`] (axum hands it
//! to every request on it): a response sets the flag, and the socket applies it itself
//! when the HTTP server drops it.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// The listener a server accepts on.
pub(crate) struct Accepting(pub(crate) TcpListener);

/// The connection a request arrived on: the way its response asks for a reset.
#[derive(Debug, Clone, Default)]
pub(crate) struct Connection {
    reset_on_close: Arc<AtomicBool>,
}

impl Connection {
    /// Makes the close of this connection a reset.
    pub(crate) fn reset_on_close(&self) {
        self.reset_on_close.store(true, Ordering::Release);
    }
}

/// An accepted socket, which closes with a reset when its connection asked for one.
pub(crate) struct Socket {
    stream: TcpStream,
    reset_on_close: Arc<AtomicBool>,
}

impl Drop for Socket {
    fn drop(&mut self) {
        if self.reset_on_close.load(Ordering::Acquire) {
            // Failing here only turns the reset into an ordinary close; the client's own
            // assertion in the test would show which one it met.
            let _ = socket2::SockRef::from(&self.stream).set_linger(Some(Duration::ZERO));
        }
    }
}

impl AsyncRead for Socket {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Socket {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

impl Accepting {
    /// The next connection, skipping clients that gave up before they were accepted.
    pub(crate) async fn accept(&mut self) -> (Socket, Connection) {
        loop {
            match self.0.accept().await {
                Ok((stream, _)) => {
                    // Small SSE events must leave at once, not wait for Nagle's algorithm.
                    let _ = stream.set_nodelay(true);
                    let connection = Connection::default();
                    let socket = Socket {
                        stream,
                        reset_on_close: Arc::clone(&connection.reset_on_close),
                    };
                    return (socket, connection);
                }
                // The client gave up before we accepted: nothing to serve.
                Err(error) if is_connection_error(&error) => {}
                // Out of file descriptors, most likely: wait for streams to end rather
                // than spin.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
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
