//! Playback: plays a script's timeline through a dialect's encoder into the bytes of a
//! response body, at the scripted times, logging progress as it goes.
//!
//! Rendering (what bytes each event becomes) is synchronous and separate from the
//! executor loop (when bytes are written, and how the stream ends), so that timing,
//! coalescing and faults are decided in one place.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::Stream;
use tokio::time::Instant;

use crate::recording::ResponseRecorder;
use crate::script::CutKind;
use crate::script::{Framing, Reply, ReplyKind, ScriptEvent};
use crate::socket::Connection;
use crate::wire::frame::{self as sse, Frame};
use crate::wire::Encoder;

/// Events already due are written together up to this size: one socket write instead of
/// thousands for a zero-delay script, while a write never grows without bound.
const MAX_WRITE: usize = 64 * 1024;

/// How long a reset waits after the last write, so that a client on loopback reads what
/// was sent before the reset discards it.
const RESET_GRACE: Duration = Duration::from_millis(20);

/// Where a resumed stream starts: after the event with this id (0 = from the start).
pub(crate) type ResumeAfter = u64;

/// The body of a streamed reply. The HTTP server drops the stream when the client goes
/// away, which the recorder logs as a hang-up.
pub(crate) fn stream_body(
    reply: Arc<Reply>,
    encoder: Box<dyn Encoder>,
    resume_after: ResumeAfter,
    connection: Option<Connection>,
    mut recorder: ResponseRecorder,
) -> impl Stream<Item = io::Result<Bytes>> + Send {
    async_stream::stream! {
        let ReplyKind::Stream(script) = &reply.kind else {
            return;
        };
        let framing = &script.framing;
        let mut renderer = Renderer::new(encoder, framing, resume_after);
        let start = Instant::now();
        // The clock as last read, or a deadline a timer has passed. It is never ahead of
        // the real clock, so a beat due by it is due; only a beat that is not is worth
        // reading the clock again for. A zero-delay script reads the clock only when it
        // writes.
        let mut now = start;
        let mut last_write = start;
        // Resumed streams skip events without waiting for them: later times count from
        // the last skipped event.
        let mut skipped_until = Duration::ZERO;
        // One timer for the whole stream, reset for every wait: a new one per token would
        // look up the runtime and register a fresh timer entry each time.
        let mut timer = std::pin::pin!(tokio::time::sleep_until(start));
        // Bytes not yet handed to the server: events already due, then (past `staged`)
        // the event being played, rendered in place but not yet due. What is due leaves
        // by `split_to`, without a copy; once the server has written it, the buffer
        // reuses its room, so a steady stream allocates nothing per event.
        let mut buffer = BytesMut::new();
        let mut pending_content = 0;
        let timeline = script.timeline();
        let end_at = timeline.last().map_or(Duration::ZERO, |beat| beat.at);
        let beats = timeline.into_iter().map(|beat| (beat.at, Some(beat.event)));
        for (at, event) in beats.chain([(end_at, None)]) {
            let staged = buffer.len();
            let rendered = match event {
                Some(event) => renderer.render(event, &mut buffer),
                None => Rendered::End,
            };
            if let Rendered::Skipped = rendered {
                skipped_until = at;
                continue;
            }
            let due = start + at.saturating_sub(skipped_until);
            if due > now {
                now = Instant::now();
            }
            let waits = due > now;
            let writes = matches!(rendered, Rendered::Write { .. });
            if (waits || !writes || staged >= MAX_WRITE) && staged > 0 {
                // Hand over what is due; the event just rendered stays for later.
                let bytes = buffer.split_to(staged).freeze();
                if buffer.is_empty() {
                    // The stream ends or stalls here: keep nothing allocated.
                    buffer = BytesMut::new();
                }
                recorder.sent(std::mem::take(&mut pending_content));
                for piece in fragments(bytes, framing.fragment_size) {
                    yield Ok(piece);
                    if framing.fragment_size.is_some() {
                        // Let the server flush each piece as its own write.
                        tokio::task::yield_now().await;
                    }
                }
                if framing.keep_alive.is_some() {
                    last_write = Instant::now();
                    now = last_write;
                }
            }
            let deadline = match rendered {
                Rendered::Stall => {
                    recorder.stalled();
                    None
                }
                _ => Some(due),
            };
            // Wait for the deadline (forever, for a stall), sending keep-alive comments
            // whenever the stream has been silent for the keep-alive interval.
            loop {
                let keep_alive_at = framing.keep_alive.map(|interval| last_write + interval);
                let wake = match (deadline, keep_alive_at) {
                    (Some(deadline), Some(keep_alive)) => Some(deadline.min(keep_alive)),
                    (deadline, keep_alive) => deadline.or(keep_alive),
                };
                match wake {
                    None => std::future::pending::<()>().await,
                    Some(wake) => {
                        if wake > now {
                            now = Instant::now();
                        }
                        if wake > now {
                            timer.as_mut().reset(wake);
                            timer.as_mut().await;
                            // A timer never fires before its deadline.
                            now = wake;
                        }
                    }
                }
                if deadline.is_some_and(|deadline| deadline <= now) {
                    break;
                }
                if keep_alive_at.is_some_and(|at| at <= now) {
                    if let Some(bytes) = renderer.keep_alive() {
                        yield Ok(bytes);
                    }
                    last_write = Instant::now();
                    now = last_write;
                }
            }
            match rendered {
                Rendered::Write { content_events } => pending_content += content_events,
                Rendered::Cut(kind) => {
                    recorder.cut(kind);
                    if kind != CutKind::EndedCleanly {
                        // Let the server flush the headers and everything written so far,
                        // so the cut comes after them, as it does in the script.
                        tokio::task::yield_now().await;
                    }
                    if kind == CutKind::Reset {
                        // A reset makes the client's OS discard data it has not read yet;
                        // a moment's grace lets the client read what was sent first.
                        tokio::time::sleep(RESET_GRACE).await;
                    }
                    if let Some(error) = cut(kind, connection) {
                        yield Err(error);
                    }
                    return;
                }
                Rendered::End => {
                    recorder.finish();
                    return;
                }
                Rendered::Skipped | Rendered::Stall => {}
            }
        }
    }
}

