//! Fixture files: [`Reply`] scripts and [`Mock`]s written as JSON, so that one set of
//! scripts serves Rust tests, the standalone server and clients in other languages.
//!
//! Load a [`Fixture`] from a file with [`Fixture::load`] (or from text with
//! [`Fixture::from_json`]), then give it to a server before it starts with
//! [`MockChatServerBuilder::fixture`], or mount its mocks on a running server with
//! [`Fixture::mount`]. A single [`Reply`] (and a whole [`Fixture`]) also implements
//! serde's `Deserialize`, so a test's own configuration can embed replies.
//!
//! Loading never panics. A bad file is a [`FixtureError`] that names the file, the place in
//! it (`mocks[2].reply.token_delay`) and what was expected there. Every mistake that a
//! builder method would panic on (a stream option on an HTTP error, a cut after more
//! tokens than the script has, a status that is not an error, ...) is caught that way, and
//! unknown keys are errors, so a typo cannot pass unnoticed.
//!
//! # The format
//!
//! ## The file
//!
//! An object with these keys, all optional. No other key is allowed.
//!
//! | Key | Value | Rust equivalent |
//! |---|---|---|
//! | `mocks` | an array of [mocks](#mocks), mounted in order | [`Mock::mount`] |
//! | `reply` | the [reply](#replies) for chat requests no mock matches | [`MockChatServerBuilder::reply`] |
//! | `replies` | instead of `reply`: one reply for each successive unmatched request, the last one repeating | [`MockChatServerBuilder::reply_sequence`] |
//! | `framed_as` | a [format name](#wire-formats): frame every request this way, whatever its path | [`MockChatServerBuilder::framed_as`] |
//!
//! Without `reply` or `replies`, the server answers as it does by default: with the demo
//! reply while no mock is mounted, and with a 404 for unmatched requests once mocks are.
//!
//! ## Replies
//!
//! An object with exactly one content key:
//!
//! | Key | Value | Rust equivalent |
//! |---|---|---|
//! | `text` | a string, streamed in word-sized tokens | [`Reply::text`] |
//! | `tokens` | an array of strings, one event each | [`Reply::tokens`] |
//! | `steps` | an array of [steps](#steps) | [`Reply::steps`] |
//! | `refusal` | a string, streamed as a refusal in word-sized pieces | [`Reply::refusal`] |
//! | `tool_calls` | an array of [tool calls](#tool-calls) | [`Reply::tool_calls`] |
//! | `http_error` | a status from 400 to 599, or a preset: `"rate_limited"`, `"quota_exceeded"`, `"overloaded"`, `"server_error"`, `"invalid_api_key"`, `"context_length_exceeded"` | [`Reply::http_error`], [`Reply::rate_limited`], ... |
//!
//! and any of these options:
//!
//! | Key | Value | Applies to | Rust equivalent |
//! |---|---|---|---|
//! | `headers` | an object of header names to string values | every reply | [`Reply::header`] |
//! | `delay_headers` | a [duration](#durations) | every reply | [`Reply::delay_headers`] |
//! | `error_message` | a string | `http_error` | [`Reply::error_message`] |
//! | `retry_after` | a duration | `http_error` | [`Reply::retry_after`] |
//! | `first_token_delay`, `token_delay` | a duration | streams | [`Reply::first_token_delay`], [`Reply::token_delay`] |
//! | `finish_reason` | a string (`"stop"`, `"length"`, `"content_filter"`, `"tool_calls"`, or any other) | streams | [`Reply::finish_reason`] |
//! | `without_done` | a boolean | streams | [`Reply::without_done`] |
//! | `error_after` | `{"tokens": n, "preset": p}` with `p` one of `"server_error"`, `"overloaded"`, `"rate_limited"`; or `{"tokens": n, "message": m}` with optional `"type"`, `"code"`, `"param"` (strings) and `"status"` (400 to 599, default 500, what a non-streaming request gets) | streams | [`Reply::error_after`] with a [`StreamError`] ([`StreamError::with_status`]) |
//! | `end_cleanly_after`, `disconnect_after`, `reset_connection_after`, `stall_after` | a number of tokens | streams | [`Reply::end_cleanly_after`], [`Reply::disconnect_after`], [`Reply::reset_connection_after`], [`Reply::stall_after`] |
//! | `event_ids`, `crlf_line_endings` | a boolean | streams | [`Reply::event_ids`], [`Reply::crlf_line_endings`] |
//! | `reconnection_time`, `keep_alive` | a duration (`keep_alive` above zero) | streams | [`Reply::reconnection_time`], [`Reply::keep_alive`] |
//! | `fragment_writes` | a number of bytes, 1 or more | streams | [`Reply::fragment_writes`] |
//!
//! A stream ends at most one way: `error_after`, `end_cleanly_after`, `disconnect_after`,
//! `reset_connection_after` and `stall_after` exclude each other, and their token count
//! may not exceed the script's (a token is a text token, a piece of a refusal, and for
//! each tool call the event naming it and each fragment of its arguments).
//!
//! ## Steps
//!
//! An object with one of these keys, and optionally `after` (a duration that replaces
//! the usual gap before the step, [`Step::after`]; not allowed on a pause):
//!
//! | Key | Value | Rust equivalent |
//! |---|---|---|
//! | `token` | a string | [`Step::token`] |
//! | `refusal` | a string | [`Step::refusal`] |
//! | `tool_call` | a [tool call](#tool-calls) | [`Step::tool_call`] |
//! | `pause` | a duration | [`Step::pause`] |
//! | `comment` | a string | [`Step::comment`] |
//! | `raw` | a string, written as its UTF-8 bytes | [`Step::raw`] |
//! | `malformed_chunk` | `true` | [`Step::malformed_chunk`] |
//!
//! ## Tool calls
//!
//! `{"name": "get_weather", "arguments": {"city": "Paris"}, "id": "call_1"}`: `name` is
//! required and not empty; `arguments` is any JSON value (default `{}`), streamed as
//! compact JSON in fragments ([`ToolCall::function`]); `raw_arguments`, instead of
//! `arguments`, is an array of strings sent as exactly those fragments
//! ([`ToolCall::with_raw_arguments`]); `id` is optional ([`ToolCall::with_id`]).
//!
//! ## Durations
//!
//! A string with a unit, `"250ms"`, `"1.5s"`, `"2s"` or `"1m"`, or a non-negative number
//! of milliseconds (`250`). At most one day.
//!
//! ## Mocks
//!
//! | Key | Value | Rust equivalent |
//! |---|---|---|
//! | `when` | an object of [matchers](#matchers), all of which must match; missing or `{}` matches every request | [`Mock::given`], [`MockBuilder::and`] |
//! | `reply` | a reply (required, unless `replies` is given) | [`MockBuilder::respond_with`] |
//! | `replies` | a non-empty array of replies for successive matches, the last one repeating | [`MockBuilder::respond_with_sequence`] |
//! | `expect` | a number (`2`), a range (`"1.."`, `"..=3"`, `"2..5"`, `"2..=5"`) or `{"at_least": 1, "at_most": 3}` (either bound optional) | [`Mock::expect`] |
//! | `up_to_n_times` | a number, 1 or more | [`Mock::up_to_n_times`] |
//! | `priority` | 1 (checked first) to 255; 5 by default | [`Mock::with_priority`] |
//! | `name` | a string, shown in verification reports | [`Mock::named`] |
//! | `framed_as` | a [format name](#wire-formats) | [`Mock::framed_as`] |
//!
//! ## Matchers
//!
//! | Key | Value | Rust equivalent |
//! |---|---|---|
//! | `method` | an HTTP method, e.g. `"POST"` | [`matchers::method`] |
//! | `path` | a path starting with `/` | [`matchers::path`] |
//! | `model` | a string | [`matchers::model`] |
//! | `stream` | a boolean | [`matchers::stream`] |
//! | `headers` | an object of header names to exact values | [`matchers::header`] for each |
//! | `header_exists` | an array of header names | [`matchers::header_exists`] for each |
//! | `body_partial_json` | any JSON value | [`matchers::body_partial_json`] |
//! | `last_user_message_contains` | a string | [`matchers::last_user_message_contains`] |
//! | `last_user_message_is` | a string | [`matchers::last_user_message_is`] |
//!
//! ## Wire formats
//!
//! `"openai_chat_completions"`, `"openai_responses"`, `"anthropic_messages"`, `"gemini"`,
//! `"ollama"`, `"plain_text"`: the [`WireFormat`] variants.
//!
//! # A complete example
//!
//! Every key of the format, in one fixture:
//!
//! ```
//! use chatmock::Fixture;
//!
//! let fixture = Fixture::from_json(r#"{
//!   "framed_as": "openai_chat_completions",
//!   "replies": [
//!     { "http_error": "overloaded", "retry_after": "1s" },
//!     { "text": "Hello! How can I help?", "first_token_delay": "200ms", "token_delay": 20 }
//!   ],
//!   "mocks": [
//!     {
//!       "name": "weather question",
//!       "when": {
//!         "method": "POST",
//!         "path": "/v1/chat/completions",
//!         "model": "gpt-4o",
//!         "stream": true,
//!         "headers": { "authorization": "Bearer test-key" },
//!         "header_exists": ["x-request-id"],
//!         "body_partial_json": { "temperature": 0 },
//!         "last_user_message_contains": "weather"
//!       },
//!       "reply": {
//!         "steps": [
//!           { "token": "Let me check." },
//!           { "pause": "300ms" },
//!           { "comment": "still thinking" },
//!           { "tool_call": { "name": "get_weather", "arguments": { "city": "Paris" }, "id": "call_paris" },
//!             "after": "50ms" },
//!           { "tool_call": { "name": "search", "raw_arguments": ["{\"q\": \"ru", "st\"}"] } }
//!         ],
//!         "headers": { "x-request-id": "req_123" },
//!         "event_ids": true,
//!         "reconnection_time": "2s",
//!         "disconnect_after": 4
//!       },
//!       "expect": "..=1",
//!       "priority": 1
//!     },
//!     {
//!       "name": "secrets are refused",
//!       "when": { "last_user_message_is": "Tell me a secret" },
//!       "reply": { "refusal": "I can't help with that.", "finish_reason": "content_filter" },
//!       "framed_as": "anthropic_messages"
//!     },
//!     {
//!       "name": "a flaky model",
//!       "when": { "model": "flaky" },
//!       "replies": [
//!         { "http_error": 429, "error_message": "Slow down.", "retry_after": 1500,
//!           "headers": { "x-ratelimit-remaining-requests": "0" }, "delay_headers": "10ms" },
//!         { "tokens": ["Hel", "lo"], "error_after": { "tokens": 1, "preset": "server_error" } },
//!         { "text": "one two three",
//!           "error_after": { "tokens": 2, "message": "Bad content.", "type": "invalid_response",
//!                            "code": "model_error", "param": "messages", "status": 502 } },
//!         { "text": "Recovered." }
//!       ],
//!       "expect": { "at_most": 4 },
//!       "up_to_n_times": 4
//!     },
//!     {
//!       "name": "framing faults",
//!       "when": { "model": "faulty" },
//!       "reply": {
//!         "steps": [
//!           { "token": "a" },
//!           { "malformed_chunk": true },
//!           { "raw": "data: {\"half\n\n" },
//!           { "refusal": "no", "after": "10ms" }
//!         ],
//!         "crlf_line_endings": true,
//!         "fragment_writes": 7,
//!         "keep_alive": "1s",
//!         "without_done": true,
//!         "stall_after": 2
//!       }
//!     },
//!     { "when": { "model": "cut" }, "reply": { "text": "a b", "end_cleanly_after": 1 } },
//!     { "when": { "model": "reset" },
//!       "reply": { "tool_calls": [{ "name": "ping" }], "reset_connection_after": 0 },
//!       "expect": "0.." }
//!   ]
//! }"#)
//! .unwrap();
//! # drop(fixture);
//! ```
//!
//! [`MockChatServerBuilder::fixture`]: crate::MockChatServerBuilder::fixture
//! [`MockChatServerBuilder::reply`]: crate::MockChatServerBuilder::reply
//! [`MockChatServerBuilder::reply_sequence`]: crate::MockChatServerBuilder::reply_sequence
//! [`MockChatServerBuilder::framed_as`]: crate::MockChatServerBuilder::framed_as
//! [`MockBuilder::and`]: crate::MockBuilder::and
//! [`MockBuilder::respond_with`]: crate::MockBuilder::respond_with
//! [`MockBuilder::respond_with_sequence`]: crate::MockBuilder::respond_with_sequence
//! [`StreamError`]: crate::StreamError
//! [`StreamError::with_status`]: crate::StreamError::with_status

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use serde::de::{Deserialize, Deserializer, Error as _};
use serde_json::{Map, Value};

