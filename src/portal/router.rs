//! The ward gateway's router: every route of the portal, with its layers.

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use tower::ServiceBuilder;

use super::assisted::AssistedLayer;
use super::errors::ErrorPagesLayer;
use super::gateway::Gateway;
use super::html::{STYLESHEET_PATH, stylesheet};
use super::limits::{UploadPermits, upload_concurrency_middleware};
use super::metrics::MetricsLayer;
use super::openapi::OPENAPI_PATH;
use super::request_checks::RequestChecksLayer;
use super::request_trace::RequestTraceLayer;
use super::security::security_layer;
use super::{
    api, backoffice, dossiers, drafts, login_memory, pages, staff, stats_api, submit, upstream,
};
use crate::integrations::axum::{auth_router, login_route, logout_route};

/// Largest request body accepted anywhere (dossiers are small JSON or form posts).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// The complete ward portal: pages, sign-in, the JSON API and the operations routes.
///
/// Tests drive it with `tower::ServiceExt::oneshot`, no socket needed; the example gateway
/// serves exactly this router.
pub fn gateway_router(gateway: Arc<Gateway>) -> Router {
    let metrics = Arc::clone(gateway.metrics());
    let security = security_layer(&gateway.public_url, Arc::clone(&gateway.random));
    let rate_limiter = Arc::clone(gateway.rate_limiter());
    let limits = *gateway.limits();
    let gate = Arc::clone(gateway.gate());
    let assisted = Arc::clone(&gateway);
    // The submission routes accept attachments and read their bodies with this limit, a few
    // at a time (the permits are shared by both routes).
    let uploads = (
        from_fn_with_state(UploadPermits::default(), upload_concurrency_middleware),
        DefaultBodyLimit::max(limits.upload_body_bytes()),
    );
    Router::new()
        .route("/", get(pages::home))
        .route("/procedures/{code}", get(pages::procedure))
        // The gate's auth routes, as any application mounts them, and the portal's historical
        // `/login` and `/logout` on the same handlers.
        .nest(gate.auth_prefix(), auth_router(&gate))
        .route("/login", login_route(&gate))
        .route("/logout", logout_route(&gate))
        .route("/api/procedures", get(api::procedures))
        .route("/api/procedures/{code}/decision", get(api::decision))
        .route(
            "/api/procedures/{code}/submissions",
            post(submit::submit_json).layer(uploads.clone()),
        )
        .route(
            "/procedures/{code}/submit",
            post(submit::submit_form).layer(uploads),
        )
        .route("/procedures/{code}/draft", post(drafts::save_draft))
        .route("/procedures/{code}/claim", post(super::draft_claim::claim))
        .route("/receipts/{code}", get(submit::receipt_page))
        .route("/api/dossiers/{code}", get(dossiers::status_json))
        .route("/api/backoffice/status", post(backoffice::report_status))
        .route("/.well-known/jwks.json", get(api::jwks))
        .route(OPENAPI_PATH, get(api::openapi))
        .route("/healthz", get(api::healthz))
        .route("/readyz", get(api::readyz))
        .route("/metrics", get(super::metrics_access::public_metrics))
        .route(STYLESHEET_PATH, get(stylesheet))
        .merge(pages::routes())
        .merge(staff::routes(&gateway))
        .merge(super::assisted::routes(&gateway))
        .merge(dossiers::routes())
        .route("/api/stats", get(stats_api::stats))
        .merge(login_memory::routes())
        // Gateway mode: nginx `auth_request`, and the upstream behind every other path.
        .route(upstream::AUTH_CHECK_PATH, get(upstream::auth_check))
        .fallback(upstream::fallback)
        .with_state(gateway)
        // One stacked layer, outermost first: `Router::layer` wraps every route in a boxed
        // service per call and clones the whole chain on every request, so six calls cost six
        // boxes and six clones per request where one stack costs one.
        .layer(
            ServiceBuilder::new()
                .layer(security)
                .layer(MetricsLayer::new(metrics))
                .layer(RequestTraceLayer)
                // Header limits, then rate limits (the two checks as one layer), and the
                // cookies, `Authorization` and a dossier's secret marked sensitive.
                .layer(RequestChecksLayer::new(limits, rate_limiter))
                .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
                // axum's own plain-text rejections become vi/en pages or JSON problems.
                .layer(ErrorPagesLayer)
                // On an assisted device, ends an idle resident session before it is opened.
                .layer(AssistedLayer::new(assisted))
                // Opens the sealed session once; pages and the API read it with the gate's
                // extractors.
                .layer(gate.session_layer()),
        )
}
