//! Fixture files: the example fixtures served over HTTP, fixture-built replies against
//! their builder-built twins (as values and as bytes on the wire), mocks and expectations
//! from JSON, and the errors bad fixtures produce.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use chatmock::{
    matchers, CutKind, Fixture, Jitter, Mock, MockChatServer, MockChatServerBuilder, Reply, Step,
    StreamError, StreamOutcome, Thinking, ToolCall, Usage, WireFormat,
};
use futures::StreamExt;
use serde_json::{json, Value};

use crate::support::{chat_body, chunks, content_of, ms, parse_sse, post_chat};

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples/fixtures")
        .join(name)
}

async fn start_with(fixture: Fixture) -> MockChatServer {
    MockChatServer::builder().fixture(fixture).start().await
}

/// The streamed tool calls of chat chunks: (id, name, concatenated arguments) per index.
fn tool_calls_of(chunks: &[Value]) -> Vec<(String, String, String)> {
    let mut calls: Vec<(String, String, String)> = Vec::new();
    for chunk in chunks {
        let Some(deltas) = chunk["choices"][0]["delta"]["tool_calls"].as_array() else {
            continue;
        };
        for delta in deltas {
            let index = delta["index"].as_u64().unwrap() as usize;
            if index == calls.len() {
                calls.push(Default::default());
            }
            let call = &mut calls[index];
            if let Some(id) = delta["id"].as_str() {
                call.0 = id.to_owned();
            }
            if let Some(name) = delta["function"]["name"].as_str() {
                call.1 = name.to_owned();
            }
            if let Some(arguments) = delta["function"]["arguments"].as_str() {
                call.2.push_str(arguments);
            }
        }
    }
    calls
}

fn finish_reason_of(chunks: &[Value]) -> Option<&str> {
    chunks
        .iter()
        .find_map(|chunk| chunk["choices"][0]["finish_reason"].as_str())
}

// --- The example fixtures ---------------------------------------------------------------

#[tokio::test]
async fn the_weather_example_calls_a_tool_then_answers_the_follow_up() {
    let server = start_with(Fixture::load(example("weather.json")).unwrap()).await;

    // The question: the model calls get_weather.
    let question = json!({ "role": "user", "content": "What's the weather in Paris?" });
    let first = json!({ "model": "gpt-4o", "messages": [question], "stream": true });
    let body = post_chat(&server, first.to_string())
        .await
        .bytes()
        .await
        .unwrap();
    let first_chunks = chunks(&body).await;
    let calls = tool_calls_of(&first_chunks);
    assert_eq!(
        calls,
        [(
            "call_weather_paris".to_owned(),
            "get_weather".to_owned(),
            r#"{"city":"Paris","unit":"celsius"}"#.to_owned()
        )]
    );
    assert_eq!(finish_reason_of(&first_chunks), Some("tool_calls"));

    // The follow-up carries the tool's result: the model answers in text.
    let follow_up = json!({
        "model": "gpt-4o",
        "stream": true,
        "messages": [
            question,
            { "role": "assistant", "content": null, "tool_calls": [{
                "id": "call_weather_paris", "type": "function",
                "function": { "name": "get_weather", "arguments": calls[0].2 }
            }] },
            { "role": "tool", "tool_call_id": "call_weather_paris", "content": "{\"temp_c\": 18}" }
        ]
    });
    let body = post_chat(&server, follow_up.to_string())
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(
        content_of(&chunks(&body).await),
        "It is 18 °C and sunny in Paris right now."
    );

    // gpt-4o-mini is rate limited, whatever it is asked.
    let limited = post_chat(
        &server,
        chat_body("gpt-4o-mini", "What's the weather?", true),
    )
    .await;
    assert_eq!(limited.status(), 429);
    assert_eq!(limited.headers()["retry-after"], "2");
    let error: Value = limited.json().await.unwrap();
    assert_eq!(error["error"]["code"], "rate_limit_exceeded");

    // Anything else gets the fallback reply.
    let other = post_chat(&server, chat_body("gpt-4o", "Tell me a joke", false)).await;
    let other: Value = other.json().await.unwrap();
    assert_eq!(
        other["choices"][0]["message"]["content"],
        "I am a mock model. Ask me about the weather!"
    );
}

#[tokio::test]
async fn the_faults_example_scripts_a_disconnect_with_resume_an_error_a_stall_and_a_retry() {
    let server = start_with(Fixture::load(example("faults.json")).unwrap()).await;
    let full = "This answer breaks off after three words, then resumes where it stopped.";

    // fault-disconnect: the body breaks off after three tokens; resuming completes it.
    let response = post_chat(&server, chat_body("fault-disconnect", "x", true)).await;
    let mut received = Vec::new();
    let mut body = response.bytes_stream();
    let broke = loop {
        match body.next().await {
            Some(Ok(bytes)) => received.extend_from_slice(&bytes),
            Some(Err(_)) => break true,
            None => break false,
        }
    };
    assert!(broke, "the body breaks off");
    let events = parse_sse(&received).await;
    let last_id = events.last().unwrap().id.clone();
    assert_eq!(events[0].retry, Some(ms(500)));
    let requests = server.wait_for_streams_to_end().await.unwrap();
    assert_eq!(
        requests[0].stream_outcome(),
        &StreamOutcome::Cut {
            kind: CutKind::Disconnected,
            content_events: 3
        }
    );
    let resumed = reqwest::Client::new()
        .post(crate::support::chat_url(&server))
        .header("last-event-id", last_id)
        .body(chat_body("fault-disconnect", "x", true))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let first_part = content_of(&chunks(&received).await);
    assert_eq!(first_part, "This answer breaks");
    assert_eq!(first_part + &content_of(&chunks(&resumed).await), full);

    // fault-error: two tokens, then the error event and [DONE].
    let body = post_chat(&server, chat_body("fault-error", "x", true))
        .await
        .bytes()
        .await
        .unwrap();
    let error_chunks = chunks(&body).await;
    assert_eq!(content_of(&error_chunks), "Generation fails");
    let error = error_chunks
        .iter()
        .find(|chunk| chunk.get("error").is_some());
    assert_eq!(error.unwrap()["error"]["type"], "server_error");
    assert_eq!(error_chunks.last().unwrap(), "[DONE]");

    // fault-stall: two tokens, then nothing.
    let response = post_chat(&server, chat_body("fault-stall", "x", true)).await;
    let stalled = server
        .wait_until(|requests| {
            requests.last().is_some_and(|request| {
                matches!(request.stream_outcome(), StreamOutcome::Stalled { .. })
            })
        })
        .await
        .unwrap();
    assert_eq!(stalled.last().unwrap().stream_outcome().content_events(), 2);
    drop(response);

    // fault-flaky: 503 first, then the answer.
    let first = post_chat(&server, chat_body("fault-flaky", "x", false)).await;
    assert_eq!(first.status(), 503);
    assert_eq!(first.headers()["retry-after"], "1");
    let second: Value = post_chat(&server, chat_body("fault-flaky", "x", false))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        second["choices"][0]["message"]["content"],
        "Second time lucky."
    );
}

// --- Fixture replies are the builder's replies --------------------------------------------

fn from_json(reply: Value) -> Reply {
    serde_json::from_value(reply.clone())
        .unwrap_or_else(|error| panic!("{reply} does not parse: {error}"))
}

