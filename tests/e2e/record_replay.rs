//! Record and replay: a chatmock server records what an upstream (another chatmock
//! server on loopback, as no test reaches the internet) streams through it, with every
//! event's offset, into a fixture file; a server loads that file and replays the events
//! byte for byte at their offsets, with scripted faults on top.

use std::time::Duration;

use chatmock::{Conversation, Fixture, MockChatServer, RecordMode, Reply, StreamError, ToolCall};
use futures::StreamExt;
use reqwest_eventsource::{Event, EventSource};
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::process::FixtureFile;
use crate::support::{chat_body, every_format, ms};

/// A file for one test's recording, deleted when dropped.
fn recording_file(name: &str) -> FixtureFile {
    FixtureFile::new(&format!("recording-{name}"), "")
}

/// A response's status, its body, and each piece of it with its time from `since`.
struct Received {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
    pieces: Vec<(Duration, Vec<u8>)>,
    error: Option<reqwest::Error>,
}

async fn send(
    client: &reqwest::Client,
    method: &str,
    url: String,
    body: String,
    headers: &[(&str, &str)],
) -> Received {
    let since = Instant::now();
    let mut request = client
        .request(method.parse().unwrap(), url)
        .header("content-type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if method == "POST" {
        request = request.body(body);
    }
    let response = request.send().await.expect("the server answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let mut stream = response.bytes_stream();
    let mut body = Vec::new();
    let mut pieces = Vec::new();
    let mut error = None;
    while let Some(piece) = stream.next().await {
        match piece {
            Ok(bytes) => {
                body.extend_from_slice(&bytes);
                pieces.push((since.elapsed(), bytes.to_vec()));
            }
            Err(failure) => {
                error = Some(failure);
                break;
            }
        }
    }
    Received {
        status,
        headers,
        body,
        pieces,
        error,
    }
}

fn recorded_file(path: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The recorded events of a file's mock `index`: offset and text.
fn recorded_events(file: &Value, index: usize) -> Vec<(Duration, String)> {
    file["mocks"][index]["reply"]["recorded"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| {
            let at = Duration::from_micros(event["at_us"].as_u64().unwrap());
            (at, event["text"].as_str().unwrap().to_owned())
        })
        .collect()
}

// --- Replay -------------------------------------------------------------------------------

const SSE_RECORDING: &str = r#"{
    "mocks": [{
        "when": { "path": "/v1/chat/completions" },
        "reply": {
            "recorded": {
                "status": 200,
                "headers": { "content-type": "text/event-stream", "x-request-id": "req_rec_1" },
                "headers_at_us": 120000,
                "events": [
                    { "at_us": 180000, "text": "data: {\"choices\":[{\"delta\":{\"content\":\"It\"}}]}\n\n" },
                    { "at_us": 180000, "text": "data: {\"choices\":[{\"delta\":{\"content\":\" is\"}}]}\n\n" },
                    { "at_us": 455500, "text": "data: {\"choices\":[{\"delta\":{\"content\":\" sunny\"}}]}\n\n" },
                    { "at_us": 1250000, "text": "data: [DONE]\n\n" }
                ]
            }
        }
    }]
}"#;

async fn replay_server(fixture: &str) -> MockChatServer {
    MockChatServer::builder()
        .virtual_time()
        .fixture(Fixture::from_json(fixture).unwrap())
        .start()
        .await
}

#[tokio::test(start_paused = true)]
async fn a_recording_replays_byte_for_byte_with_every_event_at_its_offset() {
    let wall = std::time::Instant::now();
    let server = replay_server(SSE_RECORDING).await;
    let client = reqwest::Client::new();
    // Streaming or not, the recording plays as recorded.
    let url = format!("{}/v1/chat/completions", server.uri());
    let got = send(&client, "POST", url, chat_body("m", "Hi", false), &[]).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.headers["x-request-id"], "req_rec_1");
    assert_eq!(got.headers["content-type"], "text/event-stream");
    let file: Value = serde_json::from_str(SSE_RECORDING).unwrap();
    let events = recorded_events(&file, 0);
    let expected: String = events.iter().map(|(_, text)| text.as_str()).collect();
    assert_eq!(String::from_utf8(got.body).unwrap(), expected);
    // Each piece arrives at the offset of the events it holds, to the timer's millisecond.
    let mut offset_of_each_byte = Vec::new();
    for (at, text) in &events {
        offset_of_each_byte.extend(std::iter::repeat_n(*at, text.len()));
    }
    let mut position = 0;
    for (arrived, piece) in &got.pieces {
        let due = offset_of_each_byte[position + piece.len() - 1];
        assert!(
            *arrived >= due && *arrived <= due + ms(1),
            "bytes {position}.. arrived at {arrived:?}, recorded at {due:?}"
        );
        position += piece.len();
    }
    assert!(
        got.pieces.len() >= 3,
        "three distinct offsets: {:?}",
        got.pieces.len()
    );
    assert!(wall.elapsed() < Duration::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn speed_and_instant_rescale_the_offsets_and_keep_the_bytes() {
    type Adjust = fn(Reply) -> Reply;
    let cases: [(Adjust, Duration); 3] = [
        (|reply| reply, ms(1250)),
        (|reply| reply.speed(2.0), ms(625)),
        (|reply| reply.instant(), Duration::ZERO),
    ];
    let file: Value = serde_json::from_str(SSE_RECORDING).unwrap();
    let reply_json = &file["mocks"][0]["reply"];
    for (adjust, total) in cases {
        let reply: Reply = serde_json::from_value(reply_json.clone()).unwrap();
        let server = MockChatServer::builder()
            .virtual_time()
            .reply(adjust(reply))
            .start()
            .await;
        let url = format!("{}/v1/chat/completions", server.uri());
        let got = send(
            &reqwest::Client::new(),
            "POST",
            url,
            chat_body("m", "Hi", true),
            &[],
        )
        .await;
        let (last, _) = got.pieces.last().unwrap();
        assert!(
            *last >= total && *last <= total + ms(1),
            "the last event at {last:?}, expected {total:?}"
        );
        assert!(String::from_utf8(got.body)
            .unwrap()
            .ends_with("data: [DONE]\n\n"));
    }
    // The fixture keys do the same.
    let fast = SSE_RECORDING.replace(
        "\"reply\": {\n",
        "\"reply\": {\n            \"speed\": 4,\n",
    );
    let server = replay_server(&fast).await;
    let url = format!("{}/v1/chat/completions", server.uri());
    let got = send(
        &reqwest::Client::new(),
        "POST",
        url,
        chat_body("m", "Hi", true),
        &[],
    )
    .await;
    let (last, _) = got.pieces.last().unwrap();
    assert!(*last >= ms(312) && *last <= ms(314), "{last:?}");
}

#[tokio::test(start_paused = true)]
async fn a_fault_overlays_a_recording_counting_its_events() {
    let ten_events: Vec<(Duration, String)> = (1..=10)
        .map(|n| (ms(10 * n), format!("data: {{\"n\":{n}}}\n\n")))
        .collect();
    let recorded =
        || Reply::recorded(200, ten_events.clone()).header("content-type", "text/event-stream");
    let server = MockChatServer::builder()
        .virtual_time()
        .reply_sequence([
            recorded().error_after(7, StreamError::overloaded()),
            recorded().disconnect_after(3),
        ])
        .start()
        .await;
    let client = reqwest::Client::new();
    let url = format!("{}/v1/chat/completions", server.uri());
    let got = send(
        &client,
        "POST",
        url.clone(),
        chat_body("m", "Hi", true),
        &[],
    )
    .await;
    let text = String::from_utf8(got.body).unwrap();
    let (before, error) = text.split_at(text.find("data: {\"error\"").expect("an error event"));
    assert_eq!(
        before,
        ten_events[..7]
            .iter()
            .map(|(_, t)| t.as_str())
            .collect::<String>()
    );
    assert!(error.contains("overloaded"), "{error}");
    let got = send(&client, "POST", url, chat_body("m", "Hi", true), &[]).await;
    assert!(got.error.is_some(), "the body breaks off");
    assert_eq!(
        String::from_utf8(got.body).unwrap(),
        ten_events[..3]
            .iter()
            .map(|(_, t)| t.as_str())
            .collect::<String>()
    );
}

#[tokio::test]
async fn reqwest_eventsource_resumes_a_recorded_stream_after_a_scripted_reset() {
    let fixture = r#"{
        "reply": {
            "recorded": {
                "status": 200,
                "headers": { "content-type": "text/event-stream" },
                "events": [
                    { "at_us": 1000, "text": "data: one\n\n" },
                    { "at_us": 2000, "text": "data: two\n\n" },
                    { "at_us": 3000, "text": "data: three\n\n" },
                    { "at_us": 4000, "text": "data: four\n\n" },
                    { "at_us": 5000, "text": "data: five\n\n" },
                    { "at_us": 6000, "text": "data: six\n\n" },
                    { "at_us": 7000, "text": "data: seven\n\n" },
                    { "at_us": 8000, "text": "data: eight\n\n" },
                    { "at_us": 9000, "text": "data: nine\n\n" },
                    { "at_us": 10000, "text": "data: [DONE]\n\n" }
                ]
            },
            "event_ids": true,
            "reconnection_time": "20ms",
            "reset_connection_after": 7
        }
    }"#;
    let server = MockChatServer::builder()
        .fixture(Fixture::from_json(fixture).unwrap())
        .start()
        .await;
    let request = reqwest012::Client::new()
        .post(format!("{}/v1/chat/completions", server.uri()))
        .header("content-type", "application/json")
        .body(chat_body("m", "Hi", true));
    let mut source = EventSource::new(request).unwrap();
    let mut data = Vec::new();
    let mut errors = 0;
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), source.next())
            .await
            .expect("the client makes progress")
            .expect("the source stays open");
        match event {
            Ok(Event::Open) => {}
            Ok(Event::Message(message)) if message.data == "[DONE]" => break,
            Ok(Event::Message(message)) => data.push(message.data),
            Err(_) => errors += 1,
        }
    }
    source.close();
    assert_eq!(
        data,
        ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    );
    assert_eq!(errors, 1, "one reset, after event 7");
    let requests = server.received_requests().await;
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1].header("last-event-id"), Some("7"));
}

