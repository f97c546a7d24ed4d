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
//! 3. Recording never fails and takes no lock: every series is a set of atomics, found in a
//!    fixed table of write-once slots (a series is created once, the first time its labels are
//!    seen, and never moves or goes away; only a thread racing that creation waits for it), so
//!    concurrent requests only contend on the cache lines of the counters they increment. A family holds at most a fixed number of
//!    series ([`MAX_SERIES_PER_FAMILY`]); rule 1 keeps the real number far below it.
//!
//! The outbox gauges (`wardgate_outbox_pending`, `wardgate_outbox_parked`,
//! `wardgate_outbox_oldest_pending_seconds`) are not recorded here: they are read from the store
//! at each scrape ([`render_with_outbox`](Metrics::render_with_outbox)), so they hold for every
//! instance sharing the store. A scrape that cannot read the store leaves them out and counts
//! `wardgate_outbox_summary_errors_total`.
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

use std::borrow::Borrow;
use std::fmt::{self, Write as _};
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use http::header::CONTENT_TYPE;
use http::{HeaderValue, StatusCode};
use tower::{Layer, Service};

use crate::store::OutboxSummary;
use crate::submission::{DeliveryObserver, DeliveryOutcome};

/// The content type of [`Metrics::render`]'s output.
pub const CONTENT_TYPE_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The route label of requests that matched no route.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Upper bounds of the latency histogram's buckets, in seconds.
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0,
];

/// The most series one metric family holds; updates of further label sets are not recorded.
///
/// Labels are fixed enumerations, route templates and configured provider ids, so a gateway
/// uses a few dozen series per family.
pub const MAX_SERIES_PER_FAMILY: usize = 256;

/// The most distinct statuses counted per route.
const MAX_STATUSES_PER_ROUTE: usize = 32;

