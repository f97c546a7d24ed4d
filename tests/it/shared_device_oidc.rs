//! One device, many people, end to end against an independent provider (panva's
//! `oidc-provider`, see `interop/README.md`): staff sign-in and sign-out, residents one after
//! another, RP-Initiated Logout at the provider's end-session endpoint and assisted devices.
//!
//! The gateway runs in-process behind its router with one cookie jar; the provider runs under
//! Node.js with its own browser (a cookie store), so the provider's session lives on from one
//! login to the next as it does on a shared device. Ignored by default (they need Node.js and
//! `npm ci --prefix interop`); CI runs them with
//! `cargo test --all-features --test it -- --ignored ::oidc_provider_`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response, StatusCode, header};
use chrono::{Duration, Utc};
use tower::ServiceExt as _;
use url::Url;
use wardgate::assurance::{AcrTable, LevelSource};
use wardgate::clock::{FixedClock, SystemRandom};
use wardgate::oidc::{ClientConfig, RelyingParty, ReqwestHttp};
use wardgate::portal::config::StaffConfig;
use wardgate::portal::{Gateway, gateway_router};
use wardgate::store::MemoryStore;

use crate::gateway::{BIRTH, PUBLIC, body_text, builder_on, location, set_cookies, tempdir};
use crate::support::jar;
use crate::support::oidc_provider::{ACR_LEVEL_1, ACR_LEVEL_2, OidcProvider, RS256_CLIENT};

/// The draft the first resident leaves on the device.
const CHILD: &str = "Nguyễn Bé Na";
const CHILD_FORM: &str = "Nguy%E1%BB%85n+B%C3%A9+Na";
/// What the staff sign-in page says after the provider refused a staff sign-in for its level.
const LEVEL_REFUSED_VI: &str = "Hệ thống định danh không xác thực được tài khoản này ở mức độ 2. Trang cán bộ chỉ mở với tài khoản định danh điện tử mức độ 2.";
/// What the in-person page says of a ticket's booking.
const BOOKED: &str = "Bạn đã đặt lịch lúc";

/// Where the gateway reads the level from.
#[derive(Clone, Copy, Debug)]
enum Levels {
    /// The ID token's `acr`, asked for as an essential claim: oidc-provider then fails a login
    /// that cannot reach the level rather than return a lower one.
    Acr,
    /// The userinfo `accountLevel` (VNeID's way): no `acr` is asked for, so a level-1 account
    /// signs in at level 1 and the gateway's own checks decide.
    AccountLevel,
}

/// What the provider does with an authorization request on its own, before anyone clicks.
#[derive(Debug, PartialEq, Eq)]
enum ProviderAnswer {
    /// It shows its login page; the prompt's name (`login`, `consent`).
    Prompt(String),
    /// It sends the browser straight back to the portal: a silent sign-in.
    Back,
}

/// A shared device: the provider and its browser cookies, the gateway (its key directory and
/// store survive a restart with a new configuration), the gateway's clock and its cookie jar.
struct Device {
    provider: OidcProvider,
    browser: reqwest::Client,
    levels: Levels,
    pushed: bool,
    dir: tempdir::TempDir,
    store: Arc<MemoryStore>,
    clock: Arc<FixedClock>,
    gateway: Arc<Gateway>,
    router: Router,
    jar: BTreeMap<String, String>,
}

impl Device {
    /// A device with pushed authorization requests (as the gateway does by default).
    async fn new(levels: Levels) -> Self {
        Self::start(levels, true).await
    }

    /// A device whose authorization requests travel in the browser's URL, so a test sees them.
    async fn front_channel(levels: Levels) -> Self {
        Self::start(levels, false).await
    }

    async fn start(levels: Levels, pushed: bool) -> Self {
        let redirect = format!("{PUBLIC}/auth/callback");
        let provider = OidcProvider::start(&[redirect.as_str()]);
        let dir = tempdir::TempDir::new("shared-device-oidc");
        let store = Arc::new(MemoryStore::new());
        let clock = Arc::new(FixedClock::new(Utc::now()));
        let gateway = build(
            &provider,
            levels,
            pushed,
            &dir.0,
            &store,
            &clock,
            StaffConfig::default(),
        )
        .await;
        Self {
            provider,
            browser: OidcProvider::browser(),
            levels,
            pushed,
            dir,
            store,
            clock,
            router: gateway_router(Arc::clone(&gateway)),
            gateway,
            jar: BTreeMap::new(),
        }
    }

