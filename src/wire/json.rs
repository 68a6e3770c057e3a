//! JSON helpers several formats share: string escaping for the hot path, tool-call
//! arguments, the body checks every JSON API makes, and reading message text.

use axum::http::StatusCode;
use serde_json::Value;

use super::ApiError;
use crate::request::{ChatMessage, ChatRequest, DeclaredTool, ReceivedRequest, ResponseFormat};

/// Appends `text` as a JSON string literal, escaped exactly as `serde_json` escapes it,
/// without the intermediate allocations of going through a `Value`.
pub(crate) fn push_json_string(out: &mut String, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    let mut clean_from = 0;
    for (index, byte) in text.bytes().enumerate() {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => continue,
        };
        out.push_str(&text[clean_from..index]);
        clean_from = index + 1;
        if escape.is_empty() {
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0xf)]));
        } else {
            out.push_str(escape);
        }
    }
    out.push_str(&text[clean_from..]);
    out.push('"');
}

/// Appends `number` in decimal, as `serde_json` writes it; without `fmt`'s machinery,
/// which costs more than the digits.
pub(crate) fn push_number(out: &mut String, number: u64) {
    for &digit in decimal(number, &mut [0; 20]) {
        out.push(char::from(digit));
    }
}

/// Writes `n` in decimal into the end of `digits`, returning the digits written, without
/// allocating: numbers in answers and an id on every event are written this way.
pub(crate) fn decimal(mut n: u64, digits: &mut [u8; 20]) -> &[u8] {
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &digits[at..];
        }
    }
}

/// `value` serialised, into one buffer sized for a typical answer: `to_string` grows its
/// string from empty, a reallocation and a copy at every doubling.
pub(crate) fn value_bytes(value: &Value) -> Vec<u8> {
    let mut json = Vec::with_capacity(1024);
    let written = serde_json::to_writer(&mut json, value);
    debug_assert!(written.is_ok(), "a Value always serialises");
    json
}

/// A tool call's arguments as JSON, for the formats that send them as an object rather
/// than as text; arguments a script made deliberately invalid travel as a string.
pub(crate) fn arguments_value(arguments: &str) -> Value {
    serde_json::from_str(arguments).unwrap_or_else(|_| Value::String(arguments.to_owned()))
}

/// The request body as a JSON object, or the error the API gives for anything else.
pub(crate) fn json_object(request: &ReceivedRequest) -> Result<&Value, ApiError> {
    let Some(json) = &request.json else {
        let detail = match serde_json::from_slice::<Value>(&request.body) {
            Err(error) => format!(" ({error})"),
            Ok(_) => String::new(),
        };
        return Err(ApiError::invalid_request(
            StatusCode::BAD_REQUEST,
            format!(
                "We could not parse the JSON body of your request{detail}. The API expects a \
                 JSON object such as {{\"model\": \"gpt-4o-mini\", \"messages\": [...]}}."
            ),
        ));
    };
    if !json.is_object() {
        return Err(ApiError::invalid_request(
            StatusCode::BAD_REQUEST,
            format!(
                "The request body must be a JSON object, but it is {}.",
                json_kind(json)
            ),
        ));
    }
    Ok(json)
}

/// "a string", "an array", ...: a JSON value's kind, for error messages.
pub(crate) fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The text of a message's content: a plain string, or the `text` of every part of an
/// array of content parts, joined.
pub(crate) fn content_text(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|part| part.get("text").and_then(Value::as_str))
            .collect(),
        _ => String::new(),
    }
}

/// The conversation of a body with a `messages` array (Chat Completions, Anthropic,
/// Ollama), each message read the format's way: the messages, after a top-level
/// `system` prompt (Anthropic's) where there is one.
pub(crate) fn read_messages(
    json: &Value,
    read_message: fn(&Value) -> ChatMessage,
) -> Option<ChatRequest> {
    let Value::Array(messages) = json.get("messages")? else {
        return None;
    };
    let system = json
        .get("system")
        .map(|system| ChatMessage::new("system", content_text(system)));
    let messages = system
        .into_iter()
        .chain(messages.iter().map(read_message))
        .collect();
    Some(ChatRequest::new(model(json), messages, stream_flag(json)))
}

/// A message's `role`, `user` when it names none.
pub(crate) fn role(message: &Value) -> &str {
    message["role"].as_str().unwrap_or("user")
}

