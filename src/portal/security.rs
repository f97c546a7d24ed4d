//! Security headers and request ids on every response.
//!
//! Rules this module enforces:
//!
//! 1. Every response carries a strict `Content-Security-Policy` (no scripts, styles only from
//!    this origin, forms only to this origin, never framed), `X-Content-Type-Options: nosniff`,
//!    `Referrer-Policy: no-referrer`, `X-Frame-Options: DENY`,
//!    `Cross-Origin-Opener-Policy: same-origin` and a `Permissions-Policy` that turns off the
//!    powerful features pages never use.
//! 2. `Strict-Transport-Security` is sent only when the public URL is https: on plain http
//!    browsers ignore it, and on a loopback development host it would pin `localhost`.
//! 3. A response without its own `Cache-Control` gets `no-store`: pages show personal data and
//!    must not be cached by the browser or a proxy. Static assets (the stylesheet) set their own
//!    `Cache-Control`, which is kept.
//! 4. Every request has an `x-request-id`: a well-formed incoming one (1–64 characters of
//!    `A–Z a–z 0–9 . _ -`) is kept, anything else is replaced by a fresh one, so a client
//!    cannot inject text into logs. Fresh ids are 16 base64url characters: a random prefix per
//!    process, then a keyed hash of a per-process counter, so they neither repeat in practice
//!    nor tell a client how many requests the gateway served. The id is put in the request
//!    headers and extensions ([`RequestId`]) for handlers and logs, and echoed on the
//!    response.
//! 5. A header a handler already set is kept, so a handler can tighten a policy for its
//!    response; the request id is always the one chosen by rule 4.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use axum::{Router, body::Body, routing::get};
//! use tower::ServiceExt as _;
//! use wardgate::clock::SystemRandom;
//! use wardgate::portal::security::security_layer;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let public_url = "https://dichvucong.example.vn/".parse()?;
//! let app: Router = Router::new()
//!     .route("/healthz", get(|| async { "ok" }))
//!     .layer(security_layer(&public_url, Arc::new(SystemRandom::new())));
//!
//! let response = app.oneshot(http::Request::get("/healthz").body(Body::empty())?).await?;
//! assert_eq!(response.headers()["referrer-policy"], "no-referrer");
//! assert_eq!(response.headers()["strict-transport-security"], "max-age=31536000");
//! assert!(response.headers().contains_key("x-request-id"));
//! # Ok(()) }
//! ```

use std::fmt;
use std::future::Future;
use std::hash::{BuildHasher as _, RandomState};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use axum::extract::MatchedPath;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::header::Entry;
use http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, HeaderName, REFERRER_POLICY, STRICT_TRANSPORT_SECURITY,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use http::{HeaderMap, HeaderValue, Request, Response};
use tower::{Layer, Service};
use url::Url;

pub use tower_http::request_id::RequestId;

use crate::clock::Random;

/// The request id header.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The Content Security Policy of every response: pages have no scripts and no inline styles.
pub const CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'none'; style-src 'self'; \
     img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The Permissions Policy: features the pages never use are off.
pub const PERMISSIONS_POLICY_VALUE: &str =
    "camera=(), geolocation=(), microphone=(), payment=(), usb=()";

/// The HSTS value sent over https: one year.
pub const STRICT_TRANSPORT_SECURITY_VALUE: &str = "max-age=31536000";

/// The default `Cache-Control`.
pub const NO_STORE: &str = "no-store";

const MAX_REQUEST_ID_LEN: usize = 64;

const PERMISSIONS_POLICY: HeaderName = HeaderName::from_static("permissions-policy");
const CROSS_ORIGIN_OPENER_POLICY: HeaderName =
    HeaderName::from_static("cross-origin-opener-policy");

/// The layer setting security headers and request ids, for a gateway served at `public_url`.
///
/// Add it last (outermost) with [`Router::layer`](axum::Router::layer), after a `TraceLayer`,
/// so the request id exists when the trace span is made (see [`request_span`]).
pub fn security_layer(public_url: &Url, random: Arc<dyn Random>) -> SecurityLayer {
    SecurityLayer {
        settings: Arc::new(Settings {
            headers: security_headers(public_url.scheme() == "https"),
            ids: RequestIds::new(random.as_ref()),
        }),
    }
}

/// A `tracing` span for a request naming its method, route template and request id — never its
/// query string (a callback's `code` and `state` must not reach the logs).
///
/// For `tower_http::trace::TraceLayer::new_for_http().make_span_with(request_span)`.
pub fn request_span<B>(request: &Request<B>) -> tracing::Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    // The security layer's extension, else the header (a type lookup is cheaper than a
    // header name's).
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .map(RequestId::header_value)
        .or_else(|| request.headers().get(REQUEST_ID_HEADER))
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    tracing::info_span!(
        "request",
        method = %request.method(),
        route,
        request_id,
    )
}

/// Sets security headers and request ids; made by [`security_layer`].
#[derive(Clone, Debug)]
pub struct SecurityLayer {
    settings: Arc<Settings>,
}

impl<S> Layer<S> for SecurityLayer {
    type Service = SecurityHeaders<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SecurityHeaders {
            inner,
            settings: self.settings.clone(),
        }
    }
}

