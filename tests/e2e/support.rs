//! Small clients and parsers shared by the tests.

use std::convert::Infallible;
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
