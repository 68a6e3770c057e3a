//! OpenAI Chat Completions (`POST /v1/chat/completions`).
//!
//! Streams are `data: <chat.completion.chunk JSON>` events with the same `id`, `created`
//! and `model` on every chunk: a first chunk carrying the role, one chunk per token, a
//! final chunk with an empty delta and the `finish_reason`, then `data: [DONE]`. Refusals
//! travel in `delta.refusal`, tool calls in `delta.tool_calls`. This is the shape captured
//! from the live API (see the wire reference, §2.3-2.4). OpenAI sends no reasoning text
//! in this API, only its count in `completion_tokens_details.reasoning_tokens`; a reply
//! with `reasoning_content` sends thinking as `delta.reasoning_content` and
//! `message.reasoning_content`, as DeepSeek and vLLM do (wire reference §8.3;
//! api-docs.deepseek.com/guides/reasoning_model).

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use serde_json::{json, Value};

use super::embeddings;
use super::frame::Frame;
use super::json::{
    arguments_json, content_text, count_parts, function_tools, json_kind, json_object,
    openai_response_format, push_json_string, push_number, read_messages, role, string_field,
};
use super::{requested_model, ApiError, Encoder, Format, ResponseContext, Tokens, Usage};
use crate::request::{ChatMessage, ChatRequest, EarlierToolCall, ReceivedRequest, ToolResult};
use crate::script::{ErrorBody, MessageEvent, OutputPart, Script};

/// OpenAI Chat Completions.
pub(super) struct OpenAiChat;

impl Format for OpenAiChat {
    fn name(&self) -> &'static str {
        "openai_chat_completions"
    }

    fn paths(&self) -> &'static [&'static str] {
        &["/v1/chat/completions"]
    }

    fn read_chat(&self, json: &Value, _path: &str) -> Option<ChatRequest> {
        read_chat(json)
    }

    fn validate(&self, request: &ReceivedRequest) -> Result<(), ApiError> {
        validate(request)
    }

    fn encoder(&self, request: &ReceivedRequest, context: ResponseContext) -> Box<dyn Encoder> {
        Box::new(ChunkEncoder::new(context, includes_usage(request)))
    }

    fn complete_response(&self, script: &Script, context: &ResponseContext) -> Vec<u8> {
        complete_response(script, context)
    }

    fn headers(&self, context: &ResponseContext) -> HeaderMap {
        headers(context)
    }

    fn rate_limit_headers(
        &self,
        reading: &super::rate_limits::RateLimitReading,
        headers: &mut HeaderMap,
    ) {
        super::rate_limits::openai_headers(reading, headers);
    }

    fn error_body(&self, _status: StatusCode, error: &ErrorBody, _: &ResponseContext) -> Value {
        error_body(error)
    }

    fn service_paths(&self) -> &'static [&'static str] {
        &["POST /v1/embeddings", "GET /v1/models"]
    }

    fn serves_embeddings(&self, path: &str) -> bool {
        path == "/v1/embeddings"
    }

    /// `/v1/models` is Anthropic's too: the router answers a request that carries
    /// `anthropic-version` in Anthropic's shape.
    fn serves_models(&self, path: &str) -> bool {
        path == "/v1/models" || requested_model(path, "/v1/models").is_some()
    }

    fn default_models(&self) -> &'static [&'static str] {
        &["gpt-4o", "gpt-4o-mini", "o4-mini", "text-embedding-3-small"]
    }

    fn models(
        &self,
        path: &str,
        _request: &ReceivedRequest,
        models: &[String],
        _context: &ResponseContext,
    ) -> Result<Value, ApiError> {
        self::models(path, models)
    }

    fn embeddings(
        &self,
        request: &ReceivedRequest,
        _: &ResponseContext,
    ) -> Result<Value, ApiError> {
        embeddings(request)
    }
}

/// `GET /v1/models` (`{"object":"list","data":[Model]}`) and `GET /v1/models/{id}`
/// (one `Model`, or a 404 `model_not_found`), a `Model` being `{id, object, created,
/// owned_by}` (wire reference §8.6; platform.openai.com/docs/api-reference/models).
fn models(path: &str, models: &[String]) -> Result<Value, ApiError> {
    let model = |id: &str| json!({ "id": id, "object": "model", "created": 1_715_367_049u64, "owned_by": "system" });
    match requested_model(path, "/v1/models") {
        None => Ok(json!({
            "object": "list",
            "data": models.iter().map(|id| model(id)).collect::<Vec<Value>>()
        })),
        Some(id) if models.iter().any(|listed| listed == id) => Ok(model(id)),
        Some(id) => Err(ApiError::invalid_request(
            StatusCode::NOT_FOUND,
            format!("The model '{id}' does not exist or you do not have access to it."),
        )
        .with_param("model")
        .with_code("model_not_found")),
    }
}

