//! The peers as the driver sees them: how to start each as a process of its own, what to
//! send it, and what it cannot do.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::client::{Request, Tokens};
use crate::scenario::{self, Scenario, JSON_BODY, STREAM_BODY};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    Chatmock,
    Llmposter,
    Wiremock,
    Aimock,
    MockLlm,
    Flask,
}

pub const ALL: [Peer; 6] = [
    Peer::Chatmock,
    Peer::Llmposter,
    Peer::Wiremock,
    Peer::Aimock,
    Peer::MockLlm,
    Peer::Flask,
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Figure {
    Timing,
    Throughput,
    Memory,
    FirstByteStreamed,
    FirstByteJson,
    Lifecycle,
}

impl Peer {
    pub fn name(self) -> &'static str {
        match self {
            Peer::Chatmock => "chatmock",
            Peer::Llmposter => "llmposter",
            Peer::Wiremock => "wiremock",
            Peer::Aimock => "aimock",
            Peer::MockLlm => "mock-llm",
            Peer::Flask => "Flask demo",
        }
    }

    /// The name a child process of this binary is given.
    fn child_name(self) -> &'static str {
        match self {
            Peer::Chatmock => "chatmock",
            Peer::Llmposter => "llmposter",
            Peer::Wiremock => "wiremock",
            _ => unreachable!("not an in-process peer"),
        }
    }

    /// `Err(why)` when this peer cannot take part in `figure`.
    pub fn can(self, figure: Figure) -> Result<(), &'static str> {
        match (self, figure) {
            (Peer::Wiremock, Figure::Timing) => {
                Err("a fixed body with one delay before it: no per-token timing")
            }
            (Peer::Flask, Figure::FirstByteJson) => Err("the demo streams only"),
            (Peer::Aimock | Peer::MockLlm | Peer::Flask, Figure::Lifecycle) => {
                Err("a separate process, not started per test in-process")
            }
            _ => Ok(()),
        }
    }

    pub fn stream_request(self, address: SocketAddr) -> Request {
        match self {
            Peer::Flask => Request::get(address, "/stream", Tokens::BareWords),
            _ => Request::post_json(address, "/v1/chat/completions", STREAM_BODY),
        }
    }

    pub fn json_request(self, address: SocketAddr) -> Request {
        Request::post_json(address, "/v1/chat/completions", JSON_BODY)
    }
}

/// Paths the script hands over in the environment.
struct Paths {
    node_dir: PathBuf,
    python: PathBuf,
    flask_app: PathBuf,
    work: PathBuf,
}

