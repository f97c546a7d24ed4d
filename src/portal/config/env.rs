//! The environment: the variable names, and the lookup that prefers a variable to the file's
//! field and records where each value came from.

use super::error::{ConfigError, Origin, SettingError, invalid};

/// `WARDGATE_BIND`: the socket address to listen on.
pub const ENV_BIND: &str = "WARDGATE_BIND";
/// `WARDGATE_PUBLIC_URL`: the URL residents reach the gateway at.
pub const ENV_PUBLIC_URL: &str = "WARDGATE_PUBLIC_URL";
/// `WARDGATE_ISSUER`: an external provider's issuer; unset runs the simulator.
pub const ENV_ISSUER: &str = "WARDGATE_ISSUER";
/// `WARDGATE_CLIENT_ID`: the client id registered at the external provider.
pub const ENV_CLIENT_ID: &str = "WARDGATE_CLIENT_ID";
/// `WARDGATE_CLIENT_SECRET`: the client secret registered at the external provider.
pub const ENV_CLIENT_SECRET: &str = "WARDGATE_CLIENT_SECRET";
/// `WARDGATE_ACR_LEVEL1`: comma-separated `acr` values that mean level 1.
pub const ENV_ACR_LEVEL1: &str = "WARDGATE_ACR_LEVEL1";
/// `WARDGATE_ACR_LEVEL2`: comma-separated `acr` values that mean level 2 (and are requested).
pub const ENV_ACR_LEVEL2: &str = "WARDGATE_ACR_LEVEL2";
/// `WARDGATE_DATABASE_URL`: `sqlite://…` or `postgres://…`.
pub const ENV_DATABASE_URL: &str = "WARDGATE_DATABASE_URL";
/// `WARDGATE_DATA_DIR`: keys and the default SQLite file.
pub const ENV_DATA_DIR: &str = "WARDGATE_DATA_DIR";
/// The back office that receives dossiers (the outbox forwards signed envelopes to it).
pub const ENV_BACKOFFICE_URL: &str = "WARDGATE_BACKOFFICE_URL";
/// Comma-separated hex secrets (at least 32 bytes each) shared with the back office, which
/// signs its status reports with one of them; unset turns `POST /api/backoffice/status` off.
pub const ENV_BACKOFFICE_STATUS_KEYS: &str = "WARDGATE_BACKOFFICE_STATUS_KEYS";
/// `WARDGATE_UPSTREAM`: gateway mode's upstream portal, `http://host:port`.
pub const ENV_UPSTREAM: &str = "WARDGATE_UPSTREAM";
/// How long a body streamed through gateway mode's proxy may go without data, in seconds.
pub const ENV_UPSTREAM_BODY_IDLE_TIMEOUT: &str = "WARDGATE_UPSTREAM_BODY_IDLE_TIMEOUT_SECONDS";
/// How long a body streamed through gateway mode's proxy may take in all, in seconds.
pub const ENV_UPSTREAM_BODY_TIMEOUT: &str = "WARDGATE_UPSTREAM_BODY_TIMEOUT_SECONDS";
/// How long connecting to gateway mode's upstream may take, in seconds.
pub const ENV_UPSTREAM_CONNECT_TIMEOUT: &str = "WARDGATE_UPSTREAM_CONNECT_TIMEOUT_SECONDS";
/// How long gateway mode's upstream may take to answer with its response head, counted from
/// the start of the request (the resident's upload included), in seconds.
pub const ENV_UPSTREAM_RESPONSE_TIMEOUT: &str = "WARDGATE_UPSTREAM_RESPONSE_TIMEOUT_SECONDS";
/// Where `GET /metrics` is served apart from the public listener.
pub const ENV_METRICS_BIND: &str = "WARDGATE_METRICS_BIND";
/// Seconds an instance's claimed outbox entries stay hidden from the other instances' workers
/// (how long a crashed instance's claims wait before another instance delivers them).
pub const ENV_OUTBOX_LEASE_SECONDS: &str = "WARDGATE_OUTBOX_LEASE_SECONDS";
/// A bearer token that opens `GET /metrics` on the public listener.
pub const ENV_METRICS_TOKEN: &str = "WARDGATE_METRICS_TOKEN";
/// A bearer token that opens `GET /api/stats` to the province's reporting system.
pub const ENV_STATS_TOKEN: &str = "WARDGATE_STATS_TOKEN";
/// `1` lets the built-in provider simulator run although the public URL is not on loopback.
pub const ENV_SIMULATOR: &str = "WARDGATE_SIMULATOR";
/// `WARDGATE_PROVIDER_PROFILE`: the single provider's profile (`standard`, `npsp`,
/// `vneid-direct`, `keycloak-broker`).
pub const ENV_PROVIDER_PROFILE: &str = "WARDGATE_PROVIDER_PROFILE";
/// Logins (starts and callbacks, each) per minute per client address; `0` turns it off.
pub const ENV_RATE_LIMIT_LOGIN_PER_MINUTE: &str = "WARDGATE_RATE_LIMIT_LOGIN_PER_MINUTE";
/// Logins that pass at once per client address.
pub const ENV_RATE_LIMIT_LOGIN_BURST: &str = "WARDGATE_RATE_LIMIT_LOGIN_BURST";
/// Submissions and drafts per minute per client address; `0` turns it off.
pub const ENV_RATE_LIMIT_SUBMIT_PER_MINUTE: &str = "WARDGATE_RATE_LIMIT_SUBMIT_PER_MINUTE";
/// Submissions and drafts that pass at once per client address.
pub const ENV_RATE_LIMIT_SUBMIT_BURST: &str = "WARDGATE_RATE_LIMIT_SUBMIT_BURST";
/// Most client addresses the rate limiter remembers.
pub const ENV_RATE_LIMIT_MAX_TRACKED: &str = "WARDGATE_RATE_LIMIT_MAX_TRACKED";
/// New referral tickets per client address and hour for clients without a session.
pub const ENV_ANONYMOUS_TICKETS_PER_HOUR: &str = "WARDGATE_ANONYMOUS_TICKETS_PER_HOUR";
/// Comma-separated proxies (addresses or networks) whose `X-Forwarded-For` is believed.
pub const ENV_TRUSTED_PROXIES: &str = "WARDGATE_TRUSTED_PROXIES";
/// `WARDGATE_AUTHORIZATION_ENDPOINT`: the single provider's authorization endpoint, for a
/// provider without a discovery document.
pub const ENV_AUTHORIZATION_ENDPOINT: &str = "WARDGATE_AUTHORIZATION_ENDPOINT";
/// `WARDGATE_TOKEN_ENDPOINT`: the single provider's token endpoint (with
/// `WARDGATE_AUTHORIZATION_ENDPOINT`).
pub const ENV_TOKEN_ENDPOINT: &str = "WARDGATE_TOKEN_ENDPOINT";
/// `WARDGATE_USERINFO_ENDPOINT`: the single provider's configured userinfo endpoint.
pub const ENV_USERINFO_ENDPOINT: &str = "WARDGATE_USERINFO_ENDPOINT";
/// `WARDGATE_JWKS_URI`: the single provider's configured key-set endpoint.
pub const ENV_JWKS_URI: &str = "WARDGATE_JWKS_URI";
/// `WARDGATE_PAR_ENDPOINT`: the single provider's configured pushed-authorization-request
/// endpoint (RFC 9126).
pub const ENV_PAR_ENDPOINT: &str = "WARDGATE_PAR_ENDPOINT";
/// `WARDGATE_TOKEN_ENDPOINT_AUTH_METHOD`: how the gateway authenticates at the single
/// provider's configured token endpoint (`client_secret_basic` or `client_secret_post`).
pub const ENV_TOKEN_ENDPOINT_AUTH_METHOD: &str = "WARDGATE_TOKEN_ENDPOINT_AUTH_METHOD";

