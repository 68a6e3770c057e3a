//! Fragmented writes: every piece of the body is at most n bytes, written on its own.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;

/// Splits each chunk of `inner` into pieces of at most `size` bytes, and pauses after
/// each piece so that the server writes it before the next: events (and JSON chunks, and
/// UTF-8 characters) then arrive split across the client's reads.
pub(super) struct Fragmented<S> {
    inner: S,
    size: usize,
    /// What is left of the chunk being split.
    rest: Bytes,
    /// A piece went out on the last poll; the next returns `Pending` once, so the server
    /// flushes it.
    flush: bool,
}

impl<S> Fragmented<S> {
    pub(super) fn new(inner: S, size: usize) -> Self {
        Fragmented {
            inner,
            size: size.max(1),
            rest: Bytes::new(),
            flush: false,
        }
    }
}

impl<S, E> Stream for Fragmented<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    type Item = Result<Bytes, E>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if std::mem::take(&mut this.flush) {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        while this.rest.is_empty() {
            match Pin::new(&mut this.inner).poll_next(cx) {
                Poll::Ready(Some(Ok(chunk))) => this.rest = chunk,
                other => return other,
            }
        }
        let piece = this.rest.split_to(this.size.min(this.rest.len()));
        this.flush = true;
        Poll::Ready(Some(Ok(piece)))
    }
}
