//! The resident's identity attributes, read from userinfo under each profile's names.

use std::fmt;

use chrono::NaiveDate;
use serde_json::{Map, Value};

use super::ProviderProfile;

/// The identity attributes a provider returned, whatever names it used for them.
///
/// NPSP sends `HoVaTen`, `SoDinhDanh`, `NgayThangNamSinh` (`YYYYMMDD`) and `LoaiTaiKhoan`;
/// VNeID and the simulator send `fullName`, `citizenPid`, `birthDate` (`YYYY-MM-DD`) and
/// `accountType`; a standard provider sends `name` and `birthdate`. A value that is missing or
/// malformed is `None`: a personal ID number must be 12 digits, a date a real date.
///
/// The account type is reported as sent and is never a level.
///
/// # Security
///
/// Personal data: use it to prefill the resident's dossier, never log or keep it. `Debug` prints
/// only which attributes are present.
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResidentIdentity {
    /// The full name, with diacritics as sent.
    pub full_name: Option<String>,
    /// The 12-digit personal identification number (số định danh cá nhân).
    pub personal_id: Option<String>,
    /// The date of birth.
    pub birth_date: Option<NaiveDate>,
    /// The account type as the provider sent it (NPSP `LoaiTaiKhoan`, VNeID `accountType`).
    pub account_type: Option<String>,
}

impl fmt::Debug for ResidentIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let present = |value: bool| if value { "[redacted]" } else { "none" };
        f.debug_struct("ResidentIdentity")
            .field("full_name", &present(self.full_name.is_some()))
            .field("personal_id", &present(self.personal_id.is_some()))
            .field("birth_date", &present(self.birth_date.is_some()))
            .field("account_type", &self.account_type)
            .finish()
    }
}

impl ResidentIdentity {
    /// Reads the attributes from `userinfo` under `profile`'s names.
    pub fn from_userinfo(profile: ProviderProfile, userinfo: &Map<String, Value>) -> Self {
        let text = |names: &[&str]| {
            names.iter().find_map(|name| match userinfo.get(*name) {
                Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            })
        };
        let (name, id, birth, account): (&[&str], &[&str], &[&str], &[&str]) = match profile {
            ProviderProfile::Npsp => (
                &["HoVaTen"],
                &["SoDinhDanh"],
                &["NgayThangNamSinh"],
                &["LoaiTaiKhoan"],
            ),
            ProviderProfile::Standard
            | ProviderProfile::VneidDirect
            | ProviderProfile::KeycloakBroker => (
                &["fullName", "name"],
                &["citizenPid"],
                &["birthDate", "birthdate"],
                &["accountType"],
            ),
        };
        Self {
            full_name: text(name),
            personal_id: text(id)
                .filter(|id| id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit())),
            birth_date: text(birth).and_then(|date| parse_date(&date)),
            account_type: text(account),
        }
    }
}

/// `YYYY-MM-DD` (OIDC Core 5.1, VNeID) or `YYYYMMDD` (NPSP).
fn parse_date(value: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(value, "%Y%m%d"))
        .ok()
}
