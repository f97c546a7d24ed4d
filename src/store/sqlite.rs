//! [`SqliteStore`]: the embedded, durable [`Store`] in one SQLite file.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::str::FromStr as _;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, SubsecRound as _, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{ConnectOptions as _, Connection as _, Row as _};
use tokio::sync::{mpsc, oneshot};

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
        sql: include_str!("sql/sqlite/0001_init.sql"),
    },
    Migration {
        version: 2,
        sql: include_str!("sql/sqlite/0002_submissions.sql"),
    },
    Migration {
        version: 3,
        sql: include_str!("sql/sqlite/0003_dossier_statuses.sql"),
    },
    Migration {
        version: 4,
        sql: include_str!("sql/sqlite/0004_lookups_by_ticket.sql"),
    },
    Migration {
        version: 5,
        sql: include_str!("sql/sqlite/0005_ticket_owner.sql"),
    },
    Migration {
        version: 6,
        sql: include_str!("sql/sqlite/0006_tickets_by_owner.sql"),
    },
    Migration {
        version: 7,
        sql: include_str!("sql/sqlite/0007_outbox_undelivered.sql"),
    },
];

/// Read connections kept open (WAL lets them read while the writer commits).
const READERS: u32 = 4;
/// Writes waiting for the writer before callers wait to enqueue.
const QUEUE: usize = 4096;
/// Most writes committed in one transaction.
const MAX_BATCH: usize = 512;
/// How long a connection waits for another process's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// A durable [`Store`] in one SQLite file.
///
/// Rules it enforces, beyond those of [`Store`]:
///
/// 1. Durable before acknowledged: the file is in WAL mode with `synchronous = FULL`, and a write
///    returns only after the transaction holding it has committed, so an acknowledged write
///    survives a crash or a power cut.
/// 2. All writes go through one writer task that commits whatever has queued up (up to 512
///    writes) in one transaction — a group commit, so many concurrent writers share one `fsync`.
///    Each write runs inside its own savepoint: one write's refusal (a full slot, a duplicate)
///    never undoes another's.
/// 3. Writes are serialised: a booking's capacity check and insert cannot interleave with another
///    booking, and `BEGIN IMMEDIATE` keeps another process from writing in between.
/// 4. Reads use a small pool of separate connections and never wait for the writer.
/// 5. The schema is migrated on open; a file written by a newer wardgate is refused.
/// 6. SQL statements and their parameters are never logged.
///
/// The writer task lives on the Tokio runtime that opened the store: open and use it on the
/// same runtime.
///
/// # Example
///
/// ```
/// use wardgate::store::{SqliteStore, Store};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// # let dir = std::env::temp_dir().join(format!("wardgate-doc-{}", std::process::id()));
/// let store = SqliteStore::open(dir.join("wardgate.db").to_str().ok_or("path")?).await?;
/// assert!(store.booking(&wardgate::store::BookingId::from_stored("none")).await?.is_none());
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct SqliteStore {
    path: PathBuf,
    readers: SqlitePool,
    writer: mpsc::Sender<Pending>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// The newest schema version this build knows.
    pub const SCHEMA_VERSION: i64 = 7;

    /// Opens (creating it, and its parent directory, if missing) the SQLite file at
    /// `url_or_path`: a URL such as `sqlite:///var/lib/wardgate/wardgate.db` or
    /// `sqlite://data/wardgate.db`, or a plain path. Migrates the schema to
    /// [`SCHEMA_VERSION`](Self::SCHEMA_VERSION) and starts the writer task on the current Tokio
    /// runtime.
    ///
    /// # Errors
    ///
    /// [`StoreError::BadConfig`] for an in-memory database (not durable: use
    /// [`MemoryStore`](super::MemoryStore)), a URL SQLite cannot parse, or no Tokio runtime;
    /// [`StoreError::SchemaTooNew`] when a newer wardgate wrote the file;
    /// [`StoreError::Backend`] when the directory or the file cannot be created or opened.
    pub async fn open(url_or_path: &str) -> Result<Self, StoreError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| StoreError::BadConfig {
            reason: "a SQLite store must be opened on a Tokio runtime (it runs a writer task)",
        })?;
        if url_or_path.contains(":memory:") || url_or_path.contains("mode=memory") {
            return Err(StoreError::BadConfig {
                reason: "an in-memory SQLite database is not durable: use `MemoryStore`",
            });
        }
        let scheme = url_or_path.get(..7);
        let options = if scheme.is_some_and(|s| s.eq_ignore_ascii_case("sqlite:")) {
            // The driver knows the scheme in lowercase only.
            let rest = url_or_path.get(7..).unwrap_or_default();
            SqliteConnectOptions::from_str(&format!("sqlite:{rest}")).map_err(|_| {
                StoreError::BadConfig {
                    reason: "SQLite cannot parse the url",
                }
            })?
        } else {
            SqliteConnectOptions::new().filename(url_or_path)
        }
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // Durability: FULL syncs the WAL at every commit, so a commit survives a power cut.
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(BUSY_TIMEOUT)
        .foreign_keys(true)
        .disable_statement_logging();
        let path = options.get_filename().to_path_buf();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| StoreError::Backend(Box::new(e)))?;
        }
        create_private(&path)?;

        let mut writer = SqliteConnection::connect_with(&options)
            .await
            .map_err(backend)?;
        migrate(&mut writer, MIGRATIONS).await?;
        let readers = SqlitePoolOptions::new()
            .max_connections(READERS)
            .connect_with(options.pragma("query_only", "ON"))
            .await
            .map_err(backend)?;
        let (sender, receiver) = mpsc::channel(QUEUE);
        runtime.spawn(write_loop(writer, receiver));
        Ok(Self {
            path,
            readers,
            writer: sender,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Queues `write` for the writer and waits until it is committed (or refused).
    async fn write(&self, write: Write) -> Result<Done, StoreError> {
        let (reply, done) = oneshot::channel();
        self.writer
            .send(Pending { write, reply })
            .await
            .map_err(|_| writer_gone())?;
        done.await.map_err(|_| writer_gone())?
    }

    async fn book_now(&self, request: &BookingRequest) -> Result<Booking, StoreError> {
        match self.write(Write::Book(request.clone())).await? {
            Done::Booking(booking) => Ok(booking),
            other => Err(mismatch(&other)),
        }
    }

    async fn cancel_now(&self, id: &BookingId, now: DateTime<Utc>) -> Result<Booking, StoreError> {
        match self.write(Write::Cancel(id.clone(), now)).await? {
            Done::Booking(booking) => Ok(booking),
            other => Err(mismatch(&other)),
        }
    }

    async fn booking_now(&self, id: &BookingId) -> Result<Option<Booking>, StoreError> {
        let sql = format!("SELECT {} FROM bookings WHERE id = ?", BookingRow::COLUMNS);
        sqlx::query(&sql)
            .bind(id.as_str())
            .fetch_optional(&self.readers)
            .await
            .map_err(backend)?
            .map(|row| BookingRow::decode(&row)?.into_booking())
            .transpose()
    }

    async fn seats_taken_now(&self, slot: &SlotKey) -> Result<u32, StoreError> {
        let mut reader = self.readers.acquire().await.map_err(backend)?;
        seats_taken(&mut reader, slot).await
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
             WHERE ward = ? AND slot_start_ns >= ? AND slot_start_ns < ? \
               AND (? IS NULL OR point = ?) AND cancelled_ns IS NULL \
             ORDER BY slot_start_ns, created_ns, id",
            BookingRow::COLUMNS
        );
        sqlx::query(&sql)
            .bind(ward.as_str())
            .bind(nanos_clamped(from))
            .bind(nanos_clamped(to))
            .bind(point)
            .bind(point)
            .fetch_all(&self.readers)
            .await
            .map_err(backend)?
            .iter()
            .map(|row| BookingRow::decode(row)?.into_booking())
            .collect()
    }

    async fn draft_now(
        &self,
        id: &DraftId,
        now: DateTime<Utc>,
    ) -> Result<Option<Draft>, StoreError> {
        let sql = format!("SELECT {DRAFT_COLUMNS} FROM drafts WHERE id = ? AND expires_ns > ?");
        sqlx::query(&sql)
            .bind(id.as_str())
            .bind(nanos_clamped(now))
            .fetch_optional(&self.readers)
            .await
            .map_err(backend)?
            .map(|row| decode_draft(&row))
            .transpose()
    }

    async fn ticket_now(
        &self,
        code: &TicketCode,
        now: DateTime<Utc>,
    ) -> Result<Option<Ticket>, StoreError> {
        let sql = format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE code = ? AND expires_ns > ?");
        sqlx::query(&sql)
            .bind(code.to_string())
            .bind(nanos_clamped(now))
            .fetch_optional(&self.readers)
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
             WHERE owner = ? AND procedure = ? AND expires_ns > ? \
             ORDER BY issued_ns DESC, code DESC LIMIT 1"
        );
        sqlx::query(&sql)
            .bind(owner.as_str())
            .bind(procedure.as_str())
            .bind(nanos_clamped(now))
            .fetch_optional(&self.readers)
            .await
            .map_err(backend)?
            .map(|row| decode_ticket(&row))
            .transpose()
    }

    async fn submission_now(
        &self,
        code: &DossierCode,
    ) -> Result<Option<SubmissionRecord>, StoreError> {
        let sql = format!("SELECT {SUBMISSION_COLUMNS} FROM submissions WHERE dossier_code = ?");
        sqlx::query(&sql)
            .bind(code.as_str())
            .fetch_optional(&self.readers)
            .await
            .map_err(backend)?
            .map(|row| decode_submission(&row))
            .transpose()
    }

    async fn submission_by_key_now(
        &self,
        subject: &SubjectPseudonym,
        key: &IdempotencyKey,
    ) -> Result<Option<SubmissionRecord>, StoreError> {
        let mut reader = self.readers.acquire().await.map_err(backend)?;
        submission_by_key(&mut reader, subject, key).await
    }

    async fn outbox_entry_now(
        &self,
        code: &DossierCode,
    ) -> Result<Option<OutboxEntry>, StoreError> {
        let sql = format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE dossier_code = ?");
        sqlx::query(&sql)
            .bind(code.as_str())
            .fetch_optional(&self.readers)
            .await
            .map_err(backend)?
            .map(|row| decode_outbox(&row))
            .transpose()
    }

    async fn audit_range_now(
        &self,
        from_seq: u64,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let sql = format!("SELECT {AUDIT_COLUMNS} FROM audit WHERE seq >= ? ORDER BY seq LIMIT ?");
        sqlx::query(&sql)
            .bind(sql_seq(from_seq))
            .bind(sql_limit(limit))
            .fetch_all(&self.readers)
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
        let ward = ward.as_ref().map(WardCode::as_str);
        let sql = format!(
            "SELECT {AUDIT_COLUMNS} FROM audit \
             WHERE seq > ? AND at_ns >= ? AND at_ns < ? AND (? IS NULL OR ward = ?) \
             ORDER BY seq LIMIT ?"
        );
        sqlx::query(&sql)
            .bind(sql_seq(after_seq))
            .bind(nanos_clamped(from))
            .bind(nanos_clamped(to))
            .bind(ward)
            .bind(ward)
            .bind(sql_limit(limit))
            .fetch_all(&self.readers)
            .await
            .map_err(backend)?
            .iter()
            .map(decode_audit)
            .collect()
    }

    async fn simple_write(&self, write: Write) -> Result<(), StoreError> {
        match self.write(write).await? {
            Done::Written => Ok(()),
            other => Err(mismatch(&other)),
        }
    }
}

