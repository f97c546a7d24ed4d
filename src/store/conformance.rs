//! The behaviour every [`Store`] must show, as async checks any implementation's tests call.
//!
//! Each check takes a fresh, empty store and returns `Err(description)` on the first deviation.
//! Run them all with [`run_all`]:
//!
//! ```ignore
//! #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
//! async fn sqlite_store_conforms() {
//!     wardgate::store::conformance::run_all(|| Arc::new(SqliteStore::open_in_memory().unwrap()))
//!         .await
//!         .unwrap();
//! }
//! ```

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone as _, Utc};

use crate::clock::SystemRandom;
use crate::fallback::Ticket;
use crate::fallback::{TicketCode, WardCode};
use crate::policy::{ProcedureCode, ReasonCode};

use crate::assurance::{Level, SourceKind};
use crate::audit::{
    AuditEntry, AuditEvent, ChainHash, CounterOutcome, CounterRecorded, PointRef, ReferralRecorded,
    SubmissionRecorded, verify_chain,
};
use crate::pseudonym::SubjectPseudonym;
use crate::submission::{DossierCode, IdempotencyKey};

use super::{
    Booking, BookingId, BookingRequest, CommitOutcome, Draft, DraftId, OutboxEntry, OutboxStatus,
    OutboxSummary, SlotKey, Store, StoreError, SubmissionCommit, SubmissionRecord,
};

/// Runs every check, each on a fresh store from `make`.
///
/// # Errors
///
/// The name of the first failing check and what went wrong.
pub async fn run_all(make: impl Fn() -> Arc<dyn Store>) -> Result<(), String> {
    books_until_full(make())
        .await
        .map_err(|e| format!("books_until_full: {e}"))?;
    race_for_last_seat(make(), 64)
        .await
        .map_err(|e| format!("race_for_last_seat: {e}"))?;
    cancel_frees_a_seat(make())
        .await
        .map_err(|e| format!("cancel_frees_a_seat: {e}"))?;
    one_active_booking_per_ticket(make())
        .await
        .map_err(|e| format!("one_active_booking_per_ticket: {e}"))?;
    staff_list_by_day_and_point(make())
        .await
        .map_err(|e| format!("staff_list_by_day_and_point: {e}"))?;
    drafts_round_trip_and_expire(make())
        .await
        .map_err(|e| format!("drafts_round_trip_and_expire: {e}"))?;
    tickets_round_trip_and_expire(make())
        .await
        .map_err(|e| format!("tickets_round_trip_and_expire: {e}"))?;
    ticket_owner_round_trips(make())
        .await
        .map_err(|e| format!("ticket_owner_round_trips: {e}"))?;
    ticket_claim_sets_the_owner_once(make())
        .await
        .map_err(|e| format!("ticket_claim_sets_the_owner_once: {e}"))?;
    open_ticket_of_finds_the_owners_newest(make())
        .await
        .map_err(|e| format!("open_ticket_of_finds_the_owners_newest: {e}"))?;
    submission_commit_and_replay(make())
        .await
        .map_err(|e| format!("submission_commit_and_replay: {e}"))?;
    idempotency_race(make(), 32)
        .await
        .map_err(|e| format!("idempotency_race: {e}"))?;
    concurrent_commits_form_one_chain(&[make()], 64)
        .await
        .map_err(|e| format!("concurrent_commits_form_one_chain: {e}"))?;
    outbox_lease_retry_deliver_park(make())
        .await
        .map_err(|e| format!("outbox_lease_retry_deliver_park: {e}"))?;
    outbox_summary_counts_what_waits(make())
        .await
        .map_err(|e| format!("outbox_summary_counts_what_waits: {e}"))?;
    audit_chain_appends_and_pages(make(), 24)
        .await
        .map_err(|e| format!("audit_chain_appends_and_pages: {e}"))?;
    purge_removes_only_what_expired(make())
        .await
        .map_err(|e| format!("purge_removes_only_what_expired: {e}"))?;
    status_reports_are_idempotent(make())
        .await
        .map_err(|e| format!("status_reports_are_idempotent: {e}"))?;
    counter_records_by_ticket(make())
        .await
        .map_err(|e| format!("counter_records_by_ticket: {e}"))?;
    active_booking_by_ticket(make())
        .await
        .map_err(|e| format!("active_booking_by_ticket: {e}"))?;
    moves_race_for_the_last_seat(make(), 16)
        .await
        .map_err(|e| format!("moves_race_for_the_last_seat: {e}"))?;
    one_counter_outcome_per_ticket(make(), 16)
        .await
        .map_err(|e| format!("one_counter_outcome_per_ticket: {e}"))?;
    Ok(())
}

fn check(ok: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if ok { Ok(()) } else { Err(what()) }
}

fn t0() -> Result<DateTime<Utc>, String> {
    // 2026-03-02 01:00 UTC = 08:00 Monday in Vietnam.
    Utc.with_ymd_and_hms(2026, 3, 2, 1, 0, 0)
        .single()
        .ok_or_else(|| "bad fixed time".to_owned())
}

fn ward() -> Result<WardCode, String> {
    WardCode::parse("30316").map_err(|e| e.to_string())
}

fn procedure() -> Result<ProcedureCode, String> {
    ProcedureCode::parse("1.001193").map_err(|e| e.to_string())
}

fn slot_at(point: &str, start: DateTime<Utc>) -> Result<SlotKey, String> {
    Ok(SlotKey {
        ward: ward()?,
        point: point.to_owned(),
        start,
    })
}

fn request(
    slot: &SlotKey,
    capacity: u32,
    ticket: Option<TicketCode>,
) -> Result<BookingRequest, String> {
    Ok(BookingRequest {
        id: BookingId::generate(&SystemRandom::new()).map_err(|e| e.to_string())?,
        slot: slot.clone(),
        capacity,
        procedure: procedure()?,
        ticket,
        now: t0()?,
    })
}

fn code() -> Result<TicketCode, String> {
    TicketCode::generate("TS", &SystemRandom::new()).map_err(|e| e.to_string())
}

