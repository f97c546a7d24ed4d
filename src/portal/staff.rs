//! Staff pages, behind their own sign-in: today's bookings, ticket look-up (with the counter,
//! [`super::counter`]); the statistics are in [`super::stats_page`].
//!
//! A staff member signs in through the same provider (`/staff/login`); the gateway then checks
//! the level, the configured staff list (subject pseudonyms) or role claim, and seals a
//! separate staff cookie (see [`super::staff_session`]). A resident session never opens the
//! staff pages.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::auth::{internal_error, not_found};
use super::gateway::Gateway;
use super::html::{
    ButtonKind, FormMethod, Markup, NoticeKind, Page, button, form, html, link_button, notice,
};
use super::providers::LoginProvider;
use crate::fallback::{TicketCode, vietnam};
use crate::i18n::Lang;
use crate::oidc::LoginErrorKind;

pub(crate) fn routes(gw: &Arc<Gateway>) -> Router<Arc<Gateway>> {
    Router::new()
        .route("/staff", get(dashboard))
        .route("/staff/login", get(staff_login))
        .route("/staff/tickets", get(ticket_lookup))
        // The counter and the statistics are staff pages too: the same session check.
        .merge(super::counter::routes())
        .merge(super::stats_page::routes())
        .route_layer(from_fn_with_state(
            Arc::clone(gw),
            super::staff_session::staff_session_middleware,
        ))
}

impl Gateway {
    /// The procedure's name in `lang`, or its code when the catalog no longer has it.
    pub(crate) fn procedure_name(&self, code: &str, lang: Lang) -> String {
        self.procedure(code).map_or_else(
            || code.to_owned(),
            |p| {
                let name = p.name();
                lang.pick(&name.vi, &name.en).to_owned()
            },
        )
    }
}

/// Whether a login returning to `path` is a staff sign-in.
pub(crate) fn is_staff_return(path: &str) -> bool {
    path == "/staff" || path.starts_with("/staff?") || path.starts_with("/staff/")
}

/// The page shown to someone who signed in on the staff route but is not staff.
pub(crate) fn not_staff(lang: Lang, subject: &str) -> Response {
    let body = html! {
        (lang.pick(
            "Tài khoản này chưa được cấp quyền cán bộ. Đề nghị quản trị viên thêm mã sau vào danh sách cán bộ (staff.subjects): ",
            "This account is not registered as staff. Ask the administrator to add this code to the staff list (staff.subjects): ",
        ))
        code { (subject) }
    };
    let page = Page::new(lang, lang.pick("Không có quyền cán bộ", "Not staff")).push(notice(
        NoticeKind::Error,
        lang.pick("Không có quyền truy cập", "Access refused"),
        body,
    ));
    (StatusCode::FORBIDDEN, page).into_response()
}

#[derive(Debug, Default, Deserialize)]
struct StaffQuery {
    #[serde(default)]
    lang: Option<String>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    provider: Option<String>,
}

impl StaffQuery {
    fn lang(&self) -> Lang {
        self.lang
            .as_deref()
            .and_then(Lang::from_code)
            .unwrap_or_default()
    }
}

/// `GET /staff/login`: a login whose callback checks the staff list.
///
/// As for residents, staff are not sent to a provider known to be down (or that cannot start a
/// login): they get a notice on the staff page instead of a browser error at the provider.
async fn staff_login(
    State(gw): State<Arc<Gateway>>,
    Query(query): Query<StaffQuery>,
    uri: Uri,
) -> Response {
    let lang = query.lang();
    // Staff sign in with the first provider unless the link names another.
    let provider = match query.provider.as_deref() {
        Some(id) => match gw.provider(id) {
            Some(provider) => provider,
            None => return not_found(lang),
        },
        None => gw.default_provider(),
    };
    let request = gw.staff_login_request();
    let started = if provider.available().await {
        provider
            .relying_party()
            .begin(&request)
            .await
            .map_err(|e| e.kind())
    } else {
        Err(LoginErrorKind::ProviderUnavailable)
    };
    let (url, pending) = match started {
        Ok(started) => started,
        Err(kind) => {
            tracing::warn!(?kind, provider = %provider.id(), "could not start a staff sign-in");
            return provider_unavailable_page(&gw, lang, &uri, provider);
        }
    };
    gw.redirect_to_provider(
        provider,
        &url,
        pending,
        &format!("/staff?lang={}", lang.code()),
    )
    .unwrap_or_else(|| internal_error(lang))
}

pub(crate) fn staff_page(gw: &Gateway, lang: Lang, title: &str, uri: &Uri) -> Page {
    let ward = gw.ward(None);
    Page::new(lang, title)
        .ward_name(
            lang.pick(&ward.full_name().vi, &ward.full_name().en)
                .to_owned(),
        )
        .current(uri.path(), uri.query())
        .push(super::staff_session::staff_bar(lang))
}

