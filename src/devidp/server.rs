//! The HTTP endpoints of the simulator and the state behind them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::header::{
    AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, LOCATION, PRAGMA, REFERRER_POLICY,
    WWW_AUTHENTICATE, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, Duration, Utc};
use subtle::ConstantTimeEq as _;
use url::Url;

use super::envelope::WrappingKey;
use super::html::{self, RequestSummary};
use super::jwt::Signer;
use super::persona::{Identity, Persona, PersonaOutcome};
use super::{Client, DevIdpConfig, RecordedRequest, RequestChannel, lock};
use crate::assurance::Level;
use crate::clock::{Clock, Random, random_token};
use crate::oidc::{EnvelopePart, KEYCLOAK_LEVEL_CLAIM, NPSP_LEVEL_CLAIM, ProviderProfile};

/// Lifetime of an authorization code (brief: 60 s).
const CODE_LIFETIME: Duration = Duration::seconds(60);
/// Lifetime of a pushed request's `request_uri` (RFC 9126 §2.2, `expires_in`).
const REQUEST_URI_LIFETIME: Duration = Duration::seconds(60);
/// How long the persona chooser stays usable.
const INTERACTION_LIFETIME: Duration = Duration::minutes(10);
/// How long a used code is remembered, to detect replays.
const USED_CODE_MEMORY: Duration = Duration::minutes(10);
/// How many authorization requests are kept for inspection.
const RECORD_LIMIT: usize = 1000;
/// `request_uri` prefix (RFC 9126 §2.2).
const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

type Digest = [u8; 32];

/// SHA-256 of a secret value: stores key their maps by digest, never by the secret itself.
fn digest(secret: &str) -> Digest {
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, secret.as_bytes()).as_ref());
    out
}

/// What the client asked for about `acr`.
#[derive(Clone, Debug, Default)]
struct AcrRequest {
    /// Requested values in order of preference.
    values: Vec<String>,
    /// Whether `acr` was requested as an essential claim.
    essential: bool,
}

/// A validated authorization request.
#[derive(Clone)]
struct AuthRequest {
    client_id: String,
    redirect_uri: String,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: String,
    acr: AcrRequest,
}

struct Interaction {
    request: AuthRequest,
    expires_at: DateTime<Utc>,
}

struct Pushed {
    request: AuthRequest,
    expires_at: DateTime<Utc>,
}

struct CodeGrant {
    client_id: String,
    redirect_uri: String,
    code_challenge: String,
    nonce: Option<String>,
    persona_id: String,
    level: Level,
    auth_time: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

struct UsedCode {
    access_token: Option<Digest>,
    forget_at: DateTime<Utc>,
}

struct AccessGrant {
    persona_id: String,
    expires_at: DateTime<Utc>,
}

#[derive(Default)]
struct Store {
    interactions: HashMap<String, Interaction>,
    pushed: HashMap<Digest, Pushed>,
    codes: HashMap<Digest, CodeGrant>,
    used_codes: HashMap<Digest, UsedCode>,
    access_tokens: HashMap<Digest, AccessGrant>,
    recorded: Vec<RecordedRequest>,
}

impl Store {
    fn purge(&mut self, now: DateTime<Utc>) {
        self.interactions.retain(|_, i| i.expires_at > now);
        self.pushed.retain(|_, p| p.expires_at > now);
        self.codes.retain(|_, c| c.expires_at > now);
        self.used_codes.retain(|_, u| u.forget_at > now);
        self.access_tokens.retain(|_, a| a.expires_at > now);
    }
}

/// The state shared by all handlers.
pub(super) struct Shared {
    issuer: Url,
    clients: Vec<Client>,
    personas: Vec<Persona>,
    acr_level1: String,
    acr_level2: String,
    par: bool,
    honour_essential_acr: bool,
    token_lifetime: Duration,
    signer: Signer,
    clock: Arc<dyn Clock>,
    random: Arc<dyn Random>,
    store: Mutex<Store>,
    profile: ProviderProfile,
    envelope_key: WrappingKey,
    encrypt_codes: bool,
}

impl Shared {
    pub(super) fn new(
        issuer: Url,
        config: DevIdpConfig,
        signer: Signer,
        envelope_key: WrappingKey,
    ) -> Self {
        Self {
            issuer,
            clients: config.clients,
            personas: config.personas,
            acr_level1: config.acr_level1,
            acr_level2: config.acr_level2,
            par: config.par,
            honour_essential_acr: config.honour_essential_acr,
            // INVARIANT: validated to lie between 1 second and 1 day, so it always converts.
            token_lifetime: Duration::from_std(config.token_lifetime)
                .unwrap_or(Duration::minutes(10)),
            signer,
            clock: config.clock,
            random: config.random,
            store: Mutex::new(Store::default()),
            profile: config.profile,
            envelope_key,
            encrypt_codes: config.encrypt_codes,
        }
    }

    /// Whether authorization responses carry RFC 9207 `iss`: not in the VNeID direct profile,
    /// whose observed integration shows none.
    fn sends_iss(&self) -> bool {
        self.profile != ProviderProfile::VneidDirect
    }

    /// A code for the VNeID direct profile: standard base64 that always contains `+`, `/` and
    /// `=`, as the observed provider's codes may, so a relying party that form-decodes the
    /// callback query breaks.
    fn base64_code(&self) -> Result<String, Failure> {
        let mut bytes = [0u8; 32];
        self.random.fill(&mut bytes).map_err(|_| Failure::Random)?;
        // The first character encodes the top six bits of byte 0: 62 is `+`. The fifth encodes
        // the top six bits of byte 3: 63 is `/`. 32 bytes end in one `=` of padding.
        bytes[0] |= 0xF8;
        bytes[0] &= 0xFB;
        bytes[3] |= 0xFC;
        Ok(STANDARD.encode(bytes))
    }

    pub(super) fn recorded(&self) -> Vec<RecordedRequest> {
        lock(&self.store).recorded.clone()
    }

    fn iss(&self) -> &str {
        self.issuer.as_str()
    }

    fn endpoint(&self, path: &str) -> String {
        self.issuer
            .join(path)
            .map(String::from)
            .unwrap_or_else(|_| format!("{}{path}", self.issuer))
    }

