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

use std::fmt;
use std::str::FromStr;

use axum::response::{IntoResponse, Response};

use super::config::CALLBACK_PATH;
use super::gateway::Gateway;
use super::html::{ButtonKind, Page, html, link_button};
use crate::i18n::{Lang, LocalText};
use crate::oidc::{CircuitMonitor, ProviderProfile, RelyingParty};
use crate::policy::Procedure;

/// The id of the provider of a gateway built with [`GatewayParts::new`] alone.
///
/// [`GatewayParts::new`]: super::GatewayParts::new
pub const DEFAULT_PROVIDER_ID: &str = "default";

/// The longest provider id, in characters.
pub const MAX_PROVIDER_ID_LEN: usize = 32;

/// A provider's id: a short slug used in URLs (`/login?provider=ID`, `/auth/callback/ID`) and in
/// the login-flow cookie.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ProviderId(String);

impl ProviderId {
    /// `id` if it is a slug: `a`–`z`, `0`–`9` and `-`, starting with a letter, at most
    /// [`MAX_PROVIDER_ID_LEN`] characters.
    ///
    /// # Errors
    ///
    /// [`ProviderIdError`] naming the value.
    pub fn new(id: &str) -> Result<Self, ProviderIdError> {
        let valid = (1..=MAX_PROVIDER_ID_LEN).contains(&id.len())
            && id.starts_with(|c: char| c.is_ascii_lowercase())
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if valid {
            Ok(Self(id.to_owned()))
        } else {
            Err(ProviderIdError {
                value: id.to_owned(),
            })
        }
    }

    /// [`DEFAULT_PROVIDER_ID`].
    pub fn default_id() -> Self {
        Self(DEFAULT_PROVIDER_ID.to_owned())
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The path of this provider's own redirect URI, `/auth/callback/{id}`.
    ///
    /// A gateway's single provider may use [`CALLBACK_PATH`] instead.
    pub fn callback_path(&self) -> String {
        format!("{CALLBACK_PATH}/{}", self.0)
    }
}

impl FromStr for ProviderId {
    type Err = ProviderIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl fmt::Display for ProviderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A provider id that is not a slug.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "provider id `{value}` is not a short slug: use 1 to {MAX_PROVIDER_ID_LEN} of `a`-`z`, \
     `0`-`9` and `-`, starting with a letter"
)]
pub struct ProviderIdError {
    value: String,
}

impl ProviderIdError {
    /// The refused value.
    pub fn value(&self) -> &str {
        &self.value
    }
}

/// One identity provider of the gateway: its id, how the chooser names it, and its relying party.
///
/// The relying party's redirect URI must end in [`ProviderId::callback_path`], or in
/// [`CALLBACK_PATH`] for a gateway's first provider; [`Gateway::new`](super::Gateway::new)
/// checks.
#[derive(Clone, Debug)]
pub struct LoginProvider {
    id: ProviderId,
    label: LocalText,
    hint: LocalText,
    relying_party: RelyingParty,
    circuit: Option<CircuitMonitor>,
}

impl LoginProvider {
    /// Provider `id` through `relying_party`, named on the chooser after the relying party's
    /// [`ProviderProfile`] until [`label`](Self::label) and [`hint`](Self::hint) say otherwise.
    pub fn new(id: ProviderId, relying_party: RelyingParty) -> Self {
        let (label, hint) = profile_texts(relying_party.config().provider_profile());
        Self {
            id,
            label,
            hint,
            relying_party,
            circuit: None,
        }
    }

    /// Watches the relying party's calls through `monitor`, the monitor of the
    /// [`CircuitBreaker`](crate::oidc::CircuitBreaker) its HTTP client goes through: `/readyz`
    /// reports the breaker's state and sign-ins are not sent to a provider known to be down.
    #[must_use]
    pub fn circuit(mut self, monitor: CircuitMonitor) -> Self {
        self.circuit = Some(monitor);
        self
    }

    /// The name on the chooser's button, in Vietnamese and English.
    #[must_use]
    pub fn label(mut self, label: LocalText) -> Self {
        self.label = label;
        self
    }

    /// The plain-words explanation under the button: who should choose this provider.
    #[must_use]
    pub fn hint(mut self, hint: LocalText) -> Self {
        self.hint = hint;
        self
    }

    /// The id.
    pub fn id(&self) -> &ProviderId {
        &self.id
    }

    /// The name on the chooser.
    pub fn label_text(&self) -> &LocalText {
        &self.label
    }

    /// The explanation on the chooser.
    pub fn hint_text(&self) -> &LocalText {
        &self.hint
    }

    /// The relying party.
    pub fn relying_party(&self) -> &RelyingParty {
        &self.relying_party
    }

    /// The circuit breaker's monitor, when the relying party's client has one.
    pub fn circuit_monitor(&self) -> Option<&CircuitMonitor> {
        self.circuit.as_ref()
    }

