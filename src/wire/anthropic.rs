//! Anthropic Messages (`POST /v1/messages`).
//!
//! Every event has an `event:` line and the same `type` in its JSON: `message_start`,
//! then per content block `content_block_start`, `content_block_delta`s and
//! `content_block_stop`, then `message_delta` with the stop reason and `message_stop`.
//! Text (and refusals) make `text` blocks, tool calls `tool_use` blocks whose input
//! streams as `input_json_delta` fragments. Thinking makes `thinking` blocks, started
//! with empty `thinking` and `signature`, streamed as `thinking_delta`s and closed by one
//! `signature_delta` just before `content_block_stop`; redacted thinking is a
//! `redacted_thinking` block whose `data` comes whole in its start, since there is no
//! delta for it (wire reference §8.1; platform.claude.com/docs/en/build-with-claude/
//! extended-thinking, "Streaming thinking").
//! A `ping` follows the first block's start, as in the SDK's recorded streams. Errors are
//! `{"type":"error","error":{"type","message"}}`, mid-stream as `event: error` (wire
//! reference, §4).

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use serde_json::{json, Value};

use super::frame::{Event, Frame};
use super::ids::IdGenerator;
use super::json::{
    arguments_json, arguments_value, content_text, count_parts, declared_tool, json_object,
    read_messages, role, string_field,
};
use super::reasoning::signature;
use super::{
    query_value, requested_model, ApiError, Encoder, Format, ResponseContext, Tokens, Usage,
};
use crate::request::{
    ChatMessage, ChatRequest, EarlierToolCall, ReceivedRequest, ResponseFormat, ToolResult,
};
use crate::script::{ErrorBody, FinishReason, MessageEvent, OutputPart, Script};

/// Anthropic Messages.
pub(super) struct Anthropic;

