//! The pages gateway mode answers with instead of the upstream's, in Vietnamese and English.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::i18n::Lang;
use crate::portal::api::json_error;
use crate::portal::html::{ButtonKind, NoticeKind, Page, html, link_button, notice};

/// Why the gateway answers for the upstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Refusal {
    /// No gate rule covers the path (fail closed).
    NoRule,
    /// The request body is larger than the upstream's limit.
    TooLarge,
    /// The upstream could not be reached or broke off.
    Unreachable,
    /// The upstream did not answer in time.
    Timeout,
    /// The resident's upload stalled (the body's idle or total timeout) before the upstream
    /// answered.
    SlowUpload,
}

impl Refusal {
    fn status(self) -> StatusCode {
        match self {
            Self::NoRule => StatusCode::FORBIDDEN,
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unreachable => StatusCode::BAD_GATEWAY,
            Self::Timeout => StatusCode::GATEWAY_TIMEOUT,
            Self::SlowUpload => StatusCode::REQUEST_TIMEOUT,
        }
    }

    fn code(self) -> &'static str {
        match self {
            Self::NoRule => "no_gate_rule",
            Self::TooLarge => "payload_too_large",
            Self::Unreachable => "upstream_unreachable",
            Self::Timeout => "upstream_timeout",
            Self::SlowUpload => "upload_timeout",
        }
    }

    fn title(self, lang: Lang) -> &'static str {
        match self {
            Self::NoRule => lang.pick("Trang này không mở", "This page is not open"),
            Self::TooLarge => lang.pick("Tệp gửi lên quá lớn", "The upload is too large"),
            Self::SlowUpload => lang.pick("Gửi dữ liệu bị gián đoạn", "The upload stalled"),
            Self::Unreachable | Self::Timeout => lang.pick(
                "Cổng dịch vụ tạm thời không phản hồi",
                "The service portal is not answering",
            ),
        }
    }

    fn text(self, lang: Lang) -> &'static str {
        match self {
            Self::NoRule => lang.pick(
                "Trang này không được mở qua cổng xác thực. Vui lòng quay lại trang chủ.",
                "This page is not open through the sign-in gateway. Please go back to the home page.",
            ),
            Self::TooLarge => lang.pick(
                "Dữ liệu gửi lên vượt quá dung lượng cho phép. Vui lòng gửi tệp nhỏ hơn.",
                "What you sent is larger than allowed. Please send a smaller file.",
            ),
            Self::Unreachable => lang.pick(
                "Không kết nối được tới cổng dịch vụ. Hồ sơ đã lưu không bị mất. Vui lòng thử lại sau ít phút.",
                "The service portal could not be reached. Nothing you saved was lost. Please try again in a few minutes.",
            ),
            Self::Timeout => lang.pick(
                "Cổng dịch vụ không phản hồi kịp thời. Vui lòng thử lại sau ít phút.",
                "The service portal did not answer in time. Please try again in a few minutes.",
            ),
            Self::SlowUpload => lang.pick(
                "Dữ liệu gửi lên bị ngắt quãng quá lâu. Vui lòng kiểm tra kết nối mạng rồi gửi lại.",
                "What you sent stopped arriving for too long. Please check your connection and send it again.",
            ),
        }
    }

    fn english(self) -> &'static str {
        self.text(Lang::En)
    }

    /// The page, or the JSON problem for a JSON client.
    pub(super) fn response(self, lang: Lang, json: bool) -> Response {
        if json {
            return json_error(self.status(), self.code(), self.english());
        }
        let page = Page::new(lang, self.title(lang)).push(notice(
            NoticeKind::Error,
            self.title(lang),
            html! {
                p { (self.text(lang)) }
                (link_button(ButtonKind::Secondary, "/", lang.pick("Về trang chủ", "Back to the home page")))
            },
        ));
        (self.status(), page).into_response()
    }
}
