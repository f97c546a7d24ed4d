//! A hostile OpenID Provider on loopback: real HTTP endpoints (discovery, JWKS, authorize,
//! token, userinfo) whose answers a [`Script`] crafts, to attack the gateway the way a
//! compromised, misconfigured or impersonated provider would.
//!
//! With [`Script::honest`] it is a correct provider issuing level-2 ES256 ID tokens; every
//! attack is that script with one thing changed. The authorize endpoint plays the resident too:
//! it redirects straight back to the relying party with a code, the request's `state` and the
//! RFC 9207 `iss`, so a test follows one redirect instead of driving a login page.
//!
//! [`HostileIdp::stop`] closes the port (connection refused, pooled connections closed) and
//! [`HostileIdp::restart`] opens it again with the same keys, for the provider-fault tests.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http_body_util::BodyExt as _;
use ring::rand::SystemRandom;
use ring::signature::{self, KeyPair as _};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The client registered at the provider.
pub(crate) const CLIENT_ID: &str = "ward-portal";
/// Its secret (`client_secret_basic`).
pub(crate) const CLIENT_SECRET: &str = "hostile-idp-test-secret";
/// The `acr` of a level-1 login.
pub(crate) const ACR_LEVEL_1: &str = "urn:hostile:loa:1";
/// The `acr` of a level-2 login.
pub(crate) const ACR_LEVEL_2: &str = "urn:hostile:loa:2";
/// The resident's subject at this provider.
pub(crate) const SUBJECT: &str = "resident-0001";
/// How long a stalling endpoint sleeps: far beyond any timeout the gateway should allow.
const STALL: Duration = Duration::from_secs(120);

/// How the ID token is signed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Signer {
    /// ES256 with the published P-256 key `ec-1`.
    Es256,
    /// RS256 with the published RSA-2048 key `rsa-1`.
    Rs256,
    /// EdDSA with the published Ed25519 key `ed-1`.
    EdDsa,
    /// ES256 with a P-256 key that is not in the JWKS.
    NotInJwks,
    /// ES256 by the right key, but the signature DER-encoded instead of JOSE's raw `r || s`.
    DerEs256,
    /// HS256 keyed with the bytes of the provider's public RSA JWK (key confusion).
    HmacWithPublicKey,
    /// No signature at all (`alg: none`).
    Unsigned,
    /// ES256 by the right key, one bit flipped.
    Corrupt,
}

/// What the token endpoint answers.
#[derive(Clone, Debug)]
pub(crate) enum TokenAnswer {
    /// The crafted token response.
    Issue,
    /// This status and body.
    Status(u16, String),
    /// Sleeps far beyond the gateway's timeout.
    Stall,
    /// A redirect to another host (a provider used to reach internal services).
    RedirectTo(String),
}

/// What the userinfo endpoint answers.
#[derive(Clone, Debug)]
pub(crate) enum UserinfoAnswer {
    /// The crafted claims.
    Claims,
    /// This status and body.
    Status(u16, String),
}

/// What the JWKS endpoint answers.
#[derive(Clone, Debug)]
pub(crate) enum JwksAnswer {
    /// The provider's real keys (`ec-1`, `rsa-1`, `ed-1`).
    Published,
    /// This key set.
    Replaced(Value),
    /// `500`.
    Failing,
}

type Edit = Arc<dyn Fn(&mut Value) + Send + Sync>;
type ParamsEdit = Arc<dyn Fn(&mut Vec<(String, String)>) + Send + Sync>;

/// Everything the provider does, one knob per attack surface.
#[derive(Clone)]
pub(crate) struct Script {
    metadata: Edit,
    header: Edit,
    claims: Edit,
    signer: Signer,
    token_response: Edit,
    callback: ParamsEdit,
    token: TokenAnswer,
    userinfo: Edit,
    userinfo_answer: UserinfoAnswer,
    jwks: JwksAnswer,
    replay_first_code: bool,
    stall_everything: bool,
    rate_limit_everything: bool,
}

