//! Ready-made matchers for [`Mock::given`](crate::Mock::given) and
//! [`MockBuilder::and`](crate::MockBuilder::and).
//!
//! Each matcher is a small public struct with a lowercase constructor, as in `wiremock`:
//! HTTP-level ones ([`method`], [`path`], [`header`], [`body_partial_json`], ...) and
//! chat-level ones that read the request as a chat request ([`model`], [`stream`],
//! [`last_user_message_contains`], ...). A chat-level matcher never matches a request
//! whose body is not a chat request. The agent's side of the conversation
//! ([`system_prompt_contains`], [`declares_tool`], [`has_tool_result`],
//! [`tool_result_for`], [`tool_result_contains`], [`turn`], [`response_format`]) reads
//! the same in every wire format. The general ones a wiremock user reaches for are here
//! too, under wiremock's names: [`path_regex`], [`query_param`], [`bearer_token`],
//! [`headers`], [`header_regex`], [`body_json`], [`body_string_contains`].
//!
//! Every matcher is free of side effects, and must stay so: every mounted mock's
//! matchers are evaluated for every request, and again when a 404 or a verification
//! report explains which matcher failed. Each one [describes](Match::describe) itself and
//! [explains](Match::explain_mismatch) what a request it rejects had instead.
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

use crate::matching::explain;
use crate::matching::Match;
use crate::request::ReceivedRequest;
use crate::request::{secrets, ChatRequest};
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

    fn describe(&self) -> String {
        explain::ANY.to_owned()
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

    fn describe(&self) -> String {
        format!("`method({:?})`", self.0.as_str())
    }

    fn explain_mismatch(&self, request: &ReceivedRequest) -> Option<String> {
        Some(format!("the method was {}", request.method()))
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

    fn describe(&self) -> String {
        format!("`path({:?})`", self.0)
    }

    fn explain_mismatch(&self, request: &ReceivedRequest) -> Option<String> {
        Some(format!("the path was {}", quoted(request.path())))
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

    fn describe(&self) -> String {
        format!(
            "`header({:?}, {})`",
            self.name,
            shown_header_value(&self.name, &self.value)
        )
    }

    fn explain_mismatch(&self, request: &ReceivedRequest) -> Option<String> {
        Some(header_values_were(request, &self.name))
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

    fn describe(&self) -> String {
        format!("`header_exists({:?})`", self.0)
    }

    fn explain_mismatch(&self, _request: &ReceivedRequest) -> Option<String> {
        Some(format!("the request has no header {:?}", self.0))
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
            .is_some_and(|actual| json_difference(actual, &self.0, "", false).is_none())
    }

    fn describe(&self) -> String {
        format!("`body_partial_json({})`", shorten(&self.0.to_string()))
    }

    fn explain_mismatch(&self, request: &ReceivedRequest) -> Option<String> {
        Some(match &request.json {
            Some(actual) => json_difference(actual, &self.0, "", false)?,
            None => "the body is not JSON".to_owned(),
        })
    }
}

/// Where `actual` first differs from `expected`, as `at temperature: expected 0, found
/// 0.7`; `None` if it does not. With `exact`, `actual` may not have keys `expected` lacks;
/// without, `expected` need only be contained in it. Arrays match element by element and
/// numbers by value (`1` equals `1.0`).
fn json_difference(actual: &Value, expected: &Value, at: &str, exact: bool) -> Option<String> {
    let here = || {
        if at.is_empty() {
            "the body".to_owned()
        } else {
            format!("at {at}")
        }
    };
    match (actual, expected) {
        (Value::Object(actual), Value::Object(expected)) => {
            for (key, value) in expected {
                let path = if at.is_empty() {
                    key.clone()
                } else {
                    format!("{at}.{key}")
                };
                match actual.get(key) {
                    Some(actual) => {
                        if let Some(difference) = json_difference(actual, value, &path, exact) {
                            return Some(difference);
                        }
                    }
                    None => return Some(format!("{} has no key {key:?}", here())),
                }
            }
            let extra = actual.keys().find(|key| !expected.contains_key(*key));
            match extra {
                Some(key) if exact => Some(format!("{} has key {key:?} too", here())),
                _ => None,
            }
        }
        (Value::Array(actual), Value::Array(expected)) => {
            if actual.len() != expected.len() {
                return Some(format!(
                    "{}: expected {} items, found {}",
                    here(),
                    expected.len(),
                    actual.len()
                ));
            }
            actual
                .iter()
                .zip(expected)
                .enumerate()
                .find_map(|(index, (actual, expected))| {
                    json_difference(actual, expected, &format!("{at}[{index}]"), exact)
                })
        }
        (Value::Number(a), Value::Number(e)) if a.as_f64() == e.as_f64() => None,
        _ if actual == expected => None,
        _ => Some(format!(
            "{}: expected {}, found {}",
            here(),
            shorten(&expected.to_string()),
            shorten(&actual.to_string())
        )),
    }
}

/// Matches the requested model. See [`model`].
#[derive(Debug, Clone)]
pub struct ModelMatcher(String);

/// Matches chat requests for exactly this `model`.
pub fn model(model: impl Into<String>) -> ModelMatcher {
    ModelMatcher(model.into())
}

impl ModelMatcher {
    /// The model it matches, which the model-list endpoints serve.
    pub(crate) fn model(&self) -> &str {
        &self.0
    }
}

impl Match for ModelMatcher {
    fn matches(&self, request: &ReceivedRequest) -> bool {
        request.chat().is_some_and(|chat| chat.model() == self.0)
    }

    fn describe(&self) -> String {
        format!("`model({:?})`", self.0)
    }

    fn explain_mismatch(&self, request: &ReceivedRequest) -> Option<String> {
        Some(chat_or_not(request, |chat| {
            format!("the model was {}", quoted(chat.model()))
        }))
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

    fn describe(&self) -> String {
        format!("`stream({})`", self.0)
    }

    fn explain_mismatch(&self, request: &ReceivedRequest) -> Option<String> {
        Some(chat_or_not(request, |chat| {
            if chat.is_stream() {
                "the request asked for a stream".to_owned()
            } else {
                "the request asked for one complete response".to_owned()
            }
        }))
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

    fn describe(&self) -> String {
        format!("`last_user_message_contains({:?})`", self.0)
    }

    fn explain_mismatch(&self, request: &ReceivedRequest) -> Option<String> {
        Some(last_user_message_was(request))
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

    fn describe(&self) -> String {
        format!("`last_user_message_is({:?})`", self.0)
    }

    fn explain_mismatch(&self, request: &ReceivedRequest) -> Option<String> {
        Some(last_user_message_was(request))
    }
}

fn last_user_message(request: &ReceivedRequest) -> Option<&str> {
    request.chat()?.last_user_message()
}

// --- What reports say ---------------------------------------------------------------------

/// `text` quoted, cut short if long.
fn quoted(text: &str) -> String {
    format!("{:?}", truncate(text, 80))
}

fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_owned(),
    }
}

/// Compact JSON (or other text), cut short if long.
fn shorten(text: &str) -> String {
    truncate(text, 80)
}

/// A header value as reports show it: quoted, credentials masked.
fn shown_header_value(name: &str, value: &str) -> String {
    quoted(&secrets::shown_header(name, value))
}

/// `header "x-team" was "blue"`, `... was absent`, masked for secret headers.
fn header_values_were(request: &ReceivedRequest, name: &str) -> String {
    let values: Vec<String> = request
        .headers()
        .get_all(name)
        .iter()
        .map(|value| shown_header_value(name, &String::from_utf8_lossy(value.as_bytes())))
        .collect();
    match values.as_slice() {
        [] => format!("the request has no header {name:?}"),
        [one] if secrets::is_secret_header(name) => {
            format!("header {name:?} had another value ({one})")
        }
        [one] => format!("header {name:?} was {one}"),
        many => format!("header {name:?} had the values {}", many.join(", ")),
    }
}

/// `describe(chat)`, or why there is no chat to describe.
fn chat_or_not(request: &ReceivedRequest, describe: impl FnOnce(&ChatRequest) -> String) -> String {
    match request.chat() {
        Some(chat) => describe(chat),
        None => "the body is not a chat request".to_owned(),
    }
}

fn last_user_message_was(request: &ReceivedRequest) -> String {
    chat_or_not(request, |chat| match chat.last_user_message() {
        Some(message) => format!("the last user message was {}", quoted(message)),
        None => "the request has no user message".to_owned(),
    })
}

/// A list of quoted texts: `["a", "b"]`.
fn quoted_list<'a>(texts: impl IntoIterator<Item = &'a str>) -> String {
    let texts: Vec<String> = texts.into_iter().map(quoted).collect();
    format!("[{}]", texts.join(", "))
}

// --- The general matchers wiremock users reach for ----------------------------------------

/// Matches the path against a regular expression. See [`path_regex`].
#[derive(Debug, Clone)]
pub struct PathRegexMatcher(regex::Regex);

/// Matches requests whose path (without the query string) matches the regular expression
/// `pattern` anywhere (anchor it with `^...$` to match the whole path), in the syntax of
/// the [`regex`](https://docs.rs/regex) crate. Perl classes (`\d`, `\w`, `\s`) work;
/// other Unicode classes (`\p{..}`) are not compiled in, to keep the crate small.
///
/// ```
/// use chatmock::{matchers, Mock, Reply};
///
/// let any_gemini_model = Mock::given(matchers::path_regex(r"^/v1beta/models/gemini-[\w.-]+:"))
///     .respond_with(Reply::text("Hi!"));
/// # drop(any_gemini_model);
/// ```
///
/// # Panics
///
/// If `pattern` is not a valid regular expression.
#[track_caller]
pub fn path_regex(pattern: impl AsRef<str>) -> PathRegexMatcher {
    PathRegexMatcher(enforce(
        "matchers::path_regex",
        rules::check_regex(pattern.as_ref()),
    ))
}

impl Match for PathRegexMatcher {
    fn matches(&self, request: &ReceivedRequest) -> bool {
        self.0.is_match(request.path())
    }

    fn describe(&self) -> String {
        format!("`path_regex({:?})`", self.0.as_str())
    }

    fn explain_mismatch(&self, request: &ReceivedRequest) -> Option<String> {
        Some(format!("the path was {}", quoted(request.path())))
    }
}

/// Matches a query parameter. See [`query_param`].
#[derive(Debug, Clone)]
pub struct QueryParamMatcher {
    name: String,
    value: String,
}

/// Matches requests whose query string has parameter `name` with `value` (after
/// percent-decoding, `+` read as a space); any of a repeated parameter's values may match.
///
/// ```
/// use chatmock::{matchers, Mock, Reply};
///
/// let sse_only = Mock::given(matchers::query_param("alt", "sse")).respond_with(Reply::text("Hi!"));
/// # drop(sse_only);
/// ```
pub fn query_param(name: impl Into<String>, value: impl Into<String>) -> QueryParamMatcher {
    QueryParamMatcher {
        name: name.into(),
        value: value.into(),
    }
}

/// The query string's `name=value` pairs, percent-decoded.
fn query_pairs(request: &ReceivedRequest) -> Vec<(String, String)> {
    request
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(name), percent_decode(value))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let hex = |at: usize| {
            bytes
                .get(at)
                .and_then(|byte| char::from(*byte).to_digit(16))
        };
        match bytes[index] {
            b'+' => decoded.push(b' '),
            b'%' => match (hex(index + 1), hex(index + 2)) {
                (Some(high), Some(low)) => {
                    decoded.push((high * 16 + low) as u8);
                    index += 2;
                }
                _ => decoded.push(b'%'),
            },
            byte => decoded.push(byte),
        }
        index += 1;
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

impl Match for QueryParamMatcher {
    fn matches(&self, request: &ReceivedRequest) -> bool {
        query_pairs(request)
            .iter()
            .any(|(name, value)| *name == self.name && *value == self.value)
    }

    fn describe(&self) -> String {
        format!("`query_param({:?}, {:?})`", self.name, self.value)
    }

    fn explain_mismatch(&self, request: &ReceivedRequest) -> Option<String> {
        let pairs = query_pairs(request);
        let values: Vec<&str> = pairs
            .iter()
            .filter(|(name, _)| *name == self.name)
            .map(|(_, value)| value.as_str())
            .collect();
        Some(match values.as_slice() {
            [] => format!("the query has no parameter {:?}", self.name),
            values => format!(
                "parameter {:?} was {}",
                self.name,
                quoted_list(values.to_vec())
            ),
        })
    }
}

/// Matches a bearer token. See [`bearer_token`].
#[derive(Debug, Clone)]
pub struct BearerTokenMatcher(String);

/// Matches requests whose `Authorization` header is `Bearer <token>`: the way OpenAI's,
/// Ollama's and most gateways' clients send their key. Reports never show the token
/// the request had.
///
/// ```
/// use chatmock::{matchers, Mock, Reply};
///
/// let mock = Mock::given(matchers::bearer_token("test-key")).respond_with(Reply::text("Hi!"));
/// # drop(mock);
/// ```
///
/// # Panics
///
/// If `token` cannot be part of an HTTP header.
#[track_caller]
pub fn bearer_token(token: impl Into<String>) -> BearerTokenMatcher {
    let token = token.into();
    enforce(
        "matchers::bearer_token",
        rules::check_header_value(&format!("Bearer {token}")),
    );
    BearerTokenMatcher(token)
}

impl Match for BearerTokenMatcher {
    fn matches(&self, request: &ReceivedRequest) -> bool {
        request
            .headers()
            .get_all("authorization")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .filter_map(|value| value.strip_prefix("Bearer "))
            .any(|token| token == self.0)
    }

    fn describe(&self) -> String {
        "`bearer_token(\"***\")`".to_owned()
    }

    fn explain_mismatch(&self, request: &ReceivedRequest) -> Option<String> {
        let header = request.header("authorization");
        Some(match header {
            None => "the request has no authorization header".to_owned(),
            Some(value) if value.starts_with("Bearer ") => {
                "the request's bearer token was another one".to_owned()
            }
            Some(_) => "the authorization header does not hold a bearer token".to_owned(),
        })
    }
}

/// Matches several values of a header. See [`headers`].
#[derive(Debug, Clone)]
pub struct HeadersMatcher {
    name: String,
    values: Vec<String>,
}

/// Matches requests whose header `name` carries every one of `values`, whether they come
/// as one comma-separated header (`accept: a, b`) or as the header repeated, as wiremock's
/// `headers` does.
///
/// ```
/// use chatmock::{matchers, Mock, Reply};
///
/// let mock = Mock::given(matchers::headers("anthropic-beta", ["tools-2024-04-04", "output-128k"]))
///     .respond_with(Reply::text("Hi!"));
/// # drop(mock);
/// ```
///
/// # Panics
///
/// If `name` or a value is not valid in an HTTP header, or `values` is empty.
#[track_caller]
pub fn headers<I>(name: impl Into<String>, values: I) -> HeadersMatcher
where
    I: IntoIterator,
    I::Item: Into<String>,
{
    let name = name.into();
    let values: Vec<String> = values.into_iter().map(Into::into).collect();
    enforce("matchers::headers", rules::check_header_name(&name));
    for value in &values {
        enforce("matchers::headers", rules::check_header_value(value));
    }
    enforce(
        "matchers::headers",
        rules::check_header_values(&name, values.len()),
    );
    HeadersMatcher { name, values }
}

impl Match for HeadersMatcher {
    fn matches(&self, request: &ReceivedRequest) -> bool {
        let present: Vec<&str> = request
            .headers()
            .get_all(self.name.as_str())
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .collect();
        self.values
            .iter()
            .all(|value| present.contains(&value.as_str()))
    }

    fn describe(&self) -> String {
        let values: Vec<String> = self
            .values
            .iter()
            .map(|value| shown_header_value(&self.name, value))
            .collect();
        format!("`headers({:?}, [{}])`", self.name, values.join(", "))
    }

    fn explain_mismatch(&self, request: &ReceivedRequest) -> Option<String> {
        Some(header_values_were(request, &self.name))
    }
}

/// Matches a header against a regular expression. See [`header_regex`].
#[derive(Debug, Clone)]
pub struct HeaderRegexMatcher {
    name: String,
    regex: regex::Regex,
}

/// Matches requests with a header `name` (case-insensitive) whose value matches the
/// regular expression `pattern` anywhere; when the header appears several times, any of
/// its values may match. The syntax is [`path_regex`]'s.
///
/// ```
/// use chatmock::{matchers, Mock, Reply};
///
/// let python_sdk = Mock::given(matchers::header_regex("user-agent", r"^OpenAI/Python \d"))
///     .respond_with(Reply::text("Hi!"));
/// # drop(python_sdk);
/// ```
///
/// # Panics
///
/// If `name` is not a valid header name or `pattern` not a valid regular expression.
#[track_caller]
pub fn header_regex(name: impl Into<String>, pattern: impl AsRef<str>) -> HeaderRegexMatcher {
    let name = name.into();
    enforce("matchers::header_regex", rules::check_header_name(&name));
    let regex = enforce(
        "matchers::header_regex",
        rules::check_regex(pattern.as_ref()),
    );
    HeaderRegexMatcher { name, regex }
}

impl Match for HeaderRegexMatcher {
    fn matches(&self, request: &ReceivedRequest) -> bool {
        request
            .headers()
            .get_all(self.name.as_str())
            .iter()
            .filter_map(|value| value.to_str().ok())
            .any(|value| self.regex.is_match(value))
    }

    fn describe(&self) -> String {
        format!("`header_regex({:?}, {:?})`", self.name, self.regex.as_str())
    }

    fn explain_mismatch(&self, request: &ReceivedRequest) -> Option<String> {
        Some(header_values_were(request, &self.name))
    }
}

/// Matches the whole JSON body. See [`body_json`].
#[derive(Debug, Clone)]
pub struct BodyJsonMatcher(Value);

/// Matches requests whose JSON body is exactly `expected` (numbers compared by value, so
/// `1` equals `1.0`; key order does not matter). For "contains", use
/// [`body_partial_json`].
///
/// ```
/// use chatmock::{matchers, Mock, Reply};
/// use serde_json::json;
///
/// let mock = Mock::given(matchers::body_json(json!({
///     "model": "gpt-4o",
///     "messages": [{ "role": "user", "content": "Hi" }]
/// })))
/// .respond_with(Reply::text("Hello!"));
/// # drop(mock);
/// ```
pub fn body_json(expected: impl Into<Value>) -> BodyJsonMatcher {
    BodyJsonMatcher(expected.into())
}

impl Match for BodyJsonMatcher {
    fn matches(&self, request: &ReceivedRequest) -> bool {
        request
            .json
            .as_ref()
            .is_some_and(|actual| json_difference(actual, &self.0, "", true).is_none())
    }

    fn describe(&self) -> String {
        format!("`body_json({})`", shorten(&self.0.to_string()))
    }

    fn explain_mismatch(&self, request: &ReceivedRequest) -> Option<String> {
        Some(match &request.json {
            Some(actual) => json_difference(actual, &self.0, "", true)?,
            None => "the body is not JSON".to_owned(),
        })
    }
}

/// Matches text in the raw body. See [`body_string_contains`].
#[derive(Debug, Clone)]
pub struct BodyStringContainsMatcher(String);

/// Matches requests whose body, read as UTF-8 text, contains `text` (case-sensitive).
///
/// ```
/// use chatmock::{matchers, Mock, Reply};
///
/// let mock = Mock::given(matchers::body_string_contains("\"tool_choice\":\"required\""))
///     .respond_with(Reply::text("Hi!"));
/// # drop(mock);
/// ```
pub fn body_string_contains(text: impl Into<String>) -> BodyStringContainsMatcher {
    BodyStringContainsMatcher(text.into())
}

impl Match for BodyStringContainsMatcher {
    fn matches(&self, request: &ReceivedRequest) -> bool {
        String::from_utf8_lossy(request.body()).contains(&self.0)
    }

    fn describe(&self) -> String {
        format!("`body_string_contains({:?})`", self.0)
    }

    fn explain_mismatch(&self, request: &ReceivedRequest) -> Option<String> {
        Some(format!(
            "the body was {}",
            quoted(&String::from_utf8_lossy(request.body()))
        ))
    }
}

// --- The conversation ---------------------------------------------------------------------

/// Matches text in the system prompt. See [`system_prompt_contains`].
#[derive(Debug, Clone)]
pub struct SystemPromptContainsMatcher(String);

/// Matches chat requests whose [system prompt](ChatRequest::system_prompt) contains
/// `text`: OpenAI's `system` and `developer` messages, Anthropic's `system`, the Responses
/// API's `instructions`, Gemini's `systemInstruction`.
///
/// ```
/// use chatmock::{matchers, Mock, Reply};
///
/// let mock = Mock::given(matchers::system_prompt_contains("You are a pirate"))
///     .respond_with(Reply::text("Arr!"));
/// # drop(mock);
/// ```
pub fn system_prompt_contains(text: impl Into<String>) -> SystemPromptContainsMatcher {
    SystemPromptContainsMatcher(text.into())
}

impl Match for SystemPromptContainsMatcher {
    fn matches(&self, request: &ReceivedRequest) -> bool {
        request
            .chat()
            .and_then(ChatRequest::system_prompt)
            .is_some_and(|prompt| prompt.contains(&self.0))
    }

    fn describe(&self) -> String {
        format!("`system_prompt_contains({:?})`", self.0)
    }

    fn explain_mismatch(&self, request: &ReceivedRequest) -> Option<String> {
        Some(chat_or_not(request, |chat| match chat.system_prompt() {
            Some(prompt) => format!("the system prompt was {}", quoted(&prompt)),
            None => "the request has no system prompt".to_owned(),
        }))
    }
}

/// Matches a declared tool. See [`declares_tool`].
#[derive(Debug, Clone)]
pub struct DeclaresToolMatcher(String);

/// Matches chat requests that declare a tool (function) called `name`, in any format's
/// shape ([`ChatRequest::tools`]).
///
/// ```
/// use chatmock::{matchers, Mock, Reply, ToolCall};
/// use serde_json::json;
///
/// let mock = Mock::given(matchers::declares_tool("get_weather"))
///     .respond_with(Reply::tool_call(ToolCall::function("get_weather", json!({ "city": "Oslo" }))));
/// # drop(mock);
/// ```
pub fn declares_tool(name: impl Into<String>) -> DeclaresToolMatcher {
    DeclaresToolMatcher(name.into())
}

impl Match for DeclaresToolMatcher {
    fn matches(&self, request: &ReceivedRequest) -> bool {
        request
            .chat()
            .is_some_and(|chat| chat.tools().iter().any(|tool| tool.name() == self.0))
    }

    fn describe(&self) -> String {
        format!("`declares_tool({:?})`", self.0)
    }

    fn explain_mismatch(&self, request: &ReceivedRequest) -> Option<String> {
        Some(chat_or_not(request, |chat| match chat.tools() {
            [] => "the request declares no tools".to_owned(),
            tools => format!(
                "the request declares {}",
                quoted_list(tools.iter().map(|tool| tool.name()))
            ),
        }))
    }
}

/// What the tool results this request brings back were, for reports.
fn latest_results_were(
    request: &ReceivedRequest,
    show: fn(&crate::request::ToolResult) -> String,
) -> String {
    chat_or_not(request, |chat| {
        let results: Vec<String> = chat.latest_tool_results().map(show).collect();
        if results.is_empty() {
            let earlier = chat.tool_results().count();
            match earlier {
                0 => "the request brings back no tool results".to_owned(),
                n => format!(
                    "the request brings back no tool results since the assistant's last \
                     message ({n} earlier)"
                ),
            }
        } else {
            format!(
                "the tool results it brings back were {}",
                results.join(", ")
            )
        }
    })
}

/// Matches a request that brings back a tool result. See [`has_tool_result`].
#[derive(Debug, Clone)]
pub struct HasToolResultMatcher;

/// Matches chat requests that bring back at least one tool result: a result after the
/// assistant's last message ([`ChatRequest::latest_tool_results`]). Results of earlier
/// steps, which every later request of a loop repeats, do not count, so that one step of
/// an agent loop is told from the next.
///
/// ```
/// use chatmock::{matchers, Mock, Reply};
///
/// let mock = Mock::given(matchers::has_tool_result()).respond_with(Reply::text("Thanks."));
/// # drop(mock);
/// ```
pub fn has_tool_result() -> HasToolResultMatcher {
    HasToolResultMatcher
}

impl Match for HasToolResultMatcher {
    fn matches(&self, request: &ReceivedRequest) -> bool {
        request
            .chat()
            .is_some_and(|chat| chat.latest_tool_results().next().is_some())
    }

    fn describe(&self) -> String {
        "`has_tool_result()`".to_owned()
    }

    fn explain_mismatch(&self, request: &ReceivedRequest) -> Option<String> {
        Some(latest_results_were(request, |result| {
            quoted(result.content())
        }))
    }
}

/// Matches the result of one tool call. See [`tool_result_for`].
#[derive(Debug, Clone)]
pub struct ToolResultForMatcher(String);

/// Matches chat requests that bring back the result of the call with id `call_id` (among
/// the [latest results](ChatRequest::latest_tool_results)): OpenAI's `tool_call_id`, the
/// Responses API's `call_id`, Anthropic's `tool_use_id`, Gemini's `id`. Ollama's results,
/// and Gemini's without an `id`, take the id of the first earlier call of the same tool
/// not yet answered
/// ([`ToolResult::call_id`](crate::ToolResult::call_id)).
///
/// ```
/// use chatmock::{matchers, Mock, Reply};
///
/// let mock = Mock::given(matchers::tool_result_for("call_1")).respond_with(Reply::text("Done."));
/// # drop(mock);
/// ```
pub fn tool_result_for(call_id: impl Into<String>) -> ToolResultForMatcher {
    ToolResultForMatcher(call_id.into())
}

impl Match for ToolResultForMatcher {
    fn matches(&self, request: &ReceivedRequest) -> bool {
        request.chat().is_some_and(|chat| {
            chat.latest_tool_results()
                .any(|result| result.call_id() == Some(self.0.as_str()))
        })
    }

    fn describe(&self) -> String {
        format!("`tool_result_for({:?})`", self.0)
    }

    fn explain_mismatch(&self, request: &ReceivedRequest) -> Option<String> {
        Some(latest_results_were(request, |result| {
            match result.call_id() {
                Some(id) => format!("one for {}", quoted(id)),
                None => "one without a call id".to_owned(),
            }
        }))
    }
}

/// Matches text in a tool result. See [`tool_result_contains`].
#[derive(Debug, Clone)]
pub struct ToolResultContainsMatcher(String);

/// Matches chat requests that bring back a tool result containing `text` (among the
/// [latest results](ChatRequest::latest_tool_results); case-sensitive).
///
/// ```
/// use chatmock::{matchers, Mock, Reply};
///
/// let mock = Mock::given(matchers::tool_result_contains("18"))
///     .respond_with(Reply::text("It is 18°C."));
/// # drop(mock);
/// ```
pub fn tool_result_contains(text: impl Into<String>) -> ToolResultContainsMatcher {
    ToolResultContainsMatcher(text.into())
}

impl Match for ToolResultContainsMatcher {
    fn matches(&self, request: &ReceivedRequest) -> bool {
        request.chat().is_some_and(|chat| {
            chat.latest_tool_results()
                .any(|result| result.content().contains(&self.0))
        })
    }

    fn describe(&self) -> String {
        format!("`tool_result_contains({:?})`", self.0)
    }

    fn explain_mismatch(&self, request: &ReceivedRequest) -> Option<String> {
        Some(latest_results_were(request, |result| {
            quoted(result.content())
        }))
    }
}

/// Matches the turn of the conversation. See [`turn`].
#[derive(Debug, Clone)]
pub struct TurnMatcher {
    first: usize,
    last: usize,
}

/// Matches chat requests for turn `n` of their conversation: 1 plus the number of
/// assistant messages ([`ChatRequest::turn`]). The first request of an agent loop is
/// turn 1; the one that brings back turn 1's tool results is turn 2.
///
/// ```
/// use chatmock::{matchers, Mock, Reply};
///
/// let second_turn = Mock::given(matchers::turn(2)).respond_with(Reply::text("Done."));
/// # drop(second_turn);
/// ```
///
/// # Panics
///
/// If `n` is zero: turns count from 1.
#[track_caller]
pub fn turn(n: usize) -> TurnMatcher {
    let n = enforce("matchers::turn", rules::check_turn(n as u64));
    TurnMatcher { first: n, last: n }
}

/// Turns 1 to `last`: the matcher of a [`Conversation`](crate::Conversation).
pub(crate) fn turn_at_most(last: usize) -> TurnMatcher {
    TurnMatcher { first: 1, last }
}

impl Match for TurnMatcher {
    fn matches(&self, request: &ReceivedRequest) -> bool {
        request
            .chat()
            .is_some_and(|chat| (self.first..=self.last).contains(&chat.turn()))
    }

    fn describe(&self) -> String {
        if self.first == self.last {
            format!("`turn({})`", self.first)
        } else {
            format!("`turn({}..={})`", self.first, self.last)
        }
    }

    fn explain_mismatch(&self, request: &ReceivedRequest) -> Option<String> {
        Some(chat_or_not(request, |chat| {
            format!("the request is turn {}", chat.turn())
        }))
    }
}

/// Matches the requested response format. See [`response_format`].
#[derive(Debug, Clone)]
pub struct ResponseFormatMatcher(String);

/// Matches chat requests that ask for a reply of this kind: `"text"` (also what a request
/// that names no format asks for), `"json_object"` or `"json_schema"`
/// ([`ChatRequest::response_format`], [`ResponseFormat::name`](crate::ResponseFormat::name)).
///
/// ```
/// use chatmock::{matchers, Mock, Reply};
/// use serde_json::json;
///
/// let mock = Mock::given(matchers::response_format("json_schema"))
///     .respond_with(Reply::json(json!({ "city": "Paris", "temperature": 18 })));
/// # drop(mock);
/// ```
///
/// # Panics
///
/// If `kind` is none of the three.
#[track_caller]
pub fn response_format(kind: impl Into<String>) -> ResponseFormatMatcher {
    let kind = kind.into();
    enforce(
        "matchers::response_format",
        rules::check_response_format(&kind),
    );
    ResponseFormatMatcher(kind)
}

impl Match for ResponseFormatMatcher {
    fn matches(&self, request: &ReceivedRequest) -> bool {
        request
            .chat()
            .is_some_and(|chat| chat.response_format().name() == self.0)
    }

    fn describe(&self) -> String {
        format!("`response_format({:?})`", self.0)
    }

    fn explain_mismatch(&self, request: &ReceivedRequest) -> Option<String> {
        Some(chat_or_not(request, |chat| {
            format!(
                "the response format was {:?}",
                chat.response_format().name()
            )
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_are_percent_decoded() {
        assert_eq!(percent_decode("a%20b+c%2F%zz%4"), "a b c/%zz%4");
        assert_eq!(percent_decode("caf%C3%A9"), "café");
    }

    #[test]
    fn json_differences_name_the_first_place_that_differs() {
        let actual = serde_json::json!({ "a": { "b": [1, 2] }, "c": 1.0, "d": true });
        let same = serde_json::json!({ "a": { "b": [1, 2] }, "c": 1, "d": true });
        assert_eq!(json_difference(&actual, &same, "", true), None);
        let partial = serde_json::json!({ "a": { "b": [1, 3] } });
        assert_eq!(
            json_difference(&actual, &partial, "", false).as_deref(),
            Some("at a.b[1]: expected 3, found 2")
        );
        let fewer = serde_json::json!({ "a": { "b": [1, 2] }, "c": 1 });
        assert_eq!(json_difference(&actual, &fewer, "", false), None);
        assert_eq!(
            json_difference(&actual, &fewer, "", true).as_deref(),
            Some("the body has key \"d\" too")
        );
        let missing = serde_json::json!({ "e": 1 });
        assert_eq!(
            json_difference(&actual, &missing, "", false).as_deref(),
            Some("the body has no key \"e\"")
        );
    }
}
