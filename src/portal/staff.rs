//! Staff pages, behind their own sign-in: today's bookings, ticket look-up, statistics.
//!
//! A staff member signs in through the same provider (`/staff/login`); the gateway then checks
//! the level, the configured staff list (subject pseudonyms) or role claim, and seals a
//! separate staff cookie (see [`super::staff_session`]). A resident session never opens the
//! staff pages.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Duration, Utc};
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
        .route("/staff/stats", get(statistics))
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
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
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
        .ward_name(lang.pick(&ward.name().vi, &ward.name().en).to_owned())
        .current(uri.path(), uri.query())
        .push(super::staff_session::staff_bar(lang))
}

pub(crate) fn sign_in_page(gw: &Gateway, lang: Lang, uri: &Uri) -> Response {
    let href = format!("/staff/login?lang={}", lang.code());
    let body = html! {
        (lang.pick(
            "Trang này dành cho cán bộ bộ phận một cửa. Vui lòng đăng nhập bằng tài khoản cán bộ.",
            "These pages are for one-stop desk staff. Please sign in with a staff account.",
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
                        th scope="col" { (lang.pick("Mã hẹn", "Ticket")) }
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
            label for="code" { (lang.pick("Mã hẹn của người dân", "Resident's ticket code")) }
            input id="code" name="code" autocomplete="off" value=(value.unwrap_or(""));
        }
        (button(ButtonKind::Primary, lang.pick("Tra cứu", "Look up")))
    };
    html! {
        h2 { (lang.pick("Tra cứu mã hẹn", "Look up a ticket")) }
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
    if gw.staff_session(&headers).is_none() {
        return sign_in_page(&gw, lang, &uri);
    }
    let typed = query.code.as_deref().unwrap_or("");
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
                lang.pick("Không có mã hẹn còn hiệu lực nào như vậy.", "No valid ticket has this code."),
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
                notice(
                    NoticeKind::Success,
                    lang.pick("Mã hẹn hợp lệ", "Valid ticket"),
                    super::html::definition_list(&items),
                )
            }
        },
    };
    let body = html! {
        (outcome)
        (lookup_form(lang, Some(typed)))
    };
    staff_page(
        &gw,
        lang,
        lang.pick("Tra cứu mã hẹn", "Ticket look-up"),
        &uri,
    )
    .push(body)
    .into_response()
}

/// `GET /staff/stats?from=YYYY-MM-DD&to=YYYY-MM-DD`: what the ward reports upward (default: the
/// last 30 days). `Accept: application/json` gets the figures as JSON.
async fn statistics(
    State(gw): State<Arc<Gateway>>,
    Query(query): Query<StaffQuery>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let lang = query.lang();
    if gw.staff_session(&headers).is_none() {
        return sign_in_page(&gw, lang, &uri);
    }
    let now = gw.clock.now();
    let today = now.with_timezone(&vietnam()).date_naive();
    let parse = |value: Option<&str>, default| match value {
        None | Some("") => Some(default),
        Some(text) => chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").ok(),
    };
    let (Some(from), Some(to)) = (
        parse(query.from.as_deref(), today - Duration::days(29)),
        parse(query.to.as_deref(), today),
    ) else {
        let page = staff_page(&gw, lang, lang.pick("Thống kê", "Statistics"), &uri).push(notice(
            NoticeKind::Error,
            lang.pick("Ngày không hợp lệ", "Invalid date"),
            lang.pick(
                "Nhập ngày theo dạng năm-tháng-ngày, ví dụ 2026-03-02.",
                "Enter dates as year-month-day, for example 2026-03-02.",
            ),
        ));
        return (StatusCode::BAD_REQUEST, page).into_response();
    };
    let ward = gw.ward(None);
    let query = crate::stats::StatsQuery::new(ward.code, from, to);
    let Ok(stats) = crate::stats::compute(gw.store.as_ref(), &query, now).await else {
        return internal_error(lang);
    };
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    if wants_json {
        return axum::Json(stats.to_json()).into_response();
    }
    let content = html! {
        input type="hidden" name="lang" value=(lang.code());
        div class="field" {
            label for="from" { (lang.pick("Từ ngày", "From")) }
            input type="date" id="from" name="from" value=(from.to_string());
        }
        div class="field" {
            label for="to" { (lang.pick("Đến ngày", "To")) }
            input type="date" id="to" name="to" value=(to.to_string());
        }
        (button(ButtonKind::Primary, lang.pick("Xem", "Show")))
    };
    let body = html! {
        @for line in stats.to_text(lang).lines() {
            p { (line) }
        }
        (form(FormMethod::Get, "/staff/stats", None, content))
    };
    staff_page(
        &gw,
        lang,
        lang.pick("Thống kê hồ sơ", "Dossier statistics"),
        &uri,
    )
    .push(body)
    .into_response()
}

/// The saved draft's answers, labelled, so the officer does not retype them.
fn draft_markup(gw: &Gateway, lang: Lang, draft: &crate::store::Draft) -> Markup {
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
