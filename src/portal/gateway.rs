//! The gateway's shared state: everything a request handler needs, built once at start-up.

use std::fmt;
use std::sync::Arc;

use axum::http::{HeaderMap, header};
use url::Url;

use super::config::{CALLBACK_PATH, StaffConfig};
use super::decision_audit::{self, DecisionTally};
use super::limits::RequestLimits;
use super::metrics::Metrics;
use super::metrics_access::MetricsToken;
use super::procedure_html::ProcedureHtmlCache;
use super::providers::{LoginProvider, ProviderId};
use super::rate_limit::{RateLimiter, RateLimits};
use crate::clock::{Clock, Random};
use crate::fallback::{Directory, TicketIssuer, Ward, WardCode};
use crate::keys::SigningKey;
use crate::oidc::RelyingParty;
use crate::policy::{Catalog, Procedure};
use crate::pseudonym::{Pseudonymizer, SubjectPseudonym};
use crate::session::{
    CookieSettings, KeyRing, Session, SessionConfig, UsedFlowValues, find_cookie,
};
use crate::store::Store;
use crate::submission::{DossierSealer, Submitter};

/// What a gateway is built from. Every field is required; build the values at start-up.
#[non_exhaustive]
pub struct GatewayParts {
    /// The identity providers, in the order the chooser lists them (at least one). [`new`]
    /// makes this the one provider it is given, with id `default`; [`providers`] and
    /// [`with_provider`] change it.
    ///
    /// [`new`]: Self::new
    /// [`providers`]: Self::providers
    /// [`with_provider`]: Self::with_provider
    pub providers: Vec<LoginProvider>,
    /// The procedure catalog.
    pub catalog: Catalog,
    /// The directory of wards.
    pub directory: Directory,
    /// The ward this portal serves by default.
    pub default_ward: WardCode,
    /// Where bookings, drafts, tickets (and submissions) live.
    pub store: Arc<dyn Store>,
    /// Keys sealing session and login-flow cookies.
    pub key_ring: KeyRing,
    /// Session timeouts.
    pub sessions: SessionConfig,
    /// The portal's public URL (cookie attributes, links, origin checks).
    pub public_url: Url,
    /// The key signing tickets and receipts, published in the JWKS.
    pub signing_key: Arc<SigningKey>,
    /// The key of the keyed hash that pseudonymises subjects (32 bytes).
    pub pseudonym_key: Vec<u8>,
    /// The key sealing dossiers at rest (32 bytes); the [`Outbox`](crate::submission::Outbox)
    /// needs a [`DossierSealer`] with the same key.
    pub dossier_key: Vec<u8>,
    /// Who the staff are.
    pub staff: StaffConfig,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// The random generator.
    pub random: Arc<dyn Random>,
    /// Limits on headers, bodies, fields and attachments; [`RequestLimits::DEFAULT`] unless set.
    pub limits: RequestLimits,
    /// Per-address rate limits of sign-in and submission; [`RateLimits::default`] unless set.
    pub rate_limits: RateLimits,
    /// A bearer token that opens `GET /metrics` on the public router; `None` (the default)
    /// leaves `/metrics` off the public router ([`metrics_router`](super::metrics_router)
    /// serves it on a separate listener).
    pub metrics_token: Option<MetricsToken>,
}

impl fmt::Debug for GatewayParts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatewayParts")
            .field(
                "providers",
                &self
                    .providers
                    .iter()
                    .map(|p| p.id().as_str())
                    .collect::<Vec<_>>(),
            )
            .field("default_ward", &self.default_ward)
            .field("public_url", &self.public_url.as_str())
            .finish_non_exhaustive()
    }
}

