//! The HTTP side of a server: a request comes in, is recorded, matched to a reply, and
//! answered in the wire format of its endpoint, as a stream or as one JSON body.
//!
//! Every path ends in a response: bad input gets an error body in the provider's shape,
//! and even a panicking matcher becomes a 500 rather than a dropped connection.
//!
//! - `mod.rs`: the router, which calls every stage of the pipeline in turn (`answer`),
//!   CORS, and the one place a scripted cut reaches the socket (`body_ending_in_cuts`).
//! - `connections.rs`: accepting and serving connections with hyper (an optional header
//!   timeout and connection limit), as tasks of a server's own runtime or inside one
//!   future on the test's runtime.
//! - `state.rs`: [`ServerState`], what a running server shares between its sockets and
//!   the test: the mounted mocks, the recording, the fallback reply, the id generator.

mod connections;
mod state;

pub(crate) use connections::{serve, ConnectionLimits, Hosting};
pub(crate) use state::{fail, Advice, Fallback, Routes, ServerState, Traffic};

use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_HEADERS,
    ACCESS_CONTROL_REQUEST_METHOD, ALLOW, CONTENT_TYPE, RETRY_AFTER,
};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::Response;
use futures_util::{Future, Stream, StreamExt};

use crate::matching::explain::{self, panic_message};
use crate::playback::{self, ResumeAfter};
use crate::recording::ResponseRecorder;
use crate::request::ReceivedRequest;
use crate::schema;
use crate::script::random;
use crate::script::{CutKind, Ending, HttpError, Reply, ReplyKind, Script};
use crate::socket::Connection;
use crate::sync::lock;
use crate::traffic::{Cost, RateLimiter, Refusal};
use crate::wire::rate_limits::RateLimitReading;
use crate::wire::{self, ApiError, Endpoint, Format, ResponseContext, Service, WireFormat};
use serde_json::Value;

/// Bodies above this size get a 413: far above any real chat request, low enough that a
/// runaway client cannot exhaust the test machine's memory.
const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// What every connection of a server calls with each of its requests.
///
/// Every path goes to the same handler, so there is nothing to route: axum's `Router`
/// was a path lookup, a boxed service's clone and a `ConnectInfo` extension per request,
/// about 6,000 instructions (BENCHMARKS.md, `first_byte`). Its fallback route added
/// nothing to the response (no `Content-Length` of its own, no HEAD handling: hyper does
/// both), so neither does this.
#[derive(Clone)]
pub(crate) struct Router {
    state: Arc<ServerState>,
}

pub(crate) fn router(state: Arc<ServerState>) -> Router {
    Router { state }
}

impl Router {
    /// The response to `request`, which came on `connection`.
    pub(crate) async fn handle(&self, request: Request, connection: Connection) -> Response {
        handle(&self.state, request, connection).await
    }
}

async fn handle(state: &ServerState, request: Request, connection: Connection) -> Response {
    let mut response = if is_cors_preflight(&request) {
        cors_preflight(request.headers())
    } else if is_health_check(&request) {
        health()
    } else {
        answer(state, request, connection).await
    };
    let headers = response.headers_mut();
    headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    headers.insert(ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static("*"));
    response
}

async fn answer(state: &ServerState, request: Request, connection: Connection) -> Response {
    let incoming = read(request, connection, &state.routes).await;
    // A client that keeps its connection alive stops sending only when it leaves; one
    // that said this request is its last may shut down its sending side and still read,
    // so it is only seen to leave when a write fails.
    let leaving = match &incoming.connection {
        // A request whose body broke off gets its error at once.
        Some(connection) if !incoming.last_request && incoming.body_error.is_none() => {
            Some(connection.finished_sending())
        }
        _ => None,
    };
    match leaving {
        Some(leaving) => tokio::select! {
            // The answer first: one that is ready at once (most are) then never asks the
            // socket whether the client left, a system call and a registration saved.
            biased;
            response = respond(state, incoming, true) => response,
            () = leaving => abandoned(),
        },
        None => respond(state, incoming, false).await,
    }
}

/// The response to a client that left before it was ready: a body that fails, so the
/// connection is dropped. Dropping the unfinished answer has logged the hang-up.
fn abandoned() -> Response {
    let failing = futures_util::stream::iter([Err::<Bytes, _>(io::Error::other(
        "chatmock: the client left",
    ))]);
    Response::new(Body::from_stream(failing))
}