    /// The path of the redirect URI the relying party sends.
    pub fn callback_path(&self) -> &str {
        self.relying_party.config().redirect_uri().path()
    }
}

/// The chooser's default name and explanation for a provider of `profile`.
pub(crate) fn profile_texts(profile: ProviderProfile) -> (LocalText, LocalText) {
    match profile {
        ProviderProfile::Npsp => (
            LocalText::new(
                "Cổng Dịch vụ công quốc gia",
                "National Public Service Portal",
            ),
            LocalText::new(
                "Chọn cách này nếu bạn thường đăng nhập trên dichvucong.gov.vn. Cổng sẽ cho bạn \
                 đăng nhập bằng tài khoản định danh điện tử VNeID.",
                "Choose this if you usually sign in on dichvucong.gov.vn. The Portal lets you \
                 sign in with your VNeID electronic identity account.",
            ),
        ),
        ProviderProfile::VneidDirect => (
            LocalText::new(
                "Tài khoản định danh điện tử VNeID",
                "VNeID electronic identity account",
            ),
            LocalText::new(
                "Chọn cách này nếu điện thoại của bạn có ứng dụng VNeID. Bạn xác nhận đăng nhập \
                 ngay trên ứng dụng.",
                "Choose this if your phone has the VNeID app. You confirm the sign-in in the \
                 app.",
            ),
        ),
        ProviderProfile::KeycloakBroker => (
            LocalText::new(
                "Hệ thống đăng nhập một lần của tỉnh",
                "The province's single sign-on",
            ),
            LocalText::new(
                "Chọn cách này nếu bạn đã có tài khoản trên cổng dịch vụ công của tỉnh.",
                "Choose this if you already have an account on the province's public service \
                 portal.",
            ),
        ),
        _ => (
            LocalText::new("Tài khoản định danh điện tử", "Electronic identity account"),
            LocalText::new(
                "Đăng nhập bằng tài khoản định danh điện tử của bạn.",
                "Sign in with your electronic identity account.",
            ),
        ),
    }
}

/// The chooser for `procedure`: one button per provider, in order, each with its explanation,
/// and the way to file in person for a resident who has none of them.
pub(crate) fn chooser_page(gw: &Gateway, lang: Lang, procedure: &Procedure) -> Response {
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
                 Có nhiều cách đăng nhập; bạn chỉ cần chọn một cách dưới đây. Sau khi đăng nhập, bạn \
                 sẽ quay lại thủ tục này.",
                "To file online you need to sign in with a level 2 electronic identity account. There \
                 are several ways to sign in; choose just one below. After signing in you come back to \
                 this procedure.",
            ))
        }
        "\n"
        ul class="provider-choices" {
            "\n"
            @for provider in gw.providers() {
                @let label = provider.label_text();
                @let href = format!(
                    "/login?procedure={}&provider={}&lang={}",
                    procedure.code(),
                    provider.id(),
                    lang.code()
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
                "Nộp trực tiếp tại bộ phận một cửa",
                "File in person at the one-stop desk",
            ),
        ))
    };
    let query = format!("procedure={}&lang={}", procedure.code(), lang.code());
    Page::new(
        lang,
        lang.pick("Chọn cách đăng nhập", "Choose how to sign in"),
    )
    .ward_name(lang.pick(&ward.name().vi, &ward.name().en).to_owned())
    .current("/login", Some(&query))
    .push(body)
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_ids_are_slugs() {
        for good in ["default", "npsp", "vneid-direct", "a1", &"a".repeat(32)] {
            assert_eq!(ProviderId::new(good).unwrap().as_str(), good);
        }
        for bad in [
            "",
            "1npsp",
            "-npsp",
            "VNeID",
            "npsp/x",
            "np sp",
            "np_sp",
            &"a".repeat(33),
        ] {
            let error = ProviderId::new(bad).unwrap_err();
            assert_eq!(error.value(), bad);
        }
        assert_eq!(
            ProviderId::new("Bad").unwrap_err().to_string(),
            "provider id `Bad` is not a short slug: use 1 to 32 of `a`-`z`, `0`-`9` and `-`, \
             starting with a letter"
        );
    }

    #[test]
    fn each_profile_has_complete_chooser_texts() {
        for profile in ProviderProfile::ALL {
            let (label, hint) = profile_texts(profile);
            assert!(
                !label.is_incomplete() && !hint.is_incomplete(),
                "{profile:?}"
            );
        }
        let (npsp, _) = profile_texts(ProviderProfile::Npsp);
        assert_eq!(npsp.vi, "Cổng Dịch vụ công quốc gia");
        let (vneid, _) = profile_texts(ProviderProfile::VneidDirect);
        assert_eq!(vneid.vi, "Tài khoản định danh điện tử VNeID");
    }
}
