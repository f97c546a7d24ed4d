//! A circuit breaker for calls to an identity provider: see [`CircuitBreaker`].

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};

use super::transport::{BoxFuture, HttpClient, HttpError};
use crate::clock::Clock;

/// When a [`CircuitBreaker`] opens, how long it stays open, and how long a call may take.
#[derive(Clone, Copy, Debug)]
pub struct BreakerConfig {
    failure_threshold: u32,
    cool_down: Duration,
    call_timeout: StdDuration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl BreakerConfig {
    /// Opens after 3 consecutive failures, stays open 30 s, bounds each call to 10 s.
    pub fn new() -> Self {
        Self {
            failure_threshold: 3,
            cool_down: Duration::seconds(30),
            call_timeout: StdDuration::from_secs(10),
        }
    }

    /// Opens the circuit after `failures` consecutive failures (at least 1).
    #[must_use]
    pub fn failure_threshold(mut self, failures: u32) -> Self {
        self.failure_threshold = failures.max(1);
        self
    }

    /// How long the circuit stays open before one probe call is let through.
    #[must_use]
    pub fn cool_down(mut self, cool_down: Duration) -> Self {
        self.cool_down = cool_down.max(Duration::zero());
        self
    }

    /// The longest a single call may take, whatever the wrapped client does; a call cut short
    /// fails with [`HttpError::Timeout`] and counts as a failure.
    #[must_use]
    pub fn call_timeout(mut self, timeout: StdDuration) -> Self {
        self.call_timeout = timeout;
        self
    }
}

/// The state of a [`CircuitBreaker`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CircuitState {
    /// Calls go through.
    Closed,
    /// Calls fail at once; the provider is considered down.
    Open,
    /// The cool-down has passed: the next call probes the provider.
    HalfOpen,
}

impl CircuitState {
    /// A stable code: `closed`, `open` or `half_open`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Phase {
    Closed,
    Open { since: DateTime<Utc> },
    HalfOpen { probing: bool },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LastOutcome {
    None,
    Success(DateTime<Utc>),
    Failure,
}

#[derive(Debug)]
struct Machine {
    phase: Phase,
    consecutive_failures: u32,
    last: LastOutcome,
    /// Until when the provider asked to be left alone (`429` with `Retry-After`).
    backoff_until: Option<DateTime<Utc>>,
}

/// How long a `429` without a usable `Retry-After` asks us to back off.
const DEFAULT_BACKOFF: Duration = Duration::seconds(5);
/// The longest back-off a provider's `Retry-After` can impose.
const MAX_BACKOFF: Duration = Duration::seconds(60);

/// The back-off a `Retry-After` value asks for (RFC 9110 §10.2.3: delay-seconds or an
/// HTTP-date), within `0..=MAX_BACKOFF`; the default when absent or unreadable.
fn retry_after(value: Option<&http::HeaderValue>, now: DateTime<Utc>) -> Duration {
    let Some(text) = value.and_then(|v| v.to_str().ok()).map(str::trim) else {
        return DEFAULT_BACKOFF;
    };
    let asked = if let Ok(seconds) = text.parse::<u32>() {
        Duration::seconds(i64::from(seconds))
    } else if let Ok(date) = DateTime::parse_from_rfc2822(text) {
        date.with_timezone(&Utc) - now
    } else {
        DEFAULT_BACKOFF
    };
    asked.clamp(Duration::zero(), MAX_BACKOFF)
}

struct Shared {
    config: BreakerConfig,
    clock: Arc<dyn Clock>,
    machine: Mutex<Machine>,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("config", &self.config)
            .field("machine", &*self.lock())
            .finish()
    }
}

