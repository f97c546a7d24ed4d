//! [`PgStore`]: the [`Store`] in PostgreSQL, shared by several gateway instances.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr as _;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, SubsecRound as _, Utc};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions as _, Postgres, QueryBuilder, Row as _};
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::audit::{AuditEntry, AuditEvent, AuditRecord, ChainHash};
use crate::fallback::{Ticket, TicketCode, WardCode};
use crate::policy::ProcedureCode;
use crate::pseudonym::SubjectPseudonym;
use crate::submission::{DossierCode, IdempotencyKey};

use super::sql::{
    AUDIT_COLUMNS, BookingRow, DRAFT_COLUMNS, Migration, OUTBOX_COLUMNS, OUTBOX_SUMMARY,
    STATUS_COLUMNS, SUBMISSION_COLUMNS, TICKET_COLUMNS, backend, decode_audit, decode_draft,
    decode_outbox, decode_outbox_summary, decode_status, decode_submission, decode_ticket,
    draft_data, is_unique_violation, json_text, nanos, nanos_clamped, newest, sql_limit, sql_seq,
};
use super::{
    Booking, BookingId, BookingRequest, CommitOutcome, Draft, DraftId, OutboxEntry, OutboxSummary,
    PurgeReport, SlotKey, StatusOutcome, StatusReport, Store, StoreError, StoreFuture,
    SubmissionCommit, SubmissionRecord, day_bounds,
};

/// The schema scripts, in order.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        sql: include_str!("sql/postgres/0001_init.sql"),
    },
    Migration {
        version: 2,
        sql: include_str!("sql/postgres/0002_submissions.sql"),
    },
    Migration {
        version: 3,
        sql: include_str!("sql/postgres/0003_dossier_statuses.sql"),
    },
    Migration {
        version: 4,
        sql: include_str!("sql/postgres/0004_lookups_by_ticket.sql"),
    },
    Migration {
        version: 5,
        sql: include_str!("sql/postgres/0005_ticket_owner.sql"),
    },
    Migration {
        version: 6,
        sql: include_str!("sql/postgres/0006_tickets_by_owner.sql"),
    },
    Migration {
        version: 7,
        sql: include_str!("sql/postgres/0007_outbox_undelivered.sql"),
    },
];

/// The most submissions committed in one transaction.
const MAX_COMMIT_BATCH: usize = 128;

/// Batches committing at once: while one waits for its write-ahead log flush, the next writes.
const COMMITTERS: usize = 2;

/// Submissions waiting for a committer, at most.
const COMMIT_QUEUE: usize = 1024;

/// The advisory lock held while migrating, so that instances starting together migrate once.
/// (The bytes of "wardgate" as a big-endian integer.)
const MIGRATION_LOCK: i64 = 0x7761_7264_6761_7465;

/// How a [`PgStore`] connects.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PgOptions {
    /// Connections in the pool (default 10).
    pub max_connections: u32,
    /// The schema holding wardgate's tables, created if missing (default: none, so the
    /// database's `search_path` decides, normally `public`).
    pub schema: Option<String>,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            schema: None,
        }
    }
}

impl PgOptions {
    /// Sets the pool size.
    #[must_use]
    pub fn max_connections(mut self, connections: u32) -> Self {
        self.max_connections = connections;
        self
    }

    /// Keeps the tables in `schema`: lowercase ASCII letters, digits and `_`, not starting with
    /// a digit, at most 63 characters.
    #[must_use]
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
        self
    }
}