/// `POST /v1/embeddings`: `input` is a string, an array of strings, an array of token
/// ids or an array of those; `dimensions` shortens the vectors; `encoding_format` is
/// `float` (the default) or `base64`, little-endian `f32`s (wire reference §8.6;
/// platform.openai.com/docs/api-reference/embeddings/create).
fn embeddings(request: &ReceivedRequest) -> Result<Value, ApiError> {
    let json = json_object(request)?;
    let Some(model) = json["model"].as_str() else {
        return Err(ApiError::invalid_request(
            StatusCode::BAD_REQUEST,
            "You must provide a model parameter.",
        ));
    };
    let invalid_input = || {
        ApiError::invalid_request(
            StatusCode::BAD_REQUEST,
            "'$.input' is invalid. Please check the API reference: \
             https://platform.openai.com/docs/api-reference.",
        )
    };
    let token_ids = |items: &[Value]| -> Option<String> {
        let ids: Option<Vec<String>> = items
            .iter()
            .map(|item| item.as_u64().map(|id| id.to_string()))
            .collect();
        ids.filter(|ids| !ids.is_empty()).map(|ids| ids.join(" "))
    };
    let inputs: Vec<String> = match &json["input"] {
        Value::String(text) => vec![text.clone()],
        Value::Array(items) if !items.is_empty() && items.iter().all(Value::is_u64) => {
            token_ids(items).into_iter().collect()
        }
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|item| match item {
                Value::String(text) => Some(text.clone()),
                Value::Array(ids) => token_ids(ids),
                _ => None,
            })
            .collect::<Option<Vec<String>>>()
            .ok_or_else(invalid_input)?,
        Value::Null => {
            return Err(ApiError::invalid_request(
                StatusCode::BAD_REQUEST,
                "Missing required parameter: 'input'.",
            )
            .with_param("input")
            .with_code("missing_required_parameter"))
        }
        _ => return Err(invalid_input()),
    };
    if inputs.iter().any(String::is_empty) {
        return Err(invalid_input());
    }
    let dimensions = match &json["dimensions"] {
        Value::Null => match model {
            "text-embedding-3-large" => 3072,
            _ => 1536,
        },
        value => match value.as_u64().filter(|dimensions| (1..=8192).contains(dimensions)) {
            Some(dimensions) => dimensions as usize,
            None => {
                return Err(ApiError::invalid_request(
                    StatusCode::BAD_REQUEST,
                    format!("Invalid value for 'dimensions': {value} is not a number of dimensions from 1 to 8192."),
                )
                .with_param("dimensions"))
            }
        },
    };
    let base64 = match json["encoding_format"].as_str() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(ApiError::invalid_request(
                StatusCode::BAD_REQUEST,
                format!("Invalid value for 'encoding_format': '{other}'. Supported values are: 'float' and 'base64'."),
            )
            .with_param("encoding_format"))
        }
    };
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, input)| {
            let vector = embeddings::embed(input, dimensions);
            let embedding = if base64 {
                json!(embeddings::to_base64(&vector))
            } else {
                json!(vector)
            };
            json!({ "object": "embedding", "index": index, "embedding": embedding })
        })
        .collect();
    let tokens = embeddings::tokens(&inputs);
    Ok(json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": { "prompt_tokens": tokens, "total_tokens": tokens }
    }))
}

/// `messages`, whose assistant messages carry `tool_calls` and whose `tool` messages
/// the results; `tools` (and the older `functions`); `response_format`.
pub(super) fn read_chat(json: &Value) -> Option<ChatRequest> {
    Some(
        read_messages(json, read_message)?
            .with_tools(function_tools(json))
            .with_response_format(openai_response_format(&json["response_format"])),
    )
}

fn read_message(message: &Value) -> ChatMessage {
    let role = role(message);
    let content = content_text(&message["content"]);
    let calls = message["tool_calls"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|call| (string_field(call, "id"), &call["function"]))
        // The older `function_call`, one call without an id.
        .chain(message.get("function_call").map(|call| (None, call)))
        .filter_map(|(id, function)| {
            let name = function["name"].as_str()?.to_owned();
            Some(EarlierToolCall::new(
                id,
                name,
                arguments_json(&function["arguments"]),
            ))
        })
        .collect();
    let results = match role {
        "tool" => vec![ToolResult::new(
            string_field(message, "tool_call_id"),
            None,
            content.clone(),
            false,
        )],
        "function" => vec![ToolResult::new(
            None,
            string_field(message, "name"),
            content.clone(),
            false,
        )],
        _ => Vec::new(),
    };
    ChatMessage::new(role, content)
        .with_tool_calls(calls)
        .with_tool_results(results)
        .with_images(count_parts(&message["content"], &["image_url"]))
}

/// Whether the request asked for usage in the stream (`stream_options.include_usage`).
fn includes_usage(request: &ReceivedRequest) -> bool {
    request.body_value()["stream_options"]["include_usage"] == true
}

/// Encodes chunks by splicing the per-event part into a prefix and suffix serialised
/// once per stream: long zero-delay streams spend their time on the socket, not on
/// re-serialising the same envelope for every token.
struct ChunkEncoder {
    /// Everything of a chunk up to the value of `delta`.
    prefix: String,
    /// What every chunk ends with after its choice: `"usage":null` when the request asked
    /// for usage, as the API then sends it on every chunk.
    suffix: &'static str,
    context: ResponseContext,
    include_usage: bool,
    usage: Usage,
    /// An interrupted stream never gets its usage chunk.
    failed: bool,
    /// The message has started but its role chunk is not out yet: its shape depends on
    /// what comes first.
    role_pending: bool,
}

