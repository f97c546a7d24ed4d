//! The gateway's shared state: everything a request handler needs, built once at start-up.

use std::fmt;
use std::num::NonZeroU32;
use std::sync::Arc;

use url::Url;

use super::auth::PortalHooks;
use super::booking::BookingLedger;
use super::config::StaffConfig;
use super::data_dir::GatewayKeys;
use super::decision_audit::{self, DecisionTally};
use super::limits::RequestLimits;
use super::metrics::Metrics;
use super::metrics_access::MetricsToken;
use super::procedure_html::ProcedureHtmlCache;
use super::providers::{LoginProvider, ProviderId};
use super::rate_limit::{RateLimiter, RateLimits};
use super::ticket_allowance::TicketAllowance;
use crate::clock::{Clock, Random};
use crate::fallback::{Directory, TicketIssuer, Ward, WardCode};
use crate::integrations::axum::{Gate, GateError, GateHooks};
use crate::keys::{SigningKey, VerifyingKey};
use crate::oidc::RelyingParty;
use crate::policy::{Catalog, Procedure};
use crate::pseudonym::{PseudonymKey, Pseudonymizer, SubjectPseudonym};
use crate::session::{CookieSettings, KeyRing, SessionConfig};
use crate::store::Store;
use crate::submission::status::BackOfficeKey;
use crate::submission::{DossierKey, DossierSealer, Submitter};

/// Builds a [`Gateway`]. [`Gateway::builder`] takes the public URL; the providers, catalog,
/// directory, store and keys are required (checked by [`build`](Self::build)); the rest are
/// optional `with_*` parts.
///
/// # Example
///
/// ```no_run
/// # async fn run(rp: wardgate::RelyingParty) -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use wardgate::clock::SystemRandom;
/// use wardgate::fallback::Directory;
/// use wardgate::policy::Catalog;
/// use wardgate::portal::{Gateway, data_dir::GatewayKeys, gateway_router};
/// use wardgate::store::MemoryStore;
///
/// let directory = Directory::load("wards.toml")?;
/// let ward = directory.wards()[0].code;
/// let keys = GatewayKeys::load_or_create("data".as_ref(), &SystemRandom::new())?;
/// let gateway = Gateway::builder("https://dichvucong.example.vn/".parse()?)
///     .relying_party(rp)
///     .catalog(Catalog::load("catalog.toml")?)
///     .directory(directory, ward)
///     .store(Arc::new(MemoryStore::new()))
///     .keys(keys)
///     .build()?;
/// let router = gateway_router(gateway);
/// # let _ = router;
/// # Ok(())
/// # }
/// ```
#[must_use]
pub struct GatewayBuilder {
    public_url: Url,
    providers: Vec<LoginProvider>,
    catalog: Option<Catalog>,
    directory: Option<(Directory, WardCode)>,
    store: Option<Arc<dyn Store>>,
    session_keys: Option<KeyRing>,
    signing_key: Option<Arc<SigningKey>>,
    older_verifying_keys: Vec<VerifyingKey>,
    pseudonym_key: Option<PseudonymKey>,
    dossier_key: Option<DossierKey>,
    older_dossier_keys: Vec<DossierKey>,
    sessions: SessionConfig,
    staff: StaffConfig,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
    random: Arc<dyn Random>,
    limits: RequestLimits,
    rate_limits: RateLimits,
    anonymous_tickets_per_hour: NonZeroU32,
    metrics_token: Option<MetricsToken>,
    backoffice_keys: Vec<BackOfficeKey>,
    stats_token: Option<super::stats_api::StatsToken>,
    upstream: Option<super::upstream::Upstream>,
}

impl fmt::Debug for GatewayBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatewayBuilder")
            .field(
                "providers",
                &self
                    .providers
                    .iter()
                    .map(|p| p.id().as_str())
                    .collect::<Vec<_>>(),
            )
            .field("public_url", &self.public_url.as_str())
            .finish_non_exhaustive()
    }
}