/// A ticket for the conformance checks, with a fresh code, at the test ward's centre.
fn stored_ticket(
    procedure: ProcedureCode,
    owner: Option<SubjectPseudonym>,
    issued_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<Ticket, String> {
    Ok(Ticket {
        code: code()?,
        procedure,
        ward: ward()?,
        reception_point: "trung-tam".into(),
        reason: ReasonCode::LevelBelowRequired,
        draft: None,
        issued_at,
        expires_at,
        owner,
    })
}

/// Fills a slot of capacity 3, then the fourth booking fails with `SlotFull`; the booking is
/// readable back.
///
/// # Errors
///
/// What deviated.
pub async fn books_until_full(store: Arc<dyn Store>) -> Result<(), String> {
    let slot = slot_at("trung-tam", t0()? + Duration::hours(2))?;
    let mut first: Option<Booking> = None;
    for _ in 0..3 {
        let booking = store
            .book(&request(&slot, 3, None)?)
            .await
            .map_err(|e| e.to_string())?;
        first.get_or_insert(booking);
    }
    match store.book(&request(&slot, 3, None)?).await {
        Err(StoreError::SlotFull { capacity: 3 }) => {}
        other => return Err(format!("fourth booking: expected slot full, got {other:?}")),
    }
    let taken = store.seats_taken(&slot).await.map_err(|e| e.to_string())?;
    check(taken == 3, || {
        format!("seats taken: expected 3, got {taken}")
    })?;
    let first = first.ok_or("no booking")?;
    let read = store.booking(&first.id).await.map_err(|e| e.to_string())?;
    check(read.as_ref() == Some(&first), || {
        format!("read back {read:?}, expected {first:?}")
    })?;
    let duplicate = store
        .book(&BookingRequest {
            id: first.id.clone(),
            ..request(&slot_at("trung-tam", t0()? + Duration::hours(3))?, 3, None)?
        })
        .await;
    check(matches!(duplicate, Err(StoreError::Duplicate)), || {
        format!("same id twice: expected duplicate, got {duplicate:?}")
    })
}

/// `tasks` concurrent tasks race for the last seat of a slot: exactly one wins, the rest get
/// `SlotFull`, and the slot ends exactly full.
///
/// # Errors
///
/// What deviated.
pub async fn race_for_last_seat(store: Arc<dyn Store>, tasks: usize) -> Result<(), String> {
    let slot = slot_at("trung-tam", t0()? + Duration::hours(4))?;
    let capacity = 5;
    for _ in 0..capacity - 1 {
        store
            .book(&request(&slot, capacity, None)?)
            .await
            .map_err(|e| e.to_string())?;
    }
    let barrier = Arc::new(tokio::sync::Barrier::new(tasks));
    let mut handles = Vec::with_capacity(tasks);
    for _ in 0..tasks {
        let store = Arc::clone(&store);
        let barrier = Arc::clone(&barrier);
        let request = request(&slot, capacity, None)?;
        handles.push(tokio::spawn(async move {
            barrier.wait().await;
            store.book(&request).await
        }));
    }
    let (mut won, mut full) = (0, 0);
    for handle in handles {
        match handle.await.map_err(|e| e.to_string())? {
            Ok(_) => won += 1,
            Err(StoreError::SlotFull { .. }) => full += 1,
            Err(other) => return Err(format!("unexpected error: {other}")),
        }
    }
    check(won == 1, || {
        format!("{won} tasks got the last seat, expected 1")
    })?;
    check(full == tasks - 1, || {
        format!("{full} tasks were refused, expected {}", tasks - 1)
    })?;
    let taken = store.seats_taken(&slot).await.map_err(|e| e.to_string())?;
    check(taken == capacity, || {
        format!("seats taken {taken}, expected {capacity}")
    })
}

/// Cancelling frees the seat for someone else; cancelling twice or an unknown id fails.
///
/// # Errors
///
/// What deviated.
pub async fn cancel_frees_a_seat(store: Arc<dyn Store>) -> Result<(), String> {
    let slot = slot_at("trung-tam", t0()? + Duration::hours(2))?;
    let booking = store
        .book(&request(&slot, 1, None)?)
        .await
        .map_err(|e| e.to_string())?;
    let full = store.book(&request(&slot, 1, None)?).await;
    check(
        matches!(full, Err(StoreError::SlotFull { capacity: 1 })),
        || format!("expected slot full, got {full:?}"),
    )?;
    let later = t0()? + Duration::minutes(5);
    let cancelled = store
        .cancel(&booking.id, later)
        .await
        .map_err(|e| e.to_string())?;
    check(cancelled.cancelled_at == Some(later), || {
        format!("cancelled_at {:?}", cancelled.cancelled_at)
    })?;
    let again = store.cancel(&booking.id, later).await;
    check(matches!(again, Err(StoreError::AlreadyCancelled)), || {
        format!("second cancel: expected already cancelled, got {again:?}")
    })?;
    let unknown = BookingId::from_stored("no-such-booking");
    let missing = store.cancel(&unknown, later).await;
    check(matches!(missing, Err(StoreError::NotFound)), || {
        format!("unknown cancel: expected not found, got {missing:?}")
    })?;
    store
        .book(&request(&slot, 1, None)?)
        .await
        .map_err(|e| format!("rebook: {e}"))?;
    Ok(())
}

/// A ticket holds one active booking; after cancelling it can book again.
///
/// # Errors
///
/// What deviated.
pub async fn one_active_booking_per_ticket(store: Arc<dyn Store>) -> Result<(), String> {
    let ticket = code()?;
    let a = slot_at("trung-tam", t0()? + Duration::hours(2))?;
    let b = slot_at("trung-tam", t0()? + Duration::hours(3))?;
    let first = store
        .book(&request(&a, 5, Some(ticket))?)
        .await
        .map_err(|e| e.to_string())?;
    match store.book(&request(&b, 5, Some(ticket))?).await {
        Err(StoreError::TicketAlreadyBooked { booking }) if booking == first.id => {}
        other => return Err(format!("expected ticket already booked, got {other:?}")),
    }
    store
        .cancel(&first.id, t0()?)
        .await
        .map_err(|e| e.to_string())?;
    store
        .book(&request(&b, 5, Some(ticket))?)
        .await
        .map_err(|e| format!("rebook after cancel: {e}"))?;
    Ok(())
}

/// The staff list shows a day's active bookings of a ward, per point or all, in start order.
///
/// # Errors
///
/// What deviated.
pub async fn staff_list_by_day_and_point(store: Arc<dyn Store>) -> Result<(), String> {
    let day = t0()?
        .with_timezone(&crate::fallback::vietnam())
        .date_naive();
    let late = slot_at("trung-tam", t0()? + Duration::hours(6))?;
    let early = slot_at("trung-tam", t0()? + Duration::hours(1))?;
    let other_point = slot_at("diem-2", t0()? + Duration::hours(2))?;
    // 17:30 UTC = 00:30 the next day in Vietnam: not on this day's list.
    let next_day = slot_at(
        "trung-tam",
        t0()? + Duration::hours(16) + Duration::minutes(30),
    )?;
    let b_late = store
        .book(&request(&late, 5, None)?)
        .await
        .map_err(|e| e.to_string())?;
    let b_early = store
        .book(&request(&early, 5, None)?)
        .await
        .map_err(|e| e.to_string())?;
    let b_other = store
        .book(&request(&other_point, 5, None)?)
        .await
        .map_err(|e| e.to_string())?;
    store
        .book(&request(&next_day, 5, None)?)
        .await
        .map_err(|e| e.to_string())?;
    let cancelled = store
        .book(&request(&early, 5, None)?)
        .await
        .map_err(|e| e.to_string())?;
    store
        .cancel(&cancelled.id, t0()?)
        .await
        .map_err(|e| e.to_string())?;

    let ward = ward()?;
    let centre = store
        .bookings_on(ward, Some("trung-tam"), day)
        .await
        .map_err(|e| e.to_string())?;
    let ids: Vec<_> = centre.iter().map(|b| b.id.clone()).collect();
    check(ids == vec![b_early.id.clone(), b_late.id.clone()], || {
        format!("centre list {ids:?}")
    })?;
    let all = store
        .bookings_on(ward, None, day)
        .await
        .map_err(|e| e.to_string())?;
    let ids: Vec<_> = all.iter().map(|b| b.id.clone()).collect();
    check(ids == vec![b_early.id, b_other.id, b_late.id], || {
        format!("ward list {ids:?}")
    })?;
    let other_ward = WardCode::parse("29950").map_err(|e| e.to_string())?;
    let none = store
        .bookings_on(other_ward, None, day)
        .await
        .map_err(|e| e.to_string())?;
    check(none.is_empty(), || format!("other ward list {none:?}"))
}

/// Drafts save, load, replace, expire and delete.
///
/// # Errors
///
/// What deviated.
pub async fn drafts_round_trip_and_expire(store: Arc<dyn Store>) -> Result<(), String> {
    let now = t0()?;
    let mut draft = Draft::new(
        procedure()?,
        Some(ward()?),
        serde_json::json!({"child_name": "Nguyễn Văn An"}),
        now,
        Duration::days(1),
        &SystemRandom::new(),
    )
    .map_err(|e| e.to_string())?;
    store.save_draft(&draft).await.map_err(|e| e.to_string())?;
    let read = store
        .draft(&draft.id, now)
        .await
        .map_err(|e| e.to_string())?;
    check(read.as_ref() == Some(&draft), || {
        "draft not read back".to_owned()
    })?;
    draft.data = serde_json::json!({"child_name": "Nguyễn Văn Bình"});
    store.save_draft(&draft).await.map_err(|e| e.to_string())?;
    let read = store
        .draft(&draft.id, now)
        .await
        .map_err(|e| e.to_string())?;
    check(read.as_ref() == Some(&draft), || {
        "draft not replaced".to_owned()
    })?;
    let expired = store
        .draft(&draft.id, now + Duration::days(1))
        .await
        .map_err(|e| e.to_string())?;
    check(expired.is_none(), || "expired draft returned".to_owned())?;
    let other = Draft::new(
        procedure()?,
        None,
        serde_json::json!({}),
        now,
        Duration::days(1),
        &SystemRandom::new(),
    )
    .map_err(|e| e.to_string())?;
    store.save_draft(&other).await.map_err(|e| e.to_string())?;
    let deleted = store
        .delete_draft(&other.id)
        .await
        .map_err(|e| e.to_string())?;
    check(deleted, || "delete reported no draft".to_owned())?;
    let gone = store
        .draft(&other.id, now)
        .await
        .map_err(|e| e.to_string())?;
    check(gone.is_none(), || "deleted draft returned".to_owned())?;
    let again = store
        .delete_draft(&other.id)
        .await
        .map_err(|e| e.to_string())?;
    check(!again, || "second delete reported a draft".to_owned())
}

/// Tickets save once, are found by code until they expire.
///
/// # Errors
///
/// What deviated.
pub async fn tickets_round_trip_and_expire(store: Arc<dyn Store>) -> Result<(), String> {
    let now = t0()?;
    let ticket = stored_ticket(procedure()?, None, now, now + Duration::days(14))?;
    store
        .save_ticket(&ticket)
        .await
        .map_err(|e| e.to_string())?;
    let dup = store.save_ticket(&ticket).await;
    check(matches!(dup, Err(StoreError::Duplicate)), || {
        format!("duplicate ticket: {dup:?}")
    })?;
    let read = store
        .ticket(&ticket.code, now)
        .await
        .map_err(|e| e.to_string())?;
    check(read.as_ref() == Some(&ticket), || {
        "ticket not read back".to_owned()
    })?;
    let expired = store
        .ticket(&ticket.code, now + Duration::days(14))
        .await
        .map_err(|e| e.to_string())?;
    check(expired.is_none(), || "expired ticket returned".to_owned())
}

/// A ticket taken signed in reads back with its owner's pseudonym, one taken signed out with
/// none, and neither gets the other's: the portal shows a ticket only to its owner.
///
/// # Errors
///
/// A description of the first deviation.
pub async fn ticket_owner_round_trips(store: Arc<dyn Store>) -> Result<(), String> {
    let now = t0()?;
    let ticket = |owner: Option<SubjectPseudonym>| {
        stored_ticket(procedure()?, owner, now, now + Duration::days(14))
    };
    let owned = ticket(Some(subject("owner-a")))?;
    let unowned = ticket(None)?;
    for saved in [&owned, &unowned] {
        store.save_ticket(saved).await.map_err(|e| e.to_string())?;
    }
    let read_owned = store
        .ticket(&owned.code, now)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "the owned ticket is not read back".to_owned())?;
    check(read_owned.owner == Some(subject("owner-a")), || {
        format!("owner read back as {:?}", read_owned.owner)
    })?;
    check(read_owned == owned, || {
        "the owned ticket reads back changed".to_owned()
    })?;
    check(
        read_owned.open_to(Some(subject("owner-a").as_str()))
            && !read_owned.open_to(Some(subject("owner-b").as_str()))
            && !read_owned.open_to(None),
        || "the owned ticket opens to someone else".to_owned(),
    )?;
    let read_unowned = store
        .ticket(&unowned.code, now)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "the signed-out ticket is not read back".to_owned())?;
    check(read_unowned.owner.is_none(), || {
        format!(
            "a signed-out ticket reads back owned by {:?}",
            read_unowned.owner
        )
    })?;
    check(read_unowned == unowned, || {
        "the signed-out ticket reads back changed".to_owned()
    })
}

