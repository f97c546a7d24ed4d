//! The auth routes: `/login`, the providers' callbacks and `/logout`, mountable under any
//! prefix.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, OriginalUri, Query, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{MethodRouter, get, post};
use chrono::Duration;
use serde::{Deserialize, Serialize};

use super::gate::AuthProblem;
use super::guard::outcome_code;
use super::{Gate, LoginProvider, OwnSession};
use crate::assurance::Level;
use crate::audit::{AuditEvent, LoginRecorded, LoginResult};
use crate::i18n::Lang;
use crate::oidc::{Callback, LoginErrorKind, LoginRequest, PendingLogin};
use crate::policy::LoginFailure;
use crate::session::{LoginFlow, ReturnPath, Session, find_cookie, seal_login_flow};
use subtle::ConstantTimeEq as _;

/// The longest `max_age` a `/login?level=` may ask for, in seconds (one day).
const MAX_LOGIN_MAX_AGE_SECS: i64 = 86_400;

/// Where the provider sends the browser back after RP-initiated logout, under the auth prefix:
/// the `post_logout_redirect_uri` to register at the provider.
pub const LOGGED_OUT_PATH: &str = "/logged-out";
/// Purpose bound into the sign-out cookie's associated data.
const SIGN_OUT_PURPOSE: &str = "sign-out";
/// How long a sign-out at the provider may take before its return is no longer recognised.
const SIGN_OUT_LIFETIME: Duration = Duration::minutes(10);

/// The auth routes of `gate`: `GET /login`, `GET /callback`, `GET /callback/{provider}`,
/// `POST /logout` and `GET /logged-out` (the return from the provider's end-session endpoint). Nest them at [`Gate::auth_prefix`]:
/// `Router::new().nest(gate.auth_prefix(), auth_router(&gate))`.
pub fn auth_router<S: Clone + Send + Sync + 'static>(gate: &Arc<Gate>) -> Router<S> {
    Router::new()
        .route("/login", login_route(gate))
        .route("/callback", callback_route(gate))
        .route("/callback/{provider}", callback_route(gate))
        .route("/logout", logout_route(gate))
        .route(
            LOGGED_OUT_PATH,
            get(logged_out).with_state(Arc::clone(gate)),
        )
}

/// `GET /login`, to mount at another path too (the bundled portal keeps `/login`).
pub fn login_route<S: Clone + Send + Sync + 'static>(gate: &Arc<Gate>) -> MethodRouter<S> {
    get(login).with_state(Arc::clone(gate))
}

/// A provider's callback route.
pub fn callback_route<S: Clone + Send + Sync + 'static>(gate: &Arc<Gate>) -> MethodRouter<S> {
    get(callback).with_state(Arc::clone(gate))
}

/// `POST /logout`, to mount at another path too (the bundled portal keeps `/logout`).
pub fn logout_route<S: Clone + Send + Sync + 'static>(gate: &Arc<Gate>) -> MethodRouter<S> {
    post(logout).with_state(Arc::clone(gate))
}

/// `GET /login` parameters. Each only shapes what is asked of the provider and where to
/// return; the level granted comes only from the verified answer.
#[derive(Debug, Deserialize)]
struct LoginQuery {
    #[serde(default)]
    procedure: Option<String>,
    #[serde(default)]
    level: Option<u8>,
    #[serde(default)]
    max_age: Option<i64>,
    #[serde(default)]
    lang: Option<String>,
    #[serde(default)]
    provider: Option<String>,
    #[serde(default)]
    return_to: Option<String>,
}

/// What the login-flow cookie carries besides the return path: the pending login and the id of
/// the provider it went to, so the callback is completed by that provider only.
#[derive(Debug, Serialize, Deserialize)]
struct ProviderLogin {
    /// The provider's id. Cookies sealed before gateways had several providers lack it: they
    /// belong to the first provider.
    #[serde(rename = "a", default, skip_serializing_if = "Option::is_none")]
    provider: Option<String>,
    #[serde(flatten)]
    pending: PendingLogin,
}

