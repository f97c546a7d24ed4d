//! The hostile-provider suite: the real gateway router signs residents in against
//! [`HostileIdp`], a provider on loopback whose answers are crafted per attack.
//!
//! Every test drives `GET /login?procedure=…` → the provider's authorize endpoint → `GET
//! /auth/callback` and asserts three things: the resident ends without a level-2 session (the
//! submission API does not file), sees the exact outcome named by the test (the refusal page
//! with the failure counted under its `LoginErrorKind` code, or the in-person referral with
//! reason `provider_unavailable`, or a verified login below level 2 that the procedure routes
//! in person), no answer is a 5xx, and another resident's request completes while the hostile
//! callback is in progress.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, Response, StatusCode, header};
use serde_json::json;
use url::Url;
use wardgate::assurance::{AcrTable, LevelSource};
use wardgate::oidc::{
    BreakerConfig, CircuitBreaker, CircuitMonitor, ClientConfig, DiscoveryError, RelyingParty,
    ReqwestHttp,
};

use crate::gateway::{
    BIRTH, PUBLIC, TestGateway, body_json, body_text, cookie_pair, example_dossier, location,
    set_cookies, submission,
};
use crate::support::hostile_idp::{
    self, HostileIdp, JwksAnswer, Script, Signer, TokenAnswer, UserinfoAnswer,
};

/// How long the gateway waits for the provider in these tests.
pub(crate) const PROVIDER_TIMEOUT: Duration = Duration::from_secs(1);
/// The bound on any resident request: a few provider timeouts.
pub(crate) const BOUND: Duration = Duration::from_secs(10);
/// The title of the page for a login the gateway refuses.
const REFUSED_TITLE: &str = "Không xác thực được đăng nhập";
/// The referral reason shown when the provider is unavailable.
const UNAVAILABLE_REASON: &str = "Hệ thống đăng nhập VNeID đang tạm thời gián đoạn";

/// The relying party's registration at the hostile provider.
pub(crate) fn client() -> ClientConfig {
    ClientConfig::new(
        hostile_idp::CLIENT_ID,
        Url::parse(&format!("{PUBLIC}/auth/callback")).unwrap(),
    )
    .client_secret(hostile_idp::CLIENT_SECRET)
    .level_source(LevelSource::acr(
        AcrTable::new([hostile_idp::ACR_LEVEL_1], [hostile_idp::ACR_LEVEL_2]).unwrap(),
    ))
    .fetch_userinfo(true)
}

/// The gateway's provider client as the example builds it, with test-sized timeouts: reqwest
/// (no redirects, 1 MiB cap) behind a circuit breaker.
pub(crate) fn provider_http(
    config: BreakerConfig,
    clock: Arc<dyn wardgate::Clock>,
) -> CircuitBreaker<ReqwestHttp> {
    let reqwest = ReqwestHttp::with_limits(
        Duration::from_millis(500),
        PROVIDER_TIMEOUT,
        ReqwestHttp::DEFAULT_MAX_RESPONSE_BYTES,
    )
    .unwrap();
    CircuitBreaker::new(reqwest, config.call_timeout(PROVIDER_TIMEOUT), clock)
}

/// A gateway on `idp` whose provider calls go through a breaker timed by `clock`.
pub(crate) async fn gateway_on(
    idp: &HostileIdp,
    config: BreakerConfig,
    clock: Arc<dyn wardgate::Clock>,
) -> (TestGateway, CircuitMonitor) {
    let http = provider_http(config, clock);
    let monitor = http.monitor();
    let gw = TestGateway::on_provider(idp.issuer(), client(), http, Some(monitor.clone())).await;
    (gw, monitor)
}

/// Bounded: a resident request that does not finish within [`BOUND`] fails the test.
pub(crate) async fn bounded<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, future)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {BOUND:?}"))
}