impl Script {
    /// A correct provider: level-2 ES256 ID tokens, RFC 9207 `iss`, matching userinfo.
    pub(crate) fn honest() -> Self {
        Self {
            metadata: Arc::new(|_| {}),
            header: Arc::new(|_| {}),
            claims: Arc::new(|_| {}),
            signer: Signer::Es256,
            token_response: Arc::new(|_| {}),
            callback: Arc::new(|_| {}),
            token: TokenAnswer::Issue,
            userinfo: Arc::new(|_| {}),
            userinfo_answer: UserinfoAnswer::Claims,
            jwks: JwksAnswer::Published,
            replay_first_code: false,
            stall_everything: false,
            rate_limit_everything: false,
        }
    }

    /// Edits the discovery document.
    pub(crate) fn metadata(mut self, edit: impl Fn(&mut Value) + Send + Sync + 'static) -> Self {
        self.metadata = Arc::new(edit);
        self
    }

    /// Edits the ID token's JOSE header (`{"alg": "ES256", "kid": "ec-1", "typ": "JWT"}`).
    pub(crate) fn header(mut self, edit: impl Fn(&mut Value) + Send + Sync + 'static) -> Self {
        self.header = Arc::new(edit);
        self
    }

    /// Edits the ID token's claims.
    pub(crate) fn claims(mut self, edit: impl Fn(&mut Value) + Send + Sync + 'static) -> Self {
        self.claims = Arc::new(edit);
        self
    }

    /// Signs the ID token this way.
    pub(crate) fn signer(mut self, signer: Signer) -> Self {
        self.signer = signer;
        self
    }

    /// Edits the token endpoint's JSON answer.
    pub(crate) fn token_response(
        mut self,
        edit: impl Fn(&mut Value) + Send + Sync + 'static,
    ) -> Self {
        self.token_response = Arc::new(edit);
        self
    }

    /// Edits the parameters of the redirect back to the relying party (`code`, `state`, `iss`).
    pub(crate) fn callback(
        mut self,
        edit: impl Fn(&mut Vec<(String, String)>) + Send + Sync + 'static,
    ) -> Self {
        self.callback = Arc::new(edit);
        self
    }

    /// Answers the token endpoint this way.
    pub(crate) fn token(mut self, answer: TokenAnswer) -> Self {
        self.token = answer;
        self
    }

    /// Edits the userinfo claims.
    pub(crate) fn userinfo(mut self, edit: impl Fn(&mut Value) + Send + Sync + 'static) -> Self {
        self.userinfo = Arc::new(edit);
        self
    }

    /// Answers the userinfo endpoint this way.
    pub(crate) fn userinfo_answer(mut self, answer: UserinfoAnswer) -> Self {
        self.userinfo_answer = answer;
        self
    }

    /// Answers the JWKS endpoint this way.
    pub(crate) fn jwks(mut self, answer: JwksAnswer) -> Self {
        self.jwks = answer;
        self
    }

    /// Hands out the first code ever issued instead of a fresh one.
    pub(crate) fn replay_first_code(mut self) -> Self {
        self.replay_first_code = true;
        self
    }

    /// Every endpoint sleeps far beyond any timeout (a provider that accepts connections but
    /// never answers).
    pub(crate) fn stall_everything(mut self) -> Self {
        self.stall_everything = true;
        self
    }

    /// Answers every request `429 Too Many Requests` with `Retry-After: 2`: the provider is up
    /// and asks its clients to slow down.
    pub(crate) fn rate_limit_everything(mut self) -> Self {
        self.rate_limit_everything = true;
        self
    }
}

/// The provider's keys.
struct Keys {
    es256: signature::EcdsaKeyPair,
    rs256: signature::RsaKeyPair,
    ed25519: signature::Ed25519KeyPair,
    foreign: signature::EcdsaKeyPair,
}

