//! Decisions audited in aggregate, so the gate costs no durable write per request.
//!
//! Every page view and decision-API call decides, and every decision is audited. Written one
//! record per request, the audit trail was the gateway's throughput limit (a durable store
//! write, and its wait, on every gated request). Instead:
//!
//! 1. Every decision is counted. Identical decisions — same subject pseudonym, procedure, ward,
//!    outcome and reason — made within one window become **one** record, timed at the first of
//!    them, whose [`DecisionRecorded::count`] says how many they were.
//! 2. The tally is written when a decision arrives after the window has closed, when it holds
//!    [`MAX_PENDING`] distinct decisions, and whenever [`Gateway::flush_audit`] is called (the
//!    example gateway calls it every second and once more after the server stops). Dropping
//!    the gateway with a non-empty tally writes it in the background when a Tokio runtime is
//!    there to do so.
//! 3. The window is read from the injected clock, so tests decide when it closes.
//!
//! Logins, referrals, bookings and submissions are rare and are still written one by one,
//! before the response.
//!
//! [`Gateway::flush_audit`]: super::Gateway::flush_audit

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Duration, Utc};

use crate::audit::{AuditEntry, AuditEvent, DecisionRecorded};
use crate::pseudonym::SubjectPseudonym;
use crate::store::Store;

/// How long identical decisions are counted into one record.
pub(crate) const WINDOW: Duration = Duration::seconds(1);

/// Most distinct decisions held before the tally is written, whatever the window.
pub(crate) const MAX_PENDING: usize = 4096;

/// The decisions made since the tally was last written.
#[derive(Debug, Default)]
pub(crate) struct DecisionTally {
    state: Mutex<Tally>,
}

#[derive(Debug, Default)]
struct Tally {
    /// When the first decision of this window was counted.
    opened: Option<DateTime<Utc>>,
    /// Keyed by subject pseudonym, "" for decisions without a session; a subject rarely has
    /// more than one or two distinct decisions per window, so the inner list is searched.
    by_subject: HashMap<String, Vec<Counted>>,
    distinct: usize,
}

#[derive(Debug)]
struct Counted {
    first_at: DateTime<Utc>,
    decision: DecisionRecorded,
    count: u32,
}

impl DecisionTally {
    /// Counts `decision` for `subject` at `now`; returns the entries to write when this
    /// decision closed the window or filled the tally.
    pub(crate) fn record(
        &self,
        now: DateTime<Utc>,
        subject: Option<&str>,
        decision: DecisionRecorded,
    ) -> Option<Vec<AuditEntry>> {
        let mut tally = self.lock();
        let opened = *tally.opened.get_or_insert(now);
        let key = subject.unwrap_or("");
        let counted = match tally.by_subject.get_mut(key) {
            Some(list) => match list.iter_mut().find(|c| c.decision == decision) {
                Some(counted) if counted.count < u32::MAX => {
                    counted.count += 1;
                    true
                }
                _ => {
                    list.push(Counted::first(now, decision));
                    false
                }
            },
            None => {
                tally
                    .by_subject
                    .insert(key.to_owned(), vec![Counted::first(now, decision)]);
                false
            }
        };
        if !counted {
            tally.distinct += 1;
        }
        let due = now - opened >= WINDOW || tally.distinct >= MAX_PENDING;
        due.then(|| drain(&mut tally))
    }

    /// Everything counted so far, as entries in order of their first decision; the tally is
    /// left empty.
    pub(crate) fn take(&self) -> Vec<AuditEntry> {
        drain(&mut self.lock())
    }

    fn lock(&self) -> MutexGuard<'_, Tally> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Counted {
    fn first(at: DateTime<Utc>, decision: DecisionRecorded) -> Self {
        Self {
            first_at: at,
            decision,
            count: 1,
        }
    }
}

fn drain(tally: &mut Tally) -> Vec<AuditEntry> {
    let taken = std::mem::take(tally);
    let mut entries: Vec<AuditEntry> = taken
        .by_subject
        .into_iter()
        .flat_map(|(subject, list)| {
            let subject = (!subject.is_empty()).then(|| SubjectPseudonym::from_stored(&subject));
            list.into_iter().map(move |c| {
                AuditEntry::new(
                    c.first_at,
                    subject.clone(),
                    AuditEvent::Decision(c.decision.with_count(c.count)),
                )
            })
        })
        .collect();
    entries.sort_by_key(|entry| entry.at);
    entries
}

/// Appends `entries` to the audit chain, concurrently so a store that commits in groups (SQLite)
/// writes them in one transaction. A failure is logged: the audit must not fail a request.
pub(crate) async fn append_all(store: &Arc<dyn Store>, entries: Vec<AuditEntry>) {
    if entries.is_empty() {
        return;
    }
    if tokio::runtime::Handle::try_current().is_err() {
        for entry in &entries {
            log_failure(store.append_audit(entry).await.map(drop));
        }
        return;
    }
    let writes: Vec<_> = entries
        .into_iter()
        .map(|entry| {
            let store = Arc::clone(store);
            tokio::spawn(async move { store.append_audit(&entry).await.map(drop) })
        })
        .collect();
    for write in writes {
        match write.await {
            Ok(result) => log_failure(result),
            Err(error) => tracing::error!(%error, "an audit write did not complete"),
        }
    }
}

fn log_failure(result: Result<(), crate::store::StoreError>) {
    if let Err(error) = result {
        tracing::error!(%error, "could not append to the audit log");
    }
}

#[cfg(test)]
mod tests;