impl Format for Anthropic {
    fn name(&self) -> &'static str {
        "anthropic_messages"
    }

    fn paths(&self) -> &'static [&'static str] {
        &["/v1/messages"]
    }

    /// `system` is read as a `system` message before the others; `tool_use` blocks are
    /// the assistant's calls, `tool_result` blocks (in `user` messages) their results;
    /// `output_format` is the response format.
    fn read_chat(&self, json: &Value, _path: &str) -> Option<ChatRequest> {
        let tools = json["tools"].as_array().into_iter().flatten();
        let response_format = match json["output_format"]["type"].as_str() {
            Some("json_schema") => ResponseFormat::JsonSchema {
                name: None,
                schema: json["output_format"]["schema"].clone(),
            },
            _ => ResponseFormat::Text,
        };
        Some(
            read_messages(json, read_message)?
                .with_tools(
                    tools
                        .filter_map(|tool| declared_tool(tool, "input_schema"))
                        .collect(),
                )
                .with_response_format(response_format),
        )
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

    fn complete_response(&self, script: &Script, context: &ResponseContext) -> Vec<u8> {
        super::json::value_bytes(&complete_response(script, context))
    }

    fn headers(&self, context: &ResponseContext) -> HeaderMap {
        headers(context)
    }

    fn rate_limit_headers(
        &self,
        reading: &super::rate_limits::RateLimitReading,
        headers: &mut HeaderMap,
    ) {
        super::rate_limits::anthropic_headers(reading, headers);
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

    fn default_models(&self) -> &'static [&'static str] {
        &["claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-1"]
    }

    fn models(
        &self,
        path: &str,
        request: &ReceivedRequest,
        models: &[String],
        _context: &ResponseContext,
    ) -> Result<Value, ApiError> {
        self::models(path, request, models)
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

fn read_message(message: &Value) -> ChatMessage {
    let blocks = message["content"].as_array().into_iter().flatten();
    let of_type = |kind: &'static str| {
        blocks
            .clone()
            .filter(move |block| block["type"].as_str() == Some(kind))
    };
    let calls = of_type("tool_use")
        .filter_map(|block| {
            Some(EarlierToolCall::new(
                string_field(block, "id"),
                block["name"].as_str()?.to_owned(),
                arguments_json(&block["input"]),
            ))
        })
        .collect();
    let results = of_type("tool_result")
        .map(|block| {
            ToolResult::new(
                string_field(block, "tool_use_id"),
                None,
                content_text(&block["content"]),
                block["is_error"] == true,
            )
        })
        .collect();
    ChatMessage::new(role(message), content_text(&message["content"]))
        .with_tool_calls(calls)
        .with_tool_results(results)
        .with_images(count_parts(&message["content"], &["image"]))
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

#[derive(Debug, Clone, PartialEq, Eq)]
enum BlockKind {
    Text,
    ToolUse,
    /// A thinking block: its text so far, which its derived signature is made from, and
    /// the scripted signature.
    Thinking {
        text: String,
        signature: Option<String>,
    },
    Redacted,
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
        if let Some(BlockKind::Thinking {
            text,
            signature: scripted,
        }) = &self.open
        {
            let signature = signature(text, scripted.as_deref());
            frames.push(self.delta(json!({ "type": "signature_delta", "signature": signature })));
        }
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

    fn thinking(
        &mut self,
        text: &str,
        scripted: Option<&str>,
        starts: bool,
        frames: &mut Vec<Frame>,
    ) {
        if starts || !matches!(self.open, Some(BlockKind::Thinking { .. })) {
            let kind = BlockKind::Thinking {
                text: String::new(),
                signature: scripted.map(str::to_owned),
            };
            let block = json!({ "type": "thinking", "thinking": "", "signature": "" });
            self.start_block(kind, block, frames);
        }
        if let Some(BlockKind::Thinking { text: all, .. }) = &mut self.open {
            all.push_str(text);
        }
        frames.push(self.delta(json!({ "type": "thinking_delta", "thinking": text })));
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
                    "usage": usage(&self.context.tokens(Usage {
                        completion_tokens: 1,
                        ..Usage::default()
                    }))
                });
                frames.push(event("message_start", json!({ "message": message })));
            }
            MessageEvent::Token(text) => self.text(text, frames),
            MessageEvent::Refusal(text) => {
                self.refused = true;
                self.text(text, frames);
            }
            MessageEvent::Thinking {
                text,
                signature,
                starts,
            } => self.thinking(text, signature, starts, frames),
            MessageEvent::RedactedThinking(data) => {
                let block = json!({ "type": "redacted_thinking", "data": data });
                self.start_block(BlockKind::Redacted, block, frames);
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
                        "usage": { "output_tokens": self.context.tokens(self.usage).output }
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

/// Anthropic counts thinking in `output_tokens` and reports no total; cached prompt
/// tokens are `cache_read_input_tokens` (platform.claude.com/docs/en/api/messages,
/// `usage`).
fn usage(tokens: &Tokens) -> Value {
    json!({
        "input_tokens": tokens.input,
        "cache_creation_input_tokens": tokens.cache_creation,
        "cache_read_input_tokens": tokens.cached,
        "output_tokens": tokens.output
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

/// `GET /v1/models`, in pages of `limit` (default 20) after `after_id` or before
/// `before_id`: `{"data":[ModelInfo],"has_more","first_id","last_id"}`, a `ModelInfo`
/// being `{type, id, display_name, created_at}`; `GET /v1/models/{id}` is one, or a 404
/// (wire reference §8.6; platform.claude.com/docs/en/api/models-list). Served at the
/// OpenAI path to requests that carry `anthropic-version`.
fn models(path: &str, request: &ReceivedRequest, models: &[String]) -> Result<Value, ApiError> {
    let info = |id: &str| {
        json!({
            "type": "model",
            "id": id,
            "display_name": display_name(id),
            "created_at": "2025-09-29T00:00:00Z"
        })
    };
    if let Some(id) = requested_model(path, "/v1/models") {
        return match models.iter().any(|listed| listed == id) {
            true => Ok(info(id)),
            false => Err(ApiError::invalid_request(
                StatusCode::NOT_FOUND,
                format!("model: {id}"),
            )),
        };
    }
    let limit = match query_value(request, "limit") {
        None => 20,
        Some(limit) => limit
            .parse::<usize>()
            .ok()
            .filter(|limit| (1..=1000).contains(limit))
            .ok_or_else(|| {
                ApiError::invalid_request(
                    StatusCode::BAD_REQUEST,
                    "limit: Input should be greater than or equal to 1 and less than or equal to 1000",
                )
            })?,
    };
    let position = |id: &str| models.iter().position(|listed| listed == id);
    let (start, end) = match (
        query_value(request, "after_id"),
        query_value(request, "before_id"),
    ) {
        (Some(after), _) => {
            let start = position(after).map_or(models.len(), |at| at + 1);
            (start, (start + limit).min(models.len()))
        }
        (None, Some(before)) => {
            let end = position(before).unwrap_or(0);
            (end.saturating_sub(limit), end)
        }
        (None, None) => (0, limit.min(models.len())),
    };
    let page: Vec<Value> = models[start..end].iter().map(|id| info(id)).collect();
    let has_more = match query_value(request, "before_id") {
        Some(_) if query_value(request, "after_id").is_none() => start > 0,
        _ => end < models.len(),
    };
    Ok(json!({
        "data": page,
        "has_more": has_more,
        "first_id": models.get(start).filter(|_| end > start),
        "last_id": end.checked_sub(1).filter(|_| end > start).and_then(|last| models.get(last))
    }))
}

/// `claude-sonnet-4-5` reads `Claude Sonnet 4.5`: words capitalised, version numbers
/// joined with dots.
fn display_name(id: &str) -> String {
    let mut name = String::new();
    let mut previous_numeric = false;
    for part in id.split('-') {
        let numeric = !part.is_empty() && part.chars().all(|c| c.is_ascii_digit());
        if !name.is_empty() {
            name.push(if numeric && previous_numeric {
                '.'
            } else {
                ' '
            });
        }
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            name.extend(first.to_uppercase());
            name.push_str(chars.as_str());
        }
        previous_numeric = numeric;
    }
    name
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
            OutputPart::Thinking {
                text: thinking,
                signature: scripted,
            } => {
                content.extend(text.take().map(text_block));
                let signature = signature(&thinking, scripted);
                content.push(json!({
                    "type": "thinking",
                    "thinking": thinking,
                    "signature": signature
                }));
            }
            OutputPart::RedactedThinking(data) => {
                content.extend(text.take().map(text_block));
                content.push(json!({ "type": "redacted_thinking", "data": data }));
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
        "usage": usage(&context.tokens(Usage::of_script(script)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::MessageEvent::{Done, Finish, Refusal, Start, Token};
    use crate::script::StreamError;
    use crate::wire::tests::{args, call, call_with_id, encoder, frames, request};
    use crate::wire::WireFormat;

    fn context() -> ResponseContext {
        let body = json!({
            "model": "claude-test", "max_tokens": 64,
            "messages": [{ "role": "user", "content": "Hello there" }]
        });
        let request = request("/v1/messages", None, body);
        ResponseContext::for_request(
            &request,
            WireFormat::AnthropicMessages,
            &IdGenerator::default(),
        )
    }

    /// Each event's name and JSON, checking that the `type` in the JSON is the name.
    fn stream(events: &[MessageEvent<'_>]) -> Vec<(&'static str, Value)> {
        let body = json!({
            "model": "claude-test", "max_tokens": 64, "stream": true,
            "messages": [{ "role": "user", "content": "Hello there" }]
        });
        let request = request("/v1/messages", None, body);
        frames(
            &mut *encoder(WireFormat::AnthropicMessages, &request),
            events,
        )
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

    /// The events as `name index detail`, for tables that read like the stream.
    fn describe(events: &[(&'static str, Value)]) -> Vec<String> {
        events
            .iter()
            .map(|(name, data)| match *name {
                "content_block_start" => {
                    format!(
                        "{name} {} {}",
                        data["index"],
                        data["content_block"]["type"].as_str().unwrap()
                    )
                }
                "content_block_delta" => {
                    let delta = &data["delta"];
                    let text = delta.get("text").or(delta.get("partial_json")).unwrap();
                    format!("{name} {} {}", data["index"], text.as_str().unwrap())
                }
                "content_block_stop" => format!("{name} {}", data["index"]),
                "message_delta" => {
                    format!("{name} {}", data["delta"]["stop_reason"].as_str().unwrap())
                }
                _ => (*name).to_owned(),
            })
            .collect()
    }

    #[test]
    fn blocks_are_numbered_in_order_and_each_closes_before_the_next_starts() {
        let events = [
            Start,
            Token("a"),
            Token("b"),
            call_with_id(0, "toolu_1", "f"),
            args(0, "{}"),
            call_with_id(1, "toolu_2", "g"),
            Token("c"),
            Finish(FinishReason::Stop),
            Done,
        ];
        assert_eq!(
            describe(&stream(&events)),
            [
                "message_start",
                "content_block_start 0 text",
                "ping",
                "content_block_delta 0 a",
                "content_block_delta 0 b",
                "content_block_stop 0",
                "content_block_start 1 tool_use",
                // The input starts with an empty fragment, as the live API sends it.
                "content_block_delta 1 ",
                "content_block_delta 1 {}",
                "content_block_stop 1",
                // A call right after a call is a block of its own.
                "content_block_start 2 tool_use",
                "content_block_delta 2 ",
                "content_block_stop 2",
                "content_block_start 3 text",
                "content_block_delta 3 c",
                "content_block_stop 3",
                "message_delta end_turn",
                "message_stop",
            ]
        );
    }

    #[test]
    fn a_tool_use_block_names_the_call_with_an_empty_input() {
        let events = [Start, call_with_id(0, "toolu_1", "get_weather")];
        let events = stream(&events);
        assert_eq!(
            events[1].1["content_block"],
            json!({ "type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {} })
        );
    }

    #[test]
    fn an_empty_reply_still_has_one_empty_text_block() {
        let events = [Start, Finish(FinishReason::Stop), Done];
        let events = stream(&events);
        assert_eq!(
            describe(&events),
            [
                "message_start",
                "content_block_start 0 text",
                "ping",
                "content_block_stop 0",
                "message_delta end_turn",
                "message_stop",
            ]
        );
        assert_eq!(
            events[1].1["content_block"],
            json!({ "type": "text", "text": "" })
        );
    }

    #[test]
    fn text_and_refusal_run_on_in_one_block() {
        let events = [Start, Token("a"), Refusal("no"), Finish(FinishReason::Stop)];
        assert_eq!(
            describe(&stream(&events)),
            [
                "message_start",
                "content_block_start 0 text",
                "ping",
                "content_block_delta 0 a",
                "content_block_delta 0 no",
                "content_block_stop 0",
                "message_delta refusal",
                "message_stop",
            ]
        );
    }

    #[test]
    fn finish_reasons_map_to_stop_reasons() {
        let cases: &[(MessageEvent<'_>, FinishReason<'_>, &str)] = &[
            (Token("a"), FinishReason::Stop, "end_turn"),
            (Refusal("no"), FinishReason::Stop, "refusal"),
            (Token("a"), FinishReason::ContentFilter, "refusal"),
            (Token("a"), FinishReason::Length, "max_tokens"),
            // A refusal cut short is still cut short.
            (Refusal("no"), FinishReason::Length, "max_tokens"),
            (call(0, "f"), FinishReason::ToolCalls, "tool_use"),
            (Token("a"), FinishReason::Other("pause_turn"), "pause_turn"),
        ];
        for (content, reason, expected) in cases {
            let events = stream(&[Start, *content, Finish(*reason)]);
            let (name, delta) = &events[events.len() - 2];
            assert_eq!(*name, "message_delta");
            assert_eq!(
                delta["delta"]["stop_reason"], *expected,
                "{content:?} {reason:?}"
            );
            assert_eq!(delta["usage"]["output_tokens"], 1, "{content:?} {reason:?}");
        }
    }

    #[test]
    fn error_types_follow_the_status_unless_the_script_names_an_anthropic_one() {
        let cases: &[(u16, &str, &str)] = &[
            (400, "invalid_request_error", "invalid_request_error"),
            (422, "server_error", "invalid_request_error"),
            (401, "invalid_request_error", "authentication_error"),
            (403, "request_forbidden", "permission_error"),
            (404, "invalid_request_error", "not_found_error"),
            (413, "server_error", "request_too_large"),
            (429, "requests", "rate_limit_error"),
            (500, "server_error", "api_error"),
            // OpenAI's invalid_request_error is not Anthropic's own, so the status decides.
            (500, "invalid_request_error", "api_error"),
            (502, "server_error", "api_error"),
            (503, "server_error", "overloaded_error"),
            (529, "server_error", "overloaded_error"),
            (504, "server_error", "timeout_error"),
            (429, "overloaded_error", "overloaded_error"),
            (500, "billing_error", "billing_error"),
        ];
        let context = context();
        for (status, scripted, expected) in cases {
            let status = StatusCode::from_u16(*status).unwrap();
            let error = ErrorBody::new("Oops.").with_type(*scripted);
            let body = Anthropic.error_body(status, &error, &context);
            assert_eq!(
                body,
                json!({
                    "type": "error",
                    "error": { "type": expected, "message": "Oops." },
                    "request_id": context.request_id
                }),
                "{status} {scripted}"
            );
            // Mid-stream the same error is an `error` event, without the request id.
            let stream_error = StreamError {
                body: error,
                status,
            };
            let events = stream(&[MessageEvent::Error(&stream_error)]);
            assert_eq!(
                events,
                [(
                    "error",
                    json!({ "type": "error", "error": { "type": expected, "message": "Oops." } })
                )],
                "{status} {scripted}"
            );
        }
    }

    #[test]
    fn an_unavailable_service_is_overloaded_with_529() {
        let cases: &[(u16, u16)] = &[(503, 529), (529, 529), (500, 500), (429, 429), (400, 400)];
        for (status, expected) in cases {
            let status = StatusCode::from_u16(*status).unwrap();
            assert_eq!(
                Anthropic.error_status(status).as_u16(),
                *expected,
                "{status}"
            );
        }
    }
}
