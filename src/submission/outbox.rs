//! The outbox worker: forwards hand-off envelopes to the ward's back office over HTTP, with
//! retries and exponential backoff, exactly once per dossier as far as the back office dedups on
//! the `Idempotency-Key` header.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use url::Url;

use super::DossierSealer;
use crate::clock::{Clock, Random};
use crate::oidc::{HttpClient, HttpError};
use crate::store::{OutboxEntry, Store, StoreError};

/// Longest wait between two attempts, before jitter.
const MAX_BACKOFF_SECONDS: i64 = 3600;
/// How long a claimed entry stays hidden from other workers.
const DEFAULT_LEASE_SECONDS: i64 = 300;
/// Entries claimed per round.
const DEFAULT_BATCH: usize = 32;

/// The wait after the `attempts`-th failure: `2^attempts` seconds capped at one hour, plus a
/// jitter of up to a quarter of that (from `random`), so that many gateways retrying a back
/// office that comes back do not hit it in step.
pub fn backoff(attempts: u32, random: &dyn Random) -> Duration {
    let base = 2_i64
        .checked_pow(attempts)
        .unwrap_or(MAX_BACKOFF_SECONDS)
        .min(MAX_BACKOFF_SECONDS);
    let base_ms = base * 1000;
    let mut bytes = [0u8; 8];
    let jitter_ms = match random.fill(&mut bytes) {
        Ok(()) => (u64::from_le_bytes(bytes) % (base_ms as u64 / 4 + 1)) as i64,
        Err(_) => 0,
    };
    Duration::milliseconds(base_ms + jitter_ms)
}

/// What one round of [`Outbox::run_once`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeliveryReport {
    /// Envelopes the back office acknowledged (2xx).
    pub delivered: u32,
    /// Envelopes that failed for now (5xx, 408, 409, 429, timeouts, connection errors) and were
    /// rescheduled.
    pub retried: u32,
    /// Envelopes the back office refused for good (other 4xx) and were parked.
    pub parked: u32,
}

/// What one delivery attempt ended in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DeliveryOutcome {
    /// The back office acknowledged the envelope.
    Delivered,
    /// It failed for now and was rescheduled.
    Retry,
    /// It was refused for good (or could not be opened or sent) and was parked.
    Parked,
}

impl DeliveryOutcome {
    /// The stable snake_case name (a metrics label).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Retry => "retry",
            Self::Parked => "parked",
        }
    }
}

/// Told what each delivery attempt of an [`Outbox`] ended in, once its outcome is stored: the
/// portal's metrics count them (`wardgate_outbox_deliveries_total`). Called on the worker's
/// task, so it must return at once.
pub trait DeliveryObserver: Send + Sync {
    /// One attempt ended in `outcome`.
    fn delivery_attempted(&self, outcome: DeliveryOutcome);
}

/// Forwards pending hand-off envelopes from the store to the back office.
///
/// Envelopes are stored sealed ([`DossierSealer::seal_handoff`]); each is opened just before it
/// is sent, and one that does not open (tampered, moved, or sealed under another key) is parked
/// at once with a reason that carries no content. Each envelope is POSTed as `{"envelope": "<compact JWS>"}` with the header
/// `Idempotency-Key: <dossier code>`, the same on every attempt. A 2xx marks it delivered; 408,
/// 409 (an earlier attempt with this key is still being processed), 429, 5xx and transport
/// errors reschedule it with [`backoff`]; any other status parks it (no endless retries of a
/// request the back office will never accept). Entries are claimed under a lease, so several
/// gateway instances can run workers on one store, and a worker that dies mid-round loses
/// nothing: the entries become due again when the lease ends.
pub struct Outbox {
    store: Arc<dyn Store>,
    http: Arc<dyn HttpClient>,
    endpoint: Url,
    sealer: Arc<DossierSealer>,
    clock: Arc<dyn Clock>,
    random: Arc<dyn Random>,
    batch: usize,
    lease: Duration,
    observer: Option<Arc<dyn DeliveryObserver>>,
}

