//! Ready-made matchers for [`Mock::given`](crate::Mock::given) and
//! [`MockBuilder::and`](crate::MockBuilder::and).
//!
//! Each matcher is a small public struct with a lowercase constructor, as in `wiremock`:
//! HTTP-level ones ([`method`], [`path`], [`header`], [`body_partial_json`], ...) and
//! chat-level ones that read the request as a chat request ([`model`], [`stream`],
//! [`last_user_message_contains`], ...). A chat-level matcher never matches a request
//! whose body is not a chat request.
//!
//! ```
//! use chatmock::{matchers, Mock, Reply};
//!
//! let mock = Mock::given(matchers::path("/v1/chat/completions"))
//!     .and(matchers::model("gpt-4o"))
//!     .and(matchers::stream(true))
//!     .and(matchers::header("authorization", "Bearer test-key"))
//!     .respond_with(Reply::text("Hi!"));
//! # drop(mock);
//! ```

use axum::http::Method;
use serde_json::Value;

use crate::matching::Match;
use crate::request::ReceivedRequest;
use crate::script::rules::{self, enforce};

/// Matches every request. See [`any`].
#[derive(Debug, Clone)]
pub struct AnyMatcher;

/// Matches every request: the matcher for a catch-all mock.
pub fn any() -> AnyMatcher {
    AnyMatcher
}

impl Match for AnyMatcher {
    fn matches(&self, _request: &ReceivedRequest) -> bool {
        true
    }
}

/// Matches the HTTP method. See [`method`].
#[derive(Debug, Clone)]
pub struct MethodMatcher(Method);

/// Matches requests with this HTTP method (`"POST"`, `"GET"`, ...; case-insensitive).
///
/// # Panics
///
/// If `method` is not a valid HTTP method name.
#[track_caller]
pub fn method(method: &str) -> MethodMatcher {
    MethodMatcher(enforce("matchers::method", rules::check_method(method)))
}

impl Match for MethodMatcher {
    fn matches(&self, request: &ReceivedRequest) -> bool {
        request.method() == self.0
    }
}

/// Matches the exact path. See [`path`].
#[derive(Debug, Clone)]
pub struct PathMatcher(String);

/// Matches requests whose path (without the query string) is exactly `path`.
///
/// # Panics
///
/// If `path` does not start with `/`: such a path can never be received.
#[track_caller]
pub fn path(path: impl Into<String>) -> PathMatcher {
    let path = path.into();
    enforce("matchers::path", rules::check_path(&path));
    PathMatcher(path)
}

impl Match for PathMatcher {
    fn matches(&self, request: &ReceivedRequest) -> bool {
        request.path() == self.0
    }
}

/// Matches a header's exact value. See [`header`].
#[derive(Debug, Clone)]
pub struct HeaderMatcher {
    name: String,
    value: String,
}

/// Matches requests that carry header `name` (case-insensitive) with exactly `value`.
/// When the header appears several times, any of its values may match.
///
/// # Panics
///
/// If `name` or `value` is not valid in an HTTP header: no request could carry it.
#[track_caller]
pub fn header(name: impl Into<String>, value: impl Into<String>) -> HeaderMatcher {
    let (name, value) = (name.into(), value.into());
    enforce("matchers::header", rules::check_header_name(&name));
    enforce("matchers::header", rules::check_header_value(&value));
    HeaderMatcher { name, value }
}

impl Match for HeaderMatcher {
    fn matches(&self, request: &ReceivedRequest) -> bool {
        request
            .headers()
            .get_all(self.name.as_str())
            .iter()
            .any(|value| value.as_bytes() == self.value.as_bytes())
    }
}

/// Matches the presence of a header. See [`header_exists`].
#[derive(Debug, Clone)]
pub struct HeaderExistsMatcher(String);

/// Matches requests that carry header `name` (case-insensitive), whatever its value.
///
/// # Panics
///
/// If `name` is not a valid HTTP header name: no request could carry it.
#[track_caller]
pub fn header_exists(name: impl Into<String>) -> HeaderExistsMatcher {
    let name = name.into();
    enforce("matchers::header_exists", rules::check_header_name(&name));
    HeaderExistsMatcher(name)
}

