//! OpenAI Responses (`POST /v1/responses`).
//!
//! Every event has an `event:` line naming its type, the same `type` in its JSON, and a
//! `sequence_number` counting from 0. A text reply is `response.created`,
//! `response.in_progress`, the message item and its text part being added, one
//! `response.output_text.delta` per token, the text, part and item being done, then
//! `response.completed`, and the body closes: there is no `[DONE]` (wire reference, §3).

use serde_json::{json, Value};

use super::{ApiError, Encoder, ResponseContext};
use crate::reply::{MessageEvent, Script};
use crate::request::ReceivedRequest;
use crate::sse::{Event, Frame};

/// Streams one response, keeping the sequence number and the text so far, which the
/// closing events repeat in full.
pub(super) struct ResponseEncoder {
    context: ResponseContext,
    message_id: String,
    sequence_number: u64,
    text: String,
    output_tokens: u64,
}

impl ResponseEncoder {
    pub(super) fn new(context: ResponseContext) -> ResponseEncoder {
        let message_id = context.id.replacen("resp_", "msg_", 1);
        ResponseEncoder {
            context,
            message_id,
            sequence_number: 0,
            text: String::new(),
            output_tokens: 0,
        }
    }

    /// An event of type `kind` whose JSON is `fields` plus `type` and `sequence_number`.
    fn event(&mut self, kind: &'static str, mut fields: Value) -> Frame {
        fields["type"] = json!(kind);
        fields["sequence_number"] = json!(self.sequence_number);
        self.sequence_number += 1;
        Frame::Event(Event {
            name: Some(kind),
            data: fields.to_string(),
            ..Event::default()
        })
    }

    fn message(&self, status: &str, content: Vec<Value>) -> Value {
        json!({
            "id": self.message_id,
            "type": "message",
            "status": status,
            "role": "assistant",
            "content": content
        })
    }

    fn text_part(text: &str) -> Value {
        json!({ "type": "output_text", "text": text, "annotations": [], "logprobs": [] })
    }

    fn in_progress(&self) -> Value {
        response_object(&self.context, "in_progress", Vec::new(), None)
    }
}

impl Encoder for ResponseEncoder {
    fn encode(&mut self, event: MessageEvent<'_>, frames: &mut Vec<Frame>) {
        let item = json!({ "item_id": self.message_id, "output_index": 0, "content_index": 0 });
        match event {
            MessageEvent::Start => {
                let response = self.in_progress();
                frames.push(self.event("response.created", json!({ "response": response })));
                frames.push(self.event("response.in_progress", json!({ "response": response })));
                let message = self.message("in_progress", Vec::new());
                frames.push(self.event(
                    "response.output_item.added",
                    json!({ "output_index": 0, "item": message }),
                ));
                let mut added = item;
                added["part"] = ResponseEncoder::text_part("");
                frames.push(self.event("response.content_part.added", added));
            }
            MessageEvent::Token(text) => {
                self.text.push_str(text);
                self.output_tokens += 1;
                let mut delta = item;
                delta["delta"] = json!(text);
                delta["logprobs"] = json!([]);
                frames.push(self.event("response.output_text.delta", delta));
            }
            MessageEvent::Finish(reason) => {
                let part = ResponseEncoder::text_part(&self.text);
                let mut text_done = item.clone();
                text_done["text"] = json!(self.text);
                text_done["logprobs"] = json!([]);
                frames.push(self.event("response.output_text.done", text_done));
                let mut part_done = item;
                part_done["part"] = part.clone();
                frames.push(self.event("response.content_part.done", part_done));
                let message = self.message("completed", vec![part]);
                frames.push(self.event(
                    "response.output_item.done",
                    json!({ "output_index": 0, "item": message }),
                ));
                let (kind, response) =
                    closing_response(&self.context, reason, message, self.output_tokens);
                frames.push(self.event(kind, json!({ "response": response })));
            }
            // The stream simply ends after its last event.
            MessageEvent::Done => {}
            MessageEvent::Error(error) => {
                frames.push(self.event(
                    "error",
                    json!({ "code": error.code, "message": error.message, "param": error.param }),
                ));
                let mut failed = response_object(&self.context, "failed", Vec::new(), None);
                failed["error"] = json!({
                    "code": error.code.as_deref().unwrap_or("server_error"),
                    "message": error.message
                });
                frames.push(self.event("response.failed", json!({ "response": failed })));
            }
            // A delta cut off mid-string, as a broken proxy would forward it.
            MessageEvent::Malformed => frames.push(Frame::Event(Event {
                name: Some("response.output_text.delta"),
                data: format!(
                    "{{\"type\":\"response.output_text.delta\",\"sequence_number\":{},\"delta\":\"trunc",
                    self.sequence_number
                ),
                ..Event::default()
            })),
        }
    }
}

