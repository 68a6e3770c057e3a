//! Anthropic Messages (`POST /v1/messages`).
//!
//! Every event has an `event:` line and the same `type` in its JSON: `message_start`,
//! then per content block `content_block_start`, `content_block_delta`s and
//! `content_block_stop`, then `message_delta` with the stop reason and `message_stop`.
//! Text (and refusals) make `text` blocks, tool calls `tool_use` blocks whose input
//! streams as `input_json_delta` fragments.
//! A `ping` follows the first block's start, as in the SDK's recorded streams. Errors are
//! `{"type":"error","error":{"type","message"}}`, mid-stream as `event: error` (wire
//! reference, §4).

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use serde_json::{json, Value};

use super::frame::{Event, Frame};
use super::ids::IdGenerator;
use super::json::{arguments_value, json_object, read_messages};
use super::{ApiError, Encoder, Format, ResponseContext, Usage};
use crate::request::{ChatRequest, ReceivedRequest};
use crate::script::{ErrorBody, FinishReason, MessageEvent, OutputPart, Script};

/// Anthropic Messages.
pub(super) struct Anthropic;

impl Format for Anthropic {
    fn name(&self) -> &'static str {
        "anthropic_messages"
    }

    fn paths(&self) -> &'static [&'static str] {
        &["/v1/messages", "/messages"]
    }

    /// `system` is read as a `system` message before the others.
    fn read_chat(&self, json: &Value, _path: &str) -> Option<ChatRequest> {
        read_messages(json)
    }

    fn validate(&self, request: &ReceivedRequest) -> Result<(), ApiError> {
        validate(request)
    }

    fn response_id(&self, ids: &IdGenerator) -> String {
        ids.alphanumeric("msg_01", 22)
    }

    fn encoder(&self, _request: &ReceivedRequest, context: ResponseContext) -> Box<dyn Encoder> {
        Box::new(MessageEncoder::new(context))
    }

    fn complete_response(&self, script: &Script, context: &ResponseContext) -> Value {
        complete_response(script, context)
    }

    fn headers(&self, context: &ResponseContext) -> HeaderMap {
        headers(context)
    }

    /// With the request id Anthropic adds.
    fn error_body(
        &self,
        status: StatusCode,
        error: &ErrorBody,
        context: &ResponseContext,
    ) -> Value {
        let mut body = error_fields(status, error);
        body["request_id"] = json!(context.request_id);
        body
    }

    /// Anthropic reports an overloaded service as 529, not 503.
    fn error_status(&self, status: StatusCode) -> StatusCode {
        if status == StatusCode::SERVICE_UNAVAILABLE {
            StatusCode::from_u16(529).unwrap_or(status)
        } else {
            status
        }
    }
}

/// Error types only Anthropic uses. A script naming one gets it as is; any other type
/// (including `invalid_request_error`, which OpenAI also uses, for statuses Anthropic
/// names otherwise) is mapped from the status, so Anthropic clients meet the type they
/// expect for it.
const ANTHROPIC_ONLY_ERROR_TYPES: &[&str] = &[
    "authentication_error",
    "billing_error",
    "permission_error",
    "not_found_error",
    "request_too_large",
    "rate_limit_error",
    "api_error",
    "timeout_error",
    "overloaded_error",
];

struct MessageEncoder {
    context: ResponseContext,
    usage: Usage,
    /// The content blocks started so far; the last one is open until another starts or
    /// the message ends.
    blocks: usize,
    open: Option<BlockKind>,
    refused: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlockKind {
    Text,
    ToolUse,
}

impl MessageEncoder {
    fn new(context: ResponseContext) -> MessageEncoder {
        MessageEncoder {
            context,
            usage: Usage::default(),
            blocks: 0,
            open: None,
            refused: false,
        }
    }

    /// Closes the open block, if any, and starts one of `kind` at the next index. A ping
    /// follows the first block's start, as in the SDK's recorded streams.
    fn start_block(&mut self, kind: BlockKind, content_block: Value, frames: &mut Vec<Frame>) {
        self.close_block(frames);
        frames.push(event(
            "content_block_start",
            json!({ "index": self.blocks, "content_block": content_block }),
        ));
        if self.blocks == 0 {
            frames.push(event("ping", json!({})));
        }
        self.blocks += 1;
        self.open = Some(kind);
    }

    fn close_block(&mut self, frames: &mut Vec<Frame>) {
        if self.open.take().is_some() {
            frames.push(event(
                "content_block_stop",
                json!({ "index": self.blocks - 1 }),
            ));
        }
    }

    fn delta(&self, delta: Value) -> Frame {
        event(
            "content_block_delta",
            json!({ "index": self.blocks.saturating_sub(1), "delta": delta }),
        )
    }

