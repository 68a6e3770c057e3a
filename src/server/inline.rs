//! A server on the test's own runtime, for virtual time: it follows the test's clock, so
//! a paused clock makes every scripted wait pass at once, in order.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::runtime::{Handle, RuntimeFlavor};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::listen::listen;
use crate::http::{self, Hosting, ServerState};
use crate::socket::Sockets;

/// A server running as a task of the test's runtime, and the way to stop it.
pub(super) struct Running {
    sockets: Arc<Sockets>,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<usize>,
}

impl Running {
    /// Stops the server, returning once its listener and every connection are closed and
    /// its task has ended.
    pub(super) async fn stop(self) {
        // The task closes the sockets itself, between two turns of its connections, as
        // a server thread does (`thread::Running::stop`).
        let _ = self.shutdown.send(());
        let _ = self.task.await;
    }

    /// Stops the server without waiting, for `Drop`: the listener is closed and every
    /// connection shut down here; the task is cancelled, and drops what is left the next
    /// time the test's runtime runs (at the test's next `.await`, or when the runtime ends
    /// with the test).
    pub(super) fn stop_now(self) {
        self.sockets.close();
        self.task.abort();
    }
}

/// Binds `address` and serves `state` as a task of the current runtime.
///
/// # Errors
///
/// If there is no current runtime, or it is not a current-thread one (tokio pauses only
/// those), with what to do instead; or if the address cannot be bound.
pub(super) fn serve(
    address: SocketAddr,
    state: Arc<ServerState>,
) -> io::Result<(SocketAddr, Running)> {
    let runtime = test_runtime()?;
    let (listener, address) = listen(&runtime, address)?;
    let sockets = Sockets::new(listener);
    let (shutdown, stop) = oneshot::channel();
    let serving = http::serve(Arc::clone(&sockets), state, stop, Hosting::Inline);
    let task = runtime.spawn(serving);
    let running = Running {
        sockets,
        shutdown,
        task,
    };
    Ok((address, running))
}

/// The runtime a virtual-time server runs on: the test's, if it is a current-thread one.
fn test_runtime() -> io::Result<Handle> {
    let unsupported = |message: &str| io::Error::new(io::ErrorKind::Unsupported, message);
    let Ok(runtime) = Handle::try_current() else {
        return Err(unsupported(
            "MockChatServerBuilder::virtual_time runs the server on the test's own tokio \
             runtime, and this code runs outside one: start the server with .start().await \
             inside #[tokio::test] (or #[tokio::test(start_paused = true)]), not with \
             start_blocking()",
        ));
    };
    if runtime.runtime_flavor() != RuntimeFlavor::CurrentThread {
        return Err(unsupported(
            "MockChatServerBuilder::virtual_time needs a current-thread runtime, as tokio can \
             pause only those: use #[tokio::test] or #[tokio::test(start_paused = true)], \
             without flavor = \"multi_thread\"",
        ));
    }
    Ok(runtime)
}
