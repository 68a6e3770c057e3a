//! Tool calls and refusals in every wire format: read by async-openai where it has the
//! types (Chat Completions, Responses), checked frame by frame against the wire reference
//! for the others, streamed and complete, with usage that counts what the script sent.

use std::collections::BTreeMap;

use async_openai::types::chat::{
    ChatCompletionMessageToolCalls, CreateChatCompletionStreamResponse, FinishReason,
};
use async_openai::types::responses::{
    CreateResponseArgs, OutputItem, OutputMessageContent, ResponseStreamEvent, Status,
};
use chatmock::{matchers, Mock, MockChatServer, Reply, Step, StreamOutcome, ToolCall, WireFormat};
use futures::StreamExt;
use serde_json::{json, Value};

use crate::async_openai_client::{client_for, request};
use crate::support::{chunks, parse_sse, post_chat};

/// A reply that says something, then calls two tools: one with a scripted id, one with
/// the id the server makes up.
pub fn weather_reply() -> Reply {
    Reply::steps([
        Step::token("Let me"),
        Step::token(" check."),
        Step::tool_call(
            ToolCall::function("get_weather", json!({ "city": "Paris", "unit": "celsius" }))
                .with_id("call_paris"),
        ),
        Step::tool_call(ToolCall::function(
            "get_time",
            json!({ "zone": "Europe/Paris" }),
        )),
    ])
}

const PARIS_ARGUMENTS: &str = r#"{"city":"Paris","unit":"celsius"}"#;
const TIME_ARGUMENTS: &str = r#"{"zone":"Europe/Paris"}"#;

/// The content events `weather_reply` streams: two tokens, and per call the event naming
/// it plus one per argument fragment (`{"`, `city`, `":"`, ...).
const WEATHER_CONTENT_EVENTS: u64 = 2 + (1 + 9) + (1 + 7);

async fn stream_chunks(server: &MockChatServer) -> Vec<CreateChatCompletionStreamResponse> {
    let stream = client_for(server)
        .chat()
        .create_stream(request("gpt-4o", "What's the weather in Paris?"))
        .await
        .expect("the stream opens");
    let items: Vec<_> = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.collect::<Vec<_>>(),
    )
    .await
    .expect("the stream ends on its own");
    items
        .into_iter()
        .map(|item| item.expect("every chunk parses"))
        .collect()
}

/// Assembles streamed tool-call chunks the way client code does: by index, the first
/// chunk giving id and name, later chunks appending argument fragments.
fn assemble_tool_calls(
    chunks: &[CreateChatCompletionStreamResponse],
) -> BTreeMap<u32, (String, String, String)> {
    let mut calls: BTreeMap<u32, (String, String, String)> = BTreeMap::new();
    for chunk in chunks {
        let Some(choice) = chunk.choices.first() else {
            continue;
        };
        for call in choice.delta.tool_calls.iter().flatten() {
            let entry = calls.entry(call.index).or_default();
            if let Some(id) = &call.id {
                assert!(entry.0.is_empty(), "an id arrives once per call: {call:?}");
                entry.0.clone_from(id);
            }
            if let Some(function) = &call.function {
                if let Some(name) = &function.name {
                    entry.1.clone_from(name);
                }
                entry
                    .2
                    .push_str(function.arguments.as_deref().unwrap_or(""));
            }
        }
    }
    calls
}

