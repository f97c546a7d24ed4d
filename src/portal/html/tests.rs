use axum::body::Body;
use pretty_assertions::assert_eq;

use super::*;

/// A value a ward, a catalog or a request could carry, with every character that matters in
/// HTML text and in quoted attributes.
const HOSTILE: &str = "<script>alert('x')</script> \"q\" & 'a'";

/// How [`HOSTILE`] must come out: `<`, `>`, `&` and `"` as entities. maud leaves `'` as it is,
/// which is safe because every attribute it writes is double-quoted.
const HOSTILE_ESCAPED: &str = "&lt;script&gt;alert('x')&lt;/script&gt; &quot;q&quot; &amp; 'a'";

#[test]
fn components_escape_every_interpolation() {
    let field = TextField::new(HOSTILE, HOSTILE)
        .value(HOSTILE)
        .hint(HOSTILE)
        .error(HOSTILE)
        .render(Lang::Vi);
    let content = html! { (field) (button(ButtonKind::Primary, HOSTILE)) };
    let form = form(FormMethod::Post, HOSTILE, Some(HOSTILE), content);
    let html = Page::new(Lang::En, HOSTILE)
        .ward_name(HOSTILE)
        .current("/", Some(&format!("q={}", HOSTILE.replace('&', "%26"))))
        .push(notice(NoticeKind::Info, HOSTILE, HOSTILE))
        .push(definition_list(&[(HOSTILE, html! { (HOSTILE) })]))
        .push(link_button(ButtonKind::Secondary, HOSTILE, HOSTILE))
        .push(form)
        .render();
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains("\"q\""), "{html}");
    assert!(!html.contains("& "), "{html}");
    // Title, ward name (twice), notice heading and body, term and description, link, button,
    // form action, CSRF token, field label, hint, error, name and value.
    assert!(html.matches(HOSTILE_ESCAPED).count() >= 15, "{html}");
    assert!(html.contains(&format!(
        "<title>{HOSTILE_ESCAPED} – {HOSTILE_ESCAPED}</title>"
    )));
    assert!(html.contains(&format!("<h1>{HOSTILE_ESCAPED}</h1>")));
    assert!(html.contains(&format!("value=\"{HOSTILE_ESCAPED}\"")));
    assert!(html.contains(&format!("action=\"{HOSTILE_ESCAPED}\"")));
    // The query value kept by the language switch is percent-encoded, then escaped.
    assert!(html.contains("href=\"/?q=%3Cscript%3Ealert%28%27x%27%29%3C%2Fscript%3E+%22q%22+%26+%27a%27&amp;lang=vi\""), "{html}");
}

#[test]
fn lang_from_query_defaults_to_vietnamese() {
    assert_eq!(Lang::from_query(None), Lang::Vi);
    assert_eq!(Lang::from_query(Some("lang=en")), Lang::En);
    assert_eq!(Lang::from_query(Some("procedure=x&lang=EN")), Lang::En);
    assert_eq!(Lang::from_query(Some("lang=fr")), Lang::Vi);
    assert_eq!(Lang::from_query(Some("lang=vi")), Lang::Vi);
    assert_eq!(Lang::Vi.other(), Lang::En);
    assert_eq!(Lang::En.pick("Xin chào", "Hello"), "Hello");
}

fn page() -> Page {
    Page::new(Lang::Vi, "Đăng ký khai sinh <mới>")
        .ward_name("Phường Thới Sơn")
        .current("/login", Some("procedure=1.001193&lang=vi"))
        .push(html! { p { "Nội dung" } "\n" })
}

