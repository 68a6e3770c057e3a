//! Serving connections inside one future, for a server on the test's own runtime.
//!
//! A server on its own thread serves with `axum::serve`, which spawns a task per
//! connection; dropping that server's runtime ends them all. A server on the test's
//! runtime (virtual time) cannot drop the runtime, so it keeps its listener and every
//! connection inside the one future this module returns: cancelling that future closes
//! them all at once.

use std::sync::Arc;

use axum::extract::ConnectInfo;
use axum::serve::Listener;
use futures::stream::FuturesUnordered;
use futures::StreamExt;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tower::ServiceExt;

use super::{router, ServerState};
use crate::socket::Accepting;

/// Accepts and serves connections until `stop` fires, all inside the returned future.
pub(crate) async fn serve_inline(
    listener: TcpListener,
    state: Arc<ServerState>,
    mut stop: oneshot::Receiver<()>,
) {
    let router = router(state);
    let mut accepting = Accepting(listener);
    let mut connections = FuturesUnordered::new();
    loop {
        tokio::select! {
            _ = &mut stop => return,
            (socket, connection) = accepting.accept() => {
                let router = router.clone();
                let service = hyper::service::service_fn(
                    move |mut request: hyper::Request<hyper::body::Incoming>| {
                        request.extensions_mut().insert(ConnectInfo(connection.clone()));
                        router.clone().oneshot(request.map(axum::body::Body::new))
                    },
                );
                connections.push(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(socket), service),
                );
            }
            // A connection that fails has only itself to blame; the others go on.
            Some(_) = connections.next(), if !connections.is_empty() => {}
        }
    }
}