impl GatewayParts {
    /// Gathers the parts, with `relying_party` as the single identity provider (id
    /// [`DEFAULT_PROVIDER_ID`](super::DEFAULT_PROVIDER_ID)).
    #[expect(
        clippy::too_many_arguments,
        reason = "one argument per required part, named at the call"
    )]
    pub fn new(
        relying_party: RelyingParty,
        catalog: Catalog,
        directory: Directory,
        default_ward: WardCode,
        store: Arc<dyn Store>,
        key_ring: KeyRing,
        sessions: SessionConfig,
        public_url: Url,
        signing_key: Arc<SigningKey>,
        pseudonym_key: Vec<u8>,
        dossier_key: Vec<u8>,
        staff: StaffConfig,
        clock: Arc<dyn Clock>,
        random: Arc<dyn Random>,
    ) -> Self {
        Self {
            providers: vec![LoginProvider::new(ProviderId::default_id(), relying_party)],
            catalog,
            directory,
            default_ward,
            store,
            key_ring,
            sessions,
            public_url,
            signing_key,
            pseudonym_key,
            dossier_key,
            staff,
            metrics: Arc::new(Metrics::new()),
            clock,
            random,
            limits: RequestLimits::DEFAULT,
            rate_limits: RateLimits::default(),
            metrics_token: None,
        }
    }

    /// Replaces the identity providers with `providers`, in the order the chooser lists them.
    ///
    /// Each provider's redirect URI must end in its own [`ProviderId::callback_path`]; the first
    /// provider may use `/auth/callback` instead.
    #[must_use]
    pub fn providers(mut self, providers: Vec<LoginProvider>) -> Self {
        self.providers = providers;
        self
    }

    /// Adds `provider` after the others: residents then choose between them.
    #[must_use]
    pub fn with_provider(mut self, provider: LoginProvider) -> Self {
        self.providers.push(provider);
        self
    }
}

/// The state behind every handler of the ward gateway.
pub struct Gateway {
    /// INVARIANT: not empty, ids and issuers and callback paths unique (checked by `new`).
    providers: Vec<LoginProvider>,
    pub(crate) catalog: Catalog,
    pub(crate) directory: Directory,
    pub(crate) default_ward: WardCode,
    home_ward: Ward,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) key_ring: KeyRing,
    pub(crate) sessions: SessionConfig,
    pub(crate) cookies: CookieSettings,
    pub(crate) used_flows: UsedFlowValues,
    pub(crate) public_url: Url,
    pub(crate) signing_key: Arc<SigningKey>,
    pub(crate) tickets: TicketIssuer,
    pub(crate) submitter: Submitter,
    pseudonyms: Pseudonymizer,
    /// Seals drafts at rest with the dossier key (they hold the same personal data).
    pub(crate) sealer: Arc<DossierSealer>,
    pub(crate) staff: StaffConfig,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) random: Arc<dyn Random>,
    pub(crate) limits: RequestLimits,
    pub(crate) metrics_token: Option<MetricsToken>,
    rate_limiter: Arc<RateLimiter>,
    /// Decisions counted but not yet written to the audit trail.
    decisions: DecisionTally,
    /// The per-procedure page fragments that do not depend on the request.
    pub(crate) procedure_html: ProcedureHtmlCache,
}

impl fmt::Debug for Gateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gateway")
            .field(
                "providers",
                &self
                    .providers
                    .iter()
                    .map(|p| p.id().as_str())
                    .collect::<Vec<_>>(),
            )
            .field("default_ward", &self.default_ward)
            .field("public_url", &self.public_url.as_str())
            .finish_non_exhaustive()
    }
}

/// The gateway could not be built from its parts.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// The public URL cannot carry the cookies (plain http off loopback).
    #[error("the public URL cannot carry session cookies")]
    Cookies(#[from] crate::session::CookieConfigError),
    /// The default ward is not in the directory.
    #[error("ward `{0}` is not in the directory")]
    UnknownWard(String),
    /// The pseudonym key is not 32 bytes.
    #[error("the pseudonym key must be 32 bytes")]
    PseudonymKey,
    /// The dossier key is not 32 bytes.
    #[error("the dossier key must be 32 bytes")]
    DossierKey,
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
    /// A provider's redirect URI is not one the gateway serves for it.
    #[error(
        "provider `{provider}` has redirect path `{path}`: use `/auth/callback/{provider}` (or \
         `/auth/callback` for the first provider)"
    )]
    RedirectUri {
        /// The provider's id.
        provider: String,
        /// The redirect URI's path.
        path: String,
    },
}