use crate::fault::StreamError;
use crate::matchers;
use crate::mock::{Mock, Times};
use crate::reply::{Reply, Step, ToolCall};
use crate::server::MockChatServer;
use crate::wire::WireFormat;

/// Mocks, fallback replies and a server-wide format, read from JSON.
///
/// The format is described in the [module documentation](crate::fixture). Give a fixture
/// to [`MockChatServerBuilder::fixture`](crate::MockChatServerBuilder::fixture) to start a
/// server with it, or [`mount`](Self::mount) its mocks on a running server.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use chatmock::{Fixture, MockChatServer};
///
/// let fixture = Fixture::from_json(r#"{
///   "mocks": [{
///     "when": { "model": "gpt-4o", "last_user_message_contains": "weather" },
///     "reply": { "text": "It is sunny.", "token_delay": "5ms" },
///     "expect": 1
///   }],
///   "reply": { "text": "Ask me about the weather." }
/// }"#)
/// .unwrap();
/// let server = MockChatServer::builder().fixture(fixture).start().await;
///
/// let body = r#"{"model":"gpt-4o","messages":[{"role":"user","content":"What is the weather today?"}]}"#;
/// let url = format!("{}/chat/completions", server.openai_base_url());
/// let response = reqwest::Client::new().post(url).body(body).send().await.unwrap();
/// let json: serde_json::Value = response.json().await.unwrap();
/// assert_eq!(json["choices"][0]["message"]["content"], "It is sunny.");
/// // Dropping `server` checks that the mock matched exactly once.
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use = "a Fixture does nothing until it is given to a server"]
pub struct Fixture {
    pub(crate) mocks: Vec<Mock>,
    /// The fallback replies; empty when the fixture has none.
    pub(crate) replies: Vec<Reply>,
    pub(crate) framed_as: Option<WireFormat>,
}

