//! Relying parties built from configured endpoints (`RelyingParty::from_endpoints`), for
//! providers without a discovery document, against the simulator over real HTTP on loopback.
//!
//! The endpoint URLs are copied from the simulator's discovery document, as an operator copies
//! them from onboarding papers; the relying party itself never asks for that document.

use std::sync::{Arc, Mutex};

use serde_json::Value;
use url::Url;
use wardgate::Level;
use wardgate::assurance::{AcrTable, LevelSource, SourceKind};
use wardgate::clock::SystemRandom;
use wardgate::devidp::{self, DevIdp, DevIdpConfig, DevIdpHandle};
use wardgate::oidc::{
    BoxFuture, Callback, ClientConfig, DiscoveryError, HttpClient, HttpError, IdTokenExpectation,
    LoginError, LoginErrorKind, LoginRequest, ProviderEndpoints, ProviderProfile, RelyingParty,
    ReqwestHttp, VerifiedLogin,
};

use crate::support::devidp::choose_persona;

const REDIRECT: &str = "http://127.0.0.1:9/auth/callback";
/// The default `level2` persona's personal ID number (VNeID direct's subject).
const LEVEL2_PID: &str = "000187004821";
const LEVEL1_PID: &str = "000201007356";

/// The real HTTP client, recording every URL it is asked for.
#[derive(Clone)]
pub(crate) struct Recording {
    inner: Arc<ReqwestHttp>,
    urls: Arc<Mutex<Vec<String>>>,
}

impl Recording {
    pub(crate) fn new() -> Self {
        Self {
            inner: Arc::new(ReqwestHttp::new().unwrap()),
            urls: Arc::default(),
        }
    }

    pub(crate) fn urls(&self) -> Vec<String> {
        self.urls.lock().unwrap().clone()
    }
}

impl HttpClient for Recording {
    fn execute(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> BoxFuture<'_, Result<http::Response<Vec<u8>>, HttpError>> {
        self.urls.lock().unwrap().push(request.uri().to_string());
        self.inner.execute(request)
    }
}

async fn simulator(profile: ProviderProfile) -> DevIdpHandle {
    DevIdp::start(DevIdpConfig::new().profile(profile).client(
        "portal",
        Some("portal-secret"),
        [REDIRECT],
    ))
    .await
    .expect("simulator starts")
}

/// The simulator's discovery document, read by the test (not by the relying party).
pub(crate) async fn published(idp: &DevIdpHandle) -> Value {
    let url = idp
        .issuer()
        .join(".well-known/openid-configuration")
        .unwrap();
    let body = reqwest::get(url).await.unwrap().bytes().await.unwrap();
    serde_json::from_slice(&body).unwrap()
}

pub(crate) fn field(document: &Value, name: &str) -> String {
    document[name]
        .as_str()
        .unwrap_or_else(|| panic!("{name} in {document}"))
        .to_owned()
}

/// What an operator configures for `idp`, without a key set.
async fn endpoints_without_keys(idp: &DevIdpHandle) -> ProviderEndpoints {
    let document = published(idp).await;
    ProviderEndpoints::new(
        field(&document, "authorization_endpoint"),
        field(&document, "token_endpoint"),
    )
    .userinfo_endpoint(field(&document, "userinfo_endpoint"))
}

fn vneid_config(idp: &DevIdpHandle) -> ClientConfig {
    ClientConfig::new("portal", Url::parse(REDIRECT).unwrap())
        .client_secret("portal-secret")
        .profile(ProviderProfile::VneidDirect)
        .envelope_decryptor(idp.test_decryptor())
}

fn standard_config() -> ClientConfig {
    ClientConfig::new("portal", Url::parse(REDIRECT).unwrap())
        .client_secret("portal-secret")
        .level_source(LevelSource::acr(
            AcrTable::new([devidp::ACR_LEVEL_1], [devidp::ACR_LEVEL_2]).unwrap(),
        ))
}

async fn build(
    idp: &DevIdpHandle,
    endpoints: ProviderEndpoints,
    config: ClientConfig,
    http: Recording,
) -> Result<RelyingParty, DiscoveryError> {
    RelyingParty::from_endpoints(
        idp.issuer().as_str(),
        endpoints,
        config,
        http,
        Arc::new(wardgate::SystemClock),
        Arc::new(SystemRandom::new()),
    )
    .await
}

