//! The scripted reply: what the mock model "says", when, and how it fails.
//!
//! A [`Reply`] is independent of any wire format. The endpoint a client calls decides how
//! the same script is framed (OpenAI chunks, the raw demo format, ...), so one script can
//! be reused against every client a team has.

use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, StatusCode};
use serde_json::Value;

use crate::fault::{CutKind, StreamError};

/// The sentence of the original demo, streamed word by word by [`Reply::demo`].
pub(crate) const DEMO_TEXT: &str = "Hello, this is a mocked chatbot. How can I help you?";

/// A scripted reply: a stream of tokens with its timing and ending, or an HTTP error.
///
/// Build a stream with [`Reply::text`], [`Reply::tokens`] or [`Reply::steps`], an HTTP
/// error with [`Reply::http_error`] or a preset such as [`Reply::rate_limited`], then
/// adjust it with the chainable methods. A `Reply` does nothing on its own: give it to
/// [`MockChatServerBuilder::reply`](crate::MockChatServerBuilder::reply) or
/// [`MockBuilder::respond_with`](crate::MockBuilder::respond_with).
///
/// Streaming requests (`"stream": true`) receive the tokens one event each, at the scripted
/// times. Non-streaming requests wait out the whole script, then receive one complete JSON
/// response whose content is the concatenation of the tokens.
///
/// Where a method counts tokens (`error_after(3, ..)`, `disconnect_after(3)`), it counts
/// every content event: a text token, a piece of a refusal, and for each tool call the
/// event naming it and each fragment of its arguments. Usage reports the same count as
/// completion tokens, in every format.
///
/// Methods that make no sense for a reply (a token delay on an HTTP error, two endings for
/// one stream, a cut after more tokens than the script has) panic at once with a message
/// naming the mistake, so a mis-built scenario fails where it is written.
///
/// ```
/// use chatmock::Reply;
/// use std::time::Duration;
///
/// let reply = Reply::tokens(["Hel", "lo", "!"])
///     .first_token_delay(Duration::from_millis(200))
///     .token_delay(Duration::from_millis(20))
///     .finish_reason("length");
/// # drop(reply);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[must_use = "a Reply does nothing until it is given to a server or a mock"]
pub struct Reply {
    pub(crate) kind: ReplyKind,
    /// Extra response headers, sent after (and so overriding) the dialect's own.
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    pub(crate) headers_delay: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ReplyKind {
    Stream(Script),
    HttpError(HttpError),
}

/// An HTTP error response in place of a stream.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HttpError {
    pub(crate) error: StreamError,
    pub(crate) retry_after: Option<Duration>,
}

/// A streamed reply's script.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Script {
    steps: Vec<Step>,
    first_token_delay: Duration,
    token_delay: Duration,
    /// `None` picks the reason from the content: `tool_calls` if the model calls a tool.
    finish_reason: Option<String>,
    send_done: bool,
    /// How the stream ends, if not normally, and after how many tokens.
    ending: Option<(usize, Ending)>,
    pub(crate) framing: Framing,
}

/// How a stream ends when the script says it does not end normally.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Ending {
    Error(StreamError),
    Cut(CutKind),
    Stall,
}

/// How events are laid out on the wire: faults of framing, and the SSE reconnection
/// fields.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Framing {
    pub(crate) event_ids: bool,
    pub(crate) reconnection_time: Option<Duration>,
    pub(crate) keep_alive: Option<Duration>,
    pub(crate) crlf: bool,
    pub(crate) fragment_size: Option<usize>,
}

/// One step of an explicit script given to [`Reply::steps`]: a token, a pause, or a
/// deliberate framing fault.
///
/// ```
/// use chatmock::{Reply, Step};
/// use std::time::Duration;
///
/// let reply = Reply::steps([
///     Step::token("Thinking"),
///     Step::pause(Duration::from_millis(300)),
///     Step::comment("still here"),
///     Step::token("..."),
///     Step::malformed_chunk(),
///     Step::token(" done").after(Duration::from_millis(50)),
/// ]);
/// # drop(reply);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[must_use = "a Step does nothing until it is part of a Reply"]
pub struct Step {
    kind: StepKind,
    /// Replaces the default gap before this step.
    own_delay: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq)]
enum StepKind {
    Token(String),
    Refusal(String),
    /// Expanded into `ToolCallStart` and `ToolArguments` when the script is built.
    ToolCall(ToolCall),
    ToolCallStart {
        index: usize,
        id: Option<String>,
        name: String,
    },
    ToolArguments {
        index: usize,
        fragment: String,
    },
    Pause(Duration),
    Raw(Vec<u8>),
    Comment(String),
    Malformed,
}

impl Step {
    fn new(kind: StepKind) -> Step {
        Step {
            kind,
            own_delay: None,
        }
    }