#[test]
fn every_reply_key_builds_the_reply_the_builder_builds() {
    let weather = ToolCall::function("get_weather", json!({ "city": "Paris" }));
    let cases: Vec<(Value, Reply)> = vec![
        (
            json!({ "text": "Hello, world" }),
            Reply::text("Hello, world"),
        ),
        (
            json!({ "tokens": ["a", "", "[DONE]"] }),
            Reply::tokens(["a", "", "[DONE]"]),
        ),
        (json!({ "refusal": "I can't." }), Reply::refusal("I can't.")),
        (
            json!({ "tool_calls": [
                { "name": "get_weather", "arguments": { "city": "Paris" } },
                { "name": "search", "raw_arguments": ["{\"q\": \"ru", "st"], "id": "call_1" },
                { "name": "ping" }
            ] }),
            Reply::tool_calls([
                weather.clone(),
                ToolCall::with_raw_arguments("search", ["{\"q\": \"ru", "st"]).with_id("call_1"),
                ToolCall::function("ping", json!({})),
            ]),
        ),
        (
            json!({ "steps": [
                { "token": "a" },
                { "token": "b", "after": "1.5s" },
                { "refusal": "no", "after": 20 },
                { "tool_call": { "name": "get_weather", "arguments": { "city": "Paris" } } },
                { "pause": "2m" },
                { "comment": "still here" },
                { "raw": "data: {\"half\n\n" },
                { "malformed_chunk": true }
            ] }),
            Reply::steps([
                Step::token("a"),
                Step::token("b").after(Duration::from_millis(1_500)),
                Step::refusal("no").after(ms(20)),
                Step::tool_call(weather.clone()),
                Step::pause(Duration::from_secs(120)),
                Step::comment("still here"),
                Step::raw("data: {\"half\n\n"),
                Step::malformed_chunk(),
            ]),
        ),
        (
            json!({ "text": "a b", "first_token_delay": "250ms", "token_delay": 0.5,
                    "finish_reason": "length", "without_done": true }),
            Reply::text("a b")
                .first_token_delay(ms(250))
                .token_delay(Duration::from_micros(500))
                .finish_reason("length")
                .without_done(),
        ),
        (
            json!({ "text": "a", "without_done": false, "event_ids": false,
                    "crlf_line_endings": false }),
            Reply::text("a"),
        ),
        (
            json!({ "text": "a b c", "event_ids": true, "reconnection_time": "2s",
                    "keep_alive": "0.1s", "crlf_line_endings": true, "fragment_writes": 3,
                    "headers": { "X-One": "1", "x-two": "two" }, "delay_headers": "3ms" }),
            Reply::text("a b c")
                .event_ids()
                .reconnection_time(Duration::from_secs(2))
                .keep_alive(ms(100))
                .crlf_line_endings()
                .fragment_writes(3)
                .header("X-One", "1")
                .header("x-two", "two")
                .delay_headers(ms(3)),
        ),
        (
            json!({ "text": "a b", "end_cleanly_after": 2 }),
            Reply::text("a b").end_cleanly_after(2),
        ),
        (
            json!({ "text": "a b", "disconnect_after": 0 }),
            Reply::text("a b").disconnect_after(0),
        ),
        (
            json!({ "text": "a", "thinking": "Think first.", "reasoning_content": true }),
            Reply::text("a")
                .thinking("Think first.")
                .reasoning_content(),
        ),
        (
            json!({ "text": "a", "thinking": { "text": "Signed.", "signature": "sig" },
                    "reasoning_content": false }),
            Reply::text("a").thinking(Thinking::new("Signed.").with_signature("sig")),
        ),
        (
            json!({ "steps": [
                { "thinking": "Hmm." },
                { "thinking": { "text": "Aha.", "signature": "s1" }, "after": "5ms" },
                { "redacted_thinking": "opaque" },
                { "token": "Done." }
            ] }),
            Reply::steps([
                Step::thinking("Hmm."),
                Step::thinking(Thinking::new("Aha.").with_signature("s1")).after(ms(5)),
                Step::redacted_thinking("opaque"),
                Step::token("Done."),
            ]),
        ),
        (
            json!({ "text": "a", "usage": { "input_tokens": 10, "output_tokens": 5,
                    "reasoning_tokens": 2, "cached_input_tokens": 8,
                    "cache_creation_input_tokens": 1, "total_tokens": 15 } }),
            Reply::text("a").usage(Usage {
                input_tokens: Some(10),
                output_tokens: Some(5),
                reasoning_tokens: Some(2),
                cached_input_tokens: Some(8),
                cache_creation_input_tokens: Some(1),
                total_tokens: Some(15),
            }),
        ),
        (
            json!({ "text": "a", "usage": { "cached_input_tokens": 3 } }),
            Reply::text("a").usage(Usage {
                cached_input_tokens: Some(3),
                ..Usage::default()
            }),
        ),
        (
            json!({ "text": "a b", "reset_connection_after": 1 }),
            Reply::text("a b").reset_connection_after(1),
        ),
        (
            json!({ "text": "a b", "stall_after": 1 }),
            Reply::text("a b").stall_after(1),
        ),
        (
            json!({ "text": "a b", "error_after": { "tokens": 1, "preset": "server_error" } }),
            Reply::text("a b").error_after(1, StreamError::server_error()),
        ),
        (
            json!({ "text": "a b", "error_after": { "tokens": 1, "preset": "overloaded" } }),
            Reply::text("a b").error_after(1, StreamError::overloaded()),
        ),
        (
            json!({ "text": "a b", "error_after": { "tokens": 2, "preset": "rate_limited" } }),
            Reply::text("a b").error_after(2, StreamError::rate_limited()),
        ),
        (
            json!({ "text": "a b", "error_after": { "tokens": 0, "message": "Bad.", "type": "t",
                                                    "code": "c", "param": "p", "status": 504 } }),
            Reply::text("a b").error_after(
                0,
                StreamError::new("Bad.")
                    .with_type("t")
                    .with_code("c")
                    .with_param("p")
                    .with_status(504),
            ),
        ),
        (
            // A tool call counts its name and each fragment: {" city ":" Paris "}.
            json!({ "tool_calls": [{ "name": "get_weather", "arguments": { "city": "Paris" } }],
                    "disconnect_after": 6 }),
            Reply::tool_call(weather).disconnect_after(6),
        ),
        (json!({ "http_error": 418 }), Reply::http_error(418)),
        (
            json!({ "http_error": "rate_limited" }),
            Reply::rate_limited(),
        ),
        (
            json!({ "http_error": "quota_exceeded" }),
            Reply::quota_exceeded(),
        ),
        (json!({ "http_error": "overloaded" }), Reply::overloaded()),
        (
            json!({ "http_error": "server_error" }),
            Reply::server_error(),
        ),
        (
            json!({ "http_error": "invalid_api_key" }),
            Reply::invalid_api_key(),
        ),
        (
            json!({ "http_error": "context_length_exceeded" }),
            Reply::context_length_exceeded(),
        ),
        (
            json!({ "http_error": 503, "error_message": "Down.", "retry_after": 1500,
                    "headers": { "x-why": "maintenance" }, "delay_headers": "1m" }),
            Reply::http_error(503)
                .error_message("Down.")
                .retry_after(ms(1_500))
                .header("x-why", "maintenance")
                .delay_headers(Duration::from_secs(60)),
        ),
        (
            json!({ "text": "a b", "time_to_first_token": "400ms", "tokens_per_second": 50,
                    "jitter": { "normal": "5ms", "seed": 42 } }),
            Reply::text("a b")
                .time_to_first_token(ms(400))
                .tokens_per_second(50.0)
                .jitter(Jitter::normal(ms(5)).seed(42)),
        ),
        (
            json!({ "text": "a b", "jitter": { "uniform": 10 } }),
            Reply::text("a b").jitter(Jitter::uniform(ms(10))),
        ),
    ];
    for (json, built) in cases {
        assert_eq!(from_json(json.clone()), built, "{json}");
    }
}

#[tokio::test]
async fn a_fixtures_rate_limit_and_chaos_act_as_the_builders_do() {
    let fixture = Fixture::from_json(
        r#"{
          "reply": { "text": "Hi" },
          "rate_limit": { "window": "1m", "requests": 2, "shared": true },
          "mocks": [{
            "when": { "model": "flaky" },
            "reply": { "text": "Hi" },
            "chaos": { "seed": 3, "http_error": { "probability": 1.0, "status": 502 } }
          }]
        }"#,
    )
    .unwrap();
    let server = start_with(fixture).await;
    let statuses = [
        post_chat(&server, chat_body("flaky", "x", false))
            .await
            .status(),
        post_chat(&server, chat_body("steady", "x", false))
            .await
            .status(),
        post_chat(&server, chat_body("steady", "x", false))
            .await
            .status(),
    ];
    assert_eq!(statuses.map(|status| status.as_u16()), [502, 200, 429]);
    let requests = server.received_requests().await;
    assert_eq!(
        requests[0].chaos_applied(),
        Some(&chatmock::ChaosFault::HttpError { status: 502 })
    );
}

/// What a client observed of one response: enough to tell two servers apart.
#[derive(Debug, PartialEq)]
struct Observed {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
    end: End,
}

#[derive(Debug, PartialEq)]
enum End {
    Complete,
    Broken,
    /// Nothing arrived for a while: a stall.
    Silent,
}

/// One request to make of both servers.
struct Request {
    method: &'static str,
    path: &'static str,
    body: Value,
    last_event_id: Option<&'static str>,
}

impl Request {
    fn post(path: &'static str, body: Value) -> Request {
        Request {
            method: "POST",
            path,
            body,
            last_event_id: None,
        }
    }

    fn chat(stream: bool) -> Request {
        Request::post(
            "/v1/chat/completions",
            json!({ "model": "gpt-4o", "stream": stream,
                    "messages": [{ "role": "user", "content": "Hi there" }] }),
        )
    }
}

