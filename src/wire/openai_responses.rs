//! OpenAI Responses (`POST /v1/responses`).
//!
//! Every event has an `event:` line naming its type, the same `type` in its JSON, and a
//! `sequence_number` counting from 0. A text reply is `response.created`,
//! `response.in_progress`, the message item and its text part being added, one
//! `response.output_text.delta` per token, the text, part and item being done, then
//! `response.completed`, and the body closes: there is no `[DONE]` (wire reference, §3).
//! A refusal is a message item with a `refusal` part (`response.refusal.delta`); a tool
//! call is a `function_call` item whose arguments stream as
//! `response.function_call_arguments.delta`. Thinking is a `reasoning` item (`rs_…`)
//! whose one summary part streams as `response.reasoning_summary_part.added`,
//! `response.reasoning_summary_text.delta`s, `response.reasoning_summary_text.done` and
//! `response.reasoning_summary_part.done`; the item carries `encrypted_content` (the
//! block's signature) only when the request's `include` names
//! `reasoning.encrypted_content`. Redacted thinking is a reasoning item with no summary
//! (wire reference §8.2; platform.openai.com/docs/api-reference/responses-streaming,
//! `response.reasoning_summary_*`; openai-python `response_reasoning_item.py`).

use axum::http::{HeaderMap, StatusCode};
use serde_json::{json, Value};

use super::frame::{Event, Frame};
use super::ids::IdGenerator;
use super::json::{
    arguments_json, content_text, count_parts, declared_tool, json_object, model,
    openai_response_format, role, stream_flag, string_field,
};
use super::reasoning::signature;
use super::{openai_chat, ApiError, Encoder, Format, ResponseContext, Tokens, Usage};
use crate::request::{ChatMessage, ChatRequest, EarlierToolCall, ReceivedRequest, ToolResult};
use crate::script::{ErrorBody, FinishReason, MessageEvent, Script};

/// OpenAI Responses.
pub(super) struct OpenAiResponses;

impl Format for OpenAiResponses {
    fn name(&self) -> &'static str {
        "openai_responses"
    }

    fn paths(&self) -> &'static [&'static str] {
        &["/v1/responses"]
    }

    /// `instructions` become a `system` message, followed by `input`: a string is one
    /// `user` message, an array a list of items. `function_call` items join the
    /// assistant message they follow (one assistant turn is several items);
    /// `function_call_output` items are `tool` messages. `tools` are the declared tools,
    /// `text.format` the response format.
    fn read_chat(&self, json: &Value, _path: &str) -> Option<ChatRequest> {
        if json.get("messages").is_some() {
            return None;
        }
        let instructions = json["instructions"]
            .as_str()
            .map(|text| ChatMessage::new("system", text.to_owned()));
        let input: Vec<ChatMessage> = match json.get("input")? {
            Value::String(text) => vec![ChatMessage::new("user", text.clone())],
            Value::Array(items) => read_items(items),
            _ => return None,
        };
        let messages = instructions.into_iter().chain(input).collect();
        let tools = json["tools"].as_array().into_iter().flatten();
        Some(
            ChatRequest::new(model(json), messages, stream_flag(json))
                .with_tools(
                    tools
                        .filter_map(|tool| declared_tool(tool, "parameters"))
                        .collect(),
                )
                .with_response_format(openai_response_format(&json["text"]["format"])),
        )
    }

    fn validate(&self, request: &ReceivedRequest) -> Result<(), ApiError> {
        validate(request)
    }

    fn response_id(&self, ids: &IdGenerator) -> String {
        ids.hex("resp_", 48)
    }

    fn encoder(&self, _request: &ReceivedRequest, context: ResponseContext) -> Box<dyn Encoder> {
        Box::new(ResponseEncoder::new(context))
    }

    fn complete_response(&self, script: &Script, context: &ResponseContext) -> Vec<u8> {
        super::json::value_bytes(&complete_response(script, context))
    }

    fn headers(&self, context: &ResponseContext) -> HeaderMap {
        openai_chat::headers(context)
    }

    fn rate_limit_headers(
        &self,
        reading: &super::rate_limits::RateLimitReading,
        headers: &mut HeaderMap,
    ) {
        super::rate_limits::openai_headers(reading, headers);
    }

    fn error_body(&self, _status: StatusCode, error: &ErrorBody, _: &ResponseContext) -> Value {
        openai_chat::error_body(error)
    }
}

