//! The simulator's HTML pages: the persona chooser and the error page.
//!
//! Plain, accessible HTML: one form, a fieldset with a legend, one labelled radio button per
//! persona, no scripts. Vietnamese first, English second (marked with `lang="en"`).

use std::fmt::Write as _;

use super::persona::Persona;

/// Escapes text for HTML element content and double-quoted attribute values.
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

fn page(title_vi: &str, title_en: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"vi\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title_vi} / {title_en} — wardgate devidp</title>\n\
         <style>body{{font-family:system-ui,sans-serif;max-width:42rem;margin:2rem auto;\
         padding:0 1rem;line-height:1.5}}label{{display:block;padding:.5rem 0}}\
         .en{{color:#444}}button{{font-size:1rem;padding:.5rem 1.5rem}}</style>\n</head>\n\
         <body>\n<main>\n<p><strong>Môi trường thử nghiệm — không phải cổng định danh thật.</strong> \
         <span lang=\"en\" class=\"en\">Test environment — not a real identity provider.</span></p>\n\
         <h1>{title_vi} <span lang=\"en\" class=\"en\">/ {title_en}</span></h1>\n{body}</main>\n\
         </body>\n</html>\n",
        title_vi = escape(title_vi),
        title_en = escape(title_en),
    )
}

/// What the chooser page shows about the request, so developers can see what their portal sent.
pub(super) struct RequestSummary<'a> {
    pub(super) client_id: &'a str,
    pub(super) acr_values: &'a [String],
    pub(super) acr_essential: bool,
}

/// The persona chooser for interaction `id`.
pub(super) fn chooser(id: &str, summary: &RequestSummary<'_>, personas: &[Persona]) -> String {
    let mut body = String::new();
    let requested = if summary.acr_values.is_empty() {
        "(không có / none)".to_owned()
    } else {
        summary.acr_values.join(" ")
    };
    let essential = if summary.acr_essential {
        " — bắt buộc <span lang=\"en\" class=\"en\">(essential)</span>"
    } else {
        ""
    };
    let _ = write!(
        body,
        "<p>Ứng dụng <code>{client}</code> yêu cầu đăng nhập. \
         <span lang=\"en\" class=\"en\">Application <code>{client}</code> asks you to sign in.</span></p>\n\
         <p>Mức xác thực yêu cầu <span lang=\"en\" class=\"en\">(requested acr)</span>: \
         <code>{requested}</code>{essential}</p>\n\
         <form method=\"post\" action=\"/interaction/{id}\">\n<fieldset>\n\
         <legend>Chọn tình huống đăng nhập <span lang=\"en\" class=\"en\">/ Choose a persona</span></legend>\n",
        client = escape(summary.client_id),
        requested = escape(&requested),
        id = escape(id),
    );
    for (index, persona) in personas.iter().enumerate() {
        let checked = if index == 0 { " checked" } else { "" };
        let _ = writeln!(
            body,
            "<label><input type=\"radio\" name=\"persona\" value=\"{value}\"{checked}> \
             {vi} <span lang=\"en\" class=\"en\">— {en}</span> <code>{value}</code></label>",
            value = escape(&persona.id),
            vi = escape(&persona.label_vi),
            en = escape(&persona.label_en),
        );
    }
    body.push_str(
        "</fieldset>\n<p><button type=\"submit\">Tiếp tục <span lang=\"en\">/ Continue</span>\
         </button></p>\n</form>\n",
    );
    page("Đăng nhập", "Sign in", &body)
}

/// An error page for a request that cannot be sent back to the client.
pub(super) fn error_page(error: &str, description: &str) -> String {
    let body = format!(
        "<p>Không thể tiếp tục đăng nhập vì yêu cầu không hợp lệ. \
         <span lang=\"en\" class=\"en\">The sign-in cannot continue because the request is \
         invalid.</span></p>\n<p><code>{error}</code>: <span lang=\"en\">{description}</span></p>\n",
        error = escape(error),
        description = escape(description),
    );
    page("Lỗi", "Error", &body)
}

/// The page after an end-session request without a way back.
pub(super) fn signed_out_page() -> String {
    page(
        "Đã đăng xuất",
        "Signed out",
        "<p>Bạn đã đăng xuất khỏi hệ thống định danh thử nghiệm. \
         <span lang=\"en\" class=\"en\">You are signed out of the test identity provider.</span></p>\n",
    )
}
