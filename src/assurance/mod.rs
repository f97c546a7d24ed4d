//! Identity assurance: the [`Level`] a resident's e-identity reached and where that came from.
//!
//! Rules this module enforces:
//!
//! 1. A level is only ever derived from what the identity provider *returned* (and the
//!    [`oidc`](crate::oidc) module verified), never from what was requested.
//! 2. Unknown, malformed or wrongly typed values give **no level** (`None`): deny by default.
//! 3. Keycloak's default `acr` values `"0"` and `"1"` (which describe how fresh a login was, not
//!    who the person is) never map to an identity level.
//!
//! Where a provider puts the level is configured per provider as a [`LevelSource`]; presets
//! cover the schemes a Vietnamese ward portal meets (VNeID, the National Public Service Portal's
//! sign-in service, a Keycloak broker) and well-known foreign schemes used as references (eIDAS,
//! FranceConnect(+), GOV.UK One Login).

mod mapping;

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use mapping::{AcrTable, LevelSource, LevelSourceError, ReturnedClaims, ValueTable};

/// The level of a Vietnamese e-identity account (Decree 69/2024/NĐ-CP).
///
/// Ordered: `Level::One < Level::Two`, so a requirement reads `level >= required`. "No
/// recognised level" is `Option<Level>::None`, not a variant.
///
/// Serialised as the number `1` or `2`.
#[expect(
    clippy::exhaustive_enums,
    reason = "Decree 69/2024 defines exactly two levels for citizens"
)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Mức độ 01: self-enrolled in the VNeID app, face compared with the national database.
    One,
    /// Mức độ 02: enrolled in person at the commune police with portrait and fingerprints;
    /// equivalent to presenting the physical identity card.
    Two,
}

impl Level {
    /// The level as its number, `1` or `2`.
    pub const fn number(self) -> u8 {
        match self {
            Self::One => 1,
            Self::Two => 2,
        }
    }

    /// The level with number `n`, if there is one.
    pub const fn from_number(n: u8) -> Option<Self> {
        match n {
            1 => Some(Self::One),
            2 => Some(Self::Two),
            _ => None,
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "level {}", self.number())
    }
}

impl Serialize for Level {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u8(self.number())
    }
}

// The schema says what `Serialize` writes: the number, not the variant's name.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Level {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::Integer)
            .enum_values(Some([1, 2]))
            .description(Some(
                "An e-identity level: 1 (VNeID level 1, registered online) or 2 (level 2, \
                 enrolled in person with biometrics).",
            ))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Level {}

impl<'de> Deserialize<'de> for Level {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let n = u8::deserialize(deserializer)?;
        Self::from_number(n)
            .ok_or_else(|| serde::de::Error::custom(format!("level must be 1 or 2, found {n}")))
    }
}

/// Which part of the provider's answer produced the level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SourceKind {
    /// The ID token's `acr` claim, through a mapping table.
    IdTokenAcr,
    /// A claim of the userinfo response (VNeID's observed `accountLevel`).
    UserinfoClaim,
    /// OpenID Connect for Identity Assurance `verified_claims.verification`.
    VerifiedClaims,
    /// A Vectors of Trust `vot` claim (RFC 8485, as GOV.UK One Login sends it).
    VectorOfTrust,
    /// No provider: an officer checked the resident's identity document at the counter and took
    /// the dossier in (the counter channel).
    CounterDocument,
}

impl SourceKind {
    /// A stable snake_case name, for logs, audit records and metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::IdTokenAcr => "id_token_acr",
            Self::UserinfoClaim => "userinfo_claim",
            Self::VerifiedClaims => "verified_claims",
            Self::VectorOfTrust => "vector_of_trust",
            Self::CounterDocument => "counter_document",
        }
    }
}

/// The verified assurance of one login: the level (if any) and its provenance.
///
/// Produced by [`RelyingParty::complete`](crate::oidc::RelyingParty::complete) from a verified
/// provider response. Portals keep it in the sealed session and hand it to the policy; audit
/// records and receipts use the provenance to say *why* a level was accepted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assurance {
    level: Option<Level>,
    issuer: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    acr: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    amr: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    auth_time: Option<DateTime<Utc>>,
    source: SourceKind,
    /// `false` when the provider issued no ID token (a userinfo-only profile). Absent in
    /// records written before profiles existed, all of which had one.
    #[serde(default = "signed_by_default", skip_serializing_if = "is_signed")]
    signed_id_token: bool,
    /// `true` when the relying party found that an `acr`-sourced level is the account's (see
    /// [`Assurance::is_account_level`]). Absent in older records: the level of that login.
    #[serde(default, skip_serializing_if = "is_false")]
    account_level: bool,
}

