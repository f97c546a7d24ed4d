//! The gate's state, its builder and the hooks an application may give it.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use url::Url;

use super::DEFAULT_AUTH_PREFIX;
use super::provider::{LoginProvider, ProviderId};
use crate::audit::AuditEvent;
use crate::clock::{Clock, Random, SystemRandom};
use crate::fallback::{Directory, Referral, Ward, WardCode};
use crate::i18n::Lang;
use crate::oidc::{LoginErrorKind, RelyingParty, VerifiedLogin};
use crate::policy::{Catalog, Decision, LoginFailure, Procedure};
use crate::pseudonym::{PseudonymKey, Pseudonymizer, SubjectPseudonym};
use crate::session::{
    CookieConfigError, KeyRing, ReturnPath, Session, SessionConfig, SessionCookies, UsedFlowValues,
};

/// A boxed future of a hook.
pub type HookFuture<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// What went wrong in a sign-in, for [`GateHooks::problem_page`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthProblem {
    /// `/login` named a procedure or provider the gate does not know.
    NotFound,
    /// The login-flow cookie is missing, expired, tampered or already used.
    Expired,
    /// The provider's answer could not be verified (or arrived at another provider's
    /// redirect URI); no session was opened.
    Refused,
    /// Something on the gate's side failed.
    Internal,
    /// The provider sent the browser back from signing out with a `state` that is not the one
    /// the gate sent (or the sign-out cookie is gone): the provider's sign-out is unconfirmed.
    /// The gate's own session had already ended.
    SignOutUnconfirmed,
}

/// A session of the application's own found at sign-out (the bundled portal's staff
/// session), for [`GateHooks::own_session`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnSession {
    token_matches: bool,
    provider: Option<String>,
}

impl OwnSession {
    /// A session whose sign-out token matched the form's (or not), signed in at `provider`
    /// (an id of the gate's providers) when known.
    pub fn new(token_matches: bool, provider: Option<String>) -> Self {
        Self {
            token_matches,
            provider,
        }
    }

    /// Whether the sign-out form carried this session's token.
    pub fn token_matches(&self) -> bool {
        self.token_matches
    }

    /// The provider this session signed in at.
    pub fn provider(&self) -> Option<&str> {
        self.provider.as_deref()
    }
}

/// How an application adapts the gate: pages, metrics and audit. Every method has a plain
/// default, so `GateBuilder::with_hooks` is optional.
pub trait GateHooks: Send + Sync + 'static {
    /// Counts a finished login at `provider` (`None` when the flow cookie was refused): result
    /// `success`, `refused`, `flow_refused` or a failure code (`cancelled`, …).
    fn login_recorded(&self, provider: Option<&ProviderId>, result: &'static str) {
        let _ = (provider, result);
    }

    /// Counts a failed login by its kind.
    fn login_failed(&self, kind: LoginErrorKind) {
        let _ = kind;
    }

    /// Counts a decision a guard took.
    fn decided(&self, decision: &Decision, session: Option<&Session>) {
        let _ = (decision, session);
    }

    /// Appends `event` (about the pseudonymous `subject`) to an audit trail.
    fn audit<'a>(&'a self, subject: Option<&'a str>, event: AuditEvent) -> HookFuture<'a> {
        let _ = (subject, event);
        Box::pin(async {})
    }

    /// After a verified login returning to `return_path`: a response to send instead of
    /// setting the session cookie (the bundled portal signs staff in this way), or `None`.
    fn signed_in(
        &self,
        session: &Session,
        login: &VerifiedLogin,
        return_path: &ReturnPath,
    ) -> Option<Response> {
        let _ = (session, login, return_path);
        None
    }

    /// A login returning to `return_path` fell short: the provider answered `failure`, or the
    /// login came back below the level it asked for ([`LoginFailure::LevelNotReachable`]).
    /// A `Set-Cookie` value that remembers it in the browser, or `None` (the default: the
    /// failure is only in the return path's `outcome`).
    fn login_fell_short(
        &self,
        failure: LoginFailure,
        return_path: &ReturnPath,
        headers: &HeaderMap,
    ) -> Option<String> {
        let _ = (failure, return_path, headers);
        None
    }

    /// Whether logins from this browser must authenticate again whatever the provider's session
    /// (a shared, assisted device): `/login` then sends `prompt=login` and `max_age=0`.
    fn fresh_login(&self, headers: &HeaderMap) -> bool {
        let _ = headers;
        false
    }

    /// At `POST /logout`: the application's own session in `headers`, if any, and whether
    /// `csrf_token` is its sign-out token. The form may carry either session's token.
    fn own_session(&self, headers: &HeaderMap, csrf_token: &str) -> Option<OwnSession> {
        let _ = (headers, csrf_token);
        None
    }

    /// At `POST /logout`, after the gate cleared its session and login-flow cookies: clear the
    /// application's own cookies on `response` (see [`append_cookie`](super::append_cookie)).
    fn signed_out(&self, response: &mut Response) {
        let _ = response;
    }

    /// The page for a failed sign-in; `return_path` is where the resident was going.
    fn problem_page(
        &self,
        problem: AuthProblem,
        lang: Lang,
        return_path: Option<&str>,
    ) -> Response {
        let _ = return_path;
        let (status, text) = match problem {
            AuthProblem::NotFound => (StatusCode::NOT_FOUND, "not found"),
            AuthProblem::Expired => (
                StatusCode::BAD_REQUEST,
                lang.pick(
                    "Phiên đăng nhập đã hết hạn hoặc đã được dùng. Vui lòng bắt đầu lại.",
                    "This sign-in has expired or was already used. Please start again.",
                ),
            ),
            AuthProblem::Refused => (
                StatusCode::BAD_REQUEST,
                lang.pick(
                    "Không xác thực được đăng nhập; chưa mở phiên làm việc.",
                    "The sign-in could not be verified; no session was opened.",
                ),
            ),
            AuthProblem::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal error"),
            AuthProblem::SignOutUnconfirmed => (
                StatusCode::BAD_REQUEST,
                lang.pick(
                    "Bạn đã đăng xuất khỏi cổng này, nhưng chưa xác nhận được việc đăng xuất tại hệ thống định danh.",
                    "You are signed out of this portal, but signing out at the identity provider was not confirmed.",
                ),
            ),
        };
        (status, text).into_response()
    }

    /// With several providers and none chosen: the page where the resident chooses (links
    /// to `/login` with `provider=ID`, and `return_to` when the login was given a valid one,
    /// so the choice does not lose where to come back to), or `None` to use the first provider.
    fn choose_provider(
        &self,
        lang: Lang,
        procedure: Option<&Procedure>,
        return_to: Option<&ReturnPath>,
    ) -> Option<Response> {
        let _ = (lang, procedure, return_to);
        None
    }

    /// Where a sign-in started without `return_to` returns.
    fn return_path(&self, procedure: Option<&Procedure>, lang: Lang) -> String {
        let _ = (procedure, lang);
        "/".to_owned()
    }

    /// A guard's in-person answer: the `referral` (when the gate has a directory) for a
    /// decision that cannot be met online.
    fn in_person_page(
        &self,
        decision: &Decision,
        referral: Option<&Referral>,
        lang: Lang,
    ) -> Response {
        super::guard::default_in_person_page(decision, referral, lang)
    }
}

