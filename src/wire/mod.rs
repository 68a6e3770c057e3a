//! Wire formats: how one reply script is framed for the API a client called.
//!
//! A format is one file implementing [`Format`]: how it reads a request body as a
//! conversation, validates it, decides between a stream and one complete response,
//! encodes the script's events as frames, builds the complete response, and shapes its
//! errors, statuses and headers. The trait's defaults are what most formats share, so a
//! file says only where its API differs. [`WireFormat::spec`] is the one registry.
//!
//! - `openai_chat.rs`, `openai_responses.rs`, `anthropic.rs`, `gemini.rs`, `ollama.rs`,
//!   `plain_text.rs`: one file per format.
//! - `frame.rs`: the frames an encoder produces and their layout on the wire (SSE
//!   events and comments, or bytes written verbatim for NDJSON and JSON arrays).
//! - `context.rs`: what every response of one request shares (ids, model, usage).
//! - `json.rs`, `tool_calls.rs`, `error.rs`: helpers several formats use.
//! - `ids.rs`: deterministic response ids.
//! - `rate_limits.rs`: rate-limit headers in each provider's names and units.
//!
//! A format reads the script's events and writes frames; it never waits, writes to a
//! socket or looks at the server's state.

mod anthropic;
mod context;
mod error;
pub(crate) mod frame;
mod gemini;
pub(crate) mod ids;
mod json;
mod ollama;
mod openai_chat;
mod openai_responses;
mod plain_text;
pub(crate) mod rate_limits;
mod tool_calls;

pub(crate) use context::{ResponseContext, Usage};
pub(crate) use error::ApiError;

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::Value;

use crate::request::{ChatRequest, ReceivedRequest};
use crate::script::{ErrorBody, MessageEvent, Script};
use frame::Frame;
use ids::IdGenerator;

/// The wire formats chatmock speaks. Each request is answered in the format of the
/// endpoint it calls (`/v1/chat/completions`, `/v1/messages`, ...); name one with
/// [`Mock::wire_format`](crate::Mock::wire_format) or
/// [`MockChatServerBuilder::wire_format`](crate::MockChatServerBuilder::wire_format) for
/// clients that call other paths, such as a gateway's or a proxy's.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use chatmock::{MockChatServer, Reply, WireFormat};
///
/// // A gateway that serves Anthropic's API under its own prefix.
/// let server = MockChatServer::builder()
///     .wire_format(WireFormat::AnthropicMessages)
///     .reply(Reply::text("Hi!"))
///     .start()
///     .await;
/// let body = serde_json::json!({
///     "model": "claude-sonnet-4-5", "max_tokens": 64,
///     "messages": [{ "role": "user", "content": "Hello" }]
/// });
/// let url = format!("{}/gateway/anthropic/v1/messages", server.uri());
/// let response = reqwest::Client::new().post(url).json(&body).send().await.unwrap();
/// let message: serde_json::Value = response.json().await.unwrap();
/// assert_eq!(message["content"][0]["text"], "Hi!");
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WireFormat {
    /// OpenAI Chat Completions: `chat.completion.chunk` events, then `data: [DONE]`.
    OpenAiChatCompletions,
    /// OpenAI Responses: typed `response.*` events with sequence numbers, no `[DONE]`.
    OpenAiResponses,
    /// Anthropic Messages: `message_start` ... `message_stop`, each with an `event:` line.
    AnthropicMessages,
    /// Google Gemini: `GenerateContentResponse` chunks, as SSE when the query has
    /// `alt=sse` (or the path is not one of Gemini's own), else as one JSON array; a path
    /// ending in `:generateContent` gets one complete response.
    Gemini,
    /// Ollama's chat: newline-delimited JSON; streams unless the body says
    /// `"stream": false`.
    Ollama,
    /// The original demo's format: `data: <token>` per event, then `data: [DONE]`.
    /// Every request streams.
    PlainText,
}

