//! The ward served (`[ward]`) and who is its staff (`[staff]`).

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::env::Lookup;
use super::error::{ConfigError, SettingError, invalid};
use super::file::{RawAssisted, RawStaff, RawWard};
use super::session::MAX_SESSION_MINUTES;

const DEFAULT_CATALOG: &str = "samples/catalog.toml";
const DEFAULT_DIRECTORY: &str = "samples/wards.toml";

/// The ward served and where its data is read from (`[ward]`).
#[derive(Clone, Debug)]
pub struct WardConfig {
    code: Option<String>,
    catalog: PathBuf,
    directory: PathBuf,
}

impl WardConfig {
    /// The 5-digit commune-level unit code of the default ward (Decision 19/2025/QĐ-TTg), if set;
    /// otherwise the directory's ward is used.
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }

    /// The procedure catalog file.
    pub fn catalog(&self) -> &Path {
        &self.catalog
    }

    /// The ward directory file (service centres, hours, checklists).
    pub fn directory(&self) -> &Path {
        &self.directory
    }
}

/// Who is ward staff (`[staff]`): listed subject pseudonyms, or a role claim; and how long a
/// staff sign-in lasts.
#[derive(Clone, Debug)]
pub struct StaffConfig {
    subjects: Vec<String>,
    role: Option<(String, String)>,
    role_provider: Option<String>,
    role_from_userinfo: bool,
    idle_minutes: i64,
    absolute_minutes: i64,
    max_auth_age_minutes: i64,
    assisted_idle_minutes: i64,
}

/// Minutes a resident session on an assisted device may go unused, by default.
const DEFAULT_ASSISTED_IDLE_MINUTES: i64 = 5;
/// The longest assisted idle time: an hour on a shared device is already long.
const MAX_ASSISTED_IDLE_MINUTES: i64 = 60;
/// The variable overriding `assisted.idle_minutes`.
const ENV_ASSISTED_IDLE_MINUTES: &str = "WARDGATE_ASSISTED_IDLE_MINUTES";

/// Minutes a staff session may go unused, by default.
const DEFAULT_STAFF_IDLE_MINUTES: i64 = 15;
/// Minutes a staff session lasts at most, by default (a working day).
const DEFAULT_STAFF_ABSOLUTE_MINUTES: i64 = 8 * 60;
/// How recent a staff member's authentication at the provider must be, by default.
const DEFAULT_STAFF_MAX_AUTH_AGE_MINUTES: i64 = 5;

impl Default for StaffConfig {
    fn default() -> Self {
        Self {
            subjects: Vec::new(),
            role: None,
            role_provider: None,
            role_from_userinfo: false,
            idle_minutes: DEFAULT_STAFF_IDLE_MINUTES,
            absolute_minutes: DEFAULT_STAFF_ABSOLUTE_MINUTES,
            max_auth_age_minutes: DEFAULT_STAFF_MAX_AUTH_AGE_MINUTES,
            assisted_idle_minutes: DEFAULT_ASSISTED_IDLE_MINUTES,
        }
    }
}

impl StaffConfig {
    /// Staff are the listed subject pseudonyms, plus whoever carries `role` (claim name and
    /// value) in their verified claims.
    pub fn new(subjects: Vec<String>, role: Option<(String, String)>) -> Self {
        Self {
            subjects,
            role,
            ..Self::default()
        }
    }

    /// The provider whose logins may carry the role claim (`staff.role_provider`; default: the
    /// first provider). A role claim from any other provider never counts.
    #[must_use]
    pub fn role_provider(mut self, provider: impl Into<String>) -> Self {
        self.role_provider = Some(provider.into());
        self
    }

    /// Whether the role claim counts from userinfo, not only from the signed ID token
    /// (`staff.role_from_userinfo`; default `false`): for a provider whose userinfo the
    /// operator trusts for it.
    #[must_use]
    pub fn role_from_userinfo(mut self, trusted: bool) -> Self {
        self.role_from_userinfo = trusted;
        self
    }

