//! Mocks: a set of matchers, the reply for requests they match, and expectations on how
//! many requests that should be.

use std::fmt;
use std::ops::{Range, RangeFrom, RangeFull, RangeInclusive, RangeTo, RangeToInclusive};
use std::sync::Arc;

use super::respond::{Respond, Responder};
use crate::request::ReceivedRequest;
use crate::script::rules::{self, enforce};
use crate::script::Reply;
use crate::traffic::{Chaos, RateLimit};
use crate::wire::WireFormat;

/// Anything that can decide whether a request matches.
///
/// Ready-made matchers live in [`matchers`](crate::matchers). Any closure
/// `Fn(&ReceivedRequest) -> bool` is a matcher too.
///
/// A matcher must be free of side effects (no counting, no state): every mounted mock's
/// matchers are evaluated for every request, in any order, and again when a 404 or a
/// verification report explains which matcher failed. Count turns with
/// [`matchers::turn`](crate::matchers::turn), or answer them with a
/// [`Conversation`](crate::Conversation), instead of counting in a closure.
///
/// [`describe`](Self::describe) and [`explain_mismatch`](Self::explain_mismatch) are what
/// reports say about the matcher; a matcher of your own may give them, as the ready-made
/// ones do.
///
/// ```
/// use chatmock::{Mock, ReceivedRequest, Reply};
///
/// let long_conversations = |request: &ReceivedRequest| {
///     request.chat().is_some_and(|chat| chat.messages().len() > 10)
/// };
/// let mock = Mock::given(long_conversations).respond_with(Reply::text("Let me summarise."));
/// # drop(mock);
/// ```
pub trait Match: Send + Sync {
    /// Whether `request` matches.
    fn matches(&self, request: &ReceivedRequest) -> bool;

    /// How the matcher reads in reports, as its constructor is written:
    /// `` `model("gpt-4o")` ``. By default `a custom matcher`.
    ///
    /// ```
    /// use chatmock::{matchers, Match};
    ///
    /// assert_eq!(matchers::model("gpt-4o").describe(), r#"`model("gpt-4o")`"#);
    /// ```
    fn describe(&self) -> String {
        "a custom matcher".to_owned()
    }

    /// What `request` had instead, for a request the matcher rejects: `the model was
    /// "gpt-4o-mini"`. `None` (the default) when there is nothing more to say.
    ///
    /// ```
    /// use chatmock::{Match, ReceivedRequest};
    ///
    /// /// Matches conversations of more than `0` messages.
    /// struct LongerThan(usize);
    ///
    /// impl Match for LongerThan {
    ///     fn matches(&self, request: &ReceivedRequest) -> bool {
    ///         request.chat().is_some_and(|chat| chat.messages().len() > self.0)
    ///     }
    ///     fn describe(&self) -> String {
    ///         format!("`LongerThan({})`", self.0)
    ///     }
    ///     fn explain_mismatch(&self, request: &ReceivedRequest) -> Option<String> {
    ///         let messages = request.chat().map_or(0, |chat| chat.messages().len());
    ///         Some(format!("the request has {messages} messages"))
    ///     }
    /// }
    /// // A 404 then reads: ... `LongerThan(10)` did not: the request has 2 messages.
    /// # let _ = LongerThan(10).describe();
    /// ```
    fn explain_mismatch(&self, request: &ReceivedRequest) -> Option<String> {
        let _ = request;
        None
    }
}

impl<F> Match for F
where
    F: Fn(&ReceivedRequest) -> bool + Send + Sync,
{
    fn matches(&self, request: &ReceivedRequest) -> bool {
        self(request)
    }

    fn describe(&self) -> String {
        "a closure matcher".to_owned()
    }
}

/// How many requests a mock expects to match, set with [`Mock::expect`].
///
/// Built from an exact count (`3`) or any range (`1..`, `..=2`, `2..5`, `..`). An empty
/// range (`3..1`) is a mistake that [`Mock::expect`] rejects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Times {
    min: u64,
    /// Exclusive; `None` is unbounded.
    end: Option<u64>,
}

impl Times {
    /// `end` is exclusive; an inclusive bound of `u64::MAX` overflows to "unbounded",
    /// which no test can tell apart.
    fn new(min: u64, end: Option<u64>) -> Times {
        Times { min, end }
    }

    pub(crate) fn contains(&self, count: u64) -> bool {
        count >= self.min && self.end.is_none_or(|end| count < end)
    }
}

impl fmt::Display for Times {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.min, self.end) {
            (min, Some(end)) if end <= min => write!(f, "at least {min} and fewer than {end}"),
            (min, Some(end)) if end == min + 1 => write!(f, "exactly {min}"),
            (0, Some(end)) => write!(f, "at most {}", end - 1),
            (min, None) => write!(f, "at least {min}"),
            (min, Some(end)) => write!(f, "between {min} and {}", end - 1),
        }
    }
}