impl Keys {
    fn new() -> Self {
        let rng = SystemRandom::new();
        let ec = || {
            let pkcs8 = signature::EcdsaKeyPair::generate_pkcs8(
                &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                &rng,
            )
            .expect("P-256 key");
            signature::EcdsaKeyPair::from_pkcs8(
                &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                pkcs8.as_ref(),
                &rng,
            )
            .expect("P-256 key pair")
        };
        let rsa = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/keys/rsa2048.pk8"
        ))
        .expect("RSA test key");
        let ed = signature::Ed25519KeyPair::generate_pkcs8(&rng).expect("Ed25519 key");
        Self {
            es256: ec(),
            rs256: signature::RsaKeyPair::from_pkcs8(&rsa).expect("RSA key pair"),
            ed25519: signature::Ed25519KeyPair::from_pkcs8(ed.as_ref()).expect("Ed25519 pair"),
            foreign: ec(),
        }
    }

    fn ec_jwk(pair: &signature::EcdsaKeyPair, kid: &str) -> Value {
        let point = pair.public_key().as_ref();
        json!({"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256",
               "x": b64(&point[1..33]), "y": b64(&point[33..65])})
    }

    fn rsa_jwk(&self) -> Value {
        let parts: signature::RsaPublicKeyComponents<Vec<u8>> = self.rs256.public().into();
        json!({"kty": "RSA", "kid": "rsa-1", "use": "sig", "alg": "RS256",
               "n": b64(&parts.n), "e": b64(&parts.e)})
    }

    fn ed_jwk(&self) -> Value {
        json!({"kty": "OKP", "crv": "Ed25519", "kid": "ed-1", "use": "sig", "alg": "EdDSA",
               "x": b64(self.ed25519.public_key().as_ref())})
    }

    /// The key set the provider publishes.
    fn jwks(&self) -> Value {
        json!({"keys": [Self::ec_jwk(&self.es256, "ec-1"), self.rsa_jwk(), self.ed_jwk()]})
    }

    fn sign(&self, signer: Signer, header: &Value, claims: &Value) -> String {
        let input = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
        let rng = SystemRandom::new();
        let ec = |pair: &signature::EcdsaKeyPair| {
            pair.sign(&rng, input.as_bytes())
                .expect("ECDSA signature")
                .as_ref()
                .to_vec()
        };
        let signature = match signer {
            Signer::Es256 => ec(&self.es256),
            Signer::NotInJwks => ec(&self.foreign),
            Signer::DerEs256 => der_encode(&ec(&self.es256)),
            Signer::Corrupt => {
                let mut sig = ec(&self.es256);
                sig[10] ^= 0x01;
                sig
            }
            Signer::Rs256 => {
                let mut out = vec![0u8; self.rs256.public().modulus_len()];
                self.rs256
                    .sign(
                        &signature::RSA_PKCS1_SHA256,
                        &rng,
                        input.as_bytes(),
                        &mut out,
                    )
                    .expect("RSA signature");
                out
            }
            Signer::EdDsa => self.ed25519.sign(input.as_bytes()).as_ref().to_vec(),
            Signer::HmacWithPublicKey => {
                let key = ring::hmac::Key::new(
                    ring::hmac::HMAC_SHA256,
                    self.rsa_jwk().to_string().as_bytes(),
                );
                ring::hmac::sign(&key, input.as_bytes()).as_ref().to_vec()
            }
            Signer::Unsigned => Vec::new(),
        };
        format!("{input}.{}", b64(signature))
    }
}

pub(crate) fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A raw `r || s` P-256 signature as ASN.1 DER, the way non-JOSE libraries emit it.
fn der_encode(fixed: &[u8]) -> Vec<u8> {
    let int = |bytes: &[u8]| {
        let trimmed: Vec<u8> = bytes.iter().copied().skip_while(|b| *b == 0).collect();
        let mut value = if trimmed.first().is_some_and(|b| b & 0x80 != 0) {
            vec![0]
        } else {
            Vec::new()
        };
        value.extend(trimmed);
        let mut out = vec![0x02, u8::try_from(value.len()).expect("short integer")];
        out.extend(value);
        out
    };
    let mut body = int(&fixed[..32]);
    body.extend(int(&fixed[32..]));
    let mut out = vec![0x30, u8::try_from(body.len()).expect("short sequence")];
    out.extend(body);
    out
}

/// A code handed out by the authorize endpoint.
struct Grant {
    nonce: Option<String>,
    used: bool,
}

