//! The counter: what an officer records when a resident brings a ticket.
//!
//! The officer opens the ticket (typed code, or the QR link on the printed ticket), sees the
//! resident's draft, and records one outcome:
//!
//! - `POST /staff/tickets/{code}/received` (`procedure=CODE`): the dossier was taken in. It is
//!   filed through the same durable outbox as online dossiers, with the channel `counter`, the
//!   officer's pseudonym and the reception point in the hand-off envelope, and the page shows
//!   its dossier code. Recording it again shows the same dossier.
//! - `POST /staff/tickets/{code}/attended`: the resident came, nothing was filed (advice only,
//!   documents missing).
//! - `POST /staff/tickets/{code}/not-needed`: the visit was not needed.
//!
//! Every form carries the staff session's own CSRF token ([`StaffSession::csrf`]), so a page
//! from another site cannot record anything in the officer's name. Any
//! recorded outcome is the ticket's check-in: its booking then counts as attended, not as a
//! no-show. The audit trail keeps codes and the officer's pseudonym only.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Form, Router};
use serde::Deserialize;

use super::auth::internal_error;
use super::gateway::Gateway;
use super::html::{
    ButtonKind, FormMethod, Markup, NoticeKind, button, definition_list, form, html, link_button,
    notice,
};
use super::staff::{sign_in_page, staff_page};
use super::staff_session::StaffSession;
use crate::audit::{AuditEntry, AuditEvent, CounterOutcome, CounterRecorded, PointRef};
use crate::fallback::{Ticket, TicketCode, vietnam};
use crate::i18n::Lang;
use crate::pseudonym::SubjectPseudonym;
use crate::store::StoreError;
use crate::submission::CounterIntake;

pub(crate) fn routes() -> Router<Arc<Gateway>> {
    Router::new()
        .route("/staff/tickets/{code}/received", post(received))
        .route("/staff/tickets/{code}/attended", post(attended))
        .route("/staff/tickets/{code}/not-needed", post(not_needed))
}

/// The outcome already recorded for `ticket`, if any (the latest, and a `received` one before
/// any other since it made a dossier).
pub(crate) async fn recorded_outcome(
    gw: &Gateway,
    ticket: &Ticket,
) -> Result<Option<CounterRecorded>, StoreError> {
    // Indexed by ticket code; a code is never reissued, the time bound only guards it.
    let records = gw.store.counter_records(&ticket.code).await?;
    let mut found: Option<CounterRecorded> = None;
    for record in records {
        if let AuditEvent::Counter(c) = record.event
            && record.at >= ticket.issued_at
            && found
                .as_ref()
                .is_none_or(|f| f.outcome != CounterOutcome::Received)
        {
            found = Some(c);
        }
    }
    Ok(found)
}

/// The label of a counter outcome.
pub(crate) const fn outcome_label(outcome: CounterOutcome, lang: Lang) -> &'static str {
    let (vi, en) = match outcome {
        CounterOutcome::Received => ("Đã tiếp nhận hồ sơ", "Dossier received"),
        CounterOutcome::AttendedNotFiled => (
            "Đã đến, chưa nộp hồ sơ (chỉ tư vấn hoặc thiếu giấy tờ)",
            "Came, nothing filed (advice only or documents missing)",
        ),
        CounterOutcome::NotNeeded => ("Không cần nộp", "Not needed"),
    };
    match lang {
        Lang::Vi => vi,
        Lang::En => en,
    }
}

