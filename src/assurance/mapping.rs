//! From what a provider returned to a [`Level`]: the configurable level sources and presets.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Level, SourceKind};

/// Keycloak's built-in `acr` values: "0" for a login restored from an SSO cookie, "1" for a
/// fresh credential login. They say how fresh a login is, never who the person is.
const KEYCLOAK_DEFAULT_ACRS: [&str; 2] = ["0", "1"];

/// The claims a provider returned after they were verified, as JSON objects.
///
/// The relying party builds this from the verified ID token and the userinfo response (after
/// checking that its `sub` matches). Mapping tests build it directly.
#[derive(Clone, Copy, Debug, Default)]
#[non_exhaustive]
pub struct ReturnedClaims<'a> {
    /// The verified ID token claims, if the provider issued an ID token.
    pub id_token: Option<&'a Map<String, Value>>,
    /// The userinfo claims, if they were fetched.
    pub userinfo: Option<&'a Map<String, Value>>,
}

impl<'a> ReturnedClaims<'a> {
    /// Claims from an ID token and, optionally, a userinfo response.
    pub fn new(
        id_token: Option<&'a Map<String, Value>>,
        userinfo: Option<&'a Map<String, Value>>,
    ) -> Self {
        Self { id_token, userinfo }
    }
}

/// Where a provider states the level, and which values mean which level.
///
/// Chosen per provider. Deserialises from the gateway's TOML file, for example:
///
/// ```toml
/// source = "acr"
/// level1 = ["LoA1"]
/// level2 = ["LoA2"]
/// ```
///
/// Every constructor validates the table; deserialisation does too.
///
/// # Example
///
/// ```
/// use serde_json::json;
/// use wardgate::assurance::{AcrTable, Level, LevelSource, ReturnedClaims};
///
/// let source = LevelSource::acr(AcrTable::new(["LoA1"], ["LoA2"])?);
/// let token = json!({"acr": "LoA2"});
/// let claims = ReturnedClaims::new(token.as_object(), None);
/// assert_eq!(source.level(claims), Some(Level::Two));
///
/// let unknown = json!({"acr": "LoA9"});
/// assert_eq!(source.level(ReturnedClaims::new(unknown.as_object(), None)), None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawLevelSource", into = "RawLevelSource")]
#[non_exhaustive]
pub enum LevelSource {
    /// The ID token's `acr` claim through a table.
    IdTokenAcr(AcrTable),
    /// A named claim of the ID token through a value table (for example a claim a Keycloak
    /// broker maps from the upstream provider, while its own `acr` is ignored).
    IdTokenClaim {
        /// The claim's name.
        claim: String,
        /// Which JSON values mean which level.
        table: ValueTable,
    },
    /// A named claim of the userinfo response through a value table (VNeID's `accountLevel`).
    UserinfoClaim {
        /// The claim's name.
        claim: String,
        /// Which JSON values mean which level.
        table: ValueTable,
    },
    /// OpenID Connect for Identity Assurance `verified_claims.verification`, in the ID token or
    /// the userinfo response: the `trust_framework` must match, then `assurance_level` goes
    /// through the table.
    VerifiedClaims {
        /// The required `trust_framework` value.
        trust_framework: String,
        /// Which `assurance_level` values mean which level.
        table: ValueTable,
    },
    /// A Vectors of Trust `vot` claim in the ID token (RFC 8485): its identity-proofing (`P`)
    /// component through the table, and `vtm` must equal the trustmark when one is set.
    VectorOfTrust {
        /// The required `vtm` trustmark URL, if any.
        trustmark: Option<String>,
        /// Which `P` components (for example `"P2"`) mean which level.
        table: ValueTable,
    },
}

impl LevelSource {
    /// The ID token `acr` through `table`.
    pub fn acr(table: AcrTable) -> Self {
        Self::IdTokenAcr(table)
    }

    /// A VNeID-style provider: the userinfo claim `accountLevel`, `1` or `2` (number or string;
    /// the observed integrations do not settle the type).
    pub fn vneid() -> Self {
        Self::UserinfoClaim {
            claim: "accountLevel".to_owned(),
            table: ValueTable {
                level1: vec![Value::from(1), Value::from("1")],
                level2: vec![Value::from(2), Value::from("2")],
            },
        }
    }

    /// eIDAS levels of assurance as `acr` URIs: `low` is level 1; `substantial` and `high` are
    /// level 2 (both bind the identity strongly enough to stand for the identity card).
    pub fn eidas() -> Self {
        Self::IdTokenAcr(AcrTable {
            level1: vec!["http://eidas.europa.eu/LoA/low".to_owned()],
            level2: vec![
                "http://eidas.europa.eu/LoA/substantial".to_owned(),
                "http://eidas.europa.eu/LoA/high".to_owned(),
            ],
        })
    }

