//! Storage of bookings, drafts and tickets behind one object-safe trait.
//!
//! Rules every [`Store`] implementation enforces (checked by the shared [`conformance`] suite):
//!
//! 1. [`Store::book`] is atomic: it inserts the booking only if the slot has fewer active
//!    bookings than the capacity in the request, so concurrent bookings never overbook.
//! 2. A ticket holds at most one active booking; booking again with it fails with
//!    [`StoreError::TicketAlreadyBooked`] (cancel first to rebook).
//! 3. Cancelling frees the seat; cancelling twice or an unknown booking is an error.
//! 4. Drafts and tickets are not returned after they expire.
//! 5. `Debug` output never shows a draft's content (personal data).
//!
//! [`MemoryStore`] keeps everything in memory (tests, single-instance demos); the durable
//! `SqliteStore` (feature `sqlite`, the embedded default: one file, WAL, group commit) and
//! `PgStore` (feature `postgres`, for several gateway instances sharing state) implement the same
//! trait and run the same [`conformance`] suite. [`open`] picks one from a URL (`sqlite://…`,
//! `postgres://…`).
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use chrono::{TimeZone, Utc};
//! use wardgate::clock::SystemRandom;
//! use wardgate::fallback::WardCode;
//! use wardgate::policy::ProcedureCode;
//! use wardgate::store::{BookingId, BookingRequest, MemoryStore, SlotKey, Store};
//!
//! # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
//! let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
//! let now = Utc.with_ymd_and_hms(2026, 3, 2, 1, 0, 0).single().ok_or("time")?;
//! let request = BookingRequest {
//!     id: BookingId::generate(&SystemRandom::new())?,
//!     slot: SlotKey {
//!         ward: WardCode::parse("30316")?,
//!         point: "trung-tam".into(),
//!         start: now + chrono::Duration::hours(2),
//!     },
//!     capacity: 1,
//!     procedure: ProcedureCode::parse("1.001193")?,
//!     ticket: None,
//!     now,
//! };
//! let booking = store.book(&request).await?;
//! assert_eq!(store.seats_taken(&request.slot).await?, 1);
//! store.cancel(&booking.id, now).await?;
//! assert_eq!(store.seats_taken(&request.slot).await?, 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod memory;
mod open;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;
#[cfg(feature = "sqlite")]
mod sqlite;
mod status;

#[doc(hidden)]
pub mod conformance;
pub mod retention;

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::assurance::{Level, SourceKind};
#[cfg(doc)]
use crate::audit::ChainHash;
use crate::audit::{AuditEntry, AuditRecord};
use crate::clock::{Random, RandomError, random_token};
use crate::fallback::Ticket;
use crate::fallback::{TicketCode, WardCode};
use crate::policy::ProcedureCode;
use crate::pseudonym::SubjectPseudonym;
use crate::submission::{DossierCode, IdempotencyKey, PayloadDigest};

/// The future every [`Store`] method returns: boxed, so the trait stays usable as `dyn Store`.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

pub use memory::MemoryStore;
pub use open::open;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use postgres::{PgOptions, PgStore};
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use sqlite::SqliteStore;
pub use status::{
    BackOfficeStatus, InvalidReportId, MAX_REPORT_ID_LEN, ReportId, StatusOutcome, StatusReport,
};

/// Where bookings, drafts and tickets live.
///
/// Object-safe, so `Arc<dyn Store>` fits in web framework state. Every method returns a boxed
/// `Send` future.
pub trait Store: fmt::Debug + Send + Sync {
    /// Books a seat in `request.slot` if fewer than `request.capacity` seats are taken.
    ///
    /// # Errors
    ///
    /// [`StoreError::SlotFull`], [`StoreError::TicketAlreadyBooked`], [`StoreError::Duplicate`]
    /// (same booking id), [`StoreError::Backend`].
    fn book<'a>(&'a self, request: &'a BookingRequest) -> StoreFuture<'a, Booking>;

