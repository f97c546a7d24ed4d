//! The bundled ward portal: pages, staff pages, the JSON API and operations routes, built on
//! the gate ([`crate::integrations::axum`]) and the core modules.
//!
//! Rules this module enforces:
//!
//! 1. Configuration is validated once at start-up ([`config`]); a bad value stops the gateway
//!    with a message naming the environment variable or the file and field.
//! 2. Every response carries the security headers and a request id ([`security`]).
//! 3. Metrics labels are fixed enumerations and route templates only, never personal data
//!    ([`metrics`]).
//! 4. Pages are server-rendered, escaped by construction, Vietnamese first and usable without
//!    JavaScript ([`html`]).
//! 5. The JSON API is described by an OpenAPI 3.1 document ([`openapi`]).
//! 6. Requests are bounded in headers, body, fields and attachments ([`limits`]), and sign-in
//!    and submission are rate-limited per client address ([`rate_limit`]).
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use axum::{Router, middleware, routing::get};
//! use wardgate::clock::SystemRandom;
//! use wardgate::portal::{html, metrics, security};
//!
//! let metrics = Arc::new(metrics::Metrics::new());
//! let public_url = "https://dichvucong.example.vn/".parse()?;
//! let router: Router = Router::new()
//!     .route(html::STYLESHEET_PATH, get(html::stylesheet))
//!     .layer(middleware::from_fn_with_state(metrics.clone(), metrics::metrics_middleware))
//!     .layer(security::security_layer(&public_url, Arc::new(SystemRandom::new())));
//! # let _ = router;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod api;
mod assisted;
mod auth;
mod backoffice;
mod bearer;
mod booking;
pub mod config;
mod connect;
mod counter;
pub mod data_dir;
mod decision_audit;
mod dossiers;
mod draft_claim;
mod drafts;
mod errors;
mod gateway;
pub mod html;
pub mod limits;
mod login_memory;
pub mod metrics;
mod metrics_access;
pub mod openapi;
mod pages;
mod procedure_html;
mod providers;
pub mod rate_limit;
mod referral_page;
mod request_checks;
mod request_trace;
mod resident;
mod router;
pub mod security;
mod serve;
#[cfg(feature = "devidp")]
mod simulated;
mod staff;
mod staff_session;
mod stats_api;
mod stats_page;
mod submit;
mod ticket;
mod ticket_allowance;
mod ticket_owner;
pub mod upstream;

pub use gateway::{Gateway, GatewayBuilder, GatewayError};
pub use metrics_access::{MIN_METRICS_TOKEN_LEN, MetricsToken, WeakMetricsToken, metrics_router};
pub use providers::{
    DEFAULT_PROVIDER_ID, LoginProvider, MAX_PROVIDER_ID_LEN, ProviderId, ProviderIdError,
};
pub use router::{MAX_BODY_BYTES, gateway_router};
pub use serve::{ServeOptions, serve};
pub use stats_api::{MIN_STATS_TOKEN_LEN, StatsToken, WeakStatsToken};
