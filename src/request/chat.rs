//! The chat-level reading of a request: model, messages, stream flag. Each wire format
//! reads its own body shape into it (`Format::read_chat`).

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
    pub(crate) fn new(model: String, messages: Vec<ChatMessage>, stream: bool) -> ChatRequest {
        ChatRequest {
            model,
            messages,
            stream,
        }
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
    pub(crate) fn new(role: impl Into<String>, content: String) -> ChatMessage {
        ChatMessage {
            role: role.into(),
            content,
        }
    }

    /// The role: `system`, `developer`, `user`, `assistant`, `tool`, ...
    pub fn role(&self) -> &str {
        &self.role
    }

    /// The text content.
    pub fn content(&self) -> &str {
        &self.content
    }
}
