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
//!    can serve a test's first request faster than that; so a round that must cost at
//!    most half of wiremock's is only reachable if the floor is below that half.
//!
//! Run with `cargo bench --bench lifecycle`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use chatmock::{MockChatServer, Reply};
use tokio::io::AsyncWriteExt;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

#[path = "support/raw_http.rs"]
mod raw_http;

const ITERATIONS: usize = 300;
const BODY: &str = r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true}"#;

async fn stream_from(client: &reqwest::Client, url: String) -> usize {
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

async fn stream_once(client: &reqwest::Client, server: &MockChatServer) -> usize {
    let url = format!("{}/chat/completions", server.openai_base_url());
    stream_from(client, url).await
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
async fn chatmock_round(phases: &mut Phases) {
    let started = Instant::now();
    let server = MockChatServer::builder().reply(reply()).start().await;
    let ready = Instant::now();
    // A fresh client per server, as a test would have: no pooled connection to reuse.
    stream_once(&reqwest::Client::new(), &server).await;
    let answered = Instant::now();
    drop(server);
    phases.push(started, ready, answered, Instant::now());
}

/// wiremock: start (pooled or not) + mount a mock serving `sse` + one request + drop.
async fn wiremock_round(sse: &[u8], pooled: bool, phases: &mut Phases) {
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
    let url = format!("{}/v1/chat/completions", server.uri());
    stream_from(&reqwest::Client::new(), url).await;
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
async fn floor_round(address: SocketAddr, samples: &mut Vec<Duration>) {
    let started = Instant::now();
    stream_from(
        &reqwest::Client::new(),
        format!("http://{address}/v1/chat/completions"),
    )
    .await;
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

#[tokio::main(flavor = "current_thread")]
async fn main() {
    println!("lifecycle bench: {ITERATIONS} iterations of each variant, loopback, reqwest client");

    // Part 1: the existing baseline, a request to a server that is already running.
    let warm = MockChatServer::builder().reply(reply()).start().await;
    let client = reqwest::Client::new();
    // The exact bytes chatmock streams for this reply, served by wiremock below.
    let url = format!("{}/chat/completions", warm.openai_base_url());
    let sse = client
        .post(url)
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
        stream_once(&client, &warm).await;
        baseline.push(started.elapsed());
    }
    drop(warm);

    // Part 2: start + stream + drop, chatmock and wiremock interleaved, with the floor.
    // One untimed warm-up round each (wiremock's first pooled start creates the pool).
    let (floor_address, _stop_floor) = start_floor_server(&sse);
    chatmock_round(&mut Phases::default()).await;
    wiremock_round(&sse, true, &mut Phases::default()).await;
    wiremock_round(&sse, false, &mut Phases::default()).await;
    floor_round(floor_address, &mut Vec::new()).await;
    let mut chatmock = Phases::default();
    let mut wiremock_pooled = Phases::default();
    let mut wiremock_fresh = Phases::default();
    let mut floor = Vec::with_capacity(ITERATIONS);
    for round in 0..ITERATIONS {
        if round % 2 == 0 {
            chatmock_round(&mut chatmock).await;
            wiremock_round(&sse, true, &mut wiremock_pooled).await;
            wiremock_round(&sse, false, &mut wiremock_fresh).await;
            floor_round(floor_address, &mut floor).await;
        } else {
            floor_round(floor_address, &mut floor).await;
            wiremock_round(&sse, false, &mut wiremock_fresh).await;
            wiremock_round(&sse, true, &mut wiremock_pooled).await;
            chatmock_round(&mut chatmock).await;
        }
    }

    println!(
        "SSE body: {} bytes (3 tokens), served by chatmock and, verbatim, by wiremock",
        sse.len()
    );
    println!("[baseline] one stream to an already running chatmock server:");
    let baseline_median = line("request only (warm server, pooled client)", baseline);
    println!("[start-up] start + one stream to a fresh client + drop, interleaved:");
    let chatmock_median = phases_line("chatmock   MockChatServer::builder().start()", chatmock);
    let pooled_median = phases_line("wiremock   MockServer::start() (pooled)", wiremock_pooled);
    let fresh_median = phases_line("wiremock   MockServer::builder().start()", wiremock_fresh);
    println!("[floor] one request from a fresh client to a bare server already running:");
    let floor_median = line("bare tokio server, same bytes (no start, no drop)", floor);
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    println!(
        "ratio chatmock / baseline (median):                 {:.2}x",
        ratio(chatmock_median, baseline_median)
    );
    let pooled_ratio = ratio(chatmock_median, pooled_median);
    println!(
        "ratio chatmock / wiremock pooled (median):          {pooled_ratio:.2}  (target <= 0.5: {})",
        if pooled_ratio <= 0.5 { "met" } else { "NOT met" }
    );
    println!(
        "ratio chatmock / wiremock non-pooled (median):      {:.2}",
        ratio(chatmock_median, fresh_median)
    );
    println!(
        "ratio floor / wiremock pooled (median):             {:.2}  (the best any server \
         could do with a fresh connection per test; the target is reachable only below 0.5)",
        ratio(floor_median, pooled_median)
    );
    println!(
        "chatmock's own share (median round - floor):       {:.1?}",
        chatmock_median.saturating_sub(floor_median)
    );
    println!(
        "note: wiremock's MockServer::start() reuses a pooled server after the first round, and \
         its drop returns at once (the pooled server lives on; a non-pooled one is told to \
         stop and left to finish); chatmock starts a new server (runtime + socket, on a \
         server thread that waits between servers) every time and its drop waits until \
         that runtime is gone and every socket closed. For wiremock, \"start\" includes \
         mounting the mock."
    );
}
