//! Wire formats ("dialects"): how one [`Reply`](crate::Reply) script is framed for the API
//! a client called. Each dialect lives in its own file and turns script events into SSE
//! frames, renders the complete non-streaming response, and shapes error bodies.
//!
//! The endpoint a request hits picks its dialect; requests to any other path (answered by
//! a mock) are framed as OpenAI Chat Completions, unless the mock or the server names
//! another [`WireFormat`].

mod anthropic;
pub(crate) mod frame;
mod gemini;
pub(crate) mod ids;
mod ollama;
mod openai_chat;
mod openai_responses;
mod plain_text;

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::Value;

use crate::request::ReceivedRequest;
use crate::script::StreamError;
use crate::script::{MessageEvent, Script};
use crate::wire::frame::Frame;

/// The wire formats chatmock speaks. Each request is answered in the format of the
/// endpoint it calls (`/v1/chat/completions`, `/v1/messages`, ...); name one with
/// [`Mock::framed_as`](crate::Mock::framed_as) or
/// [`MockChatServerBuilder::framed_as`](crate::MockChatServerBuilder::framed_as) for
/// clients that call other paths, such as a gateway's or a proxy's.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use chatmock::{MockChatServer, Reply, WireFormat};
///
/// // A gateway that serves Anthropic's API under its own prefix.
/// let server = MockChatServer::builder()
///     .framed_as(WireFormat::AnthropicMessages)
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
    pub const ALL: [WireFormat; 6] = [
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
        match self {
            WireFormat::OpenAiChatCompletions => "openai_chat_completions",
            WireFormat::OpenAiResponses => "openai_responses",
            WireFormat::AnthropicMessages => "anthropic_messages",
            WireFormat::Gemini => "gemini",
            WireFormat::Ollama => "ollama",
            WireFormat::PlainText => "plain_text",
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
            .into_iter()
            .find(|format| format.name() == name)
            .ok_or_else(|| UnknownWireFormat(name.to_owned()))
    }
}

/// The endpoints chatmock serves without any mock, and the dialect of each.
const ENDPOINTS: &[(&str, WireFormat)] = &[
    ("/v1/chat/completions", WireFormat::OpenAiChatCompletions),
    ("/chat/completions", WireFormat::OpenAiChatCompletions),
    ("/v1/responses", WireFormat::OpenAiResponses),
    ("/responses", WireFormat::OpenAiResponses),
    ("/v1/messages", WireFormat::AnthropicMessages),
    ("/messages", WireFormat::AnthropicMessages),
    ("/api/chat", WireFormat::Ollama),
    ("/stream", WireFormat::PlainText),
];

/// A known endpoint: its dialect and the one method it accepts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Endpoint {
    pub(crate) format: WireFormat,
    pub(crate) method: &'static Method,
}

impl Endpoint {
    /// The endpoint a path is: one of the table, Gemini's, or any path at all when the
    /// server frames everything as `framed_as`.
    pub(crate) fn for_request(path: &str, framed_as: Option<WireFormat>) -> Option<Endpoint> {
        let format = framed_as.or_else(|| {
            ENDPOINTS
                .iter()
                .find(|(known, _)| *known == path)
                .map(|(_, format)| *format)
                .or_else(|| is_gemini_path(path).then_some(WireFormat::Gemini))
        })?;
        Some(Endpoint {
            format,
            method: format.method(),
        })
    }

