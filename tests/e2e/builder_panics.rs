//! A mis-built scenario panics at the line of the test that builds it, not inside chatmock:
//! every builder that can panic is `#[track_caller]`, and so is every helper between it and
//! the panic. The panic's message is the rule's, after the builder's name.

use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;
use std::time::Duration;

use chatmock::{
    matchers, Chaos, Jitter, Mock, MockChatServer, RateLimit, Reply, Step, StreamError, ToolCall,
};
use serde_json::json;

use crate::support::{chat_body, chunks, content_of, post_chat};

thread_local! {
    /// While a test on this thread captures panics: where the last one happened.
    static CAPTURED: RefCell<Option<Option<(String, u32)>>> = const { RefCell::new(None) };
}

/// Installs, once for the whole test binary, a panic hook that records the location of a
/// panic on a thread that is capturing, and leaves every other panic to the default hook:
/// tests run in parallel, and their panics must still be reported.
fn install_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let location = info
                .location()
                .map(|location| (location.file().to_owned(), location.line()));
            let captured = CAPTURED.with(|captured| match captured.borrow_mut().as_mut() {
                Some(slot) => {
                    *slot = location;
                    true
                }
                None => false,
            });
            if !captured {
                default(info);
            }
        }));
    });
}

/// The file, line and message of the panic `build` raises.
fn panic_of(build: impl FnOnce()) -> (String, u32, String) {
    install_hook();
    CAPTURED.with(|captured| *captured.borrow_mut() = Some(None));
    let outcome = panic::catch_unwind(AssertUnwindSafe(build));
    let location = CAPTURED.with(|captured| captured.borrow_mut().take().flatten());
    let payload = outcome.expect_err("the builder panics");
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| {
            payload
                .downcast_ref::<&str>()
                .map(|text| (*text).to_owned())
        })
        .unwrap_or_default();
    let (file, line) = location.expect("the panic has a location");
    (file, line, message)
}

