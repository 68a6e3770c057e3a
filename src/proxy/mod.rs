//! The recording proxy: a request no mock answers is forwarded to a real upstream with
//! the client's own headers, the upstream's response streams back to the client as it
//! arrives (no buffering, so the client sees the upstream's pacing), and the exchange
//! is written to a fixture file as a mock with a `recorded` reply.
//!
//! - `mod.rs`: the upstream's address, forwarding over HTTP/1.1 with hyper's client
//!   (one connection per request), and the body that tees every piece to the client
//!   and to the capture.
//! - `capture.rs`: cutting a body into events with their offsets from the request.
//! - `file.rs`: the fixture file: derived matchers, kept headers, stable output.
//! - `secrets.rs`: credentials and redaction patterns masked before anything is written.
//! - `tls.rs` (the `record-tls` feature): HTTPS upstreams, with rustls and Mozilla's
//!   roots, plus any certificate the test trusts.
//!
//! The router (`http/`) calls [`Proxy::forward`] and builds the response; this module
//! imports `request/` (the request and its credentials) and `recording/` (the outcome
//! of each exchange) only.

mod capture;
mod file;
mod secrets;
#[cfg(feature = "record-tls")]
mod tls;

use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, HeaderName, HeaderValue, Request, StatusCode};
use bytes::Bytes;
use futures_util::Stream;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use regex::bytes::Regex;
use tokio::time::Instant;

use crate::recording::ResponseRecorder;
use crate::request::{secrets as request_secrets, ReceivedRequest};
use crate::script::CutKind;
use crate::sync::lock;
use capture::{Capture, Framing};
use file::{Exchange, FixtureFile};
use secrets::Redaction;

/// Headers that belong to one connection, not to the request or response: never
/// forwarded either way. `accept-encoding` goes too, so that the upstream sends bodies
/// uncompressed and each event is recorded as a client reads it.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "host",
    "content-length",
    "accept-encoding",
];

/// Where requests are forwarded: `http://host:port` (or, with the `record-tls` feature,
/// `https://`) and an optional base path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Upstream {
    authority: String,
    host: String,
    tls: bool,
    base_path: String,
}

