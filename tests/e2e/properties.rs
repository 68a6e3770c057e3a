//! Property tests: arbitrary scripts, streamed by a real server over a real socket under
//! every framing option (CRLF, fragmented writes, event ids, keep-alives), come back
//! exactly through a spec-compliant SSE parser (eventsource-stream) and through
//! async-openai's chunk types; so do tool calls with arbitrary names and argument
//! fragments, mixed with text.

use async_openai::types::chat::CreateChatCompletionStreamResponse;
use chatmock::{MockChatServer, Reply, Step, ToolCall};
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
    framed(Reply::tokens(tokens.to_vec()), framing)
}

fn framed(mut reply: Reply, framing: &Framing) -> Reply {
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

/// Streams `reply` from a fresh server: POSTs `body` to `path` (or GETs `path` without a
/// body), and returns the complete response body.
async fn stream_from(
    reply: Reply,
    path: &str,
    body: Option<&str>,
) -> Result<axum::body::Bytes, TestCaseError> {
    let server = MockChatServer::builder().reply(reply).start().await;
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
                scripted(&tokens, &framing),
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
            let body = stream_from(scripted(&tokens, &framing), "/stream", None).await?;

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
                scripted(&tokens, &framing),
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
                scripted(&tokens, &framing),
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
            let body = stream_from(
                scripted(&tokens, &framing),
                &path,
                Some(r#"{"contents":[]}"#),
            )
            .await?;

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
                scripted(&tokens, &framing),
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

/// A reply part: a text token, or a tool call with a name and its argument fragments.
#[derive(Debug, Clone)]
enum Part {
    Text(String),
    Call(String, Vec<String>),
}

fn parts() -> impl Strategy<Value = Vec<Part>> {
    let part = prop_oneof![
        token().prop_map(Part::Text),
        (
            token().prop_filter("a name", |name| !name.is_empty()),
            prop::collection::vec(token(), 0..6)
        )
            .prop_map(|(name, fragments)| Part::Call(name, fragments)),
    ];
    prop::collection::vec(part, 0..10)
}

fn reply_of(parts: &[Part], framing: &Framing) -> Reply {
    let steps = parts.iter().map(|part| match part {
        Part::Text(text) => Step::token(text.clone()),
        Part::Call(name, fragments) => Step::tool_call(ToolCall::with_raw_arguments(
            name.clone(),
            fragments.clone(),
        )),
    });
    framed(Reply::steps(steps), framing)
}

/// What a client should assemble: the text, and each call's name and whole arguments.
fn expected(parts: &[Part]) -> (String, Vec<(String, String)>) {
    let mut text = String::new();
    let mut calls = Vec::new();
    for part in parts {
        match part {
            Part::Text(token) => text.push_str(token),
            Part::Call(name, fragments) => calls.push((name.clone(), fragments.concat())),
        }
    }
    (text, calls)
}

#[test]
fn any_tool_calls_round_trip_through_chat_chunks_as_async_openai_reads_them() {
    let runtime = runtime();
    check(64, (parts(), framing()), |(parts, framing)| {
        runtime.block_on(async {
            let body = stream_from(
                reply_of(&parts, &framing),
                "/v1/chat/completions",
                Some(&chat_body("gpt-4o-mini", "x", true)),
            )
            .await?;

            let events = parse_sse(&body).await;
            prop_assert_eq!(&events.last().unwrap().data, "[DONE]");
            let mut text = String::new();
            let mut calls: Vec<(String, String)> = Vec::new();
            let mut finish = None;
            for event in &events[..events.len() - 1] {
                let chunk: CreateChatCompletionStreamResponse = parsed(&event.data)?;
                let choice = &chunk.choices[0];
                text.push_str(choice.delta.content.as_deref().unwrap_or_default());
                for call in choice.delta.tool_calls.iter().flatten() {
                    let index = call.index as usize;
                    if index == calls.len() {
                        calls.push(Default::default());
                    }
                    let function = call.function.clone().unwrap_or_default();
                    if let Some(name) = function.name {
                        calls[index].0 = name;
                    }
                    calls[index]
                        .1
                        .push_str(&function.arguments.unwrap_or_default());
                }
                finish = choice.finish_reason.or(finish);
            }
            prop_assert_eq!((text, calls), expected(&parts));
            let calls_any = parts.iter().any(|part| matches!(part, Part::Call(..)));
            let expected_finish = if calls_any {
                async_openai::types::chat::FinishReason::ToolCalls
            } else {
                async_openai::types::chat::FinishReason::Stop
            };
            prop_assert_eq!(finish, Some(expected_finish));
            Ok(())
        })
    });
}

#[test]
fn any_tool_calls_round_trip_through_responses_and_anthropic_events() {
    use async_openai::types::responses::{OutputItem, ResponseStreamEvent};

    let runtime = runtime();
    check(48, (parts(), framing()), |(parts, framing)| {
        runtime.block_on(async {
            let (expected_text, expected_calls) = expected(&parts);

            let body = stream_from(
                reply_of(&parts, &framing),
                "/v1/responses",
                Some(r#"{"model":"m","input":"x","stream":true}"#),
            )
            .await?;
            let mut text = String::new();
            let mut calls: Vec<(String, String)> = Vec::new();
            for event in parse_sse(&body).await {
                match parsed::<ResponseStreamEvent>(&event.data)? {
                    ResponseStreamEvent::ResponseOutputTextDelta(delta) => {
                        text.push_str(&delta.delta);
                    }
                    ResponseStreamEvent::ResponseOutputItemAdded(added) => {
                        if let OutputItem::FunctionCall(call) = added.item {
                            calls.push((call.name, String::new()));
                        }
                    }
                    ResponseStreamEvent::ResponseFunctionCallArgumentsDelta(delta) => {
                        calls.last_mut().unwrap().1.push_str(&delta.delta);
                    }
                    ResponseStreamEvent::ResponseFunctionCallArgumentsDone(done) => {
                        prop_assert_eq!(&done.arguments, &calls.last().unwrap().1);
                    }
                    _ => {}
                }
            }
            prop_assert_eq!(&text, &expected_text);
            prop_assert_eq!(&calls, &expected_calls);

            let body = stream_from(
                reply_of(&parts, &framing),
                "/v1/messages",
                Some(r#"{"model":"m","max_tokens":9,"messages":[],"stream":true}"#),
            )
            .await?;
            let mut text = String::new();
            let mut calls: Vec<(String, String)> = Vec::new();
            for event in parse_sse(&body).await {
                let data: serde_json::Value = parsed(&event.data)?;
                let block = &data["content_block"];
                if event.event == "content_block_start" && block["type"] == "tool_use" {
                    calls.push((
                        block["name"].as_str().unwrap_or_default().to_owned(),
                        String::new(),
                    ));
                }
                let delta = &data["delta"];
                match delta["type"].as_str() {
                    Some("text_delta") => text.push_str(delta["text"].as_str().unwrap_or_default()),
                    Some("input_json_delta") => calls
                        .last_mut()
                        .unwrap()
                        .1
                        .push_str(delta["partial_json"].as_str().unwrap_or_default()),
                    _ => {}
                }
            }
            prop_assert_eq!(text, expected_text);
            prop_assert_eq!(calls, expected_calls);
            Ok(())
        })
    });
}
