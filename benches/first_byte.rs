//! Time to first byte of a chat answer, on a fresh connection per request: a
//! non-streaming JSON answer, then a streamed one (three zero-delay tokens as SSE).
//!
//! A test suite of agent-loop tests sends many short requests, each usually on a new
//! connection; what chatmock adds to each is what this bench measures. For the streamed
//! answer the bare hyper server sends chatmock's chunks, one body frame each.
//! `FIRST_BYTE_ONLY=json` or `FIRST_BYTE_ONLY=streamed` runs one of the two, for a
//! profile of one path.
//!
//! **Compared against, in the same run** (interleaved, the order rotating every round so
//! that each server goes first, second and third equally often and none gets two
//! requests in a row): a bare hyper server (hyper's HTTP/1.1 server, on its own
//! thread with a current-thread runtime, as chatmock's) that reads the request body and
//! answers with the exact bytes chatmock answered (body and headers, captured
//! beforehand). It does no routing, matching, recording or encoding, so the ratio is
//! what chatmock's machinery costs on top of hyper. A bare tokio server writing the same
//! response by hand is measured too, as the floor of any HTTP server, and wiremock's
//! pooled `MockServer` answering the same headers and body (whole, with a
//! `Content-Length`, for the stream too): the mock a Rust test would use instead, in the
//! same process as the test, as a test runs it.
//!
//! The client is a lean hand-written HTTP/1.1 client on a raw `TcpStream`: it connects,
//! writes the request, and takes the time to the first byte of the response and to its
//! last (by `Content-Length`), then closes. `ROUNDS` rounds (or `FIRST_BYTE_ROUNDS`);
//! medians and 99th percentiles.
//!
//! Run with `cargo bench --bench first_byte`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use chatmock::{MockChatServer, Reply};
use std::convert::Infallible;

use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Bytes, Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[path = "support/raw_http.rs"]
mod raw_http;

/// Timed rounds, unless `FIRST_BYTE_ROUNDS` says otherwise (a few hundred under
/// callgrind, whose instruction counts per request need no thousands).
const ROUNDS: usize = 2_000;
const JSON_BODY: &str = r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;
const STREAM_BODY: &str =
    r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true}"#;

/// The request, as a client sends it on a fresh connection.
fn request_bytes(address: SocketAddr, body: &str) -> Vec<u8> {
    format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: {address}\r\ncontent-type: \
         application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// One request on a fresh connection: (time to first byte, time to the last byte), and
/// the response's head and body.
async fn one_request(address: SocketAddr, request: &[u8]) -> (Duration, Duration, Vec<u8>) {
    let started = Instant::now();
    let mut socket = TcpStream::connect(address).await.unwrap();
    socket.set_nodelay(true).unwrap();
    socket.write_all(request).await.unwrap();
    let mut response = Vec::with_capacity(2048);
    let mut buffer = [0u8; 4096];
    let read = socket.read(&mut buffer).await.unwrap();
    let first_byte = started.elapsed();
    assert!(read > 0, "the server closed without answering");
    response.extend_from_slice(&buffer[..read]);
    loop {
        if let Some(total) = complete_length(&response) {
            if response.len() >= total {
                break;
            }
        }
        let read = socket.read(&mut buffer).await.unwrap();
        assert!(read > 0, "the response ended early");
        response.extend_from_slice(&buffer[..read]);
    }
    (first_byte, started.elapsed(), response)
}

/// The length of the whole response once its head is in and, for a chunked body, its
/// last chunk: head plus `Content-Length`, or all bytes read once the last chunk is in.
fn complete_length(response: &[u8]) -> Option<usize> {
    let head_end = response.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&response[..head_end]).to_ascii_lowercase();
    match head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
    {
        Some(length) => Some(head_end + length.trim().parse::<usize>().unwrap()),
        None => {
            assert!(
                head.contains("transfer-encoding: chunked"),
                "a response carries Content-Length or a chunked body"
            );
            response[head_end..]
                .ends_with(b"\r\n0\r\n\r\n")
                .then_some(response.len())
        }
    }
}

/// The payloads of a chunked body, in order.
fn chunks(mut body: &[u8]) -> Vec<Bytes> {
    let mut payloads = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&body[..line_end]).unwrap(), 16).unwrap();
        if size == 0 {
            return payloads;
        }
        let start = line_end + 2;
        payloads.push(Bytes::copy_from_slice(&body[start..start + size]));
        body = &body[start + size + 2..];
    }
}

