//! Agent loops: replies computed from the request, the conversation read the same way in
//! every format, the conversation and wiremock-style matchers, conversation scripts,
//! structured output, and the reports of requests that match nothing.

use async_openai::types::chat::{CreateChatCompletionRequest, FinishReason};
use chatmock::{matchers, Conversation, Mock, MockChatServer, ReceivedRequest, Reply, ToolCall};
use futures::StreamExt;
use serde_json::{json, Value};

use crate::async_openai_client::client_for;
use crate::support::{chunks, content_of, parse_sse, verification_failure};

fn weather_tools() -> Value {
    json!([{
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city",
            "parameters": { "type": "object", "properties": { "city": { "type": "string" } } }
        }
    }])
}

/// A Chat Completions request as async-openai's own type, from its JSON.
fn openai_request(messages: &Value, stream: bool) -> CreateChatCompletionRequest {
    serde_json::from_value(json!({
        "model": "gpt-4o", "messages": messages, "tools": weather_tools(), "stream": stream
    }))
    .expect("a valid request")
}

#[tokio::test]
async fn async_openai_agent_loop_streams_a_tool_call_then_answers_from_the_tool_result() {
    let server = MockChatServer::start().await;
    Mock::given(matchers::turn(1))
        .and(matchers::declares_tool("get_weather"))
        .respond_with(Reply::tool_call(
            ToolCall::function("get_weather", json!({ "city": "Paris" })).with_id("call_1"),
        ))
        .named("weather tool call")
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(matchers::tool_result_contains("18"))
        .and(matchers::tool_result_for("call_1"))
        .respond_with(Reply::text("It is 18°C in Paris."))
        .named("weather answer")
        .expect(1)
        .mount(&server)
        .await;
    let client = client_for(&server);

    // Turn 1: the model streams a tool call; the application assembles it.
    let mut messages = json!([{ "role": "user", "content": "Weather in Paris?" }]);
    let mut stream = client
        .chat()
        .create_stream(openai_request(&messages, true))
        .await
        .unwrap();
    let (mut id, mut name, mut arguments, mut finish) = (None, String::new(), String::new(), None);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.expect("a valid chunk");
        let Some(choice) = chunk.choices.first() else {
            continue;
        };
        for call in choice.delta.tool_calls.iter().flatten() {
            id = call.id.clone().or(id);
            if let Some(function) = &call.function {
                name.push_str(function.name.as_deref().unwrap_or_default());
                arguments.push_str(function.arguments.as_deref().unwrap_or_default());
            }
        }
        finish = choice.finish_reason.or(finish);
    }
    assert_eq!(
        (id.as_deref(), name.as_str(), finish),
        (Some("call_1"), "get_weather", Some(FinishReason::ToolCalls))
    );
    let city = serde_json::from_str::<Value>(&arguments).unwrap()["city"].clone();
    assert_eq!(city, "Paris");

    // The application runs the tool and sends its result back.
    let messages_array = messages.as_array_mut().unwrap();
    messages_array.push(json!({
        "role": "assistant",
        "tool_calls": [{ "id": "call_1", "type": "function",
                         "function": { "name": name, "arguments": arguments } }]
    }));
    messages_array.push(json!({ "role": "tool", "tool_call_id": "call_1", "content": "18°C" }));
    let mut stream = client
        .chat()
        .create_stream(openai_request(&messages, true))
        .await
        .unwrap();
    let mut answer = String::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.expect("a valid chunk");
        if let Some(choice) = chunk.choices.first() {
            answer.extend(choice.delta.content.clone());
        }
    }
    assert_eq!(answer, "It is 18°C in Paris.");

    // A third request, which the test did not plan for, fails with a report.
    let messages_array = messages.as_array_mut().unwrap();
    messages_array.push(json!({ "role": "assistant", "content": answer }));
    messages_array.push(json!({ "role": "user", "content": "And tomorrow?" }));
    let error = client
        .chat()
        .create(openai_request(&messages, false))
        .await
        .expect_err("no mock answers turn 3");
    let report = error.to_string();
    assert!(report.contains("no mock matched this request"), "{report}");
    assert!(
        report.contains(
            "The closest is Mock #0 \"weather tool call\": `declares_tool(\"get_weather\")` \
             matched, `turn(1)` did not: the request is turn 3."
        ),
        "{report}"
    );
    let requests = server.received_requests().await;
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[2].response_status(), Some(404));
}

/// Sends `body` to `path` and returns the status and body.
async fn post(server: &MockChatServer, path: &str, body: &Value) -> (u16, Vec<u8>) {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", server.uri()))
        .json(body)
        .send()
        .await
        .expect("the server answers");
    let status = response.status().as_u16();
    (status, response.bytes().await.unwrap().to_vec())
}

