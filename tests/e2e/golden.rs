//! Golden files: the exact bytes every wire format puts on the wire for three standard
//! scripts, streamed and complete, checked in under `tests/golden/` so that any change to
//! them shows up as a reviewable diff. Each file is the status, the content type, a blank
//! line, then the body as received. After an intended change, regenerate them with
//! `CHATMOCK_UPDATE_GOLDEN=1 cargo test --test e2e golden` and review the diff.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use chatmock::{MockChatServer, Reply, Step, StreamError, Thinking, ToolCall, Usage};
use reqwest::Method;
use serde_json::{json, Value};

const REGENERATE: &str = "if the change is intended, regenerate with \
                          `CHATMOCK_UPDATE_GOLDEN=1 cargo test --test e2e golden` and review the diff";

/// Thinking (with a scripted and a derived signature, and a redacted block) before text
/// and a tool call, with usage details the script states.
fn thinking() -> Reply {
    Reply::steps([
        Step::thinking(Thinking::new("The user wants Paris.").with_signature("EqQBCkYIARgC")),
        Step::redacted_thinking("EmwKAhgBEgy3va3pzix"),
        Step::thinking("Check the forecast."),
        Step::token("Sunny"),
        Step::tool_call(
            ToolCall::function("get_weather", json!({ "city": "Paris" })).with_id("call_1"),
        ),
    ])
    .usage(Usage {
        cached_input_tokens: Some(2),
        cache_creation_input_tokens: Some(1),
        ..Usage::default()
    })
}

/// The scripts, and the one format a script is for if it is not for all: a reply has
/// only one ending, so text with a tool call, a refusal and a mid-stream error each need
/// a script of their own; thinking sent as `reasoning_content` is Chat Completions' own.
fn scripts() -> [(&'static str, Reply, Option<&'static str>); 5] {
    [
        ("thinking", thinking(), None),
        (
            "thinking_reasoning_content",
            thinking().reasoning_content(),
            Some("openai_chat_completions"),
        ),
        (
            "text_tool_call",
            Reply::steps([
                Step::token("Sunny"),
                Step::token(" today"),
                Step::tool_call(
                    ToolCall::function("get_weather", json!({ "city": "Paris" })).with_id("call_1"),
                ),
            ]),
            None,
        ),
        ("refusal", Reply::refusal("I can't help with that."), None),
        (
            "error_midstream",
            Reply::text("Hello there friend").error_after(2, StreamError::server_error()),
            None,
        ),
    ]
}

