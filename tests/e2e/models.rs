//! Model lists: OpenAI's `/v1/models` read by async-openai, Anthropic's shape of the same
//! path (by its `anthropic-version` header), Ollama's `/api/tags` and Gemini's
//! `GET /v1beta/models`, with the list a test names or the one its mocks imply.

use async_openai::error::OpenAIError;
use chatmock::{matchers, Mock, MockChatServer, Reply};
use serde_json::{json, Value};

use crate::async_openai_client::client_for;

async fn get(url: String, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut request = reqwest::Client::new().get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn async_openai_lists_and_retrieves_the_models_a_test_names() {
    let server = MockChatServer::builder()
        .models(["gpt-4o", "ft:gpt-4o-mini:acme::abc123"])
        .start()
        .await;
    let list = client_for(&server).models().list().await.expect("the list");
    assert_eq!(list.object, "list");
    let ids: Vec<&str> = list.data.iter().map(|model| model.id.as_str()).collect();
    assert_eq!(ids, ["gpt-4o", "ft:gpt-4o-mini:acme::abc123"]);
    assert!(list.data.iter().all(|model| model.object == "model"));

    let model = client_for(&server)
        .models()
        .retrieve("gpt-4o")
        .await
        .unwrap();
    assert_eq!(model.id, "gpt-4o");
    match client_for(&server).models().retrieve("gpt-5").await {
        Err(OpenAIError::ApiError(error)) => {
            assert_eq!(error.api_error.code.as_deref(), Some("model_not_found"));
        }
        other => panic!("expected a 404 model_not_found, got {other:?}"),
    }
    assert_eq!(server.received_requests().await.len(), 3);
}

#[tokio::test]
async fn by_default_the_list_names_the_mocks_models_first_then_common_ones() {
    let server = MockChatServer::start().await;
    Mock::given(matchers::model("my-model"))
        .and(matchers::stream(true))
        .respond_with(Reply::text("hi"))
        .mount(&server)
        .await;
    let (status, list) = get(format!("{}/models", server.openai_base_url()), &[]).await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|model| model["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "my-model",
            "gpt-4o",
            "gpt-4o-mini",
            "o4-mini",
            "text-embedding-3-small"
        ]
    );
}

#[tokio::test]
async fn anthropics_clients_get_anthropics_shape_and_pages() {
    let server = MockChatServer::builder()
        .models(["claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-1"])
        .start()
        .await;
    let anthropic = [("anthropic-version", "2023-06-01")];
    let url = format!("{}/v1/models", server.uri());
    let (status, first) = get(format!("{url}?limit=2"), &anthropic).await;
    assert_eq!(status, 200);
    assert_eq!(first["has_more"], true);
    assert_eq!(first["first_id"], "claude-sonnet-4-5");
    assert_eq!(first["last_id"], "claude-haiku-4-5");
    assert_eq!(
        first["data"][0],
        json!({ "type": "model", "id": "claude-sonnet-4-5",
                "display_name": "Claude Sonnet 4.5", "created_at": "2025-09-29T00:00:00Z" })
    );
    let (_, rest) = get(
        format!("{url}?limit=2&after_id=claude-haiku-4-5"),
        &anthropic,
    )
    .await;
    assert_eq!(rest["has_more"], false);
    assert_eq!(rest["data"].as_array().unwrap().len(), 1);
    assert_eq!(rest["data"][0]["id"], "claude-opus-4-1");

    let (status, one) = get(format!("{url}/claude-opus-4-1"), &anthropic).await;
    assert_eq!(status, 200);
    assert_eq!(one["display_name"], "Claude Opus 4.1");
    let (status, missing) = get(format!("{url}/claude-2"), &anthropic).await;
    assert_eq!(status, 404);
    assert_eq!(missing["error"]["type"], "not_found_error");
    assert!(missing["request_id"].is_string());
}

#[tokio::test]
async fn ollama_tags_and_gemini_models_list_in_their_shapes() {
    let server = MockChatServer::builder()
        .models(["llama3.2", "qwen3:8b", "nomic-embed-text"])
        .start()
        .await;
    let (status, tags) = get(format!("{}/api/tags", server.uri()), &[]).await;
    assert_eq!(status, 200);
    let names: Vec<&str> = tags["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|model| model["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["llama3.2:latest", "qwen3:8b", "nomic-embed-text:latest"]
    );
    assert_eq!(tags["models"][1]["details"]["family"], "qwen");
    assert_eq!(tags["models"][0]["digest"].as_str().unwrap().len(), 64);

    let url = format!("{}/v1beta/models", server.uri());
    let (status, page) = get(format!("{url}?pageSize=2"), &[]).await;
    assert_eq!(status, 200);
    assert_eq!(page["models"].as_array().unwrap().len(), 2);
    assert_eq!(page["models"][0]["name"], "models/llama3.2");
    let token = page["nextPageToken"].as_str().unwrap();
    let (_, last) = get(format!("{url}?pageSize=2&pageToken={token}"), &[]).await;
    assert_eq!(last["models"][0]["name"], "models/nomic-embed-text");
    assert_eq!(
        last["models"][0]["supportedGenerationMethods"],
        json!(["embedContent"])
    );
    assert_eq!(last.get("nextPageToken"), None);
    let (status, missing) = get(format!("{url}/gemini-1.0-pro"), &[]).await;
    assert_eq!(status, 404);
    assert_eq!(missing["error"]["status"], "NOT_FOUND");
}

