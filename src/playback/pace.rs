//! The timed stream: a script's events leave at their scripted times, events already
//! due leave together, and the stream ends as the script says.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::Stream;
use tokio::time::Instant;

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
        let start = Instant::now();
        // The clock as last read, or a deadline a timer has passed. It is never ahead of
        // the real clock, so a beat due by it is due; only a beat that is not is worth
        // reading the clock again for. A zero-delay script reads the clock only when it
        // writes.
        let mut now = start;
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
            let writes = matches!(rendered, Rendered::Write { .. });
            if (due > now || !writes || staged >= MAX_WRITE) && staged > 0 {
                // Hand over what is due; the event just rendered stays for later.
                let bytes = buffer.split_to(staged).freeze();
                if buffer.is_empty() {
                    // The stream ends or stalls here: keep nothing allocated.
                    buffer = BytesMut::new();
                }
                recorder.sent(std::mem::take(&mut pending_content));
                yield Ok(bytes);
            }
            if let Rendered::Stall = rendered {
                recorder.stalled();
                // Only the client hanging up or the server stopping ends this.
                std::future::pending::<()>().await;
            }
            if due > now {
                now = Instant::now();
            }
            if due > now {
                timer.as_mut().reset(due);
                timer.as_mut().await;
                // A timer never fires before its deadline.
                now = due;
            }
            match rendered {
                Rendered::Write { content_events } => pending_content += content_events,
                Rendered::Cut(kind) => {
                    recorder.cut(kind);
                    if kind == CutKind::EndedCleanly {
                        return;
                    }
                    // Let the server flush the headers and everything written so far, so
                    // the cut comes after them, as it does in the script.
                    tokio::task::yield_now().await;
                    if kind == CutKind::Reset {
                        // A reset makes the client's OS discard data it has not read yet;
                        // a moment's grace lets the client read what was sent first.
                        tokio::time::sleep(RESET_GRACE).await;
                    }
                    yield Err(kind);
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
