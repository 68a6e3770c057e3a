//! Throughput: one stream of 100,000 zero-delay tokens to a reqwest client, in chunks
//! (tokens) per second.
//!
//! Baseline, in the same binary and the same run: a bare tokio TCP server with a
//! hand-written minimal HTTP/1.1 response (`Transfer-Encoding: chunked`, 64 KiB chunks)
//! that writes the exact body chatmock produced, captured once beforehand. It does no
//! routing, no recording and no encoding, so the ratio is what chatmock's machinery costs
//! on top of putting the same bytes on the socket. Both servers run on their own OS
//! thread with a current-thread tokio runtime, as chatmock always does; the client runs
//! on the main thread. Repetitions alternate between the two.
//!
//! Run with `cargo bench --bench throughput`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chatmock::{MockChatServer, Reply};
use futures::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

#[path = "support/raw_http.rs"]
mod raw_http;

const TOKENS: usize = 100_000;
const REPETITIONS: usize = 21;
const CHUNK: usize = 64 * 1024;
const BODY: &str = r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true}"#;

/// Reads one streamed response to the end; returns its size and how long it took from
/// sending the request. The timed runs only count bytes, so that the client's own work
/// stays small next to the servers'; [`count_events`] checks the content once per server.
async fn read_stream(client: &reqwest::Client, url: &str) -> (usize, Duration) {
    let started = Instant::now();
    let response = client.post(url).body(BODY).send().await.unwrap();
    assert!(response.status().is_success());
    let mut stream = response.bytes_stream();
    let mut bytes = 0;
    // The last bytes seen, however the body was split into chunks.
    let mut tail: Vec<u8> = Vec::with_capacity(64);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        bytes += chunk.len();
        tail.extend_from_slice(&chunk[chunk.len().saturating_sub(32)..]);
        tail.drain(..tail.len().saturating_sub(32));
    }
    let elapsed = started.elapsed();
    assert!(tail.ends_with(b"data: [DONE]\n\n"));
    (bytes, elapsed)
}

/// The number of SSE events in a body (blank-line terminated blocks).
fn count_events(body: &[u8]) -> usize {
    body.windows(2).filter(|pair| pair == b"\n\n").count()
}

/// Reads one whole response body.
async fn fetch(client: &reqwest::Client, url: &str) -> Vec<u8> {
    let response = client.post(url).body(BODY).send().await.unwrap();
    assert!(response.status().is_success());
    response.bytes().await.unwrap().to_vec()
}

/// The baseline server: answers every request on a connection with `body`, chunked.
fn spawn_raw_server(body: Arc<Vec<u8>>) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    raw_http::spawn_server(move |socket| serve_raw(socket, Arc::clone(&body)))
}

async fn serve_raw(mut socket: TcpStream, body: Arc<Vec<u8>>) {
    let mut request = Vec::with_capacity(4096);
    let mut frame = Vec::with_capacity(CHUNK + 16);
    loop {
        if raw_http::read_request(&mut socket, &mut request)
            .await
            .is_none()
        {
            return;
        }

        let head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
                     transfer-encoding: chunked\r\n\r\n";
        if socket.write_all(head).await.is_err() {
            return;
        }
        for piece in body.chunks(CHUNK) {
            frame.clear();
            frame.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
            frame.extend_from_slice(piece);
            frame.extend_from_slice(b"\r\n");
            if socket.write_all(&frame).await.is_err() {
                return;
            }
        }
        if socket.write_all(b"0\r\n\r\n").await.is_err() {
            return;
        }
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

fn per_second(count: usize, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let tokens: Vec<String> = (0..TOKENS).map(|i| format!(" t{i}")).collect();
    let server = MockChatServer::builder()
        .reply(Reply::tokens(tokens))
        .start()
        .await;
    let chatmock_url = format!("{}/chat/completions", server.openai_base_url());
    let client = reqwest::Client::new();

    // Capture chatmock's exact body once, for the baseline to serve verbatim.
    let captured = fetch(&client, &chatmock_url).await;
    // Role chunk, one chunk per token, finish chunk, [DONE].
    assert_eq!(count_events(&captured), TOKENS + 3);
    assert!(captured.ends_with(b"data: [DONE]\n\n"));
    let captured_len = captured.len();
    let (raw_address, stop_raw) = spawn_raw_server(Arc::new(captured.clone()));
    let raw_url = format!("http://{raw_address}/v1/chat/completions");

    // One untimed warm-up each (connections, allocator, page cache), which also checks
    // that the baseline delivers the very same bytes (chatmock's ids differ per response,
    // not their length).
    assert_eq!(fetch(&client, &raw_url).await, captured);
    assert_eq!(
        count_events(&fetch(&client, &chatmock_url).await),
        TOKENS + 3
    );

    let mut chatmock = Vec::with_capacity(REPETITIONS);
    let mut raw = Vec::with_capacity(REPETITIONS);
    for repetition in 0..REPETITIONS {
        let order: [bool; 2] = if repetition % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        for is_chatmock in order {
            let url = if is_chatmock { &chatmock_url } else { &raw_url };
            let (bytes, elapsed) = read_stream(&client, url).await;
            assert_eq!(bytes, captured_len, "the same number of bytes");
            if is_chatmock {
                chatmock.push(elapsed);
            } else {
                raw.push(elapsed);
            }
        }
    }
    let _ = stop_raw.send(());
    drop(server);

    let runs = |samples: &[Duration]| {
        samples
            .iter()
            .map(|d| format!("{:.0}", d.as_secs_f64() * 1000.0))
            .collect::<Vec<_>>()
            .join(" ")
    };
    println!(
        "throughput bench: one stream of {TOKENS} zero-delay tokens ({:.1} MiB of SSE), \
         reqwest client, {REPETITIONS} alternating repetitions",
        captured_len as f64 / (1024.0 * 1024.0)
    );
    println!("  chatmock runs (ms): {}", runs(&chatmock));
    println!("  raw runs (ms):      {}", runs(&raw));
    let chatmock_median = median(chatmock);
    let raw_median = median(raw);
    let chatmock_rate = per_second(TOKENS, chatmock_median);
    let raw_rate = per_second(TOKENS, raw_median);
    println!(
        "  chatmock:                       median {chatmock_median:>9.1?}  {:>11.0} tokens/s  {:>7.1} MiB/s",
        chatmock_rate,
        per_second(captured_len, chatmock_median) / (1024.0 * 1024.0)
    );
    println!(
        "  raw tokio, same bytes, chunked: median {raw_median:>9.1?}  {:>11.0} tokens/s  {:>7.1} MiB/s",
        raw_rate,
        per_second(captured_len, raw_median) / (1024.0 * 1024.0)
    );
    let ratio = chatmock_rate / raw_rate;
    println!(
        "  ratio chatmock / raw baseline: {ratio:.2}x  (target >= 0.7x: {})",
        if ratio >= 0.7 { "met" } else { "NOT met" }
    );
}
