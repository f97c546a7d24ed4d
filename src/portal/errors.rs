//! The errors a resident or officer can reach, answered in their language with a way forward.
//!
//! Handlers answer their own errors with pages ([`Page`]) or JSON problem details
//! ([`json_error`]). What reaches the client otherwise is axum's: an extractor rejection (a
//! missing or duplicated query parameter, a malformed form, a form posted with another content
//! type, a body over the limit) in plain English text, or a bare `405`. One layer,
//! [`error_pages_middleware`], catches those on the way out, keyed on the route kind:
//!
//! - under `/api/`: a JSON problem (`{"error", "message"}`) with the same status;
//! - elsewhere: a vi/en page with the same status and a link to go on from.
//!
//! A response is rewritten only when it is an error (4xx or 5xx) that is neither HTML nor
//! JSON: the gateway's own pages and problems pass untouched, and so do the headers the original
//! answer carried (`Allow`, `Retry-After`, `WWW-Authenticate`). The rejection's own text is
//! never shown: it may quote what the client sent.

use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::api::json_error;
use super::html::{ButtonKind, NoticeKind, Page, link_button, notice};
use crate::i18n::Lang;

/// Rewrites axum's plain-text and empty error answers (see the module documentation).
pub(crate) async fn error_pages_middleware(request: Request, next: Next) -> Response {
    let route = RouteKind::of(request.uri().path());
    let lang = Lang::from_query(request.uri().query());
    let back = way_back(request.uri().path(), lang);
    let head = request.method() == Method::HEAD;
    let response = next.run(request).await;
    let status = response.status();
    if route == RouteKind::Operations
        || head
        || !(status.is_client_error() || status.is_server_error())
        || is_html_or_json(response.headers())
    {
        return response;
    }
    let replacement = match route {
        RouteKind::Api => api_error(status),
        _ => error_page(status, lang, &back),
    };
    keep_headers(response, replacement)
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
            let v = v.to_ascii_lowercase();
            v.starts_with("text/html") || v.starts_with("application/json") || v.contains("+json")
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
