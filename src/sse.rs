//! Server-Sent Events framing: turns [`Frame`]s into the bytes of a `text/event-stream`
//! body, following the WHATWG HTML Standard §9.2.
//!
//! This module knows nothing about chat APIs: wire formats decide *what* each frame says,
//! this module decides only *how* it is laid out on the wire.

/// One SSE event block, ended by a blank line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Frame {
    /// The `event:` field; `None` leaves the type at the default, `message`.
    pub(crate) event: Option<&'static str>,
    /// The `data:` payload. Line breaks inside it become several `data:` lines, which a
    /// spec-compliant parser joins back with `\n`.
    pub(crate) data: String,
}

impl Frame {
    /// A frame with only a `data:` field.
    pub(crate) fn data(data: impl Into<String>) -> Self {
        Frame {
            event: None,
            data: data.into(),
        }
    }
}

/// Appends the wire form of `frame` to `out`.
///
/// Every data line is written as `data: <value>` with the space, because some clients
/// (google-genai) only accept that exact prefix; the spec strips exactly one leading space,
/// so a value that itself starts with a space survives the round trip.
pub(crate) fn encode(frame: &Frame, out: &mut Vec<u8>) {
    if let Some(event) = frame.event {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(event.as_bytes());
        out.push(b'\n');
    }
    for line in data_lines(&frame.data) {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    out.push(b'\n');
}

/// Splits a payload at every line ending the spec recognises (CRLF, LF, lone CR), so that
/// no raw CR or LF ever reaches the wire inside a field value. A CRLF inside a payload
/// comes back as a single LF: SSE has no way to carry it.
fn data_lines(data: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(data);
    std::iter::from_fn(move || {
        let current = rest?;
        match current.find(['\r', '\n']) {
            None => {
                rest = None;
                Some(current)
            }
            Some(at) => {
                let skip = if current[at..].starts_with("\r\n") {
                    2
                } else {
                    1
                };
                rest = Some(&current[at + skip..]);
                Some(&current[..at])
            }
        }
    })
}
