//! chatmock against the servers a user would pick instead, measured side by side in one
//! run: llmposter and wiremock (in-process, Rust), aimock and mock-llm (Node processes),
//! and the original Flask demo. Run it with `bash benches/peers.sh`, which installs the
//! peers from their registries and builds this harness; see BENCHMARKS.md.
//!
//! Every server runs in a process of its own (the in-process peers in a child process of
//! this binary), so that a resident-memory reading is that server's alone, and every one
//! is measured with the same lean client (`client.rs`) on a fresh connection per
//! request. Within a figure the servers take turns round by round, and which one goes
//! first rotates every round, so that drift in the machine's state hits all alike; each
//! figure is printed as medians and 99th percentiles, and each peer's median as a ratio
//! to chatmock's from the same run.
//!
//! Modes: `drive [--quick]` (the default) measures; `serve PEER TOKENS:DELAY_MS` and
//! `lifecycle PEER` are the child processes of the in-process peers.

mod client;
mod inproc;
mod scenario;
mod servers;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use client::Until;
use scenario::Scenario;
use servers::{Figure, LifecycleChild, Peer, Server, ALL};

/// Rounds of each figure; `--quick` divides them, to check the harness end to end.
struct Rounds {
    timing_single: usize,
    timing_hundred: usize,
    throughput: usize,
    memory: usize,
    first_byte: usize,
    lifecycle: usize,
}

const FULL: Rounds = Rounds {
    timing_single: 10,
    timing_hundred: 5,
    throughput: 3,
    memory: 3,
    first_byte: 1_000,
    lifecycle: 300,
};

const QUICK: Rounds = Rounds {
    timing_single: 2,
    timing_hundred: 1,
    throughput: 1,
    memory: 1,
    first_byte: 50,
    lifecycle: 20,
};

const OPEN_STREAMS: usize = 1_000;
/// Connections being opened at once for the memory figure: under every peer's listen
/// backlog (werkzeug's is 128), so no SYN is dropped and retried a second later.
const CONNECTING_AT_ONCE: usize = 64;
/// Longest any one exchange may take before the peer is reported as failing.
const EXCHANGE_LIMIT: Duration = Duration::from_secs(120);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = args.first().map(String::as_str).unwrap_or("drive");
    match mode {
        "serve" | "lifecycle" => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                if mode == "serve" {
                    inproc::serve(&args[1], Scenario::parse(&args[2])).await;
                } else {
                    inproc::lifecycle(&args[1]).await;
                }
            });
        }
        "drive" => {
            let quick = args.iter().any(|arg| arg == "--quick");
            let only = args.iter().position(|arg| arg == "--only").map(|at| {
                args[at + 1]
                    .split(',')
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            });
            // Two workers: the client's share of the two cores, as in the timing bench.
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(drive(if quick { QUICK } else { FULL }, only));
        }
        other => panic!(
            "unknown mode {other:?}: drive [--quick] [--only timing,throughput,memory,\
             first-byte,lifecycle] | serve PEER T:D | lifecycle PEER"
        ),
    }
}

// ---------------------------------------------------------------------------------------
// Figures and their summary

#[derive(Clone, Copy)]
enum Better {
    Lower,
    Higher,
}

struct Row {
    title: String,
    unit: &'static str,
    better: Better,
    /// Whether the figure is the 99th percentile (timing error) rather than the median.
    p99_is_the_figure: bool,
    /// Per peer: (median, p99) or why there is none.
    cells: BTreeMap<usize, Result<(f64, f64), String>>,
    /// A note per peer printed under the figure (e.g. a lifecycle's phases).
    notes: Vec<String>,
}

impl Row {
    fn new(title: &str, unit: &'static str, better: Better) -> Row {
        Row {
            title: title.to_owned(),
            unit,
            better,
            p99_is_the_figure: false,
            cells: BTreeMap::new(),
            notes: Vec::new(),
        }
    }

    fn set(&mut self, peer: Peer, cell: Result<(f64, f64), String>) {
        self.cells.insert(index(peer), cell);
    }

    fn print(&self) {
        println!(
            "\n{} ({}; median, p99; peer {} / chatmock's)",
            self.title,
            self.unit,
            if self.p99_is_the_figure {
                "p99"
            } else {
                "median"
            }
        );
        let chatmock = self.chatmock_figure();
        for (&i, cell) in &self.cells {
            match cell {
                Ok(cell) => {
                    let (median, p99) = cell;
                    let ratio = chatmock.map_or(String::new(), |c| {
                        let ratio = self.figure(cell) / c;
                        format!("  {ratio:>7.2}x {}", self.verdict(ratio))
                    });
                    println!(
                        "  {:<11} median {:>12}   p99 {:>12}{ratio}",
                        ALL[i].name(),
                        format_value(*median),
                        format_value(*p99)
                    );
                }
                Err(why) => println!("  {:<11} -: {why}", ALL[i].name()),
            }
        }
        for note in &self.notes {
            println!("  {note}");
        }
    }

