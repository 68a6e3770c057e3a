//! `chatmock`: the mock server as a program, for clients in any language.
//!
//! ```text
//! cargo install chatmock --features cli
//! chatmock serve --fixture weather.json --port 0     # prints its address first
//! chatmock serve                                     # the original demo on port 8001
//! chatmock record --upstream http://127.0.0.1:8080 --out recording.json --port 8001
//! ```
//!
//! It serves the mocks and replies of JSON fixture files (see `chatmock::fixture`), logs
//! one line as each request arrives and one as its response ends, answers `GET /health`,
//! and on Ctrl-C (or SIGTERM) checks the fixtures' expectations: exit code 0 when every
//! one is met, 1 with the report otherwise. `--watch` reloads the fixtures when a file
//! changes. `record` is a recording proxy: it forwards every request to the upstream,
//! streams the answers back, and writes them to a fixture file that `serve` replays.

mod watch;

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use chatmock::{Fixture, MockChatServer, MockChatServerBuilder, Reply, WireFormat};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "chatmock",
    version,
    about = "A mock server for LLM chat APIs: OpenAI, Anthropic, Gemini and Ollama, streaming and not"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serves fixture files (or, without any, the demo reply) until Ctrl-C.
    Serve(ServeOptions),
    /// Forwards every request to an upstream and records the answers into a fixture
    /// file, until Ctrl-C.
    Record(RecordOptions),
}

#[derive(clap::Args)]
struct RecordOptions {
    /// The upstream to forward to: http://host:port (https:// when built with the
    /// record-tls feature), with an optional base path.
    #[arg(long, value_name = "URL")]
    upstream: String,
    /// The fixture file to write (rewritten whole after each exchange).
    #[arg(long, short = 'o', value_name = "FILE")]
    out: PathBuf,
    /// The port to listen on; 0 picks a free one (the address is printed first).
    #[arg(long, short = 'p', default_value_t = 8001)]
    port: u16,
    /// The address to listen on: loopback unless another is asked for.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    host: IpAddr,
    /// A regular expression whose matches are masked in the file; may be given more
    /// than once. Credentials are always kept out.
    #[arg(long, value_name = "REGEX")]
    redact: Vec<String>,
}

#[derive(clap::Args)]
struct ServeOptions {
    /// A JSON fixture file to serve; may be given more than once. Without one, every
    /// endpoint streams the original demo sentence.
    #[arg(long, short = 'f', value_name = "FILE")]
    fixture: Vec<PathBuf>,
    /// The port to listen on; 0 picks a free one (the address is printed first).
    #[arg(long, short = 'p', default_value_t = 8001)]
    port: u16,
    /// The address to listen on: loopback unless another is asked for.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    host: IpAddr,
    /// Frames every reply in this wire format, whatever the path (`openai_chat_completions`,
    /// `openai_responses`, `anthropic_messages`, `gemini`, `ollama`, `plain_text`).
    #[arg(long, value_name = "NAME")]
    format: Option<WireFormat>,
    /// Reloads the fixture files when one changes.
    #[arg(long)]
    watch: bool,
    /// The delay before each token of the demo reply, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 500)]
    token_delay_ms: u64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("chatmock: cannot start a runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        Command::Serve(options) => runtime.block_on(serve(options)),
        Command::Record(options) => runtime.block_on(record(options)),
    }
}

/// One line per event, as the library phrases it: `RUST_LOG` (such as `chatmock=debug`)
/// chooses what is shown, `chatmock=info` by default.
fn logging() {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|spec| spec.parse::<tracing_subscriber::filter::Targets>().ok())
        .unwrap_or_else(|| {
            tracing_subscriber::filter::Targets::new().with_target("chatmock", tracing::Level::INFO)
        });
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let lines = tracing_subscriber::fmt::layer()
        .without_time()
        .with_level(false)
        .with_target(false)
        .with_writer(std::io::stdout);
    let _ = tracing_subscriber::registry()
        .with(lines)
        .with(filter)
        .try_init();
}

async fn serve(options: ServeOptions) -> ExitCode {
    let address = SocketAddr::new(options.host, options.port);
    let server = match load(&options).map(|builder| builder.listen_on(address)) {
        Ok(builder) => match builder.try_start().await {
            Ok(server) => server,
            Err(error) => {
                eprintln!("{error}\nTry another port, or --port 0 for a free one.");
                return ExitCode::FAILURE;
            }
        },
        Err(message) => {
            eprintln!("chatmock: {message}");
            return ExitCode::FAILURE;
        }
    };
    // Polled once so that the handlers are installed before the address is printed: a
    // Ctrl-C as soon as the server is up stops it cleanly rather than killing it.
    let mut stop = Box::pin(stop_signal());
    if futures_util::FutureExt::now_or_never(&mut stop).is_some() {
        return finish(&server);
    }
    let uri = server.uri();
    println!("chatmock listening on {uri}");
    if options.fixture.is_empty() {
        println!("  serving the demo reply (no --fixture given): curl -N {uri}/stream");
    }
    println!("  OpenAI SDKs: base URL {uri}/v1; Anthropic, Gemini, Ollama SDKs: base URL {uri}");
    let _ = std::io::stdout().flush();

    let mut server = server;
    let mut watcher = watch::Watcher::new(&options.fixture);
    loop {
        tokio::select! {
            () = &mut stop => break,
            () = watcher.changed(), if options.watch && !options.fixture.is_empty() => {
                server = match reload(server, &options).await {
                    Ok(server) => server,
                    Err(message) => {
                        eprintln!("chatmock: {message}");
                        return ExitCode::FAILURE;
                    }
                };
            }
        }
    }
    finish(&server)
}