async fn observe(server: &MockChatServer, request: &Request) -> Observed {
    let url = format!("{}{}", server.uri(), request.path);
    let client = reqwest::Client::new();
    let mut builder = match request.method {
        "GET" => client.get(url),
        _ => client.post(url).body(request.body.to_string()),
    };
    if let Some(id) = request.last_event_id {
        builder = builder.header("last-event-id", id);
    }
    let response = builder.send().await.expect("the server answers");
    let status = response.status().as_u16();
    let mut headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .filter(|(name, _)| *name != "date")
        .map(|(name, value)| {
            (
                name.to_string(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    headers.sort();
    let mut stream = response.bytes_stream();
    let mut body = Vec::new();
    let end = loop {
        match tokio::time::timeout(ms(400), stream.next()).await {
            Ok(Some(Ok(bytes))) => body.extend_from_slice(&bytes),
            Ok(Some(Err(_))) => break End::Broken,
            Ok(None) => break End::Complete,
            Err(_) => break End::Silent,
        }
    };
    Observed {
        status,
        headers,
        body: normalize(&body),
        end,
    }
}

/// The body with its clock readings zeroed (they differ between two servers) and
/// keep-alive comments removed (how many fit in a pause depends on scheduling).
fn normalize(body: &[u8]) -> String {
    let mut text = String::from_utf8_lossy(body).into_owned();
    for key in ["\"created\":", "\"created_at\":", "\"completed_at\":"] {
        let mut normalized = String::with_capacity(text.len());
        let mut rest = text.as_str();
        while let Some(at) = rest.find(key) {
            normalized.push_str(&rest[..at + key.len()]);
            rest = &rest[at + key.len()..];
            let value_len = match rest.strip_prefix('"') {
                Some(string) => string.find('"').map_or(rest.len(), |end| end + 2),
                None => rest
                    .find(|ch: char| !ch.is_ascii_digit())
                    .unwrap_or(rest.len()),
            };
            normalized.push('0');
            rest = &rest[value_len..];
        }
        normalized.push_str(rest);
        text = normalized;
    }
    text.replace(": keep-alive\r\n\r\n", "")
        .replace(": keep-alive\n\n", "")
}

/// One feature: a fixture, and the server the Rust API builds for it.
struct WireCase {
    name: &'static str,
    fixture: Value,
    builder: MockChatServerBuilder,
    mocks: Vec<Mock>,
    request: Request,
}

fn reply_case(name: &'static str, reply: Value, built: Reply, request: Request) -> WireCase {
    WireCase {
        name,
        fixture: json!({ "reply": reply }),
        builder: MockChatServer::builder().reply(built),
        mocks: Vec::new(),
        request,
    }
}

fn wire_cases() -> Vec<WireCase> {
    let weather = ToolCall::function("get_weather", json!({ "city": "Paris" }));
    let anthropic = json!({ "model": "claude-sonnet-4-5", "max_tokens": 64, "stream": true,
                            "messages": [{ "role": "user", "content": "Hi" }] });
    let mut cases = vec![
        reply_case(
            "text with timing and a finish reason, streamed",
            json!({ "text": "Hello there, world", "first_token_delay": "30ms",
                    "token_delay": 10, "finish_reason": "length" }),
            Reply::text("Hello there, world")
                .first_token_delay(ms(30))
                .token_delay(ms(10))
                .finish_reason("length"),
            Request::chat(true),
        ),
        reply_case(
            "text, not streamed",
            json!({ "text": "Hello there, world", "token_delay": "5ms" }),
            Reply::text("Hello there, world").token_delay(ms(5)),
            Request::chat(false),
        ),
        reply_case(
            "tokens with framing faults",
            json!({ "tokens": ["a", "b\n", "[DONE]", "é"], "without_done": true,
                    "crlf_line_endings": true, "fragment_writes": 5 }),
            Reply::tokens(["a", "b\n", "[DONE]", "é"])
                .without_done()
                .crlf_line_endings()
                .fragment_writes(5),
            Request::chat(true),
        ),
        reply_case(
            "every kind of step",
            json!({ "steps": [
                { "token": "a" }, { "pause": "20ms" }, { "comment": "hi" },
                { "raw": "data: {\"half\n\n" }, { "malformed_chunk": true },
                { "refusal": "no", "after": "5ms" },
                { "tool_call": { "name": "get_weather", "arguments": { "city": "Paris" },
                                 "id": "call_1" } },
                { "tool_call": { "name": "search", "raw_arguments": ["{\"q", "\": 1}"] } }
            ] }),
            Reply::steps([
                Step::token("a"),
                Step::pause(ms(20)),
                Step::comment("hi"),
                Step::raw("data: {\"half\n\n"),
                Step::malformed_chunk(),
                Step::refusal("no").after(ms(5)),
                Step::tool_call(weather.clone().with_id("call_1")),
                Step::tool_call(ToolCall::with_raw_arguments("search", ["{\"q", "\": 1}"])),
            ]),
            Request::chat(true),
        ),
        reply_case(
            "a refusal, as Anthropic streams it",
            json!({ "refusal": "I can't help with that." }),
            Reply::refusal("I can't help with that."),
            Request::post("/v1/messages", anthropic.clone()),
        ),
        reply_case(
            "two tool calls, as the Responses API streams them",
            json!({ "tool_calls": [
                { "name": "get_weather", "arguments": { "city": "Paris" } },
                { "name": "get_weather", "arguments": { "city": "Rome" }, "id": "call_rome" }
            ] }),
            Reply::tool_calls([
                weather.clone(),
                ToolCall::function("get_weather", json!({ "city": "Rome" })).with_id("call_rome"),
            ]),
            Request::post(
                "/v1/responses",
                json!({ "model": "gpt-4o", "input": "Weather?", "stream": true }),
            ),
        ),
        reply_case(
            "a tool call, as Gemini streams it",
            json!({ "tool_calls": [{ "name": "get_weather", "arguments": { "city": "Paris" } }] }),
            Reply::tool_call(weather.clone()),
            Request::post(
                "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse",
                json!({ "contents": [{ "role": "user", "parts": [{ "text": "Weather?" }] }] }),
            ),
        ),
        reply_case(
            "text, as Ollama streams it",
            json!({ "text": "Hi from llama" }),
            Reply::text("Hi from llama"),
            Request::post(
                "/api/chat",
                json!({ "model": "llama3.2", "messages": [{ "role": "user", "content": "Hi" }] }),
            ),
        ),
        reply_case(
            "text in the demo's plain format",
            json!({ "text": "Hello, demo" }),
            Reply::text("Hello, demo"),
            Request {
                method: "GET",
                path: "/stream",
                body: Value::Null,
                last_event_id: None,
            },
        ),
        reply_case(
            "an HTTP error with every option",
            json!({ "http_error": "rate_limited", "retry_after": "1.5s",
                    "error_message": "Slow down.", "headers": { "x-why": "busy" },
                    "delay_headers": "20ms" }),
            Reply::rate_limited()
                .retry_after(ms(1_500))
                .error_message("Slow down.")
                .header("x-why", "busy")
                .delay_headers(ms(20)),
            Request::chat(true),
        ),
        reply_case(
            "an HTTP error by status, as Anthropic sends it",
            json!({ "http_error": 529 }),
            Reply::http_error(529),
            Request::post("/v1/messages", anthropic.clone()),
        ),
        reply_case(
            "a preset error event mid-stream",
            json!({ "text": "one two three", "error_after": { "tokens": 2, "preset": "overloaded" } }),
            Reply::text("one two three").error_after(2, StreamError::overloaded()),
            Request::chat(true),
        ),
        reply_case(
            "a custom error, not streamed, with its own status",
            json!({ "text": "one two", "error_after": { "tokens": 1, "message": "Bad content.",
                    "type": "invalid_response", "code": "model_error", "param": "messages",
                    "status": 502 } }),
            Reply::text("one two").error_after(
                1,
                StreamError::new("Bad content.")
                    .with_type("invalid_response")
                    .with_code("model_error")
                    .with_param("messages")
                    .with_status(502),
            ),
            Request::chat(false),
        ),
        reply_case(
            "a clean early end",
            json!({ "text": "one two three", "end_cleanly_after": 2 }),
            Reply::text("one two three").end_cleanly_after(2),
            Request::chat(true),
        ),
        reply_case(
            "a disconnect",
            json!({ "text": "one two three", "disconnect_after": 2 }),
            Reply::text("one two three").disconnect_after(2),
            Request::chat(true),
        ),
        reply_case(
            "a reset",
            json!({ "text": "one two three", "reset_connection_after": 1 }),
            Reply::text("one two three").reset_connection_after(1),
            Request::chat(true),
        ),
        reply_case(
            "a stall",
            json!({ "text": "one two three", "stall_after": 1 }),
            Reply::text("one two three").stall_after(1),
            Request::chat(true),
        ),
        reply_case(
            "event ids and a retry time, resumed after event 2",
            json!({ "text": "one two three", "event_ids": true, "reconnection_time": 250,
                    "disconnect_after": 2 }),
            Reply::text("one two three")
                .event_ids()
                .reconnection_time(ms(250))
                .disconnect_after(2),
            Request {
                last_event_id: Some("2"),
                ..Request::chat(true)
            },
        ),
        reply_case(
            "keep-alive comments in a pause",
            json!({ "steps": [{ "token": "a" }, { "pause": "120ms" }, { "token": "b" }],
                    "keep_alive": "40ms" }),
            Reply::steps([Step::token("a"), Step::pause(ms(120)), Step::token("b")])
                .keep_alive(ms(40)),
            Request::chat(true),
        ),
    ];
    cases.push(WireCase {
        name: "a server-wide format on a gateway path",
        fixture: json!({ "wire_format": "anthropic_messages", "reply": { "text": "Hi!" } }),
        builder: MockChatServer::builder()
            .wire_format(WireFormat::AnthropicMessages)
            .reply(Reply::text("Hi!")),
        mocks: Vec::new(),
        request: Request::post("/gateway/anthropic/v1/messages", anthropic),
    });
    cases.push(WireCase {
        name: "a mock with matchers and its own format",
        fixture: json!({ "mocks": [{
            "when": { "method": "post", "path": "/ollama/api/chat", "model": "llama3.2",
                      "stream": false, "last_user_message_is": "Hi" },
            "reply": { "text": "Hello from a gateway" },
            "wire_format": "ollama"
        }] }),
        builder: MockChatServer::builder(),
        mocks: vec![Mock::given(matchers::method("POST"))
            .and(matchers::path("/ollama/api/chat"))
            .and(matchers::model("llama3.2"))
            .and(matchers::stream(false))
            .and(matchers::last_user_message_is("Hi"))
            .respond_with(Reply::text("Hello from a gateway"))
            .wire_format(WireFormat::Ollama)],
        request: Request::post(
            "/ollama/api/chat",
            json!({ "model": "llama3.2", "stream": false,
                    "messages": [{ "role": "user", "content": "Hi" }] }),
        ),
    });
    cases
}

#[tokio::test]
async fn fixture_replies_put_the_same_bytes_on_the_wire_as_builder_replies() {
    for case in wire_cases() {
        let fixture = Fixture::from_json(&case.fixture.to_string())
            .unwrap_or_else(|error| panic!("{}: {error}", case.name));
        let from_fixture = start_with(fixture).await;
        let from_builder = case.builder.start().await;
        for mock in case.mocks {
            mock.mount(&from_builder).await;
        }

        let (fixture_side, builder_side) = tokio::join!(
            observe(&from_fixture, &case.request),
            observe(&from_builder, &case.request)
        );

        assert_eq!(fixture_side, builder_side, "{}", case.name);
        assert_ne!(
            fixture_side.body, "",
            "{}: the case says something",
            case.name
        );
    }
}

#[tokio::test]
async fn the_wire_cases_show_their_features() {
    // A few spot checks that the cases above exercise what they claim, so that two
    // equally broken servers could not pass the comparison.
    let cases = wire_cases();
    let find = |name: &str| cases.iter().find(|case| case.name == name).unwrap();

    let server =
        start_with(Fixture::from_json(&find("a stall").fixture.to_string()).unwrap()).await;
    assert_eq!(
        observe(&server, &Request::chat(true)).await.end,
        End::Silent
    );

    let case = find("a disconnect");
    let server = start_with(Fixture::from_json(&case.fixture.to_string()).unwrap()).await;
    assert_eq!(observe(&server, &case.request).await.end, End::Broken);

    let case = find("a custom error, not streamed, with its own status");
    let server = start_with(Fixture::from_json(&case.fixture.to_string()).unwrap()).await;
    let observed = observe(&server, &case.request).await;
    assert_eq!(observed.status, 502);
    assert!(observed.body.contains("model_error"), "{}", observed.body);

    let case = find("keep-alive comments in a pause");
    let server = start_with(Fixture::from_json(&case.fixture.to_string()).unwrap()).await;
    let body = post_chat(&server, chat_body("m", "x", true))
        .await
        .text()
        .await
        .unwrap();
    assert!(body.contains(": keep-alive\n\n"), "{body}");

    let case = find("a mock with matchers and its own format");
    let server = start_with(Fixture::from_json(&case.fixture.to_string()).unwrap()).await;
    let observed = observe(&server, &case.request).await;
    assert!(
        observed.body.contains(r#""done":true"#),
        "{}",
        observed.body
    );
}

// --- Mocks from fixtures ------------------------------------------------------------------

/// The content of a non-streamed chat reply, or the status of an error.
async fn answer(server: &MockChatServer, body: Value) -> Result<String, u16> {
    let response = post_chat(server, body.to_string()).await;
    let status = response.status().as_u16();
    if status != 200 {
        return Err(status);
    }
    let json: Value = response.json().await.unwrap();
    Ok(json["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_owned())
}

fn ask(model: &str, message: &str) -> Value {
    json!({ "model": model, "messages": [{ "role": "user", "content": message }] })
}

#[tokio::test]
async fn fixture_mocks_match_with_every_matcher_and_respect_priority_and_limits() {
    let fixture = Fixture::from_json(
        &json!({ "mocks": [
            { "when": { "headers": { "x-tenant": "acme" } }, "reply": { "text": "header" } },
            { "when": { "header_exists": ["x-trace"] }, "reply": { "text": "header exists" } },
            { "when": { "body_partial_json": { "temperature": 0 } },
              "reply": { "text": "partial json" } },
            { "when": { "last_user_message_contains": "weather" },
              "reply": { "text": "contains" } },
            { "when": { "model": "limited" }, "reply": { "text": "limited" },
              "up_to_n_times": 1 },
            { "when": { "model": "limited" }, "reply": { "text": "after the limit" } },
            { "when": { "model": "sequence" },
              "replies": [{ "text": "first" }, { "http_error": 500 }, { "text": "last" }] },
            { "reply": { "text": "low priority catch-all" }, "priority": 9 },
            { "when": { "model": "urgent" }, "reply": { "text": "urgent" }, "priority": 1 },
            { "when": { "model": "urgent" }, "reply": { "text": "mounted first, checked later" },
              "priority": 2 }
        ] })
        .to_string(),
    )
    .unwrap();
    let server = start_with(fixture).await;
    let client = reqwest::Client::new();
    let url = crate::support::chat_url(&server);
    let with_header = |name: &'static str, value: &'static str| {
        client
            .post(&url)
            .header(name, value)
            .body(ask("m", "x").to_string())
    };

    let response = with_header("x-tenant", "acme").send().await.unwrap();
    let json: Value = response.json().await.unwrap();
    assert_eq!(json["choices"][0]["message"]["content"], "header");
    let response = with_header("x-trace", "anything").send().await.unwrap();
    let json: Value = response.json().await.unwrap();
    assert_eq!(json["choices"][0]["message"]["content"], "header exists");
    let mut cold = ask("m", "x");
    cold["temperature"] = json!(0.0);
    assert_eq!(answer(&server, cold).await, Ok("partial json".to_owned()));
    assert_eq!(
        answer(&server, ask("m", "the weather?")).await,
        Ok("contains".to_owned())
    );
    assert_eq!(
        answer(&server, ask("limited", "x")).await,
        Ok("limited".to_owned())
    );
    assert_eq!(
        answer(&server, ask("limited", "x")).await,
        Ok("after the limit".to_owned())
    );
    assert_eq!(
        answer(&server, ask("sequence", "x")).await,
        Ok("first".to_owned())
    );
    assert_eq!(answer(&server, ask("sequence", "x")).await, Err(500));
    assert_eq!(
        answer(&server, ask("sequence", "x")).await,
        Ok("last".to_owned())
    );
    assert_eq!(
        answer(&server, ask("sequence", "x")).await,
        Ok("last".to_owned())
    );
    assert_eq!(
        answer(&server, ask("urgent", "x")).await,
        Ok("urgent".to_owned())
    );
    assert_eq!(
        answer(&server, ask("other", "x")).await,
        Ok("low priority catch-all".to_owned())
    );
}

#[tokio::test]
async fn fixture_expectations_are_met_and_verified() {
    let fixture = Fixture::from_json(
        r#"{ "mocks": [
            { "name": "once", "when": { "model": "a" }, "reply": { "text": "a" }, "expect": 1 },
            { "when": { "model": "b" }, "reply": { "text": "b" }, "expect": "1.." },
            { "when": { "model": "c" }, "reply": { "text": "c" }, "expect": "..=1" },
            { "when": { "model": "d" }, "reply": { "text": "d" }, "expect": "2..4" },
            { "when": { "model": "e" }, "reply": { "text": "e" },
              "expect": { "at_least": 1, "at_most": 2 } },
            { "when": { "model": "never" }, "reply": { "text": "x" }, "expect": 0 }
        ] }"#,
    )
    .unwrap();
    let server = start_with(fixture).await;
    for model in ["a", "b", "b", "d", "d", "d", "e"] {
        assert_eq!(answer(&server, ask(model, "x")).await, Ok(model.to_owned()));
    }

    server.verify().await;
}

#[tokio::test]
#[should_panic(
    expected = "Mock #0 \"weather question\" matched 0 requests, but expects exactly 1."
)]
async fn an_unmet_fixture_expectation_fails_the_test_when_the_server_drops() {
    let fixture = Fixture::from_json(
        r#"{ "mocks": [{ "name": "weather question", "when": { "model": "gpt-4o" },
                         "reply": { "text": "Sunny." }, "expect": 1 }] }"#,
    )
    .unwrap();
    let server = start_with(fixture).await;
    assert_eq!(answer(&server, ask("other", "x")).await, Err(404));
    drop(server);
}

