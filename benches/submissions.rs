//! Durable submissions per second through `Submitter::submit` (re-check, validation, two
//! Ed25519 signatures, one atomic store commit), generic over `Arc<dyn Store>`.
//!
//! Always runs on `MemoryStore`. Set `WARDGATE_BENCH_DATABASE_URL` to one or more store URLs
//! (space-separated, e.g. `sqlite:///tmp/bench.db postgres://…`) to run the same harness on the
//! durable stores, opened with `wardgate::store::open` (built with the `sqlite` / `postgres`
//! features).
//!
//! The limit it is compared with: ring's two Ed25519 signatures alone
//! (`submit/ring_two_ed25519_signatures`).
//!
//! Run: `cargo bench --all-features --bench submissions`

#![allow(missing_docs, reason = "benchmark binary")]
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark setup")]
#![allow(
    unexpected_cfgs,
    reason = "the `sqlite` and `postgres` features are declared by the SQL store change"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wardgate::assurance::{Assurance, Level, SourceKind};
use wardgate::clock::{FixedClock, SystemRandom};
use wardgate::fallback::WardCode;
use wardgate::keys::SigningKey;
use wardgate::policy::{Catalog, Procedure};
use wardgate::pseudonym::Pseudonymizer;
use wardgate::store::{MemoryStore, Store};
use wardgate::submission::{DossierSealer, IdempotencyKey, SubmissionRequest, Submitter};

/// Unique idempotency keys across runs on one store.
static NEXT_KEY: AtomicU64 = AtomicU64::new(0);

fn procedure() -> &'static Procedure {
    static CATALOG: std::sync::OnceLock<Catalog> = std::sync::OnceLock::new();
    CATALOG
        .get_or_init(|| {
            Catalog::load(concat!(env!("CARGO_MANIFEST_DIR"), "/samples/catalog.toml")).unwrap()
        })
        .procedure("1.001193")
        .unwrap()
}

/// Submits `n` distinct dossiers from `concurrency` concurrent residents and returns the
/// elapsed time; every submission is durable (committed) when its receipt is returned.
pub async fn submit_many(store: Arc<dyn Store>, n: u64, concurrency: u64) -> Duration {
    let now = Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).single().unwrap();
    let random = Arc::new(SystemRandom::new());
    let key = Arc::new(SigningKey::generate(random.as_ref()).unwrap().0);
    let sealer = Arc::new(DossierSealer::from_bytes(&[3u8; 32], random.clone()).unwrap());
    let submitter = Arc::new(Submitter::new(
        store,
        key,
        sealer,
        Arc::new(FixedClock::new(now)),
        random,
    ));
    let pseudonymizer = Pseudonymizer::new(&[7u8; 32]).unwrap();
    let issuer = "https://sso.dichvucong.gov.vn";
    let assurance = Arc::new(Assurance::new(
        Some(Level::Two),
        issuer,
        SourceKind::UserinfoClaim,
        Some(now),
    ));
    let ward = WardCode::parse("30316").unwrap();
    let concurrency = concurrency.max(1);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let share = n / concurrency + u64::from(worker < n % concurrency);
        let submitter = Arc::clone(&submitter);
        let assurance = Arc::clone(&assurance);
        let subject = pseudonymizer.subject(issuer, &format!("resident-{worker}"));
        tasks.push(tokio::spawn(async move {
            for _ in 0..share {
                let key = NEXT_KEY.fetch_add(1, Ordering::Relaxed);
                let request = SubmissionRequest {
                    procedure: procedure(),
                    assurance: &assurance,
                    subject: &subject,
                    ward,
                    dossier: procedure().example(),
                    idempotency_key: IdempotencyKey::parse(&format!("bench-{key}")).unwrap(),
                    draft: None,
                    attachments: Vec::new(),
                    assisted_by: None,
                };
                let submitted = submitter.submit(request).await.unwrap();
                assert!(!submitted.replayed);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    start.elapsed()
}

/// Durable submissions per second on `store`: `n` dossiers from `concurrency` residents.
pub async fn submissions_per_second(store: Arc<dyn Store>, n: u64, concurrency: u64) -> f64 {
    let elapsed = submit_many(store, n, concurrency).await;
    n as f64 / elapsed.as_secs_f64()
}

/// The stores to measure: memory, plus those named in `WARDGATE_BENCH_DATABASE_URL`.
fn stores(rt: &tokio::runtime::Runtime) -> Vec<(String, Arc<dyn Store>)> {
    let mut stores: Vec<(String, Arc<dyn Store>)> =
        vec![("memory".into(), Arc::new(MemoryStore::new()))];
    let urls = std::env::var("WARDGATE_BENCH_DATABASE_URL").unwrap_or_default();
    for url in urls.split_whitespace() {
        let name = url.split(':').next().unwrap_or("store").to_owned();
        match open(rt, url) {
            Some(store) => stores.push((name, store)),
            None => eprintln!("skipping `{name}`: this build has no SQL store; use --all-features"),
        }
    }
    stores
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
fn open(rt: &tokio::runtime::Runtime, url: &str) -> Option<Arc<dyn Store>> {
    Some(rt.block_on(wardgate::store::open(url)).unwrap())
}

#[cfg(not(any(feature = "sqlite", feature = "postgres")))]
fn open(_rt: &tokio::runtime::Runtime, _url: &str) -> Option<Arc<dyn Store>> {
    None
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("submit");
    group.throughput(Throughput::Elements(1));
    for (name, store) in stores(&rt) {
        for concurrency in [1, 16] {
            group.bench_function(format!("{name}/concurrency_{concurrency}"), |b| {
                b.iter_custom(|iters| {
                    rt.block_on(submit_many(Arc::clone(&store), iters, concurrency))
                });
            });
        }
        let rate = rt.block_on(submissions_per_second(Arc::clone(&store), 2000, 16));
        println!("{name}: {rate:.0} durable submissions per second (2000 dossiers, 16 residents)");
    }
    group.finish();

    // The limit: the two Ed25519 signatures every submission makes (receipt and hand-off
    // envelope), with ring alone, over messages of a receipt's size.
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let pair = ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    let message = vec![b'r'; 600];
    c.bench_function("submit/ring_two_ed25519_signatures", |b| {
        b.iter(|| {
            let receipt = pair.sign(std::hint::black_box(&message));
            let envelope = pair.sign(std::hint::black_box(&message));
            std::hint::black_box((receipt, envelope));
        });
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
