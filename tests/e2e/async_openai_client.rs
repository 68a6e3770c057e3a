//! The async-openai client, pointed at the mock, as an application would use it.

use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::types::chat::{
    ChatCompletionRequestUserMessage, CreateChatCompletionRequest, CreateChatCompletionRequestArgs,
    FinishReason, Role,
};
use async_openai::Client;
use chatmock::{MockChatServer, Reply, StreamOutcome};
use futures::StreamExt;

use crate::support::ms;

pub fn client_for(server: &MockChatServer) -> Client<OpenAIConfig> {
    Client::with_config(
        OpenAIConfig::new()
            .with_api_base(server.openai_base_url())
            .with_api_key("test-key"),
    )
}

pub fn request(model: &str, message: &str) -> CreateChatCompletionRequest {
    CreateChatCompletionRequestArgs::default()
        .model(model)
        .messages([ChatCompletionRequestUserMessage::from(message).into()])
        .build()
        .expect("a valid request")
}

/// Streams a completion with async-openai until the stream ends, returning the text and
/// every error item met on the way. Bounded, so a stream that never ends fails the test.
pub async fn stream_completion(server: &MockChatServer) -> (String, Vec<OpenAIError>) {
    let mut stream = client_for(server)
        .chat()
        .create_stream(request("m", "x"))
        .await
        .expect("the stream opens");
    let mut text = String::new();
    let mut errors = Vec::new();
    while let Some(item) = tokio::time::timeout(std::time::Duration::from_secs(10), stream.next())
        .await
        .expect("the stream ends on its own")
    {
        match item {
            Ok(chunk) => text.extend(chunk.choices[0].delta.content.clone()),
            Err(error) => errors.push(error),
        }
    }
    (text, errors)
}

#[tokio::test]
async fn async_openai_streams_every_token_and_ends_cleanly_on_done() {
    let tokens = [
        "Hello",
        ",",
        " world",
        "\n",
        "\"quoted\"",
        " 🦀",
        "[DONE]",
        "",
    ];
    let server = MockChatServer::builder()
        .reply(Reply::tokens(tokens).token_delay(ms(2)))
        .start()
        .await;
    let client = client_for(&server);

    let mut stream = client
        .chat()
        .create_stream(request("gpt-4o-mini", "Say hello"))
        .await
        .expect("the stream opens");
    let mut contents = Vec::new();
    let mut roles = Vec::new();
    let mut finish_reasons = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.expect("every chunk deserialises");
        assert_eq!(chunk.model, "gpt-4o-mini");
        let choice = &chunk.choices[0];
        roles.extend(choice.delta.role);
        finish_reasons.extend(choice.finish_reason);
        contents.extend(choice.delta.content.clone());
    }

    assert_eq!(roles, [Role::Assistant]);
    assert_eq!(finish_reasons, [FinishReason::Stop]);
    assert_eq!(contents[0], "", "the role chunk carries empty content");
    assert_eq!(contents[1..], tokens);
    let requests = server.wait_for_streams_to_end().await.unwrap();
    assert_eq!(
        requests[0].stream_outcome(),
        &StreamOutcome::Completed {
            content_events: tokens.len()
        }
    );
    assert_eq!(requests[0].body_value()["stream"], true);
}

#[tokio::test]
async fn async_openai_reads_a_complete_response() {
    let server = MockChatServer::builder()
        .reply(Reply::text("It is sunny today."))
        .start()
        .await;
    let client = client_for(&server);

    let response = client
        .chat()
        .create(request("gpt-4o", "Weather?"))
        .await
        .expect("the response deserialises");

    assert_eq!(response.model, "gpt-4o");
    assert_eq!(
        response.choices[0].message.content.as_deref(),
        Some("It is sunny today.")
    );
    assert_eq!(response.choices[0].finish_reason, Some(FinishReason::Stop));
    let usage = response.usage.expect("usage is reported");
    assert_eq!(usage.completion_tokens, 4);
    assert_eq!(usage.total_tokens, usage.prompt_tokens + 4);
}

#[tokio::test]
async fn async_openai_sees_the_finish_reason_the_script_sets() {
    let server = MockChatServer::builder()
        .reply(Reply::text("truncated").finish_reason("length"))
        .start()
        .await;
    let client = client_for(&server);

    let mut stream = client
        .chat()
        .create_stream(request("m", "x"))
        .await
        .unwrap();
    let mut finish = None;
    while let Some(chunk) = stream.next().await {
        finish = finish.or(chunk.unwrap().choices[0].finish_reason);
    }

    assert_eq!(finish, Some(FinishReason::Length));
}

#[tokio::test]
async fn async_openai_dropping_its_stream_is_recorded_as_a_hang_up() {
    let server = MockChatServer::builder()
        .reply(Reply::text("one two three four five six seven eight nine ten").token_delay(ms(30)))
        .start()
        .await;
    let client = client_for(&server);

    let mut stream = client
        .chat()
        .create_stream(request("m", "x"))
        .await
        .unwrap();
    let mut words = 0;
    while let Some(chunk) = stream.next().await {
        if chunk.unwrap().choices[0]
            .delta
            .content
            .as_deref()
            .is_some_and(|c| !c.is_empty())
        {
            words += 1;
            if words == 3 {
                break;
            }
        }
    }
    drop(stream);

    let requests = server.wait_for_streams_to_end().await.unwrap();
    match requests[0].stream_outcome() {
        StreamOutcome::ClientHungUp { content_events } => assert!(
            (3..10).contains(content_events),
            "the client read 3 tokens; the server noticed within a few more, not {content_events}"
        ),
        other => panic!("expected a hang-up, got {other:?}"),
    }
}
