//! Gateway mode: wardgate in front of a tiny upstream that echoes what it received, through
//! the router with the provider simulator.

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header, request};
use serde_json::{Value, json};
use tower::ServiceExt as _;
use url::Url;
use wardgate::fallback::Directory;
use wardgate::keys::VerifyingKey;
use wardgate::policy::ProcedureCode;
use wardgate::portal::upstream::assertion::verify_assertion;
use wardgate::portal::upstream::{GateRule, Requirement, Upstream};
use wardgate::store::MemoryStore;

use crate::gateway::{BIRTH, TestGateway, body_json, body_text, location};
use crate::support::devidp::choose_persona;
use crate::support::openapi;

const LIMIT: u64 = 64 * 1024;

/// An upstream on loopback answering every request with the headers and body size it got.
pub(crate) async fn echo_upstream() -> Url {
    async fn echo(request: axum::extract::Request) -> axum::response::Response {
        let headers: serde_json::Map<String, Value> = request
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    Value::from(value.to_str().unwrap_or("")),
                )
            })
            .collect();
        let path = request.uri().to_string();
        let bytes = axum::body::to_bytes(request.into_body(), usize::MAX)
            .await
            .map_or(0, |b| b.len());
        let mut response = axum::response::IntoResponse::into_response(axum::Json(
            json!({"path": path, "headers": headers, "bytes": bytes}),
        ));
        response.headers_mut().append(
            header::SET_COOKIE,
            "app-session=upstream; Path=/; HttpOnly".parse().unwrap(),
        );
        response
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, Router::new().fallback(echo))
            .await
            .unwrap();
    });
    Url::parse(&format!("http://{addr}")).unwrap()
}

fn rules(url: Url) -> Upstream {
    Upstream::new(url)
        .unwrap()
        .rule(GateRule::new("/static", Requirement::Public).unwrap())
        .unwrap()
        .rule(
            GateRule::new(
                "/nop-ho-so/khai-sinh",
                Requirement::Procedure(ProcedureCode::parse(BIRTH).unwrap()),
            )
            .unwrap(),
        )
        .unwrap()
        .max_body_bytes(LIMIT)
        .unwrap()
}

async fn gateway(upstream: Upstream) -> TestGateway {
    TestGateway::with_parts(std::sync::Arc::new(MemoryStore::new()), |parts| {
        parts.with_upstream(upstream)
    })
    .await
}

async fn send(gw: &TestGateway, request: Request<Body>) -> axum::response::Response {
    gw.router.clone().oneshot(request).await.unwrap()
}

fn get(path: &str, session: Option<&str>) -> request::Builder {
    let mut request = Request::get(path).header(header::HOST, "127.0.0.1:8080");
    if let Some(session) = session {
        request = request.header(header::COOKIE, session);
    }
    request
}

async fn jwks_key(gw: &TestGateway) -> VerifyingKey {
    let jwks = body_json(
        send(
            gw,
            get("/.well-known/jwks.json", None)
                .body(Body::empty())
                .unwrap(),
        )
        .await,
    )
    .await;
    VerifyingKey::from_jwk(&jwks["keys"][0]).unwrap()
}