/// Reads one environment variable.
pub(super) type EnvLookup = dyn Fn(&str) -> Option<String> + Send + Sync;

/// A value and where it came from.
pub(super) struct Setting<T> {
    pub(super) value: T,
    pub(super) origin: Origin,
}

pub(super) struct Lookup<'a> {
    pub(super) env: &'a EnvLookup,
    pub(super) file_name: &'a str,
}

impl Lookup<'_> {
    /// The environment variable if set and not empty, else the file field.
    pub(super) fn lookup(
        &self,
        variable: &'static str,
        from_file: Option<String>,
        field: &'static str,
    ) -> Option<Setting<String>> {
        if let Some(value) = (self.env)(variable).filter(|v| !v.trim().is_empty()) {
            return Some(Setting {
                value,
                origin: Origin::env(variable),
            });
        }
        from_file.map(|value| Setting {
            value,
            origin: self.file(field),
        })
    }

    /// A comma-separated variable, else the file's array.
    pub(super) fn lookup_list(
        &self,
        variable: &'static str,
        from_file: Option<Vec<String>>,
        field: &'static str,
    ) -> Result<Option<Setting<Vec<String>>>, ConfigError> {
        if let Some(value) = (self.env)(variable).filter(|v| !v.trim().is_empty()) {
            let items: Vec<String> = value.split(',').map(|s| s.trim().to_owned()).collect();
            if items.iter().any(String::is_empty) {
                return Err(invalid(
                    Origin::env(variable),
                    SettingError::EmptyListItem { value },
                ));
            }
            return Ok(Some(Setting {
                value: items,
                origin: Origin::env(variable),
            }));
        }
        Ok(from_file.map(|value| Setting {
            value,
            origin: self.file(field),
        }))
    }

    pub(super) fn file(&self, field: &'static str) -> Origin {
        Origin::File {
            file: self.file_name.to_owned(),
            field,
        }
    }

    pub(super) fn table(&self, index: usize, field: &'static str) -> Origin {
        Origin::ProviderTable {
            file: self.file_name.to_owned(),
            index,
            field,
        }
    }

    /// Whether `variable` is set to something other than blanks.
    pub(super) fn is_set(&self, variable: &str) -> bool {
        (self.env)(variable).is_some_and(|v| !v.trim().is_empty())
    }
}