    /// The gateway restarted on the same keys and store with `staff` as its staff list.
    async fn restart(&mut self, staff: StaffConfig) {
        self.gateway = build(
            &self.provider,
            self.levels,
            self.pushed,
            &self.dir.0,
            &self.store,
            &self.clock,
            staff,
        )
        .await;
        self.router = gateway_router(Arc::clone(&self.gateway));
    }

    /// The subject pseudonym the gateway gives the provider's account `sub`.
    fn pseudonym(&self, sub: &str) -> String {
        self.gateway
            .gate()
            .pseudonym(self.provider.issuer_str(), sub)
            .as_str()
            .to_owned()
    }

    /// The gateway restarted with the provider's account `sub` as its only listed staff.
    async fn list_staff(&mut self, sub: &str) {
        let subject = self.pseudonym(sub);
        self.restart(StaffConfig::new(vec![subject], None)).await;
    }

    /// Sends `request` with the jar's cookies and keeps what the response sets or removes.
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

    async fn page(&mut self, path: &str) -> String {
        body_text(self.get(path).await).await
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

    /// Starts a login at `start`: the authorization request the gateway sends the browser to.
    async fn begin(&mut self, start: &str) -> Url {
        // The provider signs with the real time: the gateway's clock goes back to it.
        self.clock.set(Utc::now());
        let begin = self.get(start).await;
        assert_eq!(begin.status(), StatusCode::SEE_OTHER, "{start}");
        let authorize = Url::parse(location(&begin)).unwrap();
        assert_eq!(authorize.origin(), self.provider.issuer().origin());
        authorize
    }

    /// Logs in from `start` in the device's browser, choosing `persona` if the provider asks,
    /// and returns the gateway's answer to the callback.
    async fn login(&mut self, start: &str, persona: &str) -> Response<Body> {
        let authorize = self.begin(start).await;
        let callback = self
            .provider
            .drive_login_in(&self.browser, &authorize, persona)
            .await;
        self.get(&path_and_query(&callback)).await
    }

    async fn staff_login(&mut self, persona: &str) -> Response<Body> {
        self.login("/staff/login", persona).await
    }

    /// Signs `persona` in as staff: they land on the dashboard. Its page.
    async fn staff_signed_in(&mut self, persona: &str) -> String {
        let signed_in = self.staff_login(persona).await;
        assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&signed_in), "/staff?lang=vi");
        assert!(self.has("wardgate-staff"));
        let dashboard = self.get("/staff").await;
        assert_eq!(dashboard.status(), StatusCode::OK);
        body_text(dashboard).await
    }

    async fn resident_login(&mut self, persona: &str) -> Response<Body> {
        self.login(&format!("/login?procedure={BIRTH}"), persona)
            .await
    }

    /// Follows `authorization_url` in the device's browser until the provider either shows its
    /// login page or sends the browser back to the portal, and says which.
    async fn provider_answer(&self, authorization_url: &Url) -> ProviderAnswer {
        let provider = self.provider.issuer().origin();
        let mut next = authorization_url.clone();
        for _ in 0..12 {
            if next.origin() != provider {
                assert_eq!(next.path(), "/auth/callback", "{next}");
                return ProviderAnswer::Back;
            }
            let response = self.browser.get(next.clone()).send().await.unwrap();
            if next.path().starts_with("/interaction/") {
                let page = response.text().await.unwrap();
                let prompt = between(&page, "Đăng nhập thử nghiệm (", ")");
                return ProviderAnswer::Prompt(prompt);
            }
            assert!(response.status().is_redirection(), "{next}");
            let target = response.headers()[header::LOCATION].to_str().unwrap();
            next = next.join(target).unwrap();
        }
        panic!("the provider kept redirecting from {authorization_url}");
    }

    /// Posts the sign-out form of `page` (its `csrf_token`) in `lang`: the page that sends the
    /// browser on to the provider, and the URL it sends it to.
    async fn sign_out(&mut self, page: &str, lang: &str) -> Url {
        let token = sign_out_token(page);
        let out = self
            .post_form("/logout", &format!("csrf_token={token}&lang={lang}"))
            .await;
        end_session_url(out).await
    }

    /// The provider's end-session endpoint, from its discovery document.
    async fn end_session_endpoint(&self) -> String {
        let discovery = self
            .provider
            .issuer()
            .join(".well-known/openid-configuration")
            .unwrap();
        let metadata: serde_json::Value = serde_json::from_slice(
            &reqwest::get(discovery)
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap(),
        )
        .unwrap();
        metadata["end_session_endpoint"]
            .as_str()
            .expect("oidc-provider advertises end_session_endpoint")
            .to_owned()
    }

    /// Follows the sign-out page's refresh to the provider's end-session endpoint in the
    /// device's browser, confirms oidc-provider's "sign me out" form and returns where the
    /// provider sends the browser back to.
    async fn confirm_at_provider(&self, end_session: &Url) -> Url {
        let shown = self.browser.get(end_session.clone()).send().await.unwrap();
        assert_eq!(shown.status(), StatusCode::OK, "{end_session}");
        let page = shown.text().await.unwrap();
        // The provider had a session in this browser: it asks before ending it.
        assert!(
            page.contains("Do you want to sign-out from"),
            "no logout prompt: {page}"
        );
        assert!(page.contains("id=\"op.logoutForm\""), "{page}");
        let xsrf = between(&page, "name=\"xsrf\" value=\"", "\"");
        let confirm = self.provider.issuer().join("session/end/confirm").unwrap();
        let answer = self
            .browser
            .post(confirm)
            .form(&[("xsrf", xsrf.as_str()), ("logout", "yes")])
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::SEE_OTHER);
        Url::parse(answer.headers()[header::LOCATION].to_str().unwrap()).unwrap()
    }

    /// Signs out from `page` all the way: the portal, then the provider, then back to the
    /// portal with the `state` it sent. Checks each step.
    async fn sign_out_everywhere(&mut self, page: &str, lang: &str) {
        let end_session = self.sign_out(page, lang).await;
        let back = self.confirm_at_provider(&end_session).await;
        assert_eq!(back.path(), "/auth/logged-out");
        let home = self.get(&path_and_query(&back)).await;
        assert_eq!(home.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&home), format!("/?lang={lang}"));
        assert!(!self.has("wardgate-signout"));
    }

    /// What a browser without any cookie gets at `/staff`.
    async fn stranger_at_staff(&self) -> (StatusCode, String) {
        let response = self
            .router
            .clone()
            .oneshot(Request::get("/staff").body(Body::empty()).unwrap())
            .await
            .unwrap();
        (response.status(), body_text(response).await)
    }

    /// Asserts that the jar gets at `/staff` exactly what a stranger gets.
    async fn assert_stranger_at_staff(&mut self, what: &str) {
        let (status, body) = self.stranger_at_staff().await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}");
        let at_staff = self.get("/staff").await;
        assert_eq!(at_staff.status(), status, "{what}");
        assert_eq!(body_text(at_staff).await, body, "{what}");
    }

    fn has(&self, name: &str) -> bool {
        self.jar.contains_key(name)
    }
}

