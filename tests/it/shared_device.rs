//! One device, many people: staff sign-in and sessions, sign-out (ours and the provider's),
//! and the resident session's sliding idle timeout, through the gateway's router against the
//! provider simulator, with one cookie jar playing the browser.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response, StatusCode, header};
use chrono::{Duration, Utc};
use serde_json::Value;
use tower::ServiceExt as _;
use url::Url;
use wardgate::assurance::{AcrTable, LevelSource};
use wardgate::clock::{FixedClock, SystemRandom};
use wardgate::devidp::{self, DevIdp, DevIdpConfig, DevIdpHandle};
use wardgate::oidc::{ClientConfig, RelyingParty, ReqwestHttp};
use wardgate::portal::config::StaffConfig;
use wardgate::portal::{Gateway, gateway_router};
use wardgate::store::MemoryStore;

use crate::gateway::{BIRTH, PUBLIC, body_text, builder_on, location, set_cookies, tempdir};
use crate::support::devidp::choose_persona;
use crate::support::jar;

/// The simulator's subject of the level-1 persona.
const LEVEL1_SUB: &str = "devidp-p1-2c8e5b07d9a4f163";
/// The simulator's subject of the officer persona.
const OFFICER_SUB: &str = "devidp-staff-9d41c7a2e85b3f06";

/// A device: the simulator, the gateway's key directory (a rebuilt gateway on it is a restart
/// with a new configuration), the gateway's clock and the browser's cookie jar.
struct Device {
    idp: Arc<DevIdpHandle>,
    dir: tempdir::TempDir,
    clock: Arc<FixedClock>,
    store: Arc<MemoryStore>,
    router: Router,
    gateway: Arc<Gateway>,
    jar: BTreeMap<String, String>,
}

async fn simulator() -> DevIdpHandle {
    let redirect = format!("{PUBLIC}/auth/callback");
    // The simulator returns the level the account has even when a higher one was essential, so
    // a level-1 login reaches the gateway's own staff check.
    DevIdp::start(
        DevIdpConfig::new()
            .client(
                devidp::DEFAULT_CLIENT_ID,
                Some(devidp::DEFAULT_CLIENT_SECRET),
                [redirect.as_str()],
            )
            .honour_essential_acr(false),
    )
    .await
    .unwrap()
}

async fn build(
    idp: &DevIdpHandle,
    dir: &std::path::Path,
    clock: &Arc<FixedClock>,
    store: &Arc<MemoryStore>,
    staff: StaffConfig,
) -> Arc<Gateway> {
    let redirect = format!("{PUBLIC}/auth/callback");
    let client = ClientConfig::new(devidp::DEFAULT_CLIENT_ID, Url::parse(&redirect).unwrap())
        .client_secret(devidp::DEFAULT_CLIENT_SECRET)
        .level_source(LevelSource::acr(
            AcrTable::new([devidp::ACR_LEVEL_1], [devidp::ACR_LEVEL_2]).unwrap(),
        ))
        .fetch_userinfo(true);
    let clock: Arc<dyn wardgate::Clock> = clock.clone();
    let random: Arc<dyn wardgate::clock::Random> = Arc::new(SystemRandom::new());
    let rp = RelyingParty::discover(
        idp.issuer().as_str(),
        client,
        ReqwestHttp::new().unwrap(),
        Arc::clone(&clock),
        Arc::clone(&random),
    )
    .await
    .unwrap();
    builder_on(dir, Arc::clone(store) as _, clock, random)
        .relying_party(rp)
        .with_staff(staff)
        .build()
        .unwrap()
}

impl Device {
    async fn new(staff: StaffConfig) -> Self {
        let idp = Arc::new(simulator().await);
        let dir = tempdir::TempDir::new("shared-device");
        let clock = Arc::new(FixedClock::new(Utc::now()));
        let store = Arc::new(MemoryStore::new());
        let gateway = build(&idp, &dir.0, &clock, &store, staff).await;
        Self {
            store,
            router: gateway_router(Arc::clone(&gateway)),
            gateway,
            idp,
            dir,
            clock,
            jar: BTreeMap::new(),
        }
    }

    /// The gateway restarted on the same keys with `staff` as its staff configuration.
    async fn restart(&mut self, staff: StaffConfig) {
        self.gateway = build(&self.idp, &self.dir.0, &self.clock, &self.store, staff).await;
        self.router = gateway_router(Arc::clone(&self.gateway));
    }

    /// The subject pseudonym this gateway gives the simulator's `sub`.
    fn pseudonym(&self, sub: &str) -> String {
        self.gateway
            .gate()
            .pseudonym(self.idp.issuer().as_str(), sub)
            .as_str()
            .to_owned()
    }

    /// Sends `request` with the jar's cookies and stores what the response sets or removes.
    async fn send(&mut self, mut request: Request<Body>) -> Response<Body> {
        jar::attach(&self.jar, &mut request);
        let response = self.router.clone().oneshot(request).await.unwrap();
        jar::keep(&mut self.jar, &response);
        response
    }

