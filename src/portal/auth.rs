//! The portal's side of sign-in: the gate's auth routes ([`crate::integrations::axum`]) with
//! the portal's pages, chooser, staff sign-in, metrics and audit as [`GateHooks`].

use std::sync::{Arc, OnceLock, Weak};

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::gateway::Gateway;
use super::html::{ButtonKind, NoticeKind, Page, html, link_button, notice};
use super::providers::{LoginProvider, chooser_page};
use super::staff::is_staff_return;
use super::staff_session::staff_signed_in;
use crate::audit::AuditEvent;
use crate::i18n::Lang;
use crate::integrations::axum::{AuthProblem, GateHooks, HookFuture, OwnSession, ProviderId};
use crate::oidc::{LoginErrorKind, PendingLogin, VerifiedLogin};
use crate::policy::{Decision, LoginFailure, Procedure};
use crate::session::{ReturnPath, Session};

pub(crate) use crate::integrations::axum::append_cookie;

/// The portal's [`GateHooks`]. The gate is built before the gateway that holds it, so the
/// hooks reach the gateway through a weak reference set once it exists.
#[derive(Debug, Default)]
pub(crate) struct PortalHooks {
    gateway: OnceLock<Weak<Gateway>>,
}

impl PortalHooks {
    /// Connects the hooks to the gateway they serve.
    pub(crate) fn attach(&self, gateway: &Arc<Gateway>) {
        let _ = self.gateway.set(Arc::downgrade(gateway));
    }

    fn gateway(&self) -> Option<Arc<Gateway>> {
        self.gateway.get().and_then(Weak::upgrade)
    }
}

impl GateHooks for PortalHooks {
    fn login_recorded(&self, provider: Option<&ProviderId>, result: &'static str) {
        let Some(gw) = self.gateway() else { return };
        gw.metrics.record_login(result);
        if let Some(provider) = provider {
            gw.metrics.record_provider_login(provider.as_str(), result);
        }
    }

    fn login_failed(&self, kind: LoginErrorKind) {
        if let Some(gw) = self.gateway() {
            gw.metrics.record_login_failure(kind.code());
        }
    }

    fn decided(&self, decision: &Decision, _session: Option<&Session>) {
        if let Some(gw) = self.gateway() {
            gw.metrics
                .record_decision(decision.kind_str(), decision.reason().as_str());
        }
    }

    fn audit<'a>(&'a self, subject: Option<&'a str>, event: AuditEvent) -> HookFuture<'a> {
        Box::pin(async move {
            if let Some(gw) = self.gateway() {
                gw.audit(subject, event).await;
            }
        })
    }

    /// Staff sign in on the staff routes: a staff cookie instead of a resident session.
    fn signed_in(
        &self,
        session: &Session,
        login: &VerifiedLogin,
        return_path: &ReturnPath,
    ) -> Option<Response> {
        if !is_staff_return(return_path.as_str()) {
            return None;
        }
        let lang = Lang::from_query(return_path.as_str().split_once('?').map(|(_, q)| q));
        let gw = self.gateway()?;
        Some(staff_signed_in(&gw, session, login, return_path, lang))
    }

    /// An assisted device signs every resident in afresh.
    fn fresh_login(&self, headers: &HeaderMap) -> bool {
        self.gateway()
            .is_some_and(|gw| super::assisted::from_assisted_device(&gw, headers))
    }

    /// The staff session: `POST /logout` ends it too.
    fn own_session(&self, headers: &HeaderMap, csrf_token: &str) -> Option<OwnSession> {
        let gw = self.gateway()?;
        let staff = gw.staff_session(headers)?;
        Some(OwnSession::new(
            staff.token_matches(csrf_token),
            Some(staff.provider().to_owned()),
        ))
    }

    /// Signing out leaves nothing of this person in the browser: staff, draft and ticket
    /// cookies go with the session.
    fn signed_out(&self, response: &mut Response) {
        let Some(gw) = self.gateway() else { return };
        let names = [
            gw.staff_cookie_name(),
            gw.draft_cookie_name(),
            gw.ticket_cookie_name(),
        ];
        for name in names {
            if let Ok(removal) = gw.cookies.removal(&name) {
                append_cookie(response, &removal);
            }
        }
    }

    /// Remembers a resident's failed login for the procedure it was for (see
    /// [`super::login_memory`]).
    fn login_fell_short(
        &self,
        failure: LoginFailure,
        return_path: &ReturnPath,
        headers: &HeaderMap,
    ) -> Option<String> {
        self.gateway()?
            .remember_failure(headers, return_path.as_str(), failure)
    }

    fn problem_page(
        &self,
        problem: AuthProblem,
        lang: Lang,
        return_path: Option<&str>,
    ) -> Response {
        match problem {
            AuthProblem::NotFound => not_found(lang),
            AuthProblem::SignOutUnconfirmed => sign_out_unconfirmed(lang),
            AuthProblem::Expired => expired_login(lang),
            AuthProblem::Refused => refused_login(lang, return_path.unwrap_or("/")),
            _ => internal_error(lang),
        }
    }

    fn choose_provider(
        &self,
        lang: Lang,
        procedure: Option<&Procedure>,
        return_to: Option<&ReturnPath>,
    ) -> Option<Response> {
        let gw = self.gateway()?;
        procedure.map(|procedure| chooser_page(&gw, lang, procedure, return_to))
    }

    /// A resident signing in for a procedure comes back to its page.
    fn return_path(&self, procedure: Option<&Procedure>, lang: Lang) -> String {
        match procedure {
            Some(procedure) => format!("/procedures/{}?lang={}", procedure.code(), lang.code()),
            None => format!("/?lang={}", lang.code()),
        }
    }
}

impl Gateway {
    /// The redirect to `provider` with the sealed login-flow cookie (see
    /// [`Gate::redirect_to_provider`](crate::integrations::axum::Gate::redirect_to_provider)).
    pub(crate) fn redirect_to_provider(
        &self,
        provider: &LoginProvider,
        url: &url::Url,
        pending: PendingLogin,
        return_path: &str,
    ) -> Option<Response> {
        self.gate()
            .redirect_to_provider(provider, url, pending, return_path)
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
    let in_person = with_outcome(return_path, "provider_unavailable");
    let actions = html! {
        (link_button(
            ButtonKind::Primary,
            return_path,
            lang.pick("Thử đăng nhập lại", "Try signing in again"),
        ))
        (link_button(
            ButtonKind::Secondary,
            &in_person,
            lang.pick("Nộp hồ sơ trực tiếp", "Submit in person instead"),
        ))
    };
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

/// The return from the provider's sign-out did not carry the `state` sent: the portal's
/// session is over, the provider's may not be.
fn sign_out_unconfirmed(lang: Lang) -> Response {
    let page = Page::new(lang, lang.pick("Đã đăng xuất khỏi cổng", "Signed out of the portal"))
        .push(notice(
            NoticeKind::Warning,
            lang.pick(
                "Chưa xác nhận được việc đăng xuất tại hệ thống định danh",
                "Signing out at the identity provider was not confirmed",
            ),
            html! {
                p { (lang.pick(
                    "Phiên làm việc trên cổng này đã kết thúc. Nếu dùng máy chung, hãy đóng trình duyệt để chắc chắn người sau không dùng được tài khoản định danh của bạn.",
                    "Your session on this portal has ended. On a shared device, close the browser so that the next person cannot use your identity account.",
                )) }
                (link_button(ButtonKind::Secondary, "/", lang.pick("Về trang chủ", "Back to the home page")))
            },
        ));
    (StatusCode::BAD_REQUEST, page).into_response()
}
