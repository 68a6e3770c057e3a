//! The timed stream: a script's events leave at their scripted times, events already
//! due leave together, and the stream ends as the script says.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use tokio::time::{Instant, Sleep};

use super::render::{Rendered, Renderer};
use crate::recording::ResponseRecorder;
use crate::script::{CutKind, Reply, ReplyKind};

/// Events already due are written together up to this size: one socket write instead of
/// thousands for a zero-delay script, while a write never grows without bound.
const MAX_WRITE: usize = 64 * 1024;

/// How long a reset waits after the last write, so that a client on loopback reads what
/// was sent before the reset discards it.
const RESET_GRACE: Duration = Duration::from_millis(20);

/// The bytes of the script at their times, then `Err` for a cut that breaks the
/// connection; a stall never ends.
pub(super) fn paced(
    reply: Arc<Reply>,
    mut renderer: Renderer,
    mut recorder: ResponseRecorder,
) -> impl Stream<Item = Result<Bytes, CutKind>> + Send {
    async_stream::stream! {
        let ReplyKind::Stream(script) = &reply.kind else {
            return;
        };
        let mut clock = Schedule::new();
        let mut outbox = Outbox::new();
        let timeline = script.timeline();
        let end_at = timeline.last().map_or(Duration::ZERO, |beat| beat.at);
        let beats = timeline.into_iter().map(|beat| (beat.at, Some(beat.event)));
        for (at, event) in beats.chain([(end_at, None)]) {
            let staged = outbox.buffer.len();
            let rendered = match event {
                Some(event) => renderer.render(event, &mut outbox.buffer),
                None => Rendered::End,
            };
            if let Rendered::Skipped = rendered {
                clock.skip_to(at);
                continue;
            }
            let due = clock.due(at);
            let writes = matches!(rendered, Rendered::Write { .. });
            if !clock.has_passed(due) || !writes || staged >= MAX_WRITE {
                if let Some((bytes, content_events)) = outbox.hand_over(staged) {
                    recorder.sent(content_events);
                    yield Ok(bytes);
                }
            }
            if let Rendered::Stall = rendered {
                recorder.stalled();
                // Only the client hanging up or the server stopping ends this.
                std::future::pending::<()>().await;
            }
            clock.wait_until(due).await;
            match rendered {
                Rendered::Write { content_events } => outbox.content_events += content_events,
                Rendered::Cut(kind) => {
                    recorder.cut(kind);
                    if let Some(cut) = cut_after_grace(kind).await {
                        yield Err(cut);
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

/// When each event of a stream is due, and the waiting for it.
struct Schedule {
    start: Instant,
    /// The clock as last read, or a deadline a timer has passed. It is never ahead of the
    /// real clock, so a beat due by it is due; only a beat that is not is worth reading
    /// the clock again for. A zero-delay script reads the clock only when it writes.
    now: Instant,
    /// Resumed streams skip events without waiting for them: later times count from the
    /// last skipped event.
    skipped_until: Duration,
    /// One timer for the whole stream, reset for every wait: a new one per token would
    /// look up the runtime and register a fresh timer entry each time.
    timer: Pin<Box<Sleep>>,
}

impl Schedule {
    fn new() -> Schedule {
        let start = Instant::now();
        Schedule {
            start,
            now: start,
            skipped_until: Duration::ZERO,
            timer: Box::pin(tokio::time::sleep_until(start)),
        }
    }

    fn skip_to(&mut self, at: Duration) {
        self.skipped_until = at;
    }

    /// The instant an event scripted `at` is due.
    fn due(&self, at: Duration) -> Instant {
        self.start + at.saturating_sub(self.skipped_until)
    }

    /// Whether `due` has come, reading the clock only if the last reading says no.
    fn has_passed(&mut self, due: Instant) -> bool {
        if due > self.now {
            self.now = Instant::now();
        }
        due <= self.now
    }

    async fn wait_until(&mut self, due: Instant) {
        if !self.has_passed(due) {
            self.timer.as_mut().reset(due);
            self.timer.as_mut().await;
            // A timer never fires before its deadline.
            self.now = due;
        }
    }
}

/// Bytes not yet handed to the server: events already due, then (past what is staged)
/// the event being played, rendered in place but not yet due. What is due leaves by
/// `split_to`, without a copy; once the server has written it, the buffer reuses its
/// room, so a steady stream allocates nothing per event.
struct Outbox {
    buffer: BytesMut,
    /// The content events among the staged bytes.
    content_events: usize,
}

/// The outbox's first room: a first write (a role chunk and a token, about 500 bytes in
/// OpenAI's format) and the next event. Grown from empty, a short zero-delay stream
/// reallocated and copied its buffer at every doubling, about 4,000 instructions.
const FIRST_ROOM: usize = 1024;

impl Outbox {
    fn new() -> Outbox {
        Outbox {
            buffer: BytesMut::with_capacity(FIRST_ROOM),
            content_events: 0,
        }
    }

    /// The first `staged` bytes and the content events they hold, if there are any.
    fn hand_over(&mut self, staged: usize) -> Option<(Bytes, usize)> {
        let bytes = (staged > 0).then(|| self.buffer.split_to(staged).freeze());
        if self.buffer.is_empty() {
            // The stream ends or stalls here (perhaps before its first write): keep
            // nothing allocated.
            self.buffer = BytesMut::new();
        }
        Some((bytes?, std::mem::take(&mut self.content_events)))
    }
}

/// What a cut of `kind` leaves the stream with, once what was written before it has had
/// its chance to reach the client: nothing for a clean end, else the cut itself.
async fn cut_after_grace(kind: CutKind) -> Option<CutKind> {
    if kind == CutKind::EndedCleanly {
        return None;
    }
    // Let the server flush the headers and everything written so far, so the cut comes
    // after them, as it does in the script.
    tokio::task::yield_now().await;
    if kind == CutKind::Reset {
        // A reset makes the client's OS discard data it has not read yet; a moment's
        // grace lets the client read what was sent first.
        tokio::time::sleep(RESET_GRACE).await;
    }
    Some(kind)
}