    fn client(&self, id: &str) -> Option<&Client> {
        self.clients.iter().find(|client| client.id == id)
    }

    fn acr_for(&self, level: Level) -> &str {
        match level {
            Level::One => &self.acr_level1,
            Level::Two => &self.acr_level2,
        }
    }

    fn level_for(&self, acr: &str) -> Option<Level> {
        if acr == self.acr_level1 {
            Some(Level::One)
        } else if acr == self.acr_level2 {
            Some(Level::Two)
        } else {
            None
        }
    }

    fn record(&self, channel: RequestChannel, params: &Params) {
        let received_at = self.clock.now();
        let params = params
            .0
            .iter()
            .filter(|(name, _)| name != "client_secret")
            .cloned()
            .collect();
        let mut store = lock(&self.store);
        if store.recorded.len() >= RECORD_LIMIT {
            store.recorded.remove(0);
        }
        store.recorded.push(RecordedRequest {
            channel,
            params,
            received_at,
        });
    }

    fn random_token(&self) -> Result<String, Failure> {
        random_token::<32>(self.random.as_ref()).map_err(|_| Failure::Random)
    }

    /// The `acr` level a persona with an account of `account` reaches for `request`, or `None`
    /// when an essential requirement cannot be met.
    fn choose_level(&self, account: Level, request: &AcrRequest) -> Option<Level> {
        // A Keycloak realm without step-up configuration ignores what is asked of acr.
        if self.profile == ProviderProfile::KeycloakBroker {
            return Some(account);
        }
        // OIDC Core 3.1.2.1 `acr_values` and 5.5.1.1: values in order of preference; the first
        // one this account can reach wins. A level-1 account never reaches level 2.
        let reachable = request
            .values
            .iter()
            .filter_map(|acr| self.level_for(acr))
            .find(|level| *level <= account);
        match reachable {
            Some(level) => Some(level),
            // OIDC Core 5.5.1.1: an essential acr that cannot be met ends the request in an
            // error (Unmet Authentication Requirements 1.0 §2).
            None if request.essential
                && self.honour_essential_acr
                && !request.values.is_empty() =>
            {
                None
            }
            None => Some(account),
        }
    }
}

/// An internal failure that no request can cause.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("the random generator failed")]
    Random,
    #[error("could not sign the id token: {0}")]
    Sign(#[source] super::jwt::SignError),
    #[error("could not seal a test envelope")]
    Seal,
}

/// The router for `shared`.
pub(super) fn router(shared: Arc<Shared>) -> Router {
    let mut router = Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks", get(jwks))
        .route("/authorize", get(authorize_get).post(authorize_post))
        .route(
            "/interaction/{id}",
            get(interaction_get).post(interaction_post),
        )
        .route("/session/end", get(end_session))
        .route("/token", post(token))
        .route("/userinfo", get(userinfo).post(userinfo));
    if shared.par {
        router = router.route("/par", post(par));
    }
    router.with_state(shared)
}

// ---------------------------------------------------------------------------------------------
// Parameters and responses
// ---------------------------------------------------------------------------------------------

/// Form or query parameters, in order.
struct Params(Vec<(String, String)>);

impl Params {
    /// Parses `application/x-www-form-urlencoded` input; a repeated parameter is an error
    /// (RFC 6749 §3.1: parameters MUST NOT be included more than once).
    fn parse(input: &[u8]) -> Result<Self, String> {
        let mut params: Vec<(String, String)> = Vec::new();
        for (name, value) in url::form_urlencoded::parse(input) {
            if params.iter().any(|(n, _)| *n == name) {
                return Err(format!("parameter `{name}` is repeated"));
            }
            params.push((name.into_owned(), value.into_owned()));
        }
        Ok(Self(params))
    }

    /// The value of `name`; an empty value counts as absent (RFC 6749 §3.1).
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, v)| n == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }
}

/// An OAuth error as JSON (RFC 6749 §5.2).
struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
    challenge: Option<&'static str>,
}

impl OAuthError {
    fn bad_request(error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            error,
            description: description.into(),
            challenge: None,
        }
    }

    fn invalid_client(description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_client",
            description: description.into(),
            challenge: Some("Basic realm=\"wardgate-devidp\""),
        }
    }

    fn invalid_grant(description: impl Into<String>) -> Self {
        Self::bad_request("invalid_grant", description)
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        tracing::debug!(target: "wardgate::devidp", error = self.error, "request refused");
        let mut response = json(
            self.status,
            &serde_json::json!({ "error": self.error, "error_description": self.description }),
        );
        if let Some(challenge) = self.challenge {
            response
                .headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
        response
    }
}

impl From<Failure> for OAuthError {
    fn from(failure: Failure) -> Self {
        tracing::error!(target: "wardgate::devidp", %failure, "internal failure");
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            error: "server_error",
            description: "the provider simulator failed".to_owned(),
            challenge: None,
        }
    }
}

/// JSON with `Cache-Control: no-store` (RFC 6749 §5.1).
fn json(status: StatusCode, body: &serde_json::Value) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

