//! The OpenAI Chat Completions wire format, checked frame by frame over real sockets.

use std::time::{Duration, Instant};

use chatmock::{MockChatServer, Reply, Step};
use serde_json::Value;

use crate::support::{
    assert_between, chat_body, chunks, content_of, ms, parse_sse, post_chat, timed_chunks,
};

#[tokio::test]
async fn a_stream_is_role_chunk_then_one_chunk_per_token_then_finish_then_done() {
    let server = MockChatServer::builder()
        .reply(Reply::tokens(["Hello", ",", " world"]))
        .start()
        .await;

    let response = post_chat(&server, chat_body("gpt-4o-mini", "Hi", true)).await;
    assert_eq!(response.status(), 200);
    let body = response.bytes().await.unwrap();
    let events = parse_sse(&body).await;
    let chunks = chunks(&body).await;

    assert_eq!(events.len(), 6, "role, 3 tokens, finish, [DONE]");
    assert!(events
        .iter()
        .all(|event| event.event == "message" && event.id.is_empty()));
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(chunks[0]["choices"][0]["delta"]["content"], "");
    assert_eq!(content_of(&chunks[1..4]), "Hello, world");
    for token_chunk in &chunks[1..4] {
        assert!(token_chunk["choices"][0]["finish_reason"].is_null());
        assert!(token_chunk["choices"][0]["delta"].get("role").is_none());
    }
    assert_eq!(chunks[4]["choices"][0]["delta"], serde_json::json!({}));
    assert_eq!(chunks[4]["choices"][0]["finish_reason"], "stop");
    assert_eq!(events[5].data, "[DONE]");

    let first = &chunks[0];
    assert!(first["id"].as_str().unwrap().starts_with("chatcmpl-"));
    for chunk in &chunks[..5] {
        assert_eq!(chunk["object"], "chat.completion.chunk");
        assert_eq!(chunk["id"], first["id"]);
        assert_eq!(chunk["created"], first["created"]);
        assert_eq!(chunk["model"], "gpt-4o-mini");
        assert_eq!(chunk["choices"][0]["index"], 0);
    }
    assert!(
        body.ends_with(b"data: [DONE]\n\n"),
        "the body ends right after [DONE]"
    );
}

#[tokio::test]
async fn the_frames_are_byte_exact() {
    let server = MockChatServer::builder()
        .reply(Reply::tokens(["Hi"]))
        .start()
        .await;

    let response = post_chat(&server, chat_body("m", "x", true)).await;
    let body = String::from_utf8(response.bytes().await.unwrap().to_vec()).unwrap();

    let id_start = body.find("chatcmpl-").unwrap();
    let id = &body[id_start..id_start + "chatcmpl-".len() + 29];
    let created_start = body.find("\"created\":").unwrap() + "\"created\":".len();
    let created: String = body[created_start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let fingerprint_start = body.find("\"fp_").unwrap() + 1;
    let fingerprint = &body[fingerprint_start..fingerprint_start + 13];
    let envelope = format!(
        "{{\"id\":\"{id}\",\"object\":\"chat.completion.chunk\",\"created\":{created},\
         \"model\":\"m\",\"service_tier\":\"default\",\"system_fingerprint\":\"{fingerprint}\",\
         \"choices\":[{{\"index\":0,\"delta\":"
    );
    let expected = format!(
        "data: {envelope}{{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null}},\"logprobs\":null,\"finish_reason\":null}}]}}\n\n\
         data: {envelope}{{\"content\":\"Hi\"}},\"logprobs\":null,\"finish_reason\":null}}]}}\n\n\
         data: {envelope}{{}},\"logprobs\":null,\"finish_reason\":\"stop\"}}]}}\n\n\
         data: [DONE]\n\n"
    );
    assert_eq!(body, expected);
}

#[tokio::test]
async fn stream_headers_match_the_real_api() {
    let server = MockChatServer::builder().reply(Reply::demo()).start().await;

    let response = post_chat(&server, chat_body("gpt-4o", "Hi", true)).await;

    let header = |name: &str| response.headers()[name].to_str().unwrap().to_owned();
    assert_eq!(header("content-type"), "text/event-stream; charset=utf-8");
    assert!(header("x-request-id").starts_with("req_"));
    assert_eq!(header("x-request-id").len(), 4 + 32);
    assert_eq!(header("openai-version"), "2020-10-01");
    assert_eq!(header("openai-model"), "gpt-4o");
    assert!(header("cache-control").contains("no-cache"));
    assert!(response
        .headers()
        .contains_key("x-ratelimit-remaining-requests"));
}

#[tokio::test]
async fn any_string_is_a_token_and_arrives_intact() {
    let tokens = [
        "plain",
        "",
        " leading space",
        "line\nbreak",
        "carriage\rreturn",
        "crlf\r\nline",
        "\"quotes\" and \\backslash\\",
        "unicode: héllo wörld 你好 🦀",
        "[DONE]",
        "data: not a field",
        ": not a comment",
        "\n\n",
        "tab\tand\u{0}nul",
    ];
    let server = MockChatServer::builder()
        .reply(Reply::tokens(tokens))
        .start()
        .await;

    let response = post_chat(&server, chat_body("m", "x", true)).await;
    let chunks = chunks(&response.bytes().await.unwrap()).await;

    let received: Vec<&str> = chunks[1..=tokens.len()]
        .iter()
        .map(|chunk| chunk["choices"][0]["delta"]["content"].as_str().unwrap())
        .collect();
    assert_eq!(received, tokens);
    assert_eq!(chunks.last().unwrap(), &Value::String("[DONE]".into()));
}

#[tokio::test]
async fn reply_text_splits_into_words_that_concatenate_back_exactly() {
    let text = "  Hello, this is\ta test.\n\nNew paragraph!  ";
    let server = MockChatServer::builder()
        .reply(Reply::text(text))
        .start()
        .await;

    let response = post_chat(&server, chat_body("m", "x", true)).await;
    let chunks = chunks(&response.bytes().await.unwrap()).await;

    let tokens: Vec<&str> = chunks
        .iter()
        .filter_map(|chunk| chunk["choices"][0]["delta"]["content"].as_str())
        .filter(|token| !token.is_empty())
        .collect();
    assert_eq!(tokens.concat(), text);
    assert_eq!(
        tokens,
        [
            "  Hello,",
            " this",
            " is",
            "\ta",
            " test.",
            "\n\nNew",
            " paragraph!",
            "  "
        ]
    );
}

#[tokio::test]
async fn an_empty_reply_still_sends_role_finish_and_done() {
    let server = MockChatServer::builder()
        .reply(Reply::tokens(Vec::<String>::new()))
        .start()
        .await;

    let response = post_chat(&server, chat_body("m", "x", true)).await;
    let chunks = chunks(&response.bytes().await.unwrap()).await;

    assert_eq!(chunks.len(), 3);
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(chunks[1]["choices"][0]["finish_reason"], "stop");
    assert_eq!(chunks[2], "[DONE]");
}

#[tokio::test]
async fn finish_reason_and_without_done_shape_the_end() {
    let server = MockChatServer::builder()
        .reply(
            Reply::text("cut short")
                .finish_reason("length")
                .without_done(),
        )
        .start()
        .await;

    let response = post_chat(&server, chat_body("m", "x", true)).await;
    let body = response.bytes().await.unwrap();
    let chunks = chunks(&body).await;

    let last = chunks.last().unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], "length");
    assert!(!String::from_utf8_lossy(&body).contains("[DONE]"));
    assert!(
        body.ends_with(b"}]}\n\n"),
        "the body still ends on a complete event"
    );
}

