//! The mock server and its lifecycle: binding, the server thread, shutdown on drop, and
//! the test-facing methods (recorded requests, waiting, verification).
//!
//! - `mod.rs`: [`MockChatServer`], [`MockChatServerBuilder`], [`WaitTimeout`].
//! - `thread.rs`: binding, the server thread and its runtime, stopping.
//! - `mount.rs`: [`Mock::mount`], [`Mock::mount_as_scoped`] and [`MockGuard`]: mounting is
//!   the server's business, so matching never imports the server.
//! - `blocking.rs`: the `_blocking` twins of the async test-side methods, for plain
//!   `#[test]`s with no runtime.
//!
//! Each server runs on an OS thread of its own with a single-threaded tokio runtime of its
//! own. The test's runtime may be single-threaded, busy, or about to shut down; a server
//! that lived on it could stall whenever the test blocks, and a blocking `#[test]` would
//! have no runtime at all. On its own thread the server keeps serving whatever the test
//! does. Dropping it closes the listener and shuts every connection down on the dropping
//! thread (`crate::socket::Sockets`), so nothing waits for the server thread, which then
//! aborts the server's tasks and waits, runtime and all, for the next server.

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod blocking;
mod inline;
mod listen;
mod mount;
mod thread;

pub use mount::MockGuard;

use crate::http::{fail, Advice, ConnectionLimits, Fallback, Routes, ServerState, Traffic};
use crate::matching::verification;
use crate::matching::Mock;
use crate::proxy::{Proxy, Upstream};
use crate::request::ReceivedRequest;
use crate::script::rules::{self, enforce};
use crate::script::Reply;
use crate::sync::lock;
use crate::traffic::{Chaos, RateLimit, RateLimiter};
use crate::wire::WireFormat;

/// A real HTTP server on a loopback port that answers chat requests with scripted replies
/// and records what it receives.
///
/// Start one per test with [`MockChatServer::start`] or [`MockChatServer::builder`].
/// Dropping it stops the server at once, on the dropping thread: its listening socket is
/// closed (a connect is refused, and the port can be bound again) and every connection is
/// shut down (streams in flight are cut, stalled streams and delayed responses end: each
/// client reads the end of its connection, and nothing more is written to it). The drop
/// waits for nothing else: the server's thread drops the server's tasks and closes the
/// descriptors just after, in microseconds. Then the drop checks the expectations of the
/// mounted [`Mock`]s, panicking with a report if one is not met. [`stop`](Self::stop)
/// also waits for the server thread to be done.
///
/// It serves these endpoints, at the real APIs' paths (and under any
/// [`path_prefix`](MockChatServerBuilder::path_prefix)); a request that no mock matches
/// and no fallback [`reply`](MockChatServerBuilder::reply) answers gets a 404 that says
/// why:
///
/// | Endpoint | Format |
/// |---|---|
/// | `POST /v1/chat/completions` | OpenAI Chat Completions: a stream when the body says `"stream": true`, one JSON object otherwise |
/// | `POST /v1/responses` | OpenAI Responses: typed `response.*` events, or one `response` object |
/// | `POST /v1/messages` | Anthropic Messages: `message_start` ... `message_stop`, or one `message` |
/// | `POST /v1beta/models/{model}:streamGenerateContent` (`?alt=sse` for SSE) and `:generateContent` | Gemini: `GenerateContentResponse` chunks, as SSE or one JSON array, or one response |
/// | `POST /api/chat` | Ollama: newline-delimited JSON, or one object with `"stream": false` |
/// | `GET /stream` | the original demo: `data: <token>` events, then `data: [DONE]` |
/// | `GET /health` | `{"status":"ok"}`, for readiness checks; not recorded |
///
/// Every response allows cross-origin requests (CORS), so browser pages can call it too.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use chatmock::{MockChatServer, Reply};
/// use std::time::Duration;
///
/// let server = MockChatServer::builder()
///     .reply(Reply::tokens(["Hello", ",", " world"]).token_delay(Duration::from_millis(5)))
///     .start()
///     .await;
///
/// let body = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}],"stream":true}"#;
/// let url = format!("{}/chat/completions", server.openai_base_url());
/// let sse = reqwest::Client::new().post(url).body(body).send().await.unwrap().text().await.unwrap();
/// assert!(sse.contains(r#""delta":{"content":" world"}"#));
/// assert!(sse.ends_with("data: [DONE]\n\n"));
///
/// let requests = server.received_requests().await;
/// assert_eq!(requests[0].body_value()["model"], "gpt-4o-mini");
/// # }
/// ```
pub struct MockChatServer {
    address: SocketAddr,
    state: Arc<ServerState>,
    wait_timeout: Duration,
    /// `None` while stopped.
    running: Mutex<Option<Running>>,
    /// Held by `stop` and `restart` from start to end, so that calls from several tasks
    /// at once take turns instead of racing to bind the port.
    lifecycle: tokio::sync::Mutex<()>,
    virtual_time: bool,
    /// A failed `verify` has already shown the report.
    reported: AtomicBool,
}

