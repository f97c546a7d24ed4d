//! Serving a router on a public listener, bounded against slow clients: see [`serve`].

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
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
        let router = router.clone();
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            handle(router.clone(), request, peer, options.request_timeout)
        });
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(options.header_read_timeout)
            .serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // A client that went away or sent garbage: nothing to do but close.
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection closed with an error");
            }
        });
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

async fn handle(
    router: Router,
    mut request: Request<Incoming>,
    peer: SocketAddr,
    timeout: Duration,
) -> Result<Response<Body>, Infallible> {
    request.extensions_mut().insert(ConnectInfo(peer));
    match tokio::time::timeout(timeout, router.oneshot(request)).await {
        Ok(answer) => answer,
        Err(_) => Ok(request_timed_out()),
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
