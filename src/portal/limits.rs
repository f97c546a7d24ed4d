//! Limits on what a request may carry: headers, bodies, form fields, JSON nesting, attachments.
//!
//! Rules this module enforces:
//!
//! 1. Headers: at most [`RequestLimits::max_headers`] of them and
//!    [`RequestLimits::max_header_bytes`] in all (names and values), else
//!    `431 Request Header Fields Too Large`.
//! 2. Bodies: [`MAX_BODY_BYTES`](super::MAX_BODY_BYTES) everywhere, except the two submission
//!    routes, which accept attachments and take [`RequestLimits::upload_body_bytes`]; beyond
//!    that, `413 Payload Too Large` before the rest of the body is read.
//! 3. Forms and dossiers: at most [`RequestLimits::max_fields`] fields of at most
//!    [`RequestLimits::max_field_bytes`] each (413 naming the field), JSON nested at most
//!    [`RequestLimits::max_json_depth`] deep (400).
//! 4. Attachments: by number, per file and in total ([`AttachmentLimits`]), 413; by type, 415.
//! 5. Uploads at once: the submission routes read at most [`MAX_CONCURRENT_UPLOADS`] bodies
//!    at a time per instance; one more is answered `503` with `Retry-After` at once, never
//!    queued (a queue of slow uploads would hold memory and connections).
//!
//! Every refusal is a fixed code and message: JSON (`{"error", "message"}`) on `/api/…`, a page
//! elsewhere. Nothing is stored for a refused request.

use std::pin::Pin;

use axum::body::{Body, HttpBody as _};
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::api::json_error;
use super::html::{NoticeKind, Page, notice};
use crate::i18n::Lang;
use crate::submission::AttachmentLimits;

/// Limits on requests; set with [`GatewayBuilder::with_limits`](super::GatewayBuilder::with_limits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestLimits {
    /// Most request headers.
    pub max_headers: usize,
    /// Most bytes of header names and values together.
    pub max_header_bytes: usize,
    /// Most fields in a form or a JSON dossier (attachments not counted).
    pub max_fields: usize,
    /// Longest field value, in bytes.
    pub max_field_bytes: usize,
    /// Deepest nesting of arrays and objects in a JSON body.
    pub max_json_depth: usize,
    /// Attachments per dossier.
    pub attachments: AttachmentLimits,
}

impl RequestLimits {
    /// 100 headers (hyper's own cap), 32 KiB of headers (a session cookie is under 4 KiB),
    /// 64 fields of up to 8 KiB, JSON 8 deep, [`AttachmentLimits::DEFAULT`].
    pub const DEFAULT: Self = Self {
        max_headers: 100,
        max_header_bytes: 32 * 1024,
        max_fields: 64,
        max_field_bytes: 8 * 1024,
        max_json_depth: 8,
        attachments: AttachmentLimits::DEFAULT,
    };

    /// The body limit of the submission routes: the attachments in base64 plus room for the
    /// fields and the multipart or JSON framing.
    pub fn upload_body_bytes(&self) -> usize {
        self.attachments
            .max_total_bytes
            .saturating_mul(4)
            .div_ceil(3)
            .saturating_add(super::MAX_BODY_BYTES)
    }
}

impl Default for RequestLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A request refused by a limit, with its fixed status, code and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    /// The message of the JSON body (English, fixed).
    pub(crate) message: String,
    /// The same for a resident reading Vietnamese.
    pub(crate) message_vi: String,
    /// The form field concerned, if one is.
    pub(crate) field: Option<String>,
}

impl Refusal {
    pub(crate) fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
        message_vi: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            message_vi: message_vi.into(),
            field: None,
        }
    }

    pub(crate) fn body_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the request body is larger than {limit} bytes"),
            format!("Dữ liệu gửi lên lớn hơn {limit} byte."),
        )
    }

    pub(crate) fn too_many_fields(max: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_fields",
            format!("the form has more than {max} fields"),
            format!("Tờ khai có nhiều hơn {max} mục."),
        )
    }

    pub(crate) fn field_too_large(field: &str, max: usize) -> Self {
        let field: String = field.chars().take(64).collect();
        let mut refusal = Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "field_too_large",
            format!("field `{field}`: is longer than {max} bytes"),
            format!("Mục `{field}` dài hơn {max} byte."),
        );
        refusal.field = Some(field);
        refusal
    }

    /// The message in `lang`.
    pub(crate) fn text(&self, lang: Lang) -> &str {
        lang.pick(&self.message_vi, &self.message)
    }

    /// The JSON answer (`{"error", "message"}`).
    pub(crate) fn json(&self) -> Response {
        json_error(self.status, self.code, &self.message)
    }

    /// A page naming the problem (the message is English; the heading is bilingual).
    pub(crate) fn page(&self, lang: Lang) -> Response {
        let page = Page::new(
            lang,
            lang.pick("Yêu cầu không được chấp nhận", "The request was refused"),
        )
        .push(notice(
            NoticeKind::Error,
            lang.pick("Yêu cầu không được chấp nhận", "The request was refused"),
            self.text(lang),
        ));
        (self.status, page).into_response()
    }

    /// JSON on `/api/…`, a page elsewhere.
    pub(crate) fn respond(&self, path: &str, lang: Lang) -> Response {
        if path.starts_with("/api/") {
            self.json()
        } else {
            self.page(lang)
        }
    }
}

