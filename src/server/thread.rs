//! The server thread: binding, running a server on a runtime of its own, and stopping it.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;

use super::listen::{annotate, listen};
use crate::http::{Hosting, ServerState};
use crate::socket::Sockets;
use crate::sync::lock;

/// A running server and the way to stop it.
pub(super) struct Running {
    sockets: Arc<Sockets>,
    shutdown: oneshot::Sender<()>,
    /// Set once the server has stopped: every connection task dropped, every socket closed.
    ended: Arc<Ended>,
}

impl Running {
    /// Stops the server: the listener is closed and every connection shut down before
    /// this returns, on the calling thread. The server thread drops the connections'
    /// tasks and descriptors after that, in its own time.
    pub(super) fn stop_now(self) {
        self.sockets.close();
        let _ = self.shutdown.send(());
    }

    /// Stops the server, returning once the server thread has closed everything itself.
    /// The sockets are closed there, between two of its tasks' turns, so whatever a
    /// stream's turn logged as sent was written before the cut: a test that stops the
    /// server after the log shows *k* events can count on the client having them. (A
    /// drop cannot be inspected afterwards, so it closes at once instead.)
    pub(super) fn stop(self) {
        let _ = self.shutdown.send(());
        self.ended.wait();
    }
}

/// Binds `address` and serves `state` on a server thread.
pub(super) fn serve(
    address: SocketAddr,
    state: Arc<ServerState>,
) -> io::Result<(SocketAddr, Running)> {
    let (listener, address) = listen(address)?;
    let worker = threads::worker()?;
    let listener = {
        let _inside = worker.runtime.enter();
        tokio::net::TcpListener::from_std(listener).map_err(|error| annotate(address, error))?
    };
    let sockets = Sockets::new(listener);
    let (shutdown, stop) = oneshot::channel::<()>();
    let ended = Arc::new(Ended::default());
    let job = Job {
        serving: Box::pin(crate::http::serve(
            Arc::clone(&sockets),
            state,
            stop,
            Hosting::Spawned,
        )),
        finished: Finished(Arc::clone(&ended)),
    };
    worker.run(job);
    let running = Running {
        sockets,
        shutdown,
        ended,
    };
    Ok((address, running))
}

/// Whether a server has stopped, for its owner to wait on.
#[derive(Default)]
pub(super) struct Ended {
    ended: AtomicBool,
    /// The thread waiting for the end, to wake once it has come.
    waiting: Mutex<Option<std::thread::Thread>>,
}

/// Ends the server when dropped, even by a panic on the server thread.
struct Finished(Arc<Ended>);

impl Drop for Finished {
    fn drop(&mut self) {
        self.0.ended.store(true, Ordering::Release);
        if let Some(waiting) = lock(&self.0.waiting).take() {
            waiting.unpark();
        }
    }
}

/// How long the owner of a stopping server checks for its end before going to sleep.
/// Stopping an ordinary server takes tens of microseconds, about what it costs to wake a
/// sleeping thread on a busy or virtual machine; a server with many streams to cut takes
/// longer, and its owner sleeps.
const SPIN: Duration = Duration::from_micros(200);

impl Ended {
    /// Returns once the server has stopped.
    pub(super) fn wait(&self) {
        *lock(&self.waiting) = Some(std::thread::current());
        let spinning = std::time::Instant::now();
        while !self.ended.load(Ordering::Acquire) {
            if spinning.elapsed() < SPIN {
                std::hint::spin_loop();
            } else {
                // An unpark that came since the last look makes this return at once.
                std::thread::park();
            }
        }
        // Spares this thread a stray wake-up, unless the server thread is waking it now.
        lock(&self.waiting).take();
    }
}

/// A server stopped with more connections open than this lets its thread end rather than
/// wait for the next server. Measured with glibc (the scale bench, 10,000 streams): the
/// ~200 MiB such a server took went back to the system once its thread ended, and stayed
/// resident while the thread waited.
const BUSY_CONNECTIONS: usize = 256;

/// What a server thread runs for one server.
struct Job {
    /// Serves until stopped, then drops every connection; yields how many were open.
    serving: Serving,
    /// Dropped once `serving` is done, which tells the server's owner that every
    /// connection and the listener are closed.
    finished: Finished,
}

type Serving = std::pin::Pin<Box<dyn std::future::Future<Output = usize> + Send>>;

/// Server threads, each with a current-thread runtime that serves one server at a time.
/// Starting an OS thread and a runtime for every server, and joining it on drop, made the
/// lifecycle bench's round 1.2x slower, so a thread whose server has stopped waits, inside
/// its runtime, for the next one. A server's listener is registered with that runtime by
/// whoever starts it, and every task the server spawned is aborted when it stops
/// (`http::serve`), so nothing of one server lives on into the next.
mod threads {
    use std::io;
    use std::sync::Mutex;

    use tokio::runtime::Runtime;
    use tokio::sync::mpsc;

    use super::{Job, BUSY_CONNECTIONS};
    use crate::sync::lock;

    /// Threads kept waiting for a server; a thread that finds this many already waiting
    /// ends instead.
    const MAX_IDLE: usize = 16;

    /// Waiting threads.
    static IDLE: Mutex<Vec<Worker>> = Mutex::new(Vec::new());

    /// A server thread that is waiting for its next server: the runtime to register that
    /// server's listener with, and the way to hand it the server.
    pub(super) struct Worker {
        pub(super) runtime: tokio::runtime::Handle,
        jobs: mpsc::UnboundedSender<Job>,
    }

    /// A waiting thread, or a new one.
    pub(super) fn worker() -> io::Result<Worker> {
        if let Some(worker) = lock(&IDLE).pop() {
            return Ok(worker);
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (jobs, waiting) = mpsc::unbounded_channel();
        let worker = Worker {
            runtime: runtime.handle().clone(),
            jobs: jobs.clone(),
        };
        std::thread::Builder::new()
            .name("chatmock-server".to_owned())
            .spawn(move || serve_jobs(runtime, jobs, waiting))?;
        Ok(worker)
    }

    impl Worker {
        /// Hands `job` to this thread.
        pub(super) fn run(self, job: Job) {
            // A worker is only ever taken from the list while its thread waits on this
            // channel, holding the receiver, so the send cannot fail; if it did, `job`
            // would drop here, which stops its server and tells its owner so.
            let _ = self.jobs.send(job);
        }
    }

    fn serve_jobs(
        runtime: Runtime,
        jobs: mpsc::UnboundedSender<Job>,
        mut waiting: mpsc::UnboundedReceiver<Job>,
    ) {
        loop {
            let Some(Job { serving, finished }) = runtime.block_on(waiting.recv()) else {
                return;
            };
            let open = runtime.block_on(serving);
            // Wait for the next server before telling this one's owner it is over, so
            // that a server started right after finds this thread waiting.
            if open <= BUSY_CONNECTIONS && wait_for_next(&runtime, &jobs) {
                drop(finished);
            } else {
                drop(runtime);
                drop(finished);
                return;
            }
        }
    }

    /// Lists this thread as waiting, unless enough already are.
    fn wait_for_next(runtime: &Runtime, jobs: &mpsc::UnboundedSender<Job>) -> bool {
        let mut idle = lock(&IDLE);
        if idle.len() >= MAX_IDLE {
            return false;
        }
        idle.push(Worker {
            runtime: runtime.handle().clone(),
            jobs: jobs.clone(),
        });
        true
    }
}
