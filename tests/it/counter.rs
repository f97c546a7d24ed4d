//! The counter and the ward's statistics, through the gateway router on a durable store: a
//! scripted month gives exactly the figures the issue names, and the page, the JSON and the CSV
//! agree. The PostgreSQL run is in [`store_postgres`] (ignored without a server).

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, Response, StatusCode, header};
use base64::Engine as _;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use pretty_assertions::assert_eq;
use serde_json::{Value, json};
use wardgate::clock::FixedClock;
use wardgate::fallback::vietnam;
use wardgate::portal::StatsToken;
use wardgate::portal::config::StaffConfig;
use wardgate::store::Store;
use wardgate::submission::DossierCode;

use crate::gateway::{
    BIRTH, TestGateway, body_json, body_text, example_dossier, location, set_cookies, staff_login,
    submission,
};

const STATS_TOKEN: &str = "province-reporting-0123456789abcdef";

/// The value of a hidden or plain `<input name=…>` in `html`, or `None`.
fn input_value(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\""))?;
    let tag_start = html[..at].rfind('<')?;
    let tag = &html[tag_start..at + html[at..].find('>')?];
    let value = tag.split("value=\"").nth(1)?.split('"').next()?;
    Some(value.replace("&#43;", "+").replace("&amp;", "&"))
}

/// The `Set-Cookie` pair named `prefix…` in `response`.
pub(crate) fn cookie_named(response: &Response<Body>, prefix: &str) -> Option<String> {
    set_cookies(response)
        .into_iter()
        .find(|c| c.starts_with(prefix) && !c.starts_with(&format!("{prefix};")))
        .map(|c| c.split(';').next().unwrap_or_default().to_owned())
}

/// A ticket code shown on a referral page (its link to the printable ticket).
pub(crate) fn ticket_on(page: &str) -> String {
    page.split("/tickets/")
        .nth(1)
        .and_then(|r| r.split(['?', '"']).next())
        .expect("the referral page links its ticket")
        .to_owned()
}

/// An HTML page (no `Accept: application/json`).
pub(crate) async fn page(gw: &TestGateway, path: &str, cookie: Option<&str>) -> Response<Body> {
    let mut request = Request::get(path).header(header::ACCEPT, "text/html");
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    gw.send(request.body(Body::empty()).unwrap()).await
}

/// Posts a counter form for `ticket` with `fields`.
pub(crate) async fn counter_post(
    gw: &TestGateway,
    staff: &str,
    ticket: &str,
    outcome: &str,
    fields: &[(&str, &str)],
) -> Response<Body> {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in fields {
        form.append_pair(name, value);
    }
    gw.send(
        Request::post(format!("/staff/tickets/{ticket}/{outcome}"))
            .header(header::COOKIE, staff)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form.finish()))
            .unwrap(),
    )
    .await
}

/// The staff ticket page's CSRF token for the counter forms.
pub(crate) async fn counter_token(gw: &TestGateway, staff: &str, ticket: &str) -> String {
    let html =
        body_text(page(gw, &format!("/staff/tickets?code={ticket}"), Some(staff)).await).await;
    let form = html
        .split(&format!("action=\"/staff/tickets/{ticket}/received"))
        .nth(1)
        .expect("the ticket page has the counter forms");
    input_value(form, "csrf_token").expect("the counter form carries its token")
}