/// A string field, owned, if it is a string.
pub(crate) fn string_field(value: &Value, key: &str) -> Option<String> {
    value[key].as_str().map(str::to_owned)
}

/// Tool-call arguments as JSON, whether they travel as text (OpenAI) or as an object.
pub(crate) fn arguments_json(arguments: &Value) -> Value {
    match arguments {
        Value::String(text) => arguments_value(text),
        Value::Null => Value::Object(serde_json::Map::new()),
        other => other.clone(),
    }
}

/// How many parts of `content` have one of these `type`s.
pub(crate) fn count_parts(content: &Value, types: &[&str]) -> usize {
    content.as_array().map_or(0, |parts| {
        parts
            .iter()
            .filter(|part| {
                part["type"]
                    .as_str()
                    .is_some_and(|kind| types.contains(&kind))
            })
            .count()
    })
}

/// A declared tool from an object with `name`, `description` and the schema under
/// `schema_key`; `None` for an object without a name.
pub(crate) fn declared_tool(tool: &Value, schema_key: &str) -> Option<DeclaredTool> {
    Some(DeclaredTool::new(
        tool["name"].as_str()?.to_owned(),
        string_field(tool, "description"),
        tool.get(schema_key).cloned().unwrap_or(Value::Null),
    ))
}

/// Chat Completions' and Ollama's `tools` (`{"type": "function", "function": {...}}`),
/// and Chat Completions' older `functions`.
pub(crate) fn function_tools(json: &Value) -> Vec<DeclaredTool> {
    let tools = json["tools"].as_array().into_iter().flatten();
    let functions = json["functions"].as_array().into_iter().flatten();
    tools
        .map(|tool| &tool["function"])
        .chain(functions)
        .filter_map(|function| declared_tool(function, "parameters"))
        .collect()
}

/// An OpenAI-style format object: `{"type": "json_schema", "json_schema": {...}}` in
/// Chat Completions, `{"type": "json_schema", "name", "schema"}` in Responses.
pub(crate) fn openai_response_format(format: &Value) -> ResponseFormat {
    match format["type"].as_str() {
        Some("json_object") => ResponseFormat::JsonObject,
        Some("json_schema") => {
            let spec = if format["json_schema"].is_object() {
                &format["json_schema"]
            } else {
                format
            };
            ResponseFormat::JsonSchema {
                name: string_field(spec, "name"),
                schema: spec.get("schema").cloned().unwrap_or(Value::Null),
            }
        }
        _ => ResponseFormat::Text,
    }
}

/// The body's `model`, empty if it names none.
pub(crate) fn model(json: &Value) -> String {
    json["model"].as_str().unwrap_or_default().to_owned()
}

/// The body's `stream` flag, false if absent.
pub(crate) fn stream_flag(json: &Value) -> bool {
    json["stream"].as_bool().unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_written_as_serde_json_writes_them() {
        for number in [0, 1, 9, 10, 99, 100, 1_715_367_049, u64::MAX - 1, u64::MAX] {
            let mut written = String::from("x");
            push_number(&mut written, number);
            assert_eq!(written, format!("x{}", serde_json::json!(number)));
        }
    }

    #[test]
    fn strings_are_escaped_exactly_as_serde_json_escapes_them() {
        let samples = [
            "",
            "plain",
            "quote \" and backslash \\",
            "new\nline\r\ttab",
            "\u{0}\u{1}\u{8}\u{c}\u{1f}\u{7f}",
            "unicode é 漢字 🎉",
            "[DONE]",
        ];
        for text in samples {
            let mut quoted = String::new();
            push_json_string(&mut quoted, text);
            assert_eq!(quoted, Value::from(text).to_string(), "{text:?}");
        }
    }

    #[test]
    fn arguments_that_are_not_json_travel_as_a_string() {
        assert_eq!(arguments_value("{\"a\":1}"), serde_json::json!({ "a": 1 }));
        assert_eq!(arguments_value("{\"a\":"), Value::from("{\"a\":"));
    }

    #[test]
    fn content_text_joins_the_text_of_every_part() {
        let parts = serde_json::json!([{ "type": "text", "text": "a" }, { "type": "image" }, { "text": "b" }]);
        assert_eq!(content_text(&parts), "ab");
        assert_eq!(content_text(&Value::from("hi")), "hi");
        assert_eq!(content_text(&Value::Null), "");
    }
}
