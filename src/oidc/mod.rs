//! The OpenID Connect relying party: discovery, `begin`, `complete`.
//!
//! Rules this module enforces:
//!
//! 1. Authorization code flow only, with PKCE S256, a fresh `state` and `nonce` per login.
//! 2. The issuer is compared exactly; `https` is required except on loopback hosts; outbound
//!    HTTP has timeouts, never follows redirects and caps response sizes.
//! 3. The level is asked for with every mechanism the provider supports (`acr_values`, an
//!    essential `acr` in `claims`, pushed authorization requests so the request cannot be
//!    edited in the browser) — and then **derived only from what came back**, after
//!    verification, through the provider's [`LevelSource`].
//! 4. `state` is compared in constant time; RFC 9207 `iss` is checked when present and required
//!    when advertised; provider error codes become typed outcomes.
//! 5. ID tokens are verified with ring (RS256, PS256, ES256, EdDSA only): issuer, audience,
//!    `azp`, expiry and issue time with a small skew, `nonce`, and `auth_time` when `max_age`
//!    was sent. `crit` is refused; `jku`, `x5u`, `jwk` and `x5c` headers are never used.
//! 6. Claims from userinfo are used only when their `sub` equals the ID token's.
//! 7. A level-1 login is a success with level 1, not an error: what it allows is the policy's
//!    decision.
//! 8. A [`ProviderProfile`] adapts these rules to a real provider by configuration only, and
//!    only where that provider leaves no choice: a profile without ID token
//!    ([`IdTokenExpectation::Absent`], VNeID direct) takes the identity and level from userinfo,
//!    records that no signed ID token backed them
//!    ([`Assurance::has_signed_id_token`](crate::assurance::Assurance::has_signed_id_token)),
//!    and still requires PKCE, `state` and the exact redirect URI; an ID token that does arrive
//!    is verified in full. Encrypted responses are opened only by an operator-supplied
//!    [`EnvelopeDecryptor`], never guessed. See [`manual::profiles`](crate::manual::profiles).
//! 9. A provider without a discovery document is configured with its endpoints
//!    ([`RelyingParty::from_endpoints`]), under the same checks; without a key set it can only
//!    serve a client that expects no ID token, and an ID token it sends anyway is refused.
//!
//! # Example
//!
//! ```no_run
//! use std::sync::Arc;
//! use url::Url;
//! use wardgate::assurance::{AcrTable, LevelSource};
//! use wardgate::oidc::{Callback, ClientConfig, LoginRequest, RelyingParty, ReqwestHttp};
//! use wardgate::{Level, SystemClock, clock::SystemRandom};
//!
//! # async fn run(callback_query: &str) -> Result<(), Box<dyn std::error::Error>> {
//! let config = ClientConfig::new("ward-portal", Url::parse("https://portal.example/auth/callback")?)
//!     .client_secret("s3cret")
//!     .level_source(LevelSource::acr(AcrTable::new(["LoA1"], ["LoA2"])?));
//! let rp = RelyingParty::discover(
//!     "https://idp.example",
//!     config,
//!     ReqwestHttp::new()?,
//!     Arc::new(SystemClock),
//!     Arc::new(SystemRandom::new()),
//! )
//! .await?;
//!
//! // Send the browser to `redirect`; seal `pending` into the login-flow cookie.
//! let (redirect, pending) = rp.begin(&LoginRequest::new(Level::Two)).await?;
//!
//! // On the redirect URI:
//! let login = rp.complete(pending, &Callback::from_query(callback_query)).await?;
//! if login.assurance().meets(Level::Two) { /* online */ } else { /* the policy routes */ }
//! # Ok(()) }
//! ```

mod breaker;
mod callback;
mod codes;
mod discovery;
mod endpoints;
mod envelope;
mod id_token;
mod identity;
mod jwk;
mod profile;
mod transport;

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Duration, Utc};
use oauth2::{ClientSecret, PkceCodeChallenge, PkceCodeVerifier};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use url::Url;

pub use breaker::{BreakerConfig, CircuitBreaker, CircuitMonitor, CircuitState};
pub use callback::Callback;
pub use discovery::{DiscoveryError, ProviderMetadata, is_loopback};
pub use endpoints::ProviderEndpoints;
pub use envelope::{EnvelopeDecryptor, EnvelopeError, EnvelopePart};
pub use id_token::{
    Expectations, IdTokenError, IdTokenVerifier, MAX_ID_TOKEN_BYTES, VerifiedIdToken,
};
pub use identity::ResidentIdentity;
pub use jwk::{Jwks, JwksError};
pub use profile::{
    IdTokenExpectation, KEYCLOAK_LEVEL_CLAIM, NPSP_ACR_LEVEL_1, NPSP_ACR_LEVEL_2, NPSP_LEVEL_CLAIM,
    ProviderProfile, UnknownProfile, VNEID_LEVEL_CLAIM, VNEID_SUBJECT_CLAIM,
};
pub use transport::{BoxFuture, HttpClient, HttpError, ReqwestHttp};

use crate::assurance::{AcrTable, Assurance, Level, LevelSource, ReturnedClaims};
use crate::clock::{Clock, Random, random_token};
use id_token::constant_time_eq;
use jwk::JwksCache;

/// How long a pending login stays valid: the resident has this long at the provider.
pub const LOGIN_TIMEOUT: Duration = Duration::minutes(10);

/// Largest token or userinfo response body parsed.
const MAX_JSON_BYTES: usize = 64 * 1024;

/// How this relying party is registered at the provider.
#[derive(Clone)]
pub struct ClientConfig {
    client_id: String,
    client_secret: Option<ClientSecret>,
    redirect_uri: Url,
    level_source: LevelSource,
    scopes: Vec<String>,
    ui_locales: Option<String>,
    skew: Duration,
    use_par: bool,
    fetch_userinfo: bool,
    jwks_min_refresh: Duration,
    profile: ProviderProfile,
    id_token: IdTokenExpectation,
    subject_claim: Option<String>,
    requested_acr: Option<AcrTable>,
    decryptor: Option<Arc<dyn EnvelopeDecryptor>>,
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("redirect_uri", &self.redirect_uri.as_str())
            .field("level_source", &self.level_source)
            .field("scopes", &self.scopes)
            .field("profile", &self.profile)
            .field("id_token", &self.id_token)
            .field("subject_claim", &self.subject_claim)
            .field("requested_acr", &self.requested_acr)
            .field("envelope_decryptor", &self.decryptor.is_some())
            .finish_non_exhaustive()
    }
}