fn writer_gone() -> StoreError {
    StoreError::Backend("the SQLite store's writer task has stopped (its runtime shut down)".into())
}

fn mismatch(done: &Done) -> StoreError {
    StoreError::Backend(format!("the SQLite writer answered with the wrong kind: {done:?}").into())
}

// ---------------------------------------------------------------------------------------------
// Migrations.
// ---------------------------------------------------------------------------------------------

/// Applies the missing `migrations` in one `BEGIN IMMEDIATE` transaction.
async fn migrate(conn: &mut SqliteConnection, migrations: &[Migration]) -> Result<(), StoreError> {
    control(conn, "BEGIN IMMEDIATE").await.map_err(backend)?;
    let applied = apply_migrations(conn, migrations).await;
    let end = if applied.is_ok() {
        "COMMIT"
    } else {
        "ROLLBACK"
    };
    let ended = control(conn, end).await.map_err(backend);
    applied.and(ended.map(drop))
}

async fn apply_migrations(
    conn: &mut SqliteConnection,
    migrations: &[Migration],
) -> Result<(), StoreError> {
    control(
        conn,
        "CREATE TABLE IF NOT EXISTS wardgate_migrations (\
             version INTEGER NOT NULL PRIMARY KEY, \
             applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))\
         ) STRICT",
    )
    .await
    .map_err(backend)?;
    let found: i64 = sqlx::query("SELECT coalesce(max(version), 0) FROM wardgate_migrations")
        .fetch_one(&mut *conn)
        .await
        .and_then(|row| row.try_get(0))
        .map_err(backend)?;
    let known = newest(migrations);
    if found > known {
        return Err(StoreError::SchemaTooNew { found, known });
    }
    for migration in migrations.iter().filter(|m| m.version > found) {
        control(conn, migration.sql).await.map_err(backend)?;
        sqlx::query("INSERT INTO wardgate_migrations (version) VALUES (?)")
            .bind(migration.version)
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The writer: group commit.
// ---------------------------------------------------------------------------------------------

/// A write waiting for the writer task.
struct Pending {
    write: Write,
    reply: oneshot::Sender<Result<Done, StoreError>>,
}

/// A write operation.
#[derive(Debug)]
enum Write {
    Book(BookingRequest),
    Cancel(BookingId, DateTime<Utc>),
    SaveDraft(Draft),
    DeleteDraft(DraftId),
    SaveTicket(Ticket),
    ClaimTicket(TicketCode, SubjectPseudonym),
    CommitSubmission(Box<SubmissionCommit>),
    DueOutbox {
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    },
    MarkDelivered(DossierCode, DateTime<Utc>),
    Reschedule {
        code: DossierCode,
        next_attempt_at: DateTime<Utc>,
        attempts: u32,
        last_error: String,
    },
    Park {
        code: DossierCode,
        attempts: u32,
        reason: String,
    },
    AppendAudit(AuditEntry),
    RecordStatus(StatusReport),
    Purge(DateTime<Utc>, chrono::Duration),
    Move(BookingId, BookingRequest),
    AppendCounterOutcome(AuditEntry),
}

/// What a write produced.
#[derive(Debug)]
enum Done {
    Booking(Booking),
    Written,
    Deleted(bool),
    /// Whether a claim set the ticket's owner.
    Claimed(bool),
    Committed(CommitOutcome),
    Outbox(Vec<OutboxEntry>),
    Audit(AuditRecord),
    Status(StatusOutcome),
    Purged(PurgeReport),
    /// A counter outcome was already recorded for the ticket: nothing appended.
    AlreadyRecorded,
}

/// The writer task's state: its connection and the audit chain's head as last committed.
struct Writer {
    conn: SqliteConnection,
    /// `(seq, hash)` of the last audit record, when known; `None` after a rollback (read again).
    audit_head: Option<(u64, ChainHash)>,
}

/// Takes whatever writes have queued up and commits them together, until the store is dropped.
async fn write_loop(conn: SqliteConnection, mut queue: mpsc::Receiver<Pending>) {
    let mut writer = Writer {
        conn,
        audit_head: None,
    };
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        commit_batch(&mut writer, std::mem::take(&mut batch)).await;
    }
    // The store was dropped; closing cleanly checkpoints the WAL. A failure here loses nothing.
    let _closed = writer.conn.close().await;
}

/// Commits `batch` in one transaction and answers each write once it is durable.
///
/// A write refused for a reason of its own (a full slot, a used ticket) is refused before it
/// writes anything, so it is answered with the refusal when the others commit. A write that
/// fails after writing (a backend failure, a clash caught by a constraint) aborts the
/// transaction: it is answered with its error and the others run again in a new transaction,
/// so none is acknowledged without having been committed.
async fn commit_batch(writer: &mut Writer, mut batch: Vec<Pending>) {
    while !batch.is_empty() {
        match run_batch(writer, &batch).await {
            Ok(outcomes) => {
                for (pending, outcome) in batch.into_iter().zip(outcomes) {
                    // A caller that stopped waiting no longer needs the answer.
                    let _sent = pending.reply.send(outcome);
                }
                return;
            }
            Err(Abort::Write(index, error)) => {
                rollback(writer).await;
                if index < batch.len() {
                    let failed = batch.remove(index);
                    let _sent = failed.reply.send(Err(error));
                }
            }
            Err(Abort::Transaction(error)) => {
                rollback(writer).await;
                let error = Arc::new(error);
                for pending in batch {
                    let _sent = pending
                        .reply
                        .send(Err(StoreError::Backend(Box::new(Arc::clone(&error)))));
                }
                return;
            }
        }
    }
}

async fn rollback(writer: &mut Writer) {
    writer.audit_head = None;
    // Fails only when SQLite already rolled back (after some I/O errors): nothing to undo.
    let _rolled_back = control(&mut writer.conn, "ROLLBACK").await;
}

/// Why a batch's transaction was abandoned.
enum Abort {
    /// The write at this index failed after writing.
    Write(usize, StoreError),
    /// Beginning or committing failed.
    Transaction(sqlx::Error),
}

/// How one write failed.
#[derive(Debug)]
enum Failure {
    /// Refused before writing anything: the batch goes on.
    Refused(StoreError),
    /// Failed after writing, or in the backend: the batch's transaction must be rolled back.
    Abort(StoreError),
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Backend(_) => Self::Abort(error),
            refusal => Self::Refused(refusal),
        }
    }
}

