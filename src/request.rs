//! A request as the server received it, and its chat-level reading (model, messages,
//! stream flag). Matchers look at it; tests get it back from
//! [`MockChatServer::received_requests`](crate::MockChatServer::received_requests).

use std::time::Instant;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method};
use serde_json::Value;

use crate::recording::StreamOutcome;

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
/// assert_eq!(requests[0].body_json()["model"], "gpt-4o-mini");
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
    ) -> ReceivedRequest {
        let json: Option<Value> = serde_json::from_slice(&body).ok();
        let chat = json
            .as_ref()
            .and_then(|json| ChatRequest::from_json(json, &path));
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

    /// The body parsed as JSON, or [`Value::Null`] if it is not JSON, so that tests can
    /// index straight into it: `request.body_json()["model"]`.
    pub fn body_json(&self) -> Value {
        self.json.clone().unwrap_or(Value::Null)
    }

    /// The chat-level reading of the body, if it is a chat request (a JSON object with a
    /// `messages` array, or a Responses request with `input`).
    pub fn chat(&self) -> Option<&ChatRequest> {
        self.chat.as_ref()
    }

    /// When the server finished reading the request.
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

    /// One line describing the request, for reports.
    pub(crate) fn summary(&self) -> String {
        let mut line = format!("{} {}", self.method, self.path);
        if let Some(query) = &self.query {
            line.push('?');
            line.push_str(query);
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
        line
    }
}

fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_owned(),
    }
}

/// The chat-level reading of a request body: model, messages and stream flag.
///
/// Chat Completions' `messages` are read as they are (after Anthropic's `system`
/// prompt, as a `system` message, where there is one); a Responses request's
/// `instructions` become a `system` message, followed by its `input` (a string is one
/// `user` message); a Gemini request's `systemInstruction` and `contents` likewise, with
/// the model taken from the path. Message content is read as text: a plain string, or the
/// `text` of every part of an array of content parts, joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatRequest {
    model: String,
    messages: Vec<ChatMessage>,
    stream: bool,
}

/// One message of a [`ChatRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    role: String,
    content: String,
}

impl ChatRequest {
    /// Reads Chat Completions' `messages`, or Responses' `instructions` and `input` (a
    /// string, or an array of messages).
    fn from_json(json: &Value, path: &str) -> Option<ChatRequest> {
        let message = |message: &Value| ChatMessage {
            role: message["role"].as_str().unwrap_or("user").to_owned(),
            content: content_text(&message["content"]),
        };
        let messages = match (json.get("messages"), json.get("input")) {
            (Some(Value::Array(messages)), _) => {
                // Anthropic sends the system prompt beside the messages.
                let system = json.get("system").map(|system| ChatMessage {
                    role: "system".to_owned(),
                    content: content_text(system),
                });
                system
                    .into_iter()
                    .chain(messages.iter().map(message))
                    .collect()
            }
            (None, Some(input)) => {
                let instructions = json["instructions"].as_str().map(|text| ChatMessage {
                    role: "system".to_owned(),
                    content: text.to_owned(),
                });
                let input: Vec<ChatMessage> = match input {
                    Value::String(text) => vec![ChatMessage {
                        role: "user".to_owned(),
                        content: text.clone(),
                    }],
                    Value::Array(items) => items.iter().map(message).collect(),
                    _ => return None,
                };
                instructions.into_iter().chain(input).collect()
            }
            (None, None) => gemini_messages(json)?,
            _ => return None,
        };
        let model = json["model"]
            .as_str()
            .or_else(|| gemini_model_and_method(path).map(|(model, _)| model))
            .unwrap_or_default();
        Some(ChatRequest {
            model: model.to_owned(),
            messages,
            stream: json["stream"].as_bool().unwrap_or(false),
        })
    }

    /// The requested model (empty if the request named none).
    pub fn model(&self) -> &str {
        &self.model
    }

    /// The messages, in order.
    pub fn messages(&self) -> &[ChatMessage] {
        &self.messages
    }

    /// Whether the client asked for a stream (`"stream": true`).
    pub fn is_stream(&self) -> bool {
        self.stream
    }

    /// The text of the last message whose role is `user`.
    pub fn last_user_message(&self) -> Option<&str> {
        self.messages
            .iter()
            .rev()
            .find(|message| message.role == "user")
            .map(|message| message.content.as_str())
    }
}

impl ChatMessage {
    /// The role: `system`, `developer`, `user`, `assistant`, `tool`, ...
    pub fn role(&self) -> &str {
        &self.role
    }

    /// The text content.
    pub fn content(&self) -> &str {
        &self.content
    }
}

/// Gemini's `systemInstruction` and `contents`, whose parts carry the text and whose
/// `model` role is the assistant.
fn gemini_messages(json: &Value) -> Option<Vec<ChatMessage>> {
    let contents = json.get("contents")?.as_array()?;
    let text = |parts: &Value| content_text(parts);
    let system = json
        .get("systemInstruction")
        .map(|instruction| ChatMessage {
            role: "system".to_owned(),
            content: text(&instruction["parts"]),
        });
    let messages = contents.iter().map(|content| ChatMessage {
        role: match content["role"].as_str() {
            Some("model") => "assistant".to_owned(),
            Some(role) => role.to_owned(),
            None => "user".to_owned(),
        },
        content: text(&content["parts"]),
    });
    Some(system.into_iter().chain(messages).collect())
}

/// The model and method of a Gemini path, `/{version}/models/{model}:{method}`.
pub(crate) fn gemini_model_and_method(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix('/')?;
    let (version, rest) = rest.split_once('/')?;
    if !matches!(version, "v1" | "v1beta" | "v1alpha") {
        return None;
    }
    let target = rest.strip_prefix("models/")?;
    let (model, method) = target.rsplit_once(':')?;
    (!model.is_empty() && !model.contains('/')).then_some((model, method))
}

fn content_text(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|part| part.get("text").and_then(Value::as_str))
            .collect(),
        _ => String::new(),
    }
}