fn page(status: StatusCode, body: String) -> Response {
    let mut response = (status, Html(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

fn error_page(status: StatusCode, error: &str, description: &str) -> Response {
    tracing::debug!(target: "wardgate::devidp", error, "authorization request shown an error page");
    page(status, html::error_page(error, description))
}

/// A `303 See Other` to `location`.
fn see_other(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(value) => {
            let mut response = StatusCode::SEE_OTHER.into_response();
            let headers = response.headers_mut();
            headers.insert(LOCATION, value);
            headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
            response
        }
        Err(_) => error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "the redirect location is not a valid header value",
        ),
    }
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|mime| {
            mime.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

// ---------------------------------------------------------------------------------------------
// Discovery and keys
// ---------------------------------------------------------------------------------------------

async fn discovery(State(shared): State<Arc<Shared>>) -> Response {
    // OpenID Connect Discovery 1.0 §3, RFC 8414, RFC 9126 §5, RFC 9207 §3.
    let mut metadata = serde_json::json!({
        "issuer": shared.iss(),
        "authorization_endpoint": shared.endpoint("authorize"),
        "token_endpoint": shared.endpoint("token"),
        "userinfo_endpoint": shared.endpoint("userinfo"),
        "jwks_uri": shared.endpoint("jwks"),
        "scopes_supported": ["openid"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": [shared.signer.alg()],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "claims_parameter_supported": true,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "acr_values_supported": match shared.profile {
            // A Keycloak realm's built-in values: login freshness, not identity.
            ProviderProfile::KeycloakBroker => serde_json::json!(["0", "1"]),
            _ => serde_json::json!([shared.acr_level1, shared.acr_level2]),
        },
        "claims_supported": claims_supported(shared.profile),
        "claim_types_supported": ["normal"],
        "authorization_response_iss_parameter_supported": shared.sends_iss(),
        "ui_locales_supported": ["vi", "en"],
        "end_session_endpoint": shared.endpoint("session/end"),
    });
    if shared.par
        && let Some(object) = metadata.as_object_mut()
    {
        object.insert(
            "pushed_authorization_request_endpoint".to_owned(),
            shared.endpoint("par").into(),
        );
        object.insert(
            "require_pushed_authorization_requests".to_owned(),
            false.into(),
        );
    }
    let mut response = json(StatusCode::OK, &metadata);
    response.headers_mut().remove(PRAGMA);
    response
}

/// The claims each profile's ID tokens and userinfo carry.
fn claims_supported(profile: ProviderProfile) -> serde_json::Value {
    match profile {
        ProviderProfile::Standard => serde_json::json!([
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "acr",
            "amr",
            "azp",
            "name",
            "fullName",
            "citizenPid",
            "birthDate",
            "accountLevel"
        ]),
        ProviderProfile::Npsp => serde_json::json!([
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "amr",
            "azp",
            "TechID",
            "HoVaTen",
            "SoDinhDanh",
            "NgayThangNamSinh",
            "LoaiTaiKhoan",
            NPSP_LEVEL_CLAIM,
            "loginIdp"
        ]),
        ProviderProfile::VneidDirect => serde_json::json!([
            "citizenPid",
            "fullName",
            "birthDate",
            "accountType",
            "accountLevel"
        ]),
        ProviderProfile::KeycloakBroker => serde_json::json!([
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "acr",
            "azp",
            "typ",
            "sid",
            "session_state",
            "realm_access",
            "resource_access",
            "preferred_username",
            "name",
            "citizenPid",
            "birthDate",
            KEYCLOAK_LEVEL_CLAIM
        ]),
    }
}

async fn jwks(State(shared): State<Arc<Shared>>) -> Response {
    json(
        StatusCode::OK,
        &serde_json::json!({ "keys": [shared.signer.jwk()] }),
    )
}

// ---------------------------------------------------------------------------------------------
// Authorization endpoint
// ---------------------------------------------------------------------------------------------

/// Why an authorization request was refused.
enum Rejection {
    /// The client or redirect URI cannot be trusted: never redirect (RFC 6749 §4.1.2.1).
    Unredirectable {
        error: &'static str,
        description: String,
    },
    /// Sent back to the client's redirect URI (RFC 6749 §4.1.2.1, RFC 9207).
    Redirect {
        redirect_uri: String,
        state: Option<String>,
        error: &'static str,
        description: String,
    },
}

impl Shared {
    /// Validates authorization parameters (OIDC Core 3.1.2.1-2, RFC 7636 §4.4.1).
    fn validate(&self, params: &Params) -> Result<AuthRequest, Rejection> {
        let unredirectable = |error, description: &str| Rejection::Unredirectable {
            error,
            description: description.to_owned(),
        };
        let client_id = params
            .get("client_id")
            .ok_or_else(|| unredirectable("invalid_request", "client_id is missing"))?;
        let client = self
            .client(client_id)
            .ok_or_else(|| unredirectable("invalid_client", "client_id is not registered"))?;
        // OIDC Core 3.1.2.1: redirect_uri is required and must exactly match a registered one.
        let redirect_uri = params
            .get("redirect_uri")
            .ok_or_else(|| unredirectable("invalid_request", "redirect_uri is missing"))?;
        if !client.redirect_uris.iter().any(|uri| uri == redirect_uri) {
            return Err(unredirectable(
                "invalid_request",
                "redirect_uri is not registered for this client",
            ));
        }
        let state = params.get("state").map(str::to_owned);
        let redirect = |error, description: &str| Rejection::Redirect {
            redirect_uri: redirect_uri.to_owned(),
            state: state.clone(),
            error,
            description: description.to_owned(),
        };

        if params.get("request").is_some() {
            return Err(redirect(
                "request_not_supported",
                "request objects are not supported",
            ));
        }
        if params.get("request_uri").is_some() {
            return Err(redirect(
                "request_uri_not_supported",
                "request_uri is only accepted from pushed authorization requests",
            ));
        }
        match params.get("response_type") {
            None => return Err(redirect("invalid_request", "response_type is missing")),
            Some("code") => {}
            Some(_) => {
                return Err(redirect(
                    "unsupported_response_type",
                    "only response_type=code is supported",
                ));
            }
        }
        if params
            .get("response_mode")
            .is_some_and(|mode| mode != "query")
        {
            return Err(redirect(
                "invalid_request",
                "only response_mode=query is supported",
            ));
        }
        // OIDC Core 3.1.2.1: scope must contain openid.
        if !params
            .get("scope")
            .is_some_and(|scope| scope.split(' ').any(|s| s == "openid"))
        {
            return Err(redirect("invalid_scope", "scope must contain openid"));
        }
        // RFC 7636 §4.4.1: PKCE is required here, and only S256 (plain is the default when the
        // method is absent, so an absent method is refused too).
        let code_challenge = params
            .get("code_challenge")
            .ok_or_else(|| redirect("invalid_request", "code_challenge is required (PKCE S256)"))?;
        if params.get("code_challenge_method") != Some("S256") {
            return Err(redirect(
                "invalid_request",
                "transform algorithm not supported: use S256",
            ));
        }
        // RFC 7636 §4.2: BASE64URL(SHA256(verifier)) is 43 characters.
        if code_challenge.len() != 43
            || !code_challenge
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(redirect(
                "invalid_request",
                "code_challenge is not a base64url SHA-256 value",
            ));
        }
        // OIDC Core 3.1.2.1 prompt: the simulator keeps no session, so `none` cannot succeed.
        if let Some(prompt) = params.get("prompt") {
            let values: Vec<&str> = prompt.split(' ').collect();
            if values.contains(&"none") {
                if values.len() > 1 {
                    return Err(redirect(
                        "invalid_request",
                        "prompt=none cannot be combined",
                    ));
                }
                return Err(redirect("login_required", "the simulator keeps no session"));
            }
        }
        if let Some(max_age) = params.get("max_age")
            && max_age.parse::<u64>().is_err()
        {
            return Err(redirect(
                "invalid_request",
                "max_age is not a non-negative integer",
            ));
        }
        let acr = match params.get("claims") {
            Some(claims) => parse_claims_acr(claims)
                .map_err(|description| redirect("invalid_request", description))?,
            None => None,
        };
        let acr = acr.unwrap_or_else(|| AcrRequest {
            values: params
                .get("acr_values")
                .map(|values| {
                    values
                        .split(' ')
                        .filter(|v| !v.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            essential: false,
        });
        Ok(AuthRequest {
            client_id: client.id.clone(),
            redirect_uri: redirect_uri.to_owned(),
            state,
            nonce: params.get("nonce").map(str::to_owned),
            code_challenge: code_challenge.to_owned(),
            acr,
        })
    }

    /// Stores `request` as an interaction and sends the browser to the persona chooser.
    fn start_interaction(&self, request: AuthRequest) -> Response {
        let id = match self.random_token() {
            Ok(id) => id,
            Err(failure) => return OAuthError::from(failure).into_response(),
        };
        let now = self.clock.now();
        {
            let mut store = lock(&self.store);
            store.purge(now);
            store.interactions.insert(
                id.clone(),
                Interaction {
                    request,
                    expires_at: now + INTERACTION_LIFETIME,
                },
            );
        }
        see_other(&self.endpoint(&format!("interaction/{id}")))
    }

    /// Redirects an authorization response to the client (RFC 6749 §4.1.2, RFC 9207 §2).
    fn respond(&self, redirect_uri: &str, pairs: &[(&str, &str)], state: Option<&str>) -> Response {
        let Ok(mut url) = Url::parse(redirect_uri) else {
            return error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "the registered redirect_uri is not a url",
            );
        };
        {
            let mut query = url.query_pairs_mut();
            for (name, value) in pairs {
                query.append_pair(name, value);
            }
            if let Some(state) = state {
                query.append_pair("state", state);
            }
            if self.sends_iss() {
                query.append_pair("iss", self.iss());
            }
        }
        see_other(url.as_str())
    }

    /// Sends a code to the client. In the VNeID direct profile the code (and `encrypt_key`)
    /// is standard base64 written into the query unescaped, `+` included, as observed.
    fn respond_code(&self, redirect_uri: &str, code: &str, state: Option<&str>) -> Response {
        if self.profile != ProviderProfile::VneidDirect {
            return self.respond(redirect_uri, &[("code", code)], state);
        }
        let Ok(mut url) = Url::parse(redirect_uri) else {
            return error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "the registered redirect_uri is not a url",
            );
        };
        let mut query = url.query().map(str::to_owned).unwrap_or_default();
        let mut append = |name: &str, value: &str| {
            if !query.is_empty() {
                query.push('&');
            }
            query.push_str(name);
            query.push('=');
            query.push_str(value);
        };
        if self.encrypt_codes {
            match self.envelope_key.seal_code(self.random.as_ref(), code) {
                Ok((sealed, key)) => {
                    append("code", &sealed);
                    append("encrypt_key", &key);
                }
                Err(_) => return OAuthError::from(Failure::Seal).into_response(),
            }
        } else {
            append("code", code);
        }
        if let Some(state) = state {
            let state: String = url::form_urlencoded::byte_serialize(state.as_bytes()).collect();
            append("state", &state);
        }
        // `+`, `/` and `=` are legal in a query and left as they are.
        url.set_query(Some(&query));
        see_other(url.as_str())
    }

    fn reject(&self, rejection: Rejection) -> Response {
        match rejection {
            Rejection::Unredirectable { error, description } => {
                error_page(StatusCode::BAD_REQUEST, error, &description)
            }
            Rejection::Redirect {
                redirect_uri,
                state,
                error,
                description,
            } => {
                tracing::debug!(target: "wardgate::devidp", error, "authorization request refused");
                self.respond(
                    &redirect_uri,
                    &[("error", error), ("error_description", &description)],
                    state.as_deref(),
                )
            }
        }
    }

    fn authorize(&self, params: Result<Params, String>) -> Response {
        let params = match params {
            Ok(params) => params,
            Err(description) => {
                return error_page(StatusCode::BAD_REQUEST, "invalid_request", &description);
            }
        };
        self.record(RequestChannel::FrontChannel, &params);
        if self.par
            && let Some(request_uri) = params.get("request_uri")
        {
            return match self.take_pushed(&params, request_uri) {
                Ok(request) => self.start_interaction(request),
                Err(description) => {
                    error_page(StatusCode::BAD_REQUEST, "invalid_request_uri", description)
                }
            };
        }
        match self.validate(&params) {
            Ok(request) => self.start_interaction(request),
            Err(rejection) => self.reject(rejection),
        }
    }

    /// RFC 9126 §4: resolves a `request_uri`; single use, unexpired, same client.
    fn take_pushed(&self, params: &Params, request_uri: &str) -> Result<AuthRequest, &'static str> {
        let client_id = params.get("client_id").ok_or("client_id is missing")?;
        let now = self.clock.now();
        let mut store = lock(&self.store);
        let pushed = store
            .pushed
            .remove(&digest(request_uri))
            .ok_or("request_uri is unknown, expired or already used")?;
        if pushed.expires_at <= now {
            return Err("request_uri is unknown, expired or already used");
        }
        if pushed.request.client_id != client_id {
            return Err("request_uri was pushed by another client");
        }
        Ok(pushed.request)
    }
}

/// Reads `{"id_token":{"acr":{"essential":..,"values":[..]|"value":..}}}` (OIDC Core 5.5.1).
fn parse_claims_acr(claims: &str) -> Result<Option<AcrRequest>, &'static str> {
    let claims: serde_json::Value =
        serde_json::from_str(claims).map_err(|_| "claims is not valid json")?;
    if !claims.is_object() {
        return Err("claims is not a json object");
    }
    let acr = match claims
        .get("id_token")
        .and_then(|id_token| id_token.get("acr"))
    {
        None | Some(serde_json::Value::Null) => return Ok(None),
        Some(acr) if acr.is_object() => acr,
        Some(_) => return Err("claims.id_token.acr is not null or an object"),
    };
    let essential = match acr.get("essential") {
        None => false,
        Some(serde_json::Value::Bool(essential)) => *essential,
        Some(_) => return Err("claims.id_token.acr.essential is not a boolean"),
    };
    let mut values = Vec::new();
    if let Some(value) = acr.get("value") {
        values.push(
            value
                .as_str()
                .ok_or("claims.id_token.acr.value is not a string")?
                .to_owned(),
        );
    }
    if let Some(list) = acr.get("values") {
        let list = list
            .as_array()
            .ok_or("claims.id_token.acr.values is not an array")?;
        for value in list {
            values.push(
                value
                    .as_str()
                    .ok_or("claims.id_token.acr.values holds a non-string")?
                    .to_owned(),
            );
        }
    }
    Ok(Some(AcrRequest { values, essential }))
}

/// OpenID Connect RP-Initiated Logout 1.0 §2: the simulator keeps no browser session, so it
/// only records the request, checks an `id_token_hint` (an ID token it issued, for `client_id`
/// when given; expired is fine, §2), checks `post_logout_redirect_uri` against the client and
/// sends the browser back with `state`.
async fn end_session(State(shared): State<Arc<Shared>>, RawQuery(query): RawQuery) -> Response {
    let params = match Params::parse(query.unwrap_or_default().as_bytes()) {
        Ok(params) => params,
        Err(description) => {
            return error_page(StatusCode::BAD_REQUEST, "invalid_request", &description);
        }
    };
    shared.record(RequestChannel::EndSession, &params);
    // §2: the client a hint was issued to stands for `client_id` when that is absent.
    let mut hinted_client = None;
    if let Some(hint) = params.get("id_token_hint") {
        let audience = shared.signer.verify(hint).and_then(|claims| {
            claims
                .get("aud")
                .and_then(|aud| aud.as_str().map(str::to_owned))
        });
        let Some(audience) = audience else {
            return error_page(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "id_token_hint is not an ID token this provider issued",
            );
        };
        let for_client = params
            .get("client_id")
            .is_none_or(|client| client == audience)
            && shared.client(&audience).is_some();
        if !for_client {
            return error_page(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "id_token_hint was not issued to this client",
            );
        }
        hinted_client = Some(audience);
    }
    let Some(back) = params.get("post_logout_redirect_uri") else {
        return page(StatusCode::OK, html::signed_out_page());
    };
    // §3: the URI must be registered for the client. The simulator registers none apart from
    // the redirect URIs, so it accepts a URI on the origin of one of them.
    let client_id = params.get("client_id").or(hinted_client.as_deref());
    let Some(client) = client_id.and_then(|id| shared.client(id)) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "post_logout_redirect_uri needs a known client_id",
        );
    };
    let registered = Url::parse(back).ok().is_some_and(|back| {
        client
            .redirect_uris
            .iter()
            .any(|uri| Url::parse(uri).is_ok_and(|uri| uri.origin() == back.origin()))
    });
    if !registered {
        return error_page(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "post_logout_redirect_uri is not registered for this client",
        );
    }
    let Ok(mut target) = Url::parse(back) else {
        return error_page(StatusCode::BAD_REQUEST, "invalid_request", "bad URI");
    };
    if let Some(state) = params.get("state") {
        target.query_pairs_mut().append_pair("state", state);
    }
    see_other(target.as_str())
}

