//! Timing fidelity under load: 1,000 concurrent streams of 20 tokens, 10 ms apart (and,
//! for reference, 100).
//!
//! Every stream has its own client, whose connection is opened by an untimed warm-up
//! request; then all 1,000 tasks (on a multi-thread tokio runtime with 2 workers) pass a
//! barrier and send their streaming request at once, so every stream's tokens fall due at
//! about the same instants: the hardest case for a server that plays them all on one
//! thread. The clients are reqwest, as a test would use, and again a lean hand-written
//! HTTP/1.1 client: client and server share the machine's two cores, and the lean client
//! shows how much of the error is the client's own CPU.
//!
//! Client side: each SSE event is time-stamped when its closing blank line arrives. For
//! token i (0-based) the error is its arrival relative to that stream's first token,
//! minus the scripted `i * 10 ms`; a stream's duration is its last token's arrival minus
//! its first token's, against the scripted 190 ms. Since client and server share one
//! process (and so one monotonic clock), each arrival is also compared with the server's
//! own record of when it handed that stream's first bytes to the socket: that lateness
//! includes delivery to the client, and a client slow to read its first token cannot hide
//! it.
//!
//! Server side: chatmock logs, per request, when the first bytes were handed to the
//! socket (`first_event_at`) and when the stream ended (`ended_at`): their difference is
//! the server's view of the same 190 ms.
//!
//! Baselines, in the same run: a bare tokio server (its own thread,
//! current-thread runtime, as chatmock) with a hand-written HTTP/1.1 chunked response
//! that writes chatmock's exact events, pre-encoded, at the same times with
//! `tokio::time::sleep_until`. It shows what the same load costs with no mock machinery:
//! the part of the error that is the machine's (two cores shared by 1,000 clients and a
//! server, 100,000 writes and reads a second, tokio's 1 ms timer) and not chatmock's. A
//! second baseline is hyper's HTTP/1.1 server with a body that yields the same events at
//! the same times: what hyper, which chatmock is built on, costs by itself. The three
//! servers' rounds rotate, and they are compared by the median of each round's own p99
//! (`TIMING_ROUNDS=N` sets the rounds).
//!
//! Jitter's cost, in the same run: at the end, rounds of 1,000 streams alternate between
//! the fixed 10 ms gaps and the same gaps with `Jitter::normal(2 ms)` drawn from a fresh
//! seed per request (the costlier path: each request draws a seed and plays its own copy
//! of the reply), and the server's CPU per token of each is compared.
//!
//! Run with `cargo bench --bench timing`; `cargo bench --bench timing -- jitter` runs only
//! the jitter comparison.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use std::convert::Infallible;

use chatmock::{Jitter, MockChatServer, Reply, StreamOutcome};
use futures::StreamExt;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Bytes, Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[path = "support/raw_http.rs"]
mod raw_http;
use tokio::sync::Barrier;

const TOKENS: usize = 20;
const TOKEN_DELAY: Duration = Duration::from_millis(10);
/// Rounds per server and start mode, unless `TIMING_ROUNDS` says otherwise; the servers'
/// rounds rotate.
const ROUNDS: usize = 6;

fn rounds() -> usize {
    std::env::var("TIMING_ROUNDS")
        .ok()
        .and_then(|rounds| rounds.parse().ok())
        .unwrap_or(ROUNDS)
}
/// The window over which the staggered start spreads the streams.
const STAGGER: Duration = Duration::from_millis(50);

/// A request body that names its stream, to match the client's and the server's records.
fn body(label: &str) -> String {
    format!(r#"{{"model":"m","messages":[{{"role":"user","content":"{label}"}}],"stream":true}}"#)
}

fn timed_reply() -> Reply {
    Reply::tokens((0..TOKENS).map(|i| format!(" t{i}"))).token_delay(TOKEN_DELAY)
}

/// Reads one stream, returning the arrival time of every SSE event.
async fn read_events(client: &reqwest::Client, url: &str, label: &str) -> Vec<Instant> {
    let response = client.post(url).body(body(label)).send().await.unwrap();
    assert!(response.status().is_success());
    let mut stream = response.bytes_stream();
    let mut arrivals = Vec::with_capacity(TOKENS + 3);
    let mut event_ends = EventEnds::default();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        let now = Instant::now();
        for _ in 0..event_ends.count(&chunk) {
            arrivals.push(now);
        }
    }
    arrivals
}

