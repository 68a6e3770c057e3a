//! What a running server shares between its socket side and its test side: the mounted
//! mocks, the request log and the id generator. Locks here are held only for quick,
//! synchronous work, never across an await, so a slow stream can never block a test.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::ConnectionLimits;
use crate::matching::mock_set::MockSet;
use crate::matching::verification;
use crate::matching::Mock;
use crate::recording::Recording;
use crate::request::ReceivedRequest;
use crate::script::Reply;
use crate::sync::lock;
use crate::wire::ids::IdGenerator;
use crate::wire::WireFormat;

pub(crate) struct ServerState {
    pub(crate) mocks: Mutex<MockSet>,
    pub(crate) recording: Arc<Recording>,
    /// Answers requests to the known endpoints that no mock matches.
    pub(crate) fallback: Fallback,
    pub(crate) ids: IdGenerator,
    /// Frames every request this way, whatever its path.
    pub(crate) wire_format: Option<WireFormat>,
    pub(crate) limits: ConnectionLimits,
}

/// What a known endpoint answers when no mock matches.
pub(crate) enum Fallback {
    /// Given by the test with `MockChatServerBuilder::reply` or `reply_sequence`: always
    /// used. Successive requests take successive replies; the last one repeats.
    Explicit {
        replies: Vec<Arc<Reply>>,
        served: AtomicUsize,
    },
    /// The demo reply, used only while no mock is mounted, so that a test which mounts
    /// mocks gets a 404 for a request it did not plan for, as with wiremock.
    Default(Arc<Reply>),
}

impl ServerState {
    pub(crate) fn new(
        fallback: Fallback,
        wire_format: Option<WireFormat>,
        limits: ConnectionLimits,
    ) -> ServerState {
        ServerState {
            mocks: Mutex::default(),
            recording: Arc::default(),
            fallback,
            ids: IdGenerator::default(),
            wire_format,
            limits,
        }
    }

    pub(crate) fn mount(&self, mock: Mock) -> usize {
        lock(&self.mocks).mount(mock)
    }

    /// The fallback reply, if it applies at this moment.
    pub(crate) fn fallback_reply(&self) -> Option<Arc<Reply>> {
        match &self.fallback {
            Fallback::Explicit { replies, served } => {
                let index = served.fetch_add(1, Ordering::Relaxed);
                replies
                    .get(index.min(replies.len().saturating_sub(1)))
                    .map(Arc::clone)
            }
            Fallback::Default(reply) => lock(&self.mocks).is_empty().then(|| Arc::clone(reply)),
        }
    }

    /// Unmounts every mock and rewinds the fallback sequence.
    pub(crate) fn reset(&self) {
        lock(&self.mocks).clear();
        if let Fallback::Explicit { served, .. } = &self.fallback {
            served.store(0, Ordering::Relaxed);
        }
    }

    /// Checks every mounted mock's expectation; the error is the full report.
    pub(crate) fn verify(&self) -> Result<(), String> {
        let unmet = verification::unmet_expectations(lock(&self.mocks).iter());
        if unmet.is_empty() {
            return Ok(());
        }
        Err(verification::report(&unmet, &self.recording.snapshot()))
    }

    pub(crate) fn requests_matched_by(&self, mock_id: usize) -> Vec<ReceivedRequest> {
        let mut requests = self.recording.snapshot();
        requests.retain(|request| matches!(request.answered_by, Some((id, _)) if id == mock_id));
        requests
    }

    /// Unmounts a scoped mock and checks its expectation, panicking with the report
    /// unless the thread is already panicking.
    pub(crate) fn unmount_and_verify(&self, mock_id: usize) {
        let Some(mounted) = lock(&self.mocks).unmount(mock_id) else {
            return;
        };
        let unmet = verification::unmet_expectations([&mounted]);
        if !unmet.is_empty() {
            fail(verification::report(&unmet, &self.recording.snapshot()));
        }
    }
}

/// Fails the test with `report`, or only prints it when the test is already failing: a
/// second panic during unwinding would abort the whole test binary.
pub(crate) fn fail(report: String) {
    if std::thread::panicking() {
        eprintln!("{report}");
    } else {
        panic!("{report}");
    }
}