impl ClientConfig {
    /// A public client (no secret) with the exact registered `redirect_uri`, reading the level
    /// with [`LevelSource::vneid`] until [`level_source`](Self::level_source) says otherwise.
    pub fn new(client_id: impl Into<String>, redirect_uri: Url) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: None,
            redirect_uri,
            level_source: LevelSource::vneid(),
            scopes: Vec::new(),
            ui_locales: Some("vi".to_owned()),
            skew: IdTokenVerifier::DEFAULT_SKEW,
            use_par: true,
            fetch_userinfo: false,
            jwks_min_refresh: Duration::seconds(30),
            profile: ProviderProfile::Standard,
            id_token: IdTokenExpectation::Required,
            subject_claim: None,
            requested_acr: None,
            decryptor: None,
        }
    }

    /// Applies the defaults of `profile`: the level source, whether an ID token is required,
    /// whether userinfo is fetched, the claim that identifies the resident without an ID token,
    /// and the `acr` values requested.
    ///
    /// Call it first: later builder calls override the profile's defaults, earlier ones are
    /// overwritten. The decryptor, secret, scopes and other settings are kept.
    ///
    /// # Example
    ///
    /// ```
    /// use url::Url;
    /// use wardgate::oidc::{ClientConfig, IdTokenExpectation, ProviderProfile};
    ///
    /// let config = ClientConfig::new("ward-portal", Url::parse("https://portal.example/cb")?)
    ///     .profile(ProviderProfile::VneidDirect);
    /// assert_eq!(config.provider_profile(), ProviderProfile::VneidDirect);
    /// assert_eq!(config.id_token_expected(), IdTokenExpectation::Absent);
    /// assert_eq!(config.userinfo_subject_claim(), Some("citizenPid"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn profile(mut self, profile: ProviderProfile) -> Self {
        self.profile = profile;
        self.level_source = profile.default_level_source();
        self.id_token = profile.id_token();
        self.fetch_userinfo = profile.fetches_userinfo();
        self.subject_claim = profile.subject_claim().map(str::to_owned);
        self.requested_acr = profile.requested_acr();
        self
    }

    /// Opens encrypted token and userinfo responses and encrypted codes with `decryptor`.
    ///
    /// Without one, a login whose provider sends an envelope fails with
    /// [`EnvelopeWithoutDecryptor`](LoginErrorKind::EnvelopeWithoutDecryptor).
    #[must_use]
    pub fn envelope_decryptor(mut self, decryptor: Arc<dyn EnvelopeDecryptor>) -> Self {
        self.decryptor = Some(decryptor);
        self
    }

    /// Whether the provider must issue an ID token (the profile's default).
    ///
    /// # Security
    ///
    /// [`IdTokenExpectation::Absent`] accepts logins with no signed ID token: the identity then
    /// rests on a TLS-protected userinfo response, bound to the login by PKCE, `state` and the
    /// exact redirect URI only. See [`manual::profiles`](crate::manual::profiles).
    #[must_use]
    pub fn id_token_expectation(mut self, expectation: IdTokenExpectation) -> Self {
        self.id_token = expectation;
        self
    }

    /// The userinfo claim that identifies the resident when the provider issues no ID token
    /// (default: the profile's, `citizenPid` for VNeID direct; `None` means `sub`).
    #[must_use]
    pub fn subject_claim(mut self, claim: Option<String>) -> Self {
        self.subject_claim = claim;
        self
    }

    /// The `acr` values requested when the level source is not `acr` (default: the profile's,
    /// `LoA1`/`LoA2` for NPSP). They are only a wish: the level still comes from the level
    /// source.
    #[must_use]
    pub fn requested_acr(mut self, table: Option<AcrTable>) -> Self {
        self.requested_acr = table;
        self
    }

    /// The provider profile whose defaults were applied ([`ProviderProfile::Standard`] unless
    /// [`profile`](Self::profile) was called).
    pub fn provider_profile(&self) -> ProviderProfile {
        self.profile
    }

    /// Whether the provider must issue an ID token, as configured.
    pub fn id_token_expected(&self) -> IdTokenExpectation {
        self.id_token
    }

    /// The userinfo claim that identifies the resident without an ID token (`None`: `sub`).
    pub fn userinfo_subject_claim(&self) -> Option<&str> {
        self.subject_claim.as_deref()
    }

    /// Whether an envelope decryptor is configured.
    pub fn has_envelope_decryptor(&self) -> bool {
        self.decryptor.is_some()
    }

    /// Makes this a confidential client authenticating with `secret` (`client_secret_basic`,
    /// or `client_secret_post` when that is all the provider supports).
    #[must_use]
    pub fn client_secret(mut self, secret: impl Into<String>) -> Self {
        self.client_secret = Some(ClientSecret::new(secret.into()));
        self
    }

    /// Where the provider states the level.
    #[must_use]
    pub fn level_source(mut self, source: LevelSource) -> Self {
        self.level_source = source;
        self
    }

    /// Scopes requested besides `openid`.
    #[must_use]
    pub fn scopes<I: IntoIterator<Item = S>, S: Into<String>>(mut self, scopes: I) -> Self {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// The `ui_locales` sent (default `vi`); `None` sends none.
    #[must_use]
    pub fn ui_locales(mut self, locales: Option<String>) -> Self {
        self.ui_locales = locales;
        self
    }

    /// Clock skew allowed on token times (default 60 s).
    #[must_use]
    pub fn clock_skew(mut self, skew: Duration) -> Self {
        self.skew = skew;
        self
    }

    /// Whether to use pushed authorization requests when the provider advertises them
    /// (default `true`). A provider that requires them gets them regardless.
    #[must_use]
    pub fn pushed_authorization_requests(mut self, enabled: bool) -> Self {
        self.use_par = enabled;
        self
    }

    /// Whether to fetch userinfo even when the level source does not need it (default `false`).
    #[must_use]
    pub fn fetch_userinfo(mut self, fetch: bool) -> Self {
        self.fetch_userinfo = fetch;
        self
    }

    /// The minimum time between two key-set refreshes triggered by unknown key ids (default
    /// 30 s).
    #[must_use]
    pub fn jwks_min_refresh_interval(mut self, interval: Duration) -> Self {
        self.jwks_min_refresh = interval;
        self
    }

    /// Where the provider states the level.
    pub fn assurance_source(&self) -> &LevelSource {
        &self.level_source
    }

    /// The client id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The redirect URI.
    pub fn redirect_uri(&self) -> &Url {
        &self.redirect_uri
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ClientAuth {
    Basic,
    Post,
    None,
}

/// What a login should achieve.
#[derive(Clone, Debug)]
#[must_use]
pub struct LoginRequest {
    level: Level,
    max_age: Option<Duration>,
    essential_acr: bool,
    prompt_login: bool,
}

impl LoginRequest {
    /// A login aimed at `level`.
    pub fn new(level: Level) -> Self {
        Self {
            level,
            max_age: None,
            essential_acr: true,
            prompt_login: false,
        }
    }

    /// Requires the resident to have authenticated at most `max_age` ago; `auth_time` is then
    /// mandatory in the ID token.
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    /// Whether to ask for `acr` as an essential claim when the provider supports the `claims`
    /// parameter (default `true`). A provider then fails the login with
    /// `unmet_authentication_requirements` instead of returning a lower level.
    pub fn essential_acr(mut self, essential: bool) -> Self {
        self.essential_acr = essential;
        self
    }

    /// Sends `prompt=login`, forcing the provider to authenticate the resident again.
    pub fn prompt_login(mut self, prompt: bool) -> Self {
        self.prompt_login = prompt;
        self
    }

    /// The level the login aims at.
    pub fn level(&self) -> Level {
        self.level
    }
}

/// A login in progress: what `complete` needs to check the provider's answer.
///
/// Holds secrets (state, nonce, PKCE verifier). Seal it into the short-lived, single-use
/// login-flow cookie; never log it.
#[derive(Clone, Serialize, Deserialize)]
#[must_use = "store it in the login-flow cookie, or the callback cannot be verified"]
pub struct PendingLogin {
    #[serde(rename = "i")]
    issuer: String,
    #[serde(rename = "s")]
    state: String,
    #[serde(rename = "n")]
    nonce: String,
    #[serde(rename = "v")]
    code_verifier: String,
    #[serde(rename = "l")]
    level: Level,
    #[serde(rename = "m", default, skip_serializing_if = "Option::is_none")]
    max_age_secs: Option<i64>,
    #[serde(rename = "t")]
    started_at: DateTime<Utc>,
}

impl fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingLogin")
            .field("issuer", &self.issuer)
            .field("level", &self.level)
            .field("max_age_secs", &self.max_age_secs)
            .field("started_at", &self.started_at)
            .finish_non_exhaustive()
    }
}

