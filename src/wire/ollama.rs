//! Ollama (`POST /api/chat`): newline-delimited JSON, not SSE.
//!
//! Each line is `{"model","created_at","message":{"role":"assistant","content"},"done":
//! false}`; the last has `"done": true`, the `done_reason` and the timing counters, all
//! durations in nanoseconds. Ollama streams unless the request says `"stream": false`.
//! Tool calls go out whole, as `message.tool_calls`, once their last fragment is due.
//! Thinking goes in `message.thinking`, on lines of its own with empty `content`, and is
//! left out when there is none (wire reference §8.5; docs.ollama.com/capabilities/
//! thinking); Ollama has no redacted thinking or signatures.
//! Errors are `{"error":"..."}`, mid-stream as one more line (wire reference, §5).

use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::StatusCode;
use serde_json::{json, Value};

use axum::http::HeaderValue;

use super::embeddings;
use super::frame::Frame;
use super::ids::IdGenerator;
use super::json::{
    arguments_json, arguments_value, content_text, function_tools, json_object, read_messages,
    role, string_field,
};
use super::tool_calls::PendingCalls;
use super::{ApiError, Encoder, Format, ResponseContext, Tokens, Usage};
use crate::request::{
    ChatMessage, ChatRequest, EarlierToolCall, ReceivedRequest, ResponseFormat, ToolResult,
};
use crate::script::{ErrorBody, FinishReason, MessageEvent, OutputPart, Script};

/// Ollama's chat API.
pub(super) struct Ollama;

impl Format for Ollama {
    fn name(&self) -> &'static str {
        "ollama"
    }

    fn paths(&self) -> &'static [&'static str] {
        &["/api/chat"]
    }

    /// `messages`, whose assistant messages carry `tool_calls`, whose `tool` messages
    /// name their tool (`tool_name`), and whose `images` are base64 strings; `tools` as
    /// in Chat Completions; `format`: `"json"` or a schema.
    fn read_chat(&self, json: &Value, _path: &str) -> Option<ChatRequest> {
        let response_format = match &json["format"] {
            Value::String(format) if format == "json" => ResponseFormat::JsonObject,
            schema @ Value::Object(_) => ResponseFormat::JsonSchema {
                name: None,
                schema: schema.clone(),
            },
            _ => ResponseFormat::Text,
        };
        Some(
            read_messages(json, read_message)?
                .with_tools(function_tools(json))
                .with_response_format(response_format),
        )
    }

    fn validate(&self, request: &ReceivedRequest) -> Result<(), ApiError> {
        let json = json_object(request)?;
        if json["model"].as_str().is_none_or(str::is_empty) {
            return Err(ApiError::invalid_request(
                StatusCode::BAD_REQUEST,
                "model is required",
            ));
        }
        Ok(())
    }

    /// Ollama streams unless told otherwise.
    fn wants_stream(&self, request: &ReceivedRequest) -> bool {
        request
            .json
            .as_ref()
            .is_none_or(|json| json["stream"].as_bool() != Some(false))
    }

    fn response_id(&self, ids: &IdGenerator) -> String {
        ids.alphanumeric("", 22)
    }

    fn encoder(&self, _request: &ReceivedRequest, context: ResponseContext) -> Box<dyn Encoder> {
        Box::new(LineEncoder::new(context))
    }

    fn complete_response(&self, script: &Script, context: &ResponseContext) -> Vec<u8> {
        super::json::value_bytes(&complete_response(script, context))
    }

    fn error_body(&self, _status: StatusCode, error: &ErrorBody, _: &ResponseContext) -> Value {
        error_body(error)
    }

    fn stream_content_type(&self, _request: &ReceivedRequest) -> HeaderValue {
        HeaderValue::from_static("application/x-ndjson")
    }

    fn service_paths(&self) -> &'static [&'static str] {
        &["POST /api/embed", "GET /api/tags"]
    }

    fn serves_embeddings(&self, path: &str) -> bool {
        path == "/api/embed"
    }

    fn serves_models(&self, path: &str) -> bool {
        path == "/api/tags"
    }

    fn default_models(&self) -> &'static [&'static str] {
        &["llama3.2", "qwen3", "nomic-embed-text"]
    }

    fn models(
        &self,
        _path: &str,
        _request: &ReceivedRequest,
        models: &[String],
        _context: &ResponseContext,
    ) -> Result<Value, ApiError> {
        Ok(tags(models))
    }

    fn embeddings(
        &self,
        request: &ReceivedRequest,
        _: &ResponseContext,
    ) -> Result<Value, ApiError> {
        embeddings(request)
    }
}