impl Upstream {
    /// Reads `url`, which must be `http://host[:port][/base]`, or `https://` with the
    /// `record-tls` feature.
    pub(crate) fn parse(url: &str) -> Result<Upstream, String> {
        let (rest, tls) = if let Some(rest) = url.strip_prefix("http://") {
            (rest, false)
        } else if let Some(rest) = url.strip_prefix("https://") {
            if !cfg!(feature = "record-tls") {
                return Err(format!(
                    "cannot record from {url}: without the record-tls feature chatmock's \
                     recording proxy speaks plain HTTP only; build with --features \
                     record-tls, or record from an http:// upstream"
                ));
            }
            (rest, true)
        } else {
            return Err(format!(
                "cannot record from {url:?}: expected a URL such as http://127.0.0.1:8080"
            ));
        };
        let (authority, base_path) = match rest.find('/') {
            Some(at) => (&rest[..at], rest[at..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if authority.is_empty() {
            return Err(format!("cannot record from {url:?}: the URL names no host"));
        }
        let (host, authority) = match authority.rsplit_once(':') {
            Some((host, _)) => (host, authority.to_owned()),
            None => (
                authority,
                format!("{authority}:{}", if tls { 443 } else { 80 }),
            ),
        };
        Ok(Upstream {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            authority,
            tls,
            base_path: base_path.to_owned(),
        })
    }
}

/// A server's recording proxy: its upstream, its redaction, and the file it writes.
#[derive(Debug)]
pub(crate) struct Proxy {
    upstream: Upstream,
    #[cfg(feature = "record-tls")]
    tls: Option<std::sync::Arc<tokio_rustls::rustls::ClientConfig>>,
    patterns: Vec<Regex>,
    file: Arc<Mutex<FixtureFile>>,
    path: PathBuf,
}

/// The upstream's response: its status and headers, and the body that streams it to
/// the client while recording it.
pub(crate) struct Forwarded {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Box<dyn Stream<Item = Result<Bytes, CutKind>> + Send + Unpin>,
}

impl Proxy {
    /// A proxy to `upstream` writing `path`: from scratch, or, when `append`, adding to
    /// the mocks the file has.
    pub(crate) fn new(
        upstream: Upstream,
        path: PathBuf,
        append: bool,
        patterns: Vec<Regex>,
        #[cfg_attr(not(feature = "record-tls"), allow(unused_variables))] trusted: Vec<Vec<u8>>,
    ) -> io::Result<Proxy> {
        let file = FixtureFile::open(&path, append)?;
        Ok(Proxy {
            #[cfg(feature = "record-tls")]
            tls: upstream
                .tls
                .then(|| tls::client_config(trusted))
                .transpose()?,
            upstream,
            patterns,
            file: Arc::new(Mutex::new(file)),
            path,
        })
    }

    /// Forwards `request` and starts streaming the response; the exchange is written to
    /// the file when its body ends (or breaks off, or the client leaves).
    pub(crate) async fn forward(
        &self,
        request: &ReceivedRequest,
        recorder: ResponseRecorder,
    ) -> Result<Forwarded, (String, ResponseRecorder)> {
        match self.send(request).await {
            Ok(response) => Ok(self.stream_back(request, response, recorder)),
            Err(message) => Err((message, recorder)),
        }
    }

    async fn send(
        &self,
        request: &ReceivedRequest,
    ) -> Result<hyper::Response<hyper::body::Incoming>, String> {
        let upstream = &self.upstream;
        let stream = tokio::net::TcpStream::connect(&upstream.authority)
            .await
            .map_err(|error| format!("cannot reach {}: {error}", upstream.authority))?;
        let _ = stream.set_nodelay(true);
        #[cfg(feature = "record-tls")]
        let mut sender = match &self.tls {
            Some(config) => {
                let stream = tls::connect(config, &upstream.host, stream).await?;
                self.handshake(stream).await?
            }
            None => self.handshake(stream).await?,
        };
        #[cfg(not(feature = "record-tls"))]
        let mut sender = self.handshake(stream).await?;
        let target = match request.query() {
            Some(query) => format!("{}{}?{query}", upstream.base_path, request.path()),
            None => format!("{}{}", upstream.base_path, request.path()),
        };
        let mut outgoing = Request::builder()
            .method(request.method().clone())
            .uri(target)
            .body(Full::new(Bytes::copy_from_slice(request.body())))
            .map_err(|error| format!("cannot forward the request: {error}"))?;
        let headers = outgoing.headers_mut();
        for (name, value) in request.headers() {
            if !HOP_BY_HOP.contains(&name.as_str()) {
                headers.append(name, value.clone());
            }
        }
        if let Ok(host) = HeaderValue::from_str(&upstream.authority) {
            headers.insert(axum::http::header::HOST, host);
        }
        sender
            .send_request(outgoing)
            .await
            .map_err(|error| format!("{} did not answer: {error}", upstream.authority))
    }

    /// An HTTP/1.1 connection over `stream`, served by a task of its own.
    async fn handshake<S>(
        &self,
        stream: S,
    ) -> Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>, String>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|error| {
                format!("no HTTP connection to {}: {error}", self.upstream.authority)
            })?;
        tokio::spawn(async move {
            // Its errors reach the body, which reports them.
            let _ = connection.await;
        });
        Ok(sender)
    }

    fn stream_back(
        &self,
        request: &ReceivedRequest,
        response: hyper::Response<hyper::body::Incoming>,
        recorder: ResponseRecorder,
    ) -> Forwarded {
        let started = request.received_at();
        let headers_at = started.elapsed();
        let (parts, body) = response.into_parts();
        let content_type = parts
            .headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok());
        let mut tap = Tap {
            capture: Capture::new(Framing::for_content_type(content_type)),
            exchange: Some(Exchange {
                status: parts.status.as_u16(),
                headers: recorded_headers(&parts.headers),
                headers_at,
                events: Vec::new(),
                broken_off: false,
            }),
            redaction: Redaction::new(
                &self.patterns,
                request_secrets::credentials(request.headers(), request.query()),
            ),
            request: request.clone(),
            file: Arc::clone(&self.file),
            path: self.path.clone(),
            started,
        };
        let mut client_headers = HeaderMap::new();
        for (name, value) in &parts.headers {
            if !HOP_BY_HOP.contains(&name.as_str()) {
                client_headers.append(name, value.clone());
            }
        }
        recorder.streaming(parts.status.as_u16());
        let body = async_stream::stream! {
            let mut recorder = recorder;
            let mut body = body;
            loop {
                match body.frame().await {
                    Some(Ok(frame)) => {
                        let Ok(bytes) = frame.into_data() else { continue };
                        let events = tap.capture.push(tap.started.elapsed(), &bytes);
                        recorder.sent(events);
                        yield Ok(bytes);
                    }
                    Some(Err(_)) => {
                        tap.end(true);
                        recorder.cut(CutKind::Disconnected);
                        yield Err(CutKind::Disconnected);
                        return;
                    }
                    None => {
                        tap.end(false);
                        recorder.finish();
                        return;
                    }
                }
            }
        };
        Forwarded {
            status: parts.status,
            headers: client_headers,
            body: Box::new(Box::pin(body)),
        }
    }
}

