//! Google Gemini (`POST /v1beta/models/{model}:streamGenerateContent` and
//! `:generateContent`).
//!
//! With `?alt=sse` each chunk is `data: <GenerateContentResponse>` and a blank line, with
//! no `event:` lines and no end marker; without it the stream is one JSON array written
//! piece by piece. The last chunk carries `finishReason` and the full `usageMetadata`.
//! Function calls go out whole, as a `functionCall` part, once their last argument
//! fragment is due; refusals are text that ends with `SAFETY`. Thinking goes out as
//! parts marked `"thought": true`, and the part after a thought carries the block's
//! `thoughtSignature`, as gemini-2.5 sends it on the function call or text that follows;
//! usage counts the thinking in `thoughtsTokenCount`, apart from
//! `candidatesTokenCount`, and `totalTokenCount` is their sum with the prompt (wire
//! reference §8.4; ai.google.dev/gemini-api/docs/thinking, "thought summaries" and
//! "thought signatures"). Gemini has no redacted thinking: it is left out.
//! Errors are `{"error":{"code","message","status"}}` (wire reference, §5).

use std::borrow::Cow;

use axum::http::{HeaderValue, StatusCode};
use serde_json::{json, Value};

use super::embeddings;
use super::frame::Frame;
use super::ids::IdGenerator;
use super::json::{
    arguments_json, arguments_value, content_text, declared_tool, json_object, stream_flag,
    string_field,
};
use super::reasoning::signature;
use super::tool_calls::PendingCalls;
use super::{
    query_value, requested_model, ApiError, Encoder, Format, ResponseContext, Tokens, Usage,
    EVENT_STREAM,
};
use crate::request::{
    ChatMessage, ChatRequest, DeclaredTool, EarlierToolCall, ReceivedRequest, ResponseFormat,
    ToolResult,
};
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

    /// `systemInstruction` and `contents`, whose parts carry the text, the calls
    /// (`functionCall`) and their results (`functionResponse`), and whose `model` role is
    /// the assistant; the model comes from the path. `tools[].functionDeclarations` are
    /// the declared tools, `generationConfig.responseMimeType` and `responseSchema` (or
    /// `responseJsonSchema`) the response format.
    fn read_chat(&self, json: &Value, path: &str) -> Option<ChatRequest> {
        if json.get("messages").is_some() || json.get("input").is_some() {
            return None;
        }
        let contents = json.get("contents")?.as_array()?;
        let system = json
            .get("systemInstruction")
            .or_else(|| json.get("system_instruction"))
            .map(|instruction| ChatMessage::new("system", content_text(&instruction["parts"])));
        let model = json["model"]
            .as_str()
            .or_else(|| model_and_method(path).map(|(model, _)| model))
            .unwrap_or_default();
        let messages = system
            .into_iter()
            .chain(contents.iter().map(read_content))
            .collect();
        Some(
            ChatRequest::new(model.to_owned(), messages, stream_flag(json))
                .with_tools(declared_tools(json))
                .with_response_format(response_format(&json["generationConfig"])),
        )
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

    fn complete_response(&self, script: &Script, context: &ResponseContext) -> Vec<u8> {
        super::json::value_bytes(&complete_response(script, context))
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

    fn serves_models(&self, path: &str) -> bool {
        path == "/v1beta/models" || requested_model(path, "/v1beta/models").is_some()
    }

    fn default_models(&self) -> &'static [&'static str] {
        &["gemini-2.5-flash", "gemini-2.5-pro", "text-embedding-004"]
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

    fn service_paths(&self) -> &'static [&'static str] {
        &[
            "POST /v1beta/models/{model}:embedContent",
            "GET /v1beta/models",
        ]
    }

    fn serves_embeddings(&self, path: &str) -> bool {
        model_and_method(path)
            .is_some_and(|(_, method)| matches!(method, "embedContent" | "batchEmbedContents"))
    }

    fn embeddings(
        &self,
        request: &ReceivedRequest,
        _: &ResponseContext,
    ) -> Result<Value, ApiError> {
        embeddings(request)
    }
}