/// Claiming a ticket taken signed out makes it its claimer's, once: a second claim, by another
/// resident or the same, changes nothing; of concurrent claims exactly one wins; a ticket taken
/// signed in cannot be claimed; an unknown code is [`StoreError::NotFound`].
///
/// # Errors
///
/// A description of the first deviation.
pub async fn ticket_claim_sets_the_owner_once(store: Arc<dyn Store>) -> Result<(), String> {
    let now = t0()?;
    let ticket = |owner: Option<SubjectPseudonym>| {
        stored_ticket(procedure()?, owner, now, now + Duration::days(14))
    };
    let owner_of = |code: TicketCode| {
        let store = Arc::clone(&store);
        async move {
            store
                .ticket(&code, now)
                .await
                .map_err(|e| e.to_string())?
                .map(|t| t.owner)
                .ok_or_else(|| format!("ticket {code} is not read back"))
        }
    };

    let unowned = ticket(None)?;
    store
        .save_ticket(&unowned)
        .await
        .map_err(|e| e.to_string())?;
    let first = store
        .claim_ticket(&unowned.code, &subject("claimer"))
        .await
        .map_err(|e| format!("first claim: {e}"))?;
    check(first, || "the first claim did not set the owner".to_owned())?;
    let after = owner_of(unowned.code).await?;
    check(after == Some(subject("claimer")), || {
        format!("owner after the claim: {after:?}")
    })?;
    for (who, what) in [
        ("other", "another resident"),
        ("claimer", "the same resident"),
    ] {
        let again = store
            .claim_ticket(&unowned.code, &subject(who))
            .await
            .map_err(|e| format!("a second claim by {what}: {e}"))?;
        check(!again, || format!("a second claim by {what} answered true"))?;
    }
    let kept = owner_of(unowned.code).await?;
    check(kept == Some(subject("claimer")), || {
        format!("a second claim changed the owner to {kept:?}")
    })?;

    let taken_signed_in = ticket(Some(subject("taker")))?;
    store
        .save_ticket(&taken_signed_in)
        .await
        .map_err(|e| e.to_string())?;
    let taken = store
        .claim_ticket(&taken_signed_in.code, &subject("other"))
        .await
        .map_err(|e| format!("claiming a signed-in ticket: {e}"))?;
    let owner = owner_of(taken_signed_in.code).await?;
    check(!taken && owner == Some(subject("taker")), || {
        format!("a ticket taken signed in was claimed: {taken}, owner {owner:?}")
    })?;

    let raced = ticket(None)?;
    store.save_ticket(&raced).await.map_err(|e| e.to_string())?;
    let claims = (0..16).map(|i| {
        let store = Arc::clone(&store);
        let code = raced.code;
        tokio::spawn(async move {
            let owner = subject(&format!("racer-{i}"));
            store
                .claim_ticket(&code, &owner)
                .await
                .map(|won| (won, owner))
        })
    });
    let mut winners = Vec::new();
    for claim in claims.collect::<Vec<_>>() {
        let (won, owner) = claim
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("a racing claim: {e}"))?;
        if won {
            winners.push(owner);
        }
    }
    let owner = owner_of(raced.code).await?;
    check(
        winners.len() == 1 && owner.as_ref() == winners.first(),
        || {
            format!(
                "{} racing claims won; the owner is {owner:?}",
                winners.len()
            )
        },
    )?;

    let unknown = store.claim_ticket(&code()?, &subject("claimer")).await;
    check(matches!(unknown, Err(StoreError::NotFound)), || {
        format!("claiming an unknown code answered {unknown:?}")
    })
}

/// [`Store::open_ticket_of`] finds the owner's newest unexpired ticket for the procedure: not
/// an older one, an expired one, one for another procedure, another owner's, or one taken
/// signed out until it is claimed.
///
/// # Errors
///
/// A description of the first deviation.
pub async fn open_ticket_of_finds_the_owners_newest(store: Arc<dyn Store>) -> Result<(), String> {
    let now = t0()?;
    let birth = procedure()?;
    let residence = ProcedureCode::parse("1.004194").map_err(|e| e.to_string())?;
    let ticket = |owner: Option<&str>,
                  procedure: &ProcedureCode,
                  issued_at: DateTime<Utc>,
                  expires_at: DateTime<Utc>| {
        stored_ticket(*procedure, owner.map(subject), issued_at, expires_at)
    };
    let older = ticket(
        Some("a"),
        &birth,
        now - Duration::days(3),
        now + Duration::days(11),
    )?;
    let newest = ticket(
        Some("a"),
        &birth,
        now - Duration::days(1),
        now + Duration::days(13),
    )?;
    // Issued later than `newest`, but each is ruled out otherwise.
    let expired = ticket(Some("a"), &birth, now - Duration::hours(1), now)?;
    let other_procedure = ticket(Some("a"), &residence, now, now + Duration::days(14))?;
    let other_owner = ticket(Some("b"), &birth, now, now + Duration::days(14))?;
    let signed_out = ticket(None, &birth, now, now + Duration::days(14))?;
    for saved in [
        &older,
        &newest,
        &expired,
        &other_procedure,
        &other_owner,
        &signed_out,
    ] {
        store.save_ticket(saved).await.map_err(|e| e.to_string())?;
    }
    let open = |owner: &'static str, procedure: ProcedureCode, at: DateTime<Utc>| {
        let store = Arc::clone(&store);
        async move {
            store
                .open_ticket_of(&subject(owner), &procedure, at)
                .await
                .map_err(|e| format!("open_ticket_of({owner}): {e}"))
        }
    };

    let found = open("a", birth, now).await?;
    check(found.as_ref() == Some(&newest), || {
        format!(
            "owner a's open ticket is {:?}, not the newest unexpired one {}",
            found.map(|t| t.code),
            newest.code
        )
    })?;
    let found = open("a", residence, now).await?;
    check(found.as_ref() == Some(&other_procedure), || {
        format!(
            "owner a's ticket for the other procedure is {:?}",
            found.map(|t| t.code)
        )
    })?;
    let found = open("b", birth, now).await?;
    check(found.as_ref() == Some(&other_owner), || {
        format!("owner b's open ticket is {:?}", found.map(|t| t.code))
    })?;
    let found = open("a", birth, now + Duration::days(13)).await?;
    check(found.is_none(), || {
        format!(
            "once all of owner a's tickets expired, {:?} is found",
            found.map(|t| t.code)
        )
    })?;
    let found = open("c", birth, now).await?;
    check(found.is_none(), || {
        format!(
            "a resident with no ticket of their own finds {:?}",
            found.map(|t| t.code)
        )
    })?;

    // Once claimed, the ticket taken signed out is its claimer's open ticket.
    store
        .claim_ticket(&signed_out.code, &subject("c"))
        .await
        .map_err(|e| format!("claiming the signed-out ticket: {e}"))?;
    let found = open("c", birth, now).await?;
    check(
        found.as_ref().map(|t| (t.code, t.owner.clone()))
            == Some((signed_out.code, Some(subject("c")))),
        || {
            format!(
                "the claimer's open ticket is {:?}",
                found.map(|t| (t.code, t.owner))
            )
        },
    )
}

