//! The one lean client every server is measured with: HTTP/1.1 written by hand on a raw
//! `TcpStream`, a fresh connection per request, the body decoded by hand (chunked,
//! `Content-Length` or read to the close, whichever the server chose), and each SSE event
//! time-stamped when the read that completed it returned. It costs the client a read per
//! arrival and little else, so that on two shared cores the client takes as little CPU
//! from the server as a real client can, and the same little from every server.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What counts as a token event in a server's stream.
#[derive(Clone, Copy, Debug)]
pub enum Tokens {
    /// Events that carry one of the harness's tokens, `tk`, five digits and a space (a
    /// random id may hold `tk`, never with the space).
    Marked,
    /// Every `data:` event but `[DONE]`: the demo's bare words.
    BareWords,
}

impl Tokens {
    fn is_token(self, event: &[u8]) -> bool {
        match self {
            Tokens::Marked => event.windows(8).any(|window| {
                window.starts_with(b"tk")
                    && window[2..7].iter().all(u8::is_ascii_digit)
                    && window[7] == b' '
            }),
            Tokens::BareWords => event.starts_with(b"data:") && !contains(event, b"[DONE]"),
        }
    }
}

/// A request as bytes, ready to write on a fresh connection.
#[derive(Clone, Debug)]
pub struct Request {
    pub bytes: Vec<u8>,
    pub tokens: Tokens,
    /// Keep the body (only to check a server's answer once, never while timing).
    pub capture: bool,
}

impl Request {
    pub fn post_json(address: SocketAddr, path: &str, body: &str) -> Request {
        let bytes = format!(
            "POST {path} HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/json\r\n\
             content-length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes();
        Request {
            bytes,
            tokens: Tokens::Marked,
            capture: false,
        }
    }

    pub fn get(address: SocketAddr, path: &str, tokens: Tokens) -> Request {
        Request {
            bytes: format!("GET {path} HTTP/1.1\r\nhost: {address}\r\n\r\n").into_bytes(),
            tokens,
            capture: false,
        }
    }
}

/// One exchange, timed from just before the connect.
#[derive(Debug)]
pub struct Exchange {
    pub status: u16,
    pub first_byte: Duration,
    /// When the read that completed each token event returned.
    pub token_arrivals: Vec<Instant>,
    /// To the last byte of the body.
    pub total: Duration,
    /// The body, when the request asked for it.
    pub body: Vec<u8>,
}

/// How far to read.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// The whole response.
    End,
    /// The first byte of the response: then the connection is handed back open.
    FirstByte,
}

/// Sends `request` on a fresh connection and reads the whole response.
pub async fn exchange(address: SocketAddr, request: &Request) -> Result<Exchange, String> {
    exchange_until(address, request, Until::End)
        .await
        .map(|(exchange, _)| exchange)
}

/// Sends `request` on a fresh connection and reads `until`; returns the socket too, so
/// that a caller can hold an open stream.
pub async fn exchange_until(
    address: SocketAddr,
    request: &Request,
    until: Until,
) -> Result<(Exchange, TcpStream), String> {
    let started = Instant::now();
    let mut socket = TcpStream::connect(address)
        .await
        .map_err(|error| format!("connect to {address}: {error}"))?;
    socket
        .set_nodelay(true)
        .map_err(|error| error.to_string())?;
    socket
        .write_all(&request.bytes)
        .await
        .map_err(|error| format!("write to {address}: {error}"))?;
    let mut buffer = vec![0u8; 64 * 1024];
    let mut decoder = Decoder::new(request.tokens, request.capture);
    let mut first_byte = None;
    loop {
        let read = socket
            .read(&mut buffer)
            .await
            .map_err(|error| format!("read from {address}: {error}"))?;
        let now = Instant::now();
        if read == 0 {
            decoder.end_of_input()?;
            break;
        }
        first_byte.get_or_insert(now - started);
        if until == Until::FirstByte {
            break;
        }
        if decoder.feed(&buffer[..read], now)? {
            break;
        }
    }
    let Some(first_byte) = first_byte else {
        return Err(format!("{address} closed the connection without answering"));
    };
    let exchange = Exchange {
        status: decoder.status,
        first_byte,
        token_arrivals: decoder.token_arrivals,
        total: started.elapsed(),
        body: decoder.captured,
    };
    Ok((exchange, socket))
}

enum Framing {
    Chunked,
    Length(usize),
    ToClose,
}

