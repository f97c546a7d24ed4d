//! Submission, receipt and outbox tests.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, TimeZone, Utc};
use pretty_assertions::assert_eq;
use serde_json::json;

use super::*;
use crate::assurance::{Level, SourceKind};
use crate::audit::verify_chain;
use crate::clock::{FixedClock, RandomError};
use crate::keys::{JwsError, VerifyingKey};
use crate::oidc::{HttpClient, HttpError};
use crate::policy::{Catalog, FieldProblem, ReasonCode};
use crate::store::{Draft, MemoryStore, OutboxStatus};

#[derive(Debug)]
struct TestRandom(AtomicU64);

impl TestRandom {
    fn new(seed: u64) -> Self {
        Self(AtomicU64::new(seed.max(1)))
    }
}

impl Random for TestRandom {
    fn fill(&self, dest: &mut [u8]) -> Result<(), RandomError> {
        for b in dest {
            let mut x = self.0.load(Ordering::Relaxed);
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0.store(x, Ordering::Relaxed);
            *b = (x >> 24) as u8;
        }
        Ok(())
    }
}

fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| {
        Catalog::load(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("samples/catalog.toml"))
            .unwrap()
    })
}

fn birth() -> &'static Procedure {
    catalog().procedure("1.001193").unwrap()
}

/// Monday 2 March 2026, 09:00 in Vietnam.
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).single().unwrap()
}

fn ward() -> WardCode {
    WardCode::parse("30316").unwrap()
}

fn subject() -> SubjectPseudonym {
    crate::pseudonym::Pseudonymizer::new(&[9u8; 32])
        .unwrap()
        .subject("https://sso.example.vn", "resident-1")
}

fn level2(auth_time: DateTime<Utc>) -> Assurance {
    Assurance::new(
        Some(Level::Two),
        "https://sso.example.vn",
        SourceKind::UserinfoClaim,
        Some(auth_time),
    )
    .with_acr(Some("urn:vn:eid:loa:2".into()))
}

struct Fixture {
    store: Arc<dyn Store>,
    key: Arc<SigningKey>,
    clock: Arc<FixedClock>,
    random: Arc<TestRandom>,
    sealer: Arc<DossierSealer>,
    submitter: Submitter,
}

fn fixture() -> Fixture {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let random = Arc::new(TestRandom::new(11));
    let key = Arc::new(SigningKey::generate(random.as_ref()).unwrap().0);
    let clock = Arc::new(FixedClock::new(t0()));
    let sealer = Arc::new(
        DossierSealer::from_bytes(&[5u8; 32], Arc::clone(&random) as Arc<dyn Random>).unwrap(),
    );
    let submitter = Submitter::new(
        Arc::clone(&store),
        Arc::clone(&key),
        Arc::clone(&sealer),
        Arc::clone(&clock) as Arc<dyn Clock>,
        Arc::clone(&random) as Arc<dyn Random>,
    );
    Fixture {
        store,
        key,
        clock,
        random,
        sealer,
        submitter,
    }
}

fn request<'a>(
    assurance: &'a Assurance,
    subject: &'a SubjectPseudonym,
    key: &str,
) -> SubmissionRequest<'a> {
    SubmissionRequest {
        procedure: birth(),
        assurance,
        subject,
        ward: ward(),
        dossier: birth().example(),
        idempotency_key: IdempotencyKey::parse(key).unwrap(),
        draft: None,
        attachments: Vec::new(),
        assisted_by: None,
    }
}