async fn authorize_get(State(shared): State<Arc<Shared>>, RawQuery(query): RawQuery) -> Response {
    shared.authorize(Params::parse(query.unwrap_or_default().as_bytes()))
}

async fn authorize_post(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // OIDC Core 3.1.2.1: the authorization endpoint also accepts a form POST.
    if !is_form(&headers) {
        return error_page(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the body must be application/x-www-form-urlencoded",
        );
    }
    shared.authorize(Params::parse(&body))
}

// ---------------------------------------------------------------------------------------------
// Persona chooser
// ---------------------------------------------------------------------------------------------

const UNKNOWN_INTERACTION: &str = "this sign-in is unknown, expired or already finished";

async fn interaction_get(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let now = shared.clock.now();
    let store = lock(&shared.store);
    match store.interactions.get(&id) {
        Some(interaction) if interaction.expires_at > now => {
            let request = &interaction.request;
            let summary = RequestSummary {
                client_id: &request.client_id,
                acr_values: &request.acr.values,
                acr_essential: request.acr.essential,
            };
            page(
                StatusCode::OK,
                html::chooser(&id, &summary, &shared.personas),
            )
        }
        _ => error_page(
            StatusCode::NOT_FOUND,
            "invalid_request",
            UNKNOWN_INTERACTION,
        ),
    }
}

