//! Assisted mode: a device on which officers or a community digital technology team help
//! residents one after another ("Tổ CNSCĐ khóm Xuân Hòa", "Điểm tiếp nhận Nhà Bàng").
//!
//! Staff turn it on from `/staff/device`: a sealed device cookie holding the team's or desk's
//! label (never a person's name). On that device every sign-in asks the provider to
//! authenticate again (`prompt=login`, `max_age=0`), a resident session ends after
//! `assisted.idle_minutes` (default 5) without a request (the server enforces it; the page
//! says so first), every page says who is helping, and a "Người tiếp theo" button ends
//! everything for the next person.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, HeaderValue, Request, StatusCode, Uri, header};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use chrono::Duration;
use serde::{Deserialize, Serialize};
use tokio::task::futures::TaskLocalFuture;
use tower::{Layer, Service};

use super::auth::append_cookie;
use super::gateway::Gateway;
use super::html::{ButtonKind, FormMethod, Markup, NoticeKind, button, form, html, notice};
use super::staff::{sign_in_page, staff_page};
use super::staff_session::staff_session_middleware;
use crate::i18n::Lang;
use crate::session::find_cookie;

/// How long a device stays in assisted mode before staff turn it on again.
const DEVICE_LIFETIME: Duration = Duration::days(30);
/// Purpose bound into the device cookie.
const DEVICE_PURPOSE: &str = "assisted-device";
/// The longest label, in characters.
const MAX_LABEL_CHARS: usize = 80;

/// What the device cookie holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct AssistedDevice {
    #[serde(rename = "l")]
    label: String,
}

impl AssistedDevice {
    /// The team's or desk's label.
    pub(crate) fn label(&self) -> &str {
        &self.label
    }
}

/// What the pages of this request show about the assisted device.
#[derive(Clone, Debug)]
pub(crate) struct Assisting {
    label: String,
    /// The sign-out token of the resident session, else of the staff session, if any.
    sign_out_token: Option<String>,
    /// Whether this request ended the previous resident's idle session.
    ended_idle: bool,
    /// Minutes without a request that end a resident session here.
    idle_minutes: i64,
}

tokio::task_local! {
    /// Set while a request from an assisted device is handled: every page renders the banner
    /// without each handler passing the device along.
    static ASSISTING: Assisting;
}

impl Gateway {
    fn assisted_cookie_name(&self) -> String {
        self.cookies.cookie_name("wardgate-assisted")
    }

    /// The assisted-mode setting of the requesting device, if it has one.
    pub(crate) fn assisted_device(&self, headers: &HeaderMap) -> Option<AssistedDevice> {
        self.assisted_device_named(headers, &self.assisted_cookie_name())
    }

    /// [`Self::assisted_device`], with the device cookie's name already worked out.
    fn assisted_device_named(&self, headers: &HeaderMap, name: &str) -> Option<AssistedDevice> {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|cookies| find_cookie(cookies, name))
            .and_then(|value| {
                self.key_ring
                    .open(DEVICE_PURPOSE, name, self.clock.now(), value)
                    .ok()
            })
    }

    fn assisted_cookie(&self, label: &str) -> Option<String> {
        let name = self.assisted_cookie_name();
        let device = AssistedDevice {
            label: label.to_owned(),
        };
        let sealed = self
            .key_ring
            .seal(
                self.random.as_ref(),
                DEVICE_PURPOSE,
                &name,
                self.clock.now() + DEVICE_LIFETIME,
                &device,
            )
            .ok()?;
        self.cookies
            .set_cookie(&name, &sealed, DEVICE_LIFETIME)
            .ok()
    }
}

pub(crate) fn routes(gw: &Arc<Gateway>) -> Router<Arc<Gateway>> {
    Router::new()
        .route("/staff/device", get(device_page).post(set_device))
        .route_layer(from_fn_with_state(Arc::clone(gw), staff_session_middleware))
}

/// A label a staff member typed: trimmed, 1 to [`MAX_LABEL_CHARS`] characters, no control
/// characters.
fn valid_label(typed: &str) -> Option<&str> {
    let label = typed.trim();
    let length = label.chars().count();
    ((1..=MAX_LABEL_CHARS).contains(&length) && !label.chars().any(char::is_control))
        .then_some(label)
}