/// The gateway's metrics; share one behind an [`Arc`].
#[derive(Debug)]
pub struct Metrics {
    decisions: Counter<(&'static str, &'static str)>,
    logins: Counter<&'static str>,
    login_failures: Counter<&'static str>,
    provider_logins: Counter<(String, &'static str)>,
    submissions: Counter<&'static str>,
    referrals: Counter<&'static str>,
    outbox_deliveries: Counter<&'static str>,
    outbox_summary_errors: AtomicU64,
    /// Per route template: requests by status and the latency histogram.
    routes: SeriesTable<String, RouteStats>,
    in_flight: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            decisions: Counter::default(),
            logins: Counter::default(),
            login_failures: Counter::default(),
            provider_logins: Counter::default(),
            submissions: Counter::default(),
            referrals: Counter::default(),
            outbox_deliveries: Counter::default(),
            outbox_summary_errors: AtomicU64::new(0),
            routes: SeriesTable::with_capacity(MAX_SERIES_PER_FAMILY),
            in_flight: AtomicU64::new(0),
        }
    }
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

    /// Counts a delivery attempt of this instance's outbox worker by what it ended in; the
    /// [`DeliveryObserver`] the [`Outbox`](crate::submission::Outbox) is given calls this.
    pub fn record_outbox_delivery(&self, outcome: DeliveryOutcome) {
        self.outbox_deliveries.increment(outcome.as_str());
    }

    /// Counts a scrape whose outbox gauges were left out: the store could not be read.
    pub fn record_outbox_summary_error(&self) {
        self.outbox_summary_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a finished HTTP request for the route template `route` and records its latency.
    ///
    /// `route` must be a route template (or [`UNMATCHED_ROUTE`]), never a raw path.
    pub fn record_request(&self, route: &str, status: StatusCode, elapsed: Duration) {
        // The route is owned once, when first seen; every later request only looks it up.
        let Some(stats) = self.routes.get_or_insert(route, str::to_owned) else {
            return;
        };
        let status = status.as_u16();
        if let Some(count) = stats.statuses.get_or_insert(&status, |status| *status) {
            count.fetch_add(1, Ordering::Relaxed);
        }
        stats.latency.observe(elapsed);
    }

    /// The metrics in the Prometheus text format 0.0.4, without the outbox gauges.
    pub fn render(&self) -> String {
        self.render_parts(None)
    }

    /// The metrics in the Prometheus text format 0.0.4, with the outbox gauges from `outbox`
    /// (the store's summary) and the age of its oldest pending entry at `now`.
    pub fn render_with_outbox(&self, outbox: &OutboxSummary, now: DateTime<Utc>) -> String {
        self.render_parts(Some((outbox, now)))
    }

    fn render_parts(&self, outbox: Option<(&OutboxSummary, DateTime<Utc>)>) -> String {
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
        self.render_outbox(&mut out, outbox);
        family(
            &mut out,
            "wardgate_http_requests_total",
            "counter",
            "HTTP requests by route template and status.",
        );
        let routes = self.routes.sorted();
        for &(route, stats) in &routes {
            for (status, value) in stats.statuses.sorted() {
                sample(
                    &mut out,
                    "wardgate_http_requests_total",
                    &[("route", route), ("status", &status.to_string())],
                    value.load(Ordering::Relaxed),
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
        for &(route, stats) in &routes {
            stats
                .latency
                .render(&mut out, "wardgate_http_request_duration_seconds", route);
        }
        out
    }

    fn render_outbox(&self, out: &mut String, outbox: Option<(&OutboxSummary, DateTime<Utc>)>) {
        family(
            out,
            "wardgate_outbox_deliveries_total",
            "counter",
            "Delivery attempts of this instance's outbox worker by outcome.",
        );
        for (outcome, value) in self.outbox_deliveries.snapshot() {
            sample(
                out,
                "wardgate_outbox_deliveries_total",
                &[("outcome", outcome)],
                value,
            );
        }
        family(
            out,
            "wardgate_outbox_summary_errors_total",
            "counter",
            "Scrapes that could not read the outbox from the store; those scrapes leave out \
             wardgate_outbox_pending, wardgate_outbox_parked and \
             wardgate_outbox_oldest_pending_seconds.",
        );
        sample(
            out,
            "wardgate_outbox_summary_errors_total",
            &[],
            self.outbox_summary_errors.load(Ordering::Relaxed),
        );
        let Some((summary, now)) = outbox else {
            return;
        };
        // Whole seconds; negative ages (a clock behind the one that queued) are zero.
        let oldest = u64::try_from(summary.oldest_pending_age(now).num_seconds()).unwrap_or(0);
        for (name, help, value) in [
            (
                "wardgate_outbox_pending",
                "Outbox entries waiting for delivery to the back office, read from the store \
                 (all instances).",
                summary.pending,
            ),
            (
                "wardgate_outbox_parked",
                "Outbox entries the back office refused for good, read from the store (all \
                 instances); an officer must act.",
                summary.parked,
            ),
            (
                "wardgate_outbox_oldest_pending_seconds",
                "Age of the oldest outbox entry waiting for delivery, read from the store (all \
                 instances); 0 when none waits.",
                oldest,
            ),
        ] {
            family(out, name, "gauge", help);
            sample(out, name, &[], value);
        }
    }

    /// A `200` response carrying [`render`](Self::render)'s output, for `GET /metrics`.
    pub fn response(&self) -> Response {
        text_response(self.render())
    }

    /// A `200` response carrying [`render_with_outbox`](Self::render_with_outbox)'s output.
    pub fn response_with_outbox(&self, outbox: &OutboxSummary, now: DateTime<Utc>) -> Response {
        text_response(self.render_with_outbox(outbox, now))
    }
}

impl DeliveryObserver for Metrics {
    fn delivery_attempted(&self, outcome: DeliveryOutcome) {
        self.record_outbox_delivery(outcome);
    }
}

fn text_response(text: String) -> Response {
    (
        [(CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE_TEXT))],
        text,
    )
        .into_response()
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

/// The tower layer doing what [`metrics_middleware`] does, without its costs per request: the
/// middleware clones the rest of the stack into a boxed service and boxes its future; this
/// layer calls the inner service in place and wraps its future.
///
/// Put it where [`MatchedPath`] is set: through [`Router::layer`](axum::Router::layer).
///
/// ```
/// use std::sync::Arc;
/// use axum::{Router, routing::get};
/// use wardgate::portal::metrics::{Metrics, MetricsLayer};
///
/// let metrics = Arc::new(Metrics::new());
/// let router: Router = Router::new()
///     .route("/healthz", get(|| async { "ok" }))
///     .layer(MetricsLayer::new(metrics.clone()));
/// # let _ = router;
/// ```
#[derive(Clone, Debug)]
pub struct MetricsLayer {
    metrics: Arc<Metrics>,
}

impl MetricsLayer {
    /// The layer recording into `metrics`.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self { metrics }
    }
}

impl<S> Layer<S> for MetricsLayer {
    type Service = MetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        MetricsService {
            inner,
            metrics: Arc::clone(&self.metrics),
        }
    }
}

/// The service of a [`MetricsLayer`].
#[derive(Clone, Debug)]
pub struct MetricsService<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

impl<S, B, ResBody> Service<http::Request<B>> for MetricsService<S>
where
    S: Service<http::Request<B>, Response = http::Response<ResBody>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = MetricsFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        // A shared handle on the template (no copy of the text per request).
        let route = request.extensions().get::<MatchedPath>().cloned();
        let recording = Recording::start(Arc::clone(&self.metrics), route);
        MetricsFuture {
            inner: self.inner.call(request),
            recording: Some(recording),
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of a [`MetricsService`]: records the request when its answer is ready.
    #[derive(Debug)]
    pub struct MetricsFuture<F> {
        #[pin]
        inner: F,
        recording: Option<Recording>,
    }
}

impl<F, ResBody, E> Future for MetricsFuture<F>
where
    F: Future<Output = Result<http::Response<ResBody>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let answer = std::task::ready!(this.inner.poll(cx));
        if let (Ok(response), Some(recording)) = (&answer, this.recording.take()) {
            recording.finish(response.status());
        }
        Poll::Ready(answer)
    }
}