    fn figure(&self, &(median, p99): &(f64, f64)) -> f64 {
        if self.p99_is_the_figure {
            p99
        } else {
            median
        }
    }

    fn chatmock_figure(&self) -> Option<f64> {
        match self.cells.get(&index(Peer::Chatmock)) {
            Some(Ok(cell)) => Some(self.figure(cell)),
            _ => None,
        }
    }

    fn verdict(&self, ratio: f64) -> &'static str {
        let chatmock_better = match self.better {
            Better::Lower => ratio > 1.0,
            Better::Higher => ratio < 1.0,
        };
        if (0.95..=1.05).contains(&ratio) {
            "(within 5 %)"
        } else if chatmock_better {
            "(chatmock better)"
        } else {
            "(peer better)"
        }
    }
}

fn index(peer: Peer) -> usize {
    ALL.iter().position(|&p| p == peer).unwrap()
}

fn format_value(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

fn percentile(sorted: &[f64], fraction: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[index]
}

/// (median, p99) of `values`.
fn summary(values: &mut [f64]) -> (f64, f64) {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (percentile(values, 0.5), percentile(values, 0.99))
}

fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}

/// The order of round `round`: rotated by one every round, so each goes first in turn.
fn order<T>(items: &[T], round: usize) -> impl Iterator<Item = (usize, &T)> {
    let n = items.len();
    (0..n).map(move |k| {
        let i = (k + round) % n;
        (i, &items[i])
    })
}

async fn exchange(
    address: std::net::SocketAddr,
    request: &client::Request,
) -> Result<client::Exchange, String> {
    match tokio::time::timeout(EXCHANGE_LIMIT, client::exchange(address, request)).await {
        Ok(result) => result,
        Err(_) => Err(format!("no complete answer within {EXCHANGE_LIMIT:?}")),
    }
}

/// Starts the servers of `peers` that can take part in `figure`; the others go in `row`
/// with their reason.
fn start_servers(figure: Figure, scenario: Scenario, row: &mut Row) -> Vec<Server> {
    let mut started = Vec::new();
    for peer in ALL {
        match peer.can(figure) {
            Ok(()) => started.push(Server::start(peer, scenario)),
            Err(why) => row.set(peer, Err(why.to_owned())),
        }
    }
    started
}

/// One stream read whole, checked: status 200 and exactly the scenario's tokens.
async fn checked_stream(server: &Server, scenario: Scenario) -> Result<client::Exchange, String> {
    let request = server.peer.stream_request(server.address);
    let exchange = exchange(server.address, &request)
        .await
        .map_err(|why| server.failure(why))?;
    if exchange.status != 200 {
        return Err(format!("status {}", exchange.status));
    }
    if exchange.token_arrivals.len() != scenario.tokens {
        return Err(format!(
            "{} token events, not {}",
            exchange.token_arrivals.len(),
            scenario.tokens
        ));
    }
    Ok(exchange)
}

/// |arrival of token i - arrival of token 0 - i x delay|, in ms, for i >= 1.
fn token_errors(exchange: &client::Exchange, delay: Duration, into: &mut Vec<f64>) {
    let first = exchange.token_arrivals[0];
    for (i, &arrival) in exchange.token_arrivals.iter().enumerate().skip(1) {
        let actual = (arrival - first).as_secs_f64();
        let scripted = delay.as_secs_f64() * i as f64;
        into.push((actual - scripted).abs() * 1000.0);
    }
}

// ---------------------------------------------------------------------------------------