#[derive(Debug, Default, Deserialize)]
struct DeviceQuery {
    #[serde(default)]
    lang: Option<String>,
}

fn lang_of(code: Option<&str>) -> Lang {
    code.and_then(Lang::from_code).unwrap_or_default()
}

/// `GET /staff/device`: whether this device is in assisted mode, and the form to change it.
async fn device_page(
    State(gw): State<Arc<Gateway>>,
    Query(query): Query<DeviceQuery>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let lang = lang_of(query.lang.as_deref());
    let Some(staff) = gw.staff_session(&headers) else {
        return sign_in_page(&gw, lang, &uri);
    };
    device_form(&gw, lang, &uri, &headers, staff.csrf(), None).into_response()
}

fn device_form(
    gw: &Gateway,
    lang: Lang,
    uri: &Uri,
    headers: &HeaderMap,
    token: &str,
    problem: Option<Markup>,
) -> super::html::Page {
    let device = gw.assisted_device(headers);
    let state = match &device {
        Some(device) => html! {
            p {
                (lang.pick("Thiết bị này đang ở chế độ hỗ trợ người dân, với tên: ", "This device is in assisted mode, labelled: "))
                strong { (device.label()) }
            }
        },
        None => html! {
            p { (lang.pick("Thiết bị này chưa ở chế độ hỗ trợ.", "This device is not in assisted mode.")) }
        },
    };
    let enable = html! {
        input type="hidden" name="lang" value=(lang.code());
        input type="hidden" name="action" value="enable";
        div class="field" {
            label for="label" {
                (lang.pick(
                    "Tên tổ hoặc điểm tiếp nhận (không ghi họ tên cán bộ)",
                    "Team or desk name (not an officer's name)",
                ))
            }
            input id="label" name="label" required maxlength="80" autocomplete="off"
                value=(device.as_ref().map_or("", AssistedDevice::label));
        }
        (button(ButtonKind::Primary, lang.pick("Bật chế độ hỗ trợ", "Turn on assisted mode")))
    };
    let disable = html! {
        input type="hidden" name="lang" value=(lang.code());
        input type="hidden" name="action" value="disable";
        (button(ButtonKind::Secondary, lang.pick("Tắt chế độ hỗ trợ", "Turn off assisted mode")))
    };
    let minutes = gw.staff.assisted_idle_minutes();
    let explanation = match lang {
        Lang::Vi => format!(
            "Trên thiết bị hỗ trợ, mỗi lần đăng nhập người dân phải xác thực lại tại hệ thống định danh; phiên làm việc tự kết thúc sau {minutes} phút không thao tác; mọi trang ghi tên tổ hoặc điểm tiếp nhận đang hỗ trợ và có nút \u{201c}Người tiếp theo\u{201d}."
        ),
        Lang::En => format!(
            "On an assisted device, every resident sign-in authenticates again at the identity provider; a session ends after {minutes} minutes without activity; every page names the team or desk helping and has a \u{201c}Next person\u{201d} button."
        ),
    };
    let mut page = staff_page(
        gw,
        lang,
        lang.pick("Thiết bị hỗ trợ người dân", "Assisted device"),
        uri,
    );
    if let Some(problem) = problem {
        page = page.push(problem);
    }
    page.push(html! {
        (state)
        p { (explanation) }
        (form(FormMethod::Post, "/staff/device", Some(token), enable))
        @if device.is_some() {
            (form(FormMethod::Post, "/staff/device", Some(token), disable))
        }
    })
}

#[derive(Debug, Deserialize)]
struct DeviceForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    label: String,
    #[serde(default)]
    lang: Option<String>,
}

