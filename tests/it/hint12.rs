//! `id_token_hint` at sign-out: the ID token of the sign-in is kept in a sealed cookie scoped to
//! the logout path and sent to the provider's end-session endpoint, through the gateway's
//! routes against the provider simulator.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, Response, StatusCode, header};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use url::Url;
use wardgate::clock::SystemRandom;
use wardgate::devidp::{self, DevIdpHandle};
use wardgate::oidc::{ProviderProfile, RelyingParty, ReqwestHttp};
use wardgate::portal::LoginProvider;
use wardgate::portal::config::GatewayConfig;

use crate::gateway::{BIRTH, TestGateway, body_text, location, set_cookies};
use crate::support::devidp::choose_persona;
use crate::support::jar;

/// The hint cookie's name on the tests' plain-http loopback URL (no prefix there).
const HINT: &str = "wardgate-logout-hint";
/// The simulator's subject of the level-2 persona.
const LEVEL2_SUB: &str = "devidp-p2-7f3a91c4e0b25d68";

/// A gateway on one simulator in `profile`, configured as an operator would, and the browser's
/// cookie jar.
struct Browser {
    gw: TestGateway,
    idp: Arc<DevIdpHandle>,
    jar: BTreeMap<String, String>,
}

impl Browser {
    async fn new(profile: ProviderProfile) -> Self {
        let env = HashMap::from([(
            "WARDGATE_PROVIDER_PROFILE".to_owned(),
            profile.as_str().to_owned(),
        )]);
        let config = GatewayConfig::loader(move |name| env.get(name).cloned())
            .load_str("gateway.toml", "")
            .unwrap();
        let provider = &config.providers()[0];
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
        let idp = Arc::new(idp);
        let gw = TestGateway::with_providers(
            vec![Arc::clone(&idp)],
            vec![LoginProvider::new(provider.id().clone(), rp)],
        );
        Self {
            gw,
            idp,
            jar: BTreeMap::new(),
        }
    }

    /// Sends `request` with the jar's cookies; keeps what the response sets, drops what it
    /// removes.
    async fn send(&mut self, mut request: Request<Body>) -> Response<Body> {
        jar::attach(&self.jar, &mut request);
        let response = self.gw.send(request).await;
        jar::keep(&mut self.jar, &response);
        response
    }

    async fn get(&mut self, path: &str) -> Response<Body> {
        self.send(Request::get(path).body(Body::empty()).unwrap())
            .await
    }

    /// Signs the level-2 persona in: the callback response.
    async fn sign_in(&mut self) -> Response<Body> {
        let login = self.get(&format!("/login?procedure={BIRTH}")).await;
        assert_eq!(login.status(), StatusCode::SEE_OTHER);
        let callback = choose_persona(&Url::parse(location(&login)).unwrap(), "level2").await;
        let path = format!("{}?{}", callback.path(), callback.query().unwrap_or(""));
        let response = self.get(&path).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert!(self.jar.contains_key("wardgate-session"));
        response
    }

    /// Posts the sign-out form of the procedure page: the answer, and the end-session URL it
    /// sends the browser on to.
    async fn sign_out(&mut self) -> (Vec<String>, Url) {
        let page = body_text(self.get(&format!("/procedures/{BIRTH}")).await).await;
        let token = page
            .split("action=\"/logout\"")
            .nth(1)
            .and_then(|form| form.split("name=\"csrf_token\" value=\"").nth(1))
            .and_then(|rest| rest.split('"').next())
            .expect("the sign-out form's token")
            .to_owned();
        let out = self
            .send(
                Request::post("/logout")
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(Body::from(format!("csrf_token={token}&lang=en")))
                    .unwrap(),
            )
            .await;
        assert_eq!(out.status(), StatusCode::OK);
        let cookies = set_cookies(&out);
        let page = body_text(out).await;
        let target = page
            .split("http-equiv=\"refresh\" content=\"0;url=")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("a refresh to the provider")
            .replace("&amp;", "&");
        (cookies, Url::parse(&target).unwrap())
    }
}

fn hint_cookies(cookies: &[String]) -> Vec<&String> {
    cookies
        .iter()
        .filter(|c| c.starts_with(&format!("{HINT}=")))
        .collect()
}

fn params(url: &Url) -> BTreeMap<String, String> {
    url.query_pairs().into_owned().collect()
}

