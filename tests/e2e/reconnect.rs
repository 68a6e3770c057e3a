//! Reconnection: SSE ids, `retry:`, resuming from `Last-Event-ID`, and outages, driven by
//! reqwest-eventsource, a client that reconnects on its own.

use std::time::Duration;

use chatmock::{matchers, CutKind, Mock, MockChatServer, Reply, StreamOutcome};
use futures::StreamExt;
use reqwest_eventsource::{Event, EventSource};
use serde_json::Value;

use crate::support::{assert_between, chat_body, chat_url, ms, parse_sse, post_chat};

const TEXT: &str = "The quick brown fox jumps over the lazy dog";

/// Streams a chat completion with reqwest-eventsource until `[DONE]`, reconnecting
/// whenever the stream breaks, and returns the text and the errors it met on the way.
async fn stream_with_reconnects(url: String) -> (String, Vec<String>) {
    let request = reqwest012::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(chat_body("gpt-4o-mini", "Tell me about foxes", true));
    let mut source = EventSource::new(request).expect("the request can be cloned for retries");
    let mut text = String::new();
    let mut errors = Vec::new();
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), source.next())
            .await
            .expect("the client makes progress")
            .expect("the source stays open until closed");
        match event {
            Ok(Event::Open) => {}
            Ok(Event::Message(message)) if message.data == "[DONE]" => {
                source.close();
                return (text, errors);
            }
            Ok(Event::Message(message)) => {
                let chunk: Value = serde_json::from_str(&message.data).unwrap();
                text.push_str(
                    chunk["choices"][0]["delta"]["content"]
                        .as_str()
                        .unwrap_or(""),
                );
            }
            Err(error) => errors.push(error.to_string()),
        }
    }
}

/// POSTs a streaming chat request as a reconnecting client would, with `Last-Event-ID`.
async fn post_resuming(server: &MockChatServer, last_event_id: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(chat_url(server))
        .header("last-event-id", last_event_id)
        .body(chat_body("m", "x", true))
        .send()
        .await
        .expect("the server answers")
}

async fn resumes_after_a_cut(cut: fn(Reply) -> Reply, kind: CutKind) {
    let reply = Reply::text(TEXT).event_ids().reconnection_time(ms(150));
    let server = MockChatServer::builder().reply(cut(reply)).start().await;

    let (text, errors) = stream_with_reconnects(chat_url(&server)).await;

    assert_eq!(
        text, TEXT,
        "every token arrives exactly once across the attempts"
    );
    assert_eq!(errors.len(), 1, "one broken stream: {errors:?}");
    let requests = server.wait_for_streams_to_end().await.unwrap();
    assert_eq!(requests.len(), 2);
    assert_eq!(
        requests[0].stream_outcome(),
        &StreamOutcome::Cut {
            kind,
            content_events: 3
        }
    );
    assert_eq!(
        requests[1].header("last-event-id"),
        Some("4"),
        "the role chunk and three tokens were events 1 to 4"
    );
    assert_eq!(
        requests[1].stream_outcome(),
        &StreamOutcome::Completed { content_events: 6 }
    );
    let waited = requests[1].received_at() - requests[0].ended_at().unwrap();
    assert_between(
        "wait before reconnecting (retry: 150)",
        waited,
        ms(140),
        ms(3_000),
    );
}

#[tokio::test]
async fn reqwest_eventsource_resumes_after_a_clean_end() {
    resumes_after_a_cut(|reply| reply.end_cleanly_after(3), CutKind::EndedCleanly).await;
}

#[tokio::test]
async fn reqwest_eventsource_resumes_after_a_disconnect() {
    resumes_after_a_cut(|reply| reply.disconnect_after(3), CutKind::Disconnected).await;
}

#[tokio::test]
async fn reqwest_eventsource_resumes_after_a_reset() {
    resumes_after_a_cut(|reply| reply.reset_connection_after(3), CutKind::Reset).await;
}

#[tokio::test]
async fn event_ids_number_every_event_and_retry_rides_on_the_first() {
    let server = MockChatServer::builder()
        .reply(
            Reply::tokens(["a", "b"])
                .event_ids()
                .reconnection_time(ms(2_500)),
        )
        .start()
        .await;

    let body = post_chat(&server, chat_body("m", "x", true))
        .await
        .bytes()
        .await
        .unwrap();

    let events = parse_sse(&body).await;
    let ids: Vec<&str> = events.iter().map(|event| event.id.as_str()).collect();
    assert_eq!(ids, ["1", "2", "3", "4", "5"]);
    assert_eq!(events[0].retry, Some(ms(2_500)));
    assert!(events[1..].iter().all(|event| event.retry.is_none()));
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert!(text.starts_with("id: 1\nretry: 2500\ndata: {"), "{text}");
}

