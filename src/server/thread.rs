//! The server thread: binding, running a server on its own runtime, and stopping it.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;

use super::listen::{annotate, listen};
use crate::http::Hosting;
use crate::http::ServerState;
use crate::sync::lock;

/// A running server and the way to stop it.
pub(super) struct Running {
    shutdown: oneshot::Sender<()>,
    /// Set once the server has stopped: its runtime dropped, every stream cut, every
    /// socket closed.
    ended: Arc<Ended>,
}

impl Running {
    /// Stops the server, returning once it has stopped.
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
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let listener = {
        let _inside = runtime.enter();
        tokio::net::TcpListener::from_std(listener).map_err(|error| annotate(address, error))?
    };
    let (shutdown, stop) = oneshot::channel::<()>();
    let ended = Arc::new(Ended::default());
    let finished = Finished(Arc::clone(&ended));
    let serving = serving(listener, state, stop);
    threads::run(Job {
        runtime,
        serving,
        finished,
    })?;
    Ok((address, Running { shutdown, ended }))
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
/// longer, and its owner sleeps. Kept for what the lifecycle bench measures: with this
/// pool and spin, start + one stream + drop costs about 410 µs; with a thread per server
/// joined on drop, about 490 µs (drop 75 µs against 128 µs), over the 1.2x budget.
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

/// A server stopped with more tasks than this (about one per open connection) lets its
/// thread end rather than wait for the next server. Measured with glibc (the scale bench,
/// 10,000 streams): the ~200 MiB such a server took went back to the system once its
/// thread ended, and stayed resident while the thread waited.
const BUSY_TASKS: usize = 256;

/// What a server thread runs for one server.
struct Job {
    runtime: tokio::runtime::Runtime,
    serving: Serving,
    /// Dropped once the runtime is gone, which tells the server's owner that every
    /// connection and the listener are closed.
    finished: Finished,
}

type Serving = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// The future that serves until `stop` fires. The router is built on the server thread,
/// while the test goes on.
fn serving(
    listener: tokio::net::TcpListener,
    state: Arc<ServerState>,
    stop: oneshot::Receiver<()>,
) -> Serving {
    Box::pin(async move {
        crate::http::serve(listener, state, stop, Hosting::Spawned).await;
    })
}

impl Job {
    /// Serves until stopped, then drops the runtime, which cancels every connection task
    /// and so closes their sockets. Returns what tells the owner it is over, and whether
    /// the server had many connections open when it stopped.
    fn run(self) -> (Finished, bool) {
        let Job {
            runtime,
            serving,
            finished,
            ..
        } = self;
        runtime.block_on(serving);
        let busy = runtime.metrics().num_alive_tasks() > BUSY_TASKS;
        drop(runtime);
        (finished, busy)
    }
}

/// Server threads. Starting an OS thread and ending it (its stack mapped and unmapped, a
/// join) is a fifth of a server's whole life in the lifecycle bench, so a thread whose
/// server has stopped waits for the next one. Each server still has a thread and a
/// runtime of its own while it runs, and a runtime is never reused: dropping it is what
/// cuts every stream at once.
mod threads {
    use std::io;
    use std::sync::mpsc;
    use std::sync::Mutex;

    use super::Job;
    use crate::sync::lock;

    /// Threads kept waiting for a server; a thread that finds this many already waiting
    /// ends instead.
    const MAX_IDLE: usize = 16;

    /// Waiting threads, each by the channel it takes its next server from.
    static IDLE: Mutex<Vec<mpsc::Sender<Job>>> = Mutex::new(Vec::new());

    /// Runs `job` on a waiting thread, or on a new one.
    pub(super) fn run(mut job: Job) -> io::Result<()> {
        loop {
            let Some(thread) = lock(&IDLE).pop() else {
                break;
            };
            match thread.send(job) {
                Ok(()) => return Ok(()),
                // That thread has ended: try the next.
                Err(mpsc::SendError(returned)) => job = returned,
            }
        }
        std::thread::Builder::new()
            .name("chatmock-server".to_owned())
            .spawn(move || serve_jobs(job))?;
        Ok(())
    }

    fn serve_jobs(mut job: Job) {
        loop {
            let (finished, busy) = job.run();
            // Wait for the next server before telling this one's owner it is over, so
            // that a server started right after finds this thread waiting.
            let next = if busy { None } else { wait_for_next() };
            drop(finished);
            match next.and_then(|jobs| jobs.recv().ok()) {
                Some(next) => job = next,
                None => return,
            }
        }
    }

    fn wait_for_next() -> Option<mpsc::Receiver<Job>> {
        let mut idle = lock(&IDLE);
        if idle.len() >= MAX_IDLE {
            return None;
        }
        let (sender, jobs) = mpsc::channel();
        idle.push(sender);
        Some(jobs)
    }
}