/// Counts the blank lines that end SSE events, in a body fed piece by piece.
#[derive(Default)]
struct EventEnds {
    newline_pending: bool,
}

impl EventEnds {
    /// How many events `bytes` completed.
    fn count(&mut self, bytes: &[u8]) -> usize {
        let mut events = 0;
        for &byte in bytes {
            if byte == b'\n' {
                if self.newline_pending {
                    events += 1;
                }
                self.newline_pending = !self.newline_pending;
            } else {
                self.newline_pending = false;
            }
        }
        events
    }
}

/// Reads one stream over `socket` with a bare HTTP/1.1 client (a request written by hand,
/// the chunked body decoded by hand), returning the arrival time of every SSE event. It
/// costs the client a read per arrival and little else, so that on two shared cores the
/// client takes as little CPU from the server as a real client can.
async fn read_events_lean(socket: &mut TcpStream, label: &str) -> Vec<Instant> {
    let body = body(label);
    let request = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: localhost\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut decoder = ChunkedEvents::default();
    let mut arrivals = Vec::with_capacity(TOKENS + 3);
    let mut buffer = vec![0u8; 16 * 1024];
    while !decoder.done {
        let read = socket.read(&mut buffer).await.unwrap();
        assert!(read > 0, "the server closed the connection mid-response");
        let now = Instant::now();
        for _ in 0..decoder.feed(&buffer[..read]) {
            arrivals.push(now);
        }
    }
    arrivals
}

/// Counts the SSE events (blank lines) in a chunked HTTP/1.1 response, fed as it arrives.
#[derive(Default)]
struct ChunkedEvents {
    head_seen: bool,
    /// The head, then the current chunk-size line, as far as it has arrived.
    line: Vec<u8>,
    /// Data bytes left in the current chunk, then its CRLF.
    chunk_left: usize,
    crlf_left: usize,
    event_ends: EventEnds,
    done: bool,
}

impl ChunkedEvents {
    /// Feeds `bytes`; returns how many events they completed.
    fn feed(&mut self, mut bytes: &[u8]) -> usize {
        let mut events = 0;
        while let Some((&byte, rest)) = bytes.split_first() {
            if !self.head_seen {
                self.line.push(byte);
                bytes = rest;
                if self.line.ends_with(b"\r\n\r\n") {
                    assert!(self.line.starts_with(b"HTTP/1.1 200"), "status 200");
                    self.head_seen = true;
                    self.line.clear();
                }
            } else if self.chunk_left > 0 {
                let take = self.chunk_left.min(bytes.len());
                events += self.event_ends.count(&bytes[..take]);
                self.chunk_left -= take;
                bytes = &bytes[take..];
            } else if self.crlf_left > 0 {
                self.crlf_left -= 1;
                bytes = rest;
            } else {
                self.line.push(byte);
                bytes = rest;
                if self.line.ends_with(b"\r\n") {
                    let size = std::str::from_utf8(&self.line[..self.line.len() - 2]).unwrap();
                    let size = usize::from_str_radix(size, 16).unwrap();
                    self.line.clear();
                    if size == 0 {
                        // The last chunk; no trailers are sent, so its CRLF ends it.
                        self.done = true;
                        return events;
                    }
                    self.chunk_left = size;
                    self.crlf_left = 2;
                }
            }
        }
        events
    }
}

/// Which client reads the streams.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ClientKind {
    /// reqwest, one client per stream: what a test would use.
    Reqwest,
    /// The bare client of [`read_events_lean`]: the least CPU a client can take.
    Lean,
}