impl ChunkEncoder {
    fn new(context: ResponseContext, include_usage: bool) -> ChunkEncoder {
        // Pushed into one buffer sized up front: `format!` with its three quoted
        // arguments grew it several times, about 1,100 instructions a stream.
        let mut prefix = String::with_capacity(
            160 + context.id.len() + context.model.len() + context.system_fingerprint.len(),
        );
        prefix.push_str("{\"id\":");
        push_json_string(&mut prefix, &context.id);
        prefix.push_str(",\"object\":\"chat.completion.chunk\",\"created\":");
        push_number(&mut prefix, context.created);
        prefix.push_str(",\"model\":");
        push_json_string(&mut prefix, &context.model);
        prefix.push_str(",\"service_tier\":\"default\",\"system_fingerprint\":");
        push_json_string(&mut prefix, &context.system_fingerprint);
        prefix.push_str(",\"choices\":[{\"index\":0,\"delta\":");
        let suffix = if include_usage {
            ",\"usage\":null}"
        } else {
            "}"
        };
        ChunkEncoder {
            prefix,
            suffix,
            context,
            include_usage,
            usage: Usage::default(),
            failed: false,
            role_pending: false,
        }
    }

    /// A chunk whose delta is `delta`, built in one buffer sized up front: `format!`
    /// grew it several times, about 2,000 instructions for each role and finish chunk.
    fn chunk(&self, delta: &str, finish_reason: Option<&str>) -> Frame {
        let mut data =
            String::with_capacity(self.prefix.len() + delta.len() + self.suffix.len() + 64);
        data.push_str(&self.prefix);
        data.push_str(delta);
        data.push_str(",\"logprobs\":null,\"finish_reason\":");
        match finish_reason {
            Some(reason) => push_json_string(&mut data, reason),
            None => data.push_str("null"),
        }
        data.push_str("}]");
        data.push_str(self.suffix);
        Frame::data(data)
    }

    /// A chunk whose delta is `open`, then `text` as a JSON string, then `close`, built in
    /// one buffer: every token of a stream takes this path.
    fn text_chunk(&self, open: &str, text: &str, close: &str) -> Frame {
        const TAIL: &str = ",\"logprobs\":null,\"finish_reason\":null}]";
        let mut data = String::with_capacity(
            self.prefix.len() + open.len() + text.len() + close.len() + TAIL.len() + 16,
        );
        data.push_str(&self.prefix);
        data.push_str(open);
        push_json_string(&mut data, text);
        data.push_str(close);
        data.push_str(TAIL);
        data.push_str(self.suffix);
        Frame::data(data)
    }

    /// The extra chunk `stream_options.include_usage` asks for: no choices, the totals.
    fn usage_chunk(&self) -> Frame {
        let context = &self.context;
        let mut chunk = json!({
            "id": context.id,
            "object": "chat.completion.chunk",
            "created": context.created,
            "model": context.model,
            "service_tier": "default",
            "system_fingerprint": context.system_fingerprint,
            "choices": []
        });
        chunk["usage"] = usage(&context.tokens(self.usage));
        Frame::data(chunk.to_string())
    }
}

/// The role chunk of a message that starts with text: `content` is the empty string.
const TEXT_ROLE: &str = "{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null}";
/// The role chunk of a message that starts with a refusal: no content at all.
const REFUSAL_ROLE: &str = "{\"role\":\"assistant\",\"content\":null,\"refusal\":\"\"}";

