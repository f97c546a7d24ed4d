//! After filing: the receipt's wording, the dossier status look-up (page and JSON) and the
//! back office's signed status reports.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, Response, StatusCode, header};
use chrono::{DateTime, Utc};
use serde_json::Value;
use wardgate::fallback::Directory;
use wardgate::policy::Catalog;
use wardgate::portal::rate_limit::{RateLimit, RateLimits};
use wardgate::store::{MemoryStore, Store};
use wardgate::submission::DossierCode;
use wardgate::submission::status::BackOfficeKey;

use crate::gateway::{BIRTH, TestGateway, body_json, body_text, example_dossier, submission};

const SECRET_HEADER: &str = "wardgate-dossier-secret";

fn key() -> BackOfficeKey {
    BackOfficeKey::new(&[42u8; 32]).unwrap()
}

/// A gateway that accepts reports signed with [`key`], on a store the test can read.
async fn gateway(store: &Arc<MemoryStore>) -> TestGateway {
    let store: Arc<dyn Store> = Arc::clone(store) as Arc<dyn Store>;
    TestGateway::with_parts(store, |parts| parts.with_backoffice_keys(vec![key()])).await
}

/// A level-2 resident files the birth registration online: their session, the JSON receipt.
async fn file_birth(gw: &TestGateway) -> (String, Value) {
    let (_, session) = gw.sign_in("level2").await;
    let session = session.unwrap();
    let dossier = example_dossier(gw, BIRTH).await;
    let path = format!("/api/procedures/{BIRTH}/submissions");
    let response = gw
        .send(submission(
            &path,
            Some(&session),
            Some("status-1"),
            &dossier,
        ))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    (session, body_json(response).await)
}

