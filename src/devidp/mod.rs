//! A local OpenID Provider for development and tests, with scripted personas.
//!
//! Rules this module enforces, so that a portal which works against the simulator also meets
//! what a real provider demands:
//!
//! 1. Clients and their redirect URIs are registered in advance; `redirect_uri` is compared as
//!    an exact string (RFC 9700 §4.1). Unknown clients and unregistered redirect URIs get an
//!    error page with status 400, never a redirect.
//! 2. Only the authorization code flow (`response_type=code`, `scope` containing `openid`) with
//!    PKCE `S256` is accepted; `plain` and a missing `code_challenge` are refused (RFC 7636,
//!    RFC 9700 §2.1.1).
//! 3. Every authorization response, success or error, carries `state` (when sent) and `iss`
//!    (RFC 9207).
//! 4. Codes are single-use and live 60 seconds; a replayed code is refused with `invalid_grant`
//!    and the access token issued for it is revoked (RFC 6749 §4.1.2). The `redirect_uri` and
//!    the PKCE verifier (compared in constant time) must match.
//! 5. Confidential clients authenticate at the token and PAR endpoints with
//!    `client_secret_basic` (form-encoded id and secret, RFC 6749 §2.3.1) or
//!    `client_secret_post`; public clients use `none`. Failures answer 401 with
//!    `WWW-Authenticate`.
//! 6. A persona never receives an `acr` above its account level, whatever the request asked.
//!    When the `claims` parameter marks `acr` essential and the persona cannot reach any of the
//!    values, the answer is `unmet_authentication_requirements` (OpenID Connect Core Unmet
//!    Authentication Requirements 1.0), unless [`DevIdpConfig::honour_essential_acr`] is off.
//! 7. Pushed authorization requests (RFC 9126) are client-authenticated, single-use and expire
//!    after 60 seconds; `/authorize` then uses only the pushed parameters.
//! 8. Tokens, codes and persona identity data are never logged; [`RecordedRequest`] and
//!    [`Identity`] print redacted `Debug` output, and a pushed `client_secret` is not recorded.
//!
//! # Example
//!
//! Start the simulator, read its discovery document, and drive one sign-in by hand the way a
//! browser would (the persona chooser is a plain HTML form):
//!
//! ```
//! use wardgate::devidp::{DevIdp, DevIdpConfig};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let idp = DevIdp::start(
//!     DevIdpConfig::new().client("portal", Some("portal-secret"), ["http://127.0.0.1:3000/cb"]),
//! )
//! .await?;
//! let discovery = reqwest::get(idp.issuer().join(".well-known/openid-configuration")?)
//!     .await?
//!     .text()
//!     .await?;
//! let discovery: serde_json::Value = serde_json::from_str(&discovery)?;
//! assert_eq!(discovery["issuer"], idp.issuer().as_str());
//! assert_eq!(discovery["code_challenge_methods_supported"][0], "S256");
//! idp.shutdown().await?;
//! # Ok(())
//! # }
//! ```
//!
//! # For portal developers
//!
//! The simulator plays the part GOV.UK One Login's simulator plays for its relying parties: a
//! real OpenID Provider on loopback HTTP that your portal talks to exactly as it would talk to
//! VNeID or the National Public Service Portal's sign-in service, with a page where you pick
//! *who* signs in instead of typing credentials.
//!
//! Start it from your own binary or test with [`DevIdp::start`] (cargo feature `devidp`), then
//! configure your relying party with:
//!
//! | Setting | Value |
//! | --- | --- |
//! | Issuer | [`DevIdpHandle::issuer`], exactly as its `as_str()` (it ends with `/`) |
//! | Client id / secret | [`DEFAULT_CLIENT_ID`] / [`DEFAULT_CLIENT_SECRET`], or your own [`DevIdpConfig::client`] |
//! | Redirect URI | [`DEFAULT_REDIRECT_URI`] for the default client, or the ones you registered |
//! | `acr` for level 1 / level 2 | [`ACR_LEVEL_1`] / [`ACR_LEVEL_2`], or [`DevIdpConfig::acr_value`] |
//!
//! Endpoints, all under the issuer: `/.well-known/openid-configuration`, `/jwks`, `/authorize`
//! (GET and POST), `/par` (when enabled), `/interaction/{id}` (the persona chooser),
//! `/token`, `/userinfo` (GET and POST).
//!
//! ## Personas
//!
//! | id | Vietnamese label | What the client receives |
//! | --- | --- | --- |
//! | `level2` | Công dân có tài khoản định danh điện tử mức độ 2 | a code; `acr` = level-2 value (or a lower requested one), `amr` `["pwd","otp"]`, userinfo `accountLevel` 2 |
//! | `level1` | Công dân có tài khoản định danh điện tử mức độ 1 | a code; `acr` = level-1 value, `amr` `["pwd"]`, `accountLevel` 1; `unmet_authentication_requirements` when level 2 is essential |
//! | `officer` | Cán bộ Trung tâm Phục vụ hành chính công (trang dành cho cán bộ) | like `level2`, plus userinfo `roles` `["ward_officer"]`, for the staff pages |
//! | `cancel` | Công dân hủy đăng nhập | `error=access_denied`, "the resident cancelled the sign-in" |
//! | `error` | Hệ thống định danh tạm thời gián đoạn | `error=temporarily_unavailable` |
//! | `no_eid` | Tôi chưa có tài khoản định danh điện tử (VNeID) | `error=access_denied`, `error_description` "the resident has no VNeID account" |
//!
//! `error_description` is ASCII English, as RFC 6749 §4.1.2.1 allows no other characters; the
//! portal shows the resident its own Vietnamese text. `no_eid` and `cancel` both send
//! `access_denied`, as a real provider would: a portal can tell them apart only by the
//! description, which it must not rely on.
//!
//! The userinfo response of a signing-in persona is VNeID-shaped:
//! `{"sub", "name", "fullName", "citizenPid", "birthDate", "accountLevel"}`
//! (`birthDate` as `YYYY-MM-DD`, `accountLevel` a number).
//!
//! **All identity data is fake.** Names are common Vietnamese names; the 12-digit personal ID
//! numbers follow the real layout (province code, century-and-sex digit, two-digit birth year,
//! six digits) but start with province code `000`, which no province has (codes run 001–096),
//! so they can never belong to a person. `sub` values are opaque pairwise-style strings, never
//! the ID number. Replace or extend the set with [`DevIdpConfig::persona`].
//!
//! ## What it simulates
//!
//! - Discovery, JWKS (key id = RFC 7638 thumbprint), ID tokens signed with ES256 (default),
//!   RS256 or EdDSA, with `iss`, `sub`, `aud`, `azp`, `exp`, `iat`, `auth_time`, `nonce` (echoed
//!   when sent), `acr`, `amr`.
//! - `acr_values` (voluntary, in order of preference) and an essential `acr` in the `claims`
//!   parameter (`{"id_token":{"acr":{"essential":true,"values":[...]}}}`).
//! - `max_age`: the simulator always re-authenticates, so `auth_time` is the moment the persona
//!   was chosen and always satisfies any `max_age`. `prompt=none` answers `login_required`,
//!   because the simulator keeps no browser session.
//! - `ui_locales`, `nonce`, `max_age`, `acr_values`, `claims` and the PKCE parameters are
//!   recorded ([`DevIdpHandle::recorded_authorization_requests`]) so tests can assert what a
//!   portal sent.
//!
//! ## Provider profiles
//!
//! [`DevIdpConfig::profile`] makes the simulator behave like one of the providers a ward portal
//! meets (see [`manual::profiles`](crate::manual::profiles)), quirks included. Personas keep
//! their meaning in every profile; denying personas answer the same errors.
//!
//! | profile | ID token | callback | token and userinfo responses |
//! | --- | --- | --- | --- |
//! | `standard` (default) | `acr` = level value, `amr`, `nonce` | `code`, `state`, `iss` | as described above |
//! | `npsp` | no `acr`; `nonce` echoed | `code`, `state`, `iss`; `acr` values `LoA1`/`LoA2` | userinfo `sub`, `HoVaTen`, `SoDinhDanh`, `NgayThangNamSinh` (`YYYYMMDD`), `LoaiTaiKhoan` `"1"` for everyone (the account type), `MucDoDinhDanh` `"1"`/`"2"` (the level), `loginIdp` `"BCA"` |
//! | `vneid-direct` | none; `nonce` ignored | `code` in standard base64, written raw, always containing `+`, `/` and `=`; optionally encrypted with `encrypt_key` ([`DevIdpConfig::encrypt_codes`]); no `iss` | both sealed in the simulator's **test** envelope `{"data", "key"}`; userinfo `citizenPid`, `fullName`, `birthDate`, `accountType`, `accountLevel`, no `sub` |
//! | `keycloak-broker` | `acr` `"1"` always, whatever was asked; `typ`, `sid`, `session_state`, `realm_access`, `resource_access`, `preferred_username` (the personal ID number), `vneid_level` `"1"`/`"2"` | `code`, `state`, `iss` | userinfo `sub`, `preferred_username`, `name`, `citizenPid`, `birthDate`, `vneid_level` |
//!
//! The test envelope is the simulator's own format (AES-256-GCM under a fresh content key,
//! that key wrapped with AES-256-GCM under a key made at start), **not VNeID's**, which is not
//! publicly specified. [`DevIdpHandle::test_decryptor`] returns the matching
//! [`EnvelopeDecryptor`]; it opens nothing else.
//!
//! ## What it does not simulate
//!
//! - VNeID's real envelope format (RSA-wrapped keys), IP allow-listing, Keycloak's SSO logins
//!   (`acr` `"0"`).
//! - Refresh tokens, a real logout (its `end_session_endpoint` only records the request and
//!   returns to a `post_logout_redirect_uri` on a registered redirect URI's origin, as it keeps
//!   no browser session), request objects (`request`), implicit
//!   and hybrid flows, `private_key_jwt`, mTLS, DPoP, consent screens, browser sessions (SSO).
//! - Key rotation: one key per start; the ES256 and EdDSA keys are new on every start, the
//!   RS256 key is the committed test key `dev_rsa_2048.pk8`, public and protecting nothing.
//!
//! # Security
//!
//! The simulator is for loopback development and tests only: it signs in anyone who clicks,
//! and its RS256 key is public. It binds `127.0.0.1:0` by default; never expose it.

