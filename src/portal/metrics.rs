//! Prometheus metrics: counters and a latency histogram, rendered as text.
//!
//! Rules this module enforces:
//!
//! 1. **Labels never carry personal data.** Outcome, reason and result labels are
//!    `&'static str` — fixed enumerations chosen in code, never request input — and the route
//!    label is the route *template* from [`MatchedPath`] (`/api/procedures/{code}/decision`),
//!    never the raw path; requests that match no route share the label `unmatched`; the provider
//!    label is a provider id from the configuration. So the
//!    number of series is bounded and no procedure code typed by a visitor, ticket code or
//!    subject reaches the metrics.
//! 2. The output follows the Prometheus text exposition format 0.0.4: a `# HELP` and `# TYPE`
//!    line per family, escaped label values, cumulative histogram buckets ending in `+Inf`,
//!    `_sum` and `_count`.
//! 3. Recording never fails and never blocks for long: plain atomics where there are no labels,
//!    a short mutex section per labelled update; a poisoned lock is recovered, not propagated.
//!
//! Latency is measured with the monotonic [`Instant`]; it is an observation, not a decision,
//! so it does not go through the injected [`Clock`](crate::clock::Clock).
//!
//! # Example
//!
//! ```
//! use wardgate::portal::metrics::Metrics;
//!
//! let metrics = Metrics::new();
//! metrics.record_decision("in_person", "level_too_low");
//! metrics.record_login("success");
//! let text = metrics.render();
//! assert!(text.contains(
//!     "wardgate_decisions_total{outcome=\"in_person\",reason=\"level_too_low\"} 1\n"
//! ));
//! assert!(text.contains("wardgate_logins_total{result=\"success\"} 1\n"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::header::CONTENT_TYPE;
use http::{HeaderValue, StatusCode};

/// The content type of [`Metrics::render`]'s output.
pub const CONTENT_TYPE_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The route label of requests that matched no route.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Upper bounds of the latency histogram's buckets, in seconds.
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0,
];

/// The gateway's metrics; share one behind an [`Arc`].
#[derive(Debug, Default)]
pub struct Metrics {
    decisions: Counter<(&'static str, &'static str)>,
    logins: Counter<&'static str>,
    login_failures: Counter<&'static str>,
    provider_logins: Counter<(String, &'static str)>,
    submissions: Counter<&'static str>,
    referrals: Counter<&'static str>,
    /// Per route template: requests by status and the latency histogram, under one lock.
    routes: Mutex<BTreeMap<String, RouteStats>>,
    in_flight: AtomicU64,
}

impl Metrics {
    /// Empty metrics.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts a decision: `outcome` (`online`, `sign_in`, `step_up`, `in_person`) and its reason
    /// code.
    pub fn record_decision(&self, outcome: &'static str, reason: &'static str) {
        self.decisions.increment((outcome, reason));
    }

    /// Counts a finished login by `result` (for example `success`, `level1`, `cancelled`,
    /// `provider_error`).
    pub fn record_login(&self, result: &'static str) {
        self.logins.increment(result);
    }

    /// Counts a failed login by the check or answer that stopped it: a
    /// [`LoginErrorKind::code`](crate::oidc::LoginErrorKind::code) such as `state_mismatch` or
    /// `id_token_bad_signature`.
    pub fn record_login_failure(&self, kind: &'static str) {
        self.login_failures.increment(kind);
    }

    /// Counts a finished login at one identity provider: `provider` is the provider's id from
    /// the configuration (a short slug, never request input), `result` as for
    /// [`record_login`](Self::record_login).
    pub fn record_provider_login(&self, provider: &str, result: &'static str) {
        self.provider_logins
            .increment((provider.to_owned(), result));
    }

    /// Counts a submission by `result` (for example `accepted`, `replayed`, `invalid`,
    /// `step_up`, `in_person`).
    pub fn record_submission(&self, result: &'static str) {
        self.submissions.increment(result);
    }

