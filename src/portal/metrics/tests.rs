use std::collections::BTreeMap;

use axum::Router;
use axum::body::Body;
use axum::middleware::from_fn_with_state;
use axum::routing::get;
use pretty_assertions::assert_eq;
use tower::ServiceExt as _;

use super::*;

/// One parsed sample line.
#[derive(Debug, PartialEq)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A strict parser for the subset of the exposition format we emit; fails the test on anything
/// malformed, and checks that every sample's family was announced by HELP and TYPE lines.
fn parse(text: &str) -> (Vec<Sample>, BTreeMap<String, String>) {
    assert!(text.ends_with('\n'), "output must end with a newline");
    let mut types = BTreeMap::new();
    let mut helped = Vec::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("help text");
            assert!(!help.is_empty());
            helped.push(name.to_owned());
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("type");
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{kind}");
            assert_eq!(
                helped.last().map(String::as_str),
                Some(name),
                "HELP before TYPE"
            );
            types.insert(name.to_owned(), kind.to_owned());
            continue;
        }
        assert!(!line.starts_with('#'), "unexpected comment {line}");
        let (series, value) = line.rsplit_once(' ').expect("value");
        let value: f64 = value.parse().expect("numeric value");
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').expect("closing brace");
                (name, parse_labels(body))
            }
            None => (series, BTreeMap::new()),
        };
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .filter(|base| types.get(*base).map(String::as_str) == Some("histogram"))
            .unwrap_or(name);
        assert!(types.contains_key(family), "sample {name} without TYPE");
        samples.push(Sample {
            name: name.to_owned(),
            labels,
            value,
        });
    }
    (samples, types)
}

fn parse_labels(body: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut chars = body.chars().peekable();
    while chars.peek().is_some() {
        let name: String = chars.by_ref().take_while(|c| *c != '=').collect();
        assert_eq!(chars.next(), Some('"'));
        let mut value = String::new();
        loop {
            match chars.next().expect("unterminated label value") {
                '\\' => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(c @ ('\\' | '"')) => value.push(c),
                    other => panic!("bad escape {other:?}"),
                },
                '"' => break,
                c => value.push(c),
            }
        }
        labels.insert(name, value);
        match chars.next() {
            Some(',') | None => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    labels
}

fn find<'a>(samples: &'a [Sample], name: &str, labels: &[(&str, &str)]) -> Option<&'a Sample> {
    samples.iter().find(|s| {
        s.name == name
            && s.labels.len() == labels.len()
            && labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
    })
}

#[test]
fn empty_metrics_announce_every_family() {
    let (samples, types) = parse(&Metrics::new().render());
    let expected: BTreeMap<String, String> = [
        ("wardgate_decisions_total", "counter"),
        ("wardgate_http_request_duration_seconds", "histogram"),
        ("wardgate_http_requests_in_flight", "gauge"),
        ("wardgate_http_requests_total", "counter"),
        ("wardgate_login_failures_total", "counter"),
        ("wardgate_logins_total", "counter"),
        ("wardgate_outbox_deliveries_total", "counter"),
        ("wardgate_outbox_summary_errors_total", "counter"),
        ("wardgate_provider_logins_total", "counter"),
        ("wardgate_referrals_total", "counter"),
        ("wardgate_submissions_total", "counter"),
    ]
    .into_iter()
    .map(|(n, t)| (n.to_owned(), t.to_owned()))
    .collect();
    assert_eq!(types, expected);
    assert_eq!(
        samples,
        vec![
            Sample {
                name: "wardgate_outbox_summary_errors_total".to_owned(),
                labels: BTreeMap::new(),
                value: 0.0
            },
            Sample {
                name: "wardgate_http_requests_in_flight".to_owned(),
                labels: BTreeMap::new(),
                value: 0.0
            }
        ]
    );
}

/// The lines from `# HELP wardgate_outbox_deliveries_total` up to the next family after the
/// outbox ones.
fn outbox_block(text: &str) -> &str {
    let start = text
        .find("# HELP wardgate_outbox_deliveries_total")
        .expect("outbox families");
    let end = text
        .find("# HELP wardgate_http_requests_total")
        .expect("the family after them");
    &text[start..end]
}

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_772_413_200 + seconds, 0).expect("a valid time")
}

