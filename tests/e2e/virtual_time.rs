//! Virtual time: a server started with `virtual_time()` runs on the test's own
//! current-thread runtime and follows its clock, so under `start_paused = true` every
//! scripted wait, and every client timer and sleep, passes at once and in order.
//!
//! Each test checks the virtual durations against the script, exactly (to the timer's
//! millisecond), and that the whole test took little wall time.

use std::time::Duration;

use chatmock::{matchers, CutKind, Mock, MockChatServer, Reply, StreamError, StreamOutcome};
use futures::StreamExt;
use serde_json::Value;
use tokio::time::Instant;

use crate::async_openai_client::{client_for, request};
use crate::support::{
    chat_body, chat_url, chunks, content_of, every_format, ms, parse_sse, read_until_error,
};

fn secs(seconds: u64) -> Duration {
    Duration::from_secs(seconds)
}

async fn virtual_server(reply: Reply) -> MockChatServer {
    MockChatServer::builder()
        .virtual_time()
        .reply(reply)
        .start()
        .await
}

/// Asserts that a virtual duration is the scripted one, to within `slack`: the timer
/// wheel rounds deadlines to the millisecond.
fn assert_virtual(what: &str, actual: Duration, scripted: Duration, slack: Duration) {
    assert!(
        actual >= scripted.saturating_sub(slack) && actual <= scripted + slack,
        "{what}: {actual:?} in virtual time, but the script says {scripted:?} (± {slack:?})"
    );
}

/// A test in virtual time takes milliseconds of wall time whatever its script says; the
/// bound is wide for a loaded 2-core machine running debug builds.
fn assert_quick(wall: std::time::Instant) {
    let took = wall.elapsed();
    assert!(took < secs(2), "{took:?} of wall time");
}

