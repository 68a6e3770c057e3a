//! The official SDKs: OpenAI's and Anthropic's Python and Node libraries, Google's
//! `google-genai` and the `ollama` Python library, run as child
//! processes (`tests/clients/`) that do what an application does against a chatmock
//! server started here, and print one JSON line of what the SDK gave them.
//!
//! Needs the pinned SDKs: `bash tests/clients/install.sh` (which `.ci/run` runs) installs
//! the Python ones into `target/sdk-clients/python` (or `$CHATMOCK_SDK_PYTHONPATH`) and the
//! Node ones into `tests/clients/node/node_modules`. Without them the tests are skipped
//! with a line that says how to install them, and fail under CI (`CI=true`);
//! `CHATMOCK_SKIP_SDKS=1` skips them anyway. `CHATMOCK_PYTHON` and `CHATMOCK_NODE` choose the
//! interpreters (default `python3` and `node`).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chatmock::{
    matchers, CutKind, Mock, MockChatServer, ReceivedRequest, Reply, Step, StreamError,
    StreamOutcome, Thinking, ToolCall, Usage,
};
use serde_json::{json, Value};

/// Importing an SDK takes about a second; the rest is slack for a loaded 2-core machine.
/// A client that never finishes is killed after this, so no test hangs.
const CLIENT_TIME_LIMIT: Duration = Duration::from_secs(60);

const INSTALL: &str = "bash tests/clients/install.sh";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum Sdk {
    OpenAiPython,
    AnthropicPython,
    OpenAiNode,
    AnthropicNode,
    GeminiPython,
    OllamaPython,
}

impl Sdk {
    fn script(self) -> PathBuf {
        repo().join("tests/clients").join(match self {
            Sdk::OpenAiPython => "python/openai_client.py",
            Sdk::AnthropicPython => "python/anthropic_client.py",
            Sdk::OpenAiNode => "node/openai_client.mjs",
            Sdk::AnthropicNode => "node/anthropic_client.mjs",
            Sdk::GeminiPython => "python/gemini_client.py",
            Sdk::OllamaPython => "python/ollama_client.py",
        })
    }

    fn is_python(self) -> bool {
        matches!(
            self,
            Sdk::OpenAiPython | Sdk::AnthropicPython | Sdk::GeminiPython | Sdk::OllamaPython
        )
    }

    /// The base URL the application configures: OpenAI's SDKs take the `/v1` URL,
    /// Anthropic's the server root (they add `/v1/messages`).
    fn base_url(self, server: &MockChatServer) -> String {
        match self {
            Sdk::OpenAiPython | Sdk::OpenAiNode => server.openai_base_url(),
            Sdk::AnthropicPython | Sdk::AnthropicNode | Sdk::GeminiPython | Sdk::OllamaPython => {
                server.uri()
            }
        }
    }

    /// The version the lock files pin, which the client must report having run.
    fn pinned_version(self) -> String {
        let (file, package) = match self {
            Sdk::OpenAiPython => ("python/requirements.txt", "openai"),
            Sdk::AnthropicPython => ("python/requirements.txt", "anthropic"),
            Sdk::OpenAiNode => ("node/package.json", "openai"),
            Sdk::AnthropicNode => ("node/package.json", "@anthropic-ai/sdk"),
            Sdk::GeminiPython => ("python/requirements.txt", "google-genai"),
            Sdk::OllamaPython => ("python/requirements.txt", "ollama"),
        };
        let text = std::fs::read_to_string(repo().join("tests/clients").join(file)).unwrap();
        if self.is_python() {
            let prefix = format!("{package}==");
            text.lines()
                .find_map(|line| line.strip_prefix(&prefix))
                .unwrap_or_else(|| panic!("{file} pins no {package}"))
                .trim()
                .to_owned()
        } else {
            let manifest: Value = serde_json::from_str(&text).unwrap();
            manifest["dependencies"][package]
                .as_str()
                .unwrap_or_else(|| panic!("{file} has no dependency {package}"))
                .to_owned()
        }
    }
}

/// The interpreter and environment for `sdk`'s scripts, or `None` when the SDK tests are
/// skipped: by `CHATMOCK_SKIP_SDKS=1`, or because the SDKs are missing (which fails the
/// test under CI instead).
fn interpreter(sdk: Sdk) -> Option<Command> {
    if std::env::var("CHATMOCK_SKIP_SDKS").as_deref() == Ok("1") {
        println!("skipping the SDK client test: CHATMOCK_SKIP_SDKS=1");
        return None;
    }
    let mut command = if sdk.is_python() {
        let site = std::env::var_os("CHATMOCK_SDK_PYTHONPATH")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo().join("target/sdk-clients/python"));
        // A silent pass would hide that the SDKs went untested.
        for package in ["openai", "anthropic", "google/genai", "ollama"] {
            if !site.join(package).join("__init__.py").is_file() {
                crate::support::missing_client(&format!(
                    "the Python SDKs are not installed in {}: run `{INSTALL}` (pip installs \
                     tests/clients/python/requirements.txt there), or set \
                     CHATMOCK_SDK_PYTHONPATH to where they are; set CHATMOCK_SKIP_SDKS=1 to \
                     skip these tests",
                    site.display()
                ));
                return None;
            }
        }
        let python = std::env::var("CHATMOCK_PYTHON").unwrap_or_else(|_| "python3".to_owned());
        let mut command = Command::new(python);
        command
            .env("PYTHONPATH", site)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("PYTHONNOUSERSITE", "1")
            .env("PYTHONUNBUFFERED", "1");
        command
    } else {
        let modules = repo().join("tests/clients/node/node_modules");
        for package in ["openai", "@anthropic-ai/sdk"] {
            if !modules.join(package).join("package.json").is_file() {
                crate::support::missing_client(&format!(
                    "the Node SDKs are not installed in {}: run `{INSTALL}` (npm ci in \
                     tests/clients/node); set CHATMOCK_SKIP_SDKS=1 to skip these tests",
                    modules.display()
                ));
                return None;
            }
        }
        let node = std::env::var("CHATMOCK_NODE").unwrap_or_else(|_| "node".to_owned());
        Command::new(node)
    };
    // Only what the script passes configures the SDK: no key, base URL, profile or extra
    // headers from the environment.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        let configures_an_sdk = ["OPENAI_", "ANTHROPIC_", "GOOGLE_", "GEMINI_", "OLLAMA_"]
            .iter()
            .any(|prefix| name.starts_with(prefix));
        if configures_an_sdk {
            command.env_remove(&*name);
        }
    }
    // Loopback only: no proxy may see (or answer) the SDK's requests.
    for proxy in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ] {
        command.env_remove(proxy);
    }
    command.env("NO_PROXY", "*").env("no_proxy", "*");
    Some(command)
}

