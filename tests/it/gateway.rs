//! The ward gateway's router, in process (`oneshot`), against the provider simulator on
//! loopback: every route, decision and status code of the contract.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response, StatusCode, header};
use http_body_util::BodyExt as _;
use serde_json::Value;
use tower::ServiceExt as _;
use url::Url;
use wardgate::assurance::{AcrTable, LevelSource};
use wardgate::clock::SystemRandom;
use wardgate::devidp::{self, DevIdp, DevIdpConfig, DevIdpHandle};
use wardgate::fallback::{Directory, WardCode};
use wardgate::oidc::{CircuitMonitor, ClientConfig, HttpClient, RelyingParty, ReqwestHttp};
use wardgate::policy::{Catalog, FieldKind};
use wardgate::portal::config::StaffConfig;
use wardgate::portal::data_dir::GatewayKeys;
use wardgate::portal::{
    DEFAULT_PROVIDER_ID, Gateway, GatewayBuilder, LoginProvider, ProviderId, gateway_router,
};
use wardgate::session::SessionConfig;
use wardgate::store::MemoryStore;

use crate::support::devidp::choose_persona;
use crate::support::openapi;

pub(crate) const PUBLIC: &str = "http://127.0.0.1:8080";
pub(crate) const BIRTH: &str = "1.001193";

pub(crate) struct TestGateway {
    pub(crate) router: Router,
    gateway: Arc<Gateway>,
    _idps: Vec<Arc<DevIdpHandle>>,
    _dir: tempdir::TempDir,
}

pub(crate) async fn simulator() -> DevIdpHandle {
    let redirect = format!("{PUBLIC}/auth/callback");
    DevIdp::start(DevIdpConfig::new().client(
        devidp::DEFAULT_CLIENT_ID,
        Some(devidp::DEFAULT_CLIENT_SECRET),
        [redirect.as_str()],
    ))
    .await
    .unwrap()
}

/// The gateway's router on `idp`, with its keys in `dir` and `store`: building it twice on the
/// same directory and store is a restart.
async fn gateway_on(
    idp: &DevIdpHandle,
    dir: &std::path::Path,
    store: Arc<dyn wardgate::store::Store>,
) -> Arc<Gateway> {
    gateway_with(idp, dir, store, |parts| parts).await
}

/// As [`gateway_on`], with `adjust` applied to the parts (limits, clock) before building.
async fn gateway_with(
    idp: &DevIdpHandle,
    dir: &std::path::Path,
    store: Arc<dyn wardgate::store::Store>,
    adjust: impl FnOnce(GatewayBuilder) -> GatewayBuilder,
) -> Arc<Gateway> {
    let redirect = format!("{PUBLIC}/auth/callback");
    let client = ClientConfig::new(devidp::DEFAULT_CLIENT_ID, Url::parse(&redirect).unwrap())
        .client_secret(devidp::DEFAULT_CLIENT_SECRET)
        .level_source(LevelSource::acr(
            AcrTable::new([devidp::ACR_LEVEL_1], [devidp::ACR_LEVEL_2]).unwrap(),
        ))
        .fetch_userinfo(true);
    gateway_for(
        idp.issuer().as_str(),
        client,
        ReqwestHttp::new().unwrap(),
        None,
        dir,
        store,
        adjust,
    )
    .await
}

/// The gateway's router on any provider: `issuer` discovered through `http`, the relying party
/// registered as `client`, the breaker `circuit` watching `http` if there is one, and `adjust`
/// applied to the parts before building.
async fn gateway_for(
    issuer: &str,
    client: ClientConfig,
    http: impl HttpClient + 'static,
    circuit: Option<CircuitMonitor>,
    dir: &std::path::Path,
    store: Arc<dyn wardgate::store::Store>,
    adjust: impl FnOnce(GatewayBuilder) -> GatewayBuilder,
) -> Arc<Gateway> {
    let clock: Arc<dyn wardgate::Clock> = Arc::new(wardgate::SystemClock);
    let random: Arc<dyn wardgate::clock::Random> = Arc::new(SystemRandom::new());
    let rp = RelyingParty::discover(
        issuer,
        client,
        http,
        Arc::clone(&clock),
        Arc::clone(&random),
    )
    .await
    .unwrap();
    let mut provider = LoginProvider::new(ProviderId::new(DEFAULT_PROVIDER_ID).unwrap(), rp);
    if let Some(circuit) = circuit {
        provider = provider.circuit(circuit);
    }
    adjust(builder_on(dir, store, clock, random).provider(provider))
        .build()
        .unwrap()
}

/// The builder of a test gateway on `rp` (its only provider until the caller adds others).
pub(crate) fn parts_on(
    rp: RelyingParty,
    dir: &std::path::Path,
    store: Arc<dyn wardgate::store::Store>,
    clock: Arc<dyn wardgate::Clock>,
    random: Arc<dyn wardgate::clock::Random>,
) -> GatewayBuilder {
    builder_on(dir, store, clock, random).relying_party(rp)
}

/// The builder of a test gateway without providers: sample catalog and wards, keys in `dir`.
pub(crate) fn builder_on(
    dir: &std::path::Path,
    store: Arc<dyn wardgate::store::Store>,
    clock: Arc<dyn wardgate::Clock>,
    random: Arc<dyn wardgate::clock::Random>,
) -> GatewayBuilder {
    let root = env!("CARGO_MANIFEST_DIR");
    let catalog = Catalog::load(format!("{root}/samples/catalog.toml")).unwrap();
    let directory = Directory::load(format!("{root}/samples/wards.toml")).unwrap();
    let ward: WardCode = directory.wards()[0].code;
    let keys = GatewayKeys::load_or_create(dir, random.as_ref()).unwrap();
    Gateway::builder(Url::parse(PUBLIC).unwrap())
        .catalog(catalog)
        .directory(directory, ward)
        .store(store)
        .keys(keys)
        .with_sessions(SessionConfig::default())
        .with_staff(StaffConfig::new(
            Vec::new(),
            Some(("roles".into(), devidp::STAFF_ROLE.into())),
        ))
        .with_clock(clock)
        .with_random(random)
}

