//! Bookings of a referral's ticket: the booking form, the confirmation, cancelling and moving.
//!
//! Rules this module enforces:
//!
//! 1. Every booking form carries the ticket's form token ([`Gateway::ticket_form_token`]): a
//!    value sealed for this ticket's code, so a page on another site cannot book, cancel or
//!    move with a ticket code it learnt. A form without it, or with another ticket's, is
//!    refused with a page in Vietnamese and English (`403`).
//! 2. A ticket holds at most one active booking (the store's rule); moving it cancels the old
//!    slot only once the new one is free, and puts the old one back if the new one was taken
//!    in between.
//! 3. Bookings are counted per client address: the rate limiter spaces the `POST`s
//!    (`rate_limit.booking_per_minute`), and one address holds at most
//!    `rate_limit.active_bookings_per_address` upcoming bookings ([`BookingLedger`]), so
//!    anonymous tickets minted in a loop cannot book out a day's slots.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::extract::{ConnectInfo, Extension, Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Duration, FixedOffset, Utc};
use serde::{Deserialize, Serialize};

use super::auth::{internal_error, not_found};
use super::gateway::Gateway;
use super::html::{
    ButtonKind, FormMethod, Markup, NoticeKind, Page, button, definition_list, form, html,
    link_button, notice,
};
use super::resident::ResidentQuery;
use crate::audit::{AuditEvent, BookingAction, BookingRecorded, PointRef};
use crate::fallback::{BookingError, Ticket, TicketCode, available_slots, book, vietnam};
use crate::i18n::{Lang, LocalText};
use crate::integrations::axum::OptionalSession;
use crate::policy::Procedure;
use crate::session::Session;
use crate::store::{Booking, BookingId};

/// How many days ahead bookings are offered (today included).
pub(crate) const BOOKING_DAYS: i64 = 7;

/// The name of the hidden field holding the ticket's form token.
pub(crate) const TICKET_TOKEN_FIELD: &str = "ticket_token";

/// Purpose (and binding name) of the ticket's form token.
const TICKET_FORM_PURPOSE: &str = "ticket-form";

/// Routes of this module.
pub(crate) fn routes() -> Router<Arc<Gateway>> {
    Router::new()
        .route("/procedures/{code}/book", post(book_slot))
        .route("/tickets/{code}/booking", get(confirmation))
        .route("/tickets/{code}/booking/cancel", post(cancel_booking))
        .route("/tickets/{code}/booking/move", post(move_booking))
}

#[derive(Serialize, Deserialize)]
struct TicketForm {
    #[serde(rename = "c")]
    code: String,
}

impl Gateway {
    /// The token the ticket's forms carry: sealed for the ticket's code, valid as long as it.
    pub(crate) fn ticket_form_token(&self, ticket: &Ticket) -> Option<String> {
        let form = TicketForm {
            code: ticket.code.to_string(),
        };
        self.key_ring
            .seal(
                self.random.as_ref(),
                TICKET_FORM_PURPOSE,
                TICKET_FORM_PURPOSE,
                ticket.expires_at,
                &form,
            )
            .ok()
    }

    /// Whether `token` is the form token of the ticket `code`.
    pub(crate) fn ticket_form_token_matches(&self, code: &TicketCode, token: Option<&str>) -> bool {
        let Some(token) = token else {
            return false;
        };
        self.key_ring
            .open::<TicketForm>(
                TICKET_FORM_PURPOSE,
                TICKET_FORM_PURPOSE,
                self.clock.now(),
                token,
            )
            .is_ok_and(|form| form.code == code.to_string())
    }

    /// The ticket's active booking from today on, if any (an earlier one was a visit or a
    /// no-show). One indexed look-up by ticket code.
    pub(crate) async fn active_booking(&self, ticket: &Ticket) -> Result<Option<Booking>, ()> {
        let today = self.clock.now().with_timezone(&vietnam()).date_naive();
        let (start_of_today, _) = crate::store::day_bounds(today);
        let booking = self
            .store
            .ticket_booking(&ticket.code)
            .await
            .map_err(|_| ())?;
        Ok(booking.filter(|b| b.is_active() && b.slot.start >= start_of_today))
    }
}

