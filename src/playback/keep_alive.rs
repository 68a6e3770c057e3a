//! Keep-alive comments: what a proxy sends while a stream is silent.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use tokio::time::{Instant, Sleep};

/// Yields `comment` whenever `inner` has yielded nothing for `interval`, stalls
/// included. The pattern of axum's `KeepAliveStream`.
pub(super) struct KeepAlive<S> {
    inner: S,
    interval: Duration,
    comment: Bytes,
    silence: Pin<Box<Sleep>>,
}

impl<S> KeepAlive<S> {
    pub(super) fn new(inner: S, interval: Duration, comment: Bytes) -> Self {
        KeepAlive {
            inner,
            interval,
            comment,
            silence: Box::pin(tokio::time::sleep(interval)),
        }
    }
}

impl<S, E> Stream for KeepAlive<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    type Item = Result<Bytes, E>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if let Poll::Ready(item) = Pin::new(&mut this.inner).poll_next(cx) {
            this.silence.as_mut().reset(Instant::now() + this.interval);
            return Poll::Ready(item);
        }
        ready!(this.silence.as_mut().poll(cx));
        this.silence.as_mut().reset(Instant::now() + this.interval);
        Poll::Ready(Some(Ok(this.comment.clone())))
    }
}