#[tokio::test]
async fn a_fixture_mounts_on_a_running_server_after_the_mocks_already_there() {
    let server = MockChatServer::start().await;
    Mock::given(matchers::model("a"))
        .respond_with(Reply::text("from Rust"))
        .mount(&server)
        .await;
    Fixture::from_json(
        r#"{ "mocks": [{ "when": { "model": "a" }, "reply": { "text": "shadowed" } },
                       { "when": { "model": "b" }, "reply": { "text": "from JSON" } }] }"#,
    )
    .unwrap()
    .mount(&server)
    .await;

    assert_eq!(
        answer(&server, ask("a", "x")).await,
        Ok("from Rust".to_owned())
    );
    assert_eq!(
        answer(&server, ask("b", "x")).await,
        Ok("from JSON".to_owned())
    );
    assert_eq!(answer(&server, ask("c", "x")).await, Err(404));
}

#[tokio::test]
#[should_panic(
    expected = "Fixture::mount: this fixture has a fallback reply (\"reply\" or \
                           \"replies\") and a server-wide \"wire_format\", which a running \
                           server cannot take on"
)]
async fn mounting_a_fixture_with_a_fallback_on_a_running_server_says_to_use_the_builder() {
    let server = MockChatServer::start().await;
    let fixture =
        Fixture::from_json(r#"{ "reply": { "text": "x" }, "wire_format": "ollama" }"#).unwrap();
    fixture.mount(&server).await;
}

#[tokio::test]
async fn later_builder_calls_override_the_fixture_and_fixtures_add_up() {
    let with_fallback = Fixture::from_json(r#"{ "reply": { "text": "fixture" } }"#).unwrap();
    let server = MockChatServer::builder()
        .fixture(with_fallback)
        .reply(Reply::text("builder"))
        .start()
        .await;
    assert_eq!(
        answer(&server, ask("m", "x")).await,
        Ok("builder".to_owned())
    );

    let mocks_only = Fixture::from_json(
        r#"{ "mocks": [{ "when": { "model": "a" }, "reply": { "text": "a" } }] }"#,
    )
    .unwrap();
    let server = MockChatServer::builder()
        .reply(Reply::text("builder"))
        .fixture(mocks_only.clone())
        .fixture(
            Fixture::from_json(
                r#"{ "mocks": [{ "when": { "model": "b" }, "reply": { "text": "b" } }] }"#,
            )
            .unwrap(),
        )
        .start()
        .await;
    assert_eq!(answer(&server, ask("a", "x")).await, Ok("a".to_owned()));
    assert_eq!(answer(&server, ask("b", "x")).await, Ok("b".to_owned()));
    assert_eq!(
        answer(&server, ask("c", "x")).await,
        Ok("builder".to_owned())
    );

    // A fixture with mocks and no fallback behaves like mounted mocks: unmatched is a 404.
    let server = start_with(mocks_only).await;
    assert_eq!(answer(&server, ask("c", "x")).await, Err(404));
}

// --- Replies inside a test's own serde types ----------------------------------------------

#[test]
fn replies_deserialize_inside_a_users_own_types() {
    let config = json!({
        "scenarios": {
            "happy": { "text": "All good." },
            "broken": { "text": "All good.", "disconnect_after": 1 }
        },
        "other settings": [1, 2, 3]
    });

    let scenarios: HashMap<String, Reply> =
        serde_json::from_value(config["scenarios"].clone()).unwrap();
    assert_eq!(scenarios["happy"], Reply::text("All good."));
    assert_eq!(
        scenarios["broken"],
        Reply::text("All good.").disconnect_after(1)
    );

    let replies: Vec<Reply> =
        serde_json::from_str(r#"[{"tokens": ["a"]}, {"http_error": "server_error"}]"#).unwrap();
    assert_eq!(replies, [Reply::tokens(["a"]), Reply::server_error()]);

    let error =
        serde_json::from_str::<Vec<Reply>>(r#"[{"text": "a"}, {"text": "a", "stall_after": 5}]"#)
            .unwrap_err();
    assert_eq!(
        error.to_string(),
        "at stall_after: the script has only 1 token (counting each text token, refusal \
         piece, thinking fragment, tool call and fragment of its arguments), so an ending after 5 tokens would \
         never happen: use a number from 0 to 1 at line 1 column 48"
    );

    let fixture: Fixture =
        serde_json::from_value(json!({ "mocks": [], "wire_format": "gemini" })).unwrap();
    drop(fixture);
}

// --- Bad fixtures -------------------------------------------------------------------------

/// Writes `text` to a fixture file of its own, loads it, and returns the error.
fn load_error(name: &str, text: &str) -> (PathBuf, chatmock::FixtureError) {
    let path = std::env::temp_dir().join(format!(
        "chatmock-fixture-{}-{name}.json",
        std::process::id()
    ));
    std::fs::write(&path, text).unwrap();
    let result = Fixture::load(&path);
    std::fs::remove_file(&path).unwrap();
    match result {
        Ok(_) => panic!("{name}: the fixture loads, but should fail: {text}"),
        Err(error) => (path, error),
    }
}

#[test]
fn bad_fixtures_fail_with_the_file_the_path_and_what_was_expected() {
    // (case, fixture, path inside it, message after "<file>: at <path>: ")
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "typo in a reply key",
            r#"{"reply": {"text": "Hi", "token_delai": "5ms"}}"#,
            "reply.token_delai",
            "unknown key \"token_delai\" in a reply (did you mean \"token_delay\"?); the keys \
             allowed are \"text\", \"tokens\", \"steps\", \"refusal\", \"tool_calls\", \
             \"http_error\", \"recorded\", \"headers\", \"delay_headers\", \
             \"error_message\", \"retry_after\", \"first_token_delay\", \"time_to_first_token\", \
             \"token_delay\", \"tokens_per_second\", \"jitter\", \"finish_reason\", \
             \"without_done\", \"error_after\", \"end_cleanly_after\", \"disconnect_after\", \
             \"reset_connection_after\", \"stall_after\", \"event_ids\", \
             \"reconnection_time\", \"keep_alive\", \"crlf_line_endings\", \
             \"fragment_writes\", \"thinking\", \"usage\", \"reasoning_content\", \
             \"speed\" and \"instant\"",
        ),
        (
            "typo at the top level",
            r#"{"mock": []}"#,
            "mock",
            "unknown key \"mock\" in a fixture (did you mean \"mocks\"?); the keys allowed \
             are \"mocks\", \"conversations\", \"reply\", \"replies\", \"wire_format\", \
             \"path_prefixes\", \"rate_limit\", \"chaos\" and \"models\"",
        ),
        (
            "typo in a matcher",
            r#"{"mocks": [{"when": {"modle": "gpt-4o"}, "reply": {"text": "x"}}]}"#,
            "mocks[0].when.modle",
            "unknown key \"modle\" in the matchers of \"when\" (did you mean \"model\"?); the \
             keys allowed are \"method\", \"path\", \"model\", \"stream\", \"headers\", \
             \"header_exists\", \"body_partial_json\", \"last_user_message_contains\", \
             \"last_user_message_is\", \"path_regex\", \"query_params\", \"bearer_token\", \
             \"header_values\", \"header_regex\", \"body_json\", \"body_string_contains\", \
             \"system_prompt_contains\", \"declares_tool\", \"has_tool_result\", \
             \"tool_result_for\", \"tool_result_contains\", \"turn\" and \"response_format\"",
        ),
        (
            "wrong type",
            r#"{"mocks": [{"when": {"stream": "yes"}, "reply": {"text": "x"}}]}"#,
            "mocks[0].when.stream",
            "expected true or false, found \"yes\"",
        ),
        (
            "a duration that is a boolean",
            r#"{"mocks": [
                {"reply": {"text": "a"}}, {"reply": {"text": "b"}},
                {"reply": {"text": "c", "token_delay": true}}
            ]}"#,
            "mocks[2].reply.token_delay",
            "expected a duration such as \"250ms\", \"1.5s\" or a number of milliseconds, \
             found true",
        ),
        (
            "a duration without a unit",
            r#"{"reply": {"steps": [{"token": "a", "after": "250"}]}}"#,
            "reply.steps[0].after",
            "expected a duration such as \"250ms\", \"1.5s\" or a number of milliseconds, \
             found \"250\"",
        ),
        (
            "a negative duration",
            r#"{"reply": {"text": "a", "first_token_delay": -5}}"#,
            "reply.first_token_delay",
            "expected a duration such as \"250ms\", \"1.5s\" or a number of milliseconds, \
             found -5",
        ),
        (
            "a duration over a day",
            r#"{"reply": {"http_error": 500, "delay_headers": "1441m"}}"#,
            "reply.delay_headers",
            "expected a duration of at most one day (for a stream that never ends, use \
             \"stall_after\"), found \"1441m\"",
        ),
        (
            "two content keys",
            r#"{"reply": {"text": "a", "tokens": ["a"]}}"#,
            "reply.tokens",
            "a reply takes only one of \"text\", \"tokens\", \"steps\", \"refusal\", \
             \"tool_calls\", \"http_error\" or \"recorded\", but this one has both \"text\" \
             and \"tokens\"",
        ),
        (
            "no content key",
            r#"{"replies": [{"text": "a"}, {"token_delay": "5ms"}]}"#,
            "replies[1]",
            "expected a reply with one content key (\"text\", \"tokens\", \"steps\", \
             \"refusal\", \"tool_calls\", \"http_error\" or \"recorded\"), found none",
        ),
        (
            "a stream option on an HTTP error",
            r#"{"reply": {"http_error": 429, "disconnect_after": 1}}"#,
            "reply.disconnect_after",
            "this option applies to streamed replies, but this reply is an HTTP 429 error, \
             which has no stream: use delay_headers to delay the error response",
        ),
        (
            "an HTTP error option on a stream",
            r#"{"reply": {"text": "a", "retry_after": "1s"}}"#,
            "reply.retry_after",
            "this option applies to HTTP error replies (http_error and its presets), but this \
             reply is a stream: use error_after for an error event in a stream",
        ),
        (
            "an ending after more tokens than the script has",
            r#"{"reply": {"text": "one two", "disconnect_after": 3}}"#,
            "reply.disconnect_after",
            "the script has only 2 tokens (counting each text token, refusal piece, thinking fragment, tool call \
             and fragment of its arguments), so an ending after 3 tokens would never happen: \
             use a number from 0 to 2",
        ),
        (
            "an error event after more tokens than the script has",
            r#"{"mocks": [{"replies": [{"text": "a"},
                {"tokens": [], "error_after": {"tokens": 1, "preset": "server_error"}}]}]}"#,
            "mocks[0].replies[1].error_after.tokens",
            "the script has no tokens (counting each text token, refusal piece, thinking fragment, tool call and \
             fragment of its arguments), so an ending after 1 token would never happen: use 0",
        ),
        (
            "two endings",
            r#"{"reply": {"text": "a b", "disconnect_after": 1, "stall_after": 1}}"#,
            "reply.stall_after",
            "this stream already ends with a disconnect (disconnect_after) after 1 token, and \
             a stream ends only once: to script two attempts, use a sequence of two replies",
        ),
        (
            "an error event that is neither preset nor message",
            r#"{"reply": {"text": "a", "error_after": {"tokens": 1}}}"#,
            "reply.error_after",
            "an error event needs \"preset\" (a preset: \"server_error\", \"overloaded\" or \
             \"rate_limited\") or \"message\" (a custom error): expected one of them, found \
             neither",
        ),
        (
            "a bad format name",
            r#"{"wire_format": "openai"}"#,
            "wire_format",
            "expected a wire format: \"openai_chat_completions\", \"openai_responses\", \
             \"anthropic_messages\", \"gemini\", \"ollama\" or \"plain_text\", found \"openai\"",
        ),
        (
            "a status that is not an error",
            r#"{"reply": {"http_error": 200}}"#,
            "reply.http_error",
            "200 is not an HTTP error status: use one from 400 to 599 (for a success, script \
             a streamed reply instead)",
        ),
        (
            "an unknown error preset",
            r#"{"reply": {"http_error": "teapot"}}"#,
            "reply.http_error",
            "expected an HTTP error status from 400 to 599, or a preset: \"rate_limited\", \
             \"quota_exceeded\", \"overloaded\", \"server_error\", \"invalid_api_key\" or \
             \"context_length_exceeded\", found \"teapot\"",
        ),
        (
            "a custom error event status out of range",
            r#"{"reply": {"text": "a", "error_after": {"tokens": 0, "message": "m", "status": 600}}}"#,
            "reply.error_after.status",
            "600 is not an HTTP error status: use one from 400 to 599",
        ),
        (
            "a zero keep-alive",
            r#"{"reply": {"text": "a", "keep_alive": 0}}"#,
            "reply.keep_alive",
            "a keep-alive interval of zero would send comments without end: use an interval \
             above zero",
        ),
        (
            "thinking that is a number",
            r#"{"reply": {"steps": [{"thinking": 3}]}}"#,
            "reply.steps[0].thinking",
            "expected thinking: its text, or {\"text\": ..., \"signature\": ...}, found 3",
        ),
        (
            "thinking without its text",
            r#"{"reply": {"text": "a", "thinking": {"signature": "s"}}}"#,
            "reply.thinking",
            "thinking needs \"text\": expected the reasoning's text, found none",
        ),
        (
            "a typo in thinking",
            r#"{"reply": {"text": "a", "thinking": {"text": "t", "signatur": "s"}}}"#,
            "reply.thinking.signatur",
            "unknown key \"signatur\" in thinking (did you mean \"signature\"?); the keys \
             allowed are \"text\" and \"signature\"",
        ),
        (
            "a signature that is not a string",
            r#"{"reply": {"text": "a", "thinking": {"text": "t", "signature": 1}}}"#,
            "reply.thinking.signature",
            "expected a string, found 1",
        ),
        (
            "a model list that is not strings",
            r#"{"models": ["gpt-4o", 4]}"#,
            "models[1]",
            "expected a string, found 4",
        ),
        (
            "a negative token count in usage",
            r#"{"reply": {"text": "a", "usage": {"cached_input_tokens": -1}}}"#,
            "reply.usage.cached_input_tokens",
            "expected a number of tokens, found -1",
        ),
        (
            "a typo in usage",
            r#"{"reply": {"text": "a", "usage": {"cached_tokens": 1}}}"#,
            "reply.usage.cached_tokens",
            "unknown key \"cached_tokens\" in usage; the keys allowed are \"input_tokens\", \
             \"output_tokens\", \"reasoning_tokens\", \"cached_input_tokens\", \
             \"cache_creation_input_tokens\" and \"total_tokens\"",
        ),
        (
            "thinking on an HTTP error",
            r#"{"reply": {"http_error": 500, "thinking": "t"}}"#,
            "reply.thinking",
            "this option applies to streamed replies, but this reply is an HTTP 500 error, \
             which has no stream: use delay_headers to delay the error response",
        ),
        (
            "zero bytes per write",
            r#"{"reply": {"text": "a", "fragment_writes": 0}}"#,
            "reply.fragment_writes",
            "writes of at most 0 bytes would never write anything: use 1 or more bytes per \
             write",
        ),
        (
            "a bad header name",
            r#"{"reply": {"text": "a", "headers": {"x bad": "1"}}}"#,
            "reply.headers[\"x bad\"]",
            "\"x bad\" is not a valid HTTP header name: use letters, digits and any of \
             !#$%&'*+-.^_`|~, without spaces or colons, e.g. \"x-request-id\"",
        ),
        (
            "a bad header value",
            r#"{"reply": {"text": "a", "headers": {"x-note": "line\nbreak"}}}"#,
            "reply.headers[\"x-note\"]",
            "\"line\\nbreak\" is not a valid HTTP header value: a value cannot hold line \
             breaks or other control characters",
        ),
        (
            "an empty tool name",
            r#"{"reply": {"tool_calls": [{"name": "get_weather"}, {"name": ""}]}}"#,
            "reply.tool_calls[1].name",
            "the function name is empty, and every provider requires one: give the name of \
             the function the model calls",
        ),
        (
            "a tool call with both kinds of arguments",
            r#"{"reply": {"tool_calls": [{"name": "f", "arguments": {}, "raw_arguments": []}]}}"#,
            "reply.tool_calls[0].raw_arguments",
            "a tool call takes only one of \"arguments\" or \"raw_arguments\", but this one \
             has both \"arguments\" and \"raw_arguments\"",
        ),
        (
            "a pause with a delay of its own",
            r#"{"reply": {"steps": [{"token": "a"}, {"pause": "1s", "after": "1s"}]}}"#,
            "reply.steps[1].after",
            "a pause is itself a delay, so it takes no delay of its own: write one pause of \
             2s (1s + 1s) instead",
        ),
        (
            "a malformed chunk set to false",
            r#"{"reply": {"steps": [{"malformed_chunk": false}]}}"#,
            "reply.steps[0].malformed_chunk",
            "expected true, found false",
        ),
        (
            "up_to_n_times zero",
            r#"{"mocks": [{"reply": {"text": "a"}, "up_to_n_times": 0}]}"#,
            "mocks[0].up_to_n_times",
            "a mock limited to 0 matches can never match: use 1 or more; to assert that no \
             request matches, expect 0 instead",
        ),
        (
            "priority zero",
            r#"{"mocks": [{"reply": {"text": "a"}, "priority": 0}]}"#,
            "mocks[0].priority",
            "0 is not a priority: use 1 (checked first) to 255 (checked last)",
        ),
        (
            "an empty range of requests",
            r#"{"mocks": [{"reply": {"text": "a"}, "expect": "3..2"}]}"#,
            "mocks[0].expect",
            "no number of requests is at least 3 and at most 1, so this expectation can never \
             be met: write the lower bound first, e.g. 1..=3",
        ),
        (
            "an expectation that is not a range",
            r#"{"mocks": [{"reply": {"text": "a"}, "expect": "twice"}]}"#,
            "mocks[0].expect",
            "expected a number of requests (2), a range such as \"1..\", \"..=3\" or \
             \"2..5\", or {\"at_least\": 1, \"at_most\": 3}, found \"twice\"",
        ),
        (
            "an empty list of replies",
            r#"{"mocks": [{"replies": []}]}"#,
            "mocks[0].replies",
            "the sequence of replies is empty, which leaves nothing to answer with: give at \
             least one reply (the last one answers every further request)",
        ),
        (
            "a mock without a reply",
            r#"{"mocks": [{"when": {"model": "a"}}]}"#,
            "mocks[0]",
            "a mock needs \"reply\" (or \"replies\", a sequence): expected one of them, found \
             neither",
        ),
        (
            "a path matcher without its slash",
            r#"{"mocks": [{"when": {"path": "v1/chat/completions"}, "reply": {"text": "a"}}]}"#,
            "mocks[0].when.path",
            "\"v1/chat/completions\" can never match, as request paths start with '/': write \
             \"/v1/chat/completions\"",
        ),
        (
            "a method that is not one",
            r#"{"mocks": [{"when": {"method": "GE T"}, "reply": {"text": "a"}}]}"#,
            "mocks[0].when.method",
            "\"GE T\" is not an HTTP method name: use one such as \"GET\" or \"POST\"",
        ),
        (
            "a stream option on an HTTP error preset",
            r#"{"reply": {"http_error": "overloaded", "token_delay": "5ms"}}"#,
            "reply.token_delay",
            "this option applies to streamed replies, but this reply is an HTTP 503 error, \
             which has no stream: use delay_headers to delay the error response",
        ),
        (
            "a status far out of range",
            r#"{"reply": {"http_error": 4040000}}"#,
            "reply.http_error",
            "4040000 is not an HTTP error status: use one from 400 to 599",
        ),
        (
            "a priority above 255",
            r#"{"mocks": [{"reply": {"text": "a"}, "priority": 256}]}"#,
            "mocks[0].priority",
            "256 is not a priority: use 1 (checked first) to 255 (checked last)",
        ),
        (
            "an empty range of requests written as bounds",
            r#"{"mocks": [{"reply": {"text": "a"}, "expect": {"at_least": 3, "at_most": 1}}]}"#,
            "mocks[0].expect",
            "no number of requests is at least 3 and at most 1, so this expectation can never \
             be met: write the lower bound first, e.g. 1..=3",
        ),
        (
            "a header matcher for a name no request can carry",
            r#"{"mocks": [{"when": {"header_exists": ["x-ok", "x:no"]}, "reply": {"text": "a"}}]}"#,
            "mocks[0].when.header_exists[1]",
            "\"x:no\" is not a valid HTTP header name: use letters, digits and any of \
             !#$%&'*+-.^_`|~, without spaces or colons, e.g. \"x-request-id\"",
        ),
        (
            "a token rate of zero",
            r#"{"reply": {"text": "a", "tokens_per_second": 0}}"#,
            "reply.tokens_per_second",
            "0 tokens a second is no rate a stream can play: use a number above zero, such as \
             50.0",
        ),
        (
            "jitter on an HTTP error",
            r#"{"reply": {"http_error": 500, "jitter": {"normal": "5ms"}}}"#,
            "reply.jitter",
            "this option applies to streamed replies, but this reply is an HTTP 500 error, \
             which has no stream: use delay_headers to delay the error response",
        ),
        (
            "a jitter of no kind",
            r#"{"reply": {"text": "a", "jitter": {"seed": 1}}}"#,
            "reply.jitter",
            "a jitter needs \"uniform\" (a spread) or \"normal\" (a standard deviation), found \
             neither",
        ),
        (
            "a rate limit of zero requests",
            r#"{"rate_limit": {"requests": 0}}"#,
            "rate_limit.requests",
            "a limit of 0 requests would refuse every request: use 1 or more, or leave requests \
             unlimited by not setting it",
        ),
        (
            "a rate limit of nothing on a mock",
            r#"{"mocks": [{"reply": {"text": "a"}, "rate_limit": {"window": "10s"}}]}"#,
            "mocks[0].rate_limit",
            "this rate limit limits nothing: set requests, tokens, input_tokens or \
             output_tokens, e.g. RateLimit::per_minute().requests(3)",
        ),
        (
            "a rate limit window of zero",
            r#"{"rate_limit": {"window": 0, "requests": 1}}"#,
            "rate_limit.window",
            "a rate-limit window of zero never refills: use a window above zero, such as \
             RateLimit::per_minute()",
        ),
        (
            "chaos whose probabilities add up to more than 1",
            r#"{"chaos": {"seed": 1, "disconnect": 0.6, "stall": 0.5}}"#,
            "chaos.stall",
            "with stall, the faults' probabilities add up to 1.1, more than 1, and a request \
             meets at most one fault: lower them so that they add up to 1.0 or less (the rest \
             of the requests get their reply unharmed)",
        ),
        (
            "a chaos probability above 1",
            r#"{"chaos": {"seed": 1, "reset": 1.5}}"#,
            "chaos.reset",
            "1.5 is no probability for reset: use a number from 0.0 (never) to 1.0 (every \
             request)",
        ),
        (
            "a chaos HTTP error that is no error",
            r#"{"chaos": {"seed": 1, "http_error": [{"probability": 0.1, "status": 503}, {"probability": 0.1, "status": 200}]}}"#,
            "chaos.http_error[1].status",
            "200 is not an HTTP error status: use one from 400 to 599 (for a success, script a \
             streamed reply instead)",
        ),
        (
            "chaos without a seed on a mock",
            r#"{"mocks": [{"reply": {"text": "a"}, "chaos": {"stall": 0.1}}]}"#,
            "mocks[0].chaos",
            "chaos needs \"seed\": expected the whole number its faults are drawn from, found \
             none",
        ),
        (
            "mocks that are not an array",
            r#"{"mocks": {"reply": {"text": "a"}}}"#,
            "mocks",
            "expected an array of mocks, found an object",
        ),
        (
            "a path regex that does not compile",
            r#"{"mocks": [{"when": {"path_regex": "^/v1/(chat"}, "reply": {"text": "a"}}]}"#,
            "mocks[0].when.path_regex",
            "\"^/v1/(chat\" is not a regular expression the regex crate accepts: error: unclosed group",
        ),
        (
            "a header regex that does not compile",
            r#"{"mocks": [{"when": {"header_regex": {"user-agent": "a["}}, "reply": {"text": "a"}}]}"#,
            "mocks[0].when.header_regex[\"user-agent\"]",
            "\"a[\" is not a regular expression the regex crate accepts: error: unclosed character class",
        ),
        (
            "a query parameter that is not a string",
            r#"{"mocks": [{"when": {"query_params": {"alt": 1}}, "reply": {"text": "a"}}]}"#,
            "mocks[0].when.query_params.alt",
            "expected a string, found 1",
        ),
        (
            "a bearer token no header can carry",
            r#"{"mocks": [{"when": {"bearer_token": "a\nb"}, "reply": {"text": "a"}}]}"#,
            "mocks[0].when.bearer_token",
            "\"Bearer a\\nb\" is not a valid HTTP header value: a value cannot hold line \
             breaks or other control characters",
        ),
        (
            "header values that are empty",
            r#"{"mocks": [{"when": {"header_values": {"accept": []}}, "reply": {"text": "a"}}]}"#,
            "mocks[0].when.header_values.accept",
            "a match on the values of header \"accept\" needs at least one value: use \
             header_exists to match the header whatever its value",
        ),
        (
            "turn zero",
            r#"{"mocks": [{"when": {"turn": 0}, "reply": {"text": "a"}}]}"#,
            "mocks[0].when.turn",
            "turns count from 1 (the first request of a conversation is turn 1): use 1 or more",
        ),
        (
            "a response format there is not",
            r#"{"mocks": [{"when": {"response_format": "json"}, "reply": {"text": "a"}}]}"#,
            "mocks[0].when.response_format",
            "\"json\" is not a response format: use \"text\", \"json_object\" or \"json_schema\"",
        ),
        (
            "has_tool_result false",
            r#"{"mocks": [{"when": {"has_tool_result": false}, "reply": {"text": "a"}}]}"#,
            "mocks[0].when.has_tool_result",
            "expected true (a mock for requests without tool results matches on \"turn\" or the \
             messages instead), found false",
        ),
        (
            "a conversation without turns",
            r#"{"conversations": [{"name": "x"}]}"#,
            "conversations[0]",
            "a conversation needs \"turns\": an array of replies, the first for turn 1",
        ),
        (
            "a conversation of no turns",
            r#"{"conversations": [{"turns": []}]}"#,
            "conversations[0].turns",
            "a conversation needs at least one turn: add the reply of turn 1 with turn(reply)",
        ),
        (
            "a bad reply in a conversation",
            r#"{"conversations": [{"turns": [{"text": "a"}, {"text": "b", "token_delay": true}]}]}"#,
            "conversations[0].turns[1].token_delay",
            "expected a duration such as \"250ms\", \"1.5s\" or a number of milliseconds, found true",
        ),
        (
            "a typo in a conversation",
            r#"{"conversations": [{"turn": [{"text": "a"}]}]}"#,
            "conversations[0].turn",
            "unknown key \"turn\" in a conversation (did you mean \"turns\"?); the keys allowed \
             are \"when\", \"turns\", \"priority\", \"name\" and \"wire_format\"",
        ),
    ];
    assert!(cases.len() >= 15);
    for (name, text, json_path, message) in cases {
        let (file, error) = load_error(&name.replace(' ', "-"), text);
        assert_eq!(error.file(), Some(file.as_path()), "{name}");
        assert_eq!(error.json_path(), *json_path, "{name}: {error}");
        assert_eq!(
            error.to_string(),
            format!("{}: at {json_path}: {message}", file.display()),
            "{name}"
        );
    }
}