/// The service made by [`SecurityLayer`].
#[derive(Clone, Debug)]
pub struct SecurityHeaders<S> {
    inner: S,
    settings: Arc<Settings>,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for SecurityHeaders<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = SecurityHeadersFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        // One lookup of the header, whether it is kept or replaced.
        let id = match request.headers_mut().entry(REQUEST_ID_HEADER) {
            Entry::Occupied(mut sent) => {
                if !is_well_formed_request_id(sent.get()) {
                    sent.insert(self.settings.ids.next());
                }
                sent.get().clone()
            }
            Entry::Vacant(none) => none.insert(self.settings.ids.next()).clone(),
        };
        request.extensions_mut().insert(RequestId::new(id.clone()));
        SecurityHeadersFuture {
            inner: self.inner.call(request),
            settings: Arc::clone(&self.settings),
            id: Some(id),
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`SecurityHeaders`]: sets the headers on the inner service's answer.
    #[derive(Debug)]
    pub struct SecurityHeadersFuture<F> {
        #[pin]
        inner: F,
        settings: Arc<Settings>,
        id: Option<HeaderValue>,
    }
}

impl<F, ResBody, E> Future for SecurityHeadersFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = std::task::ready!(this.inner.poll(cx))?;
        if let Some(id) = this.id.take() {
            set_headers(response.headers_mut(), &this.settings.headers, id);
        }
        Poll::Ready(Ok(response))
    }
}

/// What the layer's services share.
struct Settings {
    /// The headers of rules 1 to 3, built once: every response starts from a copy.
    headers: HeaderMap,
    ids: RequestIds,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

/// The ids of requests that came without a well-formed one.
///
/// A request id only correlates log lines and a client's report: it is no secret, but it
/// should not count the gateway's traffic for anyone who looks. Drawing 12 random bytes per
/// request cost a `getrandom` system call each; instead each process draws a random prefix
/// once and hashes a counter with SipHash under a key of its own (`RandomState`), which costs
/// a few dozen instructions and no system call.
struct RequestIds {
    /// Four random bytes: the first five characters tell two processes' ids apart.
    prefix: [u8; 4],
    key: RandomState,
    counter: AtomicU64,
}

impl RequestIds {
    fn new(random: &dyn Random) -> Self {
        let mut prefix = [0u8; 4];
        // Without a random prefix the ids stay unique within the process (the hash is keyed by
        // the standard library's own random keys); only telling processes apart gets harder.
        if random.fill(&mut prefix).is_err() {
            tracing::warn!("no random prefix for request ids: ids of processes may look alike");
        }
        Self {
            prefix,
            key: RandomState::new(),
            counter: AtomicU64::new(0),
        }
    }

    /// A 16-character base64url id, encoded on the stack: the header value is the only
    /// allocation.
    fn next(&self) -> HeaderValue {
        let count = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut raw = [0u8; 12];
        let (prefix, hashed) = raw.split_at_mut(4);
        prefix.copy_from_slice(&self.prefix);
        hashed.copy_from_slice(&self.key.hash_one(count).to_le_bytes());
        let mut text = [0u8; 16];
        URL_SAFE_NO_PAD
            .encode_slice(raw, &mut text)
            .ok()
            .and_then(|len| HeaderValue::from_bytes(text.get(..len)?).ok())
            // Unreachable (16 characters fit, and base64url is a valid header value); an id
            // that says so is better than a panic.
            .unwrap_or(const { HeaderValue::from_static("invalid") })
    }
}

fn is_well_formed_request_id(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    (1..=MAX_REQUEST_ID_LEN).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The headers of rules 1 to 3, with HSTS when `hsts`.
fn security_headers(hsts: bool) -> HeaderMap {
    // Room for the handler's own headers and the request id: a copy keeps it.
    let mut headers = HeaderMap::with_capacity(16);
    let values = [
        (CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY_VALUE),
        (X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (REFERRER_POLICY, "no-referrer"),
        (X_FRAME_OPTIONS, "DENY"),
        (CROSS_ORIGIN_OPENER_POLICY, "same-origin"),
        (PERMISSIONS_POLICY, PERMISSIONS_POLICY_VALUE),
        (CACHE_CONTROL, NO_STORE),
    ];
    for (name, value) in values {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if hsts {
        headers.insert(
            STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(STRICT_TRANSPORT_SECURITY_VALUE),
        );
    }
    headers
}

/// Gives a response the `prepared` security headers and the request id `id`, keeping every
/// header its handler set (rule 5) except a request id.
///
/// The response's headers are moved into a copy of `prepared` rather than the other way
/// round: a handler sets two or three headers, so this hashes two or three names where
/// looking up each of the eight security headers in the handler's map hashed eight (the copy
/// itself hashes nothing).
fn set_headers(headers: &mut HeaderMap, prepared: &HeaderMap, id: HeaderValue) {
    let own = std::mem::replace(headers, prepared.clone());
    // `into_iter` names a header once, then gives its further values without a name.
    let mut name: Option<HeaderName> = None;
    for (next, value) in own {
        let first = next.is_some();
        if first {
            name = next;
        }
        match &name {
            Some(name) if *name == REQUEST_ID_HEADER => {}
            // The handler's first value replaces the prepared one, if any.
            Some(name) if first => {
                headers.insert(name.clone(), value);
            }
            Some(name) => {
                headers.append(name.clone(), value);
            }
            None => {}
        }
    }
    headers.insert(REQUEST_ID_HEADER, id);
}

#[cfg(test)]
mod tests;
