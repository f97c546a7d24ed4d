//! Relying-party tests against a mock provider answering through a closure `HttpClient`.

use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{TimeZone, Utc};
use pretty_assertions::assert_eq;
use ring::rand::SystemRandom as RingRandom;
use ring::signature::{self, KeyPair as _};
use serde_json::{Value, json};

use super::*;
use crate::assurance::AcrTable;
use crate::clock::{FixedClock, SystemRandom};

const ISSUER: &str = "https://idp.example";
const CLIENT: &str = "ward-portal";
const REDIRECT: &str = "https://portal.example/auth/callback";
const LEVEL1: &str = "urn:test:loa:1";
const LEVEL2: &str = "urn:test:loa:2";

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 8, 0, 0)
        .single()
        .unwrap()
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Keys the mock provider signs with.
struct Keys {
    es256: signature::EcdsaKeyPair,
    rs256: signature::RsaKeyPair,
    attacker: signature::EcdsaKeyPair,
}

impl Keys {
    fn new() -> Self {
        let rng = RingRandom::new();
        let ec = |rng: &RingRandom| {
            let pkcs8 = signature::EcdsaKeyPair::generate_pkcs8(
                &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                rng,
            )
            .unwrap();
            signature::EcdsaKeyPair::from_pkcs8(
                &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                pkcs8.as_ref(),
                rng,
            )
            .unwrap()
        };
        let rsa_der = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/keys/rsa2048.pk8"
        ))
        .unwrap();
        Self {
            es256: ec(&rng),
            rs256: signature::RsaKeyPair::from_pkcs8(&rsa_der).unwrap(),
            attacker: ec(&rng),
        }
    }

    fn ec_jwk(pair: &signature::EcdsaKeyPair, kid: &str) -> Value {
        let point = pair.public_key().as_ref();
        json!({"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256",
               "x": b64(&point[1..33]), "y": b64(&point[33..65])})
    }

    fn rsa_jwk(&self) -> Value {
        let components: signature::RsaPublicKeyComponents<Vec<u8>> = self.rs256.public().into();
        // No `alg`: the key may be used with RS256 and PS256, as many providers publish it.
        json!({"kty": "RSA", "kid": "rsa-1", "use": "sig",
               "n": b64(&components.n), "e": b64(&components.e)})
    }

    fn jwks(&self) -> Value {
        json!({"keys": [Self::ec_jwk(&self.es256, "ec-1"), self.rsa_jwk()]})
    }
}

/// How to build the next ID token.
#[derive(Clone)]
struct TokenSpec {
    header: Value,
    claims: Value,
    signer: Signer,
}

#[derive(Clone, Copy, PartialEq)]
enum Signer {
    Es256,
    Rs256,
    Ps256,
    Attacker,
    DerEs256,
    Hmac,
    Unsigned,
    Corrupt,
}

fn sign(keys: &Keys, spec: &TokenSpec) -> String {
    let input = format!(
        "{}.{}",
        b64(spec.header.to_string()),
        b64(spec.claims.to_string())
    );
    let rng = RingRandom::new();
    let sig: Vec<u8> = match spec.signer {
        Signer::Es256 | Signer::Corrupt => keys
            .es256
            .sign(&rng, input.as_bytes())
            .unwrap()
            .as_ref()
            .to_vec(),
        Signer::Attacker => keys
            .attacker
            .sign(&rng, input.as_bytes())
            .unwrap()
            .as_ref()
            .to_vec(),
        Signer::DerEs256 => {
            // A valid signature by the right key, DER-encoded as a non-JWS provider would send.
            let fixed = keys.es256.sign(&rng, input.as_bytes()).unwrap();
            der_encode(fixed.as_ref())
        }
        Signer::Rs256 | Signer::Ps256 => {
            let mut out = vec![0u8; keys.rs256.public().modulus_len()];
            let padding: &dyn signature::RsaEncoding = if spec.signer == Signer::Rs256 {
                &signature::RSA_PKCS1_SHA256
            } else {
                &signature::RSA_PSS_SHA256
            };
            keys.rs256
                .sign(padding, &rng, input.as_bytes(), &mut out)
                .unwrap();
            out
        }
        Signer::Hmac => {
            // HS256 keyed with the provider's public key: the classic confusion attack.
            let key = ring::hmac::Key::new(
                ring::hmac::HMAC_SHA256,
                keys.rsa_jwk().to_string().as_bytes(),
            );
            ring::hmac::sign(&key, input.as_bytes()).as_ref().to_vec()
        }
        Signer::Unsigned => Vec::new(),
    };
    let mut sig = sig;
    if spec.signer == Signer::Corrupt
        && let Some(byte) = sig.get_mut(10)
    {
        *byte ^= 0x01;
    }
    format!("{input}.{}", b64(sig))
}

fn der_encode(fixed: &[u8]) -> Vec<u8> {
    let int = |bytes: &[u8]| {
        let trimmed: Vec<u8> = bytes.iter().copied().skip_while(|b| *b == 0).collect();
        let mut v = if trimmed.first().is_some_and(|b| b & 0x80 != 0) {
            vec![0]
        } else {
            vec![]
        };
        v.extend(trimmed);
        let mut out = vec![0x02, v.len() as u8];
        out.extend(v);
        out
    };
    let mut body = int(&fixed[..32]);
    body.extend(int(&fixed[32..]));
    let mut out = vec![0x30, body.len() as u8];
    out.extend(body);
    out
}

/// The mock provider's mutable behaviour.
struct State {
    metadata: Value,
    jwks: Value,
    token: TokenSpec,
    token_status: u16,
    token_body: Option<String>,
    userinfo: Value,
    requests: Vec<(String, String, Option<String>, String)>,
    jwks_fetches: usize,
    jwks_down: bool,
    expected_code: String,
}

#[derive(Clone)]
struct Mock {
    keys: Arc<Keys>,
    state: Arc<Mutex<State>>,
}

impl Mock {
    fn new() -> Self {
        let keys = Keys::new();
        let metadata = json!({
            "issuer": ISSUER,
            "authorization_endpoint": format!("{ISSUER}/authorize"),
            "token_endpoint": format!("{ISSUER}/token"),
            "userinfo_endpoint": format!("{ISSUER}/userinfo"),
            "jwks_uri": format!("{ISSUER}/jwks"),
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "claims_parameter_supported": true,
            "authorization_response_iss_parameter_supported": true,
            "acr_values_supported": [LEVEL1, LEVEL2],
        });
        let jwks = keys.jwks();
        Self {
            keys: Arc::new(keys),
            state: Arc::new(Mutex::new(State {
                metadata,
                jwks,
                token: TokenSpec {
                    header: json!({"alg": "ES256", "kid": "ec-1", "typ": "JWT"}),
                    claims: Value::Null,
                    signer: Signer::Es256,
                },
                token_status: 200,
                token_body: None,
                userinfo: json!({"sub": "subject-1", "accountLevel": 2}),
                requests: Vec::new(),
                jwks_fetches: 0,
                jwks_down: false,
                expected_code: "code-1".into(),
            })),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.state.lock().unwrap())
    }