/// `POST /staff/device`: turns assisted mode on (with a label) or off for this device.
async fn set_device(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    uri: Uri,
    Form(form): Form<DeviceForm>,
) -> Response {
    let lang = lang_of(form.lang.as_deref());
    let Some(staff) = gw.staff_session(&headers) else {
        return sign_in_page(&gw, lang, &uri);
    };
    if !staff.token_matches(&form.csrf_token) {
        let problem = notice(
            NoticeKind::Error,
            lang.pick("Biểu mẫu đã hết hạn", "The form has expired"),
            lang.pick("Vui lòng thử lại.", "Please try again."),
        );
        let page = device_form(&gw, lang, &uri, &headers, staff.csrf(), Some(problem));
        return (StatusCode::FORBIDDEN, page).into_response();
    }
    let back = format!("/staff/device?lang={}", lang.code());
    let cookie = match form.action.as_str() {
        "disable" => gw.cookies.removal(&gw.assisted_cookie_name()).ok(),
        _ => match valid_label(&form.label) {
            Some(label) => gw.assisted_cookie(label),
            None => {
                let problem = notice(
                    NoticeKind::Error,
                    lang.pick("Tên không hợp lệ", "Invalid name"),
                    lang.pick(
                        "Nhập tên tổ hoặc điểm tiếp nhận, từ 1 đến 80 ký tự.",
                        "Enter the team or desk name, 1 to 80 characters.",
                    ),
                );
                let page = device_form(&gw, lang, &uri, &headers, staff.csrf(), Some(problem));
                return (StatusCode::BAD_REQUEST, page).into_response();
            }
        },
    };
    let mut response = Redirect::to(&back).into_response();
    if let Some(cookie) = cookie {
        append_cookie(&mut response, &cookie);
    }
    response
}

/// `headers` without the cookie `name`.
fn without_cookie(headers: &mut HeaderMap, name: &str) {
    let kept: Vec<String> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|cookies| cookies.split(';'))
        .map(str::trim)
        .filter(|pair| pair.split_once('=').is_none_or(|(n, _)| n.trim() != name))
        .map(str::to_owned)
        .collect();
    headers.remove(header::COOKIE);
    if let Ok(value) = HeaderValue::from_str(&kept.join("; ")) {
        headers.insert(header::COOKIE, value);
    }
}

/// Layer of the whole portal, outside the session layer: on an assisted device, ends a
/// resident session idle for `assisted.idle_minutes` (the request is then handled as signed out, and
/// the resident's cookies are removed) and lets every page show the assisted banner.
///
/// A tower layer rather than `axum::middleware::from_fn_with_state`, which clones the rest of
/// the stack into a boxed service and boxes a future on every request. The device cookie's name
/// is worked out once: a request without that cookie costs a scan of its `Cookie` headers and
/// nothing else (no allocation, no unsealing).
#[derive(Clone, Debug)]
pub(crate) struct AssistedLayer {
    settings: Arc<AssistedSettings>,
}

#[derive(Debug)]
struct AssistedSettings {
    gateway: Arc<Gateway>,
    /// [`Gateway::assisted_cookie_name`], worked out once.
    cookie_name: String,
}

impl AssistedLayer {
    pub(crate) fn new(gateway: Arc<Gateway>) -> Self {
        let cookie_name = gateway.assisted_cookie_name();
        Self {
            settings: Arc::new(AssistedSettings {
                gateway,
                cookie_name,
            }),
        }
    }
}

impl<S> Layer<S> for AssistedLayer {
    type Service = AssistedService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AssistedService {
            inner,
            settings: Arc::clone(&self.settings),
        }
    }
}

/// The service of an [`AssistedLayer`].
#[derive(Clone, Debug)]
pub(crate) struct AssistedService<S> {
    inner: S,
    settings: Arc<AssistedSettings>,
}