    /// FranceConnect and FranceConnect+: `eidas1` is level 1; `eidas2` and `eidas3` are level 2.
    pub fn france_connect() -> Self {
        Self::IdTokenAcr(AcrTable {
            level1: vec!["eidas1".to_owned()],
            level2: vec!["eidas2".to_owned(), "eidas3".to_owned()],
        })
    }

    /// GOV.UK One Login: `vot` with trustmark `https://oidc.account.gov.uk/trustmark`; `P1` is
    /// level 1, `P2` level 2; `P0` (no identity proved) gives no level.
    pub fn gov_uk() -> Self {
        Self::VectorOfTrust {
            trustmark: Some("https://oidc.account.gov.uk/trustmark".to_owned()),
            table: ValueTable {
                level1: vec![Value::from("P1")],
                level2: vec![Value::from("P2")],
            },
        }
    }

    /// Which kind of source this is, recorded in the [`Assurance`](super::Assurance).
    pub fn kind(&self) -> SourceKind {
        match self {
            Self::IdTokenAcr(_) | Self::IdTokenClaim { .. } => SourceKind::IdTokenAcr,
            Self::UserinfoClaim { .. } => SourceKind::UserinfoClaim,
            Self::VerifiedClaims { .. } => SourceKind::VerifiedClaims,
            Self::VectorOfTrust { .. } => SourceKind::VectorOfTrust,
        }
    }

    /// Whether the level can only be read from the userinfo response.
    pub fn needs_userinfo(&self) -> bool {
        matches!(
            self,
            Self::UserinfoClaim { .. } | Self::VerifiedClaims { .. }
        )
    }

    /// The `acr` values to request for `required`, in order of preference: the required
    /// level's values first, then higher levels'. Empty when the source is not `acr`.
    pub fn acr_values_for(&self, required: Level) -> Vec<&str> {
        match self {
            Self::IdTokenAcr(table) => table.values_at_least(required),
            _ => Vec::new(),
        }
    }

    /// The level the returned claims show, or `None` when they show no recognised level.
    ///
    /// Unknown, malformed or wrongly typed values give `None`.
    pub fn level(&self, claims: ReturnedClaims<'_>) -> Option<Level> {
        match self {
            Self::IdTokenAcr(table) => match claims.id_token?.get("acr")? {
                Value::String(acr) => table.level(acr),
                _ => None,
            },
            Self::IdTokenClaim { claim, table } => table.level(claims.id_token?.get(claim)?),
            Self::UserinfoClaim { claim, table } => table.level(claims.userinfo?.get(claim)?),
            Self::VerifiedClaims {
                trust_framework,
                table,
            } => {
                // Prefer the userinfo response, which providers use for identity data; an ID
                // token's verified_claims count too. Both are verified before we get here.
                let from = |map: Option<&Map<String, Value>>| {
                    verified_claims_level(map?.get("verified_claims")?, trust_framework, table)
                };
                from(claims.userinfo).or_else(|| from(claims.id_token))
            }
            Self::VectorOfTrust { trustmark, table } => {
                let token = claims.id_token?;
                if let Some(expected) = trustmark
                    && token.get("vtm").and_then(Value::as_str) != Some(expected.as_str())
                {
                    return None;
                }
                let vot = token.get("vot")?.as_str()?;
                // RFC 8485 §3: components joined by '.'; take the identity-proofing one.
                let mut proofing = vot.split('.').filter(|c| c.starts_with('P'));
                let component = proofing.next()?;
                if proofing.next().is_some() {
                    return None;
                }
                table.level(&Value::from(component))
            }
        }
    }
}

/// `verified_claims` may be one object or an array of them (OIDC4IDA §5); the highest level
/// whose trust framework matches wins.
fn verified_claims_level(
    value: &Value,
    trust_framework: &str,
    table: &ValueTable,
) -> Option<Level> {
    let one = |item: &Value| {
        let verification = item.get("verification")?;
        if verification.get("trust_framework")?.as_str()? != trust_framework {
            return None;
        }
        table.level(verification.get("assurance_level")?)
    };
    match value {
        Value::Array(items) => items.iter().filter_map(one).max(),
        Value::Object(_) => one(value),
        _ => None,
    }
}

/// Which `acr` strings mean level 1 and level 2.
///
/// Validated: values are non-empty, contain no whitespace (`acr_values` is space-separated),
/// appear at most once, and level 2 has at least one value. Plain numbers such as `"1"` and
/// `"2"` are allowed: some providers send them as their levels. Only a Keycloak broker's
/// `"0"`/`"1"` mean something else; [`ProviderProfile::check_level_source`] refuses them for
/// the `keycloak-broker` profile and [`keycloak_default_values`](Self::keycloak_default_values)
/// lets a gateway warn about them elsewhere.
///
/// [`ProviderProfile::check_level_source`]: crate::oidc::ProviderProfile::check_level_source
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AcrTable {
    level1: Vec<String>,
    level2: Vec<String>,
}

