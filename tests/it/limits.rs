//! Bad input through the gateway's HTTP routes: header, body and field limits, attachments
//! checked by type and size, and per-address rate limits, each with its exact status and body.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, Response, StatusCode, header};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{Duration, Utc};
use pretty_assertions::assert_eq;
use serde_json::{Value, json};
use wardgate::clock::FixedClock;
use wardgate::portal::limits::RequestLimits;
use wardgate::portal::rate_limit::{RateLimit, RateLimits};
use wardgate::store::{MemoryStore, Store};
use wardgate::submission::{
    AttachmentLimits, DossierCode, DossierKey, DossierSealer, Handoff, PayloadDigest,
    ReceiptVerifier,
};

use crate::gateway::{TestGateway, body_json, body_text, location};

const BIRTH: &str = "1.001193";
const DOSSIER_KEY: [u8; 32] = [7; 32];
const PDF: &[u8] = b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n";
const GIF: &[u8] = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;";
const JPEG: &[u8] = &[
    0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F', 0, 1,
];

/// A gateway on `store` with small attachment limits (2 files, 1 KiB each, 1.5 KiB in all) and
/// a known dossier key, so tests can open what was stored.
async fn gateway(store: Arc<MemoryStore>) -> TestGateway {
    TestGateway::with_parts(store, |parts| {
        let mut limits = RequestLimits::DEFAULT;
        limits.attachments = AttachmentLimits::new(2, 1024, 1536);
        parts
            .dossier_key(DossierKey::from_bytes(&DOSSIER_KEY).unwrap())
            .with_limits(limits)
    })
    .await
}

fn from(addr: &str, mut request: Request<Body>) -> Request<Body> {
    let addr: SocketAddr = addr.parse().unwrap();
    request.extensions_mut().insert(ConnectInfo(addr));
    request
}

fn api_post(session: &str, key: &str, body: &str) -> Request<Body> {
    Request::post(format!("/api/procedures/{BIRTH}/submissions"))
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::COOKIE, session)
        .header("idempotency-key", key)
        .body(Body::from(body.to_owned()))
        .unwrap()
}

async fn example(gw: &TestGateway) -> serde_json::Map<String, Value> {
    let list = body_json(gw.get("/api/procedures", None).await).await;
    list.as_array()
        .unwrap()
        .iter()
        .find(|p| p["code"] == BIRTH)
        .unwrap()["example"]
        .as_object()
        .unwrap()
        .clone()
}

fn attachment(name: &str, media_type: &str, content: &[u8]) -> Value {
    json!({"name": name, "media_type": media_type, "content_base64": STANDARD.encode(content)})
}

/// No dossier, outbox entry or submission audit record was written.
async fn nothing_stored(store: &MemoryStore) {
    let later = Utc::now() + Duration::days(1);
    assert!(
        store
            .due_outbox(later, later, 100)
            .await
            .unwrap()
            .is_empty()
    );
    let audit = store.audit_range(0, 1000).await.unwrap();
    assert!(
        !audit
            .iter()
            .any(|r| matches!(r.event, wardgate::audit::AuditEvent::Submission(_))),
        "a submission was audited"
    );
}

async fn expect_json(response: Response<Body>, status: StatusCode, body: Value) {
    assert_eq!(response.status(), status);
    assert_eq!(body_json(response).await, body);
}

