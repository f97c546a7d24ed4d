//! Faults: the identity provider down or slow. The gateway's provider client is the one the
//! example builds (reqwest with timeouts behind a circuit breaker); the breaker's cool-down runs
//! on a clock the test moves.
//!
//! While the provider is out: signed-in residents still file, everyone still sees the
//! procedures, a new sign-in ends on the in-person referral with reason `provider_unavailable`,
//! `/readyz` answers `200` with `status: degraded`, no resident page answers a 5xx, and every
//! request finishes within a bound; staff signing in get a notice on the staff page. When the
//! provider is back, the half-open probe closes the circuit and sign-ins work again.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, Response, StatusCode};
use serde_json::Value;
use wardgate::clock::FixedClock;
use wardgate::oidc::{BreakerConfig, CircuitState};

use crate::gateway::{
    BIRTH, TestGateway, body_json, example_dossier, location, set_cookies, submission,
};
use crate::hostile::{
    assert_no_level_two_session, assert_referral_for_unavailable_provider, bounded, gateway_on,
    start_login,
};
use crate::support::hostile_idp::{HostileIdp, Script};

const COOL_DOWN: chrono::Duration = chrono::Duration::seconds(30);
/// More than the gateway's shortest time between two probes of the provider (5 s).
const PROBE_SPACING: chrono::Duration = chrono::Duration::seconds(6);

fn breaker() -> BreakerConfig {
    BreakerConfig::new()
        .failure_threshold(3)
        .cool_down(COOL_DOWN)
}

/// A full login against the provider; returns the session cookie.
async fn sign_in(gw: &TestGateway) -> String {
    let (callback, flow) = start_login(gw).await;
    let response = bounded("the callback", gw.get(&callback, Some(&flow))).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    set_cookies(&response)
        .into_iter()
        .find(|c| c.starts_with("wardgate-session=") && !c.starts_with("wardgate-session=;"))
        .map(|c| c.split(';').next().unwrap().to_owned())
        .expect("a session cookie")
}

async fn files_online(gw: &TestGateway, session: &str, key: &str) {
    let dossier = example_dossier(gw, BIRTH).await;
    let response = bounded(
        "a submission",
        gw.send(submission(
            &format!("/api/procedures/{BIRTH}/submissions"),
            Some(session),
            Some(key),
            &dossier,
        )),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED, "{key}");
}

async fn readiness(gw: &TestGateway) -> (StatusCode, Value) {
    let response = bounded("GET /readyz", gw.get("/readyz", None)).await;
    let status = response.status();
    (status, body_json(response).await)
}

/// A new resident's sign-in ends on the referral with reason `provider_unavailable`.
async fn login_is_referred(gw: &TestGateway, what: &str) {
    let login = bounded(
        "GET /login",
        gw.get(&format!("/login?procedure={BIRTH}"), None),
    )
    .await;
    assert_eq!(login.status(), StatusCode::SEE_OTHER, "{what}");
    let target = location(&login).to_owned();
    assert_eq!(
        target,
        format!("/procedures/{BIRTH}?lang=vi&outcome=provider_unavailable"),
        "{what}"
    );
    assert_referral_for_unavailable_provider(gw, what, &target).await;
}

/// Every resident page answers without a 5xx, with and without a session.
async fn resident_pages_answer(gw: &TestGateway, session: &str) {
    for path in [
        "/".to_owned(),
        "/?lang=en".to_owned(),
        format!("/procedures/{BIRTH}"),
        format!("/procedures/{BIRTH}?in_person=1"),
        "/api/procedures".to_owned(),
        format!("/api/procedures/{BIRTH}/decision"),
        "/healthz".to_owned(),
    ] {
        for cookie in [None, Some(session)] {
            let response = bounded(&path, gw.get(&path, cookie)).await;
            assert_eq!(
                response.status(),
                StatusCode::OK,
                "{path} (signed in: {})",
                cookie.is_some()
            );
        }
    }
}

