//! Sign-in, the provider's callback, and sign-out.

use std::sync::Arc;

use axum::extract::{Form, Query, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};

use super::gateway::Gateway;
use super::html::{ButtonKind, Markup, NoticeKind, Page, link_button, notice};
use super::providers::{LoginProvider, chooser_page};
use super::resident::outcome_code;
use super::staff::{is_staff_return, not_staff};
use crate::audit::{AuditEvent, LoginRecorded, LoginResult};
use crate::i18n::Lang;
use crate::oidc::{Callback, LoginErrorKind, LoginRequest, PendingLogin};
use crate::policy::LoginFailure;
use crate::session::{LoginFlow, ReturnPath, Session, find_cookie, seal_login_flow};

/// `GET /login` parameters.
#[derive(Debug, Deserialize)]
pub(crate) struct LoginQuery {
    procedure: String,
    #[serde(default)]
    lang: Option<String>,
    #[serde(default)]
    provider: Option<String>,
}

/// What the login-flow cookie carries besides the return path: the pending login and the id of
/// the provider it went to, so the callback is completed by that provider only.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ProviderLogin {
    /// The provider's id. Cookies sealed before gateways had several providers lack it: they
    /// belong to the first provider.
    #[serde(rename = "a", default, skip_serializing_if = "Option::is_none")]
    provider: Option<String>,
    #[serde(flatten)]
    pending: PendingLogin,
}

/// `GET /login?procedure=CODE[&provider=ID]`: starts a login aimed at the procedure's level and
/// freshness, at the chosen provider; with several providers and none chosen, shows the chooser.
pub(crate) async fn login(
    State(gw): State<Arc<Gateway>>,
    Query(query): Query<LoginQuery>,
) -> Response {
    let lang = query
        .lang
        .as_deref()
        .and_then(Lang::from_code)
        .unwrap_or_default();
    let Some(procedure) = gw.procedure(&query.procedure) else {
        return not_found(lang);
    };
    let provider = match query.provider.as_deref() {
        Some(id) => match gw.provider(id) {
            Some(provider) => provider,
            None => return not_found(lang),
        },
        None if gw.providers().len() > 1 => return chooser_page(&gw, lang, procedure),
        None => gw.default_provider(),
    };
    let return_path = format!("/procedures/{}?lang={}", procedure.code(), lang.code());
    let request = LoginRequest::new(procedure.online_level()).max_age(procedure.max_auth_age());
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
            tracing::warn!(?kind, provider = %provider.id(), "could not start a login");
            gw.record_login(provider, "provider_unavailable");
            let target = with_outcome(
                &return_path,
                outcome_code(LoginFailure::ProviderUnavailable),
            );
            return Redirect::to(&target).into_response();
        }
    };
    gw.redirect_to_provider(provider, &url, pending, &return_path)
        .unwrap_or_else(|| internal_error(lang))
}

impl Gateway {
    /// The redirect to `provider`, carrying the sealed login-flow cookie that binds the
    /// callback to this browser and this provider, and says where to return.
    pub(crate) fn redirect_to_provider(
        &self,
        provider: &LoginProvider,
        url: &url::Url,
        pending: PendingLogin,
        return_path: &str,
    ) -> Option<Response> {
        let pending = ProviderLogin {
            provider: Some(provider.id().as_str().to_owned()),
            pending,
        };
        let flow = LoginFlow::new(pending, ReturnPath::parse(return_path)?);
        let name = self.cookies.login_flow_cookie_name();
        let sealed = seal_login_flow(
            &self.key_ring,
            self.random.as_ref(),
            name,
            self.clock.now(),
            &flow,
        )
        .ok()?;
        let cookie = self
            .cookies
            .set_cookie(name, &sealed, crate::session::LOGIN_FLOW_LIFETIME)
            .ok()?;
        let mut response = Redirect::to(url.as_str()).into_response();
        append_cookie(&mut response, &cookie);
        Some(response)
    }

    /// Counts a finished login, in total and for `provider`.
    fn record_login(&self, provider: &LoginProvider, result: &'static str) {
        self.metrics.record_login(result);
        self.metrics
            .record_provider_login(provider.id().as_str(), result);
    }
}

