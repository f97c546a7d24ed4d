//! The retention job: deletes what has outlived its purpose, on a schedule.
//!
//! Drafts and tickets carry their own expiry (a draft 14 days after it was last saved, or as
//! long as the ticket that refers to it; a ticket 14 days after it was issued); bookings and
//! delivered outbox entries are kept [`RETENTION`] after their slot or their delivery, so a
//! complaint about a missed appointment or a lost dossier can still be looked into. Submissions
//! (the dossiers received, sealed) and the audit trail (pseudonymous) are never deleted here:
//! they are the ward's records. `src/manual/data_inventory.md` lists every item and its term.
//!
//! The bundled gateway runs [`spawn`] every hour; [`run_once`] is the job's body.
//!
//! # Example
//!
//! ```
//! use chrono::{Duration, TimeZone, Utc};
//! use wardgate::store::{MemoryStore, retention};
//!
//! # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
//! let store = MemoryStore::new();
//! let now = Utc.with_ymd_and_hms(2026, 3, 2, 1, 0, 0).single().ok_or("time")?;
//! let report = retention::run_once(&store, now).await?;
//! assert_eq!((report.drafts, report.tickets, report.bookings), (0, 0, 0));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{PurgeReport, Store, StoreError};
use crate::clock::Clock;

/// How long bookings are kept after their slot, and delivered outbox entries after their
/// delivery: 90 days.
pub const RETENTION: chrono::Duration = chrono::Duration::days(90);

/// How often the bundled gateway runs the job: every hour.
pub const INTERVAL: std::time::Duration = std::time::Duration::from_secs(3600);

/// One run of the job at `now`: deletes expired drafts and tickets, bookings whose slot
/// started more than [`RETENTION`] ago and outbox entries delivered more than [`RETENTION`]
/// ago ([`Store::purge_expired`]), and logs what it deleted (counts only).
///
/// # Errors
///
/// [`StoreError`] when the store fails; nothing is lost, the next run deletes it.
pub async fn run_once(store: &dyn Store, now: DateTime<Utc>) -> Result<PurgeReport, StoreError> {
    let report = store.purge_expired(now, RETENTION).await?;
    tracing::info!(
        drafts = report.drafts,
        tickets = report.tickets,
        bookings = report.bookings,
        outbox = report.outbox,
        "retention: expired records deleted"
    );
    Ok(report)
}

/// Runs [`run_once`] at once and then every `every` on the current tokio runtime, until
/// [`RetentionWorker::stop`]. A failed run is logged and retried at the next tick.
pub fn spawn(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    every: std::time::Duration,
) -> RetentionWorker {
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let handle = tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stopped.changed() => break,
                _ = ticker.tick() => {
                    if let Err(error) = run_once(store.as_ref(), clock.now()).await {
                        tracing::error!(%error, "retention job failed");
                    }
                }
            }
        }
    });
    RetentionWorker { stop, handle }
}

/// A running retention job.
#[derive(Debug)]
pub struct RetentionWorker {
    stop: tokio::sync::watch::Sender<bool>,
    handle: tokio::task::JoinHandle<()>,
}

impl RetentionWorker {
    /// Stops the job after the run in progress, and waits for it.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        if let Err(error) = self.handle.await {
            tracing::error!(%error, "the retention job ended abnormally");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        reason = "test code: a failed expectation is a failed test"
    )]

    use std::sync::Arc;

    use chrono::{Duration, TimeZone as _, Utc};

    use super::*;
    use crate::clock::{FixedClock, SystemRandom};
    use crate::fallback::WardCode;
    use crate::policy::ProcedureCode;
    use crate::store::{BookingId, BookingRequest, Draft, MemoryStore, SlotKey};

    #[tokio::test]
    async fn the_scheduled_job_purges_at_once_and_stops() {
        let now = Utc.with_ymd_and_hms(2026, 3, 2, 1, 0, 0).unwrap();
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let random = SystemRandom::new();
        let procedure = ProcedureCode::parse("1.001193").unwrap();
        let ward = WardCode::parse("30316").unwrap();
        let draft = Draft::new(
            procedure,
            Some(ward),
            serde_json::json!({}),
            now - Duration::days(20),
            Duration::days(14),
            &random,
        )
        .unwrap();
        store.save_draft(&draft).await.unwrap();
        let old = BookingRequest {
            id: BookingId::generate(&random).unwrap(),
            slot: SlotKey {
                ward,
                point: "trung-tam".into(),
                start: now - RETENTION - Duration::hours(1),
            },
            capacity: 1,
            procedure,
            ticket: None,
            now: now - RETENTION - Duration::days(2),
        };
        let recent = BookingRequest {
            id: BookingId::generate(&random).unwrap(),
            slot: SlotKey {
                start: now - RETENTION + Duration::hours(1),
                ..old.slot.clone()
            },
            ..old.clone()
        };
        store.book(&old).await.unwrap();
        store.book(&recent).await.unwrap();

        let clock = Arc::new(FixedClock::new(now));
        let worker = spawn(
            Arc::clone(&store),
            clock,
            std::time::Duration::from_secs(3600),
        );
        // The first tick is immediate.
        for _ in 0..200 {
            if store.booking(&old.id).await.unwrap().is_none() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        worker.stop().await;
        assert!(store.booking(&old.id).await.unwrap().is_none());
        assert!(store.booking(&recent.id).await.unwrap().is_some());
        // Gone for good, not just hidden by its expiry.
        assert_eq!(store.purge_expired(now, RETENTION).await.unwrap().drafts, 0);
        assert!(!store.delete_draft(&draft.id).await.unwrap());
    }
}