/// Matches, records and answers a request that came in.
async fn respond(state: &ServerState, incoming: Incoming, watch_for_leaving: bool) -> Response {
    let Incoming {
        mut received,
        endpoint,
        mut body_error,
        connection,
        ..
    } = incoming;
    // A recording made at an embeddings or model-list endpoint replays as recorded, as
    // at a chat endpoint.
    if let Some(proxy) = &state.proxy {
        if !state.mocks_would_answer(&received) {
            return proxied(state, proxy, received).await;
        }
    }
    let mut recorded = None;
    if let Some(endpoint) = endpoint.filter(|endpoint| endpoint.service != Service::Chat) {
        match service_response(state, received, endpoint, body_error.take()).await {
            Served::Answered(response) => return response,
            Served::Recorded(recorded_choice) => {
                let (request, chosen) = *recorded_choice;
                received = request;
                recorded = Some(chosen);
            }
        }
    }
    let mut decision = match (recorded, body_error) {
        (Some(chosen), _) => Ok(chosen),
        (None, Some(error)) => Err(error),
        (None, None) => choose_reply(state, &mut received, endpoint),
    };
    let format = match &decision {
        Ok(chosen) => chosen.wire_format,
        Err(_) => None,
    }
    .or(endpoint.map(|endpoint| endpoint.format))
    .unwrap_or(WireFormat::OpenAiChatCompletions);
    let spec = format.spec();
    let mut context = ResponseContext::for_request(&received, format, &state.ids);
    let mut rate_limit = None;
    if let Ok(chosen) = &mut decision {
        match shape_traffic(state, &mut received, chosen, context.prompt_tokens) {
            Ok(reading) => rate_limit = reading,
            Err(refusal) => {
                let recorder = state.recording.record(received);
                return refused_response(spec, &refusal, &context, &recorder);
            }
        }
    }
    if let Ok(chosen) = &decision {
        if let ReplyKind::Stream(script) = &chosen.reply.kind {
            context = context.for_script(script);
        }
    }
    // The encoder reads its stream options from the request, which the recording keeps.
    let stream = match &decision {
        Ok(chosen)
            if (spec.wants_stream(&received) || chosen.reply.is_recorded())
                && matches!(chosen.reply.kind, ReplyKind::Stream(_)) =>
        {
            Some(StreamSetup {
                encoder: spec.encoder(&received, context.clone()),
                content_type: spec.stream_content_type(&received),
                last_event_id: received.header("last-event-id").map(str::to_owned),
            })
        }
        _ => None,
    };
    let recorder = state.recording.record(received);
    let reply = match decision {
        Ok(chosen) => chosen.reply,
        Err(error) => return error_response(spec, endpoint, &error, &context, &recorder),
    };
    let headers_delay = reply.headers_delay();
    if !headers_delay.is_zero() {
        tokio::time::sleep(headers_delay).await;
    }
    let mut response = match (&reply.kind, stream) {
        (ReplyKind::HttpError(http_error), _) => {
            http_error_response(spec, http_error, &context, &recorder)
        }
        (ReplyKind::Stream(script), Some(stream)) => match resume_point(script, &stream) {
            Ok(resume_after) => {
                // A recording sends its own status and headers, and no others.
                let (status, headers) = match &script.recorded {
                    Some(recorded) => (
                        StatusCode::from_u16(recorded.status).unwrap_or(StatusCode::OK),
                        HeaderMap::new(),
                    ),
                    None => {
                        let mut headers = spec.headers(&context);
                        headers.insert(CONTENT_TYPE, stream.content_type);
                        (StatusCode::OK, headers)
                    }
                };
                recorder.streaming(status.as_u16());
                let body = playback::stream_body(
                    Arc::clone(&reply),
                    stream.encoder,
                    resume_after,
                    recorder,
                );
                let leaving = connection
                    .as_ref()
                    .filter(|_| watch_for_leaving)
                    .map(Connection::finished_sending);
                let body = body_ending_in_cuts(until_client_leaves(body, leaving), connection);
                with_parts(status, headers, body)
            }
            Err(error) => error_response(spec, endpoint, &error, &context, &recorder),
        },
        (ReplyKind::Stream(script), None) => {
            complete_response(spec, script, &context, connection, recorder).await
        }
    };
    let exhausted = match &reply.kind {
        ReplyKind::HttpError(error) if error.requests_exhausted => {
            Some(RateLimitReading::requests_exhausted())
        }
        _ => None,
    };
    if let Some(reading) = exhausted.as_ref().or(rate_limit.as_ref()) {
        spec.rate_limit_headers(reading, response.headers_mut());
    }
    for (name, value) in &reply.headers {
        response.headers_mut().insert(name, value.clone());
    }
    response
}