#[tokio::test]
async fn a_dossier_with_attachments_is_sealed_receipted_and_handed_off_whole() {
    let store = Arc::new(MemoryStore::new());
    let gw = gateway(Arc::clone(&store)).await;
    let (_, session) = gw.sign_in("level2").await;
    let session = session.unwrap();
    let mut dossier = example(&gw).await;
    let fields = Value::Object(dossier.clone());
    dossier.insert(
        "attachments".into(),
        json!([
            attachment("giay-chung-sinh.pdf", "application/pdf", PDF),
            attachment("cccd-me.jpg", "image/jpeg", JPEG),
        ]),
    );
    let response = gw
        .send(api_post(
            &session,
            "att-1",
            &Value::Object(dossier).to_string(),
        ))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let receipt = body_json(response).await;
    let code = DossierCode::parse(receipt["dossier_code"].as_str().unwrap()).unwrap();

    // The stored dossier holds the fields and the files, with sizes and digests.
    let sealer =
        DossierSealer::from_bytes(&DOSSIER_KEY, Arc::new(wardgate::clock::SystemRandom::new()))
            .unwrap();
    let record = store.submission(&code).await.unwrap().unwrap();
    let stored = sealer.open_dossier(code, &record.dossier).unwrap();
    let mut expected = fields.clone();
    expected["attachments"] = json!([
        {"name": "giay-chung-sinh.pdf", "media_type": "application/pdf", "size": PDF.len(),
         "sha256": hex(PDF), "content_base64": STANDARD.encode(PDF)},
        {"name": "cccd-me.jpg", "media_type": "image/jpeg", "size": JPEG.len(),
         "sha256": hex(JPEG), "content_base64": STANDARD.encode(JPEG)},
    ]);
    assert_eq!(stored, expected);

    // The receipt's digest covers the files; the hand-off carries them under the same digest.
    let digest = PayloadDigest::of(&expected).to_string();
    assert_eq!(receipt["payload_digest"], digest.as_str());
    let jwks = body_json(gw.get("/.well-known/jwks.json", None).await).await;
    let verified = ReceiptVerifier::from_jwks(&jwks)
        .unwrap()
        .verify(receipt["receipt"].as_str().unwrap())
        .unwrap();
    assert_eq!(verified.payload_digest.to_string(), digest);
    let entry = store.outbox_entry(&code).await.unwrap().unwrap();
    let envelope = sealer.open_handoff(code, &entry.envelope).unwrap();
    let keys = vec![wardgate::keys::VerifyingKey::from_jwk(&jwks["keys"][0]).unwrap()];
    let handoff = Handoff::verify(&envelope, &keys).unwrap();
    assert_eq!(handoff.payload, expected);
    assert_eq!(handoff.payload_digest.to_string(), digest);
}

fn hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn refused_attachments_get_413_415_or_422_and_nothing_is_stored() {
    let store = Arc::new(MemoryStore::new());
    let gw = gateway(Arc::clone(&store)).await;
    let (_, session) = gw.sign_in("level2").await;
    let session = session.unwrap();
    let fields = example(&gw).await;
    let with = |list: Value| {
        let mut dossier = fields.clone();
        dossier.insert("attachments".into(), list);
        Value::Object(dossier).to_string()
    };

    let cases = [
        (
            json!([attachment("anh.png", "image/png", JPEG)]),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            json!({"error": "attachment_type_refused", "field": "attachments[0]",
                   "message": "attachments[0]: declared as `image/png` but the content is `image/jpeg`"}),
        ),
        (
            json!([
                attachment("giay.pdf", "application/pdf", PDF),
                attachment("anh.gif", "image/gif", GIF)
            ]),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            json!({"error": "attachment_type_refused", "field": "attachments[1]",
                   "message": "attachments[1]: type `image/gif` is not accepted: use PDF, JPEG or PNG"}),
        ),
        (
            json!([attachment(
                "trang.pdf",
                "application/pdf",
                b"<html>not a pdf</html>"
            )]),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            json!({"error": "attachment_type_refused", "field": "attachments[0]",
                   "message": "attachments[0]: the content is not a PDF, JPEG or PNG file"}),
        ),
        (
            json!([attachment(
                "lon.pdf",
                "application/pdf",
                &[PDF, &[b' '; 1024]].concat()
            )]),
            StatusCode::PAYLOAD_TOO_LARGE,
            json!({"error": "attachment_too_large", "field": "attachments[0]",
                   "message": "attachments[0]: is larger than 1024 bytes"}),
        ),
        (
            json!([
                attachment("a.pdf", "application/pdf", &[PDF, &[b' '; 900]].concat()),
                attachment("b.pdf", "application/pdf", &[PDF, &[b' '; 900]].concat())
            ]),
            StatusCode::PAYLOAD_TOO_LARGE,
            json!({"error": "attachments_too_large",
                   "message": "the attachments are larger than 1536 bytes in total"}),
        ),
        (
            json!([
                attachment("a.pdf", "application/pdf", PDF),
                attachment("b.pdf", "application/pdf", PDF),
                attachment("c.pdf", "application/pdf", PDF)
            ]),
            StatusCode::PAYLOAD_TOO_LARGE,
            json!({"error": "too_many_attachments", "message": "at most 2 attachments are accepted"}),
        ),
        (
            json!([{"name": "a.pdf", "media_type": "application/pdf", "content_base64": "@@@"}]),
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"error": "invalid_attachment", "field": "attachments[0]",
                   "message": "attachments[0]: `content_base64` is not valid base64"}),
        ),
        (
            json!([attachment("../../etc/passwd", "application/pdf", PDF)]),
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"error": "invalid_attachment", "field": "attachments[0]",
                   "message": "attachments[0]: the file name must be 1 to 255 characters without `/`, `\\` or control characters"}),
        ),
        (
            json!({"name": "a.pdf"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"error": "invalid_attachment", "field": "attachments[0]",
                   "message": "attachments[0]: must be an object with `name`, `media_type` and `content_base64`"}),
        ),
    ];
    for (i, (list, status, body)) in cases.into_iter().enumerate() {
        let response = gw
            .send(api_post(&session, &format!("bad-{i}"), &with(list)))
            .await;
        expect_json(response, status, body).await;
    }
    nothing_stored(&store).await;
}