impl PendingLogin {
    /// The level the login aimed at.
    pub fn level(&self) -> Level {
        self.level
    }

    /// The `max_age` sent, if any.
    pub fn max_age(&self) -> Option<Duration> {
        self.max_age_secs.map(Duration::seconds)
    }

    /// The issuer the resident was sent to.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The `state` value.
    ///
    /// # Security
    ///
    /// A one-time secret binding the callback to this browser: use it only as a key for
    /// single-use bookkeeping, never log it.
    pub fn state(&self) -> &str {
        &self.state
    }

    /// When the login started.
    pub fn started_at(&self) -> DateTime<Utc> {
        self.started_at
    }
}

/// A login whose every check passed.
#[derive(Clone)]
pub struct VerifiedLogin {
    issuer: String,
    subject: String,
    assurance: Assurance,
    userinfo: Option<Map<String, Value>>,
    id_token_claims: Option<Map<String, Value>>,
    /// The verified ID token as the provider sent it, for `id_token_hint` at sign-out.
    id_token: Option<String>,
    profile: ProviderProfile,
}

impl fmt::Debug for VerifiedLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The subject and userinfo identify a person: never printed.
        f.debug_struct("VerifiedLogin")
            .field("issuer", &self.issuer)
            .field("subject", &"[redacted]")
            .field("assurance", &self.assurance)
            .field("userinfo", &self.userinfo.as_ref().map(|_| "[redacted]"))
            .field(
                "id_token_claims",
                &self.id_token_claims.as_ref().map(|_| "[redacted]"),
            )
            .field("profile", &self.profile)
            .finish()
    }
}

impl VerifiedLogin {
    /// The verified assurance, with the level derived from what the provider returned.
    pub fn assurance(&self) -> &Assurance {
        &self.assurance
    }

    /// The provider's identifier for the resident: the ID token's `sub`, or, for a provider
    /// without ID token, the configured userinfo claim (VNeID direct: `citizenPid`, the personal
    /// identification number).
    ///
    /// # Security
    ///
    /// Personal data: store a keyed hash of issuer and subject, not the value itself.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The profile of the provider that signed the resident in.
    pub fn profile(&self) -> ProviderProfile {
        self.profile
    }

    /// The resident's identity attributes from userinfo, under the profile's names (NPSP's
    /// `HoVaTen`, `SoDinhDanh`, … or VNeID's `fullName`, `citizenPid`, …); `None` when userinfo
    /// was not fetched.
    ///
    /// # Security
    ///
    /// Personal data: use for the dossier only, never log or keep it.
    pub fn identity(&self) -> Option<ResidentIdentity> {
        self.userinfo
            .as_ref()
            .map(|userinfo| ResidentIdentity::from_userinfo(self.profile, userinfo))
    }

    /// The issuer.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The userinfo claims, when they were fetched (their `sub` matched the ID token's, when
    /// there was one).
    ///
    /// # Security
    ///
    /// Personal data (names, ID numbers): use for the dossier only, never log or keep it.
    pub fn userinfo(&self) -> Option<&Map<String, Value>> {
        self.userinfo.as_ref()
    }

    /// The claims of the verified, signed ID token beyond the registered ones (`roles`, …);
    /// `None` when the provider sent no ID token. Unlike [`userinfo`](Self::userinfo), these
    /// were signed by the provider, so an authorisation decision may rest on them.
    ///
    /// # Security
    ///
    /// May hold personal data: never log or keep it.
    pub fn id_token_claims(&self) -> Option<&Map<String, Value>> {
        self.id_token_claims.as_ref()
    }

    /// The verified ID token as the provider sent it (compact JWS); `None` when the provider
    /// sent none. It is what RP-Initiated Logout's `id_token_hint` carries.
    ///
    /// # Security
    ///
    /// Holds the subject and the provider's claims: never log it.
    pub fn id_token(&self) -> Option<&str> {
        self.id_token.as_deref()
    }
}

