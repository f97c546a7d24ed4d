//! Gateway mode against an independent provider (panva's `oidc-provider`, see
//! `support::oidc_provider`): residents sign in for real, then reach, or do not reach, a tiny
//! upstream that echoes what it received.
//!
//! Ignored by default because they need Node.js and the npm packages:
//! `npm ci --prefix interop`, then
//! `cargo test --all-features --test it -- --ignored gateway_mode_oidc::oidc_provider_`.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{Method, Request, Response, StatusCode, header, request};
use hyper::body::Frame;
use serde_json::Value;
use tower::ServiceExt as _;
use url::Url;
use wardgate::assurance::{AcrTable, LevelSource};
use wardgate::clock::{Clock, Random, SystemClock, SystemRandom};
use wardgate::keys::VerifyingKey;
use wardgate::oidc::{ClientConfig, RelyingParty, ReqwestHttp};
use wardgate::policy::ProcedureCode;
use wardgate::portal::upstream::assertion::{AssertionError, verify_assertion};
use wardgate::portal::upstream::{GateRule, Requirement, Upstream};
use wardgate::portal::{DEFAULT_PROVIDER_ID, LoginProvider, ProviderId, gateway_router};
use wardgate::store::MemoryStore;

use crate::edges13::jar_after;
use crate::gateway::{BIRTH, PUBLIC, body_json, body_text, builder_on, location, tempdir};
use crate::gateway_mode::echo_upstream;
use crate::support::oidc_provider::{ACR_LEVEL_1, ACR_LEVEL_2, OidcProvider, RS256_CLIENT};
use crate::support::openapi;

/// The upstream's page gated by the birth registration (level 2 online).
const PAGE: &str = "/nop-ho-so/khai-sinh/form?step=1";
/// The request body limit of the upstream in these tests.
const LIMIT: u64 = 1024 * 1024;
/// The size of each chunk of a streamed upload.
const CHUNK: usize = 64 * 1024;

/// The gateway's router in front of `upstream`, signing residents in at `oidc-provider`.
struct Harness {
    router: Router,
    provider: OidcProvider,
    _dir: tempdir::TempDir,
}

impl Harness {
    async fn start(upstream: &Url) -> Self {
        let redirect = format!("{PUBLIC}/auth/callback");
        let provider = OidcProvider::start(&[redirect.as_str()]);
        let client = ClientConfig::new(RS256_CLIENT, Url::parse(&redirect).unwrap())
            .client_secret(provider.client_secret(RS256_CLIENT))
            .level_source(LevelSource::acr(
                AcrTable::new([ACR_LEVEL_1], [ACR_LEVEL_2]).unwrap(),
            ));
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let random: Arc<dyn Random> = Arc::new(SystemRandom::new());
        let rp = RelyingParty::discover(
            provider.issuer_str(),
            client,
            ReqwestHttp::new().unwrap(),
            Arc::clone(&clock),
            Arc::clone(&random),
        )
        .await
        .unwrap();
        let dir = tempdir::TempDir::new("gateway-mode-oidc");
        let gateway = builder_on(&dir.0, Arc::new(MemoryStore::new()), clock, random)
            .provider(LoginProvider::new(
                ProviderId::new(DEFAULT_PROVIDER_ID).unwrap(),
                rp,
            ))
            .with_upstream(rules(upstream))
            .build()
            .unwrap();
        Self {
            router: gateway_router(gateway),
            provider,
            _dir: dir,
        }
    }

    /// Sends `request` through the router. Proxied answers are the upstream's, which the
    /// portal's OpenAPI document does not describe; use [`Self::check`] for `/auth/check`.
    async fn send(&self, request: Request<Body>) -> Response<Body> {
        self.router.clone().oneshot(request).await.unwrap()
    }

    async fn get(&self, path: &str, jar: &str) -> Response<Body> {
        self.send(get(path, jar).body(Body::empty()).unwrap()).await
    }

    /// `GET /auth/check?procedure=…` as nginx's subrequest for `original_uri` sends it, its
    /// JSON answer checked against the OpenAPI document.
    async fn check(&self, original_uri: &str, jar: &str) -> Response<Body> {
        let path = "/auth/check";
        let request = get(&format!("{path}?procedure={BIRTH}"), jar)
            .header("x-original-uri", original_uri)
            .body(Body::empty())
            .unwrap();
        openapi::conform(&Method::GET, path, self.send(request).await).await
    }

    /// The gateway's JWKS key.
    async fn jwks_key(&self) -> VerifyingKey {
        let jwks = body_json(self.get("/.well-known/jwks.json", "").await).await;
        VerifyingKey::from_jwk(&jwks["keys"][0]).unwrap()
    }