/// A running server: on a thread of its own, or on the test's runtime (virtual time).
enum Running {
    Thread(thread::Running),
    Inline(inline::Running),
}

impl Running {
    fn start(
        address: SocketAddr,
        state: Arc<ServerState>,
        virtual_time: bool,
    ) -> io::Result<(SocketAddr, Running)> {
        if virtual_time {
            let (address, running) = inline::serve(address, state)?;
            Ok((address, Running::Inline(running)))
        } else {
            let (address, running) = thread::serve(address, state)?;
            Ok((address, Running::Thread(running)))
        }
    }

    /// Stops the server and returns once every connection and the listener are closed.
    async fn stop(self) {
        match self {
            Running::Thread(running) => running.stop(),
            Running::Inline(running) => running.stop().await,
        }
    }

    /// Stops the server from synchronous code, without waiting: its listener is closed
    /// and every connection shut down before this returns; the server's tasks and
    /// descriptors are dropped after, on the thread or runtime the server ran on.
    fn stop_now(self) {
        match self {
            Running::Thread(running) => running.stop_now(),
            Running::Inline(running) => running.stop_now(),
        }
    }
}

/// Configures a [`MockChatServer`] before it starts. Get one from
/// [`MockChatServer::builder`].
#[derive(Debug, Clone)]
#[must_use = "the builder does nothing until start() is called"]
pub struct MockChatServerBuilder {
    replies: Vec<Reply>,
    address: SocketAddr,
    wait_timeout: Duration,
    routes: Routes,
    /// Mounted, in order, before the server starts serving.
    mocks: Vec<Mock>,
    virtual_time: bool,
    limits: ConnectionLimits,
    advice: Advice,
    rate_limit: Option<RateLimit>,
    chaos: Option<Chaos>,
    models: Option<Vec<String>>,
    recording: RecordingSetup,
    /// The recording file a replay-only server serves (`replay_or_record`).
    pub(crate) replays: Option<std::path::PathBuf>,
}

/// Where a server records to, if it records: see
/// [`MockChatServerBuilder::record_from`].
#[derive(Debug, Clone, Default)]
struct RecordingSetup {
    upstream: Option<String>,
    path: Option<PathBuf>,
    /// Adds to the file's mocks instead of starting it afresh.
    append: bool,
    redactions: Vec<regex::bytes::Regex>,
    /// Certificates (DER) an HTTPS upstream may present, beyond the web's roots.
    trusted: Vec<Vec<u8>>,
}

impl MockChatServerBuilder {
    /// Makes the server a recording proxy of `upstream_url` (`http://host:port`, with an
    /// optional base path): every request that no mounted mock matches is forwarded
    /// there with the client's own headers, and the response streams back to the client
    /// as it arrives, with the upstream's pacing. Each exchange is written to the file
    /// of [`record_to`](Self::record_to) as a mock whose matchers are derived from the
    /// request (path, model, turn, last user message, the tool call a tool result
    /// answers) and whose reply is the [recorded](Reply::recorded) response: its status,
    /// the headers clients read, and every event with its offset from the request.
    ///
    /// Credentials never reach the file: request headers are not written at all, and
    /// the values of `authorization`, `x-api-key`, `x-goog-api-key`, `api-key`,
    /// `cookie` and `?key=` are masked wherever else they appear; `set-cookie` and
    /// other volatile response headers are dropped. Mask more with
    /// [`redact`](Self::redact).
    ///
    /// The upstream is reached over plain HTTP, or over HTTPS with the `record-tls`
    /// feature (rustls, trusting Mozilla's roots and any certificate given to
    /// `record_trusting`). Starting the server fails if the
    /// URL is neither, or if no file was given.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use chatmock::{Fixture, MockChatServer, Reply};
    ///
    /// let upstream = MockChatServer::builder().reply(Reply::text("Hi there")).start().await;
    /// let file = std::env::temp_dir().join(format!("chatmock-doc-{}.json", std::process::id()));
    /// let proxy = MockChatServer::builder()
    ///     .record_from(upstream.uri())
    ///     .record_to(&file)
    ///     .start()
    ///     .await;
    /// let answer = reqwest::Client::new()
    ///     .post(format!("{}/v1/chat/completions", proxy.uri()))
    ///     .body(r#"{"model":"gpt-4o","messages":[{"role":"user","content":"Hi"}]}"#)
    ///     .send()
    ///     .await
    ///     .unwrap()
    ///     .text()
    ///     .await
    ///     .unwrap();
    /// assert!(answer.contains("Hi there"));
    /// proxy.stop().await;
    /// // The recording is a fixture: it replays with no upstream at all.
    /// let replay = MockChatServer::builder().fixture(Fixture::load(&file).unwrap()).start().await;
    /// # drop(replay);
    /// # std::fs::remove_file(&file).unwrap();
    /// # }
    /// ```
    pub fn record_from(mut self, upstream_url: impl Into<String>) -> Self {
        self.recording.upstream = Some(upstream_url.into());
        self
    }

