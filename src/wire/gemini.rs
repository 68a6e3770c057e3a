//! Google Gemini (`POST /v1beta/models/{model}:streamGenerateContent` and
//! `:generateContent`).
//!
//! With `?alt=sse` each chunk is `data: <GenerateContentResponse>` and a blank line, with
//! no `event:` lines and no end marker; without it the stream is one JSON array written
//! piece by piece. The last chunk carries `finishReason` and the full `usageMetadata`.
//! Function calls go out whole, as a `functionCall` part, once their last argument
//! fragment is due; refusals are text that ends with `SAFETY`.
//! Errors are `{"error":{"code","message","status"}}` (wire reference, §5).

use std::borrow::Cow;

use axum::http::StatusCode;
use serde_json::{json, Value};

use super::{ApiError, Encoder, PendingCalls, ResponseContext};
use crate::request::ReceivedRequest;
use crate::script::StreamError;
use crate::script::{MessageEvent, OutputPart, Script};
use crate::wire::frame::Frame;

pub(super) struct ChunkEncoder {
    context: ResponseContext,
    /// `?alt=sse`: SSE events; otherwise the pieces of one JSON array.
    sse: bool,
    chunks_written: usize,
    output_tokens: u64,
    calls: PendingCalls,
    refused: bool,
}

impl ChunkEncoder {
    pub(super) fn new(context: ResponseContext) -> ChunkEncoder {
        ChunkEncoder {
            sse: context.gemini_sse,
            context,
            chunks_written: 0,
            output_tokens: 0,
            calls: PendingCalls::default(),
            refused: false,
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

    fn chunk(&self, parts: Value, finish_reason: Option<&str>) -> String {
        let mut candidate = json!({
            "content": { "parts": parts, "role": "model" },
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
        if event.is_content() {
            self.output_tokens += 1;
        }
        // Gemini sends a function call whole: it goes out once its last fragment is in.
        let Some(calls) = self.calls.before(&event) else {
            return;
        };
        if !calls.is_empty() {
            let parts: Vec<Value> = calls
                .into_iter()
                .map(|(name, args)| json!({ "functionCall": { "name": name, "args": args } }))
                .collect();
            let chunk = self.chunk(Value::Array(parts), None);
            frames.push(self.frame(chunk));
        }
        match event {
            MessageEvent::Token(text) | MessageEvent::Refusal(text) => {
                self.refused |= matches!(event, MessageEvent::Refusal(_));
                let chunk = self.chunk(json!([{ "text": text }]), None);
                frames.push(self.frame(chunk));
            }
            MessageEvent::Finish(reason) => {
                let reason = finish_reason(reason, self.refused);
                let chunk = self.chunk(json!([{ "text": "" }]), Some(&reason));
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
            MessageEvent::Start
            | MessageEvent::Done
            | MessageEvent::ToolCallStart { .. }
            | MessageEvent::ToolArguments { .. } => {}
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

/// OpenAI's finish reasons in Gemini's words; anything else is sent upper-cased. A reply
/// that refused ends for `SAFETY`.
fn finish_reason(reason: &str, refused: bool) -> Cow<'static, str> {
    match reason {
        "stop" if refused => Cow::Borrowed("SAFETY"),
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
    let mut refused = false;
    let parts: Vec<Value> = script
        .delivered_output()
        .into_iter()
        .map(|part| match part {
            OutputPart::Text(text) => json!({ "text": text }),
            OutputPart::Refusal(text) => {
                refused = true;
                json!({ "text": text })
            }
            OutputPart::ToolCall {
                name, arguments, ..
            } => json!({
                "functionCall": { "name": name, "args": super::arguments_value(&arguments) }
            }),
        })
        .collect();
    let parts = if parts.is_empty() {
        vec![json!({ "text": "" })]
    } else {
        parts
    };
    json!({
        "candidates": [{
            "content": { "parts": parts, "role": "model" },
            "finishReason": finish_reason(script.finish_reason(), refused),
            "index": 0
        }],
        "usageMetadata": usage(context, script.completion_tokens()),
        "modelVersion": context.model,
        "responseId": context.id
    })
}
