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
use tracing_subscriber::fmt::format::{DefaultFields, JsonFields};

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

/// The line the sign-out return logs in its handler when the state the gateway sent is
/// missing, under `subscriber` (which writes to `logs`), and the request id the gateway
/// answered with.
async fn handler_line(
    logs: &Captured,
    subscriber: impl tracing::Subscriber + Send + Sync,
) -> (String, String) {
    let gw = TestGateway::start().await;
    let _default = tracing::subscriber::set_default(subscriber);
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
    assert!(
        !log.contains("forged"),
        "the query never reaches the logs: {log}"
    );
    let line = log
        .lines()
        .find(|line| line.contains("sign-out return without the state sent to the provider"))
        .unwrap_or_else(|| panic!("no handler line in {log:?}"))
        .to_owned();
    (line, id)
}

#[tokio::test]
async fn a_line_logged_inside_a_handler_carries_the_request_id_method_and_route() {
    let logs = Captured::default();
    let subscriber = log_fields::text_subscriber(EnvFilter::new("info"), false, logs.clone());
    let (line, id) = handler_line(&logs, subscriber).await;
    assert!(
        line.contains(&format!(
            r#" INFO request{{method=GET route="/auth/logged-out" request_id="{id}"}}: "#
        )),
        "{line}"
    );
}

#[tokio::test]
async fn a_json_line_logged_inside_a_handler_carries_the_request_id_method_and_route() {
    let logs = Captured::default();
    let subscriber = log_fields::json_subscriber(EnvFilter::new("info"), logs.clone());
    let (line, id) = handler_line(&logs, subscriber).await;
    let line: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(line["level"], "INFO");
    assert_eq!(
        line["spans"],
        serde_json::json!([{
            "name": "request",
            "method": "GET",
            "route": "/auth/logged-out",
            "request_id": id,
        }])
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

/// The JSON log of `emit` (without time stamps), the spans' fields formatted by `fields`.
fn json_formatted<N>(fields: N, emit: impl FnOnce()) -> String
where
    N: for<'writer> tracing_subscriber::fmt::FormatFields<'writer> + Send + Sync + 'static,
{
    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_writer(logs.clone())
        .without_time()
        .with_current_span(false)
        .with_max_level(tracing::Level::TRACE)
        .fmt_fields(fields)
        .finish();
    tracing::subscriber::with_default(subscriber, emit);
    logs.text()
}

/// Spans with every kind of field, some recorded after the span was made.
fn spans_with_every_kind_of_field() {
    let error = Outer(std::io::Error::other("disk full"));
    let request = tracing::info_span!(
        "request",
        method = %http::Method::GET,
        route = "/procedures/{code}",
        request_id = "Ab-9_x.Q",
        status = tracing::field::Empty,
    );
    let _request = request.enter();
    tracing::info!("before the status");
    request.record("status", 200_u16);
    tracing::info!("after the status");
    let odd = tracing::info_span!(
        "odd",
        quoted = "say \"hi\"\n\t\u{1}\u{1f}/\u{7f}ngày",
        r#type = ?"raw",
        r#kind = "raw str",
        delta = -4_i64,
        big = u64::MAX,
        ratio = 0.1_f64,
        infinite = f64::INFINITY,
        ok = true,
        bytes = &b"\x00\xff"[..],
        error = &error as &(dyn std::error::Error + 'static),
        shown = %error,
        later = tracing::field::Empty,
    );
    let _odd = odd.enter();
    tracing::warn!(label = "Tổ CNSCĐ", "inside both");
    odd.record("later", "recorded");
    odd.record("delta", 5_i64);
    tracing::warn!("after two records");
    let empty = tracing::info_span!("empty");
    let _empty = empty.enter();
    tracing::error!("inside an empty span");
}

#[test]
fn json_span_fields_log_what_json_fields_log() {
    let fast = json_formatted(log_fields::JsonSpanFields, spans_with_every_kind_of_field);
    let json = json_formatted(JsonFields::new(), spans_with_every_kind_of_field);
    assert_eq!(fast, json);
    let lines: Vec<serde_json::Value> = fast
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 5, "{fast}");
    let request = &lines[0]["spans"][0];
    assert_eq!(request["request_id"], "Ab-9_x.Q");
    assert_eq!(request["route"], "/procedures/{code}");
    assert_eq!(request["method"], "GET");
    assert_eq!(lines[1]["spans"][0]["status"], 200);
    assert_eq!(lines[2]["spans"][1]["type"], "\"raw\"");
    assert_eq!(
        lines[2]["spans"][1]["quoted"],
        "say \"hi\"\n\t\u{1}\u{1f}/\u{7f}ngày"
    );
    assert_eq!(lines[3]["spans"][1]["later"], "recorded");
    assert_eq!(lines[3]["spans"][1]["delta"], 5);
    assert_eq!(lines[4]["spans"][2], serde_json::json!({ "name": "empty" }));
}
