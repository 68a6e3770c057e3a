//! The chatmock demo and standalone server: a streaming chat server for curl, a browser
//! page, any OpenAI, Anthropic, Gemini or Ollama SDK, in any language.
//!
//! ```text
//! cargo run --example demo                      # http://127.0.0.1:8001
//! curl -N http://127.0.0.1:8001/stream          # data: <token> events, then data: [DONE]
//! cargo run --example demo -- --fixture examples/fixtures/weather.json
//! ```
//!
//! Without fixtures it streams `Hello, this is a mocked chatbot. How can I help you?`
//! word by word, two tokens a second, on every endpoint: `GET /stream` (the plain format,
//! with CORS so `examples/demo.html` can read it from a file or another origin),
//! `POST /v1/chat/completions`, `/v1/responses`, `/v1/messages`, Gemini's and Ollama's.
//! With `--fixture FILE` (repeatable) it serves the mocks and replies of JSON fixture
//! files instead (see `chatmock::Fixture`).
//!
//! It prints its address, then one line per request as it arrives and one as its
//! response ends, and stops cleanly on Ctrl-C. Options: `--port N` (0 picks a free port),
//! `--host ADDRESS`, `--token-delay-ms N` (for the demo reply), `--fixture FILE`,
//! `--format NAME` (frame every reply in one format, whatever the path).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use futures::FutureExt;

use chatmock::{Fixture, MockChatServer, ReceivedRequest, Reply, StreamOutcome, WireFormat};

const USAGE: &str = "usage: demo [--port 8001] [--host 127.0.0.1] [--token-delay-ms 500] \
                     [--fixture FILE]... [--format NAME]";

struct Options {
    host: IpAddr,
    port: u16,
    token_delay: Duration,
    fixtures: Vec<PathBuf>,
    format: Option<WireFormat>,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        host: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port: 8001,
        token_delay: Duration::from_millis(500),
        fixtures: Vec::new(),
        format: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--port" => options.port = value()?.parse().map_err(|e| format!("--port: {e}"))?,
            "--host" => options.host = value()?.parse().map_err(|e| format!("--host: {e}"))?,
            "--token-delay-ms" => {
                let millis = value()?
                    .parse()
                    .map_err(|e| format!("--token-delay-ms: {e}"))?;
                options.token_delay = Duration::from_millis(millis);
            }
            "--fixture" => options.fixtures.push(PathBuf::from(value()?)),
            "--format" => {
                options.format = Some(value()?.parse().map_err(|e| format!("--format: {e}"))?);
            }
            "--help" | "-h" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown option {other:?}\n{USAGE}")),
        }
    }
    Ok(options)
}

/// The server the options describe: the demo reply, or the fixtures' mocks and replies.
fn builder(options: &Options) -> Result<chatmock::MockChatServerBuilder, String> {
    let mut builder = MockChatServer::builder()
        .listen_on(SocketAddr::new(options.host, options.port))
        // The server logs requests as they come, for as long as it runs.
        .wait_timeout(Duration::from_secs(24 * 60 * 60))
        // A standalone server faces clients it does not know: one that connects and says
        // nothing, or trickles its headers, must not hold a connection forever.
        .header_read_timeout(Duration::from_secs(30))
        .max_connections(10_000);
    if options.fixtures.is_empty() {
        builder = builder.reply(
            Reply::demo()
                .first_token_delay(options.token_delay)
                .token_delay(options.token_delay),
        );
    }
    for path in &options.fixtures {
        let fixture = Fixture::load(path).map_err(|error| error.to_string())?;
        builder = builder.fixture(fixture);
    }
    if let Some(format) = options.format {
        builder = builder.wire_format(format);
    }
    Ok(builder)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let options = match parse_options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::FAILURE;
        }
    };
    let builder = match builder(&options) {
        Ok(builder) => builder,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::FAILURE;
        }
    };
    let server = match builder.try_start().await {
        Ok(server) => server,
        Err(error) => {
            eprintln!("{error}\nTry another port: cargo run --example demo -- --port 8002");
            return ExitCode::FAILURE;
        }
    };
    // Polled once so that the handler is installed before the address is printed: a
    // Ctrl-C as soon as the server is up stops it cleanly rather than killing it.
    let mut interrupted = Box::pin(tokio::signal::ctrl_c());
    if (&mut interrupted).now_or_never().is_some() {
        return ExitCode::SUCCESS;
    }
    let uri = server.uri();
    println!("chatmock demo listening on {uri}");
    println!("  plain stream:  curl -N {uri}/stream");
    println!("  OpenAI format: curl -N {uri}/v1/chat/completions -d '{{\"model\":\"demo\",\"messages\":[],\"stream\":true}}'");
    println!("  browser:       open examples/demo.html (add ?server={uri} if not on port 8001)");
    println!("  OpenAI SDKs:   base URL {uri}/v1, any API key; Anthropic SDKs: base URL {uri}");
    println!("Press Ctrl-C to stop.");

    let mut log = RequestLog::default();
    loop {
        tokio::select! {
            _ = &mut interrupted => break,
            requests = server.wait_until(|requests| log.has_news(requests)) => {
                log.print_news(&requests.unwrap_or_default());
            }
        }
    }
    println!("stopped");
    ExitCode::SUCCESS
}

/// What has been logged: how far each request's story has been told.
#[derive(Default)]
struct RequestLog {
    /// Per request: whether its arrival and its ending have been printed.
    told: Vec<(bool, bool)>,
}

impl RequestLog {
    fn has_news(&self, requests: &[ReceivedRequest]) -> bool {
        requests.len() > self.told.len()
            || requests
                .iter()
                .zip(&self.told)
                .any(|(request, (_, ended))| !ended && request.stream_outcome().has_ended())
    }

    fn print_news(&mut self, requests: &[ReceivedRequest]) {
        self.told.resize(requests.len(), (false, false));
        for (number, (request, told)) in requests.iter().zip(&mut self.told).enumerate() {
            if !told.0 {
                println!("#{} {}", number + 1, describe_request(request));
                told.0 = true;
            }
            if !told.1 && request.stream_outcome().has_ended() {
                println!("#{} {}", number + 1, describe_outcome(request));
                told.1 = true;
            }
        }
    }
}

fn describe_request(request: &ReceivedRequest) -> String {
    let mut line = format!("{} {}", request.method(), request.path());
    if let Some(chat) = request.chat() {
        line.push_str(&format!(" model={:?}", chat.model()));
        if chat.is_stream() {
            line.push_str(" stream");
        }
    }
    line
}

fn describe_outcome(request: &ReceivedRequest) -> String {
    let status = request
        .response_status()
        .map_or_else(|| "-".to_owned(), |status| status.to_string());
    let took = match request.ended_at() {
        Some(ended) => format!(" in {} ms", (ended - request.received_at()).as_millis()),
        None => String::new(),
    };
    let outcome = match request.stream_outcome() {
        StreamOutcome::NotStreamed => "answered".to_owned(),
        StreamOutcome::Completed { content_events } => {
            format!("completed, {content_events} events")
        }
        StreamOutcome::Cut {
            kind,
            content_events,
        } => {
            format!("cut ({kind:?}) after {content_events} events")
        }
        StreamOutcome::ClientHungUp { content_events } => {
            format!("client hung up after {content_events} events")
        }
        other => format!("{other:?}"),
    };
    format!("-> {status} {outcome}{took}")
}