impl From<u64> for Times {
    fn from(exactly: u64) -> Times {
        Times::new(exactly, exactly.checked_add(1))
    }
}

impl From<Range<u64>> for Times {
    fn from(range: Range<u64>) -> Times {
        Times::new(range.start, Some(range.end))
    }
}

impl From<RangeInclusive<u64>> for Times {
    fn from(range: RangeInclusive<u64>) -> Times {
        Times::new(*range.start(), range.end().checked_add(1))
    }
}

impl From<RangeFrom<u64>> for Times {
    fn from(range: RangeFrom<u64>) -> Times {
        Times::new(range.start, None)
    }
}

impl From<RangeTo<u64>> for Times {
    fn from(range: RangeTo<u64>) -> Times {
        Times::new(0, Some(range.end))
    }
}

impl From<RangeToInclusive<u64>> for Times {
    fn from(range: RangeToInclusive<u64>) -> Times {
        Times::new(0, range.end.checked_add(1))
    }
}

impl From<RangeFull> for Times {
    fn from(_: RangeFull) -> Times {
        Times { min: 0, end: None }
    }
}

/// The first half of a [`Mock`]: its matchers. Finish it with
/// [`respond_with`](Self::respond_with).
#[must_use = "a MockBuilder does nothing until respond_with() turns it into a Mock"]
pub struct MockBuilder {
    matchers: Vec<Arc<dyn Match>>,
    models: Vec<String>,
}

impl MockBuilder {
    pub(crate) fn new(matchers: Vec<Arc<dyn Match>>) -> MockBuilder {
        MockBuilder {
            matchers,
            models: Vec::new(),
        }
    }

    pub(crate) fn into_matchers(self) -> Vec<Arc<dyn Match>> {
        self.matchers
    }

    /// Adds a matcher: the mock matches only requests that every matcher accepts.
    pub fn and(mut self, matcher: impl Match + 'static) -> MockBuilder {
        self.models.extend(model_of(&matcher));
        self.matchers.push(Arc::new(matcher));
        self
    }

    /// Completes the mock: matching requests get what `responder` answers. A [`Reply`]
    /// answers every request the same; a closure `Fn(&ReceivedRequest) -> Reply` (or
    /// anything else implementing [`Respond`]) computes the reply from the request.
    ///
    /// ```
    /// use chatmock::{matchers, Mock, Reply};
    ///
    /// let mock = Mock::given(matchers::any()).respond_with(Reply::text("Hi!"));
    /// # drop(mock);
    /// ```
    pub fn respond_with(self, responder: impl Respond + 'static) -> Mock {
        self.finish(vec![Responder::new(responder)])
    }

    /// Completes the mock with a reply computed from each matching request: echo the
    /// user's message, answer by the tool result, count the turns of the conversation.
    /// The same as [`respond_with`](Self::respond_with) with a closure, with the
    /// closure's argument type spelled out for you.
    ///
    /// A responder that panics answers its request with a 500 that names the panic, and
    /// the panic fails the test when the server verifies (on drop, or
    /// [`verify`](crate::MockChatServer::verify)), so a client that retries the 500 cannot
    /// hide it.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use chatmock::{matchers, Mock, MockChatServer, Reply};
    ///
    /// let server = MockChatServer::start().await;
    /// Mock::given(matchers::any())
    ///     .respond_with_fn(|request| {
    ///         let chat = request.chat().expect("a chat request");
    ///         Reply::text(format!("You said: {}", chat.last_user_message().unwrap_or("")))
    ///     })
    ///     .mount(&server)
    ///     .await;
    ///
    /// let body = r#"{"model":"gpt-4o","messages":[{"role":"user","content":"Hello"}]}"#;
    /// let url = format!("{}/chat/completions", server.openai_base_url());
    /// let response = reqwest::Client::new().post(url).body(body).send().await.unwrap();
    /// let json: serde_json::Value = response.json().await.unwrap();
    /// assert_eq!(json["choices"][0]["message"]["content"], "You said: Hello");
    /// # }
    /// ```
    pub fn respond_with_fn<F>(self, responder: F) -> Mock
    where
        F: Fn(&ReceivedRequest) -> Reply + Send + Sync + 'static,
    {
        self.respond_with(responder)
    }