/// Why a login did not produce a [`VerifiedLogin`].
#[derive(Debug, thiserror::Error)]
#[error("{kind}")]
pub struct LoginError {
    kind: LoginErrorKind,
    provider_error: Option<String>,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl LoginError {
    fn new(kind: LoginErrorKind) -> Self {
        Self {
            kind,
            provider_error: None,
            source: None,
        }
    }

    fn with_source(
        kind: LoginErrorKind,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            kind,
            provider_error: None,
            source: Some(Box::new(source)),
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> LoginErrorKind {
        self.kind
    }

    /// The OAuth `error` code the provider returned, if the failure came from one.
    pub fn provider_error(&self) -> Option<&str> {
        self.provider_error.as_deref()
    }
}

/// The kinds of [`LoginError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LoginErrorKind {
    /// The resident cancelled at the provider (`access_denied`).
    #[error("the resident cancelled the login")]
    Cancelled,
    /// The provider cannot reach the requested level for this resident
    /// (`unmet_authentication_requirements`).
    #[error("the provider could not reach the requested level")]
    LevelUnreachable,
    /// The provider needs interaction it could not get (`login_required`,
    /// `interaction_required`, `consent_required`, `account_selection_required`).
    #[error("the provider needs the resident to interact")]
    InteractionRequired,
    /// The provider is down, slow, or said so (`temporarily_unavailable`, `server_error`).
    #[error("the identity provider is unavailable")]
    ProviderUnavailable,
    /// The provider returned another error code; see [`LoginError::provider_error`].
    #[error("the identity provider returned an error")]
    ProviderError,
    /// `state` is missing or does not match this browser's login.
    #[error("the callback's state does not match the login")]
    StateMismatch,
    /// The callback's `iss` is not the provider this login went to (RFC 9207 mix-up), or the
    /// pending login belongs to another provider.
    #[error("the callback comes from another issuer")]
    IssuerMismatch,
    /// The provider advertises RFC 9207 but the callback has no `iss`.
    #[error("the callback has no iss although the provider advertises it")]
    MissingIssuer,
    /// The callback query is malformed or has no code.
    #[error("the callback is malformed")]
    MalformedCallback,
    /// The pending login is older than [`LOGIN_TIMEOUT`].
    #[error("the login took too long")]
    Expired,
    /// The token endpoint refused the code (`invalid_grant`: reused, expired or PKCE mismatch).
    #[error("the provider refused the authorization code")]
    CodeRejected,
    /// The token endpoint answered something unusable, or refused the client.
    #[error("the token endpoint's answer is unusable")]
    TokenEndpoint,
    /// The token response has no ID token.
    #[error("the provider returned no ID token")]
    MissingIdToken,
    /// The ID token failed verification.
    #[error("the ID token was refused: {0}")]
    IdToken(IdTokenError),
    /// The userinfo `sub` differs from the ID token's.
    #[error("the userinfo subject differs from the ID token's")]
    SubjectMismatch,
    /// The userinfo response is unusable.
    #[error("the userinfo response is unusable")]
    Userinfo,
    /// The system random generator failed.
    #[error("the random generator failed")]
    Random,
    /// The provider sent an encrypted response (or an encrypted code) and no
    /// [`EnvelopeDecryptor`] is configured.
    #[error("the provider sent an encrypted response and no envelope decryptor is configured")]
    EnvelopeWithoutDecryptor,
    /// The configured [`EnvelopeDecryptor`] could not open an encrypted response or code; the
    /// [`EnvelopeError`] is the source.
    #[error("an encrypted response from the provider could not be opened")]
    Envelope,
    /// Without an ID token, the userinfo response lacks the claim that identifies the resident.
    #[error("the userinfo response does not identify the resident")]
    MissingSubject,
    /// The provider sent an ID token, but the relying party was built from configured endpoints
    /// without a `jwks_uri` ([`RelyingParty::from_endpoints`]), so it cannot be verified. An
    /// unverifiable token is never accepted: configure the provider's `jwks_uri`.
    #[error("the provider sent an ID token and no key set (jwks_uri) is configured to verify it")]
    IdTokenWithoutKeySet,
}

/// Where a relying party's metadata came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MetadataOrigin {
    /// The provider's discovery document.
    Discovered,
    /// The operator's [`ProviderEndpoints`].
    Configured,
}

struct Inner {
    metadata: ProviderMetadata,
    origin: MetadataOrigin,
    config: ClientConfig,
    auth: ClientAuth,
    http: Arc<dyn HttpClient>,
    clock: Arc<dyn Clock>,
    random: Arc<dyn Random>,
    jwks: JwksCache,
    verifier: IdTokenVerifier,
}

/// An OpenID Connect relying party for one provider. Cheap to clone.
#[derive(Clone)]
pub struct RelyingParty {
    inner: Arc<Inner>,
}

