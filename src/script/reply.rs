//! The scripted reply: what the mock model "says", when, and how it fails.
//!
//! A [`Reply`] is independent of any wire format. The endpoint a client calls decides how
//! the same script is framed (OpenAI chunks, the raw demo format, ...), so one script can
//! be reused against every client a team has.

use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, StatusCode};

use super::error::ErrorBody;
use super::rules::{self, enforce};
use super::step::StepKind;
use super::step::{expand_tool_calls, split_arguments, split_into_words, thinking_fragments};
use super::timeline::{Delivery, Ending, Recorded, Script};
use super::{CutKind, Step, StreamError, Thinking, ToolCall, Usage};

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
/// every content event: a text token, a piece of a refusal, a fragment of thinking, and
/// for each tool call the event naming it and each fragment of its arguments. Usage reports the same count as
/// completion tokens, in every format.
///
/// Methods that make no sense for a reply (a token delay on an HTTP error, two endings for
/// one stream, a cut after more tokens than the script has) panic at once with a message
/// naming the mistake and the fix, reported at the line of the test that calls them, so a
/// mis-built scenario fails where it is written. A [fixture](crate::fixture) reports the
/// same mistakes, with the same messages, at their place in the JSON.
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
    /// Extra response headers, sent after (and so overriding) the wire format's own.
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    pub(crate) headers_delay: Duration,
    /// Checked against the schema the request sent before it is sent
    /// ([`Reply::validate_against_request_schema`]).
    pub(crate) validate_schema: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ReplyKind {
    Stream(Script),
    HttpError(HttpError),
}

/// An HTTP error response in place of a stream.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HttpError {
    pub(crate) status: StatusCode,
    pub(crate) body: ErrorBody,
    pub(crate) retry_after: Option<Duration>,
    /// Sends the provider's rate-limit headers saying no request is left (OpenAI's
    /// `x-ratelimit-remaining-requests: 0`, Anthropic's own; none where the API sends
    /// none).
    pub(crate) requests_exhausted: bool,
}

