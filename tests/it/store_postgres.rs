//! The PostgreSQL store: the shared conformance suite, two instances racing for one seat,
//! reconnecting, migrations. Each test works in schemas of its own, dropped at its end.
//!
//! These tests need a server: `.ci/run test` starts one on loopback, sets
//! `WARDGATE_TEST_DATABASE_URL` and runs them with `--ignored store_postgres::`.

use std::sync::{Arc, Mutex};

use chrono::Duration;
use pretty_assertions::assert_eq;
use sqlx::{Connection as _, Row as _};
use wardgate::clock::SystemRandom;
use wardgate::store::{self, BookingId, BookingRequest, PgOptions, PgStore, Store, StoreError};

use crate::support::store::{booking_request, draft, fresh_schema, t0, ticket};

const NEEDS: &str = "needs PostgreSQL: run through .ci/run";

fn database_url() -> String {
    std::env::var("WARDGATE_TEST_DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "WARDGATE_TEST_DATABASE_URL is not set: run these tests through `bash .ci/run test`, \
             which starts PostgreSQL on loopback and sets it"
        )
    })
}

/// The schemas a test created; dropped by [`Schemas::drop_all`].
#[derive(Default)]
struct Schemas(Mutex<Vec<String>>);

impl Schemas {
    fn fresh(&self) -> String {
        let name = fresh_schema("");
        self.0.lock().unwrap().push(name.clone());
        name
    }

    async fn store(&self) -> PgStore {
        let options = PgOptions::default().max_connections(8).schema(self.fresh());
        PgStore::connect_with(&database_url(), options)
            .await
            .unwrap()
    }