#[test]
fn outbox_deliveries_and_gauges_are_rendered_exactly() {
    let metrics = Metrics::new();
    for outcome in [
        DeliveryOutcome::Delivered,
        DeliveryOutcome::Retry,
        DeliveryOutcome::Delivered,
        DeliveryOutcome::Parked,
    ] {
        metrics.delivery_attempted(outcome);
    }
    let summary = OutboxSummary::new(3, 1, Some(at(0)));
    let text = metrics.render_with_outbox(&summary, at(930));
    parse(&text);
    assert_eq!(
        outbox_block(&text),
        "# HELP wardgate_outbox_deliveries_total Delivery attempts of this instance's outbox \
         worker by outcome.\n\
         # TYPE wardgate_outbox_deliveries_total counter\n\
         wardgate_outbox_deliveries_total{outcome=\"delivered\"} 2\n\
         wardgate_outbox_deliveries_total{outcome=\"parked\"} 1\n\
         wardgate_outbox_deliveries_total{outcome=\"retry\"} 1\n\
         # HELP wardgate_outbox_summary_errors_total Scrapes that could not read the outbox from \
         the store; those scrapes leave out wardgate_outbox_pending, wardgate_outbox_parked and \
         wardgate_outbox_oldest_pending_seconds.\n\
         # TYPE wardgate_outbox_summary_errors_total counter\n\
         wardgate_outbox_summary_errors_total 0\n\
         # HELP wardgate_outbox_pending Outbox entries waiting for delivery to the back office, \
         read from the store (all instances).\n\
         # TYPE wardgate_outbox_pending gauge\n\
         wardgate_outbox_pending 3\n\
         # HELP wardgate_outbox_parked Outbox entries the back office refused for good, read \
         from the store (all instances); an officer must act.\n\
         # TYPE wardgate_outbox_parked gauge\n\
         wardgate_outbox_parked 1\n\
         # HELP wardgate_outbox_oldest_pending_seconds Age of the oldest outbox entry waiting \
         for delivery, read from the store (all instances); 0 when none waits.\n\
         # TYPE wardgate_outbox_oldest_pending_seconds gauge\n\
         wardgate_outbox_oldest_pending_seconds 930\n"
    );
}

#[test]
fn the_oldest_pending_age_is_zero_when_nothing_waits_or_the_clock_is_behind() {
    let metrics = Metrics::new();
    let oldest = |text: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix("wardgate_outbox_oldest_pending_seconds "))
            .map(str::to_owned)
    };
    let nothing = metrics.render_with_outbox(&OutboxSummary::new(0, 2, None), at(60));
    assert!(
        nothing.contains("\nwardgate_outbox_pending 0\n"),
        "{nothing}"
    );
    assert!(
        nothing.contains("\nwardgate_outbox_parked 2\n"),
        "{nothing}"
    );
    assert_eq!(oldest(&nothing).as_deref(), Some("0"));
    // Queued by an instance whose clock is ahead of this one's.
    let ahead = metrics.render_with_outbox(&OutboxSummary::new(1, 0, Some(at(60))), at(0));
    assert_eq!(oldest(&ahead).as_deref(), Some("0"));
    // Whole seconds, cut down.
    let later = at(1) + chrono::Duration::milliseconds(999);
    let partial = metrics.render_with_outbox(&OutboxSummary::new(1, 0, Some(at(0))), later);
    assert_eq!(oldest(&partial).as_deref(), Some("1"));
}

#[test]
fn a_failed_outbox_summary_is_counted_and_its_gauges_left_out() {
    let metrics = Metrics::new();
    metrics.record_outbox_summary_error();
    metrics.record_outbox_summary_error();
    let text = metrics.render();
    let block = outbox_block(&text);
    assert!(
        block.ends_with(
            "# TYPE wardgate_outbox_summary_errors_total counter\n\
             wardgate_outbox_summary_errors_total 2\n"
        ),
        "{block}"
    );
}