impl GatewayBuilder {
    /// Adds `relying_party` as a provider with id
    /// [`DEFAULT_PROVIDER_ID`](super::DEFAULT_PROVIDER_ID).
    pub fn relying_party(self, relying_party: RelyingParty) -> Self {
        self.provider(LoginProvider::new(ProviderId::default_id(), relying_party))
    }

    /// Adds `provider` after the others: residents then choose between them.
    ///
    /// Each provider's redirect URI must end in its own [`ProviderId::callback_path`]; the first
    /// provider may use `/auth/callback` instead.
    pub fn provider(mut self, provider: LoginProvider) -> Self {
        self.providers.push(provider);
        self
    }

    /// Replaces the identity providers with `providers`, in the order the chooser lists them.
    pub fn providers(mut self, providers: Vec<LoginProvider>) -> Self {
        self.providers = providers;
        self
    }

    /// The procedure catalog (required).
    pub fn catalog(mut self, catalog: Catalog) -> Self {
        self.catalog = Some(catalog);
        self
    }

    /// The directory of wards and the ward this portal serves by default (required).
    pub fn directory(mut self, directory: Directory, default_ward: WardCode) -> Self {
        self.directory = Some((directory, default_ward));
        self
    }

    /// Where bookings, drafts, tickets, submissions and the audit trail live (required).
    pub fn store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// All four keys from the data directory.
    pub fn keys(self, keys: GatewayKeys) -> Self {
        self.session_keys(keys.key_ring)
            .signing_key(Arc::new(keys.signing_key))
            .older_verifying_keys(keys.verifying_keys)
            .pseudonym_key(keys.pseudonym_key)
            .dossier_key(keys.dossier_key)
            .older_dossier_keys(keys.older_dossier_keys)
    }

    /// Public keys of signing keys rotated out, published in the JWKS beside the current one so
    /// that receipts and tickets they signed still verify (the current key's own entry, if
    /// given, is not repeated).
    pub fn older_verifying_keys(mut self, keys: Vec<VerifyingKey>) -> Self {
        self.older_verifying_keys = keys;
        self
    }

    /// Dossier keys rotated out, newest first: dossiers, drafts and envelopes they sealed
    /// still open.
    pub fn older_dossier_keys(mut self, keys: Vec<DossierKey>) -> Self {
        self.older_dossier_keys = keys;
        self
    }

    /// The key ring sealing session and login-flow cookies (required).
    pub fn session_keys(mut self, ring: KeyRing) -> Self {
        self.session_keys = Some(ring);
        self
    }

    /// The key signing tickets and receipts, published in the JWKS (required).
    pub fn signing_key(mut self, key: Arc<SigningKey>) -> Self {
        self.signing_key = Some(key);
        self
    }

    /// The key of the keyed hash that pseudonymises subjects (required).
    pub fn pseudonym_key(mut self, key: PseudonymKey) -> Self {
        self.pseudonym_key = Some(key);
        self
    }

    /// The key sealing dossiers and drafts at rest (required); the
    /// [`Outbox`](crate::submission::Outbox) takes [`Gateway::dossier_sealer`].
    pub fn dossier_key(mut self, key: DossierKey) -> Self {
        self.dossier_key = Some(key);
        self
    }

    /// Session timeouts ([`SessionConfig::default`] unless set).
    pub fn with_sessions(mut self, sessions: SessionConfig) -> Self {
        self.sessions = sessions;
        self
    }

    /// Who the staff are (nobody unless set).
    pub fn with_staff(mut self, staff: StaffConfig) -> Self {
        self.staff = staff;
        self
    }

    /// The metrics to record into (new ones unless set).
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// The clock ([`SystemClock`](crate::SystemClock) unless set).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The random generator ([`SystemRandom`](crate::clock::SystemRandom) unless set).
    pub fn with_random(mut self, random: Arc<dyn Random>) -> Self {
        self.random = random;
        self
    }