#[tokio::test]
async fn async_openai_assembles_streamed_tool_calls_and_sees_finish_reason_tool_calls() {
    let server = MockChatServer::builder()
        .reply(weather_reply())
        .start()
        .await;

    let chunks = stream_chunks(&server).await;

    let text: String = chunks
        .iter()
        .filter_map(|chunk| chunk.choices.first()?.delta.content.clone())
        .collect();
    assert_eq!(text, "Let me check.");
    let calls = assemble_tool_calls(&chunks);
    assert_eq!(calls.len(), 2);
    assert_eq!(
        calls[&0],
        (
            "call_paris".to_owned(),
            "get_weather".to_owned(),
            PARIS_ARGUMENTS.to_owned()
        )
    );
    let (time_id, time_name, time_arguments) = &calls[&1];
    assert!(
        time_id.starts_with("call_") && time_id.len() == 29,
        "{time_id}"
    );
    assert_eq!(time_name, "get_time");
    assert_eq!(time_arguments, TIME_ARGUMENTS);
    // Arguments really arrive in fragments, not in one piece.
    let fragments = chunks
        .iter()
        .filter(|chunk| {
            chunk.choices.first().is_some_and(|choice| {
                choice.delta.tool_calls.as_ref().is_some_and(|calls| {
                    calls[0].id.is_none() && calls[0].function.as_ref().is_some()
                })
            })
        })
        .count();
    assert_eq!(fragments, 9 + 7);
    let last = chunks.last().expect("chunks");
    assert_eq!(last.choices[0].finish_reason, Some(FinishReason::ToolCalls));
}

#[tokio::test]
async fn a_tool_call_chunk_has_the_live_apis_shape() {
    let server = MockChatServer::builder()
        .reply(Reply::tool_call(
            ToolCall::function("read_file", json!({ "path": "README.md" })).with_id("call_1"),
        ))
        .start()
        .await;

    let body = post_chat(
        &server,
        crate::support::chat_body("gpt-4.1", "Read it", true),
    )
    .await
    .bytes()
    .await
    .unwrap();
    let mut chunks = chunks(&body).await;
    assert_eq!(chunks.pop(), Some(json!("[DONE]")));

    let deltas: Vec<&Value> = chunks
        .iter()
        .map(|chunk| &chunk["choices"][0]["delta"])
        .collect();
    // As in the live API's capture, the first chunk is the role and the call together.
    assert_eq!(
        deltas[0],
        &json!({
            "role": "assistant",
            "content": null,
            "refusal": null,
            "tool_calls": [{
                "index": 0,
                "id": "call_1",
                "type": "function",
                "function": { "name": "read_file", "arguments": "" }
            }]
        })
    );
    let fragments: Vec<&str> = deltas[1..deltas.len() - 1]
        .iter()
        .map(|delta| {
            assert_eq!(delta["tool_calls"][0]["index"], 0);
            assert!(delta["tool_calls"][0].get("id").is_none());
            delta["tool_calls"][0]["function"]["arguments"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(
        fragments,
        ["{\"", "path", "\":\"", "README", ".", "md", "\"}"]
    );
    assert_eq!(deltas.last().unwrap(), &&json!({}));
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "tool_calls"
    );
}

#[tokio::test]
async fn async_openai_reads_tool_calls_in_a_complete_response() {
    let server = MockChatServer::builder()
        .reply(weather_reply())
        .start()
        .await;

    let response = client_for(&server)
        .chat()
        .create(request("gpt-4o", "Weather?"))
        .await
        .expect("a complete response");

    let choice = &response.choices[0];
    assert_eq!(choice.finish_reason, Some(FinishReason::ToolCalls));
    assert_eq!(choice.message.content.as_deref(), Some("Let me check."));
    let calls: Vec<(String, String, String)> = choice
        .message
        .tool_calls
        .iter()
        .flatten()
        .map(|call| match call {
            ChatCompletionMessageToolCalls::Function(call) => (
                call.id.clone(),
                call.function.name.clone(),
                call.function.arguments.clone(),
            ),
            other => panic!("expected function calls, got {other:?}"),
        })
        .collect();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].0, "call_paris");
    assert_eq!(calls[0].2, PARIS_ARGUMENTS);
    assert_eq!(calls[1].1, "get_time");
    assert_eq!(calls[1].2, TIME_ARGUMENTS);
    let usage = response.usage.expect("usage");
    assert_eq!(u64::from(usage.completion_tokens), WEATHER_CONTENT_EVENTS);
}