/// The headers and body of a response, for the baselines to answer verbatim.
fn split_response(response: &[u8]) -> (Vec<(String, String)>, Vec<u8>) {
    let head_end = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&response[..head_end]);
    let headers = head
        .lines()
        .skip(1)
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        // hyper writes these itself.
        .filter(|(name, _)| !name.eq_ignore_ascii_case("content-length"))
        .filter(|(name, _)| !name.eq_ignore_ascii_case("transfer-encoding"))
        .filter(|(name, _)| !name.eq_ignore_ascii_case("date"))
        .collect();
    (headers, response[head_end..].to_vec())
}

/// A bare hyper server on its own thread and current-thread runtime that reads each
/// request's body and answers with `headers` and `body`: whole, or, when `chunked`, as
/// the same chunks chatmock wrote, one frame each, all ready at once.
fn start_bare_hyper(
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    chunked: bool,
) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let headers: &'static [(String, String)] = headers.leak();
    let frames: &'static [Bytes] = if chunked {
        chunks(&body).leak()
    } else {
        vec![Bytes::from(body)].leak()
    };
    raw_http::spawn_server(move |socket| async move {
        let service = service_fn(move |request: hyper::Request<Incoming>| async move {
            let _ = request.into_body().collect().await?;
            let body: BoxBody<Bytes, Infallible> = if chunked {
                StreamBody::new(futures::stream::iter(
                    frames.iter().cloned().map(|frame| Ok(Frame::data(frame))),
                ))
                .boxed()
            } else {
                Full::new(frames[0].clone()).boxed()
            };
            let mut response = hyper::Response::new(body);
            for (name, value) in headers {
                response.headers_mut().insert(
                    hyper::header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                    hyper::header::HeaderValue::from_str(value).unwrap(),
                );
            }
            Ok::<_, hyper::Error>(response)
        });
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(socket), service)
            .await;
    })
}

/// The floor: a bare tokio server that writes the captured response by hand.
fn start_bare_tokio(response: Vec<u8>) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
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

/// wiremock's pooled server, answering every request with `headers` and `body`.
async fn start_wiremock(headers: &[(String, String)], body: Vec<u8>) -> wiremock::MockServer {
    let server = wiremock::MockServer::start().await;
    let mut answer = wiremock::ResponseTemplate::new(200).set_body_bytes(body);
    for (name, value) in headers {
        answer = answer.insert_header(name.as_str(), value.as_str());
    }
    wiremock::Mock::given(wiremock::matchers::any())
        .respond_with(answer)
        .mount(&server)
        .await;
    server
}

/// Median and 99th percentile.
fn summary(samples: &mut [Duration]) -> (Duration, Duration) {
    samples.sort_unstable();
    (
        samples[samples.len() / 2],
        samples[samples.len() * 99 / 100],
    )
}

#[derive(Default)]
struct Samples {
    first_byte: Vec<Duration>,
    last_byte: Vec<Duration>,
}

impl Samples {
    async fn measure(&mut self, address: SocketAddr, request: &[u8]) {
        let (first, last, _) = one_request(address, request).await;
        self.first_byte.push(first);
        self.last_byte.push(last);
    }

    fn print(&mut self, label: &str) -> Duration {
        let (first, first_p99) = summary(&mut self.first_byte);
        let (last, last_p99) = summary(&mut self.last_byte);
        println!(
            "  {label:<34} first byte: median {first:>8.1?} p99 {first_p99:>8.1?}   \
             last byte: median {last:>8.1?} p99 {last_p99:>8.1?}"
        );
        first
    }
}

