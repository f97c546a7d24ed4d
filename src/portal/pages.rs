//! Server-rendered pages for residents: home, procedure, referral with booking, ticket.
//!
//! Vietnamese by default (`?lang=en` for English), usable without JavaScript, printable.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, Path, Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Duration, FixedOffset, Utc};
use serde::Deserialize;

use super::auth::{internal_error, not_found};
use super::gateway::Gateway;
use super::html::{
    ButtonKind, FormMethod, Markup, NoticeKind, Page, PreEscaped, Reserve, TextField, button,
    definition_list, form, html, link_button, notice, upload_form,
};
use super::login_memory::try_again_form;
use super::procedure_html::ProcedureHtml;
use super::resident::{NoTicket, ReferralWithTicket, ResidentQuery, max_age_key};
use super::ticket_allowance::ClientAddress;
use crate::audit::{AuditEvent, BookingAction, BookingRecorded, PointRef};
use crate::fallback::{
    BookingError, DayHours, Referral, SignedTicket, TicketCode, available_slots, book, vietnam,
};
use crate::i18n::{Lang, LocalText};
use crate::integrations::axum::OptionalSession;
use crate::policy::{Decision, FieldKind, Procedure};
use crate::session::Session;
use crate::store::BookingId;

/// Routes of this module beyond the home and procedure pages.
pub(crate) fn routes() -> Router<Arc<Gateway>> {
    Router::new()
        .route("/procedures/{code}/book", post(book_slot))
        .route("/tickets/{code}", get(ticket_page))
}

fn pick(lang: Lang, text: &LocalText) -> &str {
    lang.pick(&text.vi, &text.en)
}

pub(crate) fn page(gw: &Gateway, lang: Lang, title: &str, uri: &Uri) -> Page {
    let ward = gw.ward(None);
    Page::new(lang, title)
        .ward_name(pick(lang, &ward.name()).to_owned())
        .current(uri.path(), uri.query())
}

fn local(at: DateTime<impl chrono::TimeZone>) -> DateTime<FixedOffset> {
    at.with_timezone(&vietnam())
}

fn format_time(lang: Lang, at: DateTime<FixedOffset>) -> String {
    match lang {
        Lang::Vi => at.format("%H:%M ngày %d/%m/%Y").to_string(),
        Lang::En => at.format("%H:%M on %d/%m/%Y").to_string(),
    }
}

fn level_label(lang: Lang, level: crate::Level) -> &'static str {
    match (lang, level) {
        (Lang::Vi, crate::Level::One) => "Tài khoản định danh điện tử mức độ 1",
        (Lang::Vi, crate::Level::Two) => "Tài khoản định danh điện tử mức độ 2",
        (Lang::En, crate::Level::One) => "Level 1 e-identity account",
        (Lang::En, crate::Level::Two) => "Level 2 e-identity account",
    }
}

fn session_panel(gw: &Gateway, lang: Lang, session: Option<&Session>) -> Markup {
    let Some(session) = session else {
        return html! {};
    };
    // With several providers, say which one the resident signed in with (its issuer is sealed
    // in the session).
    let provider = gw
        .provider_for_issuer(session.issuer())
        .filter(|_| gw.providers().len() > 1);
    let level = session.assurance().level().map_or_else(
        || lang.pick("chưa xác định được mức độ", "no recognised level"),
        |l| level_label(lang, l),
    );
    let body = html! {
        (lang.pick("Bạn đã đăng nhập", "You are signed in"))
        @if let Some(provider) = provider {
            " " (lang.pick("qua", "through")) " " (provider.label_text().get(lang))
        }
        ": " (level) ". "
        (form(
            FormMethod::Post,
            "/logout",
            Some(session.csrf_token().secret()),
            button(ButtonKind::Secondary, lang.pick("Đăng xuất", "Sign out")),
        ))
    };
    notice(
        NoticeKind::Info,
        lang.pick("Phiên làm việc", "Your session"),
        body,
    )
}