/// A request being recorded: in flight until finished or dropped (a client that went away).
#[derive(Debug)]
struct Recording {
    metrics: Arc<Metrics>,
    route: Option<MatchedPath>,
    started: Instant,
}

impl Recording {
    fn start(metrics: Arc<Metrics>, route: Option<MatchedPath>) -> Self {
        metrics.in_flight.fetch_add(1, Ordering::Relaxed);
        Self {
            metrics,
            route,
            started: Instant::now(),
        }
    }

    fn finish(self, status: StatusCode) {
        let route = self
            .route
            .as_ref()
            .map_or(UNMATCHED_ROUTE, MatchedPath::as_str);
        self.metrics
            .record_request(route, status, self.started.elapsed());
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        self.metrics.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
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
    series: SeriesTable<K, AtomicU64>,
}

impl<K> Default for Counter<K> {
    fn default() -> Self {
        Self {
            series: SeriesTable::with_capacity(MAX_SERIES_PER_FAMILY),
        }
    }
}

impl<K: Ord + Hash + Clone> Counter<K> {
    fn increment(&self, key: K) {
        if let Some(count) = self.series.get_or_insert(&key, K::clone) {
            count.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Every series and its value, sorted by labels.
    fn snapshot(&self) -> Vec<(K, u64)> {
        self.series
            .sorted()
            .into_iter()
            .map(|(key, value)| (key.clone(), value.load(Ordering::Relaxed)))
            .collect()
    }
}

/// What is recorded per route template.
#[derive(Debug)]
struct RouteStats {
    statuses: SeriesTable<u16, AtomicU64>,
    latency: Histogram,
}

impl Default for RouteStats {
    fn default() -> Self {
        Self {
            statuses: SeriesTable::with_capacity(MAX_STATUSES_PER_ROUTE),
            latency: Histogram::default(),
        }
    }
}

/// A latency histogram: per-bucket counts (not cumulative; the last one is above every bound)
/// and the sum in nanoseconds.
///
/// The count is the sum of the buckets when rendered, so `+Inf` always equals `_count` and is
/// never below a finite bucket, even while requests are recorded during a scrape.
#[derive(Debug, Default)]
struct Histogram {
    buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

impl Histogram {
    fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let index = LATENCY_BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(LATENCY_BUCKETS.len());
        if let Some(bucket) = self.buckets.get(index) {
            bucket.fetch_add(1, Ordering::Relaxed);
        }
        // 2^64 ns is 584 years of summed latency; saturate rather than wrap beyond it.
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, route: &str) {
        let bucket_name = format!("{name}_bucket");
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|bucket| bucket.load(Ordering::Relaxed))
            .collect();
        let mut cumulative = 0;
        for (bound, count) in LATENCY_BUCKETS.iter().zip(&counts) {
            cumulative += count;
            sample(
                out,
                &bucket_name,
                &[("route", route), ("le", &bound.to_string())],
                cumulative,
            );
        }
        let total: u64 = counts.iter().sum();
        sample(
            out,
            &bucket_name,
            &[("route", route), ("le", "+Inf")],
            total,
        );
        // Nanoseconds to seconds, exactly enough for a latency sum.
        #[expect(
            clippy::cast_precision_loss,
            reason = "a latency sum needs no more than f64 precision"
        )]
        let seconds = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(
            out,
            "{name}_sum{{route=\"{}\"}} {seconds}",
            escape_label(route)
        );
        sample(out, &format!("{name}_count"), &[("route", route)], total);
    }
}