async fn drive(rounds: Rounds, only: Option<Vec<String>>) {
    let run_started = Instant::now();
    let wanted = |figure: &str| {
        only.as_ref()
            .is_none_or(|only| only.iter().any(|f| f == figure))
    };
    println!(
        "peers harness: {} rounds of 1 x 20 @ 50 ms, {} of 100 x 20 @ 20 ms, {} of 20,000 \
         tokens, {} of {OPEN_STREAMS} open streams, {} of first byte, {} of start+stream+drop",
        rounds.timing_single,
        rounds.timing_hundred,
        rounds.throughput,
        rounds.memory,
        rounds.first_byte,
        rounds.lifecycle
    );
    let mut rows = Vec::new();
    if wanted("timing") {
        rows.push(timing_single(rounds.timing_single).await);
        rows.push(timing_hundred(rounds.timing_hundred).await);
    }
    if wanted("throughput") {
        rows.push(throughput(rounds.throughput).await);
    }
    if wanted("memory") {
        rows.push(memory(rounds.memory).await);
    }
    if wanted("first-byte") {
        rows.extend(first_byte(rounds.first_byte).await);
    }
    if wanted("lifecycle") {
        rows.push(lifecycle(rounds.lifecycle));
    }
    println!(
        "\n=== summary: median and p99, and the peer's figure / chatmock's in the same run \
         (the figure is the p99 for timing errors, the median for the rest) ===\n"
    );
    print!("| figure | unit |");
    for peer in ALL {
        print!(" {} |", peer.name());
    }
    println!("\n|---|---|{}", "---|".repeat(ALL.len()));
    for row in &mut rows {
        let chatmock = row.chatmock_figure();
        print!("| {} | {} |", row.title, row.unit);
        for i in 0..ALL.len() {
            match row.cells.get(&i) {
                Some(Ok(cell)) => {
                    let (median, p99) = cell;
                    let ratio = match (chatmock, i) {
                        (_, 0) => String::new(),
                        (Some(c), _) => format!(" ({:.2}x)", row.figure(cell) / c),
                        (None, _) => String::new(),
                    };
                    print!(
                        " {} (p99 {}){ratio} |",
                        format_value(*median),
                        format_value(*p99)
                    );
                }
                Some(Err(why)) => print!(" - ({why}) |"),
                None => print!(" |"),
            }
        }
        println!();
    }
    println!("\nwhole run: {:.0} s", run_started.elapsed().as_secs_f64());
}

async fn timing_single(rounds: usize) -> Row {
    let scenario = scenario::TIMED_50;
    let mut row = Row::new(
        "p99 timing error, 1 stream x 20 @ 50 ms",
        "ms",
        Better::Lower,
    );
    row.p99_is_the_figure = true;
    let servers = start_servers(Figure::Timing, scenario, &mut row);
    let mut errors: Vec<Result<Vec<f64>, String>> =
        servers.iter().map(|_| Ok(Vec::new())).collect();
    for round in 0..rounds {
        for (i, server) in order(&servers, round) {
            let Ok(samples) = &mut errors[i] else {
                continue;
            };
            match checked_stream(server, scenario).await {
                Ok(exchange) => {
                    token_errors(&exchange, Duration::from_millis(scenario.delay_ms), samples)
                }
                Err(why) => errors[i] = Err(why),
            }
        }
    }
    for (server, errors) in servers.iter().zip(errors) {
        row.set(server.peer, errors.map(|mut values| summary(&mut values)));
    }
    row.print();
    row
}

async fn timing_hundred(rounds: usize) -> Row {
    let scenario = scenario::TIMED_20;
    let mut row = Row::new(
        "p99 timing error, 100 streams x 20 @ 20 ms",
        "ms",
        Better::Lower,
    );
    row.p99_is_the_figure = true;
    let servers = start_servers(Figure::Timing, scenario, &mut row);
    let mut errors: Vec<Result<Vec<f64>, String>> =
        servers.iter().map(|_| Ok(Vec::new())).collect();
    for round in 0..rounds {
        for (i, server) in order(&servers, round) {
            let Ok(samples) = &mut errors[i] else {
                continue;
            };
            let request = Arc::new(server.peer.stream_request(server.address));
            let address = server.address;
            let streams: Vec<_> = (0..100)
                .map(|_| {
                    let request = request.clone();
                    tokio::spawn(async move { exchange(address, &request).await })
                })
                .collect();
            for stream in streams {
                match stream.await.unwrap() {
                    Ok(exchange) if exchange.token_arrivals.len() == scenario.tokens => {
                        token_errors(&exchange, Duration::from_millis(scenario.delay_ms), samples)
                    }
                    Ok(exchange) => {
                        errors[i] = Err(format!(
                            "status {}, {} token events",
                            exchange.status,
                            exchange.token_arrivals.len()
                        ));
                        break;
                    }
                    Err(why) => {
                        errors[i] = Err(server.failure(why));
                        break;
                    }
                }
            }
        }
    }
    for (server, errors) in servers.iter().zip(errors) {
        row.set(server.peer, errors.map(|mut values| summary(&mut values)));
    }
    row.print();
    row
}