/// `GET /`: the ward, its procedures and what each needs.
pub(crate) async fn home(
    State(gw): State<Arc<Gateway>>,
    OptionalSession(session): OptionalSession,
    Query(query): Query<ResidentQuery>,
    uri: Uri,
) -> Response {
    let lang = query.lang();
    let ward = gw.ward(query.ward.as_deref());
    let content = html! {
        p {
            (lang.pick(
                "Chọn thủ tục bạn cần. Thủ tục nộp trực tuyến cần tài khoản định danh điện tử VNeID mức độ 2; nếu chưa có, cổng sẽ hướng dẫn bạn nộp trực tiếp tại Trung tâm Phục vụ hành chính công, kèm giờ làm việc, giấy tờ cần mang và đặt lịch.",
                "Choose the procedure you need. Filing online needs a level 2 VNeID e-identity account; if you do not have one, the portal tells you how to file in person at the Public Administrative Service Center, with opening hours, what to bring and a booking.",
            ))
        }
        h2 { (lang.pick("Thủ tục hành chính", "Administrative procedures")) }
        ul class="procedure-list" {
            @for procedure in gw.catalog.procedures() {
                @let need = if procedure.presence_required() {
                    lang.pick("Cần có mặt trực tiếp", "Presence required")
                } else {
                    level_label(lang, procedure.online_level())
                };
                li {
                    a href={ "/procedures/" (procedure.code().as_str()) "?lang=" (lang.code()) } {
                        (pick(lang, &procedure.name()))
                    }
                    " "
                    span class="need" { (need) }
                }
            }
        }
    };
    let title = pick(lang, &ward.name()).to_owned();
    page(&gw, lang, &title, &uri)
        .push(session_panel(&gw, lang, session.as_ref()))
        .push(content)
        .into_response()
}