#[tokio::test]
async fn the_path_without_v1_is_a_404_that_asks_about_the_base_url() {
    let server = MockChatServer::builder()
        .reply(Reply::text("never sent"))
        .start()
        .await;

    let response = reqwest::Client::new()
        .post(format!("{}/chat/completions", server.uri()))
        .body(chat_body("m", "x", true))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 404);
    let error: Value = response.json().await.unwrap();
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(
            "The real API serves /v1/chat/completions: does the client's base URL leave out /v1?"
        ),
        "{message}"
    );
}

#[tokio::test]
async fn a_request_without_stream_gets_one_complete_chat_completion() {
    let server = MockChatServer::builder()
        .reply(
            Reply::tokens(["Hello", " there"])
                .token_delay(ms(5))
                .finish_reason("length"),
        )
        .start()
        .await;

    let body = r#"{"model":"gpt-4.1","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"say hello now"}]}"#;
    let response = post_chat(&server, body).await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let json: Value = response.json().await.unwrap();
    assert_eq!(json["object"], "chat.completion");
    assert_eq!(json["model"], "gpt-4.1");
    assert!(json["id"].as_str().unwrap().starts_with("chatcmpl-"));
    let choice = &json["choices"][0];
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(choice["message"]["content"], "Hello there");
    assert_eq!(choice["finish_reason"], "length");
    assert_eq!(json["usage"]["completion_tokens"], 2);
    assert_eq!(json["usage"]["prompt_tokens"], 5, "words in the messages");
    assert_eq!(json["usage"]["total_tokens"], 7);
}

#[tokio::test]
async fn delays_are_kept_first_token_then_between_tokens() {
    let server = MockChatServer::builder()
        .reply(
            Reply::tokens(["a", "b", "c", "d"])
                .first_token_delay(ms(150))
                .token_delay(ms(60)),
        )
        .start()
        .await;

    let sent = Instant::now();
    let response = post_chat(&server, chat_body("m", "x", true)).await;
    let arrivals = timed_chunks(response, sent).await;

    let token_times: Vec<_> = ["a", "b", "c", "d"]
        .iter()
        .map(|token| arrival_of(&arrivals, token))
        .collect();
    // Offsets from the request bound each token from below: no token can arrive before
    // it is due, while a token delayed by a loaded machine shortens the gap after it.
    for (index, at) in token_times.iter().enumerate() {
        let due = ms(150 + 60 * index as u64);
        assert_between("a token", *at, due, due + ms(1_000));
    }
    for pair in token_times.windows(2) {
        assert!(pair[1] - pair[0] <= ms(600), "{token_times:?}");
    }
    assert_between("whole stream", token_times[3], ms(330), ms(2000));
}