mod envelope;
mod html;
mod jwt;
mod persona;
mod server;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use url::Url;

pub use self::envelope::TestEnvelopeDecryptor;
pub use self::persona::{DenialError, Identity, Persona, PersonaOutcome, STAFF_ROLE};
use crate::assurance::Level;
use crate::clock::{Clock, Random, SystemClock, SystemRandom};
use crate::oidc::{EnvelopeDecryptor, NPSP_ACR_LEVEL_1, NPSP_ACR_LEVEL_2, ProviderProfile};

/// Client id of the client registered by default.
pub const DEFAULT_CLIENT_ID: &str = "wardgate-dev";
/// Secret of the client registered by default (a public test value).
pub const DEFAULT_CLIENT_SECRET: &str = "wardgate-dev-secret";
/// Redirect URI of the client registered by default: the example gateway's callback.
pub const DEFAULT_REDIRECT_URI: &str = "http://127.0.0.1:8080/auth/callback";
/// Default `acr` value for a level-1 authentication.
pub const ACR_LEVEL_1: &str = "urn:wardgate:devidp:loa:1";
/// Default `acr` value for a level-2 authentication.
pub const ACR_LEVEL_2: &str = "urn:wardgate:devidp:loa:2";

/// The JWS algorithm the simulator signs ID tokens with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum SigningAlgorithm {
    /// ECDSA P-256 with SHA-256; a key generated at start.
    #[default]
    Es256,
    /// RSASSA-PKCS1-v1_5 with SHA-256; the committed 2048-bit test key.
    Rs256,
    /// Ed25519 (RFC 8037); a key generated at start.
    EdDsa,
}