/// A [`Store`] in PostgreSQL.
///
/// Rules it enforces, beyond those of [`Store`]:
///
/// 1. Durable before acknowledged: every write returns after its transaction committed (run the
///    server with its default `synchronous_commit = on` and `fsync = on`).
/// 2. Several gateway instances may share one database. A booking locks its slot's row
///    (`SELECT … FOR UPDATE`) before counting the seats, so two instances cannot both take the
///    last seat; a ticket's single active booking is a unique index.
/// 3. The schema is migrated on connect under an advisory lock (instances starting together
///    migrate once); a database migrated by a newer wardgate is refused.
/// 4. SQL statements and their parameters are never logged; `Debug` never shows the URL (it
///    holds the password).
/// 5. Submissions are group-committed: concurrent [`Store::commit_submission`] calls queue up,
///    and a committer writes up to 128 of them in one transaction, appending their audit
///    records to the chain in queue order under one lock of its head, with one commit (one
///    write-ahead log flush) for all. Each call still returns only after its own submission is
///    durable. If a batch fails before committing, its submissions are retried one by one, so a
///    failing write fails only its own caller. Without the batches every submission held the
///    chain's head locked through its own commit, which capped a database at a few hundred
///    submissions per second whatever the number of callers.
///
/// # Example
///
/// ```no_run
/// use wardgate::store::{PgOptions, PgStore, Store};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// let store = PgStore::connect_with(
///     "postgres://wardgate:secret@127.0.0.1/wardgate",
///     PgOptions::default().max_connections(20),
/// )
/// .await?;
/// assert!(store.booking(&wardgate::store::BookingId::from_stored("none")).await?.is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct PgStore {
    pool: PgPool,
    options: PgOptions,
    /// The committers' queue; they stop when the store is dropped.
    commits: mpsc::Sender<PendingCommit>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl PgStore {
    /// The newest schema version this build knows.
    pub const SCHEMA_VERSION: i64 = 7;

    /// Connects with the default [`PgOptions`] and migrates the schema.
    ///
    /// # Errors
    ///
    /// As [`connect_with`](Self::connect_with).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, PgOptions::default()).await
    }

    /// Connects to the database at `url` (`postgres://user:password@host:port/database`) and
    /// migrates the schema to [`SCHEMA_VERSION`](Self::SCHEMA_VERSION).
    ///
    /// # Errors
    ///
    /// [`StoreError::BadConfig`] for a URL PostgreSQL's driver cannot parse, a pool of no
    /// connections or an invalid schema name; [`StoreError::SchemaTooNew`] when a newer wardgate
    /// migrated the database; [`StoreError::Backend`] when the server cannot be reached or
    /// refuses.
    pub async fn connect_with(url: &str, options: PgOptions) -> Result<Self, StoreError> {
        if options.max_connections == 0 {
            return Err(StoreError::BadConfig {
                reason: "a PostgreSQL pool needs at least one connection",
            });
        }
        let mut connect = PgConnectOptions::from_str(url)
            .map_err(|_| StoreError::BadConfig {
                reason: "the PostgreSQL driver cannot parse the url",
            })?
            .application_name("wardgate")
            .disable_statement_logging();
        if let Some(schema) = &options.schema {
            if !valid_schema(schema) {
                return Err(StoreError::BadConfig {
                    reason: "a schema name is 1 to 63 lowercase ASCII letters, digits and `_`, \
                             not starting with a digit",
                });
            }
            connect = connect.options([("search_path", schema.as_str())]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .connect_with(connect)
            .await
            .map_err(backend)?;
        migrate(&pool, options.schema.as_deref(), MIGRATIONS).await?;
        let (commits, queue) = mpsc::channel(COMMIT_QUEUE);
        let queue = Arc::new(Mutex::new(queue));
        for _ in 0..COMMITTERS {
            tokio::spawn(commit_loop(pool.clone(), Arc::clone(&queue)));
        }
        Ok(Self {
            pool,
            options,
            commits,
        })
    }

    /// The options it connected with.
    pub fn options(&self) -> &PgOptions {
        &self.options
    }

    async fn book_now(&self, request: &BookingRequest) -> Result<Booking, StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        match book(&mut tx, request).await {
            Ok(booking) => {
                tx.commit().await.map_err(backend)?;
                Ok(booking)
            }
            Err(Refused::Store(error)) => {
                tx.rollback().await.map_err(backend)?;
                Err(error)
            }
            Err(Refused::TicketRace(ticket)) => {
                // Another transaction booked with the same ticket after our check: the unique
                // index refused ours. Report the booking that won.
                tx.rollback().await.map_err(backend)?;
                let held = sqlx::query(
                    "SELECT id FROM bookings WHERE ticket = $1 AND cancelled_ns IS NULL",
                )
                .bind(ticket.to_string())
                .fetch_optional(&self.pool)
                .await
                .and_then(|row| row.map(|r| r.try_get::<String, _>(0)).transpose())
                .map_err(backend)?;
                Err(held.map_or(StoreError::Duplicate, |id| {
                    StoreError::TicketAlreadyBooked {
                        booking: BookingId::from_stored(id),
                    }
                }))
            }
        }
    }

    async fn move_now(&self, from: &BookingId, to: &BookingRequest) -> Result<Booking, StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // Cancelling first locks the old row (a second move of it waits, then finds it
        // cancelled) and frees the ticket for the new booking, all before anyone sees it.
        let cancelled = sqlx::query(
            "UPDATE bookings SET cancelled_ns = $1 WHERE id = $2 AND cancelled_ns IS NULL",
        )
        .bind(nanos(to.now, "cancellation")?)
        .bind(from.as_str())
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        if cancelled.rows_affected() == 0 {
            tx.rollback().await.map_err(backend)?;
            return Err(match self.booking_now(from).await? {
                Some(_) => StoreError::AlreadyCancelled,
                None => StoreError::NotFound,
            });
        }
        match book(&mut tx, to).await {
            Ok(booking) => {
                tx.commit().await.map_err(backend)?;
                Ok(booking)
            }
            Err(refused) => {
                tx.rollback().await.map_err(backend)?;
                Err(match refused {
                    Refused::Store(error) => error,
                    // The old booking held the ticket until this transaction ends, so another
                    // booking with it cannot have won; report it as a duplicate if it did.
                    Refused::TicketRace(_) => StoreError::Duplicate,
                })
            }
        }
    }

    async fn cancel_now(&self, id: &BookingId, now: DateTime<Utc>) -> Result<Booking, StoreError> {
        let sql = format!(
            "UPDATE bookings SET cancelled_ns = $1 WHERE id = $2 AND cancelled_ns IS NULL \
             RETURNING {}",
            BookingRow::COLUMNS
        );
        let updated = sqlx::query(&sql)
            .bind(nanos(now, "cancellation")?)
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        if let Some(row) = updated {
            return BookingRow::decode(&row)?.into_booking();
        }
        let exists = sqlx::query("SELECT 1 FROM bookings WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        Err(if exists.is_some() {
            StoreError::AlreadyCancelled
        } else {
            StoreError::NotFound
        })
    }

    async fn booking_now(&self, id: &BookingId) -> Result<Option<Booking>, StoreError> {
        let sql = format!("SELECT {} FROM bookings WHERE id = $1", BookingRow::COLUMNS);
        sqlx::query(&sql)
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
            .map(|row| BookingRow::decode(&row)?.into_booking())
            .transpose()
    }

    async fn seats_taken_now(&self, slot: &SlotKey) -> Result<u32, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(backend)?;
        seats_taken(&mut conn, slot).await
    }

    async fn bookings_on_now(
        &self,
        ward: WardCode,
        point: Option<&str>,
        day: NaiveDate,
    ) -> Result<Vec<Booking>, StoreError> {
        let (from, to) = day_bounds(day);
        let sql = format!(
            "SELECT {} FROM bookings \
             WHERE ward = $1 AND slot_start_ns >= $2 AND slot_start_ns < $3 \
               AND ($4::text IS NULL OR point = $4) AND cancelled_ns IS NULL \
             ORDER BY slot_start_ns, created_ns, id COLLATE \"C\"",
            BookingRow::COLUMNS
        );
        sqlx::query(&sql)
            .bind(ward.as_str())
            .bind(nanos_clamped(from))
            .bind(nanos_clamped(to))
            .bind(point)
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?
            .iter()
            .map(|row| BookingRow::decode(row)?.into_booking())
            .collect()
    }

    async fn save_draft_now(&self, draft: &Draft) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO drafts (id, procedure, ward, data, saved_ns, expires_ns) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (id) DO UPDATE SET procedure = EXCLUDED.procedure, \
               ward = EXCLUDED.ward, data = EXCLUDED.data, saved_ns = EXCLUDED.saved_ns, \
               expires_ns = EXCLUDED.expires_ns",
        )
        .bind(draft.id.as_str())
        .bind(draft.procedure.as_str())
        .bind(draft.ward.as_ref().map(WardCode::as_str))
        .bind(draft_data(draft)?)
        .bind(nanos(draft.saved_at, "draft saving")?)
        .bind(nanos(draft.expires_at, "draft expiry")?)
        .execute(&self.pool)
        .await
        .map(drop)
        .map_err(backend)
    }

    async fn draft_now(
        &self,
        id: &DraftId,
        now: DateTime<Utc>,
    ) -> Result<Option<Draft>, StoreError> {
        let sql = format!("SELECT {DRAFT_COLUMNS} FROM drafts WHERE id = $1 AND expires_ns > $2");
        sqlx::query(&sql)
            .bind(id.as_str())
            .bind(nanos_clamped(now))
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
            .map(|row| decode_draft(&row))
            .transpose()
    }

    async fn delete_draft_now(&self, id: &DraftId) -> Result<bool, StoreError> {
        sqlx::query("DELETE FROM drafts WHERE id = $1")
            .bind(id.as_str())
            .execute(&self.pool)
            .await
            .map(|done| done.rows_affected() > 0)
            .map_err(backend)
    }

    /// Sets the owner of ticket `code` where it has none: `true` when this did it.
    async fn claim_ticket_now(
        &self,
        code: &TicketCode,
        owner: &SubjectPseudonym,
    ) -> Result<bool, StoreError> {
        let claimed =
            sqlx::query("UPDATE tickets SET owner = $1 WHERE code = $2 AND owner IS NULL")
                .bind(owner.as_str())
                .bind(code.to_string())
                .execute(&self.pool)
                .await
                .map_err(backend)?
                .rows_affected()
                > 0;
        if claimed {
            return Ok(true);
        }
        let exists = sqlx::query("SELECT 1 FROM tickets WHERE code = $1")
            .bind(code.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        exists.map(|_| false).ok_or(StoreError::NotFound)
    }

    async fn save_ticket_now(&self, ticket: &Ticket) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO tickets \
             (code, procedure, ward, reception_point, reason, draft, issued_ns, expires_ns, owner) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(ticket.code.to_string())
        .bind(ticket.procedure.as_str())
        .bind(ticket.ward.as_str())
        .bind(&ticket.reception_point)
        .bind(ticket.reason.as_str())
        .bind(ticket.draft.as_ref().map(DraftId::as_str))
        .bind(nanos(ticket.issued_at, "ticket issue")?)
        .bind(nanos(ticket.expires_at, "ticket expiry")?)
        .bind(ticket.owner.as_ref().map(SubjectPseudonym::as_str))
        .execute(&self.pool)
        .await
        .map(drop)
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Duplicate
            } else {
                backend(e)
            }
        })
    }

    async fn ticket_now(
        &self,
        code: &TicketCode,
        now: DateTime<Utc>,
    ) -> Result<Option<Ticket>, StoreError> {
        let sql =
            format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE code = $1 AND expires_ns > $2");
        sqlx::query(&sql)
            .bind(code.to_string())
            .bind(nanos_clamped(now))
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
            .map(|row| decode_ticket(&row))
            .transpose()
    }

    async fn open_ticket_of_now(
        &self,
        owner: &SubjectPseudonym,
        procedure: &ProcedureCode,
        now: DateTime<Utc>,
    ) -> Result<Option<Ticket>, StoreError> {
        let sql = format!(
            "SELECT {TICKET_COLUMNS} FROM tickets \
             WHERE owner = $1 AND procedure = $2 AND expires_ns > $3 \
             ORDER BY issued_ns DESC, code DESC LIMIT 1"
        );
        sqlx::query(&sql)
            .bind(owner.as_str())
            .bind(procedure.as_str())
            .bind(nanos_clamped(now))
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
            .map(|row| decode_ticket(&row))
            .transpose()
    }
}