    fn answer(&self, request: http::Request<Vec<u8>>) -> http::Response<Vec<u8>> {
        let uri = request.uri().to_string();
        let path = request.uri().path().to_owned();
        let auth = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .map(|v| v.to_str().unwrap().to_owned());
        let body = String::from_utf8(request.body().clone()).unwrap();
        let mut state = self.state.lock().unwrap();
        state
            .requests
            .push((request.method().to_string(), uri, auth, body.clone()));
        let json = |status: u16, value: &Value| {
            http::Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(value.to_string().into_bytes())
                .unwrap()
        };
        match path.as_str() {
            "/.well-known/openid-configuration" => json(200, &state.metadata),
            "/jwks" => {
                state.jwks_fetches += 1;
                if state.jwks_down {
                    return json(503, &json!({}));
                }
                json(200, &state.jwks)
            }
            "/par" => json(
                201,
                &json!({"request_uri": "urn:ietf:params:oauth:request_uri:abc", "expires_in": 60}),
            ),
            "/token" => {
                if let Some(raw) = &state.token_body {
                    return http::Response::builder()
                        .status(state.token_status)
                        .body(raw.clone().into_bytes())
                        .unwrap();
                }
                let form: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes())
                    .into_owned()
                    .collect();
                let code = form
                    .iter()
                    .find(|(k, _)| k == "code")
                    .map(|(_, v)| v.clone());
                if code.as_deref() != Some(state.expected_code.as_str()) {
                    return json(400, &json!({"error": "invalid_grant"}));
                }
                let token = sign(&self.keys, &state.token);
                json(
                    state.token_status,
                    &json!({"access_token": "at-1", "token_type": "Bearer", "id_token": token}),
                )
            }
            "/userinfo" => json(200, &state.userinfo),
            _ => json(404, &json!({})),
        }
    }

    fn http(&self) -> impl HttpClient + 'static {
        let mock = self.clone();
        move |request: http::Request<Vec<u8>>| {
            let response = mock.answer(request);
            async move { Ok::<_, HttpError>(response) }
        }
    }

    fn standard_claims(nonce: &str) -> Value {
        json!({
            "iss": ISSUER, "sub": "subject-1", "aud": CLIENT,
            "exp": now().timestamp() + 300, "iat": now().timestamp() - 5,
            "auth_time": now().timestamp() - 30, "nonce": nonce,
            "acr": LEVEL2, "amr": ["pwd", "otp"],
        })
    }
}

fn config() -> ClientConfig {
    ClientConfig::new(CLIENT, Url::parse(REDIRECT).unwrap())
        .client_secret("s3cret:/+")
        .level_source(LevelSource::acr(AcrTable::new([LEVEL1], [LEVEL2]).unwrap()))
}

struct Harness {
    mock: Mock,
    rp: RelyingParty,
    clock: Arc<FixedClock>,
}

async fn harness_with(mock: Mock, config: ClientConfig) -> Harness {
    let clock = Arc::new(FixedClock::new(now()));
    let rp = RelyingParty::discover(
        ISSUER,
        config,
        mock.http(),
        clock.clone(),
        Arc::new(SystemRandom::new()),
    )
    .await
    .unwrap();
    Harness { mock, rp, clock }
}

async fn harness() -> Harness {
    harness_with(Mock::new(), config()).await
}

impl Harness {
    /// Runs begin, lets `edit` shape the token from the standard claims, and completes with a
    /// callback built from the returned state.
    async fn login(&self, edit: impl FnOnce(&mut TokenSpec)) -> Result<VerifiedLogin, LoginError> {
        self.login_with(LoginRequest::new(Level::Two), edit, |q| q)
            .await
    }

    async fn login_with(
        &self,
        request: LoginRequest,
        edit: impl FnOnce(&mut TokenSpec),
        callback: impl FnOnce(String) -> String,
    ) -> Result<VerifiedLogin, LoginError> {
        let (_, pending) = self.rp.begin(&request).await.unwrap();
        self.mock.with(|s| {
            s.token = TokenSpec {
                header: json!({"alg": "ES256", "kid": "ec-1", "typ": "JWT"}),
                claims: Mock::standard_claims(&pending.nonce),
                signer: Signer::Es256,
            };
            edit(&mut s.token);
        });
        let code = self.mock.with(|s| s.expected_code.clone());
        let query = format!(
            "code={}&state={}&iss={}",
            percent(&code),
            pending.state,
            percent(ISSUER)
        );
        self.rp
            .complete(pending, &Callback::from_query(&callback(query)))
            .await
    }
}