impl SigningAlgorithm {
    /// The JWS `alg` name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::Rs256 => "RS256",
            Self::EdDsa => "EdDSA",
        }
    }
}

/// A registered client.
#[derive(Clone)]
pub(crate) struct Client {
    pub(crate) id: String,
    pub(crate) secret: Option<String>,
    pub(crate) redirect_uris: Vec<String>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("id", &self.id)
            .field("secret", &self.secret.as_ref().map(|_| "[redacted]"))
            .field("redirect_uris", &self.redirect_uris)
            .finish()
    }
}

/// Configuration of the simulator; every knob has a development default.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use wardgate::Level;
/// use wardgate::devidp::{DevIdpConfig, SigningAlgorithm};
///
/// let config = DevIdpConfig::new()
///     .client("portal", None, ["http://127.0.0.1:3000/callback"])
///     .signing_algorithm(SigningAlgorithm::Rs256)
///     .acr_value(Level::Two, "LoA2")
///     .token_lifetime(Duration::from_secs(120));
/// # let _ = config;
/// ```
#[derive(Clone)]
#[must_use]
pub struct DevIdpConfig {
    bind: SocketAddr,
    clients: Vec<Client>,
    algorithm: SigningAlgorithm,
    acr_level1: String,
    acr_level2: String,
    par: bool,
    honour_essential_acr: bool,
    personas: Vec<Persona>,
    token_lifetime: Duration,
    clock: Arc<dyn Clock>,
    random: Arc<dyn Random>,
    profile: ProviderProfile,
    encrypt_codes: bool,
}