impl PgStore {
    async fn commit_submission_now(
        &self,
        commit: &SubmissionCommit,
    ) -> Result<CommitOutcome, StoreError> {
        let (reply, answer) = oneshot::channel();
        let pending = PendingCommit {
            commit: Box::new(commit.clone()),
            reply,
        };
        if self.commits.send(pending).await.is_err() {
            return Err(committer_stopped());
        }
        answer.await.unwrap_or_else(|_| Err(committer_stopped()))
    }

    async fn submission_by_key_now(
        &self,
        subject: &SubjectPseudonym,
        key: &IdempotencyKey,
    ) -> Result<Option<SubmissionRecord>, StoreError> {
        submission_by_key(&self.pool, subject, key).await
    }

    async fn submission_now(
        &self,
        code: &DossierCode,
    ) -> Result<Option<SubmissionRecord>, StoreError> {
        let sql = format!("SELECT {SUBMISSION_COLUMNS} FROM submissions WHERE dossier_code = $1");
        sqlx::query(&sql)
            .bind(code.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
            .map(|row| decode_submission(&row))
            .transpose()
    }

    async fn due_outbox_now(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        // SKIP LOCKED: workers of several instances claim disjoint entries without waiting.
        let sql = format!(
            "WITH due AS (\
               SELECT dossier_code, next_attempt_ns AS was FROM outbox \
               WHERE status = 'pending' AND next_attempt_ns <= $1 \
               ORDER BY next_attempt_ns, dossier_code COLLATE \"C\" LIMIT $3 \
               FOR UPDATE SKIP LOCKED) \
             UPDATE outbox SET next_attempt_ns = $2 FROM due \
             WHERE outbox.dossier_code = due.dossier_code \
             RETURNING due.was, {}",
            OUTBOX_COLUMNS
                .split(", ")
                .map(|column| format!("outbox.{column}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let rows = sqlx::query(&sql)
            .bind(nanos_clamped(now))
            .bind(nanos(lease_until, "lease")?)
            .bind(sql_limit(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        let mut claimed = rows
            .iter()
            .map(|row| {
                let was: i64 = row.try_get("was").map_err(backend)?;
                Ok((was, decode_outbox(row)?))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        claimed.sort_by(|(a, x), (b, y)| (a, x.dossier_code).cmp(&(b, y.dossier_code)));
        Ok(claimed.into_iter().map(|(_, entry)| entry).collect())
    }

    async fn outbox_entry_now(
        &self,
        code: &DossierCode,
    ) -> Result<Option<OutboxEntry>, StoreError> {
        let sql = format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE dossier_code = $1");
        sqlx::query(&sql)
            .bind(code.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
            .map(|row| decode_outbox(&row))
            .transpose()
    }

    /// `Ok` when the outbox has an entry for `code`, else [`StoreError::UnknownDossier`].
    async fn outbox_exists(&self, code: &DossierCode) -> Result<(), StoreError> {
        sqlx::query("SELECT 1 FROM outbox WHERE dossier_code = $1")
            .bind(code.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
            .map(drop)
            .ok_or(StoreError::UnknownDossier { code: *code })
    }

    /// Stores `report` unless a report with its id is there; compares with the stored one if so.
    async fn record_status_now(&self, report: &StatusReport) -> Result<StatusOutcome, StoreError> {
        let known = sqlx::query("SELECT 1 FROM submissions WHERE dossier_code = $1")
            .bind(report.dossier_code.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        if known.is_none() {
            return Err(StoreError::UnknownDossier {
                code: report.dossier_code,
            });
        }
        let inserted = sqlx::query(
            "INSERT INTO dossier_statuses (report_id, dossier_code, status, reported_ns) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (report_id) DO NOTHING",
        )
        .bind(report.report_id.as_str())
        .bind(report.dossier_code.as_str())
        .bind(report.status.as_str())
        .bind(nanos(report.reported_at, "report")?)
        .execute(&self.pool)
        .await
        .map_err(backend)?
        .rows_affected();
        if inserted > 0 {
            return Ok(StatusOutcome::Recorded);
        }
        let sql = format!("SELECT {STATUS_COLUMNS} FROM dossier_statuses WHERE report_id = $1");
        let row = sqlx::query(&sql)
            .bind(report.report_id.as_str())
            .fetch_one(&self.pool)
            .await
            .map_err(backend)?;
        let stored = decode_status(&row)?;
        Ok(if stored == *report {
            StatusOutcome::AlreadyRecorded
        } else {
            StatusOutcome::Conflict(stored)
        })
    }

    async fn statuses_now(&self, code: &DossierCode) -> Result<Vec<StatusReport>, StoreError> {
        let sql = format!(
            "SELECT {STATUS_COLUMNS} FROM dossier_statuses WHERE dossier_code = $1 \
             ORDER BY reported_ns, report_id"
        );
        sqlx::query(&sql)
            .bind(code.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?
            .iter()
            .map(decode_status)
            .collect()
    }

    async fn mark_delivered_now(
        &self,
        code: &DossierCode,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let delivered = sqlx::query(
            "UPDATE outbox SET status = 'delivered', delivered_ns = $1 \
             WHERE dossier_code = $2 AND status = 'pending'",
        )
        .bind(nanos(now.trunc_subsecs(6), "delivery")?)
        .bind(code.as_str())
        .execute(&self.pool)
        .await
        .map_err(backend)?
        .rows_affected()
            > 0;
        if !delivered {
            self.outbox_exists(code).await?;
        }
        Ok(delivered)
    }

    async fn reschedule_now(
        &self,
        code: &DossierCode,
        next_attempt_at: DateTime<Utc>,
        attempts: u32,
        last_error: &str,
    ) -> Result<(), StoreError> {
        let updated = sqlx::query(
            "UPDATE outbox SET next_attempt_ns = $1, attempts = $2, last_error = $3 \
             WHERE dossier_code = $4 AND status = 'pending'",
        )
        .bind(nanos(next_attempt_at.trunc_subsecs(6), "next attempt")?)
        .bind(i64::from(attempts))
        .bind(last_error)
        .bind(code.as_str())
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        if updated.rows_affected() == 0 {
            self.outbox_exists(code).await?;
        }
        Ok(())
    }

    async fn park_now(
        &self,
        code: &DossierCode,
        attempts: u32,
        reason: &str,
    ) -> Result<(), StoreError> {
        let updated = sqlx::query(
            "UPDATE outbox SET status = 'parked', attempts = $1, last_error = $2 \
             WHERE dossier_code = $3 AND status = 'pending'",
        )
        .bind(i64::from(attempts))
        .bind(reason)
        .bind(code.as_str())
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        if updated.rows_affected() == 0 {
            self.outbox_exists(code).await?;
        }
        Ok(())
    }

    async fn append_counter_outcome_now(
        &self,
        entry: &AuditEntry,
    ) -> Result<Option<AuditRecord>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // The chain head's lock serialises appends across instances: the check below sees
        // every outcome committed before ours.
        lock_audit_head(&mut tx).await?;
        if let AuditEvent::Counter(c) = &entry.event {
            let found = sqlx::query(
                "SELECT 1 FROM audit WHERE ((event::jsonb) ->> 'kind') = 'counter' \
                 AND ((event::jsonb) ->> 'ticket') = $1 LIMIT 1",
            )
            .bind(c.ticket.to_string())
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?;
            if found.is_some() {
                tx.rollback().await.map_err(backend)?;
                return Ok(None);
            }
        }
        let record = append_audit(&mut tx, entry).await?;
        tx.commit().await.map_err(backend)?;
        Ok(Some(record))
    }

    async fn append_audit_now(&self, entry: &AuditEntry) -> Result<AuditRecord, StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let record = append_audit(&mut tx, entry).await?;
        tx.commit().await.map_err(backend)?;
        Ok(record)
    }

    async fn audit_range_now(
        &self,
        from_seq: u64,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let sql =
            format!("SELECT {AUDIT_COLUMNS} FROM audit WHERE seq >= $1 ORDER BY seq LIMIT $2");
        sqlx::query(&sql)
            .bind(sql_seq(from_seq))
            .bind(sql_limit(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?
            .iter()
            .map(decode_audit)
            .collect()
    }

    async fn audit_between_now(
        &self,
        ward: Option<WardCode>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let sql = format!(
            "SELECT {AUDIT_COLUMNS} FROM audit \
             WHERE seq > $1 AND at_ns >= $2 AND at_ns < $3 AND ($4::text IS NULL OR ward = $4) \
             ORDER BY seq LIMIT $5"
        );
        sqlx::query(&sql)
            .bind(sql_seq(after_seq))
            .bind(nanos_clamped(from))
            .bind(nanos_clamped(to))
            .bind(ward.as_ref().map(WardCode::as_str))
            .bind(sql_limit(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?
            .iter()
            .map(decode_audit)
            .collect()
    }

    async fn purge_now(
        &self,
        now: DateTime<Utc>,
        retention: chrono::Duration,
    ) -> Result<PurgeReport, StoreError> {
        let now_ns = nanos_clamped(now);
        let before = nanos_clamped(now - retention);
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let mut deleted = [0u64; 4];
        let statements = [
            ("DELETE FROM drafts WHERE expires_ns <= $1", now_ns),
            ("DELETE FROM tickets WHERE expires_ns <= $1", now_ns),
            ("DELETE FROM bookings WHERE slot_start_ns < $1", before),
            (
                "DELETE FROM outbox WHERE status = 'delivered' AND delivered_ns < $1",
                before,
            ),
        ];
        for (count, (sql, bound)) in deleted.iter_mut().zip(statements) {
            *count = sqlx::query(sql)
                .bind(bound)
                .execute(&mut *tx)
                .await
                .map_err(backend)?
                .rows_affected();
        }
        // The lock rows of slots whose bookings are gone.
        sqlx::query("DELETE FROM slots WHERE start_ns < $1")
            .bind(before)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        let [drafts, tickets, bookings, outbox] = deleted;
        Ok(PurgeReport::new(drafts, tickets, bookings, outbox))
    }
}

// ---------------------------------------------------------------------------------------------
// Group commit of submissions.
// ---------------------------------------------------------------------------------------------

/// A submission waiting for a committer.
struct PendingCommit {
    commit: Box<SubmissionCommit>,
    reply: oneshot::Sender<Result<CommitOutcome, StoreError>>,
}

fn committer_stopped() -> StoreError {
    StoreError::Backend("the PostgreSQL store's committer stopped".into())
}

/// Takes the submissions queued so far and commits them together, until the store is dropped.
async fn commit_loop(pool: PgPool, queue: Arc<Mutex<mpsc::Receiver<PendingCommit>>>) {
    let mut batch = Vec::with_capacity(MAX_COMMIT_BATCH);
    loop {
        // One committer waits for work at a time; the other is writing its batch meanwhile.
        let received = queue
            .lock()
            .await
            .recv_many(&mut batch, MAX_COMMIT_BATCH)
            .await;
        if received == 0 {
            return;
        }
        commit_batch(&pool, std::mem::take(&mut batch)).await;
    }
}

/// How a batch's transaction failed.
enum BatchFailure {
    /// Before `COMMIT`: nothing was written, each submission can be retried alone (and its own
    /// error, if it has one, reported to its caller alone).
    Write,
    /// At `COMMIT`: whether it committed is unknown, so nothing is retried.
    Commit(sqlx::Error),
}

/// What became of one submission of a committed batch.
enum BatchOutcome {
    Created(AuditRecord),
    /// Its idempotency key or dossier code was taken (by a committed submission or an earlier
    /// one of the batch): look it up once the batch is committed.
    Conflict,
    /// Its dossier code is taken in the outbox.
    Duplicate,
}

/// Commits `batch` in one transaction and answers each caller once it is durable.
async fn commit_batch(pool: &PgPool, batch: Vec<PendingCommit>) {
    match write_batch(pool, &batch).await {
        Ok(outcomes) => {
            for (pending, outcome) in batch.into_iter().zip(outcomes) {
                let answer = match outcome {
                    BatchOutcome::Created(audit) => Ok(CommitOutcome::Created(audit)),
                    BatchOutcome::Duplicate => Err(StoreError::Duplicate),
                    BatchOutcome::Conflict => {
                        let record = &pending.commit.record;
                        submission_by_key(pool, &record.subject, &record.idempotency_key)
                            .await
                            .and_then(|existing| match existing {
                                Some(existing) => {
                                    Ok(CommitOutcome::AlreadyExists(Box::new(existing)))
                                }
                                None => Err(StoreError::Duplicate),
                            })
                    }
                };
                // A caller that stopped waiting no longer needs the answer.
                let _sent = pending.reply.send(answer);
            }
        }
        Err(BatchFailure::Write) => {
            for pending in batch {
                let answer = commit_single(pool, &pending.commit).await;
                let _sent = pending.reply.send(answer);
            }
        }
        Err(BatchFailure::Commit(error)) => {
            let error = Arc::new(error);
            for pending in batch {
                let _sent = pending
                    .reply
                    .send(Err(StoreError::Backend(Box::new(Arc::clone(&error)))));
            }
        }
    }
}

/// Writes every submission of `batch` and its audit record in one transaction and commits it.
async fn write_batch(
    pool: &PgPool,
    batch: &[PendingCommit],
) -> Result<Vec<BatchOutcome>, BatchFailure> {
    let mut tx = pool.begin().await.map_err(|_| BatchFailure::Write)?;
    let written = write_batch_in(&mut tx, batch)
        .await
        .map_err(|_| BatchFailure::Write)?;
    tx.commit().await.map_err(BatchFailure::Commit)?;
    Ok(written)
}

async fn write_batch_in(
    conn: &mut PgConnection,
    batch: &[PendingCommit],
) -> Result<Vec<BatchOutcome>, StoreError> {
    // The unique constraints decide, atomically across instances and within the batch: a
    // conflicting row is skipped, and the returned keys say which submissions were inserted.
    let mut rows = Vec::with_capacity(batch.len());
    for pending in batch {
        let record = &pending.commit.record;
        rows.push((
            record,
            json_text(&record.dossier)?,
            nanos(record.created_at, "submission")?,
        ));
    }
    let mut insert = QueryBuilder::<Postgres>::new(
        "INSERT INTO submissions (dossier_code, subject, idempotency_key, procedure, ward, \
           dossier, payload_digest, level, assurance_source, created_ns, receipt) ",
    );
    insert.push_values(&rows, |mut row, (record, dossier, created_ns)| {
        row.push_bind(record.dossier_code.as_str())
            .push_bind(record.subject.as_str())
            .push_bind(record.idempotency_key.as_str())
            .push_bind(record.procedure.as_str())
            .push_bind(record.ward.as_str())
            .push_bind(dossier.as_str())
            .push_bind(record.payload_digest.to_hex())
            .push_bind(i64::from(record.level.number()))
            .push_bind(record.assurance_source.as_str())
            .push_bind(*created_ns)
            .push_bind(&record.receipt);
    });
    insert.push(" ON CONFLICT DO NOTHING RETURNING dossier_code, subject, idempotency_key");
    let mut inserted: HashMap<(String, String, String), usize> = HashMap::new();
    for row in insert
        .build()
        .fetch_all(&mut *conn)
        .await
        .map_err(backend)?
    {
        let key = (
            row.try_get("dossier_code").map_err(backend)?,
            row.try_get("subject").map_err(backend)?,
            row.try_get("idempotency_key").map_err(backend)?,
        );
        *inserted.entry(key).or_insert(0) += 1;
    }
    let mut created: Vec<bool> = batch
        .iter()
        .map(|pending| {
            let record = &pending.commit.record;
            let key = (
                record.dossier_code.as_str().to_owned(),
                record.subject.as_str().to_owned(),
                record.idempotency_key.as_str().to_owned(),
            );
            match inserted.get_mut(&key) {
                Some(count) if *count > 0 => {
                    *count -= 1;
                    true
                }
                _ => false,
            }
        })
        .collect();

    let mut outcomes: Vec<Option<BatchOutcome>> = created
        .iter()
        .map(|&was_inserted| (!was_inserted).then_some(BatchOutcome::Conflict))
        .collect();
    if created.iter().any(|&c| c) {
        write_outboxes(conn, batch, &mut created, &mut outcomes).await?;
    }
    let drafts: Vec<&str> = batch
        .iter()
        .zip(&created)
        .filter(|(_, created)| **created)
        .filter_map(|(pending, _)| pending.commit.delete_draft.as_ref().map(DraftId::as_str))
        .collect();
    if !drafts.is_empty() {
        sqlx::query("DELETE FROM drafts WHERE id = ANY($1)")
            .bind(&drafts)
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
    }
    // Last, so that the chain's head stays locked only until the commit.
    let entries: Vec<&AuditEntry> = batch
        .iter()
        .zip(&created)
        .filter(|(_, created)| **created)
        .map(|(pending, _)| &pending.commit.audit)
        .collect();
    let mut records = append_audit_batch(conn, &entries).await?.into_iter();
    outcomes
        .into_iter()
        .map(|outcome| match outcome {
            Some(outcome) => Ok(outcome),
            None => records.next().map(BatchOutcome::Created).ok_or_else(|| {
                StoreError::Backend("an audit record is missing from the batch".into())
            }),
        })
        .collect()
}

/// Inserts the outbox entries of the created submissions; a submission whose dossier code is
/// already in the outbox is removed again and answered as a duplicate.
async fn write_outboxes(
    conn: &mut PgConnection,
    batch: &[PendingCommit],
    created: &mut [bool],
    outcomes: &mut [Option<BatchOutcome>],
) -> Result<(), StoreError> {
    let mut rows = Vec::new();
    for (pending, _) in batch.iter().zip(created.iter()).filter(|(_, c)| **c) {
        let outbox = &pending.commit.outbox;
        rows.push((
            outbox,
            nanos(outbox.created_at, "outbox")?,
            nanos(outbox.next_attempt_at, "next attempt")?,
            outbox
                .delivered_at
                .map(|at| nanos(at, "delivery"))
                .transpose()?,
        ));
    }
    let mut insert = QueryBuilder::<Postgres>::new(
        "INSERT INTO outbox (dossier_code, envelope, status, created_ns, next_attempt_ns, \
           attempts, last_error, delivered_ns) ",
    );
    insert.push_values(
        &rows,
        |mut row, (outbox, created_ns, next_ns, delivered_ns)| {
            row.push_bind(outbox.dossier_code.as_str())
                .push_bind(&outbox.envelope)
                .push_bind(outbox.status.as_str())
                .push_bind(*created_ns)
                .push_bind(*next_ns)
                .push_bind(i64::from(outbox.attempts))
                .push_bind(outbox.last_error.as_deref())
                .push_bind(*delivered_ns);
        },
    );
    insert.push(" ON CONFLICT DO NOTHING RETURNING dossier_code");
    let mut written: HashMap<String, usize> = HashMap::new();
    for row in insert
        .build()
        .fetch_all(&mut *conn)
        .await
        .map_err(backend)?
    {
        *written
            .entry(row.try_get("dossier_code").map_err(backend)?)
            .or_insert(0) += 1;
    }
    let mut refused = Vec::new();
    for ((pending, created), outcome) in batch.iter().zip(created.iter_mut()).zip(outcomes) {
        if !*created {
            continue;
        }
        let code = pending.commit.outbox.dossier_code.as_str();
        match written.get_mut(code) {
            Some(count) if *count > 0 => *count -= 1,
            _ => {
                *created = false;
                *outcome = Some(BatchOutcome::Duplicate);
                refused.push(pending.commit.record.dossier_code.as_str());
            }
        }
    }
    if !refused.is_empty() {
        sqlx::query("DELETE FROM submissions WHERE dossier_code = ANY($1)")
            .bind(&refused)
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
    }
    Ok(())
}

/// Appends `entries` in order inside `conn`'s open transaction under one lock of the chain's
/// head, held until that transaction ends.
async fn append_audit_batch(
    conn: &mut PgConnection,
    entries: &[&AuditEntry],
) -> Result<Vec<AuditRecord>, StoreError> {
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    let (mut seq, mut prev) = lock_audit_head(conn).await?;
    let mut records = Vec::with_capacity(entries.len());
    let mut rows = Vec::with_capacity(entries.len());
    for entry in entries {
        seq += 1;
        let record = (*entry).clone().seal(seq, &prev);
        prev = record.hash;
        rows.push((
            sql_seq(record.seq),
            nanos(record.at, "audit")?,
            json_text(&record.event)?,
        ));
        records.push(record);
    }
    let mut insert = QueryBuilder::<Postgres>::new(
        "INSERT INTO audit (seq, at_ns, subject, ward, event, prev_hash, hash) ",
    );
    insert.push_values(
        records.iter().zip(&rows),
        |mut row, (record, (seq, at_ns, event))| {
            row.push_bind(*seq)
                .push_bind(*at_ns)
                .push_bind(record.subject.as_ref().map(SubjectPseudonym::as_str))
                .push_bind(record.event.ward().map(|w| w.as_str().to_owned()))
                .push_bind(event.as_str())
                .push_bind(record.prev_hash.to_hex())
                .push_bind(record.hash.to_hex());
        },
    );
    insert.build().execute(&mut *conn).await.map_err(backend)?;
    sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
        .bind(sql_seq(seq))
        .bind(prev.to_hex())
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    Ok(records)
}

/// Locks the chain's head row until the transaction ends and returns its `(seq, hash)`.
async fn lock_audit_head(conn: &mut PgConnection) -> Result<(u64, ChainHash), StoreError> {
    let head = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE")
        .fetch_one(&mut *conn)
        .await
        .map_err(backend)?;
    let seq: i64 = head.try_get("seq").map_err(backend)?;
    let hash: String = head.try_get("hash").map_err(backend)?;
    let corrupt = || StoreError::Backend("the stored audit_head holds an invalid value".into());
    let prev = ChainHash::from_hex(&hash).ok_or_else(corrupt)?;
    let seq = u64::try_from(seq).map_err(|_| corrupt())?;
    Ok((seq, prev))
}

/// Commits one submission in a transaction of its own: the path of a submission whose batch
/// failed before committing, so that one failing write never fails the others.
async fn commit_single(
    pool: &PgPool,
    commit: &SubmissionCommit,
) -> Result<CommitOutcome, StoreError> {
    let record = &commit.record;
    let mut tx = pool.begin().await.map_err(backend)?;
    // The unique constraints decide, atomically across instances: a concurrent commit with
    // the same key makes this insert wait for it, then do nothing.
    let inserted = sqlx::query(
        "INSERT INTO submissions (dossier_code, subject, idempotency_key, procedure, ward, \
           dossier, payload_digest, level, assurance_source, created_ns, receipt) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT DO NOTHING",
    )
    .bind(record.dossier_code.as_str())
    .bind(record.subject.as_str())
    .bind(record.idempotency_key.as_str())
    .bind(record.procedure.as_str())
    .bind(record.ward.as_str())
    .bind(json_text(&record.dossier)?)
    .bind(record.payload_digest.to_hex())
    .bind(i64::from(record.level.number()))
    .bind(record.assurance_source.as_str())
    .bind(nanos(record.created_at, "submission")?)
    .bind(&record.receipt)
    .execute(&mut *tx)
    .await
    .map_err(backend)?;
    if inserted.rows_affected() == 0 {
        tx.rollback().await.map_err(backend)?;
        // Either the key was used (a replay) or the dossier code was (draw another).
        return match submission_by_key(pool, &record.subject, &record.idempotency_key).await? {
            Some(existing) => Ok(CommitOutcome::AlreadyExists(Box::new(existing))),
            None => Err(StoreError::Duplicate),
        };
    }
    let outbox = &commit.outbox;
    sqlx::query(
        "INSERT INTO outbox (dossier_code, envelope, status, created_ns, next_attempt_ns, \
           attempts, last_error, delivered_ns) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(outbox.dossier_code.as_str())
    .bind(&outbox.envelope)
    .bind(outbox.status.as_str())
    .bind(nanos(outbox.created_at, "outbox")?)
    .bind(nanos(outbox.next_attempt_at, "next attempt")?)
    .bind(i64::from(outbox.attempts))
    .bind(outbox.last_error.as_deref())
    .bind(
        outbox
            .delivered_at
            .map(|at| nanos(at, "delivery"))
            .transpose()?,
    )
    .execute(&mut *tx)
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            StoreError::Duplicate
        } else {
            backend(e)
        }
    })?;
    if let Some(draft) = &commit.delete_draft {
        sqlx::query("DELETE FROM drafts WHERE id = $1")
            .bind(draft.as_str())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
    }
    // Last, so that the chain's head stays locked only until the commit.
    let audit = append_audit(&mut tx, &commit.audit).await?;
    tx.commit().await.map_err(backend)?;
    Ok(CommitOutcome::Created(audit))
}

async fn submission_by_key(
    pool: &PgPool,
    subject: &SubjectPseudonym,
    key: &IdempotencyKey,
) -> Result<Option<SubmissionRecord>, StoreError> {
    let sql = format!(
        "SELECT {SUBMISSION_COLUMNS} FROM submissions WHERE subject = $1 AND idempotency_key = $2"
    );
    sqlx::query(&sql)
        .bind(subject.as_str())
        .bind(key.as_str())
        .fetch_optional(pool)
        .await
        .map_err(backend)?
        .map(|row| decode_submission(&row))
        .transpose()
}

/// Appends `entry` inside `conn`'s open transaction, holding the chain head's row lock until
/// that transaction ends.
async fn append_audit(
    conn: &mut PgConnection,
    entry: &AuditEntry,
) -> Result<AuditRecord, StoreError> {
    let (seq, prev) = lock_audit_head(conn).await?;
    let record = entry.clone().seal(seq + 1, &prev);
    sqlx::query(
        "INSERT INTO audit (seq, at_ns, subject, ward, event, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(sql_seq(record.seq))
    .bind(nanos(record.at, "audit")?)
    .bind(record.subject.as_ref().map(SubjectPseudonym::as_str))
    .bind(record.event.ward().map(|w| w.as_str().to_owned()))
    .bind(json_text(&record.event)?)
    .bind(record.prev_hash.to_hex())
    .bind(record.hash.to_hex())
    .execute(&mut *conn)
    .await
    .map_err(backend)?;
    sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
        .bind(sql_seq(record.seq))
        .bind(record.hash.to_hex())
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    Ok(record)
}

/// Whether `schema` is a plain lowercase identifier (so it needs no quoting rules of its own).
fn valid_schema(schema: &str) -> bool {
    let mut chars = schema.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && schema.len() <= 63
}

// ---------------------------------------------------------------------------------------------
// Migrations.
// ---------------------------------------------------------------------------------------------

/// Runs `sql`, one or several statements without parameters.
// Boxed with an explicit `Send` bound: through sqlx's executor lifetimes the compiler cannot
// otherwise prove that `connect` is `Send`, and callers spawn it.
fn script<'c>(
    conn: &'c mut PgConnection,
    sql: &'c str,
) -> Pin<Box<dyn Future<Output = Result<(), sqlx::Error>> + Send + 'c>> {
    Box::pin(async move { sqlx::Executor::execute(conn, sql).await.map(drop) })
}

/// Applies the missing `migrations` in one transaction, under an advisory lock.
async fn migrate(
    pool: &PgPool,
    schema: Option<&str>,
    migrations: &[Migration],
) -> Result<(), StoreError> {
    let mut tx = pool.begin().await.map_err(backend)?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    if let Some(schema) = schema {
        // INVARIANT: `valid_schema` admitted only [a-z0-9_], so the quoted name is literal.
        script(
            &mut tx,
            &format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""),
        )
        .await
        .map_err(backend)?;
    }
    script(
        &mut tx,
        "CREATE TABLE IF NOT EXISTS wardgate_migrations (\
             version BIGINT NOT NULL PRIMARY KEY, \
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now()\
         )",
    )
    .await
    .map_err(backend)?;
    let found: i64 =
        sqlx::query("SELECT coalesce(max(version), 0)::BIGINT FROM wardgate_migrations")
            .fetch_one(&mut *tx)
            .await
            .and_then(|row| row.try_get(0))
            .map_err(backend)?;
    let known = newest(migrations);
    if found > known {
        tx.rollback().await.map_err(backend)?;
        return Err(StoreError::SchemaTooNew { found, known });
    }
    for migration in migrations.iter().filter(|m| m.version > found) {
        script(&mut tx, migration.sql).await.map_err(backend)?;
        sqlx::query("INSERT INTO wardgate_migrations (version) VALUES ($1)")
            .bind(migration.version)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
    }
    tx.commit().await.map_err(backend)
}

// ---------------------------------------------------------------------------------------------
// Booking.
// ---------------------------------------------------------------------------------------------

/// Why a booking transaction was not committed.
enum Refused {
    /// A refusal or a failure to report as is.
    Store(StoreError),
    /// The active-ticket unique index refused the insert.
    TicketRace(TicketCode),
}

impl From<StoreError> for Refused {
    fn from(error: StoreError) -> Self {
        Self::Store(error)
    }
}

async fn seats_taken(conn: &mut PgConnection, slot: &SlotKey) -> Result<u32, StoreError> {
    let taken: i64 = sqlx::query(
        "SELECT count(*) FROM bookings \
         WHERE ward = $1 AND slot_start_ns = $2 AND point = $3 AND cancelled_ns IS NULL",
    )
    .bind(slot.ward.as_str())
    .bind(nanos(slot.start, "slot start")?)
    .bind(&slot.point)
    .fetch_one(&mut *conn)
    .await
    .and_then(|row| row.try_get(0))
    .map_err(backend)?;
    Ok(u32::try_from(taken).unwrap_or(u32::MAX))
}

/// Books inside `conn`'s open transaction.
async fn book(conn: &mut PgConnection, request: &BookingRequest) -> Result<Booking, Refused> {
    let slot = &request.slot;
    let start = nanos(slot.start, "slot start")?;
    // The slot's row serialises every booking of this slot, across instances, until commit.
    sqlx::query(
        "INSERT INTO slots (ward, point, start_ns) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(slot.ward.as_str())
    .bind(&slot.point)
    .bind(start)
    .execute(&mut *conn)
    .await
    .map_err(backend)?;
    sqlx::query("SELECT 1 FROM slots WHERE ward = $1 AND point = $2 AND start_ns = $3 FOR UPDATE")
        .bind(slot.ward.as_str())
        .bind(&slot.point)
        .bind(start)
        .fetch_one(&mut *conn)
        .await
        .map_err(backend)?;

    let exists = sqlx::query("SELECT 1 FROM bookings WHERE id = $1")
        .bind(request.id.as_str())
        .fetch_optional(&mut *conn)
        .await
        .map_err(backend)?;
    if exists.is_some() {
        return Err(StoreError::Duplicate.into());
    }
    if let Some(ticket) = request.ticket {
        let held =
            sqlx::query("SELECT id FROM bookings WHERE ticket = $1 AND cancelled_ns IS NULL")
                .bind(ticket.to_string())
                .fetch_optional(&mut *conn)
                .await
                .and_then(|row| row.map(|r| r.try_get::<String, _>(0)).transpose())
                .map_err(backend)?;
        if let Some(booking) = held {
            return Err(StoreError::TicketAlreadyBooked {
                booking: BookingId::from_stored(booking),
            }
            .into());
        }
    }
    if seats_taken(conn, slot).await? >= request.capacity {
        return Err(StoreError::SlotFull {
            capacity: request.capacity,
        }
        .into());
    }
    let booking = Booking::from_request(request);
    let inserted = sqlx::query(
        "INSERT INTO bookings \
         (id, ward, point, slot_start_ns, procedure, ticket, created_ns, cancelled_ns) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)",
    )
    .bind(booking.id.as_str())
    .bind(booking.slot.ward.as_str())
    .bind(&booking.slot.point)
    .bind(start)
    .bind(booking.procedure.as_str())
    .bind(booking.ticket.map(|t| t.to_string()))
    .bind(nanos(booking.created_at, "booking")?)
    .execute(&mut *conn)
    .await;
    match inserted {
        Ok(_) => Ok(booking),
        Err(sqlx::Error::Database(db))
            if db.is_unique_violation() && db.constraint() == Some("bookings_active_ticket") =>
        {
            Err(request
                .ticket
                .map_or(Refused::Store(StoreError::Duplicate), Refused::TicketRace))
        }
        Err(e) if is_unique_violation(&e) => Err(StoreError::Duplicate.into()),
        Err(e) => Err(backend(e).into()),
    }
}

// ---------------------------------------------------------------------------------------------
// The trait.
// ---------------------------------------------------------------------------------------------

impl Store for PgStore {
    fn book<'a>(&'a self, request: &'a BookingRequest) -> StoreFuture<'a, Booking> {
        Box::pin(self.book_now(request))
    }

    fn cancel<'a>(&'a self, id: &'a BookingId, now: DateTime<Utc>) -> StoreFuture<'a, Booking> {
        Box::pin(self.cancel_now(id, now))
    }

    fn booking<'a>(&'a self, id: &'a BookingId) -> StoreFuture<'a, Option<Booking>> {
        Box::pin(self.booking_now(id))
    }

    fn seats_taken<'a>(&'a self, slot: &'a SlotKey) -> StoreFuture<'a, u32> {
        Box::pin(self.seats_taken_now(slot))
    }

    fn bookings_on<'a>(
        &'a self,
        ward: WardCode,
        point: Option<&'a str>,
        day: NaiveDate,
    ) -> StoreFuture<'a, Vec<Booking>> {
        Box::pin(self.bookings_on_now(ward, point, day))
    }

    fn save_draft<'a>(&'a self, draft: &'a Draft) -> StoreFuture<'a, ()> {
        Box::pin(self.save_draft_now(draft))
    }

    fn draft<'a>(&'a self, id: &'a DraftId, now: DateTime<Utc>) -> StoreFuture<'a, Option<Draft>> {
        Box::pin(self.draft_now(id, now))
    }

    fn delete_draft<'a>(&'a self, id: &'a DraftId) -> StoreFuture<'a, bool> {
        Box::pin(self.delete_draft_now(id))
    }

    fn save_ticket<'a>(&'a self, ticket: &'a Ticket) -> StoreFuture<'a, ()> {
        Box::pin(self.save_ticket_now(ticket))
    }

    fn ticket<'a>(
        &'a self,
        code: &'a TicketCode,
        now: DateTime<Utc>,
    ) -> StoreFuture<'a, Option<Ticket>> {
        Box::pin(self.ticket_now(code, now))
    }

    fn claim_ticket<'a>(
        &'a self,
        code: &'a TicketCode,
        owner: &'a SubjectPseudonym,
    ) -> StoreFuture<'a, bool> {
        Box::pin(self.claim_ticket_now(code, owner))
    }

    fn open_ticket_of<'a>(
        &'a self,
        owner: &'a SubjectPseudonym,
        procedure: &'a ProcedureCode,
        now: DateTime<Utc>,
    ) -> StoreFuture<'a, Option<Ticket>> {
        Box::pin(self.open_ticket_of_now(owner, procedure, now))
    }

    fn commit_submission<'a>(
        &'a self,
        commit: &'a SubmissionCommit,
    ) -> StoreFuture<'a, CommitOutcome> {
        Box::pin(self.commit_submission_now(commit))
    }

    fn submission_by_key<'a>(
        &'a self,
        subject: &'a SubjectPseudonym,
        key: &'a IdempotencyKey,
    ) -> StoreFuture<'a, Option<SubmissionRecord>> {
        Box::pin(self.submission_by_key_now(subject, key))
    }

    fn submission<'a>(
        &'a self,
        code: &'a DossierCode,
    ) -> StoreFuture<'a, Option<SubmissionRecord>> {
        Box::pin(self.submission_now(code))
    }

    fn due_outbox<'a>(
        &'a self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> StoreFuture<'a, Vec<OutboxEntry>> {
        Box::pin(self.due_outbox_now(now, lease_until, limit))
    }

    fn outbox_entry<'a>(&'a self, code: &'a DossierCode) -> StoreFuture<'a, Option<OutboxEntry>> {
        Box::pin(self.outbox_entry_now(code))
    }

    fn outbox_summary(&self) -> StoreFuture<'_, OutboxSummary> {
        Box::pin(async move {
            let rows = sqlx::query(OUTBOX_SUMMARY)
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?;
            decode_outbox_summary(&rows)
        })
    }

    fn mark_delivered<'a>(
        &'a self,
        code: &'a DossierCode,
        now: DateTime<Utc>,
    ) -> StoreFuture<'a, bool> {
        Box::pin(self.mark_delivered_now(code, now))
    }

    fn record_status<'a>(&'a self, report: &'a StatusReport) -> StoreFuture<'a, StatusOutcome> {
        Box::pin(self.record_status_now(report))
    }

    fn statuses<'a>(&'a self, code: &'a DossierCode) -> StoreFuture<'a, Vec<StatusReport>> {
        Box::pin(self.statuses_now(code))
    }

    fn reschedule<'a>(
        &'a self,
        code: &'a DossierCode,
        next_attempt_at: DateTime<Utc>,
        attempts: u32,
        last_error: &'a str,
    ) -> StoreFuture<'a, ()> {
        Box::pin(self.reschedule_now(code, next_attempt_at, attempts, last_error))
    }

    fn park<'a>(
        &'a self,
        code: &'a DossierCode,
        attempts: u32,
        reason: &'a str,
    ) -> StoreFuture<'a, ()> {
        Box::pin(self.park_now(code, attempts, reason))
    }

    fn append_audit<'a>(&'a self, entry: &'a AuditEntry) -> StoreFuture<'a, AuditRecord> {
        Box::pin(self.append_audit_now(entry))
    }

    fn audit_range<'a>(&'a self, from_seq: u64, limit: usize) -> StoreFuture<'a, Vec<AuditRecord>> {
        Box::pin(self.audit_range_now(from_seq, limit))
    }

    fn audit_between<'a>(
        &'a self,
        ward: Option<WardCode>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        after_seq: u64,
        limit: usize,
    ) -> StoreFuture<'a, Vec<AuditRecord>> {
        Box::pin(self.audit_between_now(ward, from, to, after_seq, limit))
    }

    fn purge_expired<'a>(
        &'a self,
        now: DateTime<Utc>,
        retention: chrono::Duration,
    ) -> StoreFuture<'a, PurgeReport> {
        Box::pin(self.purge_now(now, retention))
    }

    fn counter_records<'a>(&'a self, ticket: &'a TicketCode) -> StoreFuture<'a, Vec<AuditRecord>> {
        Box::pin(async move {
            // The same expressions as the partial index `audit_counter_ticket`.
            let sql = format!(
                "SELECT {AUDIT_COLUMNS} FROM audit \
                 WHERE ((event::jsonb) ->> 'kind') = 'counter' AND ((event::jsonb) ->> 'ticket') = $1 \
                 ORDER BY seq"
            );
            sqlx::query(&sql)
                .bind(ticket.to_string())
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?
                .iter()
                .map(decode_audit)
                .collect()
        })
    }

    fn ticket_booking<'a>(&'a self, ticket: &'a TicketCode) -> StoreFuture<'a, Option<Booking>> {
        Box::pin(async move {
            let sql = format!(
                "SELECT {} FROM bookings WHERE ticket = $1 AND cancelled_ns IS NULL",
                BookingRow::COLUMNS
            );
            sqlx::query(&sql)
                .bind(ticket.to_string())
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?
                .map(|row| BookingRow::decode(&row)?.into_booking())
                .transpose()
        })
    }

    fn move_booking<'a>(
        &'a self,
        from: &'a BookingId,
        to: &'a BookingRequest,
    ) -> StoreFuture<'a, Booking> {
        Box::pin(self.move_now(from, to))
    }

    fn append_counter_outcome<'a>(
        &'a self,
        entry: &'a AuditEntry,
    ) -> StoreFuture<'a, Option<AuditRecord>> {
        Box::pin(self.append_counter_outcome_now(entry))
    }
}