impl AcrTable {
    /// A table from the values for level 1 and level 2.
    ///
    /// # Errors
    ///
    /// [`LevelSourceError`] when a value is empty, has whitespace or repeats, or when level 2
    /// has no value.
    pub fn new<I1, I2, S1, S2>(level1: I1, level2: I2) -> Result<Self, LevelSourceError>
    where
        I1: IntoIterator<Item = S1>,
        I2: IntoIterator<Item = S2>,
        S1: Into<String>,
        S2: Into<String>,
    {
        let table = Self {
            level1: level1.into_iter().map(Into::into).collect(),
            level2: level2.into_iter().map(Into::into).collect(),
        };
        table.validate()?;
        Ok(table)
    }

    /// The values that mean level 1.
    pub fn level1(&self) -> &[String] {
        &self.level1
    }

    /// The values that mean level 2; these are requested for level 2.
    pub fn level2(&self) -> &[String] {
        &self.level2
    }

    /// The level `acr` means, if any. Comparison is exact (case-sensitive), as `acr` values are.
    pub fn level(&self, acr: &str) -> Option<Level> {
        if self.level2.iter().any(|v| v == acr) {
            Some(Level::Two)
        } else if self.level1.iter().any(|v| v == acr) {
            Some(Level::One)
        } else {
            None
        }
    }

    /// The values of this table that are also Keycloak's default `acr` values (`"0"`, `"1"`),
    /// which a Keycloak realm sends for login freshness, not identity.
    pub fn keycloak_default_values(&self) -> Vec<&str> {
        self.level1
            .iter()
            .chain(&self.level2)
            .map(String::as_str)
            .filter(|value| KEYCLOAK_DEFAULT_ACRS.contains(value))
            .collect()
    }

    pub(crate) fn values_at_least(&self, required: Level) -> Vec<&str> {
        let mut values: Vec<&str> = Vec::new();
        if required == Level::One {
            values.extend(self.level1.iter().map(String::as_str));
        }
        values.extend(self.level2.iter().map(String::as_str));
        values
    }

    fn validate(&self) -> Result<(), LevelSourceError> {
        if self.level2.is_empty() {
            return Err(LevelSourceError::NoLevel2Value);
        }
        let mut seen: Vec<&str> = Vec::new();
        for value in self.level1.iter().chain(&self.level2) {
            if value.is_empty() || value.chars().any(char::is_whitespace) {
                return Err(LevelSourceError::MalformedValue {
                    value: value.clone(),
                });
            }
            if seen.contains(&value.as_str()) {
                return Err(LevelSourceError::DuplicateValue {
                    value: value.clone(),
                });
            }
            seen.push(value);
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for AcrTable {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            #[serde(default)]
            level1: Vec<String>,
            level2: Vec<String>,
        }
        let raw = Raw::deserialize(deserializer)?;
        Self::new(raw.level1, raw.level2).map_err(serde::de::Error::custom)
    }
}

/// Which JSON values of a claim mean level 1 and level 2.
///
/// Matching is exact on the JSON value: the string `"2"` and the number `2` are different
/// values, so a table lists every form it accepts. Values must be strings or integers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValueTable {
    #[serde(default)]
    level1: Vec<Value>,
    level2: Vec<Value>,
}

impl ValueTable {
    /// A table from the values for level 1 and level 2.
    ///
    /// # Errors
    ///
    /// [`LevelSourceError`] when a value is neither a string nor an integer, repeats, or when
    /// level 2 has no value.
    pub fn new(level1: Vec<Value>, level2: Vec<Value>) -> Result<Self, LevelSourceError> {
        let table = Self { level1, level2 };
        table.validate()?;
        Ok(table)
    }

    /// The level `value` means, if any.
    pub fn level(&self, value: &Value) -> Option<Level> {
        if self.level2.contains(value) {
            Some(Level::Two)
        } else if self.level1.contains(value) {
            Some(Level::One)
        } else {
            None
        }
    }

    fn validate(&self) -> Result<(), LevelSourceError> {
        if self.level2.is_empty() {
            return Err(LevelSourceError::NoLevel2Value);
        }
        let mut seen: Vec<&Value> = Vec::new();
        for value in self.level1.iter().chain(&self.level2) {
            let well_formed = match value {
                Value::String(s) => !s.is_empty(),
                Value::Number(n) => n.is_i64() || n.is_u64(),
                _ => false,
            };
            if !well_formed {
                return Err(LevelSourceError::MalformedValue {
                    value: value.to_string(),
                });
            }
            if seen.contains(&value) {
                return Err(LevelSourceError::DuplicateValue {
                    value: value.to_string(),
                });
            }
            seen.push(value);
        }
        Ok(())
    }
}

