//! The chat-level reading of a request: model, messages, stream flag, and the agent's
//! side of the conversation (declared tools, earlier tool calls, tool results, the
//! requested response format). Each wire format reads its own body shape into it
//! (`Format::read_chat`), so that everything here reads the same for every format.

use serde_json::Value;

/// The chat-level reading of a request body, the same for every wire format.
///
/// Chat Completions' `messages` are read as they are (after Anthropic's `system`
/// prompt, as a `system` message, where there is one); a Responses request's
/// `instructions` become a `system` message, followed by its `input` (a string is one
/// `user` message; `function_call` items belong to the assistant message they follow,
/// `function_call_output` items are `tool` messages); a Gemini request's
/// `systemInstruction` and `contents` likewise (its `model` role is `assistant`), with the
/// model taken from the path. Message content is read as text: a plain string, or the
/// `text` of every part of an array of content parts, joined.
///
/// The agent's side of the conversation reads the same whatever the format:
/// [`tools`](Self::tools) the client declares, [`tool_calls`](Self::tool_calls) the
/// assistant made earlier, the [`tool_results`](Self::tool_results) the client sends
/// back, the [`turn`](Self::turn), the [`response_format`](Self::response_format).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use chatmock::{matchers, Mock, MockChatServer, Reply};
/// use serde_json::json;
///
/// let server = MockChatServer::start().await;
/// Mock::given(matchers::any()).respond_with(Reply::text("ok")).mount(&server).await;
/// // The second turn of an agent loop, in Anthropic's shape.
/// let body = json!({
///     "model": "claude-sonnet-4-5", "max_tokens": 100,
///     "system": "You are a weather bot.",
///     "tools": [{ "name": "get_weather", "input_schema": { "type": "object" } }],
///     "messages": [
///         { "role": "user", "content": "Weather in Paris?" },
///         { "role": "assistant", "content": [
///             { "type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": { "city": "Paris" } }
///         ] },
///         { "role": "user", "content": [
///             { "type": "tool_result", "tool_use_id": "toolu_1", "content": "18°C" }
///         ] }
///     ]
/// });
/// let url = format!("{}/v1/messages", server.uri());
/// reqwest::Client::new().post(url).json(&body).send().await.unwrap();
///
/// let requests = server.received_requests().await;
/// let chat = requests[0].chat().unwrap();
/// assert_eq!(chat.system_prompt().as_deref(), Some("You are a weather bot."));
/// assert_eq!(chat.tools()[0].name(), "get_weather");
/// assert_eq!(chat.turn(), 2);
/// let result = chat.tool_results().next().unwrap();
/// assert_eq!((result.call_id(), result.name(), result.content()),
///            (Some("toolu_1"), Some("get_weather"), "18°C"));
/// assert_eq!(chat.last_user_message(), Some("Weather in Paris?"));
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatRequest {
    model: String,
    messages: Vec<ChatMessage>,
    stream: bool,
    tools: Vec<DeclaredTool>,
    response_format: ResponseFormat,
}

/// One message of a [`ChatRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    role: String,
    content: String,
    tool_calls: Vec<EarlierToolCall>,
    tool_results: Vec<ToolResult>,
    images: usize,
}

/// A tool the client declares it can run: OpenAI's `tools[].function`, Anthropic's
/// `tools[]`, Gemini's `functionDeclarations[]`, ... See [`ChatRequest::tools`].
///
/// ```
/// use chatmock::{Mock, ReceivedRequest, Reply};
///
/// // Answers with the names of the tools the client declares.
/// let mock = Mock::given(|_: &ReceivedRequest| true).respond_with_fn(|request| {
///     let tools = request.chat().map(|chat| chat.tools()).unwrap_or_default();
///     let names: Vec<&str> = tools.iter().map(|tool| tool.name()).collect();
///     Reply::text(names.join(", "))
/// });
/// # drop(mock);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredTool {
    name: String,
    description: Option<String>,
    schema: Value,
}

