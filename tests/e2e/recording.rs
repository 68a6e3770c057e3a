//! What the server records: each request, and what became of its stream.

use std::time::{Duration, Instant};

use chatmock::{MockChatServer, Reply, StreamOutcome};
use futures::StreamExt;
use serde_json::json;

use crate::support::{chat_body, chat_url, ms, post_chat};

#[tokio::test]
async fn each_request_is_recorded_in_order_with_its_parts() {
    let server = MockChatServer::start().await;
    let before = Instant::now();
    let body = json!({
        "model": "gpt-4o-mini",
        "stream": true,
        "messages": [
            { "role": "system", "content": "Be brief." },
            { "role": "user", "content": [
                { "type": "text", "text": "Describe " },
                { "type": "image_url", "image_url": { "url": "data:," } },
                { "type": "text", "text": "this." }
            ]},
            { "role": "assistant", "content": null },
            { "role": "user", "content": "And now?" }
        ]
    });
    reqwest::Client::new()
        .post(format!("{}?api-version=2024-06-01", chat_url(&server)))
        .header("authorization", "Bearer sk-test")
        .json(&body)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    reqwest::get(format!("{}/stream", server.uri()))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();

    let requests = server.received_requests().await;

    assert_eq!(requests.len(), 2);
    let chat_request = &requests[0];
    assert_eq!(chat_request.method(), "POST");
    assert_eq!(chat_request.path(), "/v1/chat/completions");
    assert_eq!(chat_request.query(), Some("api-version=2024-06-01"));
    assert_eq!(chat_request.header("Authorization"), Some("Bearer sk-test"));
    assert_eq!(chat_request.body_value(), &body);
    assert_eq!(chat_request.body(), body.to_string().as_bytes());
    let chat = chat_request.chat().unwrap();
    assert_eq!(chat.model(), "gpt-4o-mini");
    assert!(chat.is_stream());
    let roles: Vec<&str> = chat
        .messages()
        .iter()
        .map(|message| message.role())
        .collect();
    assert_eq!(roles, ["system", "user", "assistant", "user"]);
    assert_eq!(chat.messages()[1].content(), "Describe this.");
    assert_eq!(chat.messages()[2].content(), "");
    assert_eq!(chat.last_user_message(), Some("And now?"));
    assert!(chat_request.received_at().into_std() >= before);
    assert!(requests[1].received_at() >= chat_request.received_at());
    assert_eq!(requests[1].method(), "GET");
    assert_eq!(requests[1].path(), "/stream");
    assert!(requests[1].chat().is_none());
    assert_eq!(requests[1].body_value(), &serde_json::Value::Null);
}

#[tokio::test]
async fn a_finished_stream_is_recorded_as_completed_with_its_times() {
    let server = MockChatServer::builder()
        .reply(Reply::tokens(["a", "b", "c"]).first_token_delay(ms(50)))
        .start()
        .await;

    post_chat(&server, chat_body("m", "x", true))
        .await
        .bytes()
        .await
        .unwrap();
    post_chat(&server, chat_body("m", "x", false))
        .await
        .bytes()
        .await
        .unwrap();
    let requests = server.wait_for_streams_to_end().await.unwrap();

    let streamed = &requests[0];
    assert_eq!(
        streamed.stream_outcome(),
        &StreamOutcome::Completed { content_events: 3 }
    );
    assert_eq!(streamed.response_status(), Some(200));
    let first_event = streamed.first_event_at().unwrap();
    assert!(first_event - streamed.received_at() >= ms(50));
    assert!(streamed.ended_at().unwrap() >= first_event);
    let complete = &requests[1];
    assert_eq!(complete.stream_outcome(), &StreamOutcome::NotStreamed);
    assert_eq!(complete.response_status(), Some(200));
    assert!(complete.ended_at().unwrap() - complete.received_at() >= ms(50));
}