#[test]
fn page_has_lang_title_landmarks_and_skip_link() {
    let html = page().render();
    assert!(
        html.starts_with("<!DOCTYPE html>\n<html lang=\"vi\">\n"),
        "{html}"
    );
    assert!(
        html.contains("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
    );
    assert!(html.contains("<title>Đăng ký khai sinh &lt;mới&gt; – Phường Thới Sơn</title>"));
    assert!(html.contains("<link rel=\"stylesheet\" href=\"/assets/style.css\">"));
    assert!(html.contains("<a class=\"skip-link\" href=\"#main\">Chuyển đến nội dung chính</a>"));
    assert!(html.contains("<header class=\"site-header\">"));
    assert!(html.contains("<p class=\"site-name\"><a href=\"/\">Phường Thới Sơn</a></p>"));
    assert!(html.contains("<p class=\"site-tagline\">Dịch vụ công trực tuyến</p>"));
    assert!(html.contains("<main id=\"main\" class=\"wrap\" tabindex=\"-1\">\n<h1>Đăng ký khai sinh &lt;mới&gt;</h1>\n<p>Nội dung</p>\n</main>"));
    assert!(html.contains("<footer class=\"site-footer\">"));
    assert!(html.contains(
        "Không nộp được trực tuyến? Bạn luôn có thể nộp hồ sơ trực tiếp tại Trung tâm Phục vụ \
         hành chính công của phường."
    ));
    assert_eq!(html.matches("<h1>").count(), 1);
    assert!(!html.contains("<script"));
    assert!(!html.contains("style="));
    assert!(html.ends_with("</html>\n"));
}

#[test]
fn language_switch_keeps_path_and_query() {
    let html = page().render();
    assert!(html.contains(
        "<nav class=\"lang-switch\" aria-label=\"Ngôn ngữ\"><a href=\"/login?procedure=1.001193&amp;lang=en\" lang=\"en\" hreflang=\"en\">English</a></nav>"
    ), "{html}");

    let english = Page::new(Lang::En, "Birth registration").current("/api/x", None);
    assert_eq!(english.switch_href(), "/api/x?lang=vi");
    let html = english.render();
    assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));
    assert!(html.contains("lang=\"vi\" hreflang=\"vi\">Tiếng Việt</a>"));
    assert!(html.contains(">Skip to main content</a>"));
    assert!(html.contains("<title>Birth registration – Online public services</title>"));
    assert!(html.contains("in person at the ward's Public Administrative Service Center."));
}

#[test]
fn language_switch_refuses_foreign_paths_and_escapes() {
    let page = Page::new(Lang::Vi, "t").current("//evil.example/x", None);
    assert_eq!(page.switch_href(), "/?lang=en");
    let page = Page::new(Lang::Vi, "t").current("https://evil.example/", None);
    assert_eq!(page.switch_href(), "/?lang=en");
    let page = Page::new(Lang::Vi, "t").current("/x\"onmouseover=", Some("a=<b>"));
    let html = page.render();
    assert!(
        html.contains("href=\"/x&quot;onmouseover=?a=%3Cb%3E&amp;lang=en\""),
        "{html}"
    );
}

#[test]
fn language_switch_without_a_query_is_the_switch_href_escaped() {
    for (path, query) in [
        ("/procedures/1.001193", None),
        ("/procedures/1.001193", Some("")),
        ("/x\"<b>&", None),
        ("/x", Some("lang=en")),
        ("/x", Some("a=1&lang=en&b=%3C")),
    ] {
        for lang in [Lang::Vi, Lang::En] {
            let page = Page::new(lang, "t").current(path, query);
            let expected = html! { a href=(page.switch_href()) {} }.into_string();
            let Some(href) = expected
                .strip_prefix("<a ")
                .and_then(|a| a.strip_suffix("></a>"))
            else {
                unreachable!("a link: {expected}");
            };
            let html = page.render();
            assert!(
                html.contains(&format!("<a {href} lang=")),
                "{path} {query:?}: {html}"
            );
        }
    }
    let html = Page::new(Lang::Vi, "t").current("/x\"<b>&", None).render();
    assert!(
        html.contains("href=\"/x&quot;&lt;b&gt;&amp;?lang=en\""),
        "{html}"
    );
}

