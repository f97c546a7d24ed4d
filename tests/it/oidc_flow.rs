//! Full logins through wardgate's relying party against the built-in provider simulator, over
//! real HTTP on loopback.

use std::sync::Arc;

use url::Url;
use wardgate::Level;
use wardgate::assurance::{AcrTable, LevelSource};
use wardgate::clock::SystemRandom;
use wardgate::devidp::{self, DevIdp, DevIdpConfig, DevIdpHandle, SigningAlgorithm};
use wardgate::oidc::{
    Callback, ClientConfig, LoginErrorKind, LoginRequest, RelyingParty, ReqwestHttp, VerifiedLogin,
};

use crate::support::devidp::choose_persona;

const REDIRECT: &str = "http://127.0.0.1:9/auth/callback";

async fn simulator(config: DevIdpConfig) -> DevIdpHandle {
    DevIdp::start(
        config
            .client("portal", Some("portal-secret"), [REDIRECT])
            .client("public-portal", None, [REDIRECT]),
    )
    .await
    .expect("simulator starts")
}

fn acr_source() -> LevelSource {
    LevelSource::acr(AcrTable::new([devidp::ACR_LEVEL_1], [devidp::ACR_LEVEL_2]).unwrap())
}

async fn relying_party(idp: &DevIdpHandle, client: ClientConfig) -> RelyingParty {
    RelyingParty::discover(
        idp.issuer().as_str(),
        client,
        ReqwestHttp::new().unwrap(),
        Arc::new(wardgate::SystemClock),
        Arc::new(SystemRandom::new()),
    )
    .await
    .expect("discovery")
}

fn confidential() -> ClientConfig {
    ClientConfig::new("portal", Url::parse(REDIRECT).unwrap())
        .client_secret("portal-secret")
        .level_source(acr_source())
}

async fn login(
    rp: &RelyingParty,
    request: LoginRequest,
    persona: &str,
) -> Result<VerifiedLogin, wardgate::oidc::LoginError> {
    let (url, pending) = rp.begin(&request).await.unwrap();
    let callback = choose_persona(&url, persona).await;
    assert!(callback.as_str().starts_with(REDIRECT), "{callback}");
    rp.complete(
        pending,
        &Callback::from_query(callback.query().unwrap_or("")),
    )
    .await
}

#[tokio::test]
async fn level_two_resident_reaches_level_two_with_every_algorithm() {
    for algorithm in [
        SigningAlgorithm::Es256,
        SigningAlgorithm::Rs256,
        SigningAlgorithm::EdDsa,
    ] {
        let idp = simulator(DevIdpConfig::new().signing_algorithm(algorithm)).await;
        let rp = relying_party(&idp, confidential()).await;
        let login = login(&rp, LoginRequest::new(Level::Two), "level2")
            .await
            .unwrap();
        assert_eq!(login.assurance().level(), Some(Level::Two), "{algorithm:?}");
        assert_eq!(login.assurance().acr(), Some(devidp::ACR_LEVEL_2));
        assert!(login.assurance().auth_time().is_some());
    }
}

#[tokio::test]
async fn level_one_resident_gets_level_one_never_level_two() {
    let idp = simulator(DevIdpConfig::new()).await;
    let rp = relying_party(&idp, confidential()).await;
    let request = LoginRequest::new(Level::Two).essential_acr(false);
    let login = login(&rp, request, "level1").await.unwrap();
    assert_eq!(login.assurance().level(), Some(Level::One));
    assert_eq!(login.assurance().acr(), Some(devidp::ACR_LEVEL_1));
    // Level 2 was asked and level 1 came back: that is as far as the account goes.
    assert!(login.assurance().is_account_level());

    // Asked for level 1 only, the same `acr` is the level of that one login.
    let asked_one = self::login(&rp, LoginRequest::new(Level::One), "level1")
        .await
        .unwrap();
    assert_eq!(asked_one.assurance().level(), Some(Level::One));
    assert!(!asked_one.assurance().is_account_level());
}