async fn build(
    provider: &OidcProvider,
    levels: Levels,
    pushed: bool,
    dir: &std::path::Path,
    store: &Arc<MemoryStore>,
    clock: &Arc<FixedClock>,
    staff: StaffConfig,
) -> Arc<Gateway> {
    let redirect = Url::parse(&format!("{PUBLIC}/auth/callback")).unwrap();
    let client = ClientConfig::new(RS256_CLIENT, redirect)
        .client_secret(provider.client_secret(RS256_CLIENT))
        .scopes(["profile"])
        .fetch_userinfo(true)
        .pushed_authorization_requests(pushed)
        .level_source(match levels {
            Levels::Acr => LevelSource::acr(AcrTable::new([ACR_LEVEL_1], [ACR_LEVEL_2]).unwrap()),
            Levels::AccountLevel => LevelSource::vneid(),
        });
    let clock: Arc<dyn wardgate::Clock> = clock.clone();
    let random: Arc<dyn wardgate::clock::Random> = Arc::new(SystemRandom::new());
    let rp = RelyingParty::discover(
        provider.issuer_str(),
        client,
        ReqwestHttp::new().unwrap(),
        Arc::clone(&clock),
        Arc::clone(&random),
    )
    .await
    .unwrap();
    let store: Arc<dyn wardgate::store::Store> = store.clone();
    builder_on(dir, store, clock, random)
        .relying_party(rp)
        .with_staff(staff)
        .build()
        .unwrap()
}