impl fmt::Debug for RelyingParty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RelyingParty")
            .field("issuer", &self.inner.metadata.issuer)
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl RelyingParty {
    /// Discovers `issuer` and fetches its keys.
    ///
    /// `issuer` must be exactly the provider's issuer identifier (compare: no trailing slash
    /// is added or removed).
    ///
    /// # Errors
    ///
    /// [`DiscoveryError`] when the issuer is not acceptable, the provider cannot be reached,
    /// its documents are malformed, its issuer differs, or it lacks the code flow, PKCE S256,
    /// or a client authentication method this client can use.
    pub async fn discover(
        issuer: &str,
        config: ClientConfig,
        http: impl HttpClient + 'static,
        clock: Arc<dyn Clock>,
        random: Arc<dyn Random>,
    ) -> Result<Self, DiscoveryError> {
        let http: Arc<dyn HttpClient> = Arc::new(http);
        let metadata = discovery::discover(http.as_ref(), issuer).await?;
        Self::build(
            metadata,
            MetadataOrigin::Discovered,
            config,
            http,
            clock,
            random,
        )
        .await
    }

    /// Builds a relying party from endpoints the operator configured, for a provider that
    /// publishes no discovery document (VNeID's direct integration). Fetches the key set when
    /// `endpoints` has a `jwks_uri`; makes no other request.
    ///
    /// The checks are those of [`discover`](Self::discover): `issuer` must be an https URL
    /// (http only on a loopback host) and is kept exactly as written — it is what RFC 9207
    /// `iss` in a callback and an ID token's `iss` are compared with — and every endpoint must
    /// be https (http only on loopback).
    ///
    /// Without a `jwks_uri` no ID token can be verified, so only a client that expects none
    /// ([`IdTokenExpectation::Absent`], the `vneid-direct` profile) can be built; if such a
    /// provider does send an ID token, the login fails with
    /// [`IdTokenWithoutKeySet`](LoginErrorKind::IdTokenWithoutKeySet) rather than accepting
    /// it unverified.
    ///
    /// [`is_reachable`](Self::is_reachable) then asks the authorization endpoint instead of a
    /// discovery document.
    ///
    /// # Errors
    ///
    /// [`DiscoveryError`], naming the setting where one is wrong:
    /// [`InvalidIssuer`](DiscoveryError::InvalidIssuer) or
    /// [`InsecureIssuer`](DiscoveryError::InsecureIssuer) for the issuer;
    /// [`BadEndpoint`](DiscoveryError::BadEndpoint) for an endpoint that is not an https URL;
    /// [`BadSetting`](DiscoveryError::BadSetting) for an unknown `token_endpoint_auth_method`,
    /// one that disagrees with whether `config` has a client secret, or
    /// `require_pushed_authorization_requests` without an endpoint; without a `jwks_uri`:
    /// [`KeySetRequired`](DiscoveryError::KeySetRequired) when `config` requires an ID token,
    /// [`LevelSourceNeedsKeySet`](DiscoveryError::LevelSourceNeedsKeySet) when its level source
    /// reads only the ID token; [`Http`](DiscoveryError::Http),
    /// [`Status`](DiscoveryError::Status) or [`Malformed`](DiscoveryError::Malformed) when the
    /// key set cannot be fetched.
    ///
    /// # Example
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use url::Url;
    /// use wardgate::oidc::{ClientConfig, ProviderEndpoints, ProviderProfile, RelyingParty, ReqwestHttp};
    /// use wardgate::{SystemClock, clock::SystemRandom};
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let config = ClientConfig::new("ward-portal", Url::parse("https://portal.example/auth/callback")?)
    ///     .client_secret("s3cret")
    ///     .profile(ProviderProfile::VneidDirect);
    /// let endpoints = ProviderEndpoints::new(
    ///     "https://sso.dancuquocgia.gov.vn/auth",
    ///     "https://sso.dancuquocgia.gov.vn/token",
    /// )
    /// .userinfo_endpoint("https://sso.dancuquocgia.gov.vn/userinfo");
    /// let rp = RelyingParty::from_endpoints(
    ///     "https://sso.dancuquocgia.gov.vn",
    ///     endpoints,
    ///     config,
    ///     ReqwestHttp::new()?,
    ///     Arc::new(SystemClock),
    ///     Arc::new(SystemRandom::new()),
    /// )
    /// .await?;
    /// # let _ = rp;
    /// # Ok(()) }
    /// ```
    pub async fn from_endpoints(
        issuer: &str,
        endpoints: ProviderEndpoints,
        config: ClientConfig,
        http: impl HttpClient + 'static,
        clock: Arc<dyn Clock>,
        random: Arc<dyn Random>,
    ) -> Result<Self, DiscoveryError> {
        let metadata = endpoints.metadata(issuer)?;
        if metadata.jwks_uri.is_none() && config.id_token == IdTokenExpectation::Required {
            return Err(DiscoveryError::KeySetRequired {
                profile: config.profile,
            });
        }
        if metadata.jwks_uri.is_none() && !config.level_source.needs_userinfo() {
            return Err(DiscoveryError::LevelSourceNeedsKeySet {
                source_kind: config.level_source.kind().as_str(),
            });
        }
        // The one configured method must fit the client; `build` would only say "unsupported".
        let method = endpoints.auth_method();
        match (&config.client_secret, method) {
            (Some(_), "none") => {
                return Err(DiscoveryError::BadSetting {
                    field: "token_endpoint_auth_method",
                    value: method.to_owned(),
                    expected: "client_secret_basic or client_secret_post for a client with a \
                               secret",
                });
            }
            (None, "client_secret_basic" | "client_secret_post") => {
                return Err(DiscoveryError::BadSetting {
                    field: "token_endpoint_auth_method",
                    value: method.to_owned(),
                    expected: "none for a client without a secret",
                });
            }
            _ => {}
        }
        let http: Arc<dyn HttpClient> = Arc::new(http);
        Self::build(
            metadata,
            MetadataOrigin::Configured,
            config,
            http,
            clock,
            random,
        )
        .await
    }

    /// Chooses the client authentication, fetches the keys (when there is a key set) and
    /// assembles the relying party.
    async fn build(
        metadata: ProviderMetadata,
        origin: MetadataOrigin,
        config: ClientConfig,
        http: Arc<dyn HttpClient>,
        clock: Arc<dyn Clock>,
        random: Arc<dyn Random>,
    ) -> Result<Self, DiscoveryError> {
        config
            .profile
            .check_level_source(&config.level_source)
            .map_err(|error| DiscoveryError::LevelSource {
                profile: config.profile,
                error,
            })?;
        if let LevelSource::IdTokenAcr(table) = &config.level_source {
            let freshness_values = table.keycloak_default_values();
            if !freshness_values.is_empty() {
                // Plain numbers are some providers' levels, but a Keycloak realm sends "0"/"1"
                // for every login: worth a word at start-up, not a refusal.
                tracing::warn!(
                    issuer = %metadata.issuer,
                    values = ?freshness_values,
                    "the acr table maps values a Keycloak realm sends for login freshness; \
                     if this provider is a Keycloak broker, use the keycloak-broker profile"
                );
            }
        }
        let supports = |m: &str| {
            metadata
                .token_endpoint_auth_methods_supported
                .iter()
                .any(|s| s == m)
        };
        let auth = match &config.client_secret {
            Some(_) if supports("client_secret_basic") => ClientAuth::Basic,
            Some(_) if supports("client_secret_post") => ClientAuth::Post,
            Some(_) => {
                return Err(DiscoveryError::Unsupported {
                    what: "client_secret_basic or client_secret_post",
                });
            }
            None if supports("none") => ClientAuth::None,
            None => {
                return Err(DiscoveryError::Unsupported {
                    what: "public clients (token_endpoint_auth_method none)",
                });
            }
        };
        let keys = match &metadata.jwks_uri {
            Some(uri) => fetch_jwks(http.as_ref(), uri).await?,
            // Nothing to verify with: an ID token that arrives is refused (`complete`).
            None => Jwks::empty(),
        };
        let verifier = IdTokenVerifier::new(&metadata.issuer, &config.client_id)
            .map_err(|_| DiscoveryError::InvalidIssuer {
                issuer: metadata.issuer.clone(),
            })?
            .with_skew(config.skew);
        let jwks = JwksCache::new(keys, clock.now(), config.jwks_min_refresh);
        Ok(Self {
            inner: Arc::new(Inner {
                metadata,
                origin,
                config,
                auth,
                http,
                clock,
                random,
                jwks,
                verifier,
            }),
        })
    }

    /// The provider's validated metadata.
    pub fn metadata(&self) -> &ProviderMetadata {
        &self.inner.metadata
    }

    /// The provider's issuer identifier.
    pub fn issuer(&self) -> &str {
        &self.inner.metadata.issuer
    }

    /// The client configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// The clock this relying party reads the time from (the gate spaces provider probes on it).
    #[cfg(feature = "axum")]
    pub(crate) fn clock(&self) -> &dyn Clock {
        self.inner.clock.as_ref()
    }

    /// Whether the provider answers now (for readiness probes): its discovery document is
    /// served and valid, or the provider answered `429` (up, but asking for less traffic); for
    /// a relying party built
    /// [`from_endpoints`](Self::from_endpoints), its authorization endpoint answers with a
    /// status below 500 (a bare request is normally refused with a 4xx page: the provider is
    /// up).
    pub async fn is_reachable(&self) -> bool {
        let inner = &*self.inner;
        match inner.origin {
            // A `429` is an answer: the provider is up, only busy.
            MetadataOrigin::Discovered => matches!(
                discovery::discover(inner.http.as_ref(), &inner.metadata.issuer).await,
                Ok(_) | Err(DiscoveryError::Status { status: 429, .. })
            ),
            MetadataOrigin::Configured => {
                discovery::answers(inner.http.as_ref(), &inner.metadata.authorization_endpoint)
                    .await
            }
        }
    }

    /// Starts a login: returns the URL to send the browser to and the pending login to keep.
    ///
    /// # Errors
    ///
    /// [`LoginError`] of kind [`Random`](LoginErrorKind::Random), or, when a pushed
    /// authorization request fails, [`ProviderUnavailable`](LoginErrorKind::ProviderUnavailable)
    /// or [`ProviderError`](LoginErrorKind::ProviderError).
    pub async fn begin(&self, request: &LoginRequest) -> Result<(Url, PendingLogin), LoginError> {
        let inner = &*self.inner;
        let random = inner.random.as_ref();
        let fresh =
            || random_token::<32>(random).map_err(|_| LoginError::new(LoginErrorKind::Random));
        let state = fresh()?;
        let nonce = fresh()?;
        let verifier = PkceCodeVerifier::new(fresh()?);
        let challenge = PkceCodeChallenge::from_code_verifier_sha256(&verifier);

        let mut params: Vec<(&str, String)> = vec![
            ("response_type", "code".to_owned()),
            ("client_id", inner.config.client_id.clone()),
            ("redirect_uri", inner.config.redirect_uri.to_string()),
            ("scope", self.scope()),
            ("state", state.clone()),
            ("nonce", nonce.clone()),
            ("code_challenge", challenge.as_str().to_owned()),
            ("code_challenge_method", "S256".to_owned()),
        ];
        let acr_values = inner.config.level_source.acr_values_for(request.level);
        // A profile whose level is not read from `acr` may still ask for one (NPSP's LoA2):
        // a wish the provider can honour, never the source of the level.
        let requested_acr = match &inner.config.requested_acr {
            Some(table) if acr_values.is_empty() => table.values_at_least(request.level),
            _ => Vec::new(),
        };
        if !requested_acr.is_empty() {
            params.push(("acr_values", requested_acr.join(" ")));
        }
        if !acr_values.is_empty() {
            params.push(("acr_values", acr_values.join(" ")));
            if request.essential_acr && inner.metadata.claims_parameter_supported {
                // OIDC Core 5.5.1.1: an essential acr makes the provider fail the login rather
                // than return a lower level.
                let mut id_token = json!({"acr": {"essential": true, "values": acr_values}});
                if request.max_age.is_some() {
                    id_token["auth_time"] = json!({"essential": true});
                }
                params.push(("claims", json!({ "id_token": id_token }).to_string()));
            }
        }
        if let Some(max_age) = request.max_age {
            params.push(("max_age", max_age.num_seconds().max(0).to_string()));
        }
        // Without a signed ID token there is no `auth_time` to trust: the gateway takes the
        // start of the login as the authentication time, which is true only if the provider
        // authenticates the resident again, so every such login asks it to.
        if request.prompt_login || inner.config.id_token == IdTokenExpectation::Absent {
            params.push(("prompt", "login".to_owned()));
        }
        if let Some(locales) = &inner.config.ui_locales {
            params.push(("ui_locales", locales.clone()));
        }

        let mut url = inner.metadata.authorization_endpoint.clone();
        let par = inner
            .metadata
            .pushed_authorization_request_endpoint
            .as_ref()
            .filter(|_| {
                inner.config.use_par || inner.metadata.require_pushed_authorization_requests
            });
        if let Some(par_endpoint) = par {
            let request_uri = self.push_request(par_endpoint, &params).await?;
            url.query_pairs_mut()
                .append_pair("client_id", &inner.config.client_id)
                .append_pair("request_uri", &request_uri);
        } else {
            let mut pairs = url.query_pairs_mut();
            for (name, value) in &params {
                pairs.append_pair(name, value);
            }
        }
        let pending = PendingLogin {
            issuer: inner.metadata.issuer.clone(),
            state,
            nonce,
            code_verifier: verifier.secret().clone(),
            level: request.level,
            max_age_secs: request.max_age.map(|d| d.num_seconds()),
            started_at: inner.clock.now(),
        };
        Ok((url, pending))
    }

    /// Completes a login from the callback, verifying everything the provider returned.
    ///
    /// # Errors
    ///
    /// [`LoginError`] whose [`kind`](LoginError::kind) says which check failed or what the
    /// provider answered.
    pub async fn complete(
        &self,
        pending: PendingLogin,
        callback: &Callback,
    ) -> Result<VerifiedLogin, LoginError> {
        let inner = &*self.inner;
        let now = inner.clock.now();
        if !callback.is_well_formed() {
            return Err(LoginError::new(LoginErrorKind::MalformedCallback));
        }
        if pending.issuer != inner.metadata.issuer {
            return Err(LoginError::new(LoginErrorKind::IssuerMismatch));
        }
        // RFC 6749 §10.12: the state binds the response to this browser's login.
        match callback.get("state") {
            Some(state) if constant_time_eq(state, &pending.state) => {}
            _ => return Err(LoginError::new(LoginErrorKind::StateMismatch)),
        }
        // RFC 9207 §2.4: check iss before using anything else of the response.
        match callback.get("iss") {
            Some(iss) if iss == inner.metadata.issuer => {}
            Some(_) => return Err(LoginError::new(LoginErrorKind::IssuerMismatch)),
            None if inner
                .metadata
                .authorization_response_iss_parameter_supported =>
            {
                return Err(LoginError::new(LoginErrorKind::MissingIssuer));
            }
            None => {}
        }
        if now - pending.started_at > LOGIN_TIMEOUT {
            return Err(LoginError::new(LoginErrorKind::Expired));
        }
        if let Some(code) = callback.get("error") {
            return Err(provider_error(code));
        }
        let code = match callback.get("code") {
            Some(code) if !code.is_empty() => code,
            _ => return Err(LoginError::new(LoginErrorKind::MalformedCallback)),
        };
        // VNeID direct may encrypt the code, with its key in `encrypt_key` (domain brief §1.4 C).
        let code: Cow<'_, str> = match callback.get("encrypt_key") {
            Some(encrypt_key) => Cow::Owned(
                self.decryptor()?
                    .decrypt_code(code, encrypt_key)
                    .map_err(|e| LoginError::with_source(LoginErrorKind::Envelope, e))?,
            ),
            None => Cow::Borrowed(code),
        };

        let tokens = self.exchange_code(&code, &pending.code_verifier).await?;
        let verified = match (&tokens.id_token, inner.config.id_token) {
            // An ID token is verified whenever one arrives, even from a profile that expects
            // none: its signature and nonce only add to the binding. Without a key set it
            // cannot be verified, and an unverified token is never used.
            (Some(_), _) if inner.metadata.jwks_uri.is_none() => {
                return Err(LoginError::new(LoginErrorKind::IdTokenWithoutKeySet));
            }
            (Some(id_token), _) => Some(
                self.verify_id_token(id_token, &pending, now)
                    .await
                    .map_err(|e| LoginError::new(LoginErrorKind::IdToken(e)))?,
            ),
            (None, IdTokenExpectation::Required) => {
                return Err(LoginError::new(LoginErrorKind::MissingIdToken));
            }
            (None, IdTokenExpectation::Absent) => None,
        };

        let userinfo = if verified.is_none()
            || inner.config.level_source.needs_userinfo()
            || inner.config.fetch_userinfo
        {
            Some(
                self.fetch_userinfo(
                    &tokens.access_token,
                    verified.as_ref().map(VerifiedIdToken::subject),
                )
                .await?,
            )
        } else {
            None
        };

        let subject = match (&verified, &userinfo) {
            (Some(verified), _) => verified.subject().to_owned(),
            (None, Some(userinfo)) => self.userinfo_subject(userinfo)?,
            (None, None) => return Err(LoginError::new(LoginErrorKind::MissingSubject)),
        };
        let returned = ReturnedClaims::new(
            verified.as_ref().map(VerifiedIdToken::claims),
            userinfo.as_ref(),
        );
        let level = inner.config.level_source.level(returned);
        // An `acr` is the level of this login, unless the provider answered a request for a
        // higher level with it: then it is as far as the account goes. Any other source names
        // the account's level (a Keycloak broker's mapped claim shares the `acr` source kind).
        let account_level = match &inner.config.level_source {
            LevelSource::IdTokenAcr(_) => level < Some(pending.level),
            _ => true,
        };
        let assurance = Assurance::new(
            level,
            inner.metadata.issuer.clone(),
            inner.config.level_source.kind(),
            match &verified {
                Some(verified) => verified.auth_time(),
                // Without an ID token the provider states no authentication time. The start of
                // this login is the latest moment wardgate knows the resident was not yet signed
                // in here; the policy measures the age from it (see the vneid_direct manual page).
                None => Some(pending.started_at),
            },
        )
        .with_acr(
            verified
                .as_ref()
                .and_then(VerifiedIdToken::acr)
                .map(str::to_owned),
        )
        .with_amr(
            verified
                .as_ref()
                .map(|v| v.amr().to_vec())
                .unwrap_or_default(),
        )
        .with_signed_id_token(verified.is_some())
        .with_account_level(account_level);
        Ok(VerifiedLogin {
            issuer: inner.metadata.issuer.clone(),
            subject,
            assurance,
            userinfo,
            id_token_claims: verified.as_ref().map(|v| v.claims().clone()),
            id_token: verified.as_ref().and(tokens.id_token.clone()),
            profile: inner.config.profile,
        })
    }

    fn decryptor(&self) -> Result<&dyn EnvelopeDecryptor, LoginError> {
        self.inner
            .config
            .decryptor
            .as_deref()
            .ok_or_else(|| LoginError::new(LoginErrorKind::EnvelopeWithoutDecryptor))
    }

    /// Opens `body` when it is an envelope; returns it unchanged otherwise.
    fn open_envelope<'b>(
        &self,
        part: EnvelopePart,
        body: &'b [u8],
    ) -> Result<Cow<'b, [u8]>, LoginError> {
        if body.len() > MAX_JSON_BYTES || !envelope::is_envelope(body) {
            return Ok(Cow::Borrowed(body));
        }
        self.decryptor()?
            .open(part, body)
            .map(Cow::Owned)
            .map_err(|e| LoginError::with_source(LoginErrorKind::Envelope, e))
    }

    /// The resident's identifier from userinfo, for a login without an ID token.
    fn userinfo_subject(&self, userinfo: &Map<String, Value>) -> Result<String, LoginError> {
        let claim = self.inner.config.subject_claim.as_deref().unwrap_or("sub");
        match userinfo.get(claim) {
            Some(Value::String(subject)) if !subject.trim().is_empty() => Ok(subject.clone()),
            // Some providers send identifiers as JSON numbers; a personal ID number has a
            // leading zero and is always a string, but a numeric `sub` is not wrong.
            Some(Value::Number(n)) if n.is_u64() => Ok(n.to_string()),
            _ => Err(LoginError::new(LoginErrorKind::MissingSubject)),
        }
    }

    fn scope(&self) -> String {
        let mut scope = "openid".to_owned();
        for extra in &self.inner.config.scopes {
            if extra != "openid" {
                scope.push(' ');
                scope.push_str(extra);
            }
        }
        scope
    }

    /// Verifies with the cached keys; on an unknown key, refreshes (rate-limited) and retries.
    async fn verify_id_token(
        &self,
        token: &str,
        pending: &PendingLogin,
        now: DateTime<Utc>,
    ) -> Result<VerifiedIdToken, IdTokenError> {
        let inner = &*self.inner;
        let expect = Expectations::new(Some(&pending.nonce), pending.max_age());
        let first = inner
            .verifier
            .verify(token, &inner.jwks.keys(), expect, now);
        if !matches!(first, Err(IdTokenError::UnknownKey)) {
            return first;
        }
        let Some(uri) = inner.metadata.jwks_uri.clone() else {
            return first;
        };
        let http = Arc::clone(&inner.http);
        let refreshed = inner
            .jwks
            .refresh(
                now,
                || async move { fetch_jwks(http.as_ref(), &uri).await.ok() },
            )
            .await;
        if !refreshed {
            return first;
        }
        inner
            .verifier
            .verify(token, &inner.jwks.keys(), expect, now)
    }

    fn authenticated_form(
        &self,
        url: &Url,
        params: &[(&str, String)],
    ) -> Result<http::Request<Vec<u8>>, LoginError> {
        let inner = &*self.inner;
        // A pushed authorization request already carries client_id; sending it twice is an
        // invalid_request (RFC 6749 §3.1).
        let has_client_id = params.iter().any(|(name, _)| *name == "client_id");
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in params {
            form.append_pair(name, value);
        }
        let mut builder = http::Request::post(url.as_str())
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(http::header::ACCEPT, "application/json");
        match (inner.auth, &inner.config.client_secret) {
            (ClientAuth::Basic, Some(secret)) => {
                // RFC 6749 §2.3.1: id and secret are form-encoded before base64.
                let encode = |s: &str| {
                    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>()
                };
                let credentials = format!(
                    "{}:{}",
                    encode(&inner.config.client_id),
                    encode(secret.secret())
                );
                builder = builder.header(
                    http::header::AUTHORIZATION,
                    format!("Basic {}", STANDARD.encode(credentials)),
                );
            }
            (ClientAuth::Post, Some(secret)) => {
                if !has_client_id {
                    form.append_pair("client_id", &inner.config.client_id);
                }
                form.append_pair("client_secret", secret.secret());
            }
            _ if !has_client_id => {
                form.append_pair("client_id", &inner.config.client_id);
            }
            _ => {}
        }
        builder
            .body(form.finish().into_bytes())
            .map_err(|e| LoginError::with_source(LoginErrorKind::TokenEndpoint, e))
    }

    async fn post_form(
        &self,
        url: &Url,
        params: &[(&str, String)],
    ) -> Result<http::Response<Vec<u8>>, LoginError> {
        let request = self.authenticated_form(url, params)?;
        self.inner
            .http
            .execute(request)
            .await
            .map_err(|e| LoginError::with_source(LoginErrorKind::ProviderUnavailable, e))
    }

    /// RFC 9126: pushes the authorization parameters; returns the `request_uri`.
    async fn push_request(
        &self,
        endpoint: &Url,
        params: &[(&str, String)],
    ) -> Result<String, LoginError> {
        #[derive(Deserialize)]
        struct ParResponse {
            request_uri: String,
        }
        let response = self.post_form(endpoint, params).await?;
        let status = response.status();
        if status.is_server_error() || status == http::StatusCode::TOO_MANY_REQUESTS {
            return Err(LoginError::new(LoginErrorKind::ProviderUnavailable));
        }
        if !status.is_success() {
            return Err(oauth_error_response(
                response.body(),
                LoginErrorKind::ProviderError,
            ));
        }
        let body: ParResponse = parse_json(response.body())
            .ok_or_else(|| LoginError::new(LoginErrorKind::ProviderError))?;
        Ok(body.request_uri)
    }

    async fn exchange_code(&self, code: &str, verifier: &str) -> Result<TokenResponse, LoginError> {
        let inner = &*self.inner;
        let params = [
            ("grant_type", "authorization_code".to_owned()),
            ("code", code.to_owned()),
            ("redirect_uri", inner.config.redirect_uri.to_string()),
            ("code_verifier", verifier.to_owned()),
        ];
        let response = self
            .post_form(&inner.metadata.token_endpoint, &params)
            .await?;
        let status = response.status();
        if status.is_server_error() || status == http::StatusCode::TOO_MANY_REQUESTS {
            return Err(LoginError::new(LoginErrorKind::ProviderUnavailable));
        }
        if !status.is_success() {
            return Err(oauth_error_response(
                response.body(),
                LoginErrorKind::TokenEndpoint,
            ));
        }
        let body = self.open_envelope(EnvelopePart::TokenResponse, response.body())?;
        let tokens: TokenResponse =
            parse_json(&body).ok_or_else(|| LoginError::new(LoginErrorKind::TokenEndpoint))?;
        if !tokens.token_type.eq_ignore_ascii_case("bearer") {
            return Err(LoginError::new(LoginErrorKind::TokenEndpoint));
        }
        Ok(tokens)
    }

    /// Fetches userinfo; with an ID token, its `sub` must equal `expected_subject`.
    async fn fetch_userinfo(
        &self,
        access_token: &str,
        expected_subject: Option<&str>,
    ) -> Result<Map<String, Value>, LoginError> {
        let inner = &*self.inner;
        let endpoint = inner
            .metadata
            .userinfo_endpoint
            .as_ref()
            .ok_or_else(|| LoginError::new(LoginErrorKind::Userinfo))?;
        let request = http::Request::get(endpoint.as_str())
            .header(
                http::header::AUTHORIZATION,
                format!("Bearer {access_token}"),
            )
            .header(http::header::ACCEPT, "application/json")
            .body(Vec::new())
            .map_err(|e| LoginError::with_source(LoginErrorKind::Userinfo, e))?;
        let response = inner
            .http
            .execute(request)
            .await
            .map_err(|e| LoginError::with_source(LoginErrorKind::ProviderUnavailable, e))?;
        if response.status().is_server_error() {
            return Err(LoginError::new(LoginErrorKind::ProviderUnavailable));
        }
        if !response.status().is_success() {
            return Err(LoginError::new(LoginErrorKind::Userinfo));
        }
        let body = self.open_envelope(EnvelopePart::Userinfo, response.body())?;
        let claims: Map<String, Value> =
            parse_json(&body).ok_or_else(|| LoginError::new(LoginErrorKind::Userinfo))?;
        let Some(expected_subject) = expected_subject else {
            // No ID token to compare with: the response is bound to this login only by the
            // access token it answered (see the profile's manual page).
            return Ok(claims);
        };
        // OIDC Core 5.3.4: the userinfo sub must equal the ID token's before it is used.
        match claims.get("sub").and_then(Value::as_str) {
            Some(sub) if sub == expected_subject => Ok(claims),
            _ => Err(LoginError::new(LoginErrorKind::SubjectMismatch)),
        }
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    token_type: String,
    #[serde(default)]
    id_token: Option<String>,
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Option<T> {
    if body.len() > MAX_JSON_BYTES {
        return None;
    }
    serde_json::from_slice(body).ok()
}

/// Maps an OAuth error response body (RFC 6749 §5.2) to a login error.
fn oauth_error_response(body: &[u8], otherwise: LoginErrorKind) -> LoginError {
    #[derive(Deserialize)]
    struct ErrorBody {
        error: String,
    }
    match parse_json::<ErrorBody>(body) {
        Some(ErrorBody { error }) if error == "invalid_grant" => LoginError {
            kind: LoginErrorKind::CodeRejected,
            provider_error: Some(error),
            source: None,
        },
        Some(ErrorBody { error }) => LoginError {
            kind: otherwise,
            provider_error: Some(sanitize_code(&error)),
            source: None,
        },
        None => LoginError::new(otherwise),
    }
}

/// Maps an authorization error code (RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6, unmet
/// authentication requirements 1.0) to a typed outcome.
fn provider_error(code: &str) -> LoginError {
    let kind = match code {
        "access_denied" => LoginErrorKind::Cancelled,
        "unmet_authentication_requirements" => LoginErrorKind::LevelUnreachable,
        "login_required"
        | "interaction_required"
        | "consent_required"
        | "account_selection_required" => LoginErrorKind::InteractionRequired,
        "temporarily_unavailable" | "server_error" => LoginErrorKind::ProviderUnavailable,
        _ => LoginErrorKind::ProviderError,
    };
    LoginError {
        kind,
        provider_error: Some(sanitize_code(code)),
        source: None,
    }
}

/// Error codes are ASCII tokens (RFC 6749 §4.1.2.1); anything else is cut so a hostile
/// provider cannot push arbitrary text into logs.
fn sanitize_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_graphic())
        .take(64)
        .collect()
}

async fn fetch_jwks(http: &dyn HttpClient, uri: &Url) -> Result<Jwks, DiscoveryError> {
    let body = discovery::get_json(
        http,
        uri.as_str(),
        "application/json, application/jwk-set+json",
    )
    .await?;
    Jwks::from_json(&body).map_err(|_| DiscoveryError::Malformed {
        url: uri.to_string(),
        document: "JWKS",
    })
}

#[cfg(test)]
mod tests;