/// How many streams, and how they start once every connection is open.
#[derive(Clone, Copy)]
struct Load {
    streams: usize,
    /// `None`: all at once, so every stream's tokens fall due at about the same
    /// instants. `Some(window)`: evenly over the window (at tokio's 1 ms timer
    /// resolution), a steady load.
    stagger: Option<Duration>,
    client: ClientKind,
}

/// One client: opens its connection with a warm-up request, waits for every other
/// client, then reads the timed stream.
async fn client_task(
    url: String,
    stream: usize,
    ready: Arc<Barrier>,
    base: Arc<OnceLock<tokio::time::Instant>>,
    load: Load,
) -> Vec<Instant> {
    let wait_for_start = || async {
        ready.wait().await;
        if let Some(window) = load.stagger {
            let base = *base.get_or_init(tokio::time::Instant::now);
            tokio::time::sleep_until(base + window * stream as u32 / load.streams as u32).await;
        }
    };
    match load.client {
        ClientKind::Reqwest => {
            let client = reqwest::Client::new();
            read_events(&client, &url, &format!("warm-up {stream}")).await;
            wait_for_start().await;
            read_events(&client, &url, &stream.to_string()).await
        }
        ClientKind::Lean => {
            let address = url.trim_start_matches("http://").split('/').next().unwrap();
            let mut socket = TcpStream::connect(address).await.unwrap();
            socket.set_nodelay(true).unwrap();
            read_events_lean(&mut socket, &format!("warm-up {stream}")).await;
            wait_for_start().await;
            read_events_lean(&mut socket, &stream.to_string()).await
        }
    }
}

// ---------------------------------------------------------------------------------------
// The baseline server.
// ---------------------------------------------------------------------------------------

/// When a baseline server wrote each stream's first and last bytes, by stream number.
type RawLog = Arc<Mutex<HashMap<usize, (Instant, Instant)>>>;

/// The two baselines: the same events at the same times, with no mock machinery.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Baseline {
    /// A hand-written HTTP/1.1 server on bare tokio: the floor of any server.
    Tokio,
    /// hyper's HTTP/1.1 server with a body that yields each due event: what hyper, which
    /// chatmock is built on, costs by itself.
    Hyper,
}