fn path_and_query(url: &Url) -> String {
    format!("{}?{}", url.path(), url.query().unwrap_or(""))
}

/// The text of `page` between the first `start` and the next `end`.
fn between(page: &str, start: &str, end: &str) -> String {
    page.split(start)
        .nth(1)
        .and_then(|rest| rest.split(end).next())
        .unwrap_or_else(|| panic!("no `{start}…{end}` in {page}"))
        .to_owned()
}

/// The value of the first `csrf_token` field of the sign-out form in `page`.
fn sign_out_token(page: &str) -> String {
    let form = page
        .split("action=\"/logout\"")
        .nth(1)
        .unwrap_or_else(|| panic!("no sign-out form in {page}"));
    between(form, "name=\"csrf_token\" value=\"", "\"")
}

/// The provider URL a sign-out answer sends the browser on to (its `meta` refresh).
async fn end_session_url(response: Response<Body>) -> Url {
    assert_eq!(response.status(), StatusCode::OK);
    let page = body_text(response).await;
    let target =
        between(&page, "http-equiv=\"refresh\" content=\"0;url=", "\"").replace("&amp;", "&");
    Url::parse(&target).unwrap()
}

/// The value of the first `name="…"` input of a page.
fn input(page: &str, name: &str) -> Option<String> {
    let value = page
        .split(&format!("name=\"{name}\" value=\""))
        .nth(1)?
        .split('"')
        .next()?;
    Some(
        value
            .replace("&#43;", "+")
            .replace("&quot;", "\"")
            .replace("&amp;", "&"),
    )
}

/// The first slot the booking form of `page` offers.
fn first_slot(page: &str) -> String {
    let select = between(page, "<select id=\"start\"", "</select>");
    between(&select, "<option value=\"", "\"").replace("&#43;", "+")
}

fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

fn is_signed_in(page: &str) -> bool {
    // A sign-out form with the session's token: an assisted device's "Người tiếp theo" form
    // is there for nobody too, without one.
    page.split("action=\"/logout\"").skip(1).any(|form| {
        form.split("</form>")
            .next()
            .is_some_and(|form| form.contains("name=\"csrf_token\""))
    })
}