/// `GET /procedures/{code}`: online or in person, and why.
pub(crate) async fn procedure(
    State(gw): State<Arc<Gateway>>,
    OptionalSession(session): OptionalSession,
    Path(code): Path<String>,
    Query(query): Query<ResidentQuery>,
    ClientAddress(client): ClientAddress,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let lang = query.lang();
    let Some(procedure) = gw.procedure(&code) else {
        return not_found(lang);
    };
    let remembered = gw.remembered_failure(&headers, procedure);
    let decision = gw
        .evaluate_with(procedure, session.as_ref(), &query, remembered)
        .await;
    // A failed login (remembered, or a step-up that came back short) is undone only by the
    // resident's explicit "try again", which clears it.
    let failed_login = remembered.is_some()
        || session
            .as_ref()
            .is_some_and(|s| s.step_up_tried(procedure.online_level(), max_age_key(procedure)));
    let name = pick(lang, &procedure.name()).to_owned();
    let mut page = page(&gw, lang, &name, &uri).push(session_panel(&gw, lang, session.as_ref()));
    let reason = decision.reason().text(lang);
    let mut ticket_cookie = None;
    let login = format!("/login?procedure={}&lang={}", procedure.code(), lang.code());
    let in_person = format!(
        "/procedures/{}?lang={}&in_person=1",
        procedure.code(),
        lang.code()
    );
    match &decision {
        Decision::Online(grant) => {
            page = page.push(notice(
                NoticeKind::Success,
                lang.pick("Bạn có thể nộp trực tuyến", "You can file online"),
                reason,
            ));
            let Ok(key) = crate::clock::random_token::<16>(gw.random.as_ref()) else {
                return internal_error(lang);
            };
            let draft = gw.held_draft(&headers, procedure).await;
            if query.saved.is_some() && draft.is_some() {
                page = page.push(notice(
                    NoticeKind::Success,
                    lang.pick("Đã lưu nháp", "Draft saved"),
                    lang.pick(
                        "Hồ sơ nháp được lưu trên hệ thống đến khi bạn nộp, và được chuyển cho cán bộ nếu bạn nộp trực tiếp.",
                        "The draft is kept on the server until you file it, and passed to the officer if you file in person.",
                    ),
                ));
            }
            page = page.push(online_section(
                lang,
                procedure,
                grant.expires_at,
                session.as_ref(),
                &key,
                draft.as_ref().and_then(|d| gw.draft_answers(d)).as_ref(),
                gw.procedure_html.get(procedure, lang),
            ));
            page = page.push(link_button(
                ButtonKind::Secondary,
                &in_person,
                lang.pick("Tôi muốn nộp trực tiếp", "I prefer to file in person"),
            ));
        }
        Decision::SignIn(_) | Decision::StepUp(_) => {
            let heading = if matches!(decision, Decision::SignIn(_)) {
                lang.pick("Đăng nhập để nộp trực tuyến", "Sign in to file online")
            } else {
                lang.pick("Cần đăng nhập lại", "Please sign in again")
            };
            page = page.push(notice(NoticeKind::Info, heading, reason));
            page = page.push(link_button(
                ButtonKind::Primary,
                &login,
                lang.pick("Đăng nhập bằng VNeID", "Sign in with VNeID"),
            ));
            let no_eid = format!(
                "/procedures/{}?lang={}&outcome=no_eid",
                procedure.code(),
                lang.code()
            );
            page = page.push(link_button(
                ButtonKind::Secondary,
                &no_eid,
                lang.pick(
                    "Tôi chưa có tài khoản VNeID mức độ 2",
                    "I do not have a level 2 VNeID account",
                ),
            ));
            page = page.push(link_button(
                ButtonKind::Secondary,
                &in_person,
                lang.pick(
                    "Nộp trực tiếp tại bộ phận một cửa",
                    "File in person at the one-stop desk",
                ),
            ));
            page = page.push(match gw.procedure_html.get(procedure, lang) {
                Some(cached) => cached.checklist.clone(),
                None => checklist(lang, procedure),
            });
        }
        Decision::InPerson(_) => match gw
            .referral_with_ticket(
                procedure,
                &decision,
                gw.held_ticket(&headers, procedure),
                gw.held_draft(&headers, procedure).await,
                session.is_none().then_some(client),
            )
            .await
        {
            Some(ReferralWithTicket { referral, ticket }) => {
                let retry = if failed_login {
                    Some(try_again_form(
                        lang,
                        procedure,
                        session.as_ref().map(|s| s.csrf_token().secret()),
                    ))
                } else if referral.can_retry_sign_in {
                    Some(link_button(
                        ButtonKind::Secondary,
                        &login,
                        lang.pick("Thử đăng nhập lại", "Try signing in again"),
                    ))
                } else {
                    None
                };
                match ticket {
                    Ok(ticket) => {
                        ticket_cookie = gw.ticket_cookie(&ticket);
                        let slots = slot_section(&gw, lang, procedure, &referral, &ticket).await;
                        page = page
                            .push(referral_section(lang, &referral, Ok(&ticket), retry))
                            .push(slots);
                    }
                    Err(why) => {
                        page = page.push(referral_section(lang, &referral, Err(why), retry));
                    }
                }
            }
            None => return internal_error(lang),
        },
    }
    let mut response = page.into_response();
    if let Some(cookie) = ticket_cookie {
        super::auth::append_cookie(&mut response, &cookie);
    }
    response
}

pub(crate) fn checklist(lang: Lang, procedure: &Procedure) -> Markup {
    let items = [
        (
            lang.pick("Lệ phí", "Fee"),
            html! { (pick(lang, &procedure.fee())) },
        ),
        (
            lang.pick("Thời gian giải quyết", "Processing time"),
            html! { (pick(lang, &procedure.processing_time())) },
        ),
    ];
    html! {
        h2 { (lang.pick("Giấy tờ cần chuẩn bị", "Documents to prepare")) }
        ul class="checklist" {
            @for document in procedure.documents() {
                li { (pick(lang, document)) }
            }
        }
        (definition_list(&items))
    }
}