#[tokio::test]
async fn include_usage_counts_every_content_event_of_the_script() {
    let server = MockChatServer::builder()
        .reply(weather_reply())
        .start()
        .await;
    let body = json!({
        "model": "gpt-4o",
        "messages": [{ "role": "user", "content": "What is the weather" }],
        "stream": true,
        "stream_options": { "include_usage": true }
    });

    let body = post_chat(&server, body.to_string())
        .await
        .bytes()
        .await
        .unwrap();
    let chunks = chunks(&body).await;

    assert_eq!(chunks.last(), Some(&json!("[DONE]")));
    let usage = &chunks[chunks.len() - 2]["usage"];
    assert_eq!(usage["completion_tokens"], WEATHER_CONTENT_EVENTS);
    assert_eq!(usage["prompt_tokens"], 4);
    assert_eq!(usage["total_tokens"], WEATHER_CONTENT_EVENTS + 4);
}

#[tokio::test]
async fn a_refusal_streams_in_the_refusal_field_and_completes_with_message_refusal() {
    let server = MockChatServer::builder()
        .reply(Reply::refusal("I can't help with that."))
        .start()
        .await;

    let chunks = stream_chunks(&server).await;
    let refusal: String = chunks
        .iter()
        .filter_map(|chunk| chunk.choices.first()?.delta.refusal.clone())
        .collect();
    assert_eq!(refusal, "I can't help with that.");
    assert!(chunks.iter().all(|chunk| chunk.choices[0]
        .delta
        .content
        .as_deref()
        .unwrap_or("")
        .is_empty()));

    let response = client_for(&server)
        .chat()
        .create(request("gpt-4o", "Something bad"))
        .await
        .expect("a complete response");
    let message = &response.choices[0].message;
    assert_eq!(message.refusal.as_deref(), Some("I can't help with that."));
    assert_eq!(message.content, None);
    assert_eq!(response.choices[0].finish_reason, Some(FinishReason::Stop));
}

#[tokio::test]
async fn a_cut_inside_a_tool_call_leaves_the_arguments_unfinished_and_is_recorded() {
    // The call's naming event is content event 1, then `{"`, `city`: the cut comes
    // before `":"`.
    let server = MockChatServer::builder()
        .reply(
            Reply::tool_call(ToolCall::function(
                "get_weather",
                json!({ "city": "Paris" }),
            ))
            .disconnect_after(3),
        )
        .start()
        .await;

    let response = post_chat(&server, crate::support::chat_body("m", "x", true)).await;
    assert!(response.bytes().await.is_err(), "the body is cut short");

    let requests = server
        .wait_for_streams_to_end()
        .await
        .expect("the stream ends");
    assert!(matches!(
        requests[0].stream_outcome(),
        StreamOutcome::Cut {
            content_events: 3,
            ..
        }
    ));
}

/// Streams a response with async-openai's typed events, each of which must parse.
async fn response_events(server: &MockChatServer) -> Vec<ResponseStreamEvent> {
    crate::responses::stream_events(server)
        .await
        .into_iter()
        .map(|event| event.expect("every event parses"))
        .collect()
}

