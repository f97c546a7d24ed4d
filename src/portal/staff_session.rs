//! Staff sign-in and staff sessions.
//!
//! A staff sign-in asks the provider for a fresh level-2 authentication (`prompt=login` and
//! `max_age`); a level-1 or level-less login is refused with a page that says why. The staff
//! cookie is a browser-session cookie (no `Max-Age`) sealed with the staff member's pseudonym,
//! how they qualified (listed, or the role claim of a named provider) and a CSRF token for the
//! sign-out form. Every request re-checks it against the current staff list and role, and
//! against the idle and absolute timeouts; the idle timeout slides with each staff page.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Duration, TimeZone as _, Utc};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq as _;

use super::gateway::Gateway;
use super::html::{ButtonKind, FormMethod, Markup, NoticeKind, Page, button, form, html, notice};
use crate::assurance::Level;
use crate::i18n::Lang;
use crate::oidc::{LoginRequest, VerifiedLogin};
use crate::session::{ReturnPath, Session, find_cookie};

/// Purpose bound into the staff cookie's associated data.
const STAFF_PURPOSE: &str = "staff-session";
/// How stale the cookie's `last_seen` may get before a staff page seals it again.
const TOUCH_INTERVAL: Duration = Duration::minutes(1);
/// Clock difference allowed between the provider's `auth_time` and the gateway's clock.
const AUTH_TIME_SKEW: Duration = Duration::minutes(1);

tokio::task_local! {
    /// The signed-in staff member's sign-out token while a staff page renders: staff pages put
    /// the navigation and the sign-out form at their top without every handler passing it.
    static SIGN_OUT_TOKEN: String;
}

/// What the staff cookie holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct StaffSession {
    #[serde(rename = "s")]
    subject: String,
    /// The provider the staff member signed in with.
    #[serde(rename = "p")]
    provider: String,
    /// The role value that qualified them, when the role claim did (not the list).
    #[serde(rename = "r", default, skip_serializing_if = "Option::is_none")]
    role: Option<String>,
    /// The sign-out form's token.
    #[serde(rename = "c")]
    csrf: String,
    /// Sign-in and last use, in seconds since the epoch.
    #[serde(rename = "t0")]
    created: i64,
    #[serde(rename = "t")]
    last_seen: i64,
}

impl StaffSession {
    /// The staff member's subject pseudonym.
    pub(crate) fn subject(&self) -> &str {
        &self.subject
    }

    /// The provider the staff member signed in with.
    pub(crate) fn provider(&self) -> &str {
        &self.provider
    }

    /// The session's CSRF token, for the forms of staff pages.
    pub(crate) fn csrf(&self) -> &str {
        &self.csrf
    }

    /// Whether `presented` is this session's sign-out token (constant time).
    pub(crate) fn token_matches(&self, presented: &str) -> bool {
        self.csrf.as_bytes().ct_eq(presented.as_bytes()).into()
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(seconds, 0)
            .single()
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    fn created(&self) -> DateTime<Utc> {
        Self::at(self.created)
    }

    fn last_seen(&self) -> DateTime<Utc> {
        Self::at(self.last_seen)
    }
}

/// Why a verified login on the staff route opens no staff session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StaffRefusal {
    /// The login is not level 2 (level 1, or no level the gateway could read).
    Level,
    /// The provider's authentication is older than the staff `max_auth_age_minutes`.
    Stale,
    /// Neither listed nor carrying the role from the named provider's signed claims.
    NotStaff,
}

impl Gateway {
    pub(crate) fn staff_cookie_name(&self) -> String {
        self.cookies.cookie_name("wardgate-staff")
    }

    fn staff_idle(&self) -> Duration {
        Duration::minutes(self.staff.idle_minutes())
    }

    fn staff_absolute(&self) -> Duration {
        Duration::minutes(self.staff.absolute_minutes())
    }

    /// What a staff sign-in asks of the provider: level 2, authenticated again just now.
    pub(crate) fn staff_login_request(&self) -> LoginRequest {
        LoginRequest::new(Level::Two)
            .max_age(Duration::minutes(self.staff.max_auth_age_minutes()))
            .prompt_login(true)
    }

    /// The provider whose role claim counts: the configured one, or the first.
    fn staff_role_provider(&self) -> &str {
        self.staff
            .role_provider_id()
            .unwrap_or_else(|| self.default_provider().id().as_str())
    }

