//! In-memory [`Store`].

use std::collections::{BTreeMap, HashMap};
use std::future::ready;
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, NaiveDate, Utc};

use crate::audit::{AuditEntry, AuditEvent, AuditRecord, ChainHash};
use crate::fallback::Ticket;
use crate::fallback::{TicketCode, WardCode};
use crate::policy::ProcedureCode;
use crate::pseudonym::SubjectPseudonym;
use crate::submission::{DossierCode, IdempotencyKey};

use super::{
    Booking, BookingId, BookingRequest, CommitOutcome, Draft, DraftId, OutboxEntry, OutboxStatus,
    OutboxSummary, PurgeReport, ReportId, SlotKey, StatusOutcome, StatusReport, Store, StoreError,
    StoreFuture, SubmissionCommit, SubmissionRecord, day_bounds,
};

/// A [`Store`] in memory, behind one mutex (so booking is atomic). Lost on restart.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    bookings: HashMap<BookingId, Booking>,
    drafts: HashMap<DraftId, Draft>,
    tickets: HashMap<TicketCode, Ticket>,
    submissions: HashMap<DossierCode, SubmissionRecord>,
    by_key: HashMap<(SubjectPseudonym, IdempotencyKey), DossierCode>,
    outbox: BTreeMap<DossierCode, OutboxEntry>,
    statuses: HashMap<ReportId, StatusReport>,
    audit: Vec<AuditRecord>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field("bookings", &self.bookings.len())
            .field("drafts", &self.drafts.len())
            .field("tickets", &self.tickets.len())
            .field("submissions", &self.submissions.len())
            .field("outbox", &self.outbox.len())
            .field("statuses", &self.statuses.len())
            .field("audit", &self.audit.len())
            .finish()
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<MutexGuard<'_, Inner>, StoreError> {
        self.inner
            .lock()
            .map_err(|_| StoreError::Backend("the memory store lock is poisoned".into()))
    }

    fn book_now(&self, request: &BookingRequest) -> Result<Booking, StoreError> {
        let mut inner = self.lock()?;
        book_in(&mut inner, request)
    }

    fn move_now(&self, from: &BookingId, to: &BookingRequest) -> Result<Booking, StoreError> {
        let mut inner = self.lock()?;
        let old = inner.bookings.get_mut(from).ok_or(StoreError::NotFound)?;
        if !old.is_active() {
            return Err(StoreError::AlreadyCancelled);
        }
        old.cancelled_at = Some(to.now);
        let booked = book_in(&mut inner, to);
        if booked.is_err()
            && let Some(old) = inner.bookings.get_mut(from)
        {
            // Under the same lock: nobody saw the old booking cancelled.
            old.cancelled_at = None;
        }
        booked
    }

    fn cancel_now(&self, id: &BookingId, now: DateTime<Utc>) -> Result<Booking, StoreError> {
        let mut inner = self.lock()?;
        let booking = inner.bookings.get_mut(id).ok_or(StoreError::NotFound)?;
        if !booking.is_active() {
            return Err(StoreError::AlreadyCancelled);
        }
        booking.cancelled_at = Some(now);
        Ok(booking.clone())
    }

    fn bookings_on_now(
        &self,
        ward: WardCode,
        point: Option<&str>,
        day: NaiveDate,
    ) -> Result<Vec<Booking>, StoreError> {
        let (from, to) = day_bounds(day);
        let inner = self.lock()?;
        let mut list: Vec<Booking> = inner
            .bookings
            .values()
            .filter(|b| {
                b.is_active()
                    && b.slot.ward == ward
                    && point.is_none_or(|p| b.slot.point == p)
                    && b.slot.start >= from
                    && b.slot.start < to
            })
            .cloned()
            .collect();
        list.sort_by(|a, b| {
            (a.slot.start, a.created_at, &a.id).cmp(&(b.slot.start, b.created_at, &b.id))
        });
        Ok(list)
    }
}

impl Inner {
    fn append(&mut self, entry: &AuditEntry) -> AuditRecord {
        let (seq, prev) = self
            .audit
            .last()
            .map_or((1, ChainHash::GENESIS), |last| (last.seq + 1, last.hash));
        let record = entry.clone().seal(seq, &prev);
        self.audit.push(record.clone());
        record
    }