/// The turns of a weather loop, for the formats driven by raw requests.
async fn mount_weather_turns(server: &MockChatServer) {
    Mock::given(matchers::turn(1))
        .and(matchers::declares_tool("get_weather"))
        .respond_with(Reply::tool_call(ToolCall::function(
            "get_weather",
            json!({ "city": "Oslo" }),
        )))
        .expect(1)
        .mount(server)
        .await;
    Mock::given(matchers::tool_result_contains("18"))
        .respond_with(Reply::text("It is 18°C in Oslo."))
        .expect(1)
        .mount(server)
        .await;
}

#[tokio::test]
async fn a_gemini_agent_loop_with_function_call_and_function_response_parts() {
    let server = MockChatServer::start().await;
    mount_weather_turns(&server).await;
    let path = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse";
    let tools = json!([{ "functionDeclarations": [{
        "name": "get_weather", "parameters": { "type": "object" } }] }]);
    let mut contents = vec![json!({ "role": "user", "parts": [{ "text": "Weather in Oslo?" }] })];

    let (status, body) = post(
        &server,
        path,
        &json!({ "contents": contents, "tools": tools }),
    )
    .await;
    assert_eq!(status, 200);
    let events = chunks(&body).await;
    let call = events
        .iter()
        .flat_map(|chunk| {
            chunk["candidates"][0]["content"]["parts"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .find_map(|part| part.get("functionCall").cloned())
        .expect("a functionCall part");
    assert_eq!(call["name"], "get_weather");
    assert_eq!(call["args"], json!({ "city": "Oslo" }));

    contents.push(json!({ "role": "model", "parts": [{ "functionCall": call }] }));
    contents.push(json!({ "role": "user", "parts": [{ "functionResponse": {
        "name": "get_weather", "response": { "output": "18°C" } } }] }));
    let (status, body) = post(
        &server,
        path,
        &json!({ "contents": contents, "tools": tools }),
    )
    .await;
    assert_eq!(status, 200);
    let text: String = chunks(&body)
        .await
        .iter()
        .filter_map(|chunk| {
            chunk["candidates"][0]["content"]["parts"][0]["text"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(text, "It is 18°C in Oslo.");

    contents.push(json!({ "role": "model", "parts": [{ "text": text }] }));
    contents.push(json!({ "role": "user", "parts": [{ "text": "And tomorrow?" }] }));
    let (status, body) = post(
        &server,
        path,
        &json!({ "contents": contents, "tools": tools }),
    )
    .await;
    assert_eq!(status, 404);
    let error: Value = serde_json::from_slice(&body).unwrap();
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("`turn(1)` did not: the request is turn 3"),
        "{message}"
    );

    let requests = server.received_requests().await;
    let result = requests[1]
        .chat()
        .unwrap()
        .latest_tool_results()
        .next()
        .cloned()
        .unwrap();
    assert_eq!(
        (result.name(), result.content()),
        (Some("get_weather"), "18°C")
    );
}

#[tokio::test]
async fn an_ollama_agent_loop_with_tool_messages() {
    let server = MockChatServer::start().await;
    mount_weather_turns(&server).await;
    let tools = weather_tools();
    let mut messages = vec![json!({ "role": "user", "content": "Weather in Oslo?" })];

    let (status, body) = post(
        &server,
        "/api/chat",
        &json!({
        "model": "llama3.2", "messages": messages, "tools": tools }),
    )
    .await;
    assert_eq!(status, 200);
    let lines: Vec<Value> = body
        .split(|byte| *byte == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| serde_json::from_slice(line).unwrap())
        .collect();
    let calls = lines
        .iter()
        .find_map(|line| line["message"]["tool_calls"].as_array().cloned())
        .expect("a line with tool_calls");
    assert_eq!(calls[0]["function"]["name"], "get_weather");

    messages.push(json!({ "role": "assistant", "content": "", "tool_calls": calls }));
    messages.push(json!({ "role": "tool", "tool_name": "get_weather", "content": "18°C" }));
    let (status, body) = post(
        &server,
        "/api/chat",
        &json!({
        "model": "llama3.2", "messages": messages, "tools": tools, "stream": false }),
    )
    .await;
    assert_eq!(status, 200);
    let answer: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(answer["message"]["content"], "It is 18°C in Oslo.");

    messages.push(answer["message"].clone());
    messages.push(json!({ "role": "user", "content": "And tomorrow?" }));
    let (status, body) = post(
        &server,
        "/api/chat",
        &json!({
        "model": "llama3.2", "messages": messages, "tools": tools }),
    )
    .await;
    assert_eq!(status, 404);
    let error: Value = serde_json::from_slice(&body).unwrap();
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains("the request is turn 3"),
        "{error}"
    );
}

/// Each format's request, with `message` as its last user message, and how to read the
/// text of its answer.
struct EchoCase {
    name: &'static str,
    method: &'static str,
    path: &'static str,
    body: Value,
}

fn echo_cases(message: &str) -> Vec<EchoCase> {
    let messages =
        json!([{ "role": "system", "content": "Echo." }, { "role": "user", "content": message }]);
    let chat = |stream: bool| json!({ "model": "gpt-4o", "messages": messages, "stream": stream });
    let responses = |stream: bool| json!({ "model": "gpt-4o", "input": message, "stream": stream });
    let anthropic = |stream: bool| {
        json!({
            "model": "claude-sonnet-4-5", "max_tokens": 64, "stream": stream,
            "messages": [{ "role": "user", "content": [{ "type": "text", "text": message }] }]
        })
    };
    let gemini = json!({ "contents": [{ "role": "user", "parts": [{ "text": message }] }] });
    let ollama =
        |stream: bool| json!({ "model": "llama3.2", "messages": messages, "stream": stream });
    let case = |name, method, path, body| EchoCase {
        name,
        method,
        path,
        body,
    };
    vec![
        case("chat stream", "POST", "/v1/chat/completions", chat(true)),
        case("chat complete", "POST", "/v1/chat/completions", chat(false)),
        case("responses stream", "POST", "/v1/responses", responses(true)),
        case(
            "responses complete",
            "POST",
            "/v1/responses",
            responses(false),
        ),
        case("anthropic stream", "POST", "/v1/messages", anthropic(true)),
        case(
            "anthropic complete",
            "POST",
            "/v1/messages",
            anthropic(false),
        ),
        case(
            "gemini sse",
            "POST",
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
            gemini.clone(),
        ),
        case(
            "gemini array",
            "POST",
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
            gemini.clone(),
        ),
        case(
            "gemini complete",
            "POST",
            "/v1beta/models/gemini-2.5-flash:generateContent",
            gemini,
        ),
        case("ollama stream", "POST", "/api/chat", ollama(true)),
        case("ollama complete", "POST", "/api/chat", ollama(false)),
        case("plain text", "GET", "/stream", chat(true)),
    ]
}

/// The text of an answer in any format, streamed or not.
async fn answer_text(case: &str, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let gemini_parts = |chunk: &Value| -> String {
        chunk["candidates"][0]["content"]["parts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|part| part["text"].as_str())
            .collect()
    };
    match case {
        "chat stream" => content_of(&chunks(body).await),
        "chat complete" => serde_json::from_slice::<Value>(body).unwrap()["choices"][0]["message"]
            ["content"]
            .as_str()
            .unwrap()
            .to_owned(),
        "responses stream" => chunks(body)
            .await
            .iter()
            .filter(|event| event["type"] == "response.output_text.delta")
            .filter_map(|event| event["delta"].as_str().map(str::to_owned))
            .collect(),
        "responses complete" => serde_json::from_slice::<Value>(body).unwrap()["output"][0]
            ["content"][0]["text"]
            .as_str()
            .unwrap()
            .to_owned(),
        "anthropic stream" => chunks(body)
            .await
            .iter()
            .filter_map(|event| event["delta"]["text"].as_str().map(str::to_owned))
            .collect(),
        "anthropic complete" => serde_json::from_slice::<Value>(body).unwrap()["content"][0]
            ["text"]
            .as_str()
            .unwrap()
            .to_owned(),
        "gemini sse" => chunks(body).await.iter().map(gemini_parts).collect(),
        "gemini array" => serde_json::from_slice::<Vec<Value>>(body)
            .unwrap()
            .iter()
            .map(gemini_parts)
            .collect(),
        "gemini complete" => gemini_parts(&serde_json::from_slice(body).unwrap()),
        "ollama stream" => text
            .lines()
            .map(|line| serde_json::from_str::<Value>(line).unwrap())
            .filter_map(|line| line["message"]["content"].as_str().map(str::to_owned))
            .collect(),
        "ollama complete" => serde_json::from_slice::<Value>(body).unwrap()["message"]["content"]
            .as_str()
            .unwrap()
            .to_owned(),
        _ => parse_sse(body)
            .await
            .into_iter()
            .map(|event| event.data)
            .filter(|data| data != "[DONE]")
            .collect(),
    }
}

#[tokio::test]
async fn respond_with_fn_echoes_the_last_user_message_in_every_format_streamed_and_not() {
    let server = MockChatServer::start().await;
    Mock::given(matchers::any())
        .respond_with_fn(|request| {
            let chat = request.chat().expect("a chat request");
            let format = request
                .path()
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_owned();
            Reply::text(format!(
                "{} (turn {}, via {format})",
                chat.last_user_message().unwrap_or("?"),
                chat.turn()
            ))
        })
        .mount(&server)
        .await;
    for case in echo_cases("Hello there, echo") {
        let request = reqwest::Client::new()
            .request(
                case.method.parse().unwrap(),
                format!("{}{}", server.uri(), case.path),
            )
            .json(&case.body);
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200, "{}", case.name);
        let body = response.bytes().await.unwrap();
        let text = answer_text(case.name, &body).await;
        let last = case
            .path
            .split('?')
            .next()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap();
        assert_eq!(
            text,
            format!("Hello there, echo (turn 1, via {last})"),
            "{}",
            case.name
        );
    }
}

#[tokio::test]
async fn a_panicking_responder_answers_500_naming_the_panic_and_fails_verification() {
    let server = MockChatServer::start().await;
    Mock::given(matchers::model("gpt-4o"))
        .respond_with_fn(|request: &ReceivedRequest| {
            let chat = request.chat().unwrap();
            let last = chat.last_user_message().unwrap();
            assert!(last != "explode", "the responder cannot answer {last:?}");
            Reply::text("fine")
        })
        .named("fragile")
        .mount(&server)
        .await;
    let body = |text: &str| json!({ "model": "gpt-4o", "messages": [{ "role": "user", "content": text }] });

    let (status, error) = post(&server, "/v1/chat/completions", &body("explode")).await;
    assert_eq!(status, 500);
    let error: Value = serde_json::from_slice(&error).unwrap();
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("the responder of Mock #0 \"fragile\" panicked"),
        "{message}"
    );
    assert!(
        message.contains("the responder cannot answer \\\"explode\\\"")
            || message.contains("the responder cannot answer \"explode\""),
        "{message}"
    );
    // The server keeps serving, and the mock still answers.
    let (status, _) = post(&server, "/v1/chat/completions", &body("hi")).await;
    assert_eq!(status, 200);

    let report = verification_failure(server).expect("the panic fails verification");
    assert!(
        report.contains("1 request failed while answering"),
        "{report}"
    );
    assert!(report.contains("the responder of Mock #0 \"fragile\" panicked while answering POST /v1/chat/completions"), "{report}");
}

#[tokio::test]
async fn a_miss_names_the_closest_mock_and_the_first_matcher_that_failed_with_what_the_request_had()
{
    let server = MockChatServer::start().await;
    Mock::given(matchers::path("/v1/chat/completions"))
        .and(matchers::model("never"))
        .and(matchers::stream(true))
        .respond_with(Reply::text("far"))
        .mount(&server)
        .await;
    Mock::given(matchers::model("gpt-4o"))
        .and(matchers::last_user_message_contains("weather"))
        .respond_with(Reply::text("It is sunny."))
        .named("weather")
        .expect(1)
        .mount(&server)
        .await;
    let body =
        json!({ "model": "gpt-4o", "messages": [{ "role": "user", "content": "Any jokes?" }] });
    let (status, error) = post(&server, "/v1/chat/completions", &body).await;
    assert_eq!(status, 404);
    let error: Value = serde_json::from_slice(&error).unwrap();
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(
            "The closest is Mock #1 \"weather\": `model(\"gpt-4o\")` matched, \
             `last_user_message_contains(\"weather\")` did not: the last user message was \
             \"Any jokes?\"."
        ),
        "{message}"
    );

    let report = verification_failure(server).expect("the weather mock never matched");
    assert!(
        report.contains(
            "Mock #1 \"weather\" matched 0 requests, but expects exactly 1.\n    The closest \
             request was #1 (POST /v1/chat/completions model=\"gpt-4o\" last user \
             message=\"Any jokes?\"): `model(\"gpt-4o\")` matched, \
             `last_user_message_contains(\"weather\")` did not: the last user message was \
             \"Any jokes?\"."
        ),
        "{report}"
    );
}

#[tokio::test]
async fn a_conversation_answers_by_turn_and_reports_the_turns_never_reached() {
    let server = MockChatServer::start().await;
    Conversation::new()
        .and(matchers::declares_tool("get_weather"))
        .turn(Reply::tool_call(
            ToolCall::function("get_weather", json!({ "city": "Rome" })).with_id("call_r"),
        ))
        .turn(|request: &ReceivedRequest| {
            let result = request
                .chat()
                .unwrap()
                .latest_tool_results()
                .next()
                .unwrap()
                .content()
                .to_owned();
            Reply::text(format!("Rome: {result}"))
        })
        .turn(Reply::text("You are welcome."))
        .named("rome trip")
        .mount(&server)
        .await;
    let turn_one = json!([{ "role": "user", "content": "Weather in Rome?" }]);
    let mut turn_two = turn_one.as_array().unwrap().clone();
    turn_two.push(
        json!({ "role": "assistant", "tool_calls": [{ "id": "call_r", "type": "function",
        "function": { "name": "get_weather", "arguments": "{\"city\":\"Rome\"}" } }] }),
    );
    turn_two.push(json!({ "role": "tool", "tool_call_id": "call_r", "content": "25°C" }));
    let request = |messages: &Value| json!({ "model": "gpt-4o", "messages": messages, "tools": weather_tools() });

    // Turn 2 first, then a retry of it, then turn 1: answered by turn, not by arrival.
    for messages in [json!(turn_two), json!(turn_two), turn_one.clone()] {
        let (status, _) = post(&server, "/v1/chat/completions", &request(&messages)).await;
        assert_eq!(status, 200);
    }
    let answers: Vec<Value> = {
        let mut answers = Vec::new();
        for messages in [json!(turn_two), turn_one] {
            let (_, body) = post(&server, "/v1/chat/completions", &request(&messages)).await;
            answers.push(serde_json::from_slice(&body).unwrap());
        }
        answers
    };
    assert_eq!(answers[0]["choices"][0]["message"]["content"], "Rome: 25°C");
    assert_eq!(
        answers[1]["choices"][0]["message"]["tool_calls"][0]["id"],
        "call_r"
    );

    // Turn 4 is beyond the script: a 404 that says so.
    let mut turn_four = turn_two.clone();
    turn_four.push(json!({ "role": "assistant", "content": "Rome: 25°C" }));
    turn_four.push(json!({ "role": "user", "content": "Thanks" }));
    turn_four.push(json!({ "role": "assistant", "content": "You are welcome." }));
    turn_four.push(json!({ "role": "user", "content": "Bye" }));
    let (status, body) = post(&server, "/v1/chat/completions", &request(&json!(turn_four))).await;
    assert_eq!(status, 404);
    let message = serde_json::from_slice::<Value>(&body).unwrap()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains("`declares_tool(\"get_weather\")` matched, `turn(1..=3)` did not: the request is turn 4"), "{message}");

    let report = verification_failure(server).expect("turn 3 was never reached");
    assert!(
        report.contains("Mock #0 \"rome trip\", a conversation of 3 turns: turn 3 was never reached (it answered turn 1, 2)."),
        "{report}"
    );
}

#[tokio::test]
async fn a_scoped_conversation_that_was_never_started_names_the_closest_request() {
    let server = MockChatServer::start().await;
    let guard = Conversation::new()
        .and(matchers::model("gpt-4o"))
        .turn(Reply::text("one"))
        .turn(Reply::text("two"))
        .mount_as_scoped(&server)
        .await;
    let (status, _) = post(
        &server,
        "/v1/chat/completions",
        &json!({ "model": "gpt-4o-mini", "messages": [{ "role": "user", "content": "Hi" }] }),
    )
    .await;
    assert_eq!(status, 404);
    let failure = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(guard)))
        .expect_err("the guard's check fails");
    let report = failure
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(report.contains("a conversation of 2 turns: turn 1, turn 2 were never reached (it answered no request)."), "{report}");
    assert!(report.contains("The closest request was #1"), "{report}");
    assert!(
        report.contains("`model(\"gpt-4o\")` did not: the model was \"gpt-4o-mini\""),
        "{report}"
    );
}