    /// The fixture file a [recording](Self::record_from) writes, afresh: it is rewritten
    /// whole after each exchange (through a temporary file, so it is never half
    /// written), with sorted keys, so that re-recording a conversation gives a small
    /// diff. One file per test is the habit that keeps recordings reviewable.
    pub fn record_to(mut self, path: impl Into<PathBuf>) -> Self {
        self.recording.path = Some(path.into());
        self
    }

    /// Masks every match of `pattern` (a regular expression) in what a
    /// [recording](Self::record_from) writes: event bodies, header values and the
    /// derived matchers (a matcher whose text would be masked is left out, since the
    /// mask could never match). Each match becomes `[REDACTED]`. Call it once per
    /// pattern.
    ///
    /// ```
    /// use chatmock::MockChatServer;
    ///
    /// let builder = MockChatServer::builder()
    ///     .record_from("http://127.0.0.1:9")
    ///     .record_to("recording.json")
    ///     .redact(r"org-[A-Za-z0-9]+");
    /// # drop(builder);
    /// ```
    ///
    /// # Panics
    ///
    /// If `pattern` is not a valid regular expression.
    #[track_caller]
    pub fn redact(mut self, pattern: &str) -> Self {
        enforce("MockChatServerBuilder::redact", rules::check_regex(pattern));
        let regex = regex::bytes::Regex::new(pattern).expect("rules::check_regex passed");
        self.recording.redactions.push(regex);
        self
    }

    /// Trusts `certificate` (DER-encoded X.509) when a [recording](Self::record_from)
    /// reaches an HTTPS upstream, beyond the web's root certificates: for an upstream
    /// with a self-signed certificate, such as a test's own. Needs the `record-tls`
    /// feature, without which the proxy speaks plain HTTP only.
    ///
    /// ```
    /// use chatmock::MockChatServer;
    ///
    /// # let certificate_der: Vec<u8> = Vec::new();
    /// let builder = MockChatServer::builder()
    ///     .record_from("https://localhost:8443")
    ///     .record_to("recording.json")
    ///     .record_trusting(certificate_der);
    /// # drop(builder);
    /// ```
    #[cfg(feature = "record-tls")]
    pub fn record_trusting(mut self, certificate: impl Into<Vec<u8>>) -> Self {
        self.recording.trusted.push(certificate.into());
        self
    }

    /// A recording adds to its file's mocks rather than starting it afresh (the file's
    /// mocks are mounted by [`fixture`](Self::fixture), so only misses are recorded).
    pub(crate) fn record_appending(mut self) -> Self {
        self.recording.append = true;
        self
    }

    /// The models the model-list endpoints serve (`GET /v1/models` in OpenAI's shape, or
    /// Anthropic's when the request carries `anthropic-version`, Ollama's `/api/tags`,
    /// Gemini's `GET /v1beta/models`), in this order, and the only ones
    /// `/v1/models/{id}` knows. By default they list the models the mounted mocks'
    /// [`matchers::model`](crate::matchers::model) name, then a few of the provider's
    /// common ones.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use chatmock::MockChatServer;
    ///
    /// let server = MockChatServer::builder().models(["gpt-4o", "my-fine-tune"]).start().await;
    /// let url = format!("{}/models", server.openai_base_url());
    /// let list: serde_json::Value = reqwest::get(url).await.unwrap().json().await.unwrap();
    /// assert_eq!(list["data"][1]["id"], "my-fine-tune");
    /// # }
    /// ```
    pub fn models<I>(mut self, models: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.models = Some(models.into_iter().map(Into::into).collect());
        self
    }

    /// Answers every request to a chat endpoint that no mounted mock matches with
    /// `reply`.
    ///
    /// Without it, a request that no mock matches gets a 404 that says why, as with
    /// wiremock, so that a test that forgot to mount a mock, or mounted it too late,
    /// cannot pass by accident.
    ///
    /// ```
    /// use chatmock::{MockChatServer, Reply};
    ///
    /// // The original demo: every chat request streams its sentence.
    /// let server = MockChatServer::builder().reply(Reply::demo()).start_blocking();
    /// let body = reqwest::blocking::get(format!("{}/stream", server.uri()))
    ///     .unwrap()
    ///     .text()
    ///     .unwrap();
    /// assert!(body.starts_with("data: Hello,\n\n"));
    /// ```
    pub fn reply(self, reply: Reply) -> Self {
        self.reply_sequence([reply])
    }

    /// Like [`reply`](Self::reply), with a reply for each successive request: the first
    /// request that no mock matches gets the first reply, the next the second, and the
    /// last reply answers every request after that.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use chatmock::{MockChatServer, Reply};
    ///
    /// let server = MockChatServer::builder()
    ///     .reply_sequence([Reply::server_error(), Reply::text("Recovered.")])
    ///     .start()
    ///     .await;
    /// # }
    /// ```
    ///
    /// # Panics
    ///
    /// If `replies` is empty.
    #[track_caller]
    pub fn reply_sequence(mut self, replies: impl IntoIterator<Item = Reply>) -> Self {
        self.replies = replies.into_iter().collect();
        enforce(
            "MockChatServerBuilder::reply_sequence",
            rules::check_sequence(self.replies.len()),
        );
        self
    }

