//! The gate: put level-2 sign-in in front of routes of any axum application.
//!
//! Four pieces, each usable alone:
//!
//! - [`SessionLayer`] opens the sealed session cookie once per request (seal, name, purpose and
//!   both timeouts checked; the idle timeout slides) and puts it into the request's extensions.
//! - [`VerifiedSession`] / [`OptionalSession`] give a handler the verified session;
//!   [`Granted`] gives it the guard's grant (the verified level). Without the layer they answer
//!   `500` with a message that says what to add.
//! - [`Require`] guards a group of routes (`route_layer`) and answers by the policy's
//!   [`Decision`](crate::policy::Decision): a redirect to sign in or step up (asked once per
//!   requirement), the in-person referral, or an RFC 9470 challenge for JSON clients.
//! - [`auth_router`] holds `/login`, the callbacks and `/logout`; nest it at
//!   [`Gate::auth_prefix`] (`/auth` by default).
//!
//! [`SessionCookies`] is the sealed session on its own, for code that is not behind the layer.
//! The bundled portal ([`crate::portal`]) is built from exactly these pieces.
//!
//! Rules this module enforces:
//!
//! 1. The level comes only from the verified session; the query can only lead away from
//!    online filing (`outcome`, `in_person=1`) or choose the language.
//! 2. Cookies are `__Host-`, `Secure`, `HttpOnly`, `SameSite=Lax` off loopback; the login-flow
//!    cookie is sealed, single use and bound to the provider it went to; a callback arriving at
//!    another provider's redirect URI is refused (mix-up), RFC 9207 `iss` is checked.
//! 3. `/logout` needs the session's CSRF token, compared in constant time.
//! 4. Return paths are same-origin relative paths.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use axum::body::Body;
//! use axum::http::{Request, StatusCode, header};
//! use axum::{Router, routing::get};
//! use tower::ServiceExt as _;
//! use wardgate::Level;
//! use wardgate::clock::SystemRandom;
//! use wardgate::integrations::axum::{Gate, Granted, Require, auth_router};
//! use wardgate::oidc::{ClientConfig, RelyingParty, ReqwestHttp};
//! use wardgate::pseudonym::PseudonymKey;
//! use wardgate::session::KeyRing;
//!
//! # #[cfg(not(feature = "devidp"))]
//! # fn main() {}
//! # #[cfg(feature = "devidp")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # use wardgate::devidp::{self, DevIdp, DevIdpConfig};
//! let redirect = "https://dichvucong.example.vn/auth/callback";
//! // The built-in provider simulator stands in for the identity provider here.
//! let idp = DevIdp::start(DevIdpConfig::new().client(
//!     devidp::DEFAULT_CLIENT_ID,
//!     Some(devidp::DEFAULT_CLIENT_SECRET),
//!     [redirect],
//! ))
//! .await?;
//! let client = ClientConfig::new(devidp::DEFAULT_CLIENT_ID, redirect.parse()?)
//!     .client_secret(devidp::DEFAULT_CLIENT_SECRET);
//! let random = Arc::new(SystemRandom::new());
//! let clock = Arc::new(wardgate::SystemClock);
//! let rp = RelyingParty::discover(idp.issuer().as_str(), client, ReqwestHttp::new()?, clock, random.clone())
//!     .await?;
//!
//! let gate = Gate::builder(
//!     "https://dichvucong.example.vn/".parse()?,
//!     KeyRing::generate(random.as_ref())?,
//!     &PseudonymKey::generate(random.as_ref())?,
//! )
//! .relying_party(rp)
//! .build()?;
//!
//! async fn new_dossier(Granted(grant): Granted) -> String {
//!     format!("verified level {}", grant.level.number())
//! }
//!
//! let app: Router = Router::new()
//!     .route("/dossiers/new", get(new_dossier))
//!     .route_layer(Require::level(Level::Two))
//!     .route("/", get(|| async { "public" }))
//!     .nest(gate.auth_prefix(), auth_router(&gate))
//!     .layer(gate.session_layer());
//!
//! // Signed out: the guard starts the sign-in, and brings the resident back here.
//! let request = Request::get("/dossiers/new").body(Body::empty())?;
//! let response = app.oneshot(request).await?;
//! assert_eq!(response.status(), StatusCode::SEE_OTHER);
//! let location = response.headers()[header::LOCATION].to_str()?;
//! assert!(location.starts_with("/auth/login?level=2&"));
//! assert!(location.ends_with("&return_to=%2Fdossiers%2Fnew"));
//! # Ok(())
//! # }
//! ```

mod auth;
mod gate;
mod guard;
mod layer;
mod logout_hint;
mod provider;
#[cfg(feature = "portal")]
pub(crate) use provider::profile_texts;
mod provider_health;

/// Where the auth routes are mounted unless [`GateBuilder::with_auth_prefix`] says otherwise.
pub const DEFAULT_AUTH_PREFIX: &str = "/auth";

pub use crate::session::SessionCookies;
pub use auth::{
    LOGGED_OUT_PATH, append_cookie, auth_router, callback_route, login_route, logout_route,
};
pub use gate::{
    AuthProblem, Gate, GateBuilder, GateError, GateHooks, HookFuture, NoHooks, OwnSession,
};
pub use guard::{DEFAULT_MAX_AGE_MINUTES, Require, RequireService};
#[cfg(feature = "portal")]
pub(crate) use guard::{outcome_code, parse_outcome, with_step_up_challenge};
pub use layer::{
    Granted, MissingLayer, OptionalSession, SessionFuture, SessionLayer, SessionService,
    VerifiedSession,
};
pub use provider::{
    DEFAULT_PROVIDER_ID, LoginProvider, MAX_PROVIDER_ID_LEN, ProviderId, ProviderIdError,
};