async fn record(options: RecordOptions) -> ExitCode {
    let mut builder = MockChatServer::builder()
        .wait_timeout(Duration::from_secs(24 * 60 * 60))
        .header_read_timeout(Duration::from_secs(30))
        .max_connections(10_000)
        .listen_on(SocketAddr::new(options.host, options.port))
        .record_from(&options.upstream)
        .record_to(&options.out);
    for pattern in &options.redact {
        if let Err(error) = regex_check(pattern) {
            eprintln!("chatmock: --redact {pattern:?} is not a regular expression: {error}");
            return ExitCode::FAILURE;
        }
        builder = builder.redact(pattern);
    }
    let server = match builder.try_start().await {
        Ok(server) => server,
        Err(error) => {
            eprintln!("chatmock: {error}");
            return ExitCode::FAILURE;
        }
    };
    let mut stop = Box::pin(stop_signal());
    if futures_util::FutureExt::now_or_never(&mut stop).is_some() {
        return ExitCode::SUCCESS;
    }
    let uri = server.uri();
    println!("chatmock listening on {uri}");
    println!(
        "  recording {} into {}",
        options.upstream,
        options.out.display()
    );
    let _ = std::io::stdout().flush();
    stop.await;
    server.stop().await;
    println!(
        "chatmock stopped: the recording is in {}",
        options.out.display()
    );
    ExitCode::SUCCESS
}

/// Whether `pattern` compiles, checked here so that a bad one is an exit code, not the
/// builder's panic.
fn regex_check(pattern: &str) -> Result<(), regex::Error> {
    regex::bytes::Regex::new(pattern).map(drop)
}

/// The server the options describe: the demo reply, or the fixtures' mocks and replies.
fn load(options: &ServeOptions) -> Result<MockChatServerBuilder, String> {
    let mut builder = MockChatServer::builder()
        // The server logs requests as they come, for as long as it runs.
        .wait_timeout(Duration::from_secs(24 * 60 * 60))
        // A standalone server faces clients it does not know: one that connects and says
        // nothing, or trickles its headers, must not hold a connection forever.
        .header_read_timeout(Duration::from_secs(30))
        .max_connections(10_000);
    if options.fixture.is_empty() {
        let delay = Duration::from_millis(options.token_delay_ms);
        builder = builder.reply(Reply::demo().first_token_delay(delay).token_delay(delay));
    }
    for path in &options.fixture {
        let fixture = Fixture::load(path).map_err(|error| error.to_string())?;
        builder = builder.fixture(fixture);
    }
    if let Some(format) = options.format {
        builder = builder.wire_format(format);
    }
    Ok(builder)
}

/// The server with the fixtures as they are now, on the same address; the old one if
/// they do not load, so that a file saved half-written breaks nothing. The error says why
/// no server could be started again.
async fn reload(server: MockChatServer, options: &ServeOptions) -> Result<MockChatServer, String> {
    let builder = match load(options) {
        Ok(builder) => builder.listen_on(*server.address()),
        Err(message) => {
            eprintln!("chatmock: not reloaded, still serving the previous fixtures: {message}");
            return Ok(server);
        }
    };
    // A reload starts the expectations afresh.
    server.reset().await;
    drop(server);
    let server = builder
        .try_start()
        .await
        .map_err(|error| format!("{error}, after reloading the fixtures"))?;
    println!(
        "chatmock reloaded the fixtures, listening on {}",
        server.uri()
    );
    Ok(server)
}

/// Checks the expectations on the way out: exit code 0 when all are met, 1 with the
/// report when not.
fn finish(server: &MockChatServer) -> ExitCode {
    match server.try_verify() {
        Ok(()) => {
            println!("chatmock stopped: every expectation was met");
            ExitCode::SUCCESS
        }
        Err(report) => {
            eprintln!("{report}");
            // Reported: the server's drop need not panic with it again.
            server.reset_blocking();
            ExitCode::FAILURE
        }
    }
}

/// Ctrl-C, or SIGTERM (how Docker and CI runners stop a process).
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut terminate) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
