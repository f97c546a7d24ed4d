//! The TOML file as written: every field optional, unknown fields refused.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::env::Setting;
use super::error::{ConfigError, Origin};
use crate::assurance::LevelSource;
use crate::i18n::LocalText;

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFile {
    pub(super) bind: Option<String>,
    pub(super) public_url: Option<String>,
    pub(super) database_url: Option<String>,
    pub(super) data_dir: Option<String>,
    pub(super) backoffice_url: Option<String>,
    pub(super) backoffice_status_keys: Option<Vec<String>>,
    pub(super) outbox_lease_seconds: Option<i64>,
    pub(super) metrics_bind: Option<String>,
    pub(super) metrics_token: Option<String>,
    pub(super) stats_token: Option<String>,
    pub(super) provider: Option<RawProvider>,
    pub(super) providers: Option<Vec<RawProviderTable>>,
    #[serde(default)]
    pub(super) ward: RawWard,
    #[serde(default)]
    pub(super) staff: RawStaff,
    #[serde(default)]
    pub(super) session: RawSession,
    #[serde(default)]
    pub(super) assisted: RawAssisted,
    #[serde(default)]
    pub(super) rate_limit: RawRateLimit,
    #[serde(default)]
    pub(super) limits: RawLimits,
    pub(super) upstream: Option<crate::portal::upstream::UpstreamToml>,
    #[serde(default)]
    pub(super) gate: Vec<crate::portal::upstream::GateRuleToml>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRateLimit {
    pub(super) login_per_minute: Option<i64>,
    pub(super) login_burst: Option<i64>,
    pub(super) submit_per_minute: Option<i64>,
    pub(super) submit_burst: Option<i64>,
    pub(super) booking_per_minute: Option<i64>,
    pub(super) booking_burst: Option<i64>,
    pub(super) active_bookings_per_address: Option<i64>,
    pub(super) max_tracked_addresses: Option<i64>,
    pub(super) trusted_proxies: Option<Vec<String>>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLimits {
    pub(super) attachment_max_files: Option<i64>,
    pub(super) attachment_max_bytes: Option<i64>,
    pub(super) attachments_max_total_bytes: Option<i64>,
    pub(super) anonymous_tickets_per_hour: Option<i64>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawProvider {
    pub(super) issuer: Option<String>,
    pub(super) client_id: Option<String>,
    pub(super) client_secret: Option<String>,
    pub(super) acr_level1: Option<Vec<String>>,
    pub(super) acr_level2: Option<Vec<String>>,
    pub(super) level_source: Option<LevelSource>,
    pub(super) profile: Option<String>,
    pub(super) level_claim: Option<String>,
    pub(super) encrypted_responses: Option<bool>,
    pub(super) authorization_endpoint: Option<String>,
    pub(super) token_endpoint: Option<String>,
    pub(super) userinfo_endpoint: Option<String>,
    pub(super) jwks_uri: Option<String>,
    pub(super) pushed_authorization_request_endpoint: Option<String>,
    pub(super) require_pushed_authorization_requests: Option<bool>,
    pub(super) authorization_response_iss_parameter_supported: Option<bool>,
    pub(super) token_endpoint_auth_method: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawProviderTable {
    pub(super) id: Option<String>,
    pub(super) label: Option<LocalText>,
    pub(super) hint: Option<LocalText>,
    pub(super) profile: Option<String>,
    pub(super) issuer: Option<String>,
    pub(super) client_id: Option<String>,
    pub(super) client_secret: Option<String>,
    pub(super) acr_level1: Option<Vec<String>>,
    pub(super) acr_level2: Option<Vec<String>>,
    pub(super) level_source: Option<LevelSource>,
    pub(super) level_claim: Option<String>,
    pub(super) encrypted_responses: Option<bool>,
    pub(super) authorization_endpoint: Option<String>,
    pub(super) token_endpoint: Option<String>,
    pub(super) userinfo_endpoint: Option<String>,
    pub(super) jwks_uri: Option<String>,
    pub(super) pushed_authorization_request_endpoint: Option<String>,
    pub(super) require_pushed_authorization_requests: Option<bool>,
    pub(super) authorization_response_iss_parameter_supported: Option<bool>,
    pub(super) token_endpoint_auth_method: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWard {
    pub(super) code: Option<String>,
    pub(super) catalog: Option<String>,
    pub(super) directory: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStaff {
    #[serde(default)]
    pub(super) subjects: Vec<String>,
    pub(super) role_claim: Option<String>,
    pub(super) role_value: Option<String>,
    pub(super) role_provider: Option<String>,
    pub(super) role_from_userinfo: Option<bool>,
    pub(super) idle_minutes: Option<i64>,
    pub(super) absolute_minutes: Option<i64>,
    pub(super) max_auth_age_minutes: Option<i64>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAssisted {
    pub(super) idle_minutes: Option<i64>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSession {
    pub(super) idle_minutes: Option<i64>,
    pub(super) absolute_minutes: Option<i64>,
}

pub(super) fn parse_file(path: &Path, text: &str) -> Result<RawFile, ConfigError> {
    // The path of the value at fault (`session.idle_minutes`) goes before toml's message, which
    // names the type it wanted but not the field.
    serde_path_to_error::deserialize(toml::Deserializer::new(text)).map_err(|error| {
        let field = error.path().to_string();
        let error = error.into_inner();
        let line = error
            .span()
            .map(|span| text.get(..span.start).unwrap_or(text).matches('\n').count() + 1)
            .unwrap_or(1);
        let message = error.message().replace('\n', " ");
        ConfigError::ParseFile {
            path: path.to_path_buf(),
            line,
            message: if field.is_empty() || field == "." {
                message
            } else {
                format!("{field}: {message}")
            },
        }
    })
}

/// A path from the file is relative to the file's directory; one from the environment is used
/// as given.
pub(super) fn resolve(file_dir: &Path, setting: &Setting<String>, path: PathBuf) -> PathBuf {
    match setting.origin {
        Origin::File { .. } if path.is_relative() => file_dir.join(path),
        _ => path,
    }
}