/// The simulator's answer to the browser at `url`: its status.
async fn follow(url: &Url) -> u16 {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(url.clone())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn sign_out_sends_the_id_token_of_the_sign_in_as_id_token_hint() {
    let mut browser = Browser::new(ProviderProfile::Npsp).await;
    let callback = browser.sign_in().await;
    // Set at sign-in, sent by browsers to the logout path only, for the session's absolute
    // timeout (8 h by default).
    let set = set_cookies(&callback);
    let hint = hint_cookies(&set);
    assert_eq!(hint.len(), 1, "{set:?}");
    assert!(
        hint[0].ends_with("; Path=/logout; Max-Age=28800; HttpOnly; SameSite=Lax"),
        "{}",
        hint[0]
    );

    let (cookies, end_session) = browser.sign_out().await;
    let params = params(&end_session);
    let token = &params["id_token_hint"];
    // The simulator's ID token for this client and this resident.
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    assert_eq!(claims["iss"], browser.idp.issuer().as_str());
    assert_eq!(claims["aud"], devidp::DEFAULT_CLIENT_ID);
    assert_eq!(claims["sub"], LEVEL2_SUB);
    // The other parameters are still there.
    assert_eq!(params["client_id"], devidp::DEFAULT_CLIENT_ID);
    assert!(params["post_logout_redirect_uri"].ends_with("/auth/logged-out"));
    assert!(params["state"].len() >= 20);
    assert_eq!(params["ui_locales"], "en");
    // Removed at sign-out, on the path it was set at.
    let removed = hint_cookies(&cookies);
    assert_eq!(removed.len(), 1, "{cookies:?}");
    assert!(
        removed[0].contains("Path=/logout; Max-Age=0"),
        "{}",
        removed[0]
    );
    assert!(!browser.jar.contains_key(HINT));

    // The simulator accepts the hint and sends the browser back.
    assert_eq!(follow(&end_session).await, 303);
    let recorded = browser.idp.recorded_end_session_requests();
    assert_eq!(recorded.len(), 1);
}

#[tokio::test]
async fn the_simulator_refuses_a_forged_id_token_hint() {
    let mut browser = Browser::new(ProviderProfile::Npsp).await;
    browser.sign_in().await;
    let (_, end_session) = browser.sign_out().await;
    let params = params(&end_session);
    let token = &params["id_token_hint"];
    // Another payload under the same signature.
    let (header, rest) = token.split_once('.').unwrap();
    let signature = rest.split_once('.').unwrap().1;
    let forged_payload = URL_SAFE_NO_PAD.encode(
        serde_json::json!({"iss": browser.idp.issuer().as_str(), "aud": devidp::DEFAULT_CLIENT_ID, "sub": "someone-else"})
            .to_string(),
    );
    let forged = format!("{header}.{forged_payload}.{signature}");
    let mut url = end_session.clone();
    url.query_pairs_mut()
        .clear()
        .extend_pairs(params.iter().filter(|(k, _)| *k != "id_token_hint"))
        .append_pair("id_token_hint", &forged);
    assert_eq!(follow(&url).await, 400);
    // The genuine one is accepted, also without `client_id` (the hint names the client).
    let mut url = end_session.clone();
    url.query_pairs_mut()
        .clear()
        .extend_pairs(params.iter().filter(|(k, _)| *k != "client_id"));
    assert_eq!(follow(&url).await, 303);
}

#[tokio::test]
async fn a_tampered_hint_cookie_is_ignored_and_sign_out_still_works() {
    let mut browser = Browser::new(ProviderProfile::Npsp).await;
    browser.sign_in().await;
    // One character in the middle of the sealed value changed.
    let value = browser.jar.get_mut(HINT).expect("the hint cookie");
    let middle = value.len() / 2;
    let flipped = if &value[middle..=middle] == "A" {
        "B"
    } else {
        "A"
    };
    value.replace_range(middle..=middle, flipped);

    let (cookies, end_session) = browser.sign_out().await;
    let params = params(&end_session);
    assert!(!params.contains_key("id_token_hint"), "{params:?}");
    assert_eq!(params["client_id"], devidp::DEFAULT_CLIENT_ID);
    assert_eq!(hint_cookies(&cookies).len(), 1);
    assert!(!browser.jar.contains_key(HINT));
    assert!(!browser.jar.contains_key("wardgate-session"));
    assert_eq!(follow(&end_session).await, 303);
}

#[tokio::test]
async fn a_profile_without_an_id_token_sends_no_hint_and_keeps_no_token() {
    let mut browser = Browser::new(ProviderProfile::VneidDirect).await;
    let callback = browser.sign_in().await;
    // Only the removal of a previous sign-in's hint: nothing is kept.
    let set = set_cookies(&callback);
    let hint = hint_cookies(&set);
    assert_eq!(hint.len(), 1, "{set:?}");
    assert!(hint[0].starts_with(&format!("{HINT}=; Path=/logout; Max-Age=0")));
    assert!(!browser.jar.contains_key(HINT));

    let (_, end_session) = browser.sign_out().await;
    let params = params(&end_session);
    assert!(!params.contains_key("id_token_hint"), "{params:?}");
    assert_eq!(params["client_id"], devidp::DEFAULT_CLIENT_ID);
    assert_eq!(follow(&end_session).await, 303);
}