/// Starts a login aimed at the requirement (a catalog procedure, or a level and `max_age`),
/// at the chosen provider; with several providers and none chosen, the hooks' chooser.
async fn login(
    State(gate): State<Arc<Gate>>,
    Query(query): Query<LoginQuery>,
    headers: HeaderMap,
) -> Response {
    let lang = query
        .lang
        .as_deref()
        .and_then(Lang::from_code)
        .unwrap_or_default();
    let hooks = Arc::clone(gate.hooks());
    let procedure = match query.procedure.as_deref() {
        Some(code) => match gate.catalog().procedure(code) {
            Some(procedure) => Some(procedure),
            None => return hooks.problem_page(AuthProblem::NotFound, lang, None),
        },
        None => None,
    };
    let request = match procedure {
        Some(procedure) => {
            LoginRequest::new(procedure.online_level()).max_age(procedure.max_auth_age())
        }
        None => {
            let level = match query.level {
                None | Some(1) => Level::One,
                Some(2) => Level::Two,
                Some(_) => return hooks.problem_page(AuthProblem::NotFound, lang, None),
            };
            let request = LoginRequest::new(level);
            match query.max_age {
                Some(secs) => {
                    request.max_age(Duration::seconds(secs.clamp(0, MAX_LOGIN_MAX_AGE_SECS)))
                }
                None => request,
            }
        }
    };
    // On a shared device the provider's own session may be the previous person's.
    let request = if hooks.fresh_login(&headers) {
        request.max_age(Duration::zero()).prompt_login(true)
    } else {
        request
    };
    // Only a same-origin path is kept, here and on the chooser's buttons alike.
    let return_to = query.return_to.as_deref().and_then(ReturnPath::parse);
    let provider = match query.provider.as_deref() {
        Some(id) => match gate.provider(id) {
            Some(provider) => provider,
            None => return hooks.problem_page(AuthProblem::NotFound, lang, None),
        },
        None if gate.providers().len() > 1 => {
            match hooks.choose_provider(lang, procedure, return_to.as_ref()) {
                Some(page) => return page,
                None => gate.default_provider(),
            }
        }
        None => gate.default_provider(),
    };
    let return_path = return_to.map_or_else(|| hooks.return_path(procedure, lang), String::from);
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
            hooks.login_recorded(Some(provider.id()), "provider_unavailable");
            let target = with_outcome(
                &return_path,
                outcome_code(LoginFailure::ProviderUnavailable),
            );
            return Redirect::to(&target).into_response();
        }
    };
    gate.redirect_to_provider(provider, &url, pending, &return_path)
        .unwrap_or_else(|| hooks.problem_page(AuthProblem::Internal, lang, None))
}

impl Gate {
    /// The redirect to `provider`'s authorization `url`, carrying the sealed login-flow cookie
    /// that binds the callback to this browser and this provider, and says where to return.
    /// `None` when `return_path` is not a same-origin path or the cookie cannot be sealed.
    pub fn redirect_to_provider(
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
        let sessions = self.sessions();
        let cookies = sessions.settings();
        let name = cookies.login_flow_cookie_name();
        let sealed = seal_login_flow(
            sessions.key_ring(),
            sessions.random().as_ref(),
            name,
            sessions.clock().now(),
            &flow,
        )
        .ok()?;
        let cookie = cookies
            .set_cookie(name, &sealed, crate::session::LOGIN_FLOW_LIFETIME)
            .ok()?;
        let mut response = Redirect::to(url.as_str()).into_response();
        append_cookie(&mut response, &cookie);
        Some(response)
    }
}

/// A page that sends the browser on to `url` at once (`<meta http-equiv="refresh">`), with a
/// link for a browser that does not follow it. Not a redirect: the sign-out form's POST may
/// lead only to the portal's own origin (CSP `form-action 'self'` covers its redirects too).
fn continue_to(url: &url::Url, lang: Lang) -> Response {
    let href = escape_attribute(url.as_str());
    let title = lang.pick("Đang đăng xuất", "Signing out");
    let link = lang.pick(
        "Tiếp tục đăng xuất tại hệ thống định danh",
        "Continue signing out at the identity provider",
    );
    let page = format!(
        "<!DOCTYPE html>\n<html lang=\"{code}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"refresh\" content=\"0;url={href}\">\n<title>{title}</title>\n</head>\n\
         <body>\n<main>\n<h1>{title}</h1>\n<p><a href=\"{href}\">{link}</a></p>\n</main>\n</body>\n</html>\n",
        code = lang.code(),
    );
    let mut response = (StatusCode::OK, page).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `text` safe inside a double-quoted HTML attribute.
fn escape_attribute(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            _ => out.push(c),
        }
    }
    out
}

