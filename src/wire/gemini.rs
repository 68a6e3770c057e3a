//! Google Gemini (`POST /v1beta/models/{model}:streamGenerateContent` and
//! `:generateContent`).
//!
//! With `?alt=sse` each chunk is `data: <GenerateContentResponse>` and a blank line, with
//! no `event:` lines and no end marker; without it the stream is one JSON array written
//! piece by piece. The last chunk carries `finishReason` and the full `usageMetadata`.
//! Errors are `{"error":{"code","message","status"}}` (wire reference, §5).

use std::borrow::Cow;

use axum::http::StatusCode;
use serde_json::{json, Value};

use super::{ApiError, Encoder, ResponseContext};
use crate::fault::StreamError;
use crate::reply::{MessageEvent, Script};
use crate::request::ReceivedRequest;
use crate::sse::Frame;

pub(super) struct ChunkEncoder {
    context: ResponseContext,
    /// `?alt=sse`: SSE events; otherwise the pieces of one JSON array.
    sse: bool,
    chunks_written: usize,
    output_tokens: u64,
}

impl ChunkEncoder {
    pub(super) fn new(context: ResponseContext, sse: bool) -> ChunkEncoder {
        ChunkEncoder {
            context,
            sse,
            chunks_written: 0,
            output_tokens: 0,
        }
    }

    fn frame(&mut self, chunk: String) -> Frame {
        self.chunks_written += 1;
        if self.sse {
            Frame::data(chunk)
        } else {
            // The array's separators go before each element, so the array stays valid
            // JSON at every point a stream may end, once the closing bracket follows.
            let separator = if self.chunks_written == 1 {
                "["
            } else {
                ",\r\n"
            };
            Frame::Raw(format!("{separator}{chunk}").into_bytes())
        }
    }

    fn chunk(&self, text: &str, finish_reason: Option<&str>) -> String {
        let mut candidate = json!({
            "content": { "parts": [{ "text": text }], "role": "model" },
            "index": 0
        });
        if let Some(reason) = finish_reason {
            candidate["finishReason"] = json!(reason);
        }
        json!({
            "candidates": [candidate],
            "usageMetadata": usage(&self.context, self.output_tokens),
            "modelVersion": self.context.model,
            "responseId": self.context.id
        })
        .to_string()
    }
}

impl Encoder for ChunkEncoder {
    fn encode(&mut self, event: MessageEvent<'_>, frames: &mut Vec<Frame>) {
        match event {
            MessageEvent::Token(text) => {
                self.output_tokens += 1;
                let chunk = self.chunk(text, None);
                frames.push(self.frame(chunk));
            }
            MessageEvent::Finish(reason) => {
                let chunk = self.chunk("", Some(&finish_reason(reason)));
                frames.push(self.frame(chunk));
            }
            MessageEvent::Done if !self.sse => frames.push(Frame::Raw(b"]".to_vec())),
            MessageEvent::Error(error) => {
                let body = error_body(error.status, error).to_string();
                frames.push(self.frame(body));
            }
            MessageEvent::Malformed => {
                let chunk =
                    "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"trunc".to_owned();
                frames.push(self.frame(chunk));
            }
            MessageEvent::Start | MessageEvent::Done => {}
        }
    }

    fn keep_alive(&self) -> Option<Frame> {
        // A comment is valid only between SSE events, never inside a JSON array.
        self.sse.then(|| Frame::Comment("keep-alive".to_owned()))
    }
}

fn usage(context: &ResponseContext, output_tokens: u64) -> Value {
    json!({
        "promptTokenCount": context.prompt_tokens,
        "candidatesTokenCount": output_tokens,
        "totalTokenCount": context.prompt_tokens + output_tokens
    })
}

/// OpenAI's finish reasons in Gemini's words; anything else is sent upper-cased.
fn finish_reason(reason: &str) -> Cow<'static, str> {
    match reason {
        "stop" | "tool_calls" => Cow::Borrowed("STOP"),
        "length" => Cow::Borrowed("MAX_TOKENS"),
        "content_filter" => Cow::Borrowed("SAFETY"),
        other => Cow::Owned(other.to_uppercase()),
    }
}

/// `{"error":{"code","message","status"}}`, Google's canonical status names.
pub(super) fn error_body(status: StatusCode, error: &StreamError) -> Value {
    let name = match status.as_u16() {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        405 => "METHOD_NOT_ALLOWED",
        409 => "ABORTED",
        413 => "INVALID_ARGUMENT",
        429 => "RESOURCE_EXHAUSTED",
        500 => "INTERNAL",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => "UNKNOWN",
    };
    json!({ "error": { "code": status.as_u16(), "message": error.message, "status": name } })
}

/// Rejects what the real API rejects before generating anything.
pub(super) fn validate(request: &ReceivedRequest) -> Result<(), ApiError> {
    let json = super::openai_chat::json_object(request)?;
    if json["contents"].is_array() {
        Ok(())
    } else {
        Err(ApiError::invalid_request(
            StatusCode::BAD_REQUEST,
            "* GenerateContentRequest.contents: contents is not specified",
        ))
    }
}

/// The complete response to `:generateContent`.
pub(super) fn complete_response(script: &Script, context: &ResponseContext) -> Value {
    let text: String = script.delivered_tokens().collect();
    let output_tokens = script.delivered_tokens().count() as u64;
    json!({
        "candidates": [{
            "content": { "parts": [{ "text": text }], "role": "model" },
            "finishReason": finish_reason(script.finish_reason()),
            "index": 0
        }],
        "usageMetadata": usage(context, output_tokens),
        "modelVersion": context.model,
        "responseId": context.id
    })
}
