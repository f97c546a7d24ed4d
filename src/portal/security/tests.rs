use axum::Router;
use axum::body::Body;
use axum::extract::Extension;
use axum::routing::get;
use http::StatusCode;
use http::header::SET_COOKIE;
use pretty_assertions::assert_eq;
use tower::ServiceExt as _;

use super::*;
use crate::clock::RandomError;

/// Fills with a fixed byte.
#[derive(Debug)]
struct FixedRandom(u8);

impl Random for FixedRandom {
    fn fill(&self, dest: &mut [u8]) -> Result<(), RandomError> {
        dest.fill(self.0);
        Ok(())
    }
}

fn app(public_url: &str, random: u8) -> Router {
    let url: Url = public_url.parse().unwrap();
    Router::new()
        .route("/page", get(|| async { "<p>Xin chào</p>" }))
        .route(
            "/assets/style.css",
            get(|| async { ([(CACHE_CONTROL, "public, max-age=86400")], "body{}") }),
        )
        .route(
            "/framed",
            get(|| async { ([(X_FRAME_OPTIONS, "SAMEORIGIN")], "") }),
        )
        .route(
            "/cookies",
            get(|| async {
                let mut response = Response::new(Body::from("ok"));
                let headers = response.headers_mut();
                headers.append(SET_COOKIE, HeaderValue::from_static("a=1"));
                headers.append(REQUEST_ID_HEADER, HeaderValue::from_static("handler-id"));
                headers.append(SET_COOKIE, HeaderValue::from_static("b=2"));
                headers.append(CACHE_CONTROL, HeaderValue::from_static("private"));
                headers.append(CACHE_CONTROL, HeaderValue::from_static("max-age=0"));
                headers.append(REQUEST_ID_HEADER, HeaderValue::from_static("handler-id-2"));
                headers.append(SET_COOKIE, HeaderValue::from_static("c=3"));
                response
            }),
        )
        .route(
            "/echo-id",
            get(|request: Request<Body>| async move {
                let header = request.headers()[REQUEST_ID_HEADER]
                    .to_str()
                    .unwrap()
                    .to_owned();
                let extension = request
                    .extensions()
                    .get::<RequestId>()
                    .map(|id| id.header_value().to_str().unwrap().to_owned())
                    .unwrap();
                format!("{header} {extension}")
            }),
        )
        .route(
            "/extension",
            get(|Extension(id): Extension<RequestId>| async move {
                id.header_value().to_str().unwrap().to_owned()
            }),
        )
        .layer(security_layer(&url, Arc::new(FixedRandom(random))))
}

async fn get_with(app: Router, uri: &str, request_id: Option<&str>) -> Response<Body> {
    let mut request = Request::get(uri);
    if let Some(id) = request_id {
        request = request.header(REQUEST_ID_HEADER, id);
    }
    app.oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap()
}