#[tokio::test]
async fn reply_json_streams_a_document_in_fragments_and_is_checked_against_the_request_schema() {
    let server = MockChatServer::start().await;
    Mock::given(matchers::response_format("json_schema"))
        .and(matchers::last_user_message_is("good"))
        .respond_with(
            Reply::json(json!({ "city": "Paris", "temperature": 18 }))
                .validate_against_request_schema(),
        )
        .mount(&server)
        .await;
    Mock::given(matchers::response_format("json_schema"))
        .and(matchers::last_user_message_is("bad"))
        .respond_with(
            Reply::json(json!({ "city": "Paris", "temperature": "warm" }))
                .validate_against_request_schema(),
        )
        .named("bad weather")
        .mount(&server)
        .await;
    let request = |text: &str| {
        json!({
            "model": "gpt-4o", "stream": true,
            "messages": [{ "role": "user", "content": text }],
            "response_format": { "type": "json_schema", "json_schema": { "name": "weather", "strict": true, "schema": {
                "type": "object",
                "properties": { "city": { "type": "string" }, "temperature": { "type": "integer" } },
                "required": ["city", "temperature"], "additionalProperties": false } } }
        })
    };

    let (status, body) = post(&server, "/v1/chat/completions", &request("good")).await;
    assert_eq!(status, 200);
    let events = chunks(&body).await;
    let fragments: Vec<&str> = events
        .iter()
        .filter_map(|chunk| chunk["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert!(fragments.len() > 5, "streamed in fragments: {fragments:?}");
    let document: Value = serde_json::from_str(&fragments.concat()).unwrap();
    assert_eq!(document, json!({ "city": "Paris", "temperature": 18 }));

    let (status, body) = post(&server, "/v1/chat/completions", &request("bad")).await;
    assert_eq!(status, 500);
    let message = serde_json::from_slice::<Value>(&body).unwrap()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains("the reply of Mock #1 \"bad weather\""),
        "{message}"
    );
    assert!(message.contains("the reply's JSON breaks the request's schema: at temperature: expected integer, found \"warm\""), "{message}");

    let report = verification_failure(server).expect("the bad reply fails verification");
    assert!(
        report.contains("could not come from the real API"),
        "{report}"
    );
}

#[tokio::test]
async fn a_tool_call_is_checked_against_the_declared_tools_schema() {
    let server = MockChatServer::start().await;
    Mock::given(matchers::any())
        .respond_with(
            Reply::tool_call(ToolCall::function("get_weather", json!({ "city": 3 })))
                .validate_against_request_schema(),
        )
        .mount(&server)
        .await;
    let body = json!({ "model": "gpt-4o", "tools": weather_tools(),
        "messages": [{ "role": "user", "content": "Weather?" }] });
    let (status, body) = post(&server, "/v1/chat/completions", &body).await;
    assert_eq!(status, 500);
    let message = serde_json::from_slice::<Value>(&body).unwrap()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains(
            "the arguments of \"get_weather\" break its schema: at city: expected string, found 3"
        ),
        "{message}"
    );
    assert!(verification_failure(server).is_some());
}