impl fmt::Debug for Outbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outbox")
            .field("store", &self.store)
            .field("endpoint", &self.endpoint.as_str())
            .field("batch", &self.batch)
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

impl Outbox {
    /// A worker sending to the back office at `endpoint` through `http` (use
    /// [`ReqwestHttp`](crate::oidc::ReqwestHttp): timeouts, no redirects, size limits), opening
    /// the sealed envelopes with `sealer` (the one the [`Submitter`](super::Submitter) seals
    /// with).
    pub fn new(
        store: Arc<dyn Store>,
        http: Arc<dyn HttpClient>,
        endpoint: Url,
        sealer: Arc<DossierSealer>,
        clock: Arc<dyn Clock>,
        random: Arc<dyn Random>,
    ) -> Self {
        Self {
            store,
            http,
            endpoint,
            sealer,
            clock,
            random,
            batch: DEFAULT_BATCH,
            lease: Duration::seconds(DEFAULT_LEASE_SECONDS),
            observer: None,
        }
    }

    /// Sets how many entries one round claims (default 32, at least 1).
    #[must_use]
    pub fn batch_size(mut self, batch: usize) -> Self {
        self.batch = batch.max(1);
        self
    }

    /// Sets how long claimed entries stay hidden from other workers (default 5 minutes; keep
    /// it well above the HTTP client's timeout times the batch size).
    #[must_use]
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// Tells `observer` what each delivery attempt ended in (none unless set).
    #[must_use]
    pub fn observer(mut self, observer: Arc<dyn DeliveryObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Sends the entries due at `now`, once each.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the store fails; entries already handled stay handled, the others
    /// become due again when their lease ends.
    pub async fn run_once(&self, now: DateTime<Utc>) -> Result<DeliveryReport, StoreError> {
        let entries = self
            .store
            .due_outbox(now, now + self.lease, self.batch)
            .await?;
        let mut report = DeliveryReport::default();
        for entry in entries {
            let outcome = self.deliver(&entry).await?;
            match outcome {
                DeliveryOutcome::Delivered => report.delivered += 1,
                DeliveryOutcome::Retry => report.retried += 1,
                DeliveryOutcome::Parked => report.parked += 1,
            }
            if let Some(observer) = &self.observer {
                observer.delivery_attempted(outcome);
            }
        }
        Ok(report)
    }

    /// Sends one entry and stores what came of it.
    async fn deliver(&self, entry: &OutboxEntry) -> Result<DeliveryOutcome, StoreError> {
        let code = entry.dossier_code;
        let attempts = entry.attempts.saturating_add(1);
        let envelope = match self.sealer.open_handoff(code, &entry.envelope) {
            Ok(envelope) => envelope,
            Err(error) => {
                tracing::error!(dossier_code = %code, %error, "stored envelope cannot be opened; parked");
                self.store
                    .park(&code, attempts, "the sealed envelope could not be opened")
                    .await?;
                return Ok(DeliveryOutcome::Parked);
            }
        };
        let outcome = match self.request(entry, &envelope) {
            Some(request) => self.http.execute(request).await,
            None => {
                self.store
                    .park(&code, attempts, "the request could not be built")
                    .await?;
                return Ok(DeliveryOutcome::Parked);
            }
        };
        let failure = match outcome {
            Ok(response) if response.status().is_success() => {
                // Read the time after the exchange: it may have taken a while.
                if self.store.mark_delivered(&code, self.clock.now()).await? {
                    tracing::info!(dossier_code = %code, attempts, "envelope delivered");
                }
                return Ok(DeliveryOutcome::Delivered);
            }
            Ok(response) => {
                let status = response.status();
                let message = format!("http status {}", status.as_u16());
                if status.is_client_error() && !retryable_client_error(status) {
                    tracing::error!(dossier_code = %code, status = status.as_u16(), "back office refused the envelope; parked");
                    self.store.park(&code, attempts, &message).await?;
                    return Ok(DeliveryOutcome::Parked);
                }
                (message, retry_after(&response))
            }
            Err(error) => (transport_failure(&error).to_owned(), None),
        };
        let (message, hint) = failure;
        let wait = backoff(attempts, self.random.as_ref())
            .max(hint.unwrap_or_else(Duration::zero))
            .min(Duration::seconds(MAX_BACKOFF_SECONDS * 5 / 4));
        tracing::warn!(dossier_code = %code, attempts, error = %message, "delivery failed; will retry");
        self.store
            .reschedule(&code, self.clock.now() + wait, attempts, &message)
            .await?;
        Ok(DeliveryOutcome::Retry)
    }

    fn request(&self, entry: &OutboxEntry, envelope: &str) -> Option<http::Request<Vec<u8>>> {
        let body = serde_json::to_vec(&serde_json::json!({ "envelope": envelope })).ok()?;
        http::Request::builder()
            .method(http::Method::POST)
            .uri(self.endpoint.as_str())
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::ACCEPT, "application/json")
            .header("Idempotency-Key", entry.dossier_code.as_str())
            .body(body)
            .ok()
    }