/// `GET /api/tags`: the local models, `{"models":[{name, model, modified_at, size,
/// digest, details}]}`, a name without a tag getting `:latest` as Ollama shows it (wire
/// reference §8.5; docs.ollama.com/api/tags).
fn tags(models: &[String]) -> Value {
    let models: Vec<Value> = models
        .iter()
        .map(|model| {
            let name = if model.contains(':') {
                model.clone()
            } else {
                format!("{model}:latest")
            };
            let family: String = model
                .chars()
                .take_while(|c| c.is_ascii_alphabetic())
                .collect();
            let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
                (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
            });
            json!({
                "name": name,
                "model": name,
                "modified_at": "2025-09-29T12:00:00.000000000Z",
                "size": 2_019_393_189u64,
                "digest": format!("{hash:016x}").repeat(4),
                "details": {
                    "parent_model": "",
                    "format": "gguf",
                    "family": family,
                    "families": [family],
                    "parameter_size": "3.2B",
                    "quantization_level": "Q4_K_M"
                }
            })
        })
        .collect();
    json!({ "models": models })
}

/// `POST /api/embed`: `input` is a string or an array of strings, `dimensions` shortens
/// the vectors (wire reference §8.5; docs.ollama.com/api/embed).
fn embeddings(request: &ReceivedRequest) -> Result<Value, ApiError> {
    let json = json_object(request)?;
    let Some(model) = json["model"].as_str().filter(|model| !model.is_empty()) else {
        return Err(ApiError::invalid_request(
            StatusCode::BAD_REQUEST,
            "model is required",
        ));
    };
    let invalid = || {
        ApiError::invalid_request(
            StatusCode::BAD_REQUEST,
            "invalid input type: input must be a string or an array of strings",
        )
    };
    let inputs: Vec<String> = match &json["input"] {
        Value::Null => Vec::new(),
        Value::String(text) => vec![text.clone()],
        Value::Array(items) => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned))
            .collect::<Option<Vec<String>>>()
            .ok_or_else(invalid)?,
        _ => return Err(invalid()),
    };
    let dimensions = json["dimensions"]
        .as_u64()
        .map_or(768, |dimensions| dimensions as usize);
    let vectors: Vec<Vec<f32>> = inputs
        .iter()
        .map(|input| embeddings::embed(input, dimensions))
        .collect();
    Ok(json!({
        "model": model,
        "embeddings": vectors,
        "total_duration": 14_000_000u64,
        "load_duration": 1_000_000u64,
        "prompt_eval_count": embeddings::tokens(&inputs)
    }))
}

fn read_message(message: &Value) -> ChatMessage {
    let role = role(message);
    let content = content_text(&message["content"]);
    let calls = message["tool_calls"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|call| {
            Some(EarlierToolCall::new(
                string_field(call, "id"),
                call["function"]["name"].as_str()?.to_owned(),
                arguments_json(&call["function"]["arguments"]),
            ))
        })
        .collect();
    let results = if role == "tool" {
        vec![ToolResult::new(
            string_field(message, "tool_call_id"),
            string_field(message, "tool_name").or_else(|| string_field(message, "name")),
            content.clone(),
            false,
        )]
    } else {
        Vec::new()
    };
    let images = message["images"].as_array().map_or(0, Vec::len);
    ChatMessage::new(role, content)
        .with_tool_calls(calls)
        .with_tool_results(results)
        .with_images(images)
}

struct LineEncoder {
    context: ResponseContext,
    created_at: String,
    usage: Usage,
    calls: PendingCalls,
}

impl LineEncoder {
    fn new(context: ResponseContext) -> LineEncoder {
        LineEncoder {
            context,
            created_at: rfc3339_now(),
            usage: Usage::default(),
            calls: PendingCalls::default(),
        }
    }

    fn line(&self, content: &str, done: bool) -> Value {
        json!({
            "model": self.context.model,
            "created_at": self.created_at,
            "message": { "role": "assistant", "content": content },
            "done": done
        })
    }
}

fn ndjson(value: &Value) -> Frame {
    let mut line = value.to_string().into_bytes();
    line.push(b'\n');
    Frame::Verbatim(line)
}