    /// A token, sent as one streamed event. Any string is valid: empty, whitespace,
    /// newlines, quotes, unicode, even the literal text `[DONE]`.
    pub fn token(text: impl Into<String>) -> Step {
        Step::new(StepKind::Token(text.into()))
    }

    /// A piece of a refusal: the model declining to answer. OpenAI formats send it in
    /// the `refusal` field instead of the content; the others send it as text (with
    /// Anthropic's `refusal` stop reason, and Gemini's `SAFETY`, when the reply ends).
    pub fn refusal(text: impl Into<String>) -> Step {
        Step::new(StepKind::Refusal(text.into()))
    }

    /// A tool call: one event naming the function, then one event per fragment of its
    /// arguments, each timed like a token. See [`ToolCall`].
    ///
    /// ```
    /// use chatmock::{Reply, Step, ToolCall};
    /// use serde_json::json;
    ///
    /// let reply = Reply::steps([
    ///     Step::token("Let me check."),
    ///     Step::tool_call(ToolCall::function("get_weather", json!({ "city": "Paris" }))),
    /// ]);
    /// # drop(reply);
    /// ```
    pub fn tool_call(call: ToolCall) -> Step {
        Step::new(StepKind::ToolCall(call))
    }

    /// A pause: nothing is sent for `duration`, on top of the reply's usual delays.
    pub fn pause(duration: Duration) -> Step {
        Step::new(StepKind::Pause(duration))
    }

    /// Bytes written to the socket verbatim, outside any SSE framing: for half events,
    /// invalid UTF-8, a stray line, anything a real proxy might produce.
    pub fn raw(bytes: impl Into<Vec<u8>>) -> Step {
        Step::new(StepKind::Raw(bytes.into()))
    }

    /// An SSE comment line (`: text`), which clients must ignore; proxies send them as
    /// keep-alives.
    pub fn comment(text: impl Into<String>) -> Step {
        Step::new(StepKind::Comment(text.into()))
    }

    /// A well-framed event whose data is not valid JSON: a chunk cut off mid-object, as
    /// a broken proxy might forward it.
    pub fn malformed_chunk() -> Step {
        Step::new(StepKind::Malformed)
    }

    /// Sends this step `delay` after the previous one (or after the response headers,
    /// for the first step), instead of the usual gap: the reply's
    /// [`token_delay`](Reply::token_delay) or [`first_token_delay`](Reply::first_token_delay)
    /// for tokens (and refusals and tool calls), no gap for other steps.
    ///
    /// # Panics
    ///
    /// When called on a [`Step::pause`]: a pause already is a delay, so write one pause
    /// with the total duration instead.
    pub fn after(mut self, delay: Duration) -> Step {
        if let StepKind::Pause(pause) = self.kind {
            panic!(
                "Step::pause({pause:?}).after({delay:?}) is not a valid step: after() delays a \
                 token or another event. Write a single Step::pause({:?}) instead.",
                pause + delay
            );
        }
        self.own_delay = Some(delay);
        self
    }
}

/// A function call the mock model makes, for [`Reply::tool_call`] and
/// [`Step::tool_call`].
///
/// Its arguments stream as fragments, the way real models produce them: `{"city":"Paris"}`
/// arrives as `{"`, `city`, `":"`, `Paris`, `"}`. Each format frames the call its own way
/// (OpenAI's `tool_calls` deltas, Responses' `function_call` items, Anthropic's
/// `tool_use` blocks with `input_json_delta`, whole `functionCall` parts for Gemini and
/// whole `tool_calls` for Ollama), and the reply's finish reason becomes `tool_calls`
/// (`tool_use` for Anthropic) unless the script sets another.
///
/// ```
/// use chatmock::{Reply, ToolCall};
/// use serde_json::json;
///
/// let reply = Reply::tool_calls([
///     ToolCall::function("get_weather", json!({ "city": "Paris" })).with_id("call_paris"),
///     ToolCall::function("get_weather", json!({ "city": "Rome" })),
/// ]);
/// # drop(reply);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[must_use = "a ToolCall does nothing until it is part of a Reply"]
pub struct ToolCall {
    name: String,
    id: Option<String>,
    fragments: Vec<String>,
}

impl ToolCall {
    /// A call of function `name` with `arguments` (usually a JSON object), sent as
    /// compact JSON split into word-sized fragments.
    ///
    /// # Panics
    ///
    /// If `name` is empty: every provider requires a function name.
    pub fn function(name: impl Into<String>, arguments: Value) -> ToolCall {
        ToolCall::new(
            "function",
            name.into(),
            split_arguments(&arguments.to_string()),
        )
    }