    async fn get(&mut self, path: &str) -> Response<Body> {
        self.send(Request::get(path).body(Body::empty()).unwrap())
            .await
    }

    async fn post_form(&mut self, path: &str, form: &str) -> Response<Body> {
        self.send(
            Request::post(path)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(form.to_owned()))
                .unwrap(),
        )
        .await
    }

    /// Starts a login at `start` and picks `persona` at the simulator: the callback response.
    async fn login(&mut self, start: &str, persona: &str) -> Response<Body> {
        let login = self.get(start).await;
        assert_eq!(login.status(), StatusCode::SEE_OTHER, "{start}");
        let callback = choose_persona(&Url::parse(location(&login)).unwrap(), persona).await;
        let path = format!("{}?{}", callback.path(), callback.query().unwrap_or(""));
        self.get(&path).await
    }

    async fn staff_login(&mut self, persona: &str) -> Response<Body> {
        self.login("/staff/login", persona).await
    }

    async fn resident_login(&mut self, persona: &str) -> Response<Body> {
        self.login(&format!("/login?procedure={BIRTH}"), persona)
            .await
    }

    fn has(&self, name: &str) -> bool {
        self.jar.contains_key(name)
    }
}

/// The value of the first `csrf_token` field of the sign-out form in `page`.
fn sign_out_token(page: &str) -> String {
    let form = page
        .split("action=\"/logout\"")
        .nth(1)
        .expect("a sign-out form");
    form.split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the sign-out form's token")
        .to_owned()
}

/// The provider URL a sign-out answer sends the browser on to (its `meta` refresh).
async fn end_session_url(response: Response<Body>) -> Url {
    assert_eq!(response.status(), StatusCode::OK);
    let page = body_text(response).await;
    let target = page
        .split("http-equiv=\"refresh\" content=\"0;url=")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a refresh to the provider")
        .replace("&amp;", "&");
    Url::parse(&target).unwrap()
}

fn listed(subject: String) -> StaffConfig {
    StaffConfig::new(vec![subject], None)
}

/// What a browser without any cookie gets at `/staff`.
async fn stranger_at_staff(device: &Device) -> (StatusCode, String) {
    let response = device
        .router
        .clone()
        .oneshot(Request::get("/staff").body(Body::empty()).unwrap())
        .await
        .unwrap();
    (response.status(), body_text(response).await)
}

#[tokio::test]
async fn a_staff_sign_in_asks_for_a_fresh_level_2_authentication() {
    let mut device = Device::new(StaffConfig::default()).await;
    let login = device.get("/staff/login").await;
    assert_eq!(login.status(), StatusCode::SEE_OTHER);
    // The parameters as the provider received them (pushed, when it takes pushed requests).
    let recorded = device.idp.recorded_authorization_requests();
    let sent = recorded.last().expect("an authorization request");
    assert_eq!(sent.get("prompt"), Some("login"));
    assert_eq!(sent.get("max_age"), Some("300"));
    assert_eq!(sent.get("acr_values"), Some(devidp::ACR_LEVEL_2));
}

#[tokio::test]
async fn a_level_1_login_on_the_staff_list_is_refused_with_a_page_that_says_why() {
    let mut device = Device::new(StaffConfig::default()).await;
    let level1 = device.pseudonym(LEVEL1_SUB);
    device.restart(listed(level1)).await;

    let refused = device.staff_login("level1").await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(
        !set_cookies(&refused)
            .iter()
            .any(|c| c.starts_with("wardgate-staff="))
    );
    let page = body_text(refused).await;
    assert!(page.contains("mức độ 2"), "{page}");
    assert!(page.contains("mức độ 1"), "{page}");
    assert_eq!(
        device.get("/staff").await.status(),
        StatusCode::UNAUTHORIZED
    );

    // In English too.
    let login = device.get("/staff/login?lang=en").await;
    let callback = choose_persona(&Url::parse(location(&login)).unwrap(), "level1").await;
    let path = format!("{}?{}", callback.path(), callback.query().unwrap_or(""));
    let page = body_text(device.get(&path).await).await;
    assert!(
        page.contains("Staff pages open only with a level-2"),
        "{page}"
    );
}

#[tokio::test]
async fn a_staff_member_removed_from_the_list_loses_access_on_the_next_request() {
    let mut device = Device::new(StaffConfig::default()).await;
    let officer = device.pseudonym(OFFICER_SUB);
    device.restart(listed(officer)).await;

    let signed_in = device.staff_login("officer").await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    assert_eq!(device.get("/staff").await.status(), StatusCode::OK);

    // The same keys, the list without them: the sealed cookie no longer opens anything, and
    // the gateway removes it.
    device.restart(StaffConfig::default()).await;
    let refused = device.get("/staff").await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert!(!device.has("wardgate-staff"));
}

