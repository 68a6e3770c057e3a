//! The OpenAI Responses wire format on `POST /v1/responses`: checked event by event
//! against the reference, and read by async-openai's Responses client.

use async_openai::config::OpenAIConfig;
use async_openai::types::responses::{CreateResponseArgs, ResponseStreamEvent, Status};
use async_openai::Client;
use chatmock::{matchers, CutKind, Mock, MockChatServer, Reply, StreamError, StreamOutcome};
use futures::StreamExt;
use serde_json::{json, Value};

use crate::support::parse_sse;

fn responses_url(server: &MockChatServer) -> String {
    format!("{}/responses", server.openai_base_url())
}

async fn post_responses(server: &MockChatServer, body: Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(responses_url(server))
        .json(&body)
        .send()
        .await
        .expect("the server answers")
}

fn client_for(server: &MockChatServer) -> Client<OpenAIConfig> {
    Client::with_config(
        OpenAIConfig::new()
            .with_api_base(server.openai_base_url())
            .with_api_key("test-key"),
    )
}

/// Streams a response with async-openai, returning every event (or error) in order.
pub async fn stream_events(
    server: &MockChatServer,
) -> Vec<Result<ResponseStreamEvent, async_openai::error::OpenAIError>> {
    let request = CreateResponseArgs::default()
        .model("gpt-4o-mini")
        .input("Tell me a joke")
        .build()
        .expect("a valid request");
    let stream = client_for(server)
        .responses()
        .create_stream(request)
        .await
        .expect("the stream opens");
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.collect::<Vec<_>>(),
    )
    .await
    .expect("the stream ends on its own")
}