#[test]
fn counters_are_rendered_with_their_labels() {
    let metrics = Metrics::new();
    metrics.record_decision("online", "level_sufficient");
    metrics.record_decision("in_person", "level_too_low");
    metrics.record_decision("in_person", "level_too_low");
    metrics.record_login("success");
    metrics.record_login_failure("state_mismatch");
    metrics.record_submission("accepted");
    metrics.record_submission("accepted");
    metrics.record_submission("invalid");
    metrics.record_referral("no_eid");
    let (samples, _) = parse(&metrics.render());
    let value = |name, labels: &[(&str, &str)]| find(&samples, name, labels).map(|s| s.value);
    assert_eq!(
        value(
            "wardgate_decisions_total",
            &[("outcome", "in_person"), ("reason", "level_too_low")]
        ),
        Some(2.0)
    );
    assert_eq!(
        value(
            "wardgate_decisions_total",
            &[("outcome", "online"), ("reason", "level_sufficient")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value("wardgate_logins_total", &[("result", "success")]),
        Some(1.0)
    );
    assert_eq!(
        value(
            "wardgate_login_failures_total",
            &[("kind", "state_mismatch")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value("wardgate_submissions_total", &[("result", "accepted")]),
        Some(2.0)
    );
    assert_eq!(
        value("wardgate_submissions_total", &[("result", "invalid")]),
        Some(1.0)
    );
    assert_eq!(
        value("wardgate_referrals_total", &[("reason", "no_eid")]),
        Some(1.0)
    );
}

#[test]
fn histogram_buckets_are_cumulative() {
    let metrics = Metrics::new();
    let route = "/api/procedures/{code}/decision";
    for micros in [100, 700, 3_000, 40_000, 2_000_000] {
        metrics.record_request(route, StatusCode::OK, Duration::from_micros(micros));
    }
    metrics.record_request(route, StatusCode::NOT_FOUND, Duration::from_micros(200));
    let (samples, _) = parse(&metrics.render());
    let bucket = |le: &str| {
        find(
            &samples,
            "wardgate_http_request_duration_seconds_bucket",
            &[("route", route), ("le", le)],
        )
        .map(|s| s.value)
    };
    assert_eq!(bucket("0.0005"), Some(2.0));
    assert_eq!(bucket("0.001"), Some(3.0));
    assert_eq!(bucket("0.005"), Some(4.0));
    assert_eq!(bucket("0.05"), Some(5.0));
    assert_eq!(bucket("1"), Some(5.0));
    assert_eq!(bucket("+Inf"), Some(6.0));
    let count = find(
        &samples,
        "wardgate_http_request_duration_seconds_count",
        &[("route", route)],
    );
    assert_eq!(count.map(|s| s.value), Some(6.0));
    let sum = find(
        &samples,
        "wardgate_http_request_duration_seconds_sum",
        &[("route", route)],
    )
    .map(|s| s.value)
    .unwrap();
    assert!((sum - 2.044).abs() < 1e-9, "{sum}");
    let mut previous = 0.0;
    for s in samples
        .iter()
        .filter(|s| s.name == "wardgate_http_request_duration_seconds_bucket")
    {
        assert!(s.value >= previous);
        previous = s.value;
    }
    assert_eq!(
        find(
            &samples,
            "wardgate_http_requests_total",
            &[("route", route), ("status", "404")]
        )
        .map(|s| s.value),
        Some(1.0)
    );
}

#[test]
fn label_values_are_escaped() {
    let metrics = Metrics::new();
    metrics.record_request("/a\"b\\c\nd", StatusCode::OK, Duration::ZERO);
    let text = metrics.render();
    assert!(text.contains(r#"route="/a\"b\\c\nd""#), "{text}");
    let (samples, _) = parse(&text);
    assert!(
        find(
            &samples,
            "wardgate_http_requests_total",
            &[("route", "/a\"b\\c\nd"), ("status", "200")]
        )
        .is_some()
    );
}

fn router(metrics: Arc<Metrics>) -> Router {
    let for_handler = metrics.clone();
    Router::new()
        .route("/api/procedures/{code}/decision", get(|| async { "{}" }))
        .route(
            "/metrics",
            get(move || {
                let metrics = for_handler.clone();
                async move { metrics.response() }
            }),
        )
        .layer(from_fn_with_state(metrics, metrics_middleware))
}

#[tokio::test]
async fn middleware_labels_by_route_template_never_raw_path() {
    let metrics = Arc::new(Metrics::new());
    let app = router(metrics.clone());
    for uri in [
        "/api/procedures/079203001234/decision",
        "/api/procedures/nguyen-van-a/decision",
        "/no/such/079203001234",
    ] {
        let request = http::Request::get(uri).body(Body::empty()).unwrap();
        app.clone().oneshot(request).await.unwrap();
    }
    let response = app
        .oneshot(http::Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers().get(CONTENT_TYPE).unwrap(),
        CONTENT_TYPE_TEXT
    );
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert!(!text.contains("079203001234"), "{text}");
    assert!(!text.contains("nguyen"), "{text}");
    let (samples, _) = parse(&text);
    let requests = |route, status| {
        find(
            &samples,
            "wardgate_http_requests_total",
            &[("route", route), ("status", status)],
        )
        .map(|s| s.value)
    };
    assert_eq!(
        requests("/api/procedures/{code}/decision", "200"),
        Some(2.0)
    );
    assert_eq!(requests(UNMATCHED_ROUTE, "404"), Some(1.0));
    // The /metrics request itself is in flight while rendering.
    assert_eq!(
        find(&samples, "wardgate_http_requests_in_flight", &[]).map(|s| s.value),
        Some(1.0)
    );
    assert_eq!(metrics.in_flight.load(Ordering::Relaxed), 0);
}

#[test]
fn logins_are_counted_per_provider_id() {
    let metrics = Metrics::new();
    metrics.record_provider_login("vneid", "success");
    metrics.record_provider_login("vneid", "success");
    metrics.record_provider_login("npsp", "refused");
    let text = metrics.render();
    assert!(
        text.contains("wardgate_provider_logins_total{provider=\"vneid\",result=\"success\"} 2\n")
    );
    assert!(
        text.contains("wardgate_provider_logins_total{provider=\"npsp\",result=\"refused\"} 1\n")
    );
}

#[test]
fn concurrent_recording_loses_no_update() {
    let metrics = Arc::new(Metrics::new());
    let routes = ["/a", "/b/{code}", "/c", UNMATCHED_ROUTE];
    let threads: Vec<_> = (0..8)
        .map(|thread| {
            let metrics = Arc::clone(&metrics);
            std::thread::spawn(move || {
                for i in 0..2_000 {
                    let route = routes[(thread + i) % routes.len()];
                    let status = if i % 10 == 0 {
                        StatusCode::NOT_FOUND
                    } else {
                        StatusCode::OK
                    };
                    metrics.record_request(route, status, Duration::from_micros(300));
                    metrics.record_decision("online", "level_met");
                    metrics.record_provider_login("vneid", "success");
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let (samples, _) = parse(&metrics.render());
    let total = |name: &str| -> f64 {
        samples
            .iter()
            .filter(|s| s.name == name)
            .map(|s| s.value)
            .sum()
    };
    assert_eq!(total("wardgate_http_requests_total"), 16_000.0);
    assert_eq!(
        total("wardgate_http_request_duration_seconds_count"),
        16_000.0
    );
    assert_eq!(total("wardgate_decisions_total"), 16_000.0);
    assert_eq!(total("wardgate_provider_logins_total"), 16_000.0);
    // Each route is one series, however many threads created it at once.
    let count_series = samples
        .iter()
        .filter(|s| s.name == "wardgate_http_request_duration_seconds_count")
        .count();
    assert_eq!(count_series, routes.len());
    for route in routes {
        assert_eq!(
            find(
                &samples,
                "wardgate_http_requests_total",
                &[("route", route), ("status", "404")]
            )
            .map(|s| s.value),
            Some(400.0),
            "{route}"
        );
    }
}

#[test]
fn series_beyond_the_table_are_dropped_not_panicking() {
    let table: SeriesTable<String, AtomicU64> = SeriesTable::with_capacity(4);
    for i in 0..4 {
        let value = table.get_or_insert(format!("route{i}").as_str(), str::to_owned);
        assert!(value.is_some(), "route{i}");
    }
    assert!(table.get_or_insert("one too many", str::to_owned).is_none());
    // Existing series are still found.
    assert!(table.get_or_insert("route2", str::to_owned).is_some());
    let keys: Vec<&String> = table.sorted().into_iter().map(|(key, _)| key).collect();
    assert_eq!(keys, ["route0", "route1", "route2", "route3"]);
}

#[test]
fn histogram_count_equals_the_inf_bucket_and_counts_slow_requests() {
    let metrics = Metrics::new();
    metrics.record_request("/slow", StatusCode::OK, Duration::from_secs(3));
    let (samples, _) = parse(&metrics.render());
    let value = |name: &str, labels: &[(&str, &str)]| find(&samples, name, labels).map(|s| s.value);
    assert_eq!(
        value(
            "wardgate_http_request_duration_seconds_bucket",
            &[("route", "/slow"), ("le", "1")]
        ),
        Some(0.0)
    );
    assert_eq!(
        value(
            "wardgate_http_request_duration_seconds_bucket",
            &[("route", "/slow"), ("le", "+Inf")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            "wardgate_http_request_duration_seconds_count",
            &[("route", "/slow")]
        ),
        Some(1.0)
    );
}
