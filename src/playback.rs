//! Playback: plays a reply's timeline through a dialect's encoder into the bytes of a
//! response body, at the scripted times, logging progress as it goes.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Bytes;
use futures::Stream;
use tokio::time::Instant;

use crate::recording::ResponseRecorder;
use crate::reply::Reply;
use crate::sse::{self, Frame};
use crate::wire::Encoder;

/// Events already due are written together up to this size: one socket write instead of
/// thousands for a zero-delay script, while a write never grows without bound.
const MAX_WRITE: usize = 64 * 1024;

/// The body of a streamed reply. The stream is dropped by the HTTP server when the client
/// goes away, which the recorder logs as a hang-up.
pub(crate) fn stream_body(
    reply: Arc<Reply>,
    mut encoder: Box<dyn Encoder>,
    mut recorder: ResponseRecorder,
) -> impl Stream<Item = Result<Bytes, Infallible>> + Send {
    async_stream::stream! {
        let start = Instant::now();
        let mut timeline = reply.timeline().peekable();
        let mut frames: Vec<Frame> = Vec::new();
        let mut bytes: Vec<u8> = Vec::new();
        while let Some(beat) = timeline.next() {
            let due = start + beat.at;
            // Sleeping only when the time is really ahead keeps a zero-delay script from
            // waiting for the timer wheel's next tick.
            if due > Instant::now() {
                tokio::time::sleep_until(due).await;
            }
            let mut content_events = 0;
            let mut next = Some(beat);
            while let Some(beat) = next {
                content_events += usize::from(beat.event.is_content());
                encoder.encode(beat.event, &mut frames);
                for frame in frames.drain(..) {
                    sse::encode(&frame, &mut bytes);
                }
                next = if bytes.len() < MAX_WRITE {
                    timeline.next_if(|beat| start + beat.at <= Instant::now())
                } else {
                    None
                };
            }
            recorder.sent(content_events);
            // Some events have no frame in some dialects; an empty chunk is not worth a
            // write.
            if !bytes.is_empty() {
                yield Ok(Bytes::from(std::mem::take(&mut bytes)));
            }
        }
        recorder.finish();
    }
}
