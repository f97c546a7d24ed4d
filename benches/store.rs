//! Durable submissions and bookings per second on SQLite (a temporary file) and, when
//! `WARDGATE_BENCH_DATABASE_URL` is set, on PostgreSQL. Target: ≥ 1,000 durable submissions per
//! second on SQLite, with `synchronous = FULL` (every acknowledged write survives a power cut).
//!
//! Throughput is reported as elements per second: one element is one acknowledged (committed)
//! submission or booking.
//!
//! - `commit/1`: one caller at a time, so each commit waits for its own `fsync`;
//! - `commit/64`: 64 concurrent callers, as a busy portal has (SQLite group-commits them);
//! - `submit/64`: the whole [`Submitter::submit`] path (policy re-check, dossier validation,
//!   signed receipt and envelope, durable commit) with 64 concurrent callers;
//! - `book/64`: bookings by 64 concurrent callers.
//!
//! Run: `cargo bench --bench store --all-features`
//! (PostgreSQL too: `WARDGATE_BENCH_DATABASE_URL=postgres://… cargo bench --bench store
//! --all-features`; the bench works in a schema of its own and drops it.)

#![allow(missing_docs, reason = "benchmark binary")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "benchmark setup"
)]

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wardgate::assurance::{Assurance, Level, SourceKind};
use wardgate::audit::{AuditEntry, AuditEvent, SubmissionRecorded};
use wardgate::clock::SystemRandom;
use wardgate::fallback::WardCode;
use wardgate::keys::SigningKey;
use wardgate::policy::{Catalog, ProcedureCode};
use wardgate::pseudonym::{Pseudonymizer, SubjectPseudonym};
use wardgate::store::{
    BookingId, BookingRequest, OutboxEntry, SlotKey, SqliteStore, Store, StoreError,
    SubmissionCommit, SubmissionRecord,
};
use wardgate::submission::{
    DossierCode, DossierSealer, IdempotencyKey, SubmissionRequest, Submitter,
};

const CONCURRENT: u64 = 64;

/// Everything a submission needs besides the store.
struct Fixture {
    catalog: Catalog,
    procedure: ProcedureCode,
    ward: WardCode,
    subject: SubjectPseudonym,
    assurance: Assurance,
    dossier: serde_json::Value,
    next: AtomicU64,
}

impl Fixture {
    fn new() -> Self {
        let catalog =
            Catalog::load(concat!(env!("CARGO_MANIFEST_DIR"), "/samples/catalog.toml")).unwrap();
        let procedure = ProcedureCode::parse("1.001193").unwrap();
        let dossier = catalog.procedure(procedure.as_str()).unwrap().example();
        let issuer = "https://sso.example.vn";
        Self {
            catalog,
            procedure,
            ward: WardCode::parse("30316").unwrap(),
            subject: Pseudonymizer::new(&[7u8; 32])
                .unwrap()
                .subject(issuer, "bench-resident"),
            assurance: Assurance::new(
                Some(Level::Two),
                issuer,
                SourceKind::UserinfoClaim,
                Some(Utc::now()),
            ),
            dossier,
            next: AtomicU64::new(0),
        }
    }

    fn key(&self) -> IdempotencyKey {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        IdempotencyKey::parse(&format!("bench-{}-{n}", std::process::id())).unwrap()
    }

    /// A commit as the submitter builds it, without the signatures (stand-in texts).
    fn commit(&self) -> SubmissionCommit {
        let now = Utc::now();
        let day = now
            .with_timezone(&wardgate::fallback::vietnam())
            .date_naive();
        let code = DossierCode::generate(self.ward, day, &SystemRandom::new()).unwrap();
        let record = SubmissionRecord::new(
            code,
            self.subject.clone(),
            self.key(),
            self.procedure,
            self.ward,
            self.dossier.clone(),
            Level::Two,
            SourceKind::UserinfoClaim,
            now,
            format!(
                "receipt.{code}.signature-of-about-this-length-{}",
                "x".repeat(64)
            ),
        );
        let outbox =
            OutboxEntry::pending(code, format!("envelope.{code}.{}", "y".repeat(600)), now);
        let audit = AuditEntry::new(
            now,
            Some(self.subject.clone()),
            AuditEvent::Submission(SubmissionRecorded::new(
                code,
                self.procedure,
                self.ward,
                Level::Two,
            )),
        );
        SubmissionCommit::new(record, outbox, audit, None)
    }

    fn booking(&self) -> BookingRequest {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        BookingRequest {
            id: BookingId::generate(&SystemRandom::new()).unwrap(),
            slot: SlotKey {
                ward: self.ward,
                point: "trung-tam".into(),
                // 500 slots, 15 minutes apart, never full.
                start: Utc::now() + chrono::Duration::minutes(15 * i64::try_from(n % 500).unwrap()),
            },
            capacity: u32::MAX,
            procedure: self.procedure,
            ticket: None,
            now: Utc::now(),
        }
    }
}