/// `GET /v1beta/models?pageSize=&pageToken=`: `{"models":[Model],"nextPageToken"?}`,
/// and `GET /v1beta/models/{model}`: one `Model`, or a 404 (wire reference §8.4;
/// ai.google.dev/api/models).
fn models(path: &str, request: &ReceivedRequest, models: &[String]) -> Result<Value, ApiError> {
    let model = |id: &str| {
        let embeds = id.contains("embed");
        json!({
            "name": format!("models/{id}"),
            "version": "001",
            "displayName": id,
            "description": "A model served by chatmock.",
            "inputTokenLimit": if embeds { 2048 } else { 1_048_576 },
            "outputTokenLimit": if embeds { 1 } else { 65_536 },
            "supportedGenerationMethods": if embeds {
                json!(["embedContent"])
            } else {
                json!(["generateContent", "countTokens"])
            }
        })
    };
    if let Some(id) = requested_model(path, "/v1beta/models") {
        return match models.iter().any(|listed| listed == id) {
            true => Ok(model(id)),
            false => Err(ApiError::invalid_request(
                StatusCode::NOT_FOUND,
                format!("models/{id} is not found for API version v1beta."),
            )),
        };
    }
    let size = query_value(request, "pageSize")
        .and_then(|size| size.parse::<usize>().ok())
        .filter(|size| *size > 0)
        .unwrap_or(50);
    let start = query_value(request, "pageToken")
        .and_then(|token| token.parse::<usize>().ok())
        .unwrap_or(0)
        .min(models.len());
    let end = (start + size).min(models.len());
    let mut list = json!({
        "models": models[start..end].iter().map(|id| model(id)).collect::<Vec<Value>>()
    });
    if end < models.len() {
        list["nextPageToken"] = json!(end.to_string());
    }
    Ok(list)
}

/// `:embedContent` (`{"content": {"parts": [...]}}` to `{"embedding": {"values": [...]}}`)
/// and `:batchEmbedContents` (`{"requests": [...]}` to `{"embeddings": [...]}`), with
/// `outputDimensionality` (wire reference §8.4; ai.google.dev/api/embeddings).
fn embeddings(request: &ReceivedRequest) -> Result<Value, ApiError> {
    let json = json_object(request)?;
    let (model, method) = model_and_method(request.path()).unwrap_or_default();
    let embedding = |single: &Value, what: &str| -> Result<Value, ApiError> {
        if !single["content"].is_object() {
            return Err(ApiError::invalid_request(
                StatusCode::BAD_REQUEST,
                format!("* {what}.content: content is not specified"),
            ));
        }
        let dimensions = single["outputDimensionality"].as_u64().map_or_else(
            || {
                if model.starts_with("gemini-embedding") {
                    3072
                } else {
                    768
                }
            },
            |dimensions| dimensions as usize,
        );
        let text = content_text(&single["content"]["parts"]);
        Ok(json!({ "values": embeddings::embed(&text, dimensions) }))
    };
    if method == "embedContent" {
        return Ok(json!({ "embedding": embedding(json, "EmbedContentRequest")? }));
    }
    let Some(requests) = json["requests"].as_array() else {
        return Err(ApiError::invalid_request(
            StatusCode::BAD_REQUEST,
            "* BatchEmbedContentsRequest.requests: requests is not specified",
        ));
    };
    let embeddings = requests
        .iter()
        .map(|single| embedding(single, "BatchEmbedContentsRequest.requests[]"))
        .collect::<Result<Vec<Value>, ApiError>>()?;
    Ok(json!({ "embeddings": embeddings }))
}

/// One of `contents`: its text, calls, results and images.
fn read_content(content: &Value) -> ChatMessage {
    let role = match content["role"].as_str() {
        Some("model") => "assistant",
        Some(role) => role,
        None => "user",
    };
    let parts = content["parts"].as_array().into_iter().flatten();
    let calls = parts
        .clone()
        .filter_map(|part| {
            let call = part.get("functionCall")?;
            Some(EarlierToolCall::new(
                string_field(call, "id"),
                call["name"].as_str()?.to_owned(),
                arguments_json(&call["args"]),
            ))
        })
        .collect();
    let results = parts
        .clone()
        .filter_map(|part| {
            let result = part.get("functionResponse")?;
            let (content, is_error) = response_text(&result["response"]);
            Some(ToolResult::new(
                string_field(result, "id"),
                string_field(result, "name"),
                content,
                is_error,
            ))
        })
        .collect();
    let images = parts
        .filter(|part| {
            ["inlineData", "fileData"].iter().any(|key| {
                part[key]["mimeType"]
                    .as_str()
                    .is_some_and(|mime| mime.starts_with("image/"))
            })
        })
        .count();
    ChatMessage::new(role, content_text(&content["parts"]))
        .with_tool_calls(calls)
        .with_tool_results(results)
        .with_images(images)
}

