//! A conversation script: the reply of each turn of one agent run, answered by turn
//! number and checked turn by turn.

use std::sync::Arc;

use super::mock::{Match, Mock, MockBuilder};
use super::respond::{Respond, Responder};
use crate::matchers;
use crate::request::ReceivedRequest;
use crate::script::rules::{self, enforce};
use crate::script::Reply;
use crate::wire::WireFormat;

/// The turns of one agent run, in order: turn 1's reply (a tool call, say), then turn
/// 2's (the answer once the tool result is back), and so on. Each request is answered by
/// its [turn](crate::ChatRequest::turn) (1 plus the number of assistant messages it
/// carries), whatever the order requests arrive in and however often a client retries
/// one; a request for a turn beyond the script matches nothing, and gets a 404 that says
/// so.
///
/// A conversation is mounted like a mock ([`mount`](Self::mount),
/// [`mount_as_scoped`](Self::mount_as_scoped), or as a [`Mock`] with `Mock::from`), and
/// checked like one: when the server verifies (on drop, or with
/// [`verify`](crate::MockChatServer::verify)), every turn must have been reached, or the
/// report says `turn 2 was never reached`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use chatmock::{matchers, Conversation, MockChatServer, Reply, ToolCall};
/// use serde_json::json;
///
/// let server = MockChatServer::start().await;
/// Conversation::new()
///     .and(matchers::declares_tool("get_weather"))
///     .turn(Reply::tool_call(
///         ToolCall::function("get_weather", json!({ "city": "Paris" })).with_id("call_1"),
///     ))
///     .turn(Reply::text("It is 18°C in Paris."))
///     .named("weather agent")
///     .mount(&server)
///     .await;
///
/// let tools = json!([{ "type": "function", "function": { "name": "get_weather" } }]);
/// let client = reqwest::Client::new();
/// let url = format!("{}/chat/completions", server.openai_base_url());
/// let mut messages = vec![json!({ "role": "user", "content": "Weather in Paris?" })];
/// let first: serde_json::Value = client.post(&url)
///     .json(&json!({ "model": "gpt-4o", "messages": messages, "tools": tools }))
///     .send().await.unwrap().json().await.unwrap();
/// let message = &first["choices"][0]["message"];
/// assert_eq!(message["tool_calls"][0]["id"], "call_1");
///
/// messages.push(message.clone());
/// messages.push(json!({ "role": "tool", "tool_call_id": "call_1", "content": "18" }));
/// let second: serde_json::Value = client.post(&url)
///     .json(&json!({ "model": "gpt-4o", "messages": messages, "tools": tools }))
///     .send().await.unwrap().json().await.unwrap();
/// assert_eq!(second["choices"][0]["message"]["content"], "It is 18°C in Paris.");
/// // Dropping `server` checks that both turns were reached.
/// # }
/// ```
#[must_use = "a Conversation does nothing until it is mounted on a server"]
pub struct Conversation {
    matchers: Vec<Arc<dyn Match>>,
    turns: Vec<Responder>,
    name: Option<String>,
    priority: Option<u8>,
    wire_format: Option<WireFormat>,
}

impl Default for Conversation {
    fn default() -> Conversation {
        Conversation::new()
    }
}

