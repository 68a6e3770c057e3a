//! Embeddings endpoints: OpenAI's `/v1/embeddings` read by async-openai (floats and
//! base64), Ollama's `/api/embed` and Gemini's `:embedContent` / `:batchEmbedContents`
//! over raw HTTP; deterministic vectors, recorded requests, and mocks that script errors
//! and delays.

use std::time::Duration;

use async_openai::types::embeddings::{CreateEmbeddingRequestArgs, EncodingFormat};
use chatmock::{matchers, Mock, MockChatServer, Reply};
use serde_json::{json, Value};

use crate::async_openai_client::client_for;

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

async fn openai_embeddings(server: &MockChatServer, inputs: &[&str]) -> Vec<Vec<f32>> {
    let request = CreateEmbeddingRequestArgs::default()
        .model("text-embedding-3-small")
        .input(
            inputs
                .iter()
                .map(|input| (*input).to_owned())
                .collect::<Vec<_>>(),
        )
        .build()
        .unwrap();
    let response = client_for(server)
        .embeddings()
        .create(request)
        .await
        .expect("embeddings");
    assert_eq!(response.object, "list");
    assert_eq!(response.model, "text-embedding-3-small");
    assert!(response.usage.prompt_tokens > 0);
    response
        .data
        .into_iter()
        .enumerate()
        .map(|(index, embedding)| {
            assert_eq!(embedding.index as usize, index);
            embedding.embedding
        })
        .collect()
}

#[tokio::test]
async fn async_openai_gets_deterministic_unit_vectors_that_rank_similar_texts_closer() {
    // Nothing mounted: embeddings need no script.
    let server = MockChatServer::start().await;
    let texts = [
        "The cat sat on the mat.",
        "A cat sat on a mat.",
        "Quarterly revenue grew in Europe.",
    ];
    let vectors = openai_embeddings(&server, &texts).await;
    assert_eq!(vectors.len(), 3);
    for vector in &vectors {
        assert_eq!(vector.len(), 1536);
        assert!((cosine(vector, vector) - 1.0).abs() < 1e-4);
    }
    assert!(cosine(&vectors[0], &vectors[1]) > cosine(&vectors[0], &vectors[2]) + 0.3);

    // The same text gives the same vector on another server.
    let other = MockChatServer::start().await;
    assert_eq!(openai_embeddings(&other, &texts[..1]).await[0], vectors[0]);

    let requests = server.received_requests().await;
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].path(), "/v1/embeddings");
}

#[tokio::test]
async fn async_openai_decodes_base64_embeddings_to_the_float_vectors() {
    let server = MockChatServer::start().await;
    let floats = openai_embeddings(&server, &["hello world"]).await;
    let request = CreateEmbeddingRequestArgs::default()
        .model("text-embedding-3-small")
        .input("hello world")
        .encoding_format(EncodingFormat::Base64)
        .dimensions(256u32)
        .build()
        .unwrap();
    let response = client_for(&server)
        .embeddings()
        .create_base64(request)
        .await
        .expect("base64 embeddings");
    let decoded: Vec<f32> = response.data[0].embedding.clone().into();
    assert_eq!(decoded.len(), 256);
    // Fewer dimensions give another vector of the same text, still of unit length.
    assert!((cosine(&decoded, &decoded) - 1.0).abs() < 1e-4);
    assert_ne!(decoded[..], floats[0][..256]);

    let request = CreateEmbeddingRequestArgs::default()
        .model("text-embedding-3-small")
        .input("hello world")
        .dimensions(256u32)
        .build()
        .unwrap();
    let response = client_for(&server)
        .embeddings()
        .create(request)
        .await
        .unwrap();
    assert_eq!(response.data[0].embedding, decoded);
}

