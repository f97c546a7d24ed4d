//! The identity providers a gate signs people in with.
//!
//! Rules this module enforces:
//!
//! 1. A provider has an id: a short slug (`a`–`z`, `0`–`9`, `-`, at most
//!    [`MAX_PROVIDER_ID_LEN`] characters, starting with a letter) that appears in URLs and in the
//!    sealed login-flow cookie, never a label or anything personal.
//! 2. Each provider has its own redirect URI: `{prefix}/callback/{id}`, or `{prefix}/callback`
//!    for the first provider, where `{prefix}` is where the auth routes are mounted (`/auth` by
//!    default). Two providers never share one, so a callback meant for one provider cannot be
//!    completed by another.
//!
//! # Example
//!
//! ```
//! use wardgate::integrations::axum::{ProviderId, DEFAULT_PROVIDER_ID};
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

use super::DEFAULT_AUTH_PREFIX;
use crate::i18n::LocalText;
use crate::oidc::{CircuitMonitor, ProviderProfile, RelyingParty};

/// The id of the provider of a gate given a single relying party.
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

    /// The path of this provider's own redirect URI under the default prefix,
    /// `/auth/callback/{id}`; [`callback_path_under`](Self::callback_path_under) for another.
    ///
    /// A gate's first provider may use `/auth/callback` instead.
    pub fn callback_path(&self) -> String {
        self.callback_path_under(DEFAULT_AUTH_PREFIX)
    }

    /// The path of this provider's own redirect URI when the auth routes are mounted at
    /// `prefix`: `{prefix}/callback/{id}`.
    pub fn callback_path_under(&self, prefix: &str) -> String {
        format!("{prefix}/callback/{}", self.0)
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
/// `{prefix}/callback` for a gate's first provider; [`GateBuilder::build`](super::GateBuilder::build)
/// checks.
#[derive(Clone, Debug)]
pub struct LoginProvider {
    id: ProviderId,
    label: LocalText,
    hint: LocalText,
    relying_party: RelyingParty,
    circuit: Option<CircuitMonitor>,
    /// The last probe of the provider, shared by clones (`provider_health`).
    health: std::sync::Arc<super::provider_health::ProviderHealth>,
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
            health: std::sync::Arc::default(),
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

    pub(crate) fn health(&self) -> &super::provider_health::ProviderHealth {
        &self.health
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
