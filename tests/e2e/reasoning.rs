//! Reasoning and usage details, read by real clients: async-openai's Responses and Chat
//! Completions types, and raw HTTP for Gemini, Ollama and the `reasoning_content` field
//! (the official Python and Node SDKs read them in `sdk_clients.rs`).

use async_openai::types::chat::ChatCompletionRequestUserMessage;
use async_openai::types::chat::CreateChatCompletionRequestArgs;
use async_openai::types::responses::{
    CreateResponseArgs, IncludeEnum, OutputItem, ResponseStreamEvent, SummaryPart,
};
use chatmock::{MockChatServer, Reply, Step, Thinking, ToolCall, Usage};
use futures::StreamExt;
use serde_json::{json, Value};

use crate::async_openai_client::client_for;
use crate::support::{chunks, parse_sse};

/// A reply that thinks (with a scripted signature), then answers and calls a tool.
fn thinking_reply() -> Reply {
    Reply::steps([
        Step::thinking(Thinking::new("The user wants Paris.").with_signature("sig_paris")),
        Step::token("Let me check."),
        Step::tool_call(
            ToolCall::function("get_weather", json!({ "city": "Paris" })).with_id("call_paris"),
        ),
    ])
}

#[tokio::test]
async fn async_openai_streams_reasoning_summary_events_and_the_reasoning_item() {
    let server = MockChatServer::builder()
        .reply(thinking_reply())
        .start()
        .await;
    let request = CreateResponseArgs::default()
        .model("o4-mini")
        .input("Weather in Paris?")
        .include(vec![IncludeEnum::ReasoningEncryptedContent])
        .build()
        .unwrap();
    let stream = client_for(&server)
        .responses()
        .create_stream(request)
        .await
        .expect("the stream opens");
    let events: Vec<ResponseStreamEvent> = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.collect::<Vec<_>>(),
    )
    .await
    .expect("the stream ends")
    .into_iter()
    .map(|event| event.expect("every event parses"))
    .collect();

    let mut summary = String::new();
    let mut parts_added = 0;
    let mut text_done = None;
    let mut completed = None;
    for event in &events {
        match event {
            ResponseStreamEvent::ResponseReasoningSummaryPartAdded(added) => {
                assert_eq!((added.output_index, added.summary_index), (0, 0));
                parts_added += 1;
            }
            ResponseStreamEvent::ResponseReasoningSummaryTextDelta(delta) => {
                summary.push_str(&delta.delta);
            }
            ResponseStreamEvent::ResponseReasoningSummaryTextDone(done) => {
                text_done = Some(done.text.clone());
            }
            ResponseStreamEvent::ResponseCompleted(done) => completed = Some(done.response.clone()),
            _ => {}
        }
    }
    assert_eq!(parts_added, 1);
    assert_eq!(summary, "The user wants Paris.");
    assert_eq!(text_done.as_deref(), Some("The user wants Paris."));
    let response = completed.expect("response.completed");
    let OutputItem::Reasoning(reasoning) = &response.output[0] else {
        panic!("the reasoning item comes first: {:?}", response.output)
    };
    assert!(reasoning.id.as_deref().unwrap().starts_with("rs_"));
    let SummaryPart::SummaryText(text) = &reasoning.summary[0];
    assert_eq!(text.text, "The user wants Paris.");
    assert_eq!(reasoning.encrypted_content.as_deref(), Some("sig_paris"));
    assert!(matches!(response.output[1], OutputItem::Message(_)));
    assert!(matches!(response.output[2], OutputItem::FunctionCall(_)));
    let usage = response.usage.expect("usage");
    // Four words of thinking, one token of text, the call and its five argument fragments.
    assert_eq!(usage.output_tokens, 4 + 1 + 1 + 5);
    assert_eq!(usage.output_tokens_details.reasoning_tokens, 4);
}

#[tokio::test]
async fn without_include_a_reasoning_item_has_no_encrypted_content() {
    let server = MockChatServer::builder()
        .reply(Reply::text("Hi.").thinking("Greet back."))
        .start()
        .await;
    let request = CreateResponseArgs::default()
        .model("o4-mini")
        .input("Hello")
        .build()
        .unwrap();
    let response = client_for(&server)
        .responses()
        .create(request)
        .await
        .expect("a complete response");
    let OutputItem::Reasoning(reasoning) = &response.output[0] else {
        panic!("{:?}", response.output)
    };
    assert_eq!(reasoning.encrypted_content, None);
    let SummaryPart::SummaryText(text) = &reasoning.summary[0];
    assert_eq!(text.text, "Greet back.");
    assert_eq!(response.output_text().as_deref(), Some("Hi."));
}

