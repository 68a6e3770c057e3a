//! A built script and its timeline: every event with the time it is due.

use std::time::Duration;

use super::pacing::{Jitter, JitteredGaps};
use super::step::{Step, StepKind};
use super::{CutKind, StreamError, Usage};

/// A streamed reply's script.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Script {
    pub(super) steps: Vec<Step>,
    pub(super) first_token_delay: Duration,
    pub(super) token_delay: Duration,
    /// `None` picks the reason from the content: `tool_calls` if the model calls a tool.
    pub(super) finish_reason: Option<String>,
    pub(super) send_done: bool,
    /// How the stream ends, if not normally, and after how many tokens.
    pub(super) ending: Option<(usize, Ending)>,
    pub(crate) delivery: Delivery,
    /// Random variation of the scripted gaps, and the seed it draws from when it names
    /// none: chosen for each request, before the timeline is played.
    pub(super) jitter: Option<Jitter>,
    pub(super) drawn_seed: Option<u64>,
    /// What the script says of its usage, if anything; what it leaves out is counted.
    /// Boxed: most scripts state none, and a reply stays small.
    pub(crate) usage: Option<Box<Usage>>,
    /// Chat Completions sends the thinking as `reasoning_content`.
    pub(crate) reasoning_content: bool,
    /// The demo's reply: the raw demo format sends each word without the whitespace
    /// before it, as the original demo did.
    pub(crate) bare_words: bool,
    /// A recorded response played back: its steps are all `Recorded`, and it has none
    /// of a script's own framing (no start, finish or end-of-stream marker).
    /// Boxed: most scripts are written by hand.
    pub(crate) recorded: Option<Box<Recorded>>,
}

/// What a recorded response has beyond its events.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Recorded {
    pub(crate) status: u16,
    /// When the response headers came, from the request.
    pub(crate) headers_at: Duration,
    /// How much faster than recorded it plays: 1 exactly as recorded, infinity at once.
    pub(crate) speed: f64,
}

impl Recorded {
    /// `offset` (from the request) at the replay's speed.
    pub(crate) fn scaled(&self, offset: Duration) -> Duration {
        if self.speed == 1.0 {
            offset
        } else if self.speed.is_infinite() {
            Duration::ZERO
        } else {
            Duration::from_nanos((offset.as_nanos() as f64 / self.speed).round() as u64)
        }
    }

    /// When the headers are sent, from the request, at the replay's speed.
    pub(crate) fn headers_delay(&self) -> Duration {
        self.scaled(self.headers_at)
    }
}

/// How a stream ends when the script says it does not end normally.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Ending {
    /// Boxed: an error is rare, and keeps every script small.
    Error(Box<StreamError>),
    Cut(CutKind),
    Stall,
}

/// How a stream's bytes are delivered, whatever the format says in them: the SSE
/// reconnection fields (ids, `retry:`), keep-alive comments, CRLF line endings and
/// fragmented writes. Playback applies each as one small part (`playback/`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Delivery {
    pub(crate) event_ids: bool,
    pub(crate) reconnection_time: Option<Duration>,
    pub(crate) keep_alive: Option<Duration>,
    pub(crate) crlf: bool,
    pub(crate) fragment_size: Option<usize>,
    /// A recorded reply's events are SSE events (its content type says so): SSE ids
    /// and `retry:` apply to them.
    pub(crate) recorded_sse: bool,
}

impl Ending {
    pub(super) fn describe(&self) -> &'static str {
        match self {
            Ending::Error(_) => "error_after",
            Ending::Cut(CutKind::EndedCleanly) => "end_cleanly_after",
            Ending::Cut(CutKind::Disconnected) => "disconnect_after",
            Ending::Cut(CutKind::Reset) => "reset_connection_after",
            Ending::Stall => "stall_after",
        }
    }
}

/// What a reply said, gathered into whole parts, for complete (non-streaming) responses.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum OutputPart<'a> {
    Text(String),
    Refusal(String),
    /// One thinking block, with its scripted signature if it has one.
    Thinking {
        text: String,
        signature: Option<&'a str>,
    },
    RedactedThinking(&'a str),
    ToolCall {
        index: usize,
        id: Option<&'a str>,
        name: &'a str,
        arguments: String,
    },
}

