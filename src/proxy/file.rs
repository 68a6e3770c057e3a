//! The fixture file a recording writes: one mock per request, whose matchers are derived
//! from the request and whose reply is the `recorded` response, in a stable form (sorted
//! keys, no times of day, nothing volatile beyond the provider's own ids) so that
//! re-recording the same conversation gives a small diff.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Map, Value};

use super::secrets::Redaction;
use crate::request::ReceivedRequest;
// Bytes that are not UTF-8 are written as base64, as thinking signatures are.
use crate::wire::reasoning::base64;

/// The response headers a recording keeps: what clients read (the content type, retry
/// advice, rate limits, request ids). Dates, servers, cookies, lengths and the rest are
/// volatile or secret, and replay does not need them.
fn header_is_kept(name: &str) -> bool {
    matches!(
        name,
        "content-type"
            | "retry-after"
            | "retry-after-ms"
            | "x-request-id"
            | "request-id"
            | "x-should-retry"
    ) || name.starts_with("x-ratelimit-")
        || name.starts_with("anthropic-ratelimit-")
}

/// What one exchange left to write.
pub(crate) struct Exchange {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) headers_at: Duration,
    pub(crate) events: Vec<(Duration, Vec<u8>)>,
    /// The upstream broke the body off after the events: replayed as a disconnect.
    pub(crate) broken_off: bool,
}

/// The file being written, with every mock written so far.
#[derive(Debug)]
pub(crate) struct FixtureFile {
    path: PathBuf,
    mocks: Vec<Value>,
}

impl FixtureFile {
    /// A file that starts empty (everything is recorded again), or, when `append`, with
    /// the mocks the file has (a recording of what it misses).
    pub(crate) fn open(path: &Path, append: bool) -> io::Result<FixtureFile> {
        let mut mocks = Vec::new();
        if append && path.exists() {
            let text = std::fs::read_to_string(path)?;
            let value: Value = serde_json::from_str(&text).map_err(|error| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: not JSON: {error}", path.display()),
                )
            })?;
            if let Some(existing) = value.get("mocks").and_then(Value::as_array) {
                mocks = existing.clone();
            }
        }
        let file = FixtureFile {
            path: path.to_owned(),
            mocks,
        };
        file.write()?;
        Ok(file)
    }

    /// Adds the mock of one exchange and writes the file. A request with the same
    /// matchers as an earlier one (the same question asked twice) adds its reply to that
    /// mock's sequence, so that replay answers the two in order.
    pub(crate) fn add(
        &mut self,
        request: &ReceivedRequest,
        exchange: Exchange,
        redaction: &Redaction,
    ) -> io::Result<()> {
        let when = matchers(request, redaction);
        let reply = recorded_reply(exchange, redaction);
        match self
            .mocks
            .iter_mut()
            .find(|mock| mock.get("when") == Some(&when))
        {
            Some(mock) => {
                let object = mock.as_object_mut().expect("mocks are objects");
                let mut replies = match object.remove("reply") {
                    Some(first) => vec![first],
                    None => match object.remove("replies") {
                        Some(Value::Array(replies)) => replies,
                        _ => Vec::new(),
                    },
                };
                replies.push(reply);
                object.insert("replies".into(), Value::Array(replies));
            }
            None => self.mocks.push(json!({ "when": when, "reply": reply })),
        }
        self.write()
    }

    /// Writes the whole file, through a temporary file and a rename, so that a reader
    /// (or a crash) never sees half of it.
    fn write(&self) -> io::Result<()> {
        let document = json!({ "mocks": self.mocks });
        let mut text = serde_json::to_string_pretty(&document).map_err(io::Error::other)?;
        text.push('\n');
        let mut temporary = self.path.clone().into_os_string();
        temporary.push(".chatmock-tmp");
        std::fs::write(&temporary, text)?;
        std::fs::rename(&temporary, &self.path)
    }
}

/// The matchers that pick this request out on replay: its path (and method if not
/// POST), query parameters other than a key, and for a chat request its model, whether
/// it streams, its turn, its last user message and the tool call its latest tool result
/// answers, so that every step of an agent loop has a mock of its own. A value that
/// redaction would change is left out, since the masked text could never match.
fn matchers(request: &ReceivedRequest, redaction: &Redaction) -> Value {
    let mut when = Map::new();
    if request.method() != axum::http::Method::POST {
        when.insert("method".into(), request.method().as_str().into());
    }
    when.insert("path".into(), request.path().into());
    let query: Map<String, Value> = request
        .query()
        .unwrap_or_default()
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .filter(|(name, _)| !name.is_empty() && !super::secrets::is_secret_query(name))
        .filter(|(_, value)| redaction.leaves(value))
        .map(|(name, value)| (name.to_owned(), value.into()))
        .collect();
    if !query.is_empty() {
        when.insert("query_params".into(), Value::Object(query));
    }
    if let Some(chat) = request.chat() {
        if !chat.model().is_empty() && redaction.leaves(chat.model()) {
            when.insert("model".into(), chat.model().into());
        }
        when.insert("stream".into(), chat.is_stream().into());
        when.insert("turn".into(), chat.turn().max(1).into());
        if let Some(message) = chat.last_user_message().filter(|m| redaction.leaves(m)) {
            when.insert("last_user_message_is".into(), message.into());
        }
        let answered = chat
            .latest_tool_results()
            .find_map(|result| result.call_id());
        if let Some(id) = answered.filter(|id| redaction.leaves(id)) {
            when.insert("tool_result_for".into(), id.into());
        }
    }
    Value::Object(when)
}

fn micros(offset: Duration) -> u64 {
    u64::try_from(offset.as_micros()).unwrap_or(u64::MAX)
}

/// The `recorded` reply of an exchange, its text masked.
fn recorded_reply(exchange: Exchange, redaction: &Redaction) -> Value {
    let headers: Map<String, Value> = exchange
        .headers
        .into_iter()
        .filter(|(name, _)| header_is_kept(name))
        .map(|(name, value)| (name, redaction.mask_text(&value).into()))
        .collect();
    let count = exchange.events.len();
    let events: Vec<Value> = exchange
        .events
        .into_iter()
        .map(|(at, bytes)| {
            let bytes = redaction.mask(&bytes);
            match String::from_utf8(bytes) {
                Ok(text) => json!({ "at_us": micros(at), "text": text }),
                Err(error) => {
                    json!({ "at_us": micros(at), "base64": base64(error.as_bytes()) })
                }
            }
        })
        .collect();
    let mut reply = json!({
        "recorded": {
            "status": exchange.status,
            "headers": headers,
            "headers_at_us": micros(exchange.headers_at),
            "events": events,
        }
    });
    if exchange.broken_off {
        reply["disconnect_after"] = count.into();
    }
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_headers_clients_read_are_kept() {
        for kept in [
            "content-type",
            "retry-after",
            "x-request-id",
            "x-ratelimit-remaining-requests",
            "anthropic-ratelimit-tokens-remaining",
        ] {
            assert!(header_is_kept(kept), "{kept}");
        }
        for dropped in [
            "set-cookie",
            "date",
            "server",
            "content-length",
            "authorization",
        ] {
            assert!(!header_is_kept(dropped), "{dropped}");
        }
    }
}
