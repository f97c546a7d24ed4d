//! The serving path's cheaper pieces keep what operators and clients rely on: the example
//! gateway's log lines (request id, method and route on every line logged inside a request;
//! the same text as `tracing-subscriber`'s own field format) and the security headers on every
//! response.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use tower::ServiceExt as _;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::DefaultFields;

use crate::gateway::TestGateway;

#[path = "../../examples/ward_gateway/log_fields.rs"]
mod log_fields;

/// Log lines written by the subscriber of one test.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Self;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn a_line_logged_inside_a_handler_carries_the_request_id_method_and_route() {
    let gw = TestGateway::start().await;
    let logs = Captured::default();
    let subscriber = log_fields::text_subscriber(EnvFilter::new("info"), false, logs.clone());
    let _default = tracing::subscriber::set_default(subscriber);

    // The sign-out return without the state the gateway sent logs at `INFO` in its handler.
    let request = Request::get("/auth/logged-out?state=forged")
        .body(Body::empty())
        .unwrap();
    let response = gw.router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(id.len(), 16, "a fresh id: {id}");

    let log = logs.text();
    let line = log
        .lines()
        .find(|line| line.contains("sign-out return without the state sent to the provider"))
        .unwrap_or_else(|| panic!("no handler line in {log:?}"));
    assert!(
        line.contains(&format!(
            r#"request{{method=GET route="/auth/logged-out" request_id="{id}"}}: "#
        )),
        "{line}"
    );
    assert!(line.contains(" INFO "), "{line}");
    assert!(
        !log.contains("forged"),
        "the query never reaches the logs: {log}"
    );
}

/// The log of `emit`, formatted by a subscriber without time stamps using `fields`.
fn formatted<N>(fields: N, ansi: bool, emit: impl FnOnce()) -> String
where
    N: for<'writer> tracing_subscriber::fmt::FormatFields<'writer> + Send + Sync + 'static,
{
    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_ansi(ansi)
        .without_time()
        .with_max_level(tracing::Level::TRACE)
        .fmt_fields(fields)
        .finish();
    tracing::subscriber::with_default(subscriber, emit);
    logs.text()
}

#[derive(Debug)]
struct Outer(std::io::Error);

impl std::fmt::Display for Outer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("could not append to the audit log")
    }
}

impl std::error::Error for Outer {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// Spans and events with every kind of field the gateway logs, and strings that need escaping.
fn every_kind_of_field() {
    let span = tracing::info_span!(
        "request",
        method = %http::Method::POST,
        route = "/procedures/{code}/submit",
        request_id = "Ab-9_x.Q",
    );
    let _entered = span.enter();
    let inner = tracing::info_span!("inner", quoted = "say \"hi\"\n", r#type = "raw");
    let _inner = inner.enter();
    let error = Outer(std::io::Error::other("disk full"));
    tracing::warn!(
        status = 503_u16,
        latency_ms = 1.25_f64,
        delta = -4_i64,
        ok = false,
        kind = ?Some("ProviderMismatch"),
        label = "Tổ CNSCĐ khóm Xuân Hòa",
        empty = "",
        "rate limit reached at \u{1b}[31m{}",
        "/login"
    );
    tracing::error!(%error, "response failed");
    tracing::error!(
        error = &error as &(dyn std::error::Error + 'static),
        "with its sources"
    );
    tracing::info!(message = "only a message");
    tracing::info!("{}", "x".repeat(400));
    tracing::info!(long = "y".repeat(300).as_str(), after = "z");
}

#[test]
fn plain_fields_write_what_default_fields_write() {
    for ansi in [false, true] {
        let plain = formatted(log_fields::PlainFields, ansi, every_kind_of_field);
        let default = formatted(DefaultFields::new(), ansi, every_kind_of_field);
        assert_eq!(plain, default, "ansi: {ansi}");
        assert_eq!(plain.lines().count(), 6, "{plain}");
    }
    let plain = formatted(log_fields::PlainFields, false, every_kind_of_field);
    assert!(
        plain.contains(
            r#"request{method=POST route="/procedures/{code}/submit" request_id="Ab-9_x.Q"}"#
        ),
        "{plain}"
    );
    // Escaped as before: no raw newline or terminal escape from a field reaches the line.
    assert!(plain.contains(r#"quoted="say \"hi\"\n""#), "{plain}");
    assert!(!plain.contains('\u{1b}'), "{plain}");
}
