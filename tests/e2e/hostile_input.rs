//! Hostile input, end to end: malformed HTTP on raw sockets, bodies that are not UTF-8 or
//! far too large, the wrong content types, clients that never read or never speak, and
//! header floods.
//!
//! `bad_input` covers well-formed HTTP carrying a bad chat request; this file goes below
//! that, to what a broken or malicious client does to the connection itself. Every input
//! must end in a clear 4xx or a clean close within a bounded time (every step here has an
//! explicit timeout, so a hang fails the test instead of stalling the suite), and every
//! test ends by showing that the same server still answers a normal chat request.

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use chatmock::{matchers, Mock, MockChatServer, Reply, StreamOutcome};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::support::{assert_between, chat_body, chat_url, ms, post_chat};

/// What every server here answers a normal request with, so that the closing check can
/// tell a real answer from anything else.
const NORMAL_REPLY: &str = "still serving";

async fn server() -> MockChatServer {
    MockChatServer::builder()
        .reply(Reply::text(NORMAL_REPLY))
        .start()
        .await
}

/// Fails the test, instead of stalling the suite, when a step outlives `limit`.
async fn within<T>(limit: Duration, what: &str, step: impl Future<Output = T>) -> T {
    match tokio::time::timeout(limit, step).await {
        Ok(value) => value,
        Err(_) => panic!("{what} took longer than {limit:?}: something hangs"),
    }
}

/// The closing check of every test: whatever came before, this server still answers.
async fn assert_still_serving(server: &MockChatServer) {
    let response = within(
        ms(2_000),
        "a normal chat request after the hostile input",
        post_chat(server, chat_body("m", "are you there?", false)),
    )
    .await;
    assert_eq!(response.status(), 200, "the server still answers normally");
    let json: Value = within(ms(2_000), "reading the normal reply", response.json())
        .await
        .expect("a JSON chat completion");
    assert_eq!(json["choices"][0]["message"]["content"], NORMAL_REPLY);
}

/// How a raw exchange ended, as the client saw it.
#[derive(Debug)]
struct Exchange {
    /// Everything the server sent before the connection ended.
    received: Vec<u8>,
    /// The connection ended with a reset rather than an orderly close.
    reset: bool,
}

impl Exchange {
    /// The status of the response, if the server sent one.
    fn status(&self) -> Option<u16> {
        let head = self.received.strip_prefix(b"HTTP/1.1 ")?;
        std::str::from_utf8(head.get(..3)?).ok()?.parse().ok()
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.received).into_owned()
    }

    fn assert_status(&self, expected: u16, what: &str) {
        assert_eq!(
            self.status(),
            Some(expected),
            "{what}: the server answered {:?}",
            self.text()
        );
    }

    /// The `error` object of an OpenAI-style error body.
    fn api_error(&self) -> Value {
        let text = self.text();
        let (head, body) = text.split_once("\r\n\r\n").expect("a complete response");
        assert!(
            head.contains("content-type: application/json"),
            "a JSON error: {head}"
        );
        let json: Value = serde_json::from_str(body).expect("a JSON body");
        for key in ["message", "type", "param", "code"] {
            assert!(json["error"].get(key).is_some(), "an OpenAI error: {json}");
        }
        json["error"].clone()
    }

    fn assert_closed_without_response(&self, what: &str) {
        assert!(
            self.status().is_none(),
            "{what}: expected a close without a response, got {:?}",
            self.text()
        );
    }
}

/// How the client leaves its side of the connection after writing.
#[derive(Clone, Copy, PartialEq)]
enum Then {
    KeepOpen,
    /// Sends FIN (a half-close), so the server sees the end of the input but can still
    /// answer.
    CloseWrite,
}

/// Writes `bytes` on a fresh connection and reads until the server ends it. The server
/// must end it: reading to the end is what proves the input did not leave the
/// connection hanging.
async fn exchange(address: SocketAddr, bytes: &[u8], then: Then) -> Exchange {
    within(ms(3_000), "a raw exchange", async {
        let mut socket = TcpStream::connect(address)
            .await
            .expect("the server accepts");
        // The server may reject the input and close before the client is done writing.
        let _ = socket.write_all(bytes).await;
        if then == Then::CloseWrite {
            let _ = socket.shutdown().await;
        }
        read_to_end(&mut socket).await
    })
    .await
}

