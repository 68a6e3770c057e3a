//! The failures a reply can script: the provider's description of an error (for HTTP
//! error responses and stream error events alike), the error event of a stream, and the
//! ways a connection can be cut.

use axum::http::StatusCode;

use super::rules::{self, enforce};

/// An error as the provider describes it, whichever way it reaches the client: the body of
/// an HTTP error response, or the error event of a stream. Each format renders it in its
/// provider's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ErrorBody {
    pub(crate) message: String,
    pub(crate) error_type: String,
    pub(crate) code: Option<String>,
    pub(crate) param: Option<String>,
}

impl ErrorBody {
    /// A description with type `server_error` and no code or parameter.
    pub(crate) fn new(message: impl Into<String>) -> ErrorBody {
        ErrorBody {
            message: message.into(),
            error_type: "server_error".to_owned(),
            code: None,
            param: None,
        }
    }

    pub(crate) fn with_type(mut self, error_type: impl Into<String>) -> ErrorBody {
        self.error_type = error_type.into();
        self
    }

    pub(crate) fn with_code(mut self, code: impl Into<String>) -> ErrorBody {
        self.code = Some(code.into());
        self
    }

    pub(crate) fn with_param(mut self, param: impl Into<String>) -> ErrorBody {
        self.param = Some(param.into());
        self
    }

    fn server_error() -> ErrorBody {
        ErrorBody::new("The server had an error while processing your request. Sorry about that!")
    }

    fn overloaded() -> ErrorBody {
        ErrorBody::new("The engine is currently overloaded, please try again later.")
    }

    fn rate_limited() -> ErrorBody {
        ErrorBody::new(
            "Rate limit reached for requests per min (RPM): Limit 3, Used 3, Requested 1. \
             Please try again in 20s.",
        )
        .with_type("requests")
        .with_code("rate_limit_exceeded")
    }

    /// What OpenAI says for an HTTP error status.
    pub(crate) fn for_status(status: StatusCode) -> ErrorBody {
        let invalid = |message: &str, code: Option<&str>| ErrorBody {
            code: code.map(str::to_owned),
            ..ErrorBody::new(message).with_type("invalid_request_error")
        };
        match status.as_u16() {
            400 => invalid("Invalid request.", None),
            401 => invalid(
                "Incorrect API key provided: sk-test***. You can find your API key at \
                 https://platform.openai.com/account/api-keys.",
                Some("invalid_api_key"),
            ),
            403 => ErrorBody::new("Country, region, or territory not supported")
                .with_type("request_forbidden")
                .with_code("unsupported_country_region_territory"),
            404 => invalid(
                "The model does not exist or you do not have access to it.",
                Some("model_not_found"),
            ),
            429 => ErrorBody::rate_limited(),
            503 => ErrorBody::overloaded(),
            500..=599 => ErrorBody::server_error(),
            _ => invalid("The request was rejected.", None),
        }
    }
}

/// An error event in the middle of a stream: the provider's description of the error (a
/// message, a type, and optionally a code and the parameter at fault), sent by
/// [`Reply::error_after`](crate::Reply::error_after) in the shape of the API the client
/// called (`data: {"error":{...}}` for OpenAI Chat Completions). A non-streaming request
/// meets the same failure as an HTTP error with [its status](Self::with_status).
///
/// HTTP errors in place of a stream are scripted with
/// [`Reply::http_error`](crate::Reply::http_error) and its presets instead.
///
/// ```
/// use chatmock::{Reply, StreamError};
///
/// let preset = Reply::text("Hello there, how").error_after(2, StreamError::server_error());
/// let custom = Reply::text("Hello").error_after(
///     1,
///     StreamError::new("The model produced invalid content.")
///         .with_type("invalid_response")
///         .with_code("model_error"),
/// );
/// # drop((preset, custom));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "a StreamError does nothing until a reply sends it"]
pub struct StreamError {
    pub(crate) body: ErrorBody,
    /// The status a non-streaming request gets for the same failure.
    pub(crate) status: StatusCode,
}

impl StreamError {
    /// A custom error with type `server_error`; set the rest with the `with_` methods.
    pub fn new(message: impl Into<String>) -> StreamError {
        StreamError {
            body: ErrorBody::new(message),
            status: StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The error OpenAI sends when generation fails mid-stream (`server_error`).
    pub fn server_error() -> StreamError {
        StreamError {
            body: ErrorBody::server_error(),
            status: StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The engine is overloaded (`server_error`, HTTP 503 when not streaming).
    pub fn overloaded() -> StreamError {
        StreamError {
            body: ErrorBody::overloaded(),
            status: StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// A rate limit hit mid-stream (`rate_limit_exceeded`, HTTP 429 when not streaming).
    pub fn rate_limited() -> StreamError {
        StreamError {
            body: ErrorBody::rate_limited(),
            status: StatusCode::TOO_MANY_REQUESTS,
        }
    }

    /// Sets the error's `type`.
    pub fn with_type(mut self, error_type: impl Into<String>) -> StreamError {
        self.body = self.body.with_type(error_type);
        self
    }

    /// Sets the error's `code`.
    pub fn with_code(mut self, code: impl Into<String>) -> StreamError {
        self.body = self.body.with_code(code);
        self
    }

    /// Sets the error's `param`, the request parameter at fault.
    pub fn with_param(mut self, param: impl Into<String>) -> StreamError {
        self.body = self.body.with_param(param);
        self
    }

    /// Sets the HTTP status a non-streaming request gets for this error (500 unless set;
    /// a streaming request gets the error event inside its 200 stream).
    ///
    /// ```
    /// use chatmock::{Reply, StreamError};
    ///
    /// let reply = Reply::text("Hello there")
    ///     .error_after(1, StreamError::new("Upstream timed out.").with_status(504));
    /// # drop(reply);
    /// ```
    ///
    /// # Panics
    ///
    /// If `status` is not a client or server error status (400 to 599).
    #[track_caller]
    pub fn with_status(mut self, status: u16) -> StreamError {
        self.status = enforce(
            "StreamError::with_status",
            rules::check_error_status(status.into()),
        );
        self
    }
}

/// How a scripted cut ends the connection. A client sees each differently, and the
/// recorded [`StreamOutcome::Cut`](crate::StreamOutcome::Cut) says which one happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CutKind {
    /// The HTTP body ended properly but early, without `data: [DONE]`: the client sees a
    /// normal end of stream. [`Reply::end_cleanly_after`](crate::Reply::end_cleanly_after).
    EndedCleanly,
    /// The connection was closed without finishing the HTTP body: the client sees an
    /// incomplete body (an "unexpected EOF" in the chunked encoding).
    /// [`Reply::disconnect_after`](crate::Reply::disconnect_after).
    Disconnected,
    /// The connection was reset (TCP RST): the client sees "connection reset by peer".
    /// [`Reply::reset_connection_after`](crate::Reply::reset_connection_after).
    Reset,
}
