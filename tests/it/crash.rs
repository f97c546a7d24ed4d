//! Crash safety, shared by the SQLite and PostgreSQL tests: the test binary runs itself as a
//! child that files dossiers through the [`Submitter`] from 16 residents at once and prints
//! each receipt as soon as it has it; the parent kills the child with SIGKILL mid-stream, opens
//! the store again (a restart) and checks that every receipted dossier is there, exactly as
//! receipted, and that nothing is duplicated, also when the residents retry the requests the
//! crash interrupted.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::Utc;
use pretty_assertions::assert_eq;
use tokio::io::AsyncBufReadExt as _;
use wardgate::assurance::{Assurance, Level, SourceKind};
use wardgate::audit::AuditEvent;
use wardgate::clock::{Random, SystemRandom};
use wardgate::fallback::WardCode;
use wardgate::keys::SigningKey;
use wardgate::policy::{Catalog, Procedure};
use wardgate::pseudonym::{Pseudonymizer, SubjectPseudonym};
use wardgate::store::Store;
use wardgate::submission::{
    DossierCode, DossierSealer, IdempotencyKey, SubmissionRequest, Submitter,
};

/// Set in the child process: which store it files into ([`Target::encode`]).
const CHILD: &str = "WARDGATE_TEST_CRASH_CHILD";
/// Residents filing at once, each from a task of its own.
const RESIDENTS: usize = 16;
/// Receipts the parent waits for before it kills the child.
const KILL_AFTER: usize = 400;
const ISSUER: &str = "https://sso.example.vn";

/// The store a crash test runs against.
#[derive(Clone, Debug)]
pub(crate) enum Target {
    /// An SQLite file.
    Sqlite(String),
    /// A PostgreSQL schema in the database `WARDGATE_TEST_DATABASE_URL` names.
    Postgres(String),
}

impl Target {
    fn encode(&self) -> String {
        match self {
            Self::Sqlite(path) => format!("sqlite:{path}"),
            Self::Postgres(schema) => format!("postgres:{schema}"),
        }
    }

    fn decode(text: &str) -> Self {
        match text.split_once(':') {
            Some(("sqlite", path)) => Self::Sqlite(path.to_owned()),
            Some(("postgres", schema)) => Self::Postgres(schema.to_owned()),
            _ => panic!("bad {CHILD}: {text}"),
        }
    }

    /// Opens the store (migrating it on first use), as a gateway process does at start.
    pub(crate) async fn open(&self) -> Arc<dyn Store> {
        match self {
            Self::Sqlite(path) => Arc::new(wardgate::store::SqliteStore::open(path).await.unwrap()),
            Self::Postgres(schema) => {
                let url = std::env::var("WARDGATE_TEST_DATABASE_URL")
                    .expect("WARDGATE_TEST_DATABASE_URL is set for PostgreSQL crash tests");
                let options = wardgate::store::PgOptions::default()
                    .max_connections(8)
                    .schema(schema.clone());
                Arc::new(
                    wardgate::store::PgStore::connect_with(&url, options)
                        .await
                        .unwrap(),
                )
            }
        }
    }
}

/// The child's side, when this process is the child: files until killed. Call first thing in
/// the test; `true` means the test is the child and must return.
pub(crate) async fn run_child_if_asked() -> bool {
    let Ok(target) = std::env::var(CHILD) else {
        return false;
    };
    child(Target::decode(&target)).await;
    true
}

fn procedure() -> &'static Procedure {
    static CATALOG: std::sync::OnceLock<Catalog> = std::sync::OnceLock::new();
    CATALOG
        .get_or_init(|| {
            Catalog::load(concat!(env!("CARGO_MANIFEST_DIR"), "/samples/catalog.toml")).unwrap()
        })
        .procedure("1.001193")
        .unwrap()
}

fn resident(n: usize) -> SubjectPseudonym {
    Pseudonymizer::new(&[9u8; 32])
        .unwrap()
        .subject(ISSUER, &format!("crash-resident-{n}"))
}

fn key(n: usize) -> IdempotencyKey {
    IdempotencyKey::parse(&format!("crash-{n}")).unwrap()
}

/// A submitter on `store`, as a gateway process builds it (a fresh signing key each start is
/// fine: stored receipts are returned as stored).
fn submitter(store: &Arc<dyn Store>) -> Submitter {
    let random: Arc<dyn Random> = Arc::new(SystemRandom::new());
    let signing = Arc::new(SigningKey::generate(random.as_ref()).unwrap().0);
    let sealer = Arc::new(DossierSealer::from_bytes(&[5u8; 32], Arc::clone(&random)).unwrap());
    Submitter::new(
        Arc::clone(store),
        signing,
        sealer,
        Arc::new(wardgate::SystemClock),
        random,
    )
}

fn assurance() -> Assurance {
    Assurance::new(
        Some(Level::Two),
        ISSUER,
        SourceKind::UserinfoClaim,
        Some(Utc::now()),
    )
}

async fn file(
    submitter: &Submitter,
    assurance: &Assurance,
    subject: &SubjectPseudonym,
    n: usize,
) -> wardgate::submission::Submitted {
    let request = SubmissionRequest {
        procedure: procedure(),
        assurance,
        subject,
        ward: WardCode::parse("30316").unwrap(),
        dossier: procedure().example(),
        idempotency_key: key(n),
        draft: None,
        attachments: Vec::new(),
        assisted_by: None,
    };
    submitter.submit(request).await.unwrap()
}