#[tokio::test]
async fn async_openai_reads_the_usage_details_a_reply_states_and_the_counted_reasoning() {
    let server = MockChatServer::builder()
        .reply(Reply::text("Sunny.").thinking("Look it up.").usage(Usage {
            input_tokens: Some(2000),
            cached_input_tokens: Some(1536),
            ..Usage::default()
        }))
        .start()
        .await;
    let request = CreateChatCompletionRequestArgs::default()
        .model("gpt-4o")
        .messages([ChatCompletionRequestUserMessage::from("Weather?").into()])
        .build()
        .unwrap();
    let completion = client_for(&server)
        .chat()
        .create(request)
        .await
        .expect("a complete response");
    // OpenAI sends no reasoning text in Chat Completions: only the answer...
    assert_eq!(
        completion.choices[0].message.content.as_deref(),
        Some("Sunny.")
    );
    // ... and the reasoning's count, in a total computed from the stated input.
    let usage = completion.usage.expect("usage");
    assert_eq!(usage.prompt_tokens, 2000);
    assert_eq!(usage.completion_tokens, 3 + 1);
    assert_eq!(usage.total_tokens, 2004);
    let prompt_details = usage.prompt_tokens_details.expect("prompt details");
    assert_eq!(prompt_details.cached_tokens, Some(1536));
    let completion_details = usage.completion_tokens_details.expect("completion details");
    assert_eq!(completion_details.reasoning_tokens, Some(3));
}

#[tokio::test]
async fn chat_completions_sends_reasoning_content_only_when_the_reply_asks() {
    for asked in [false, true] {
        let mut reply = Reply::text("Four.").thinking("Two and two.");
        if asked {
            reply = reply.reasoning_content();
        }
        let server = MockChatServer::builder().reply(reply).start().await;
        let url = format!("{}/chat/completions", server.openai_base_url());
        let body = |stream: bool| {
            json!({ "model": "deepseek-reasoner", "stream": stream,
                    "messages": [{ "role": "user", "content": "2+2?" }] })
        };
        let client = reqwest::Client::new();
        let streamed = client.post(&url).json(&body(true)).send().await.unwrap();
        let chunks = chunks(&streamed.bytes().await.unwrap()).await;
        let reasoning: String = chunks
            .iter()
            .filter_map(|chunk| chunk["choices"][0]["delta"]["reasoning_content"].as_str())
            .collect();
        let content: String = chunks
            .iter()
            .filter_map(|chunk| chunk["choices"][0]["delta"]["content"].as_str())
            .collect();
        let complete: Value = client
            .post(&url)
            .json(&body(false))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let message = &complete["choices"][0]["message"];
        assert_eq!(content, "Four.", "asked: {asked}");
        assert_eq!(message["content"], "Four.", "asked: {asked}");
        if asked {
            assert_eq!(reasoning, "Two and two.");
            assert_eq!(message["reasoning_content"], "Two and two.");
        } else {
            assert_eq!(reasoning, "");
            assert_eq!(message.get("reasoning_content"), None, "{message}");
        }
    }
}

fn gemini_body() -> Value {
    json!({
        "contents": [{ "role": "user", "parts": [{ "text": "Weather in Paris?" }] }],
        "generationConfig": { "thinkingConfig": { "includeThoughts": true } }
    })
}

#[tokio::test]
async fn gemini_streams_thought_parts_then_signs_the_next_part_and_counts_thoughts() {
    let server = MockChatServer::builder()
        .reply(thinking_reply())
        .start()
        .await;
    let url = format!(
        "{}/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
        server.uri()
    );
    let response = reqwest::Client::new()
        .post(url)
        .json(&gemini_body())
        .send()
        .await
        .unwrap();
    let events = parse_sse(&response.bytes().await.unwrap()).await;
    let chunks: Vec<Value> = events
        .iter()
        .map(|event| serde_json::from_str(&event.data).unwrap())
        .collect();
    let parts: Vec<&Value> = chunks
        .iter()
        .flat_map(|chunk| {
            chunk["candidates"][0]["content"]["parts"]
                .as_array()
                .unwrap()
        })
        .collect();
    let thoughts: String = parts
        .iter()
        .filter(|part| part["thought"] == true)
        .map(|part| part["text"].as_str().unwrap())
        .collect();
    assert_eq!(thoughts, "The user wants Paris.");
    let answer: String = parts
        .iter()
        .filter(|part| part.get("thought").is_none())
        .filter_map(|part| part["text"].as_str())
        .collect();
    assert_eq!(answer, "Let me check.");
    // The first part after the thought carries the block's signature, once.
    let signed: Vec<&&Value> = parts
        .iter()
        .filter(|part| part.get("thoughtSignature").is_some())
        .collect();
    assert_eq!(signed.len(), 1, "{parts:?}");
    assert_eq!(signed[0]["thoughtSignature"], "sig_paris");
    assert_eq!(signed[0]["text"], "Let me check.");
    assert!(parts
        .iter()
        .any(|part| part["functionCall"]["name"] == "get_weather"));
    let usage = &chunks.last().unwrap()["usageMetadata"];
    assert_eq!(usage["thoughtsTokenCount"], 4);
    // One token of text and the call's six events.
    assert_eq!(usage["candidatesTokenCount"], 1 + 6);
    assert_eq!(
        usage["totalTokenCount"].as_u64(),
        Some(usage["promptTokenCount"].as_u64().unwrap() + 4 + 7)
    );
}

