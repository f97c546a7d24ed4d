//! The printable ticket and the draft a resident fills in before the visit.
//!
//! The ticket page is what the resident prints or keeps on the phone: the appointment code, its
//! QR code (the signed ticket, verifiable offline at the counter), every place that receives
//! the procedure with address, hours and phone as `tel:` links, what to bring and how to reach
//! level 2. On screen it also lets the resident cancel or move the booking.
//!
//! A resident without level 2 can type the form before the visit: it is kept as the draft
//! linked to the ticket, so the counter officer opens it with the ticket instead of retyping.
//! The ticket code alone lets a resident overwrite that draft but not read it back: the saved
//! answers are shown again only to the browser that holds the ticket's cookie, or to the
//! ticket's owner signed in (on any browser, after signing out and in again).

use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;

use super::auth::{internal_error, not_found};
use super::booking::{TICKET_TOKEN_FIELD, format_time, refused, ticket_booking_section, ticket_of};
use super::gateway::Gateway;
use super::html::{
    ButtonKind, FormMethod, Markup, NoticeKind, PreEscaped, definition_list, form, html,
    link_button, notice,
};
use super::referral_page::{bring_section, help_section, level2_section, points_section};
use crate::fallback::{Referral, Ticket, vietnam};
use crate::i18n::{Lang, LocalText};
use crate::integrations::axum::OptionalSession;
use crate::policy::{Diagnostics, InPersonRoute, Procedure};
use crate::store::Draft;

/// Routes of this module.
pub(crate) fn routes() -> Router<Arc<Gateway>> {
    Router::new()
        .route("/tickets/{code}", get(ticket_page))
        .route("/tickets/{code}/draft", get(draft_page).post(save_draft))
}

fn pick(lang: Lang, text: &LocalText) -> &str {
    lang.pick(&text.vi, &text.en)
}

/// `/tickets/{code}…` query.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct TicketQuery {
    #[serde(default)]
    lang: Option<String>,
    #[serde(default)]
    cancelled: Option<String>,
    #[serde(default)]
    saved: Option<String>,
}

impl TicketQuery {
    fn lang(&self) -> Lang {
        self.lang
            .as_deref()
            .and_then(Lang::from_code)
            .unwrap_or_default()
    }
}

/// The referral a ticket was issued with, rebuilt from the directory for today (hours, the
/// next opening).
fn referral_of(
    gw: &Gateway,
    procedure: &Procedure,
    ticket: &Ticket,
    lang: Lang,
) -> Option<Referral> {
    let route = InPersonRoute {
        procedure: procedure.code(),
        reason: ticket.reason,
        ward: Some(ticket.ward),
        reception_point: Some(ticket.reception_point.clone()),
        lang,
        can_retry_sign_in: false,
        diagnostics: Diagnostics {
            have: None,
            need: procedure.online_level(),
            signed_in: false,
            auth_age_seconds: None,
            max_age_seconds: procedure.max_auth_age().num_seconds(),
            step_up_tried: false,
            login_failure: None,
            presence_required: procedure.presence_required(),
            chose_in_person: false,
        },
    };
    Referral::build(&gw.directory, procedure, &route, gw.clock.now()).ok()
}