/// Serves `events` (chatmock's, one SSE event each) on its own thread until dropped.
struct RawServer {
    address: SocketAddr,
    log: RawLog,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl RawServer {
    fn start(baseline: Baseline, events: Arc<Vec<Vec<u8>>>) -> RawServer {
        let log = RawLog::default();
        let server_log = Arc::clone(&log);
        let (address, stop) = raw_http::spawn_server(move |socket| {
            let (events, log) = (Arc::clone(&events), Arc::clone(&server_log));
            async move {
                match baseline {
                    Baseline::Tokio => serve_raw(socket, events, log).await,
                    Baseline::Hyper => serve_hyper(socket, events, log).await,
                }
            }
        });
        RawServer {
            address,
            log,
            _stop: stop,
        }
    }
}

/// The stream a request's body names, if it is a timed one (not a warm-up).
fn stream_named(body: &[u8]) -> Option<usize> {
    let body: serde_json::Value = serde_json::from_slice(body).unwrap();
    body["messages"][0]["content"]
        .as_str()
        .and_then(|label| label.parse().ok())
}

/// The hyper baseline: each event is a frame of the body, yielded when due.
async fn serve_hyper(socket: TcpStream, events: Arc<Vec<Vec<u8>>>, log: RawLog) {
    let service = service_fn(move |request: hyper::Request<Incoming>| {
        let (events, log) = (Arc::clone(&events), Arc::clone(&log));
        async move {
            let body = request.into_body().collect().await?.to_bytes();
            let stream = stream_named(&body);
            let frames = async_stream::stream! {
                let start = tokio::time::Instant::now();
                // Role chunk and first token at once, then as the bare tokio server.
                let first = [events[0].as_slice(), &events[1]].concat();
                yield Ok::<_, Infallible>(Frame::data(Bytes::from(first)));
                let first_write = Instant::now();
                for i in 1..TOKENS {
                    if stream.is_some() {
                        tokio::time::sleep_until(start + TOKEN_DELAY * i as u32).await;
                    }
                    let data = if i + 1 == TOKENS {
                        events[i + 1..].concat()
                    } else {
                        events[i + 1].clone()
                    };
                    yield Ok(Frame::data(Bytes::from(data)));
                }
                if let Some(stream) = stream {
                    log.lock().unwrap().insert(stream, (first_write, Instant::now()));
                }
            };
            let mut response = hyper::Response::new(StreamBody::new(frames));
            response.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("text/event-stream"),
            );
            Ok::<_, hyper::Error>(response)
        }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(socket), service)
        .await;
}

/// One HTTP/1.1 chunk holding `data`.
fn chunk(data: &[u8]) -> Vec<u8> {
    let mut frame = format!("{:x}\r\n", data.len()).into_bytes();
    frame.extend_from_slice(data);
    frame.extend_from_slice(b"\r\n");
    frame
}

async fn serve_raw(mut socket: TcpStream, events: Arc<Vec<Vec<u8>>>, log: RawLog) {
    let mut request = Vec::with_capacity(4096);
    loop {
        let Some(body) = raw_http::read_request(&mut socket, &mut request).await else {
            return;
        };
        let stream = stream_named(&body);

        let start = tokio::time::Instant::now();
        let mut out = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
                        transfer-encoding: chunked\r\n\r\n"
            .to_vec();
        // Role chunk and first token at once, then a token every TOKEN_DELAY, the last
        // one with the finish chunk and [DONE]: what chatmock writes.
        out.extend(chunk(&[events[0].as_slice(), &events[1]].concat()));
        if socket.write_all(&out).await.is_err() {
            return;
        }
        let first_write = Instant::now();
        for i in 1..TOKENS {
            if stream.is_some() {
                tokio::time::sleep_until(start + TOKEN_DELAY * i as u32).await;
            }
            let mut out = if i + 1 == TOKENS {
                let mut last = chunk(&events[i + 1..].concat());
                last.extend_from_slice(b"0\r\n\r\n");
                last
            } else {
                chunk(&events[i + 1])
            };
            if socket.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
        }
        if let Some(stream) = stream {
            let ended = Instant::now();
            log.lock().unwrap().insert(stream, (first_write, ended));
        }
    }
}

// ---------------------------------------------------------------------------------------
// Measuring.
// ---------------------------------------------------------------------------------------

/// Signed difference in milliseconds, `a - b`.
fn millis_between(a: Instant, b: Instant) -> f64 {
    if a >= b {
        (a - b).as_secs_f64() * 1000.0
    } else {
        -((b - a).as_secs_f64() * 1000.0)
    }
}

fn scripted_ms(tokens: usize) -> f64 {
    TOKEN_DELAY.as_secs_f64() * 1000.0 * tokens as f64
}

fn percentile(sorted: &[f64], fraction: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[index]
}

/// Prints p50/p99/max (and min, n) of `values`; returns p99.
fn report(label: &str, values: &[f64]) -> f64 {
    let mut values = values.to_vec();
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let p50 = percentile(&values, 0.5);
    let p99 = percentile(&values, 0.99);
    let max = values[values.len() - 1];
    println!(
        "  {label:<62} p50 {p50:>7.3}   p99 {p99:>7.3}   max {max:>7.3}   (min {:>7.3}, n={})",
        values[0],
        values.len()
    );
    p99
}

#[derive(Default)]
struct Samples {
    token_errors: Vec<f64>,
    duration_errors: Vec<f64>,
    lateness: Vec<f64>,
    server_duration_errors: Vec<f64>,
    server_start_lag: Vec<f64>,
    start_spreads: Vec<f64>,
    /// CPU time of the server's thread per round, in ms.
    server_cpu: Vec<f64>,
    /// Each round's own p99 per-token error, in ms. Their median is what the servers are
    /// compared by: the p99 of all rounds pooled follows the worst rounds (in one run of
    /// ten, the bare tokio server's two worst, 16.1 and 19.2 ms, took its pooled p99 to
    /// 12.1 ms against a median of 6.6 ms).
    round_p99s: Vec<f64>,
}

/// The median of `sorted`: its middle value, or the mean of its two middle values.
fn median(sorted: &[f64]) -> f64 {
    let middle = sorted.len() / 2;
    if sorted.len() % 2 == 0 {
        (sorted[middle - 1] + sorted[middle]) / 2.0
    } else {
        sorted[middle]
    }
}

/// CPU time so far, in ms, of every thread of this process, by thread id, with its name.
fn threads_cpu_ms() -> HashMap<String, (String, f64)> {
    let mut threads = HashMap::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let path = task.unwrap().path();
        let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        let Ok(schedstat) = std::fs::read_to_string(path.join("schedstat")) else {
            continue; // the thread has just ended
        };
        let nanos: f64 = schedstat
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let tid = path.file_name().unwrap().to_string_lossy().into_owned();
        threads.insert(tid, (comm.trim().to_owned(), nanos / 1e6));
    }
    threads
}