/// A level source's table is invalid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LevelSourceError {
    /// No value means level 2, so level 2 could never be reached or requested.
    #[error("no value is given for level 2")]
    NoLevel2Value,
    /// A value is empty, has whitespace, or is neither a string nor an integer.
    #[error("value `{value}` is malformed: use a non-empty string without spaces, or an integer")]
    MalformedValue {
        /// The value, as written.
        value: String,
    },
    /// A value appears twice.
    #[error("value `{value}` appears more than once")]
    DuplicateValue {
        /// The value, as written.
        value: String,
    },
    /// Keycloak's default `acr` ("0" cookie login, "1" fresh login) says nothing about identity:
    /// refused for the `keycloak-broker` profile.
    #[error(
        "acr value `{value}` is Keycloak's default login-freshness value, not an identity level; \
         map the level from a claim instead"
    )]
    KeycloakDefaultAcr {
        /// The value, as written.
        value: String,
    },
    /// A claim name is empty.
    #[error("the claim name is empty")]
    EmptyClaim,
}

/// The TOML/JSON form of a [`LevelSource`].
#[derive(Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case", deny_unknown_fields)]
enum RawLevelSource {
    Acr {
        #[serde(default)]
        level1: Vec<String>,
        level2: Vec<String>,
    },
    IdTokenClaim {
        claim: String,
        #[serde(default)]
        level1: Vec<Value>,
        level2: Vec<Value>,
    },
    UserinfoClaim {
        claim: String,
        #[serde(default)]
        level1: Vec<Value>,
        level2: Vec<Value>,
    },
    VerifiedClaims {
        trust_framework: String,
        #[serde(default)]
        level1: Vec<Value>,
        level2: Vec<Value>,
    },
    VectorOfTrust {
        #[serde(default)]
        trustmark: Option<String>,
        #[serde(default)]
        level1: Vec<Value>,
        level2: Vec<Value>,
    },
    Preset {
        preset: Preset,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Preset {
    Vneid,
    Eidas,
    FranceConnect,
    GovUk,
}

fn non_empty(claim: String) -> Result<String, LevelSourceError> {
    if claim.is_empty() {
        Err(LevelSourceError::EmptyClaim)
    } else {
        Ok(claim)
    }
}

impl TryFrom<RawLevelSource> for LevelSource {
    type Error = LevelSourceError;

    fn try_from(raw: RawLevelSource) -> Result<Self, Self::Error> {
        Ok(match raw {
            RawLevelSource::Acr { level1, level2 } => {
                Self::IdTokenAcr(AcrTable::new(level1, level2)?)
            }
            RawLevelSource::IdTokenClaim {
                claim,
                level1,
                level2,
            } => Self::IdTokenClaim {
                claim: non_empty(claim)?,
                table: ValueTable::new(level1, level2)?,
            },
            RawLevelSource::UserinfoClaim {
                claim,
                level1,
                level2,
            } => Self::UserinfoClaim {
                claim: non_empty(claim)?,
                table: ValueTable::new(level1, level2)?,
            },
            RawLevelSource::VerifiedClaims {
                trust_framework,
                level1,
                level2,
            } => Self::VerifiedClaims {
                trust_framework: non_empty(trust_framework)?,
                table: ValueTable::new(level1, level2)?,
            },
            RawLevelSource::VectorOfTrust {
                trustmark,
                level1,
                level2,
            } => Self::VectorOfTrust {
                trustmark,
                table: ValueTable::new(level1, level2)?,
            },
            RawLevelSource::Preset { preset } => match preset {
                Preset::Vneid => Self::vneid(),
                Preset::Eidas => Self::eidas(),
                Preset::FranceConnect => Self::france_connect(),
                Preset::GovUk => Self::gov_uk(),
            },
        })
    }
}

impl From<LevelSource> for RawLevelSource {
    fn from(source: LevelSource) -> Self {
        match source {
            LevelSource::IdTokenAcr(AcrTable { level1, level2 }) => Self::Acr { level1, level2 },
            LevelSource::IdTokenClaim { claim, table } => Self::IdTokenClaim {
                claim,
                level1: table.level1,
                level2: table.level2,
            },
            LevelSource::UserinfoClaim { claim, table } => Self::UserinfoClaim {
                claim,
                level1: table.level1,
                level2: table.level2,
            },
            LevelSource::VerifiedClaims {
                trust_framework,
                table,
            } => Self::VerifiedClaims {
                trust_framework,
                level1: table.level1,
                level2: table.level2,
            },
            LevelSource::VectorOfTrust { trustmark, table } => Self::VectorOfTrust {
                trustmark,
                level1: table.level1,
                level2: table.level2,
            },
        }
    }
}
