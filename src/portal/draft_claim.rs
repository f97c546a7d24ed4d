//! Claiming a draft typed signed out: a signed-in resident makes it theirs with its code.
//!
//! Something made signed out (a ticket and the form typed before the visit) never pre-fills a
//! signed-in resident's form on its own: on a shared device it may be the previous person's.
//! The resident claims it by typing the appointment code printed on their ticket. The claim
//! succeeds only when this browser also holds that ticket as taken signed out: the code alone
//! is read out at the counter and printed on paper, and must never read a draft's answers back.
//! Once claimed, the ticket and its draft carry the resident's subject pseudonym (their
//! cookies are sealed again for them), and the stored ticket is theirs: its code alone no longer
//! opens its page, booking, cancelling or moving. A wrong code, an unknown one and one held by no one here
//! get the same answer, and the route counts against the per-address limit of code look-ups.

use std::sync::Arc;

use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use super::auth::{append_cookie, internal_error, not_found};
use super::booking::refused;
use super::gateway::Gateway;
use super::html::{
    ButtonKind, CSRF_FIELD, FormMethod, Markup, NoticeKind, Text, button, form_of, html, notice,
};
use super::resident::ResidentQuery;
use crate::fallback::{Ticket, TicketCode};
use crate::i18n::Lang;
use crate::integrations::axum::OptionalSession;
use crate::policy::Procedure;
use crate::pseudonym::SubjectPseudonym;
use crate::session::Session;
use crate::store::{Draft, StoreError};

/// The name of the field holding the typed appointment code.
const CODE_FIELD: &str = "code";

/// The section under the online form: a notice after a claim, else (when no draft of the
/// resident's is held) the form to claim one with its code. `fields` are [`claim_fields`] in
/// `lang`, rendered once.
pub(crate) fn claim_section(
    lang: Lang,
    fields: &Markup,
    procedure: &Procedure,
    session: Option<&Session>,
    claimed: bool,
    has_draft: bool,
) -> Markup {
    if claimed && has_draft {
        return notice(
            NoticeKind::Success,
            lang.pick("Đã nhận tờ khai", "Form retrieved"),
            Text(lang.pick(
                "Tờ khai bạn điền trước đã được gắn với tài khoản của bạn và điền sẵn ở trên.",
                "The form you filled in earlier is now linked to your account and filled in above.",
            )),
        );
    }
    let Some(session) = session.filter(|_| !has_draft) else {
        return html! {};
    };
    // Where the claim form posts; built in one go, as this section is on every signed-in
    // procedure page.
    let action = format!(
        "/procedures/{}/claim?lang={}",
        procedure.code(),
        lang.code()
    );
    html! {
        section class="draft-claim" aria-labelledby="draft-claim" {
            h2 id="draft-claim" {
                (Text(lang.pick("Đã điền tờ khai trước khi đăng nhập?", "Filled in the form before signing in?")))
            }
            p {
                (Text(lang.pick(
                    "Nếu bạn đã điền tờ khai trên trình duyệt này khi chưa đăng nhập, hãy nhập mã lịch hẹn ghi trên phiếu hẹn để dùng lại tờ khai đó.",
                    "If you filled in the form in this browser before signing in, enter the appointment code on your ticket to use it.",
                )))
            }
            (form_of(FormMethod::Post, &action, Some(session.csrf_token().secret()), &[fields]))
        }
    }
}

/// The claim form's field and button in `lang`: the same on every page, rendered once per
/// language (`procedure_html`).
pub(crate) fn claim_fields(lang: Lang) -> Markup {
    html! {
        div class="field" {
            label for="claim-code" { (Text(lang.pick("Mã lịch hẹn", "Appointment code"))) }
            input id="claim-code" type="text" name=(Text(CODE_FIELD)) required autocomplete="off"
                autocapitalize="characters" spellcheck="false";
        }
        (button(ButtonKind::Secondary, lang.pick("Dùng tờ khai này", "Use this form")))
    }
}

