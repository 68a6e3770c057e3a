//! The scripted reply: what the mock model "says" and when.
//!
//! A [`Reply`] is independent of any wire format. The endpoint a client calls decides how
//! the same script is framed (OpenAI chunks, the raw demo format, ...), so one script can
//! be reused against every client a team has.

use std::time::Duration;

/// The sentence of the original demo, streamed word by word by [`Reply::demo`].
pub(crate) const DEMO_TEXT: &str = "Hello, this is a mocked chatbot. How can I help you?";

/// A scripted reply: a sequence of tokens, the timing between them and how the stream ends.
///
/// Build one with [`Reply::text`], [`Reply::tokens`] or [`Reply::steps`], then adjust it
/// with the chainable methods. A `Reply` does nothing on its own: give it to
/// [`MockChatServerBuilder::reply`](crate::MockChatServerBuilder::reply) or
/// [`MockBuilder::respond_with`](crate::MockBuilder::respond_with).
///
/// Streaming requests (`"stream": true`) receive the tokens one event each, at the scripted
/// times. Non-streaming requests wait out the whole script, then receive one complete JSON
/// response whose content is the concatenation of the tokens.
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
    steps: Vec<Step>,
    first_token_delay: Duration,
    token_delay: Duration,
    finish_reason: String,
    send_done: bool,
}

/// One step of an explicit script given to [`Reply::steps`]: a token, or a pause.
///
/// ```
/// use chatmock::{Reply, Step};
/// use std::time::Duration;
///
/// let reply = Reply::steps([
///     Step::token("Thinking"),
///     Step::pause(Duration::from_millis(300)),
///     Step::token("..."),
///     Step::token(" done").after(Duration::from_millis(50)),
/// ]);
/// # drop(reply);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[must_use = "a Step does nothing until it is part of a Reply"]
pub struct Step {
    kind: StepKind,
}

#[derive(Debug, Clone, PartialEq)]
enum StepKind {
    Token {
        text: String,
        /// Replaces the reply's default gap before this token.
        own_delay: Option<Duration>,
    },
    Pause(Duration),
}

impl Step {
    /// A token, sent as one streamed event. Any string is valid: empty, whitespace,
    /// newlines, quotes, unicode, even the literal text `[DONE]`.
    pub fn token(text: impl Into<String>) -> Step {
        Step {
            kind: StepKind::Token {
                text: text.into(),
                own_delay: None,
            },
        }
    }

    /// A pause: nothing is sent for `duration`, on top of the reply's usual delays.
    pub fn pause(duration: Duration) -> Step {
        Step {
            kind: StepKind::Pause(duration),
        }
    }

    /// Sends this token `delay` after the previous one (or after the response headers,
    /// for the first token), instead of the reply's
    /// [`token_delay`](Reply::token_delay) or [`first_token_delay`](Reply::first_token_delay).
    ///
    /// # Panics
    ///
    /// When called on a [`Step::pause`]: a pause already is a delay, so write one pause
    /// with the total duration instead.
    pub fn after(self, delay: Duration) -> Step {
        match self.kind {
            StepKind::Token { text, .. } => Step {
                kind: StepKind::Token {
                    text,
                    own_delay: Some(delay),
                },
            },
            StepKind::Pause(pause) => panic!(
                "Step::pause({pause:?}).after({delay:?}) is not a valid step: after() sets the \
                 delay of a token. Write a single Step::pause({:?}) instead.",
                pause + delay
            ),
        }
    }
}

impl Reply {
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
    /// own, and pauses.
    pub fn steps(steps: impl IntoIterator<Item = Step>) -> Reply {
        Reply {
            steps: steps.into_iter().collect(),
            first_token_delay: Duration::ZERO,
            token_delay: Duration::ZERO,
            finish_reason: "stop".to_owned(),
            send_done: true,
        }
    }

    /// The reply of the original demo: `Hello, this is a mocked chatbot. How can I help
    /// you?`, word by word, with no delays (add them with [`token_delay`](Self::token_delay)).
    /// This is what a server answers when it was given no other reply.
    pub fn demo() -> Reply {
        Reply::text(DEMO_TEXT)
    }

