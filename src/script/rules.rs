//! The rules a reply, a step, a mock or a matcher must follow, each written once.
//!
//! A builder method checks its rule and panics with the rule's message after its own name
//! (`Reply::keep_alive: a keep-alive interval of zero ...`), through [`enforce`]; the
//! fixture parser checks the same rule before calling the builder and reports the same
//! message at the place in the JSON (`at reply.keep_alive: a keep-alive interval of zero
//! ...`). So each message is phrased around the concept rather than the syntax, and says
//! what to do instead. The names that appear in messages (`error_after`, `delay_headers`,
//! ...) are both the builder methods and the fixture keys.
//!
//! Checks that only concern the JSON (types, unknown keys, the shape of the document) stay
//! in the fixture parser.

use std::fmt;
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method, StatusCode};

use super::reply::{Reply, ReplyKind};
use super::step::{Step, StepKind};
use super::timeline::Script;

/// A broken rule: what is wrong, with the values needed to say how to fix it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RuleError {
    /// An HTTP error reply's status, or the status of an error event, that is not an
    /// error status.
    StatusNotError { status: u64 },
    /// An option for streams on an HTTP error reply, which has no stream.
    StreamOptionOnHttpError { status: u16 },
    /// An option for HTTP error replies on a streamed reply.
    ErrorOptionOnStream,
    /// A second ending for a stream; `previous` is the method (and fixture key) of the
    /// first.
    EndingTwice {
        previous: &'static str,
        previous_at: usize,
    },
    /// An ending after more content events than the script has.
    EndingBeyondScript { tokens: usize, available: usize },
    /// A keep-alive interval of zero.
    KeepAliveZero,
    /// Writes of at most zero bytes.
    FragmentWritesZero,
    /// A delay of its own on a pause.
    PauseWithAfter { pause: Duration, delay: Duration },
    /// A tool call without a function name.
    EmptyToolName,
    /// A header name that HTTP does not allow.
    InvalidHeaderName { name: String },
    /// A header value that HTTP does not allow.
    InvalidHeaderValue { value: String },
    /// A sequence of no replies.
    EmptySequence,
    /// An expectation no number of requests meets: at least `min`, fewer than `end`.
    EmptyExpectationRange { min: u64, end: u64 },
    /// A mock limited to zero matches.
    UpToZeroTimes,
    /// A priority outside 1 to 255.
    PriorityOutOfRange { priority: u64 },
    /// A method matcher for something that is not an HTTP method.
    InvalidMethod { method: String },
    /// A path matcher for a path that does not start with `/`.
    PathWithoutSlash { path: String },
    /// A prefix to serve the endpoints under that is not a path of whole segments.
    InvalidPathPrefix { prefix: String },
    /// A token rate that is not a finite number above zero.
    TokensPerSecondInvalid { rate: f64 },
    /// A rate-limit window of zero.
    RateLimitWindowZero,
    /// A rate-limit bucket of zero requests or tokens.
    RateLimitZero { bucket: &'static str },
    /// A rate limit with no bucket at all.
    RateLimitEmpty,
    /// A fault's probability outside 0 to 1.
    ProbabilityOutOfRange {
        fault: &'static str,
        probability: f64,
    },
    /// Faults whose probabilities add up to more than 1.
    ProbabilitiesOverOne { fault: &'static str, total: f64 },
    /// A regular expression that does not compile.
    InvalidRegex { pattern: String, error: String },
    /// A response format matcher for a kind there is not.
    UnknownResponseFormat { name: String },
    /// A turn matcher for turn 0: turns count from 1.
    TurnZero,
    /// A header matcher for no values at all.
    NoHeaderValues { name: String },
    /// A conversation of no turns.
    NoTurns,
    /// An option that shapes a script written by hand, on a recorded reply.
    ScriptOptionOnRecording,
    /// An option for recorded replies on a reply that is not recorded.
    RecordingOptionOnScript,
    /// A recorded status that is not an HTTP status.
    RecordedStatusInvalid { status: u64 },
    /// A recorded event earlier than the one before it.
    RecordedOffsetBackwards {
        index: usize,
        at: Duration,
        previous: Duration,
    },
    /// A replay speed that is not a finite number above zero.
    SpeedInvalid { factor: f64 },
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleError::ScriptOptionOnRecording => f.write_str(
                "this option shapes a script written by hand, but this reply is recorded, \
                 and its events say it all: edit the recorded events, or use speed, instant \
                 or a fault (error_after, reset_connection_after, ...)",
            ),
            RuleError::RecordingOptionOnScript => f.write_str(
                "this option applies to recorded replies, but this reply is written by \
                 hand: use first_token_delay and token_delay to pace it",
            ),
            RuleError::RecordedStatusInvalid { status } => write!(
                f,
                "{status} is not an HTTP status: a recorded status is from 100 to 599"
            ),
            RuleError::RecordedOffsetBackwards {
                index,
                at,
                previous,
            } => write!(
                f,
                "recorded event {index} comes at {}us, before the event ahead of it (at {}us): \
                 offsets count from the request and never decrease",
                at.as_micros(),
                previous.as_micros()
            ),
            RuleError::SpeedInvalid { factor } => write!(
                f,
                "a replay speed of {factor} plays nothing: use a finite factor above zero \
                 (2.0 is twice as fast), or instant() for no waits at all"
            ),
            RuleError::StatusNotError { status } => {
                write!(
                    f,
                    "{status} is not an HTTP error status: use one from 400 to 599"
                )?;
                if (200..300).contains(status) {
                    f.write_str(" (for a success, script a streamed reply instead)")?;
                }
                Ok(())
            }
            RuleError::StreamOptionOnHttpError { status } => write!(
                f,
                "this option applies to streamed replies, but this reply is an HTTP {status} \
                 error, which has no stream: use delay_headers to delay the error response"
            ),
            RuleError::ErrorOptionOnStream => f.write_str(
                "this option applies to HTTP error replies (http_error and its presets), but \
                 this reply is a stream: use error_after for an error event in a stream",
            ),
            RuleError::EndingTwice {
                previous,
                previous_at,
            } => write!(
                f,
                "this stream already ends with {} ({previous}) after {}, and a stream ends \
                 only once: to script two attempts, use a sequence of two replies",
                ending_noun(previous),
                count(*previous_at, "token", "tokens"),
            ),
            RuleError::EndingBeyondScript { tokens, available } => {
                let has = match available {
                    0 => "no tokens".to_owned(),
                    _ => format!("only {}", count(*available, "token", "tokens")),
                };
                let fix = match available {
                    0 => "use 0".to_owned(),
                    _ => format!("use a number from 0 to {available}"),
                };
                write!(
                    f,
                    "the script has {has} (counting each text token, refusal piece, thinking \
                     fragment, tool call and fragment of its arguments), so an ending after {} \
                     would never happen: {fix}",
                    count(*tokens, "token", "tokens")
                )
            }
            RuleError::KeepAliveZero => f.write_str(
                "a keep-alive interval of zero would send comments without end: use an interval \
                 above zero",
            ),
            RuleError::FragmentWritesZero => f.write_str(
                "writes of at most 0 bytes would never write anything: use 1 or more bytes per \
                 write",
            ),
            RuleError::PauseWithAfter { pause, delay } => write!(
                f,
                "a pause is itself a delay, so it takes no delay of its own: write one pause of \
                 {:?} ({pause:?} + {delay:?}) instead",
                pause.saturating_add(*delay)
            ),
            RuleError::EmptyToolName => f.write_str(
                "the function name is empty, and every provider requires one: give the name of \
                 the function the model calls",
            ),
            RuleError::InvalidHeaderName { name } => write!(
                f,
                "{} is not a valid HTTP header name: use letters, digits and any of \
                 !#$%&'*+-.^_`|~, without spaces or colons, e.g. \"x-request-id\"",
                quoted(name)
            ),
            RuleError::InvalidHeaderValue { value } => write!(
                f,
                "{} is not a valid HTTP header value: a value cannot hold line breaks or other \
                 control characters",
                quoted(value)
            ),
            RuleError::EmptySequence => f.write_str(
                "the sequence of replies is empty, which leaves nothing to answer with: give at \
                 least one reply (the last one answers every further request)",
            ),
            RuleError::EmptyExpectationRange { min, end } => {
                match end.checked_sub(1) {
                    Some(max) => write!(
                        f,
                        "no number of requests is at least {min} and at most {max}, "
                    )?,
                    None => f.write_str("no number of requests is below 0, ")?,
                }
                f.write_str(
                    "so this expectation can never be met: write the lower bound first, e.g. \
                     1..=3",
                )
            }
            RuleError::UpToZeroTimes => f.write_str(
                "a mock limited to 0 matches can never match: use 1 or more; to assert that no \
                 request matches, expect 0 instead",
            ),
            RuleError::PriorityOutOfRange { priority } => write!(
                f,
                "{priority} is not a priority: use 1 (checked first) to 255 (checked last)"
            ),
            RuleError::InvalidMethod { method } => write!(
                f,
                "{} is not an HTTP method name: use one such as \"GET\" or \"POST\"",
                quoted(method)
            ),
            RuleError::TokensPerSecondInvalid { rate } => write!(
                f,
                "{rate} tokens a second is no rate a stream can play: use a number above \
                 zero, such as 50.0"
            ),
            RuleError::RateLimitWindowZero => f.write_str(
                "a rate-limit window of zero never refills: use a window above zero, such as \
                 RateLimit::per_minute()",
            ),
            RuleError::RateLimitZero { bucket } => write!(
                f,
                "a limit of 0 {bucket} would refuse every request: use 1 or more, or leave \
                 {bucket} unlimited by not setting it"
            ),
            RuleError::RateLimitEmpty => f.write_str(
                "this rate limit limits nothing: set requests, tokens, input_tokens or \
                 output_tokens, e.g. RateLimit::per_minute().requests(3)",
            ),
            RuleError::ProbabilityOutOfRange { fault, probability } => write!(
                f,
                "{probability} is no probability for {fault}: use a number from 0.0 (never) \
                 to 1.0 (every request)"
            ),
            RuleError::ProbabilitiesOverOne { fault, total } => write!(
                f,
                "with {fault}, the faults' probabilities add up to {total}, more than 1, and \
                 a request meets at most one fault: lower them so that they add up to 1.0 \
                 or less (the rest of the requests get their reply unharmed)"
            ),
            RuleError::PathWithoutSlash { path } => write!(
                f,
                "{} can never match, as request paths start with '/': write {}",
                quoted(path),
                quoted(&format!("/{path}"))
            ),
            RuleError::InvalidPathPrefix { prefix } => {
                let trimmed = prefix.trim_matches('/');
                write!(
                    f,
                    "{} is not a path prefix: a prefix starts with '/' and does not end with \
                     one",
                    quoted(prefix)
                )?;
                if trimmed.is_empty() {
                    f.write_str(" (the endpoints are always served at their own paths)")
                } else {
                    write!(f, ": write {}", quoted(&format!("/{trimmed}")))
                }
            }
            RuleError::InvalidRegex { pattern, error } => write!(
                f,
                "{} is not a regular expression the regex crate accepts: {}",
                quoted(pattern),
                error.lines().last().unwrap_or_default().trim()
            ),
            RuleError::UnknownResponseFormat { name } => write!(
                f,
                "{} is not a response format: use \"text\", \"json_object\" or \"json_schema\"",
                quoted(name)
            ),
            RuleError::TurnZero => f.write_str(
                "turns count from 1 (the first request of a conversation is turn 1): use 1 or more",
            ),
            RuleError::NoHeaderValues { name } => write!(
                f,
                "a match on the values of header {} needs at least one value: use header_exists \
                 to match the header whatever its value",
                quoted(name)
            ),
            RuleError::NoTurns => f.write_str(
                "a conversation needs at least one turn: add the reply of turn 1 with turn(reply)",
            ),
        }
    }
}