/// The hand-off envelope's payload of dossier `code`, as the back office would receive it.
async fn envelope(gw: &TestGateway, store: &dyn Store, code: &str) -> Value {
    let code = DossierCode::parse(code).unwrap();
    let entry = store
        .outbox_entry(&code)
        .await
        .unwrap()
        .expect("queued in the outbox");
    let jws = gw
        .gateway()
        .dossier_sealer()
        .open_handoff(code, &entry.envelope)
        .unwrap();
    let payload = jws.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// The text between `<strong class="dossier-code">` and `<`.
fn dossier_code_on(html: &str) -> String {
    html.split("class=\"dossier-code\">")
        .nth(1)
        .and_then(|r| r.split('<').next())
        .expect("the page shows the dossier code")
        .to_owned()
}

/// The scripted month on `store`: 3 online submissions, 2 referrals received at the counter,
/// 1 booking that becomes a no-show, 50 anonymous referral views, 10 decision API calls.
pub(crate) async fn scripted_month(store: Arc<dyn Store>) {
    let start = Utc::now();
    let clock = Arc::new(FixedClock::new(start));
    let gw = {
        let clock = Arc::clone(&clock);
        TestGateway::with_parts(Arc::clone(&store), move |parts| {
            // The month passes in one staff session: timeouts longer than the scripted days.
            let month = 60 * 24 * 31;
            parts
                .with_clock(clock)
                .with_stats_token(StatsToken::new(STATS_TOKEN).unwrap())
                .with_staff(
                    StaffConfig::new(
                        Vec::new(),
                        Some(("roles".into(), wardgate::devidp::STAFF_ROLE.into())),
                    )
                    .timeouts(month, month, 5),
                )
        })
        .await
    };
    let first_day = start.with_timezone(&vietnam()).date_naive();

    // 3 online submissions by a level-2 resident, and 10 decision API calls.
    let (_, session) = gw.sign_in("level2").await;
    let session = session.expect("level-2 session");
    let dossier = example_dossier(&gw, BIRTH).await;
    for n in 0..3 {
        let key = format!("7d7c4c1e-0b7a-4d0e-9a51-2f1f3b1f6a1{n}");
        let filed = gw
            .send(submission(
                &format!("/api/procedures/{BIRTH}/submissions"),
                Some(&session),
                Some(&key),
                &dossier,
            ))
            .await;
        assert_eq!(filed.status(), StatusCode::CREATED);
    }
    for _ in 0..10 {
        let decision = gw
            .get(&format!("/api/procedures/{BIRTH}/decision"), Some(&session))
            .await;
        assert_eq!(body_json(decision).await["decision"], "online");
    }

    // Referral A: the resident chooses to go in person. The 50 anonymous views are reloads of
    // this referral page by the browser holding its ticket: they count no dossier and no new
    // referral.
    let referral_a = page(&gw, &format!("/procedures/{BIRTH}?in_person=1"), None).await;
    let held_a = cookie_named(&referral_a, "wardgate-ticket=").expect("ticket cookie");
    let ticket_a = ticket_on(&body_text(referral_a).await);
    for _ in 0..50 {
        let view = page(
            &gw,
            &format!("/procedures/{BIRTH}?in_person=1"),
            Some(&held_a),
        )
        .await;
        assert_eq!(view.status(), StatusCode::OK);
        assert_eq!(ticket_on(&body_text(view).await), ticket_a);
    }

    // Referral B: a level-1 resident, whose login cannot reach level 2, is referred.
    let (_, level1) = gw.sign_in("level1").await;
    assert!(
        level1.is_none(),
        "the level-2 login is unreachable for a level-1 account"
    );
    let decision_b = body_json(
        gw.get(
            &format!("/api/procedures/{BIRTH}/decision?outcome=level_unreachable"),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(decision_b["reason"], "level_below_required");
    let ticket_b = decision_b["referral"]["ticket_code"]
        .as_str()
        .unwrap()
        .to_owned();

    // Referral C: booked, and never seen at the counter.
    let referral_c = page(&gw, &format!("/procedures/{BIRTH}?in_person=1"), None).await;
    let held_c = cookie_named(&referral_c, "wardgate-ticket=").expect("ticket cookie");
    let html_c = body_text(referral_c).await;
    let ticket_c = ticket_on(&html_c);
    assert_ne!(ticket_c, ticket_a);
    let slot = html_c
        .split("<option value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a free slot is offered")
        .replace("&#43;", "+");
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    for name in ["ticket", "point", "ticket_token"] {
        if let Some(value) = input_value(&html_c, name) {
            form.append_pair(name, &value);
        }
    }
    form.append_pair("start", &slot);
    let booked = gw
        .send(
            Request::post(format!("/procedures/{BIRTH}/book"))
                .header(header::COOKIE, held_c.as_str())
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(form.finish()))
                .unwrap(),
        )
        .await;
    assert_eq!(
        booked.status(),
        StatusCode::SEE_OTHER,
        "{}",
        location(&booked)
    );
    let slot_start: DateTime<Utc> = DateTime::parse_from_rfc3339(&slot).unwrap().into();

    // The officer records A and B as received: 2 in-person dossiers.
    let officer = staff_login(&gw, "officer").await;
    let staff = cookie_named(&officer, "wardgate-staff=").expect("staff cookie");
    let mut counter_codes = Vec::new();
    for ticket in [&ticket_a, &ticket_b] {
        let token = counter_token(&gw, &staff, ticket).await;
        let received = counter_post(
            &gw,
            &staff,
            ticket,
            "received",
            &[("csrf_token", &token), ("procedure", BIRTH)],
        )
        .await;
        assert_eq!(received.status(), StatusCode::OK);
        let html = body_text(received).await;
        assert!(html.contains("Đã tiếp nhận hồ sơ"), "{html}");
        counter_codes.push(dossier_code_on(&html));
    }
    // Recording A again shows the same dossier and files nothing new.
    let token = counter_token(&gw, &staff, &ticket_a).await;
    let again = counter_post(
        &gw,
        &staff,
        &ticket_a,
        "received",
        &[("csrf_token", &token), ("procedure", BIRTH)],
    )
    .await;
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(dossier_code_on(&body_text(again).await), counter_codes[0]);

    // B's envelope carries the counter channel, the officer and the reception point, and the
    // resident's draft-less dossier body is an empty object.
    let handoff = envelope(&gw, store.as_ref(), &counter_codes[1]).await;
    assert_eq!(handoff["channel"], "counter");
    assert_eq!(handoff["assurance"]["source"], "counter_document");
    assert!(
        handoff["officer"].as_str().is_some_and(|o| !o.is_empty()),
        "{handoff}"
    );
    assert_eq!(
        handoff["reception_point"],
        decision_b["referral"]["point"]["id"]
    );
    assert_eq!(handoff["procedure"], BIRTH);
    assert_eq!(handoff["payload"], json!({}));

    // The slot passes without anyone recording C: a no-show.
    clock.set(slot_start + Duration::hours(1));
    gw.flush_audit().await;
    let last_day = wardgate::Clock::now(clock.as_ref())
        .with_timezone(&vietnam())
        .date_naive();
    let from = first_day;
    let to = last_day.max(first_day);

    // The JSON, with the province's bearer token.
    let json = body_json(
        gw.send(
            Request::get(format!("/api/stats?from={from}&to={to}"))
                .header(header::AUTHORIZATION, format!("Bearer {STATS_TOKEN}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await,
    )
    .await;
    assert_eq!(json["dossiers"], 5, "{json}");
    assert_eq!(json["online"], 3);
    assert_eq!(json["in_person"], 2);
    assert_eq!(json["online_share"], json!(0.6));
    assert_eq!(json["online_share_percent"], 60);
    assert_eq!(
        json["referrals_by_reason"],
        json!({"level_below_required": 1, "resident_chose_in_person": 2})
    );
    assert_eq!(
        json["bookings"],
        json!({"booked": 1, "cancelled": 0, "attended": 0, "no_show": 1})
    );
    assert_eq!(json["counter"], json!({"received": 2}));
    assert_eq!(json["ward"].as_str().map(str::len), Some(5));
    assert_eq!(json["from"], from.to_string());
    assert_eq!(json["to"], to.to_string());

    // The CSV, with the staff session, says the same on its total row.
    let csv = body_text(
        gw.send(
            Request::get(format!("/api/stats?from={from}&to={to}&format=csv"))
                .header(header::COOKIE, staff.as_str())
                .body(Body::empty())
                .unwrap(),
        )
        .await,
    )
    .await;
    let mut lines = csv.lines();
    let columns: Vec<&str> = lines.next().unwrap().split(',').collect();
    let total: Vec<&str> = lines
        .find(|l| l.starts_with("total,"))
        .expect("a total row")
        .split(',')
        .collect();
    let column = |name: &str| total[columns.iter().position(|c| *c == name).unwrap()];
    assert_eq!(column("dossiers"), "5");
    assert_eq!(column("online"), "3");
    assert_eq!(column("in_person"), "2");
    assert_eq!(column("online_share"), "0.6000");
    assert_eq!(column("referrals_resident_chose_in_person"), "2");
    assert_eq!(column("referrals_level_below_required"), "1");
    assert_eq!(column("bookings_no_show"), "1");
    assert_eq!(column("bookings_booked"), "1");

    // The page, with dates typed day first, leads with the same sentence.
    let shown = |d: NaiveDate| d.format("%d/%m/%Y").to_string();
    let html = body_text(
        page(
            &gw,
            &format!(
                "/staff/stats?from={}&to={}",
                url::form_urlencoded::byte_serialize(shown(from).as_bytes()).collect::<String>(),
                url::form_urlencoded::byte_serialize(shown(to).as_bytes()).collect::<String>()
            ),
            Some(&staff),
        )
        .await,
    )
    .await;
    let sentence = format!(
        "Từ {} đến {}: 5 hồ sơ, 60 % trực tuyến",
        shown(from),
        shown(to)
    );
    assert!(
        html.contains(&format!(
            "<p class=\"report-sentence\"><strong>{sentence}</strong>"
        )),
        "{html}"
    );
    assert!(html.contains("Lịch hẹn: 1 đã đặt, 0 đã hủy, 0 đã đến, 1 không đến."));
    assert!(html.contains("người dân chọn nộp trực tiếp"));
    for chart in [
        "chart-dossiers",
        "chart-share",
        "chart-referrals",
        "chart-bookings",
    ] {
        assert!(
            html.contains(&format!("<figure class=\"chart\" id=\"{chart}\">")),
            "{chart}"
        );
        assert!(html.contains(&format!("aria-labelledby=\"{chart}-title {chart}-desc\"")));
    }
    assert!(html.contains(&format!(
        "href=\"/api/stats?from={from}&amp;to={to}&amp;ward={}&amp;format=csv\"",
        json["ward"].as_str().unwrap()
    )));
}

#[tokio::test]
async fn a_scripted_month_on_sqlite_gives_the_figures_the_issue_names() {
    let dir = crate::gateway::tempdir::TempDir::new("counter-month");
    let db = format!("sqlite://{}", dir.0.join("wardgate.db").display());
    scripted_month(wardgate::store::open(&db).await.unwrap()).await;
}

#[tokio::test]
async fn the_counter_refuses_a_forged_form_and_records_one_outcome_per_ticket() {
    let gw = TestGateway::start().await;
    let referral = page(&gw, &format!("/procedures/{BIRTH}?in_person=1"), None).await;
    let ticket = ticket_on(&body_text(referral).await);
    let officer = staff_login(&gw, "officer").await;
    let staff = cookie_named(&officer, "wardgate-staff=").unwrap();

    // Without a staff session: the sign-in page, nothing recorded.
    let anonymous = counter_post(&gw, "", &ticket, "received", &[("procedure", BIRTH)]).await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    // A staff session without the form's token: 403.
    let forged = counter_post(
        &gw,
        &staff,
        &ticket,
        "received",
        &[("csrf_token", "forged"), ("procedure", BIRTH)],
    )
    .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert!(body_text(forged).await.contains("Biểu mẫu đã hết hạn"));
    let token = counter_token(&gw, &staff, &ticket).await;
    // An unknown procedure: 422.
    let unknown = counter_post(
        &gw,
        &staff,
        &ticket,
        "received",
        &[("csrf_token", &token), ("procedure", "9.999999")],
    )
    .await;
    assert_eq!(unknown.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // An unknown ticket: 404.
    let missing = counter_post(
        &gw,
        &staff,
        "TS-0000-KHONG",
        "attended",
        &[("csrf_token", &token)],
    )
    .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);

    // "Came, nothing filed", then a second outcome is refused; the page shows what was recorded.
    let attended = counter_post(&gw, &staff, &ticket, "attended", &[("csrf_token", &token)]).await;
    assert_eq!(attended.status(), StatusCode::OK);
    let twice = counter_post(
        &gw,
        &staff,
        &ticket,
        "not-needed",
        &[("csrf_token", &token)],
    )
    .await;
    assert_eq!(twice.status(), StatusCode::CONFLICT);
    let html =
        body_text(page(&gw, &format!("/staff/tickets?code={ticket}"), Some(&staff)).await).await;
    assert!(html.contains("Đã đến, chưa nộp hồ sơ"), "{html}");
    assert!(!html.contains(&format!("action=\"/staff/tickets/{ticket}/not-needed")));
    // The resident comes back with the documents: "received" is still possible.
    assert!(html.contains(&format!("action=\"/staff/tickets/{ticket}/received")));

    // /api/stats without a session or token: 401 with the bearer challenge; a bad date names
    // its parameter.
    let closed = gw.get("/api/stats", None).await;
    assert_eq!(closed.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        closed.headers()[header::WWW_AUTHENTICATE],
        "Bearer realm=\"stats\""
    );
    let bad = gw.get("/api/stats?from=01/07/2025", Some(&staff)).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert_eq!(body_json(bad).await["field"], "from");
    let backwards = gw
        .get("/api/stats?from=2025-07-18&to=2025-07-01", Some(&staff))
        .await;
    assert_eq!(backwards.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body_json(backwards).await["field"], "to");
    let figures = body_json(gw.get("/api/stats", Some(&staff)).await).await;
    assert_eq!(figures["counter"], json!({"attended_not_filed": 1}));
    assert_eq!(figures["dossiers"], 0);
    // The page refuses month-first dates, and says how to type them.
    let page_bad = page(&gw, "/staff/stats?from=07%2F31%2F2025", Some(&staff)).await;
    assert_eq!(page_bad.status(), StatusCode::BAD_REQUEST);
    assert!(body_text(page_bad).await.contains("ngày/tháng/năm"));
}

/// The same month on PostgreSQL (run by `.ci/run test` with `--ignored store_postgres::`).
mod store_postgres {
    use sqlx::Connection as _;
    use wardgate::store::{PgOptions, PgStore};

    #[tokio::test]
    #[ignore = "needs PostgreSQL: run through .ci/run"]
    async fn a_scripted_month_on_postgresql_gives_the_figures_the_issue_names() {
        let url = std::env::var("WARDGATE_TEST_DATABASE_URL")
            .expect("WARDGATE_TEST_DATABASE_URL is set by .ci/run");
        let schema = crate::support::store::fresh_schema("counter_");
        let options = PgOptions::default()
            .max_connections(8)
            .schema(schema.clone());
        let store = PgStore::connect_with(&url, options).await.unwrap();
        super::scripted_month(std::sync::Arc::new(store)).await;
        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::raw_sql(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
            .execute(&mut conn)
            .await
            .unwrap();
    }
}