#[tokio::test]
async fn essential_level_two_is_unreachable_for_a_level_one_resident() {
    let idp = simulator(DevIdpConfig::new()).await;
    let rp = relying_party(&idp, confidential()).await;
    let err = login(&rp, LoginRequest::new(Level::Two), "level1")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), LoginErrorKind::LevelUnreachable);
}

#[tokio::test]
async fn cancellation_and_provider_errors_are_typed() {
    let idp = simulator(DevIdpConfig::new()).await;
    let rp = relying_party(&idp, confidential()).await;
    for (persona, kind) in [
        ("cancel", LoginErrorKind::Cancelled),
        ("no_eid", LoginErrorKind::Cancelled),
        ("error", LoginErrorKind::ProviderUnavailable),
    ] {
        let err = login(&rp, LoginRequest::new(Level::Two), persona)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), kind, "{persona}");
    }
}

#[tokio::test]
async fn public_client_with_pushed_requests_and_userinfo_level() {
    let idp = simulator(DevIdpConfig::new()).await;
    let client = ClientConfig::new("public-portal", Url::parse(REDIRECT).unwrap())
        .level_source(LevelSource::vneid());
    let rp = relying_party(&idp, client).await;
    let login = login(&rp, LoginRequest::new(Level::Two), "level2")
        .await
        .unwrap();
    assert_eq!(login.assurance().level(), Some(Level::Two));
    assert!(login.userinfo().is_some());
    let recorded = idp.recorded_authorization_requests();
    let pushed = recorded
        .iter()
        .find(|r| r.channel() == devidp::RequestChannel::Pushed)
        .expect("the request was pushed");
    assert_eq!(pushed.get("code_challenge_method"), Some("S256"));
    assert_eq!(pushed.get("ui_locales"), Some("vi"));
}

#[tokio::test]
async fn front_channel_request_carries_the_level_request() {
    let idp = simulator(DevIdpConfig::new().pushed_authorization_requests(false)).await;
    let rp = relying_party(&idp, confidential()).await;
    let request = LoginRequest::new(Level::Two).max_age(chrono::Duration::minutes(10));
    let login = login(&rp, request, "level2").await.unwrap();
    assert_eq!(login.assurance().level(), Some(Level::Two));
    let recorded = idp.recorded_authorization_requests();
    let front = recorded.last().unwrap();
    assert_eq!(front.channel(), devidp::RequestChannel::FrontChannel);
    assert_eq!(front.get("acr_values"), Some(devidp::ACR_LEVEL_2));
    assert_eq!(front.get("max_age"), Some("600"));
    let claims: serde_json::Value = serde_json::from_str(front.get("claims").unwrap()).unwrap();
    assert_eq!(claims["id_token"]["acr"]["essential"], true);
}

#[tokio::test]
async fn a_callback_from_one_provider_is_refused_by_another() {
    let first = simulator(DevIdpConfig::new()).await;
    let second = simulator(DevIdpConfig::new()).await;
    let rp_first = relying_party(&first, confidential()).await;
    let rp_second = relying_party(&second, confidential()).await;
    let (_, pending_first) = rp_first
        .begin(&LoginRequest::new(Level::Two))
        .await
        .unwrap();
    let (url_second, _) = rp_second
        .begin(&LoginRequest::new(Level::Two))
        .await
        .unwrap();
    // The resident's browser is steered to the second provider while the portal expects the
    // first: the second's response must not complete the first's login.
    let callback = choose_persona(&url_second, "level2").await;
    let err = rp_first
        .complete(
            pending_first,
            &Callback::from_query(callback.query().unwrap_or("")),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.kind(),
            LoginErrorKind::StateMismatch | LoginErrorKind::IssuerMismatch
        ),
        "{:?}",
        err.kind()
    );
}
