//! The SQLite store: the shared conformance suite on a file, plus what only a file shows —
//! reopening keeps everything, migrations run once, a newer schema is refused.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::Duration;
use pretty_assertions::assert_eq;
use sqlx::{Connection as _, Row as _};
use wardgate::clock::SystemRandom;
use wardgate::pseudonym::Pseudonymizer;
use wardgate::store::{
    self, CommitOutcome, OutboxEntry, SqliteStore, Store, StoreError, SubmissionCommit,
    SubmissionRecord,
};
use wardgate::submission::{DossierCode, IdempotencyKey};

use crate::support::store::{TempDir, booking_request, draft, t0, ticket};

/// Opens a fresh store from inside a synchronous factory (the conformance suite's shape).
fn fresh_stores(dir: &TempDir) -> impl Fn() -> Arc<dyn Store> + '_ {
    let next = AtomicUsize::new(0);
    move || {
        let path = dir.file(&format!(
            "conformance-{}.db",
            next.fetch_add(1, Ordering::Relaxed)
        ));
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(async {
                Arc::new(SqliteStore::open(&path).await.unwrap()) as Arc<dyn Store>
            })
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_store_passes_the_conformance_suite() {
    let dir = TempDir::new("sqlite-conformance");
    store::conformance::run_all(fresh_stores(&dir))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_race_for_the_last_seat_with_many_tasks() {
    let dir = TempDir::new("sqlite-race");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.file("race.db")).await.unwrap());
    store::conformance::race_for_last_seat(store, 256)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopening_the_file_keeps_everything() {
    let dir = TempDir::new("sqlite-reopen");
    let path = dir.file("wardgate.db");
    let draft = draft();
    let ticket = ticket(&draft);
    let request = booking_request(Some(ticket.code));
    let (booking, cancelled) = {
        let store = SqliteStore::open(&path).await.unwrap();
        let booking = store.book(&request).await.unwrap();
        let other = store.book(&booking_request(None)).await.unwrap();
        let cancelled = store
            .cancel(&other.id, t0() + Duration::minutes(1))
            .await
            .unwrap();
        store.save_draft(&draft).await.unwrap();
        store.save_ticket(&ticket).await.unwrap();
        (booking, cancelled)
    };
    let store = SqliteStore::open(&format!("sqlite://{path}"))
        .await
        .unwrap();
    assert_eq!(store.booking(&booking.id).await.unwrap(), Some(booking));
    assert_eq!(store.booking(&cancelled.id).await.unwrap(), Some(cancelled));
    assert_eq!(store.seats_taken(&request.slot).await.unwrap(), 1);
    assert_eq!(store.draft(&draft.id, t0()).await.unwrap(), Some(draft));
    assert_eq!(
        store.ticket(&ticket.code, t0()).await.unwrap(),
        Some(ticket)
    );
}

#[tokio::test]
async fn opening_creates_the_parent_directories() {
    let dir = TempDir::new("sqlite-parents");
    let path = dir.path().join("var").join("lib").join("wardgate.db");
    let store = SqliteStore::open(path.to_str().unwrap()).await.unwrap();
    assert!(path.is_file());
    assert_eq!(store.path(), path.as_path());
}

async fn migration_versions(path: &str) -> Vec<i64> {
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{path}"))
        .await
        .unwrap();
    sqlx::query("SELECT version FROM wardgate_migrations ORDER BY version")
        .fetch_all(&mut conn)
        .await
        .unwrap()
        .iter()
        .map(|row| row.get::<i64, _>(0))
        .collect()
}

#[tokio::test]
async fn migrations_run_once() {
    let dir = TempDir::new("sqlite-migrations");
    let path = dir.file("wardgate.db");
    let draft = draft();
    SqliteStore::open(&path)
        .await
        .unwrap()
        .save_draft(&draft)
        .await
        .unwrap();
    for _ in 0..3 {
        let store = SqliteStore::open(&path).await.unwrap();
        assert_eq!(
            store.draft(&draft.id, t0()).await.unwrap(),
            Some(draft.clone())
        );
    }
    let expected: Vec<i64> = (1..=SqliteStore::SCHEMA_VERSION).collect();
    assert_eq!(migration_versions(&path).await, expected);
}

/// Schema 7: the outbox summary behind `/metrics` reads only the index of undelivered entries,
/// never the outbox table with its envelopes (kept, once delivered, until the retention purge).
#[tokio::test]
async fn the_outbox_summary_reads_only_the_undelivered_index() {
    let dir = TempDir::new("sqlite-outbox-summary");
    let path = dir.file("wardgate.db");
    drop(SqliteStore::open(&path).await.unwrap());
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{path}"))
        .await
        .unwrap();
    // The store's query, word for word.
    let plan: Vec<String> = sqlx::query(
        "EXPLAIN QUERY PLAN SELECT status, COUNT(*) AS entries, \
         MIN(created_ns) AS oldest_ns FROM outbox WHERE status <> 'delivered' GROUP BY status",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap()
    .iter()
    .map(|row| row.get::<String, _>("detail"))
    .collect();
    assert_eq!(
        plan,
        vec!["SCAN outbox USING COVERING INDEX outbox_undelivered".to_owned()]
    );
}

#[tokio::test]
async fn a_newer_schema_is_refused() {
    let dir = TempDir::new("sqlite-newer");
    let path = dir.file("wardgate.db");
    drop(SqliteStore::open(&path).await.unwrap());
    let newer = SqliteStore::SCHEMA_VERSION + 1;
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{path}"))
        .await
        .unwrap();
    sqlx::query("INSERT INTO wardgate_migrations (version) VALUES (?)")
        .bind(newer)
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();

    let error = SqliteStore::open(&path).await.unwrap_err();
    assert!(
        matches!(error, StoreError::SchemaTooNew { found, known } if found == newer && known == SqliteStore::SCHEMA_VERSION),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        format!(
            "the database schema is at version {newer}, newer than version {} that this wardgate \
             knows: upgrade wardgate",
            SqliteStore::SCHEMA_VERSION
        )
    );
}

#[tokio::test]
async fn the_file_is_in_wal_mode() {
    let dir = TempDir::new("sqlite-wal");
    let path = dir.file("wardgate.db");
    let _store = SqliteStore::open(&path).await.unwrap();
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{path}"))
        .await
        .unwrap();
    let mode: String = sqlx::query("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .unwrap()
        .get(0);
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn an_in_memory_database_is_refused() {
    for url in ["sqlite::memory:", "sqlite://file:x?mode=memory"] {
        let error = SqliteStore::open(url).await.unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid store configuration: an in-memory SQLite database is not durable: use \
             `MemoryStore`"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_dispatches_on_the_url_scheme() {
    let dir = TempDir::new("sqlite-open");
    let path = dir.file("wardgate.db");
    // The scheme is case-insensitive, as in any URL.
    let store = store::open(&format!("SQLite://{path}")).await.unwrap();
    assert!(std::path::Path::new(&path).is_file());
    let request = booking_request(None);
    store.book(&request).await.unwrap();
    assert_eq!(store.seats_taken(&request.slot).await.unwrap(), 1);

    let error = store::open("mysql://wardgate:secret@127.0.0.1/wardgate")
        .await
        .unwrap_err();
    assert!(matches!(&error, StoreError::UnsupportedScheme { scheme } if scheme == "mysql"));
    assert_eq!(
        error.to_string(),
        "unsupported store url scheme `mysql`: expected `sqlite://`, `postgres://` or \
         `postgresql://`"
    );
    let error = store::open("/var/lib/wardgate.db").await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid store configuration: the url does not start with a scheme such as `sqlite://` \
         or `postgres://`"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_refused_write_does_not_undo_the_others_in_its_batch() {
    let dir = TempDir::new("sqlite-batch");
    let store = Arc::new(SqliteStore::open(&dir.file("wardgate.db")).await.unwrap());
    let draft = draft();
    let ticket = ticket(&draft);
    store.save_ticket(&ticket).await.unwrap();
    let mut handles = Vec::new();
    for i in 0..64 {
        let store = Arc::clone(&store);
        let ticket = ticket.clone();
        handles.push(tokio::spawn(async move {
            if i % 2 == 0 {
                store.save_ticket(&ticket).await.map(|()| None)
            } else {
                let mut draft = crate::support::store::draft();
                draft.data = serde_json::json!({ "n": i });
                store.save_draft(&draft).await.map(|()| Some(draft))
            }
        }));
    }
    let mut saved = Vec::new();
    for handle in handles {
        match handle.await.unwrap() {
            Ok(Some(draft)) => saved.push(draft),
            Ok(None) => panic!("a duplicate ticket was saved"),
            Err(StoreError::Duplicate) => {}
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    assert_eq!(saved.len(), 32);
    for draft in saved {
        assert_eq!(store.draft(&draft.id, t0()).await.unwrap(), Some(draft));
    }
}

#[tokio::test]
async fn debug_output_shows_the_path_only() {
    let dir = TempDir::new("sqlite-debug");
    let path = dir.file("wardgate.db");
    let store = SqliteStore::open(&path).await.unwrap();
    assert_eq!(
        format!("{store:?}"),
        format!("SqliteStore {{ path: {path:?}, .. }}")
    );
}

/// A submission commit as the submitter builds it, with stand-in receipt and envelope texts.
fn commit(dossier: serde_json::Value, key: &str) -> SubmissionCommit {
    use wardgate::assurance::{Level, SourceKind};
    use wardgate::audit::{AuditEntry, AuditEvent, SubmissionRecorded};

    let ward = crate::support::store::ward();
    let procedure = crate::support::store::procedure();
    let subject = Pseudonymizer::new(&[9u8; 32])
        .unwrap()
        .subject("https://sso.example.vn", PROVIDER_SUB);
    let code = DossierCode::generate(ward, t0().date_naive(), &SystemRandom::new()).unwrap();
    let record = SubmissionRecord::new(
        code,
        subject.clone(),
        IdempotencyKey::parse(key).unwrap(),
        procedure,
        ward,
        dossier,
        Level::Two,
        SourceKind::UserinfoClaim,
        t0(),
        format!("receipt.{code}"),
    );
    let outbox = OutboxEntry::pending(code, format!("envelope.{code}"), t0());
    let audit = AuditEntry::new(
        t0(),
        Some(subject),
        AuditEvent::Submission(SubmissionRecorded::new(code, procedure, ward, Level::Two)),
    );
    SubmissionCommit::new(record, outbox, audit, None)
}

const PROVIDER_SUB: &str = "vneid-subject-0123456789";
const CITIZEN_ID: &str = "089190000001";

#[tokio::test]
async fn citizen_id_numbers_and_provider_subjects_stay_out_of_the_file() {
    let dir = TempDir::new("sqlite-pii");
    let path = dir.file("wardgate.db");
    let store = SqliteStore::open(&path).await.unwrap();
    // The portal keeps only the keyed hash of an ID number in a dossier.
    let id_hash = Pseudonymizer::new(&[9u8; 32])
        .unwrap()
        .citizen_id(CITIZEN_ID)
        .unwrap();
    let dossier = serde_json::json!({"child_name": "Trần Minh Khang", "father_id_hash": id_hash});
    let outcome = store
        .commit_submission(&commit(dossier, "pii-1"))
        .await
        .unwrap();
    assert!(matches!(outcome, CommitOutcome::Created(_)));
    drop(store);

    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{path}"))
        .await
        .unwrap();
    let columns: Vec<String> = sqlx::query(
        "SELECT p.name FROM sqlite_master m, pragma_table_info(m.name) p WHERE m.type = 'table'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap()
    .iter()
    .map(|row| row.get::<String, _>(0))
    .collect();
    assert!(columns.contains(&"subject".to_owned()), "{columns:?}");
    for column in &columns {
        for banned in ["citizen", "cccd", "cmnd", "id_number", "national_id"] {
            assert!(!column.contains(banned), "column `{column}`");
        }
    }
    conn.close().await.unwrap();

    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        bytes.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        text.contains(&id_hash.to_hex()),
        "the scan must see the stored dossier"
    );
    assert!(!text.contains(CITIZEN_ID));
    assert!(!text.contains(PROVIDER_SUB));
}

/// Crash safety on SQLite: the child files dossiers from 16 residents until it is killed
/// (SIGKILL) mid-stream; after a restart every receipted dossier is there and none is
/// duplicated ([`crate::crash`]).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_a_killed_process() {
    if crate::crash::run_child_if_asked().await {
        return;
    }
    let dir = TempDir::new("sqlite-crash");
    crate::crash::kill_mid_stream_and_check(
        "store_sqlite::acknowledged_writes_survive_a_killed_process",
        crate::crash::Target::Sqlite(dir.file("wardgate.db")),
    )
    .await;
}

/// The query plan of `sql` on the database at `path`, one detail per line.
async fn query_plan(path: &str, sql: &str) -> String {
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{path}"))
        .await
        .unwrap();
    let rows = sqlx::query(&format!("EXPLAIN QUERY PLAN {sql}"))
        .fetch_all(&mut conn)
        .await
        .unwrap();
    rows.iter()
        .map(|row| row.get::<String, _>("detail"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn a_tickets_counter_outcomes_and_booking_are_found_through_indexes() {
    let dir = TempDir::new("sqlite-by-ticket");
    let path = dir.file("wardgate.db");
    drop(SqliteStore::open(&path).await.unwrap());
    // The store's own look-ups (`counter_records`, `ticket_booking`), never a scan.
    let counter = query_plan(
        &path,
        "SELECT seq FROM audit WHERE json_extract(event, '$.kind') = 'counter' \
         AND json_extract(event, '$.ticket') = 'TS-ABCDE-FGHJK' ORDER BY seq",
    )
    .await;
    assert!(
        counter.contains("USING INDEX audit_counter_ticket"),
        "{counter}"
    );
    let booking = query_plan(
        &path,
        "SELECT id FROM bookings WHERE ticket = 'TS-ABCDE-FGHJK' AND cancelled_ns IS NULL",
    )
    .await;
    assert!(booking.contains("bookings_active_ticket"), "{booking}");
}