/// What a client process printed and how long it ran.
pub(crate) struct ClientRun {
    pub(crate) result: Value,
    elapsed: Duration,
}

/// Runs `sdk`'s script with `scenario` against `server` and parses its JSON line, or
/// returns `None` if SDK tests are skipped. Panics with the client's output if it fails,
/// prints no JSON, or runs past [`CLIENT_TIME_LIMIT`] (it is killed then).
async fn run_client(sdk: Sdk, server: &MockChatServer, scenario: &str) -> Option<ClientRun> {
    run_client_at(sdk, sdk.base_url(server), scenario).await
}

/// [`run_client`] against a server at `base_url`, such as the `chatmock` binary.
pub(crate) async fn run_client_at(sdk: Sdk, base_url: String, scenario: &str) -> Option<ClientRun> {
    let mut command = interpreter(sdk)?;
    command
        .arg(sdk.script())
        .arg(base_url)
        .arg(scenario)
        .current_dir(repo())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let description = format!("{sdk:?} {scenario}");
    let run = tokio::task::spawn_blocking(move || run_to_end(command, &description))
        .await
        .expect("the client task does not panic")
        .unwrap_or_else(|error| panic!("{error}"));
    // Shown when a test fails.
    println!("{sdk:?} {scenario} printed: {:#}", run.result);
    assert_eq!(
        run.result["sdk"]["version"],
        sdk.pinned_version(),
        "{sdk:?} ran another version than the one pinned: run `{INSTALL}`"
    );
    Some(run)
}

fn run_to_end(mut command: Command, description: &str) -> Result<ClientRun, String> {
    let started = Instant::now();
    let mut child = command
        .spawn()
        .map_err(|error| format!("could not start {:?}: {error}", command.get_program()))?;
    // Drained on their own threads, so a chatty client never blocks on a full pipe.
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let stdout = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if started.elapsed() > CLIENT_TIME_LIMIT => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(error) => return Err(format!("could not wait for {description}: {error}")),
        }
    };
    let elapsed = started.elapsed();
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    let output = format!("stdout:\n{stdout}\nstderr:\n{stderr}");
    let Some(status) = status else {
        return Err(format!(
            "{description} did not finish within {CLIENT_TIME_LIMIT:?} and was killed\n{output}"
        ));
    };
    if !status.success() {
        return Err(format!("{description} exited with {status}\n{output}"));
    }
    let line = stdout
        .lines()
        .rfind(|line| line.starts_with('{'))
        .ok_or_else(|| format!("{description} printed no JSON line\n{output}"))?;
    let result = serde_json::from_str(line)
        .map_err(|error| format!("{description} printed bad JSON ({error})\n{output}"))?;
    Ok(ClientRun { result, elapsed })
}

/// The outcome of a stream that sent `content_events` tokens and then an error event. The
/// SDKs stop reading at the error, so the server may or may not get to write the rest
/// (`[DONE]`, or `response.failed`) before the client is gone.
fn assert_ended_after_an_error(request: &ReceivedRequest, content_events: usize) {
    let outcome = request.stream_outcome();
    assert!(
        *outcome == StreamOutcome::Completed { content_events }
            || *outcome == StreamOutcome::ClientHungUp { content_events },
        "{outcome:?}"
    );
}

use crate::tools::weather_reply;

const PARIS_ARGUMENTS: &str = r#"{"city":"Paris","unit":"celsius"}"#;
const TIME_ARGUMENTS: &str = r#"{"zone":"Europe/Paris"}"#;

/// The content events `weather_reply` streams: two tokens, and per call the event naming
/// it plus one per argument fragment (`{"`, `city`, `":"`, ...).
const WEATHER_CONTENT_EVENTS: usize = 2 + (1 + 9) + (1 + 7);

/// Asserts that `calls` (`[{id, name, arguments}]`) are `weather_reply`'s two calls.
fn assert_weather_calls(calls: &Value) {
    let calls = calls.as_array().expect("a list of calls");
    assert_eq!(calls.len(), 2, "calls: {calls:#?}");
    assert_eq!(calls[0]["id"], "call_paris");
    assert_eq!(calls[0]["name"], "get_weather");
    assert_eq!(calls[0]["arguments"], PARIS_ARGUMENTS);
    let generated_id = calls[1]["id"].as_str().expect("the second call has an id");
    assert!(
        generated_id.starts_with("call_") && generated_id.len() > "call_".len(),
        "id: {generated_id}"
    );
    assert_eq!(calls[1]["name"], "get_time");
    assert_eq!(calls[1]["arguments"], TIME_ARGUMENTS);
}

/// The server's requests once every stream has ended, which must be `count` of them.
async fn ended_requests(server: &MockChatServer, count: usize) -> Vec<ReceivedRequest> {
    let requests = server
        .wait_for_streams_to_end()
        .await
        .expect("the client's streams end");
    assert_eq!(requests.len(), count, "requests: {requests:#?}");
    requests
}

#[tokio::test]
async fn openai_python_streams_a_chat_completion_and_joins_the_deltas() {
    let server = MockChatServer::builder()
        .reply(Reply::text("The quick brown fox jumps.").token_delay(Duration::from_millis(2)))
        .start()
        .await;
    let Some(run) = run_client(Sdk::OpenAiPython, &server, "chat_stream").await else {
        return;
    };
    let result = &run.result;
    assert_eq!(result["text"], "The quick brown fox jumps.");
    assert_eq!(result["finish_reasons"], json!(["stop"]));
    // Role chunk, five tokens, the finish chunk and the usage chunk, all one completion.
    assert_eq!(result["chunks"], 8);
    assert_eq!(result["ids"].as_array().unwrap().len(), 1, "{result}");
    assert_eq!(result["models"], json!(["gpt-4o-mini"]));
    assert_eq!(result["usage"]["completion_tokens"], 5);
    assert_eq!(
        result["usage"]["total_tokens"],
        result["usage"]["prompt_tokens"].as_u64().unwrap() + 5
    );

    let requests = ended_requests(&server, 1).await;
    let body = requests[0].body_value();
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"]["include_usage"], true);
    assert!(requests[0]
        .header("user-agent")
        .is_some_and(|agent| agent.starts_with("OpenAI/Python")));
    assert_eq!(
        requests[0].stream_outcome(),
        &StreamOutcome::Completed { content_events: 5 }
    );
}

