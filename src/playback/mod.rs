//! Playback: plays a script's timeline through a wire format's encoder into the bytes of
//! a response body, at the scripted times, logging progress as it goes.
//!
//! The body is a composition of small parts around one timed stream:
//!
//! - `render.rs`: what bytes each script event becomes: the format's frames, SSE ids
//!   and the `retry:` field, CRLF line endings, and skipping what a resumed stream
//!   already delivered.
//! - `pace.rs`: the timed stream itself: due events leave together, the stream waits
//!   for the next one, and ends as the script says (normally, a cut, a stall).
//! - `keep_alive.rs`: a comment whenever the stream has been silent for an interval.
//! - `fragment.rs`: every write split into pieces of at most n bytes.
//!
//! A new framing fault is one more small part here. Playback never touches the socket:
//! a cut leaves the stream as an `Err(CutKind)`, which the HTTP layer turns into the
//! connection's end.

mod fragment;
mod keep_alive;
mod pace;
mod render;

use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::Either;
use futures_util::Stream;

use crate::recording::ResponseRecorder;
use crate::script::{CutKind, Reply, ReplyKind};
use crate::wire::Encoder;

pub(crate) use render::ResumeAfter;

/// The body of a streamed reply: bytes at the scripted times, ending in `Err` for a cut
/// that breaks the connection. The HTTP server drops the stream when the client goes
/// away, which the recorder logs as a hang-up.
pub(crate) fn stream_body(
    reply: Arc<Reply>,
    encoder: Box<dyn Encoder>,
    resume_after: ResumeAfter,
    recorder: ResponseRecorder,
) -> impl Stream<Item = Result<Bytes, CutKind>> + Send {
    let delivery = match &reply.kind {
        ReplyKind::Stream(script) => script.delivery,
        ReplyKind::HttpError(_) => Default::default(),
    };
    let renderer = render::Renderer::new(encoder, delivery, resume_after);
    // Rendered only for a script that asks for keep-alives: most do not.
    let keep_alive = delivery
        .keep_alive
        .and_then(|interval| Some((interval, renderer.keep_alive()?)));
    // Pinned once here, so the parts around it can be plain `Unpin` wrappers.
    let paced = Box::pin(pace::paced(reply, renderer, recorder));
    let fragmented = match delivery.fragment_size {
        Some(size) => Either::Left(fragment::Fragmented::new(paced, size)),
        None => Either::Right(paced),
    };
    match keep_alive {
        Some((interval, comment)) => {
            Either::Left(keep_alive::KeepAlive::new(fragmented, interval, comment))
        }
        None => Either::Right(fragmented),
    }
}