    /// A call of function `name` whose arguments are sent as exactly these fragments,
    /// which need not be valid JSON: for testing a client against a model that emits
    /// broken or oddly split arguments. Formats that send a call whole (Gemini, Ollama)
    /// send arguments that are not JSON as a string.
    ///
    /// ```
    /// use chatmock::{Reply, ToolCall};
    ///
    /// let reply = Reply::tool_call(ToolCall::with_raw_arguments("search", ["{\"q\": \"ru", "st"]));
    /// # drop(reply);
    /// ```
    ///
    /// # Panics
    ///
    /// If `name` is empty: every provider requires a function name.
    pub fn with_raw_arguments<I>(name: impl Into<String>, fragments: I) -> ToolCall
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        let fragments = fragments.into_iter().map(Into::into).collect();
        ToolCall::new("with_raw_arguments", name.into(), fragments)
    }

    fn new(constructor: &str, name: String, fragments: Vec<String>) -> ToolCall {
        assert!(
            !name.is_empty(),
            "ToolCall::{constructor}(\"\", ..): a tool call needs a function name"
        );
        ToolCall {
            name,
            id: None,
            fragments,
        }
    }

    /// Uses `id` as the call's id, so a test can check that the client sends the tool's
    /// result back under it. By default each call gets a fresh id in the provider's
    /// style (`call_…`, `toolu_…`).
    pub fn with_id(mut self, id: impl Into<String>) -> ToolCall {
        self.id = Some(id.into());
        self
    }
}

/// Splits JSON text where letters and digits meet punctuation, which is roughly where a
/// model's tokens break it: `{"city":"Paris"}` becomes `{"`, `city`, `":"`, `Paris`, `"}`.
fn split_arguments(json: &str) -> Vec<String> {
    let mut fragments: Vec<String> = Vec::new();
    let mut previous_is_word = None;
    for ch in json.chars() {
        let is_word = ch.is_alphanumeric();
        match fragments.last_mut() {
            Some(fragment) if previous_is_word == Some(is_word) => fragment.push(ch),
            _ => fragments.push(ch.to_string()),
        }
        previous_is_word = Some(is_word);
    }
    fragments
}

impl Reply {
    fn stream(script: Script) -> Reply {
        Reply {
            kind: ReplyKind::Stream(script),
            headers: Vec::new(),
            headers_delay: Duration::ZERO,
        }
    }

    /// Streams `text` split into word-sized tokens, each word carrying the whitespace
    /// before it (`"Hello, world"` becomes `"Hello,"`, `" world"`), so the tokens
    /// concatenate back to exactly `text`.
    ///
    /// ```
    /// use chatmock::Reply;
    ///
    /// let reply = Reply::text("It is sunny.");
    /// # drop(reply);
    /// ```
    pub fn text(text: impl AsRef<str>) -> Reply {
        Reply::tokens(split_into_words(text.as_ref()))
    }

