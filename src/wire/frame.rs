//! Frames, what a wire format's encoder produces, and their layout on the wire: SSE
//! events and comments as the WHATWG HTML Standard §9.2 lays them out, or bytes written
//! verbatim (NDJSON lines, the pieces of a JSON array, a script's raw steps).
//!
//! This module knows nothing about chat APIs: wire formats decide *what* each frame says,
//! this module decides only *how* it is laid out on the wire.

use std::time::Duration;

use bytes::BufMut;

use super::json::decimal;

/// What goes on the wire: an event, a comment, or bytes written verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Frame {
    Event(Event),
    /// A `: text` line that clients ignore, then a blank line.
    Comment(String),
    /// Bytes written verbatim, outside any SSE layout: an NDJSON line, a piece of a JSON
    /// array, or a script's raw step.
    Verbatim(Vec<u8>),
}

/// One SSE event block, ended by a blank line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Event {
    /// The `event:` field; `None` leaves the type at the default, `message`.
    pub(crate) name: Option<&'static str>,
    /// The `data:` payload. Line breaks inside it become several `data:` lines, which a
    /// spec-compliant parser joins back with `\n`.
    pub(crate) data: String,
    /// The `id:` field.
    pub(crate) id: Option<u64>,
    /// The `retry:` field. It shares the block with `data`, because some parsers
    /// (eventsource-stream) drop a `retry:` that comes in a block of its own.
    pub(crate) retry: Option<Duration>,
}

impl Frame {
    /// An event with only a `data:` field.
    pub(crate) fn data(data: impl Into<String>) -> Frame {
        Frame::Event(Event {
            data: data.into(),
            ..Event::default()
        })
    }
}

/// Appends the wire form of `frame` to `out`, ending lines with CRLF if `crlf`.
///
/// Every data line is written as `data: <value>` with the space, because some clients
/// (google-genai) only accept that exact prefix; the spec strips exactly one leading space,
/// so a value that itself starts with a space survives the round trip.
pub(crate) fn encode(frame: &Frame, crlf: bool, out: &mut impl BufMut) {
    let end_of_line: &[u8] = if crlf { b"\r\n" } else { b"\n" };
    let mut line = |parts: &[&[u8]]| {
        for part in parts {
            out.put_slice(part);
        }
        out.put_slice(end_of_line);
    };
    match frame {
        Frame::Verbatim(bytes) => out.put_slice(bytes),
        Frame::Comment(text) => {
            for text_line in split_lines(text) {
                line(&[b": ", text_line.as_bytes()]);
            }
            line(&[]);
        }
        Frame::Event(event) => {
            if let Some(id) = event.id {
                line(&[b"id: ", decimal(id, &mut [0; 20])]);
            }
            if let Some(retry) = event.retry {
                line(&[b"retry: ", retry.as_millis().to_string().as_bytes()]);
            }
            if let Some(name) = event.name {
                line(&[b"event: ", name.as_bytes()]);
            }
            for data_line in split_lines(&event.data) {
                line(&[b"data: ", data_line.as_bytes()]);
            }
            line(&[]);
        }
    }
}