    /// Cancels a booking at `now` and returns it.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`], [`StoreError::AlreadyCancelled`], [`StoreError::Backend`].
    fn cancel<'a>(&'a self, id: &'a BookingId, now: DateTime<Utc>) -> StoreFuture<'a, Booking>;

    /// The booking `id`, active or cancelled.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn booking<'a>(&'a self, id: &'a BookingId) -> StoreFuture<'a, Option<Booking>>;

    /// Active bookings of `slot`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn seats_taken<'a>(&'a self, slot: &'a SlotKey) -> StoreFuture<'a, u32>;

    /// Active bookings of a ward on local `day` (Vietnam time), at one point or all; sorted by
    /// start, then by booking time. The staff list.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn bookings_on<'a>(
        &'a self,
        ward: WardCode,
        point: Option<&'a str>,
        day: NaiveDate,
    ) -> StoreFuture<'a, Vec<Booking>>;

    /// Saves (inserts or replaces) a draft.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn save_draft<'a>(&'a self, draft: &'a Draft) -> StoreFuture<'a, ()>;

    /// The draft `id` if it has not expired at `now`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn draft<'a>(&'a self, id: &'a DraftId, now: DateTime<Utc>) -> StoreFuture<'a, Option<Draft>>;

    /// Deletes a draft; whether there was one.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn delete_draft<'a>(&'a self, id: &'a DraftId) -> StoreFuture<'a, bool>;

    /// Saves a ticket so that its typed code can be looked up.
    ///
    /// # Errors
    ///
    /// [`StoreError::Duplicate`] when the code exists, [`StoreError::Backend`].
    fn save_ticket<'a>(&'a self, ticket: &'a Ticket) -> StoreFuture<'a, ()>;

    /// The ticket with `code` if it has not expired at `now`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn ticket<'a>(
        &'a self,
        code: &'a TicketCode,
        now: DateTime<Utc>,
    ) -> StoreFuture<'a, Option<Ticket>>;

    /// Makes the ticket `code` the resident `owner`'s if it has no owner yet (it was taken
    /// signed out and is now claimed signed in). Atomic: of concurrent claims, one sets it.
    /// `true` when this call set the owner; `false` when the ticket already had one, the same
    /// or another (it is left unchanged).
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] when no ticket has `code`, [`StoreError::Backend`].
    fn claim_ticket<'a>(
        &'a self,
        code: &'a TicketCode,
        owner: &'a SubjectPseudonym,
    ) -> StoreFuture<'a, bool>;

    /// The newest ticket (by issue time) of the resident `owner` for `procedure` that has not
    /// expired at `now`, if any: the procedure page finds a signed-in resident's ticket again
    /// when their browser no longer holds it. Tickets without an owner are never returned.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn open_ticket_of<'a>(
        &'a self,
        owner: &'a SubjectPseudonym,
        procedure: &'a ProcedureCode,
        now: DateTime<Utc>,
    ) -> StoreFuture<'a, Option<Ticket>>;

    /// Commits a submission atomically, in one transaction: inserts `commit.record` and
    /// `commit.outbox`, appends `commit.audit` to the audit chain, and deletes
    /// `commit.delete_draft` if set. Nothing is written when it fails.
    ///
    /// When a submission with the same `(record.subject, record.idempotency_key)` exists, writes
    /// nothing and returns it as [`CommitOutcome::AlreadyExists`]; this is decided atomically
    /// (a unique constraint), so of concurrent commits with one key exactly one is `Created`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Duplicate`] when another submission already has `record.dossier_code`
    /// (the caller draws a new code), [`StoreError::Backend`].
    fn commit_submission<'a>(
        &'a self,
        commit: &'a SubmissionCommit,
    ) -> StoreFuture<'a, CommitOutcome>;

    /// The submission of `subject` made with idempotency `key`, if any.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn submission_by_key<'a>(
        &'a self,
        subject: &'a SubjectPseudonym,
        key: &'a IdempotencyKey,
    ) -> StoreFuture<'a, Option<SubmissionRecord>>;

    /// The submission with dossier `code`, if any.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn submission<'a>(&'a self, code: &'a DossierCode)
    -> StoreFuture<'a, Option<SubmissionRecord>>;

    /// Claims up to `limit` pending outbox entries due at `now` (`next_attempt_at <= now`),
    /// oldest `next_attempt_at` first (then by dossier code), and atomically moves their
    /// `next_attempt_at` to `lease_until`, so another worker does not send them at the same time;
    /// an entry whose worker died becomes due again when the lease ends. Returns the entries as
    /// they are after the update.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn due_outbox<'a>(
        &'a self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> StoreFuture<'a, Vec<OutboxEntry>>;

    /// The outbox entry of dossier `code`, in any state.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn outbox_entry<'a>(&'a self, code: &'a DossierCode) -> StoreFuture<'a, Option<OutboxEntry>>;

    /// Marks the entry delivered at `now` if it is pending: returns `true` when this call did it,
    /// `false` when it was already delivered or parked (the state is not changed then).
    ///
    /// # Errors
    ///
    /// [`StoreError::UnknownDossier`], [`StoreError::Backend`].
    fn mark_delivered<'a>(
        &'a self,
        code: &'a DossierCode,
        now: DateTime<Utc>,
    ) -> StoreFuture<'a, bool>;

    /// Sets a pending entry's next attempt, attempt count and last error (no effect on an entry
    /// that is no longer pending).
    ///
    /// # Errors
    ///
    /// [`StoreError::UnknownDossier`], [`StoreError::Backend`].
    fn reschedule<'a>(
        &'a self,
        code: &'a DossierCode,
        next_attempt_at: DateTime<Utc>,
        attempts: u32,
        last_error: &'a str,
    ) -> StoreFuture<'a, ()>;

    /// Parks a pending entry for good (the back office refused it): it is never sent again
    /// until staff act. Records `attempts` and `reason` as `last_error` (no effect on an entry
    /// that is no longer pending).
    ///
    /// # Errors
    ///
    /// [`StoreError::UnknownDossier`], [`StoreError::Backend`].
    fn park<'a>(
        &'a self,
        code: &'a DossierCode,
        attempts: u32,
        reason: &'a str,
    ) -> StoreFuture<'a, ()>;

    /// How many outbox entries wait for delivery and how many are parked, and when the oldest
    /// waiting one was queued, for the gateway's monitoring. Read through an index of the
    /// entries not yet delivered: delivered entries, however many, cost nothing.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn outbox_summary(&self) -> StoreFuture<'_, OutboxSummary>;

    /// Records a back-office status `report` for a stored submission, idempotently by its
    /// report id: a report already stored with the same content is
    /// [`StatusOutcome::AlreadyRecorded`]; one stored under the same id with other content is
    /// kept and returned as [`StatusOutcome::Conflict`]. Decided atomically (a unique key).
    ///
    /// # Errors
    ///
    /// [`StoreError::UnknownDossier`] when no submission has the report's dossier code,
    /// [`StoreError::Backend`].
    fn record_status<'a>(&'a self, report: &'a StatusReport) -> StoreFuture<'a, StatusOutcome>;

    /// The back-office reports of dossier `code`, oldest `reported_at` first (then by report id).
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn statuses<'a>(&'a self, code: &'a DossierCode) -> StoreFuture<'a, Vec<StatusReport>>;

    /// Appends `entry` to the audit chain atomically: the store assigns the next sequence number
    /// (1 for the first record) and seals it with [`AuditEntry::seal`] over the previous record's
    /// hash ([`ChainHash::GENESIS`] for the first), so concurrent appends never fork the chain.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn append_audit<'a>(&'a self, entry: &'a AuditEntry) -> StoreFuture<'a, AuditRecord>;

    /// Up to `limit` audit records with `seq >= from_seq`, in sequence order, exactly as stored.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn audit_range<'a>(&'a self, from_seq: u64, limit: usize) -> StoreFuture<'a, Vec<AuditRecord>>;

    /// Up to `limit` audit records with `from <= at < to` and `seq > after_seq`, in sequence
    /// order, restricted to events whose [`AuditEvent::ward`](crate::audit::AuditEvent::ward) is
    /// `ward` when given (stores keep the ward in an indexed column). Statistics page through it.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn audit_between<'a>(
        &'a self,
        ward: Option<WardCode>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        after_seq: u64,
        limit: usize,
    ) -> StoreFuture<'a, Vec<AuditRecord>>;

    /// Deletes what has outlived its purpose at `now`: drafts and tickets whose `expires_at` is
    /// at or before `now`; bookings whose slot started before `now - retention`; outbox entries
    /// delivered before `now - retention`. Submissions, pending or parked outbox entries and the
    /// audit trail are never purged.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn purge_expired<'a>(
        &'a self,
        now: DateTime<Utc>,
        retention: chrono::Duration,
    ) -> StoreFuture<'a, PurgeReport>;

    /// The audit records of counter outcomes for `ticket`
    /// ([`AuditEvent::Counter`](crate::audit::AuditEvent::Counter) with that ticket code), in
    /// sequence order. Stores index them by ticket code, so the counter never pages through
    /// the audit trail.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn counter_records<'a>(&'a self, ticket: &'a TicketCode) -> StoreFuture<'a, Vec<AuditRecord>>;

    /// The active (not cancelled) booking held by `ticket`, if any; a ticket holds at most one.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn ticket_booking<'a>(&'a self, ticket: &'a TicketCode) -> StoreFuture<'a, Option<Booking>>;

    /// Moves the active booking `from` to the slot of `to`, atomically: `from` is cancelled at
    /// `to.now` and `to` booked (it may carry `from`'s ticket), or nothing changes. A slot
    /// taken in between therefore leaves the old booking in place; it is never lost.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] or [`StoreError::AlreadyCancelled`] for `from`; for `to`, the
    /// refusals of [`book`](Self::book) ([`StoreError::SlotFull`], …), with `from` still
    /// active; [`StoreError::Backend`].
    fn move_booking<'a>(
        &'a self,
        from: &'a BookingId,
        to: &'a BookingRequest,
    ) -> StoreFuture<'a, Booking>;

    /// Appends `entry` like [`append_audit`](Self::append_audit) unless it is a counter outcome
    /// ([`AuditEvent::Counter`](crate::audit::AuditEvent::Counter)) for a ticket that already has
    /// one: `Some(record)` when appended, `None` when an outcome was there. The check and the
    /// append are atomic, so two officers posting at once record one outcome.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn append_counter_outcome<'a>(
        &'a self,
        entry: &'a AuditEntry,
    ) -> StoreFuture<'a, Option<AuditRecord>>;
}

