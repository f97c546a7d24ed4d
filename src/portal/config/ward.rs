//! The ward served (`[ward]`) and who is its staff (`[staff]`).

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::env::Lookup;
use super::error::{ConfigError, SettingError, invalid};
use super::file::{RawStaff, RawWard};

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

/// Who is ward staff (`[staff]`): listed subject pseudonyms, or a role claim.
#[derive(Clone, Debug, Default)]
pub struct StaffConfig {
    subjects: Vec<String>,
    role: Option<(String, String)>,
}

impl StaffConfig {
    /// Staff are the listed subject pseudonyms, plus whoever carries `role` (claim name and
    /// value) in their verified claims.
    pub fn new(subjects: Vec<String>, role: Option<(String, String)>) -> Self {
        Self { subjects, role }
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
        if self.subjects.iter().any(|s| s == subject) {
            return true;
        }
        let Some((claim, value)) = self.role_claim() else {
            return false;
        };
        match claims.get(claim) {
            Some(Value::String(s)) => s == value,
            Some(Value::Array(items)) => items.iter().any(|item| item.as_str() == Some(value)),
            _ => false,
        }
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
    Ok(StaffConfig {
        subjects: raw.subjects,
        role,
    })
}
