//! A request as the server received it, and its chat-level reading (model, messages,
//! stream flag). Matchers look at it; tests get it back from
//! [`MockChatServer::received_requests`](crate::MockChatServer::received_requests).
//!
//! - `mod.rs`: [`ReceivedRequest`] and the log of its response.
//! - `chat.rs`: [`ChatRequest`] and [`ChatMessage`], which each wire format fills from its
//!   own body shape.
//! - `fault.rs`: [`ChaosFault`], the fault seeded chaos chose for a request.
//! - `outcome.rs`: [`StreamOutcome`], what became of the response.
//! - `secrets.rs`: which headers and query parameters are credentials, and how every
//!   report masks them.
//!
//! These are plain data, on the side of the pipeline: every stage may read them, and they
//! import no stage.

use tokio::time::Instant;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method};
use serde_json::Value;

mod chat;
mod fault;
mod outcome;
pub(crate) mod secrets;

pub use chat::{
    ChatMessage, ChatRequest, DeclaredTool, EarlierToolCall, ResponseFormat, ToolResult,
};
pub use fault::ChaosFault;
pub use outcome::StreamOutcome;

/// A request the server received, with what became of its response.
///
/// Requests come back from
/// [`MockChatServer::received_requests`](crate::MockChatServer::received_requests) in
/// arrival order, and matchers (including closures passed to
/// [`Mock::given`](crate::Mock::given)) inspect the same type.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use chatmock::MockChatServer;
///
/// let server = MockChatServer::start().await;
/// let body = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}]}"#;
/// reqwest::Client::new()
///     .post(format!("{}/chat/completions", server.openai_base_url()))
///     .body(body)
///     .send()
///     .await
///     .unwrap();
///
/// let requests = server.received_requests().await;
/// assert_eq!(requests[0].path(), "/v1/chat/completions");
/// assert_eq!(requests[0].body_value()["model"], "gpt-4o-mini");
/// let chat = requests[0].chat().expect("a chat request");
/// assert_eq!(chat.last_user_message(), Some("Hi"));
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ReceivedRequest {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) query: Option<String>,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    pub(crate) json: Option<Value>,
    pub(crate) chat: Option<ChatRequest>,
    pub(crate) received_at: Instant,
    /// The mounted mock that answered, as `(id, label)`.
    pub(crate) answered_by: Option<(usize, String)>,
    /// The seed the reply's jitter drew its gaps from.
    pub(crate) pacing_seed: Option<u64>,
    /// The fault seeded chaos chose for this request.
    pub(crate) chaos: Option<ChaosFault>,
    pub(crate) response: ResponseLog,
}

/// What the server did with a request, updated while its stream plays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResponseLog {
    pub(crate) status: Option<u16>,
    pub(crate) outcome: StreamOutcome,
    pub(crate) first_event_at: Option<Instant>,
    pub(crate) ended_at: Option<Instant>,
}

impl ReceivedRequest {
    pub(crate) fn new(
        method: Method,
        path: String,
        query: Option<String>,
        headers: HeaderMap,
        body: Bytes,
        json: Option<Value>,
        chat: Option<ChatRequest>,
    ) -> ReceivedRequest {
        ReceivedRequest {
            method,
            path,
            query,
            headers,
            body,
            json,
            chat,
            received_at: Instant::now(),
            answered_by: None,
            pacing_seed: None,
            chaos: None,
            response: ResponseLog {
                status: None,
                outcome: StreamOutcome::Pending,
                first_event_at: None,
                ended_at: None,
            },
        }
    }