async fn sign_in(
    rp: &RelyingParty,
    request: &LoginRequest,
    persona: &str,
) -> Result<VerifiedLogin, LoginError> {
    let (url, pending) = rp.begin(request).await.unwrap();
    let callback = choose_persona(&url, persona).await;
    rp.complete(
        pending,
        &Callback::from_query(callback.query().unwrap_or("")),
    )
    .await
}

#[tokio::test]
async fn vneid_direct_signs_in_from_configured_endpoints_at_level_two_and_one() {
    let idp = simulator(ProviderProfile::VneidDirect).await;
    let document = published(&idp).await;
    let http = Recording::new();
    let par = field(&document, "pushed_authorization_request_endpoint");
    let rp = build(
        &idp,
        endpoints_without_keys(&idp)
            .await
            .pushed_authorization_request_endpoint(par.clone()),
        vneid_config(&idp),
        http.clone(),
    )
    .await
    .unwrap();
    // Building fetched nothing: there is no key set to fetch and no discovery document.
    assert_eq!(http.urls(), Vec::<String>::new());
    assert_eq!(rp.issuer(), idp.issuer().as_str());
    assert_eq!(rp.metadata().jwks_uri, None);

    let login = sign_in(&rp, &LoginRequest::new(Level::Two), "level2")
        .await
        .unwrap();
    let assurance = login.assurance();
    assert_eq!(assurance.level(), Some(Level::Two));
    assert_eq!(assurance.source(), SourceKind::UserinfoClaim);
    assert!(!assurance.has_signed_id_token());
    assert_eq!(login.subject(), LEVEL2_PID);
    assert_eq!(login.issuer(), idp.issuer().as_str());
    assert_eq!(login.profile(), ProviderProfile::VneidDirect);
    // The pushed request, the token and userinfo requests; never discovery or keys.
    let urls = http.urls();
    assert_eq!(
        urls,
        [
            par,
            field(&document, "token_endpoint"),
            field(&document, "userinfo_endpoint"),
        ]
    );

    // Without a pushed-request endpoint the parameters travel in the authorization URL, and a
    // level-1 resident gets level 1.
    let http = Recording::new();
    let rp = build(
        &idp,
        endpoints_without_keys(&idp).await,
        vneid_config(&idp),
        http.clone(),
    )
    .await
    .unwrap();
    let (url, _) = rp.begin(&LoginRequest::new(Level::Two)).await.unwrap();
    assert!(
        url.as_str()
            .starts_with(&field(&document, "authorization_endpoint")),
        "{url}"
    );
    assert!(
        url.query_pairs()
            .any(|(k, v)| k == "code_challenge_method" && v == "S256")
    );
    let login = sign_in(&rp, &LoginRequest::new(Level::Two), "level1")
        .await
        .unwrap();
    assert_eq!(login.assurance().level(), Some(Level::One));
    assert!(!login.assurance().meets(Level::Two));
    assert_eq!(login.subject(), LEVEL1_PID);
    assert!(http.urls().iter().all(|u| !u.contains(".well-known")));
}

#[tokio::test]
async fn configured_endpoints_are_probed_at_the_authorization_endpoint() {
    let idp = simulator(ProviderProfile::VneidDirect).await;
    let http = Recording::new();
    let rp = build(
        &idp,
        endpoints_without_keys(&idp).await,
        vneid_config(&idp),
        http.clone(),
    )
    .await
    .unwrap();
    // A bare request is refused with a 4xx page: the provider is up.
    assert!(rp.is_reachable().await);
    assert_eq!(
        http.urls(),
        [field(&published(&idp).await, "authorization_endpoint")]
    );
    idp.shutdown().await.unwrap();
    assert!(!rp.is_reachable().await);
}

#[tokio::test]
async fn a_profile_requiring_an_id_token_without_a_key_set_is_refused_at_construction() {
    let idp = simulator(ProviderProfile::Standard).await;
    let http = Recording::new();
    for (config, profile) in [
        (standard_config(), "standard"),
        (
            ClientConfig::new("portal", Url::parse(REDIRECT).unwrap())
                .client_secret("portal-secret")
                .profile(ProviderProfile::KeycloakBroker),
            "keycloak-broker",
        ),
    ] {
        let err = build(
            &idp,
            endpoints_without_keys(&idp).await,
            config,
            http.clone(),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(err, DiscoveryError::KeySetRequired { .. }),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!(
                "no `jwks_uri` is configured, but the client requires a signed ID token \
                 (profile `{profile}`): configure `jwks_uri`, or use a profile that expects no \
                 ID token"
            )
        );
    }

    // Not requiring an ID token is not enough while the level is read from one: every login
    // would end without a level.
    let config = standard_config().id_token_expectation(IdTokenExpectation::Absent);
    let err = build(
        &idp,
        endpoints_without_keys(&idp).await,
        config,
        http.clone(),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "no `jwks_uri` is configured, but the level source `id_token_acr` reads the ID token: \
         configure `jwks_uri`, or read the level from userinfo"
    );
    assert_eq!(http.urls(), Vec::<String>::new());
}