/// What stands between a chosen reply and the client, in the order a provider applies
/// it: the rate limits (the mock's and the server's, which may refuse the request), then
/// chaos (the mock's, else the server's), then the seed of the reply's jitter. Records
/// the fault and the seed on the request; returns the reading of the rate limit whose
/// headers the response carries.
fn shape_traffic(
    state: &ServerState,
    request: &mut ReceivedRequest,
    chosen: &mut Chosen,
    prompt_tokens: u64,
) -> Result<Option<RateLimitReading>, Box<Refusal>> {
    let cost = Cost {
        prompt_tokens,
        completion_tokens: chosen.reply.completion_tokens(),
    };
    let server_limit = state.traffic.rate_limiter.as_ref();
    let mock_limit = chosen.rate_limiter.as_deref();
    let reading = match (server_limit, mock_limit) {
        (None, None) => None,
        (Some(only), None) | (None, Some(only)) => Some(only.admit(request, cost)?),
        (Some(server), Some(mock)) => {
            let server_reading = server.admit(request, cost)?;
            match mock.admit(request, cost) {
                Ok(mock_reading) => Some(fewest_left(server_reading, mock_reading)),
                Err(refusal) => {
                    server.refund(request, cost);
                    return Err(refusal);
                }
            }
        }
    };
    let chaos = match &chosen.chaos {
        Some((chaos, index)) => Some((&**chaos, *index)),
        None => state.traffic.chaos.as_ref().map(|chaos| {
            let index = state
                .traffic
                .chaos_drawn
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            (chaos, index)
        }),
    };
    if let Some((fault, struck)) =
        chaos.and_then(|(chaos, index)| chaos.strike(index, &chosen.reply))
    {
        request.chaos = Some(fault);
        chosen.reply = Arc::new(struck);
    }
    if let Some(seeded) = chosen.reply.with_drawn_seed(random::fresh_seed()) {
        chosen.reply = Arc::new(seeded);
    }
    request.pacing_seed = chosen.reply.pacing_seed();
    Ok(reading)
}

/// Of two limits' readings, the one with fewer requests left: what a client must heed.
fn fewest_left(server: RateLimitReading, mock: RateLimitReading) -> RateLimitReading {
    let left = |reading: &RateLimitReading| reading.requests.map_or(u64::MAX, |b| b.remaining);
    if left(&server) < left(&mock) {
        server
    } else {
        mock
    }
}

/// The provider's 429 for a request a rate limit refused, with its headers.
fn refused_response(
    spec: &dyn Format,
    refusal: &Refusal,
    context: &ResponseContext,
    recorder: &ResponseRecorder,
) -> Response {
    let error = HttpError {
        status: StatusCode::TOO_MANY_REQUESTS,
        body: crate::script::ErrorBody::new(refusal.message.clone())
            .with_type(if refusal.message.contains("tokens") {
                "tokens"
            } else {
                "requests"
            })
            .with_code("rate_limit_exceeded"),
        retry_after: refusal.retry_after,
        requests_exhausted: false,
    };
    let mut response = http_error_response(spec, &error, context, recorder);
    spec.rate_limit_headers(&refusal.reading, response.headers_mut());
    response
}

/// The answer at an embeddings or model-list endpoint: deterministic vectors, or the
/// served models, in the format's shape, unless a mock (or the fallback) says
/// otherwise. Its reply's HTTP error is sent in the provider's shape; a streamed reply's
/// delays (`delay_headers` and the script's whole time) come before the answer, and a
/// stall never answers. With nothing mounted the answer is sent at once: it needs no
/// script.
/// A request forwarded to the recording proxy's upstream: its response as it streams
/// back, or, if the upstream cannot be reached, a 502 that says why.
async fn proxied(
    state: &ServerState,
    proxy: &crate::proxy::Proxy,
    received: ReceivedRequest,
) -> Response {
    let request = received.clone();
    let recorder = state.recording.record(received);
    match proxy.forward(&request, recorder).await {
        Ok(forwarded) => with_parts(
            forwarded.status,
            forwarded.headers,
            body_ending_in_cuts(forwarded.body, None),
        ),
        Err((message, recorder)) => {
            let mut error = ApiError::server_error(format!("chatmock: recording proxy: {message}"));
            error.status = StatusCode::BAD_GATEWAY;
            let format = WireFormat::OpenAiChatCompletions;
            let context = ResponseContext::for_request(&request, format, &state.ids);
            error_response(format.spec(), None, &error, &context, &recorder)
        }
    }
}