/// One comparison: `reply` answered to `body` by chatmock, bare hyper and bare tokio, in
/// `rounds` interleaved rounds.
async fn compare(label: &str, reply: Reply, body: &str, rounds: usize) {
    let server = MockChatServer::builder().reply(reply).start().await;
    let chatmock_address = *server.address();
    let chatmock_request = request_bytes(chatmock_address, body);
    let (_, _, captured) = one_request(chatmock_address, &chatmock_request).await;
    let chunked = String::from_utf8_lossy(&captured)
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let (headers, response_body) = split_response(&captured);
    // The body's bytes, whatever its transfer encoding.
    let payload = |response: &[u8]| {
        let body = split_response(response).1;
        if chunked {
            chunks(&body).concat()
        } else {
            body
        }
    };
    let (hyper_address, _stop_hyper) = start_bare_hyper(headers.clone(), response_body, chunked);
    let (tokio_address, _stop_tokio) = start_bare_tokio(captured.clone());
    // Started after the baselines, so that its thread is the last (callgrind numbers
    // threads in the order they start: chatmock's is 2, bare hyper's 3).
    let wiremock = start_wiremock(&headers, payload(&captured)).await;
    let wiremock_address = *wiremock.address();
    let hyper_request = request_bytes(hyper_address, body);
    let tokio_request = request_bytes(tokio_address, body);
    let wiremock_request = request_bytes(wiremock_address, body);
    // The baselines answer the same body.
    let (_, _, from_hyper) = one_request(hyper_address, &hyper_request).await;
    assert_eq!(payload(&from_hyper), payload(&captured));
    let (_, _, from_wiremock) = one_request(wiremock_address, &wiremock_request).await;
    assert_eq!(split_response(&from_wiremock).1, payload(&captured));

    let servers = [
        (chatmock_address, &chatmock_request),
        (hyper_address, &hyper_request),
        (tokio_address, &tokio_request),
        (wiremock_address, &wiremock_request),
    ];
    let mut samples: [Samples; 4] = Default::default();
    for round in 0..50 + rounds {
        if round == 50 {
            samples = Default::default();
        }
        // The order rotates, so that every server goes first, second, third and last
        // equally often and no server ever gets two requests in a row: a server still
        // closing its last connection when its next request arrives would be at a
        // disadvantage (alternating chatmock-hyper-tokio with its reverse gave chatmock
        // and tokio that, and never hyper).
        for turn in 0..servers.len() {
            let at = (round + turn) % servers.len();
            let (address, request) = servers[at];
            samples[at].measure(address, request).await;
        }
    }
    let [mut chatmock, mut hyper, mut tokio, mut wiremock_samples] = samples;
    assert_eq!(server.received_requests().await.len(), rounds + 51);
    println!(
        "{label}: {} bytes ({} of body), the same from all four",
        captured.len(),
        split_response(&captured).1.len()
    );
    let chatmock_median = chatmock.print("chatmock");
    let hyper_median = hyper.print("bare hyper, same headers and body");
    let tokio_median = tokio.print("bare tokio, same bytes (the floor)");
    let wiremock_median = wiremock_samples.print("wiremock pooled, the same answer");
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    let hyper_ratio = ratio(chatmock_median, hyper_median);
    println!(
        "  ratio chatmock / bare hyper, first byte (median): {hyper_ratio:.2}x  (target <= 1.2: {})",
        if hyper_ratio <= 1.2 { "met" } else { "NOT met" }
    );
    println!(
        "  ratio chatmock / bare tokio, first byte (median): {:.2}x",
        ratio(chatmock_median, tokio_median)
    );
    println!(
        "  ratio wiremock / chatmock, first byte (median): {:.2}x",
        ratio(wiremock_median, chatmock_median)
    );
    println!(
        "  chatmock's own share (median first byte - bare hyper's): {:.1?}",
        chatmock_median.saturating_sub(hyper_median)
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let rounds: usize = std::env::var("FIRST_BYTE_ROUNDS")
        .ok()
        .and_then(|rounds| rounds.parse().ok())
        .unwrap_or(ROUNDS);
    // `FIRST_BYTE_ONLY=json` or `=streamed` runs one case, for a profile of one path.
    let only = std::env::var("FIRST_BYTE_ONLY").ok();
    println!("first_byte bench: {rounds} rounds, a fresh connection each");
    if only.as_deref() != Some("streamed") {
        let reply = Reply::text("Hello, world");
        compare("non-streaming JSON (Reply::text)", reply, JSON_BODY, rounds).await;
    }
    if only.as_deref() != Some("json") {
        let reply = Reply::tokens(["Hello", ",", " world"]);
        compare(
            "streamed SSE, 3 zero-delay tokens",
            reply,
            STREAM_BODY,
            rounds,
        )
        .await;
    }
}
