//! Small clients and parsers shared by the tests.

use std::convert::Infallible;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use chatmock::MockChatServer;
use eventsource_stream::{Event, Eventsource};
use futures::StreamExt;
use serde_json::{json, Value};

/// A chat request body with one user message.
pub fn chat_body(model: &str, user_message: &str, stream: bool) -> String {
    json!({
        "model": model,
        "messages": [{ "role": "user", "content": user_message }],
        "stream": stream
    })
    .to_string()
}

pub fn chat_url(server: &MockChatServer) -> String {
    format!("{}/chat/completions", server.openai_base_url())
}

/// POSTs `body` to the server's chat endpoint.
pub async fn post_chat(server: &MockChatServer, body: impl Into<String>) -> reqwest::Response {
    reqwest::Client::new()
        .post(chat_url(server))
        .header("content-type", "application/json")
        .body(body.into())
        .send()
        .await
        .expect("the server answers")
}

/// Parses a complete SSE body with a spec-compliant parser (the one async-openai uses).
pub async fn parse_sse(body: &[u8]) -> Vec<Event> {
    let chunks = futures::stream::iter([Ok::<_, Infallible>(body.to_vec())]);
    chunks
        .eventsource()
        .map(|event| event.expect("the body is valid SSE"))
        .collect()
        .await
}

/// The `data` of every SSE event in the body, parsed as JSON where it is JSON.
pub async fn chunks(body: &[u8]) -> Vec<Value> {
    parse_sse(body)
        .await
        .into_iter()
        .map(|event| serde_json::from_str(&event.data).unwrap_or(Value::String(event.data)))
        .collect()
}

/// The concatenated `delta.content` of chat chunks.
pub fn content_of(chunks: &[Value]) -> String {
    chunks
        .iter()
        .filter_map(|chunk| chunk["choices"][0]["delta"]["content"].as_str())
        .collect()
}

/// Reads a streamed response, returning each body chunk with the time it arrived,
/// counted from `since`.
pub async fn timed_chunks(response: reqwest::Response, since: Instant) -> Vec<(Duration, String)> {
    let mut stream = response.bytes_stream();
    let mut arrivals = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.expect("the stream is readable");
        arrivals.push((
            since.elapsed(),
            String::from_utf8_lossy(&chunk).into_owned(),
        ));
    }
    arrivals
}

/// Reads a streamed body until it fails, returning what arrived and the error: for
/// bodies a test expects to break (a read timeout against a stall, a cut).
pub async fn read_until_error(
    body: &mut (impl futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
) -> (Vec<u8>, reqwest::Error) {
    let mut received = Vec::new();
    loop {
        match body.next().await {
            Some(Ok(bytes)) => received.extend_from_slice(&bytes),
            Some(Err(error)) => return (received, error),
            None => panic!("the body ended without an error: {received:?}"),
        }
    }
}

/// Asserts that `actual` lies in `range`, naming `what` on failure. Ranges are generous:
/// the suite must pass on a loaded 2-core machine.
pub fn assert_between(what: &str, actual: Duration, low: Duration, high: Duration) {
    assert!(
        actual >= low && actual <= high,
        "{what}: {actual:?} is not between {low:?} and {high:?}"
    );
}

pub fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

/// One request to one wire format's endpoint.
pub struct FormatCase {
    pub name: &'static str,
    pub method: &'static str,
    /// With its query, if any.
    pub path: &'static str,
    pub body: String,
    /// Whether the reply comes as a stream.
    pub streams: bool,
}

/// A request to every wire format, streamed and not, in the shape its clients send.
pub fn every_format() -> Vec<FormatCase> {
    let chat = |stream: bool| chat_body("gpt-4o", "Hi", stream);
    let anthropic = |stream: bool| {
        json!({
            "model": "claude-sonnet-4-5", "max_tokens": 64, "stream": stream,
            "messages": [{ "role": "user", "content": "Hi" }]
        })
        .to_string()
    };
    let responses =
        |stream: bool| json!({ "model": "gpt-4o", "input": "Hi", "stream": stream }).to_string();
    let gemini = json!({ "contents": [{ "parts": [{ "text": "Hi" }] }] }).to_string();
    let ollama = |stream: bool| {
        json!({
            "model": "llama3.2", "stream": stream,
            "messages": [{ "role": "user", "content": "Hi" }]
        })
        .to_string()
    };
    let case = |name, method, path, body, streams| FormatCase {
        name,
        method,
        path,
        body,
        streams,
    };
    vec![
        case(
            "chat stream",
            "POST",
            "/v1/chat/completions",
            chat(true),
            true,
        ),
        case(
            "chat complete",
            "POST",
            "/v1/chat/completions",
            chat(false),
            false,
        ),
        case(
            "responses stream",
            "POST",
            "/v1/responses",
            responses(true),
            true,
        ),
        case(
            "responses complete",
            "POST",
            "/v1/responses",
            responses(false),
            false,
        ),
        case(
            "anthropic stream",
            "POST",
            "/v1/messages",
            anthropic(true),
            true,
        ),
        case(
            "anthropic complete",
            "POST",
            "/v1/messages",
            anthropic(false),
            false,
        ),
        case(
            "gemini sse",
            "POST",
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
            gemini.clone(),
            true,
        ),
        case(
            "gemini array",
            "POST",
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
            gemini.clone(),
            true,
        ),
        case(
            "gemini complete",
            "POST",
            "/v1beta/models/gemini-2.5-flash:generateContent",
            gemini,
            false,
        ),
        case("ollama stream", "POST", "/api/chat", ollama(true), true),
        case("ollama complete", "POST", "/api/chat", ollama(false), false),
        case("plain text", "GET", "/stream", String::new(), true),
    ]
}

/// Reports a client the test needs and the machine lacks. Under CI (`CI=true`), which must
/// test everything, that fails the test. Elsewhere, as on a newcomer's first `cargo test`
/// with only the Rust toolchain, the test is skipped with one line on the terminal (past
/// the test harness's capture) that says how to install the client.
pub fn missing_client(message: &str) {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{message}");
    }
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "skipped: {message}");
}

/// Drops the server and returns the panic message its verification raised, if any.
pub fn verification_failure(server: MockChatServer) -> Option<String> {
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| drop(server)));
    outcome.err().map(|panic| {
        panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|text| (*text).to_owned()))
            .unwrap_or_default()
    })
}