/// What an embeddings or model-list endpoint did with a request: answered it, or chose a
/// recorded reply, which plays as at a chat endpoint.
enum Served {
    Answered(Response),
    Recorded(Box<(ReceivedRequest, Chosen)>),
}

async fn service_response(
    state: &ServerState,
    mut received: ReceivedRequest,
    endpoint: Endpoint,
    body_error: Option<ApiError>,
) -> Served {
    // `/v1/models` is OpenAI's and Anthropic's: Anthropic's clients send their version.
    let format = if endpoint.service == Service::Models
        && endpoint.format == WireFormat::OpenAiChatCompletions
        && received.header("anthropic-version").is_some()
    {
        WireFormat::AnthropicMessages
    } else {
        endpoint.format
    };
    let spec = format.spec();
    let context = ResponseContext::for_request(&received, format, &state.ids);
    let decision = match body_error {
        Some(error) => Err(error),
        None => choose_reply(state, &mut received, Some(endpoint))
            .map(Some)
            .or_else(|error| {
                if error.body.code.as_deref() == Some("no_mock_matched") {
                    Ok(None)
                } else {
                    Err(error)
                }
            }),
    };
    let decision = match decision {
        Ok(Some(chosen)) if chosen.reply.is_recorded() => {
            return Served::Recorded(Box::new((received, chosen)));
        }
        decision => decision,
    };
    // Read before the request goes to the recording; unused if the request failed.
    let body = match (&decision, endpoint.service) {
        (Err(_), _) => Ok(Value::Null),
        (Ok(_), Service::Models) => {
            let path = state.routes.endpoint_path(received.path());
            spec.models(path, &received, &state.served_models(spec), &context)
        }
        (Ok(_), _) => spec.embeddings(&received, &context),
    };
    let recorder = state.recording.record(received);
    let reply = match decision {
        Ok(chosen) => chosen.map(|chosen| chosen.reply),
        Err(error) => {
            let response = error_response(spec, Some(endpoint), &error, &context, &recorder);
            return Served::Answered(response);
        }
    };
    if let Some(reply) = &reply {
        let headers_delay = reply.headers_delay();
        if !headers_delay.is_zero() {
            tokio::time::sleep(headers_delay).await;
        }
    }
    let mut response = match reply.as_deref().map(|reply| &reply.kind) {
        Some(ReplyKind::HttpError(http_error)) => {
            http_error_response(spec, http_error, &context, &recorder)
        }
        Some(ReplyKind::Stream(script)) if matches!(script.ending(), Some(Ending::Stall)) => {
            recorder.stalled();
            // No response, ever: only the client hanging up or the server stopping ends this.
            std::future::pending::<Response>().await
        }
        Some(ReplyKind::Stream(_)) | None => {
            if let Some(ReplyKind::Stream(script)) = reply.as_deref().map(|reply| &reply.kind) {
                let generation = script.duration();
                if !generation.is_zero() {
                    tokio::time::sleep(generation).await;
                }
            }
            match body {
                Ok(body) => {
                    recorder.answered(StatusCode::OK.as_u16());
                    json_response(StatusCode::OK, &body, spec, &context)
                }
                Err(error) => error_response(spec, None, &error, &context, &recorder),
            }
        }
    };
    for (name, value) in reply.iter().flat_map(|reply| &reply.headers) {
        response.headers_mut().insert(name, value.clone());
    }
    Served::Answered(response)
}

/// A request as it came in: recorded form, the endpoint its path names, and the
/// connection it came on.
struct Incoming {
    received: ReceivedRequest,
    endpoint: Option<Endpoint>,
    /// The body could not be read whole.
    body_error: Option<ApiError>,
    connection: Option<Connection>,
    /// The request says it is its connection's last.
    last_request: bool,
}

/// Reads a request whole, and its body as JSON and as a conversation in the shape of the
/// format its path names.
async fn read(request: Request, connection: Connection, routes: &Routes) -> Incoming {
    let (parts, body) = request.into_parts();
    let last_request = is_last_request(&parts);
    let (body, body_error) = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(body) => (body, None),
        Err(error) => (Bytes::new(), Some(body_read_error(&error))),
    };
    let (headers, body) = owned(parts.headers, &body);
    let path = parts.uri.path().to_owned();
    let endpoint_path = routes.endpoint_path(&path);
    let endpoint = Endpoint::for_request(endpoint_path, routes.wire_format);
    let json: Option<Value> = serde_json::from_slice(&body).ok();
    let format = endpoint.map(|endpoint| endpoint.format);
    let chat = json
        .as_ref()
        .and_then(|json| wire::read_chat(json, endpoint_path, format));
    let received = ReceivedRequest::new(
        parts.method,
        path,
        parts.uri.query().map(str::to_owned),
        headers,
        body,
        json,
        chat,
    );
    Incoming {
        received,
        endpoint,
        body_error,
        connection: Some(connection),
        last_request,
    }
}

