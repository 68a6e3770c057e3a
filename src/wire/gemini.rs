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

use axum::http::{HeaderValue, StatusCode};
use serde_json::{json, Value};

use super::frame::Frame;
use super::ids::IdGenerator;
use super::json::{arguments_value, content_text, json_object, stream_flag};
use super::tool_calls::PendingCalls;
use super::{ApiError, Encoder, Format, ResponseContext, Usage, EVENT_STREAM};
use crate::request::{ChatMessage, ChatRequest, ReceivedRequest};
use crate::script::{ErrorBody, FinishReason, MessageEvent, OutputPart, Script};

/// Google Gemini.
pub(super) struct Gemini;

impl Format for Gemini {
    fn name(&self) -> &'static str {
        "gemini"
    }

    fn paths(&self) -> &'static [&'static str] {
        &[
            "/v1beta/models/{model}:streamGenerateContent",
            "/v1beta/models/{model}:generateContent",
        ]
    }

    fn serves(&self, path: &str) -> bool {
        model_and_method(path).is_some_and(|(_, method)| {
            matches!(method, "streamGenerateContent" | "generateContent")
        })
    }

    /// `systemInstruction` and `contents`, whose parts carry the text and whose `model`
    /// role is the assistant; the model comes from the path.
    fn read_chat(&self, json: &Value, path: &str) -> Option<ChatRequest> {
        if json.get("messages").is_some() || json.get("input").is_some() {
            return None;
        }
        let contents = json.get("contents")?.as_array()?;
        let system = json
            .get("systemInstruction")
            .map(|instruction| ChatMessage::new("system", content_text(&instruction["parts"])));
        let messages = contents.iter().map(|content| {
            let role = match content["role"].as_str() {
                Some("model") => "assistant",
                Some(role) => role,
                None => "user",
            };
            ChatMessage::new(role, content_text(&content["parts"]))
        });
        let model = json["model"]
            .as_str()
            .or_else(|| model_and_method(path).map(|(model, _)| model))
            .unwrap_or_default();
        let messages = system.into_iter().chain(messages).collect();
        Some(ChatRequest::new(
            model.to_owned(),
            messages,
            stream_flag(json),
        ))
    }

    fn validate(&self, request: &ReceivedRequest) -> Result<(), ApiError> {
        let json = json_object(request)?;
        if json["contents"].is_array() {
            Ok(())
        } else {
            Err(ApiError::invalid_request(
                StatusCode::BAD_REQUEST,
                "* GenerateContentRequest.contents: contents is not specified",
            ))
        }
    }

    /// The method in the path decides, not the body.
    fn wants_stream(&self, request: &ReceivedRequest) -> bool {
        !request.path().ends_with(":generateContent")
    }

    fn response_id(&self, ids: &IdGenerator) -> String {
        ids.alphanumeric("", 22)
    }

    fn encoder(&self, request: &ReceivedRequest, context: ResponseContext) -> Box<dyn Encoder> {
        Box::new(ChunkEncoder::new(context, is_sse(request)))
    }

    fn complete_response(&self, script: &Script, context: &ResponseContext) -> Value {
        complete_response(script, context)
    }

    fn error_body(&self, status: StatusCode, error: &ErrorBody, _: &ResponseContext) -> Value {
        error_body(status, error)
    }

    fn stream_content_type(&self, request: &ReceivedRequest) -> HeaderValue {
        HeaderValue::from_static(if is_sse(request) {
            EVENT_STREAM
        } else {
            "application/json"
        })
    }
}

/// Whether the stream is SSE (`alt=sse`) rather than one JSON array. Paths that are not
/// Gemini's own get SSE.
fn is_sse(request: &ReceivedRequest) -> bool {
    !request.path().ends_with(":streamGenerateContent")
        || request
            .query()
            .is_some_and(|query| query.split('&').any(|pair| pair == "alt=sse"))
}

/// The model and method of a Gemini path, `/{version}/models/{model}:{method}`.
fn model_and_method(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix('/')?;
    let (version, rest) = rest.split_once('/')?;
    if !matches!(version, "v1" | "v1beta" | "v1alpha") {
        return None;
    }
    let target = rest.strip_prefix("models/")?;
    let (model, method) = target.rsplit_once(':')?;
    (!model.is_empty() && !model.contains('/')).then_some((model, method))
}

struct ChunkEncoder {
    context: ResponseContext,
    /// `?alt=sse`: SSE events; otherwise the pieces of one JSON array.
    sse: bool,
    chunks_written: usize,
    usage: Usage,
    calls: PendingCalls,
    refused: bool,
}

impl ChunkEncoder {
    fn new(context: ResponseContext, sse: bool) -> ChunkEncoder {
        ChunkEncoder {
            sse,
            context,
            chunks_written: 0,
            usage: Usage::default(),
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
            Frame::Verbatim(format!("{separator}{chunk}").into_bytes())
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
            "usageMetadata": usage(&self.context, self.usage.completion_tokens),
            "modelVersion": self.context.model,
            "responseId": self.context.id
        })
        .to_string()
    }
}

impl Encoder for ChunkEncoder {
    fn encode(&mut self, event: MessageEvent<'_>, frames: &mut Vec<Frame>) {
        self.usage.count(&event);
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
            MessageEvent::Done if !self.sse => frames.push(Frame::Verbatim(b"]".to_vec())),
            MessageEvent::Error(error) => {
                let body = error_body(error.status, &error.body).to_string();
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
fn finish_reason(reason: FinishReason<'_>, refused: bool) -> Cow<'static, str> {
    match reason {
        FinishReason::Stop if refused => Cow::Borrowed("SAFETY"),
        FinishReason::Stop | FinishReason::ToolCalls => Cow::Borrowed("STOP"),
        FinishReason::Length => Cow::Borrowed("MAX_TOKENS"),
        FinishReason::ContentFilter => Cow::Borrowed("SAFETY"),
        FinishReason::Other(other) => Cow::Owned(other.to_uppercase()),
    }
}

/// `{"error":{"code","message","status"}}`, Google's canonical status names.
fn error_body(status: StatusCode, error: &ErrorBody) -> Value {
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

/// The complete response to `:generateContent`.
fn complete_response(script: &Script, context: &ResponseContext) -> Value {
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
                "functionCall": { "name": name, "args": arguments_value(&arguments) }
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
