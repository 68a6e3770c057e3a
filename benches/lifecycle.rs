//! Lifecycle cost: start a server, stream one short reply to a real client, drop the
//! server.
//!
//! Two comparisons, both measured in the same run:
//!
//! 1. Against a baseline: the same request to a server that is already running, so the
//!    ratio is what a fresh server per test costs.
//! 2. Against wiremock: `MockServer::start()` + mount a mock that answers with the very
//!    same SSE bytes + the same request + drop. The two are interleaved (and which one
//!    goes first alternates every round) so that drift in the machine's state hits both
//!    alike. wiremock's `MockServer::start()` takes a server from a process-wide pool
//!    and hands it back on drop, so after the first round its "start" is a reuse; for
//!    reference a non-pooled wiremock server (`MockServer::builder().start()`) is
//!    measured in the same rounds too.
//!
//! 3. Against the floor: the same request, from a fresh client on a fresh connection, to
//!    a bare tokio server (the raw baseline of the other benchmarks) that is already
//!    running and answers with the same bytes. No server, however it starts and stops,
//!    can serve a test's first request faster than that.
//!
//! Every round runs twice, with two clients: a fresh `reqwest::Client`, as a test would
//! have, and a lean hand-written HTTP/1.1 client on a raw `TcpStream` (connect, write the
//! request, read to the end of the stream), which spends as little as possible itself so
//! that the servers' share shows. The target (issue #17) is a chatmock round at or below
//! wiremock's pooled round.
//!
//! Run with `cargo bench --bench lifecycle`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use chatmock::{MockChatServer, Reply};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

#[path = "support/raw_http.rs"]
mod raw_http;

const ITERATIONS: usize = 300;
const BODY: &str = r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true}"#;

/// The client of a round: always fresh, so every round opens a new connection.
#[derive(Clone, Copy, PartialEq)]
enum Client {
    Reqwest,
    Lean,
}

/// Streams the reply from `address` with a fresh `client`.
async fn stream_from(client: Client, address: SocketAddr) -> usize {
    match client {
        Client::Reqwest => {
            let url = format!("http://{address}/v1/chat/completions");
            stream_with(&reqwest::Client::new(), url).await
        }
        Client::Lean => lean_stream(address).await,
    }
}

async fn stream_with(client: &reqwest::Client, url: String) -> usize {
    let body = client
        .post(url)
        .body(BODY)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(body.ends_with(b"data: [DONE]\n\n"));
    body.len()
}

/// One request on a new raw connection, read until the stream's last event (and, for a
/// chunked body, its last chunk).
async fn lean_stream(address: SocketAddr) -> usize {
    let mut socket = tokio::net::TcpStream::connect(address).await.unwrap();
    socket.set_nodelay(true).unwrap();
    let request = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: {address}\r\ncontent-type: \
         application/json\r\ncontent-length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::with_capacity(4096);
    let mut buffer = [0u8; 4096];
    loop {
        let read = socket.read(&mut buffer).await.unwrap();
        assert!(read > 0, "the server closed before the end of the stream");
        response.extend_from_slice(&buffer[..read]);
        let chunked = response
            .windows(26)
            .any(|w| w.eq_ignore_ascii_case(b"transfer-encoding: chunked"));
        let ended = if chunked {
            response.ends_with(b"data: [DONE]\n\n\r\n0\r\n\r\n")
        } else {
            response.ends_with(b"data: [DONE]\n\n")
        };
        if ended {
            return response.len();
        }
    }
}

/// Median and 95th percentile.
fn summary(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort_unstable();
    (
        samples[samples.len() / 2],
        samples[samples.len() * 95 / 100],
    )
}

fn reply() -> Reply {
    Reply::tokens(["Hello", ",", " world"])
}

/// The phases of one round: start (and mount), request, drop.
#[derive(Default)]
struct Phases {
    start: Vec<Duration>,
    request: Vec<Duration>,
    drop: Vec<Duration>,
    total: Vec<Duration>,
}

impl Phases {
    fn push(&mut self, started: Instant, ready: Instant, answered: Instant, dropped: Instant) {
        self.start.push(ready - started);
        self.request.push(answered - ready);
        self.drop.push(dropped - answered);
        self.total.push(dropped - started);
    }
}

/// chatmock: start + one stream to a fresh client + drop.
async fn chatmock_round(client: Client, phases: &mut Phases) {
    let started = Instant::now();
    let server = MockChatServer::builder().reply(reply()).start().await;
    let ready = Instant::now();
    // A fresh client per server, as a test would have: no pooled connection to reuse.
    stream_from(client, *server.address()).await;
    let answered = Instant::now();
    drop(server);
    phases.push(started, ready, answered, Instant::now());
}

/// wiremock: start (pooled or not) + mount a mock serving `sse` + one request + drop.
async fn wiremock_round(sse: &[u8], pooled: bool, client: Client, phases: &mut Phases) {
    let started = Instant::now();
    let server = if pooled {
        MockServer::start().await
    } else {
        MockServer::builder().start().await
    };
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(sse.to_vec(), "text/event-stream"))
        .mount(&server)
        .await;
    let ready = Instant::now();
    stream_from(client, *server.address()).await;
    let answered = Instant::now();
    drop(server);
    phases.push(started, ready, answered, Instant::now());
}

/// Starts the floor's bare server, which answers every request with `sse` as a complete
/// HTTP/1.1 response.
fn start_floor_server(sse: &[u8]) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let mut response = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: {}\r\n\r\n",
        sse.len()
    )
    .into_bytes();
    response.extend_from_slice(sse);
    let response: &'static [u8] = response.leak();
    raw_http::spawn_server(move |mut socket| async move {
        let mut buffered = Vec::new();
        while raw_http::read_request(&mut socket, &mut buffered)
            .await
            .is_some()
        {
            if socket.write_all(response).await.is_err() {
                return;
            }
        }
    })
}