impl fmt::Debug for DevIdpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevIdpConfig")
            .field("bind", &self.bind)
            .field("clients", &self.clients)
            .field("algorithm", &self.algorithm)
            .field("acr_level1", &self.acr_level1)
            .field("acr_level2", &self.acr_level2)
            .field("par", &self.par)
            .field("honour_essential_acr", &self.honour_essential_acr)
            .field("personas", &self.personas.len())
            .field("token_lifetime", &self.token_lifetime)
            .field("profile", &self.profile)
            .field("encrypt_codes", &self.encrypt_codes)
            .finish_non_exhaustive()
    }
}

impl Default for DevIdpConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            clients: vec![Client {
                id: DEFAULT_CLIENT_ID.to_owned(),
                secret: Some(DEFAULT_CLIENT_SECRET.to_owned()),
                redirect_uris: vec![DEFAULT_REDIRECT_URI.to_owned()],
            }],
            algorithm: SigningAlgorithm::default(),
            acr_level1: ACR_LEVEL_1.to_owned(),
            acr_level2: ACR_LEVEL_2.to_owned(),
            par: true,
            honour_essential_acr: true,
            personas: Persona::defaults(),
            token_lifetime: Duration::from_secs(600),
            clock: Arc::new(SystemClock),
            random: Arc::new(SystemRandom::new()),
            profile: ProviderProfile::Standard,
            encrypt_codes: false,
        }
    }
}

impl DevIdpConfig {
    /// The default configuration: `127.0.0.1:0`, the default client, ES256, PAR on, essential
    /// `acr` honoured, the default personas, 10-minute tokens, system clock and randomness.
    pub fn new() -> Self {
        Self::default()
    }

