//! A ticket taken signed in is its resident's: on a shared device, whoever comes next (signed
//! out, or signed in as someone else) gets nothing of it by its code, and cannot book, cancel,
//! move or type its draft; its owner, signed in again (on any browser), sees and cancels it and
//! sees the draft they typed. With several providers, the sign-in chooser keeps a local
//! `return_to` so the owner comes back to the ticket. A ticket taken
//! signed out still opens by its code, and officers still see every ticket. Through the
//! gateway's router against the provider simulator, with one cookie jar playing the browser;
//! plus the schema migration that gives tickets their owner column on both backends.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response, StatusCode, header};
use chrono::Utc;
use pretty_assertions::assert_eq;
use tower::ServiceExt as _;
use url::Url;
use wardgate::assurance::{AcrTable, LevelSource};
use wardgate::clock::{FixedClock, SystemRandom};
use wardgate::devidp::{self, DevIdp, DevIdpConfig, DevIdpHandle};
use wardgate::fallback::TicketCode;
use wardgate::oidc::{ClientConfig, RelyingParty, ReqwestHttp};
use wardgate::portal::config::StaffConfig;
use wardgate::portal::{Gateway, gateway_router};
use wardgate::store::{Booking, MemoryStore, Store as _};

use crate::gateway::{BIRTH, PUBLIC, TestGateway, body_text, builder_on, location, tempdir};
use crate::support::devidp::choose_persona;
use crate::support::jar;
use crate::support::ticket_faults::TicketFaults;

/// The simulator's subject of the officer persona.
const OFFICER_SUB: &str = "devidp-staff-9d41c7a2e85b3f06";
/// The name of the procedure the tickets are for, as its pages show it.
const BIRTH_NAME: &str = "Đăng ký khai sinh";
/// What the page for someone who is not the ticket's owner says.
const BELONGS_TO_A_RESIDENT: &str =
    "Mã lịch hẹn này thuộc về một người dân đã đăng nhập khi nhận phiếu hẹn";
/// The status every refusal to someone who is not the owner answers.
const NOT_YOURS: StatusCode = StatusCode::FORBIDDEN;

/// A device: the simulator, the gateway on a memory store, and one browser's cookie jar.
struct Device {
    _idp: DevIdpHandle,
    _dir: tempdir::TempDir,
    store: Arc<MemoryStore>,
    gateway: Arc<Gateway>,
    router: Router,
    jar: BTreeMap<String, String>,
}

impl Device {
    async fn new() -> Self {
        let redirect = format!("{PUBLIC}/auth/callback");
        // The simulator answers with the level the account has even when level 2 was asked
        // for, so the level-1 resident is signed in (and referred in person).
        let idp = DevIdp::start(
            DevIdpConfig::new()
                .client(
                    devidp::DEFAULT_CLIENT_ID,
                    Some(devidp::DEFAULT_CLIENT_SECRET),
                    [redirect.as_str()],
                )
                .honour_essential_acr(false),
        )
        .await
        .unwrap();
        let client = ClientConfig::new(devidp::DEFAULT_CLIENT_ID, Url::parse(&redirect).unwrap())
            .client_secret(devidp::DEFAULT_CLIENT_SECRET)
            .level_source(LevelSource::acr(
                AcrTable::new([devidp::ACR_LEVEL_1], [devidp::ACR_LEVEL_2]).unwrap(),
            ))
            .fetch_userinfo(true);
        let clock: Arc<dyn wardgate::Clock> = Arc::new(FixedClock::new(Utc::now()));
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
        let dir = tempdir::TempDir::new("owner12");
        let store = Arc::new(MemoryStore::new());
        let officer = {
            // The staff list names the officer by the pseudonym this gateway gives them.
            let probe = builder_on(
                &dir.0,
                Arc::clone(&store) as _,
                clock.clone(),
                random.clone(),
            )
            .relying_party(rp.clone())
            .build()
            .unwrap();
            probe
                .gate()
                .pseudonym(idp.issuer().as_str(), OFFICER_SUB)
                .as_str()
                .to_owned()
        };
        let gateway = builder_on(&dir.0, Arc::clone(&store) as _, clock, random)
            .relying_party(rp)
            .with_staff(StaffConfig::new(vec![officer], None))
            .build()
            .unwrap();
        Self {
            _idp: idp,
            _dir: dir,
            store,
            router: gateway_router(Arc::clone(&gateway)),
            gateway,
            jar: BTreeMap::new(),
        }
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

    async fn post_form(&mut self, path: &str, pairs: &[(&str, &str)]) -> Response<Body> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        self.send(
            Request::post(path)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(body))
                .unwrap(),
        )
        .await
    }

    /// Starts a login at `start`, picks `persona` at the simulator: the callback's answer.
    async fn login(&mut self, start: &str, persona: &str) -> Response<Body> {
        let login = self.get(start).await;
        assert_eq!(login.status(), StatusCode::SEE_OTHER, "{start}");
        let callback = choose_persona(&Url::parse(location(&login)).unwrap(), persona).await;
        let path = format!("{}?{}", callback.path(), callback.query().unwrap_or(""));
        self.get(&path).await
    }

    async fn resident_login(&mut self, persona: &str) {
        let done = self
            .login(&format!("/login?procedure={BIRTH}"), persona)
            .await;
        assert_eq!(done.status(), StatusCode::SEE_OTHER, "{persona} signs in");
        assert!(
            self.jar.contains_key("wardgate-session"),
            "{persona} signs in"
        );
    }

    /// Signs out with the form of a page that has one.
    async fn sign_out(&mut self) {
        let page = body_text(self.get(&format!("/procedures/{BIRTH}")).await).await;
        let token = page
            .split("action=\"/logout\"")
            .nth(1)
            .and_then(|form| form.split("name=\"csrf_token\" value=\"").nth(1))
            .and_then(|rest| rest.split('"').next())
            .expect("a sign-out form")
            .to_owned();
        let done = self.post_form("/logout", &[("csrf_token", &token)]).await;
        assert_eq!(done.status(), StatusCode::OK, "signed out");
        assert!(!self.jar.contains_key("wardgate-session"));
    }

    /// The ticket's active booking, as the store holds it.
    async fn booking_of(&self, code: &str) -> Option<Booking> {
        let code = TicketCode::parse(code).unwrap();
        self.store
            .ticket_booking(&code)
            .await
            .unwrap()
            .filter(Booking::is_active)
    }
}