#[tokio::test]
async fn a_mis_built_scenario_panics_at_the_line_that_builds_it() {
    let server = MockChatServer::start().await;
    let zero = Duration::ZERO;
    let second = Duration::from_secs(1);
    // (what the line at the panic's location contains, the builder, how its message starts)
    type Build = Box<dyn FnOnce()>;
    let cases: Vec<(&str, Build, &str)> = vec![
        (
            ".tokens_per_second(f64::NAN)",
            Box::new(|| drop(Reply::text("Hi").tokens_per_second(f64::NAN))),
            "Reply::tokens_per_second: NaN tokens a second is no rate a stream can play",
        ),
        (
            ".jitter(Jitter::normal(second))",
            Box::new(move || drop(Reply::server_error().jitter(Jitter::normal(second)))),
            "Reply::jitter: this option applies to streamed replies",
        ),
        (
            "RateLimit::per(zero)",
            Box::new(move || {
                let _ = RateLimit::per(zero);
            }),
            "RateLimit::per: a rate-limit window of zero never refills",
        ),
        (
            ".tokens(0)",
            Box::new(|| {
                let _ = RateLimit::per_minute().tokens(0);
            }),
            "RateLimit::tokens: a limit of 0 tokens would refuse every request",
        ),
        (
            ".rate_limit(RateLimit::per_minute())",
            Box::new(|| drop(MockChatServer::builder().rate_limit(RateLimit::per_minute()))),
            "MockChatServerBuilder::rate_limit: this rate limit limits nothing",
        ),
        (
            ".rate_limit(RateLimit::per_minute().shared())",
            Box::new(|| {
                drop(
                    Mock::given(matchers::any())
                        .respond_with(Reply::demo())
                        .rate_limit(RateLimit::per_minute().shared()),
                )
            }),
            "Mock::rate_limit: this rate limit limits nothing",
        ),
        (
            ".stall(-0.1)",
            Box::new(|| drop(Chaos::seeded(1).stall(-0.1))),
            "Chaos::stall: -0.1 is no probability for stall: use a number from 0.0 (never) to \
             1.0 (every request)",
        ),
        (
            ".reset(0.5)",
            Box::new(|| drop(Chaos::seeded(1).disconnect(0.6).reset(0.5))),
            "Chaos::reset: with reset, the faults' probabilities add up to 1.1, more than 1",
        ),
        (
            ".http_error(0.1, 302)",
            Box::new(|| drop(Chaos::seeded(1).http_error(0.1, 302))),
            "Chaos::http_error: 302 is not an HTTP error status",
        ),
        (
            ".keep_alive(zero)",
            Box::new(move || drop(Reply::text("Hi").keep_alive(zero))),
            "Reply::keep_alive: a keep-alive interval of zero",
        ),
        (
            ".fragment_writes(0)",
            Box::new(|| drop(Reply::text("Hi").fragment_writes(0))),
            "Reply::fragment_writes: writes of at most 0 bytes",
        ),
        (
            ".disconnect_after(5)",
            Box::new(|| drop(Reply::text("one two").disconnect_after(5))),
            "Reply::disconnect_after: the script has only 2 tokens",
        ),
        (
            ".stall_after(1)",
            Box::new(|| drop(Reply::text("one two").end_cleanly_after(1).stall_after(1))),
            "Reply::stall_after: this stream already ends with a clean early end \
             (end_cleanly_after) after 1 token",
        ),
        (
            ".token_delay(second)",
            Box::new(move || drop(Reply::rate_limited().token_delay(second))),
            "Reply::token_delay: this option applies to streamed replies",
        ),
        (
            ".thinking(\"Hmm.\")",
            Box::new(|| drop(Reply::server_error().thinking("Hmm."))),
            "Reply::thinking: this option applies to streamed replies",
        ),
        (
            ".usage(chatmock::Usage::default())",
            Box::new(|| drop(Reply::overloaded().usage(chatmock::Usage::default()))),
            "Reply::usage: this option applies to streamed replies",
        ),
        (
            ".retry_after(second)",
            Box::new(move || drop(Reply::text("Hi").retry_after(second))),
            "Reply::retry_after: this option applies to HTTP error replies",
        ),
        (
            "Reply::http_error(302)",
            Box::new(|| drop(Reply::http_error(302))),
            "Reply::http_error: 302 is not an HTTP error status: use one from 400 to 599",
        ),
        (
            ".header(\"x-note\", \"a\\nb\")",
            Box::new(|| drop(Reply::text("Hi").header("x-note", "a\nb"))),
            "Reply::header: \"a\\nb\" is not a valid HTTP header value",
        ),
        (
            ".after(second)",
            Box::new(move || drop(Step::pause(second).after(second))),
            "Step::after: a pause is itself a delay, so it takes no delay of its own: write one \
             pause of 2s (1s + 1s) instead",
        ),
        (
            "ToolCall::function(\"\"",
            Box::new(|| drop(ToolCall::function("", json!({})))),
            "ToolCall::function: the function name is empty",
        ),
        (
            "ToolCall::with_raw_arguments(\"\"",
            Box::new(|| drop(ToolCall::with_raw_arguments("", ["{}"]))),
            "ToolCall::with_raw_arguments: the function name is empty",
        ),
        (
            ".with_status(200)",
            Box::new(|| drop(StreamError::new("Bad.").with_status(200))),
            "StreamError::with_status: 200 is not an HTTP error status",
        ),
        (
            "matchers::path_regex(\"(\")",
            Box::new(|| drop(matchers::path_regex("("))),
            "matchers::path_regex: \"(\" is not a regular expression the regex crate accepts",
        ),
        (
            "matchers::header_regex(\"user-agent\", \"[\")",
            Box::new(|| drop(matchers::header_regex("user-agent", "["))),
            "matchers::header_regex: \"[\" is not a regular expression",
        ),
        (
            "matchers::turn(0)",
            Box::new(|| {
                let _ = matchers::turn(0);
            }),
            "matchers::turn: turns count from 1",
        ),
        (
            "matchers::response_format(\"json\")",
            Box::new(|| drop(matchers::response_format("json"))),
            "matchers::response_format: \"json\" is not a response format: use \"text\", \
             \"json_object\" or \"json_schema\"",
        ),
        (
            "matchers::headers(\"accept\", no_values)",
            Box::new(|| {
                let no_values: [&str; 0] = [];
                drop(matchers::headers("accept", no_values))
            }),
            "matchers::headers: a match on the values of header \"accept\" needs at least one value",
        ),
        (
            "matchers::bearer_token(\"a\\nb\")",
            Box::new(|| drop(matchers::bearer_token("a\nb"))),
            "matchers::bearer_token: \"Bearer a\\nb\" is not a valid HTTP header value",
        ),
        (
            "Conversation::new().into_mock()",
            Box::new(|| drop(chatmock::Conversation::new().into_mock())),
            "Conversation: a conversation needs at least one turn: add the reply of turn 1 with \
             turn(reply)",
        ),
        (
            ".validate_against_request_schema()",
            Box::new(|| drop(Reply::rate_limited().validate_against_request_schema())),
            "Reply::validate_against_request_schema: this option applies to streamed replies",
        ),
        (
            ".respond_with_sequence([])",
            Box::new(|| drop(Mock::given(matchers::any()).respond_with_sequence([]))),
            "MockBuilder::respond_with_sequence: the sequence of replies is empty",
        ),
        (
            ".expect(5..5)",
            Box::new(|| {
                drop(
                    Mock::given(matchers::any())
                        .respond_with(Reply::demo())
                        .expect(5..5),
                )
            }),
            "Mock::expect: no number of requests is at least 5 and at most 4",
        ),
        (
            ".up_to_n_times(0)",
            Box::new(|| {
                drop(
                    Mock::given(matchers::any())
                        .respond_with(Reply::demo())
                        .up_to_n_times(0),
                )
            }),
            "Mock::up_to_n_times: a mock limited to 0 matches can never match",
        ),
        (
            ".with_priority(0)",
            Box::new(|| {
                drop(
                    Mock::given(matchers::any())
                        .respond_with(Reply::demo())
                        .with_priority(0),
                )
            }),
            "Mock::with_priority: 0 is not a priority",
        ),
        (
            "matchers::method(\"GE T\")",
            Box::new(|| drop(matchers::method("GE T"))),
            "matchers::method: \"GE T\" is not an HTTP method name",
        ),
        (
            "matchers::path(\"chat\")",
            Box::new(|| drop(matchers::path("chat"))),
            "matchers::path: \"chat\" can never match, as request paths start with '/': write \
             \"/chat\"",
        ),
        (
            "matchers::header(\"x y\", \"1\")",
            Box::new(|| drop(matchers::header("x y", "1"))),
            "matchers::header: \"x y\" is not a valid HTTP header name",
        ),
        (
            "matchers::header_exists(\"\")",
            Box::new(|| drop(matchers::header_exists(""))),
            "matchers::header_exists: \"\" is not a valid HTTP header name",
        ),
    ];

    let source: Vec<&str> = include_str!("builder_panics.rs").lines().collect();
    for (call, build, message) in cases {
        let (file, line, panic_message) = panic_of(build);
        assert!(
            file.ends_with("builder_panics.rs"),
            "{call} panics at {file}:{line}, not in the test"
        );
        let written = source.get(line as usize - 1).copied().unwrap_or_default();
        assert!(
            written.contains(call),
            "{call} panics at line {line}, which is `{}`",
            written.trim()
        );
        assert!(
            panic_message.starts_with(message),
            "{call}: {panic_message}"
        );
    }

    // Building mistakes touch no server: this one still answers a well-built mock.
    Mock::given(matchers::path("/v1/chat/completions"))
        .and(matchers::header_exists("content-type"))
        .respond_with(Reply::text("Still here.").keep_alive(second))
        .expect(1)
        .mount(&server)
        .await;
    let response = post_chat(&server, chat_body("m", "Hi", true)).await;
    assert_eq!(response.status(), 200);
    let body = response.bytes().await.unwrap();
    assert_eq!(content_of(&chunks(&body).await), "Still here.");
}