#[test]
fn custom_footer_replaces_the_default() {
    let html = page().footer(html! { "Hotline: 1900 0000" }).render();
    assert!(html.contains("Hotline: 1900 0000"));
    assert!(!html.contains("Không nộp được trực tuyến"));
}

#[test]
fn notices_carry_roles() {
    let info = notice(NoticeKind::Info, "Lưu ý", "<b>");
    assert_eq!(
        info.0.as_str(),
        "<div class=\"notice notice-info\" role=\"status\">\n<h2>Lưu ý</h2>\n&lt;b&gt;\n</div>\n"
    );
    assert!(
        notice(NoticeKind::Success, "", html! {})
            .0
            .as_str()
            .contains("role=\"status\"")
    );
    assert!(
        notice(NoticeKind::Warning, "", html! {})
            .0
            .as_str()
            .contains("role=\"alert\"")
    );
    assert!(
        notice(NoticeKind::Error, "", html! {})
            .0
            .as_str()
            .contains("class=\"notice notice-error\" role=\"alert\"")
    );
}

fn html_text(text: &str) -> Markup {
    html! { (text) }
}

#[test]
fn definition_list_escapes_terms() {
    let list = definition_list(&[
        ("Mã hồ sơ", html_text("H01.23-250701-0001")),
        ("Giờ làm việc", html_text("Thứ Hai – Thứ Sáu, 7:30 – 17:00")),
        ("<x>", html! {}),
    ]);
    assert_eq!(
        list.0.as_str(),
        "<dl class=\"details\">\n<dt>Mã hồ sơ</dt><dd>H01.23-250701-0001</dd>\n\
         <dt>Giờ làm việc</dt><dd>Thứ Hai – Thứ Sáu, 7:30 – 17:00</dd>\n\
         <dt>&lt;x&gt;</dt><dd></dd>\n</dl>\n"
    );
}

#[test]
fn form_carries_the_csrf_field() {
    let form = form(
        FormMethod::Post,
        "/logout",
        Some("tok\"en"),
        button(ButtonKind::Secondary, "Đăng xuất"),
    );
    assert_eq!(
        form.0.as_str(),
        "<form method=\"post\" action=\"/logout\" novalidate>\n\
         <input type=\"hidden\" name=\"csrf_token\" value=\"tok&quot;en\">\n\
         <button type=\"submit\" class=\"button button-secondary\">Đăng xuất</button>\n\
         </form>\n"
    );
    let get = super::form(FormMethod::Get, "/login", None, html! {});
    assert_eq!(
        get.0.as_str(),
        "<form method=\"get\" action=\"/login\" novalidate>\n</form>\n"
    );
    assert_eq!(
        link_button(
            ButtonKind::Primary,
            "/login?procedure=a&lang=vi",
            "Đăng nhập"
        )
        .0
        .as_str(),
        "<a class=\"button\" href=\"/login?procedure=a&amp;lang=vi\">Đăng nhập</a>\n"
    );
}

#[test]
fn text_field_binds_label_hint_and_error() {
    let field = TextField::new("ngay_sinh", "Ngày sinh")
        .input_type("date")
        .required(true)
        .value("2025-07-01")
        .hint("Theo giấy chứng sinh")
        .error("Ngày sinh không hợp lệ")
        .autocomplete("bday")
        .render(Lang::Vi);
    assert_eq!(
        field.0.as_str(),
        "<div class=\"field field-invalid\">\n\
         <label for=\"field-ngay_sinh\">Ngày sinh <span class=\"required\">(bắt buộc)</span></label>\n\
         <p class=\"hint\" id=\"field-ngay_sinh-hint\">Theo giấy chứng sinh</p>\n\
         <p class=\"field-error\" id=\"field-ngay_sinh-error\"><span class=\"visually-hidden\">Lỗi: </span>Ngày sinh không hợp lệ</p>\n\
         <input id=\"field-ngay_sinh\" name=\"ngay_sinh\" type=\"date\" value=\"2025-07-01\" required aria-required=\"true\" aria-invalid=\"true\" aria-describedby=\"field-ngay_sinh-hint field-ngay_sinh-error\" autocomplete=\"bday\">\n\
         </div>\n"
    );
    let plain = TextField::new("ho_ten", "Full name").render(Lang::En);
    assert_eq!(
        plain.0.as_str(),
        "<div class=\"field\">\n<label for=\"field-ho_ten\">Full name</label>\n\
         <input id=\"field-ho_ten\" name=\"ho_ten\" type=\"text\">\n</div>\n"
    );
    let injected = TextField::new("a\"b", "<l>")
        .value("\"><script>")
        .render(Lang::En);
    assert!(!injected.0.as_str().contains("<script>"));
    assert!(!injected.0.as_str().contains("<l>"));
}

