//! Audit chain tests: every kind of tampering is caught at the exact record.

use chrono::{DateTime, Duration, TimeZone, Utc};
use pretty_assertions::assert_eq;

use super::*;
use crate::policy::{Context, decide};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 1, 0, 0).single().unwrap()
}

fn ward() -> WardCode {
    WardCode::parse("30316").unwrap()
}

fn procedure() -> ProcedureCode {
    ProcedureCode::parse("1.001193").unwrap()
}

fn events() -> Vec<AuditEvent> {
    vec![
        AuditEvent::Login(LoginRecorded::new(
            LoginResult::Succeeded,
            Some(Level::Two),
            Some(SourceKind::UserinfoClaim),
        )),
        AuditEvent::Login(LoginRecorded::new(
            LoginResult::Failed(LoginFailure::NoEid),
            None,
            None,
        )),
        AuditEvent::Referral(ReferralRecorded::new(
            procedure(),
            ReasonCode::NoEid,
            ward(),
        )),
        AuditEvent::Booking(BookingRecorded::new(
            ward(),
            PointRef::parse("trung-tam").unwrap(),
            procedure(),
            BookingAction::Booked,
        )),
        AuditEvent::Submission(SubmissionRecorded::new(
            DossierCode::parse("30316-20260302-7K4M9Q").unwrap(),
            procedure(),
            ward(),
            Level::Two,
        )),
        AuditEvent::Decision(DecisionRecorded {
            procedure: procedure(),
            ward: None,
            outcome: DecisionOutcome::SignIn,
            reason: ReasonCode::NoSession,
            count: 1,
        }),
    ]
}

fn chain() -> Vec<AuditRecord> {
    let subject = SubjectPseudonym::from_stored("cHNldWRvbnltLWFsaWNl");
    let mut prev = ChainHash::GENESIS;
    events()
        .into_iter()
        .enumerate()
        .map(|(i, event)| {
            let entry = AuditEntry::new(
                t0() + Duration::seconds(i as i64),
                (i % 2 == 0).then(|| subject.clone()),
                event,
            );
            let record = entry.seal(i as u64 + 1, &prev);
            prev = record.hash;
            record
        })
        .collect()
}

#[test]
fn an_intact_chain_verifies_and_returns_its_head() {
    let records = chain();
    let head = verify_chain(&records).unwrap();
    assert_eq!(head.seq, 6);
    assert_eq!(head.hash, records[5].hash);
    assert_eq!(records[0].prev_hash, ChainHash::GENESIS);
    // Pages verify from the previous page's head.
    let first = verify_chain(&records[..3]).unwrap();
    assert_eq!(verify_chain_from(first, &records[3..]).unwrap(), head);
    assert_eq!(
        verify_chain(&[]).unwrap(),
        ChainHead {
            seq: 0,
            hash: ChainHash::GENESIS
        }
    );
}

#[test]
fn an_edited_field_is_caught_at_its_record() {
    let mut records = chain();
    let AuditEvent::Referral(referral) = &mut records[2].event else {
        panic!()
    };
    referral.reason = ReasonCode::LevelBelowRequired;
    assert_eq!(
        verify_chain(&records),
        Err(ChainError {
            seq: 3,
            kind: ChainErrorKind::Edited
        })
    );

    let mut records = chain();
    records[4].at += Duration::seconds(1);
    assert_eq!(verify_chain(&records).unwrap_err().seq, 5);

    let mut records = chain();
    records[1].subject = Some(SubjectPseudonym::from_stored("someone-else"));
    assert_eq!(
        verify_chain(&records),
        Err(ChainError {
            seq: 2,
            kind: ChainErrorKind::Edited
        })
    );
}

