//! Slots derived from opening hours, and booking them through a [`Store`].

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, Utc};
use serde::Serialize;

use crate::clock::Random;
use crate::policy::ProcedureCode;
use crate::store::{Booking, BookingId, BookingRequest, SlotKey, Store, StoreError};

use super::TicketCode;
use super::directory::{ServicePoint, Ward, vietnam};

/// A bookable slot of a service point.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Slot {
    /// Start (Vietnam time).
    pub start: DateTime<FixedOffset>,
    /// End (Vietnam time).
    pub end: DateTime<FixedOffset>,
    /// Seats.
    pub capacity: u32,
}

/// A slot with its free seats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SlotAvailability {
    /// The slot.
    pub slot: Slot,
    /// Seats taken.
    pub taken: u32,
    /// Seats left.
    pub free: u32,
}

/// The slots of `point` on local `date`: each opening interval cut into whole slots of the
/// point's length (a remainder shorter than a slot is not bookable); none on holidays or when
/// the point takes no bookings.
pub fn slots_on(ward: &Ward, point: &ServicePoint, date: NaiveDate) -> Vec<Slot> {
    let (Some(minutes), Some(capacity)) = (point.slot_minutes, point.slot_capacity) else {
        return Vec::new();
    };
    let length = Duration::minutes(i64::from(minutes));
    let tz = vietnam();
    let mut slots = Vec::new();
    for (open, close) in point.hours.intervals_on(date, ward.holidays()) {
        let mut start = open;
        while start + length <= close {
            slots.push(Slot {
                start: start.with_timezone(&tz),
                end: (start + length).with_timezone(&tz),
                capacity,
            });
            start += length;
        }
    }
    slots
}

/// The slots of `point` on `date` that start after `now`, with free seats.
///
/// # Errors
///
/// [`BookingError::Store`].
pub async fn available_slots(
    store: &dyn Store,
    ward: &Ward,
    point: &ServicePoint,
    date: NaiveDate,
    now: DateTime<Utc>,
) -> Result<Vec<SlotAvailability>, BookingError> {
    let slots = slots_on(ward, point, date);
    if slots.is_empty() {
        return Ok(Vec::new());
    }
    let booked = store
        .bookings_on(ward.code, Some(&point.id), date)
        .await
        .map_err(BookingError::Store)?;
    Ok(slots
        .into_iter()
        .filter(|s| s.start > now)
        .map(|slot| {
            let n = booked.iter().filter(|b| b.slot.start == slot.start).count();
            let taken = u32::try_from(n).unwrap_or(u32::MAX);
            SlotAvailability {
                slot,
                taken,
                free: slot.capacity.saturating_sub(taken),
            }
        })
        .collect())
}

/// Books a seat at `point_id` of `ward` in the slot starting at `start`.
///
/// # Errors
///
/// [`BookingError::UnknownPoint`], [`BookingError::NotOffered`], [`BookingError::NotASlot`]
/// (no slot starts then), [`BookingError::InThePast`], [`BookingError::Full`],
/// [`BookingError::TicketAlreadyBooked`], [`BookingError::Random`], [`BookingError::Store`].
#[expect(
    clippy::too_many_arguments,
    reason = "each argument is a distinct fact of the booking"
)]
pub async fn book(
    store: &dyn Store,
    ward: &Ward,
    point_id: &str,
    start: DateTime<Utc>,
    procedure: ProcedureCode,
    ticket: Option<TicketCode>,
    now: DateTime<Utc>,
    random: &dyn Random,
) -> Result<Booking, BookingError> {
    let slot = Wanted {
        ward,
        point_id,
        start,
    };
    book_or_move(store, None, &slot, procedure, ticket, now, random).await
}

/// Moves the active booking `from` to the slot starting at `start` at `point_id`, in one store
/// step ([`Store::move_booking`]): when the new slot is taken in between, `from` stays booked.
///
/// # Errors
///
/// As [`book`]; [`BookingError::Store`] with [`StoreError::NotFound`] or
/// [`StoreError::AlreadyCancelled`] when `from` is not an active booking.
#[expect(
    clippy::too_many_arguments,
    reason = "each argument is a distinct fact of the move"
)]
pub async fn move_booking(
    store: &dyn Store,
    from: &BookingId,
    ward: &Ward,
    point_id: &str,
    start: DateTime<Utc>,
    procedure: ProcedureCode,
    ticket: Option<TicketCode>,
    now: DateTime<Utc>,
    random: &dyn Random,
) -> Result<Booking, BookingError> {
    let slot = Wanted {
        ward,
        point_id,
        start,
    };
    book_or_move(store, Some(from), &slot, procedure, ticket, now, random).await
}

/// The slot a resident asked for.
#[derive(Clone, Copy)]
struct Wanted<'a> {
    ward: &'a Ward,
    point_id: &'a str,
    start: DateTime<Utc>,
}

async fn book_or_move(
    store: &dyn Store,
    moving: Option<&BookingId>,
    wanted: &Wanted<'_>,
    procedure: ProcedureCode,
    ticket: Option<TicketCode>,
    now: DateTime<Utc>,
    random: &dyn Random,
) -> Result<Booking, BookingError> {
    let Wanted {
        ward,
        point_id,
        start,
    } = *wanted;
    let point = ward
        .point(point_id)
        .ok_or_else(|| BookingError::UnknownPoint {
            point: point_id.to_owned(),
        })?;
    if !point.offers_booking() {
        return Err(BookingError::NotOffered);
    }
    if start <= now {
        return Err(BookingError::InThePast);
    }
    let date = start.with_timezone(&vietnam()).date_naive();
    let slot = slots_on(ward, point, date)
        .into_iter()
        .find(|s| s.start == start)
        .ok_or(BookingError::NotASlot)?;
    let request = BookingRequest {
        id: BookingId::generate(random).map_err(|_| BookingError::Random)?,
        slot: SlotKey {
            ward: ward.code,
            point: point.id.clone(),
            start,
        },
        capacity: slot.capacity,
        procedure,
        ticket,
        now,
    };
    match moving {
        Some(from) => store.move_booking(from, &request).await,
        None => store.book(&request).await,
    }
    .map_err(|error| match error {
        StoreError::SlotFull { capacity } => BookingError::Full { capacity },
        StoreError::TicketAlreadyBooked { booking } => {
            BookingError::TicketAlreadyBooked { booking }
        }
        other => BookingError::Store(other),
    })
}

/// Booking failed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum BookingError {
    /// No such service point in the ward.
    #[error("service point `{point}` is not in the ward")]
    UnknownPoint {
        /// The id given.
        point: String,
    },
    /// The point takes no bookings.
    #[error("this service point takes no bookings")]
    NotOffered,
    /// No slot starts at the time given.
    #[error("no slot starts at the time given")]
    NotASlot,
    /// The slot has started or passed.
    #[error("the slot has already started")]
    InThePast,
    /// All seats are taken.
    #[error("the slot is full: all {capacity} seats are taken")]
    Full {
        /// Seats in the slot.
        capacity: u32,
    },
    /// The ticket already holds a booking.
    #[error("the ticket already holds booking `{booking}`")]
    TicketAlreadyBooked {
        /// The existing booking.
        booking: BookingId,
    },
    /// The random generator failed.
    #[error("the random generator failed while making a booking id")]
    Random,
    /// The store failed.
    #[error("storing the booking failed: {0}")]
    Store(#[source] StoreError),
}
