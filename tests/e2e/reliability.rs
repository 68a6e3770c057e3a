//! Reliability under concurrent use: restart storms, idle connections that never send a
//! request, and bounded connections. Raw TCP clients where the test needs control of the
//! socket.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chatmock::{MockChatServer, Reply};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{assert_between, chat_body, chat_url, ms};

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