impl std::fmt::Debug for Conversation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conversation")
            .field("turns", &self.turns.len())
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Conversation {
    /// A conversation of no turns yet, for every chat request; add turns with
    /// [`turn`](Self::turn).
    ///
    /// ```
    /// use chatmock::{Conversation, Reply};
    ///
    /// let conversation = Conversation::new().turn(Reply::text("Hi!"));
    /// # drop(conversation);
    /// ```
    pub fn new() -> Conversation {
        Conversation {
            matchers: Vec::new(),
            turns: Vec::new(),
            name: None,
            priority: None,
            wire_format: None,
        }
    }

    /// Answers the next turn with `responder`: a [`Reply`], or a closure that computes
    /// one from the request (see [`Respond`]).
    ///
    /// ```
    /// use chatmock::{Conversation, ReceivedRequest, Reply, ToolCall};
    /// use serde_json::json;
    ///
    /// let conversation = Conversation::new()
    ///     .turn(Reply::tool_call(ToolCall::function("get_time", json!({}))))
    ///     .turn(|request: &ReceivedRequest| {
    ///         let chat = request.chat().unwrap();
    ///         let time = chat.latest_tool_results().next().map_or("unknown", |r| r.content());
    ///         Reply::text(format!("It is {time}."))
    ///     });
    /// # drop(conversation);
    /// ```
    pub fn turn(mut self, responder: impl Respond + 'static) -> Conversation {
        self.turns.push(Responder::new(responder));
        self
    }

    /// Answers only requests that `matcher` also accepts, as
    /// [`MockBuilder::and`] does for a mock: to tell two conversations apart by model,
    /// system prompt or declared tools.
    ///
    /// ```
    /// use chatmock::{matchers, Conversation, Reply};
    ///
    /// let conversation = Conversation::new()
    ///     .and(matchers::system_prompt_contains("You are a travel agent"))
    ///     .turn(Reply::text("Where to?"));
    /// # drop(conversation);
    /// ```
    pub fn and(mut self, matcher: impl Match + 'static) -> Conversation {
        self.matchers.push(Arc::new(matcher));
        self
    }

    pub(crate) fn and_all(mut self, matchers: Vec<Arc<dyn Match>>) -> Conversation {
        self.matchers.extend(matchers);
        self
    }

    /// Names the conversation, so reports say which one failed.
    ///
    /// ```
    /// use chatmock::{Conversation, Reply};
    ///
    /// let conversation = Conversation::new().turn(Reply::text("Hi!")).named("greeter");
    /// # drop(conversation);
    /// ```
    pub fn named(mut self, name: impl Into<String>) -> Conversation {
        self.name = Some(name.into());
        self
    }

    /// Sets the priority, as [`Mock::with_priority`] does.
    ///
    /// ```
    /// use chatmock::{Conversation, Reply};
    ///
    /// let conversation = Conversation::new().turn(Reply::text("Hi!")).with_priority(1);
    /// # drop(conversation);
    /// ```
    ///
    /// # Panics
    ///
    /// If `priority` is zero.
    #[track_caller]
    pub fn with_priority(mut self, priority: u8) -> Conversation {
        self.priority = Some(enforce(
            "Conversation::with_priority",
            rules::check_priority(priority.into()),
        ));
        self
    }

    /// Frames the replies as `format`, as [`Mock::wire_format`] does.
    ///
    /// ```
    /// use chatmock::{Conversation, Reply, WireFormat};
    ///
    /// let conversation = Conversation::new()
    ///     .turn(Reply::text("Hi!"))
    ///     .wire_format(WireFormat::AnthropicMessages);
    /// # drop(conversation);
    /// ```
    pub fn wire_format(mut self, format: WireFormat) -> Conversation {
        self.wire_format = Some(format);
        self
    }

    /// The conversation as a [`Mock`]: the mock a conversation is mounted as.
    ///
    /// ```
    /// use chatmock::{Conversation, Mock, Reply};
    ///
    /// let mock: Mock = Conversation::new().turn(Reply::text("Hi!")).into_mock();
    /// # drop(mock);
    /// ```
    ///
    /// # Panics
    ///
    /// If the conversation has no turns.
    #[track_caller]
    pub fn into_mock(self) -> Mock {
        let turns = self.turns.len();
        enforce("Conversation", rules::check_turns(turns));
        let mut builder = MockBuilder::new(self.matchers);
        builder = builder.and(matchers::turn_at_most(turns));
        let mut mock = builder.finish(vec![Responder::Computed(Arc::new(ByTurn(self.turns)))]);
        mock.conversation_turns = Some(turns);
        mock.name = self.name;
        mock.wire_format = self.wire_format;
        if let Some(priority) = self.priority {
            mock.priority = priority;
        }
        mock
    }
}

impl From<Conversation> for Mock {
    #[track_caller]
    fn from(conversation: Conversation) -> Mock {
        conversation.into_mock()
    }
}

/// Answers each request with the responder of its turn.
struct ByTurn(Vec<Responder>);

impl Respond for ByTurn {
    fn respond(&self, request: &ReceivedRequest) -> Reply {
        let turn = request.chat().map_or(1, |chat| chat.turn());
        // The conversation's matcher lets through only turns it scripts.
        let responder = &self.0[turn.clamp(1, self.0.len()) - 1];
        match responder {
            Responder::Fixed(reply) => Reply::clone(reply),
            Responder::Computed(responder) => responder.respond(request),
        }
    }
}
