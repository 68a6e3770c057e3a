//! The demo example, run as its own process the way the README tells people to run it.
//! (The `chatmock` binary, which serves fixtures, is tested in `cli.rs`.)

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use crate::process::{built_next_to_tests, ServerProcess};
use crate::support::{assert_between, chunks, content_of, ms, parse_sse};

const DEMO_TEXT: &str = "Hello, this is a mocked chatbot. How can I help you?";

fn demo_binary() -> PathBuf {
    built_next_to_tests("examples/demo")
}

/// Starts the example binary that `cargo test` builds next to the test binaries.
fn start_demo(args: &[&str]) -> ServerProcess {
    let mut command = Command::new(demo_binary());
    command.args(args);
    ServerProcess::start(command, "chatmock demo listening on ")
}

#[tokio::test]
async fn the_demo_streams_its_sentence_on_get_stream_and_on_the_openai_endpoint() {
    let demo = start_demo(&["--port", "0", "--token-delay-ms", "5"]);
    assert!(demo.uri.starts_with("http://127.0.0.1:"));

    let response = reqwest::get(format!("{}/stream", demo.uri)).await.unwrap();
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    let events = parse_sse(&response.bytes().await.unwrap()).await;
    let (done, tokens) = events.split_last().unwrap();
    assert_eq!(done.data, "[DONE]");
    assert_eq!(tokens.len(), 11);
    // Bare words, as the original demo sent them; its page puts the spaces between.
    let words: Vec<&str> = tokens.iter().map(|e| e.data.as_str()).collect();
    assert_eq!(words.join(" "), DEMO_TEXT);

    let response = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", demo.uri))
        .body(r#"{"model":"demo","messages":[],"stream":true}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(
        content_of(&chunks(&response.bytes().await.unwrap()).await),
        DEMO_TEXT
    );
}

#[tokio::test]
async fn the_demo_streams_two_tokens_a_second_by_default() {
    let demo = start_demo(&["--port", "0"]);

    let started = Instant::now();
    let response = reqwest::get(format!("{}/stream", demo.uri)).await.unwrap();
    let mut arrivals = Vec::new();
    let mut stream = response;
    while arrivals.len() < 3 {
        let chunk = stream.chunk().await.unwrap().unwrap();
        arrivals.push((
            started.elapsed(),
            String::from_utf8_lossy(&chunk).into_owned(),
        ));
    }
    drop(stream);

    assert_eq!(arrivals[0].1, "data: Hello,\n\n");
    assert_between("first token", arrivals[0].0, ms(450), ms(1500));
    assert_between(
        "second token",
        arrivals[1].0 - arrivals[0].0,
        ms(400),
        ms(1000),
    );
    assert_between(
        "third token",
        arrivals[2].0 - arrivals[1].0,
        ms(400),
        ms(1000),
    );
}

#[test]
fn the_demo_explains_a_port_in_use() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let output = Command::new(demo_binary())
        .args(["--port", &port])
        .output()
        .unwrap();

    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("chatmock could not listen on 127.0.0.1:{port}")),
        "{stderr}"
    );
    assert!(stderr.contains("Try another port"), "{stderr}");
}

#[tokio::test]
async fn curl_streams_the_demo_as_the_readme_shows() {
    let demo = start_demo(&["--port", "0", "--token-delay-ms", "5"]);
    let url = format!("{}/stream", demo.uri);

    let output = tokio::task::spawn_blocking(move || {
        Command::new("curl")
            .args(["-sSN", "--max-time", "20", &url])
            .output()
    })
    .await
    .unwrap();
    let Ok(output) = output else {
        crate::support::missing_client(
            "no curl on this machine: install it (`apt-get install curl`)",
        );
        return;
    };

    assert!(output.status.success(), "{output:?}");
    let body = String::from_utf8(output.stdout).unwrap();
    assert!(body.starts_with("data: Hello,\n\ndata: this\n\n"), "{body}");
    assert!(body.ends_with("data: you?\n\ndata: [DONE]\n\n"), "{body}");
}

#[tokio::test]
async fn the_demo_logs_each_request_and_how_its_response_ended() {
    let demo = start_demo(&["--port", "0", "--token-delay-ms", "1"]);

    let body = reqwest::get(format!("{}/stream", demo.uri))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    assert!(body.ends_with("data: [DONE]\n\n"), "{body}");
    assert_eq!(demo.wait_for_line("#1 "), "#1 GET /stream");
    let outcome = demo.wait_for_line("#1 200");
    assert!(
        outcome.starts_with("#1 200 completed, 11 content events in "),
        "{outcome}"
    );
}

#[test]
fn the_demo_stops_cleanly_on_ctrl_c() {
    let mut demo = start_demo(&["--port", "0"]);
    let address = demo.uri.trim_start_matches("http://").to_owned();

    let (status, stderr) = demo.interrupt();

    assert_eq!(demo.wait_for_line("stopped"), "stopped");
    assert!(status.success(), "{status:?} {stderr}");
    // The port is free again.
    std::net::TcpListener::bind(address).expect("the port is released on exit");
}