    /// Asks for [`PAGE`] without a session, follows the gateway to the provider, logs in there
    /// as `persona` and comes back through the callback: the cookie jar, and the callback's
    /// answer.
    async fn sign_in(&self, persona: &str) -> (String, Response<Body>) {
        let gated = self.get(PAGE, "").await;
        assert_eq!(gated.status(), StatusCode::SEE_OTHER);
        let login = self.get(location(&gated), "").await;
        assert_eq!(
            login.status(),
            StatusCode::SEE_OTHER,
            "{}",
            location(&gated)
        );
        let jar = jar_after("", &login);
        let authorize = Url::parse(location(&login)).unwrap();
        assert_eq!(
            authorize.origin(),
            self.provider.issuer().origin(),
            "{authorize}"
        );
        let back = self.provider.drive_login(&authorize, persona).await;
        let callback = self
            .get(
                &format!("{}?{}", back.path(), back.query().unwrap_or_default()),
                &jar,
            )
            .await;
        assert_eq!(callback.status(), StatusCode::SEE_OTHER);
        (jar_after(&jar, &callback), callback)
    }
}

/// The birth-registration pages need the procedure's level online; `/static` is open.
fn rules(upstream: &Url) -> Upstream {
    Upstream::new(upstream.clone())
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

fn get(path: &str, jar: &str) -> request::Builder {
    let request = Request::get(path).header(header::HOST, "127.0.0.1:8080");
    if jar.is_empty() {
        request
    } else {
        request.header(header::COOKIE, jar)
    }
}

/// A body of `left` bytes sent [`CHUNK`] at a time, its length unknown in advance: an upload
/// the gateway can only measure as it streams.
struct Chunked {
    left: usize,
}

impl hyper::body::Body for Chunked {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        let size = self.left.min(CHUNK);
        self.left -= size;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![b'a'; size])))))
    }
}

fn streamed(bytes: usize) -> Body {
    Body::new(Chunked { left: bytes })
}

/// A loopback address nothing listens on: bound, then released.
fn closed_port() -> Url {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    Url::parse(&format!("http://{addr}")).unwrap()
}