/// The scripts golden files of `format` cover.
fn scripts_for(format: &str) -> impl Iterator<Item = (&'static str, Reply)> + '_ {
    scripts()
        .into_iter()
        .filter(move |(_, _, only)| only.is_none_or(|only| only == format))
        .map(|(name, reply, _)| (name, reply))
}

/// (format directory, variant, method, path, request body). The variant says whether the
/// response streams; it ends the file name, after the script's.
type Case = (
    &'static str,
    &'static str,
    Method,
    &'static str,
    Option<Value>,
);

fn cases() -> Vec<Case> {
    let user = json!([{ "role": "user", "content": "Weather in Paris?" }]);
    let chat = |stream: bool| json!({ "model": "gpt-4o", "messages": user, "stream": stream });
    let responses =
        |stream: bool| json!({ "model": "gpt-4o", "input": "Weather in Paris?", "stream": stream });
    let responses_include = |stream: bool| {
        let mut body = responses(stream);
        body["include"] = json!(["reasoning.encrypted_content"]);
        body
    };
    let anthropic = |stream: bool| {
        json!({
            "model": "claude-sonnet-4-5", "max_tokens": 256, "messages": user, "stream": stream
        })
    };
    let gemini =
        json!({ "contents": [{ "role": "user", "parts": [{ "text": "Weather in Paris?" }] }] });
    let mut usage = chat(true);
    usage["stream_options"] = json!({ "include_usage": true });
    let mut ollama_complete = json!({ "model": "llama3.2", "messages": user });
    // Ollama streams unless told otherwise, so the streamed request leaves `stream` out.
    let ollama_stream = ollama_complete.clone();
    ollama_complete["stream"] = json!(false);

    let chat_path = "/v1/chat/completions";
    // Gemini names the method in the path; only the SSE stream asks for `alt=sse`.
    let gemini_sse = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse";
    let gemini_array = "/v1beta/models/gemini-2.5-flash:streamGenerateContent";
    let gemini_complete = "/v1beta/models/gemini-2.5-flash:generateContent";
    // One row a case reads better than rustfmt's five lines a case.
    #[rustfmt::skip]
    let table = vec![
        ("openai_chat_completions", "stream", Method::POST, chat_path, Some(chat(true))),
        ("openai_chat_completions", "stream_usage", Method::POST, chat_path, Some(usage)),
        ("openai_chat_completions", "complete", Method::POST, chat_path, Some(chat(false))),
        ("openai_responses", "stream", Method::POST, "/v1/responses", Some(responses(true))),
        ("openai_responses", "complete", Method::POST, "/v1/responses", Some(responses(false))),
        ("openai_responses", "stream_include", Method::POST, "/v1/responses", Some(responses_include(true))),
        ("openai_responses", "complete_include", Method::POST, "/v1/responses", Some(responses_include(false))),
        ("anthropic_messages", "stream", Method::POST, "/v1/messages", Some(anthropic(true))),
        ("anthropic_messages", "complete", Method::POST, "/v1/messages", Some(anthropic(false))),
        ("gemini", "stream", Method::POST, gemini_sse, Some(gemini.clone())),
        ("gemini", "stream_array", Method::POST, gemini_array, Some(gemini.clone())),
        ("gemini", "complete", Method::POST, gemini_complete, Some(gemini)),
        ("ollama", "stream", Method::POST, "/api/chat", Some(ollama_stream)),
        ("ollama", "complete", Method::POST, "/api/chat", Some(ollama_complete)),
        ("plain_text", "stream", Method::GET, "/stream", None),
    ];
    table
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn updating() -> bool {
    std::env::var_os("CHATMOCK_UPDATE_GOLDEN").is_some_and(|value| value == "1")
}

/// The status, content type and body a real client gets from a fresh server. Fresh,
/// because generated ids come from a per-server counter: the same on every run.
async fn capture(script: Reply, method: Method, path: &str, body: Option<&Value>) -> Vec<u8> {
    let server = MockChatServer::builder().reply(script).start().await;
    capture_from(&server, method, path, body, None).await
}

/// What [`capture`] records, from `server`, with an extra request header if given.
async fn capture_from(
    server: &MockChatServer,
    method: Method,
    path: &str,
    body: Option<&Value>,
    header: Option<(&str, &str)>,
) -> Vec<u8> {
    let mut request = reqwest::Client::new().request(method, format!("{}{path}", server.uri()));
    if let Some((name, value)) = header {
        request = request.header(name, value);
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.expect("the server answers");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map_or("(none)".into(), |value| {
            String::from_utf8_lossy(value.as_bytes()).into_owned()
        });
    let body = response.bytes().await.expect("the body is readable");
    let body = String::from_utf8(body.to_vec()).expect("every format's body is UTF-8");
    format!(
        "status: {status}\ncontent-type: {content_type}\n\n{}",
        normalise(&body)
    )
    .into_bytes()
}

/// Replaces the wall-clock time, the only bytes that differ between two runs (ids come
/// from the per-server counter, Ollama's durations are synthetic): the Unix seconds of
/// Chat Completions' `"created"` and Responses' `"created_at"` and `"completed_at"`, and
/// Ollama's RFC 3339 `"created_at"` string. Anything else in those fields is left alone,
/// so that a wrong shape (`null`, a word) still shows up as a diff.
fn normalise(body: &str) -> String {
    let mut text = body.to_owned();
    for key in ["\"created\":", "\"created_at\":", "\"completed_at\":"] {
        let mut pieces = text.split(key);
        let mut out = pieces.next().unwrap_or_default().to_owned();
        for piece in pieces {
            out.push_str(key);
            let digits = piece.len() - piece.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            let quoted = piece
                .strip_prefix('"')
                .filter(|inner| inner.starts_with(|c: char| c.is_ascii_digit()))
                .and_then(|inner| inner.split_once('"'));
            if digits > 0 {
                out.push_str("<unix-seconds>");
                out.push_str(&piece[digits..]);
            } else if let Some((_, after)) = quoted {
                out.push_str("\"<rfc3339>\"");
                out.push_str(after);
            } else {
                out.push_str(piece);
            }
        }
        text = out;
    }
    text
}

/// Compares `actual` with the golden file, or writes it when updating.
fn compare(file: &Path, actual: &[u8]) -> Result<(), String> {
    let name = file
        .strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .unwrap_or(file)
        .display();
    if updating() {
        fs::create_dir_all(file.parent().expect("golden files are in a directory")).unwrap();
        fs::write(file, actual).unwrap();
        return Ok(());
    }
    let Ok(expected) = fs::read(file) else {
        return Err(format!("{name}: the golden file is missing"));
    };
    if expected == actual {
        return Ok(());
    }
    // Lines keep their `\n`, so a change in line endings is a difference too.
    let mut expected_lines = expected.split_inclusive(|byte| *byte == b'\n');
    let mut actual_lines = actual.split_inclusive(|byte| *byte == b'\n');
    let show = |line: Option<&[u8]>| {
        line.map_or("<end of file>".to_owned(), |line| {
            format!("{:?}", String::from_utf8_lossy(line))
        })
    };
    for number in 1.. {
        let (want, got) = (expected_lines.next(), actual_lines.next());
        if want != got {
            return Err(format!(
                "{name}: line {number} differs\n  golden: {}\n  actual: {}",
                show(want),
                show(got)
            ));
        }
    }
    unreachable!("the files differ, so some line does")
}

/// Checks every script against every case of one format, reporting all mismatches.
async fn check_format(format: &str) {
    let mut failures = Vec::new();
    for (_, variant, method, path, body) in cases().into_iter().filter(|case| case.0 == format) {
        for (script_name, script) in scripts_for(format) {
            let actual = capture(script, method.clone(), path, body.as_ref()).await;
            let file = golden_dir()
                .join(format)
                .join(format!("{script_name}_{variant}.txt"));
            if let Err(failure) = compare(&file, &actual) {
                failures.push(failure);
            }
        }
    }
    assert!(failures.is_empty(), "{}\n{REGENERATE}", failures.join("\n"));
}

#[tokio::test]
async fn openai_chat_completions() {
    check_format("openai_chat_completions").await;
}

#[tokio::test]
async fn openai_responses() {
    check_format("openai_responses").await;
}

#[tokio::test]
async fn anthropic_messages() {
    check_format("anthropic_messages").await;
}

#[tokio::test]
async fn gemini() {
    check_format("gemini").await;
}

#[tokio::test]
async fn ollama() {
    check_format("ollama").await;
}

#[tokio::test]
async fn plain_text() {
    check_format("plain_text").await;
}

/// The embeddings and model-list endpoints, which need no script: (format directory, file
/// name, method, path, body, extra request header).
type ServiceCase = (
    &'static str,
    &'static str,
    Method,
    &'static str,
    Option<Value>,
    Option<(&'static str, &'static str)>,
);

fn service_cases() -> Vec<ServiceCase> {
    let openai =
        json!({ "model": "text-embedding-3-small", "input": ["a cat", "a dog"], "dimensions": 4 });
    let mut openai_base64 = openai.clone();
    openai_base64["encoding_format"] = json!("base64");
    let ollama = json!({ "model": "nomic-embed-text", "input": "a cat", "dimensions": 4 });
    let gemini =
        json!({ "content": { "parts": [{ "text": "a cat" }] }, "outputDimensionality": 4 });
    let gemini_batch = json!({ "requests": [
        { "model": "models/text-embedding-004", "content": { "parts": [{ "text": "a cat" }] },
          "outputDimensionality": 4 }
    ] });
    let anthropic = Some(("anthropic-version", "2023-06-01"));
    #[rustfmt::skip]
    let table = vec![
        ("openai_chat_completions", "embeddings", Method::POST, "/v1/embeddings", Some(openai), None),
        ("openai_chat_completions", "embeddings_base64", Method::POST, "/v1/embeddings", Some(openai_base64), None),
        ("openai_chat_completions", "models", Method::GET, "/v1/models", None, None),
        ("openai_chat_completions", "model", Method::GET, "/v1/models/gpt-4o", None, None),
        ("anthropic_messages", "models", Method::GET, "/v1/models?limit=2", None, anthropic),
        ("ollama", "embed", Method::POST, "/api/embed", Some(ollama), None),
        ("ollama", "tags", Method::GET, "/api/tags", None, None),
        ("gemini", "embed_content", Method::POST, "/v1beta/models/text-embedding-004:embedContent", Some(gemini), None),
        ("gemini", "batch_embed_contents", Method::POST, "/v1beta/models/text-embedding-004:batchEmbedContents", Some(gemini_batch), None),
        ("gemini", "models", Method::GET, "/v1beta/models?pageSize=2", None, None),
    ];
    table
}

#[tokio::test]
async fn embeddings_and_model_lists() {
    let mut failures = Vec::new();
    for (format, name, method, path, body, header) in service_cases() {
        let server = MockChatServer::start().await;
        let actual = capture_from(&server, method, path, body.as_ref(), header).await;
        let file = golden_dir().join(format).join(format!("{name}.txt"));
        if let Err(failure) = compare(&file, &actual) {
            failures.push(failure);
        }
    }
    assert!(failures.is_empty(), "{}\n{REGENERATE}", failures.join("\n"));
}

/// A golden file no case writes any more would never be checked again, so it must go.
#[test]
fn no_golden_file_is_left_over() {
    let wanted: BTreeSet<PathBuf> = cases()
        .iter()
        .flat_map(|(format, variant, ..)| {
            scripts_for(format).map(move |(script, _)| {
                golden_dir()
                    .join(format)
                    .join(format!("{script}_{variant}.txt"))
            })
        })
        .chain(
            service_cases()
                .into_iter()
                .map(|(format, name, ..)| golden_dir().join(format).join(format!("{name}.txt"))),
        )
        .collect();
    let Ok(formats) = fs::read_dir(golden_dir()) else {
        return;
    };
    let mut left_over = Vec::new();
    for entry in formats.flatten() {
        for file in fs::read_dir(entry.path()).into_iter().flatten().flatten() {
            if !wanted.contains(&file.path()) {
                left_over.push(file.path());
            }
        }
    }
    if updating() {
        left_over
            .iter()
            .for_each(|file| fs::remove_file(file).unwrap());
        return;
    }
    assert!(
        left_over.is_empty(),
        "golden files that no case checks: {left_over:?}\n{REGENERATE}"
    );
}
