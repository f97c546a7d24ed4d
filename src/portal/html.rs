//! The shell of server-rendered pages: the page layout, common components, the stylesheet.
//!
//! Rules this module enforces:
//!
//! 1. Markup is escaped by construction: pages and components are [`maud`] templates
//!    ([`html!`]), which escape every value they interpolate, in text and in attributes.
//!    Components are functions returning [`Markup`]. [`PreEscaped`] wraps only markup the server
//!    makes itself and that holds no input (the ticket's QR code, drawn as SVG), each with a
//!    comment saying why it is safe.
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
//! use wardgate::portal::html::{Lang, NoticeKind, Page, html, notice};
//!
//! let ward = "Phường <Thới Sơn>";
//! let page = Page::new(Lang::Vi, "Đăng ký khai sinh")
//!     .ward_name(ward)
//!     .current("/login", Some("procedure=1.001193"))
//!     .push(notice(NoticeKind::Info, "Cần đăng nhập", html! { "Vui lòng đăng nhập bằng " b { "VNeID" } "." }));
//! let html = page.render();
//! assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"vi\">"));
//! assert!(html.contains("href=\"/login?procedure=1.001193&amp;lang=en\""));
//! assert!(html.contains("<a href=\"/\">Phường &lt;Thới Sơn&gt;</a>"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use axum::response::{IntoResponse, Response};
use http::HeaderValue;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
pub use maud::{Markup, PreEscaped, Render, html};

mod escape;
pub use escape::Text;

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

/// Spliced first into a template, reserves room for `.0` more bytes in the template's buffer
/// (a page and its fragments are then copied into it without regrowing). Writes nothing.
pub(crate) struct Reserve(pub(crate) usize);

impl Render for Reserve {
    fn render_to(&self, buffer: &mut String) {
        buffer.reserve(self.0);
    }
}

/// The bytes of the page shell around the main content, rounded up.
const SHELL_BYTES: usize = 2048;

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
    /// The fragments of the main content, in order: copied once, into the page's buffer.
    body: Vec<Markup>,
    footer: Option<Markup>,
    /// The unit's own word in the page's language (`phường`, `xã`…); `phường` unless set.
    unit_word: Option<String>,
    /// Whether the page is built from sample data (a banner says so).
    sample_data: bool,
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
            body: Vec::with_capacity(8),
            footer: None,
            unit_word: None,
            sample_data: false,
        }
    }

    /// The unit's own word in the page's language (`phường` or `xã`; `ward` or `commune`),
    /// used by the default footer.
    pub fn unit_word(mut self, word: impl Into<String>) -> Self {
        self.unit_word = Some(word.into());
        self
    }

    /// Marks the page as built from sample data: a visible banner says so.
    pub fn sample_data(mut self, sample: bool) -> Self {
        self.sample_data = sample;
        self
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
        self.body.push(fragment);
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
        self.document().into_string()
    }

    /// The document as markup, in one buffer sized for the shell and every fragment.
    fn document(&self) -> Markup {
        let lang = self.lang;
        let site = lang.pick("Dịch vụ công trực tuyến", "Online public services");
        let ward = self.ward_name.as_deref().unwrap_or(site);
        let other = lang.other();
        let unit = self
            .unit_word
            .as_deref()
            .unwrap_or_else(|| lang.pick("phường", "ward"));
        let content: usize = self.body.iter().map(|fragment| fragment.0.len()).sum();
        let footer = self.footer.as_ref().map_or(0, |footer| footer.0.len());
        html! {
            (Reserve(SHELL_BYTES + self.title.len() * 2 + ward.len() * 2 + content + footer))
            (maud::DOCTYPE) "\n"
            html lang=(Text(lang.code())) {
                "\n"
                head {
                    "\n" meta charset="utf-8";
                    "\n" meta name="viewport" content="width=device-width, initial-scale=1";
                    "\n" title { (Text(&self.title)) " – " (Text(ward)) }
                    "\n" link rel="stylesheet" href=(Text(STYLESHEET_PATH));
                    "\n"
                }
                "\n"
                body {
                    "\n" a class="skip-link" href="#main" {
                        (Text(lang.pick("Chuyển đến nội dung chính", "Skip to main content")))
                    }
                    "\n" header class="site-header" {
                        "\n" div class="wrap" {
                            "\n" p class="site-name" { a href="/" { (Text(ward)) } }
                            "\n" p class="site-tagline" { (Text(site)) }
                            "\n" nav class="lang-switch" aria-label=(Text(lang.pick("Ngôn ngữ", "Language"))) {
                                a href=(SwitchHref(self)) lang=(Text(other.code())) hreflang=(Text(other.code())) {
                                    (Text(autonym(other)))
                                }
                            }
                            "\n"
                        }
                        "\n"
                    }
                    "\n" main id="main" class="wrap" tabindex="-1" {
                        "\n"
                        @if self.sample_data {
                            p class="sample-banner" {
                                strong { (Text(lang.pick("Dữ liệu mẫu", "Sample data"))) }
                                ": "
                                (Text(lang.pick(
                                    "mã đơn vị, địa chỉ, giờ làm việc và thủ tục trên trang này chưa được đơn vị xác nhận.",
                                    "the unit codes, addresses, hours and procedures on this page are not confirmed by the unit.",
                                )))
                            }
                            "\n"
                        }
                        h1 { (Text(&self.title)) } "\n"
                        (super::assisted::assisted_banner(lang))
                        @for fragment in &self.body { (fragment) }
                    }
                    "\n" footer class="site-footer" {
                        "\n" div class="wrap" {
                            "\n"
                            @match &self.footer {
                                Some(footer) => { (footer) }
                                None => p {
                                    @match lang {
                                        Lang::Vi => {
                                            "Không nộp được trực tuyến? Bạn luôn có thể nộp hồ sơ trực tiếp tại \
                                             Trung tâm Phục vụ hành chính công của " (Text(unit)) "."
                                        }
                                        Lang::En => {
                                            "Cannot apply online? You can always submit your dossier in person at \
                                             the " (Text(unit)) "'s Public Administrative Service Center."
                                        }
                                    }
                                },
                            }
                            "\n"
                        }
                        "\n"
                    }
                    "\n"
                }
                "\n"
            }
            "\n"
        }
    }
}