    async fn drop_all(&self) {
        let names = std::mem::take(&mut *self.0.lock().unwrap());
        let mut conn = sqlx::PgConnection::connect(&database_url()).await.unwrap();
        for name in names {
            sqlx::raw_sql(&format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE"))
                .execute(&mut conn)
                .await
                .unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: run through .ci/run"]
async fn postgres_store_passes_the_conformance_suite() {
    let schemas = Schemas::default();
    let make = || {
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current()
                .block_on(async { Arc::new(schemas.store().await) as Arc<dyn Store> })
        })
    };
    let outcome = store::conformance::run_all(make).await;
    schemas.drop_all().await;
    outcome.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: run through .ci/run"]
async fn two_instances_race_for_the_last_seat() {
    let schemas = Schemas::default();
    let schema = schemas.fresh();
    let url = database_url();
    let connect = || {
        PgStore::connect_with(
            &url,
            PgOptions::default()
                .max_connections(16)
                .schema(schema.clone()),
        )
    };
    let (a, b) = tokio::join!(connect(), connect());
    let instances = [Arc::new(a.unwrap()), Arc::new(b.unwrap())];
    let mut request = booking_request(None);
    request.capacity = 5;
    for _ in 0..4 {
        instances[0]
            .book(&booking_request_in(&request))
            .await
            .unwrap();
    }
    let barrier = Arc::new(tokio::sync::Barrier::new(64));
    let mut handles = Vec::new();
    for i in 0..64 {
        let store = Arc::clone(&instances[i % 2]);
        let barrier = Arc::clone(&barrier);
        let request = booking_request_in(&request);
        handles.push(tokio::spawn(async move {
            barrier.wait().await;
            store.book(&request).await
        }));
    }
    let (mut won, mut full) = (0, 0);
    for handle in handles {
        match handle.await.unwrap() {
            Ok(_) => won += 1,
            Err(StoreError::SlotFull { capacity: 5 }) => full += 1,
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    let taken = instances[1].seats_taken(&request.slot).await.unwrap();
    schemas.drop_all().await;
    assert_eq!((won, full, taken), (1, 63, 5));
}

/// The same slot and capacity as `request`, with a fresh id.
fn booking_request_in(request: &BookingRequest) -> BookingRequest {
    BookingRequest {
        id: BookingId::generate(&SystemRandom::new()).unwrap(),
        ..request.clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: run through .ci/run"]
async fn two_instances_cannot_both_book_with_one_ticket() {
    let schemas = Schemas::default();
    let schema = schemas.fresh();
    let url = database_url();
    let connect = || PgStore::connect_with(&url, PgOptions::default().schema(schema.clone()));
    let instances = [
        Arc::new(connect().await.unwrap()),
        Arc::new(connect().await.unwrap()),
    ];
    let ticket = ticket(&draft()).code;
    let mut handles = Vec::new();
    for i in 0..32 {
        let store = Arc::clone(&instances[i % 2]);
        let mut request = booking_request(Some(ticket));
        // Different slots, so only the ticket's unique index stands between them.
        request.slot.start += Duration::minutes(i64::try_from(i).unwrap() * 15);
        handles.push(tokio::spawn(async move { store.book(&request).await }));
    }
    let mut winners = Vec::new();
    let mut refused_with = Vec::new();
    for handle in handles {
        match handle.await.unwrap() {
            Ok(booking) => winners.push(booking.id),
            Err(StoreError::TicketAlreadyBooked { booking }) => refused_with.push(booking),
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    schemas.drop_all().await;
    assert_eq!(winners.len(), 1);
    assert_eq!(refused_with.len(), 31);
    assert!(refused_with.iter().all(|id| *id == winners[0]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: run through .ci/run"]
async fn reconnecting_keeps_everything() {
    let schemas = Schemas::default();
    let schema = schemas.fresh();
    let options = PgOptions::default().schema(schema);
    let draft = draft();
    let ticket = ticket(&draft);
    let request = booking_request(Some(ticket.code));
    let booking = {
        let store = PgStore::connect_with(&database_url(), options.clone())
            .await
            .unwrap();
        store.save_draft(&draft).await.unwrap();
        store.save_ticket(&ticket).await.unwrap();
        store.book(&request).await.unwrap()
    };
    let store = PgStore::connect_with(&database_url(), options)
        .await
        .unwrap();
    let read = (
        store.booking(&booking.id).await.unwrap(),
        store.draft(&draft.id, t0()).await.unwrap(),
        store.ticket(&ticket.code, t0()).await.unwrap(),
    );
    schemas.drop_all().await;
    assert_eq!(read, (Some(booking), Some(draft), Some(ticket)));
}

async fn migration_versions(schema: &str) -> Vec<i64> {
    let mut conn = sqlx::PgConnection::connect(&database_url()).await.unwrap();
    sqlx::query(&format!(
        "SELECT version FROM \"{schema}\".wardgate_migrations ORDER BY version"
    ))
    .fetch_all(&mut conn)
    .await
    .unwrap()
    .iter()
    .map(|row| row.get::<i64, _>(0))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: run through .ci/run"]
async fn instances_starting_together_migrate_once() {
    let schemas = Schemas::default();
    let schema = schemas.fresh();
    let mut handles = Vec::new();
    for _ in 0..6 {
        let options = PgOptions::default()
            .max_connections(2)
            .schema(schema.clone());
        handles.push(tokio::spawn(async move {
            PgStore::connect_with(&database_url(), options)
                .await
                .map(drop)
        }));
    }
    for handle in handles {
        handle.await.unwrap().unwrap();
    }
    let versions = migration_versions(&schema).await;
    schemas.drop_all().await;
    let expected: Vec<i64> = (1..=PgStore::SCHEMA_VERSION).collect();
    assert_eq!(versions, expected);
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run through .ci/run"]
async fn a_newer_schema_is_refused() {
    let schemas = Schemas::default();
    let schema = schemas.fresh();
    let options = PgOptions::default().schema(schema.clone());
    drop(
        PgStore::connect_with(&database_url(), options.clone())
            .await
            .unwrap(),
    );
    let newer = PgStore::SCHEMA_VERSION + 1;
    let mut conn = sqlx::PgConnection::connect(&database_url()).await.unwrap();
    sqlx::query(&format!(
        "INSERT INTO \"{schema}\".wardgate_migrations (version) VALUES ($1)"
    ))
    .bind(newer)
    .execute(&mut conn)
    .await
    .unwrap();
    let error = PgStore::connect_with(&database_url(), options)
        .await
        .unwrap_err();
    schemas.drop_all().await;
    assert!(
        matches!(error, StoreError::SchemaTooNew { found, known } if found == newer && known == PgStore::SCHEMA_VERSION),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        format!(
            "the database schema is at version {newer}, newer than version {} that this wardgate \
             knows: upgrade wardgate",
            PgStore::SCHEMA_VERSION
        )
    );
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run through .ci/run"]
async fn open_dispatches_postgres_urls_and_passes_their_options() {
    let schemas = Schemas::default();
    let schema = schemas.fresh();
    let mut conn = sqlx::PgConnection::connect(&database_url()).await.unwrap();
    sqlx::raw_sql(&format!("CREATE SCHEMA \"{schema}\""))
        .execute(&mut conn)
        .await
        .unwrap();
    let url = format!(
        "{}?options=-c%20search_path%3D{schema}",
        database_url().replacen("postgres://", "postgresql://", 1)
    );
    let store = store::open(&url).await.unwrap();
    let request = booking_request(None);
    store.book(&request).await.unwrap();
    let count: i64 = sqlx::query(&format!("SELECT count(*) FROM \"{schema}\".bookings"))
        .fetch_one(&mut conn)
        .await
        .unwrap()
        .get(0);
    schemas.drop_all().await;
    assert_eq!(count, 1);
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run through .ci/run"]
async fn debug_output_hides_the_url() {
    let url = database_url();
    let password = url::Url::parse(&url)
        .unwrap()
        .password()
        .unwrap()
        .to_owned();
    let schemas = Schemas::default();
    let store = schemas.store().await;
    let debug = format!("{store:?}");
    schemas.drop_all().await;
    assert!(!debug.contains(&password), "{debug}");
    assert!(
        debug.starts_with(
            "PgStore { options: PgOptions { max_connections: 8, schema: Some(\"wg_test_"
        ),
        "{debug}"
    );
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run through .ci/run"]
async fn a_bad_schema_name_is_refused() {
    for schema in ["", "1abc", "Upper", "a\"b", "semi;colon"] {
        let error = PgStore::connect_with(&database_url(), PgOptions::default().schema(schema))
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid store configuration: a schema name is 1 to 63 lowercase ASCII letters, \
             digits and `_`, not starting with a digit",
            "{schema}"
        );
    }
}

#[test]
#[ignore = "needs PostgreSQL: run through .ci/run"]
fn the_ignore_reason_names_ci() {
    // The message people see in `cargo test -- --ignored --list`: keep it pointing at .ci/run.
    assert_eq!(NEEDS, "needs PostgreSQL: run through .ci/run");
    assert!(!database_url().is_empty());
}

/// Crash safety on PostgreSQL: the same test as on SQLite ([`crate::crash`]), in a schema of
/// its own: the child is killed (SIGKILL) mid-stream; after a restart every receipted dossier is
/// there and none is duplicated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: run through .ci/run"]
async fn acknowledged_writes_survive_a_killed_process() {
    if crate::crash::run_child_if_asked().await {
        return;
    }
    let schemas = Schemas::default();
    let schema = schemas.fresh();
    // Fail here, before spawning, when the server is not configured.
    database_url();
    crate::crash::kill_mid_stream_and_check(
        "store_postgres::acknowledged_writes_survive_a_killed_process",
        crate::crash::Target::Postgres(schema),
    )
    .await;
    schemas.drop_all().await;
}

/// Retention and the pseudonymous audit after the full flows, on PostgreSQL
/// ([`crate::retention`]).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: run through .ci/run"]
async fn audit_is_pseudonymous_and_expired_records_are_purged() {
    let schemas = Schemas::default();
    let store = Arc::new(schemas.store().await);
    crate::retention::audit_is_pseudonymous_and_expired_records_are_purged(store).await;
    schemas.drop_all().await;
}

/// Group commit across instances: two stores on one schema commit 64 callers' submissions at
/// once; every submission is created once, replays return the original, and the audit trail is
/// one chain without gaps that verifies. Then a stored record is altered behind the store's
/// back (the append-only trigger switched off, as an attacker with the database's owner would):
/// the chain no longer verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: run through .ci/run"]
async fn two_instances_group_commit_one_verifiable_chain() {
    let schemas = Schemas::default();
    let schema = schemas.fresh();
    let url = database_url();
    let connect = || {
        PgStore::connect_with(
            &url,
            PgOptions::default()
                .max_connections(16)
                .schema(schema.clone()),
        )
    };
    let (a, b) = tokio::join!(connect(), connect());
    let instances: [Arc<dyn Store>; 2] = [Arc::new(a.unwrap()), Arc::new(b.unwrap())];
    let outcome = store::conformance::concurrent_commits_form_one_chain(&instances, 64).await;

    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::raw_sql(&format!(
        "SET search_path = \"{schema}\"; \
         ALTER TABLE audit DISABLE TRIGGER USER; \
         UPDATE audit SET event = replace(event, '\"level\":2', '\"level\":1') WHERE seq = 100; \
         ALTER TABLE audit ENABLE TRIGGER USER;"
    ))
    .execute(&mut conn)
    .await
    .unwrap();
    let audit = instances[1].audit_range(1, 10_000).await.unwrap();
    let tampered = wardgate::audit::verify_chain(&audit);
    schemas.drop_all().await;
    outcome.unwrap();
    assert_eq!(audit.len(), 64 * 3);
    let error = tampered.unwrap_err();
    assert_eq!(
        (error.seq, error.kind),
        (100, wardgate::audit::ChainErrorKind::Edited)
    );
}
