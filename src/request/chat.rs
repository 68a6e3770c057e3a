//! The chat-level reading of a request: model, messages, stream flag.

use serde_json::Value;

/// The chat-level reading of a request body: model, messages and stream flag.
///
/// Chat Completions' `messages` are read as they are (after Anthropic's `system`
/// prompt, as a `system` message, where there is one); a Responses request's
/// `instructions` become a `system` message, followed by its `input` (a string is one
/// `user` message); a Gemini request's `systemInstruction` and `contents` likewise, with
/// the model taken from the path. Message content is read as text: a plain string, or the
/// `text` of every part of an array of content parts, joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatRequest {
    model: String,
    messages: Vec<ChatMessage>,
    stream: bool,
}

/// One message of a [`ChatRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    role: String,
    content: String,
}

impl ChatRequest {
    /// Reads Chat Completions' `messages`, or Responses' `instructions` and `input` (a
    /// string, or an array of messages).
    pub(crate) fn from_json(json: &Value, path: &str) -> Option<ChatRequest> {
        let message = |message: &Value| ChatMessage {
            role: message["role"].as_str().unwrap_or("user").to_owned(),
            content: content_text(&message["content"]),
        };
        let messages = match (json.get("messages"), json.get("input")) {
            (Some(Value::Array(messages)), _) => {
                // Anthropic sends the system prompt beside the messages.
                let system = json.get("system").map(|system| ChatMessage {
                    role: "system".to_owned(),
                    content: content_text(system),
                });
                system
                    .into_iter()
                    .chain(messages.iter().map(message))
                    .collect()
            }
            (None, Some(input)) => {
                let instructions = json["instructions"].as_str().map(|text| ChatMessage {
                    role: "system".to_owned(),
                    content: text.to_owned(),
                });
                let input: Vec<ChatMessage> = match input {
                    Value::String(text) => vec![ChatMessage {
                        role: "user".to_owned(),
                        content: text.clone(),
                    }],
                    Value::Array(items) => items.iter().map(message).collect(),
                    _ => return None,
                };
                instructions.into_iter().chain(input).collect()
            }
            (None, None) => gemini_messages(json)?,
            _ => return None,
        };
        let model = json["model"]
            .as_str()
            .or_else(|| gemini_model_and_method(path).map(|(model, _)| model))
            .unwrap_or_default();
        Some(ChatRequest {
            model: model.to_owned(),
            messages,
            stream: json["stream"].as_bool().unwrap_or(false),
        })
    }

    /// The requested model (empty if the request named none).
    pub fn model(&self) -> &str {
        &self.model
    }

    /// The messages, in order.
    pub fn messages(&self) -> &[ChatMessage] {
        &self.messages
    }

    /// Whether the client asked for a stream (`"stream": true`).
    pub fn is_stream(&self) -> bool {
        self.stream
    }

    /// The text of the last message whose role is `user`.
    pub fn last_user_message(&self) -> Option<&str> {
        self.messages
            .iter()
            .rev()
            .find(|message| message.role == "user")
            .map(|message| message.content.as_str())
    }
}

impl ChatMessage {
    /// The role: `system`, `developer`, `user`, `assistant`, `tool`, ...
    pub fn role(&self) -> &str {
        &self.role
    }

    /// The text content.
    pub fn content(&self) -> &str {
        &self.content
    }
}

/// Gemini's `systemInstruction` and `contents`, whose parts carry the text and whose
/// `model` role is the assistant.
fn gemini_messages(json: &Value) -> Option<Vec<ChatMessage>> {
    let contents = json.get("contents")?.as_array()?;
    let text = |parts: &Value| content_text(parts);
    let system = json
        .get("systemInstruction")
        .map(|instruction| ChatMessage {
            role: "system".to_owned(),
            content: text(&instruction["parts"]),
        });
    let messages = contents.iter().map(|content| ChatMessage {
        role: match content["role"].as_str() {
            Some("model") => "assistant".to_owned(),
            Some(role) => role.to_owned(),
            None => "user".to_owned(),
        },
        content: text(&content["parts"]),
    });
    Some(system.into_iter().chain(messages).collect())
}

/// The model and method of a Gemini path, `/{version}/models/{model}:{method}`.
pub(crate) fn gemini_model_and_method(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix('/')?;
    let (version, rest) = rest.split_once('/')?;
    if !matches!(version, "v1" | "v1beta" | "v1alpha") {
        return None;
    }
    let target = rest.strip_prefix("models/")?;
    let (model, method) = target.rsplit_once(':')?;
    (!model.is_empty() && !model.contains('/')).then_some((model, method))
}

fn content_text(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|part| part.get("text").and_then(Value::as_str))
            .collect(),
        _ => String::new(),
    }
}
