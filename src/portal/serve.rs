//! Serving a router on a public listener, bounded against slow clients: see [`serve`].

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Extensions, HeaderValue, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tower::ServiceExt as _;

/// The bounds [`serve`] puts on every connection and request.
#[derive(Clone, Copy, Debug)]
pub struct ServeOptions {
    header_read_timeout: Duration,
    request_timeout: Duration,
    shutdown_grace: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl ServeOptions {
    /// Headers within 10 s, a whole request (body read and answer) within 120 s, 30 s for
    /// requests in flight at shutdown.
    ///
    /// 120 s carries the largest upload (8 MiB of attachments) over a slow mobile link of
    /// about 1 Mbit/s; a client slower than that is cut off with `408`.
    pub fn new() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(120),
            shutdown_grace: Duration::from_secs(30),
        }
    }

    /// How long a client may take to send a request's headers, from the moment it starts
    /// (the first request of a connection, or the next one on a kept-alive connection). A
    /// connection that takes longer is closed: this is what stops slowloris clients from
    /// holding connections open.
    #[must_use]
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// How long one request may take once its headers are in, reading its body included; a
    /// request that takes longer is answered `408 Request Timeout` and its connection closed.
    #[must_use]
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// How long requests in flight may still take after shutdown is asked for.
    #[must_use]
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then lets requests in flight
/// finish for the grace period of `options`.
///
/// HTTP/1.1 through hyper with the bounds of [`ServeOptions`]: a header-read timeout per
/// request and a whole-request timeout. Each request carries the peer's
/// [`ConnectInfo<SocketAddr>`](ConnectInfo), which the rate limits key on. The example
/// gateway and the tests serve through this function, so what is tested is what runs.
///
/// Both timeouts of a connection are watched by one timer of its own, which wakes at most once
/// per timeout period: a request only writes its deadline into the connection's
/// deadlines, instead of building runtime timers per request (hyper's header-read timer was
/// registered in the runtime's timer wheel and cancelled for every request).
///
/// # Errors
///
/// Never for a single connection (a failed accept or a broken connection is logged and
/// serving goes on); the result is for symmetry with `axum::serve`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let deadlines = Arc::new(Deadlines::new());
        let service = {
            let router = router.clone();
            let deadlines = Arc::clone(&deadlines);
            let extensions = connection_extensions(peer);
            hyper::service::service_fn(move |request: Request<Incoming>| {
                answer(
                    router.clone(),
                    request,
                    extensions.clone(),
                    Arc::clone(&deadlines),
                    options.request_timeout,
                )
            })
        };
        let connection = http1::Builder::new()
            .timer(HeaderTimer(Arc::clone(&deadlines)))
            .header_read_timeout(options.header_read_timeout)
            .serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(watch_connection(connection, deadlines, options));
    }
    drop(listener);
    if tokio::time::timeout(options.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still in flight after the shutdown grace period");
    }
    Ok(())
}

/// Drives one connection, and its one timer: when the timer fires, the deadlines that passed
/// are marked expired (hyper then answers a late header read with `408` and closes; a late
/// request is answered `408` by [`answer`]) and the timer is set for the next check.
async fn watch_connection<C>(connection: C, deadlines: Arc<Deadlines>, options: ServeOptions)
where
    C: Future<Output = hyper::Result<()>>,
{
    // Any deadline set after a check is at least this far from it, so a check this often
    // notices every deadline on time.
    let period = options
        .header_read_timeout
        .min(options.request_timeout)
        .max(MIN_CHECK_PERIOD);
    let mut connection = std::pin::pin!(connection);
    let timer = tokio::time::sleep(period);
    let mut timer = std::pin::pin!(timer);
    loop {
        tokio::select! {
            biased;
            closed = connection.as_mut() => {
                // A client that went away or sent garbage: nothing to do but close.
                if let Err(error) = closed {
                    tracing::debug!(%error, "connection closed with an error");
                }
                return;
            }
            () = timer.as_mut() => {
                let now = Instant::now();
                let next = deadlines.expire(now).unwrap_or(now + period).min(now + period);
                timer.as_mut().reset(next.into());
            }
        }
    }
}

/// The shortest time between two checks of a connection's deadlines.
const MIN_CHECK_PERIOD: Duration = Duration::from_millis(10);

/// What every request of a connection from `peer` starts with in its extensions: the peer's
/// [`ConnectInfo<SocketAddr>`](ConnectInfo), which the rate limits key on, in a map with room
/// for the seven entries a request gathers (the peer, the request id, axum's original URI,
/// matched path, URL parameters and body limit, the session). Built empty, the map was grown
/// and rehashed at the fourth of them on every request; a copy of this one keeps its room.
fn connection_extensions(peer: SocketAddr) -> Extensions {
    /// A placeholder, to make room.
    #[derive(Clone, Copy)]
    struct Room<const N: usize>;
    let mut extensions = Extensions::new();
    // Four entries grow the map to eight slots (room for seven); removing them keeps it.
    extensions.insert(Room::<0>);
    extensions.insert(Room::<1>);
    extensions.insert(Room::<2>);
    extensions.insert(Room::<3>);
    extensions.remove::<Room<0>>();
    extensions.remove::<Room<1>>();
    extensions.remove::<Room<2>>();
    extensions.remove::<Room<3>>();
    extensions.insert(ConnectInfo(peer));
    extensions
}