async fn throughput(rounds: usize) -> Row {
    let scenario = scenario::THROUGHPUT;
    let mut row = Row::new(
        "zero-delay throughput, 1 stream of 20,000 tokens",
        "tokens/s",
        Better::Higher,
    );
    let servers = start_servers(Figure::Throughput, scenario, &mut row);
    let mut rates: Vec<Result<Vec<f64>, String>> = Vec::new();
    // The first stream of each checks it and warms it up; it is not counted.
    for server in &servers {
        rates.push(checked_stream(server, scenario).await.map(|_| Vec::new()));
    }
    for round in 0..rounds {
        for (i, server) in order(&servers, round) {
            let Ok(samples) = &mut rates[i] else { continue };
            match checked_stream(server, scenario).await {
                Ok(exchange) => samples.push(scenario.tokens as f64 / exchange.total.as_secs_f64()),
                Err(why) => rates[i] = Err(why),
            }
        }
    }
    for (server, rates) in servers.iter().zip(rates) {
        // For a rate the bad tail is the low end: "p99" here is the slowest round's.
        row.set(
            server.peer,
            rates.map(|mut values| {
                let (median, _) = summary(&mut values);
                (median, values[0])
            }),
        );
    }
    row.notes
        .push("(tokens/s: the p99 column is the slowest round's rate)".to_owned());
    row.print();
    row
}

/// Opens `OPEN_STREAMS` slow streams to `server`, returns (KiB per stream, streams whose
/// first byte arrived) once they are all open.
async fn open_streams(server: &Server) -> Result<(f64, usize), String> {
    // Warm the server with one stream to its first byte, so that lazy start-up is not
    // counted. Not a JSON answer: chatmock's waits out the whole script (two minutes
    // here); but wiremock's stream is one delay before the body, and its JSON is not.
    let (warm, until) = match server.peer {
        Peer::Wiremock => (server.peer.json_request(server.address), Until::End),
        _ => (server.peer.stream_request(server.address), Until::FirstByte),
    };
    client::exchange_until(server.address, &warm, until).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = server.rss_kib();
    let connecting = Arc::new(tokio::sync::Semaphore::new(CONNECTING_AT_ONCE));
    let request = Arc::new(server.peer.stream_request(server.address));
    let address = server.address;
    let tasks: Vec<_> = (0..OPEN_STREAMS)
        .map(|_| {
            let connecting = connecting.clone();
            let request = request.clone();
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let permit = connecting.acquire().await.unwrap();
                let mut socket = tokio::net::TcpStream::connect(address)
                    .await
                    .map_err(|error| format!("connect: {error}"))?;
                socket
                    .write_all(&request.bytes)
                    .await
                    .map_err(|error| format!("write: {error}"))?;
                drop(permit);
                // A server that sends nothing before its delay (wiremock) holds the
                // request open all the same.
                let mut byte = [0u8; 1];
                let first = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut byte))
                    .await
                    .is_ok_and(|read| matches!(read, Ok(1)));
                Ok::<_, String>((socket, first))
            })
        })
        .collect();
    let mut sockets = Vec::with_capacity(OPEN_STREAMS);
    for task in tasks {
        sockets.push(task.await.unwrap()?);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = server.rss_kib();
    let with_first_byte = sockets.iter().filter(|(_, first)| *first).count();
    drop(sockets);
    Ok((
        (after as f64 - before as f64) / OPEN_STREAMS as f64,
        with_first_byte,
    ))
}

async fn memory(rounds: usize) -> Row {
    let scenario = scenario::SLOW;
    let mut row = Row::new(
        "resident memory per open stream, 1,000 open (server RSS delta / 1,000)",
        "KiB/stream",
        Better::Lower,
    );
    let peers: Vec<Peer> = ALL
        .iter()
        .copied()
        .filter(|peer| match peer.can(Figure::Memory) {
            Ok(()) => true,
            Err(why) => {
                row.set(*peer, Err(why.to_owned()));
                false
            }
        })
        .collect();
    let mut figures: Vec<Result<Vec<f64>, String>> = peers.iter().map(|_| Ok(Vec::new())).collect();
    let mut first_bytes = vec![Vec::new(); peers.len()];
    for round in 0..rounds {
        for (i, &peer) in order(&peers, round) {
            let Ok(samples) = &mut figures[i] else {
                continue;
            };
            // A fresh process each round: its baseline is that of a server just started.
            let server = Server::start(peer, scenario);
            match open_streams(&server).await {
                Ok((per_stream, with_first_byte)) => {
                    samples.push(per_stream);
                    first_bytes[i].push(with_first_byte);
                }
                Err(why) => figures[i] = Err(server.failure(why)),
            }
        }
    }
    for ((peer, figures), first_bytes) in peers.iter().zip(figures).zip(first_bytes) {
        row.set(
            *peer,
            figures.map(|mut values| {
                let (median, _) = summary(&mut values);
                (median, *values.last().unwrap())
            }),
        );
        row.notes.push(format!(
            "{}: streams that had sent a first byte when measured, per round: {first_bytes:?}",
            peer.name()
        ));
    }
    row.notes
        .push("(memory: the p99 column is the highest round's figure)".to_owned());
    row.print();
    row
}

