//! Property tests: arbitrary scripts, streamed by a real server over a real socket under
//! every framing option (CRLF, fragmented writes, event ids, keep-alives), come back
//! exactly through a spec-compliant SSE parser (eventsource-stream) and through
//! async-openai's chunk types.

use async_openai::types::chat::CreateChatCompletionStreamResponse;
use chatmock::{MockChatServer, Reply};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::support::{chat_body, parse_sse};

/// Tokens that stress framing: line breaks of every kind, SSE field syntax, the end
/// marker, empty and whitespace-only strings, multi-byte characters, and arbitrary text.
fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[\\r\\n \\t]{0,4}",
        "(data|id|retry|event)?:? ?[a-z]{0,3}",
        Just("[DONE]".to_owned()),
        Just(String::new()),
        "[é你🦀\u{0}\u{feff}a-c]{1,6}",
    ]
}

/// How the stream is laid out on the wire; none of it may change what a parser reads.
#[derive(Debug, Clone)]
struct Framing {
    crlf: bool,
    fragment_size: Option<usize>,
    event_ids: bool,
}

fn framing() -> impl Strategy<Value = Framing> {
    (any::<bool>(), prop::option::of(1usize..24), any::<bool>()).prop_map(
        |(crlf, fragment_size, event_ids)| Framing {
            crlf,
            fragment_size,
            event_ids,
        },
    )
}

fn scripted(tokens: &[String], framing: &Framing) -> Reply {
    let mut reply = Reply::tokens(tokens.to_vec());
    if framing.crlf {
        reply = reply.crlf_line_endings();
    }
    if let Some(size) = framing.fragment_size {
        reply = reply.fragment_writes(size);
    }
    if framing.event_ids {
        reply = reply.event_ids();
    }
    reply
}

/// Streams `tokens` under `framing` from a fresh server: POSTs `body` to `path` (or GETs
/// `path` without a body), and returns the complete response body.
async fn stream_from(
    tokens: &[String],
    framing: &Framing,
    path: &str,
    body: Option<&str>,
) -> Result<axum::body::Bytes, TestCaseError> {
    let server = MockChatServer::builder()
        .reply(scripted(tokens, framing))
        .start()
        .await;
    let url = format!("{}{path}", server.uri());
    let client = reqwest::Client::new();
    let request = match body {
        Some(body) => client.post(url).body(body.to_owned()),
        None => client.get(url),
    };
    let response = request
        .send()
        .await
        .map_err(|error| TestCaseError::fail(format!("the server answers: {error}")))?;
    response
        .bytes()
        .await
        .map_err(|error| TestCaseError::fail(format!("the body is complete: {error}")))
}

/// Parses `text` as JSON of type `T`, failing the case with the text if it is not.
fn parsed<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, TestCaseError> {
    serde_json::from_str(text).map_err(|error| TestCaseError::fail(format!("{error}: {text:?}")))
}

