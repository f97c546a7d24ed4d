//! The header limits, the rate limits and the marking of secret headers as one tower layer:
//! see [`RequestChecksLayer`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::response::Response;
use http::header::{AUTHORIZATION, COOKIE};
use http::{HeaderMap, HeaderName, Request};
use tower::{Layer, Service};

use super::dossiers::SECRET_HEADER;
use super::limits::{RequestLimits, refuse_headers};
use super::rate_limit::{RateLimiter, refuse_over_limit};

/// The request headers that carry secrets: the session and other cookies, a bearer token, a
/// dossier's secret. Their values are marked sensitive, so that the `Debug` form of the
/// request's headers (in a log line or a trace) shows `Sensitive` in their place.
const SENSITIVE_HEADERS: [HeaderName; 3] = [
    COOKIE,
    AUTHORIZATION,
    HeaderName::from_static(SECRET_HEADER),
];

/// Refuses a request whose headers are too many or too large (`431`, see
/// [`header_limit_middleware`](super::limits::header_limit_middleware)), then one over its
/// route's rate limit (`429`, see [`rate_limit_middleware`](super::rate_limit::rate_limit_middleware)),
/// in that order; passes every other request on, its [`SENSITIVE_HEADERS`] marked sensitive.
///
/// The same checks as the two middlewares, which each cloned the rest of the stack into a
/// boxed service and boxed their future on every request: both checks need only the request's
/// head, so they run before the inner service is called, and nothing is allocated for a
/// request that passes. The marking was `tower_http`'s `SetSensitiveRequestHeadersLayer`, one
/// more layer that looked each of the three names up in the header map (growing it when it
/// was full); here it is one pass over the headers, without hashing.
#[derive(Clone, Debug)]
pub(crate) struct RequestChecksLayer {
    limits: RequestLimits,
    limiter: Arc<RateLimiter>,
}

impl RequestChecksLayer {
    pub(crate) fn new(limits: RequestLimits, limiter: Arc<RateLimiter>) -> Self {
        Self { limits, limiter }
    }
}

impl<S> Layer<S> for RequestChecksLayer {
    type Service = RequestChecks<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestChecks {
            inner,
            checks: self.clone(),
        }
    }
}

/// The service of a [`RequestChecksLayer`].
#[derive(Clone, Debug)]
pub(crate) struct RequestChecks<S> {
    inner: S,
    checks: RequestChecksLayer,
}

impl<S, B> Service<Request<B>> for RequestChecks<S>
where
    S: Service<Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Checked<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        mark_sensitive(request.headers_mut());
        let refusal = refuse_headers(&request, &self.checks.limits)
            .or_else(|| refuse_over_limit(&self.checks.limiter, &request));
        match refusal {
            Some(response) => Checked::Refused {
                response: Some(response),
            },
            None => Checked::Passed {
                inner: self.inner.call(request),
            },
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`RequestChecks`]: the refusal, or the inner service's answer.
    #[project = CheckedProjection]
    pub(crate) enum Checked<F> {
        Refused { response: Option<Response> },
        Passed { #[pin] inner: F },
    }
}

impl<F, E> Future for Checked<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            CheckedProjection::Passed { inner } => inner.poll(cx),
            CheckedProjection::Refused { response } => match response.take() {
                Some(response) => Poll::Ready(Ok(response)),
                // Polled again after it answered: a bug of the caller, answered as one.
                None => Poll::Ready(Ok(already_answered())),
            },
        }
    }
}

fn mark_sensitive(headers: &mut HeaderMap) {
    for (name, value) in headers.iter_mut() {
        if SENSITIVE_HEADERS.contains(name) {
            value.set_sensitive(true);
        }
    }
}

fn already_answered() -> Response {
    use axum::response::IntoResponse as _;
    http::StatusCode::INTERNAL_SERVER_ERROR.into_response()
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use http::HeaderMap;
    use tower::ServiceExt as _;

    use super::*;
    use crate::clock::SystemClock;
    use crate::portal::rate_limit::RateLimits;

    #[tokio::test]
    async fn the_handler_sees_every_secret_header_marked_sensitive_and_no_other() {
        let limiter = Arc::new(RateLimiter::new(
            RateLimits::default(),
            Arc::new(SystemClock),
        ));
        let app: Router = Router::new()
            .route(
                "/page",
                get(|headers: HeaderMap| async move {
                    let mut marked: Vec<String> = headers
                        .iter()
                        .map(|(name, value)| format!("{name}={}", value.is_sensitive()))
                        .collect();
                    marked.sort();
                    marked.join(" ")
                }),
            )
            .layer(RequestChecksLayer::new(RequestLimits::DEFAULT, limiter));
        let request = Request::get("/page")
            .header(COOKIE, "wardgate-session=a")
            .header(COOKIE, "other=b")
            .header(AUTHORIZATION, "Bearer t")
            .header(SECRET_HEADER, "s")
            .header("accept", "text/html")
            .header("x-request-id", "r")
            .body(Body::empty())
            .unwrap();
        let response = app.oneshot(request).await.unwrap();
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        assert_eq!(
            std::str::from_utf8(&body).unwrap(),
            "accept=false authorization=true cookie=true cookie=true \
             wardgate-dossier-secret=true x-request-id=false"
        );
    }
}
