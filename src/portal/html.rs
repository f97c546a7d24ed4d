//! The shell of server-rendered pages: escaping, the page layout, common fragments, the
//! stylesheet.
//!
//! Rules this module enforces:
//!
//! 1. Markup is escaped by construction: a [`Markup`] is made from escaped text
//!    ([`Markup::text`]), from a `'static` literal written in the code
//!    ([`Markup::from_static`]), from the helpers here, or through the one named escape hatch
//!    [`Markup::preescaped`]. Every helper escapes every string it is given.
//! 2. Pages are Vietnamese by default, with an English switch that keeps the current path and
//!    query and sets `?lang=en|vi`. The `<html lang>` attribute always matches the text.
//! 3. Pages are usable without JavaScript and accessible: a skip link, `header`/`main`/`footer`
//!    landmarks, one `h1` per page (fragments start at `h2`), labels bound to every field,
//!    hints and errors tied to fields with `aria-describedby`, notices with `role="status"` or
//!    `role="alert"`, visible focus styles, text contrast of at least 4.5:1 and tap targets of at
//!    least 44 px.
//! 4. No inline styles or scripts (the Content Security Policy forbids them): the stylesheet is
//!    served from [`STYLESHEET_PATH`] by [`stylesheet`]; it is mobile first and its print rules
//!    hide navigation and buttons, so receipts and tickets print cleanly.
//!
//! # Example
//!
//! ```
//! use wardgate::portal::html::{Lang, Markup, NoticeKind, Page, notice};
//!
//! let page = Page::new(Lang::Vi, "Đăng ký khai sinh")
//!     .ward_name("Phường Thới Sơn")
//!     .current("/login", Some("procedure=1.001193"))
//!     .push(notice(NoticeKind::Info, "Cần đăng nhập", Markup::text("Vui lòng đăng nhập bằng VNeID.")));
//! let html = page.render();
//! assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"vi\">"));
//! assert!(html.contains("href=\"/login?procedure=1.001193&amp;lang=en\""));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt::{self, Write as _};

use axum::response::{IntoResponse, Response};
use http::HeaderValue;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};

/// Where the stylesheet is served.
pub const STYLESHEET_PATH: &str = "/assets/style.css";

/// The stylesheet of every page.
pub const STYLESHEET: &str = include_str!("style.css");

/// The name of the hidden CSRF field in forms.
pub const CSRF_FIELD: &str = "csrf_token";

/// The stylesheet response for `GET /assets/style.css`, cacheable for a day.
///
/// ```
/// use axum::{Router, routing::get};
/// use wardgate::portal::html::{STYLESHEET_PATH, stylesheet};
///
/// let router: Router = Router::new().route(STYLESHEET_PATH, get(stylesheet));
/// # let _ = router;
/// ```
pub async fn stylesheet() -> Response {
    (
        [
            (
                CONTENT_TYPE,
                HeaderValue::from_static("text/css; charset=utf-8"),
            ),
            (
                CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=86400"),
            ),
        ],
        STYLESHEET,
    )
        .into_response()
}

/// Escapes `text` for HTML text and double- or single-quoted attribute values.
///
/// ```
/// use wardgate::portal::html::escape;
///
/// assert_eq!(escape(r#"<a href="x">Tom & 'Jerry'</a>"#),
///            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;");
/// ```
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    push_escaped(&mut out, text);
    out
}

/// A piece of HTML that is safe to embed: escaped text, trusted literals and helper output.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Markup(String);

impl Markup {
    /// Empty markup.
    pub fn new() -> Self {
        Self::default()
    }

    /// `text`, escaped.
    pub fn text(text: &str) -> Self {
        Self(escape(text))
    }

    /// A literal written in the code, taken as HTML.
    pub fn from_static(html: &'static str) -> Self {
        Self(html.to_owned())
    }

    /// `html`, taken as HTML without escaping.
    ///
    /// # Security
    ///
    /// The caller guarantees that `html` holds no unescaped input from a request, a provider,
    /// a database or a file; use [`Markup::text`] or [`escape`] for every such piece.
    pub fn preescaped(html: String) -> Self {
        Self(html)
    }

    /// Appends `other`.
    pub fn push(&mut self, other: &Self) {
        self.0.push_str(&other.0);
    }

    /// Appends `text`, escaped.
    pub fn push_text(&mut self, text: &str) {
        push_escaped(&mut self.0, text);
    }

    /// Appends a literal written in the code.
    pub fn push_static(&mut self, html: &'static str) {
        self.0.push_str(html);
    }