#[tokio::test]
async fn a_complete_gemini_response_holds_the_thought_part_and_the_cache_count() {
    let server = MockChatServer::builder()
        .reply(Reply::text("Sunny.").thinking("Look it up.").usage(Usage {
            cached_input_tokens: Some(7),
            ..Usage::default()
        }))
        .start()
        .await;
    let url = format!(
        "{}/v1beta/models/gemini-2.5-flash:generateContent",
        server.uri()
    );
    let response: Value = reqwest::Client::new()
        .post(url)
        .json(&gemini_body())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let parts = &response["candidates"][0]["content"]["parts"];
    assert_eq!(parts[0], json!({ "text": "Look it up.", "thought": true }));
    assert_eq!(parts[1]["text"], "Sunny.");
    assert!(parts[1]["thoughtSignature"].is_string(), "{parts}");
    let usage = &response["usageMetadata"];
    assert_eq!(usage["thoughtsTokenCount"], 3);
    assert_eq!(usage["candidatesTokenCount"], 1);
    assert_eq!(usage["cachedContentTokenCount"], 7);
}

#[tokio::test]
async fn ollama_streams_thinking_first_then_content_and_counts_both() {
    let server = MockChatServer::builder()
        .reply(Reply::text("Blue.").thinking("Rayleigh scattering."))
        .start()
        .await;
    let client = reqwest::Client::new();
    let url = format!("{}/api/chat", server.uri());
    let body = |stream: bool| {
        json!({ "model": "qwen3", "think": true, "stream": stream,
                "messages": [{ "role": "user", "content": "Why is the sky blue?" }] })
    };
    let streamed = client.post(&url).json(&body(true)).send().await.unwrap();
    let text = streamed.text().await.unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let thinking: String = lines
        .iter()
        .filter_map(|line| line["message"]["thinking"].as_str())
        .collect();
    let content: String = lines
        .iter()
        .filter_map(|line| line["message"]["content"].as_str())
        .collect();
    assert_eq!(thinking, "Rayleigh scattering.");
    assert_eq!(content, "Blue.");
    // Thinking comes first, and lines without thinking leave the field out.
    assert!(lines[0]["message"]["thinking"].is_string());
    assert_eq!(lines.last().unwrap()["message"].get("thinking"), None);
    assert_eq!(lines.last().unwrap()["eval_count"], 3);

    let complete: Value = client
        .post(&url)
        .json(&body(false))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(complete["message"]["thinking"], "Rayleigh scattering.");
    assert_eq!(complete["message"]["content"], "Blue.");
    assert_eq!(complete["eval_count"], 3);
}

#[tokio::test]
async fn a_disconnect_counts_thinking_fragments_as_tokens() {
    let server = MockChatServer::builder()
        .reply(
            Reply::text("Answer.")
                .thinking("One two three.")
                .disconnect_after(2),
        )
        .start()
        .await;
    let body = json!({ "model": "claude-sonnet-4-5", "max_tokens": 64, "stream": true,
                       "messages": [{ "role": "user", "content": "Hi" }] });
    let response = reqwest::Client::new()
        .post(format!("{}/v1/messages", server.uri()))
        .json(&body)
        .send()
        .await
        .unwrap();
    let (received, _) = crate::support::read_until_error(&mut response.bytes_stream()).await;
    let text = String::from_utf8_lossy(&received);
    assert!(text.contains("\"thinking\":\" two\""), "{text}");
    assert!(!text.contains("three"), "{text}");
    assert!(!text.contains("signature_delta"), "{text}");
}
