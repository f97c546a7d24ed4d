//! Who may read `/metrics`: nobody on the public router unless a bearer token is configured;
//! [`metrics_router`] serves it on a separate listener (`WARDGATE_METRICS_BIND`).
//!
//! The metrics name no person, but they tell an outsider how many residents sign in, fail or
//! are referred, and when the provider is down: operations data, not public data.

use std::fmt;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::bearer::BearerSecret;
use super::gateway::Gateway;

/// How long a scrape waits for the store's outbox summary before answering without it: a
/// database that hangs must not take the other metrics down with it.
const OUTBOX_SUMMARY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// The shortest token accepted: guessing must be hopeless.
pub const MIN_METRICS_TOKEN_LEN: usize = 32;

/// A bearer token that opens `/metrics` on the public router. Never printed.
#[derive(Clone)]
pub struct MetricsToken(BearerSecret);

impl fmt::Debug for MetricsToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MetricsToken([redacted])")
    }
}

/// A metrics token shorter than [`MIN_METRICS_TOKEN_LEN`] or with characters outside visible
/// ASCII.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "a metrics token needs at least 32 characters of visible ASCII (for example 32 random bytes \
     in hex)"
)]
pub struct WeakMetricsToken;

impl MetricsToken {
    /// A token, checked for length and characters.
    ///
    /// # Errors
    ///
    /// [`WeakMetricsToken`] when it is shorter than [`MIN_METRICS_TOKEN_LEN`] or holds
    /// characters outside visible ASCII.
    pub fn new(token: &str) -> Result<Self, WeakMetricsToken> {
        BearerSecret::new(token, MIN_METRICS_TOKEN_LEN)
            .map(Self)
            .ok_or(WeakMetricsToken)
    }

    /// Whether `headers` carry `Authorization: Bearer <this token>`, compared in constant time.
    fn admits(&self, headers: &HeaderMap) -> bool {
        self.0.admits(headers)
    }
}

/// A router serving only `GET /metrics`, for a listener apart from the public one (bind it to
/// an address only the monitoring network reaches).
pub fn metrics_router(gateway: Arc<Gateway>) -> Router {
    Router::new()
        .route("/metrics", get(all_metrics))
        .with_state(gateway)
}

async fn all_metrics(State(gw): State<Arc<Gateway>>) -> Response {
    scrape(&gw).await
}

/// The metrics with the outbox gauges read from the store now; without them (and counted in
/// `wardgate_outbox_summary_errors_total`) when the store fails or does not answer in time.
async fn scrape(gw: &Gateway) -> Response {
    match tokio::time::timeout(OUTBOX_SUMMARY_TIMEOUT, gw.store.outbox_summary()).await {
        Ok(Ok(summary)) => gw.metrics.response_with_outbox(&summary, gw.clock.now()),
        Ok(Err(error)) => {
            tracing::warn!(%error, "the outbox could not be read for /metrics");
            gw.metrics.record_outbox_summary_error();
            gw.metrics.response()
        }
        Err(_) => {
            tracing::warn!("the outbox could not be read for /metrics in time");
            gw.metrics.record_outbox_summary_error();
            gw.metrics.response()
        }
    }
}

/// `GET /metrics` on the public router: `404` without a configured token (as if the route did
/// not exist), `401` with a `WWW-Authenticate: Bearer` challenge for a missing or wrong token.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    operation_id = "metrics",
    summary = "Prometheus metrics",
    description = "Decisions by outcome and reason, logins, submissions, referrals, outbox deliveries and backlog (read from the store), HTTP requests and latency by route template. Labels never carry personal data. Not served on the public listener unless `WARDGATE_METRICS_TOKEN` is set (then with `Authorization: Bearer`); `WARDGATE_METRICS_BIND` serves it on a separate listener.",
    security(()),
    responses(
        (status = 200, description = "Prometheus text exposition format 0.0.4.", body = String, content_type = "text/plain; version=0.0.4"),
        (status = 401, description = "A token is configured and the request did not present it.", headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"metrics\"`"))),
        (status = 404, description = "No metrics token is configured: the public listener does not serve metrics."),
    )
)]
pub(crate) async fn public_metrics(State(gw): State<Arc<Gateway>>, headers: HeaderMap) -> Response {
    match &gw.metrics_token {
        None => StatusCode::NOT_FOUND.into_response(),
        Some(token) if token.admits(&headers) => scrape(&gw).await,
        Some(_) => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer realm=\"metrics\"")],
        )
            .into_response(),
    }
}