#[tokio::test]
async fn json_bodies_are_bounded_in_size_depth_and_fields() {
    let store = Arc::new(MemoryStore::new());
    let gw = gateway(Arc::clone(&store)).await;
    let (_, session) = gw.sign_in("level2").await;
    let session = session.unwrap();
    let mut limits = RequestLimits::DEFAULT;
    limits.attachments = AttachmentLimits::new(2, 1024, 1536);
    let limit = limits.upload_body_bytes();

    let huge = format!("{{\"child_name\":\"{}\"}}", "a".repeat(limit));
    expect_json(
        gw.send(api_post(&session, "big", &huge)).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        json!({"error": "body_too_large",
               "message": format!("the request body is larger than {limit} bytes")}),
    )
    .await;

    let deep = format!("{}{}", "[".repeat(9), "]".repeat(9));
    expect_json(
        gw.send(api_post(&session, "deep", &deep)).await,
        StatusCode::BAD_REQUEST,
        json!({"error": "json_too_deep",
               "message": "the body nests arrays and objects more than 8 deep"}),
    )
    .await;

    let mut long = example(&gw).await;
    long.insert("child_name".into(), Value::from("Đ".repeat(5000)));
    expect_json(
        gw.send(api_post(&session, "long", &Value::Object(long).to_string()))
            .await,
        StatusCode::PAYLOAD_TOO_LARGE,
        json!({"error": "field_too_large",
               "message": "field `child_name`: is longer than 8192 bytes"}),
    )
    .await;

    let many: serde_json::Map<String, Value> =
        (0..65).map(|i| (format!("f{i}"), Value::from(i))).collect();
    expect_json(
        gw.send(api_post(&session, "many", &Value::Object(many).to_string()))
            .await,
        StatusCode::PAYLOAD_TOO_LARGE,
        json!({"error": "too_many_fields", "message": "the form has more than 64 fields"}),
    )
    .await;
    nothing_stored(&store).await;
}

