//! A memory store that counts the tickets saved and can be told to fail on tickets (or only on
//! looking up a resident's open ticket), for the referral tests, or on the outbox summary, for
//! the metrics tests: everything else goes straight to the [`MemoryStore`].

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use chrono::{DateTime, NaiveDate, Utc};
use wardgate::audit::{AuditEntry, AuditRecord};
use wardgate::fallback::{Ticket, TicketCode, WardCode};
use wardgate::policy::ProcedureCode;
use wardgate::pseudonym::SubjectPseudonym;
use wardgate::store::{
    Booking, BookingId, BookingRequest, CommitOutcome, Draft, DraftId, MemoryStore, OutboxEntry,
    OutboxSummary, PurgeReport, SlotKey, StatusOutcome, StatusReport, Store, StoreError,
    StoreFuture, SubmissionCommit, SubmissionRecord,
};
use wardgate::submission::{DossierCode, IdempotencyKey};

#[derive(Debug, Default)]
pub(crate) struct TicketFaults {
    inner: MemoryStore,
    tickets_saved: AtomicUsize,
    failing: AtomicBool,
    failing_owner_lookups: AtomicBool,
    failing_outbox_summaries: AtomicBool,
}

impl TicketFaults {
    /// How many tickets were stored.
    pub(crate) fn tickets_saved(&self) -> usize {
        self.tickets_saved.load(Ordering::SeqCst)
    }

    /// From now on, saving or reading a ticket fails as a lost database would.
    pub(crate) fn fail_tickets(&self) {
        self.failing.store(true, Ordering::SeqCst);
    }

    /// From now on, looking up a resident's open ticket fails; the rest still works.
    pub(crate) fn fail_owner_lookups(&self) {
        self.failing_owner_lookups.store(true, Ordering::SeqCst);
    }

    /// From now on, summarising the outbox fails; the rest still works.
    pub(crate) fn fail_outbox_summaries(&self) {
        self.failing_outbox_summaries.store(true, Ordering::SeqCst);
    }

    fn down<T: Send + 'static>() -> StoreFuture<'static, T> {
        Box::pin(async { Err(StoreError::Backend("the database is unreachable".into())) })
    }
}

