//! Retention and the audit trail after the full resident and staff flows, on each store: the
//! audit holds only pseudonymous data (no citizen ID number, no name, no provider `sub`), and
//! the scheduled job's body ([`retention::run_once`]) deletes the drafts, tickets and bookings
//! the flows left once they have expired, and nothing else.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::{DateTime, Duration, Utc};
use pretty_assertions::assert_eq;
use wardgate::audit::AuditEvent;
use wardgate::clock::SystemRandom;
use wardgate::devidp::{self, PersonaOutcome};
use wardgate::fallback::{TicketCode, WardCode};
use wardgate::portal::data_dir::GatewayKeys;
use wardgate::pseudonym::Pseudonymizer;
use wardgate::store::{MemoryStore, SqliteStore, Store, retention};
use wardgate::submission::DossierCode;

use crate::gateway::{
    BIRTH, TestGateway, body_json, body_text, dossier_personal_values, example_dossier, location,
    simulator, staff_login, submission, tempdir::TempDir,
};

/// What the flows left behind, to look for afterwards.
struct Left {
    dossier: DossierCode,
    tickets: Vec<TicketCode>,
    booking_day: chrono::NaiveDate,
    ward: WardCode,
}

/// Every flow: online filing, a saved draft, level 1, cancel, provider error, no e-ID, an
/// in-person booking, a staff sign-in.
async fn full_flows(gw: &TestGateway) -> Left {
    let (_, session) = gw.sign_in("level2").await;
    let session = session.unwrap();
    let dossier = example_dossier(gw, BIRTH).await;
    let filed = gw
        .send(submission(
            &format!("/api/procedures/{BIRTH}/submissions"),
            Some(&session),
            Some("retention-1"),
            &dossier,
        ))
        .await;
    assert_eq!(filed.status(), StatusCode::CREATED);
    let dossier_code =
        DossierCode::parse(body_json(filed).await["dossier_code"].as_str().unwrap()).unwrap();

    // A draft of the same answers, saved from the form.
    let saved = gw.save_draft_from_form(&session, &dossier).await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);

    let mut tickets = Vec::new();
    for persona in ["level1", "cancel", "error", "no_eid"] {
        let (callback, _) = gw.sign_in(persona).await;
        let api = location(&callback)
            .replace("/procedures/", "/api/procedures/")
            .replace('?', "/decision?");
        let decision = body_json(gw.get(&api, None).await).await;
        assert_eq!(decision["decision"], "in_person", "{persona}");
        tickets.push(
            TicketCode::parse(decision["referral"]["ticket_code"].as_str().unwrap()).unwrap(),
        );
    }

    // An in-person booking with a ticket.
    let body = body_json(
        gw.get(
            &format!("/api/procedures/{BIRTH}/decision?in_person=1"),
            None,
        )
        .await,
    )
    .await;
    let code = body["referral"]["ticket_code"].as_str().unwrap().to_owned();
    let point = body["referral"]["point"]["id"].as_str().unwrap().to_owned();
    let page = body_text(
        gw.get(&format!("/procedures/{BIRTH}?in_person=1"), None)
            .await,
    )
    .await;
    let start = page
        .split("<option value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a free slot is offered")
        .replace("&#43;", "+");
    // The page issued its own ticket (no cookie was sent): its form books with that one.
    tickets.push(TicketCode::parse(&code).unwrap());
    let code = page
        .split("name=\"ticket\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the booking form names its ticket")
        .to_owned();
    let token = page
        .split("name=\"ticket_token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the booking form carries the ticket's token");
    let form = format!(
        "ticket={code}&point={point}&start={}&ticket_token={}",
        url::form_urlencoded::byte_serialize(start.as_bytes()).collect::<String>(),
        url::form_urlencoded::byte_serialize(token.as_bytes()).collect::<String>()
    );
    let booked = gw
        .send(
            Request::post(format!("/procedures/{BIRTH}/book"))
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(form))
                .unwrap(),
        )
        .await;
    assert_eq!(booked.status(), StatusCode::SEE_OTHER);
    tickets.push(TicketCode::parse(&code).unwrap());
    let start = DateTime::parse_from_rfc3339(&start).unwrap();

    assert_eq!(
        staff_login(gw, "officer").await.status(),
        StatusCode::SEE_OTHER
    );
    Left {
        dossier: dossier_code,
        tickets,
        booking_day: start
            .with_timezone(&wardgate::fallback::vietnam())
            .date_naive(),
        ward: dossier_code.ward().unwrap(),
    }
}

