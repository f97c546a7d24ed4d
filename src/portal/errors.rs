//! The errors a resident or officer can reach, answered in their language with a way forward.
//!
//! Handlers answer their own errors with pages ([`Page`]) or JSON problem details
//! ([`json_error`]). What reaches the client otherwise is axum's: an extractor rejection (a
//! missing or duplicated query parameter, a malformed form, a form posted with another content
//! type, a body over the limit) in plain English text, or a bare `405`. One layer,
//! [`ErrorPagesLayer`], catches those on the way out, keyed on the route kind:
//!
//! - under `/api/`: a JSON problem (`{"error", "message"}`) with the same status;
//! - elsewhere: a vi/en page with the same status and a link to go on from.
//!
//! A response is rewritten only when it is an error (4xx or 5xx) that is neither HTML nor
//! JSON: the gateway's own pages and problems pass untouched, and so do the headers the original
//! answer carried (`Allow`, `Retry-After`, `WWW-Authenticate`). The rejection's own text is
//! never shown: it may quote what the client sent.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::http::uri::PathAndQuery;
use axum::http::{HeaderMap, Method, Request, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use tower::{Layer, Service};

use super::api::json_error;
use super::html::{ButtonKind, NoticeKind, Page, link_button, notice};
use crate::i18n::Lang;

/// Rewrites axum's plain-text and empty error answers (see the module documentation).
///
/// A tower layer rather than `axum::middleware::from_fn`, which clones the rest of the stack
/// into a boxed service and boxes a future on every request. The request keeps only what the
/// answer needs (the route kind, the language and, under `/procedures/`, its path, a
/// reference-counted clone): the way back is written only when an error answer is rewritten.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ErrorPagesLayer;

impl<S> Layer<S> for ErrorPagesLayer {
    type Service = ErrorPages<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ErrorPages { inner }
    }
}

/// The service of an [`ErrorPagesLayer`].
#[derive(Clone, Debug)]
pub(crate) struct ErrorPages<S> {
    inner: S,
}

impl<S, B> Service<Request<B>> for ErrorPages<S>
where
    S: Service<Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = ErrorPagesFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let rewrite = Rewrite::of(&request);
        ErrorPagesFuture {
            inner: self.inner.call(request),
            rewrite,
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`ErrorPages`]: the inner service's answer, rewritten when it is one of
    /// axum's plain-text or empty errors.
    pub(crate) struct ErrorPagesFuture<F> {
        #[pin]
        inner: F,
        rewrite: Option<Rewrite>,
    }
}

impl<F, E> Future for ErrorPagesFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = std::task::ready!(this.inner.poll(cx))?;
        let status = response.status();
        let Some(rewrite) = this.rewrite.take() else {
            return Poll::Ready(Ok(response));
        };
        if !(status.is_client_error() || status.is_server_error())
            || is_html_or_json(response.headers())
        {
            return Poll::Ready(Ok(response));
        }
        let replacement = match rewrite.answer {
            Answer::Problem => api_error(status),
            Answer::Page(back) => error_page(status, rewrite.lang, &back.to(rewrite.lang)),
        };
        Poll::Ready(Ok(keep_headers(response, replacement)))
    }
}

/// What the answer to an error needs of its request, taken before the request moves on.
/// `None` for requests whose errors pass as they are (`HEAD`, operations routes).
#[derive(Debug)]
struct Rewrite {
    answer: Answer,
    lang: Lang,
}

impl Rewrite {
    fn of<B>(request: &Request<B>) -> Option<Self> {
        if request.method() == Method::HEAD {
            return None;
        }
        let uri = request.uri();
        let answer = match RouteKind::of(uri.path()) {
            RouteKind::Operations => return None,
            RouteKind::Api => Answer::Problem,
            RouteKind::Page => Answer::Page(Back::of(uri)),
        };
        Some(Self {
            answer,
            lang: Lang::from_query(uri.query()),
        })
    }
}

/// The kind of an error answer.
#[derive(Debug)]
enum Answer {
    /// A JSON problem.
    Problem,
    /// A page with a link back.
    Page(Back),
}

/// What [`way_back`] needs of a path, without copying it.
#[derive(Debug)]
enum Back {
    /// A path under `/procedures/`, whose code the way back names.
    Procedure(PathAndQuery),
    /// A staff page.
    Staff,
    /// Anything else.
    Home,
}

impl Back {
    fn of(uri: &Uri) -> Self {
        let path = uri.path();
        if path.starts_with("/procedures/")
            && let Some(path_and_query) = uri.path_and_query()
        {
            Self::Procedure(path_and_query.clone())
        } else if path == "/staff" || path.starts_with("/staff/") {
            Self::Staff
        } else {
            Self::Home
        }
    }

    /// The way back, as [`way_back`] writes it for the request's path.
    fn to(&self, lang: Lang) -> String {
        match self {
            Self::Procedure(path_and_query) => way_back(path_and_query.path(), lang),
            Self::Staff => way_back("/staff", lang),
            Self::Home => way_back("/", lang),
        }
    }
}

/// Which answer a path's errors get.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RouteKind {
    /// `/api/…`: JSON problems.
    Api,
    /// Operator routes scraped by machines (`/metrics`): left as they are.
    Operations,
    /// Everything else: pages.
    Page,
}

impl RouteKind {
    fn of(path: &str) -> Self {
        if path.starts_with("/api/") {
            Self::Api
        } else if path == "/metrics" {
            Self::Operations
        } else {
            Self::Page
        }
    }
}

fn is_html_or_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            // Compared without case, in place (no lowercased copy).
            let v = v.as_bytes();
            let starts_with = |prefix: &[u8]| {
                v.get(..prefix.len())
                    .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
            };
            starts_with(b"text/html")
                || starts_with(b"application/json")
                || v.windows(5).any(|w| w.eq_ignore_ascii_case(b"+json"))
        })
}