fn dossier_code() -> Result<DossierCode, String> {
    let day = t0()?
        .with_timezone(&crate::fallback::vietnam())
        .date_naive();
    DossierCode::generate(ward()?, day, &SystemRandom::new()).map_err(|e| e.to_string())
}

fn subject(name: &str) -> SubjectPseudonym {
    SubjectPseudonym::from_stored(format!("pseudonym-{name}"))
}

fn idempotency_key(key: &str) -> Result<IdempotencyKey, String> {
    IdempotencyKey::parse(key).map_err(|e| e.to_string())
}

/// A commit as the submitter builds it (with a stand-in receipt and envelope: stores treat
/// both as opaque text).
fn commit_for(
    subject: &SubjectPseudonym,
    key: &IdempotencyKey,
    code: DossierCode,
    draft: Option<DraftId>,
    at: DateTime<Utc>,
) -> Result<SubmissionCommit, String> {
    let record = SubmissionRecord::new(
        code,
        subject.clone(),
        key.clone(),
        procedure()?,
        ward()?,
        serde_json::json!({
            "child_name": "Nguyễn Thị Mai",
            "child_birth_date": "2026-02-20",
            "nested": {"b": [1, 2.5, true, null], "a": "ạ"},
        }),
        Level::Two,
        SourceKind::UserinfoClaim,
        at,
        format!("receipt.{code}.signature"),
    );
    let outbox = OutboxEntry::pending(code, format!("envelope.{code}.signature"), at);
    let audit = AuditEntry::new(
        at,
        Some(subject.clone()),
        AuditEvent::Submission(SubmissionRecorded::new(
            code,
            procedure()?,
            ward()?,
            Level::Two,
        )),
    );
    Ok(SubmissionCommit::new(record, outbox, audit, draft))
}

async fn audit_all(store: &dyn Store) -> Result<Vec<crate::audit::AuditRecord>, String> {
    store
        .audit_range(1, 10_000)
        .await
        .map_err(|e| e.to_string())
}

/// A commit writes the record, the outbox entry and the audit record and deletes the draft; a
/// second commit with the same subject and key writes nothing and returns the first record; the
/// same key of another subject is a different submission; a reused dossier code is a duplicate.
/// Times with nanoseconds come back truncated to microseconds, equal to what was built.
///
/// # Errors
///
/// What deviated.
pub async fn submission_commit_and_replay(store: Arc<dyn Store>) -> Result<(), String> {
    // Nanoseconds on purpose: records keep whole microseconds.
    let at = t0()? + Duration::nanoseconds(123_456_789);
    let draft = Draft::new(
        procedure()?,
        Some(ward()?),
        serde_json::json!({"child_name": "Nguyễn Thị Mai"}),
        at,
        Duration::days(14),
        &SystemRandom::new(),
    )
    .map_err(|e| e.to_string())?;
    store.save_draft(&draft).await.map_err(|e| e.to_string())?;
    let alice = subject("alice");
    let key = idempotency_key("5b0c9f1e-2a41-4c55-9d0e-1f6a2b3c4d5e")?;
    let commit = commit_for(&alice, &key, dossier_code()?, Some(draft.id.clone()), at)?;
    let code = commit.record.dossier_code;
    match store
        .commit_submission(&commit)
        .await
        .map_err(|e| e.to_string())?
    {
        CommitOutcome::Created(audit) => {
            check(
                audit.seq == 1 && audit.prev_hash == ChainHash::GENESIS,
                || format!("first audit record {audit:?}"),
            )?;
            check(audit.subject.as_ref() == Some(&alice), || {
                "audit subject".to_owned()
            })?;
        }
        other => return Err(format!("first commit: expected created, got {other:?}")),
    }
    let by_key = store
        .submission_by_key(&alice, &key)
        .await
        .map_err(|e| e.to_string())?;
    check(by_key.as_ref() == Some(&commit.record), || {
        format!("by key: {by_key:?}, expected {:?}", commit.record)
    })?;
    let by_code = store.submission(&code).await.map_err(|e| e.to_string())?;
    check(by_code.as_ref() == Some(&commit.record), || {
        format!("by code: {by_code:?}")
    })?;
    let outbox = store.outbox_entry(&code).await.map_err(|e| e.to_string())?;
    check(outbox.as_ref() == Some(&commit.outbox), || {
        format!("outbox: {outbox:?}, expected {:?}", commit.outbox)
    })?;
    let gone = store
        .draft(&draft.id, at)
        .await
        .map_err(|e| e.to_string())?;
    check(gone.is_none(), || "the draft was not deleted".to_owned())?;

    // Replay: same subject and key, new code: nothing written.
    let replay = commit_for(
        &alice,
        &key,
        dossier_code()?,
        None,
        at + Duration::minutes(1),
    )?;
    match store
        .commit_submission(&replay)
        .await
        .map_err(|e| e.to_string())?
    {
        CommitOutcome::AlreadyExists(existing) if *existing == commit.record => {}
        other => return Err(format!("replay: expected the first record, got {other:?}")),
    }
    let none = store
        .submission(&replay.record.dossier_code)
        .await
        .map_err(|e| e.to_string())?;
    check(none.is_none(), || {
        "the replay wrote a submission".to_owned()
    })?;
    let none = store
        .outbox_entry(&replay.record.dossier_code)
        .await
        .map_err(|e| e.to_string())?;
    check(none.is_none(), || {
        "the replay wrote an outbox entry".to_owned()
    })?;
    let audit = audit_all(store.as_ref()).await?;
    check(audit.len() == 1, || {
        format!("the replay appended audit: {} records", audit.len())
    })?;

    // The same key of another resident is another submission.
    let bob = subject("bob");
    let other = commit_for(&bob, &key, dossier_code()?, None, at)?;
    let outcome = store
        .commit_submission(&other)
        .await
        .map_err(|e| e.to_string())?;
    check(
        matches!(outcome, CommitOutcome::Created(ref r) if r.seq == 2),
        || format!("other subject: {outcome:?}"),
    )?;

    // A reused dossier code under a new key is refused, and nothing is written.
    let clash = commit_for(&alice, &idempotency_key("another-key")?, code, None, at)?;
    let clash_result = store.commit_submission(&clash).await;
    check(matches!(clash_result, Err(StoreError::Duplicate)), || {
        format!("reused dossier code: expected duplicate, got {clash_result:?}")
    })?;
    let none = store
        .submission_by_key(&alice, &clash.record.idempotency_key)
        .await
        .map_err(|e| e.to_string())?;
    check(none.is_none(), || {
        "the refused commit wrote a key".to_owned()
    })?;
    let audit = audit_all(store.as_ref()).await?;
    check(audit.len() == 2, || {
        format!("the refused commit appended audit: {} records", audit.len())
    })?;
    verify_chain(&audit).map_err(|e| e.to_string())?;
    Ok(())
}

