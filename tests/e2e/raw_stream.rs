//! The original demo's raw format on `GET /stream`, and the CORS a browser page needs.

use chatmock::{MockChatServer, Reply};

use crate::support::parse_sse;

#[tokio::test]
async fn get_stream_sends_the_demo_reply_exactly_as_the_original_demo_did() {
    let server = MockChatServer::builder().reply(Reply::demo()).start().await;

    let response = reqwest::get(format!("{}/stream", server.uri()))
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/event-stream; charset=utf-8"
    );
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    let body = response.text().await.unwrap();
    // Exactly the original Flask demo's events: each word bare after `data: `.
    let original: String = "Hello, this is a mocked chatbot. How can I help you?"
        .split(' ')
        .chain(["[DONE]"])
        .map(|word| format!("data: {word}\n\n"))
        .collect();
    assert_eq!(body, original);
    assert_eq!(
        body,
        "data: Hello,\n\ndata: this\n\ndata: is\n\ndata: a\n\ndata: mocked\n\n\
         data: chatbot.\n\ndata: How\n\ndata: can\n\ndata: I\n\ndata: help\n\n\
         data: you?\n\ndata: [DONE]\n\n"
    );
    let events = parse_sse(body.as_bytes()).await;
    let words: Vec<&str> = events[..events.len() - 1]
        .iter()
        .map(|event| event.data.as_str())
        .collect();
    assert_eq!(
        words.join(" "),
        "Hello, this is a mocked chatbot. How can I help you?"
    );
}

#[tokio::test]
async fn multi_line_tokens_become_several_data_lines_that_parse_back() {
    let server = MockChatServer::builder()
        .reply(Reply::tokens(["two\nlines", "", " spaced"]))
        .start()
        .await;

    let body = reqwest::get(format!("{}/stream", server.uri()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    assert_eq!(
        body,
        "data: two\ndata: lines\n\ndata: \n\ndata:  spaced\n\ndata: [DONE]\n\n"
    );
    let data: Vec<String> = parse_sse(body.as_bytes())
        .await
        .into_iter()
        .map(|event| event.data)
        .collect();
    assert_eq!(data, ["two\nlines", "", " spaced", "[DONE]"]);
}

#[tokio::test]
async fn a_browser_preflight_is_allowed_from_any_origin_and_not_recorded() {
    let server = MockChatServer::start().await;

    let response = reqwest::Client::new()
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/v1/chat/completions", server.uri()),
        )
        .header("origin", "http://localhost:3000")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 204);
    let header = |name: &str| response.headers()[name].to_str().unwrap().to_owned();
    assert_eq!(header("access-control-allow-origin"), "*");
    assert!(header("access-control-allow-methods").contains("POST"));
    assert_eq!(
        header("access-control-allow-headers"),
        "authorization, content-type"
    );
    assert!(server.received_requests().await.is_empty());
}

#[tokio::test]
async fn post_to_the_demo_stream_is_405_with_an_allow_header() {
    let server = MockChatServer::start().await;

    let response = reqwest::Client::new()
        .post(format!("{}/stream", server.uri()))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 405);
    assert!(response.headers()["allow"]
        .to_str()
        .unwrap()
        .contains("GET"));
    let json: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        json["error"]["message"],
        "Invalid method for URL (POST /stream): this endpoint accepts GET only."
    );
}