    /// Limits on headers, bodies, fields and attachments ([`RequestLimits::DEFAULT`] unless
    /// set).
    pub fn with_limits(mut self, limits: RequestLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Per-address rate limits of sign-in and submission ([`RateLimits::default`] unless set).
    pub fn with_rate_limits(mut self, rate_limits: RateLimits) -> Self {
        self.rate_limits = rate_limits;
        self
    }

    /// New referral tickets per client address and hour for clients without a session (10
    /// unless set). Past it, their referrals render without a ticket; a ward centre whose
    /// residents share one address (a help desk behind NAT) raises it.
    pub fn with_anonymous_tickets_per_hour(mut self, per_hour: NonZeroU32) -> Self {
        self.anonymous_tickets_per_hour = per_hour;
        self
    }

    /// A bearer token that opens `GET /metrics` on the public router. Without one (the
    /// default) `/metrics` is off the public router; [`metrics_router`](super::metrics_router)
    /// serves it on a separate listener.
    pub fn with_metrics_token(mut self, token: MetricsToken) -> Self {
        self.metrics_token = Some(token);
        self
    }

    /// The secrets the back office signs its status reports with (several during a rotation).
    /// Without any (the default) `POST /api/backoffice/status` answers `503`.
    pub fn with_backoffice_keys(mut self, keys: Vec<BackOfficeKey>) -> Self {
        self.backoffice_keys = keys;
        self
    }

    /// A bearer token that opens `GET /api/stats` to the province's reporting system (staff
    /// open it with their sign-in). Without one, only staff read the statistics.
    pub fn with_stats_token(mut self, token: super::stats_api::StatsToken) -> Self {
        self.stats_token = Some(token);
        self
    }

    /// Gateway mode: the upstream portal behind the gateway and its gate rules (none unless
    /// set: the gateway serves only its own pages).
    pub fn with_upstream(mut self, upstream: super::upstream::Upstream) -> Self {
        self.upstream = Some(upstream);
        self
    }

    /// Builds the gateway state, on a [`Gate`] built from the same parts.
    ///
    /// # Errors
    ///
    /// [`GatewayError::Missing`] naming a required part that was not given;
    /// [`GatewayError::Gate`] when the gate refuses the public URL or the providers (missing,
    /// sharing an id, an issuer or a redirect URI, or with a redirect URI the gateway does not
    /// serve for them); [`GatewayError::UnknownWard`] when the default ward is not in the
    /// directory.
    pub fn build(self) -> Result<Arc<Gateway>, GatewayError> {
        let catalog = self.catalog.ok_or(GatewayError::Missing("catalog"))?;
        let (directory, default_ward) = self.directory.ok_or(GatewayError::Missing("directory"))?;
        let store = self.store.ok_or(GatewayError::Missing("store"))?;
        let session_keys = self
            .session_keys
            .ok_or(GatewayError::Missing("session_keys"))?;
        let signing_key = self
            .signing_key
            .ok_or(GatewayError::Missing("signing_key"))?;
        let pseudonym_key = self
            .pseudonym_key
            .ok_or(GatewayError::Missing("pseudonym_key"))?;
        let dossier_key = self
            .dossier_key
            .ok_or(GatewayError::Missing("dossier_key"))?;
        let home_ward = directory
            .ward(default_ward)
            .cloned()
            .ok_or_else(|| GatewayError::UnknownWard(default_ward.as_str().to_owned()))?;
        let upstream = super::upstream::UpstreamProxy::build(self.upstream, &catalog)?;
        let hooks = Arc::new(PortalHooks::default());
        let gate = Gate::builder(self.public_url.clone(), session_keys, &pseudonym_key)
            .providers(self.providers)
            .with_sessions(self.sessions)
            .with_catalog(catalog.clone())
            .with_directory(directory.clone(), default_ward)
            .with_clock(Arc::clone(&self.clock))
            .with_random(Arc::clone(&self.random))
            .with_hooks(Arc::clone(&hooks) as Arc<dyn GateHooks>)
            // The portal's sign-out forms post to its historical `/logout`.
            .with_logout_path("/logout")
            .build()?;
        let sealer = Arc::new(
            DossierSealer::new(dossier_key, Arc::clone(&self.random))
                .and_then(|sealer| sealer.with_older_keys(self.older_dossier_keys))
                .map_err(|_| GatewayError::DossierKey)?,
        );
        let pseudonyms = Pseudonymizer::from_key(&pseudonym_key);
        let gateway = Arc::new(Gateway {
            pseudonyms,
            backoffice_keys: self.backoffice_keys,
            older_verifying_keys: self.older_verifying_keys,
            procedure_html: ProcedureHtmlCache::new(&catalog, &home_ward),
            tickets: TicketIssuer::new(Arc::clone(&signing_key)),
            submitter: Submitter::new(
                Arc::clone(&store),
                Arc::clone(&signing_key),
                Arc::clone(&sealer),
                Arc::clone(&self.clock),
                Arc::clone(&self.random),
            ),
            key_ring: Arc::clone(gate.sessions().key_ring()),
            cookies: *gate.sessions().settings(),
            gate,
            sealer,
            home_ward,
            catalog,
            directory,
            default_ward,
            store,
            public_url: self.public_url,
            signing_key,
            staff: self.staff,
            metrics: self.metrics,
            booking_ledger: BookingLedger::new(
                self.rate_limits.active_bookings_per_address,
                self.rate_limits.max_tracked,
            ),
            rate_limiter: Arc::new(RateLimiter::new(self.rate_limits, Arc::clone(&self.clock))),
            limits: self.limits,
            metrics_token: self.metrics_token,
            stats_token: self.stats_token,
            clock: self.clock,
            random: self.random,
            decisions: DecisionTally::default(),
            ticket_allowance: TicketAllowance::new(self.anonymous_tickets_per_hour),
            upstream,
        });
        hooks.attach(&gateway);
        Ok(gateway)
    }
}

/// The state behind every handler of the ward gateway.
pub struct Gateway {
    /// The gate the portal is built on: providers, the sealed session, the auth routes.
    gate: Arc<Gate>,
    pub(crate) catalog: Catalog,
    pub(crate) directory: Directory,
    pub(crate) default_ward: WardCode,
    home_ward: Ward,
    pub(crate) store: Arc<dyn Store>,
    /// The gate's key ring: tickets, drafts and staff cookies are sealed with it too.
    pub(crate) key_ring: Arc<KeyRing>,
    pub(crate) cookies: CookieSettings,
    pub(crate) public_url: Url,
    pub(crate) signing_key: Arc<SigningKey>,
    /// Signing keys rotated out whose receipts and tickets must still verify.
    older_verifying_keys: Vec<VerifyingKey>,
    pub(crate) tickets: TicketIssuer,
    pub(crate) submitter: Submitter,
    /// Seals drafts at rest with the dossier key (they hold the same personal data).
    pub(crate) sealer: Arc<DossierSealer>,
    pub(crate) staff: StaffConfig,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) random: Arc<dyn Random>,
    pub(crate) limits: RequestLimits,
    pub(crate) metrics_token: Option<MetricsToken>,
    pub(crate) stats_token: Option<super::stats_api::StatsToken>,
    rate_limiter: Arc<RateLimiter>,
    /// The upcoming bookings per client address, to cap them.
    booking_ledger: BookingLedger,
    /// Decisions counted but not yet written to the audit trail.
    decisions: DecisionTally,
    /// The per-procedure page fragments that do not depend on the request.
    pub(crate) procedure_html: ProcedureHtmlCache,
    /// Derives the dossier secrets printed on receipts.
    pub(crate) pseudonyms: Pseudonymizer,
    /// The back office's status-report secrets; empty turns the route off.
    pub(crate) backoffice_keys: Vec<BackOfficeKey>,
    /// New tickets left per address for clients without a session.
    pub(crate) ticket_allowance: TicketAllowance,
    /// Gateway mode's upstream, with its client.
    pub(crate) upstream: Option<Arc<super::upstream::UpstreamProxy>>,
}