/// The upcoming bookings made from each client address, to cap them.
///
/// Kept in memory: it bounds what one address can hold at once, and forgets a booking once its
/// slot has started. Holds no personal data beyond the address, and at most `max_tracked`
/// addresses.
#[derive(Debug)]
pub(crate) struct BookingLedger {
    per_address: u32,
    max_tracked: usize,
    held: Mutex<HashMap<IpAddr, Vec<Held>>>,
}

/// A booking an address made, with its slot's start.
type Held = (BookingId, DateTime<Utc>);

impl BookingLedger {
    /// A ledger allowing `per_address` upcoming bookings per address (0: no cap).
    pub(crate) fn new(per_address: u32, max_tracked: usize) -> Self {
        Self {
            per_address,
            max_tracked: max_tracked.max(1),
            held: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<IpAddr, Vec<Held>>> {
        // A poisoned lock only means another request panicked mid-update; the map is still
        // a map of ids.
        match self.held.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The bookings of `address` whose slot has not started at `now`.
    fn upcoming(&self, address: IpAddr, now: DateTime<Utc>) -> Vec<BookingId> {
        let mut held = self.lock();
        let Some(list) = held.get_mut(&address) else {
            return Vec::new();
        };
        list.retain(|(_, start)| *start > now);
        let ids = list.iter().map(|(id, _)| id.clone()).collect();
        if list.is_empty() {
            held.remove(&address);
        }
        ids
    }

    fn record(&self, address: IpAddr, booking: &Booking, now: DateTime<Utc>) {
        let mut held = self.lock();
        if !held.contains_key(&address) && held.len() >= self.max_tracked {
            held.retain(|_, list| list.iter().any(|(_, start)| *start > now));
        }
        held.entry(address)
            .or_default()
            .push((booking.id.clone(), booking.slot.start));
    }

    fn forget(&self, booking: &BookingId) {
        let mut held = self.lock();
        for list in held.values_mut() {
            list.retain(|(id, _)| id != booking);
        }
        held.retain(|_, list| !list.is_empty());
    }
}

/// Whether `address` may hold one more booking: its upcoming bookings still active in the
/// store (a booking cancelled at the counter no longer counts) are under the cap.
async fn under_cap(gw: &Gateway, address: IpAddr) -> Result<bool, ()> {
    let ledger = gw.booking_ledger();
    if ledger.per_address == 0 {
        return Ok(true);
    }
    let mut active = 0u32;
    for id in ledger.upcoming(address, gw.clock.now()) {
        match gw.store.booking(&id).await {
            Ok(Some(booking)) if booking.is_active() => active += 1,
            Ok(_) => ledger.forget(&id),
            Err(_) => return Err(()),
        }
    }
    Ok(active < ledger.per_address)
}

fn client_address(
    gw: &Gateway,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: &HeaderMap,
) -> IpAddr {
    let peer = peer.map(|Extension(ConnectInfo(addr))| addr.ip());
    gw.rate_limiter().client_address(peer, headers)
}

fn local(at: DateTime<impl chrono::TimeZone>) -> DateTime<FixedOffset> {
    at.with_timezone(&vietnam())
}

pub(crate) fn format_time(lang: Lang, at: DateTime<FixedOffset>) -> String {
    match lang {
        Lang::Vi => at.format("%H:%M ngày %d/%m/%Y").to_string(),
        Lang::En => at.format("%H:%M on %d/%m/%Y").to_string(),
    }
}

fn pick(lang: Lang, text: &LocalText) -> &str {
    lang.pick(&text.vi, &text.en)
}

/// The free slots of the ticket's point over the next [`BOOKING_DAYS`]: the value sent back,
/// the time shown, the free seats.
async fn free_slots(gw: &Gateway, lang: Lang, ticket: &Ticket) -> Vec<(String, String, u32)> {
    let ward = gw.ward(Some(ticket.ward.as_str()));
    let Some(point) = ward.point(&ticket.reception_point) else {
        return Vec::new();
    };
    if !point.offers_booking() {
        return Vec::new();
    }
    let now = gw.clock.now();
    let today = local(now).date_naive();
    let mut free = Vec::new();
    for offset in 0..BOOKING_DAYS {
        let Some(day) = today.checked_add_signed(Duration::days(offset)) else {
            continue;
        };
        let Ok(slots) = available_slots(gw.store.as_ref(), ward, point, day, now).await else {
            continue;
        };
        for slot in slots.iter().filter(|s| s.free > 0) {
            let start = slot.slot.start;
            free.push((
                start.with_timezone(&Utc).to_rfc3339(),
                format_time(lang, start),
                slot.free,
            ));
        }
    }
    free
}

/// The slot picker with the ticket's token, posting to `action`.
fn slot_form(
    lang: Lang,
    action: &str,
    ticket: &Ticket,
    token: &str,
    free: &[(String, String, u32)],
    submit: &str,
) -> Markup {
    let seats = lang.pick("chỗ trống", "free");
    let content = html! {
        input type="hidden" name="ticket" value=(ticket.code.to_string());
        input type="hidden" name="point" value=(ticket.reception_point);
        input type="hidden" name=(TICKET_TOKEN_FIELD) value=(token);
        div class="field" {
            label for="start" { (lang.pick("Chọn giờ hẹn", "Choose a time")) }
            select id="start" name="start" required {
                @for (value, label, free) in free {
                    option value=(value) { (label) " (" (free) " " (seats) ")" }
                }
            }
        }
        (button(ButtonKind::Primary, submit))
    };
    form(FormMethod::Post, action, None, content)
}

/// The booking section of the referral: a slot picker, or the booking the ticket holds.
pub(crate) async fn slot_section(
    gw: &Gateway,
    lang: Lang,
    procedure: &Procedure,
    ticket: &Ticket,
) -> Markup {
    let ward = gw.ward(Some(ticket.ward.as_str()));
    if !ward
        .point(&ticket.reception_point)
        .is_some_and(|p| p.offers_booking())
    {
        return html! {};
    }
    let heading = lang.pick("Đặt lịch hẹn", "Book a time");
    if let Ok(Some(booking)) = gw.active_booking(ticket).await {
        let href = format!("/tickets/{}?lang={}", ticket.code, lang.code());
        return html! {
            h2 { (heading) }
            p {
                (lang.pick("Bạn đã đặt lịch lúc", "You have booked"))
                " " strong { (format_time(lang, local(booking.slot.start))) } ". "
                a href=(href) { (lang.pick("Hủy hoặc đổi giờ hẹn", "Cancel or move the booking")) }
            }
        };
    }
    let free = free_slots(gw, lang, ticket).await;
    if free.is_empty() {
        return html! {
            h2 { (heading) }
            p {
                (lang.pick(
                    "Hiện chưa có lịch trống trong 7 ngày tới. Bạn vẫn có thể đến trong giờ làm việc.",
                    "There is no free slot in the next 7 days. You can still come during opening hours.",
                ))
            }
        };
    }
    let Some(token) = gw.ticket_form_token(ticket) else {
        return html! {};
    };
    let action = format!("/procedures/{}/book?lang={}", procedure.code(), lang.code());
    html! {
        h2 { (heading) }
        (slot_form(lang, &action, ticket, &token, &free, lang.pick("Đặt lịch", "Book")))
    }
}

/// What the ticket page shows about the booking: the booking with cancel and move forms, or
/// a link to book.
pub(crate) async fn ticket_booking_section(gw: &Gateway, lang: Lang, ticket: &Ticket) -> Markup {
    let Ok(Some(booking)) = gw.active_booking(ticket).await else {
        return html! {};
    };
    let Some(token) = gw.ticket_form_token(ticket) else {
        return html! {};
    };
    let code = ticket.code.to_string();
    let cancel = form(
        FormMethod::Post,
        &format!("/tickets/{code}/booking/cancel?lang={}", lang.code()),
        None,
        html! {
            input type="hidden" name=(TICKET_TOKEN_FIELD) value=(token);
            (button(ButtonKind::Secondary, lang.pick("Hủy lịch hẹn", "Cancel the booking")))
        },
    );
    let free = free_slots(gw, lang, ticket).await;
    let move_action = format!("/tickets/{code}/booking/move?lang={}", lang.code());
    html! {
        section class="manage-booking" aria-labelledby="manage-booking" {
            h2 id="manage-booking" { (lang.pick("Hủy hoặc đổi giờ hẹn", "Cancel or move the booking")) }
            p {
                (lang.pick("Giờ hẹn hiện tại", "Current appointment")) ": "
                strong { (format_time(lang, local(booking.slot.start))) }
            }
            (cancel)
            @if !free.is_empty() {
                h3 { (lang.pick("Đổi sang giờ khác", "Move to another time")) }
                (slot_form(lang, &move_action, ticket, &token, &free, lang.pick("Đổi giờ hẹn", "Move the booking")))
            }
        }
    }
}

/// A refused booking action: a page in the resident's language.
pub(crate) fn refused(lang: Lang, status: StatusCode, message: &str, back: &str) -> Response {
    let page =
        Page::new(lang, lang.pick("Không thực hiện được", "Could not be done")).push(notice(
            NoticeKind::Error,
            message,
            link_button(
                ButtonKind::Secondary,
                back,
                lang.pick("Quay lại", "Go back"),
            ),
        ));
    (status, page).into_response()
}

fn form_expired(lang: Lang, back: &str) -> Response {
    refused(
        lang,
        StatusCode::FORBIDDEN,
        lang.pick(
            "Biểu mẫu không hợp lệ hoặc đã hết hạn. Vui lòng mở lại trang phiếu hẹn và thử lại.",
            "The form is not valid or has expired. Please open the ticket page again and retry.",
        ),
        back,
    )
}

fn over_cap(lang: Lang, back: &str) -> Response {
    refused(
        lang,
        StatusCode::TOO_MANY_REQUESTS,
        lang.pick(
            "Địa chỉ mạng này đã giữ đủ số lịch hẹn cho phép. Vui lòng hủy một lịch hẹn trước khi đặt thêm.",
            "This network address already holds as many bookings as allowed. Please cancel one before booking another.",
        ),
        back,
    )
}

/// The booking forms' fields.
#[derive(Debug, Deserialize)]
pub(crate) struct BookForm {
    ticket: String,
    point: String,
    start: String,
    #[serde(default)]
    ticket_token: Option<String>,
}

async fn audit_booking(gw: &Gateway, booking: &Booking, action: BookingAction) {
    if let Some(point) = PointRef::parse(&booking.slot.point) {
        let event = BookingRecorded::new(booking.slot.ward, point, booking.procedure, action);
        gw.audit(None, AuditEvent::Booking(event)).await;
    }
}

/// `POST /procedures/{code}/book`: books a slot for a referral's ticket.
pub(crate) async fn book_slot(
    State(gw): State<Arc<Gateway>>,
    OptionalSession(session): OptionalSession,
    Path(code): Path<String>,
    Query(query): Query<ResidentQuery>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Form(input): Form<BookForm>,
) -> Response {
    let lang = query.lang();
    let Some(procedure) = gw.procedure(&code) else {
        return not_found(lang);
    };
    let back = format!("/procedures/{}?lang={}", procedure.code(), lang.code());
    let now = gw.clock.now();
    let (Ok(ticket_code), Ok(start)) = (
        TicketCode::parse(&input.ticket),
        DateTime::parse_from_rfc3339(&input.start),
    ) else {
        return refused(
            lang,
            StatusCode::BAD_REQUEST,
            lang.pick(
                "Thông tin đặt lịch không hợp lệ.",
                "The booking form is not valid.",
            ),
            &back,
        );
    };
    if !gw.ticket_form_token_matches(&ticket_code, input.ticket_token.as_deref()) {
        return form_expired(lang, &back);
    }
    // Only a ticket this portal issued, for this procedure and still valid, can book.
    let ticket = match gw.store.ticket(&ticket_code, now).await {
        Ok(Some(ticket)) if ticket.procedure == procedure.code() => ticket,
        Ok(_) => {
            return refused(
                lang,
                StatusCode::BAD_REQUEST,
                lang.pick(
                    "Mã lịch hẹn không còn hiệu lực.",
                    "This appointment code is no longer valid.",
                ),
                &back,
            );
        }
        Err(_) => return internal_error(lang),
    };
    if !super::ticket_owner::may_use(&ticket, session.as_ref()) {
        return super::ticket_owner::not_yours(&gw, lang, &ticket.code, session.as_ref());
    }
    let address = client_address(&gw, peer, &headers);
    match under_cap(&gw, address).await {
        Ok(true) => {}
        Ok(false) => return over_cap(lang, &back),
        Err(()) => return internal_error(lang),
    }
    let ward = gw.ward(Some(ticket.ward.as_str()));
    let result = book(
        gw.store.as_ref(),
        ward,
        &input.point,
        start.with_timezone(&Utc),
        procedure.code(),
        Some(ticket_code),
        now,
        gw.random.as_ref(),
    )
    .await;
    match result {
        Ok(booking) => {
            gw.booking_ledger().record(address, &booking, now);
            audit_booking(&gw, &booking, BookingAction::Booked).await;
        }
        // Booking twice (a double click) shows the booking the ticket holds.
        Err(BookingError::TicketAlreadyBooked { .. }) => {}
        Err(BookingError::Full { .. }) => {
            return refused(
                lang,
                StatusCode::CONFLICT,
                lang.pick(
                    "Giờ này vừa hết chỗ. Vui lòng chọn giờ khác.",
                    "This time was just taken. Please choose another.",
                ),
                &back,
            );
        }
        Err(BookingError::Store(_) | BookingError::Random) => return internal_error(lang),
        Err(_) => {
            return refused(
                lang,
                StatusCode::BAD_REQUEST,
                lang.pick("Không đặt được giờ này.", "This time cannot be booked."),
                &back,
            );
        }
    }
    Redirect::to(&format!(
        "/tickets/{ticket_code}/booking?lang={}",
        lang.code()
    ))
    .into_response()
}

/// The ticket of a `/tickets/{code}/…` route if `reader` may use it (see
/// [`super::ticket_owner`]), or the page to answer instead.
pub(crate) async fn ticket_of(
    gw: &Gateway,
    lang: Lang,
    code: &str,
    reader: Option<&Session>,
) -> Result<Ticket, Response> {
    let Ok(code) = TicketCode::parse(code) else {
        return Err(not_found(lang));
    };
    match gw.store.ticket(&code, gw.clock.now()).await {
        Ok(Some(ticket)) if super::ticket_owner::may_use(&ticket, reader) => Ok(ticket),
        Ok(Some(_)) => Err(super::ticket_owner::not_yours(gw, lang, &code, reader)),
        Ok(None) => Err(not_found(lang)),
        Err(_) => Err(internal_error(lang)),
    }
}

/// `GET /tickets/{code}/booking`: the confirmation of the ticket's booking.
pub(crate) async fn confirmation(
    State(gw): State<Arc<Gateway>>,
    OptionalSession(session): OptionalSession,
    Path(code): Path<String>,
    Query(query): Query<ResidentQuery>,
    uri: Uri,
) -> Response {
    let lang = query.lang();
    let ticket = match ticket_of(&gw, lang, &code, session.as_ref()).await {
        Ok(ticket) => ticket,
        Err(response) => return response,
    };
    let ticket_href = format!("/tickets/{}?lang={}", ticket.code, lang.code());
    let booking = match gw.active_booking(&ticket).await {
        Ok(Some(booking)) => booking,
        Ok(None) => return Redirect::to(&ticket_href).into_response(),
        Err(()) => return internal_error(lang),
    };
    let ward = gw.ward(Some(ticket.ward.as_str()));
    let place = ward.point(&booking.slot.point).map(|p| {
        html! { (pick(lang, &p.name())) ", " (p.address) }
    });
    let procedure = gw
        .procedure(ticket.procedure.as_str())
        .map(|p| pick(lang, &p.name()).to_owned())
        .unwrap_or_default();
    let mut items = vec![
        (
            lang.pick("Mã lịch hẹn", "Appointment code"),
            html! { strong class="ticket-code" { (ticket.code.to_string()) } },
        ),
        (lang.pick("Thủ tục", "Procedure"), html! { (procedure) }),
        (
            lang.pick("Giờ hẹn", "Appointment"),
            html! { strong { (format_time(lang, local(booking.slot.start))) } },
        ),
    ];
    if let Some(place) = place {
        items.push((lang.pick("Nơi nộp", "Where"), place));
    }
    let title = lang.pick("Đã đặt lịch hẹn", "Booking confirmed");
    let body = html! {
        (notice(
            NoticeKind::Success,
            title,
            lang.pick(
                "Lịch hẹn của bạn đã được ghi nhận. Hãy mang theo mã lịch hẹn hoặc phiếu hẹn khi đến.",
                "Your booking is recorded. Bring the appointment code or the ticket when you come.",
            ),
        ))
        (definition_list(&items))
        p {
            (link_button(
                ButtonKind::Primary,
                &ticket_href,
                lang.pick("Xem, in phiếu hẹn, hủy hoặc đổi giờ", "View or print the ticket, cancel or move"),
            ))
        }
    };
    super::pages::page(&gw, lang, title, &uri)
        .push(body)
        .into_response()
}

/// The cancel form's fields.
#[derive(Debug, Deserialize)]
pub(crate) struct TokenForm {
    #[serde(default)]
    ticket_token: Option<String>,
}

/// `POST /tickets/{code}/booking/cancel`: cancels the ticket's booking.
pub(crate) async fn cancel_booking(
    State(gw): State<Arc<Gateway>>,
    OptionalSession(session): OptionalSession,
    Path(code): Path<String>,
    Query(query): Query<ResidentQuery>,
    Form(input): Form<TokenForm>,
) -> Response {
    let lang = query.lang();
    let ticket = match ticket_of(&gw, lang, &code, session.as_ref()).await {
        Ok(ticket) => ticket,
        Err(response) => return response,
    };
    let ticket_href = format!("/tickets/{}?lang={}", ticket.code, lang.code());
    if !gw.ticket_form_token_matches(&ticket.code, input.ticket_token.as_deref()) {
        return form_expired(lang, &ticket_href);
    }
    let booking = match gw.active_booking(&ticket).await {
        Ok(Some(booking)) => booking,
        // Nothing left to cancel (a second click): the ticket page says so.
        Ok(None) => return Redirect::to(&format!("{ticket_href}&cancelled=1")).into_response(),
        Err(()) => return internal_error(lang),
    };
    match gw.store.cancel(&booking.id, gw.clock.now()).await {
        Ok(cancelled) => {
            gw.booking_ledger().forget(&cancelled.id);
            audit_booking(&gw, &cancelled, BookingAction::Cancelled).await;
        }
        Err(crate::store::StoreError::AlreadyCancelled) => {}
        Err(_) => return internal_error(lang),
    }
    Redirect::to(&format!("{ticket_href}&cancelled=1")).into_response()
}

/// `POST /tickets/{code}/booking/move`: moves the ticket's booking to another free slot.
pub(crate) async fn move_booking(
    State(gw): State<Arc<Gateway>>,
    OptionalSession(session): OptionalSession,
    Path(code): Path<String>,
    Query(query): Query<ResidentQuery>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Form(input): Form<BookForm>,
) -> Response {
    let lang = query.lang();
    let ticket = match ticket_of(&gw, lang, &code, session.as_ref()).await {
        Ok(ticket) => ticket,
        Err(response) => return response,
    };
    let ticket_href = format!("/tickets/{}?lang={}", ticket.code, lang.code());
    if !gw.ticket_form_token_matches(&ticket.code, input.ticket_token.as_deref()) {
        return form_expired(lang, &ticket_href);
    }
    let Ok(start) = DateTime::parse_from_rfc3339(&input.start) else {
        return refused(
            lang,
            StatusCode::BAD_REQUEST,
            lang.pick(
                "Thông tin đặt lịch không hợp lệ.",
                "The booking form is not valid.",
            ),
            &ticket_href,
        );
    };
    let start = start.with_timezone(&Utc);
    let old = match gw.active_booking(&ticket).await {
        Ok(Some(booking)) => booking,
        Ok(None) => return Redirect::to(&ticket_href).into_response(),
        Err(()) => return internal_error(lang),
    };
    if old.slot.start == start && old.slot.point == input.point {
        return Redirect::to(&format!(
            "/tickets/{}/booking?lang={}",
            ticket.code,
            lang.code()
        ))
        .into_response();
    }
    let taken = refused(
        lang,
        StatusCode::CONFLICT,
        lang.pick(
            "Giờ này đã hết chỗ; lịch hẹn cũ của bạn vẫn được giữ.",
            "This time is taken; your earlier booking is kept.",
        ),
        &ticket_href,
    );
    // Only free the old seat when the new slot has one.
    let ward = gw.ward(Some(ticket.ward.as_str()));
    let now = gw.clock.now();
    let Some(point) = ward.point(&input.point) else {
        return refused(
            lang,
            StatusCode::BAD_REQUEST,
            lang.pick("Không đặt được giờ này.", "This time cannot be booked."),
            &ticket_href,
        );
    };
    let day = local(start).date_naive();
    let has_seat = match available_slots(gw.store.as_ref(), ward, point, day, now).await {
        Ok(slots) => slots
            .iter()
            .any(|s| s.slot.start.with_timezone(&Utc) == start && s.free > 0),
        Err(_) => return internal_error(lang),
    };
    if !has_seat {
        return taken;
    }
    // One store step: the new seat is taken and the old one freed, or nothing changes.
    let address = client_address(&gw, peer, &headers);
    let moved = crate::fallback::move_booking(
        gw.store.as_ref(),
        &old.id,
        ward,
        &input.point,
        start,
        ticket.procedure,
        Some(ticket.code),
        now,
        gw.random.as_ref(),
    )
    .await;
    match moved {
        Ok(booking) => {
            gw.booking_ledger().forget(&old.id);
            gw.booking_ledger().record(address, &booking, now);
            audit_booking(&gw, &old, BookingAction::Cancelled).await;
            audit_booking(&gw, &booking, BookingAction::Booked).await;
            Redirect::to(&format!(
                "/tickets/{}/booking?lang={}",
                ticket.code,
                lang.code()
            ))
            .into_response()
        }
        // Taken in between: the old booking was never released.
        Err(BookingError::Full { .. }) => taken,
        // Cancelled or moved meanwhile (another tab): the ticket page shows what holds.
        Err(BookingError::Store(
            crate::store::StoreError::AlreadyCancelled | crate::store::StoreError::NotFound,
        )) => Redirect::to(&ticket_href).into_response(),
        Err(BookingError::Store(_) | BookingError::Random) => internal_error(lang),
        Err(_) => refused(
            lang,
            StatusCode::BAD_REQUEST,
            lang.pick("Không đặt được giờ này.", "This time cannot be booked."),
            &ticket_href,
        ),
    }
}