/// The test body, on `store`.
pub(crate) async fn audit_is_pseudonymous_and_expired_records_are_purged(store: Arc<dyn Store>) {
    let idp = Arc::new(simulator().await);
    let dir = TempDir::new("retention");
    let gw = TestGateway::on_store(&idp, &dir.0, Arc::clone(&store)).await;
    let left = full_flows(&gw).await;
    gw.flush_audit().await;
    drop(gw);

    // The audit trail: pseudonyms and codes only.
    let audit = store.audit_range(1, 100_000).await.unwrap();
    wardgate::audit::verify_chain(&audit).unwrap();
    let kinds: BTreeSet<&str> = audit.iter().map(|r| r.event.kind_str()).collect();
    for kind in ["booking", "decision", "login", "referral", "submission"] {
        assert!(
            kinds.contains(kind),
            "no {kind} event in the audit: {kinds:?}"
        );
    }
    let keys = GatewayKeys::load_or_create(&dir.0, &SystemRandom::new()).unwrap();
    let pseudonyms = Pseudonymizer::from_key(&keys.pseudonym_key);
    let issuer = idp.issuer();
    let mut personal = dossier_personal_values(BIRTH);
    let mut expected_subjects = BTreeSet::new();
    for persona in devidp::Persona::defaults() {
        if let PersonaOutcome::Authenticates { identity, .. } = &persona.outcome {
            personal.extend([
                identity.citizen_pid.clone(),
                identity.full_name.clone(),
                identity.sub.clone(),
            ]);
            for issuer in [issuer.as_str(), issuer.as_str().trim_end_matches('/')] {
                expected_subjects.insert(pseudonyms.subject(issuer, &identity.sub));
            }
        }
    }
    let mut with_subject = 0;
    for record in &audit {
        let text = serde_json::to_string(record).unwrap();
        for value in &personal {
            assert!(
                !text.contains(value.as_str()),
                "audit record {} holds personal data",
                record.seq
            );
        }
        if let Some(subject) = &record.subject {
            with_subject += 1;
            assert!(
                expected_subjects.contains(subject),
                "audit record {} names a subject that is not a persona's pseudonym",
                record.seq
            );
        }
    }
    assert!(
        with_subject >= 2,
        "logins and the submission name their pseudonym"
    );
    let submissions = audit
        .iter()
        .filter(|r| matches!(&r.event, AuditEvent::Submission(s) if s.dossier_code == left.dossier))
        .count();
    assert_eq!(submissions, 1);

    // Before expiry the job deletes nothing the flows left.
    let now = Utc::now();
    let report = retention::run_once(store.as_ref(), now).await.unwrap();
    assert_eq!((report.drafts, report.tickets, report.bookings), (0, 0, 0));
    for code in &left.tickets {
        assert!(store.ticket(code, now).await.unwrap().is_some(), "{code}");
    }
    assert_eq!(
        store
            .bookings_on(left.ward, None, left.booking_day)
            .await
            .unwrap()
            .len(),
        1
    );

    // Once everything has expired (tickets and drafts after 14 days, bookings 90 days after
    // their slot), the job deletes them: gone, not just hidden by their expiry.
    let later = now + Duration::days(366);
    let report = retention::run_once(store.as_ref(), later).await.unwrap();
    // One ticket per referral (the flows above, and the referral page the booking was made
    // from), one draft, one booking.
    let referrals = audit
        .iter()
        .filter(|r| matches!(r.event, AuditEvent::Referral(_)))
        .count() as u64;
    assert!(referrals >= left.tickets.len() as u64);
    assert_eq!(
        (report.drafts, report.tickets, report.bookings),
        (1, referrals, 1)
    );
    for code in &left.tickets {
        assert!(store.ticket(code, now).await.unwrap().is_none(), "{code}");
    }
    assert!(
        store
            .bookings_on(left.ward, None, left.booking_day)
            .await
            .unwrap()
            .is_empty()
    );
    let again = retention::run_once(store.as_ref(), later).await.unwrap();
    assert_eq!(again, wardgate::store::PurgeReport::default());

    // The ward's records stay: the dossier, its pending hand-off, the whole audit chain.
    assert!(store.submission(&left.dossier).await.unwrap().is_some());
    assert!(store.outbox_entry(&left.dossier).await.unwrap().is_some());
    let after = store.audit_range(1, 100_000).await.unwrap();
    assert_eq!(after, audit);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_is_pseudonymous_and_expired_records_are_purged_on_memory() {
    audit_is_pseudonymous_and_expired_records_are_purged(Arc::new(MemoryStore::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_is_pseudonymous_and_expired_records_are_purged_on_sqlite() {
    let dir = TempDir::new("retention-db");
    let path = dir.0.join("wardgate.db");
    let store = SqliteStore::open(path.to_str().unwrap()).await.unwrap();
    audit_is_pseudonymous_and_expired_records_are_purged(Arc::new(store)).await;
}