struct Shared {
    issuer: String,
    keys: Keys,
    script: Mutex<Script>,
    grants: Mutex<HashMap<String, Grant>>,
    first_code: Mutex<Option<String>>,
    next_code: AtomicU64,
    /// Every request line received (`GET /jwks`), to prove what was never fetched.
    requests: Mutex<Vec<String>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running hostile provider; stopped when dropped.
pub(crate) struct HostileIdp {
    shared: Arc<Shared>,
    addr: SocketAddr,
    server: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
}

impl HostileIdp {
    /// Starts the provider on a free loopback port, honest until [`set`](Self::set) says
    /// otherwise.
    pub(crate) async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let addr = listener.local_addr().expect("local address");
        let shared = Arc::new(Shared {
            issuer: format!("http://{addr}"),
            keys: Keys::new(),
            script: Mutex::new(Script::honest()),
            grants: Mutex::new(HashMap::new()),
            first_code: Mutex::new(None),
            next_code: AtomicU64::new(1),
            requests: Mutex::new(Vec::new()),
        });
        let mut idp = Self {
            shared,
            addr,
            server: None,
        };
        idp.serve(listener);
        idp
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let router = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&self.shared));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        self.server = Some((stop, task));
    }

    /// The issuer identifier, `http://127.0.0.1:<port>` (no trailing slash).
    pub(crate) fn issuer(&self) -> &str {
        &self.shared.issuer
    }

    /// Replaces the script for the next requests.
    pub(crate) fn set(&self, script: Script) {
        *lock(&self.shared.script) = script;
    }

    /// The public JWK of the key [`Signer::NotInJwks`] signs with, under kid `attacker`.
    pub(crate) fn foreign_jwk(&self) -> Value {
        Keys::ec_jwk(&self.shared.keys.foreign, "attacker")
    }

    /// The request lines received so far (`GET /jwks`, ...).
    pub(crate) fn requests(&self) -> Vec<String> {
        lock(&self.shared.requests).clone()
    }

    /// Closes the port: new connections are refused and idle ones closed. Requests still in
    /// flight are cut after two seconds.
    pub(crate) async fn stop(&mut self) {
        if let Some((stop, mut task)) = self.server.take() {
            let _ = stop.send(());
            if tokio::time::timeout(Duration::from_secs(2), &mut task)
                .await
                .is_err()
            {
                task.abort();
                let _ = task.await;
            }
        }
    }

    /// Opens the same port again, with the same keys and script.
    pub(crate) async fn restart(&mut self) {
        self.stop().await;
        let mut last = None;
        for _ in 0..20 {
            match tokio::net::TcpListener::bind(self.addr).await {
                Ok(listener) => {
                    self.serve(listener);
                    return;
                }
                Err(e) => {
                    last = Some(e);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        panic!("cannot reopen {}: {last:?}", self.addr);
    }
}

impl Drop for HostileIdp {
    fn drop(&mut self) {
        if let Some((stop, task)) = self.server.take() {
            let _ = stop.send(());
            task.abort();
        }
    }
}

impl std::fmt::Debug for HostileIdp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostileIdp")
            .field("issuer", &self.shared.issuer)
            .finish_non_exhaustive()
    }
}

fn json_response(status: u16, value: &Value) -> Response {
    raw_response(status, "application/json", value.to_string())
}

fn raw_response(status: u16, content_type: &'static str, body: String) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = StatusCode::from_u16(status).expect("status code");
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let line = format!("{} {}", request.method(), request.uri().path());
    lock(&shared.requests).push(line);
    let script = lock(&shared.script).clone();
    if script.stall_everything {
        tokio::time::sleep(STALL).await;
    }
    if script.rate_limit_everything {
        let mut response = json_response(429, &json!({"error": "slow_down"}));
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
        return response;
    }
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or_default().to_owned();
    let body = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_default();
    match path.as_str() {
        "/.well-known/openid-configuration" => {
            json_response(200, &metadata(&shared.issuer, &script))
        }
        "/jwks" => match &script.jwks {
            JwksAnswer::Published => json_response(200, &shared.keys.jwks()),
            JwksAnswer::Replaced(keys) => json_response(200, keys),
            JwksAnswer::Failing => json_response(500, &json!({"error": "server_error"})),
        },
        "/authorize" => authorize(&shared, &script, &query),
        "/token" => token(&shared, &script, &body).await,
        "/userinfo" => match &script.userinfo_answer {
            UserinfoAnswer::Claims => {
                let mut claims = json!({"sub": SUBJECT, "name": "Nguyễn Văn An"});
                (script.userinfo)(&mut claims);
                json_response(200, &claims)
            }
            UserinfoAnswer::Status(status, body) => {
                raw_response(*status, "application/json", body.clone())
            }
        },
        _ => json_response(404, &json!({"error": "not_found"})),
    }
}

fn metadata(issuer: &str, script: &Script) -> Value {
    let mut document = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256", "RS256", "EdDSA"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        "claims_parameter_supported": true,
        "authorization_response_iss_parameter_supported": true,
        "acr_values_supported": [ACR_LEVEL_1, ACR_LEVEL_2],
    });
    (script.metadata)(&mut document);
    document
}