impl WireFormat {
    /// Every format, in the order of the README's table.
    ///
    /// ```
    /// use chatmock::WireFormat;
    ///
    /// assert!(WireFormat::ALL.contains(&WireFormat::Ollama));
    /// ```
    pub const ALL: &'static [WireFormat] = &[
        WireFormat::OpenAiChatCompletions,
        WireFormat::OpenAiResponses,
        WireFormat::AnthropicMessages,
        WireFormat::Gemini,
        WireFormat::Ollama,
        WireFormat::PlainText,
    ];

    /// The format's name in fixture files and on the command line:
    /// `openai_chat_completions`, `openai_responses`, `anthropic_messages`, `gemini`,
    /// `ollama` or `plain_text`.
    ///
    /// ```
    /// use chatmock::WireFormat;
    ///
    /// assert_eq!(WireFormat::AnthropicMessages.name(), "anthropic_messages");
    /// assert_eq!("ollama".parse::<WireFormat>(), Ok(WireFormat::Ollama));
    /// ```
    pub fn name(self) -> &'static str {
        self.spec().name()
    }

    /// The implementation of the format: the one place a format is registered.
    pub(crate) fn spec(self) -> &'static dyn Format {
        match self {
            WireFormat::OpenAiChatCompletions => &openai_chat::OpenAiChat,
            WireFormat::OpenAiResponses => &openai_responses::OpenAiResponses,
            WireFormat::AnthropicMessages => &anthropic::Anthropic,
            WireFormat::Gemini => &gemini::Gemini,
            WireFormat::Ollama => &ollama::Ollama,
            WireFormat::PlainText => &plain_text::PlainText,
        }
    }
}

impl std::fmt::Display for WireFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The error of parsing a [`WireFormat`] from a name it does not have; its message lists
/// the names there are.
///
/// ```
/// use chatmock::WireFormat;
///
/// let error = "openai".parse::<WireFormat>().unwrap_err();
/// assert!(error.to_string().starts_with("\"openai\" is not a wire format"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownWireFormat(String);

impl std::fmt::Display for UnknownWireFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = WireFormat::ALL.iter().map(|format| format.name()).collect();
        write!(
            f,
            "{:?} is not a wire format; use one of {}",
            self.0,
            names.join(", ")
        )
    }
}

impl std::error::Error for UnknownWireFormat {}

impl std::str::FromStr for WireFormat {
    type Err = UnknownWireFormat;

    fn from_str(name: &str) -> Result<WireFormat, UnknownWireFormat> {
        WireFormat::ALL
            .iter()
            .copied()
            .find(|format| format.name() == name)
            .ok_or_else(|| UnknownWireFormat(name.to_owned()))
    }
}

const EVENT_STREAM: &str = "text/event-stream; charset=utf-8";

/// What a wire format does, one implementation per file. The defaults are what most
/// formats share: a `POST` endpoint, `"stream": true` to stream, SSE, no extra headers,
/// error statuses as given.
pub(crate) trait Format: Sync {
    /// The name in fixture files and on the command line.
    fn name(&self) -> &'static str;

    /// The paths served without any mock, as written in error messages.
    fn paths(&self) -> &'static [&'static str];

    /// Whether `path` is one of the format's own endpoints.
    fn serves(&self, path: &str) -> bool {
        self.paths().contains(&path)
    }

    /// The one method the format's endpoints accept.
    fn method(&self) -> &'static Method {
        &Method::POST
    }

    /// The conversation of a body in this format's shape, or `None` if the body is not
    /// in its shape (so another format may read it).
    fn read_chat(&self, json: &Value, path: &str) -> Option<ChatRequest>;

    /// Checks the request the way the real API would before doing any work.
    fn validate(&self, _request: &ReceivedRequest) -> Result<(), ApiError> {
        Ok(())
    }

    /// Whether the request asked for a stream rather than one complete response.
    fn wants_stream(&self, request: &ReceivedRequest) -> bool {
        request.chat().is_some_and(ChatRequest::is_stream)
    }

    /// A fresh id for one response, in the provider's style.
    fn response_id(&self, ids: &IdGenerator) -> String {
        ids.alphanumeric("chatcmpl-", 29)
    }

    /// The encoder of one response stream; `request` carries the format's stream options.
    fn encoder(&self, request: &ReceivedRequest, context: ResponseContext) -> Box<dyn Encoder>;

    /// The complete JSON response to a non-streaming request.
    fn complete_response(&self, script: &Script, context: &ResponseContext) -> Value;

    /// Headers the real service sends on every response.
    fn headers(&self, _context: &ResponseContext) -> HeaderMap {
        HeaderMap::new()
    }

    /// The body of an error response with `status`, in the provider's shape.
    fn error_body(&self, status: StatusCode, error: &ErrorBody, context: &ResponseContext)
        -> Value;

    /// The status the provider uses for an error of `status`.
    fn error_status(&self, status: StatusCode) -> StatusCode {
        status
    }

    /// The rate-limit headers the provider sends with every response, for `reading`.
    /// None by default: Gemini and Ollama send none.
    fn rate_limit_headers(
        &self,
        _reading: &rate_limits::RateLimitReading,
        _headers: &mut HeaderMap,
    ) {
    }

    /// The content type of a streamed response.
    fn stream_content_type(&self, _request: &ReceivedRequest) -> HeaderValue {
        HeaderValue::from_static(EVENT_STREAM)
    }
}

