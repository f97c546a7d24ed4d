//! A level-1 account goes in person inside the policy, so the procedure page, the decision API
//! and gateway mode's `/auth/check` agree; a level-1 `acr` of one login keeps its step-up.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use tower::ServiceExt as _;
use url::Url;
use wardgate::clock::SystemRandom;
use wardgate::devidp::DevIdpHandle;
use wardgate::oidc::{RelyingParty, ReqwestHttp};
use wardgate::policy::ProcedureCode;
use wardgate::portal::LoginProvider;
use wardgate::portal::config::GatewayConfig;
use wardgate::portal::upstream::{GateRule, Requirement, Upstream};
use wardgate::store::MemoryStore;

use crate::gateway::{
    BIRTH, TestGateway, body_json, body_text, cookie_pair, location, set_cookies,
};
use crate::support::devidp::choose_persona;

/// Gateway mode in front of an upstream nobody calls: `/auth/check` only decides.
fn upstream() -> Upstream {
    Upstream::new(Url::parse("http://127.0.0.1:9").unwrap())
        .unwrap()
        .rule(
            GateRule::new(
                "/nop-ho-so/khai-sinh",
                Requirement::Procedure(ProcedureCode::parse(BIRTH).unwrap()),
            )
            .unwrap(),
        )
        .unwrap()
}