/// `GET /login` for the birth registration, then the provider's authorize endpoint: returns
/// the callback path and query the provider sent the browser to, and the login-flow cookie.
pub(crate) async fn start_login(gw: &TestGateway) -> (String, String) {
    let login = bounded(
        "GET /login",
        gw.get(&format!("/login?procedure={BIRTH}"), None),
    )
    .await;
    assert_eq!(login.status(), StatusCode::SEE_OTHER);
    let flow = cookie_pair(&login).expect("a login-flow cookie");
    let authorize = Url::parse(location(&login)).unwrap();
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(BOUND)
        .build()
        .unwrap();
    let answer = browser.get(authorize).send().await.expect("authorize");
    assert_eq!(answer.status(), 303, "authorize redirects back");
    let back = Url::parse(answer.headers()[header::LOCATION].to_str().unwrap()).unwrap();
    assert!(back.as_str().starts_with(PUBLIC), "{back}");
    (
        format!("{}?{}", back.path(), back.query().unwrap_or_default()),
        flow,
    )
}

/// The session cookie a response sets, if any.
fn session_cookie(response: &Response<Body>) -> Option<String> {
    set_cookies(response)
        .into_iter()
        .find(|c| c.starts_with("wardgate-session=") && !c.starts_with("wardgate-session=;"))
        .map(|c| c.split(';').next().unwrap().to_owned())
}

