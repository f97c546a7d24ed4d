//! The resident's journey before the visit: the level-1 path, every reception point, bookings
//! (token, caps, confirmation, cancel, move), the printable ticket and the draft the counter
//! opens.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, Response, StatusCode, header};
use chrono::{Duration, Utc};
use wardgate::fallback::{Directory, vietnam};
use wardgate::portal::rate_limit::{RateLimit, RateLimits};
use wardgate::store::{MemoryStore, Store};

use crate::gateway::{BIRTH, TestGateway, body_text, location, set_cookies, staff_login};

/// Permanent residence registration: received by the commune police.
const RESIDENCE: &str = "1.004222";

fn directory() -> Directory {
    Directory::load(format!("{}/samples/wards.toml", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// The value of the first `name="…"` input or the first `<option>` of a page.
fn input(html: &str, name: &str) -> Option<String> {
    let value = html
        .split(&format!("name=\"{name}\" value=\""))
        .nth(1)?
        .split('"')
        .next()?;
    Some(unescape(value))
}

fn unescape(value: &str) -> String {
    value
        .replace("&#43;", "+")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

/// The slot values the booking form offers, in order.
fn options(html: &str) -> Vec<String> {
    let Some(select) = html.split("<select id=\"start\"").nth(1) else {
        return Vec::new();
    };
    let select = select.split("</select>").next().unwrap_or_default();
    select
        .split("<option value=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(unescape)
        .collect()
}

fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

fn cookie_named(response: &Response<Body>, name: &str) -> Option<String> {
    set_cookies(response)
        .into_iter()
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(|c| c.split(';').next().unwrap().to_owned())
}

async fn post_form(gw: &TestGateway, path: &str, form: String) -> Response<Body> {
    gw.send(
        Request::post(path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form))
            .unwrap(),
    )
    .await
}

/// A referral page for the birth registration in `lang`: its HTML, ticket code and cookie.
async fn referral(gw: &TestGateway, lang: &str) -> (String, String, String) {
    let response = gw
        .get(
            &format!("/procedures/{BIRTH}?in_person=1&lang={lang}"),
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = cookie_named(&response, "wardgate-ticket").expect("ticket cookie");
    let html = body_text(response).await;
    let code = input(&html, "ticket").expect("the booking form names the ticket");
    (html, code, cookie)
}

async fn book(
    gw: &TestGateway,
    code: &str,
    start: &str,
    token: &str,
    lang: &str,
) -> Response<Body> {
    post_form(
        gw,
        &format!("/procedures/{BIRTH}/book?lang={lang}"),
        format!(
            "ticket={code}&point=trung-tam&start={}&ticket_token={}",
            encode(start),
            encode(token)
        ),
    )
    .await
}

async fn active_bookings(store: &MemoryStore, days: i64) -> usize {
    let ward = directory().wards()[0].code;
    let today = Utc::now().with_timezone(&vietnam()).date_naive();
    let mut count = 0;
    for offset in 0..=days {
        let day = today + Duration::days(offset);
        count += store.bookings_on(ward, None, day).await.unwrap().len();
    }
    count
}

#[tokio::test]
async fn a_level_one_resident_is_led_to_the_counter_and_to_level_two_first() {
    let gw = TestGateway::start().await;
    let page = |lang: &'static str| {
        let gw = &gw;
        async move {
            let response = gw
                .get(
                    &format!("/procedures/{BIRTH}?outcome=level_unreachable&lang={lang}"),
                    None,
                )
                .await;
            assert_eq!(response.status(), StatusCode::OK);
            body_text(response).await
        }
    };
    let vi = page("vi").await;
    let position = |html: &str, text: &str| {
        html.find(text)
            .unwrap_or_else(|| panic!("{text:?} is on the page"))
    };
    // In person first, then level 2, then the secondary sign-in, then what to bring.
    let lead = position(&vi, "Tài khoản của bạn ở mức độ 1: nộp hồ sơ trực tiếp");
    let points = position(&vi, "Nơi nộp hồ sơ");
    let level2 = position(&vi, "Cách nâng tài khoản định danh điện tử lên mức độ 2");
    let again = position(&vi, "Tôi vừa được nâng lên mức độ 2, đăng nhập lại");
    let bring = position(&vi, "Giấy tờ cần mang theo");
    assert!(lead < points && points < level2 && level2 < again && again < bring);
    assert!(vi.contains(
        "Tối đa 3 ngày làm việc (7 ngày làm việc nếu thẻ căn cước đã hết hạn hoặc chưa có thẻ)"
    ));
    assert!(vi.contains("ứng dụng VNeID hoặc tin nhắn SMS"));
    assert!(vi.contains("có thể bạn chỉ cần kích hoạt mức độ 2 trên ứng dụng VNeID"));
    assert!(vi.contains("Đến Công an xã, phường"));
    assert!(vi.contains("số hóa (scan) giấy tờ ngay tại quầy"));
    // Signing in again is the secondary action, never the offer to "try again".
    assert!(!vi.contains("Thử đăng nhập lại"));
    assert!(vi.contains(
        "class=\"button button-secondary\" href=\"/login?procedure=1.001193&amp;lang=vi\""
    ));

    let en = page("en").await;
    let lead = position(&en, "Your account is level 1: file in person");
    let level2 = position(&en, "How to raise your e-identity account to level 2");
    let again = position(&en, "I have just been raised to level 2, sign in again");
    assert!(lead < level2 && level2 < again);
    assert!(
        en.contains(
            "At most 3 working days (7 if your identity card has expired or you have none)"
        )
    );
    assert!(en.contains("VNeID notification or by SMS"));
    assert!(en.contains("scan your documents at the counter"));
    assert!(
        !en.contains("Mức độ 2"),
        "no Vietnamese headings on the English page"
    );
}

#[tokio::test]
async fn a_resident_who_chose_the_counter_keeps_the_try_again_offer_after_the_places() {
    let gw = TestGateway::start().await;
    let html = body_text(
        gw.get(&format!("/procedures/{BIRTH}?in_person=1"), None)
            .await,
    )
    .await;
    assert!(html.contains("Nộp hồ sơ trực tiếp"));
    assert!(!html.contains("Tài khoản của bạn ở mức độ 1"));
    assert!(!html.contains("Tôi vừa được nâng lên mức độ 2"));
    // Level 2 comes after the places and the appointment code.
    assert!(html.find("Mã lịch hẹn của bạn").unwrap() < html.find("Cách nâng tài khoản").unwrap());
}

#[tokio::test]
async fn the_referral_and_the_ticket_list_every_reception_point_with_tel_links() {
    let gw = TestGateway::start().await;
    let directory = directory();
    let ward = &directory.wards()[0];
    let (html, code, _) = referral(&gw, "vi").await;
    let ticket = body_text(gw.get(&format!("/tickets/{code}"), None).await).await;
    assert!(
        ward.point.len() >= 3,
        "Thới Sơn has its three former offices"
    );
    for point in &ward.point {
        let tel = format!(
            "href=\"tel:{}\"",
            point
                .phone
                .chars()
                .filter(char::is_ascii_digit)
                .collect::<String>()
        );
        for page in [&html, &ticket] {
            assert!(page.contains(&point.address), "{} listed", point.address);
            assert!(page.contains(&point.name_vi), "{} listed", point.name_vi);
            assert!(page.contains(&tel), "{tel} on the page");
        }
    }
    assert_eq!(
        html.matches("class=\"reception-point\"").count(),
        ward.point.len()
    );
    assert_eq!(
        ticket.matches("class=\"reception-point\"").count(),
        ward.point.len()
    );
}

#[tokio::test]
async fn a_residence_referral_sends_the_resident_to_the_police_counter_only() {
    let gw = TestGateway::start().await;
    let directory = directory();
    let ward = &directory.wards()[0];
    let html = body_text(
        gw.get(&format!("/procedures/{RESIDENCE}?in_person=1"), None)
            .await,
    )
    .await;
    assert!(html.contains(&ward.police.name_vi));
    assert!(html.contains(&ward.police.address));
    assert_eq!(html.matches("class=\"reception-point\"").count(), 1);
    for point in &ward.point {
        assert!(
            !html.contains(&point.address),
            "{} is not where residence is filed",
            point.address
        );
    }
}

#[tokio::test]
async fn booking_without_the_ticket_token_is_refused_in_both_languages() {
    let gw = TestGateway::start().await;
    let (html, code, _) = referral(&gw, "vi").await;
    let start = options(&html).into_iter().next().expect("a free slot");
    let missing = post_form(
        &gw,
        &format!("/procedures/{BIRTH}/book?lang=vi"),
        format!("ticket={code}&point=trung-tam&start={}", encode(&start)),
    )
    .await;
    assert_eq!(missing.status(), StatusCode::FORBIDDEN);
    assert!(
        body_text(missing)
            .await
            .contains("Biểu mẫu không hợp lệ hoặc đã hết hạn")
    );

    // Another ticket's token does not book this one.
    let (other, _, _) = referral(&gw, "en").await;
    let other_token = input(&other, "ticket_token").unwrap();
    let foreign = book(&gw, &code, &start, &other_token, "en").await;
    assert_eq!(foreign.status(), StatusCode::FORBIDDEN);
    assert!(
        body_text(foreign)
            .await
            .contains("The form is not valid or has expired")
    );

    let token = input(&html, "ticket_token").unwrap();
    assert_eq!(
        book(&gw, &code, &start, &token, "vi").await.status(),
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn a_booking_is_confirmed_then_moved_then_cancelled_from_the_ticket_page() {
    let store = Arc::new(MemoryStore::new());
    let gw = TestGateway::with_parts(Arc::clone(&store) as Arc<dyn Store>, |parts| parts).await;
    for lang in ["vi", "en"] {
        let (html, code, _) = referral(&gw, lang).await;
        let slots = options(&html);
        assert!(slots.len() >= 2, "two free slots to move between");
        let token = input(&html, "ticket_token").unwrap();
        let booked = book(&gw, &code, &slots[0], &token, lang).await;
        assert_eq!(booked.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            location(&booked),
            format!("/tickets/{code}/booking?lang={lang}")
        );
        let confirmation = body_text(gw.get(location(&booked), None).await).await;
        let (confirmed, code_label) = if lang == "vi" {
            ("Đã đặt lịch hẹn", "Mã lịch hẹn")
        } else {
            ("Booking confirmed", "Appointment code")
        };
        assert!(confirmation.contains(confirmed));
        assert!(confirmation.contains(code_label));
        assert!(confirmation.contains(&code));
        assert!(
            !confirmation.contains("Mã hồ sơ"),
            "the appointment code is not a dossier code"
        );

        // The ticket page manages it: the move form offers the other slots.
        let ticket = body_text(gw.get(&format!("/tickets/{code}?lang={lang}"), None).await).await;
        let ticket_token =
            input(&ticket, "ticket_token").expect("the manage forms carry the token");
        let moved = post_form(
            &gw,
            &format!("/tickets/{code}/booking/move?lang={lang}"),
            format!(
                "ticket={code}&point=trung-tam&start={}&ticket_token={}",
                encode(&slots[1]),
                encode(&ticket_token)
            ),
        )
        .await;
        assert_eq!(moved.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            location(&moved),
            format!("/tickets/{code}/booking?lang={lang}")
        );
        assert_eq!(
            active_bookings(&store, 8).await,
            1,
            "moving keeps one booking"
        );
        let all = {
            let ward = directory().wards()[0].code;
            let start = chrono::DateTime::parse_from_rfc3339(&slots[1]).unwrap();
            store
                .bookings_on(ward, None, start.with_timezone(&vietnam()).date_naive())
                .await
                .unwrap()
        };
        assert_eq!(
            all.iter()
                .filter(|b| b.ticket.map(|t| t.to_string()) == Some(code.clone()))
                .map(|b| b.slot.start.to_rfc3339())
                .collect::<Vec<_>>(),
            vec![
                chrono::DateTime::parse_from_rfc3339(&slots[1])
                    .unwrap()
                    .with_timezone(&Utc)
                    .to_rfc3339()
            ]
        );

        // Cancelling without the token is refused; with it, the ticket says so.
        let refused = post_form(
            &gw,
            &format!("/tickets/{code}/booking/cancel?lang={lang}"),
            String::new(),
        )
        .await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        let cancelled = post_form(
            &gw,
            &format!("/tickets/{code}/booking/cancel?lang={lang}"),
            format!("ticket_token={}", encode(&ticket_token)),
        )
        .await;
        assert_eq!(cancelled.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            location(&cancelled),
            format!("/tickets/{code}?lang={lang}&cancelled=1")
        );
        let after = body_text(gw.get(location(&cancelled), None).await).await;
        assert!(after.contains(if lang == "vi" {
            "Đã hủy lịch hẹn"
        } else {
            "Booking cancelled"
        }));
        assert!(!after.contains("class=\"manage-booking\""));
        assert_eq!(active_bookings(&store, 8).await, 0);
    }
}

#[tokio::test]
async fn five_hundred_anonymous_attempts_from_one_address_cannot_book_out_a_day() {
    // With the per-minute limit off, the active-booking cap alone holds.
    let store = Arc::new(MemoryStore::new());
    let gw = TestGateway::with_parts(Arc::clone(&store) as Arc<dyn Store>, |parts| {
        let mut rate_limits = RateLimits::default();
        rate_limits.booking = RateLimit::OFF;
        parts.with_rate_limits(rate_limits)
    })
    .await;
    let mut statuses = std::collections::BTreeMap::new();
    let mut tickets = 0;
    for _ in 0..500 {
        // No cookie: each attempt asks for a fresh anonymous ticket; past the address's
        // allowance the referral comes without one, and without a booking form.
        let response = gw
            .get(&format!("/procedures/{BIRTH}?in_person=1&lang=vi"), None)
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let html = body_text(response).await;
        let Some(code) = input(&html, "ticket") else {
            continue;
        };
        tickets += 1;
        let start = options(&html).into_iter().next().expect("a free slot");
        let token = input(&html, "ticket_token").unwrap();
        let response = book(&gw, &code, &start, &token, "vi").await;
        *statuses.entry(response.status().as_u16()).or_insert(0) += 1;
    }
    let cap = RateLimits::DEFAULT_ACTIVE_BOOKINGS_PER_ADDRESS as usize;
    assert!(
        tickets > cap && tickets <= 10,
        "{tickets} tickets for one address"
    );
    assert_eq!(statuses.get(&303), Some(&cap), "{statuses:?}");
    assert_eq!(statuses.get(&429), Some(&(tickets - cap)), "{statuses:?}");
    assert_eq!(active_bookings(&store, 8).await, cap);

    // With the default limits, the per-minute limit refuses a flood of booking posts first.
    let store = Arc::new(MemoryStore::new());
    let gw = TestGateway::with_parts(Arc::clone(&store) as Arc<dyn Store>, |parts| parts).await;
    let (html, code, _) = referral(&gw, "vi").await;
    let start = options(&html).into_iter().next().expect("a free slot");
    let token = input(&html, "ticket_token").unwrap();
    let mut limited = 0;
    for _ in 0..30 {
        let response = book(&gw, &code, &start, &token, "vi").await;
        if response.status() == StatusCode::TOO_MANY_REQUESTS
            && response.headers().contains_key(header::RETRY_AFTER)
        {
            limited += 1;
        }
    }
    assert_eq!(limited, 30 - RateLimit::DEFAULT_BOOKING.burst() as usize);
    assert_eq!(active_bookings(&store, 8).await, 1);
}

#[tokio::test]
async fn the_printable_ticket_carries_places_phones_checklist_and_level_two() {
    let gw = TestGateway::start().await;
    let (_, code, _) = referral(&gw, "en").await;
    let ticket = body_text(gw.get(&format!("/tickets/{code}?lang=en"), None).await).await;
    assert!(ticket.contains("Appointment code"));
    assert!(ticket.contains("<svg"), "QR code");
    assert!(ticket.contains("href=\"tel:02963875100\""));
    assert!(
        ticket.contains("href=\"tel:02963875113\""),
        "the police post's phone"
    );
    assert!(ticket.contains("What to bring"));
    assert!(ticket.contains("How to raise your e-identity account to level 2"));
    assert!(ticket.contains("At most 3 working days"));
    let css = body_text(gw.get(wardgate::portal::html::STYLESHEET_PATH, None).await).await;
    let print = css.split("@media print").nth(1).expect("print rules");
    assert!(print.contains(".no-print, .manage-booking { display: none !important; }"));
}

#[tokio::test]
async fn a_draft_typed_before_the_visit_reaches_the_counter_with_the_ticket() {
    let gw = TestGateway::start().await;
    let (_, code, cookie) = referral(&gw, "vi").await;
    let page = gw
        .get(&format!("/tickets/{code}/draft?lang=vi"), Some(&cookie))
        .await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = body_text(page).await;
    let token = input(&html, "ticket_token").expect("the draft form carries the token");
    assert!(html.contains("name=\"child_name\""));
    assert!(
        !html.contains("Nộp hồ sơ"),
        "nothing is filed online from this form"
    );

    let child = "Trần Văn Bình";
    let form = format!(
        "ticket_token={}&child_name={}&child_birth_date=2026-11-30&mother_citizen_id=089123456789",
        encode(&token),
        encode(child)
    );
    let refused = post_form(
        &gw,
        &format!("/tickets/{code}/draft?lang=vi"),
        format!("child_name={}", encode(child)),
    )
    .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let saved = post_form(&gw, &format!("/tickets/{code}/draft?lang=vi"), form).await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&saved),
        format!("/tickets/{code}/draft?lang=vi&saved=1")
    );

    // The browser holding the ticket sees its answers again; the code alone does not.
    let again = body_text(gw.get(location(&saved), Some(&cookie)).await).await;
    assert!(again.contains("Đã lưu nháp"));
    assert!(again.contains(&format!("value=\"{child}\"")));
    let stranger = body_text(
        gw.get(&format!("/tickets/{code}/draft?lang=vi"), None)
            .await,
    )
    .await;
    assert!(!stranger.contains(child));
    assert!(stranger.contains("Đã có một bản nháp cho mã lịch hẹn này"));

    // The officer opens it with the ticket code.
    let staff = staff_login(&gw, "officer").await;
    let staff_cookie = set_cookies(&staff)
        .into_iter()
        .find(|c| c.starts_with("wardgate-staff="))
        .map(|c| c.split(';').next().unwrap().to_owned())
        .expect("staff cookie");
    let lookup = body_text(
        gw.get(&format!("/staff/tickets?code={code}"), Some(&staff_cookie))
            .await,
    )
    .await;
    assert!(lookup.contains(child), "the officer sees the typed name");
    assert!(lookup.contains("089123456789"));
}