impl Fixture {
    /// Reads and parses the fixture file at `path`.
    ///
    /// ```
    /// use chatmock::Fixture;
    ///
    /// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/fixtures/weather.json");
    /// let fixture = Fixture::load(path).unwrap();
    /// # drop(fixture);
    ///
    /// let error = Fixture::load("no/such/fixture.json").unwrap_err();
    /// assert_eq!(error.file(), Some(std::path::Path::new("no/such/fixture.json")));
    /// ```
    ///
    /// # Errors
    ///
    /// A [`FixtureError`] naming the file, if it cannot be read, is not valid JSON (with
    /// the line and column), or is not a valid fixture (with the path inside it and what
    /// was expected there).
    pub fn load(path: impl AsRef<Path>) -> Result<Fixture, FixtureError> {
        let path = path.as_ref();
        let in_file = |mut error: FixtureError| {
            error.file = Some(path.to_owned());
            error
        };
        let text = std::fs::read_to_string(path).map_err(|error| {
            in_file(FixtureError {
                file: None,
                json_path: String::new(),
                message: format!("cannot read the fixture file: {error}"),
            })
        })?;
        Fixture::from_json(&text).map_err(in_file)
    }

    /// Parses a fixture from JSON text. Errors name no file.
    ///
    /// ```
    /// use chatmock::Fixture;
    ///
    /// let error = Fixture::from_json(r#"{"reply": {"text": "Hi", "token_delay": true}}"#)
    ///     .unwrap_err();
    /// assert_eq!(error.json_path(), "reply.token_delay");
    /// assert_eq!(
    ///     error.to_string(),
    ///     "at reply.token_delay: expected a duration such as \"250ms\", \"1.5s\" or a number \
    ///      of milliseconds, found true"
    /// );
    /// ```
    ///
    /// # Errors
    ///
    /// A [`FixtureError`] if `text` is not valid JSON (with the line and column) or not a
    /// valid fixture (with the path inside it and what was expected there).
    pub fn from_json(text: &str) -> Result<Fixture, FixtureError> {
        let value: Value = serde_json::from_str(text).map_err(|error| {
            let full = error.to_string();
            let position = format!(" at line {} column {}", error.line(), error.column());
            let reason = full.strip_suffix(&position).unwrap_or(&full);
            FixtureError {
                file: None,
                json_path: String::new(),
                message: format!(
                    "invalid JSON at line {}, column {}: {reason}",
                    error.line(),
                    error.column()
                ),
            }
        })?;
        Fixture::from_value(&value)
    }

    fn from_value(value: &Value) -> Result<Fixture, FixtureError> {
        parse_fixture(value, &JsonPath::root()).map_err(FixtureError::from)
    }

    /// Mounts the fixture's mocks on a running server, in order, as [`Mock::mount`] does.
    ///
    /// A running server's fallback reply and format are fixed when it starts, so a
    /// fixture with `reply`, `replies` or `framed_as` must be given to
    /// [`MockChatServerBuilder::fixture`](crate::MockChatServerBuilder::fixture) instead.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use chatmock::{Fixture, MockChatServer};
    ///
    /// let server = MockChatServer::start().await;
    /// Fixture::from_json(r#"{"mocks": [{"when": {"model": "m"}, "reply": {"text": "Hi"}}]}"#)
    ///     .unwrap()
    ///     .mount(&server)
    ///     .await;
    /// # }
    /// ```
    ///
    /// # Panics
    ///
    /// If the fixture has a fallback reply (`reply` or `replies`) or a server-wide
    /// `framed_as`, before mounting anything.
    pub async fn mount(self, server: &MockChatServer) {
        let mut parts = Vec::new();
        if !self.replies.is_empty() {
            parts.push("a fallback reply (\"reply\" or \"replies\")");
        }
        if self.framed_as.is_some() {
            parts.push("a server-wide \"framed_as\"");
        }
        assert!(
            parts.is_empty(),
            "Fixture::mount: this fixture has {}, which a running server cannot take on. \
             Start the server with it instead: MockChatServer::builder().fixture(fixture)\
             .start().await (MockChatServerBuilder::fixture).",
            parts.join(" and ")
        );
        for mock in self.mocks {
            mock.mount(server).await;
        }
    }
}

/// A fixture that could not be loaded: which file, where in it, and what was expected
/// there.
///
/// Its message reads like
/// `fixtures/weather.json: at mocks[2].reply.token_delay: expected a duration such as
/// "250ms", "1.5s" or a number of milliseconds, found true`.
///
/// ```
/// use chatmock::Fixture;
///
/// let error = Fixture::from_json(r#"{"mocks": [{"reply": {"txt": "Hi"}}]}"#).unwrap_err();
/// assert_eq!(error.file(), None);
/// assert_eq!(error.json_path(), "mocks[0].reply.txt");
/// assert!(error.to_string().contains(r#"unknown key "txt""#));
/// ```
pub struct FixtureError {
    file: Option<PathBuf>,
    json_path: String,
    message: String,
}

impl FixtureError {
    /// The fixture file, if the fixture was read from one ([`Fixture::load`]).
    ///
    /// ```
    /// use chatmock::Fixture;
    ///
    /// let error = Fixture::load("missing.json").unwrap_err();
    /// assert_eq!(error.file().unwrap().to_str(), Some("missing.json"));
    /// ```
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// Where in the JSON the problem is, like `mocks[2].reply.steps[3].after`; empty when
    /// it concerns the whole document (the file cannot be read, is not valid JSON, or is
    /// not an object).
    ///
    /// ```
    /// use chatmock::Fixture;
    ///
    /// let json = r#"{"reply": {"steps": [{"token": "a"}, {"pause": "1s", "after": "1s"}]}}"#;
    /// let error = Fixture::from_json(json).unwrap_err();
    /// assert_eq!(error.json_path(), "reply.steps[1].after");
    /// ```
    pub fn json_path(&self) -> &str {
        &self.json_path
    }
}