/// The input items as messages, consecutive assistant items (its text and its calls)
/// as one message.
fn read_items(items: &[Value]) -> Vec<ChatMessage> {
    let mut messages: Vec<ChatMessage> = Vec::new();
    let mut previous_was_assistant = false;
    for item in items {
        let message = match item["type"].as_str() {
            Some("function_call") => {
                let call = EarlierToolCall::new(
                    string_field(item, "call_id"),
                    item["name"].as_str().unwrap_or_default().to_owned(),
                    arguments_json(&item["arguments"]),
                );
                ChatMessage::new("assistant", String::new()).with_tool_calls(vec![call])
            }
            Some("function_call_output") => {
                let output = content_text(&item["output"]);
                let result = ToolResult::new(string_field(item, "call_id"), None, output, false);
                ChatMessage::new("tool", content_text(&item["output"]))
                    .with_tool_results(vec![result])
            }
            Some("message") | None => ChatMessage::new(role(item), content_text(&item["content"]))
                .with_images(count_parts(&item["content"], &["input_image"])),
            // Reasoning and other items the model produced carry no conversation.
            Some(_) => continue,
        };
        let is_assistant = message.role() == "assistant";
        match messages.last_mut() {
            Some(last) if is_assistant && previous_was_assistant => last.absorb(message),
            _ => messages.push(message),
        }
        previous_was_assistant = is_assistant;
    }
    messages
}

/// Streams one response. Each run of text, run of refusal and tool call is an output
/// item of its own; the encoder keeps the open item's text, which its closing events
/// repeat in full, and the finished items, which `response.completed` lists.
struct ResponseEncoder {
    context: ResponseContext,
    sequence_number: u64,
    open: Option<OpenItem>,
    done_items: Vec<Value>,
    usage: Usage,
}