/// `1 token`, `2 tokens`.
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// What an ending does, from its method's name.
fn ending_noun(method: &str) -> &'static str {
    match method {
        "error_after" => "an error event",
        "end_cleanly_after" => "a clean early end",
        "disconnect_after" => "a disconnect",
        "reset_connection_after" => "a connection reset",
        _ => "a stall",
    }
}

/// `text` quoted and escaped, cut short if long.
fn quoted(text: &str) -> String {
    const LONGEST: usize = 40;
    if text.chars().count() <= LONGEST {
        return format!("{text:?}");
    }
    let start: String = text.chars().take(LONGEST).collect();
    let quoted = format!("{start:?}");
    format!("{}...\"", &quoted[..quoted.len() - 1])
}

/// The value of a check that passed; on a broken rule, a panic with the rule's message
/// after `api`, the builder the test called (`Reply::keep_alive`), at the test's line.
#[track_caller]
pub(crate) fn enforce<T>(api: impl fmt::Display, checked: Result<T, RuleError>) -> T {
    match checked {
        Ok(value) => value,
        Err(error) => panic!("{api}: {error}"),
    }
}

// --- Replies ------------------------------------------------------------------------------

/// An HTTP error reply's status, and the status of an error event: 400 to 599.
pub(crate) fn check_error_status(status: u64) -> Result<StatusCode, RuleError> {
    u16::try_from(status)
        .ok()
        .and_then(|status| StatusCode::from_u16(status).ok())
        .filter(|status| status.is_client_error() || status.is_server_error())
        .ok_or(RuleError::StatusNotError { status })
}

