//! In-memory [`Store`].

use std::collections::HashMap;
use std::future::{Future, ready};
use std::pin::Pin;
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, NaiveDate, Utc};

use crate::fallback::Ticket;
use crate::fallback::{TicketCode, WardCode};

use super::{
    Booking, BookingId, BookingRequest, Draft, DraftId, SlotKey, Store, StoreError, day_bounds,
};

/// A [`Store`] in memory, behind one mutex (so booking is atomic). Lost on restart.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    bookings: HashMap<BookingId, Booking>,
    drafts: HashMap<DraftId, Draft>,
    tickets: HashMap<TicketCode, Ticket>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field("bookings", &self.bookings.len())
            .field("drafts", &self.drafts.len())
            .field("tickets", &self.tickets.len())
            .finish()
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<MutexGuard<'_, Inner>, StoreError> {
        self.inner
            .lock()
            .map_err(|_| StoreError::Backend("the memory store lock is poisoned".into()))
    }

    fn book_now(&self, request: &BookingRequest) -> Result<Booking, StoreError> {
        let mut inner = self.lock()?;
        if inner.bookings.contains_key(&request.id) {
            return Err(StoreError::Duplicate);
        }
        if let Some(ticket) = request.ticket {
            if let Some(existing) = inner
                .bookings
                .values()
                .find(|b| b.is_active() && b.ticket == Some(ticket))
            {
                return Err(StoreError::TicketAlreadyBooked {
                    booking: existing.id.clone(),
                });
            }
        }
        let taken = count(&inner, &request.slot);
        if taken >= request.capacity {
            return Err(StoreError::SlotFull {
                capacity: request.capacity,
            });
        }
        let booking = Booking::from_request(request);
        inner.bookings.insert(booking.id.clone(), booking.clone());
        Ok(booking)
    }

    fn cancel_now(&self, id: &BookingId, now: DateTime<Utc>) -> Result<Booking, StoreError> {
        let mut inner = self.lock()?;
        let booking = inner.bookings.get_mut(id).ok_or(StoreError::NotFound)?;
        if !booking.is_active() {
            return Err(StoreError::AlreadyCancelled);
        }
        booking.cancelled_at = Some(now);
        Ok(booking.clone())
    }

    fn bookings_on_now(
        &self,
        ward: WardCode,
        point: Option<&str>,
        day: NaiveDate,
    ) -> Result<Vec<Booking>, StoreError> {
        let (from, to) = day_bounds(day);
        let inner = self.lock()?;
        let mut list: Vec<Booking> = inner
            .bookings
            .values()
            .filter(|b| {
                b.is_active()
                    && b.slot.ward == ward
                    && point.is_none_or(|p| b.slot.point == p)
                    && b.slot.start >= from
                    && b.slot.start < to
            })
            .cloned()
            .collect();
        list.sort_by(|a, b| {
            (a.slot.start, a.created_at, &a.id).cmp(&(b.slot.start, b.created_at, &b.id))
        });
        Ok(list)
    }
}

fn count(inner: &Inner, slot: &SlotKey) -> u32 {
    let n = inner
        .bookings
        .values()
        .filter(|b| b.is_active() && &b.slot == slot)
        .count();
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl Store for MemoryStore {
    fn book<'a>(
        &'a self,
        request: &'a BookingRequest,
    ) -> Pin<Box<dyn Future<Output = Result<Booking, StoreError>> + Send + 'a>> {
        Box::pin(ready(self.book_now(request)))
    }

    fn cancel<'a>(
        &'a self,
        id: &'a BookingId,
        now: DateTime<Utc>,
    ) -> Pin<Box<dyn Future<Output = Result<Booking, StoreError>> + Send + 'a>> {
        Box::pin(ready(self.cancel_now(id, now)))
    }

    fn booking<'a>(
        &'a self,
        id: &'a BookingId,
    ) -> Pin<Box<dyn Future<Output = Result<Option<Booking>, StoreError>> + Send + 'a>> {
        Box::pin(ready(
            self.lock().map(|inner| inner.bookings.get(id).cloned()),
        ))
    }

    fn seats_taken<'a>(
        &'a self,
        slot: &'a SlotKey,
    ) -> Pin<Box<dyn Future<Output = Result<u32, StoreError>> + Send + 'a>> {
        Box::pin(ready(self.lock().map(|inner| count(&inner, slot))))
    }

    fn bookings_on<'a>(
        &'a self,
        ward: WardCode,
        point: Option<&'a str>,
        day: NaiveDate,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<Booking>, StoreError>> + Send + 'a>> {
        Box::pin(ready(self.bookings_on_now(ward, point, day)))
    }

    fn save_draft<'a>(
        &'a self,
        draft: &'a Draft,
    ) -> Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send + 'a>> {
        Box::pin(ready(self.lock().map(|mut inner| {
            inner.drafts.insert(draft.id.clone(), draft.clone());
        })))
    }

    fn draft<'a>(
        &'a self,
        id: &'a DraftId,
        now: DateTime<Utc>,
    ) -> Pin<Box<dyn Future<Output = Result<Option<Draft>, StoreError>> + Send + 'a>> {
        Box::pin(ready(self.lock().map(|mut inner| {
            let expired = inner.drafts.get(id).is_some_and(|d| now >= d.expires_at);
            if expired {
                inner.drafts.remove(id);
                None
            } else {
                inner.drafts.get(id).cloned()
            }
        })))
    }

    fn delete_draft<'a>(
        &'a self,
        id: &'a DraftId,
    ) -> Pin<Box<dyn Future<Output = Result<bool, StoreError>> + Send + 'a>> {
        Box::pin(ready(
            self.lock()
                .map(|mut inner| inner.drafts.remove(id).is_some()),
        ))
    }

    fn save_ticket<'a>(
        &'a self,
        ticket: &'a Ticket,
    ) -> Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send + 'a>> {
        Box::pin(ready(self.lock().and_then(|mut inner| {
            if inner.tickets.contains_key(&ticket.code) {
                return Err(StoreError::Duplicate);
            }
            inner.tickets.insert(ticket.code, ticket.clone());
            Ok(())
        })))
    }

    fn ticket<'a>(
        &'a self,
        code: &'a TicketCode,
        now: DateTime<Utc>,
    ) -> Pin<Box<dyn Future<Output = Result<Option<Ticket>, StoreError>> + Send + 'a>> {
        Box::pin(ready(self.lock().map(|inner| {
            inner
                .tickets
                .get(code)
                .filter(|t| now < t.expires_at)
                .cloned()
        })))
    }
}