#[test]
fn an_edit_with_a_recomputed_hash_is_caught_by_the_next_link() {
    let mut records = chain();
    let AuditEvent::Booking(booking) = &mut records[3].event else {
        panic!()
    };
    booking.action = BookingAction::Cancelled;
    let entry = records[3].entry();
    records[3].hash = chain_hash(&records[3].prev_hash, 4, &entry);
    assert_eq!(
        verify_chain(&records),
        Err(ChainError {
            seq: 4,
            kind: ChainErrorKind::Edited
        })
    );
}

#[test]
fn a_deleted_record_is_caught_with_its_number() {
    let mut records = chain();
    records.remove(2);
    assert_eq!(
        verify_chain(&records),
        Err(ChainError {
            seq: 3,
            kind: ChainErrorKind::Missing
        })
    );
    let mut records = chain();
    records.remove(0);
    assert_eq!(
        verify_chain(&records),
        Err(ChainError {
            seq: 1,
            kind: ChainErrorKind::Missing
        })
    );
    // Deleting and renumbering breaks the hashes instead.
    let mut records = chain();
    records.remove(2);
    for r in &mut records[2..] {
        r.seq -= 1;
    }
    assert_eq!(
        verify_chain(&records),
        Err(ChainError {
            seq: 3,
            kind: ChainErrorKind::Edited
        })
    );
}

#[test]
fn swapped_records_are_caught_as_reordered() {
    let mut records = chain();
    records.swap(1, 2);
    assert_eq!(
        verify_chain(&records),
        Err(ChainError {
            seq: 2,
            kind: ChainErrorKind::Reordered
        })
    );
    // Swapping contents but keeping the numbers is an edit.
    let mut records = chain();
    let (a, b) = (records[1].event.clone(), records[2].event.clone());
    records[1].event = b;
    records[2].event = a;
    assert_eq!(
        verify_chain(&records),
        Err(ChainError {
            seq: 2,
            kind: ChainErrorKind::Edited
        })
    );
    // A repeated record.
    let mut records = chain();
    let copy = records[2].clone();
    records.insert(3, copy);
    assert_eq!(
        verify_chain(&records),
        Err(ChainError {
            seq: 3,
            kind: ChainErrorKind::Reordered
        })
    );
}

#[test]
fn records_round_trip_through_json_and_keep_their_hash() {
    let records = chain();
    let json = serde_json::to_string(&records).unwrap();
    let back: Vec<AuditRecord> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, records);
    verify_chain(&back).unwrap();
    // Sub-microsecond precision is dropped at creation, so a database keeps the hash.
    let entry = AuditEntry::new(
        t0() + Duration::nanoseconds(1_234_567),
        None,
        events().remove(0),
    );
    assert_eq!(entry.at, t0() + Duration::microseconds(1_234));
}

#[test]
fn the_wire_form_is_stable() {
    let record = &chain()[2];
    assert_eq!(
        serde_json::to_value(record).unwrap(),
        serde_json::json!({
            "seq": 3,
            "at": "2026-03-02T01:00:02Z",
            "subject": "cHNldWRvbnltLWFsaWNl",
            "event": {"kind": "referral", "procedure": "1.001193", "reason": "no_eid", "ward": "30316"},
            "prev_hash": record.prev_hash.to_hex(),
            "hash": record.hash.to_hex(),
        })
    );
    assert_eq!(record.hash.to_hex().len(), 64);
    assert_eq!(
        ChainHash::from_hex(&record.hash.to_hex()),
        Some(record.hash)
    );
}

#[test]
fn events_hold_no_free_text() {
    // Point ids are restricted to the directory's slug format.
    assert!(PointRef::parse("trung-tam").is_some());
    assert!(PointRef::parse("Nguyễn Văn An").is_none());
    assert!(PointRef::parse("").is_none());
    assert!(PointRef::parse(&"a".repeat(65)).is_none());
    assert!(serde_json::from_value::<PointRef>(serde_json::json!("089190000001 Nguyen")).is_err());
    // A decision is recorded by its codes only.
    let procedure =
        crate::policy::Catalog::load(concat!(env!("CARGO_MANIFEST_DIR"), "/samples/catalog.toml"))
            .unwrap();
    let birth = procedure.procedure("1.001193").unwrap();
    let decision = decide(birth, None, &Context::new(t0()));
    let event = AuditEvent::decision(&decision, Some(ward()));
    assert_eq!(
        serde_json::to_value(&event).unwrap(),
        serde_json::json!({"kind": "decision", "procedure": "1.001193", "ward": "30316",
            "outcome": "sign_in", "reason": "no_session"})
    );
    assert_eq!(event.ward(), Some(ward()));
    assert_eq!(event.kind_str(), "decision");
}