/// `GET /auth/callback` and `GET /auth/callback/{provider}`: completes the login at the provider
/// recorded in the login-flow cookie, verifying everything it returned.
pub(crate) async fn callback(
    State(gw): State<Arc<Gateway>>,
    uri: Uri,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let name = gw.cookies.login_flow_cookie_name();
    let now = gw.clock.now();
    let flow = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|cookies| find_cookie(cookies, name))
        .and_then(|value| {
            gw.used_flows
                .open_once::<LoginFlow<ProviderLogin>>(&gw.key_ring, name, now, value)
                .ok()
        });
    let Some(flow) = flow else {
        gw.metrics.record_login("flow_refused");
        return expired_login(Lang::default());
    };
    let provider = match flow.pending.provider.as_deref() {
        Some(id) => gw.provider(id),
        None => Some(gw.default_provider()),
    };
    let Some(provider) = provider else {
        // The provider was removed from the configuration while the resident was away.
        gw.metrics.record_login("flow_refused");
        return expired_login(Lang::default());
    };
    let pending = flow.pending.pending;
    let level = pending.level();
    let max_age = pending
        .max_age()
        .and_then(|d| u32::try_from(d.num_seconds()).ok());
    let return_path = flow.return_path.as_str().to_owned();
    let lang = Lang::from_query(return_path.split_once('?').map(|(_, q)| q));
    let clear_flow = gw.cookies.removal(name).ok();

    // Each provider has its own redirect URI: an answer arriving at another provider's URI is a
    // mix-up (or an attack), whatever it carries. The login-flow cookie is spent either way.
    if uri.path() != provider.callback_path() {
        gw.record_login(provider, "refused");
        let event = LoginRecorded::new(LoginResult::Rejected, None, None);
        gw.audit(None, AuditEvent::Login(event)).await;
        tracing::info!(
            provider = %provider.id(),
            kind = "ProviderMismatch",
            "login failed: the callback arrived at another provider's redirect URI"
        );
        return with_cleared_flow(refused_login(lang, &return_path), clear_flow.as_deref());
    }

    let callback = Callback::from_query(raw.as_deref().unwrap_or(""));
    let response = match provider.relying_party().complete(pending, &callback).await {
        Ok(login) => {
            let subject = gw.pseudonym(login.issuer(), login.subject());
            let previous = gw.session(&headers);
            match Session::new(
                subject.as_str().to_owned(),
                login.assurance().clone(),
                now,
                gw.random.as_ref(),
            ) {
                Ok(mut session) => {
                    if let Some(previous) = &previous {
                        session.carry_step_ups_from(previous);
                    }
                    // The login asked for this requirement: if it came back short, asking
                    // again would loop (rule 3), so it counts as tried.
                    session.record_step_up(level, max_age);
                    gw.record_login(provider, "success");
                    let event = LoginRecorded::new(
                        LoginResult::Succeeded,
                        login.assurance().level(),
                        Some(login.assurance().source()),
                    );
                    gw.audit(Some(session.subject()), AuditEvent::Login(event))
                        .await;
                    tracing::info!(
                        provider = %provider.id(),
                        level = ?login.assurance().level().map(crate::Level::number),
                        source = login.assurance().source().as_str(),
                        "login verified"
                    );
                    if is_staff_return(&return_path) {
                        return with_cleared_flow(
                            match gw.staff_cookie(session.subject(), login.userinfo()) {
                                Some(cookie) => {
                                    let mut response = Redirect::to(&return_path).into_response();
                                    append_cookie(&mut response, &cookie);
                                    response
                                }
                                None => not_staff(lang, session.subject()),
                            },
                            clear_flow.as_deref(),
                        );
                    }
                    let mut response = Redirect::to(&return_path).into_response();
                    if let Some(cookie) = gw.session_cookie(&session) {
                        append_cookie(&mut response, &cookie);
                    }
                    response
                }
                Err(_) => internal_error(lang),
            }
        }
        Err(error) => {
            let failure = match error.kind() {
                LoginErrorKind::Cancelled | LoginErrorKind::InteractionRequired => {
                    Some(LoginFailure::Cancelled)
                }
                LoginErrorKind::LevelUnreachable => Some(LoginFailure::LevelNotReachable),
                LoginErrorKind::ProviderUnavailable | LoginErrorKind::ProviderError => {
                    Some(LoginFailure::ProviderUnavailable)
                }
                _ => None,
            };
            tracing::info!(
                provider = %provider.id(),
                kind = ?error.kind(),
                provider_error = error.provider_error(),
                "login failed"
            );
            gw.metrics.record_login_failure(error.kind().code());
            match failure {
                Some(failure) => {
                    gw.record_login(provider, outcome_code(failure));
                    let event = LoginRecorded::new(LoginResult::Failed(failure), None, None);
                    gw.audit(None, AuditEvent::Login(event)).await;
                    Redirect::to(&with_outcome(&return_path, outcome_code(failure))).into_response()
                }
                None => {
                    gw.record_login(provider, "refused");
                    let event = LoginRecorded::new(LoginResult::Rejected, None, None);
                    gw.audit(None, AuditEvent::Login(event)).await;
                    refused_login(lang, &return_path)
                }
            }
        }
    };
    with_cleared_flow(response, clear_flow.as_deref())
}