#[tokio::test]
async fn last_event_id_resumes_after_that_event() {
    let server = MockChatServer::builder()
        .reply(Reply::tokens(["a", "b", "c", "d"]).event_ids())
        .start()
        .await;

    let body = post_resuming(&server, "3").await.bytes().await.unwrap();

    let events = parse_sse(&body).await;
    assert_eq!(events[0].id, "4");
    let text: String = events
        .iter()
        .filter_map(|event| serde_json::from_str::<Value>(&event.data).ok())
        .filter_map(|chunk| {
            chunk["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(text, "cd", "events 1 to 3 were the role chunk, a and b");
    let requests = server.wait_for_streams_to_end().await.unwrap();
    assert_eq!(
        requests[0].stream_outcome(),
        &StreamOutcome::Completed { content_events: 2 }
    );
}

#[tokio::test]
async fn a_last_event_id_that_is_not_an_id_is_a_400() {
    let server = MockChatServer::builder()
        .reply(Reply::text("a b").event_ids())
        .start()
        .await;

    let response = post_resuming(&server, "abc").await;

    assert_eq!(response.status(), 400);
    let json: Value = response.json().await.unwrap();
    assert_eq!(json["error"]["param"], "Last-Event-ID");
    assert!(json["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("Last-Event-ID \"abc\" is not an id this stream sends"));
}

#[tokio::test]
async fn without_event_ids_last_event_id_is_ignored_as_the_real_api_does() {
    let server = MockChatServer::builder()
        .reply(Reply::tokens(["a", "b"]))
        .start()
        .await;

    let body = post_resuming(&server, "3").await.bytes().await.unwrap();

    assert_eq!(
        parse_sse(&body).await.len(),
        5,
        "the whole stream, from the start"
    );
}

#[tokio::test]
async fn a_sequence_answers_the_first_attempt_with_a_cut_and_the_retry_in_full() {
    let server = MockChatServer::start().await;
    Mock::given(matchers::stream(true))
        .respond_with_sequence([
            Reply::text(TEXT).disconnect_after(2),
            Reply::text(TEXT).reconnection_time(ms(10)),
        ])
        .expect(2)
        .mount(&server)
        .await;

    let (text, errors) = stream_with_reconnects(chat_url(&server)).await;

    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(text, format!("The quick{TEXT}"), "the retry starts over");
}

#[tokio::test]
async fn stop_and_restart_keep_the_port_the_mocks_and_the_log() {
    let server = MockChatServer::start().await;
    Mock::given(matchers::any())
        .respond_with(Reply::text("still mocked"))
        .expect(2)
        .mount(&server)
        .await;
    let port = server.address().port();
    assert_eq!(
        post_chat(&server, chat_body("m", "x", false))
            .await
            .status(),
        200
    );

    server.stop().await;
    let refused = reqwest::Client::new()
        .post(chat_url(&server))
        .body(chat_body("m", "x", false))
        .send()
        .await
        .unwrap_err();
    assert!(refused.is_connect(), "{refused:?}");

    server.restart().await;
    assert_eq!(server.address().port(), port);
    let response = post_chat(&server, chat_body("m", "x", false)).await;
    let json: Value = response.json().await.unwrap();
    assert_eq!(json["choices"][0]["message"]["content"], "still mocked");
    assert_eq!(server.received_requests().await.len(), 2);
}

#[tokio::test]
async fn a_stream_in_flight_when_the_server_stops_is_recorded_as_stopped() {
    let server = MockChatServer::builder()
        .reply(Reply::text("one two three").token_delay(ms(60_000)))
        .start()
        .await;
    let response = post_chat(&server, chat_body("m", "x", true)).await;
    let mut body = response.bytes_stream();
    body.next().await.unwrap().unwrap();

    server.stop().await;

    let next = tokio::time::timeout(ms(2_000), body.next()).await.unwrap();
    assert!(
        matches!(next, None | Some(Err(_))),
        "the client sees the end"
    );
    let requests = server.received_requests().await;
    assert_eq!(
        requests[0].stream_outcome(),
        &StreamOutcome::ServerStopped { content_events: 1 }
    );
}

#[tokio::test]
async fn reqwest_eventsource_rides_out_an_outage_and_resumes() {
    let server = MockChatServer::builder()
        .reply(
            Reply::text(TEXT)
                .token_delay(ms(40))
                .event_ids()
                .reconnection_time(ms(50)),
        )
        .start()
        .await;
    let client = tokio::spawn(stream_with_reconnects(chat_url(&server)));
    server
        .wait_until(|requests| {
            requests
                .first()
                .is_some_and(|request| request.stream_outcome().content_events() >= 3)
        })
        .await
        .expect("the stream makes progress");

    server.stop().await;
    // The outage: the client's reconnection attempts are refused meanwhile.
    tokio::time::sleep(ms(300)).await;
    server.restart().await;
    let (text, errors) = client.await.unwrap();

    assert_eq!(text, TEXT, "every token exactly once across the outage");
    assert!(!errors.is_empty());
    let requests = server.received_requests().await;
    assert_eq!(requests.len(), 2, "refused attempts never reach the server");
    assert!(matches!(
        requests[0].stream_outcome(),
        StreamOutcome::ServerStopped { content_events } if *content_events >= 3
    ));
    let resumed_after: u64 = requests[1]
        .header("last-event-id")
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        resumed_after >= 4,
        "role chunk and at least 3 tokens: {resumed_after}"
    );
    assert_between(
        "outage seen by the client",
        requests[1].received_at() - requests[0].ended_at().unwrap(),
        ms(290),
        ms(8_000),
    );
}