impl fmt::Display for FixtureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{}: ", file.display())?;
        }
        if !self.json_path.is_empty() {
            write!(f, "at {}: ", self.json_path)?;
        }
        f.write_str(&self.message)
    }
}

// Debug shows the readable message, since `.unwrap()` on a failed load prints Debug.
impl fmt::Debug for FixtureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for FixtureError {}

impl From<Invalid> for FixtureError {
    fn from(invalid: Invalid) -> FixtureError {
        FixtureError {
            file: None,
            json_path: invalid.path,
            message: invalid.message,
        }
    }
}

/// Reads a [`Reply`] written in the fixture format (see the
/// [module documentation](crate::fixture#replies)), so that replies can be part of a
/// test's own serde types. Errors name the path inside the reply.
///
/// ```
/// use chatmock::Reply;
/// use serde_json::json;
///
/// let reply: Reply = serde_json::from_value(json!({ "text": "Hi!", "token_delay": "5ms" }))
///     .unwrap();
/// assert_eq!(reply, Reply::text("Hi!").token_delay(std::time::Duration::from_millis(5)));
///
/// let error = serde_json::from_value::<Reply>(json!({ "text": "Hi!", "token_delay": -1 }))
///     .unwrap_err();
/// assert!(error.to_string().starts_with("at token_delay: expected a duration"));
/// ```
impl<'de> Deserialize<'de> for Reply {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Reply, D::Error> {
        let value = Value::deserialize(deserializer)?;
        parse_reply(&value, &JsonPath::root())
            .map_err(|invalid| D::Error::custom(FixtureError::from(invalid)))
    }
}

/// Reads a [`Fixture`] written in the fixture format (see the
/// [module documentation](crate::fixture)), as part of a larger serde type.
///
/// ```
/// use chatmock::Fixture;
/// use serde_json::json;
///
/// let fixture: Fixture = serde_json::from_value(json!({ "reply": { "text": "Hi!" } })).unwrap();
/// # drop(fixture);
/// ```
impl<'de> Deserialize<'de> for Fixture {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Fixture, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Fixture::from_value(&value).map_err(D::Error::custom)
    }
}

// ---------------------------------------------------------------------------------------
// The converter: JSON values to replies and mocks, tracking where in the document it is.
// ---------------------------------------------------------------------------------------

/// A problem at one place in the document.
#[derive(Debug)]
struct Invalid {
    path: String,
    message: String,
}

type Parsed<T> = Result<T, Invalid>;

/// A place in the document, written as `mocks[2].reply.steps[3].after`.
#[derive(Debug, Clone)]
struct JsonPath(String);

impl JsonPath {
    fn root() -> JsonPath {
        JsonPath(String::new())
    }

    fn key(&self, key: &str) -> JsonPath {
        let plain = key
            .chars()
            .next()
            .is_some_and(|first| !first.is_ascii_digit())
            && key
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '_');
        let mut path = self.0.clone();
        if plain {
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(key);
        } else {
            path.push('[');
            path.push_str(&Value::from(key).to_string());
            path.push(']');
        }
        JsonPath(path)
    }

    fn index(&self, index: usize) -> JsonPath {
        JsonPath(format!("{}[{index}]", self.0))
    }

    fn invalid(&self, message: impl Into<String>) -> Invalid {
        Invalid {
            path: self.0.clone(),
            message: message.into(),
        }
    }

    /// "expected `what`, found <the value>".
    fn expected(&self, what: &str, found: &Value) -> Invalid {
        self.invalid(format!("expected {what}, found {}", describe(found)))
    }
}

/// A short description of a JSON value, for "found ..." in messages.
fn describe(value: &Value) -> String {
    const LONGEST: usize = 40;
    match value {
        Value::String(text) if text.chars().count() > LONGEST => {
            let start: String = text.chars().take(LONGEST).collect();
            let quoted = Value::from(start).to_string();
            format!("{}...\"", &quoted[..quoted.len() - 1])
        }
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => value.to_string(),
        Value::Array(items) if items.is_empty() => "an empty array".to_owned(),
        Value::Array(_) => "an array".to_owned(),
        Value::Object(map) if map.is_empty() => "an empty object".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}

/// A list of keys for messages: `"a", "b" or "c"`.
fn list(keys: &[&str], last: &str) -> String {
    let quoted: Vec<String> = keys.iter().map(|key| format!("\"{key}\"")).collect();
    match quoted.split_last() {
        Some((final_key, [])) => final_key.clone(),
        Some((final_key, rest)) => format!("{} {last} {final_key}", rest.join(", ")),
        None => String::new(),
    }
}

/// A JSON object whose keys have been checked against the allowed ones.
/// The key [`Object::one_of`] found, its value and its path.
type Chosen<'a> = (&'static str, &'a Value, JsonPath);

struct Object<'a> {
    map: &'a Map<String, Value>,
    path: JsonPath,
}

impl<'a> Object<'a> {
    /// `value` as an object of `what` (e.g. "a reply"), with only `keys`.
    fn new(value: &'a Value, path: &JsonPath, what: &str, keys: &[&str]) -> Parsed<Object<'a>> {
        let Value::Object(map) = value else {
            return Err(path.expected(&format!("{what} (an object)"), value));
        };
        let mut unknown: Vec<&String> = map
            .keys()
            .filter(|key| !keys.contains(&key.as_str()))
            .collect();
        unknown.sort();
        if let Some(key) = unknown.first() {
            let suggestion = keys
                .iter()
                .filter(|known| edit_distance(known, key) <= 2)
                .min_by_key(|known| edit_distance(known, key))
                .map(|known| format!(" (did you mean \"{known}\"?)"))
                .unwrap_or_default();
            return Err(path.key(key).invalid(format!(
                "unknown key \"{key}\" in {what}{suggestion}; the keys allowed are {}",
                list(keys, "and")
            )));
        }
        Ok(Object {
            map,
            path: path.clone(),
        })
    }

    fn get(&self, key: &str) -> Option<(&'a Value, JsonPath)> {
        self.map.get(key).map(|value| (value, self.path.key(key)))
    }

    fn has(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    /// The one key of `choices` present, if any, with its value and path; two are an
    /// error at the second, in the order of `choices`.
    fn one_of(&self, choices: &[&'static str], what: &str) -> Parsed<Option<Chosen<'a>>> {
        let mut present = choices
            .iter()
            .filter_map(|key| self.map.get(*key).map(|value| (*key, value)));
        let first = present.next();
        if let (Some((first, _)), Some((second, _))) = (first, present.next()) {
            return Err(self.path.key(second).invalid(format!(
                "{what} takes only one of {}, but this one has both \"{first}\" and \
                 \"{second}\"",
                list(choices, "or")
            )));
        }
        Ok(first.map(|(key, value)| (key, value, self.path.key(key))))
    }
}

/// The Levenshtein distance between two short keys, for "did you mean".
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

fn string<'a>(value: &'a Value, path: &JsonPath) -> Parsed<&'a str> {
    value
        .as_str()
        .ok_or_else(|| path.expected("a string", value))
}

fn boolean(value: &Value, path: &JsonPath) -> Parsed<bool> {
    value
        .as_bool()
        .ok_or_else(|| path.expected("true or false", value))
}

fn array<'a>(value: &'a Value, path: &JsonPath, of: &str) -> Parsed<&'a [Value]> {
    match value {
        Value::Array(items) => Ok(items),
        _ => Err(path.expected(&format!("an array of {of}"), value)),
    }
}

