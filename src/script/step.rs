//! The steps of an explicit script, and how tool calls and text become content steps.

use std::time::Duration;

use serde_json::Value;

use super::rules::{self, enforce};
use super::timeline::MessageEvent;

/// One step of an explicit script given to [`Reply::steps`](crate::Reply::steps): a token, a pause, or a
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
    pub(super) kind: StepKind,
    /// Replaces the default gap before this step.
    pub(super) own_delay: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum StepKind {
    Token(String),
    Refusal(String),
    /// Expanded into `ThinkingFragment`s when the script is built.
    Thinking(Thinking),
    /// One word of a thinking block; `starts` marks the first of its block. Every
    /// fragment carries the block's signature, so a format can close the block (or a
    /// stream resumed inside it) with no state beyond the event.
    ThinkingFragment {
        text: String,
        signature: Option<String>,
        starts: bool,
    },
    RedactedThinking(String),
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
    /// One event of a recorded response, written verbatim `at` its offset from the
    /// request (before the reply's speed applies). It counts as content, so that endings
    /// count recorded events.
    Recorded {
        at: Duration,
        bytes: Vec<u8>,
    },
    Comment(String),
    Malformed,
}

impl Step {
    pub(super) fn new(kind: StepKind) -> Step {
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

    /// A block of the model's reasoning, streamed in word-sized fragments (each timed
    /// like a token and counted as a reasoning token) before what the model says. Each
    /// format frames it as its API does: Anthropic `thinking` blocks ending in a
    /// `signature_delta`, Responses `reasoning` items with summary-text deltas, Gemini
    /// parts marked `thought: true`, Ollama's `message.thinking`. Chat Completions sends
    /// none, as OpenAI does, unless the reply asks for
    /// [`reasoning_content`](crate::Reply::reasoning_content). Give it a
    /// [`Thinking`] to choose its signature.
    ///
    /// ```
    /// use chatmock::{Reply, Step, Thinking};
    ///
    /// let reply = Reply::steps([
    ///     Step::thinking("The user wants the weather."),
    ///     Step::thinking(Thinking::new("Paris, then.").with_signature("EqQBCkYIARgC")),
    ///     Step::token("Sunny."),
    /// ]);
    /// # drop(reply);
    /// ```
    pub fn thinking(thinking: impl Into<Thinking>) -> Step {
        Step::new(StepKind::Thinking(thinking.into()))
    }

    /// A block of reasoning the provider sends encrypted, whole: Anthropic's
    /// `redacted_thinking` block with `data`, a Responses `reasoning` item with no
    /// summary whose `encrypted_content` is `data` (when the request includes
    /// `reasoning.encrypted_content`). Formats with no such thing leave it out. It counts
    /// as one reasoning token.
    ///
    /// ```
    /// use chatmock::{Reply, Step};
    ///
    /// let reply = Reply::steps([Step::redacted_thinking("EmwKAhgBEgy3va3pzix"), Step::token("Hi.")]);
    /// # drop(reply);
    /// ```
    pub fn redacted_thinking(data: impl Into<String>) -> Step {
        Step::new(StepKind::RedactedThinking(data.into()))
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
    /// [`token_delay`](crate::Reply::token_delay) or
    /// [`first_token_delay`](crate::Reply::first_token_delay) for tokens (and refusals and
    /// tool calls), no gap for other steps.
    ///
    /// # Panics
    ///
    /// When called on a [`Step::pause`]: a pause already is a delay, so write one pause
    /// with the total duration instead.
    #[track_caller]
    pub fn after(mut self, delay: Duration) -> Step {
        enforce("Step::after", rules::check_after(&self, delay));
        self.own_delay = Some(delay);
        self
    }
}

/// A function call the mock model makes, for [`Reply::tool_call`](crate::Reply::tool_call) and
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
    #[track_caller]
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
    #[track_caller]
    pub fn with_raw_arguments<I>(name: impl Into<String>, fragments: I) -> ToolCall
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        let fragments = fragments.into_iter().map(Into::into).collect();
        ToolCall::new("with_raw_arguments", name.into(), fragments)
    }