#[tokio::test]
async fn an_id_token_that_arrives_without_a_key_set_fails_the_login() {
    // A provider that does send ID tokens, configured as if it sent none, with the level in
    // userinfo.
    let idp = simulator(ProviderProfile::Standard).await;
    let config = standard_config()
        .id_token_expectation(IdTokenExpectation::Absent)
        .level_source(LevelSource::vneid());
    let rp = build(
        &idp,
        endpoints_without_keys(&idp).await,
        config,
        Recording::new(),
    )
    .await
    .unwrap();
    let err = sign_in(
        &rp,
        &LoginRequest::new(Level::Two).essential_acr(false),
        "level2",
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), LoginErrorKind::IdTokenWithoutKeySet);
    assert_eq!(err.kind().code(), "id_token_without_key_set");
    assert_eq!(
        err.to_string(),
        "the provider sent an ID token and no key set (jwks_uri) is configured to verify it"
    );
}

#[tokio::test]
async fn a_standard_provider_with_a_configured_key_set_signs_in_and_keeps_rfc_9207() {
    let idp = simulator(ProviderProfile::Standard).await;
    let document = published(&idp).await;
    let http = Recording::new();
    let rp = build(
        &idp,
        endpoints_without_keys(&idp)
            .await
            .jwks_uri(field(&document, "jwks_uri"))
            .authorization_response_iss_parameter_supported(true),
        standard_config(),
        http.clone(),
    )
    .await
    .unwrap();
    // The key set is fetched once, at construction.
    assert_eq!(http.urls(), [field(&document, "jwks_uri")]);
    let request = LoginRequest::new(Level::Two).essential_acr(false);
    let login = sign_in(&rp, &request, "level2").await.unwrap();
    assert_eq!(login.assurance().level(), Some(Level::Two));
    assert!(login.assurance().has_signed_id_token());
    assert_eq!(login.assurance().acr(), Some(devidp::ACR_LEVEL_2));

    // The provider was configured as sending `iss`: a callback without it is refused.
    let (url, pending) = rp.begin(&request).await.unwrap();
    let callback = choose_persona(&url, "level2").await;
    let query = callback.query().unwrap_or("");
    assert!(query.contains("iss="), "{query}");
    let stripped = query
        .split('&')
        .filter(|pair| !pair.starts_with("iss="))
        .collect::<Vec<_>>()
        .join("&");
    let err = rp
        .complete(pending, &Callback::from_query(&stripped))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), LoginErrorKind::MissingIssuer);
}

#[tokio::test]
async fn an_unreachable_key_set_or_a_wrong_auth_method_is_refused_with_its_setting() {
    let idp = simulator(ProviderProfile::Standard).await;
    let missing = idp.issuer().join("no-such-keys").unwrap().to_string();
    let err = build(
        &idp,
        endpoints_without_keys(&idp).await.jwks_uri(missing.clone()),
        standard_config(),
        Recording::new(),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("`{missing}` answered with status 404")
    );

    let http = Recording::new();
    let err = build(
        &idp,
        endpoints_without_keys(&idp)
            .await
            .token_endpoint_auth_method("none"),
        vneid_config(&idp),
        http.clone(),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "setting `token_endpoint_auth_method` = `none` is not acceptable: expected \
         client_secret_basic or client_secret_post for a client with a secret"
    );
    let public = ClientConfig::new("portal", Url::parse(REDIRECT).unwrap())
        .profile(ProviderProfile::VneidDirect);
    let err = build(
        &idp,
        endpoints_without_keys(&idp).await,
        public,
        http.clone(),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "setting `token_endpoint_auth_method` = `client_secret_basic` is not acceptable: \
         expected none for a client without a secret"
    );
    assert_eq!(http.urls(), Vec::<String>::new());
}