/// Where to go on from an error on `path`: the procedure the form belonged to, the staff home
/// for staff pages, else the home page.
fn way_back(path: &str, lang: Lang) -> String {
    let lang = lang.code();
    if let Some(rest) = path.strip_prefix("/procedures/")
        && let Some(code) = rest.split('/').next()
        && !code.is_empty()
        && code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    {
        return format!("/procedures/{code}?lang={lang}");
    }
    if path == "/staff" || path.starts_with("/staff/") {
        return format!("/staff?lang={lang}");
    }
    format!("/?lang={lang}")
}

/// The new response's body and content type, with the original's status and other headers.
fn keep_headers(original: Response, replacement: Response) -> Response {
    let (mut parts, _) = original.into_parts();
    let (new_parts, body) = replacement.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    for name in new_parts.headers.keys() {
        parts.headers.remove(name);
    }
    for (name, value) in &new_parts.headers {
        parts.headers.append(name, value.clone());
    }
    Response::from_parts(parts, body)
}

fn api_error(status: StatusCode) -> Response {
    let (code, message) = match status {
        StatusCode::BAD_REQUEST => (
            "bad_request",
            "the request could not be read: check the query parameters (each at most once)",
        ),
        StatusCode::FORBIDDEN => ("forbidden", "this request is not allowed"),
        StatusCode::NOT_FOUND => ("not_found", "no such route"),
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            "this route does not accept this method; see the Allow header",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "the request body is too large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "unsupported_media_type",
            "the request body has a content type this route does not accept",
        ),
        StatusCode::UNPROCESSABLE_ENTITY => ("invalid_body", "the request body could not be read"),
        status if status.is_server_error() => ("internal_error", "the server hit an error"),
        _ => ("bad_request", "the request could not be served"),
    };
    json_error(status, code, message)
}

/// The vi/en page for an error `status`, with a link to `back`.
pub(crate) fn error_page(status: StatusCode, lang: Lang, back: &str) -> Response {
    let (title, text) = match status {
        StatusCode::FORBIDDEN => {
            return expired_form(lang, back);
        }
        StatusCode::NOT_FOUND => (
            lang.pick("Không tìm thấy", "Not found"),
            lang.pick(
                "Không tìm thấy trang hoặc thủ tục này.",
                "This page or procedure does not exist.",
            ),
        ),
        StatusCode::METHOD_NOT_ALLOWED => (
            lang.pick("Không thực hiện được", "Could not be done"),
            lang.pick(
                "Địa chỉ này không dùng được theo cách vừa gửi. Vui lòng mở lại trang và dùng các nút trên trang.",
                "This address cannot be used the way it was just sent. Please open the page again and use its buttons.",
            ),
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (
            lang.pick("Dữ liệu gửi quá lớn", "Too much data sent"),
            lang.pick(
                "Dữ liệu gửi lên vượt quá giới hạn cho phép. Vui lòng rút gọn nội dung hoặc bớt tệp đính kèm rồi gửi lại.",
                "What was sent is over the allowed size. Please shorten it or attach fewer files and send it again.",
            ),
        ),
        status if status.is_server_error() => (
            lang.pick("Có lỗi xảy ra", "Something went wrong"),
            lang.pick(
                "Hệ thống gặp lỗi. Hồ sơ đã lưu không bị mất. Vui lòng thử lại sau ít phút.",
                "The system hit an error. Nothing you saved was lost. Please try again in a few minutes.",
            ),
        ),
        _ => (
            lang.pick("Yêu cầu không hợp lệ", "The request could not be read"),
            lang.pick(
                "Địa chỉ hoặc biểu mẫu vừa gửi không đọc được (có thể do đường dẫn bị sửa hoặc biểu mẫu bị cắt). Vui lòng mở lại trang và thử lại.",
                "The address or form just sent could not be read (the link may have been changed or the form cut short). Please open the page again and try again.",
            ),
        ),
    };
    let page = Page::new(lang, title).push(notice(
        NoticeKind::Error,
        text,
        link_button(
            ButtonKind::Primary,
            back,
            lang.pick("Mở lại trang", "Open the page again"),
        ),
    ));
    (status, page).into_response()
}

/// `403` for a form whose CSRF token does not match the session (it was opened before the
/// session changed, or it was forged): nothing was done; reload and send it again.
pub(crate) fn expired_form(lang: Lang, back: &str) -> Response {
    let page = Page::new(lang, lang.pick("Biểu mẫu đã hết hạn", "The form has expired")).push(notice(
        NoticeKind::Warning,
        lang.pick(
            "Biểu mẫu này đã hết hạn (có thể do bạn đã đăng nhập lại hoặc mở trang quá lâu). Chưa có gì được gửi. Vui lòng mở lại trang và gửi lại.",
            "This form has expired (you may have signed in again or kept the page open too long). Nothing was sent. Please open the page again and send it again.",
        ),
        link_button(
            ButtonKind::Primary,
            back,
            lang.pick("Mở lại trang", "Open the page again"),
        ),
    ));
    (StatusCode::FORBIDDEN, page).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_way_back_leads_to_the_procedure_or_home() {
        assert_eq!(
            way_back("/procedures/1.001193/submit", Lang::En),
            "/procedures/1.001193?lang=en"
        );
        assert_eq!(way_back("/staff/tickets/X", Lang::Vi), "/staff?lang=vi");
        assert_eq!(way_back("/procedures/<x>/draft", Lang::Vi), "/?lang=vi");
        assert_eq!(way_back("/login", Lang::Vi), "/?lang=vi");
    }
}
