//! Virtual time against real time: ten fault scenarios a client team would test, each run
//! once on a real clock and once under a paused clock with `virtual_time()`, in the same
//! run. Reported: the wall time of both suites and their ratio, and for each scenario
//! the duration it measured on its own clock against what its script says.
//!
//! Run with `cargo bench --bench virtual_time` (about two minutes: the real-time half
//! waits out every script).

use std::time::Duration;

use chatmock::{MockChatServer, Reply};
use futures::StreamExt;
use tokio::time::Instant;

const BODY: &str = r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true}"#;
const COMPLETE: &str = r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;

fn secs(seconds: f64) -> Duration {
    Duration::from_secs_f64(seconds)
}

/// One scenario: what its script says it lasts, and how to run it against a server.
struct Scenario {
    name: &'static str,
    scripted: Duration,
    reply: fn() -> Vec<Reply>,
    client: fn(String) -> futures::future::BoxFuture<'static, ()>,
}

fn chat_url(server: &MockChatServer) -> String {
    format!("{}/chat/completions", server.openai_base_url())
}

/// Reads a streamed body to its end or its first error.
async fn read_all(response: reqwest::Response) -> Result<usize, reqwest::Error> {
    let mut body = response.bytes_stream();
    let mut bytes = 0;
    while let Some(chunk) = body.next().await {
        bytes += chunk?.len();
    }
    Ok(bytes)
}

/// A client that honours `retry-after` by sleeping on tokio's clock.
async fn retrying(url: String) {
    let client = reqwest::Client::new();
    loop {
        let response = client.post(&url).body(COMPLETE).send().await.unwrap();
        if let Some(seconds) = response.headers().get("retry-after") {
            let seconds: u64 = seconds.to_str().unwrap().parse().unwrap();
            tokio::time::sleep(Duration::from_secs(seconds)).await;
            continue;
        }
        assert_eq!(response.status(), 200);
        response.bytes().await.unwrap();
        return;
    }
}

/// Streams with a read timeout; a timeout is an expected ending here.
async fn streaming_with_read_timeout(url: String, read_timeout: Duration) {
    let client = reqwest::Client::builder()
        .read_timeout(read_timeout)
        .build()
        .unwrap();
    let response = client.post(url).body(BODY).send().await.unwrap();
    if let Err(error) = read_all(response).await {
        assert!(error.is_timeout(), "{error:?}");
    }
}

/// Streams, and after a broken stream reconnects with `Last-Event-ID` once `retry:`
/// has passed.
async fn reconnecting(url: String) {
    let client = reqwest::Client::new();
    let mut last_id: Option<String> = None;
    loop {
        let mut request = client.post(&url).body(BODY);
        if let Some(id) = &last_id {
            request = request.header("last-event-id", id);
        }
        let mut body = request.send().await.unwrap().bytes_stream();
        let mut raw = Vec::new();
        while let Some(Ok(bytes)) = body.next().await {
            raw.extend_from_slice(&bytes);
        }
        let text = String::from_utf8_lossy(&raw).into_owned();
        if text.ends_with("data: [DONE]\n\n") {
            return;
        }
        let mut retry = Duration::ZERO;
        for line in text.lines() {
            if let Some(id) = line.strip_prefix("id: ") {
                last_id = Some(id.to_owned());
            }
            if let Some(millis) = line.strip_prefix("retry: ") {
                retry = Duration::from_millis(millis.parse().unwrap());
            }
        }
        tokio::time::sleep(retry).await;
    }
}

fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "retry after a 429 with retry-after: 20 s",
            scripted: secs(20.0),
            reply: || {
                vec![
                    Reply::rate_limited().retry_after(secs(20.0)),
                    Reply::text("ok"),
                ]
            },
            client: |url| Box::pin(retrying(url)),
        },
        Scenario {
            name: "a stall against a 30 s read timeout",
            scripted: secs(30.0),
            reply: || vec![Reply::text("one two three").stall_after(1)],
            client: |url| Box::pin(streaming_with_read_timeout(url, secs(30.0))),
        },
        Scenario {
            name: "60 tokens at 500 ms",
            scripted: secs(30.0),
            reply: || {
                let tokens: Vec<String> = (0..60).map(|i| format!("t{i} ")).collect();
                vec![Reply::tokens(tokens)
                    .first_token_delay(secs(0.5))
                    .token_delay(secs(0.5))]
            },
            client: |url| Box::pin(streaming_with_read_timeout(url, secs(5.0))),
        },
        Scenario {
            name: "reconnect after a cut, with retry: 3000",
            scripted: secs(3.0),
            reply: || {
                vec![Reply::text("one two three four")
                    .event_ids()
                    .reconnection_time(secs(3.0))
                    .disconnect_after(2)]
            },
            client: |url| Box::pin(reconnecting(url)),
        },
        Scenario {
            name: "headers delayed past a 10 s client timeout",
            scripted: secs(10.0),
            reply: || vec![Reply::text("late").delay_headers(secs(60.0))],
            client: |url| {
                Box::pin(async move {
                    let client = reqwest::Client::builder()
                        .timeout(secs(10.0))
                        .build()
                        .unwrap();
                    let error = client.post(url).body(BODY).send().await.unwrap_err();
                    assert!(error.is_timeout(), "{error:?}");
                })
            },
        },
        Scenario {
            name: "a 2 s time to first token, then 20 tokens at 100 ms",
            scripted: secs(3.9),
            reply: || {
                let tokens: Vec<String> = (0..20).map(|i| format!("t{i} ")).collect();
                vec![Reply::tokens(tokens)
                    .first_token_delay(secs(2.0))
                    .token_delay(secs(0.1))]
            },
            client: |url| Box::pin(streaming_with_read_timeout(url, secs(5.0))),
        },
        Scenario {
            name: "keep-alives every 5 s through a stall, then a 12 s read timeout",
            scripted: secs(12.0),
            reply: || vec![Reply::text("one two").stall_after(1).keep_alive(secs(5.0))],
            client: |url| {
                Box::pin(async move {
                    // Keep-alives hold the read timeout off; the client gives up by itself.
                    let client = reqwest::Client::new();
                    let response = client.post(url).body(BODY).send().await.unwrap();
                    let _ = tokio::time::timeout(secs(12.0), read_all(response)).await;
                })
            },
        },
        Scenario {
            name: "a non-streaming reply that generates for 8 s",
            scripted: secs(8.0),
            reply: || {
                vec![Reply::text("a b c d")
                    .first_token_delay(secs(2.0))
                    .token_delay(secs(2.0))]
            },
            client: |url| {
                Box::pin(async move {
                    let response = reqwest::Client::new().post(url).body(COMPLETE).send().await;
                    response.unwrap().bytes().await.unwrap();
                })
            },
        },
        Scenario {
            name: "an overloaded 503 twice, retry-after 5 s each",
            scripted: secs(10.0),
            reply: || {
                vec![
                    Reply::overloaded().retry_after(secs(5.0)),
                    Reply::overloaded().retry_after(secs(5.0)),
                    Reply::text("ok"),
                ]
            },
            client: |url| Box::pin(retrying(url)),
        },
        Scenario {
            name: "an error event after 3 tokens at 1 s",
            scripted: secs(3.0),
            reply: || {
                vec![Reply::text("a b c d e")
                    .token_delay(secs(1.0))
                    .error_after(3, chatmock::StreamError::server_error())]
            },
            client: |url| Box::pin(streaming_with_read_timeout(url, secs(5.0))),
        },
    ]
}

/// Runs one scenario on a fresh current-thread runtime, paused or not, and returns how
/// long it took on that runtime's clock.
fn run(scenario: &Scenario, paused: bool) -> Duration {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(paused)
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut builder = MockChatServer::builder().reply_sequence((scenario.reply)());
        if paused {
            builder = builder.virtual_time();
        }
        let server = builder.start().await;
        let started = Instant::now();
        (scenario.client)(chat_url(&server)).await;
        started.elapsed()
    })
}

fn main() {
    if std::env::args().any(|arg| arg == "--list") {
        return;
    }
    let scenarios = scenarios();
    println!(
        "virtual time bench: {} scenarios, each in real time and in virtual time",
        scenarios.len()
    );

    let wall = std::time::Instant::now();
    let virtual_durations: Vec<Duration> = scenarios.iter().map(|s| run(s, true)).collect();
    let virtual_wall = wall.elapsed();

    let wall = std::time::Instant::now();
    let real_durations: Vec<Duration> = scenarios.iter().map(|s| run(s, false)).collect();
    let real_wall = wall.elapsed();

    println!(
        "{:<66} {:>9} {:>12} {:>10} {:>12}",
        "scenario", "script", "virtual", "error", "real"
    );
    let mut worst = Duration::ZERO;
    for ((scenario, virtual_took), real_took) in scenarios
        .iter()
        .zip(&virtual_durations)
        .zip(&real_durations)
    {
        let error = virtual_took.abs_diff(scenario.scripted);
        worst = worst.max(error);
        println!(
            "{:<66} {:>8.3}s {:>11.3}s {:>8.3}ms {:>11.3}s",
            scenario.name,
            scenario.scripted.as_secs_f64(),
            virtual_took.as_secs_f64(),
            error.as_secs_f64() * 1000.0,
            real_took.as_secs_f64(),
        );
    }
    let ratio = real_wall.as_secs_f64() / virtual_wall.as_secs_f64();
    println!(
        "suite wall time: real {:.2} s, virtual {:.1} ms; ratio real / virtual {:.0}x (target >= 200x: {})",
        real_wall.as_secs_f64(),
        virtual_wall.as_secs_f64() * 1000.0,
        ratio,
        if ratio >= 200.0 { "met" } else { "NOT met" }
    );
    println!(
        "largest difference between a virtual duration and its script: {:.3} ms (target <= 1 ms: {})",
        worst.as_secs_f64() * 1000.0,
        if worst <= Duration::from_millis(1) { "met" } else { "NOT met" }
    );
}