impl From<sqlx::Error> for Failure {
    fn from(error: sqlx::Error) -> Self {
        Self::Abort(backend(error))
    }
}

/// Runs `sql`, one or several statements without parameters (`COMMIT`, a migration).
// Boxed with an explicit `Send` bound: through sqlx's executor lifetimes the compiler cannot
// otherwise prove that the writer task and `open` are `Send`.
fn control<'c>(
    conn: &'c mut SqliteConnection,
    statement: &'static str,
) -> Pin<Box<dyn Future<Output = Result<(), sqlx::Error>> + Send + 'c>> {
    Box::pin(async move { sqlx::Executor::execute(conn, statement).await.map(drop) })
}

/// The outcome of each write of a batch, or why the batch was abandoned.
type BatchOutcome = Result<Vec<Result<Done, StoreError>>, Abort>;

// Boxed with an explicit `Send` bound: the writer task's future must be `Send`, and the
// compiler cannot prove it for sqlx's executor lifetimes through nested `async fn`s.
fn run_batch<'c>(
    writer: &'c mut Writer,
    batch: &'c [Pending],
) -> Pin<Box<dyn Future<Output = BatchOutcome> + Send + 'c>> {
    Box::pin(async move {
        control(&mut writer.conn, "BEGIN IMMEDIATE")
            .await
            .map_err(Abort::Transaction)?;
        let mut outcomes = Vec::with_capacity(batch.len());
        for (index, pending) in batch.iter().enumerate() {
            match apply(writer, &pending.write).await {
                Ok(done) => outcomes.push(Ok(done)),
                Err(Failure::Refused(refusal)) => outcomes.push(Err(refusal)),
                Err(Failure::Abort(error)) => return Err(Abort::Write(index, error)),
            }
        }
        control(&mut writer.conn, "COMMIT")
            .await
            .map_err(Abort::Transaction)?;
        Ok(outcomes)
    })
}