async fn interaction_post(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !is_form(&headers) {
        return error_page(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the body must be application/x-www-form-urlencoded",
        );
    }
    let form = match Params::parse(&body) {
        Ok(form) => form,
        Err(description) => {
            return error_page(StatusCode::BAD_REQUEST, "invalid_request", &description);
        }
    };
    let Some(persona) = form
        .get("persona")
        .and_then(|id| shared.personas.iter().find(|p| p.id == id))
    else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "choose one of the listed personas",
        );
    };
    let now = shared.clock.now();
    let interaction = lock(&shared.store).interactions.remove(&id);
    let request = match interaction {
        Some(interaction) if interaction.expires_at > now => interaction.request,
        _ => {
            return error_page(
                StatusCode::NOT_FOUND,
                "invalid_request",
                UNKNOWN_INTERACTION,
            );
        }
    };
    let state = request.state.as_deref();
    match &persona.outcome {
        PersonaOutcome::Denies { error, description } => shared.respond(
            &request.redirect_uri,
            &[
                ("error", error.as_str()),
                ("error_description", description),
            ],
            state,
        ),
        PersonaOutcome::Authenticates { level: account, .. } => {
            let Some(level) = shared.choose_level(*account, &request.acr) else {
                return shared.respond(
                    &request.redirect_uri,
                    &[
                        ("error", "unmet_authentication_requirements"),
                        (
                            "error_description",
                            "the account cannot reach any of the essential acr values",
                        ),
                    ],
                    state,
                );
            };
            let code = if shared.profile == ProviderProfile::VneidDirect {
                shared.base64_code()
            } else {
                shared.random_token()
            };
            let code = match code {
                Ok(code) => code,
                Err(failure) => return OAuthError::from(failure).into_response(),
            };
            {
                let mut store = lock(&shared.store);
                store.purge(now);
                store.codes.insert(
                    digest(&code),
                    CodeGrant {
                        client_id: request.client_id.clone(),
                        redirect_uri: request.redirect_uri.clone(),
                        code_challenge: request.code_challenge.clone(),
                        nonce: request.nonce.clone(),
                        persona_id: persona.id.clone(),
                        level,
                        // The simulator always re-authenticates: auth_time is now.
                        auth_time: now,
                        expires_at: now + CODE_LIFETIME,
                    },
                );
            }
            shared.respond_code(&request.redirect_uri, &code, state)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Client authentication, PAR and token endpoints
// ---------------------------------------------------------------------------------------------

/// Decodes one `application/x-www-form-urlencoded` value (RFC 6749 §2.3.1, Appendix B).
fn form_decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        match byte {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(index + 1..index + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                index += 2;
            }
            _ => out.push(byte),
        }
        index += 1;
    }
    String::from_utf8(out).ok()
}

