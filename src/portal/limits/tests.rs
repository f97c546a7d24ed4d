use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};

use super::{
    Refusal, RequestLimits, UploadPermits, check_headers, check_json_fields, json_depth_exceeds,
    parse_form, read_body, upload_concurrency_middleware,
};

#[test]
fn headers_beyond_the_count_or_size_are_refused_with_431() {
    let limits = RequestLimits::DEFAULT;
    let mut headers = HeaderMap::new();
    for i in 0..100 {
        headers.insert(
            header::HeaderName::from_bytes(format!("x-h{i}").as_bytes()).unwrap(),
            HeaderValue::from_static("1"),
        );
    }
    assert_eq!(check_headers(&headers, &limits), Ok(()));
    headers.insert("x-one-more", HeaderValue::from_static("1"));
    let refusal = check_headers(&headers, &limits).unwrap_err();
    assert_eq!(refusal.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert_eq!(refusal.code, "headers_too_large");
    assert_eq!(
        refusal.message,
        "the request has more than 100 headers or 32768 bytes of headers"
    );

    let mut big = HeaderMap::new();
    big.insert(
        header::COOKIE,
        HeaderValue::from_str(&"a".repeat(32 * 1024)).unwrap(),
    );
    assert!(check_headers(&big, &limits).is_err());
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused_by_length_or_while_reading() {
    let mut headers = HeaderMap::new();
    assert_eq!(
        read_body(&headers, Body::from("abcd"), 4).await.unwrap(),
        b"abcd"
    );
    assert_eq!(
        read_body(&headers, Body::from("abcde"), 4)
            .await
            .unwrap_err(),
        Refusal::body_too_large(4)
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("5"));
    let refusal = read_body(&headers, Body::empty(), 4).await.unwrap_err();
    assert_eq!(refusal.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(refusal.message, "the request body is larger than 4 bytes");
}

#[test]
fn forms_are_bounded_in_fields_and_field_length() {
    let limits = RequestLimits {
        max_fields: 2,
        max_field_bytes: 5,
        ..RequestLimits::DEFAULT
    };
    assert_eq!(
        parse_form(b"a=1&b=%C4%90", &limits),
        (
            vec![
                ("a".to_owned(), "1".to_owned()),
                ("b".to_owned(), "Đ".to_owned())
            ],
            None
        )
    );
    let (fields, refusal) = parse_form(b"a=1&b=2&c=3", &limits);
    assert_eq!(fields.len(), 2);
    let refusal = refusal.unwrap();
    assert_eq!(refusal.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(refusal.code, "too_many_fields");
    assert_eq!(refusal.message, "the form has more than 2 fields");
    // A value too long is left out; what else was typed is kept.
    let (fields, refusal) = parse_form(b"child_name=abcdef&phone=0912", &limits);
    assert_eq!(fields, vec![("phone".to_owned(), "0912".to_owned())]);
    let refusal = refusal.unwrap();
    assert_eq!(refusal.code, "field_too_large");
    assert_eq!(
        refusal.message,
        "field `child_name`: is longer than 5 bytes"
    );
}

#[test]
fn json_depth_ignores_brackets_inside_strings() {
    assert!(!json_depth_exceeds(br#"{"a":[{"b":1}]}"#, 3));
    assert!(json_depth_exceeds(br#"{"a":[{"b":[1]}]}"#, 3));
    assert!(!json_depth_exceeds(br#"{"a":"[[[[[[\"[[["}"#, 1));
    assert!(json_depth_exceeds(&b"[".repeat(10_000), 8));
}

#[test]
fn json_dossiers_are_bounded_like_forms() {
    let limits = RequestLimits {
        max_fields: 2,
        max_field_bytes: 5,
        ..RequestLimits::DEFAULT
    };
    let ok = serde_json::json!({"a": "12345", "b": 7});
    assert_eq!(check_json_fields(ok.as_object().unwrap(), &limits), Ok(()));
    let long = serde_json::json!({"a": "123456"});
    assert_eq!(
        check_json_fields(long.as_object().unwrap(), &limits),
        Err(Refusal::field_too_large("a", 5))
    );
    let many = serde_json::json!({"a": 1, "b": 2, "c": 3});
    assert_eq!(
        check_json_fields(many.as_object().unwrap(), &limits),
        Err(Refusal::too_many_fields(2))
    );
}

#[test]
fn the_upload_body_limit_covers_base64_attachments_and_fields() {
    let limits = RequestLimits::DEFAULT;
    assert_eq!(
        limits.upload_body_bytes(),
        (8 * 1024 * 1024 * 4usize).div_ceil(3) + 256 * 1024
    );
}

#[tokio::test]
async fn uploads_beyond_the_permits_are_refused_at_once_with_503() {
    use std::sync::Arc;

    use axum::Router;
    use axum::http::Request;
    use axum::middleware::from_fn_with_state;
    use axum::routing::post;
    use tokio::sync::Notify;
    use tower::ServiceExt as _;

    let release = Arc::new(Notify::new());
    let held = Arc::clone(&release);
    let router = Router::new()
        .route(
            "/api/procedures/{code}/submissions",
            post(move || {
                let held = Arc::clone(&held);
                async move {
                    held.notified().await;
                    "filed"
                }
            }),
        )
        .layer(from_fn_with_state(
            UploadPermits::new(2),
            upload_concurrency_middleware,
        ));
    let request = || {
        Request::post("/api/procedures/birth/submissions")
            .body(Body::empty())
            .unwrap()
    };
    let first = tokio::spawn(router.clone().oneshot(request()));
    let second = tokio::spawn(router.clone().oneshot(request()));
    // Let both take their permits and wait in the handler.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let refused = router.clone().oneshot(request()).await.unwrap();
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(refused.headers()[header::RETRY_AFTER], "10");
    let body = axum::body::to_bytes(refused.into_body(), 4096)
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"], "uploads_busy");

    release.notify_waiters();
    assert_eq!(first.await.unwrap().unwrap().status(), StatusCode::OK);
    assert_eq!(second.await.unwrap().unwrap().status(), StatusCode::OK);
    // The permits are back.
    let again = tokio::spawn(router.clone().oneshot(request()));
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    release.notify_waiters();
    assert_eq!(again.await.unwrap().unwrap().status(), StatusCode::OK);
}
