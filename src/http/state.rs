//! What a running server shares between its socket side and its test side: the mounted
//! mocks, the request log and the id generator. Locks here are held only for quick,
//! synchronous work, never across an await, so a slow stream can never block a test.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::ConnectionLimits;
use crate::matching::mock_set::MockSet;
use crate::matching::verification;
use crate::matching::Mock;
use crate::recording::Recording;
use crate::request::ReceivedRequest;
use crate::script::Reply;
use crate::sync::lock;
use crate::traffic::{Chaos, RateLimiter};
use crate::wire::ids::IdGenerator;
use crate::wire::WireFormat;

pub(crate) struct ServerState {
    pub(crate) mocks: Mutex<MockSet>,
    pub(crate) recording: Arc<Recording>,
    /// Answers requests to the known endpoints that no mock matches. Without one such a
    /// request gets a 404, as with wiremock: a test that forgot to mount a mock, or
    /// mounted it too late, cannot pass by accident.
    pub(crate) fallback: Option<Fallback>,
    pub(crate) ids: IdGenerator,
    pub(crate) routes: Routes,
    pub(crate) limits: ConnectionLimits,
    /// How error messages tell the user to fix a miss.
    pub(crate) advice: Advice,
    /// Panics of matchers and responders, and replies that broke a rule of the request
    /// (`validate_against_request_schema`): answered with a 500 at the time, and reported
    /// as failures when the server verifies, so that a client that retries cannot hide
    /// them.
    failures: Mutex<Vec<String>>,
    /// The models the model-list endpoints serve, if the test named them.
    pub(crate) models: Option<Vec<String>>,
    pub(crate) traffic: Traffic,
    /// Forwards what no mock answers to an upstream, and records it.
    pub(crate) proxy: Option<crate::proxy::Proxy>,
    /// The recording a replay-only server serves, named in its 404s.
    pub(crate) replays: Option<std::path::PathBuf>,
}

/// What stands between every request and its reply: the server's rate limit and chaos.
#[derive(Debug, Default)]
pub(crate) struct Traffic {
    pub(crate) rate_limiter: Option<RateLimiter>,
    pub(crate) chaos: Option<Chaos>,
    /// How many requests the server's chaos has drawn for: the index of the next.
    pub(crate) chaos_drawn: AtomicU64,
}

/// Which paths are endpoints, and of which format.
#[derive(Debug, Clone, Default)]
pub(crate) struct Routes {
    /// Frames every request this way, whatever its path.
    pub(crate) wire_format: Option<WireFormat>,
    /// Prefixes under which the endpoints are served as well as at their own paths.
    pub(crate) path_prefixes: Vec<String>,
}

/// Whom a server's error messages speak to: a Rust test names builder methods, a server
/// run from fixture files (the standalone binary) names fixture keys.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Advice {
    #[default]
    Rust,
    Fixture,
}

/// The replies given with `MockChatServerBuilder::reply` or `reply_sequence`: successive
/// requests take successive replies; the last one repeats.
pub(crate) struct Fallback {
    pub(crate) replies: Vec<Arc<Reply>>,
    pub(crate) served: AtomicUsize,
}

impl Routes {
    /// The path as the endpoints know it: with a configured prefix taken off.
    pub(crate) fn endpoint_path<'a>(&self, path: &'a str) -> &'a str {
        self.path_prefixes
            .iter()
            .find_map(|prefix| {
                path.strip_prefix(prefix.as_str())
                    .filter(|rest| rest.starts_with('/'))
            })
            .unwrap_or(path)
    }
}

impl ServerState {
    pub(crate) fn new(
        fallback: Option<Fallback>,
        routes: Routes,
        limits: ConnectionLimits,
        advice: Advice,
        traffic: Traffic,
    ) -> ServerState {
        ServerState {
            mocks: Mutex::default(),
            recording: Arc::default(),
            fallback,
            ids: IdGenerator::default(),
            routes,
            limits,
            advice,
            traffic,
            failures: Mutex::default(),
            models: None,
            proxy: None,
            replays: None,
        }
    }