/// Parses each item of an array, with its index in the path.
fn each<T>(
    value: &Value,
    path: &JsonPath,
    of: &str,
    mut parse: impl FnMut(&Value, &JsonPath) -> Parsed<T>,
) -> Parsed<Vec<T>> {
    array(value, path, of)?
        .iter()
        .enumerate()
        .map(|(index, item)| parse(item, &path.index(index)))
        .collect()
}

fn strings(value: &Value, path: &JsonPath) -> Parsed<Vec<String>> {
    each(value, path, "strings", |item, path| {
        string(item, path).map(str::to_owned)
    })
}

/// A whole number from `min` to `max`, described as `what` in errors.
fn whole_number(value: &Value, path: &JsonPath, what: &str, min: u64, max: u64) -> Parsed<u64> {
    value
        .as_u64()
        .filter(|number| (min..=max).contains(number))
        .ok_or_else(|| path.expected(what, value))
}

fn count(value: &Value, path: &JsonPath) -> Parsed<usize> {
    let number = whole_number(
        value,
        path,
        "a number of tokens (0 or more)",
        0,
        u64::from(u32::MAX),
    )?;
    Ok(usize::try_from(number).unwrap_or(usize::MAX))
}

const DURATION: &str = "a duration such as \"250ms\", \"1.5s\" or a number of milliseconds";

/// The longest duration a fixture may give: longer ones are surely mistakes, and bounding
/// them keeps the server's deadlines far from overflowing.
const LONGEST_DURATION: Duration = Duration::from_secs(24 * 60 * 60);

fn duration(value: &Value, path: &JsonPath) -> Parsed<Duration> {
    let parsed = match value {
        Value::Number(number) => match number.as_u64() {
            Some(millis) => Some(Duration::from_millis(millis.min(u64::MAX / 2))),
            None => number
                .as_f64()
                .filter(|millis| *millis >= 0.0)
                .and_then(|millis| Duration::try_from_secs_f64(millis / 1000.0).ok()),
        },
        Value::String(text) => parse_duration(text),
        _ => None,
    };
    let parsed = parsed.ok_or_else(|| path.expected(DURATION, value))?;
    if parsed > LONGEST_DURATION {
        return Err(path.expected(
            "a duration of at most one day (for a stream that never ends, use \"stall_after\")",
            value,
        ));
    }
    Ok(parsed)
}

/// `"250ms"`, `"1.5s"`, `"2m"`: a decimal number and a unit, computed exactly. Numbers
/// too large for a `Duration` saturate, to be reported as too long.
fn parse_duration(text: &str) -> Option<Duration> {
    const NANOS_PER_MILLI: u128 = 1_000_000;
    let (number, unit) = if let Some(number) = text.strip_suffix("ms") {
        (number, NANOS_PER_MILLI)
    } else if let Some(number) = text.strip_suffix('s') {
        (number, 1_000 * NANOS_PER_MILLI)
    } else if let Some(number) = text.strip_suffix('m') {
        (number, 60_000 * NANOS_PER_MILLI)
    } else {
        return None;
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits = |part: &str| part.bytes().all(|byte| byte.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !digits(whole) || !digits(fraction) {
        return None;
    }
    // Only digits remain, so parsing fails only on overflow.
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().unwrap_or(u128::MAX)
    };
    let mut nanos = whole.saturating_mul(unit);
    let mut scale = unit;
    for digit in fraction.bytes() {
        scale /= 10;
        nanos = nanos.saturating_add(u128::from(digit - b'0') * scale);
    }
    Some(match u64::try_from(nanos / 1_000_000_000) {
        Ok(seconds) => Duration::new(seconds, (nanos % 1_000_000_000) as u32),
        Err(_) => Duration::MAX,
    })
}

fn wire_format(value: &Value, path: &JsonPath) -> Parsed<WireFormat> {
    value
        .as_str()
        .and_then(|name| name.parse().ok())
        .ok_or_else(|| {
            let names: Vec<&str> = WireFormat::ALL.iter().map(|format| format.name()).collect();
            path.expected(&format!("a wire format: {}", list(&names, "or")), value)
        })
}

fn status(value: &Value, path: &JsonPath, what: &str) -> Parsed<StatusCode> {
    let number = whole_number(value, path, what, 400, 599)?;
    u16::try_from(number)
        .ok()
        .and_then(|number| StatusCode::from_u16(number).ok())
        .ok_or_else(|| path.expected(what, value))
}

fn header_name(name: &str, path: &JsonPath) -> Parsed<()> {
    HeaderName::from_bytes(name.as_bytes())
        .map(drop)
        .map_err(|_| path.invalid(format!("\"{name}\" is not a valid HTTP header name")))
}

/// A JSON object of header names to string values, checked as HTTP headers.
fn headers<'a>(value: &'a Value, path: &JsonPath) -> Parsed<Vec<(&'a str, &'a str)>> {
    let Value::Object(map) = value else {
        return Err(path.expected(
            "an object of header names to values, such as {\"x-request-id\": \"req_1\"}",
            value,
        ));
    };
    let mut headers = Vec::with_capacity(map.len());
    for (name, header_value) in map {
        let path = path.key(name);
        header_name(name, &path)?;
        let text = string(header_value, &path)?;
        if HeaderValue::from_str(text).is_err() {
            return Err(path.expected(
                "a valid HTTP header value (visible ASCII, spaces and tabs)",
                header_value,
            ));
        }
        headers.push((name.as_str(), text));
    }
    Ok(headers)
}

// --- The fixture --------------------------------------------------------------------------

const FIXTURE: &str = "a fixture";
const FIXTURE_KEYS: &[&str] = &["mocks", "reply", "replies", "framed_as"];