#[test]
fn documents_that_are_not_fixtures_fail_without_a_path() {
    let (file, error) = load_error("not-an-object", "[1, 2]");
    assert_eq!(error.json_path(), "");
    assert_eq!(
        error.to_string(),
        format!(
            "{}: expected a fixture (an object), found an array",
            file.display()
        )
    );

    let (file, error) = load_error("invalid-json", "{\n  \"reply\": {\"text\": \"Hi\",}\n}\n");
    assert_eq!(error.json_path(), "");
    assert_eq!(
        error.to_string(),
        format!(
            "{}: invalid JSON at line 2, column 26: trailing comma",
            file.display()
        )
    );

    let (file, error) = load_error("empty", "");
    assert_eq!(
        error.to_string(),
        format!(
            "{}: invalid JSON at line 1, column 0: EOF while parsing a value",
            file.display()
        )
    );

    let missing = std::env::temp_dir().join("chatmock-no-such-fixture.json");
    let error = Fixture::load(&missing).unwrap_err();
    assert_eq!(error.file(), Some(missing.as_path()));
    assert_eq!(error.json_path(), "");
    let io_error = std::fs::read(&missing).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "{}: cannot read the fixture file: {io_error}",
            missing.display()
        )
    );

    // Without a file, the message starts at the path.
    let error = Fixture::from_json(r#"{"reply": {"text": 5}}"#).unwrap_err();
    assert_eq!(error.file(), None);
    assert_eq!(
        error.to_string(),
        "at reply.text: expected a string, found 5"
    );
}