/// A booking id: 16 random bytes, base64url.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct BookingId(String);

impl BookingId {
    /// A fresh random id.
    ///
    /// # Errors
    ///
    /// [`RandomError`] when the generator fails.
    pub fn generate(random: &dyn Random) -> Result<Self, RandomError> {
        random_token::<16>(random).map(Self)
    }

    /// An id as stored (for stores reading their rows back).
    pub fn from_stored(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BookingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A draft id: 16 random bytes, base64url.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DraftId(String);

impl DraftId {
    /// A fresh random id.
    ///
    /// # Errors
    ///
    /// [`RandomError`] when the generator fails.
    pub fn generate(random: &dyn Random) -> Result<Self, RandomError> {
        random_token::<16>(random).map(Self)
    }

    /// An id as stored or received.
    pub fn from_stored(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DraftId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One bookable slot: ward, point and start time.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SlotKey {
    /// The ward.
    pub ward: WardCode,
    /// The service point id.
    pub point: String,
    /// When the slot starts.
    pub start: DateTime<Utc>,
}

/// A request to book a seat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BookingRequest {
    /// The id the booking gets.
    pub id: BookingId,
    /// The slot.
    pub slot: SlotKey,
    /// Seats in the slot.
    pub capacity: u32,
    /// The procedure the resident comes for.
    pub procedure: ProcedureCode,
    /// The resident's ticket, if any.
    pub ticket: Option<TicketCode>,
    /// The time of booking.
    pub now: DateTime<Utc>,
}

/// A booked seat. Holds no personal data: the ticket links to the resident's draft.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Booking {
    /// Id.
    pub id: BookingId,
    /// The slot.
    pub slot: SlotKey,
    /// The procedure.
    pub procedure: ProcedureCode,
    /// The resident's ticket, if any.
    pub ticket: Option<TicketCode>,
    /// When booked.
    pub created_at: DateTime<Utc>,
    /// When cancelled, if it was.
    pub cancelled_at: Option<DateTime<Utc>>,
}

impl Booking {
    /// The booking a store inserts for `request`.
    pub fn from_request(request: &BookingRequest) -> Self {
        Self {
            id: request.id.clone(),
            slot: request.slot.clone(),
            procedure: request.procedure,
            ticket: request.ticket,
            created_at: request.now,
            cancelled_at: None,
        }
    }

    /// Whether not cancelled.
    pub fn is_active(&self) -> bool {
        self.cancelled_at.is_none()
    }
}

/// A resident's saved, unfinished dossier, so the counter does not retype it.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Draft {
    /// Id.
    pub id: DraftId,
    /// The procedure.
    pub procedure: ProcedureCode,
    /// The resident's ward, if known.
    pub ward: Option<WardCode>,
    /// The dossier so far (personal data: never logged).
    pub data: serde_json::Value,
    /// When saved.
    pub saved_at: DateTime<Utc>,
    /// When it is deleted.
    pub expires_at: DateTime<Utc>,
}

impl Draft {
    /// A new draft with a fresh id, kept for `ttl`.
    ///
    /// # Errors
    ///
    /// [`RandomError`] when the generator fails.
    pub fn new(
        procedure: ProcedureCode,
        ward: Option<WardCode>,
        data: serde_json::Value,
        now: DateTime<Utc>,
        ttl: chrono::Duration,
        random: &dyn Random,
    ) -> Result<Self, RandomError> {
        Ok(Self {
            id: DraftId::generate(random)?,
            procedure,
            ward,
            data,
            saved_at: now,
            expires_at: now + ttl,
        })
    }