    /// The role value `login` from `provider` carries in a source the configuration trusts:
    /// the signed ID token, or userinfo when the operator marked it trusted for the role.
    fn signed_role(&self, provider: &str, login: &VerifiedLogin) -> Option<String> {
        let (_, value) = self.staff.role_claim()?;
        if provider != self.staff_role_provider() {
            return None;
        }
        let from_token = login
            .id_token_claims()
            .is_some_and(|claims| self.staff.role_in(claims));
        let from_userinfo = self.staff.role_trusts_userinfo()
            && login
                .userinfo()
                .is_some_and(|claims| self.staff.role_in(claims));
        (from_token || from_userinfo).then(|| value.to_owned())
    }

    /// Checks a verified login on the staff route: the staff session it opens, or why not.
    pub(crate) fn staff_sign_in(
        &self,
        session: &Session,
        login: &VerifiedLogin,
    ) -> Result<StaffSession, StaffRefusal> {
        let assurance = login.assurance();
        if assurance.level() != Some(Level::Two) {
            return Err(StaffRefusal::Level);
        }
        let now = self.clock.now();
        let max_age = Duration::minutes(self.staff.max_auth_age_minutes()) + AUTH_TIME_SKEW;
        if assurance.auth_time().is_none_or(|at| now - at > max_age) {
            return Err(StaffRefusal::Stale);
        }
        let provider = self
            .provider_for_issuer(login.issuer())
            .map(|p| p.id().as_str().to_owned())
            .ok_or(StaffRefusal::NotStaff)?;
        let subject = session.subject();
        let role = if self.staff.lists(subject) {
            None
        } else {
            Some(
                self.signed_role(&provider, login)
                    .ok_or(StaffRefusal::NotStaff)?,
            )
        };
        let csrf = crate::clock::random_token::<32>(self.random.as_ref())
            .map_err(|_| StaffRefusal::NotStaff)?;
        Ok(StaffSession {
            subject: subject.to_owned(),
            provider,
            role,
            csrf,
            created: now.timestamp(),
            last_seen: now.timestamp(),
        })
    }

    /// Whether `session` still qualifies under the current configuration: listed now, or its
    /// role is still the configured one from the provider still named for it.
    fn still_staff(&self, session: &StaffSession) -> bool {
        if self.staff.lists(&session.subject) {
            return true;
        }
        match (&session.role, self.staff.role_claim()) {
            (Some(role), Some((_, value))) => {
                role == value && session.provider == self.staff_role_provider()
            }
            _ => false,
        }
    }

    /// The `Set-Cookie` value carrying `session` (a browser-session cookie).
    pub(crate) fn staff_cookie(&self, session: &StaffSession) -> Option<String> {
        let name = self.staff_cookie_name();
        let expires = (session.last_seen() + self.staff_idle())
            .min(session.created() + self.staff_absolute());
        let sealed = self
            .key_ring
            .seal(self.random.as_ref(), STAFF_PURPOSE, &name, expires, session)
            .ok()?;
        self.cookies.set_browser_session_cookie(&name, &sealed).ok()
    }

    /// The `Set-Cookie` value removing the staff cookie.
    pub(crate) fn staff_cookie_removal(&self) -> Option<String> {
        self.cookies.removal(&self.staff_cookie_name()).ok()
    }

    /// Whether the request carries a staff cookie at all (valid or not).
    fn has_staff_cookie(&self, headers: &HeaderMap) -> bool {
        let name = self.staff_cookie_name();
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|cookies| find_cookie(cookies, &name).is_some())
    }

    /// The staff session of this request: sealed by this gateway, within both timeouts, and
    /// its holder still staff under the current configuration.
    pub(crate) fn staff_session(&self, headers: &HeaderMap) -> Option<StaffSession> {
        let name = self.staff_cookie_name();
        let now = self.clock.now();
        let session: StaffSession = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|cookies| find_cookie(cookies, &name))
            .and_then(|value| self.key_ring.open(STAFF_PURPOSE, &name, now, value).ok())?;
        let fresh = now - session.last_seen() < self.staff_idle()
            && now - session.created() < self.staff_absolute();
        (fresh && self.still_staff(&session)).then_some(session)
    }
}