/// The counter part of the staff ticket page: what was recorded, or the three forms.
pub(crate) async fn counter_panel(
    gw: &Gateway,
    lang: Lang,
    ticket: &Ticket,
    officer: &StaffSession,
) -> Result<Markup, StoreError> {
    let recorded = recorded_outcome(gw, ticket).await?;
    let token = officer.csrf();
    let code = ticket.code.to_string();
    let action = |what: &str| format!("/staff/tickets/{code}/{what}?lang={}", lang.code());
    let received_form = html! {
        div class="field" {
            label for="procedure" { (lang.pick("Thủ tục tiếp nhận", "Procedure filed")) }
            select id="procedure" name="procedure" {
                @for p in gw.catalog.procedures() {
                    @let name = p.name();
                    option value=(p.code().as_str()) selected[p.code() == ticket.procedure] {
                        (lang.pick(&name.vi, &name.en))
                    }
                }
            }
        }
        (button(ButtonKind::Primary, lang.pick("Ghi nhận: đã tiếp nhận hồ sơ", "Record: dossier received")))
    };
    let markup = html! {
        h2 { (lang.pick("Kết quả tại quầy", "At the counter")) }
        @match &recorded {
            Some(c) => {
                p class="counter-recorded" {
                    (lang.pick("Đã ghi nhận: ", "Recorded: "))
                    strong { (outcome_label(c.outcome, lang)) }
                    @if let Some(dossier) = c.dossier_code {
                        " — " (lang.pick("mã hồ sơ ", "dossier code ")) strong class="dossier-code" { (dossier.as_str()) }
                    }
                }
            }
            None => {}
        }
        @if recorded.as_ref().is_none_or(|c| c.outcome != CounterOutcome::Received) {
            (form(FormMethod::Post, &action("received"), Some(token), received_form))
        }
        @if recorded.is_none() {
            (form(FormMethod::Post, &action("attended"), Some(token), button(
                ButtonKind::Secondary,
                lang.pick("Ghi nhận: đã đến, chưa nộp hồ sơ", "Record: came, nothing filed"),
            )))
            (form(FormMethod::Post, &action("not-needed"), Some(token), button(
                ButtonKind::Secondary,
                lang.pick("Ghi nhận: không cần nộp", "Record: not needed"),
            )))
        }
    };
    Ok(markup)
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct CounterQuery {
    #[serde(default)]
    lang: Option<String>,
}

/// The form fields of the counter forms.
#[derive(Default, Deserialize)]
pub(crate) struct CounterForm {
    #[serde(default, rename = "csrf_token")]
    csrf: Option<String>,
    #[serde(default)]
    procedure: Option<String>,
}

/// `POST /staff/tickets/{code}/received`.
async fn received(
    State(gw): State<Arc<Gateway>>,
    Path(code): Path<String>,
    Query(query): Query<CounterQuery>,
    headers: HeaderMap,
    uri: Uri,
    Form(form): Form<CounterForm>,
) -> Response {
    record(
        &gw,
        &code,
        &query,
        &headers,
        &uri,
        &form,
        CounterOutcome::Received,
    )
    .await
}

/// `POST /staff/tickets/{code}/attended`.
async fn attended(
    State(gw): State<Arc<Gateway>>,
    Path(code): Path<String>,
    Query(query): Query<CounterQuery>,
    headers: HeaderMap,
    uri: Uri,
    Form(form): Form<CounterForm>,
) -> Response {
    record(
        &gw,
        &code,
        &query,
        &headers,
        &uri,
        &form,
        CounterOutcome::AttendedNotFiled,
    )
    .await
}

/// `POST /staff/tickets/{code}/not-needed`.
async fn not_needed(
    State(gw): State<Arc<Gateway>>,
    Path(code): Path<String>,
    Query(query): Query<CounterQuery>,
    headers: HeaderMap,
    uri: Uri,
    Form(form): Form<CounterForm>,
) -> Response {
    record(
        &gw,
        &code,
        &query,
        &headers,
        &uri,
        &form,
        CounterOutcome::NotNeeded,
    )
    .await
}

/// What every counter answer needs: the gateway, the language and the request's URI.
struct Desk<'a> {
    gw: &'a Gateway,
    lang: Lang,
    uri: &'a Uri,
}

impl Desk<'_> {
    /// A counter page answering with `status`: a notice, then a link back to the ticket.
    fn answer(
        &self,
        status: StatusCode,
        kind: NoticeKind,
        heading: &str,
        body: Markup,
        ticket: Option<&TicketCode>,
    ) -> Response {
        let lang = self.lang;
        let back = ticket.map_or_else(
            || format!("/staff?lang={}", lang.code()),
            |t| format!("/staff/tickets?code={t}&lang={}", lang.code()),
        );
        let title = lang.pick("Kết quả tại quầy", "At the counter");
        let page = staff_page(self.gw, lang, title, self.uri)
            .push(notice(kind, heading, body))
            .push(link_button(
                ButtonKind::Secondary,
                &back,
                lang.pick("Về phiếu hẹn", "Back to the ticket"),
            ));
        (status, page).into_response()
    }
}