#[tokio::test]
#[ignore = "needs the oidc-provider npm package: npm ci --prefix interop"]
async fn oidc_provider_level_1_sign_in_on_the_staff_list_does_not_open_staff() {
    // A provider that answers with the account's own level (no essential acr is asked for):
    // the gateway's own check refuses the level-1 login with a page that says why.
    let mut device = Device::new(Levels::AccountLevel).await;
    device.list_staff("level1").await;
    for (lang, why) in [
        (
            "vi",
            "Trang cán bộ chỉ mở với tài khoản định danh điện tử mức độ 2. Lần đăng nhập này ở mức độ 1",
        ),
        (
            "en",
            "Staff pages open only with a level-2 electronic identity. This sign-in was level 1",
        ),
    ] {
        let refused = device
            .login(&format!("/staff/login?lang={lang}"), "level1")
            .await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{lang}");
        assert!(!device.has("wardgate-staff"), "{lang}");
        assert!(
            !device.has("wardgate-session"),
            "{lang}: no resident session either"
        );
        let page = body_text(refused).await;
        assert!(page.contains(why), "{lang}: {page}");
        assert!(
            page.contains(&format!("href=\"/staff/login?lang={lang}\"")),
            "{page}"
        );
        device.assert_stranger_at_staff(lang).await;
    }

    // A provider that honours the essential acr: it refuses the level-1 login itself
    // (`unmet_authentication_requirements`), and the staff pages stay closed.
    let mut device = Device::new(Levels::Acr).await;
    device.list_staff("level1").await;
    let refused = device.staff_login("level1").await;
    assert_eq!(refused.status(), StatusCode::SEE_OTHER);
    assert!(!device.has("wardgate-staff"));
    let back = location(&refused).to_owned();
    let page = device.get(&back).await;
    assert_eq!(page.status(), StatusCode::UNAUTHORIZED, "{back}");
    let page = body_text(page).await;
    assert!(page.contains(LEVEL_REFUSED_VI), "{back}: {page}");
    assert!(
        page.contains("Đăng nhập cán bộ"),
        "a way to sign in again: {page}"
    );
    device
        .assert_stranger_at_staff("after the provider's refusal")
        .await;
}

/// The page the refused level-1 staff sign-in above lands on, without Node.js: it says why
/// only when the login came back refused for its level.
#[tokio::test]
async fn a_staff_sign_in_refused_for_its_level_comes_back_to_a_page_that_says_why() {
    let gw = crate::gateway::TestGateway::start().await;
    for (lang, why) in [
        ("vi", LEVEL_REFUSED_VI),
        (
            "en",
            "The identity provider could not authenticate this account at level 2. Staff pages open only with a level-2 electronic identity.",
        ),
    ] {
        let refused = gw
            .get(
                &format!("/staff?lang={lang}&outcome=level_unreachable"),
                None,
            )
            .await;
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED, "{lang}");
        let page = body_text(refused).await;
        assert!(page.contains(why), "{lang}: {page}");
        assert!(
            page.contains(&format!("href=\"/staff/login?lang={lang}\"")),
            "{page}"
        );
        let plain = body_text(gw.get(&format!("/staff?lang={lang}"), None).await).await;
        assert!(
            !plain.contains(why),
            "{lang}: said only after such a refusal"
        );
    }
}