/// The terminal event for a finish reason: `response.completed`, or for a reply cut short
/// (`length`, `content_filter`) `response.incomplete` with the reason, as the API reports
/// it.
fn closing_response(
    context: &ResponseContext,
    finish_reason: &str,
    message: Value,
    output_tokens: u64,
) -> (&'static str, Value) {
    let usage = usage(context, output_tokens);
    let incomplete_reason = match finish_reason {
        "length" => Some("max_output_tokens"),
        "content_filter" => Some("content_filter"),
        _ => None,
    };
    match incomplete_reason {
        None => {
            let mut response = response_object(context, "completed", vec![message], Some(usage));
            response["completed_at"] = json!(context.created);
            ("response.completed", response)
        }
        Some(reason) => {
            let mut response = response_object(context, "incomplete", vec![message], Some(usage));
            response["incomplete_details"] = json!({ "reason": reason });
            ("response.incomplete", response)
        }
    }
}

fn response_object(
    context: &ResponseContext,
    status: &str,
    output: Vec<Value>,
    usage: Option<Value>,
) -> Value {
    json!({
        "id": context.id,
        "object": "response",
        "created_at": context.created,
        "status": status,
        "error": null,
        "incomplete_details": null,
        "model": context.model,
        "output": output,
        "parallel_tool_calls": true,
        "usage": usage
    })
}

fn usage(context: &ResponseContext, output_tokens: u64) -> Value {
    json!({
        "input_tokens": context.prompt_tokens,
        "input_tokens_details": { "cached_tokens": 0 },
        "output_tokens": output_tokens,
        "output_tokens_details": { "reasoning_tokens": 0 },
        "total_tokens": context.prompt_tokens + output_tokens
    })
}

/// Rejects what the real API rejects before generating anything.
pub(super) fn validate(request: &ReceivedRequest) -> Result<(), ApiError> {
    let json = super::openai_chat::json_object(request)?;
    if !json["model"].is_string() {
        return Err(ApiError::invalid_request(
            axum::http::StatusCode::BAD_REQUEST,
            "You must provide a model parameter.",
        ));
    }
    match &json["input"] {
        Value::String(_) | Value::Array(_) => Ok(()),
        Value::Null => Err(ApiError::invalid_request(
            axum::http::StatusCode::BAD_REQUEST,
            "Missing required parameter: 'input'.",
        )
        .with_param("input")
        .with_code("missing_required_parameter")),
        _ => Err(ApiError::invalid_request(
            axum::http::StatusCode::BAD_REQUEST,
            "Invalid type for 'input': expected a string or an array of input items.",
        )
        .with_param("input")
        .with_code("invalid_type")),
    }
}

/// The complete response to a non-streaming request.
pub(super) fn complete_response(script: &Script, context: &ResponseContext) -> Value {
    let text: String = script.delivered_tokens().collect();
    let output_tokens = script.delivered_tokens().count() as u64;
    let message_id = context.id.replacen("resp_", "msg_", 1);
    let message = json!({
        "id": message_id,
        "type": "message",
        "status": "completed",
        "role": "assistant",
        "content": [ResponseEncoder::text_part(&text)]
    });
    closing_response(context, script.finish_reason(), message, output_tokens).1
}