#[test]
fn long_and_odd_values_are_described_briefly() {
    let long = "x".repeat(100);
    let error = Fixture::from_json(&json!({ "wire_format": long }).to_string()).unwrap_err();
    assert!(
        error
            .to_string()
            .ends_with(&format!("found \"{}...\"", "x".repeat(40))),
        "{error}"
    );

    let error = Fixture::from_json(
        r#"{"mocks": [{"when": {"headers": {"x-a": 1}}, "reply": {"text": "a"}}]}"#,
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "at mocks[0].when.headers[\"x-a\"]: expected a string, found 1"
    );

    // Deep nesting and huge numbers are errors, not crashes.
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    assert!(Fixture::from_json(&deep).is_err());
    let error = Fixture::from_json(r#"{"reply": {"text": "a", "token_delay": "99999999999999999999999999999999999999999999s"}}"#)
        .unwrap_err();
    assert_eq!(error.json_path(), "reply.token_delay");
    let error =
        Fixture::from_json(r#"{"reply": {"text": "a", "stall_after": 1e300}}"#).unwrap_err();
    assert_eq!(error.json_path(), "reply.stall_after");
}

/// Every place in `value`: the value with the thing at that place replaced by `odd`.
fn mutations(value: &Value, odd: &Value) -> Vec<Value> {
    let mut mutated = vec![odd.clone()];
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                for replacement in mutations(child, odd) {
                    let mut copy = map.clone();
                    copy.insert(key.clone(), replacement);
                    mutated.push(Value::Object(copy));
                }
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                for replacement in mutations(child, odd) {
                    let mut copy = items.clone();
                    copy[index] = replacement;
                    mutated.push(Value::Array(copy));
                }
            }
        }
        _ => {}
    }
    mutated
}