fn script(reply: &Reply) -> Result<&Script, RuleError> {
    match &reply.kind {
        ReplyKind::Stream(script) => Ok(script),
        ReplyKind::HttpError(error) => Err(RuleError::StreamOptionOnHttpError {
            status: error.status.as_u16(),
        }),
    }
}

/// Options that shape a script written by hand (its delays, its thinking, its finish)
/// apply only to such streams, not to recordings.
pub(crate) fn check_scripted(reply: &Reply) -> Result<(), RuleError> {
    match script(reply)?.recorded {
        Some(_) => Err(RuleError::ScriptOptionOnRecording),
        None => Ok(()),
    }
}

/// Options of recordings (their speed) apply only to recorded replies.
pub(crate) fn check_recorded(reply: &Reply) -> Result<(), RuleError> {
    match &reply.kind {
        ReplyKind::Stream(Script {
            recorded: Some(_), ..
        }) => Ok(()),
        _ => Err(RuleError::RecordingOptionOnScript),
    }
}

/// A recorded status: any HTTP status, 100 to 599.
pub(crate) fn check_recorded_status(status: u64) -> Result<u16, RuleError> {
    u16::try_from(status)
        .ok()
        .filter(|status| (100..600).contains(status))
        .ok_or(RuleError::RecordedStatusInvalid { status })
}