/// Runs `total` operations split over `callers` concurrent tasks; the time until all were
/// acknowledged.
async fn run<F, Fut>(total: u64, callers: u64, op: F) -> Duration
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    let op = Arc::new(op);
    let start = Instant::now();
    let mut handles = Vec::new();
    for caller in 0..callers.min(total) {
        let share = total / callers + u64::from(caller < total % callers);
        let op = Arc::clone(&op);
        handles.push(tokio::spawn(async move {
            for _ in 0..share {
                op().await;
            }
        }));
    }
    for handle in handles {
        handle.await.unwrap();
    }
    start.elapsed()
}

fn bench_store(c: &mut Criterion, name: &str, rt: &tokio::runtime::Runtime, store: Arc<dyn Store>) {
    let fixture = Arc::new(Fixture::new());
    let random = Arc::new(SystemRandom::new());
    let (key, _pkcs8) = SigningKey::generate(random.as_ref()).unwrap();
    let sealer = Arc::new(DossierSealer::from_bytes(&[3u8; 32], random.clone()).unwrap());
    let submitter = Arc::new(Submitter::new(
        Arc::clone(&store),
        Arc::new(key),
        sealer,
        Arc::new(wardgate::SystemClock),
        random,
    ));

    let mut group = c.benchmark_group(name);
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(8))
        .throughput(Throughput::Elements(1));

    for callers in [1, CONCURRENT] {
        group.bench_function(format!("commit/{callers}"), |b| {
            b.iter_custom(|iters| {
                let (store, fixture) = (Arc::clone(&store), Arc::clone(&fixture));
                rt.block_on(run(iters, callers, move || {
                    let (store, fixture) = (Arc::clone(&store), Arc::clone(&fixture));
                    async move {
                        // All codes share one ward and day: over ~10^5 commits, 6 random
                        // symbols clash now and then. Draw again, as the submitter does.
                        loop {
                            match store.commit_submission(&fixture.commit()).await {
                                Err(StoreError::Duplicate) => continue,
                                outcome => break drop(outcome.unwrap()),
                            }
                        }
                    }
                }))
            });
        });
    }

    group.bench_function(format!("submit/{CONCURRENT}"), |b| {
        b.iter_custom(|iters| {
            let (submitter, fixture) = (Arc::clone(&submitter), Arc::clone(&fixture));
            rt.block_on(run(iters, CONCURRENT, move || {
                let (submitter, fixture) = (Arc::clone(&submitter), Arc::clone(&fixture));
                async move {
                    let request = SubmissionRequest {
                        procedure: fixture
                            .catalog
                            .procedure(fixture.procedure.as_str())
                            .unwrap(),
                        assurance: &fixture.assurance,
                        subject: &fixture.subject,
                        ward: fixture.ward,
                        dossier: fixture.dossier.clone(),
                        idempotency_key: fixture.key(),
                        draft: None,
                        attachments: Vec::new(),
                        assisted_by: None,
                    };
                    let submitted = submitter.submit(request).await.unwrap();
                    assert!(!submitted.replayed);
                }
            }))
        });
    });

    group.bench_function(format!("book/{CONCURRENT}"), |b| {
        b.iter_custom(|iters| {
            let (store, fixture) = (Arc::clone(&store), Arc::clone(&fixture));
            rt.block_on(run(iters, CONCURRENT, move || {
                let (store, request) = (Arc::clone(&store), fixture.booking());
                async move {
                    store.book(&request).await.unwrap();
                }
            }))
        });
    });
    group.finish();
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    let dir = std::env::temp_dir().join(format!("wardgate-bench-{}", std::process::id()));
    let path = dir.join("wardgate.db");
    let sqlite = rt
        .block_on(SqliteStore::open(path.to_str().unwrap()))
        .unwrap();
    bench_store(c, "sqlite", &rt, Arc::new(sqlite));
    std::fs::remove_dir_all(&dir).unwrap();

    postgres(c, &rt);
}

#[cfg(feature = "postgres")]
fn postgres(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    use sqlx::Connection as _;
    use wardgate::store::{PgOptions, PgStore};

    // The variable may list several store URLs (benches/submissions.rs reads it too).
    let urls = std::env::var("WARDGATE_BENCH_DATABASE_URL").unwrap_or_default();
    let Some(url) = urls
        .split_whitespace()
        .find(|url| url.starts_with("postgres://") || url.starts_with("postgresql://"))
        .map(str::to_owned)
    else {
        eprintln!("no postgres:// URL in WARDGATE_BENCH_DATABASE_URL: skipping PostgreSQL");
        return;
    };
    let schema = format!("wardgate_bench_{}", std::process::id());
    let options = PgOptions::default()
        .max_connections(32)
        .schema(schema.clone());
    let store = rt.block_on(PgStore::connect_with(&url, options)).unwrap();
    bench_store(c, "postgres", rt, Arc::new(store));
    rt.block_on(async {
        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::Executor::execute(
            &mut conn,
            format!("DROP SCHEMA \"{schema}\" CASCADE").as_str(),
        )
        .await
        .unwrap();
    });
}

#[cfg(not(feature = "postgres"))]
fn postgres(_c: &mut Criterion, _rt: &tokio::runtime::Runtime) {
    eprintln!("built without the `postgres` feature: skipping PostgreSQL");
}

criterion_group!(benches, bench);
criterion_main!(benches);
