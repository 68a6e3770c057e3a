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
//! - `json.rs`, `tool_calls.rs`, `reasoning.rs`, `error.rs`: helpers several formats use.
//! - `embeddings.rs`: the deterministic vectors of the formats' embeddings endpoints.
//! - `ids.rs`: deterministic response ids.
//! - `rate_limits.rs`: rate-limit headers in each provider's names and units.
//!
//! A format reads the script's events and writes frames; it never waits, writes to a
//! socket or looks at the server's state.

mod anthropic;
mod context;
mod embeddings;
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
pub(crate) mod reasoning;
mod tool_calls;

pub(crate) use context::{ResponseContext, Tokens, Usage};
pub(crate) use error::ApiError;
pub(crate) use json::value_bytes;

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

    /// The complete JSON response to a non-streaming request, serialised as `serde_json`
    /// writes a `Value`: compact, with every object's keys in sorted order.
    fn complete_response(&self, script: &Script, context: &ResponseContext) -> Vec<u8>;

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

    /// The format's embeddings and model-list endpoints with their methods, as written in
    /// error messages (`GET /v1/models`).
    fn service_paths(&self) -> &'static [&'static str] {
        &[]
    }

    /// Whether `path` is one of the format's model-list endpoints (always `GET`): the
    /// list, or one model of it.
    fn serves_models(&self, _path: &str) -> bool {
        false
    }

    /// The models a server lists when it was given no list and its mocks name none
    /// beyond these: a few of the provider's common names.
    fn default_models(&self) -> &'static [&'static str] {
        &[]
    }

    /// The response to a model-list request for `models`: the list (paged where the API
    /// pages), or the one model the path names, or the API's 404 for a model not listed.
    fn models(
        &self,
        _path: &str,
        _request: &ReceivedRequest,
        _models: &[String],
        _context: &ResponseContext,
    ) -> Result<Value, ApiError> {
        Err(ApiError::invalid_request(
            StatusCode::NOT_FOUND,
            format!("chatmock: {} has no model list", self.name()),
        ))
    }

    /// Whether `path` is one of the format's embeddings endpoints (always `POST`).
    fn serves_embeddings(&self, _path: &str) -> bool {
        false
    }

    /// The embeddings response to `request`, with deterministic vectors
    /// (`embeddings.rs`), or the API's error for a request it rejects.
    fn embeddings(
        &self,
        _request: &ReceivedRequest,
        _context: &ResponseContext,
    ) -> Result<Value, ApiError> {
        Err(ApiError::invalid_request(
            StatusCode::NOT_FOUND,
            format!("chatmock: {} has no embeddings endpoint", self.name()),
        ))
    }
}

/// The value of `key` in a request's query string, if it has one.
pub(crate) fn query_value<'a>(request: &'a ReceivedRequest, key: &str) -> Option<&'a str> {
    request
        .query()?
        .split('&')
        .find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='))
}

/// The model a request to a model-list path asks about: `None` for the whole list,
/// `Some(id)` for one model (`/v1/models/{id}`, `/v1beta/models/{model}`).
pub(crate) fn requested_model<'a>(path: &'a str, list_path: &str) -> Option<&'a str> {
    path.strip_prefix(list_path)?
        .strip_prefix('/')
        .filter(|id| !id.is_empty() && !id.contains('/') && !id.contains(':'))
}

/// What an endpoint answers: a chat (a script, framed by its format), embeddings, or
/// the list of models.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Service {
    Chat,
    Embeddings,
    Models,
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

/// A known endpoint: its format, what it serves and the one method it accepts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Endpoint {
    pub(crate) format: WireFormat,
    pub(crate) method: &'static Method,
    pub(crate) service: Service,
}