/// Runs `cases` cases of `property` on one runtime, each against a fresh server.
fn check<S: Strategy>(
    cases: u32,
    strategy: S,
    property: impl Fn(S::Value) -> Result<(), TestCaseError>,
) {
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    if let Err(failure) = runner.run(&strategy, property) {
        panic!("{failure}");
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

#[test]
fn any_script_round_trips_through_the_chat_format_and_async_openai_types() {
    let runtime = runtime();
    let cases = (prop::collection::vec(token(), 0..24), framing());
    check(96, cases, |(tokens, framing)| {
        runtime.block_on(async {
            let body = stream_from(
                &tokens,
                &framing,
                "/v1/chat/completions",
                Some(&chat_body("gpt-4o-mini", "x", true)),
            )
            .await?;

            let events = parse_sse(&body).await;
            prop_assert_eq!(
                events.len(),
                tokens.len() + 3,
                "role, tokens, finish, [DONE]"
            );
            prop_assert_eq!(&events.last().unwrap().data, "[DONE]");
            let mut contents = Vec::new();
            for event in &events[..events.len() - 1] {
                let chunk: CreateChatCompletionStreamResponse = parsed(&event.data)?;
                contents.push(chunk.choices[0].delta.content.clone());
            }
            let received: Vec<String> = contents[1..=tokens.len()]
                .iter()
                .map(|content| content.clone().unwrap_or_default())
                .collect();
            prop_assert_eq!(received, tokens.clone());
            if framing.event_ids {
                let ids: Vec<String> = events.iter().map(|event| event.id.clone()).collect();
                let expected: Vec<String> = (1..=events.len()).map(|id| id.to_string()).collect();
                prop_assert_eq!(ids, expected);
            }
            if framing.crlf {
                let lone_lf = body.iter().enumerate().any(|(index, byte)| {
                    *byte == b'\n' && (index == 0 || body[index - 1] != b'\r')
                });
                prop_assert!(!lone_lf, "every line ends with CRLF");
            }
            Ok(())
        })
    });
}

/// The raw demo format carries tokens as bare text, so the tokens here leave out what it
/// cannot carry (documented on the format): CR, which the SSE grammar treats as a line end.
fn raw_token() -> impl Strategy<Value = String> {
    token().prop_map(|token| token.replace('\r', ""))
}

#[test]
fn any_script_round_trips_through_the_raw_demo_format() {
    let runtime = runtime();
    let cases = (prop::collection::vec(raw_token(), 0..24), framing());
    check(96, cases, |(tokens, framing)| {
        runtime.block_on(async {
            let body = stream_from(&tokens, &framing, "/stream", None).await?;

            let data: Vec<String> = parse_sse(&body)
                .await
                .into_iter()
                .map(|event| event.data)
                .collect();
            let (done, received) = data.split_last().expect("at least [DONE]");
            prop_assert_eq!(done, "[DONE]");
            prop_assert_eq!(received, tokens.as_slice());
            Ok(())
        })
    });
}

#[test]
fn async_openai_reads_any_script_exactly() {
    let runtime = runtime();
    let cases = (prop::collection::vec(token(), 0..16), framing());
    check(32, cases, |(tokens, framing)| {
        runtime.block_on(async {
            let server = MockChatServer::builder()
                .reply(scripted(&tokens, &framing))
                .start()
                .await;

            let (text, errors) = crate::async_openai_client::stream_completion(&server).await;

            prop_assert!(errors.is_empty(), "{:?}", errors);
            prop_assert_eq!(text, tokens.concat());
            Ok(())
        })
    });
}

#[test]
fn any_script_round_trips_through_the_responses_format_and_async_openai_types() {
    use async_openai::types::responses::ResponseStreamEvent;

    let runtime = runtime();
    let cases = (prop::collection::vec(token(), 0..24), framing());
    check(96, cases, |(tokens, framing)| {
        runtime.block_on(async {
            let body = stream_from(
                &tokens,
                &framing,
                "/v1/responses",
                Some(r#"{"model":"m","input":"x","stream":true}"#),
            )
            .await?;

            let mut deltas = Vec::new();
            let mut last = None;
            for (index, event) in parse_sse(&body).await.into_iter().enumerate() {
                let typed: ResponseStreamEvent = parsed(&event.data)?;
                if framing.event_ids {
                    prop_assert_eq!(event.id, (index + 1).to_string());
                }
                if let ResponseStreamEvent::ResponseOutputTextDelta(delta) = &typed {
                    deltas.push(delta.delta.clone());
                }
                last = Some(typed);
            }
            prop_assert_eq!(deltas, tokens.clone());
            let completed = matches!(last, Some(ResponseStreamEvent::ResponseCompleted(_)));
            prop_assert!(completed, "the stream ends with response.completed");
            Ok(())
        })
    });
}

#[test]
fn any_script_round_trips_through_the_anthropic_format() {
    let runtime = runtime();
    let cases = (prop::collection::vec(token(), 0..24), framing());
    check(96, cases, |(tokens, framing)| {
        runtime.block_on(async {
            let body = stream_from(
                &tokens,
                &framing,
                "/v1/messages",
                Some(r#"{"model":"m","max_tokens":9,"messages":[],"stream":true}"#),
            )
            .await?;

            let mut deltas = Vec::new();
            let events = parse_sse(&body).await;
            for event in &events {
                let data: serde_json::Value = parsed(&event.data)?;
                prop_assert_eq!(&data["type"], &event.event);
                if event.event == "content_block_delta" {
                    deltas.push(
                        data["delta"]["text"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned(),
                    );
                }
            }
            prop_assert_eq!(deltas, tokens.clone());
            prop_assert_eq!(
                events.last().map(|event| event.event.as_str()),
                Some("message_stop")
            );
            Ok(())
        })
    });
}

/// The text of each Gemini chunk, stopping at the finishing chunk.
fn gemini_texts(chunks: &[serde_json::Value]) -> Vec<String> {
    chunks
        .iter()
        .filter(|chunk| chunk["candidates"][0].get("finishReason").is_none())
        .map(|chunk| {
            chunk["candidates"][0]["content"]["parts"][0]["text"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

#[test]
fn any_script_round_trips_through_the_gemini_formats() {
    let runtime = runtime();
    let cases = (
        prop::collection::vec(token(), 0..24),
        framing(),
        any::<bool>(),
    );
    check(96, cases, |(tokens, framing, sse)| {
        runtime.block_on(async {
            let query = if sse { "?alt=sse" } else { "" };
            let path = format!("/v1beta/models/gemini-pro:streamGenerateContent{query}");
            let body = stream_from(&tokens, &framing, &path, Some(r#"{"contents":[]}"#)).await?;

            let chunks: Vec<serde_json::Value> = if sse {
                let mut chunks = Vec::new();
                for event in parse_sse(&body).await {
                    chunks.push(parsed(&event.data)?);
                }
                chunks
            } else {
                serde_json::from_slice(&body)
                    .map_err(|error| TestCaseError::fail(format!("not a JSON array: {error}")))?
            };
            prop_assert_eq!(gemini_texts(&chunks), tokens.clone());
            prop_assert_eq!(
                &chunks.last().unwrap()["candidates"][0]["finishReason"],
                "STOP"
            );
            Ok(())
        })
    });
}

#[test]
fn any_script_round_trips_through_the_ollama_format() {
    let runtime = runtime();
    let cases = (prop::collection::vec(token(), 0..24), framing());
    check(96, cases, |(tokens, framing)| {
        runtime.block_on(async {
            let body = stream_from(
                &tokens,
                &framing,
                "/api/chat",
                Some(r#"{"model":"llama3.2","messages":[]}"#),
            )
            .await?;

            let text = String::from_utf8(body.to_vec())
                .map_err(|error| TestCaseError::fail(error.to_string()))?;
            let mut contents = Vec::new();
            let mut done = false;
            for line in text.lines() {
                let object: serde_json::Value = parsed(line)?;
                done = object["done"] == true;
                if !done {
                    contents.push(
                        object["message"]["content"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned(),
                    );
                }
            }
            prop_assert_eq!(contents, tokens.clone());
            prop_assert!(done, "the last line says done");
            Ok(())
        })
    });
}