    #[track_caller]
    fn new(constructor: &str, name: String, fragments: Vec<String>) -> ToolCall {
        enforce(
            format_args!("ToolCall::{constructor}"),
            rules::check_tool_name(&name),
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

/// A block of reasoning for [`Step::thinking`] and [`Reply::thinking`](crate::Reply::thinking):
/// its text and, optionally, the signature the provider attaches to it.
///
/// Anthropic signs every thinking block (`signature_delta`) and clients send the block
/// back with its signature in the next turn; Responses carries it as `encrypted_content`
/// and Gemini as `thoughtSignature`. Without [`with_signature`](Self::with_signature)
/// each block gets a signature derived from its text: the same text, the same signature.
///
/// ```
/// use chatmock::{Reply, Thinking};
///
/// let reply = Reply::text("Sunny.")
///     .thinking(Thinking::new("Check the forecast.").with_signature("EqQBCkYIARgC"));
/// # drop(reply);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "a Thinking does nothing until it is part of a Reply"]
pub struct Thinking {
    text: String,
    signature: Option<String>,
}

impl Thinking {
    /// Reasoning `text`, streamed in word-sized fragments.
    pub fn new(text: impl Into<String>) -> Thinking {
        Thinking {
            text: text.into(),
            signature: None,
        }
    }

    /// Sends `signature` as the block's signature instead of the derived one, so a test
    /// can check that the client sends it back unchanged.
    pub fn with_signature(mut self, signature: impl Into<String>) -> Thinking {
        self.signature = Some(signature.into());
        self
    }
}

impl From<&str> for Thinking {
    fn from(text: &str) -> Thinking {
        Thinking::new(text)
    }
}

impl From<String> for Thinking {
    fn from(text: String) -> Thinking {
        Thinking::new(text)
    }
}

/// Splits JSON text where letters and digits meet punctuation, which is roughly where a
/// model's tokens break it: `{"city":"Paris"}` becomes `{"`, `city`, `":"`, `Paris`, `"}`.
pub(super) fn split_arguments(json: &str) -> Vec<String> {
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

/// Replaces each tool call with the steps that stream it: one naming the function (which
/// keeps the call's own delay), then one per fragment of its arguments. Calls are numbered
/// from 0 in the order they appear. Each thinking block becomes its word-sized fragments,
/// the first keeping the block's own delay; an empty block is one empty fragment, so
/// that it still shows.
pub(super) fn expand_tool_calls(steps: impl IntoIterator<Item = Step>) -> Vec<Step> {
    let mut expanded = Vec::new();
    let mut calls = 0;
    for step in steps {
        let call = match step.kind {
            StepKind::ToolCall(call) => call,
            StepKind::Thinking(thinking) => {
                expanded.extend(thinking_fragments(thinking, step.own_delay));
                continue;
            }
            _ => {
                expanded.push(step);
                continue;
            }
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

/// The fragments that stream one thinking block.
pub(super) fn thinking_fragments(thinking: Thinking, own_delay: Option<Duration>) -> Vec<Step> {
    let mut words = split_into_words(&thinking.text);
    if words.is_empty() {
        words.push(String::new());
    }
    words
        .into_iter()
        .enumerate()
        .map(|(position, text)| Step {
            kind: StepKind::ThinkingFragment {
                text,
                signature: thinking.signature.clone(),
                starts: position == 0,
            },
            own_delay: if position == 0 { own_delay } else { None },
        })
        .collect()
}

impl StepKind {
    pub(super) fn is_recorded(&self) -> bool {
        matches!(self, StepKind::Recorded { .. })
    }

    /// Whether this step is reasoning, which [`Reply::thinking`](crate::Reply::thinking)
    /// puts its block after.
    pub(super) fn is_thinking(&self) -> bool {
        matches!(
            self,
            StepKind::Thinking(_)
                | StepKind::ThinkingFragment { .. }
                | StepKind::RedactedThinking(_)
        )
    }

    /// The message event of a content step: the unit in which tokens are timed, counted
    /// for endings and usage, and reported as progress.
    pub(super) fn content(&self) -> Option<MessageEvent<'_>> {
        Some(match self {
            StepKind::Token(text) => MessageEvent::Token(text),
            StepKind::Refusal(text) => MessageEvent::Refusal(text),
            StepKind::ThinkingFragment {
                text,
                signature,
                starts,
            } => MessageEvent::Thinking {
                text,
                signature: signature.as_deref(),
                starts: *starts,
            },
            StepKind::RedactedThinking(data) => MessageEvent::RedactedThinking(data),
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
            | StepKind::Thinking(_)
            | StepKind::Pause(_)
            | StepKind::Raw(_)
            | StepKind::Recorded { .. }
            | StepKind::Comment(_)
            | StepKind::Malformed => return None,
        })
    }
}

/// Splits text before every whitespace run that follows non-whitespace, so that each
/// token is a word with the whitespace that precedes it.
pub(super) fn split_into_words(text: &str) -> Vec<String> {
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::{expand_tool_calls, split_arguments, split_into_words, Step, StepKind, ToolCall};

    #[test]
    fn words_keep_the_whitespace_before_them_and_concatenate_back() {
        let cases: &[(&str, &[&str])] = &[
            ("", &[]),
            ("Hello", &["Hello"]),
            ("Hello, world", &["Hello,", " world"]),
            ("It is sunny.", &["It", " is", " sunny."]),
            ("a  b", &["a", "  b"]),
            ("  leading", &["  leading"]),
            ("trailing ", &["trailing", " "]),
            ("   ", &["   "]),
            ("one\ntwo\tthree", &["one", "\ntwo", "\tthree"]),
            ("line\r\n\r\nnext", &["line", "\r\n\r\nnext"]),
            ("héllo wörld 你好", &["héllo", " wörld", " 你好"]),
            ("[DONE] \"quoted\"", &["[DONE]", " \"quoted\""]),
        ];
        for (text, words) in cases {
            let split = split_into_words(text);
            assert_eq!(split, *words, "{text:?}");
            assert_eq!(split.concat(), *text, "{text:?}");
        }
    }

    #[test]
    fn arguments_split_where_words_meet_punctuation() {
        let cases: &[(&str, &[&str])] = &[
            ("", &[]),
            ("{}", &["{}"]),
            (
                r#"{"city":"Paris"}"#,
                &["{\"", "city", "\":\"", "Paris", "\"}"],
            ),
            (
                r#"{"n":12,"ok":true}"#,
                &["{\"", "n", "\":", "12", ",\"", "ok", "\":", "true", "}"],
            ),
            (
                r#"{"q":"São Paulo"}"#,
                &["{\"", "q", "\":\"", "São", " ", "Paulo", "\"}"],
            ),
            (r#"[1.5]"#, &["[", "1", ".", "5", "]"]),
        ];
        for (json, fragments) in cases {
            let split = split_arguments(json);
            assert_eq!(split, *fragments, "{json}");
            assert_eq!(split.concat(), *json, "{json}");
        }
    }

    #[test]
    fn a_tool_call_is_sent_as_compact_json_or_exactly_its_raw_fragments() {
        let call = ToolCall::function("get_weather", json!({ "city": "Paris", "days": 2 }));
        assert_eq!(call.fragments.concat(), r#"{"city":"Paris","days":2}"#);
        let raw = ToolCall::with_raw_arguments("search", ["{\"q\": \"ru", "st"]);
        assert_eq!(raw.fragments, ["{\"q\": \"ru", "st"]);
        assert_eq!(raw.id, None);
        assert_eq!(raw.with_id("call_1").id.as_deref(), Some("call_1"));
    }

    #[test]
    fn tool_calls_expand_into_a_start_and_their_fragments_numbered_in_order() {
        let delay = Duration::from_millis(50);
        let expanded = expand_tool_calls([
            Step::token("Checking."),
            Step::tool_call(ToolCall::with_raw_arguments("f", ["a", "b"]).with_id("id_f"))
                .after(delay),
            Step::pause(delay),
            Step::tool_call(ToolCall::with_raw_arguments("g", Vec::<String>::new())),
        ]);
        let start = |index, id: Option<&str>, name: &str| StepKind::ToolCallStart {
            index,
            id: id.map(str::to_owned),
            name: name.to_owned(),
        };
        let fragment = |index, fragment: &str| StepKind::ToolArguments {
            index,
            fragment: fragment.to_owned(),
        };
        let kinds: Vec<&StepKind> = expanded.iter().map(|step| &step.kind).collect();
        assert_eq!(
            kinds,
            [
                &StepKind::Token("Checking.".to_owned()),
                &start(0, Some("id_f"), "f"),
                &fragment(0, "a"),
                &fragment(0, "b"),
                &StepKind::Pause(delay),
                &start(1, None, "g"),
            ]
        );
        // The call's own delay goes to the event naming it; fragments take the usual gap.
        let delays: Vec<Option<Duration>> = expanded.iter().map(|step| step.own_delay).collect();
        assert_eq!(delays, [None, Some(delay), None, None, None, None]);
    }

    #[test]
    fn only_tokens_refusals_and_tool_call_events_are_content() {
        let content: Vec<bool> = expand_tool_calls([
            Step::token("a"),
            Step::refusal("b"),
            Step::tool_call(ToolCall::with_raw_arguments("f", ["x"])),
            Step::pause(Duration::from_millis(1)),
            Step::raw("raw"),
            Step::comment("comment"),
            Step::malformed_chunk(),
        ])
        .iter()
        .map(|step| step.kind.content().is_some())
        .collect();
        assert_eq!(
            content,
            [true, true, true, true, false, false, false, false]
        );
    }
}
