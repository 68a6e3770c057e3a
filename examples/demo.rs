//! The original demo: a streaming chat server for curl, a browser page, and any OpenAI,
//! Anthropic, Gemini or Ollama SDK, in any language.
//!
//! ```text
//! cargo run --example demo                      # http://127.0.0.1:8001
//! curl -N http://127.0.0.1:8001/stream          # data: <token> events, then data: [DONE]
//! ```
//!
//! It streams `Hello, this is a mocked chatbot. How can I help you?` word by word, two
//! tokens a second, on every endpoint: `GET /stream` (the plain format, with CORS so
//! `examples/demo.html` can read it from a file or another origin),
//! `POST /v1/chat/completions`, `/v1/responses`, `/v1/messages`, Gemini's and Ollama's.
//! It prints its address, then the server's log (one line as each request arrives, one
//! as its response ends), and stops cleanly on Ctrl-C. Options: `--port N` (0 picks a
//! free port), `--host ADDRESS`, `--token-delay-ms N`.
//!
//! To serve fixture files instead, use the `chatmock` binary (`cargo run --features cli
//! -- serve --fixture FILE`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use futures::FutureExt;

use chatmock::{MockChatServer, Reply};

const USAGE: &str = "usage: demo [--port 8001] [--host 127.0.0.1] [--token-delay-ms 500]";

struct Options {
    host: IpAddr,
    port: u16,
    token_delay: Duration,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        host: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port: 8001,
        token_delay: Duration::from_millis(500),
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
            "--help" | "-h" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown option {other:?}\n{USAGE}")),
        }
    }
    Ok(options)
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
    // The server's own log lines, one per event, without timestamps or levels.
    tracing_subscriber::fmt()
        .without_time()
        .with_level(false)
        .with_target(false)
        .init();
    let started = MockChatServer::builder()
        .listen_on(SocketAddr::new(options.host, options.port))
        .reply(
            Reply::demo()
                .first_token_delay(options.token_delay)
                .token_delay(options.token_delay),
        )
        .try_start()
        .await;
    let server = match started {
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

    let _ = interrupted.await;
    println!("stopped");
    ExitCode::SUCCESS
}