/// The hooks of a gate given none.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoHooks;

impl GateHooks for NoHooks {}

/// The embeddable gate: providers, the sealed session, the catalog and directory guards decide
/// with, and the hooks. Build it with [`Gate::builder`]; share it as `Arc<Gate>`.
pub struct Gate {
    /// INVARIANT: not empty; ids, issuers and callback paths unique (checked by `build`).
    providers: Vec<LoginProvider>,
    sessions: SessionCookies,
    pub(super) used_flows: UsedFlowValues,
    pseudonyms: Pseudonymizer,
    catalog: Catalog,
    directory: Option<(Directory, WardCode)>,
    auth_prefix: String,
    logout_path: String,
    pub(super) hooks: Arc<dyn GateHooks>,
}

impl fmt::Debug for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gate")
            .field(
                "providers",
                &self
                    .providers
                    .iter()
                    .map(|p| p.id().as_str())
                    .collect::<Vec<_>>(),
            )
            .field("auth_prefix", &self.auth_prefix)
            .finish_non_exhaustive()
    }
}

impl Gate {
    /// A builder for a gate at `public_url` (cookie attributes), sealing sessions with
    /// `session_keys` and pseudonymising subjects with `pseudonym_key`.
    pub fn builder(
        public_url: Url,
        session_keys: KeyRing,
        pseudonym_key: &PseudonymKey,
    ) -> GateBuilder {
        GateBuilder {
            public_url,
            ring: Arc::new(session_keys),
            pseudonyms: Pseudonymizer::from_key(pseudonym_key),
            providers: Vec::new(),
            sessions: SessionConfig::default(),
            catalog: Catalog::default(),
            directory: None,
            auth_prefix: DEFAULT_AUTH_PREFIX.to_owned(),
            logout_path: None,
            clock: Arc::new(crate::SystemClock),
            random: Arc::new(SystemRandom::new()),
            hooks: Arc::new(NoHooks),
        }
    }

    /// The session layer to add to the application's router (outside every route that reads
    /// the session).
    pub fn session_layer(self: &Arc<Self>) -> super::SessionLayer {
        super::SessionLayer::new(Arc::clone(self))
    }

    /// The sealed session cookie.
    pub fn sessions(&self) -> &SessionCookies {
        &self.sessions
    }