/// When the chunk carrying `token` as its content arrived.
fn arrival_of(arrivals: &[(Duration, String)], token: &str) -> Duration {
    let needle = format!("\"content\":\"{token}\"");
    arrivals
        .iter()
        .find(|(_, text)| text.contains(&needle))
        .map(|(at, _)| *at)
        .unwrap_or_else(|| panic!("{token} never arrived: {arrivals:?}"))
}

#[tokio::test]
async fn steps_carry_their_own_delays_and_pauses() {
    let server = MockChatServer::builder()
        .reply(Reply::steps([
            Step::token("now"),
            Step::pause(ms(200)),
            Step::token("after a pause"),
            Step::token("late").after(ms(150)),
        ]))
        .start()
        .await;

    let sent = Instant::now();
    let response = post_chat(&server, chat_body("m", "x", true)).await;
    let arrivals = timed_chunks(response, sent).await;

    // Offsets from the request, not gaps between arrivals: a token delayed by a loaded
    // machine shortens the gap after it, but no token can arrive before it is due.
    let at = |token: &str| arrival_of(&arrivals, token);
    assert_between("first token", at("now"), ms(0), ms(500));
    assert_between("pause", at("after a pause"), ms(200), ms(1100));
    assert_between("own delay", at("late"), ms(350), ms(1300));
    assert!(at("late") >= at("after a pause") + ms(100), "{arrivals:?}");
}

#[tokio::test]
async fn a_non_streaming_request_waits_for_the_whole_script() {
    let server = MockChatServer::builder()
        .reply(
            Reply::tokens(["a", "b", "c"])
                .first_token_delay(ms(100))
                .token_delay(ms(50)),
        )
        .start()
        .await;

    let sent = Instant::now();
    let response = post_chat(&server, chat_body("m", "x", false)).await;
    let json: Value = response.json().await.unwrap();

    assert_between("response time", sent.elapsed(), ms(200), ms(1500));
    assert_eq!(json["choices"][0]["message"]["content"], "abc");
}

#[tokio::test]
async fn zero_delay_streams_are_coalesced_but_complete() {
    let tokens: Vec<String> = (0..20_000).map(|index| format!("t{index} ")).collect();
    let server = MockChatServer::builder()
        .reply(Reply::tokens(tokens.clone()))
        .start()
        .await;

    let response = post_chat(&server, chat_body("m", "x", true)).await;
    let chunks = chunks(&response.bytes().await.unwrap()).await;

    assert_eq!(chunks.len(), 20_000 + 3);
    assert_eq!(content_of(&chunks), tokens.concat());
}

#[tokio::test]
async fn include_usage_adds_a_usage_chunk_before_done_as_the_api_does() {
    use async_openai::types::chat::CreateChatCompletionStreamResponse;

    let server = MockChatServer::builder()
        .reply(Reply::tokens(["a", "b", "c"]))
        .start()
        .await;
    let body = serde_json::json!({
        "model": "m",
        "messages": [{ "role": "user", "content": "count to three" }],
        "stream": true,
        "stream_options": { "include_usage": true }
    });

    let response = post_chat(&server, body.to_string()).await;
    let events = parse_sse(&response.bytes().await.unwrap()).await;

    assert_eq!(events.len(), 7, "role, 3 tokens, finish, usage, [DONE]");
    assert_eq!(events[6].data, "[DONE]");
    let chunks: Vec<CreateChatCompletionStreamResponse> = events[..6]
        .iter()
        .map(|event| serde_json::from_str(&event.data).expect("async-openai reads every chunk"))
        .collect();
    for chunk in &chunks[..5] {
        assert!(chunk.usage.is_none());
        assert_eq!(chunk.choices.len(), 1);
    }
    for event in &events[..5] {
        assert!(event.data.ends_with(",\"usage\":null}"), "{}", event.data);
    }
    let usage_chunk = &chunks[5];
    assert!(usage_chunk.choices.is_empty());
    let usage = usage_chunk.usage.as_ref().unwrap();
    assert_eq!(usage.completion_tokens, 3);
    assert_eq!(usage.prompt_tokens, 3);
    assert_eq!(usage.total_tokens, 6);
    assert_eq!(usage_chunk.id, chunks[0].id);

    let server = MockChatServer::builder()
        .reply(Reply::text("a b").error_after(1, chatmock::StreamError::server_error()))
        .start()
        .await;
    let response = post_chat(&server, body.to_string()).await;
    let events = parse_sse(&response.bytes().await.unwrap()).await;
    assert!(
        events
            .iter()
            .all(|event| !event.data.contains("\"usage\":{")),
        "an interrupted stream never gets its usage"
    );
}