    /// Counts an in-person referral by reason code.
    pub fn record_referral(&self, reason: &'static str) {
        self.referrals.increment(reason);
    }

    /// Counts a finished HTTP request for the route template `route` and records its latency.
    ///
    /// `route` must be a route template (or [`UNMATCHED_ROUTE`]), never a raw path.
    pub fn record_request(&self, route: &str, status: StatusCode, elapsed: Duration) {
        let mut routes = lock(&self.routes);
        // The route is owned once, when first seen; every later request only looks it up.
        let stats = match routes.get_mut(route) {
            Some(stats) => stats,
            None => routes.entry(route.to_owned()).or_default(),
        };
        *stats.statuses.entry(status.as_u16()).or_insert(0) += 1;
        stats.latency.observe(elapsed);
    }

    /// The metrics in the Prometheus text format 0.0.4.
    pub fn render(&self) -> String {
        let mut out = String::new();
        family(
            &mut out,
            "wardgate_decisions_total",
            "counter",
            "Decisions by outcome and reason code.",
        );
        for ((outcome, reason), value) in self.decisions.snapshot() {
            sample(
                &mut out,
                "wardgate_decisions_total",
                &[("outcome", outcome), ("reason", reason)],
                value,
            );
        }
        for (name, help, counter) in [
            (
                "wardgate_logins_total",
                "Finished logins by result.",
                &self.logins,
            ),
            (
                "wardgate_submissions_total",
                "Submissions by result.",
                &self.submissions,
            ),
        ] {
            family(&mut out, name, "counter", help);
            for (result, value) in counter.snapshot() {
                sample(&mut out, name, &[("result", result)], value);
            }
        }
        family(
            &mut out,
            "wardgate_login_failures_total",
            "counter",
            "Failed logins by the check or provider answer that stopped them.",
        );
        for (kind, value) in self.login_failures.snapshot() {
            sample(
                &mut out,
                "wardgate_login_failures_total",
                &[("kind", kind)],
                value,
            );
        }
        family(
            &mut out,
            "wardgate_provider_logins_total",
            "counter",
            "Finished logins by identity provider id and result.",
        );
        for ((provider, result), value) in self.provider_logins.snapshot() {
            sample(
                &mut out,
                "wardgate_provider_logins_total",
                &[("provider", &provider), ("result", result)],
                value,
            );
        }
        family(
            &mut out,
            "wardgate_referrals_total",
            "counter",
            "In-person referrals by reason code.",
        );
        for (reason, value) in self.referrals.snapshot() {
            sample(
                &mut out,
                "wardgate_referrals_total",
                &[("reason", reason)],
                value,
            );
        }
        family(
            &mut out,
            "wardgate_http_requests_total",
            "counter",
            "HTTP requests by route template and status.",
        );
        let routes: Vec<(String, RouteStats)> = lock(&self.routes)
            .iter()
            .map(|(route, stats)| (route.clone(), stats.clone()))
            .collect();
        for (route, stats) in &routes {
            for (status, value) in &stats.statuses {
                sample(
                    &mut out,
                    "wardgate_http_requests_total",
                    &[("route", route), ("status", &status.to_string())],
                    *value,
                );
            }
        }
        family(
            &mut out,
            "wardgate_http_requests_in_flight",
            "gauge",
            "HTTP requests being served.",
        );
        sample(
            &mut out,
            "wardgate_http_requests_in_flight",
            &[],
            self.in_flight.load(Ordering::Relaxed),
        );
        family(
            &mut out,
            "wardgate_http_request_duration_seconds",
            "histogram",
            "HTTP request latency by route template.",
        );
        for (route, stats) in &routes {
            stats
                .latency
                .render(&mut out, "wardgate_http_request_duration_seconds", route);
        }
        out
    }

    /// A `200` response carrying [`render`](Self::render)'s output, for `GET /metrics`.
    pub fn response(&self) -> Response {
        (
            [(CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE_TEXT))],
            self.render(),
        )
            .into_response()
    }
}

