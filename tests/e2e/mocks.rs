//! Mocks, matchers, priorities and expectations, wiremock style.

use std::panic::AssertUnwindSafe;

use chatmock::{matchers, Mock, MockChatServer, ReceivedRequest, Reply};
use serde_json::{json, Value};

use crate::support::{chat_body, chat_url, chunks, content_of, post_chat, verification_failure};

/// The text of a streamed or complete chat reply, or the error message of a failure.
async fn ask(server: &MockChatServer, body: impl Into<String>) -> (u16, String) {
    let response = post_chat(server, body).await;
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap();
    let text = match serde_json::from_slice::<Value>(&bytes) {
        Ok(json) if json.get("error").is_some() => {
            json["error"]["message"].as_str().unwrap().to_owned()
        }
        Ok(json) => json["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .to_owned(),
        Err(_) => content_of(&chunks(&bytes).await),
    };
    (status, text)
}

#[tokio::test]
async fn requests_are_routed_by_model_and_last_user_message() {
    let server = MockChatServer::start().await;
    Mock::given(matchers::model("gpt-4o"))
        .and(matchers::last_user_message_contains("weather"))
        .respond_with(Reply::text("It is sunny."))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(matchers::model("gpt-4o-mini"))
        .respond_with(Reply::text("I am small."))
        .expect(1)
        .mount(&server)
        .await;

    assert_eq!(
        ask(&server, chat_body("gpt-4o", "How is the weather?", true)).await,
        (200, "It is sunny.".to_owned())
    );
    assert_eq!(
        ask(&server, chat_body("gpt-4o-mini", "Anything", false)).await,
        (200, "I am small.".to_owned())
    );
}

#[tokio::test]
async fn a_request_no_mock_matches_gets_a_404_that_says_why() {
    let server = MockChatServer::start().await;
    Mock::given(matchers::model("gpt-4o"))
        .respond_with(Reply::text("only for gpt-4o"))
        .mount(&server)
        .await;

    let response = post_chat(&server, chat_body("gpt-3.5-turbo", "Hello", true)).await;

    assert_eq!(response.status(), 404);
    let json: Value = response.json().await.unwrap();
    let error = &json["error"];
    assert_eq!(error["type"], "invalid_request_error");
    assert_eq!(error["code"], "no_mock_matched");
    assert!(error["param"].is_null());
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("no mock matched this request"),
        "{message}"
    );
    assert!(message.contains("model=\"gpt-3.5-turbo\""), "{message}");
    assert!(message.contains("1 mock is mounted"), "{message}");
    let requests = server.received_requests().await;
    assert_eq!(requests[0].response_status(), Some(404));
}

#[tokio::test]
async fn a_fallback_reply_answers_what_no_mock_matches() {
    let server = MockChatServer::builder()
        .reply(Reply::text("fallback"))
        .start()
        .await;
    Mock::given(matchers::last_user_message_is("special"))
        .respond_with(Reply::text("mocked"))
        .mount(&server)
        .await;

    assert_eq!(
        ask(&server, chat_body("m", "special", true)).await.1,
        "mocked"
    );
    assert_eq!(
        ask(&server, chat_body("m", "special!", true)).await.1,
        "fallback"
    );
}

#[tokio::test]
async fn nothing_answers_until_a_mock_is_mounted() {
    let server = MockChatServer::start().await;
    assert_eq!(ask(&server, chat_body("m", "x", true)).await.0, 404);

    Mock::given(matchers::model("m"))
        .respond_with(Reply::text("mocked"))
        .mount(&server)
        .await;

    assert_eq!(
        ask(&server, chat_body("m", "x", true)).await,
        (200, "mocked".to_owned())
    );
}

#[tokio::test]
async fn smaller_priority_wins_and_equal_priorities_keep_mount_order() {
    let server = MockChatServer::start().await;
    Mock::given(matchers::any())
        .respond_with(Reply::text("first mounted"))
        .mount(&server)
        .await;
    Mock::given(matchers::any())
        .respond_with(Reply::text("second mounted"))
        .mount(&server)
        .await;
    assert_eq!(
        ask(&server, chat_body("m", "x", true)).await.1,
        "first mounted"
    );

    Mock::given(matchers::any())
        .respond_with(Reply::text("urgent"))
        .with_priority(1)
        .mount(&server)
        .await;
    assert_eq!(ask(&server, chat_body("m", "x", true)).await.1, "urgent");
}

#[tokio::test]
async fn up_to_n_times_lets_later_requests_fall_through() {
    let server = MockChatServer::start().await;
    Mock::given(matchers::any())
        .respond_with(Reply::text("first attempt"))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(matchers::any())
        .respond_with(Reply::text("later attempts"))
        .mount(&server)
        .await;

    let mut answers = Vec::new();
    for _ in 0..4 {
        answers.push(ask(&server, chat_body("m", "x", true)).await.1);
    }

    assert_eq!(
        answers,
        [
            "first attempt",
            "first attempt",
            "later attempts",
            "later attempts"
        ]
    );
}

