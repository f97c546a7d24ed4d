//! The example gateway's configuration path for every provider profile, through the gateway's
//! HTTP routes: a TOML file or `WARDGATE_PROVIDER_PROFILE`, built-in simulators behaving like
//! the profile, and the resident's outcomes (online filing, in-person referral, cancellation,
//! provider error); then two providers at once, the chooser, and a mixed-up callback refused;
//! and a provider without a discovery document, configured by its endpoints.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Response, StatusCode};
use url::Url;
use wardgate::clock::SystemRandom;
use wardgate::devidp::{self, DevIdp, DevIdpConfig};
use wardgate::oidc::{BreakerConfig, CircuitBreaker, ProviderProfile, RelyingParty, ReqwestHttp};
use wardgate::portal::LoginProvider;
use wardgate::portal::config::{GatewayConfig, Provider};

use crate::endpoints::{Recording, field, published};
use crate::gateway::{
    BIRTH, TestGateway, body_json, body_text, captured_logs, contains, cookie_pair,
    example_dossier, location, set_cookies, submission,
};
use crate::support::devidp::choose_persona;

/// The gateway the example builds from `env` and `toml`: one built-in simulator per provider,
/// each in its provider's profile.
pub(crate) async fn configured_gateway(env: &[(&str, &str)], toml: &str) -> TestGateway {
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let config = GatewayConfig::loader(move |name| env.get(name).cloned())
        .load_str("gateway.toml", toml)
        .unwrap();
    let mut idps = Vec::new();
    let mut providers = Vec::new();
    for provider in config.providers() {
        let (idp, client) = provider.start_simulator(true).await.unwrap().unwrap();
        let rp = RelyingParty::discover(
            idp.issuer().as_str(),
            client,
            ReqwestHttp::new().unwrap(),
            Arc::new(wardgate::SystemClock),
            Arc::new(SystemRandom::new()),
        )
        .await
        .unwrap();
        providers.push(
            LoginProvider::new(provider.id().clone(), rp)
                .label(provider.label().clone())
                .hint(provider.hint().clone()),
        );
        idps.push(Arc::new(idp));
    }
    TestGateway::with_providers(idps, providers)
}

/// A single-provider gateway in `profile`, chosen through the environment as an operator would.
async fn profile_gateway(profile: ProviderProfile) -> TestGateway {
    configured_gateway(&[("WARDGATE_PROVIDER_PROFILE", profile.as_str())], "").await
}

pub(crate) const TWO_PROVIDERS: &str = r#"
[[providers]]
id = "npsp"
profile = "npsp"

[[providers]]
id = "vneid"
profile = "vneid-direct"
"#;

/// Starts a login at `login_path`, picks `persona` at the provider, and answers the callback
/// with the login-flow cookie: the callback response and the session cookie, if any.
pub(crate) async fn sign_in_at(
    gw: &TestGateway,
    login_path: &str,
    persona: &str,
) -> (Response<Body>, Option<String>) {
    let login = gw.get(login_path, None).await;
    assert_eq!(login.status(), StatusCode::SEE_OTHER, "{login_path}");
    let flow_cookie = cookie_pair(&login).expect("login-flow cookie");
    let provider = Url::parse(location(&login)).unwrap();
    let callback = choose_persona(&provider, persona).await;
    let path = format!("{}?{}", callback.path(), callback.query().unwrap_or(""));
    let response = gw.get(&path, Some(&flow_cookie)).await;
    let session = session_cookie(&response);
    (response, session)
}

fn session_cookie(response: &Response<Body>) -> Option<String> {
    set_cookies(response)
        .into_iter()
        .find(|c| c.starts_with("wardgate-session=") && !c.starts_with("wardgate-session=;"))
        .map(|c| c.split(';').next().unwrap().to_owned())
}

fn login_path(provider: Option<&str>) -> String {
    match provider {
        Some(id) => format!("/login?procedure={BIRTH}&provider={id}"),
        None => format!("/login?procedure={BIRTH}"),
    }
}

