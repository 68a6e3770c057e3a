//! Bad requests get clear, OpenAI-shaped errors; nothing panics or hangs.

use chatmock::{matchers, Mock, MockChatServer, ReceivedRequest, Reply};
use serde_json::Value;

use crate::support::{chat_body, chat_url, post_chat};

async fn error_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    assert_eq!(response.headers()["content-type"], "application/json");
    let json: Value = response.json().await.unwrap();
    let error = json["error"].clone();
    for key in ["message", "type", "param", "code"] {
        assert!(
            error.get(key).is_some(),
            "the error has all four keys: {json}"
        );
    }
    (status, error)
}

#[tokio::test]
async fn malformed_json_is_a_400_that_says_so() {
    let server = MockChatServer::start().await;

    let (status, error) =
        error_of(post_chat(&server, "{\"model\": \"m\", \"messages\": [").await).await;

    assert_eq!(status, 400);
    assert_eq!(error["type"], "invalid_request_error");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.starts_with("We could not parse the JSON body of your request"),
        "{message}"
    );
    assert!(message.contains("EOF while parsing"), "{message}");
    let requests = server.received_requests().await;
    assert_eq!(requests[0].body(), b"{\"model\": \"m\", \"messages\": [");
    assert_eq!(requests[0].response_status(), Some(400));
}

#[tokio::test]
async fn an_empty_body_and_a_non_object_are_400s() {
    let server = MockChatServer::start().await;

    let (status, _) = error_of(post_chat(&server, "").await).await;
    assert_eq!(status, 400);
    let (status, error) = error_of(post_chat(&server, "[1, 2]").await).await;
    assert_eq!(status, 400);
    assert_eq!(
        error["message"],
        "The request body must be a JSON object, but it is an array."
    );
}

#[tokio::test]
async fn missing_or_mistyped_parameters_are_400s_naming_the_parameter() {
    let server = MockChatServer::start().await;

    let (status, error) = error_of(post_chat(&server, r#"{"model":"m"}"#).await).await;
    assert_eq!(status, 400);
    assert_eq!(error["message"], "Missing required parameter: 'messages'.");
    assert_eq!(error["param"], "messages");
    assert_eq!(error["code"], "missing_required_parameter");

    let (status, error) =
        error_of(post_chat(&server, r#"{"model":"m","messages":"hi"}"#).await).await;
    assert_eq!(status, 400);
    assert_eq!(error["code"], "invalid_type");

    let (status, error) = error_of(post_chat(&server, r#"{"messages":[]}"#).await).await;
    assert_eq!(status, 400);
    assert_eq!(error["message"], "You must provide a model parameter.");
}

#[tokio::test]
async fn a_get_on_the_chat_endpoint_is_a_405() {
    let server = MockChatServer::start().await;

    let response = reqwest::get(chat_url(&server)).await.unwrap();

    assert_eq!(response.headers()["allow"], "POST, OPTIONS");
    let (status, error) = error_of(response).await;
    assert_eq!(status, 405);
    assert_eq!(
        error["message"],
        "Invalid method for URL (GET /v1/chat/completions): this endpoint accepts POST only."
    );
}

#[tokio::test]
async fn an_unknown_path_is_a_404_listing_what_is_served() {
    let server = MockChatServer::start().await;

    let response = reqwest::Client::new()
        .post(format!("{}/v1/completions", server.uri()))
        .body(chat_body("m", "x", true))
        .send()
        .await
        .unwrap();

    let (status, error) = error_of(response).await;
    assert_eq!(status, 404);
    let message = error["message"].as_str().unwrap();
    assert!(
        message.starts_with("Invalid URL (POST /v1/completions)"),
        "{message}"
    );
    assert!(message.contains("POST /v1/chat/completions"), "{message}");
    assert!(message.contains("GET /stream"), "{message}");
}

#[tokio::test]
async fn a_panicking_matcher_is_a_500_the_server_keeps_serving_and_verification_fails() {
    let server = MockChatServer::start().await;
    Mock::given(|request: &ReceivedRequest| {
        assert!(
            request.chat().unwrap().model() != "boom",
            "matcher exploded"
        );
        false
    })
    .respond_with(Reply::demo())
    .mount(&server)
    .await;
    Mock::given(matchers::model("fine"))
        .respond_with(Reply::text("still serving"))
        .mount(&server)
        .await;

    let (status, error) = error_of(post_chat(&server, chat_body("boom", "x", true)).await).await;
    assert_eq!(status, 500);
    assert_eq!(error["type"], "server_error");
    assert!(error["message"]
        .as_str()
        .unwrap()
        .contains("a matcher panicked"));
    assert!(error["message"]
        .as_str()
        .unwrap()
        .contains("matcher exploded"));

    let response = post_chat(&server, chat_body("fine", "x", false)).await;
    assert_eq!(response.status(), 200);

    // A client that retries the 500 would hide it: the panic fails the test anyway.
    let report = crate::support::verification_failure(server).expect("verification fails");
    assert!(
        report.contains("1 request failed while answering"),
        "{report}"
    );
    assert!(
        report
            .contains("a matcher panicked while matching POST /v1/chat/completions model=\"boom\""),
        "{report}"
    );
    assert!(report.contains("matcher exploded"), "{report}");
}

#[tokio::test]
async fn a_body_over_the_limit_is_rejected_and_the_server_keeps_serving() {
    let server = MockChatServer::builder().reply(Reply::demo()).start().await;
    let huge = format!(
        "{{\"model\":\"m\",\"messages\":[],\"pad\":\"{}\"}}",
        "x".repeat(33 * 1024 * 1024)
    );

    let outcome = reqwest::Client::new()
        .post(chat_url(&server))
        .body(huge)
        .send()
        .await;

    match outcome {
        Ok(response) => assert_eq!(response.status(), 413),
        // The server may close the connection before the client finishes uploading.
        Err(error) => assert!(error.is_request() || error.is_body(), "{error}"),
    }
    let response = post_chat(&server, chat_body("m", "x", false)).await;
    assert_eq!(response.status(), 200);
    let requests = server.wait_for_requests(2).await.unwrap();
    assert_eq!(requests[0].response_status(), Some(413));
}