#[tokio::test]
#[ignore = "needs the oidc-provider npm package: npm ci --prefix interop"]
async fn oidc_provider_staff_member_removed_from_the_list_loses_access_on_the_next_request() {
    let mut device = Device::new(Levels::Acr).await;
    device.list_staff("level2").await;
    let dashboard = device.staff_signed_in("level2").await;
    assert!(dashboard.contains("Đăng xuất"), "{dashboard}");

    // Same keys, the list without them: the very next request finds the sealed cookie opens
    // nothing any more, and the gateway removes it.
    device.restart(StaffConfig::default()).await;
    let refused = device.get("/staff").await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert!(
        set_cookies(&refused)
            .iter()
            .any(|c| c.starts_with("wardgate-staff=") && c.contains("Max-Age=0")),
        "the stale staff cookie is removed"
    );
    assert!(!device.has("wardgate-staff"));
    device.assert_stranger_at_staff("after removal").await;
    // Listed again, the old cookie is gone for good: a new sign-in is needed.
    device.list_staff("level2").await;
    assert_eq!(
        device.get("/staff").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
#[ignore = "needs the oidc-provider npm package: npm ci --prefix interop"]
async fn oidc_provider_after_staff_sign_out_or_post_logout_the_jar_is_a_stranger_at_staff() {
    let mut device = Device::new(Levels::Acr).await;
    device.list_staff("level2").await;

    // The staff sign-out button.
    let dashboard = device.staff_signed_in("level2").await;
    let end_session = device.sign_out(&dashboard, "vi").await;
    assert!(!device.has("wardgate-staff"));
    device
        .assert_stranger_at_staff("after staff sign-out")
        .await;
    // And once the provider has ended its session too.
    let back = device.confirm_at_provider(&end_session).await;
    device.get(&path_and_query(&back)).await;
    device
        .assert_stranger_at_staff("after the provider's sign-out")
        .await;

    // A resident's `POST /logout` on a device where staff are signed in too ends both.
    device.staff_signed_in("level2").await;
    let signed_in = device.resident_login("level2").await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    assert!(device.has("wardgate-session"));
    let page = device.page(&format!("/procedures/{BIRTH}")).await;
    let staff_token = sign_out_token(&device.page("/staff").await);
    let resident_token = sign_out_token(&page);
    assert_ne!(staff_token, resident_token, "the resident's own form");
    device.sign_out(&page, "vi").await;
    assert!(!device.has("wardgate-session"));
    assert!(!device.has("wardgate-staff"));
    device.assert_stranger_at_staff("after POST /logout").await;
}

#[tokio::test]
#[ignore = "needs the oidc-provider npm package: npm ci --prefix interop"]
async fn oidc_provider_the_next_resident_sees_nothing_of_the_previous_ones_draft_ticket_or_booking()
{
    let mut device = Device::new(Levels::Acr).await;
    let procedure = format!("/procedures/{BIRTH}");
    let in_person = format!("/procedures/{BIRTH}?in_person=1");

    // The first resident saves a draft, takes a ticket for the counter and books a slot.
    let signed_in = device.resident_login("level2").await;
    assert_eq!(location(&signed_in), format!("{procedure}?lang=vi"));
    let page = device.page(&procedure).await;
    let token = sign_out_token(&page);
    let saved = device
        .post_form(
            &format!("{procedure}/draft"),
            &format!("csrf_token={token}&child_name={CHILD_FORM}"),
        )
        .await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    assert!(
        device.page(&procedure).await.contains(CHILD),
        "the owner sees the draft"
    );
    let referral = device.page(&in_person).await;
    assert!(device.has("wardgate-ticket"));
    let code = input(&referral, "ticket").expect("the booking form names the ticket");
    let ticket_token = input(&referral, "ticket_token").expect("the ticket's token");
    let booked = device
        .post_form(
            &format!("{procedure}/book?lang=vi"),
            &format!(
                "ticket={code}&point=trung-tam&start={}&ticket_token={}&csrf_token={token}",
                encode(&first_slot(&referral)),
                encode(&ticket_token)
            ),
        )
        .await;
    assert_eq!(booked.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&booked),
        format!("/tickets/{code}/booking?lang=vi")
    );
    let again = device.page(&in_person).await;
    assert!(
        again.contains(&code),
        "the owner's ticket comes back to them"
    );
    assert!(again.contains(BOOKED), "with its booking: {again}");

    // They sign out, at the portal and at the provider.
    device.sign_out_everywhere(&again, "vi").await;
    for name in ["wardgate-session", "wardgate-draft", "wardgate-ticket"] {
        assert!(!device.has(name), "{name} left behind");
    }

    // The next person, before signing in: nothing of the first one's.
    let sees_nothing = |page: &str, what: &str| {
        assert!(!page.contains(CHILD), "{what}: the draft");
        assert!(!page.contains(&code), "{what}: the ticket");
        assert!(!page.contains(BOOKED), "{what}: the booking");
    };
    for path in ["/", procedure.as_str(), in_person.as_str()] {
        let page = device.page(path).await;
        assert!(!is_signed_in(&page), "{path}");
        sees_nothing(&page, path);
    }
    // Their own ticket is a new one.
    let theirs = input(&device.page(&in_person).await, "ticket").expect("a ticket of their own");
    assert_ne!(theirs, code);
    // The first one's ticket, from the browser history, is theirs only.
    let ticket_page = format!("/tickets/{code}?lang=vi");
    let shows_nothing_of_the_ticket = |status: StatusCode, page: &str, who: &str| {
        assert_eq!(status, StatusCode::FORBIDDEN, "{who}: the ticket page");
        assert!(!page.contains("Giờ hẹn"), "{who}: the booking time");
        assert!(!page.contains("Đăng ký khai sinh"), "{who}: the procedure");
    };
    let response = device.get(&ticket_page).await;
    let status = response.status();
    shows_nothing_of_the_ticket(status, &body_text(response).await, "signed out");

    // Signing in, the provider asks who they are (the first one's provider session is over).
    let authorize = device.begin(&format!("/login?procedure={BIRTH}")).await;
    assert_eq!(
        device.provider_answer(&authorize).await,
        ProviderAnswer::Prompt("login".to_owned())
    );
    let signed_in = device.resident_login("level2b").await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    for path in ["/", procedure.as_str(), in_person.as_str()] {
        let page = device.page(path).await;
        assert!(is_signed_in(&page), "{path}: signed in");
        sees_nothing(&page, path);
    }
    let response = device.get(&ticket_page).await;
    let status = response.status();
    shows_nothing_of_the_ticket(status, &body_text(response).await, "the next resident");
}

#[tokio::test]
#[ignore = "needs the oidc-provider npm package: npm ci --prefix interop"]
async fn oidc_provider_sign_out_reaches_the_end_session_endpoint_and_ends_the_provider_session() {
    let mut device = Device::new(Levels::Acr).await;
    let signed_in = device.resident_login("level2").await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    // While the provider's session lasts, a new login comes straight back: whoever uses the
    // browser next would be signed in as this resident without a word.
    let authorize = device.begin(&format!("/login?procedure={BIRTH}")).await;
    assert_eq!(
        device.provider_answer(&authorize).await,
        ProviderAnswer::Back
    );

    let page = device.page(&format!("/procedures/{BIRTH}")).await;
    let end_session = device.sign_out(&page, "en").await;
    assert!(!device.has("wardgate-session"));
    assert_eq!(
        end_session.as_str().split('?').next(),
        Some(device.end_session_endpoint().await.as_str())
    );
    let params: BTreeMap<_, _> = end_session.query_pairs().into_owned().collect();
    assert_eq!(params["client_id"], RS256_CLIENT);
    assert_eq!(
        params["post_logout_redirect_uri"],
        format!("{PUBLIC}/auth/logged-out")
    );
    assert_eq!(params["ui_locales"], "en");
    let state = params["state"].clone();
    assert!(state.len() >= 20, "{state}");
    // The ID token of this sign-in, kept for the sign-out: issued by oidc-provider to us.
    let hint = params.get("id_token_hint").expect("an id_token_hint");
    let payload = hint.split('.').nth(1).expect("a compact JWS");
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        claims["iss"],
        device.provider.issuer().as_str().trim_end_matches('/')
    );
    assert_eq!(claims["aud"], RS256_CLIENT);
    assert!(claims["sub"].as_str().is_some_and(|sub| !sub.is_empty()));
    // oidc-provider checks the hint: one with another signature is refused outright.
    let mut forged = end_session.clone();
    // One character in the middle of the signature changed.
    let (signed, signature) = hint.rsplit_once('.').unwrap();
    let mut signature = signature.to_owned();
    let middle = signature.len() / 2;
    let flipped = if &signature[middle..=middle] == "A" {
        "B"
    } else {
        "A"
    };
    signature.replace_range(middle..=middle, flipped);
    let tampered = format!("{signed}.{signature}");
    forged
        .query_pairs_mut()
        .clear()
        .extend_pairs(params.iter().filter(|(k, _)| *k != "id_token_hint"))
        .append_pair("id_token_hint", &tampered);
    let refused = device.browser.get(forged).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);

    // oidc-provider accepts the genuine hint, asks to confirm, ends its session and returns
    // the state.
    let back = device.confirm_at_provider(&end_session).await;
    assert_eq!(
        back.as_str().split('?').next(),
        Some(format!("{PUBLIC}/auth/logged-out").as_str())
    );
    let returned: BTreeMap<_, _> = back.query_pairs().into_owned().collect();
    assert_eq!(returned.get("state"), Some(&state));

    // The portal checks it: another state is not taken for the provider's sign-out.
    let jar = device.jar.clone();
    let forged = device.get("/auth/logged-out?state=forged").await;
    assert_eq!(forged.status(), StatusCode::BAD_REQUEST);
    assert!(body_text(forged).await.contains("was not confirmed"));
    device.jar = jar;
    let home = device.get(&path_and_query(&back)).await;
    assert_eq!(home.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&home), "/?lang=en");
    assert!(!device.has("wardgate-signout"));

    // The provider's session is gone: the next login shows its login page again.
    let authorize = device.begin(&format!("/login?procedure={BIRTH}")).await;
    assert_eq!(
        device.provider_answer(&authorize).await,
        ProviderAnswer::Prompt("login".to_owned())
    );
}

