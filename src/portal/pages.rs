//! Server-rendered pages for residents: home, procedure, referral with booking, ticket.
//!
//! Vietnamese by default (`?lang=en` for English), usable without JavaScript, printable.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, FixedOffset, Utc};

use super::auth::{internal_error, not_found};
use super::gateway::Gateway;
use super::html::{
    ButtonKind, FormMethod, Markup, NoticeKind, Page, Render, Reserve, Text, TextField, button,
    definition_list, form_of, html, link_button, notice, upload_form_of,
};
use super::procedure_html::ProcedureHtml;
use super::referral_page::SignInAgain;
use super::resident::{ResidentQuery, max_age_key};
use super::ticket_allowance::ClientAddress;
use crate::fallback::vietnam;
use crate::i18n::{Lang, LocalText};
use crate::integrations::axum::OptionalSession;
use crate::policy::{Decision, FieldKind, Procedure};
use crate::session::Session;

/// Routes of the referral's follow-ups: bookings, the ticket, the draft before the visit.
pub(crate) fn routes() -> Router<Arc<Gateway>> {
    Router::new()
        .merge(super::booking::routes())
        .merge(super::ticket::routes())
}

fn pick(lang: Lang, text: &LocalText) -> &str {
    lang.pick(&text.vi, &text.en)
}