/// Turns the message events of a script into frames for one response stream.
pub(crate) trait Encoder: Send {
    fn encode(&mut self, event: MessageEvent<'_>, frames: &mut Vec<Frame>);

    /// What to send when a stream has been silent for the keep-alive interval, if the
    /// format has a way to say nothing.
    fn keep_alive(&self) -> Option<Frame> {
        Some(Frame::Comment("keep-alive".to_owned()))
    }
}

/// Reads a request body as a conversation: in the shape of `format` first, where the
/// path names one, then in whichever format's shape it has.
pub(crate) fn read_chat(
    json: &Value,
    path: &str,
    format: Option<WireFormat>,
) -> Option<ChatRequest> {
    format
        .into_iter()
        .chain(WireFormat::ALL.iter().copied())
        .find_map(|format| format.spec().read_chat(json, path))
}

/// A known endpoint: its format and the one method it accepts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Endpoint {
    pub(crate) format: WireFormat,
    pub(crate) method: &'static Method,
}

impl Endpoint {
    /// The endpoint a path is: one of a format's own, or any path at all when the server
    /// frames everything as `wire_format`.
    pub(crate) fn for_request(path: &str, wire_format: Option<WireFormat>) -> Option<Endpoint> {
        let format = wire_format.or_else(|| {
            WireFormat::ALL
                .iter()
                .copied()
                .find(|format| format.spec().serves(path))
        })?;
        Some(Endpoint {
            format,
            method: format.spec().method(),
        })
    }