impl Encoder for LineEncoder {
    fn encode(&mut self, event: MessageEvent<'_>, frames: &mut Vec<Frame>) {
        self.usage.count(&event);
        // Ollama sends tool calls whole: they go out once the last fragment is in.
        let Some(calls) = self.calls.before(&event) else {
            return;
        };
        if !calls.is_empty() {
            let mut line = self.line("", false);
            line["message"]["tool_calls"] = tool_calls_json(calls);
            frames.push(ndjson(&line));
        }
        match event {
            MessageEvent::Token(text) | MessageEvent::Refusal(text) => {
                frames.push(ndjson(&self.line(text, false)));
            }
            MessageEvent::Thinking { text, .. } => {
                let mut line = self.line("", false);
                line["message"]["thinking"] = json!(text);
                frames.push(ndjson(&line));
            }
            MessageEvent::Finish(reason) => {
                let mut last = self.line("", true);
                add_final_fields(&mut last, &self.context.tokens(self.usage), reason);
                frames.push(ndjson(&last));
            }
            MessageEvent::Error(error) => frames.push(ndjson(&error_body(&error.body))),
            MessageEvent::Malformed => frames.push(Frame::Verbatim(
                b"{\"model\":\"trunc\",\"message\":{\"role\":\"assistant\",\"content\":\"trunc\n"
                    .to_vec(),
            )),
            MessageEvent::Start
            | MessageEvent::Done
            | MessageEvent::RedactedThinking(_)
            | MessageEvent::ToolCallStart { .. }
            | MessageEvent::ToolArguments { .. } => {}
        }
    }

    fn keep_alive(&self) -> Option<Frame> {
        // NDJSON has no comments: Ollama clients parse every line as JSON.
        None
    }
}

/// `[{"function":{"name","arguments"}}]`, arguments as an object.
fn tool_calls_json(calls: Vec<(String, Value)>) -> Value {
    calls
        .into_iter()
        .map(|(name, arguments)| json!({ "function": { "name": name, "arguments": arguments } }))
        .collect()
}

/// The fields of the final object: why generation stopped and Ollama's counters.
fn add_final_fields(object: &mut Value, tokens: &Tokens, reason: FinishReason<'_>) {
    let eval_count = tokens.output;
    // Ollama reports only these two.
    object["done_reason"] = json!(match reason {
        FinishReason::Length => "length",
        FinishReason::Stop
        | FinishReason::ContentFilter
        | FinishReason::ToolCalls
        | FinishReason::Other(_) => "stop",
    });
    object["total_duration"] = json!(5_000_000u64 + eval_count * 1_000_000);
    object["load_duration"] = json!(1_000_000u64);
    object["prompt_eval_count"] = json!(tokens.input);
    object["prompt_eval_duration"] = json!(1_000_000u64);
    object["eval_count"] = json!(eval_count);
    object["eval_duration"] = json!(eval_count * 1_000_000);
}

fn error_body(error: &ErrorBody) -> Value {
    json!({ "error": error.message })
}

/// The single object for `"stream": false`.
fn complete_response(script: &Script, context: &ResponseContext) -> Value {
    let mut text = String::new();
    let mut thinking = String::new();
    let mut calls = Vec::new();
    for part in script.delivered_output() {
        match part {
            OutputPart::Text(piece) | OutputPart::Refusal(piece) => text.push_str(&piece),
            OutputPart::Thinking { text: piece, .. } => thinking.push_str(&piece),
            OutputPart::RedactedThinking(_) => {}
            OutputPart::ToolCall {
                name, arguments, ..
            } => calls.push((name.to_owned(), arguments_value(&arguments))),
        }
    }
    let mut object = json!({
        "model": context.model,
        "created_at": rfc3339_now(),
        "message": { "role": "assistant", "content": text },
        "done": true
    });
    if !thinking.is_empty() {
        object["message"]["thinking"] = json!(thinking);
    }
    if !calls.is_empty() {
        object["message"]["tool_calls"] = tool_calls_json(calls);
    }
    add_final_fields(
        &mut object,
        &context.tokens(Usage::of_script(script)),
        script.finish_reason(),
    );
    object
}

