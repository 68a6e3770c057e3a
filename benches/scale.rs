//! Scale: N = 1, 10, 100, 1,000 and 10,000 concurrent open (stalled) streams.
//!
//! For each N, a fresh server with `Reply::text("a b").stall_after(1)`: every stream
//! sends its first chunk and then stays open. Clients are raw tokio `TcpStream`s (a
//! minimal hand-written HTTP/1.1 POST, read until the first token's event) that keep
//! their connection open. Reported per N: the time to open all N, resident memory (VmRSS)
//! and open file descriptors before and with the N streams open, the time to drop the
//! server, the descriptors right after the drop, and how long the server thread takes
//! after it to close them all (a drop closes the port and shuts every connection down
//! before it returns, and leaves the closing of the descriptors to the server thread).
//!
//! The largest N runs twice: the memory a dropped server leaves to the allocator is
//! reused by the next one, so the second pass shows whether anything accumulates. A
//! burst check at the end connects 5,000 clients at once, past the listen backlog, and
//! counts the SYNs the kernel dropped meanwhile (`ListenOverflows` in
//! `/proc/net/netstat`, which counts the whole network namespace).
//!
//! The clients run in a child process (this same binary, re-run with `--scale-client`):
//! the open-file limit here is 20,000, soft and hard, and 10,000 streams in one process
//! would need 20,000 sockets (both ends) plus the rest. So the memory figures are split:
//! the server process's growth per stream, and the client process's, reported side by
//! side (their sum is what one process holding both ends would grow by).
//!
//! Run with `cargo bench --bench scale`.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use chatmock::{MockChatServer, Reply, StreamOutcome};
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SIZES: [usize; 5] = [1, 10, 100, 1_000, 10_000];
/// Connections being opened at once by the client process: well under chatmock's listen
/// backlog (4,096, capped by the system's `somaxconn`), so that no SYN is dropped and
/// retried a second later. The burst check at the end goes far past it.
const CONNECTING_AT_ONCE: usize = 64;
/// Clients that connect all at once in the burst check, and how many bursts.
const BURST: usize = 5_000;
const BURSTS: usize = 3;
const BODY: &str = r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true}"#;

/// Resident memory of this process in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Open file descriptors of this process (the one reading the directory included).
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// The namespace-wide count of SYNs dropped because a listen queue was full.
fn listen_overflows() -> u64 {
    let netstat = std::fs::read_to_string("/proc/net/netstat").unwrap();
    let mut lines = netstat.lines().filter(|line| line.starts_with("TcpExt:"));
    let (names, values) = (lines.next().unwrap(), lines.next().unwrap());
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(name, _)| *name == "ListenOverflows")
        .map(|(_, value)| value.parse().unwrap())
        .unwrap()
}

/// Raises the soft open-file limit to the hard limit; returns (soft, hard) after.
fn raise_fd_limit() -> (libc::rlim_t, libc::rlim_t) {
    // SAFETY: plain libc calls on a local struct.
    unsafe {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        limit.rlim_cur = limit.rlim_max;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        (limit.rlim_cur, limit.rlim_max)
    }
}

// ---------------------------------------------------------------------------------------
// Client process: reads commands on stdin, answers one line each on stdout.
//   status           -> "<rss KiB> <fds>"
//   open <addr> <n> <at once>
//                    -> "<micros> <rss KiB> <fds> <slowest connection's micros>" once n
//                       streams have their first chunk, at most <at once> connecting at once
//   close            -> "<rss KiB> <fds>" once every connection is closed
// ---------------------------------------------------------------------------------------