/// `tasks` concurrent commits with the same subject and idempotency key (each with its own
/// dossier code): exactly one is created, all others get that one back, and there is exactly one
/// submission, one outbox entry and one audit record.
///
/// # Errors
///
/// What deviated.
pub async fn idempotency_race(store: Arc<dyn Store>, tasks: usize) -> Result<(), String> {
    let alice = subject("alice");
    let key = idempotency_key("double-click")?;
    let barrier = Arc::new(tokio::sync::Barrier::new(tasks));
    let mut handles = Vec::with_capacity(tasks);
    let mut codes = Vec::with_capacity(tasks);
    for _ in 0..tasks {
        let commit = commit_for(&alice, &key, dossier_code()?, None, t0()?)?;
        codes.push(commit.record.dossier_code);
        let store = Arc::clone(&store);
        let barrier = Arc::clone(&barrier);
        handles.push(tokio::spawn(async move {
            barrier.wait().await;
            store
                .commit_submission(&commit)
                .await
                .map(|outcome| (commit.record.dossier_code, outcome))
        }));
    }
    let mut winners = Vec::new();
    let mut returned = Vec::new();
    for handle in handles {
        match handle.await.map_err(|e| e.to_string())? {
            Ok((code, CommitOutcome::Created(_))) => winners.push(code),
            Ok((_, CommitOutcome::AlreadyExists(existing))) => {
                returned.push(existing.dossier_code);
            }
            Err(error) => return Err(format!("unexpected error: {error}")),
        }
    }
    check(winners.len() == 1, || {
        format!("{} commits were created, expected 1", winners.len())
    })?;
    let winner = winners[0];
    check(returned.iter().all(|c| *c == winner), || {
        "a replay returned another record than the winner".to_owned()
    })?;
    let mut stored = 0;
    let mut queued = 0;
    for code in &codes {
        if store
            .submission(code)
            .await
            .map_err(|e| e.to_string())?
            .is_some()
        {
            stored += 1;
        }
        if store
            .outbox_entry(code)
            .await
            .map_err(|e| e.to_string())?
            .is_some()
        {
            queued += 1;
        }
    }
    check(stored == 1 && queued == 1, || {
        format!("{stored} submissions and {queued} outbox entries, expected 1 and 1")
    })?;
    let audit = audit_all(store.as_ref()).await?;
    check(audit.len() == 1, || {
        format!("{} audit records, expected 1", audit.len())
    })
}

/// Many concurrent commits, spread over `stores` (instances sharing one database, or one store),
/// four each per task and every fourth a replay of the one before: every submission is created
/// once, every replay returns the original, and the audit trail is one chain that verifies,
/// with one record per created submission, numbered without gaps, each equal to what its
/// commit returned.
///
/// # Errors
///
/// What deviated.
pub async fn concurrent_commits_form_one_chain(
    stores: &[Arc<dyn Store>],
    tasks: usize,
) -> Result<(), String> {
    let Some(first) = stores.first() else {
        return Err("no store given".to_owned());
    };
    let barrier = Arc::new(tokio::sync::Barrier::new(tasks));
    let mut handles = Vec::with_capacity(tasks);
    for task in 0..tasks {
        let store = Arc::clone(&stores[task % stores.len()]);
        let barrier = Arc::clone(&barrier);
        let who = subject(&format!("resident-{task}"));
        let mut commits = Vec::new();
        for n in 0..3 {
            let key = idempotency_key(&format!("key-{task}-{n}"))?;
            commits.push(commit_for(&who, &key, dossier_code()?, None, t0()?)?);
        }
        // A replay of the last one (same subject and key, a fresh dossier code).
        let last = idempotency_key(&format!("key-{task}-2"))?;
        commits.push(commit_for(&who, &last, dossier_code()?, None, t0()?)?);
        handles.push(tokio::spawn(async move {
            barrier.wait().await;
            let mut outcomes = Vec::new();
            for commit in commits {
                // A dossier code drawn twice is a duplicate: draw again, as the submitter does.
                let mut commit = commit;
                loop {
                    match store.commit_submission(&commit).await {
                        Err(StoreError::Duplicate) => {
                            let at = commit.record.created_at;
                            commit = commit_for(
                                &commit.record.subject,
                                &commit.record.idempotency_key,
                                dossier_code()?,
                                None,
                                at,
                            )?;
                        }
                        outcome => {
                            outcomes.push(outcome.map_err(|e| e.to_string())?);
                            break;
                        }
                    }
                }
            }
            Ok::<_, String>(outcomes)
        }));
    }
    let mut created = Vec::new();
    for handle in handles {
        let outcomes = handle.await.map_err(|e| e.to_string())??;
        let [a, b, c, replay] = <[CommitOutcome; 4]>::try_from(outcomes)
            .map_err(|_| "a task did not answer four commits".to_owned())?;
        let mut records = Vec::new();
        for outcome in [a, b, c] {
            match outcome {
                CommitOutcome::Created(record) => records.push(record),
                CommitOutcome::AlreadyExists(_) => {
                    return Err("a first commit was taken for a replay".to_owned());
                }
            }
        }
        match replay {
            CommitOutcome::AlreadyExists(existing) => {
                let original = records
                    .last()
                    .and_then(|record| match &record.event {
                        AuditEvent::Submission(submission) => Some(submission.dossier_code),
                        _ => None,
                    })
                    .ok_or("the third commit's audit record is not a submission")?;
                check(existing.dossier_code == original, || {
                    "a replay returned another submission than the original".to_owned()
                })?;
            }
            CommitOutcome::Created(_) => return Err("a replay was created again".to_owned()),
        }
        created.extend(records);
    }
    let audit = audit_all(first.as_ref()).await?;
    verify_chain(&audit).map_err(|e| e.to_string())?;
    check(audit.len() == created.len(), || {
        format!(
            "{} audit records for {} created submissions",
            audit.len(),
            created.len()
        )
    })?;
    for (index, record) in audit.iter().enumerate() {
        check(u64::try_from(index + 1).ok() == Some(record.seq), || {
            format!("record {index} has seq {}", record.seq)
        })?;
    }
    created.sort_by_key(|record| record.seq);
    check(created == audit, || {
        "the records commits returned differ from the stored chain".to_owned()
    })
}

/// Commits one submission for each of `names`, a second apart from `now`, so each queues an
/// outbox entry; their dossier codes in order.
async fn commit_one_each(
    store: &dyn Store,
    names: &[&str],
    now: DateTime<Utc>,
) -> Result<Vec<DossierCode>, String> {
    let mut codes = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let at = now + Duration::seconds(i as i64);
        let commit = commit_for(
            &subject(name),
            &idempotency_key(name)?,
            dossier_code()?,
            None,
            at,
        )?;
        codes.push(commit.record.dossier_code);
        store
            .commit_submission(&commit)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(codes)
}

/// The outbox hands out due entries under a lease, keeps rescheduled entries until due, marks
/// delivery once, never hands out delivered or parked entries, and names unknown codes.
///
/// # Errors
///
/// What deviated.
pub async fn outbox_lease_retry_deliver_park(store: Arc<dyn Store>) -> Result<(), String> {
    let now = t0()?;
    let codes = commit_one_each(store.as_ref(), &["a", "b", "c"], now).await?;
    let (a, b, c) = (codes[0], codes[1], codes[2]);
    let later = now + Duration::seconds(10);
    let lease = later + Duration::minutes(5);
    let first = store
        .due_outbox(later, lease, 2)
        .await
        .map_err(|e| e.to_string())?;
    let got: Vec<_> = first.iter().map(|e| e.dossier_code).collect();
    check(got == vec![a, b], || {
        format!("first claim {got:?}, expected [{a}, {b}]")
    })?;
    check(first.iter().all(|e| e.next_attempt_at == lease), || {
        "claimed entries do not show the lease".to_owned()
    })?;
    let second = store
        .due_outbox(later, lease, 10)
        .await
        .map_err(|e| e.to_string())?;
    let got: Vec<_> = second.iter().map(|e| e.dossier_code).collect();
    check(got == vec![c], || {
        format!("second claim {got:?}, expected [{c}]")
    })?;
    let none = store
        .due_outbox(later, lease, 10)
        .await
        .map_err(|e| e.to_string())?;
    check(none.is_empty(), || {
        format!("leased entries handed out again: {none:?}")
    })?;

    // a: delivered once.
    let delivered = store
        .mark_delivered(&a, later)
        .await
        .map_err(|e| e.to_string())?;
    check(delivered, || "first delivery not reported".to_owned())?;
    let again = store
        .mark_delivered(&a, later)
        .await
        .map_err(|e| e.to_string())?;
    check(!again, || "second delivery reported".to_owned())?;
    let entry = store
        .outbox_entry(&a)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("delivered entry missing")?;
    check(
        entry.status == OutboxStatus::Delivered && entry.delivered_at == Some(later),
        || format!("delivered entry {entry:?}"),
    )?;

    // b: failed, retried after a backoff.
    let retry_at = later + Duration::seconds(2);
    store
        .reschedule(&b, retry_at, 1, "http status 503")
        .await
        .map_err(|e| e.to_string())?;
    let early = store
        .due_outbox(retry_at - Duration::seconds(1), lease, 10)
        .await
        .map_err(|e| e.to_string())?;
    check(early.is_empty(), || format!("not yet due: {early:?}"))?;
    let due = store
        .due_outbox(retry_at, retry_at + Duration::minutes(5), 10)
        .await
        .map_err(|e| e.to_string())?;
    check(
        due.len() == 1
            && due[0].dossier_code == b
            && due[0].attempts == 1
            && due[0].last_error.as_deref() == Some("http status 503"),
        || format!("retry claim {due:?}"),
    )?;

    // c: parked for good.
    store
        .park(&c, 1, "http status 422")
        .await
        .map_err(|e| e.to_string())?;
    let parked = store
        .outbox_entry(&c)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("parked entry missing")?;
    check(
        parked.status == OutboxStatus::Parked
            && parked.last_error.as_deref() == Some("http status 422"),
        || format!("parked entry {parked:?}"),
    )?;
    let delivered_parked = store
        .mark_delivered(&c, later)
        .await
        .map_err(|e| e.to_string())?;
    check(!delivered_parked, || {
        "a parked entry was marked delivered".to_owned()
    })?;
    let none = store
        .due_outbox(later + Duration::days(30), later + Duration::days(31), 10)
        .await
        .map_err(|e| e.to_string())?;
    let got: Vec<_> = none.iter().map(|e| e.dossier_code).collect();
    check(got == vec![b], || {
        format!("far future claim {got:?}, expected [{b}]")
    })?;

    let unknown = dossier_code()?;
    let missing = store.mark_delivered(&unknown, later).await;
    check(
        matches!(missing, Err(StoreError::UnknownDossier { code }) if code == unknown),
        || format!("unknown mark_delivered: {missing:?}"),
    )?;
    let missing = store.reschedule(&unknown, later, 1, "x").await;
    check(
        matches!(missing, Err(StoreError::UnknownDossier { .. })),
        || format!("unknown reschedule: {missing:?}"),
    )?;
    let missing = store.park(&unknown, 1, "x").await;
    check(
        matches!(missing, Err(StoreError::UnknownDossier { .. })),
        || format!("unknown park: {missing:?}"),
    )
}