    /// Completes the mock with replies for successive matches: the first matching request
    /// gets the first reply, the second the second, and so on; once the list is used up,
    /// the last reply answers every further match. The shape of a retry test: fail first,
    /// then succeed.
    ///
    /// ```
    /// use chatmock::{matchers, Mock, Reply};
    /// use std::time::Duration;
    ///
    /// let flaky = Mock::given(matchers::any()).respond_with_sequence([
    ///     Reply::rate_limited().retry_after(Duration::from_secs(1)),
    ///     Reply::text("Hello").disconnect_after(1),
    ///     Reply::text("Hello again, in full"),
    /// ]);
    /// # drop(flaky);
    /// ```
    ///
    /// # Panics
    ///
    /// If `replies` is empty.
    #[track_caller]
    pub fn respond_with_sequence(self, replies: impl IntoIterator<Item = Reply>) -> Mock {
        let replies: Vec<Responder> = replies.into_iter().map(Responder::new).collect();
        enforce(
            "MockBuilder::respond_with_sequence",
            rules::check_sequence(replies.len()),
        );
        self.finish(replies)
    }

    pub(crate) fn finish(self, responders: Vec<Responder>) -> Mock {
        Mock {
            matchers: self.matchers,
            models: self.models,
            responders,
            expectation: Times::from(..),
            expectation_set: false,
            max_matches: None,
            name: None,
            priority: DEFAULT_PRIORITY,
            wire_format: None,
            rate_limit: None,
            chaos: None,
            conversation_turns: None,
        }
    }
}

/// The model a matcher requires, if it is a [`matchers::model`](crate::matchers::model).
fn model_of(matcher: &dyn std::any::Any) -> Option<String> {
    matcher
        .downcast_ref::<crate::matchers::ModelMatcher>()
        .map(|model| model.model().to_owned())
}

/// Priority of a mock that was not given one: wiremock's default, so priorities read the
/// same in both crates.
const DEFAULT_PRIORITY: u8 = 5;

/// A mock: which requests it matches, how it replies, and what it expects.
///
/// Mocks are checked by [priority](Self::with_priority) (1 first), then in the order they
/// were mounted; the first that matches replies.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use chatmock::{matchers, Mock, MockChatServer, Reply};
///
/// let server = MockChatServer::start().await;
/// Mock::given(matchers::model("gpt-4o"))
///     .and(matchers::last_user_message_contains("weather"))
///     .respond_with(Reply::text("It is sunny."))
///     .named("weather question")
///     .expect(1)
///     .mount(&server)
///     .await;
///
/// let body = r#"{"model":"gpt-4o","messages":[{"role":"user","content":"What's the weather?"}]}"#;
/// let url = format!("{}/chat/completions", server.openai_base_url());
/// let response = reqwest::Client::new().post(url).body(body).send().await.unwrap();
/// let json: serde_json::Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
/// assert_eq!(json["choices"][0]["message"]["content"], "It is sunny.");
/// // When `server` is dropped, the mock checks that it matched exactly once.
/// # }
/// ```
#[derive(Clone)]
#[must_use = "a Mock does nothing until it is mounted on a server"]
pub struct Mock {
    pub(crate) matchers: Vec<Arc<dyn Match>>,
    /// The models its [`matchers::model`](crate::matchers::model) matchers name, which
    /// the model-list endpoints serve.
    pub(crate) models: Vec<String>,
    /// Answer successive matches; the last one repeats.
    pub(crate) responders: Vec<Responder>,
    pub(crate) expectation: Times,
    pub(crate) expectation_set: bool,
    pub(crate) max_matches: Option<u64>,
    pub(crate) name: Option<String>,
    pub(crate) priority: u8,
    pub(crate) wire_format: Option<WireFormat>,
    /// Buckets of its own, made when it is mounted.
    pub(crate) rate_limit: Option<RateLimit>,
    pub(crate) chaos: Option<Arc<Chaos>>,
    /// For a [`Conversation`](crate::Conversation): how many turns it scripts, each of
    /// which verification checks was reached.
    pub(crate) conversation_turns: Option<usize>,
}

impl fmt::Debug for Mock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mock")
            .field(
                "matchers",
                &self
                    .matchers
                    .iter()
                    .map(|m| m.describe())
                    .collect::<Vec<_>>(),
            )
            .field("responders", &self.responders.len())
            .field("expectation", &self.expectation)
            .field("max_matches", &self.max_matches)
            .field("name", &self.name)
            .field("priority", &self.priority)
            .field("wire_format", &self.wire_format)
            .field("rate_limit", &self.rate_limit)
            .field("chaos", &self.chaos)
            .finish()
    }
}

impl Mock {
    /// Starts a mock with its first matcher.
    pub fn given(matcher: impl Match + 'static) -> MockBuilder {
        MockBuilder {
            models: model_of(&matcher).into_iter().collect(),
            matchers: vec![Arc::new(matcher)],
        }
    }