/// A fixed-size, insert-only hash table of series: lookups are one atomic load per probed slot,
/// and a slot, once written, never changes, so a reference to a series stays valid and no lock is
/// needed. Open addressing with linear probing; when every slot holds another key, a new key is
/// not stored (`get_or_insert` returns `None`).
struct SeriesTable<K, V> {
    slots: Box<[OnceLock<(K, V)>]>,
}

impl<K, V> SeriesTable<K, V> {
    fn with_capacity(capacity: usize) -> Self {
        Self {
            slots: (0..capacity.max(1)).map(|_| OnceLock::new()).collect(),
        }
    }
}

impl<K: Hash + Eq, V: Default> SeriesTable<K, V> {
    /// The series for `key`, created (with `to_owned(key)` as its key) the first time.
    fn get_or_insert<Q>(&self, key: &Q, to_owned: impl Fn(&Q) -> K) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let len = self.slots.len();
        let start = slot_index(key, len);
        for offset in 0..len {
            let slot = self.slots.get((start + offset) % len)?;
            let (slot_key, value) = match slot.get() {
                Some(entry) => entry,
                // Empty: claim it; if another thread claimed it first, this is its entry.
                None => slot.get_or_init(|| (to_owned(key), V::default())),
            };
            if slot_key.borrow() == key {
                return Some(value);
            }
        }
        None
    }
}

impl<K: Ord, V> SeriesTable<K, V> {
    /// Every series, sorted by key (the exposition order).
    fn sorted(&self) -> Vec<(&K, &V)> {
        let mut entries: Vec<(&K, &V)> = self
            .slots
            .iter()
            .filter_map(|slot| slot.get().map(|(key, value)| (key, value)))
            .collect();
        entries.sort_unstable_by_key(|&(key, _)| key);
        entries
    }
}

impl<K: fmt::Debug, V: fmt::Debug> fmt::Debug for SeriesTable<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(
                self.slots
                    .iter()
                    .filter_map(OnceLock::get)
                    .map(|(k, v)| (k, v)),
            )
            .finish()
    }
}

/// The home slot of `key`: FNV-1a, enough to spread a few dozen fixed label sets.
fn slot_index<Q: Hash + ?Sized>(key: &Q, len: usize) -> usize {
    let mut hasher = Fnv1a::default();
    key.hash(&mut hasher);
    // The remainder is below `len`, so it fits a usize.
    let len = u64::try_from(len.max(1)).unwrap_or(u64::MAX);
    usize::try_from(hasher.finish() % len).unwrap_or(0)
}

struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv1a {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
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