/// The ticket `typed` names and its draft, if this browser holds that ticket as taken signed
/// out, for `procedure`, still valid and with a saved draft.
async fn claimable(
    gw: &Gateway,
    headers: &HeaderMap,
    procedure: &Procedure,
    typed: &str,
) -> Result<Option<(Ticket, Draft)>, ()> {
    let Ok(code) = TicketCode::parse(typed) else {
        return Ok(None);
    };
    if gw.ticket_held_signed_out(headers) != Some(code) {
        return Ok(None);
    }
    let now = gw.clock.now();
    // Only a ticket taken signed out can be claimed: a signed-in resident's stays theirs.
    let ticket = match gw.store.ticket(&code, now).await {
        Ok(Some(ticket)) if ticket.procedure == procedure.code() && ticket.owner.is_none() => {
            ticket
        }
        Ok(_) => return Ok(None),
        Err(_) => return Err(()),
    };
    let Some(draft_id) = &ticket.draft else {
        return Ok(None);
    };
    match gw.store.draft(draft_id, now).await {
        Ok(Some(draft)) => Ok(Some((ticket, draft))),
        Ok(None) => Ok(None),
        Err(_) => Err(()),
    }
}

/// The answer to a wrong or unknown code, or one not held here: one answer, so the code cannot
/// be probed.
fn not_claimable(lang: Lang, back: &str) -> Response {
    refused(
        lang,
        StatusCode::NOT_FOUND,
        lang.pick(
            "Không tìm thấy tờ khai nháp cho mã lịch hẹn này trên trình duyệt này. Vui lòng kiểm tra lại mã ghi trên phiếu hẹn.",
            "No draft was found for this appointment code in this browser. Please check the code on your ticket.",
        ),
        back,
    )
}

/// `POST /procedures/{code}/claim`: makes a draft typed signed out the signed-in resident's.
pub(crate) async fn claim(
    State(gw): State<Arc<Gateway>>,
    OptionalSession(session): OptionalSession,
    Path(code): Path<String>,
    Query(query): Query<ResidentQuery>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let lang = query.lang();
    let Some(procedure) = gw.procedure(&code) else {
        return not_found(lang);
    };
    let back = format!("/procedures/{}?lang={}", procedure.code(), lang.code());
    let Some(session) = session else {
        return Redirect::to(&back).into_response();
    };
    let value = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if !value(CSRF_FIELD).is_some_and(|t| session.csrf_token().matches(t)) {
        return refused(
            lang,
            StatusCode::FORBIDDEN,
            lang.pick(
                "Biểu mẫu không hợp lệ hoặc đã hết hạn. Vui lòng tải lại trang và thử lại.",
                "The form is not valid or has expired. Please reload the page and retry.",
            ),
            &back,
        );
    }
    let typed = value(CODE_FIELD).unwrap_or_default();
    let (mut ticket, draft) = match claimable(&gw, &headers, procedure, typed).await {
        Ok(Some(found)) => found,
        Ok(None) => return not_claimable(lang, &back),
        Err(()) => return internal_error(lang),
    };
    let owner = session.subject();
    // The stored ticket becomes theirs too, so its code alone no longer opens it. A claim by
    // someone else in between wins; this one then gets the same answer as a wrong code.
    let pseudonym = SubjectPseudonym::from_stored(owner);
    match gw.store.claim_ticket(&ticket.code, &pseudonym).await {
        Ok(true) => ticket.owner = Some(pseudonym),
        Ok(false) | Err(StoreError::NotFound) => return not_claimable(lang, &back),
        Err(_) => return internal_error(lang),
    }
    let Ok(signed) = gw.tickets.sign(ticket) else {
        return internal_error(lang);
    };
    let (Some(ticket_cookie), Some(draft_cookie)) = (
        gw.ticket_cookie(&signed, Some(owner)),
        gw.draft_cookie(&draft, owner),
    ) else {
        return internal_error(lang);
    };
    let mut response = Redirect::to(&format!("{back}&claimed=1")).into_response();
    append_cookie(&mut response, &ticket_cookie);
    append_cookie(&mut response, &draft_cookie);
    response
}
