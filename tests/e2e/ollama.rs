//! The Ollama wire format on `POST /api/chat`: newline-delimited JSON, checked line by
//! line against the reference.

use std::time::Duration;

use chatmock::{CutKind, MockChatServer, Reply, StreamError, StreamOutcome};
use futures::StreamExt;
use serde_json::{json, Value};

async fn post(server: &MockChatServer, body: Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/api/chat", server.uri()))
        .json(&body)
        .send()
        .await
        .expect("the server answers")
}

fn chat(stream: Option<bool>) -> Value {
    let mut body =
        json!({ "model": "llama3.2", "messages": [{ "role": "user", "content": "Why?" }] });
    if let Some(stream) = stream {
        body["stream"] = json!(stream);
    }
    body
}

fn lines(body: &[u8]) -> Vec<Value> {
    let text = std::str::from_utf8(body).unwrap();
    assert!(text.ends_with('\n'), "every line is terminated");
    text.lines()
        .map(|line| serde_json::from_str(line).expect("every line is one JSON object"))
        .collect()
}

#[tokio::test]
async fn a_chat_streams_ndjson_by_default_ending_with_done() {
    let server = MockChatServer::builder()
        .reply(Reply::tokens(["The", " sky"]))
        .start()
        .await;

    let response = post(&server, chat(None)).await;

    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let lines = lines(&response.bytes().await.unwrap());
    assert_eq!(lines.len(), 3);
    for (line, token) in lines.iter().zip(["The", " sky"]) {
        assert_eq!(line["model"], "llama3.2");
        assert_eq!(
            line["message"],
            json!({ "role": "assistant", "content": token })
        );
        assert_eq!(line["done"], false);
    }
    let last = &lines[2];
    assert_eq!(last["done"], true);
    assert_eq!(last["done_reason"], "stop");
    assert_eq!(last["eval_count"], 2);
    assert_eq!(last["prompt_eval_count"], 1);
    for field in [
        "total_duration",
        "load_duration",
        "prompt_eval_duration",
        "eval_duration",
    ] {
        assert!(last[field].is_u64(), "{field} in nanoseconds");
    }
    let created_at = last["created_at"].as_str().unwrap();
    assert_eq!(
        created_at.len(),
        "2026-11-23T20:09:07.123456789Z".len(),
        "{created_at}"
    );
    assert!(
        created_at.as_bytes()[10] == b'T' && created_at.ends_with('Z'),
        "{created_at}"
    );
}

#[tokio::test]
async fn stream_false_gets_one_json_object() {
    let server = MockChatServer::builder()
        .reply(Reply::text("It scatters light.").finish_reason("length"))
        .start()
        .await;

    let response = post(&server, chat(Some(false))).await;

    assert_eq!(response.headers()["content-type"], "application/json");
    let json: Value = response.json().await.unwrap();
    assert_eq!(json["message"]["content"], "It scatters light.");
    assert_eq!(json["done"], true);
    assert_eq!(json["done_reason"], "length");
}

#[tokio::test]
async fn errors_are_a_bare_error_string_over_http_and_mid_stream() {
    let server = MockChatServer::builder()
        .reply(Reply::http_error(500))
        .start()
        .await;
    let response = post(&server, chat(None)).await;
    assert_eq!(response.status(), 500);
    let json: Value = response.json().await.unwrap();
    assert!(json["error"].is_string(), "{json}");

    let server = MockChatServer::builder()
        .reply(Reply::text("a b").error_after(1, StreamError::server_error()))
        .start()
        .await;
    let response = post(&server, chat(None)).await;
    assert_eq!(
        response.status(),
        200,
        "the status stays unchanged once streaming"
    );
    let lines = lines(&response.bytes().await.unwrap());
    assert_eq!(lines.len(), 2);
    assert_eq!(
        lines[1],
        json!({ "error": "The server had an error while processing your request. Sorry about that!" })
    );
}

#[tokio::test]
async fn a_chat_without_a_model_is_rejected() {
    let server = MockChatServer::start().await;

    let response = post(&server, json!({ "messages": [] })).await;

    assert_eq!(response.status(), 400);
    let json: Value = response.json().await.unwrap();
    assert_eq!(json, json!({ "error": "model is required" }));
}

#[tokio::test]
async fn a_stall_sends_no_keep_alive_into_ndjson_and_a_cut_is_a_cut() {
    let server = MockChatServer::builder()
        .reply(
            Reply::text("one two")
                .stall_after(1)
                .keep_alive(Duration::from_millis(10)),
        )
        .start()
        .await;
    let response = post(&server, chat(None)).await;
    let mut body = response.bytes_stream();
    let first = body.next().await.unwrap().unwrap();
    assert_eq!(lines(&first).len(), 1);
    // Ten keep-alive intervals pass; an SSE stream would have had ten comments by now.
    let more = tokio::time::timeout(Duration::from_millis(100), body.next()).await;
    assert!(more.is_err(), "nothing is written while stalled: {more:?}");

    let server = MockChatServer::builder()
        .reply(Reply::text("one two three").disconnect_after(2))
        .start()
        .await;
    assert!(post(&server, chat(None)).await.bytes().await.is_err());
    let requests = server.wait_for_streams_to_end().await.unwrap();
    assert_eq!(
        requests[0].stream_outcome(),
        &StreamOutcome::Cut {
            kind: CutKind::Disconnected,
            content_events: 2
        }
    );
}