/// Runs one write inside the batch's transaction.
fn apply<'c>(
    writer: &'c mut Writer,
    write: &'c Write,
) -> Pin<Box<dyn Future<Output = Result<Done, Failure>> + Send + 'c>> {
    Box::pin(async move {
        let conn = &mut writer.conn;
        Ok(match write {
            Write::Book(request) => Done::Booking(book(conn, request).await?),
            Write::Cancel(id, now) => Done::Booking(cancel(conn, id, *now).await?),
            Write::SaveDraft(draft) => {
                save_draft(conn, draft).await?;
                Done::Written
            }
            Write::DeleteDraft(id) => {
                let deleted = sqlx::query("DELETE FROM drafts WHERE id = ?")
                    .bind(id.as_str())
                    .execute(&mut *conn)
                    .await?;
                Done::Deleted(deleted.rows_affected() > 0)
            }
            Write::SaveTicket(ticket) => {
                save_ticket(conn, ticket).await?;
                Done::Written
            }
            Write::ClaimTicket(code, owner) => {
                Done::Claimed(claim_ticket(conn, code, owner).await?)
            }
            Write::CommitSubmission(commit) => {
                Done::Committed(commit_submission(writer, commit).await?)
            }
            Write::DueOutbox {
                now,
                lease_until,
                limit,
            } => Done::Outbox(due_outbox(conn, *now, *lease_until, *limit).await?),
            Write::RecordStatus(report) => Done::Status(record_status(conn, report).await?),
            Write::MarkDelivered(code, now) => {
                let delivered = sqlx::query(
                    "UPDATE outbox SET status = 'delivered', delivered_ns = ? \
                     WHERE dossier_code = ? AND status = 'pending'",
                )
                .bind(nanos(now.trunc_subsecs(6), "delivery")?)
                .bind(code.as_str())
                .execute(&mut *conn)
                .await?
                .rows_affected()
                    > 0;
                if !delivered {
                    outbox_exists(conn, code).await?;
                }
                Done::Deleted(delivered)
            }
            Write::Reschedule {
                code,
                next_attempt_at,
                attempts,
                last_error,
            } => {
                let updated = sqlx::query(
                    "UPDATE outbox SET next_attempt_ns = ?, attempts = ?, last_error = ? \
                     WHERE dossier_code = ? AND status = 'pending'",
                )
                .bind(nanos(next_attempt_at.trunc_subsecs(6), "next attempt")?)
                .bind(i64::from(*attempts))
                .bind(last_error)
                .bind(code.as_str())
                .execute(&mut *conn)
                .await?;
                if updated.rows_affected() == 0 {
                    outbox_exists(conn, code).await?;
                }
                Done::Written
            }
            Write::Park {
                code,
                attempts,
                reason,
            } => {
                let updated = sqlx::query(
                    "UPDATE outbox SET status = 'parked', attempts = ?, last_error = ? \
                     WHERE dossier_code = ? AND status = 'pending'",
                )
                .bind(i64::from(*attempts))
                .bind(reason)
                .bind(code.as_str())
                .execute(&mut *conn)
                .await?;
                if updated.rows_affected() == 0 {
                    outbox_exists(conn, code).await?;
                }
                Done::Written
            }
            Write::AppendAudit(entry) => {
                let record = next_audit(writer, entry).await?;
                bind_audit(sqlx::query(AUDIT_INSERT), &record)?
                    .execute(&mut writer.conn)
                    .await?;
                writer.audit_head = Some((record.seq, record.hash));
                Done::Audit(record)
            }
            Write::Purge(now, retention) => Done::Purged(purge(conn, *now, *retention).await?),
            Write::Move(from, to) => Done::Booking(move_booking(conn, from, to).await?),
            Write::AppendCounterOutcome(entry) => {
                // The single writer makes the check and the append one step.
                if let AuditEvent::Counter(c) = &entry.event
                    && counter_outcome_exists(conn, c.ticket).await?
                {
                    return Ok(Done::AlreadyRecorded);
                }
                let record = next_audit(writer, entry).await?;
                bind_audit(sqlx::query(AUDIT_INSERT), &record)?
                    .execute(&mut writer.conn)
                    .await?;
                writer.audit_head = Some((record.seq, record.hash));
                Done::Audit(record)
            }
        })
    })
}

