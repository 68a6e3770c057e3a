//! Reliability under concurrent use: restart storms, idle connections that never send a
//! request, and bounded connections. Raw TCP clients where the test needs control of the
//! socket.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chatmock::{MockChatServer, Reply};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{assert_between, chat_body, chat_url, every_format, ms};

async fn answered(server: &MockChatServer) -> String {
    let response = reqwest::Client::new()
        .post(chat_url(server))
        .body(chat_body("m", "x", false))
        .send()
        .await
        .expect("the server answers");
    let completion: Value = response.json().await.unwrap();
    completion["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_tasks_restarting_one_server_at_once_all_succeed() {
    let server = Arc::new(
        MockChatServer::builder()
            .reply(Reply::text("still here"))
            .start()
            .await,
    );
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let server = Arc::clone(&server);
            tokio::spawn(async move {
                for _round in 0..30 {
                    server.try_restart().await?;
                }
                std::io::Result::Ok(())
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().expect("every restart succeeds");
    }

    assert_eq!(answered(&server).await, "still here");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stops_and_restarts_from_many_tasks_leave_the_server_serving() {
    let server = Arc::new(
        MockChatServer::builder()
            .reply(Reply::text("up"))
            .start()
            .await,
    );
    let tasks: Vec<_> = (0..16)
        .map(|index| {
            let server = Arc::clone(&server);
            tokio::spawn(async move {
                for _round in 0..10 {
                    if index % 2 == 0 {
                        server.stop().await;
                    } else {
                        server.try_restart().await.expect("a restart succeeds");
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }

    server.restart().await;
    assert_eq!(answered(&server).await, "up");
}

/// Reads until the server closes the connection, or `limit` passes.
async fn closed_within(socket: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buffer = [0; 1024];
    loop {
        match tokio::time::timeout(limit, socket.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => {}
            Err(_) => return None,
        }
    }
}

#[tokio::test]
async fn an_idle_connection_is_closed_after_the_header_timeout_while_others_are_served() {
    let server = MockChatServer::builder()
        .reply(Reply::text("served"))
        .header_read_timeout(ms(300))
        .start()
        .await;

    let opened = Instant::now();
    let mut silent = TcpStream::connect(server.address()).await.unwrap();
    let mut slow = TcpStream::connect(server.address()).await.unwrap();
    slow.write_all(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-le")
        .await
        .unwrap();
    // A good request on another connection is served meanwhile.
    assert_eq!(answered(&server).await, "served");

    closed_within(&mut silent, ms(5_000))
        .await
        .expect("the silent connection is closed");
    assert_between(
        "the silent connection's life",
        opened.elapsed(),
        ms(250),
        ms(4_000),
    );
    closed_within(&mut slow, ms(5_000))
        .await
        .expect("the half-sent head is closed");
    assert_between(
        "the slow connection's life",
        opened.elapsed(),
        ms(250),
        ms(4_000),
    );
    // Nothing is recorded for connections that never sent a request.
    let requests = server.received_requests().await;
    assert_eq!(requests.len(), 1);
}

#[tokio::test]
async fn without_a_header_timeout_an_idle_connection_stays_open() {
    let server = MockChatServer::builder()
        .reply(Reply::text("served"))
        .start()
        .await;
    let mut silent = TcpStream::connect(server.address()).await.unwrap();
    assert_eq!(closed_within(&mut silent, ms(500)).await, None);
    assert_eq!(answered(&server).await, "served");
}

#[tokio::test]
async fn the_header_timeout_counts_from_the_connection_not_from_the_server_start() {
    let server = MockChatServer::builder()
        .reply(Reply::text("served"))
        .header_read_timeout(ms(400))
        .start()
        .await;
    tokio::time::sleep(ms(600)).await;
    let mut silent = TcpStream::connect(server.address()).await.unwrap();
    let closed = closed_within(&mut silent, ms(5_000))
        .await
        .expect("closed after its own timeout");
    assert_between("the idle connection's life", closed, ms(350), ms(4_000));
}

#[tokio::test]
async fn a_connection_limit_holds_further_clients_until_one_closes() {
    let server = MockChatServer::builder()
        .reply(Reply::text("served"))
        .max_connections(2)
        .start()
        .await;
    let first = TcpStream::connect(server.address()).await.unwrap();
    let second = TcpStream::connect(server.address()).await.unwrap();
    // Both held: a third client connects (the kernel's backlog) but is not served.
    let waiting = tokio::spawn({
        let url = chat_url(&server);
        async move {
            let started = Instant::now();
            let response = reqwest::Client::new()
                .post(url)
                .body(chat_body("m", "x", false))
                .send()
                .await
                .unwrap();
            (started.elapsed(), response.status())
        }
    });
    tokio::time::sleep(ms(300)).await;
    assert!(!waiting.is_finished(), "served past the limit");

    drop(first);
    let (waited, status) = waiting.await.unwrap();
    assert_eq!(status, 200);
    assert!(waited >= ms(250), "{waited:?}");
    drop(second);
}

#[test]
#[should_panic(expected = "MockChatServerBuilder::max_connections: a limit of 0 connections")]
fn a_limit_of_zero_connections_is_refused() {
    let _ = MockChatServer::builder().max_connections(0);
}

/// A request with a complete body, saying it is the connection's last.
fn last_request(method: &str, path: &str, body: &str) -> Vec<u8> {
    format!(
        "{method} {path} HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Sends `request`, shuts down the sending side (a half-close), and reads to the end.
async fn half_closed_exchange(address: std::net::SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut socket = TcpStream::connect(address).await.unwrap();
    socket.write_all(request).await.unwrap();
    socket.shutdown().await.unwrap();
    let mut received = Vec::new();
    tokio::time::timeout(ms(10_000), socket.read_to_end(&mut received))
        .await
        .expect("the reply ends")
        .expect("the reply is readable");
    received
}

/// The status and the body of a raw HTTP/1.1 response, with a chunked body decoded;
/// `None` for the body if its chunked encoding does not end properly.
fn parse_response(raw: &[u8]) -> (u16, Option<Vec<u8>>) {
    let Some(split) = raw.windows(4).position(|window| window == b"\r\n\r\n") else {
        return (0, None);
    };
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let status = head[9..12].parse().unwrap();
    let mut body = &raw[split + 4..];
    if !head.contains("transfer-encoding: chunked") {
        return (status, Some(body.to_vec()));
    }
    let mut decoded = Vec::new();
    loop {
        let Some(line_end) = body.windows(2).position(|pair| pair == b"\r\n") else {
            return (status, None);
        };
        let size =
            usize::from_str_radix(std::str::from_utf8(&body[..line_end]).unwrap(), 16).unwrap();
        body = &body[line_end + 2..];
        if size == 0 {
            return (status, (body == b"\r\n").then_some(decoded));
        }
        if body.len() < size + 2 {
            return (status, None);
        }
        decoded.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

#[tokio::test]
async fn a_half_closed_client_gets_its_whole_reply_in_every_format() {
    let tokens: Vec<String> = (0..40).map(|index| format!("w{index} ")).collect();
    let exchanges = every_format().into_iter().map(|case| {
        let tokens = tokens.clone();
        async move {
            let server = MockChatServer::builder()
                .reply(Reply::tokens(tokens).token_delay(ms(10)))
                .start()
                .await;
            let request = last_request(case.method, case.path, &case.body);
            let raw = half_closed_exchange(*server.address(), &request).await;
            let (status, decoded) = parse_response(&raw);
            let what = case.name;
            assert_eq!(status, 200, "{what}");
            let decoded = decoded.unwrap_or_else(|| panic!("{what}: the body breaks off"));
            let text = String::from_utf8_lossy(&decoded);
            assert!(
                text.contains("w0") && text.contains("w39"),
                "{what}: {text}"
            );
            let requests = server.wait_for_streams_to_end().await.unwrap();
            let expected = if case.streams {
                chatmock::StreamOutcome::Completed { content_events: 40 }
            } else {
                chatmock::StreamOutcome::NotStreamed
            };
            assert_eq!(requests[0].stream_outcome(), &expected, "{what}");
        }
    });
    futures::future::join_all(exchanges).await;
}

#[tokio::test]
async fn a_client_that_half_closes_and_then_leaves_is_recorded_as_hung_up() {
    let tokens: Vec<String> = (0..40).map(|index| format!("w{index} ")).collect();
    let server = MockChatServer::builder()
        .reply(Reply::tokens(tokens).token_delay(ms(10)))
        .start()
        .await;
    let mut socket = TcpStream::connect(server.address()).await.unwrap();
    let body = chat_body("m", "x", true);
    socket
        .write_all(&last_request("POST", "/v1/chat/completions", &body))
        .await
        .unwrap();
    socket.shutdown().await.unwrap();
    let mut first = [0; 256];
    let read = socket.read(&mut first).await.unwrap();
    assert!(read > 0);
    drop(socket);

    let requests = server.wait_for_streams_to_end().await.unwrap();
    assert!(
        matches!(
            requests[0].stream_outcome(),
            chatmock::StreamOutcome::ClientHungUp { content_events } if *content_events < 40
        ),
        "{:?}",
        requests[0].stream_outcome()
    );
}

#[tokio::test]
async fn a_keep_alive_client_that_leaves_during_a_delay_is_recorded_at_once() {
    let server = MockChatServer::builder()
        .reply(Reply::text("slow").first_token_delay(ms(10_000)))
        .start()
        .await;
    let started = Instant::now();
    let outcome = reqwest::Client::new()
        .post(chat_url(&server))
        .body(chat_body("m", "x", true))
        .timeout(ms(100))
        .send()
        .await;
    // The client leaves during the delay.
    drop(outcome);
    let requests = server.wait_for_streams_to_end().await.unwrap();
    assert!(started.elapsed() < ms(5_000), "{:?}", started.elapsed());
    assert_eq!(
        requests[0].stream_outcome(),
        &chatmock::StreamOutcome::ClientHungUp { content_events: 0 }
    );
}