    /// Keeps the draft at least until `until` (call with the ticket's expiry).
    #[must_use]
    pub fn keep_until(mut self, until: DateTime<Utc>) -> Self {
        self.expires_at = self.expires_at.max(until);
        self
    }
}

impl fmt::Debug for Draft {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Draft")
            .field("id", &self.id)
            .field("procedure", &self.procedure)
            .field("ward", &self.ward)
            .field("data", &"[redacted]")
            .field("saved_at", &self.saved_at)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// A received dossier, as stored. `Debug` never shows the dossier content.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SubmissionRecord {
    /// The dossier code on the receipt (unique).
    pub dossier_code: DossierCode,
    /// The resident, pseudonymous.
    pub subject: SubjectPseudonym,
    /// The client's idempotency key; unique together with `subject`.
    pub idempotency_key: IdempotencyKey,
    /// The procedure.
    pub procedure: ProcedureCode,
    /// The ward that receives the dossier.
    pub ward: WardCode,
    /// The dossier as submitted (personal data: never logged).
    pub dossier: serde_json::Value,
    /// SHA-256 of the canonical JSON of `dossier`.
    pub payload_digest: PayloadDigest,
    /// The level used.
    pub level: Level,
    /// Where the level came from.
    pub assurance_source: SourceKind,
    /// When received (whole microseconds).
    pub created_at: DateTime<Utc>,
    /// The signed receipt (compact JWS), returned again on a replay.
    pub receipt: String,
}

impl SubmissionRecord {
    /// A record as built by the submitter or read back by a store.
    #[expect(
        clippy::too_many_arguments,
        reason = "a plain record constructor for stores"
    )]
    pub fn new(
        dossier_code: DossierCode,
        subject: SubjectPseudonym,
        idempotency_key: IdempotencyKey,
        procedure: ProcedureCode,
        ward: WardCode,
        dossier: serde_json::Value,
        level: Level,
        assurance_source: SourceKind,
        created_at: DateTime<Utc>,
        receipt: String,
    ) -> Self {
        use chrono::SubsecRound as _;
        Self {
            dossier_code,
            subject,
            idempotency_key,
            procedure,
            ward,
            payload_digest: PayloadDigest::of(&dossier),
            dossier,
            level,
            assurance_source,
            created_at: created_at.trunc_subsecs(6),
            receipt,
        }
    }
}