/// Answers one request with `router`, or with `408` when the connection's timer finds the
/// request past its deadline (its body still being read, or its answer not ready).
async fn answer(
    router: Router,
    mut request: Request<Incoming>,
    extensions: Extensions,
    deadlines: Arc<Deadlines>,
    timeout: Duration,
) -> Result<Response<Body>, Infallible> {
    request.extensions_mut().extend(extensions);
    let _in_request = InRequest::enter(&deadlines, timeout);
    let mut response = std::pin::pin!(router.oneshot(request));
    std::future::poll_fn(|cx| match response.as_mut().poll(cx) {
        Poll::Ready(answer) => Poll::Ready(answer),
        // The timer's task is this connection's task: after marking the request expired it
        // polls the connection again, which polls this future.
        Poll::Pending if deadlines.request_expired() => Poll::Ready(Ok(request_timed_out())),
        Poll::Pending => Poll::Pending,
    })
    .await
}

/// The deadlines of one connection: of the headers being read, and of the request being
/// answered. Written by hyper (through [`HeaderTimer`]) and by [`answer`], checked by the
/// connection's timer in [`watch_connection`]; all three run in the connection's task, so the
/// atomics are never contended.
#[derive(Debug)]
struct Deadlines {
    /// The origin of the times below, which are nanoseconds after it plus one; 0 is none.
    epoch: Instant,
    headers_due: AtomicU64,
    headers_expired: AtomicBool,
    request_due: AtomicU64,
    request_expired: AtomicBool,
}

impl Deadlines {
    fn new() -> Self {
        Self {
            epoch: Instant::now(),
            headers_due: AtomicU64::new(NONE),
            headers_expired: AtomicBool::new(false),
            request_due: AtomicU64::new(NONE),
            request_expired: AtomicBool::new(false),
        }
    }

    fn encode(&self, at: Instant) -> u64 {
        let nanos = at.saturating_duration_since(self.epoch).as_nanos();
        u64::try_from(nanos)
            .unwrap_or(u64::MAX - 1)
            .saturating_add(1)
    }

    fn decode(&self, value: u64) -> Option<Instant> {
        (value != NONE).then(|| self.epoch + Duration::from_nanos(value - 1))
    }

    fn set_headers_due(&self, at: Instant) {
        self.headers_expired.store(false, Ordering::Relaxed);
        self.headers_due.store(self.encode(at), Ordering::Relaxed);
    }

    fn clear_headers_due(&self) {
        self.headers_due.store(NONE, Ordering::Relaxed);
        self.headers_expired.store(false, Ordering::Relaxed);
    }

    fn headers_expired(&self) -> bool {
        self.headers_expired.load(Ordering::Relaxed)
    }

    fn request_expired(&self) -> bool {
        self.request_expired.load(Ordering::Relaxed)
    }

    /// Marks what is due by `now` as expired; the earliest deadline still to come, if any.
    fn expire(&self, now: Instant) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        for (due, expired) in [
            (&self.headers_due, &self.headers_expired),
            (&self.request_due, &self.request_expired),
        ] {
            match self.decode(due.load(Ordering::Relaxed)) {
                Some(at) if at <= now => expired.store(true, Ordering::Relaxed),
                Some(at) => next = Some(next.map_or(at, |next| next.min(at))),
                None => {}
            }
        }
        next
    }
}

const NONE: u64 = 0;

/// A request being answered: its deadline is set while this lives.
struct InRequest<'a>(&'a Deadlines);

impl<'a> InRequest<'a> {
    fn enter(deadlines: &'a Deadlines, timeout: Duration) -> Self {
        deadlines.request_expired.store(false, Ordering::Relaxed);
        let due = deadlines.encode(Instant::now() + timeout);
        deadlines.request_due.store(due, Ordering::Relaxed);
        Self(deadlines)
    }
}

impl Drop for InRequest<'_> {
    fn drop(&mut self) {
        self.0.request_due.store(NONE, Ordering::Relaxed);
        self.0.request_expired.store(false, Ordering::Relaxed);
    }
}

/// hyper's timer for the header-read timeout of one connection: a "sleep" only writes its
/// deadline into the connection's [`Deadlines`] and is over when the connection's timer marks
/// it expired. hyper makes one per request, so it registers nothing with the runtime.
#[derive(Clone, Debug)]
struct HeaderTimer(Arc<Deadlines>);

impl hyper::rt::Timer for HeaderTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        self.sleep_until(Instant::now() + duration)
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        self.0.set_headers_due(deadline);
        Box::pin(HeaderSleep(Arc::clone(&self.0)))
    }

    fn reset(&self, _sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: Instant) {
        self.0.set_headers_due(new_deadline);
    }
}

/// The header read in progress; see [`HeaderTimer`].
struct HeaderSleep(Arc<Deadlines>);

impl Future for HeaderSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        // No waker to keep: the connection's timer wakes the connection's task, which polls
        // this again.
        if self.0.headers_expired() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl hyper::rt::Sleep for HeaderSleep {}

impl Drop for HeaderSleep {
    fn drop(&mut self) {
        self.0.clear_headers_due();
    }
}

/// `408` in both languages; the connection is closed after it.
fn request_timed_out() -> Response<Body> {
    let mut response = Response::new(Body::from(
        "Yêu cầu gửi quá chậm, vui lòng thử lại.\nThe request took too long; please try again.\n",
    ));
    *response.status_mut() = StatusCode::REQUEST_TIMEOUT;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}