impl Shared {
    /// Authenticates the client of a token or PAR request (RFC 6749 §2.3.1, OIDC Core 9).
    fn authenticate_client(
        &self,
        headers: &HeaderMap,
        params: &Params,
    ) -> Result<&Client, OAuthError> {
        let basic = match headers.get(AUTHORIZATION) {
            None => None,
            Some(value) => {
                let value = value.to_str().map_err(|_| {
                    OAuthError::invalid_client("the authorization header is not ascii")
                })?;
                let (scheme, credentials) = value.split_once(' ').ok_or_else(|| {
                    OAuthError::invalid_client("the authorization header is malformed")
                })?;
                if !scheme.eq_ignore_ascii_case("basic") {
                    return Err(OAuthError::invalid_client(
                        "only basic client authentication is supported",
                    ));
                }
                let decoded = STANDARD
                    .decode(credentials.trim())
                    .ok()
                    .and_then(|bytes| String::from_utf8(bytes).ok())
                    .ok_or_else(|| {
                        OAuthError::invalid_client("the basic credentials are not base64 utf-8")
                    })?;
                let (id, secret) = decoded.split_once(':').ok_or_else(|| {
                    OAuthError::invalid_client("the basic credentials have no `:`")
                })?;
                let id = form_decode(id).ok_or_else(|| {
                    OAuthError::invalid_client("the basic client id is not form-encoded")
                })?;
                let secret = form_decode(secret).ok_or_else(|| {
                    OAuthError::invalid_client("the basic client secret is not form-encoded")
                })?;
                Some((id, secret))
            }
        };
        let (client_id, secret) = match basic {
            Some((id, secret)) => {
                // RFC 6749 §2.3: a client MUST NOT use more than one authentication method.
                if params.get("client_secret").is_some() {
                    return Err(OAuthError::bad_request(
                        "invalid_request",
                        "more than one client authentication method was used",
                    ));
                }
                if params.get("client_id").is_some_and(|body_id| body_id != id) {
                    return Err(OAuthError::invalid_client(
                        "client_id differs from the authenticated client",
                    ));
                }
                (id, Some(secret))
            }
            None => {
                let id = params.get("client_id").ok_or_else(|| {
                    OAuthError::invalid_client("client authentication is missing")
                })?;
                (
                    id.to_owned(),
                    params.get("client_secret").map(str::to_owned),
                )
            }
        };
        let client = self
            .client(&client_id)
            .ok_or_else(|| OAuthError::invalid_client("client authentication failed"))?;
        match (&client.secret, secret) {
            (Some(expected), Some(given)) => {
                if bool::from(expected.as_bytes().ct_eq(given.as_bytes())) {
                    Ok(client)
                } else {
                    Err(OAuthError::invalid_client("client authentication failed"))
                }
            }
            (Some(_), None) => Err(OAuthError::invalid_client(
                "this client must authenticate with its secret",
            )),
            (None, None) => Ok(client),
            (None, Some(_)) => Err(OAuthError::invalid_client(
                "this public client has no secret",
            )),
        }
    }

    /// RFC 9126 §2: validates and stores a pushed authorization request.
    fn push(&self, headers: &HeaderMap, params: &Params) -> Result<Response, OAuthError> {
        let client = self.authenticate_client(headers, params)?;
        // RFC 9126 §2.1: request_uri MUST NOT be pushed.
        if params.get("request_uri").is_some() {
            return Err(OAuthError::bad_request(
                "invalid_request",
                "request_uri cannot be pushed",
            ));
        }
        let mut pushed: Vec<(String, String)> = params
            .0
            .iter()
            .filter(|(name, _)| name != "client_id" && name != "client_secret")
            .cloned()
            .collect();
        pushed.push(("client_id".to_owned(), client.id.clone()));
        let request = self
            .validate(&Params(pushed))
            .map_err(|rejection| match rejection {
                Rejection::Unredirectable { description, .. } => {
                    OAuthError::bad_request("invalid_request", description)
                }
                Rejection::Redirect {
                    error, description, ..
                } => OAuthError::bad_request(error, description),
            })?;
        let request_uri = format!("{REQUEST_URI_PREFIX}{}", self.random_token()?);
        let now = self.clock.now();
        {
            let mut store = lock(&self.store);
            store.purge(now);
            store.pushed.insert(
                digest(&request_uri),
                Pushed {
                    request,
                    expires_at: now + REQUEST_URI_LIFETIME,
                },
            );
        }
        Ok(json(
            StatusCode::CREATED,
            &serde_json::json!({
                "request_uri": request_uri,
                "expires_in": REQUEST_URI_LIFETIME.num_seconds(),
            }),
        ))
    }