    /// The HTML.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The HTML, as an owned string.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for Markup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromIterator<Markup> for Markup {
    fn from_iter<I: IntoIterator<Item = Markup>>(iter: I) -> Self {
        let mut out = Self::new();
        for item in iter {
            out.push(&item);
        }
        out
    }
}

pub use crate::i18n::Lang;

/// The language's name in itself, for the switch.
fn autonym(lang: Lang) -> &'static str {
    lang.pick("Tiếng Việt", "English")
}

/// A server-rendered page: head, header with the ward name and the language switch, a `main`
/// with the title as its `h1`, and a footer.
#[derive(Clone, Debug)]
#[must_use = "a page does nothing until it is rendered or returned as a response"]
pub struct Page {
    lang: Lang,
    title: String,
    ward_name: Option<String>,
    path: String,
    query: Option<String>,
    body: Markup,
    footer: Option<Markup>,
}

impl Page {
    /// A page in `lang` titled `title` (the `<title>` and the `h1`).
    pub fn new(lang: Lang, title: impl Into<String>) -> Self {
        Self {
            lang,
            title: title.into(),
            ward_name: None,
            path: "/".to_owned(),
            query: None,
            // Room for a typical page's content, so pushing fragments does not regrow it.
            body: Markup(String::with_capacity(4096)),
            footer: None,
        }
    }

    /// The ward's name, shown in the header and the `<title>`.
    pub fn ward_name(mut self, name: impl Into<String>) -> Self {
        self.ward_name = Some(name.into());
        self
    }

    /// The request's path and query, kept by the language switch. A path that is not a local
    /// absolute path (`/…`, not `//…`) is replaced by `/`.
    pub fn current(mut self, path: &str, query: Option<&str>) -> Self {
        let local = path.starts_with('/') && !path.starts_with("//") && !path.contains('\\');
        self.path = if local { path } else { "/" }.to_owned();
        self.query = query.map(str::to_owned);
        self
    }

    /// Appends a fragment to the main content.
    pub fn push(mut self, fragment: Markup) -> Self {
        self.body.push(&fragment);
        self
    }

    /// Replaces the default footer text.
    pub fn footer(mut self, footer: Markup) -> Self {
        self.footer = Some(footer);
        self
    }

    /// The language of the page.
    pub fn lang(&self) -> Lang {
        self.lang
    }

    /// The link of the language switch: the current path and query with `lang` set to the
    /// other language.
    pub fn switch_href(&self) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        if let Some(current) = &self.query {
            for (key, value) in url::form_urlencoded::parse(current.as_bytes()) {
                if key != "lang" {
                    query.append_pair(&key, &value);
                }
            }
        }
        query.append_pair("lang", self.lang.other().code());
        format!("{}?{}", self.path, query.finish())
    }

    /// The complete HTML document.
    pub fn render(&self) -> String {
        let lang = self.lang;
        let site = lang.pick("Dịch vụ công trực tuyến", "Online public services");
        let ward = self.ward_name.as_deref().unwrap_or(site);
        let other = lang.other();
        let mut html = String::with_capacity(2048 + self.body.as_str().len());
        let _ = write!(
            html,
            "<!DOCTYPE html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>{title} – {ward}</title>\n\
             <link rel=\"stylesheet\" href=\"{STYLESHEET_PATH}\">\n</head>\n<body>\n\
             <a class=\"skip-link\" href=\"#main\">{skip}</a>\n\
             <header class=\"site-header\">\n<div class=\"wrap\">\n\
             <p class=\"site-name\"><a href=\"/\">{ward}</a></p>\n\
             <p class=\"site-tagline\">{site}</p>\n\
             <nav class=\"lang-switch\" aria-label=\"{language}\">\
             <a href=\"{switch}\" lang=\"{other}\" hreflang=\"{other}\">{autonym}</a></nav>\n\
             </div>\n</header>\n\
             <main id=\"main\" class=\"wrap\" tabindex=\"-1\">\n<h1>{title}</h1>\n",
            lang = lang.code(),
            title = escape(&self.title),
            ward = escape(ward),
            site = escape(site),
            skip = lang.pick("Chuyển đến nội dung chính", "Skip to main content"),
            language = lang.pick("Ngôn ngữ", "Language"),
            switch = escape(&self.switch_href()),
            other = other.code(),
            autonym = autonym(other),
        );
        html.push_str(self.body.as_str());
        html.push_str("</main>\n<footer class=\"site-footer\">\n<div class=\"wrap\">\n");
        match &self.footer {
            Some(footer) => html.push_str(footer.as_str()),
            None => {
                let _ = write!(
                    html,
                    "<p>{}</p>",
                    lang.pick(
                        "Không nộp được trực tuyến? Bạn luôn có thể nộp hồ sơ trực tiếp tại \
                         Trung tâm Phục vụ hành chính công của phường.",
                        "Cannot apply online? You can always submit your dossier in person at \
                         the ward's Public Administrative Service Center.",
                    )
                );
            }
        }
        html.push_str("\n</div>\n</footer>\n</body>\n</html>\n");
        html
    }
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        axum::response::Html(self.render()).into_response()
    }
}

