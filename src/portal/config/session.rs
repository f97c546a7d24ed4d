//! Session timeouts (`[session]`).

use chrono::TimeDelta;

use super::env::Lookup;
use super::error::{ConfigError, SettingError, invalid};
use super::file::RawSession;
use crate::session::SessionConfig;

const DEFAULT_IDLE_MINUTES: i64 = 30;
const DEFAULT_ABSOLUTE_MINUTES: i64 = 8 * 60;
/// A week: longer sessions are a configuration mistake, not a policy.
pub(super) const MAX_SESSION_MINUTES: i64 = 7 * 24 * 60;

/// Session timeouts (`[session]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionTimeouts {
    idle_minutes: i64,
    absolute_minutes: i64,
}

impl SessionTimeouts {
    /// Minutes a session may go unused.
    pub fn idle_minutes(&self) -> i64 {
        self.idle_minutes
    }

    /// Minutes a session lasts at most.
    pub fn absolute_minutes(&self) -> i64 {
        self.absolute_minutes
    }

    /// These timeouts on the session module's defaults.
    pub fn session_config(&self) -> SessionConfig {
        SessionConfig {
            idle_timeout: TimeDelta::minutes(self.idle_minutes),
            absolute_timeout: TimeDelta::minutes(self.absolute_minutes),
            ..SessionConfig::default()
        }
    }
}

impl Default for SessionTimeouts {
    fn default() -> Self {
        Self {
            idle_minutes: DEFAULT_IDLE_MINUTES,
            absolute_minutes: DEFAULT_ABSOLUTE_MINUTES,
        }
    }
}

pub(super) fn build_session(
    cx: &Lookup<'_>,
    raw: RawSession,
) -> Result<SessionTimeouts, ConfigError> {
    let check = |value: i64, field: &'static str| {
        if (1..=MAX_SESSION_MINUTES).contains(&value) {
            Ok(value)
        } else {
            Err(invalid(
                cx.file(field),
                SettingError::TimeoutOutOfRange { value },
            ))
        }
    };
    let idle = check(
        raw.idle_minutes.unwrap_or(DEFAULT_IDLE_MINUTES),
        "session.idle_minutes",
    )?;
    let absolute = check(
        raw.absolute_minutes.unwrap_or(DEFAULT_ABSOLUTE_MINUTES),
        "session.absolute_minutes",
    )?;
    if idle > absolute {
        let field = if raw.idle_minutes.is_some() {
            "session.idle_minutes"
        } else {
            "session.absolute_minutes"
        };
        return Err(invalid(
            cx.file(field),
            SettingError::IdleExceedsAbsolute { idle, absolute },
        ));
    }
    Ok(SessionTimeouts {
        idle_minutes: idle,
        absolute_minutes: absolute,
    })
}