    /// Streams exactly these tokens, one event each.
    ///
    /// ```
    /// use chatmock::Reply;
    ///
    /// let reply = Reply::tokens(["Hello", ",", " world", "\n", "[DONE]"]);
    /// # drop(reply);
    /// ```
    pub fn tokens<I>(tokens: I) -> Reply
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        Reply::steps(tokens.into_iter().map(Step::token))
    }

    /// Streams an explicit list of [`Step`]s: tokens, each with an optional delay of its
    /// own, pauses, and framing faults.
    pub fn steps(steps: impl IntoIterator<Item = Step>) -> Reply {
        Reply::stream(Script {
            steps: expand_tool_calls(steps),
            first_token_delay: Duration::ZERO,
            token_delay: Duration::ZERO,
            finish_reason: None,
            send_done: true,
            ending: None,
            framing: Framing::default(),
        })
    }

    /// The reply of the original demo: `Hello, this is a mocked chatbot. How can I help
    /// you?`, word by word, with no delays (add them with [`token_delay`](Self::token_delay)).
    /// This is what a server answers when it was given no other reply.
    pub fn demo() -> Reply {
        Reply::text(DEMO_TEXT)
    }

    /// Streams one tool call and no text; the finish reason is `tool_calls`.
    ///
    /// ```
    /// use chatmock::{Reply, ToolCall};
    /// use serde_json::json;
    ///
    /// let reply = Reply::tool_call(ToolCall::function("get_weather", json!({ "city": "Paris" })));
    /// # drop(reply);
    /// ```
    pub fn tool_call(call: ToolCall) -> Reply {
        Reply::tool_calls([call])
    }

    /// Streams several tool calls one after the other, as a model calling tools in
    /// parallel does; the finish reason is `tool_calls`.
    pub fn tool_calls(calls: impl IntoIterator<Item = ToolCall>) -> Reply {
        Reply::steps(calls.into_iter().map(Step::tool_call))
    }

    /// Streams a refusal split into word-sized pieces, as [`text`](Self::text) splits
    /// text. See [`Step::refusal`] for how each format carries it.
    ///
    /// ```
    /// use chatmock::Reply;
    ///
    /// let reply = Reply::refusal("I can't help with that.");
    /// # drop(reply);
    /// ```
    pub fn refusal(text: impl AsRef<str>) -> Reply {
        Reply::steps(
            split_into_words(text.as_ref())
                .into_iter()
                .map(Step::refusal),
        )
    }

    /// Answers with HTTP error `status` (400 to 599) and the body the provider sends for
    /// it, e.g. `{"error":{"message":"...","type":"invalid_request_error","param":null,
    /// "code":"invalid_api_key"}}` for 401. Adjust it with
    /// [`error_message`](Self::error_message), [`retry_after`](Self::retry_after) and
    /// [`header`](Self::header).
    ///
    /// ```
    /// use chatmock::Reply;
    /// use std::time::Duration;
    ///
    /// let reply = Reply::http_error(429).retry_after(Duration::from_secs(1));
    /// # drop(reply);
    /// ```
    ///
    /// # Panics
    ///
    /// If `status` is not a client or server error status (400 to 599).
    pub fn http_error(status: u16) -> Reply {
        let valid = StatusCode::from_u16(status)
            .ok()
            .filter(|status| status.is_client_error() || status.is_server_error());
        let Some(status) = valid else {
            panic!(
                "Reply::http_error({status}): {status} is not an error status. Use 400 to 599, \
                 or a streamed reply for success."
            );
        };
        Reply::with_error(StreamError::for_status(status))
    }

    fn with_error(error: StreamError) -> Reply {
        Reply {
            kind: ReplyKind::HttpError(HttpError {
                error,
                retry_after: None,
            }),
            headers: Vec::new(),
            headers_delay: Duration::ZERO,
        }
    }

    /// HTTP 429 for a rate limit (`rate_limit_exceeded`), with rate-limit headers that say
    /// no requests remain. Clients retry it; add [`retry_after`](Self::retry_after) to say
    /// when.
    pub fn rate_limited() -> Reply {
        Reply::http_error(429)
            .header("x-ratelimit-remaining-requests", "0")
            .header("x-ratelimit-reset-requests", "20s")
    }

    /// HTTP 429 for an exhausted quota (`insufficient_quota`): clients must not retry it.
    pub fn quota_exceeded() -> Reply {
        Reply::with_error(StreamError {
            status: StatusCode::TOO_MANY_REQUESTS,
            ..StreamError::new(
                "You exceeded your current quota, please check your plan and billing details.",
            )
            .with_type("insufficient_quota")
            .with_code("insufficient_quota")
        })
    }

    /// HTTP 503: the engine is overloaded.
    pub fn overloaded() -> Reply {
        Reply::http_error(503)
    }

    /// HTTP 500: the server had an error.
    pub fn server_error() -> Reply {
        Reply::http_error(500)
    }

    /// HTTP 401 with `invalid_api_key`.
    pub fn invalid_api_key() -> Reply {
        Reply::http_error(401)
    }

    /// HTTP 400 with `context_length_exceeded` on `messages`.
    pub fn context_length_exceeded() -> Reply {
        Reply::with_error(StreamError {
            status: StatusCode::BAD_REQUEST,
            ..StreamError::new(
                "This model's maximum context length is 128000 tokens. However, your messages \
                 resulted in 130412 tokens. Please reduce the length of the messages.",
            )
            .with_type("invalid_request_error")
            .with_param("messages")
            .with_code("context_length_exceeded")
        })
    }

    /// Replaces the message of an HTTP error reply.
    ///
    /// # Panics
    ///
    /// On a streamed reply: use [`error_after`](Self::error_after) to send an error event.
    pub fn error_message(mut self, message: impl Into<String>) -> Reply {
        self.http_error_mut("error_message").error.message = message.into();
        self
    }

    /// Sends `retry-after` (whole seconds, rounded up) and `retry-after-ms` with an HTTP
    /// error reply, telling clients when to retry.
    ///
    /// # Panics
    ///
    /// On a streamed reply, which has nothing to retry; add a header with
    /// [`header`](Self::header) if that is really what the test needs.
    pub fn retry_after(mut self, delay: Duration) -> Reply {
        self.http_error_mut("retry_after").retry_after = Some(delay);
        self
    }

    /// Adds a response header, replacing any the server would send by default under the
    /// same name.
    ///
    /// # Panics
    ///
    /// If `name` or `value` is not valid in an HTTP header.
    pub fn header(mut self, name: &str, value: &str) -> Reply {
        let parsed_name = HeaderName::from_bytes(name.as_bytes()).unwrap_or_else(|_| {
            panic!("Reply::header({name:?}, ..): not a valid HTTP header name")
        });
        let parsed_value = HeaderValue::from_str(value).unwrap_or_else(|_| {
            panic!("Reply::header({name:?}, {value:?}): not a valid HTTP header value")
        });
        self.headers.push((parsed_name, parsed_value));
        self
    }

    /// Waits `delay` before sending the response headers (and so anything at all): for
    /// testing a client's connect or response timeout. Compare
    /// [`first_token_delay`](Self::first_token_delay), which waits after the headers.
    pub fn delay_headers(mut self, delay: Duration) -> Reply {
        self.headers_delay = delay;
        self
    }

    /// Waits `delay` after the response headers before the first token: the "time to
    /// first token" of a real model. Defaults to zero.
    pub fn first_token_delay(mut self, delay: Duration) -> Reply {
        self.script_mut("first_token_delay").first_token_delay = delay;
        self
    }

    /// Waits `delay` between consecutive tokens. Defaults to zero.
    pub fn token_delay(mut self, delay: Duration) -> Reply {
        self.script_mut("token_delay").token_delay = delay;
        self
    }

    /// The reason the final chunk reports for the end of generation, in OpenAI's words:
    /// `"stop"` (the default), `"length"`, `"content_filter"`, or `"tool_calls"` (the
    /// default when the reply calls a tool). Other formats translate these
    /// (`end_turn`, `max_tokens`, ... for Anthropic, `STOP`, `MAX_TOKENS`, ... for Gemini);
    /// any other string is sent as given, so a test can also check how a client copes
    /// with a value it does not know.
    pub fn finish_reason(mut self, reason: impl Into<String>) -> Reply {
        self.script_mut("finish_reason").finish_reason = Some(reason.into());
        self
    }

    /// Ends the stream cleanly after the final chunk but without the `data: [DONE]`
    /// event, as a misbehaving proxy or provider might.
    pub fn without_done(mut self) -> Reply {
        self.script_mut("without_done").send_done = false;
        self
    }

    /// After `tokens` tokens, sends `error` as the provider's error event and ends the
    /// stream as the real API does (for OpenAI Chat Completions: `data: {"error":{...}}`,
    /// then `data: [DONE]`). A non-streaming request gets the error as an HTTP error.
    pub fn error_after(self, tokens: usize, error: StreamError) -> Reply {
        self.end_after("error_after", tokens, Ending::Error(error))
    }

    /// After `tokens` tokens, ends the HTTP body properly but early: no finish chunk, no
    /// `data: [DONE]`. The client sees a normal end of stream.
    pub fn end_cleanly_after(self, tokens: usize) -> Reply {
        self.end_after(
            "end_cleanly_after",
            tokens,
            Ending::Cut(CutKind::EndedCleanly),
        )
    }

    /// After `tokens` tokens, closes the connection without finishing the HTTP body. The
    /// client sees an incomplete body: a transport error, not a clean end.
    pub fn disconnect_after(self, tokens: usize) -> Reply {
        self.end_after(
            "disconnect_after",
            tokens,
            Ending::Cut(CutKind::Disconnected),
        )
    }

    /// After `tokens` tokens, resets the connection (TCP RST). The client sees
    /// "connection reset by peer".
    pub fn reset_connection_after(self, tokens: usize) -> Reply {
        self.end_after(
            "reset_connection_after",
            tokens,
            Ending::Cut(CutKind::Reset),
        )
    }

    /// After `tokens` tokens, keeps the connection open and sends nothing more (keep-alive
    /// comments excepted), until the client hangs up or the server stops: for testing a
    /// client's read timeout.
    pub fn stall_after(self, tokens: usize) -> Reply {
        self.end_after("stall_after", tokens, Ending::Stall)
    }

    /// Gives every event an SSE `id:` (1, 2, 3, ...). A request carrying
    /// `Last-Event-ID: k` then resumes the stream after event `k`, as an SSE client does
    /// when it reconnects. Scripted cuts that lie before the resume point are not
    /// repeated, so `disconnect_after(3)` with ids streams the whole text across two
    /// attempts.
    pub fn event_ids(mut self) -> Reply {
        self.script_mut("event_ids").framing.event_ids = true;
        self
    }

    /// Sends the SSE `retry:` field with the first event, telling the client to wait
    /// `time` before reconnecting.
    pub fn reconnection_time(mut self, time: Duration) -> Reply {
        self.script_mut("reconnection_time")
            .framing
            .reconnection_time = Some(time);
        self
    }

    /// Sends an SSE comment (`: keep-alive`) whenever the stream has been silent for
    /// `interval`, as proxies do, including during stalls.
    ///
    /// # Panics
    ///
    /// If `interval` is zero.
    pub fn keep_alive(mut self, interval: Duration) -> Reply {
        assert!(
            !interval.is_zero(),
            "Reply::keep_alive(0s) would send comments without end: use an interval above zero"
        );
        self.script_mut("keep_alive").framing.keep_alive = Some(interval);
        self
    }

    /// Ends every SSE line with CRLF instead of LF, as some servers and proxies do.
    pub fn crlf_line_endings(mut self) -> Reply {
        self.script_mut("crlf_line_endings").framing.crlf = true;
        self
    }

    /// Writes the stream in pieces of at most `max_bytes`, each a separate write, so that
    /// events (and JSON chunks, and UTF-8 characters) arrive split across reads: a test of
    /// the client parser's buffering.
    ///
    /// # Panics
    ///
    /// If `max_bytes` is zero.
    pub fn fragment_writes(mut self, max_bytes: usize) -> Reply {
        assert!(
            max_bytes > 0,
            "Reply::fragment_writes(0) would never write anything: use 1 or more bytes"
        );
        self.script_mut("fragment_writes").framing.fragment_size = Some(max_bytes);
        self
    }

    /// How many content events (the unit endings count in) a streamed reply's script
    /// has, or `None` for an HTTP error: lets a caller check an ending before calling
    /// the method that would panic on it.
    pub(crate) fn content_events(&self) -> Option<usize> {
        match &self.kind {
            ReplyKind::Stream(script) => Some(script.content().count()),
            ReplyKind::HttpError(_) => None,
        }
    }

    fn end_after(mut self, method: &str, tokens: usize, ending: Ending) -> Reply {
        let script = self.script_mut(method);
        if let Some((previous_at, previous)) = &script.ending {
            panic!(
                "Reply::{method}({tokens}): this reply already ends with {} after {previous_at} \
                 tokens; a stream ends only once. Use two replies (e.g. with \
                 Mock::given(..).respond_with_sequence) to script two attempts.",
                previous.describe()
            );
        }
        let available = script.content().count();
        assert!(
            tokens <= available,
            "Reply::{method}({tokens}): the script has only {available} tokens, so this would \
             never happen. Use a number from 0 to {available}."
        );
        script.ending = Some((tokens, ending));
        self
    }

    fn script_mut(&mut self, method: &str) -> &mut Script {
        match &mut self.kind {
            ReplyKind::Stream(script) => script,
            ReplyKind::HttpError(error) => panic!(
                "Reply::{method}() applies to streamed replies, but this reply is an HTTP {} \
                 error, which has no stream. Use delay_headers() to delay an error response.",
                error.error.status.as_u16()
            ),
        }
    }

    fn http_error_mut(&mut self, method: &str) -> &mut HttpError {
        match &mut self.kind {
            ReplyKind::HttpError(error) => error,
            ReplyKind::Stream(_) => panic!(
                "Reply::{method}() applies to HTTP error replies (Reply::http_error and its \
                 presets), but this reply is a stream. Use error_after() for an error event \
                 in a stream."
            ),
        }
    }
}