fn parse_fixture(value: &Value, path: &JsonPath) -> Parsed<Fixture> {
    let object = Object::new(value, path, FIXTURE, FIXTURE_KEYS)?;
    let mocks = match object.get("mocks") {
        Some((value, path)) => each(value, &path, "mocks", parse_mock)?,
        None => Vec::new(),
    };
    let replies = replies(&object, FIXTURE)?.unwrap_or_default();
    let framed_as = object
        .get("framed_as")
        .map(|(value, path)| wire_format(value, &path))
        .transpose()?;
    Ok(Fixture {
        mocks,
        replies,
        framed_as,
    })
}

/// The `reply` or the `replies` of an object, if it has either.
fn replies(object: &Object<'_>, what: &str) -> Parsed<Option<Vec<Reply>>> {
    match object.one_of(&["reply", "replies"], what)? {
        Some(("reply", value, path)) => Ok(Some(vec![parse_reply(value, &path)?])),
        Some((_, value, path)) => {
            let replies = each(value, &path, "replies", parse_reply)?;
            if replies.is_empty() {
                return Err(path.expected("at least one reply", value));
            }
            Ok(Some(replies))
        }
        None => Ok(None),
    }
}

// --- Mocks --------------------------------------------------------------------------------

const MOCK: &str = "a mock";
const MOCK_KEYS: &[&str] = &[
    "when",
    "reply",
    "replies",
    "expect",
    "up_to_n_times",
    "priority",
    "name",
    "framed_as",
];

fn parse_mock(value: &Value, path: &JsonPath) -> Parsed<Mock> {
    let object = Object::new(value, path, MOCK, MOCK_KEYS)?;
    let mut builder = Mock::given(matchers::any());
    if let Some((value, path)) = object.get("when") {
        builder = add_matchers(builder, value, &path)?;
    }
    let Some(replies) = replies(&object, MOCK)? else {
        return Err(path.invalid(
            "a mock needs \"reply\" (or \"replies\", a sequence): expected one of them, found \
             neither",
        ));
    };
    let mut mock = builder.respond_with_sequence(replies);
    if let Some((value, path)) = object.get("expect") {
        mock = mock.expect(times(value, &path)?);
    }
    if let Some((value, path)) = object.get("up_to_n_times") {
        let what = "a number of requests, 1 or more (a mock that can never match is a mistake; \
                    use \"expect\": 0 to assert that no request matches)";
        mock = mock.up_to_n_times(whole_number(value, &path, what, 1, u64::MAX)?);
    }
    if let Some((value, path)) = object.get("priority") {
        let what = "a priority from 1 (checked first) to 255";
        let priority = whole_number(value, &path, what, 1, 255)?;
        mock = mock.with_priority(u8::try_from(priority).unwrap_or(u8::MAX));
    }
    if let Some((value, path)) = object.get("name") {
        mock = mock.named(string(value, &path)?);
    }
    if let Some((value, path)) = object.get("framed_as") {
        mock = mock.framed_as(wire_format(value, &path)?);
    }
    Ok(mock)
}

const MATCHERS: &str = "the matchers of \"when\"";
const MATCHER_KEYS: &[&str] = &[
    "method",
    "path",
    "model",
    "stream",
    "headers",
    "header_exists",
    "body_partial_json",
    "last_user_message_contains",
    "last_user_message_is",
];

fn add_matchers(
    mut builder: crate::MockBuilder,
    value: &Value,
    path: &JsonPath,
) -> Parsed<crate::MockBuilder> {
    let object = Object::new(value, path, MATCHERS, MATCHER_KEYS)?;
    if let Some((value, path)) = object.get("method") {
        let method = string(value, &path)?;
        if Method::from_bytes(method.to_ascii_uppercase().as_bytes()).is_err() {
            return Err(path.expected("an HTTP method name such as \"POST\"", value));
        }
        builder = builder.and(matchers::method(method));
    }
    if let Some((value, path)) = object.get("path") {
        let request_path = string(value, &path)?;
        if !request_path.starts_with('/') {
            return Err(path.expected(
                "a path starting with '/', such as \"/v1/chat/completions\"",
                value,
            ));
        }
        builder = builder.and(matchers::path(request_path));
    }
    if let Some((value, path)) = object.get("model") {
        builder = builder.and(matchers::model(string(value, &path)?));
    }
    if let Some((value, path)) = object.get("stream") {
        builder = builder.and(matchers::stream(boolean(value, &path)?));
    }
    if let Some((value, path)) = object.get("headers") {
        for (name, header_value) in headers(value, &path)? {
            builder = builder.and(matchers::header(name, header_value));
        }
    }
    if let Some((value, path)) = object.get("header_exists") {
        let names = each(value, &path, "header names", |item, path| {
            let name = string(item, path)?;
            header_name(name, path)?;
            Ok(name.to_owned())
        })?;
        for name in names {
            builder = builder.and(matchers::header_exists(name));
        }
    }
    if let Some((value, _)) = object.get("body_partial_json") {
        builder = builder.and(matchers::body_partial_json(value.clone()));
    }
    if let Some((value, path)) = object.get("last_user_message_contains") {
        builder = builder.and(matchers::last_user_message_contains(string(value, &path)?));
    }
    if let Some((value, path)) = object.get("last_user_message_is") {
        builder = builder.and(matchers::last_user_message_is(string(value, &path)?));
    }
    Ok(builder)
}

const TIMES: &str = "a number of requests (2), a range such as \"1..\", \"..=3\" or \"2..5\", or \
                     {\"at_least\": 1, \"at_most\": 3}";

/// An expectation: the lower bound and the exclusive upper bound (`None`: unbounded).
fn times(value: &Value, path: &JsonPath) -> Parsed<Times> {
    let (min, end) = match value {
        Value::Number(number) => {
            let exactly = number.as_u64().ok_or_else(|| path.expected(TIMES, value))?;
            (exactly, exactly.checked_add(1))
        }
        Value::String(range) => parse_range(range).ok_or_else(|| path.expected(TIMES, value))?,
        Value::Object(_) => {
            let object = Object::new(value, path, "an expectation", &["at_least", "at_most"])?;
            let bound = |key: &str| {
                object
                    .get(key)
                    .map(|(value, path)| {
                        whole_number(value, &path, "a number of requests", 0, u64::MAX)
                    })
                    .transpose()
            };
            let (at_least, at_most) = (bound("at_least")?, bound("at_most")?);
            if at_least.is_none() && at_most.is_none() {
                return Err(path.expected(TIMES, value));
            }
            (
                at_least.unwrap_or(0),
                at_most.and_then(|at_most| at_most.checked_add(1)),
            )
        }
        _ => return Err(path.expected(TIMES, value)),
    };
    if end.is_some_and(|end| min >= end) {
        return Err(path.expected(
            "an expectation that can be met (the range is empty; write the lower bound first, \
             e.g. \"1..=3\")",
            value,
        ));
    }
    Ok(match end {
        Some(end) => Times::from(min..end),
        None => Times::from(min..),
    })
}