    /// Listens on `127.0.0.1:port` instead of a free port chosen by the system. Only
    /// for servers meant to be found at a known address, such as a demo; tests should
    /// keep the default, which never collides with another test.
    pub fn port(mut self, port: u16) -> Self {
        self.address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        self
    }

    /// Listens on `address`, e.g. `0.0.0.0:8001` to be reachable from other machines.
    /// The default is `127.0.0.1:0`: loopback only, on a free port.
    pub fn listen_on(mut self, address: SocketAddr) -> Self {
        self.address = address;
        self
    }

    /// Answers every request in `format`, whatever path it calls: for a client whose base
    /// URL points at a gateway or proxy prefix (`/openai/deployments/...`,
    /// `/anthropic/v1/messages`). Every path then is an endpoint of that format, with its
    /// validation; a mock's own [`Mock::wire_format`](crate::Mock::wire_format) still wins.
    /// See [`WireFormat`] for an example.
    pub fn wire_format(mut self, format: WireFormat) -> Self {
        self.routes.wire_format = Some(format);
        self
    }

    /// Serves every endpoint under `prefix` as well as at its own path: with
    /// `.path_prefix("/openai")`, `/openai/v1/chat/completions` is the Chat Completions
    /// endpoint, for a client that talks to the APIs through a gateway. May be called
    /// more than once. Matchers and recorded requests see the path as the client sent it.
    ///
    /// Without it only the APIs' real paths are endpoints (`/v1/chat/completions`, not
    /// `/chat/completions`), so a client whose base URL leaves out `/v1` gets the 404 the
    /// real API would give it.
    ///
    /// ```
    /// use chatmock::{MockChatServer, Reply};
    ///
    /// let server = MockChatServer::builder()
    ///     .path_prefix("/openai")
    ///     .reply(Reply::text("Hi!"))
    ///     .start_blocking();
    /// let response = reqwest::blocking::Client::new()
    ///     .post(format!("{}/openai/v1/chat/completions", server.uri()))
    ///     .body(r#"{"model":"gpt-4o","messages":[]}"#)
    ///     .send()
    ///     .unwrap();
    /// assert_eq!(response.status(), 200);
    /// ```
    ///
    /// # Panics
    ///
    /// If `prefix` does not start with `/`, or ends with one.
    #[track_caller]
    pub fn path_prefix(mut self, prefix: impl Into<String>) -> Self {
        let prefix = prefix.into();
        enforce(
            "MockChatServerBuilder::path_prefix",
            rules::check_path_prefix(&prefix),
        );
        self.routes.path_prefixes.push(prefix);
        self
    }

    /// Mounts `mock` before the server starts, as [`Mock::mount`] would once it runs:
    /// mocks given here answer from the first request on, and need no `.await`.
    ///
    /// ```
    /// use chatmock::{matchers, Mock, MockChatServer, Reply};
    ///
    /// let server = MockChatServer::builder()
    ///     .mock(Mock::given(matchers::model("gpt-4o")).respond_with(Reply::text("Hi!")))
    ///     .start_blocking();
    /// # drop(server);
    /// ```
    pub fn mock(mut self, mock: Mock) -> Self {
        self.mocks.push(mock);
        self
    }

    /// Runs the server on the test's own runtime, following its clock: under
    /// `#[tokio::test(start_paused = true)]` (or after [`tokio::time::pause`](https://docs.rs/tokio/latest/tokio/time/fn.pause.html)) every
    /// scripted wait passes in virtual time, in order, and so do the client's own timers
    /// and sleeps, so a test of a 20-second retry or a 30-second read timeout takes
    /// milliseconds. Without a paused clock the server behaves as usual, on the test's
    /// runtime. See [Virtual time](crate#virtual-time).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// use chatmock::{MockChatServer, Reply};
    /// use std::time::Duration;
    ///
    /// let server = MockChatServer::builder()
    ///     .virtual_time()
    ///     .reply(Reply::text("one two three").token_delay(Duration::from_secs(10)))
    ///     .start()
    ///     .await;
    /// let started = tokio::time::Instant::now();
    /// let body = r#"{"model":"m","messages":[],"stream":true}"#;
    /// let url = format!("{}/chat/completions", server.openai_base_url());
    /// reqwest::Client::new().post(url).body(body).send().await.unwrap().text().await.unwrap();
    /// // 20 seconds of script, in no time at all.
    /// assert_eq!(started.elapsed(), Duration::from_secs(20));
    /// # }
    /// ```
    ///
    /// It needs the test's current-thread runtime (tokio pauses only those):
    /// [`start`](Self::start) panics, and [`try_start`](Self::try_start) fails, on a
    /// multi-thread runtime, and [`start_blocking`](Self::start_blocking) panics, each
    /// saying what to do.
    pub fn virtual_time(mut self) -> Self {
        self.virtual_time = true;
        self
    }