#[tokio::test]
async fn a_mock_scripts_an_embeddings_error_or_delay_and_bad_input_gets_the_apis_error() {
    let server = MockChatServer::start().await;
    Mock::given(matchers::path("/v1/embeddings"))
        .and(matchers::body_partial_json(json!({ "input": "limited" })))
        .respond_with(Reply::rate_limited())
        .up_to_n_times(1)
        .mount(&server)
        .await;
    let client = reqwest::Client::new();
    let url = format!("{}/embeddings", server.openai_base_url());
    let limited = client
        .post(&url)
        .json(&json!({ "model": "text-embedding-3-small", "input": "limited" }))
        .send()
        .await
        .unwrap();
    assert_eq!(limited.status(), 429);
    let body: Value = limited.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");

    // The mock is used up: the retry gets its vector.
    let retried = client
        .post(&url)
        .json(&json!({ "model": "text-embedding-3-small", "input": "limited" }))
        .send()
        .await
        .unwrap();
    assert_eq!(retried.status(), 200);

    let missing = client
        .post(&url)
        .json(&json!({ "model": "text-embedding-3-small" }))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 400);
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body["error"]["param"], "input");
    let empty = client
        .post(&url)
        .json(&json!({ "model": "text-embedding-3-small", "input": [""] }))
        .send()
        .await
        .unwrap();
    assert_eq!(empty.status(), 400);
    assert_eq!(server.received_requests().await.len(), 4);
}

#[tokio::test(start_paused = true)]
async fn an_embeddings_reply_waits_out_its_delays_in_virtual_time() {
    let server = MockChatServer::builder()
        .virtual_time()
        .reply(Reply::text("unused").delay_headers(Duration::from_secs(30)))
        .start()
        .await;
    let started = tokio::time::Instant::now();
    let response = reqwest::Client::new()
        .post(format!("{}/api/embed", server.uri()))
        .json(&json!({ "model": "nomic-embed-text", "input": "slow" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(started.elapsed() >= Duration::from_secs(30));
    assert!(started.elapsed() < Duration::from_secs(31));
}

#[tokio::test]
async fn ollama_embeds_a_string_or_a_list_and_errors_in_its_shape() {
    let server = MockChatServer::start().await;
    let client = reqwest::Client::new();
    let url = format!("{}/api/embed", server.uri());
    let one: Value = client
        .post(&url)
        .json(&json!({ "model": "nomic-embed-text", "input": "why is the sky blue" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let many: Value = client
        .post(&url)
        .json(
            &json!({ "model": "nomic-embed-text", "input": ["why is the sky blue", "grass"],
                       "dimensions": 64 }),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["model"], "nomic-embed-text");
    assert_eq!(one["embeddings"].as_array().unwrap().len(), 1);
    assert_eq!(one["embeddings"][0].as_array().unwrap().len(), 768);
    assert_eq!(one["prompt_eval_count"], 5);
    assert_eq!(many["embeddings"].as_array().unwrap().len(), 2);
    assert_eq!(many["embeddings"][0].as_array().unwrap().len(), 64);

    Mock::given(matchers::path("/api/embed"))
        .respond_with(Reply::http_error(500).error_message("model crashed"))
        .mount(&server)
        .await;
    let failed = client
        .post(&url)
        .json(&json!({ "model": "nomic-embed-text", "input": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status(), 500);
    assert_eq!(
        failed.json::<Value>().await.unwrap(),
        json!({ "error": "model crashed" })
    );
}

#[tokio::test]
async fn gemini_embeds_one_content_or_a_batch_with_the_dimensions_asked() {
    let server = MockChatServer::start().await;
    let client = reqwest::Client::new();
    let base = format!("{}/v1beta/models/text-embedding-004", server.uri());
    let single: Value = client
        .post(format!("{base}:embedContent"))
        .json(&json!({ "content": { "parts": [{ "text": "What is life?" }] } }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let values = single["embedding"]["values"].as_array().unwrap();
    assert_eq!(values.len(), 768);

    let batch: Value = client
        .post(format!("{base}:batchEmbedContents"))
        .json(&json!({ "requests": [
            { "model": "models/text-embedding-004",
              "content": { "parts": [{ "text": "What is life?" }] } },
            { "model": "models/text-embedding-004", "outputDimensionality": 8,
              "content": { "parts": [{ "text": "How does a cat purr?" }] } }
        ] }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let embeddings = batch["embeddings"].as_array().unwrap();
    assert_eq!(embeddings[0]["values"], single["embedding"]["values"]);
    assert_eq!(embeddings[1]["values"].as_array().unwrap().len(), 8);

    let bad = client
        .post(format!("{base}:embedContent"))
        .json(&json!({ "text": "no content" }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let body: Value = bad.json().await.unwrap();
    assert_eq!(body["error"]["status"], "INVALID_ARGUMENT");
}
