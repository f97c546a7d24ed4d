#![allow(clippy::unwrap_used, reason = "tests")]

use std::sync::Arc;

use chrono::{DateTime, TimeZone as _, Utc};

use super::{DecisionTally, MAX_PENDING, WINDOW, append_all};
use crate::audit::{AuditEvent, DecisionOutcome, DecisionRecorded, verify_chain};
use crate::fallback::WardCode;
use crate::policy::{ProcedureCode, ReasonCode};
use crate::store::{MemoryStore, Store};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 1, 0, 0).single().unwrap()
}

fn online() -> DecisionRecorded {
    DecisionRecorded {
        procedure: ProcedureCode::parse("1.001193").unwrap(),
        ward: Some(WardCode::parse("30316").unwrap()),
        outcome: DecisionOutcome::Online,
        reason: ReasonCode::LevelMet,
        count: 1,
    }
}

fn sign_in() -> DecisionRecorded {
    DecisionRecorded {
        outcome: DecisionOutcome::SignIn,
        reason: ReasonCode::NoSession,
        ..online()
    }
}

fn decision_of(event: &AuditEvent) -> DecisionRecorded {
    match event {
        AuditEvent::Decision(decision) => *decision,
        other => panic!("expected a decision, got {other:?}"),
    }
}

#[test]
fn identical_decisions_in_one_window_become_one_entry_with_their_count() {
    let tally = DecisionTally::default();
    let step = chrono::Duration::milliseconds(100);
    for i in 0..5 {
        assert!(
            tally
                .record(t0() + step * i, Some("alice"), online())
                .is_none()
        );
    }
    let entries = tally.take();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].at, t0());
    assert_eq!(entries[0].subject.as_ref().unwrap().as_str(), "alice");
    assert_eq!(decision_of(&entries[0].event), online().with_count(5));
    assert!(tally.take().is_empty(), "take leaves the tally empty");
}

#[test]
fn subjects_and_outcomes_are_counted_apart_and_ordered_by_first_decision() {
    let tally = DecisionTally::default();
    let ms = chrono::Duration::milliseconds;
    tally.record(t0(), None, sign_in());
    tally.record(t0() + ms(1), Some("alice"), online());
    tally.record(t0() + ms(2), Some("bob"), online());
    tally.record(t0() + ms(3), Some("alice"), sign_in());
    tally.record(t0() + ms(4), None, sign_in());
    tally.record(t0() + ms(5), Some("alice"), online());
    let entries = tally.take();
    let seen: Vec<(Option<&str>, DecisionRecorded)> = entries
        .iter()
        .map(|e| {
            (
                e.subject.as_ref().map(|s| s.as_str()),
                decision_of(&e.event),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            (None, sign_in().with_count(2)),
            (Some("alice"), online().with_count(2)),
            (Some("bob"), online()),
            (Some("alice"), sign_in()),
        ]
    );
}

#[test]
fn a_decision_after_the_window_returns_everything_counted_including_itself() {
    let tally = DecisionTally::default();
    assert!(tally.record(t0(), Some("alice"), online()).is_none());
    assert!(
        tally
            .record(
                t0() + WINDOW - chrono::Duration::microseconds(1),
                Some("alice"),
                online()
            )
            .is_none()
    );
    let entries = tally
        .record(t0() + WINDOW, Some("alice"), online())
        .unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(decision_of(&entries[0].event).count, 3);
    // The next window opens with the next decision.
    assert!(
        tally
            .record(t0() + WINDOW * 3, Some("alice"), online())
            .is_none()
    );
    assert_eq!(tally.take().len(), 1);
}

#[test]
fn a_full_tally_is_returned_before_the_window_closes() {
    let tally = DecisionTally::default();
    for i in 0..MAX_PENDING - 1 {
        assert!(
            tally
                .record(t0(), Some(&format!("s{i}")), online())
                .is_none()
        );
    }
    let entries = tally.record(t0(), Some("last"), online()).unwrap();
    assert_eq!(entries.len(), MAX_PENDING);
    assert!(tally.take().is_empty());
}

#[tokio::test]
async fn appended_tallies_keep_the_chain_and_their_counts() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let tally = DecisionTally::default();
    for _ in 0..3 {
        tally.record(t0(), Some("alice"), online());
    }
    tally.record(t0(), Some("bob"), sign_in());
    append_all(&store, tally.take()).await;
    let records = store.audit_range(1, 10).await.unwrap();
    assert_eq!(records.len(), 2);
    verify_chain(&records).unwrap();
    let mut counts: Vec<u32> = records
        .iter()
        .map(|r| decision_of(&r.event).count)
        .collect();
    counts.sort_unstable();
    assert_eq!(counts, vec![1, 3]);
}