    /// The address to listen on (default `127.0.0.1:0`, a free port on loopback).
    ///
    /// An unspecified address (`0.0.0.0`, `::`) is announced in the issuer as loopback.
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.bind = addr;
        self
    }

    /// Registers a client, replacing any registration with the same id.
    ///
    /// A client with a `secret` is confidential (`client_secret_basic` or `client_secret_post`);
    /// without one it is public (`none`). Redirect URIs are compared as exact strings.
    pub fn client<I, U>(mut self, id: &str, secret: Option<&str>, redirect_uris: I) -> Self
    where
        I: IntoIterator<Item = U>,
        U: Into<String>,
    {
        self.clients.retain(|client| client.id != id);
        self.clients.push(Client {
            id: id.to_owned(),
            secret: secret.map(str::to_owned),
            redirect_uris: redirect_uris.into_iter().map(Into::into).collect(),
        });
        self
    }

    /// The ID-token signing algorithm (default ES256).
    pub fn signing_algorithm(mut self, algorithm: SigningAlgorithm) -> Self {
        self.algorithm = algorithm;
        self
    }

    /// The `acr` value that stands for `level` (defaults [`ACR_LEVEL_1`], [`ACR_LEVEL_2`]).
    pub fn acr_value(mut self, level: Level, acr: impl Into<String>) -> Self {
        match level {
            Level::One => self.acr_level1 = acr.into(),
            Level::Two => self.acr_level2 = acr.into(),
        }
        self
    }

    /// Whether to advertise and serve pushed authorization requests (default on).
    pub fn pushed_authorization_requests(mut self, enabled: bool) -> Self {
        self.par = enabled;
        self
    }

    /// Whether an essential `acr` in the `claims` parameter is honoured (default on).
    ///
    /// Off simulates a provider that ignores the request and signs a level-1 resident in with
    /// a level-1 `acr` anyway, which a relying party must catch by checking what it received.
    pub fn honour_essential_acr(mut self, honour: bool) -> Self {
        self.honour_essential_acr = honour;
        self
    }

    /// Replaces the whole persona set.
    pub fn personas(mut self, personas: Vec<Persona>) -> Self {
        self.personas = personas;
        self
    }

    /// Adds a persona, replacing any persona with the same id.
    pub fn persona(mut self, persona: Persona) -> Self {
        match self.personas.iter_mut().find(|p| p.id == persona.id) {
            Some(existing) => *existing = persona,
            None => self.personas.push(persona),
        }
        self
    }

    /// Lifetime of access tokens and ID tokens (default 10 minutes; 1 second to 1 day).
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.token_lifetime = lifetime;
        self
    }

    /// The clock for token times and expiry of codes, pushed requests and tokens.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The randomness for codes, tokens, interaction ids and request URIs.
    ///
    /// Signing keys are generated with ring's own system generator.
    pub fn random(mut self, random: Arc<dyn Random>) -> Self {
        self.random = random;
        self
    }

    /// Behaves like a provider of `profile`, quirks included (default
    /// [`ProviderProfile::Standard`]); see the [module documentation](self#provider-profiles).
    ///
    /// For [`ProviderProfile::Npsp`] this also sets the `acr` values to `LoA1` and `LoA2`; a
    /// later [`acr_value`](Self::acr_value) overrides them.
    pub fn profile(mut self, profile: ProviderProfile) -> Self {
        self.profile = profile;
        if profile == ProviderProfile::Npsp {
            self.acr_level1 = NPSP_ACR_LEVEL_1.to_owned();
            self.acr_level2 = NPSP_ACR_LEVEL_2.to_owned();
        }
        self
    }

    /// With [`ProviderProfile::VneidDirect`], whether authorization codes are sent encrypted,
    /// with the key in an `encrypt_key` callback parameter (default off). Ignored by the other
    /// profiles.
    pub fn encrypt_codes(mut self, encrypt: bool) -> Self {
        self.encrypt_codes = encrypt;
        self
    }

    /// Checks the configuration before start.
    fn validate(&self) -> std::io::Result<()> {
        let invalid =
            |message: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, message);
        if self.clients.is_empty() {
            return Err(invalid(
                "devidp configuration: no client is registered".to_owned(),
            ));
        }
        for client in &self.clients {
            if client.id.is_empty() {
                return Err(invalid(
                    "devidp configuration: a client id is empty".to_owned(),
                ));
            }
            if client.redirect_uris.is_empty() {
                return Err(invalid(format!(
                    "devidp configuration: client `{}` has no redirect uri",
                    client.id
                )));
            }
            for uri in &client.redirect_uris {
                // RFC 6749 §3.1.2: an absolute URI without a fragment.
                match Url::parse(uri) {
                    Ok(url) if url.fragment().is_none() => {}
                    _ => {
                        return Err(invalid(format!(
                            "devidp configuration: redirect uri `{uri}` of client `{}` is not an absolute uri without fragment",
                            client.id
                        )));
                    }
                }
            }
        }
        if self.token_lifetime < Duration::from_secs(1)
            || self.token_lifetime > Duration::from_secs(24 * 60 * 60)
        {
            return Err(invalid(
                "devidp configuration: the token lifetime must be between 1 second and 1 day"
                    .to_owned(),
            ));
        }
        if self.personas.is_empty() {
            return Err(invalid(
                "devidp configuration: no persona is configured".to_owned(),
            ));
        }
        for (index, persona) in self.personas.iter().enumerate() {
            if persona.id.is_empty()
                || self
                    .personas
                    .iter()
                    .skip(index + 1)
                    .any(|p| p.id == persona.id)
            {
                return Err(invalid(format!(
                    "devidp configuration: persona id `{}` is empty or repeated",
                    persona.id
                )));
            }
        }
        if self.acr_level1.is_empty()
            || self.acr_level2.is_empty()
            || self.acr_level1 == self.acr_level2
        {
            return Err(invalid(
                "devidp configuration: the acr values for level 1 and level 2 must be non-empty and distinct"
                    .to_owned(),
            ));
        }
        Ok(())
    }
}

