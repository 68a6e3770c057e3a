//! A small JSON Schema check, for `Reply::validate_against_request_schema`: does the
//! reply a test scripted fit the schema the client sent, as the real API's would?
//!
//! It checks the keywords structured outputs use (`type`, `properties`, `required`,
//! `additionalProperties`, `items`, `enum`, `const`, `anyOf`, and local `$ref`s into
//! `$defs` or `definitions`) and ignores the others (formats, lengths, patterns,
//! bounds): a scripted reply that passes may still break one of those, but one that fails
//! could never come from the real API. A crate such as `jsonschema` checks everything,
//! but pulls a large tree into every user's build for a test-only check.

use serde_json::Value;

use crate::request::ChatRequest;
use crate::script::{OutputPart, Reply, ReplyKind};

/// Checks `reply` against what `chat` asked for: its text against the request's JSON
/// response format, and each tool call's arguments against the schema of the tool it
/// calls. The error says what is wrong, and where.
pub(crate) fn check_reply(reply: &Reply, chat: Option<&ChatRequest>) -> Result<(), String> {
    let ReplyKind::Stream(script) = &reply.kind else {
        return Ok(());
    };
    let Some(chat) = chat else {
        return Err("the request is not a chat request, so it sent no schema".to_owned());
    };
    let mut text = String::new();
    let mut calls = Vec::new();
    for part in script.output() {
        match part {
            OutputPart::Text(part) => text.push_str(&part),
            OutputPart::ToolCall {
                name, arguments, ..
            } => calls.push((name.to_owned(), arguments)),
            OutputPart::Refusal(_)
            | OutputPart::Thinking { .. }
            | OutputPart::RedactedThinking(_) => {}
        }
    }
    for (name, arguments) in calls {
        let Some(tool) = chat.tools().iter().find(|tool| tool.name() == name) else {
            return Err(format!(
                "the reply calls tool {name:?}, which the request does not declare"
            ));
        };
        let arguments: Value = serde_json::from_str(&arguments)
            .map_err(|error| format!("the arguments of {name:?} are not JSON ({error})"))?;
        if !tool.schema().is_null() {
            check(&arguments, tool.schema(), tool.schema(), "")
                .map_err(|error| format!("the arguments of {name:?} break its schema: {error}"))?;
        }
    }
    if text.is_empty() {
        return Ok(());
    }
    let format = chat.response_format();
    let Some(expects_object) = (match format.name() {
        "json_object" => Some(true),
        "json_schema" => Some(false),
        _ => None,
    }) else {
        return Err(
            "the reply's text was to be checked against the request's schema, but the request \
             asks for free text (no response_format, text.format, output_format, \
             responseSchema or format)"
                .to_owned(),
        );
    };
    let document: Value = serde_json::from_str(&text)
        .map_err(|error| format!("the reply's text is not JSON ({error})"))?;
    match format.schema() {
        Some(schema) if !expects_object => check(&document, schema, schema, "")
            .map_err(|error| format!("the reply's JSON breaks the request's schema: {error}")),
        _ if !document.is_object() => {
            Err("the request asks for a JSON object, and the reply's JSON is not one".to_owned())
        }
        _ => Ok(()),
    }
}

/// Whether `value` follows `schema`; the error names the first place it does not.
/// `root` is the whole schema, which `$ref`s point into.
pub(crate) fn check(value: &Value, schema: &Value, root: &Value, at: &str) -> Result<(), String> {
    let here = || {
        if at.is_empty() {
            "the document".to_owned()
        } else {
            format!("at {at}")
        }
    };
    let Value::Object(schema) = schema else {
        // `true` and `{}` allow everything; `false` nothing.
        return match schema {
            Value::Bool(false) => Err(format!("{}: no value is allowed here", here())),
            _ => Ok(()),
        };
    };
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let target = resolve(root, reference)
            .ok_or_else(|| format!("{}: the schema's $ref {reference:?} points nowhere", here()))?;
        check(value, target, root, at)?;
    }
    if let Some(types) = schema.get("type") {
        let allowed: Vec<&str> = match types {
            Value::String(one) => vec![one.as_str()],
            Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !allowed.is_empty() && !allowed.iter().any(|kind| has_type(value, kind)) {
            return Err(format!(
                "{}: expected {}, found {}",
                here(),
                allowed.join(" or "),
                shown(value)
            ));
        }
    }
    if let Some(Value::Array(choices)) = schema.get("enum") {
        if !choices.contains(value) {
            return Err(format!(
                "{}: {} is not one of {}",
                here(),
                shown(value),
                Value::Array(choices.clone())
            ));
        }
    }
    if let Some(constant) = schema.get("const") {
        if constant != value {
            return Err(format!(
                "{}: expected {constant}, found {}",
                here(),
                shown(value)
            ));
        }
    }
    if let Some(Value::Array(options)) = schema.get("anyOf") {
        if !options
            .iter()
            .any(|option| check(value, option, root, at).is_ok())
        {
            return Err(format!(
                "{}: {} matches none of the anyOf schemas",
                here(),
                shown(value)
            ));
        }
    }
    if let Value::Object(object) = value {
        let properties = schema.get("properties").and_then(Value::as_object);
        if let Some(Value::Array(required)) = schema.get("required") {
            if let Some(missing) = required
                .iter()
                .filter_map(Value::as_str)
                .find(|key| !object.contains_key(*key))
            {
                return Err(format!(
                    "{}: the required key {missing:?} is missing",
                    here()
                ));
            }
        }
        for (key, item) in object {
            let path = if at.is_empty() {
                key.clone()
            } else {
                format!("{at}.{key}")
            };
            match properties.and_then(|properties| properties.get(key)) {
                Some(property) => check(item, property, root, &path)?,
                None => match schema.get("additionalProperties") {
                    Some(Value::Bool(false)) => {
                        return Err(format!(
                            "{}: key {key:?} is not in the schema's properties, and \
                             additionalProperties is false",
                            here()
                        ))
                    }
                    Some(additional @ Value::Object(_)) => check(item, additional, root, &path)?,
                    _ => {}
                },
            }
        }
    }
    if let (Value::Array(items), Some(item_schema)) = (value, schema.get("items")) {
        for (index, item) in items.iter().enumerate() {
            check(item, item_schema, root, &format!("{at}[{index}]"))?;
        }
    }
    Ok(())
}