fn percent(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn kind(result: Result<VerifiedLogin, LoginError>) -> LoginErrorKind {
    result.expect_err("the login should fail").kind()
}

fn token_kind(result: Result<VerifiedLogin, LoginError>) -> IdTokenError {
    match kind(result) {
        LoginErrorKind::IdToken(e) => e,
        other => panic!("expected an ID-token failure, got {other:?}"),
    }
}

// --- successful logins ---

#[tokio::test]
async fn level_two_login_with_es256() {
    let h = harness().await;
    let login = h.login(|_| {}).await.unwrap();
    assert_eq!(login.assurance().level(), Some(Level::Two));
    assert_eq!(login.assurance().acr(), Some(LEVEL2));
    assert_eq!(
        login.assurance().amr(),
        ["pwd".to_owned(), "otp".to_owned()]
    );
    assert_eq!(login.subject(), "subject-1");
    assert_eq!(login.assurance().issuer(), ISSUER);
    assert_eq!(
        login.assurance().auth_time(),
        Some(now() - Duration::seconds(30))
    );
}

#[tokio::test]
async fn level_two_login_with_rs256_and_ps256() {
    let h = harness().await;
    for (alg, signer) in [("RS256", Signer::Rs256), ("PS256", Signer::Ps256)] {
        let login = h
            .login(|t| {
                t.header = json!({"alg": alg, "kid": "rsa-1"});
                t.signer = signer;
            })
            .await
            .unwrap();
        assert_eq!(login.assurance().level(), Some(Level::Two), "{alg}");
    }
}

#[tokio::test]
async fn key_bound_to_one_algorithm_is_not_used_with_another() {
    let h = harness().await;
    // ec-1 is published with alg ES256; a token claiming EdDSA under its kid finds no key.
    let result = h.login(|t| t.header = json!({"alg": "EdDSA", "kid": "ec-1"}));
    assert_eq!(token_kind(result.await), IdTokenError::UnknownKey);
}

#[tokio::test]
async fn level_one_login_is_a_success_with_level_one() {
    let h = harness().await;
    let login = h.login(|t| t.claims["acr"] = json!(LEVEL1)).await.unwrap();
    assert_eq!(login.assurance().level(), Some(Level::One));
}

#[tokio::test]
async fn missing_or_unknown_acr_gives_no_level() {
    let h = harness().await;
    let login = h
        .login(|t| {
            t.claims.as_object_mut().unwrap().remove("acr");
        })
        .await
        .unwrap();
    assert_eq!(login.assurance().level(), None);
    let login = h
        .login(|t| t.claims["acr"] = json!("urn:test:loa:9"))
        .await
        .unwrap();
    assert_eq!(login.assurance().level(), None);
    // Keycloak's default "1" is refused by configuration and never maps.
    let login = h.login(|t| t.claims["acr"] = json!("1")).await.unwrap();
    assert_eq!(login.assurance().level(), None);
}

#[tokio::test]
async fn acr_of_the_wrong_type_refuses_the_token() {
    let h = harness().await;
    assert_eq!(
        token_kind(h.login(|t| t.claims["acr"] = json!(2)).await),
        IdTokenError::Malformed
    );
}

// --- signature and header attacks ---

#[tokio::test]
async fn alg_none_is_refused() {
    let h = harness().await;
    let result = h.login(|t| {
        t.header = json!({"alg": "none"});
        t.signer = Signer::Unsigned;
    });
    assert_eq!(token_kind(result.await), IdTokenError::DisallowedAlgorithm);
}

#[tokio::test]
async fn hmac_keyed_with_the_public_key_is_refused() {
    let h = harness().await;
    let result = h.login(|t| {
        t.header = json!({"alg": "HS256", "kid": "rsa-1"});
        t.signer = Signer::Hmac;
    });
    assert_eq!(token_kind(result.await), IdTokenError::DisallowedAlgorithm);
}

#[tokio::test]
async fn corrupted_signature_is_refused() {
    let h = harness().await;
    assert_eq!(
        token_kind(h.login(|t| t.signer = Signer::Corrupt).await),
        IdTokenError::BadSignature
    );
}

#[tokio::test]
async fn der_encoded_ecdsa_signature_is_refused() {
    let h = harness().await;
    assert_eq!(
        token_kind(h.login(|t| t.signer = Signer::DerEs256).await),
        IdTokenError::BadSignature
    );
}

#[tokio::test]
async fn wrong_key_under_a_known_kid_is_refused() {
    let h = harness().await;
    assert_eq!(
        token_kind(h.login(|t| t.signer = Signer::Attacker).await),
        IdTokenError::BadSignature
    );
}

#[tokio::test]
async fn embedded_jwk_jku_and_x5u_headers_are_never_used() {
    let h = harness().await;
    let attacker_jwk = Keys::ec_jwk(&h.mock.keys.attacker, "evil");
    for header in [
        json!({"alg": "ES256", "kid": "evil", "jwk": attacker_jwk}),
        json!({"alg": "ES256", "kid": "evil", "jku": "https://evil.example/jwks"}),
        json!({"alg": "ES256", "kid": "evil", "x5u": "https://evil.example/cert"}),
    ] {
        let result = h.login(|t| {
            t.header = header.clone();
            t.signer = Signer::Attacker;
        });
        assert_eq!(
            token_kind(result.await),
            IdTokenError::UnknownKey,
            "{header}"
        );
    }
    // Nothing was fetched from the attacker's addresses.
    assert!(
        h.mock
            .with(|s| s.requests.iter().all(|r| !r.1.contains("evil")))
    );
}

#[tokio::test]
async fn unknown_crit_header_is_refused() {
    let h = harness().await;
    let result =
        h.login(|t| t.header = json!({"alg": "ES256", "kid": "ec-1", "crit": ["exp"], "exp": 1}));
    assert_eq!(token_kind(result.await), IdTokenError::UnsupportedHeader);
}

#[tokio::test]
async fn weak_rsa_key_is_refused() {
    let mock = Mock::new();
    let weak: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/keys/rsa1024.jwk.json"
        ))
        .unwrap(),
    )
    .unwrap();
    mock.with(|s| s.jwks = json!({"keys": [weak]}));
    let h = harness_with(mock, config()).await;
    let result = h.login(|t| {
        t.header = json!({"alg": "RS256", "kid": "weak-1024"});
        t.signer = Signer::Rs256;
    });
    assert_eq!(token_kind(result.await), IdTokenError::UnknownKey);
}

#[tokio::test]
async fn unknown_kid_refreshes_the_key_set_once_within_the_interval() {
    let h = harness().await;
    assert_eq!(h.mock.with(|s| s.jwks_fetches), 1);
    // The provider rotates to a new key: the first token with its kid triggers one refresh.
    let new_jwk = Keys::ec_jwk(&h.mock.keys.attacker, "ec-2");
    h.mock.with(|s| s.jwks = json!({"keys": [new_jwk]}));
    h.clock.advance(Duration::seconds(31));
    let login = h
        .login(|t| {
            t.header = json!({"alg": "ES256", "kid": "ec-2"});
            t.signer = Signer::Attacker;
        })
        .await;
    assert!(login.is_ok(), "rotated key accepted after refresh");
    assert_eq!(h.mock.with(|s| s.jwks_fetches), 2);
    // A flood of made-up kids within the interval causes no further fetches.
    for i in 0..20 {
        let result = h.login(|t| t.header = json!({"alg": "ES256", "kid": format!("bogus-{i}")}));
        assert_eq!(token_kind(result.await), IdTokenError::UnknownKey);
    }
    assert_eq!(h.mock.with(|s| s.jwks_fetches), 2);
}

#[tokio::test]
async fn cached_keys_keep_verifying_while_the_key_endpoint_is_down() {
    let h = harness().await;
    h.mock.with(|s| s.jwks_down = true);
    h.clock.advance(Duration::minutes(5));
    // An unknown kid triggers a refresh that fails; the cache is kept...
    let result = h.login(|t| t.header = json!({"alg": "ES256", "kid": "rotated"}));
    assert_eq!(token_kind(result.await), IdTokenError::UnknownKey);
    assert_eq!(h.mock.with(|s| s.jwks_fetches), 2);
    // ...so tokens signed with the cached key still verify.
    assert_eq!(
        h.login(|_| {}).await.unwrap().assurance().level(),
        Some(Level::Two)
    );
}

#[tokio::test]
async fn oversized_token_is_refused_before_parsing() {
    let h = harness().await;
    let result = h.login(|t| t.claims["padding"] = json!("x".repeat(MAX_ID_TOKEN_BYTES)));
    assert_eq!(token_kind(result.await), IdTokenError::TooLarge);
}

// --- claim attacks ---

#[tokio::test]
async fn wrong_issuer_is_refused() {
    let h = harness().await;
    let result = h.login(|t| t.claims["iss"] = json!("https://evil.example"));
    assert_eq!(token_kind(result.await), IdTokenError::WrongIssuer);
}

#[tokio::test]
async fn wrong_or_extra_audience_is_refused() {
    let h = harness().await;
    assert_eq!(
        token_kind(h.login(|t| t.claims["aud"] = json!("other-client")).await),
        IdTokenError::WrongAudience
    );
    assert_eq!(
        token_kind(
            h.login(|t| t.claims["aud"] = json!([CLIENT, "other-client"]))
                .await
        ),
        IdTokenError::WrongAudience
    );
}