/// The upstream's headers as text, lowercase names, in a stable order.
fn recorded_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    let mut recorded: Vec<(String, String)> = headers
        .iter()
        .filter(|(name, _)| !request_secrets::is_secret_header(name.as_str()))
        .filter_map(|(name, value)| {
            let value = value.to_str().ok()?;
            Some((HeaderName::as_str(name).to_owned(), value.to_owned()))
        })
        .collect();
    recorded.sort();
    recorded.dedup_by(|a, b| a.0 == b.0);
    recorded
}

/// One exchange on its way to the file: written when its body ends, or, if the client
/// leaves first, when the body is dropped, with what had arrived.
struct Tap {
    capture: Capture,
    exchange: Option<Exchange>,
    redaction: Redaction,
    request: ReceivedRequest,
    file: Arc<Mutex<FixtureFile>>,
    path: PathBuf,
    started: Instant,
}

impl Tap {
    fn end(&mut self, broken_off: bool) {
        let Some(mut exchange) = self.exchange.take() else {
            return;
        };
        self.capture.finish(self.started.elapsed());
        exchange.events = std::mem::take(&mut self.capture.events);
        exchange.broken_off = broken_off;
        let written = lock(&self.file).add(&self.request, exchange, &self.redaction);
        if let Err(error) = written {
            tracing::error!("chatmock: cannot write {}: {error}", self.path.display());
        }
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        self.end(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstreams_are_plain_http_urls_with_an_optional_base_path() {
        assert_eq!(
            Upstream::parse("http://127.0.0.1:8080/openai/").unwrap(),
            Upstream {
                authority: "127.0.0.1:8080".into(),
                host: "127.0.0.1".into(),
                tls: false,
                base_path: "/openai".into()
            }
        );
        assert_eq!(
            Upstream::parse("http://localhost").unwrap().authority,
            "localhost:80"
        );
        let https = Upstream::parse("https://api.openai.com");
        if cfg!(feature = "record-tls") {
            let upstream = https.unwrap();
            assert_eq!(upstream.authority, "api.openai.com:443");
            assert_eq!(upstream.host, "api.openai.com");
            assert!(upstream.tls);
        } else {
            let message = https.unwrap_err();
            assert!(message.contains("plain HTTP only"), "{message}");
        }
        assert!(Upstream::parse("ftp://x").is_err());
    }
}
