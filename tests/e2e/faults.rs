//! Scripted failures, and what real clients make of them: HTTP errors, mid-stream error
//! events, the three kinds of cut, stalls and framing faults.

use std::io;
use std::time::Instant;

use async_openai::error::OpenAIError;
use chatmock::{matchers, CutKind, Mock, MockChatServer, Reply, Step, StreamError, StreamOutcome};
use futures::StreamExt;
use serde_json::Value;

use crate::async_openai_client::{client_for, request, stream_completion};
use crate::support::{
    assert_between, chat_body, chat_url, chunks, content_of, ms, parse_sse, post_chat,
    read_until_error,
};

/// The I/O error kind at the bottom of a client error, if any.
fn io_error_kind(error: &(dyn std::error::Error + 'static)) -> Option<io::ErrorKind> {
    let mut source = Some(error);
    while let Some(error) = source {
        if let Some(io_error) = error.downcast_ref::<io::Error>() {
            return Some(io_error.kind());
        }
        source = error.source();
    }
    None
}

async fn server_replying(reply: Reply) -> MockChatServer {
    MockChatServer::builder().reply(reply).start().await
}

async fn only_outcome(server: &MockChatServer) -> StreamOutcome {
    let requests = server.wait_for_streams_to_end().await.unwrap();
    requests[0].stream_outcome().clone()
}

#[tokio::test]
async fn http_errors_carry_the_providers_error_shape_for_each_status() {
    let cases = [
        (400, "invalid_request_error", None),
        (401, "invalid_request_error", Some("invalid_api_key")),
        (
            403,
            "request_forbidden",
            Some("unsupported_country_region_territory"),
        ),
        (404, "invalid_request_error", Some("model_not_found")),
        (429, "requests", Some("rate_limit_exceeded")),
        (500, "server_error", None),
        (503, "server_error", None),
    ];
    for (status, error_type, code) in cases {
        let server = server_replying(Reply::http_error(status)).await;

        let response = post_chat(&server, chat_body("m", "x", true)).await;

        assert_eq!(response.status().as_u16(), status);
        assert_eq!(response.headers()["content-type"], "application/json");
        let json: Value = response.json().await.unwrap();
        assert_eq!(json["error"]["type"], error_type, "{status}: {json}");
        assert_eq!(json["error"]["code"].as_str(), code, "{status}: {json}");
        assert!(json["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
        assert!(json["error"].get("param").is_some());
        assert_eq!(only_outcome(&server).await, StreamOutcome::NotStreamed);
    }
}

#[tokio::test]
async fn presets_send_the_errors_clients_know() {
    let cases = [
        (
            Reply::rate_limited(),
            429,
            "requests",
            Some("rate_limit_exceeded"),
            None,
        ),
        (
            Reply::quota_exceeded(),
            429,
            "insufficient_quota",
            Some("insufficient_quota"),
            None,
        ),
        (Reply::overloaded(), 503, "server_error", None, None),
        (Reply::server_error(), 500, "server_error", None, None),
        (
            Reply::invalid_api_key(),
            401,
            "invalid_request_error",
            Some("invalid_api_key"),
            None,
        ),
        (
            Reply::context_length_exceeded(),
            400,
            "invalid_request_error",
            Some("context_length_exceeded"),
            Some("messages"),
        ),
    ];
    for (reply, status, error_type, code, param) in cases {
        let server = server_replying(reply).await;

        let response = post_chat(&server, chat_body("m", "x", true)).await;

        assert_eq!(response.status().as_u16(), status);
        let rate_limit_left = response
            .headers()
            .get("x-ratelimit-remaining-requests")
            .cloned();
        let json: Value = response.json().await.unwrap();
        assert_eq!(json["error"]["type"], error_type);
        assert_eq!(json["error"]["code"].as_str(), code);
        assert_eq!(json["error"]["param"].as_str(), param);
        if status == 429 && code == Some("rate_limit_exceeded") {
            assert_eq!(rate_limit_left.unwrap(), "0");
        }
    }
}

#[tokio::test]
async fn retry_after_custom_messages_and_headers_reach_the_client() {
    let server = server_replying(
        Reply::rate_limited()
            .retry_after(ms(1_500))
            .error_message("Slow down, test.")
            .header("x-should-retry", "true")
            .header("x-ratelimit-remaining-requests", "7"),
    )
    .await;

    let response = post_chat(&server, chat_body("m", "x", true)).await;

    let header = |name: &str| response.headers()[name].to_str().unwrap().to_owned();
    assert_eq!(header("retry-after"), "2", "whole seconds, rounded up");
    assert_eq!(header("retry-after-ms"), "1500");
    assert_eq!(header("x-should-retry"), "true");
    assert_eq!(
        header("x-ratelimit-remaining-requests"),
        "7",
        "the test's header wins"
    );
    let json: Value = response.json().await.unwrap();
    assert_eq!(json["error"]["message"], "Slow down, test.");
}

#[tokio::test]
async fn async_openai_retries_a_429_after_retry_after_and_then_streams() {
    let server = MockChatServer::start().await;
    Mock::given(matchers::any())
        .respond_with_sequence([
            Reply::rate_limited().retry_after(ms(1_000)),
            Reply::text("after the retry"),
        ])
        .expect(2)
        .mount(&server)
        .await;

    let (text, errors) = stream_completion(&server).await;

    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(text, "after the retry");
    let requests = server.wait_for_requests(2).await.unwrap();
    assert_eq!(requests[0].response_status(), Some(429));
    let waited = requests[1].received_at() - requests[0].ended_at().unwrap();
    assert_between("wait before the retry", waited, ms(950), ms(5_000));
}

#[tokio::test]
async fn async_openai_does_not_retry_an_exhausted_quota() {
    let server = server_replying(Reply::quota_exceeded()).await;

    let error = client_for(&server)
        .chat()
        .create_stream(request("m", "x"))
        .await
        .err()
        .expect("the quota error surfaces");

    match error {
        OpenAIError::ApiError(api) => {
            assert_eq!(api.api_error.r#type.as_deref(), Some("insufficient_quota"));
        }
        other => panic!("expected an API error, got {other:?}"),
    }
    assert_eq!(server.received_requests().await.len(), 1);
}

#[tokio::test]
async fn a_mid_stream_error_is_the_error_object_then_done() {
    let server = server_replying(
        Reply::text("one two three four").error_after(2, StreamError::server_error()),
    )
    .await;

    let response = post_chat(&server, chat_body("m", "x", true)).await;
    assert_eq!(response.status(), 200, "the error comes after the headers");
    let chunks = chunks(&response.bytes().await.unwrap()).await;

    assert_eq!(
        chunks.len(),
        5,
        "role, two tokens, the error, [DONE]: {chunks:?}"
    );
    assert_eq!(content_of(&chunks[..3]), "one two");
    assert_eq!(
        chunks[3],
        serde_json::json!({"error": {
            "message": "The server had an error while processing your request. Sorry about that!",
            "type": "server_error", "param": null, "code": null
        }})
    );
    assert_eq!(chunks[4], "[DONE]");
    assert!(chunks
        .iter()
        .all(|chunk| chunk["choices"][0]["finish_reason"].is_null()));
    assert_eq!(
        only_outcome(&server).await,
        StreamOutcome::Completed { content_events: 2 }
    );
}

#[tokio::test]
async fn async_openai_surfaces_a_mid_stream_error_as_an_error_item() {
    let server = server_replying(
        Reply::text("one two three").error_after(
            2,
            StreamError::new("Model crashed.")
                .with_type("model_error")
                .with_code("boom"),
        ),
    )
    .await;

    let (text, errors) = stream_completion(&server).await;

    assert_eq!(text, "one two");
    assert_eq!(errors.len(), 1, "{errors:?}");
    match &errors[0] {
        OpenAIError::JSONDeserialize(_, raw) => {
            assert!(raw.contains("\"message\":\"Model crashed.\""), "{raw}");
            assert!(raw.contains("\"code\":\"boom\""), "{raw}");
        }
        other => panic!("expected the raw error chunk, got {other:?}"),
    }
}

#[tokio::test]
async fn a_non_streaming_request_gets_a_scripted_error_as_its_http_status() {
    let server =
        server_replying(Reply::text("a b c").error_after(1, StreamError::overloaded())).await;

    let response = post_chat(&server, chat_body("m", "x", false)).await;

    assert_eq!(response.status(), 503);
    let json: Value = response.json().await.unwrap();
    assert_eq!(
        json["error"]["message"],
        "The engine is currently overloaded, please try again later."
    );
}

#[tokio::test]
async fn a_clean_end_closes_the_body_properly_without_done() {
    let server = server_replying(Reply::text("one two three four").end_cleanly_after(2)).await;

    let response = post_chat(&server, chat_body("m", "x", true)).await;
    let body = response.bytes().await.expect("a clean end is not an error");
    let chunks = chunks(&body).await;

    assert_eq!(content_of(&chunks), "one two");
    assert_eq!(
        chunks.len(),
        3,
        "role and two tokens, no finish chunk, no [DONE]"
    );
    assert_eq!(
        only_outcome(&server).await,
        StreamOutcome::Cut {
            kind: CutKind::EndedCleanly,
            content_events: 2
        }
    );
}

#[tokio::test]
async fn a_disconnect_leaves_the_client_with_an_incomplete_body() {
    let server = server_replying(Reply::text("one two three four").disconnect_after(2)).await;

    let response = post_chat(&server, chat_body("m", "x", true)).await;
    let error = response.bytes().await.expect_err("the body is incomplete");

    assert!(error.is_body() || error.is_decode(), "{error:?}");
    assert_eq!(
        io_error_kind(&error),
        Some(io::ErrorKind::UnexpectedEof),
        "{error:?}"
    );
    assert_eq!(
        only_outcome(&server).await,
        StreamOutcome::Cut {
            kind: CutKind::Disconnected,
            content_events: 2
        }
    );
}

#[tokio::test]
async fn a_reset_is_seen_as_connection_reset_by_peer() {
    let server = server_replying(Reply::text("one two three four").reset_connection_after(2)).await;

    let response = post_chat(&server, chat_body("m", "x", true)).await;
    let error = response.bytes().await.expect_err("the connection is reset");

    assert_eq!(
        io_error_kind(&error),
        Some(io::ErrorKind::ConnectionReset),
        "{error:?}"
    );
    assert_eq!(
        only_outcome(&server).await,
        StreamOutcome::Cut {
            kind: CutKind::Reset,
            content_events: 2
        }
    );
}

#[tokio::test]
async fn the_client_sees_the_tokens_sent_before_a_cut() {
    for reply in [
        Reply::text("one two three").disconnect_after(2),
        Reply::text("one two three").reset_connection_after(2),
    ] {
        let server = server_replying(reply).await;

        let response = post_chat(&server, chat_body("m", "x", true)).await;
        let mut body = response.bytes_stream();
        let mut received = Vec::new();
        let mut failed = false;
        while let Some(chunk) = body.next().await {
            match chunk {
                Ok(bytes) => received.extend_from_slice(&bytes),
                Err(_) => failed = true,
            }
        }

        assert!(failed);
        assert_eq!(content_of(&chunks(&received).await), "one two");
    }
}

#[tokio::test]
async fn async_openai_ends_cleanly_without_done() {
    for (reply, expected) in [
        (Reply::text("one two three").end_cleanly_after(2), "one two"),
        (Reply::text("one two three").without_done(), "one two three"),
    ] {
        let server = server_replying(reply).await;

        let (text, errors) = stream_completion(&server).await;

        assert!(
            errors.is_empty(),
            "a missing [DONE] is no error: {errors:?}"
        );
        assert_eq!(text, expected);
    }
}

#[tokio::test]
async fn a_non_streaming_request_meets_a_cut_as_a_failed_response() {
    let server = server_replying(Reply::text("a b").disconnect_after(1)).await;

    let outcome = reqwest::Client::new()
        .post(chat_url(&server))
        .body(chat_body("m", "x", false))
        .send()
        .await;

    let failed = match outcome {
        Err(_) => true,
        Ok(response) => response.bytes().await.is_err(),
    };
    assert!(failed, "the client never gets a complete response");
    assert_eq!(
        only_outcome(&server).await,
        StreamOutcome::Cut {
            kind: CutKind::Disconnected,
            content_events: 0
        }
    );
}

#[tokio::test]
async fn a_read_timeout_client_meets_a_stall_and_the_hang_up_is_recorded() {
    let server = server_replying(Reply::text("one two three four").stall_after(2)).await;

    let client = reqwest::Client::builder()
        .read_timeout(ms(300))
        .build()
        .unwrap();
    let response = client
        .post(chat_url(&server))
        .body(chat_body("m", "x", true))
        .send()
        .await
        .unwrap();
    let mut body = response.bytes_stream();
    let started = Instant::now();
    let (received, error) = read_until_error(&mut body).await;
    let stalled_for = started.elapsed();

    assert!(error.is_timeout(), "{error:?}");
    assert_between("time to the read timeout", stalled_for, ms(280), ms(3_000));
    assert_eq!(content_of(&chunks(&received).await), "one two");
    let during = server.received_requests().await;
    assert!(
        matches!(
            during[0].stream_outcome(),
            StreamOutcome::Stalled { content_events: 2 }
                | StreamOutcome::ClientHungUp { content_events: 2 }
        ),
        "{:?}",
        during[0].stream_outcome()
    );
    drop(body);
    assert_eq!(
        only_outcome(&server).await,
        StreamOutcome::ClientHungUp { content_events: 2 }
    );
}

#[tokio::test]
async fn a_stall_is_recorded_as_stalled_while_the_client_waits() {
    let server = server_replying(Reply::text("one two").stall_after(1)).await;

    let response = post_chat(&server, chat_body("m", "x", true)).await;
    let mut body = response.bytes_stream();
    body.next().await.unwrap().unwrap();
    let requests = server
        .wait_until(|requests| {
            matches!(
                requests.first().map(|request| request.stream_outcome()),
                Some(StreamOutcome::Stalled { .. })
            )
        })
        .await
        .expect("the stall is recorded");
    let stalled = requests[0].stream_outcome().content_events();

    assert_eq!(stalled, 1);
    assert!(!requests[0].stream_outcome().has_ended());
}

#[tokio::test]
async fn delaying_the_headers_trips_a_response_timeout() {
    let server = server_replying(Reply::text("late").delay_headers(ms(5_000))).await;

    let started = Instant::now();
    let outcome = reqwest::Client::new()
        .post(chat_url(&server))
        .body(chat_body("m", "x", true))
        .timeout(ms(200))
        .send()
        .await;

    assert!(outcome.unwrap_err().is_timeout());
    assert_between("timeout", started.elapsed(), ms(190), ms(2_000));
    let requests = server.wait_for_streams_to_end().await.unwrap();
    assert_eq!(requests[0].response_status(), None, "no headers were sent");
    assert_eq!(
        requests[0].stream_outcome(),
        &StreamOutcome::ClientHungUp { content_events: 0 }
    );
}

#[tokio::test]
async fn delayed_headers_arrive_late_then_the_stream_is_normal() {
    let server = server_replying(Reply::text("on time").delay_headers(ms(300))).await;

    let started = Instant::now();
    let response = post_chat(&server, chat_body("m", "x", true)).await;
    let headers_after = started.elapsed();
    let text = content_of(&chunks(&response.bytes().await.unwrap()).await);

    assert_between("headers", headers_after, ms(290), ms(2_000));
    assert_eq!(text, "on time");
}

#[tokio::test]
async fn keep_alive_comments_fill_a_stall_and_parsers_ignore_them() {
    let server = server_replying(Reply::text("one two").stall_after(1).keep_alive(ms(40))).await;

    let response = post_chat(&server, chat_body("m", "x", true)).await;
    let mut body = response.bytes_stream();
    let mut received = Vec::new();
    while received
        .windows(13)
        .filter(|w| w == b": keep-alive\n")
        .count()
        < 3
    {
        received.extend_from_slice(
            &tokio::time::timeout(ms(2_000), body.next())
                .await
                .unwrap()
                .unwrap()
                .unwrap(),
        );
    }

    let events = parse_sse(&received).await;
    assert_eq!(
        events.len(),
        2,
        "role and one token; comments are not events"
    );
    assert_eq!(content_of(&chunks(&received).await), "one");
}

#[tokio::test]
async fn a_malformed_chunk_is_an_error_item_and_the_stream_goes_on() {
    let server = server_replying(Reply::steps([
        Step::token("before"),
        Step::malformed_chunk(),
        Step::token(" after"),
    ]))
    .await;

    let (text, errors) = stream_completion(&server).await;
    let bad_chunks: Vec<String> = errors
        .into_iter()
        .map(|error| match error {
            OpenAIError::JSONDeserialize(_, raw) => raw,
            other => panic!("unexpected error {other:?}"),
        })
        .collect();

    assert_eq!(text, "before after");
    assert_eq!(bad_chunks.len(), 1);
    assert!(bad_chunks[0].starts_with("{\"id\":\"chatcmpl-"));
    assert!(serde_json::from_str::<Value>(&bad_chunks[0]).is_err());
}

#[tokio::test]
async fn raw_steps_and_comments_are_written_verbatim() {
    let server = server_replying(Reply::steps([
        Step::token("a"),
        Step::raw(b"data: {\"half\n".to_vec()),
        Step::raw(b"\xff\xfe".to_vec()),
        Step::comment("hello"),
    ]))
    .await;

    let body = post_chat(&server, chat_body("m", "x", true))
        .await
        .bytes()
        .await
        .unwrap();

    let raw_at = body
        .windows(13)
        .position(|window| window == b"data: {\"half\n")
        .expect("the raw bytes are in the body");
    assert!(
        body[raw_at - 2..].starts_with(b"\n\ndata: {\"half\n\xff\xfe: hello\n\ndata: {"),
        "after the token's event: the raw bytes, the comment, then the next event: {:?}",
        String::from_utf8_lossy(&body[raw_at - 2..])
    );
}

#[tokio::test]
async fn crlf_line_endings_are_used_throughout_and_parse_the_same() {
    let server = server_replying(
        Reply::tokens(["line\none", " two"])
            .crlf_line_endings()
            .event_ids()
            .reconnection_time(ms(1_000)),
    )
    .await;

    let body = post_chat(&server, chat_body("m", "x", true))
        .await
        .bytes()
        .await
        .unwrap();

    let lone_lf = body
        .iter()
        .enumerate()
        .filter(|(index, byte)| **byte == b'\n' && (*index == 0 || body[index - 1] != b'\r'))
        .count();
    assert_eq!(lone_lf, 0, "every line ends with CRLF");
    assert!(body.ends_with(b"data: [DONE]\r\n\r\n"));
    assert_eq!(content_of(&chunks(&body).await), "line\none two");

    let server = server_replying(Reply::tokens(["crlf", " works"]).crlf_line_endings()).await;
    let (text, errors) = stream_completion(&server).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(text, "crlf works");
}

#[tokio::test]
async fn fragmented_writes_split_events_and_characters_yet_parse_intact() {
    let tokens = ["héllo", " wörld", " 🦀🦀", " 你好"];
    let server = server_replying(Reply::tokens(tokens).fragment_writes(5)).await;

    let response = post_chat(&server, chat_body("m", "x", true)).await;
    let mut body = response.bytes_stream();
    let mut pieces = 0;
    let mut received = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.unwrap();
        assert!(chunk.len() <= 5 * 64, "pieces stay small");
        received.extend_from_slice(&chunk);
        pieces += 1;
    }
    assert!(
        pieces >= 20,
        "the client read the stream in many pieces: {pieces}"
    );
    assert_eq!(content_of(&chunks(&received).await), tokens.concat());

    let server = server_replying(Reply::tokens(tokens).fragment_writes(3)).await;
    let (text, errors) = stream_completion(&server).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(text, tokens.concat());
}

async fn mount_on_a_server(reply: impl FnOnce() -> Reply) {
    let server = MockChatServer::start().await;
    Mock::given(matchers::any())
        .respond_with(reply())
        .mount(&server)
        .await;
}

#[tokio::test]
#[should_panic(
    expected = "Reply::disconnect_after: the script has only 2 tokens (counting each text token, \
                refusal piece, thinking fragment, tool call and fragment of its arguments), so an ending after 5 \
                tokens would never happen: use a number from 0 to 2"
)]
async fn a_cut_after_more_tokens_than_the_script_has_is_rejected() {
    mount_on_a_server(|| Reply::text("one two").disconnect_after(5)).await;
}

#[tokio::test]
#[should_panic(
    expected = "Reply::stall_after: this stream already ends with an error event (error_after) \
                after 1 token, and a stream ends only once: to script two attempts, use a \
                sequence of two replies"
)]
async fn two_endings_for_one_stream_are_rejected() {
    mount_on_a_server(|| {
        Reply::text("one two")
            .error_after(1, StreamError::server_error())
            .stall_after(2)
    })
    .await;
}

#[tokio::test]
#[should_panic(
    expected = "Reply::token_delay: this option applies to streamed replies, but this reply is an \
                HTTP 429 error, which has no stream: use delay_headers to delay the error response"
)]
async fn stream_settings_on_an_http_error_are_rejected() {
    mount_on_a_server(|| Reply::rate_limited().token_delay(ms(5))).await;
}

#[tokio::test]
#[should_panic(
    expected = "Reply::http_error: 200 is not an HTTP error status: use one from 400 to 599 (for \
                a success, script a streamed reply instead)"
)]
async fn a_success_status_is_not_an_http_error() {
    mount_on_a_server(|| Reply::http_error(200)).await;
}

#[tokio::test]
#[should_panic(
    expected = "Reply::retry_after: this option applies to HTTP error replies (http_error and its \
                presets), but this reply is a stream: use error_after for an error event in a \
                stream"
)]
async fn retry_after_on_a_stream_is_rejected() {
    mount_on_a_server(|| Reply::text("hi").retry_after(ms(5))).await;
}
