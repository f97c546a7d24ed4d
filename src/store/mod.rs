//! Storage of bookings, drafts and tickets behind one object-safe trait.
//!
//! Rules every [`Store`] implementation enforces (checked by the shared [`conformance`] suite):
//!
//! 1. [`Store::book`] is atomic: it inserts the booking only if the slot has fewer active
//!    bookings than the capacity in the request, so concurrent bookings never overbook.
//! 2. A ticket holds at most one active booking; booking again with it fails with
//!    [`StoreError::TicketAlreadyBooked`] (cancel first to rebook).
//! 3. Cancelling frees the seat; cancelling twice or an unknown booking is an error.
//! 4. Drafts and tickets are not returned after they expire.
//! 5. `Debug` output never shows a draft's content (personal data).
//!
//! [`MemoryStore`] keeps everything in memory (tests, single-instance demos); durable SQLite and
//! PostgreSQL stores implement the same trait and run the same [`conformance`] suite.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use chrono::{TimeZone, Utc};
//! use wardgate::clock::SystemRandom;
//! use wardgate::fallback::WardCode;
//! use wardgate::policy::ProcedureCode;
//! use wardgate::store::{BookingId, BookingRequest, MemoryStore, SlotKey, Store};
//!
//! # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
//! let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
//! let now = Utc.with_ymd_and_hms(2026, 3, 2, 1, 0, 0).single().ok_or("time")?;
//! let request = BookingRequest {
//!     id: BookingId::generate(&SystemRandom::new())?,
//!     slot: SlotKey {
//!         ward: WardCode::parse("30316")?,
//!         point: "trung-tam".into(),
//!         start: now + chrono::Duration::hours(2),
//!     },
//!     capacity: 1,
//!     procedure: ProcedureCode::parse("1.001193")?,
//!     ticket: None,
//!     now,
//! };
//! let booking = store.book(&request).await?;
//! assert_eq!(store.seats_taken(&request.slot).await?, 1);
//! store.cancel(&booking.id, now).await?;
//! assert_eq!(store.seats_taken(&request.slot).await?, 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod memory;
#[cfg(feature = "postgres")]
mod postgres;
mod sql;
#[cfg(feature = "sqlite")]
mod sqlite;

#[doc(hidden)]
pub mod conformance;

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::clock::{Random, RandomError, random_token};
use crate::fallback::Ticket;
use crate::fallback::{TicketCode, WardCode};
use crate::policy::ProcedureCode;

pub use memory::MemoryStore;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use postgres::{PgOptions, PgStore};
pub use sql::open;
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use sqlite::SqliteStore;