/// An HTTP/1.1 response decoder fed as bytes arrive: head, then body in whichever framing
/// the head says, with the body's SSE events split at their blank lines.
struct Decoder {
    tokens: Tokens,
    head: Vec<u8>,
    framing: Option<Framing>,
    status: u16,
    /// The current chunk-size line.
    line: Vec<u8>,
    chunk_left: usize,
    crlf_left: usize,
    body_bytes: usize,
    /// The current SSE event, without carriage returns.
    event: Vec<u8>,
    token_arrivals: Vec<Instant>,
    capture: bool,
    captured: Vec<u8>,
}

impl Decoder {
    fn new(tokens: Tokens, capture: bool) -> Decoder {
        Decoder {
            tokens,
            capture,
            captured: Vec::new(),
            head: Vec::new(),
            framing: None,
            status: 0,
            line: Vec::new(),
            chunk_left: 0,
            crlf_left: 0,
            body_bytes: 0,
            event: Vec::new(),
            token_arrivals: Vec::new(),
        }
    }

    /// Feeds `bytes` that arrived at `now`; true once the response is complete.
    fn feed(&mut self, mut bytes: &[u8], now: Instant) -> Result<bool, String> {
        while !bytes.is_empty() {
            let Some(framing) = &self.framing else {
                let (&byte, rest) = bytes.split_first().unwrap();
                self.head.push(byte);
                bytes = rest;
                if self.head.ends_with(b"\r\n\r\n") {
                    self.read_head()?;
                    if let Some(Framing::Length(0)) = self.framing {
                        return Ok(true);
                    }
                }
                continue;
            };
            match *framing {
                Framing::Length(length) => {
                    let take = (length - self.body_bytes).min(bytes.len());
                    self.body(&bytes[..take], now);
                    bytes = &bytes[take..];
                    if self.body_bytes == length {
                        return Ok(true);
                    }
                }
                Framing::ToClose => {
                    self.body(bytes, now);
                    bytes = &[];
                }
                Framing::Chunked => {
                    if self.chunk_left > 0 {
                        let take = self.chunk_left.min(bytes.len());
                        self.body(&bytes[..take], now);
                        self.chunk_left -= take;
                        bytes = &bytes[take..];
                    } else if self.crlf_left > 0 {
                        self.crlf_left -= 1;
                        bytes = &bytes[1..];
                    } else {
                        let (&byte, rest) = bytes.split_first().unwrap();
                        self.line.push(byte);
                        bytes = rest;
                        if self.line.ends_with(b"\r\n") {
                            let text = String::from_utf8_lossy(&self.line[..self.line.len() - 2]);
                            let size = text.split(';').next().unwrap_or("").trim();
                            let size = usize::from_str_radix(size, 16)
                                .map_err(|_| format!("bad chunk size line {text:?}"))?;
                            self.line.clear();
                            if size == 0 {
                                // No trailers are sent by any server here: the last
                                // chunk ends the body.
                                return Ok(true);
                            }
                            self.chunk_left = size;
                            self.crlf_left = 2;
                        }
                    }
                }
            }
        }
        Ok(false)
    }

    fn read_head(&mut self) -> Result<(), String> {
        let head = String::from_utf8_lossy(&self.head).to_ascii_lowercase();
        let mut lines = head.lines();
        let status_line = lines.next().unwrap_or("");
        self.status = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|status| status.parse().ok())
            .ok_or_else(|| format!("bad status line {status_line:?}"))?;
        let header = |name: &str| {
            head.lines()
                .skip(1)
                .filter_map(|line| line.split_once(':'))
                .find(|(key, _)| key.trim() == name)
                .map(|(_, value)| value.trim().to_owned())
        };
        self.framing = Some(
            if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
                Framing::Chunked
            } else if let Some(length) = header("content-length") {
                Framing::Length(length.parse().map_err(|_| "bad content-length")?)
            } else {
                Framing::ToClose
            },
        );
        Ok(())
    }

    fn body(&mut self, bytes: &[u8], now: Instant) {
        self.body_bytes += bytes.len();
        if self.capture {
            self.captured.extend_from_slice(bytes);
        }
        for &byte in bytes {
            if byte == b'\r' {
                continue;
            }
            if byte == b'\n' && self.event.last() == Some(&b'\n') {
                if self.tokens.is_token(&self.event) {
                    self.token_arrivals.push(now);
                }
                self.event.clear();
            } else {
                self.event.push(byte);
            }
        }
    }

    fn end_of_input(&mut self) -> Result<(), String> {
        match self.framing {
            Some(Framing::ToClose) => Ok(()),
            None if self.head.is_empty() => Ok(()),
            _ => Err("the server closed the connection mid-response".to_owned()),
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}