impl fmt::Debug for SubmissionRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubmissionRecord")
            .field("dossier_code", &self.dossier_code)
            .field("subject", &self.subject)
            .field("procedure", &self.procedure)
            .field("ward", &self.ward)
            .field("dossier", &"[redacted]")
            .field("payload_digest", &self.payload_digest)
            .field("level", &self.level)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

/// Where an outbox entry stands.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxStatus {
    /// Waiting to be sent (or being sent under a lease).
    Pending,
    /// The back office acknowledged it.
    Delivered,
    /// The back office refused it for good; staff must act.
    Parked,
}

impl OutboxStatus {
    /// The stable snake_case name (for a text column).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Parked => "parked",
        }
    }

    /// The status named `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "pending" => Some(Self::Pending),
            "delivered" => Some(Self::Delivered),
            "parked" => Some(Self::Parked),
            _ => None,
        }
    }
}

/// The hand-off of one dossier to the back office: exactly one per dossier, keyed by its code.
/// `Debug` never shows the envelope (it carries the dossier).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OutboxEntry {
    /// The dossier (the key).
    pub dossier_code: DossierCode,
    /// The signed envelope (compact JWS).
    pub envelope: String,
    /// Pending, delivered or parked.
    pub status: OutboxStatus,
    /// When queued.
    pub created_at: DateTime<Utc>,
    /// When it is next due (or when its lease ends).
    pub next_attempt_at: DateTime<Utc>,
    /// Failed attempts so far.
    pub attempts: u32,
    /// The last failure (a status code or error kind, never content).
    pub last_error: Option<String>,
    /// When delivered.
    pub delivered_at: Option<DateTime<Utc>>,
}

