//! What became of the response to a request, as a test reads it.

use std::fmt;

use crate::script::CutKind;

/// What became of the response to a request.
///
/// Progress is counted in **content events**, the unit every part of chatmock counts in:
/// a text token, a piece of a refusal, a fragment of thinking, and for each tool call the
/// event that names it and each fragment of its arguments. `Reply::error_after(n, ..)` and the cuts count in
/// it, and usage reports it as completion tokens. A content event is not an SSE event: a
/// format's other events (OpenAI's role chunk, `[DONE]`, Anthropic's `message_start`),
/// comments and keep-alives are not counted, so with [`Reply::event_ids`](crate::Reply::event_ids)
/// an SSE id (what `Last-Event-ID` carries) can be higher than `content_events`.
///
/// A test can tell from this whether the client read the whole stream, and if not,
/// where it stopped.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use chatmock::{MockChatServer, Reply, StreamOutcome};
///
/// let server = MockChatServer::builder()
///     .reply(Reply::tokens(["a", "b", "c"]))
///     .start()
///     .await;
/// let body = r#"{"model":"m","messages":[],"stream":true}"#;
/// let url = format!("{}/chat/completions", server.openai_base_url());
/// reqwest::Client::new().post(url).body(body).send().await.unwrap().text().await.unwrap();
///
/// let requests = server.wait_for_streams_to_end().await.unwrap();
/// assert_eq!(requests[0].stream_outcome(), &StreamOutcome::Completed { content_events: 3 });
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamOutcome {
    /// No response has been sent yet.
    Pending,
    /// The response was not a stream: a complete JSON body or an error status.
    NotStreamed,
    /// The stream is still being written.
    Streaming {
        /// Content events handed to the socket so far.
        content_events: usize,
    },
    /// The whole script was written, closing events included, and the body ended. A
    /// script that ends with an error event ([`Reply::error_after`](crate::Reply::error_after))
    /// completes too: the error is part of the script.
    Completed {
        /// Content events handed to the socket.
        content_events: usize,
    },
    /// The script cut the connection this way.
    Cut {
        /// How the connection was cut.
        kind: CutKind,
        /// Content events handed to the socket before the cut.
        content_events: usize,
    },
    /// The script stalled the stream: the connection is open and nothing more will be
    /// sent until the client hangs up (then the outcome becomes
    /// [`ClientHungUp`](Self::ClientHungUp)) or the server stops.
    Stalled {
        /// Content events handed to the socket before the stall.
        content_events: usize,
    },
    /// The client closed the connection before the script ended.
    ///
    /// When the server notices depends on what the request said. A client that keeps its
    /// connection alive (the default of HTTP/1.1 clients) stops sending only when it
    /// leaves, so its hang-up is noticed at once, during a delay or a stall too. A client
    /// whose request said it was the last (`Connection: close`, or HTTP/1.0) may shut down
    /// its sending side and still read the reply, so its hang-up is noticed only when the
    /// server next writes: after a delay, or at the next keep-alive of a stall (a stall
    /// without keep-alives never notices it).
    ClientHungUp {
        /// Content events handed to the socket before the hang-up was noticed.
        content_events: usize,
    },
    /// The server was stopped while the stream was still being written.
    ServerStopped {
        /// Content events handed to the socket before the server stopped.
        content_events: usize,
    },
}

impl StreamOutcome {
    /// Whether the response is over, whichever way it ended.
    pub fn has_ended(&self) -> bool {
        !matches!(
            self,
            StreamOutcome::Pending
                | StreamOutcome::Streaming { .. }
                | StreamOutcome::Stalled { .. }
        )
    }

    /// The number of content events handed to the socket (zero if there was no stream).
    pub fn content_events(&self) -> usize {
        match self {
            StreamOutcome::Pending | StreamOutcome::NotStreamed => 0,
            StreamOutcome::Streaming { content_events }
            | StreamOutcome::Completed { content_events }
            | StreamOutcome::Cut { content_events, .. }
            | StreamOutcome::Stalled { content_events }
            | StreamOutcome::ClientHungUp { content_events }
            | StreamOutcome::ServerStopped { content_events } => *content_events,
        }
    }
}

/// One line for logs and reports: `completed, 12 content events`, `cut (reset) after 2
/// content events`.
///
/// ```
/// use chatmock::{CutKind, StreamOutcome};
///
/// let outcome = StreamOutcome::Cut { kind: CutKind::Reset, content_events: 1 };
/// assert_eq!(outcome.to_string(), "cut (reset) after 1 content event");
/// ```
impl fmt::Display for StreamOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let events = |count: usize| {
            format!(
                "{count} content {}",
                if count == 1 { "event" } else { "events" }
            )
        };
        match self {
            StreamOutcome::Pending => f.write_str("pending"),
            StreamOutcome::NotStreamed => f.write_str("answered"),
            StreamOutcome::Streaming { content_events } => {
                write!(f, "streaming, {} so far", events(*content_events))
            }
            StreamOutcome::Completed { content_events } => {
                write!(f, "completed, {}", events(*content_events))
            }
            StreamOutcome::Cut {
                kind,
                content_events,
            } => {
                let kind = match kind {
                    CutKind::EndedCleanly => "ended cleanly",
                    CutKind::Disconnected => "disconnected",
                    CutKind::Reset => "reset",
                };
                write!(f, "cut ({kind}) after {}", events(*content_events))
            }
            StreamOutcome::Stalled { content_events } => {
                write!(f, "stalled after {}", events(*content_events))
            }
            StreamOutcome::ClientHungUp { content_events } => {
                write!(f, "client hung up after {}", events(*content_events))
            }
            StreamOutcome::ServerStopped { content_events } => {
                write!(f, "server stopped after {}", events(*content_events))
            }
        }
    }
}