/// `Ok` when the outbox has an entry for `code`, else [`StoreError::UnknownDossier`].
/// Stores `report` unless a report with its id is there; compares with the stored one if so.
async fn record_status(
    conn: &mut SqliteConnection,
    report: &StatusReport,
) -> Result<StatusOutcome, StoreError> {
    let known = sqlx::query("SELECT 1 FROM submissions WHERE dossier_code = ?")
        .bind(report.dossier_code.as_str())
        .fetch_optional(&mut *conn)
        .await
        .map_err(backend)?;
    if known.is_none() {
        return Err(StoreError::UnknownDossier {
            code: report.dossier_code,
        });
    }
    let inserted = sqlx::query(
        "INSERT INTO dossier_statuses (report_id, dossier_code, status, reported_ns) \
         VALUES (?, ?, ?, ?) ON CONFLICT (report_id) DO NOTHING",
    )
    .bind(report.report_id.as_str())
    .bind(report.dossier_code.as_str())
    .bind(report.status.as_str())
    .bind(nanos(report.reported_at, "report")?)
    .execute(&mut *conn)
    .await
    .map_err(backend)?
    .rows_affected();
    if inserted > 0 {
        return Ok(StatusOutcome::Recorded);
    }
    let sql = format!("SELECT {STATUS_COLUMNS} FROM dossier_statuses WHERE report_id = ?");
    let row = sqlx::query(&sql)
        .bind(report.report_id.as_str())
        .fetch_one(&mut *conn)
        .await
        .map_err(backend)?;
    let stored = decode_status(&row)?;
    Ok(if stored == *report {
        StatusOutcome::AlreadyRecorded
    } else {
        StatusOutcome::Conflict(stored)
    })
}

async fn outbox_exists(conn: &mut SqliteConnection, code: &DossierCode) -> Result<(), StoreError> {
    sqlx::query("SELECT 1 FROM outbox WHERE dossier_code = ?")
        .bind(code.as_str())
        .fetch_optional(&mut *conn)
        .await
        .map_err(backend)?
        .map(drop)
        .ok_or(StoreError::UnknownDossier { code: *code })
}

async fn submission_by_key(
    conn: &mut SqliteConnection,
    subject: &SubjectPseudonym,
    key: &IdempotencyKey,
) -> Result<Option<SubmissionRecord>, StoreError> {
    let sql = format!(
        "SELECT {SUBMISSION_COLUMNS} FROM submissions WHERE subject = ? AND idempotency_key = ?"
    );
    sqlx::query(&sql)
        .bind(subject.as_str())
        .bind(key.as_str())
        .fetch_optional(&mut *conn)
        .await
        .map_err(backend)?
        .map(|row| decode_submission(&row))
        .transpose()
}

/// One submission's writes as one script, sent to SQLite in one round trip: the submission, its
/// outbox entry, the draft's deletion (its id NULL when there is none) and its audit record.
/// The driver binds anonymous parameters across the statements in order (numbered ones it
/// binds wrongly past the first statement).
const COMMIT_SCRIPT: &str = "\
    INSERT INTO submissions (dossier_code, subject, idempotency_key, procedure, ward, dossier, \
      payload_digest, level, assurance_source, created_ns, receipt) \
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?); \
    INSERT INTO outbox (dossier_code, envelope, status, created_ns, next_attempt_ns, attempts, \
      last_error, delivered_ns) \
    VALUES (?, ?, ?, ?, ?, ?, ?, ?); \
    DELETE FROM drafts WHERE id = ?; \
    INSERT INTO audit (seq, at_ns, subject, ward, event, prev_hash, hash) \
    VALUES (?, ?, ?, ?, ?, ?, ?)";

async fn commit_submission(
    writer: &mut Writer,
    commit: &SubmissionCommit,
) -> Result<CommitOutcome, Failure> {
    let record = &commit.record;
    let conn = &mut writer.conn;
    if let Some(existing) =
        submission_by_key(conn, &record.subject, &record.idempotency_key).await?
    {
        return Ok(CommitOutcome::AlreadyExists(Box::new(existing)));
    }
    let outbox = &commit.outbox;
    let audit = next_audit(writer, &commit.audit).await?;
    let script = sqlx::query(COMMIT_SCRIPT)
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
        .bind(commit.delete_draft.as_ref().map(DraftId::as_str));
    let script = bind_audit(script, &audit)?;
    // A clash (a dossier code in use) may surface after the first insert: abort the batch.
    script.execute(&mut writer.conn).await.map_err(|e| {
        Failure::Abort(if is_unique_violation(&e) {
            StoreError::Duplicate
        } else {
            backend(e)
        })
    })?;
    writer.audit_head = Some((audit.seq, audit.hash));
    Ok(CommitOutcome::Created(audit))
}