impl OutboxEntry {
    /// A pending entry, due at once.
    pub fn pending(dossier_code: DossierCode, envelope: String, now: DateTime<Utc>) -> Self {
        use chrono::SubsecRound as _;
        let now = now.trunc_subsecs(6);
        Self {
            dossier_code,
            envelope,
            status: OutboxStatus::Pending,
            created_at: now,
            next_attempt_at: now,
            attempts: 0,
            last_error: None,
            delivered_at: None,
        }
    }
}

impl fmt::Debug for OutboxEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboxEntry")
            .field("dossier_code", &self.dossier_code)
            .field("envelope", &"[redacted]")
            .field("status", &self.status)
            .field("created_at", &self.created_at)
            .field("next_attempt_at", &self.next_attempt_at)
            .field("attempts", &self.attempts)
            .field("last_error", &self.last_error)
            .field("delivered_at", &self.delivered_at)
            .finish()
    }
}

/// The outbox at a glance ([`Store::outbox_summary`]): what waits for delivery and what is
/// stuck. Counts and a time only; no dossier.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct OutboxSummary {
    /// Entries waiting for delivery (including those being sent under a lease).
    pub pending: u64,
    /// Entries the back office refused for good; staff must act.
    pub parked: u64,
    /// When the oldest pending entry was queued; `None` when none is pending.
    pub oldest_pending: Option<DateTime<Utc>>,
}

impl OutboxSummary {
    /// A summary (for stores).
    pub fn new(pending: u64, parked: u64, oldest_pending: Option<DateTime<Utc>>) -> Self {
        Self {
            pending,
            parked,
            oldest_pending,
        }
    }

    /// How long the oldest pending entry has waited at `now`: zero when none is pending (or
    /// when it was queued after `now`, by a clock ahead of this one).
    pub fn oldest_pending_age(&self, now: DateTime<Utc>) -> chrono::Duration {
        self.oldest_pending
            .map_or_else(chrono::Duration::zero, |queued| now - queued)
            .max(chrono::Duration::zero())
    }
}