/// The simulator; see the [module documentation](self).
#[derive(Debug)]
#[non_exhaustive]
pub struct DevIdp;

impl DevIdp {
    /// Binds the configured address, generates the signing key and serves until the returned
    /// handle is shut down or dropped.
    ///
    /// Must be called inside a Tokio runtime; the server runs as a spawned task.
    ///
    /// # Errors
    ///
    /// An [`std::io::Error`] of kind `InvalidInput` when the configuration is inconsistent (no
    /// client, a client without redirect URIs or with a malformed one, repeated persona ids,
    /// equal `acr` values, a token lifetime outside 1 second to 1 day), `Other` when the signing key cannot be built, or the error of
    /// binding the address.
    pub async fn start(config: DevIdpConfig) -> std::io::Result<DevIdpHandle> {
        config.validate()?;
        let signer = jwt::Signer::new(config.algorithm).map_err(std::io::Error::other)?;
        let envelope_key = envelope::WrappingKey::generate(config.random.as_ref())
            .map_err(std::io::Error::other)?;
        let listener = tokio::net::TcpListener::bind(config.bind).await?;
        let local_addr = listener.local_addr()?;
        let announced = match local_addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        let issuer = Url::parse(&format!(
            "http://{}/",
            SocketAddr::new(announced, local_addr.port())
        ))
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let personas = config.personas.clone();
        let profile = config.profile;
        let decryptor = TestEnvelopeDecryptor::new(envelope_key.clone());
        let shared = Arc::new(server::Shared::new(
            issuer.clone(),
            config,
            signer,
            envelope_key,
        ));
        let router = server::router(Arc::clone(&shared));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await
        });
        tracing::info!(
            target: "wardgate::devidp",
            %local_addr,
            profile = profile.as_str(),
            "provider simulator listening"
        );
        Ok(DevIdpHandle {
            issuer,
            local_addr,
            personas,
            profile,
            decryptor,
            shared,
            stop: Some(stop),
            task: Some(task),
        })
    }
}