    /// RFC 6749 §4.1.3 and OIDC Core 3.1.3: exchanges a code.
    fn exchange(&self, headers: &HeaderMap, params: &Params) -> Result<Response, OAuthError> {
        let client = self.authenticate_client(headers, params)?;
        match params.get("grant_type") {
            None => {
                return Err(OAuthError::bad_request(
                    "invalid_request",
                    "grant_type is missing",
                ));
            }
            Some("authorization_code") => {}
            Some(_) => {
                return Err(OAuthError::bad_request(
                    "unsupported_grant_type",
                    "only authorization_code is supported",
                ));
            }
        }
        let code = params
            .get("code")
            .ok_or_else(|| OAuthError::bad_request("invalid_request", "code is missing"))?;
        let code_digest = digest(code);
        let now = self.clock.now();
        let mut store = lock(&self.store);
        // RFC 6749 §4.1.2: a code is used once; a replay revokes what the first use issued.
        if let Some(used) = store.used_codes.get(&code_digest) {
            if let Some(token) = used.access_token {
                store.access_tokens.remove(&token);
            }
            return Err(OAuthError::invalid_grant(
                "the authorization code was already used",
            ));
        }
        let grant = store
            .codes
            .remove(&code_digest)
            .ok_or_else(|| OAuthError::invalid_grant("the authorization code is unknown"))?;
        // Any presentation burns the code, so a failed PKCE check cannot be retried.
        store.used_codes.insert(
            code_digest,
            UsedCode {
                access_token: None,
                forget_at: now + USED_CODE_MEMORY,
            },
        );
        if grant.expires_at <= now {
            return Err(OAuthError::invalid_grant(
                "the authorization code has expired",
            ));
        }
        if grant.client_id != client.id {
            return Err(OAuthError::invalid_grant(
                "the authorization code was issued to another client",
            ));
        }
        // RFC 6749 §4.1.3: redirect_uri must be identical to the one in the request.
        if params.get("redirect_uri") != Some(grant.redirect_uri.as_str()) {
            return Err(OAuthError::invalid_grant(
                "redirect_uri does not match the authorization request",
            ));
        }
        // RFC 7636 §4.6: BASE64URL(SHA256(code_verifier)) == code_challenge.
        let verifier = params
            .get("code_verifier")
            .ok_or_else(|| OAuthError::invalid_grant("code_verifier is missing"))?;
        if !(43..=128).contains(&verifier.len())
            || !verifier
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
        {
            return Err(OAuthError::invalid_grant("code_verifier is malformed"));
        }
        let computed = URL_SAFE_NO_PAD.encode(ring::digest::digest(
            &ring::digest::SHA256,
            verifier.as_bytes(),
        ));
        if !bool::from(computed.as_bytes().ct_eq(grant.code_challenge.as_bytes())) {
            return Err(OAuthError::invalid_grant(
                "code_verifier does not match the code_challenge",
            ));
        }
        let (account, persona) = self
            .personas
            .iter()
            .find(|p| p.id == grant.persona_id)
            .and_then(Persona::account)
            .ok_or_else(|| {
                OAuthError::invalid_grant("the persona of this code no longer signs in")
            })?;

        let access_token = self.random_token()?;
        let expires_at = now + self.token_lifetime;
        let id_token = match self.profile {
            // VNeID direct issues no ID token: identity comes from userinfo.
            ProviderProfile::VneidDirect => None,
            _ => {
                let claims = self.id_token_claims(&client.id, persona, account, &grant, now)?;
                Some(self.signer.sign(&claims).map_err(Failure::Sign)?)
            }
        };
        let token_digest = digest(&access_token);
        store.access_tokens.insert(
            token_digest,
            AccessGrant {
                persona_id: grant.persona_id,
                expires_at,
            },
        );
        if let Some(used) = store.used_codes.get_mut(&code_digest) {
            used.access_token = Some(token_digest);
        }
        drop(store);
        tracing::debug!(target: "wardgate::devidp", "tokens issued");
        let mut body = serde_json::json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": self.token_lifetime.num_seconds(),
        });
        if let Some(id_token) = id_token {
            body["id_token"] = id_token.into();
        }
        Ok(self.respond_json(EnvelopePart::TokenResponse, &body)?)
    }

    /// The ID token claims for `persona` in this simulator's profile (OIDC Core 2, 3.1.3.6).
    fn id_token_claims(
        &self,
        client_id: &str,
        identity: &Identity,
        account: Level,
        grant: &CodeGrant,
        now: DateTime<Utc>,
    ) -> Result<serde_json::Value, Failure> {
        let expires_at = now + self.token_lifetime;
        let amr: &[&str] = match grant.level {
            Level::One => &["pwd"],
            Level::Two => &["pwd", "otp"],
        };
        let mut claims = serde_json::json!({
            "iss": self.iss(),
            "sub": identity.sub,
            "aud": client_id,
            "azp": client_id,
            "exp": expires_at.timestamp(),
            "iat": now.timestamp(),
            "auth_time": grant.auth_time.timestamp(),
        });
        match self.profile {
            ProviderProfile::Standard | ProviderProfile::VneidDirect => {
                claims["acr"] = self.acr_for(grant.level).into();
                claims["amr"] = serde_json::json!(amr);
                // A role is signed here as well as sent in userinfo: a gateway counts a staff
                // role from a signed source only, unless its operator trusts userinfo for it.
                if self.profile == ProviderProfile::Standard && !identity.roles.is_empty() {
                    claims["roles"] = serde_json::json!(identity.roles);
                }
            }
            // Observed NPSP integrations read the level from userinfo; the ID token carries
            // no acr.
            ProviderProfile::Npsp => claims["amr"] = serde_json::json!(amr),
            ProviderProfile::KeycloakBroker => {
                // Keycloak's default acr: "1" for a fresh login ("0" would be an SSO-cookie
                // login, which the simulator, keeping no session, never makes). The upstream
                // level travels in a mapped claim, as a string, like a Keycloak attribute
                // mapper sends it.
                let session = self.random_token()?;
                claims["acr"] = "1".into();
                claims["typ"] = "ID".into();
                claims["sid"] = session.clone().into();
                claims["session_state"] = session.into();
                claims["preferred_username"] = identity.citizen_pid.clone().into();
                claims["realm_access"] =
                    serde_json::json!({ "roles": ["offline_access", "uma_authorization"] });
                claims["resource_access"] =
                    serde_json::json!({ client_id: { "roles": identity.roles } });
                claims[KEYCLOAK_LEVEL_CLAIM] = account.number().to_string().into();
            }
        }
        if let Some(nonce) = &grant.nonce {
            claims["nonce"] = nonce.clone().into();
        }
        Ok(claims)
    }

    /// A JSON response with `Cache-Control: no-store`; in the VNeID direct profile, sealed in
    /// a test envelope.
    fn respond_json(
        &self,
        part: EnvelopePart,
        body: &serde_json::Value,
    ) -> Result<Response, Failure> {
        if self.profile != ProviderProfile::VneidDirect {
            return Ok(json(StatusCode::OK, body));
        }
        let plain = serde_json::to_vec(body).map_err(|_| Failure::Seal)?;
        let sealed = self
            .envelope_key
            .seal_body(self.random.as_ref(), part, &plain)
            .map_err(|_| Failure::Seal)?;
        let mut response = (StatusCode::OK, sealed).into_response();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
        Ok(response)
    }
}