async fn read_to_end(socket: &mut TcpStream) -> Exchange {
    let mut received = Vec::new();
    let mut buffer = vec![0; 16 * 1024];
    loop {
        match socket.read(&mut buffer).await {
            Ok(0) => {
                return Exchange {
                    received,
                    reset: false,
                }
            }
            Ok(read) => received.extend_from_slice(&buffer[..read]),
            Err(_) => {
                return Exchange {
                    received,
                    reset: true,
                }
            }
        }
    }
}

/// A valid chat request's head and body, with `extra_headers` (each ending in CRLF).
fn raw_chat_request(extra_headers: &str) -> Vec<u8> {
    let body = chat_body("m", "x", false);
    format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: localhost\r\n{extra_headers}\
         content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[tokio::test]
async fn a_request_line_of_garbage_gets_a_400_and_the_server_keeps_serving() {
    let server = server().await;

    for garbage in [
        &b"GARBAGE GARBAGE GARBAGE\r\n\r\n"[..],
        b"hello there\n\n",
        // An HTTP/0.9 request line: no version, which HTTP/1.1 servers must refuse.
        b"GET /stream\r\n\r\n",
        b"POST /v1/\xff\xfe HTTP/1.1\r\nhost: x\r\n\r\n",
    ] {
        let exchange = exchange(*server.address(), garbage, Then::KeepOpen).await;
        exchange.assert_status(400, &format!("{:?}", String::from_utf8_lossy(garbage)));
    }

    // Rejected before routing, so nothing reached the request log.
    assert!(server.received_requests().await.is_empty());
    assert_still_serving(&server).await;
}

#[tokio::test]
async fn a_header_line_without_a_colon_gets_a_400_and_the_server_keeps_serving() {
    let server = server().await;

    let exchange = exchange(
        *server.address(),
        &raw_chat_request("this header line has no colon\r\n"),
        Then::KeepOpen,
    )
    .await;

    exchange.assert_status(400, "a header line without a colon");
    assert!(server.received_requests().await.is_empty());
    assert_still_serving(&server).await;
}

#[tokio::test]
async fn headers_cut_off_by_the_client_end_in_a_quiet_close_and_the_server_keeps_serving() {
    let server = server().await;

    let exchange = exchange(
        *server.address(),
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: localhost\r\ncontent-le",
        Then::CloseWrite,
    )
    .await;

    // No request was ever complete, so there is nothing to answer.
    exchange.assert_closed_without_response("headers cut off mid-way");
    assert!(!exchange.reset, "the close is orderly");
    assert!(server.received_requests().await.is_empty());
    assert_still_serving(&server).await;
}

/// Only the length limit deserves a 413. This once got one too: every error from reading
/// the body was reported as "too large", which sends a client hunting for a size problem
/// in a 10-byte body.
#[tokio::test]
async fn a_body_shorter_than_its_content_length_gets_a_400_and_the_server_keeps_serving() {
    let server = server().await;

    let exchange = exchange(
        *server.address(),
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: localhost\r\ncontent-length: 1000\r\n\r\n\
          0123456789",
        Then::CloseWrite,
    )
    .await;

    assert!(
        matches!(exchange.status(), Some(400..=499)),
        "a truncated body is a client error: {:?}",
        exchange.text()
    );
    assert_still_serving(&server).await;
    let requests = server.received_requests().await;
    assert_eq!(requests.len(), 2, "the truncated request is recorded too");
    // Whether or not the client stays to read it, the status must not blame the size.
    exchange.assert_status(400, "a body 990 bytes short of its content-length");
    assert_eq!(requests[0].response_status(), Some(400));
    let message = exchange.api_error()["message"].as_str().unwrap().to_owned();
    assert!(!message.contains("larger"), "{message}");
}

/// Like a short body, broken chunked framing is a malformed request, not a large one.
#[tokio::test]
async fn a_malformed_chunked_body_gets_a_400_and_the_server_keeps_serving() {
    let server = server().await;

    let exchange = exchange(
        *server.address(),
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: localhost\r\ntransfer-encoding: chunked\r\n\
          connection: close\r\n\r\nzz\r\nnot a chunk size\r\n0\r\n\r\n",
        Then::KeepOpen,
    )
    .await;

    assert!(
        matches!(exchange.status(), Some(400..=499)),
        "a malformed chunked body is a client error: {:?}",
        exchange.text()
    );
    assert_still_serving(&server).await;
    exchange.assert_status(400, "a chunk size of \"zz\"");
    let message = exchange.api_error()["message"].as_str().unwrap().to_owned();
    assert!(!message.contains("larger"), "{message}");
    let requests = server.received_requests().await;
    assert_eq!(requests[0].response_status(), Some(400));
}

#[tokio::test]
async fn a_binary_blob_instead_of_http_is_refused_and_the_server_keeps_serving() {
    let server = server().await;

    // The start of a TLS ClientHello: a client pointed at http:// with https:// in mind.
    let tls_hello = [
        0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0xff, 0x00, 0xfe, 0x80,
        0x81,
    ];
    let exchange_tls = exchange(*server.address(), &tls_hello, Then::KeepOpen).await;
    exchange_tls.assert_status(400, "a TLS ClientHello");

    // The HTTP/2 preface then junk frames. Whether HTTP/2 is compiled in depends on
    // feature unification (the dev-dependencies turn it on), so only the close is
    // asserted: a GOAWAY frame before it is allowed, an HTTP/1.1 response is not.
    let mut h2_junk = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    h2_junk.extend_from_slice(&[0xab; 64]);
    let exchange_h2 = exchange(*server.address(), &h2_junk, Then::KeepOpen).await;
    exchange_h2.assert_closed_without_response("the HTTP/2 preface followed by junk");

    assert!(server.received_requests().await.is_empty());
    assert_still_serving(&server).await;
}

#[tokio::test]
async fn contradictory_or_impossible_framing_headers_get_a_400_and_the_server_keeps_serving() {
    let server = server().await;
    let cases: [(&str, &[u8]); 4] = [
        (
            // Two lengths are the classic request-smuggling setup.
            "two different content-lengths",
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\
              content-length: 6\r\n\r\n{}",
        ),
        (
            "a content-length that overflows u64",
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n\
              content-length: 99999999999999999999999\r\n\r\n",
        ),
        (
            "a negative content-length",
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: -1\r\n\r\n",
        ),
        (
            "a NUL byte in a header value",
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nx-a: a\x00b\r\n\
              content-length: 0\r\n\r\n",
        ),
    ];

    for (what, bytes) in cases {
        exchange(*server.address(), bytes, Then::KeepOpen)
            .await
            .assert_status(400, what);
    }

    assert!(server.received_requests().await.is_empty());
    assert_still_serving(&server).await;
}

#[tokio::test]
async fn a_body_that_is_not_utf8_gets_a_400_and_is_recorded_byte_for_byte() {
    let server = server().await;
    let mut body = br#"{"model":"m","messages":[{"role":"user","content":"bad "#.to_vec();
    body.extend_from_slice(&[0xff, 0xfe]);
    body.extend_from_slice(br#" bytes"}]}"#);
    // Valid UTF-8 on the wire, but an escape for half a surrogate pair: not a string
    // that any UTF-8 text can hold.
    let lone_surrogate =
        br#"{"model":"m","messages":[{"role":"user","content":"\ud800"}]}"#.to_vec();

    for (bytes, detail) in [
        (&body, "invalid unicode code point"),
        (&lone_surrogate, "hex escape"),
    ] {
        let response = within(
            ms(2_000),
            "a request with a body that is not UTF-8",
            reqwest::Client::new()
                .post(chat_url(&server))
                .header("content-type", "application/json")
                .body(bytes.clone())
                .send(),
        )
        .await
        .expect("the server answers");

        assert_eq!(response.status(), 400);
        assert_eq!(response.headers()["content-type"], "application/json");
        let json: Value = response.json().await.unwrap();
        for key in ["message", "type", "param", "code"] {
            assert!(json["error"].get(key).is_some(), "an OpenAI error: {json}");
        }
        assert_eq!(json["error"]["type"], "invalid_request_error");
        let message = json["error"]["message"].as_str().unwrap();
        assert!(
            message.starts_with("We could not parse the JSON body of your request"),
            "{message}"
        );
        assert!(message.contains(detail), "{message}");
    }

    let requests = server.received_requests().await;
    assert_eq!(
        requests[0].body(),
        &body[..],
        "the raw bytes, not a lossy copy"
    );
    assert_eq!(requests[0].response_status(), Some(400));
    assert!(requests[0].chat().is_none());
    assert_eq!(requests[1].body(), &lone_surrogate[..]);
    assert_eq!(requests[1].response_status(), Some(400));
    assert_still_serving(&server).await;
}

/// Uploads a `size`-byte body while reading, as a real client would, so that a server
/// answering early is seen at once rather than after the whole upload.
async fn upload(address: SocketAddr, size: usize) -> Exchange {
    let socket = TcpStream::connect(address).await.unwrap();
    let (mut reader, mut writer) = socket.into_split();
    let writing = tokio::spawn(async move {
        let head = format!(
            "POST /v1/chat/completions HTTP/1.1\r\nhost: localhost\r\n\
             content-type: application/json\r\ncontent-length: {size}\r\n\r\n"
        );
        writer.write_all(head.as_bytes()).await?;
        let piece = vec![b' '; 1024 * 1024];
        let mut left = size;
        while left > 0 {
            let now = left.min(piece.len());
            writer.write_all(&piece[..now]).await?;
            left -= now;
        }
        std::io::Result::Ok(writer)
    });
    let mut received = Vec::new();
    let mut buffer = vec![0; 64 * 1024];
    let reset = loop {
        match reader.read(&mut buffer).await {
            Ok(0) => break false,
            Ok(read) => received.extend_from_slice(&buffer[..read]),
            Err(_) => break true,
        }
    };
    // The answer is in; whatever the writer is still doing no longer matters.
    writing.abort();
    Exchange { received, reset }
}

/// The 33 MiB case in `bad_input` goes through reqwest, which sends the whole body before
/// it reads; this client reads while it writes, to see when and how the server answers.
/// Memory is not measured: the servers share this process with every other test, and its
/// resident size moved by 12 to 53 MB between runs, more than the effect to detect.
#[tokio::test]
async fn a_50_mb_body_is_refused_and_not_kept() {
    let server = server().await;
    const SIZE: usize = 50 * 1000 * 1000;

    for attempt in 0..2 {
        let exchange = within(
            ms(10_000),
            "uploading 50 MB",
            upload(*server.address(), SIZE),
        )
        .await;
        // The server stops reading at 32 MiB and answers at once; if the client is still
        // writing, the close may become a reset that discards the answer.
        match exchange.status() {
            Some(status) => assert_eq!(status, 413, "attempt {attempt}: {}", exchange.text()),
            None => assert!(exchange.received.is_empty(), "{:?}", exchange.text()),
        }
    }

    assert_still_serving(&server).await;
    let requests = server.received_requests().await;
    assert_eq!(requests.len(), 3);
    for request in &requests[..2] {
        assert_eq!(request.response_status(), Some(413));
        assert!(request.body().is_empty(), "the refused body is not kept");
    }
}

#[tokio::test]
async fn a_text_plain_content_type_is_ignored_and_the_json_body_is_served() {
    let server = server().await;

    let response = within(
        ms(2_000),
        "a text/plain chat request",
        reqwest::Client::new()
            .post(chat_url(&server))
            .header("content-type", "text/plain")
            .body(chat_body("m", "x", false))
            .send(),
    )
    .await
    .unwrap();

    // Documents the behaviour: the body is parsed as JSON whatever the content type says.
    assert_eq!(response.status(), 200);
    let json: Value = response.json().await.unwrap();
    assert_eq!(json["choices"][0]["message"]["content"], NORMAL_REPLY);
    let requests = server.received_requests().await;
    assert_eq!(requests[0].header("content-type"), Some("text/plain"));
    assert_eq!(requests[0].chat().unwrap().model(), "m");
    assert_still_serving(&server).await;
}

#[tokio::test]
async fn a_form_encoded_body_is_a_400_that_says_it_is_not_json() {
    let server = server().await;

    let response = within(
        ms(2_000),
        "a form-encoded chat request",
        reqwest::Client::new()
            .post(chat_url(&server))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("model=m&messages=hello")
            .send(),
    )
    .await
    .unwrap();

    assert_eq!(response.status(), 400);
    assert_eq!(response.headers()["content-type"], "application/json");
    let json: Value = response.json().await.unwrap();
    let message = json["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("We could not parse the JSON body of your request"),
        "{message}"
    );
    assert_eq!(
        server.received_requests().await[0].body(),
        b"model=m&messages=hello"
    );
    assert_still_serving(&server).await;
}

#[tokio::test]
async fn a_body_without_a_content_type_is_served() {
    let server = server().await;

    // reqwest adds no content-type for a plain string body.
    let response = within(
        ms(2_000),
        "a chat request without a content type",
        reqwest::Client::new()
            .post(chat_url(&server))
            .body(chat_body("m", "x", true))
            .send(),
    )
    .await
    .unwrap();

    assert_eq!(response.status(), 200);
    let sse = response.text().await.unwrap();
    assert!(sse.ends_with("data: [DONE]\n\n"), "{sse}");
    let requests = server.received_requests().await;
    assert_eq!(requests[0].header("content-type"), None);
    assert_still_serving(&server).await;
}

#[tokio::test]
async fn a_client_that_never_reads_a_huge_stream_blocks_no_one_and_is_cut_on_drop() {
    let server = server().await;
    // About 12 MB on the wire. 2,000 tokens (2.5 MB) are not enough: the server's send
    // buffer grows to the kernel's maximum (4 MiB here, tcp_wmem) and swallows the
    // whole stream, so the server never waits on the client at all.
    const TOKENS: usize = 10_000;
    let kilobyte = "k".repeat(1024);
    Mock::given(matchers::model("huge"))
        .respond_with(Reply::tokens(vec![kilobyte; TOKENS]))
        .mount(&server)
        .await;

    // A small receive buffer keeps the client's side from absorbing much either.
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4 * 1024).unwrap();
    let mut never_reads = within(ms(2_000), "connecting", socket.connect(*server.address()))
        .await
        .unwrap();
    let body = chat_body("huge", "x", true);
    let request = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: localhost\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    );
    never_reads.write_all(request.as_bytes()).await.unwrap();
    server
        .wait_until(|requests| {
            requests
                .first()
                .is_some_and(|request| request.stream_outcome().content_events() > 0)
        })
        .await
        .unwrap();

    // Everyone else is served, and fast, while that stream is stuck.
    for index in 0..20 {
        let started = Instant::now();
        let response = within(
            ms(2_000),
            "a normal request beside the stuck stream",
            post_chat(
                &server,
                chat_body("m", &format!("request {index}"), index % 2 == 0),
            ),
        )
        .await;
        assert_eq!(response.status(), 200);
        response.bytes().await.unwrap();
        // Alone, each takes a few milliseconds; the bound leaves room for a busy machine
        // (the full suite runs load tests alongside), while a request queued behind the
        // stuck stream would wait forever and fail the timeout above.
        assert_between("a normal request", started.elapsed(), ms(0), ms(1_000));
    }
    assert_still_serving(&server).await;
    let stuck = server.received_requests().await[0].stream_outcome().clone();
    assert!(
        matches!(stuck, StreamOutcome::Streaming { content_events } if content_events < TOKENS),
        "the never-read stream is stuck part way: {stuck:?}"
    );

    let dropping = Instant::now();
    drop(server);
    assert_between("drop", dropping.elapsed(), ms(0), ms(1_000));

    // What the kernel had buffered still arrives, then the close: no [DONE], no hang.
    let exchange = within(
        ms(3_000),
        "reading to the close",
        read_to_end(&mut never_reads),
    )
    .await;
    exchange.assert_status(200, "the stuck stream");
    let text = exchange.text();
    assert!(
        !text.contains("data: [DONE]"),
        "the stream was cut, not finished"
    );
    assert!(
        text.len() < TOKENS * 1024,
        "only part of the stream arrived: {} bytes",
        text.len()
    );
}

