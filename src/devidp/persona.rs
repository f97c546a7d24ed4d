//! The personas a developer picks from on the simulator's sign-in page.

use std::fmt;

use chrono::NaiveDate;

use crate::assurance::Level;

/// A scripted resident (or failure) offered on the simulator's sign-in page.
///
/// The default set is [`Persona::defaults`]; their ids are stable and used by tests and the
/// example gateway.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Persona {
    /// Stable id, the value of the `persona` form field (for example `level2`).
    pub id: String,
    /// Label shown on the sign-in page, in Vietnamese.
    pub label_vi: String,
    /// Label shown on the sign-in page, in English.
    pub label_en: String,
    /// What happens when this persona is chosen.
    pub outcome: PersonaOutcome,
}

/// What the simulator answers when a persona is chosen.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum PersonaOutcome {
    /// The resident signs in with an account of `level`; the client receives a code.
    Authenticates {
        /// The level of the resident's account: the highest `acr` the persona can reach, and
        /// the userinfo `accountLevel`.
        level: Level,
        /// The resident's (fake) identity.
        identity: Identity,
    },
    /// The sign-in ends with an OAuth error sent back to the client.
    Denies {
        /// The `error` code.
        error: DenialError,
        /// The `error_description` (ASCII, RFC 6749 §4.1.2.1).
        description: String,
    },
}

/// The OAuth 2.0 error a denying persona sends back (RFC 6749 §4.1.2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DenialError {
    /// `access_denied`: the resident or the provider refused.
    AccessDenied,
    /// `temporarily_unavailable`: the provider is overloaded or under maintenance.
    TemporarilyUnavailable,
    /// `server_error`: the provider failed unexpectedly.
    ServerError,
}

impl DenialError {
    /// The error code as sent on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AccessDenied => "access_denied",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::ServerError => "server_error",
        }
    }
}

/// A persona's identity data, as the userinfo endpoint returns it.
///
/// All default values are fake (see the module documentation). `Debug` prints only the
/// subject, so identity data does not reach logs even when it is real-looking.
#[derive(Clone)]
#[non_exhaustive]
pub struct Identity {
    /// The pairwise-style subject identifier (`sub`); never the personal ID number.
    pub sub: String,
    /// The 12-digit personal identification number (`citizenPid`).
    pub citizen_pid: String,
    /// The full name with diacritics (`fullName` and `name`).
    pub full_name: String,
    /// The date of birth (`birthDate`, as `YYYY-MM-DD`).
    pub birth_date: NaiveDate,
    /// Roles sent in the userinfo `roles` claim (for example `ward_officer` for staff); none
    /// for residents.
    pub roles: Vec<String>,
}

impl Identity {
    /// An identity.
    pub fn new(
        sub: impl Into<String>,
        citizen_pid: impl Into<String>,
        full_name: impl Into<String>,
        birth_date: NaiveDate,
    ) -> Self {
        Self {
            sub: sub.into(),
            citizen_pid: citizen_pid.into(),
            full_name: full_name.into(),
            birth_date,
            roles: Vec::new(),
        }
    }

    /// The userinfo `roles` of this identity.
    pub fn roles(&self) -> &[String] {
        &self.roles
    }

    /// The same identity with userinfo `roles`.
    #[must_use]
    pub fn with_roles<I: IntoIterator<Item = S>, S: Into<String>>(mut self, roles: I) -> Self {
        self.roles = roles.into_iter().map(Into::into).collect();
        self
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("sub", &self.sub)
            .field("citizen_pid", &"[redacted]")
            .field("full_name", &"[redacted]")
            .field("birth_date", &"[redacted]")
            .field("roles", &self.roles)
            .finish()
    }
}

impl Persona {
    /// A persona that signs in with an account of `level`.
    pub fn authenticates(
        id: impl Into<String>,
        label_vi: impl Into<String>,
        label_en: impl Into<String>,
        level: Level,
        identity: Identity,
    ) -> Self {
        Self {
            id: id.into(),
            label_vi: label_vi.into(),
            label_en: label_en.into(),
            outcome: PersonaOutcome::Authenticates { level, identity },
        }
    }

    /// A persona whose sign-in ends with `error` and `description` (ASCII).
    pub fn denies(
        id: impl Into<String>,
        label_vi: impl Into<String>,
        label_en: impl Into<String>,
        error: DenialError,
        description: impl Into<String>,
    ) -> Self {
        Self {
            id: id.into(),
            label_vi: label_vi.into(),
            label_en: label_en.into(),
            outcome: PersonaOutcome::Denies {
                error,
                description: description.into(),
            },
        }
    }

    /// The default personas: `level2`, `level1`, `cancel`, `error`, `no_eid`, in that order.
    pub fn defaults() -> Vec<Self> {
        vec![
            Self::authenticates(
                "level2",
                "Công dân có tài khoản định danh điện tử mức độ 2",
                "Resident with a level 2 e-identity account",
                Level::Two,
                Identity::new(
                    "devidp-p2-7f3a91c4e0b25d68",
                    "000187004821",
                    "Nguyễn Thị Thu Hà",
                    date(1987, 3, 14),
                ),
            ),
            Self::authenticates(
                "level1",
                "Công dân có tài khoản định danh điện tử mức độ 1",
                "Resident with a level 1 e-identity account",
                Level::One,
                Identity::new(
                    "devidp-p1-2c8e5b07d9a4f163",
                    "000201007356",
                    "Trần Văn Minh",
                    date(2001, 9, 2),
                ),
            ),
            Self::authenticates(
                "officer",
                "Cán bộ Trung tâm Phục vụ hành chính công (trang dành cho cán bộ)",
                "Public Administrative Service Center officer (staff pages)",
                Level::Two,
                Identity::new(
                    "devidp-staff-9d41c7a2e85b3f06",
                    "000190002417",
                    "Lê Hoàng Nam",
                    date(1990, 6, 21),
                )
                .with_roles([STAFF_ROLE]),
            ),
            Self::denies(
                "cancel",
                "Công dân hủy đăng nhập",
                "Resident cancels the sign-in",
                DenialError::AccessDenied,
                "the resident cancelled the sign-in",
            ),
            Self::denies(
                "error",
                "Hệ thống định danh tạm thời gián đoạn",
                "Identity provider temporarily unavailable",
                DenialError::TemporarilyUnavailable,
                "the identity provider is temporarily unavailable",
            ),
            Self::denies(
                "no_eid",
                "Tôi chưa có tài khoản định danh điện tử (VNeID)",
                "I have no VNeID account",
                DenialError::AccessDenied,
                "the resident has no VNeID account",
            ),
        ]
    }

    /// The identity and level, when this persona signs in.
    pub(crate) fn account(&self) -> Option<(Level, &Identity)> {
        match &self.outcome {
            PersonaOutcome::Authenticates { level, identity } => Some((*level, identity)),
            PersonaOutcome::Denies { .. } => None,
        }
    }
}

/// The role the `officer` persona carries in userinfo `roles`.
pub const STAFF_ROLE: &str = "ward_officer";

fn date(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day).unwrap_or_default()
}