/// CPU time, in ms, that this process's thread named `name` used since `before` (a
/// [`threads_cpu_ms`] snapshot). chatmock's server threads serve one server after another,
/// so a thread's total may include earlier servers' time.
/// The CPU time threads named `name` used since `before`. Server threads wait for the
/// next server under one name; those that only waited add nothing.
fn thread_cpu_ms_since(name: &str, before: &HashMap<String, (String, f64)>) -> f64 {
    let mut total = None;
    for (tid, (comm, now)) in threads_cpu_ms() {
        if comm == name {
            let earlier = before.get(&tid).map_or(0.0, |(_, cpu)| *cpu);
            *total.get_or_insert(0.0) += now - earlier;
        }
    }
    total.unwrap_or_else(|| panic!("no thread named {name}"))
}

/// Runs the clients against `url`; returns every stream's event arrivals.
async fn run_clients(runtime: &tokio::runtime::Handle, url: &str, load: Load) -> Vec<Vec<Instant>> {
    let ready = Arc::new(Barrier::new(load.streams));
    let base = Arc::new(OnceLock::new());
    let tasks: Vec<_> = (0..load.streams)
        .map(|stream| {
            let task = client_task(
                url.to_owned(),
                stream,
                Arc::clone(&ready),
                Arc::clone(&base),
                load,
            );
            runtime.spawn(task)
        })
        .collect();
    let mut streams = Vec::with_capacity(load.streams);
    for task in tasks {
        streams.push(task.await.unwrap());
    }
    streams
}

/// Client-side figures; `first_writes[stream]` is when the server wrote its first bytes.
fn client_figures(streams: &[Vec<Instant>], first_writes: &[Instant], samples: &mut Samples) {
    let errors_before = samples.token_errors.len();
    for (arrivals, &first_write) in streams.iter().zip(first_writes) {
        // Events: role chunk, TOKENS token chunks, finish chunk, [DONE].
        assert_eq!(arrivals.len(), TOKENS + 3, "every event arrived");
        let tokens = &arrivals[1..=TOKENS];
        let first = tokens[0];
        for (i, &arrival) in tokens.iter().enumerate() {
            if i > 0 {
                samples
                    .token_errors
                    .push(millis_between(arrival, first) - scripted_ms(i));
            }
            samples
                .lateness
                .push(millis_between(arrival, first_write) - scripted_ms(i));
        }
        samples
            .duration_errors
            .push(millis_between(tokens[TOKENS - 1], first) - scripted_ms(TOKENS - 1));
    }
    let mut round_errors = samples.token_errors[errors_before..].to_vec();
    round_errors.sort_by(f64::total_cmp);
    samples.round_p99s.push(percentile(&round_errors, 0.99));
    let firsts = streams.iter().map(|arrivals| arrivals[1]);
    let (earliest, latest) = (firsts.clone().min().unwrap(), firsts.max().unwrap());
    samples.start_spreads.push(millis_between(latest, earliest));
}

