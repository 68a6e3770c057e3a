//! Realistic traffic: seeded jitter, rate limits whose headers count down, and seeded
//! chaos, each against real clients, in virtual time where a test is about time, so that
//! a per-minute quota or a stall costs milliseconds.

use std::time::Duration;

use chatmock::{
    matchers, Chaos, ChaosFault, Jitter, Mock, MockChatServer, RateLimit, ReceivedRequest, Reply,
};
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::async_openai_client::{client_for, request};
use crate::support::{chat_body, chat_url, ms, parse_sse};

fn secs(seconds: u64) -> Duration {
    Duration::from_secs(seconds)
}

// --- Pacing -------------------------------------------------------------------------------

/// The virtual time each content token of a streamed chat completion arrived at.
async fn token_arrivals(server: &MockChatServer) -> Vec<Duration> {
    let started = Instant::now();
    let response = reqwest::Client::new()
        .post(chat_url(server))
        .body(chat_body("m", "x", true))
        .send()
        .await
        .unwrap();
    let mut body = response.bytes_stream();
    let mut pending = Vec::new();
    let mut arrivals = Vec::new();
    while let Some(bytes) = body.next().await {
        pending.extend_from_slice(&bytes.unwrap());
        while let Some(end) = pending.windows(2).position(|pair| pair == b"\n\n") {
            let event: Vec<u8> = pending.drain(..end + 2).collect();
            for event in parse_sse(&event).await {
                let chunk: Value = serde_json::from_str(&event.data).unwrap_or(Value::Null);
                // The first chunk carries the role and an empty content.
                if chunk["choices"][0]["delta"]["content"]
                    .as_str()
                    .is_some_and(|t| !t.is_empty())
                {
                    arrivals.push(started.elapsed());
                }
            }
        }
    }
    arrivals
}

/// The gaps between tokens, to the millisecond.
fn gaps_ms(arrivals: &[Duration]) -> Vec<u128> {
    arrivals
        .windows(2)
        .map(|pair| (pair[1] - pair[0]).as_millis())
        .collect()
}

const TOKENS: usize = 2_000;

fn paced(jitter: Jitter) -> Reply {
    Reply::tokens((0..TOKENS).map(|i| format!("t{i} ")))
        .time_to_first_token(ms(300))
        .tokens_per_second(50.0)
        .jitter(jitter)
}

/// One request to a fresh server in virtual time: the token arrivals and the recorded
/// request.
async fn play(reply: Reply) -> (Vec<Duration>, ReceivedRequest) {
    let server = MockChatServer::builder()
        .virtual_time()
        .reply(reply)
        .start()
        .await;
    let arrivals = token_arrivals(&server).await;
    let requests = server.wait_for_streams_to_end().await.unwrap();
    (arrivals, requests[0].clone())
}

#[tokio::test(start_paused = true)]
async fn jitter_at_50_tokens_a_second_keeps_the_rate_and_a_seed_replays_every_gap() {
    let wall = std::time::Instant::now();
    let sd = ms(5);
    let (arrivals, request) = play(paced(Jitter::normal(sd).seed(42))).await;
    assert_eq!(arrivals.len(), TOKENS);
    assert_eq!(request.pacing_seed(), Some(42));

    // The mean rate over the stream is the scripted 50 tokens a second, within 5 %.
    let span = (arrivals[TOKENS - 1] - arrivals[0]).as_secs_f64();
    let rate = (TOKENS - 1) as f64 / span;
    assert!((rate / 50.0 - 1.0).abs() < 0.05, "{rate} tokens a second");
    // The gaps do vary, by about the standard deviation asked for.
    let gaps = gaps_ms(&arrivals);
    let mean = gaps.iter().sum::<u128>() as f64 / gaps.len() as f64;
    let variance = gaps
        .iter()
        .map(|gap| (*gap as f64 - mean).powi(2))
        .sum::<f64>()
        / gaps.len() as f64;
    assert!(
        (3.5..6.5).contains(&variance.sqrt()),
        "sd {} ms",
        variance.sqrt()
    );
    assert!(
        arrivals[0] >= ms(280) && arrivals[0] <= ms(320),
        "{:?}",
        arrivals[0]
    );

    // The same seed gives the same gaps, to the millisecond; another seed others. The
    // server's own log agrees: the same first and last write.
    let served = |request: &ReceivedRequest| {
        let first = request.first_event_at().unwrap() - request.received_at();
        let last = request.ended_at().unwrap() - request.received_at();
        (first.as_millis(), last.as_millis())
    };
    let (again, again_request) = play(paced(Jitter::normal(sd).seed(42))).await;
    assert_eq!(gaps_ms(&again), gaps);
    assert_eq!(served(&again_request), served(&request));
    let span_served = served(&request).1 - served(&request).0;
    let span_seen = (arrivals[TOKENS - 1] - arrivals[0]).as_millis();
    assert!(
        span_served.abs_diff(span_seen) <= 2,
        "{span_served} ms against {span_seen} ms"
    );
    let (other, _) = play(paced(Jitter::normal(sd).seed(43))).await;
    assert_ne!(gaps_ms(&other), gaps);

    // Without a seed, each request draws one and records it, and that seed replays it.
    let (unseeded, request) = play(paced(Jitter::uniform(ms(10)))).await;
    let seed = request.pacing_seed().expect("a drawn seed is recorded");
    let (replayed, _) = play(paced(Jitter::uniform(ms(10)).seed(seed))).await;
    assert_eq!(gaps_ms(&replayed), gaps_ms(&unseeded));
    assert!(wall.elapsed() < secs(30), "{:?}", wall.elapsed());
}