    /// Runs [`run_once`](Self::run_once) every `interval` on the current tokio runtime until
    /// [`OutboxWorker::stop`]; a round in progress finishes before the worker stops.
    pub fn spawn(self: Arc<Self>, interval: std::time::Duration) -> OutboxWorker {
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let handle = tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = stopped.changed() => break,
                    _ = ticker.tick() => self.drain().await,
                }
            }
        });
        OutboxWorker { stop, handle }
    }
}

impl Outbox {
    /// Runs rounds until one claims less than a full batch or fails to deliver part of it: a
    /// backlog (after an outage, or a crashed instance's lease ending) goes out at once rather
    /// than one batch per interval, and a failing back office is not retried in a tight loop.
    async fn drain(&self) {
        loop {
            match self.run_once(self.clock.now()).await {
                Ok(report) if usize::try_from(report.delivered).is_ok_and(|n| n >= self.batch) => {}
                Ok(_) => break,
                Err(error) => {
                    tracing::error!(%error, "outbox round failed");
                    break;
                }
            }
        }
    }
}

/// A running outbox loop.
#[derive(Debug)]
pub struct OutboxWorker {
    stop: tokio::sync::watch::Sender<bool>,
    handle: tokio::task::JoinHandle<()>,
}

impl OutboxWorker {
    /// Stops the loop after the round in progress, and waits for it.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        if let Err(error) = self.handle.await {
            tracing::error!(%error, "the outbox loop ended abnormally");
        }
    }
}

/// The 4xx answers that mean "not now" rather than "never": 408 and 429, and 409, which a
/// back office following the IETF `Idempotency-Key` header draft answers while it is still
/// processing an earlier attempt with the same key (our attempt timed out, the first one is
/// still running there); parking it would leave a dossier the back office is about to accept
/// undelivered.
fn retryable_client_error(status: http::StatusCode) -> bool {
    status == http::StatusCode::REQUEST_TIMEOUT
        || status == http::StatusCode::CONFLICT
        || status == http::StatusCode::TOO_MANY_REQUESTS
}

/// A `Retry-After` in seconds, capped at one hour.
fn retry_after(response: &http::Response<Vec<u8>>) -> Option<Duration> {
    let seconds: i64 = response
        .headers()
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::seconds(seconds.clamp(0, MAX_BACKOFF_SECONDS)))
}

fn transport_failure(error: &HttpError) -> &'static str {
    match error {
        HttpError::Timeout { .. } => "timeout",
        HttpError::Connect { .. } => "connection failed",
        HttpError::TooLarge { .. } => "response too large",
        _ => "transport error",
    }
}