/// The current UTC time as RFC 3339 with nanoseconds, as Ollama writes `created_at`.
fn rfc3339_now() -> String {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let seconds = since_epoch.as_secs();
    let (year, month, day) = civil_from_days((seconds / 86_400) as i64);
    let seconds_of_day = seconds % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        seconds_of_day / 3600,
        seconds_of_day / 60 % 60,
        seconds_of_day % 60,
        since_epoch.subsec_nanos()
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
pub(super) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::MessageEvent::{Done, Finish, Malformed, Refusal, Start, Token};
    use crate::script::StreamError;
    use crate::wire::tests::{args, call, encoder, frames, request};
    use crate::wire::WireFormat;

    fn stream(events: &[MessageEvent<'_>]) -> Vec<Frame> {
        let body = json!({ "model": "llama-test", "messages": [{ "role": "user", "content": "Hello there" }] });
        let request = request("/api/chat", None, body);
        frames(&mut *encoder(WireFormat::Ollama, &request), events)
    }

    /// Each frame as the one JSON line it must be.
    fn lines(frames: &[Frame]) -> Vec<Value> {
        frames
            .iter()
            .map(|frame| {
                let Frame::Verbatim(bytes) = frame else {
                    panic!("{frame:?}")
                };
                let line = std::str::from_utf8(bytes).unwrap();
                let body = line
                    .strip_suffix('\n')
                    .unwrap_or_else(|| panic!("unterminated: {line:?}"));
                assert!(!body.contains(['\n', '\r']), "{line:?}");
                serde_json::from_str(body).unwrap_or_else(|error| panic!("{error}: {line:?}"))
            })
            .collect()
    }

    #[test]
    fn every_frame_is_one_line_of_json() {
        let error = StreamError::new("broke\nbadly");
        let awkward = "quote \" back \\ new\nline cr\r tab\t \u{1} é 🎉";
        let ok = [
            Start,
            Token(awkward),
            Refusal("no\n"),
            call(0, "f"),
            args(0, "{\"a\":\"\\n\"}"),
            Token("b"),
            Finish(FinishReason::Stop),
            Done,
        ];
        let lines_ok = lines(&stream(&ok));
        let done: Vec<&Value> = lines_ok.iter().map(|line| &line["done"]).collect();
        assert_eq!(done, [false, false, false, false, true]);
        assert_eq!(
            lines_ok[0]["message"],
            json!({ "role": "assistant", "content": awkward })
        );
        assert_eq!(
            lines_ok[2]["message"]["tool_calls"],
            json!([{ "function": { "name": "f", "arguments": { "a": "\n" } } }])
        );
        for line in &lines_ok {
            assert_eq!(line["model"], "llama-test");
            // RFC 3339 in UTC with nanoseconds: 2024-01-01T00:00:00.000000000Z.
            let created_at = line["created_at"].as_str().unwrap();
            assert_eq!(created_at.len(), 30, "{created_at}");
            assert_eq!(
                (&created_at[10..11], &created_at[19..20], &created_at[29..]),
                ("T", ".", "Z")
            );
        }
        let failed = [Start, Token("a"), MessageEvent::Error(&error), Done];
        assert_eq!(
            lines(&stream(&failed))[1],
            json!({ "error": "broke\nbadly" })
        );
    }

    #[test]
    fn a_malformed_line_is_still_one_line() {
        // Broken JSON, but a line reader still gets exactly one line to choke on.
        let frames = stream(&[Malformed]);
        let [Frame::Verbatim(bytes)] = &frames[..] else {
            panic!("{frames:?}")
        };
        assert_eq!(bytes.iter().filter(|byte| **byte == b'\n').count(), 1);
        assert!(bytes.ends_with(b"\n"));
        assert!(serde_json::from_slice::<Value>(bytes).is_err());
    }

    #[test]
    fn days_since_the_epoch_are_civil_dates() {
        let cases: &[(i64, (i64, u32, u32))] = &[
            (0, (1970, 1, 1)),
            (-1, (1969, 12, 31)),
            (10_957, (2000, 1, 1)),
            // 2000 is a leap year (divisible by 400), 2100 is not (by 100 only).
            (11_016, (2000, 2, 29)),
            (11_017, (2000, 3, 1)),
            (19_723, (2024, 1, 1)),
            (19_782, (2024, 2, 29)),
            (19_783, (2024, 3, 1)),
            (47_540, (2100, 2, 28)),
            (47_541, (2100, 3, 1)),
            (-25_508, (1900, 3, 1)),
        ];
        for (days, date) in cases {
            assert_eq!(civil_from_days(*days), *date, "{days}");
        }
    }

    #[test]
    fn only_length_is_reported_as_such_every_other_reason_is_stop() {
        let cases: &[(FinishReason<'_>, &str)] = &[
            (FinishReason::Stop, "stop"),
            (FinishReason::Length, "length"),
            (FinishReason::ContentFilter, "stop"),
            (FinishReason::ToolCalls, "stop"),
            (FinishReason::Other("anything"), "stop"),
        ];
        for (reason, expected) in cases {
            let lines = lines(&stream(&[Start, Token("a"), Token("b"), Finish(*reason)]));
            let last = lines.last().unwrap();
            assert_eq!(last["done_reason"], *expected, "{reason:?}");
            assert_eq!(last["eval_count"], 2, "{reason:?}");
            assert_eq!(last["prompt_eval_count"], 2, "{reason:?}");
            // Durations are nanoseconds, one millisecond per token here.
            assert_eq!(last["eval_duration"], 2_000_000, "{reason:?}");
        }
    }
}
