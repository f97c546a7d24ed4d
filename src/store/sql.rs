//! What the SQL stores share: time columns, row decoding and migrations.
//!
//! Times are stored as whole nanoseconds since the Unix epoch (`BIGINT`), so every timestamp
//! reads back exactly as written on both backends (PostgreSQL's `timestamptz` would round to
//! microseconds) and compares as a plain integer. Codes and ids are stored as their text form
//! and parsed back on read: a row that no longer parses is reported, never guessed at.

use chrono::{DateTime, Utc};

use crate::assurance::{Level, SourceKind};
use crate::audit::{AuditEvent, AuditRecord, ChainHash};
use crate::fallback::{Ticket, TicketCode, WardCode};
use crate::policy::{ProcedureCode, ReasonCode};
use crate::pseudonym::SubjectPseudonym;
use crate::submission::{DossierCode, IdempotencyKey, PayloadDigest};

use super::StoreError;
use super::{
    BackOfficeStatus, Booking, BookingId, Draft, DraftId, OutboxEntry, OutboxStatus, OutboxSummary,
    ReportId, SlotKey, StatusReport, SubmissionRecord,
};

/// One schema migration: applied in order, once, inside a transaction.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Migration {
    /// Its version: 1, 2, 3, … with no gaps.
    pub(crate) version: i64,
    /// The SQL script (several statements).
    pub(crate) sql: &'static str,
}

/// The newest version in `migrations` (0 for none).
pub(crate) fn newest(migrations: &[Migration]) -> i64 {
    migrations.iter().map(|m| m.version).max().unwrap_or(0)
}

/// A timestamp as stored: nanoseconds since the Unix epoch.
///
/// # Errors
///
/// [`StoreError::Backend`] for a time outside 1677–2262, which a nanosecond count cannot hold.
pub(crate) fn nanos(at: DateTime<Utc>, what: &'static str) -> Result<i64, StoreError> {
    at.timestamp_nanos_opt().ok_or_else(|| {
        StoreError::Backend(format!("the {what} time is outside the years 1677 to 2262").into())
    })
}

/// A bound of a time range as stored, clamped to what a nanosecond count holds.
pub(crate) fn nanos_clamped(at: DateTime<Utc>) -> i64 {
    at.timestamp_nanos_opt()
        .unwrap_or(if at < DateTime::UNIX_EPOCH {
            i64::MIN
        } else {
            i64::MAX
        })
}

/// A stored timestamp.
pub(crate) fn from_nanos(nanos: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(nanos)
}

/// A backend failure.
pub(crate) fn backend(error: sqlx::Error) -> StoreError {
    StoreError::Backend(Box::new(error))
}

/// Whether a database error is a unique-constraint violation.
pub(crate) fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// A stored value that no longer parses.
fn corrupt(table: &'static str, column: &'static str) -> StoreError {
    StoreError::Backend(format!("the stored {table}.{column} holds an invalid value").into())
}

/// A row of the `bookings` table, as read.
#[derive(Debug)]
pub(crate) struct BookingRow {
    pub(crate) id: String,
    pub(crate) ward: String,
    pub(crate) point: String,
    pub(crate) slot_start_ns: i64,
    pub(crate) procedure: String,
    pub(crate) ticket: Option<String>,
    pub(crate) created_ns: i64,
    pub(crate) cancelled_ns: Option<i64>,
}

impl BookingRow {
    /// The columns, in the order of the fields, for `SELECT`.
    pub(crate) const COLUMNS: &'static str =
        "id, ward, point, slot_start_ns, procedure, ticket, created_ns, cancelled_ns";

    pub(crate) fn decode(row: &impl RowLike) -> Result<Self, StoreError> {
        Ok(Self {
            id: row.text("id")?,
            ward: row.text("ward")?,
            point: row.text("point")?,
            slot_start_ns: row.int("slot_start_ns")?,
            procedure: row.text("procedure")?,
            ticket: row.opt_text("ticket")?,
            created_ns: row.int("created_ns")?,
            cancelled_ns: row.opt_int("cancelled_ns")?,
        })
    }

