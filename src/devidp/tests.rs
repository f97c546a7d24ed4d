use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::TimeZone as _;
use pretty_assertions::assert_eq;
use reqwest::StatusCode;
use reqwest::header::{LOCATION, WWW_AUTHENTICATE};
use ring::signature::{
    ECDSA_P256_SHA256_FIXED, ED25519, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey,
};
use serde_json::Value;
use url::Url;

use super::*;
use crate::clock::FixedClock;

const REDIRECT: &str = "http://127.0.0.1:3000/auth/callback";
const CLIENT: &str = "portal";
const SECRET: &str = "portal-secret";
const PUBLIC_CLIENT: &str = "public-app";
/// A verifier and its S256 challenge, BASE64URL(SHA256(verifier)).
const VERIFIER: &str = "dBjftJeZ4CVP-mJ92K9fQtDZ7TqhvAuhiq9l6-kUs8Q";
const CHALLENGE: &str = "8O3S8dzouAgesAOtw6w5BxNwzTJ9aN7rpBp_0ZaT5MQ";

trait JsonValue {
    async fn json_value(self) -> Value;
}

impl JsonValue for reqwest::Response {
    async fn json_value(self) -> Value {
        serde_json::from_slice(&self.bytes().await.unwrap()).unwrap()
    }
}