    /// A one-line list of the endpoints, for error messages.
    pub(crate) fn list() -> String {
        ENDPOINTS
            .iter()
            .map(|(path, format)| format!("{} {path}", format.method()))
            .chain([
                "POST /v1beta/models/{model}:streamGenerateContent".to_owned(),
                "POST /v1beta/models/{model}:generateContent".to_owned(),
            ])
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Gemini's endpoints carry the model in the path: `/{version}/models/{model}:{method}`.
fn is_gemini_path(path: &str) -> bool {
    crate::request::gemini_model_and_method(path)
        .is_some_and(|(_, method)| matches!(method, "streamGenerateContent" | "generateContent"))
}

/// What every response of one request shares: its ids, timestamp and model.
#[derive(Debug, Clone)]
pub(crate) struct ResponseContext {
    /// The completion id, the same on every chunk of a stream.
    pub(crate) id: String,
    pub(crate) request_id: String,
    pub(crate) system_fingerprint: String,
    /// Unix seconds, the same on every chunk of a stream.
    pub(crate) created: u64,
    /// Echoes the model the request asked for.
    pub(crate) model: String,
    /// A rough count of the words in the request's messages, reported as prompt tokens.
    pub(crate) prompt_tokens: u64,
    /// The request asked for usage in the stream (`stream_options.include_usage`).
    pub(crate) include_usage: bool,
    /// The request asked for a Gemini stream as SSE (`alt=sse`) rather than as one JSON
    /// array. Paths that are not Gemini's own get SSE.
    pub(crate) gemini_sse: bool,
    /// Random characters that make the default ids of this response's tool calls.
    tool_call_seed: String,
}

impl ResponseContext {
    pub(crate) fn for_request(
        request: &ReceivedRequest,
        format: WireFormat,
        ids: &crate::wire::ids::IdGenerator,
    ) -> Self {
        let chat = request.chat();
        let model = chat
            .map(|chat| chat.model())
            .filter(|model| !model.is_empty())
            .unwrap_or("gpt-4o-mini");
        let prompt_tokens = chat.map_or(0, |chat| {
            chat.messages()
                .iter()
                .map(|message| message.content().split_whitespace().count() as u64)
                .sum()
        });
        ResponseContext {
            id: match format {
                WireFormat::OpenAiResponses => ids.hex("resp_", 48),
                WireFormat::AnthropicMessages => ids.alphanumeric("msg_01", 22),
                WireFormat::Gemini | WireFormat::Ollama => ids.alphanumeric("", 22),
                WireFormat::OpenAiChatCompletions | WireFormat::PlainText => {
                    ids.alphanumeric("chatcmpl-", 29)
                }
            },
            request_id: ids.hex("req_", 32),
            system_fingerprint: ids.hex("fp_", 10),
            created: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |since| since.as_secs()),
            model: model.to_owned(),
            prompt_tokens,
            include_usage: request.body_json()["stream_options"]["include_usage"] == true,
            gemini_sse: !request.path().ends_with(":streamGenerateContent")
                || request
                    .query()
                    .is_some_and(|query| query.split('&').any(|pair| pair == "alt=sse")),
            tool_call_seed: ids.alphanumeric("", 22),
        }
    }

    /// The id of tool call `index`: the one the script gave it, or one in the provider's
    /// style (`prefix` and 24 characters), the same in every event of the response.
    pub(crate) fn tool_call_id(
        &self,
        prefix: &str,
        index: usize,
        scripted: Option<&str>,
    ) -> String {
        match scripted {
            Some(id) => id.to_owned(),
            None => format!("{prefix}{}{:02}", self.tool_call_seed, index % 100),
        }
    }
}

/// Appends `text` as a JSON string literal, escaped exactly as `serde_json` escapes it,
/// without the intermediate allocations of going through a `Value`.
pub(crate) fn push_json_string(out: &mut String, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    let mut clean_from = 0;
    for (index, byte) in text.bytes().enumerate() {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => continue,
        };
        out.push_str(&text[clean_from..index]);
        clean_from = index + 1;
        if escape.is_empty() {
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0xf)]));
        } else {
            out.push_str(escape);
        }
    }
    out.push_str(&text[clean_from..]);
    out.push('"');
}

/// A tool call's arguments as JSON, for the formats that send them as an object rather
/// than as text; arguments a script made deliberately invalid travel as a string.
pub(crate) fn arguments_value(arguments: &str) -> Value {
    serde_json::from_str(arguments).unwrap_or_else(|_| Value::String(arguments.to_owned()))
}

/// A tool call being streamed, for the formats that send each call whole once its last
/// fragment has arrived (Gemini, Ollama).
#[derive(Debug, Default)]
pub(crate) struct PendingCalls {
    calls: Vec<(String, String)>,
}