/// A tool call the assistant made earlier in the conversation, as the client sends it
/// back: an OpenAI `tool_calls[]` entry, a Responses `function_call` item, an Anthropic
/// `tool_use` block, a Gemini `functionCall` part. See [`ChatRequest::tool_calls`].
///
/// ```
/// use chatmock::{matchers, Mock, Reply};
///
/// // Answers with the city the assistant asked the weather of.
/// let mock = Mock::given(matchers::has_tool_result()).respond_with_fn(|request| {
///     let chat = request.chat().unwrap();
///     let call = chat.tool_calls().last().unwrap();
///     Reply::text(format!("The weather in {}.", call.arguments()["city"]))
/// });
/// # drop(mock);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EarlierToolCall {
    id: Option<String>,
    name: String,
    arguments: Value,
}

/// The result of a tool call, as the client sends it back: an OpenAI `tool` message, a
/// Responses `function_call_output` item, an Anthropic `tool_result` block, a Gemini
/// `functionResponse` part, an Ollama `tool` message. See
/// [`ChatRequest::tool_results`] and [`ChatRequest::latest_tool_results`].
///
/// ```
/// use chatmock::{matchers, Mock, Reply};
///
/// // Tells the model's answer from the tool's error.
/// let mock = Mock::given(matchers::has_tool_result()).respond_with_fn(|request| {
///     let chat = request.chat().unwrap();
///     let result = chat.latest_tool_results().next().unwrap();
///     if result.is_error() {
///         Reply::text("The tool failed; let me try another way.")
///     } else {
///         Reply::text(format!("{}: {}", result.name().unwrap_or("tool"), result.content()))
///     }
/// });
/// # drop(mock);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolResult {
    call_id: Option<String>,
    name: Option<String>,
    content: String,
    is_error: bool,
}

/// The format the client asked the reply to take.
///
/// Read from OpenAI's `response_format`, the Responses API's `text.format`, Anthropic's
/// `output_format`, Gemini's `generationConfig.responseMimeType` with `responseSchema`
/// (or `responseJsonSchema`), and Ollama's `format`. See [`ChatRequest::response_format`].
///
/// ```
/// use chatmock::{Mock, ReceivedRequest, Reply, ResponseFormat};
/// use serde_json::json;
///
/// // Structured output when asked for, text otherwise.
/// let mock = Mock::given(|_: &ReceivedRequest| true).respond_with_fn(|request| {
///     match request.chat().map(|chat| chat.response_format()) {
///         Some(ResponseFormat::Text) | None => Reply::text("Sunny."),
///         Some(_) => Reply::json(json!({ "weather": "sunny" })),
///     }
/// });
/// # drop(mock);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ResponseFormat {
    /// Free text: what a request that names no format gets.
    #[default]
    Text,
    /// Any JSON document (`json_object`, Gemini's `application/json` without a schema,
    /// Ollama's `"json"`).
    JsonObject,
    /// JSON that follows `schema`.
    JsonSchema {
        /// The schema's name, where the format gives one (OpenAI's do).
        name: Option<String>,
        /// The JSON schema.
        schema: Value,
    },
}

impl ResponseFormat {
    /// `"text"`, `"json_object"` or `"json_schema"`: the kind, in OpenAI's words, as
    /// [`matchers::response_format`](crate::matchers::response_format) takes it.
    ///
    /// ```
    /// use chatmock::ResponseFormat;
    ///
    /// assert_eq!(ResponseFormat::Text.name(), "text");
    /// ```
    pub fn name(&self) -> &'static str {
        match self {
            ResponseFormat::Text => "text",
            ResponseFormat::JsonObject => "json_object",
            ResponseFormat::JsonSchema { .. } => "json_schema",
        }
    }

    /// The schema, for [`JsonSchema`](Self::JsonSchema).
    ///
    /// ```
    /// use chatmock::ResponseFormat;
    ///
    /// assert_eq!(ResponseFormat::JsonObject.schema(), None);
    /// ```
    pub fn schema(&self) -> Option<&Value> {
        match self {
            ResponseFormat::JsonSchema { schema, .. } => Some(schema),
            _ => None,
        }
    }
}