/// Time to first byte, streamed and as JSON, from the same servers, rounds interleaved.
async fn first_byte(rounds: usize) -> [Row; 2] {
    let scenario = scenario::SHORT;
    let mut streamed = Row::new("time to first byte, streamed", "us", Better::Lower);
    let mut json = Row::new(
        "time to first byte, non-streaming JSON (stream:false)",
        "us",
        Better::Lower,
    );
    let servers = start_servers(Figure::FirstByteStreamed, scenario, &mut streamed);
    let mut stream_samples: Vec<Result<Vec<f64>, String>> = Vec::new();
    let mut json_samples: Vec<Result<Vec<f64>, String>> = Vec::new();
    for server in &servers {
        stream_samples.push(checked_stream(server, scenario).await.map(|_| Vec::new()));
        json_samples.push(match server.peer.can(Figure::FirstByteJson) {
            Ok(()) => {
                let mut request = server.peer.json_request(server.address);
                request.capture = true;
                match exchange(server.address, &request).await {
                    Ok(answer) if answer.status == 200 && contains(&answer.body, b"tk00002") => {
                        Ok(Vec::new())
                    }
                    Ok(answer) => Err(format!(
                        "status {}, body {:?}",
                        answer.status,
                        String::from_utf8_lossy(&answer.body)
                    )),
                    Err(why) => Err(server.failure(why)),
                }
            }
            Err(why) => Err(why.to_owned()),
        });
    }
    let warm_up = 50;
    for round in 0..warm_up + rounds {
        for (i, server) in order(&servers, round) {
            if let Ok(samples) = &mut stream_samples[i] {
                let request = server.peer.stream_request(server.address);
                match exchange(server.address, &request).await {
                    Ok(answer) if round >= warm_up => samples.push(micros(answer.first_byte)),
                    Ok(_) => {}
                    Err(why) => stream_samples[i] = Err(server.failure(why)),
                }
            }
        }
        for (i, server) in order(&servers, round) {
            if let Ok(samples) = &mut json_samples[i] {
                let request = server.peer.json_request(server.address);
                match exchange(server.address, &request).await {
                    Ok(answer) if round >= warm_up => samples.push(micros(answer.first_byte)),
                    Ok(_) => {}
                    Err(why) => json_samples[i] = Err(server.failure(why)),
                }
            }
        }
    }
    for ((server, stream), json_figure) in servers.iter().zip(stream_samples).zip(json_samples) {
        streamed.set(server.peer, stream.map(|mut values| summary(&mut values)));
        json.set(
            server.peer,
            json_figure.map(|mut values| summary(&mut values)),
        );
    }
    streamed.print();
    json.print();
    [streamed, json]
}

fn lifecycle(rounds: usize) -> Row {
    let mut row = Row::new(
        "start + one stream + drop (in-process peers)",
        "us",
        Better::Lower,
    );
    let mut children = Vec::new();
    for peer in ALL {
        match peer.can(Figure::Lifecycle) {
            Ok(()) => children.push(LifecycleChild::start(peer)),
            Err(why) => row.set(peer, Err(why.to_owned())),
        }
    }
    let mut phases: Vec<[Vec<f64>; 4]> = children.iter().map(|_| Default::default()).collect();
    let warm_up = 20;
    for round in 0..warm_up + rounds {
        for i in order(&children, round).map(|(i, _)| i).collect::<Vec<_>>() {
            let round_phases = children[i].round();
            if round >= warm_up {
                let [start, request, drop, total] = &mut phases[i];
                start.push(micros(round_phases.start));
                request.push(micros(round_phases.request));
                drop.push(micros(round_phases.drop));
                total.push(micros(
                    round_phases.start + round_phases.request + round_phases.drop,
                ));
            }
        }
    }
    for (child, [start, request, drop, total]) in children.iter().zip(&mut phases) {
        row.set(child.peer, Ok(summary(total)));
        row.notes.push(format!(
            "{}: medians of the phases: start {:.1} us, request {:.1} us, drop {:.1} us",
            child.peer.name(),
            summary(start).0,
            summary(request).0,
            summary(drop).0
        ));
    }
    row.print();
    row
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}