    /// Waits `delay` after the response headers before the first token: the "time to
    /// first token" of a real model. Defaults to zero.
    pub fn first_token_delay(mut self, delay: Duration) -> Reply {
        self.first_token_delay = delay;
        self
    }

    /// Waits `delay` between consecutive tokens. Defaults to zero.
    pub fn token_delay(mut self, delay: Duration) -> Reply {
        self.token_delay = delay;
        self
    }

    /// The reason the final chunk reports for the end of generation, such as `"stop"`
    /// (the default), `"length"` or `"content_filter"`. Any string is sent as given, so a
    /// test can also check how a client copes with a value it does not know.
    pub fn finish_reason(mut self, reason: impl Into<String>) -> Reply {
        self.finish_reason = reason.into();
        self
    }

    /// Ends the stream cleanly after the final chunk but without the `data: [DONE]`
    /// event, as a misbehaving proxy or provider might.
    pub fn without_done(mut self) -> Reply {
        self.send_done = false;
        self
    }

    /// The tokens of the script, in order.
    pub(crate) fn token_texts(&self) -> impl Iterator<Item = &str> {
        self.steps.iter().filter_map(|step| match &step.kind {
            StepKind::Token { text, .. } => Some(text.as_str()),
            StepKind::Pause(_) => None,
        })
    }

    /// The reply's full text, as a non-streaming response carries it.
    pub(crate) fn full_text(&self) -> String {
        self.token_texts().collect()
    }

    pub(crate) fn finish_reason_str(&self) -> &str {
        &self.finish_reason
    }

    /// When each step is due, counted from the response headers: the token it sends, or
    /// `None` for a pause. Times are absolute offsets rather than gaps so that playback
    /// never drifts, however long the script.
    fn schedule(&self) -> impl Iterator<Item = (Duration, Option<&str>)> {
        let mut at = Duration::ZERO;
        let mut started = false;
        self.steps.iter().map(move |step| match &step.kind {
            StepKind::Pause(pause) => {
                at += *pause;
                (at, None)
            }
            StepKind::Token { text, own_delay } => {
                let default_gap = if started {
                    self.token_delay
                } else {
                    self.first_token_delay
                };
                at += own_delay.unwrap_or(default_gap);
                started = true;
                (at, Some(text.as_str()))
            }
        })
    }

    /// How long the whole script takes to play.
    pub(crate) fn duration(&self) -> Duration {
        self.schedule().last().map_or(Duration::ZERO, |(at, _)| at)
    }

    /// Every event of the script with the time it is due. The message starts with the
    /// first token (or with the end, for a script without tokens) and the closing events
    /// follow the last step at once.
    pub(crate) fn timeline(&self) -> impl Iterator<Item = Beat<'_>> {
        let mut started = false;
        let content = self.schedule().flat_map(move |(at, token)| {
            let token = token?;
            let start = (!started).then_some(Beat {
                at,
                event: ScriptEvent::Start,
            });
            started = true;
            Some(start.into_iter().chain(Some(Beat {
                at,
                event: ScriptEvent::Token(token),
            })))
        });
        let end = self.duration();
        let start_if_empty = self.token_texts().next().is_none().then_some(Beat {
            at: end,
            event: ScriptEvent::Start,
        });
        let finish = Beat {
            at: end,
            event: ScriptEvent::Finish(&self.finish_reason),
        };
        let done = self.send_done.then_some(Beat {
            at: end,
            event: ScriptEvent::Done,
        });
        content
            .flatten()
            .chain(start_if_empty)
            .chain(Some(finish))
            .chain(done)
    }
}

/// One event of a script, at the time it is due.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Beat<'a> {
    pub(crate) at: Duration,
    pub(crate) event: ScriptEvent<'a>,
}

/// What happens in a script, independent of any wire format.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum ScriptEvent<'a> {
    /// The assistant message begins (OpenAI sends the role here).
    Start,
    /// One token of content.
    Token(&'a str),
    /// Generation ended for this reason.
    Finish(&'a str),
    /// The end-of-stream marker (`data: [DONE]` in OpenAI's format).
    Done,
}

impl ScriptEvent<'_> {
    /// Whether this event is content, the unit in which progress through a stream is
    /// counted ("the client hung up after 3 events").
    pub(crate) fn is_content(&self) -> bool {
        matches!(self, ScriptEvent::Token(_))
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