#[tokio::test]
async fn a_client_that_stops_reading_is_recorded_as_hung_up_after_k_events() {
    let tokens: Vec<String> = (0..50).map(|index| format!("t{index}")).collect();
    let server = MockChatServer::builder()
        .reply(Reply::tokens(tokens).token_delay(ms(20)))
        .start()
        .await;

    let response = post_chat(&server, chat_body("m", "x", true)).await;
    let mut body = response.bytes_stream();
    let mut seen = String::new();
    while !seen.contains("\"t2\"") {
        seen.push_str(&String::from_utf8_lossy(
            &body.next().await.unwrap().unwrap(),
        ));
    }
    drop(body);

    let requests = server.wait_for_streams_to_end().await.unwrap();
    match requests[0].stream_outcome() {
        StreamOutcome::ClientHungUp { content_events } => assert!(
            (3..10).contains(content_events),
            "read 3 tokens, then hung up; the server noticed at {content_events}"
        ),
        other => panic!("expected a hang-up, got {other:?}"),
    }
    assert!(requests[0].ended_at().is_some());
}

#[tokio::test]
async fn a_client_that_leaves_before_a_complete_response_is_recorded_as_hung_up() {
    let server = MockChatServer::builder()
        .reply(Reply::text("slow").first_token_delay(ms(10_000)))
        .start()
        .await;

    let request = reqwest::Client::new()
        .post(chat_url(&server))
        .body(chat_body("m", "x", false))
        .timeout(ms(100))
        .send()
        .await;
    assert!(request.unwrap_err().is_timeout());

    let requests = server.wait_for_streams_to_end().await.unwrap();
    assert_eq!(
        requests[0].stream_outcome(),
        &StreamOutcome::ClientHungUp { content_events: 0 }
    );
    assert_eq!(requests[0].response_status(), None);
}

#[tokio::test]
async fn wait_for_requests_returns_as_soon_as_enough_have_arrived() {
    let server = MockChatServer::start().await;
    let url = chat_url(&server);
    let background_client = tokio::spawn(async move {
        for _ in 0..3 {
            tokio::time::sleep(ms(30)).await;
            reqwest::Client::new()
                .post(&url)
                .body(chat_body("m", "x", false))
                .send()
                .await
                .unwrap();
        }
    });

    let started = Instant::now();
    let requests = server.wait_for_requests(3).await.unwrap();

    assert_eq!(requests.len(), 3);
    assert!(started.elapsed() < Duration::from_secs(4));
    background_client.await.unwrap();
}

#[tokio::test]
async fn a_wait_that_times_out_says_what_it_waited_for_and_what_arrived() {
    let server = MockChatServer::builder()
        .wait_timeout(ms(200))
        .start()
        .await;
    post_chat(&server, chat_body("gpt-4o", "only one", true))
        .await
        .bytes()
        .await
        .unwrap();

    let started = Instant::now();
    let error = server.wait_for_requests(2).await.unwrap_err();

    assert!(started.elapsed() >= ms(200));
    assert_eq!(error.received_requests().len(), 1);
    let message = error.to_string();
    assert!(
        message.starts_with("chatmock: waited 200ms for 2 requests, in vain."),
        "{message}"
    );
    assert!(message.contains("Received requests (1):"), "{message}");
    assert!(
        message.contains("last user message=\"only one\""),
        "{message}"
    );
    assert_eq!(
        format!("{error:?}"),
        message,
        "unwrap() prints the readable message"
    );
}

#[tokio::test]
async fn a_wait_for_a_stream_that_never_ends_times_out_with_the_reason() {
    let server = MockChatServer::builder()
        .reply(Reply::text("a b").token_delay(ms(60_000)))
        .wait_timeout(ms(150))
        .start()
        .await;
    let response = post_chat(&server, chat_body("m", "x", true)).await;
    let mut body = response.bytes_stream();
    body.next().await.unwrap().unwrap();

    let error = server.wait_for_streams_to_end().await.unwrap_err();

    assert!(
        error.to_string().contains("1 of them still has no end"),
        "{error}"
    );
    assert_eq!(
        error.received_requests()[0].stream_outcome(),
        &StreamOutcome::Streaming { content_events: 1 }
    );
}