#[tokio::test]
async fn provider_down_degrades_without_failing_residents_and_recovers() {
    let mut idp = HostileIdp::start().await;
    let clock = Arc::new(FixedClock::new(chrono::Utc::now()));
    let (gw, circuit) = gateway_on(&idp, breaker(), clock.clone()).await;
    let session = sign_in(&gw).await;
    let (status, ready) = readiness(&gw).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["identity_provider_circuit"], "closed");

    idp.stop().await;
    // The last good answer no longer vouches for the provider.
    clock.advance(chrono::Duration::seconds(11));

    // A new resident: the provider is asked, does not answer, and the resident is referred.
    login_is_referred(&gw, "first login in the outage").await;
    let (status, ready) = readiness(&gw).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "degraded stays in rotation: {ready}"
    );
    assert_eq!(ready["status"], "degraded");
    assert_eq!(ready["identity_provider"], "unreachable");
    assert_eq!(ready["database"], "reachable");
    files_online(&gw, &session, "during-outage").await;
    resident_pages_answer(&gw, &session).await;

    // The provider is probed at most once per interval; the third failed probe opens the
    // circuit: from now on nobody waits for the provider.
    clock.advance(PROBE_SPACING);
    login_is_referred(&gw, "second login in the outage").await;
    clock.advance(PROBE_SPACING);
    let (_, ready) = readiness(&gw).await;
    assert_eq!(ready["identity_provider_circuit"], "open", "{ready}");
    login_is_referred(&gw, "login with the circuit open").await;
    assert_no_level_two_session(&gw, "outage", None).await;

    // The provider is back, but the circuit stays open until the cool-down has passed.
    idp.restart().await;
    let before = idp.requests().len();
    let (_, ready) = readiness(&gw).await;
    assert_eq!(ready["status"], "degraded");
    login_is_referred(&gw, "provider back, circuit still open").await;
    assert_eq!(idp.requests().len(), before, "an open circuit calls nobody");

    // After the cool-down the readiness probe is the half-open probe: it closes the circuit.
    clock.advance(COOL_DOWN + chrono::Duration::seconds(1));
    assert_eq!(circuit.state(), CircuitState::HalfOpen);
    let (status, ready) = readiness(&gw).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ready["status"], "ready", "{ready}");
    assert_eq!(ready["identity_provider_circuit"], "closed");
    let again = sign_in(&gw).await;
    files_online(&gw, &again, "after-recovery").await;
}

#[tokio::test]
async fn provider_slow_is_cut_off_within_the_bound_and_recovers() {
    let idp = HostileIdp::start().await;
    let clock = Arc::new(FixedClock::new(chrono::Utc::now()));
    let (gw, _) = gateway_on(&idp, breaker(), clock.clone()).await;
    let session = sign_in(&gw).await;

    // The provider accepts connections and never answers.
    idp.set(Script::honest().stall_everything());
    clock.advance(chrono::Duration::seconds(11));

    // A new resident's sign-in waits for the provider at most the timeout; meanwhile another
    // resident's page is served.
    let login = {
        let router = gw.router.clone();
        tokio::spawn(async move {
            use tower::ServiceExt as _;
            let request = Request::get(format!("/login?procedure={BIRTH}"))
                .body(Body::empty())
                .unwrap();
            router.oneshot(request).await.unwrap()
        })
    };
    let page = bounded(
        "another resident's page",
        gw.get(&format!("/procedures/{BIRTH}"), None),
    )
    .await;
    assert_eq!(page.status(), StatusCode::OK);
    let login = bounded("the stalled login", login).await.unwrap();
    assert_eq!(
        location(&login),
        format!("/procedures/{BIRTH}?lang=vi&outcome=provider_unavailable")
    );

    let (status, ready) = readiness(&gw).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ready["status"], "degraded");
    files_online(&gw, &session, "while-slow").await;
    resident_pages_answer(&gw, &session).await;

    // The third timeout opens the circuit; then a login is answered without waiting at all.
    clock.advance(PROBE_SPACING);
    login_is_referred(&gw, "second slow login").await;
    clock.advance(PROBE_SPACING);
    let (_, ready) = readiness(&gw).await;
    assert_eq!(ready["identity_provider_circuit"], "open", "{ready}");
    let before = idp.requests().len();
    login_is_referred(&gw, "login with the circuit open").await;
    assert_eq!(idp.requests().len(), before, "an open circuit calls nobody");

    // The provider recovers.
    idp.set(Script::honest());
    clock.advance(COOL_DOWN + chrono::Duration::seconds(1));
    let (status, ready) = readiness(&gw).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ready["status"], "ready", "{ready}");
    let again = sign_in(&gw).await;
    files_online(&gw, &again, "after-recovery").await;
}

#[tokio::test]
async fn without_a_circuit_breaker_readiness_still_degrades() {
    let mut idp = HostileIdp::start().await;
    let gw = TestGateway::on_provider(
        idp.issuer(),
        crate::hostile::client(),
        wardgate::oidc::ReqwestHttp::with_limits(
            Duration::from_millis(500),
            Duration::from_secs(1),
            wardgate::oidc::ReqwestHttp::DEFAULT_MAX_RESPONSE_BYTES,
        )
        .unwrap(),
        None,
    )
    .await;
    idp.stop().await;
    let (status, ready) = readiness(&gw).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ready["status"], "degraded");
    assert!(ready.get("identity_provider_circuit").is_none(), "{ready}");
}