#[tokio::test]
#[ignore = "needs the oidc-provider npm package: npm ci --prefix interop"]
async fn oidc_provider_an_assisted_device_asks_for_a_fresh_login_every_time_and_ends_an_idle_session()
 {
    const LABEL: &str = "Điểm tiếp nhận Nhà Bàng";
    let mut device = Device::front_channel(Levels::Acr).await;
    device.list_staff("level2").await;

    // A signed-in officer turns assisted mode on from the staff page, then signs out of the
    // portal; the provider's session (theirs) is left open, as when the tab is closed before
    // the provider's sign-out page.
    device.staff_signed_in("level2").await;
    let page = device.page("/staff/device").await;
    assert!(page.contains("chưa ở chế độ hỗ trợ"), "{page}");
    let token = sign_out_token(&page);
    let set = device
        .post_form(
            "/staff/device",
            &format!("csrf_token={token}&action=enable&label={}", encode(LABEL)),
        )
        .await;
    assert_eq!(set.status(), StatusCode::SEE_OTHER);
    assert!(device.has("wardgate-assisted"));
    // The officer hands the device over with the banner's "Người tiếp theo" button, which
    // carries the staff session's token when no resident is signed in.
    let staff_page = device.page("/staff").await;
    let banner = staff_page
        .split(">Người tiếp theo</button>")
        .next()
        .and_then(|before| before.rsplit("<form").next())
        .expect("the banner's button");
    assert!(banner.contains("action=\"/logout\""), "{banner}");
    device.sign_out(&format!("<form{banner}"), "vi").await;
    assert!(!device.has("wardgate-staff"));
    assert!(
        device.has("wardgate-assisted"),
        "signing out keeps the device assisted"
    );

    // Every login, one resident after another, asks for a fresh authentication, and the
    // provider asks although its session in this browser is still open.
    for persona in ["level2", "level2b"] {
        let authorize = device.begin(&format!("/login?procedure={BIRTH}")).await;
        let params: BTreeMap<_, _> = authorize.query_pairs().into_owned().collect();
        assert_eq!(
            params.get("prompt").map(String::as_str),
            Some("login"),
            "{persona}"
        );
        assert_eq!(
            params.get("max_age").map(String::as_str),
            Some("0"),
            "{persona}"
        );
        assert_eq!(
            device.provider_answer(&authorize).await,
            ProviderAnswer::Prompt("login".to_owned()),
            "{persona}"
        );
        let signed_in = device.resident_login(persona).await;
        assert_eq!(signed_in.status(), StatusCode::SEE_OTHER, "{persona}");
        let page = device.page(&format!("/procedures/{BIRTH}")).await;
        assert!(is_signed_in(&page), "{persona}");
        assert!(
            page.contains(LABEL),
            "{persona}: the page says who is helping"
        );
    }

    // Four minutes idle: still signed in, with a warning. Then six without a request: the
    // server ends the session, says so and removes the resident's cookies.
    device.clock.advance(Duration::minutes(4));
    let page = device.page(&format!("/procedures/{BIRTH}")).await;
    assert!(is_signed_in(&page));
    assert!(page.contains("5 phút"), "the page warns first: {page}");
    device.clock.advance(Duration::minutes(6));
    let page = device.page(&format!("/procedures/{BIRTH}")).await;
    assert!(!device.has("wardgate-session"));
    assert!(!is_signed_in(&page));
    assert!(page.contains("Phiên làm việc trước đã kết thúc"), "{page}");
    assert!(device.has("wardgate-assisted"), "the device stays assisted");
}