#[tokio::test]
#[ignore = "needs the oidc-provider npm package: npm ci --prefix interop"]
async fn oidc_provider_anonymous_resident_is_sent_to_sign_in_at_the_provider() {
    let upstream = echo_upstream().await;
    let gw = Harness::start(&upstream).await;

    let page = gw.get(PAGE, "").await;
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
    let login = location(&page).to_owned();
    assert_eq!(
        login,
        format!(
            "/auth/login?procedure={BIRTH}&lang=vi&return_to=%2Fnop-ho-so%2Fkhai-sinh%2Fform%3Fstep%3D1"
        )
    );
    assert!(!body_text(page).await.contains("\"headers\""));

    // nginx's subrequest gets the same login URL, and the RFC 9470 challenge.
    let check = gw.check(PAGE, "").await;
    assert_eq!(check.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(check.headers()["x-wardgate-login"], login.as_str());
    let challenge = check.headers()[header::WWW_AUTHENTICATE].to_str().unwrap();
    assert!(
        challenge.contains("insufficient_user_authentication"),
        "{challenge}"
    );
    assert_eq!(body_json(check).await["decision"], "sign_in");

    // The login URL is a real authorization request at the provider (pushed: PAR).
    let authorize = gw.get(&login, "").await;
    assert_eq!(authorize.status(), StatusCode::SEE_OTHER);
    let authorize = Url::parse(location(&authorize)).unwrap();
    assert_eq!(authorize.origin(), gw.provider.issuer().origin());
    let client = authorize
        .query_pairs()
        .find(|(name, _)| name == "client_id")
        .map(|(_, value)| value.into_owned());
    assert_eq!(client.as_deref(), Some(RS256_CLIENT), "{authorize}");
}

#[tokio::test]
#[ignore = "needs the oidc-provider npm package: npm ci --prefix interop"]
async fn oidc_provider_level_2_resident_reaches_the_upstream_with_a_verified_assertion() {
    let upstream = echo_upstream().await;
    let audience = upstream.origin().ascii_serialization();
    let gw = Harness::start(&upstream).await;
    let (jar, callback) = gw.sign_in("level2").await;
    // Back to the page first asked for.
    assert_eq!(location(&callback), PAGE);
    assert!(jar.contains("wardgate-session="), "{jar}");

    let reached = gw.get(PAGE, &jar).await;
    assert_eq!(reached.status(), StatusCode::OK);
    let echo = body_json(reached).await;
    assert_eq!(echo["path"], PAGE);
    let headers = &echo["headers"];
    assert_eq!(headers["x-wardgate-level"], "2");
    assert_eq!(headers["x-wardgate-procedure"], BIRTH);
    // The gateway's cookies stay at the gateway.
    assert!(headers.get("cookie").is_none(), "{headers}");

    let assertion = headers["x-wardgate-assertion"].as_str().unwrap();
    let key = gw.jwks_key().await;
    let claims = verify_assertion(&key, assertion, &audience, chrono::Utc::now()).unwrap();
    assert_eq!(claims.level, 2);
    assert_eq!(
        Value::from(claims.sub.clone()),
        headers["x-wardgate-subject"]
    );
    assert_eq!(claims.procedure.as_deref(), Some(BIRTH));
    assert_eq!(claims.level_source.kind, "id_token_acr");
    assert!(claims.level_source.signed_id_token);
    assert!(claims.auth_time.is_some_and(|at| at <= claims.iat));
    assert!((60..=120).contains(&(claims.exp - claims.iat)));
    // What the provider knows the resident by never reaches the upstream.
    assert!(!echo.to_string().contains("resident-"), "{echo}");
    // The same assertion, elsewhere or later, is refused.
    assert!(matches!(
        verify_assertion(&key, assertion, "http://127.0.0.1:1", chrono::Utc::now()),
        Err(AssertionError::Audience)
    ));
    assert!(matches!(
        verify_assertion(
            &key,
            assertion,
            &audience,
            chrono::Utc::now() + chrono::Duration::minutes(5)
        ),
        Err(AssertionError::Expired)
    ));

    // nginx's subrequest says the same, with the same identity.
    let check = gw.check(PAGE, &jar).await;
    assert_eq!(check.status(), StatusCode::OK);
    assert_eq!(check.headers()["x-wardgate-level"], "2");
    assert_eq!(
        check.headers()["x-wardgate-subject"].to_str().unwrap(),
        claims.sub
    );
    let body = body_json(check).await;
    assert_eq!(body["decision"], "online");
    assert_eq!(body["level"], 2);
}

#[tokio::test]
#[ignore = "needs the oidc-provider npm package: npm ci --prefix interop"]
async fn oidc_provider_level_1_resident_gets_the_referral_not_the_upstream_page() {
    let upstream = echo_upstream().await;
    let gw = Harness::start(&upstream).await;
    // The provider cannot reach level 2 for this account: the callback returns to the page
    // with the outcome, and the gateway shows the referral there instead of the upstream's.
    let (jar, callback) = gw.sign_in("level1").await;
    let returned = location(&callback).to_owned();
    assert_eq!(returned, format!("{PAGE}&outcome=level_unreachable"));

    let page = gw.get(&returned, &jar).await;
    assert_eq!(page.status(), StatusCode::FORBIDDEN);
    let html = body_text(page).await;
    assert!(
        !html.contains("\"headers\""),
        "the upstream answered: {html}"
    );
    // The level-1 referral (reason `level_below_required`): the counter and level 2 first.
    assert!(
        html.contains("Tài khoản của bạn ở mức độ 1: nộp hồ sơ trực tiếp"),
        "{html}"
    );
    // The portal's full referral page: where to go (the ward's centre), the ticket, and the
    // way back to signing in once the account is level 2.
    assert!(html.contains("<html lang=\"vi\">"), "{html}");
    assert!(
        html.contains("Trung tâm Phục vụ hành chính công phường"),
        "{html}"
    );
    assert!(html.contains("class=\"ticket-code\""), "{html}");
    assert!(
        html.contains("Tôi vừa được nâng lên mức độ 2, đăng nhập lại"),
        "{html}"
    );

    let json = gw
        .send(
            get(&returned, &jar)
                .header(header::ACCEPT, "application/json")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(json.status(), StatusCode::FORBIDDEN);
    let body = body_json(json).await;
    assert_eq!(body["decision"], "in_person", "{body}");
    assert_eq!(body["reason"], "level_below_required", "{body}");
    assert!(body["referral"]["point"]["address"].is_string(), "{body}");

    let check = gw.check(&returned, &jar).await;
    assert_eq!(check.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        check.headers()["x-wardgate-referral"],
        format!("/procedures/{BIRTH}?in_person=1&lang=vi").as_str()
    );
    assert_eq!(body_json(check).await["decision"], "in_person");
}

#[tokio::test]
#[ignore = "needs the oidc-provider npm package: npm ci --prefix interop"]
async fn oidc_provider_forged_identity_headers_never_reach_the_upstream() {
    let upstream = echo_upstream().await;
    let gw = Harness::start(&upstream).await;
    let forged = |path: &str, jar: &str| {
        get(path, jar)
            .header("X-Wardgate-Level", "2")
            .header("X-Wardgate-Subject", "forged-subject")
            .header("X-Wardgate-Procedure", "forged-procedure")
            .header("X-Wardgate-Assertion", "forged.assertion.jws")
            .header("X-Wardgate-Anything", "forged")
            .body(Body::empty())
            .unwrap()
    };

    // Without a session, forged headers get no one through.
    let anonymous = gw.send(forged(PAGE, "")).await;
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);

    // On a public path they are removed.
    let public = body_json(gw.send(forged("/static/app.css", "")).await).await;
    let names: Vec<&String> = public["headers"].as_object().unwrap().keys().collect();
    assert!(
        !names.iter().any(|name| name.starts_with("x-wardgate-")),
        "{names:?}"
    );

    // Signed in at level 2, the upstream gets the gateway's values only.
    let (jar, _) = gw.sign_in("level2").await;
    let reached = gw.send(forged(PAGE, &jar)).await;
    assert_eq!(reached.status(), StatusCode::OK);
    let headers = body_json(reached).await["headers"].clone();
    assert_eq!(headers["x-wardgate-level"], "2");
    assert_eq!(headers["x-wardgate-procedure"], BIRTH);
    assert_ne!(headers["x-wardgate-subject"], "forged-subject");
    assert_ne!(headers["x-wardgate-assertion"], "forged.assertion.jws");
    assert!(headers.get("x-wardgate-anything").is_none(), "{headers}");
    let key = gw.jwks_key().await;
    let audience = upstream.origin().ascii_serialization();
    verify_assertion(
        &key,
        headers["x-wardgate-assertion"].as_str().unwrap(),
        &audience,
        chrono::Utc::now(),
    )
    .unwrap();
}

#[tokio::test]
#[ignore = "needs the oidc-provider npm package: npm ci --prefix interop"]
async fn oidc_provider_upstream_down_gives_the_vi_en_error_page() {
    let gw = Harness::start(&closed_port()).await;
    let (jar, _) = gw.sign_in("level2").await;

    let vi = gw.get(PAGE, &jar).await;
    assert_eq!(vi.status(), StatusCode::BAD_GATEWAY);
    let html = body_text(vi).await;
    assert!(html.contains("<html lang=\"vi\""), "{html}");
    assert!(
        html.contains("Cổng dịch vụ tạm thời không phản hồi"),
        "{html}"
    );
    assert!(
        !html.contains("The service portal"),
        "English on the Vietnamese page: {html}"
    );

    let en = gw.get(&format!("{PAGE}&lang=en"), &jar).await;
    assert_eq!(en.status(), StatusCode::BAD_GATEWAY);
    let html = body_text(en).await;
    assert!(html.contains("<html lang=\"en\""), "{html}");
    assert!(
        html.contains("The service portal could not be reached"),
        "{html}"
    );

    let json = gw
        .send(
            get(PAGE, &jar)
                .header(header::ACCEPT, "application/json")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(json.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(body_json(json).await["error"], "upstream_unreachable");
}

#[tokio::test]
#[ignore = "needs the oidc-provider npm package: npm ci --prefix interop"]
async fn oidc_provider_large_upload_streams_within_the_limit_and_is_refused_beyond_it() {
    let upstream = echo_upstream().await;
    let gw = Harness::start(&upstream).await;
    let (jar, _) = gw.sign_in("level2").await;
    let limit = usize::try_from(LIMIT).unwrap();
    let upload = |body: Body| {
        Request::post(PAGE)
            .header(header::HOST, "127.0.0.1:8080")
            .header(header::COOKIE, jar.as_str())
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .body(body)
            .unwrap()
    };

    // Exactly the limit, in chunks: streamed through whole, with the identity.
    let within = gw.send(upload(streamed(limit))).await;
    assert_eq!(within.status(), StatusCode::OK);
    let echo = body_json(within).await;
    assert_eq!(echo["bytes"], LIMIT);
    assert_eq!(echo["headers"]["x-wardgate-level"], "2");

    // One byte more, no length declared: refused as it streams.
    let beyond = gw.send(upload(streamed(limit + 1))).await;
    assert_eq!(beyond.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let html = body_text(beyond).await;
    assert!(html.contains("Tệp gửi lên quá lớn"), "{html}");

    // A declared length over the limit: refused before anything is sent.
    let declared = gw
        .send(
            Request::post(PAGE)
                .header(header::HOST, "127.0.0.1:8080")
                .header(header::COOKIE, jar.as_str())
                .header(header::CONTENT_LENGTH, limit + 1)
                .body(Body::from(vec![b'a'; limit + 1]))
                .unwrap(),
        )
        .await;
    assert_eq!(declared.status(), StatusCode::PAYLOAD_TOO_LARGE);
}