#[tokio::test]
async fn page_and_stylesheet_responses() {
    let response = page().into_response();
    assert_eq!(response.headers()[CONTENT_TYPE], "text/html; charset=utf-8");

    let response = stylesheet().await;
    assert_eq!(response.headers()[CONTENT_TYPE], "text/css; charset=utf-8");
    assert_eq!(response.headers()[CACHE_CONTROL], "public, max-age=86400");
    let body = axum::body::to_bytes(Body::new(response.into_body()), 1 << 20)
        .await
        .unwrap();
    assert_eq!(body, STYLESHEET.as_bytes());
}

#[test]
fn stylesheet_has_focus_tap_targets_and_print_rules() {
    assert!(STYLESHEET.contains(":focus-visible"));
    assert!(STYLESHEET.contains("min-height: 44px"));
    let print = STYLESHEET
        .split("@media print")
        .nth(1)
        .expect("print rules");
    assert!(print.contains(".lang-switch, nav, form, .button"));
    assert!(print.contains("display: none !important"));
    // Balanced braces: a cheap guard against a broken stylesheet.
    assert_eq!(
        STYLESHEET.matches('{').count(),
        STYLESHEET.matches('}').count()
    );
}

/// WCAG 2.x relative luminance of `#rrggbb`.
fn luminance(hex: &str) -> f64 {
    let channel = |i: usize| {
        let c = f64::from(u8::from_str_radix(&hex[i..i + 2], 16).unwrap()) / 255.0;
        if c <= 0.039_28 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5)
}

fn contrast(a: &str, b: &str) -> f64 {
    let (la, lb) = (luminance(a), luminance(b));
    (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
}

#[test]
fn text_colours_meet_wcag_aa_contrast() {
    // Foreground/background pairs used for text in the stylesheet.
    let pairs = [
        ("#1a1a1a", "#ffffff"), // body text
        ("#ffffff", "#8b1a1a"), // header
        ("#0b4f9c", "#ffffff"), // links, secondary buttons
        ("#5a2d82", "#ffffff"), // visited links
        ("#083b74", "#ffffff"), // hovered links
        ("#ffffff", "#0b4f9c"), // primary buttons
        ("#ffffff", "#083b74"), // hovered primary buttons
        ("#083b74", "#eef4fb"), // hovered secondary buttons
        ("#0b0c0c", "#ffdd00"), // focus, skip link
        ("#4a4a4a", "#ffffff"), // hints
        ("#b10e1e", "#ffffff"), // field errors
        ("#1a1a1a", "#eef4fb"), // notices
        ("#1a1a1a", "#eaf6ef"),
        ("#1a1a1a", "#fff7e6"),
        ("#1a1a1a", "#fdecee"),
    ];
    for (foreground, background) in pairs {
        assert!(
            STYLESHEET.contains(foreground),
            "{foreground} not in the stylesheet"
        );
        assert!(
            STYLESHEET.contains(background),
            "{background} not in the stylesheet"
        );
        let ratio = contrast(foreground, background);
        assert!(ratio >= 4.5, "{foreground} on {background}: {ratio:.2}");
    }
}