impl Store for TicketFaults {
    fn book<'a>(&'a self, request: &'a BookingRequest) -> StoreFuture<'a, Booking> {
        self.inner.book(request)
    }
    fn cancel<'a>(&'a self, id: &'a BookingId, now: DateTime<Utc>) -> StoreFuture<'a, Booking> {
        self.inner.cancel(id, now)
    }
    fn booking<'a>(&'a self, id: &'a BookingId) -> StoreFuture<'a, Option<Booking>> {
        self.inner.booking(id)
    }
    fn seats_taken<'a>(&'a self, slot: &'a SlotKey) -> StoreFuture<'a, u32> {
        self.inner.seats_taken(slot)
    }
    fn bookings_on<'a>(
        &'a self,
        ward: WardCode,
        point: Option<&'a str>,
        day: NaiveDate,
    ) -> StoreFuture<'a, Vec<Booking>> {
        self.inner.bookings_on(ward, point, day)
    }
    fn save_draft<'a>(&'a self, draft: &'a Draft) -> StoreFuture<'a, ()> {
        self.inner.save_draft(draft)
    }
    fn draft<'a>(&'a self, id: &'a DraftId, now: DateTime<Utc>) -> StoreFuture<'a, Option<Draft>> {
        self.inner.draft(id, now)
    }
    fn delete_draft<'a>(&'a self, id: &'a DraftId) -> StoreFuture<'a, bool> {
        self.inner.delete_draft(id)
    }
    fn save_ticket<'a>(&'a self, ticket: &'a Ticket) -> StoreFuture<'a, ()> {
        if self.failing.load(Ordering::SeqCst) {
            return Self::down();
        }
        self.tickets_saved.fetch_add(1, Ordering::SeqCst);
        self.inner.save_ticket(ticket)
    }
    fn ticket<'a>(
        &'a self,
        code: &'a TicketCode,
        now: DateTime<Utc>,
    ) -> StoreFuture<'a, Option<Ticket>> {
        if self.failing.load(Ordering::SeqCst) {
            return Self::down();
        }
        self.inner.ticket(code, now)
    }
    fn claim_ticket<'a>(
        &'a self,
        code: &'a TicketCode,
        owner: &'a SubjectPseudonym,
    ) -> StoreFuture<'a, bool> {
        if self.failing.load(Ordering::SeqCst) {
            return Self::down();
        }
        self.inner.claim_ticket(code, owner)
    }
    fn open_ticket_of<'a>(
        &'a self,
        owner: &'a SubjectPseudonym,
        procedure: &'a ProcedureCode,
        now: DateTime<Utc>,
    ) -> StoreFuture<'a, Option<Ticket>> {
        if self.failing.load(Ordering::SeqCst) || self.failing_owner_lookups.load(Ordering::SeqCst)
        {
            return Self::down();
        }
        self.inner.open_ticket_of(owner, procedure, now)
    }
    fn commit_submission<'a>(
        &'a self,
        commit: &'a SubmissionCommit,
    ) -> StoreFuture<'a, CommitOutcome> {
        self.inner.commit_submission(commit)
    }
    fn submission_by_key<'a>(
        &'a self,
        subject: &'a SubjectPseudonym,
        key: &'a IdempotencyKey,
    ) -> StoreFuture<'a, Option<SubmissionRecord>> {
        self.inner.submission_by_key(subject, key)
    }
    fn submission<'a>(
        &'a self,
        code: &'a DossierCode,
    ) -> StoreFuture<'a, Option<SubmissionRecord>> {
        self.inner.submission(code)
    }
    fn due_outbox<'a>(
        &'a self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> StoreFuture<'a, Vec<OutboxEntry>> {
        self.inner.due_outbox(now, lease_until, limit)
    }
    fn outbox_entry<'a>(&'a self, code: &'a DossierCode) -> StoreFuture<'a, Option<OutboxEntry>> {
        self.inner.outbox_entry(code)
    }
    fn mark_delivered<'a>(
        &'a self,
        code: &'a DossierCode,
        now: DateTime<Utc>,
    ) -> StoreFuture<'a, bool> {
        self.inner.mark_delivered(code, now)
    }
    fn reschedule<'a>(
        &'a self,
        code: &'a DossierCode,
        next_attempt_at: DateTime<Utc>,
        attempts: u32,
        last_error: &'a str,
    ) -> StoreFuture<'a, ()> {
        self.inner
            .reschedule(code, next_attempt_at, attempts, last_error)
    }
    fn park<'a>(
        &'a self,
        code: &'a DossierCode,
        attempts: u32,
        reason: &'a str,
    ) -> StoreFuture<'a, ()> {
        self.inner.park(code, attempts, reason)
    }
    fn outbox_summary(&self) -> StoreFuture<'_, OutboxSummary> {
        if self.failing_outbox_summaries.load(Ordering::SeqCst) {
            return Self::down();
        }
        self.inner.outbox_summary()
    }
    fn record_status<'a>(&'a self, report: &'a StatusReport) -> StoreFuture<'a, StatusOutcome> {
        self.inner.record_status(report)
    }
    fn statuses<'a>(&'a self, code: &'a DossierCode) -> StoreFuture<'a, Vec<StatusReport>> {
        self.inner.statuses(code)
    }
    fn append_audit<'a>(&'a self, entry: &'a AuditEntry) -> StoreFuture<'a, AuditRecord> {
        self.inner.append_audit(entry)
    }
    fn audit_range<'a>(&'a self, from_seq: u64, limit: usize) -> StoreFuture<'a, Vec<AuditRecord>> {
        self.inner.audit_range(from_seq, limit)
    }
    fn audit_between<'a>(
        &'a self,
        ward: Option<WardCode>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        after_seq: u64,
        limit: usize,
    ) -> StoreFuture<'a, Vec<AuditRecord>> {
        self.inner.audit_between(ward, from, to, after_seq, limit)
    }
    fn purge_expired<'a>(
        &'a self,
        now: DateTime<Utc>,
        retention: chrono::Duration,
    ) -> StoreFuture<'a, PurgeReport> {
        self.inner.purge_expired(now, retention)
    }
    fn counter_records<'a>(&'a self, ticket: &'a TicketCode) -> StoreFuture<'a, Vec<AuditRecord>> {
        self.inner.counter_records(ticket)
    }
    fn ticket_booking<'a>(&'a self, ticket: &'a TicketCode) -> StoreFuture<'a, Option<Booking>> {
        self.inner.ticket_booking(ticket)
    }
    fn move_booking<'a>(
        &'a self,
        from: &'a BookingId,
        to: &'a BookingRequest,
    ) -> StoreFuture<'a, Booking> {
        self.inner.move_booking(from, to)
    }
    fn append_counter_outcome<'a>(
        &'a self,
        entry: &'a AuditEntry,
    ) -> StoreFuture<'a, Option<AuditRecord>> {
        self.inner.append_counter_outcome(entry)
    }
}