/// Ends a connection the scripted way. `None` means "end the body normally"; an error
/// makes the HTTP server abandon the body and close the connection mid-message.
pub(crate) fn cut(kind: CutKind, connection: Option<Connection>) -> Option<io::Error> {
    match kind {
        CutKind::EndedCleanly => None,
        CutKind::Disconnected => Some(io::Error::other("chatmock: scripted disconnect")),
        CutKind::Reset => {
            if let Some(connection) = connection {
                connection.reset_on_close();
            }
            Some(io::Error::other("chatmock: scripted connection reset"))
        }
    }
}

/// Splits `bytes` into pieces of at most `size` bytes (all of it at once without a size).
fn fragments(bytes: Bytes, size: Option<usize>) -> impl Iterator<Item = Bytes> {
    let size = size.unwrap_or(usize::MAX).max(1);
    let mut rest = bytes;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        Some(rest.split_to(size.min(rest.len())))
    })
}

/// What one script event becomes.
enum Rendered {
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

/// Turns script events into bytes: the dialect's frames, numbered with SSE ids, with the
/// `retry:` field on the first event, and skipped up to the resume point.
struct Renderer<'a> {
    encoder: Box<dyn Encoder>,
    framing: &'a Framing,
    resume_after: ResumeAfter,
    events_so_far: u64,
    retry_pending: Option<Duration>,
    frames: Vec<Frame>,
}

impl<'a> Renderer<'a> {
    fn new(encoder: Box<dyn Encoder>, framing: &'a Framing, resume_after: ResumeAfter) -> Self {
        Renderer {
            encoder,
            framing,
            resume_after,
            events_so_far: 0,
            retry_pending: framing.reconnection_time,
            frames: Vec::new(),
        }
    }

    /// Whether the stream is still before the resume point: everything there, events,
    /// comments, faults alike, was already played to the client's previous connection.
    fn resuming(&self) -> bool {
        self.events_so_far < self.resume_after
    }

    fn render(&mut self, event: ScriptEvent<'_>, out: &mut BytesMut) -> Rendered {
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
            ScriptEvent::Raw(bytes) => self.frames.push(Frame::Raw(bytes.to_vec())),
            ScriptEvent::Message(message) => self.encoder.encode(message, &mut self.frames),
        }
        let mut written = 0;
        let mut skipped = 0;
        // Taken and put back, so that its allocation serves every event.
        let mut frames = std::mem::take(&mut self.frames);
        for mut frame in frames.drain(..) {
            let resuming = self.resuming();
            if let Frame::Event(sse_event) = &mut frame {
                self.events_so_far += 1;
                if !resuming {
                    if self.framing.event_ids {
                        sse_event.id = Some(self.events_so_far);
                    }
                    sse_event.retry = self.retry_pending.take();
                }
            }
            if resuming {
                skipped += 1;
            } else {
                sse::encode(&frame, self.framing.crlf, out);
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

    /// The dialect's keep-alive, if it has one.
    fn keep_alive(&self) -> Option<Bytes> {
        let frame = self.encoder.keep_alive()?;
        let mut bytes = BytesMut::new();
        sse::encode(&frame, self.framing.crlf, &mut bytes);
        Some(bytes.freeze())
    }
}