fn paths() -> Paths {
    let var = |name: &str| {
        PathBuf::from(std::env::var_os(name).unwrap_or_else(|| {
            panic!("{name} is not set: run this harness through benches/peers.sh")
        }))
    };
    Paths {
        node_dir: var("PEERS_NODE_DIR"),
        python: var("PEERS_PYTHON"),
        flask_app: var("PEERS_FLASK_APP"),
        work: var("PEERS_WORK"),
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A peer's server, a process of its own; killed on drop.
pub struct Server {
    pub peer: Peer,
    pub address: SocketAddr,
    child: Mutex<Child>,
    _stdin: Option<ChildStdin>,
}

impl Server {
    pub fn start(peer: Peer, scenario: Scenario) -> Server {
        let paths = paths();
        // Only mock-llm cannot be told to pick a free port itself (it would report 0).
        let port = free_port();
        let mut command = match peer {
            Peer::Chatmock | Peer::Llmposter | Peer::Wiremock => {
                let mut command = Command::new(std::env::current_exe().unwrap());
                command.args(["serve", peer.child_name(), &scenario.arg()]);
                command
            }
            Peer::Aimock => {
                let mut command = Command::new("node");
                command
                    .current_dir(&paths.node_dir)
                    .arg("aimock.mjs")
                    .arg(scenario.tokens.to_string())
                    .arg(scenario.delay_ms.to_string());
                command
            }
            Peer::MockLlm => {
                let config = paths.work.join(format!("mock-llm-{}.yaml", scenario.arg()));
                std::fs::write(&config, mock_llm_config(scenario)).unwrap();
                let mut command = Command::new("node");
                command
                    .current_dir(&paths.work)
                    .arg(
                        paths
                            .node_dir
                            .join("node_modules/@dwmkerr/mock-llm/dist/main.js"),
                    )
                    .arg("--config")
                    .arg(config)
                    .env("PORT", port.to_string())
                    .env("HOST", "127.0.0.1");
                command
            }
            Peer::Flask => {
                let mut command = Command::new(&paths.python);
                command
                    .arg(&paths.flask_app)
                    .arg(scenario.tokens.to_string())
                    .arg(scenario.delay_ms.to_string());
                command
            }
        };
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("{}: could not start: {error}", peer.name()));
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let ready = match peer {
            Peer::MockLlm => "server running on",
            _ => "listening",
        };
        let mut line = String::new();
        let address = loop {
            line.clear();
            if stdout.read_line(&mut line).unwrap() == 0 {
                panic!("{}: exited before it listened", peer.name());
            }
            if line.contains(ready) {
                break match peer {
                    Peer::MockLlm => SocketAddr::from(([127, 0, 0, 1], port)),
                    _ => {
                        let address = line.trim().trim_start_matches("listening ");
                        let address = address.trim_start_matches("http://");
                        address
                            .parse()
                            .unwrap_or_else(|_| panic!("{}: no address in {line:?}", peer.name()))
                    }
                };
            }
        };
        // Whatever the peer logs later (mock-llm a line per request) must not fill the
        // pipe and block it.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        wait_until_accepting(peer, address);
        Server {
            peer,
            address,
            child: Mutex::new(child),
            _stdin: stdin,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.lock().unwrap().id()
    }

    /// `why`, and whether the process is still running: for a failure's message.
    pub fn failure(&self, why: String) -> String {
        match self.child.lock().unwrap().try_wait() {
            Ok(Some(status)) => format!("{why} (the server's process has exited: {status})"),
            _ => why,
        }
    }

    /// Resident memory of the server's process, in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let child = self.child.get_mut().unwrap();
        let _ = child.kill();
        let _ = child.wait();
    }
}

fn wait_until_accepting(peer: Peer, address: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(address).is_err() {
        assert!(
            Instant::now() < deadline,
            "{}: not accepting on {address} after 30 s",
            peer.name()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// mock-llm's configuration: one rule answering every chat request with the scenario's
/// tokens; its global streaming settings cut them one per chunk, `delay_ms` apart.
fn mock_llm_config(scenario: Scenario) -> String {
    let content = scenario::tokens(scenario.tokens).concat();
    let response = format!(
        r#"{{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m","choices":[{{"index":0,"message":{{"role":"assistant","content":"{content}"}},"finish_reason":"stop"}}]}}"#
    );
    format!(
        "streaming:\n  chunkSize: {}\n  chunkIntervalMs: {}\nrules:\n  - path: \"/v1/chat/completions\"\n    \
         method: \"POST\"\n    match: \"@\"\n    response:\n      status: 200\n      content: '{response}'\n",
        scenario::TOKEN_LENGTH,
        scenario.delay_ms
    )
}

/// An in-process peer's lifecycle child: one round per request.
pub struct LifecycleChild {
    pub peer: Peer,
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

/// One lifecycle round's phases.
pub struct Phases {
    pub start: Duration,
    pub request: Duration,
    pub drop: Duration,
}

impl LifecycleChild {
    pub fn start(peer: Peer) -> LifecycleChild {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["lifecycle", peer.child_name()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready", "{}: lifecycle child", peer.name());
        LifecycleChild {
            peer,
            child,
            stdin,
            stdout,
        }
    }

    pub fn round(&mut self) -> Phases {
        writeln!(self.stdin, "go").unwrap();
        self.stdin.flush().unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        let nanos: Vec<u64> = line
            .split_whitespace()
            .map(|field| field.parse().unwrap())
            .collect();
        assert_eq!(
            nanos.len(),
            3,
            "{}: a round's phases, got {line:?}",
            self.peer.name()
        );
        Phases {
            start: Duration::from_nanos(nanos[0]),
            request: Duration::from_nanos(nanos[1]),
            drop: Duration::from_nanos(nanos[2]),
        }
    }
}

impl Drop for LifecycleChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