/// The outbox summary counts pending and parked entries and gives the queuing time of the oldest
/// pending one: delivered entries are not counted, a rescheduled or leased entry is still
/// pending and keeps its queuing time, and an empty outbox (or one with everything delivered)
/// has no oldest.
///
/// # Errors
///
/// What deviated.
pub async fn outbox_summary_counts_what_waits(store: Arc<dyn Store>) -> Result<(), String> {
    let now = t0()?;
    let empty = summary_of(store.as_ref()).await?;
    check(empty == OutboxSummary::default(), || {
        format!("empty outbox summarised as {empty:?}")
    })?;
    let codes = commit_one_each(store.as_ref(), &["a", "b", "c", "d"], now).await?;
    let (a, b, c, d) = (codes[0], codes[1], codes[2], codes[3]);
    let expect = |got: OutboxSummary, want: OutboxSummary, when: &str| {
        check(got == want, || {
            format!("{when}: {got:?}, expected {want:?}")
        })
    };
    expect(
        summary_of(store.as_ref()).await?,
        OutboxSummary::new(4, 0, Some(now)),
        "four queued",
    )?;

    let later = now + Duration::seconds(10);
    store
        .mark_delivered(&a, later)
        .await
        .map_err(|e| e.to_string())?;
    expect(
        summary_of(store.as_ref()).await?,
        OutboxSummary::new(3, 0, Some(now + Duration::seconds(1))),
        "the oldest delivered",
    )?;

    store
        .park(&b, 1, "http status 422")
        .await
        .map_err(|e| e.to_string())?;
    store
        .reschedule(&c, later + Duration::minutes(1), 1, "timeout")
        .await
        .map_err(|e| e.to_string())?;
    store
        .due_outbox(
            later + Duration::minutes(1),
            later + Duration::minutes(6),
            10,
        )
        .await
        .map_err(|e| e.to_string())?;
    expect(
        summary_of(store.as_ref()).await?,
        OutboxSummary::new(2, 1, Some(now + Duration::seconds(2))),
        "one parked, one rescheduled and both pending leased",
    )?;

    for code in [c, d] {
        store
            .mark_delivered(&code, later)
            .await
            .map_err(|e| e.to_string())?;
    }
    expect(
        summary_of(store.as_ref()).await?,
        OutboxSummary::new(0, 1, None),
        "everything else delivered",
    )
}

async fn summary_of(store: &dyn Store) -> Result<OutboxSummary, String> {
    store.outbox_summary().await.map_err(|e| e.to_string())
}

/// `tasks` concurrent appends get sequence numbers 1..=tasks without gaps and form one valid
/// chain; pages of `audit_range` and the ward and time filter of `audit_between` return what
/// they should, exactly as stored.
///
/// # Errors
///
/// What deviated.
pub async fn audit_chain_appends_and_pages(
    store: Arc<dyn Store>,
    tasks: usize,
) -> Result<(), String> {
    let other_ward = WardCode::parse("29950").map_err(|e| e.to_string())?;
    let mut handles = Vec::with_capacity(tasks);
    for i in 0..tasks {
        let store = Arc::clone(&store);
        let ward = if i % 2 == 0 { ward()? } else { other_ward };
        let entry = AuditEntry::new(
            t0()? + Duration::minutes(i as i64) + Duration::nanoseconds(999),
            (i % 3 == 0).then(|| subject("carol")),
            AuditEvent::Referral(ReferralRecorded::new(
                procedure()?,
                ReasonCode::ALL[i % ReasonCode::ALL.len()],
                ward,
            )),
        );
        handles.push(tokio::spawn(
            async move { store.append_audit(&entry).await },
        ));
    }
    let mut seqs = Vec::new();
    for handle in handles {
        let record = handle
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        seqs.push(record.seq);
    }
    seqs.sort_unstable();
    let expected: Vec<u64> = (1..=tasks as u64).collect();
    check(seqs == expected, || format!("sequence numbers {seqs:?}"))?;
    let all = audit_all(store.as_ref()).await?;
    let head = verify_chain(&all).map_err(|e| e.to_string())?;
    check(head.seq == tasks as u64, || format!("head {head:?}"))?;

    let page = store.audit_range(5, 3).await.map_err(|e| e.to_string())?;
    let got: Vec<u64> = page.iter().map(|r| r.seq).collect();
    check(got == vec![5, 6, 7], || format!("page {got:?}"))?;
    check(page.as_slice() == &all[4..7], || {
        "page differs from the full read".to_owned()
    })?;

    // Minutes 4..10 of one ward (entries 4, 6 and 8), then only those after the first one's
    // seq. Sequence numbers follow arrival order, which the concurrent appends leave open, so
    // the cut is taken from what the store returned, not fixed in advance.
    let from = t0()? + Duration::minutes(4);
    let to = t0()? + Duration::minutes(10);
    let this_ward = ward()?;
    let in_window = |r: &&crate::audit::AuditRecord| {
        r.at >= from && r.at < to && r.event.ward() == Some(this_ward)
    };
    let between = store
        .audit_between(Some(this_ward), from, to, 0, 100)
        .await
        .map_err(|e| e.to_string())?;
    let expected: Vec<&crate::audit::AuditRecord> = all.iter().filter(in_window).collect();
    check(
        between.iter().collect::<Vec<_>>() == expected && between.len() == 3,
        || format!("between: {between:?}"),
    )?;
    let cut = between.first().map_or(0, |r| r.seq);
    let after = store
        .audit_between(Some(this_ward), from, to, cut, 100)
        .await
        .map_err(|e| e.to_string())?;
    let expected: Vec<&crate::audit::AuditRecord> = all
        .iter()
        .filter(in_window)
        .filter(|r| r.seq > cut)
        .collect();
    check(
        after.iter().collect::<Vec<_>>() == expected && after.len() == 2,
        || format!("between after seq {cut}: {after:?}"),
    )?;
    let any_ward = store
        .audit_between(None, from, to, 0, 2)
        .await
        .map_err(|e| e.to_string())?;
    let got: Vec<u64> = any_ward.iter().map(|r| r.seq).collect();
    let expected: Vec<u64> = all
        .iter()
        .filter(|r| r.at >= from && r.at < to)
        .map(|r| r.seq)
        .take(2)
        .collect();
    check(got == expected, || {
        format!("any ward {got:?}, expected {expected:?}")
    })
}