/// One round on a fresh chatmock server.
async fn chatmock_round(runtime: &tokio::runtime::Handle, load: Load, samples: &mut Samples) {
    chatmock_round_playing(runtime, load, samples, timed_reply()).await;
}

/// One round on a fresh chatmock server whose timed streams play `timed`.
async fn chatmock_round_playing(
    runtime: &tokio::runtime::Handle,
    load: Load,
    samples: &mut Samples,
    timed: Reply,
) {
    let replies = std::iter::repeat_n(Reply::tokens(["w"]), load.streams).chain([timed]);
    let cpu_before = threads_cpu_ms();
    let server = MockChatServer::builder()
        .reply_sequence(replies)
        .wait_timeout(Duration::from_secs(60))
        .start()
        .await;
    let url = format!("{}/chat/completions", server.openai_base_url());
    let streams = run_clients(runtime, &url, load).await;

    let requests = server.wait_for_streams_to_end().await.unwrap();
    samples
        .server_cpu
        .push(thread_cpu_ms_since("chatmock-server", &cpu_before));
    let mut first_writes = vec![None; load.streams];
    for request in &requests {
        let json = request.body_value();
        let Some(stream) = json["messages"][0]["content"]
            .as_str()
            .and_then(|label| label.parse::<usize>().ok())
        else {
            continue; // a warm-up request
        };
        assert_eq!(
            request.stream_outcome(),
            &StreamOutcome::Completed {
                content_events: TOKENS
            }
        );
        let first = request.first_event_at().unwrap().into_std();
        let ended = request.ended_at().unwrap().into_std();
        samples
            .server_duration_errors
            .push(millis_between(ended, first) - scripted_ms(TOKENS - 1));
        samples
            .server_start_lag
            .push(millis_between(first, request.received_at().into_std()));
        first_writes[stream] = Some(first);
    }
    drop(server);
    let first_writes: Vec<Instant> = first_writes.into_iter().map(Option::unwrap).collect();
    client_figures(&streams, &first_writes, samples);
}

