//! The Anthropic Messages wire format on `POST /v1/messages`, checked event by event
//! against the reference (event names, required fields, order, termination, errors).

use chatmock::{matchers, CutKind, Mock, MockChatServer, Reply, StreamError, StreamOutcome};
use serde_json::{json, Value};

use crate::support::parse_sse;

async fn post_messages(server: &MockChatServer, body: Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/v1/messages", server.uri()))
        .header("x-api-key", "test-key")
        .header("anthropic-version", "2023-06-01")
        .json(&body)
        .send()
        .await
        .expect("the server answers")
}

fn message_request(stream: bool) -> Value {
    json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 256,
        "system": "Be brief.",
        "messages": [{ "role": "user", "content": "Hello there" }],
        "stream": stream
    })
}

/// Each event's name and its parsed data, checking that the data's `type` is the name.
async fn named_events(body: &[u8]) -> Vec<(String, Value)> {
    parse_sse(body)
        .await
        .into_iter()
        .map(|event| {
            let data: Value = serde_json::from_str(&event.data).expect("every event is JSON");
            assert_eq!(data["type"], event.event, "the data repeats the event name");
            (event.event, data)
        })
        .collect()
}

#[tokio::test]
async fn a_message_stream_is_the_documented_event_sequence() {
    let server = MockChatServer::builder()
        .reply(Reply::tokens(["Hi", " there", "!"]))
        .start()
        .await;

    let response = post_messages(&server, message_request(true)).await;
    assert_eq!(
        response.headers()["content-type"],
        "text/event-stream; charset=utf-8"
    );
    assert!(response.headers()["request-id"]
        .to_str()
        .unwrap()
        .starts_with("req_"));
    let body = response.bytes().await.unwrap();
    let events = named_events(&body).await;

    let names: Vec<&str> = events.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop",
        ]
    );
    let message = &events[0].1["message"];
    assert!(message["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(message["role"], "assistant");
    assert_eq!(message["model"], "claude-sonnet-4-5");
    assert_eq!(message["content"], json!([]));
    assert!(message["stop_reason"].is_null());
    assert_eq!(
        message["usage"]["input_tokens"], 4,
        "words of the system prompt and message"
    );
    assert_eq!(
        events[1].1["content_block"],
        json!({ "type": "text", "text": "" })
    );
    let text: String = events[3..6]
        .iter()
        .map(|(_, data)| {
            assert_eq!(data["index"], 0);
            assert_eq!(data["delta"]["type"], "text_delta");
            data["delta"]["text"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(text, "Hi there!");
    assert_eq!(events[6].1["index"], 0);
    assert_eq!(events[7].1["delta"]["stop_reason"], "end_turn");
    assert_eq!(events[7].1["usage"]["output_tokens"], 3);
    assert!(!String::from_utf8_lossy(&body).contains("[DONE]"));
    assert!(body.ends_with(b"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"));
}

#[tokio::test]
async fn finish_reasons_become_anthropic_stop_reasons() {
    for (finish, stop) in [
        ("length", "max_tokens"),
        ("tool_calls", "tool_use"),
        ("stop_sequence", "stop_sequence"),
    ] {
        let server = MockChatServer::builder()
            .reply(Reply::text("x").finish_reason(finish))
            .start()
            .await;

        let body = post_messages(&server, message_request(true))
            .await
            .bytes()
            .await
            .unwrap();
        let events = named_events(&body).await;

        let delta = &events
            .iter()
            .find(|(name, _)| name == "message_delta")
            .unwrap()
            .1;
        assert_eq!(delta["delta"]["stop_reason"], stop);
    }
}

#[tokio::test]
async fn a_non_streaming_request_gets_one_message() {
    let server = MockChatServer::builder()
        .reply(Reply::text("Whole answer.").finish_reason("length"))
        .start()
        .await;

    let response = post_messages(&server, message_request(false)).await;

    assert_eq!(response.headers()["content-type"], "application/json");
    let json: Value = response.json().await.unwrap();
    assert_eq!(json["type"], "message");
    assert_eq!(
        json["content"],
        json!([{ "type": "text", "text": "Whole answer." }])
    );
    assert_eq!(json["stop_reason"], "max_tokens");
    assert_eq!(json["usage"]["output_tokens"], 2);
}

#[tokio::test]
async fn a_mid_stream_error_is_an_error_event_and_the_stream_ends() {
    let server = MockChatServer::builder()
        .reply(Reply::text("one two three").error_after(1, StreamError::overloaded()))
        .start()
        .await;

    let body = post_messages(&server, message_request(true))
        .await
        .bytes()
        .await
        .unwrap();
    let events = named_events(&body).await;

    let names: Vec<&str> = events.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "error"
        ]
    );
    assert_eq!(
        events[4].1["error"],
        json!({
            "type": "overloaded_error",
            "message": "The engine is currently overloaded, please try again later."
        })
    );
}

#[tokio::test]
async fn http_errors_take_anthropics_shape_and_overloaded_is_529() {
    let cases = [
        (Reply::overloaded(), 529, "overloaded_error"),
        (Reply::invalid_api_key(), 401, "authentication_error"),
        (Reply::rate_limited(), 429, "rate_limit_error"),
        (Reply::server_error(), 500, "api_error"),
        (Reply::http_error(404), 404, "not_found_error"),
        (Reply::http_error(400), 400, "invalid_request_error"),
    ];
    for (reply, status, error_type) in cases {
        let server = MockChatServer::builder().reply(reply).start().await;

        let response = post_messages(&server, message_request(true)).await;

        assert_eq!(response.status().as_u16(), status);
        let request_id = response.headers()["request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let json: Value = response.json().await.unwrap();
        assert_eq!(json["type"], "error");
        assert_eq!(json["error"]["type"], error_type, "{status}");
        assert!(json["error"]["message"].is_string());
        assert_eq!(json["request_id"], request_id);
    }
}

#[tokio::test]
async fn a_request_without_max_tokens_is_rejected_as_anthropic_does() {
    let server = MockChatServer::start().await;
    let mut request = message_request(true);
    request.as_object_mut().unwrap().remove("max_tokens");

    let response = post_messages(&server, request).await;

    assert_eq!(response.status(), 400);
    let json: Value = response.json().await.unwrap();
    assert_eq!(json["error"]["type"], "invalid_request_error");
    assert_eq!(json["error"]["message"], "max_tokens: Field required");
}

#[tokio::test]
async fn anthropic_requests_are_matched_like_any_chat_request() {
    let server = MockChatServer::start().await;
    Mock::given(matchers::model("claude-sonnet-4-5"))
        .and(matchers::last_user_message_is("Hello there"))
        .respond_with(Reply::text("Matched."))
        .expect(1)
        .mount(&server)
        .await;

    let json: Value = post_messages(&server, message_request(false))
        .await
        .json()
        .await
        .unwrap();

    assert_eq!(json["content"][0]["text"], "Matched.");
    let requests = server.received_requests().await;
    let chat = requests[0].chat().unwrap();
    assert_eq!(chat.messages()[0].role(), "system");
    assert_eq!(chat.messages()[0].content(), "Be brief.");
}

#[tokio::test]
async fn a_cut_is_a_cut_in_the_anthropic_format_too() {
    let server = MockChatServer::builder()
        .reply(Reply::text("one two three").reset_connection_after(2))
        .start()
        .await;

    let outcome = post_messages(&server, message_request(true))
        .await
        .bytes()
        .await;

    assert!(outcome.is_err(), "the connection is reset");
    let requests = server.wait_for_streams_to_end().await.unwrap();
    assert_eq!(
        requests[0].stream_outcome(),
        &StreamOutcome::Cut {
            kind: CutKind::Reset,
            content_events: 2
        }
    );
}