pub(crate) fn page(gw: &Gateway, lang: Lang, title: &str, uri: &Uri) -> Page {
    let ward = gw.ward(None);
    // The home ward's name and unit word, formatted once when the gateway was built.
    let texts = gw.procedure_html.home_ward(lang);
    Page::new(lang, title)
        .ward_name(texts.full_name.as_str())
        .unit_word(texts.unit_word.as_str())
        .sample_data(ward.sample || gw.catalog.is_sample())
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

/// A time as [`format_time`] writes it, written straight into the page: chrono's `format`
/// parses its pattern and formats the offset on every call.
struct LocalTime(Lang, DateTime<FixedOffset>);

impl Render for LocalTime {
    fn render_to(&self, buffer: &mut String) {
        use chrono::{Datelike, Timelike};
        let LocalTime(lang, at) = *self;
        let Ok(year) = u32::try_from(at.year()) else {
            return Text(&format_time(lang, at)).render_to(buffer);
        };
        // chrono writes a year past 9999 with a sign: leave that to it.
        if year > 9999 {
            return Text(&format_time(lang, at)).render_to(buffer);
        }
        push_digits(buffer, at.hour(), 2);
        buffer.push(':');
        push_digits(buffer, at.minute(), 2);
        buffer.push(' ');
        Text(lang.pick("ngày", "on")).render_to(buffer);
        buffer.push(' ');
        push_digits(buffer, at.day(), 2);
        buffer.push('/');
        push_digits(buffer, at.month(), 2);
        buffer.push('/');
        push_digits(buffer, year, 4);
    }
}

/// Appends the last `width` decimal digits of `value`, zero-padded.
fn push_digits(buffer: &mut String, value: u32, width: u32) {
    for place in (0..width).rev() {
        let digit = value / 10u32.pow(place) % 10;
        buffer.push(char::from(b'0' + digit as u8));
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

pub(crate) fn session_panel(gw: &Gateway, lang: Lang, session: Option<&Session>) -> Markup {
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
        (Text(lang.pick("Bạn đã đăng nhập", "You are signed in")))
        @if let Some(provider) = provider {
            " " (Text(lang.pick("qua", "through"))) " " (Text(provider.label_text().get(lang)))
        }
        ": " (Text(level)) ". "
        (form_of(
            FormMethod::Post,
            "/logout",
            Some(session.csrf_token().secret()),
            &[&gw.procedure_html.lang(lang).sign_out_button],
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
    let reason = Text(decision.reason().text(lang));
    let mut ticket_cookie = None;
    // Each link is built only by the branches that show it.
    let login = || format!("/login?procedure={}&lang={}", procedure.code(), lang.code());
    let in_person = || {
        format!(
            "/procedures/{}?lang={}&in_person=1",
            procedure.code(),
            lang.code()
        )
    };
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
            let draft = gw.held_draft(&headers, procedure, session.as_ref()).await;
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
            page = page.push(super::draft_claim::claim_section(
                lang,
                &gw.procedure_html.lang(lang).claim_fields,
                procedure,
                session.as_ref(),
                query.claimed.is_some(),
                draft.is_some(),
            ));
            page = page.push(link_button(
                ButtonKind::Secondary,
                &in_person(),
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
                &login(),
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
                &in_person(),
                lang.pick(
                    "Nộp trực tiếp tại Trung tâm Phục vụ hành chính công",
                    "File in person at the Public Administrative Service Center",
                ),
            ));
            page = page.push(match gw.procedure_html.get(procedure, lang) {
                Some(cached) => cached.checklist.clone(),
                None => checklist(lang, procedure),
            });
        }
        Decision::InPerson(_) => {
            // After a failed login, signing in again goes through "try again", which forgets
            // the failure first; otherwise the plain sign-in link.
            let login = login();
            let sign_in_again = if failed_login {
                SignInAgain::TryAgain {
                    procedure,
                    csrf_token: session.as_ref().map(|s| s.csrf_token().secret()),
                }
            } else {
                SignInAgain::Link(&login)
            };
            let Some(content) = super::referral_page::in_person_content(
                &gw,
                lang,
                procedure,
                &decision,
                &headers,
                session.as_ref(),
                client,
                &sign_in_again,
            )
            .await
            else {
                return internal_error(lang);
            };
            ticket_cookie = content.ticket_cookie;
            page = page.push(content.markup);
        }
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
        h2 { (Text(lang.pick("Giấy tờ cần chuẩn bị", "Documents to prepare"))) }
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
    let key = html! {
        input type="hidden" name="idempotency_key" value=(Text(idempotency_key));
    };
    let action = format!(
        "/procedures/{}/submit?lang={}",
        procedure.code(),
        lang.code()
    );
    // The fields are copied once, straight into the form.
    let form = upload_form_of(
        &action,
        session.map(|s| s.csrf_token().secret()),
        &[&key, fields_html],
    );
    html! {
        (Reserve(256 + form.0.len() + checklist_html.0.len()))
        h2 { (Text(lang.pick("Tờ khai", "Application form"))) }
        p {
            (Text(lang.pick(
                "Phiên đăng nhập đủ điều kiện nộp đến",
                "Your sign-in allows filing until"
            )))
            " " (LocalTime(lang, local(expires_at)))
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
    html! {
        (field_inputs(lang, procedure, draft))
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

/// The procedure's fields alone, filled with `draft`'s answers when given.
pub(crate) fn field_inputs(
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
    }
}

/// Any other path: a 404 page (JSON for API paths).
pub(crate) async fn fallback(uri: Uri, RawQuery(query): RawQuery) -> Response {
    if uri.path().starts_with("/api/") {
        return super::api::json_error(StatusCode::NOT_FOUND, "not_found", "no such route");
    }
    not_found(Lang::from_query(query.as_deref()))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use proptest::prelude::*;

    use super::*;

    fn written(lang: Lang, at: DateTime<FixedOffset>) -> String {
        html! { (LocalTime(lang, at)) }.into_string()
    }

    #[test]
    fn local_time_is_written_as_chrono_formats_it() {
        let Some(at) = vietnam().with_ymd_and_hms(2026, 3, 7, 9, 5, 0).single() else {
            unreachable!("a valid local time");
        };
        assert_eq!(written(Lang::Vi, at), "09:05 ngày 07/03/2026");
        assert_eq!(written(Lang::En, at), "09:05 on 07/03/2026");
        let Some(early) = vietnam().with_ymd_and_hms(987, 12, 31, 23, 59, 0).single() else {
            unreachable!("a valid local time");
        };
        assert_eq!(written(Lang::En, early), "23:59 on 31/12/0987");
        assert_eq!(written(Lang::En, early), format_time(Lang::En, early));
    }

    proptest! {
        #[test]
        fn local_time_matches_format_time(seconds in -70_000_000_000_i64..400_000_000_000_i64) {
            let Some(at) = DateTime::from_timestamp(seconds, 0) else {
                return Ok(());
            };
            let at = local(at);
            for lang in [Lang::Vi, Lang::En] {
                prop_assert_eq!(written(lang, at), format_time(lang, at));
            }
        }
    }
}