impl Ending {
    fn describe(&self) -> &'static str {
        match self {
            Ending::Error(_) => "error_after",
            Ending::Cut(CutKind::EndedCleanly) => "end_cleanly_after",
            Ending::Cut(CutKind::Disconnected) => "disconnect_after",
            Ending::Cut(CutKind::Reset) => "reset_connection_after",
            Ending::Stall => "stall_after",
        }
    }
}

/// Replaces each tool call with the steps that stream it: one naming the function (which
/// keeps the call's own delay), then one per fragment of its arguments.
fn expand_tool_calls(steps: impl IntoIterator<Item = Step>) -> Vec<Step> {
    let mut expanded = Vec::new();
    let mut calls = 0;
    for step in steps {
        let StepKind::ToolCall(call) = step.kind else {
            expanded.push(step);
            continue;
        };
        let index = calls;
        calls += 1;
        expanded.push(Step {
            kind: StepKind::ToolCallStart {
                index,
                id: call.id,
                name: call.name,
            },
            own_delay: step.own_delay,
        });
        expanded.extend(
            call.fragments
                .into_iter()
                .map(|fragment| Step::new(StepKind::ToolArguments { index, fragment })),
        );
    }
    expanded
}

impl StepKind {
    /// The message event of a content step: the unit in which tokens are timed, counted
    /// for endings and usage, and reported as progress.
    fn content(&self) -> Option<MessageEvent<'_>> {
        Some(match self {
            StepKind::Token(text) => MessageEvent::Token(text),
            StepKind::Refusal(text) => MessageEvent::Refusal(text),
            StepKind::ToolCallStart { index, id, name } => MessageEvent::ToolCallStart {
                index: *index,
                id: id.as_deref(),
                name,
            },
            StepKind::ToolArguments { index, fragment } => MessageEvent::ToolArguments {
                index: *index,
                fragment,
            },
            StepKind::ToolCall(_)
            | StepKind::Pause(_)
            | StepKind::Raw(_)
            | StepKind::Comment(_)
            | StepKind::Malformed => return None,
        })
    }
}

