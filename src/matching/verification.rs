//! Checking mock expectations, and the report a failed check prints.

use std::fmt::Write as _;

use crate::matching::mock_set::MountedMock;
use crate::request::ReceivedRequest;

/// One line per mock whose expectation is not met.
pub(crate) fn unmet_expectations<'a>(
    mocks: impl IntoIterator<Item = &'a MountedMock>,
) -> Vec<String> {
    mocks
        .into_iter()
        .filter(|mounted| {
            mounted.mock.expectation_set && !mounted.mock.expectation.contains(mounted.hits)
        })
        .map(|mounted| {
            format!(
                "{} matched {} {}, but expects {}.",
                mounted.label(),
                mounted.hits,
                plural(mounted.hits == 1, "request", "requests"),
                mounted.mock.expectation,
            )
        })
        .collect()
}

/// The full failure report: what was expected, then everything the server received, so
/// the reader can see which request went where.
pub(crate) fn report(unmet: &[String], requests: &[ReceivedRequest]) -> String {
    let mut report = format!(
        "chatmock: {} mock {} not met.\n\n",
        unmet.len(),
        plural(unmet.len() == 1, "expectation was", "expectations were")
    );
    for line in unmet {
        let _ = writeln!(report, "  - {line}");
    }
    let _ = write!(report, "\n{}", describe_requests(requests));
    report
}

/// A numbered list of requests with what happened to each.
pub(crate) fn describe_requests(requests: &[ReceivedRequest]) -> String {
    if requests.is_empty() {
        return "The server received no requests.\n".to_owned();
    }
    let mut text = format!("Received requests ({}):\n", requests.len());
    for (index, request) in requests.iter().enumerate() {
        let _ = write!(text, "  {}. {}", index + 1, request.summary());
        match (&request.answered_by, request.response_status()) {
            (Some((_, label)), _) => {
                let _ = write!(text, " -> answered by {label}");
            }
            (None, Some(404)) => text.push_str(" -> 404, matched no mock"),
            (None, Some(status)) => {
                let _ = write!(text, " -> {status}");
            }
            (None, None) => text.push_str(" -> no response yet"),
        }
        text.push('\n');
        text.push_str(&request.details("       "));
    }
    text
}

fn plural(one: bool, singular: &'static str, plural: &'static str) -> &'static str {
    if one {
        singular
    } else {
        plural
    }
}