/// Where bookings, drafts and tickets live.
///
/// Object-safe, so `Arc<dyn Store>` fits in web framework state. Every method returns a boxed
/// `Send` future.
pub trait Store: fmt::Debug + Send + Sync {
    /// Books a seat in `request.slot` if fewer than `request.capacity` seats are taken.
    ///
    /// # Errors
    ///
    /// [`StoreError::SlotFull`], [`StoreError::TicketAlreadyBooked`], [`StoreError::Duplicate`]
    /// (same booking id), [`StoreError::Backend`].
    fn book<'a>(
        &'a self,
        request: &'a BookingRequest,
    ) -> Pin<Box<dyn Future<Output = Result<Booking, StoreError>> + Send + 'a>>;

    /// Cancels a booking at `now` and returns it.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`], [`StoreError::AlreadyCancelled`], [`StoreError::Backend`].
    fn cancel<'a>(
        &'a self,
        id: &'a BookingId,
        now: DateTime<Utc>,
    ) -> Pin<Box<dyn Future<Output = Result<Booking, StoreError>> + Send + 'a>>;

    /// The booking `id`, active or cancelled.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn booking<'a>(
        &'a self,
        id: &'a BookingId,
    ) -> Pin<Box<dyn Future<Output = Result<Option<Booking>, StoreError>> + Send + 'a>>;

    /// Active bookings of `slot`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn seats_taken<'a>(
        &'a self,
        slot: &'a SlotKey,
    ) -> Pin<Box<dyn Future<Output = Result<u32, StoreError>> + Send + 'a>>;

    /// Active bookings of a ward on local `day` (Vietnam time), at one point or all; sorted by
    /// start, then by booking time. The staff list.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn bookings_on<'a>(
        &'a self,
        ward: WardCode,
        point: Option<&'a str>,
        day: NaiveDate,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<Booking>, StoreError>> + Send + 'a>>;

    /// Saves (inserts or replaces) a draft.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn save_draft<'a>(
        &'a self,
        draft: &'a Draft,
    ) -> Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send + 'a>>;

    /// The draft `id` if it has not expired at `now`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn draft<'a>(
        &'a self,
        id: &'a DraftId,
        now: DateTime<Utc>,
    ) -> Pin<Box<dyn Future<Output = Result<Option<Draft>, StoreError>> + Send + 'a>>;

    /// Deletes a draft; whether there was one.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn delete_draft<'a>(
        &'a self,
        id: &'a DraftId,
    ) -> Pin<Box<dyn Future<Output = Result<bool, StoreError>> + Send + 'a>>;

    /// Saves a ticket so that its typed code can be looked up.
    ///
    /// # Errors
    ///
    /// [`StoreError::Duplicate`] when the code exists, [`StoreError::Backend`].
    fn save_ticket<'a>(
        &'a self,
        ticket: &'a Ticket,
    ) -> Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send + 'a>>;

    /// The ticket with `code` if it has not expired at `now`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn ticket<'a>(
        &'a self,
        code: &'a TicketCode,
        now: DateTime<Utc>,
    ) -> Pin<Box<dyn Future<Output = Result<Option<Ticket>, StoreError>> + Send + 'a>>;
}

/// A booking id: 16 random bytes, base64url.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct BookingId(String);

impl BookingId {
    /// A fresh random id.
    ///
    /// # Errors
    ///
    /// [`RandomError`] when the generator fails.
    pub fn generate(random: &dyn Random) -> Result<Self, RandomError> {
        random_token::<16>(random).map(Self)
    }

    /// An id as stored (for stores reading their rows back).
    pub fn from_stored(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BookingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A draft id: 16 random bytes, base64url.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DraftId(String);

impl DraftId {
    /// A fresh random id.
    ///
    /// # Errors
    ///
    /// [`RandomError`] when the generator fails.
    pub fn generate(random: &dyn Random) -> Result<Self, RandomError> {
        random_token::<16>(random).map(Self)
    }

    /// An id as stored or received.
    pub fn from_stored(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DraftId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One bookable slot: ward, point and start time.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SlotKey {
    /// The ward.
    pub ward: WardCode,
    /// The service point id.
    pub point: String,
    /// When the slot starts.
    pub start: DateTime<Utc>,
}

/// A request to book a seat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BookingRequest {
    /// The id the booking gets.
    pub id: BookingId,
    /// The slot.
    pub slot: SlotKey,
    /// Seats in the slot.
    pub capacity: u32,
    /// The procedure the resident comes for.
    pub procedure: ProcedureCode,
    /// The resident's ticket, if any.
    pub ticket: Option<TicketCode>,
    /// The time of booking.
    pub now: DateTime<Utc>,
}

/// A booked seat. Holds no personal data: the ticket links to the resident's draft.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Booking {
    /// Id.
    pub id: BookingId,
    /// The slot.
    pub slot: SlotKey,
    /// The procedure.
    pub procedure: ProcedureCode,
    /// The resident's ticket, if any.
    pub ticket: Option<TicketCode>,
    /// When booked.
    pub created_at: DateTime<Utc>,
    /// When cancelled, if it was.
    pub cancelled_at: Option<DateTime<Utc>>,
}

impl Booking {
    /// The booking a store inserts for `request`.
    pub fn from_request(request: &BookingRequest) -> Self {
        Self {
            id: request.id.clone(),
            slot: request.slot.clone(),
            procedure: request.procedure,
            ticket: request.ticket,
            created_at: request.now,
            cancelled_at: None,
        }
    }

    /// Whether not cancelled.
    pub fn is_active(&self) -> bool {
        self.cancelled_at.is_none()
    }
}

/// A resident's saved, unfinished dossier, so the counter does not retype it.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Draft {
    /// Id.
    pub id: DraftId,
    /// The procedure.
    pub procedure: ProcedureCode,
    /// The resident's ward, if known.
    pub ward: Option<WardCode>,
    /// The dossier so far (personal data: never logged).
    pub data: serde_json::Value,
    /// When saved.
    pub saved_at: DateTime<Utc>,
    /// When it is deleted.
    pub expires_at: DateTime<Utc>,
}

impl Draft {
    /// A new draft with a fresh id, kept for `ttl`.
    ///
    /// # Errors
    ///
    /// [`RandomError`] when the generator fails.
    pub fn new(
        procedure: ProcedureCode,
        ward: Option<WardCode>,
        data: serde_json::Value,
        now: DateTime<Utc>,
        ttl: chrono::Duration,
        random: &dyn Random,
    ) -> Result<Self, RandomError> {
        Ok(Self {
            id: DraftId::generate(random)?,
            procedure,
            ward,
            data,
            saved_at: now,
            expires_at: now + ttl,
        })
    }