/// The response to a verified login on the staff route: the staff cookie and the way back, or
/// a page saying why the staff pages stay closed.
pub(crate) fn staff_signed_in(
    gw: &Gateway,
    session: &Session,
    login: &VerifiedLogin,
    return_path: &ReturnPath,
    lang: Lang,
) -> Response {
    match gw.staff_sign_in(session, login) {
        Ok(staff) => match gw.staff_cookie(&staff) {
            Some(cookie) => {
                let mut response = Redirect::to(return_path.as_str()).into_response();
                super::auth::append_cookie(&mut response, &cookie);
                response
            }
            None => super::auth::internal_error(lang),
        },
        Err(StaffRefusal::NotStaff) => super::staff::not_staff(lang, session.subject()),
        Err(refusal) => refused_page(lang, refusal),
    }
}

/// `403` for a staff sign-in at the wrong level or too old, saying which and what to do.
fn refused_page(lang: Lang, refusal: StaffRefusal) -> Response {
    let why = match refusal {
        StaffRefusal::Level => lang.pick(
            "Trang cán bộ chỉ mở với tài khoản định danh điện tử mức độ 2. Lần đăng nhập này ở mức độ 1 hoặc không xác định được mức độ. Vui lòng đăng nhập lại bằng tài khoản mức độ 2.",
            "Staff pages open only with a level-2 electronic identity. This sign-in was level 1, or its level could not be read. Please sign in again with a level-2 account.",
        ),
        StaffRefusal::Stale | StaffRefusal::NotStaff => lang.pick(
            "Trang cán bộ cần một lần xác thực mới tại hệ thống định danh. Lần xác thực này đã cũ. Vui lòng đăng nhập lại.",
            "Staff pages need a fresh authentication at the identity provider. This one is too old. Please sign in again.",
        ),
    };
    let href = format!("/staff/login?lang={}", lang.code());
    let body = html! {
        p { (why) }
        (super::html::link_button(
            ButtonKind::Primary,
            &href,
            lang.pick("Đăng nhập cán bộ lại", "Sign in as staff again"),
        ))
    };
    let page = Page::new(
        lang,
        lang.pick("Không mở được trang cán bộ", "Staff pages not opened"),
    )
    .push(notice(
        NoticeKind::Error,
        lang.pick("Không có quyền truy cập", "Access refused"),
        body,
    ));
    (StatusCode::FORBIDDEN, page).into_response()
}

/// Middleware of the staff routes: re-checks the staff cookie on every request, slides its
/// idle timeout, removes a cookie that no longer qualifies, and lets the pages render the
/// sign-out form with the session's token.
pub(crate) async fn staff_session_middleware(
    State(gw): State<Arc<Gateway>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(mut session) = gw.staff_session(request.headers()) else {
        let stale = gw.has_staff_cookie(request.headers());
        let mut response = next.run(request).await;
        if stale && let Some(removal) = gw.staff_cookie_removal() {
            super::auth::append_cookie(&mut response, &removal);
        }
        return response;
    };
    let now = gw.clock.now();
    let refreshed = if now - session.last_seen() >= TOUCH_INTERVAL {
        session.last_seen = now.timestamp();
        gw.staff_cookie(&session)
    } else {
        None
    };
    let mut response = SIGN_OUT_TOKEN
        .scope(session.csrf.clone(), next.run(request))
        .await;
    if let Some(cookie) = refreshed
        && let Ok(value) = HeaderValue::from_str(&cookie)
    {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// The top of every staff page for a signed-in staff member: links to each staff page and
/// the sign-out button. Empty when nobody is signed in (the sign-in notice stands alone).
pub(crate) fn staff_bar(lang: Lang) -> Markup {
    let Ok(token) = SIGN_OUT_TOKEN.try_with(Clone::clone) else {
        return html! {};
    };
    let code = lang.code();
    let links = [
        (
            format!("/staff?lang={code}"),
            lang.pick("Lịch hẹn hôm nay", "Today's bookings"),
        ),
        (
            format!("/staff/tickets?lang={code}"),
            lang.pick("Tra cứu mã lịch hẹn", "Appointment code look-up"),
        ),
        (
            format!("/staff/stats?lang={code}"),
            lang.pick("Thống kê", "Statistics"),
        ),
        (
            format!("/staff/device?lang={code}"),
            lang.pick("Thiết bị hỗ trợ", "Assisted device"),
        ),
    ];
    let sign_out = html! {
        input type="hidden" name="lang" value=(code);
        (button(ButtonKind::Secondary, lang.pick("Đăng xuất", "Sign out")))
    };
    html! {
        nav class="staff-nav" aria-label=(lang.pick("Trang cán bộ", "Staff pages")) {
            ul {
                @for (href, label) in &links {
                    li { a href=(href) { (label) } }
                }
            }
            (form(FormMethod::Post, "/logout", Some(&token), sign_out))
        }
    }
}
