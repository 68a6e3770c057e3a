//! Starting, running and dropping servers: ports, runtimes, isolation, prompt shutdown.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Instant;

use chatmock::{MockChatServer, Reply};
use futures::StreamExt;

use crate::support::{assert_between, chat_body, chunks, content_of, ms, post_chat};

#[tokio::test]
async fn a_server_listens_on_a_free_loopback_port() {
    let server = MockChatServer::start().await;

    let address = *server.address();
    assert!(address.ip().is_loopback());
    assert_ne!(address.port(), 0);
    assert_eq!(server.uri(), format!("http://127.0.0.1:{}", address.port()));
    assert_eq!(server.openai_base_url(), format!("{}/v1", server.uri()));
    // Nothing is mounted: the server answers, with a 404 that says so.
    let response = post_chat(&server, chat_body("m", "x", false)).await;
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn dropping_the_server_frees_its_port_at_once() {
    let server = MockChatServer::builder().reply(Reply::demo()).start().await;
    let address = *server.address();
    assert_eq!(
        post_chat(&server, chat_body("m", "x", true)).await.status(),
        200
    );

    drop(server);

    assert!(
        TcpStream::connect(address).is_err(),
        "nothing listens on {address} any more"
    );
    TcpListener::bind(address).expect("the port can be bound again right away");
}

#[tokio::test]
async fn dropping_the_server_cuts_streams_in_flight_and_returns_promptly() {
    let server = MockChatServer::builder()
        .reply(Reply::text("one two three four five six").token_delay(ms(10_000)))
        .start()
        .await;
    let client = reqwest::Client::new();
    let mut streams = Vec::new();
    for _ in 0..20 {
        let response = client
            .post(crate::support::chat_url(&server))
            .body(chat_body("m", "x", true))
            .send()
            .await
            .unwrap();
        streams.push(response.bytes_stream());
    }
    // Every stream has delivered its first token and now waits 10 s for the next.
    for stream in &mut streams {
        let first = stream.next().await.unwrap().unwrap();
        assert!(String::from_utf8_lossy(&first).contains("\"one\""));
    }

    let dropping = Instant::now();
    drop(server);
    assert_between("drop", dropping.elapsed(), ms(0), ms(500));

    for mut stream in streams {
        let next = tokio::time::timeout(ms(2_000), stream.next())
            .await
            .expect("the client sees the cut promptly");
        assert!(
            matches!(next, None | Some(Err(_))),
            "the body ends without another token"
        );
    }
}

#[tokio::test]
async fn dropping_the_server_ends_stalled_streams_and_delayed_responses_too() {
    let server = MockChatServer::start().await;
    chatmock::Mock::given(chatmock::matchers::stream(true))
        .respond_with(Reply::text("one two").stall_after(1))
        .mount(&server)
        .await;
    chatmock::Mock::given(chatmock::matchers::stream(false))
        .respond_with(Reply::text("late").delay_headers(ms(60_000)))
        .mount(&server)
        .await;
    let stalled = post_chat(&server, chat_body("m", "x", true)).await;
    let mut stalled = stalled.bytes_stream();
    stalled.next().await.unwrap().unwrap();
    let delayed = tokio::spawn(
        reqwest::Client::new()
            .post(crate::support::chat_url(&server))
            .body(chat_body("m", "x", false))
            .send(),
    );
    server.wait_for_requests(2).await.unwrap();

    let dropping = Instant::now();
    drop(server);
    assert_between("drop", dropping.elapsed(), ms(0), ms(500));

    let next = tokio::time::timeout(ms(2_000), stalled.next())
        .await
        .unwrap();
    assert!(matches!(next, None | Some(Err(_))));
    let delayed = tokio::time::timeout(ms(2_000), delayed)
        .await
        .unwrap()
        .unwrap();
    assert!(
        delayed.is_err(),
        "the delayed response never comes: {delayed:?}"
    );
}

#[tokio::test]
async fn many_servers_run_side_by_side_on_distinct_ports() {
    let servers: Vec<MockChatServer> = futures::future::join_all((0..40).map(|index| {
        MockChatServer::builder()
            .reply(Reply::text(format!("server {index}")))
            .start()
    }))
    .await;

    let replies = futures::future::join_all(servers.iter().map(|server| async move {
        let response = post_chat(server, chat_body("m", "x", true)).await;
        content_of(&chunks(&response.bytes().await.unwrap()).await)
    }))
    .await;

    for (index, reply) in replies.iter().enumerate() {
        assert_eq!(reply, &format!("server {index}"));
    }
    let mut ports: Vec<u16> = servers
        .iter()
        .map(|server| server.address().port())
        .collect();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_thread_runtime_works_too() {
    let server = MockChatServer::builder()
        .reply(Reply::text("multi thread"))
        .start()
        .await;

    let response = post_chat(&server, chat_body("m", "x", true)).await;

    assert_eq!(
        content_of(&chunks(&response.bytes().await.unwrap()).await),
        "multi thread"
    );
}

#[test]
fn a_plain_test_uses_a_blocking_start_and_a_blocking_client() {
    let server = MockChatServer::builder()
        .reply(Reply::text("blocking works"))
        .start_blocking();

    let body = reqwest::blocking::Client::new()
        .post(crate::support::chat_url(&server))
        .body(chat_body("m", "x", false))
        .send()
        .unwrap()
        .text()
        .unwrap();

    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["choices"][0]["message"]["content"], "blocking works");
}

/// A server living on the test's own single-threaded runtime would never answer here: the
/// test blocks that runtime's only thread while it waits for the reply.
#[tokio::test]
async fn the_server_answers_while_the_test_blocks_its_own_runtime() {
    let server = MockChatServer::builder()
        .reply(Reply::text("independent"))
        .start()
        .await;

    let mut socket = TcpStream::connect(server.address()).unwrap();
    let body = chat_body("m", "x", false);
    write!(
        socket,
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    socket.read_to_string(&mut response).unwrap();

    assert!(response.starts_with("HTTP/1.1 200 OK"));
    assert!(response.contains("\"content\":\"independent\""));
}

#[tokio::test]
async fn try_start_names_the_address_it_could_not_listen_on() {
    let server = MockChatServer::builder().reply(Reply::demo()).start().await;
    let taken = server.address().port();

    let error = MockChatServer::builder()
        .port(taken)
        .try_start()
        .await
        .expect_err("the port is taken");

    assert!(
        error
            .to_string()
            .contains(&format!("chatmock could not listen on 127.0.0.1:{taken}")),
        "{error}"
    );
    assert_eq!(
        post_chat(&server, chat_body("m", "x", false))
            .await
            .status(),
        200
    );
}
