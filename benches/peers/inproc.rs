//! The in-process peers (chatmock, wiremock, llmposter), each run in a child process of
//! its own so that its resident memory is its own and so that no two share a runtime.
//!
//! `serve`: start the server for a scenario, print `listening <address>`, serve until
//! standard input closes. `lifecycle`: per line read, one round of start + one stream
//! from the lean client + drop, printing the nanoseconds of each phase.
//!
//! The child's runtime is a current-thread one, as `#[tokio::test]` gives a test: chatmock
//! and wiremock serve from threads of their own anyway, llmposter serves on the caller's
//! runtime.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};

use crate::client::{self, Request};
use crate::scenario::{self, Scenario, JSON_BODY, STREAM_BODY};

/// A server of one in-process peer, kept alive by holding it.
enum Running {
    Chatmock(chatmock::MockChatServer),
    Wiremock(wiremock::MockServer),
    Llmposter(llmposter::MockServer),
}

impl Running {
    fn address(&self) -> SocketAddr {
        match self {
            Running::Chatmock(server) => *server.address(),
            Running::Wiremock(server) => *server.address(),
            Running::Llmposter(server) => SocketAddr::from(([127, 0, 0, 1], server.port())),
        }
    }
}

fn chatmock_reply(scenario: Scenario) -> chatmock::Reply {
    chatmock::Reply::tokens(scenario::tokens(scenario.tokens))
        .token_delay(Duration::from_millis(scenario.delay_ms))
}

async fn start_chatmock(scenario: Scenario) -> Running {
    let server = chatmock::MockChatServer::builder()
        .reply(chatmock_reply(scenario))
        .start()
        .await;
    Running::Chatmock(server)
}

async fn start_llmposter(scenario: Scenario) -> Running {
    let fixture = llmposter::Fixture::new()
        .respond_with_content(&scenario::tokens(scenario.tokens).concat())
        // One frame per token: the tokens are all TOKEN_LENGTH characters long.
        .with_streaming(Some(scenario.delay_ms), Some(scenario::TOKEN_LENGTH));
    let server = llmposter::ServerBuilder::new()
        .fixture(fixture)
        .build()
        .await
        .unwrap_or_else(|error| panic!("llmposter did not start: {error}"));
    Running::Llmposter(server)
}

/// The bytes chatmock answers for `scenario` (streamed, and as JSON), for wiremock to
/// answer verbatim: wiremock has no notion of a token, only of a fixed body.
pub async fn chatmock_bodies(scenario: Scenario) -> (Vec<u8>, Vec<u8>) {
    let Running::Chatmock(server) = start_chatmock(Scenario {
        delay_ms: 0,
        ..scenario
    })
    .await
    else {
        unreachable!()
    };
    let address = *server.address();
    let fetch = |body: &'static str| async move {
        let mut request = Request::post_json(address, "/v1/chat/completions", body);
        request.capture = true;
        client::exchange(address, &request).await.unwrap().body
    };
    (fetch(STREAM_BODY).await, fetch(JSON_BODY).await)
}

/// `MockServer::start()`, wiremock's pooled start, with two mocks: chatmock's stream for a
/// streaming request, chatmock's JSON for the rest (left out when there is no JSON body,
/// so that a lifecycle round mounts one mock, as a test of one stream would). A scenario with delays becomes one
/// delay before the whole stream: wiremock cannot pace a body.
async fn start_wiremock(scenario: Scenario, bodies: &(Vec<u8>, Vec<u8>)) -> Running {
    use wiremock::matchers::{body_string_contains, method};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
    let mut stream = ResponseTemplate::new(200).set_body_raw(bodies.0.clone(), "text/event-stream");
    if scenario.delay_ms > 0 {
        // Only then: a zero delay still waits for a tick of tokio's 1 ms timer.
        stream = stream.set_delay(Duration::from_millis(
            scenario.delay_ms * scenario.tokens as u64,
        ));
    }
    Mock::given(method("POST"))
        .and(body_string_contains(r#""stream":true"#))
        .respond_with(stream)
        .mount(&server)
        .await;
    if !bodies.1.is_empty() {
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(200).set_body_raw(bodies.1.clone(), "application/json"),
            )
            .mount(&server)
            .await;
    }
    Running::Wiremock(server)
}

async fn start(peer: &str, scenario: Scenario, bodies: Option<&(Vec<u8>, Vec<u8>)>) -> Running {
    match peer {
        "chatmock" => start_chatmock(scenario).await,
        "llmposter" => start_llmposter(scenario).await,
        "wiremock" => start_wiremock(scenario, bodies.expect("wiremock's bodies")).await,
        other => panic!("no in-process peer {other:?}"),
    }
}

/// `serve PEER SCENARIO`.
pub async fn serve(peer: &str, scenario: Scenario) {
    let bodies = if peer == "wiremock" {
        Some(chatmock_bodies(scenario).await)
    } else {
        None
    };
    let server = start(peer, scenario, bodies.as_ref()).await;
    println!("listening {}", server.address());
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(_)) = lines.next_line().await {}
    drop(server);
}

/// `lifecycle PEER`: one round per line on standard input.
pub async fn lifecycle(peer: &str) {
    let scenario = scenario::SHORT;
    let bodies = if peer == "wiremock" {
        Some((chatmock_bodies(scenario).await.0, Vec::new()))
    } else {
        None
    };
    println!("ready");
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(_)) = lines.next_line().await {
        let started = Instant::now();
        let server = start(peer, scenario, bodies.as_ref()).await;
        let ready = Instant::now();
        let address = server.address();
        let request = Request::post_json(address, "/v1/chat/completions", STREAM_BODY);
        let exchange = client::exchange(address, &request).await.unwrap();
        let answered = Instant::now();
        assert_eq!(exchange.status, 200);
        assert_eq!(
            exchange.token_arrivals.len(),
            scenario.tokens,
            "{peer}: every token"
        );
        drop(server);
        let dropped = Instant::now();
        println!(
            "{} {} {}",
            (ready - started).as_nanos(),
            (answered - ready).as_nanos(),
            (dropped - answered).as_nanos()
        );
    }
}