    /// Staff session timeouts and the freshness of a staff sign-in, in minutes.
    #[must_use]
    pub fn timeouts(mut self, idle: i64, absolute: i64, max_auth_age: i64) -> Self {
        self.idle_minutes = idle;
        self.absolute_minutes = absolute;
        self.max_auth_age_minutes = max_auth_age;
        self
    }

    /// Minutes a resident session on an assisted device may go unused before the server ends
    /// it (`assisted.idle_minutes`, `WARDGATE_ASSISTED_IDLE_MINUTES`; default 5).
    #[must_use]
    pub fn assisted_idle(mut self, minutes: i64) -> Self {
        self.assisted_idle_minutes = minutes;
        self
    }

    /// Minutes a resident session on an assisted device may go unused (default 5).
    pub fn assisted_idle_minutes(&self) -> i64 {
        self.assisted_idle_minutes
    }

    /// The provider named for the role claim, if one is (`None`: the first provider).
    pub fn role_provider_id(&self) -> Option<&str> {
        self.role_provider.as_deref()
    }

    /// Whether the role claim counts from userinfo.
    pub fn role_trusts_userinfo(&self) -> bool {
        self.role_from_userinfo
    }

    /// Minutes a staff session may go unused (default 15).
    pub fn idle_minutes(&self) -> i64 {
        self.idle_minutes
    }

    /// Minutes a staff session lasts at most (default 480).
    pub fn absolute_minutes(&self) -> i64 {
        self.absolute_minutes
    }

    /// How many minutes old a staff member's authentication may be at sign-in (default 5).
    pub fn max_auth_age_minutes(&self) -> i64 {
        self.max_auth_age_minutes
    }

    /// Whether `subject` is on the staff list.
    pub fn lists(&self, subject: &str) -> bool {
        self.subjects.iter().any(|s| s == subject)
    }

    /// Whether `claims` carry the configured role.
    pub fn role_in(&self, claims: &Map<String, Value>) -> bool {
        let Some((claim, value)) = self.role_claim() else {
            return false;
        };
        match claims.get(claim) {
            Some(Value::String(s)) => s == value,
            Some(Value::Array(items)) => items.iter().any(|item| item.as_str() == Some(value)),
            _ => false,
        }
    }

    /// Whether no staff member can ever match (no subjects and no role).
    pub fn is_empty(&self) -> bool {
        self.subjects.is_empty() && self.role.is_none()
    }

    /// The subject pseudonyms (keyed hashes of `sub`) of staff members.
    pub fn subjects(&self) -> &[String] {
        &self.subjects
    }

    /// The claim name and value that mark staff, if configured.
    pub fn role_claim(&self) -> Option<(&str, &str)> {
        self.role.as_ref().map(|(c, v)| (c.as_str(), v.as_str()))
    }

    /// Whether `subject` (a pseudonym) with verified `claims` is staff: it is listed, or the role
    /// claim equals the role value or is an array containing it.
    pub fn is_staff(&self, subject: &str, claims: &Map<String, Value>) -> bool {
        self.lists(subject) || self.role_in(claims)
    }
}

pub(super) fn build_ward(
    cx: &Lookup<'_>,
    raw: RawWard,
    file_dir: &Path,
    defaults_base: Option<&Path>,
) -> Result<WardConfig, ConfigError> {
    let code = match raw.code {
        Some(code) => {
            let valid =
                code.len() == 5 && code.bytes().all(|b| b.is_ascii_digit()) && code != "00000";
            if !valid {
                return Err(invalid(
                    cx.file("ward.code"),
                    SettingError::InvalidWardCode { value: code },
                ));
            }
            Some(code)
        }
        None => None,
    };
    let path = |value: Option<String>, field: &'static str, default: &str| match value {
        Some(value) if value.trim().is_empty() => Err(invalid(cx.file(field), SettingError::Empty)),
        Some(value) if Path::new(&value).is_relative() => Ok(file_dir.join(value)),
        Some(value) => Ok(PathBuf::from(value)),
        None => Ok(defaults_base.map_or_else(|| PathBuf::from(default), |b| b.join(default))),
    };
    Ok(WardConfig {
        code,
        catalog: path(raw.catalog, "ward.catalog", DEFAULT_CATALOG)?,
        directory: path(raw.directory, "ward.directory", DEFAULT_DIRECTORY)?,
    })
}