impl Gateway {
    /// Builds the gateway state.
    ///
    /// # Errors
    ///
    /// [`GatewayError`] when the public URL cannot carry cookies, the default ward is unknown, or
    /// the pseudonym key is shorter than 32 bytes, or the dossier key is not 32 bytes, or the
    /// providers are missing, share an id, an issuer or a redirect URI, or have a redirect URI
    /// the gateway does not serve for them.
    pub fn new(parts: GatewayParts) -> Result<Arc<Self>, GatewayError> {
        check_providers(&parts.providers)?;
        let cookies = CookieSettings::for_public_url(&parts.public_url)?;
        let home_ward = parts
            .directory
            .ward(parts.default_ward)
            .cloned()
            .ok_or_else(|| GatewayError::UnknownWard(parts.default_ward.as_str().to_owned()))?;
        let pseudonyms =
            Pseudonymizer::new(&parts.pseudonym_key).map_err(|_| GatewayError::PseudonymKey)?;
        let sealer = Arc::new(
            DossierSealer::from_bytes(&parts.dossier_key, Arc::clone(&parts.random))
                .map_err(|_| GatewayError::DossierKey)?,
        );
        Ok(Arc::new(Self {
            procedure_html: ProcedureHtmlCache::new(&parts.catalog),
            tickets: TicketIssuer::new(Arc::clone(&parts.signing_key)),
            submitter: Submitter::new(
                Arc::clone(&parts.store),
                Arc::clone(&parts.signing_key),
                Arc::clone(&sealer),
                Arc::clone(&parts.clock),
                Arc::clone(&parts.random),
            ),
            pseudonyms,
            sealer,
            home_ward,
            providers: parts.providers,
            catalog: parts.catalog,
            directory: parts.directory,
            default_ward: parts.default_ward,
            store: parts.store,
            key_ring: parts.key_ring,
            sessions: parts.sessions,
            cookies,
            used_flows: UsedFlowValues::default(),
            public_url: parts.public_url,
            signing_key: parts.signing_key,
            staff: parts.staff,
            metrics: parts.metrics,
            rate_limiter: Arc::new(RateLimiter::new(
                parts.rate_limits,
                Arc::clone(&parts.clock),
            )),
            limits: parts.limits,
            metrics_token: parts.metrics_token,
            clock: parts.clock,
            random: parts.random,
            decisions: DecisionTally::default(),
        }))
    }

    /// The metrics this gateway records.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The per-address rate limiter of sign-in and submission.
    pub fn rate_limiter(&self) -> &Arc<RateLimiter> {
        &self.rate_limiter
    }

    /// The request limits.
    pub fn limits(&self) -> &RequestLimits {
        &self.limits
    }

    /// The first identity provider's relying party.
    pub fn relying_party(&self) -> &RelyingParty {
        self.default_provider().relying_party()
    }

    /// The identity providers, in the order the chooser lists them.
    pub fn providers(&self) -> &[LoginProvider] {
        &self.providers
    }