/// The record `entry` becomes after the chain's current head (read once, then kept).
async fn next_audit(writer: &mut Writer, entry: &AuditEntry) -> Result<AuditRecord, StoreError> {
    let (seq, prev) = match writer.audit_head {
        Some(head) => head,
        None => {
            let head = sqlx::query("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
                .fetch_optional(&mut writer.conn)
                .await
                .map_err(backend)?;
            match head {
                Some(row) => {
                    let corrupt =
                        || StoreError::Backend("the stored last audit record is invalid".into());
                    let seq: i64 = row.try_get(0).map_err(backend)?;
                    let hash: String = row.try_get(1).map_err(backend)?;
                    let seq = u64::try_from(seq).map_err(|_| corrupt())?;
                    (seq, ChainHash::from_hex(&hash).ok_or_else(corrupt)?)
                }
                None => (0, ChainHash::GENESIS),
            }
        }
    };
    Ok(entry.clone().seal(seq + 1, &prev))
}

type SqliteQuery<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>;

/// Binds an audit record's seven columns.
fn bind_audit<'q>(
    query: SqliteQuery<'q>,
    record: &'q AuditRecord,
) -> Result<SqliteQuery<'q>, StoreError> {
    Ok(query
        .bind(sql_seq(record.seq))
        .bind(nanos(record.at, "audit")?)
        .bind(record.subject.as_ref().map(SubjectPseudonym::as_str))
        .bind(record.event.ward().map(|w| w.as_str().to_owned()))
        .bind(json_text(&record.event)?)
        .bind(record.prev_hash.to_hex())
        .bind(record.hash.to_hex()))
}

/// Appends one audit record (bound by [`bind_audit`]).
const AUDIT_INSERT: &str = "INSERT INTO audit (seq, at_ns, subject, ward, event, prev_hash, hash) \
     VALUES (?, ?, ?, ?, ?, ?, ?)";

/// The pending entries due at a time: `?1` is the time, `?2` the limit.
const DUE: &str = "SELECT dossier_code FROM outbox \
     WHERE status = 'pending' AND next_attempt_ns <= ?1 \
     ORDER BY next_attempt_ns, dossier_code LIMIT ?2";