/// `headers` and `body` with bytes of their own. hyper hands them out as slices of its
/// read buffer, 8 KiB or more; the log keeps every request while the server lives, so it
/// keeps copies rather than a whole buffer per request. The copies share one allocation
/// of their own size: a copy each was an allocation per header. The values are replaced
/// in place, so the map is not built and hashed again (names are hyper's own already).
fn owned(mut headers: HeaderMap, body: &[u8]) -> (HeaderMap, Bytes) {
    let size = body.len() + headers.values().map(HeaderValue::len).sum::<usize>();
    let mut copy = bytes::BytesMut::with_capacity(size);
    copy.extend_from_slice(body);
    for value in headers.values() {
        copy.extend_from_slice(value.as_bytes());
    }
    let copy = copy.freeze();
    let mut at = body.len();
    for value in headers.values_mut() {
        let end = at + value.len();
        if let Ok(mut own) = HeaderValue::from_maybe_shared(copy.slice(at..end)) {
            own.set_sensitive(value.is_sensitive());
            *value = own;
        }
        at = end;
    }
    (headers, copy.slice(..body.len()))
}

/// Whether the request says it is its connection's last: `Connection: close`, or
/// HTTP/1.0 without `Connection: keep-alive`.
fn is_last_request(parts: &axum::http::request::Parts) -> bool {
    let connection_says = |token: &str| {
        parts
            .headers
            .get_all(axum::http::header::CONNECTION)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .any(|part| part.trim().eq_ignore_ascii_case(token))
    };
    match parts.version {
        axum::http::Version::HTTP_10 => !connection_says("keep-alive"),
        _ => connection_says("close"),
    }
}

/// What a streamed answer needs from the request, taken before the request is recorded.
struct StreamSetup {
    encoder: Box<dyn wire::Encoder>,
    content_type: HeaderValue,
    last_event_id: Option<String>,
}

/// The reply a request gets, and the format a mock wants it in.
struct Chosen {
    reply: Arc<Reply>,
    wire_format: Option<WireFormat>,
    /// The mock's own rate limit, and its chaos with the index of this match.
    rate_limiter: Option<Arc<RateLimiter>>,
    chaos: Option<(Arc<crate::traffic::Chaos>, u64)>,
}

/// Picks the reply for a request: validation first (as the real API would reject the
/// request before anything else), then the mounted mocks, then the fallback.
fn choose_reply(
    state: &ServerState,
    request: &mut ReceivedRequest,
    endpoint: Option<Endpoint>,
) -> Result<Chosen, ApiError> {
    if let Some(endpoint) = endpoint {
        if request.method() != endpoint.method {
            return Err(ApiError::invalid_request(
                StatusCode::METHOD_NOT_ALLOWED,
                format!(
                    "Invalid method for URL ({} {}): this endpoint accepts {} only.",
                    request.method(),
                    request.path(),
                    endpoint.method
                ),
            ));
        }
        if endpoint.service == Service::Chat {
            endpoint.format.spec().validate(request)?;
        }
    }
    let found = {
        let mut mocks = lock(&state.mocks);
        match catch_unwind(AssertUnwindSafe(|| mocks.find(request))) {
            Ok(found) => Ok(found),
            Err(panic) => Err(panic_message(&*panic)),
        }
    };
    let found = match found {
        Ok(found) => found,
        Err(panic) => {
            let failure = format!(
                "a matcher panicked while matching {}: {panic}",
                request.summary()
            );
            state.record_failure(failure.clone());
            return Err(ApiError::server_error(format!("chatmock: {failure}")));
        }
    };
    if let Some(found) = found {
        request.answered_by = Some((found.id, found.label.clone()));
        // The responder runs outside the lock: it may be slow, and may panic.
        let reply = catch_unwind(AssertUnwindSafe(|| found.reply(request)));
        return match reply {
            Ok(reply) => {
                checked_against_schema(state, request, &found.label, &reply)?;
                Ok(Chosen {
                    reply,
                    wire_format: found.wire_format,
                    rate_limiter: found.rate_limiter,
                    chaos: found.chaos,
                })
            }
            Err(panic) => {
                let failure = format!(
                    "the responder of {} panicked while answering {}: {}",
                    found.label,
                    request.summary(),
                    panic_message(&*panic)
                );
                state.record_failure(failure.clone());
                Err(ApiError::server_error(format!("chatmock: {failure}")))
            }
        };
    }
    if endpoint.is_some() {
        if let Some(reply) = state.fallback_reply() {
            checked_against_schema(state, request, "the server's fallback", &reply)?;
            return Ok(Chosen {
                reply,
                wire_format: None,
                rate_limiter: None,
                chaos: None,
            });
        }
    }
    Err(not_found(request, endpoint.is_some(), state))
}