impl Script {
    /// The content events of the script, in order.
    pub(crate) fn content(&self) -> impl Iterator<Item = MessageEvent<'_>> {
        self.steps.iter().filter_map(|step| step.kind.content())
    }

    /// The content events a client receives: all of them, or those before a scripted
    /// ending.
    pub(crate) fn delivered_content(&self) -> impl Iterator<Item = MessageEvent<'_>> {
        let limit = self.ending.as_ref().map_or(usize::MAX, |(at, _)| *at);
        self.content().take(limit)
    }

    /// How many content events the script has: its content, or its recorded events,
    /// which endings count.
    pub(crate) fn content_events(&self) -> usize {
        self.steps
            .iter()
            .filter(|step| step.kind.content().is_some() || step.kind.is_recorded())
            .count()
    }

    /// How many content events a client receives: the completion tokens of the usage
    /// every format reports.
    pub(crate) fn completion_tokens(&self) -> u64 {
        self.delivered_content().count() as u64
    }

    /// How many of those are reasoning.
    pub(crate) fn reasoning_tokens(&self) -> u64 {
        self.delivered_content()
            .filter(MessageEvent::is_reasoning)
            .count() as u64
    }

    /// The delivered content gathered into parts: runs of text, runs of refusal, and
    /// each tool call with its whole arguments.
    pub(crate) fn delivered_output(&self) -> Vec<OutputPart<'_>> {
        gather(self.delivered_content())
    }

    /// All the scripted content gathered into parts, whether or not an ending cuts it
    /// short: what the reply means to say.
    pub(crate) fn output(&self) -> Vec<OutputPart<'_>> {
        gather(self.content())
    }
}

