//! A response as it arrives: its body cut into events (SSE events, NDJSON lines, or
//! the pieces of any other body), each with its offset from the request.

use std::time::Duration;

/// How a body is cut into events, from its content type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// `text/event-stream`: an event ends at a blank line.
    Sse,
    /// NDJSON (Ollama): an event is a line.
    Lines,
    /// Anything else: each piece as it arrived, never splitting a UTF-8 character.
    Pieces,
}

impl Framing {
    pub(crate) fn for_content_type(content_type: Option<&str>) -> Framing {
        let content_type = content_type.unwrap_or_default().to_ascii_lowercase();
        if content_type.starts_with("text/event-stream") {
            Framing::Sse
        } else if content_type.contains("ndjson") {
            Framing::Lines
        } else {
            Framing::Pieces
        }
    }
}

/// The events of a body so far, and the bytes of the one not yet complete.
#[derive(Debug)]
pub(crate) struct Capture {
    framing: Framing,
    pending: Vec<u8>,
    pub(crate) events: Vec<(Duration, Vec<u8>)>,
}

impl Capture {
    pub(crate) fn new(framing: Framing) -> Capture {
        Capture {
            framing,
            pending: Vec::new(),
            events: Vec::new(),
        }
    }

    /// Takes in `bytes` that arrived `at`, and returns how many events they completed.
    pub(crate) fn push(&mut self, at: Duration, bytes: &[u8]) -> usize {
        self.pending.extend_from_slice(bytes);
        let before = self.events.len();
        while let Some(end) = self.complete_event_end() {
            let event: Vec<u8> = self.pending.drain(..end).collect();
            self.events.push((at, event));
        }
        self.events.len() - before
    }

    /// Ends the body at `at`: what is left is its last event.
    pub(crate) fn finish(&mut self, at: Duration) {
        if !self.pending.is_empty() {
            self.events.push((at, std::mem::take(&mut self.pending)));
        }
    }

    /// Where the first complete event of the pending bytes ends, if one is complete.
    fn complete_event_end(&self) -> Option<usize> {
        let pending = &self.pending;
        match self.framing {
            Framing::Sse => {
                let lf = find(pending, b"\n\n").map(|at| at + 2);
                let crlf = find(pending, b"\r\n\r\n").map(|at| at + 4);
                match (lf, crlf) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            }
            Framing::Lines => memchr::memchr(b'\n', pending).map(|at| at + 1),
            Framing::Pieces if pending.is_empty() => None,
            Framing::Pieces => match std::str::from_utf8(pending) {
                Ok(_) => Some(pending.len()),
                // A character cut in two waits for its other half; bytes that are not
                // UTF-8 at all are kept as they came.
                Err(error) if error.error_len().is_none() && error.valid_up_to() > 0 => {
                    Some(error.valid_up_to())
                }
                Err(error) if error.error_len().is_none() => None,
                Err(_) => Some(pending.len()),
            },
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(haystack, needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us(micros: u64) -> Duration {
        Duration::from_micros(micros)
    }

    fn texts(capture: &Capture) -> Vec<(u64, String)> {
        capture
            .events
            .iter()
            .map(|(at, bytes)| (at.as_micros() as u64, String::from_utf8_lossy(bytes).into()))
            .collect()
    }

    #[test]
    fn sse_events_end_at_a_blank_line_however_the_bytes_arrive() {
        let mut capture = Capture::new(Framing::Sse);
        assert_eq!(capture.push(us(10), b"data: a\n\ndata: b"), 1);
        assert_eq!(capture.push(us(20), b"\n\r\n"), 0);
        assert_eq!(capture.push(us(30), b"event: x\r\ndata: c\r\n\r\n"), 1);
        capture.finish(us(40));
        assert_eq!(
            texts(&capture),
            [
                (10, "data: a\n\n".into()),
                (30, "data: b\n\r\nevent: x\r\ndata: c\r\n\r\n".into())
            ]
        );
    }

    #[test]
    fn lines_are_events_and_a_last_line_without_a_break_ends_the_body() {
        let mut capture = Capture::new(Framing::Lines);
        assert_eq!(capture.push(us(5), b"{\"a\":1}\n{\"b\""), 1);
        assert_eq!(capture.push(us(9), b":2}"), 0);
        capture.finish(us(12));
        assert_eq!(
            texts(&capture),
            [(5, "{\"a\":1}\n".into()), (12, "{\"b\":2}".into())]
        );
    }

    #[test]
    fn pieces_never_split_a_character() {
        let mut capture = Capture::new(Framing::Pieces);
        let text = "prix: 5 €".as_bytes();
        let (first, rest) = text.split_at(text.len() - 1);
        assert_eq!(capture.push(us(1), first), 1);
        assert_eq!(capture.push(us(2), rest), 1);
        assert_eq!(texts(&capture), [(1, "prix: 5 ".into()), (2, "€".into())]);
        assert_eq!(
            Framing::for_content_type(Some("application/x-ndjson")),
            Framing::Lines
        );
        assert_eq!(
            Framing::for_content_type(Some("text/event-stream; charset=utf-8")),
            Framing::Sse
        );
    }
}