/// The value of the first field `name` after `from` in `page` (a hidden input, or a select's
/// first option).
fn field_after(page: &str, from: &str, name: &str) -> String {
    let page = page
        .split(from)
        .nth(1)
        .unwrap_or_else(|| panic!("no {from}"));
    page.split(&format!("name=\"{name}\""))
        .nth(1)
        .and_then(|after| after.split("value=\"").nth(1))
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no field {name}"))
        .replace("&amp;", "&")
}

fn field(page: &str, name: &str) -> String {
    field_after(page, "<body", name)
}

/// The appointment code a referral page shows.
fn ticket_code(page: &str) -> String {
    page.split("class=\"ticket-code\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("a ticket code on the page")
        .to_owned()
}

/// The booking time the printable ticket shows.
fn appointment(page: &str) -> String {
    page.split("class=\"appointment\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("an appointment time on the ticket")
        .to_owned()
}

/// What the owner could post from the pages they had open: the tokens and slots of the
/// booking, cancel, move and draft forms.
struct OwnersForms {
    code: String,
    book: Vec<(&'static str, String)>,
    cancel_token: String,
    move_form: Vec<(&'static str, String)>,
    draft_token: String,
    appointment: String,
}

/// Resident A (level 1, so referred in person) signs in, takes a ticket and books the first
/// free slot; the forms of their ticket and draft pages, as their browser had them.
async fn resident_a_books(device: &mut Device) -> OwnersForms {
    device.resident_login("level1").await;
    let referral = body_text(device.get(&format!("/procedures/{BIRTH}")).await).await;
    books_from(device, &referral).await
}

/// Books the first free slot the `referral` page offers with its ticket: the forms of the
/// ticket and draft pages, as this browser has them.
async fn books_from(device: &mut Device, referral: &str) -> OwnersForms {
    let code = ticket_code(referral);
    let book = vec![
        ("ticket", field(referral, "ticket")),
        ("point", field(referral, "point")),
        ("start", field(referral, "start")),
        ("ticket_token", field(referral, "ticket_token")),
    ];
    let pairs: Vec<(&str, &str)> = book.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let booked = device
        .post_form(&format!("/procedures/{BIRTH}/book"), &pairs)
        .await;
    assert_eq!(booked.status(), StatusCode::SEE_OTHER, "a slot is booked");

    let response = device.get(&format!("/tickets/{code}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let page = body_text(response).await;
    assert!(page.contains(BIRTH_NAME), "{page}");
    let cancel_token = field_after(&page, "/booking/cancel", "ticket_token");
    let move_form = vec![
        ("ticket", code.clone()),
        ("point", field_after(&page, "/booking/move", "point")),
        ("start", field_after(&page, "/booking/move", "start")),
        (
            "ticket_token",
            field_after(&page, "/booking/move", "ticket_token"),
        ),
    ];
    let draft_page = body_text(device.get(&format!("/tickets/{code}/draft")).await).await;
    OwnersForms {
        appointment: appointment(&page),
        code,
        book,
        cancel_token,
        move_form,
        draft_token: field(&draft_page, "ticket_token"),
    }
}

/// `path` answers `device` the page for someone who is not the owner: nothing of the ticket,
/// the sign-in text and a sign-in link back to it, never cached.
async fn shows_nothing(device: &mut Device, forms: &OwnersForms, path: &str, who: &str) {
    let response = device.get(path).await;
    assert_eq!(response.status(), NOT_YOURS, "{who} at {path}");
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    let page = body_text(response).await;
    assert!(page.contains(BELONGS_TO_A_RESIDENT), "{who}: {page}");
    let back = format!("return_to=%2Ftickets%2F{}%3Flang%3Dvi", forms.code);
    assert!(page.contains(&back), "{who}: no sign-in link back: {page}");
    for secret in [
        BIRTH_NAME,
        forms.appointment.as_str(),
        "Giờ hẹn",
        "class=\"qr\"",
    ] {
        assert!(!page.contains(secret), "{who} sees {secret:?}: {page}");
    }
}

/// Every form the owner had, posted by `device`, is refused as not theirs, and the booking
/// stays as it was.
async fn cannot_act(device: &mut Device, forms: &OwnersForms, before: &Booking, who: &str) {
    let code = &forms.code;
    let pairs = |form: &[(&'static str, String)]| -> Vec<(&'static str, String)> { form.to_vec() };
    let attempts: Vec<(String, Vec<(&'static str, String)>)> = vec![
        (
            format!("/tickets/{code}/booking/cancel"),
            vec![("ticket_token", forms.cancel_token.clone())],
        ),
        (
            format!("/tickets/{code}/booking/move"),
            pairs(&forms.move_form),
        ),
        (
            format!("/tickets/{code}/draft"),
            vec![
                ("ticket_token", forms.draft_token.clone()),
                ("child_name", "Người khác".to_owned()),
            ],
        ),
        (format!("/procedures/{BIRTH}/book"), pairs(&forms.book)),
    ];
    for (path, form) in attempts {
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let response = device.post_form(&path, &form).await;
        assert_eq!(response.status(), NOT_YOURS, "{who} posts {path}");
        let page = body_text(response).await;
        assert!(page.contains(BELONGS_TO_A_RESIDENT), "{who}: {page}");
        assert!(!page.contains(BIRTH_NAME), "{who}: {page}");
    }
    assert_eq!(
        device.booking_of(code).await.as_ref(),
        Some(before),
        "{who} changed the booking"
    );
}

#[tokio::test]
async fn a_ticket_taken_signed_in_is_shown_and_changed_only_for_its_owner() {
    let mut device = Device::new().await;
    let forms = resident_a_books(&mut device).await;
    let code = forms.code.clone();
    let booking = device.booking_of(&code).await.expect("A's booking");

    // The store names A as the owner, by the pseudonym their session carries.
    let stored = device
        .store
        .ticket(&TicketCode::parse(&code).unwrap(), Utc::now())
        .await
        .unwrap()
        .unwrap();
    let level1 = device
        .gateway
        .gate()
        .pseudonym(device._idp.issuer().as_str(), "devidp-p1-2c8e5b07d9a4f163");
    assert_eq!(stored.owner, Some(level1));

    // The same browser after A signs out: the URLs in its history show nothing.
    device.sign_out().await;
    let pages = [
        format!("/tickets/{code}"),
        format!("/tickets/{code}/draft"),
        format!("/tickets/{code}/booking"),
        format!("/tickets/{code}?lang=vi"),
    ];
    for path in &pages {
        shows_nothing(&mut device, &forms, path, "a signed-out visitor").await;
    }
    cannot_act(&mut device, &forms, &booking, "a signed-out visitor").await;

    // Resident B signs in on that browser: the same.
    device.resident_login("level2").await;
    for path in &pages {
        shows_nothing(&mut device, &forms, path, "resident B").await;
    }
    let page = body_text(device.get(&format!("/tickets/{code}")).await).await;
    assert!(
        page.contains("Bạn đang đăng nhập bằng một tài khoản khác"),
        "{page}"
    );
    cannot_act(&mut device, &forms, &booking, "resident B").await;

    // In English, the same page in English only.
    let response = device.get(&format!("/tickets/{code}?lang=en")).await;
    assert_eq!(response.status(), NOT_YOURS);
    let page = body_text(response).await;
    assert!(
        page.contains("This appointment code belongs to a resident who was signed in"),
        "{page}"
    );
    assert!(!page.contains(BELONGS_TO_A_RESIDENT), "{page}");
    assert!(!page.contains("Birth registration"), "{page}");
    // Its language switch stays on the ticket's address.
    assert!(
        page.contains(&format!("href=\"/tickets/{code}?lang=vi\"")),
        "{page}"
    );

    // A signs in again through the page's link and comes back to the ticket, all of it.
    device.sign_out().await;
    let page = body_text(device.get(&format!("/tickets/{code}")).await).await;
    let sign_in = page
        .split("href=\"/login?")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .map(|query| format!("/login?{}", query.replace("&amp;", "&")))
        .expect("a sign-in link");
    let back = device.login(&sign_in, "level1").await;
    assert_eq!(back.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&back), format!("/tickets/{code}?lang=vi"));
    let response = device.get(&format!("/tickets/{code}?lang=vi")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    let page = body_text(response).await;
    assert!(page.contains(BIRTH_NAME), "{page}");
    assert_eq!(appointment(&page), forms.appointment);
    let draft = device.get(&format!("/tickets/{code}/draft")).await;
    assert_eq!(draft.status(), StatusCode::OK);
    assert_eq!(draft.headers()[header::CACHE_CONTROL], "no-store");

    // …and cancels it.
    let token = field_after(&page, "/booking/cancel", "ticket_token");
    let cancelled = device
        .post_form(
            &format!("/tickets/{code}/booking/cancel?lang=vi"),
            &[("ticket_token", &token)],
        )
        .await;
    assert_eq!(cancelled.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&cancelled),
        format!("/tickets/{code}?lang=vi&cancelled=1")
    );
    assert_eq!(device.booking_of(&code).await, None);
}

#[tokio::test]
async fn the_owner_signed_in_again_on_a_fresh_browser_sees_and_updates_the_tickets_draft() {
    let mut device = Device::new().await;
    // A signs in, takes a ticket and types the form before the visit.
    device.resident_login("level1").await;
    let referral = body_text(device.get(&format!("/procedures/{BIRTH}")).await).await;
    let code = ticket_code(&referral);
    let draft = format!("/tickets/{code}/draft");
    let page = body_text(device.get(&draft).await).await;
    let saved = device
        .post_form(
            &draft,
            &[
                ("ticket_token", &field(&page, "ticket_token")),
                ("child_name", "Trần Văn Khoa"),
            ],
        )
        .await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&saved), format!("{draft}?lang=vi&saved=1"));

    // A signs out, and signs in again in a fresh cookie jar (another browser): no ticket
    // cookie, yet the draft page shows A's answers.
    device.sign_out().await;
    device.jar.clear();
    device.resident_login("level1").await;
    let response = device.get(&draft).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    let page = body_text(response).await;
    assert_eq!(field(&page, "child_name"), "Trần Văn Khoa", "{page}");
    assert!(!page.contains("chỉ hiện lại trên trình duyệt"), "{page}");

    // …and updates it: the page shows the new answers.
    let updated = device
        .post_form(
            &draft,
            &[
                ("ticket_token", &field(&page, "ticket_token")),
                ("child_name", "Trần Văn Minh"),
            ],
        )
        .await;
    assert_eq!(updated.status(), StatusCode::SEE_OTHER);
    let page = body_text(device.get(&draft).await).await;
    assert_eq!(field(&page, "child_name"), "Trần Văn Minh", "{page}");

    // Resident B on that browser, and a signed-out visitor: the page for someone else, without
    // the answers.
    device.sign_out().await;
    device.resident_login("level2").await;
    let response = device.get(&draft).await;
    assert_eq!(response.status(), NOT_YOURS, "resident B");
    let page = body_text(response).await;
    assert!(page.contains(BELONGS_TO_A_RESIDENT), "{page}");
    assert!(
        !page.contains("Trần Văn"),
        "resident B sees A's answers: {page}"
    );
    device.sign_out().await;
    device.jar.clear();
    let response = device.get(&draft).await;
    assert_eq!(response.status(), NOT_YOURS, "a signed-out visitor");
    let page = body_text(response).await;
    assert!(page.contains(BELONGS_TO_A_RESIDENT), "{page}");
    assert!(
        !page.contains("Trần Văn"),
        "a visitor sees A's answers: {page}"
    );
}

#[tokio::test]
async fn the_owner_signed_in_again_finds_their_open_ticket_on_the_procedure_page() {
    let mut device = Device::new().await;
    let procedure_page = format!("/procedures/{BIRTH}");
    let forms = resident_a_books(&mut device).await;
    let code = forms.code.clone();
    let booking = device.booking_of(&code).await.expect("A's booking");
    let booked = "Bạn đã đặt lịch lúc";
    let draft_link = format!("href=\"/tickets/{code}/draft?lang=vi\"");

    // A signs out (which clears the ticket cookie) and signs in again in a fresh cookie jar:
    // the procedure page shows the same code, its booking and its draft link, not a new ticket.
    device.sign_out().await;
    device.jar.clear();
    device.resident_login("level1").await;
    let page = body_text(device.get(&procedure_page).await).await;
    assert_eq!(ticket_code(&page), code, "A gets a new ticket: {page}");
    assert!(page.contains(booked), "A's booking is not shown: {page}");
    assert!(page.contains(&draft_link), "{page}");
    // The page hands the ticket back to this browser: reloading shows it again.
    assert!(
        device.jar.contains_key("wardgate-ticket"),
        "{:?}",
        device.jar
    );
    let again = body_text(device.get(&procedure_page).await).await;
    assert_eq!(ticket_code(&again), code);

    // Resident B, referred in person on the same procedure, gets a ticket of their own.
    device.sign_out().await;
    device.jar.clear();
    device.resident_login("level2").await;
    let page = body_text(device.get(&format!("{procedure_page}?in_person=1")).await).await;
    let b_code = ticket_code(&page);
    assert_ne!(b_code, code, "B is given A's ticket");
    assert!(!page.contains(booked), "B sees A's booking: {page}");

    // A, signed in again on that browser after B, still finds theirs, and B's stays B's.
    device.sign_out().await;
    device.resident_login("level1").await;
    let page = body_text(device.get(&procedure_page).await).await;
    assert_eq!(ticket_code(&page), code);
    device.sign_out().await;
    device.resident_login("level2").await;
    let page = body_text(device.get(&format!("{procedure_page}?in_person=1")).await).await;
    assert_eq!(ticket_code(&page), b_code);
    assert_eq!(
        device.booking_of(&code).await,
        Some(booking),
        "A's booking changed"
    );
}

#[tokio::test]
async fn a_failing_look_up_of_the_owners_open_ticket_issues_a_new_one() {
    let store = Arc::new(TicketFaults::default());
    let gw = TestGateway::with_parts(Arc::clone(&store) as _, |parts| parts).await;
    // Resident A chooses the counter, so the page takes a ticket for them.
    let page = format!("/procedures/{BIRTH}?in_person=1");
    let (_, session) = gw.sign_in("level2").await;
    let session = session.expect("A signs in");
    let first = ticket_code(&body_text(gw.get(&page, Some(&session)).await).await);

    // A signs in again without the ticket cookie while the look-up fails: the page still
    // answers, with a new ticket instead of an error.
    store.fail_owner_lookups();
    let (_, session) = gw.sign_in("level2").await;
    let response = gw.get(&page, session.as_deref()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let second = ticket_code(&body_text(response).await);
    assert_ne!(second, first);
    assert_eq!(store.tickets_saved(), 2);
}

#[tokio::test]
async fn officers_still_see_a_signed_in_residents_ticket() {
    let mut device = Device::new().await;
    let forms = resident_a_books(&mut device).await;
    device.sign_out().await;
    device.jar.clear();
    let signed_in = device.login("/staff/login", "officer").await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    let response = device
        .get(&format!("/staff/tickets?code={}", forms.code))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let page = body_text(response).await;
    assert!(page.contains(&forms.code), "{page}");
    assert!(page.contains(BIRTH_NAME), "{page}");
}

#[tokio::test]
async fn a_ticket_taken_signed_out_still_opens_by_its_code_and_pre_fills_no_signed_in_form() {
    let mut device = Device::new().await;
    let referral = body_text(
        device
            .get(&format!("/procedures/{BIRTH}?in_person=1"))
            .await,
    )
    .await;
    let code = ticket_code(&referral);
    let stored = device
        .store
        .ticket(&TicketCode::parse(&code).unwrap(), Utc::now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.owner, None);
    let draft_page = body_text(device.get(&format!("/tickets/{code}/draft")).await).await;
    let saved = device
        .post_form(
            &format!("/tickets/{code}/draft"),
            &[
                ("ticket_token", &field(&draft_page, "ticket_token")),
                ("child_name", "Trần Văn Khoa"),
            ],
        )
        .await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);

    // Another browser, with nothing but the code: the printable ticket, as today.
    let mut other = Device {
        jar: BTreeMap::new(),
        ..device
    };
    let response = other.get(&format!("/tickets/{code}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let page = body_text(response).await;
    assert!(page.contains(BIRTH_NAME) && page.contains(&code), "{page}");
    // Its draft page, but not the answers: only the browser holding the ticket sees them.
    let response = other.get(&format!("/tickets/{code}/draft")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let page = body_text(response).await;
    assert!(page.contains("chỉ hiện lại trên trình duyệt"), "{page}");
    assert!(!page.contains("Trần Văn Khoa"), "{page}");

    // A resident signed in on the browser that took it opens it too, but their forms are not
    // pre-filled from its draft.
    let mut device = Device {
        jar: BTreeMap::new(),
        ..other
    };
    device.resident_login("level2").await;
    let response = device.get(&format!("/tickets/{code}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let draft_page = body_text(device.get(&format!("/tickets/{code}/draft")).await).await;
    assert!(!draft_page.contains("Trần Văn Khoa"), "{draft_page}");
    let form = body_text(device.get(&format!("/procedures/{BIRTH}")).await).await;
    assert!(!form.contains("Trần Văn Khoa"), "{form}");
}

#[tokio::test]
async fn a_ticket_claimed_signed_in_is_then_shown_and_changed_only_for_its_claimer() {
    let mut device = Device::new().await;
    // Signed out: a ticket, a booking and the form typed before the visit.
    let referral = body_text(
        device
            .get(&format!("/procedures/{BIRTH}?in_person=1"))
            .await,
    )
    .await;
    let forms = books_from(&mut device, &referral).await;
    let code = forms.code.clone();
    let typed = device
        .post_form(
            &format!("/tickets/{code}/draft"),
            &[
                ("ticket_token", &forms.draft_token),
                ("child_name", "Trần Văn Khoa"),
            ],
        )
        .await;
    assert_eq!(typed.status(), StatusCode::SEE_OTHER);
    let booking = device.booking_of(&code).await.expect("the booking");
    let ticket_code = TicketCode::parse(&code).unwrap();
    let owner = |device: &Device| {
        let store = Arc::clone(&device.store);
        async move {
            store
                .ticket(&ticket_code, Utc::now())
                .await
                .unwrap()
                .unwrap()
                .owner
        }
    };
    assert_eq!(owner(&device).await, None);

    // A resident signs in on that browser and claims it with its code.
    device.resident_login("level2").await;
    let page = body_text(device.get(&format!("/procedures/{BIRTH}")).await).await;
    let claimed = device
        .post_form(
            &format!("/procedures/{BIRTH}/claim"),
            &[
                ("csrf_token", &field_after(&page, "/claim", "csrf_token")),
                ("code", &code),
            ],
        )
        .await;
    assert_eq!(claimed.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&claimed),
        format!("/procedures/{BIRTH}?lang=vi&claimed=1")
    );
    // The stored ticket is now theirs, by their session's pseudonym.
    let claimer = device
        .gateway
        .gate()
        .pseudonym(device._idp.issuer().as_str(), "devidp-p2-7f3a91c4e0b25d68");
    assert_eq!(owner(&device).await, Some(claimer));
    let response = device.get(&format!("/tickets/{code}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let page = body_text(response).await;
    assert!(page.contains(BIRTH_NAME), "{page}");
    assert_eq!(appointment(&page), forms.appointment);

    // Signed out, the same browser no longer opens it by its code, nor changes it.
    device.sign_out().await;
    let pages = [
        format!("/tickets/{code}"),
        format!("/tickets/{code}/draft"),
        format!("/tickets/{code}/booking"),
    ];
    for path in &pages {
        shows_nothing(&mut device, &forms, path, "a signed-out visitor").await;
    }
    cannot_act(&mut device, &forms, &booking, "a signed-out visitor").await;
    // Nor does another browser with only the code.
    device.jar.clear();
    for path in &pages {
        shows_nothing(&mut device, &forms, path, "another browser").await;
    }

    // Another resident signed in: the same.
    device.resident_login("level1").await;
    for path in &pages {
        shows_nothing(&mut device, &forms, path, "another resident").await;
    }
    cannot_act(&mut device, &forms, &booking, "another resident").await;

    // The claimer, signed in again, sees it and its booking, and can cancel it.
    device.sign_out().await;
    device.resident_login("level2").await;
    for path in &pages {
        let response = device.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "the claimer at {path}");
        assert!(body_text(response).await.contains(BIRTH_NAME), "{path}");
    }
    // With the answers typed before the claim, though sign-out cleared the ticket cookie.
    let draft = body_text(device.get(&format!("/tickets/{code}/draft")).await).await;
    assert_eq!(field(&draft, "child_name"), "Trần Văn Khoa", "{draft}");
    let page = body_text(device.get(&format!("/tickets/{code}")).await).await;
    let token = field_after(&page, "/booking/cancel", "ticket_token");
    let cancelled = device
        .post_form(
            &format!("/tickets/{code}/booking/cancel"),
            &[("ticket_token", &token)],
        )
        .await;
    assert_eq!(cancelled.status(), StatusCode::SEE_OTHER);
    assert_eq!(device.booking_of(&code).await, None);
}

#[tokio::test]
async fn with_two_providers_the_not_yours_page_offers_each_and_comes_back_to_the_ticket() {
    use crate::gateway_profiles::{TWO_PROVIDERS, configured_gateway, sign_in_at};

    let gw = configured_gateway(&[], TWO_PROVIDERS).await;
    // A level-1 resident signs in at the national portal and takes a ticket.
    let (_, session) = sign_in_at(
        &gw,
        &format!("/login?procedure={BIRTH}&provider=npsp"),
        "level1",
    )
    .await;
    let session = session.expect("a session");
    let referral = body_text(
        gw.get(&format!("/procedures/{BIRTH}"), Some(&session))
            .await,
    )
    .await;
    let code = ticket_code(&referral);
    let ticket = format!("/tickets/{code}");
    assert_eq!(
        gw.get(&ticket, Some(&session)).await.status(),
        StatusCode::OK
    );

    // Anyone else: a sign-in at each provider, each with its explanation, back to the ticket.
    let response = gw.get(&ticket, None).await;
    assert_eq!(response.status(), NOT_YOURS);
    let page = body_text(response).await;
    assert!(page.contains(BELONGS_TO_A_RESIDENT), "{page}");
    assert!(!page.contains(BIRTH_NAME), "{page}");
    assert!(
        page.contains("Hãy đăng nhập bằng đúng tài khoản đã dùng khi nhận phiếu hẹn"),
        "{page}"
    );
    let back = format!("return_to=%2Ftickets%2F{code}%3Flang%3Dvi");
    let mut links = Vec::new();
    for (id, label) in [
        ("npsp", "Cổng Dịch vụ công quốc gia"),
        ("vneid", "Tài khoản định danh điện tử VNeID"),
    ] {
        let href = format!("/login?lang=vi&amp;provider={id}&amp;{back}");
        assert!(page.contains(&format!("href=\"{href}\"")), "{id}: {page}");
        assert!(
            page.contains(&format!("Đăng nhập bằng {label}")),
            "{id}: {page}"
        );
        links.push(href.replace("&amp;", "&"));
    }
    assert_eq!(page.matches("<p class=\"hint\">").count(), 2, "{page}");
    let english = body_text(gw.get(&format!("{ticket}?lang=en"), None).await).await;
    assert!(
        english.contains(&format!(
            "href=\"/login?lang=en&amp;provider=vneid&amp;return_to=%2Ftickets%2F{code}%3Flang%3Den\""
        )),
        "{english}"
    );
    assert!(english.contains("Sign in with National Public Service Portal"));
    assert!(!english.contains("Đăng nhập bằng"), "{english}");

    // The other provider's account is someone else: back at the ticket, still not theirs.
    let (back_at, other) = sign_in_at(&gw, &links[1], "level1").await;
    assert_eq!(location(&back_at), format!("{ticket}?lang=vi"));
    let response = gw.get(&ticket, other.as_deref()).await;
    assert_eq!(response.status(), NOT_YOURS);
    // The account it was taken with: back at the ticket, all of it.
    let (back_at, owner) = sign_in_at(&gw, &links[0], "level1").await;
    assert_eq!(location(&back_at), format!("{ticket}?lang=vi"));
    let response = gw.get(&format!("{ticket}?lang=vi"), owner.as_deref()).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(body_text(response).await.contains(BIRTH_NAME));
}

/// The provider buttons of the sign-in chooser `page`, as a browser follows them.
fn chooser_buttons(page: &str) -> Vec<String> {
    page.split("<ul class=\"provider-choices\">")
        .nth(1)
        .and_then(|list| list.split("</ul>").next())
        .expect("a provider chooser")
        .split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(|href| href.replace("&amp;", "&"))
        .collect()
}

#[tokio::test]
async fn with_two_providers_the_sign_in_chooser_keeps_a_local_return_to_on_each_button() {
    use crate::gateway_profiles::{TWO_PROVIDERS, configured_gateway, sign_in_at};

    let gw = configured_gateway(&[], TWO_PROVIDERS).await;
    let (_, session) = sign_in_at(
        &gw,
        &format!("/login?procedure={BIRTH}&provider=npsp"),
        "level1",
    )
    .await;
    let referral = body_text(
        gw.get(&format!("/procedures/{BIRTH}"), session.as_deref())
            .await,
    )
    .await;
    let ticket = format!("/tickets/{}?lang=vi", ticket_code(&referral));
    let back: String = url::form_urlencoded::byte_serialize(ticket.as_bytes()).collect();

    // Sent to sign in from the ticket: the chooser, each button carrying the way back.
    let chooser = format!("/login?procedure={BIRTH}&return_to={back}");
    let response = gw.get(&chooser, None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let page = body_text(response).await;
    assert!(page.contains("<h1>Chọn cách đăng nhập</h1>"), "{page}");
    assert!(
        page.contains("Sau khi đăng nhập, bạn sẽ quay lại trang bạn vừa xem."),
        "{page}"
    );
    assert!(!page.contains("quay lại thủ tục này"), "{page}");
    let buttons = chooser_buttons(&page);
    assert_eq!(
        buttons,
        ["npsp", "vneid"]
            .map(|id| format!("/login?procedure={BIRTH}&provider={id}&lang=vi&return_to={back}"))
    );
    // The language switch keeps it too, and the English chooser says so in English.
    let switch = format!("/login?procedure={BIRTH}&amp;return_to={back}&amp;lang=en");
    assert!(page.contains(&format!("href=\"{switch}\"")), "{page}");
    let english = body_text(gw.get(&switch.replace("&amp;", "&"), None).await).await;
    assert!(
        english.contains("After signing in you come back to the page you were on."),
        "{english}"
    );
    assert!(!english.contains("Sau khi đăng nhập"), "{english}");

    // The owner signs in through the button of the provider they took the ticket with: back
    // at the ticket, all of it.
    let (callback, owner) = sign_in_at(&gw, &buttons[0], "level1").await;
    assert_eq!(callback.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&callback), ticket);
    let response = gw.get(&ticket, owner.as_deref()).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(body_text(response).await.contains(BIRTH_NAME));

    // A return_to that is not a local path is dropped from the buttons, as `/login` drops it:
    // signing in comes back to the procedure, never elsewhere.
    for hostile in [
        "//evil.example/",
        "https://evil.example/",
        "/%2F%2Fevil.example",
        "/\\evil.example",
        "/tickets/../..//evil.example",
        "javascript:alert(1)",
    ] {
        let encoded: String = url::form_urlencoded::byte_serialize(hostile.as_bytes()).collect();
        let response = gw
            .get(
                &format!("/login?procedure={BIRTH}&return_to={encoded}"),
                None,
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK, "{hostile}");
        let page = body_text(response).await;
        assert!(!page.contains("return_to"), "{hostile}: {page}");
        assert!(!page.contains("evil.example"), "{hostile}: {page}");
        assert!(page.contains("quay lại thủ tục này"), "{hostile}: {page}");
        let buttons = chooser_buttons(&page);
        assert_eq!(
            buttons,
            ["npsp", "vneid"].map(|id| format!("/login?procedure={BIRTH}&provider={id}&lang=vi")),
            "{hostile}"
        );
        let (callback, _) = sign_in_at(&gw, &buttons[1], "level2").await;
        assert_eq!(
            location(&callback),
            format!("/procedures/{BIRTH}?lang=vi"),
            "{hostile}"
        );
    }
}

/// Schema 5 on SQLite: a database at schema 4 with a ticket in it migrates, and the ticket
/// reads back with no owner.
#[tokio::test]
async fn sqlite_tickets_stored_before_schema_5_read_back_without_an_owner() {
    use sqlx::{Connection as _, Row as _};
    use wardgate::store::SqliteStore;

    use crate::support::store::{TempDir, draft, t0, ticket};

    let dir = TempDir::new("owner12-sqlite");
    let path = dir.file("wardgate.db");
    let old = ticket(&draft());
    {
        let store = SqliteStore::open(&path).await.unwrap();
        store.save_ticket(&old).await.unwrap();
    }
    // Back to schema 4 as it was: no owner column or index on it, no schema 7 index, versions
    // 5 to 7 not recorded.
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{path}"))
        .await
        .unwrap();
    sqlx::raw_sql(
        "DROP INDEX tickets_owner_procedure; DROP INDEX outbox_undelivered; \
         ALTER TABLE tickets DROP COLUMN owner; \
         DELETE FROM wardgate_migrations WHERE version >= 5;",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();

    let store = SqliteStore::open(&path).await.unwrap();
    let read = store.ticket(&old.code, t0()).await.unwrap().unwrap();
    assert_eq!(read.owner, None);
    assert_eq!(read, old);
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{path}"))
        .await
        .unwrap();
    let newest: i64 = sqlx::query("SELECT max(version) FROM wardgate_migrations")
        .fetch_one(&mut conn)
        .await
        .unwrap()
        .get(0);
    assert_eq!(newest, SqliteStore::SCHEMA_VERSION);
    assert_eq!(newest, 7);
    // Schema 6: a resident's open ticket is read through its index, not a scan of all tickets.
    let plan: Vec<String> = sqlx::query(
        "EXPLAIN QUERY PLAN SELECT code FROM tickets \
         WHERE owner = 'p' AND procedure = '1.001193' AND expires_ns > 0 \
         ORDER BY issued_ns DESC, code DESC LIMIT 1",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap()
    .iter()
    .map(|row| row.get::<String, _>("detail"))
    .collect();
    assert!(
        plan.iter()
            .any(|step| step.contains("USING INDEX tickets_owner_procedure")),
        "{plan:?}"
    );
}

/// Schema 5 on PostgreSQL (run with the other `store_postgres::` tests).
mod store_postgres {
    use sqlx::Connection as _;
    use wardgate::store::{PgOptions, PgStore, Store as _};

    use crate::support::store::{draft, fresh_schema, t0, ticket};

    fn database_url() -> String {
        std::env::var("WARDGATE_TEST_DATABASE_URL")
            .expect("WARDGATE_TEST_DATABASE_URL: run through .ci/run, which starts PostgreSQL")
    }

    #[tokio::test]
    #[ignore = "needs PostgreSQL: run through .ci/run"]
    async fn tickets_stored_before_schema_5_read_back_without_an_owner() {
        let schema = fresh_schema("owner12_");
        let options = PgOptions::default()
            .max_connections(2)
            .schema(schema.clone());
        let old = ticket(&draft());
        {
            let store = PgStore::connect_with(&database_url(), options.clone())
                .await
                .unwrap();
            store.save_ticket(&old).await.unwrap();
        }
        let mut conn = sqlx::PgConnection::connect(&database_url()).await.unwrap();
        sqlx::raw_sql(&format!(
            "ALTER TABLE \"{schema}\".tickets DROP COLUMN owner; \
             DROP INDEX \"{schema}\".outbox_undelivered; \
             DELETE FROM \"{schema}\".wardgate_migrations WHERE version >= 5;"
        ))
        .execute(&mut conn)
        .await
        .unwrap();

        let read = {
            let store = PgStore::connect_with(&database_url(), options)
                .await
                .unwrap();
            store.ticket(&old.code, t0()).await.unwrap()
        };
        sqlx::raw_sql(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
            .execute(&mut conn)
            .await
            .unwrap();
        let read = read.unwrap();
        assert_eq!(read.owner, None);
        assert_eq!(read, old);
        assert_eq!(PgStore::SCHEMA_VERSION, 7);
    }
}