#[tokio::test]
async fn an_anonymous_resident_is_sent_to_sign_in_and_a_level_2_one_reaches_the_upstream() {
    let url = echo_upstream().await;
    let audience = url.origin().ascii_serialization();
    let gw = gateway(rules(url)).await;

    let anonymous = send(
        &gw,
        get("/nop-ho-so/khai-sinh/form", None)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);
    assert!(
        location(&anonymous).starts_with(&format!(
            "/auth/login?procedure={BIRTH}&lang=vi&return_to=%2Fnop-ho-so%2Fkhai-sinh%2Fform"
        )),
        "{}",
        location(&anonymous)
    );

    let (_, session) = gw.sign_in("level2").await;
    let session = session.unwrap();
    let cookie = format!("{session}; app=1");
    let reached = send(
        &gw,
        get("/nop-ho-so/khai-sinh/form?x=1", Some(&cookie))
            .header("x-wardgate-level", "2")
            .header("X-Wardgate-Subject", "forged")
            .header("x-wardgate-extra", "forged")
            .header("x-forwarded-for", "203.0.113.9")
            .header(header::CONNECTION, "x-drop")
            .header("x-drop", "1")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(reached.status(), StatusCode::OK);
    assert_eq!(
        reached.headers()[header::SET_COOKIE],
        "app-session=upstream; Path=/; HttpOnly"
    );
    let echo = body_json(reached).await;
    let headers = &echo["headers"];
    assert_eq!(echo["path"], "/nop-ho-so/khai-sinh/form?x=1");
    assert_eq!(headers["x-wardgate-level"], "2");
    assert_eq!(headers["x-wardgate-procedure"], BIRTH);
    assert_ne!(headers["x-wardgate-subject"], "forged");
    assert!(headers.get("x-wardgate-extra").is_none(), "{headers}");
    assert!(headers.get("x-drop").is_none(), "{headers}");
    assert_ne!(headers["x-forwarded-for"], "203.0.113.9");
    assert_eq!(headers["x-forwarded-proto"], "http");
    assert_eq!(headers["x-forwarded-host"], "127.0.0.1:8080");
    // The gateway's session cookie stays at the gateway; the upstream's own cookies pass.
    assert_eq!(headers["cookie"], "app=1");

    let key = jwks_key(&gw).await;
    let claims = verify_assertion(
        &key,
        headers["x-wardgate-assertion"].as_str().unwrap(),
        &audience,
        chrono::Utc::now(),
    )
    .unwrap();
    assert_eq!(claims.level, 2);
    assert_eq!(
        Value::from(claims.sub.clone()),
        headers["x-wardgate-subject"]
    );
    assert_eq!(claims.procedure.as_deref(), Some(BIRTH));
    assert!((60..=120).contains(&(claims.exp - claims.iat)));
    assert!(
        verify_assertion(
            &key,
            headers["x-wardgate-assertion"].as_str().unwrap(),
            "http://other",
            chrono::Utc::now()
        )
        .is_err()
    );
}

#[tokio::test]
async fn a_resident_who_cannot_reach_level_2_gets_the_referral_not_the_upstream_page() {
    let gw = gateway(rules(echo_upstream().await)).await;
    let page = send(
        &gw,
        get("/nop-ho-so/khai-sinh?outcome=level_unreachable", None)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(page.status(), StatusCode::FORBIDDEN);
    // The ticket is kept in a cookie, as on the procedure page.
    assert!(
        crate::gateway::set_cookies(&page)
            .iter()
            .any(|c| c.starts_with("wardgate-ticket=")),
        "{:?}",
        page.headers()
    );
    let text = body_text(page).await;
    assert!(
        !text.contains("\"headers\""),
        "the upstream answered: {text}"
    );
    // The portal's own referral page, in Vietnamese.
    let directory =
        Directory::load(format!("{}/samples/wards.toml", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let centre = &directory.wards()[0].point[0];
    assert!(text.contains("<html lang=\"vi\">"), "{text}");
    assert!(text.contains("<nav"), "{text}");
    assert!(
        text.contains("Tài khoản của bạn ở mức độ 1: nộp hồ sơ trực tiếp"),
        "{text}"
    );
    assert!(text.contains(&centre.name_vi), "{text}");
    assert!(text.contains(&centre.address), "{text}");
    assert!(text.contains("Giấy tờ cần mang theo"), "{text}");
    assert!(text.contains("class=\"ticket-code\""), "{text}");
    assert!(!text.contains("Your account is level 1"), "{text}");
    // Signing in again leads back through the gated page.
    assert!(
        text.contains("Tôi vừa được nâng lên mức độ 2, đăng nhập lại"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "href=\"/auth/login?procedure={BIRTH}&amp;lang=vi&amp;return_to=%2Fnop-ho-so%2Fkhai-sinh%3Foutcome%3Dlevel_unreachable\""
        )),
        "{text}"
    );

    let english = send(
        &gw,
        get(
            "/nop-ho-so/khai-sinh?outcome=level_unreachable&lang=en",
            None,
        )
        .body(Body::empty())
        .unwrap(),
    )
    .await;
    assert_eq!(english.status(), StatusCode::FORBIDDEN);
    let text = body_text(english).await;
    assert!(text.contains("<html lang=\"en\">"), "{text}");
    assert!(
        text.contains("Your account is level 1: file in person"),
        "{text}"
    );
    assert!(text.contains(&centre.name_en), "{text}");
    assert!(text.contains("What to bring"), "{text}");
    assert!(!text.contains("Giấy tờ cần mang theo"), "{text}");

    let json = send(
        &gw,
        get("/nop-ho-so/khai-sinh?outcome=level_unreachable", None)
            .header(header::ACCEPT, "application/json")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(json.status(), StatusCode::FORBIDDEN);
    let body = body_json(json).await;
    assert_eq!(body["decision"], "in_person");
    assert!(body["referral"]["point"]["address"].is_string());
}

#[tokio::test]
async fn public_paths_pass_uncovered_paths_are_refused_and_json_clients_get_the_challenge() {
    let gw = gateway(rules(echo_upstream().await)).await;
    let public = send(
        &gw,
        get("/static/app.css", None)
            .header("x-wardgate-level", "2")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(public.status(), StatusCode::OK);
    let echo = body_json(public).await;
    assert!(echo["headers"].get("x-wardgate-level").is_none());

    let refused = send(&gw, get("/admin", None).body(Body::empty()).unwrap()).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let text = body_text(refused).await;
    assert!(text.contains("Trang này không mở"), "{text}");
    assert!(!text.contains("\"headers\""));

    let challenge = send(
        &gw,
        get("/nop-ho-so/khai-sinh", None)
            .header(header::ACCEPT, "application/json")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(challenge.status(), StatusCode::UNAUTHORIZED);
    let www = challenge.headers()[header::WWW_AUTHENTICATE]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(www.contains("insufficient_user_authentication"), "{www}");
    assert_eq!(body_json(challenge).await["decision"], "sign_in");
}

#[tokio::test]
async fn an_upload_streams_within_the_limit_and_is_refused_beyond_it() {
    let gw = gateway(rules(echo_upstream().await)).await;
    let within = vec![b'a'; usize::try_from(LIMIT).unwrap()];
    let response = send(
        &gw,
        Request::post("/static/upload")
            .body(Body::from(within))
            .unwrap(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body_json(response).await["bytes"], LIMIT);

    // No length declared: refused while the body streams to the upstream.
    let beyond = vec![b'a'; usize::try_from(LIMIT).unwrap() + 1];
    let streamed = send(
        &gw,
        Request::post("/static/upload")
            .body(Body::from(beyond.clone()))
            .unwrap(),
    )
    .await;
    assert_eq!(streamed.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // A declared length over the limit: refused before anything is sent.
    let declared = send(
        &gw,
        Request::post("/static/upload")
            .header(header::CONTENT_LENGTH, beyond.len())
            .body(Body::from(beyond))
            .unwrap(),
    )
    .await;
    assert_eq!(declared.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn an_upstream_that_is_down_gives_an_error_page() {
    // A port nothing listens on: bound, then released.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let gw = gateway(rules(Url::parse(&format!("http://{addr}")).unwrap())).await;
    let response = send(
        &gw,
        get("/static/app.css?lang=en", None)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let text = body_text(response).await;
    assert!(
        text.contains("The service portal could not be reached"),
        "{text}"
    );
}

#[tokio::test]
async fn auth_check_answers_200_401_403_and_400() {
    let url = echo_upstream().await;
    let audience = url.origin().ascii_serialization();
    let gw = gateway(rules(url)).await;
    let check = |path: &str, session: Option<&str>| {
        get(path, session)
            .header("x-original-uri", "/nop-ho-so/khai-sinh?step=2")
            .body(Body::empty())
            .unwrap()
    };

    let anonymous = gw
        .send(check(&format!("/auth/check?procedure={BIRTH}"), None))
        .await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        anonymous.headers()["x-wardgate-login"],
        format!(
            "/auth/login?procedure={BIRTH}&lang=vi&return_to=%2Fnop-ho-so%2Fkhai-sinh%3Fstep%3D2"
        )
        .as_str()
    );
    assert!(
        anonymous.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .contains("insufficient_user_authentication")
    );

    let (_, session) = gw.sign_in("level2").await;
    let session = session.unwrap();
    let ok = gw.send(check("/auth/check?level=2", Some(&session))).await;
    assert_eq!(ok.status(), StatusCode::OK);
    let headers: HeaderMap = ok.headers().clone();
    assert_eq!(headers["x-wardgate-level"], "2");
    assert!(headers.get("x-wardgate-procedure").is_none());
    let key = jwks_key(&gw).await;
    let claims = verify_assertion(
        &key,
        headers["x-wardgate-assertion"].to_str().unwrap(),
        &audience,
        chrono::Utc::now(),
    )
    .unwrap();
    assert_eq!(claims.sub, headers["x-wardgate-subject"].to_str().unwrap());

    let referred = gw
        .send(
            get(&format!("/auth/check?procedure={BIRTH}"), None)
                .header(
                    "x-original-uri",
                    "/nop-ho-so/khai-sinh?outcome=level_unreachable",
                )
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(referred.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        referred.headers()["x-wardgate-referral"],
        format!("/procedures/{BIRTH}?in_person=1&lang=vi").as_str()
    );

    for (query, error) in [
        ("procedure=9.999999", "unknown_procedure"),
        ("level=3", "invalid_level"),
        ("", "invalid_requirement"),
        ("level=2&procedure=1.001193", "invalid_requirement"),
    ] {
        let bad = gw.send(check(&format!("/auth/check?{query}"), None)).await;
        assert_eq!(bad.status(), StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(body_json(bad).await["error"], error, "{query}");
    }
}

/// The router tests check each `/auth/check` answer against the OpenAPI document (through
/// `TestGateway::send`); this shows that check holding the answers to their documented headers
/// and referral.
#[tokio::test]
async fn the_schema_check_holds_auth_check_to_its_documented_headers_and_body() {
    let gw = gateway(rules(echo_upstream().await)).await;
    let document = openapi::document();
    let (_, session) = gw.sign_in("level2").await;
    let session = session.unwrap();
    let path = "/auth/check";
    let procedure = format!("procedure={BIRTH}");
    let answers = [
        (
            "level=2",
            Some(session.as_str()),
            "/x",
            200,
            "X-Wardgate-Assertion",
        ),
        (procedure.as_str(), None, "/x", 401, "X-Wardgate-Login"),
        (
            procedure.as_str(),
            None,
            "/nop-ho-so/khai-sinh?outcome=level_unreachable",
            403,
            "X-Wardgate-Referral",
        ),
    ];
    for (query, session, original, status, header) in answers {
        let response = gw
            .send(
                get(&format!("{path}?{query}"), session)
                    .header("x-original-uri", original)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(response.status().as_u16(), status, "{query}");
        let names: Vec<String> = response
            .headers()
            .keys()
            .map(|name| name.as_str().to_owned())
            .collect();
        let mut body = body_json(response).await;
        let check = |names: &[String], body: &Value| {
            openapi::check_response(document, "GET", path, status, names, body)
        };
        assert_eq!(check(&names, &body), Ok(()), "{query}");
        let without: Vec<String> = names
            .iter()
            .filter(|name| !name.eq_ignore_ascii_case(header))
            .cloned()
            .collect();
        assert_eq!(
            check(&without, &body),
            Err(format!("/auth/check {status}: header {header} missing"))
        );
        if status == 403 {
            body["referral"].as_object_mut().unwrap().remove("point");
            let refused = check(&names, &body);
            assert!(
                refused
                    .as_ref()
                    .is_err_and(|e| e.contains("/referral: required property `point` is missing")),
                "{refused:?}"
            );
        }
    }
}

/// The `name=value` of the `wardgate-failed-logins` cookie `response` sets (empty when it
/// removes it).
fn failed_logins_cookie(response: &axum::response::Response) -> Option<String> {
    crate::gateway::set_cookies(response)
        .into_iter()
        .find(|c| c.starts_with("wardgate-failed-logins="))
        .map(|c| c.split(';').next().unwrap().to_owned())
}

#[tokio::test]
async fn a_failed_login_through_a_gated_path_is_remembered_until_the_resident_tries_again() {
    let gw = gateway(rules(echo_upstream().await)).await;
    let page = "/nop-ho-so/khai-sinh/form";

    // A level-1 resident signs in from the gated page: the provider cannot reach level 2.
    let visit = |cookie: Option<&str>| send(&gw, get(page, cookie).body(Body::empty()).unwrap());
    let anonymous = visit(None).await;
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);
    let login = gw.get(location(&anonymous), None).await;
    assert_eq!(login.status(), StatusCode::SEE_OTHER);
    let flow = crate::gateway::cookie_pair(&login).unwrap();
    let callback = choose_persona(&Url::parse(location(&login)).unwrap(), "level1").await;
    let callback = gw
        .get(
            &format!("{}?{}", callback.path(), callback.query().unwrap_or("")),
            Some(&flow),
        )
        .await;
    assert_eq!(callback.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&callback),
        format!("{page}?outcome=level_unreachable")
    );
    let remembered = failed_logins_cookie(&callback).expect("the failure is remembered");

    // The next visit, without the outcome in the URL: the referral, not another sign-in.
    let again = visit(Some(&remembered)).await;
    assert_eq!(again.status(), StatusCode::FORBIDDEN);
    let html = body_text(again).await;
    assert!(
        html.contains("Tài khoản của bạn ở mức độ 1: nộp hồ sơ trực tiếp"),
        "{html}"
    );
    let try_again = format!("/procedures/{BIRTH}/try-again?lang=vi");
    assert!(html.contains(&format!("action=\"{try_again}\"")), "{html}");

    // nginx asks `/auth/check` for the same page: in person too.
    let check = gw
        .send(
            get(&format!("/auth/check?procedure={BIRTH}"), Some(&remembered))
                .header("x-original-uri", page)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(check.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        check.headers()["x-wardgate-referral"],
        format!("/procedures/{BIRTH}?in_person=1&lang=vi").as_str()
    );
    let body = body_json(check).await;
    assert_eq!(body["decision"], "in_person", "{body}");
    assert_eq!(body["reason"], "level_below_required", "{body}");

    // "Try again" forgets it: the gated page and the check send the resident to sign in.
    let cleared = gw
        .send(
            Request::post(&try_again)
                .header(header::COOKIE, &remembered)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(header::CONTENT_LENGTH, 0)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(cleared.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        failed_logins_cookie(&cleared).as_deref(),
        Some("wardgate-failed-logins=")
    );
    let fresh = visit(None).await;
    assert_eq!(fresh.status(), StatusCode::SEE_OTHER);
    assert!(
        location(&fresh).starts_with("/auth/login?"),
        "{}",
        location(&fresh)
    );
    let check = send(
        &gw,
        get(&format!("/auth/check?procedure={BIRTH}"), None)
            .header("x-original-uri", page)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(check.status(), StatusCode::UNAUTHORIZED);
}