/// The look-up secret printed on the receipt page.
fn printed_secret(page: &str) -> String {
    let (_, after) = page.split_once("Mã tra cứu").unwrap();
    after
        .split("<strong class=\"ticket-code\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .unwrap()
        .to_owned()
}

fn report_body(report_id: &str, code: &str, status: &str, at: DateTime<Utc>) -> String {
    serde_json::json!({
        "report_id": report_id,
        "dossier_code": code,
        "status": status,
        "reported_at": at.to_rfc3339(),
    })
    .to_string()
}

fn report(body: &str, signature: &str) -> Request<Body> {
    Request::post("/api/backoffice/status")
        .header(header::CONTENT_TYPE, "application/json")
        .header("wardgate-signature", signature)
        .body(Body::from(body.to_owned()))
        .unwrap()
}

fn signed(body: &str) -> Request<Body> {
    report(body, &key().sign(Utc::now().timestamp(), body.as_bytes()))
}

fn status_request(code: &str, secret: Option<&str>, cookie: Option<&str>) -> Request<Body> {
    let mut request = Request::get(format!("/api/dossiers/{code}"));
    if let Some(secret) = secret {
        request = request.header(SECRET_HEADER, secret);
    }
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    request.body(Body::empty()).unwrap()
}

fn lookup_form(code: &str, secret: &str, lang: &str) -> Request<Body> {
    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("code", code)
        .append_pair("secret", secret)
        .finish();
    Request::post(format!("/dossiers?lang={lang}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form))
        .unwrap()
}

fn statuses(body: &Value) -> Vec<&str> {
    body["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect()
}

async fn error_code(response: Response<Body>) -> String {
    body_json(response).await["error"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn the_receipt_says_sent_not_accepted_with_date_delivery_and_secret() {
    let store = Arc::new(MemoryStore::new());
    let gw = gateway(&store).await;
    let (session, receipt) = file_birth(&gw).await;
    let code = receipt["dossier_code"].as_str().unwrap();

    // The expected date: the birth registration's working days from the receipt's time, over
    // the ward's closed days.
    let root = env!("CARGO_MANIFEST_DIR");
    let catalog = Catalog::load(format!("{root}/samples/catalog.toml")).unwrap();
    let directory = Directory::load(format!("{root}/samples/wards.toml")).unwrap();
    let days = catalog
        .procedure(BIRTH)
        .unwrap()
        .processing_working_days()
        .unwrap();
    let issued: DateTime<Utc> = receipt["issued_at"].as_str().unwrap().parse().unwrap();
    let expected = directory.wards()[0]
        .expected_result_date(issued, days)
        .unwrap()
        .format("%d/%m/%Y")
        .to_string();

    let vi = body_text(gw.get(&format!("/receipts/{code}"), Some(&session)).await).await;
    assert!(
        vi.contains("Hồ sơ đã được gửi đến phường; cán bộ sẽ kiểm tra và tiếp nhận"),
        "{vi}"
    );
    assert!(!vi.contains("đã được tiếp nhận và lưu an toàn"));
    assert!(vi.contains("Ngày hẹn trả kết quả (dự kiến)"));
    assert!(vi.contains(&expected), "expected {expected}");
    assert!(vi.contains("Nhận tại Trung tâm Phục vụ hành chính công"));
    // The digest and the signature sit behind the technical-details disclosure.
    let (before, details) = vi
        .split_once("<details class=\"technical-details\">")
        .unwrap();
    assert!(details.contains("Chi tiết kỹ thuật"));
    assert!(details.contains(receipt["receipt"].as_str().unwrap()));
    assert!(details.contains(receipt["payload_digest"].as_str().unwrap()));
    assert!(!before.contains(receipt["payload_digest"].as_str().unwrap()));
    let secret = printed_secret(&vi);
    assert_eq!(secret.len(), 10);

    let en = body_text(
        gw.get(&format!("/receipts/{code}?lang=en"), Some(&session))
            .await,
    )
    .await;
    assert!(en.contains("Your dossier was sent to the ward; an officer will check and accept it"));
    assert!(en.contains("Expected result date"));
    assert!(en.contains("At the Public Administrative Service Center"));
    assert!(en.contains("Technical details"));
    assert!(en.contains(&secret));
}

#[tokio::test]
async fn the_status_opens_with_the_secret_or_for_the_owner_and_for_nobody_else() {
    let store = Arc::new(MemoryStore::new());
    let gw = gateway(&store).await;
    let (session, receipt) = file_birth(&gw).await;
    let code = receipt["dossier_code"].as_str().unwrap();
    let page = body_text(gw.get(&format!("/receipts/{code}"), Some(&session)).await).await;
    let secret = printed_secret(&page);

    // With the secret, signed out; typed in lower case with a dash it still opens.
    let response = gw.send(status_request(code, Some(&secret), None)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body = body_json(response).await;
    assert_eq!(body["dossier_code"], code);
    assert_eq!(statuses(&body), ["received"]);
    let typed = format!("{}-{}", &secret[..5], &secret[5..]).to_lowercase();
    assert_eq!(
        gw.send(status_request(code, Some(&typed), None))
            .await
            .status(),
        StatusCode::OK
    );

    // The owner, signed in, needs no secret.
    let response = gw.send(status_request(code, None, Some(&session))).await;
    assert_eq!(response.status(), StatusCode::OK);

    // A wrong secret, no secret, an unknown code and another resident all get the same 404.
    let wrong = gw
        .send(status_request(code, Some("AAAAAAAAAA"), None))
        .await;
    assert_eq!(wrong.status(), StatusCode::NOT_FOUND);
    let wrong = body_text(wrong).await;
    let unknown_code = DossierCode::parse("30316-20260105-4H8KQ2").unwrap();
    let unknown = gw
        .send(status_request(unknown_code.as_str(), Some(&secret), None))
        .await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert_eq!(body_text(unknown).await, wrong);
    let none = gw.send(status_request(code, None, None)).await;
    assert_eq!(body_text(none).await, wrong);
    let (_, other) = gw.sign_in("level1").await;
    let other = gw.send(status_request(code, None, other.as_deref())).await;
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
    assert_eq!(body_text(other).await, wrong);
    assert!(wrong.contains("\"error\":\"unknown_dossier\""));

    // The page: the form opens it with the secret, in Vietnamese and English.
    let vi = gw.send(lookup_form(code, &secret, "vi")).await;
    assert_eq!(vi.status(), StatusCode::OK);
    let vi = body_text(vi).await;
    assert!(vi.contains("Cổng dịch vụ công đã nhận hồ sơ"));
    assert!(vi.contains("Giờ Việt Nam"));
    let en = body_text(gw.send(lookup_form(code, &secret, "en")).await).await;
    assert!(en.contains("Received by the portal"));
    // A wrong secret and an unknown code get the form again, with the same message.
    let wrong = gw.send(lookup_form(code, "AAAAAAAAAA", "vi")).await;
    assert_eq!(wrong.status(), StatusCode::NOT_FOUND);
    let wrong = body_text(wrong).await;
    assert!(wrong.contains("Không tìm thấy hồ sơ với mã hồ sơ và mã tra cứu này"));
    let unknown = body_text(
        gw.send(lookup_form(unknown_code.as_str(), &secret, "vi"))
            .await,
    )
    .await;
    assert_eq!(
        unknown.replace(unknown_code.as_str(), code),
        wrong,
        "an unknown code answers as a wrong secret"
    );
    // The status page itself shows the owner their dossier and anyone else the form.
    let own = body_text(gw.get(&format!("/dossiers/{code}"), Some(&session)).await).await;
    assert!(own.contains("Cổng dịch vụ công đã nhận hồ sơ"));
    let anyone = body_text(gw.get(&format!("/dossiers/{code}"), None).await).await;
    assert!(anyone.contains("name=\"secret\""));
    assert!(!anyone.contains("Cổng dịch vụ công đã nhận hồ sơ"));
}

#[tokio::test]
async fn back_office_reports_are_signed_idempotent_and_shown_to_the_resident() {
    let store = Arc::new(MemoryStore::new());
    let gw = gateway(&store).await;
    let (session, receipt) = file_birth(&gw).await;
    let code = receipt["dossier_code"].as_str().unwrap();
    let dossier = DossierCode::parse(code).unwrap();
    let page = body_text(gw.get(&format!("/receipts/{code}"), Some(&session)).await).await;
    let secret = printed_secret(&page);
    let now = Utc::now();
    let body = report_body("mc-1", code, "accepted", now);

    // A good report is recorded; sent again (a retry), the same answer and still one record.
    let first = gw.send(signed(&body)).await;
    assert_eq!(first.status(), StatusCode::OK);
    let first = body_json(first).await;
    assert_eq!(first["status"], "accepted");
    assert_eq!(first["dossier_code"], code);
    let again = gw.send(signed(&body)).await;
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(body_json(again).await, first);
    assert_eq!(store.statuses(&dossier).await.unwrap().len(), 1);

    // Another report under the same id is a conflict; the first is kept.
    let reused = report_body("mc-1", code, "done", now);
    let response = gw.send(signed(&reused)).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(response).await, "report_id_reused");

    // A signature by another key, a stale one, none at all.
    let other = BackOfficeKey::new(&[7u8; 32]).unwrap();
    let body2 = report_body("mc-2", code, "result_ready", now);
    let forged = other.sign(Utc::now().timestamp(), body2.as_bytes());
    let response = gw.send(report(&body2, &forged)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(response).await, "bad_signature");
    let stale = key().sign(Utc::now().timestamp() - 600, body2.as_bytes());
    let response = gw.send(report(&body2, &stale)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(response).await, "stale_signature");
    let response = gw.send(report(&body2, "")).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(response).await, "malformed_signature");

    // An unknown dossier, a body that is not a report.
    let unknown = report_body("mc-3", "30316-20260302-7K3M9Q", "accepted", now);
    let response = gw.send(signed(&unknown)).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(response).await, "unknown_dossier");
    let bad = report_body("mc-4", code, "lost", now);
    let response = gw.send(signed(&bad)).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(response).await, "invalid_report");
    // None of the refused reports was stored.
    assert_eq!(store.statuses(&dossier).await.unwrap().len(), 1);

    // The outbox delivers the dossier; the resident sees every step, in order.
    assert!(
        store
            .mark_delivered(&dossier, now - chrono::Duration::seconds(1))
            .await
            .unwrap()
    );
    let body = body_json(gw.send(status_request(code, Some(&secret), None)).await).await;
    assert_eq!(statuses(&body), ["received", "delivered", "accepted"]);
    let vi = body_text(gw.send(lookup_form(code, &secret, "vi")).await).await;
    assert!(vi.contains("Đã chuyển đến phường để xử lý"));
    assert!(vi.contains("Cán bộ đã kiểm tra và tiếp nhận hồ sơ"));
    let en = body_text(gw.send(lookup_form(code, &secret, "en")).await).await;
    assert!(en.contains("An officer checked and accepted the dossier"));
}

#[tokio::test]
async fn status_reports_are_off_without_a_key() {
    let gw = TestGateway::with_parts(Arc::new(MemoryStore::new()), |parts| parts).await;
    let body = report_body("mc-1", "30316-20260302-7K3M9Q", "accepted", Utc::now());
    let response = gw.send(signed(&body)).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(error_code(response).await, "status_reports_off");
}

#[tokio::test]
async fn dossier_look_ups_are_rate_limited_per_address() {
    let mut limits = RateLimits::default();
    limits.submit = RateLimit::new(1, 3);
    let gw = TestGateway::with_parts(Arc::new(MemoryStore::new()), |parts| {
        parts.with_rate_limits(limits)
    })
    .await;
    let code = "30316-20260302-7K3M9Q";
    for _ in 0..3 {
        let response = gw
            .send(status_request(code, Some("AAAAAAAAAA"), None))
            .await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }
    let refused = gw
        .send(status_request(code, Some("AAAAAAAAAA"), None))
        .await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let refused = gw.send(lookup_form(code, "AAAAAAAAAA", "vi")).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn pages_name_one_counter_the_ward_with_its_province_and_flag_sample_data() {
    let gw = TestGateway::start().await;
    for lang in ["vi", "en"] {
        for path in ["/", &format!("/procedures/{BIRTH}")] {
            let page = body_text(gw.get(&format!("{path}?lang={lang}"), None).await).await;
            assert!(!page.contains("một cửa"), "{path} {lang}");
            assert!(!page.contains("one-stop"), "{path} {lang}");
            assert!(page.contains("class=\"sample-banner\""), "{path} {lang}");
            if lang == "vi" {
                assert!(page.contains("<strong>Dữ liệu mẫu</strong>"), "{path}");
                assert!(page.contains("<a href=\"/\">Phường Thới Sơn, Tỉnh An Giang</a>"));
                assert!(page.contains("Trung tâm Phục vụ hành chính công của phường."));
            } else {
                assert!(page.contains("<strong>Sample data</strong>"), "{path}");
                assert!(page.contains("<a href=\"/\">Thới Sơn Ward, An Giang Province</a>"));
                assert!(page.contains("the ward's Public Administrative Service Center."));
            }
        }
    }
    let procedure = body_text(gw.get(&format!("/procedures/{BIRTH}"), None).await).await;
    assert!(procedure.contains("Nộp trực tiếp tại Trung tâm Phục vụ hành chính công"));
}

#[test]
fn the_footer_word_is_the_units_own() {
    let root = env!("CARGO_MANIFEST_DIR");
    let directory = Directory::load(format!("{root}/samples/wards.toml")).unwrap();
    let mut ward = directory.wards()[0].clone();
    assert_eq!(ward.unit_word().vi, "phường");
    ward.name_vi = "Xã Mỹ Hòa Hưng".to_owned();
    ward.name_en = "Mỹ Hòa Hưng Commune".to_owned();
    assert_eq!(ward.unit_word().vi, "xã");
    assert_eq!(ward.unit_word().en, "commune");
    assert_eq!(ward.full_name().vi, "Xã Mỹ Hòa Hưng, Tỉnh An Giang");
}