/// A level-2 resident is signed in at level 2 and files online: 201 and a receipt at level 2.
async fn files_online(gw: &TestGateway, provider: Option<&str>, key: &str) {
    let (callback, session) = sign_in_at(gw, &login_path(provider), "level2").await;
    assert_eq!(callback.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&callback), format!("/procedures/{BIRTH}?lang=vi"));
    let session = session.expect("a session cookie");
    let decision = body_json(
        gw.get(&format!("/api/procedures/{BIRTH}/decision"), Some(&session))
            .await,
    )
    .await;
    assert_eq!(decision["decision"], "online", "{provider:?}: {decision}");
    assert_eq!(decision["level"], 2);

    let dossier = example_dossier(gw, BIRTH).await;
    let path = format!("/api/procedures/{BIRTH}/submissions");
    let filed = gw
        .send(submission(&path, Some(&session), Some(key), &dossier))
        .await;
    assert_eq!(filed.status(), StatusCode::CREATED);
    let filed = body_json(filed).await;
    let jwks = body_json(gw.get("/.well-known/jwks.json", None).await).await;
    let verifier = wardgate::submission::ReceiptVerifier::from_jwks(&jwks).unwrap();
    let receipt = verifier.verify(filed["receipt"].as_str().unwrap()).unwrap();
    assert_eq!(receipt.level, wardgate::Level::Two);
    assert_eq!(
        receipt.dossier_code.to_string(),
        filed["dossier_code"].as_str().unwrap()
    );
}

#[tokio::test]
async fn every_profile_files_a_level_two_resident_online() {
    for profile in ProviderProfile::ALL {
        let gw = profile_gateway(profile).await;
        files_online(&gw, None, &format!("online-{profile}")).await;
    }
}

#[tokio::test]
async fn every_profile_refers_a_level_one_resident_in_person() {
    for profile in ProviderProfile::ALL {
        let gw = profile_gateway(profile).await;
        let (callback, session) = sign_in_at(&gw, &login_path(None), "level1").await;
        assert_eq!(callback.status(), StatusCode::SEE_OTHER, "{profile}");
        let decision = match profile {
            // The level is an `acr` requested as essential: the provider answers that it cannot
            // reach it, and no session is opened.
            ProviderProfile::Standard => {
                assert!(session.is_none(), "{profile}");
                assert_eq!(
                    location(&callback),
                    format!("/procedures/{BIRTH}?lang=vi&outcome=level_unreachable"),
                    "{profile}"
                );
                let api = format!("/api/procedures/{BIRTH}/decision?outcome=level_unreachable");
                body_json(gw.get(&api, None).await).await
            }
            // The level is read from a claim (NPSP's `acr_values` are only a wish): the resident
            // signs in at level 1, which the session records.
            ProviderProfile::Npsp
            | ProviderProfile::VneidDirect
            | ProviderProfile::KeycloakBroker => {
                let session = session.unwrap_or_else(|| panic!("{profile}: a level-1 session"));
                assert_eq!(location(&callback), format!("/procedures/{BIRTH}?lang=vi"));
                let api = format!("/api/procedures/{BIRTH}/decision");
                let decision = body_json(gw.get(&api, Some(&session)).await).await;
                assert_eq!(decision["level"], 1, "{profile}");
                decision
            }
        };
        assert_eq!(decision["decision"], "in_person", "{profile}");
        assert_eq!(decision["reason"], "level_below_required", "{profile}");
        assert!(
            decision["referral"]["point"]["address"].is_string(),
            "{profile}"
        );
    }
}

#[tokio::test]
async fn every_profile_brings_a_cancelled_login_back_without_a_session() {
    for profile in ProviderProfile::ALL {
        let gw = profile_gateway(profile).await;
        let (callback, session) = sign_in_at(&gw, &login_path(None), "cancel").await;
        assert!(session.is_none(), "{profile}");
        assert_eq!(
            location(&callback),
            format!("/procedures/{BIRTH}?lang=vi&outcome=cancelled"),
            "{profile}"
        );
        let page = body_text(gw.get(location(&callback), None).await).await;
        assert!(page.contains("Bạn đã hủy đăng nhập"), "{profile}");
    }
}