impl PendingCalls {
    /// Takes in `event`: a tool-call event is collected (`None`: nothing to send yet);
    /// any other event returns the calls that are complete before it, to send first. A
    /// call an error broke off is dropped: providers never send half a call.
    pub(crate) fn before(&mut self, event: &MessageEvent<'_>) -> Option<Vec<(String, Value)>> {
        match *event {
            MessageEvent::ToolCallStart { name, .. } => {
                self.calls.push((name.to_owned(), String::new()));
                None
            }
            MessageEvent::ToolArguments { fragment, .. } => {
                if let Some((_, arguments)) = self.calls.last_mut() {
                    arguments.push_str(fragment);
                }
                None
            }
            MessageEvent::Error(_) => {
                self.calls.clear();
                Some(Vec::new())
            }
            _ => Some(
                self.calls
                    .drain(..)
                    .map(|(name, arguments)| (name, arguments_value(&arguments)))
                    .collect(),
            ),
        }
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

impl WireFormat {
    /// The one method the format's endpoints accept.
    fn method(self) -> &'static Method {
        match self {
            WireFormat::PlainText => &Method::GET,
            _ => &Method::POST,
        }
    }

    /// Checks the request the way the real API would before doing any work.
    pub(crate) fn validate(self, request: &ReceivedRequest) -> Result<(), ApiError> {
        match self {
            WireFormat::OpenAiChatCompletions => openai_chat::validate(request),
            WireFormat::OpenAiResponses => openai_responses::validate(request),
            WireFormat::AnthropicMessages => anthropic::validate(request),
            WireFormat::Gemini => gemini::validate(request),
            WireFormat::Ollama => ollama::validate(request),
            WireFormat::PlainText => Ok(()),
        }
    }

    /// Whether the request asked for a stream rather than one complete response.
    pub(crate) fn wants_stream(self, request: &ReceivedRequest) -> bool {
        match self {
            WireFormat::OpenAiChatCompletions
            | WireFormat::OpenAiResponses
            | WireFormat::AnthropicMessages => request.chat().is_some_and(|chat| chat.is_stream()),
            WireFormat::Gemini => !request.path().ends_with(":generateContent"),
            WireFormat::Ollama => ollama::wants_stream(request),
            WireFormat::PlainText => true,
        }
    }

    pub(crate) fn encoder(self, context: ResponseContext) -> Box<dyn Encoder> {
        match self {
            WireFormat::OpenAiChatCompletions => Box::new(openai_chat::ChunkEncoder::new(context)),
            WireFormat::OpenAiResponses => {
                Box::new(openai_responses::ResponseEncoder::new(context))
            }
            WireFormat::AnthropicMessages => Box::new(anthropic::MessageEncoder::new(context)),
            WireFormat::Gemini => Box::new(gemini::ChunkEncoder::new(context)),
            WireFormat::Ollama => Box::new(ollama::LineEncoder::new(context)),
            WireFormat::PlainText => Box::new(plain_text::PlainTextEncoder),
        }
    }

    /// The complete JSON response to a non-streaming request.
    pub(crate) fn complete_response(self, script: &Script, context: &ResponseContext) -> Value {
        match self {
            WireFormat::OpenAiChatCompletions | WireFormat::PlainText => {
                openai_chat::complete_response(script, context)
            }
            WireFormat::OpenAiResponses => openai_responses::complete_response(script, context),
            WireFormat::AnthropicMessages => anthropic::complete_response(script, context),
            WireFormat::Gemini => gemini::complete_response(script, context),
            WireFormat::Ollama => ollama::complete_response(script, context),
        }
    }

    /// Headers the real service sends on every response.
    pub(crate) fn headers(self, context: &ResponseContext) -> HeaderMap {
        match self {
            WireFormat::OpenAiChatCompletions | WireFormat::OpenAiResponses => {
                openai_chat::headers(context)
            }
            WireFormat::AnthropicMessages => anthropic::headers(context),
            WireFormat::PlainText | WireFormat::Gemini | WireFormat::Ollama => HeaderMap::new(),
        }
    }

    /// The body of an error response with `status`, in the provider's shape.
    pub(crate) fn error_body(
        self,
        status: StatusCode,
        error: &StreamError,
        context: &ResponseContext,
    ) -> Value {
        match self {
            WireFormat::OpenAiChatCompletions
            | WireFormat::OpenAiResponses
            | WireFormat::PlainText => openai_chat::error_body(error),
            WireFormat::AnthropicMessages => anthropic::error_body(status, error, context),
            WireFormat::Gemini => gemini::error_body(status, error),
            WireFormat::Ollama => ollama::error_body(error),
        }
    }

    /// The status the provider uses for an error of `status`.
    pub(crate) fn http_status(self, status: StatusCode) -> StatusCode {
        match self {
            WireFormat::AnthropicMessages => anthropic::http_status(status),
            WireFormat::OpenAiChatCompletions
            | WireFormat::OpenAiResponses
            | WireFormat::PlainText
            | WireFormat::Gemini
            | WireFormat::Ollama => status,
        }
    }

    pub(crate) fn stream_content_type(self, context: &ResponseContext) -> HeaderValue {
        HeaderValue::from_static(match self {
            WireFormat::Ollama => "application/x-ndjson",
            WireFormat::Gemini if !context.gemini_sse => "application/json",
            _ => "text/event-stream; charset=utf-8",
        })
    }
}

/// An error response: a status and the provider-neutral description of the error, which
/// each dialect renders in its provider's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) error: StreamError,
}

impl ApiError {
    pub(crate) fn invalid_request(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            error: StreamError::new(message).with_type("invalid_request_error"),
        }
    }

    pub(crate) fn with_code(mut self, code: &str) -> ApiError {
        self.error = self.error.with_code(code);
        self
    }

    pub(crate) fn with_param(mut self, param: &str) -> ApiError {
        self.error = self.error.with_param(param);
        self
    }

    pub(crate) fn server_error(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            error: StreamError::new(message),
        }
    }
}

impl From<StreamError> for ApiError {
    fn from(error: StreamError) -> ApiError {
        ApiError {
            status: error.status,
            error,
        }
    }
}