/// The kind of a [`notice`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NoticeKind {
    /// Something went wrong; announced at once (`role="alert"`).
    Error,
    /// Information (`role="status"`).
    Info,
    /// Something succeeded (`role="status"`).
    Success,
    /// Something needs attention; announced at once (`role="alert"`).
    Warning,
}

impl NoticeKind {
    fn class(self) -> &'static str {
        match self {
            Self::Error => "notice notice-error",
            Self::Info => "notice notice-info",
            Self::Success => "notice notice-success",
            Self::Warning => "notice notice-warning",
        }
    }

    fn role(self) -> &'static str {
        match self {
            Self::Error | Self::Warning => "alert",
            Self::Info | Self::Success => "status",
        }
    }
}

/// A notice box with an `h2` heading and `body`.
pub fn notice(kind: NoticeKind, heading: &str, body: Markup) -> Markup {
    Markup(format!(
        "<div class=\"{}\" role=\"{}\">\n<h2>{}</h2>\n{body}\n</div>\n",
        kind.class(),
        kind.role(),
        escape(heading),
    ))
}

/// A definition list of terms and their descriptions (receipts, referrals, tickets).
pub fn definition_list(items: &[(&str, Markup)]) -> Markup {
    let mut out = String::from("<dl class=\"details\">\n");
    for (term, description) in items {
        let _ = writeln!(out, "<dt>{}</dt><dd>{description}</dd>", escape(term));
    }
    out.push_str("</dl>\n");
    Markup(out)
}

/// The method of a [`form`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FormMethod {
    /// `GET`: no CSRF field is needed.
    Get,
    /// `POST`: pass the session's CSRF token.
    Post,
}

/// A form posting to `action` (a same-origin path) with `content`, carrying `csrf_token` in a
/// hidden [`CSRF_FIELD`] when given.
pub fn form(method: FormMethod, action: &str, csrf_token: Option<&str>, content: Markup) -> Markup {
    form_tag(method, action, None, csrf_token, content)
}

/// A `POST` form sent as `multipart/form-data` (it can carry files), otherwise as [`form`].
pub fn upload_form(action: &str, csrf_token: Option<&str>, content: Markup) -> Markup {
    form_tag(
        FormMethod::Post,
        action,
        Some("multipart/form-data"),
        csrf_token,
        content,
    )
}

fn form_tag(
    method: FormMethod,
    action: &str,
    enctype: Option<&str>,
    csrf_token: Option<&str>,
    content: Markup,
) -> Markup {
    let method = match method {
        FormMethod::Get => "get",
        FormMethod::Post => "post",
    };
    let enctype = enctype
        .map(|e| format!(" enctype=\"{}\"", escape(e)))
        .unwrap_or_default();
    let mut out = format!(
        "<form method=\"{method}\" action=\"{}\"{enctype} novalidate>\n",
        escape(action)
    );
    if let Some(token) = csrf_token {
        let _ = writeln!(
            out,
            "<input type=\"hidden\" name=\"{CSRF_FIELD}\" value=\"{}\">",
            escape(token)
        );
    }
    out.push_str(content.as_str());
    out.push_str("</form>\n");
    Markup(out)
}

/// The look of a button.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ButtonKind {
    /// The main action of a page.
    Primary,
    /// Another action.
    Secondary,
}

impl ButtonKind {
    fn class(self) -> &'static str {
        match self {
            Self::Primary => "button",
            Self::Secondary => "button button-secondary",
        }
    }
}

/// A submit button.
pub fn button(kind: ButtonKind, label: &str) -> Markup {
    Markup(format!(
        "<button type=\"submit\" class=\"{}\">{}</button>\n",
        kind.class(),
        escape(label)
    ))
}