    fn text(&mut self, text: &str, frames: &mut Vec<Frame>) {
        if self.open != Some(BlockKind::Text) {
            self.start_block(
                BlockKind::Text,
                json!({ "type": "text", "text": "" }),
                frames,
            );
        }
        frames.push(self.delta(json!({ "type": "text_delta", "text": text })));
    }
}

fn event(kind: &'static str, mut fields: Value) -> Frame {
    fields["type"] = json!(kind);
    Frame::Event(Event {
        name: Some(kind),
        data: fields.to_string(),
        ..Event::default()
    })
}

impl Encoder for MessageEncoder {
    fn encode(&mut self, message: MessageEvent<'_>, frames: &mut Vec<Frame>) {
        self.usage.count(&message);
        match message {
            MessageEvent::Start => {
                let message = json!({
                    "id": self.context.id,
                    "type": "message",
                    "role": "assistant",
                    "content": [],
                    "model": self.context.model,
                    "stop_reason": null,
                    "stop_sequence": null,
                    "usage": usage(self.context.prompt_tokens, 1)
                });
                frames.push(event("message_start", json!({ "message": message })));
            }
            MessageEvent::Token(text) => self.text(text, frames),
            MessageEvent::Refusal(text) => {
                self.refused = true;
                self.text(text, frames);
            }
            // The block names the tool with an empty input; the input then arrives as
            // partial JSON, starting with an empty fragment as the live API does.
            MessageEvent::ToolCallStart { index, id, name } => {
                let id = self.context.tool_call_id("toolu_01", index, id);
                let block = json!({ "type": "tool_use", "id": id, "name": name, "input": {} });
                self.start_block(BlockKind::ToolUse, block, frames);
                frames.push(self.delta(json!({ "type": "input_json_delta", "partial_json": "" })));
            }
            MessageEvent::ToolArguments { fragment, .. } => {
                frames.push(
                    self.delta(json!({ "type": "input_json_delta", "partial_json": fragment })),
                );
            }
            MessageEvent::Finish(reason) => {
                if self.blocks == 0 {
                    self.start_block(BlockKind::Text, json!({ "type": "text", "text": "" }), frames);
                }
                self.close_block(frames);
                frames.push(event(
                    "message_delta",
                    json!({
                        "delta": {
                            "stop_reason": stop_reason(reason, self.refused),
                            "stop_sequence": null
                        },
                        "usage": { "output_tokens": self.usage.completion_tokens }
                    }),
                ));
                frames.push(event("message_stop", json!({})));
            }
            // The stream simply ends after message_stop, or after an error.
            MessageEvent::Done => {}
            MessageEvent::Error(error) => {
                frames.push(event("error", error_fields(error.status, &error.body)));
            }
            // A delta cut off mid-string, as a broken proxy would forward it.
            MessageEvent::Malformed => frames.push(Frame::Event(Event {
                name: Some("content_block_delta"),
                data: "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"trunc".to_owned(),
                ..Event::default()
            })),
        }
    }
}

fn usage(input_tokens: u64, output_tokens: u64) -> Value {
    json!({
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": output_tokens
    })
}

/// OpenAI's finish reasons, in Anthropic's words; anything else is sent as given. A
/// reply that refused stops for `refusal`.
fn stop_reason(finish_reason: FinishReason<'_>, refused: bool) -> &str {
    match finish_reason {
        FinishReason::Stop if refused => "refusal",
        FinishReason::Stop => "end_turn",
        FinishReason::Length => "max_tokens",
        FinishReason::ToolCalls => "tool_use",
        FinishReason::ContentFilter => "refusal",
        FinishReason::Other(other) => other,
    }
}

/// `{"type":"error","error":{"type","message"}}`.
fn error_fields(status: StatusCode, error: &ErrorBody) -> Value {
    json!({
        "type": "error",
        "error": { "type": error_type(status, error), "message": error.message }
    })
}

fn error_type(status: StatusCode, error: &ErrorBody) -> &str {
    if ANTHROPIC_ONLY_ERROR_TYPES.contains(&error.error_type.as_str()) {
        return &error.error_type;
    }
    match status.as_u16() {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        504 => "timeout_error",
        500..=599 => "api_error",
        _ => "invalid_request_error",
    }
}

fn headers(context: &ResponseContext) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        axum::http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache"),
    );
    if let Ok(value) = HeaderValue::from_str(&context.request_id) {
        headers.insert(HeaderName::from_static("request-id"), value);
    }
    headers
}

/// Rejects what the real API rejects before generating anything.
fn validate(request: &ReceivedRequest) -> Result<(), ApiError> {
    let json = json_object(request)?;
    let missing = |field: &str| {
        ApiError::invalid_request(StatusCode::BAD_REQUEST, format!("{field}: Field required"))
    };
    if !json["model"].is_string() {
        return Err(missing("model"));
    }
    if !json["max_tokens"].is_u64() {
        return Err(missing("max_tokens"));
    }
    if !json["messages"].is_array() {
        return Err(missing("messages"));
    }
    Ok(())
}

fn text_block(text: String) -> Value {
    json!({ "type": "text", "text": text })
}

/// The complete message for a non-streaming request.
fn complete_response(script: &Script, context: &ResponseContext) -> Value {
    let output = script.delivered_output();
    let refused = output
        .iter()
        .any(|part| matches!(part, OutputPart::Refusal(_)));
    let mut content: Vec<Value> = Vec::new();
    // Text and refusal pieces run on in one text block, as when streamed.
    let mut text: Option<String> = None;
    for part in output {
        match part {
            OutputPart::Text(piece) | OutputPart::Refusal(piece) => {
                text.get_or_insert_with(String::new).push_str(&piece);
            }
            OutputPart::ToolCall {
                index,
                id,
                name,
                arguments,
            } => {
                content.extend(text.take().map(text_block));
                content.push(json!({
                    "type": "tool_use",
                    "id": context.tool_call_id("toolu_01", index, id),
                    "name": name,
                    "input": arguments_value(&arguments)
                }));
            }
        }
    }
    content.extend(text.take().map(text_block));
    if content.is_empty() {
        content.push(text_block(String::new()));
    }
    json!({
        "id": context.id,
        "type": "message",
        "role": "assistant",
        "content": content,
        "model": context.model,
        "stop_reason": stop_reason(script.finish_reason(), refused),
        "stop_sequence": null,
        "usage": usage(context.prompt_tokens, script.completion_tokens())
    })
}