async fn due_outbox(
    conn: &mut SqliteConnection,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<OutboxEntry>, StoreError> {
    let sql = format!(
        "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE dossier_code IN ({DUE}) \
         ORDER BY next_attempt_ns, dossier_code"
    );
    let mut due = sqlx::query(&sql)
        .bind(nanos_clamped(now))
        .bind(sql_limit(limit))
        .fetch_all(&mut *conn)
        .await
        .map_err(backend)?
        .iter()
        .map(decode_outbox)
        .collect::<Result<Vec<_>, _>>()?;
    // The same set: nothing else writes between the two statements.
    let lease = nanos(lease_until, "lease")?;
    sqlx::query(&format!(
        "UPDATE outbox SET next_attempt_ns = ?3 WHERE dossier_code IN ({DUE})"
    ))
    .bind(nanos_clamped(now))
    .bind(sql_limit(limit))
    .bind(lease)
    .execute(&mut *conn)
    .await
    .map_err(backend)?;
    for entry in &mut due {
        entry.next_attempt_at = super::sql::from_nanos(lease);
    }
    Ok(due)
}

async fn purge(
    conn: &mut SqliteConnection,
    now: DateTime<Utc>,
    retention: chrono::Duration,
) -> Result<PurgeReport, StoreError> {
    let now_ns = nanos_clamped(now);
    let before = nanos_clamped(now - retention);
    let mut deleted = [0u64; 4];
    let statements = [
        ("DELETE FROM drafts WHERE expires_ns <= ?", now_ns),
        ("DELETE FROM tickets WHERE expires_ns <= ?", now_ns),
        ("DELETE FROM bookings WHERE slot_start_ns < ?", before),
        (
            "DELETE FROM outbox WHERE status = 'delivered' AND delivered_ns < ?",
            before,
        ),
    ];
    for (count, (sql, bound)) in deleted.iter_mut().zip(statements) {
        *count = sqlx::query(sql)
            .bind(bound)
            .execute(&mut *conn)
            .await
            .map_err(backend)?
            .rows_affected();
    }
    let [drafts, tickets, bookings, outbox] = deleted;
    Ok(PurgeReport::new(drafts, tickets, bookings, outbox))
}

async fn seats_taken(conn: &mut SqliteConnection, slot: &SlotKey) -> Result<u32, StoreError> {
    let taken: i64 = sqlx::query(
        "SELECT count(*) FROM bookings \
         WHERE ward = ? AND slot_start_ns = ? AND point = ? AND cancelled_ns IS NULL",
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

async fn book(
    conn: &mut SqliteConnection,
    request: &BookingRequest,
) -> Result<Booking, StoreError> {
    // The three checks in one round trip: the id in use, the ticket's active booking, the seats.
    let checks = sqlx::query(
        "SELECT EXISTS (SELECT 1 FROM bookings WHERE id = ?1), \
           (SELECT id FROM bookings WHERE ticket = ?2 AND cancelled_ns IS NULL), \
           (SELECT count(*) FROM bookings \
             WHERE ward = ?3 AND slot_start_ns = ?4 AND point = ?5 AND cancelled_ns IS NULL)",
    )
    .bind(request.id.as_str())
    .bind(request.ticket.map(|t| t.to_string()))
    .bind(request.slot.ward.as_str())
    .bind(nanos(request.slot.start, "slot start")?)
    .bind(&request.slot.point)
    .fetch_one(&mut *conn)
    .await
    .map_err(backend)?;
    let exists: bool = checks.try_get(0).map_err(backend)?;
    let held: Option<String> = checks.try_get(1).map_err(backend)?;
    let taken: i64 = checks.try_get(2).map_err(backend)?;
    if exists {
        return Err(StoreError::Duplicate);
    }
    if let Some(booking) = held {
        return Err(StoreError::TicketAlreadyBooked {
            booking: BookingId::from_stored(booking),
        });
    }
    if u32::try_from(taken).unwrap_or(u32::MAX) >= request.capacity {
        return Err(StoreError::SlotFull {
            capacity: request.capacity,
        });
    }
    let booking = Booking::from_request(request);
    sqlx::query(
        "INSERT INTO bookings \
         (id, ward, point, slot_start_ns, procedure, ticket, created_ns, cancelled_ns) \
         VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
    )
    .bind(booking.id.as_str())
    .bind(booking.slot.ward.as_str())
    .bind(&booking.slot.point)
    .bind(nanos(booking.slot.start, "slot start")?)
    .bind(booking.procedure.as_str())
    .bind(booking.ticket.map(|t| t.to_string()))
    .bind(nanos(booking.created_at, "booking")?)
    .execute(&mut *conn)
    .await
    .map_err(|e| {
        // Unreachable while this process is the only writer (the checks above ran under the
        // write lock); kept so that a constraint never surfaces as a backend failure.
        if is_unique_violation(&e) {
            StoreError::Duplicate
        } else {
            backend(e)
        }
    })?;
    Ok(booking)
}

async fn cancel(
    conn: &mut SqliteConnection,
    id: &BookingId,
    now: DateTime<Utc>,
) -> Result<Booking, StoreError> {
    let sql = format!(
        "UPDATE bookings SET cancelled_ns = ? WHERE id = ? AND cancelled_ns IS NULL RETURNING {}",
        BookingRow::COLUMNS
    );
    let updated = sqlx::query(&sql)
        .bind(nanos(now, "cancellation")?)
        .bind(id.as_str())
        .fetch_optional(&mut *conn)
        .await
        .map_err(backend)?;
    if let Some(row) = updated {
        return BookingRow::decode(&row)?.into_booking();
    }
    let exists = sqlx::query("SELECT 1 FROM bookings WHERE id = ?")
        .bind(id.as_str())
        .fetch_optional(&mut *conn)
        .await
        .map_err(backend)?;
    Err(if exists.is_some() {
        StoreError::AlreadyCancelled
    } else {
        StoreError::NotFound
    })
}

/// Whether a counter outcome is recorded for `ticket` (through `audit_counter_ticket`).
async fn counter_outcome_exists(
    conn: &mut SqliteConnection,
    ticket: TicketCode,
) -> Result<bool, StoreError> {
    let found = sqlx::query(
        "SELECT 1 FROM audit WHERE json_extract(event, '$.kind') = 'counter' \
         AND json_extract(event, '$.ticket') = ? LIMIT 1",
    )
    .bind(ticket.to_string())
    .fetch_optional(&mut *conn)
    .await
    .map_err(backend)?;
    Ok(found.is_some())
}

/// Cancels `from` and books `to` inside a savepoint of the batch's transaction: a refusal of
/// either rolls both back, so the old booking stays active.
async fn move_booking(
    conn: &mut SqliteConnection,
    from: &BookingId,
    to: &BookingRequest,
) -> Result<Booking, Failure> {
    control(conn, "SAVEPOINT move_booking").await?;
    let moved = match cancel(conn, from, to.now).await {
        Ok(_) => book(conn, to).await,
        Err(error) => Err(error),
    };
    if moved.is_err() {
        control(conn, "ROLLBACK TO move_booking").await?;
    }
    control(conn, "RELEASE move_booking").await?;
    Ok(moved?)
}

async fn save_draft(conn: &mut SqliteConnection, draft: &Draft) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO drafts (id, procedure, ward, data, saved_ns, expires_ns) \
         VALUES (?, ?, ?, ?, ?, ?) \
         ON CONFLICT (id) DO UPDATE SET procedure = excluded.procedure, ward = excluded.ward, \
           data = excluded.data, saved_ns = excluded.saved_ns, expires_ns = excluded.expires_ns",
    )
    .bind(draft.id.as_str())
    .bind(draft.procedure.as_str())
    .bind(draft.ward.as_ref().map(WardCode::as_str))
    .bind(draft_data(draft)?)
    .bind(nanos(draft.saved_at, "draft saving")?)
    .bind(nanos(draft.expires_at, "draft expiry")?)
    .execute(&mut *conn)
    .await
    .map(drop)
    .map_err(backend)
}

async fn save_ticket(conn: &mut SqliteConnection, ticket: &Ticket) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO tickets \
         (code, procedure, ward, reception_point, reason, draft, issued_ns, expires_ns, owner) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
    .execute(&mut *conn)
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

/// Sets the owner of ticket `code` where it has none: `true` when this did it.
async fn claim_ticket(
    conn: &mut SqliteConnection,
    code: &TicketCode,
    owner: &SubjectPseudonym,
) -> Result<bool, StoreError> {
    let claimed = sqlx::query("UPDATE tickets SET owner = ? WHERE code = ? AND owner IS NULL")
        .bind(owner.as_str())
        .bind(code.to_string())
        .execute(&mut *conn)
        .await
        .map_err(backend)?
        .rows_affected()
        > 0;
    if claimed {
        return Ok(true);
    }
    let exists = sqlx::query("SELECT 1 FROM tickets WHERE code = ?")
        .bind(code.to_string())
        .fetch_optional(&mut *conn)
        .await
        .map_err(backend)?;
    exists.map(|_| false).ok_or(StoreError::NotFound)
}

// ---------------------------------------------------------------------------------------------
// The trait.
// ---------------------------------------------------------------------------------------------

impl Store for SqliteStore {
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
        Box::pin(self.simple_write(Write::SaveDraft(draft.clone())))
    }

    fn draft<'a>(&'a self, id: &'a DraftId, now: DateTime<Utc>) -> StoreFuture<'a, Option<Draft>> {
        Box::pin(self.draft_now(id, now))
    }

    fn delete_draft<'a>(&'a self, id: &'a DraftId) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            match self.write(Write::DeleteDraft(id.clone())).await? {
                Done::Deleted(deleted) => Ok(deleted),
                other => Err(mismatch(&other)),
            }
        })
    }

    fn save_ticket<'a>(&'a self, ticket: &'a Ticket) -> StoreFuture<'a, ()> {
        Box::pin(self.simple_write(Write::SaveTicket(ticket.clone())))
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
        Box::pin(async move {
            match self.write(Write::ClaimTicket(*code, owner.clone())).await? {
                Done::Claimed(claimed) => Ok(claimed),
                other => Err(mismatch(&other)),
            }
        })
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
        Box::pin(async move {
            let write = Write::CommitSubmission(Box::new(commit.clone()));
            match self.write(write).await? {
                Done::Committed(outcome) => Ok(outcome),
                other => Err(mismatch(&other)),
            }
        })
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

    fn record_status<'a>(&'a self, report: &'a StatusReport) -> StoreFuture<'a, StatusOutcome> {
        Box::pin(async move {
            match self.write(Write::RecordStatus(report.clone())).await? {
                Done::Status(outcome) => Ok(outcome),
                other => Err(mismatch(&other)),
            }
        })
    }

    fn statuses<'a>(&'a self, code: &'a DossierCode) -> StoreFuture<'a, Vec<StatusReport>> {
        Box::pin(async move {
            let sql = format!(
                "SELECT {STATUS_COLUMNS} FROM dossier_statuses WHERE dossier_code = ? \
                 ORDER BY reported_ns, report_id"
            );
            sqlx::query(&sql)
                .bind(code.as_str())
                .fetch_all(&self.readers)
                .await
                .map_err(backend)?
                .iter()
                .map(decode_status)
                .collect()
        })
    }

    fn due_outbox<'a>(
        &'a self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> StoreFuture<'a, Vec<OutboxEntry>> {
        Box::pin(async move {
            let write = Write::DueOutbox {
                now,
                lease_until,
                limit,
            };
            match self.write(write).await? {
                Done::Outbox(entries) => Ok(entries),
                other => Err(mismatch(&other)),
            }
        })
    }

    fn outbox_entry<'a>(&'a self, code: &'a DossierCode) -> StoreFuture<'a, Option<OutboxEntry>> {
        Box::pin(self.outbox_entry_now(code))
    }

    fn outbox_summary(&self) -> StoreFuture<'_, OutboxSummary> {
        Box::pin(async move {
            let rows = sqlx::query(OUTBOX_SUMMARY)
                .fetch_all(&self.readers)
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
        Box::pin(async move {
            match self.write(Write::MarkDelivered(*code, now)).await? {
                Done::Deleted(delivered) => Ok(delivered),
                other => Err(mismatch(&other)),
            }
        })
    }

    fn reschedule<'a>(
        &'a self,
        code: &'a DossierCode,
        next_attempt_at: DateTime<Utc>,
        attempts: u32,
        last_error: &'a str,
    ) -> StoreFuture<'a, ()> {
        Box::pin(self.simple_write(Write::Reschedule {
            code: *code,
            next_attempt_at,
            attempts,
            last_error: last_error.to_owned(),
        }))
    }

    fn park<'a>(
        &'a self,
        code: &'a DossierCode,
        attempts: u32,
        reason: &'a str,
    ) -> StoreFuture<'a, ()> {
        Box::pin(self.simple_write(Write::Park {
            code: *code,
            attempts,
            reason: reason.to_owned(),
        }))
    }

    fn append_audit<'a>(&'a self, entry: &'a AuditEntry) -> StoreFuture<'a, AuditRecord> {
        Box::pin(async move {
            match self.write(Write::AppendAudit(entry.clone())).await? {
                Done::Audit(record) => Ok(record),
                other => Err(mismatch(&other)),
            }
        })
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
        Box::pin(async move {
            match self.write(Write::Purge(now, retention)).await? {
                Done::Purged(report) => Ok(report),
                other => Err(mismatch(&other)),
            }
        })
    }

    fn counter_records<'a>(&'a self, ticket: &'a TicketCode) -> StoreFuture<'a, Vec<AuditRecord>> {
        Box::pin(async move {
            // The same expressions as the partial index `audit_counter_ticket`.
            let sql = format!(
                "SELECT {AUDIT_COLUMNS} FROM audit \
                 WHERE json_extract(event, '$.kind') = 'counter' AND json_extract(event, '$.ticket') = ? \
                 ORDER BY seq"
            );
            sqlx::query(&sql)
                .bind(ticket.to_string())
                .fetch_all(&self.readers)
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
                "SELECT {} FROM bookings WHERE ticket = ? AND cancelled_ns IS NULL",
                BookingRow::COLUMNS
            );
            sqlx::query(&sql)
                .bind(ticket.to_string())
                .fetch_optional(&self.readers)
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
        Box::pin(async move {
            match self.write(Write::Move(from.clone(), to.clone())).await? {
                Done::Booking(booking) => Ok(booking),
                other => Err(mismatch(&other)),
            }
        })
    }

    fn append_counter_outcome<'a>(
        &'a self,
        entry: &'a AuditEntry,
    ) -> StoreFuture<'a, Option<AuditRecord>> {
        Box::pin(async move {
            match self
                .write(Write::AppendCounterOutcome(entry.clone()))
                .await?
            {
                Done::Audit(record) => Ok(Some(record)),
                Done::AlreadyRecorded => Ok(None),
                other => Err(mismatch(&other)),
            }
        })
    }
}

/// Creates the database file readable by its owner only (it holds dossiers), before SQLite
/// opens it; SQLite gives its WAL and shared-memory files the same permissions.
fn create_private(path: &std::path::Path) -> Result<(), StoreError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options
        .open(path)
        .map(drop)
        .map_err(|e| StoreError::Backend(Box::new(e)))
}