/// A link styled as a button (for `GET` actions such as "sign in").
pub fn link_button(kind: ButtonKind, href: &str, label: &str) -> Markup {
    Markup(format!(
        "<a class=\"{}\" href=\"{}\">{}</a>\n",
        kind.class(),
        escape(href),
        escape(label)
    ))
}

/// A labelled input field with an optional hint and error message.
#[derive(Clone, Debug)]
#[must_use = "a field does nothing until it is rendered"]
pub struct TextField {
    name: String,
    label: String,
    input_type: &'static str,
    required: bool,
    value: Option<String>,
    hint: Option<String>,
    error: Option<String>,
    autocomplete: Option<&'static str>,
}

impl TextField {
    /// A text input named `name` with the visible `label`.
    pub fn new(name: impl Into<String>, label: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            label: label.into(),
            input_type: "text",
            required: false,
            value: None,
            hint: None,
            error: None,
            autocomplete: None,
        }
    }

    /// The input type: `text`, `date`, `email`, `tel`, `number`…
    pub fn input_type(mut self, input_type: &'static str) -> Self {
        self.input_type = input_type;
        self
    }

    /// Marks the field required (in the label and with `required`/`aria-required`).
    pub fn required(mut self, required: bool) -> Self {
        self.required = required;
        self
    }

    /// The current value (for example after a failed submission).
    pub fn value(mut self, value: impl Into<String>) -> Self {
        self.value = Some(value.into());
        self
    }

    /// A hint shown under the label.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// An error message; marks the field invalid.
    pub fn error(mut self, error: impl Into<String>) -> Self {
        self.error = Some(error.into());
        self
    }

    /// The `autocomplete` token (for example `name`, `tel`, `bday`).
    pub fn autocomplete(mut self, token: &'static str) -> Self {
        self.autocomplete = Some(token);
        self
    }

    /// The field's markup in `lang` (for the "required" marker and the error prefix).
    pub fn render(&self, lang: Lang) -> Markup {
        let id = format!("field-{}", escape(&self.name));
        let mut described_by = Vec::new();
        let mut out = format!(
            "<div class=\"field{}\">\n<label for=\"{id}\">{}",
            if self.error.is_some() {
                " field-invalid"
            } else {
                ""
            },
            escape(&self.label)
        );
        if self.required {
            let _ = write!(
                out,
                " <span class=\"required\">({})</span>",
                lang.pick("bắt buộc", "required")
            );
        }
        out.push_str("</label>\n");
        if let Some(hint) = &self.hint {
            let _ = writeln!(
                out,
                "<p class=\"hint\" id=\"{id}-hint\">{}</p>",
                escape(hint)
            );
            described_by.push(format!("{id}-hint"));
        }
        if let Some(error) = &self.error {
            let _ = writeln!(
                out,
                "<p class=\"field-error\" id=\"{id}-error\"><span class=\"visually-hidden\">{}: \
                 </span>{}</p>",
                lang.pick("Lỗi", "Error"),
                escape(error)
            );
            described_by.push(format!("{id}-error"));
        }
        let _ = write!(
            out,
            "<input id=\"{id}\" name=\"{}\" type=\"{}\"",
            escape(&self.name),
            escape(self.input_type)
        );
        if let Some(value) = &self.value {
            let _ = write!(out, " value=\"{}\"", escape(value));
        }
        if self.required {
            out.push_str(" required aria-required=\"true\"");
        }
        if self.error.is_some() {
            out.push_str(" aria-invalid=\"true\"");
        }
        if !described_by.is_empty() {
            let _ = write!(out, " aria-describedby=\"{}\"", described_by.join(" "));
        }
        if let Some(token) = self.autocomplete {
            let _ = write!(out, " autocomplete=\"{}\"", escape(token));
        }
        out.push_str(">\n</div>\n");
        Markup(out)
    }
}

/// Copies `text` in runs between the characters to escape (all ASCII, so every run ends on a
/// character boundary); pushing char by char was the top cost of rendering a page.
fn push_escaped(out: &mut String, text: &str) {
    let mut run_start = 0;
    for (index, byte) in text.bytes().enumerate() {
        let entity = match byte {
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'&' => "&amp;",
            b'"' => "&quot;",
            b'\'' => "&#39;",
            _ => continue,
        };
        out.push_str(text.get(run_start..index).unwrap_or_default());
        out.push_str(entity);
        run_start = index + 1;
    }
    out.push_str(text.get(run_start..).unwrap_or_default());
}

#[cfg(test)]
mod tests;