/// Splits a payload at every line ending the spec recognises (CRLF, LF, lone CR), so that
/// no raw CR or LF ever reaches the wire inside a field value. A CRLF inside a payload
/// comes back as a single LF: SSE has no way to carry it.
fn split_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let current = rest?;
        match memchr::memchr2(b'\r', b'\n', current.as_bytes()) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_written_in_decimal() {
        for id in [0, 7, 10, 99, 100, 12_345, u64::MAX] {
            let mut out = Vec::new();
            let event = Event {
                id: Some(id),
                data: "x".to_owned(),
                ..Event::default()
            };
            encode(&Frame::Event(event), false, &mut out);
            assert_eq!(out, format!("id: {id}\ndata: x\n\n").into_bytes());
        }
    }

    fn wire(frame: &Frame, crlf: bool) -> Vec<u8> {
        let mut out = Vec::new();
        encode(frame, crlf, &mut out);
        out
    }

    fn event(
        name: Option<&'static str>,
        id: Option<u64>,
        retry_ms: Option<u64>,
        data: &str,
    ) -> Frame {
        Frame::Event(Event {
            name,
            data: data.to_owned(),
            id,
            retry: retry_ms.map(Duration::from_millis),
        })
    }

    #[test]
    fn every_line_break_in_data_starts_a_new_data_line() {
        // A parser joins data lines back with LF, so each kind of break in a payload
        // arrives as LF and no raw CR or LF can end a field early.
        let cases: &[(&str, &str)] = &[
            ("one line", "data: one line\n\n"),
            ("a\nb", "data: a\ndata: b\n\n"),
            ("a\r\nb", "data: a\ndata: b\n\n"),
            ("a\rb", "data: a\ndata: b\n\n"),
            ("a\n\r\n\rb", "data: a\ndata: \ndata: \ndata: b\n\n"),
            // A CR then an LF is one break, but an LF then a CR is two.
            ("a\n\rb", "data: a\ndata: \ndata: b\n\n"),
            // A trailing break leaves an empty last line, which the spec keeps as "a\n".
            ("a\n", "data: a\ndata: \n\n"),
            ("\n", "data: \ndata: \n\n"),
            ("", "data: \n\n"),
            // The spec strips one space after the colon, so a leading space survives.
            (" lead", "data:  lead\n\n"),
            ("é\n漢字", "data: é\ndata: 漢字\n\n"),
        ];
        for (data, expected) in cases {
            assert_eq!(
                String::from_utf8(wire(&Frame::data(*data), false)).unwrap(),
                *expected,
                "{data:?}"
            );
        }
    }

    #[test]
    fn fields_come_as_id_retry_event_then_data() {
        let cases: &[(Frame, &str)] = &[
            (
                event(Some("message_start"), Some(7), Some(1500), "x"),
                "id: 7\nretry: 1500\nevent: message_start\ndata: x\n\n",
            ),
            (
                event(Some("ping"), None, None, "{}"),
                "event: ping\ndata: {}\n\n",
            ),
            (event(None, Some(0), None, "x"), "id: 0\ndata: x\n\n"),
            // retry shares the block with data, never a block of its own; it is whole
            // milliseconds.
            (
                event(None, None, Some(3000), "x"),
                "retry: 3000\ndata: x\n\n",
            ),
            (
                Frame::Event(Event {
                    retry: Some(Duration::from_micros(2_999)),
                    data: "x".to_owned(),
                    ..Event::default()
                }),
                "retry: 2\ndata: x\n\n",
            ),
            (
                event(Some("e"), Some(1), None, "a\nb"),
                "id: 1\nevent: e\ndata: a\ndata: b\n\n",
            ),
        ];
        for (frame, expected) in cases {
            assert_eq!(
                String::from_utf8(wire(frame, false)).unwrap(),
                *expected,
                "{frame:?}"
            );
        }
    }

    #[test]
    fn a_comment_is_one_colon_line_per_line_of_text() {
        let cases: &[(&str, &str)] = &[
            ("keep-alive", ": keep-alive\n\n"),
            ("a\nb", ": a\n: b\n\n"),
            ("a\r\nb\rc", ": a\n: b\n: c\n\n"),
            ("", ": \n\n"),
        ];
        for (text, expected) in cases {
            let frame = Frame::Comment((*text).to_owned());
            assert_eq!(
                String::from_utf8(wire(&frame, false)).unwrap(),
                *expected,
                "{text:?}"
            );
        }
    }

    #[test]
    fn crlf_ends_every_line_and_the_blank_line_with_crlf() {
        let cases: &[(Frame, &str)] = &[
            (
                event(Some("e"), Some(3), Some(10), "a\nb"),
                "id: 3\r\nretry: 10\r\nevent: e\r\ndata: a\r\ndata: b\r\n\r\n",
            ),
            // A CRLF inside the payload is a break like any other, not copied through.
            (Frame::data("a\r\nb"), "data: a\r\ndata: b\r\n\r\n"),
            (Frame::Comment("a\nb".to_owned()), ": a\r\n: b\r\n\r\n"),
        ];
        for (frame, expected) in cases {
            let bytes = wire(frame, true);
            assert_eq!(
                String::from_utf8(bytes.clone()).unwrap(),
                *expected,
                "{frame:?}"
            );
            // No bare LF anywhere: a strict CRLF reader would see a broken line.
            let bare_lf = bytes
                .iter()
                .enumerate()
                .any(|(at, byte)| *byte == b'\n' && (at == 0 || bytes[at - 1] != b'\r'));
            assert!(!bare_lf, "{frame:?}");
        }
    }

    #[test]
    fn verbatim_bytes_are_written_untouched() {
        // NDJSON lines and JSON array pieces carry their own line ends, or none; the
        // CRLF option and the SSE layout do not apply to them.
        let samples: &[&[u8]] = &[
            b"{\"done\":false}\n",
            b"[{\"a\":1}",
            b",\r\n{\"a\":2}",
            b"]",
            b"data: raw\n\n",
            b"a\rb\nc\r\n",
            b"\xff\xfe not UTF-8",
            b"",
        ];
        for bytes in samples {
            for crlf in [false, true] {
                assert_eq!(
                    wire(&Frame::Verbatim(bytes.to_vec()), crlf),
                    *bytes,
                    "{bytes:?}"
                );
            }
        }
    }
}