/// For a reply that asked for it, the check against the schema the request sent; a
/// reply that breaks it is a failure of the test, answered with a 500.
fn checked_against_schema(
    state: &ServerState,
    request: &ReceivedRequest,
    label: &str,
    reply: &Reply,
) -> Result<(), ApiError> {
    if !reply.validate_schema {
        return Ok(());
    }
    schema::check_reply(reply, request.chat()).map_err(|problem| {
        let failure = format!(
            "the reply of {label} to {} could not come from the real API: {problem}",
            request.summary()
        );
        state.record_failure(failure.clone());
        ApiError::server_error(format!("chatmock: {failure}"))
    })
}

/// The 404 of a request no mock matched, naming the mock that came closest and the first
/// of its matchers that failed.
fn not_found(request: &ReceivedRequest, known_endpoint: bool, state: &ServerState) -> ApiError {
    let (mounted, closest) = {
        let mocks = lock(&state.mocks);
        let closest = explain::closest_mock(mocks.iter(), request).map(|(mock, verdict)| {
            format!(" The closest is {}: {}.", mock.label(), verdict.describe())
        });
        (mocks.len(), closest.unwrap_or_default())
    };
    let (mount, fallback, prefix) = match state.advice {
        Advice::Rust => (
            "mount one with Mock::given(..).respond_with(..).mount(&server)",
            "give the server a reply for every request with MockChatServerBuilder::reply",
            "MockChatServerBuilder::path_prefix",
        ),
        Advice::Fixture => (
            "add one to the fixture's \"mocks\"",
            "give the fixture a \"reply\" for every request",
            "the fixture's \"path_prefixes\"",
        ),
    };
    let message = if !known_endpoint {
        let mut message = format!(
            "Invalid URL ({} {}): chatmock serves {}, and no mounted mock matched this \
             request.{closest}",
            request.method(),
            request.path(),
            Endpoint::list()
        );
        let with_v1 = format!("/v1{}", request.path());
        if Endpoint::for_request(&with_v1, None).is_some() {
            message.push_str(&format!(
                " The real API serves {with_v1}: does the client's base URL leave out /v1?"
            ));
        } else {
            message.push_str(&format!(
                " To serve the endpoints under a prefix of your own, use {prefix}."
            ));
        }
        message
    } else if mounted == 0 {
        format!(
            "chatmock: no mock is mounted, so nothing answers this request ({}): {mount}, \
             or {fallback}.",
            request.summary()
        )
    } else {
        let (count, its) = if mounted == 1 {
            ("1 mock is".to_owned(), "its")
        } else {
            (format!("{mounted} mocks are"), "their")
        };
        format!(
            "chatmock: no mock matched this request ({}). {count} mounted.{closest} Check \
             {its} matchers, or {fallback}.",
            request.summary()
        )
    };
    let message = match &state.replays {
        Some(file) if known_endpoint => format!(
            "{message} This server replays the recording {}, which has no answer for this \
             request: record it with CHATMOCK_RECORD=missing (RecordMode::Missing).",
            file.display()
        ),
        _ => message,
    };
    ApiError::invalid_request(StatusCode::NOT_FOUND, message).with_code("no_mock_matched")
}

/// A body over the limit is a 413; any other failure to read it (ended before its
/// `Content-Length`, a malformed chunked encoding) is the client's malformed request.
fn body_read_error(error: &axum::Error) -> ApiError {
    let too_large = std::error::Error::source(error)
        .is_some_and(|source| source.is::<http_body_util::LengthLimitError>());
    if too_large {
        ApiError::invalid_request(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "The request body is larger than {} MiB, more than any chat request needs.",
                MAX_BODY_BYTES / (1024 * 1024)
            ),
        )
    } else {
        ApiError::invalid_request(
            StatusCode::BAD_REQUEST,
            format!(
                "The request body could not be read ({error}): it ended before its \
                 Content-Length, or its chunked encoding is malformed."
            ),
        )
    }
}