impl Endpoint {
    /// The endpoint a path is: one of a format's embeddings endpoints, one of its chat
    /// endpoints, or any other path at all when the server frames everything as
    /// `wire_format`.
    pub(crate) fn for_request(path: &str, wire_format: Option<WireFormat>) -> Option<Endpoint> {
        if let Some(format) = WireFormat::ALL
            .iter()
            .copied()
            .find(|format| format.spec().serves_embeddings(path))
        {
            return Some(Endpoint {
                format,
                method: &Method::POST,
                service: Service::Embeddings,
            });
        }
        let native = WireFormat::ALL
            .iter()
            .copied()
            .find(|format| format.spec().serves(path));
        if native.is_none() {
            if let Some(format) = WireFormat::ALL
                .iter()
                .copied()
                .find(|format| format.spec().serves_models(path))
            {
                return Some(Endpoint {
                    format,
                    method: &Method::GET,
                    service: Service::Models,
                });
            }
        }
        let format = wire_format.or(native)?;
        Some(Endpoint {
            format,
            method: format.spec().method(),
            service: Service::Chat,
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
                    .chain(spec.service_paths().iter().map(|path| (*path).to_owned()))
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
                assert_eq!(endpoint.service, Service::Chat, "{path}");
            }
        }
    }

    #[test]
    fn each_embeddings_path_is_its_formats_even_under_a_wire_format_override() {
        let cases: &[(&str, WireFormat)] = &[
            ("/v1/embeddings", WireFormat::OpenAiChatCompletions),
            ("/api/embed", WireFormat::Ollama),
            (
                "/v1beta/models/text-embedding-004:embedContent",
                WireFormat::Gemini,
            ),
            (
                "/v1beta/models/gemini-embedding-001:batchEmbedContents",
                WireFormat::Gemini,
            ),
        ];
        for (path, format) in cases {
            for wire_format in [None, Some(WireFormat::AnthropicMessages)] {
                let endpoint = Endpoint::for_request(path, wire_format).unwrap();
                assert_eq!(endpoint.format, *format, "{path}");
                assert_eq!(endpoint.service, Service::Embeddings, "{path}");
                assert_eq!(endpoint.method, Method::POST, "{path}");
            }
        }
        // Ollama's older /api/embeddings and other paths are not embeddings endpoints.
        for path in ["/api/embeddings", "/v1/embeddings/", "/embeddings"] {
            assert!(
                Endpoint::for_request(path, None).is_none(),
                "{path} is no endpoint"
            );
        }
    }

