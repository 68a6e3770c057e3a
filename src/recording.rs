//! The log of received requests and what became of each response stream.
//!
//! The request path writes to it on the side (one entry per request, then progress
//! updates from the stream as it plays); tests read snapshots of it and wait on it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tokio::sync::Notify;

use crate::fault::CutKind;
use crate::request::ReceivedRequest;

/// What became of the response to a request.
///
/// "Events" count content events: the tokens of the script. A test can tell from this
/// whether the client read the whole stream, and if not, where it stopped.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use chatmock::{MockChatServer, Reply, StreamOutcome};
///
/// let server = MockChatServer::builder()
///     .reply(Reply::tokens(["a", "b", "c"]))
///     .start()
///     .await;
/// let body = r#"{"model":"m","messages":[],"stream":true}"#;
/// let url = format!("{}/chat/completions", server.openai_base_url());
/// reqwest::Client::new().post(url).body(body).send().await.unwrap().text().await.unwrap();
///
/// let requests = server.wait_for_streams_to_end().await.unwrap();
/// assert_eq!(requests[0].stream_outcome(), &StreamOutcome::Completed { events_sent: 3 });
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamOutcome {
    /// No response has been sent yet.
    Pending,
    /// The response was not a stream: a complete JSON body or an error status.
    NotStreamed,
    /// The stream is still being written.
    Streaming {
        /// Content events handed to the socket so far.
        events_sent: usize,
    },
    /// The whole script was written, closing events included, and the body ended. A
    /// script that ends with an error event ([`Reply::error_after`](crate::Reply::error_after))
    /// completes too: the error is part of the script.
    Completed {
        /// Content events handed to the socket.
        events_sent: usize,
    },
    /// The script cut the connection this way.
    Cut {
        /// How the connection was cut.
        kind: CutKind,
        /// Content events handed to the socket before the cut.
        events_sent: usize,
    },
    /// The script stalled the stream: the connection is open and nothing more will be
    /// sent until the client hangs up (then the outcome becomes
    /// [`ClientHungUp`](Self::ClientHungUp)) or the server stops.
    Stalled {
        /// Content events handed to the socket before the stall.
        events_sent: usize,
    },
    /// The client closed the connection before the script ended.
    ///
    /// The server notices a hang-up when it next writes to the socket, so a client that
    /// leaves during a long delay is recorded when that delay ends.
    ClientHungUp {
        /// Content events handed to the socket before the hang-up was noticed.
        events_sent: usize,
    },
    /// The server was stopped while the stream was still being written.
    ServerStopped {
        /// Content events handed to the socket before the server stopped.
        events_sent: usize,
    },
}

impl StreamOutcome {
    /// Whether the response is over, whichever way it ended.
    pub fn has_ended(&self) -> bool {
        !matches!(
            self,
            StreamOutcome::Pending
                | StreamOutcome::Streaming { .. }
                | StreamOutcome::Stalled { .. }
        )
    }

    /// The number of content events handed to the socket (zero if there was no stream).
    pub fn events_sent(&self) -> usize {
        match self {
            StreamOutcome::Pending | StreamOutcome::NotStreamed => 0,
            StreamOutcome::Streaming { events_sent }
            | StreamOutcome::Completed { events_sent }
            | StreamOutcome::Cut { events_sent, .. }
            | StreamOutcome::Stalled { events_sent }
            | StreamOutcome::ClientHungUp { events_sent }
            | StreamOutcome::ServerStopped { events_sent } => *events_sent,
        }
    }
}

/// The request log of one server.
#[derive(Debug, Default)]
pub(crate) struct Recording {
    entries: Mutex<Vec<Arc<Mutex<ReceivedRequest>>>>,
    /// Woken whenever a request arrives or a response changes state.
    changed: Notify,
    stopping: AtomicBool,
}

impl Recording {
    /// Appends a request and returns the handle through which its response is logged.
    pub(crate) fn record(self: &Arc<Self>, request: ReceivedRequest) -> ResponseRecorder {
        let entry = Arc::new(Mutex::new(request));
        lock(&self.entries).push(Arc::clone(&entry));
        self.changed.notify_waiters();
        ResponseRecorder {
            entry,
            recording: Arc::clone(self),
            events_sent: 0,
        }
    }