    /// The identity providers, in the order a chooser lists them.
    pub fn providers(&self) -> &[LoginProvider] {
        &self.providers
    }

    /// The first provider.
    pub fn default_provider(&self) -> &LoginProvider {
        #[expect(
            clippy::indexing_slicing,
            reason = "`build` refuses an empty provider list"
        )]
        &self.providers[0]
    }

    /// The provider with `id`.
    pub fn provider(&self, id: &str) -> Option<&LoginProvider> {
        self.providers.iter().find(|p| p.id().as_str() == id)
    }

    /// The procedure catalog guards and `/login?procedure=` use.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The directory of wards and the ward referrals go to, when the gate has one.
    pub fn directory(&self) -> Option<(&Directory, WardCode)> {
        self.directory.as_ref().map(|(d, w)| (d, *w))
    }

    /// The ward referrals go to, when the gate has a directory.
    pub fn home_ward(&self) -> Option<&Ward> {
        self.directory.as_ref().and_then(|(d, w)| d.ward(*w))
    }

    /// Where the auth routes are mounted (`/auth` by default): `Router::nest` them there.
    pub fn auth_prefix(&self) -> &str {
        &self.auth_prefix
    }

    /// The path of the sign-in route.
    pub fn login_path(&self) -> String {
        format!("{}/login", self.auth_prefix)
    }

    /// The path the application's sign-out forms post to (`{prefix}/logout` unless set with
    /// [`GateBuilder::with_logout_path`]): the only path the logout-hint cookie is sent to.
    pub fn logout_path(&self) -> &str {
        &self.logout_path
    }

    /// The stable pseudonym of `subject` at `issuer` (keyed hash): sessions hold it, never the
    /// provider's `sub`.
    pub fn pseudonym(&self, issuer: &str, subject: &str) -> SubjectPseudonym {
        self.pseudonyms.subject(issuer, subject)
    }

    /// The hooks.
    pub fn hooks(&self) -> &Arc<dyn GateHooks> {
        &self.hooks
    }
}

/// Builds a [`Gate`]: required parts in [`Gate::builder`] and at least one provider, the rest
/// optional.
#[must_use]
pub struct GateBuilder {
    public_url: Url,
    ring: Arc<KeyRing>,
    pseudonyms: Pseudonymizer,
    providers: Vec<LoginProvider>,
    sessions: SessionConfig,
    catalog: Catalog,
    directory: Option<(Directory, WardCode)>,
    auth_prefix: String,
    logout_path: Option<String>,
    clock: Arc<dyn Clock>,
    random: Arc<dyn Random>,
    hooks: Arc<dyn GateHooks>,
}

impl fmt::Debug for GateBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GateBuilder")
            .field("public_url", &self.public_url.as_str())
            .field("auth_prefix", &self.auth_prefix)
            .finish_non_exhaustive()
    }
}

impl GateBuilder {
    /// Adds `relying_party` as a provider with id [`DEFAULT_PROVIDER_ID`](super::DEFAULT_PROVIDER_ID).
    pub fn relying_party(self, relying_party: RelyingParty) -> Self {
        self.provider(LoginProvider::new(ProviderId::default_id(), relying_party))
    }

    /// Adds `provider` after the others.
    pub fn provider(mut self, provider: LoginProvider) -> Self {
        self.providers.push(provider);
        self
    }

    /// Replaces the providers with `providers`, in the order a chooser lists them.
    pub fn providers(mut self, providers: Vec<LoginProvider>) -> Self {
        self.providers = providers;
        self
    }

    /// Session timeouts ([`SessionConfig::default`] unless set).
    pub fn with_sessions(mut self, sessions: SessionConfig) -> Self {
        self.sessions = sessions;
        self
    }

    /// The catalog that `Require::procedure` and `/login?procedure=` look codes up in.
    pub fn with_catalog(mut self, catalog: Catalog) -> Self {
        self.catalog = catalog;
        self
    }

    /// The directory of wards, and the ward in-person referrals go to.
    pub fn with_directory(mut self, directory: Directory, ward: WardCode) -> Self {
        self.directory = Some((directory, ward));
        self
    }