fn config() -> DevIdpConfig {
    DevIdpConfig::new()
        .client(CLIENT, Some(SECRET), [REDIRECT])
        .client(PUBLIC_CLIENT, None, [REDIRECT])
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn query(url: &Url) -> HashMap<String, String> {
    url.query_pairs().into_owned().collect()
}

fn location(response: &reqwest::Response) -> Url {
    Url::parse(response.headers()[LOCATION].to_str().unwrap()).unwrap()
}

/// The authorization parameters of a typical level-2 request.
fn params(client: &str) -> Vec<(&'static str, String)> {
    vec![
        ("response_type", "code".to_owned()),
        ("client_id", client.to_owned()),
        ("redirect_uri", REDIRECT.to_owned()),
        ("scope", "openid".to_owned()),
        ("state", "st-123".to_owned()),
        ("nonce", "n-456".to_owned()),
        ("code_challenge", CHALLENGE.to_owned()),
        ("code_challenge_method", "S256".to_owned()),
        ("acr_values", ACR_LEVEL_2.to_owned()),
    ]
}

fn with(
    mut params: Vec<(&'static str, String)>,
    name: &'static str,
    value: &str,
) -> Vec<(&'static str, String)> {
    params.retain(|(n, _)| *n != name);
    params.push((name, value.to_owned()));
    params
}

/// GET /authorize without following redirects; returns the response.
async fn authorize(idp: &DevIdpHandle, params: &[(&'static str, String)]) -> reqwest::Response {
    let mut url = idp.issuer().join("authorize").unwrap();
    url.query_pairs_mut().extend_pairs(params);
    http().get(url).send().await.unwrap()
}

/// POSTs `persona` on the chooser at `interaction` and returns the callback URL.
async fn choose(interaction: &Url, persona: &str) -> Url {
    let response = http()
        .post(interaction.clone())
        .form(&[("persona", persona)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    location(&response)
}

/// Runs authorize → chooser → persona and returns the callback query.
async fn sign_in(
    idp: &DevIdpHandle,
    params: &[(&'static str, String)],
    persona: &str,
) -> HashMap<String, String> {
    let response = authorize(idp, params).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let interaction = location(&response);
    assert!(interaction.path().starts_with("/interaction/"));
    let page = http().get(interaction.clone()).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains(&format!("value=\"{persona}\"")));
    let callback = choose(&interaction, persona).await;
    assert_eq!(&callback.as_str()[..REDIRECT.len()], REDIRECT);
    query(&callback)
}

enum Auth {
    Basic(&'static str, &'static str),
    Post(&'static str, &'static str),
    None(&'static str),
}

async fn exchange(
    idp: &DevIdpHandle,
    auth: &Auth,
    code: &str,
    verifier: &str,
    redirect: &str,
) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect),
        ("code_verifier", verifier),
    ];
    let mut request = http().post(idp.issuer().join("token").unwrap());
    match auth {
        Auth::Basic(id, secret) => request = request.basic_auth(id, Some(secret)),
        Auth::Post(id, secret) => {
            form.push(("client_id", id));
            form.push(("client_secret", secret));
        }
        Auth::None(id) => form.push(("client_id", id)),
    }
    request.form(&form).send().await.unwrap()
}

/// Verifies a compact JWS against the JWKS with ring and returns its claims.
async fn verify_id_token(idp: &DevIdpHandle, token: &str, alg: &str) -> Value {
    let jwks: Value = http()
        .get(idp.issuer().join("jwks").unwrap())
        .send()
        .await
        .unwrap()
        .json_value()
        .await;
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(header["alg"], alg);
    assert_eq!(header["typ"], "JWT");
    let key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|key| key["kid"] == header["kid"])
        .expect("the token's kid is in the jwks");
    assert_eq!(key["alg"], alg);
    assert_eq!(key["use"], "sig");
    let b64 = |name: &str| URL_SAFE_NO_PAD.decode(key[name].as_str().unwrap()).unwrap();
    let message = format!("{}.{}", parts[0], parts[1]);
    let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    match alg {
        "ES256" => {
            assert_eq!(key["kty"], "EC");
            assert_eq!(key["crv"], "P-256");
            let mut point = vec![4u8];
            point.extend(b64("x"));
            point.extend(b64("y"));
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
                .verify(message.as_bytes(), &signature)
                .unwrap();
        }
        "RS256" => {
            assert_eq!(key["kty"], "RSA");
            let components = ring::signature::RsaPublicKeyComponents {
                n: b64("n"),
                e: b64("e"),
            };
            assert_eq!(components.n.len(), 256);
            components
                .verify(&RSA_PKCS1_2048_8192_SHA256, message.as_bytes(), &signature)
                .unwrap();
        }
        "EdDSA" => {
            assert_eq!(key["kty"], "OKP");
            assert_eq!(key["crv"], "Ed25519");
            UnparsedPublicKey::new(&ED25519, b64("x"))
                .verify(message.as_bytes(), &signature)
                .unwrap();
        }
        other => panic!("unexpected alg {other}"),
    }
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap()
}

async fn userinfo(idp: &DevIdpHandle, access_token: &str) -> reqwest::Response {
    http()
        .get(idp.issuer().join("userinfo").unwrap())
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap()
}

async fn error_of(response: reqwest::Response) -> (StatusCode, String, String) {
    let status = response.status();
    let body: Value = response.json_value().await;
    (
        status,
        body["error"].as_str().unwrap().to_owned(),
        body["error_description"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn discovery_advertises_code_flow_pkce_par_and_iss() {
    let idp = DevIdp::start(config()).await.unwrap();
    let issuer = idp.issuer();
    let discovery: Value = http()
        .get(issuer.join(".well-known/openid-configuration").unwrap())
        .send()
        .await
        .unwrap()
        .json_value()
        .await;
    let base = issuer.as_str();
    assert_eq!(discovery["issuer"], base);
    assert_eq!(
        discovery["authorization_endpoint"],
        format!("{base}authorize")
    );
    assert_eq!(discovery["token_endpoint"], format!("{base}token"));
    assert_eq!(discovery["userinfo_endpoint"], format!("{base}userinfo"));
    assert_eq!(discovery["jwks_uri"], format!("{base}jwks"));
    assert_eq!(
        discovery["pushed_authorization_request_endpoint"],
        format!("{base}par")
    );
    assert_eq!(
        discovery["response_types_supported"],
        serde_json::json!(["code"])
    );
    assert_eq!(
        discovery["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(
        discovery["id_token_signing_alg_values_supported"],
        serde_json::json!(["ES256"])
    );
    assert_eq!(
        discovery["token_endpoint_auth_methods_supported"],
        serde_json::json!(["client_secret_basic", "client_secret_post", "none"])
    );
    assert_eq!(
        discovery["acr_values_supported"],
        serde_json::json!([ACR_LEVEL_1, ACR_LEVEL_2])
    );
    assert_eq!(discovery["claims_parameter_supported"], true);
    assert_eq!(
        discovery["authorization_response_iss_parameter_supported"],
        true
    );
    assert_eq!(
        discovery["ui_locales_supported"],
        serde_json::json!(["vi", "en"])
    );
    assert_eq!(
        discovery["grant_types_supported"],
        serde_json::json!(["authorization_code"])
    );
    assert!(discovery["subject_types_supported"].is_array());
    assert!(
        discovery["claims_supported"]
            .as_array()
            .unwrap()
            .contains(&"accountLevel".into())
    );
    idp.shutdown().await.unwrap();
}

#[tokio::test]
async fn discovery_omits_par_when_disabled_and_par_endpoint_is_gone() {
    let idp = DevIdp::start(config().pushed_authorization_requests(false))
        .await
        .unwrap();
    let discovery: Value = http()
        .get(
            idp.issuer()
                .join(".well-known/openid-configuration")
                .unwrap(),
        )
        .send()
        .await
        .unwrap()
        .json_value()
        .await;
    assert!(
        discovery
            .get("pushed_authorization_request_endpoint")
            .is_none()
    );
    let response = http()
        .post(idp.issuer().join("par").unwrap())
        .form(&[("client_id", CLIENT)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

/// The whole code flow for one algorithm and client-authentication method.
async fn level2_code_flow(algorithm: SigningAlgorithm, auth: Auth) {
    let idp = DevIdp::start(config().signing_algorithm(algorithm))
        .await
        .unwrap();
    let client = match auth {
        Auth::Basic(id, _) | Auth::Post(id, _) | Auth::None(id) => id,
    };
    let callback = sign_in(&idp, &params(client), "level2").await;
    assert_eq!(callback["state"], "st-123");
    assert_eq!(callback["iss"], idp.issuer().as_str());
    assert!(!callback.contains_key("error"));

    let response = exchange(&idp, &auth, &callback["code"], VERIFIER, REDIRECT).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let tokens: Value = response.json_value().await;
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 600);
    let claims = verify_id_token(
        &idp,
        tokens["id_token"].as_str().unwrap(),
        algorithm.as_str(),
    )
    .await;
    assert_eq!(claims["iss"], idp.issuer().as_str());
    assert_eq!(claims["aud"], client);
    assert_eq!(claims["azp"], client);
    assert_eq!(claims["sub"], "devidp-p2-7f3a91c4e0b25d68");
    assert_eq!(claims["nonce"], "n-456");
    assert_eq!(claims["acr"], ACR_LEVEL_2);
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp"]));
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        600
    );
    assert!(claims["auth_time"].as_i64().unwrap() <= claims["iat"].as_i64().unwrap());

    let response = userinfo(&idp, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let info: Value = response.json_value().await;
    assert_eq!(
        info,
        serde_json::json!({
            "sub": "devidp-p2-7f3a91c4e0b25d68",
            "name": "Nguyễn Thị Thu Hà",
            "fullName": "Nguyễn Thị Thu Hà",
            "citizenPid": "000187004821",
            "birthDate": "1987-03-14",
            "accountLevel": 2,
        })
    );
    idp.shutdown().await.unwrap();
}

#[tokio::test]
async fn level2_code_flow_es256_with_client_secret_basic() {
    level2_code_flow(SigningAlgorithm::Es256, Auth::Basic(CLIENT, SECRET)).await;
}

#[tokio::test]
async fn level2_code_flow_rs256_with_client_secret_post() {
    level2_code_flow(SigningAlgorithm::Rs256, Auth::Post(CLIENT, SECRET)).await;
}

#[tokio::test]
async fn level2_code_flow_eddsa_with_public_client() {
    level2_code_flow(SigningAlgorithm::EdDsa, Auth::None(PUBLIC_CLIENT)).await;
}

#[tokio::test]
async fn basic_auth_credentials_are_form_decoded() {
    // RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic encoding.
    let secret = "s3cr:t +&%";
    let idp = DevIdp::start(config().client("odd client", Some(secret), [REDIRECT]))
        .await
        .unwrap();
    let callback = sign_in(&idp, &params("odd client"), "level2").await;
    let encoded = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let basic = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        encoded("odd client"),
        encoded(secret)
    ));
    let response = http()
        .post(idp.issuer().join("token").unwrap())
        .header("authorization", format!("Basic {basic}"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &callback["code"]),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn wrong_client_secret_is_401_invalid_client_with_challenge() {
    let idp = DevIdp::start(config()).await.unwrap();
    let callback = sign_in(&idp, &params(CLIENT), "level2").await;
    let response = exchange(
        &idp,
        &Auth::Basic(CLIENT, "wrong"),
        &callback["code"],
        VERIFIER,
        REDIRECT,
    )
    .await;
    assert!(
        response.headers()[WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    assert_eq!(
        error_of(response).await,
        (
            StatusCode::UNAUTHORIZED,
            "invalid_client".to_owned(),
            "client authentication failed".to_owned()
        )
    );
    let response = exchange(
        &idp,
        &Auth::None(CLIENT),
        &callback["code"],
        VERIFIER,
        REDIRECT,
    )
    .await;
    assert_eq!(
        error_of(response).await,
        (
            StatusCode::UNAUTHORIZED,
            "invalid_client".to_owned(),
            "this client must authenticate with its secret".to_owned()
        )
    );
}

#[tokio::test]
async fn pkce_mismatch_gives_invalid_grant_and_burns_the_code() {
    let idp = DevIdp::start(config()).await.unwrap();
    let callback = sign_in(&idp, &params(CLIENT), "level2").await;
    let other_verifier = "x".repeat(43);
    let response = exchange(
        &idp,
        &Auth::Basic(CLIENT, SECRET),
        &callback["code"],
        &other_verifier,
        REDIRECT,
    )
    .await;
    assert_eq!(
        error_of(response).await,
        (
            StatusCode::BAD_REQUEST,
            "invalid_grant".to_owned(),
            "code_verifier does not match the code_challenge".to_owned()
        )
    );
    let response = exchange(
        &idp,
        &Auth::Basic(CLIENT, SECRET),
        &callback["code"],
        VERIFIER,
        REDIRECT,
    )
    .await;
    assert_eq!(
        error_of(response).await,
        (
            StatusCode::BAD_REQUEST,
            "invalid_grant".to_owned(),
            "the authorization code was already used".to_owned()
        )
    );
}

#[tokio::test]
async fn code_replay_gives_invalid_grant_and_revokes_the_access_token() {
    let idp = DevIdp::start(config()).await.unwrap();
    let callback = sign_in(&idp, &params(CLIENT), "level2").await;
    let response = exchange(
        &idp,
        &Auth::Basic(CLIENT, SECRET),
        &callback["code"],
        VERIFIER,
        REDIRECT,
    )
    .await;
    let tokens: Value = response.json_value().await;
    let access_token = tokens["access_token"].as_str().unwrap();
    assert_eq!(userinfo(&idp, access_token).await.status(), StatusCode::OK);

    let replay = exchange(
        &idp,
        &Auth::Basic(CLIENT, SECRET),
        &callback["code"],
        VERIFIER,
        REDIRECT,
    )
    .await;
    assert_eq!(
        error_of(replay).await,
        (
            StatusCode::BAD_REQUEST,
            "invalid_grant".to_owned(),
            "the authorization code was already used".to_owned()
        )
    );
    let revoked = userinfo(&idp, access_token).await;
    assert_eq!(revoked.status(), StatusCode::UNAUTHORIZED);
    assert!(
        revoked.headers()[WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .contains("error=\"invalid_token\"")
    );
}

#[tokio::test]
async fn expired_code_gives_invalid_grant() {
    let clock = Arc::new(FixedClock::new(
        Utc.with_ymd_and_hms(2026, 7, 1, 8, 0, 0).unwrap(),
    ));
    let idp = DevIdp::start(config().clock(clock.clone())).await.unwrap();
    let callback = sign_in(&idp, &params(CLIENT), "level2").await;
    clock.advance(chrono::Duration::seconds(61));
    let response = exchange(
        &idp,
        &Auth::Basic(CLIENT, SECRET),
        &callback["code"],
        VERIFIER,
        REDIRECT,
    )
    .await;
    // Purged on expiry, an expired code is as unknown as a forged one.
    let (status, error, _) = error_of(response).await;
    assert_eq!(
        (status, error.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
}

#[tokio::test]
async fn id_token_times_come_from_the_injected_clock() {
    let now = Utc.with_ymd_and_hms(2026, 7, 1, 8, 0, 0).unwrap();
    let clock = Arc::new(FixedClock::new(now));
    let idp = DevIdp::start(
        config()
            .clock(clock)
            .token_lifetime(Duration::from_secs(120)),
    )
    .await
    .unwrap();
    let callback = sign_in(&idp, &params(CLIENT), "level2").await;
    let tokens: Value = exchange(
        &idp,
        &Auth::Basic(CLIENT, SECRET),
        &callback["code"],
        VERIFIER,
        REDIRECT,
    )
    .await
    .json_value()
    .await;
    assert_eq!(tokens["expires_in"], 120);
    let claims = verify_id_token(&idp, tokens["id_token"].as_str().unwrap(), "ES256").await;
    assert_eq!(claims["iat"], now.timestamp());
    assert_eq!(claims["auth_time"], now.timestamp());
    assert_eq!(claims["exp"], now.timestamp() + 120);
}

#[tokio::test]
async fn unregistered_redirect_uri_is_an_error_page_not_a_redirect() {
    let idp = DevIdp::start(config()).await.unwrap();
    let response = authorize(
        &idp,
        &with(
            params(CLIENT),
            "redirect_uri",
            "http://127.0.0.1:3000/other",
        ),
    )
    .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.headers().get(LOCATION).is_none());
    let html = response.text().await.unwrap();
    assert!(html.contains("redirect_uri is not registered for this client"));

    let response = authorize(&idp, &with(params(CLIENT), "client_id", "nobody")).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("client_id is not registered")
    );
}

#[tokio::test]
async fn token_request_with_other_redirect_uri_gives_invalid_grant() {
    let idp =
        DevIdp::start(config().client(CLIENT, Some(SECRET), [REDIRECT, "http://127.0.0.1:3000/b"]))
            .await
            .unwrap();
    let callback = sign_in(&idp, &params(CLIENT), "level2").await;
    let response = exchange(
        &idp,
        &Auth::Basic(CLIENT, SECRET),
        &callback["code"],
        VERIFIER,
        "http://127.0.0.1:3000/b",
    )
    .await;
    assert_eq!(
        error_of(response).await,
        (
            StatusCode::BAD_REQUEST,
            "invalid_grant".to_owned(),
            "redirect_uri does not match the authorization request".to_owned()
        )
    );
}

#[tokio::test]
async fn plain_or_missing_pkce_is_refused_with_state_and_iss() {
    let idp = DevIdp::start(config()).await.unwrap();
    for params in [
        with(params(CLIENT), "code_challenge_method", "plain"),
        params(CLIENT)
            .into_iter()
            .filter(|(n, _)| *n != "code_challenge_method")
            .collect(),
        params(CLIENT)
            .into_iter()
            .filter(|(n, _)| *n != "code_challenge")
            .collect(),
    ] {
        let response = authorize(&idp, &params).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let callback = query(&location(&response));
        assert_eq!(callback["error"], "invalid_request");
        assert_eq!(callback["state"], "st-123");
        assert_eq!(callback["iss"], idp.issuer().as_str());
        assert!(!callback.contains_key("code"));
    }
}

#[tokio::test]
async fn missing_openid_scope_and_other_response_types_are_refused() {
    let idp = DevIdp::start(config()).await.unwrap();
    let response = authorize(&idp, &with(params(CLIENT), "scope", "profile")).await;
    assert_eq!(query(&location(&response))["error"], "invalid_scope");
    let response = authorize(&idp, &with(params(CLIENT), "response_type", "id_token")).await;
    assert_eq!(
        query(&location(&response))["error"],
        "unsupported_response_type"
    );
    let response = authorize(&idp, &with(params(CLIENT), "prompt", "none")).await;
    assert_eq!(query(&location(&response))["error"], "login_required");
}

#[tokio::test]
async fn level1_never_gets_level2_acr_even_when_acr_values_asks_for_it() {
    let idp = DevIdp::start(config()).await.unwrap();
    let callback = sign_in(&idp, &params(CLIENT), "level1").await;
    let tokens: Value = exchange(
        &idp,
        &Auth::Basic(CLIENT, SECRET),
        &callback["code"],
        VERIFIER,
        REDIRECT,
    )
    .await
    .json_value()
    .await;
    let claims = verify_id_token(&idp, tokens["id_token"].as_str().unwrap(), "ES256").await;
    assert_eq!(claims["acr"], ACR_LEVEL_1);
    assert_eq!(claims["amr"], serde_json::json!(["pwd"]));
    let info: Value = userinfo(&idp, tokens["access_token"].as_str().unwrap())
        .await
        .json_value()
        .await;
    assert_eq!(info["accountLevel"], 1);
    assert_eq!(info["citizenPid"], "000201007356");
}

fn essential_level2() -> String {
    serde_json::json!({ "id_token": { "acr": { "essential": true, "values": [ACR_LEVEL_2] } } })
        .to_string()
}

#[tokio::test]
async fn level1_with_essential_level2_gets_unmet_authentication_requirements() {
    let idp = DevIdp::start(config()).await.unwrap();
    let callback = sign_in(
        &idp,
        &with(params(CLIENT), "claims", &essential_level2()),
        "level1",
    )
    .await;
    assert_eq!(callback["error"], "unmet_authentication_requirements");
    assert_eq!(callback["state"], "st-123");
    assert_eq!(callback["iss"], idp.issuer().as_str());
    assert!(!callback.contains_key("code"));
}

#[tokio::test]
async fn essential_acr_ignored_when_not_honoured_still_gives_level1_acr() {
    let idp = DevIdp::start(config().honour_essential_acr(false))
        .await
        .unwrap();
    let callback = sign_in(
        &idp,
        &with(params(CLIENT), "claims", &essential_level2()),
        "level1",
    )
    .await;
    let tokens: Value = exchange(
        &idp,
        &Auth::Basic(CLIENT, SECRET),
        &callback["code"],
        VERIFIER,
        REDIRECT,
    )
    .await
    .json_value()
    .await;
    let claims = verify_id_token(&idp, tokens["id_token"].as_str().unwrap(), "ES256").await;
    assert_eq!(claims["acr"], ACR_LEVEL_1);
}

#[tokio::test]
async fn level2_with_essential_level2_gets_a_code() {
    let idp = DevIdp::start(config()).await.unwrap();
    let callback = sign_in(
        &idp,
        &with(params(CLIENT), "claims", &essential_level2()),
        "level2",
    )
    .await;
    assert!(callback.contains_key("code"));
}

#[tokio::test]
async fn denying_personas_send_their_errors_with_state_and_iss() {
    let idp = DevIdp::start(config()).await.unwrap();
    for (persona, error, description) in [
        (
            "cancel",
            "access_denied",
            "the resident cancelled the sign-in",
        ),
        (
            "no_eid",
            "access_denied",
            "the resident has no VNeID account",
        ),
        (
            "error",
            "temporarily_unavailable",
            "the identity provider is temporarily unavailable",
        ),
    ] {
        let callback = sign_in(&idp, &params(CLIENT), persona).await;
        assert_eq!(callback["error"], error);
        assert_eq!(callback["error_description"], description);
        assert_eq!(callback["state"], "st-123");
        assert_eq!(callback["iss"], idp.issuer().as_str());
        assert!(!callback.contains_key("code"));
    }
}

#[tokio::test]
async fn interaction_is_single_use_and_lists_personas_in_vietnamese_first() {
    let idp = DevIdp::start(config()).await.unwrap();
    let interaction = location(&authorize(&idp, &params(CLIENT)).await);
    let html = http()
        .get(interaction.clone())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("<html lang=\"vi\">"));
    let vi = html
        .find("Công dân có tài khoản định danh điện tử mức độ 2")
        .unwrap();
    let en = html
        .find("Resident with a level 2 e-identity account")
        .unwrap();
    assert!(vi < en);
    for persona in ["level2", "level1", "cancel", "error", "no_eid"] {
        assert!(html.contains(&format!("name=\"persona\" value=\"{persona}\"")));
    }
    choose(&interaction, "level2").await;
    let again = http()
        .post(interaction)
        .form(&[("persona", "level2")])
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn par_round_trip_uses_pushed_parameters_once() {
    let idp = DevIdp::start(config()).await.unwrap();
    let pushed = params(CLIENT)
        .into_iter()
        .filter(|(n, _)| *n != "client_id")
        .chain([("claims", essential_level2())])
        .collect::<Vec<_>>();
    let response = http()
        .post(idp.issuer().join("par").unwrap())
        .basic_auth(CLIENT, Some(SECRET))
        .form(&pushed)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json_value().await;
    assert_eq!(body["expires_in"], 60);
    let request_uri = body["request_uri"].as_str().unwrap().to_owned();
    assert!(request_uri.starts_with("urn:ietf:params:oauth:request_uri:"));

    let front = vec![
        ("client_id", CLIENT.to_owned()),
        ("request_uri", request_uri.clone()),
    ];
    let response = authorize(&idp, &front).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let callback = query(&choose(&location(&response), "level1").await);
    // The pushed essential acr applies although the front channel carried only two parameters.
    assert_eq!(callback["error"], "unmet_authentication_requirements");
    assert_eq!(callback["state"], "st-123");

    let reused = authorize(&idp, &front).await;
    assert_eq!(reused.status(), StatusCode::BAD_REQUEST);
    assert!(
        reused
            .text()
            .await
            .unwrap()
            .contains("request_uri is unknown, expired or already used")
    );

    let recorded = idp.recorded_authorization_requests();
    let pushed = recorded
        .iter()
        .find(|r| r.channel() == RequestChannel::Pushed)
        .unwrap();
    assert_eq!(pushed.get("claims"), Some(essential_level2().as_str()));
    assert_eq!(pushed.get("client_secret"), None);
}

#[tokio::test]
async fn par_then_code_flow_with_client_secret_post() {
    let idp = DevIdp::start(config()).await.unwrap();
    let pushed = with(params(CLIENT), "client_secret", SECRET);
    let body: Value = http()
        .post(idp.issuer().join("par").unwrap())
        .form(&pushed)
        .send()
        .await
        .unwrap()
        .json_value()
        .await;
    let front = vec![
        ("client_id", CLIENT.to_owned()),
        (
            "request_uri",
            body["request_uri"].as_str().unwrap().to_owned(),
        ),
    ];
    let callback = sign_in(&idp, &front, "level2").await;
    let response = exchange(
        &idp,
        &Auth::Basic(CLIENT, SECRET),
        &callback["code"],
        VERIFIER,
        REDIRECT,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let recorded = idp.recorded_authorization_requests();
    assert!(recorded.iter().all(|r| r.get("client_secret").is_none()));
}

#[tokio::test]
async fn par_refuses_bad_clients_and_invalid_requests_as_json() {
    let idp = DevIdp::start(config()).await.unwrap();
    let par = idp.issuer().join("par").unwrap();
    let response = http()
        .post(par.clone())
        .basic_auth(CLIENT, Some("wrong"))
        .form(&params(CLIENT))
        .send()
        .await
        .unwrap();
    let (status, error, _) = error_of(response).await;
    assert_eq!(
        (status, error.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_client")
    );

    let plain = with(params(CLIENT), "code_challenge_method", "plain");
    let response = http()
        .post(par.clone())
        .basic_auth(CLIENT, Some(SECRET))
        .form(&plain)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(response).await,
        (
            StatusCode::BAD_REQUEST,
            "invalid_request".to_owned(),
            "transform algorithm not supported: use S256".to_owned()
        )
    );
    let other = with(params(CLIENT), "redirect_uri", "http://127.0.0.1:9/cb");
    let response = http()
        .post(par)
        .basic_auth(CLIENT, Some(SECRET))
        .form(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(response).await,
        (
            StatusCode::BAD_REQUEST,
            "invalid_request".to_owned(),
            "redirect_uri is not registered for this client".to_owned()
        )
    );
}

#[tokio::test]
async fn pushed_request_uri_expires_after_60_seconds() {
    let clock = Arc::new(FixedClock::new(
        Utc.with_ymd_and_hms(2026, 7, 1, 8, 0, 0).unwrap(),
    ));
    let idp = DevIdp::start(config().clock(clock.clone())).await.unwrap();
    let body: Value = http()
        .post(idp.issuer().join("par").unwrap())
        .basic_auth(CLIENT, Some(SECRET))
        .form(&params(CLIENT))
        .send()
        .await
        .unwrap()
        .json_value()
        .await;
    clock.advance(chrono::Duration::seconds(60));
    let front = vec![
        ("client_id", CLIENT.to_owned()),
        (
            "request_uri",
            body["request_uri"].as_str().unwrap().to_owned(),
        ),
    ];
    assert_eq!(
        authorize(&idp, &front).await.status(),
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn recorded_requests_show_what_the_portal_sent() {
    let idp = DevIdp::start(config()).await.unwrap();
    let sent = with(
        with(
            with(params(CLIENT), "ui_locales", "vi en"),
            "max_age",
            "300",
        ),
        "claims",
        &essential_level2(),
    );
    sign_in(&idp, &sent, "level2").await;
    let recorded = idp.recorded_authorization_requests();
    assert_eq!(recorded.len(), 1);
    let request = &recorded[0];
    assert_eq!(request.channel(), RequestChannel::FrontChannel);
    assert_eq!(request.get("acr_values"), Some(ACR_LEVEL_2));
    assert_eq!(request.get("claims"), Some(essential_level2().as_str()));
    assert_eq!(request.get("code_challenge_method"), Some("S256"));
    assert_eq!(request.get("ui_locales"), Some("vi en"));
    assert_eq!(request.get("max_age"), Some("300"));
    assert_eq!(request.get("nonce"), Some("n-456"));
    assert_eq!(request.params().len(), sent.len());
}

#[tokio::test]
async fn userinfo_without_or_with_unknown_token_is_401() {
    let idp = DevIdp::start(config()).await.unwrap();
    let response = http()
        .get(idp.issuer().join("userinfo").unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()[WWW_AUTHENTICATE],
        "Bearer realm=\"wardgate-devidp\""
    );
    let response = userinfo(&idp, "made-up").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        response.headers()[WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
}

#[tokio::test]
async fn shutdown_stops_the_server() {
    let idp = DevIdp::start(config()).await.unwrap();
    let url = idp.issuer().join("jwks").unwrap();
    assert_eq!(
        http().get(url.clone()).send().await.unwrap().status(),
        StatusCode::OK
    );
    idp.shutdown().await.unwrap();
    assert!(http().get(url).send().await.is_err());
}

#[tokio::test]
async fn start_rejects_inconsistent_configuration() {
    let error = DevIdp::start(config().client("bad", None, ["/relative"]))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
    assert_eq!(
        error.to_string(),
        "devidp configuration: redirect uri `/relative` of client `bad` is not an absolute uri without fragment"
    );
    let error = DevIdp::start(config().acr_value(Level::One, ACR_LEVEL_2))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
}

#[tokio::test]
async fn custom_acr_values_are_used_on_the_wire() {
    let idp = DevIdp::start(
        config()
            .acr_value(Level::Two, "LoA2")
            .acr_value(Level::One, "LoA1"),
    )
    .await
    .unwrap();
    let callback = sign_in(&idp, &with(params(CLIENT), "acr_values", "LoA2"), "level2").await;
    let tokens: Value = exchange(
        &idp,
        &Auth::Basic(CLIENT, SECRET),
        &callback["code"],
        VERIFIER,
        REDIRECT,
    )
    .await
    .json_value()
    .await;
    let claims = verify_id_token(&idp, tokens["id_token"].as_str().unwrap(), "ES256").await;
    assert_eq!(claims["acr"], "LoA2");
}

#[test]
fn debug_output_hides_secrets_and_identity_data() {
    let identity = Identity::new(
        "sub-1",
        "000187004821",
        "Nguyễn Thị Thu Hà",
        chrono::NaiveDate::MIN,
    );
    let printed = format!("{identity:?}");
    assert_eq!(
        printed,
        "Identity { sub: \"sub-1\", citizen_pid: \"[redacted]\", full_name: \"[redacted]\", birth_date: \"[redacted]\", roles: [] }"
    );
    let personas = format!("{:?}", Persona::defaults());
    assert!(!personas.contains("000187004821"));
    assert!(!personas.contains("Nguyễn Thị Thu Hà"));

    let config = format!("{:?}", config());
    assert!(!config.contains(SECRET));
    assert!(!config.contains(DEFAULT_CLIENT_SECRET));
    assert!(config.contains("[redacted]"));

    let recorded = RecordedRequest {
        channel: RequestChannel::FrontChannel,
        params: vec![("nonce".to_owned(), "n-secret".to_owned())],
        received_at: DateTime::UNIX_EPOCH,
    };
    assert_eq!(
        format!("{recorded:?}"),
        "RecordedRequest { channel: FrontChannel, params: [\"nonce\"], received_at: 1970-01-01T00:00:00Z }"
    );
}

#[test]
fn default_personas_have_stable_ids_and_fake_id_numbers() {
    let personas = Persona::defaults();
    let ids: Vec<&str> = personas.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(
        ids,
        ["level2", "level1", "officer", "cancel", "error", "no_eid"]
    );
    for persona in &personas {
        if let PersonaOutcome::Authenticates { identity, .. } = &persona.outcome {
            assert_eq!(identity.citizen_pid.len(), 12);
            assert!(
                identity.citizen_pid.starts_with("000"),
                "province code 000 does not exist"
            );
            assert_ne!(identity.sub, identity.citizen_pid);
        }
    }
}

#[tokio::test]
async fn dropping_the_handle_stops_the_server() {
    let idp = DevIdp::start(config()).await.unwrap();
    let url = idp.issuer().join("jwks").unwrap();
    drop(idp);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(http().get(url).send().await.is_err());
}

#[tokio::test]
async fn authorize_accepts_a_form_post() {
    let idp = DevIdp::start(config()).await.unwrap();
    let response = http()
        .post(idp.issuer().join("authorize").unwrap())
        .form(&params(CLIENT))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let callback = query(&choose(&location(&response), "level2").await);
    assert_eq!(callback["state"], "st-123");
    assert!(callback.contains_key("code"));
}

#[tokio::test]
async fn repeated_parameters_are_refused() {
    let idp = DevIdp::start(config()).await.unwrap();
    let mut sent = params(CLIENT);
    sent.push(("scope", "openid profile".to_owned()));
    let response = authorize(&idp, &sent).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("parameter `scope` is repeated")
    );
}

/// wardgate's own relying party against the simulator: discovery, PAR, essential acr, PKCE,
/// RFC 9207, ID-token verification and userinfo, end to end.
mod relying_party {
    use pretty_assertions::assert_eq;

    use super::*;
    use crate::assurance::{AcrTable, LevelSource};
    use crate::clock::{SystemClock, SystemRandom};
    use crate::oidc::{
        Callback, ClientConfig, LoginErrorKind, LoginRequest, RelyingParty, ReqwestHttp,
    };

    async fn relying_party(idp: &DevIdpHandle, secret: Option<&str>) -> RelyingParty {
        let mut config = ClientConfig::new(
            if secret.is_some() {
                CLIENT
            } else {
                PUBLIC_CLIENT
            },
            Url::parse(REDIRECT).unwrap(),
        )
        .level_source(LevelSource::acr(
            AcrTable::new([ACR_LEVEL_1], [ACR_LEVEL_2]).unwrap(),
        ));
        if let Some(secret) = secret {
            config = config.client_secret(secret);
        }
        RelyingParty::discover(
            idp.issuer().as_str(),
            config,
            ReqwestHttp::new().unwrap(),
            Arc::new(SystemClock),
            Arc::new(SystemRandom::new()),
        )
        .await
        .unwrap()
    }

    /// Follows the browser's path from the authorization URL to the callback.
    async fn browse(authorization_url: Url, persona: &str) -> Callback {
        let response = http().get(authorization_url).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let callback = choose(&location(&response), persona).await;
        Callback::from_query(callback.query().unwrap())
    }

    #[tokio::test]
    async fn level2_resident_reaches_level_two() {
        for algorithm in [
            SigningAlgorithm::Es256,
            SigningAlgorithm::Rs256,
            SigningAlgorithm::EdDsa,
        ] {
            let idp = DevIdp::start(config().signing_algorithm(algorithm))
                .await
                .unwrap();
            let rp = relying_party(&idp, Some(SECRET)).await;
            let (url, pending) = rp.begin(&LoginRequest::new(Level::Two)).await.unwrap();
            let login = rp
                .complete(pending, &browse(url, "level2").await)
                .await
                .unwrap();
            assert!(login.assurance().meets(Level::Two));
            assert_eq!(login.assurance().acr(), Some(ACR_LEVEL_2));
            assert_eq!(login.subject(), "devidp-p2-7f3a91c4e0b25d68");
            let pushed = idp.recorded_authorization_requests();
            assert_eq!(pushed[0].channel(), RequestChannel::Pushed);
        }
    }

    #[tokio::test]
    async fn level1_resident_with_essential_acr_is_level_unreachable() {
        let idp = DevIdp::start(config()).await.unwrap();
        let rp = relying_party(&idp, Some(SECRET)).await;
        let (url, pending) = rp.begin(&LoginRequest::new(Level::Two)).await.unwrap();
        let error = rp
            .complete(pending, &browse(url, "level1").await)
            .await
            .unwrap_err();
        assert_eq!(error.kind(), LoginErrorKind::LevelUnreachable);
    }

    #[tokio::test]
    async fn level1_resident_of_a_public_client_without_essential_acr_gets_level_one() {
        let idp = DevIdp::start(config().pushed_authorization_requests(false))
            .await
            .unwrap();
        // A public client, without PAR.
        let rp = relying_party(&idp, None).await;
        let request = LoginRequest::new(Level::Two).essential_acr(false);
        let (url, pending) = rp.begin(&request).await.unwrap();
        let login = rp
            .complete(pending, &browse(url, "level1").await)
            .await
            .unwrap();
        assert_eq!(login.assurance().level(), Some(Level::One));
        assert!(!login.assurance().meets(Level::Two));
    }

    #[tokio::test]
    async fn cancel_and_provider_error_become_typed_outcomes() {
        let idp = DevIdp::start(config()).await.unwrap();
        let rp = relying_party(&idp, Some(SECRET)).await;
        for (persona, kind) in [
            ("cancel", LoginErrorKind::Cancelled),
            ("no_eid", LoginErrorKind::Cancelled),
            ("error", LoginErrorKind::ProviderUnavailable),
        ] {
            let (url, pending) = rp.begin(&LoginRequest::new(Level::Two)).await.unwrap();
            let error = rp
                .complete(pending, &browse(url, persona).await)
                .await
                .unwrap_err();
            assert_eq!(error.kind(), kind, "persona {persona}");
        }
    }
}

#[tokio::test]
async fn par_refuses_a_repeated_client_id() {
    // RFC 6749 §3.1: a public client that sends client_id twice is refused like any repetition.
    let idp = DevIdp::start(config()).await.unwrap();
    let mut sent = params(PUBLIC_CLIENT);
    sent.push(("client_id", PUBLIC_CLIENT.to_owned()));
    let response = http()
        .post(idp.issuer().join("par").unwrap())
        .form(&sent)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(response).await,
        (
            StatusCode::BAD_REQUEST,
            "invalid_request".to_owned(),
            "parameter `client_id` is repeated".to_owned()
        )
    );
}