/// `GET /tickets/{code}`: the printable ticket.
pub(crate) async fn ticket_page(
    State(gw): State<Arc<Gateway>>,
    OptionalSession(session): OptionalSession,
    Path(code): Path<String>,
    Query(query): Query<TicketQuery>,
    uri: Uri,
) -> Response {
    let lang = query.lang();
    let ticket = match ticket_of(&gw, lang, &code, session.as_ref()).await {
        Ok(ticket) => ticket,
        Err(response) => return response,
    };
    let Some(procedure) = gw.procedure(ticket.procedure.as_str()) else {
        return not_found(lang);
    };
    let Some(referral) = referral_of(&gw, procedure, &ticket, lang) else {
        return internal_error(lang);
    };
    let Ok(booking) = gw.active_booking(&ticket).await else {
        return internal_error(lang);
    };
    let Ok(signed) = gw.tickets.sign(ticket.clone()) else {
        return internal_error(lang);
    };
    let qr = signed.staff_link_qr_svg(&gw.public_url).unwrap_or_default();
    let ward = gw.ward(Some(ticket.ward.as_str()));
    let title = lang.pick("Phiếu hẹn nộp hồ sơ", "Appointment ticket");
    let mut items = vec![
        (
            lang.pick("Mã lịch hẹn", "Appointment code"),
            html! { strong class="ticket-code" { (ticket.code.to_string()) } },
        ),
        (
            lang.pick("Thủ tục", "Procedure"),
            html! { (pick(lang, &procedure.name())) },
        ),
        (
            lang.pick("Phường, xã", "Ward"),
            html! { (pick(lang, &ward.name())) ", " (pick(lang, &referral.ward.province)) },
        ),
    ];
    if let Some(booking) = &booking {
        items.push((
            lang.pick("Giờ hẹn", "Appointment"),
            html! { strong class="appointment" { (format_time(lang, booking.slot.start.with_timezone(&vietnam()))) } },
        ));
    }
    items.push((
        lang.pick("Hiệu lực đến", "Valid until"),
        html! { (format_time(lang, ticket.expires_at.with_timezone(&vietnam()))) },
    ));
    let draft_href = format!("/tickets/{}/draft?lang={}", ticket.code, lang.code());
    let body = html! {
        @if query.cancelled.is_some() && booking.is_none() {
            (notice(
                NoticeKind::Success,
                lang.pick("Đã hủy lịch hẹn", "Booking cancelled"),
                lang.pick(
                    "Lịch hẹn đã được hủy. Phiếu hẹn vẫn còn hiệu lực: bạn có thể đặt giờ khác hoặc đến trong giờ làm việc.",
                    "The booking is cancelled. The ticket is still valid: you can book another time or come during opening hours.",
                ),
            ))
        }
        div class="ticket" {
            (definition_list(&items))
            figure class="qr" aria-label=(lang.pick("Mã QR của phiếu hẹn", "QR code of the ticket")) {
                // The SVG is drawn by the QR encoder from the signed ticket: only its own
                // elements and numbers, and the ticket's base64url text is encoded as modules,
                // not as text.
                (PreEscaped(qr))
                figcaption {
                    (lang.pick(
                        "Cán bộ quét mã này để kiểm tra phiếu hẹn, kể cả khi không có mạng.",
                        "Staff scan this code to check the ticket, even without a network connection.",
                    ))
                }
            }
        }
        (ticket_booking_section(&gw, lang, &ticket).await)
        @if booking.is_none() {
            p class="no-print" {
                a href={ "/procedures/" (procedure.code().as_str()) "?lang=" (lang.code()) "&in_person=1" } {
                    (lang.pick("Đặt lịch hẹn", "Book a time"))
                }
            }
        }
        p class="no-print" {
            a href=(draft_href) {
                (lang.pick(
                    "Điền tờ khai trước khi đến (lưu nháp cho cán bộ)",
                    "Fill in the form before your visit (saved as a draft for the officer)"
                ))
            }
        }
        (points_section(lang, &referral, false))
        (bring_section(lang, &referral))
        (level2_section(lang, &referral.level2))
        (help_section(lang, &referral))
    };
    super::pages::page(&gw, lang, title, &uri)
        .push(body)
        .into_response()
}

/// The pre-visit form: the procedure's fields and a save button, with the ticket's token.
fn draft_form(
    lang: Lang,
    procedure: &Procedure,
    ticket: &Ticket,
    token: &str,
    answers: Option<&serde_json::Value>,
) -> Markup {
    let action = format!("/tickets/{}/draft?lang={}", ticket.code, lang.code());
    let content = html! {
        input type="hidden" name=(TICKET_TOKEN_FIELD) value=(token);
        (super::pages::field_inputs(lang, procedure, answers))
        (super::html::button(ButtonKind::Primary, lang.pick("Lưu nháp", "Save the draft")))
    };
    form(FormMethod::Post, &action, None, content)
}