pub(crate) fn online_section(
    lang: Lang,
    procedure: &Procedure,
    expires_at: DateTime<Utc>,
    session: Option<&Session>,
    idempotency_key: &str,
    draft: Option<&serde_json::Value>,
    cached: Option<&ProcedureHtml>,
) -> Markup {
    // Without saved answers the fields are the same on every request: the cached copy.
    let rendered_fields;
    let fields_html = match (cached, draft) {
        (Some(cached), None) => &cached.blank_fields,
        _ => {
            rendered_fields = form_fields(lang, procedure, draft);
            &rendered_fields
        }
    };
    let rendered_checklist;
    let checklist_html = match cached {
        Some(cached) => &cached.checklist,
        None => {
            rendered_checklist = checklist(lang, procedure);
            &rendered_checklist
        }
    };
    // A fresh key per rendered form: submitting twice (double click, reload) files once.
    let fields = html! {
        (Reserve(96 + fields_html.0.len()))
        input type="hidden" name="idempotency_key" value=(idempotency_key);
        (fields_html)
    };
    let action = format!(
        "/procedures/{}/submit?lang={}",
        procedure.code(),
        lang.code()
    );
    let form = upload_form(&action, session.map(|s| s.csrf_token().secret()), fields);
    html! {
        (Reserve(256 + form.0.len() + checklist_html.0.len()))
        h2 { (lang.pick("Tờ khai", "Application form")) }
        p {
            (lang.pick(
                "Phiên đăng nhập đủ điều kiện nộp đến",
                "Your sign-in allows filing until"
            ))
            " " (format_time(lang, local(expires_at)))
        }
        (form)
        (checklist_html)
    }
}

/// The application form's fields, attachment input and buttons (without the idempotency key),
/// filled with `draft`'s answers when given.
pub(crate) fn form_fields(
    lang: Lang,
    procedure: &Procedure,
    draft: Option<&serde_json::Value>,
) -> Markup {
    let saved = |name: &str| -> Option<String> {
        let value = draft?.get(name)?;
        Some(
            value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_owned),
        )
    };
    html! {
        @for field in procedure.fields() {
            @let label = lang.pick(&field.label_vi, &field.label_en);
            @if field.kind == FieldKind::Select {
                @let chosen = saved(&field.name);
                div class="field" {
                    label for={ "f-" (field.name) } { (label) }
                    select id={ "f-" (field.name) } name=(field.name) required[field.required] {
                        @for option in &field.options {
                            option
                                value=(option.value)
                                selected[chosen.as_deref() == Some(option.value.as_str())]
                            {
                                (lang.pick(&option.label_vi, &option.label_en))
                            }
                        }
                    }
                }
            } @else {
                @let input_type = match field.kind {
                    FieldKind::Date => "date",
                    FieldKind::Number => "number",
                    FieldKind::Phone => "tel",
                    _ => "text",
                };
                @let input = TextField::new(field.name.clone(), label)
                    .input_type(input_type)
                    .required(field.required);
                (match saved(&field.name) {
                    Some(value) => input.value(value),
                    None => input,
                }
                .render(lang))
            }
        }
        (super::submit::attachments_input(lang))
        (button(
            ButtonKind::Primary,
            lang.pick("Nộp hồ sơ", "Submit the application"),
        ))
        // A second submit button saves the form as a draft instead (no JavaScript needed);
        // drafts keep the fields only, so it sends them url-encoded.
        button
            type="submit"
            class="button secondary"
            formaction={ "/procedures/" (procedure.code().as_str()) "/draft?lang=" (lang.code()) }
            formenctype="application/x-www-form-urlencoded"
            formnovalidate
        {
            (lang.pick("Lưu nháp", "Save as draft"))
        }
    }
}

fn hours_table(lang: Lang, hours: &[DayHours]) -> Markup {
    html! {
        table class="hours" {
            tbody {
                @for day in hours {
                    tr {
                        th scope="row" { (pick(lang, &day.day)) }
                        td {
                            @if day.intervals.is_empty() {
                                (lang.pick("Nghỉ", "Closed"))
                            } @else {
                                (day.intervals.join(", "))
                            }
                        }
                    }
                }
            }
        }
    }
}