/// Middleware counting requests per route template and status and recording their latency.
///
/// Mount it with [`axum::middleware::from_fn_with_state`] through [`Router::layer`], so that
/// [`MatchedPath`] is set when it runs:
///
/// ```
/// use std::sync::Arc;
/// use axum::{Router, middleware, routing::get};
/// use wardgate::portal::metrics::{Metrics, metrics_middleware};
///
/// let metrics = Arc::new(Metrics::new());
/// let router: Router = Router::new()
///     .route("/healthz", get(|| async { "ok" }))
///     .layer(middleware::from_fn_with_state(metrics.clone(), metrics_middleware));
/// # let _ = router;
/// ```
///
/// [`Router::layer`]: axum::Router::layer
pub async fn metrics_middleware(
    State(metrics): State<Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    // A shared handle on the template (no copy of the text per request).
    let route = request.extensions().get::<MatchedPath>().cloned();
    let started = Instant::now();
    let in_flight = InFlight::enter(&metrics);
    let response = next.run(request).await;
    drop(in_flight);
    let route = route.as_ref().map_or(UNMATCHED_ROUTE, MatchedPath::as_str);
    metrics.record_request(route, response.status(), started.elapsed());
    response
}

/// Counts a request as in flight until dropped, also when the client goes away mid-request.
struct InFlight<'a>(&'a AtomicU64);

impl<'a> InFlight<'a> {
    fn enter(metrics: &'a Metrics) -> Self {
        metrics.in_flight.fetch_add(1, Ordering::Relaxed);
        Self(&metrics.in_flight)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A labelled counter family.
#[derive(Debug)]
struct Counter<K> {
    values: Mutex<BTreeMap<K, u64>>,
}

impl<K> Default for Counter<K> {
    fn default() -> Self {
        Self {
            values: Mutex::new(BTreeMap::new()),
        }
    }
}

impl<K: Ord + Clone> Counter<K> {
    fn increment(&self, key: K) {
        *lock(&self.values).entry(key).or_insert(0) += 1;
    }

    fn snapshot(&self) -> Vec<(K, u64)> {
        lock(&self.values)
            .iter()
            .map(|(key, value)| (key.clone(), *value))
            .collect()
    }
}

/// What is recorded per route template.
#[derive(Clone, Debug, Default)]
struct RouteStats {
    statuses: BTreeMap<u16, u64>,
    latency: Histogram,
}

/// A latency histogram: per-bucket counts (not cumulative), the sum in nanoseconds and the count.
#[derive(Clone, Debug, Default)]
struct Histogram {
    buckets: [u64; LATENCY_BUCKETS.len()],
    sum_nanos: u128,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        if let Some(index) = LATENCY_BUCKETS.iter().position(|bound| seconds <= *bound)
            && let Some(bucket) = self.buckets.get_mut(index)
        {
            *bucket += 1;
        }
        self.sum_nanos += elapsed.as_nanos();
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, route: &str) {
        let bucket_name = format!("{name}_bucket");
        let mut cumulative = 0;
        for (bound, count) in LATENCY_BUCKETS.iter().zip(self.buckets) {
            cumulative += count;
            sample(
                out,
                &bucket_name,
                &[("route", route), ("le", &bound.to_string())],
                cumulative,
            );
        }
        sample(
            out,
            &bucket_name,
            &[("route", route), ("le", "+Inf")],
            self.count,
        );
        // Nanoseconds to seconds, exactly enough for a latency sum.
        #[expect(
            clippy::cast_precision_loss,
            reason = "a latency sum needs no more than f64 precision"
        )]
        let seconds = self.sum_nanos as f64 / 1e9;
        let _ = writeln!(
            out,
            "{name}_sum{{route=\"{}\"}} {seconds}",
            escape_label(route)
        );
        sample(
            out,
            &format!("{name}_count"),
            &[("route", route)],
            self.count,
        );
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: u64) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (label, value)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{label}=\"{}\"", escape_label(value));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

/// Exposition format 0.0.4: in label values, backslash, double quote and line feed are escaped.
fn escape_label(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests;