    fn commit(&mut self, commit: &SubmissionCommit) -> Result<CommitOutcome, StoreError> {
        let record = &commit.record;
        let key = (record.subject.clone(), record.idempotency_key.clone());
        if let Some(existing) = self
            .by_key
            .get(&key)
            .and_then(|code| self.submissions.get(code))
        {
            return Ok(CommitOutcome::AlreadyExists(Box::new(existing.clone())));
        }
        if self.submissions.contains_key(&record.dossier_code)
            || self.outbox.contains_key(&commit.outbox.dossier_code)
        {
            return Err(StoreError::Duplicate);
        }
        self.submissions.insert(record.dossier_code, record.clone());
        self.by_key.insert(key, record.dossier_code);
        self.outbox
            .insert(commit.outbox.dossier_code, commit.outbox.clone());
        if let Some(draft) = &commit.delete_draft {
            self.drafts.remove(draft);
        }
        Ok(CommitOutcome::Created(self.append(&commit.audit)))
    }

    fn pending(&mut self, code: &DossierCode) -> Result<Option<&mut OutboxEntry>, StoreError> {
        let entry = self
            .outbox
            .get_mut(code)
            .ok_or(StoreError::UnknownDossier { code: *code })?;
        Ok((entry.status == OutboxStatus::Pending).then_some(entry))
    }

    fn due(
        &mut self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Vec<OutboxEntry> {
        let mut due: Vec<&mut OutboxEntry> = self
            .outbox
            .values_mut()
            .filter(|e| e.status == OutboxStatus::Pending && e.next_attempt_at <= now)
            .collect();
        due.sort_by(|a, b| {
            (a.next_attempt_at, a.dossier_code).cmp(&(b.next_attempt_at, b.dossier_code))
        });
        due.into_iter()
            .take(limit)
            .map(|entry| {
                entry.next_attempt_at = lease_until;
                entry.clone()
            })
            .collect()
    }

    fn purge(&mut self, now: DateTime<Utc>, retention: chrono::Duration) -> PurgeReport {
        let before = now - retention;
        let counted = |before: usize, after: usize| (before - after) as u64;
        let n = self.drafts.len();
        self.drafts.retain(|_, d| d.expires_at > now);
        let drafts = counted(n, self.drafts.len());
        let n = self.tickets.len();
        self.tickets.retain(|_, t| t.expires_at > now);
        let tickets = counted(n, self.tickets.len());
        let n = self.bookings.len();
        self.bookings.retain(|_, b| b.slot.start >= before);
        let bookings = counted(n, self.bookings.len());
        let n = self.outbox.len();
        self.outbox.retain(|_, e| {
            e.status != OutboxStatus::Delivered || e.delivered_at.is_none_or(|at| at >= before)
        });
        let outbox = counted(n, self.outbox.len());
        PurgeReport::new(drafts, tickets, bookings, outbox)
    }
}

fn count(inner: &Inner, slot: &SlotKey) -> u32 {
    let n = inner
        .bookings
        .values()
        .filter(|b| b.is_active() && &b.slot == slot)
        .count();
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl Store for MemoryStore {
    fn book<'a>(&'a self, request: &'a BookingRequest) -> StoreFuture<'a, Booking> {
        Box::pin(ready(self.book_now(request)))
    }

    fn cancel<'a>(&'a self, id: &'a BookingId, now: DateTime<Utc>) -> StoreFuture<'a, Booking> {
        Box::pin(ready(self.cancel_now(id, now)))
    }

    fn booking<'a>(&'a self, id: &'a BookingId) -> StoreFuture<'a, Option<Booking>> {
        Box::pin(ready(
            self.lock().map(|inner| inner.bookings.get(id).cloned()),
        ))
    }

    fn seats_taken<'a>(&'a self, slot: &'a SlotKey) -> StoreFuture<'a, u32> {
        Box::pin(ready(self.lock().map(|inner| count(&inner, slot))))
    }

    fn bookings_on<'a>(
        &'a self,
        ward: WardCode,
        point: Option<&'a str>,
        day: NaiveDate,
    ) -> StoreFuture<'a, Vec<Booking>> {
        Box::pin(ready(self.bookings_on_now(ward, point, day)))
    }

