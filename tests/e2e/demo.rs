//! The demo example, run as its own process the way the README tells people to run it.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::support::{assert_between, chunks, content_of, ms, parse_sse};

const DEMO_TEXT: &str = "Hello, this is a mocked chatbot. How can I help you?";

/// The demo process; killed when dropped so a failing test leaves nothing behind.
struct Demo {
    child: Child,
    uri: String,
    /// The lines the demo prints after its address, as they come.
    log: mpsc::Receiver<String>,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Demo {
    /// Waits for the next log line that contains `text`, returning it; fails the test
    /// after a generous limit, or if the demo's output ends first.
    fn wait_for_line(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.log.recv_timeout(left) {
                Ok(line) if line.contains(text) => return line,
                Ok(_) => {}
                Err(error) => panic!("no log line containing {text:?}: {error}"),
            }
        }
    }
}

fn demo_binary() -> PathBuf {
    let test_binary = std::env::current_exe().unwrap();
    let profile_dir = test_binary.parent().and_then(|deps| deps.parent()).unwrap();
    let binary = profile_dir.join("examples").join("demo");
    assert!(
        binary.exists(),
        "{} is missing: run the tests with `cargo test`, which builds the examples",
        binary.display()
    );
    binary
}

/// Starts the example binary that `cargo test` builds next to the test binaries.
fn start_demo(args: &[&str]) -> Demo {
    let mut child = Command::new(demo_binary())
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first_line = String::new();
    stdout.read_line(&mut first_line).unwrap();
    // Keep reading, or the demo's next log line fails on a closed pipe.
    let (sender, log) = mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            let _ = sender.send(line);
        }
    });
    let uri = first_line
        .trim()
        .strip_prefix("chatmock demo listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {first_line:?}"))
        .to_owned();
    Demo { child, uri, log }
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
    assert_eq!(
        tokens.iter().map(|e| e.data.as_str()).collect::<String>(),
        DEMO_TEXT
    );

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
    assert!(
        body.starts_with("data: Hello,\n\ndata:  this\n\n"),
        "{body}"
    );
    assert!(body.ends_with("data:  you?\n\ndata: [DONE]\n\n"), "{body}");
}

/// A fixture file written for one test, deleted when dropped.
struct FixtureFile(PathBuf);

impl FixtureFile {
    fn new(name: &str, contents: &str) -> FixtureFile {
        let path =
            std::env::temp_dir().join(format!("chatmock-{}-{name}.json", std::process::id()));
        std::fs::write(&path, contents).unwrap();
        FixtureFile(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for FixtureFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[tokio::test]
async fn the_standalone_server_serves_a_fixture_and_logs_each_request_and_outcome() {
    let fixture = FixtureFile::new(
        "weather",
        r#"{
            "mocks": [{
                "name": "weather question",
                "when": { "last_user_message_contains": "weather" },
                "reply": { "tool_calls": [
                    { "name": "get_weather", "arguments": { "city": "Paris" }, "id": "call_1" }
                ] }
            }],
            "reply": { "text": "Ask me about the weather.", "token_delay": "1ms" }
        }"#,
    );
    let demo = start_demo(&["--port", "0", "--fixture", fixture.path()]);
    let client = reqwest::Client::new();
    let url = format!("{}/v1/chat/completions", demo.uri);

    let body = r#"{"model":"gpt-4o","messages":[{"role":"user","content":"How is the weather?"}],"stream":true}"#;
    let response = client.post(&url).body(body).send().await.unwrap();
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    let chunks = chunks(&response.bytes().await.unwrap()).await;
    // The first chunk carries the role and the call together, as the live API sends it.
    let call = &chunks[0]["choices"][0]["delta"]["tool_calls"][0];
    assert_eq!(call["id"], "call_1");
    assert_eq!(call["function"]["name"], "get_weather");
    assert_eq!(
        chunks[chunks.len() - 2]["choices"][0]["finish_reason"],
        "tool_calls"
    );
    assert_eq!(
        demo.wait_for_line("#1 "),
        "#1 POST /v1/chat/completions model=\"gpt-4o\" stream"
    );
    let outcome = demo.wait_for_line("#1 ->");
    assert!(
        outcome.starts_with("#1 -> 200 completed, 6 events in "),
        "{outcome}"
    );

    // Anything else gets the fixture's fallback reply, in the format of its endpoint.
    let body = r#"{"model":"llama3.2","messages":[{"role":"user","content":"Hi"}],"stream":false}"#;
    let reply: serde_json::Value = client
        .post(format!("{}/api/chat", demo.uri))
        .body(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(reply["message"]["content"], "Ask me about the weather.");
    assert_eq!(
        demo.wait_for_line("#2 "),
        "#2 POST /api/chat model=\"llama3.2\""
    );
    assert!(demo
        .wait_for_line("#2 ->")
        .starts_with("#2 -> 200 answered in "));
}

#[test]
fn the_standalone_server_stops_cleanly_on_ctrl_c() {
    let mut demo = start_demo(&["--port", "0"]);
    let address = demo.uri.trim_start_matches("http://").to_owned();

    // SAFETY: kill(2) on our own child's pid has no memory effects.
    let sent = unsafe { libc::kill(demo.child.id() as libc::pid_t, libc::SIGINT) };
    assert_eq!(sent, 0);

    assert_eq!(demo.wait_for_line("stopped"), "stopped");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = demo.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the demo did not exit after Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(status.success(), "{status:?}");
    // The port is free again.
    std::net::TcpListener::bind(address).expect("the port is released on exit");
}

#[test]
fn the_standalone_server_names_the_file_and_place_of_a_bad_fixture() {
    let fixture = FixtureFile::new(
        "bad",
        r#"{ "reply": { "text": "hi", "token_delay": true } }"#,
    );

    let output = Command::new(demo_binary())
        .args(["--port", "0", "--fixture", fixture.path()])
        .output()
        .unwrap();

    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(fixture.path()), "{stderr}");
    assert!(stderr.contains("reply.token_delay"), "{stderr}");
    assert!(stderr.contains("expected a duration"), "{stderr}");
}
