//! Checking mock expectations, and the report a failed check prints.

use std::fmt::Write as _;

use crate::matching::explain;
use crate::matching::mock_set::MountedMock;
use crate::request::ReceivedRequest;

/// One entry per mock whose expectation is not met: for a mock that matched nothing,
/// with the request that came closest and the first matcher it failed; for a
/// [`Conversation`](crate::Conversation), the turns never reached.
pub(crate) fn unmet_expectations<'a>(
    mocks: impl IntoIterator<Item = &'a MountedMock>,
    requests: &[ReceivedRequest],
) -> Vec<String> {
    let mut unmet = Vec::new();
    for mounted in mocks.into_iter().filter(|mounted| may_be_unmet(mounted)) {
        if let Some(turns) = mounted.mock.conversation_turns {
            unmet.extend(unreached_turns(mounted, turns, requests));
            continue;
        }
        let mut entry = format!(
            "{} matched {} {}, but expects {}.",
            mounted.label(),
            mounted.hits,
            plural(mounted.hits == 1, "request", "requests"),
            mounted.mock.expectation,
        );
        if mounted.hits == 0 {
            entry.push_str(&closest_request(mounted, requests));
        }
        unmet.push(entry);
    }
    unmet
}

/// Whether `mounted` may have an unmet expectation: a count its hits are outside, or a
/// conversation, whose turns only the request log can tell.
pub(crate) fn may_be_unmet(mounted: &MountedMock) -> bool {
    mounted.mock.conversation_turns.is_some()
        || (mounted.mock.expectation_set && !mounted.mock.expectation.contains(mounted.hits))
}

/// The turns of a conversation that no request it answered asked for.
fn unreached_turns(
    mounted: &MountedMock,
    turns: usize,
    requests: &[ReceivedRequest],
) -> Option<String> {
    let reached: Vec<usize> = requests
        .iter()
        .filter(|request| matches!(request.answered_by, Some((id, _)) if id == mounted.id))
        .filter_map(|request| request.chat().map(|chat| chat.turn()))
        .collect();
    let missing: Vec<String> = (1..=turns)
        .filter(|turn| !reached.contains(turn))
        .map(|turn| turn.to_string())
        .collect();
    if missing.is_empty() {
        return None;
    }
    let mut entry = format!(
        "{}, a conversation of {}: turn {} {} never reached",
        mounted.label(),
        plural_count(turns, "turn", "turns"),
        missing.join(", turn "),
        plural(missing.len() == 1, "was", "were"),
    );
    if reached.is_empty() {
        entry.push_str(" (it answered no request).");
        entry.push_str(&closest_request(mounted, requests));
    } else {
        let mut reached = reached;
        reached.sort_unstable();
        reached.dedup();
        let reached: Vec<String> = reached.iter().map(ToString::to_string).collect();
        entry.push_str(&format!(" (it answered turn {}).", reached.join(", ")));
    }
    Some(entry)
}

/// ` The closest request was #2 (POST ...): `model("a")` matched, ...`, or nothing
/// when no request came.
fn closest_request(mounted: &MountedMock, requests: &[ReceivedRequest]) -> String {
    match explain::closest_request(mounted, requests) {
        Some((number, request, verdict)) => format!(
            "\n    The closest request was #{number} ({}): {}.",
            request.summary(),
            verdict.describe()
        ),
        None => String::new(),
    }
}

/// The full failure report: what was expected, what failed while answering (panics,
/// replies that broke a rule), then everything the server received, so the reader can
/// see which request went where.
pub(crate) fn report(
    unmet: &[String],
    failures: &[String],
    requests: &[ReceivedRequest],
) -> String {
    let mut headline = Vec::new();
    if !unmet.is_empty() {
        headline.push(format!(
            "{} mock {} not met",
            unmet.len(),
            plural(unmet.len() == 1, "expectation was", "expectations were")
        ));
    }
    if !failures.is_empty() {
        headline.push(format!(
            "{} while answering",
            plural_count(failures.len(), "request failed", "requests failed")
        ));
    }
    let mut report = format!("chatmock: {}.\n\n", headline.join("; "));
    for line in unmet.iter().chain(failures) {
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

/// `1 turn`, `2 turns`.
fn plural_count(n: usize, singular: &'static str, plural_form: &'static str) -> String {
    format!("{n} {}", plural(n == 1, singular, plural_form))
}
