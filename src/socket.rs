//! The TCP side of a server: accepting connections, and ending one with a reset.
//!
//! A reset (RST) instead of an orderly close is what a client sees when a peer crashes or
//! a middlebox kills a connection. The OS sends one when a socket closes with `SO_LINGER`
//! set to zero. The HTTP server owns each connection's socket, so the socket is wrapped
//! in a [`Socket`] that shares a flag with the connection's [`Connection`] (axum hands it
//! to every request on it): a response sets the flag, and the socket applies it itself
//! when the HTTP server drops it.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// The listener a server accepts on.
pub(crate) struct Accepting(pub(crate) TcpListener);

/// The connection a request arrived on: the way its response asks for a reset, and
/// watches for the client leaving.
#[derive(Debug, Clone, Default)]
pub(crate) struct Connection {
    reset_on_close: Arc<AtomicBool>,
    /// The socket, while the HTTP server has it.
    stream: Weak<TcpStream>,
}

impl Connection {
    /// Makes the close of this connection a reset.
    pub(crate) fn reset_on_close(&self) {
        self.reset_on_close.store(true, Ordering::Release);
    }

    /// Returns once the client has finished sending: it closed the connection, or shut
    /// down its sending side (the two look the same until something is written). Never
    /// returns if the client sends more (a pipelined request).
    pub(crate) fn finished_sending(&self) -> impl Future<Output = ()> + Send + 'static {
        let stream = self.stream.upgrade();
        async move {
            let Some(stream) = stream else {
                return;
            };
            let mut byte = [0; 1];
            match stream.peek(&mut byte).await {
                Ok(0) | Err(_) => {}
                Ok(_) => std::future::pending().await,
            }
        }
    }
}

/// An accepted socket, which closes with a reset when its connection asked for one.
/// It is shared with its [`Connection`] only so that a response can watch for the
/// client leaving while the HTTP server is not reading.
pub(crate) struct Socket {
    stream: Arc<TcpStream>,
    reset_on_close: Arc<AtomicBool>,
}

impl Drop for Socket {
    fn drop(&mut self) {
        if self.reset_on_close.load(Ordering::Acquire) {
            // Failing here only turns the reset into an ordinary close; the client's own
            // assertion in the test would show which one it met.
            let _ = socket2::SockRef::from(&*self.stream).set_linger(Some(Duration::ZERO));
        }
    }
}

impl AsyncRead for Socket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            ready!(self.stream.poll_read_ready(cx))?;
            let wanted = buf.remaining();
            let mut short_read = false;
            // A read shorter than asked for emptied the socket, so its readiness is
            // cleared as tokio's own `TcpStream` does: otherwise the next read (hyper's
            // look for a next request, on every request) is a system call that fails
            // with `WouldBlock`. Reporting `WouldBlock` from inside `try_io` clears only
            // the readiness seen before this read, never a newer one.
            let result = self.stream.try_io(Interest::READABLE, || {
                let read = self.stream.try_read_buf(buf)?;
                if cfg!(unix) && read > 0 && read < wanted {
                    short_read = true;
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                Ok(read)
            });
            match result {
                _ if short_read => return Poll::Ready(Ok(())),
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => continue,
                result => return Poll::Ready(result.map(drop)),
            }
        }
    }
}

impl AsyncWrite for Socket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.stream.poll_write_ready(cx))?;
            match self.stream.try_write(buf) {
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => continue,
                result => return Poll::Ready(result),
            }
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.stream.poll_write_ready(cx))?;
            match self.stream.try_write_vectored(bufs) {
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => continue,
                result => return Poll::Ready(result),
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(socket2::SockRef::from(&*self.stream).shutdown(std::net::Shutdown::Write))
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
                    let stream = Arc::new(stream);
                    let connection = Connection {
                        reset_on_close: Arc::default(),
                        stream: Arc::downgrade(&stream),
                    };
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
