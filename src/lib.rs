//! A scriptable OpenAI-compatible streaming server for testing LLM clients.
//!
//! `chatmock` gives every test its own real HTTP server on a free loopback port. Tests
//! script what the "model" streams back (tokens, timing, how the stream ends) and then
//! assert on what the server received, in the style of the `wiremock` crate.
//!
//! # Getting started
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use async_openai::config::OpenAIConfig;
//! use async_openai::types::chat::{
//!     ChatCompletionRequestUserMessage, CreateChatCompletionRequestArgs,
//! };
//! use async_openai::Client;
//! use chatmock::{MockChatServer, Reply};
//! use futures_util::StreamExt;
//! use std::time::Duration;
//!
//! // Arrange: a server whose chat endpoint streams three tokens, 5 ms apart.
//! let server = MockChatServer::builder()
//!     .reply(Reply::tokens(["Hello", ",", " world"]).token_delay(Duration::from_millis(5)))
//!     .start()
//!     .await;
//! let client = Client::with_config(
//!     OpenAIConfig::new().with_api_base(server.openai_base_url()).with_api_key("test-key"),
//! );
//!
//! // Act: the code under test streams a completion.
//! let request = CreateChatCompletionRequestArgs::default()
//!     .model("gpt-4o-mini")
//!     .messages([ChatCompletionRequestUserMessage::from("Say hello").into()])
//!     .stream(true)
//!     .build()
//!     .unwrap();
//! let mut stream = client.chat().create_stream(request).await.unwrap();
//! let mut text = String::new();
//! while let Some(chunk) = stream.next().await {
//!     if let Some(content) = &chunk.unwrap().choices[0].delta.content {
//!         text.push_str(content);
//!     }
//! }
//!
//! // Assert: on what the client got, and on what the server received.
//! assert_eq!(text, "Hello, world");
//! let requests = server.received_requests().await;
//! assert_eq!(requests[0].body_value()["model"], "gpt-4o-mini");
//! # }
//! ```
//!
//! # Scripting replies
//!
//! A [`Reply`] is what the model says and when: [`Reply::text`] splits text into
//! word-sized tokens, [`Reply::tokens`] takes exact tokens, [`Reply::steps`] takes an
//! explicit list of tokens and pauses. Delays go before the first token
//! ([`Reply::first_token_delay`]), between tokens ([`Reply::token_delay`]) or on a single
//! token ([`Step::after`]). [`Reply::finish_reason`] and [`Reply::without_done`] shape the
//! end of the stream.
//!
//! The model can also call tools ([`Reply::tool_call`], [`Reply::tool_calls`],
//! [`Step::tool_call`] with a [`ToolCall`], whose arguments stream in fragments) and
//! refuse ([`Reply::refusal`], [`Step::refusal`]).
//!
//! The same script serves a streaming request (one event per token) and a non-streaming
//! one (one JSON response with the whole text, after the script's total time).
//!
//! # Reasoning and usage
//!
//! A reply can think before it answers: [`Reply::thinking`] and [`Step::thinking`] stream
//! a block of reasoning in word-sized fragments, with a signature of its own
//! ([`Thinking::with_signature`]) or one derived from its text, and
//! [`Step::redacted_thinking`] sends an encrypted block whole. Each format frames it as
//! its API does: Anthropic `thinking` blocks that end in a `signature_delta`, and
//! `redacted_thinking` blocks; Responses `reasoning` items with summary-text events (and
//! `encrypted_content` when the request includes `reasoning.encrypted_content`); Gemini
//! parts marked `thought: true`; Ollama's `message.thinking`. Chat Completions sends no
//! reasoning, as OpenAI does, unless the reply asks for the `reasoning_content` field of
//! DeepSeek and vLLM ([`Reply::reasoning_content`]).
//!
//! Usage is counted from the script (thinking fragments are reasoning tokens);
//! [`Reply::usage`] states any count instead, including cached and cache-creation prompt
//! tokens, and each format puts it where its API does (see [`Usage`]).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use chatmock::{MockChatServer, Reply, Thinking, Usage};
//! use serde_json::json;
//!
//! let server = MockChatServer::builder()
//!     .reply(
//!         Reply::text("It is sunny.")
//!             .thinking(Thinking::new("Check the forecast.").with_signature("EqQBCkYIARgC"))
//!             .usage(Usage { cached_input_tokens: Some(1024), ..Usage::default() }),
//!     )
//!     .start()
//!     .await;
//!
//! let body = json!({
//!     "model": "claude-sonnet-4-5", "max_tokens": 2048,
//!     "thinking": { "type": "enabled", "budget_tokens": 1024 },
//!     "messages": [{ "role": "user", "content": "Weather in Paris?" }]
//! });
//! let url = format!("{}/v1/messages", server.uri());
//! let message: serde_json::Value =
//!     reqwest::Client::new().post(url).json(&body).send().await.unwrap().json().await.unwrap();
//! assert_eq!(
//!     message["content"][0],
//!     json!({ "type": "thinking", "thinking": "Check the forecast.", "signature": "EqQBCkYIARgC" })
//! );
//! assert_eq!(message["content"][1]["text"], "It is sunny.");
//! assert_eq!(message["usage"]["cache_read_input_tokens"], 1024);
//! # }
//! ```
//!
//! # Embeddings and model lists
//!
//! The embeddings endpoints (OpenAI's `POST /v1/embeddings`, Ollama's `/api/embed`,
//! Gemini's `:embedContent` and `:batchEmbedContents`) answer without any mock:
//! deterministic unit vectors of hashed words and word pairs, so the same text gives the
//! same vector on every run and server, and texts that share words are closer than texts
//! that do not. OpenAI's `dimensions` and `encoding_format: "base64"` are honoured. They
//! are recorded and matched like chat requests: a mock that matches one answers with its
//! reply's HTTP error in the provider's shape, or after its delays.
//!
//! The model lists (`GET /v1/models` in OpenAI's shape, or Anthropic's for a request
//! with `anthropic-version`, Ollama's `/api/tags`, Gemini's `GET /v1beta/models`) serve
//! [`MockChatServerBuilder::models`], or by default the models the mounted mocks'
//! [`matchers::model`] name and a few common ones.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use chatmock::MockChatServer;
//! use serde_json::json;
//!
//! let server = MockChatServer::start().await;
//! let url = format!("{}/embeddings", server.openai_base_url());
//! let body = json!({ "model": "text-embedding-3-small", "input": ["cat", "cat"], "dimensions": 8 });
//! let response: serde_json::Value =
//!     reqwest::Client::new().post(url).json(&body).send().await.unwrap().json().await.unwrap();
//! assert_eq!(response["data"][0]["embedding"].as_array().unwrap().len(), 8);
//! assert_eq!(response["data"][0]["embedding"], response["data"][1]["embedding"]);
//! # }
//! ```
//!
//! # Wire formats
//!
//! The endpoint a client calls picks the [`WireFormat`]: OpenAI Chat Completions
//! (`/v1/chat/completions`), OpenAI Responses (`/v1/responses`), Anthropic Messages
//! (`/v1/messages`), Gemini (`/v1beta/models/{model}:streamGenerateContent`), Ollama
//! (`/api/chat`) and the demo's plain text (`GET /stream`). One script serves them all,
//! each in its provider's framing, with its errors, finish reasons and usage.
//! [`Mock::wire_format`] and [`MockChatServerBuilder::wire_format`] pick a format for other
//! paths.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use chatmock::{MockChatServer, Reply, ToolCall};
//! use serde_json::json;
//!
//! let server = MockChatServer::builder()
//!     .reply(Reply::tool_call(ToolCall::function("get_weather", json!({ "city": "Paris" }))))
//!     .start()
//!     .await;
//!
//! let body = json!({
//!     "model": "claude-sonnet-4-5", "max_tokens": 256,
//!     "messages": [{ "role": "user", "content": "Weather in Paris?" }]
//! });
//! let url = format!("{}/v1/messages", server.uri());
//! let message: serde_json::Value =
//!     reqwest::Client::new().post(url).json(&body).send().await.unwrap().json().await.unwrap();
//! assert_eq!(message["stop_reason"], "tool_use");
//! assert_eq!(message["content"][0]["name"], "get_weather");
//! assert_eq!(message["content"][0]["input"], json!({ "city": "Paris" }));
//! # }
//! ```
//!
//! # Scripting failures
//!
//! Failures are part of the script, so a test picks which one happens and when:
//! HTTP errors ([`Reply::http_error`], [`Reply::rate_limited`] and other presets, with
//! [`Reply::retry_after`]), an error event after *n* tokens ([`Reply::error_after`] with a
//! [`StreamError`]), three distinct cuts ([`Reply::end_cleanly_after`],
//! [`Reply::disconnect_after`], [`Reply::reset_connection_after`]), stalls
//! ([`Reply::stall_after`], [`Reply::delay_headers`]), framing faults
//! ([`Step::malformed_chunk`], [`Step::raw`], [`Reply::keep_alive`],
//! [`Reply::crlf_line_endings`], [`Reply::fragment_writes`]) and reconnection
//! ([`Reply::event_ids`] with resume from `Last-Event-ID`, [`Reply::reconnection_time`],
//! [`MockBuilder::respond_with_sequence`], [`MockChatServer::stop`] and
//! [`MockChatServer::restart`]).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use chatmock::{CutKind, MockChatServer, Reply, StreamOutcome};
//!
//! let server = MockChatServer::builder()
//!     .reply(Reply::text("one two three").disconnect_after(2))
//!     .start()
//!     .await;
//!
//! let body = r#"{"model":"m","messages":[],"stream":true}"#;
//! let url = format!("{}/chat/completions", server.openai_base_url());
//! let response = reqwest::Client::new().post(url).body(body).send().await.unwrap();
//! assert!(response.bytes().await.is_err(), "the body breaks off");
//!
//! let requests = server.wait_for_streams_to_end().await.unwrap();
//! assert_eq!(
//!     requests[0].stream_outcome(),
//!     &StreamOutcome::Cut { kind: CutKind::Disconnected, content_events: 2 }
//! );
//! # }
//! ```
//!
//! # Matching and expectations
//!
//! [`Mock`]s work as in `wiremock`: [`Mock::given`] a [matcher](matchers), add more with
//! [`MockBuilder::and`], [`respond_with`](MockBuilder::respond_with) a reply, set
//! [`expect`](Mock::expect)ations, and [`mount`](Mock::mount) it. Mocks are tried by
//! [priority](Mock::with_priority), then in mount order. A request to a chat endpoint that
//! no mock matches gets a 404 whose message says so. When the server drops, every
//! expectation is checked and a failure panics with a report of what was expected and
//! what was received.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use chatmock::{matchers, Mock, MockChatServer, Reply};
//!
//! let server = MockChatServer::start().await;
//! Mock::given(matchers::model("gpt-4o"))
//!     .and(matchers::last_user_message_contains("weather"))
//!     .respond_with(Reply::text("It is sunny."))
//!     .expect(1)
//!     .mount(&server)
//!     .await;
//!
//! let client = reqwest::Client::new();
//! let url = format!("{}/chat/completions", server.openai_base_url());
//! let weather = r#"{"model":"gpt-4o","messages":[{"role":"user","content":"Any weather news?"}]}"#;
//! let other = r#"{"model":"gpt-4o","messages":[{"role":"user","content":"Jokes?"}]}"#;
//! assert_eq!(client.post(&url).body(weather).send().await.unwrap().status(), 200);
//! assert_eq!(client.post(&url).body(other).send().await.unwrap().status(), 404);
//! # }
//! ```
//!
//! # Testing an agent loop
//!
//! An agent loop asks the model, runs the tools it calls, sends the results back, and
//! asks again. Each turn of the loop is a request that carries the conversation so far,
//! and chatmock reads it the same way in every format ([`ChatRequest`]: its
//! [`turn`](ChatRequest::turn), [`tools`](ChatRequest::tools),
//! [`tool_calls`](ChatRequest::tool_calls), the
//! [`latest_tool_results`](ChatRequest::latest_tool_results) it brings back, its
//! [`system_prompt`](ChatRequest::system_prompt) and
//! [`response_format`](ChatRequest::response_format)). Answer each turn with a mock
//! matched on what it carries ([`matchers::turn`], [`matchers::tool_result_contains`],
//! [`matchers::declares_tool`], ...), with a [`Conversation`] that gives the reply of each
//! turn in order, or with a reply computed from the request
//! ([`MockBuilder::respond_with_fn`], the [`Respond`] trait).
//!
//! A request no mock answers gets a 404 that names the mock that came closest and the
//! first of its matchers that failed, with what the request had instead (`` `turn(1)` did
//! not: the request is turn 3 ``); the verification report says the same of every
//! expectation that matched nothing. Matchers are evaluated for every request, by every
//! mounted mock, and again for these reports, so they must be free of side effects: count
//! turns with [`matchers::turn`] or a [`Conversation`], not in a closure.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use chatmock::{matchers, Mock, MockChatServer, Reply, ToolCall};
//! use serde_json::{json, Value};
//!
//! let server = MockChatServer::start().await;
//! // Turn 1: the model calls the weather tool.
//! Mock::given(matchers::turn(1))
//!     .and(matchers::declares_tool("get_weather"))
//!     .respond_with(Reply::tool_call(
//!         ToolCall::function("get_weather", json!({ "city": "Paris" })).with_id("call_1"),
//!     ))
//!     .expect(1)
//!     .mount(&server)
//!     .await;
//! // Turn 2: the model answers from the tool result the client sent back.
//! Mock::given(matchers::tool_result_contains("18"))
//!     .respond_with_fn(|request| {
//!         let chat = request.chat().unwrap();
//!         let result = chat.latest_tool_results().next().unwrap();
//!         Reply::text(format!("It is {} in Paris.", result.content()))
//!     })
//!     .expect(1)
//!     .mount(&server)
//!     .await;
//!
//! // The agent loop under test, here by hand.
//! let client = reqwest::Client::new();
//! let url = format!("{}/chat/completions", server.openai_base_url());
//! let tools = json!([{ "type": "function", "function": { "name": "get_weather" } }]);
//! let mut messages = vec![json!({ "role": "user", "content": "Weather in Paris?" })];
//! let ask = |messages: &Vec<Value>| {
//!     let body = json!({ "model": "gpt-4o", "messages": messages, "tools": tools });
//!     client.post(&url).json(&body).send()
//! };
//! let first: Value = ask(&messages).await.unwrap().json().await.unwrap();
//! let call = first["choices"][0]["message"].clone();
//! assert_eq!(call["tool_calls"][0]["function"]["name"], "get_weather");
//! messages.push(call);
//! messages.push(json!({ "role": "tool", "tool_call_id": "call_1", "content": "18°C" }));
//! let second: Value = ask(&messages).await.unwrap().json().await.unwrap();
//! assert_eq!(second["choices"][0]["message"]["content"], "It is 18°C in Paris.");
//!
//! // One request more than the test planned for: a 404 that says why.
//! messages.push(second["choices"][0]["message"].clone());
//! messages.push(json!({ "role": "user", "content": "And tomorrow?" }));
//! let third = ask(&messages).await.unwrap();
//! assert_eq!(third.status(), 404);
//! let error: Value = third.json().await.unwrap();
//! assert!(error["error"]["message"].as_str().unwrap()
//!     .contains("`turn(1)` did not: the request is turn 3"));
//! # }
//! ```
//!
//! For structured output, [`Reply::json`] streams a JSON document in fragments, and
//! [`Reply::validate_against_request_schema`] makes the server check it (and any tool
//! call's arguments) against the schema the client sent: a scripted reply the real API
//! could never give fails the test. A responder or matcher that panics answers with a 500
//! and fails the test when the server verifies, even if the client retried.
//!
//! # Fixture files
//!
//! The same scripts can be written as JSON, shared between tests and with clients in
//! other languages: a [`Fixture`] holds mocks, a fallback reply and a format, loaded with
//! [`Fixture::load`] and given to [`MockChatServerBuilder::fixture`]; a [`Reply`] alone
//! deserializes with serde. The format, with a complete example, is in [`fixture`]. Bad
//! files fail with the file, the path inside it and what was expected there
//! ([`FixtureError`]).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use chatmock::{Fixture, MockChatServer};
//!
//! let fixture = Fixture::from_json(r#"{
//!   "mocks": [{ "when": { "model": "gpt-4o-mini" }, "reply": { "http_error": "rate_limited" } }],
//!   "reply": { "text": "Hello!", "token_delay": "10ms" }
//! }"#)
//! .unwrap();
//! let server = MockChatServer::builder().fixture(fixture).start().await;
//! # drop(server);
//! # }
//! ```
//!
//! # Record and replay
//!
//! A server built with [`record_from`](MockChatServerBuilder::record_from) and
//! [`record_to`](MockChatServerBuilder::record_to) is a recording proxy: what no mock
//! answers is forwarded to the upstream with the client's headers, streamed back as it
//! arrives, and written to a fixture file as a mock with a [`Reply::recorded`] reply
//! (every event with its offset from the request). Loading that file replays the
//! events byte for byte at their offsets, and every fault applies on top.
//! [`replay_or_record`](MockChatServerBuilder::replay_or_record) with
//! [`RecordMode::from_env`] is the CI habit: `CHATMOCK_RECORD=missing` records what the
//! file lacks, and without it nothing is ever proxied. Credentials never reach the file,
//! and [`redact`](MockChatServerBuilder::redact) masks more.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use chatmock::{Fixture, MockChatServer, Reply};
//! use std::time::Duration;
//!
//! // The "provider": here another chatmock server, pacing its tokens.
//! let upstream = MockChatServer::builder()
//!     .reply(Reply::tokens(["Sun", "ny"]).token_delay(Duration::from_millis(30)))
//!     .start()
//!     .await;
//! let file = std::env::temp_dir().join(format!("chatmock-lib-doc-{}.json", std::process::id()));
//! let proxy = MockChatServer::builder().record_from(upstream.uri()).record_to(&file).start().await;
//! let body = r#"{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"Weather?"}]}"#;
//! let url = format!("{}/v1/chat/completions", proxy.uri());
//! let live = reqwest::Client::new().post(&url).body(body).send().await.unwrap().text().await.unwrap();
//! proxy.stop().await;
//!
//! // Replayed with a fault on top: the connection resets after the second event.
//! let mut fixture: serde_json::Value =
//!     serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
//! fixture["mocks"][0]["reply"]["reset_connection_after"] = 2.into();
//! let replay = MockChatServer::builder()
//!     .fixture(Fixture::from_json(&fixture.to_string()).unwrap())
//!     .start()
//!     .await;
//! let url = format!("{}/v1/chat/completions", replay.uri());
//! let replayed = reqwest::Client::new().post(&url).body(body).send().await.unwrap().text().await;
//! assert!(replayed.is_err(), "the reset breaks the body off");
//! assert!(live.ends_with("data: [DONE]\n\n"));
//! # std::fs::remove_file(&file).unwrap();
//! # }
//! ```
//!
//! # Spying on requests and streams
//!
//! [`MockChatServer::received_requests`] returns every request with its method, path,
//! headers, body ([`ReceivedRequest::body_json`], [`ReceivedRequest::body_value`]), its chat reading
//! ([`ReceivedRequest::chat`]) and what became of its response stream
//! ([`StreamOutcome`]: completed, or the client hung up after *k* events).
//! [`MockChatServer::wait_for_requests`] and [`MockChatServer::wait_for_streams_to_end`]
//! wait for the server instead of sleeping.
//!
//! # Test isolation and runtimes
//!
//! Each server listens on a free port of its own and runs on its own thread, so tests run
//! in parallel and work with any tokio runtime flavour. Dropping the server stops it at
//! once, on the dropping thread, without waiting for the server's thread: when the drop
//! returns, the port refuses connections and can be bound again, and every connection is
//! shut down (streams in flight are cut; a client sees its stream end). The server's thread
//! then drops its tasks and descriptors and waits for the next server, with a listener on a
//! fresh loopback port ready for it, so a start does not bind on the test's thread. That
//! spare is never the port just dropped, and nothing is served on it until a start takes
//! it.
//!
//! # Plain `#[test]`s, with no runtime
//!
//! Every method a test calls has a twin for synchronous code, so a plain `#[test]` with a
//! blocking client needs no runtime at all (the server runs on its own thread):
//!
//! | In async code | In a plain `#[test]` |
//! |---|---|
//! | [`builder().start().await`](MockChatServerBuilder::start) | [`builder().start_blocking()`](MockChatServerBuilder::start_blocking) |
//! | [`Mock::mount(&server).await`](Mock::mount) | [`Mock::mount_blocking(&server)`](Mock::mount_blocking) |
//! | [`Mock::mount_as_scoped(&server).await`](Mock::mount_as_scoped) | [`Mock::mount_as_scoped_blocking(&server)`](Mock::mount_as_scoped_blocking) |
//! | [`server.received_requests().await`](MockChatServer::received_requests) | [`server.received_requests_blocking()`](MockChatServer::received_requests_blocking) |
//! | [`server.wait_for_requests(n).await`](MockChatServer::wait_for_requests) | [`server.wait_for_requests_blocking(n)`](MockChatServer::wait_for_requests_blocking) |
//! | [`server.wait_for_streams_to_end().await`](MockChatServer::wait_for_streams_to_end) | [`server.wait_for_streams_to_end_blocking()`](MockChatServer::wait_for_streams_to_end_blocking) |
//! | [`server.wait_until(..).await`](MockChatServer::wait_until) | [`server.wait_until_blocking(..)`](MockChatServer::wait_until_blocking) |
//! | [`server.verify().await`](MockChatServer::verify) | [`server.verify_blocking()`](MockChatServer::verify_blocking) |
//! | [`server.reset().await`](MockChatServer::reset) | [`server.reset_blocking()`](MockChatServer::reset_blocking) |
//! | [`server.stop().await`](MockChatServer::stop), [`restart`](MockChatServer::restart) | [`server.stop_blocking()`](MockChatServer::stop_blocking), [`restart_blocking`](MockChatServer::restart_blocking) |
//!
//! The methods that need neither (`uri`, `openai_base_url`, `address`, [`try_verify`](MockChatServer::try_verify))
//! work anywhere. A blocking wait refuses to run on a thread that runs a tokio runtime,
//! or on a [virtual-time](#virtual-time) server, where it would stop the client or the
//! server; it panics then, naming the async method to use.
//!
//! ```
//! use chatmock::{matchers, Mock, MockChatServer, Reply, StreamOutcome};
//!
//! // In a plain #[test]:
//! let server = MockChatServer::builder().start_blocking();
//! Mock::given(matchers::model("gpt-4o"))
//!     .respond_with(Reply::tokens(["Hello", " there"]))
//!     .expect(1)
//!     .mount_blocking(&server);
//!
//! let body = reqwest::blocking::Client::new()
//!     .post(format!("{}/chat/completions", server.openai_base_url()))
//!     .body(r#"{"model":"gpt-4o","messages":[],"stream":true}"#)
//!     .send()
//!     .unwrap()
//!     .text()
//!     .unwrap();
//!
//! assert!(body.ends_with("data: [DONE]\n\n"));
//! let requests = server.wait_for_streams_to_end_blocking().unwrap();
//! assert_eq!(requests[0].stream_outcome(), &StreamOutcome::Completed { content_events: 2 });
//! server.verify_blocking();
//! ```
//!
//! # When a test fails: reports and logs
//!
//! A request that nothing answers gets a 404 that says why: nothing is mounted, no
//! mounted mock matched, or the path is not an endpoint (a base URL without `/v1` is
//! named as such). Reports of unmet expectations and [`WaitTimeout`]s list every request
//! with its headers and the start of its body; credentials (`authorization`,
//! `x-api-key`, `x-goog-api-key`, cookies, `?key=`) show only their first four
//! characters, so reports are safe in CI logs.
//!
//! The server also emits [`tracing`](https://docs.rs/tracing) events, silent unless the
//! test installs a subscriber: one as each request arrives (with the mock that answers
//! it), one for each error response with its message, and one as each response ends
//! (status, [`StreamOutcome`], time taken). With `tracing-subscriber`, for example,
//! `RUST_LOG=chatmock=info` and `tracing_subscriber::fmt().with_env_filter(..).init()`
//! print them as lines such as `#2 404: chatmock: no mock matched this request ...`.
//!
//! # Virtual time
//!
//! Tests of what chatmock exists for wait: a retry after `Retry-After: 20`, a read
//! timeout against a stall, sixty tokens half a second apart. With
//! [`MockChatServerBuilder::virtual_time`] the server runs on the test's own runtime and
//! follows its clock, so under `#[tokio::test(start_paused = true)]` every scripted
//! wait (token delays, pauses, delayed headers, keep-alives, retry-after, the whole
//! script of a non-streaming reply) and every wait of a client on the same runtime
//! passes in virtual time: the test takes milliseconds, and each wait is exactly as long
//! as the script says, to the timer's millisecond. Recorded times
//! ([`ReceivedRequest::received_at`] and the others) and the `wait_for_*` timeouts read
//! the same clock.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! // In a test: #[tokio::test(start_paused = true)]
//! use chatmock::{MockChatServer, Reply};
//! use std::time::Duration;
//! use tokio::time::Instant;
//!
//! let server = MockChatServer::builder()
//!     .virtual_time()
//!     .reply_sequence([
//!         Reply::rate_limited().retry_after(Duration::from_secs(20)),
//!         Reply::text("Hello after the wait"),
//!     ])
//!     .start()
//!     .await;
//! let url = format!("{}/chat/completions", server.openai_base_url());
//! let body = r#"{"model":"m","messages":[]}"#;
//!
//! // The code under test: a client that honours retry-after, sleeping on tokio's clock.
//! let client = reqwest::Client::new();
//! let started = Instant::now();
//! let answer = loop {
//!     let response = client.post(&url).body(body).send().await.unwrap();
//!     match response.headers().get("retry-after") {
//!         Some(seconds) => {
//!             let seconds = seconds.to_str().unwrap().parse().unwrap();
//!             tokio::time::sleep(Duration::from_secs(seconds)).await;
//!         }
//!         None => break response.json::<serde_json::Value>().await.unwrap(),
//!     }
//! };
//!
//! assert_eq!(answer["choices"][0]["message"]["content"], "Hello after the wait");
//! assert_eq!(started.elapsed(), Duration::from_secs(20)); // in virtual time
//! let requests = server.received_requests().await;
//! let waited = requests[1].received_at() - requests[0].ended_at().unwrap();
//! assert!(waited >= Duration::from_secs(20));
//! # }
//! ```
//!
//! Which client timers follow the paused clock: those that sleep on tokio's timer on the
//! same runtime, such as reqwest's `timeout` and `read_timeout`, hyper's, async-openai's
//! retry back-off and `tokio::time::sleep` in the code under test. Timers of their own do
//! not: reqwest-eventsource's reconnection delay (`futures-timer`), `std::thread::sleep`,
//! `reqwest::blocking` (which runs its own runtime on another thread), and clients in
//! other processes. Such a client still works against a virtual-time server, but its own
//! waits take real time: keep them short in the test, or drive the waiting from code
//! that sleeps on tokio's clock.
//!
//! Virtual time needs a current-thread runtime, which is what `#[tokio::test]` gives
//! (tokio can pause only those); a multi-thread runtime or
//! [`start_blocking`](MockChatServerBuilder::start_blocking) is refused with a message
//! that says what to do. It relies on tokio 1.53.3 or later, whose paused clock never
//! advances while a socket has woken a task, so a byte written at virtual time *t* is read
//! before the clock moves past *t*. Dropping a virtual-time server closes its port and
//! shuts its connections down at once, as for any server, and leaves its task to be
//! dropped at the runtime's next turn; [`MockChatServer::stop`] returns once it has been.
//!
//! # Pacing
//!
//! A real model's stream arrives unevenly. [`Reply::time_to_first_token`] and
//! [`Reply::tokens_per_second`] set the shape; [`Reply::jitter`] with [`Jitter::normal`]
//! or [`Jitter::uniform`] varies each gap at random, keeping the mean and never going
//! negative. The gaps come from a seed: the jitter's own ([`Jitter::seed`]), the same on
//! every run and machine, or one drawn for each request, recorded
//! ([`ReceivedRequest::pacing_seed`]) and printed in failure reports, so that a failing
//! run can be replayed exactly.
//!
//! ```
//! use chatmock::{Jitter, MockChatServer, Reply};
//! use std::time::Duration;
//!
//! let server = MockChatServer::builder()
//!     .reply(
//!         Reply::text("Tokens arrive at about fifty a second, never quite evenly.")
//!             .time_to_first_token(Duration::from_millis(400))
//!             .tokens_per_second(50.0)
//!             .jitter(Jitter::normal(Duration::from_millis(5)).seed(42)),
//!     )
//!     .start_blocking();
//! # drop(server);
//! ```
//!
//! # Rate limits
//!
//! [`MockChatServerBuilder::rate_limit`] (or [`Mock::rate_limit`], for one mock's
//! requests) enforces a provider's quota: buckets of requests and tokens (prompt words
//! plus the reply's completion tokens; Anthropic's input and output tokens apart, if
//! asked), counted per API key (`Authorization: Bearer`, `x-api-key`, `x-goog-api-key`,
//! `?key=`) or [shared](RateLimit::shared), refilled steadily over the window on the
//! server's clock. Every response carries the provider's headers, counting down: OpenAI's
//! `x-ratelimit-remaining-requests` and the rest, with resets such as `20s` or `6m0s`;
//! Anthropic's `anthropic-ratelimit-requests-remaining` and the rest, with RFC 3339 reset
//! times; nothing for Gemini and Ollama, whose APIs send none. A request the buckets
//! cannot pay for gets the provider's 429 with `retry-after` (and `retry-after-ms`) set to
//! when they will. With virtual time, a client's back-off against a per-minute quota takes
//! milliseconds:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! // In a test: #[tokio::test(start_paused = true)]
//! use chatmock::{MockChatServer, RateLimit, Reply};
//! use std::time::Duration;
//!
//! let server = MockChatServer::builder()
//!     .virtual_time()
//!     .reply(Reply::text("Hello!"))
//!     .rate_limit(RateLimit::per_minute().requests(3))
//!     .start()
//!     .await;
//! let url = format!("{}/chat/completions", server.openai_base_url());
//! let client = reqwest::Client::new();
//! let send = || {
//!     client
//!         .post(&url)
//!         .bearer_auth("sk-test")
//!         .body(r#"{"model":"gpt-4o","messages":[{"role":"user","content":"Hi"}]}"#)
//!         .send()
//! };
//!
//! for left in ["2", "1", "0"] {
//!     let response = send().await.unwrap();
//!     assert_eq!(response.headers()["x-ratelimit-remaining-requests"], left);
//! }
//! let refused = send().await.unwrap();
//! assert_eq!(refused.status(), 429);
//! // One request comes back every 20 seconds.
//! assert_eq!(refused.headers()["retry-after"], "20");
//!
//! tokio::time::sleep(Duration::from_secs(20)).await; // in virtual time
//! assert_eq!(send().await.unwrap().status(), 200);
//! # }
//! ```
//!
//! # Chaos
//!
//! [`Chaos::seeded`] strikes requests at random with the faults a reply can script: an
//! HTTP error, an error event, a disconnect, a connection reset or a stall, each with its
//! probability, at a random token. The choice for the n-th request depends on the seed
//! and `n` alone, so a soak test sees the same faults in the same order on every run, and
//! each request records the fault it met ([`ReceivedRequest::chaos_applied`]), so the
//! test can check that its client recovered from each. Attach it to the server
//! ([`MockChatServerBuilder::chaos`]) or to a mock ([`Mock::chaos`]).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! use chatmock::{Chaos, ChaosFault, MockChatServer, Reply};
//! use std::time::Duration;
//!
//! let server = MockChatServer::builder()
//!     .virtual_time()
//!     .reply(Reply::text("The whole answer."))
//!     .chaos(Chaos::seeded(7).http_error(0.2, 503).disconnect(0.2).stall(0.1))
//!     .start()
//!     .await;
//! let url = format!("{}/chat/completions", server.openai_base_url());
//! let client = reqwest::Client::new();
//! let body = r#"{"model":"m","messages":[]}"#;
//!
//! // The code under test: retry until the answer arrives whole, with a timeout.
//! let mut attempts = 0;
//! let answer = loop {
//!     attempts += 1;
//!     let attempt = async {
//!         let response = client.post(&url).body(body).send().await.ok()?;
//!         if !response.status().is_success() {
//!             return None;
//!         }
//!         response.json::<serde_json::Value>().await.ok()
//!     };
//!     if let Ok(Some(json)) = tokio::time::timeout(Duration::from_secs(30), attempt).await {
//!         break json;
//!     }
//! };
//! assert_eq!(answer["choices"][0]["message"]["content"], "The whole answer.");
//!
//! // The server's record says what the client met on the way.
//! let requests = server.received_requests().await;
//! assert_eq!(requests.len(), attempts);
//! assert!(requests[..attempts - 1].iter().all(|r| r.chaos_applied().is_some()));
//! assert_eq!(requests[attempts - 1].chaos_applied(), None);
//! # let _ = ChaosFault::HttpError { status: 503 };
//! # }
//! ```

#![warn(missing_docs)]
#![forbid(unsafe_code)]

// The pipeline, in the order a request travels it (see ARCHITECTURE.md):
// request in -> match -> reply script -> wire format -> frames -> socket,
// with the recording on the side.
pub mod fixture;
mod http;
mod matching;
mod playback;
mod proxy;
mod recording;
mod request;
mod schema;
mod script;
mod server;
mod socket;
mod sync;
mod traffic;
mod wire;

pub use fixture::{Fixture, FixtureError, RecordMode};
pub use matching::matchers;
pub use matching::{Conversation, Match, Mock, MockBuilder, Respond, Times};
pub use request::{
    ChaosFault, ChatMessage, ChatRequest, DeclaredTool, EarlierToolCall, ReceivedRequest,
    ResponseFormat, StreamOutcome, ToolResult,
};
pub use script::{CutKind, Jitter, Reply, Step, StreamError, Thinking, ToolCall, Usage};
pub use server::{MockChatServer, MockChatServerBuilder, MockGuard, WaitTimeout};
pub use traffic::{Chaos, RateLimit};
pub use wire::{UnknownWireFormat, WireFormat};