#[tokio::test]
async fn a_response_stream_is_the_documented_event_sequence() {
    let server = MockChatServer::builder()
        .reply(Reply::tokens(["Why", " did", " it?"]))
        .start()
        .await;

    let response = post_responses(
        &server,
        json!({ "model": "gpt-4o-mini", "input": "joke", "stream": true }),
    )
    .await;
    assert_eq!(
        response.headers()["content-type"],
        "text/event-stream; charset=utf-8"
    );
    let body = response.bytes().await.unwrap();
    let events = parse_sse(&body).await;

    let names: Vec<&str> = events.iter().map(|event| event.event.as_str()).collect();
    assert_eq!(
        names,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    let data: Vec<Value> = events
        .iter()
        .map(|event| serde_json::from_str(&event.data).unwrap())
        .collect();
    for (index, (event, json)) in events.iter().zip(&data).enumerate() {
        assert_eq!(
            json["type"], event.event,
            "the data's type is the event's name"
        );
        assert_eq!(
            json["sequence_number"], index,
            "sequence numbers count from 0"
        );
    }
    let response_id = data[0]["response"]["id"].as_str().unwrap();
    assert!(response_id.starts_with("resp_"));
    assert_eq!(data[0]["response"]["status"], "in_progress");
    assert_eq!(data[0]["response"]["model"], "gpt-4o-mini");
    let item_id = data[2]["item"]["id"].as_str().unwrap();
    assert!(item_id.starts_with("msg_"));
    assert_eq!(data[4]["item_id"], item_id);
    assert_eq!(data[4]["delta"], "Why");
    assert_eq!(data[7]["text"], "Why did it?");
    assert_eq!(data[9]["item"]["content"][0]["text"], "Why did it?");
    let completed = &data[10]["response"];
    assert_eq!(completed["id"], response_id);
    assert_eq!(completed["status"], "completed");
    assert_eq!(completed["output"][0]["content"][0]["text"], "Why did it?");
    assert_eq!(completed["usage"]["output_tokens"], 3);
    assert_eq!(completed["usage"]["input_tokens"], 1);
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert!(!text.contains("[DONE]"));
    let last_event = &text[text.rfind("event: ").unwrap()..];
    assert!(last_event.starts_with("event: response.completed\ndata: {"));
    assert_eq!(
        last_event.find("\n\n"),
        Some(last_event.len() - 2),
        "the body ends right after response.completed"
    );
}

#[tokio::test]
async fn async_openai_streams_a_response_to_completion() {
    let server = MockChatServer::builder()
        .reply(Reply::text("Knock knock. Who is there?"))
        .start()
        .await;

    let events = stream_events(&server).await;

    let mut text = String::new();
    for event in &events {
        if let Ok(ResponseStreamEvent::ResponseOutputTextDelta(delta)) = event {
            text.push_str(&delta.delta);
        }
    }
    assert_eq!(text, "Knock knock. Who is there?");
    match events.last() {
        Some(Ok(ResponseStreamEvent::ResponseCompleted(completed))) => {
            assert_eq!(completed.response.status, Status::Completed);
            assert_eq!(
                completed.response.output_text().as_deref(),
                Some(text.as_str())
            );
            assert_eq!(completed.response.usage.as_ref().unwrap().output_tokens, 5);
        }
        other => panic!("expected response.completed last, got {other:?}"),
    }
    assert!(events.iter().all(Result::is_ok), "{events:?}");
}

#[tokio::test]
async fn async_openai_reads_a_complete_response() {
    let server = MockChatServer::builder()
        .reply(Reply::text("Not streamed."))
        .start()
        .await;
    let request = CreateResponseArgs::default()
        .model("gpt-4.1")
        .input("Say it")
        .build()
        .unwrap();

    let response = client_for(&server)
        .responses()
        .create(request)
        .await
        .unwrap();

    assert_eq!(response.status, Status::Completed);
    assert_eq!(response.model, "gpt-4.1");
    assert_eq!(response.output_text().as_deref(), Some("Not streamed."));
}

#[tokio::test]
async fn a_mid_stream_error_is_an_error_event_then_response_failed() {
    let server = MockChatServer::builder()
        .reply(Reply::text("one two three").error_after(2, StreamError::server_error()))
        .start()
        .await;

    let events = stream_events(&server).await;

    let kinds: Vec<String> = events
        .iter()
        .map(|event| match event {
            Ok(ResponseStreamEvent::ResponseOutputTextDelta(delta)) => {
                format!("delta {}", delta.delta)
            }
            Ok(ResponseStreamEvent::ResponseError(error)) => format!("error {}", error.message),
            Ok(ResponseStreamEvent::ResponseFailed(failed)) => {
                format!("failed {:?}", failed.response.status)
            }
            Ok(_) => "other".to_owned(),
            Err(error) => format!("client error {error}"),
        })
        .filter(|kind| kind != "other")
        .collect();
    assert_eq!(
        kinds,
        [
            "delta one",
            "delta  two",
            "error The server had an error while processing your request. Sorry about that!",
            "failed Failed",
        ]
    );
}

#[tokio::test]
async fn a_length_finish_ends_with_response_incomplete() {
    let server = MockChatServer::builder()
        .reply(Reply::text("cut short").finish_reason("length"))
        .start()
        .await;

    let events = stream_events(&server).await;

    match events.last() {
        Some(Ok(ResponseStreamEvent::ResponseIncomplete(incomplete))) => {
            assert_eq!(incomplete.response.status, Status::Incomplete);
        }
        other => panic!("expected response.incomplete last, got {other:?}"),
    }
}

#[tokio::test]
async fn faults_and_resume_work_on_the_responses_format_too() {
    let server = MockChatServer::builder()
        .reply(
            Reply::tokens(["a", "b", "c"])
                .event_ids()
                .disconnect_after(2),
        )
        .start()
        .await;
    let body = json!({ "model": "m", "input": "x", "stream": true });

    let cut = post_responses(&server, body.clone()).await.bytes().await;
    assert!(cut.is_err(), "the body breaks off");
    let resumed = reqwest::Client::new()
        .post(responses_url(&server))
        .header("last-event-id", "6")
        .json(&body)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();

    let events = parse_sse(&resumed).await;
    assert_eq!(
        events[0].id, "7",
        "four opening events and two deltas came before"
    );
    assert_eq!(events[0].event, "response.output_text.delta");
    let first: Value = serde_json::from_str(&events[0].data).unwrap();
    assert_eq!(first["delta"], "c");
    assert_eq!(
        first["sequence_number"], 6,
        "numbering continues across the resume"
    );
    assert_eq!(events.last().unwrap().event, "response.completed");
    let requests = server.wait_for_streams_to_end().await.unwrap();
    assert_eq!(
        requests[0].stream_outcome(),
        &StreamOutcome::Cut {
            kind: CutKind::Disconnected,
            content_events: 2
        }
    );
}

#[tokio::test]
async fn responses_requests_are_read_as_chat_and_matched_like_any_other() {
    let server = MockChatServer::start().await;
    Mock::given(matchers::path("/v1/responses"))
        .and(matchers::model("gpt-4o"))
        .and(matchers::last_user_message_contains("weather"))
        .respond_with(Reply::text("Sunny."))
        .expect(1)
        .mount(&server)
        .await;

    let response = post_responses(
        &server,
        json!({
            "model": "gpt-4o",
            "instructions": "Be brief.",
            "input": [{ "role": "user", "content": [{ "type": "input_text", "text": "Any weather?" }] }]
        }),
    )
    .await;

    let json: Value = response.json().await.unwrap();
    assert_eq!(json["output"][0]["content"][0]["text"], "Sunny.");
    let requests = server.received_requests().await;
    let chat = requests[0].chat().unwrap();
    assert_eq!(chat.messages()[0].role(), "system");
    assert_eq!(chat.messages()[0].content(), "Be brief.");
    assert_eq!(chat.last_user_message(), Some("Any weather?"));
    assert!(!chat.is_stream());
}

#[tokio::test]
async fn a_responses_request_without_input_is_a_400_naming_it() {
    let server = MockChatServer::start().await;

    let response = post_responses(&server, json!({ "model": "m" })).await;

    assert_eq!(response.status(), 400);
    let json: Value = response.json().await.unwrap();
    assert_eq!(json["error"]["param"], "input");
    assert_eq!(
        json["error"]["message"],
        "Missing required parameter: 'input'."
    );
}
