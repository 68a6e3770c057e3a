//! A built script and its timeline: every event with the time it is due.

use std::time::Duration;

use super::step::{Step, StepKind};
use super::{CutKind, StreamError};

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
    ToolCall {
        index: usize,
        id: Option<&'a str>,
        name: &'a str,
        arguments: String,
    },
}

impl Script {
    /// The content events of the script, in order.
    pub(super) fn content(&self) -> impl Iterator<Item = MessageEvent<'_>> {
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
