//! The `embed_axum` example, driven end to end through the provider simulator: the gate in an
//! ordinary axum application (layer, guard, extractors, auth routes under a prefix).

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response, StatusCode, header};
use axum::routing::get;
use tower::ServiceExt as _;
use url::Url;
use wardgate::integrations::axum::{Gate, OptionalSession, VerifiedSession};

use crate::gateway::{body_json, body_text, location, set_cookies};
use crate::support::devidp::choose_persona;

#[expect(dead_code, reason = "the example's `main` is not called here")]
#[path = "../../examples/embed_axum.rs"]
mod example;

const PUBLIC: &str = "http://127.0.0.1:8081/";

struct App {
    router: Router,
    gate: Arc<Gate>,
    _idp: wardgate::devidp::DevIdpHandle,
}

/// The example's app, with its auth routes at `prefix`.
async fn app_at(prefix: &str) -> App {
    let public = Url::parse(PUBLIC).unwrap();
    let redirect = public.join(&format!("{}/callback", &prefix[1..])).unwrap();
    let (idp, rp) = example::simulator(redirect).await.unwrap();
    let gate = if prefix == "/auth" {
        example::gate(public, rp).unwrap()
    } else {
        let random = wardgate::clock::SystemRandom::new();
        Gate::builder(
            public,
            wardgate::session::KeyRing::generate(&random).unwrap(),
            &wardgate::pseudonym::PseudonymKey::generate(&random).unwrap(),
        )
        .relying_party(rp)
        .with_auth_prefix(prefix)
        .build()
        .unwrap()
    };
    App {
        router: example::app(&gate),
        gate,
        _idp: idp,
    }
}

impl App {
    async fn get(&self, path: &str, cookie: Option<&str>, accept: &str) -> Response<Body> {
        let mut request = Request::get(path).header(header::ACCEPT, accept);
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        let request = request.body(Body::empty()).unwrap();
        self.router.clone().oneshot(request).await.unwrap()
    }

    /// Follows a signed-out visit of `/dossiers/new` through sign-in as `persona`; returns the
    /// session cookie (if one was opened) and where the callback sent the browser.
    async fn sign_in(&self, persona: &str) -> (Option<String>, String) {
        let start = self.get("/dossiers/new", None, "text/html").await;
        assert_eq!(start.status(), StatusCode::SEE_OTHER);
        let login_path = location(&start).to_owned();
        let login_prefix = format!("{}/login?", self.gate.auth_prefix());
        assert!(login_path.starts_with(&login_prefix), "{login_path}");
        assert!(login_path.contains("level=2"), "{login_path}");
        assert!(
            login_path.ends_with("return_to=%2Fdossiers%2Fnew"),
            "{login_path}"
        );

        let login = self.get(&login_path, None, "text/html").await;
        assert_eq!(login.status(), StatusCode::SEE_OTHER);
        let flow = first_pair(&login);
        let callback = choose_persona(&Url::parse(location(&login)).unwrap(), persona).await;
        let callback_path = format!("{}?{}", callback.path(), callback.query().unwrap_or(""));
        let done = self.get(&callback_path, Some(&flow), "text/html").await;
        assert_eq!(done.status(), StatusCode::SEE_OTHER, "{callback_path}");
        let session = set_cookies(&done)
            .into_iter()
            .find(|c| c.starts_with("wardgate-session=") && !c.starts_with("wardgate-session=;"))
            .map(|c| c.split(';').next().unwrap().to_owned());
        (session, location(&done).to_owned())
    }
}