impl Reply {
    fn stream(script: Script) -> Reply {
        Reply {
            kind: ReplyKind::Stream(script),
            headers: Vec::new(),
            headers_delay: Duration::ZERO,
            validate_schema: false,
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
            delivery: Delivery::default(),
            jitter: None,
            drawn_seed: None,
            usage: None,
            reasoning_content: false,
            bare_words: false,
            recorded: None,
        })
    }

    /// A recorded response, played back as it was recorded: the `status`, then each
    /// event (an SSE event, an NDJSON line, or a piece of any other body) written
    /// verbatim at its offset from the request. Give the headers with
    /// [`header`](Self::header) (a recorded reply sends only those, not the wire
    /// format's), and the time they came with [`delay_headers`](Self::delay_headers).
    /// [`MockChatServerBuilder::record_to`](crate::MockChatServerBuilder::record_to)
    /// writes such replies into a fixture file (the `recorded` reply kind), which is
    /// how they are usually made.
    ///
    /// Every fault and framing option applies as to a scripted stream, counting recorded
    /// events: `reset_connection_after(7)` resets the connection after the 7th event,
    /// `event_ids()` numbers the events of an SSE recording so that a client can resume.
    /// A recorded reply is sent the same way whether or not the request asks for a
    /// stream, as it was recorded.
    ///
    /// ```
    /// use chatmock::Reply;
    /// use std::time::Duration;
    ///
    /// let reply = Reply::recorded(
    ///     200,
    ///     [
    ///         (Duration::from_millis(180), "data: {\"n\":1}\n\n"),
    ///         (Duration::from_millis(230), "data: [DONE]\n\n"),
    ///     ],
    /// )
    /// .header("content-type", "text/event-stream")
    /// .delay_headers(Duration::from_millis(150))
    /// .speed(2.0);
    /// # drop(reply);
    /// ```
    ///
    /// # Panics
    ///
    /// If `status` is not an HTTP status (100 to 599), or an event's offset is earlier
    /// than the one before it.
    #[track_caller]
    pub fn recorded<I, B>(status: u16, events: I) -> Reply
    where
        I: IntoIterator<Item = (Duration, B)>,
        B: Into<Vec<u8>>,
    {
        let status = enforce(
            "Reply::recorded",
            rules::check_recorded_status(u64::from(status)),
        );
        let mut previous = Duration::ZERO;
        let mut steps = Vec::new();
        for (index, (at, bytes)) in events.into_iter().enumerate() {
            enforce(
                "Reply::recorded",
                rules::check_recorded_offset(index, previous, at),
            );
            previous = at;
            steps.push(Step::new(StepKind::Recorded {
                at,
                bytes: bytes.into(),
            }));
        }
        let mut reply = Reply::steps(steps);
        if let ReplyKind::Stream(script) = &mut reply.kind {
            script.send_done = false;
            script.recorded = Some(Box::new(Recorded {
                status,
                headers_at: Duration::ZERO,
                speed: 1.0,
            }));
        }
        reply
    }

    /// Plays a [recorded](Self::recorded) reply `factor` times as fast: 2.0 halves every
    /// offset, 0.5 doubles them. The bytes stay the same.
    ///
    /// # Panics
    ///
    /// On a reply that is not recorded, or if `factor` is not a finite number above zero.
    #[track_caller]
    pub fn speed(mut self, factor: f64) -> Reply {
        enforce("Reply::speed", rules::check_speed(factor));
        self.recorded_mut("speed").speed = factor;
        self
    }

    /// Plays a [recorded](Self::recorded) reply at once: every offset becomes zero.
    ///
    /// # Panics
    ///
    /// On a reply that is not recorded.
    #[track_caller]
    pub fn instant(mut self) -> Reply {
        self.recorded_mut("instant").speed = f64::INFINITY;
        self
    }

    /// Whether this reply is a recording played back.
    pub(crate) fn is_recorded(&self) -> bool {
        matches!(&self.kind, ReplyKind::Stream(script) if script.recorded.is_some())
    }

    /// How long the response headers wait: a recorded reply's at its speed.
    pub(crate) fn headers_delay(&self) -> Duration {
        match &self.kind {
            ReplyKind::Stream(Script {
                recorded: Some(recorded),
                ..
            }) => recorded.headers_delay(),
            _ => self.headers_delay,
        }
    }

    /// The reply of the original demo: `Hello, this is a mocked chatbot. How can I help
    /// you?`, word by word, with no delays (add them with [`token_delay`](Self::token_delay)).
    /// This is what a server answers when it was given no other reply.
    ///
    /// On `GET /stream` each word goes out bare, exactly as the original demo sent it
    /// (`data: Hello,`, `data: this`, ...), since its page puts a space before each; the
    /// chat formats send the words with their spaces, which concatenate to the sentence.
    pub fn demo() -> Reply {
        let mut reply = Reply::text(DEMO_TEXT);
        if let ReplyKind::Stream(script) = &mut reply.kind {
            script.bare_words = true;
        }
        reply
    }

    /// Streams `value` as compact JSON text, in fragments broken where a model's tokens
    /// break JSON (`{"`, `city`, `":"`, `Paris`, `"}`): the reply to a request for
    /// structured output (OpenAI's `response_format`, the Responses API's `text.format`,
    /// Gemini's `responseSchema`, Ollama's `format`). A non-streaming request gets the
    /// document whole, as the message text. Add
    /// [`validate_against_request_schema`](Self::validate_against_request_schema) to
    /// have the server check it against the schema the client sent.
    ///
    /// ```
    /// use chatmock::Reply;
    /// use serde_json::json;
    ///
    /// let reply = Reply::json(json!({ "city": "Paris", "temperature": 18 }));
    /// # drop(reply);
    /// ```
    pub fn json(value: serde_json::Value) -> Reply {
        Reply::tokens(split_arguments(&value.to_string()))
    }

    /// Makes the server check this reply against what the request asked for before
    /// sending it: its text against the request's JSON schema (or, for `json_object`,
    /// that it is a JSON object), and each tool call's arguments against the schema of the
    /// tool it calls, which the request must declare. A reply that the real API could
    /// never give to that request is answered with a 500 naming what is wrong, and fails
    /// the test when the server verifies.
    ///
    /// The check covers the keywords structured outputs use: `type`, `properties`,
    /// `required`, `additionalProperties`, `items`, `enum`, `const`, `anyOf` and local
    /// `$ref`s; other keywords (lengths, patterns, formats) are not checked.
    ///
    /// ```
    /// use chatmock::{matchers, Mock, Reply};
    /// use serde_json::json;
    ///
    /// let mock = Mock::given(matchers::response_format("json_schema"))
    ///     .respond_with(Reply::json(json!({ "city": "Paris" })).validate_against_request_schema());
    /// # drop(mock);
    /// ```
    ///
    /// # Panics
    ///
    /// On an HTTP error reply, which has nothing to check.
    #[track_caller]
    pub fn validate_against_request_schema(mut self) -> Reply {
        enforce(
            "Reply::validate_against_request_schema",
            rules::check_stream(&self),
        );
        self.validate_schema = true;
        self
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
    #[track_caller]
    pub fn http_error(status: u16) -> Reply {
        let status = enforce(
            "Reply::http_error",
            rules::check_error_status(status.into()),
        );
        Reply::with_error(status, ErrorBody::for_status(status))
    }

    fn with_error(status: StatusCode, body: ErrorBody) -> Reply {
        Reply {
            kind: ReplyKind::HttpError(HttpError {
                status,
                body,
                retry_after: None,
                requests_exhausted: false,
            }),
            headers: Vec::new(),
            headers_delay: Duration::ZERO,
            validate_schema: false,
        }
    }

    /// HTTP 429 for a rate limit (`rate_limit_exceeded`), with the provider's rate-limit
    /// headers saying that no requests remain (OpenAI's `x-ratelimit-remaining-requests:
    /// 0` and `x-ratelimit-reset-requests: 20s`, Anthropic's `anthropic-ratelimit-requests-*`;
    /// none for Gemini and Ollama, whose APIs send none). Clients retry it; add
    /// [`retry_after`](Self::retry_after) to say when. For a limit that counts requests
    /// and refills, see [`RateLimit`](crate::RateLimit).
    pub fn rate_limited() -> Reply {
        let mut reply = Reply::http_error(429);
        if let ReplyKind::HttpError(error) = &mut reply.kind {
            error.requests_exhausted = true;
        }
        reply
    }

    /// The completion tokens the reply delivers, which a token rate limit counts.
    pub(crate) fn completion_tokens(&self) -> u64 {
        match &self.kind {
            ReplyKind::Stream(script) => script.completion_tokens(),
            ReplyKind::HttpError(_) => 0,
        }
    }

    /// HTTP 429 for an exhausted quota (`insufficient_quota`): clients must not retry it.
    pub fn quota_exceeded() -> Reply {
        Reply::with_error(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorBody::new(
                "You exceeded your current quota, please check your plan and billing details.",
            )
            .with_type("insufficient_quota")
            .with_code("insufficient_quota"),
        )
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
        Reply::with_error(
            StatusCode::BAD_REQUEST,
            ErrorBody::new(
                "This model's maximum context length is 128000 tokens. However, your messages \
                 resulted in 130412 tokens. Please reduce the length of the messages.",
            )
            .with_type("invalid_request_error")
            .with_param("messages")
            .with_code("context_length_exceeded"),
        )
    }

    /// Puts a block of reasoning before what the reply says: its text, refusal or tool
    /// calls, after any reasoning it already has. See [`Step::thinking`] for how each
    /// format frames it. Its fragments count as tokens, so an ending such as
    /// [`disconnect_after`](Self::disconnect_after) counts them too.
    ///
    /// ```
    /// use chatmock::Reply;
    ///
    /// let reply = Reply::text("It is sunny in Paris.").thinking("The user asks about Paris.");
    /// # drop(reply);
    /// ```
    ///
    /// # Panics
    ///
    /// On an HTTP error reply, which says nothing.
    #[track_caller]
    pub fn thinking(mut self, thinking: impl Into<Thinking>) -> Reply {
        let script = self.scripted_mut("thinking");
        let at = script
            .steps
            .iter()
            .position(|step| !step.kind.is_thinking())
            .unwrap_or(script.steps.len());
        let fragments = thinking_fragments(thinking.into(), None);
        script.steps.splice(at..at, fragments);
        self
    }

    /// Reports these token counts in the reply's usage instead of the computed ones;
    /// see [`Usage`] for the defaults and where each format puts each count.
    ///
    /// # Panics
    ///
    /// On an HTTP error reply, which reports no usage.
    #[track_caller]
    pub fn usage(mut self, usage: Usage) -> Reply {
        self.scripted_mut("usage").usage = Some(Box::new(usage));
        self
    }

    /// Sends the reply's thinking in Chat Completions as the `reasoning_content` field of
    /// the deltas and of the message, as DeepSeek, vLLM and other OpenAI-compatible
    /// servers do. OpenAI itself sends no reasoning there, so by default Chat Completions
    /// leaves the thinking out (and only counts it in
    /// `completion_tokens_details.reasoning_tokens`).
    ///
    /// ```
    /// use chatmock::Reply;
    ///
    /// let reply = Reply::text("4").thinking("2 + 2 is 4.").reasoning_content();
    /// # drop(reply);
    /// ```
    #[track_caller]
    pub fn reasoning_content(mut self) -> Reply {
        self.scripted_mut("reasoning_content").reasoning_content = true;
        self
    }

    /// Replaces the message of an HTTP error reply.
    ///
    /// # Panics
    ///
    /// On a streamed reply: use [`error_after`](Self::error_after) to send an error event.
    #[track_caller]
    pub fn error_message(mut self, message: impl Into<String>) -> Reply {
        self.http_error_mut("error_message").body.message = message.into();
        self
    }

    /// Sends `retry-after` (whole seconds, rounded up) and `retry-after-ms` with an HTTP
    /// error reply, telling clients when to retry.
    ///
    /// # Panics
    ///
    /// On a streamed reply, which has nothing to retry; add a header with
    /// [`header`](Self::header) if that is really what the test needs.
    #[track_caller]
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
    #[track_caller]
    pub fn header(mut self, name: &str, value: &str) -> Reply {
        let name = enforce("Reply::header", rules::check_header_name(name));
        let value = enforce("Reply::header", rules::check_header_value(value));
        if let ReplyKind::Stream(script) = &mut self.kind {
            if script.recorded.is_some() && name == axum::http::header::CONTENT_TYPE {
                script.delivery.recorded_sse = value
                    .to_str()
                    .is_ok_and(|value| value.starts_with("text/event-stream"));
            }
        }
        self.headers.push((name, value));
        self
    }

    /// Waits `delay` before sending the response headers (and so anything at all): for
    /// testing a client's connect or response timeout. Compare
    /// [`first_token_delay`](Self::first_token_delay), which waits after the headers.
    pub fn delay_headers(mut self, delay: Duration) -> Reply {
        self.headers_delay = delay;
        if let ReplyKind::Stream(Script {
            recorded: Some(recorded),
            ..
        }) = &mut self.kind
        {
            recorded.headers_at = delay;
        }
        self
    }

    /// Waits `delay` after the response headers before the first token: the "time to
    /// first token" of a real model. Defaults to zero.
    #[track_caller]
    pub fn first_token_delay(mut self, delay: Duration) -> Reply {
        self.scripted_mut("first_token_delay").first_token_delay = delay;
        self
    }

    /// The time to first token: the same as [`first_token_delay`](Self::first_token_delay),
    /// under the name provider dashboards use.
    ///
    /// ```
    /// use chatmock::Reply;
    /// use std::time::Duration;
    ///
    /// let reply = Reply::text("Thinking done.").time_to_first_token(Duration::from_millis(600));
    /// # drop(reply);
    /// ```
    #[track_caller]
    pub fn time_to_first_token(self, delay: Duration) -> Reply {
        self.first_token_delay(delay)
    }

    /// Streams `rate` tokens a second: a token delay of `1 / rate` seconds, the shorthand
    /// for a model's advertised speed. Vary it with [`jitter`](Self::jitter).
    ///
    /// ```
    /// use chatmock::Reply;
    ///
    /// let reply = Reply::text("Fifty tokens a second.").tokens_per_second(50.0);
    /// # drop(reply);
    /// ```
    ///
    /// # Panics
    ///
    /// If `rate` is not a finite number above zero.
    #[track_caller]
    pub fn tokens_per_second(self, rate: f64) -> Reply {
        let delay = enforce(
            "Reply::tokens_per_second",
            rules::check_tokens_per_second(rate),
        );
        self.token_delay(delay)
    }

    /// Varies the gaps between tokens at random, from a seed: see [`Jitter`](crate::Jitter).
    ///
    /// ```
    /// use chatmock::{Jitter, Reply};
    /// use std::time::Duration;
    ///
    /// let reply = Reply::text("Uneven, but the same on every run.")
    ///     .tokens_per_second(40.0)
    ///     .jitter(Jitter::uniform(Duration::from_millis(10)).seed(1));
    /// # drop(reply);
    /// ```
    #[track_caller]
    pub fn jitter(mut self, jitter: crate::Jitter) -> Reply {
        self.scripted_mut("jitter").jitter = Some(jitter);
        self
    }

    /// This reply with `seed` drawn for its jitter, if its jitter names no seed of its
    /// own: what one request plays.
    pub(crate) fn with_drawn_seed(&self, seed: u64) -> Option<Reply> {
        match &self.kind {
            ReplyKind::Stream(script) if script.needs_seed() => {
                let mut reply = self.clone();
                if let ReplyKind::Stream(script) = &mut reply.kind {
                    script.drawn_seed = Some(seed);
                }
                Some(reply)
            }
            _ => None,
        }
    }

    /// How many content events a chaos fault may strike after: those of a stream with no
    /// ending of its own, or `None` for a reply it cannot strike.
    pub(crate) fn tokens_before_any_ending(&self) -> Option<usize> {
        match &self.kind {
            ReplyKind::Stream(script) if script.ending().is_none() => Some(script.content_events()),
            _ => None,
        }
    }

    /// The seed this reply's jitter draws from, if it has jitter and a seed.
    pub(crate) fn pacing_seed(&self) -> Option<u64> {
        match &self.kind {
            ReplyKind::Stream(script) => script.pacing_seed(),
            ReplyKind::HttpError(_) => None,
        }
    }

    /// Waits `delay` between consecutive tokens. Defaults to zero.
    #[track_caller]
    pub fn token_delay(mut self, delay: Duration) -> Reply {
        self.scripted_mut("token_delay").token_delay = delay;
        self
    }

    /// The reason the final chunk reports for the end of generation, in OpenAI's words:
    /// `"stop"` (the default), `"length"`, `"content_filter"`, or `"tool_calls"` (the
    /// default when the reply calls a tool). Other formats translate these
    /// (`end_turn`, `max_tokens`, ... for Anthropic, `STOP`, `MAX_TOKENS`, ... for Gemini);
    /// any other string is sent as given, so a test can also check how a client copes
    /// with a value it does not know.
    #[track_caller]
    pub fn finish_reason(mut self, reason: impl Into<String>) -> Reply {
        self.scripted_mut("finish_reason").finish_reason = Some(reason.into());
        self
    }

    /// Ends the stream cleanly after the final chunk but without the `data: [DONE]`
    /// event, as a misbehaving proxy or provider might.
    ///
    /// It shapes the normal end of the stream only, so it goes with any ending: a stream
    /// cut or stalled by [`end_cleanly_after`](Self::end_cleanly_after),
    /// [`disconnect_after`](Self::disconnect_after),
    /// [`reset_connection_after`](Self::reset_connection_after) or
    /// [`stall_after`](Self::stall_after) sends no `[DONE]` anyway, but one that a client
    /// resumes past the cut (with [`event_ids`](Self::event_ids)) reaches the normal end,
    /// and there `without_done` applies. An error event from
    /// [`error_after`](Self::error_after) ends the stream as the real API does (for
    /// OpenAI Chat Completions, with `data: [DONE]`), with or without `without_done`.
    #[track_caller]
    pub fn without_done(mut self) -> Reply {
        self.scripted_mut("without_done").send_done = false;
        self
    }

    /// After `tokens` tokens, sends `error` as the provider's error event and ends the
    /// stream as the real API does (for OpenAI Chat Completions: `data: {"error":{...}}`,
    /// then `data: [DONE]`). A non-streaming request gets the error as an HTTP error.
    #[track_caller]
    pub fn error_after(self, tokens: usize, error: StreamError) -> Reply {
        self.end_after("error_after", tokens, Ending::Error(Box::new(error)))
    }

    /// After `tokens` tokens, ends the HTTP body properly but early: no finish chunk, no
    /// `data: [DONE]`. The client sees a normal end of stream.
    #[track_caller]
    pub fn end_cleanly_after(self, tokens: usize) -> Reply {
        self.end_after(
            "end_cleanly_after",
            tokens,
            Ending::Cut(CutKind::EndedCleanly),
        )
    }

    /// After `tokens` tokens, closes the connection without finishing the HTTP body. The
    /// client sees an incomplete body: a transport error, not a clean end.
    #[track_caller]
    pub fn disconnect_after(self, tokens: usize) -> Reply {
        self.end_after(
            "disconnect_after",
            tokens,
            Ending::Cut(CutKind::Disconnected),
        )
    }

    /// After `tokens` tokens, resets the connection (TCP RST). The client sees
    /// "connection reset by peer".
    #[track_caller]
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
    #[track_caller]
    pub fn stall_after(self, tokens: usize) -> Reply {
        self.end_after("stall_after", tokens, Ending::Stall)
    }

    /// Gives every event an SSE `id:` (1, 2, 3, ...). A request carrying
    /// `Last-Event-ID: k` then resumes the stream after event `k`, as an SSE client does
    /// when it reconnects. Scripted cuts that lie before the resume point are not
    /// repeated, so `disconnect_after(3)` with ids streams the whole text across two
    /// attempts.
    ///
    /// Ids count SSE events, while endings and
    /// [`StreamOutcome::content_events`](crate::StreamOutcome::content_events) count
    /// content events (tokens and tool-call pieces): OpenAI Chat Completions streams a
    /// role chunk first, so after `reset_connection_after(2)` the client reconnects with
    /// `Last-Event-ID: 3` while the outcome says 2 content events.
    #[track_caller]
    pub fn event_ids(mut self) -> Reply {
        self.script_mut("event_ids").delivery.event_ids = true;
        self
    }

    /// Sends the SSE `retry:` field with the first event, telling the client to wait
    /// `time` before reconnecting.
    #[track_caller]
    pub fn reconnection_time(mut self, time: Duration) -> Reply {
        self.script_mut("reconnection_time")
            .delivery
            .reconnection_time = Some(time);
        self
    }

    /// Sends an SSE comment (`: keep-alive`) whenever the stream has been silent for
    /// `interval`, as proxies do, including during stalls.
    ///
    /// # Panics
    ///
    /// If `interval` is zero.
    #[track_caller]
    pub fn keep_alive(mut self, interval: Duration) -> Reply {
        enforce("Reply::keep_alive", rules::check_keep_alive(interval));
        self.script_mut("keep_alive").delivery.keep_alive = Some(interval);
        self
    }

    /// Ends every SSE line with CRLF instead of LF, as some servers and proxies do.
    #[track_caller]
    pub fn crlf_line_endings(mut self) -> Reply {
        self.script_mut("crlf_line_endings").delivery.crlf = true;
        self
    }

    /// Writes the stream in pieces of at most `max_bytes`, each a separate write, so that
    /// events (and JSON chunks, and UTF-8 characters) arrive split across reads: a test of
    /// the client parser's buffering.
    ///
    /// # Panics
    ///
    /// If `max_bytes` is zero.
    #[track_caller]
    pub fn fragment_writes(mut self, max_bytes: usize) -> Reply {
        enforce(
            "Reply::fragment_writes",
            rules::check_fragment_writes(max_bytes),
        );
        self.script_mut("fragment_writes").delivery.fragment_size = Some(max_bytes);
        self
    }

    /// Ends the stream with `ending` after `tokens` content events, by the rules of
    /// [`rules::check_ending`].
    #[track_caller]
    fn end_after(mut self, method: &str, tokens: usize, ending: Ending) -> Reply {
        enforce(
            format_args!("Reply::{method}"),
            rules::check_ending(&self, tokens),
        );
        self.script_mut(method).ending = Some((tokens, ending));
        self
    }

    /// The script of a streamed reply, for method `method`, which only streams have.
    #[track_caller]
    fn script_mut(&mut self, method: &str) -> &mut Script {
        enforce(format_args!("Reply::{method}"), rules::check_stream(self));
        match &mut self.kind {
            ReplyKind::Stream(script) => script,
            ReplyKind::HttpError(_) => unreachable!("rules::check_stream passed"),
        }
    }

    /// The script of a stream written by hand, for method `method`, which shapes what a
    /// recording already says.
    #[track_caller]
    fn scripted_mut(&mut self, method: &str) -> &mut Script {
        enforce(format_args!("Reply::{method}"), rules::check_scripted(self));
        self.script_mut(method)
    }

    /// What a recorded reply has beyond its events, for method `method`, which only
    /// recorded replies have.
    #[track_caller]
    fn recorded_mut(&mut self, method: &str) -> &mut Recorded {
        enforce(format_args!("Reply::{method}"), rules::check_recorded(self));
        match &mut self.kind {
            ReplyKind::Stream(Script {
                recorded: Some(recorded),
                ..
            }) => recorded,
            _ => unreachable!("rules::check_recorded passed"),
        }
    }

    /// The error of an HTTP error reply, for method `method`, which only HTTP errors have.
    #[track_caller]
    fn http_error_mut(&mut self, method: &str) -> &mut HttpError {
        enforce(
            format_args!("Reply::{method}"),
            rules::check_http_error(self),
        );
        match &mut self.kind {
            ReplyKind::HttpError(error) => error,
            ReplyKind::Stream(_) => unreachable!("rules::check_http_error passed"),
        }
    }
}