/// Whether a call may go out, and whether it is the half-open probe.
enum Admission {
    Call,
    Probe,
    Refused,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Machine> {
        self.machine.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn state(&self) -> CircuitState {
        let now = self.clock.now();
        match self.lock().phase {
            Phase::Closed => CircuitState::Closed,
            Phase::Open { since } if now - since < self.config.cool_down => CircuitState::Open,
            Phase::Open { .. } | Phase::HalfOpen { .. } => CircuitState::HalfOpen,
        }
    }

    fn admit(&self) -> Admission {
        let now = self.clock.now();
        let mut machine = self.lock();
        match machine.phase {
            Phase::Closed => Admission::Call,
            Phase::Open { since } if now - since < self.config.cool_down => Admission::Refused,
            Phase::Open { .. } | Phase::HalfOpen { probing: false } => {
                machine.phase = Phase::HalfOpen { probing: true };
                Admission::Probe
            }
            Phase::HalfOpen { probing: true } => Admission::Refused,
        }
    }

    fn record(&self, success: bool, host: &str) {
        let now = self.clock.now();
        let mut machine = self.lock();
        if success {
            if !matches!(machine.phase, Phase::Closed) {
                tracing::info!(host, "identity provider answers again: circuit closed");
            }
            machine.phase = Phase::Closed;
            machine.consecutive_failures = 0;
            machine.last = LastOutcome::Success(now);
            return;
        }
        machine.consecutive_failures = machine.consecutive_failures.saturating_add(1);
        machine.last = LastOutcome::Failure;
        let open = match machine.phase {
            Phase::Closed => machine.consecutive_failures >= self.config.failure_threshold,
            Phase::HalfOpen { .. } => true,
            Phase::Open { .. } => false,
        };
        if open {
            tracing::warn!(
                host,
                failures = machine.consecutive_failures,
                "identity provider failing: circuit open"
            );
            machine.phase = Phase::Open { since: now };
        }
    }

    /// The provider answered `429`: it is up and busy. Not a failure (load from anonymous
    /// users must not open the circuit for everyone); optional calls wait until `until`.
    fn record_rate_limited(&self, until: DateTime<Utc>, host: &str) {
        let mut machine = self.lock();
        if !matches!(machine.phase, Phase::Closed) {
            tracing::info!(
                host,
                "identity provider answers again (rate-limited): circuit closed"
            );
        }
        machine.phase = Phase::Closed;
        machine.consecutive_failures = 0;
        machine.backoff_until = Some(until);
    }

    fn backing_off(&self) -> bool {
        let now = self.clock.now();
        matches!(self.lock().backoff_until, Some(until) if now < until)
    }

    /// A probe that ended without a result (its future was dropped) lets the next call probe.
    fn abandon_probe(&self) {
        let mut machine = self.lock();
        if let Phase::HalfOpen { probing: true } = machine.phase {
            machine.phase = Phase::HalfOpen { probing: false };
        }
    }
}

/// Resets the half-open probe flag if the probing call is dropped before it finishes.
struct ProbeGuard<'a> {
    shared: &'a Shared,
    armed: bool,
}

impl Drop for ProbeGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.shared.abandon_probe();
        }
    }
}

/// A circuit breaker for calls to an identity provider: bounded waits while it is slow, fast
/// failures while it is down, and a single probe to notice when it is back.
///
/// [`CircuitBreaker`] wraps any [`HttpClient`] and is one itself, so it slots in wherever a
/// relying party takes a client. Each call is bounded by a timeout; after a number of
/// consecutive failures the circuit *opens* and calls fail at once with
/// [`HttpError::CircuitOpen`] instead of holding a resident's request for the whole timeout.
/// After a cool-down the circuit is *half-open*: the next call goes through as a probe, and its
/// result closes or re-opens the circuit. A [`CircuitMonitor`] reads the state for readiness
/// probes and for deciding whether to send a resident to the provider at all.
///
/// What counts as a failure: no answer (timeout, refused or broken connection, transport
/// error) or an answer saying the provider is unavailable (5xx). Any other answer, even an
/// error or an oversized one, shows the provider is up; such answers are refused elsewhere.
/// A `429 Too Many Requests` is not a failure either: the provider is up and asks its clients
/// to slow down, for the `Retry-After` it gives (5 s without one, at most 60 s). A flood of
/// anonymous sign-in starts must not open the circuit for every resident; instead
/// [`CircuitMonitor::backing_off`] tells optional callers (readiness probes) to wait.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use wardgate::SystemClock;
/// use wardgate::oidc::{BreakerConfig, CircuitBreaker, CircuitState, ReqwestHttp};
///
/// let config = BreakerConfig::new()
///     .failure_threshold(3)
///     .cool_down(chrono::Duration::seconds(30))
///     .call_timeout(Duration::from_secs(10));
/// let breaker = CircuitBreaker::new(ReqwestHttp::new()?, config, Arc::new(SystemClock));
/// let monitor = breaker.monitor();
/// assert_eq!(monitor.state(), CircuitState::Closed);
/// // Give `breaker` to `RelyingParty::discover`, `monitor` to the readiness probe.
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct CircuitBreaker<H> {
    inner: H,
    shared: Arc<Shared>,
}