/// Completes the login at the provider recorded in the login-flow cookie, verifying everything
/// it returned.
async fn callback(
    State(gate): State<Arc<Gate>>,
    OriginalUri(uri): OriginalUri,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let hooks = Arc::clone(gate.hooks());
    let sessions = gate.sessions();
    let name = sessions.settings().login_flow_cookie_name();
    let now = sessions.clock().now();
    let flow = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|cookies| find_cookie(cookies, name))
        .and_then(|value| {
            gate.used_flows
                .open_once::<LoginFlow<ProviderLogin>>(sessions.key_ring(), name, now, value)
                .ok()
        });
    let Some(flow) = flow else {
        hooks.login_recorded(None, "flow_refused");
        return hooks.problem_page(AuthProblem::Expired, Lang::default(), None);
    };
    let provider = match flow.pending.provider.as_deref() {
        Some(id) => gate.provider(id),
        None => Some(gate.default_provider()),
    };
    let Some(provider) = provider else {
        // The provider was removed from the configuration while the resident was away.
        hooks.login_recorded(None, "flow_refused");
        return hooks.problem_page(AuthProblem::Expired, Lang::default(), None);
    };
    let pending = flow.pending.pending;
    let level = pending.level();
    let max_age = pending
        .max_age()
        .and_then(|d| u32::try_from(d.num_seconds()).ok());
    let return_path = flow.return_path;
    let lang = Lang::from_query(return_path.as_str().split_once('?').map(|(_, q)| q));
    let clear_flow = sessions.settings().removal(name).ok();

    // Each provider has its own redirect URI: an answer arriving at another provider's URI is a
    // mix-up (or an attack), whatever it carries. The login-flow cookie is spent either way.
    // The full path is compared, so the check holds under any prefix.
    if uri.path() != provider.callback_path() {
        hooks.login_recorded(Some(provider.id()), "refused");
        let event = LoginRecorded::new(LoginResult::Rejected, None, None);
        hooks.audit(None, AuditEvent::Login(event)).await;
        tracing::info!(
            provider = %provider.id(),
            kind = "ProviderMismatch",
            "login failed: the callback arrived at another provider's redirect URI"
        );
        let page = hooks.problem_page(AuthProblem::Refused, lang, Some(return_path.as_str()));
        return with_cleared_flow(page, clear_flow.as_deref());
    }

    let callback = Callback::from_query(raw.as_deref().unwrap_or(""));
    let response = match provider.relying_party().complete(pending, &callback).await {
        Ok(login) => {
            let subject = gate.pseudonym(login.issuer(), login.subject());
            match Session::new(
                subject.as_str().to_owned(),
                login.assurance().clone(),
                now,
                sessions.random().as_ref(),
            ) {
                Ok(mut session) => {
                    if let Some(previous) = sessions.open(&headers) {
                        session.carry_step_ups_from(&previous);
                    }
                    // The login asked for this requirement: if it came back short, asking
                    // again would loop (rule 3), so it counts as tried.
                    session.record_step_up(level, max_age);
                    hooks.login_recorded(Some(provider.id()), "success");
                    let event = LoginRecorded::new(
                        LoginResult::Succeeded,
                        login.assurance().level(),
                        Some(login.assurance().source()),
                    )
                    .with_signed_id_token(login.assurance().has_signed_id_token());
                    hooks
                        .audit(Some(session.subject()), AuditEvent::Login(event))
                        .await;
                    tracing::info!(
                        provider = %provider.id(),
                        level = ?login.assurance().level().map(Level::number),
                        source = login.assurance().source().as_str(),
                        "login verified"
                    );
                    let mut response = match hooks.signed_in(&session, &login, &return_path) {
                        Some(response) => response,
                        None => {
                            let mut response = Redirect::to(return_path.as_str()).into_response();
                            if let Some(cookie) = sessions.set_cookie(&session) {
                                append_cookie(&mut response, &cookie);
                            }
                            response
                        }
                    };
                    // The ID token for `id_token_hint` at sign-out; a login without one
                    // removes the previous sign-in's.
                    let hint = gate
                        .logout_hint_cookie(&login)
                        .or_else(|| gate.logout_hint_removal());
                    if let Some(cookie) = hint {
                        append_cookie(&mut response, &cookie);
                    }
                    // A login that silently came back below the level it asked for.
                    if login.assurance().level() < Some(level)
                        && let Some(cookie) = hooks.login_fell_short(
                            LoginFailure::LevelNotReachable,
                            &return_path,
                            &headers,
                        )
                    {
                        append_cookie(&mut response, &cookie);
                    }
                    response
                }
                Err(_) => hooks.problem_page(AuthProblem::Internal, lang, None),
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
            hooks.login_failed(error.kind());
            match failure {
                Some(failure) => {
                    hooks.login_recorded(Some(provider.id()), outcome_code(failure));
                    let event = LoginRecorded::new(LoginResult::Failed(failure), None, None);
                    hooks.audit(None, AuditEvent::Login(event)).await;
                    let target = with_outcome(return_path.as_str(), outcome_code(failure));
                    let mut response = Redirect::to(&target).into_response();
                    if let Some(cookie) = hooks.login_fell_short(failure, &return_path, &headers) {
                        append_cookie(&mut response, &cookie);
                    }
                    response
                }
                None => {
                    hooks.login_recorded(Some(provider.id()), "refused");
                    let event = LoginRecorded::new(LoginResult::Rejected, None, None);
                    hooks.audit(None, AuditEvent::Login(event)).await;
                    hooks.problem_page(AuthProblem::Refused, lang, Some(return_path.as_str()))
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
struct LogoutForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    lang: Option<String>,
}

/// What the sign-out cookie holds: the `state` sent to the end-session endpoint and the
/// language to come back to.
#[derive(Debug, Serialize, Deserialize)]
struct SignOutState {
    #[serde(rename = "s")]
    state: String,
    #[serde(rename = "l")]
    lang: String,
}

/// Ends the session: the gate's session and login-flow cookies and, through the hooks, the
/// application's own; then, when the provider advertises an end-session endpoint, its session
/// too (OpenID Connect RP-Initiated Logout 1.0). The form carries the token of the session it
/// was rendered for (compared in constant time).
async fn logout(
    State(gate): State<Arc<Gate>>,
    headers: HeaderMap,
    Form(form): Form<LogoutForm>,
) -> Response {
    let lang = form
        .lang
        .as_deref()
        .and_then(Lang::from_code)
        .unwrap_or_default();
    let hooks = Arc::clone(gate.hooks());
    let sessions = gate.sessions();
    let resident = sessions.open(&headers);
    let own = hooks.own_session(&headers, &form.csrf_token);
    let token_matches = resident
        .as_ref()
        .is_some_and(|s| s.csrf_token().matches(&form.csrf_token))
        || own.as_ref().is_some_and(OwnSession::token_matches);
    if (resident.is_some() || own.is_some()) && !token_matches {
        return (
            StatusCode::FORBIDDEN,
            "the sign-out form has expired; reload the page",
        )
            .into_response();
    }
    // The provider whose session to end: the resident's, else the application's session's.
    let provider = resident
        .as_ref()
        .and_then(|s| {
            gate.providers()
                .iter()
                .find(|p| p.relying_party().issuer() == s.issuer())
        })
        .or_else(|| {
            own.as_ref()
                .and_then(OwnSession::provider)
                .and_then(|id| gate.provider(id))
        });
    let mut response = provider
        .and_then(|provider| {
            let hint = gate.logout_hint(&headers, provider.relying_party().issuer());
            gate.end_session_redirect(provider, lang, hint.as_deref())
        })
        .unwrap_or_else(|| Redirect::to(&format!("/?lang={}", lang.code())).into_response());
    let cookies = sessions.settings();
    let removals = [
        sessions.clear_cookie(),
        cookies.removal(cookies.login_flow_cookie_name()).ok(),
        gate.logout_hint_removal(),
    ];
    for removal in removals.iter().flatten() {
        append_cookie(&mut response, removal);
    }
    hooks.signed_out(&mut response);
    response
}

impl Gate {
    fn sign_out_cookie_name(&self) -> String {
        self.sessions().settings().cookie_name("wardgate-signout")
    }

    /// The way on to `provider`'s end-session endpoint, with the sealed sign-out cookie that
    /// checks the `state` on return; `None` when the provider has no such endpoint.
    ///
    /// `id_token_hint` is the ID token kept at sign-in in the logout-hint cookie (see
    /// `logout_hint`), when there is one for this provider: the provider then knows whose
    /// session ends. Without it (a profile with no ID token, a token too large to keep, an
    /// older sign-in) `client_id` names the relying party alone (RP-Initiated Logout 1.0 §2),
    /// and the provider may ask the resident to confirm.
    fn end_session_redirect(
        &self,
        provider: &LoginProvider,
        lang: Lang,
        id_token_hint: Option<&str>,
    ) -> Option<Response> {
        let rp = provider.relying_party();
        let endpoint = rp.metadata().end_session_endpoint.as_ref()?;
        let config = rp.config();
        let back = config
            .redirect_uri()
            .join(&format!("{}{LOGGED_OUT_PATH}", self.auth_prefix()))
            .ok()?;
        let sessions = self.sessions();
        let state = crate::clock::random_token::<16>(sessions.random().as_ref()).ok()?;
        let mut url = endpoint.clone();
        if let Some(hint) = id_token_hint {
            url.query_pairs_mut().append_pair("id_token_hint", hint);
        }
        url.query_pairs_mut()
            .append_pair("client_id", config.client_id())
            .append_pair("post_logout_redirect_uri", back.as_str())
            .append_pair("state", &state)
            .append_pair("ui_locales", lang.code());
        let name = self.sign_out_cookie_name();
        let sealed = sessions
            .key_ring()
            .seal(
                sessions.random().as_ref(),
                SIGN_OUT_PURPOSE,
                &name,
                sessions.clock().now() + SIGN_OUT_LIFETIME,
                &SignOutState {
                    state,
                    lang: lang.code().to_owned(),
                },
            )
            .ok()?;
        let cookie = sessions
            .settings()
            .set_cookie(&name, &sealed, SIGN_OUT_LIFETIME)
            .ok()?;
        let mut response = continue_to(&url, lang);
        append_cookie(&mut response, &cookie);
        Some(response)
    }
}

/// `GET /logged-out` query: the `state` the provider returns.
#[derive(Debug, Deserialize)]
struct LoggedOutQuery {
    #[serde(default)]
    state: Option<String>,
}

/// The return from the provider's end-session endpoint: home when `state` is the one sent,
/// otherwise a page saying the provider's sign-out is unconfirmed.
async fn logged_out(
    State(gate): State<Arc<Gate>>,
    Query(query): Query<LoggedOutQuery>,
    headers: HeaderMap,
) -> Response {
    let sessions = gate.sessions();
    let name = gate.sign_out_cookie_name();
    let sent: Option<SignOutState> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|cookies| find_cookie(cookies, &name))
        .and_then(|value| {
            sessions
                .key_ring()
                .open(SIGN_OUT_PURPOSE, &name, sessions.clock().now(), value)
                .ok()
        });
    let lang = sent
        .as_ref()
        .and_then(|sent| Lang::from_code(&sent.lang))
        .unwrap_or_default();
    let confirmed = match (&sent, query.state.as_deref()) {
        (Some(sent), Some(returned)) => {
            bool::from(sent.state.as_bytes().ct_eq(returned.as_bytes()))
        }
        _ => false,
    };
    let mut response = if confirmed {
        Redirect::to(&format!("/?lang={}", lang.code())).into_response()
    } else {
        tracing::info!("sign-out return without the state sent to the provider");
        gate.hooks()
            .problem_page(AuthProblem::SignOutUnconfirmed, lang, None)
    };
    if let Ok(removal) = sessions.settings().removal(&name) {
        append_cookie(&mut response, &removal);
    }
    response
}

/// Appends a `Set-Cookie` header.
pub fn append_cookie(response: &mut Response, cookie: &str) {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// `path` with `outcome=CODE` added to its query.
pub(super) fn with_outcome(path: &str, outcome: &str) -> String {
    let separator = if path.contains('?') { '&' } else { '?' };
    format!("{path}{separator}outcome={outcome}")
}