    pub(crate) fn into_booking(self) -> Result<Booking, StoreError> {
        Ok(Booking {
            id: BookingId::from_stored(self.id),
            slot: SlotKey {
                ward: WardCode::parse(&self.ward).map_err(|_| corrupt("bookings", "ward"))?,
                point: self.point,
                start: from_nanos(self.slot_start_ns),
            },
            procedure: ProcedureCode::parse(&self.procedure)
                .map_err(|_| corrupt("bookings", "procedure"))?,
            ticket: self
                .ticket
                .map(|t| TicketCode::parse(&t))
                .transpose()
                .map_err(|_| corrupt("bookings", "ticket"))?,
            created_at: from_nanos(self.created_ns),
            cancelled_at: self.cancelled_ns.map(from_nanos),
        })
    }
}

/// The `drafts` columns, in order, for `SELECT`.
pub(crate) const DRAFT_COLUMNS: &str = "id, procedure, ward, data, saved_ns, expires_ns";

/// A draft from its row.
pub(crate) fn decode_draft(row: &impl RowLike) -> Result<Draft, StoreError> {
    Ok(Draft {
        id: DraftId::from_stored(row.text("id")?),
        procedure: ProcedureCode::parse(&row.text("procedure")?)
            .map_err(|_| corrupt("drafts", "procedure"))?,
        ward: row
            .opt_text("ward")?
            .map(|w| WardCode::parse(&w))
            .transpose()
            .map_err(|_| corrupt("drafts", "ward"))?,
        data: serde_json::from_str(&row.text("data")?).map_err(|_| corrupt("drafts", "data"))?,
        saved_at: from_nanos(row.int("saved_ns")?),
        expires_at: from_nanos(row.int("expires_ns")?),
    })
}

/// A draft's dossier as stored: JSON text.
pub(crate) fn draft_data(draft: &Draft) -> Result<String, StoreError> {
    serde_json::to_string(&draft.data).map_err(|e| StoreError::Backend(Box::new(e)))
}

/// The `tickets` columns, in order, for `SELECT`.
pub(crate) const TICKET_COLUMNS: &str =
    "code, procedure, ward, reception_point, reason, draft, issued_ns, expires_ns, owner";

/// A ticket from its row.
pub(crate) fn decode_ticket(row: &impl RowLike) -> Result<Ticket, StoreError> {
    let reason = row.text("reason")?;
    Ok(Ticket {
        code: TicketCode::parse(&row.text("code")?).map_err(|_| corrupt("tickets", "code"))?,
        procedure: ProcedureCode::parse(&row.text("procedure")?)
            .map_err(|_| corrupt("tickets", "procedure"))?,
        ward: WardCode::parse(&row.text("ward")?).map_err(|_| corrupt("tickets", "ward"))?,
        reception_point: row.text("reception_point")?,
        reason: ReasonCode::ALL
            .iter()
            .copied()
            .find(|r| r.as_str() == reason)
            .ok_or_else(|| corrupt("tickets", "reason"))?,
        draft: row.opt_text("draft")?.map(DraftId::from_stored),
        issued_at: from_nanos(row.int("issued_ns")?),
        expires_at: from_nanos(row.int("expires_ns")?),
        owner: row.opt_text("owner")?.map(SubjectPseudonym::from_stored),
    })
}

/// The `submissions` columns, in order, for `SELECT`.
pub(crate) const SUBMISSION_COLUMNS: &str = "dossier_code, subject, idempotency_key, procedure, \
     ward, dossier, payload_digest, level, assurance_source, created_ns, receipt";