#[tokio::test]
async fn a_role_claim_counts_only_from_the_provider_named_for_it() {
    let role = Some(("roles".to_owned(), devidp::STAFF_ROLE.to_owned()));
    // From the named provider's signed ID token, the role opens the staff pages.
    let mut device = Device::new(StaffConfig::new(Vec::new(), role.clone())).await;
    assert_eq!(
        device.staff_login("officer").await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(device.get("/staff").await.status(), StatusCode::OK);

    // Named for another provider, the same claim counts for nothing, at sign-in and for a
    // session opened before the change.
    device
        .restart(StaffConfig::new(Vec::new(), role).role_provider("vneid"))
        .await;
    assert_eq!(
        device.get("/staff").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let refused = device.staff_login("officer").await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(body_text(refused).await.contains("staff.subjects"));
}

#[tokio::test]
async fn a_staff_session_is_a_browser_session_cookie_with_idle_and_absolute_timeouts() {
    let mut device = Device::new(StaffConfig::default()).await;
    let officer = device.pseudonym(OFFICER_SUB);
    device.restart(listed(officer).timeouts(15, 40, 5)).await;
    let signed_in = device.staff_login("officer").await;
    let cookie = set_cookies(&signed_in)
        .into_iter()
        .find(|c| c.starts_with("wardgate-staff="))
        .expect("a staff cookie");
    assert!(!cookie.contains("Max-Age"), "{cookie}");
    assert!(!cookie.contains("Expires"), "{cookie}");

    // Each visit within 15 minutes slides the idle timeout.
    for _ in 0..2 {
        device.clock.advance(Duration::minutes(14));
        let page = device.get("/staff").await;
        assert_eq!(page.status(), StatusCode::OK);
        assert!(
            set_cookies(&page)
                .iter()
                .any(|c| c.starts_with("wardgate-staff=") && !c.contains("Max-Age")),
            "the visit refreshes the cookie"
        );
    }
    // 42 minutes after sign-in: the absolute timeout, however active the session was.
    device.clock.advance(Duration::minutes(14));
    assert_eq!(
        device.get("/staff").await.status(),
        StatusCode::UNAUTHORIZED
    );

    // A new sign-in left unused for 15 minutes ends too. (The provider signs with the real
    // time: the gateway's clock goes back to it for the sign-in.)
    device.clock.set(Utc::now());
    assert_eq!(
        device.staff_login("officer").await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(device.get("/staff").await.status(), StatusCode::OK);
    device.clock.advance(Duration::minutes(15));
    assert_eq!(
        device.get("/staff").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn every_staff_page_links_to_the_others_and_has_a_sign_out_button() {
    let mut device = Device::new(StaffConfig::default()).await;
    let officer = device.pseudonym(OFFICER_SUB);
    device.restart(listed(officer)).await;
    device.staff_login("officer").await;
    for path in ["/staff", "/staff/tickets?code=X", "/staff/stats"] {
        let page = device.get(path).await;
        let page = body_text(page).await;
        for link in [
            "href=\"/staff?lang=vi\"",
            "href=\"/staff/tickets?lang=vi\"",
            "href=\"/staff/stats?lang=vi\"",
        ] {
            assert!(page.contains(link), "{path} lacks {link}");
        }
        assert!(!sign_out_token(&page).is_empty(), "{path}");
        assert!(page.contains("Đăng xuất"), "{path}");
    }
}

#[tokio::test]
async fn after_staff_sign_out_the_same_jar_is_a_stranger_at_staff() {
    let mut device = Device::new(StaffConfig::default()).await;
    let officer = device.pseudonym(OFFICER_SUB);
    device.restart(listed(officer)).await;
    device.staff_login("officer").await;
    let page = body_text(device.get("/staff").await).await;
    let token = sign_out_token(&page);

    // A forged sign-out (no token) is refused and ends nothing.
    let forged = device.post_form("/logout", "csrf_token=nope").await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(device.get("/staff").await.status(), StatusCode::OK);

    let out = device
        .post_form("/logout", &format!("csrf_token={token}&lang=vi"))
        .await;
    assert_eq!(out.status(), StatusCode::OK);
    assert!(!device.has("wardgate-staff"));
    let (status, body) = stranger_at_staff(&device).await;
    let at_staff = device.get("/staff").await;
    assert_eq!(at_staff.status(), status);
    assert_eq!(body_text(at_staff).await, body);
}

#[tokio::test]
async fn sign_out_reaches_the_end_session_endpoint_and_checks_the_state_on_return() {
    let mut device = Device::new(StaffConfig::default()).await;
    device.resident_login("level2").await;
    assert!(device.has("wardgate-session"));
    let page = body_text(device.get(&format!("/procedures/{BIRTH}")).await).await;
    let token = sign_out_token(&page);

    let out = device
        .post_form("/logout", &format!("csrf_token={token}&lang=en"))
        .await;
    assert_eq!(out.status(), StatusCode::OK);
    // Every resident cookie goes, whatever the browser held.
    let removed: Vec<String> = set_cookies(&out)
        .into_iter()
        .filter(|c| c.contains("Max-Age=0"))
        .map(|c| c.split('=').next().unwrap().to_owned())
        .collect();
    for name in [
        "wardgate-session",
        "wardgate-login",
        "wardgate-draft",
        "wardgate-ticket",
        "wardgate-staff",
    ] {
        assert!(removed.iter().any(|r| r == name), "{name} not removed");
    }
    assert!(!device.has("wardgate-session"));

    // The browser goes on to the provider's end-session endpoint (a page that refreshes to
    // it: the form's POST may not be redirected to another origin).
    let end_session = end_session_url(out).await;
    assert_eq!(
        end_session.as_str().split('?').next(),
        Some(format!("{}session/end", device.idp.issuer()).as_str())
    );
    let params: BTreeMap<_, _> = end_session.query_pairs().into_owned().collect();
    assert_eq!(params["client_id"], devidp::DEFAULT_CLIENT_ID);
    assert_eq!(
        params["post_logout_redirect_uri"],
        format!("{PUBLIC}/auth/logged-out")
    );
    let state = params["state"].clone();
    assert!(state.len() >= 20);
    let answer = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(end_session.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 303);
    assert_eq!(device.idp.recorded_end_session_requests().len(), 1);
    let back = Url::parse(answer.headers()[header::LOCATION].to_str().unwrap()).unwrap();
    assert_eq!(back.path(), "/auth/logged-out");

    // A return with another state is not taken for the provider's sign-out.
    let jar = device.jar.clone();
    let forged = device.get("/auth/logged-out?state=forged").await;
    assert_eq!(forged.status(), StatusCode::BAD_REQUEST);
    assert!(body_text(forged).await.contains("not confirmed"));

    device.jar = jar;
    let home = device
        .get(&format!("{}?{}", back.path(), back.query().unwrap()))
        .await;
    assert_eq!(home.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&home), "/?lang=en");
    assert!(!device.has("wardgate-signout"));
}

#[tokio::test]
async fn post_logout_ends_the_resident_and_the_staff_session_alike() {
    let mut device = Device::new(StaffConfig::default()).await;
    let officer = device.pseudonym(OFFICER_SUB);
    device.restart(listed(officer)).await;
    device.staff_login("officer").await;
    device.resident_login("level2").await;
    let page = body_text(device.get(&format!("/procedures/{BIRTH}")).await).await;
    // The resident's sign-out form, not the staff one.
    let token = sign_out_token(&page);
    let out = device
        .post_form("/logout", &format!("csrf_token={token}"))
        .await;
    assert_eq!(out.status(), StatusCode::OK);
    assert!(!device.has("wardgate-session"));
    assert!(!device.has("wardgate-staff"));
    assert_eq!(
        device.get("/staff").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn the_resident_sessions_idle_timeout_slides_with_activity() {
    let mut device = Device::new(StaffConfig::default()).await;
    device.resident_login("level2").await;
    let signed_in = |page: &str| page.contains("action=\"/logout\"");
    // 25, 50 and 75 minutes after sign-in, each visit within the 30-minute idle timeout of the
    // one before: still signed in, well past 30 minutes.
    for _ in 0..3 {
        device.clock.advance(Duration::minutes(25));
        let page = device.get(&format!("/procedures/{BIRTH}")).await;
        assert!(
            set_cookies(&page)
                .iter()
                .any(|c| c.starts_with("wardgate-session=") && !c.contains("Max-Age=0")),
            "the visit slides the session"
        );
        assert!(signed_in(&body_text(page).await));
    }
    // Left alone for 30 minutes, it ends.
    device.clock.advance(Duration::minutes(30));
    let page = body_text(device.get(&format!("/procedures/{BIRTH}")).await).await;
    assert!(!signed_in(&page));
}

#[tokio::test]
async fn the_next_resident_signed_in_on_the_device_sees_nothing_of_the_previous_ones_draft() {
    let mut device = Device::new(StaffConfig::default()).await;
    device.resident_login("level2").await;
    let page = body_text(device.get(&format!("/procedures/{BIRTH}")).await).await;
    let token = sign_out_token(&page);
    let saved = device
        .post_form(
            &format!("/procedures/{BIRTH}/draft"),
            &format!("csrf_token={token}&child_name=Nguy%E1%BB%85n+B%C3%A9+Na"),
        )
        .await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    assert!(device.has("wardgate-draft"));
    let page = body_text(device.get(&format!("/procedures/{BIRTH}")).await).await;
    assert!(page.contains("Nguyễn Bé Na"), "the owner sees the draft");

    // The first resident walks away without signing out; the next one signs in on the same
    // browser, which still holds the draft cookie.
    device.resident_login("officer").await;
    assert!(device.has("wardgate-draft"));
    let page = body_text(device.get(&format!("/procedures/{BIRTH}")).await).await;
    assert!(
        !page.contains("Nguyễn Bé Na"),
        "the next resident sees no draft"
    );
    // Nor does anyone signed out.
    device.jar.remove("wardgate-session");
    let page = body_text(device.get(&format!("/procedures/{BIRTH}")).await).await;
    assert!(!page.contains("Nguyễn Bé Na"));

    // The owner, back, finds it again.
    device.resident_login("level2").await;
    let page = body_text(device.get(&format!("/procedures/{BIRTH}")).await).await;
    assert!(page.contains("Nguyễn Bé Na"));
}

/// Signs `officer` in as staff and turns assisted mode on with `label`; the staff cookie is
/// then dropped, as the officer hands the device over.
async fn make_assisted(device: &mut Device, label: &str) {
    let officer = device.pseudonym(OFFICER_SUB);
    device.restart(listed(officer)).await;
    device.staff_login("officer").await;
    let page = body_text(device.get("/staff/device").await).await;
    assert!(page.contains("chưa ở chế độ hỗ trợ"), "{page}");
    let token = sign_out_token(&page);
    let label_form: String = url::form_urlencoded::byte_serialize(label.as_bytes()).collect();

    // Only staff, with their token, can set it.
    let forged = device
        .post_form(
            "/staff/device",
            &format!("csrf_token=nope&action=enable&label={label_form}"),
        )
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let empty = device
        .post_form(
            "/staff/device",
            &format!("csrf_token={token}&action=enable&label=+"),
        )
        .await;
    assert_eq!(empty.status(), StatusCode::BAD_REQUEST);
    assert!(!device.has("wardgate-assisted"));

    let set = device
        .post_form(
            "/staff/device",
            &format!("csrf_token={token}&action=enable&label={label_form}"),
        )
        .await;
    assert_eq!(set.status(), StatusCode::SEE_OTHER);
    assert!(device.has("wardgate-assisted"));
    device.jar.remove("wardgate-staff");
}

#[tokio::test]
async fn only_staff_put_a_device_in_assisted_mode() {
    let mut device = Device::new(StaffConfig::default()).await;
    let stranger = device
        .post_form("/staff/device", "action=enable&label=X")
        .await;
    assert_eq!(stranger.status(), StatusCode::UNAUTHORIZED);
    assert!(!device.has("wardgate-assisted"));
    make_assisted(&mut device, "Tổ CNSCĐ khóm Xuân Hòa").await;
    // Every page now names who is helping.
    let home = body_text(device.get("/").await).await;
    assert!(home.contains("Tổ CNSCĐ khóm Xuân Hòa"), "{home}");
    assert!(home.contains("Người tiếp theo"));
}

#[tokio::test]
async fn an_assisted_device_asks_for_a_fresh_login_every_time_and_ends_an_idle_session() {
    let mut device = Device::new(StaffConfig::default()).await;
    make_assisted(&mut device, "Điểm tiếp nhận Nhà Bàng").await;

    for persona in ["level2", "officer"] {
        let signed_in = device.resident_login(persona).await;
        assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
        // The full request (pushed, or at the front channel when not pushed).
        let recorded = device.idp.recorded_authorization_requests();
        let sent = recorded
            .iter()
            .rev()
            .find(|r| r.get("state").is_some())
            .unwrap();
        assert_eq!(sent.get("prompt"), Some("login"), "{persona}");
        assert_eq!(sent.get("max_age"), Some("0"), "{persona}");
    }
    let page = body_text(device.get(&format!("/procedures/{BIRTH}")).await).await;
    assert!(page.contains("action=\"/logout\""));
    assert!(page.contains("Điểm tiếp nhận Nhà Bàng"));

    // Four minutes idle: still signed in. Then six without a request: the server ends it,
    // says so, and removes the resident's cookies.
    device.clock.advance(Duration::minutes(4));
    let page = body_text(device.get(&format!("/procedures/{BIRTH}")).await).await;
    assert!(page.contains("5 phút"), "the page warns first");
    device.clock.advance(Duration::minutes(6));
    let ended = device.get(&format!("/procedures/{BIRTH}")).await;
    assert!(!device.has("wardgate-session"));
    let page = body_text(ended).await;
    assert!(page.contains("Phiên làm việc trước đã kết thúc"), "{page}");
    assert!(device.has("wardgate-assisted"), "the device stays assisted");
}

#[tokio::test]
async fn next_person_on_an_assisted_device_clears_everything_of_the_previous_one() {
    let mut device = Device::new(StaffConfig::default()).await;
    make_assisted(&mut device, "Tổ CNSCĐ khóm Xuân Hòa").await;
    device.resident_login("level2").await;
    let page = body_text(device.get(&format!("/procedures/{BIRTH}")).await).await;
    let token = sign_out_token(&page);
    device
        .post_form(
            &format!("/procedures/{BIRTH}/draft"),
            &format!("csrf_token={token}&child_name=Nguy%E1%BB%85n+B%C3%A9+Na"),
        )
        .await;
    // The banner's button is a sign-out form with the resident's token.
    let page = body_text(device.get("/").await).await;
    let banner = page
        .split(">Người tiếp theo</button>")
        .next()
        .unwrap()
        .rsplit("action=\"/logout\"")
        .next()
        .unwrap();
    assert!(banner.contains(&token));
    let next = device
        .post_form("/logout", &format!("csrf_token={token}"))
        .await;
    assert_eq!(next.status(), StatusCode::OK);
    for name in ["wardgate-session", "wardgate-draft", "wardgate-ticket"] {
        assert!(!device.has(name), "{name} left behind");
    }
    assert!(device.has("wardgate-assisted"));
    let page = body_text(device.get(&format!("/procedures/{BIRTH}")).await).await;
    assert!(!page.contains("Nguyễn Bé Na"));
}

/// The value of the first field `name` in `page` (a hidden input or a select's first option).
fn field(page: &str, name: &str) -> String {
    let after = page
        .split(&format!("name=\"{name}\""))
        .nth(1)
        .unwrap_or_else(|| panic!("no field {name}"));
    after
        .split("value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no value for {name}"))
        .replace("&amp;", "&")
}

/// The appointment code a referral page shows.
fn ticket_code(page: &str) -> String {
    page.split("class=\"ticket-code\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("a ticket code on the referral")
        .to_owned()
}

fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// A level-1 resident signs in, is referred in person, books the first free slot and types
/// the form before the visit: the ticket's code.
async fn book_and_type_a_draft(device: &mut Device) -> String {
    device.resident_login("level1").await;
    let page = body_text(device.get(&format!("/procedures/{BIRTH}")).await).await;
    let code = ticket_code(&page);
    let booked = device
        .post_form(
            &format!("/procedures/{BIRTH}/book"),
            &form(&[
                ("ticket", &field(&page, "ticket")),
                ("point", &field(&page, "point")),
                ("start", &field(&page, "start")),
                ("ticket_token", &field(&page, "ticket_token")),
            ]),
        )
        .await;
    assert_eq!(
        booked.status(),
        StatusCode::SEE_OTHER,
        "the booking is made"
    );
    let draft_page = body_text(device.get(&format!("/tickets/{code}/draft")).await).await;
    let saved = device
        .post_form(
            &format!("/tickets/{code}/draft"),
            &form(&[
                ("ticket_token", &field(&draft_page, "ticket_token")),
                ("child_name", "Nguyễn Bé Na"),
            ]),
        )
        .await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER, "the draft is saved");
    // Its owner sees all of it again: the ticket with its booking, and the draft's answers.
    let page = body_text(device.get(&format!("/procedures/{BIRTH}")).await).await;
    assert_eq!(ticket_code(&page), code);
    assert!(page.contains("Bạn đã đặt lịch lúc"), "{page}");
    let draft_page = body_text(device.get(&format!("/tickets/{code}/draft")).await).await;
    assert!(draft_page.contains("Nguyễn Bé Na"));
    code
}

/// What `device` shows of the ticket `code` on the in-person referral and the draft page: the
/// referral's own code must differ, with no booking, and the draft page no answers.
async fn sees_nothing_of(device: &mut Device, code: &str, who: &str) {
    let draft_page = body_text(device.get(&format!("/tickets/{code}/draft")).await).await;
    assert!(
        !draft_page.contains("Nguyễn Bé Na"),
        "{who} reads the draft"
    );
    let online = body_text(device.get(&format!("/procedures/{BIRTH}")).await).await;
    assert!(!online.contains("Nguyễn Bé Na"), "{who} gets it pre-filled");
    let page = body_text(
        device
            .get(&format!("/procedures/{BIRTH}?in_person=1"))
            .await,
    )
    .await;
    assert_ne!(ticket_code(&page), code, "{who} reuses the ticket");
    assert!(
        !page.contains("Bạn đã đặt lịch lúc"),
        "{who} sees the booking"
    );
}

#[tokio::test]
async fn the_next_person_on_a_kept_cookie_jar_sees_nothing_of_the_previous_ones_ticket() {
    let mut device = Device::new(StaffConfig::default()).await;
    let code = book_and_type_a_draft(&mut device).await;

    // The resident walks away without signing out; their session ends on its own (idle), and
    // the browser keeps the ticket and draft cookies.
    device.clock.advance(Duration::minutes(31));
    assert!(device.has("wardgate-ticket"));
    let kept = device.jar.clone();

    // Someone signed out on that browser.
    sees_nothing_of(&mut device, &code, "a signed-out visitor").await;

    // The next resident signs in on the jar as it was left.
    device.jar = kept;
    device.jar.remove("wardgate-session");
    device.resident_login("officer").await;
    assert!(device.has("wardgate-ticket"));
    sees_nothing_of(&mut device, &code, "the next resident").await;

    // The printable ticket, by its code, is its owner's only: the next resident gets no
    // booking time, only a way to sign in as the owner.
    let response = device.get(&format!("/tickets/{code}")).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let page = body_text(response).await;
    assert!(!page.contains("Giờ hẹn"), "{page}");
    assert!(
        page.contains("thuộc về một người dân đã đăng nhập"),
        "{page}"
    );
}

#[tokio::test]
async fn after_sign_out_the_next_resident_sees_nothing_of_the_previous_ones_ticket() {
    let mut device = Device::new(StaffConfig::default()).await;
    let code = book_and_type_a_draft(&mut device).await;
    let page = body_text(device.get(&format!("/procedures/{BIRTH}")).await).await;
    let signed_out = device
        .post_form("/logout", &format!("csrf_token={}", sign_out_token(&page)))
        .await;
    assert_eq!(signed_out.status(), StatusCode::OK);
    sees_nothing_of(&mut device, &code, "a signed-out visitor").await;
    device.resident_login("officer").await;
    sees_nothing_of(&mut device, &code, "the next resident").await;
}

/// A visitor signed out takes a ticket and types the form before the visit: the ticket's code.
async fn draft_typed_signed_out(device: &mut Device) -> String {
    let page = body_text(
        device
            .get(&format!("/procedures/{BIRTH}?in_person=1"))
            .await,
    )
    .await;
    let code = ticket_code(&page);
    let draft_page = body_text(device.get(&format!("/tickets/{code}/draft")).await).await;
    let saved = device
        .post_form(
            &format!("/tickets/{code}/draft"),
            &form(&[
                ("ticket_token", &field(&draft_page, "ticket_token")),
                ("child_name", "Trần Văn Khoa"),
            ]),
        )
        .await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    code
}

/// The refusal text of a claim that finds nothing.
const NOTHING_TO_CLAIM: &str = "Không tìm thấy tờ khai nháp cho mã lịch hẹn này";

#[tokio::test]
async fn a_draft_typed_signed_out_pre_fills_a_signed_in_form_only_once_claimed_with_its_code() {
    let mut device = Device::new(StaffConfig::default()).await;
    let code = draft_typed_signed_out(&mut device).await;
    // A ticket someone else holds (another browser): a real code, not this browser's.
    let elsewhere = device
        .router
        .clone()
        .oneshot(
            Request::get(format!("/procedures/{BIRTH}?in_person=1"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let other_code = ticket_code(&body_text(elsewhere).await);

    device.resident_login("level2").await;
    let page = body_text(device.get(&format!("/procedures/{BIRTH}")).await).await;
    assert!(!page.contains("Trần Văn Khoa"), "pre-filled before a claim");
    assert!(page.contains("Đã điền tờ khai trước khi đăng nhập?"));
    let english = body_text(device.get(&format!("/procedures/{BIRTH}?lang=en")).await).await;
    assert!(english.contains("Filled in the form before signing in?"));
    let token = sign_out_token(&page);

    // A code of another browser's ticket and a code no ticket has get one and the same answer.
    let mut refusals = Vec::new();
    for typed in [other_code.as_str(), "ZZZZ-ZZZZ"] {
        let refused = device
            .post_form(
                &format!("/procedures/{BIRTH}/claim"),
                &form(&[("csrf_token", &token), ("code", typed)]),
            )
            .await;
        assert_eq!(refused.status(), StatusCode::NOT_FOUND, "{typed}");
        let text = body_text(refused).await;
        assert!(text.contains(NOTHING_TO_CLAIM), "{text}");
        refusals.push(text);
    }
    assert_eq!(refusals[0], refusals[1]);
    // Without the page's token, nothing is claimed.
    let forged = device
        .post_form(
            &format!("/procedures/{BIRTH}/claim"),
            &form(&[("csrf_token", "nope"), ("code", &code)]),
        )
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let page = body_text(device.get(&format!("/procedures/{BIRTH}")).await).await;
    assert!(!page.contains("Trần Văn Khoa"));

    // Its code, typed as people do (lower case, no dash), makes it this resident's.
    let claimed = device
        .post_form(
            &format!("/procedures/{BIRTH}/claim"),
            &form(&[
                ("csrf_token", &token),
                ("code", &code.to_lowercase().replace('-', " ")),
            ]),
        )
        .await;
    assert_eq!(claimed.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&claimed),
        format!("/procedures/{BIRTH}?lang=vi&claimed=1")
    );
    let page = body_text(device.get(location(&claimed)).await).await;
    assert!(page.contains("Trần Văn Khoa"), "{page}");
    assert!(page.contains("Đã nhận tờ khai"));

    // Now it is theirs: signed out, nobody sees it on this browser any more.
    device.jar.remove("wardgate-session");
    let draft_page = body_text(device.get(&format!("/tickets/{code}/draft")).await).await;
    assert!(!draft_page.contains("Trần Văn Khoa"));
}

#[tokio::test]
async fn claiming_a_draft_counts_against_the_per_address_limit_of_code_look_ups() {
    let mut device = Device::new(StaffConfig::default()).await;
    device.resident_login("level2").await;
    let page = body_text(device.get(&format!("/procedures/{BIRTH}")).await).await;
    let token = sign_out_token(&page);
    let mut statuses = Vec::new();
    // The submission budget lets 60 pass at once; the clock does not move.
    for _ in 0..61 {
        let answer = device
            .post_form(
                &format!("/procedures/{BIRTH}/claim"),
                &form(&[("csrf_token", &token), ("code", "ZZZZ-ZZZZ")]),
            )
            .await;
        statuses.push(answer.status());
    }
    assert!(statuses[..60].iter().all(|s| *s == StatusCode::NOT_FOUND));
    assert_eq!(statuses[60], StatusCode::TOO_MANY_REQUESTS);
}

/// Files the example birth registration through the JSON API with the jar's session: the
/// dossier code, its audit record and its hand-off envelope's payload.
async fn file_and_read_back(device: &mut Device, key: &str) -> (Value, Value) {
    use base64::Engine as _;
    use wardgate::audit::AuditEvent;
    use wardgate::store::Store as _;
    use wardgate::submission::DossierCode;

    let list: Value =
        serde_json::from_str(&body_text(device.get("/api/procedures").await).await).unwrap();
    let example = list
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["code"] == BIRTH)
        .unwrap()["example"]
        .to_string();
    let filed = device
        .send(crate::gateway::submission(
            &format!("/api/procedures/{BIRTH}/submissions"),
            None,
            Some(key),
            &example,
        ))
        .await;
    assert_eq!(filed.status(), StatusCode::CREATED);
    let receipt: Value = serde_json::from_str(&body_text(filed).await).unwrap();
    let code = DossierCode::parse(receipt["dossier_code"].as_str().unwrap()).unwrap();
    let audit = device.store.audit_range(0, 1000).await.unwrap();
    let recorded = audit
        .iter()
        .find_map(|r| match &r.event {
            AuditEvent::Submission(s) if s.dossier_code == code => {
                Some(serde_json::to_value(s).unwrap())
            }
            _ => None,
        })
        .expect("the submission is audited");
    let entry = device.store.outbox_entry(&code).await.unwrap().unwrap();
    let jws = device
        .gateway
        .dossier_sealer()
        .open_handoff(code, &entry.envelope)
        .unwrap();
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(jws.split('.').nth(1).unwrap())
        .unwrap();
    (recorded, serde_json::from_slice(&payload).unwrap())
}

#[tokio::test]
async fn a_submission_from_an_assisted_device_names_its_label_in_the_audit_and_the_envelope() {
    let mut device = Device::new(StaffConfig::default()).await;
    device.resident_login("level2").await;
    let (recorded, envelope) =
        file_and_read_back(&mut device, "0f6f2a4e-8d1b-4c7a-9e3f-5b2d7c1a9e01").await;
    assert!(recorded.get("assisted_by").is_none(), "{recorded}");
    assert!(envelope.get("assisted_by").is_none());

    make_assisted(&mut device, "Tổ CNSCĐ khóm Xuân Hòa").await;
    device.resident_login("level2").await;
    let (recorded, envelope) =
        file_and_read_back(&mut device, "0f6f2a4e-8d1b-4c7a-9e3f-5b2d7c1a9e02").await;
    assert_eq!(recorded["assisted_by"], "Tổ CNSCĐ khóm Xuân Hòa");
    assert_eq!(envelope["assisted_by"], "Tổ CNSCĐ khóm Xuân Hòa");
    assert_eq!(envelope["channel"], "online");
}

#[tokio::test]
async fn the_assisted_idle_time_is_the_configured_one_on_the_server_and_on_the_page() {
    let mut device = Device::new(StaffConfig::default()).await;
    make_assisted(&mut device, "Điểm tiếp nhận Nhà Bàng").await;
    let officer = device.pseudonym(OFFICER_SUB);
    device.restart(listed(officer).assisted_idle(2)).await;
    device.resident_login("level2").await;
    let page = body_text(device.get(&format!("/procedures/{BIRTH}")).await).await;
    assert!(page.contains("sau 2 phút không thao tác"), "{page}");
    assert!(!page.contains("5 phút"));
    // Three minutes idle: past the configured two, the server ends it and says after how long.
    device.clock.advance(Duration::minutes(3));
    let ended = device.get(&format!("/procedures/{BIRTH}")).await;
    assert!(!device.has("wardgate-session"));
    let page = body_text(ended).await;
    assert!(page.contains("không thao tác trong 2 phút"), "{page}");
}