fn first_pair(response: &Response<Body>) -> String {
    set_cookies(response)[0]
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn level_2_reaches_the_gated_route_and_sees_its_verified_level() {
    let app = app_at("/auth").await;
    let home = app.get("/", None, "text/html").await;
    assert_eq!(home.status(), StatusCode::OK);
    assert!(body_text(home).await.contains("Signed out."));

    let (session, back) = app.sign_in("level2").await;
    let session = session.expect("a session");
    assert_eq!(back, "/dossiers/new");
    let page = app.get("/dossiers/new", Some(&session), "text/html").await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(body_text(page).await.contains("Verified level 2;"));
}

#[tokio::test]
async fn level_1_is_referred_in_person_instead_of_asked_again() {
    let app = app_at("/auth").await;
    // The login asked for level 2 as essential: the provider answers that it cannot reach it,
    // no session is opened, and the return path carries the outcome.
    let (session, back) = app.sign_in("level1").await;
    assert_eq!(session, None);
    assert_eq!(back, "/dossiers/new?outcome=level_unreachable");
    let page = app.get(&back, None, "text/html").await;
    assert_eq!(page.status(), StatusCode::FORBIDDEN);
    let html = body_text(page).await;
    assert!(
        html.contains("data-reason=\"level_below_required\""),
        "{html}"
    );
    assert!(html.contains("<h1>Nộp hồ sơ trực tiếp</h1>"), "{html}");

    let json = app.get(&back, None, "application/json").await;
    assert_eq!(json.status(), StatusCode::FORBIDDEN);
    let body = body_json(json).await;
    assert_eq!(body["decision"], "in_person");
    assert_eq!(body["reason"], "level_below_required");
    assert!(body["referral"]["point"]["address"].is_string(), "{body}");
}

#[tokio::test]
async fn a_json_client_gets_an_rfc_9470_challenge() {
    let app = app_at("/auth").await;
    let response = app.get("/dossiers/new", None, "application/json").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()[header::WWW_AUTHENTICATE],
        "Bearer error=\"insufficient_user_authentication\", error_description=\"level 2 \
         e-identity required\", acr_values=\"urn:wardgate:devidp:loa:2\", max_age=\"1800\""
    );
    assert_eq!(body_json(response).await["reason"], "no_session");
}