    /// Closes a connection that has not sent a whole request head within `timeout` of
    /// opening (or of its previous response), as a public server does against clients
    /// that connect and say nothing, or trickle their headers (slowloris). Off by
    /// default: a test's own clients are trusted; the standalone server turns it on.
    /// Connections that never send a request are never recorded.
    ///
    /// ```
    /// use chatmock::MockChatServer;
    /// use std::time::Duration;
    ///
    /// let server = MockChatServer::builder()
    ///     .header_read_timeout(Duration::from_secs(10))
    ///     .start_blocking();
    /// # drop(server);
    /// ```
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.limits.header_read_timeout = Some(timeout);
        self
    }

    /// Keeps at most `max` connections open at once; further clients wait in the listen
    /// backlog until one closes. Unbounded by default.
    ///
    /// ```
    /// use chatmock::MockChatServer;
    ///
    /// let server = MockChatServer::builder().max_connections(1_000).start_blocking();
    /// # drop(server);
    /// ```
    ///
    /// # Panics
    ///
    /// If `max` is zero: such a server could serve no one.
    #[track_caller]
    pub fn max_connections(mut self, max: usize) -> Self {
        assert!(
            max > 0,
            "MockChatServerBuilder::max_connections: a limit of 0 connections could serve no \
             one: use 1 or more, or leave it unbounded"
        );
        self.limits.max_connections = Some(max);
        self
    }

    /// Limits every request to a chat endpoint with the provider's quotas: buckets of
    /// requests and tokens per API key that refill on the server's clock, headers that
    /// count down, and a 429 with `retry-after` once a bucket is empty. See
    /// [`RateLimit`] and [Rate limits](crate#rate-limits).
    ///
    /// ```
    /// use chatmock::{MockChatServer, RateLimit, Reply};
    ///
    /// let server = MockChatServer::builder()
    ///     .reply(Reply::text("Hello!"))
    ///     .rate_limit(RateLimit::per_minute().requests(3))
    ///     .start_blocking();
    /// # drop(server);
    /// ```
    ///
    /// # Panics
    ///
    /// If the limit limits nothing (no requests, tokens, input or output tokens set).
    #[track_caller]
    pub fn rate_limit(mut self, limit: RateLimit) -> Self {
        enforce("MockChatServerBuilder::rate_limit", limit.check());
        self.rate_limit = Some(limit);
        self
    }

    /// Strikes requests with faults drawn from a seed: see [`Chaos`] and
    /// [Chaos](crate#chaos). A mock's own [`Mock::chaos`] replaces it for that mock's
    /// requests.
    ///
    /// ```
    /// use chatmock::{Chaos, MockChatServer, Reply};
    ///
    /// let server = MockChatServer::builder()
    ///     .reply(Reply::text("Hello!"))
    ///     .chaos(Chaos::seeded(7).http_error(0.1, 503).disconnect(0.1))
    ///     .start_blocking();
    /// # drop(server);
    /// ```
    pub fn chaos(mut self, chaos: Chaos) -> Self {
        self.chaos = Some(chaos);
        self
    }

    /// How long [`MockChatServer::wait_for_requests`],
    /// [`MockChatServer::wait_for_streams_to_end`] and [`MockChatServer::wait_until`] wait
    /// before giving up. Defaults to 5 seconds.
    pub fn wait_timeout(mut self, timeout: Duration) -> Self {
        self.wait_timeout = timeout;
        self
    }

    /// Starts the server.
    ///
    /// `async` only to read as wiremock's API does: it returns at once, awaiting nothing.
    ///
    /// # Panics
    ///
    /// If the address cannot be bound (for instance a fixed [`port`](Self::port) that is
    /// in use). Use [`try_start`](Self::try_start) to handle that case.
    pub async fn start(self) -> MockChatServer {
        self.launch().unwrap_or_else(|error| panic!("{error}"))
    }

    /// Starts the server, returning an error that names the address if it cannot listen.
    ///
    /// `async` only to read as wiremock's API does: it returns at once, awaiting nothing.
    pub async fn try_start(self) -> io::Result<MockChatServer> {
        self.launch()
    }

    /// Starts the server from synchronous code, such as a plain `#[test]` that uses a
    /// blocking client. The server runs on its own thread either way.
    ///
    /// # Panics
    ///
    /// As [`start`](Self::start).
    ///
    /// A server with [`virtual_time`](Self::virtual_time) runs on the test's runtime, so
    /// it cannot start here: this panics, saying to use `.start().await` instead.
    #[track_caller]
    pub fn start_blocking(self) -> MockChatServer {
        if self.virtual_time {
            panic!(
                "MockChatServerBuilder::virtual_time runs the server on the test's own tokio \
                 runtime, which start_blocking() does not have: start it with .start().await \
                 inside #[tokio::test(start_paused = true)]"
            );
        }
        self.launch().unwrap_or_else(|error| panic!("{error}"))
    }

    /// Makes the server's error messages name fixture keys rather than builder methods,
    /// for a server built from fixture files.
    pub(crate) fn with_fixture_advice(mut self) -> Self {
        self.advice = Advice::Fixture;
        self
    }

    fn launch(self) -> io::Result<MockChatServer> {
        let fallback = (!self.replies.is_empty()).then(|| Fallback {
            replies: self.replies.into_iter().map(Arc::new).collect(),
            served: AtomicUsize::new(0),
        });
        let traffic = Traffic {
            rate_limiter: self.rate_limit.map(RateLimiter::new),
            chaos: self.chaos,
            chaos_drawn: Default::default(),
        };
        let mut state = ServerState::new(fallback, self.routes, self.limits, self.advice, traffic);
        state.models = self.models;
        state.proxy = self.recording.proxy()?;
        state.replays = self.replays;
        let state = Arc::new(state);
        for mock in self.mocks {
            state.mount(mock);
        }
        let (address, running) =
            Running::start(self.address, Arc::clone(&state), self.virtual_time)?;
        Ok(MockChatServer {
            address,
            state,
            wait_timeout: self.wait_timeout,
            running: Mutex::new(Some(running)),
            lifecycle: tokio::sync::Mutex::new(()),
            virtual_time: self.virtual_time,
            reported: AtomicBool::new(false),
        })
    }
}