/// `GET /staff/login`, bounded.
async fn staff_login(gw: &TestGateway) -> Response<Body> {
    bounded("GET /staff/login", gw.get("/staff/login", None)).await
}

#[tokio::test]
async fn staff_sign_in_with_the_provider_down_gets_a_notice_not_a_dead_provider() {
    let mut idp = HostileIdp::start().await;
    let clock = Arc::new(FixedClock::new(chrono::Utc::now()));
    let (gw, _) = gateway_on(&idp, breaker(), clock.clone()).await;
    // While the provider answers, staff are sent to it.
    let login = staff_login(&gw).await;
    assert_eq!(login.status(), StatusCode::SEE_OTHER);
    assert!(
        location(&login).starts_with(idp.issuer()),
        "{}",
        location(&login)
    );

    idp.stop().await;
    clock.advance(chrono::Duration::seconds(11));
    for attempt in 0..4 {
        let login = staff_login(&gw).await;
        assert_eq!(
            login.status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "attempt {attempt}"
        );
        assert!(login.headers().get("location").is_none());
        // No login flow is started.
        assert!(
            set_cookies(&login)
                .iter()
                .all(|c| !c.starts_with("wardgate-login=")),
            "{:?}",
            set_cookies(&login)
        );
        let page = crate::gateway::body_text(login).await;
        assert!(
            page.contains("Dịch vụ định danh tạm thời không truy cập được"),
            "{page}"
        );
        assert!(
            page.contains("hiện không phản hồi nên chưa thể đăng nhập cán bộ"),
            "{page}"
        );
        assert!(
            page.contains("href=\"/staff/login?lang=vi&amp;provider=default\""),
            "{page}"
        );
    }
    // The last probe's answer stands for a few seconds: the provider is not even asked.
    idp.restart().await;
    let before = idp.requests().len();
    assert_eq!(
        staff_login(&gw).await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(idp.requests().len(), before, "an open circuit calls nobody");

    // After the cool-down, staff are sent to the provider again.
    clock.advance(COOL_DOWN + chrono::Duration::seconds(1));
    let login = staff_login(&gw).await;
    assert_eq!(login.status(), StatusCode::SEE_OTHER);
    assert!(location(&login).starts_with(idp.issuer()));
}

#[tokio::test]
async fn a_rate_limiting_provider_is_backed_off_and_a_flood_does_not_lock_residents_out() {
    let idp = HostileIdp::start().await;
    let clock = Arc::new(FixedClock::new(chrono::Utc::now()));
    let (gw, circuit) = gateway_on(&idp, breaker(), clock.clone()).await;
    // The last good answer no longer vouches for the provider: the flood's requests would each
    // ask it, were they not spaced.
    clock.advance(chrono::Duration::seconds(11));
    idp.set(Script::honest().rate_limit_everything());
    let before = idp.requests().len();

    // An anonymous flood of readiness checks and sign-in starts while the provider answers
    // every request with 429 and Retry-After.
    let mut flood = tokio::task::JoinSet::new();
    for i in 0..200 {
        let router = gw.router.clone();
        flood.spawn(async move {
            use tower::ServiceExt as _;
            let path = if i % 2 == 0 {
                "/readyz".to_owned()
            } else {
                format!("/login?procedure={BIRTH}")
            };
            let request = Request::get(&path).body(Body::empty()).unwrap();
            let response = router.oneshot(request).await.unwrap();
            (path, response.status())
        });
    }
    let answers = bounded("the flood", flood.join_all()).await;
    for (path, status) in &answers {
        assert!(!status.is_server_error(), "{path}: {status}");
    }
    let asked = idp.requests().len() - before;
    assert!(
        asked <= 2,
        "the provider was probed {asked} times for 200 anonymous requests"
    );
    let (status, ready) = readiness(&gw).await;
    assert_eq!(status, StatusCode::OK);
    // Busy is not down: the circuit stays closed and the provider counts as reachable.
    assert_eq!(ready["identity_provider_circuit"], "closed", "{ready}");
    assert_eq!(ready["identity_provider"], "reachable", "{ready}");
    assert_eq!(circuit.state(), CircuitState::Closed);
    assert!(circuit.backing_off());

    // The provider takes requests again: the next resident reaches it and signs in.
    idp.set(Script::honest());
    let session = sign_in(&gw).await;
    files_online(&gw, &session, "after-the-flood").await;
}
