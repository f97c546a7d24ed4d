//! The session layer and the extractors that read what it found.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower::{Layer, Service};

use super::Gate;
use super::guard::{self, Require};
use crate::policy::Grant;
use crate::session::Session;

/// What the [`SessionLayer`] found for one request, in its extensions.
#[derive(Clone, Debug)]
pub(super) struct GateRequest {
    pub(super) gate: Arc<Gate>,
    pub(super) session: Option<Session>,
}

/// A tower layer that opens the sealed session cookie once per request and puts it into the
/// request's extensions for the extractors and guards.
///
/// Timeouts are checked on opening; when the session is older than the configured
/// [`touch_interval`](crate::session::SessionConfig::touch_interval), its idle timeout slides:
/// the response carries the session again, unless a handler set or cleared the session cookie
/// itself.
#[derive(Clone, Debug)]
pub struct SessionLayer {
    gate: Arc<Gate>,
}

impl SessionLayer {
    /// The layer of `gate` (also [`Gate::session_layer`]).
    pub fn new(gate: Arc<Gate>) -> Self {
        Self { gate }
    }
}

impl<S> Layer<S> for SessionLayer {
    type Service = SessionService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SessionService {
            inner,
            gate: Arc::clone(&self.gate),
        }
    }
}

/// The service of a [`SessionLayer`].
#[derive(Clone, Debug)]
pub struct SessionService<S> {
    inner: S,
    gate: Arc<Gate>,
}

impl<S, B> Service<Request<B>> for SessionService<S>
where
    S: Service<Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = SessionFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let sessions = self.gate.sessions();
        let mut session = sessions.open(request.headers());
        let mut refreshed = None;
        if let Some(session) = &mut session {
            let now = sessions.clock().now();
            if sessions.config().needs_touch(session, now) {
                session.touch(now);
                refreshed = sessions.set_cookie(session).map(|cookie| Refreshed {
                    cookie,
                    name: sessions.cookie_name(),
                });
            }
        }
        request.extensions_mut().insert(GateRequest {
            gate: Arc::clone(&self.gate),
            session,
        });
        // Called in place (the service that was polled ready): nothing of the stack is cloned
        // or boxed per request.
        SessionFuture {
            inner: self.inner.call(request),
            refreshed,
        }
    }
}

/// The session cookie sent again because the session's idle timeout slid.
#[derive(Debug)]
struct Refreshed {
    cookie: String,
    name: &'static str,
}

pin_project_lite::pin_project! {
    /// The future of a [`SessionService`]: the inner answer, with the refreshed session cookie
    /// when the session slid and the handler did not set or clear the cookie itself.
    #[derive(Debug)]
    pub struct SessionFuture<F> {
        #[pin]
        inner: F,
        refreshed: Option<Refreshed>,
    }
}

impl<F, E> Future for SessionFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = std::task::ready!(this.inner.poll(cx))?;
        if let Some(Refreshed { cookie, name }) = this.refreshed.take() {
            let handler_set_it = response
                .headers()
                .get_all(header::SET_COOKIE)
                .iter()
                .any(|v| {
                    v.as_bytes()
                        .strip_prefix(name.as_bytes())
                        .is_some_and(|rest| rest.starts_with(b"="))
                });
            if !handler_set_it && let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().append(header::SET_COOKIE, value);
            }
        }
        Poll::Ready(Ok(response))
    }
}

/// An extractor or guard ran without the [`SessionLayer`] (or a guard's extractor without the
/// guard): a wiring mistake, answered 500 with a message that says how to fix it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MissingLayer {
    /// No [`SessionLayer`] in front of the route.
    Session,
    /// No [`Require`] guard in front of the route.
    Guard,
}

impl MissingLayer {
    /// What to add.
    pub const fn message(self) -> &'static str {
        match self {
            Self::Session => {
                "the wardgate session layer is missing: add `.layer(gate.session_layer())` to \
                 the router, outside the routes that read the session"
            }
            Self::Guard => {
                "the wardgate guard is missing: add `.route_layer(Require::level(..))` in front \
                 of the routes that extract `Granted`"
            }
        }
    }
}

impl IntoResponse for MissingLayer {
    fn into_response(self) -> Response {
        tracing::error!("{}", self.message());
        (StatusCode::INTERNAL_SERVER_ERROR, self.message()).into_response()
    }
}

pub(super) fn gate_request(parts: &Parts) -> Result<&GateRequest, MissingLayer> {
    parts
        .extensions
        .get::<GateRequest>()
        .ok_or(MissingLayer::Session)
}

/// The verified session of a signed-in resident.
///
/// Without one, the request is answered as the policy answers a resident with no session:
/// a redirect to sign in (back to this page) for browsers, an RFC 9470 challenge for JSON
/// clients. Needs the [`SessionLayer`].
#[derive(Clone, Debug)]
pub struct VerifiedSession(pub Session);

impl<S: Send + Sync> FromRequestParts<S> for VerifiedSession {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let found = gate_request(parts).map_err(IntoResponse::into_response)?;
        if let Some(session) = &found.session {
            return Ok(Self(session.clone()));
        }
        let gate = Arc::clone(&found.gate);
        Err(guard::answer(&gate, &Require::signed_in(), parts, None).await)
    }
}

/// The resident's session, if the request carries a valid one. Needs the [`SessionLayer`].
#[derive(Clone, Debug)]
pub struct OptionalSession(pub Option<Session>);

impl<S: Send + Sync> FromRequestParts<S> for OptionalSession {
    type Rejection = MissingLayer;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(gate_request(parts)?.session.clone()))
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for VerifiedSession {
    type Rejection = MissingLayer;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(gate_request(parts)?.session.clone().map(Self))
    }
}

/// The grant of the [`Require`] guard in front of the route: the verified level, and until
/// when it holds. Needs the guard.
#[derive(Clone, Debug)]
pub struct Granted(pub Grant);

impl<S: Send + Sync> FromRequestParts<S> for Granted {
    type Rejection = MissingLayer;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Grant>()
            .cloned()
            .map(Self)
            .ok_or(MissingLayer::Guard)
    }
}