#[tokio::test]
async fn http_level_matchers_check_method_path_headers_and_body() {
    let server = MockChatServer::start().await;
    Mock::given(matchers::method("post"))
        .and(matchers::path("/v1/chat/completions"))
        .and(matchers::header("authorization", "Bearer good-key"))
        .and(matchers::header_exists("x-trace"))
        .and(matchers::body_partial_json(json!({
            "temperature": 0.5,
            "messages": [{ "role": "user" }]
        })))
        .and(matchers::stream(true))
        .respond_with(Reply::text("all matched"))
        .mount(&server)
        .await;
    let client = reqwest::Client::new();
    let body = json!({
        "model": "m",
        "temperature": 0.5,
        "stream": true,
        "messages": [{ "role": "user", "content": "hi" }]
    })
    .to_string();
    let send = |key: &'static str, trace: bool, body: String| {
        let mut request = client
            .post(chat_url(&server))
            .header("authorization", key)
            .body(body);
        if trace {
            request = request.header("x-trace", "1");
        }
        async move { request.send().await.unwrap().status().as_u16() }
    };

    assert_eq!(send("Bearer good-key", true, body.clone()).await, 200);
    assert_eq!(send("Bearer bad-key", true, body.clone()).await, 404);
    assert_eq!(send("Bearer good-key", false, body.clone()).await, 404);
    let cold = body.replace("0.5", "0.7");
    assert_eq!(send("Bearer good-key", true, cold).await, 404);
    let not_streaming = body.replace("\"stream\":true", "\"stream\":false");
    assert_eq!(send("Bearer good-key", true, not_streaming).await, 404);
}

#[tokio::test]
async fn a_closure_is_a_matcher() {
    let server = MockChatServer::start().await;
    Mock::given(|request: &ReceivedRequest| {
        request
            .chat()
            .is_some_and(|chat| chat.messages().len() >= 3)
    })
    .respond_with(Reply::text("long conversation"))
    .mount(&server)
    .await;

    let long = json!({
        "model": "m",
        "messages": [
            { "role": "system", "content": "s" },
            { "role": "user", "content": "a" },
            { "role": "assistant", "content": "b" }
        ]
    });
    assert_eq!(ask(&server, long.to_string()).await.1, "long conversation");
    assert_eq!(ask(&server, chat_body("m", "short", false)).await.0, 404);
}

#[tokio::test]
async fn a_mock_can_answer_any_path_in_the_chat_format() {
    let server = MockChatServer::start().await;
    Mock::given(matchers::path("/openai/deployments/gpt4/chat/completions"))
        .respond_with(Reply::text("azure style"))
        .mount(&server)
        .await;

    let response = reqwest::Client::new()
        .post(format!(
            "{}/openai/deployments/gpt4/chat/completions",
            server.uri()
        ))
        .body(chat_body("m", "x", true))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    assert_eq!(
        content_of(&chunks(&response.bytes().await.unwrap()).await),
        "azure style"
    );
}

#[tokio::test]
async fn unmet_expectations_fail_on_drop_with_a_readable_report() {
    let server = MockChatServer::start().await;
    Mock::given(matchers::model("gpt-4o"))
        .respond_with(Reply::text("sunny"))
        .named("weather question")
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(matchers::model("gpt-4o-mini"))
        .respond_with(Reply::text("small"))
        .expect(2..)
        .mount(&server)
        .await;
    Mock::given(matchers::model("never"))
        .respond_with(Reply::text("fine"))
        .expect(0)
        .mount(&server)
        .await;
    ask(&server, chat_body("gpt-4o-mini", "once only", true)).await;
    ask(&server, chat_body("gpt-3.5", "unexpected", true)).await;

    let report = verification_failure(server).expect("verification fails");

    assert!(
        report.contains("2 mock expectations were not met"),
        "{report}"
    );
    assert!(
        report.contains("Mock #0 \"weather question\" matched 0 requests, but expects exactly 1."),
        "{report}"
    );
    assert!(
        report.contains("Mock #1 matched 1 request, but expects at least 2."),
        "{report}"
    );
    assert!(
        !report.contains("Mock #2"),
        "met expectations are not reported: {report}"
    );
    assert!(report.contains("Received requests (2):"), "{report}");
    assert!(
        report.contains(
            "1. POST /v1/chat/completions model=\"gpt-4o-mini\" last user message=\"once only\" -> answered by Mock #1"
        ),
        "{report}"
    );
    assert!(report.contains("model=\"gpt-3.5\""), "{report}");
    assert!(report.contains("-> 404, matched no mock"), "{report}");
}

#[tokio::test]
async fn met_expectations_pass_silently_including_ranges() {
    let server = MockChatServer::start().await;
    Mock::given(matchers::any())
        .respond_with(Reply::text("ok"))
        .expect(1..=3)
        .mount(&server)
        .await;
    ask(&server, chat_body("m", "x", true)).await;
    ask(&server, chat_body("m", "x", false)).await;

    assert_eq!(verification_failure(server), None);
}