#[tokio::test]
async fn async_openai_reads_function_call_items_from_a_responses_stream() {
    let server = MockChatServer::builder()
        .reply(weather_reply())
        .start()
        .await;

    let events = response_events(&server).await;

    let mut arguments: BTreeMap<u32, String> = BTreeMap::new();
    let mut done: Vec<(u32, Option<String>, String)> = Vec::new();
    let mut sequence = Vec::new();
    for event in &events {
        match event {
            ResponseStreamEvent::ResponseFunctionCallArgumentsDelta(delta) => {
                arguments
                    .entry(delta.output_index)
                    .or_default()
                    .push_str(&delta.delta);
            }
            ResponseStreamEvent::ResponseFunctionCallArgumentsDone(event) => {
                done.push((
                    event.output_index,
                    event.name.clone(),
                    event.arguments.clone(),
                ));
            }
            ResponseStreamEvent::ResponseOutputItemAdded(added) => {
                sequence.push((
                    added.output_index,
                    matches!(added.item, OutputItem::FunctionCall(_)),
                ));
            }
            _ => {}
        }
    }
    assert_eq!(sequence, [(0, false), (1, true), (2, true)]);
    assert_eq!(arguments[&1], PARIS_ARGUMENTS);
    assert_eq!(arguments[&2], TIME_ARGUMENTS);
    assert_eq!(
        done,
        [
            (
                1,
                Some("get_weather".to_owned()),
                PARIS_ARGUMENTS.to_owned()
            ),
            (2, Some("get_time".to_owned()), TIME_ARGUMENTS.to_owned()),
        ]
    );
    let Some(ResponseStreamEvent::ResponseCompleted(completed)) = events.last() else {
        panic!("expected response.completed last, got {:?}", events.last());
    };
    let response = &completed.response;
    assert_eq!(response.status, Status::Completed);
    assert_eq!(response.output_text().as_deref(), Some("Let me check."));
    let calls: Vec<(&str, &str)> = response
        .output
        .iter()
        .filter_map(|item| match item {
            OutputItem::FunctionCall(call) => Some((call.call_id.as_str(), call.name.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(calls[0], ("call_paris", "get_weather"));
    assert_eq!(calls[1].1, "get_time");
    assert_eq!(
        response.usage.as_ref().unwrap().output_tokens,
        WEATHER_CONTENT_EVENTS as u32
    );
}

#[tokio::test]
async fn a_responses_refusal_is_a_refusal_part_and_calls_complete_as_items() {
    let server = MockChatServer::builder()
        .reply_sequence([Reply::refusal("I must decline."), weather_reply()])
        .start()
        .await;

    let events = response_events(&server).await;
    let refusal: String = events
        .iter()
        .filter_map(|event| match event {
            ResponseStreamEvent::ResponseRefusalDelta(delta) => Some(delta.delta.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(refusal, "I must decline.");
    assert!(events.iter().any(|event| matches!(
        event,
        ResponseStreamEvent::ResponseRefusalDone(done) if done.refusal == "I must decline."
    )));
    let Some(ResponseStreamEvent::ResponseCompleted(completed)) = events.last() else {
        panic!("expected response.completed last");
    };
    let OutputItem::Message(message) = &completed.response.output[0] else {
        panic!("expected a message item");
    };
    assert!(matches!(
        &message.content[0],
        OutputMessageContent::Refusal(part) if part.refusal == "I must decline."
    ));

    let request = CreateResponseArgs::default()
        .model("gpt-4o-mini")
        .input("Weather?")
        .build()
        .unwrap();
    let response = client_for(&server)
        .responses()
        .create(request)
        .await
        .expect("a complete response");
    let kinds: Vec<&str> = response
        .output
        .iter()
        .map(|item| match item {
            OutputItem::Message(_) => "message",
            OutputItem::FunctionCall(_) => "function_call",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["message", "function_call", "function_call"]);
}

async fn post_json(server: &MockChatServer, path: &str, body: Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}{path}", server.uri()))
        .json(&body)
        .send()
        .await
        .expect("the server answers")
}

/// POSTs `body` to `path` and parses the SSE stream: each event's name and JSON data.
async fn sse_events(server: &MockChatServer, path: &str, body: Value) -> Vec<(String, Value)> {
    let body = post_json(server, path, body).await.bytes().await.unwrap();
    parse_sse(&body)
        .await
        .into_iter()
        .map(|event| (event.event, serde_json::from_str(&event.data).unwrap()))
        .collect()
}

/// POSTs `body` to `path` and returns the complete JSON response.
async fn complete(server: &MockChatServer, path: &str, body: Value) -> Value {
    post_json(server, path, body).await.json().await.unwrap()
}

fn anthropic_request(stream: bool) -> Value {
    json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 256,
        "messages": [{ "role": "user", "content": "What is the weather in Paris" }],
        "stream": stream
    })
}

#[tokio::test]
async fn anthropic_streams_a_text_block_then_tool_use_blocks_with_input_json_deltas() {
    let server = MockChatServer::builder()
        .reply(weather_reply())
        .start()
        .await;

    let events = sse_events(&server, "/v1/messages", anthropic_request(true)).await;

    // Every block opens, streams deltas for its own index and closes before the next.
    let mut open = None;
    let mut blocks: Vec<(Value, String)> = Vec::new();
    for (name, data) in &events {
        match name.as_str() {
            "content_block_start" => {
                assert_eq!(open, None, "a block starts only after the last one stopped");
                assert_eq!(data["index"], blocks.len());
                open = Some(blocks.len());
                blocks.push((data["content_block"].clone(), String::new()));
            }
            "content_block_delta" => {
                let index = open.expect("deltas come inside a block");
                assert_eq!(data["index"], index);
                let delta = &data["delta"];
                let piece = match delta["type"].as_str().unwrap() {
                    "text_delta" => delta["text"].as_str().unwrap(),
                    "input_json_delta" => delta["partial_json"].as_str().unwrap(),
                    other => panic!("unexpected delta type {other}"),
                };
                blocks[index].1.push_str(piece);
            }
            "content_block_stop" => {
                assert_eq!(data["index"], open.take().expect("a block to stop"));
            }
            _ => {}
        }
    }
    assert_eq!(open, None);
    assert_eq!(blocks.len(), 3);
    assert_eq!(blocks[0].0, json!({ "type": "text", "text": "" }));
    assert_eq!(blocks[0].1, "Let me check.");
    assert_eq!(
        blocks[1].0,
        json!({ "type": "tool_use", "id": "call_paris", "name": "get_weather", "input": {} })
    );
    assert_eq!(
        serde_json::from_str::<Value>(&blocks[1].1).unwrap(),
        json!({ "city": "Paris", "unit": "celsius" })
    );
    assert!(blocks[2].0["id"].as_str().unwrap().starts_with("toolu_01"));
    assert_eq!(blocks[2].1, TIME_ARGUMENTS);
    let (name, message_delta) = &events[events.len() - 2];
    assert_eq!(name, "message_delta");
    assert_eq!(message_delta["delta"]["stop_reason"], "tool_use");
    assert_eq!(
        message_delta["usage"]["output_tokens"],
        WEATHER_CONTENT_EVENTS
    );
    assert_eq!(events.last().unwrap().0, "message_stop");
}

#[tokio::test]
async fn anthropic_complete_messages_carry_tool_use_inputs_and_refusals() {
    let server = MockChatServer::builder()
        .reply_sequence([weather_reply(), Reply::refusal("No.")])
        .start()
        .await;

    let message: Value = complete(&server, "/v1/messages", anthropic_request(false)).await;
    assert_eq!(message["stop_reason"], "tool_use");
    assert_eq!(
        message["content"][0],
        json!({ "type": "text", "text": "Let me check." })
    );
    assert_eq!(
        message["content"][1],
        json!({
            "type": "tool_use",
            "id": "call_paris",
            "name": "get_weather",
            "input": { "city": "Paris", "unit": "celsius" }
        })
    );
    assert_eq!(
        message["content"][2]["input"],
        json!({ "zone": "Europe/Paris" })
    );
    assert_eq!(message["usage"]["output_tokens"], WEATHER_CONTENT_EVENTS);

    let refused: Value = complete(&server, "/v1/messages", anthropic_request(false)).await;
    assert_eq!(refused["stop_reason"], "refusal");
    assert_eq!(refused["content"][0]["text"], "No.");
}

const GEMINI_STREAM: &str = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse";

fn gemini_request() -> Value {
    json!({ "contents": [{ "role": "user", "parts": [{ "text": "Weather in Paris?" }] }] })
}

#[tokio::test]
async fn gemini_sends_each_function_call_whole_with_args_as_an_object() {
    let server = MockChatServer::builder()
        .reply(weather_reply())
        .start()
        .await;

    let chunks: Vec<Value> = sse_events(&server, GEMINI_STREAM, gemini_request())
        .await
        .into_iter()
        .map(|(_, data)| data)
        .collect();

    let parts: Vec<&Value> = chunks
        .iter()
        .flat_map(|chunk| {
            chunk["candidates"][0]["content"]["parts"]
                .as_array()
                .unwrap()
        })
        .collect();
    let calls: Vec<&Value> = parts
        .iter()
        .filter_map(|part| part.get("functionCall"))
        .collect();
    assert_eq!(
        calls,
        [
            &json!({ "name": "get_weather", "args": { "city": "Paris", "unit": "celsius" } }),
            &json!({ "name": "get_time", "args": { "zone": "Europe/Paris" } }),
        ]
    );
    let text: String = parts
        .iter()
        .filter_map(|part| part["text"].as_str())
        .collect();
    assert_eq!(text, "Let me check.");
    let last = chunks.last().unwrap();
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    assert_eq!(
        last["usageMetadata"]["candidatesTokenCount"],
        WEATHER_CONTENT_EVENTS
    );

    let complete: Value = complete(
        &server,
        "/v1beta/models/gemini-2.5-flash:generateContent",
        gemini_request(),
    )
    .await;
    let parts = &complete["candidates"][0]["content"]["parts"];
    assert_eq!(parts[0], json!({ "text": "Let me check." }));
    assert_eq!(
        parts[2]["functionCall"]["args"],
        json!({ "zone": "Europe/Paris" })
    );
}

#[tokio::test]
async fn gemini_and_anthropic_report_a_refusal_in_their_own_words() {
    let server = MockChatServer::builder()
        .reply(Reply::refusal("I cannot do that."))
        .start()
        .await;

    let events = sse_events(&server, GEMINI_STREAM, gemini_request()).await;
    let last = &events.last().unwrap().1;
    assert_eq!(last["candidates"][0]["finishReason"], "SAFETY");

    let events = sse_events(&server, "/v1/messages", anthropic_request(true)).await;
    let stop_reason = events
        .iter()
        .find(|(name, _)| name == "message_delta")
        .map(|(_, data)| &data["delta"]["stop_reason"]);
    assert_eq!(stop_reason, Some(&json!("refusal")));
}

#[tokio::test]
async fn ollama_sends_tool_calls_whole_in_a_line_and_in_the_complete_message() {
    let server = MockChatServer::builder()
        .reply(weather_reply())
        .start()
        .await;
    let request = json!({
        "model": "llama3.2",
        "messages": [{ "role": "user", "content": "Weather?" }]
    });

    let body = post_json(&server, "/api/chat", request.clone())
        .await
        .bytes()
        .await
        .unwrap();
    let lines: Vec<Value> = body
        .split(|byte| *byte == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| serde_json::from_slice(line).expect("every line is JSON"))
        .collect();
    let calls: Vec<&Value> = lines
        .iter()
        .filter_map(|line| line["message"].get("tool_calls"))
        .flat_map(|calls| calls.as_array().unwrap())
        .collect();
    assert_eq!(
        calls,
        [
            &json!({ "function": { "name": "get_weather", "arguments": { "city": "Paris", "unit": "celsius" } } }),
            &json!({ "function": { "name": "get_time", "arguments": { "zone": "Europe/Paris" } } }),
        ]
    );
    let last = lines.last().unwrap();
    assert_eq!(last["done"], true);
    assert_eq!(last["eval_count"], WEATHER_CONTENT_EVENTS);

    let mut complete_request = request;
    complete_request["stream"] = json!(false);
    let complete: Value = complete(&server, "/api/chat", complete_request).await;
    assert_eq!(complete["message"]["content"], "Let me check.");
    assert_eq!(
        complete["message"]["tool_calls"].as_array().unwrap().len(),
        2
    );
}

#[tokio::test]
async fn text_after_a_tool_call_keeps_the_call_in_every_complete_response() {
    let server = MockChatServer::builder()
        .reply(Reply::steps([
            Step::tool_call(ToolCall::function("get_time", json!({}))),
            Step::token("Checking."),
        ]))
        .start()
        .await;

    let ollama = complete(
        &server,
        "/api/chat",
        json!({ "model": "llama3.2", "messages": [], "stream": false }),
    )
    .await;
    assert_eq!(ollama["message"]["content"], "Checking.");
    assert_eq!(
        ollama["message"]["tool_calls"],
        json!([{ "function": { "name": "get_time", "arguments": {} } }])
    );
    let gemini = complete(
        &server,
        "/v1beta/models/gemini-2.5-flash:generateContent",
        gemini_request(),
    )
    .await;
    assert_eq!(
        gemini["candidates"][0]["content"]["parts"],
        json!([{ "functionCall": { "name": "get_time", "args": {} } }, { "text": "Checking." }])
    );
    let anthropic = complete(&server, "/v1/messages", anthropic_request(false)).await;
    assert_eq!(anthropic["content"][0]["type"], "tool_use");
    assert_eq!(
        anthropic["content"][1],
        json!({ "type": "text", "text": "Checking." })
    );
}

#[tokio::test]
async fn raw_arguments_are_sent_exactly_even_when_they_are_not_json() {
    let server = MockChatServer::builder()
        .reply(Reply::tool_call(ToolCall::with_raw_arguments(
            "search",
            ["{\"q\": \"ru", "st"],
        )))
        .start()
        .await;

    let chunks = stream_chunks(&server).await;
    assert_eq!(
        assemble_tool_calls(&chunks)[&0].2,
        "{\"q\": \"ru".to_owned() + "st"
    );

    // Formats that send a call whole send broken arguments as a string.
    let message: Value = complete(&server, "/v1/messages", anthropic_request(false)).await;
    assert_eq!(message["content"][0]["input"], json!("{\"q\": \"rust"));
}

#[tokio::test]
async fn a_server_wire_format_anthropic_answers_on_any_path_with_its_validation() {
    let server = MockChatServer::builder()
        .wire_format(WireFormat::AnthropicMessages)
        .reply(Reply::text("Hi!"))
        .start()
        .await;

    let message: Value = complete(
        &server,
        "/gateway/anthropic/v1/messages",
        anthropic_request(false),
    )
    .await;
    assert_eq!(message["type"], "message");
    assert_eq!(message["content"][0]["text"], "Hi!");

    let mut invalid = anthropic_request(false);
    invalid.as_object_mut().unwrap().remove("max_tokens");
    let response = post_json(&server, "/anything", invalid).await;
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["type"], "error");
    assert_eq!(error["error"]["message"], "max_tokens: Field required");
}

#[tokio::test]
async fn a_mocks_format_beats_the_path_and_the_servers() {
    let server = MockChatServer::builder()
        .wire_format(WireFormat::AnthropicMessages)
        .start()
        .await;
    Mock::given(matchers::path("/v1/messages"))
        .respond_with(Reply::text("As Ollama."))
        .wire_format(WireFormat::Ollama)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(matchers::path("/proxy/chat"))
        .respond_with(Reply::text("As chat completions."))
        .wire_format(WireFormat::OpenAiChatCompletions)
        .expect(1)
        .mount(&server)
        .await;

    let body = post_json(&server, "/v1/messages", anthropic_request(true))
        .await
        .bytes()
        .await
        .unwrap();
    let first_line: Value =
        serde_json::from_slice(body.split(|byte| *byte == b'\n').next().unwrap()).unwrap();
    assert_eq!(first_line["message"]["content"], "As");

    // The server validates as Anthropic, so the request is Anthropic's; the mock frames
    // the answer as chat chunks.
    let body = post_json(&server, "/proxy/chat", anthropic_request(true))
        .await
        .bytes()
        .await
        .unwrap();
    let chunks = chunks(&body).await;
    assert_eq!(chunks[0]["object"], "chat.completion.chunk");
    assert_eq!(crate::support::content_of(&chunks), "As chat completions.");
}
