//! Lifecycle cost: start a server, stream one short reply to a real client, drop the
//! server. Reported against a baseline measured in the same run: the same request to a
//! server that is already running, so the ratio is what a fresh server per test costs.
//!
//! Run with `cargo bench --bench lifecycle`.

use std::time::{Duration, Instant};

use chatmock::{MockChatServer, Reply};

const ITERATIONS: usize = 300;
const BODY: &str = r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true}"#;

async fn stream_once(client: &reqwest::Client, server: &MockChatServer) {
    let url = format!("{}/chat/completions", server.openai_base_url());
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
}

fn summary(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort_unstable();
    (
        samples[samples.len() / 2],
        samples[samples.len() * 95 / 100],
    )
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let reply = || Reply::tokens(["Hello", ",", " world"]);

    let warm = MockChatServer::builder().reply(reply()).start().await;
    let client = reqwest::Client::new();
    let mut baseline = Vec::with_capacity(ITERATIONS);
    for _ in 0..ITERATIONS {
        let started = Instant::now();
        stream_once(&client, &warm).await;
        baseline.push(started.elapsed());
    }
    drop(warm);

    let mut lifecycle = Vec::with_capacity(ITERATIONS);
    for _ in 0..ITERATIONS {
        let started = Instant::now();
        let server = MockChatServer::builder().reply(reply()).start().await;
        // A fresh client per server, as a test would have: no pooled connection to reuse.
        stream_once(&reqwest::Client::new(), &server).await;
        drop(server);
        lifecycle.push(started.elapsed());
    }

    let (baseline_median, baseline_p95) = summary(baseline);
    let (lifecycle_median, lifecycle_p95) = summary(lifecycle);
    println!("{ITERATIONS} iterations each");
    println!(
        "one stream to a running server (baseline): median {baseline_median:?}, p95 {baseline_p95:?}"
    );
    println!(
        "start + one stream + drop:                 median {lifecycle_median:?}, p95 {lifecycle_p95:?}"
    );
    println!(
        "ratio (median): {:.2}x the baseline",
        lifecycle_median.as_secs_f64() / baseline_median.as_secs_f64()
    );
}