/// A submission from its row. The digest is the stored one, not recomputed: what was
/// acknowledged is what is compared.
pub(crate) fn decode_submission(row: &impl RowLike) -> Result<SubmissionRecord, StoreError> {
    let source = row.text("assurance_source")?;
    Ok(SubmissionRecord {
        dossier_code: DossierCode::parse(&row.text("dossier_code")?)
            .map_err(|_| corrupt("submissions", "dossier_code"))?,
        subject: SubjectPseudonym::from_stored(row.text("subject")?),
        idempotency_key: IdempotencyKey::parse(&row.text("idempotency_key")?)
            .map_err(|_| corrupt("submissions", "idempotency_key"))?,
        procedure: ProcedureCode::parse(&row.text("procedure")?)
            .map_err(|_| corrupt("submissions", "procedure"))?,
        ward: WardCode::parse(&row.text("ward")?).map_err(|_| corrupt("submissions", "ward"))?,
        dossier: serde_json::from_str(&row.text("dossier")?)
            .map_err(|_| corrupt("submissions", "dossier"))?,
        payload_digest: PayloadDigest::from_hex(&row.text("payload_digest")?)
            .ok_or_else(|| corrupt("submissions", "payload_digest"))?,
        level: u8::try_from(row.int("level")?)
            .ok()
            .and_then(Level::from_number)
            .ok_or_else(|| corrupt("submissions", "level"))?,
        assurance_source: source_kind(&source)
            .ok_or_else(|| corrupt("submissions", "assurance_source"))?,
        created_at: from_nanos(row.int("created_ns")?),
        receipt: row.text("receipt")?,
    })
}

/// The stored name of an assurance source.
fn source_kind(name: &str) -> Option<SourceKind> {
    [
        SourceKind::IdTokenAcr,
        SourceKind::UserinfoClaim,
        SourceKind::VerifiedClaims,
        SourceKind::VectorOfTrust,
        SourceKind::CounterDocument,
    ]
    .into_iter()
    .find(|kind| kind.as_str() == name)
}

/// A dossier as stored: JSON text.
pub(crate) fn json_text<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Backend(Box::new(e)))
}

/// The `outbox` columns, in order, for `SELECT`.
pub(crate) const OUTBOX_COLUMNS: &str = "dossier_code, envelope, status, created_ns, \
     next_attempt_ns, attempts, last_error, delivered_ns";

/// An outbox entry from its row.
pub(crate) fn decode_outbox(row: &impl RowLike) -> Result<OutboxEntry, StoreError> {
    Ok(OutboxEntry {
        dossier_code: DossierCode::parse(&row.text("dossier_code")?)
            .map_err(|_| corrupt("outbox", "dossier_code"))?,
        envelope: row.text("envelope")?,
        status: OutboxStatus::from_name(&row.text("status")?)
            .ok_or_else(|| corrupt("outbox", "status"))?,
        created_at: from_nanos(row.int("created_ns")?),
        next_attempt_at: from_nanos(row.int("next_attempt_ns")?),
        attempts: u32::try_from(row.int("attempts")?).map_err(|_| corrupt("outbox", "attempts"))?,
        last_error: row.opt_text("last_error")?,
        delivered_at: row.opt_int("delivered_ns")?.map(from_nanos),
    })
}

/// Pending and parked entries by status, with the oldest queuing time: one covering scan of
/// the `outbox_undelivered` index (schema 7), whose condition this query repeats word for word so
/// that SQLite uses it; delivered entries are not read.
pub(crate) const OUTBOX_SUMMARY: &str = "SELECT status, COUNT(*) AS entries, \
     MIN(created_ns) AS oldest_ns FROM outbox WHERE status <> 'delivered' GROUP BY status";

/// The summary from the rows of [`OUTBOX_SUMMARY`].
pub(crate) fn decode_outbox_summary(rows: &[impl RowLike]) -> Result<OutboxSummary, StoreError> {
    let mut summary = OutboxSummary::default();
    for row in rows {
        let entries =
            u64::try_from(row.int("entries")?).map_err(|_| corrupt("outbox", "status"))?;
        match OutboxStatus::from_name(&row.text("status")?) {
            Some(OutboxStatus::Pending) => {
                summary.pending = entries;
                summary.oldest_pending = Some(from_nanos(row.int("oldest_ns")?));
            }
            Some(OutboxStatus::Parked) => summary.parked = entries,
            _ => return Err(corrupt("outbox", "status")),
        }
    }
    Ok(summary)
}