fn referral_section(
    lang: Lang,
    referral: &Referral,
    ticket: Result<&SignedTicket, NoTicket>,
    retry: Option<Markup>,
) -> Markup {
    let why = html! {
        (pick(lang, &referral.reason_text))
        @if let Some(retry) = &referral.retry_text {
            " " (pick(lang, retry))
        }
    };
    let point = &referral.point;
    let map = format!(
        "https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=17/{lat}/{lon}",
        lat = point.lat,
        lon = point.lon
    );
    let status = if point.open_now {
        lang.pick("Đang mở cửa", "Open now").to_owned()
    } else {
        let next_open = point
            .next_open
            .map(|t| format_time(lang, t))
            .unwrap_or_default();
        format!("{} {next_open}", lang.pick("Mở cửa lần tới:", "Next open:"))
    };
    let level2 = &referral.level2;
    html! {
        (notice(
            NoticeKind::Warning,
            lang.pick("Nộp hồ sơ trực tiếp", "File in person"),
            why,
        ))
        @if let Some(retry) = retry {
            (retry)
        }
        h2 { (lang.pick("Nơi nộp hồ sơ", "Where to go")) }
        p {
            strong { (pick(lang, &point.name)) }
            br;
            (point.address)
            br;
            (lang.pick("Điện thoại", "Phone")) ": " (point.phone)
        }
        p { a href=(map) { (lang.pick("Xem bản đồ", "Open the map")) } }
        p class="status" { (status) }
        h3 { (lang.pick("Giờ làm việc", "Opening hours")) }
        (hours_table(lang, &point.hours))
        h2 { (lang.pick("Giấy tờ cần mang theo", "What to bring")) }
        ul class="checklist" {
            @for document in &referral.procedure.documents {
                li { (pick(lang, document)) }
            }
        }
        p {
            (lang.pick("Lệ phí", "Fee")) ": " (pick(lang, &referral.procedure.fee)) ". "
            (lang.pick("Thời gian giải quyết", "Processing time")) ": "
            (pick(lang, &referral.procedure.processing_time)) "."
        }
        @if let Some(assisted) = &referral.procedure.assisted_submission {
            p { (pick(lang, assisted)) }
        }
        h2 { (lang.pick("Mã hồ sơ hẹn của bạn", "Your reference")) }
        @match ticket {
            Ok(ticket) => {
                @let code = ticket.ticket.code.to_string();
                p { (lang.pick("Mã", "Code")) ": " strong class="ticket-code" { (code) } }
                p {
                    a href={ "/tickets/" (code) "?lang=" (lang.code()) } {
                        (lang.pick(
                            "Xem và in phiếu hẹn (có mã QR)",
                            "View and print the ticket (with QR code)"
                        ))
                    }
                }
            }
            Err(why) => (why.notice(lang)),
        }
        h2 {
            (lang.pick(
                "Cách có tài khoản định danh điện tử mức độ 2",
                "How to get a level 2 e-identity account"
            ))
        }
        p { (pick(lang, &level2.steps)) }
        p {
            strong { (pick(lang, &level2.police_name)) }
            br;
            (level2.address)
            br;
            (level2.phone)
        }
        p { (pick(lang, &level2.duration)) }
        ul {
            @for item in &level2.bring {
                li { (pick(lang, item)) }
            }
        }
        h2 { (lang.pick("Nơi được hỗ trợ", "Where to get help")) }
        p { (pick(lang, &referral.help_text)) }
        ul {
            @for desk in &referral.help {
                li {
                    strong { (pick(lang, &desk.name)) }
                    ", " (desk.address)
                    @if let Some(phone) = &desk.phone {
                        ", " (phone)
                    }
                }
            }
        }
    }
}

/// How many days ahead the booking section offers slots.
const BOOKING_DAYS: i64 = 7;