/// Recorded event `index` comes no earlier than the one before it.
pub(crate) fn check_recorded_offset(
    index: usize,
    previous: Duration,
    at: Duration,
) -> Result<(), RuleError> {
    if at < previous {
        return Err(RuleError::RecordedOffsetBackwards {
            index,
            at,
            previous,
        });
    }
    Ok(())
}

/// A replay speed: a finite factor above zero.
pub(crate) fn check_speed(factor: f64) -> Result<(), RuleError> {
    if factor.is_finite() && factor > 0.0 {
        Ok(())
    } else {
        Err(RuleError::SpeedInvalid { factor })
    }
}

/// Options for streams apply only to streamed replies.
pub(crate) fn check_stream(reply: &Reply) -> Result<(), RuleError> {
    script(reply).map(drop)
}

/// Options for HTTP errors apply only to HTTP error replies.
pub(crate) fn check_http_error(reply: &Reply) -> Result<(), RuleError> {
    match reply.kind {
        ReplyKind::HttpError(_) => Ok(()),
        ReplyKind::Stream(_) => Err(RuleError::ErrorOptionOnStream),
    }
}

/// A stream ends early at most once: an ending (`error_after`, `disconnect_after`, ...)
/// applies only to a stream that has none yet.
///
/// `without_done` is no ending: it shapes the normal end, which a stream resumed past a
/// cut or a stall still reaches, so it goes with every ending.
pub(crate) fn check_no_ending_yet(reply: &Reply) -> Result<(), RuleError> {
    match &script(reply)?.ending {
        Some((previous_at, previous)) => Err(RuleError::EndingTwice {
            previous: previous.describe(),
            previous_at: *previous_at,
        }),
        None => Ok(()),
    }
}

/// An ending after `tokens` content events: the rule of [`check_no_ending_yet`], and no
/// later than the script's last content event.
pub(crate) fn check_ending(reply: &Reply, tokens: usize) -> Result<(), RuleError> {
    check_no_ending_yet(reply)?;
    let available = script(reply)?.content_events();
    if tokens > available {
        return Err(RuleError::EndingBeyondScript { tokens, available });
    }
    Ok(())
}

/// A keep-alive interval above zero.
pub(crate) fn check_keep_alive(interval: Duration) -> Result<(), RuleError> {
    if interval.is_zero() {
        return Err(RuleError::KeepAliveZero);
    }
    Ok(())
}

/// Writes of at least one byte.
pub(crate) fn check_fragment_writes(max_bytes: usize) -> Result<(), RuleError> {
    if max_bytes == 0 {
        return Err(RuleError::FragmentWritesZero);
    }
    Ok(())
}

/// A header name HTTP allows.
pub(crate) fn check_header_name(name: &str) -> Result<HeaderName, RuleError> {
    HeaderName::from_bytes(name.as_bytes()).map_err(|_| RuleError::InvalidHeaderName {
        name: name.to_owned(),
    })
}

