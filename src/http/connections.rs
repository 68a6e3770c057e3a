//! Accepting and serving connections, for both places a server runs.
//!
//! One loop accepts, and every connection is served by hyper's HTTP/1 server with the
//! same settings: half-closed connections are served to the end, headers may have to
//! arrive within a time limit, and the number of open connections may be bounded. A
//! server on its own thread spawns each connection as a task and aborts them all when it
//! stops, as that thread's runtime goes on to serve the next server; a server on the
//! test's runtime (virtual time) keeps them inside the one future this loop is, so
//! cancelling it closes them all. Either way the owner has already closed the sockets
//! themselves ([`Sockets::close`]), so what is left here is dropping the tasks.

use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use futures_util::StreamExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::{oneshot, Notify};
use tokio::task::AbortHandle;

use super::{router, Router, ServerState};
use crate::socket::{Connection, Socket, Sockets};

/// What a server allows its connections.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ConnectionLimits {
    /// A connection must send a request's whole head within this time of opening (or of
    /// its previous response), or it is closed.
    pub(crate) header_read_timeout: Option<Duration>,
    /// At most this many connections are open at once; more wait to be accepted.
    pub(crate) max_connections: Option<usize>,
}

/// Where connections run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hosting {
    /// A task each, on the server thread's runtime, which outlives the server.
    Spawned,
    /// Inside the serving future, on the test's runtime.
    Inline,
}

/// Accepts and serves connections until `stop` fires or `sockets` is closed. Returns how
/// many connections were open then, all of them closed by the time this returns.
pub(crate) async fn serve(
    sockets: Arc<Sockets>,
    state: Arc<ServerState>,
    stop: oneshot::Receiver<()>,
    hosting: Hosting,
) -> usize {
    let mut connections = Connections::new(hosting);
    accept_until_stopped(&sockets, state, stop, &mut connections).await;
    // `stop()` closes the sockets here, between two turns of the connections, so what a
    // stream logged as sent was written; a drop has closed them already, and this does
    // nothing more.
    sockets.close();
    connections.cancel_all().await
}

async fn accept_until_stopped(
    sockets: &Sockets,
    state: Arc<ServerState>,
    mut stop: oneshot::Receiver<()>,
    connections: &mut Connections,
) {
    let limits = state.limits;
    let router = router(state);
    loop {
        if limits
            .max_connections
            .is_some_and(|max| connections.open.count() >= max)
        {
            // Leave the rest in the listen backlog until a connection ends.
            let closed = Arc::clone(&connections.open.closed);
            tokio::select! {
                _ = &mut stop => return,
                _ = closed.notified() => continue,
                () = connections.reap_one() => continue,
            }
        }
        tokio::select! {
            _ = &mut stop => return,
            accepted = sockets.accept() => {
                let Some((socket, connection)) = accepted else {
                    return;
                };
                let served = serve_connection(socket, connection, router.clone(), limits);
                connections.add(served);
            }
            () = connections.reap_one() => {}
        }
    }
}

/// The connections a server is serving, where its [`Hosting`] puts them, and how many
/// are open.
struct Connections {
    hosting: HostedConnections,
    open: Arc<OpenConnections>,
}

enum HostedConnections {
    /// Tasks, aborted together when the server stops: the runtime goes on to the next
    /// server, so nothing else would end them. A task that has ended is swept from the
    /// list when it has doubled since the last sweep. (A `JoinSet` did the same with a
    /// lock and a list entry per task, reaped in the accept loop: about 800 more of
    /// tokio's instructions a request, by callgrind on the `first_byte` bench.)
    Spawned {
        tasks: Vec<AbortHandle>,
        swept_at: usize,
    },
    Inline(FuturesUnordered<BoxFuture<'static, ()>>),
}

impl Connections {
    fn new(hosting: Hosting) -> Connections {
        let hosting = match hosting {
            Hosting::Spawned => HostedConnections::Spawned {
                tasks: Vec::new(),
                swept_at: 0,
            },
            Hosting::Inline => HostedConnections::Inline(FuturesUnordered::new()),
        };
        Connections {
            hosting,
            open: Arc::default(),
        }
    }

    fn add(&mut self, served: impl Future<Output = ()> + Send + 'static) {
        let guard = self.open.opened();
        let served = async move {
            served.await;
            drop(guard);
        };
        match &mut self.hosting {
            HostedConnections::Spawned { tasks, swept_at } => {
                if tasks.len() >= 2 * (*swept_at).max(16) {
                    tasks.retain(|task| !task.is_finished());
                    *swept_at = tasks.len();
                }
                tasks.push(tokio::spawn(served).abort_handle());
            }
            HostedConnections::Inline(futures) => futures.push(Box::pin(served)),
        }
    }

    /// Drives inline connections until one has ended; never returns while there are
    /// none, or for spawned ones, which run by themselves.
    async fn reap_one(&mut self) {
        if let HostedConnections::Inline(futures) = &mut self.hosting {
            if futures.next().await.is_some() {
                return;
            }
        }
        std::future::pending::<()>().await;
    }

    /// Ends every connection, returning how many were still open.
    async fn cancel_all(self) -> usize {
        let open = self.open.count();
        match self.hosting {
            HostedConnections::Spawned { tasks, .. } => {
                for task in &tasks {
                    task.abort();
                }
                // An aborted task drops its connection, and with it its guard, the next
                // time the runtime gets to it.
                loop {
                    let closed = self.open.closed.notified();
                    if self.open.count() == 0 {
                        break;
                    }
                    closed.await;
                }
            }
            HostedConnections::Inline(futures) => drop(futures),
        }
        open
    }
}

/// Serves one connection with hyper's HTTP/1 server; its errors are the connection's own
/// (a client that sent garbage or went away), so the others go on.
async fn serve_connection(
    socket: Socket,
    connection: Connection,
    router: Router,
    limits: ConnectionLimits,
) {
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let (router, connection) = (router.clone(), connection.clone());
        // Boxed, so that the handler's state (several KiB) is freed once it has answered:
        // hyper keeps room for its service's future for as long as the connection is
        // open, which for a stream is the whole stream (5.7 KiB more per open stream in
        // the scale bench, unboxed). One allocation a request.
        let answering: BoxFuture<'static, Result<Response, Infallible>> =
            Box::pin(async move { Ok(router.handle(request.map(Body::new), connection).await) });
        answering
    });
    let mut http1 = hyper::server::conn::http1::Builder::new();
    // The end of a client's input does not end its response: a client may finish sending
    // and still read. The router watches for clients that leave instead (`answer`).
    http1.half_close(true);
    if let Some(timeout) = limits.header_read_timeout {
        http1.timer(TokioTimer::new()).header_read_timeout(timeout);
    }
    let _ = http1.serve_connection(TokioIo::new(socket), service).await;
}

/// How many connections are open, and a signal when one closes.
#[derive(Default)]
struct OpenConnections {
    count: Arc<AtomicUsize>,
    closed: Arc<Notify>,
}

impl OpenConnections {
    fn count(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    fn opened(&self) -> OpenGuard {
        self.count.fetch_add(1, Ordering::AcqRel);
        OpenGuard {
            count: Arc::clone(&self.count),
            closed: Arc::clone(&self.closed),
        }
    }
}

/// Counts a connection as open until dropped.
struct OpenGuard {
    count: Arc<AtomicUsize>,
    closed: Arc<Notify>,
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::AcqRel);
        self.closed.notify_one();
    }
}