impl<S, B> Service<Request<B>> for AssistedService<S>
where
    S: Service<Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = AssistedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let settings = &self.settings;
        let gw = &settings.gateway;
        let Some(device) = gw.assisted_device_named(request.headers(), &settings.cookie_name)
        else {
            return AssistedFuture::Unassisted {
                inner: self.inner.call(request),
            };
        };
        let sessions = gw.gate().sessions();
        let session = sessions.open(request.headers());
        // The session cookie's last use is re-sealed once a minute, so the session ends within
        // a minute after the idle time.
        let idle_minutes = gw.staff.assisted_idle_minutes();
        let idle = session
            .as_ref()
            .is_some_and(|s| gw.clock.now() - s.last_seen() >= Duration::minutes(idle_minutes));
        if idle {
            without_cookie(request.headers_mut(), sessions.cookie_name());
        }
        let assisting = Assisting {
            label: device.label,
            // With no resident signed in, the staff session's token: without it, `POST /logout`
            // refuses the button while an officer is signed in on the device.
            sign_out_token: session
                .filter(|_| !idle)
                .map(|s| s.csrf_token().secret().to_owned())
                .or_else(|| {
                    gw.staff_session(request.headers())
                        .map(|s| s.csrf().to_owned())
                }),
            ended_idle: idle,
            idle_minutes,
        };
        AssistedFuture::Assisted {
            inner: ASSISTING.scope(assisting, self.inner.call(request)),
            ended_idle: idle.then(|| Arc::clone(settings)),
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`AssistedService`]: the inner service's answer, run with the assisted
    /// device's banner in scope, and with the resident's cookies removed when an idle session
    /// was ended.
    #[project = AssistedProjection]
    pub(crate) enum AssistedFuture<F> {
        /// Not an assisted device: the inner future as it is.
        Unassisted { #[pin] inner: F },
        /// An assisted device.
        Assisted {
            #[pin]
            inner: TaskLocalFuture<Assisting, F>,
            ended_idle: Option<Arc<AssistedSettings>>,
        },
    }
}

impl<F, E> Future for AssistedFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            AssistedProjection::Unassisted { inner } => inner.poll(cx),
            AssistedProjection::Assisted { inner, ended_idle } => {
                let mut response = std::task::ready!(inner.poll(cx))?;
                if let Some(settings) = ended_idle.take() {
                    let gw = &settings.gateway;
                    let removals = [
                        gw.gate().sessions().clear_cookie(),
                        gw.cookies.removal(&gw.draft_cookie_name()).ok(),
                        gw.cookies.removal(&gw.ticket_cookie_name()).ok(),
                    ];
                    for removal in removals.iter().flatten() {
                        append_cookie(&mut response, removal);
                    }
                }
                Poll::Ready(Ok(response))
            }
        }
    }
}

/// Whether this request comes from an assisted device (for the sign-in hook).
pub(crate) fn from_assisted_device(gw: &Gateway, headers: &HeaderMap) -> bool {
    gw.assisted_device(headers).is_some()
}

/// The label of the assisted device this request comes from, if it does.
pub(crate) fn assisting_label() -> Option<String> {
    ASSISTING.try_with(|assisting| assisting.label.clone()).ok()
}

/// The banner at the top of every page on an assisted device: who is helping, that the session
/// ends after 5 idle minutes, and the "Người tiếp theo" button. Empty elsewhere.
pub(crate) fn assisted_banner(lang: Lang) -> Markup {
    let Ok(assisting) = ASSISTING.try_with(Clone::clone) else {
        return html! {};
    };
    let minutes = assisting.idle_minutes;
    let next = html! {
        input type="hidden" name="lang" value=(lang.code());
        (button(ButtonKind::Primary, lang.pick("Người tiếp theo", "Next person")))
    };
    let body = html! {
        @if assisting.ended_idle {
            p {
                strong {
                    (match lang {
                        Lang::Vi => format!("Phiên làm việc trước đã kết thúc vì không thao tác trong {minutes} phút."),
                        Lang::En => format!("The previous session ended after {minutes} minutes without activity."),
                    })
                }
            }
        }
        p {
            (lang.pick("Bạn đang được hỗ trợ bởi: ", "You are being helped by: "))
            strong { (assisting.label) }
        }
        p {
            (match lang {
                Lang::Vi => format!("Đây là thiết bị dùng chung. Phiên đăng nhập tự kết thúc sau {minutes} phút không thao tác. Khi xong, hãy bấm \u{201c}Người tiếp theo\u{201d} để xóa mọi thông tin của bạn trên thiết bị."),
                Lang::En => format!("This is a shared device. A sign-in ends by itself after {minutes} minutes without activity. When you are done, press \u{201c}Next person\u{201d} to clear everything of yours from the device."),
            })
        }
        (form(
            FormMethod::Post,
            "/logout",
            assisting.sign_out_token.as_deref(),
            next,
        ))
    };
    notice(
        NoticeKind::Warning,
        lang.pick("Thiết bị hỗ trợ người dân", "Assisted device"),
        body,
    )
}
