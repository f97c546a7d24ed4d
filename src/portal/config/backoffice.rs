//! The back office: the secrets it signs its status reports with, and the outbox lease.

use std::time::Duration;

use super::env::{ENV_BACKOFFICE_STATUS_KEYS, ENV_OUTBOX_LEASE_SECONDS, Lookup};
use super::error::{ConfigError, SettingError, invalid};
use super::values::number;
use crate::submission::status::BackOfficeKey;

/// The outbox's default lease: five minutes.
pub(super) const DEFAULT_OUTBOX_LEASE: Duration = Duration::from_secs(300);
/// Shorter than 30 s would not cover one slow delivery; longer than an hour leaves a crashed
/// instance's dossiers waiting for no reason.
const OUTBOX_LEASE_RANGE: (i64, i64) = (30, 3600);

/// How long one instance's claimed outbox entries stay hidden from the others: after a crash,
/// another instance delivers them once it has passed.
pub(super) fn build_outbox_lease(
    cx: &Lookup<'_>,
    from_file: Option<i64>,
) -> Result<Duration, ConfigError> {
    let seconds = number(
        cx,
        Some(ENV_OUTBOX_LEASE_SECONDS),
        from_file,
        "outbox_lease_seconds",
        OUTBOX_LEASE_RANGE,
    )?;
    Ok(seconds
        .and_then(|s| u64::try_from(s).ok())
        .map_or(DEFAULT_OUTBOX_LEASE, Duration::from_secs))
}

/// The status-report keys: hex secrets of at least 32 bytes, several during a rotation (the
/// variable comma-separated, the file's field an array). None configured is an empty list.
/// A malformed key refuses the configuration without echoing it.
pub(super) fn build_status_keys(
    cx: &Lookup<'_>,
    from_file: Option<Vec<String>>,
) -> Result<Vec<BackOfficeKey>, ConfigError> {
    let Some(setting) = cx.lookup_list(
        ENV_BACKOFFICE_STATUS_KEYS,
        from_file,
        "backoffice_status_keys",
    )?
    else {
        return Ok(Vec::new());
    };
    setting
        .value
        .iter()
        .map(|hex| {
            decode_hex(hex.trim())
                .and_then(|bytes| BackOfficeKey::new(&bytes).ok())
                .ok_or_else(|| invalid(setting.origin.clone(), SettingError::BackOfficeStatusKey))
        })
        .collect()
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    text.as_bytes()
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok())
        .collect()
}