/// Plays the provider's login page and the resident at once: straight back with a code.
fn authorize(shared: &Shared, script: &Script, query: &str) -> Response {
    let params: HashMap<String, String> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let Some(redirect_uri) = params.get("redirect_uri") else {
        return json_response(400, &json!({"error": "invalid_request"}));
    };
    let fresh = format!("code-{}", shared.next_code.fetch_add(1, Ordering::SeqCst));
    let code = {
        let mut first = lock(&shared.first_code);
        match (&*first, script.replay_first_code) {
            (Some(first), true) => first.clone(),
            (None, _) => {
                *first = Some(fresh.clone());
                fresh
            }
            (Some(_), false) => fresh,
        }
    };
    lock(&shared.grants).entry(code.clone()).or_insert(Grant {
        nonce: params.get("nonce").cloned(),
        used: false,
    });
    let mut back = vec![
        ("code".to_owned(), code),
        (
            "state".to_owned(),
            params.get("state").cloned().unwrap_or_default(),
        ),
        ("iss".to_owned(), shared.issuer.clone()),
    ];
    (script.callback)(&mut back);
    let mut location = url::Url::parse(redirect_uri).expect("redirect uri");
    {
        let mut pairs = location.query_pairs_mut();
        for (name, value) in &back {
            pairs.append_pair(name, value);
        }
    }
    let mut response = StatusCode::SEE_OTHER.into_response();
    response.headers_mut().insert(
        header::LOCATION,
        HeaderValue::from_str(location.as_str()).expect("location header"),
    );
    response
}

async fn token(shared: &Shared, script: &Script, body: &[u8]) -> Response {
    match &script.token {
        TokenAnswer::Issue => {}
        TokenAnswer::Status(status, body) => {
            return raw_response(*status, "application/json", body.clone());
        }
        TokenAnswer::Stall => {
            tokio::time::sleep(STALL).await;
        }
        TokenAnswer::RedirectTo(target) => {
            let mut response = StatusCode::TEMPORARY_REDIRECT.into_response();
            response.headers_mut().insert(
                header::LOCATION,
                HeaderValue::from_str(target).expect("location header"),
            );
            return response;
        }
    }
    let form: HashMap<String, String> = url::form_urlencoded::parse(body).into_owned().collect();
    let nonce = {
        let mut grants = lock(&shared.grants);
        match form.get("code").and_then(|code| grants.get_mut(code)) {
            Some(grant) if !grant.used => {
                grant.used = true;
                grant.nonce.clone()
            }
            _ => return json_response(400, &json!({"error": "invalid_grant"})),
        }
    };
    let now = chrono::Utc::now().timestamp();
    let mut claims = json!({
        "iss": shared.issuer, "sub": SUBJECT, "aud": CLIENT_ID,
        "exp": now + 300, "iat": now - 5, "auth_time": now - 30,
        "acr": ACR_LEVEL_2, "amr": ["pwd", "otp"],
    });
    if let Some(nonce) = nonce {
        claims["nonce"] = Value::from(nonce);
    }
    (script.claims)(&mut claims);
    let mut header = json!({"alg": "ES256", "kid": "ec-1", "typ": "JWT"});
    match script.signer {
        Signer::Rs256 => header = json!({"alg": "RS256", "kid": "rsa-1", "typ": "JWT"}),
        Signer::EdDsa => header = json!({"alg": "EdDSA", "kid": "ed-1", "typ": "JWT"}),
        Signer::HmacWithPublicKey => header = json!({"alg": "HS256", "kid": "rsa-1"}),
        Signer::Unsigned => header = json!({"alg": "none", "typ": "JWT"}),
        _ => {}
    }
    (script.header)(&mut header);
    let id_token = shared.keys.sign(script.signer, &header, &claims);
    let mut answer = json!({
        "access_token": "hostile-access-token",
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": id_token,
    });
    (script.token_response)(&mut answer);
    json_response(200, &answer)
}

/// The deliberately weak RSA-1024 public key (`weak-1024`) from the test data.
pub(crate) fn weak_rsa_jwk() -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/keys/rsa1024.jwk.json"
        ))
        .expect("weak RSA key"),
    )
    .expect("weak RSA JWK")
}