/// The floor: one request from a fresh client to the running bare server.
async fn floor_round(address: SocketAddr, client: Client, samples: &mut Vec<Duration>) {
    let started = Instant::now();
    stream_from(client, address).await;
    samples.push(started.elapsed());
}

fn line(label: &str, samples: Vec<Duration>) -> Duration {
    let (median, p95) = summary(samples);
    println!("  {label:<46} median {median:>10.1?}   p95 {p95:>10.1?}");
    median
}

/// Prints the total and its phases; returns the total's median.
fn phases_line(label: &str, phases: Phases) -> Duration {
    let median = |samples: Vec<Duration>| summary(samples).0;
    let (start, request, drop) = (
        median(phases.start),
        median(phases.request),
        median(phases.drop),
    );
    let total = line(label, phases.total);
    println!(
        "  {:<46} (medians of the phases: start {start:.1?}, request {request:.1?}, drop {drop:.1?})",
        ""
    );
    total
}

/// Every variant's rounds with one kind of client.
#[derive(Default)]
struct Rounds {
    chatmock: Phases,
    wiremock_pooled: Phases,
    wiremock_fresh: Phases,
    floor: Vec<Duration>,
}

impl Rounds {
    /// One round of each, in the order `round` calls for.
    async fn run(&mut self, round: usize, client: Client, sse: &[u8], floor: SocketAddr) {
        if round % 2 == 0 {
            chatmock_round(client, &mut self.chatmock).await;
            wiremock_round(sse, true, client, &mut self.wiremock_pooled).await;
            wiremock_round(sse, false, client, &mut self.wiremock_fresh).await;
            floor_round(floor, client, &mut self.floor).await;
        } else {
            floor_round(floor, client, &mut self.floor).await;
            wiremock_round(sse, false, client, &mut self.wiremock_fresh).await;
            wiremock_round(sse, true, client, &mut self.wiremock_pooled).await;
            chatmock_round(client, &mut self.chatmock).await;
        }
    }

    fn report(self, client: &str) {
        println!("[start-up, {client}] start + one stream to a fresh client + drop, interleaved:");
        let chatmock = phases_line(
            "chatmock   MockChatServer::builder().start()",
            self.chatmock,
        );
        let pooled = phases_line(
            "wiremock   MockServer::start() (pooled)",
            self.wiremock_pooled,
        );
        let fresh = phases_line(
            "wiremock   MockServer::builder().start()",
            self.wiremock_fresh,
        );
        let floor = line("floor: bare server already running, same bytes", self.floor);
        let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
        let pooled_ratio = ratio(chatmock, pooled);
        println!(
            "  ratio chatmock / wiremock pooled (median):        {pooled_ratio:.2}  (target <= 1: {})",
            if pooled_ratio <= 1.0 { "met" } else { "NOT met" }
        );
        println!(
            "  ratio chatmock / wiremock non-pooled (median):    {:.2}",
            ratio(chatmock, fresh)
        );
        println!(
            "  ratio floor / wiremock pooled (median):           {:.2}  (no server can do better \
             with a fresh connection per test)",
            ratio(floor, pooled)
        );
        println!(
            "  chatmock's own share (median round - floor):     {:.1?}",
            chatmock.saturating_sub(floor)
        );
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    println!("lifecycle bench: {ITERATIONS} iterations of each variant and client, loopback");

    // Part 1: the existing baseline, a request to a server that is already running.
    let warm = MockChatServer::builder().reply(reply()).start().await;
    let client = reqwest::Client::new();
    // The exact bytes chatmock streams for this reply, served by wiremock below.
    let url = format!("{}/chat/completions", warm.openai_base_url());
    let sse = client
        .post(url.clone())
        .body(BODY)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec();
    let mut baseline = Vec::with_capacity(ITERATIONS);
    for _ in 0..ITERATIONS {
        let started = Instant::now();
        stream_with(&client, url.clone()).await;
        baseline.push(started.elapsed());
    }
    drop(warm);

    // Part 2: start + stream + drop, chatmock and wiremock interleaved, with the floor,
    // each with both clients. One untimed warm-up round each (wiremock's first pooled
    // start creates the pool).
    let (floor_address, _stop_floor) = start_floor_server(&sse);
    let mut reqwest_rounds = Rounds::default();
    let mut lean_rounds = Rounds::default();
    for client in [Client::Reqwest, Client::Lean] {
        Rounds::default().run(0, client, &sse, floor_address).await;
    }
    for round in 0..ITERATIONS {
        reqwest_rounds
            .run(round, Client::Reqwest, &sse, floor_address)
            .await;
        lean_rounds
            .run(round, Client::Lean, &sse, floor_address)
            .await;
    }

    println!(
        "SSE body: {} bytes (3 tokens), served by chatmock and, verbatim, by wiremock",
        sse.len()
    );
    println!("[baseline] one stream to an already running chatmock server:");
    line(
        "request only (warm server, pooled reqwest client)",
        baseline,
    );
    reqwest_rounds.report("fresh reqwest client");
    lean_rounds.report("lean raw-TCP client");
    println!(
        "note: wiremock's MockServer::start() reuses a pooled server after the first round, and \
         its drop returns at once, leaving the pooled server running and its port bound; a \
         non-pooled one is told to stop and left to finish. chatmock serves every server on a \
         fresh port, from a listener that a server thread waiting between servers bound \
         beforehand (never a dropped server's port); its drop closes the listener and shuts \
         every connection down before it returns, and leaves the rest to the server thread. \
         For wiremock, \"start\" includes mounting the mock."
    );
}