fn payload_of(jws: &str) -> serde_json::Value {
    let part = jws.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

// ---- submit ----

#[tokio::test]
async fn submit_commits_everything_before_returning_a_verifiable_receipt() {
    let f = fixture();
    let assurance = level2(t0() - Duration::minutes(5));
    let subject = subject();
    let draft = Draft::new(
        birth().code(),
        Some(ward()),
        json!({"child_name": "Nguyễn Thị Mai"}),
        t0(),
        Duration::days(14),
        f.random.as_ref(),
    )
    .unwrap();
    f.store.save_draft(&draft).await.unwrap();
    let mut req = request(&assurance, &subject, "key-1");
    req.draft = Some(draft.id.clone());

    let submitted = f.submitter.submit(req).await.unwrap();
    assert!(!submitted.replayed);
    let receipt = &submitted.receipt;
    let code = receipt.dossier_code;
    assert!(code.as_str().starts_with("30316-20260302-"), "{code}");
    assert_eq!(receipt.issued_at, t0());
    assert_eq!(receipt.procedure, birth().code());
    assert_eq!(receipt.ward, ward());
    assert_eq!(receipt.level, Level::Two);
    assert_eq!(receipt.assurance_source, SourceKind::UserinfoClaim);
    assert_eq!(
        receipt.payload_digest,
        PayloadDigest::of(&birth().example())
    );
    assert_eq!(receipt.kid, f.key.kid());
    assert_eq!(receipt.version, RECEIPT_VERSION);

    // The receipt's wire form.
    let payload = payload_of(receipt.jws());
    assert_eq!(
        payload,
        json!({
            "v": 1,
            "dossier_code": code.as_str(),
            "issued_at": "2026-03-02T02:00:00Z",
            "procedure": "1.001193",
            "ward": "30316",
            "level": 2,
            "assurance_source": "userinfo_claim",
            "payload_digest": PayloadDigest::of(&birth().example()).to_hex(),
            "kid": f.key.kid(),
        })
    );
    let verified = ReceiptVerifier::from_jwks(&f.key.jwks())
        .unwrap()
        .verify(receipt.jws())
        .unwrap();
    assert_eq!(&verified, receipt);

    // Durable: record, outbox entry, audit record; the draft is gone.
    let record = f.store.submission(&code).await.unwrap().unwrap();
    assert_eq!(
        f.sealer.open_dossier(code, &record.dossier).unwrap(),
        birth().example()
    );
    assert_eq!(record.subject, subject);
    assert_eq!(record.receipt, receipt.jws());
    let entry = f.store.outbox_entry(&code).await.unwrap().unwrap();
    assert_eq!(entry.status, OutboxStatus::Pending);
    assert_eq!(entry.next_attempt_at, t0());
    let audit = f.store.audit_range(1, 10).await.unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(
        audit[0].event,
        AuditEvent::Submission(SubmissionRecorded::new(
            code,
            birth().code(),
            ward(),
            Level::Two
        ))
    );
    assert_eq!(audit[0].subject.as_ref(), Some(&subject));
    verify_chain(&audit).unwrap();
    assert!(f.store.draft(&draft.id, t0()).await.unwrap().is_none());

    // The hand-off envelope: pseudonym, assurance, digest and dossier, verifiable.
    let envelope = f.sealer.open_handoff(code, &entry.envelope).unwrap();
    let handoff = Handoff::verify(&envelope, &[f.key.verifying_key()]).unwrap();
    assert_eq!(handoff.dossier_code, code);
    assert_eq!(handoff.subject, subject);
    assert_eq!(handoff.payload, birth().example());
    assert_eq!(handoff.payload_digest, receipt.payload_digest);
    assert_eq!(handoff.assurance.level, Level::Two);
    assert_eq!(handoff.assurance.issuer, "https://sso.example.vn");
    assert_eq!(handoff.assurance.acr.as_deref(), Some("urn:vn:eid:loa:2"));
    assert_eq!(
        handoff.assurance.auth_time,
        Some(t0() - Duration::minutes(5))
    );
    assert_eq!(handoff.assurance.source, SourceKind::UserinfoClaim);
    // A receipt is not an envelope and vice versa.
    assert!(matches!(
        Handoff::verify(receipt.jws(), &[f.key.verifying_key()]),
        Err(ReceiptError::Jws(JwsError::WrongType))
    ));
    assert!(matches!(
        ReceiptVerifier::from_jwks(&f.key.jwks())
            .unwrap()
            .verify(&envelope),
        Err(ReceiptError::Jws(JwsError::WrongType))
    ));
}

#[tokio::test]
async fn the_same_key_returns_the_same_receipt_and_never_a_second_dossier() {
    let f = fixture();
    let assurance = level2(t0());
    let subject = subject();
    let first = f
        .submitter
        .submit(request(&assurance, &subject, "key-1"))
        .await
        .unwrap();
    // Even after the login has aged past the maximum, a replay returns the stored receipt.
    f.clock.advance(Duration::hours(3));
    let again = f
        .submitter
        .submit(request(&assurance, &subject, "key-1"))
        .await
        .unwrap();
    assert!(again.replayed);
    assert_eq!(again.receipt, first.receipt);
    assert_eq!(again.receipt.jws(), first.receipt.jws());
    assert_eq!(f.store.audit_range(1, 10).await.unwrap().len(), 1);

    // Same key, another dossier: conflict naming the first dossier.
    let mut changed = request(&assurance, &subject, "key-1");
    changed.dossier["child_name"] = json!("Nguyễn Văn An");
    match f.submitter.submit(changed).await {
        Err(SubmitError::IdempotencyConflict { dossier_code }) => {
            assert_eq!(dossier_code, first.receipt.dossier_code);
        }
        other => panic!("{other:?}"),
    }
    // The same dossier with its keys in another order is the same dossier.
    let mut reordered = request(&assurance, &subject, "key-1");
    let mut map = serde_json::Map::new();
    let original = birth().example();
    for (k, v) in original.as_object().unwrap().iter().rev() {
        map.insert(k.clone(), v.clone());
    }
    reordered.dossier = serde_json::Value::Object(map);
    assert!(f.submitter.submit(reordered).await.unwrap().replayed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_submissions_with_one_key_create_one_dossier() {
    let f = Arc::new(fixture());
    let assurance = Arc::new(level2(t0()));
    let subject = Arc::new(subject());
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let f = Arc::clone(&f);
        let assurance = Arc::clone(&assurance);
        let subject = Arc::clone(&subject);
        tasks.push(tokio::spawn(async move {
            f.submitter
                .submit(request(&assurance, &subject, "double-click"))
                .await
                .unwrap()
        }));
    }
    let mut created = 0;
    let mut codes = std::collections::BTreeSet::new();
    for task in tasks {
        let submitted = task.await.unwrap();
        if !submitted.replayed {
            created += 1;
        }
        codes.insert(submitted.receipt.dossier_code);
    }
    assert_eq!(created, 1);
    assert_eq!(codes.len(), 1);
    assert_eq!(f.store.audit_range(1, 100).await.unwrap().len(), 1);
    let due = f
        .store
        .due_outbox(t0(), t0() + Duration::minutes(5), 100)
        .await
        .unwrap();
    assert_eq!(due.len(), 1);
}

#[tokio::test]
async fn level_and_age_are_checked_again_at_submission() {
    let f = fixture();
    let subject = subject();

    // A level-1 account: in person (403), signing in again cannot raise it.
    let account = Assurance::new(
        Some(Level::One),
        "https://sso.example.vn",
        SourceKind::UserinfoClaim,
        Some(t0()),
    );
    let error = f
        .submitter
        .submit(request(&account, &subject, "k"))
        .await
        .unwrap_err();
    match &error {
        SubmitError::Insufficient(decision) => {
            assert_eq!(decision.kind_str(), "in_person");
            assert_eq!(decision.reason(), ReasonCode::LevelBelowRequired);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(error.http_status(), http::StatusCode::FORBIDDEN);

    // A level-1 `acr` of one login: step-up (401).
    let level1 = Assurance::new(
        Some(Level::One),
        "https://sso.example.vn",
        SourceKind::IdTokenAcr,
        Some(t0()),
    );
    let error = f
        .submitter
        .submit(request(&level1, &subject, "k"))
        .await
        .unwrap_err();
    match &error {
        SubmitError::Insufficient(decision) => {
            assert_eq!(decision.kind_str(), "step_up");
            assert_eq!(decision.reason(), ReasonCode::LevelBelowRequired);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(error.http_status(), http::StatusCode::UNAUTHORIZED);

    // Level 2, but the login is 31 minutes old (the procedure allows 30): step-up.
    let old = level2(t0() - Duration::minutes(31));
    let error = f
        .submitter
        .submit(request(&old, &subject, "k"))
        .await
        .unwrap_err();
    match &error {
        SubmitError::Insufficient(decision) => {
            assert_eq!(decision.reason(), ReasonCode::AuthenticationTooOld);
        }
        other => panic!("{other:?}"),
    }
    // Exactly at the limit is still fine.
    let edge = level2(t0() - Duration::minutes(30));
    f.submitter
        .submit(request(&edge, &subject, "edge"))
        .await
        .unwrap();

    // A login that was fresh at sign-in but aged while the form was filled.
    let fresh = level2(t0());
    f.clock.advance(Duration::minutes(45));
    assert!(matches!(
        f.submitter.submit(request(&fresh, &subject, "late")).await,
        Err(SubmitError::Insufficient(_))
    ));

    // A procedure that needs presence: in person (403).
    let presence = catalog().procedure("2.000815").unwrap();
    let mut req = request(&fresh, &subject, "presence");
    req.procedure = presence;
    let error = f.submitter.submit(req).await.unwrap_err();
    match &error {
        SubmitError::Insufficient(decision) => {
            assert_eq!(decision.reason(), ReasonCode::PresenceRequired);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(error.http_status(), http::StatusCode::FORBIDDEN);
    // Nothing was stored by any refusal.
    assert_eq!(f.store.audit_range(1, 10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn an_invalid_dossier_is_refused_with_field_errors() {
    let f = fixture();
    let assurance = level2(t0());
    let subject = subject();
    let mut req = request(&assurance, &subject, "k");
    req.dossier["mother_citizen_id"] = json!("12345");
    req.dossier["extra"] = json!("x");
    let error = f.submitter.submit(req).await.unwrap_err();
    assert_eq!(error.http_status(), http::StatusCode::UNPROCESSABLE_ENTITY);
    let SubmitError::Invalid(fields) = error else {
        panic!("{error:?}")
    };
    let problems: Vec<_> = fields
        .iter()
        .map(|e| (e.field.as_str(), e.problem))
        .collect();
    assert!(problems.contains(&("mother_citizen_id", FieldProblem::InvalidCitizenId)));
    assert!(problems.contains(&("extra", FieldProblem::Unknown)));
    // The error message never echoes the dossier.
    let shown = SubmitError::Invalid(fields).to_string();
    assert!(!shown.contains("12345"), "{shown}");
    assert!(f.store.audit_range(1, 10).await.unwrap().is_empty());
}

#[test]
fn http_statuses_for_conflict_and_store_failures() {
    let code = DossierCode::parse("30316-20260302-7K4M9Q").unwrap();
    assert_eq!(
        SubmitError::IdempotencyConflict { dossier_code: code }.http_status(),
        http::StatusCode::CONFLICT
    );
    assert_eq!(
        SubmitError::Store(StoreError::Backend("down".into())).http_status(),
        http::StatusCode::SERVICE_UNAVAILABLE
    );
}

#[test]
fn debug_output_never_shows_the_dossier() {
    let assurance = level2(t0());
    let subject = subject();
    let mut req = request(&assurance, &subject, "k");
    req.dossier["child_name"] = json!("Trần Thị Bí Mật");
    let shown = format!("{req:?}");
    assert!(!shown.contains("Bí Mật"), "{shown}");
    assert!(shown.contains("[redacted]"));
    let record = SubmissionRecord::new(
        DossierCode::parse("30316-20260302-7K4M9Q").unwrap(),
        subject.clone(),
        IdempotencyKey::parse("k").unwrap(),
        birth().code(),
        ward(),
        req.dossier.clone(),
        Level::Two,
        SourceKind::UserinfoClaim,
        t0(),
        "a.b.c".into(),
    );
    let shown = format!("{record:?}");
    assert!(!shown.contains("Bí Mật"), "{shown}");
    let handoff = Handoff {
        v: 1,
        dossier_code: record.dossier_code,
        issued_at: t0(),
        procedure: birth().code(),
        ward: ward(),
        subject: subject.clone(),
        assurance: HandoffAssurance::new(&assurance, Level::Two),
        payload_digest: record.payload_digest,
        payload: record.dossier.clone(),
        channel: crate::audit::Channel::Online,
        officer: None,
        reception_point: None,
        assisted_by: None,
    };
    assert!(!format!("{handoff:?}").contains("Bí Mật"));
    let entry = OutboxEntry::pending(record.dossier_code, "secret.envelope.sig".into(), t0());
    assert!(!format!("{entry:?}").contains("secret.envelope"));
}

// ---- receipts ----

#[tokio::test]
async fn receipts_fail_verification_when_tampered_or_signed_by_another_key() {
    let f = fixture();
    let assurance = level2(t0());
    let subject = subject();
    let submitted = f
        .submitter
        .submit(request(&assurance, &subject, "k"))
        .await
        .unwrap();
    let jws = submitted.receipt.jws();
    let verifier = ReceiptVerifier::from_jwks(&f.key.jwks()).unwrap();

    let parts: Vec<&str> = jws.split('.').collect();
    let mut claims = payload_of(jws);
    claims["level"] = json!(2);
    claims["procedure"] = json!("1.000000");
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap()),
        parts[2]
    );
    assert_eq!(
        verifier.verify(&forged),
        Err(ReceiptError::Jws(JwsError::BadSignature))
    );

    let other = SigningKey::generate(&TestRandom::new(99)).unwrap().0;
    let stranger = ReceiptVerifier::from_jwks(&other.jwks()).unwrap();
    assert_eq!(
        stranger.verify(jws),
        Err(ReceiptError::Jws(JwsError::UnknownKey))
    );

    // A verifier trusting both keys (rotation) accepts it.
    let both = ReceiptVerifier::new(vec![other.verifying_key(), f.key.verifying_key()]);
    assert_eq!(both.verify(jws).unwrap(), submitted.receipt);

    // A JWKS without Ed25519 keys is refused up front.
    assert_eq!(
        ReceiptVerifier::from_jwks(&json!({"keys": [{"kty": "RSA", "n": "x", "e": "AQAB"}]}))
            .unwrap_err(),
        ReceiptError::NoKeys
    );

    // A signed payload of another version is refused.
    let mut v2 = payload_of(jws);
    v2["v"] = json!(2);
    let signed = f
        .key
        .sign(RECEIPT_JWS_TYPE, &serde_json::to_vec(&v2).unwrap())
        .unwrap();
    assert_eq!(
        verifier.verify(&signed),
        Err(ReceiptError::Version { found: 2 })
    );
    // A signed receipt naming another kid is refused.
    let mut wrong_kid = payload_of(jws);
    wrong_kid["kid"] = json!(other.kid());
    let signed = f
        .key
        .sign(RECEIPT_JWS_TYPE, &serde_json::to_vec(&wrong_kid).unwrap())
        .unwrap();
    assert_eq!(verifier.verify(&signed), Err(ReceiptError::KeyMismatch));
}

#[test]
fn handoff_verification_checks_the_digest() {
    let random = TestRandom::new(5);
    let key = SigningKey::generate(&random).unwrap().0;
    let assurance = level2(t0());
    let dossier = json!({"child_name": "Nguyễn Thị Mai"});
    let mut handoff = Handoff {
        v: 1,
        dossier_code: DossierCode::parse("30316-20260302-7K4M9Q").unwrap(),
        issued_at: t0(),
        procedure: birth().code(),
        ward: ward(),
        subject: subject(),
        assurance: HandoffAssurance::new(&assurance, Level::Two),
        payload_digest: PayloadDigest::of(&dossier),
        payload: dossier,
        channel: crate::audit::Channel::Online,
        officer: None,
        reception_point: None,
        assisted_by: None,
    };
    let keys: Vec<VerifyingKey> = vec![key.verifying_key()];
    let good = key
        .sign(HANDOFF_JWS_TYPE, &serde_json::to_vec(&handoff).unwrap())
        .unwrap();
    assert_eq!(Handoff::verify(&good, &keys).unwrap(), handoff);
    handoff.payload = json!({"child_name": "Nguyễn Văn An"});
    let bad = key
        .sign(HANDOFF_JWS_TYPE, &serde_json::to_vec(&handoff).unwrap())
        .unwrap();
    assert_eq!(Handoff::verify(&bad, &keys), Err(ReceiptError::Payload));
}

#[test]
fn an_envelope_written_before_the_counter_reads_as_online() {
    let random = TestRandom::new(6);
    let key = SigningKey::generate(&random).unwrap().0;
    let dossier = json!({"child_name": "Nguyễn Thị Mai"});
    // The fields an envelope had before `channel`, `officer` and `reception_point` existed.
    let old = json!({
        "v": 1,
        "dossier_code": "30316-20260302-7K4M9Q",
        "issued_at": "2026-03-02T02:00:00Z",
        "procedure": "1.001193",
        "ward": "30316",
        "subject": "old-pseudonym",
        "assurance": {"level": 2, "issuer": "https://sso.example.vn", "source": "userinfo_claim"},
        "payload_digest": PayloadDigest::of(&dossier).to_hex(),
        "payload": dossier,
    });
    let jws = key
        .sign(HANDOFF_JWS_TYPE, &serde_json::to_vec(&old).unwrap())
        .unwrap();
    let read = Handoff::verify(&jws, &[key.verifying_key()]).unwrap();
    assert_eq!(read.channel, crate::audit::Channel::Online);
    assert_eq!(read.officer, None);
    assert_eq!(read.reception_point, None);
    assert_eq!(read.assisted_by, None);
    // And a new online envelope names its channel, without officer or point.
    let written = serde_json::to_value(&read).unwrap();
    assert_eq!(written["channel"], "online");
    assert!(written.get("officer").is_none());
    assert!(written.get("reception_point").is_none());
    assert!(written.get("assisted_by").is_none());
}

#[tokio::test]
async fn a_counter_dossier_is_filed_once_per_ticket_with_its_channel_officer_and_point() {
    use crate::audit::{Channel, PointRef};
    use crate::fallback::TicketCode;
    let f = fixture();
    let officer = SubjectPseudonym::from_stored("officer-pseudonym");
    let ticket = TicketCode::generate("TS", f.random.as_ref()).unwrap();
    let intake = || CounterIntake {
        procedure: birth().code(),
        ward: ward(),
        point: PointRef::parse("trung-tam").unwrap(),
        ticket,
        officer: &officer,
        issuer: "https://dichvucong.example.vn",
        dossier: json!({"child_name": "Nguyễn Thị Mai"}),
        draft: None,
    };
    let first = f.submitter.receive_at_counter(intake()).await.unwrap();
    assert!(!first.replayed);
    let again = f.submitter.receive_at_counter(intake()).await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.receipt.dossier_code, first.receipt.dossier_code);
    let code = first.receipt.dossier_code;
    let entry = f.store.outbox_entry(&code).await.unwrap().unwrap();
    let envelope = f.sealer.open_handoff(code, &entry.envelope).unwrap();
    let handoff = Handoff::verify(&envelope, &[f.key.verifying_key()]).unwrap();
    assert_eq!(handoff.channel, Channel::Counter);
    assert_eq!(handoff.officer, Some(officer.clone()));
    assert_eq!(handoff.reception_point.as_deref(), Some("trung-tam"));
    assert_eq!(handoff.assurance.source, SourceKind::CounterDocument);
    assert_eq!(handoff.subject, counter_subject(ticket));
}

// ---- codes, keys and digests ----

#[test]
fn canonical_json_sorts_keys_and_has_a_fixed_digest() {
    let value = json!({"b": "Nguyễn", "a": {"d": [1, "x"], "c": null}});
    assert_eq!(
        String::from_utf8(canonical_json(&value)).unwrap(),
        r#"{"a":{"c":null,"d":[1,"x"]},"b":"Nguyễn"}"#
    );
    // printf '%s' '{"a":{"c":null,"d":[1,"x"]},"b":"Nguyễn"}' | sha256sum
    assert_eq!(
        PayloadDigest::of(&value).to_hex(),
        "61b51e776207eef6de3691ab49ad84ab36a01228399b735003cde61b9fc7eaa3"
    );
    let digest = PayloadDigest::of(&value);
    assert_eq!(PayloadDigest::from_hex(&digest.to_hex()), Some(digest));
    assert_eq!(PayloadDigest::from_hex("zz"), None);
}

#[test]
fn dossier_codes_are_readable_and_parse_tolerantly() {
    let random = TestRandom::new(3);
    let day = chrono::NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
    let code = DossierCode::generate(ward(), day, &random).unwrap();
    let text = code.as_str();
    assert_eq!(text.len(), 21);
    assert!(text.starts_with("30316-20260302-"));
    assert!(
        text[15..]
            .chars()
            .all(|c| crate::fallback::ALPHABET.contains(c))
    );
    assert_eq!(code.ward(), Some(ward()));
    assert_eq!(DossierCode::parse(&text.to_lowercase()).unwrap(), code);
    assert_eq!(
        DossierCode::parse("30316-20260302-7k4m9o")
            .unwrap()
            .as_str(),
        "30316-20260302-7K4M90"
    );
    for bad in [
        "",
        "30316-20260302-7K4M9",
        "30316-20260230-7K4M9Q",
        "3031A-20260302-7K4M9Q",
        "30316_20260302-7K4M9Q",
        "30316-20260302-7K4M9W",
    ] {
        assert_eq!(DossierCode::parse(bad), Err(CodeError::Malformed), "{bad}");
    }
    let json = serde_json::to_string(&code).unwrap();
    assert_eq!(serde_json::from_str::<DossierCode>(&json).unwrap(), code);
}

#[test]
fn idempotency_keys_are_bounded_visible_ascii() {
    assert_eq!(
        IdempotencyKey::parse("\"8e03978e-40d5-43e8\"")
            .unwrap()
            .as_str(),
        "8e03978e-40d5-43e8"
    );
    assert_eq!(IdempotencyKey::parse(""), Err(IdempotencyKeyError));
    assert_eq!(IdempotencyKey::parse("a b"), Err(IdempotencyKeyError));
    assert_eq!(IdempotencyKey::parse("khóa"), Err(IdempotencyKeyError));
    assert_eq!(
        IdempotencyKey::parse(&"k".repeat(256)),
        Err(IdempotencyKeyError)
    );
    assert!(IdempotencyKey::parse(&"k".repeat(255)).is_ok());
}

// ---- outbox ----

/// A fake back office: answers from a script (the last answer repeats) and records requests.
#[derive(Clone, Default)]
struct BackOffice {
    script: Arc<Mutex<VecDeque<Answer>>>,
    seen: Arc<Mutex<Vec<(String, serde_json::Value)>>>,
}

#[derive(Clone, Copy, Debug)]
enum Answer {
    Status(u16),
    Timeout,
}

impl BackOffice {
    fn answering(answers: &[Answer]) -> Self {
        let office = Self::default();
        office.set(answers);
        office
    }

    fn set(&self, answers: &[Answer]) {
        *self.script.lock().unwrap() = answers.iter().copied().collect();
    }

    fn client(&self) -> Arc<dyn HttpClient> {
        let office = self.clone();
        Arc::new(move |request: http::Request<Vec<u8>>| {
            let office = office.clone();
            async move {
                let key = request
                    .headers()
                    .get("Idempotency-Key")
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_owned();
                assert_eq!(request.method(), http::Method::POST);
                assert_eq!(
                    request.headers()[http::header::CONTENT_TYPE],
                    "application/json"
                );
                let body: serde_json::Value = serde_json::from_slice(request.body()).unwrap();
                office.seen.lock().unwrap().push((key, body));
                let answer = {
                    let mut script = office.script.lock().unwrap();
                    if script.len() > 1 {
                        script.pop_front().unwrap()
                    } else {
                        *script.front().unwrap()
                    }
                };
                match answer {
                    Answer::Status(status) => Ok(http::Response::builder()
                        .status(status)
                        .body(Vec::new())
                        .unwrap()),
                    Answer::Timeout => Err(HttpError::Timeout {
                        host: "backoffice.example".into(),
                    }),
                }
            }
        })
    }

    fn seen(&self) -> Vec<(String, serde_json::Value)> {
        self.seen.lock().unwrap().clone()
    }
}

fn outbox(f: &Fixture, office: &BackOffice) -> Outbox {
    Outbox::new(
        Arc::clone(&f.store),
        office.client(),
        "https://backoffice.example/dossiers".parse().unwrap(),
        Arc::clone(&f.sealer),
        Arc::clone(&f.clock) as Arc<dyn Clock>,
        Arc::clone(&f.random) as Arc<dyn Random>,
    )
}

async fn submit_one(f: &Fixture, key: &str) -> DossierCode {
    let assurance = level2(f.clock.now());
    let subject = subject();
    f.submitter
        .submit(request(&assurance, &subject, key))
        .await
        .unwrap()
        .receipt
        .dossier_code
}

#[tokio::test]
async fn back_office_down_keeps_entries_and_delivers_once_when_back() {
    let f = fixture();
    let office = BackOffice::answering(&[Answer::Status(503)]);
    let code = submit_one(&f, "k1").await;
    let worker = outbox(&f, &office);

    // Down: the submission succeeded anyway; the entry is kept and rescheduled.
    let report = worker.run_once(f.clock.now()).await.unwrap();
    assert_eq!(
        report,
        DeliveryReport {
            delivered: 0,
            retried: 1,
            parked: 0
        }
    );
    let entry = f.store.outbox_entry(&code).await.unwrap().unwrap();
    assert_eq!(entry.status, OutboxStatus::Pending);
    assert_eq!(entry.attempts, 1);
    assert_eq!(entry.last_error.as_deref(), Some("http status 503"));
    let wait = entry.next_attempt_at - t0();
    assert!(
        wait >= Duration::seconds(2) && wait <= Duration::milliseconds(2500),
        "{wait}"
    );

    // Not due yet: nothing is sent.
    let report = worker.run_once(t0() + Duration::seconds(1)).await.unwrap();
    assert_eq!(report, DeliveryReport::default());
    assert_eq!(office.seen().len(), 1);

    // A timeout is retried too, with a longer wait.
    office.set(&[Answer::Timeout]);
    f.clock.set(entry.next_attempt_at);
    let report = worker.run_once(f.clock.now()).await.unwrap();
    assert_eq!(report.retried, 1);
    let entry = f.store.outbox_entry(&code).await.unwrap().unwrap();
    assert_eq!(entry.attempts, 2);
    assert_eq!(entry.last_error.as_deref(), Some("timeout"));
    let wait = entry.next_attempt_at - f.clock.now();
    assert!(
        wait >= Duration::seconds(4) && wait <= Duration::seconds(5),
        "{wait}"
    );

    // Back up; a restarted worker (a new instance on the same store) delivers it once.
    office.set(&[Answer::Status(202)]);
    f.clock.set(entry.next_attempt_at);
    let restarted = outbox(&f, &office);
    let report = restarted.run_once(f.clock.now()).await.unwrap();
    assert_eq!(
        report,
        DeliveryReport {
            delivered: 1,
            retried: 0,
            parked: 0
        }
    );
    let entry = f.store.outbox_entry(&code).await.unwrap().unwrap();
    assert_eq!(entry.status, OutboxStatus::Delivered);
    assert_eq!(entry.delivered_at, Some(f.clock.now()));
    let report = restarted
        .run_once(f.clock.now() + Duration::days(1))
        .await
        .unwrap();
    assert_eq!(report, DeliveryReport::default());

    let seen = office.seen();
    assert_eq!(seen.len(), 3);
    assert!(seen.iter().all(|(key, _)| key == code.as_str()));
    // The back office gets the clear envelope, opened from the sealed outbox entry.
    let envelope = f.sealer.open_handoff(code, &entry.envelope).unwrap();
    assert_eq!(seen[2].1, json!({ "envelope": envelope }));
    let handoff = Handoff::verify(&envelope, &[f.key.verifying_key()]).unwrap();
    assert_eq!(handoff.payload, birth().example());
}

#[tokio::test]
async fn a_refusal_parks_the_entry_and_408_429_are_retried() {
    let f = fixture();
    let office = BackOffice::answering(&[
        Answer::Status(422),
        Answer::Status(429),
        Answer::Status(408),
    ]);
    let a = submit_one(&f, "a").await;
    f.clock.advance(Duration::seconds(1));
    let b = submit_one(&f, "b").await;
    f.clock.advance(Duration::seconds(1));
    let c = submit_one(&f, "c").await;
    let report = outbox(&f, &office).run_once(f.clock.now()).await.unwrap();
    assert_eq!(
        report,
        DeliveryReport {
            delivered: 0,
            retried: 2,
            parked: 1
        }
    );
    let parked = f.store.outbox_entry(&a).await.unwrap().unwrap();
    assert_eq!(parked.status, OutboxStatus::Parked);
    assert_eq!(parked.last_error.as_deref(), Some("http status 422"));
    for code in [b, c] {
        let entry = f.store.outbox_entry(&code).await.unwrap().unwrap();
        assert_eq!(entry.status, OutboxStatus::Pending);
    }
    // A parked entry is never sent again.
    office.set(&[Answer::Status(200)]);
    let report = outbox(&f, &office)
        .run_once(f.clock.now() + Duration::hours(2))
        .await
        .unwrap();
    assert_eq!(report.delivered, 2);
    assert_eq!(
        office
            .seen()
            .iter()
            .filter(|(k, _)| k == a.as_str())
            .count(),
        1
    );
}

#[tokio::test]
async fn a_409_still_processing_is_retried_with_the_same_key_not_parked() {
    let f = fixture();
    let office =
        BackOffice::answering(&[Answer::Timeout, Answer::Status(409), Answer::Status(200)]);
    let code = submit_one(&f, "k").await;
    let worker = outbox(&f, &office);
    assert_eq!(worker.run_once(f.clock.now()).await.unwrap().retried, 1);
    f.clock.advance(Duration::hours(2));
    assert_eq!(worker.run_once(f.clock.now()).await.unwrap().retried, 1);
    let entry = f.store.outbox_entry(&code).await.unwrap().unwrap();
    assert_eq!(entry.status, OutboxStatus::Pending);
    assert_eq!(entry.last_error.as_deref(), Some("http status 409"));
    f.clock.advance(Duration::hours(2));
    assert_eq!(worker.run_once(f.clock.now()).await.unwrap().delivered, 1);
    let seen = office.seen();
    assert_eq!(seen.len(), 3);
    assert!(
        seen.iter()
            .all(|(key, body)| key == code.as_str() && *body == seen[0].1)
    );
}

#[tokio::test]
async fn a_worker_that_died_mid_round_loses_nothing() {
    let f = fixture();
    let office = BackOffice::answering(&[Answer::Status(200)]);
    let code = submit_one(&f, "k").await;
    // A worker claims the entry and dies before answering.
    let claimed = f
        .store
        .due_outbox(t0(), t0() + Duration::minutes(5), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    let worker = outbox(&f, &office);
    // Under the lease, nobody else sends it.
    assert_eq!(
        worker.run_once(t0() + Duration::minutes(4)).await.unwrap(),
        DeliveryReport::default()
    );
    // After the lease it is delivered.
    let report = worker.run_once(t0() + Duration::minutes(5)).await.unwrap();
    assert_eq!(report.delivered, 1);
    assert_eq!(office.seen().len(), 1);
    assert_eq!(
        f.store.outbox_entry(&code).await.unwrap().unwrap().status,
        OutboxStatus::Delivered
    );
}

#[test]
fn backoff_doubles_and_is_capped_at_an_hour_plus_jitter() {
    let random = TestRandom::new(1);
    for (attempts, base) in [(1, 2), (2, 4), (5, 32), (11, 2048), (12, 3600), (40, 3600)] {
        let wait = backoff(attempts, &random);
        assert!(
            wait >= Duration::seconds(base) && wait <= Duration::milliseconds(base * 1250),
            "attempt {attempts}: {wait}"
        );
    }
    assert!(backoff(u32::MAX, &random) <= Duration::seconds(4500));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_background_loop_delivers_and_stops_gracefully() {
    let f = fixture();
    let office = BackOffice::answering(&[Answer::Status(200)]);
    let code = submit_one(&f, "k").await;
    let worker = Arc::new(outbox(&f, &office)).spawn(std::time::Duration::from_millis(10));
    for _ in 0..200 {
        if f.store.outbox_entry(&code).await.unwrap().unwrap().status == OutboxStatus::Delivered {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    worker.stop().await;
    assert_eq!(
        f.store.outbox_entry(&code).await.unwrap().unwrap().status,
        OutboxStatus::Delivered
    );
    // Stopped: a new dossier is not sent.
    let later = submit_one(&f, "k2").await;
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(
        f.store.outbox_entry(&later).await.unwrap().unwrap().status,
        OutboxStatus::Pending
    );
    assert_eq!(office.seen().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_background_loop_drains_a_backlog_larger_than_a_batch_in_one_tick() {
    let f = fixture();
    let office = BackOffice::answering(&[Answer::Status(200)]);
    let mut codes = Vec::new();
    for key in ["b1", "b2", "b3", "b4", "b5"] {
        codes.push(submit_one(&f, key).await);
    }
    // Batches of two and one tick an hour: only draining delivers all five now.
    let worker =
        Arc::new(outbox(&f, &office).batch_size(2)).spawn(std::time::Duration::from_secs(3600));
    let mut delivered = 0;
    for _ in 0..200 {
        delivered = 0;
        for code in &codes {
            let entry = f.store.outbox_entry(code).await.unwrap().unwrap();
            delivered += usize::from(entry.status == OutboxStatus::Delivered);
        }
        if delivered == codes.len() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    worker.stop().await;
    assert_eq!(delivered, 5, "the first tick delivered {delivered} of 5");
    assert_eq!(office.seen().len(), 5);
}

// ---- sealing at rest ----

/// The example dossier's citizen ID numbers and names.
fn personal_values() -> Vec<String> {
    let example = birth().example();
    birth()
        .fields()
        .iter()
        .filter(|field| {
            field.kind == policy::FieldKind::CitizenId
                || field.name.contains("name")
                || field.name.contains("ho_ten")
        })
        .filter_map(|field| example[field.name.as_str()].as_str().map(str::to_owned))
        .collect()
}

/// `text`, and every base64url segment of it decoded, so that content merely encoded (as in a
/// JWS payload) counts as clear.
fn clear_views(text: &str) -> Vec<Vec<u8>> {
    let mut views = vec![text.as_bytes().to_vec()];
    for part in text.split(['.', '"', ':', '{', '}', ' ']) {
        if let Ok(bytes) = URL_SAFE_NO_PAD.decode(part) {
            views.push(bytes);
        }
    }
    views
}

fn holds(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

#[tokio::test]
async fn the_stored_dossier_and_envelope_hold_no_personal_data_in_clear() {
    let f = fixture();
    let assurance = level2(t0());
    let subject = subject();
    let submitted = f
        .submitter
        .submit(request(&assurance, &subject, "seal-1"))
        .await
        .unwrap();
    let code = submitted.receipt.dossier_code;
    let record = f.store.submission(&code).await.unwrap().unwrap();
    let entry = f.store.outbox_entry(&code).await.unwrap().unwrap();

    let personal = personal_values();
    assert!(personal.len() >= 2, "{personal:?}");
    // The test would see the data if it were there: in the clear dossier, and in the clear
    // envelope (base64url inside the JWS).
    let clear_envelope = f.sealer.open_handoff(code, &entry.envelope).unwrap();
    for value in &personal {
        assert!(holds(
            &serde_json::to_vec(&birth().example()).unwrap(),
            value
        ));
        assert!(clear_views(&clear_envelope).iter().any(|v| holds(v, value)));
    }
    let record_json = serde_json::to_string(&record).unwrap();
    for value in &personal {
        for view in clear_views(&record_json)
            .iter()
            .chain(clear_views(&entry.envelope).iter())
        {
            assert!(!holds(view, value), "personal data stored in clear");
        }
    }
    // The sealed forms.
    let token = record.dossier["sealed"].as_str().unwrap();
    assert!(token.starts_with("v1."), "{token}");
    assert_eq!(record.dossier.as_object().unwrap().len(), 1);
    let envelope: serde_json::Value = serde_json::from_str(&entry.envelope).unwrap();
    assert!(envelope["sealed"].as_str().unwrap().starts_with("v1."));
    assert!(Handoff::verify(&entry.envelope, &[f.key.verifying_key()]).is_err());

    // Staff tooling reads it back; the digest is the clear dossier's, as on the receipt.
    assert_eq!(
        f.sealer.open_dossier(code, &record.dossier).unwrap(),
        birth().example()
    );
    assert_eq!(record.payload_digest, PayloadDigest::of(&birth().example()));
    assert_eq!(record.payload_digest, submitted.receipt.payload_digest);

    // A replay still returns the same receipt, and a changed dossier is still a conflict.
    let again = f
        .submitter
        .submit(request(&assurance, &subject, "seal-1"))
        .await
        .unwrap();
    assert!(again.replayed);
    assert_eq!(again.receipt.jws(), submitted.receipt.jws());
    let mut changed = request(&assurance, &subject, "seal-1");
    changed.dossier["child_name"] = json!("Nguyễn Văn An");
    assert!(matches!(
        f.submitter.submit(changed).await,
        Err(SubmitError::IdempotencyConflict { dossier_code }) if dossier_code == code
    ));
}

#[test]
fn sealed_values_open_only_for_their_dossier_purpose_and_key() {
    let random: Arc<dyn Random> = Arc::new(TestRandom::new(3));
    let sealer = DossierSealer::from_bytes(&[5u8; 32], Arc::clone(&random)).unwrap();
    let code = DossierCode::parse("30316-20260302-7K4M9Q").unwrap();
    let other = DossierCode::parse("30316-20260302-7K4M9R").unwrap();
    let dossier = birth().example();

    let sealed = sealer.seal_dossier(code, &dossier).unwrap();
    assert_eq!(sealer.open_dossier(code, &sealed).unwrap(), dossier);
    // Fresh nonce each time.
    assert_ne!(sealer.seal_dossier(code, &dossier).unwrap(), sealed);

    // Moved to another dossier.
    assert!(matches!(
        sealer.open_dossier(other, &sealed),
        Err(SealError::Open)
    ));
    // Another purpose, both ways.
    let as_handoff = serde_json::to_string(&sealed).unwrap();
    assert!(matches!(
        sealer.open_handoff(code, &as_handoff),
        Err(SealError::Open)
    ));
    let handoff = sealer.seal_handoff(code, "a.b.c").unwrap();
    assert_eq!(sealer.open_handoff(code, &handoff).unwrap(), "a.b.c");
    assert!(matches!(
        sealer.open_handoff(other, &handoff),
        Err(SealError::Open)
    ));
    let handoff_value: serde_json::Value = serde_json::from_str(&handoff).unwrap();
    assert!(matches!(
        sealer.open_dossier(code, &handoff_value),
        Err(SealError::Open)
    ));
    // Tampered: every byte of the token matters.
    let token = sealed["sealed"].as_str().unwrap().to_owned();
    let mut bytes = URL_SAFE_NO_PAD.decode(&token[3..]).unwrap();
    for i in [0, 12, bytes.len() / 2, bytes.len() - 1] {
        bytes[i] ^= 1;
        let tampered = json!({ "sealed": format!("v1.{}", URL_SAFE_NO_PAD.encode(&bytes)) });
        assert!(
            matches!(sealer.open_dossier(code, &tampered), Err(SealError::Open)),
            "byte {i}"
        );
        bytes[i] ^= 1;
    }
    // Another key.
    let stranger = DossierSealer::from_bytes(&[6u8; 32], Arc::clone(&random)).unwrap();
    assert!(matches!(
        stranger.open_dossier(code, &sealed),
        Err(SealError::Open)
    ));
    // Not a sealed value at all.
    for value in [
        dossier,
        json!({ "sealed": token.replacen("v1.", "v2.", 1) }),
        json!({ "sealed": "v1.AAAA" }),
        json!({ "sealed": "v1.***" }),
        json!({ "sealed": token, "extra": 1 }),
        json!("v1.AAAA"),
    ] {
        assert!(matches!(
            sealer.open_dossier(code, &value),
            Err(SealError::Malformed)
        ));
    }
    assert!(matches!(
        sealer.open_handoff(code, "a.b.c"),
        Err(SealError::Malformed)
    ));
}

#[test]
fn dossier_keys_are_exactly_32_bytes_and_never_shown() {
    for len in [0, 16, 31, 33, 64] {
        assert!(matches!(
            DossierKey::from_bytes(&vec![1u8; len]),
            Err(SealKeyError::WrongLength { expected: 32, found }) if found == len
        ));
    }
    let random: Arc<dyn Random> = Arc::new(TestRandom::new(5));
    assert!(DossierSealer::from_bytes(&[1u8; 31], Arc::clone(&random)).is_err());
    let key = DossierKey::generate(random.as_ref()).unwrap();
    assert_eq!(format!("{key:?}"), "DossierKey([redacted])");
    let sealer = DossierSealer::new(key, random).unwrap();
    assert!(format!("{sealer:?}").contains("[redacted]"));
    assert_eq!(
        SubmitError::Seal(SealError::Open).http_status(),
        http::StatusCode::INTERNAL_SERVER_ERROR
    );
}

#[tokio::test]
async fn an_envelope_that_does_not_open_is_parked_not_sent() {
    let f = fixture();
    // Sealed under another key (a lost or rotated key): it can never be opened here.
    let foreign = Submitter::new(
        Arc::clone(&f.store),
        Arc::clone(&f.key),
        Arc::new(
            DossierSealer::from_bytes(&[8u8; 32], Arc::clone(&f.random) as Arc<dyn Random>)
                .unwrap(),
        ),
        Arc::clone(&f.clock) as Arc<dyn Clock>,
        Arc::clone(&f.random) as Arc<dyn Random>,
    );
    let assurance = level2(f.clock.now());
    let subject = subject();
    let code = foreign
        .submit(request(&assurance, &subject, "foreign"))
        .await
        .unwrap()
        .receipt
        .dossier_code;
    let office = BackOffice::answering(&[Answer::Status(202)]);
    let report = outbox(&f, &office).run_once(f.clock.now()).await.unwrap();
    assert_eq!(
        report,
        DeliveryReport {
            delivered: 0,
            retried: 0,
            parked: 1
        }
    );
    assert!(office.seen().is_empty());
    let entry = f.store.outbox_entry(&code).await.unwrap().unwrap();
    assert_eq!(entry.status, OutboxStatus::Parked);
    assert_eq!(entry.attempts, 1);
    assert_eq!(
        entry.last_error.as_deref(),
        Some("the sealed envelope could not be opened")
    );
    // Parked for good: never retried.
    let report = outbox(&f, &office)
        .run_once(f.clock.now() + Duration::days(1))
        .await
        .unwrap();
    assert_eq!(report, DeliveryReport::default());
}

#[test]
fn drafts_are_sealed_to_their_id_and_purpose() {
    let random: Arc<dyn Random> = Arc::new(TestRandom::new(9));
    let sealer = DossierSealer::from_bytes(&[6u8; 32], Arc::clone(&random)).unwrap();
    let answers = birth().example();
    let sealed = sealer.seal_draft("draft-a", &answers).unwrap();
    let text = sealed.to_string();
    for value in answers
        .as_object()
        .unwrap()
        .values()
        .filter_map(serde_json::Value::as_str)
    {
        if value.len() >= 4 {
            assert!(
                !text.contains(value),
                "`{value}` in clear in the sealed draft"
            );
        }
    }
    assert_eq!(sealer.open_draft("draft-a", &sealed).unwrap(), answers);
    assert!(matches!(
        sealer.open_draft("draft-b", &sealed),
        Err(SealError::Open)
    ));
    // A sealed draft is not a dossier, whatever its code.
    let code = DossierCode::parse("30316-20260302-7K4M9Q").unwrap();
    assert!(matches!(
        sealer.open_dossier(code, &sealed),
        Err(SealError::Open)
    ));
}

// ---- back-office status reports ----

mod status_reports {
    use chrono::{Duration, TimeZone as _, Utc};
    use pretty_assertions::assert_eq;

    use crate::store::BackOfficeStatus;
    use crate::submission::status::{BackOfficeKey, ReportError, verify_report};

    const BODY: &[u8] = br#"{"report_id":"mc-2026-000001","dossier_code":"30316-20260302-7K3M9Q","status":"more_documents_needed","reported_at":"2026-03-02T02:58:00Z"}"#;

    fn now() -> chrono::DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 3, 0, 0).unwrap()
    }

    fn key(byte: u8) -> BackOfficeKey {
        BackOfficeKey::new(&[byte; 32]).unwrap()
    }

    #[test]
    fn a_signed_report_verifies_with_any_current_key() {
        let header = key(2).sign(now().timestamp(), BODY);
        let report = verify_report(&[key(1), key(2)], &header, BODY, now()).unwrap();
        assert_eq!(report.report_id.as_str(), "mc-2026-000001");
        assert_eq!(report.dossier_code.as_str(), "30316-20260302-7K3M9Q");
        assert_eq!(report.status, BackOfficeStatus::MoreDocumentsNeeded);
        assert_eq!(
            report.reported_at,
            Utc.with_ymd_and_hms(2026, 3, 2, 2, 58, 0).unwrap()
        );
    }

    #[test]
    fn a_report_signed_with_another_key_is_refused() {
        let header = key(9).sign(now().timestamp(), BODY);
        assert_eq!(
            verify_report(&[key(1)], &header, BODY, now()).unwrap_err(),
            ReportError::BadSignature
        );
    }

    #[test]
    fn a_changed_body_is_refused() {
        let header = key(1).sign(now().timestamp(), BODY);
        let changed = String::from_utf8(BODY.to_vec())
            .unwrap()
            .replace("more_documents_needed", "done");
        assert_eq!(
            verify_report(&[key(1)], &header, changed.as_bytes(), now()).unwrap_err(),
            ReportError::BadSignature
        );
    }

    #[test]
    fn a_replay_after_five_minutes_is_refused() {
        let header = key(1).sign(now().timestamp(), BODY);
        let later = now() + Duration::minutes(5) + Duration::seconds(1);
        assert_eq!(
            verify_report(&[key(1)], &header, BODY, later).unwrap_err(),
            ReportError::Stale
        );
        let early = now() - Duration::minutes(6);
        assert_eq!(
            verify_report(&[key(1)], &header, BODY, early).unwrap_err(),
            ReportError::Stale
        );
        // Within the window it verifies; the store makes the replay idempotent.
        let soon = now() + Duration::minutes(4);
        assert!(verify_report(&[key(1)], &header, BODY, soon).is_ok());
    }

    #[test]
    fn malformed_signature_headers_are_refused() {
        let tag = key(1).sign(now().timestamp(), BODY);
        let hex = tag.split_once(",v1=").unwrap().1.to_owned();
        for header in [
            String::new(),
            format!("v1={hex}"),
            format!("t={}", now().timestamp()),
            format!("t=-5,v1={hex}"),
            format!("t={},v1={}", now().timestamp(), &hex[..63]),
            format!("t={},v1={hex},v1={hex}", now().timestamp()),
            format!("t={},v1={hex},v0=00", now().timestamp()),
            format!("t={},v1={}", now().timestamp(), "zz".repeat(32)),
        ] {
            assert_eq!(
                verify_report(&[key(1)], &header, BODY, now()).unwrap_err(),
                ReportError::MalformedSignature,
                "{header}"
            );
        }
    }

    #[test]
    fn bad_bodies_are_refused_after_the_signature() {
        for body in [
            &br#"{"report_id":"mc-1","dossier_code":"30316-20260302-7K3M9Q","status":"lost","reported_at":"2026-03-02T02:58:00Z"}"#[..],
            br#"{"report_id":"mc 1","dossier_code":"30316-20260302-7K3M9Q","status":"done","reported_at":"2026-03-02T02:58:00Z"}"#,
            br#"{"report_id":"mc-1","dossier_code":"30316-20260302-7K3M9Q","status":"done","reported_at":"2026-03-02T02:58:00Z","note":"x"}"#,
            br#"{"report_id":"mc-1","dossier_code":"nope","status":"done","reported_at":"2026-03-02T02:58:00Z"}"#,
        ] {
            let header = key(1).sign(now().timestamp(), body);
            assert!(
                matches!(
                    verify_report(&[key(1)], &header, body, now()),
                    Err(ReportError::Body(_))
                ),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        let future = br#"{"report_id":"mc-1","dossier_code":"30316-20260302-7K3M9Q","status":"done","reported_at":"2026-03-02T04:00:00Z"}"#;
        let header = key(1).sign(now().timestamp(), future);
        assert_eq!(
            verify_report(&[key(1)], &header, future, now()).unwrap_err(),
            ReportError::ReportedInFuture
        );
        let huge = vec![b' '; 5000];
        let header = key(1).sign(now().timestamp(), &huge);
        assert_eq!(
            verify_report(&[key(1)], &header, &huge, now()).unwrap_err(),
            ReportError::TooLarge
        );
    }

    #[test]
    fn short_secrets_are_refused_and_never_printed() {
        assert_eq!(
            BackOfficeKey::new(&[1; 31]).unwrap_err(),
            ReportError::KeyTooShort
        );
        assert_eq!(format!("{:?}", key(1)), "BackOfficeKey([redacted])");
    }
}

mod dossier_secrets {
    use crate::pseudonym::{DOSSIER_SECRET_LEN, Pseudonymizer};
    use crate::submission::DossierCode;

    #[test]
    fn the_receipt_secret_is_stable_per_dossier_and_read_tolerantly() {
        let pseudonyms = Pseudonymizer::new(&[3; 32]).unwrap();
        let code = DossierCode::parse("30316-20260302-7K3M9Q").unwrap();
        let other = DossierCode::parse("30316-20260302-7K3M9R").unwrap();
        let secret = pseudonyms.dossier_secret(&code);
        assert_eq!(secret, pseudonyms.dossier_secret(&code));
        assert_ne!(secret, pseudonyms.dossier_secret(&other));
        assert_eq!(secret.as_str().len(), DOSSIER_SECRET_LEN);
        assert!(secret.matches(secret.as_str()));
        let typed = format!(
            "{}-{}",
            &secret.as_str()[..5].to_lowercase(),
            &secret.as_str()[5..]
        );
        assert!(secret.matches(&typed));
        assert!(!secret.matches(&secret.as_str()[..9]));
        assert!(!secret.matches(""));
        let keyed_otherwise = Pseudonymizer::new(&[4; 32]).unwrap();
        assert_ne!(secret, keyed_otherwise.dossier_secret(&code));
        assert_eq!(format!("{secret:?}"), "DossierSecret([redacted])");
    }
}

#[test]
fn a_rotated_sealer_opens_what_its_older_keys_sealed_and_seals_with_the_new_one() {
    let random: Arc<dyn Random> = Arc::new(TestRandom::new(11));
    let code = DossierCode::parse("30316-20260302-7K4M9Q").unwrap();
    let answers = birth().example();
    let old = DossierSealer::from_bytes(&[6u8; 32], Arc::clone(&random)).unwrap();
    let sealed_before = old.seal_dossier(code, &answers).unwrap();
    let envelope_before = old.seal_handoff(code, "header.payload.signature").unwrap();

    let rotated = DossierSealer::from_bytes(&[7u8; 32], Arc::clone(&random))
        .unwrap()
        .with_older_keys([DossierKey::from_bytes(&[6u8; 32]).unwrap()])
        .unwrap();
    assert_eq!(rotated.open_dossier(code, &sealed_before).unwrap(), answers);
    assert_eq!(
        rotated.open_handoff(code, &envelope_before).unwrap(),
        "header.payload.signature"
    );
    // New values are sealed under the new key: the old key alone does not open them.
    let sealed_after = rotated.seal_dossier(code, &answers).unwrap();
    assert!(matches!(
        old.open_dossier(code, &sealed_after),
        Err(SealError::Open)
    ));
    // A key in neither place opens nothing, and the binding still holds with older keys.
    let stranger = DossierSealer::from_bytes(&[8u8; 32], Arc::clone(&random)).unwrap();
    assert!(matches!(
        stranger.open_dossier(code, &sealed_before),
        Err(SealError::Open)
    ));
    assert!(matches!(
        rotated.open_draft(code.as_str(), &sealed_before),
        Err(SealError::Open)
    ));
}

/// Records every outcome it is told of.
#[derive(Default)]
struct Outcomes(Mutex<Vec<DeliveryOutcome>>);

impl DeliveryObserver for Outcomes {
    fn delivery_attempted(&self, outcome: DeliveryOutcome) {
        self.0.lock().unwrap().push(outcome);
    }
}

#[tokio::test]
async fn the_observer_is_told_each_attempts_outcome_once_stored() {
    let f = fixture();
    let office = BackOffice::answering(&[
        Answer::Status(503),
        Answer::Status(422),
        Answer::Status(200),
    ]);
    for key in ["k1", "k2", "k3"] {
        submit_one(&f, key).await;
    }
    let outcomes = Arc::new(Outcomes::default());
    let worker = outbox(&f, &office).observer(Arc::clone(&outcomes) as Arc<dyn DeliveryObserver>);

    let report = worker.run_once(f.clock.now()).await.unwrap();

    assert_eq!(
        report,
        DeliveryReport {
            delivered: 1,
            retried: 1,
            parked: 1
        }
    );
    assert_eq!(
        *outcomes.0.lock().unwrap(),
        vec![
            DeliveryOutcome::Retry,
            DeliveryOutcome::Parked,
            DeliveryOutcome::Delivered
        ]
    );
    // Nothing due: no attempt, nothing told.
    worker.run_once(f.clock.now()).await.unwrap();
    assert_eq!(outcomes.0.lock().unwrap().len(), 3);
    assert_eq!(
        [
            DeliveryOutcome::Delivered,
            DeliveryOutcome::Retry,
            DeliveryOutcome::Parked
        ]
        .map(DeliveryOutcome::as_str),
        ["delivered", "retry", "parked"]
    );
}