/// What a reply said, gathered into whole parts, for complete (non-streaming) responses.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum OutputPart<'a> {
    Text(String),
    Refusal(String),
    ToolCall {
        index: usize,
        id: Option<&'a str>,
        name: &'a str,
        arguments: String,
    },
}

impl Script {
    /// The content events of the script, in order.
    fn content(&self) -> impl Iterator<Item = MessageEvent<'_>> {
        self.steps.iter().filter_map(|step| step.kind.content())
    }

    /// The content events a client receives: all of them, or those before a scripted
    /// ending.
    pub(crate) fn delivered_content(&self) -> impl Iterator<Item = MessageEvent<'_>> {
        let limit = self.ending.as_ref().map_or(usize::MAX, |(at, _)| *at);
        self.content().take(limit)
    }

    /// How many content events a client receives: the completion tokens of the usage
    /// every format reports.
    pub(crate) fn completion_tokens(&self) -> u64 {
        self.delivered_content().count() as u64
    }

    /// The delivered content gathered into parts: runs of text, runs of refusal, and
    /// each tool call with its whole arguments.
    pub(crate) fn delivered_output(&self) -> Vec<OutputPart<'_>> {
        let mut parts: Vec<OutputPart<'_>> = Vec::new();
        for event in self.delivered_content() {
            match (event, parts.last_mut()) {
                (MessageEvent::Token(text), Some(OutputPart::Text(all)))
                | (MessageEvent::Refusal(text), Some(OutputPart::Refusal(all))) => {
                    all.push_str(text);
                }
                (
                    MessageEvent::ToolArguments { fragment, .. },
                    Some(OutputPart::ToolCall { arguments, .. }),
                ) => {
                    arguments.push_str(fragment);
                }
                (MessageEvent::Token(text), _) => parts.push(OutputPart::Text(text.to_owned())),
                (MessageEvent::Refusal(text), _) => {
                    parts.push(OutputPart::Refusal(text.to_owned()));
                }
                (MessageEvent::ToolCallStart { index, id, name }, _) => {
                    parts.push(OutputPart::ToolCall {
                        index,
                        id,
                        name,
                        arguments: String::new(),
                    });
                }
                _ => {}
            }
        }
        parts
    }

    /// The reason generation ended: the script's own, else `tool_calls` for a reply that
    /// calls a tool, else `stop`.
    pub(crate) fn finish_reason(&self) -> &str {
        match &self.finish_reason {
            Some(reason) => reason,
            None if self
                .content()
                .any(|event| matches!(event, MessageEvent::ToolCallStart { .. })) =>
            {
                "tool_calls"
            }
            None => "stop",
        }
    }

    pub(crate) fn ending(&self) -> Option<&Ending> {
        self.ending.as_ref().map(|(_, ending)| ending)
    }

    /// When each step is due, counted from the response headers. Times are absolute
    /// offsets rather than gaps so that playback never drifts, however long the script.
    fn schedule(&self) -> impl Iterator<Item = (Duration, &Step)> {
        let mut at = Duration::ZERO;
        let mut started = false;
        self.steps.iter().map(move |step| {
            let is_content = step.kind.content().is_some();
            let default_gap = match step.kind {
                StepKind::Pause(pause) => pause,
                _ if is_content && started => self.token_delay,
                _ if is_content => self.first_token_delay,
                _ => Duration::ZERO,
            };
            at += step.own_delay.unwrap_or(default_gap);
            started |= is_content;
            (at, step)
        })
    }

    /// How long the script plays before it ends, normally or not.
    pub(crate) fn duration(&self) -> Duration {
        self.timeline()
            .last()
            .map_or(Duration::ZERO, |beat| beat.at)
    }

    /// Every event of the script with the time it is due. The message starts with the
    /// first content event; a scripted ending comes before the content event it replaces
    /// (at that event's time); a normal ending follows the last step at once.
    ///
    /// A cut or a stall is followed by the rest of the script: playback never gets past
    /// them, except on a stream resumed beyond them. An error event ends the script.
    pub(crate) fn timeline(&self) -> Vec<Beat<'_>> {
        let limit = self.ending.as_ref().map(|(tokens, _)| *tokens);
        let terminal = matches!(self.ending(), Some(Ending::Error(_)));
        let mut beats = Vec::with_capacity(self.steps.len() + 4);
        let mut content_seen = 0;
        let mut end = Duration::ZERO;
        for (at, step) in self.schedule() {
            end = at;
            let event = match &step.kind {
                StepKind::Pause(_) => continue,
                StepKind::Raw(bytes) => ScriptEvent::Raw(bytes),
                StepKind::Comment(text) => ScriptEvent::Comment(text),
                StepKind::Malformed => ScriptEvent::Message(MessageEvent::Malformed),
                content => {
                    let Some(message) = content.content() else {
                        continue;
                    };
                    if limit == Some(content_seen) {
                        self.push_scripted_end(at, &mut beats);
                        if terminal {
                            return beats;
                        }
                    }
                    if content_seen == 0 {
                        beats.push(Beat::new(at, ScriptEvent::Message(MessageEvent::Start)));
                    }
                    content_seen += 1;
                    ScriptEvent::Message(message)
                }
            };
            beats.push(Beat::new(at, event));
        }
        if limit == Some(content_seen) {
            self.push_scripted_end(end, &mut beats);
            if terminal {
                return beats;
            }
        }
        if content_seen == 0 {
            beats.push(Beat::new(end, ScriptEvent::Message(MessageEvent::Start)));
        }
        beats.push(Beat::new(
            end,
            ScriptEvent::Message(MessageEvent::Finish(self.finish_reason())),
        ));
        if self.send_done {
            beats.push(Beat::new(end, ScriptEvent::Message(MessageEvent::Done)));
        }
        beats
    }

    fn push_scripted_end<'a>(&'a self, at: Duration, beats: &mut Vec<Beat<'a>>) {
        match self.ending() {
            Some(Ending::Error(error)) => {
                beats.push(Beat::new(
                    at,
                    ScriptEvent::Message(MessageEvent::Error(error)),
                ));
                beats.push(Beat::new(at, ScriptEvent::Message(MessageEvent::Done)));
            }
            Some(Ending::Cut(kind)) => beats.push(Beat::new(at, ScriptEvent::Cut(*kind))),
            Some(Ending::Stall) => beats.push(Beat::new(at, ScriptEvent::Stall)),
            None => {}
        }
    }
}