impl Encoder for ChunkEncoder {
    fn encode(&mut self, event: MessageEvent<'_>, frames: &mut Vec<Frame>) {
        self.usage.count(&event);
        match event {
            MessageEvent::Error(_) => self.failed = true,
            MessageEvent::Done if self.include_usage && !self.failed => {
                frames.push(self.usage_chunk());
            }
            _ => {}
        }
        // The live API's first chunk carries the role, shaped by what follows: empty
        // content before text, no content before a refusal, and the first tool call
        // itself (wire reference, §2.4).
        let role_pending = std::mem::take(&mut self.role_pending);
        if role_pending {
            match event {
                MessageEvent::Refusal(_) => frames.push(self.chunk(REFUSAL_ROLE, None)),
                MessageEvent::ToolCallStart { .. } => {}
                _ => frames.push(self.chunk(TEXT_ROLE, None)),
            }
        }
        frames.push(match event {
            MessageEvent::Start => {
                self.role_pending = true;
                return;
            }
            MessageEvent::Thinking { text, .. } if self.context.reasoning_content => {
                self.text_chunk("{\"reasoning_content\":", text, "}")
            }
            MessageEvent::Thinking { .. } | MessageEvent::RedactedThinking(_) => return,
            MessageEvent::Token(text) => self.text_chunk("{\"content\":", text, "}"),
            MessageEvent::Refusal(text) => self.text_chunk("{\"refusal\":", text, "}"),
            // The first chunk of a call names it, with empty arguments; later chunks
            // carry only the index and a fragment.
            MessageEvent::ToolCallStart { index, id, name } => {
                let id = self.context.tool_call_id("call_", index, id);
                let mut delta = json!({ "tool_calls": [{
                    "index": index,
                    "id": id,
                    "type": "function",
                    "function": { "name": name, "arguments": "" }
                }] });
                if role_pending {
                    delta["role"] = json!("assistant");
                    delta["content"] = Value::Null;
                    delta["refusal"] = Value::Null;
                }
                self.chunk(&delta.to_string(), None)
            }
            MessageEvent::ToolArguments { index, fragment } => self.text_chunk(
                &format!("{{\"tool_calls\":[{{\"index\":{index},\"function\":{{\"arguments\":"),
                fragment,
                "}}]}",
            ),
            MessageEvent::Finish(reason) => self.chunk("{}", Some(reason.as_openai())),
            MessageEvent::Done => Frame::data("[DONE]"),
            // The real API's mid-stream error: the error object alone, then [DONE].
            MessageEvent::Error(error) => Frame::data(error_body(&error.body).to_string()),
            // A chunk cut off mid-string, as a broken proxy would forward it.
            MessageEvent::Malformed => Frame::data(format!("{}{{\"content\":\"trunc", self.prefix)),
        });
    }
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
    match &json["messages"] {
        Value::Array(_) => Ok(()),
        Value::Null => Err(ApiError::invalid_request(
            StatusCode::BAD_REQUEST,
            "Missing required parameter: 'messages'.",
        )
        .with_param("messages")
        .with_code("missing_required_parameter")),
        other => Err(ApiError::invalid_request(
            StatusCode::BAD_REQUEST,
            format!(
                "Invalid type for 'messages': expected an array, but got {}.",
                json_kind(other)
            ),
        )
        .with_param("messages")
        .with_code("invalid_type")),
    }
}

/// The `chat.completion` object, written straight into its bytes: building it as a
/// `Value` first (a map node and a key string per field, then serialising and freeing
/// them) cost about 46,000 of the 117,000 instructions a non-streaming answer took on
/// the server thread (BENCHMARKS.md, `first_byte`). Keys go in sorted order, as a
/// `Value` writes them, so the bytes are the same; a test checks that for every kind of
/// output.
pub(super) fn complete_response(script: &Script, context: &ResponseContext) -> Vec<u8> {
    let mut text = None;
    let mut refusal = None;
    let mut reasoning: Option<String> = None;
    let mut tool_calls = String::new();
    for part in script.delivered_output() {
        match part {
            OutputPart::Text(all) => text.get_or_insert_with(String::new).push_str(&all),
            OutputPart::Thinking { text: all, .. } => {
                reasoning.get_or_insert_with(String::new).push_str(&all);
            }
            OutputPart::RedactedThinking(_) => {}
            OutputPart::Refusal(all) => refusal.get_or_insert_with(String::new).push_str(&all),
            OutputPart::ToolCall {
                index,
                id,
                name,
                arguments,
            } => {
                tool_calls.push_str(if tool_calls.is_empty() { "[" } else { "," });
                tool_calls.push_str("{\"function\":{\"arguments\":");
                push_json_string(&mut tool_calls, &arguments);
                tool_calls.push_str(",\"name\":");
                push_json_string(&mut tool_calls, name);
                tool_calls.push_str("},\"id\":");
                push_json_string(&mut tool_calls, &context.tool_call_id("call_", index, id));
                tool_calls.push_str(",\"type\":\"function\"}");
            }
        }
    }
    // A reply of only a refusal or tool calls has no content at all, as the API says.
    if text.is_none() && refusal.is_none() && tool_calls.is_empty() {
        text = Some(String::new());
    }
    let optional = |out: &mut String, value: Option<&str>| match value {
        Some(value) => push_json_string(out, value),
        None => out.push_str("null"),
    };
    let mut out = String::with_capacity(1024);
    out.push_str("{\"choices\":[{\"finish_reason\":");
    push_json_string(&mut out, script.finish_reason().as_openai());
    out.push_str(",\"index\":0,\"logprobs\":null,\"message\":{\"annotations\":[],\"content\":");
    optional(&mut out, text.as_deref());
    if let Some(reasoning) = reasoning.filter(|_| context.reasoning_content) {
        out.push_str(",\"reasoning_content\":");
        push_json_string(&mut out, &reasoning);
    }
    out.push_str(",\"refusal\":");
    optional(&mut out, refusal.as_deref());
    out.push_str(",\"role\":\"assistant\"");
    if !tool_calls.is_empty() {
        out.push_str(",\"tool_calls\":");
        out.push_str(&tool_calls);
        out.push(']');
    }
    out.push_str("}}],\"created\":");
    push_number(&mut out, context.created);
    out.push_str(",\"id\":");
    push_json_string(&mut out, &context.id);
    out.push_str(",\"model\":");
    push_json_string(&mut out, &context.model);
    out.push_str(
        ",\"object\":\"chat.completion\",\"service_tier\":\"default\",\"system_fingerprint\":",
    );
    push_json_string(&mut out, &context.system_fingerprint);
    let tokens = context.tokens(Usage::of_script(script));
    let numbers = [
        (",\"usage\":{\"completion_tokens\":", tokens.output),
        (
            ",\"completion_tokens_details\":{\"accepted_prediction_tokens\":0,\"audio_tokens\":0,\"reasoning_tokens\":",
            tokens.reasoning,
        ),
        (",\"rejected_prediction_tokens\":0},\"prompt_tokens\":", tokens.input),
        (",\"prompt_tokens_details\":{\"audio_tokens\":0,\"cached_tokens\":", tokens.cached),
        ("},\"total_tokens\":", tokens.total),
    ];
    for (before, number) in numbers {
        out.push_str(before);
        push_number(&mut out, number);
    }
    out.push_str("}}");
    out.into_bytes()
}