#[tokio::test]
async fn openai_python_assembles_two_streamed_tool_calls() {
    let server = MockChatServer::builder()
        .reply(weather_reply())
        .start()
        .await;
    let Some(run) = run_client(Sdk::OpenAiPython, &server, "chat_tool_calls").await else {
        return;
    };
    let result = &run.result;
    // By hand, joining deltas by index.
    assert_weather_calls(&result["manual"]);
    assert_eq!(result["finish_reasons"], json!(["tool_calls"]));
    // The SDK's own accumulator (`chat.completions.stream`), on a second request, so the
    // second call has a new id of its own.
    assert_weather_calls(&result["helper"]);
    assert_eq!(result["helper_finish_reason"], "tool_calls");
    assert_eq!(result["helper_content"], "Let me check.");
    assert_eq!(
        result["helper_done_events"],
        json!([
            { "index": 0, "name": "get_weather", "arguments": PARIS_ARGUMENTS },
            { "index": 1, "name": "get_time", "arguments": TIME_ARGUMENTS },
        ])
    );

    let requests = ended_requests(&server, 2).await;
    for request in &requests {
        let tools = &request.body_value()["tools"];
        assert_eq!(tools[0]["function"]["name"], "get_weather");
        assert_eq!(
            request.stream_outcome(),
            &StreamOutcome::Completed {
                content_events: WEATHER_CONTENT_EVENTS
            }
        );
    }
}

