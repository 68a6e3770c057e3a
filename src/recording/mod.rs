//! The log of received requests and what became of each response stream.
//!
//! The request path writes to it on the side (one entry per request, then progress
//! updates from the stream as it plays); tests read snapshots of it and wait on it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;
use tokio::time::Instant;

use tokio::sync::Notify;

use crate::request::{ReceivedRequest, StreamOutcome};
use crate::script::CutKind;
use crate::sync::lock;

/// The request log of one server.
#[derive(Debug, Default)]
pub(crate) struct Recording {
    entries: Mutex<Vec<Arc<Mutex<ReceivedRequest>>>>,
    /// Woken whenever a request arrives or a response changes state.
    changed: Notify,
    /// The same for threads that wait without a runtime: a waiter holds `gate` from its
    /// look at the log until it sleeps on `gate_opened`, and a change passes through
    /// `gate` before waking it, so no change falls between the look and the sleep. It
    /// counts the threads asleep on `gate_opened`: waking none costs nothing, while
    /// `notify_all` is a system call even with no one to wake (three per request).
    gate: Mutex<usize>,
    gate_opened: Condvar,
    stopping: AtomicBool,
}

impl Recording {
    /// Appends a request and returns the handle through which its response is logged.
    pub(crate) fn record(self: &Arc<Self>, request: ReceivedRequest) -> ResponseRecorder {
        let arrived = tracing::enabled!(tracing::Level::INFO).then(|| match &request.answered_by {
            Some((_, label)) => format!("{} -> {label}", request.summary()),
            // A fallback reply, or an error, which its own line explains.
            None => request.summary(),
        });
        let entry = Arc::new(Mutex::new(request));
        let number = {
            let mut entries = lock(&self.entries);
            entries.push(Arc::clone(&entry));
            entries.len()
        };
        if let Some(arrived) = arrived {
            tracing::info!("#{number} {arrived}");
        }
        self.changed();
        ResponseRecorder {
            entry,
            recording: Arc::clone(self),
            content_events: 0,
            number,
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
        self.changed();
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

    /// Blocks the thread until `condition` holds for the log, re-checking on every
    /// change, for at most `timeout`; the error is the log when time ran out.
    pub(crate) fn wait_until_blocking(
        &self,
        mut condition: impl FnMut(&[ReceivedRequest]) -> bool,
        timeout: Duration,
    ) -> Result<Vec<ReceivedRequest>, Vec<ReceivedRequest>> {
        let deadline = std::time::Instant::now() + timeout;
        let mut gate = lock(&self.gate);
        loop {
            let requests = self.snapshot();
            if condition(&requests) {
                return Ok(requests);
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(requests);
            }
            *gate += 1;
            gate = self
                .gate_opened
                .wait_timeout(gate, left)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
            *gate -= 1;
        }
    }

    /// Wakes every waiter, async or blocking, to look at the log again.
    fn changed(&self) {
        self.changed.notify_waiters();
        let asleep = *lock(&self.gate);
        if asleep > 0 {
            self.gate_opened.notify_all();
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
    content_events: usize,
    /// The request's place in the log, from 1, for log lines.
    number: usize,
}

impl ResponseRecorder {
    /// A response that is not a stream was sent with `status`.
    pub(crate) fn answered(&self, status: u16) {
        self.update(|request| request.response.status = Some(status));
        self.end(StreamOutcome::NotStreamed);
    }

    /// An error response with `status` was sent, saying `message`.
    pub(crate) fn answered_with_error(&self, status: u16, message: &str) {
        tracing::info!("#{} {status}: {message}", self.number);
        self.answered(status);
    }

    /// Stream headers were sent with `status`.
    pub(crate) fn streaming(&self, status: u16) {
        self.update(|request| {
            request.response.status = Some(status);
            request.response.outcome = StreamOutcome::Streaming { content_events: 0 };
        });
    }

    /// Bytes holding `content_events` more content events were handed to the socket.
    pub(crate) fn sent(&mut self, content_events: usize) {
        self.content_events += content_events;
        let content_events = self.content_events;
        self.update(|request| {
            request
                .response
                .first_event_at
                .get_or_insert_with(Instant::now);
            request.response.outcome = StreamOutcome::Streaming { content_events };
        });
    }

    /// The script cut the connection.
    pub(crate) fn cut(&self, kind: CutKind) {
        let content_events = self.content_events;
        self.end(StreamOutcome::Cut {
            kind,
            content_events,
        });
    }

    /// The script stalled; the stream stays open.
    pub(crate) fn stalled(&self) {
        let content_events = self.content_events;
        self.update(|request| request.response.outcome = StreamOutcome::Stalled { content_events });
    }

    /// The whole script was written.
    pub(crate) fn finish(self) {
        let content_events = self.content_events;
        self.end(StreamOutcome::Completed { content_events });
    }

    fn end(&self, outcome: StreamOutcome) {
        let mut ended = None;
        self.update(|request| {
            let now = Instant::now();
            if tracing::enabled!(tracing::Level::INFO) {
                ended = Some((request.response.status, now - request.received_at()));
            }
            request.response.outcome = outcome;
            request.response.ended_at = Some(now);
        });
        if let Some((status, took)) = ended {
            let status = status.map_or_else(|| "-".to_owned(), |status| status.to_string());
            tracing::info!(
                "#{} {status} {} in {} ms",
                self.number,
                lock(&self.entry).stream_outcome(),
                took.as_millis()
            );
        }
    }

    fn update(&self, change: impl FnOnce(&mut ReceivedRequest)) {
        change(&mut lock(&self.entry));
        self.recording.changed();
    }
}

impl Drop for ResponseRecorder {
    fn drop(&mut self) {
        if lock(&self.entry).response.outcome.has_ended() {
            return;
        }
        let content_events = self.content_events;
        if self.recording.stopping.load(Ordering::SeqCst) {
            self.end(StreamOutcome::ServerStopped { content_events });
        } else {
            self.end(StreamOutcome::ClientHungUp { content_events });
        }
    }
}
