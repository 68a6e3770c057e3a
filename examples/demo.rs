//! The original chatmock demo: a streaming chat server for curl, a browser page, or any
//! OpenAI SDK.
//!
//! ```text
//! cargo run --example demo                      # http://127.0.0.1:8001
//! curl -N http://127.0.0.1:8001/stream          # data: <token> events, then data: [DONE]
//! ```
//!
//! It streams `Hello, this is a mocked chatbot. How can I help you?` word by word, two
//! tokens a second, on `GET /stream` (the raw format, with CORS so `examples/demo.html`
//! can read it from a file or another origin) and on `POST /v1/chat/completions` (the
//! OpenAI format). Options: `--port N` (0 picks a free port), `--host ADDRESS`,
//! `--token-delay-ms N`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use chatmock::{MockChatServer, Reply};

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
            "--help" | "-h" => {
                return Err(
                    "usage: demo [--port 8001] [--host 127.0.0.1] [--token-delay-ms 500]".into(),
                )
            }
            other => return Err(format!("unknown option {other:?}; try --help")),
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
    let reply = Reply::demo()
        .first_token_delay(options.token_delay)
        .token_delay(options.token_delay);
    let server = match MockChatServer::builder()
        .listen_on(SocketAddr::new(options.host, options.port))
        .reply(reply)
        // The demo logs requests as they come, for as long as it runs.
        .wait_timeout(Duration::from_secs(24 * 60 * 60))
        .try_start()
        .await
    {
        Ok(server) => server,
        Err(error) => {
            eprintln!("{error}\nTry another port: cargo run --example demo -- --port 8002");
            return ExitCode::FAILURE;
        }
    };
    let uri = server.uri();
    println!("chatmock demo listening on {uri}");
    println!("  raw stream:    curl -N {uri}/stream");
    println!("  OpenAI format: curl -N {uri}/v1/chat/completions -d '{{\"model\":\"demo\",\"messages\":[],\"stream\":true}}'");
    println!("  browser:       open examples/demo.html (add ?server={uri} if not on port 8001)");
    println!("  OpenAI SDKs:   base URL {uri}/v1, any API key");
    println!("Press Ctrl-C to stop.");

    let mut logged = 0;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            requests = server.wait_for_requests(logged + 1) => {
                for request in requests.unwrap_or_default().iter().skip(logged) {
                    println!("{} {}", request.method(), request.path());
                    logged += 1;
                }
            }
        }
    }
    println!("stopped");
    ExitCode::SUCCESS
}
