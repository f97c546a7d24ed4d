//! Provider profiles: what a provider really sends, and what wardgate checks for each.
//!
//! A ward portal meets four kinds of provider (domain brief §1.4). Each profile sets the
//! defaults of a [`ClientConfig`](super::ClientConfig) for one of them; every default can be
//! overridden by a later builder call. The manual has one page per profile saying what it
//! verifies, what it cannot verify and what to ask the provider:
//! [`manual::profiles`](crate::manual::profiles).

use std::fmt;
use std::str::FromStr;

use crate::assurance::{AcrTable, LevelSource, LevelSourceError};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The userinfo claim an NPSP-style provider is assumed to carry the level in.
///
/// No public source shows NPSP's level claim (`LoaiTaiKhoan` is the account *type*); this name
/// follows NPSP's attribute style ("mức độ định danh") and must be confirmed at onboarding
/// (domain brief §1.9 question 1). Override it with
/// [`ClientConfig::level_source`](super::ClientConfig::level_source).
pub const NPSP_LEVEL_CLAIM: &str = "MucDoDinhDanh";

/// The userinfo claim VNeID's direct integration carries the account level in.
pub const VNEID_LEVEL_CLAIM: &str = "accountLevel";

/// The userinfo claim VNeID's direct integration identifies the resident by (it sends no
/// `sub`): the 12-digit personal identification number.
pub const VNEID_SUBJECT_CLAIM: &str = "citizenPid";

/// The ID token claim a Keycloak broker is assumed to map the upstream VNeID level into.
///
/// The broker's own `acr` ("0" or "1") says how fresh the login is, not who the person is; the
/// operator configures a mapper that copies the upstream level into this claim (or names their
/// own with [`ClientConfig::level_source`](super::ClientConfig::level_source)).
pub const KEYCLOAK_LEVEL_CLAIM: &str = "vneid_level";

/// The `acr` values NPSP-style providers use: `LoA1` for level 1, `LoA2` for level 2.
pub const NPSP_ACR_LEVEL_1: &str = "LoA1";
/// See [`NPSP_ACR_LEVEL_1`].
pub const NPSP_ACR_LEVEL_2: &str = "LoA2";

/// Which kind of provider a relying party talks to.
///
/// Chosen per provider in the gateway's TOML file (`profile = "npsp"` in the provider's table)
/// or with `WARDGATE_PROVIDER_PROFILE`; parsed with [`FromStr`] or serde from the names of
/// [`as_str`](Self::as_str).
///
/// # Example
///
/// ```
/// use wardgate::oidc::{IdTokenExpectation, ProviderProfile};
///
/// let profile: ProviderProfile = "vneid-direct".parse()?;
/// assert_eq!(profile, ProviderProfile::VneidDirect);
/// assert_eq!(profile.id_token(), IdTokenExpectation::Absent);
///
/// let err = "vneid".parse::<ProviderProfile>().unwrap_err();
/// assert!(err.to_string().contains("vneid-direct"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[expect(
    clippy::exhaustive_enums,
    reason = "the gateway matches on profiles; a new profile must be handled everywhere"
)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ProviderProfile {
    /// A standard OpenID Provider: signed ID token with `nonce`, level from the configured
    /// source (the default).
    #[default]
    Standard,
    /// The National Public Service Portal's sign-in service: `acr_values` `LoA1`/`LoA2`,
    /// identity attributes in userinfo (`HoVaTen`, `SoDinhDanh`, `NgayThangNamSinh`,
    /// `LoaiTaiKhoan`), the level in a userinfo field.
    Npsp,
    /// VNeID integrated directly: no ID token, no `nonce` echo, encrypted token and userinfo
    /// bodies, codes containing `+`, the level in userinfo `accountLevel`, the resident
    /// identified by `citizenPid`.
    VneidDirect,
    /// A Keycloak realm brokering VNeID: its `acr` ("0"/"1") is ignored; the level comes from a
    /// mapped claim.
    KeycloakBroker,
}

impl ProviderProfile {
    /// Every profile, in documentation order.
    pub const ALL: [Self; 4] = [
        Self::Standard,
        Self::Npsp,
        Self::VneidDirect,
        Self::KeycloakBroker,
    ];