/// A `functionResponse.response` as text: the string of its `output`, `result` or
/// `error` key (the keys Google's guides use), else compact JSON; and whether it is an
/// error.
fn response_text(response: &Value) -> (String, bool) {
    for (key, is_error) in [("output", false), ("result", false), ("error", true)] {
        if let Some(text) = response[key].as_str() {
            return (text.to_owned(), is_error);
        }
    }
    match response {
        Value::String(text) => (text.clone(), false),
        other => (other.to_string(), other.get("error").is_some()),
    }
}

fn declared_tools(json: &Value) -> Vec<DeclaredTool> {
    json["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|tool| {
            tool["functionDeclarations"]
                .as_array()
                .into_iter()
                .flatten()
        })
        .filter_map(|function| {
            let schema_key = if function.get("parametersJsonSchema").is_some() {
                "parametersJsonSchema"
            } else {
                "parameters"
            };
            declared_tool(function, schema_key)
        })
        .collect()
}

fn response_format(config: &Value) -> ResponseFormat {
    if config["responseMimeType"].as_str() != Some("application/json") {
        return ResponseFormat::Text;
    }
    match config
        .get("responseJsonSchema")
        .or_else(|| config.get("responseSchema"))
    {
        Some(schema) => ResponseFormat::JsonSchema {
            name: None,
            schema: schema.clone(),
        },
        None => ResponseFormat::JsonObject,
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
    /// The thought block whose signature the next part that is no thought carries: its
    /// text so far and its scripted signature.
    thought: Option<(String, Option<String>)>,
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
            thought: None,
        }
    }

    /// Adds the signature of the thought before `part`, if one is pending.
    fn signed(&mut self, mut part: Value) -> Value {
        if let Some((text, scripted)) = self.thought.take() {
            part["thoughtSignature"] = json!(signature(&text, scripted.as_deref()));
        }
        part
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

    fn close_array(&self, frames: &mut Vec<Frame>) {
        if !self.sse {
            frames.push(Frame::Verbatim(b"]".to_vec()));
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
            "usageMetadata": usage(&self.context.tokens(self.usage)),
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
                .map(|(name, args)| {
                    self.signed(json!({ "functionCall": { "name": name, "args": args } }))
                })
                .collect();
            let chunk = self.chunk(Value::Array(parts), None);
            frames.push(self.frame(chunk));
        }
        match event {
            MessageEvent::Token(text) | MessageEvent::Refusal(text) => {
                self.refused |= matches!(event, MessageEvent::Refusal(_));
                let part = self.signed(json!({ "text": text }));
                let chunk = self.chunk(json!([part]), None);
                frames.push(self.frame(chunk));
            }
            MessageEvent::Thinking {
                text,
                signature,
                starts,
            } => {
                let thought = match self.thought.take() {
                    Some(thought) if !starts => thought,
                    _ => (String::new(), signature.map(str::to_owned)),
                };
                let (mut all, scripted) = thought;
                all.push_str(text);
                self.thought = Some((all, scripted));
                let chunk = self.chunk(json!([{ "text": text, "thought": true }]), None);
                frames.push(self.frame(chunk));
            }
            // The last chunk, or the error, closes the array: the array is the body, not
            // an end marker a script may leave out (`without_done`).
            MessageEvent::Finish(reason) => {
                let reason = finish_reason(reason, self.refused);
                let part = self.signed(json!({ "text": "" }));
                let chunk = self.chunk(json!([part]), Some(&reason));
                frames.push(self.frame(chunk));
                self.close_array(frames);
            }
            MessageEvent::Error(error) => {
                let body = error_body(error.status, &error.body).to_string();
                frames.push(self.frame(body));
                self.close_array(frames);
            }
            MessageEvent::Malformed => {
                let chunk =
                    "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"trunc".to_owned();
                frames.push(self.frame(chunk));
            }
            MessageEvent::Start
            | MessageEvent::Done
            | MessageEvent::RedactedThinking(_)
            | MessageEvent::ToolCallStart { .. }
            | MessageEvent::ToolArguments { .. } => {}
        }
    }

    fn keep_alive(&self) -> Option<Frame> {
        // A comment is valid only between SSE events, never inside a JSON array.
        self.sse.then(|| Frame::Comment("keep-alive".to_owned()))
    }
}