    /// Where the auth routes are mounted (`/auth` unless set; no trailing slash). Redirect
    /// URIs must be `{prefix}/callback` or `{prefix}/callback/{provider id}`.
    pub fn with_auth_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.auth_prefix = prefix.into();
        self
    }

    /// The path the application's sign-out forms post to, where it mounts
    /// [`logout_route`](super::logout_route) (`{prefix}/logout` unless set). The cookie that
    /// keeps the ID token for `id_token_hint` is sent by browsers to this path only.
    pub fn with_logout_path(mut self, path: impl Into<String>) -> Self {
        self.logout_path = Some(path.into());
        self
    }

    /// The clock ([`SystemClock`](crate::SystemClock) unless set).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The random generator ([`SystemRandom`] unless set).
    pub fn with_random(mut self, random: Arc<dyn Random>) -> Self {
        self.random = random;
        self
    }

    /// The hooks ([`NoHooks`] unless set).
    pub fn with_hooks(mut self, hooks: Arc<dyn GateHooks>) -> Self {
        self.hooks = hooks;
        self
    }

    /// The gate.
    ///
    /// # Errors
    ///
    /// [`GateError`] when the public URL cannot carry cookies, the prefix is not a path, the
    /// ward is not in the directory, or the providers are missing, share an id or an issuer,
    /// or have a redirect URI the auth routes do not serve for them.
    pub fn build(self) -> Result<Arc<Gate>, GateError> {
        let prefix_ok = self.auth_prefix.starts_with('/')
            && !self.auth_prefix.ends_with('/')
            && !self.auth_prefix.contains(['?', '#']);
        if !prefix_ok {
            return Err(GateError::AuthPrefix(self.auth_prefix));
        }
        check_providers(&self.providers, &self.auth_prefix)?;
        let logout_path = self
            .logout_path
            .unwrap_or_else(|| format!("{}/logout", self.auth_prefix));
        if !logout_path.starts_with('/') || logout_path.contains(['?', '#', ';', ' ']) {
            return Err(GateError::LogoutPath(logout_path));
        }
        if let Some((directory, ward)) = &self.directory
            && directory.ward(*ward).is_none()
        {
            return Err(GateError::UnknownWard(ward.as_str().to_owned()));
        }
        let sessions = SessionCookies::new(
            &self.public_url,
            self.ring,
            self.sessions,
            self.clock,
            self.random,
        )?;
        Ok(Arc::new(Gate {
            providers: self.providers,
            sessions,
            used_flows: UsedFlowValues::default(),
            pseudonyms: self.pseudonyms,
            catalog: self.catalog,
            directory: self.directory,
            auth_prefix: self.auth_prefix,
            logout_path,
            hooks: self.hooks,
        }))
    }
}

/// The gate could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GateError {
    /// The public URL cannot carry the cookies (plain http off loopback).
    #[error("the public URL cannot carry session cookies")]
    Cookies(#[from] CookieConfigError),
    /// The auth prefix is not a path such as `/auth`.
    #[error("auth prefix `{0}` must start with `/` and not end with `/`")]
    AuthPrefix(String),
    /// The logout path is not a plain path such as `/logout`.
    #[error("logout path `{0}` must start with `/` and hold no `?`, `#`, `;` or space")]
    LogoutPath(String),
    /// The referral ward is not in the directory.
    #[error("ward `{0}` is not in the directory")]
    UnknownWard(String),
    /// No identity provider is given.
    #[error("no identity provider is given")]
    NoProvider,
    /// Two providers have the same id.
    #[error("provider id `{0}` is used twice")]
    DuplicateProvider(String),
    /// Two providers have the same issuer: RFC 9207 `iss` could not tell their callbacks apart.
    #[error(
        "providers `{first}` and `{second}` have the same issuer: their callbacks could not be \
         told apart"
    )]
    SharedIssuer {
        /// The first provider's id.
        first: String,
        /// The second provider's id.
        second: String,
    },
    /// A provider's redirect URI is not one the auth routes serve for it.
    #[error(
        "provider `{provider}` has redirect path `{path}`: use `{expected}` (or `{shared}` for \
         the first provider)"
    )]
    RedirectUri {
        /// The provider's id.
        provider: String,
        /// The redirect URI's path.
        path: String,
        /// The path the provider should use.
        expected: String,
        /// The path the first provider may use instead.
        shared: String,
    },
}

/// Refuses a provider list the auth routes cannot serve safely.
fn check_providers(providers: &[LoginProvider], prefix: &str) -> Result<(), GateError> {
    if providers.is_empty() {
        return Err(GateError::NoProvider);
    }
    let shared = format!("{prefix}/callback");
    for (index, provider) in providers.iter().enumerate() {
        let id = provider.id().as_str();
        let path = provider.callback_path();
        let expected = provider.id().callback_path_under(prefix);
        // Only the first provider may use the shared callback; ids are unique, so every
        // redirect path is too.
        if path != expected && !(index == 0 && path == shared) {
            return Err(GateError::RedirectUri {
                provider: id.to_owned(),
                path: path.to_owned(),
                expected,
                shared,
            });
        }
        for earlier in providers.iter().take(index) {
            if earlier.id() == provider.id() {
                return Err(GateError::DuplicateProvider(id.to_owned()));
            }
            if earlier.relying_party().issuer() == provider.relying_party().issuer() {
                return Err(GateError::SharedIssuer {
                    first: earlier.id().to_string(),
                    second: id.to_owned(),
                });
            }
        }
    }
    Ok(())
}