impl ChatRequest {
    /// Reads the conversation; tool results that name no tool take the name of the call
    /// they answer, and results without an id (Ollama's, and Gemini's often) take the id of
    /// the first earlier call of their tool not yet answered, so that results read alike
    /// in every format.
    pub(crate) fn new(model: String, mut messages: Vec<ChatMessage>, stream: bool) -> ChatRequest {
        let mut calls: Vec<(Option<String>, String, bool)> = Vec::new();
        for message in &mut messages {
            for result in &mut message.tool_results {
                let call = match (&result.call_id, &result.name) {
                    (Some(id), _) => calls
                        .iter_mut()
                        .rev()
                        .find(|(call_id, _, _)| call_id.as_ref() == Some(id)),
                    // Results answer their calls in order: the first unanswered one.
                    (None, Some(name)) => calls
                        .iter_mut()
                        .find(|(_, call_name, answered)| call_name == name && !answered),
                    (None, None) => None,
                };
                if let Some((id, name, answered)) = call {
                    *answered = true;
                    result.call_id = result.call_id.take().or_else(|| id.clone());
                    result.name = result.name.take().or_else(|| Some(name.clone()));
                }
            }
            calls.extend(
                message
                    .tool_calls
                    .iter()
                    .map(|call| (call.id.clone(), call.name.clone(), false)),
            );
        }
        ChatRequest {
            model,
            messages,
            stream,
            tools: Vec::new(),
            response_format: ResponseFormat::Text,
        }
    }

    pub(crate) fn with_tools(mut self, tools: Vec<DeclaredTool>) -> ChatRequest {
        self.tools = tools;
        self
    }

    pub(crate) fn with_response_format(mut self, format: ResponseFormat) -> ChatRequest {
        self.response_format = format;
        self
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

    /// The text of the last message whose role is `user`, passing over messages that
    /// only carry tool results (Anthropic and Gemini send those as `user` messages), so
    /// that it is the user's question in every format.
    pub fn last_user_message(&self) -> Option<&str> {
        self.messages
            .iter()
            .rev()
            .find(|message| {
                // Some text, or no tool results: not a message of results only.
                message.role == "user"
                    && (!message.content.is_empty() || message.tool_results.is_empty())
            })
            .map(|message| message.content.as_str())
    }

    /// The system prompt: the text of every `system` (or `developer`) message, joined by a
    /// blank line; `None` when there is none. Anthropic's `system`, the Responses API's
    /// `instructions` and Gemini's `systemInstruction` are read as such messages.
    pub fn system_prompt(&self) -> Option<String> {
        let parts: Vec<&str> = self
            .messages
            .iter()
            .filter(|message| matches!(message.role.as_str(), "system" | "developer"))
            .map(|message| message.content.as_str())
            .collect();
        (!parts.is_empty()).then(|| parts.join("\n\n"))
    }

    /// The tools the client declares, in order.
    pub fn tools(&self) -> &[DeclaredTool] {
        &self.tools
    }

    /// The tool calls the assistant made earlier in the conversation, in order.
    pub fn tool_calls(&self) -> impl Iterator<Item = &EarlierToolCall> {
        self.messages
            .iter()
            .flat_map(|message| message.tool_calls.iter())
    }

    /// Every tool result in the conversation, in order.
    pub fn tool_results(&self) -> impl Iterator<Item = &ToolResult> {
        self.messages
            .iter()
            .flat_map(|message| message.tool_results.iter())
    }

    /// The tool results this request brings back: those after the assistant's last
    /// message. Earlier results stay in the conversation of every later request, so these
    /// are the ones that tell one step of an agent loop from the next.
    pub fn latest_tool_results(&self) -> impl Iterator<Item = &ToolResult> {
        let after_assistant = self
            .messages
            .iter()
            .rposition(|message| message.role == "assistant")
            .map_or(0, |at| at + 1);
        self.messages[after_assistant..]
            .iter()
            .flat_map(|message| message.tool_results.iter())
    }

    /// Which turn of the conversation this request asks for: 1 plus the number of
    /// assistant messages so far. The first request of an agent loop is turn 1; the one
    /// that sends back the results of turn 1's tool calls is turn 2.
    pub fn turn(&self) -> usize {
        1 + self
            .messages
            .iter()
            .filter(|message| message.role == "assistant")
            .count()
    }

    /// The format the client asked the reply to take; [`ResponseFormat::Text`] when the
    /// request names none.
    pub fn response_format(&self) -> &ResponseFormat {
        &self.response_format
    }

    /// Whether any message carries an image.
    pub fn has_images(&self) -> bool {
        self.messages.iter().any(ChatMessage::has_images)
    }
}

impl ChatMessage {
    pub(crate) fn new(role: impl Into<String>, content: String) -> ChatMessage {
        ChatMessage {
            role: role.into(),
            content,
            tool_calls: Vec::new(),
            tool_results: Vec::new(),
            images: 0,
        }
    }