#[tokio::test]
async fn after_a_drop_the_old_address_refuses_connections_at_once() {
    let server = server().await;
    let address = *server.address();
    let uri = chat_url(&server);
    // A keep-alive connection that has already been served, now idle.
    let mut idle = TcpStream::connect(address).await.unwrap();
    let body = chat_body("m", "x", false);
    idle.write_all(
        format!(
            "POST /v1/chat/completions HTTP/1.1\r\nhost: localhost\r\n\
             content-length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut first = [0; 12];
    within(
        ms(2_000),
        "the keep-alive answer",
        idle.read_exact(&mut first),
    )
    .await
    .unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    assert_still_serving(&server).await;

    let dropping = Instant::now();
    drop(server);
    assert_between("drop", dropping.elapsed(), ms(0), ms(1_000));

    let refused = within(
        ms(1_000),
        "connecting after the drop",
        TcpStream::connect(address),
    )
    .await
    .expect_err("nothing listens any more");
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    let error = within(
        ms(1_000),
        "a client request after the drop",
        reqwest::Client::new().post(uri).body(body).send(),
    )
    .await
    .expect_err("nothing answers any more");
    assert!(error.is_connect(), "{error:?}");
    // The idle connection learns of the drop too, instead of waiting forever.
    let rest = within(
        ms(1_000),
        "the idle connection's close",
        read_to_end(&mut idle),
    )
    .await;
    assert!(
        !rest.text().contains("HTTP/1.1"),
        "no second response: {:?}",
        rest.text()
    );
}

#[tokio::test]
async fn five_hundred_silent_connections_delay_neither_a_normal_request_nor_the_drop() {
    let server = server().await;
    let address = *server.address();

    let mut silent = Vec::new();
    within(ms(5_000), "opening 500 connections", async {
        for index in 0..500 {
            let mut socket = TcpStream::connect(address).await.unwrap();
            // Half never speak; half stop part way through their headers (slowloris).
            if index % 2 == 1 {
                socket
                    .write_all(b"POST /v1/chat/completions HTTP/1.1\r\nhost: localhost\r\n")
                    .await
                    .unwrap();
            }
            silent.push(socket);
        }
    })
    .await;

    let started = Instant::now();
    assert_still_serving(&server).await;
    assert_between(
        "a request beside 500 silent ones",
        started.elapsed(),
        ms(0),
        ms(1_000),
    );
    assert_eq!(
        server.received_requests().await.len(),
        1,
        "no silent connection makes a request"
    );

    let dropping = Instant::now();
    drop(server);
    assert_between("drop", dropping.elapsed(), ms(0), ms(1_000));
    // Every silent connection is closed by the drop, none left dangling.
    within(
        ms(3_000),
        "the silent connections' close",
        futures::future::join_all(silent.iter_mut().map(read_to_end)),
    )
    .await
    .iter()
    .for_each(|exchange| exchange.assert_closed_without_response("a silent connection"));
}

#[tokio::test]
async fn two_hundred_headers_get_a_431_and_the_server_keeps_serving() {
    let server = server().await;
    let headers: String = (0..200)
        .map(|index| format!("x-flood-{index}: {index}\r\n"))
        .collect();

    let exchange = exchange(
        *server.address(),
        &raw_chat_request(&headers),
        Then::KeepOpen,
    )
    .await;

    exchange.assert_status(431, "200 headers");
    assert!(server.received_requests().await.is_empty());
    assert_still_serving(&server).await;
}

#[tokio::test]
async fn a_100_kb_header_value_is_served_and_a_1_mb_one_gets_a_431() {
    let server = server().await;
    let value = "v".repeat(100 * 1024);

    let served = exchange(
        *server.address(),
        &raw_chat_request(&format!("x-big: {value}\r\n")),
        Then::KeepOpen,
    )
    .await;
    let refused = exchange(
        *server.address(),
        &raw_chat_request(&format!("x-big: {}\r\n", "v".repeat(1024 * 1024))),
        Then::KeepOpen,
    )
    .await;

    served.assert_status(200, "a 100 KB header value");
    refused.assert_status(431, "a 1 MB header value");
    let requests = server.received_requests().await;
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].header("x-big"), Some(value.as_str()));
    assert_still_serving(&server).await;
}