#[tokio::test]
async fn verify_checks_on_demand() {
    let server = MockChatServer::start().await;
    Mock::given(matchers::any())
        .respond_with(Reply::text("ok"))
        .expect(1)
        .mount(&server)
        .await;

    let early = std::panic::catch_unwind(AssertUnwindSafe(|| {
        futures::executor::block_on(server.verify())
    }));
    assert!(early.is_err(), "no request has matched yet");

    ask(&server, chat_body("m", "x", true)).await;
    server.verify().await;
}

#[test]
fn a_test_that_panics_with_unmet_expectations_fails_once_and_does_not_abort() {
    let test = std::thread::spawn(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let server = MockChatServer::start().await;
            Mock::given(matchers::any())
                .respond_with(Reply::text("ok"))
                .expect(5)
                .mount(&server)
                .await;
            ask(&server, chat_body("m", "x", true)).await;
            panic!("the test's own assertion failed");
        });
    });

    let panic = test.join().expect_err("the test panicked");
    assert_eq!(
        panic.downcast_ref::<&str>(),
        Some(&"the test's own assertion failed"),
        "the test's own panic is the one reported; a second one would have aborted"
    );
}

#[tokio::test]
async fn a_scoped_mock_is_verified_and_unmounted_when_its_guard_drops() {
    let server = MockChatServer::start().await;
    Mock::given(matchers::model("other"))
        .respond_with(Reply::text("keeps the server in mock mode"))
        .mount(&server)
        .await;
    {
        let guard = Mock::given(matchers::model("m"))
            .respond_with(Reply::text("scoped"))
            .expect(1)
            .mount_as_scoped(&server)
            .await;
        assert_eq!(ask(&server, chat_body("m", "x", true)).await.1, "scoped");
        assert_eq!(guard.received_requests().await.len(), 1);
    }
    assert_eq!(ask(&server, chat_body("m", "x", true)).await.0, 404);

    let failed = std::panic::catch_unwind(AssertUnwindSafe(|| {
        futures::executor::block_on(async {
            let _guard = Mock::given(matchers::any())
                .respond_with(Reply::text("never used"))
                .named("phase two")
                .expect(1)
                .mount_as_scoped(&server)
                .await;
        })
    }));
    let panic = failed.expect_err("the guard's expectation was not met");
    let report = panic.downcast_ref::<String>().unwrap();
    assert!(
        report.contains("\"phase two\" matched 0 requests, but expects exactly 1."),
        "{report}"
    );
}

#[tokio::test]
async fn reset_unmounts_every_mock_and_forgets_requests() {
    let server = MockChatServer::start().await;
    Mock::given(matchers::any())
        .respond_with(Reply::text("mocked"))
        .expect(5)
        .mount(&server)
        .await;
    ask(&server, chat_body("m", "x", true)).await;

    server.reset().await;

    assert!(server.received_requests().await.is_empty());
    // Nothing is mounted any more.
    assert_eq!(ask(&server, chat_body("m", "x", true)).await.0, 404);
}

#[tokio::test]
#[should_panic(
    expected = "Mock::with_priority: 0 is not a priority: use 1 (checked first) to 255 (checked last)"
)]
async fn a_zero_priority_is_rejected_with_a_message_naming_it() {
    let server = MockChatServer::start().await;
    Mock::given(matchers::any())
        .respond_with(Reply::demo())
        .with_priority(0)
        .mount(&server)
        .await;
}

#[tokio::test]
#[should_panic(
    expected = "Mock::up_to_n_times: a mock limited to 0 matches can never match: use 1 or more; \
                to assert that no request matches, expect 0 instead"
)]
async fn up_to_zero_times_is_rejected_with_a_message_naming_it() {
    let server = MockChatServer::start().await;
    Mock::given(matchers::any())
        .respond_with(Reply::demo())
        .up_to_n_times(0)
        .mount(&server)
        .await;
}

#[tokio::test]
#[should_panic(
    expected = "Mock::expect: no number of requests is at least 3 and at most 0, so this \
                expectation can never be met: write the lower bound first, e.g. 1..=3"
)]
async fn an_empty_expectation_range_is_rejected_with_a_message_naming_it() {
    let server = MockChatServer::start().await;
    #[allow(clippy::reversed_empty_ranges)]
    Mock::given(matchers::any())
        .respond_with(Reply::demo())
        .expect(3..1)
        .mount(&server)
        .await;
}

#[tokio::test]
#[should_panic(
    expected = "matchers::path: \"v1/chat/completions\" can never match, as request paths start \
                with '/': write \"/v1/chat/completions\""
)]
async fn a_path_without_a_leading_slash_is_rejected() {
    let server = MockChatServer::start().await;
    Mock::given(matchers::path("v1/chat/completions"))
        .respond_with(Reply::demo())
        .mount(&server)
        .await;
}