#[tokio::test]
async fn the_auth_routes_work_under_any_prefix() {
    let app = app_at("/account/auth").await;
    let (session, back) = app.sign_in("level2").await;
    assert_eq!(back, "/dossiers/new");
    let page = app
        .get("/dossiers/new", session.as_deref(), "text/html")
        .await;
    assert_eq!(page.status(), StatusCode::OK);
    // The default prefix is not served: the callback lives only where the redirect URI says.
    let stray = app
        .get("/auth/callback?code=x&state=y", None, "text/html")
        .await;
    assert_eq!(stray.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_forged_or_missing_session_cookie_is_signed_out() {
    let app = app_at("/auth").await;
    let response = app
        .get("/dossiers/new", Some("wardgate-session=AAAA"), "text/html")
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(location(&response).starts_with("/auth/login?"));
}

#[tokio::test]
async fn extractors_without_the_session_layer_say_what_is_missing() {
    let router: Router = Router::new()
        .route(
            "/a",
            get(|OptionalSession(_): OptionalSession| async { "" }),
        )
        .route(
            "/b",
            get(|VerifiedSession(_): VerifiedSession| async { "" }),
        );
    for path in ["/a", "/b"] {
        let request = Request::get(path).body(Body::empty()).unwrap();
        let response = router.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(
            body_text(response).await.starts_with(
                "the wardgate session layer is missing: add `.layer(gate.session_layer())`"
            ),
            "{path}"
        );
    }
}

#[tokio::test]
async fn the_idle_timeout_slides_while_the_session_is_used() {
    use chrono::{Duration, Utc};
    use wardgate::assurance::{Assurance, SourceKind};
    use wardgate::clock::{FixedClock, SystemRandom};
    use wardgate::session::{KeyRing, Session};

    let public = Url::parse(PUBLIC).unwrap();
    let (_idp, rp) = example::simulator(public.join("auth/callback").unwrap())
        .await
        .unwrap();
    let start = Utc::now();
    let clock = Arc::new(FixedClock::new(start));
    let random = SystemRandom::new();
    let gate = Gate::builder(
        public,
        KeyRing::generate(&random).unwrap(),
        &wardgate::pseudonym::PseudonymKey::generate(&random).unwrap(),
    )
    .relying_party(rp)
    .with_clock(clock.clone())
    .build()
    .unwrap();
    let app = example::app(&gate);
    let get = |cookie: String| {
        let app = app.clone();
        async move {
            let request = Request::get("/")
                .header(header::COOKIE, cookie)
                .body(Body::empty())
                .unwrap();
            app.oneshot(request).await.unwrap()
        }
    };
    let assurance = Assurance::new(
        Some(wardgate::Level::Two),
        "https://sso.example.vn",
        SourceKind::IdTokenAcr,
        Some(start),
    );
    let session = Session::new("c3ViamVjdA", assurance, start, &random).unwrap();
    let first = gate.sessions().set_cookie(&session).unwrap();
    let first = first.split(';').next().unwrap().to_owned();

    // 20 minutes later (idle timeout 30): still signed in, and the cookie is sealed again.
    clock.advance(Duration::minutes(20));
    let used = get(first.clone()).await;
    let refreshed = set_cookies(&used)
        .into_iter()
        .find(|c| c.starts_with("wardgate-session="))
        .expect("the session is sealed again")
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert!(body_text(used).await.contains("Signed in."));

    // 40 minutes after sign-in: the old cookie is past its idle timeout, the refreshed one not.
    clock.advance(Duration::minutes(20));
    assert!(body_text(get(first).await).await.contains("Signed out."));
    let again = get(refreshed).await;
    assert!(body_text(again).await.contains("Signed in."));
}

#[tokio::test]
async fn a_catalog_procedure_guard_asks_for_that_procedure() {
    let public = Url::parse(PUBLIC).unwrap();
    let (_idp, rp) = example::simulator(public.join("auth/callback").unwrap())
        .await
        .unwrap();
    let root = env!("CARGO_MANIFEST_DIR");
    let catalog = wardgate::policy::Catalog::load(format!("{root}/samples/catalog.toml")).unwrap();
    let random = wardgate::clock::SystemRandom::new();
    let gate = Gate::builder(
        public,
        wardgate::session::KeyRing::generate(&random).unwrap(),
        &wardgate::pseudonym::PseudonymKey::generate(&random).unwrap(),
    )
    .relying_party(rp)
    .with_catalog(catalog)
    .build()
    .unwrap();
    let code = wardgate::policy::ProcedureCode::parse("1.001193").unwrap();
    let router: Router = Router::new()
        .route("/birth", get(|| async { "form" }))
        .route_layer(wardgate::integrations::axum::Require::procedure(code))
        .route(
            "/me",
            get(|VerifiedSession(_): VerifiedSession| async { "me" }),
        )
        .layer(gate.session_layer());
    let send = |path: &str, accept: &str| {
        let request = Request::get(path)
            .header(header::ACCEPT, accept)
            .body(Body::empty())
            .unwrap();
        router.clone().oneshot(request)
    };

    let page = send("/birth?lang=en", "text/html").await.unwrap();
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&page),
        "/auth/login?procedure=1.001193&lang=en&return_to=%2Fbirth%3Flang%3Den"
    );
    let api = send("/birth", "application/json").await.unwrap();
    assert_eq!(api.status(), StatusCode::UNAUTHORIZED);
    assert!(
        api.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .starts_with("Bearer error=\"insufficient_user_authentication\"")
    );
    // Choosing in-person service leads away from the online form, never towards it.
    let chose = send("/birth?in_person=1", "application/json")
        .await
        .unwrap();
    assert_eq!(chose.status(), StatusCode::FORBIDDEN);
    assert_eq!(body_json(chose).await["reason"], "resident_chose_in_person");

    // `VerifiedSession` without a session answers as the policy answers a signed-out visit.
    let me = send("/me", "text/html").await.unwrap();
    assert_eq!(me.status(), StatusCode::SEE_OTHER);
    assert!(
        location(&me).starts_with("/auth/login?level=1&"),
        "{}",
        location(&me)
    );
}