impl RecordingSetup {
    /// The proxy this setup describes, if it describes one.
    fn proxy(self) -> io::Result<Option<Proxy>> {
        let invalid = |message: String| io::Error::new(io::ErrorKind::InvalidInput, message);
        match (self.upstream, self.path) {
            (None, None) => Ok(None),
            (Some(upstream), Some(path)) => {
                let upstream = Upstream::parse(&upstream).map_err(invalid)?;
                let proxy = Proxy::new(
                    upstream,
                    path.clone(),
                    self.append,
                    self.redactions,
                    self.trusted,
                )
                .map_err(|error| {
                    io::Error::new(
                        error.kind(),
                        format!("cannot write the recording {}: {error}", path.display()),
                    )
                })?;
                Ok(Some(proxy))
            }
            (Some(upstream), None) => Err(invalid(format!(
                "MockChatServerBuilder::record_from({upstream:?}) records into a file: add \
                 .record_to(path)"
            ))),
            (None, Some(path)) => Err(invalid(format!(
                "MockChatServerBuilder::record_to({}) records from an upstream: add \
                 .record_from(url)",
                path.display()
            ))),
        }
    }
}

impl MockChatServer {
    /// A builder to configure the server before starting it.
    pub fn builder() -> MockChatServerBuilder {
        MockChatServerBuilder {
            replies: Vec::new(),
            address: listen::DEFAULT_ADDRESS,
            wait_timeout: Duration::from_secs(5),
            routes: Routes::default(),
            mocks: Vec::new(),
            virtual_time: false,
            limits: ConnectionLimits::default(),
            advice: Advice::default(),
            rate_limit: None,
            chaos: None,
            models: None,
            recording: RecordingSetup::default(),
            replays: None,
        }
    }

    /// Starts a server with the default settings: a free loopback port, nothing mounted,
    /// and a 404 for every request until a mock is.
    ///
    /// `async` only to read as wiremock's API does: it returns at once, awaiting nothing.
    ///
    /// # Panics
    ///
    /// If no loopback port can be bound.
    pub async fn start() -> MockChatServer {
        MockChatServer::builder().start().await
    }