    /// The HTTP method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The path, without the query string: `/v1/chat/completions`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The query string without the leading `?`, if there was one.
    pub fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }

    /// All request headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The value of header `name` (case-insensitive), if present and valid text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// The raw body bytes.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The body parsed as JSON into `T`, as wiremock's `Request::body_json` does.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use chatmock::{MockChatServer, Reply};
    ///
    /// #[derive(serde::Deserialize)]
    /// struct Body {
    ///     model: String,
    /// }
    ///
    /// let server = MockChatServer::builder().reply(Reply::text("Hi")).start().await;
    /// reqwest::Client::new()
    ///     .post(format!("{}/chat/completions", server.openai_base_url()))
    ///     .body(r#"{"model":"gpt-4o","messages":[]}"#)
    ///     .send()
    ///     .await
    ///     .unwrap();
    /// let requests = server.received_requests().await;
    /// let body: Body = requests[0].body_json().unwrap();
    /// assert_eq!(body.model, "gpt-4o");
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// If the body is not JSON, or not in the shape of `T`.
    pub fn body_json<T: serde::de::DeserializeOwned>(&self) -> serde_json::Result<T> {
        serde_json::from_slice(&self.body)
    }

    /// The body as a JSON value, or [`Value::Null`] if it is not JSON, so that tests can
    /// index straight into it: `request.body_value()["model"]`.
    pub fn body_value(&self) -> &Value {
        static NOT_JSON: Value = Value::Null;
        self.json.as_ref().unwrap_or(&NOT_JSON)
    }

    /// The chat-level reading of the body, if it is a chat request (a JSON object with a
    /// `messages` array, or a Responses request with `input`).
    pub fn chat(&self) -> Option<&ChatRequest> {
        self.chat.as_ref()
    }

    /// When the server finished reading the request, on the server's clock: tokio's
    /// [`Instant`], which is the real clock unless the server runs in
    /// [virtual time](crate::MockChatServerBuilder::virtual_time) under a paused one.
    /// Subtract two to measure a client's behaviour: `requests[1].received_at() -
    /// requests[0].ended_at().unwrap()` is how long it waited before retrying.
    pub fn received_at(&self) -> Instant {
        self.received_at
    }

    /// The HTTP status the server answered with, or `None` if no response has been sent
    /// yet.
    pub fn response_status(&self) -> Option<u16> {
        self.response.status
    }

    /// What became of the response stream, as far as it had got when this snapshot was
    /// taken.
    pub fn stream_outcome(&self) -> &StreamOutcome {
        &self.response.outcome
    }

    /// When the first event of the stream was handed to the socket.
    pub fn first_event_at(&self) -> Option<Instant> {
        self.response.first_event_at
    }

    /// When the response ended, for whatever reason.
    pub fn ended_at(&self) -> Option<Instant> {
        self.response.ended_at
    }

    /// The seed the reply's [jitter](crate::Jitter) drew this request's gaps from: the
    /// jitter's own, or the one drawn for this request when it names none. Give it to
    /// [`Jitter::seed`](crate::Jitter::seed) to replay the request's exact timing.
    /// `None` for a reply without jitter.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use chatmock::{Jitter, MockChatServer, Reply};
    /// use std::time::Duration;
    ///
    /// let server = MockChatServer::builder()
    ///     .reply(Reply::text("a b c").jitter(Jitter::uniform(Duration::from_millis(1))))
    ///     .start()
    ///     .await;
    /// let body = r#"{"model":"m","messages":[]}"#;
    /// let url = format!("{}/chat/completions", server.openai_base_url());
    /// reqwest::Client::new().post(url).body(body).send().await.unwrap();
    /// let seed = server.received_requests().await[0].pacing_seed();
    /// assert!(seed.is_some());
    /// # }
    /// ```
    pub fn pacing_seed(&self) -> Option<u64> {
        self.pacing_seed
    }

    /// The fault [seeded chaos](crate::Chaos) chose for this request, if any.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use chatmock::{Chaos, ChaosFault, MockChatServer, Reply};
    ///
    /// let server = MockChatServer::builder()
    ///     .reply(Reply::text("Hello"))
    ///     .chaos(Chaos::seeded(1).http_error(1.0, 503))
    ///     .start()
    ///     .await;
    /// let body = r#"{"model":"m","messages":[]}"#;
    /// let url = format!("{}/chat/completions", server.openai_base_url());
    /// let response = reqwest::Client::new().post(url).body(body).send().await.unwrap();
    /// assert_eq!(response.status(), 503);
    /// let requests = server.received_requests().await;
    /// assert_eq!(requests[0].chaos_applied(), Some(&ChaosFault::HttpError { status: 503 }));
    /// # }
    /// ```
    pub fn chaos_applied(&self) -> Option<&ChaosFault> {
        self.chaos.as_ref()
    }

    /// One line describing the request, for reports.
    pub(crate) fn summary(&self) -> String {
        let mut line = format!("{} {}", self.method, self.path);
        if let Some(query) = &self.query {
            line.push('?');
            line.push_str(&secrets::shown_query(query));
        }
        if let Some(chat) = &self.chat {
            line.push_str(&format!(" model={:?}", chat.model()));
            if let Some(text) = chat.last_user_message() {
                line.push_str(&format!(" last user message={:?}", truncate(text, 60)));
            }
        } else if !self.body.is_empty() {
            let text = String::from_utf8_lossy(&self.body);
            line.push_str(&format!(" body={:?}", truncate(&text, 60)));
        }
        // What a failing run needs to be replayed exactly.
        if let Some(seed) = self.pacing_seed {
            line.push_str(&format!(" [pacing seed {seed}]"));
        }
        if let Some(fault) = &self.chaos {
            line.push_str(&format!(" [chaos: {fault}]"));
        }
        line
    }
}

/// The body shown in reports: the first characters of its text.
const SHOWN_BODY_CHARS: usize = 500;

impl ReceivedRequest {
    /// The request's headers and body, indented for a report, credentials masked and
    /// the body cut short.
    pub(crate) fn details(&self, indent: &str) -> String {
        let mut text = String::new();
        for (name, value) in &self.headers {
            let value = String::from_utf8_lossy(value.as_bytes());
            text.push_str(&format!(
                "{indent}{name}: {}\n",
                secrets::shown_header(name.as_str(), &value)
            ));
        }
        if self.body.is_empty() {
            text.push_str(&format!("{indent}(no body)\n"));
        } else {
            let body = String::from_utf8_lossy(&self.body);
            let shown = truncate(&body, SHOWN_BODY_CHARS);
            let cut = if body.chars().nth(SHOWN_BODY_CHARS).is_some() {
                format!(", the first {SHOWN_BODY_CHARS} characters")
            } else {
                String::new()
            };
            text.push_str(&format!(
                "{indent}body ({} bytes{cut}): {shown}\n",
                self.body.len()
            ));
        }
        text
    }
}

fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_owned(),
    }
}