#[tokio::test(start_paused = true)]
async fn a_failure_report_names_each_requests_pacing_seed_and_chaos_fault() {
    let server = MockChatServer::builder()
        .virtual_time()
        .wait_timeout(secs(1))
        .reply(Reply::text("a b c").jitter(Jitter::uniform(ms(1)).seed(99)))
        .chaos(Chaos::seeded(5).http_error(1.0, 502))
        .start()
        .await;
    reqwest::Client::new()
        .post(chat_url(&server))
        .body(chat_body("m", "x", false))
        .send()
        .await
        .unwrap();
    let error = server.wait_for_requests(2).await.unwrap_err();
    let report = error.to_string();
    assert!(report.contains("[chaos: HTTP 502]"), "{report}");

    let server = MockChatServer::builder()
        .virtual_time()
        .wait_timeout(secs(1))
        .reply(Reply::text("a b c").jitter(Jitter::uniform(ms(1)).seed(99)))
        .start()
        .await;
    reqwest::Client::new()
        .post(chat_url(&server))
        .body(chat_body("m", "x", false))
        .send()
        .await
        .unwrap();
    let report = server.wait_for_requests(2).await.unwrap_err().to_string();
    assert!(report.contains("[pacing seed 99]"), "{report}");
}

// --- Rate limits ----------------------------------------------------------------------------

fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response
        .headers()
        .get(name)
        .map(|value| value.to_str().unwrap())
}

async fn post(
    server: &MockChatServer,
    path: &str,
    key: Option<(&str, &str)>,
    body: Value,
) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(format!("{}{path}", server.uri()))
        .body(body.to_string());
    if let Some((name, value)) = key {
        request = request.header(name, value);
    }
    request.send().await.unwrap()
}

fn openai_body() -> Value {
    json!({ "model": "gpt-4o", "messages": [{ "role": "user", "content": "How are you today?" }] })
}