/// A header value HTTP allows.
pub(crate) fn check_header_value(value: &str) -> Result<HeaderValue, RuleError> {
    HeaderValue::from_str(value).map_err(|_| RuleError::InvalidHeaderValue {
        value: value.to_owned(),
    })
}

/// A token rate a stream can play: finite and above zero, and so a delay of at most a
/// day between tokens.
pub(crate) fn check_tokens_per_second(rate: f64) -> Result<Duration, RuleError> {
    if rate.is_finite() && rate >= 1.0 / 86_400.0 {
        return Ok(Duration::from_secs_f64(1.0 / rate));
    }
    Err(RuleError::TokensPerSecondInvalid { rate })
}

// --- Traffic ------------------------------------------------------------------------------

/// A rate-limit window that refills: above zero.
pub(crate) fn check_rate_limit_window(window: Duration) -> Result<(), RuleError> {
    if window.is_zero() {
        return Err(RuleError::RateLimitWindowZero);
    }
    Ok(())
}

/// A bucket of at least one request or token.
pub(crate) fn check_rate_limit_amount(bucket: &'static str, amount: u64) -> Result<(), RuleError> {
    if amount == 0 {
        return Err(RuleError::RateLimitZero { bucket });
    }
    Ok(())
}

/// A rate limit with at least one bucket.
pub(crate) fn check_rate_limit_buckets(buckets: usize) -> Result<(), RuleError> {
    if buckets == 0 {
        return Err(RuleError::RateLimitEmpty);
    }
    Ok(())
}

/// A fault's probability from 0 to 1, added to the `before` of the faults already given:
/// the total, which stays at most 1.
pub(crate) fn check_probability(
    fault: &'static str,
    probability: f64,
    before: f64,
) -> Result<f64, RuleError> {
    if !(0.0..=1.0).contains(&probability) {
        return Err(RuleError::ProbabilityOutOfRange { fault, probability });
    }
    let total = before + probability;
    // Room for rounding: 0.1 + 0.2 + 0.7 is 1.0000000000000002.
    if total > 1.0 + 1e-9 {
        return Err(RuleError::ProbabilitiesOverOne { fault, total });
    }
    Ok(total)
}

// --- Steps --------------------------------------------------------------------------------

/// A delay of its own (`Step::after`) for any step but a pause.
pub(crate) fn check_after(step: &Step, delay: Duration) -> Result<(), RuleError> {
    if let StepKind::Pause(pause) = step.kind {
        return Err(RuleError::PauseWithAfter { pause, delay });
    }
    Ok(())
}

/// A tool call names its function.
pub(crate) fn check_tool_name(name: &str) -> Result<(), RuleError> {
    if name.is_empty() {
        return Err(RuleError::EmptyToolName);
    }
    Ok(())
}

// --- Mocks and matchers -------------------------------------------------------------------

/// A sequence of replies has at least one.
pub(crate) fn check_sequence(replies: usize) -> Result<(), RuleError> {
    if replies == 0 {
        return Err(RuleError::EmptySequence);
    }
    Ok(())
}

/// An expectation of at least `min` requests and fewer than `end` (`None`: unbounded)
/// that some number of requests meets.
pub(crate) fn check_expectation(min: u64, end: Option<u64>) -> Result<(), RuleError> {
    match end {
        Some(end) if end <= min => Err(RuleError::EmptyExpectationRange { min, end }),
        _ => Ok(()),
    }
}

/// A limit of at least one match.
pub(crate) fn check_up_to_n_times(n: u64) -> Result<(), RuleError> {
    if n == 0 {
        return Err(RuleError::UpToZeroTimes);
    }
    Ok(())
}

/// A priority from 1 to 255.
pub(crate) fn check_priority(priority: u64) -> Result<u8, RuleError> {
    u8::try_from(priority)
        .ok()
        .filter(|priority| *priority > 0)
        .ok_or(RuleError::PriorityOutOfRange { priority })
}

/// An HTTP method name, in any case.
pub(crate) fn check_method(method: &str) -> Result<Method, RuleError> {
    Method::from_bytes(method.to_ascii_uppercase().as_bytes()).map_err(|_| {
        RuleError::InvalidMethod {
            method: method.to_owned(),
        }
    })
}

/// A path a request can have: one that starts with `/`.
pub(crate) fn check_path(path: &str) -> Result<(), RuleError> {
    if !path.starts_with('/') {
        return Err(RuleError::PathWithoutSlash {
            path: path.to_owned(),
        });
    }
    Ok(())
}