    /// The first provider: the one of a single-provider gateway, and the one staff sign in with
    /// unless they choose.
    pub(crate) fn default_provider(&self) -> &LoginProvider {
        #[expect(
            clippy::indexing_slicing,
            reason = "`new` refuses an empty provider list"
        )]
        // INVARIANT: `providers` is not empty (checked by `check_providers`).
        &self.providers[0]
    }

    /// The provider with `id`.
    pub(crate) fn provider(&self, id: &str) -> Option<&LoginProvider> {
        self.providers.iter().find(|p| p.id().as_str() == id)
    }

    /// The provider whose issuer is `issuer` (issuers are unique among providers).
    pub(crate) fn provider_for_issuer(&self, issuer: &str) -> Option<&LoginProvider> {
        self.providers
            .iter()
            .find(|p| p.relying_party().issuer() == issuer)
    }

    /// The procedure catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    pub(crate) fn procedure(&self, code: &str) -> Option<&Procedure> {
        self.catalog.procedure(code)
    }

    pub(crate) fn ward(&self, code: Option<&str>) -> &Ward {
        code.and_then(|c| WardCode::parse(c).ok())
            .and_then(|c| self.directory.ward(c))
            .unwrap_or(&self.home_ward)
    }

    /// A stable pseudonym for a subject at an issuer (keyed hash): the provider's `sub`
    /// itself is never stored.
    pub(crate) fn pseudonym(&self, issuer: &str, subject: &str) -> SubjectPseudonym {
        self.pseudonyms.subject(issuer, subject)
    }

    /// Appends `event` to the audit chain. An audit failure is logged, never shown to the
    /// resident: it must not block a referral or a booking.
    pub(crate) async fn audit(&self, subject: Option<&str>, event: crate::audit::AuditEvent) {
        let entry = crate::audit::AuditEntry::new(
            self.clock.now(),
            subject.map(SubjectPseudonym::from_stored),
            event,
        );
        if let Err(error) = self.store.append_audit(&entry).await {
            tracing::error!(%error, "could not append to the audit log");
        }
    }

    /// Counts `decision` for the audit trail; identical decisions are written as one record
    /// per window (see `decision_audit`). The request waits for a write only when its decision
    /// closes the window.
    pub(crate) async fn audit_decision(
        &self,
        subject: Option<&str>,
        decision: crate::audit::DecisionRecorded,
    ) {
        if let Some(entries) = self.decisions.record(self.clock.now(), subject, decision) {
            decision_audit::append_all(&self.store, entries).await;
        }
    }

    /// Writes the decisions counted since the last write to the audit trail.
    ///
    /// Decisions are audited in aggregate: identical decisions made within one second become
    /// one record with their count, written when the next decision arrives after that second.
    /// Call this when the server has stopped, so the last second is not lost, and periodically
    /// (every second or so) to keep the trail current when traffic is quiet. A failed write is
    /// logged, not returned, like every audit write of the gateway.
    pub async fn flush_audit(&self) {
        let entries = self.decisions.take();
        decision_audit::append_all(&self.store, entries).await;
    }

    /// The resident's session, if the request carries a valid one.
    pub(crate) fn session(&self, headers: &HeaderMap) -> Option<Session> {
        let cookies = headers.get(header::COOKIE)?.to_str().ok()?;
        let value = find_cookie(cookies, self.cookies.session_cookie_name())?;
        self.sessions
            .open(
                &self.key_ring,
                self.cookies.session_cookie_name(),
                self.clock.now(),
                value,
            )
            .ok()
    }

    /// The `Set-Cookie` value carrying `session`.
    pub(crate) fn session_cookie(&self, session: &Session) -> Option<String> {
        let sealed = self
            .sessions
            .seal(
                &self.key_ring,
                self.random.as_ref(),
                self.cookies.session_cookie_name(),
                session,
            )
            .ok()?;
        let max_age = self.sessions.max_age(session, self.clock.now());
        self.cookies
            .set_cookie(self.cookies.session_cookie_name(), &sealed, max_age)
            .ok()
    }
}

/// Refuses a provider list the gateway cannot serve safely.
fn check_providers(providers: &[LoginProvider]) -> Result<(), GatewayError> {
    if providers.is_empty() {
        return Err(GatewayError::NoProvider);
    }
    for (index, provider) in providers.iter().enumerate() {
        let id = provider.id().as_str();
        let path = provider.callback_path();
        // Only the first provider may keep the historical `/auth/callback`; ids are unique, so
        // every redirect path is too.
        let own = path == provider.id().callback_path() || (index == 0 && path == CALLBACK_PATH);
        if !own {
            return Err(GatewayError::RedirectUri {
                provider: id.to_owned(),
                path: path.to_owned(),
            });
        }
        for earlier in providers.iter().take(index) {
            if earlier.id() == provider.id() {
                return Err(GatewayError::DuplicateProvider(id.to_owned()));
            }
            if earlier.relying_party().issuer() == provider.relying_party().issuer() {
                return Err(GatewayError::SharedIssuer {
                    first: earlier.id().to_string(),
                    second: id.to_owned(),
                });
            }
        }
    }
    Ok(())
}

impl Drop for Gateway {
    /// Writes what is still counted in the background when a runtime is there to do it; the
    /// example gateway calls [`Gateway::flush_audit`] before this, so nothing waits on it.
    fn drop(&mut self) {
        let entries = self.decisions.take();
        if entries.is_empty() {
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let store = Arc::clone(&self.store);
                runtime.spawn(async move { decision_audit::append_all(&store, entries).await });
            }
            Err(_) => tracing::error!(
                decisions = entries.len(),
                "gateway dropped outside a runtime: counted decisions were not audited"
            ),
        }
    }
}