pub(crate) mod tempdir {
    /// A directory removed on drop.
    pub(crate) struct TempDir(pub(crate) std::path::PathBuf);
    impl TempDir {
        pub(crate) fn new(tag: &str) -> Self {
            let path = std::env::temp_dir().join(format!(
                "wardgate-{tag}-{}-{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos()
            ));
            std::fs::create_dir_all(&path).unwrap();
            Self(path)
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl TestGateway {
    /// `GET /metrics` through the metrics router (the public router keeps it closed).
    pub(crate) async fn metrics_text(&self) -> String {
        let request = Request::get("/metrics").body(Body::empty()).unwrap();
        let response = wardgate::portal::metrics_router(Arc::clone(&self.gateway))
            .oneshot(request)
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        body_text(response).await
    }

    pub(crate) async fn start() -> Self {
        let idp = Arc::new(simulator().await);
        let dir = tempdir::TempDir::new("gateway");
        let gateway = gateway_on(&idp, &dir.0, Arc::new(MemoryStore::new())).await;
        Self {
            router: gateway_router(Arc::clone(&gateway)),
            gateway,
            _idps: vec![idp],
            _dir: dir,
        }
    }

    /// A gateway on any provider (see [`gateway_for`]), with an in-memory store.
    pub(crate) async fn on_provider(
        issuer: &str,
        client: ClientConfig,
        http: impl HttpClient + 'static,
        circuit: Option<CircuitMonitor>,
    ) -> Self {
        let dir = tempdir::TempDir::new("gateway");
        let gateway = gateway_for(
            issuer,
            client,
            http,
            circuit,
            &dir.0,
            Arc::new(MemoryStore::new()),
            |parts| parts,
        )
        .await;
        Self {
            router: gateway_router(Arc::clone(&gateway)),
            gateway,
            _idps: Vec::new(),
            _dir: dir,
        }
    }

    /// A gateway whose identity providers are `providers`, in order, served by the simulators
    /// `idps` (kept running as long as the gateway).
    pub(crate) fn with_providers(
        idps: Vec<Arc<DevIdpHandle>>,
        providers: Vec<LoginProvider>,
    ) -> Self {
        let dir = tempdir::TempDir::new("providers");
        let clock: Arc<dyn wardgate::Clock> = Arc::new(wardgate::SystemClock);
        let random: Arc<dyn wardgate::clock::Random> = Arc::new(SystemRandom::new());
        let first = providers[0].relying_party().clone();
        let gateway = parts_on(first, &dir.0, Arc::new(MemoryStore::new()), clock, random)
            .providers(providers)
            .build()
            .unwrap();
        Self {
            router: gateway_router(Arc::clone(&gateway)),
            gateway,
            _idps: idps,
            _dir: dir,
        }
    }

    /// A gateway on a memory store with `adjust` applied to its parts (limits, rate limits,
    /// clock).
    pub(crate) async fn with_parts(
        store: Arc<dyn wardgate::store::Store>,
        adjust: impl FnOnce(GatewayBuilder) -> GatewayBuilder,
    ) -> Self {
        let idp = Arc::new(simulator().await);
        let dir = tempdir::TempDir::new("gateway");
        let gateway = gateway_with(&idp, &dir.0, store, adjust).await;
        Self {
            router: gateway_router(Arc::clone(&gateway)),
            gateway,
            _idps: vec![idp],
            _dir: dir,
        }
    }

    /// A gateway on `idp` whose keys and SQLite database live in `dir` (which the caller keeps,
    /// so a second gateway on the same `dir` is a restart).
    pub(crate) async fn on_sqlite(idp: &Arc<DevIdpHandle>, dir: &std::path::Path) -> Self {
        let db = format!("sqlite://{}", dir.join("wardgate.db").display());
        let gateway = gateway_on(idp, dir, wardgate::store::open(&db).await.unwrap()).await;
        Self {
            router: gateway_router(Arc::clone(&gateway)),
            gateway,
            _idps: vec![Arc::clone(idp)],
            _dir: tempdir::TempDir::new("unused"),
        }
    }

    /// A gateway on `idp` whose keys live in `dir` and whose data lives in `store`.
    pub(crate) async fn on_store(
        idp: &Arc<DevIdpHandle>,
        dir: &std::path::Path,
        store: Arc<dyn wardgate::store::Store>,
    ) -> Self {
        let gateway = gateway_on(idp, dir, store).await;
        Self {
            router: gateway_router(Arc::clone(&gateway)),
            gateway,
            _idps: vec![Arc::clone(idp)],
            _dir: tempdir::TempDir::new("unused"),
        }
    }

    /// The gateway state behind the router.
    pub(crate) fn gateway(&self) -> &Arc<Gateway> {
        &self.gateway
    }

    /// Writes the decisions the gateway has counted but not yet audited (they are audited in
    /// aggregate), so a test reads the whole trail.
    pub(crate) async fn flush_audit(&self) {
        self.gateway.flush_audit().await;
    }

    /// Saves `dossier` (a JSON object of answers) as a draft the way the browser form does:
    /// the procedure page's CSRF token, the answers form-encoded.
    pub(crate) async fn save_draft_from_form(
        &self,
        session: &str,
        dossier: &str,
    ) -> Response<Body> {
        let page = body_text(
            self.get(&format!("/procedures/{BIRTH}"), Some(session))
                .await,
        )
        .await;
        let csrf = page
            .split("name=\"csrf_token\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap()
            .to_owned();
        let answers: Value = serde_json::from_str(dossier).unwrap();
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("csrf_token", &csrf);
        for (name, value) in answers.as_object().unwrap() {
            form.append_pair(
                name,
                &value
                    .as_str()
                    .map_or_else(|| value.to_string(), str::to_owned),
            );
        }
        self.send(
            Request::post(format!("/procedures/{BIRTH}/draft"))
                .header(header::COOKIE, session)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(form.finish()))
                .unwrap(),
        )
        .await
    }

    /// Sends `request` through the router; a JSON answer must be what the OpenAPI document
    /// declares for its route and status (see [`openapi::conform`]).
    pub(crate) async fn send(&self, request: Request<Body>) -> Response<Body> {
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        let response = self.router.clone().oneshot(request).await.unwrap();
        openapi::conform(&method, &path, response).await
    }

    pub(crate) async fn get(&self, path: &str, cookie: Option<&str>) -> Response<Body> {
        let mut request = Request::get(path).header(header::ACCEPT, "application/json");
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        self.send(request.body(Body::empty()).unwrap()).await
    }

    /// Signs `persona` in for the birth registration and returns the session cookie (or the
    /// final callback response when the login fails).
    pub(crate) async fn sign_in(&self, persona: &str) -> (Response<Body>, Option<String>) {
        let login = self.get(&format!("/login?procedure={BIRTH}"), None).await;
        assert_eq!(login.status(), StatusCode::SEE_OTHER);
        let flow_cookie = cookie_pair(&login).expect("login-flow cookie");
        let provider = Url::parse(location(&login)).unwrap();
        let callback = choose_persona(&provider, persona).await;
        let path = format!("{}?{}", callback.path(), callback.query().unwrap_or(""));
        let response = self.get(&path, Some(&flow_cookie)).await;
        let session = set_cookies(&response)
            .into_iter()
            .find(|c| c.starts_with("wardgate-session=") && !c.starts_with("wardgate-session=;"))
            .map(|c| c.split(';').next().unwrap().to_owned());
        (response, session)
    }
}

pub(crate) fn location(response: &Response<Body>) -> &str {
    response.headers()[header::LOCATION].to_str().unwrap()
}

pub(crate) fn set_cookies(response: &Response<Body>) -> Vec<String> {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

pub(crate) fn cookie_pair(response: &Response<Body>) -> Option<String> {
    set_cookies(response)
        .first()
        .map(|c| c.split(';').next().unwrap().to_owned())
}

pub(crate) async fn body_text(response: Response<Body>) -> String {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

pub(crate) async fn body_json(response: Response<Body>) -> Value {
    serde_json::from_str(&body_text(response).await).unwrap()
}

#[tokio::test]
async fn home_page_lists_procedures_with_security_headers() {
    let gw = TestGateway::start().await;
    let response = gw.get("/", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert!(
        headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    assert_eq!(headers[header::REFERRER_POLICY], "no-referrer");
    assert!(headers.contains_key("x-request-id"));
    let html = body_text(response).await;
    assert!(html.contains("<html lang=\"vi\">"));
    assert!(
        html.contains("Đăng ký khai sinh"),
        "birth registration listed"
    );
    let english = body_text(gw.get("/?lang=en", None).await).await;
    assert!(english.contains("<html lang=\"en\">"));
}

#[tokio::test]
async fn procedures_api_follows_the_contract() {
    let gw = TestGateway::start().await;
    let list = body_json(gw.get("/api/procedures", None).await).await;
    let list = list.as_array().unwrap();
    assert!(list.len() >= 8);
    for procedure in list {
        for key in ["code", "name", "required_level", "fields", "example"] {
            assert!(procedure.get(key).is_some(), "{key} missing in {procedure}");
        }
        for field in procedure["fields"].as_array().unwrap() {
            assert!(
                field["name"].is_string()
                    && field["type"].is_string()
                    && field["required"].is_boolean()
            );
        }
    }
}

#[tokio::test]
async fn without_a_session_the_decision_is_sign_in() {
    let gw = TestGateway::start().await;
    let response = gw
        .get(&format!("/api/procedures/{BIRTH}/decision"), None)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body = body_json(response).await;
    assert_eq!(body["decision"], "sign_in");
    assert_eq!(body["level"], Value::Null);
    assert_eq!(body["required_level"], 2);
    assert_eq!(body["reason"], "no_session");
    assert!(body.get("referral").is_none());
}

#[tokio::test]
async fn level_two_resident_is_online() {
    let gw = TestGateway::start().await;
    let (callback, session) = gw.sign_in("level2").await;
    assert_eq!(callback.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&callback), format!("/procedures/{BIRTH}?lang=vi"));
    let session = session.expect("a session cookie");
    let body = body_json(
        gw.get(&format!("/api/procedures/{BIRTH}/decision"), Some(&session))
            .await,
    )
    .await;
    assert_eq!(body["decision"], "online");
    assert_eq!(body["level"], 2);
    assert_eq!(body["reason"], "level_met");
    let page = body_text(
        gw.get(&format!("/procedures/{BIRTH}"), Some(&session))
            .await,
    )
    .await;
    assert!(page.contains("Bạn có thể nộp trực tuyến"), "online notice");
}

#[tokio::test]
async fn level_one_resident_is_referred_in_person_with_a_ticket() {
    let gw = TestGateway::start().await;
    // The login asks for an essential level-2 acr: the simulator answers that it cannot.
    let (callback, session) = gw.sign_in("level1").await;
    assert!(session.is_none());
    assert_eq!(
        location(&callback),
        format!("/procedures/{BIRTH}?lang=vi&outcome=level_unreachable")
    );
    let body = body_json(
        gw.get(
            &format!("/api/procedures/{BIRTH}/decision?outcome=level_unreachable"),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(body["decision"], "in_person");
    assert_eq!(body["reason"], "level_below_required");
    let referral = &body["referral"];
    assert!(referral["point"]["address"].is_string());
    assert!(!referral["point"]["hours"].as_array().unwrap().is_empty());
    assert!(
        !referral["procedure"]["documents"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(referral["ticket_code"].as_str().unwrap().len() >= 11);
}

#[tokio::test]
async fn cancelled_login_ends_on_a_referral() {
    let gw = TestGateway::start().await;
    let (callback, session) = gw.sign_in("cancel").await;
    assert!(session.is_none());
    let target = location(&callback).to_owned();
    assert!(target.ends_with("outcome=cancelled"), "{target}");
    let page = gw.get(&target, None).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = body_text(page).await;
    assert!(html.contains("Bạn đã hủy đăng nhập"), "reason shown");
    assert!(html.contains("/tickets/"), "ticket link shown");
}

#[tokio::test]
async fn provider_error_routes_in_person_with_reason_provider_unavailable() {
    let gw = TestGateway::start().await;
    let (callback, _) = gw.sign_in("error").await;
    let target = location(&callback).to_owned();
    let api = target
        .replace("/procedures/", "/api/procedures/")
        .replace("?", "/decision?");
    let body = body_json(gw.get(&api, None).await).await;
    assert_eq!(body["decision"], "in_person");
    assert_eq!(body["reason"], "provider_unavailable");
}

#[tokio::test]
async fn a_login_flow_cookie_works_once() {
    let gw = TestGateway::start().await;
    let login = gw.get(&format!("/login?procedure={BIRTH}"), None).await;
    let flow_cookie = cookie_pair(&login).unwrap();
    let callback = choose_persona(&Url::parse(location(&login)).unwrap(), "level2").await;
    let path = format!("{}?{}", callback.path(), callback.query().unwrap());
    assert_eq!(
        gw.get(&path, Some(&flow_cookie)).await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        gw.get(&path, Some(&flow_cookie)).await.status(),
        StatusCode::BAD_REQUEST
    );
    // And no flow cookie at all is refused the same way.
    assert_eq!(gw.get(&path, None).await.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn resident_books_a_slot_and_opens_the_printable_ticket() {
    let gw = TestGateway::start().await;
    let body = body_json(
        gw.get(
            &format!("/api/procedures/{BIRTH}/decision?in_person=1"),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(body["reason"], "resident_chose_in_person");
    let point = body["referral"]["point"]["id"].as_str().unwrap().to_owned();
    // Find a bookable time on the referral page.
    let page = body_text(
        gw.get(&format!("/procedures/{BIRTH}?in_person=1"), None)
            .await,
    )
    .await;
    let start = page
        .split("<option value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a free slot is offered")
        .replace("&#43;", "+");
    // The page issued its own ticket (no cookie was sent): its form books with that one.
    let code = page
        .split("name=\"ticket\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the booking form names its ticket")
        .to_owned();
    let token = page
        .split("name=\"ticket_token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the booking form carries the ticket's token");
    let form = format!(
        "ticket={}&point={}&start={}&ticket_token={}",
        code,
        point,
        url::form_urlencoded::byte_serialize(start.as_bytes()).collect::<String>(),
        url::form_urlencoded::byte_serialize(token.as_bytes()).collect::<String>()
    );
    let response = gw
        .send(
            Request::post(format!("/procedures/{BIRTH}/book"))
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(form))
                .unwrap(),
        )
        .await;
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "{}",
        body_text(response).await
    );
    let confirmation = location(&response).to_owned();
    assert_eq!(confirmation, format!("/tickets/{code}/booking?lang=vi"));
    let ticket = gw.get(&format!("/tickets/{code}"), None).await;
    assert_eq!(ticket.status(), StatusCode::OK);
    let html = body_text(ticket).await;
    assert!(html.contains("<svg"), "QR code rendered");
    assert!(html.contains("Giờ hẹn"), "appointment shown");
}

#[tokio::test]
async fn logout_needs_the_session_csrf_token() {
    let gw = TestGateway::start().await;
    let (_, session) = gw.sign_in("level2").await;
    let session = session.unwrap();
    let post = |body: &'static str| {
        Request::post("/logout")
            .header(header::COOKIE, session.as_str())
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap()
    };
    assert_eq!(
        gw.send(post("csrf_token=wrong")).await.status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn operations_routes_answer() {
    let gw = TestGateway::start().await;
    assert_eq!(
        body_json(gw.get("/healthz", None).await).await["status"],
        "ok"
    );
    let ready = gw.get("/readyz", None).await;
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(body_json(ready).await["identity_provider"], "reachable");
    let jwks = body_json(gw.get("/.well-known/jwks.json", None).await).await;
    assert_eq!(jwks["keys"][0]["kty"], "OKP");
    let openapi = body_json(gw.get("/api/openapi.json", None).await).await;
    assert_eq!(openapi["openapi"], "3.1.0");
    gw.get(&format!("/api/procedures/{BIRTH}/decision"), None)
        .await;
    let metrics = gw.metrics_text().await;
    assert!(
        metrics.contains("wardgate_decisions_total{outcome=\"sign_in\",reason=\"no_session\"} 1"),
        "{metrics}"
    );
    let missing = gw.get("/api/procedures/9.999999/decision", None).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(body_json(missing).await["error"], "unknown_procedure");
}

#[tokio::test]
async fn staff_pages_need_a_staff_sign_in() {
    let gw = TestGateway::start().await;
    let anonymous = gw.get("/staff", None).await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    // A resident who is not staff is refused and told which code to give the administrator.
    let refused = staff_login(&gw, "level2").await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(body_text(refused).await.contains("staff.subjects"));

    let accepted = staff_login(&gw, "officer").await;
    assert_eq!(accepted.status(), StatusCode::SEE_OTHER);
    let staff_cookie = set_cookies(&accepted)
        .into_iter()
        .find(|c| c.starts_with("wardgate-staff="))
        .map(|c| c.split(';').next().unwrap().to_owned())
        .expect("staff cookie");
    let dashboard = gw.get("/staff", Some(&staff_cookie)).await;
    assert_eq!(dashboard.status(), StatusCode::OK);
    assert!(body_text(dashboard).await.contains("Lịch hẹn hôm nay"));

    // A ticket issued to a resident can be looked up by its code, typed loosely.
    let body = body_json(
        gw.get(
            &format!("/api/procedures/{BIRTH}/decision?in_person=1"),
            None,
        )
        .await,
    )
    .await;
    let code = body["referral"]["ticket_code"]
        .as_str()
        .unwrap()
        .to_lowercase()
        .replace('-', " ");
    let lookup = gw
        .get(
            &format!(
                "/staff/tickets?code={}",
                url::form_urlencoded::byte_serialize(code.as_bytes()).collect::<String>()
            ),
            Some(&staff_cookie),
        )
        .await;
    assert_eq!(lookup.status(), StatusCode::OK);
    assert!(body_text(lookup).await.contains("Mã lịch hẹn hợp lệ"));
    let stats = gw
        .send(
            Request::get("/staff/stats")
                .header(header::COOKIE, staff_cookie.as_str())
                .header(header::ACCEPT, "application/json")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(stats.status(), StatusCode::OK);
    let stats = body_json(stats).await;
    // A referral is not a dossier: only a receipt or a counter reception makes one.
    assert_eq!(stats["referrals"], 1, "{stats}");
    assert_eq!(stats["dossiers"], 0, "{stats}");

    // A resident session does not open staff pages.
    let (_, session) = gw.sign_in("level2").await;
    assert_eq!(
        gw.get("/staff", session.as_deref()).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

pub(crate) async fn staff_login(gw: &TestGateway, persona: &str) -> Response<Body> {
    let login = gw.get("/staff/login", None).await;
    assert_eq!(login.status(), StatusCode::SEE_OTHER);
    let flow = cookie_pair(&login).unwrap();
    let callback = choose_persona(&Url::parse(location(&login)).unwrap(), persona).await;
    let path = format!("{}?{}", callback.path(), callback.query().unwrap_or(""));
    gw.get(&path, Some(&flow)).await
}

pub(crate) fn submission(
    path: &str,
    cookie: Option<&str>,
    key: Option<&str>,
    body: &str,
) -> Request<Body> {
    let mut request = Request::post(path)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json");
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    request.body(Body::from(body.to_owned())).unwrap()
}

pub(crate) async fn example_dossier(gw: &TestGateway, code: &str) -> String {
    let list = body_json(gw.get("/api/procedures", None).await).await;
    let procedure = list
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["code"] == code)
        .unwrap();
    procedure["example"].to_string()
}

#[tokio::test]
async fn level_two_resident_files_online_once_per_idempotency_key() {
    let gw = TestGateway::start().await;
    let (_, session) = gw.sign_in("level2").await;
    let session = session.unwrap();
    let dossier = example_dossier(&gw, BIRTH).await;
    let path = format!("/api/procedures/{BIRTH}/submissions");

    let first = gw
        .send(submission(&path, Some(&session), Some("key-1"), &dossier))
        .await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first = body_json(first).await;
    let code = first["dossier_code"].as_str().unwrap().to_owned();

    let again = gw
        .send(submission(&path, Some(&session), Some("key-1"), &dossier))
        .await;
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(body_json(again).await["dossier_code"], code.as_str());

    // The receipt verifies against the published keys.
    let jwks = body_json(gw.get("/.well-known/jwks.json", None).await).await;
    let verifier = wardgate::submission::ReceiptVerifier::from_jwks(&jwks).unwrap();
    let receipt = verifier.verify(first["receipt"].as_str().unwrap()).unwrap();
    assert_eq!(receipt.dossier_code.to_string(), code);
    assert_eq!(receipt.level, wardgate::Level::Two);

    // The same key with another dossier is a conflict, not a second dossier.
    let other = dossier.replacen('{', "{\"unexpected\":1,", 1);
    let conflict = gw
        .send(submission(&path, Some(&session), Some("key-1"), &other))
        .await;
    assert_eq!(conflict.status(), StatusCode::CONFLICT);

    // The printable receipt is the resident's.
    let page = gw.get(&format!("/receipts/{code}"), Some(&session)).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(body_text(page).await.contains(&code));
    assert_eq!(
        gw.get(&format!("/receipts/{code}"), None).await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn an_invalid_dossier_gets_422_naming_each_bad_field() {
    let gw = TestGateway::start().await;
    let (_, session) = gw.sign_in("level2").await;
    let path = format!("/api/procedures/{BIRTH}/submissions");
    let response = gw
        .send(submission(&path, session.as_deref(), Some("key-2"), "{}"))
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = body_json(response).await;
    assert_eq!(body["error"], "invalid_dossier");
    let errors = body["errors"].as_array().unwrap();
    assert!(!errors.is_empty());
    assert!(
        errors
            .iter()
            .all(|e| e["field"].is_string() && e["problem"] == "is required"),
        "{body}"
    );
    let broken = gw
        .send(submission(
            &path,
            session.as_deref(),
            Some("key-3"),
            "{not json",
        ))
        .await;
    assert_eq!(broken.status(), StatusCode::BAD_REQUEST);
    assert_eq!(body_json(broken).await["error"], "malformed_json");
}

#[tokio::test]
async fn without_a_session_submission_gets_the_rfc9470_challenge() {
    let gw = TestGateway::start().await;
    let dossier = example_dossier(&gw, BIRTH).await;
    let response = gw
        .send(submission(
            &format!("/api/procedures/{BIRTH}/submissions"),
            None,
            Some("k"),
            &dossier,
        ))
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = response.headers()[header::WWW_AUTHENTICATE]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.starts_with("Bearer error=\"insufficient_user_authentication\""),
        "{challenge}"
    );
    assert!(
        challenge.contains(&format!("acr_values=\"{}\"", devidp::ACR_LEVEL_2)),
        "{challenge}"
    );
    assert!(challenge.contains("max_age=\""), "{challenge}");
    assert_eq!(body_json(response).await["decision"], "sign_in");
}

#[tokio::test]
async fn a_procedure_requiring_presence_answers_403_with_the_referral() {
    let gw = TestGateway::start().await;
    let (_, session) = gw.sign_in("level2").await;
    let presence = "2.000815";
    let dossier = example_dossier(&gw, presence).await;
    let response = gw
        .send(submission(
            &format!("/api/procedures/{presence}/submissions"),
            session.as_deref(),
            Some("k"),
            &dossier,
        ))
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body = body_json(response).await;
    assert_eq!(body["error"], "in_person_required");
    assert_eq!(body["reason"], "presence_required");
    assert!(body["referral"]["ticket_code"].is_string());
}

#[tokio::test]
async fn cross_site_and_non_json_submissions_are_refused() {
    let gw = TestGateway::start().await;
    let (_, session) = gw.sign_in("level2").await;
    let path = format!("/api/procedures/{BIRTH}/submissions");
    let mut cross = submission(&path, session.as_deref(), Some("k"), "{}");
    cross
        .headers_mut()
        .insert(header::ORIGIN, "https://evil.example".parse().unwrap());
    assert_eq!(gw.send(cross).await.status(), StatusCode::FORBIDDEN);
    let mut form = submission(&path, session.as_deref(), Some("k"), "a=b");
    form.headers_mut().insert(
        header::CONTENT_TYPE,
        "application/x-www-form-urlencoded".parse().unwrap(),
    );
    assert_eq!(
        gw.send(form).await.status(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    let missing = gw
        .send(submission(&path, session.as_deref(), None, "{}"))
        .await;
    assert_eq!(missing.status(), StatusCode::BAD_REQUEST);
    assert_eq!(body_json(missing).await["error"], "missing_idempotency_key");
}

#[tokio::test]
async fn the_browser_form_files_once_and_shows_the_receipt() {
    let gw = TestGateway::start().await;
    let (_, session) = gw.sign_in("level2").await;
    let session = session.unwrap();
    let page = body_text(
        gw.get(&format!("/procedures/{BIRTH}"), Some(&session))
            .await,
    )
    .await;
    let hidden = |name: &str| {
        page.split(&format!("name=\"{name}\" value=\""))
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_else(|| panic!("no {name} field"))
            .to_owned()
    };
    let example: Value = serde_json::from_str(&example_dossier(&gw, BIRTH).await).unwrap();
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("csrf_token", &hidden("csrf_token"));
    form.append_pair("idempotency_key", &hidden("idempotency_key"));
    for (name, value) in example.as_object().unwrap() {
        let text = value
            .as_str()
            .map_or_else(|| value.to_string(), str::to_owned);
        form.append_pair(name, &text);
    }
    let body = form.finish();
    let post = || {
        Request::post(format!("/procedures/{BIRTH}/submit"))
            .header(header::COOKIE, session.as_str())
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body.clone()))
            .unwrap()
    };
    let response = gw.send(post()).await;
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "{}",
        body_text(response).await
    );
    let receipt = location(&response).to_owned();
    assert!(receipt.starts_with("/receipts/"));
    // A double submit lands on the same receipt.
    let again = gw.send(post()).await;
    assert_eq!(location(&again), receipt);
    let page = gw.get(&receipt, Some(&session)).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(body_text(page).await.contains("Giấy tiếp nhận hồ sơ"));
}

#[tokio::test]
async fn reloading_a_referral_keeps_the_same_ticket() {
    let gw = TestGateway::start().await;
    let first = gw
        .get(&format!("/procedures/{BIRTH}?in_person=1"), None)
        .await;
    let cookie = set_cookies(&first)
        .into_iter()
        .find(|c| c.starts_with("wardgate-ticket="))
        .map(|c| c.split(';').next().unwrap().to_owned())
        .expect("ticket cookie");
    let code_of = |html: &str| {
        html.split("/tickets/")
            .nth(1)
            .and_then(|r| r.split('?').next())
            .unwrap()
            .to_owned()
    };
    let first_code = code_of(&body_text(first).await);
    let again = body_text(
        gw.get(&format!("/procedures/{BIRTH}?in_person=1"), Some(&cookie))
            .await,
    )
    .await;
    assert_eq!(code_of(&again), first_code);
}

#[tokio::test]
async fn asking_the_decision_api_again_keeps_the_same_ticket() {
    let gw = TestGateway::start().await;
    let path = format!("/api/procedures/{BIRTH}/decision?in_person=1");
    let first = gw.get(&path, None).await;
    let cookie = set_cookies(&first)
        .into_iter()
        .find(|c| c.starts_with("wardgate-ticket="))
        .map(|c| c.split(';').next().unwrap().to_owned())
        .expect("ticket cookie");
    let first = body_json(first).await;
    let again = body_json(gw.get(&path, Some(&cookie)).await).await;
    assert_eq!(again["decision"], "in_person");
    assert_eq!(
        again["referral"]["ticket_code"],
        first["referral"]["ticket_code"]
    );
    // One referral counted, not two.
    let metrics = gw.metrics_text().await;
    assert!(
        metrics.contains("wardgate_referrals_total{reason=\"resident_chose_in_person\"} 1\n"),
        "{metrics}"
    );
    // Without the cookie it is a new referral with a new ticket.
    let other = body_json(gw.get(&path, None).await).await;
    assert_ne!(
        other["referral"]["ticket_code"],
        first["referral"]["ticket_code"]
    );
}

#[tokio::test]
async fn origin_null_is_same_origin_only_with_fetch_metadata_saying_so() {
    // What a browser sends on a same-origin form post from a `Referrer-Policy: no-referrer`
    // page: `Origin: null` and `Sec-Fetch-Site: same-origin`.
    let gw = TestGateway::start().await;
    let (_, session) = gw.sign_in("level2").await;
    let dossier = example_dossier(&gw, BIRTH).await;
    let path = format!("/api/procedures/{BIRTH}/submissions");
    let with = |key: &str, site: Option<&str>| {
        let mut request = submission(&path, session.as_deref(), Some(key), &dossier);
        request
            .headers_mut()
            .insert(header::ORIGIN, "null".parse().unwrap());
        if let Some(site) = site {
            request
                .headers_mut()
                .insert("sec-fetch-site", site.parse().unwrap());
        }
        request
    };
    for (key, site) in [
        ("k-cross", Some("cross-site")),
        ("k-bare", None),
        ("k-sibling", Some("same-site")),
    ] {
        assert_eq!(
            gw.send(with(key, site)).await.status(),
            StatusCode::FORBIDDEN,
            "Origin: null with Sec-Fetch-Site {site:?}"
        );
    }
    assert_eq!(
        gw.send(with("k-same", Some("same-origin"))).await.status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn a_saved_draft_prefills_the_form_and_reaches_the_counter_with_the_ticket() {
    let gw = TestGateway::start().await;
    let (_, session) = gw.sign_in("level2").await;
    let session = session.unwrap();
    let page = body_text(
        gw.get(&format!("/procedures/{BIRTH}"), Some(&session))
            .await,
    )
    .await;
    let csrf = page
        .split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    let example: Value = serde_json::from_str(&example_dossier(&gw, BIRTH).await).unwrap();
    let (field, value) = example
        .as_object()
        .unwrap()
        .iter()
        .find(|(_, v)| v.is_string())
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .unwrap();
    let form = format!(
        "csrf_token={csrf}&{field}={}",
        url::form_urlencoded::byte_serialize(value.as_bytes()).collect::<String>()
    );
    let saved = gw
        .send(
            Request::post(format!("/procedures/{BIRTH}/draft"))
                .header(header::COOKIE, session.as_str())
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(form))
                .unwrap(),
        )
        .await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let draft_cookie = set_cookies(&saved)
        .into_iter()
        .find(|c| c.starts_with("wardgate-draft="))
        .map(|c| c.split(';').next().unwrap().to_owned())
        .expect("draft cookie");
    let cookies = format!("{session}; {draft_cookie}");
    let prefilled = body_text(gw.get(location(&saved), Some(&cookies)).await).await;
    assert!(prefilled.contains("Đã lưu nháp"));
    // The answer as the template writes it, escaped.
    let escaped = wardgate::portal::html::html! { (value) }.into_string();
    assert!(prefilled.contains(&format!("value=\"{escaped}\"")));

    // The resident goes in person instead: the ticket carries the draft to the counter (only
    // while the resident who saved it is signed in: a draft is theirs alone).
    let referral = body_text(
        gw.get(&format!("/procedures/{BIRTH}?in_person=1"), Some(&cookies))
            .await,
    )
    .await;
    let code = referral
        .split("/tickets/")
        .nth(1)
        .and_then(|r| r.split('?').next())
        .unwrap()
        .to_owned();
    let officer = staff_login(&gw, "officer").await;
    let staff_cookie = set_cookies(&officer)
        .into_iter()
        .find(|c| c.starts_with("wardgate-staff="))
        .map(|c| c.split(';').next().unwrap().to_owned())
        .unwrap();
    let lookup = body_text(
        gw.get(&format!("/staff/tickets?code={code}"), Some(&staff_cookie))
            .await,
    )
    .await;
    assert!(
        lookup.contains(&escaped),
        "the draft's answer is shown to the officer"
    );
}

#[tokio::test]
async fn the_same_idempotency_key_returns_the_same_dossier_after_a_restart() {
    let idp = Arc::new(simulator().await);
    let dir = tempdir::TempDir::new("restart");
    let first = TestGateway::on_sqlite(&idp, &dir.0).await;
    let (_, session) = first.sign_in("level2").await;
    let session = session.unwrap();
    let dossier = example_dossier(&first, BIRTH).await;
    let path = format!("/api/procedures/{BIRTH}/submissions");
    let created = first
        .send(submission(
            &path,
            Some(&session),
            Some("restart-key"),
            &dossier,
        ))
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let code = body_json(created).await["dossier_code"]
        .as_str()
        .unwrap()
        .to_owned();
    drop(first);

    // A new gateway process on the same data directory and database.
    let second = TestGateway::on_sqlite(&idp, &dir.0).await;
    let replay = second
        .send(submission(
            &path,
            Some(&session),
            Some("restart-key"),
            &dossier,
        ))
        .await;
    assert_eq!(replay.status(), StatusCode::OK);
    assert_eq!(body_json(replay).await["dossier_code"], code.as_str());
}

/// Everything the test subscriber writes.
#[derive(Clone, Default)]
pub(crate) struct CapturedLogs(pub(crate) Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for CapturedLogs {
    type Writer = Self;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn the_filed_dossier_is_sealed_in_the_database() {
    let idp = Arc::new(simulator().await);
    let dir = tempdir::TempDir::new("sealed-dossier");
    let gw = TestGateway::on_sqlite(&idp, &dir.0).await;
    let (_, session) = gw.sign_in("level2").await;
    let dossier = example_dossier(&gw, BIRTH).await;
    let path = format!("/api/procedures/{BIRTH}/submissions");
    let filed = gw
        .send(submission(
            &path,
            session.as_deref(),
            Some("sealed-1"),
            &dossier,
        ))
        .await;
    assert_eq!(filed.status(), StatusCode::CREATED);
    // A replay after the dossier was sealed still gets the same receipt.
    let again = gw
        .send(submission(
            &path,
            session.as_deref(),
            Some("sealed-1"),
            &dossier,
        ))
        .await;
    assert_eq!(again.status(), StatusCode::OK);
    // A draft of the same answers is sealed too.
    let session = session.unwrap();
    let saved = gw.save_draft_from_form(&session, &dossier).await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    drop(gw);

    let mut stored = Vec::new();
    for entry in std::fs::read_dir(&dir.0).unwrap() {
        stored.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    assert!(stored.len() > 10_000, "the database was written");
    assert!(
        contains(&stored, "\"sealed\""),
        "the sealed dossier is in the database"
    );
    // The filed dossier's own personal data (citizen ID numbers, names) is sealed at rest.
    let personal = dossier_personal_values(BIRTH);
    assert!(
        personal.len() >= 2,
        "the example has names and citizen IDs: {}",
        personal.len()
    );
    for value in &personal {
        assert!(
            !contains(&stored, value),
            "a personal field of the filed dossier is in clear in the database"
        );
    }
}

/// The example dossier's values of citizen-ID fields and of fields holding names.
pub(crate) fn dossier_personal_values(code: &str) -> Vec<String> {
    let catalog =
        Catalog::load(concat!(env!("CARGO_MANIFEST_DIR"), "/samples/catalog.toml")).unwrap();
    let procedure = catalog.procedure(code).unwrap();
    let example = procedure.example();
    procedure
        .fields()
        .iter()
        .filter(|field| {
            field.kind == FieldKind::CitizenId
                || field.name.contains("name")
                || field.name.contains("ho_ten")
        })
        .filter_map(|field| example[field.name.as_str()].as_str().map(str::to_owned))
        .filter(|value| !value.is_empty())
        .collect()
}

/// The test binary's global log subscriber, installed on first use: every event of every test
/// from then on lands in one buffer. (A thread-scoped subscriber misses events when other tests
/// run at the same time, as callsite interest is cached process-wide.)
pub(crate) fn captured_logs() -> &'static CapturedLogs {
    static LOGS: std::sync::OnceLock<CapturedLogs> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = CapturedLogs::default();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(logs.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_global_default(subscriber)
            .expect("no other global subscriber in the test binary");
        logs
    })
}

pub(crate) fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn personal_data_never_reaches_logs_metrics_or_the_database() {
    let logs = captured_logs();

    let idp = Arc::new(simulator().await);
    let dir = tempdir::TempDir::new("personal-data");
    let gw = TestGateway::on_sqlite(&idp, &dir.0).await;
    // Every flow: online filing, level 1, cancel, provider error, no e-ID, staff.
    let (_, session) = gw.sign_in("level2").await;
    let dossier = example_dossier(&gw, BIRTH).await;
    let path = format!("/api/procedures/{BIRTH}/submissions");
    let filed = gw
        .send(submission(
            &path,
            session.as_deref(),
            Some("pd-1"),
            &dossier,
        ))
        .await;
    assert_eq!(filed.status(), StatusCode::CREATED);
    for persona in ["level1", "cancel", "error", "no_eid"] {
        let (callback, _) = gw.sign_in(persona).await;
        gw.get(location(&callback), None).await;
    }
    let officer = staff_login(&gw, "officer").await;
    assert_eq!(officer.status(), StatusCode::SEE_OTHER);
    let metrics = gw.metrics_text().await;
    drop(gw);

    let mut stored = Vec::new();
    for entry in std::fs::read_dir(&dir.0).unwrap() {
        stored.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    let logs = logs.0.lock().unwrap().clone();
    assert!(
        contains(&logs, "login verified"),
        "the subscriber captured the gateway's logs"
    );
    assert!(stored.len() > 10_000, "the database was written");
    for persona in devidp::Persona::defaults() {
        if let devidp::PersonaOutcome::Authenticates { identity, .. } = &persona.outcome {
            for secret in [&identity.citizen_pid, &identity.full_name, &identity.sub] {
                assert!(
                    !contains(&logs, secret),
                    "{} of {} in the logs",
                    if secret == &identity.sub {
                        "sub"
                    } else {
                        "identity data"
                    },
                    persona.id
                );
                assert!(
                    !contains(&stored, secret),
                    "identity data of {} in the database",
                    persona.id
                );
                assert!(
                    !metrics.contains(secret.as_str()),
                    "identity data of {} in the metrics",
                    persona.id
                );
            }
        }
    }
}

fn header_names(response: &Response<Body>) -> Vec<String> {
    response
        .headers()
        .keys()
        .map(|name| name.as_str().to_owned())
        .collect()
}

#[tokio::test]
async fn the_schema_check_refuses_answers_the_document_does_not_describe() {
    let gw = TestGateway::start().await;
    let (_, session) = gw.sign_in("level2").await;
    let dossier = example_dossier(&gw, BIRTH).await;
    let path = format!("/api/procedures/{BIRTH}/submissions");
    let created = gw
        .send(submission(
            &path,
            session.as_deref(),
            Some("schema-1"),
            &dossier,
        ))
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let headers = header_names(&created);
    let body = body_json(created).await;
    let document = openapi::document();
    let check = |status: u16, headers: &[String], body: &Value| {
        openapi::check_response(document, "POST", &path, status, headers, body)
    };
    assert_eq!(check(201, &headers, &body), Ok(()));

    // A required field missing.
    let mut without_receipt = body.clone();
    without_receipt.as_object_mut().unwrap().remove("receipt");
    assert_eq!(
        check(201, &headers, &without_receipt),
        Err(
            "/api/procedures/{code}/submissions 201: /: required property `receipt` is missing"
                .to_owned()
        )
    );
    // A field the document does not name.
    let mut extra = body.clone();
    extra["signed_by"] = Value::from("someone");
    assert_eq!(
        check(201, &headers, &extra),
        Err(
            "/api/procedures/{code}/submissions 201: /: property `signed_by` is not in the document"
                .to_owned()
        )
    );
    // A field of the wrong type.
    let mut wrong = body.clone();
    wrong["level"] = Value::from("2");
    assert_eq!(
        check(201, &headers, &wrong),
        Err(
            "/api/procedures/{code}/submissions 201: /level: \"2\" is not of type integer"
                .to_owned()
        )
    );
    // A status the document does not list.
    assert_eq!(
        check(418, &headers, &body),
        Err("/api/procedures/{code}/submissions: status 418 is not documented".to_owned())
    );

    // The 401 needs its challenge header, and the referral its ticket.
    let challenge = gw
        .send(submission(&path, None, Some("schema-2"), &dossier))
        .await;
    assert_eq!(challenge.status(), StatusCode::UNAUTHORIZED);
    let body = body_json(challenge).await;
    assert_eq!(
        check(401, &[], &body),
        Err("/api/procedures/{code}/submissions 401: header WWW-Authenticate missing".to_owned())
    );
    let decision = format!("/api/procedures/{BIRTH}/decision");
    let referred = gw.get(&format!("{decision}?in_person=1"), None).await;
    let headers = header_names(&referred);
    let mut body = body_json(referred).await;
    assert_eq!(
        openapi::check_response(document, "GET", &decision, 200, &headers, &body),
        Ok(())
    );
    body["referral"].as_object_mut().unwrap().remove("point");
    let refused = openapi::check_response(document, "GET", &decision, 200, &headers, &body);
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.contains("/referral: required property `point` is missing")),
        "{refused:?}"
    );
}

#[test]
fn the_schema_check_knows_every_keyword_the_document_uses() {
    assert_eq!(
        openapi::unknown_keywords(openapi::document()),
        std::collections::BTreeSet::new()
    );
}
