//! The outbox against a faulty back office over real HTTP on loopback: down (closed port, then
//! 503), slow after committing (our request times out, the dossier is in), slow before
//! committing (our retry meets 409 "still processing"), dropping the connection after
//! committing, and the gateway dying mid-delivery. The back office dedups on the
//! `Idempotency-Key` header, as the outbox's contract asks; the test checks that the outbox
//! keeps every dossier, delivers each one, always with the same key and the same envelope, so
//! that each key takes effect exactly once.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, TimeZone as _, Utc};
use pretty_assertions::assert_eq;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use wardgate::Clock as _;
use wardgate::assurance::{Assurance, Level, SourceKind};
use wardgate::clock::{FixedClock, Random, SystemRandom};
use wardgate::fallback::WardCode;
use wardgate::keys::SigningKey;
use wardgate::oidc::{HttpClient, ReqwestHttp};
use wardgate::policy::{Catalog, Procedure};
use wardgate::pseudonym::Pseudonymizer;
use wardgate::store::{MemoryStore, OutboxStatus, SqliteStore, Store};
use wardgate::submission::{
    DossierCode, DossierSealer, Handoff, IdempotencyKey, Outbox, SubmissionRequest, Submitter,
};

use crate::support::store::TempDir;

/// The outbox's whole-request timeout in these tests.
const TIMEOUT: StdDuration = StdDuration::from_millis(400);
/// How long a slow back office takes to answer after committing: well past the timeout.
const SLOW: StdDuration = StdDuration::from_millis(1_200);

/// What the back office does with the first request of a key (later ones are answered
/// normally).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    /// Commits, then answers after [`SLOW`]: the outbox has timed out by then.
    AnswerLate,
    /// Works until the test lets it finish, then commits; a retry meanwhile gets 409.
    StillProcessing,
    /// Commits, then closes the connection without answering.
    DropAnswer,
    /// Commits, then holds the answer until released (the gateway dies meanwhile).
    HoldAnswer,
}

/// The back office's books.
#[derive(Debug, Default)]
struct Ledger {
    /// Every request: its `Idempotency-Key` and body.
    requests: Vec<(String, Vec<u8>)>,
    /// How many times each key took effect (a dossier entered the back office's system).
    effects: BTreeMap<String, u32>,
    /// Keys being processed right now.
    in_progress: BTreeSet<String>,
    /// The fault each key meets on its first request.
    faults: BTreeMap<String, VecDeque<Fault>>,
    /// Answer 503 to everything.
    unavailable: bool,
}

/// A fake back office on 127.0.0.1: one request per connection, HTTP/1.1, deduplicating by
/// `Idempotency-Key` (a key it has seen is answered 200 without taking effect again; a key it
/// is still processing is answered 409, as the IETF draft says).
struct BackOffice {
    held: Arc<tokio::sync::Notify>,
    release: Arc<tokio::sync::Notify>,
    finish: Arc<tokio::sync::Notify>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for BackOffice {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl BackOffice {
    async fn start(addr: SocketAddr, ledger: Arc<Mutex<Ledger>>) -> Self {
        let listener = TcpListener::bind(addr).await.unwrap();
        let held = Arc::new(tokio::sync::Notify::new());
        let release = Arc::new(tokio::sync::Notify::new());
        let finish = Arc::new(tokio::sync::Notify::new());
        let (l, h, r, f) = (
            Arc::clone(&ledger),
            Arc::clone(&held),
            Arc::clone(&release),
            Arc::clone(&finish),
        );
        let server = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let signals = Signals {
                    held: Arc::clone(&h),
                    release: Arc::clone(&r),
                    finish: Arc::clone(&f),
                };
                let l = Arc::clone(&l);
                tokio::spawn(async move {
                    // Bounded: nothing here waits longer than this.
                    let _ =
                        tokio::time::timeout(StdDuration::from_secs(30), serve(stream, l, signals))
                            .await;
                });
            }
        });
        Self {
            held,
            release,
            finish,
            server,
        }
    }
}

/// How the test steers a request the back office is holding.
struct Signals {
    /// Notified when a request is held after committing.
    held: Arc<tokio::sync::Notify>,
    /// Lets held requests answer.
    release: Arc<tokio::sync::Notify>,
    /// Lets slow requests commit and answer.
    finish: Arc<tokio::sync::Notify>,
}

