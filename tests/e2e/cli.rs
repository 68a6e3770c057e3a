//! The `chatmock` binary (the `cli` feature), run as its own process as a user who
//! installed it runs it: against curl, the official OpenAI Python SDK and reqwest.
//!
//! The binary is `$CHATMOCK_BIN` when set (`.ci/run` sets it to the one it installed with
//! `cargo install --path . --features cli`), else it is built here once with `cargo
//! build --features cli`, so that `cargo test` alone covers it.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

use crate::process::{FixtureFile, ServerProcess};
use crate::sdk_clients::{run_client_at, Sdk};

fn chatmock_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            if let Some(binary) = std::env::var_os("CHATMOCK_BIN") {
                return PathBuf::from(binary);
            }
            let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
            let built = Command::new(env!("CARGO"))
                .args(["build", "--quiet", "--features", "cli", "--bin", "chatmock"])
                .args(["--manifest-path", manifest])
                .status()
                .expect("cargo runs");
            assert!(built.success(), "cargo build --features cli failed");
            crate::process::built_next_to_tests("chatmock")
        })
        .clone()
}

fn start(args: &[&str]) -> ServerProcess {
    let mut command = Command::new(chatmock_binary());
    command.arg("serve").args(args);
    ServerProcess::start(command, "chatmock listening on ")
}

const WEATHER: &str = r#"{
    "mocks": [{
        "name": "weather",
        "when": { "last_user_message_contains": "weather" },
        "reply": { "text": "It is sunny in Paris.", "token_delay": "1ms" },
        "expect": 1
    }]
}"#;

