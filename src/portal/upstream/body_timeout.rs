//! Time bounds on a body streamed through the proxy, either way.
//!
//! The response timeout ends when the upstream's head arrives; after that, a body that stalls
//! would hold the resident's connection and a pooled upstream connection for ever. [`Timed`]
//! wraps the body: when no frame arrives for the idle timeout, or the whole body takes longer
//! than the total timeout, it yields a [`BodyTimeout`] error. hyper then stops the transfer:
//! the resident's connection is closed before the body's end (a content length not reached, or
//! no last chunk), so the client sees an incomplete body rather than a truncated page it could
//! take for whole; on the request side the upstream connection is dropped.

use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::body::Bytes;
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use tokio::sync::oneshot;
use tokio::time::{Instant, Sleep, sleep, sleep_until};

/// Which body a [`Timed`] wraps, for the log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Direction {
    /// The resident's request body, on its way to the upstream.
    Request,
    /// The upstream's response body, on its way to the resident.
    Response,
}

impl Direction {
    fn as_str(self) -> &'static str {
        match self {
            Self::Request => "request",
            Self::Response => "response",
        }
    }
}

/// The bounds: the longest gap between two frames, and the longest whole body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct BodyTimeouts {
    pub(super) idle: Duration,
    pub(super) total: Duration,
}

/// Why a body was cut off.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum BodyTimeout {
    /// No frame for the idle timeout.
    #[error("no data for the idle timeout of the body")]
    Idle,
    /// The whole body took longer than the total timeout.
    #[error("the body took longer than its total timeout")]
    Total,
}

impl BodyTimeout {
    fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Total => "total",
        }
    }
}

/// A body whose frames must keep coming: see the module documentation.
pub(super) struct Timed<B> {
    inner: B,
    direction: Direction,
    idle_after: Duration,
    idle: Pin<Box<Sleep>>,
    total: Pin<Box<Sleep>>,
    /// Set once the body ended or was cut off: nothing more is polled.
    done: bool,
    /// Told when the body is dropped: hyper drops a request body once it has sent all of it
    /// (at once when there is none), or when the exchange fails.
    on_drop: Option<oneshot::Sender<()>>,
}

impl<B> Timed<B> {
    /// `inner` bounded by `timeouts`, counted from now.
    pub(super) fn new(inner: B, direction: Direction, timeouts: BodyTimeouts) -> Self {
        let now = Instant::now();
        Self {
            inner,
            direction,
            idle_after: timeouts.idle,
            idle: Box::pin(sleep(timeouts.idle)),
            total: Box::pin(sleep_until(now + timeouts.total)),
            done: false,
            on_drop: None,
        }
    }

    /// Tells `dropped` when the body is dropped: for a request body, once it is sent (the
    /// proxy's response timeout starts then).
    pub(super) fn signal_drop(mut self, dropped: oneshot::Sender<()>) -> Self {
        self.on_drop = Some(dropped);
        self
    }

    fn cut(&mut self, why: BodyTimeout) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        self.done = true;
        // Neither the path nor anything else of the request: paths can carry personal data.
        tracing::warn!(
            direction = self.direction.as_str(),
            timeout = why.as_str(),
            "an upstream body stalled or took too long: the transfer was cut off"
        );
        Poll::Ready(Some(Err(axum::Error::new(why))))
    }
}

impl<B> Drop for Timed<B> {
    fn drop(&mut self) {
        if let Some(dropped) = self.on_drop.take() {
            // Nobody waiting any more (the answer came first) is fine.
            let _ = dropped.send(());
        }
    }
}

impl<B> HttpBody for Timed<B>
where
    B: HttpBody<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return match frame {
                Some(Ok(frame)) => {
                    let next = Instant::now() + this.idle_after;
                    this.idle.as_mut().reset(next);
                    Poll::Ready(Some(Ok(frame)))
                }
                Some(Err(error)) => {
                    this.done = true;
                    Poll::Ready(Some(Err(axum::Error::new(error))))
                }
                None => {
                    this.done = true;
                    Poll::Ready(None)
                }
            };
        }
        if this.total.as_mut().poll(cx).is_ready() {
            return this.cut(BodyTimeout::Total);
        }
        ready!(this.idle.as_mut().poll(cx));
        this.cut(BodyTimeout::Idle)
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use http_body_util::BodyExt as _;

    use super::*;

    const BOUNDS: BodyTimeouts = BodyTimeouts {
        idle: Duration::from_millis(400),
        total: Duration::from_secs(2),
    };
    /// How late a timer may fire on a loaded 2-core machine.
    const MARGIN: Duration = Duration::from_millis(700);

    /// A body sending one chunk every `gap`, `left` more times, then ending.
    struct Trickle {
        gap: Duration,
        left: usize,
        next: Pin<Box<Sleep>>,
    }

    fn every(gap: Duration, count: usize) -> Trickle {
        Trickle {
            gap,
            left: count,
            next: Box::pin(sleep(gap)),
        }
    }

    impl HttpBody for Trickle {
        type Data = Bytes;
        type Error = Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            if self.left == 0 {
                return Poll::Ready(None);
            }
            ready!(self.next.as_mut().poll(cx));
            self.left -= 1;
            let next = Instant::now() + self.gap;
            self.next.as_mut().reset(next);
            Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"chunk")))))
        }
    }

    fn cause(error: &axum::Error) -> Option<BodyTimeout> {
        std::error::Error::source(error)
            .and_then(|source| source.downcast_ref::<BodyTimeout>())
            .copied()
    }

    #[tokio::test]
    async fn a_body_steady_within_the_idle_bound_goes_through_whole() {
        // 1.2 s in all, three times the idle bound, but never 400 ms without a chunk.
        let body = Timed::new(
            every(Duration::from_millis(60), 20),
            Direction::Response,
            BOUNDS,
        );
        let bytes = body.collect().await.map(|b| b.to_bytes()).unwrap();
        assert_eq!(bytes.len(), 20 * 5);
    }

    #[tokio::test]
    async fn a_body_that_stalls_is_cut_off_after_the_idle_bound() {
        let started = Instant::now();
        let body = Timed::new(
            every(Duration::from_secs(5), 2),
            Direction::Response,
            BOUNDS,
        );
        let error = body.collect().await.err().unwrap();
        assert_eq!(cause(&error), Some(BodyTimeout::Idle));
        let took = started.elapsed();
        assert!(
            took >= BOUNDS.idle && took < BOUNDS.idle + MARGIN,
            "{took:?}"
        );
    }

    #[tokio::test]
    async fn a_steady_body_longer_than_the_total_bound_is_cut_off_at_it() {
        let started = Instant::now();
        let body = Timed::new(
            every(Duration::from_millis(100), 1000),
            Direction::Request,
            BOUNDS,
        );
        let error = body.collect().await.err().unwrap();
        assert_eq!(cause(&error), Some(BodyTimeout::Total));
        let took = started.elapsed();
        assert!(
            took >= BOUNDS.total && took < BOUNDS.total + MARGIN,
            "{took:?}"
        );
    }
}