/// Opens one stream and reads its first chunk; returns it with how long that took.
async fn open_stream(address: SocketAddr) -> (TcpStream, Duration) {
    let started = Instant::now();
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let request = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: {address}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    // Read until the first token's event is complete: the first chunk.
    let mut received = Vec::with_capacity(1024);
    let mut buffer = [0u8; 2048];
    loop {
        let read = stream.read(&mut buffer).await.unwrap();
        assert!(read > 0, "the server closed a stream that should stall");
        received.extend_from_slice(&buffer[..read]);
        if let Some(at) = find(&received, br#"{"content":"a"}"#) {
            if find(&received[at..], b"\n\n").is_some() {
                assert!(received.starts_with(b"HTTP/1.1 200 OK"));
                return (stream, started.elapsed());
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

fn client_process() {
    raise_fd_limit();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut open: Vec<TcpStream> = Vec::new();
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout();
    for line in stdin.lock().lines() {
        let line = line.unwrap();
        let words: Vec<&str> = line.split_whitespace().collect();
        let answer = match words.as_slice() {
            ["status"] => format!("{} {}", rss_kib(), open_fds()),
            ["open", address, count, at_once] => {
                let address: SocketAddr = address.parse().unwrap();
                let count: usize = count.parse().unwrap();
                let started = Instant::now();
                let opened: Vec<(TcpStream, Duration)> = runtime.block_on(
                    futures::stream::iter(0..count)
                        .map(|_| open_stream(address))
                        .buffer_unordered(at_once.parse().unwrap())
                        .collect(),
                );
                let micros = started.elapsed().as_micros();
                let slowest = opened.iter().map(|(_, took)| *took).max().unwrap();
                open = opened.into_iter().map(|(stream, _)| stream).collect();
                format!(
                    "{micros} {} {} {}",
                    rss_kib(),
                    open_fds(),
                    slowest.as_micros()
                )
            }
            ["close"] => {
                open.clear();
                format!("{} {}", rss_kib(), open_fds())
            }
            _ => panic!("unknown command {line:?}"),
        };
        writeln!(stdout, "{answer}").unwrap();
        stdout.flush().unwrap();
    }
}

// ---------------------------------------------------------------------------------------
// Server process.
// ---------------------------------------------------------------------------------------

struct ClientProcess {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
}

impl ClientProcess {
    fn spawn() -> ClientProcess {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .arg("--scale-client")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let input = child.stdin.take().unwrap();
        let output = BufReader::new(child.stdout.take().unwrap());
        ClientProcess {
            child,
            input,
            output,
        }
    }

    fn ask(&mut self, command: &str) -> Vec<u64> {
        writeln!(self.input, "{command}").unwrap();
        self.input.flush().unwrap();
        let mut line = String::new();
        self.output.read_line(&mut line).unwrap();
        assert!(!line.is_empty(), "the client process died");
        line.split_whitespace()
            .map(|word| word.parse().unwrap())
            .collect()
    }
}

struct Row {
    n: usize,
    open_time: Duration,
    server_rss_idle: u64,
    server_rss_open: u64,
    client_rss_before: u64,
    client_rss_open: u64,
    server_rss_dropped: u64,
    slowest_connection: Duration,
    overflows: u64,
    drop_time: Duration,
    /// From the drop's return until the server's descriptors were all closed.
    closed_after: Duration,
    /// Before the server starts, idle server, N open, right after the drop, once closed.
    server_fds: [usize; 5],
    client_fds: [u64; 3],
}

fn measure(n: usize, client: &mut ClientProcess, runtime: &tokio::runtime::Runtime) -> Row {
    let fds_before = open_fds();
    let server = MockChatServer::builder()
        .reply(Reply::text("a b").stall_after(1))
        .wait_timeout(Duration::from_secs(120))
        .start_blocking();
    let fds_idle = open_fds();
    let server_rss_idle = rss_kib();
    let client_before = client.ask("status");

    let overflows = listen_overflows();
    let started = Instant::now();
    let opened = client.ask(&format!(
        "open {} {n} {CONNECTING_AT_ONCE}",
        server.address()
    ));
    let open_time = started.elapsed();
    let overflows = listen_overflows() - overflows;
    // Measure before looking at the server's log: a snapshot of it allocates.
    let server_rss_open = rss_kib();
    let fds_open = open_fds();

    let requests = runtime
        .block_on(server.wait_for_requests(n))
        .expect("every request arrived");
    assert_eq!(requests.len(), n);
    assert!(requests
        .iter()
        .all(|request| request.stream_outcome() == &StreamOutcome::Stalled { content_events: 1 }));
    drop(requests);

    let started = Instant::now();
    drop(server);
    let drop_time = started.elapsed();
    let fds_after_drop = open_fds();
    // The server thread closes what is left: every connection is gone once the count is
    // back to the idle server's, which counted the runtime's descriptors and the listener
    // (a waiting server thread keeps the runtime, and binds a spare listener in the
    // listener's place; a thread that served more than 256 connections ends instead).
    let closing = Instant::now();
    while open_fds() > fds_idle && closing.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(1));
    }
    let closed_after = closing.elapsed();
    let fds_closed = open_fds();
    let server_rss_dropped = rss_kib();
    let closed = client.ask("close");

    Row {
        n,
        open_time,
        server_rss_idle,
        server_rss_open,
        client_rss_before: client_before[0],
        client_rss_open: opened[1],
        server_rss_dropped,
        slowest_connection: Duration::from_micros(opened[3]),
        overflows,
        drop_time,
        closed_after,
        server_fds: [fds_before, fds_idle, fds_open, fds_after_drop, fds_closed],
        client_fds: [client_before[1], opened[2], closed[1]],
    }
}

fn per_stream_kib(before: u64, with: u64, n: usize) -> f64 {
    (with as f64 - before as f64) / n as f64
}

/// Connects `BURST` clients at once to a fresh server: past the listen backlog.
fn burst(client: &mut ClientProcess) -> String {
    let server = MockChatServer::builder()
        .reply(Reply::text("a b").stall_after(1))
        .start_blocking();
    let overflows = listen_overflows();
    let started = Instant::now();
    let opened = client.ask(&format!("open {} {BURST} {BURST}", server.address()));
    let open_time = started.elapsed();
    let overflows = listen_overflows() - overflows;
    drop(server);
    client.ask("close");
    format!(
        "{BURST} clients connecting at once opened in {open_time:.1?}; slowest connection \
         {:.1?}; SYNs dropped on full listen queues meanwhile: {overflows}",
        Duration::from_micros(opened[3])
    )
}

fn main() {
    if std::env::args().any(|arg| arg == "--scale-client") {
        client_process();
        return;
    }
    let (soft, hard) = raise_fd_limit();
    println!(
        "scale bench: stalled streams (Reply::text(\"a b\").stall_after(1)), fresh server per N; \
         RLIMIT_NOFILE soft {soft} / hard {hard}; clients in a child process (raw tokio \
         TcpStream, {CONNECTING_AT_ONCE} connecting at once)"
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut client = ClientProcess::spawn();
    let server_rss_start = rss_kib();
    let mut rows = Vec::new();
    // The largest size twice: if the second pass does not grow the process further, the
    // memory kept after the first drop is the allocator's, reused, not leaked.
    for n in SIZES.into_iter().chain([SIZES[SIZES.len() - 1]]) {
        rows.push(measure(n, &mut client, &runtime));
    }
    let bursts: Vec<String> = (0..BURSTS).map(|_| burst(&mut client)).collect();
    drop(client.input);
    client.child.wait().unwrap();

    println!("server process VmRSS at the start: {server_rss_start} KiB");
    println!("time and memory (RSS in KiB; per stream = growth / N):");
    println!(
        "{:>6} | {:>9} | {:>9} | {:>9} | {:>25} | {:>10} | {:>19} | {:>10} | {:>9} | {:>12}",
        "N",
        "open all",
        "slowest",
        "SYN drops",
        "server idle->open->dropped",
        "server/str",
        "client before->open",
        "client/str",
        "drop",
        "closed after"
    );
    for row in &rows {
        println!(
            "{:>6} | {:>9.1?} | {:>9.1?} | {:>9} | {:>7} ->{:>7} ->{:>7} | {:>6.1} KiB | {:>8} ->{:>8} | {:>6.1} KiB | {:>9.1?} | {:>12.1?}",
            row.n,
            row.open_time,
            row.slowest_connection,
            row.overflows,
            row.server_rss_idle,
            row.server_rss_open,
            row.server_rss_dropped,
            per_stream_kib(row.server_rss_idle, row.server_rss_open, row.n),
            row.client_rss_before,
            row.client_rss_open,
            per_stream_kib(row.client_rss_before, row.client_rss_open, row.n),
            row.drop_time,
            row.closed_after,
        );
    }
    println!("open file descriptors:");
    println!(
        "{:>6} | {:>44} | {:>33}",
        "N",
        "server process: before/idle/open/dropped/closed",
        "client process: before/open/closed"
    );
    for row in &rows {
        let [before, idle, open, dropped, closed] = row.server_fds;
        let [client_before, client_open, client_closed] = row.client_fds;
        println!(
            "{:>6} | {:>56} | {:>34}",
            row.n,
            format!("{before}/{idle}/{open}/{dropped}/{closed}"),
            format!("{client_before}/{client_open}/{client_closed}"),
        );
    }
    // A server thread that waits for the next server keeps its runtime's descriptors and a
    // spare listener, so "back" is at most the idle server's count.
    let leaks = rows
        .iter()
        .any(|row| row.server_fds[4] > row.server_fds[1] || row.client_fds[2] != row.client_fds[0]);
    println!(
        "file descriptors back to at most the idle server's once closed: {}",
        if leaks { "NO (leak?)" } else { "yes" }
    );
    println!(
        "burst check (chatmock listens with a backlog of 4,096, capped by somaxconn; a dropped \
         SYN is retried after 1 s):"
    );
    for burst in bursts {
        println!("  {burst}");
    }
}