/// A gateway whose one provider is a `vneid-direct` simulator (the level is the userinfo
/// `accountLevel`), with `upstream`; the simulator must outlive the gateway.
async fn vneid_gateway() -> (TestGateway, DevIdpHandle) {
    let env: HashMap<String, String> = HashMap::from([(
        "WARDGATE_PROVIDER_PROFILE".to_owned(),
        "vneid-direct".to_owned(),
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
    let login = LoginProvider::new(provider.id().clone(), rp);
    let gw = TestGateway::with_parts(Arc::new(MemoryStore::new()), |parts| {
        parts.providers(vec![login]).with_upstream(upstream())
    })
    .await;
    (gw, idp)
}

/// The built-in simulator (levels are `acr` values), with the same upstream.
async fn acr_gateway() -> TestGateway {
    TestGateway::with_parts(Arc::new(MemoryStore::new()), |parts| {
        parts.with_upstream(upstream())
    })
    .await
}

/// Signs `persona` in through `/login` with no procedure, which asks for level 1 only: no
/// step-up is recorded and no failed login remembered. Returns the session cookie.
async fn plain_sign_in(gw: &TestGateway, persona: &str) -> String {
    let login = gw.get("/login", None).await;
    assert_eq!(login.status(), StatusCode::SEE_OTHER);
    let flow = cookie_pair(&login).expect("login-flow cookie");
    let callback = choose_persona(&Url::parse(location(&login)).unwrap(), persona).await;
    let path = format!("{}?{}", callback.path(), callback.query().unwrap_or(""));
    let response = gw.get(&path, Some(&flow)).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let cookies = set_cookies(&response);
    assert!(
        !cookies
            .iter()
            .any(|c| c.starts_with("wardgate-failed-logins=")),
        "{cookies:?}"
    );
    cookies
        .into_iter()
        .find(|c| c.starts_with("wardgate-session=") && !c.starts_with("wardgate-session=;"))
        .map(|c| c.split(';').next().unwrap().to_owned())
        .expect("a level-1 session")
}

async fn auth_check(gw: &TestGateway, session: &str) -> axum::response::Response {
    let request = Request::get(format!("/auth/check?procedure={BIRTH}"))
        .header(header::HOST, "127.0.0.1:8080")
        .header(header::COOKIE, session)
        .header("x-original-uri", "/nop-ho-so/khai-sinh")
        .body(Body::empty())
        .unwrap();
    gw.router.clone().oneshot(request).await.unwrap()
}

#[tokio::test]
async fn a_level_one_account_goes_in_person_on_the_page_the_decision_api_and_auth_check() {
    let (gw, _idp) = vneid_gateway().await;
    let session = plain_sign_in(&gw, "level1").await;

    let api = format!("/api/procedures/{BIRTH}/decision");
    let decision = body_json(gw.get(&api, Some(&session)).await).await;
    assert_eq!(decision["decision"], "in_person", "{decision}");
    assert_eq!(decision["reason"], "level_below_required", "{decision}");
    assert_eq!(decision["level"], 1, "{decision}");
    assert_eq!(
        decision["diagnostics"]["step_up_tried"], false,
        "{decision}"
    );

    let check = auth_check(&gw, &session).await;
    assert_eq!(check.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        check.headers()["x-wardgate-referral"],
        format!("/procedures/{BIRTH}?in_person=1&lang=vi").as_str()
    );

    // The page still leads with the level-1 account's route in person.
    let page = gw
        .get(&format!("/procedures/{BIRTH}?lang=vi"), Some(&session))
        .await;
    let html = body_text(page).await;
    assert!(
        html.contains("Tài khoản của bạn ở mức độ 1: nộp hồ sơ trực tiếp"),
        "{html}"
    );
    assert!(!html.contains("Cần đăng nhập lại"), "{html}");
}

#[tokio::test]
async fn a_level_one_acr_of_one_login_keeps_its_step_up_everywhere() {
    // The login asked for level 1 only: the provider may authenticate at level 2 when asked.
    let gw = acr_gateway().await;
    let session = plain_sign_in(&gw, "level1").await;

    let api = format!("/api/procedures/{BIRTH}/decision");
    let decision = body_json(gw.get(&api, Some(&session)).await).await;
    assert_eq!(decision["decision"], "step_up", "{decision}");
    assert_eq!(decision["reason"], "level_below_required", "{decision}");

    let check = auth_check(&gw, &session).await;
    assert_eq!(check.status(), StatusCode::UNAUTHORIZED);
    assert!(
        check.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .contains("insufficient_user_authentication")
    );

    let page = gw
        .get(&format!("/procedures/{BIRTH}?lang=vi"), Some(&session))
        .await;
    let html = body_text(page).await;
    assert!(html.contains("Cần đăng nhập lại"), "{html}");
}

#[tokio::test]
async fn two_officers_posting_attended_at_once_record_one_outcome() {
    use crate::counter::{cookie_named, counter_post, counter_token, page, ticket_on};

    // On SQLite, so each post really waits on the store between its check and its append.
    let dir = crate::support::store::TempDir::new("review-counter");
    let idp = Arc::new(crate::gateway::simulator().await);
    let gw = TestGateway::on_sqlite(&idp, dir.path()).await;
    let referral = page(&gw, &format!("/procedures/{BIRTH}?in_person=1"), None).await;
    let ticket = ticket_on(&body_text(referral).await);
    let officer = crate::gateway::staff_login(&gw, "officer").await;
    let staff = cookie_named(&officer, "wardgate-staff=").unwrap();
    let token = counter_token(&gw, &staff, &ticket).await;

    // Interleaved on one task: each post reads "nothing recorded" before any of them appends.
    let post = |outcome: &'static str| {
        let (gw, staff, ticket, token) = (&gw, &staff, &ticket, &token);
        async move {
            counter_post(gw, staff, ticket, outcome, &[("csrf_token", token)])
                .await
                .status()
        }
    };
    let (a, b, c, d) = tokio::join!(
        post("attended"),
        post("attended"),
        post("not-needed"),
        post("attended")
    );
    let statuses = [a, b, c, d];
    let recorded = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((recorded, refused), (1, 3), "{statuses:?}");

    // The statistics count one outcome for the ticket, whichever post won.
    let figures = body_json(gw.get("/api/stats", Some(&staff)).await).await;
    let counted: u64 = figures["counter"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(counted, 1, "{figures}");
}
