//! Plain `#[test]`s with no tokio runtime anywhere: the server on its own thread, a
//! blocking client, and the `_blocking` twins of every test-side method.

use std::io::Read;
use std::time::Duration;

use chatmock::{matchers, Mock, MockChatServer, Reply, StreamOutcome};

fn chat(server: &MockChatServer, model: &str, stream: bool) -> reqwest::blocking::Response {
    reqwest::blocking::Client::new()
        .post(format!("{}/chat/completions", server.openai_base_url()))
        .header("authorization", "Bearer test-key-123")
        .body(crate::support::chat_body(model, "Hi", stream))
        .send()
        .expect("the server answers")
}

#[test]
fn a_plain_test_streams_mounts_waits_and_verifies() {
    assert!(
        tokio::runtime::Handle::try_current().is_err(),
        "no runtime here"
    );
    let server = MockChatServer::builder().start_blocking();
    Mock::given(matchers::model("gpt-4o"))
        .respond_with(Reply::tokens(["Hello", " there"]).token_delay(Duration::from_millis(5)))
        .expect(1)
        .mount_blocking(&server);

    let body = chat(&server, "gpt-4o", true).text().unwrap();

    assert!(body.contains(r#""content":" there""#), "{body}");
    assert!(body.ends_with("data: [DONE]\n\n"), "{body}");
    let requests = server.wait_for_streams_to_end_blocking().unwrap();
    assert_eq!(
        requests[0].stream_outcome(),
        &StreamOutcome::Completed { content_events: 2 }
    );
    server.verify_blocking();
}

#[test]
fn a_plain_test_meets_a_fault_and_reads_what_the_server_saw() {
    let server = MockChatServer::builder()
        .reply(Reply::tokens(["a", "b", "c", "d"]).disconnect_after(2))
        .start_blocking();

    let mut body = String::new();
    let read = chat(&server, "m", true).read_to_string(&mut body);

    assert!(read.is_err(), "the stream breaks off: {body}");
    let requests = server.wait_for_streams_to_end_blocking().unwrap();
    assert!(
        matches!(
            requests[0].stream_outcome(),
            StreamOutcome::Cut {
                content_events: 2,
                ..
            }
        ),
        "{:?}",
        requests[0].stream_outcome()
    );
    assert_eq!(server.received_requests_blocking().len(), 1);
}

#[test]
fn a_plain_test_waits_for_a_client_on_another_thread() {
    let server = MockChatServer::builder()
        .reply(Reply::text("late"))
        .start_blocking();
    let url = format!("{}/chat/completions", server.openai_base_url());
    let client = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        reqwest::blocking::Client::new()
            .post(url)
            .body(crate::support::chat_body("m", "x", false))
            .send()
            .unwrap()
            .status()
    });

    let requests = server.wait_for_requests_blocking(1).unwrap();

    assert_eq!(requests.len(), 1);
    assert_eq!(client.join().unwrap(), 200);
}

#[test]
fn a_blocking_wait_gives_up_after_the_wait_timeout_with_the_requests() {
    let server = MockChatServer::builder()
        .wait_timeout(Duration::from_millis(100))
        .start_blocking();
    assert_eq!(chat(&server, "m", false).status(), 404);

    let started = std::time::Instant::now();
    let timeout = server.wait_for_requests_blocking(2).unwrap_err();

    crate::support::assert_between(
        "the wait",
        started.elapsed(),
        Duration::from_millis(100),
        Duration::from_secs(3),
    );
    assert_eq!(timeout.received_requests().len(), 1);
    assert!(timeout.to_string().contains("waited 100ms for 2 requests"));
}

#[test]
fn a_scoped_mock_and_a_restart_work_without_a_runtime() {
    let server = MockChatServer::builder().start_blocking();
    {
        let guard = Mock::given(matchers::any())
            .respond_with(Reply::text("scoped"))
            .expect(1)
            .mount_as_scoped_blocking(&server);
        assert_eq!(chat(&server, "m", false).status(), 200);
        assert_eq!(guard.received_requests_blocking().len(), 1);
    }
    assert_eq!(chat(&server, "m", false).status(), 404, "unmounted");

    server.stop_blocking();
    assert!(std::net::TcpStream::connect(server.address()).is_err());
    server.restart_blocking();
    assert_eq!(chat(&server, "m", false).status(), 404, "serving again");

    server.reset_blocking();
    assert!(server.received_requests_blocking().is_empty());
}

#[test]
fn a_blocking_wait_inside_a_runtime_says_to_await_instead() {
    let server = MockChatServer::builder().start_blocking();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    let panic = runtime.block_on(async {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _ = server.wait_for_requests_blocking(1);
        }))
        .unwrap_err()
    });

    let message = panic.downcast_ref::<String>().unwrap();
    assert_eq!(
        message,
        "MockChatServer::wait_for_requests_blocking blocks its thread, and this thread runs a \
         tokio runtime, whose tasks (perhaps the client under test) would stop with it: use \
         .wait_for_requests(n).await in async code"
    );
}