fn error_response(
    spec: &dyn Format,
    endpoint: Option<Endpoint>,
    error: &ApiError,
    context: &ResponseContext,
    recorder: &ResponseRecorder,
) -> Response {
    let status = spec.error_status(error.status);
    let body = spec.error_body(status, &error.body, context);
    let mut response = json_response(status, &body, spec, context);
    if let Some(endpoint) = endpoint.filter(|_| error.status == StatusCode::METHOD_NOT_ALLOWED) {
        if let Ok(allow) = HeaderValue::from_str(&format!("{}, OPTIONS", endpoint.method)) {
            response.headers_mut().insert(ALLOW, allow);
        }
    }
    recorder.answered_with_error(status.as_u16(), &error.body.message);
    response
}

/// Where a reconnecting client's stream resumes. Only replies with event ids resume; an
/// empty header (which some clients always send) means "from the start".
fn resume_point(script: &Script, stream: &StreamSetup) -> Result<ResumeAfter, ApiError> {
    let last_event_id = stream.last_event_id.as_deref();
    let Some(id) = last_event_id.filter(|id| script.delivery.event_ids && !id.is_empty()) else {
        return Ok(0);
    };
    id.trim().parse().map_err(|_| {
        ApiError::invalid_request(
            StatusCode::BAD_REQUEST,
            format!(
                "Last-Event-ID {id:?} is not an id this stream sends: its ids are whole \
                 numbers counting events from 1."
            ),
        )
        .with_param("Last-Event-ID")
    })
}

fn http_error_response(
    spec: &dyn Format,
    http_error: &HttpError,
    context: &ResponseContext,
    recorder: &ResponseRecorder,
) -> Response {
    let error = ApiError::from(http_error);
    let mut response = error_response(spec, None, &error, context, recorder);
    if let Some(delay) = http_error.retry_after {
        let headers = response.headers_mut();
        // Clients read whole seconds (async-openai) or milliseconds (openai-python);
        // rounding up keeps both from retrying early.
        let millis = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        headers.insert(RETRY_AFTER, HeaderValue::from(millis.div_ceil(1000)));
        headers.insert(
            HeaderName::from_static("retry-after-ms"),
            HeaderValue::from(millis),
        );
    }
    response
}

/// The answer to a non-streaming request: the whole script's time, then one JSON body,
/// or the scripted failure in the form a non-streaming client meets it.
async fn complete_response(
    spec: &dyn Format,
    script: &Script,
    context: &ResponseContext,
    connection: Option<Connection>,
    recorder: ResponseRecorder,
) -> Response {
    if let Some(Ending::Stall) = script.ending() {
        recorder.stalled();
        // No response, ever: only the client hanging up or the server stopping ends this.
        std::future::pending::<()>().await;
    }
    // A non-streaming client waits for the whole generation, as it would for a real model.
    // A zero wait is skipped: sleeping for nothing still waits for the next timer tick.
    let generation = script.duration();
    if !generation.is_zero() {
        tokio::time::sleep(generation).await;
    }
    match script.ending() {
        Some(Ending::Error(error)) => {
            let error = ApiError::from(&**error);
            error_response(spec, None, &error, context, &recorder)
        }
        Some(Ending::Cut(kind)) => {
            let mut headers = spec.headers(context);
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            recorder.streaming(StatusCode::OK.as_u16());
            recorder.cut(*kind);
            let cut = (*kind != CutKind::EndedCleanly).then_some(Err(*kind));
            let body = body_ending_in_cuts(futures_util::stream::iter(cut), connection);
            with_parts(StatusCode::OK, headers, body)
        }
        Some(Ending::Stall) | None => {
            let body = spec.complete_response(script, context);
            recorder.answered(StatusCode::OK.as_u16());
            json_bytes_response(StatusCode::OK, body, spec, context)
        }
    }
}

/// `body`, broken off when the client leaves, if `leaving` watches for that: the body
/// otherwise notices only when a write fails, and a stalled body never writes.
fn until_client_leaves(
    body: impl Stream<Item = Result<Bytes, CutKind>> + Send + 'static,
    leaving: Option<impl Future<Output = ()> + Send + 'static>,
) -> impl Stream<Item = Result<Bytes, CutKind>> + Send + 'static {
    let Some(leaving) = leaving else {
        return futures_util::future::Either::Left(body);
    };
    futures_util::future::Either::Right(async_stream::stream! {
        let mut body = std::pin::pin!(body);
        let mut leaving = std::pin::pin!(leaving);
        loop {
            tokio::select! {
                // The client's leaving first: a stream that is behind its schedule always
                // has bytes due, and would otherwise write them all before looking.
                biased;
                () = &mut leaving => {
                    yield Err(CutKind::Disconnected);
                    return;
                }
                item = body.next() => match item {
                    Some(item) => yield item,
                    None => return,
                },
            }
        }
    })
}