/// Adds a request's headers and body.
type Build = fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder;

/// A matcher's mock, a request it matches (path, build), a near miss, and what the 404
/// of the miss says.
type MatcherCase = (
    Mock,
    (&'static str, Build),
    (&'static str, Build),
    &'static str,
);

#[tokio::test]
async fn the_general_matchers_match_what_wiremock_users_expect_and_explain_misses() {
    let chat = "/v1/chat/completions";
    let gemini = "/v1beta/models/gemini-2.5-flash:generateContent";
    // A matcher, a request it matches, and a near miss with what the 404 says of it.
    let cases: Vec<MatcherCase> = vec![
        (
            Mock::given(matchers::path_regex(
                r"^/v1beta/models/gemini-[\w.-]+:generateContent$",
            ))
            .respond_with(Reply::text("a")),
            (gemini, |r| r.json(&json!({ "contents": [] }))),
            ("/v1beta/models/gemma:generateContent", |r| {
                r.json(&json!({ "contents": [] }))
            }),
            r#"`path_regex("^/v1beta/models/gemini-[\\w.-]+:generateContent$")` did not: the path was "/v1beta/models/gemma:generateContent""#,
        ),
        (
            Mock::given(matchers::query_param("alt", "s se")).respond_with(Reply::text("b")),
            ("/v1/chat/completions?x=1&alt=s%20se", |r| {
                r.json(&json!({ "model": "m", "messages": [] }))
            }),
            ("/v1/chat/completions?alt=sse", |r| {
                r.json(&json!({ "model": "m", "messages": [] }))
            }),
            r#"`query_param("alt", "s se")` did not: parameter "alt" was ["sse"]"#,
        ),
        (
            Mock::given(matchers::bearer_token("sk-right")).respond_with(Reply::text("c")),
            (chat, |r| {
                r.bearer_auth("sk-right")
                    .json(&json!({ "model": "m", "messages": [] }))
            }),
            (chat, |r| {
                r.bearer_auth("sk-wrong")
                    .json(&json!({ "model": "m", "messages": [] }))
            }),
            r#"`bearer_token("***")` did not: the request's bearer token was another one"#,
        ),
        (
            Mock::given(matchers::headers("x-features", ["a", "b"])).respond_with(Reply::text("d")),
            (chat, |r| {
                r.header("x-features", "a, c")
                    .header("x-features", "b")
                    .json(&json!({ "model": "m", "messages": [] }))
            }),
            (chat, |r| {
                r.header("x-features", "a")
                    .json(&json!({ "model": "m", "messages": [] }))
            }),
            r#"`headers("x-features", ["a", "b"])` did not: header "x-features" was "a""#,
        ),
        (
            Mock::given(matchers::header_regex("user-agent", r"^agent/\d+$"))
                .respond_with(Reply::text("e")),
            (chat, |r| {
                r.header("user-agent", "agent/42")
                    .json(&json!({ "model": "m", "messages": [] }))
            }),
            (chat, |r| {
                r.header("user-agent", "agent/4x")
                    .json(&json!({ "model": "m", "messages": [] }))
            }),
            r#"header "user-agent" was "agent/4x""#,
        ),
        (
            Mock::given(matchers::body_json(
                json!({ "model": "exact", "messages": [] }),
            ))
            .respond_with(Reply::text("f")),
            (chat, |r| {
                r.json(&json!({ "messages": [], "model": "exact" }))
            }),
            (chat, |r| {
                r.json(&json!({ "model": "exact", "messages": [], "stream": false }))
            }),
            r#"the body has key "stream" too"#,
        ),
        (
            Mock::given(matchers::body_string_contains("needle")).respond_with(Reply::text("g")),
            (chat, |r| {
                r.json(&json!({ "model": "m", "messages": [{ "role": "user", "content": "a needle" }] }))
            }),
            (chat, |r| {
                r.json(&json!({ "model": "m", "messages": [{ "role": "user", "content": "hay" }] }))
            }),
            r#"`body_string_contains("needle")` did not: the body was"#,
        ),
    ];
    let client = reqwest::Client::new();
    for (mock, (path, build), (miss_path, build_miss), explanation) in cases {
        let server = MockChatServer::start().await;
        mock.expect(1).mount(&server).await;
        let matching = build(client.post(format!("{}{path}", server.uri())));
        assert_eq!(
            matching.send().await.unwrap().status(),
            200,
            "{explanation}"
        );
        let response = build_miss(client.post(format!("{}{miss_path}", server.uri())))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404);
        let text = response.text().await.unwrap();
        let error: Value = serde_json::from_str(&text).unwrap();
        let message = error["error"]["message"].as_str().unwrap();
        assert!(message.contains(explanation), "{explanation}\n{message}");
        assert!(!text.contains("sk-wrong"), "a secret in a report: {text}");
        // The mock matched its one request.
        server.verify().await;
    }
}

#[tokio::test]
async fn the_conversation_matchers_read_every_format_alike() {
    let server = MockChatServer::start().await;
    Mock::given(matchers::system_prompt_contains("weather bot"))
        .and(matchers::declares_tool("get_weather"))
        .and(matchers::has_tool_result())
        .and(matchers::tool_result_for("call_9"))
        .and(matchers::tool_result_contains("18"))
        .and(matchers::turn(2))
        .and(matchers::response_format("json_object"))
        .respond_with(Reply::text("matched"))
        .expect(5)
        .mount(&server)
        .await;
    let schema = json!({ "type": "object" });
    let openai = json!({ "model": "gpt-4o", "response_format": { "type": "json_object" },
        "tools": weather_tools(),
        "messages": [
            { "role": "system", "content": "You are a weather bot." },
            { "role": "user", "content": "Weather?" },
            { "role": "assistant", "tool_calls": [{ "id": "call_9", "type": "function",
                "function": { "name": "get_weather", "arguments": "{}" } }] },
            { "role": "tool", "tool_call_id": "call_9", "content": "18°C" }
        ] });
    let responses = json!({ "model": "gpt-4o", "instructions": "You are a weather bot.",
        "text": { "format": { "type": "json_object" } },
        "tools": [{ "type": "function", "name": "get_weather", "parameters": schema }],
        "input": [
            { "role": "user", "content": "Weather?" },
            { "type": "function_call", "call_id": "call_9", "name": "get_weather", "arguments": "{}" },
            { "type": "function_call_output", "call_id": "call_9", "output": "18°C" }
        ] });
    let anthropic = json!({ "model": "claude-sonnet-4-5", "max_tokens": 64,
        "system": [{ "type": "text", "text": "You are a weather bot." }],
        "output_format": { "type": "json_schema", "schema": schema },
        "tools": [{ "name": "get_weather", "input_schema": schema }],
        "messages": [
            { "role": "user", "content": "Weather?" },
            { "role": "assistant", "content": [{ "type": "tool_use", "id": "call_9", "name": "get_weather", "input": {} }] },
            { "role": "user", "content": [{ "type": "tool_result", "tool_use_id": "call_9", "content": [{ "type": "text", "text": "18°C" }] }] }
        ] });
    let gemini = json!({ "systemInstruction": { "parts": [{ "text": "You are a weather bot." }] },
        "generationConfig": { "responseMimeType": "application/json" },
        "tools": [{ "functionDeclarations": [{ "name": "get_weather" }] }],
        "contents": [
            { "role": "user", "parts": [{ "text": "Weather?" }] },
            { "role": "model", "parts": [{ "functionCall": { "id": "call_9", "name": "get_weather", "args": {} } }] },
            { "role": "user", "parts": [{ "functionResponse": { "id": "call_9", "name": "get_weather", "response": { "output": "18°C" } } }] }
        ] });
    let ollama = json!({ "model": "llama3.2", "stream": false, "format": "json", "tools": weather_tools(),
        "messages": [
            { "role": "system", "content": "You are a weather bot." },
            { "role": "user", "content": "Weather?" },
            { "role": "assistant", "content": "", "tool_calls": [{ "id": "call_9", "function": { "name": "get_weather", "arguments": {} } }] },
            { "role": "tool", "tool_name": "get_weather", "content": "18°C" }
        ] });
    // Anthropic's is a schema: the one request a json_object matcher must not match.
    let cases = [
        ("/v1/chat/completions", openai, 200),
        ("/v1/responses", responses, 200),
        ("/v1/messages", anthropic, 404),
        (
            "/v1beta/models/gemini-2.5-flash:generateContent",
            gemini,
            200,
        ),
        ("/api/chat", ollama, 200),
    ];
    for (path, body, expected) in cases {
        let (status, body) = post(&server, path, &body).await;
        assert_eq!(
            status,
            expected,
            "{path}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    let requests = server.received_requests().await;
    let chat = requests[2].chat().unwrap();
    assert_eq!(chat.response_format().name(), "json_schema");
    assert_eq!(chat.response_format().schema(), Some(&schema));
    // Send one more request in a shape the mock takes, so its expectation of 5 is met.
    let (status, _) = post(
        &server,
        "/v1/chat/completions",
        &json!({ "model": "gpt-4o",
        "response_format": { "type": "json_object" }, "tools": weather_tools(),
        "messages": [
            { "role": "developer", "content": "You are a weather bot." },
            { "role": "user", "content": "Weather?" },
            { "role": "assistant", "tool_calls": [{ "id": "call_9", "type": "function",
                "function": { "name": "get_weather", "arguments": "{}" } }] },
            { "role": "tool", "tool_call_id": "call_9", "content": "it is 18" }
        ] }),
    )
    .await;
    assert_eq!(status, 200);
}

/// The README's "Testing an agent loop" example, as written there.
#[tokio::test]
async fn the_readme_agent_loop_example_holds() {
    let server = MockChatServer::start().await;
    Conversation::new()
        .and(matchers::declares_tool("get_weather"))
        // Turn 1: the model calls the tool.
        .turn(Reply::tool_call(
            ToolCall::function("get_weather", json!({ "city": "Paris" })).with_id("call_1"),
        ))
        // Turn 2: it answers from the result the client sent back.
        .turn(|request: &chatmock::ReceivedRequest| {
            let result = request
                .chat()
                .unwrap()
                .latest_tool_results()
                .next()
                .unwrap();
            Reply::text(format!("It is {} in Paris.", result.content()))
        })
        .named("weather agent")
        .mount(&server)
        .await;

    // The loop under test (here by hand; any client works).
    let client = reqwest::Client::new();
    let url = format!("{}/chat/completions", server.openai_base_url());
    let tools = json!([{ "type": "function", "function": { "name": "get_weather" } }]);
    let mut messages = vec![json!({ "role": "user", "content": "Weather in Paris?" })];
    let body =
        |messages: &Vec<Value>| json!({ "model": "gpt-4o", "messages": messages, "tools": tools });
    let first: Value = client
        .post(&url)
        .json(&body(&messages))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    messages.push(first["choices"][0]["message"].clone());
    messages.push(json!({ "role": "tool", "tool_call_id": "call_1", "content": "18°C" }));
    let second: Value = client
        .post(&url)
        .json(&body(&messages))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        second["choices"][0]["message"]["content"],
        "It is 18°C in Paris."
    );
} // dropping `server` checks that every turn was reached
