//! The server thread: binding, running a server on a runtime of its own, and stopping it.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;

use super::listen::{listen, DEFAULT_ADDRESS};
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
    let mut worker = threads::worker()?;
    let (listener, address) = match worker.listener(address) {
        Ok(ready) => ready,
        Err(error) => {
            worker.release();
            return Err(error);
        }
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
        address: Some(address),
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
    /// The address served, which the thread's next spare listener must not have.
    address: Option<SocketAddr>,
}

impl Job {
    /// A job that serves nothing: it hands back a thread that was taken but not used.
    fn nothing() -> Job {
        Job {
            serving: Box::pin(async { 0 }),
            finished: Finished(Arc::default()),
            address: None,
        }
    }
}

type Serving = std::pin::Pin<Box<dyn std::future::Future<Output = usize> + Send>>;

/// Server threads, each with a current-thread runtime that serves one server at a time.
/// Starting an OS thread and a runtime for every server, and joining it on drop, made the
/// lifecycle bench's round 1.2x slower, so a thread whose server has stopped waits, inside
/// its runtime, for the next one. Every task a server spawned is aborted when it stops
/// (`http::serve`), so nothing of one server lives on into the next.
///
/// A waiting thread also keeps a spare: a listener on a fresh port of `127.0.0.1`, bound
/// and registered with its runtime once its last server had stopped, which the next
/// server that asks for the default address takes instead of binding one. Creating,
/// binding and registering a socket were three fifths of a start's time on the test's
/// thread (a profile of 4,000 starts in a row); the spare moves that work to the server
/// thread, after a test is done with its server. A spare never has the port of the server
/// its thread just stopped, so a test checking that its dropped server's port refuses
/// connections cannot reach the next server's backlog instead.
mod threads {
    use std::io;
    use std::net::SocketAddr;
    use std::sync::Mutex;

    use tokio::net::TcpListener;
    use tokio::runtime::{Handle, Runtime};
    use tokio::sync::mpsc;

    use super::{listen, Job, BUSY_CONNECTIONS, DEFAULT_ADDRESS};
    use crate::sync::lock;

    /// Threads kept waiting for a server; a thread that finds this many already waiting
    /// ends instead.
    const MAX_IDLE: usize = 16;

    /// Waiting threads.
    static IDLE: Mutex<Vec<Worker>> = Mutex::new(Vec::new());

    /// A listener registered with a server thread's runtime, and its address.
    type Listener = (TcpListener, SocketAddr);

    /// What a server thread is handed: the server, and the spare it had when taken.
    type Handed = (Job, Option<Listener>);

    /// A server thread that is waiting for its next server: the runtime to register that
    /// server's listener with, the way to hand it the server, and its spare listener.
    pub(super) struct Worker {
        runtime: Handle,
        jobs: mpsc::UnboundedSender<Handed>,
        spare: Option<Listener>,
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
            spare: None,
        };
        std::thread::Builder::new()
            .name("chatmock-server".to_owned())
            .spawn(move || serve_jobs(runtime, jobs, waiting))?;
        Ok(worker)
    }

    impl Worker {
        /// A listener on `address`, registered with this thread's runtime: the spare, if
        /// `address` is the default and the thread has one, or else one bound here, on
        /// the caller's thread. Either way the address is known (and taken) before start
        /// returns.
        pub(super) fn listener(&mut self, address: SocketAddr) -> io::Result<Listener> {
            if address == DEFAULT_ADDRESS {
                if let Some(spare) = self.spare.take() {
                    return Ok(spare);
                }
            }
            listen(&self.runtime, address)
        }

        /// Hands `job` to this thread, with the spare it still has.
        pub(super) fn run(self, job: Job) {
            // A worker is only ever taken from the list while its thread waits on this
            // channel, holding the receiver, so the send cannot fail; if it did, `job`
            // would drop here, which stops its server and tells its owner so.
            let _ = self.jobs.send((job, self.spare));
        }

        /// Hands back a thread that was taken but is not needed.
        pub(super) fn release(self) {
            self.run(Job::nothing());
        }
    }

    /// A spare listener for this thread, on any port but `served`'s. Failing to make one
    /// (out of descriptors, say) only means the next server binds its own.
    fn new_spare(runtime: &Handle, served: Option<SocketAddr>) -> Option<Listener> {
        let spare = listen(runtime, DEFAULT_ADDRESS).ok()?;
        if Some(spare.1) != served {
            return Some(spare);
        }
        // The port just given up came back; binding again while holding it gets another.
        listen(runtime, DEFAULT_ADDRESS).ok()
    }

    fn serve_jobs(
        runtime: Runtime,
        jobs: mpsc::UnboundedSender<Handed>,
        mut waiting: mpsc::UnboundedReceiver<Handed>,
    ) {
        loop {
            let Some((
                Job {
                    serving,
                    finished,
                    address,
                },
                spare,
            )) = runtime.block_on(waiting.recv())
            else {
                return;
            };
            let open = runtime.block_on(serving);
            // A busy server's thread ends instead of waiting (`BUSY_CONNECTIONS`).
            // Wait for the next server before telling this one's owner it is over, so
            // that a server started right after finds this thread waiting.
            let waits = open <= BUSY_CONNECTIONS && {
                let spare = spare.or_else(|| new_spare(runtime.handle(), address));
                wait_for_next(&runtime, &jobs, spare)
            };
            if !waits {
                drop(runtime);
                drop(finished);
                return;
            }
            drop(finished);
        }
    }

    /// Lists this thread as waiting, with its spare, unless enough already are.
    fn wait_for_next(
        runtime: &Runtime,
        jobs: &mpsc::UnboundedSender<Handed>,
        spare: Option<Listener>,
    ) -> bool {
        let mut idle = lock(&IDLE);
        if idle.len() >= MAX_IDLE {
            return false;
        }
        idle.push(Worker {
            runtime: runtime.handle().clone(),
            jobs: jobs.clone(),
            spare,
        });
        true
    }
}