    #[test]
    fn every_listed_service_path_is_served_by_its_format() {
        for format in WireFormat::ALL.iter().copied() {
            let spec = format.spec();
            for listed in spec.service_paths() {
                let (method, path) = listed.split_once(' ').unwrap();
                let path = path.replace("{model}", "some-model");
                let served = match method {
                    "GET" => spec.serves_models(&path),
                    "POST" => spec.serves_embeddings(&path),
                    _ => false,
                };
                assert!(served, "{format}: {listed}");
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

#[cfg(test)]
mod conversation_properties {
    //! A property: any conversation (messages, tool calls, their results), written in each
    //! format's own shape, reads back the same.

    use proptest::prelude::*;
    use serde_json::{json, Value};

    use super::{read_chat, WireFormat};

    /// One step of a conversation.
    #[derive(Debug, Clone)]
    enum Step {
        User(String),
        /// The assistant's text (maybe empty) and calls `(name, argument)`, whose results
        /// the client sends back at once, in order.
        Assistant {
            text: String,
            calls: Vec<(String, String, String)>,
        },
    }

    fn steps() -> impl Strategy<Value = (Option<String>, Vec<Step>)> {
        let text = "[a-z][a-z ]{0,10}";
        let call = (
            prop::sample::select(vec!["get_weather", "get_time", "search"]),
            text,
            text,
        )
            .prop_map(|(name, argument, result)| (name.to_owned(), argument, result));
        let step = prop_oneof![
            text.prop_map(Step::User),
            ("[a-z ]{0,8}", prop::collection::vec(call, 0..3)).prop_map(|(text, calls)| {
                let text = if calls.is_empty() && text.is_empty() {
                    "ok".to_owned()
                } else {
                    text
                };
                Step::Assistant { text, calls }
            }),
        ];
        (
            prop::option::of(text),
            prop::collection::vec(step, 1..8).prop_map(|steps| {
                // Two assistant messages in a row are one turn in the Responses API (its
                // items) but two in the others: no client sends that, so a user message
                // separates an assistant message without calls from the next.
                let mut separated: Vec<Step> = Vec::new();
                for step in steps {
                    if let (Some(Step::Assistant { calls, .. }), Step::Assistant { .. }) =
                        (separated.last(), &step)
                    {
                        if calls.is_empty() {
                            separated.push(Step::User("go on".to_owned()));
                        }
                    }
                    separated.push(step);
                }
                separated
            }),
        )
    }

    /// Call ids unique in the conversation: `call_<step>_<index>`.
    fn id(step: usize, index: usize) -> String {
        format!("call_{step}_{index}")
    }

    fn render(format: WireFormat, system: &Option<String>, steps: &[Step]) -> Value {
        let mut items: Vec<Value> = Vec::new();
        for (at, step) in steps.iter().enumerate() {
            let (text, calls) = match step {
                Step::User(text) => {
                    items.push(match format {
                        WireFormat::Gemini => {
                            json!({ "role": "user", "parts": [{ "text": text }] })
                        }
                        WireFormat::AnthropicMessages => {
                            json!({ "role": "user", "content": [{ "type": "text", "text": text }] })
                        }
                        _ => json!({ "role": "user", "content": text }),
                    });
                    continue;
                }
                Step::Assistant { text, calls } => (text, calls),
            };
            let ids = (0..calls.len()).map(|index| id(at, index));
            let args = |argument: &str| json!({ "q": argument });
            match format {
                WireFormat::OpenAiChatCompletions | WireFormat::Ollama => {
                    let ollama = format == WireFormat::Ollama;
                    let tool_calls: Vec<Value> = calls
                        .iter()
                        .zip(ids.clone())
                        .map(|((name, argument, _), id)| {
                            let arguments = if ollama {
                                args(argument)
                            } else {
                                json!(args(argument).to_string())
                            };
                            json!({ "id": id, "type": "function",
                                    "function": { "name": name, "arguments": arguments } })
                        })
                        .collect();
                    let mut message = json!({ "role": "assistant", "content": text });
                    if !tool_calls.is_empty() {
                        message["tool_calls"] = json!(tool_calls);
                    }
                    items.push(message);
                    for ((name, _, result), id) in calls.iter().zip(ids) {
                        items.push(if ollama {
                            json!({ "role": "tool", "tool_name": name, "content": result })
                        } else {
                            json!({ "role": "tool", "tool_call_id": id, "content": result })
                        });
                    }
                }
                WireFormat::OpenAiResponses => {
                    if !text.is_empty() {
                        items.push(json!({ "type": "message", "role": "assistant",
                            "content": [{ "type": "output_text", "text": text }] }));
                    }
                    for ((name, argument, _), id) in calls.iter().zip(ids.clone()) {
                        items.push(
                            json!({ "type": "function_call", "call_id": id, "name": name,
                                           "arguments": args(argument).to_string() }),
                        );
                    }
                    for ((_, _, result), id) in calls.iter().zip(ids) {
                        items.push(json!({ "type": "function_call_output", "call_id": id, "output": result }));
                    }
                }
                WireFormat::AnthropicMessages => {
                    let mut blocks = Vec::new();
                    if !text.is_empty() {
                        blocks.push(json!({ "type": "text", "text": text }));
                    }
                    for ((name, argument, _), id) in calls.iter().zip(ids.clone()) {
                        blocks.push(json!({ "type": "tool_use", "id": id, "name": name, "input": args(argument) }));
                    }
                    items.push(json!({ "role": "assistant", "content": blocks }));
                    if !calls.is_empty() {
                        let results: Vec<Value> = calls.iter().zip(ids)
                            .map(|((_, _, result), id)| json!({ "type": "tool_result", "tool_use_id": id, "content": result }))
                            .collect();
                        items.push(json!({ "role": "user", "content": results }));
                    }
                }
                _ => {
                    let mut parts = Vec::new();
                    if !text.is_empty() {
                        parts.push(json!({ "text": text }));
                    }
                    for ((name, argument, _), id) in calls.iter().zip(ids.clone()) {
                        parts.push(json!({ "functionCall": { "id": id, "name": name, "args": args(argument) } }));
                    }
                    items.push(json!({ "role": "model", "parts": parts }));
                    if !calls.is_empty() {
                        let results: Vec<Value> = calls
                            .iter()
                            .zip(ids)
                            .map(|((name, _, result), id)| {
                                json!({ "functionResponse": {
                                "id": id, "name": name, "response": { "output": result } } })
                            })
                            .collect();
                        items.push(json!({ "role": "user", "parts": results }));
                    }
                }
            }
        }
        match format {
            WireFormat::OpenAiResponses => {
                let mut body = json!({ "model": "m", "input": items });
                if let Some(system) = system {
                    body["instructions"] = json!(system);
                }
                body
            }
            WireFormat::AnthropicMessages => {
                let mut body = json!({ "model": "m", "max_tokens": 10, "messages": items });
                if let Some(system) = system {
                    body["system"] = json!(system);
                }
                body
            }
            WireFormat::Gemini => {
                let mut body = json!({ "contents": items });
                if let Some(system) = system {
                    body["systemInstruction"] = json!({ "parts": [{ "text": system }] });
                }
                body
            }
            _ => {
                if let Some(system) = system {
                    items.insert(0, json!({ "role": "system", "content": system }));
                }
                json!({ "model": "m", "messages": items })
            }
        }
    }

    fn path(format: WireFormat) -> &'static str {
        match format {
            WireFormat::OpenAiChatCompletions => "/v1/chat/completions",
            WireFormat::OpenAiResponses => "/v1/responses",
            WireFormat::AnthropicMessages => "/v1/messages",
            WireFormat::Gemini => "/v1beta/models/m:generateContent",
            _ => "/api/chat",
        }
    }

    type Reading = (
        Option<String>,
        usize,
        Vec<(Option<String>, String, Value)>,
        Vec<(Option<String>, Option<String>, String)>,
        Option<String>,
    );

    fn reading(format: WireFormat, system: &Option<String>, steps: &[Step]) -> Reading {
        let body = render(format, system, steps);
        let chat = read_chat(&body, path(format), Some(format)).expect("a chat request");
        (
            chat.system_prompt(),
            chat.turn(),
            chat.tool_calls()
                .map(|call| {
                    (
                        call.id().map(str::to_owned),
                        call.name().to_owned(),
                        call.arguments().clone(),
                    )
                })
                .collect(),
            chat.tool_results()
                .map(|result| {
                    (
                        result.call_id().map(str::to_owned),
                        result.name().map(str::to_owned),
                        result.content().to_owned(),
                    )
                })
                .collect(),
            chat.last_user_message().map(str::to_owned),
        )
    }

    proptest! {
        #[test]
        fn every_format_reads_the_same_conversation((system, steps) in steps()) {
            let expected_turn = 1 + steps.iter().filter(|step| matches!(step, Step::Assistant { .. })).count();
            let mut expected_results = Vec::new();
            let mut expected_calls = Vec::new();
            for (at, step) in steps.iter().enumerate() {
                if let Step::Assistant { calls, .. } = step {
                    for (index, (name, argument, result)) in calls.iter().enumerate() {
                        expected_calls.push((Some(id(at, index)), name.clone(), json!({ "q": argument })));
                        expected_results.push((Some(id(at, index)), Some(name.clone()), result.clone()));
                    }
                }
            }
            let expected_user = steps.iter().rev().find_map(|step| match step {
                Step::User(text) => Some(text.clone()),
                Step::Assistant { .. } => None,
            });
            let expected = (system.clone(), expected_turn, expected_calls, expected_results, expected_user);
            for format in [
                WireFormat::OpenAiChatCompletions,
                WireFormat::OpenAiResponses,
                WireFormat::AnthropicMessages,
                WireFormat::Gemini,
                WireFormat::Ollama,
            ] {
                prop_assert_eq!(&reading(format, &system, &steps), &expected, "{}", format);
            }
        }
    }
}

#[cfg(test)]
mod conversation_reading {
    //! What the property test does not vary: declared tools, response formats and images,
    //! in each format's own shape.

    use serde_json::{json, Value};

    use super::{read_chat, WireFormat};
    use crate::request::{ChatRequest, ResponseFormat};

    fn read(format: WireFormat, path: &str, body: Value) -> ChatRequest {
        read_chat(&body, path, Some(format)).expect("a chat request")
    }

    #[test]
    fn tools_response_formats_and_images_read_alike_in_every_format() {
        let schema = json!({ "type": "object", "properties": { "city": { "type": "string" } } });
        let cases = [
            read(
                WireFormat::OpenAiChatCompletions,
                "/v1/chat/completions",
                json!({
                    "model": "m",
                    "tools": [{ "type": "function", "function": {
                        "name": "get_weather", "description": "Weather", "parameters": schema } }],
                    "response_format": { "type": "json_schema",
                        "json_schema": { "name": "weather", "schema": schema } },
                    "messages": [{ "role": "user", "content": [
                        { "type": "text", "text": "What is this?" },
                        { "type": "image_url", "image_url": { "url": "data:image/png;base64,AA" } }] }]
                }),
            ),
            read(
                WireFormat::OpenAiResponses,
                "/v1/responses",
                json!({
                    "model": "m",
                    "tools": [{ "type": "function", "name": "get_weather", "description": "Weather",
                                "parameters": schema }],
                    "text": { "format": { "type": "json_schema", "name": "weather", "schema": schema } },
                    "input": [{ "role": "user", "content": [
                        { "type": "input_text", "text": "What is this?" },
                        { "type": "input_image", "image_url": "data:image/png;base64,AA" }] }]
                }),
            ),
            read(
                WireFormat::AnthropicMessages,
                "/v1/messages",
                json!({
                    "model": "m", "max_tokens": 1,
                    "tools": [{ "name": "get_weather", "description": "Weather", "input_schema": schema }],
                    "output_format": { "type": "json_schema", "schema": schema },
                    "messages": [{ "role": "user", "content": [
                        { "type": "text", "text": "What is this?" },
                        { "type": "image", "source": { "type": "base64", "media_type": "image/png", "data": "AA" } }] }]
                }),
            ),
            read(
                WireFormat::Gemini,
                "/v1beta/models/m:generateContent",
                json!({
                    "tools": [{ "functionDeclarations": [
                        { "name": "get_weather", "description": "Weather", "parameters": schema }] }],
                    "generationConfig": { "responseMimeType": "application/json", "responseSchema": schema },
                    "contents": [{ "role": "user", "parts": [
                        { "text": "What is this?" },
                        { "inlineData": { "mimeType": "image/png", "data": "AA" } }] }]
                }),
            ),
            read(
                WireFormat::Ollama,
                "/api/chat",
                json!({
                    "model": "m",
                    "tools": [{ "type": "function", "function": {
                        "name": "get_weather", "description": "Weather", "parameters": schema } }],
                    "format": schema,
                    "messages": [{ "role": "user", "content": "What is this?", "images": ["AA"] }]
                }),
            ),
        ];
        for (index, chat) in cases.iter().enumerate() {
            let tool = &chat.tools()[0];
            assert_eq!(
                (tool.name(), tool.description(), tool.schema()),
                ("get_weather", Some("Weather"), &schema),
                "case {index}"
            );
            assert_eq!(chat.response_format().name(), "json_schema", "case {index}");
            assert_eq!(
                chat.response_format().schema(),
                Some(&schema),
                "case {index}"
            );
            assert!(chat.has_images(), "case {index}");
            assert_eq!(
                chat.last_user_message(),
                Some("What is this?"),
                "case {index}"
            );
        }
    }

    #[test]
    fn json_without_a_schema_and_text_are_told_apart() {
        let object = [
            read(
                WireFormat::OpenAiChatCompletions,
                "/v1/chat/completions",
                json!({ "messages": [], "response_format": { "type": "json_object" } }),
            ),
            read(
                WireFormat::OpenAiResponses,
                "/v1/responses",
                json!({ "input": "x", "text": { "format": { "type": "json_object" } } }),
            ),
            read(
                WireFormat::Gemini,
                "/v1beta/models/m:generateContent",
                json!({ "contents": [], "generationConfig": { "responseMimeType": "application/json" } }),
            ),
            read(
                WireFormat::Ollama,
                "/api/chat",
                json!({ "messages": [], "format": "json" }),
            ),
        ];
        for chat in &object {
            assert_eq!(chat.response_format(), &ResponseFormat::JsonObject);
            assert!(!chat.has_images());
            assert!(chat.tools().is_empty());
        }
        let text = read(
            WireFormat::OpenAiChatCompletions,
            "/v1/chat/completions",
            json!({ "messages": [], "response_format": { "type": "text" } }),
        );
        assert_eq!(text.response_format(), &ResponseFormat::Text);
        let plain = read(
            WireFormat::AnthropicMessages,
            "/v1/messages",
            json!({ "messages": [] }),
        );
        assert_eq!(plain.response_format(), &ResponseFormat::Text);
        assert_eq!(plain.system_prompt(), None);
        assert_eq!(plain.turn(), 1);
    }
}