#[tokio::test]
async fn openai_python_streams_a_responses_api_response_with_text_and_a_function_call() {
    let server = MockChatServer::builder()
        .reply(
            Reply::steps([
                Step::token("It is"),
                Step::token(" sunny."),
                Step::tool_call(
                    ToolCall::function("get_weather", json!({ "city": "Paris" }))
                        .with_id("call_weather"),
                ),
            ])
            .token_delay(Duration::from_millis(2)),
        )
        .start()
        .await;
    let Some(run) = run_client(Sdk::OpenAiPython, &server, "responses_stream").await else {
        return;
    };
    let result = &run.result;
    // `responses.create(stream=True)`: typed events, deltas joined.
    assert_eq!(result["text"], "It is sunny.");
    let types: Vec<&str> = result["types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(types.first(), Some(&"response.created"));
    assert_eq!(types.last(), Some(&"response.completed"));
    assert!(types.contains(&"response.function_call_arguments.delta"));
    assert_eq!(result["arguments_done"], json!([r#"{"city":"Paris"}"#]));
    assert_eq!(result["completed_status"], "completed");
    assert_eq!(result["completed_output_text"], "It is sunny.");
    // `responses.stream(...)` and its final response.
    assert_eq!(result["helper_text"], "It is sunny.");
    assert_eq!(result["final_status"], "completed");
    assert_eq!(result["final_output_text"], "It is sunny.");
    assert_eq!(
        result["final_output_types"],
        json!(["message", "function_call"])
    );
    assert_eq!(
        result["final_function_calls"],
        json!([{ "call_id": "call_weather", "name": "get_weather", "arguments": r#"{"city":"Paris"}"# }])
    );

    let requests = ended_requests(&server, 2).await;
    for request in &requests {
        // The same count as Anthropic's: two tokens, the call and its five fragments.
        assert_eq!(
            request.stream_outcome(),
            &StreamOutcome::Completed { content_events: 8 }
        );
        assert_eq!(request.path(), "/v1/responses");
        assert_eq!(
            request.body_value()["input"],
            "What's the weather in Paris?"
        );
    }
}

#[tokio::test]
async fn openai_python_reads_a_streamed_refusal_into_the_message_refusal() {
    let server = MockChatServer::builder()
        .reply(Reply::refusal("I can't help with that.").token_delay(Duration::from_millis(2)))
        .start()
        .await;
    let Some(run) = run_client(Sdk::OpenAiPython, &server, "chat_refusal").await else {
        return;
    };
    let result = &run.result;
    assert_eq!(result["deltas"], "I can't help with that.");
    assert_eq!(result["refusal"], "I can't help with that.");
    // The role chunk carries `"content":""` (the shape captured from the live API for
    // text), so the helper's message has empty content rather than none.
    assert!(
        result["content"] == "" || result["content"].is_null(),
        "{result}"
    );
    assert_eq!(result["finish_reason"], "stop");
    let requests = ended_requests(&server, 1).await;
    assert_eq!(
        requests[0].stream_outcome(),
        &StreamOutcome::Completed { content_events: 5 }
    );
}

#[tokio::test]
async fn openai_python_sees_a_failed_responses_stream_as_error_then_response_failed() {
    let server = MockChatServer::builder()
        .reply(Reply::text("one two three").error_after(2, StreamError::server_error()))
        .start()
        .await;
    let Some(run) = run_client(Sdk::OpenAiPython, &server, "responses_error").await else {
        return;
    };
    let result = &run.result;
    assert_eq!(result["text"], "one two");
    let types = result["types"].as_array().unwrap();
    assert_eq!(types[types.len() - 2], "error");
    assert_eq!(types[types.len() - 1], "response.failed");
    assert_eq!(
        result["error_event"]["message"],
        "The server had an error while processing your request. Sorry about that!"
    );
    assert_eq!(result["failed"]["status"], "failed");
    assert_eq!(result["failed"]["error"]["code"], "server_error");
    let requests = ended_requests(&server, 1).await;
    assert_ended_after_an_error(&requests[0], 2);
}

/// The SDK's own retry logic (`max_retries=2`) meets a 429 and must wait as told.
async fn openai_python_retries(rate_limit: Reply, delay: Duration) {
    let server = MockChatServer::builder()
        .reply_sequence([rate_limit, Reply::text("after the retry")])
        .start()
        .await;
    let Some(run) = run_client(Sdk::OpenAiPython, &server, "retry_rate_limit").await else {
        return;
    };
    assert_eq!(run.result["text"], "after the retry");
    let seconds = run.result["seconds"].as_f64().unwrap();
    assert!(
        seconds >= delay.as_secs_f64(),
        "the call took {seconds} s, less than the {delay:?} the server asked to wait"
    );

    let requests = ended_requests(&server, 2).await;
    assert_eq!(requests[0].response_status(), Some(429));
    assert_eq!(requests[0].stream_outcome(), &StreamOutcome::NotStreamed);
    let waited = requests[1].received_at() - requests[0].ended_at().unwrap();
    assert!(
        waited >= delay,
        "retried after {waited:?}, before {delay:?}"
    );
    assert_eq!(requests[0].header("x-stainless-retry-count"), Some("0"));
    assert_eq!(requests[1].header("x-stainless-retry-count"), Some("1"));
    assert_eq!(
        requests[1].stream_outcome(),
        &StreamOutcome::Completed { content_events: 3 }
    );
    assert!(run.elapsed >= delay);
}

#[tokio::test]
async fn openai_python_retries_a_429_after_retry_after_ms() {
    // `retry_after` sends `retry-after-ms: 300` (and `retry-after: 1`, whole seconds);
    // the SDK prefers the milliseconds.
    let delay = Duration::from_millis(300);
    openai_python_retries(Reply::rate_limited().retry_after(delay), delay).await;
}

#[tokio::test]
async fn openai_python_retries_a_429_after_retry_after_seconds() {
    let delay = Duration::from_secs(1);
    openai_python_retries(Reply::rate_limited().header("retry-after", "1"), delay).await;
}

#[tokio::test]
async fn openai_python_raises_api_error_on_a_mid_stream_error() {
    let server = MockChatServer::builder()
        .reply(Reply::text("one two three").error_after(2, StreamError::server_error()))
        .start()
        .await;
    let Some(run) = run_client(Sdk::OpenAiPython, &server, "mid_stream_error").await else {
        return;
    };
    let result = &run.result;
    assert_eq!(result["text"], "one two");
    assert_eq!(result["error"], "APIError");
    let message = "The server had an error while processing your request. Sorry about that!";
    assert_eq!(result["message"], message);
    assert_eq!(result["body"]["message"], message);
    assert_eq!(result["body"]["type"], "server_error");

    let requests = ended_requests(&server, 1).await;
    assert_ended_after_an_error(&requests[0], 2);
}

#[tokio::test]
async fn openai_python_raises_api_connection_error_when_the_connection_is_cut() {
    let server = MockChatServer::builder()
        .reply(Reply::text("one two three").disconnect_after(2))
        .start()
        .await;
    let Some(run) = run_client(Sdk::OpenAiPython, &server, "disconnect").await else {
        return;
    };
    assert_eq!(run.result["text"], "one two");
    assert_eq!(run.result["error"], "APIConnectionError");

    let requests = ended_requests(&server, 1).await;
    assert_eq!(
        requests[0].stream_outcome(),
        &StreamOutcome::Cut {
            kind: CutKind::Disconnected,
            content_events: 2
        }
    );
}

/// Text, then a tool call, in Anthropic's framing.
fn anthropic_reply() -> Reply {
    Reply::steps([
        Step::token("Let me"),
        Step::token(" check."),
        Step::tool_call(
            ToolCall::function("get_weather", json!({ "city": "Paris" })).with_id("toolu_paris"),
        ),
    ])
    .token_delay(Duration::from_millis(2))
}

/// Two tokens, the event naming the call and its five argument fragments.
const ANTHROPIC_CONTENT_EVENTS: usize = 2 + 1 + 5;

fn assert_anthropic_message(result: &Value) {
    assert_eq!(result["text"], "Let me check.");
    assert_eq!(result["role"], "assistant");
    assert_eq!(result["model"], "claude-haiku-4-5");
    assert!(
        result["id"].as_str().unwrap().starts_with("msg_"),
        "{result}"
    );
    assert_eq!(
        result["content"],
        json!([
            { "type": "text", "text": "Let me check." },
            { "type": "tool_use", "id": "toolu_paris", "name": "get_weather", "input": { "city": "Paris" } },
        ])
    );
    assert_eq!(result["stop_reason"], "tool_use");
    assert!(result["usage"]["input_tokens"].as_u64().unwrap() > 0);
    assert!(result["usage"]["output_tokens"].as_u64().unwrap() > 0);
}

/// The key reached the server, as `x-api-key` or (newer SDKs) as a bearer token.
fn assert_anthropic_key(request: &ReceivedRequest) {
    assert!(
        request.header("x-api-key") == Some("test-key")
            || request.header("authorization") == Some("Bearer test-key"),
        "headers: {:#?}",
        request.headers()
    );
}

#[tokio::test]
async fn anthropic_python_streams_text_and_tool_use_into_a_final_message() {
    let server = MockChatServer::builder()
        .reply(anthropic_reply())
        .start()
        .await;
    let Some(run) = run_client(Sdk::AnthropicPython, &server, "messages_stream").await else {
        return;
    };
    assert_anthropic_message(&run.result);

    let requests = ended_requests(&server, 1).await;
    assert_eq!(requests[0].path(), "/v1/messages");
    assert_eq!(requests[0].body_value()["stream"], true);
    assert_anthropic_key(&requests[0]);
    assert!(requests[0].header("anthropic-version").is_some());
    assert_eq!(
        requests[0].stream_outcome(),
        &StreamOutcome::Completed {
            content_events: ANTHROPIC_CONTENT_EVENTS
        }
    );
}

#[tokio::test]
async fn anthropic_python_raises_on_a_mid_stream_overloaded_error() {
    let server = MockChatServer::builder()
        .reply(Reply::text("one two three").error_after(1, StreamError::overloaded()))
        .start()
        .await;
    let Some(run) = run_client(Sdk::AnthropicPython, &server, "mid_stream_error").await else {
        return;
    };
    let result = &run.result;
    assert_eq!(result["text"], "one");
    // The stream's status was 200, so the SDK raises its generic status error with the
    // event's body.
    assert_eq!(result["error"], "APIStatusError");
    assert_eq!(result["status_code"], 200);
    assert_eq!(result["body"]["type"], "error");
    assert_eq!(result["body"]["error"]["type"], "overloaded_error");
    assert_eq!(
        result["body"]["error"]["message"],
        "The engine is currently overloaded, please try again later."
    );
    let requests = ended_requests(&server, 1).await;
    assert_ended_after_an_error(&requests[0], 1);
}

#[tokio::test]
async fn anthropic_python_retries_a_529_after_retry_after_ms() {
    let delay = Duration::from_millis(300);
    let server = MockChatServer::builder()
        .reply_sequence([
            Reply::overloaded().retry_after(delay),
            Reply::text("after the retry"),
        ])
        .start()
        .await;
    let Some(run) = run_client(Sdk::AnthropicPython, &server, "retry_overloaded").await else {
        return;
    };
    assert_eq!(run.result["text"], "after the retry");
    assert_eq!(run.result["stop_reason"], "end_turn");
    assert!(run.result["seconds"].as_f64().unwrap() >= delay.as_secs_f64());

    let requests = ended_requests(&server, 2).await;
    assert_eq!(requests[0].response_status(), Some(529));
    let waited = requests[1].received_at() - requests[0].ended_at().unwrap();
    assert!(
        waited >= delay,
        "retried after {waited:?}, before {delay:?}"
    );
    assert_eq!(requests[1].header("x-stainless-retry-count"), Some("1"));
}

#[tokio::test]
async fn openai_node_streams_a_chat_completion_and_joins_the_deltas() {
    let server = MockChatServer::builder()
        .reply(Reply::text("The quick brown fox jumps.").token_delay(Duration::from_millis(2)))
        .start()
        .await;
    let Some(run) = run_client(Sdk::OpenAiNode, &server, "chat_stream").await else {
        return;
    };
    let result = &run.result;
    assert_eq!(result["text"], "The quick brown fox jumps.");
    assert_eq!(result["finish_reasons"], json!(["stop"]));
    assert_eq!(result["chunks"], 8);
    assert_eq!(result["ids"].as_array().unwrap().len(), 1, "{result}");
    assert_eq!(result["usage"]["completion_tokens"], 5);

    let requests = ended_requests(&server, 1).await;
    assert!(requests[0]
        .header("user-agent")
        .is_some_and(|agent| agent.starts_with("OpenAI/JS")));
    assert_eq!(
        requests[0].stream_outcome(),
        &StreamOutcome::Completed { content_events: 5 }
    );
}

#[tokio::test]
async fn openai_node_assembles_two_streamed_tool_calls() {
    let server = MockChatServer::builder()
        .reply(weather_reply())
        .start()
        .await;
    let Some(run) = run_client(Sdk::OpenAiNode, &server, "chat_tool_calls").await else {
        return;
    };
    let result = &run.result;
    assert_weather_calls(&result["calls"]);
    assert_eq!(result["finish_reason"], "tool_calls");
    assert_eq!(result["content"], "Let me check.");
    assert_eq!(
        result["done_events"],
        json!([
            { "index": 0, "name": "get_weather", "arguments": PARIS_ARGUMENTS },
            { "index": 1, "name": "get_time", "arguments": TIME_ARGUMENTS },
        ])
    );
    let requests = ended_requests(&server, 1).await;
    assert_eq!(
        requests[0].stream_outcome(),
        &StreamOutcome::Completed {
            content_events: WEATHER_CONTENT_EVENTS
        }
    );
}

#[tokio::test]
async fn openai_node_throws_api_error_on_a_mid_stream_error() {
    let server = MockChatServer::builder()
        .reply(Reply::text("one two three").error_after(2, StreamError::server_error()))
        .start()
        .await;
    let Some(run) = run_client(Sdk::OpenAiNode, &server, "mid_stream_error").await else {
        return;
    };
    let result = &run.result;
    assert_eq!(result["text"], "one two");
    assert_eq!(result["error"], "APIError");
    assert_eq!(result["body"]["type"], "server_error");
    assert_eq!(
        result["message"],
        "The server had an error while processing your request. Sorry about that!"
    );
    let requests = ended_requests(&server, 1).await;
    assert_ended_after_an_error(&requests[0], 2);
}

#[tokio::test]
async fn anthropic_node_streams_text_and_tool_use_into_a_final_message() {
    let server = MockChatServer::builder()
        .reply(anthropic_reply())
        .start()
        .await;
    let Some(run) = run_client(Sdk::AnthropicNode, &server, "messages_stream").await else {
        return;
    };
    assert_anthropic_message(&run.result);

    let requests = ended_requests(&server, 1).await;
    assert_eq!(requests[0].path(), "/v1/messages");
    assert_anthropic_key(&requests[0]);
    assert_eq!(
        requests[0].stream_outcome(),
        &StreamOutcome::Completed {
            content_events: ANTHROPIC_CONTENT_EVENTS
        }
    );
}

#[tokio::test]
async fn anthropic_node_throws_on_a_mid_stream_overloaded_error() {
    let server = MockChatServer::builder()
        .reply(Reply::text("one two three").error_after(1, StreamError::overloaded()))
        .start()
        .await;
    let Some(run) = run_client(Sdk::AnthropicNode, &server, "mid_stream_error").await else {
        return;
    };
    let result = &run.result;
    assert_eq!(result["text"], "one");
    // No HTTP status for an error event: the SDK throws its base `APIError` with the
    // event's error type and body.
    assert_eq!(result["error"], "APIError");
    assert_eq!(result["type"], "overloaded_error");
    assert_eq!(result["status"], Value::Null);
    assert_eq!(result["body"]["type"], "error");
    assert_eq!(result["body"]["error"]["type"], "overloaded_error");
    let requests = ended_requests(&server, 1).await;
    assert_ended_after_an_error(&requests[0], 1);
}

/// The SDK's view of a rate limit: 3 requests a window (6 seconds here, so that one
/// request refills every 2 s and the retry waits at most that, in real time; the headers and waits scale with the window, see
/// `tests/e2e/traffic.rs` for a per-minute limit in virtual time).
#[tokio::test]
async fn openai_python_counts_down_a_rate_limit_meets_its_429_and_retries_after_the_computed_time()
{
    let server = MockChatServer::builder()
        .reply(Reply::text("Within quota."))
        .rate_limit(chatmock::RateLimit::per(Duration::from_secs(6)).requests(3))
        .start()
        .await;
    let Some(run) = run_client(Sdk::OpenAiPython, &server, "rate_limit_quota").await else {
        return;
    };
    let calls = run.result["calls"].as_array().unwrap();
    for (call, remaining) in calls.iter().zip(["2", "1", "0"]) {
        assert_eq!(call["text"], "Within quota.");
        assert_eq!(call["headers"]["x-ratelimit-limit-requests"], "3");
        assert_eq!(call["headers"]["x-ratelimit-remaining-requests"], remaining);
    }
    let refused = &run.result["refused"];
    assert_eq!(refused["status_code"], 429, "{refused}");
    assert_eq!(refused["code"], "rate_limit_exceeded");
    assert_eq!(refused["headers"]["x-ratelimit-remaining-requests"], "0");
    let wait_ms: f64 = refused["headers"]["retry-after-ms"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    // At most 2 s since the three calls drained the bucket: one request refills in 2 s.
    assert!(wait_ms > 0.0 && wait_ms <= 2000.0, "{wait_ms}");

    let retried = &run.result["retried"];
    assert_eq!(retried["text"], "Within quota.");
    let retries = retried["retries_taken"].as_u64().unwrap() as usize;
    let requests = ended_requests(&server, 5 + retries).await;
    let statuses: Vec<Option<u16>> = requests.iter().map(|r| r.response_status()).collect();
    // The retried call met at most one 429: the SDK waited what it said, the time the
    // bucket needs, and was let through at once. Retrying early would have met another.
    let mut expected = vec![Some(200), Some(200), Some(200), Some(429)];
    expected.extend(std::iter::repeat_n(Some(429), retries));
    expected.push(Some(200));
    assert_eq!(statuses, expected);
    assert!(retries <= 1, "{retries} retries");
    // One request's worth comes back 2 s after the bucket was first used.
    let through = requests.last().unwrap().received_at() - requests[0].received_at();
    assert!(through >= Duration::from_secs(2), "{through:?}");
}

#[tokio::test]
async fn anthropic_python_reads_anthropic_ratelimit_headers_and_retries_a_refused_request() {
    let server = MockChatServer::builder()
        .reply(Reply::text("Within quota."))
        .rate_limit(
            chatmock::RateLimit::per(Duration::from_secs(4))
                .requests(2)
                .output_tokens(100),
        )
        .start()
        .await;
    let Some(run) = run_client(Sdk::AnthropicPython, &server, "rate_limit_quota").await else {
        return;
    };
    let calls = run.result["calls"].as_array().unwrap();
    // "Within quota." is 2 output tokens; the bucket refills 25 a second meanwhile.
    for (call, requests_left) in calls.iter().zip(["1", "0"]) {
        let headers = &call["headers"];
        assert_eq!(call["text"], "Within quota.");
        assert_eq!(headers["anthropic-ratelimit-requests-limit"], "2");
        assert_eq!(
            headers["anthropic-ratelimit-requests-remaining"],
            requests_left
        );
        assert_eq!(headers["anthropic-ratelimit-output-tokens-limit"], "100");
        let output_left: u64 = headers["anthropic-ratelimit-output-tokens-remaining"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((96..=98).contains(&output_left), "{output_left}");
        let reset = headers["anthropic-ratelimit-requests-reset"]
            .as_str()
            .unwrap();
        assert!(reset.ends_with('Z') && reset.len() == 20, "{reset}");
    }
    let refused = &run.result["refused"];
    assert_eq!(refused["status_code"], 429, "{refused}");
    assert_eq!(refused["body"]["error"]["type"], "rate_limit_error");
    assert_eq!(
        refused["headers"]["anthropic-ratelimit-requests-remaining"],
        "0"
    );
    assert!(refused["headers"]["retry-after"].is_string(), "{refused}");
    assert_eq!(run.result["retried"]["text"], "Within quota.");
    let requests = ended_requests(&server, 5).await;
    assert_eq!(requests[2].response_status(), Some(429));
    assert_eq!(requests.last().unwrap().response_status(), Some(200));
}

/// The two turns of the weather agent loop, as mocks: turn 1 calls `get_weather`, turn
/// 2 is matched by the tool result the client sends back.
async fn mount_weather_loop(server: &MockChatServer) {
    use chatmock::{matchers, Mock};
    Mock::given(matchers::turn(1))
        .and(matchers::declares_tool("get_weather"))
        .respond_with(Reply::tool_call(ToolCall::function(
            "get_weather",
            json!({ "city": "Paris" }),
        )))
        .named("call the weather tool")
        .expect(1)
        .mount(server)
        .await;
    Mock::given(matchers::tool_result_contains("18"))
        .respond_with(Reply::text("It is 18°C in Paris."))
        .named("answer from the tool result")
        .expect(1)
        .mount(server)
        .await;
}

/// What the server saw of a weather loop: the second request brings back the result of
/// the first one's call, under its id, and the third matched nothing.
async fn assert_weather_loop_recorded(server: &MockChatServer, call_id: &str) {
    let requests = server.received_requests().await;
    assert_eq!(requests.len(), 3);
    let second = requests[1].chat().unwrap();
    assert_eq!(second.turn(), 2);
    let result = second.latest_tool_results().next().expect("a tool result");
    assert_eq!(result.call_id(), Some(call_id));
    assert_eq!(result.name(), Some("get_weather"));
    assert_eq!(result.content(), "Paris: 18°C");
    assert_eq!(
        second.tool_calls().next().unwrap().arguments(),
        &json!({ "city": "Paris" })
    );
    assert_eq!(requests[2].response_status(), Some(404));
}

fn assert_third_request_explained(third: &Value) {
    assert_eq!(third["status"], 404, "{third}");
    let message = third["message"].as_str().unwrap();
    // The turn-1 mock is as close as the turn-2 one (one failing matcher each), and comes
    // first; either way the report names the matcher and what the request had.
    assert!(
        message.contains("The closest is Mock #0 \"call the weather tool\""),
        "{message}"
    );
    assert!(
        message.contains("`turn(1)` did not: the request is turn 3"),
        "{message}"
    );
}

#[tokio::test]
async fn openai_python_runs_an_agent_loop_tool_call_result_answer() {
    let server = MockChatServer::start().await;
    mount_weather_loop(&server).await;
    let Some(run) = run_client(Sdk::OpenAiPython, &server, "agent_loop").await else {
        // Skipped: the loop's expectations were never meant to be met.
        server.reset().await;
        return;
    };
    let result = &run.result;
    assert_eq!(result["call"]["name"], "get_weather");
    assert_eq!(result["call"]["arguments"], r#"{"city":"Paris"}"#);
    assert_eq!(result["answer"], "It is 18°C in Paris.");
    assert_third_request_explained(&result["third"]);
    let call_id = result["call"]["id"].as_str().unwrap();
    assert!(call_id.starts_with("call_"), "{call_id}");
    assert_weather_loop_recorded(&server, call_id).await;
}

#[tokio::test]
async fn anthropic_python_runs_an_agent_loop_tool_use_result_answer() {
    let server = MockChatServer::start().await;
    mount_weather_loop(&server).await;
    let Some(run) = run_client(Sdk::AnthropicPython, &server, "agent_loop").await else {
        // Skipped: the loop's expectations were never meant to be met.
        server.reset().await;
        return;
    };
    let result = &run.result;
    assert_eq!(result["tool_use"]["name"], "get_weather");
    assert_eq!(result["tool_use"]["input"], json!({ "city": "Paris" }));
    assert_eq!(result["stop_reason"], "tool_use");
    assert_eq!(result["answer"], "It is 18°C in Paris.");
    assert_third_request_explained(&result["third"]);
    let call_id = result["tool_use"]["id"].as_str().unwrap();
    assert!(call_id.starts_with("toolu_"), "{call_id}");
    assert_weather_loop_recorded(&server, call_id).await;
}

/// Thinking with a scripted signature, a redacted block and thinking with a derived
/// signature, then text and a tool call, with cache counts the script states.
fn thinking_reply() -> Reply {
    Reply::steps([
        Step::thinking(Thinking::new("The user wants Paris.").with_signature("EqQBCkYIARgC")),
        Step::redacted_thinking("EmwKAhgBEgy3va3pzix"),
        Step::thinking("Check the forecast."),
        Step::token("Let me check."),
        Step::tool_call(
            ToolCall::function("get_weather", json!({ "city": "Paris" })).with_id("toolu_paris"),
        ),
    ])
    .token_delay(Duration::from_millis(2))
    .usage(Usage {
        cached_input_tokens: Some(1024),
        cache_creation_input_tokens: Some(64),
        ..Usage::default()
    })
}

/// What both Anthropic SDKs must make of [`thinking_reply`].
fn assert_anthropic_thinking(result: &Value) {
    assert_eq!(
        result["thinking"],
        "The user wants Paris.Check the forecast."
    );
    let signatures = result["signatures"].as_array().unwrap();
    assert_eq!(signatures.len(), 2, "{result}");
    assert_eq!(signatures[0], "EqQBCkYIARgC");
    let derived = signatures[1].as_str().unwrap();
    assert!(!derived.is_empty() && derived != "EqQBCkYIARgC", "{result}");
    assert_eq!(result["text"], "Let me check.");
    assert_eq!(
        result["content"],
        json!([
            { "type": "thinking", "thinking": "The user wants Paris.", "signature": "EqQBCkYIARgC" },
            { "type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix" },
            { "type": "thinking", "thinking": "Check the forecast.", "signature": derived },
            { "type": "text", "text": "Let me check." },
            { "type": "tool_use", "id": "toolu_paris", "name": "get_weather", "input": { "city": "Paris" } },
        ])
    );
    assert_eq!(result["stop_reason"], "tool_use");
    assert_eq!(result["usage"]["cache_read_input_tokens"], 1024);
    assert_eq!(result["usage"]["cache_creation_input_tokens"], 64);
    // Four and three words of thinking, the redacted block, the text, the call's six.
    assert_eq!(result["usage"]["output_tokens"], 4 + 3 + 1 + 1 + 6);
}

#[tokio::test]
async fn anthropic_python_streams_thinking_with_signatures_into_the_final_message() {
    let server = MockChatServer::builder()
        .reply(thinking_reply())
        .start()
        .await;
    let Some(run) = run_client(Sdk::AnthropicPython, &server, "thinking_stream").await else {
        return;
    };
    assert_anthropic_thinking(&run.result);
    let requests = ended_requests(&server, 1).await;
    assert_eq!(requests[0].body_value()["thinking"]["type"], "enabled");
}

#[tokio::test]
async fn anthropic_node_streams_thinking_with_signatures_into_the_final_message() {
    let server = MockChatServer::builder()
        .reply(thinking_reply())
        .start()
        .await;
    let Some(run) = run_client(Sdk::AnthropicNode, &server, "thinking_stream").await else {
        return;
    };
    assert_anthropic_thinking(&run.result);
}

#[tokio::test]
async fn openai_python_streams_reasoning_summaries_and_keeps_the_reasoning_item() {
    let server = MockChatServer::builder()
        .reply(thinking_reply())
        .start()
        .await;
    let Some(run) = run_client(Sdk::OpenAiPython, &server, "responses_reasoning").await else {
        return;
    };
    let result = &run.result;
    let types: Vec<&str> = result["types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|kind| kind.as_str().unwrap())
        .collect();
    // The first reasoning item's events, in the documented order.
    let start = types
        .iter()
        .position(|kind| *kind == "response.output_item.added")
        .unwrap();
    assert_eq!(
        types[start..start + 3],
        [
            "response.output_item.added",
            "response.reasoning_summary_part.added",
            "response.reasoning_summary_text.delta",
        ]
    );
    assert_eq!(
        result["summary"],
        "The user wants Paris.Check the forecast."
    );
    assert_eq!(
        result["summary_done"],
        json!(["The user wants Paris.", "Check the forecast."])
    );
    assert_eq!(
        result["final_output_types"],
        json!([
            "reasoning",
            "reasoning",
            "reasoning",
            "message",
            "function_call"
        ])
    );
    let reasoning = result["final_reasoning"].as_array().unwrap();
    assert_eq!(reasoning[0]["summary"], json!(["The user wants Paris."]));
    assert_eq!(reasoning[0]["encrypted_content"], "EqQBCkYIARgC");
    // The redacted block is a reasoning item with no summary, only its data.
    assert_eq!(reasoning[1]["summary"], json!([]));
    assert_eq!(reasoning[1]["encrypted_content"], "EmwKAhgBEgy3va3pzix");
    assert!(reasoning[2]["encrypted_content"].is_string(), "{result}");
    assert_eq!(result["final_output_text"], "Let me check.");
    let usage = &result["usage"];
    assert_eq!(usage["cached_tokens"], 1024);
    assert_eq!(usage["reasoning_tokens"], 4 + 3 + 1);
    assert_eq!(usage["output_tokens"], 4 + 3 + 1 + 1 + 6);
    assert_eq!(
        usage["total_tokens"].as_u64(),
        Some(usage["input_tokens"].as_u64().unwrap() + 15)
    );
}

#[tokio::test]
async fn openai_python_decodes_base64_embeddings_and_reads_floats() {
    // Nothing mounted: embeddings need no script.
    let server = MockChatServer::start().await;
    let Some(run) = run_client(Sdk::OpenAiPython, &server, "embeddings").await else {
        return;
    };
    let result = &run.result;
    let vector = |key: &str, index: usize| -> Vec<f64> {
        result[key][index]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    let (cat, revenue) = (vector("default", 0), vector("default", 1));
    assert_eq!(cat.len(), 1536);
    let length: f64 = cat.iter().map(|x| x * x).sum();
    assert!((length - 1.0).abs() < 1e-4, "{length}");
    assert_ne!(cat, revenue);
    assert_eq!(vector("floats", 0).len(), 32);
    assert_eq!(result["model"], "text-embedding-3-small");

    let requests = ended_requests(&server, 2).await;
    // The SDK asks for base64 unless told otherwise, and decodes it.
    assert_eq!(requests[0].body_value()["encoding_format"], "base64");
    assert_eq!(requests[1].body_value()["encoding_format"], "float");
}

#[tokio::test]
async fn openai_python_lists_and_retrieves_models() {
    let server = MockChatServer::builder()
        .models(["gpt-4o", "o4-mini"])
        .start()
        .await;
    let Some(run) = run_client(Sdk::OpenAiPython, &server, "models").await else {
        return;
    };
    assert_eq!(run.result["ids"], json!(["gpt-4o", "o4-mini"]));
    assert_eq!(run.result["retrieved"], "gpt-4o");
    assert_eq!(
        run.result["missing"],
        json!({ "status_code": 404, "code": "model_not_found" })
    );
}

#[tokio::test]
async fn anthropic_python_pages_through_the_models_and_retrieves_one() {
    let server = MockChatServer::builder()
        .models(["claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-1"])
        .start()
        .await;
    let Some(run) = run_client(Sdk::AnthropicPython, &server, "models").await else {
        return;
    };
    assert_eq!(
        run.result["ids"],
        json!(["claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-1"])
    );
    assert_eq!(
        run.result["retrieved"],
        json!({ "id": "claude-opus-4-1", "display_name": "Claude Opus 4.1" })
    );
    // Two pages: the SDK followed `last_id` with `after_id`.
    let requests = ended_requests(&server, 3).await;
    assert_eq!(
        requests[1].query(),
        Some("limit=2&after_id=claude-haiku-4-5")
    );
}

/// Thinking with a scripted signature (base64, as Gemini's SDK decodes it), then text and
/// a tool call.
fn gemini_thinking_reply() -> Reply {
    Reply::steps([
        Step::thinking(Thinking::new("The user wants Paris.").with_signature("EqQBCkYIARgC")),
        Step::token("Let me check."),
        Step::tool_call(ToolCall::function(
            "get_weather",
            json!({ "city": "Paris" }),
        )),
    ])
    .usage(Usage {
        cached_input_tokens: Some(3),
        ..Usage::default()
    })
}

#[tokio::test]
async fn google_genai_streams_thought_parts_text_and_a_call_with_thought_counts() {
    let server = MockChatServer::builder()
        .reply(gemini_thinking_reply())
        .start()
        .await;
    let Some(run) = run_client(Sdk::GeminiPython, &server, "thinking_stream").await else {
        return;
    };
    let result = &run.result;
    assert_eq!(result["thoughts"], "The user wants Paris.");
    assert_eq!(result["text"], "Let me check.");
    assert_eq!(
        result["calls"],
        json!([{ "name": "get_weather", "args": { "city": "Paris" } }])
    );
    // The SDK decoded the signature from base64; encoded again it is the scripted one.
    assert_eq!(result["signatures"], json!(["EqQBCkYIARgC"]));
    let usage = &result["usage"];
    assert_eq!(usage["thoughts"], 4);
    assert_eq!(usage["candidates"], 1 + 6);
    assert_eq!(usage["cached"], 3);
    assert_eq!(
        usage["total"].as_u64(),
        Some(usage["prompt"].as_u64().unwrap() + 4 + 7)
    );
    let requests = ended_requests(&server, 1).await;
    assert!(requests[0].path().ends_with(":streamGenerateContent"));
    assert_eq!(requests[0].query(), Some("alt=sse"));
}

#[tokio::test]
async fn google_genai_reads_a_complete_thought_an_error_and_embeddings() {
    // The SDK picks the API version in the path, so the mocks match on the body.
    let server = MockChatServer::builder()
        .reply(Reply::text("Sunny.").thinking("Look it up."))
        .start()
        .await;
    Mock::given(matchers::body_partial_json(
        json!({ "contents": [{ "parts": [{ "text": "Hi" }] }] }),
    ))
    .respond_with(Reply::http_error(429))
    .mount(&server)
    .await;
    let Some(run) = run_client(Sdk::GeminiPython, &server, "complete").await else {
        return;
    };
    assert_eq!(run.result["thought_parts"], json!(["Look it up."]));
    assert_eq!(run.result["text"], "Sunny.");
    assert_eq!(run.result["thoughts_token_count"], 3);

    let Some(run) = run_client(Sdk::GeminiPython, &server, "error").await else {
        return;
    };
    assert_eq!(
        run.result,
        json!({ "error": "ClientError", "code": 429, "status": "RESOURCE_EXHAUSTED",
                "sdk": run.result["sdk"] })
    );

    let Some(run) = run_client(Sdk::GeminiPython, &server, "embed").await else {
        return;
    };
    let vectors = run.result["vectors"].as_array().unwrap();
    assert_eq!(vectors[0].as_array().unwrap().len(), 16);
    assert_eq!(vectors[0], vectors[1], "the same text, the same vector");
}

#[tokio::test]
async fn the_ollama_library_streams_thinking_text_and_a_call_and_reads_the_counts() {
    let server = MockChatServer::builder()
        .reply(Reply::steps([
            Step::thinking("Paris, then."),
            Step::token("Checking."),
            Step::tool_call(ToolCall::function(
                "get_weather",
                json!({ "city": "Paris" }),
            )),
        ]))
        .start()
        .await;
    let Some(run) = run_client(Sdk::OllamaPython, &server, "thinking_stream").await else {
        return;
    };
    let result = &run.result;
    assert_eq!(result["thinking"], "Paris, then.");
    assert_eq!(result["content"], "Checking.");
    assert_eq!(
        result["calls"],
        json!([{ "name": "get_weather", "arguments": { "city": "Paris" } }])
    );
    assert_eq!(result["done"], true);
    assert_eq!(result["eval_count"], 2 + 1 + 6);
    assert!(result["prompt_eval_count"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn the_ollama_library_reads_an_error_embeddings_and_the_model_list() {
    let server = MockChatServer::builder()
        .reply(
            Reply::http_error(404).error_message("model \"qwen3\" not found, try pulling it first"),
        )
        .models(["qwen3:8b", "nomic-embed-text"])
        .start()
        .await;
    let Some(run) = run_client(Sdk::OllamaPython, &server, "error").await else {
        return;
    };
    assert_eq!(run.result["error"], "ResponseError");
    assert_eq!(run.result["status_code"], 404);
    assert_eq!(
        run.result["message"],
        "model \"qwen3\" not found, try pulling it first"
    );

    // Nothing mounted: embeddings and the model list need no script.
    let server = MockChatServer::builder()
        .models(["qwen3:8b", "nomic-embed-text"])
        .start()
        .await;
    let Some(run) = run_client(Sdk::OllamaPython, &server, "embed_and_list").await else {
        return;
    };
    assert_eq!(run.result["dimensions"], json!([768, 768]));
    assert_eq!(
        run.result["models"],
        json!(["qwen3:8b", "nomic-embed-text:latest"])
    );
}