/// Purging deletes expired drafts and tickets, old bookings and long-delivered outbox entries,
/// and keeps everything else.
///
/// # Errors
///
/// What deviated.
pub async fn purge_removes_only_what_expired(store: Arc<dyn Store>) -> Result<(), String> {
    let now = t0()?;
    let random = SystemRandom::new();
    let make_draft = |ttl| {
        Draft::new(procedure()?, None, serde_json::json!({}), now, ttl, &random)
            .map_err(|e| e.to_string())
    };
    let old_draft = make_draft(Duration::days(1))?;
    let live_draft = make_draft(Duration::days(20))?;
    store
        .save_draft(&old_draft)
        .await
        .map_err(|e| e.to_string())?;
    store
        .save_draft(&live_draft)
        .await
        .map_err(|e| e.to_string())?;
    let ticket = |days| stored_ticket(procedure()?, None, now, now + Duration::days(days));
    let old_ticket = ticket(1)?;
    let live_ticket = ticket(20)?;
    store
        .save_ticket(&old_ticket)
        .await
        .map_err(|e| e.to_string())?;
    store
        .save_ticket(&live_ticket)
        .await
        .map_err(|e| e.to_string())?;
    let old_booking = store
        .book(&request(
            &slot_at("trung-tam", now + Duration::hours(2))?,
            5,
            None,
        )?)
        .await
        .map_err(|e| e.to_string())?;
    let live_booking = store
        .book(&request(
            &slot_at("trung-tam", now + Duration::days(9))?,
            5,
            None,
        )?)
        .await
        .map_err(|e| e.to_string())?;
    let delivered = commit_for(
        &subject("d"),
        &idempotency_key("d")?,
        dossier_code()?,
        None,
        now,
    )?;
    let pending = commit_for(
        &subject("p"),
        &idempotency_key("p")?,
        dossier_code()?,
        None,
        now,
    )?;
    for commit in [&delivered, &pending] {
        store
            .commit_submission(commit)
            .await
            .map_err(|e| e.to_string())?;
    }
    store
        .mark_delivered(&delivered.record.dossier_code, now)
        .await
        .map_err(|e| e.to_string())?;

    let report = store
        .purge_expired(now + Duration::days(10), Duration::days(7))
        .await
        .map_err(|e| e.to_string())?;
    check(
        (
            report.drafts,
            report.tickets,
            report.bookings,
            report.outbox,
        ) == (1, 1, 1, 1),
        || format!("purge report {report:?}"),
    )?;
    let later = now + Duration::days(10);
    check(
        store
            .draft(&live_draft.id, later)
            .await
            .map_err(|e| e.to_string())?
            .is_some(),
        || "live draft purged".to_owned(),
    )?;
    check(
        store
            .ticket(&live_ticket.code, later)
            .await
            .map_err(|e| e.to_string())?
            .is_some(),
        || "live ticket purged".to_owned(),
    )?;
    check(
        store
            .booking(&old_booking.id)
            .await
            .map_err(|e| e.to_string())?
            .is_none(),
        || "old booking kept".to_owned(),
    )?;
    check(
        store
            .booking(&live_booking.id)
            .await
            .map_err(|e| e.to_string())?
            .is_some(),
        || "live booking purged".to_owned(),
    )?;
    check(
        store
            .outbox_entry(&pending.record.dossier_code)
            .await
            .map_err(|e| e.to_string())?
            .is_some(),
        || "pending outbox entry purged".to_owned(),
    )?;
    check(
        store
            .submission(&delivered.record.dossier_code)
            .await
            .map_err(|e| e.to_string())?
            .is_some(),
        || "a submission was purged".to_owned(),
    )?;
    check(audit_all(store.as_ref()).await?.len() == 2, || {
        "audit records were purged".to_owned()
    })
}

/// Back-office status reports: stored once per report id (a retry is `AlreadyRecorded`, the
/// same id with other content a `Conflict` that keeps the first), refused for an unknown dossier,
/// listed oldest first, with times exact to the microsecond.
///
/// # Errors
///
/// What deviated.
pub async fn status_reports_are_idempotent(store: Arc<dyn Store>) -> Result<(), String> {
    use super::{BackOfficeStatus, ReportId, StatusOutcome, StatusReport};
    let at = t0()?;
    let alice = subject("alice");
    let key = idempotency_key("0d1f5a7e-3c2b-4e8f-9a6d-2b7c8e9f0a1b")?;
    let commit = commit_for(&alice, &key, dossier_code()?, None, at)?;
    let code = commit.record.dossier_code;
    store
        .commit_submission(&commit)
        .await
        .map_err(|e| e.to_string())?;
    let id = |text: &str| ReportId::parse(text).map_err(|e| e.to_string());
    let accepted = StatusReport::new(
        id("mc-2026-000001")?,
        code,
        BackOfficeStatus::Accepted,
        at + Duration::minutes(90) + Duration::nanoseconds(1_500),
    );
    let ready = StatusReport::new(
        id("mc-2026-000002")?,
        code,
        BackOfficeStatus::ResultReady,
        at + Duration::days(2),
    );
    // Recorded out of order: listed by the time the back office gives.
    for report in [&ready, &accepted] {
        let outcome = store
            .record_status(report)
            .await
            .map_err(|e| e.to_string())?;
        check(outcome == StatusOutcome::Recorded, || {
            format!("first report {}: {outcome:?}", report.report_id.as_str())
        })?;
    }
    let again = store
        .record_status(&accepted)
        .await
        .map_err(|e| e.to_string())?;
    check(again == StatusOutcome::AlreadyRecorded, || {
        format!("a retried report: {again:?}")
    })?;
    let changed = StatusReport::new(
        accepted.report_id.clone(),
        code,
        BackOfficeStatus::Done,
        at + Duration::days(3),
    );
    let conflict = store
        .record_status(&changed)
        .await
        .map_err(|e| e.to_string())?;
    check(
        conflict == StatusOutcome::Conflict(accepted.clone()),
        || format!("a report id reused for other content: {conflict:?}"),
    )?;
    let listed = store.statuses(&code).await.map_err(|e| e.to_string())?;
    check(listed == [accepted.clone(), ready.clone()], || {
        format!("statuses of the dossier: {listed:?}")
    })?;
    let other = dossier_code()?;
    let stray = StatusReport::new(id("mc-2026-000003")?, other, BackOfficeStatus::Done, at);
    match store.record_status(&stray).await {
        Err(StoreError::UnknownDossier { code: unknown }) if unknown == other => {}
        other => return Err(format!("a report for an unknown dossier: {other:?}")),
    }
    let none = store.statuses(&other).await.map_err(|e| e.to_string())?;
    check(none.is_empty(), || {
        format!("statuses of an unknown dossier: {none:?}")
    })
}

/// A ticket's counter outcomes come back by its code, in sequence order, and nothing else: not
/// another ticket's outcome, not a referral that mentions the same ward.
///
/// # Errors
///
/// What deviated.
pub async fn counter_records_by_ticket(store: Arc<dyn Store>) -> Result<(), String> {
    let (mine, other) = (code()?, code()?);
    let point = PointRef::parse("trung-tam").ok_or("bad point")?;
    let counter =
        |ticket: TicketCode, outcome: CounterOutcome, minutes: i64| -> Result<_, String> {
            Ok(AuditEntry::new(
                t0()? + Duration::minutes(minutes),
                None,
                AuditEvent::Counter(CounterRecorded::new(
                    ward()?,
                    point.clone(),
                    ticket,
                    procedure()?,
                    outcome,
                    None,
                )),
            ))
        };
    check(
        store
            .counter_records(&mine)
            .await
            .map_err(|e| e.to_string())?
            .is_empty(),
        || "records for a ticket nothing was recorded for".to_owned(),
    )?;
    let referral = AuditEntry::new(
        t0()?,
        None,
        AuditEvent::Referral(ReferralRecorded::new(
            procedure()?,
            ReasonCode::LevelBelowRequired,
            ward()?,
        )),
    );
    let entries = [
        counter(mine, CounterOutcome::AttendedNotFiled, 1)?,
        referral,
        counter(other, CounterOutcome::NotNeeded, 2)?,
        counter(mine, CounterOutcome::Received, 3)?,
    ];
    let mut seqs = Vec::new();
    for entry in &entries {
        seqs.push(
            store
                .append_audit(entry)
                .await
                .map_err(|e| e.to_string())?
                .seq,
        );
    }
    let found = store
        .counter_records(&mine)
        .await
        .map_err(|e| e.to_string())?;
    let outcomes: Vec<(u64, Option<CounterOutcome>)> = found
        .iter()
        .map(|r| {
            let outcome = match &r.event {
                AuditEvent::Counter(c) if c.ticket == mine => Some(c.outcome),
                _ => None,
            };
            (r.seq, outcome)
        })
        .collect();
    check(
        outcomes
            == [
                (seqs[0], Some(CounterOutcome::AttendedNotFiled)),
                (seqs[3], Some(CounterOutcome::Received)),
            ],
        || format!("expected the ticket's two outcomes in order, got {outcomes:?}"),
    )?;
    let theirs = store
        .counter_records(&other)
        .await
        .map_err(|e| e.to_string())?;
    check(theirs.len() == 1 && theirs[0].seq == seqs[2], || {
        format!("expected the other ticket's one outcome, got {theirs:?}")
    })
}

