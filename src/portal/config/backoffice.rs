//! The secrets the back office signs its status reports with.

use super::env::{ENV_BACKOFFICE_STATUS_KEYS, Lookup};
use super::error::{ConfigError, SettingError, invalid};
use crate::submission::status::BackOfficeKey;

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
