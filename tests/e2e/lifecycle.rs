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

/// A drop does not wait for the server thread: with that thread blocked for seconds in a
/// responder, the drop still returns at once, the port refuses connections, and a stream
/// in flight on another connection ends for its client.
#[tokio::test]
async fn dropping_the_server_closes_everything_even_while_its_thread_is_blocked() {
    let server = MockChatServer::start().await;
    let (blocking, blocked) = std::sync::mpsc::channel();
    chatmock::Mock::given(chatmock::matchers::last_user_message_is("block"))
        .respond_with_fn(move |_| {
            let _ = blocking.send(());
            std::thread::sleep(ms(3_000));
            Reply::text("late")
        })
        .mount(&server)
        .await;
    chatmock::Mock::given(chatmock::matchers::any())
        .respond_with(Reply::text("one two").token_delay(ms(10_000)))
        .mount(&server)
        .await;
    let address = *server.address();
    let mut streaming = TcpStream::connect(address).unwrap();
    send_chat(&mut streaming, &chat_body("m", "x", true));
    let mut first = [0u8; 4096];
    assert!(
        streaming.read(&mut first).unwrap() > 0,
        "the stream has begun"
    );
    let mut blocker = TcpStream::connect(address).unwrap();
    send_chat(&mut blocker, &chat_body("m", "block", false));
    blocked.recv_timeout(ms(5_000)).expect("the responder runs");

    let dropping = Instant::now();
    drop(server);
    assert_between("drop", dropping.elapsed(), ms(0), ms(500));

    assert!(TcpStream::connect(address).is_err(), "the port refuses");
    TcpListener::bind(address).expect("the port can be bound again right away");
    streaming.set_read_timeout(Some(ms(1_000))).unwrap();
    let end = read_to_end_or_error(&mut streaming);
    assert!(
        end.is_ok(),
        "the client reads the end of its stream while the server thread is still blocked: \
         {end:?}"
    );
    let rest = String::from_utf8_lossy(end.as_ref().unwrap()).into_owned();
    assert!(
        !rest.contains("\"two\""),
        "no token after the drop: {rest:?}"
    );
}

/// What a client sends after the drop is never answered, even on a connection the server
/// accepted before, and even if the server thread has not run since.
#[tokio::test]
async fn a_request_on_a_kept_alive_connection_after_the_drop_is_never_answered() {
    for _ in 0..50 {
        let server = MockChatServer::builder()
            .reply(Reply::text("hi"))
            .start()
            .await;
        let mut connection = TcpStream::connect(*server.address()).unwrap();
        send_chat(&mut connection, &chat_body("m", "x", false));
        let mut answer = vec![0u8; 8192];
        let read = connection.read(&mut answer).unwrap();
        assert!(answer[..read].starts_with(b"HTTP/1.1 200"));

        drop(server);
        // The write may fail already: the server may have reset the connection.
        let _ = try_send_chat(&mut connection, &chat_body("m", "again", false));

        connection.set_read_timeout(Some(ms(2_000))).unwrap();
        let after = read_to_end_or_error(&mut connection).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&after).contains("HTTP/1.1"),
            "no answer after the drop: {:?}",
            String::from_utf8_lossy(&after)
        );
    }
}

fn send_chat(connection: &mut TcpStream, body: &str) {
    try_send_chat(connection, body).unwrap();
}

fn try_send_chat(connection: &mut TcpStream, body: &str) -> std::io::Result<()> {
    let request = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    );
    connection.write_all(request.as_bytes())
}

/// What is left to read, up to the end of the connection; an error (a reset, or the
/// read timeout) if it does not end.
fn read_to_end_or_error(connection: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut rest = Vec::new();
    connection.read_to_end(&mut rest).map(|_| rest)
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

#[tokio::test]
async fn servers_started_one_after_another_each_free_their_port_when_dropped() {
    // A start takes a listener its server thread bound beforehand; the port of the server
    // dropped before it must still refuse connections while the next one runs.
    let mut dropped = None;
    for round in 0..20 {
        let server = MockChatServer::builder().reply(Reply::demo()).start().await;
        let address = *server.address();
        if let Some(dropped) = dropped {
            assert_ne!(
                address, dropped,
                "round {round}: the dropped server's port came back"
            );
            assert!(
                TcpStream::connect(dropped).is_err(),
                "round {round}: the dropped server's port {dropped} still accepts"
            );
        }
        let response = post_chat(&server, chat_body("m", "x", false)).await;
        assert_eq!(response.status(), 200, "round {round}");
        drop(server);
        dropped = Some(address);
    }
}

#[tokio::test]
async fn a_start_that_cannot_bind_leaves_the_next_start_working() {
    let holder = TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = holder.local_addr().unwrap().port();

    for _ in 0..3 {
        let error = MockChatServer::builder()
            .port(taken)
            .try_start()
            .await
            .expect_err("the port is taken");
        assert!(error.to_string().contains("could not listen"), "{error}");
    }

    let server = MockChatServer::builder().reply(Reply::demo()).start().await;
    let response = post_chat(&server, chat_body("m", "x", false)).await;
    assert_eq!(response.status(), 200);
}