async fn serve(mut stream: TcpStream, ledger: Arc<Mutex<Ledger>>, signals: Signals) {
    let Some((key, body)) = read_request(&mut stream).await else {
        return;
    };
    let (status, fault) = {
        let mut ledger = ledger.lock().unwrap();
        ledger.requests.push((key.clone(), body));
        if ledger.unavailable {
            (503, None)
        } else if ledger.in_progress.contains(&key) {
            (409, None)
        } else if ledger.effects.contains_key(&key) {
            (200, None)
        } else {
            let fault = ledger.faults.get_mut(&key).and_then(VecDeque::pop_front);
            if fault == Some(Fault::StillProcessing) {
                ledger.in_progress.insert(key.clone());
            } else {
                *ledger.effects.entry(key.clone()).or_default() += 1;
            }
            (201, fault)
        }
    };
    match fault {
        None => {}
        Some(Fault::AnswerLate) => tokio::time::sleep(SLOW).await,
        Some(Fault::StillProcessing) => {
            signals.finish.notified().await;
            let mut ledger = ledger.lock().unwrap();
            ledger.in_progress.remove(&key);
            *ledger.effects.entry(key.clone()).or_default() += 1;
        }
        Some(Fault::DropAnswer) => return,
        Some(Fault::HoldAnswer) => {
            signals.held.notify_one();
            signals.release.notified().await;
        }
    }
    let reason = match status {
        200 => "OK",
        201 => "Created",
        409 => "Conflict",
        _ => "Service Unavailable",
    };
    let answer =
        format!("HTTP/1.1 {status} {reason}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    let _ = stream.write_all(answer.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Reads one request; returns its `Idempotency-Key` and body.
async fn read_request(stream: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 || buf.len() > 64 * 1024 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let header = |name: &str| {
        head.lines().find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    };
    assert!(head.starts_with("POST /dossiers HTTP/1.1\r\n"), "{head}");
    let length: usize = header("content-length")?.parse().ok()?;
    let key = header("idempotency-key")?;
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some((key, buf[head_end..head_end + length].to_vec()))
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).unwrap()
}

fn birth() -> &'static Procedure {
    static CATALOG: std::sync::OnceLock<Catalog> = std::sync::OnceLock::new();
    CATALOG
        .get_or_init(|| {
            Catalog::load(concat!(env!("CARGO_MANIFEST_DIR"), "/samples/catalog.toml")).unwrap()
        })
        .procedure("1.001193")
        .unwrap()
}

/// A gateway's submission side and outbox on one store.
struct Gateway {
    store: Arc<dyn Store>,
    clock: Arc<FixedClock>,
    key: Arc<SigningKey>,
    sealer: Arc<DossierSealer>,
    random: Arc<dyn Random>,
}

impl Gateway {
    fn new(store: Arc<dyn Store>, clock: Arc<FixedClock>, key: Arc<SigningKey>) -> Self {
        let random: Arc<dyn Random> = Arc::new(SystemRandom::new());
        let sealer = Arc::new(DossierSealer::from_bytes(&[5u8; 32], Arc::clone(&random)).unwrap());
        Self {
            store,
            clock,
            key,
            sealer,
            random,
        }
    }

    async fn file(&self, n: usize) -> DossierCode {
        let submitter = Submitter::new(
            Arc::clone(&self.store),
            Arc::clone(&self.key),
            Arc::clone(&self.sealer),
            Arc::clone(&self.clock) as Arc<dyn wardgate::Clock>,
            Arc::clone(&self.random),
        );
        let subject = Pseudonymizer::new(&[9u8; 32])
            .unwrap()
            .subject("https://sso.example.vn", &format!("resident-{n}"));
        let assurance = Assurance::new(
            Some(Level::Two),
            "https://sso.example.vn",
            SourceKind::UserinfoClaim,
            Some(self.clock.now()),
        );
        let submitted = submitter
            .submit(SubmissionRequest {
                procedure: birth(),
                assurance: &assurance,
                subject: &subject,
                ward: WardCode::parse("30316").unwrap(),
                dossier: birth().example(),
                idempotency_key: IdempotencyKey::parse("k-1").unwrap(),
                draft: None,
                attachments: Vec::new(),
                assisted_by: None,
            })
            .await
            .unwrap();
        assert!(!submitted.replayed);
        submitted.receipt.dossier_code
    }

    fn outbox(&self, addr: SocketAddr) -> Outbox {
        let http: Arc<dyn HttpClient> =
            Arc::new(ReqwestHttp::with_limits(TIMEOUT, TIMEOUT, 64 * 1024).unwrap());
        Outbox::new(
            Arc::clone(&self.store),
            http,
            format!("http://{addr}/dossiers").parse().unwrap(),
            Arc::clone(&self.sealer),
            Arc::clone(&self.clock) as Arc<dyn wardgate::Clock>,
            Arc::clone(&self.random),
        )
    }

