//! The operations surface: `/metrics` stays off the public router unless a bearer token opens
//! it; the metrics router serves it on a listener of its own.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use wardgate::portal::MetricsToken;
use wardgate::store::MemoryStore;

use crate::gateway::{TestGateway, body_text};

const TOKEN: &str = "0f6c1b5e9a8d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d";

#[tokio::test]
async fn metrics_are_not_public_by_default_and_served_by_the_metrics_router() {
    let gw = TestGateway::start().await;
    let public = gw.get("/metrics", None).await;
    assert_eq!(public.status(), StatusCode::NOT_FOUND);
    let text = body_text(public).await;
    assert!(!text.contains("wardgate_"), "{text}");
    assert!(gw.metrics_text().await.contains("wardgate_"));
}

#[tokio::test]
async fn a_bearer_token_opens_metrics_on_the_public_router() {
    let gw = TestGateway::with_parts(std::sync::Arc::new(MemoryStore::new()), |parts| {
        parts.with_metrics_token(MetricsToken::new(TOKEN).unwrap())
    })
    .await;
    let anonymous = gw.get("/metrics", None).await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        anonymous.headers()[header::WWW_AUTHENTICATE],
        "Bearer realm=\"metrics\""
    );
    for wrong in [
        format!("Bearer {}", &TOKEN[1..]),
        format!("Bearer {TOKEN}x"),
        format!("Basic {TOKEN}"),
        TOKEN.to_owned(),
    ] {
        let request = Request::get("/metrics")
            .header(header::AUTHORIZATION, wrong.as_str())
            .body(Body::empty())
            .unwrap();
        let response = gw.send(request).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{wrong}");
    }
    let request = Request::get("/metrics")
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .body(Body::empty())
        .unwrap();
    let response = gw.send(request).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(body_text(response).await.contains("wardgate_"));
}

#[test]
fn weak_metrics_tokens_are_refused_and_never_printed() {
    assert!(MetricsToken::new("short").is_err());
    assert!(MetricsToken::new(&format!("{} ", &TOKEN[..40])).is_err());
    let token = MetricsToken::new(TOKEN).unwrap();
    assert_eq!(format!("{token:?}"), "MetricsToken([redacted])");
}
