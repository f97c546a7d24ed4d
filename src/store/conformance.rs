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

use super::{Booking, BookingId, BookingRequest, Draft, SlotKey, Store, StoreError};

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
    let ticket = Ticket {
        code: code()?,
        procedure: procedure()?,
        ward: ward()?,
        reception_point: "trung-tam".into(),
        reason: ReasonCode::NoEid,
        draft: None,
        issued_at: now,
        expires_at: now + Duration::days(14),
    };
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
