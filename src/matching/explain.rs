//! Why a request did not match: the one place that judges a mock's matchers against a
//! request for a report, for the 404 of a request no mock matches and for the
//! verification report of a mock that matched nothing.

use std::panic::{catch_unwind, AssertUnwindSafe};

use super::mock::Match;
use super::mock_set::MountedMock;
use crate::request::ReceivedRequest;

/// How [`matchers::any`](crate::matchers::any) describes itself. A mock built from
/// `any()` and more matchers (as fixtures are) does not list it among those that matched.
pub(crate) const ANY: &str = "`any()`";

/// How one mock's matchers judge one request.
pub(crate) struct Verdict {
    /// The matchers that matched, described.
    passed: Vec<String>,
    /// The first matcher that did not, and what the request had instead.
    failed: Option<(String, Option<String>)>,
    /// How many matchers failed in all.
    failures: usize,
}

impl Verdict {
    /// Evaluates every matcher of `mounted` on `request`: matchers are free of side
    /// effects, so evaluating all of them again is safe. A matcher that panics counts as
    /// failed, with its panic as the reason.
    pub(crate) fn of(mounted: &MountedMock, request: &ReceivedRequest) -> Verdict {
        let mut verdict = Verdict {
            passed: Vec::new(),
            failed: None,
            failures: 0,
        };
        for matcher in &mounted.mock.matchers {
            let outcome = catch_unwind(AssertUnwindSafe(|| judge(&**matcher, request)));
            match outcome {
                Ok(None) => {
                    let description = matcher.describe();
                    if description != ANY {
                        verdict.passed.push(description);
                    }
                }
                Ok(Some(reason)) => verdict.fail(matcher.describe(), reason),
                Err(panic) => verdict.fail(
                    matcher.describe(),
                    Some(format!("it panicked: {}", panic_message(&*panic))),
                ),
            }
        }
        if verdict.failures == 0 && mounted.exhausted() {
            let n = mounted.mock.max_matches.unwrap_or_default();
            verdict.fail(
                "the mock".to_owned(),
                Some(format!(
                    "it already matched the {n} {} it takes (up_to_n_times)",
                    if n == 1 { "request" } else { "requests" }
                )),
            );
        }
        verdict
    }

    fn fail(&mut self, description: String, reason: Option<String>) {
        self.failures += 1;
        if self.failed.is_none() {
            self.failed = Some((description, reason));
        }
    }

    /// The verdict closest to a match: the fewest failed matchers.
    fn distance(&self) -> usize {
        self.failures
    }

    /// `` `model("gpt-4o")` matched, `turn(2)` did not: the request is turn 3 ``.
    pub(crate) fn describe(&self) -> String {
        let mut text = match self.passed.as_slice() {
            [] => String::new(),
            passed => format!("{} matched, ", passed.join(", ")),
        };
        match &self.failed {
            Some((matcher, reason)) => {
                text.push_str(matcher);
                text.push_str(" did not");
                if let Some(reason) = reason {
                    text.push_str(": ");
                    text.push_str(reason);
                }
                if self.failures > 1 {
                    let others = self.failures - 1;
                    text.push_str(&format!(
                        " (and {others} more {} did not)",
                        if others == 1 { "matcher" } else { "matchers" }
                    ));
                }
            }
            None => text.push_str("every matcher matched"),
        }
        text
    }
}

/// Whether `matcher` matches `request`, and if not, what the request had instead.
fn judge(matcher: &dyn Match, request: &ReceivedRequest) -> Option<Option<String>> {
    if matcher.matches(request) {
        None
    } else {
        Some(matcher.explain_mismatch(request))
    }
}

/// The mounted mock that came closest to matching `request`, with its verdict: for the
/// 404 of a request no mock matched.
pub(crate) fn closest_mock<'a>(
    mocks: impl IntoIterator<Item = &'a MountedMock>,
    request: &ReceivedRequest,
) -> Option<(&'a MountedMock, Verdict)> {
    mocks
        .into_iter()
        .map(|mounted| (mounted, Verdict::of(mounted, request)))
        // `min_by_key` keeps the first of equals: priority and mount order break ties.
        .min_by_key(|(_, verdict)| verdict.distance())
}

/// The received request that came closest to matching `mounted`, with its verdict and
/// its place in arrival order (from 1): for the report of a mock that matched nothing.
pub(crate) fn closest_request<'a>(
    mounted: &MountedMock,
    requests: &'a [ReceivedRequest],
) -> Option<(usize, &'a ReceivedRequest, Verdict)> {
    requests
        .iter()
        .enumerate()
        .map(|(index, request)| (index + 1, request, Verdict::of(mounted, request)))
        .min_by_key(|(_, _, verdict)| verdict.distance())
}

/// The message of a caught panic.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned())
}