#[test]
fn a_counted_decision_carries_its_count_and_an_uncounted_one_reads_as_one() {
    let single = DecisionRecorded {
        procedure: procedure(),
        ward: Some(ward()),
        outcome: DecisionOutcome::Online,
        reason: ReasonCode::LevelMet,
        count: 1,
    };
    let counted = AuditEvent::Decision(single.with_count(3));
    let json = serde_json::to_value(&counted).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"kind": "decision", "procedure": "1.001193", "ward": "30316",
            "outcome": "online", "reason": "level_met", "count": 3})
    );
    assert_eq!(serde_json::from_value::<AuditEvent>(json).unwrap(), counted);
    // Records written before decisions were counted have no `count`.
    let old = serde_json::json!({"kind": "decision", "procedure": "1.001193", "ward": "30316",
        "outcome": "online", "reason": "level_met"});
    assert_eq!(
        serde_json::from_value::<AuditEvent>(old).unwrap(),
        AuditEvent::Decision(single)
    );
}

#[test]
fn the_signed_id_token_flag_is_written_only_when_false() {
    let signed = LoginRecorded::new(
        LoginResult::Succeeded,
        Some(Level::Two),
        Some(SourceKind::IdTokenAcr),
    );
    let json = serde_json::to_value(signed).unwrap();
    assert!(json.get("signed_id_token").is_none(), "{json}");
    let unsigned = signed.with_signed_id_token(false);
    let json = serde_json::to_value(unsigned).unwrap();
    assert_eq!(json["signed_id_token"], false);
    let back: LoginRecorded = serde_json::from_value(json).unwrap();
    assert_eq!(back, unsigned);

    let code = DossierCode::parse("30316-20260302-7K4M9Q").unwrap();
    let filed = SubmissionRecorded::new(code, procedure(), ward(), Level::Two);
    assert!(
        serde_json::to_value(&filed)
            .unwrap()
            .get("signed_id_token")
            .is_none()
    );
    let filed = filed.with_signed_id_token(false);
    assert_eq!(
        serde_json::to_value(filed).unwrap()["signed_id_token"],
        false
    );
}

#[test]
fn the_assisted_device_label_is_written_only_for_an_assisted_submission() {
    let code = DossierCode::parse("30316-20260302-7K4M9Q").unwrap();
    let alone = SubmissionRecorded::new(code, procedure(), ward(), Level::Two);
    let json = serde_json::to_value(&alone).unwrap();
    assert!(json.get("assisted_by").is_none(), "{json}");
    let assisted = alone
        .clone()
        .with_assisted_by(Some("Tổ CNSCĐ khóm Xuân Hòa".to_owned()));
    let json = serde_json::to_value(&assisted).unwrap();
    assert_eq!(json["assisted_by"], "Tổ CNSCĐ khóm Xuân Hòa");
    let back: SubmissionRecorded = serde_json::from_value(json).unwrap();
    assert_eq!(back, assisted);
    // A record written before the label existed still reads, as unassisted.
    let old = serde_json::json!({
        "dossier_code": "30316-20260302-7K4M9Q",
        "procedure": procedure().as_str(),
        "ward": ward().as_str(),
        "level": 2,
    });
    let read: SubmissionRecorded = serde_json::from_value(old).unwrap();
    assert_eq!(read, alone);
}