/// The output item being streamed.
struct OpenItem {
    kind: ItemKind,
    id: String,
    /// The text, refusal or arguments so far.
    content: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ItemKind {
    Text,
    Refusal,
    FunctionCall {
        call_id: String,
        name: String,
    },
    /// Thinking, with one summary part, or (`summary: false`) redacted thinking, whose
    /// content is its encrypted data.
    Reasoning {
        summary: bool,
        signature: Option<String>,
    },
}

impl ResponseEncoder {
    fn new(context: ResponseContext) -> ResponseEncoder {
        ResponseEncoder {
            context,
            sequence_number: 0,
            open: None,
            done_items: Vec::new(),
            usage: Usage::default(),
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

    fn in_progress(&self) -> Value {
        response_object(&self.context, "in_progress", Vec::new(), None)
    }

    fn output_index(&self) -> usize {
        self.done_items.len()
    }

    /// Where the open item's events point: its id, its index, and for messages the
    /// content part.
    fn location(&self, item_id: &str, with_part: bool) -> Value {
        let mut location = json!({ "item_id": item_id, "output_index": self.output_index() });
        if with_part {
            location["content_index"] = json!(0);
        }
        location
    }

    /// Makes sure an item of `kind` is open, closing any other first.
    fn open(&mut self, kind: ItemKind, frames: &mut Vec<Frame>) {
        if self.open.as_ref().is_some_and(|open| open.kind == kind) {
            return;
        }
        self.close(frames);
        let index = self.output_index();
        let item = OpenItem {
            id: match &kind {
                ItemKind::FunctionCall { call_id, .. } => format!("fc_{call_id}"),
                ItemKind::Text | ItemKind::Refusal | ItemKind::Reasoning { .. } => {
                    let prefix = match kind {
                        ItemKind::Reasoning { .. } => "rs_",
                        _ => "msg_",
                    };
                    let item_id = self.context.id.replacen("resp_", prefix, 1);
                    match index {
                        0 => item_id,
                        _ => format!("{item_id}_{index}"),
                    }
                }
            },
            kind,
            content: String::new(),
        };
        let added = item_json(&item, "in_progress", false, &self.context);
        frames.push(self.event(
            "response.output_item.added",
            json!({ "output_index": index, "item": added }),
        ));
        if matches!(item.kind, ItemKind::Reasoning { summary: true, .. }) {
            let mut part_added = self.summary_location(&item.id);
            part_added["part"] = json!({ "type": "summary_text", "text": "" });
            frames.push(self.event("response.reasoning_summary_part.added", part_added));
        }
        if let Some(part) = part_json(&item.kind, "") {
            let mut part_added = self.location(&item.id, true);
            part_added["part"] = part;
            frames.push(self.event("response.content_part.added", part_added));
        }
        self.open = Some(item);
    }

    /// Where the events of a reasoning item's one summary part point.
    fn summary_location(&self, item_id: &str) -> Value {
        json!({ "item_id": item_id, "output_index": self.output_index(), "summary_index": 0 })
    }

    /// Finishes the open item: its content is done, then the item.
    fn close(&mut self, frames: &mut Vec<Frame>) {
        let Some(item) = self.open.take() else {
            return;
        };
        let is_call = matches!(item.kind, ItemKind::FunctionCall { .. });
        let mut done = self.location(&item.id, !is_call);
        match &item.kind {
            ItemKind::Reasoning { summary: true, .. } => {
                let mut text_done = self.summary_location(&item.id);
                text_done["text"] = json!(item.content);
                frames.push(self.event("response.reasoning_summary_text.done", text_done));
                let mut part_done = self.summary_location(&item.id);
                part_done["part"] = json!({ "type": "summary_text", "text": item.content });
                frames.push(self.event("response.reasoning_summary_part.done", part_done));
            }
            ItemKind::Reasoning { summary: false, .. } => {}
            ItemKind::Text => {
                done["text"] = json!(item.content);
                done["logprobs"] = json!([]);
                frames.push(self.event("response.output_text.done", done));
            }
            ItemKind::Refusal => {
                done["refusal"] = json!(item.content);
                frames.push(self.event("response.refusal.done", done));
            }
            ItemKind::FunctionCall { name, .. } => {
                done["name"] = json!(name);
                done["arguments"] = json!(item.content);
                frames.push(self.event("response.function_call_arguments.done", done));
            }
        }
        if let Some(part) = part_json(&item.kind, &item.content) {
            let mut part_done = self.location(&item.id, true);
            part_done["part"] = part;
            frames.push(self.event("response.content_part.done", part_done));
        }
        let finished = item_json(&item, "completed", true, &self.context);
        frames.push(self.event(
            "response.output_item.done",
            json!({ "output_index": self.output_index(), "item": finished }),
        ));
        self.done_items.push(finished);
    }

    fn delta(&mut self, kind: &'static str, text: &str, frames: &mut Vec<Frame>) {
        let Some(item) = &mut self.open else {
            return;
        };
        item.content.push_str(text);
        let with_part = !matches!(item.kind, ItemKind::FunctionCall { .. });
        let reasoning = matches!(item.kind, ItemKind::Reasoning { .. });
        let id = item.id.clone();
        let mut delta = if reasoning {
            self.summary_location(&id)
        } else {
            self.location(&id, with_part)
        };
        delta["delta"] = json!(text);
        if kind == "response.output_text.delta" {
            delta["logprobs"] = json!([]);
        }
        frames.push(self.event(kind, delta));
    }
}

/// An output item: a message holding one text or refusal part, a function call, or
/// reasoning. A reasoning item has no `status`, as in the live capture (wire reference
/// §8.2), and its `encrypted_content` only when the request asked for it.
fn item_json(
    item: &OpenItem,
    status: &str,
    with_content: bool,
    context: &ResponseContext,
) -> Value {
    match &item.kind {
        ItemKind::Reasoning {
            summary,
            signature: scripted,
        } => {
            let summary: Vec<Value> = (*summary && with_content)
                .then(|| json!({ "type": "summary_text", "text": item.content }))
                .into_iter()
                .collect();
            let mut reasoning = json!({ "id": item.id, "type": "reasoning", "summary": summary });
            if context.encrypted_reasoning {
                reasoning["encrypted_content"] = json!(match scripted {
                    // Redacted thinking is nothing but its encrypted data.
                    Some(data)
                        if !matches!(item.kind, ItemKind::Reasoning { summary: true, .. }) =>
                    {
                        data.clone()
                    }
                    _ => signature(&item.content, scripted.as_deref()),
                });
            }
            reasoning
        }
        ItemKind::FunctionCall { call_id, name } => json!({
            "id": item.id,
            "type": "function_call",
            "status": status,
            "arguments": if with_content { item.content.as_str() } else { "" },
            "call_id": call_id,
            "name": name
        }),
        kind => {
            let content: Vec<Value> = part_json(kind, &item.content)
                .filter(|_| with_content)
                .into_iter()
                .collect();
            json!({
                "id": item.id,
                "type": "message",
                "status": status,
                "role": "assistant",
                "content": content
            })
        }
    }
}

/// The content part of a message item; function calls have none.
fn part_json(kind: &ItemKind, text: &str) -> Option<Value> {
    match kind {
        ItemKind::Text => {
            Some(json!({ "type": "output_text", "text": text, "annotations": [], "logprobs": [] }))
        }
        ItemKind::Refusal => Some(json!({ "type": "refusal", "refusal": text })),
        ItemKind::FunctionCall { .. } | ItemKind::Reasoning { .. } => None,
    }
}

impl Encoder for ResponseEncoder {
    fn encode(&mut self, event: MessageEvent<'_>, frames: &mut Vec<Frame>) {
        self.usage.count(&event);
        match event {
            MessageEvent::Start => {
                let response = self.in_progress();
                frames.push(self.event("response.created", json!({ "response": response })));
                frames.push(self.event("response.in_progress", json!({ "response": response })));
            }
            MessageEvent::Token(text) => {
                self.open(ItemKind::Text, frames);
                self.delta("response.output_text.delta", text, frames);
            }
            MessageEvent::Refusal(text) => {
                self.open(ItemKind::Refusal, frames);
                self.delta("response.refusal.delta", text, frames);
            }
            MessageEvent::Thinking {
                text,
                signature,
                starts,
            } => {
                let kind = ItemKind::Reasoning {
                    summary: true,
                    signature: signature.map(str::to_owned),
                };
                if starts {
                    self.close(frames);
                }
                self.open(kind, frames);
                self.delta("response.reasoning_summary_text.delta", text, frames);
            }
            MessageEvent::RedactedThinking(data) => {
                self.close(frames);
                let kind = ItemKind::Reasoning {
                    summary: false,
                    signature: Some(data.to_owned()),
                };
                self.open(kind, frames);
                self.close(frames);
            }
            MessageEvent::ToolCallStart { index, id, name } => {
                // Every call gets an item of its own, even right after another.
                self.close(frames);
                let call_id = self.context.tool_call_id("call_", index, id);
                let kind = ItemKind::FunctionCall {
                    call_id,
                    name: name.to_owned(),
                };
                self.open(kind, frames);
            }
            MessageEvent::ToolArguments { fragment, .. } => {
                self.delta("response.function_call_arguments.delta", fragment, frames);
            }
            MessageEvent::Finish(reason) => {
                if self.open.is_none() && self.done_items.is_empty() {
                    self.open(ItemKind::Text, frames);
                }
                self.close(frames);
                let output = std::mem::take(&mut self.done_items);
                let tokens = self.context.tokens(self.usage);
                let (kind, response) = closing_response(&self.context, reason, output, &tokens);
                frames.push(self.event(kind, json!({ "response": response })));
            }
            // The stream simply ends after its last event.
            MessageEvent::Done => {}
            MessageEvent::Error(error) => {
                frames.push(self.event(
                    "error",
                    json!({ "code": error.body.code, "message": error.body.message, "param": error.body.param }),
                ));
                let mut failed = response_object(&self.context, "failed", Vec::new(), None);
                failed["error"] = json!({
                    "code": error.body.code.as_deref().unwrap_or("server_error"),
                    "message": error.body.message
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
    finish_reason: FinishReason<'_>,
    output: Vec<Value>,
    tokens: &Tokens,
) -> (&'static str, Value) {
    let usage = usage(tokens);
    let incomplete_reason = match finish_reason {
        FinishReason::Length => Some("max_output_tokens"),
        FinishReason::ContentFilter => Some("content_filter"),
        FinishReason::Stop | FinishReason::ToolCalls | FinishReason::Other(_) => None,
    };
    match incomplete_reason {
        None => {
            let mut response = response_object(context, "completed", output, Some(usage));
            response["completed_at"] = json!(context.created);
            ("response.completed", response)
        }
        Some(reason) => {
            let mut response = response_object(context, "incomplete", output, Some(usage));
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

/// `output_tokens` include the reasoning tokens (wire reference §8.2).
fn usage(tokens: &Tokens) -> Value {
    json!({
        "input_tokens": tokens.input,
        "input_tokens_details": { "cached_tokens": tokens.cached },
        "output_tokens": tokens.output,
        "output_tokens_details": { "reasoning_tokens": tokens.reasoning },
        "total_tokens": tokens.total
    })
}

/// Rejects what the real API rejects before generating anything.
fn validate(request: &ReceivedRequest) -> Result<(), ApiError> {
    let json = json_object(request)?;
    if !json["model"].is_string() {
        return Err(ApiError::invalid_request(
            StatusCode::BAD_REQUEST,
            "You must provide a model parameter.",
        ));
    }
    match &json["input"] {
        Value::String(_) | Value::Array(_) => Ok(()),
        Value::Null => Err(ApiError::invalid_request(
            StatusCode::BAD_REQUEST,
            "Missing required parameter: 'input'.",
        )
        .with_param("input")
        .with_code("missing_required_parameter")),
        _ => Err(ApiError::invalid_request(
            StatusCode::BAD_REQUEST,
            "Invalid type for 'input': expected a string or an array of input items.",
        )
        .with_param("input")
        .with_code("invalid_type")),
    }
}

/// The complete response to a non-streaming request: the items the stream would have
/// listed in `response.completed`.
fn complete_response(script: &Script, context: &ResponseContext) -> Value {
    let mut encoder = ResponseEncoder::new(context.clone());
    let mut frames = Vec::new();
    for event in script.delivered_content() {
        encoder.encode(event, &mut frames);
    }
    if encoder.open.is_none() && encoder.done_items.is_empty() {
        encoder.open(ItemKind::Text, &mut frames);
    }
    encoder.close(&mut frames);
    closing_response(
        context,
        script.finish_reason(),
        encoder.done_items,
        &context.tokens(Usage::of_script(script)),
    )
    .1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::MessageEvent::{Done, Finish, Refusal, Start, Token};
    use crate::script::StreamError;
    use crate::wire::tests::{args, call, call_with_id, encoder, frames, request};
    use crate::wire::WireFormat;

    /// Each event's name and JSON, checking that the `type` in the JSON is the name.
    fn stream(events: &[MessageEvent<'_>]) -> Vec<(&'static str, Value)> {
        let body = json!({ "model": "gpt-test", "input": "Hello there", "stream": true });
        let request = request("/v1/responses", None, body);
        frames(&mut *encoder(WireFormat::OpenAiResponses, &request), events)
            .into_iter()
            .map(|frame| {
                let Frame::Event(event) = frame else {
                    panic!("{frame:?}")
                };
                let name = event.name.expect("every event is named");
                let data: Value = serde_json::from_str(&event.data).unwrap();
                assert_eq!(data["type"], name, "{data}");
                (name, data)
            })
            .collect()
    }

    #[test]
    fn sequence_numbers_count_every_event_from_zero() {
        let error = StreamError::new("broke");
        let mixed = [
            Start,
            Token("a"),
            Token("b"),
            Refusal("no"),
            call(0, "f"),
            args(0, "{"),
            args(0, "}"),
            call(1, "g"),
            Token("c"),
            Finish(FinishReason::Stop),
            Done,
        ];
        let failed = [Start, Token("a"), MessageEvent::Error(&error), Done];
        for events in [&mixed[..], &failed[..]] {
            let numbers: Vec<Value> = stream(events)
                .iter()
                .map(|(_, data)| data["sequence_number"].clone())
                .collect();
            let expected: Vec<Value> = (0..numbers.len()).map(Value::from).collect();
            assert_eq!(numbers, expected, "{events:?}");
        }
    }

    #[test]
    fn a_mixed_stream_opens_and_closes_one_item_per_run_and_call() {
        let events = [
            Start,
            Token("a"),
            Token("b"),
            Refusal("no"),
            call_with_id(0, "call_1", "f"),
            args(0, "{}"),
            Finish(FinishReason::Stop),
        ];
        let events = stream(&events);
        let names: Vec<&str> = events.iter().map(|(name, _)| *name).collect();
        assert_eq!(
            names,
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.output_item.added",
                "response.content_part.added",
                "response.refusal.delta",
                "response.refusal.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.output_item.added",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.done",
                "response.output_item.done",
                "response.completed",
            ]
        );
        // The closing events repeat each item's whole content.
        assert_eq!(events[6].1["text"], "ab");
        assert_eq!(events[12].1["refusal"], "no");
        assert_eq!(events[17].1["arguments"], "{}");
        // The completed response lists every item, in the order it was added and with
        // the id it was added with.
        let output = &events[19].1["response"]["output"];
        let added = events
            .iter()
            .filter(|(name, _)| *name == "response.output_item.added");
        for (position, (_, added)) in added.enumerate() {
            assert_eq!(added["output_index"], position);
            assert_eq!(output[position]["id"], added["item"]["id"]);
            assert_eq!(output[position]["status"], "completed");
        }
        assert_eq!(output.as_array().map(Vec::len), Some(3));
        assert_eq!(output[2]["call_id"], "call_1");
        assert_eq!(output[2]["id"], "fc_call_1");
    }

    #[test]
    fn a_reply_cut_short_is_incomplete_with_its_reason() {
        let cases: &[(FinishReason<'_>, &str, &str, Option<&str>)] = &[
            (FinishReason::Stop, "response.completed", "completed", None),
            (
                FinishReason::ToolCalls,
                "response.completed",
                "completed",
                None,
            ),
            (
                FinishReason::Other("anything"),
                "response.completed",
                "completed",
                None,
            ),
            (
                FinishReason::Length,
                "response.incomplete",
                "incomplete",
                Some("max_output_tokens"),
            ),
            (
                FinishReason::ContentFilter,
                "response.incomplete",
                "incomplete",
                Some("content_filter"),
            ),
        ];
        for (reason, kind, status, incomplete) in cases {
            let events = stream(&[Start, Token("a"), Finish(*reason)]);
            let (name, last) = events.last().unwrap();
            assert_eq!(name, kind, "{reason:?}");
            let response = &last["response"];
            assert_eq!(response["status"], *status, "{reason:?}");
            assert_eq!(
                response["incomplete_details"],
                incomplete.map_or(Value::Null, |reason| json!({ "reason": reason })),
                "{reason:?}"
            );
            assert_eq!(response["usage"]["output_tokens"], 1, "{reason:?}");
            assert_eq!(
                response["output"][0]["content"][0]["text"], "a",
                "{reason:?}"
            );
        }
    }
}