async fn text(response: Response<Body>) -> String {
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[tokio::test]
async fn every_response_has_the_security_headers() {
    let response = get_with(app("https://dichvucong.example.vn", 7), "/page", None).await;
    let headers = response.headers();
    assert_eq!(
        headers[CONTENT_SECURITY_POLICY],
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'"
    );
    assert_eq!(headers[X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(headers[REFERRER_POLICY], "no-referrer");
    assert_eq!(headers[X_FRAME_OPTIONS], "DENY");
    assert_eq!(headers["cross-origin-opener-policy"], "same-origin");
    assert_eq!(
        headers["permissions-policy"],
        "camera=(), geolocation=(), microphone=(), payment=(), usb=()"
    );
    assert_eq!(headers[STRICT_TRANSPORT_SECURITY], "max-age=31536000");
    assert_eq!(headers[CACHE_CONTROL], "no-store");
}

#[tokio::test]
async fn unmatched_routes_get_the_headers_too() {
    let response = get_with(app("https://dichvucong.example.vn", 7), "/nope", None).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(response.headers()[X_FRAME_OPTIONS], "DENY");
    assert!(response.headers().contains_key(REQUEST_ID_HEADER));
}

#[tokio::test]
async fn no_hsts_over_plain_http() {
    let response = get_with(app("http://127.0.0.1:8080", 7), "/page", None).await;
    assert!(!response.headers().contains_key(STRICT_TRANSPORT_SECURITY));
    assert_eq!(
        response.headers()[CONTENT_SECURITY_POLICY],
        CONTENT_SECURITY_POLICY_VALUE
    );
}

#[tokio::test]
async fn static_assets_keep_their_cache_control() {
    let response = get_with(app("http://127.0.0.1:8080", 7), "/assets/style.css", None).await;
    assert_eq!(response.headers()[CACHE_CONTROL], "public, max-age=86400");
    assert_eq!(response.headers()[X_CONTENT_TYPE_OPTIONS], "nosniff");
}

#[tokio::test]
async fn headers_set_by_a_handler_are_kept() {
    let response = get_with(app("http://127.0.0.1:8080", 7), "/framed", None).await;
    assert_eq!(response.headers()[X_FRAME_OPTIONS], "SAMEORIGIN");
    assert_eq!(
        response.headers().get_all(X_FRAME_OPTIONS).iter().count(),
        1
    );
}

#[tokio::test]
async fn every_value_a_handler_set_is_kept_in_order_but_its_request_ids() {
    let response = get_with(
        app("https://dichvucong.example.vn", 7),
        "/cookies",
        Some("req-1"),
    )
    .await;
    let headers = response.headers();
    let all = |name| {
        headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(all(SET_COOKIE), ["a=1", "b=2", "c=3"]);
    assert_eq!(all(CACHE_CONTROL), ["private", "max-age=0"]);
    assert_eq!(all(REQUEST_ID_HEADER), ["req-1"]);
    assert_eq!(all(X_FRAME_OPTIONS), ["DENY"]);
    assert_eq!(all(STRICT_TRANSPORT_SECURITY), ["max-age=31536000"]);
    // Each name once: the eight security headers (the handler's `Cache-Control` in place of
    // `no-store`), the handler's cookies, the request id, and axum's `Content-Length`.
    let mut names: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "cache-control",
            "content-length",
            "content-security-policy",
            "cross-origin-opener-policy",
            "permissions-policy",
            "referrer-policy",
            "set-cookie",
            "strict-transport-security",
            "x-content-type-options",
            "x-frame-options",
            "x-request-id",
        ]
    );
    assert_eq!(headers.len(), 7 + 3 + 2 + 1 + 1);
}

#[tokio::test]
async fn request_id_is_generated_and_shared_with_the_handler() {
    let response = get_with(app("http://127.0.0.1:8080", 0xfb), "/echo-id", None).await;
    let id = response.headers()[REQUEST_ID_HEADER]
        .to_str()
        .unwrap()
        .to_owned();
    assert_fresh_id(&id, 0xfb);
    assert_eq!(text(response).await, format!("{id} {id}"));
}

/// A fresh id: 16 base64url characters, starting with the process's random prefix (the
/// generator fills it with `random`; three bytes of it are the first four characters).
fn assert_fresh_id(id: &str, random: u8) {
    assert_eq!(id.len(), 16, "{id}");
    let prefix = URL_SAFE_NO_PAD.encode([random; 3]);
    assert!(id.starts_with(&prefix), "{id} does not start with {prefix}");
    assert!(is_well_formed_request_id(
        &HeaderValue::from_str(id).unwrap()
    ));
}

#[tokio::test]
async fn fresh_request_ids_do_not_repeat_or_count() {
    let app = app("http://127.0.0.1:8080", 0xfb);
    let mut seen = std::collections::HashSet::new();
    let mut suffixes = Vec::new();
    for _ in 0..1000 {
        let response = get_with(app.clone(), "/page", None).await;
        let id = response.headers()[REQUEST_ID_HEADER]
            .to_str()
            .unwrap()
            .to_owned();
        assert_fresh_id(&id, 0xfb);
        assert!(seen.insert(id.clone()), "{id} repeated");
        suffixes.push(id);
    }
    // The counter is hashed: consecutive ids share about one character in six by chance
    // (1/64 each of ten), where consecutive counts would share all but one or two.
    let same_characters: usize = suffixes
        .windows(2)
        .map(|pair| {
            pair[0]
                .bytes()
                .zip(pair[1].bytes())
                .skip(6)
                .filter(|(a, b)| a == b)
                .count()
        })
        .sum();
    assert!(
        same_characters < 999,
        "{same_characters} characters repeated"
    );
}

#[tokio::test]
async fn two_layers_draw_different_ids() {
    let first = get_with(app("http://127.0.0.1:8080", 7), "/page", None).await;
    let second = get_with(app("http://127.0.0.1:8080", 7), "/page", None).await;
    // Same random prefix, same counter value: only the per-process hash key tells them apart.
    assert_ne!(
        first.headers()[REQUEST_ID_HEADER],
        second.headers()[REQUEST_ID_HEADER]
    );
}

#[tokio::test]
async fn well_formed_incoming_request_id_is_echoed() {
    let id = "req-2025.07_01-abc";
    let response = get_with(app("http://127.0.0.1:8080", 1), "/extension", Some(id)).await;
    assert_eq!(response.headers()[REQUEST_ID_HEADER], id);
    assert_eq!(text(response).await, id);
}

#[tokio::test]
async fn malformed_incoming_request_id_is_replaced() {
    let too_long = "a".repeat(65);
    for bad in [
        "",
        "has space",
        "x\"y",
        "line\tbreak",
        "ngày",
        too_long.as_str(),
    ] {
        let response = get_with(app("http://127.0.0.1:8080", 0), "/echo-id", Some(bad)).await;
        let id = response.headers()[REQUEST_ID_HEADER].to_str().unwrap();
        assert_ne!(id, bad);
        assert_fresh_id(id, 0);
    }
    let max = "b".repeat(64);
    let response = get_with(app("http://127.0.0.1:8080", 0), "/echo-id", Some(&max)).await;
    assert_eq!(response.headers()[REQUEST_ID_HEADER], max.as_str());
}

#[test]
fn request_span_does_not_record_the_query() {
    let request = Request::get("/auth/callback?code=SECRET&state=S")
        .header(REQUEST_ID_HEADER, "abc")
        .body(())
        .unwrap();
    let span = request_span(&request);
    // Without a subscriber the span is disabled; its metadata still lists the recorded fields.
    if let Some(metadata) = span.metadata() {
        let fields: Vec<&str> = metadata.fields().iter().map(|f| f.name()).collect();
        assert_eq!(fields, ["method", "route", "request_id"]);
    }
}
