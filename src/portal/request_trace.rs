//! The request's `tracing` span, as one small tower layer: see [`RequestTraceLayer`].

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use http::{Request, Response};
use tower::{Layer, Service};
use tracing::Span;

use super::security::request_span;

/// Runs each request's handler inside its [`request_span`] (method, route template, request
/// id), so every event logged while it is answered carries the request id; logs `response
/// failed` at `ERROR` for a `5xx` answer and `finished processing request` at `DEBUG`.
///
/// What `tower_http::trace::TraceLayer` with `request_span` did, without what the portal never
/// used and paid for on every request: the span entered again for every poll of the response
/// body (a lock of the log filter each time), a clone of the span for the body, and three
/// clock readings. The body is plain bytes and logs nothing.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RequestTraceLayer;

impl<S> Layer<S> for RequestTraceLayer {
    type Service = RequestTrace<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestTrace { inner }
    }
}

/// The service of a [`RequestTraceLayer`].
#[derive(Clone, Debug)]
pub(crate) struct RequestTrace<S> {
    inner: S,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RequestTrace<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Error: std::fmt::Display,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = Traced<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let span = request_span(&request);
        let inner = {
            let _entered = span.enter();
            self.inner.call(request)
        };
        Traced {
            inner,
            span,
            started: Instant::now(),
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of a [`RequestTrace`]: the inner future, polled inside the request's span.
    #[derive(Debug)]
    pub(crate) struct Traced<F> {
        #[pin]
        inner: F,
        span: Span,
        started: Instant,
    }
}

impl<F, ResBody, E> Future for Traced<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
    E: std::fmt::Display,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _entered = this.span.enter();
        let answer = std::task::ready!(this.inner.poll(cx));
        let latency_ms = this.started.elapsed().as_secs_f64() * 1000.0;
        match &answer {
            Ok(response) if response.status().is_server_error() => {
                tracing::error!(
                    status = response.status().as_u16(),
                    latency_ms,
                    "response failed"
                );
            }
            Ok(response) => {
                tracing::debug!(
                    status = response.status().as_u16(),
                    latency_ms,
                    "finished processing request"
                );
            }
            Err(error) => tracing::error!(%error, latency_ms, "response failed"),
        }
        Poll::Ready(answer)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use http::StatusCode;
    use tower::ServiceExt as _;

    use super::*;
    use crate::portal::security::REQUEST_ID_HEADER;

    /// Log lines written by the subscriber of one test.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
        type Writer = Self;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    /// The log of one request to `uri`, at `INFO` as the example gateway logs.
    async fn log_of(uri: &str) -> (StatusCode, String) {
        let captured = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(captured.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish();
        let _default = tracing::subscriber::set_default(subscriber);
        let app: Router = Router::new()
            .route(
                "/dossiers/{code}",
                get(|| async {
                    tracing::warn!("handler event");
                    "ok"
                }),
            )
            .route(
                "/broken",
                get(|| async { StatusCode::INTERNAL_SERVER_ERROR }),
            )
            .layer(RequestTraceLayer);
        let request = Request::get(uri)
            .header(REQUEST_ID_HEADER, "req-42")
            .body(Body::empty())
            .unwrap();
        let status = app.oneshot(request).await.unwrap().status();
        let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        (status, log)
    }

    #[tokio::test]
    async fn events_of_the_handler_carry_the_request_id_and_route_but_not_the_query() {
        let (status, log) = log_of("/dossiers/HS-1?secret=SECRET").await;
        assert_eq!(status, StatusCode::OK);
        let line = log
            .lines()
            .find(|line| line.contains("handler event"))
            .unwrap_or_else(|| panic!("no handler event in {log:?}"));
        assert!(line.contains("request_id=\"req-42\""), "{line}");
        assert!(line.contains("route=\"/dossiers/{code}\""), "{line}");
        assert!(line.contains("method=GET"), "{line}");
        assert!(!log.contains("SECRET") && !log.contains("HS-1"), "{log}");
        // A success logs nothing else at INFO.
        assert_eq!(log.lines().count(), 1, "{log}");
    }

    #[tokio::test]
    async fn a_server_error_is_logged_with_its_request_id() {
        let (status, log) = log_of("/broken").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        let line = log
            .lines()
            .find(|line| line.contains("response failed"))
            .unwrap_or_else(|| panic!("no failure logged in {log:?}"));
        assert!(line.contains("ERROR"), "{line}");
        assert!(line.contains("status=500"), "{line}");
        assert!(line.contains("request_id=\"req-42\""), "{line}");
    }
}
