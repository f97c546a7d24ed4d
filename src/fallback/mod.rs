//! Fallback routing to in-person service: the directory of wards, the referral, slot booking
//! and the resumable ticket.
//!
//! Rules this module enforces:
//!
//! 1. Wards are keyed by their 5-digit commune-level code (Decision 19/2025/QĐ-TTg); the
//!    directory is validated at load and errors name the file, the ward and the field.
//! 2. Times are Vietnam local time (UTC+7, no daylight saving); a place is closed on the file's
//!    public holidays and the ward's own closed days.
//! 3. A referral always names a place, its hours and next opening, what to bring, the reason in
//!    Vietnamese and English, how to get level 2 at the commune police (about
//!    [`LEVEL2_WORKING_DAYS`] working days) and where to get help.
//! 4. Slots come only from opening hours; booking goes through [`Store::book`](crate::store::Store::book), which never
//!    overbooks.
//! 5. A ticket code has a check symbol that catches any single typo and any swap of two
//!    symbols; the signed ticket (Ed25519 compact JWS, in the QR code) verifies offline with
//!    the public key and expires (default [`DEFAULT_VALIDITY_DAYS`] days). Tickets and bookings
//!    hold no personal data; the dossier stays in the draft.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use chrono::{TimeZone, Utc};
//! use wardgate::clock::SystemRandom;
//! use wardgate::fallback::{self, Directory, Referral, TicketCode, TicketIssuer, TicketVerifier, WardCode};
//! use wardgate::keys::SigningKey;
//! use wardgate::policy::{decide, Catalog, Context, Decision, LoginFailure};
//! use wardgate::store::{Draft, MemoryStore, Store};
//!
//! # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
//! let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/samples");
//! let catalog = Catalog::load(format!("{dir}/catalog.toml"))?;
//! let directory = Directory::load(format!("{dir}/wards.toml"))?;
//! let store = MemoryStore::new();
//! let random = SystemRandom::new();
//! // Monday 2 March 2026, 08:00 in Vietnam.
//! let now = Utc.with_ymd_and_hms(2026, 3, 2, 1, 0, 0).single().ok_or("time")?;
//!
//! let procedure = catalog.procedure("1.001193").ok_or("no such procedure")?;
//! let ward = WardCode::parse("30316")?;
//! let ctx = Context::new(now).with_ward(ward).with_last_login(Some(LoginFailure::NoEid));
//! let Decision::InPerson(route) = decide(procedure, None, &ctx) else { panic!() };
//!
//! let referral = Referral::build(&directory, procedure, &route, now)?;
//! assert!(referral.reason_text.vi.contains("mức độ 2"));
//! assert!(referral.point.open_now);
//!
//! // Save the resident's draft, issue the ticket, keep the draft as long as the ticket.
//! let draft = Draft::new(procedure.code(), Some(ward), procedure.example(), now,
//!     chrono::Duration::days(1), &random)?;
//! let (key, _pkcs8) = SigningKey::generate(&random)?;
//! let key = Arc::new(key);
//! let signed = TicketIssuer::new(Arc::clone(&key)).issue(&referral, Some(draft.id.clone()), now, &random)?;
//! store.save_draft(&draft.keep_until(signed.ticket.expires_at)).await?;
//! store.save_ticket(&signed.ticket).await?;
//! assert!(signed.qr_svg()?.starts_with("<?xml"));
//!
//! // Book the first free slot tomorrow.
//! let ward_entry = directory.ward(ward).ok_or("no ward")?;
//! let tomorrow = now.with_timezone(&fallback::vietnam()).date_naive().succ_opt().ok_or("date")?;
//! let point = ward_entry.point(&referral.point.id).ok_or("no point")?;
//! let slots = fallback::available_slots(&store, ward_entry, point, tomorrow, now).await?;
//! let booking = fallback::book(&store, ward_entry, &point.id, slots[0].slot.start.to_utc(),
//!     procedure.code(), Some(signed.ticket.code), now, &random).await?;
//! assert_eq!(booking.ticket, Some(signed.ticket.code));
//!
//! // At the counter: the typed code, or the QR code verified offline.
//! let typed = TicketCode::parse(&signed.ticket.code.to_string().to_lowercase())?;
//! let ticket = store.ticket(&typed, now).await?.ok_or("no ticket")?;
//! let offline = TicketVerifier::from_jwks(&key.jwks())?.verify(&signed.jws, now)?;
//! assert_eq!(ticket, offline);
//! let draft = store.draft(ticket.draft.as_ref().ok_or("no draft")?, now).await?;
//! assert!(draft.is_some());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod booking;
pub mod calendar;
mod directory;
mod referral;
pub(crate) mod ticket;

#[cfg(test)]
mod tests;

pub use booking::{
    BookingError, Slot, SlotAvailability, available_slots, book, move_booking, slots_on,
};
pub use directory::{
    Directory, DirectoryError, HelpDesk, Interval, POLICE_POINT_ID, PointKind, PolicePost,
    ServicePoint, Ward, WardCode, WeeklyHours, vietnam,
};
pub use referral::{
    DayHours, HelpInfo, LEVEL2_WORKING_DAYS, Level2Info, PointInfo, ProcedureInfo, Referral,
    ReferralError, WardInfo, day_hours,
};
pub use ticket::{
    ALPHABET, DEFAULT_VALIDITY_DAYS, SignedTicket, TICKET_JWS_TYPE, Ticket, TicketCode,
    TicketError, TicketIssuer, TicketVerifier,
};