fn with_cleared_flow(mut response: Response, clear: Option<&str>) -> Response {
    if let Some(clear) = clear {
        append_cookie(&mut response, clear);
    }
    response
}

/// `POST /logout` form.
#[derive(Debug, Deserialize)]
pub(crate) struct LogoutForm {
    #[serde(default)]
    csrf_token: String,
}

/// `POST /logout`: ends the session (the form carries the session's CSRF token).
pub(crate) async fn logout(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    Form(form): Form<LogoutForm>,
) -> Response {
    if let Some(session) = gw.session(&headers)
        && !session.csrf_token().matches(&form.csrf_token)
    {
        return (
            StatusCode::FORBIDDEN,
            "the sign-out form has expired; reload the page",
        )
            .into_response();
    }
    let mut response = Redirect::to("/").into_response();
    if let Ok(clear) = gw.cookies.removal(gw.cookies.session_cookie_name()) {
        append_cookie(&mut response, &clear);
    }
    response
}

pub(crate) fn append_cookie(response: &mut Response, cookie: &str) {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

fn with_outcome(path: &str, outcome: &str) -> String {
    let separator = if path.contains('?') { '&' } else { '?' };
    format!("{path}{separator}outcome={outcome}")
}

pub(crate) fn not_found(lang: Lang) -> Response {
    let page = Page::new(lang, lang.pick("Không tìm thấy", "Not found")).push(notice(
        NoticeKind::Error,
        lang.pick(
            "Không tìm thấy trang hoặc thủ tục này.",
            "This page or procedure does not exist.",
        ),
        link_button(
            ButtonKind::Secondary,
            "/",
            lang.pick("Về trang chủ", "Back to the home page"),
        ),
    ));
    (StatusCode::NOT_FOUND, page).into_response()
}

pub(crate) fn internal_error(lang: Lang) -> Response {
    let page = Page::new(lang, lang.pick("Có lỗi xảy ra", "Something went wrong")).push(notice(
        NoticeKind::Error,
        lang.pick(
            "Hệ thống gặp lỗi. Hồ sơ đã lưu không bị mất. Vui lòng thử lại sau ít phút.",
            "The system hit an error. Nothing you saved was lost. Please try again in a few minutes.",
        ),
        link_button(ButtonKind::Secondary, "/", lang.pick("Về trang chủ", "Back to the home page")),
    ));
    (StatusCode::INTERNAL_SERVER_ERROR, page).into_response()
}

fn expired_login(lang: Lang) -> Response {
    let page = Page::new(lang, lang.pick("Phiên đăng nhập đã hết hạn", "The sign-in has expired"))
        .push(notice(
            NoticeKind::Warning,
            lang.pick(
                "Phiên đăng nhập này đã hết hạn hoặc đã được dùng. Vui lòng bắt đầu lại từ thủ tục bạn muốn nộp.",
                "This sign-in has expired or was already used. Please start again from the procedure you want to file.",
            ),
            link_button(ButtonKind::Primary, "/", lang.pick("Chọn thủ tục", "Choose a procedure")),
        ));
    (StatusCode::BAD_REQUEST, page).into_response()
}

fn refused_login(lang: Lang, return_path: &str) -> Response {
    let mut actions = Markup::new();
    actions.push(&link_button(
        ButtonKind::Primary,
        return_path,
        lang.pick("Thử đăng nhập lại", "Try signing in again"),
    ));
    let in_person = with_outcome(return_path, "provider_unavailable");
    actions.push(&link_button(
        ButtonKind::Secondary,
        &in_person,
        lang.pick("Nộp hồ sơ trực tiếp", "Submit in person instead"),
    ));
    let page = Page::new(lang, lang.pick("Không xác thực được đăng nhập", "The sign-in could not be verified"))
        .push(notice(
            NoticeKind::Error,
            lang.pick(
                "Chúng tôi không xác thực được phản hồi từ hệ thống đăng nhập, nên chưa thể mở phiên làm việc. Bạn có thể thử lại hoặc nộp hồ sơ trực tiếp.",
                "We could not verify the sign-in service's answer, so no session was opened. You can try again or submit in person.",
            ),
            actions,
        ));
    (StatusCode::BAD_REQUEST, page).into_response()
}
