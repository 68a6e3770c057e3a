//! Errors the server answers with, before a format shapes them.

use axum::http::StatusCode;

use crate::script::{ErrorBody, HttpError, StreamError};

/// An error response: a status and the provider-neutral description of the error, which
/// each format renders in its provider's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) body: ErrorBody,
}

impl ApiError {
    pub(crate) fn invalid_request(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: ErrorBody::new(message).with_type("invalid_request_error"),
        }
    }

    pub(crate) fn with_code(mut self, code: &str) -> ApiError {
        self.body = self.body.with_code(code);
        self
    }

    pub(crate) fn with_param(mut self, param: &str) -> ApiError {
        self.body = self.body.with_param(param);
        self
    }

    pub(crate) fn server_error(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            body: ErrorBody::new(message),
        }
    }
}

/// What a non-streaming request gets for a stream's error event.
impl From<&StreamError> for ApiError {
    fn from(error: &StreamError) -> ApiError {
        ApiError {
            status: error.status,
            body: error.body.clone(),
        }
    }
}

/// A scripted HTTP error reply.
impl From<&HttpError> for ApiError {
    fn from(error: &HttpError) -> ApiError {
        ApiError {
            status: error.status,
            body: error.body.clone(),
        }
    }
}