/// `completion_tokens` include the reasoning tokens (wire reference §2.1, §8.3).
fn usage(tokens: &Tokens) -> Value {
    json!({
        "prompt_tokens": tokens.input,
        "completion_tokens": tokens.output,
        "total_tokens": tokens.total,
        "prompt_tokens_details": { "cached_tokens": tokens.cached, "audio_tokens": 0 },
        "completion_tokens_details": {
            "reasoning_tokens": tokens.reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0
        }
    })
}

/// `{"error": {"message", "type", "param", "code"}}`: all four keys, as the API's schema
/// requires.
pub(super) fn error_body(error: &ErrorBody) -> Value {
    json!({
        "error": {
            "message": error.message,
            "type": error.error_type,
            "param": error.param,
            "code": error.code
        }
    })
}

/// The headers the live API sends, with rate-limit values from OpenAI's own guide, so a
/// client that logs or parses them sees familiar values.
pub(super) fn headers(context: &ResponseContext) -> HeaderMap {
    // The fixed ones are built once and cloned: naming, checking and hashing ten headers
    // anew took about 7,000 instructions per answer, the clone and the two inserts 3,000
    // (BENCHMARKS.md, `first_byte`). Its index has room for the ones every answer adds (its ids, content
    // type, CORS), so that none of them rehashes the map.
    static FIXED: std::sync::OnceLock<HeaderMap> = std::sync::OnceLock::new();
    let fixed = FIXED.get_or_init(|| {
        let fixed: [(&str, &str); 10] = [
            ("cache-control", "no-cache, must-revalidate"),
            ("openai-organization", "chatmock"),
            ("openai-processing-ms", "1"),
            ("openai-version", "2020-10-01"),
            ("x-ratelimit-limit-requests", "10000"),
            ("x-ratelimit-limit-tokens", "30000000"),
            ("x-ratelimit-remaining-requests", "9999"),
            ("x-ratelimit-remaining-tokens", "29999990"),
            ("x-ratelimit-reset-requests", "6ms"),
            ("x-ratelimit-reset-tokens", "0s"),
        ];
        let mut headers = HeaderMap::with_capacity(24);
        for (name, value) in fixed {
            headers.insert(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        headers
    });
    let mut headers = fixed.clone();
    if let Ok(value) = HeaderValue::from_str(&context.request_id) {
        headers.insert(HeaderName::from_static("x-request-id"), value);
    }
    if let Ok(value) = HeaderValue::from_str(&context.model) {
        headers.insert(HeaderName::from_static("openai-model"), value);
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::MessageEvent::{Done, Finish, Malformed, Refusal, Start, Token};
    use crate::script::{FinishReason, StreamError};
    use crate::wire::tests::{args, call, call_with_id, encoder, frames, request};
    use crate::wire::WireFormat;

    /// Tokens that need escaping, or look like something they are not.
    const AWKWARD: &[&str] = &[
        "plain",
        "",
        " leading space",
        "quote \" and backslash \\ and \\\"",
        "new\nline, crlf\r\n, lone cr\r",
        "\ttab",
        "\u{0}\u{1}\u{8}\u{b}\u{c}\u{1b}\u{1f}\u{7f}",
        "é 漢字 🎉 \u{2028}\u{2029}",
        "[DONE]",
        "{\"json\":\"inside\"}",
        "</script>",
    ];

    /// The `chat.completion` object as a `Value`, the way the API's reference states it:
    /// the written bytes must be this value's serialisation, byte for byte.
    fn completion_value(script: &Script, context: &ResponseContext) -> Value {
        let (mut text, mut refusal, mut reasoning) = (None::<String>, None::<String>, None);
        let mut tool_calls = Vec::new();
        for part in script.delivered_output() {
            match part {
                OutputPart::Text(all) => text.get_or_insert_with(String::new).push_str(&all),
                OutputPart::Thinking { text: all, .. } => {
                    reasoning.get_or_insert_with(String::new).push_str(&all);
                }
                OutputPart::RedactedThinking(_) => {}
                OutputPart::Refusal(all) => {
                    refusal.get_or_insert_with(String::new).push_str(&all);
                }
                OutputPart::ToolCall {
                    index,
                    id,
                    name,
                    arguments,
                } => tool_calls.push(json!({
                    "id": context.tool_call_id("call_", index, id),
                    "type": "function",
                    "function": { "name": name, "arguments": arguments }
                })),
            }
        }
        if text.is_none() && refusal.is_none() && tool_calls.is_empty() {
            text = Some(String::new());
        }
        let mut message = json!({
            "role": "assistant", "content": text, "refusal": refusal, "annotations": []
        });
        if !tool_calls.is_empty() {
            message["tool_calls"] = Value::Array(tool_calls);
        }
        if let Some(reasoning) = reasoning.filter(|_| context.reasoning_content) {
            message["reasoning_content"] = json!(reasoning);
        }
        json!({
            "id": context.id,
            "object": "chat.completion",
            "created": context.created,
            "model": context.model,
            "choices": [{
                "index": 0,
                "message": message,
                "logprobs": null,
                "finish_reason": script.finish_reason().as_openai()
            }],
            "usage": usage(&context.tokens(Usage::of_script(script))),
            "service_tier": "default",
            "system_fingerprint": context.system_fingerprint
        })
    }

    #[test]
    fn a_complete_response_is_written_as_its_value_serialises() {
        use crate::script::{Reply, ReplyKind, Step, Thinking, ToolCall};
        let mut replies = Vec::new();
        for awkward in AWKWARD {
            // Names, ids and reasons may not be empty.
            let named = format!("n{awkward}");
            replies.push(Reply::text(awkward));
            replies.push(Reply::refusal(&named));
            replies.push(Reply::text("a").finish_reason(&named));
            replies.push(Reply::tool_call(ToolCall::with_raw_arguments(
                &named,
                [*awkward],
            )));
            replies.push(Reply::tool_call(
                ToolCall::function("f", json!({ "k": awkward })).with_id(&named),
            ));
            replies.push(Reply::text("t").thinking(Thinking::new(&named)));
            replies.push(
                Reply::text("t")
                    .thinking(Thinking::new(&named))
                    .reasoning_content(),
            );
        }
        replies.push(Reply::steps([]));
        replies.push(Reply::steps([
            Step::token("a"),
            Step::refusal("b"),
            Step::tool_call(ToolCall::function("f", json!({}))),
            Step::token("c"),
            Step::tool_call(ToolCall::function("g", json!({ "x": [1, 2] }))),
            Step::redacted_thinking("opaque"),
        ]));
        replies.push(Reply::text("cut short").error_after(1, StreamError::new("broke")));
        replies.push(Reply::text("u").usage(crate::script::Usage {
            input_tokens: Some(7),
            output_tokens: Some(1 << 62),
            reasoning_tokens: Some(3),
            cached_input_tokens: Some(2),
            cache_creation_input_tokens: Some(1),
            total_tokens: Some(0),
        }));
        let request = request(
            "/v1/chat/completions",
            None,
            json!({ "model": "m \"quoted\"", "messages": [{ "role": "user", "content": "hi there" }] }),
        );
        let ids = crate::wire::ids::IdGenerator::default();
        for reply in replies {
            let ReplyKind::Stream(script) = &reply.kind else {
                panic!("not a stream");
            };
            let context =
                ResponseContext::for_request(&request, WireFormat::OpenAiChatCompletions, &ids)
                    .for_script(script);
            let written = complete_response(script, &context);
            let expected = serde_json::to_vec(&completion_value(script, &context)).unwrap();
            assert_eq!(
                String::from_utf8(written).unwrap(),
                String::from_utf8(expected).unwrap(),
                "{reply:?}"
            );
        }
    }

    fn stream(include_usage: bool, events: &[MessageEvent<'_>]) -> Vec<Frame> {
        let mut body = json!({
            "model": "gpt-test",
            "messages": [{ "role": "user", "content": "Hello there" }],
            "stream": true
        });
        if include_usage {
            body["stream_options"] = json!({ "include_usage": true });
        }
        let request = request("/v1/chat/completions", None, body);
        frames(
            &mut *encoder(WireFormat::OpenAiChatCompletions, &request),
            events,
        )
    }

    /// Each frame's data parsed as JSON, `[DONE]` as the string `"[DONE]"`; every frame
    /// must be a bare `data:` event.
    fn chunks(frames: &[Frame]) -> Vec<Value> {
        frames
            .iter()
            .map(|frame| match frame {
                Frame::Event(event) if event.name.is_none() && event.data == "[DONE]" => {
                    Value::from("[DONE]")
                }
                Frame::Event(event) if event.name.is_none() => serde_json::from_str(&event.data)
                    .unwrap_or_else(|error| panic!("{error}: {}", event.data)),
                other => panic!("not a bare data event: {other:?}"),
            })
            .collect()
    }

    /// A chunk in a word or two, for tables that read like the stream.
    fn describe(chunk: &Value) -> String {
        if chunk == "[DONE]" {
            return "[DONE]".to_owned();
        }
        if let Some(error) = chunk.get("error") {
            return format!("error {}", error["message"].as_str().unwrap_or_default());
        }
        if chunk["choices"] == json!([]) {
            return format!("usage {}", chunk["usage"]["completion_tokens"]);
        }
        let choice = &chunk["choices"][0];
        let delta = &choice["delta"];
        let text = |key: &str| delta[key].as_str().map(str::to_owned);
        if let Some(reason) = choice["finish_reason"].as_str() {
            format!("finish {reason}")
        } else if delta.get("role").is_some() && delta.get("tool_calls").is_some() {
            "role+call".to_owned()
        } else if delta.get("role").is_some() {
            "role".to_owned()
        } else if let Some(calls) = delta.get("tool_calls") {
            match calls[0]["function"].get("name") {
                Some(name) => format!("call {}", name.as_str().unwrap_or_default()),
                None => format!(
                    "args {}",
                    calls[0]["function"]["arguments"]
                        .as_str()
                        .unwrap_or_default()
                ),
            }
        } else if let Some(content) = text("content") {
            format!("content {content}")
        } else if let Some(refusal) = text("refusal") {
            format!("refusal {refusal}")
        } else {
            format!("? {chunk}")
        }
    }

    #[test]
    fn spliced_chunks_hold_exactly_the_delta_serde_json_would_write() {
        for text in AWKWARD {
            let events = [
                Start,
                Token(text),
                Refusal(text),
                call(3, "f"),
                args(3, text),
            ];
            let frames = stream(false, &events);
            for frame in &frames {
                // One data line per chunk: no raw line break may reach the SSE layout.
                let Frame::Event(event) = frame else {
                    panic!("{frame:?}")
                };
                assert!(
                    !event.data.contains(['\n', '\r']),
                    "{text:?}: {}",
                    event.data
                );
            }
            let deltas: Vec<Value> = chunks(&frames)
                .iter()
                .map(|chunk| chunk["choices"][0]["delta"].clone())
                .collect();
            assert_eq!(deltas[1], json!({ "content": text }), "{text:?}");
            assert_eq!(deltas[2], json!({ "refusal": text }), "{text:?}");
            assert_eq!(
                deltas[4],
                json!({ "tool_calls": [{ "index": 3, "function": { "arguments": text } }] }),
                "{text:?}"
            );
        }
    }

    #[test]
    fn every_chunk_shares_the_envelope_and_only_usage_requests_carry_usage_null() {
        let events = [
            Start,
            Token("a"),
            Refusal("b"),
            call(0, "f"),
            args(0, "{}"),
            Finish(FinishReason::Stop),
        ];
        for include_usage in [false, true] {
            let chunks = chunks(&stream(include_usage, &events));
            let first = &chunks[0];
            assert!(first["id"]
                .as_str()
                .is_some_and(|id| id.starts_with("chatcmpl-")));
            assert_eq!(first["model"], "gpt-test");
            for chunk in &chunks {
                for key in ["id", "created", "model", "system_fingerprint"] {
                    assert_eq!(chunk[key], first[key], "{key} in {chunk}");
                }
                assert_eq!(chunk["object"], "chat.completion.chunk");
                assert_eq!(chunk["choices"][0]["index"], 0);
                assert_eq!(chunk["choices"][0]["logprobs"], Value::Null);
                // The API sends "usage": null on every chunk once usage is asked for.
                assert_eq!(
                    chunk.get("usage"),
                    include_usage.then_some(&Value::Null),
                    "{chunk}"
                );
            }
        }
    }

    #[test]
    fn the_role_chunk_is_shaped_by_what_follows_it() {
        let cases: Vec<(&str, Vec<MessageEvent<'_>>, Value)> = vec![
            (
                "text: empty content",
                vec![Start, Token("Hi")],
                json!({ "role": "assistant", "content": "", "refusal": null }),
            ),
            (
                "an empty reply: as for text",
                vec![Start, Finish(FinishReason::Stop)],
                json!({ "role": "assistant", "content": "", "refusal": null }),
            ),
            (
                "a refusal: no content, empty refusal",
                vec![Start, Refusal("No")],
                json!({ "role": "assistant", "content": null, "refusal": "" }),
            ),
            (
                "a tool call: merged into the call's first chunk",
                vec![Start, call_with_id(0, "call_abc", "get_weather")],
                json!({
                    "role": "assistant", "content": null, "refusal": null,
                    "tool_calls": [{
                        "index": 0, "id": "call_abc", "type": "function",
                        "function": { "name": "get_weather", "arguments": "" }
                    }]
                }),
            ),
        ];
        for (case, events, role_delta) in cases {
            let chunks = chunks(&stream(false, &events));
            assert_eq!(chunks[0]["choices"][0]["delta"], role_delta, "{case}");
            assert_eq!(
                chunks[0]["choices"][0]["finish_reason"],
                Value::Null,
                "{case}"
            );
            // The role goes out once, in the first chunk only.
            let roles = chunks
                .iter()
                .filter(|chunk| chunk["choices"][0]["delta"].get("role").is_some());
            assert_eq!(roles.count(), 1, "{case}");
        }
    }

    #[test]
    fn the_stream_reads_as_role_content_finish_then_done() {
        let cases: Vec<(&str, Vec<MessageEvent<'_>>, &[&str])> = vec![
            (
                "text",
                vec![
                    Start,
                    Token("a"),
                    Token("b"),
                    Finish(FinishReason::Stop),
                    Done,
                ],
                &["role", "content a", "content b", "finish stop", "[DONE]"],
            ),
            (
                "a refusal after text keeps the one role chunk",
                vec![
                    Start,
                    Token("a"),
                    Refusal("no"),
                    Finish(FinishReason::ContentFilter),
                    Done,
                ],
                &[
                    "role",
                    "content a",
                    "refusal no",
                    "finish content_filter",
                    "[DONE]",
                ],
            ),
            (
                "two tool calls: only the first carries the role",
                vec![
                    Start,
                    call(0, "f"),
                    args(0, "{}"),
                    call(1, "g"),
                    args(1, "{}"),
                    Finish(FinishReason::ToolCalls),
                    Done,
                ],
                &[
                    "role+call",
                    "args {}",
                    "call g",
                    "args {}",
                    "finish tool_calls",
                    "[DONE]",
                ],
            ),
            (
                "a reason the API does not know is sent as given",
                vec![Start, Finish(FinishReason::Other("my_reason")), Done],
                &["role", "finish my_reason", "[DONE]"],
            ),
            (
                "without_done: no marker",
                vec![Start, Token("a"), Finish(FinishReason::Length)],
                &["role", "content a", "finish length"],
            ),
        ];
        for (case, events, expected) in cases {
            let described: Vec<String> = chunks(&stream(false, &events))
                .iter()
                .map(describe)
                .collect();
            assert_eq!(described, expected, "{case}");
        }
    }

    #[test]
    fn the_finish_chunk_has_an_empty_delta() {
        let chunks = chunks(&stream(false, &[Finish(FinishReason::Length)]));
        assert_eq!(chunks[0]["choices"][0]["delta"], json!({}));
        assert_eq!(chunks[0]["choices"][0]["finish_reason"], "length");
    }

    #[test]
    fn usage_comes_before_done_only_when_asked_for_and_never_after_an_error() {
        let error = StreamError::new("broke");
        let normal = [
            Start,
            Token("a"),
            call(0, "f"),
            args(0, "{}"),
            Finish(FinishReason::ToolCalls),
            Done,
        ];
        let failed = [Start, Token("a"), MessageEvent::Error(&error), Done];
        // error_after(0): the error comes before the message starts.
        let failed_at_once = [MessageEvent::Error(&error), Done];
        let cases: Vec<(&str, bool, &[MessageEvent<'_>], &[&str])> = vec![
            (
                "asked for",
                true,
                &normal,
                &[
                    "role",
                    "content a",
                    "call f",
                    "args {}",
                    "finish tool_calls",
                    "usage 3",
                    "[DONE]",
                ][..],
            ),
            (
                "not asked for",
                false,
                &normal,
                &[
                    "role",
                    "content a",
                    "call f",
                    "args {}",
                    "finish tool_calls",
                    "[DONE]",
                ][..],
            ),
            (
                "asked for, but the stream failed",
                true,
                &failed,
                &["role", "content a", "error broke", "[DONE]"],
            ),
            (
                "failed before anything",
                true,
                &failed_at_once,
                &["error broke", "[DONE]"],
            ),
        ];
        for (case, include_usage, events, expected) in cases {
            let described: Vec<String> = chunks(&stream(include_usage, events))
                .iter()
                .map(describe)
                .collect();
            assert_eq!(described, expected, "{case}");
        }
    }

    #[test]
    fn the_usage_chunk_counts_every_content_event() {
        let events = [
            Start,
            Token("a"),
            Refusal("b"),
            call(0, "f"),
            args(0, "{"),
            args(0, "}"),
            Finish(FinishReason::Stop),
            Done,
        ];
        let chunks = chunks(&stream(true, &events));
        let usage = &chunks[chunks.len() - 2]["usage"];
        // "Hello there" is two prompt tokens; five content events, five completion tokens.
        assert_eq!(usage["prompt_tokens"], 2);
        assert_eq!(usage["completion_tokens"], 5);
        assert_eq!(usage["total_tokens"], 7);
    }

    #[test]
    fn a_mid_stream_error_is_the_error_object_alone() {
        let error = StreamError::new("Rate limited.")
            .with_type("requests")
            .with_code("rate_limit_exceeded");
        let chunks = chunks(&stream(false, &[MessageEvent::Error(&error)]));
        assert_eq!(
            chunks,
            [json!({ "error": {
                "message": "Rate limited.", "type": "requests", "param": null,
                "code": "rate_limit_exceeded"
            } })]
        );
    }

    #[test]
    fn a_malformed_chunk_starts_like_a_chunk_and_is_not_json() {
        let frames = stream(false, &[Malformed, Token("a")]);
        let [Frame::Event(malformed), Frame::Event(good)] = &frames[..] else {
            panic!("{frames:?}")
        };
        assert!(
            serde_json::from_str::<Value>(&malformed.data).is_err(),
            "{}",
            malformed.data
        );
        let envelope = &good.data[..good.data.find("\"delta\":").unwrap()];
        assert!(malformed.data.starts_with(envelope), "{}", malformed.data);
    }
}