/// A prefix the endpoints can be served under: `/` and whole segments, such as `/openai`.
pub(crate) fn check_path_prefix(prefix: &str) -> Result<(), RuleError> {
    if !prefix.starts_with('/') || prefix.ends_with('/') {
        return Err(RuleError::InvalidPathPrefix {
            prefix: prefix.to_owned(),
        });
    }
    Ok(())
}

/// A regular expression for `path_regex` and `header_regex`.
pub(crate) fn check_regex(pattern: &str) -> Result<regex::Regex, RuleError> {
    regex::Regex::new(pattern).map_err(|error| RuleError::InvalidRegex {
        pattern: pattern.to_owned(),
        error: error.to_string(),
    })
}

/// The names `ResponseFormat::name` gives (script/ imports nothing of the crate, so
/// the list lives here; a unit test of `request/` checks that the two agree).
pub(crate) const RESPONSE_FORMATS: &[&str] = &["text", "json_object", "json_schema"];

/// The name of a kind of response format (`ResponseFormat::name`).
pub(crate) fn check_response_format(name: &str) -> Result<(), RuleError> {
    if RESPONSE_FORMATS.contains(&name) {
        return Ok(());
    }
    Err(RuleError::UnknownResponseFormat {
        name: name.to_owned(),
    })
}

/// A turn of a conversation: 1 or more.
pub(crate) fn check_turn(turn: u64) -> Result<usize, RuleError> {
    usize::try_from(turn)
        .ok()
        .filter(|turn| *turn > 0)
        .ok_or(RuleError::TurnZero)
}

/// The values a header must have: at least one.
pub(crate) fn check_header_values(name: &str, values: usize) -> Result<(), RuleError> {
    if values == 0 {
        return Err(RuleError::NoHeaderValues {
            name: name.to_owned(),
        });
    }
    Ok(())
}