impl<H> fmt::Debug for CircuitBreaker<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.shared.fmt(f)
    }
}

impl<H: HttpClient> CircuitBreaker<H> {
    /// Wraps `inner`; `clock` times the cool-down.
    pub fn new(inner: H, config: BreakerConfig, clock: Arc<dyn Clock>) -> Self {
        Self {
            inner,
            shared: Arc::new(Shared {
                config,
                clock,
                machine: Mutex::new(Machine {
                    phase: Phase::Closed,
                    consecutive_failures: 0,
                    last: LastOutcome::None,
                    backoff_until: None,
                }),
            }),
        }
    }

    /// A handle that reads this breaker's state; it stays valid after the breaker is moved
    /// into a relying party.
    pub fn monitor(&self) -> CircuitMonitor {
        CircuitMonitor {
            shared: Arc::clone(&self.shared),
        }
    }

    async fn call(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, HttpError> {
        let host = request.uri().host().unwrap_or_default().to_owned();
        let mut guard = match self.shared.admit() {
            Admission::Refused => return Err(HttpError::CircuitOpen { host }),
            Admission::Call => ProbeGuard {
                shared: &self.shared,
                armed: false,
            },
            Admission::Probe => ProbeGuard {
                shared: &self.shared,
                armed: true,
            },
        };
        let result =
            tokio::time::timeout(self.shared.config.call_timeout, self.inner.execute(request))
                .await
                .unwrap_or_else(|_| Err(HttpError::Timeout { host: host.clone() }));
        guard.armed = false;
        let success = match &result {
            Ok(response) if response.status() == http::StatusCode::TOO_MANY_REQUESTS => {
                let now = self.shared.clock.now();
                let wait = retry_after(response.headers().get(http::header::RETRY_AFTER), now);
                self.shared.record_rate_limited(now + wait, &host);
                return result;
            }
            Ok(response) => !response.status().is_server_error(),
            Err(HttpError::TooLarge { .. }) => true,
            Err(_) => false,
        };
        self.shared.record(success, &host);
        result
    }
}

impl<H: HttpClient> HttpClient for CircuitBreaker<H> {
    fn execute(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> BoxFuture<'_, Result<http::Response<Vec<u8>>, HttpError>> {
        Box::pin(self.call(request))
    }
}

/// Reads the state of a [`CircuitBreaker`]. Cheap to clone.
#[derive(Clone)]
pub struct CircuitMonitor {
    shared: Arc<Shared>,
}

impl fmt::Debug for CircuitMonitor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.shared.fmt(f)
    }
}

impl CircuitMonitor {
    /// The state now: an open circuit whose cool-down has passed reads as
    /// [`HalfOpen`](CircuitState::HalfOpen).
    pub fn state(&self) -> CircuitState {
        self.shared.state()
    }