/// One round on a fresh baseline server.
async fn raw_round(
    runtime: &tokio::runtime::Handle,
    baseline: Baseline,
    events: &Arc<Vec<Vec<u8>>>,
    load: Load,
    samples: &mut Samples,
) {
    let cpu_before = threads_cpu_ms();
    let server = RawServer::start(baseline, Arc::clone(events));
    let url = format!("http://{}/v1/chat/completions", server.address);
    let streams = run_clients(runtime, &url, load).await;
    let thread = format!("baseline-{}", server.address.port());
    samples
        .server_cpu
        .push(thread_cpu_ms_since(&thread, &cpu_before));
    // A client can read its last event before the server thread has logged that stream.
    let waiting = Instant::now();
    while server.log.lock().unwrap().len() < load.streams {
        assert!(
            waiting.elapsed() < Duration::from_secs(10),
            "the baseline logged every stream"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let log = std::mem::take(&mut *server.log.lock().unwrap());
    drop(server);
    let mut first_writes = Vec::with_capacity(load.streams);
    for stream in 0..load.streams {
        let (first, ended) = log[&stream];
        samples
            .server_duration_errors
            .push(millis_between(ended, first) - scripted_ms(TOKENS - 1));
        first_writes.push(first);
    }
    client_figures(&streams, &first_writes, samples);
}

/// chatmock's exact events for the timed reply, one SSE event each.
async fn capture_events() -> Vec<Vec<u8>> {
    let server = MockChatServer::builder()
        .reply(Reply::tokens((0..TOKENS).map(|i| format!(" t{i}"))))
        .start()
        .await;
    let url = format!("{}/chat/completions", server.openai_base_url());
    let bytes = reqwest::Client::new()
        .post(url)
        .body(body("capture"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let events: Vec<Vec<u8>> = bytes
        .split_inclusive(|&byte| byte == b'\n')
        .fold(vec![Vec::new()], |mut events, line| {
            events.last_mut().unwrap().extend_from_slice(line);
            if line == b"\n" {
                events.push(Vec::new());
            }
            events
        })
        .into_iter()
        .filter(|event| !event.is_empty())
        .collect();
    assert_eq!(events.len(), TOKENS + 3);
    events
}

fn print_samples(samples: &Samples, load: Load, server_label: &str) -> f64 {
    println!(
        "  first tokens of the {} streams arrived within (ms, per round): {}",
        load.streams,
        samples
            .start_spreads
            .iter()
            .map(|spread| format!("{spread:.1}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    report(
        "client: per-token error, relative to the stream's first token",
        &samples.token_errors,
    );
    let mut p99s = samples.round_p99s.clone();
    p99s.sort_by(f64::total_cmp);
    let p99 = median(&p99s);
    println!(
        "  client: each round's p99 per-token error (sorted): {}; median {p99:.3}",
        p99s.iter()
            .map(|p99| format!("{p99:.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    report(
        "client: stream duration error (first->last token vs 190 ms)",
        &samples.duration_errors,
    );
    report(
        "client: per-token lateness vs server's first write + script",
        &samples.lateness,
    );
    report(
        &format!("server ({server_label}): first->last write vs 190 ms"),
        &samples.server_duration_errors,
    );
    let cpu: f64 = samples.server_cpu.iter().sum::<f64>() / samples.server_cpu.len() as f64;
    let per_token_us = cpu * 1000.0 / (load.streams * TOKENS) as f64;
    // With every stream playing, a token falls due every TOKEN_DELAY / streams.
    let tokens_per_ms = load.streams as f64 / (TOKEN_DELAY.as_secs_f64() * 1000.0);
    println!(
        "  server thread CPU time per round: {cpu:.1} ms ({} requests, half of them timed \
         streams; {per_token_us:.1} us per token written, so {:.0} % of a core while all \
         {} streams play)",
        load.streams * 2,
        per_token_us * tokens_per_ms / 10.0,
        load.streams
    );
    if !samples.server_start_lag.is_empty() {
        report(
            "server (own log): request received -> first bytes written",
            &samples.server_start_lag,
        );
    }
    p99
}

fn main() {
    let clients = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let handle = clients.handle().clone();
    let loadavg = || {
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    println!(
        "timing bench: concurrent streams of {TOKENS} tokens, {TOKEN_DELAY:?} apart; \
         {} rounds per server and load, rotating, fresh server each; clients: \
         reqwest (one per stream) or a lean hand-written HTTP/1.1 client, connection opened \
         beforehand, on a 2-worker runtime; client and server share 2 cores",
        rounds()
    );
    println!("load average before: {}", loadavg());
    if std::env::args().any(|arg| arg == "jitter") {
        jitter_cost(&clients, &handle);
        return;
    }
    let events = Arc::new(clients.block_on(capture_events()));
    let started = Instant::now();
    let mut verdicts = Vec::new();
    let burst = |streams, client| Load {
        streams,
        stagger: None,
        client,
    };
    let staggered = |client| Load {
        streams: 1_000,
        stagger: Some(STAGGER),
        client,
    };
    let loads = [
        (
            "1,000 streams, burst: all start together; reqwest clients",
            burst(1_000, ClientKind::Reqwest),
        ),
        (
            "1,000 streams, staggered: they start evenly over 50 ms; reqwest clients",
            staggered(ClientKind::Reqwest),
        ),
        (
            "100 streams, burst (a lighter load, for reference); reqwest clients",
            burst(100, ClientKind::Reqwest),
        ),
        (
            "1,000 streams, burst: all start together; lean clients",
            burst(1_000, ClientKind::Lean),
        ),
        (
            "1,000 streams, staggered: they start evenly over 50 ms; lean clients",
            staggered(ClientKind::Lean),
        ),
    ];
    for (label, load) in loads {
        let mut chatmock = Samples::default();
        let mut raw = Samples::default();
        let mut hyper = Samples::default();
        for round in 0..rounds() {
            // The order rotates, so that each server goes first, second and third equally
            // often.
            for turn in 0..3 {
                match (round + turn) % 3 {
                    0 => clients.block_on(chatmock_round(&handle, load, &mut chatmock)),
                    1 => clients.block_on(raw_round(
                        &handle,
                        Baseline::Tokio,
                        &events,
                        load,
                        &mut raw,
                    )),
                    _ => clients.block_on(raw_round(
                        &handle,
                        Baseline::Hyper,
                        &events,
                        load,
                        &mut hyper,
                    )),
                }
            }
        }
        println!("== {label} (all figures in ms, observed - scripted)");
        println!("chatmock:");
        let p99 = print_samples(&chatmock, load, "own log");
        println!("baseline (bare tokio server, same bytes, same schedule):");
        let tokio_p99 = print_samples(&raw, load, "baseline's log");
        println!("baseline (bare hyper server, same events, same schedule):");
        let hyper_p99 = print_samples(&hyper, load, "baseline's log");
        verdicts.push((label, p99, tokio_p99, hyper_p99));
    }
    println!(
        "{:.1} s in all; load average after: {}",
        started.elapsed().as_secs_f64(),
        loadavg()
    );
    for (label, p99, tokio_p99, hyper_p99) in verdicts {
        println!(
            "{label}: median of the rounds' p99s: chatmock {p99:.3} ms, bare tokio {tokio_p99:.3} ms, bare hyper \
             {hyper_p99:.3} ms; chatmock / bare tokio {:.2}x (target <= 1.5: {}), chatmock / \
             bare hyper {:.2}x, bare hyper / bare tokio {:.2}x",
            p99 / tokio_p99,
            if p99 / tokio_p99 <= 1.5 { "met" } else { "NOT met" },
            p99 / hyper_p99,
            hyper_p99 / tokio_p99,
        );
    }
    jitter_cost(&clients, &handle);
}

/// The server's CPU per token with jitter against fixed gaps, rounds alternating.
fn jitter_cost(clients: &tokio::runtime::Runtime, handle: &tokio::runtime::Handle) {
    let load = Load {
        streams: 1_000,
        stagger: Some(STAGGER),
        client: ClientKind::Lean,
    };
    let jittered = || timed_reply().jitter(Jitter::normal(Duration::from_millis(2)));
    let mut fixed = Samples::default();
    let mut jitter = Samples::default();
    for round in 0..rounds() {
        if round % 2 == 0 {
            clients.block_on(chatmock_round(handle, load, &mut fixed));
            clients.block_on(chatmock_round_playing(
                handle,
                load,
                &mut jitter,
                jittered(),
            ));
        } else {
            clients.block_on(chatmock_round_playing(
                handle,
                load,
                &mut jitter,
                jittered(),
            ));
            clients.block_on(chatmock_round(handle, load, &mut fixed));
        }
    }
    let per_token = |samples: &Samples| -> Vec<f64> {
        let mut rounds: Vec<f64> = samples
            .server_cpu
            .iter()
            .map(|cpu| cpu * 1000.0 / (load.streams * TOKENS) as f64)
            .collect();
        rounds.sort_by(f64::total_cmp);
        rounds
    };
    let (fixed, jitter) = (per_token(&fixed), per_token(&jitter));
    let show = |rounds: &[f64]| {
        rounds
            .iter()
            .map(|us| format!("{us:.1}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "== jitter: server CPU per token written, 1,000 streams staggered over 50 ms, lean \
         clients, {} rounds each, alternating",
        rounds()
    );
    println!("  fixed 10 ms gaps (us, sorted): {}", show(&fixed));
    println!(
        "  Jitter::normal(2 ms), a fresh seed per request (us, sorted): {}",
        show(&jitter)
    );
    let ratio = median(&jitter) / median(&fixed);
    println!(
        "  median {:.1} us against {:.1} us: jitter costs {ratio:.2}x (target: within 1.2x, {})",
        median(&jitter),
        median(&fixed),
        if ratio <= 1.2 { "met" } else { "NOT met" }
    );
}