#[tokio::test]
async fn it_serves_a_fixture_to_curl_and_logs_each_request_and_outcome() {
    let fixture = FixtureFile::new("cli-curl", WEATHER);
    let server = start(&["--port", "0", "--fixture", fixture.path()]);
    assert!(
        server.uri.starts_with("http://127.0.0.1:"),
        "{}",
        server.uri
    );

    let body =
        r#"{"model":"gpt-4o","messages":[{"role":"user","content":"weather?"}],"stream":true}"#;
    let url = format!("{}/v1/chat/completions", server.uri);
    let output = tokio::task::spawn_blocking(move || {
        Command::new("curl")
            .args(["-sSN", "--max-time", "20", &url, "-d", body])
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

    let sse = String::from_utf8(output.stdout).unwrap();
    let chunks = crate::support::chunks(sse.as_bytes()).await;
    assert_eq!(crate::support::content_of(&chunks), "It is sunny in Paris.");
    assert_eq!(
        server.wait_for_line("#1 "),
        "#1 POST /v1/chat/completions model=\"gpt-4o\" last user message=\"weather?\" -> Mock #0 \"weather\""
    );
    let outcome = server.wait_for_line("#1 200");
    assert!(
        outcome.starts_with("#1 200 completed, 5 content events in "),
        "{outcome}"
    );
}

#[tokio::test]
async fn the_official_openai_python_sdk_streams_from_it() {
    let fixture = FixtureFile::new(
        "cli-python",
        r#"{"reply": {"tokens": ["Hello", " from", " the", " binary"]}}"#,
    );
    let server = start(&["--port", "0", "--fixture", fixture.path()]);

    let Some(run) = run_client_at(
        Sdk::OpenAiPython,
        format!("{}/v1", server.uri),
        "chat_stream",
    )
    .await
    else {
        return;
    };

    assert_eq!(run.result["text"], "Hello from the binary");
    assert_eq!(run.result["finish_reasons"], serde_json::json!(["stop"]));
    server.wait_for_line("#1 200 completed, 4 content events");
}

#[tokio::test]
async fn ctrl_c_exits_0_when_every_expectation_is_met() {
    let fixture = FixtureFile::new("cli-met", WEATHER);
    let mut server = start(&["--port", "0", "--fixture", fixture.path()]);
    let response = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", server.uri))
        .body(r#"{"model":"m","messages":[{"role":"user","content":"weather"}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    server.wait_for_line("#1 200");

    let (status, stderr) = server.interrupt();

    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_eq!(
        server.wait_for_line("stopped"),
        "chatmock stopped: every expectation was met"
    );
}

#[test]
fn ctrl_c_exits_1_with_the_report_when_an_expectation_is_not_met() {
    let fixture = FixtureFile::new("cli-unmet", WEATHER);
    let mut server = start(&["--port", "0", "--fixture", fixture.path()]);

    let (status, stderr) = server.interrupt();

    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with(
            "chatmock: 1 mock expectation was not met.\n\n  - Mock #0 \"weather\" matched 0 \
             requests, but expects exactly 1.\n"
        ),
        "{stderr}"
    );
    assert!(
        !stderr.contains("panicked"),
        "no panic, no backtrace: {stderr}"
    );
}

#[tokio::test]
async fn it_answers_health_checks_and_names_fixture_keys_in_its_404s() {
    let fixture = FixtureFile::new("cli-404", WEATHER);
    let server = start(&["--port", "0", "--fixture", fixture.path()]);
    let client = reqwest::Client::new();

    let health: Value = client
        .get(format!("{}/health", server.uri))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let miss = client
        .post(format!("{}/v1/chat/completions", server.uri))
        .body(r#"{"model":"m","messages":[{"role":"user","content":"jokes?"}]}"#)
        .send()
        .await
        .unwrap();

    assert_eq!(health, serde_json::json!({"status": "ok"}));
    assert_eq!(miss.status(), 404);
    let error: Value = miss.json().await.unwrap();
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.ends_with("or give the fixture a \"reply\" for every request."),
        "{message}"
    );
    // The health check is not one of the client's requests.
    assert_eq!(
        server.wait_for_line("#1 "),
        "#1 POST /v1/chat/completions model=\"m\" last user message=\"jokes?\""
    );
}

#[tokio::test]
async fn watch_serves_an_edited_fixture_without_a_restart() {
    let fixture = FixtureFile::new("cli-watch", r#"{"reply": {"text": "before"}}"#);
    let server = start(&["--port", "0", "--watch", "--fixture", fixture.path()]);
    let ask = || async {
        let response = reqwest::Client::new()
            .post(format!("{}/v1/chat/completions", server.uri))
            .body(r#"{"model":"m","messages":[]}"#)
            .send()
            .await
            .unwrap();
        let json: Value = response.json().await.unwrap();
        json["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(ask().await, "before");

    // A half-written file is not served: the previous fixtures stay.
    std::fs::write(fixture.as_path(), r#"{"reply": {"text": "#).unwrap();
    std::fs::write(
        fixture.as_path(),
        r#"{"reply": {"text": "after the edit"}}"#,
    )
    .unwrap();

    server.wait_for_line("chatmock reloaded the fixtures");
    assert_eq!(ask().await, "after the edit");
}

#[test]
fn a_bad_fixture_is_named_by_file_and_place_and_exits_1() {
    let fixture = FixtureFile::new(
        "cli-bad",
        r#"{ "reply": { "text": "hi", "token_delay": true } }"#,
    );

    let output = Command::new(chatmock_binary())
        .args(["serve", "--port", "0", "--fixture", fixture.path()])
        .output()
        .unwrap();

    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr.trim_end(),
        format!(
            "chatmock: {}: at reply.token_delay: expected a duration such as \"250ms\", \
             \"1.5s\" or a number of milliseconds, found true",
            fixture.path()
        )
    );
}

#[test]
fn a_port_in_use_is_named_and_exits_1() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();

    let output = Command::new(chatmock_binary())
        .args(["serve", "--port", &port])
        .output()
        .unwrap();

    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("chatmock could not listen on 127.0.0.1:{port}")),
        "{stderr}"
    );
    assert!(stderr.contains("--port 0 for a free one"), "{stderr}");
}

fn start_recording(args: &[&str]) -> ServerProcess {
    let mut command = Command::new(chatmock_binary());
    command.arg("record").args(args);
    ServerProcess::start(command, "chatmock listening on ")
}

#[tokio::test]
async fn record_proxies_to_the_upstream_and_writes_a_fixture_that_serve_replays() {
    const KEY: &str = "sk-cli-secret-0123456789";
    let upstream = chatmock::MockChatServer::builder()
        .reply(chatmock::Reply::text("Recorded for acct_998877 only"))
        .start()
        .await;
    let out = FixtureFile::new("cli-recording", "");
    let mut recorder = start_recording(&[
        "--upstream",
        &upstream.uri(),
        "--out",
        out.path(),
        "--port",
        "0",
        "--redact",
        "acct_[0-9]+",
    ]);
    let client = reqwest::Client::new();
    let streamed = client
        .post(format!("{}/v1/chat/completions", recorder.uri))
        .bearer_auth(KEY)
        .body(r#"{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"Hi"}]}"#)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        streamed.contains("acct_998877"),
        "the client gets the real answer"
    );
    let (status, _) = recorder.interrupt();
    assert!(status.success(), "{status}");
    assert_eq!(
        upstream.received_requests().await[0].header("authorization"),
        Some(&*format!("Bearer {KEY}"))
    );
    let text = std::fs::read_to_string(out.as_path()).unwrap();
    assert!(!text.contains(KEY), "{text}");
    assert!(!text.contains("acct_998877"), "{text}");
    assert!(text.contains("[REDACTED]"));

    // `serve` replays it with no upstream: the same bytes, masked.
    drop(upstream);
    let server = start(&["--port", "0", "--fixture", out.path()]);
    let replayed = client
        .post(format!("{}/v1/chat/completions", server.uri))
        .body(r#"{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"Hi"}]}"#)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(replayed, streamed.replace("acct_998877", "[REDACTED]"));
}

#[test]
fn record_names_a_bad_upstream_or_pattern_and_exits_1() {
    let out = FixtureFile::new("cli-recording-bad", "");
    for (args, message) in [
        (
            vec!["--upstream", "https://api.openai.com", "--out", out.path()],
            "plain HTTP only",
        ),
        (
            vec![
                "--upstream",
                "http://127.0.0.1:9",
                "--out",
                out.path(),
                "--redact",
                "(",
            ],
            "--redact \"(\" is not a regular expression",
        ),
    ] {
        let output = Command::new(chatmock_binary())
            .arg("record")
            .args(&args)
            .args(["--port", "0"])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(message), "{stderr}");
    }
}