    /// The base URI of the server, `http://127.0.0.1:<port>`, without a trailing slash.
    pub fn uri(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The base URL an OpenAI client expects, `http://127.0.0.1:<port>/v1`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use async_openai::{config::OpenAIConfig, Client};
    /// use chatmock::MockChatServer;
    ///
    /// let server = MockChatServer::start().await;
    /// let client = Client::with_config(
    ///     OpenAIConfig::new().with_api_base(server.openai_base_url()).with_api_key("test"),
    /// );
    /// # drop(client);
    /// # }
    /// ```
    pub fn openai_base_url(&self) -> String {
        format!("{}/v1", self.uri())
    }

    /// The socket address the server listens on.
    pub fn address(&self) -> &SocketAddr {
        &self.address
    }

    /// Every request received so far, in arrival order, with what became of each
    /// response at this moment.
    ///
    /// `async` only to read as wiremock's API does: it returns at once, awaiting nothing.
    pub async fn received_requests(&self) -> Vec<ReceivedRequest> {
        self.received_requests_blocking()
    }

    /// Waits until the server has received at least `count` requests, and returns them
    /// all. Use it instead of sleeping when a client works in the background or retries.
    ///
    /// # Errors
    ///
    /// [`WaitTimeout`] after the [wait timeout](MockChatServerBuilder::wait_timeout), with
    /// the requests that did arrive.
    pub async fn wait_for_requests(
        &self,
        count: usize,
    ) -> Result<Vec<ReceivedRequest>, WaitTimeout> {
        let (what, condition) = wait_for_requests(count);
        self.wait_for(what, condition).await
    }

    /// Waits until every response received so far has ended (completed, cut, or hung up
    /// on), and returns all requests. Use it after a client stops reading, to assert
    /// what the server saw.
    ///
    /// # Errors
    ///
    /// [`WaitTimeout`] after the [wait timeout](MockChatServerBuilder::wait_timeout), with
    /// the requests as they were.
    pub async fn wait_for_streams_to_end(&self) -> Result<Vec<ReceivedRequest>, WaitTimeout> {
        let (what, condition) = wait_for_streams_to_end();
        self.wait_for(what, condition).await
    }

    /// Waits until `condition` holds for the requests received so far (re-checked
    /// whenever a request arrives or a response changes state), and returns them.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use chatmock::{MockChatServer, Reply};
    /// use std::time::Duration;
    ///
    /// let server = MockChatServer::builder()
    ///     .reply(Reply::text("a b c d e").token_delay(Duration::from_millis(10)))
    ///     .start()
    ///     .await;
    /// let url = format!("{}/chat/completions", server.openai_base_url());
    /// let body = r#"{"model":"m","messages":[],"stream":true}"#;
    /// let _response = reqwest::Client::new().post(url).body(body).send().await.unwrap();
    ///
    /// // Act when the server has sent the third token, not after a guessed sleep.
    /// server
    ///     .wait_until(|requests| {
    ///         requests.first().is_some_and(|r| r.stream_outcome().content_events() >= 3)
    ///     })
    ///     .await
    ///     .unwrap();
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`WaitTimeout`] after the [wait timeout](MockChatServerBuilder::wait_timeout), with
    /// the requests as they were.
    pub async fn wait_until(
        &self,
        condition: impl FnMut(&[ReceivedRequest]) -> bool,
    ) -> Result<Vec<ReceivedRequest>, WaitTimeout> {
        self.wait_for(WAIT_UNTIL.to_owned(), condition).await
    }

    async fn wait_for(
        &self,
        what: String,
        condition: impl FnMut(&[ReceivedRequest]) -> bool,
    ) -> Result<Vec<ReceivedRequest>, WaitTimeout> {
        let waited = self.wait_timeout;
        tokio::time::timeout(waited, self.state.recording.wait_until(condition))
            .await
            .map_err(|_| self.timed_out(what, self.state.recording.snapshot()))
    }

    fn timed_out(&self, what: String, requests: Vec<ReceivedRequest>) -> WaitTimeout {
        WaitTimeout {
            what,
            waited: self.wait_timeout,
            requests,
        }
    }

    /// Checks the expectations of every mounted mock now, instead of waiting for the
    /// server to drop.
    ///
    /// `async` only to read as wiremock's API does: it returns at once, awaiting nothing.
    ///
    /// # Panics
    ///
    /// With a report of every unmet expectation and every request received, if any
    /// expectation is not met.
    pub async fn verify(&self) {
        self.verify_now();
    }

    /// Checks the expectations of every mounted mock now, returning the report that
    /// [`verify`](Self::verify) would panic with instead of panicking: for a program that
    /// serves mocks and decides for itself how to fail, such as the `chatmock` binary.
    ///
    /// ```
    /// use chatmock::{matchers, Mock, MockChatServer, Reply};
    ///
    /// let server = MockChatServer::builder().start_blocking();
    /// Mock::given(matchers::any())
    ///     .respond_with(Reply::text("Hi"))
    ///     .expect(1)
    ///     .mount_blocking(&server);
    /// let report = server.try_verify().unwrap_err();
    /// assert!(report.starts_with("chatmock: 1 mock expectation was not met."));
    /// server.reset_blocking(); // nothing left for the drop to report
    /// ```
    ///
    /// # Errors
    ///
    /// The report of every unmet expectation and every request received, if any
    /// expectation is not met.
    pub fn try_verify(&self) -> Result<(), String> {
        self.state.verify()
    }

    #[track_caller]
    fn verify_now(&self) {
        if let Err(report) = self.state.verify() {
            // Dropping the server while this panic unwinds would print the same report.
            self.reported.store(true, Ordering::Relaxed);
            panic!("{report}");
        }
    }

    /// Unmounts every mock, forgets every received request, rewinds a
    /// [`reply_sequence`](MockChatServerBuilder::reply_sequence) and the server's
    /// [chaos](MockChatServerBuilder::chaos), and refills its
    /// [rate limit](MockChatServerBuilder::rate_limit), as if the server had just started
    /// (its address stays the same).
    ///
    /// `async` only to read as wiremock's API does: it returns at once, awaiting nothing.
    pub async fn reset(&self) {
        self.reset_blocking();
    }

