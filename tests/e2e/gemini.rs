//! The Gemini wire format on `/v1beta/models/{model}:streamGenerateContent` and
//! `:generateContent`, checked chunk by chunk against the reference.

use chatmock::{matchers, Mock, MockChatServer, Reply, StreamError};
use serde_json::{json, Value};

use crate::support::parse_sse;

const MODEL: &str = "gemini-2.5-flash";

fn request_body() -> Value {
    json!({
        "systemInstruction": { "parts": [{ "text": "Be brief." }] },
        "contents": [
            { "role": "user", "parts": [{ "text": "Hello" }] },
            { "role": "model", "parts": [{ "text": "Hi!" }] },
            { "role": "user", "parts": [{ "text": "Tell me more" }] }
        ]
    })
}

async fn post(server: &MockChatServer, method_and_query: &str, body: Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!(
            "{}/v1beta/models/{MODEL}:{method_and_query}",
            server.uri()
        ))
        .header("x-goog-api-key", "test-key")
        .json(&body)
        .send()
        .await
        .expect("the server answers")
}

fn text_of(chunk: &Value) -> &str {
    chunk["candidates"][0]["content"]["parts"][0]["text"]
        .as_str()
        .unwrap()
}

#[tokio::test]
async fn an_sse_stream_is_one_data_chunk_per_token_ending_with_the_finish_reason() {
    let server = MockChatServer::builder()
        .reply(Reply::tokens(["Gem", "ini"]))
        .start()
        .await;

    let response = post(&server, "streamGenerateContent?alt=sse", request_body()).await;
    assert_eq!(
        response.headers()["content-type"],
        "text/event-stream; charset=utf-8"
    );
    let body = response.bytes().await.unwrap();
    let text = String::from_utf8(body.to_vec()).unwrap();
    let events = parse_sse(&body).await;

    assert!(
        text.split("\n\n")
            .filter(|block| !block.is_empty())
            .all(|block| block.starts_with("data: {")),
        "every block is one `data: ` line, as google-genai requires: {text}"
    );
    assert!(
        events.iter().all(|event| event.event == "message"),
        "no event: lines"
    );
    assert!(!text.contains("[DONE]"));
    let chunks: Vec<Value> = events
        .iter()
        .map(|event| serde_json::from_str(&event.data).unwrap())
        .collect();
    assert_eq!(chunks.len(), 3);
    assert_eq!(text_of(&chunks[0]), "Gem");
    assert_eq!(text_of(&chunks[1]), "ini");
    for chunk in &chunks {
        assert_eq!(chunk["candidates"][0]["content"]["role"], "model");
        assert_eq!(
            chunk["modelVersion"], MODEL,
            "the model comes from the path"
        );
        assert_eq!(chunk["responseId"], chunks[0]["responseId"]);
    }
    assert!(chunks[0]["candidates"][0].get("finishReason").is_none());
    let last = &chunks[2];
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    assert_eq!(
        last["usageMetadata"],
        json!({ "promptTokenCount": 7, "candidatesTokenCount": 2, "totalTokenCount": 9 })
    );
}

#[tokio::test]
async fn without_alt_sse_the_stream_is_one_json_array() {
    let server = MockChatServer::builder()
        .reply(Reply::tokens(["a", "b", "c"]).finish_reason("length"))
        .start()
        .await;

    let response = post(&server, "streamGenerateContent", request_body()).await;

    assert_eq!(response.headers()["content-type"], "application/json");
    let array: Vec<Value> = response.json().await.expect("the body is a JSON array");
    assert_eq!(array.len(), 4);
    let text: String = array.iter().map(text_of).collect();
    assert_eq!(text, "abc");
    assert_eq!(array[3]["candidates"][0]["finishReason"], "MAX_TOKENS");
}

/// `without_done` leaves out an end marker; Gemini's JSON array has none to leave out,
/// and its closing bracket is part of the body.
#[tokio::test]
async fn without_done_the_json_array_still_closes() {
    let server = MockChatServer::builder()
        .reply(Reply::tokens(["a", "b"]).without_done())
        .start()
        .await;

    let response = post(&server, "streamGenerateContent", request_body()).await;

    let array: Vec<Value> = response.json().await.expect("the body is a JSON array");
    let text: String = array.iter().map(text_of).collect();
    assert_eq!(text, "ab");
}

#[tokio::test]
async fn generate_content_returns_one_complete_response() {
    let server = MockChatServer::builder()
        .reply(Reply::text("All at once."))
        .start()
        .await;

    let response = post(&server, "generateContent", request_body()).await;

    let json: Value = response.json().await.unwrap();
    assert_eq!(text_of(&json), "All at once.");
    assert_eq!(json["candidates"][0]["finishReason"], "STOP");
    assert_eq!(json["usageMetadata"]["candidatesTokenCount"], 3);
}

#[tokio::test]
async fn errors_take_googles_shape() {
    let server = MockChatServer::builder()
        .reply(Reply::rate_limited())
        .start()
        .await;

    let response = post(&server, "streamGenerateContent?alt=sse", request_body()).await;

    assert_eq!(response.status(), 429);
    let json: Value = response.json().await.unwrap();
    assert_eq!(json["error"]["code"], 429);
    assert_eq!(json["error"]["status"], "RESOURCE_EXHAUSTED");
    assert!(json["error"]["message"].is_string());
}

#[tokio::test]
async fn a_mid_stream_error_is_a_data_chunk_starting_with_error() {
    let server = MockChatServer::builder()
        .reply(Reply::text("one two").error_after(1, StreamError::overloaded()))
        .start()
        .await;

    let body = post(&server, "streamGenerateContent?alt=sse", request_body())
        .await
        .bytes()
        .await
        .unwrap();
    let events = parse_sse(&body).await;

    assert_eq!(events.len(), 2);
    assert!(
        events[1].data.starts_with("{\"error\":"),
        "google-genai raises on this prefix"
    );
    let error: Value = serde_json::from_str(&events[1].data).unwrap();
    assert_eq!(error["error"]["code"], 503);
    assert_eq!(error["error"]["status"], "UNAVAILABLE");
}

#[tokio::test]
async fn a_request_without_contents_is_invalid_argument() {
    let server = MockChatServer::start().await;

    let response = post(
        &server,
        "generateContent",
        json!({ "generationConfig": {} }),
    )
    .await;

    assert_eq!(response.status(), 400);
    let json: Value = response.json().await.unwrap();
    assert_eq!(json["error"]["status"], "INVALID_ARGUMENT");
}

#[tokio::test]
async fn gemini_requests_are_read_as_chat_with_the_model_from_the_path() {
    let server = MockChatServer::start().await;
    Mock::given(matchers::model(MODEL))
        .and(matchers::last_user_message_is("Tell me more"))
        .respond_with(Reply::text("More."))
        .expect(1)
        .mount(&server)
        .await;

    let json: Value = post(&server, "generateContent", request_body())
        .await
        .json()
        .await
        .unwrap();

    assert_eq!(text_of(&json), "More.");
    let requests = server.received_requests().await;
    let roles: Vec<&str> = requests[0]
        .chat()
        .unwrap()
        .messages()
        .iter()
        .map(|message| message.role())
        .collect();
    assert_eq!(roles, ["system", "user", "assistant", "user"]);
}