    /// The configuration name: `standard`, `npsp`, `vneid-direct` or `keycloak-broker`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Standard => "standard",
            Self::Npsp => "npsp",
            Self::VneidDirect => "vneid-direct",
            Self::KeycloakBroker => "keycloak-broker",
        }
    }

    /// Where this kind of provider states the level, unless configured otherwise.
    ///
    /// - `standard`: [`LevelSource::vneid`], the default of
    ///   [`ClientConfig::new`](super::ClientConfig::new); a standard provider is normally
    ///   configured with its own `acr` table.
    /// - `npsp`: the userinfo claim [`NPSP_LEVEL_CLAIM`], `1` or `2` (number or string).
    /// - `vneid-direct`: the userinfo claim [`VNEID_LEVEL_CLAIM`], `1` or `2` (number or
    ///   string).
    /// - `keycloak-broker`: the ID token claim [`KEYCLOAK_LEVEL_CLAIM`], `1` or `2` (number or
    ///   string); never the broker's `acr`.
    pub fn default_level_source(self) -> LevelSource {
        match self {
            Self::Standard | Self::VneidDirect => LevelSource::vneid(),
            Self::Npsp => one_or_two(NPSP_LEVEL_CLAIM, false),
            Self::KeycloakBroker => one_or_two(KEYCLOAK_LEVEL_CLAIM, true),
        }
    }

    /// Refuses a level source this kind of provider would fool: a `keycloak-broker` whose
    /// `acr` table holds Keycloak's default `"0"` or `"1"` (login freshness, not identity).
    /// Other profiles accept plain numeric values, which some providers send as their levels.
    ///
    /// # Errors
    ///
    /// [`LevelSourceError::KeycloakDefaultAcr`] naming the first such value.
    pub fn check_level_source(self, source: &LevelSource) -> Result<(), LevelSourceError> {
        match (self, source) {
            (Self::KeycloakBroker, LevelSource::IdTokenAcr(table)) => {
                match table.keycloak_default_values().first() {
                    Some(value) => Err(LevelSourceError::KeycloakDefaultAcr {
                        value: (*value).to_owned(),
                    }),
                    None => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }

    /// Whether this kind of provider issues an ID token.
    pub const fn id_token(self) -> IdTokenExpectation {
        match self {
            Self::VneidDirect => IdTokenExpectation::Absent,
            Self::Standard | Self::Npsp | Self::KeycloakBroker => IdTokenExpectation::Required,
        }
    }

    /// The `acr` values requested for each level when the level source itself is not `acr`
    /// (`LoA1`/`LoA2` for NPSP); `None` when the profile requests none.
    pub fn requested_acr(self) -> Option<AcrTable> {
        match self {
            Self::Npsp => AcrTable::new([NPSP_ACR_LEVEL_1], [NPSP_ACR_LEVEL_2]).ok(),
            Self::Standard | Self::VneidDirect | Self::KeycloakBroker => None,
        }
    }

    /// The userinfo claim that identifies the resident when there is no ID token; `None` means
    /// the ID token's `sub`.
    pub const fn subject_claim(self) -> Option<&'static str> {
        match self {
            Self::VneidDirect => Some(VNEID_SUBJECT_CLAIM),
            Self::Standard | Self::Npsp | Self::KeycloakBroker => None,
        }
    }

    /// Whether userinfo is fetched even when the level source does not need it (the identity
    /// attributes live there for NPSP, VNeID and Keycloak brokers).
    pub const fn fetches_userinfo(self) -> bool {
        !matches!(self, Self::Standard)
    }
}

impl fmt::Display for ProviderProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ProviderProfile {
    type Err = UnknownProfile;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|profile| profile.as_str() == value)
            .ok_or_else(|| UnknownProfile {
                value: value.chars().take(64).collect(),
            })
    }
}

impl Serialize for ProviderProfile {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ProviderProfile {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = String::deserialize(deserializer)?;
        value.parse().map_err(serde::de::Error::custom)
    }
}

/// A provider profile name that is not one of [`ProviderProfile::ALL`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown provider profile `{value}`: expected one of standard, npsp, vneid-direct, \
     keycloak-broker"
)]
pub struct UnknownProfile {
    value: String,
}

impl UnknownProfile {
    /// The value given (at most 64 characters of it).
    pub fn value(&self) -> &str {
        &self.value
    }
}

/// Whether a provider issues an ID token.
#[expect(
    clippy::exhaustive_enums,
    reason = "a provider either issues an ID token or it does not"
)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IdTokenExpectation {
    /// A login without a signed ID token is refused
    /// ([`MissingIdToken`](super::LoginErrorKind::MissingIdToken)).
    Required,
    /// The provider issues none: the identity comes from userinfo, bound to the login only by
    /// PKCE, `state` and the exact redirect URI. An ID token that does arrive is verified all
    /// the same (nonce included), which is stronger.
    Absent,
}

/// The VNeID preset's value table (`1` or `2`, as number or string: the observed integrations
/// do not settle the type) under another claim, in the userinfo or the ID token.
fn one_or_two(claim: &str, in_id_token: bool) -> LevelSource {
    match LevelSource::vneid() {
        LevelSource::UserinfoClaim { table, .. } if in_id_token => LevelSource::IdTokenClaim {
            claim: claim.to_owned(),
            table,
        },
        LevelSource::UserinfoClaim { table, .. } => LevelSource::UserinfoClaim {
            claim: claim.to_owned(),
            table,
        },
        // INVARIANT: `vneid()` is a `UserinfoClaim`; this arm only keeps the match total.
        other => other,
    }
}