/// The language switch's link, written straight into the page: without a query to keep it is
/// the path and `?lang=…` (what [`Page::switch_href`] gives then, without building it apart).
struct SwitchHref<'a>(&'a Page);

impl Render for SwitchHref<'_> {
    fn render_to(&self, buffer: &mut String) {
        let page = self.0;
        match page.query.as_deref() {
            None | Some("") => {
                Text(&page.path).render_to(buffer);
                buffer.push_str("?lang=");
                Text(page.lang.other().code()).render_to(buffer);
            }
            Some(_) => Text(&page.switch_href()).render_to(buffer),
        }
    }
}

impl Render for Page {
    fn render(&self) -> Markup {
        self.document()
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

/// A notice box with an `h2` heading and `body` (markup, or text that is escaped).
pub fn notice(kind: NoticeKind, heading: &str, body: impl Render) -> Markup {
    html! {
        div class=(Text(kind.class())) role=(Text(kind.role())) {
            "\n" h2 { (Text(heading)) } "\n" (body) "\n"
        }
        "\n"
    }
}

/// A definition list of terms and their descriptions (receipts, referrals, tickets).
pub fn definition_list(items: &[(&str, Markup)]) -> Markup {
    html! {
        dl class="details" {
            "\n"
            @for (term, description) in items {
                dt { (Text(term)) } dd { (description) } "\n"
            }
        }
        "\n"
    }
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
    form_tag(method, action, None, csrf_token, &[&content])
}

/// A `POST` form sent as `multipart/form-data` (it can carry files), otherwise as [`form`].
pub fn upload_form(action: &str, csrf_token: Option<&str>, content: Markup) -> Markup {
    upload_form_of(action, csrf_token, &[&content])
}

/// A [`form`] around fragments the caller keeps (fragments rendered once, at start-up), copied
/// straight into the form.
pub(crate) fn form_of(
    method: FormMethod,
    action: &str,
    csrf_token: Option<&str>,
    content: &[&Markup],
) -> Markup {
    form_tag(method, action, None, csrf_token, content)
}

/// An [`upload_form`] around fragments the caller keeps, as [`form_of`].
pub(crate) fn upload_form_of(
    action: &str,
    csrf_token: Option<&str>,
    content: &[&Markup],
) -> Markup {
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
    content: &[&Markup],
) -> Markup {
    let method = match method {
        FormMethod::Get => "get",
        FormMethod::Post => "post",
    };
    let content_bytes: usize = content.iter().map(|fragment| fragment.0.len()).sum();
    html! {
        (Reserve(160 + action.len() + content_bytes))
        form method=(Text(method)) action=(Text(action)) enctype=[enctype.map(Text)] novalidate {
            "\n"
            @if let Some(token) = csrf_token {
                input type="hidden" name=(Text(CSRF_FIELD)) value=(Text(token));
                "\n"
            }
            @for fragment in content { (fragment) }
        }
        "\n"
    }
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
    html! {
        button type="submit" class=(Text(kind.class())) { (Text(label)) }
        "\n"
    }
}

/// A link styled as a button (for `GET` actions such as "sign in").
pub fn link_button(kind: ButtonKind, href: &str, label: &str) -> Markup {
    html! {
        a class=(Text(kind.class())) href=(Text(href)) { (Text(label)) }
        "\n"
    }
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
        let id = format!("field-{}", self.name);
        let hint_id = self.hint.as_ref().map(|_| format!("{id}-hint"));
        let error_id = self.error.as_ref().map(|_| format!("{id}-error"));
        let described_by = match (&hint_id, &error_id) {
            (Some(hint), Some(error)) => Some(format!("{hint} {error}")),
            (Some(only), None) | (None, Some(only)) => Some(only.clone()),
            (None, None) => None,
        };
        html! {
            div.field.field-invalid[self.error.is_some()] {
                "\n"
                label for=(id) {
                    (self.label)
                    @if self.required {
                        " " span class="required" { "(" (lang.pick("bắt buộc", "required")) ")" }
                    }
                }
                "\n"
                @if let (Some(hint), Some(hint_id)) = (&self.hint, &hint_id) {
                    p class="hint" id=(hint_id) { (hint) }
                    "\n"
                }
                @if let (Some(error), Some(error_id)) = (&self.error, &error_id) {
                    p class="field-error" id=(error_id) {
                        span class="visually-hidden" { (lang.pick("Lỗi", "Error")) ": " }
                        (error)
                    }
                    "\n"
                }
                input id=(id) name=(self.name) type=(self.input_type) value=[self.value.as_deref()]
                    required[self.required] aria-required=[self.required.then_some("true")]
                    aria-invalid=[self.error.as_ref().map(|_| "true")]
                    aria-describedby=[described_by] autocomplete=[self.autocomplete];
                "\n"
            }
            "\n"
        }
    }
}

#[cfg(test)]
mod tests;