#[tokio::test]
async fn every_profile_turns_a_provider_error_into_the_provider_error_outcome() {
    for profile in ProviderProfile::ALL {
        let gw = profile_gateway(profile).await;
        let (callback, session) = sign_in_at(&gw, &login_path(None), "error").await;
        assert!(session.is_none(), "{profile}");
        assert_eq!(
            location(&callback),
            format!("/procedures/{BIRTH}?lang=vi&outcome=provider_unavailable"),
            "{profile}"
        );
        let api = format!("/api/procedures/{BIRTH}/decision?outcome=provider_unavailable");
        let decision = body_json(gw.get(&api, None).await).await;
        assert_eq!(decision["decision"], "in_person", "{profile}");
        assert_eq!(decision["reason"], "provider_unavailable", "{profile}");
    }
}

#[tokio::test]
async fn two_providers_are_offered_on_a_chooser_and_each_signs_in() {
    let gw = configured_gateway(&[], TWO_PROVIDERS).await;
    let chooser = gw.get(&login_path(None), None).await;
    assert_eq!(chooser.status(), StatusCode::OK);
    assert!(set_cookies(&chooser).is_empty(), "no login starts yet");
    let html = body_text(chooser).await;
    assert!(html.contains("<h1>Chọn cách đăng nhập</h1>"));
    assert!(html.contains("Cổng Dịch vụ công quốc gia"));
    assert!(html.contains("Tài khoản định danh điện tử VNeID"));
    assert!(html.contains(&format!(
        "href=\"/login?procedure={BIRTH}&amp;provider=npsp&amp;lang=vi\""
    )));
    assert!(html.contains(&format!(
        "href=\"/login?procedure={BIRTH}&amp;provider=vneid&amp;lang=vi\""
    )));
    assert!(html.contains(&format!("/procedures/{BIRTH}?lang=vi&amp;in_person=1")));
    let english = body_text(gw.get(&format!("{}&lang=en", login_path(None)), None).await).await;
    assert!(english.contains("<h1>Choose how to sign in</h1>"));
    assert!(english.contains("National Public Service Portal"));
    assert_eq!(
        gw.get(&login_path(Some("nowhere")), None).await.status(),
        StatusCode::NOT_FOUND
    );

    // Each provider sends the browser back to its own redirect URI, and files online.
    for id in ["npsp", "vneid"] {
        let (path, _) = answer(&gw, id).await;
        assert_eq!(path, format!("/auth/callback/{id}"));
    }
    files_online(&gw, Some("npsp"), "two-npsp").await;
    files_online(&gw, Some("vneid"), "two-vneid").await;

    // The session says which provider signed the resident in.
    let (_, session) = sign_in_at(&gw, &login_path(Some("vneid")), "level2").await;
    let page = body_text(
        gw.get(&format!("/procedures/{BIRTH}"), session.as_deref())
            .await,
    )
    .await;
    assert!(page.contains("Bạn đã đăng nhập qua Tài khoản định danh điện tử VNeID"));

    let ready = body_json(gw.get("/readyz", None).await).await;
    assert_eq!(ready["identity_providers"]["npsp"], "reachable");
    assert_eq!(ready["identity_providers"]["vneid"], "reachable");
    let metrics = gw.metrics_text().await;
    assert!(
        metrics.contains("wardgate_provider_logins_total{provider=\"vneid\",result=\"success\"} 2")
    );
}