    /// A snapshot of every request so far, in arrival order.
    pub(crate) fn snapshot(&self) -> Vec<ReceivedRequest> {
        lock(&self.entries)
            .iter()
            .map(|entry| lock(entry).clone())
            .collect()
    }

    pub(crate) fn clear(&self) {
        lock(&self.entries).clear();
        self.changed.notify_waiters();
    }

    /// Waits until `condition` holds for the log, re-checking on every change.
    pub(crate) async fn wait_until(
        &self,
        mut condition: impl FnMut(&[ReceivedRequest]) -> bool,
    ) -> Vec<ReceivedRequest> {
        loop {
            // Register interest before looking, so a change between the look and the
            // wait is not missed.
            let changed = self.changed.notified();
            let requests = self.snapshot();
            if condition(&requests) {
                return requests;
            }
            changed.await;
        }
    }

    /// Marks the server as stopping (or, with `false`, running again), so that streams
    /// cut meanwhile are logged as stopped by the server rather than abandoned by their
    /// client.
    pub(crate) fn set_stopping(&self, stopping: bool) {
        self.stopping.store(stopping, Ordering::SeqCst);
    }
}

/// Logs the response to one request. Dropping it before [`finish`](Self::finish) logs the
/// stream as cut: by the client, or by the server if it is stopping.
#[derive(Debug)]
pub(crate) struct ResponseRecorder {
    entry: Arc<Mutex<ReceivedRequest>>,
    recording: Arc<Recording>,
    events_sent: usize,
}

impl ResponseRecorder {
    /// A response that is not a stream was sent with `status`.
    pub(crate) fn answered(&self, status: u16) {
        self.update(|request| {
            request.response.status = Some(status);
            request.response.outcome = StreamOutcome::NotStreamed;
            request.response.ended_at = Some(Instant::now());
        });
    }

    /// Stream headers were sent with `status`.
    pub(crate) fn streaming(&self, status: u16) {
        self.update(|request| {
            request.response.status = Some(status);
            request.response.outcome = StreamOutcome::Streaming { events_sent: 0 };
        });
    }

    /// Bytes holding `content_events` more content events were handed to the socket.
    pub(crate) fn sent(&mut self, content_events: usize) {
        self.events_sent += content_events;
        let events_sent = self.events_sent;
        self.update(|request| {
            request
                .response
                .first_event_at
                .get_or_insert_with(Instant::now);
            request.response.outcome = StreamOutcome::Streaming { events_sent };
        });
    }

    /// The script cut the connection.
    pub(crate) fn cut(&self, kind: CutKind) {
        let events_sent = self.events_sent;
        self.end(StreamOutcome::Cut { kind, events_sent });
    }

    /// The script stalled; the stream stays open.
    pub(crate) fn stalled(&self) {
        let events_sent = self.events_sent;
        self.update(|request| request.response.outcome = StreamOutcome::Stalled { events_sent });
    }

    /// The whole script was written.
    pub(crate) fn finish(self) {
        let events_sent = self.events_sent;
        self.end(StreamOutcome::Completed { events_sent });
    }

    fn end(&self, outcome: StreamOutcome) {
        self.update(|request| {
            request.response.outcome = outcome;
            request.response.ended_at = Some(Instant::now());
        });
    }

    fn update(&self, change: impl FnOnce(&mut ReceivedRequest)) {
        change(&mut lock(&self.entry));
        self.recording.changed.notify_waiters();
    }
}

impl Drop for ResponseRecorder {
    fn drop(&mut self) {
        if lock(&self.entry).response.outcome.has_ended() {
            return;
        }
        let events_sent = self.events_sent;
        if self.recording.stopping.load(Ordering::SeqCst) {
            self.end(StreamOutcome::ServerStopped { events_sent });
        } else {
            self.end(StreamOutcome::ClientHungUp { events_sent });
        }
    }
}

/// Locks a mutex, recovering the data if a panicking thread poisoned it: the log must stay
/// readable for the failure report of the very test that panicked.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
