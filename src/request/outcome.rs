//! What became of the response to a request, as a test reads it.

use crate::script::CutKind;

/// What became of the response to a request.
///
/// "Events" count content events: the tokens of the script. A test can tell from this
/// whether the client read the whole stream, and if not, where it stopped.
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
/// assert_eq!(requests[0].stream_outcome(), &StreamOutcome::Completed { events_sent: 3 });
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
        events_sent: usize,
    },
    /// The whole script was written, closing events included, and the body ended. A
    /// script that ends with an error event ([`Reply::error_after`](crate::Reply::error_after))
    /// completes too: the error is part of the script.
    Completed {
        /// Content events handed to the socket.
        events_sent: usize,
    },
    /// The script cut the connection this way.
    Cut {
        /// How the connection was cut.
        kind: CutKind,
        /// Content events handed to the socket before the cut.
        events_sent: usize,
    },
    /// The script stalled the stream: the connection is open and nothing more will be
    /// sent until the client hangs up (then the outcome becomes
    /// [`ClientHungUp`](Self::ClientHungUp)) or the server stops.
    Stalled {
        /// Content events handed to the socket before the stall.
        events_sent: usize,
    },
    /// The client closed the connection before the script ended.
    ///
    /// The server notices a hang-up when it next writes to the socket, so a client that
    /// leaves during a long delay is recorded when that delay ends.
    ClientHungUp {
        /// Content events handed to the socket before the hang-up was noticed.
        events_sent: usize,
    },
    /// The server was stopped while the stream was still being written.
    ServerStopped {
        /// Content events handed to the socket before the server stopped.
        events_sent: usize,
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
    pub fn events_sent(&self) -> usize {
        match self {
            StreamOutcome::Pending | StreamOutcome::NotStreamed => 0,
            StreamOutcome::Streaming { events_sent }
            | StreamOutcome::Completed { events_sent }
            | StreamOutcome::Cut { events_sent, .. }
            | StreamOutcome::Stalled { events_sent }
            | StreamOutcome::ClientHungUp { events_sent }
            | StreamOutcome::ServerStopped { events_sent } => *events_sent,
        }
    }
}