    /// Expects the mock to match this many requests: an exact count or a range.
    /// The expectation is checked when the server is dropped (or on
    /// [`MockChatServer::verify`](crate::MockChatServer::verify)); a mock without one is never checked.
    ///
    /// ```
    /// use chatmock::{matchers, Mock, Reply};
    ///
    /// let exactly_twice = Mock::given(matchers::any()).respond_with(Reply::demo()).expect(2);
    /// let at_least_once = Mock::given(matchers::any()).respond_with(Reply::demo()).expect(1..);
    /// # drop((exactly_twice, at_least_once));
    /// ```
    ///
    /// # Panics
    ///
    /// If the range is empty (`3..1`), so that no number of requests could meet it.
    #[track_caller]
    pub fn expect(mut self, times: impl Into<Times>) -> Mock {
        let times = times.into();
        enforce(
            "Mock::expect",
            rules::check_expectation(times.min, times.end),
        );
        self.expectation = times;
        self.expectation_set = true;
        self
    }

    /// Stops matching after `n` requests, letting later requests fall through to other
    /// mocks: the way to answer the first attempt one way and retries another.
    ///
    /// # Panics
    ///
    /// If `n` is zero: such a mock could never match.
    #[track_caller]
    pub fn up_to_n_times(mut self, n: u64) -> Mock {
        enforce("Mock::up_to_n_times", rules::check_up_to_n_times(n));
        self.max_matches = Some(n);
        self
    }

    /// Names the mock, so verification reports say which mock failed.
    pub fn named(mut self, name: impl Into<String>) -> Mock {
        self.name = Some(name.into());
        self
    }

    /// Sets the priority: mocks with a smaller number are checked first. The default is
    /// 5; mocks with equal priority are checked in mount order.
    ///
    /// # Panics
    ///
    /// If `priority` is zero: priorities start at 1 (the highest).
    #[track_caller]
    pub fn with_priority(mut self, priority: u8) -> Mock {
        self.priority = enforce(
            "Mock::with_priority",
            rules::check_priority(priority.into()),
        );
        self
    }

    /// Frames this mock's replies as `format`, whatever path the request called: for a
    /// client that reaches a provider through a gateway or proxy path of its own. By
    /// default a reply takes the format of the endpoint called (and OpenAI Chat
    /// Completions on any other path).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use chatmock::{matchers, Mock, MockChatServer, Reply, WireFormat};
    ///
    /// let server = MockChatServer::start().await;
    /// Mock::given(matchers::path("/ollama/api/chat"))
    ///     .respond_with(Reply::text("Hi!"))
    ///     .wire_format(WireFormat::Ollama)
    ///     .mount(&server)
    ///     .await;
    ///
    /// let body = r#"{"model":"llama3.2","messages":[],"stream":false}"#;
    /// let url = format!("{}/ollama/api/chat", server.uri());
    /// let response = reqwest::Client::new().post(url).body(body).send().await.unwrap();
    /// let json: serde_json::Value = response.json().await.unwrap();
    /// assert_eq!(json["message"]["content"], "Hi!");
    /// assert_eq!(json["done"], true);
    /// # }
    /// ```
    pub fn wire_format(mut self, format: WireFormat) -> Mock {
        self.wire_format = Some(format);
        self
    }

    /// Limits the requests this mock answers, with buckets of its own (made when it is
    /// mounted, so each mount starts full), on top of any limit of the server's: see
    /// [`RateLimit`]. A request the buckets refuse gets the provider's 429 and still
    /// counts as matched by this mock.
    ///
    /// ```
    /// use chatmock::{matchers, Mock, RateLimit, Reply};
    ///
    /// let mock = Mock::given(matchers::model("gpt-4o"))
    ///     .respond_with(Reply::text("Hi!"))
    ///     .rate_limit(RateLimit::per_minute().requests(2));
    /// # drop(mock);
    /// ```
    ///
    /// # Panics
    ///
    /// If the limit limits nothing (no requests, tokens, input or output tokens set).
    #[track_caller]
    pub fn rate_limit(mut self, limit: RateLimit) -> Mock {
        enforce("Mock::rate_limit", limit.check());
        self.rate_limit = Some(limit);
        self
    }

    /// Strikes this mock's requests with seeded faults (see [`Chaos`]), counting them
    /// per mount; it replaces the server's chaos for them.
    ///
    /// ```
    /// use chatmock::{matchers, Chaos, Mock, Reply};
    ///
    /// let mock = Mock::given(matchers::any())
    ///     .respond_with(Reply::text("Sometimes whole."))
    ///     .chaos(Chaos::seeded(3).disconnect(0.2));
    /// # drop(mock);
    /// ```
    pub fn chaos(mut self, chaos: Chaos) -> Mock {
        self.chaos = Some(Arc::new(chaos));
        self
    }
}
