//! The identity providers a gateway signs residents in with, and the page where a resident
//! chooses one.
//!
//! Rules this module enforces:
//!
//! 1. A provider has an id: a short slug (`a`–`z`, `0`–`9`, `-`, at most
//!    [`MAX_PROVIDER_ID_LEN`] characters, starting with a letter) that appears in URLs and in the
//!    sealed login-flow cookie, never a label or anything personal.
//! 2. Each provider has its own redirect URI: `/auth/callback/{id}`, or `/auth/callback` for the
//!    first provider (the single provider of a one-provider gateway keeps it). Two providers
//!    never share one, so a callback meant for one provider cannot be completed by another.
//! 3. The login-flow cookie records the id of the provider the login went to; the callback uses
//!    that provider only, refuses a callback that arrives at another provider's redirect URI,
//!    and lets the relying party check `state` and RFC 9207 `iss` against that provider.
//! 4. With one provider `GET /login?procedure=…` goes straight to it, as always; with several it
//!    shows a chooser that says in plain words which one to pick.
//!
//! # Example
//!
//! ```
//! use wardgate::portal::{ProviderId, DEFAULT_PROVIDER_ID};
//!
//! let id: ProviderId = "vneid".parse()?;
//! assert_eq!(id.as_str(), "vneid");
//! assert_eq!(id.callback_path(), "/auth/callback/vneid");
//! assert!("VNeID".parse::<ProviderId>().is_err());
//! assert_eq!(ProviderId::default_id().as_str(), DEFAULT_PROVIDER_ID);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use axum::response::{IntoResponse, Response};

use super::gateway::Gateway;
use super::html::{ButtonKind, Page, html, link_button};
use crate::i18n::Lang;
use crate::policy::Procedure;
use crate::session::ReturnPath;

pub(crate) use crate::integrations::axum::profile_texts;
pub use crate::integrations::axum::{
    DEFAULT_PROVIDER_ID, LoginProvider, MAX_PROVIDER_ID_LEN, ProviderId, ProviderIdError,
};

/// The `/login` query for `procedure` at `provider` (`None`: the chooser itself), keeping
/// `return_to` so the resident comes back where the sign-in started.
fn login_query(
    procedure: &Procedure,
    provider: Option<&ProviderId>,
    lang: Lang,
    return_to: Option<&ReturnPath>,
) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("procedure", procedure.code().as_str());
    if let Some(provider) = provider {
        query.append_pair("provider", provider.as_str());
    }
    query.append_pair("lang", lang.code());
    if let Some(return_to) = return_to {
        query.append_pair("return_to", return_to.as_str());
    }
    query.finish()
}

/// The chooser for `procedure`: one button per provider, in order, each with its explanation,
/// and the way to file in person for a resident who has none of them. `return_to`, already
/// checked as a same-origin path, rides on every button.
pub(crate) fn chooser_page(
    gw: &Gateway,
    lang: Lang,
    procedure: &Procedure,
    return_to: Option<&ReturnPath>,
) -> Response {
    let ward = gw.ward(None);
    let in_person = format!(
        "/procedures/{}?lang={}&in_person=1",
        procedure.code(),
        lang.code()
    );
    let body = html! {
        p {
            (lang.pick(
                "Để nộp hồ sơ trực tuyến, bạn cần đăng nhập bằng tài khoản định danh điện tử mức độ 2. \
                 Có nhiều cách đăng nhập; bạn chỉ cần chọn một cách dưới đây.",
                "To file online you need to sign in with a level 2 electronic identity account. There \
                 are several ways to sign in; choose just one below.",
            ))
            " "
            @if return_to.is_some() {
                (lang.pick(
                    "Sau khi đăng nhập, bạn sẽ quay lại trang bạn vừa xem.",
                    "After signing in you come back to the page you were on.",
                ))
            } @else {
                (lang.pick(
                    "Sau khi đăng nhập, bạn sẽ quay lại thủ tục này.",
                    "After signing in you come back to this procedure.",
                ))
            }
        }
        "\n"
        ul class="provider-choices" {
            "\n"
            @for provider in gw.providers() {
                @let label = provider.label_text();
                @let href = format!(
                    "/login?{}",
                    login_query(procedure, Some(provider.id()), lang, return_to)
                );
                li {
                    "\n"
                    h2 { (label.get(lang)) }
                    "\n"
                    p class="hint" { (provider.hint_text().get(lang)) }
                    "\n"
                    (link_button(
                        ButtonKind::Primary,
                        &href,
                        &format!("{} {}", lang.pick("Đăng nhập bằng", "Sign in with"), label.get(lang)),
                    ))
                }
                "\n"
            }
        }
        "\n"
        p {
            (lang.pick(
                "Không có tài khoản nào ở trên, hoặc tài khoản chưa đạt mức độ 2? Bạn vẫn có thể nộp hồ \
                 sơ trực tiếp.",
                "None of these accounts, or not at level 2 yet? You can still file in person.",
            ))
        }
        "\n"
        (link_button(
            ButtonKind::Secondary,
            &in_person,
            lang.pick(
                "Nộp trực tiếp tại Trung tâm Phục vụ hành chính công",
                "File in person at the Public Administrative Service Center",
            ),
        ))
    };
    // The language switch keeps `return_to` too.
    let query = login_query(procedure, None, lang, return_to);
    Page::new(
        lang,
        lang.pick("Chọn cách đăng nhập", "Choose how to sign in"),
    )
    .ward_name(
        lang.pick(&ward.full_name().vi, &ward.full_name().en)
            .to_owned(),
    )
    .current("/login", Some(&query))
    .push(body)
    .into_response()
}
