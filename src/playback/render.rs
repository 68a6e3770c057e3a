//! What bytes each script event becomes.

use std::time::Duration;

use bytes::{Bytes, BytesMut};

use crate::script::{CutKind, Delivery, ScriptEvent};
use crate::wire::frame::{self, Frame};
use crate::wire::Encoder;

/// Where a resumed stream starts: after the event with this id (0 = from the start).
pub(crate) type ResumeAfter = u64;

/// What one script event becomes.
pub(super) enum Rendered {
    /// Bytes staged for writing, holding this many content events.
    Write {
        content_events: usize,
    },
    /// Lies before the resume point: nothing is written and no time is waited.
    Skipped,
    Cut(CutKind),
    Stall,
    /// The script is over.
    End,
}

/// Turns script events into bytes: the format's frames, numbered with SSE ids, with the
/// `retry:` field on the first event, and skipped up to the resume point.
pub(super) struct Renderer {
    encoder: Box<dyn Encoder>,
    delivery: Delivery,
    resume_after: ResumeAfter,
    events_so_far: u64,
    retry_pending: Option<Duration>,
    frames: Vec<Frame>,
}

impl Renderer {
    pub(super) fn new(
        encoder: Box<dyn Encoder>,
        delivery: Delivery,
        resume_after: ResumeAfter,
    ) -> Self {
        Renderer {
            encoder,
            delivery,
            resume_after,
            events_so_far: 0,
            retry_pending: delivery.reconnection_time,
            frames: Vec::new(),
        }
    }

    /// Whether the stream is still before the resume point: everything there, events,
    /// comments, faults alike, was already played to the client's previous connection.
    fn resuming(&self) -> bool {
        self.events_so_far < self.resume_after
    }

    pub(super) fn render(&mut self, event: ScriptEvent<'_>, out: &mut BytesMut) -> Rendered {
        match event {
            // A cut at the resume point is the one the client reconnected after.
            ScriptEvent::Cut(_) | ScriptEvent::Stall
                if self.resume_after > 0 && self.events_so_far <= self.resume_after =>
            {
                return Rendered::Skipped
            }
            ScriptEvent::Cut(kind) => return Rendered::Cut(kind),
            ScriptEvent::Stall => return Rendered::Stall,
            ScriptEvent::Comment(text) => self.frames.push(Frame::Comment(text.to_owned())),
            ScriptEvent::Raw(bytes) => self.frames.push(Frame::Verbatim(bytes.to_vec())),
            ScriptEvent::Recorded(bytes) if self.delivery.recorded_sse => {
                return self.render_recorded_event(bytes, out)
            }
            ScriptEvent::Recorded(bytes) => self.frames.push(Frame::Verbatim(bytes.to_vec())),
            ScriptEvent::Message(message) => self.encoder.encode(message, &mut self.frames),
        }
        let mut written = 0;
        let mut skipped = 0;
        // Taken and put back, so that its allocation serves every event.
        let mut frames = std::mem::take(&mut self.frames);
        for mut item in frames.drain(..) {
            let resuming = self.resuming();
            if let Frame::Event(sse_event) = &mut item {
                self.events_so_far += 1;
                if !resuming {
                    if self.delivery.event_ids {
                        sse_event.id = Some(self.events_so_far);
                    }
                    sse_event.retry = self.retry_pending.take();
                }
            }
            if resuming {
                skipped += 1;
            } else {
                frame::encode(&item, self.delivery.crlf, out);
                written += 1;
            }
        }
        self.frames = frames;
        if written == 0 && skipped > 0 {
            return Rendered::Skipped;
        }
        Rendered::Write {
            content_events: usize::from(event.is_content() && written > 0),
        }
    }

    /// One recorded SSE event: counted and numbered like the format's events, its bytes
    /// as recorded. An id goes on a line of its own before them, which a client reads
    /// as the event's (a recorded `id:` line inside the event, later, wins).
    fn render_recorded_event(&mut self, bytes: &[u8], out: &mut BytesMut) -> Rendered {
        let resuming = self.resuming();
        self.events_so_far += 1;
        if resuming {
            return Rendered::Skipped;
        }
        let end_of_line: &[u8] = if self.delivery.crlf { b"\r\n" } else { b"\n" };
        if self.delivery.event_ids {
            out.extend_from_slice(format!("id: {}", self.events_so_far).as_bytes());
            out.extend_from_slice(end_of_line);
        }
        if let Some(retry) = self.retry_pending.take() {
            out.extend_from_slice(format!("retry: {}", retry.as_millis()).as_bytes());
            out.extend_from_slice(end_of_line);
        }
        out.extend_from_slice(bytes);
        Rendered::Write { content_events: 1 }
    }

    /// The format's keep-alive, if it has one.
    pub(super) fn keep_alive(&self) -> Option<Bytes> {
        let frame = self.encoder.keep_alive()?;
        let mut bytes = BytesMut::new();
        frame::encode(&frame, self.delivery.crlf, &mut bytes);
        Some(bytes.freeze())
    }
}