/// Replaces the value of `name` in a raw query, keeping every other byte.
fn replace_param(query: &str, name: &str, value: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((n, _)) if n == name => format!("{n}={value}"),
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn param(url: &Url, name: &str) -> String {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no {name} in {url}"))
}

fn form_encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// The provider's answer to a login of its own, and that login's path and raw query.
async fn answer(gw: &TestGateway, provider: &str) -> (String, String) {
    let login = gw.get(&login_path(Some(provider)), None).await;
    let callback = choose_persona(&Url::parse(location(&login)).unwrap(), "level2").await;
    (
        callback.path().to_owned(),
        callback.query().unwrap().to_owned(),
    )
}

/// A login started at `provider` in a fresh browser: its login-flow cookie and its `state`
/// (read from the provider's answer, which is not delivered: the authorization request may
/// travel by PAR, out of sight).
async fn started(gw: &TestGateway, provider: &str) -> (String, String) {
    let login = gw.get(&login_path(Some(provider)), None).await;
    let flow = cookie_pair(&login).unwrap();
    let callback = choose_persona(&Url::parse(location(&login)).unwrap(), "level2").await;
    (flow, param(&callback, "state"))
}

async fn assert_refused(gw: &TestGateway, path: &str, flow: &str) {
    let refused = gw.get(path, Some(flow)).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{path}");
    assert!(session_cookie(&refused).is_none(), "{path}");
    assert!(
        body_text(refused)
            .await
            .contains("Chúng tôi không xác thực được phản hồi từ hệ thống đăng nhập"),
        "{path}"
    );
}

#[tokio::test]
async fn a_callback_from_the_other_provider_is_refused() {
    let logs = captured_logs();
    let gw = configured_gateway(&[], TWO_PROVIDERS).await;
    // Each provider answers a login of its own: code and state are its own; NPSP adds its `iss`
    // (RFC 9207), VNeID direct sends none.
    let (path_vneid, query_vneid) = answer(&gw, "vneid").await;
    let (path_npsp, query_npsp) = answer(&gw, "npsp").await;
    assert_eq!(path_vneid, "/auth/callback/vneid");
    assert_eq!(path_npsp, "/auth/callback/npsp");

    // 1. VNeID's answer at VNeID's redirect URI, in a browser whose login went to NPSP: it
    //    arrived at another provider's URI, so NPSP's relying party never sees it.
    let (flow, _) = started(&gw, "npsp").await;
    assert_refused(&gw, &format!("{path_vneid}?{query_vneid}"), &flow).await;
    // The login-flow cookie is spent: nothing can follow it.
    let again = gw
        .get(&format!("{path_npsp}?{query_npsp}"), Some(&flow))
        .await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    assert!(session_cookie(&again).is_none());

    // 2. NPSP's answer at VNeID's redirect URI, even with VNeID's state put in: its `iss` names
    //    NPSP, so VNeID's relying party refuses it before the code goes anywhere.
    let (flow, state) = started(&gw, "vneid").await;
    let mixed = replace_param(&query_npsp, "state", &form_encode(&state));
    assert_refused(&gw, &format!("{path_vneid}?{mixed}"), &flow).await;

    // 3. VNeID's answer at NPSP's redirect URI with NPSP's state put in: NPSP advertises `iss`,
    //    and the answer has none.
    let (flow, state) = started(&gw, "npsp").await;
    let mixed = replace_param(&query_vneid, "state", &form_encode(&state));
    assert_refused(&gw, &format!("{path_npsp}?{mixed}"), &flow).await;

    // 4. VNeID's answer, untouched, at NPSP's redirect URI: its state is not this login's.
    let (flow, _) = started(&gw, "npsp").await;
    assert_refused(&gw, &format!("{path_npsp}?{query_vneid}"), &flow).await;

    let logged = logs.0.lock().unwrap().clone();
    for expected in [
        "provider=npsp kind=\"ProviderMismatch\"",
        "provider=vneid kind=IssuerMismatch",
        "provider=npsp kind=MissingIssuer",
        "provider=npsp kind=StateMismatch",
    ] {
        assert!(contains(&logged, expected), "{expected} not logged");
    }
    let metrics = gw.metrics_text().await;
    for expected in [
        "wardgate_provider_logins_total{provider=\"npsp\",result=\"refused\"} 3",
        "wardgate_provider_logins_total{provider=\"vneid\",result=\"refused\"} 1",
        "wardgate_logins_total{result=\"flow_refused\"} 1",
    ] {
        assert!(
            metrics.contains(expected),
            "{expected} missing from {metrics}"
        );
    }
    assert!(!metrics.contains("result=\"success\""));
}

#[tokio::test]
async fn a_gateway_refuses_providers_it_could_mix_up() {
    use wardgate::devidp::{self, DevIdp, DevIdpConfig};
    use wardgate::portal::ProviderId;

    let redirects = [
        "http://127.0.0.1:8080/auth/callback",
        "http://127.0.0.1:8080/auth/callback/a",
        "http://127.0.0.1:8080/auth/callback/b",
    ];
    let idp = DevIdp::start(DevIdpConfig::new().client(
        devidp::DEFAULT_CLIENT_ID,
        Some(devidp::DEFAULT_CLIENT_SECRET),
        redirects,
    ))
    .await
    .unwrap();
    let at_root = rp_at(&idp, redirects[0]).await;
    let at_a = rp_at(&idp, redirects[1]).await;
    let at_b = rp_at(&idp, redirects[2]).await;
    let id = |id: &str| ProviderId::new(id).unwrap();
    let dir = std::env::temp_dir().join(format!("wardgate-mixup-{}", std::process::id()));
    let refused = |providers: Vec<LoginProvider>| {
        crate::gateway::parts_on(
            at_root.clone(),
            &dir,
            Arc::new(wardgate::store::MemoryStore::new()),
            Arc::new(wardgate::SystemClock),
            Arc::new(SystemRandom::new()),
        )
        .providers(providers)
        .build()
        .unwrap_err()
        .to_string()
    };

    assert_eq!(refused(Vec::new()), "no identity provider is given");
    assert_eq!(
        refused(vec![
            LoginProvider::new(id("a"), at_a.clone()),
            LoginProvider::new(id("a"), at_a.clone()),
        ]),
        "provider id `a` is used twice"
    );
    // Two providers on one issuer: RFC 9207 `iss` could not tell their answers apart.
    assert_eq!(
        refused(vec![
            LoginProvider::new(id("a"), at_a.clone()),
            LoginProvider::new(id("b"), at_b),
        ]),
        "providers `a` and `b` have the same issuer: their callbacks could not be told apart"
    );
    // Only the first provider may keep `/auth/callback`; the others need their own URI.
    assert_eq!(
        refused(vec![
            LoginProvider::new(id("a"), at_a.clone()),
            LoginProvider::new(id("b"), at_root.clone()),
        ]),
        "provider `b` has redirect path `/auth/callback`: use `/auth/callback/b` (or \
         `/auth/callback` for the first provider)"
    );
    assert_eq!(
        refused(vec![LoginProvider::new(id("b"), at_a)]),
        "provider `b` has redirect path `/auth/callback/a`: use `/auth/callback/b` (or \
         `/auth/callback` for the first provider)"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A relying party on `idp` for the simulator's default client, redirected to `redirect`.
async fn rp_at(idp: &devidp::DevIdpHandle, redirect: &str) -> RelyingParty {
    let client =
        wardgate::oidc::ClientConfig::new(devidp::DEFAULT_CLIENT_ID, Url::parse(redirect).unwrap())
            .client_secret(devidp::DEFAULT_CLIENT_SECRET);
    RelyingParty::discover(
        idp.issuer().as_str(),
        client,
        ReqwestHttp::new().unwrap(),
        Arc::new(wardgate::SystemClock),
        Arc::new(SystemRandom::new()),
    )
    .await
    .unwrap()
}

/// A `vneid-direct` provider that publishes no discovery document, configured by its endpoints
/// through the environment and the file as an operator would, and built as the example builds
/// it (`ProviderConfig::relying_party`, behind a circuit breaker): a level-2 resident files
/// online, and the gateway never asks for a discovery document.
#[tokio::test]
async fn a_provider_configured_by_its_endpoints_files_a_level_two_resident_online() {
    // The redirect URI the configuration derives from the default public URL.
    let idp = DevIdp::start(
        DevIdpConfig::new()
            .profile(ProviderProfile::VneidDirect)
            .client(
                devidp::DEFAULT_CLIENT_ID,
                Some(devidp::DEFAULT_CLIENT_SECRET),
                ["http://127.0.0.1:8080/auth/callback"],
            ),
    )
    .await
    .unwrap();
    // The endpoints are copied from the simulator's document, as an operator copies them from
    // onboarding papers; the gateway itself never reads it.
    let document = published(&idp).await;
    let env: HashMap<&'static str, String> = HashMap::from([
        ("WARDGATE_ISSUER", idp.issuer().to_string()),
        ("WARDGATE_CLIENT_ID", devidp::DEFAULT_CLIENT_ID.to_owned()),
        (
            "WARDGATE_CLIENT_SECRET",
            devidp::DEFAULT_CLIENT_SECRET.to_owned(),
        ),
        ("WARDGATE_PROVIDER_PROFILE", "vneid-direct".to_owned()),
        (
            "WARDGATE_AUTHORIZATION_ENDPOINT",
            field(&document, "authorization_endpoint"),
        ),
        (
            "WARDGATE_TOKEN_ENDPOINT",
            field(&document, "token_endpoint"),
        ),
        (
            "WARDGATE_PAR_ENDPOINT",
            field(&document, "pushed_authorization_request_endpoint"),
        ),
    ]);
    let toml = format!(
        "[provider]\nuserinfo_endpoint = \"{}\"\nrequire_pushed_authorization_requests = true\n\
         token_endpoint_auth_method = \"client_secret_post\"\n",
        field(&document, "userinfo_endpoint")
    );
    let config = GatewayConfig::loader(move |name| env.get(name).cloned())
        .supplies_decryptor("default")
        .load_str("gateway.toml", &toml)
        .unwrap();
    let [provider] = config.providers() else {
        panic!("one provider")
    };
    assert!(provider.start_simulator(true).await.unwrap().is_none());
    let Provider::External(external) = provider.provider() else {
        panic!("an external provider")
    };
    assert!(external.endpoints().is_some());

    let clock: Arc<dyn wardgate::Clock> = Arc::new(wardgate::SystemClock);
    let recording = Recording::new();
    let http = CircuitBreaker::new(
        recording.clone(),
        BreakerConfig::default(),
        Arc::clone(&clock),
    );
    let monitor = http.monitor();
    let client = provider
        .client_config(true)
        .unwrap()
        .envelope_decryptor(idp.test_decryptor());
    let rp = provider
        .relying_party(
            external.issuer(),
            client,
            http,
            clock,
            Arc::new(SystemRandom::new()),
        )
        .await
        .unwrap();
    assert_eq!(rp.metadata().jwks_uri, None);
    let gw = TestGateway::with_providers(
        vec![Arc::new(idp)],
        vec![
            LoginProvider::new(provider.id().clone(), rp)
                .label(provider.label().clone())
                .hint(provider.hint().clone())
                .circuit(monitor),
        ],
    );
    files_online(&gw, None, "configured-endpoints").await;

    // The pushed request, the token and userinfo requests; never a discovery document or a key
    // set.
    let urls = recording.urls();
    assert!(
        urls.contains(&field(&document, "pushed_authorization_request_endpoint")),
        "{urls:?}"
    );
    assert!(
        urls.contains(&field(&document, "token_endpoint")),
        "{urls:?}"
    );
    assert!(
        urls.contains(&field(&document, "userinfo_endpoint")),
        "{urls:?}"
    );
    assert!(
        urls.iter()
            .all(|u| !u.contains(".well-known") && !u.contains("jwks")),
        "{urls:?}"
    );
}