/// Content events gathered into parts: runs of text, runs of refusal, and each tool call
/// with its whole arguments.
fn gather<'a>(events: impl Iterator<Item = MessageEvent<'a>>) -> Vec<OutputPart<'a>> {
    {
        let mut parts: Vec<OutputPart<'a>> = Vec::new();
        for event in events {
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
                (
                    MessageEvent::Thinking {
                        text,
                        starts: false,
                        ..
                    },
                    Some(OutputPart::Thinking { text: all, .. }),
                ) => all.push_str(text),
                (
                    MessageEvent::Thinking {
                        text, signature, ..
                    },
                    _,
                ) => parts.push(OutputPart::Thinking {
                    text: text.to_owned(),
                    signature,
                }),
                (MessageEvent::RedactedThinking(data), _) => {
                    parts.push(OutputPart::RedactedThinking(data));
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
}

impl Script {
    /// The reason generation ended: the script's own, else `tool_calls` for a reply that
    /// calls a tool, else `stop`.
    pub(crate) fn finish_reason(&self) -> FinishReason<'_> {
        match &self.finish_reason {
            Some(reason) => FinishReason::from_openai(reason),
            None if self
                .content()
                .any(|event| matches!(event, MessageEvent::ToolCallStart { .. })) =>
            {
                FinishReason::ToolCalls
            }
            None => FinishReason::Stop,
        }
    }

    /// The seed the jitter draws from: its own, else the one drawn for this request.
    pub(crate) fn pacing_seed(&self) -> Option<u64> {
        let jitter = self.jitter.as_ref()?;
        jitter.fixed_seed().or(self.drawn_seed)
    }

    /// Whether the jitter needs a seed drawn for each request.
    pub(crate) fn needs_seed(&self) -> bool {
        self.jitter
            .is_some_and(|jitter| jitter.fixed_seed().is_none())
    }

    pub(crate) fn ending(&self) -> Option<&Ending> {
        self.ending.as_ref().map(|(_, ending)| ending)
    }

    /// When each step is due, counted from the response headers. Times are absolute
    /// offsets rather than gaps so that playback never drifts, however long the script.
    ///
    /// Jitter varies the scripted gaps before content (the first token's delay and the
    /// token delay), not a step's own delay or a pause, which say exactly what they mean.
    fn schedule(&self) -> impl Iterator<Item = (Duration, &Step)> {
        let mut at = Duration::ZERO;
        let mut started = false;
        let mut jittered = self
            .jitter
            .map(|jitter| JitteredGaps::new(jitter, self.pacing_seed().unwrap_or(0)));
        self.steps.iter().map(move |step| {
            if let (StepKind::Recorded { at: offset, .. }, Some(recorded)) =
                (&step.kind, &self.recorded)
            {
                // Recorded offsets count from the request, and replay from the headers.
                let offset = recorded.scaled(*offset);
                at = offset.saturating_sub(recorded.headers_delay()).max(at);
                return (at, step);
            }
            let is_content = step.kind.content().is_some();
            let default_gap = match step.kind {
                StepKind::Pause(pause) => pause,
                _ if is_content && started => self.token_delay,
                _ if is_content => self.first_token_delay,
                _ => Duration::ZERO,
            };
            let gap = match (step.own_delay, &mut jittered) {
                (Some(own), _) => own,
                (None, Some(gaps)) if is_content => gaps.next(default_gap),
                (None, _) => default_gap,
            };
            at += gap;
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
                StepKind::Recorded { bytes, .. } => {
                    if limit == Some(content_seen) {
                        self.push_scripted_end(at, &mut beats);
                        if terminal {
                            return beats;
                        }
                    }
                    content_seen += 1;
                    ScriptEvent::Recorded(bytes)
                }
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
        if self.recorded.is_some() {
            // What the recording ends with is in its events.
            return beats;
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
    /// Part of the message, framed by the wire format.
    Message(MessageEvent<'a>),
    /// An SSE comment.
    Comment(&'a str),
    /// Bytes written verbatim.
    Raw(&'a [u8]),
    /// One recorded event, written verbatim; content, which endings count.
    Recorded(&'a [u8]),
    /// The connection is cut this way.
    Cut(CutKind),
    /// Nothing more is sent.
    Stall,
}

/// The part of a script each wire format frames in its own way.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum MessageEvent<'a> {
    /// The assistant message begins (OpenAI sends the role here).
    Start,
    /// One token of content.
    Token(&'a str),
    /// One piece of a refusal.
    Refusal(&'a str),
    /// One fragment of a thinking block: `starts` on the block's first, which every
    /// fragment gives the signature of (`None`: the format derives one from the text).
    Thinking {
        text: &'a str,
        signature: Option<&'a str>,
        starts: bool,
    },
    /// A whole block of encrypted reasoning.
    RedactedThinking(&'a str),
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
    Finish(FinishReason<'a>),
    /// The end-of-stream marker (`data: [DONE]` in OpenAI's format).
    Done,
    /// The provider's error event.
    Error(&'a StreamError),
    /// An event whose data is broken.
    Malformed,
}

/// Why generation ended, in OpenAI's words, which scripts use. Each format says what
/// every reason is in its API with a `match`, so a new reason is a compile error in
/// each format until it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FinishReason<'a> {
    Stop,
    Length,
    ContentFilter,
    ToolCalls,
    /// Any other reason a script names, sent as given: a test of how a client copes with
    /// a value it does not know.
    Other(&'a str),
}

impl<'a> FinishReason<'a> {
    pub(crate) fn from_openai(reason: &'a str) -> FinishReason<'a> {
        match reason {
            "stop" => FinishReason::Stop,
            "length" => FinishReason::Length,
            "content_filter" => FinishReason::ContentFilter,
            "tool_calls" => FinishReason::ToolCalls,
            other => FinishReason::Other(other),
        }
    }

    pub(crate) fn as_openai(self) -> &'a str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
            FinishReason::ContentFilter => "content_filter",
            FinishReason::ToolCalls => "tool_calls",
            FinishReason::Other(other) => other,
        }
    }
}

impl std::fmt::Display for FinishReason<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_openai())
    }
}

impl ScriptEvent<'_> {
    /// Whether this event is content, the unit in which progress through a stream is
    /// counted ("the client hung up after 3 events").
    pub(crate) fn is_content(&self) -> bool {
        match self {
            ScriptEvent::Message(message) => message.is_content(),
            ScriptEvent::Recorded(_) => true,
            _ => false,
        }
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
                | MessageEvent::Thinking { .. }
                | MessageEvent::RedactedThinking(_)
                | MessageEvent::ToolCallStart { .. }
                | MessageEvent::ToolArguments { .. }
        )
    }

    /// Whether this event is reasoning: counted as a reasoning token as well.
    pub(crate) fn is_reasoning(&self) -> bool {
        matches!(
            self,
            MessageEvent::Thinking { .. } | MessageEvent::RedactedThinking(_)
        )
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Beat, MessageEvent, OutputPart, Script, ScriptEvent};
    use crate::script::{CutKind, Reply, ReplyKind, Step, StreamError, Thinking, ToolCall};

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    fn script(reply: Reply) -> Script {
        match reply.kind {
            ReplyKind::Stream(script) => script,
            ReplyKind::HttpError(_) => panic!("not a stream"),
        }
    }

    /// Each beat as `"<ms> <event>"`, for tables that read like the stream.
    fn show(beats: &[Beat<'_>]) -> Vec<String> {
        beats
            .iter()
            .map(|beat| {
                let event = match beat.event {
                    ScriptEvent::Message(message) => match message {
                        MessageEvent::Start => "start".to_owned(),
                        MessageEvent::Token(text) => format!("token {text}"),
                        MessageEvent::Refusal(text) => format!("refusal {text}"),
                        MessageEvent::Thinking {
                            text,
                            signature,
                            starts,
                        } => format!(
                            "thinking{} {text} {}",
                            if starts { "+" } else { "" },
                            signature.unwrap_or("-")
                        ),
                        MessageEvent::RedactedThinking(data) => format!("redacted {data}"),
                        MessageEvent::ToolCallStart { index, id, name } => {
                            format!("call {index} {name} {}", id.unwrap_or("-"))
                        }
                        MessageEvent::ToolArguments { index, fragment } => {
                            format!("args {index} {fragment}")
                        }
                        MessageEvent::Finish(reason) => format!("finish {reason}"),
                        MessageEvent::Done => "done".to_owned(),
                        MessageEvent::Error(error) => format!("error {}", error.body.message),
                        MessageEvent::Malformed => "malformed".to_owned(),
                    },
                    ScriptEvent::Comment(text) => format!("comment {text}"),
                    ScriptEvent::Raw(bytes) => format!("raw {}", String::from_utf8_lossy(bytes)),
                    ScriptEvent::Recorded(bytes) => {
                        format!("recorded {}", String::from_utf8_lossy(bytes))
                    }
                    ScriptEvent::Cut(kind) => format!("cut {kind:?}"),
                    ScriptEvent::Stall => "stall".to_owned(),
                };
                format!("{} {event}", beat.at.as_millis())
            })
            .collect()
    }

    #[test]
    fn a_recording_plays_its_events_at_their_offsets_from_the_headers_and_nothing_else() {
        let ms = Duration::from_millis;
        let recorded = || {
            Reply::recorded(200, [(ms(150), "a"), (ms(150), "b"), (ms(400), "c")])
                .delay_headers(ms(100))
        };
        let cases: Vec<(&str, Reply, &[&str])> = vec![
            (
                "as recorded: no start, finish or done of its own",
                recorded(),
                &["50 recorded a", "50 recorded b", "300 recorded c"],
            ),
            (
                "twice as fast, the headers' wait too",
                recorded().speed(2.0),
                &["25 recorded a", "25 recorded b", "150 recorded c"],
            ),
            (
                "at once",
                recorded().instant(),
                &["0 recorded a", "0 recorded b", "0 recorded c"],
            ),
            (
                "an ending counts recorded events",
                recorded().reset_connection_after(2),
                &[
                    "50 recorded a",
                    "50 recorded b",
                    "300 cut Reset",
                    "300 recorded c",
                ],
            ),
            (
                "an error event ends it",
                recorded().error_after(1, StreamError::new("broke")),
                &["50 recorded a", "50 error broke", "50 done"],
            ),
        ];
        for (what, reply, expected) in cases {
            assert_eq!(show(&script(reply).timeline()), expected, "{what}");
        }
        assert_eq!(recorded().speed(2.0).headers_delay(), ms(50));
        assert_eq!(recorded().headers_delay(), ms(100));
    }

    #[test]
    fn the_timeline_places_every_event_at_its_time() {
        let error = || StreamError::new("broke");
        let cases: Vec<(&str, Reply, &[&str])> = vec![
            (
                "a plain reply streams at once and ends normally",
                Reply::tokens(["a", "b"]),
                &[
                    "0 start",
                    "0 token a",
                    "0 token b",
                    "0 finish stop",
                    "0 done",
                ],
            ),
            (
                "no tokens still start and finish the message",
                Reply::tokens(Vec::<String>::new()),
                &["0 start", "0 finish stop", "0 done"],
            ),
            (
                "the first delay comes before the first token, the other between tokens",
                Reply::tokens(["a", "b", "c"])
                    .first_token_delay(ms(100))
                    .token_delay(ms(10)),
                &[
                    "100 start",
                    "100 token a",
                    "110 token b",
                    "120 token c",
                    "120 finish stop",
                    "120 done",
                ],
            ),
            (
                "a step's own delay replaces the usual gap, first or not",
                Reply::steps([
                    Step::token("a").after(ms(5)),
                    Step::token("b").after(ms(50)),
                    Step::token("c"),
                ])
                .first_token_delay(ms(100))
                .token_delay(ms(10)),
                &[
                    "5 start",
                    "5 token a",
                    "55 token b",
                    "65 token c",
                    "65 finish stop",
                    "65 done",
                ],
            ),
            (
                "a pause adds to the usual gap and is no event",
                Reply::steps([Step::token("a"), Step::pause(ms(30)), Step::token("b")])
                    .token_delay(ms(10)),
                &[
                    "0 start",
                    "0 token a",
                    "40 token b",
                    "40 finish stop",
                    "40 done",
                ],
            ),
            (
                "a pause at the end delays the end",
                Reply::steps([Step::token("a"), Step::pause(ms(30))]),
                &["0 start", "0 token a", "30 finish stop", "30 done"],
            ),
            (
                "other steps take no gap, and the message starts with the first content",
                Reply::steps([
                    Step::comment("hi"),
                    Step::token("a"),
                    Step::raw("x"),
                    Step::malformed_chunk(),
                    Step::token("b"),
                ])
                .first_token_delay(ms(100))
                .token_delay(ms(10)),
                &[
                    "0 comment hi",
                    "100 start",
                    "100 token a",
                    "100 raw x",
                    "100 malformed",
                    "110 token b",
                    "110 finish stop",
                    "110 done",
                ],
            ),
            (
                "a cut comes at the time of the token it replaces, the rest follows it",
                Reply::text("a b c").token_delay(ms(10)).disconnect_after(2),
                &[
                    "0 start",
                    "0 token a",
                    "10 token  b",
                    "20 cut Disconnected",
                    "20 token  c",
                    "20 finish stop",
                    "20 done",
                ],
            ),
            (
                "a cut after no tokens comes before the message starts",
                Reply::tokens(["a"])
                    .first_token_delay(ms(7))
                    .reset_connection_after(0),
                &[
                    "7 cut Reset",
                    "7 start",
                    "7 token a",
                    "7 finish stop",
                    "7 done",
                ],
            ),
            (
                "an ending after the last token comes after it",
                Reply::tokens(["a"]).token_delay(ms(5)).stall_after(1),
                &["0 start", "0 token a", "0 stall", "0 finish stop", "0 done"],
            ),
            (
                "an error event ends the timeline, with its own [DONE]",
                Reply::text("a b c")
                    .token_delay(ms(10))
                    .error_after(1, error()),
                &["0 start", "0 token a", "10 error broke", "10 done"],
            ),
            (
                "an error before any token leaves the message unstarted",
                Reply::tokens(Vec::<String>::new()).error_after(0, error()),
                &["0 error broke", "0 done"],
            ),
            (
                "without_done omits only the normal end's [DONE]",
                Reply::tokens(["a"]).without_done(),
                &["0 start", "0 token a", "0 finish stop"],
            ),
            (
                "without_done shapes the end a stream resumed past a cut reaches",
                Reply::tokens(["a", "b"])
                    .without_done()
                    .end_cleanly_after(1),
                &[
                    "0 start",
                    "0 token a",
                    "0 cut EndedCleanly",
                    "0 token b",
                    "0 finish stop",
                ],
            ),
            (
                "an error event keeps its [DONE] with without_done",
                Reply::tokens(["a"]).without_done().error_after(1, error()),
                &["0 start", "0 token a", "0 error broke", "0 done"],
            ),
            (
                "a tool call is one event naming it and one per fragment, timed like tokens",
                Reply::tool_call(ToolCall::with_raw_arguments("f", ["{", "}"]).with_id("call_1"))
                    .token_delay(ms(10)),
                &[
                    "0 start",
                    "0 call 0 f call_1",
                    "10 args 0 {",
                    "20 args 0 }",
                    "20 finish tool_calls",
                    "20 done",
                ],
            ),
            (
                "thinking streams in words timed like tokens, each block marked at its start",
                Reply::steps([
                    Step::thinking(Thinking::new("a b").with_signature("s")),
                    Step::thinking("c").after(ms(50)),
                    Step::redacted_thinking("x"),
                    Step::token("d"),
                ])
                .token_delay(ms(10)),
                &[
                    "0 start",
                    "0 thinking+ a s",
                    "10 thinking  b s",
                    "60 thinking+ c -",
                    "70 redacted x",
                    "80 token d",
                    "80 finish stop",
                    "80 done",
                ],
            ),
            (
                "Reply::thinking goes before the content and after earlier thinking",
                Reply::text("d").thinking("a").thinking(""),
                &[
                    "0 start",
                    "0 thinking+ a -",
                    "0 thinking+  -",
                    "0 token d",
                    "0 finish stop",
                    "0 done",
                ],
            ),
            (
                "refusals are content too",
                Reply::refusal("No thanks").token_delay(ms(10)),
                &[
                    "0 start",
                    "0 refusal No",
                    "10 refusal  thanks",
                    "10 finish stop",
                    "10 done",
                ],
            ),
        ];
        for (name, reply, expected) in cases {
            let script = script(reply);
            assert_eq!(show(&script.timeline()), expected, "{name}");
        }
    }

    #[test]
    fn jitter_varies_the_scripted_gaps_but_not_a_steps_own_delay_or_a_pause() {
        let reply = |jitter: crate::Jitter| {
            Reply::steps([
                Step::token("a"),
                Step::token("b").after(ms(50)),
                Step::pause(ms(30)),
                Step::token("c"),
            ])
            .first_token_delay(ms(100))
            .token_delay(ms(10))
            .jitter(jitter)
        };
        let times = |reply: Reply| -> Vec<Duration> {
            let script = script(reply);
            script
                .timeline()
                .iter()
                .filter(|beat| beat.event.is_content())
                .map(|beat| beat.at)
                .collect()
        };
        for seed in 0..50 {
            let at = times(reply(crate::Jitter::uniform(ms(5)).seed(seed)));
            assert!((ms(95)..=ms(105)).contains(&at[0]), "{at:?}");
            assert_eq!(at[1] - at[0], ms(50), "a step's own delay is exact");
            assert!((ms(35)..=ms(45)).contains(&(at[2] - at[1])), "{at:?}");
        }
        let seeded = || times(reply(crate::Jitter::normal(ms(3)).seed(9)));
        assert_eq!(seeded(), seeded());

        // Without a seed of its own, the reply plays the seed drawn for it.
        let unseeded = reply(crate::Jitter::normal(ms(3)));
        assert_eq!(unseeded.pacing_seed(), None);
        let drawn = unseeded.with_drawn_seed(9).unwrap();
        assert_eq!(drawn.pacing_seed(), Some(9));
        assert_eq!(times(drawn), seeded());
        assert!(reply(crate::Jitter::normal(ms(3)).seed(9))
            .with_drawn_seed(1)
            .is_none());
    }

    #[test]
    fn the_duration_is_the_time_of_the_last_event() {
        let cases: Vec<(Reply, Duration)> = vec![
            (Reply::tokens(Vec::<String>::new()), Duration::ZERO),
            (Reply::text("a b c").token_delay(ms(10)), ms(20)),
            (
                Reply::text("a b c")
                    .first_token_delay(ms(100))
                    .token_delay(ms(10)),
                ms(120),
            ),
            (
                Reply::steps([Step::token("a"), Step::pause(ms(250))]),
                ms(250),
            ),
            // An error ends the script where it happens, not where the script would.
            (
                Reply::text("a b c")
                    .token_delay(ms(10))
                    .error_after(1, StreamError::server_error()),
                ms(10),
            ),
            // A cut does not: a stream resumed past it plays the rest.
            (
                Reply::text("a b c").token_delay(ms(10)).disconnect_after(1),
                ms(20),
            ),
        ];
        for (reply, expected) in cases {
            let script = script(reply);
            assert_eq!(script.duration(), expected, "{script:?}");
        }
    }

    #[test]
    fn delivered_output_gathers_runs_and_whole_tool_calls() {
        let steps = || {
            [
                Step::token("Hel"),
                Step::token("lo"),
                Step::refusal("No"),
                Step::refusal("pe"),
                Step::tool_call(ToolCall::function("f", serde_json::json!({ "a": 1 }))),
                Step::tool_call(ToolCall::with_raw_arguments("g", ["x", "y"]).with_id("id_g")),
                Step::token("!"),
            ]
        };
        let whole = script(Reply::steps(steps()));
        assert_eq!(
            whole.delivered_output(),
            [
                OutputPart::Text("Hello".to_owned()),
                OutputPart::Refusal("Nope".to_owned()),
                OutputPart::ToolCall {
                    index: 0,
                    id: None,
                    name: "f",
                    arguments: r#"{"a":1}"#.to_owned(),
                },
                OutputPart::ToolCall {
                    index: 1,
                    id: Some("id_g"),
                    name: "g",
                    arguments: "xy".to_owned(),
                },
                OutputPart::Text("!".to_owned()),
            ]
        );
        // 2 tokens, 2 refusal pieces, f and 5 fragments, g and 2 fragments, 1 token.
        assert_eq!(whole.completion_tokens(), 14);

        // An ending keeps only what was sent before it: here g and its first fragment.
        let cut = script(Reply::steps(steps()).disconnect_after(12));
        assert_eq!(cut.completion_tokens(), 12);
        assert_eq!(
            cut.delivered_output().last(),
            Some(&OutputPart::ToolCall {
                index: 1,
                id: Some("id_g"),
                name: "g",
                arguments: "x".to_owned(),
            })
        );
        let nothing = script(Reply::steps(steps()).stall_after(0));
        assert_eq!(nothing.delivered_output(), []);
        assert_eq!(nothing.completion_tokens(), 0);
    }

    #[test]
    fn delivered_output_gathers_each_thinking_block_and_counts_reasoning() {
        let reply = Reply::steps([
            Step::thinking(Thinking::new("a b").with_signature("s")),
            Step::thinking("c d"),
            Step::redacted_thinking("x"),
            Step::token("e"),
        ]);
        let whole = script(reply.clone());
        assert_eq!(
            whole.delivered_output(),
            [
                OutputPart::Thinking {
                    text: "a b".to_owned(),
                    signature: Some("s"),
                },
                OutputPart::Thinking {
                    text: "c d".to_owned(),
                    signature: None,
                },
                OutputPart::RedactedThinking("x"),
                OutputPart::Text("e".to_owned()),
            ]
        );
        assert_eq!(whole.completion_tokens(), 6);
        assert_eq!(whole.reasoning_tokens(), 5);
        // Cut inside the second block: half of it was delivered.
        let cut = script(reply.end_cleanly_after(3));
        assert_eq!(
            cut.delivered_output().last(),
            Some(&OutputPart::Thinking {
                text: "c".to_owned(),
                signature: None,
            })
        );
        assert_eq!(cut.reasoning_tokens(), 3);
    }

    #[test]
    fn the_finish_reason_is_the_scripts_else_tool_calls_else_stop() {
        let call = || ToolCall::function("f", serde_json::json!({}));
        let cases: Vec<(Reply, &str)> = vec![
            (Reply::text("Hi"), "stop"),
            (Reply::tokens(Vec::<String>::new()), "stop"),
            (Reply::refusal("No"), "stop"),
            (Reply::tool_call(call()), "tool_calls"),
            (
                Reply::steps([Step::token("Let me check."), Step::tool_call(call())]),
                "tool_calls",
            ),
            (Reply::text("Hi").finish_reason("length"), "length"),
            (Reply::tool_call(call()).finish_reason("stop"), "stop"),
            (Reply::text("Hi").finish_reason("whatever"), "whatever"),
        ];
        for (reply, expected) in cases {
            let script = script(reply);
            assert_eq!(script.finish_reason().as_openai(), expected, "{script:?}");
        }
    }

    #[test]
    fn the_ending_is_reported_with_its_kind() {
        let cut = script(Reply::text("a b").disconnect_after(1));
        assert_eq!(
            cut.ending(),
            Some(&super::Ending::Cut(CutKind::Disconnected))
        );
        assert_eq!(script(Reply::text("a b")).ending(), None);
    }
}
