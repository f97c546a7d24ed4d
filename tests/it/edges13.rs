//! The gate's edges (issue 13): anonymous referrals that cannot mint unbounded tickets, a
//! referral that survives a failing store, failed logins the gateway remembers, and the vi/en
//! error pages a resident can reach.

use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::Value;

use crate::gateway::{BIRTH, TestGateway, body_json, body_text, set_cookies};
use crate::support::ticket_faults::TicketFaults;

/// The most new tickets one address gets per hour without a session.
const ALLOWANCE: usize = 10;

fn ticket_cookie(response: &axum::http::Response<axum::body::Body>) -> Option<String> {
    set_cookies(response)
        .into_iter()
        .find(|c| c.starts_with("wardgate-ticket="))
        .map(|c| c.split(';').next().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn five_hundred_anonymous_referrals_from_one_address_mint_a_handful_of_tickets() {
    let store = Arc::new(TicketFaults::default());
    let gw = TestGateway::with_parts(Arc::clone(&store) as _, |parts| parts).await;
    let page = format!("/procedures/{BIRTH}?in_person=1&lang=vi");
    let api = format!("/api/procedures/{BIRTH}/decision?in_person=1");
    for n in 0..250 {
        let response = gw.get(&page, None).await;
        assert_eq!(response.status(), StatusCode::OK, "page view {n}");
        let html = body_text(response).await;
        // The referral is whole with or without a ticket: where, when and what to bring.
        assert!(html.contains("Nơi nộp hồ sơ"), "page view {n}");
        assert!(html.contains("Giờ làm việc"), "page view {n}");
        assert!(html.contains("Giấy tờ cần mang theo"), "page view {n}");

        let response = gw.get(&api, None).await;
        assert_eq!(response.status(), StatusCode::OK, "decision {n}");
        let body = body_json(response).await;
        assert_eq!(body["decision"], "in_person", "decision {n}");
        assert!(body["referral"]["point"].is_object(), "decision {n}");
    }
    assert_eq!(store.tickets_saved(), ALLOWANCE);

    // Past the allowance, the page says why there is no reference and the API names it.
    let html = body_text(gw.get(&page, None).await).await;
    assert!(html.contains("Chưa có mã hẹn"));
    assert!(!html.contains("class=\"ticket-code\""));
    let body = body_json(gw.get(&api, None).await).await;
    assert_eq!(body["referral"]["ticket_unavailable"], "allowance_spent");
    assert_eq!(body["referral"].get("ticket"), None);
    assert_eq!(body["referral"].get("ticket_code"), None);
    assert_eq!(store.tickets_saved(), ALLOWANCE);
}

#[tokio::test]
async fn a_browser_that_keeps_its_ticket_cookie_is_not_counted_again() {
    let store = Arc::new(TicketFaults::default());
    let gw = TestGateway::with_parts(Arc::clone(&store) as _, |parts| parts).await;
    let page = format!("/procedures/{BIRTH}?in_person=1");
    let first = gw.get(&page, None).await;
    let cookie = ticket_cookie(&first).expect("ticket cookie");
    for _ in 0..50 {
        let response = gw.get(&page, Some(&cookie)).await;
        assert!(body_text(response).await.contains("class=\"ticket-code\""));
    }
    assert_eq!(store.tickets_saved(), 1);
}

#[tokio::test]
async fn a_failing_store_still_renders_the_referral_without_a_ticket() {
    let store = Arc::new(TicketFaults::default());
    let gw = TestGateway::with_parts(Arc::clone(&store) as _, |parts| parts).await;
    let page = format!("/procedures/{BIRTH}?in_person=1");
    // A browser holding a ticket from before the outage, and one without.
    let cookie = ticket_cookie(&gw.get(&page, None).await).expect("ticket cookie");
    store.fail_tickets();
    for (lang, heading, notice) in [
        (
            "vi",
            "Nơi nộp hồ sơ",
            "Hệ thống tạm thời không cấp được mã hẹn",
        ),
        (
            "en",
            "Where to go",
            "The system could not issue a reference just now",
        ),
    ] {
        for held in [None, Some(cookie.as_str())] {
            let response = gw.get(&format!("{page}&lang={lang}"), held).await;
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(ticket_cookie(&response), None);
            let html = body_text(response).await;
            assert!(html.contains(&format!("<html lang=\"{lang}\"")));
            assert!(html.contains(heading));
            assert!(html.contains(notice), "{lang}: {html}");
            assert!(!html.contains("class=\"ticket-code\""));
        }
    }
    let response = gw
        .get(
            &format!("/api/procedures/{BIRTH}/decision?in_person=1"),
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = body_json(response).await;
    assert_eq!(body["decision"], "in_person");
    assert_eq!(body["referral"]["ticket_unavailable"], "store_unavailable");
    assert!(body["referral"]["point"]["address"].is_string());
}