#[test]
fn no_value_anywhere_in_a_fixture_makes_loading_panic() {
    let rich = json!({
        "wire_format": "gemini",
        "replies": [{ "http_error": 503, "retry_after": "1s", "error_message": "m",
                      "headers": { "x-a": "b" }, "delay_headers": 5 }],
        "mocks": [
            { "when": { "method": "POST", "path": "/p", "model": "m", "stream": true,
                        "headers": { "x-a": "b" }, "header_exists": ["x-b"],
                        "body_partial_json": { "a": [1] }, "last_user_message_contains": "c",
                        "last_user_message_is": "d" },
              "replies": [
                  { "steps": [{ "token": "a", "after": "1ms" }, { "pause": 1 },
                              { "refusal": "r" }, { "comment": "c" }, { "raw": "x" },
                              { "malformed_chunk": true },
                              { "tool_call": { "name": "f", "arguments": { "a": 1 }, "id": "i" } },
                              { "tool_call": { "name": "g", "raw_arguments": ["{", "}"] } }],
                    "first_token_delay": "1ms", "token_delay": "1ms", "finish_reason": "stop",
                    "without_done": true, "event_ids": true, "reconnection_time": "1s",
                    "keep_alive": "1s", "crlf_line_endings": true, "fragment_writes": 2,
                    "disconnect_after": 2 },
                  { "text": "a b", "error_after": { "tokens": 1, "message": "m", "type": "t",
                                                    "code": "c", "param": "p", "status": 500 } },
                  { "tokens": ["a"], "error_after": { "tokens": 1, "preset": "overloaded" } },
                  { "refusal": "no", "stall_after": 1 },
                  { "tool_calls": [{ "name": "f" }], "end_cleanly_after": 1 }
              ],
              "expect": { "at_least": 1, "at_most": 2 }, "up_to_n_times": 3, "priority": 2,
              "name": "n", "wire_format": "ollama" },
            { "reply": { "http_error": "rate_limited" }, "expect": "1..=2" }
        ]
    });
    let valid = Fixture::from_json(&rich.to_string()).expect("the unmutated fixture is valid");
    drop(valid);
    let odd_values = [
        json!(null),
        json!(true),
        json!(false),
        json!(0),
        json!(-1),
        json!(1.5),
        json!(1e300),
        json!(u64::MAX),
        json!(""),
        json!("0ms"),
        json!("x"),
        json!("..0"),
        json!("18446744073709551615..=18446744073709551615"),
        json!([]),
        json!([""]),
        json!({}),
        json!({ "": 0 }),
    ];
    let mut parsed = 0;
    for odd in &odd_values {
        for mutated in mutations(&rich, odd) {
            // An error or a fixture, never a panic.
            let _ = Fixture::from_json(&mutated.to_string());
            parsed += 1;
        }
    }
    assert!(parsed > 1_000, "{parsed}");
}