async fn child(target: Target) {
    use std::io::Write as _;

    let store = target.open().await;
    let submitter = Arc::new(submitter(&store));
    let assurance = Arc::new(assurance());
    let mut tasks = Vec::new();
    for who in 0..RESIDENTS {
        let submitter = Arc::clone(&submitter);
        let assurance = Arc::clone(&assurance);
        tasks.push(tokio::spawn(async move {
            let subject = resident(who);
            // Bounded: the parent kills the child long before.
            for n in 0..2_000 {
                let submitted = file(&submitter, &assurance, &subject, n).await;
                let mut out = std::io::stdout().lock();
                writeln!(
                    out,
                    "RECEIPT {who} {n} {} {}",
                    submitted.receipt.dossier_code,
                    submitted.receipt.jws()
                )
                .unwrap();
                out.flush().unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

/// One receipt the child printed.
struct Receipted {
    who: usize,
    n: usize,
    code: DossierCode,
    jws: String,
}

fn parse_receipt(line: &str) -> Option<Receipted> {
    let mut parts = line.strip_prefix("RECEIPT ")?.split(' ');
    Some(Receipted {
        who: parts.next()?.parse().ok()?,
        n: parts.next()?.parse().ok()?,
        code: DossierCode::parse(parts.next()?).ok()?,
        jws: parts.next()?.to_owned(),
    })
}

/// The parent's side: `test` is the test's full name (the child runs just that test).
pub(crate) async fn kill_mid_stream_and_check(test: &str, target: Target) {
    // Migrate first, so the child starts filing at once.
    drop(target.open().await);
    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args([
            test,
            "--exact",
            "--nocapture",
            "--include-ignored",
            "--test-threads=1",
        ])
        .env(CHILD, target.encode())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut receipted = Vec::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(90);
    while receipted.len() < KILL_AFTER {
        let line = tokio::time::timeout_at(deadline, lines.next_line())
            .await
            .expect("the child receipts {KILL_AFTER} dossiers within 90 s")
            .unwrap()
            .expect("the child keeps filing until killed");
        receipted.extend(parse_receipt(&line));
    }
    // SIGKILL: no destructor, no flush, no graceful shutdown.
    child.start_kill().unwrap();
    let status = child.wait().await.unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9),
        "the child was killed mid-stream, not finished: {status}"
    );
    // Receipts printed before the kill and not read yet count too.
    while let Ok(Some(line)) = lines.next_line().await {
        receipted.extend(parse_receipt(&line));
    }
    assert!(receipted.len() >= KILL_AFTER);

    // The restart: the store opened again, a new submitter on it.
    let store = target.open().await;
    for r in &receipted {
        let stored = store
            .submission(&r.code)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("lost receipted dossier {}", r.code));
        assert_eq!(stored.receipt, r.jws, "the stored receipt of {}", r.code);
        assert_eq!(stored.subject, resident(r.who));
        assert_eq!(stored.idempotency_key, key(r.n));
        assert!(
            store.outbox_entry(&r.code).await.unwrap().is_some(),
            "lost the hand-off of {}",
            r.code
        );
    }

    // Every resident retries, with the same keys, everything up to the request the crash cut
    // off (which may or may not have been committed): the receipted ones are replays with the
    // same dossier, the cut-off one is filed at most once.
    let mut filed_last: BTreeMap<usize, usize> = BTreeMap::new();
    for r in &receipted {
        let last = filed_last.entry(r.who).or_default();
        *last = (*last).max(r.n);
    }
    let by_key: BTreeMap<(usize, usize), DossierCode> =
        receipted.iter().map(|r| ((r.who, r.n), r.code)).collect();
    let submitter = submitter(&store);
    let assurance = assurance();
    let mut expected = BTreeSet::new();
    for who in 0..RESIDENTS {
        let subject = resident(who);
        let upto = filed_last.get(&who).map_or(0, |last| last + 1);
        for n in 0..=upto {
            let again = file(&submitter, &assurance, &subject, n).await;
            if let Some(code) = by_key.get(&(who, n)) {
                assert!(again.replayed, "resident {who} key {n} filed twice");
                assert_eq!(again.receipt.dossier_code, *code);
            }
            let replay = file(&submitter, &assurance, &subject, n).await;
            assert!(replay.replayed);
            assert_eq!(replay.receipt.dossier_code, again.receipt.dossier_code);
            expected.insert(again.receipt.dossier_code);
        }
    }

    // None duplicated: one audit record per dossier, and the dossiers in the audit are exactly
    // the ones the residents hold receipts for.
    let audit = store.audit_range(1, 1_000_000).await.unwrap();
    wardgate::audit::verify_chain(&audit).unwrap();
    let mut filed = Vec::new();
    for record in &audit {
        if let AuditEvent::Submission(s) = &record.event {
            filed.push(s.dossier_code);
        }
    }
    let distinct: BTreeSet<DossierCode> = filed.iter().copied().collect();
    assert_eq!(distinct.len(), filed.len(), "a dossier was recorded twice");
    assert_eq!(distinct, expected, "dossiers filed without a receipt");
}