    fn save_draft<'a>(&'a self, draft: &'a Draft) -> StoreFuture<'a, ()> {
        Box::pin(ready(self.lock().map(|mut inner| {
            inner.drafts.insert(draft.id.clone(), draft.clone());
        })))
    }

    fn draft<'a>(&'a self, id: &'a DraftId, now: DateTime<Utc>) -> StoreFuture<'a, Option<Draft>> {
        Box::pin(ready(self.lock().map(|mut inner| {
            let expired = inner.drafts.get(id).is_some_and(|d| now >= d.expires_at);
            if expired {
                inner.drafts.remove(id);
                None
            } else {
                inner.drafts.get(id).cloned()
            }
        })))
    }

    fn delete_draft<'a>(&'a self, id: &'a DraftId) -> StoreFuture<'a, bool> {
        Box::pin(ready(
            self.lock()
                .map(|mut inner| inner.drafts.remove(id).is_some()),
        ))
    }

    fn save_ticket<'a>(&'a self, ticket: &'a Ticket) -> StoreFuture<'a, ()> {
        Box::pin(ready(self.lock().and_then(|mut inner| {
            if inner.tickets.contains_key(&ticket.code) {
                return Err(StoreError::Duplicate);
            }
            inner.tickets.insert(ticket.code, ticket.clone());
            Ok(())
        })))
    }