#[tokio::test]
async fn fixture_agent_matchers_and_a_conversation_answer_an_agent_loop() {
    let fixture = Fixture::from_json(
        r#"{
      "mocks": [
        { "name": "wiremock-style", "priority": 1, "expect": 1,
          "when": { "path_regex": "^/v1/chat/", "query_params": { "team": "blue" },
                    "bearer_token": "sk-test", "header_values": { "x-features": ["a", "b"] },
                    "header_regex": { "user-agent": "^agent/\\d+$" },
                    "body_string_contains": "ping", "body_json": {
                      "model": "m", "messages": [{ "role": "user", "content": "ping" }] } },
          "reply": { "text": "pong" } },
        { "name": "json", "priority": 2, "expect": 1,
          "when": { "response_format": "json_object", "system_prompt_contains": "JSON only" },
          "reply": { "text": "{\"ok\":true}" } }
      ],
      "conversations": [
        { "name": "weather", "priority": 3,
          "when": { "declares_tool": "get_weather" },
          "turns": [
            { "tool_calls": [{ "name": "get_weather", "arguments": { "city": "Oslo" }, "id": "call_o" }] },
            { "text": "It is 18°C." }
          ] }
      ]
    }"#,
    )
    .unwrap();
    // The matchers a turn of a hand-written mock would use, from JSON too.
    let turn_two = Fixture::from_json(
        r#"{ "mocks": [{ "name": "never", "expect": 0,
            "when": { "turn": 2, "has_tool_result": true, "tool_result_for": "call_o",
                      "tool_result_contains": "18" },
            "reply": { "text": "shadowed by the conversation" }, "priority": 9 }] }"#,
    )
    .unwrap();
    let server = MockChatServer::builder()
        .fixture(fixture)
        .fixture(turn_two)
        .start()
        .await;
    let client = reqwest::Client::new();
    let chat = format!("{}/v1/chat/completions", server.uri());

    let pong = client
        .post(format!("{chat}?team=blue"))
        .bearer_auth("sk-test")
        .header("x-features", "b, a")
        .header("user-agent", "agent/7")
        .json(&json!({ "model": "m", "messages": [{ "role": "user", "content": "ping" }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer_of(pong).await, "pong");

    let json_reply = client
        .post(&chat)
        .json(
            &json!({ "model": "m", "response_format": { "type": "json_object" },
            "messages": [{ "role": "system", "content": "Answer in JSON only." },
                         { "role": "user", "content": "ok?" }] }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(answer_of(json_reply).await, "{\"ok\":true}");

    let tools = json!([{ "type": "function", "function": { "name": "get_weather" } }]);
    let mut messages = vec![json!({ "role": "user", "content": "Weather?" })];
    let first: Value = client
        .post(&chat)
        .json(&json!({ "model": "m", "tools": tools, "messages": messages }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let message = first["choices"][0]["message"].clone();
    assert_eq!(message["tool_calls"][0]["id"], "call_o");
    messages.push(message);
    messages.push(json!({ "role": "tool", "tool_call_id": "call_o", "content": "18°C" }));
    let second = client
        .post(&chat)
        .json(&json!({ "model": "m", "tools": tools, "messages": messages }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer_of(second).await, "It is 18°C.");
    // The hand-written turn-2 mock would match it too; the conversation comes first.
    let requests = server.received_requests().await;
    use chatmock::Match as _;
    assert!(matchers::tool_result_for("call_o").matches(&requests[3]));
    assert!(matchers::turn(2).matches(&requests[3]));
    server.verify().await;
}

async fn answer_of(response: reqwest::Response) -> String {
    assert_eq!(response.status(), 200);
    let json: Value = response.json().await.unwrap();
    json["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn the_agent_loop_example_answers_both_turns_in_two_formats_and_the_tool_failure() {
    let server = start_with(Fixture::load(example("agent_loop.json")).unwrap()).await;
    let client = reqwest::Client::new();
    let system = "You are a weather assistant.";

    // OpenAI Chat Completions.
    let url = format!("{}/v1/chat/completions", server.uri());
    let tools = json!([{ "type": "function", "function": { "name": "get_weather" } }]);
    let mut messages = vec![
        json!({ "role": "system", "content": system }),
        json!({ "role": "user", "content": "Weather in Paris?" }),
    ];
    let ask =
        |messages: &Vec<Value>| json!({ "model": "gpt-4o", "tools": tools, "messages": messages });
    let first: Value = client
        .post(&url)
        .json(&ask(&messages))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let call = first["choices"][0]["message"].clone();
    assert_eq!(call["tool_calls"][0]["id"], "call_paris");
    messages.push(call);
    let mut failed = messages.clone();
    messages.push(json!({ "role": "tool", "tool_call_id": "call_paris", "content": "18 °C" }));
    let second: Value = client
        .post(&url)
        .json(&ask(&messages))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        second["choices"][0]["message"]["content"],
        "It is 18 °C and sunny in Paris."
    );
    failed
        .push(json!({ "role": "tool", "tool_call_id": "call_paris", "content": "error: timeout" }));
    let third: Value = client
        .post(&url)
        .json(&ask(&failed))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        third["choices"][0]["message"]["content"],
        "The weather service is down; please try again later."
    );

    // The same conversation script, in Anthropic's shape.
    let url = format!("{}/v1/messages", server.uri());
    let tools = json!([{ "name": "get_weather", "input_schema": { "type": "object" } }]);
    let mut messages = vec![json!({ "role": "user", "content": "Weather in Paris?" })];
    let ask = |messages: &Vec<Value>| {
        json!({ "model": "claude-sonnet-4-5", "max_tokens": 100,
        "system": system, "tools": tools, "messages": messages })
    };
    let first: Value = client
        .post(&url)
        .json(&ask(&messages))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(first["content"][0]["type"], "tool_use");
    assert_eq!(first["stop_reason"], "tool_use");
    messages.push(json!({ "role": "assistant", "content": first["content"] }));
    messages.push(json!({ "role": "user", "content": [
        { "type": "tool_result", "tool_use_id": first["content"][0]["id"], "content": "18 °C" }] }));
    let second: Value = client
        .post(&url)
        .json(&ask(&messages))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        second["content"][0]["text"],
        "It is 18 °C and sunny in Paris."
    );

    // Structured output.
    let url = format!("{}/v1/chat/completions", server.uri());
    let structured = json!({ "model": "gpt-4o", "messages": [{ "role": "user", "content": "Paris?" }],
        "response_format": { "type": "json_schema", "json_schema": { "name": "w", "schema": { "type": "object" } } } });
    let answer: Value = client
        .post(&url)
        .json(&structured)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let document: Value =
        serde_json::from_str(answer["choices"][0]["message"]["content"].as_str().unwrap()).unwrap();
    assert_eq!(document["temperature"], 18);
}

#[tokio::test]
async fn a_fixture_names_the_models_and_scripts_an_embeddings_error() {
    let fixture = Fixture::from_json(
        r#"{
            "models": ["gpt-4o", "my-fine-tune"],
            "mocks": [{
                "when": { "path": "/v1/embeddings", "body_partial_json": { "input": "boom" } },
                "reply": { "http_error": "server_error" }
            }]
        }"#,
    )
    .unwrap();
    let server = MockChatServer::builder().fixture(fixture).start().await;
    let client = reqwest::Client::new();
    let list: Value = client
        .get(format!("{}/models", server.openai_base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"][1]["id"], "my-fine-tune");
    let url = format!("{}/embeddings", server.openai_base_url());
    let failed = client
        .post(&url)
        .json(&json!({ "model": "text-embedding-3-small", "input": "boom" }))
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status(), 500);
    let fine = client
        .post(&url)
        .json(&json!({ "model": "text-embedding-3-small", "input": "fine" }))
        .send()
        .await
        .unwrap();
    assert_eq!(fine.status(), 200);
}

#[tokio::test]
async fn the_reasoning_example_thinks_signs_counts_the_cache_and_fails_embeddings_once() {
    let server = start_with(Fixture::load(example("reasoning.json")).unwrap()).await;
    let client = reqwest::Client::new();
    let body = json!({ "model": "claude-sonnet-4-5", "max_tokens": 2048,
                       "thinking": { "type": "enabled", "budget_tokens": 1024 },
                       "messages": [{ "role": "user", "content": "Paris in June?" }] });
    let message: Value = client
        .post(format!("{}/v1/messages", server.uri()))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        message["content"],
        json!([
            { "type": "thinking", "thinking": "The user asks about Paris in June.",
              "signature": "EqQBCkYIARgC" },
            { "type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix" },
            { "type": "text", "text": "Paris in June is mild and sunny." },
        ])
    );
    assert_eq!(message["usage"]["input_tokens"], 1200);
    assert_eq!(message["usage"]["cache_read_input_tokens"], 1024);
    assert_eq!(message["usage"]["cache_creation_input_tokens"], 64);

    let url = format!("{}/embeddings", server.openai_base_url());
    let embed = json!({ "model": "text-embedding-3-small", "input": "Paris" });
    let first = client.post(&url).json(&embed).send().await.unwrap();
    assert_eq!(first.status(), 429);
    assert_eq!(first.headers()["retry-after"], "1");
    let second = client.post(&url).json(&embed).send().await.unwrap();
    assert_eq!(second.status(), 200);

    let models: Value = client
        .get(format!("{}/v1/models", server.uri()))
        .header("anthropic-version", "2023-06-01")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(models["data"][0]["id"], "claude-sonnet-4-5");
}