#[expect(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde's skip_serializing_if passes a reference"
)]
fn is_false(value: &bool) -> bool {
    !*value
}

fn signed_by_default() -> bool {
    true
}

#[expect(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde's skip_serializing_if passes a reference"
)]
fn is_signed(signed: &bool) -> bool {
    *signed
}

impl Assurance {
    /// An assurance record.
    ///
    /// # Security
    ///
    /// Only code that has verified the provider's response should build one; the relying party
    /// does. Portals and tests may build one to represent a resident in a fixture.
    pub fn new(
        level: Option<Level>,
        issuer: impl Into<String>,
        source: SourceKind,
        auth_time: Option<DateTime<Utc>>,
    ) -> Self {
        Self {
            level,
            issuer: issuer.into(),
            acr: None,
            amr: Vec::new(),
            auth_time,
            source,
            signed_id_token: true,
            account_level: false,
        }
    }

    /// Records that the level is the resident's account level even though its source is
    /// [`SourceKind::IdTokenAcr`]: the login asked for a higher level and the provider could
    /// not reach it, or the level came from an ID token claim naming the account's level (a
    /// Keycloak broker's mapped claim). The relying party sets it.
    #[must_use]
    pub fn with_account_level(mut self, account_level: bool) -> Self {
        // Other sources always name the account's level; keeping the flag for `acr` alone
        // makes equal assurances compare equal.
        self.account_level = account_level && self.source == SourceKind::IdTokenAcr;
        self
    }

    /// Whether the level is the resident's *account* level rather than the level of this one
    /// login, so that signing in again cannot raise it.
    ///
    /// A claim naming the account's level (VNeID's `accountLevel`, NPSP's level field,
    /// `verified_claims`, a `vot` identity-proofing component, a document checked at the
    /// counter) says who the person is: a level-1 VNeID account becomes level 2 only after
    /// enrolment in person at the police. An `acr` answers what one login asked for: a provider
    /// that maps levels to `acr` values may authenticate the same person at a higher level
    /// when asked, unless it already answered a request for a higher level with this one.
    pub fn is_account_level(&self) -> bool {
        self.account_level || self.source != SourceKind::IdTokenAcr
    }

    /// Records whether the identity and level rest on a verified, signed ID token (`true`, the
    /// default) or only on a userinfo response (`false`: a provider profile without ID token).
    #[must_use]
    pub fn with_signed_id_token(mut self, signed: bool) -> Self {
        self.signed_id_token = signed;
        self
    }

    /// Records the `acr` value the provider returned.
    #[must_use]
    pub fn with_acr(mut self, acr: Option<String>) -> Self {
        self.acr = acr;
        self
    }

    /// Records the `amr` values the provider returned.
    #[must_use]
    pub fn with_amr(mut self, amr: Vec<String>) -> Self {
        self.amr = amr;
        self
    }

    /// The level reached, or `None` when the provider's answer showed no recognised level.
    pub fn level(&self) -> Option<Level> {
        self.level
    }

    /// Whether the level reached is at least `required`.
    pub fn meets(&self, required: Level) -> bool {
        self.level.is_some_and(|level| level >= required)
    }

    /// The issuer that authenticated the resident.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The `acr` the provider returned, as returned.
    pub fn acr(&self) -> Option<&str> {
        self.acr.as_deref()
    }

    /// The `amr` values the provider returned (for audit; never used to derive the level).
    pub fn amr(&self) -> &[String] {
        &self.amr
    }

    /// When the resident last actively authenticated, as the provider stated in its signed ID
    /// token; for a login without one ([`has_signed_id_token`](Self::has_signed_id_token) is
    /// `false`), when the login started at wardgate.
    pub fn auth_time(&self) -> Option<DateTime<Utc>> {
        self.auth_time
    }

    /// Which part of the provider's answer produced the level.
    pub fn source(&self) -> SourceKind {
        self.source
    }

    /// Whether a verified, signed ID token backed this login.
    ///
    /// `false` for providers that issue none (VNeID direct): the identity and level then come
    /// from a userinfo response received over TLS, with no signature that could be checked
    /// again later. Audit records should say so.
    pub fn has_signed_id_token(&self) -> bool {
        self.signed_id_token
    }

    /// Age of the authentication at `now`, or `None` when the provider gave no `auth_time`.
    pub fn age(&self, now: DateTime<Utc>) -> Option<chrono::Duration> {
        self.auth_time.map(|t| now - t)
    }
}

#[cfg(test)]
mod tests;