/// The `dossier_statuses` columns, in order, for `SELECT`.
pub(crate) const STATUS_COLUMNS: &str = "report_id, dossier_code, status, reported_ns";

/// A back-office status report from its row.
pub(crate) fn decode_status(row: &impl RowLike) -> Result<StatusReport, StoreError> {
    Ok(StatusReport {
        report_id: ReportId::parse(&row.text("report_id")?)
            .map_err(|_| corrupt("dossier_statuses", "report_id"))?,
        dossier_code: DossierCode::parse(&row.text("dossier_code")?)
            .map_err(|_| corrupt("dossier_statuses", "dossier_code"))?,
        status: BackOfficeStatus::from_name(&row.text("status")?)
            .ok_or_else(|| corrupt("dossier_statuses", "status"))?,
        reported_at: from_nanos(row.int("reported_ns")?),
    })
}

/// A row count or limit as SQL wants it.
pub(crate) fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// A sequence number as stored.
pub(crate) fn sql_seq(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

/// The `audit` columns, in order, for `SELECT`.
pub(crate) const AUDIT_COLUMNS: &str = "seq, at_ns, subject, event, prev_hash, hash";

/// An audit record from its row, exactly as stored (the chain is checked by
/// [`verify_chain`](crate::audit::verify_chain), not here).
pub(crate) fn decode_audit(row: &impl RowLike) -> Result<AuditRecord, StoreError> {
    let event: AuditEvent =
        serde_json::from_str(&row.text("event")?).map_err(|_| corrupt("audit", "event"))?;
    Ok(AuditRecord::from_stored(
        u64::try_from(row.int("seq")?).map_err(|_| corrupt("audit", "seq"))?,
        from_nanos(row.int("at_ns")?),
        row.opt_text("subject")?.map(SubjectPseudonym::from_stored),
        event,
        ChainHash::from_hex(&row.text("prev_hash")?)
            .ok_or_else(|| corrupt("audit", "prev_hash"))?,
        ChainHash::from_hex(&row.text("hash")?).ok_or_else(|| corrupt("audit", "hash"))?,
    ))
}

/// Typed column access shared by the SQLite and PostgreSQL rows.
pub(crate) trait RowLike {
    /// A `TEXT NOT NULL` column.
    fn text(&self, column: &str) -> Result<String, StoreError>;
    /// A nullable `TEXT` column.
    fn opt_text(&self, column: &str) -> Result<Option<String>, StoreError>;
    /// A `BIGINT NOT NULL` column.
    fn int(&self, column: &str) -> Result<i64, StoreError>;
    /// A nullable `BIGINT` column.
    fn opt_int(&self, column: &str) -> Result<Option<i64>, StoreError>;
}

macro_rules! row_like {
    ($row:ty) => {
        impl RowLike for $row {
            fn text(&self, column: &str) -> Result<String, StoreError> {
                sqlx::Row::try_get(self, column).map_err(backend)
            }
            fn opt_text(&self, column: &str) -> Result<Option<String>, StoreError> {
                sqlx::Row::try_get(self, column).map_err(backend)
            }
            fn int(&self, column: &str) -> Result<i64, StoreError> {
                sqlx::Row::try_get(self, column).map_err(backend)
            }
            fn opt_int(&self, column: &str) -> Result<Option<i64>, StoreError> {
                sqlx::Row::try_get(self, column).map_err(backend)
            }
        }
    };
}

#[cfg(feature = "sqlite")]
row_like!(sqlx::sqlite::SqliteRow);
#[cfg(feature = "postgres")]
row_like!(sqlx::postgres::PgRow);