pub(crate) fn sign_in_page(gw: &Gateway, lang: Lang, uri: &Uri) -> Response {
    let href = format!("/staff/login?lang={}", lang.code());
    // A provider that honours the essential level-2 `acr` refuses a level-1 staff sign-in
    // itself; the login comes back here with this outcome, and the page says why.
    let level_refused = uri.query().is_some_and(|query| {
        url::form_urlencoded::parse(query.as_bytes())
            .any(|(name, value)| name == "outcome" && value == "level_unreachable")
    });
    let body = html! {
        @if level_refused {
            p { (lang.pick(
                "Hệ thống định danh không xác thực được tài khoản này ở mức độ 2. Trang cán bộ chỉ mở với tài khoản định danh điện tử mức độ 2.",
                "The identity provider could not authenticate this account at level 2. Staff pages open only with a level-2 electronic identity.",
            )) }
        }
        (lang.pick(
            "Trang này dành cho cán bộ Trung tâm Phục vụ hành chính công. Vui lòng đăng nhập bằng tài khoản cán bộ.",
            "These pages are for staff of the Public Administrative Service Center. Please sign in with a staff account.",
        ))
        (link_button(
            ButtonKind::Primary,
            &href,
            lang.pick("Đăng nhập cán bộ", "Staff sign-in"),
        ))
    };
    let page = staff_page(gw, lang, lang.pick("Trang cán bộ", "Staff"), uri).push(notice(
        NoticeKind::Info,
        lang.pick("Cần đăng nhập", "Sign-in required"),
        body,
    ));
    (StatusCode::UNAUTHORIZED, page).into_response()
}

/// The staff page when `provider` cannot take a sign-in now: `503`, and a link to try again.
fn provider_unavailable_page(
    gw: &Gateway,
    lang: Lang,
    uri: &Uri,
    provider: &LoginProvider,
) -> Response {
    let label = provider.label_text();
    let message = match lang {
        Lang::Vi => format!(
            "{} hiện không phản hồi nên chưa thể đăng nhập cán bộ. Vui lòng thử lại sau ít phút.",
            label.vi
        ),
        Lang::En => format!(
            "{} is not answering right now, so staff sign-in cannot start. Please try again in \
             a few minutes.",
            label.en
        ),
    };
    // Built from known values only: the language and the provider's id (a slug).
    let href = format!(
        "/staff/login?lang={}&provider={}",
        lang.code(),
        provider.id()
    );
    let body = html! {
        (message)
        (link_button(
            ButtonKind::Primary,
            &href,
            lang.pick("Thử lại", "Try again"),
        ))
    };
    let page = staff_page(
        gw,
        lang,
        lang.pick("Đăng nhập cán bộ", "Staff sign-in"),
        uri,
    )
    .push(notice(
        NoticeKind::Warning,
        lang.pick(
            "Dịch vụ định danh tạm thời không truy cập được",
            "The identity provider is unavailable",
        ),
        body,
    ));
    (StatusCode::SERVICE_UNAVAILABLE, page).into_response()
}

fn local_time(at: DateTime<Utc>) -> String {
    at.with_timezone(&vietnam()).format("%H:%M").to_string()
}

/// `GET /staff`: today's bookings and the ticket look-up form.
async fn dashboard(
    State(gw): State<Arc<Gateway>>,
    Query(query): Query<StaffQuery>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let lang = query.lang();
    if gw.staff_session(&headers).is_none() {
        return sign_in_page(&gw, lang, &uri);
    }
    let ward = gw.ward(None);
    let today = gw.clock.now().with_timezone(&vietnam()).date_naive();
    let Ok(mut bookings) = gw.store.bookings_on(ward.code, None, today).await else {
        return internal_error(lang);
    };
    bookings.sort_by_key(|b| b.slot.start);
    let body = html! {
        h2 {
            (lang.pick("Lịch hẹn hôm nay", "Today's bookings"))
            " (" (today.format("%d/%m/%Y").to_string()) ")"
        }
        @if bookings.is_empty() {
            p { (lang.pick("Chưa có lịch hẹn nào.", "No bookings yet.")) }
        } @else {
            table {
                thead {
                    tr {
                        th scope="col" { (lang.pick("Giờ", "Time")) }
                        th scope="col" { (lang.pick("Nơi tiếp nhận", "Reception point")) }
                        th scope="col" { (lang.pick("Thủ tục", "Procedure")) }
                        th scope="col" { (lang.pick("Mã lịch hẹn", "Appointment code")) }
                    }
                }
                tbody {
                    @for booking in &bookings {
                        @let point = ward
                            .point(&booking.slot.point)
                            .map(|p| p.name())
                            .map(|n| lang.pick(&n.vi, &n.en).to_owned())
                            .unwrap_or_else(|| booking.slot.point.clone());
                        tr {
                            td { (local_time(booking.slot.start)) }
                            td { (point) }
                            td { (gw.procedure_name(booking.procedure.as_str(), lang)) }
                            td {
                                @if let Some(ticket) = &booking.ticket {
                                    @let code = ticket.to_string();
                                    a href={ "/staff/tickets?code=" (code) "&lang=" (lang.code()) } { (code) }
                                }
                            }
                        }
                    }
                }
            }
        }
        (lookup_form(lang, None))
    };
    staff_page(&gw, lang, lang.pick("Trang cán bộ", "Staff"), &uri)
        .push(body)
        .into_response()
}