#[tokio::test]
async fn a_mock_can_refuse_the_model_list() {
    let server = MockChatServer::start().await;
    Mock::given(matchers::path("/v1/models"))
        .respond_with(Reply::invalid_api_key())
        .mount(&server)
        .await;
    match client_for(&server).models().list().await {
        Err(OpenAIError::ApiError(error)) => {
            assert_eq!(error.api_error.code.as_deref(), Some("invalid_api_key"));
        }
        other => panic!("expected a 401, got {other:?}"),
    }
    // A POST to the list is the wrong method, as the real API says.
    let response = reqwest::Client::new()
        .post(format!("{}/models", server.openai_base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
}

/// Headers only one provider sends, which no other format's response may carry.
const OPENAI_ONLY: &[&str] = &[
    "openai-version",
    "openai-organization",
    "x-ratelimit-limit-requests",
    "x-request-id",
];
const ANTHROPIC_ONLY: &[&str] = &["request-id"];

#[tokio::test]
async fn each_format_answers_with_its_own_providers_headers_only() {
    let server = MockChatServer::builder()
        .reply(Reply::text("Hi."))
        .start()
        .await;
    let uri = server.uri();
    let user = json!([{ "role": "user", "content": "Hi" }]);
    let gemini = json!({ "contents": [{ "parts": [{ "text": "Hi" }] }] });
    // (what, method, path, body, extra request header, the provider's own headers)
    type Case<'a> = (
        &'a str,
        &'a str,
        String,
        Option<Value>,
        Option<(&'a str, &'a str)>,
        &'a [&'a str],
    );
    let cases: Vec<Case<'_>> = vec![
        (
            "chat",
            "POST",
            format!("{uri}/v1/chat/completions"),
            Some(json!({ "model": "m", "messages": user })),
            None,
            OPENAI_ONLY,
        ),
        (
            "responses",
            "POST",
            format!("{uri}/v1/responses"),
            Some(json!({ "model": "m", "input": "Hi" })),
            None,
            OPENAI_ONLY,
        ),
        (
            "embeddings",
            "POST",
            format!("{uri}/v1/embeddings"),
            Some(json!({ "model": "m", "input": "Hi" })),
            None,
            OPENAI_ONLY,
        ),
        (
            "OpenAI models",
            "GET",
            format!("{uri}/v1/models"),
            None,
            None,
            OPENAI_ONLY,
        ),
        (
            "messages",
            "POST",
            format!("{uri}/v1/messages"),
            Some(json!({ "model": "m", "max_tokens": 9, "messages": user })),
            None,
            ANTHROPIC_ONLY,
        ),
        (
            "Anthropic models",
            "GET",
            format!("{uri}/v1/models"),
            None,
            Some(("anthropic-version", "2023-06-01")),
            ANTHROPIC_ONLY,
        ),
        (
            "gemini",
            "POST",
            format!("{uri}/v1beta/models/g:generateContent"),
            Some(gemini.clone()),
            None,
            &[],
        ),
        (
            "gemini models",
            "GET",
            format!("{uri}/v1beta/models"),
            None,
            None,
            &[],
        ),
        (
            "ollama",
            "POST",
            format!("{uri}/api/chat"),
            Some(json!({ "model": "m", "messages": user, "stream": false })),
            None,
            &[],
        ),
        (
            "ollama tags",
            "GET",
            format!("{uri}/api/tags"),
            None,
            None,
            &[],
        ),
    ];
    for (what, method, url, body, header, own) in cases {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = reqwest::Client::new().request(method, url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        if let Some((name, value)) = header {
            request = request.header(name, value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200, "{what}");
        let headers = response.headers();
        for name in own {
            assert!(
                headers.contains_key(*name),
                "{what} lacks {name}: {headers:?}"
            );
        }
        for name in OPENAI_ONLY.iter().chain(ANTHROPIC_ONLY) {
            if !own.contains(name) {
                assert!(
                    !headers.contains_key(*name),
                    "{what} sends {name}: {headers:?}"
                );
            }
        }
        assert_eq!(headers["content-type"], "application/json", "{what}");
    }
}