fn has_type(value: &Value, kind: &str) -> bool {
    match kind {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "number" => value.is_number(),
        "integer" => {
            value.as_i64().is_some()
                || value.as_u64().is_some()
                || value.as_f64().is_some_and(|number| number.fract() == 0.0)
        }
        // A type this check does not know allows everything, rather than fail a test
        // for the check's own limits.
        _ => true,
    }
}

/// A local `$ref`: `#`, `#/$defs/Name`, `#/definitions/Name`, or any JSON pointer.
fn resolve<'a>(root: &'a Value, reference: &str) -> Option<&'a Value> {
    let pointer = reference.strip_prefix('#')?;
    root.pointer(pointer)
}

fn shown(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(60) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::check;

    fn errors(value: serde_json::Value, schema: &serde_json::Value) -> Option<String> {
        check(&value, schema, schema, "").err()
    }

    #[test]
    fn the_common_keywords_are_checked_with_the_place_that_breaks_them() {
        let schema = json!({
            "type": "object",
            "properties": {
                "city": { "type": "string" },
                "temperature": { "type": "integer" },
                "unit": { "enum": ["C", "F"] },
                "tags": { "type": "array", "items": { "type": "string" } },
                "note": { "type": ["string", "null"] },
                "place": { "$ref": "#/$defs/Place" }
            },
            "required": ["city", "temperature"],
            "additionalProperties": false,
            "$defs": { "Place": { "type": "object", "required": ["lat"] } }
        });
        let fine = json!({ "city": "Paris", "temperature": 18, "unit": "C", "tags": ["a"],
                           "note": null, "place": { "lat": 1.5 } });
        assert_eq!(errors(fine, &schema), None);
        let cases = [
            (json!([]), "the document: expected object, found []"),
            (json!({ "city": "Paris" }), "the document: the required key \"temperature\" is missing"),
            (json!({ "city": 1, "temperature": 1 }), "at city: expected string, found 1"),
            (json!({ "city": "a", "temperature": 1.5 }), "at temperature: expected integer, found 1.5"),
            (json!({ "city": "a", "temperature": 1, "unit": "K" }), "at unit: \"K\" is not one of [\"C\",\"F\"]"),
            (json!({ "city": "a", "temperature": 1, "tags": ["x", 2] }), "at tags[1]: expected string, found 2"),
            (json!({ "city": "a", "temperature": 1, "wind": 3 }),
             "the document: key \"wind\" is not in the schema's properties, and additionalProperties is false"),
            (json!({ "city": "a", "temperature": 1, "place": {} }), "at place: the required key \"lat\" is missing"),
        ];
        for (value, expected) in cases {
            assert_eq!(
                errors(value.clone(), &schema).as_deref(),
                Some(expected),
                "{value}"
            );
        }
    }

    #[test]
    fn any_of_const_and_boolean_schemas() {
        let schema = json!({ "anyOf": [{ "type": "string" }, { "const": 3 }] });
        assert_eq!(errors(json!("x"), &schema), None);
        assert_eq!(errors(json!(3), &schema), None);
        assert_eq!(
            errors(json!(4), &schema).as_deref(),
            Some("the document: 4 matches none of the anyOf schemas")
        );
        assert_eq!(errors(json!(4), &json!(true)), None);
        assert!(errors(json!(4), &json!(false)).is_some());
        assert!(errors(json!(4), &json!({ "$ref": "#/$defs/Missing" })).is_some());
    }
}