/// One event of a script, at the time it is due.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Beat<'a> {
    pub(crate) at: Duration,
    pub(crate) event: ScriptEvent<'a>,
}

impl<'a> Beat<'a> {
    fn new(at: Duration, event: ScriptEvent<'a>) -> Beat<'a> {
        Beat { at, event }
    }
}

/// What happens in a script, independent of any wire format.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum ScriptEvent<'a> {
    /// Part of the message, framed by the dialect.
    Message(MessageEvent<'a>),
    /// An SSE comment.
    Comment(&'a str),
    /// Bytes written verbatim.
    Raw(&'a [u8]),
    /// The connection is cut this way.
    Cut(CutKind),
    /// Nothing more is sent.
    Stall,
}

/// The part of a script each dialect frames in its own way.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum MessageEvent<'a> {
    /// The assistant message begins (OpenAI sends the role here).
    Start,
    /// One token of content.
    Token(&'a str),
    /// One piece of a refusal.
    Refusal(&'a str),
    /// A tool call begins: its position among the reply's calls, the id the script gave
    /// it (if any) and the function's name.
    ToolCallStart {
        index: usize,
        id: Option<&'a str>,
        name: &'a str,
    },
    /// One fragment of the arguments of tool call `index`.
    ToolArguments { index: usize, fragment: &'a str },
    /// Generation ended for this reason.
    Finish(&'a str),
    /// The end-of-stream marker (`data: [DONE]` in OpenAI's format).
    Done,
    /// The provider's error event.
    Error(&'a StreamError),
    /// An event whose data is broken.
    Malformed,
}

impl ScriptEvent<'_> {
    /// Whether this event is content, the unit in which progress through a stream is
    /// counted ("the client hung up after 3 events").
    pub(crate) fn is_content(&self) -> bool {
        matches!(self, ScriptEvent::Message(message) if message.is_content())
    }
}

impl MessageEvent<'_> {
    /// Whether this event is content: a token, a piece of a refusal, or part of a tool
    /// call. Each counts as one completion token in the usage formats report.
    pub(crate) fn is_content(&self) -> bool {
        matches!(
            self,
            MessageEvent::Token(_)
                | MessageEvent::Refusal(_)
                | MessageEvent::ToolCallStart { .. }
                | MessageEvent::ToolArguments { .. }
        )
    }
}

/// Splits text before every whitespace run that follows non-whitespace, so that each
/// token is a word with the whitespace that precedes it.
fn split_into_words(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut start = 0;
    let mut previous_was_space = true;
    for (index, ch) in text.char_indices() {
        let is_space = ch.is_whitespace();
        if is_space && !previous_was_space && index > start {
            tokens.push(text[start..index].to_owned());
            start = index;
        }
        previous_was_space = is_space;
    }
    if start < text.len() {
        tokens.push(text[start..].to_owned());
    }
    tokens
}