/// `candidatesTokenCount` leaves the thoughts out; `thoughtsTokenCount` and
/// `cachedContentTokenCount` are sent only when there are some, as the API does.
fn usage(tokens: &Tokens) -> Value {
    let mut usage = json!({
        "promptTokenCount": tokens.input,
        "candidatesTokenCount": tokens.answer(),
        "totalTokenCount": tokens.total
    });
    if tokens.cached > 0 {
        usage["cachedContentTokenCount"] = json!(tokens.cached);
    }
    if tokens.reasoning > 0 {
        usage["thoughtsTokenCount"] = json!(tokens.reasoning);
    }
    usage
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
    let mut thought: Option<String> = None;
    let mut parts: Vec<Value> = Vec::new();
    for part in script.delivered_output() {
        let mut part = match part {
            OutputPart::Text(text) => json!({ "text": text }),
            OutputPart::Refusal(text) => {
                refused = true;
                json!({ "text": text })
            }
            OutputPart::Thinking {
                text,
                signature: scripted,
            } => {
                thought = Some(signature(&text, scripted));
                parts.push(json!({ "text": text, "thought": true }));
                continue;
            }
            OutputPart::RedactedThinking(_) => continue,
            OutputPart::ToolCall {
                name, arguments, ..
            } => json!({
                "functionCall": { "name": name, "args": arguments_value(&arguments) }
            }),
        };
        if let Some(signature) = thought.take() {
            part["thoughtSignature"] = json!(signature);
        }
        parts.push(part);
    }
    if parts.is_empty() || thought.is_some() {
        let mut part = json!({ "text": "" });
        if let Some(signature) = thought {
            part["thoughtSignature"] = json!(signature);
        }
        parts.push(part);
    }
    json!({
        "candidates": [{
            "content": { "parts": parts, "role": "model" },
            "finishReason": finish_reason(script.finish_reason(), refused),
            "index": 0
        }],
        "usageMetadata": usage(&context.tokens(Usage::of_script(script))),
        "modelVersion": context.model,
        "responseId": context.id
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::MessageEvent::{Done, Finish, Refusal, Start, Token};
    use crate::script::StreamError;
    use crate::wire::tests::{args, call, encoder, frames, frames_per_event, request};
    use crate::wire::WireFormat;

    const STREAM: &str = "/v1beta/models/gemini-test:streamGenerateContent";

    fn gemini_encoder(path: &str, query: Option<&str>) -> Box<dyn Encoder> {
        let body =
            json!({ "contents": [{ "role": "user", "parts": [{ "text": "Hello there" }] }] });
        encoder(WireFormat::Gemini, &request(path, query, body))
    }

    /// The bytes of verbatim frames, joined; any other frame is a failure.
    fn joined(frames: &[Frame]) -> String {
        frames
            .iter()
            .map(|frame| match frame {
                Frame::Verbatim(bytes) => std::str::from_utf8(bytes).unwrap(),
                other => panic!("not verbatim: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn without_sse_a_complete_stream_is_one_json_array() {
        let error = StreamError::new("broke").with_status(503);
        let cases: Vec<(&str, Vec<MessageEvent<'_>>, usize)> = vec![
            (
                "text with awkward characters, then a call",
                vec![
                    Start,
                    Token("quote \" back \\ \n\r\t\u{1} é 🎉"),
                    Refusal("]"),
                    call(0, "f"),
                    args(0, "{\"a\":1}"),
                    Finish(FinishReason::ToolCalls),
                    Done,
                ],
                4,
            ),
            (
                "an empty reply",
                vec![Start, Finish(FinishReason::Stop), Done],
                1,
            ),
            (
                "an error mid-stream",
                vec![Start, Token("a"), MessageEvent::Error(&error), Done],
                2,
            ),
            (
                "an error before anything",
                vec![MessageEvent::Error(&error), Done],
                1,
            ),
        ];
        for (case, events, elements) in cases {
            let frames = frames(&mut *gemini_encoder(STREAM, None), &events);
            let text = joined(&frames);
            let array: Value = serde_json::from_str(&text)
                .unwrap_or_else(|error| panic!("{case}: {error}: {text}"));
            assert_eq!(
                array.as_array().map(Vec::len),
                Some(elements),
                "{case}: {text}"
            );
            // The separators go before each element, so the array is valid wherever the
            // stream ends, once a closing bracket follows.
            for end in 1..frames.len() {
                let prefix = format!("{}]", joined(&frames[..end]));
                assert!(
                    serde_json::from_str::<Value>(&prefix).is_ok(),
                    "{case}: {prefix}"
                );
            }
        }
    }

    #[test]
    fn the_last_chunk_carries_the_finish_reason_and_the_usage() {
        let events = [
            Start,
            Token("a"),
            Token("b"),
            Finish(FinishReason::Stop),
            Done,
        ];
        let array: Value = serde_json::from_str(&joined(&frames(
            &mut *gemini_encoder(STREAM, None),
            &events,
        )))
        .unwrap();
        let chunks = array.as_array().unwrap();
        assert_eq!(chunks.len(), 3);
        for (chunk, text) in chunks.iter().zip(["a", "b"]) {
            assert_eq!(
                chunk["candidates"][0]["content"],
                json!({ "parts": [{ "text": text }], "role": "model" })
            );
            assert_eq!(chunk["candidates"][0].get("finishReason"), None);
        }
        let last = &chunks[2];
        assert_eq!(last["candidates"][0]["finishReason"], "STOP");
        assert_eq!(
            last["usageMetadata"],
            json!({ "promptTokenCount": 2, "candidatesTokenCount": 2, "totalTokenCount": 4 })
        );
        assert_eq!(last["modelVersion"], "gemini-test");
        assert!(chunks
            .iter()
            .all(|chunk| chunk["responseId"] == last["responseId"]));
    }

    #[test]
    fn with_sse_each_chunk_is_a_bare_data_event_and_nothing_ends_the_stream() {
        // `alt=sse` on Gemini's own path, or any path that is not Gemini's.
        let cases: &[(&str, Option<&str>)] = &[
            (STREAM, Some("alt=sse")),
            (STREAM, Some("key=k&alt=sse")),
            ("/gateway/gemini", None),
        ];
        let events = [Start, Token("a"), Finish(FinishReason::Stop), Done];
        for (path, query) in cases {
            let frames = frames(&mut *gemini_encoder(path, *query), &events);
            assert_eq!(frames.len(), 2, "{path}?{query:?}");
            for frame in &frames {
                let Frame::Event(event) = frame else {
                    panic!("{frame:?}")
                };
                assert_eq!(event.name, None);
                assert!(
                    serde_json::from_str::<Value>(&event.data).is_ok(),
                    "{}",
                    event.data
                );
            }
        }
        // Without it the stream is an array, whose pieces a comment would break.
        for query in [None, Some("alt=json"), Some("alt=ssex")] {
            let encoder = gemini_encoder(STREAM, query);
            assert_eq!(encoder.keep_alive(), None, "{query:?}");
            let mut frames = Vec::new();
            let mut encoder = encoder;
            encoder.encode(Token("a"), &mut frames);
            assert!(matches!(frames[..], [Frame::Verbatim(_)]), "{query:?}");
        }
    }

    #[test]
    fn a_tool_call_goes_out_whole_once_its_last_fragment_is_in() {
        let events = [
            Start,
            call(0, "get_weather"),
            args(0, "{\"city\":"),
            args(0, "\"Paris\"}"),
            call(1, "broken"),
            args(1, "{\"a\":"),
            Token("after"),
        ];
        let per_event = frames_per_event(&mut *gemini_encoder(STREAM, Some("alt=sse")), &events);
        let counts: Vec<usize> = per_event.iter().map(Vec::len).collect();
        // Nothing while the calls stream; both calls, then the text, at the next event.
        assert_eq!(counts, [0, 0, 0, 0, 0, 0, 2]);
        let Frame::Event(calls) = &per_event[6][0] else {
            panic!()
        };
        let calls: Value = serde_json::from_str(&calls.data).unwrap();
        assert_eq!(
            calls["candidates"][0]["content"]["parts"],
            json!([
                { "functionCall": { "name": "get_weather", "args": { "city": "Paris" } } },
                // Arguments a script made invalid travel as a string.
                { "functionCall": { "name": "broken", "args": "{\"a\":" } }
            ])
        );
    }

    #[test]
    fn a_tool_call_an_error_breaks_off_is_never_sent() {
        let error = StreamError::new("broke");
        let events = [
            Start,
            call(0, "f"),
            args(0, "{\"a\""),
            MessageEvent::Error(&error),
            Done,
        ];
        let text = joined(&frames(&mut *gemini_encoder(STREAM, None), &events));
        let array: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            array,
            json!([{ "error": { "code": 500, "message": "broke", "status": "INTERNAL" } }])
        );
    }

    #[test]
    fn finish_reasons_map_to_gemini_reasons() {
        let cases: &[(MessageEvent<'_>, FinishReason<'_>, &str)] = &[
            (Token("a"), FinishReason::Stop, "STOP"),
            (Refusal("no"), FinishReason::Stop, "SAFETY"),
            (Token("a"), FinishReason::ContentFilter, "SAFETY"),
            (Token("a"), FinishReason::Length, "MAX_TOKENS"),
            (Token("a"), FinishReason::ToolCalls, "STOP"),
            (Token("a"), FinishReason::Other("recitation"), "RECITATION"),
        ];
        for (content, reason, expected) in cases {
            let frames = frames(
                &mut *gemini_encoder(STREAM, Some("alt=sse")),
                &[*content, Finish(*reason)],
            );
            let Some(Frame::Event(last)) = frames.last() else {
                panic!("{frames:?}")
            };
            let last: Value = serde_json::from_str(&last.data).unwrap();
            assert_eq!(
                last["candidates"][0]["finishReason"], *expected,
                "{content:?} {reason:?}"
            );
        }
    }

    #[test]
    fn paths_name_a_model_and_a_method() {
        let cases: &[(&str, Option<(&str, &str)>)] = &[
            (
                "/v1beta/models/gemini-2.0-flash:streamGenerateContent",
                Some(("gemini-2.0-flash", "streamGenerateContent")),
            ),
            (
                "/v1/models/gemini-pro:generateContent",
                Some(("gemini-pro", "generateContent")),
            ),
            ("/v1alpha/models/m:countTokens", Some(("m", "countTokens"))),
            // The method follows the last colon.
            (
                "/v1beta/models/a:b:generateContent",
                Some(("a:b", "generateContent")),
            ),
            ("/v1beta/models/m:", Some(("m", ""))),
            ("/v2/models/m:generateContent", None),
            ("/v1beta1/models/m:generateContent", None),
            ("/V1beta/models/m:generateContent", None),
            ("v1beta/models/m:generateContent", None),
            ("/v1beta/models/:generateContent", None),
            ("/v1beta/models/a/b:generateContent", None),
            ("/v1beta/tunedModels/m:generateContent", None),
            ("/v1beta/models/m", None),
            ("/v1beta", None),
            ("", None),
        ];
        for (path, expected) in cases {
            assert_eq!(model_and_method(path), *expected, "{path}");
        }
    }

    #[test]
    fn gemini_serves_only_its_two_generate_methods() {
        let cases: &[(&str, bool)] = &[
            ("/v1beta/models/m:streamGenerateContent", true),
            ("/v1beta/models/m:generateContent", true),
            ("/v1/models/m:generateContent", true),
            ("/v1alpha/models/m:streamGenerateContent", true),
            ("/v1beta/models/m:countTokens", false),
            ("/v1beta/models/m:embedContent", false),
            ("/v1beta/models/m:GenerateContent", false),
            ("/v3/models/m:generateContent", false),
            ("/v1beta/models/a/b:generateContent", false),
            ("/v1/chat/completions", false),
        ];
        for (path, serves) in cases {
            assert_eq!(Gemini.serves(path), *serves, "{path}");
        }
    }
}