#[tokio::test]
async fn too_many_or_too_large_headers_get_431() {
    let gw = TestGateway::start().await;
    let mut request = Request::get("/api/procedures");
    for i in 0..101 {
        request = request.header(format!("x-extra-{i}"), "1");
    }
    expect_json(
        gw.send(request.body(Body::empty()).unwrap()).await,
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        json!({"error": "headers_too_large",
               "message": "the request has more than 100 headers or 32768 bytes of headers"}),
    )
    .await;
    let page = gw
        .send(
            Request::get("/")
                .header(header::COOKIE, "a".repeat(40 * 1024))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(page.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert!(
        body_text(page)
            .await
            .contains("Yêu cầu có hơn 100 tiêu đề hoặc hơn 32768 byte tiêu đề.")
    );
}

#[tokio::test]
async fn routes_without_uploads_keep_the_small_body_limit() {
    let gw = TestGateway::start().await;
    let (_, session) = gw.sign_in("level2").await;
    let session = session.unwrap();
    let body = format!("child_name={}", "a".repeat(300 * 1024));
    let draft = gw
        .send(
            Request::post(format!("/procedures/{BIRTH}/draft"))
                .header(header::COOKIE, session.as_str())
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(body.clone()))
                .unwrap(),
        )
        .await;
    assert_eq!(draft.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // axum's plain-text rejection comes out as the resident's page.
    let page = body_text(draft).await;
    assert!(
        page.starts_with("<!DOCTYPE html>\n<html lang=\"vi\">"),
        "{page}"
    );
    assert!(page.contains("<h1>Dữ liệu gửi quá lớn</h1>"), "{page}");
    // The url-encoded form carries no files: the ordinary limit holds there too.
    let form = gw
        .send(
            Request::post(format!("/procedures/{BIRTH}/submit"))
                .header(header::COOKIE, session.as_str())
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(body))
                .unwrap(),
        )
        .await;
    assert_eq!(form.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        body_text(form)
            .await
            .contains("Dữ liệu gửi lên lớn hơn 262144 byte.")
    );
}

/// The online form's hidden values.
async fn form_tokens(gw: &TestGateway, session: &str) -> (String, String) {
    let page = body_text(gw.get(&format!("/procedures/{BIRTH}"), Some(session)).await).await;
    assert!(page.contains("enctype=\"multipart/form-data\""));
    assert!(page.contains("type=\"file\" id=\"f-attachments\" name=\"attachments\""));
    let hidden = |name: &str| {
        page.split(&format!("name=\"{name}\" value=\""))
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap()
            .to_owned()
    };
    (hidden("csrf_token"), hidden("idempotency_key"))
}

const BOUNDARY: &str = "----wardgate-test-boundary";

fn multipart(fields: &[(String, String)], files: &[(&str, &str, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    for (file_name, media_type, content) in files {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"attachments\"; \
                 filename=\"{file_name}\"\r\nContent-Type: {media_type}\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

fn form_post(session: &str, body: Vec<u8>) -> Request<Body> {
    Request::post(format!("/procedures/{BIRTH}/submit"))
        .header(header::COOKIE, session)
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(Body::from(body))
        .unwrap()
}

async fn form_fields(gw: &TestGateway, session: &str) -> Vec<(String, String)> {
    let (csrf, key) = form_tokens(gw, session).await;
    let mut fields = vec![
        ("csrf_token".to_owned(), csrf),
        ("idempotency_key".to_owned(), key),
    ];
    for (name, value) in example(gw).await {
        let text = value
            .as_str()
            .map_or_else(|| value.to_string(), str::to_owned);
        fields.push((name, text));
    }
    fields
}

#[tokio::test]
async fn the_browser_form_files_attachments_as_multipart() {
    let store = Arc::new(MemoryStore::new());
    let gw = gateway(Arc::clone(&store)).await;
    let (_, session) = gw.sign_in("level2").await;
    let session = session.unwrap();
    let fields = form_fields(&gw, &session).await;
    // An empty file input sends a part with no file name and no content: it is skipped.
    let body = multipart(
        &fields,
        &[
            ("giay-chung-sinh.pdf", "application/pdf", PDF),
            ("", "application/octet-stream", b""),
        ],
    );
    let response = gw.send(form_post(&session, body)).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let receipt = location(&response).to_owned();
    let code = receipt
        .trim_start_matches("/receipts/")
        .split('?')
        .next()
        .unwrap();
    let code = DossierCode::parse(code).unwrap();
    let sealer =
        DossierSealer::from_bytes(&DOSSIER_KEY, Arc::new(wardgate::clock::SystemRandom::new()))
            .unwrap();
    let record = store.submission(&code).await.unwrap().unwrap();
    let stored = sealer.open_dossier(code, &record.dossier).unwrap();
    assert_eq!(stored["attachments"][0]["name"], "giay-chung-sinh.pdf");
    assert_eq!(stored["attachments"][0]["media_type"], "application/pdf");
    assert_eq!(stored["attachments"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_refused_upload_shows_the_form_again_with_what_was_typed() {
    let store = Arc::new(MemoryStore::new());
    let gw = gateway(Arc::clone(&store)).await;
    let (_, session) = gw.sign_in("level2").await;
    let session = session.unwrap();
    let mut fields = form_fields(&gw, &session).await;
    let child = fields
        .iter_mut()
        .find(|(name, _)| name == "child_name")
        .unwrap();
    child.1 = "Nguyễn Thị Bé Na".to_owned();

    let wrong_type = gw
        .send(form_post(
            &session,
            multipart(&fields, &[("anh.gif", "image/gif", GIF)]),
        ))
        .await;
    assert_eq!(wrong_type.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let page = body_text(wrong_type).await;
    assert!(page.contains("Tờ khai chưa hợp lệ"), "{page}");
    assert!(page.contains("Tệp thứ 1 không phải tệp PDF, JPEG hoặc PNG."));
    assert!(page.contains("vui lòng chọn lại tệp đính kèm"));
    assert!(
        page.contains("value=\"Nguyễn Thị Bé Na\""),
        "typed value kept"
    );

    let too_big = [PDF, &[b' '; 1100]].concat();
    let too_large = gw
        .send(form_post(
            &session,
            multipart(&fields, &[("lon.pdf", "application/pdf", &too_big)]),
        ))
        .await;
    assert_eq!(too_large.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let page = body_text(too_large).await;
    assert!(page.contains("Tệp thứ 1 lớn hơn 1 KB."), "{page}");
    assert!(page.contains("value=\"Nguyễn Thị Bé Na\""));

    let three = gw
        .send(form_post(
            &session,
            multipart(
                &fields,
                &[
                    ("a.pdf", "application/pdf", PDF),
                    ("b.pdf", "application/pdf", PDF),
                    ("c.pdf", "application/pdf", PDF),
                ],
            ),
        ))
        .await;
    assert_eq!(three.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        body_text(three)
            .await
            .contains("Chỉ được đính kèm tối đa 2 tệp.")
    );

    // A field too long is named; the other values stay in the form.
    let mut named = fields.clone();
    for (name, value) in &mut named {
        if name == "father_name" || name == "child_name" {
            *value = "B".repeat(9000);
            break;
        }
    }
    let refused = gw.send(form_post(&session, multipart(&named, &[]))).await;
    assert_eq!(refused.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let page = body_text(refused).await;
    assert!(page.contains("Mục «"), "named by its label: {page}");
    assert!(!page.contains("chọn lại tệp"), "no files were chosen");

    let mut long = fields.clone();
    long.push(("mother_name".to_owned(), "A".repeat(9000)));
    let refused = gw.send(form_post(&session, multipart(&long, &[]))).await;
    assert_eq!(refused.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let page = body_text(refused).await;
    assert!(
        page.contains("Mục `mother_name` dài hơn 8192 byte."),
        "{page}"
    );
    assert!(page.contains("value=\"Nguyễn Thị Bé Na\""));
    nothing_stored(&store).await;
}

#[tokio::test]
async fn a_burst_of_100_logins_from_one_address_passes() {
    let gw = TestGateway::start().await;
    for i in 0..100 {
        let (_, session) = gw.sign_in("level2").await;
        assert!(session.is_some(), "login {i} refused");
    }
}

#[tokio::test]
async fn a_flood_of_logins_gets_429_while_another_address_still_signs_in() {
    let clock = Arc::new(FixedClock::new(Utc::now()));
    let gateway_clock: Arc<dyn wardgate::Clock> = clock.clone();
    let gw = TestGateway::with_parts(Arc::new(MemoryStore::new()), move |parts| {
        parts.with_clock(gateway_clock)
    })
    .await;
    let mut passed = 0;
    let mut refused = None;
    for _ in 0..1000 {
        let response = gw
            .send(from(
                "192.0.2.66:40000",
                Request::get(format!("/login?procedure={BIRTH}"))
                    .body(Body::empty())
                    .unwrap(),
            ))
            .await;
        match response.status() {
            StatusCode::SEE_OTHER => passed += 1,
            StatusCode::TOO_MANY_REQUESTS => refused = Some(response),
            other => panic!("unexpected {other}"),
        }
        clock.advance(Duration::milliseconds(60));
    }
    // 120 at once, then one a second for the 59.94 s the flood lasted: 821 refused.
    assert_eq!(passed, 179);
    let refused = refused.unwrap();
    assert_eq!(refused.headers()[header::RETRY_AFTER], "1");
    let page = body_text(refused).await;
    assert!(page.contains("Quá nhiều yêu cầu"));
    assert!(
        page.contains("Có quá nhiều yêu cầu từ địa chỉ mạng này. Vui lòng thử lại sau 1 giây.")
    );
    // The desk at the ward centre is not locked out by someone else's flood.
    let desk = gw
        .send(from(
            "203.0.113.50:41000",
            Request::get(format!("/login?procedure={BIRTH}"))
                .body(Body::empty())
                .unwrap(),
        ))
        .await;
    assert_eq!(desk.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn submissions_have_their_own_limit_answered_in_json_on_the_api() {
    let gw = TestGateway::with_parts(Arc::new(MemoryStore::new()), |parts| {
        let mut rate_limits = RateLimits::default();
        rate_limits.submit = RateLimit::new(1, 1);
        parts.with_rate_limits(rate_limits)
    })
    .await;
    let post = || {
        from(
            "198.51.100.4:5000",
            Request::post(format!("/api/procedures/{BIRTH}/submissions"))
                .header(header::CONTENT_TYPE, "application/json")
                .header("idempotency-key", "k")
                .body(Body::from("{}"))
                .unwrap(),
        )
    };
    assert_eq!(gw.send(post()).await.status(), StatusCode::UNAUTHORIZED);
    let refused = gw.send(post()).await;
    assert_eq!(refused.headers()[header::RETRY_AFTER], "60");
    expect_json(
        refused,
        StatusCode::TOO_MANY_REQUESTS,
        json!({"error": "rate_limited",
               "message": "too many requests from this address: retry in 60 seconds"}),
    )
    .await;
    // Logins are counted apart.
    let login = gw
        .send(from(
            "198.51.100.4:5001",
            Request::get(format!("/login?procedure={BIRTH}"))
                .body(Body::empty())
                .unwrap(),
        ))
        .await;
    assert_eq!(login.status(), StatusCode::SEE_OTHER);
}