    fn ticket<'a>(
        &'a self,
        code: &'a TicketCode,
        now: DateTime<Utc>,
    ) -> StoreFuture<'a, Option<Ticket>> {
        Box::pin(ready(self.lock().map(|inner| {
            inner
                .tickets
                .get(code)
                .filter(|t| now < t.expires_at)
                .cloned()
        })))
    }

    fn claim_ticket<'a>(
        &'a self,
        code: &'a TicketCode,
        owner: &'a SubjectPseudonym,
    ) -> StoreFuture<'a, bool> {
        Box::pin(ready(self.lock().and_then(|mut inner| {
            let ticket = inner.tickets.get_mut(code).ok_or(StoreError::NotFound)?;
            if ticket.owner.is_some() {
                return Ok(false);
            }
            ticket.owner = Some(owner.clone());
            Ok(true)
        })))
    }

    fn open_ticket_of<'a>(
        &'a self,
        owner: &'a SubjectPseudonym,
        procedure: &'a ProcedureCode,
        now: DateTime<Utc>,
    ) -> StoreFuture<'a, Option<Ticket>> {
        Box::pin(ready(self.lock().map(|inner| {
            inner
                .tickets
                .values()
                .filter(|t| {
                    t.owner.as_ref() == Some(owner)
                        && t.procedure == *procedure
                        && now < t.expires_at
                })
                // Ties on the issue time go to the greater code, as in the SQL stores.
                .max_by_key(|t| (t.issued_at, t.code.to_string()))
                .cloned()
        })))
    }

    fn commit_submission<'a>(
        &'a self,
        commit: &'a SubmissionCommit,
    ) -> StoreFuture<'a, CommitOutcome> {
        Box::pin(ready(
            self.lock().and_then(|mut inner| inner.commit(commit)),
        ))
    }

    fn submission_by_key<'a>(
        &'a self,
        subject: &'a SubjectPseudonym,
        key: &'a IdempotencyKey,
    ) -> StoreFuture<'a, Option<SubmissionRecord>> {
        Box::pin(ready(self.lock().map(|inner| {
            inner
                .by_key
                .get(&(subject.clone(), key.clone()))
                .and_then(|code| inner.submissions.get(code))
                .cloned()
        })))
    }

    fn submission<'a>(
        &'a self,
        code: &'a DossierCode,
    ) -> StoreFuture<'a, Option<SubmissionRecord>> {
        Box::pin(ready(
            self.lock()
                .map(|inner| inner.submissions.get(code).cloned()),
        ))
    }

    fn due_outbox<'a>(
        &'a self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> StoreFuture<'a, Vec<OutboxEntry>> {
        Box::pin(ready(
            self.lock()
                .map(|mut inner| inner.due(now, lease_until, limit)),
        ))
    }

    fn outbox_entry<'a>(&'a self, code: &'a DossierCode) -> StoreFuture<'a, Option<OutboxEntry>> {
        Box::pin(ready(
            self.lock().map(|inner| inner.outbox.get(code).cloned()),
        ))
    }

    fn record_status<'a>(&'a self, report: &'a StatusReport) -> StoreFuture<'a, StatusOutcome> {
        Box::pin(ready(self.lock().and_then(|mut inner| {
            if !inner.submissions.contains_key(&report.dossier_code) {
                return Err(StoreError::UnknownDossier {
                    code: report.dossier_code,
                });
            }
            Ok(match inner.statuses.get(&report.report_id) {
                Some(stored) if stored == report => StatusOutcome::AlreadyRecorded,
                Some(stored) => StatusOutcome::Conflict(stored.clone()),
                None => {
                    inner
                        .statuses
                        .insert(report.report_id.clone(), report.clone());
                    StatusOutcome::Recorded
                }
            })
        })))
    }

    fn statuses<'a>(&'a self, code: &'a DossierCode) -> StoreFuture<'a, Vec<StatusReport>> {
        Box::pin(ready(self.lock().map(|inner| {
            let mut reports: Vec<StatusReport> = inner
                .statuses
                .values()
                .filter(|r| r.dossier_code == *code)
                .cloned()
                .collect();
            reports
                .sort_by(|a, b| (a.reported_at, &a.report_id).cmp(&(b.reported_at, &b.report_id)));
            reports
        })))
    }

    fn mark_delivered<'a>(
        &'a self,
        code: &'a DossierCode,
        now: DateTime<Utc>,
    ) -> StoreFuture<'a, bool> {
        use chrono::SubsecRound as _;
        Box::pin(ready(self.lock().and_then(|mut inner| {
            Ok(match inner.pending(code)? {
                Some(entry) => {
                    entry.status = OutboxStatus::Delivered;
                    entry.delivered_at = Some(now.trunc_subsecs(6));
                    true
                }
                None => false,
            })
        })))
    }

    fn reschedule<'a>(
        &'a self,
        code: &'a DossierCode,
        next_attempt_at: DateTime<Utc>,
        attempts: u32,
        last_error: &'a str,
    ) -> StoreFuture<'a, ()> {
        use chrono::SubsecRound as _;
        Box::pin(ready(self.lock().and_then(|mut inner| {
            if let Some(entry) = inner.pending(code)? {
                entry.next_attempt_at = next_attempt_at.trunc_subsecs(6);
                entry.attempts = attempts;
                entry.last_error = Some(last_error.to_owned());
            }
            Ok(())
        })))
    }

    fn park<'a>(
        &'a self,
        code: &'a DossierCode,
        attempts: u32,
        reason: &'a str,
    ) -> StoreFuture<'a, ()> {
        Box::pin(ready(self.lock().and_then(|mut inner| {
            if let Some(entry) = inner.pending(code)? {
                entry.status = OutboxStatus::Parked;
                entry.attempts = attempts;
                entry.last_error = Some(reason.to_owned());
            }
            Ok(())
        })))
    }

    fn outbox_summary(&self) -> StoreFuture<'_, OutboxSummary> {
        Box::pin(ready(self.lock().map(|inner| {
            let mut summary = OutboxSummary::default();
            for entry in inner.outbox.values() {
                match entry.status {
                    OutboxStatus::Pending => {
                        summary.pending += 1;
                        summary.oldest_pending = Some(
                            summary
                                .oldest_pending
                                .map_or(entry.created_at, |oldest| oldest.min(entry.created_at)),
                        );
                    }
                    OutboxStatus::Parked => summary.parked += 1,
                    OutboxStatus::Delivered => {}
                }
            }
            summary
        })))
    }

    fn append_audit<'a>(&'a self, entry: &'a AuditEntry) -> StoreFuture<'a, AuditRecord> {
        Box::pin(ready(self.lock().map(|mut inner| inner.append(entry))))
    }

    fn audit_range<'a>(&'a self, from_seq: u64, limit: usize) -> StoreFuture<'a, Vec<AuditRecord>> {
        Box::pin(ready(self.lock().map(|inner| {
            inner
                .audit
                .iter()
                .filter(|r| r.seq >= from_seq)
                .take(limit)
                .cloned()
                .collect()
        })))
    }

    fn audit_between<'a>(
        &'a self,
        ward: Option<WardCode>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        after_seq: u64,
        limit: usize,
    ) -> StoreFuture<'a, Vec<AuditRecord>> {
        Box::pin(ready(self.lock().map(|inner| {
            inner
                .audit
                .iter()
                .filter(|r| {
                    r.seq > after_seq
                        && r.at >= from
                        && r.at < to
                        && ward.is_none_or(|w| r.event.ward() == Some(w))
                })
                .take(limit)
                .cloned()
                .collect()
        })))
    }

    fn purge_expired<'a>(
        &'a self,
        now: DateTime<Utc>,
        retention: chrono::Duration,
    ) -> StoreFuture<'a, PurgeReport> {
        Box::pin(ready(
            self.lock().map(|mut inner| inner.purge(now, retention)),
        ))
    }

    fn counter_records<'a>(&'a self, ticket: &'a TicketCode) -> StoreFuture<'a, Vec<AuditRecord>> {
        Box::pin(ready(self.lock().map(|inner| {
            inner
                .audit
                .iter()
                .filter(|r| matches!(&r.event, AuditEvent::Counter(c) if c.ticket == *ticket))
                .cloned()
                .collect()
        })))
    }

    fn ticket_booking<'a>(&'a self, ticket: &'a TicketCode) -> StoreFuture<'a, Option<Booking>> {
        Box::pin(ready(self.lock().map(|inner| {
            inner
                .bookings
                .values()
                .find(|b| b.is_active() && b.ticket.as_ref() == Some(ticket))
                .cloned()
        })))
    }

    fn move_booking<'a>(
        &'a self,
        from: &'a BookingId,
        to: &'a BookingRequest,
    ) -> StoreFuture<'a, Booking> {
        Box::pin(ready(self.move_now(from, to)))
    }

    fn append_counter_outcome<'a>(
        &'a self,
        entry: &'a AuditEntry,
    ) -> StoreFuture<'a, Option<AuditRecord>> {
        Box::pin(ready(self.lock().map(|mut inner| {
            let recorded = counter_ticket(entry).is_some_and(|ticket| {
                inner
                    .audit
                    .iter()
                    .any(|r| counter_ticket_of(&r.event) == Some(ticket))
            });
            (!recorded).then(|| inner.append(entry))
        })))
    }
}

/// Books `request` in the locked store.
fn book_in(inner: &mut Inner, request: &BookingRequest) -> Result<Booking, StoreError> {
    if inner.bookings.contains_key(&request.id) {
        return Err(StoreError::Duplicate);
    }
    if let Some(ticket) = request.ticket
        && let Some(existing) = inner
            .bookings
            .values()
            .find(|b| b.is_active() && b.ticket == Some(ticket))
    {
        return Err(StoreError::TicketAlreadyBooked {
            booking: existing.id.clone(),
        });
    }
    let taken = count(inner, &request.slot);
    if taken >= request.capacity {
        return Err(StoreError::SlotFull {
            capacity: request.capacity,
        });
    }
    let booking = Booking::from_request(request);
    inner.bookings.insert(booking.id.clone(), booking.clone());
    Ok(booking)
}

/// The ticket of a counter outcome.
fn counter_ticket_of(event: &AuditEvent) -> Option<TicketCode> {
    match event {
        AuditEvent::Counter(c) => Some(c.ticket),
        _ => None,
    }
}

fn counter_ticket(entry: &AuditEntry) -> Option<TicketCode> {
    counter_ticket_of(&entry.event)
}