#[tokio::test(start_paused = true)]
async fn openai_headers_count_down_request_by_request_then_a_429_says_when_to_retry() {
    let server = MockChatServer::builder()
        .virtual_time()
        .reply(Reply::text("Fine, thank you."))
        .rate_limit(RateLimit::per_minute().requests(3).tokens(100))
        .start()
        .await;
    let key = Some(("authorization", "Bearer sk-test"));
    // 4 prompt words and 3 completion tokens: 7 tokens a request.
    let expected = [
        ("2", "20s", "93", "4.2s"),
        ("1", "40s", "86", "8.4s"),
        ("0", "1m0s", "79", "12.6s"),
    ];
    for (remaining, reset, tokens_left, tokens_reset) in expected {
        let response = post(&server, "/v1/chat/completions", key, openai_body()).await;
        assert_eq!(response.status(), 200);
        assert_eq!(header(&response, "x-ratelimit-limit-requests"), Some("3"));
        assert_eq!(
            header(&response, "x-ratelimit-remaining-requests"),
            Some(remaining)
        );
        assert_eq!(header(&response, "x-ratelimit-reset-requests"), Some(reset));
        assert_eq!(header(&response, "x-ratelimit-limit-tokens"), Some("100"));
        assert_eq!(
            header(&response, "x-ratelimit-remaining-tokens"),
            Some(tokens_left)
        );
        assert_eq!(
            header(&response, "x-ratelimit-reset-tokens"),
            Some(tokens_reset)
        );
        let json: Value = response.json().await.unwrap();
        assert_eq!(json["usage"]["total_tokens"], 7);
    }

    let refused = post(&server, "/v1/chat/completions", key, openai_body()).await;
    assert_eq!(refused.status(), 429);
    assert_eq!(header(&refused, "retry-after"), Some("20"));
    assert_eq!(header(&refused, "retry-after-ms"), Some("20000"));
    assert_eq!(
        header(&refused, "x-ratelimit-remaining-requests"),
        Some("0")
    );
    assert_eq!(header(&refused, "x-ratelimit-reset-requests"), Some("1m0s"));
    let json: Value = refused.json().await.unwrap();
    assert_eq!(json["error"]["code"], "rate_limit_exceeded");
    assert_eq!(json["error"]["type"], "requests");
    let message = json["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("Limit 3") && message.contains("20s"),
        "{message}"
    );

    // One request's worth refills in 20 s of the server's clock, not before.
    tokio::time::sleep(secs(19)).await;
    let early = post(&server, "/v1/chat/completions", key, openai_body()).await;
    assert_eq!(early.status(), 429);
    assert_eq!(header(&early, "retry-after-ms"), Some("1000"));
    tokio::time::sleep(secs(1)).await;
    let later = post(&server, "/v1/chat/completions", key, openai_body()).await;
    assert_eq!(later.status(), 200);
    assert_eq!(header(&later, "x-ratelimit-remaining-requests"), Some("0"));
    assert_eq!(header(&later, "x-ratelimit-reset-requests"), Some("1m0s"));
}

/// Seconds since the epoch of an RFC 3339 UTC time to the second (`2026-12-02T01:05:20Z`).
fn epoch_seconds(time: &str) -> i64 {
    let number = |range: std::ops::Range<usize>| time[range].parse::<i64>().unwrap();
    assert_eq!(
        (time.len(), &time[10..11], &time[19..]),
        (20, "T", "Z"),
        "{time}"
    );
    let (y, m, d) = (number(0..4), number(5..7), number(8..10));
    // Days from civil (Howard Hinnant).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + number(11..13) * 3600 + number(14..16) * 60 + number(17..19)
}

#[tokio::test(start_paused = true)]
async fn anthropic_headers_count_requests_input_and_output_tokens_down_with_rfc3339_resets() {
    let server = MockChatServer::builder()
        .virtual_time()
        .reply(Reply::text("Four words of answer."))
        .rate_limit(
            RateLimit::per_minute()
                .requests(2)
                .input_tokens(1_000)
                .output_tokens(50),
        )
        .start()
        .await;
    let body = json!({
        "model": "claude-haiku-4-5", "max_tokens": 64,
        "messages": [{ "role": "user", "content": "Say four words" }]
    });
    let key = Some(("x-api-key", "ant-test"));
    let mut resets = Vec::new();
    for (requests_left, input_left, output_left) in [("1", "997", "46"), ("0", "994", "42")] {
        let response = post(&server, "/v1/messages", key, body.clone()).await;
        assert_eq!(response.status(), 200);
        let get = |name: &str| header(&response, &format!("anthropic-ratelimit-{name}"));
        assert_eq!(get("requests-limit"), Some("2"));
        assert_eq!(get("requests-remaining"), Some(requests_left));
        assert_eq!(get("input-tokens-limit"), Some("1000"));
        assert_eq!(get("input-tokens-remaining"), Some(input_left));
        assert_eq!(get("output-tokens-limit"), Some("50"));
        assert_eq!(get("output-tokens-remaining"), Some(output_left));
        assert_eq!(get("tokens-limit"), None, "no combined token limit was set");
        assert!(header(&response, "x-ratelimit-remaining-requests").is_none());
        resets.push(epoch_seconds(get("requests-reset").unwrap()));
        let json: Value = response.json().await.unwrap();
        assert_eq!(json["usage"]["input_tokens"], 3);
        assert_eq!(json["usage"]["output_tokens"], 4);
    }
    // Full again 30 s after the first request, 60 s after the second, at the same instant.
    assert_eq!(resets[1] - resets[0], 30);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        (resets[1] - now - 60).abs() <= 2,
        "{} s from now",
        resets[1] - now
    );

    let refused = post(&server, "/v1/messages", key, body).await;
    assert_eq!(refused.status(), 429);
    assert_eq!(header(&refused, "retry-after"), Some("30"));
    assert_eq!(
        header(&refused, "anthropic-ratelimit-requests-remaining"),
        Some("0")
    );
    let json: Value = refused.json().await.unwrap();
    assert_eq!(json["type"], "error");
    assert_eq!(json["error"]["type"], "rate_limit_error");
}