pub(super) fn build_staff(cx: &Lookup<'_>, raw: RawStaff) -> Result<StaffConfig, ConfigError> {
    if raw.subjects.iter().any(|s| s.trim().is_empty()) {
        return Err(invalid(cx.file("staff.subjects"), SettingError::Empty));
    }
    let role = match (raw.role_claim, raw.role_value) {
        (None, None) => None,
        (Some(claim), Some(value)) => {
            if claim.trim().is_empty() {
                return Err(invalid(cx.file("staff.role_claim"), SettingError::Empty));
            }
            if value.trim().is_empty() {
                return Err(invalid(cx.file("staff.role_value"), SettingError::Empty));
            }
            Some((claim, value))
        }
        (Some(_), None) => {
            return Err(invalid(
                cx.file("staff.role_value"),
                SettingError::IncompleteStaffRole,
            ));
        }
        (None, Some(_)) => {
            return Err(invalid(
                cx.file("staff.role_claim"),
                SettingError::IncompleteStaffRole,
            ));
        }
    };
    if raw
        .role_provider
        .as_deref()
        .is_some_and(|p| p.trim().is_empty())
    {
        return Err(invalid(cx.file("staff.role_provider"), SettingError::Empty));
    }
    // Timeouts are at least a minute; a zero authentication age asks for a login right now.
    let minutes = |value: Option<i64>, default: i64, least: i64, field: &'static str| {
        let value = value.unwrap_or(default);
        if (least..=MAX_SESSION_MINUTES).contains(&value) {
            Ok(value)
        } else {
            Err(invalid(
                cx.file(field),
                SettingError::TimeoutOutOfRange { value },
            ))
        }
    };
    let idle = minutes(
        raw.idle_minutes,
        DEFAULT_STAFF_IDLE_MINUTES,
        1,
        "staff.idle_minutes",
    )?;
    let absolute = minutes(
        raw.absolute_minutes,
        DEFAULT_STAFF_ABSOLUTE_MINUTES,
        1,
        "staff.absolute_minutes",
    )?;
    let max_auth_age = minutes(
        raw.max_auth_age_minutes,
        DEFAULT_STAFF_MAX_AUTH_AGE_MINUTES,
        0,
        "staff.max_auth_age_minutes",
    )?;
    if idle > absolute {
        let field = if raw.idle_minutes.is_some() {
            "staff.idle_minutes"
        } else {
            "staff.absolute_minutes"
        };
        return Err(invalid(
            cx.file(field),
            SettingError::IdleExceedsAbsolute { idle, absolute },
        ));
    }
    Ok(StaffConfig {
        subjects: raw.subjects,
        role,
        role_provider: raw.role_provider,
        role_from_userinfo: raw.role_from_userinfo.unwrap_or(false),
        idle_minutes: idle,
        absolute_minutes: absolute,
        max_auth_age_minutes: max_auth_age,
        // `[assisted]` is its own table: the loader sets it (`build_assisted`).
        assisted_idle_minutes: DEFAULT_ASSISTED_IDLE_MINUTES,
    })
}

/// The assisted-device settings (`[assisted]`): the idle minutes, 1 to 60.
pub(super) fn build_assisted(cx: &Lookup<'_>, raw: RawAssisted) -> Result<i64, ConfigError> {
    Ok(super::values::number(
        cx,
        Some(ENV_ASSISTED_IDLE_MINUTES),
        raw.idle_minutes,
        "assisted.idle_minutes",
        (1, MAX_ASSISTED_IDLE_MINUTES),
    )?
    .unwrap_or(DEFAULT_ASSISTED_IDLE_MINUTES))
}