/// A response body that ends the connection the scripted way when `body` ends in a cut:
/// the one place cuts reach the socket, for streamed and complete responses alike. An
/// error makes the HTTP server abandon the body and close the connection mid-message; a
/// reset first asks the socket to close with RST.
fn body_ending_in_cuts(
    body: impl Stream<Item = Result<Bytes, CutKind>> + Send + 'static,
    connection: Option<Connection>,
) -> Body {
    Body::from_stream(body.map(move |item| {
        item.map_err(|kind| {
            if kind == CutKind::Reset {
                if let Some(connection) = &connection {
                    connection.reset_on_close();
                }
                io::Error::other("chatmock: scripted connection reset")
            } else {
                io::Error::other("chatmock: scripted disconnect")
            }
        })
    }))
}

fn json_response(
    status: StatusCode,
    body: &Value,
    spec: &dyn Format,
    context: &ResponseContext,
) -> Response {
    json_bytes_response(status, wire::value_bytes(body), spec, context)
}

/// A response whose body is JSON already serialised.
fn json_bytes_response(
    status: StatusCode,
    json: Vec<u8>,
    spec: &dyn Format,
    context: &ResponseContext,
) -> Response {
    let mut headers = spec.headers(context);
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    with_parts(status, headers, Body::from(json))
}

fn with_parts(status: StatusCode, headers: HeaderMap, body: Body) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// The health check, for a standalone server's orchestrator (Docker, Kubernetes, a CI
/// script waiting for the port): not recorded, as it is not the client code's request.
fn is_health_check(request: &Request) -> bool {
    request.method() == Method::GET && request.uri().path() == "/health"
}

fn health() -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    with_parts(StatusCode::OK, headers, Body::from(r#"{"status":"ok"}"#))
}

fn is_cors_preflight(request: &Request) -> bool {
    request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(ACCESS_CONTROL_REQUEST_METHOD)
}

/// Answers a browser's preflight so that pages on any origin may call the server. It is
/// not recorded: it is the browser's request, not the client code's.
fn cors_preflight(request_headers: &HeaderMap) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(
        ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    let allowed_headers = request_headers
        .get(ACCESS_CONTROL_REQUEST_HEADERS)
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static("*"));
    headers.insert(ACCESS_CONTROL_ALLOW_HEADERS, allowed_headers);
    headers.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("86400"));
    with_parts(StatusCode::NO_CONTENT, headers, Body::empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owned_headers_and_body_keep_every_value_in_order_with_its_sensitivity() {
        let mut headers = HeaderMap::new();
        headers.append("host", HeaderValue::from_static("localhost:1"));
        headers.append("x-many", HeaderValue::from_static("first"));
        headers.append("content-type", HeaderValue::from_static("application/json"));
        headers.append("x-many", HeaderValue::from_static(""));
        headers.append("x-many", HeaderValue::from_static("third"));
        let mut secret = HeaderValue::from_static("Bearer sk-1");
        secret.set_sensitive(true);
        headers.append("authorization", secret);
        let pairs = |headers: &HeaderMap| -> Vec<(String, Vec<u8>, bool)> {
            headers
                .iter()
                .map(|(name, value)| {
                    let bytes = value.as_bytes().to_vec();
                    (name.to_string(), bytes, value.is_sensitive())
                })
                .collect()
        };
        for body in [&b""[..], b"{\"model\":\"m\"}"] {
            let (owned_headers, owned_body) = owned(headers.clone(), body);
            assert_eq!(pairs(&owned_headers), pairs(&headers));
            assert_eq!(&owned_body[..], body);
            // Every value lies in the one copy, after the body: none is left in the
            // buffer it came from.
            let copy = owned_body.as_ptr() as usize;
            let size = body.len() + headers.values().map(HeaderValue::len).sum::<usize>();
            for value in owned_headers.values().filter(|value| !value.is_empty()) {
                let at = value.as_bytes().as_ptr() as usize;
                assert!((copy + body.len()..copy + size).contains(&at), "{value:?}");
            }
        }
        let (none, empty) = owned(HeaderMap::new(), b"");
        assert!(none.is_empty() && empty.is_empty());
    }
}