async fn slot_section(
    gw: &Gateway,
    lang: Lang,
    procedure: &Procedure,
    referral: &Referral,
    ticket: &SignedTicket,
) -> Markup {
    let ward = gw.ward(Some(referral.ward.code.as_str()));
    let Some(point) = ward.point(&referral.point.id) else {
        return html! {};
    };
    if !point.offers_booking() {
        return html! {};
    }
    let now = gw.clock.now();
    let today = local(now).date_naive();
    // The free slots: the value sent back, the time shown, the free seats.
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
    let heading = lang.pick("Đặt lịch hẹn", "Book a time");
    if free.is_empty() {
        return html! {
            h2 { (heading) }
            (lang.pick(
                "Hiện chưa có lịch trống trong 7 ngày tới. Bạn vẫn có thể đến trong giờ làm việc.",
                "There is no free slot in the next 7 days. You can still come during opening hours.",
            ))
        };
    }
    let seats = lang.pick("chỗ trống", "free");
    let content = html! {
        input type="hidden" name="ticket" value=(ticket.ticket.code.to_string());
        input type="hidden" name="point" value=(point.id);
        div class="field" {
            label for="start" { (lang.pick("Chọn giờ hẹn", "Choose a time")) }
            select id="start" name="start" required {
                @for (value, label, free) in &free {
                    option value=(value) { (label) " (" (free) " " (seats) ")" }
                }
            }
        }
        (button(ButtonKind::Primary, lang.pick("Đặt lịch", "Book")))
    };
    let action = format!("/procedures/{}/book?lang={}", procedure.code(), lang.code());
    html! {
        h2 { (heading) }
        (form(FormMethod::Post, &action, None, content))
    }
}

/// `POST /procedures/{code}/book` form.
#[derive(Debug, Deserialize)]
pub(crate) struct BookForm {
    ticket: String,
    point: String,
    start: String,
}

/// `POST /procedures/{code}/book`: books a slot for a referral's ticket.
pub(crate) async fn book_slot(
    State(gw): State<Arc<Gateway>>,
    Path(code): Path<String>,
    Query(query): Query<ResidentQuery>,
    Form(input): Form<BookForm>,
) -> Response {
    let lang = query.lang();
    let Some(procedure) = gw.procedure(&code) else {
        return not_found(lang);
    };
    let now = gw.clock.now();
    let (Ok(ticket_code), Ok(start)) = (
        TicketCode::parse(&input.ticket),
        DateTime::parse_from_rfc3339(&input.start),
    ) else {
        return bad_request(
            lang,
            lang.pick(
                "Thông tin đặt lịch không hợp lệ.",
                "The booking form is not valid.",
            ),
        );
    };
    // Only a ticket this portal issued, for this procedure and still valid, can book.
    let ticket = match gw.store.ticket(&ticket_code, now).await {
        Ok(Some(ticket)) if ticket.procedure == procedure.code() => ticket,
        Ok(_) => {
            return bad_request(
                lang,
                lang.pick(
                    "Mã hẹn không còn hiệu lực.",
                    "This reference is no longer valid.",
                ),
            );
        }
        Err(_) => return internal_error(lang),
    };
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
    let booking = match result {
        Ok(booking) => {
            if let Some(point) = PointRef::parse(&booking.slot.point) {
                let event =
                    BookingRecorded::new(ward.code, point, procedure.code(), BookingAction::Booked);
                gw.audit(None, AuditEvent::Booking(event)).await;
            }
            booking.id
        }
        Err(BookingError::TicketAlreadyBooked { booking }) => booking,
        Err(BookingError::Full { .. }) => {
            return bad_request(
                lang,
                lang.pick(
                    "Giờ này vừa hết chỗ. Vui lòng chọn giờ khác.",
                    "This time was just taken. Please choose another.",
                ),
            );
        }
        Err(BookingError::Store(_) | BookingError::Random) => return internal_error(lang),
        Err(_) => {
            return bad_request(
                lang,
                lang.pick("Không đặt được giờ này.", "This time cannot be booked."),
            );
        }
    };
    Redirect::to(&format!(
        "/tickets/{ticket_code}?lang={}&booking={}",
        lang.code(),
        booking.as_str()
    ))
    .into_response()
}

/// `GET /tickets/{code}` query.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct TicketQuery {
    #[serde(default)]
    lang: Option<String>,
    #[serde(default)]
    booking: Option<String>,
}