/// Reads a streamed body event by event, returning each SSE event's data with the
/// virtual time it arrived at, counted from `since`, and how the body ended.
async fn timed_events(
    response: reqwest::Response,
    since: Instant,
) -> (Vec<(Duration, String)>, Option<reqwest::Error>) {
    let mut body = response.bytes_stream();
    let mut events = Vec::new();
    let mut pending = Vec::new();
    loop {
        match body.next().await {
            Some(Ok(bytes)) => {
                pending.extend_from_slice(&bytes);
                while let Some(end) = pending.windows(2).position(|pair| pair == b"\n\n") {
                    let event: Vec<u8> = pending.drain(..end + 2).collect();
                    for parsed in parse_sse(&event).await {
                        events.push((since.elapsed(), parsed.data));
                    }
                }
            }
            Some(Err(error)) => return (events, Some(error)),
            None => return (events, None),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_read_timeout_fires_at_its_virtual_deadline_against_a_stall() {
    let wall = std::time::Instant::now();
    let server = virtual_server(Reply::text("one two three four").stall_after(2)).await;
    let client = reqwest::Client::builder()
        .read_timeout(secs(10))
        .build()
        .unwrap();

    let started = Instant::now();
    let response = client
        .post(chat_url(&server))
        .body(chat_body("m", "x", true))
        .send()
        .await
        .unwrap();
    let mut body = response.bytes_stream();
    let (received, error) = read_until_error(&mut body).await;

    assert!(error.is_timeout(), "{error:?}");
    assert_virtual("the read timeout", started.elapsed(), secs(10), ms(50));
    assert_eq!(content_of(&chunks(&received).await), "one two");
    drop(body);
    let requests = server.wait_for_streams_to_end().await.unwrap();
    assert_eq!(
        requests[0].stream_outcome(),
        &StreamOutcome::ClientHungUp { content_events: 2 }
    );
    assert_quick(wall);
}

#[tokio::test(start_paused = true)]
async fn sixty_tokens_a_second_apart_all_arrive_against_a_shorter_read_timeout() {
    let wall = std::time::Instant::now();
    let tokens: Vec<String> = (0..60).map(|index| format!("t{index} ")).collect();
    let server = virtual_server(
        Reply::tokens(tokens.clone())
            .first_token_delay(secs(1))
            .token_delay(secs(1)),
    )
    .await;
    let client = reqwest::Client::builder()
        .read_timeout(ms(1_500))
        .build()
        .unwrap();

    let started = Instant::now();
    let response = client
        .post(chat_url(&server))
        .body(chat_body("m", "x", true))
        .send()
        .await
        .unwrap();
    let (events, error) = timed_events(response, started).await;

    assert!(error.is_none(), "{error:?}");
    let arrivals: Vec<Duration> = events
        .iter()
        .filter(|(_, data)| data.contains(r#""delta":{"content":"t"#))
        .map(|(at, _)| *at)
        .collect();
    assert_eq!(arrivals.len(), 60, "{events:?}");
    for (index, at) in arrivals.iter().enumerate() {
        let scripted = secs(index as u64 + 1);
        assert_virtual(&format!("token {index}"), *at, scripted, ms(10));
    }
    for pair in arrivals.windows(2) {
        assert_virtual("the gap between tokens", pair[1] - pair[0], secs(1), ms(10));
    }
    assert_virtual("the whole stream", started.elapsed(), secs(60), ms(10));
    let text: String = events
        .iter()
        .filter_map(|(_, data)| serde_json::from_str::<Value>(data).ok())
        .filter_map(|chunk| {
            chunk["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(text, tokens.concat());
    assert_quick(wall);
}

#[tokio::test(start_paused = true)]
async fn async_openai_waits_out_a_twenty_second_retry_after_in_virtual_time() {
    let wall = std::time::Instant::now();
    let server = MockChatServer::builder().virtual_time().start().await;
    Mock::given(matchers::any())
        .respond_with_sequence([
            Reply::rate_limited().retry_after(secs(20)),
            Reply::text("after the retry"),
        ])
        .expect(2)
        .mount(&server)
        .await;

    let mut stream = client_for(&server)
        .chat()
        .create_stream(request("m", "x"))
        .await
        .expect("the stream opens");
    let mut text = String::new();
    while let Some(item) = stream.next().await {
        text.extend(
            item.expect("no error item").choices[0]
                .delta
                .content
                .clone(),
        );
    }

    assert_eq!(text, "after the retry");
    let requests = server.wait_for_requests(2).await.unwrap();
    assert_eq!(requests[0].response_status(), Some(429));
    let waited = requests[1].received_at() - requests[0].ended_at().unwrap();
    assert!(waited >= secs(20), "retried after {waited:?}");
    assert!(waited < secs(60), "retried after {waited:?}");
    assert_quick(wall);
}

#[tokio::test(start_paused = true)]
async fn a_hand_written_retry_loop_sleeps_for_retry_after_in_virtual_time() {
    let wall = std::time::Instant::now();
    let server = MockChatServer::builder()
        .virtual_time()
        .reply_sequence([
            Reply::rate_limited().retry_after(secs(20)),
            Reply::overloaded().retry_after(secs(7)),
            Reply::text("third time lucky"),
        ])
        .start()
        .await;

    let started = Instant::now();
    let client = reqwest::Client::new();
    let mut attempts = 0;
    let text = loop {
        attempts += 1;
        let response = client
            .post(chat_url(&server))
            .body(chat_body("m", "x", false))
            .send()
            .await
            .unwrap();
        if let Some(retry_after) = response.headers().get("retry-after") {
            let seconds: u64 = retry_after.to_str().unwrap().parse().unwrap();
            tokio::time::sleep(secs(seconds)).await;
            continue;
        }
        let completion: Value = response.json().await.unwrap();
        break completion["choices"][0]["message"]["content"].clone();
    };

    assert_eq!(text, "third time lucky");
    assert_eq!(attempts, 3);
    assert_virtual("two waits", started.elapsed(), secs(27), ms(10));
    let requests = server.received_requests().await;
    let first_wait = requests[1].received_at() - requests[0].ended_at().unwrap();
    let second_wait = requests[2].received_at() - requests[1].ended_at().unwrap();
    assert_virtual("the first wait", first_wait, secs(20), ms(10));
    assert_virtual("the second wait", second_wait, secs(7), ms(10));
    assert_quick(wall);
}

/// One request per wire format, streamed and not, for a reply whose script lasts
/// 2 s + 3 s + 3 s: the last byte arrives exactly when the script ends.
#[tokio::test(start_paused = true)]
async fn every_format_streams_and_answers_on_the_scripted_clock() {
    let wall = std::time::Instant::now();
    let client = reqwest::Client::new();
    for case in every_format() {
        let name = case.name;
        let server = virtual_server(
            Reply::text("Sunny today")
                .first_token_delay(secs(2))
                .token_delay(secs(3))
                .finish_reason("stop"),
        )
        .await;
        let started = Instant::now();
        let method = reqwest::Method::from_bytes(case.method.as_bytes()).unwrap();
        let response = client
            .request(method, format!("{}{}", server.uri(), case.path))
            .body(case.body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{name}");
        let text = response.text().await.unwrap();
        assert_virtual(name, started.elapsed(), secs(5), ms(10));
        assert!(
            text.contains("Sunny") && text.contains("today"),
            "{name}: {text}"
        );
        let requests = server.wait_for_streams_to_end().await.unwrap();
        let took = requests[0].ended_at().unwrap() - requests[0].received_at();
        assert_virtual(&format!("{name}, as recorded"), took, secs(5), ms(10));
    }
    assert_quick(wall);
}

/// A name, how a reply ends, and the cut it makes (none for an error event).
type Ending = (&'static str, fn(Reply) -> Reply, Option<CutKind>);

#[tokio::test(start_paused = true)]
async fn cuts_and_error_events_come_at_their_scripted_times() {
    let wall = std::time::Instant::now();
    let client = reqwest::Client::new();
    let endings: [Ending; 4] = [
        (
            "disconnect",
            |reply| reply.disconnect_after(2),
            Some(CutKind::Disconnected),
        ),
        (
            "reset",
            |reply| reply.reset_connection_after(2),
            Some(CutKind::Reset),
        ),
        (
            "clean end",
            |reply| reply.end_cleanly_after(2),
            Some(CutKind::EndedCleanly),
        ),
        (
            "error event",
            |reply| reply.error_after(2, StreamError::server_error()),
            None,
        ),
    ];
    for (name, ending, cut) in endings {
        let server = virtual_server(ending(Reply::text("a b c d").token_delay(secs(4)))).await;
        let started = Instant::now();
        let response = client
            .post(chat_url(&server))
            .body(chat_body("m", "x", true))
            .send()
            .await
            .unwrap();
        let (events, error) = timed_events(response, started).await;

        let content: Vec<&(Duration, String)> = events
            .iter()
            .filter(|(_, data)| data.contains(r#""delta":{"content""#))
            .collect();
        assert_eq!(content.len(), 2, "{name}: {events:?}");
        assert_virtual(
            &format!("{name}: the second token"),
            content[1].0,
            secs(4),
            ms(10),
        );
        let breaks = matches!(cut, Some(CutKind::Disconnected | CutKind::Reset));
        assert_eq!(error.is_some(), breaks, "{name}: {error:?}");
        let requests = server.wait_for_streams_to_end().await.unwrap();
        let outcome = requests[0].stream_outcome().clone();
        match cut {
            Some(kind) => assert_eq!(
                outcome,
                StreamOutcome::Cut {
                    kind,
                    content_events: 2
                },
                "{name}"
            ),
            None => {
                assert_eq!(
                    outcome,
                    StreamOutcome::Completed { content_events: 2 },
                    "{name}"
                );
                assert!(
                    events.iter().any(|(_, data)| data.contains("\"error\"")),
                    "{name}"
                );
            }
        }
        // The ending replaces the third token, which was due at 8 s.
        let ended = requests[0].ended_at().unwrap() - requests[0].received_at();
        assert!(
            ended >= secs(8) && ended <= secs(8) + ms(50),
            "{name}: ended at {ended:?}"
        );
    }
    assert_quick(wall);
}

#[tokio::test(start_paused = true)]
async fn a_reconnecting_client_resumes_after_the_scripted_retry_time() {
    let wall = std::time::Instant::now();
    let server = virtual_server(
        Reply::text("one two three four")
            .token_delay(secs(2))
            .event_ids()
            .reconnection_time(ms(3_000))
            .disconnect_after(2),
    )
    .await;
    let client = reqwest::Client::new();

    // A client that honours `retry:` and `Last-Event-ID`, sleeping on tokio's clock.
    let mut last_id = None;
    let mut retry = Duration::ZERO;
    let mut text = String::new();
    for _attempt in 0..2 {
        let mut request = client
            .post(chat_url(&server))
            .body(chat_body("m", "x", true));
        if let Some(id) = &last_id {
            request = request.header("last-event-id", id);
        }
        let mut body = request.send().await.unwrap().bytes_stream();
        let mut raw = Vec::new();
        while let Some(Ok(bytes)) = body.next().await {
            raw.extend_from_slice(&bytes);
        }
        for event in parse_sse(&raw).await {
            if !event.id.is_empty() {
                last_id = Some(event.id.clone());
            }
            if let Some(time) = event.retry {
                retry = time;
            }
            if let Ok(chunk) = serde_json::from_str::<Value>(&event.data) {
                text.extend(
                    chunk["choices"][0]["delta"]["content"]
                        .as_str()
                        .map(str::to_owned),
                );
            }
        }
        if raw.ends_with(b"data: [DONE]\n\n") {
            break;
        }
        tokio::time::sleep(retry).await;
    }

    assert_eq!(text, "one two three four");
    let requests = server.received_requests().await;
    assert_eq!(requests.len(), 2);
    let waited = requests[1].received_at() - requests[0].ended_at().unwrap();
    assert_virtual("the reconnection wait", waited, ms(3_000), ms(10));
    assert_quick(wall);
}

#[tokio::test(start_paused = true)]
async fn keep_alives_keep_a_read_timeout_from_firing_during_a_long_stall() {
    let wall = std::time::Instant::now();
    let server = virtual_server(Reply::text("one two").stall_after(1).keep_alive(secs(15))).await;
    let client = reqwest::Client::builder()
        .read_timeout(secs(20))
        .build()
        .unwrap();

    let started = Instant::now();
    let response = client
        .post(chat_url(&server))
        .body(chat_body("m", "x", true))
        .send()
        .await
        .unwrap();
    let mut body = response.bytes_stream();
    let mut comments = Vec::new();
    while started.elapsed() < secs(60) {
        let bytes = body.next().await.unwrap().unwrap();
        if bytes.starts_with(b": keep-alive") {
            comments.push(started.elapsed());
        }
    }

    assert_eq!(comments.len(), 4, "{comments:?}");
    for (index, at) in comments.iter().enumerate() {
        let scripted = secs(15 * (index as u64 + 1));
        assert_virtual("a keep-alive", *at, scripted, ms(10));
    }
    assert_quick(wall);
}

#[tokio::test(start_paused = true)]
async fn delayed_headers_trip_a_client_timeout_at_its_virtual_deadline() {
    let wall = std::time::Instant::now();
    let server = virtual_server(Reply::text("late").delay_headers(secs(90))).await;
    let client = reqwest::Client::builder()
        .timeout(secs(30))
        .build()
        .unwrap();

    let started = Instant::now();
    let error = client
        .post(chat_url(&server))
        .body(chat_body("m", "x", true))
        .send()
        .await
        .unwrap_err();

    assert!(error.is_timeout(), "{error:?}");
    assert_virtual("the client's timeout", started.elapsed(), secs(30), ms(10));
    assert_quick(wall);
}

#[tokio::test(start_paused = true)]
async fn waiting_for_requests_follows_the_same_clock() {
    let wall = std::time::Instant::now();
    let server = MockChatServer::builder()
        .virtual_time()
        .reply(Reply::text("ok"))
        .wait_timeout(secs(60))
        .start()
        .await;
    let url = chat_url(&server);
    let client = tokio::spawn(async move {
        tokio::time::sleep(secs(45)).await;
        reqwest::Client::new()
            .post(url)
            .body(chat_body("m", "x", false))
            .send()
            .await
            .unwrap()
            .status()
    });

    let started = Instant::now();
    let requests = server.wait_for_requests(1).await.unwrap();
    assert_virtual("the wait", started.elapsed(), secs(45), ms(10));
    assert_eq!(requests.len(), 1);
    assert_eq!(client.await.unwrap(), 200);

    // And a wait that cannot succeed gives up exactly at its timeout.
    let started = Instant::now();
    let timeout = server.wait_for_requests(2).await.unwrap_err();
    assert_virtual("the timeout", started.elapsed(), secs(60), ms(10));
    assert_eq!(timeout.received_requests().len(), 1);
    assert_quick(wall);
}

#[tokio::test]
async fn without_a_paused_clock_a_virtual_time_server_runs_in_real_time() {
    let server = virtual_server(Reply::text("a b").token_delay(ms(50))).await;
    let started = std::time::Instant::now();
    let response = reqwest::Client::new()
        .post(chat_url(&server))
        .body(chat_body("m", "x", true))
        .send()
        .await
        .unwrap();
    let text = response.text().await.unwrap();
    assert!(started.elapsed() >= ms(50), "{:?}", started.elapsed());
    assert_eq!(content_of(&chunks(text.as_bytes()).await), "a b");
}

#[tokio::test(start_paused = true)]
async fn stop_and_restart_work_on_the_test_runtime() {
    let server = virtual_server(Reply::text("back")).await;
    server.stop().await;
    assert!(std::net::TcpStream::connect(server.address()).is_err());
    server.restart().await;
    let response = reqwest::Client::new()
        .post(chat_url(&server))
        .body(chat_body("m", "x", false))
        .send()
        .await
        .unwrap();
    let completion: Value = response.json().await.unwrap();
    assert_eq!(completion["choices"][0]["message"]["content"], "back");
}

/// The drop closes the port and ends the stream for the client at once, before the test's
/// runtime runs again: nothing is left for "the next turn" but dropping the task.
#[tokio::test(start_paused = true)]
async fn dropping_a_virtual_time_server_closes_its_port_and_streams_at_once() {
    use std::io::Read;

    let server = virtual_server(Reply::text("one two").token_delay(secs(60))).await;
    let address = *server.address();
    let body = chat_body("m", "x", true);
    let mut client = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    );
    tokio::io::AsyncWriteExt::write_all(&mut client, request.as_bytes())
        .await
        .unwrap();
    let mut first = vec![0u8; 4096];
    let read = tokio::io::AsyncReadExt::read(&mut client, &mut first)
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&first[..read]).contains("\"one\""));

    drop(server);

    // No `.await` from here on: the server's task cannot have run.
    assert!(std::net::TcpStream::connect(address).is_err());
    let mut client = client.into_std().unwrap();
    client.set_nonblocking(false).unwrap();
    client
        .set_read_timeout(Some(Duration::from_millis(1_000)))
        .unwrap();
    let mut rest = Vec::new();
    client
        .read_to_end(&mut rest)
        .expect("the client reads the end of its stream");
    assert!(!String::from_utf8_lossy(&rest).contains("\"two\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_thread_runtime_is_refused_with_what_to_do() {
    let error = MockChatServer::builder()
        .virtual_time()
        .try_start()
        .await
        .unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::Unsupported);
    assert!(
        error.to_string().starts_with(
            "MockChatServerBuilder::virtual_time needs a current-thread runtime, as tokio can \
             pause only those: use #[tokio::test]"
        ),
        "{error}"
    );
}

#[test]
#[should_panic(
    expected = "MockChatServerBuilder::virtual_time runs the server on the test's own \
                           tokio runtime, which start_blocking() does not have: start it with \
                           .start().await"
)]
fn start_blocking_is_refused_with_what_to_do() {
    let _server = MockChatServer::builder().virtual_time().start_blocking();
}

/// The README's example, as written there.
#[tokio::test(start_paused = true)]
async fn the_readme_example_holds() {
    let server = MockChatServer::builder()
        .virtual_time()
        .reply(Reply::text("one two three").stall_after(2))
        .start()
        .await;
    let client = reqwest::Client::builder()
        .read_timeout(Duration::from_secs(30))
        .build()
        .unwrap();

    let started = Instant::now();
    let body = r#"{"model":"m","messages":[],"stream":true}"#;
    let url = format!("{}/chat/completions", server.openai_base_url());
    let response = client.post(url).body(body).send().await.unwrap();
    let error = response.text().await.unwrap_err();

    assert!(error.is_timeout());
    assert!(started.elapsed() >= Duration::from_secs(30)); // virtual seconds
}