fn lookup_form(lang: Lang, value: Option<&str>) -> Markup {
    let content = html! {
        input type="hidden" name="lang" value=(lang.code());
        div class="field" {
            label for="code" { (lang.pick("Mã lịch hẹn của người dân", "Resident's appointment code")) }
            input id="code" name="code" autocomplete="off" value=(value.unwrap_or(""));
        }
        (button(ButtonKind::Primary, lang.pick("Tra cứu", "Look up")))
    };
    html! {
        h2 { (lang.pick("Tra cứu mã lịch hẹn", "Look up an appointment code")) }
        (form(FormMethod::Get, "/staff/tickets", None, content))
    }
}

/// `GET /staff/tickets?code=…`: verifies a ticket typed or read aloud by a resident.
async fn ticket_lookup(
    State(gw): State<Arc<Gateway>>,
    Query(query): Query<StaffQuery>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let lang = query.lang();
    let Some(officer) = gw.staff_session(&headers) else {
        return sign_in_page(&gw, lang, &uri);
    };
    let typed = query.code.as_deref().unwrap_or("");
    let mut counter = None;
    let outcome = match TicketCode::parse(typed) {
        Err(_) => notice(
            NoticeKind::Error,
            lang.pick("Mã không hợp lệ", "Invalid code"),
            lang.pick(
                "Mã này sai định dạng hoặc sai ký tự kiểm tra. Hãy đọc lại từng ký tự với người dân.",
                "This code is malformed or its check character is wrong. Read it again with the resident.",
            ),
        ),
        Ok(code) => match gw.store.ticket(&code, gw.clock.now()).await {
            Err(_) => return internal_error(lang),
            Ok(None) => notice(
                NoticeKind::Warning,
                lang.pick("Không tìm thấy", "Not found"),
                lang.pick("Không có mã lịch hẹn còn hiệu lực nào như vậy.", "No valid appointment has this code."),
            ),
            Ok(Some(ticket)) => {
                let procedure = gw.procedure_name(ticket.procedure.as_str(), lang);
                let draft = match &ticket.draft {
                    Some(id) => gw.store.draft(id, gw.clock.now()).await.ok().flatten(),
                    None => None,
                };
                let items = [
                    (lang.pick("Mã", "Code"), html! { (ticket.code.to_string()) }),
                    (lang.pick("Thủ tục", "Procedure"), html! { (procedure) }),
                    (lang.pick("Lý do nộp trực tiếp", "Why in person"), html! { (ticket.reason.text(lang)) }),
                    (
                        lang.pick("Hồ sơ nháp", "Saved draft"),
                        draft.as_ref().map_or_else(
                            || html! { (lang.pick("Không có", "None")) },
                            |draft| draft_markup(&gw, lang, draft),
                        ),
                    ),
                    (
                        lang.pick("Hiệu lực đến", "Valid until"),
                        html! { (ticket.expires_at.with_timezone(&vietnam()).format("%d/%m/%Y %H:%M").to_string()) },
                    ),
                ];
                match super::counter::counter_panel(&gw, lang, &ticket, &officer).await {
                    Ok(panel) => counter = Some(panel),
                    Err(_) => return internal_error(lang),
                }
                notice(
                    NoticeKind::Success,
                    lang.pick("Mã lịch hẹn hợp lệ", "Valid appointment code"),
                    super::html::definition_list(&items),
                )
            }
        },
    };
    let body = html! {
        (outcome)
        @if let Some(counter) = counter {
            (counter)
        }
        (lookup_form(lang, Some(typed)))
    };
    staff_page(
        &gw,
        lang,
        lang.pick("Tra cứu mã lịch hẹn", "Appointment code look-up"),
        &uri,
    )
    .push(body)
    .into_response()
}

/// The saved draft's answers, labelled, so the officer does not retype them.
pub(crate) fn draft_markup(gw: &Gateway, lang: Lang, draft: &crate::store::Draft) -> Markup {
    let fields = gw
        .procedure(draft.procedure.as_str())
        .map(crate::policy::Procedure::fields)
        .unwrap_or_default();
    let answers = gw.draft_answers(draft).unwrap_or_default();
    html! {
        dl class="draft" {
            @if let Some(answers) = answers.as_object() {
                @for (name, value) in answers {
                    @let label = fields
                        .iter()
                        .find(|f| &f.name == name)
                        .map_or(name.as_str(), |f| lang.pick(&f.label_vi, &f.label_en));
                    dt { (label) }
                    dd {
                        @match value.as_str() {
                            Some(text) => { (text) }
                            None => { (value.to_string()) }
                        }
                    }
                }
            }
        }
    }
}