impl Match for HeaderExistsMatcher {
    fn matches(&self, request: &ReceivedRequest) -> bool {
        request.headers().contains_key(self.0.as_str())
    }
}

/// Matches a JSON body that contains the given JSON. See [`body_partial_json`].
#[derive(Debug, Clone)]
pub struct BodyPartialJsonMatcher(Value);

/// Matches requests whose JSON body contains `expected`: every key of every object in
/// `expected` must be present with a matching value; arrays must have the same length
/// and match element by element; other values must be equal.
///
/// ```
/// use chatmock::{matchers, Mock, Reply};
/// use serde_json::json;
///
/// let mock = Mock::given(matchers::body_partial_json(json!({
///     "temperature": 0.0,
///     "stream_options": { "include_usage": true }
/// })))
/// .respond_with(Reply::demo());
/// # drop(mock);
/// ```
pub fn body_partial_json(expected: impl Into<Value>) -> BodyPartialJsonMatcher {
    BodyPartialJsonMatcher(expected.into())
}

impl Match for BodyPartialJsonMatcher {
    fn matches(&self, request: &ReceivedRequest) -> bool {
        request
            .json
            .as_ref()
            .is_some_and(|actual| contains_json(actual, &self.0))
    }
}

fn contains_json(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::Object(actual), Value::Object(expected)) => expected.iter().all(|(key, value)| {
            actual
                .get(key)
                .is_some_and(|actual| contains_json(actual, value))
        }),
        (Value::Array(actual), Value::Array(expected)) => {
            actual.len() == expected.len()
                && actual
                    .iter()
                    .zip(expected)
                    .all(|(actual, expected)| contains_json(actual, expected))
        }
        (Value::Number(actual), Value::Number(expected)) => actual.as_f64() == expected.as_f64(),
        _ => actual == expected,
    }
}

/// Matches the requested model. See [`model`].
#[derive(Debug, Clone)]
pub struct ModelMatcher(String);

/// Matches chat requests for exactly this `model`.
pub fn model(model: impl Into<String>) -> ModelMatcher {
    ModelMatcher(model.into())
}

impl Match for ModelMatcher {
    fn matches(&self, request: &ReceivedRequest) -> bool {
        request.chat().is_some_and(|chat| chat.model() == self.0)
    }
}

/// Matches the stream flag. See [`stream`].
#[derive(Debug, Clone)]
pub struct StreamMatcher(bool);

/// Matches chat requests that asked for a stream (`true`) or for a single JSON response
/// (`false`; a request without `"stream"` counts as `false`).
pub fn stream(streaming: bool) -> StreamMatcher {
    StreamMatcher(streaming)
}

impl Match for StreamMatcher {
    fn matches(&self, request: &ReceivedRequest) -> bool {
        request
            .chat()
            .is_some_and(|chat| chat.is_stream() == self.0)
    }
}

/// Matches text in the last user message. See [`last_user_message_contains`].
#[derive(Debug, Clone)]
pub struct LastUserMessageContainsMatcher(String);

/// Matches chat requests whose last `user` message contains `text` (case-sensitive, like
/// [`str::contains`]).
pub fn last_user_message_contains(text: impl Into<String>) -> LastUserMessageContainsMatcher {
    LastUserMessageContainsMatcher(text.into())
}

impl Match for LastUserMessageContainsMatcher {
    fn matches(&self, request: &ReceivedRequest) -> bool {
        last_user_message(request).is_some_and(|message| message.contains(&self.0))
    }
}

/// Matches the whole last user message. See [`last_user_message_is`].
#[derive(Debug, Clone)]
pub struct LastUserMessageIsMatcher(String);

/// Matches chat requests whose last `user` message is exactly `text`.
pub fn last_user_message_is(text: impl Into<String>) -> LastUserMessageIsMatcher {
    LastUserMessageIsMatcher(text.into())
}

impl Match for LastUserMessageIsMatcher {
    fn matches(&self, request: &ReceivedRequest) -> bool {
        last_user_message(request) == Some(self.0.as_str())
    }
}

fn last_user_message(request: &ReceivedRequest) -> Option<&str> {
    request.chat()?.last_user_message()
}