#[tokio::test]
async fn foreign_authorized_party_is_refused() {
    let h = harness().await;
    assert_eq!(
        token_kind(h.login(|t| t.claims["azp"] = json!("other-client")).await),
        IdTokenError::WrongAuthorizedParty
    );
    assert!(h.login(|t| t.claims["azp"] = json!(CLIENT)).await.is_ok());
}

#[tokio::test]
async fn expiry_is_checked_with_the_allowed_skew() {
    let h = harness().await;
    let past = now().timestamp() - 61;
    assert_eq!(
        token_kind(h.login(|t| t.claims["exp"] = json!(past)).await),
        IdTokenError::Expired
    );
    let within_skew = now().timestamp() - 30;
    assert!(
        h.login(|t| t.claims["exp"] = json!(within_skew))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn issued_in_the_future_is_refused() {
    let h = harness().await;
    let future = now().timestamp() + 600;
    assert_eq!(
        token_kind(h.login(|t| t.claims["iat"] = json!(future)).await),
        IdTokenError::IssuedInFuture
    );
}

#[tokio::test]
async fn not_yet_valid_is_refused_beyond_the_allowed_skew() {
    let h = harness().await;
    let later = now().timestamp() + 600;
    assert_eq!(
        token_kind(h.login(|t| t.claims["nbf"] = json!(later)).await),
        IdTokenError::NotYetValid
    );
    let within_skew = now().timestamp() + 30;
    assert!(
        h.login(|t| t.claims["nbf"] = json!(within_skew))
            .await
            .is_ok()
    );
    let fractional_past = now().timestamp() as f64 - 0.5;
    assert!(
        h.login(|t| t.claims["nbf"] = json!(fractional_past))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn time_claims_of_the_wrong_type_refuse_the_token() {
    let h = harness().await;
    let later = (now().timestamp() + 600).to_string();
    let result = h.login(|t| t.claims["nbf"] = json!(later.clone()));
    assert_eq!(token_kind(result.await), IdTokenError::Malformed);
    let result = h.login(|t| t.claims["exp"] = json!(later.clone()));
    assert_eq!(token_kind(result.await), IdTokenError::Malformed);
    let result = h.login(|t| t.claims["iat"] = json!(null));
    assert_eq!(token_kind(result.await), IdTokenError::Malformed);
}

#[tokio::test]
async fn an_empty_overlong_or_non_ascii_subject_is_refused() {
    let h = harness().await;
    for subject in [String::new(), "a".repeat(256), "công-dân-1".to_owned()] {
        assert_eq!(
            token_kind(h.login(|t| t.claims["sub"] = json!(subject.clone())).await),
            IdTokenError::InvalidSubject,
            "sub of {} bytes",
            subject.len()
        );
    }
    assert!(
        h.login(|t| t.claims["sub"] = json!("a".repeat(255)))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn an_access_token_passed_off_as_an_id_token_is_refused() {
    // RFC 9068 §4 / RFC 8725 §3.11: a JWT access token (`typ: at+jwt`) signed by the same
    // provider must never be taken for an ID token.
    let h = harness().await;
    let result = h.login(|t| t.header["typ"] = json!("at+jwt"));
    assert_eq!(token_kind(result.await), IdTokenError::UnsupportedHeader);
}

#[tokio::test]
async fn missing_or_wrong_nonce_is_refused() {
    let h = harness().await;
    let result = h.login(|t| {
        t.claims.as_object_mut().unwrap().remove("nonce");
    });
    assert_eq!(token_kind(result.await), IdTokenError::NonceMismatch);
    let result = h.login(|t| t.claims["nonce"] = json!("another-nonce"));
    assert_eq!(token_kind(result.await), IdTokenError::NonceMismatch);
}

#[tokio::test]
async fn max_age_requires_a_fresh_auth_time() {
    let h = harness().await;
    let request = || LoginRequest::new(Level::Two).max_age(Duration::minutes(5));
    let result = h.login_with(
        request(),
        |t| {
            t.claims.as_object_mut().unwrap().remove("auth_time");
        },
        |q| q,
    );
    assert_eq!(token_kind(result.await), IdTokenError::MissingAuthTime);
    let stale = now().timestamp() - 3600;
    let result = h.login_with(request(), |t| t.claims["auth_time"] = json!(stale), |q| q);
    assert_eq!(token_kind(result.await), IdTokenError::AuthenticationTooOld);
    assert!(h.login_with(request(), |_| {}, |q| q).await.is_ok());
}

// --- flow attacks and provider outcomes ---

#[tokio::test]
async fn state_mismatch_is_refused() {
    let h = harness().await;
    let result = h.login_with(
        LoginRequest::new(Level::Two),
        |_| {},
        |q| q.replace("state=", "state=x"),
    );
    assert_eq!(kind(result.await), LoginErrorKind::StateMismatch);
    let result = h.login_with(
        LoginRequest::new(Level::Two),
        |_| {},
        |_| "code=code-1".to_owned(),
    );
    assert_eq!(kind(result.await), LoginErrorKind::StateMismatch);
}

#[tokio::test]
async fn mix_up_with_another_issuer_is_refused() {
    let h = harness().await;
    let result = h.login_with(
        LoginRequest::new(Level::Two),
        |_| {},
        |q| q.replace(&percent(ISSUER), &percent("https://other-idp.example")),
    );
    assert_eq!(kind(result.await), LoginErrorKind::IssuerMismatch);
    let result = h.login_with(
        LoginRequest::new(Level::Two),
        |_| {},
        |q| {
            q.split('&')
                .filter(|p| !p.starts_with("iss="))
                .collect::<Vec<_>>()
                .join("&")
        },
    );
    assert_eq!(kind(result.await), LoginErrorKind::MissingIssuer);
}

#[tokio::test]
async fn duplicated_parameters_make_the_callback_malformed() {
    let h = harness().await;
    let result = h.login_with(
        LoginRequest::new(Level::Two),
        |_| {},
        |q| format!("{q}&code=other"),
    );
    assert_eq!(kind(result.await), LoginErrorKind::MalformedCallback);
}

#[tokio::test]
async fn provider_error_codes_become_typed_outcomes() {
    let h = harness().await;
    for (code, expected) in [
        ("access_denied", LoginErrorKind::Cancelled),
        (
            "unmet_authentication_requirements",
            LoginErrorKind::LevelUnreachable,
        ),
        ("login_required", LoginErrorKind::InteractionRequired),
        ("interaction_required", LoginErrorKind::InteractionRequired),
        (
            "temporarily_unavailable",
            LoginErrorKind::ProviderUnavailable,
        ),
        ("server_error", LoginErrorKind::ProviderUnavailable),
        ("invalid_scope", LoginErrorKind::ProviderError),
    ] {
        let result = h
            .login_with(
                LoginRequest::new(Level::Two),
                |_| {},
                |q| q.replace("code=code-1", &format!("error={code}&error_description=x")),
            )
            .await;
        let err = result.expect_err(code);
        assert_eq!(err.kind(), expected, "{code}");
        assert_eq!(err.provider_error(), Some(code));
    }
}

#[tokio::test]
async fn replayed_or_wrong_code_is_refused_by_the_token_endpoint() {
    let h = harness().await;
    let result = h.login_with(
        LoginRequest::new(Level::Two),
        |_| {},
        |q| q.replace("code=code-1", "code=code-2"),
    );
    let err = result.await.unwrap_err();
    assert_eq!(err.kind(), LoginErrorKind::CodeRejected);
    assert_eq!(err.provider_error(), Some("invalid_grant"));
}

#[tokio::test]
async fn codes_containing_plus_survive_the_callback() {
    let h = harness().await;
    h.mock.with(|s| s.expected_code = "ab+c/d==".into());
    let result = h.login_with(
        LoginRequest::new(Level::Two),
        |_| {},
        |q| q.replace("ab%2Bc%2Fd%3D%3D", "ab+c/d=="),
    );
    assert!(result.await.is_ok());
}

#[tokio::test]
async fn token_endpoint_failures_are_classified() {
    let h = harness().await;
    h.mock.with(|s| {
        s.token_status = 503;
        s.token_body = Some("down".into());
    });
    assert_eq!(
        kind(h.login(|_| {}).await),
        LoginErrorKind::ProviderUnavailable
    );
    h.mock.with(|s| {
        s.token_status = 200;
        s.token_body = Some("{not json".into());
    });
    assert_eq!(kind(h.login(|_| {}).await), LoginErrorKind::TokenEndpoint);
    h.mock.with(|s| {
        s.token_body = Some(json!({"access_token": "a", "token_type": "Bearer"}).to_string())
    });
    assert_eq!(kind(h.login(|_| {}).await), LoginErrorKind::MissingIdToken);
    h.mock.with(|s| {
        s.token_body =
            Some(json!({"access_token": "a", "token_type": "mac", "id_token": "x"}).to_string())
    });
    assert_eq!(kind(h.login(|_| {}).await), LoginErrorKind::TokenEndpoint);
}

#[tokio::test]
async fn expired_pending_login_is_refused() {
    let h = harness().await;
    let (_, pending) = h.rp.begin(&LoginRequest::new(Level::Two)).await.unwrap();
    h.clock.advance(LOGIN_TIMEOUT + Duration::seconds(1));
    let query = format!(
        "code=code-1&state={}&iss={}",
        pending.state,
        percent(ISSUER)
    );
    let err =
        h.rp.complete(pending, &Callback::from_query(&query))
            .await
            .unwrap_err();
    assert_eq!(err.kind(), LoginErrorKind::Expired);
}

#[tokio::test]
async fn userinfo_level_requires_a_matching_subject() {
    let h = harness_with(Mock::new(), config().level_source(LevelSource::vneid())).await;
    let login = h.login(|_| {}).await.unwrap();
    assert_eq!(login.assurance().level(), Some(Level::Two));
    assert_eq!(
        login.assurance().source(),
        crate::assurance::SourceKind::UserinfoClaim
    );
    h.mock
        .with(|s| s.userinfo = json!({"sub": "someone-else", "accountLevel": 2}));
    assert_eq!(kind(h.login(|_| {}).await), LoginErrorKind::SubjectMismatch);
    h.mock
        .with(|s| s.userinfo = json!({"sub": "subject-1", "accountLevel": 1}));
    assert_eq!(
        h.login(|_| {}).await.unwrap().assurance().level(),
        Some(Level::One)
    );
}

// --- begin ---

fn query_of(url: &Url) -> std::collections::HashMap<String, String> {
    url.query_pairs().into_owned().collect()
}

#[tokio::test]
async fn begin_requests_the_level_every_supported_way() {
    let h = harness().await;
    let (url, pending) =
        h.rp.begin(&LoginRequest::new(Level::Two).max_age(Duration::minutes(15)))
            .await
            .unwrap();
    let q = query_of(&url);
    assert_eq!(url.path(), "/authorize");
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], CLIENT);
    assert_eq!(q["redirect_uri"], REDIRECT);
    assert_eq!(q["scope"], "openid");
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["acr_values"], LEVEL2);
    assert_eq!(q["max_age"], "900");
    assert_eq!(q["ui_locales"], "vi");
    assert_eq!(q["state"], pending.state);
    assert_eq!(q["nonce"], pending.nonce);
    let challenge = b64(ring::digest::digest(
        &ring::digest::SHA256,
        pending.code_verifier.as_bytes(),
    ));
    assert_eq!(q["code_challenge"], challenge);
    let claims: Value = serde_json::from_str(&q["claims"]).unwrap();
    assert_eq!(
        claims,
        json!({"id_token": {"acr": {"essential": true, "values": [LEVEL2]}, "auth_time": {"essential": true}}})
    );
    assert!(
        pending.state.len() >= 43 && pending.nonce.len() >= 43 && pending.code_verifier.len() >= 43
    );
}

#[tokio::test]
async fn begin_omits_claims_when_the_provider_does_not_support_them() {
    let mock = Mock::new();
    mock.with(|s| s.metadata["claims_parameter_supported"] = json!(false));
    let h = harness_with(mock, config()).await;
    let (url, _) = h.rp.begin(&LoginRequest::new(Level::Two)).await.unwrap();
    let q = query_of(&url);
    assert!(!q.contains_key("claims"));
    assert_eq!(q["acr_values"], LEVEL2);
}

#[tokio::test]
async fn begin_pushes_the_request_when_par_is_advertised() {
    let mock = Mock::new();
    mock.with(|s| {
        s.metadata["pushed_authorization_request_endpoint"] = json!(format!("{ISSUER}/par"))
    });
    let h = harness_with(mock, config()).await;
    let (url, _) = h.rp.begin(&LoginRequest::new(Level::Two)).await.unwrap();
    let q = query_of(&url);
    assert_eq!(q.len(), 2);
    assert_eq!(q["client_id"], CLIENT);
    assert_eq!(q["request_uri"], "urn:ietf:params:oauth:request_uri:abc");
    let pushed = h
        .mock
        .with(|s| s.requests.iter().find(|r| r.1.ends_with("/par")).cloned())
        .unwrap();
    assert!(
        pushed.3.contains("acr_values=urn%3Atest%3Aloa%3A2"),
        "{}",
        pushed.3
    );
    assert!(pushed.2.unwrap().starts_with("Basic "));
}

#[tokio::test]
async fn client_secret_basic_encodes_credentials_per_rfc6749() {
    let h = harness().await;
    h.login(|_| {}).await.unwrap();
    let token = h
        .mock
        .with(|s| s.requests.iter().find(|r| r.1.ends_with("/token")).cloned())
        .unwrap();
    let expected = format!("Basic {}", STANDARD.encode("ward-portal:s3cret%3A%2F%2B"));
    assert_eq!(token.2.as_deref(), Some(expected.as_str()));
    assert!(!token.3.contains("client_secret"));
    assert!(token.3.contains("code_verifier="));
}

#[tokio::test]
async fn client_secret_post_is_used_when_it_is_all_the_provider_supports() {
    let mock = Mock::new();
    mock.with(|s| {
        s.metadata["token_endpoint_auth_methods_supported"] = json!(["client_secret_post"])
    });
    let h = harness_with(mock, config()).await;
    h.login(|_| {}).await.unwrap();
    let token = h
        .mock
        .with(|s| s.requests.iter().find(|r| r.1.ends_with("/token")).cloned())
        .unwrap();
    assert_eq!(token.2, None);
    assert!(
        token.3.contains("client_secret=s3cret%3A%2F%2B"),
        "{}",
        token.3
    );
}

// --- discovery ---

async fn discover_with(edit: impl FnOnce(&mut State), issuer: &str) -> DiscoveryError {
    let mock = Mock::new();
    mock.with(edit);
    RelyingParty::discover(
        issuer,
        config(),
        mock.http(),
        Arc::new(FixedClock::new(now())),
        Arc::new(SystemRandom::new()),
    )
    .await
    .unwrap_err()
}

#[tokio::test]
async fn discovery_requires_the_exact_issuer() {
    let err = discover_with(
        |s| s.metadata["issuer"] = json!(format!("{ISSUER}/")),
        ISSUER,
    )
    .await;
    assert!(
        matches!(err, DiscoveryError::IssuerMismatch { .. }),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "the discovery document names issuer `https://idp.example/`, expected exactly `https://idp.example`"
    );
}

#[tokio::test]
async fn discovery_refuses_plain_http_outside_loopback() {
    let err = discover_with(|_| {}, "http://idp.example").await;
    assert!(
        matches!(err, DiscoveryError::InsecureIssuer { .. }),
        "{err}"
    );
    let err = discover_with(
        |s| s.metadata["token_endpoint"] = json!("http://idp.example/token"),
        ISSUER,
    )
    .await;
    assert!(
        matches!(
            err,
            DiscoveryError::BadEndpoint {
                field: "token_endpoint",
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn discovery_requires_pkce_s256_and_a_usable_client_authentication() {
    let err = discover_with(
        |s| s.metadata["code_challenge_methods_supported"] = json!(["plain"]),
        ISSUER,
    )
    .await;
    assert!(
        matches!(
            err,
            DiscoveryError::Unsupported {
                what: "PKCE with S256"
            }
        ),
        "{err}"
    );
    let err = discover_with(
        |s| s.metadata["token_endpoint_auth_methods_supported"] = json!(["private_key_jwt"]),
        ISSUER,
    )
    .await;
    assert!(matches!(err, DiscoveryError::Unsupported { .. }), "{err}");
}

// --- redaction ---

#[tokio::test]
async fn secrets_and_personal_data_are_redacted_in_debug_output() {
    let h = harness().await;
    let (_, pending) = h.rp.begin(&LoginRequest::new(Level::Two)).await.unwrap();
    let debug = format!("{pending:?}");
    assert!(
        !debug.contains(&pending.state)
            && !debug.contains(&pending.nonce)
            && !debug.contains(&pending.code_verifier)
    );
    let login = h.login(|_| {}).await.unwrap();
    let debug = format!("{login:?}");
    assert!(!debug.contains("subject-1"), "{debug}");
    let debug = format!("{:?}", config());
    assert!(
        !debug.contains("s3cret") && debug.contains("[redacted]"),
        "{debug}"
    );
    let callback = Callback::from_query("code=secret-code&state=secret-state");
    assert_eq!(
        format!("{callback:?}"),
        r#"Callback { params: ["code", "state"] }"#
    );
}

// --- provider profiles ---

/// A decryptor for tests: `data` is the plain body in standard base64, `key` must be `k`.
#[derive(Debug)]
struct Base64Decryptor;

impl EnvelopeDecryptor for Base64Decryptor {
    fn open(&self, part: EnvelopePart, body: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
        let envelope: Value =
            serde_json::from_slice(body).map_err(|_| EnvelopeError::Malformed { part })?;
        if envelope["key"] != "k" {
            return Err(EnvelopeError::Decryption { part });
        }
        envelope["data"]
            .as_str()
            .and_then(|data| STANDARD.decode(data).ok())
            .ok_or(EnvelopeError::Malformed { part })
    }
}

fn envelope(body: &Value, key: &str) -> Value {
    json!({"data": STANDARD.encode(body.to_string()), "key": key})
}

/// A token response without ID token, as VNeID direct sends it.
fn userinfo_only_tokens() -> String {
    json!({"access_token": "at-1", "token_type": "Bearer", "expires_in": 600}).to_string()
}

fn vneid_config() -> ClientConfig {
    ClientConfig::new(CLIENT, Url::parse(REDIRECT).unwrap())
        .client_secret("s3cret")
        .profile(ProviderProfile::VneidDirect)
}

async fn vneid_harness(userinfo: Value) -> Harness {
    let h = harness_with(Mock::new(), vneid_config()).await;
    h.mock.with(|s| {
        s.token_body = Some(userinfo_only_tokens());
        s.userinfo = userinfo;
    });
    h
}

#[test]
fn profile_names_round_trip_and_unknown_names_list_the_valid_ones() {
    for profile in ProviderProfile::ALL {
        assert_eq!(profile.as_str().parse::<ProviderProfile>(), Ok(profile));
        assert_eq!(profile.to_string(), profile.as_str());
        let json = serde_json::to_value(profile).unwrap();
        assert_eq!(json, json!(profile.as_str()));
        assert_eq!(
            serde_json::from_value::<ProviderProfile>(json).unwrap(),
            profile
        );
    }
    assert_eq!(ProviderProfile::default(), ProviderProfile::Standard);
    let err = "VNeID".parse::<ProviderProfile>().unwrap_err();
    assert_eq!(err.value(), "VNeID");
    assert_eq!(
        err.to_string(),
        "unknown provider profile `VNeID`: expected one of standard, npsp, vneid-direct, \
         keycloak-broker"
    );
    let err = serde_json::from_value::<ProviderProfile>(json!("vneid_direct")).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("unknown provider profile `vneid_direct`"),
        "{err}"
    );
    // An overlong value is cut in the error.
    let err = "x".repeat(500).parse::<ProviderProfile>().unwrap_err();
    assert_eq!(err.value().len(), 64);
}

#[test]
fn profiles_have_their_documented_defaults() {
    use crate::assurance::ReturnedClaims;

    assert_eq!(
        ProviderProfile::Standard.default_level_source(),
        LevelSource::vneid()
    );
    assert_eq!(
        ProviderProfile::VneidDirect.default_level_source(),
        LevelSource::vneid()
    );
    let npsp = ProviderProfile::Npsp.default_level_source();
    for (value, level) in [
        (json!("2"), Some(Level::Two)),
        (json!(2), Some(Level::Two)),
        (json!("1"), Some(Level::One)),
        (json!("3"), None),
    ] {
        let userinfo = json!({ NPSP_LEVEL_CLAIM: value, "LoaiTaiKhoan": "2" });
        assert_eq!(
            npsp.level(ReturnedClaims::new(None, userinfo.as_object())),
            level
        );
    }
    // The account type is never read as the level.
    let userinfo = json!({"LoaiTaiKhoan": "2"});
    assert_eq!(
        npsp.level(ReturnedClaims::new(None, userinfo.as_object())),
        None
    );

    let keycloak = ProviderProfile::KeycloakBroker.default_level_source();
    let token = json!({"acr": "1", KEYCLOAK_LEVEL_CLAIM: "2"});
    assert_eq!(
        keycloak.level(ReturnedClaims::new(token.as_object(), None)),
        Some(Level::Two)
    );
    let token = json!({"acr": "1"});
    assert_eq!(
        keycloak.level(ReturnedClaims::new(token.as_object(), None)),
        None
    );

    for profile in ProviderProfile::ALL {
        let expected = if profile == ProviderProfile::VneidDirect {
            IdTokenExpectation::Absent
        } else {
            IdTokenExpectation::Required
        };
        assert_eq!(profile.id_token(), expected, "{profile}");
    }
    assert_eq!(
        ProviderProfile::Npsp.requested_acr(),
        Some(AcrTable::new(["LoA1"], ["LoA2"]).unwrap())
    );
}

#[test]
fn later_builder_calls_override_the_profile() {
    let config = ClientConfig::new(CLIENT, Url::parse(REDIRECT).unwrap())
        .profile(ProviderProfile::VneidDirect)
        .level_source(LevelSource::eidas())
        .subject_claim(Some("sub".to_owned()))
        .id_token_expectation(IdTokenExpectation::Required);
    assert_eq!(config.provider_profile(), ProviderProfile::VneidDirect);
    assert_eq!(config.assurance_source(), &LevelSource::eidas());
    assert_eq!(config.userinfo_subject_claim(), Some("sub"));
    assert_eq!(config.id_token_expected(), IdTokenExpectation::Required);
    // The profile overwrites what came before it.
    let config = ClientConfig::new(CLIENT, Url::parse(REDIRECT).unwrap())
        .level_source(LevelSource::eidas())
        .profile(ProviderProfile::Npsp);
    assert_eq!(
        config.assurance_source(),
        &ProviderProfile::Npsp.default_level_source()
    );
    assert!(!config.has_envelope_decryptor());
}

#[tokio::test]
async fn userinfo_only_login_takes_subject_and_level_from_userinfo() {
    let h = vneid_harness(json!({"citizenPid": "000187004821", "accountLevel": "2"})).await;
    let login = h.login(|_| {}).await.unwrap();
    assert_eq!(login.subject(), "000187004821");
    assert_eq!(login.profile(), ProviderProfile::VneidDirect);
    let assurance = login.assurance();
    assert_eq!(assurance.level(), Some(Level::Two));
    assert_eq!(
        assurance.source(),
        crate::assurance::SourceKind::UserinfoClaim
    );
    assert!(!assurance.has_signed_id_token());
    // No provider-stated time: the start of the login, by the injected clock.
    assert_eq!(assurance.auth_time(), Some(now()));
    assert_eq!(assurance.acr(), None);
    let debug = format!("{login:?}");
    assert!(!debug.contains("000187004821"), "{debug}");
}

#[tokio::test]
async fn userinfo_only_login_without_the_subject_claim_is_refused() {
    for userinfo in [
        json!({"accountLevel": 2}),
        json!({"citizenPid": "", "accountLevel": 2}),
        json!({"citizenPid": ["000187004821"], "accountLevel": 2}),
        json!({"sub": "subject-1", "accountLevel": 2}),
    ] {
        let h = vneid_harness(userinfo.clone()).await;
        assert_eq!(
            kind(h.login(|_| {}).await),
            LoginErrorKind::MissingSubject,
            "{userinfo}"
        );
    }
}

#[tokio::test]
async fn an_id_token_that_does_arrive_is_verified_even_when_none_is_expected() {
    let h = harness_with(Mock::new(), vneid_config()).await;
    h.mock
        .with(|s| s.userinfo = json!({"sub": "subject-1", "accountLevel": 2}));
    let login = h.login(|_| {}).await.unwrap();
    assert!(login.assurance().has_signed_id_token());
    assert_eq!(login.subject(), "subject-1");
    assert_eq!(login.assurance().level(), Some(Level::Two));
    // A forged one is refused, not ignored.
    assert_eq!(
        token_kind(h.login(|t| t.signer = Signer::Attacker).await),
        IdTokenError::BadSignature
    );
    // With an ID token, userinfo must carry its sub.
    h.mock
        .with(|s| s.userinfo = json!({"citizenPid": "000187004821", "accountLevel": 2}));
    assert_eq!(kind(h.login(|_| {}).await), LoginErrorKind::SubjectMismatch);
}

#[tokio::test]
async fn profiles_that_require_an_id_token_refuse_a_login_without_one() {
    for profile in [
        ProviderProfile::Standard,
        ProviderProfile::Npsp,
        ProviderProfile::KeycloakBroker,
    ] {
        let h = harness_with(Mock::new(), config().profile(profile)).await;
        h.mock.with(|s| s.token_body = Some(userinfo_only_tokens()));
        assert_eq!(
            kind(h.login(|_| {}).await),
            LoginErrorKind::MissingIdToken,
            "{profile}"
        );
    }
}

#[tokio::test]
async fn envelopes_are_opened_by_the_decryptor_or_refused() {
    let tokens: Value = serde_json::from_str(&userinfo_only_tokens()).unwrap();
    let userinfo = json!({"citizenPid": "000187004821", "accountLevel": 1});

    // No decryptor: the exact kind, whichever response was sealed.
    let h = vneid_harness(userinfo.clone()).await;
    h.mock
        .with(|s| s.token_body = Some(envelope(&tokens, "k").to_string()));
    assert_eq!(
        kind(h.login(|_| {}).await),
        LoginErrorKind::EnvelopeWithoutDecryptor
    );
    let h = vneid_harness(envelope(&userinfo, "k")).await;
    assert_eq!(
        kind(h.login(|_| {}).await),
        LoginErrorKind::EnvelopeWithoutDecryptor
    );

    // With one: both responses open.
    let h = harness_with(
        Mock::new(),
        vneid_config().envelope_decryptor(Arc::new(Base64Decryptor)),
    )
    .await;
    h.mock.with(|s| {
        s.token_body = Some(envelope(&tokens, "k").to_string());
        s.userinfo = envelope(&userinfo, "k");
    });
    let login = h.login(|_| {}).await.unwrap();
    assert_eq!(login.assurance().level(), Some(Level::One));
    assert_eq!(login.userinfo().unwrap()["citizenPid"], "000187004821");

    // A decryptor failure is the source of an `Envelope` error.
    h.mock.with(|s| s.userinfo = envelope(&userinfo, "wrong"));
    let err = h.login(|_| {}).await.unwrap_err();
    assert_eq!(err.kind(), LoginErrorKind::Envelope);
    let source = std::error::Error::source(&err)
        .and_then(|e| e.downcast_ref::<EnvelopeError>())
        .unwrap();
    assert_eq!(
        source.to_string(),
        "the userinfo response envelope could not be decrypted"
    );

    // Plain bodies still pass: an object with other members is not an envelope.
    h.mock.with(|s| {
        s.token_body = Some(userinfo_only_tokens());
        s.userinfo =
            json!({"citizenPid": "000187004821", "accountLevel": 2, "data": "x", "key": "y"});
    });
    assert_eq!(
        h.login(|_| {}).await.unwrap().assurance().level(),
        Some(Level::Two)
    );
}

#[tokio::test]
async fn encrypted_codes_need_a_decryptor_that_supports_them() {
    let add_key = |q: String| format!("{q}&encrypt_key=a%2Bkey");
    let h = vneid_harness(json!({"citizenPid": "000187004821", "accountLevel": 2})).await;
    let err = h
        .login_with(LoginRequest::new(Level::Two), |_| {}, add_key)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), LoginErrorKind::EnvelopeWithoutDecryptor);

    // The trait's default refuses to decrypt codes.
    let h = harness_with(
        Mock::new(),
        vneid_config().envelope_decryptor(Arc::new(Base64Decryptor)),
    )
    .await;
    let err = h
        .login_with(LoginRequest::new(Level::Two), |_| {}, add_key)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), LoginErrorKind::Envelope);
    let source = std::error::Error::source(&err)
        .and_then(|e| e.downcast_ref::<EnvelopeError>())
        .unwrap();
    assert!(matches!(source, EnvelopeError::CodeDecryptionUnsupported));
    assert_eq!(
        source.to_string(),
        "the decryptor does not support encrypted authorization codes"
    );
}

#[tokio::test]
async fn npsp_requests_loa_values_without_reading_the_level_from_acr() {
    let h = harness_with(Mock::new(), config().profile(ProviderProfile::Npsp)).await;
    for (level, values) in [(Level::Two, "LoA2"), (Level::One, "LoA1 LoA2")] {
        let (url, _) = h.rp.begin(&LoginRequest::new(level)).await.unwrap();
        let query = query_of(&url);
        assert_eq!(query.get("acr_values").map(String::as_str), Some(values));
        assert!(!query.contains_key("claims"), "{query:?}");
    }
    // An acr of LoA2 in the ID token does not make level 2: the userinfo field does.
    h.mock
        .with(|s| s.userinfo = json!({"sub": "subject-1", NPSP_LEVEL_CLAIM: "1"}));
    let login = h.login(|t| t.claims["acr"] = json!("LoA2")).await.unwrap();
    assert_eq!(login.assurance().level(), Some(Level::One));
    assert_eq!(login.assurance().acr(), Some("LoA2"));
}

#[test]
fn profile_configuration_debug_shows_no_secret() {
    let config = vneid_config().envelope_decryptor(Arc::new(Base64Decryptor));
    let debug = format!("{config:?}");
    assert!(debug.contains("profile: VneidDirect"), "{debug}");
    assert!(debug.contains("envelope_decryptor: true"), "{debug}");
    assert!(!debug.contains("s3cret"), "{debug}");
    let err = EnvelopeError::Malformed {
        part: EnvelopePart::TokenResponse,
    };
    assert_eq!(err.to_string(), "the token response envelope is malformed");
}

#[test]
fn only_objects_with_exactly_data_and_key_are_envelopes() {
    assert!(envelope::is_envelope(br#"{"data":"a","key":"b"}"#));
    for body in [
        &br#"{"data":"a"}"#[..],
        br#"{"data":"a","key":1}"#,
        br#"{"data":"a","key":"b","access_token":"c"}"#,
        br#"["data","key"]"#,
        b"not json",
    ] {
        assert!(
            !envelope::is_envelope(body),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn identity_attributes_are_read_under_each_profiles_names() {
    let npsp = json!({
        "sub": "s", "HoVaTen": "Nguyễn Thị Thu Hà", "SoDinhDanh": "000187004821",
        "NgayThangNamSinh": "19870314", "LoaiTaiKhoan": "1", NPSP_LEVEL_CLAIM: "2",
    });
    let identity =
        ResidentIdentity::from_userinfo(ProviderProfile::Npsp, npsp.as_object().unwrap());
    assert_eq!(identity.full_name.as_deref(), Some("Nguyễn Thị Thu Hà"));
    assert_eq!(identity.personal_id.as_deref(), Some("000187004821"));
    assert_eq!(
        identity.birth_date,
        chrono::NaiveDate::from_ymd_opt(1987, 3, 14)
    );
    assert_eq!(identity.account_type.as_deref(), Some("1"));
    let debug = format!("{identity:?}");
    assert!(
        !debug.contains("000187004821") && !debug.contains("Nguyễn") && !debug.contains("1987"),
        "{debug}"
    );

    let vneid = json!({
        "citizenPid": "000201007356", "fullName": "Trần Văn Minh", "birthDate": "2001-09-02",
        "accountType": "citizen", "accountLevel": 1,
    });
    let identity =
        ResidentIdentity::from_userinfo(ProviderProfile::VneidDirect, vneid.as_object().unwrap());
    assert_eq!(identity.full_name.as_deref(), Some("Trần Văn Minh"));
    assert_eq!(
        identity.birth_date,
        chrono::NaiveDate::from_ymd_opt(2001, 9, 2)
    );
    assert_eq!(identity.account_type.as_deref(), Some("citizen"));

    // Malformed values are dropped, not guessed.
    let odd = json!({"citizenPid": "12345", "birthDate": "2001-02-30", "name": " "});
    let identity =
        ResidentIdentity::from_userinfo(ProviderProfile::Standard, odd.as_object().unwrap());
    assert_eq!(identity, ResidentIdentity::default());
}

#[tokio::test]
async fn a_login_without_an_id_token_always_asks_for_a_fresh_authentication() {
    // The recorded authentication time is the login's start: true only if the provider
    // authenticates the resident again.
    let h = vneid_harness(json!({"citizenPid": "000187004821", "accountLevel": "2"})).await;
    let (url, _) = h.rp.begin(&LoginRequest::new(Level::Two)).await.unwrap();
    assert_eq!(query_of(&url)["prompt"], "login");
    // A provider with an ID token is asked only when the request says so.
    let h = harness().await;
    let (url, _) = h.rp.begin(&LoginRequest::new(Level::Two)).await.unwrap();
    assert!(!query_of(&url).contains_key("prompt"));
    let (url, _) =
        h.rp.begin(&LoginRequest::new(Level::Two).prompt_login(true))
            .await
            .unwrap();
    assert_eq!(query_of(&url)["prompt"], "login");
}