/// A running simulator. Dropping it stops the server; [`shutdown`](Self::shutdown) also waits.
pub struct DevIdpHandle {
    issuer: Url,
    local_addr: SocketAddr,
    personas: Vec<Persona>,
    profile: ProviderProfile,
    decryptor: TestEnvelopeDecryptor,
    shared: Arc<server::Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl fmt::Debug for DevIdpHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevIdpHandle")
            .field("issuer", &self.issuer.as_str())
            .field("local_addr", &self.local_addr)
            .field("profile", &self.profile)
            .finish_non_exhaustive()
    }
}

impl DevIdpHandle {
    /// The issuer identifier, for example `http://127.0.0.1:41234/`.
    ///
    /// `iss` in tokens, discovery and authorization responses is exactly `issuer().as_str()`,
    /// trailing slash included.
    pub fn issuer(&self) -> Url {
        self.issuer.clone()
    }

    /// The socket address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The personas offered on the sign-in page.
    pub fn personas(&self) -> &[Persona] {
        &self.personas
    }

    /// The provider profile the simulator behaves like.
    pub fn profile(&self) -> ProviderProfile {
        self.profile
    }

    /// A decryptor for this simulator's test envelopes and encrypted codes (the
    /// [`ProviderProfile::VneidDirect`] quirk), to pass to
    /// [`ClientConfig::envelope_decryptor`](crate::oidc::ClientConfig::envelope_decryptor).
    ///
    /// It opens only this simulator's own test format, made with a key generated at start.
    pub fn test_decryptor(&self) -> Arc<dyn EnvelopeDecryptor> {
        self.decryptor.clone().into_arc()
    }

    /// Every authorization request received so far, oldest first: the query or form of
    /// `/authorize` and the parameters pushed to `/par` (without `client_secret`).
    ///
    /// Only the latest 1,000 requests are kept.
    pub fn recorded_authorization_requests(&self) -> Vec<RecordedRequest> {
        let mut recorded = self.shared.recorded();
        recorded.retain(|r| r.channel != RequestChannel::EndSession);
        recorded
    }

    /// Every end-session request received so far (RP-Initiated Logout 1.0), oldest first.
    pub fn recorded_end_session_requests(&self) -> Vec<RecordedRequest> {
        let mut recorded = self.shared.recorded();
        recorded.retain(|r| r.channel == RequestChannel::EndSession);
        recorded
    }

    /// Stops accepting connections, lets open requests finish, and waits for the server.
    ///
    /// # Errors
    ///
    /// The server's I/O error, or `Other` if its task panicked or was cancelled.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.map_err(std::io::Error::other)?,
            None => Ok(()),
        }
    }
}

impl Drop for DevIdpHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Where an authorization request was received.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestChannel {
    /// The browser's `/authorize` request (query string or form body).
    FrontChannel,
    /// A pushed authorization request to `/par` (RFC 9126).
    Pushed,
    /// A browser's request to the end-session endpoint `/session/end` (RP-Initiated Logout).
    EndSession,
}

/// The parameters of one authorization request, as received.
///
/// `Debug` prints only the parameter names.
#[derive(Clone)]
pub struct RecordedRequest {
    channel: RequestChannel,
    params: Vec<(String, String)>,
    received_at: DateTime<Utc>,
}

impl fmt::Debug for RecordedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.params.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("RecordedRequest")
            .field("channel", &self.channel)
            .field("params", &names)
            .field("received_at", &self.received_at)
            .finish()
    }
}

impl RecordedRequest {
    /// Where the request arrived.
    pub fn channel(&self) -> RequestChannel {
        self.channel
    }

    /// All parameters in the order received.
    pub fn params(&self) -> &[(String, String)] {
        &self.params
    }

    /// The value of parameter `name`, if it was sent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, value)| value.as_str())
    }

    /// When the request arrived, by the configured clock.
    pub fn received_at(&self) -> DateTime<Utc> {
        self.received_at
    }
}

fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests;