/// The turns of a conversation: at least one.
pub(crate) fn check_turns(turns: usize) -> Result<(), RuleError> {
    if turns == 0 {
        return Err(RuleError::NoTurns);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::script::{StreamError, ToolCall};

    fn secs(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    #[test]
    fn each_rule_accepts_what_it_allows_and_names_what_it_rejects() {
        let stream = || Reply::text("one two");
        let error = Reply::rate_limited;
        let cases: Vec<(&str, Result<(), RuleError>, Option<RuleError>)> = vec![
            ("status 400", check_error_status(400).map(drop), None),
            ("status 599", check_error_status(599).map(drop), None),
            (
                "status 399",
                check_error_status(399).map(drop),
                Some(RuleError::StatusNotError { status: 399 }),
            ),
            (
                "status 600",
                check_error_status(600).map(drop),
                Some(RuleError::StatusNotError { status: 600 }),
            ),
            (
                "a status beyond u16",
                check_error_status(65_936).map(drop),
                Some(RuleError::StatusNotError { status: 65_936 }),
            ),
            ("stream option on a stream", check_stream(&stream()), None),
            (
                "stream option on an HTTP error",
                check_stream(&error()),
                Some(RuleError::StreamOptionOnHttpError { status: 429 }),
            ),
            (
                "error option on an HTTP error",
                check_http_error(&error()),
                None,
            ),
            (
                "error option on a stream",
                check_http_error(&stream()),
                Some(RuleError::ErrorOptionOnStream),
            ),
            (
                "an ending after every token",
                check_ending(&stream(), 2),
                None,
            ),
            (
                "an ending before any token",
                check_ending(&stream(), 0),
                None,
            ),
            (
                "an ending beyond the script",
                check_ending(&stream(), 3),
                Some(RuleError::EndingBeyondScript {
                    tokens: 3,
                    available: 2,
                }),
            ),
            (
                "a second ending",
                check_ending(&stream().stall_after(1), 0),
                Some(RuleError::EndingTwice {
                    previous: "stall_after",
                    previous_at: 1,
                }),
            ),
            (
                "an ending on an HTTP error",
                check_ending(&error(), 0),
                Some(RuleError::StreamOptionOnHttpError { status: 429 }),
            ),
            (
                "without_done is no ending",
                check_no_ending_yet(&stream().without_done()),
                None,
            ),
            (
                "a keep-alive of 1ns",
                check_keep_alive(Duration::from_nanos(1)),
                None,
            ),
            (
                "a keep-alive of zero",
                check_keep_alive(Duration::ZERO),
                Some(RuleError::KeepAliveZero),
            ),
            ("writes of 1 byte", check_fragment_writes(1), None),
            (
                "writes of 0 bytes",
                check_fragment_writes(0),
                Some(RuleError::FragmentWritesZero),
            ),
            (
                "a header name in capitals",
                check_header_name("X-Request-ID").map(drop),
                None,
            ),
            (
                "an empty header name",
                check_header_name("").map(drop),
                Some(RuleError::InvalidHeaderName {
                    name: String::new(),
                }),
            ),
            (
                "a header name with a colon",
                check_header_name("x:y").map(drop),
                Some(RuleError::InvalidHeaderName {
                    name: "x:y".to_owned(),
                }),
            ),
            (
                "a header value with a tab and unicode",
                check_header_value("a\tb é").map(drop),
                None,
            ),
            (
                "a header value with a line break",
                check_header_value("a\r\nb").map(drop),
                Some(RuleError::InvalidHeaderValue {
                    value: "a\r\nb".to_owned(),
                }),
            ),
            (
                "a delay on a token",
                check_after(&Step::token("a"), secs(1)),
                None,
            ),
            (
                "a delay on a pause",
                check_after(&Step::pause(secs(2)), secs(1)),
                Some(RuleError::PauseWithAfter {
                    pause: secs(2),
                    delay: secs(1),
                }),
            ),
            ("a tool name", check_tool_name("f"), None),
            (
                "an empty tool name",
                check_tool_name(""),
                Some(RuleError::EmptyToolName),
            ),
            ("one reply", check_sequence(1), None),
            (
                "no replies",
                check_sequence(0),
                Some(RuleError::EmptySequence),
            ),
            ("exactly 0", check_expectation(0, Some(1)), None),
            ("unbounded", check_expectation(u64::MAX, None), None),
            (
                "an empty range",
                check_expectation(3, Some(3)),
                Some(RuleError::EmptyExpectationRange { min: 3, end: 3 }),
            ),
            (
                "below 0",
                check_expectation(0, Some(0)),
                Some(RuleError::EmptyExpectationRange { min: 0, end: 0 }),
            ),
            ("up to once", check_up_to_n_times(1), None),
            (
                "up to zero times",
                check_up_to_n_times(0),
                Some(RuleError::UpToZeroTimes),
            ),
            ("priority 1", check_priority(1).map(drop), None),
            ("priority 255", check_priority(255).map(drop), None),
            (
                "priority 0",
                check_priority(0).map(drop),
                Some(RuleError::PriorityOutOfRange { priority: 0 }),
            ),
            (
                "priority 256",
                check_priority(256).map(drop),
                Some(RuleError::PriorityOutOfRange { priority: 256 }),
            ),
            ("a lowercase method", check_method("post").map(drop), None),
            ("a custom method", check_method("PURGE").map(drop), None),
            (
                "a method with a space",
                check_method("GE T").map(drop),
                Some(RuleError::InvalidMethod {
                    method: "GE T".to_owned(),
                }),
            ),
            (
                "no method",
                check_method("").map(drop),
                Some(RuleError::InvalidMethod {
                    method: String::new(),
                }),
            ),
            ("the root path", check_path("/"), None),
            ("a path prefix", check_path_prefix("/openai/v1"), None),
            (
                "a path prefix with a trailing slash",
                check_path_prefix("/openai/"),
                Some(RuleError::InvalidPathPrefix {
                    prefix: "/openai/".to_owned(),
                }),
            ),
            (
                "the root as a path prefix",
                check_path_prefix("/"),
                Some(RuleError::InvalidPathPrefix {
                    prefix: "/".to_owned(),
                }),
            ),
            (
                "a path without its slash",
                check_path("v1/models"),
                Some(RuleError::PathWithoutSlash {
                    path: "v1/models".to_owned(),
                }),
            ),
        ];
        for (name, checked, expected) in cases {
            assert_eq!(checked.err(), expected, "{name}");
        }
    }

    #[test]
    fn checks_hand_back_what_they_parsed() {
        assert_eq!(check_error_status(503).unwrap().as_u16(), 503);
        assert_eq!(check_priority(7), Ok(7));
        assert_eq!(check_method("patch").unwrap(), Method::PATCH);
        assert_eq!(check_header_name("X-A").unwrap().as_str(), "x-a");
    }

    #[test]
    fn messages_name_the_mistake_and_the_fix_in_words_that_fit_both_callers() {
        let cases: Vec<(RuleError, &str)> = vec![
            (
                RuleError::StatusNotError { status: 204 },
                "204 is not an HTTP error status: use one from 400 to 599 (for a success, \
                 script a streamed reply instead)",
            ),
            (
                RuleError::StatusNotError { status: 302 },
                "302 is not an HTTP error status: use one from 400 to 599",
            ),
            (
                RuleError::EndingTwice {
                    previous: "error_after",
                    previous_at: 1,
                },
                "this stream already ends with an error event (error_after) after 1 token, and \
                 a stream ends only once: to script two attempts, use a sequence of two replies",
            ),
            (
                RuleError::EndingTwice {
                    previous: "reset_connection_after",
                    previous_at: 0,
                },
                "this stream already ends with a connection reset (reset_connection_after) \
                 after 0 tokens, and a stream ends only once: to script two attempts, use a \
                 sequence of two replies",
            ),
            (
                RuleError::EndingBeyondScript {
                    tokens: 2,
                    available: 1,
                },
                "the script has only 1 token (counting each text token, refusal piece, thinking \
                 fragment, tool call and fragment of its arguments), so an ending after 2 tokens \
                 would never happen: use a number from 0 to 1",
            ),
            (
                RuleError::EndingBeyondScript {
                    tokens: 1,
                    available: 0,
                },
                "the script has no tokens (counting each text token, refusal piece, thinking \
                 fragment, tool call and fragment of its arguments), so an ending after 1 token \
                 would never happen: use 0",
            ),
            (
                RuleError::PauseWithAfter {
                    pause: Duration::from_millis(1500),
                    delay: Duration::from_millis(250),
                },
                "a pause is itself a delay, so it takes no delay of its own: write one pause of \
                 1.75s (1.5s + 250ms) instead",
            ),
            (
                RuleError::EmptyExpectationRange { min: 3, end: 1 },
                "no number of requests is at least 3 and at most 0, so this expectation can \
                 never be met: write the lower bound first, e.g. 1..=3",
            ),
            (
                RuleError::EmptyExpectationRange { min: 0, end: 0 },
                "no number of requests is below 0, so this expectation can never be met: write \
                 the lower bound first, e.g. 1..=3",
            ),
            (
                RuleError::PathWithoutSlash {
                    path: "v1/chat/completions".to_owned(),
                },
                "\"v1/chat/completions\" can never match, as request paths start with '/': \
                 write \"/v1/chat/completions\"",
            ),
            (
                RuleError::InvalidPathPrefix {
                    prefix: "openai/".to_owned(),
                },
                "\"openai/\" is not a path prefix: a prefix starts with '/' and does not end \
                 with one: write \"/openai\"",
            ),
        ];
        for (error, message) in cases {
            assert_eq!(error.to_string(), message, "{error:?}");
        }

        // A pause and a delay that overflow a Duration still make a message.
        let huge = RuleError::PauseWithAfter {
            pause: Duration::MAX,
            delay: secs(1),
        };
        assert!(huge.to_string().contains("write one pause of"), "{huge}");
        // Long values are cut short.
        let long = RuleError::InvalidHeaderValue {
            value: format!("{}\n", "x".repeat(100)),
        };
        assert!(
            long.to_string()
                .starts_with(&format!("\"{}...\" is not a valid", "x".repeat(40))),
            "{long}"
        );
    }

    #[test]
    fn enforce_hands_back_the_value_or_panics_with_the_builders_name_first() {
        assert_eq!(enforce("Mock::with_priority", check_priority(3)), 3);
        let panic = std::panic::catch_unwind(|| {
            enforce("Reply::keep_alive", check_keep_alive(Duration::ZERO))
        })
        .unwrap_err();
        assert_eq!(
            panic.downcast_ref::<String>().map(String::as_str),
            Some(
                "Reply::keep_alive: a keep-alive interval of zero would send comments without \
                 end: use an interval above zero"
            )
        );
    }

    #[test]
    fn builders_enforce_their_rules() {
        let panics = |build: fn()| std::panic::catch_unwind(build).is_err();
        assert!(panics(|| drop(Reply::text("a").fragment_writes(0))));
        assert!(panics(|| drop(Reply::text("a").stall_after(2))));
        assert!(panics(|| drop(ToolCall::function(
            "",
            serde_json::json!({})
        ))));
        assert!(panics(|| drop(StreamError::new("m").with_status(399))));
        assert!(!panics(|| drop(
            Reply::text("a").without_done().disconnect_after(1)
        )));
        assert!(!panics(|| drop(
            Reply::text("a").disconnect_after(1).without_done()
        )));
    }
}