async fn par(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    if !is_form(&headers) {
        return OAuthError::bad_request(
            "invalid_request",
            "the body must be application/x-www-form-urlencoded",
        )
        .into_response();
    }
    let params = match Params::parse(&body) {
        Ok(params) => params,
        Err(description) => {
            return OAuthError::bad_request("invalid_request", description).into_response();
        }
    };
    shared.record(RequestChannel::Pushed, &params);
    shared
        .push(&headers, &params)
        .unwrap_or_else(IntoResponse::into_response)
}

async fn token(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    if !is_form(&headers) {
        return OAuthError::bad_request(
            "invalid_request",
            "the body must be application/x-www-form-urlencoded",
        )
        .into_response();
    }
    let params = match Params::parse(&body) {
        Ok(params) => params,
        Err(description) => {
            return OAuthError::bad_request("invalid_request", description).into_response();
        }
    };
    shared
        .exchange(&headers, &params)
        .unwrap_or_else(IntoResponse::into_response)
}

// ---------------------------------------------------------------------------------------------
// Userinfo
// ---------------------------------------------------------------------------------------------

/// A 401 with a Bearer challenge (RFC 6750 §3).
fn bearer_challenge(challenge: &'static str) -> Response {
    let mut response = StatusCode::UNAUTHORIZED.into_response();
    response
        .headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
    response
}

async fn userinfo(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    // RFC 6750 §2.1: the access token in the Authorization header.
    let Some(header) = headers.get(AUTHORIZATION) else {
        return bearer_challenge("Bearer realm=\"wardgate-devidp\"");
    };
    let token = header
        .to_str()
        .ok()
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    let Some(token) = token else {
        return bearer_challenge("Bearer realm=\"wardgate-devidp\", error=\"invalid_request\"");
    };
    let now = shared.clock.now();
    let persona_id = {
        let store = lock(&shared.store);
        match store.access_tokens.get(&digest(token)) {
            Some(grant) if grant.expires_at > now => grant.persona_id.clone(),
            _ => {
                return bearer_challenge(
                    "Bearer realm=\"wardgate-devidp\", error=\"invalid_token\", \
                     error_description=\"the access token is unknown, expired or revoked\"",
                );
            }
        }
    };
    let Some((level, identity)) = shared
        .personas
        .iter()
        .find(|p| p.id == persona_id)
        .and_then(Persona::account)
    else {
        return bearer_challenge("Bearer realm=\"wardgate-devidp\", error=\"invalid_token\"");
    };
    let mut claims = userinfo_claims(shared.profile, level, identity);
    if !identity.roles.is_empty() {
        claims["roles"] = serde_json::json!(identity.roles);
    }
    shared
        .respond_json(EnvelopePart::Userinfo, &claims)
        .unwrap_or_else(|failure| OAuthError::from(failure).into_response())
}

/// The userinfo claims of a persona with an account of `level` (OIDC Core 5.3.2), with each
/// profile's observed attribute names (domain brief §1.4).
fn userinfo_claims(
    profile: ProviderProfile,
    level: Level,
    identity: &Identity,
) -> serde_json::Value {
    let birth_date = identity.birth_date.format("%Y-%m-%d").to_string();
    match profile {
        ProviderProfile::Standard => serde_json::json!({
            "sub": identity.sub,
            "name": identity.full_name,
            "fullName": identity.full_name,
            "citizenPid": identity.citizen_pid,
            "birthDate": birth_date,
            "accountLevel": level.number(),
        }),
        // `LoaiTaiKhoan` is the account *type* ("1" for every persona, as observed); the level
        // is in its own field.
        ProviderProfile::Npsp => serde_json::json!({
            "sub": identity.sub,
            "HoVaTen": identity.full_name,
            "SoDinhDanh": identity.citizen_pid,
            "NgayThangNamSinh": identity.birth_date.format("%Y%m%d").to_string(),
            "LoaiTaiKhoan": "1",
            NPSP_LEVEL_CLAIM: level.number().to_string(),
            "loginIdp": "BCA",
        }),
        // No `sub`: the personal identification number identifies the resident.
        ProviderProfile::VneidDirect => serde_json::json!({
            "citizenPid": identity.citizen_pid,
            "fullName": identity.full_name,
            "birthDate": birth_date,
            "accountType": "citizen",
            "accountLevel": level.number(),
        }),
        ProviderProfile::KeycloakBroker => serde_json::json!({
            "sub": identity.sub,
            "preferred_username": identity.citizen_pid,
            "name": identity.full_name,
            "citizenPid": identity.citizen_pid,
            "birthDate": birth_date,
            KEYCLOAK_LEVEL_CLAIM: level.number().to_string(),
        }),
    }
}
