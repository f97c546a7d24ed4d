//! The header limits and the rate limits as one tower layer: see [`RequestChecksLayer`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::response::Response;
use http::Request;
use tower::{Layer, Service};

use super::limits::{RequestLimits, refuse_headers};
use super::rate_limit::{RateLimiter, refuse_over_limit};

/// Refuses a request whose headers are too many or too large (`431`, see
/// [`header_limit_middleware`](super::limits::header_limit_middleware)), then one over its
/// route's rate limit (`429`, see [`rate_limit_middleware`](super::rate_limit::rate_limit_middleware)),
/// in that order; passes every other request on.
///
/// The same checks as the two middlewares, which each cloned the rest of the stack into a
/// boxed service and boxed their future on every request: both checks need only the request's
/// head, so they run before the inner service is called, and nothing is allocated for a
/// request that passes.
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

    fn call(&mut self, request: Request<B>) -> Self::Future {
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

fn already_answered() -> Response {
    use axum::response::IntoResponse as _;
    http::StatusCode::INTERNAL_SERVER_ERROR.into_response()
}