    /// The time on the clock that times this breaker (the gate spaces provider probes on it).
    #[cfg(feature = "axum")]
    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.shared.clock.now()
    }

    /// Whether the provider asked, with a `429` and its `Retry-After`, to be left alone until
    /// a moment not yet reached. The provider is up: residents may still be sent to it, but
    /// nothing optional (a readiness probe) should call it now.
    pub fn backing_off(&self) -> bool {
        self.shared.backing_off()
    }

    /// Whether the circuit is closed and the last call, made within `window`, succeeded: the
    /// provider is known to answer without asking it again.
    pub fn answered_within(&self, window: Duration) -> bool {
        let now = self.shared.clock.now();
        let machine = self.shared.lock();
        matches!(machine.phase, Phase::Closed)
            && matches!(machine.last, LastOutcome::Success(at) if now - at <= window)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use chrono::TimeZone as _;

    use super::*;
    use crate::clock::FixedClock;

    /// A client answering from a script: `Ok(status)` or a transport error; `None` never
    /// answers.
    #[derive(Clone)]
    struct Scripted {
        answer: Arc<Mutex<Option<Result<u16, ()>>>>,
        calls: Arc<AtomicUsize>,
    }

    impl Scripted {
        fn new(answer: Option<Result<u16, ()>>) -> Self {
            Self {
                answer: Arc::new(Mutex::new(answer)),
                calls: Arc::new(AtomicUsize::new(0)),
            }
        }

        fn set(&self, answer: Option<Result<u16, ()>>) {
            *self.answer.lock().unwrap_or_else(PoisonError::into_inner) = answer;
        }

        fn calls(&self) -> usize {
            self.calls.load(Ordering::SeqCst)
        }
    }

    impl HttpClient for Scripted {
        fn execute(
            &self,
            _request: http::Request<Vec<u8>>,
        ) -> BoxFuture<'_, Result<http::Response<Vec<u8>>, HttpError>> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let answer = *self.answer.lock().unwrap_or_else(PoisonError::into_inner);
            Box::pin(async move {
                match answer {
                    Some(Ok(status)) => Ok(http::Response::builder()
                        .status(status)
                        .body(Vec::new())
                        .unwrap_or_default()),
                    Some(Err(())) => Err(HttpError::Connect {
                        host: "idp.example".into(),
                        source: "refused".into(),
                    }),
                    None => std::future::pending().await,
                }
            })
        }
    }

    fn request() -> http::Request<Vec<u8>> {
        http::Request::get("https://idp.example/.well-known/openid-configuration")
            .body(Vec::new())
            .unwrap_or_default()
    }

    fn setup(
        answer: Option<Result<u16, ()>>,
    ) -> (CircuitBreaker<Scripted>, Scripted, Arc<FixedClock>) {
        let start = Utc
            .with_ymd_and_hms(2026, 11, 25, 8, 0, 0)
            .single()
            .unwrap_or_default();
        let clock = Arc::new(FixedClock::new(start));
        let client = Scripted::new(answer);
        let config = BreakerConfig::new()
            .failure_threshold(2)
            .cool_down(Duration::seconds(30))
            .call_timeout(StdDuration::from_millis(50));
        let breaker = CircuitBreaker::new(client.clone(), config, clock.clone());
        (breaker, client, clock)
    }

    #[tokio::test]
    async fn opens_after_consecutive_failures_and_then_fails_fast() {
        let (breaker, client, _) = setup(Some(Err(())));
        let monitor = breaker.monitor();
        assert!(matches!(
            breaker.execute(request()).await,
            Err(HttpError::Connect { .. })
        ));
        assert_eq!(monitor.state(), CircuitState::Closed);
        assert!(matches!(
            breaker.execute(request()).await,
            Err(HttpError::Connect { .. })
        ));
        assert_eq!(monitor.state(), CircuitState::Open);
        let refused = breaker.execute(request()).await;
        assert!(
            matches!(&refused, Err(HttpError::CircuitOpen { host }) if host == "idp.example"),
            "{refused:?}"
        );
        assert_eq!(
            client.calls(),
            2,
            "an open circuit does not call the provider"
        );
    }

    #[tokio::test]
    async fn server_errors_and_timeouts_count_as_failures_other_answers_do_not() {
        let (breaker, client, _) = setup(Some(Ok(503)));
        let monitor = breaker.monitor();
        let answered = breaker.execute(request()).await;
        assert_eq!(answered.map(|r| r.status().as_u16()).ok(), Some(503));
        client.set(Some(Ok(400)));
        breaker.execute(request()).await.ok();
        // The 400 reset the count: one more failure does not open.
        client.set(None);
        assert!(matches!(
            breaker.execute(request()).await,
            Err(HttpError::Timeout { .. })
        ));
        assert_eq!(monitor.state(), CircuitState::Closed);
        client.set(Some(Ok(500)));
        breaker.execute(request()).await.ok();
        assert_eq!(monitor.state(), CircuitState::Open);
    }

    /// Answers `429` with the given `Retry-After`, counting calls.
    struct RateLimited {
        retry_after: Option<&'static str>,
        calls: AtomicUsize,
    }

    impl HttpClient for RateLimited {
        fn execute(
            &self,
            _request: http::Request<Vec<u8>>,
        ) -> BoxFuture<'_, Result<http::Response<Vec<u8>>, HttpError>> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let mut response = http::Response::builder().status(429);
            if let Some(value) = self.retry_after {
                response = response.header(http::header::RETRY_AFTER, value);
            }
            Box::pin(async move { Ok(response.body(Vec::new()).unwrap_or_default()) })
        }
    }

    #[tokio::test]
    async fn too_many_requests_backs_off_for_retry_after_and_never_opens_the_circuit() {
        let (_, _, clock) = setup(None);
        let config = BreakerConfig::new().failure_threshold(2);
        for (retry_after, backoff) in [
            (Some("7"), Duration::seconds(7)),
            (None, DEFAULT_BACKOFF),
            (Some("soon"), DEFAULT_BACKOFF),
            (Some("86400"), MAX_BACKOFF),
            (Some("Wed, 25 Nov 2026 08:00:20 GMT"), Duration::seconds(20)),
        ] {
            let client = RateLimited {
                retry_after,
                calls: AtomicUsize::new(0),
            };
            let breaker = CircuitBreaker::new(client, config, clock.clone());
            let monitor = breaker.monitor();
            let start = clock.now();
            for _ in 0..50 {
                let answer = breaker.execute(request()).await;
                assert_eq!(answer.map(|r| r.status().as_u16()).ok(), Some(429));
            }
            assert_eq!(
                breaker.inner.calls.load(Ordering::SeqCst),
                50,
                "never refused"
            );
            assert_eq!(monitor.state(), CircuitState::Closed, "{retry_after:?}");
            assert!(monitor.backing_off(), "{retry_after:?}");
            clock.advance(backoff - Duration::seconds(1));
            assert!(monitor.backing_off(), "{retry_after:?}");
            clock.advance(Duration::seconds(1));
            assert!(!monitor.backing_off(), "{retry_after:?}");
            clock.set(start);
        }
    }

    #[tokio::test]
    async fn half_open_probe_closes_on_success_and_reopens_on_failure() {
        let (breaker, client, clock) = setup(Some(Err(())));
        let monitor = breaker.monitor();
        for _ in 0..2 {
            breaker.execute(request()).await.ok();
        }
        assert_eq!(monitor.state(), CircuitState::Open);
        clock.advance(Duration::seconds(31));
        assert_eq!(monitor.state(), CircuitState::HalfOpen);
        // The probe fails: open again for a whole cool-down.
        assert!(matches!(
            breaker.execute(request()).await,
            Err(HttpError::Connect { .. })
        ));
        assert_eq!(monitor.state(), CircuitState::Open);
        clock.advance(Duration::seconds(29));
        assert!(matches!(
            breaker.execute(request()).await,
            Err(HttpError::CircuitOpen { .. })
        ));
        clock.advance(Duration::seconds(2));
        client.set(Some(Ok(200)));
        assert!(breaker.execute(request()).await.is_ok());
        assert_eq!(monitor.state(), CircuitState::Closed);
        assert!(monitor.answered_within(Duration::seconds(1)));
        assert_eq!(client.calls(), 4);
    }

    #[tokio::test]
    async fn one_probe_at_a_time_and_a_dropped_probe_frees_the_next() {
        let (breaker, client, clock) = setup(Some(Err(())));
        for _ in 0..2 {
            breaker.execute(request()).await.ok();
        }
        clock.advance(Duration::seconds(31));
        client.set(None);
        let breaker = Arc::new(breaker);
        let probe = {
            let breaker = Arc::clone(&breaker);
            tokio::spawn(async move { breaker.execute(request()).await.is_ok() })
        };
        tokio::task::yield_now().await;
        // While the probe is out, other calls fail fast.
        while client.calls() < 3 {
            tokio::task::yield_now().await;
        }
        assert!(matches!(
            breaker.execute(request()).await,
            Err(HttpError::CircuitOpen { .. })
        ));
        probe.abort();
        let _ = probe.await;
        client.set(Some(Ok(200)));
        assert!(breaker.execute(request()).await.is_ok());
        assert_eq!(breaker.monitor().state(), CircuitState::Closed);
    }

    #[tokio::test]
    async fn freshness_needs_a_recent_success_and_a_closed_circuit() {
        let (breaker, client, clock) = setup(Some(Ok(200)));
        let monitor = breaker.monitor();
        assert!(
            !monitor.answered_within(Duration::seconds(10)),
            "never called"
        );
        breaker.execute(request()).await.ok();
        assert!(monitor.answered_within(Duration::seconds(10)));
        clock.advance(Duration::seconds(11));
        assert!(!monitor.answered_within(Duration::seconds(10)));
        client.set(Some(Err(())));
        breaker.execute(request()).await.ok();
        assert!(
            !monitor.answered_within(Duration::minutes(5)),
            "last call failed"
        );
    }
}
