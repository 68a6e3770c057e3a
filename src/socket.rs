//! The TCP side of a server: accepting connections, closing them all at once from any
//! thread, and ending one with a reset.
//!
//! A server's owner stops it from its own thread (a test's `drop`). The listener and every
//! accepted socket are kept in one [`Sockets`], so the owner closes the listener and shuts
//! every connection down itself, there and then: the port refuses connections and every
//! client sees its stream end before the stop returns, whether or not the server's thread
//! has run since. That thread then drops what is left (tasks, buffers, the descriptors)
//! in its own time.
//!
//! A reset (RST) instead of an orderly close is what a client sees when a peer crashes or
//! a middlebox kills a connection. The OS sends one when a socket closes with `SO_LINGER`
//! set to zero. The HTTP server owns each connection's socket, so the socket is wrapped
//! in a [`Socket`] that shares a flag with the connection's [`Connection`] (its service
//! hands it to every request on it): a response sets the flag, and the socket applies it
//! itself when the HTTP server drops it.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use crate::sync::lock;

/// A server's listener and the connections it accepted, shared by its accept loop and
/// its owner.
pub(crate) struct Sockets(Mutex<Open>);

struct Open {
    /// `None` once closed.
    listener: Option<TcpListener>,
    /// Every accepted connection that may still be open; a dead entry is dropped when the
    /// list has doubled since the last sweep, so a server serving one connection after
    /// another keeps a short list.
    connections: Vec<Weak<TcpStream>>,
    swept_at: usize,
}

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

impl Sockets {
    pub(crate) fn new(listener: TcpListener) -> Arc<Sockets> {
        Arc::new(Sockets(Mutex::new(Open {
            listener: Some(listener),
            connections: Vec::new(),
            swept_at: 0,
        })))
    }

    /// The next connection, skipping clients that gave up before they were accepted;
    /// `None` once the listener is closed.
    pub(crate) async fn accept(&self) -> Option<(Socket, Connection)> {
        loop {
            match std::future::poll_fn(|cx| self.poll_accept(cx)).await {
                Some(Ok(accepted)) => return Some(accepted),
                None => return None,
                // The client gave up before we accepted: nothing to serve.
                Some(Err(error)) if is_connection_error(&error) => {}
                // Out of file descriptors, most likely: wait for streams to end rather
                // than spin.
                Some(Err(_)) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// Accepts under the lock, so that a connection is either listed before
    /// [`close`](Self::close) runs or never accepted at all.
    fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<Option<io::Result<(Socket, Connection)>>> {
        let mut open = lock(&self.0);
        let Some(listener) = &open.listener else {
            return Poll::Ready(None);
        };
        let stream = match ready!(listener.poll_accept(cx)) {
            Ok((stream, _)) => stream,
            Err(error) => return Poll::Ready(Some(Err(error))),
        };
        // Small SSE events must leave at once, not wait for Nagle's algorithm.
        let _ = stream.set_nodelay(true);
        let stream = Arc::new(stream);
        open.list(&stream);
        let connection = Connection {
            reset_on_close: Arc::default(),
            stream: Arc::downgrade(&stream),
        };
        let socket = Socket {
            stream,
            reset_on_close: Arc::clone(&connection.reset_on_close),
        };
        Poll::Ready(Some(Ok((socket, connection))))
    }

    /// Closes the listener, so the port refuses connections and can be bound again, and
    /// shuts every connection down, so each client sees its stream end (a FIN after what
    /// was already written). Safe from any thread; the server's own tasks notice on their
    /// next write or read, or when their owner cancels them.
    pub(crate) fn close(&self) {
        let mut open = lock(&self.0);
        // Dropping a tokio listener outside its runtime deregisters it and closes it here.
        open.listener = None;
        for connection in open.connections.drain(..) {
            if let Some(stream) = connection.upgrade() {
                let _ = socket2::SockRef::from(&*stream).shutdown(std::net::Shutdown::Both);
            }
        }
    }
}

impl Open {
    fn list(&mut self, stream: &Arc<TcpStream>) {
        if self.connections.len() >= 2 * self.swept_at.max(16) {
            self.connections
                .retain(|connection| connection.strong_count() > 0);
            self.swept_at = self.connections.len();
        }
        self.connections.push(Arc::downgrade(stream));
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