/// `"1.."`, `"..=3"`, `"2..5"`, `"2..=5"`, `".."`: the lower bound and the exclusive
/// upper bound.
fn parse_range(text: &str) -> Option<(u64, Option<u64>)> {
    let (low, high) = text.trim().split_once("..")?;
    let number = |part: &str| -> Option<u64> {
        let part = part.trim();
        if part.is_empty() || !part.bytes().all(|byte| byte.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let min = if low.trim().is_empty() {
        0
    } else {
        number(low)?
    };
    let end = match high.strip_prefix('=') {
        Some(inclusive) => number(inclusive)?.checked_add(1),
        None if high.trim().is_empty() => None,
        None => Some(number(high)?),
    };
    Some((min, end))
}

// --- Replies ------------------------------------------------------------------------------

const REPLY: &str = "a reply";
const CONTENT_KEYS: &[&str] = &[
    "text",
    "tokens",
    "steps",
    "refusal",
    "tool_calls",
    "http_error",
];
/// Options for every reply.
const COMMON_OPTIONS: &[&str] = &["headers", "delay_headers"];
/// Options for HTTP error replies only.
const ERROR_OPTIONS: &[&str] = &["error_message", "retry_after"];
/// Options for streamed replies only.
const STREAM_OPTIONS: &[&str] = &[
    "first_token_delay",
    "token_delay",
    "finish_reason",
    "without_done",
    "error_after",
    "end_cleanly_after",
    "disconnect_after",
    "reset_connection_after",
    "stall_after",
    "event_ids",
    "reconnection_time",
    "keep_alive",
    "crlf_line_endings",
    "fragment_writes",
];
const ENDINGS: &[&str] = &[
    "error_after",
    "end_cleanly_after",
    "disconnect_after",
    "reset_connection_after",
    "stall_after",
];

const HTTP_ERROR: &str = "an HTTP error status from 400 to 599, or a preset: \"rate_limited\", \
                          \"quota_exceeded\", \"overloaded\", \"server_error\", \
                          \"invalid_api_key\" or \"context_length_exceeded\"";

fn parse_reply(value: &Value, path: &JsonPath) -> Parsed<Reply> {
    let keys: Vec<&str> = [CONTENT_KEYS, COMMON_OPTIONS, ERROR_OPTIONS, STREAM_OPTIONS].concat();
    let object = Object::new(value, path, REPLY, &keys)?;
    let Some((content, content_value, content_path)) = object.one_of(CONTENT_KEYS, REPLY)? else {
        return Err(path.invalid(format!(
            "expected a reply with one content key ({}), found none",
            list(CONTENT_KEYS, "or")
        )));
    };

    // Options that do not apply to this kind of reply, before building anything.
    let is_error = content == "http_error";
    let (misplaced, applies_to) = if is_error {
        (STREAM_OPTIONS, "streamed replies")
    } else {
        (ERROR_OPTIONS, "HTTP error replies (\"http_error\")")
    };
    if let Some(key) = misplaced.iter().find(|key| object.has(key)) {
        let hint = if is_error {
            "an HTTP error has no stream; use \"delay_headers\" to delay it"
        } else {
            "use \"error_after\" for an error event in a stream"
        };
        return Err(object.path.key(key).invalid(format!(
            "\"{key}\" applies to {applies_to}, but this reply is {} ({hint})",
            if is_error {
                "an HTTP error"
            } else {
                "a stream"
            }
        )));
    }

    let mut reply = match content {
        "text" => Reply::text(string(content_value, &content_path)?),
        "tokens" => Reply::tokens(strings(content_value, &content_path)?),
        "steps" => Reply::steps(each(content_value, &content_path, "steps", parse_step)?),
        "refusal" => Reply::refusal(string(content_value, &content_path)?),
        "tool_calls" => Reply::tool_calls(each(
            content_value,
            &content_path,
            "tool calls",
            parse_tool_call,
        )?),
        _ => http_error(content_value, &content_path)?,
    };

    if let Some((value, path)) = object.get("headers") {
        for (name, header_value) in headers(value, &path)? {
            reply = reply.header(name, header_value);
        }
    }
    if let Some((value, path)) = object.get("delay_headers") {
        reply = reply.delay_headers(duration(value, &path)?);
    }
    if is_error {
        if let Some((value, path)) = object.get("error_message") {
            reply = reply.error_message(string(value, &path)?);
        }
        if let Some((value, path)) = object.get("retry_after") {
            reply = reply.retry_after(duration(value, &path)?);
        }
        return Ok(reply);
    }
    reply = stream_options(reply, &object)?;
    add_ending(reply, &object)
}

fn http_error(value: &Value, path: &JsonPath) -> Parsed<Reply> {
    Ok(match value {
        Value::String(preset) => match preset.as_str() {
            "rate_limited" => Reply::rate_limited(),
            "quota_exceeded" => Reply::quota_exceeded(),
            "overloaded" => Reply::overloaded(),
            "server_error" => Reply::server_error(),
            "invalid_api_key" => Reply::invalid_api_key(),
            "context_length_exceeded" => Reply::context_length_exceeded(),
            _ => return Err(path.expected(HTTP_ERROR, value)),
        },
        _ => Reply::http_error(status(value, path, HTTP_ERROR)?.as_u16()),
    })
}

/// The options of a streamed reply, except its ending.
fn stream_options(mut reply: Reply, object: &Object<'_>) -> Parsed<Reply> {
    if let Some((value, path)) = object.get("first_token_delay") {
        reply = reply.first_token_delay(duration(value, &path)?);
    }
    if let Some((value, path)) = object.get("token_delay") {
        reply = reply.token_delay(duration(value, &path)?);
    }
    if let Some((value, path)) = object.get("finish_reason") {
        reply = reply.finish_reason(string(value, &path)?);
    }
    if let Some((value, path)) = object.get("without_done") {
        if boolean(value, &path)? {
            reply = reply.without_done();
        }
    }
    if let Some((value, path)) = object.get("event_ids") {
        if boolean(value, &path)? {
            reply = reply.event_ids();
        }
    }
    if let Some((value, path)) = object.get("reconnection_time") {
        reply = reply.reconnection_time(duration(value, &path)?);
    }
    if let Some((value, path)) = object.get("keep_alive") {
        let interval = duration(value, &path)?;
        if interval.is_zero() {
            return Err(path.expected(
                "an interval above zero (zero would send comments without end)",
                value,
            ));
        }
        reply = reply.keep_alive(interval);
    }
    if let Some((value, path)) = object.get("crlf_line_endings") {
        if boolean(value, &path)? {
            reply = reply.crlf_line_endings();
        }
    }
    if let Some((value, path)) = object.get("fragment_writes") {
        let what = "a number of bytes per write, 1 or more";
        let bytes = whole_number(value, &path, what, 1, u64::from(u32::MAX))?;
        reply = reply.fragment_writes(usize::try_from(bytes).unwrap_or(usize::MAX));
    }
    Ok(reply)
}

/// The reply's scripted ending, if it has one: at most one, after no more tokens than the
/// script has.
fn add_ending(reply: Reply, object: &Object<'_>) -> Parsed<Reply> {
    let Some((ending, value, path)) = object.one_of(ENDINGS, "a stream, which ends only once,")?
    else {
        return Ok(reply);
    };
    let (tokens, tokens_path, error) = if ending == "error_after" {
        let (tokens, tokens_path, error) = error_after(value, &path)?;
        (tokens, tokens_path, Some(error))
    } else {
        (count(value, &path)?, path, None)
    };
    let available = reply.content_events().unwrap_or(0);
    if tokens > available {
        return Err(tokens_path.invalid(format!(
            "expected a number of tokens from 0 to {available} (the script has {available}, \
             counting each text token, refusal piece, tool call and fragment of its \
             arguments), found {tokens}"
        )));
    }
    Ok(match (ending, error) {
        (_, Some(error)) => reply.error_after(tokens, error),
        ("end_cleanly_after", _) => reply.end_cleanly_after(tokens),
        ("disconnect_after", _) => reply.disconnect_after(tokens),
        ("reset_connection_after", _) => reply.reset_connection_after(tokens),
        _ => reply.stall_after(tokens),
    })
}

const ERROR_AFTER: &str = "an error event";
const ERROR_AFTER_KEYS: &[&str] = &[
    "tokens", "preset", "message", "type", "code", "param", "status",
];
const STREAM_ERROR_PRESETS: &str = "a preset: \"server_error\", \"overloaded\" or \"rate_limited\"";

/// `{"tokens": n, "preset": ...}` or `{"tokens": n, "message": ..., ...}`.
fn error_after(value: &Value, path: &JsonPath) -> Parsed<(usize, JsonPath, StreamError)> {
    let object = Object::new(value, path, ERROR_AFTER, ERROR_AFTER_KEYS)?;
    let Some((tokens_value, tokens_path)) = object.get("tokens") else {
        return Err(path.invalid(
            "an error event needs \"tokens\": expected the number of tokens sent before it, \
             found none",
        ));
    };
    let tokens = count(tokens_value, &tokens_path)?;
    let error = match object.one_of(&["preset", "message"], ERROR_AFTER)? {
        Some(("preset", value, preset_path)) => {
            if let Some(key) = ["type", "code", "param", "status"]
                .iter()
                .find(|key| object.has(key))
            {
                return Err(object.path.key(key).invalid(format!(
                    "\"{key}\" goes with \"message\" (a custom error), not with \"preset\""
                )));
            }
            match value.as_str() {
                Some("server_error") => StreamError::server_error(),
                Some("overloaded") => StreamError::overloaded(),
                Some("rate_limited") => StreamError::rate_limited(),
                _ => return Err(preset_path.expected(STREAM_ERROR_PRESETS, value)),
            }
        }
        Some((_, value, message_path)) => {
            let mut error = StreamError::new(string(value, &message_path)?);
            if let Some((value, path)) = object.get("type") {
                error = error.with_type(string(value, &path)?);
            }
            if let Some((value, path)) = object.get("code") {
                error = error.with_code(string(value, &path)?);
            }
            if let Some((value, path)) = object.get("param") {
                error = error.with_param(string(value, &path)?);
            }
            if let Some((value, path)) = object.get("status") {
                let what = "an HTTP error status from 400 to 599";
                error = error.with_status(status(value, &path, what)?.as_u16());
            }
            error
        }
        None => {
            return Err(path.invalid(format!(
                "an error event needs \"preset\" ({STREAM_ERROR_PRESETS}) or \"message\" (a \
                 custom error): expected one of them, found neither"
            )))
        }
    };
    Ok((tokens, tokens_path, error))
}

// --- Steps and tool calls -----------------------------------------------------------------

const STEP: &str = "a step";
const STEP_KINDS: &[&str] = &[
    "token",
    "refusal",
    "tool_call",
    "pause",
    "comment",
    "raw",
    "malformed_chunk",
];
const STEP_KEYS: &[&str] = &[
    "token",
    "refusal",
    "tool_call",
    "pause",
    "comment",
    "raw",
    "malformed_chunk",
    "after",
];

fn parse_step(value: &Value, path: &JsonPath) -> Parsed<Step> {
    let object = Object::new(value, path, STEP, STEP_KEYS)?;
    let Some((kind, value, kind_path)) = object.one_of(STEP_KINDS, STEP)? else {
        return Err(path.invalid(format!(
            "expected a step with one of {}, found none",
            list(STEP_KINDS, "or")
        )));
    };
    let step = match kind {
        "token" => Step::token(string(value, &kind_path)?),
        "refusal" => Step::refusal(string(value, &kind_path)?),
        "tool_call" => Step::tool_call(parse_tool_call(value, &kind_path)?),
        "pause" => {
            if object.has("after") {
                return Err(object.path.key("after").invalid(
                    "a pause is itself a delay, so it takes no \"after\": write one pause with \
                     the total duration instead",
                ));
            }
            Step::pause(duration(value, &kind_path)?)
        }
        "comment" => Step::comment(string(value, &kind_path)?),
        "raw" => Step::raw(string(value, &kind_path)?),
        _ => {
            if value != &Value::Bool(true) {
                return Err(kind_path.expected("true", value));
            }
            Step::malformed_chunk()
        }
    };
    Ok(match object.get("after") {
        Some((value, path)) => step.after(duration(value, &path)?),
        None => step,
    })
}

const TOOL_CALL: &str = "a tool call";
const TOOL_CALL_KEYS: &[&str] = &["name", "arguments", "raw_arguments", "id"];

fn parse_tool_call(value: &Value, path: &JsonPath) -> Parsed<ToolCall> {
    let object = Object::new(value, path, TOOL_CALL, TOOL_CALL_KEYS)?;
    let Some((name_value, name_path)) = object.get("name") else {
        return Err(
            path.invalid("a tool call needs \"name\": expected the function's name, found none")
        );
    };
    let name = string(name_value, &name_path)?;
    if name.is_empty() {
        return Err(name_path.expected("a function name (every provider requires one)", name_value));
    }
    let call = match object.one_of(&["arguments", "raw_arguments"], TOOL_CALL)? {
        Some(("raw_arguments", value, path)) => {
            ToolCall::with_raw_arguments(name, strings(value, &path)?)
        }
        Some((_, value, _)) => ToolCall::function(name, value.clone()),
        None => ToolCall::function(name, Value::Object(Map::new())),
    };
    Ok(match object.get("id") {
        Some((value, path)) => call.with_id(string(value, &path)?),
        None => call,
    })
}