/// How many submission bodies (up to [`RequestLimits::upload_body_bytes`] each) one instance
/// reads at the same time.
pub const MAX_CONCURRENT_UPLOADS: usize = 32;

/// The permits of the submission routes, shared by both; see [`upload_concurrency_middleware`].
#[derive(Clone, Debug)]
pub struct UploadPermits(std::sync::Arc<tokio::sync::Semaphore>);

impl UploadPermits {
    /// `permits` uploads at a time (at least one).
    pub fn new(permits: usize) -> Self {
        Self(std::sync::Arc::new(tokio::sync::Semaphore::new(
            permits.max(1),
        )))
    }
}

impl Default for UploadPermits {
    fn default() -> Self {
        Self::new(MAX_CONCURRENT_UPLOADS)
    }
}

/// The middleware of the submission routes: holds a permit while the request is handled, its
/// body read included; without a free permit, `503` with `Retry-After: 10`.
pub async fn upload_concurrency_middleware(
    axum::extract::State(permits): axum::extract::State<UploadPermits>,
    request: Request,
    next: Next,
) -> Response {
    let Ok(_permit) = std::sync::Arc::clone(&permits.0).try_acquire_owned() else {
        let refusal = Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "uploads_busy",
            "too many dossiers are being uploaded right now; please try again in a few seconds",
            "Hệ thống đang nhận quá nhiều hồ sơ cùng lúc; vui lòng thử lại sau ít giây.",
        );
        let mut response = refusal.respond(
            request.uri().path(),
            Lang::from_query(request.uri().query()),
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("10"));
        return response;
    };
    next.run(request).await
}

/// Checks the number and size of the request headers.
pub(crate) fn check_headers(headers: &HeaderMap, limits: &RequestLimits) -> Result<(), Refusal> {
    let count = headers.len();
    let bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if count > limits.max_headers || bytes > limits.max_header_bytes {
        return Err(Refusal::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!(
                "the request has more than {} headers or {} bytes of headers",
                limits.max_headers, limits.max_header_bytes
            ),
            format!(
                "Yêu cầu có hơn {} tiêu đề hoặc hơn {} byte tiêu đề.",
                limits.max_headers, limits.max_header_bytes
            ),
        ));
    }
    Ok(())
}

/// The middleware refusing requests whose headers are too many or too large.
pub async fn header_limit_middleware(
    axum::extract::State(limits): axum::extract::State<RequestLimits>,
    request: Request,
    next: Next,
) -> Response {
    match refuse_headers(&request, &limits) {
        None => next.run(request).await,
        Some(refusal) => refusal,
    }
}

/// The answer to a request whose headers are too many or too large; `None` for any other.
pub(crate) fn refuse_headers<B>(
    request: &http::Request<B>,
    limits: &RequestLimits,
) -> Option<Response> {
    let refusal = check_headers(request.headers(), limits).err()?;
    Some(refusal.respond(
        request.uri().path(),
        Lang::from_query(request.uri().query()),
    ))
}

/// Reads a body of at most `limit` bytes; a larger `Content-Length` is refused before reading.
pub(crate) async fn read_body(
    headers: &HeaderMap,
    mut body: Body,
    limit: usize,
) -> Result<Vec<u8>, Refusal> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(Refusal::body_too_large(limit));
    }
    let mut out = Vec::with_capacity(declared.map_or(0, |len| len as usize));
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let frame = frame.map_err(|_| {
            Refusal::new(
                StatusCode::BAD_REQUEST,
                "body_unreadable",
                "the request body could not be read",
                "Không đọc được dữ liệu gửi lên.",
            )
        })?;
        if let Ok(data) = frame.into_data() {
            if out.len().saturating_add(data.len()) > limit {
                return Err(Refusal::body_too_large(limit));
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(out)
}

/// Parses an `application/x-www-form-urlencoded` body within the field limits. Returns the
/// fields read and the first limit broken: a value too long is left out and reading goes on
/// (so the rest of what the resident typed is kept); past the field count, reading stops.
pub(crate) fn parse_form(
    body: &[u8],
    limits: &RequestLimits,
) -> (Vec<(String, String)>, Option<Refusal>) {
    let mut out = Vec::new();
    let mut refusal = None;
    for (count, (name, value)) in url::form_urlencoded::parse(body).enumerate() {
        if count == limits.max_fields {
            return (out, Some(Refusal::too_many_fields(limits.max_fields)));
        }
        if value.len() > limits.max_field_bytes {
            refusal.get_or_insert_with(|| Refusal::field_too_large(&name, limits.max_field_bytes));
            continue;
        }
        out.push((name.into_owned(), value.into_owned()));
    }
    (out, refusal)
}

/// The deepest nesting of arrays and objects in a JSON text (strings skipped), stopping early
/// once `max` is passed.
pub(crate) fn json_depth_exceeds(text: &[u8], max: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in text {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// Checks the members of a JSON dossier against the field limits (count, and length of string
/// values).
pub(crate) fn check_json_fields(
    dossier: &serde_json::Map<String, serde_json::Value>,
    limits: &RequestLimits,
) -> Result<(), Refusal> {
    if dossier.len() > limits.max_fields {
        return Err(Refusal::too_many_fields(limits.max_fields));
    }
    for (name, value) in dossier {
        let len = match value {
            serde_json::Value::String(s) => s.len(),
            other => other.to_string().len(),
        };
        if len > limits.max_field_bytes {
            return Err(Refusal::field_too_large(name, limits.max_field_bytes));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