/// `GET /tickets/{code}/draft`: the form to fill in before the visit.
pub(crate) async fn draft_page(
    State(gw): State<Arc<Gateway>>,
    OptionalSession(session): OptionalSession,
    Path(code): Path<String>,
    Query(query): Query<TicketQuery>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let lang = query.lang();
    let ticket = match ticket_of(&gw, lang, &code, session.as_ref()).await {
        Ok(ticket) => ticket,
        Err(response) => return response,
    };
    let Some(procedure) = gw.procedure(ticket.procedure.as_str()) else {
        return not_found(lang);
    };
    let ticket_href = format!("/tickets/{}?lang={}", ticket.code, lang.code());
    let Some(draft_id) = &ticket.draft else {
        return refused(
            lang,
            StatusCode::CONFLICT,
            lang.pick(
                "Phiếu hẹn này không giữ được tờ khai nháp. Vui lòng mang giấy tờ đến quầy, cán bộ sẽ giúp bạn điền.",
                "This ticket cannot hold a draft. Please bring your documents to the counter; the officer helps you fill in the form.",
            ),
            &ticket_href,
        );
    };
    let Some(token) = gw.ticket_form_token(&ticket) else {
        return internal_error(lang);
    };
    // Only the browser that holds the ticket, or its signed-in owner, sees the answers again.
    let holder = super::ticket_owner::is_owner(&ticket, session.as_ref())
        || gw.held_ticket(&headers, procedure, session.as_ref()) == Some(ticket.code);
    let Ok(stored) = gw.store.draft(draft_id, gw.clock.now()).await else {
        return internal_error(lang);
    };
    let answers = stored
        .as_ref()
        .filter(|_| holder)
        .and_then(|d| gw.draft_answers(d));
    let title = lang.pick("Tờ khai điền trước", "Form filled in before the visit");
    let body = html! {
        @if query.saved.is_some() && stored.is_some() {
            (notice(
                NoticeKind::Success,
                lang.pick("Đã lưu nháp", "Draft saved"),
                lang.pick(
                    "Cán bộ tại quầy mở tờ khai này bằng mã lịch hẹn của bạn, không cần điền lại.",
                    "The officer at the counter opens this form with your appointment code; nothing needs retyping.",
                ),
            ))
        }
        p {
            (lang.pick(
                "Bạn có thể điền tờ khai trước khi đến. Tờ khai được lưu dưới dạng nháp gắn với mã lịch hẹn",
                "You can fill in the form before your visit. It is kept as a draft linked to the appointment code",
            ))
            " " strong { (ticket.code.to_string()) } ". "
            (lang.pick(
                "Hồ sơ chỉ được nộp khi bạn đến quầy; lưu lại sẽ thay thế bản nháp trước.",
                "The application is filed only when you come to the counter; saving again replaces the earlier draft.",
            ))
        }
        @if stored.is_some() && !holder {
            p {
                (lang.pick(
                    "Đã có một bản nháp cho mã lịch hẹn này. Vì lý do bảo mật, nội dung chỉ hiện lại trên trình duyệt đã nhận phiếu hẹn.",
                    "A draft already exists for this appointment code. For privacy, its answers are shown again only in the browser that received the ticket.",
                ))
            }
        }
        h2 { (pick(lang, &procedure.name())) }
        (draft_form(lang, procedure, &ticket, &token, answers.as_ref()))
        p { (link_button(ButtonKind::Secondary, &ticket_href, lang.pick("Về phiếu hẹn", "Back to the ticket"))) }
    };
    super::pages::page(&gw, lang, title, &uri)
        .push(body)
        .into_response()
}

/// `POST /tickets/{code}/draft`: saves the pre-visit form as the ticket's draft.
pub(crate) async fn save_draft(
    State(gw): State<Arc<Gateway>>,
    OptionalSession(session): OptionalSession,
    Path(code): Path<String>,
    Query(query): Query<TicketQuery>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let lang = query.lang();
    let ticket = match ticket_of(&gw, lang, &code, session.as_ref()).await {
        Ok(ticket) => ticket,
        Err(response) => return response,
    };
    let Some(procedure) = gw.procedure(ticket.procedure.as_str()) else {
        return not_found(lang);
    };
    let page_href = format!("/tickets/{}/draft?lang={}", ticket.code, lang.code());
    let token = form
        .iter()
        .find(|(k, _)| k == TICKET_TOKEN_FIELD)
        .map(|(_, v)| v.as_str());
    if !gw.ticket_form_token_matches(&ticket.code, token) {
        return refused(
            lang,
            StatusCode::FORBIDDEN,
            lang.pick(
                "Biểu mẫu không hợp lệ hoặc đã hết hạn. Vui lòng mở lại trang phiếu hẹn và thử lại.",
                "The form is not valid or has expired. Please open the ticket page again and retry.",
            ),
            &page_href,
        );
    }
    let Some(draft_id) = ticket.draft.clone() else {
        return Redirect::to(&page_href).into_response();
    };
    let now = gw.clock.now();
    let answers = super::submit::dossier_from_form(procedure, &form);
    // Drafts hold the same personal data as dossiers: sealed at rest, bound to the draft id.
    let Ok(sealed) = gw.sealer.seal_draft(draft_id.as_str(), &answers) else {
        return internal_error(lang);
    };
    let draft = Draft {
        id: draft_id,
        procedure: procedure.code(),
        ward: Some(ticket.ward),
        data: sealed,
        saved_at: now,
        // Kept as long as the ticket that links it.
        expires_at: ticket.expires_at,
    };
    if gw.store.save_draft(&draft).await.is_err() {
        return internal_error(lang);
    }
    Redirect::to(&format!("{page_href}&saved=1")).into_response()
}