#[test]
fn recording_mistakes_are_named_at_their_place_in_the_fixture() {
    let error = |fixture: &str| Fixture::from_json(fixture).unwrap_err().to_string();
    let backwards = error(
        r#"{"reply": {"recorded": {"status": 200, "events": [
            {"at_us": 50, "text": "a"}, {"at_us": 40, "text": "b"}]}}}"#,
    );
    assert_eq!(
        backwards,
        "at reply.recorded.events[1].at_us: recorded event 1 comes at 40us, before the event \
         ahead of it (at 50us): offsets count from the request and never decrease"
    );
    let status = error(r#"{"reply": {"recorded": {"status": 700}}}"#);
    assert!(
        status.starts_with("at reply.recorded.status: 700 is not an HTTP status"),
        "{status}"
    );
    let scripted =
        error(r#"{"mocks": [{"reply": {"recorded": {"status": 200}, "token_delay": "5ms"}}]}"#);
    assert!(
        scripted.starts_with(
            "at mocks[0].reply.token_delay: this option shapes a script written by hand, but \
             this reply is recorded"
        ),
        "{scripted}"
    );
    let speed = error(r#"{"reply": {"text": "Hi", "speed": 2}}"#);
    assert!(
        speed.starts_with("at reply.speed: this option applies to recorded replies"),
        "{speed}"
    );
    let bytes = error(r#"{"reply": {"recorded": {"status": 200, "events": [{"at_us": 1}]}}}"#);
    assert!(
        bytes.starts_with("at reply.recorded.events[0]: a recorded event needs its bytes"),
        "{bytes}"
    );
    let base64 = error(
        r#"{"reply": {"recorded": {"status": 200, "events": [{"at_us": 1, "base64": "!!"}]}}}"#,
    );
    assert!(
        base64.starts_with("at reply.recorded.events[0].base64: expected standard base64"),
        "{base64}"
    );
}

#[test]
#[should_panic(expected = "Reply::token_delay: this option shapes a script written by hand")]
fn a_script_option_on_a_recorded_reply_panics_naming_it() {
    let _ = Reply::recorded(200, [(ms(1), "data: x\n\n")]).token_delay(ms(5));
}

// --- Recording ----------------------------------------------------------------------------

/// An upstream that streams every format with varied delays.
async fn paced_upstream() -> MockChatServer {
    MockChatServer::builder()
        .reply(
            Reply::text("The weather in Paris is sunny")
                .first_token_delay(ms(40))
                .token_delay(ms(15))
                .header("x-request-id", "req_upstream")
                .header("set-cookie", "session=upstream-cookie-value"),
        )
        .start()
        .await
}

// Paused: the recording runs on the upstream's and the proxy's own threads, in real
// time; the replay runs on this runtime, in virtual time, to be exact.
#[tokio::test(start_paused = true)]
async fn every_format_recorded_through_the_proxy_replays_byte_for_byte_at_its_offsets() {
    let upstream = paced_upstream().await;
    let file = recording_file("every-format");
    let proxy = MockChatServer::builder()
        .record_from(upstream.uri())
        .record_to(file.as_path())
        .start()
        .await;
    let client = reqwest::Client::new();
    let mut originals = Vec::new();
    for case in every_format() {
        let url = format!("{}{}", proxy.uri(), case.path);
        let got = send(&client, case.method, url, case.body.clone(), &[]).await;
        assert_eq!(got.status, 200, "{}", case.name);
        assert!(got.error.is_none(), "{}", case.name);
        originals.push((case, got));
    }
    proxy.stop().await;
    let recording = recorded_file(file.as_path());
    let mocks = recording["mocks"].as_array().unwrap();
    assert_eq!(mocks.len(), originals.len(), "one mock per request");

    // Replayed in virtual time: the same bytes, each event at its recorded offset.
    let replay = MockChatServer::builder()
        .virtual_time()
        .fixture(Fixture::load(file.as_path()).unwrap())
        .start()
        .await;
    for (index, (case, original)) in originals.iter().enumerate() {
        let url = format!("{}{}", replay.uri(), case.path);
        let got = send(&client, case.method, url, case.body.clone(), &[]).await;
        assert_eq!(got.status, original.status, "{}", case.name);
        assert_eq!(
            String::from_utf8_lossy(&got.body),
            String::from_utf8_lossy(&original.body),
            "{}: the replay sends the recorded bytes",
            case.name
        );
        assert_eq!(
            got.headers["content-type"],
            original.headers["content-type"]
        );
        assert_eq!(got.headers["x-request-id"], "req_upstream", "{}", case.name);
        assert!(got.headers.get("set-cookie").is_none());
        let events = recorded_events(&recording, index);
        let (last_at, _) = events.last().unwrap();
        let (arrived, _) = got.pieces.last().unwrap();
        // The timer rounds the headers' wait and the events' up to the millisecond.
        assert!(
            *arrived >= *last_at && *arrived <= *last_at + ms(2),
            "{}: the last event at {arrived:?} in virtual time, recorded at {last_at:?}",
            case.name
        );
    }
}

#[tokio::test]
async fn a_recording_replays_in_real_time_at_its_offsets() {
    let upstream = MockChatServer::builder()
        .reply(
            Reply::tokens(["a", "b", "c", "d"])
                .first_token_delay(ms(60))
                .token_delay(ms(40)),
        )
        .start()
        .await;
    let file = recording_file("real-time");
    let proxy = MockChatServer::builder()
        .record_from(upstream.uri())
        .record_to(file.as_path())
        .start()
        .await;
    let client = reqwest::Client::new();
    let url = format!("{}/v1/chat/completions", proxy.uri());
    send(&client, "POST", url, chat_body("m", "Hi", true), &[]).await;
    proxy.stop().await;
    let recording = recorded_file(file.as_path());
    let events = recorded_events(&recording, 0);
    let replay = MockChatServer::builder()
        .fixture(Fixture::load(file.as_path()).unwrap())
        .start()
        .await;
    let url = format!("{}/v1/chat/completions", replay.uri());
    let got = send(&client, "POST", url, chat_body("m", "Hi", true), &[]).await;
    // Each piece the client read against the recorded offset of the last event it holds:
    // never early (a replay that did not wait would send everything at once, long before
    // the later offsets), and late by no more than a loaded machine's scheduling. How
    // exact the offsets are is checked in virtual time, where the machine's load does not
    // move them (`every_format_recorded_through_the_proxy_replays_...`); here, with a busy
    // loop on each of two cores, pieces came up to 46 ms late and gaps moved by as much.
    let mut position = 0;
    let mut event_ends = Vec::new();
    for (at, text) in &events {
        position += text.len();
        event_ends.push((position, *at));
    }
    let mut received = 0;
    for (arrived, piece) in &got.pieces {
        received += piece.len();
        let (_, due) = event_ends.iter().find(|(end, _)| *end >= received).unwrap();
        assert!(
            *arrived + ms(2) >= *due && *arrived <= *due + ms(150),
            "a piece at {arrived:?}, its last event recorded at {due:?}"
        );
    }
    assert!(events.last().unwrap().0 >= ms(180), "{events:?}");
    assert!(got.pieces.len() >= 2, "{:?}", got.pieces);
}

#[tokio::test]
async fn the_proxy_passes_the_upstreams_pacing_through_without_buffering() {
    let upstream = MockChatServer::builder()
        .reply(
            Reply::tokens(["first", "second"])
                .first_token_delay(ms(300))
                .token_delay(ms(700)),
        )
        .start()
        .await;
    let file = recording_file("pacing");
    let proxy = MockChatServer::builder()
        .record_from(upstream.uri())
        .record_to(file.as_path())
        .start()
        .await;
    let client = reqwest::Client::new();
    let direct = send(
        &client,
        "POST",
        format!("{}/v1/chat/completions", upstream.uri()),
        chat_body("m", "Hi", true),
        &[],
    )
    .await;
    let proxied = send(
        &client,
        "POST",
        format!("{}/v1/chat/completions", proxy.uri()),
        chat_body("m", "Hi", true),
        &[],
    )
    .await;
    let first_token = |got: &Received| {
        let mut seen = Vec::new();
        for (at, piece) in &got.pieces {
            seen.extend_from_slice(piece);
            if String::from_utf8_lossy(&seen).contains("first") {
                return *at;
            }
        }
        panic!("no first token")
    };
    let (direct_first, proxied_first) = (first_token(&direct), first_token(&proxied));
    // The first token reached the client when the upstream sent it, long before the
    // upstream's second was due (at 1 s): nothing was held back to be sent with it. The
    // bound is loose, as a loaded machine delays both paths alike.
    assert!(
        proxied_first >= ms(300) && proxied_first < ms(900),
        "first token {proxied_first:?} through the proxy, {direct_first:?} directly"
    );
    let (end, _) = proxied.pieces.last().unwrap();
    assert!(*end >= ms(1000), "{end:?}");
}

#[tokio::test]
async fn errors_and_rate_limits_are_recorded_and_replayed_with_their_status() {
    let upstream = MockChatServer::builder()
        .reply_sequence([
            Reply::rate_limited().retry_after(ms(2000)),
            Reply::text("one two three").error_after(2, StreamError::server_error()),
        ])
        .start()
        .await;
    let file = recording_file("errors");
    let proxy = MockChatServer::builder()
        .record_from(upstream.uri())
        .record_to(file.as_path())
        .start()
        .await;
    let client = reqwest::Client::new();
    let url = format!("{}/v1/chat/completions", proxy.uri());
    let limited = send(
        &client,
        "POST",
        url.clone(),
        chat_body("m", "Hi", true),
        &[],
    )
    .await;
    let broken = send(&client, "POST", url, chat_body("m", "Hi", true), &[]).await;
    assert_eq!(limited.status, 429);
    proxy.stop().await;
    let recording = recorded_file(file.as_path());
    // The same request twice: one mock, its replies in order.
    let replies = recording["mocks"][0]["replies"].as_array().unwrap();
    assert_eq!(replies.len(), 2);
    assert_eq!(replies[0]["recorded"]["status"], 429);
    assert_eq!(replies[0]["recorded"]["headers"]["retry-after"], "2");
    let replay = MockChatServer::builder()
        .fixture(Fixture::load(file.as_path()).unwrap())
        .start()
        .await;
    let url = format!("{}/v1/chat/completions", replay.uri());
    let again = send(
        &client,
        "POST",
        url.clone(),
        chat_body("m", "Hi", true),
        &[],
    )
    .await;
    assert_eq!(again.status, 429);
    assert_eq!(again.headers["retry-after"], "2");
    assert_eq!(again.body, limited.body);
    let again = send(&client, "POST", url, chat_body("m", "Hi", true), &[]).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body, broken.body);
    assert!(String::from_utf8_lossy(&again.body).contains("\"error\""));
}

#[tokio::test]
async fn no_credential_reaches_the_file_and_redaction_masks_body_text() {
    const KEY: &str = "sk-live-abcdefghijklmnop";
    let upstream = MockChatServer::builder()
        // An upstream that echoes the key, and says an account id the test redacts.
        .reply(
            Reply::text(format!("Your key {KEY} belongs to acct_123456"))
                .header("set-cookie", "session=secret-session-cookie"),
        )
        .start()
        .await;
    let file = recording_file("secrets");
    let proxy = MockChatServer::builder()
        .record_from(upstream.uri())
        .record_to(file.as_path())
        .redact(r"acct_[0-9]+")
        .start()
        .await;
    let client = reqwest::Client::new();
    let bearer = format!("Bearer {KEY}");
    let headers = [
        ("authorization", bearer.as_str()),
        ("x-api-key", KEY),
        ("x-goog-api-key", KEY),
        ("api-key", KEY),
        ("cookie", "session=client-cookie-value"),
    ];
    let url = format!(
        "{}/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse&key={KEY}",
        proxy.uri()
    );
    let body = json!({ "contents": [{ "parts": [{ "text": "Whose key?" }] }] }).to_string();
    let got = send(&client, "POST", url, body, &headers).await;
    assert!(
        String::from_utf8_lossy(&got.body).contains(KEY),
        "the client gets it all"
    );
    let url = format!("{}/v1/chat/completions", proxy.uri());
    send(&client, "POST", url, chat_body("m", "Hi", false), &headers).await;
    proxy.stop().await;
    // The upstream got the client's own headers.
    let forwarded = upstream.received_requests().await;
    assert_eq!(forwarded[0].header("x-api-key"), Some(KEY));
    assert_eq!(forwarded[0].query().unwrap(), format!("alt=sse&key={KEY}"));
    let text = std::fs::read_to_string(file.as_path()).unwrap();
    for secret in [
        KEY,
        "client-cookie-value",
        "secret-session-cookie",
        "acct_123456",
    ] {
        assert!(!text.contains(secret), "{secret} is in the file:\n{text}");
    }
    assert!(!text.to_lowercase().contains("set-cookie"));
    assert!(text.contains("[REDACTED]"));
    let recording: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        recording["mocks"][0]["when"]["query_params"],
        json!({ "alt": "sse" })
    );
}

#[tokio::test]
async fn a_three_turn_agent_loop_is_recorded_step_by_step_and_replays() {
    let weather = |city: &str, id: &str| {
        Reply::tool_call(ToolCall::function("get_weather", json!({ "city": city })).with_id(id))
    };
    let upstream = MockChatServer::start().await;
    Conversation::new()
        .turn(weather("Paris", "call_paris"))
        .turn(weather("Rome", "call_rome"))
        .turn(Reply::text("Paris is sunny and Rome is rainy."))
        .mount(&upstream)
        .await;
    let file = recording_file("agent-loop");
    let proxy = MockChatServer::builder()
        .record_from(upstream.uri())
        .record_to(file.as_path())
        .start()
        .await;
    let recorded_answers = drive_agent_loop(&proxy).await;
    proxy.stop().await;
    let recording = recorded_file(file.as_path());
    let whens: Vec<&Value> = recording["mocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|mock| &mock["when"])
        .collect();
    assert_eq!(whens.len(), 3, "{whens:?}");
    assert_eq!(whens[0]["turn"], 1);
    assert_eq!(whens[1]["turn"], 2);
    assert_eq!(whens[1]["tool_result_for"], "call_paris");
    assert_eq!(whens[2]["turn"], 3);
    assert_eq!(whens[2]["tool_result_for"], "call_rome");
    assert_eq!(
        whens[0]["last_user_message_is"],
        "Weather in Paris and Rome?"
    );

    let replay = MockChatServer::builder()
        .fixture(Fixture::load(file.as_path()).unwrap())
        .start()
        .await;
    assert_eq!(drive_agent_loop(&replay).await, recorded_answers);
    assert_eq!(
        recorded_answers.last().unwrap(),
        "Paris is sunny and Rome is rainy."
    );
}

/// A tool loop driven as an agent does: it sends the conversation, runs each tool the
/// model calls, and sends the results back until the model answers in text. Returns
/// what the model said on each turn (a tool call's id, or the text).
async fn drive_agent_loop(server: &MockChatServer) -> Vec<String> {
    let client = reqwest::Client::new();
    let mut messages = vec![json!({ "role": "user", "content": "Weather in Paris and Rome?" })];
    let mut said = Vec::new();
    for _ in 0..5 {
        let body = json!({ "model": "gpt-4o", "messages": messages, "tools": [{
            "type": "function",
            "function": { "name": "get_weather", "parameters": { "type": "object" } }
        }]});
        let answer: Value = client
            .post(format!("{}/v1/chat/completions", server.uri()))
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let message = answer["choices"][0]["message"].clone();
        messages.push(message.clone());
        match message["tool_calls"].as_array() {
            Some(calls) => {
                for call in calls {
                    let id = call["id"].as_str().unwrap();
                    said.push(id.to_owned());
                    messages.push(json!({ "role": "tool", "tool_call_id": id, "content": "18C" }));
                }
            }
            None => {
                said.push(message["content"].as_str().unwrap().to_owned());
                return said;
            }
        }
    }
    panic!("the loop did not end: {said:?}");
}

#[tokio::test]
async fn re_recording_the_same_conversation_differs_only_in_its_offsets() {
    let mut files = Vec::new();
    for attempt in 0..2 {
        let upstream = paced_upstream().await;
        let file = recording_file(&format!("stable-{attempt}"));
        let proxy = MockChatServer::builder()
            .record_from(upstream.uri())
            .record_to(file.as_path())
            .start()
            .await;
        let client = reqwest::Client::new();
        for case in every_format().into_iter().filter(|case| case.streams) {
            let url = format!("{}{}", proxy.uri(), case.path);
            send(&client, case.method, url, case.body, &[]).await;
        }
        proxy.stop().await;
        files.push(file);
    }
    let without_offsets = |file: &FixtureFile| {
        let text = std::fs::read_to_string(file.as_path()).unwrap();
        let text = with_unframed_bodies_joined(&text);
        // Nothing but the offsets and what the provider says of its own clock (when it
        // created and completed the response, when its rate limit resets) varies: the
        // upstream's ids count from its start, so they repeat here.
        let offsets = regex::Regex::new(r#""(headers_)?at_us": \d+"#).unwrap();
        let clock = regex::Regex::new(
            r#"((?:created|completed)(?:_at)?\\":\s*(?:\\")?|x-ratelimit-reset-[a-z]+": ")[0-9a-zA-Z:.+\-]+"#,
        )
        .unwrap();
        let text = offsets.replace_all(&text, "at_us: _");
        clock.replace_all(&text, "${1}_").into_owned()
    };
    let (first, second) = (without_offsets(&files[0]), without_offsets(&files[1]));
    assert_eq!(first, second);
    assert!(first.contains("at_us: _"), "{first}");
}

/// The recording `text` with the events of each body that has no framing of its own (a
/// JSON array streamed as it is written, which is recorded piece by piece as it arrived)
/// joined into one: where such a body's pieces fall depends on how the proxy's reads met
/// the upstream's writes, which a loaded machine changes from one recording to the next.
fn with_unframed_bodies_joined(text: &str) -> String {
    let mut recording: Value = serde_json::from_str(text).unwrap();
    for mock in recording["mocks"].as_array_mut().unwrap() {
        let recorded = &mut mock["reply"]["recorded"];
        let content_type = recorded["headers"]["content-type"].as_str().unwrap_or("");
        if !content_type.starts_with("application/json") {
            continue;
        }
        let events = recorded["events"].as_array().unwrap();
        let joined: String = events
            .iter()
            .map(|event| event["text"].as_str().unwrap())
            .collect();
        let at_us = events[0]["at_us"].clone();
        recorded["events"] = json!([{ "at_us": at_us, "text": joined }]);
    }
    serde_json::to_string_pretty(&recording).unwrap()
}

#[tokio::test]
async fn record_missing_replays_what_the_file_has_and_appends_what_it_misses() {
    let upstream = MockChatServer::builder()
        .reply(Reply::text("from the upstream"))
        .start()
        .await;
    let file = recording_file("missing");
    std::fs::write(
        file.as_path(),
        json!({ "mocks": [{
            "when": { "last_user_message_is": "known" },
            "reply": { "text": "from the file" }
        }]})
        .to_string(),
    )
    .unwrap();
    let ask = |server: &MockChatServer, message: &str| {
        let url = format!("{}/v1/chat/completions", server.uri());
        let body = chat_body("m", message, false);
        async move {
            let response = reqwest::Client::new()
                .post(url)
                .body(body)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let answer: Value = response.json().await.unwrap();
            (status, answer)
        }
    };
    let server = MockChatServer::builder()
        .replay_or_record(file.as_path(), upstream.uri(), RecordMode::Missing)
        .start()
        .await;
    let (_, known) = ask(&server, "known").await;
    assert_eq!(known["choices"][0]["message"]["content"], "from the file");
    let (_, new) = ask(&server, "new").await;
    assert_eq!(new["choices"][0]["message"]["content"], "from the upstream");
    server.stop().await;
    assert_eq!(
        upstream.received_requests().await.len(),
        1,
        "only the miss went upstream"
    );
    let recording = recorded_file(file.as_path());
    assert_eq!(recording["mocks"].as_array().unwrap().len(), 2);
    assert_eq!(recording["mocks"][1]["when"]["last_user_message_is"], "new");

    // Replay only: both answered from the file, a miss is the usual 404, nothing upstream.
    let replay = MockChatServer::builder()
        .replay_or_record(file.as_path(), upstream.uri(), RecordMode::Never)
        .start()
        .await;
    let (_, new) = ask(&replay, "new").await;
    assert_eq!(new["choices"][0]["message"]["content"], "from the upstream");
    let (status, miss) = ask(&replay, "never recorded").await;
    assert_eq!(status, 404, "{miss}");
    let message = miss["error"]["message"].as_str().unwrap();
    assert!(
        message.ends_with(&format!(
            "This server replays the recording {}, which has no answer for this request: \
             record it with CHATMOCK_RECORD=missing (RecordMode::Missing).",
            file.as_path().display()
        )),
        "{message}"
    );
    assert_eq!(upstream.received_requests().await.len(), 1);
}

#[test]
#[should_panic(expected = "there is no recording at")]
fn replaying_a_recording_that_does_not_exist_panics_saying_how_to_record_it() {
    let _ = MockChatServer::builder().replay_or_record(
        "/nonexistent/chatmock-recording.json",
        "http://127.0.0.1:9",
        RecordMode::Never,
    );
}

#[tokio::test]
async fn a_recording_server_says_what_is_wrong_with_its_setup_or_its_upstream() {
    let file = recording_file("setup");
    let error = MockChatServer::builder()
        .record_from("https://api.openai.com")
        .record_to(file.as_path())
        .try_start()
        .await
        .err();
    if cfg!(not(feature = "record-tls")) {
        let error = error.expect("an https upstream needs the record-tls feature");
        assert!(error.to_string().contains("plain HTTP only"), "{error}");
    }
    let error = MockChatServer::builder()
        .record_from("http://127.0.0.1:9")
        .try_start()
        .await
        .err()
        .unwrap();
    assert!(
        error.to_string().contains("add .record_to(path)"),
        "{error}"
    );
    // An upstream that is not there: a 502 that names it.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = closed.local_addr().unwrap();
    drop(closed);
    let proxy = MockChatServer::builder()
        .record_from(format!("http://{address}"))
        .record_to(file.as_path())
        .start()
        .await;
    let got = send(
        &reqwest::Client::new(),
        "POST",
        format!("{}/v1/chat/completions", proxy.uri()),
        chat_body("m", "Hi", false),
        &[],
    )
    .await;
    assert_eq!(got.status, 502);
    let body = String::from_utf8(got.body).unwrap();
    assert!(body.contains(&format!("cannot reach {address}")), "{body}");
}

#[tokio::test]
async fn the_openai_python_sdk_drives_a_recorded_three_turn_agent_loop_on_replay() {
    use crate::sdk_clients::{run_client_at, Sdk};
    let weather = |city: &str, id: &str| {
        Reply::tool_call(ToolCall::function("get_weather", json!({ "city": city })).with_id(id))
            .token_delay(ms(2))
    };
    let upstream = MockChatServer::start().await;
    Conversation::new()
        .turn(weather("Paris", "call_paris"))
        .turn(weather("Rome", "call_rome"))
        .turn(Reply::text("Paris and Rome are both at 18°C.").token_delay(ms(2)))
        .mount(&upstream)
        .await;
    let file = recording_file("python-agent-loop");
    let proxy = MockChatServer::builder()
        .record_from(upstream.uri())
        .record_to(file.as_path())
        .start()
        .await;
    let scenario = "agent_loop_until_answer";
    let Some(recorded) = run_client_at(Sdk::OpenAiPython, proxy.openai_base_url(), scenario).await
    else {
        // Skipped: the conversation's expectations were never the point.
        upstream.reset().await;
        return;
    };
    proxy.stop().await;
    assert_eq!(upstream.received_requests().await.len(), 3);
    assert_eq!(
        recorded.result["answer"],
        "Paris and Rome are both at 18°C."
    );

    let replay = MockChatServer::builder()
        .fixture(Fixture::load(file.as_path()).unwrap())
        .start()
        .await;
    let replayed = run_client_at(Sdk::OpenAiPython, replay.openai_base_url(), scenario)
        .await
        .expect("the SDK ran once already");
    assert_eq!(replayed.result, recorded.result);
    let calls = replayed.result["calls"].as_array().unwrap();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1]["id"], "call_rome");
    let requests = replay.received_requests().await;
    assert_eq!(requests.len(), 3);
    assert!(requests
        .iter()
        .all(|request| request.response_status() == Some(200)));
}

#[tokio::test]
async fn bytes_that_are_not_utf8_are_recorded_as_base64_and_replayed_exactly() {
    use chatmock::Step;
    let upstream = MockChatServer::builder()
        .reply(Reply::steps([
            Step::token("a"),
            Step::raw(b"data: \xff\xfe broken\n\n".to_vec()),
            Step::token("b"),
        ]))
        .start()
        .await;
    let file = recording_file("binary");
    let proxy = MockChatServer::builder()
        .record_from(upstream.uri())
        .record_to(file.as_path())
        .start()
        .await;
    let client = reqwest::Client::new();
    let url = format!("{}/v1/chat/completions", proxy.uri());
    let original = send(&client, "POST", url, chat_body("m", "Hi", true), &[]).await;
    proxy.stop().await;
    let recording = recorded_file(file.as_path());
    let events = recording["mocks"][0]["reply"]["recorded"]["events"]
        .as_array()
        .unwrap();
    assert!(
        events.iter().any(|event| event.get("base64").is_some()),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .filter(|event| event.get("text").is_some())
            .count()
            >= 3
    );
    let replay = MockChatServer::builder()
        .fixture(Fixture::load(file.as_path()).unwrap())
        .start()
        .await;
    let url = format!("{}/v1/chat/completions", replay.uri());
    let replayed = send(&client, "POST", url, chat_body("m", "Hi", true), &[]).await;
    assert_eq!(replayed.body, original.body);
    assert!(original.body.windows(2).any(|pair| pair == b"\xff\xfe"));
}

/// An HTTPS front for `upstream`, with a self-signed certificate for `localhost` made
/// here: the address it listens on and the certificate (DER).
#[cfg(feature = "record-tls")]
async fn https_front(upstream: &MockChatServer) -> (std::net::SocketAddr, Vec<u8>) {
    use std::sync::Arc;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    use tokio_rustls::rustls::{crypto, ServerConfig};
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let certificate = made.cert.der().to_vec();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(made.key_pair.serialize_der()));
    let config = ServerConfig::builder_with_provider(Arc::new(crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![CertificateDer::from(certificate.clone())], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let backend = *upstream.address();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                let mut plain = tokio::net::TcpStream::connect(backend).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    (address, certificate)
}

#[cfg(feature = "record-tls")]
#[tokio::test]
async fn an_https_upstream_is_recorded_when_its_certificate_is_trusted() {
    let upstream = paced_upstream().await;
    let (front, certificate) = https_front(&upstream).await;
    // 127.0.0.1 under the certificate's name.
    let url = format!("https://localhost:{}", front.port());
    let client = reqwest::Client::new();
    let ask = |proxy: &MockChatServer| {
        let url = format!("{}/v1/chat/completions", proxy.uri());
        send(&client, "POST", url, chat_body("gpt-4o", "Hi", true), &[])
    };

    // Not trusted: the certificate is refused, and the client is told why.
    let file = recording_file("https-untrusted");
    let proxy = MockChatServer::builder()
        .record_from(&url)
        .record_to(file.as_path())
        .start()
        .await;
    let refused = ask(&proxy).await;
    assert_eq!(refused.status, 502);
    let message = String::from_utf8(refused.body).unwrap();
    assert!(
        message.contains("no TLS connection to localhost"),
        "{message}"
    );

    let file = recording_file("https");
    let proxy = MockChatServer::builder()
        .record_from(&url)
        .record_to(file.as_path())
        .record_trusting(certificate)
        .start()
        .await;
    let original = ask(&proxy).await;
    assert_eq!(original.status, 200);
    assert!(String::from_utf8_lossy(&original.body).contains(" sunny"));
    proxy.stop().await;
    let replay = MockChatServer::builder()
        .fixture(Fixture::load(file.as_path()).unwrap())
        .start()
        .await;
    assert_eq!(ask(&replay).await.body, original.body);
}

#[tokio::test]
async fn embeddings_and_model_lists_are_recorded_and_replayed_as_recorded() {
    let upstream = MockChatServer::builder()
        .models(["gpt-4o", "text-embedding-3-small"])
        .start()
        .await;
    let file = recording_file("services");
    let proxy = MockChatServer::builder()
        .record_from(upstream.uri())
        .record_to(file.as_path())
        .start()
        .await;
    let client = reqwest::Client::new();
    let embeddings = json!({ "model": "text-embedding-3-small", "input": "Paris" }).to_string();
    let requests = [
        ("POST", "/v1/embeddings", embeddings),
        ("GET", "/v1/models", String::new()),
    ];
    let mut originals = Vec::new();
    for (method, path, body) in &requests {
        let url = format!("{}{path}", proxy.uri());
        let got = send(&client, method, url, body.clone(), &[]).await;
        assert_eq!(got.status, 200, "{path}");
        originals.push(got.body);
    }
    proxy.stop().await;
    let recording = recorded_file(file.as_path());
    assert_eq!(
        recording["mocks"][1]["when"],
        json!({ "method": "GET", "path": "/v1/models" })
    );
    // The replay has other models configured: what it sends is the recording.
    let replay = MockChatServer::builder()
        .models(["another-model"])
        .fixture(Fixture::load(file.as_path()).unwrap())
        .start()
        .await;
    for ((method, path, body), original) in requests.iter().zip(&originals) {
        let url = format!("{}{path}", replay.uri());
        let got = send(&client, method, url, body.clone(), &[]).await;
        assert_eq!(&got.body, original, "{path}");
    }
    assert!(String::from_utf8_lossy(&originals[1]).contains("text-embedding-3-small"));
}