/// What the resident must end up with.
#[derive(Clone, Copy, Debug)]
enum Outcome {
    /// The refusal page (400): the answer could not be verified, no session; the failure is
    /// counted under this `LoginErrorKind` code.
    Refused(&'static str),
    /// A redirect to the procedure with `outcome=provider_unavailable`: the in-person referral
    /// with reason `provider_unavailable`; the failure counted under this code.
    ProviderUnavailable(&'static str),
    /// A verified login that is not level 2: the procedure routes the resident in person.
    BelowLevelTwo,
}

/// Runs one attack end to end and checks everything the suite promises.
async fn attack(name: &str, script: Script, expected: Outcome) -> HostileIdp {
    let idp = HostileIdp::start().await;
    let (gw, _) = gateway_on(&idp, BreakerConfig::new(), Arc::new(wardgate::SystemClock)).await;
    idp.set(script);
    let (callback, flow) = start_login(&gw).await;

    // The callback runs while another resident opens a procedure page.
    let router = gw.router.clone();
    let hostile = tokio::spawn(async move {
        use tower::ServiceExt as _;
        let request = Request::get(&callback)
            .header(header::COOKIE, flow)
            .body(Body::empty())
            .unwrap();
        router.oneshot(request).await.unwrap()
    });
    let other = bounded(
        &format!("{name}: another resident's page"),
        gw.get(&format!("/procedures/{BIRTH}"), None),
    )
    .await;
    assert_eq!(other.status(), StatusCode::OK, "{name}: other resident");
    let response = bounded(&format!("{name}: the callback"), hostile)
        .await
        .unwrap();
    let status = response.status();
    assert!(
        !status.is_server_error(),
        "{name}: callback answered {status}"
    );

    let session = session_cookie(&response);
    match expected {
        Outcome::Refused(kind) => {
            assert_eq!(status, StatusCode::BAD_REQUEST, "{name}: status");
            assert!(session.is_none(), "{name}: a session was opened");
            let page = body_text(response).await;
            assert!(page.contains(REFUSED_TITLE), "{name}: refusal page: {page}");
            assert_failure_counted(&gw, name, kind).await;
        }
        Outcome::ProviderUnavailable(kind) => {
            assert_eq!(status, StatusCode::SEE_OTHER, "{name}: status");
            assert!(session.is_none(), "{name}: a session was opened");
            let target = location(&response).to_owned();
            assert_eq!(
                target,
                format!("/procedures/{BIRTH}?lang=vi&outcome=provider_unavailable"),
                "{name}: redirect"
            );
            assert_referral_for_unavailable_provider(&gw, name, &target).await;
            assert_failure_counted(&gw, name, kind).await;
        }
        Outcome::BelowLevelTwo => {
            assert_eq!(status, StatusCode::SEE_OTHER, "{name}: status");
            assert_eq!(
                location(&response),
                format!("/procedures/{BIRTH}?lang=vi"),
                "{name}: redirect"
            );
            let cookie = session.clone().expect("a verified login opens a session");
            let decision = body_json(
                gw.get(&format!("/api/procedures/{BIRTH}/decision"), Some(&cookie))
                    .await,
            )
            .await;
            assert_eq!(decision["decision"], "in_person", "{name}: {decision}");
            assert_eq!(decision["reason"], "level_below_required", "{name}");
            assert_ne!(decision["level"], 2, "{name}: {decision}");
        }
    }
    assert_no_level_two_session(&gw, name, session.as_deref()).await;
    // Still serving.
    let home = bounded("GET /", gw.get("/", None)).await;
    assert_eq!(home.status(), StatusCode::OK, "{name}: home page");
    idp
}

async fn assert_failure_counted(gw: &TestGateway, name: &str, kind: &str) {
    let metrics = gw.metrics_text().await;
    let line = format!("wardgate_login_failures_total{{kind=\"{kind}\"}} 1\n");
    assert!(
        metrics.contains(&line),
        "{name}: expected `{}` in:\n{}",
        line.trim(),
        metrics
            .lines()
            .filter(|l| l.starts_with("wardgate_login"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// The page the resident lands on shows the in-person referral with the provider reason, and
/// the decision API agrees.
pub(crate) async fn assert_referral_for_unavailable_provider(
    gw: &TestGateway,
    name: &str,
    target: &str,
) {
    let page = bounded("the referral page", gw.get(target, None)).await;
    assert_eq!(page.status(), StatusCode::OK, "{name}: referral page");
    let html = body_text(page).await;
    assert!(html.contains(UNAVAILABLE_REASON), "{name}: reason shown");
    assert!(html.contains("/tickets/"), "{name}: ticket link shown");
    let decision = body_json(
        gw.get(
            &format!("/api/procedures/{BIRTH}/decision?outcome=provider_unavailable"),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(decision["decision"], "in_person", "{name}: {decision}");
    assert_eq!(decision["reason"], "provider_unavailable", "{name}");
}

/// Whatever cookie the resident holds, filing online is refused: 401 with the RFC 9470
/// challenge without a session, 403 with the referral below level 2.
pub(crate) async fn assert_no_level_two_session(
    gw: &TestGateway,
    name: &str,
    session: Option<&str>,
) {
    let dossier = example_dossier(gw, BIRTH).await;
    let response = gw
        .send(submission(
            &format!("/api/procedures/{BIRTH}/submissions"),
            session,
            Some("hostile-1"),
            &dossier,
        ))
        .await;
    match session {
        None => {
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{name}");
            let challenge = response.headers()[header::WWW_AUTHENTICATE]
                .to_str()
                .unwrap();
            assert!(
                challenge.starts_with("Bearer error=\"insufficient_user_authentication\""),
                "{name}: {challenge}"
            );
        }
        Some(_) => {
            let status = response.status();
            assert_eq!(status, StatusCode::FORBIDDEN, "{name}");
            let body = body_json(response).await;
            assert_eq!(body["error"], "in_person_required", "{name}: {body}");
        }
    }
}

fn refused(kind: &'static str) -> Outcome {
    Outcome::Refused(kind)
}

// --- the honest provider: the suite's control ---

#[tokio::test]
async fn control_an_honest_provider_signs_in_at_level_two() {
    for signer in [Signer::Es256, Signer::Rs256, Signer::EdDsa] {
        let idp = HostileIdp::start().await;
        let (gw, _) = gateway_on(&idp, BreakerConfig::new(), Arc::new(wardgate::SystemClock)).await;
        idp.set(Script::honest().signer(signer));
        let (callback, flow) = start_login(&gw).await;
        let response = gw.get(&callback, Some(&flow)).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{signer:?}");
        let session = session_cookie(&response).expect("a session");
        let dossier = example_dossier(&gw, BIRTH).await;
        let filed = gw
            .send(submission(
                &format!("/api/procedures/{BIRTH}/submissions"),
                Some(&session),
                Some("control"),
                &dossier,
            ))
            .await;
        assert_eq!(filed.status(), StatusCode::CREATED, "{signer:?}");
    }
}

// --- signature and algorithm tricks ---

#[tokio::test]
async fn alg_none_is_refused() {
    attack(
        "alg none",
        Script::honest().signer(Signer::Unsigned),
        refused("id_token_disallowed_algorithm"),
    )
    .await;
}

#[tokio::test]
async fn hs256_keyed_with_the_public_key_is_refused() {
    attack(
        "HS256 keyed with the provider's public key",
        Script::honest().signer(Signer::HmacWithPublicKey),
        refused("id_token_disallowed_algorithm"),
    )
    .await;
}

#[tokio::test]
async fn an_algorithm_outside_the_allow_list_is_refused() {
    // RS512 names a real RSA algorithm the provider's key could verify: still not allowed.
    attack(
        "RS512",
        Script::honest()
            .signer(Signer::Rs256)
            .header(|h| h["alg"] = json!("RS512")),
        refused("id_token_disallowed_algorithm"),
    )
    .await;
}

#[tokio::test]
async fn an_unknown_kid_is_refused_without_hammering_the_key_endpoint() {
    let idp = attack(
        "unknown kid",
        Script::honest()
            .signer(Signer::NotInJwks)
            .header(|h| h["kid"] = json!("rotated-in-secret")),
        refused("id_token_unknown_key"),
    )
    .await;
    // The keys were fetched at start-up; refreshes are rate-limited (30 s), so a made-up kid
    // costs the provider nothing.
    let fetches = idp.requests().iter().filter(|r| *r == "GET /jwks").count();
    assert_eq!(fetches, 1, "only the start-up fetch");
}

#[tokio::test]
async fn a_key_not_in_the_key_set_under_a_known_kid_is_refused() {
    attack(
        "foreign key under kid ec-1",
        Script::honest().signer(Signer::NotInJwks),
        refused("id_token_bad_signature"),
    )
    .await;
}

#[tokio::test]
async fn a_corrupted_signature_is_refused() {
    attack(
        "one flipped signature bit",
        Script::honest().signer(Signer::Corrupt),
        refused("id_token_bad_signature"),
    )
    .await;
}

#[tokio::test]
async fn a_der_encoded_ecdsa_signature_is_refused() {
    attack(
        "DER instead of raw r||s",
        Script::honest().signer(Signer::DerEs256),
        refused("id_token_bad_signature"),
    )
    .await;
}

#[tokio::test]
async fn a_key_bound_to_another_algorithm_is_not_used() {
    // The RSA key is published with alg RS256; a PS256 token under its kid must not verify.
    attack(
        "PS256 under an RS256 key",
        Script::honest()
            .signer(Signer::Rs256)
            .header(|h| h["alg"] = json!("PS256")),
        refused("id_token_unknown_key"),
    )
    .await;
}

#[tokio::test]
async fn a_weak_rsa_key_in_the_key_set_is_never_used() {
    let weak = hostile_idp::weak_rsa_jwk();
    attack(
        "RSA-1024 key",
        Script::honest()
            .jwks(JwksAnswer::Replaced(json!({"keys": [weak]})))
            .signer(Signer::Rs256)
            .header(|h| h["kid"] = json!("weak-1024")),
        refused("id_token_unknown_key"),
    )
    .await;
}

// --- header injection ---

#[tokio::test]
async fn an_embedded_jwk_header_is_never_trusted() {
    let idp = HostileIdp::start().await;
    let jwk = idp.foreign_jwk();
    drop(idp);
    attack(
        "embedded jwk",
        Script::honest().signer(Signer::NotInJwks).header(move |h| {
            h["kid"] = json!("attacker");
            h["jwk"] = jwk.clone();
        }),
        refused("id_token_unknown_key"),
    )
    .await;
}

#[tokio::test]
async fn a_jku_header_is_never_fetched() {
    let idp = attack(
        "jku",
        Script::honest().signer(Signer::NotInJwks).header(|h| {
            h["kid"] = json!("attacker");
            h["jku"] = json!("http://127.0.0.1:9/evil-jwks");
        }),
        refused("id_token_unknown_key"),
    )
    .await;
    assert!(idp.requests().iter().all(|r| !r.contains("evil")));
}

#[tokio::test]
async fn an_x5u_header_is_never_fetched() {
    let idp = attack(
        "x5u",
        Script::honest().signer(Signer::NotInJwks).header(|h| {
            h["kid"] = json!("attacker");
            h["x5u"] = json!("http://127.0.0.1:9/evil-cert.pem");
        }),
        refused("id_token_unknown_key"),
    )
    .await;
    assert!(idp.requests().iter().all(|r| !r.contains("evil")));
}

#[tokio::test]
async fn an_unknown_crit_header_is_refused() {
    attack(
        "crit",
        Script::honest().header(|h| {
            h["crit"] = json!(["urn:hostile:must-understand"]);
            h["urn:hostile:must-understand"] = json!(true);
        }),
        refused("id_token_unsupported_header"),
    )
    .await;
}

// --- claim tricks ---

#[tokio::test]
async fn a_foreign_issuer_is_refused() {
    attack(
        "iss of another provider",
        Script::honest().claims(|c| c["iss"] = json!("https://evil.example")),
        refused("id_token_wrong_issuer"),
    )
    .await;
}

#[tokio::test]
async fn another_audience_is_refused() {
    attack(
        "aud of another client",
        Script::honest().claims(|c| c["aud"] = json!("another-portal")),
        refused("id_token_wrong_audience"),
    )
    .await;
}

#[tokio::test]
async fn an_extra_untrusted_audience_is_refused() {
    attack(
        "aud with an extra client",
        Script::honest().claims(|c| {
            c["aud"] = json!([hostile_idp::CLIENT_ID, "another-portal"]);
            c["azp"] = json!(hostile_idp::CLIENT_ID);
        }),
        refused("id_token_wrong_audience"),
    )
    .await;
}

#[tokio::test]
async fn a_foreign_authorized_party_is_refused() {
    attack(
        "azp of another client",
        Script::honest().claims(|c| c["azp"] = json!("another-portal")),
        refused("id_token_wrong_authorized_party"),
    )
    .await;
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    attack(
        "exp an hour ago",
        Script::honest().claims(|c| {
            let now = chrono::Utc::now().timestamp();
            c["exp"] = json!(now - 3600);
            c["iat"] = json!(now - 3900);
        }),
        refused("id_token_expired"),
    )
    .await;
}

#[tokio::test]
async fn a_token_issued_in_the_future_is_refused() {
    attack(
        "iat in an hour",
        Script::honest().claims(|c| {
            let now = chrono::Utc::now().timestamp();
            c["iat"] = json!(now + 3600);
            c["exp"] = json!(now + 7200);
        }),
        refused("id_token_issued_in_future"),
    )
    .await;
}

#[tokio::test]
async fn a_token_not_valid_yet_is_refused() {
    attack(
        "nbf in an hour",
        Script::honest().claims(|c| {
            let now = chrono::Utc::now().timestamp();
            c["nbf"] = json!(now + 3600);
        }),
        refused("id_token_not_yet_valid"),
    )
    .await;
}

#[tokio::test]
async fn an_expiry_of_the_wrong_type_is_refused() {
    attack(
        "exp as a string",
        Script::honest().claims(|c| {
            let later = chrono::Utc::now().timestamp() + 3600;
            c["exp"] = json!(later.to_string());
        }),
        refused("id_token_malformed"),
    )
    .await;
}

#[tokio::test]
async fn an_empty_subject_is_refused() {
    attack(
        "empty sub",
        Script::honest().claims(|c| c["sub"] = json!("")),
        refused("id_token_invalid_subject"),
    )
    .await;
}

#[tokio::test]
async fn an_access_token_passed_off_as_an_id_token_is_refused() {
    attack(
        "typ at+jwt",
        Script::honest().header(|h| h["typ"] = json!("at+jwt")),
        refused("id_token_unsupported_header"),
    )
    .await;
}

#[tokio::test]
async fn a_missing_nonce_is_refused() {
    attack(
        "no nonce",
        Script::honest().claims(|c| {
            c.as_object_mut().unwrap().remove("nonce");
        }),
        refused("id_token_nonce_mismatch"),
    )
    .await;
}

#[tokio::test]
async fn a_wrong_nonce_is_refused() {
    attack(
        "nonce of another login",
        Script::honest().claims(|c| c["nonce"] = json!("nonce-of-another-login")),
        refused("id_token_nonce_mismatch"),
    )
    .await;
}

#[tokio::test]
async fn a_missing_acr_gives_no_level_two() {
    attack(
        "no acr",
        Script::honest().claims(|c| {
            c.as_object_mut().unwrap().remove("acr");
        }),
        Outcome::BelowLevelTwo,
    )
    .await;
}

#[tokio::test]
async fn an_unknown_acr_gives_no_level_two() {
    attack(
        "unknown acr",
        Script::honest().claims(|c| c["acr"] = json!("urn:hostile:loa:99")),
        Outcome::BelowLevelTwo,
    )
    .await;
}

#[tokio::test]
async fn an_acr_of_the_wrong_type_is_refused() {
    attack(
        "acr as a number",
        Script::honest().claims(|c| c["acr"] = json!(2)),
        refused("id_token_malformed"),
    )
    .await;
}

#[tokio::test]
async fn a_level_one_acr_when_level_two_was_asked_gives_no_level_two() {
    attack(
        "acr level 1",
        Script::honest().claims(|c| c["acr"] = json!(hostile_idp::ACR_LEVEL_1)),
        Outcome::BelowLevelTwo,
    )
    .await;
}

#[tokio::test]
async fn a_level_two_claim_in_userinfo_does_not_lift_a_level_one_token() {
    // The level comes from the ID token's acr; userinfo cannot add to it.
    attack(
        "acr level 1, userinfo says level 2",
        Script::honest()
            .claims(|c| c["acr"] = json!(hostile_idp::ACR_LEVEL_1))
            .userinfo(|u| u["acr"] = json!(hostile_idp::ACR_LEVEL_2)),
        Outcome::BelowLevelTwo,
    )
    .await;
}

#[tokio::test]
async fn a_stale_auth_time_is_refused() {
    attack(
        "auth_time a day old",
        Script::honest().claims(|c| {
            c["auth_time"] = json!(chrono::Utc::now().timestamp() - 86_400);
        }),
        refused("id_token_authentication_too_old"),
    )
    .await;
}

#[tokio::test]
async fn a_missing_auth_time_under_max_age_is_refused() {
    attack(
        "no auth_time",
        Script::honest().claims(|c| {
            c.as_object_mut().unwrap().remove("auth_time");
        }),
        refused("id_token_missing_auth_time"),
    )
    .await;
}

// --- flow tricks ---

#[tokio::test]
async fn a_state_mismatch_is_refused() {
    attack(
        "state of another login",
        Script::honest().callback(|params| {
            for (name, value) in params.iter_mut() {
                if name == "state" {
                    *value = "state-of-another-login".to_owned();
                }
            }
        }),
        refused("state_mismatch"),
    )
    .await;
}

#[tokio::test]
async fn a_mix_up_with_another_issuer_in_the_callback_is_refused() {
    attack(
        "RFC 9207 iss of another provider",
        Script::honest().callback(|params| {
            for (name, value) in params.iter_mut() {
                if name == "iss" {
                    *value = "https://evil.example".to_owned();
                }
            }
        }),
        refused("issuer_mismatch"),
    )
    .await;
}

#[tokio::test]
async fn a_callback_without_the_advertised_iss_is_refused() {
    attack(
        "no iss although advertised",
        Script::honest().callback(|params| params.retain(|(name, _)| name != "iss")),
        refused("missing_issuer"),
    )
    .await;
}

#[tokio::test]
async fn duplicated_callback_parameters_are_refused() {
    attack(
        "two codes",
        Script::honest().callback(|params| {
            params.push(("code".to_owned(), "code-injected".to_owned()));
        }),
        refused("malformed_callback"),
    )
    .await;
}

#[tokio::test]
async fn a_replayed_code_is_refused() {
    let idp = HostileIdp::start().await;
    let (gw, _) = gateway_on(&idp, BreakerConfig::new(), Arc::new(wardgate::SystemClock)).await;
    // A first, honest login consumes the code.
    let (callback, flow) = start_login(&gw).await;
    let first = gw.get(&callback, Some(&flow)).await;
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    // The provider (or an attacker who saw it) hands the same code to a second login.
    idp.set(Script::honest().replay_first_code());
    let (callback, flow) = start_login(&gw).await;
    let second = gw.get(&callback, Some(&flow)).await;
    assert_eq!(second.status(), StatusCode::BAD_REQUEST);
    assert!(session_cookie(&second).is_none());
    assert!(body_text(second).await.contains(REFUSED_TITLE));
    assert_failure_counted(&gw, "code replay", "code_rejected").await;
    assert_no_level_two_session(&gw, "code replay", None).await;
}

#[tokio::test]
async fn a_replayed_callback_is_refused() {
    let idp = HostileIdp::start().await;
    let (gw, _) = gateway_on(&idp, BreakerConfig::new(), Arc::new(wardgate::SystemClock)).await;
    let (callback, flow) = start_login(&gw).await;
    assert_eq!(
        gw.get(&callback, Some(&flow)).await.status(),
        StatusCode::SEE_OTHER
    );
    // The same callback with the same login-flow cookie: the flow was used up.
    let again = gw.get(&callback, Some(&flow)).await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    assert!(session_cookie(&again).is_none());
    assert!(
        body_text(again)
            .await
            .contains("Phiên đăng nhập đã hết hạn")
    );
    let metrics = gw.metrics_text().await;
    assert!(metrics.contains("wardgate_logins_total{result=\"flow_refused\"} 1\n"));
    // The same callback in another browser (no flow cookie) fares no better.
    let stolen = gw.get(&callback, None).await;
    assert_eq!(stolen.status(), StatusCode::BAD_REQUEST);
    assert_no_level_two_session(&gw, "callback replay", None).await;
}

#[tokio::test]
async fn a_userinfo_subject_mismatch_is_refused() {
    attack(
        "userinfo sub of another resident",
        Script::honest().userinfo(|u| u["sub"] = json!("resident-0002")),
        refused("subject_mismatch"),
    )
    .await;
}

// --- malformed and oversized answers ---

#[tokio::test]
async fn a_megabyte_id_token_is_cut_off_in_transport() {
    attack(
        "1 MiB id_token",
        Script::honest().claims(|c| c["padding"] = json!("A".repeat(1024 * 1024))),
        Outcome::ProviderUnavailable("provider_unavailable"),
    )
    .await;
}

#[tokio::test]
async fn an_oversized_id_token_is_refused_before_parsing() {
    attack(
        "20 KiB id_token",
        Script::honest().claims(|c| c["padding"] = json!("A".repeat(20 * 1024))),
        refused("id_token_too_large"),
    )
    .await;
}

#[tokio::test]
async fn broken_json_from_the_token_endpoint_is_refused() {
    attack(
        "broken token JSON",
        Script::honest().token(TokenAnswer::Status(
            200,
            "{\"access_token\": \"x\", \"id_token\": ".to_owned(),
        )),
        refused("token_endpoint"),
    )
    .await;
}

#[tokio::test]
async fn a_token_response_without_an_id_token_is_refused() {
    attack(
        "no id_token",
        Script::honest().token_response(|t| {
            t.as_object_mut().unwrap().remove("id_token");
        }),
        refused("missing_id_token"),
    )
    .await;
}

#[tokio::test]
async fn a_non_bearer_token_type_is_refused() {
    attack(
        "token_type MAC",
        Script::honest().token_response(|t| t["token_type"] = json!("MAC")),
        refused("token_endpoint"),
    )
    .await;
}

#[tokio::test]
async fn a_garbage_id_token_is_refused() {
    attack(
        "id_token not a JWT",
        Script::honest().token_response(|t| t["id_token"] = json!("<script>alert(1)</script>")),
        refused("id_token_malformed"),
    )
    .await;
}

#[tokio::test]
async fn a_slow_token_endpoint_is_cut_off_and_others_are_served_meanwhile() {
    attack(
        "token endpoint sleeping",
        Script::honest().token(TokenAnswer::Stall),
        Outcome::ProviderUnavailable("provider_unavailable"),
    )
    .await;
}

#[tokio::test]
async fn a_failing_token_endpoint_routes_in_person() {
    attack(
        "token endpoint 500",
        Script::honest().token(TokenAnswer::Status(500, "<h1>oops</h1>".to_owned())),
        Outcome::ProviderUnavailable("provider_unavailable"),
    )
    .await;
}

#[tokio::test]
async fn a_token_endpoint_redirect_is_not_followed() {
    attack(
        "token endpoint redirects to an internal host",
        Script::honest().token(TokenAnswer::RedirectTo(
            "http://169.254.169.254/latest/meta-data/".to_owned(),
        )),
        refused("token_endpoint"),
    )
    .await;
}

#[tokio::test]
async fn a_failing_key_endpoint_during_rotation_is_refused() {
    attack(
        "new kid while the JWKS endpoint fails",
        Script::honest()
            .jwks(JwksAnswer::Failing)
            .signer(Signer::NotInJwks)
            .header(|h| h["kid"] = json!("ec-2")),
        refused("id_token_unknown_key"),
    )
    .await;
}

#[tokio::test]
async fn broken_json_from_userinfo_is_refused() {
    attack(
        "broken userinfo JSON",
        Script::honest().userinfo_answer(UserinfoAnswer::Status(200, "{\"sub\":".to_owned())),
        refused("userinfo"),
    )
    .await;
}

#[tokio::test]
async fn a_failing_userinfo_endpoint_routes_in_person() {
    attack(
        "userinfo 503",
        Script::honest().userinfo_answer(UserinfoAnswer::Status(503, String::new())),
        Outcome::ProviderUnavailable("provider_unavailable"),
    )
    .await;
}

#[tokio::test]
async fn an_injected_error_code_is_sanitised_and_routes_in_person() {
    attack(
        "error with markup",
        Script::honest().callback(|params| {
            params.retain(|(name, _)| name != "code");
            params.push((
                "error".to_owned(),
                "<script>alert(1)</script>\r\nSet-Cookie: x=1".to_owned(),
            ));
        }),
        Outcome::ProviderUnavailable("provider_error"),
    )
    .await;
}

#[tokio::test]
async fn a_discovery_document_naming_another_issuer_is_refused_at_start() {
    let idp = HostileIdp::start().await;
    idp.set(Script::honest().metadata(|m| m["issuer"] = json!("https://evil.example")));
    let refused = RelyingParty::discover(
        idp.issuer(),
        client(),
        provider_http(BreakerConfig::new(), Arc::new(wardgate::SystemClock)),
        Arc::new(wardgate::SystemClock),
        Arc::new(wardgate::clock::SystemRandom::new()),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&refused, DiscoveryError::IssuerMismatch { found, .. } if found == "https://evil.example"),
        "{refused}"
    );
}

#[tokio::test]
async fn a_discovery_document_pointing_elsewhere_over_http_is_refused_at_start() {
    let idp = HostileIdp::start().await;
    idp.set(
        Script::honest().metadata(|m| m["token_endpoint"] = json!("http://internal.example/token")),
    );
    let refused = RelyingParty::discover(
        idp.issuer(),
        client(),
        provider_http(BreakerConfig::new(), Arc::new(wardgate::SystemClock)),
        Arc::new(wardgate::SystemClock),
        Arc::new(wardgate::clock::SystemRandom::new()),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            &refused,
            DiscoveryError::BadEndpoint {
                field: "token_endpoint",
                ..
            }
        ),
        "{refused}"
    );
}

// --- failed logins the gateway remembers ---

/// A login at a provider following `script` falls short: the browser remembers it for the
/// procedure, on the page and in the decision API, until the resident tries again.
async fn remembered_until_try_again(script: Script, reason: &str) {
    let idp = HostileIdp::start().await;
    let (gw, _) = gateway_on(&idp, BreakerConfig::new(), Arc::new(wardgate::SystemClock)).await;
    idp.set(script);
    let (callback, flow) = start_login(&gw).await;
    let response = bounded("the callback", gw.get(&callback, Some(&flow))).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let jar = crate::edges13::jar_after("", &response);
    crate::edges13::assert_remembered_until_try_again(&gw, &jar, reason).await;
}

fn answering_error(error: &'static str) -> Script {
    Script::honest().callback(move |params| {
        params.retain(|(name, _)| name != "code");
        params.push(("error".to_owned(), error.to_owned()));
    })
}

#[tokio::test]
async fn unmet_authentication_requirements_is_remembered_until_the_resident_tries_again() {
    remembered_until_try_again(
        answering_error("unmet_authentication_requirements"),
        "level_below_required",
    )
    .await;
}

#[tokio::test]
async fn access_denied_and_login_required_are_remembered_until_the_resident_tries_again() {
    for error in ["access_denied", "login_required"] {
        remembered_until_try_again(answering_error(error), "resident_cancelled").await;
    }
}

#[tokio::test]
async fn a_silent_level_one_answer_to_a_level_two_login_is_remembered_until_the_resident_tries_again()
 {
    remembered_until_try_again(
        Script::honest().claims(|c| c["acr"] = json!(hostile_idp::ACR_LEVEL_1)),
        "level_below_required",
    )
    .await;
}