/// Everything one submission writes, committed together by [`Store::commit_submission`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct SubmissionCommit {
    /// The submission.
    pub record: SubmissionRecord,
    /// Its hand-off to the back office.
    pub outbox: OutboxEntry,
    /// Its audit entry.
    pub audit: AuditEntry,
    /// The draft to delete, if the dossier came from one.
    pub delete_draft: Option<DraftId>,
}

impl SubmissionCommit {
    /// The writes of one submission.
    pub fn new(
        record: SubmissionRecord,
        outbox: OutboxEntry,
        audit: AuditEntry,
        delete_draft: Option<DraftId>,
    ) -> Self {
        Self {
            record,
            outbox,
            audit,
            delete_draft,
        }
    }
}

/// What [`Store::commit_submission`] did.
#[expect(
    clippy::exhaustive_enums,
    reason = "an idempotent insert either inserts or finds the existing row"
)]
#[derive(Clone, Debug, PartialEq)]
pub enum CommitOutcome {
    /// Everything was written; the audit record appended is returned.
    Created(AuditRecord),
    /// A submission with the same subject and idempotency key exists; nothing was written.
    AlreadyExists(Box<SubmissionRecord>),
}

/// What [`Store::purge_expired`] deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PurgeReport {
    /// Drafts deleted.
    pub drafts: u64,
    /// Tickets deleted.
    pub tickets: u64,
    /// Bookings deleted.
    pub bookings: u64,
    /// Delivered outbox entries deleted.
    pub outbox: u64,
}

impl PurgeReport {
    /// A report (for stores).
    pub fn new(drafts: u64, tickets: u64, bookings: u64, outbox: u64) -> Self {
        Self {
            drafts,
            tickets,
            bookings,
            outbox,
        }
    }
}

/// A storage operation failed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// All seats of the slot are taken.
    #[error("the slot is full: all {capacity} seats are taken")]
    SlotFull {
        /// Seats in the slot.
        capacity: u32,
    },
    /// The ticket already holds an active booking.
    #[error("the ticket already holds booking `{booking}`")]
    TicketAlreadyBooked {
        /// The existing booking.
        booking: BookingId,
    },
    /// A record with the same id or code exists.
    #[error("a record with the same id already exists")]
    Duplicate,
    /// No such booking.
    #[error("no such booking")]
    NotFound,
    /// The booking was already cancelled.
    #[error("the booking was already cancelled")]
    AlreadyCancelled,
    /// No submission or outbox entry with this dossier code.
    #[error("no submission or outbox entry with dossier code `{code}`")]
    UnknownDossier {
        /// The code looked up.
        code: DossierCode,
    },
    /// The storage backend failed.
    #[error("the storage backend failed: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The store URL or options are malformed.
    #[error("invalid store configuration: {reason}")]
    BadConfig {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The store URL names a scheme wardgate has no backend for.
    #[error(
        "unsupported store url scheme `{scheme}`: expected `sqlite://`, `postgres://` or `postgresql://`"
    )]
    UnsupportedScheme {
        /// The scheme, lowercased.
        scheme: String,
    },
    /// The backend the URL names was left out of this build.
    #[error(
        "the `{feature}` store backend is not compiled in: enable the crate feature `{feature}`"
    )]
    BackendNotCompiled {
        /// The crate feature to enable.
        feature: &'static str,
    },
    /// The database was migrated by a newer wardgate.
    #[error(
        "the database schema is at version {found}, newer than version {known} that this wardgate knows: upgrade wardgate"
    )]
    SchemaTooNew {
        /// The version in the database.
        found: i64,
        /// The newest version this build knows.
        known: i64,
    },
}

/// The UTC bounds `[start, end)` of local `day` in Vietnam.
pub fn day_bounds(day: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    use chrono::TimeZone as _;
    let tz = crate::fallback::vietnam();
    let start = tz
        .from_local_datetime(&day.and_time(chrono::NaiveTime::MIN))
        .single()
        .map_or(DateTime::<Utc>::MIN_UTC, |t| t.with_timezone(&Utc));
    (start, start + chrono::Duration::days(1))
}