    /// A one-line list of the endpoints, for error messages.
    pub(crate) fn list() -> String {
        WireFormat::ALL
            .iter()
            .flat_map(|format| {
                let spec = format.spec();
                spec.paths()
                    .iter()
                    .map(move |path| format!("{} {path}", spec.method()))
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    //! Besides the registry's own tests, the helpers the formats' tests share: a request
    //! read the way the server reads one, and the frames an encoder makes of events.

    use axum::body::Bytes;
    use serde_json::json;

    use super::*;

    /// A `POST` of `body` to `path`, read as `http::answer` reads it: as a chat in the
    /// shape of the endpoint the path names, else in whichever shape the body has.
    pub(super) fn request(path: &str, query: Option<&str>, body: Value) -> ReceivedRequest {
        let endpoint = Endpoint::for_request(path, None);
        let chat = read_chat(&body, path, endpoint.map(|endpoint| endpoint.format));
        ReceivedRequest::new(
            Method::POST,
            path.to_owned(),
            query.map(str::to_owned),
            HeaderMap::new(),
            Bytes::from(body.to_string()),
            Some(body),
            chat,
        )
    }

    /// The encoder `format` makes for `request`, through the registry, so that the
    /// stream options it reads from the request are the format's own.
    pub(super) fn encoder(format: WireFormat, request: &ReceivedRequest) -> Box<dyn Encoder> {
        let context = ResponseContext::for_request(request, format, &IdGenerator::default());
        format.spec().encoder(request, context)
    }

    /// The frames each event makes, event by event.
    pub(super) fn frames_per_event(
        encoder: &mut dyn Encoder,
        events: &[MessageEvent<'_>],
    ) -> Vec<Vec<Frame>> {
        events
            .iter()
            .map(|event| {
                let mut frames = Vec::new();
                encoder.encode(*event, &mut frames);
                frames
            })
            .collect()
    }

    /// All the frames a stream of `events` makes.
    pub(super) fn frames(encoder: &mut dyn Encoder, events: &[MessageEvent<'_>]) -> Vec<Frame> {
        frames_per_event(encoder, events).concat()
    }

    /// The start of tool call `index`, with no scripted id.
    pub(super) fn call(index: usize, name: &str) -> MessageEvent<'_> {
        MessageEvent::ToolCallStart {
            index,
            id: None,
            name,
        }
    }

    /// The start of tool call `index`, with the id the script gave it.
    pub(super) fn call_with_id<'a>(index: usize, id: &'a str, name: &'a str) -> MessageEvent<'a> {
        MessageEvent::ToolCallStart {
            index,
            id: Some(id),
            name,
        }
    }

    /// A fragment of tool call `index`'s arguments.
    pub(super) fn args(index: usize, fragment: &str) -> MessageEvent<'_> {
        MessageEvent::ToolArguments { index, fragment }
    }

    /// `body`'s chat reading as `model | role: content | ...`, for tables.
    fn show(chat: Option<ChatRequest>) -> Option<String> {
        chat.map(|chat| {
            std::iter::once(chat.model().to_owned())
                .chain(
                    chat.messages()
                        .iter()
                        .map(|message| format!("{}: {}", message.role(), message.content())),
                )
                .collect::<Vec<_>>()
                .join(" | ")
        })
    }

    #[test]
    fn read_chat_reads_the_endpoints_shape_and_falls_back_to_the_bodys() {
        let messages = json!({
            "model": "m", "system": "Be brief.",
            "messages": [{ "role": "user", "content": "Hi" }]
        });
        let input = json!({ "model": "m", "instructions": "Be brief.", "input": "Hi" });
        let contents = json!({ "contents": [
            { "parts": [{ "text": "Hi" }] }, { "role": "model", "parts": [{ "text": "Yo" }] }
        ] });
        let gemini_path = "/v1beta/models/gemini-x:generateContent";
        // What the case shows, the body, its path, the format the endpoint names, and
        // the reading.
        type Case<'a> = (
            &'a str,
            &'a Value,
            &'a str,
            Option<WireFormat>,
            Option<&'a str>,
        );
        let cases: Vec<Case<'_>> = vec![
            (
                "Anthropic's top-level system prompt comes first",
                &messages,
                "/v1/messages",
                Some(WireFormat::AnthropicMessages),
                Some("m | system: Be brief. | user: Hi"),
            ),
            (
                "Responses' instructions and string input",
                &input,
                "/v1/responses",
                Some(WireFormat::OpenAiResponses),
                Some("m | system: Be brief. | user: Hi"),
            ),
            (
                "Gemini's reading takes the model from the path",
                &contents,
                gemini_path,
                Some(WireFormat::Gemini),
                Some("gemini-x | user: Hi | assistant: Yo"),
            ),
            (
                "a Chat Completions body at a Gemini endpoint is still read",
                &messages,
                gemini_path,
                Some(WireFormat::Gemini),
                Some("m | system: Be brief. | user: Hi"),
            ),
            (
                "a Gemini body at a Chat Completions endpoint is read as Gemini's, with \
                 no model, since neither the body nor the path names one",
                &contents,
                "/v1/chat/completions",
                Some(WireFormat::OpenAiChatCompletions),
                Some(" | user: Hi | assistant: Yo"),
            ),
            (
                "a Responses body at an Ollama endpoint",
                &input,
                "/api/chat",
                Some(WireFormat::Ollama),
                Some("m | system: Be brief. | user: Hi"),
            ),
            (
                "no endpoint: the body's shape decides",
                &input,
                "/anything",
                None,
                Some("m | system: Be brief. | user: Hi"),
            ),
        ];
        for (case, body, path, format, expected) in cases {
            assert_eq!(
                show(read_chat(body, path, format)),
                expected.map(str::to_owned),
                "{case}"
            );
        }
        let not_a_chat = json!({ "prompt": "Hi" });
        for format in WireFormat::ALL.iter().copied().map(Some).chain([None]) {
            assert_eq!(read_chat(&not_a_chat, "/v1/chat/completions", format), None);
        }
    }

    #[test]
    fn each_known_path_is_its_formats_endpoint() {
        let cases: &[(&str, Option<WireFormat>, Method)] = &[
            (
                "/v1/chat/completions",
                Some(WireFormat::OpenAiChatCompletions),
                Method::POST,
            ),
            (
                "/v1/responses",
                Some(WireFormat::OpenAiResponses),
                Method::POST,
            ),
            (
                "/v1/messages",
                Some(WireFormat::AnthropicMessages),
                Method::POST,
            ),
            (
                "/v1beta/models/gemini-2.0-flash:streamGenerateContent",
                Some(WireFormat::Gemini),
                Method::POST,
            ),
            (
                "/v1beta/models/gemini-2.0-flash:generateContent",
                Some(WireFormat::Gemini),
                Method::POST,
            ),
            (
                "/v1/models/gemini-2.0-flash:generateContent",
                Some(WireFormat::Gemini),
                Method::POST,
            ),
            (
                "/v1alpha/models/gemini-2.0-flash:streamGenerateContent",
                Some(WireFormat::Gemini),
                Method::POST,
            ),
            ("/api/chat", Some(WireFormat::Ollama), Method::POST),
            // The demo's page opens an EventSource, which can only GET.
            ("/stream", Some(WireFormat::PlainText), Method::GET),
            ("/v1/embeddings", None, Method::POST),
            (
                "/v1beta/models/gemini-2.0-flash:countTokens",
                None,
                Method::POST,
            ),
            // The APIs' real paths only: a base URL without /v1 is a mistake the real
            // API answers with a 404.
            ("/chat/completions", None, Method::POST),
            ("/responses", None, Method::POST),
            ("/messages", None, Method::POST),
            // Paths match exactly: a prefix or a trailing slash is another path.
            ("/gateway/v1/chat/completions", None, Method::POST),
            ("/v1/chat/completions/", None, Method::POST),
            ("/", None, Method::POST),
        ];
        for (path, format, method) in cases {
            let endpoint = Endpoint::for_request(path, None);
            assert_eq!(endpoint.map(|endpoint| endpoint.format), *format, "{path}");
            if let Some(endpoint) = endpoint {
                assert_eq!(endpoint.method, method, "{path}");
            }
        }
    }

    #[test]
    fn every_listed_path_is_served_by_its_own_format_only() {
        // The first format that serves a path wins, so a path two formats claimed
        // would silently belong to the earlier one.
        for format in WireFormat::ALL.iter().copied() {
            for path in format.spec().paths() {
                let path = path.replace("{model}", "some-model");
                let claimed_by: Vec<WireFormat> = WireFormat::ALL
                    .iter()
                    .copied()
                    .filter(|other| other.spec().serves(&path))
                    .collect();
                assert_eq!(claimed_by, [format], "{path}");
            }
        }
    }

    #[test]
    fn a_wire_format_override_takes_every_path_with_its_method() {
        for format in WireFormat::ALL.iter().copied() {
            for path in ["/gateway/anything", "/v1/chat/completions", "/stream", "/"] {
                let endpoint = Endpoint::for_request(path, Some(format))
                    .unwrap_or_else(|| panic!("{format} at {path}"));
                assert_eq!(endpoint.format, format, "{path}");
                assert_eq!(
                    endpoint.method,
                    format.spec().method(),
                    "{format} at {path}"
                );
            }
        }
    }

    #[test]
    fn every_format_name_parses_back_to_its_format() {
        for format in WireFormat::ALL.iter().copied() {
            assert_eq!(format.name().parse::<WireFormat>(), Ok(format));
            assert_eq!(format.to_string(), format.name());
        }
        let mut names: Vec<&str> = WireFormat::ALL.iter().map(|format| format.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), WireFormat::ALL.len(), "names are unique");
    }

    #[test]
    fn an_unknown_name_is_an_error_that_lists_every_name() {
        // Names are matched exactly: no case folding, no trimming.
        for name in ["", "openai", "Ollama", " ollama", "gemini "] {
            let error = name.parse::<WireFormat>().unwrap_err();
            let message = error.to_string();
            assert!(
                message.starts_with(&format!("{name:?} is not a wire format")),
                "{message}"
            );
            for format in WireFormat::ALL {
                assert!(message.contains(format.name()), "{message}");
            }
        }
    }
}