    /// Whether a mounted mock would answer `request`, counting nothing: a matcher that
    /// panics counts as a match, so that the usual path reports it.
    pub(crate) fn mocks_would_answer(&self, request: &ReceivedRequest) -> bool {
        let mocks = lock(&self.mocks);
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| mocks.would_match(request)))
            .unwrap_or(true)
    }

    /// The models a model-list endpoint of `format` serves: the ones the test named,
    /// else those the mounted mocks' model matchers name and then the format's common
    /// ones.
    pub(crate) fn served_models(&self, format: &dyn crate::wire::Format) -> Vec<String> {
        if let Some(models) = &self.models {
            return models.clone();
        }
        let mut models = lock(&self.mocks).models();
        for model in format.default_models() {
            if !models.iter().any(|listed| listed == model) {
                models.push((*model).to_owned());
            }
        }
        models
    }

    pub(crate) fn record_failure(&self, failure: String) {
        lock(&self.failures).push(failure);
    }

    pub(crate) fn mount(&self, mock: Mock) -> usize {
        lock(&self.mocks).mount(mock)
    }

    /// The next fallback reply, if the server has any.
    pub(crate) fn fallback_reply(&self) -> Option<Arc<Reply>> {
        let Fallback { replies, served } = self.fallback.as_ref()?;
        let index = served.fetch_add(1, Ordering::Relaxed);
        replies
            .get(index.min(replies.len().saturating_sub(1)))
            .map(Arc::clone)
    }

    /// Unmounts every mock, forgets the received requests and the failures, rewinds the
    /// fallback sequence and the server's chaos, and refills its rate limit.
    pub(crate) fn reset(&self) {
        lock(&self.mocks).clear();
        self.recording.clear();
        lock(&self.failures).clear();
        self.traffic.chaos_drawn.store(0, Ordering::Relaxed);
        if let Some(limiter) = &self.traffic.rate_limiter {
            limiter.refill_all();
        }
        if let Some(Fallback { served, .. }) = &self.fallback {
            served.store(0, Ordering::Relaxed);
        }
    }

    /// Checks every mounted mock's expectation, and that nothing failed while
    /// answering; the error is the full report.
    pub(crate) fn verify(&self) -> Result<(), String> {
        // Copying the log was a fifth of a drop's time (a profile of 4,000 drops), and
        // only a report needs it.
        let open = lock(&self.mocks).iter().any(verification::may_be_unmet);
        if !open && lock(&self.failures).is_empty() {
            return Ok(());
        }
        let requests = self.recording.snapshot();
        let unmet = verification::unmet_expectations(lock(&self.mocks).iter(), &requests);
        let failures = lock(&self.failures).clone();
        if unmet.is_empty() && failures.is_empty() {
            return Ok(());
        }
        Err(verification::report(&unmet, &failures, &requests))
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
        let requests = self.recording.snapshot();
        let unmet = verification::unmet_expectations([&mounted], &requests);
        if !unmet.is_empty() {
            fail(verification::report(&unmet, &[], &requests));
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

#[cfg(test)]
mod tests {
    use super::Routes;

    #[test]
    fn a_prefix_is_taken_off_only_before_a_whole_path_segment() {
        let routes = Routes {
            wire_format: None,
            path_prefixes: vec!["/openai".to_owned(), "/gw/anthropic".to_owned()],
        };
        let cases = [
            ("/openai/v1/chat/completions", "/v1/chat/completions"),
            ("/gw/anthropic/v1/messages", "/v1/messages"),
            ("/v1/chat/completions", "/v1/chat/completions"),
            // Not a segment of its own: left as it is.
            ("/openaiv1/chat/completions", "/openaiv1/chat/completions"),
            ("/openai", "/openai"),
        ];
        for (path, endpoint_path) in cases {
            assert_eq!(routes.endpoint_path(path), endpoint_path, "{path}");
        }
    }
}