impl fmt::Debug for Gateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gateway")
            .field(
                "providers",
                &self
                    .providers()
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
    /// A required part was not given to the builder.
    #[error("the gateway builder needs `{0}`")]
    Missing(&'static str),
    /// The gate refused its parts (public URL, providers).
    #[error(transparent)]
    Gate(#[from] GateError),
    /// The default ward is not in the directory.
    #[error("ward `{0}` is not in the directory")]
    UnknownWard(String),
    /// The dossier key cannot key AES-256-GCM.
    #[error("the dossier key must be 32 bytes")]
    DossierKey,
    /// A gate rule names a procedure the catalog lacks.
    #[error("the gate rule for `{0}` names a procedure the catalog does not have")]
    UnknownGateProcedure(String),
}

/// The JWK Set of `current` and `older` (each key once, the current one first).
fn published_keys(current: &SigningKey, older: &[VerifyingKey]) -> serde_json::Value {
    let mut keys = vec![current.verifying_key().jwk()];
    keys.extend(
        older
            .iter()
            .filter(|key| key.kid() != current.kid())
            .map(VerifyingKey::jwk),
    );
    serde_json::json!({ "keys": keys })
}

impl Gateway {
    /// A builder for a gateway whose public URL is `public_url` (cookie attributes, links,
    /// origin checks).
    pub fn builder(public_url: Url) -> GatewayBuilder {
        GatewayBuilder {
            public_url,
            providers: Vec::new(),
            catalog: None,
            directory: None,
            store: None,
            session_keys: None,
            signing_key: None,
            older_verifying_keys: Vec::new(),
            pseudonym_key: None,
            dossier_key: None,
            older_dossier_keys: Vec::new(),
            sessions: SessionConfig::default(),
            staff: StaffConfig::default(),
            metrics: Arc::new(Metrics::new()),
            clock: Arc::new(crate::SystemClock),
            random: Arc::new(crate::clock::SystemRandom::new()),
            limits: RequestLimits::DEFAULT,
            rate_limits: RateLimits::default(),
            anonymous_tickets_per_hour: TicketAllowance::DEFAULT_PER_HOUR,
            metrics_token: None,
            backoffice_keys: Vec::new(),
            stats_token: None,
            upstream: None,
        }
    }

    /// The JWK Set published at `/.well-known/jwks.json`: the current signing key first, then
    /// every older one still needed to verify receipts and tickets.
    pub fn jwks(&self) -> serde_json::Value {
        published_keys(&self.signing_key, &self.older_verifying_keys)
    }

    /// The gate the portal is built on.
    pub fn gate(&self) -> &Arc<Gate> {
        &self.gate
    }

    /// The sealer of dossiers at rest; give it to the [`Outbox`](crate::submission::Outbox).
    pub fn dossier_sealer(&self) -> &Arc<DossierSealer> {
        &self.sealer
    }

    /// The metrics this gateway records.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The per-address rate limiter of sign-in and submission.
    pub fn rate_limiter(&self) -> &Arc<RateLimiter> {
        &self.rate_limiter
    }

    /// The upcoming bookings per client address.
    pub(crate) fn booking_ledger(&self) -> &BookingLedger {
        &self.booking_ledger
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
        self.gate.providers()
    }

    /// The first provider: the one of a single-provider gateway, and the one staff sign in with
    /// unless they choose.
    pub(crate) fn default_provider(&self) -> &LoginProvider {
        self.gate.default_provider()
    }

    /// The provider with `id`.
    pub(crate) fn provider(&self, id: &str) -> Option<&LoginProvider> {
        self.gate.provider(id)
    }

    /// The provider whose issuer is `issuer` (issuers are unique among providers).
    pub(crate) fn provider_for_issuer(&self, issuer: &str) -> Option<&LoginProvider> {
        self.providers()
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