#[expect(
    clippy::too_many_lines,
    reason = "one flow: check, record, answer; each step is a few lines"
)]
async fn record(
    gw: &Gateway,
    code: &str,
    query: &CounterQuery,
    headers: &HeaderMap,
    uri: &Uri,
    form: &CounterForm,
    outcome: CounterOutcome,
) -> Response {
    let lang = query
        .lang
        .as_deref()
        .and_then(Lang::from_code)
        .unwrap_or_default();
    let Some(officer) = gw.staff_session(headers) else {
        return sign_in_page(gw, lang, uri);
    };
    let desk = Desk { gw, lang, uri };
    if !form
        .csrf
        .as_deref()
        .is_some_and(|t| officer.token_matches(t))
    {
        return desk.answer(
            StatusCode::FORBIDDEN,
            NoticeKind::Error,
            lang.pick("Biểu mẫu đã hết hạn", "The form has expired"),
            html! { (lang.pick(
                "Chưa ghi nhận gì. Mở lại phiếu hẹn rồi ghi nhận lại.",
                "Nothing was recorded. Open the ticket again and record it again.",
            )) },
            None,
        );
    }
    let not_found = || {
        desk.answer(StatusCode::NOT_FOUND,
            NoticeKind::Warning,
            lang.pick("Không tìm thấy", "Not found"),
            html! { (lang.pick("Không có mã lịch hẹn còn hiệu lực nào như vậy.", "No valid appointment code matches.")) },
            None,
        )
    };
    let Ok(code) = TicketCode::parse(code) else {
        return not_found();
    };
    let ticket = match gw.store.ticket(&code, gw.clock.now()).await {
        Ok(Some(ticket)) => ticket,
        Ok(None) => return not_found(),
        Err(_) => return internal_error(lang),
    };
    let Some(point) = PointRef::parse(&ticket.reception_point) else {
        return internal_error(lang);
    };
    let officer_pseudonym = SubjectPseudonym::from_stored(officer.subject().to_owned());
    let Ok(recorded) = recorded_outcome(gw, &ticket).await else {
        return internal_error(lang);
    };

    if outcome == CounterOutcome::Received {
        let Some(procedure) = form.procedure.as_deref().and_then(|p| gw.procedure(p)) else {
            return desk.answer(
                StatusCode::UNPROCESSABLE_ENTITY,
                NoticeKind::Error,
                lang.pick("Thủ tục không hợp lệ", "Unknown procedure"),
                html! { (lang.pick(
                    "Chọn thủ tục của hồ sơ trong danh sách rồi ghi nhận lại.",
                    "Choose the dossier's procedure from the list and record it again.",
                )) },
                Some(&ticket.code),
            );
        };
        // The resident's draft answers become the dossier body when they are for this procedure.
        let draft = match &ticket.draft {
            Some(id) => gw.store.draft(id, gw.clock.now()).await.ok().flatten(),
            None => None,
        }
        .filter(|d| d.procedure == procedure.code());
        let dossier = draft
            .as_ref()
            .and_then(|d| gw.draft_answers(d))
            .filter(serde_json::Value::is_object)
            .unwrap_or_else(|| serde_json::json!({}));
        let issuer = gw.public_url.as_str().trim_end_matches('/').to_owned();
        let intake = CounterIntake {
            procedure: procedure.code(),
            ward: ticket.ward,
            point,
            ticket: ticket.code,
            officer: &officer_pseudonym,
            issuer: &issuer,
            dossier,
            draft: draft.map(|d| d.id),
        };
        let received = match gw.submitter.receive_at_counter(intake).await {
            Ok(received) => received,
            Err(error) => {
                tracing::error!(%error, "recording a counter dossier failed");
                return internal_error(lang);
            }
        };
        let dossier_code = received.receipt.dossier_code;
        let items = [
            (
                lang.pick("Mã hồ sơ", "Dossier code"),
                html! { strong class="dossier-code" { (dossier_code.as_str()) } },
            ),
            (
                lang.pick("Thủ tục", "Procedure"),
                html! { (gw.procedure_name(procedure.code().as_str(), lang)) },
            ),
            (
                lang.pick("Mã lịch hẹn", "Appointment code"),
                html! { (ticket.code.to_string()) },
            ),
            (
                lang.pick("Thời điểm tiếp nhận", "Received at"),
                html! { (received.receipt.issued_at.with_timezone(&vietnam()).format("%d/%m/%Y %H:%M").to_string()) },
            ),
        ];
        let heading = if received.replayed {
            lang.pick(
                "Hồ sơ của phiếu hẹn này đã được tiếp nhận trước đó",
                "This ticket's dossier was already received",
            )
        } else {
            lang.pick("Đã tiếp nhận hồ sơ", "Dossier received")
        };
        return desk.answer(
            StatusCode::OK,
            NoticeKind::Success,
            heading,
            definition_list(&items),
            Some(&ticket.code),
        );
    }

    if let Some(existing) = recorded {
        return already_recorded(&desk, lang, &existing, &ticket);
    }
    let entry = AuditEntry::new(
        gw.clock.now(),
        Some(officer_pseudonym),
        AuditEvent::Counter(CounterRecorded::new(
            ticket.ward,
            point,
            ticket.code,
            ticket.procedure,
            outcome,
            None,
        )),
    );
    match gw.store.append_counter_outcome(&entry).await {
        Ok(Some(_)) => {}
        // Another post for this ticket won the race: show what it recorded.
        Ok(None) => {
            let Ok(Some(existing)) = recorded_outcome(gw, &ticket).await else {
                return internal_error(lang);
            };
            return already_recorded(&desk, lang, &existing, &ticket);
        }
        Err(_) => return internal_error(lang),
    }
    desk.answer(
        StatusCode::OK,
        NoticeKind::Success,
        lang.pick("Đã ghi nhận", "Recorded"),
        html! { strong { (outcome_label(outcome, lang)) } },
        Some(&ticket.code),
    )
}

/// The answer to an outcome posted for a ticket that already has one.
fn already_recorded(
    desk: &Desk<'_>,
    lang: Lang,
    existing: &CounterRecorded,
    ticket: &Ticket,
) -> Response {
    desk.answer(
        StatusCode::CONFLICT,
        NoticeKind::Warning,
        lang.pick(
            "Phiếu hẹn đã được ghi nhận",
            "This ticket was already recorded",
        ),
        html! {
            (lang.pick("Kết quả đã ghi: ", "Recorded outcome: "))
            strong { (outcome_label(existing.outcome, lang)) }
        },
        Some(&ticket.code),
    )
}