    pub(crate) fn with_tool_calls(mut self, calls: Vec<EarlierToolCall>) -> ChatMessage {
        self.tool_calls = calls;
        self
    }

    pub(crate) fn with_tool_results(mut self, results: Vec<ToolResult>) -> ChatMessage {
        self.tool_results = results;
        self
    }

    pub(crate) fn with_images(mut self, images: usize) -> ChatMessage {
        self.images = images;
        self
    }

    /// Appends `other`'s text and calls to this message: the Responses API sends one
    /// assistant turn as several items.
    pub(crate) fn absorb(&mut self, other: ChatMessage) {
        self.content.push_str(&other.content);
        self.tool_calls.extend(other.tool_calls);
        self.tool_results.extend(other.tool_results);
        self.images += other.images;
    }

    /// The role: `system`, `developer`, `user`, `assistant`, `tool`, ...
    pub fn role(&self) -> &str {
        &self.role
    }

    /// The text content.
    pub fn content(&self) -> &str {
        &self.content
    }

    /// The tool calls of an assistant message.
    pub fn tool_calls(&self) -> &[EarlierToolCall] {
        &self.tool_calls
    }

    /// The tool results the message carries.
    pub fn tool_results(&self) -> &[ToolResult] {
        &self.tool_results
    }

    /// Whether the message carries an image.
    pub fn has_images(&self) -> bool {
        self.images > 0
    }
}

impl DeclaredTool {
    pub(crate) fn new(name: String, description: Option<String>, schema: Value) -> DeclaredTool {
        DeclaredTool {
            name,
            description,
            schema,
        }
    }

    /// The tool's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The tool's description, if the client gave one.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// The JSON schema of the tool's arguments (`Value::Null` if the client gave none).
    pub fn schema(&self) -> &Value {
        &self.schema
    }
}

impl EarlierToolCall {
    pub(crate) fn new(id: Option<String>, name: String, arguments: Value) -> EarlierToolCall {
        EarlierToolCall {
            id,
            name,
            arguments,
        }
    }

    /// The call's id, if the format gives one.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The tool called.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The arguments, as JSON (arguments sent as text that is not JSON are a string).
    pub fn arguments(&self) -> &Value {
        &self.arguments
    }
}

impl ToolResult {
    pub(crate) fn new(
        call_id: Option<String>,
        name: Option<String>,
        content: String,
        is_error: bool,
    ) -> ToolResult {
        ToolResult {
            call_id,
            name,
            content,
            is_error,
        }
    }

    /// The id of the call this result answers. Formats whose results carry no id
    /// (Ollama's, Gemini's without `id`) take it from the first earlier call of the same
    /// tool not yet answered, if that call had one.
    pub fn call_id(&self) -> Option<&str> {
        self.call_id.as_deref()
    }

    /// The tool's name: given by the result (Gemini, Ollama), or taken from the call it
    /// answers.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The result as text. A Gemini `functionResponse` whose `response` is an object
    /// with a string `output`, `result` or `error` reads as that string; any other
    /// response reads as compact JSON.
    pub fn content(&self) -> &str {
        &self.content
    }

    /// Whether the client marked the result as an error (Anthropic's `is_error`, a
    /// Gemini response with `error`).
    pub fn is_error(&self) -> bool {
        self.is_error
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rules_know_every_response_format_name() {
        let formats = [
            ResponseFormat::Text,
            ResponseFormat::JsonObject,
            ResponseFormat::JsonSchema {
                name: None,
                schema: Value::Null,
            },
        ];
        let names: Vec<&str> = formats.iter().map(ResponseFormat::name).collect();
        assert_eq!(names, crate::script::rules::RESPONSE_FORMATS);
    }
}