    /// Stops the server as if it had crashed: streams in flight are cut, new connections
    /// are refused, and the port is released. Mounted mocks and received requests are
    /// kept, for [`restart`](Self::restart) and for assertions. Stopping a stopped server
    /// does nothing.
    ///
    /// `async` only to read as wiremock's API does: it awaits nothing, and blocks the
    /// calling thread only until the server thread has dropped the server's tasks, which
    /// takes microseconds.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use chatmock::MockChatServer;
    ///
    /// let server = MockChatServer::start().await;
    /// server.stop().await;
    /// assert!(std::net::TcpStream::connect(server.address()).is_err());
    /// server.restart().await;
    /// assert!(std::net::TcpStream::connect(server.address()).is_ok());
    /// # }
    /// ```
    pub async fn stop(&self) {
        let _turn = self.lifecycle.lock().await;
        self.stop_in_turn().await;
    }

    async fn stop_in_turn(&self) {
        let running = lock(&self.running).take();
        if let Some(running) = running {
            self.state.recording.set_stopping(true);
            running.stop().await;
            self.state.recording.set_stopping(false);
        }
    }

    /// Stops the server from `Drop`.
    fn stop_now(&self) {
        let Some(running) = lock(&self.running).take() else {
            return;
        };
        // Streams that end after this returns were still stopped by the server, so the
        // log stays marked as stopping.
        self.state.recording.set_stopping(true);
        running.stop_now();
    }

    /// Starts serving again on the same address, after [`stop`](Self::stop) (or stops
    /// and starts again if the server is running), with the same mocks and request log:
    /// a client sees an outage end. Calls from several tasks at once take turns, so each
    /// succeeds and the server ends up serving.
    ///
    /// `async` only to read as wiremock's API does: it awaits nothing, and blocks the
    /// calling thread only until the server thread has dropped the server's tasks, which
    /// takes microseconds.
    ///
    /// # Panics
    ///
    /// If the address cannot be bound again; see [`try_restart`](Self::try_restart).
    pub async fn restart(&self) {
        if let Err(error) = self.try_restart().await {
            panic!("{error}");
        }
    }

    /// Like [`restart`](Self::restart), returning an error that names the address if
    /// another process took the port meanwhile.
    ///
    /// `async` only to read as wiremock's API does: it awaits nothing, and blocks the
    /// calling thread only until the server thread has dropped the server's tasks, which
    /// takes microseconds.
    pub async fn try_restart(&self) -> io::Result<()> {
        let _turn = self.lifecycle.lock().await;
        self.stop_in_turn().await;
        self.start_in_turn()
    }

    fn start_in_turn(&self) -> io::Result<()> {
        let (_, running) =
            Running::start(self.address, Arc::clone(&self.state), self.virtual_time)?;
        *lock(&self.running) = Some(running);
        Ok(())
    }

    pub(crate) fn mount(&self, mock: Mock) -> usize {
        self.state.mount(mock)
    }

    pub(crate) fn state(&self) -> Arc<ServerState> {
        Arc::clone(&self.state)
    }
}

impl fmt::Debug for MockChatServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockChatServer")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl Drop for MockChatServer {
    fn drop(&mut self) {
        self.stop_now();
        if let Err(report) = self.state.verify() {
            if !(std::thread::panicking() && self.reported.load(Ordering::Relaxed)) {
                fail(report);
            }
        }
    }
}

/// What [`MockChatServer::wait_for_requests`] waits for, and its description.
fn wait_for_requests(count: usize) -> (String, impl FnMut(&[ReceivedRequest]) -> bool) {
    (
        format!("{count} requests"),
        move |requests: &[ReceivedRequest]| requests.len() >= count,
    )
}

/// What [`MockChatServer::wait_for_streams_to_end`] waits for, and its description.
fn wait_for_streams_to_end() -> (String, impl FnMut(&[ReceivedRequest]) -> bool) {
    (
        "every stream to end".to_owned(),
        |requests: &[ReceivedRequest]| {
            requests
                .iter()
                .all(|request| request.stream_outcome().has_ended())
        },
    )
}

const WAIT_UNTIL: &str = "the condition given to wait_until";

/// The error of [`MockChatServer::wait_for_requests`],
/// [`MockChatServer::wait_for_streams_to_end`] and [`MockChatServer::wait_until`]: the
/// condition did not come true in time.
/// It shows the requests the server had received, to tell why.
#[derive(Clone)]
pub struct WaitTimeout {
    what: String,
    waited: Duration,
    requests: Vec<ReceivedRequest>,
}

impl WaitTimeout {
    /// The requests the server had received when the wait gave up.
    pub fn received_requests(&self) -> &[ReceivedRequest] {
        &self.requests
    }
}

impl fmt::Display for WaitTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "chatmock: waited {:?} for {}, in vain. {}",
            self.waited,
            self.what,
            verification::describe_requests(&self.requests)
        )?;
        let open = self
            .requests
            .iter()
            .filter(|request| !request.stream_outcome().has_ended())
            .count();
        if open > 0 {
            write!(
                f,
                "{open} of them still {} no end (a client that stopped reading without \
                 closing its connection keeps a stream open).",
                if open == 1 { "has" } else { "have" }
            )?;
        }
        Ok(())
    }
}

// Debug shows the readable message, since `.unwrap()` on a failed wait prints Debug.
impl fmt::Debug for WaitTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for WaitTimeout {}
