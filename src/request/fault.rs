//! The fault chaos chose for a request.

/// The fault a request met, as
/// [`ReceivedRequest::chaos_applied`](crate::ReceivedRequest::chaos_applied) reports it.
///
/// ```
/// use chatmock::ChaosFault;
///
/// let fault = ChaosFault::Disconnect { after_tokens: 3 };
/// assert_eq!(fault.to_string(), "disconnect after 3 tokens");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ChaosFault {
    /// The request got this HTTP error status instead of its reply.
    HttpError {
        /// The status sent.
        status: u16,
    },
    /// The stream ended with the provider's error event after this many tokens.
    ErrorEvent {
        /// Content events sent before the error.
        after_tokens: usize,
    },
    /// The connection was closed mid-body after this many tokens.
    Disconnect {
        /// Content events sent before the cut.
        after_tokens: usize,
    },
    /// The connection was reset after this many tokens.
    Reset {
        /// Content events sent before the reset.
        after_tokens: usize,
    },
    /// The stream stalled after this many tokens.
    Stall {
        /// Content events sent before the stall.
        after_tokens: usize,
    },
}

impl std::fmt::Display for ChaosFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tokens = |n: usize| format!("{n} token{}", if n == 1 { "" } else { "s" });
        match self {
            ChaosFault::HttpError { status } => write!(f, "HTTP {status}"),
            ChaosFault::ErrorEvent { after_tokens } => {
                write!(f, "error event after {}", tokens(*after_tokens))
            }
            ChaosFault::Disconnect { after_tokens } => {
                write!(f, "disconnect after {}", tokens(*after_tokens))
            }
            ChaosFault::Reset { after_tokens } => {
                write!(f, "reset after {}", tokens(*after_tokens))
            }
            ChaosFault::Stall { after_tokens } => {
                write!(f, "stall after {}", tokens(*after_tokens))
            }
        }
    }
}