#[tokio::test(start_paused = true)]
async fn gemini_and_ollama_answer_a_limit_with_429_and_no_rate_limit_headers() {
    let server = MockChatServer::builder()
        .virtual_time()
        .reply(Reply::text("Hi"))
        .rate_limit(RateLimit::per_minute().requests(1).shared())
        .start()
        .await;
    let gemini = json!({ "contents": [{ "parts": [{ "text": "Hi" }] }] });
    let ollama = json!({ "model": "llama3.2", "stream": false, "messages": [{ "role": "user", "content": "Hi" }] });
    let calls = [
        (
            "/v1beta/models/gemini-2.0-flash:generateContent",
            gemini.clone(),
            200,
        ),
        ("/api/chat", ollama.clone(), 429),
        (
            "/v1beta/models/gemini-2.0-flash:generateContent",
            gemini,
            429,
        ),
    ];
    for (path, body, status) in calls {
        let response = post(&server, path, None, body).await;
        assert_eq!(response.status(), status, "{path}");
        let named: Vec<&str> = response
            .headers()
            .keys()
            .map(|name| name.as_str())
            .filter(|name| name.contains("ratelimit"))
            .collect();
        assert_eq!(
            named,
            Vec::<&str>::new(),
            "{path} sends no rate-limit headers"
        );
        if status == 429 {
            assert_eq!(header(&response, "retry-after"), Some("60"), "{path}");
        }
    }

    // The preset rate-limit reply, too, sends each provider's own header names, or none.
    let anthropic = json!({ "model": "m", "max_tokens": 8, "messages": [] });
    let presets = [
        (
            "/v1beta/models/m:generateContent",
            json!({ "contents": [] }),
            None,
        ),
        ("/api/chat", json!({ "model": "m", "messages": [] }), None),
        (
            "/v1/chat/completions",
            json!({ "model": "m", "messages": [] }),
            Some("x-ratelimit-remaining-requests"),
        ),
        (
            "/v1/messages",
            anthropic,
            Some("anthropic-ratelimit-requests-remaining"),
        ),
    ];
    for (path, body, remaining) in presets {
        let server = MockChatServer::builder()
            .virtual_time()
            .reply(Reply::rate_limited())
            .start()
            .await;
        let response = post(&server, path, None, body).await;
        assert_eq!(response.status(), 429);
        let named: Vec<&str> = response
            .headers()
            .keys()
            .map(|name| name.as_str())
            .filter(|name| {
                name.contains("remaining-requests") || name.contains("requests-remaining")
            })
            .collect();
        assert_eq!(named, Vec::from_iter(remaining), "{path}");
        if let Some(name) = remaining {
            assert_eq!(header(&response, name), Some("0"), "{path}");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn each_api_key_has_its_own_buckets_unless_the_limit_is_shared() {
    let per_key = MockChatServer::builder()
        .virtual_time()
        .reply(Reply::text("Hi"))
        .rate_limit(RateLimit::per_minute().requests(1))
        .start()
        .await;
    let body = openai_body();
    let keys = [
        (
            "/v1/chat/completions",
            Some(("authorization", "Bearer sk-one")),
        ),
        ("/v1/chat/completions", Some(("x-api-key", "sk-two"))),
        ("/v1/chat/completions", Some(("x-goog-api-key", "sk-three"))),
        ("/v1/chat/completions?key=sk-four", None),
        ("/v1/chat/completions", None),
    ];
    for (path, key) in keys {
        assert_eq!(
            post(&per_key, path, key, body.clone()).await.status(),
            200,
            "{path} {key:?}"
        );
    }
    for (path, key) in keys {
        assert_eq!(
            post(&per_key, path, key, body.clone()).await.status(),
            429,
            "{path} {key:?}"
        );
    }

    let shared = MockChatServer::builder()
        .virtual_time()
        .reply(Reply::text("Hi"))
        .rate_limit(RateLimit::per_minute().requests(1).shared())
        .start()
        .await;
    let (path, key) = keys[0];
    assert_eq!(post(&shared, path, key, body.clone()).await.status(), 200);
    let (path, key) = keys[1];
    assert_eq!(post(&shared, path, key, body).await.status(), 429);
}

#[tokio::test(start_paused = true)]
async fn a_mocks_limit_counts_its_own_requests_and_refuses_them_alone() {
    let server = MockChatServer::builder()
        .virtual_time()
        .mock(
            Mock::given(matchers::model("small"))
                .respond_with(Reply::text("small"))
                .rate_limit(RateLimit::per_minute().requests(1)),
        )
        .mock(Mock::given(matchers::any()).respond_with(Reply::text("other")))
        .rate_limit(RateLimit::per_minute().requests(10))
        .start()
        .await;
    let body = |model: &str| json!({ "model": model, "messages": [] });
    let first = post(&server, "/v1/chat/completions", None, body("small")).await;
    // The mock's bucket has fewer left than the server's: its headers are the ones sent.
    assert_eq!(header(&first, "x-ratelimit-limit-requests"), Some("1"));
    assert_eq!(header(&first, "x-ratelimit-remaining-requests"), Some("0"));
    let refused = post(&server, "/v1/chat/completions", None, body("small")).await;
    assert_eq!(refused.status(), 429);
    let other = post(&server, "/v1/chat/completions", None, body("big")).await;
    assert_eq!(other.status(), 200);
    // The refused request took nothing from the server's bucket: 10 - 2 left.
    assert_eq!(header(&other, "x-ratelimit-remaining-requests"), Some("8"));
}

#[tokio::test(start_paused = true)]
async fn reset_refills_the_rate_limit_and_rewinds_the_chaos() {
    let server = MockChatServer::builder()
        .virtual_time()
        .reply(Reply::text("Hi"))
        .rate_limit(RateLimit::per_minute().requests(1))
        .chaos(Chaos::seeded(11).http_error(0.5, 503))
        .start()
        .await;
    let run = || async {
        post(&server, "/v1/chat/completions", None, openai_body()).await;
        let second = post(&server, "/v1/chat/completions", None, openai_body()).await;
        let requests = server.wait_for_streams_to_end().await.unwrap();
        (second.status(), requests[0].chaos_applied().copied())
    };
    let before = run().await;
    assert_eq!(before.0, 429);
    server.reset().await;
    assert_eq!(
        run().await,
        before,
        "a fresh quota and the same first fault"
    );
}

#[tokio::test(start_paused = true)]
async fn async_openai_retries_a_429_after_the_time_the_bucket_computes() {
    let server = MockChatServer::builder()
        .virtual_time()
        .reply(Reply::text("Fine."))
        .rate_limit(RateLimit::per_minute().requests(3))
        .start()
        .await;
    let client = client_for(&server);
    for _ in 0..4 {
        let response = client.chat().create(request("gpt-4o", "Hi")).await.unwrap();
        assert_eq!(
            response.choices[0].message.content.as_deref(),
            Some("Fine.")
        );
    }
    let requests = server.received_requests().await;
    let statuses: Vec<Option<u16>> = requests.iter().map(|r| r.response_status()).collect();
    assert_eq!(
        statuses,
        [Some(200), Some(200), Some(200), Some(429), Some(200)]
    );
    // async-openai waits the `retry-after` seconds: the 20 s one request takes to refill.
    let waited = requests[4].received_at() - requests[3].ended_at().unwrap();
    assert!(
        waited >= secs(20) && waited <= secs(20) + ms(5),
        "{waited:?}"
    );
}

// --- Chaos ----------------------------------------------------------------------------------

/// What a streaming client saw of one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    Whole,
    Status(u16),
    ErrorEvent {
        after_tokens: usize,
    },
    /// The body broke off; `reset` when the error was a connection reset.
    Cut {
        after_tokens: usize,
        reset: bool,
    },
    TimedOut {
        after_tokens: usize,
    },
}

const ANSWER: &str = "The full answer arrives, every single time.";
const READ_TIMEOUT: Duration = Duration::from_secs(30);

fn is_reset(error: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = source {
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::ConnectionReset {
                return true;
            }
        }
        source = error.source();
    }
    false
}

/// One streamed attempt, read as a careful client does: each read bounded by a timeout.
async fn attempt(client: &reqwest::Client, url: &str) -> (Seen, String) {
    let response = client
        .post(url)
        .body(chat_body("m", "Tell me", true))
        .send()
        .await
        .expect("the server answers");
    if response.status() != 200 {
        return (Seen::Status(response.status().as_u16()), String::new());
    }
    let mut body = response.bytes_stream();
    let mut text = String::new();
    let mut tokens = 0;
    let mut pending = Vec::new();
    loop {
        let next = match tokio::time::timeout(READ_TIMEOUT, body.next()).await {
            Ok(next) => next,
            Err(_) => {
                return (
                    Seen::TimedOut {
                        after_tokens: tokens,
                    },
                    text,
                )
            }
        };
        match next {
            Some(Ok(bytes)) => pending.extend_from_slice(&bytes),
            Some(Err(error)) => {
                let reset = is_reset(&error);
                return (
                    Seen::Cut {
                        after_tokens: tokens,
                        reset,
                    },
                    text,
                );
            }
            None => {
                return (
                    Seen::Cut {
                        after_tokens: tokens,
                        reset: false,
                    },
                    text,
                )
            }
        }
        while let Some(end) = pending.windows(2).position(|pair| pair == b"\n\n") {
            let event: Vec<u8> = pending.drain(..end + 2).collect();
            for event in parse_sse(&event).await {
                if event.data == "[DONE]" {
                    return (Seen::Whole, text);
                }
                let chunk: Value = serde_json::from_str(&event.data).unwrap();
                if chunk.get("error").is_some() {
                    return (
                        Seen::ErrorEvent {
                            after_tokens: tokens,
                        },
                        text,
                    );
                }
                let content = chunk["choices"][0]["delta"]["content"].as_str();
                if let Some(token) = content.filter(|token| !token.is_empty()) {
                    text.push_str(token);
                    tokens += 1;
                }
            }
        }
    }
}

/// The fault the server recorded, as the client must have seen it.
fn as_seen(fault: Option<&ChaosFault>) -> Seen {
    match fault {
        None => Seen::Whole,
        Some(ChaosFault::HttpError { status }) => Seen::Status(*status),
        Some(ChaosFault::ErrorEvent { after_tokens }) => Seen::ErrorEvent {
            after_tokens: *after_tokens,
        },
        Some(ChaosFault::Disconnect { after_tokens }) => Seen::Cut {
            after_tokens: *after_tokens,
            reset: false,
        },
        Some(ChaosFault::Reset { after_tokens }) => Seen::Cut {
            after_tokens: *after_tokens,
            reset: true,
        },
        Some(ChaosFault::Stall { after_tokens }) => Seen::TimedOut {
            after_tokens: *after_tokens,
        },
        Some(other) => panic!("a fault this test does not know: {other:?}"),
    }
}

fn every_fault(seed: u64) -> Chaos {
    Chaos::seeded(seed)
        .http_error(0.04, 503)
        .http_error(0.03, 429)
        .error_event(0.05)
        .disconnect(0.05)
        .reset(0.05)
        .stall(0.03)
}

/// Runs conversations with a client that retries until it has the whole answer, until
/// the server has answered `requests` attempts. Returns what the client saw of each
/// attempt and the server's record.
async fn soak(seed: u64, requests: usize) -> (Vec<Seen>, Vec<ReceivedRequest>) {
    let server = MockChatServer::builder()
        .virtual_time()
        .reply(Reply::text(ANSWER).token_delay(ms(2)))
        .chaos(every_fault(seed))
        .start()
        .await;
    let client = reqwest::Client::new();
    let url = chat_url(&server);
    let mut seen = Vec::with_capacity(requests);
    while seen.len() < requests {
        // One conversation: retry until the whole answer is in.
        loop {
            let (outcome, text) = attempt(&client, &url).await;
            seen.push(outcome);
            if outcome == Seen::Whole {
                assert_eq!(text, ANSWER, "a whole answer is the full text");
                break;
            }
            assert!(
                ANSWER.starts_with(&text),
                "{text:?} is a prefix of the answer"
            );
        }
    }
    let record = server
        .wait_until(|requests: &[ReceivedRequest]| {
            requests.len() == seen.len() && requests.iter().all(|r| r.stream_outcome().has_ended())
        })
        .await
        .unwrap();
    (seen, record)
}

#[tokio::test(start_paused = true)]
async fn a_retrying_client_gets_every_answer_through_2000_requests_of_seeded_chaos() {
    let wall = std::time::Instant::now();
    let (seen, record) = soak(7, 2_000).await;
    let recorded: Vec<Seen> = record.iter().map(|r| as_seen(r.chaos_applied())).collect();
    assert_eq!(seen.len(), recorded.len());
    if let Some(at) = (0..seen.len()).find(|&i| seen[i] != recorded[i]) {
        panic!(
            "attempt {at}: the client saw {:?}, the server recorded {:?}",
            seen[at],
            record[at].chaos_applied()
        );
    }

    // Every kind of fault was met, at about its rate.
    let count = |test: fn(&Seen) -> bool| seen.iter().filter(|s| test(s)).count();
    let kinds = [
        ("503", count(|s| *s == Seen::Status(503)), 0.04),
        ("429", count(|s| *s == Seen::Status(429)), 0.03),
        (
            "error event",
            count(|s| matches!(s, Seen::ErrorEvent { .. })),
            0.05,
        ),
        (
            "disconnect",
            count(|s| matches!(s, Seen::Cut { reset: false, .. })),
            0.05,
        ),
        (
            "reset",
            count(|s| matches!(s, Seen::Cut { reset: true, .. })),
            0.05,
        ),
        ("stall", count(|s| matches!(s, Seen::TimedOut { .. })), 0.03),
    ];
    for (kind, n, p) in kinds {
        let share = n as f64 / seen.len() as f64;
        assert!((share - p).abs() < 0.015, "{kind}: {n} of {}", seen.len());
    }

    // The same seed gives the same faults in the same order; another seed others.
    let (again, _) = soak(7, 300).await;
    assert_eq!(again[..], seen[..again.len()]);
    let (other, _) = soak(8, 300).await;
    assert_ne!(other[..], seen[..other.len()]);
    assert!(wall.elapsed() < secs(60), "{:?}", wall.elapsed());
}

#[tokio::test(start_paused = true)]
async fn a_mocks_chaos_counts_its_own_matches_and_replaces_the_servers() {
    let server = MockChatServer::builder()
        .virtual_time()
        .mock(
            Mock::given(matchers::model("flaky"))
                .respond_with(Reply::text("a b c"))
                .chaos(Chaos::seeded(1).disconnect(1.0)),
        )
        .reply(Reply::text("a b c"))
        .chaos(Chaos::seeded(1).http_error(1.0, 500))
        .start()
        .await;
    for model in ["flaky", "steady", "flaky"] {
        let body = json!({ "model": model, "messages": [], "stream": true });
        let _ = post(&server, "/v1/chat/completions", None, body)
            .await
            .bytes()
            .await;
    }
    let requests = server.wait_for_streams_to_end().await.unwrap();
    let faults: Vec<Option<ChaosFault>> = requests
        .iter()
        .map(|r| r.chaos_applied().copied())
        .collect();
    assert!(
        matches!(faults[0], Some(ChaosFault::Disconnect { .. })),
        "{faults:?}"
    );
    assert_eq!(faults[1], Some(ChaosFault::HttpError { status: 500 }));
    assert!(
        matches!(faults[2], Some(ChaosFault::Disconnect { .. })),
        "{faults:?}"
    );
}