    async fn status(&self, code: &DossierCode) -> OutboxStatus {
        self.store.outbox_entry(code).await.unwrap().unwrap().status
    }
}

/// A loopback address nothing listens on (a port bound, then closed).
async fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    addr
}

/// One outbox round two hours later (past any backoff); returns (delivered, retried, parked).
async fn round(gateway: &Gateway, outbox: &Outbox) -> (u32, u32, u32) {
    gateway.clock.advance(Duration::hours(2));
    let report = outbox.run_once(gateway.clock.now()).await.unwrap();
    (report.delivered, report.retried, report.parked)
}

/// The whole scenario on the store that `reopen` opens (again, after a crash).
async fn back_office_faults_deliver_each_key_once<F, Fut>(reopen: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<dyn Store>>,
{
    let clock = Arc::new(FixedClock::new(t0()));
    let random = SystemRandom::new();
    let key = Arc::new(SigningKey::generate(&random).unwrap().0);
    let gateway = Gateway::new(reopen().await, Arc::clone(&clock), Arc::clone(&key));
    let addr = closed_port().await;
    let ledger = Arc::new(Mutex::new(Ledger::default()));

    // The back office is down: every submission is receipted anyway, and kept.
    let mut codes = Vec::new();
    for n in 0..12 {
        codes.push(gateway.file(n).await);
    }
    let outbox = gateway.outbox(addr);
    let report = outbox.run_once(clock.now()).await.unwrap();
    assert_eq!(
        (report.delivered, report.retried, report.parked),
        (0, 12, 0)
    );
    for code in &codes {
        let entry = gateway.store.outbox_entry(code).await.unwrap().unwrap();
        assert_eq!(entry.status, OutboxStatus::Pending);
        assert_eq!(entry.last_error.as_deref(), Some("connection failed"));
    }

    // It answers, but 503.
    ledger.lock().unwrap().unavailable = true;
    let office = BackOffice::start(addr, Arc::clone(&ledger)).await;
    clock.advance(Duration::hours(2));
    let report = outbox.run_once(clock.now()).await.unwrap();
    assert_eq!(
        (report.delivered, report.retried, report.parked),
        (0, 12, 0)
    );
    assert_eq!(
        gateway
            .store
            .outbox_entry(&codes[0])
            .await
            .unwrap()
            .unwrap()
            .last_error
            .as_deref(),
        Some("http status 503")
    );

    // It comes back, with faults that leave the outbox unsure whether a dossier got in.
    {
        let mut ledger = ledger.lock().unwrap();
        ledger.unavailable = false;
        let plan = [Fault::AnswerLate, Fault::StillProcessing, Fault::DropAnswer];
        for (i, code) in codes.iter().take(9).enumerate() {
            ledger
                .faults
                .insert(code.as_str().to_owned(), VecDeque::from([plan[i % 3]]));
        }
    }
    // Dossiers 9 to 11 get in; 0 to 8 time out or lose the answer, though 0, 2, 3, 5, 6 and 8
    // got in, and 1, 4 and 7 are being processed.
    assert_eq!(round(&gateway, &outbox).await, (3, 9, 0));
    // Retried with the same keys: the committed ones are answered 200 (deduplicated), the ones
    // still being processed 409, which is retried, not parked.
    assert_eq!(round(&gateway, &outbox).await, (6, 3, 0));
    assert_eq!(ledger.lock().unwrap().in_progress.len(), 3);
    office.finish.notify_waiters();
    for _ in 0..100 {
        if ledger.lock().unwrap().in_progress.is_empty() {
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    }
    assert_eq!(round(&gateway, &outbox).await, (3, 0, 0));
    for code in &codes {
        assert_eq!(gateway.status(code).await, OutboxStatus::Delivered);
    }

    // The gateway dies mid-delivery: a round is cut off while the back office has committed
    // the round's first dossier and not answered yet.
    let mut late = Vec::new();
    for n in 12..16 {
        late.push(gateway.file(n).await);
    }
    for code in &late {
        ledger.lock().unwrap().faults.insert(
            code.as_str().to_owned(),
            VecDeque::from([Fault::HoldAnswer]),
        );
    }
    clock.advance(Duration::hours(2));
    let dying_outbox = Arc::new(gateway.outbox(addr).lease(Duration::minutes(5)));
    let round = {
        let (outbox, now) = (Arc::clone(&dying_outbox), clock.now());
        tokio::spawn(async move { outbox.run_once(now).await })
    };
    tokio::time::timeout(StdDuration::from_secs(10), office.held.notified())
        .await
        .expect("the back office received a late dossier");
    round.abort();
    assert!(round.await.unwrap_err().is_cancelled());
    office.release.notify_waiters();
    drop(dying_outbox);
    drop(gateway);
    // The dossier in flight: the back office's last request, committed but not answered. The
    // others were claimed by the dead round, not sent; they meet no fault when they are.
    let in_flight = {
        let mut ledger = ledger.lock().unwrap();
        let (key, _) = ledger.requests.last().unwrap();
        let in_flight = late.iter().position(|c| c.as_str() == key).unwrap();
        ledger.faults.clear();
        in_flight
    };

    // Restarted: the store opened again, a new outbox. Under the dead round's lease nothing is
    // sent; after it, everything is, the one in flight again with the same key.
    let gateway = Gateway::new(reopen().await, Arc::clone(&clock), key);
    for code in &late {
        assert_eq!(gateway.status(code).await, OutboxStatus::Pending);
    }
    let outbox = gateway.outbox(addr);
    let sent_before = ledger.lock().unwrap().requests.len();
    let report = outbox
        .run_once(clock.now() + Duration::minutes(4))
        .await
        .unwrap();
    assert_eq!((report.delivered, report.retried), (0, 0));
    assert_eq!(ledger.lock().unwrap().requests.len(), sent_before);
    clock.advance(Duration::minutes(5));
    let report = outbox.run_once(clock.now()).await.unwrap();
    assert_eq!((report.delivered, report.retried, report.parked), (4, 0, 0));
    codes.extend(late.iter().copied());
    for code in &codes {
        assert_eq!(gateway.status(code).await, OutboxStatus::Delivered);
    }
    // Nothing more is ever sent.
    let sent = ledger.lock().unwrap().requests.len();
    clock.advance(Duration::days(2));
    outbox.run_once(clock.now()).await.unwrap();
    assert_eq!(ledger.lock().unwrap().requests.len(), sent);
    drop(office);

    // The back office's view: each dossier's key took effect exactly once; every attempt of a
    // key carried the same envelope, signed by the gateway, naming that very dossier.
    let ledger = ledger.lock().unwrap();
    let expected: BTreeMap<String, u32> =
        codes.iter().map(|c| (c.as_str().to_owned(), 1)).collect();
    assert_eq!(ledger.effects, expected);
    let mut attempts: BTreeMap<&str, Vec<&[u8]>> = BTreeMap::new();
    for (key, body) in &ledger.requests {
        attempts.entry(key).or_default().push(body);
    }
    assert_eq!(attempts.len(), codes.len(), "requests under unknown keys");
    for (key, bodies) in &attempts {
        assert!(
            bodies.iter().all(|b| b == &bodies[0]),
            "{key}: envelopes differ"
        );
        let body: serde_json::Value = serde_json::from_slice(bodies[0]).unwrap();
        let handoff = Handoff::verify(
            body["envelope"].as_str().unwrap(),
            &[gateway.key.verifying_key()],
        )
        .unwrap();
        assert_eq!(handoff.dossier_code.as_str(), *key);
    }
    // What the back office saw of each key: 503, then the fault, then the retry answered 200
    // (a 409 first when it was still processing); the dossiers that met no fault, 503 then 201;
    // the one in flight when the gateway died, the held attempt and the retry after restart.
    let seen = |code: &DossierCode| attempts[code.as_str()].len();
    for (i, code) in codes[..9].iter().enumerate() {
        let expected = if i % 3 == 1 { 4 } else { 3 };
        assert_eq!(seen(code), expected, "dossier {i}");
    }
    for code in &codes[9..12] {
        assert_eq!(seen(code), 2);
    }
    for (i, code) in codes[12..].iter().enumerate() {
        assert_eq!(seen(code), if i == in_flight { 2 } else { 1 }, "late {i}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn back_office_faults_on_memory() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    // A restart keeps the same memory store (only the outbox and the submitter restart).
    back_office_faults_deliver_each_key_once(|| {
        let store = Arc::clone(&store);
        async move { store }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn back_office_faults_on_sqlite() {
    let dir = TempDir::new("outbox-faults");
    let path = dir.file("wardgate.db");
    back_office_faults_deliver_each_key_once(|| {
        let path = path.clone();
        async move { Arc::new(SqliteStore::open(&path).await.unwrap()) as Arc<dyn Store> }
    })
    .await;
}