/// A ticket's active booking comes back by its code; a cancelled one does not, and the next one
/// does.
///
/// # Errors
///
/// What deviated.
pub async fn active_booking_by_ticket(store: Arc<dyn Store>) -> Result<(), String> {
    let ticket = code()?;
    let found = |store: Arc<dyn Store>| async move {
        store
            .ticket_booking(&ticket)
            .await
            .map_err(|e| e.to_string())
    };
    check(found(Arc::clone(&store)).await?.is_none(), || {
        "a booking for a ticket that booked nothing".to_owned()
    })?;
    let a = slot_at("trung-tam", t0()? + Duration::days(3))?;
    let b = slot_at("trung-tam", t0()? + Duration::days(5))?;
    // Another ticket's booking of the same slot is not this ticket's.
    store
        .book(&request(&a, 5, Some(code()?))?)
        .await
        .map_err(|e| e.to_string())?;
    let first = store
        .book(&request(&a, 5, Some(ticket))?)
        .await
        .map_err(|e| e.to_string())?;
    let got = found(Arc::clone(&store)).await?;
    check(got.as_ref() == Some(&first), || {
        format!("expected {first:?}, got {got:?}")
    })?;
    store
        .cancel(&first.id, t0()?)
        .await
        .map_err(|e| e.to_string())?;
    let got = found(Arc::clone(&store)).await?;
    check(got.is_none(), || {
        format!("a cancelled booking came back: {got:?}")
    })?;
    let second = store
        .book(&request(&b, 5, Some(ticket))?)
        .await
        .map_err(|e| e.to_string())?;
    let got = found(store).await?;
    check(got.as_ref() == Some(&second), || {
        format!("expected {second:?}, got {got:?}")
    })
}

/// `tasks` residents, each holding a booking, move it to the same slot with one seat left at
/// once, while as many new bookings race for that seat too: the slot ends exactly full, one
/// mover at most got it, and every other mover still holds exactly their old booking.
///
/// # Errors
///
/// What deviated.
pub async fn moves_race_for_the_last_seat(
    store: Arc<dyn Store>,
    tasks: usize,
) -> Result<(), String> {
    let target = slot_at("trung-tam", t0()? + Duration::days(2))?;
    let capacity = 3;
    for _ in 0..capacity - 1 {
        store
            .book(&request(&target, capacity, None)?)
            .await
            .map_err(|e| e.to_string())?;
    }
    let mut held = Vec::with_capacity(tasks);
    for i in 0..tasks {
        let hours = i64::try_from(i).map_err(|e| e.to_string())?;
        let slot = slot_at(
            "trung-tam",
            t0()? + Duration::days(3) + Duration::hours(hours),
        )?;
        let ticket = code()?;
        let booking = store
            .book(&request(&slot, 1, Some(ticket))?)
            .await
            .map_err(|e| e.to_string())?;
        held.push((ticket, booking));
    }
    let barrier = Arc::new(tokio::sync::Barrier::new(tasks * 2));
    let mut moves = Vec::with_capacity(tasks);
    let mut books = Vec::with_capacity(tasks);
    for (ticket, old) in &held {
        let (mover, start) = (Arc::clone(&store), Arc::clone(&barrier));
        let (from, to) = (old.id.clone(), request(&target, capacity, Some(*ticket))?);
        moves.push(tokio::spawn(async move {
            start.wait().await;
            mover.move_booking(&from, &to).await
        }));
        let (booker, start) = (Arc::clone(&store), Arc::clone(&barrier));
        let fresh = request(&target, capacity, None)?;
        books.push(tokio::spawn(async move {
            start.wait().await;
            booker.book(&fresh).await
        }));
    }
    let mut moved = Vec::new();
    for (handle, (ticket, old)) in moves.into_iter().zip(&held) {
        match handle.await.map_err(|e| e.to_string())? {
            Ok(booking) => moved.push((*ticket, booking)),
            Err(StoreError::SlotFull { .. }) => {
                let kept = store
                    .ticket_booking(ticket)
                    .await
                    .map_err(|e| e.to_string())?;
                check(kept.as_ref() == Some(old), || {
                    format!("a refused move lost its booking: {kept:?}, expected {old:?}")
                })?;
            }
            Err(other) => return Err(format!("unexpected move error: {other}")),
        }
    }
    let mut booked = 0;
    for handle in books {
        match handle.await.map_err(|e| e.to_string())? {
            Ok(_) => booked += 1,
            Err(StoreError::SlotFull { .. }) => {}
            Err(other) => return Err(format!("unexpected booking error: {other}")),
        }
    }
    check(moved.len() + booked == 1, || {
        format!(
            "{} moves and {booked} bookings got the one seat",
            moved.len()
        )
    })?;
    let taken = store
        .seats_taken(&target)
        .await
        .map_err(|e| e.to_string())?;
    check(taken == capacity, || {
        format!("seats taken {taken}, expected {capacity}")
    })?;
    for (ticket, booking) in &moved {
        let now_held = store
            .ticket_booking(ticket)
            .await
            .map_err(|e| e.to_string())?;
        check(now_held.as_ref() == Some(booking), || {
            format!("the moved ticket holds {now_held:?}, expected {booking:?}")
        })?;
        let old = held
            .iter()
            .find(|(t, _)| t == ticket)
            .map(|(_, b)| b.id.clone())
            .ok_or("a moved ticket that held nothing")?;
        let old = store.booking(&old).await.map_err(|e| e.to_string())?;
        check(old.is_some_and(|b| !b.is_active()), || {
            "the moved booking's old slot is still held".to_owned()
        })?;
    }
    // Moving a booking that is no longer active changes nothing.
    let (ticket, old) = &held[0];
    let current = store
        .ticket_booking(ticket)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the first ticket holds nothing")?;
    if current.id != old.id {
        let again = slot_at("trung-tam", t0()? + Duration::days(4))?;
        match store
            .move_booking(&old.id, &request(&again, 5, Some(*ticket))?)
            .await
        {
            Err(StoreError::AlreadyCancelled) => {}
            other => return Err(format!("expected already cancelled, got {other:?}")),
        }
    }
    Ok(())
}

/// `tasks` officers record an outcome for the same ticket at once: exactly one is appended, the
/// others are told one is there, and the chain stays whole. Another ticket is unaffected.
///
/// # Errors
///
/// What deviated.
pub async fn one_counter_outcome_per_ticket(
    store: Arc<dyn Store>,
    tasks: usize,
) -> Result<(), String> {
    let (ticket, other) = (code()?, code()?);
    let point = PointRef::parse("trung-tam").ok_or("bad point")?;
    let outcome = |ticket: TicketCode| -> Result<AuditEntry, String> {
        Ok(AuditEntry::new(
            t0()?,
            None,
            AuditEvent::Counter(CounterRecorded::new(
                ward()?,
                point.clone(),
                ticket,
                procedure()?,
                CounterOutcome::AttendedNotFiled,
                None,
            )),
        ))
    };
    let barrier = Arc::new(tokio::sync::Barrier::new(tasks));
    let mut handles = Vec::with_capacity(tasks);
    for _ in 0..tasks {
        let (officer, start) = (Arc::clone(&store), Arc::clone(&barrier));
        let entry = outcome(ticket)?;
        handles.push(tokio::spawn(async move {
            start.wait().await;
            officer.append_counter_outcome(&entry).await
        }));
    }
    let mut appended = 0;
    for handle in handles {
        if handle
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?
            .is_some()
        {
            appended += 1;
        }
    }
    check(appended == 1, || {
        format!("{appended} outcomes appended for one ticket, expected 1")
    })?;
    let recorded = store
        .counter_records(&ticket)
        .await
        .map_err(|e| e.to_string())?;
    check(recorded.len() == 1, || {
        format!("{} outcomes stored for one ticket", recorded.len())
    })?;
    let theirs = store
        .append_counter_outcome(&outcome(other)?)
        .await
        .map_err(|e| e.to_string())?;
    check(theirs.is_some(), || {
        "another ticket's first outcome was refused".to_owned()
    })?;
    let all = audit_all(store.as_ref()).await?;
    verify_chain(&all)
        .map(drop)
        .map_err(|e| format!("chain broken: {e}"))
}