/// `GET /tickets/{code}`: the printable ticket with its QR code (the signed ticket, verifiable
/// offline at the counter).
pub(crate) async fn ticket_page(
    State(gw): State<Arc<Gateway>>,
    Path(code): Path<String>,
    Query(query): Query<TicketQuery>,
    uri: Uri,
) -> Response {
    let lang = query
        .lang
        .as_deref()
        .and_then(Lang::from_code)
        .unwrap_or_default();
    let now = gw.clock.now();
    let Ok(code) = TicketCode::parse(&code) else {
        return not_found(lang);
    };
    let ticket = match gw.store.ticket(&code, now).await {
        Ok(Some(ticket)) => ticket,
        Ok(None) => return not_found(lang),
        Err(_) => return internal_error(lang),
    };
    let Some(procedure) = gw.procedure(ticket.procedure.as_str()) else {
        return not_found(lang);
    };
    let ward = gw.ward(Some(ticket.ward.as_str()));
    let point = ward.point(&ticket.reception_point);
    let booking = match query.booking.as_deref() {
        Some(id) => gw
            .store
            .booking(&BookingId::from_stored(id))
            .await
            .ok()
            .flatten()
            .filter(|b| b.ticket.as_ref() == Some(&code) && b.is_active()),
        None => None,
    };
    let Ok(signed) = gw.tickets.sign(ticket.clone()) else {
        return internal_error(lang);
    };
    let qr = signed.qr_svg().unwrap_or_default();
    let title = lang.pick("Phiếu hẹn nộp hồ sơ", "Appointment ticket");
    let mut items = vec![
        (
            lang.pick("Mã", "Code"),
            html! { strong class="ticket-code" { (code.to_string()) } },
        ),
        (
            lang.pick("Thủ tục", "Procedure"),
            html! { (pick(lang, &procedure.name())) },
        ),
        (
            lang.pick("Phường, xã", "Ward"),
            html! { (pick(lang, &ward.name())) },
        ),
    ];
    if let Some(point) = point {
        items.push((
            lang.pick("Nơi nộp", "Where"),
            html! { (pick(lang, &point.name())) ", " (point.address) },
        ));
    }
    if let Some(booking) = &booking {
        items.push((
            lang.pick("Giờ hẹn", "Appointment"),
            html! { (format_time(lang, local(booking.slot.start))) },
        ));
    }
    items.push((
        lang.pick("Hiệu lực đến", "Valid until"),
        html! { (format_time(lang, local(ticket.expires_at))) },
    ));
    let body = html! {
        (definition_list(&items))
        figure class="qr" aria-label=(lang.pick("Mã QR của phiếu hẹn", "QR code of the ticket")) {
            // The SVG is drawn by the QR encoder from the signed ticket: only its own elements
            // and numbers, and the ticket's base64url text is encoded as modules, not as text.
            (PreEscaped(qr))
            figcaption {
                (lang.pick(
                    "Cán bộ quét mã này để kiểm tra phiếu hẹn, kể cả khi không có mạng.",
                    "Staff scan this code to check the ticket, even without a network connection.",
                ))
            }
        }
        (checklist(lang, procedure))
    };
    page(&gw, lang, title, &uri).push(body).into_response()
}

fn bad_request(lang: Lang, message: &str) -> Response {
    let page =
        Page::new(lang, lang.pick("Không thực hiện được", "Could not be done")).push(notice(
            NoticeKind::Error,
            message,
            link_button(
                ButtonKind::Secondary,
                "/",
                lang.pick("Về trang chủ", "Back to the home page"),
            ),
        ));
    (StatusCode::BAD_REQUEST, page).into_response()
}

/// Any other path: a 404 page (JSON for API paths).
pub(crate) async fn fallback(uri: Uri, RawQuery(query): RawQuery) -> Response {
    if uri.path().starts_with("/api/") {
        return super::api::json_error(StatusCode::NOT_FOUND, "not_found", "no such route");
    }
    not_found(Lang::from_query(query.as_deref()))
}