    /// Keeps the draft at least until `until` (call with the ticket's expiry).
    #[must_use]
    pub fn keep_until(mut self, until: DateTime<Utc>) -> Self {
        self.expires_at = self.expires_at.max(until);
        self
    }
}

impl fmt::Debug for Draft {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Draft")
            .field("id", &self.id)
            .field("procedure", &self.procedure)
            .field("ward", &self.ward)
            .field("data", &"[redacted]")
            .field("saved_at", &self.saved_at)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// A storage operation failed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// All seats of the slot are taken.
    #[error("the slot is full: all {capacity} seats are taken")]
    SlotFull {
        /// Seats in the slot.
        capacity: u32,
    },
    /// The ticket already holds an active booking.
    #[error("the ticket already holds booking `{booking}`")]
    TicketAlreadyBooked {
        /// The existing booking.
        booking: BookingId,
    },
    /// A record with the same id or code exists.
    #[error("a record with the same id already exists")]
    Duplicate,
    /// No such booking.
    #[error("no such booking")]
    NotFound,
    /// The booking was already cancelled.
    #[error("the booking was already cancelled")]
    AlreadyCancelled,
    /// The storage backend failed.
    #[error("the storage backend failed: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The store URL or options are malformed.
    #[error("invalid store configuration: {reason}")]
    BadConfig {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The store URL names a scheme wardgate has no backend for.
    #[error(
        "unsupported store url scheme `{scheme}`: expected `sqlite://`, `postgres://` or `postgresql://`"
    )]
    UnsupportedScheme {
        /// The scheme, lowercased.
        scheme: String,
    },
    /// The backend the URL names was left out of this build.
    #[error("the `{feature}` store backend is not compiled in: enable the crate feature `{feature}`")]
    BackendNotCompiled {
        /// The crate feature to enable.
        feature: &'static str,
    },
    /// The database was migrated by a newer wardgate.
    #[error(
        "the database schema is at version {found}, newer than version {known} that this wardgate knows: upgrade wardgate"
    )]
    SchemaTooNew {
        /// The version in the database.
        found: i64,
        /// The newest version this build knows.
        known: i64,
    },
}

/// The UTC bounds `[start, end)` of local `day` in Vietnam.
pub fn day_bounds(day: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    use chrono::TimeZone as _;
    let tz = crate::fallback::vietnam();
    let start = tz
        .from_local_datetime(&day.and_time(chrono::NaiveTime::MIN))
        .single()
        .map_or(DateTime::<Utc>::MIN_UTC, |t| t.with_timezone(&Utc));
    (start, start + chrono::Duration::days(1))
}
