//! Where a setting came from, and what can be wrong with it.

use std::fmt;
use std::path::PathBuf;

use super::args::ArgumentError;
use super::session::MAX_SESSION_MINUTES;
use crate::assurance::LevelSourceError;
use crate::oidc::{ProviderProfile, UnknownProfile};
use crate::portal::providers::ProviderIdError;

/// Where a setting came from.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Origin {
    /// An environment variable.
    Env {
        /// Its name.
        variable: &'static str,
    },
    /// A field of the TOML file.
    File {
        /// The file, as given.
        file: String,
        /// The field's dotted path, such as `provider.issuer`.
        field: &'static str,
    },
    /// A field of one `[[providers]]` table of the TOML file.
    ProviderTable {
        /// The file, as given.
        file: String,
        /// The table's position among the `[[providers]]` tables, from 0.
        index: usize,
        /// The field's name in the table, such as `issuer`.
        field: &'static str,
    },
}

impl Origin {
    pub(super) fn env(variable: &'static str) -> Self {
        Self::Env { variable }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Env { variable } => f.write_str(variable),
            Self::File { file, field } => write!(f, "{file}: {field}"),
            Self::ProviderTable { file, index, field } => {
                write!(f, "{file}: providers[{index}].{field}")
            }
        }
    }
}

/// The configuration cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A setting is invalid or missing.
    #[error("{origin}: {problem}")]
    Invalid {
        /// The variable or file field.
        origin: Origin,
        /// What is wrong with it.
        problem: SettingError,
    },
    /// The file cannot be read.
    #[error("config file `{}`: cannot be read: {source}", .path.display())]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML or has an unknown or mistyped field.
    #[error("config file `{}`: line {line}: {message}", .path.display())]
    ParseFile {
        /// The file.
        path: PathBuf,
        /// The 1-based line of the problem.
        line: usize,
        /// The parser's message.
        message: String,
    },
    /// The command line is wrong.
    #[error("command line: {problem}")]
    Arguments {
        /// What is wrong.
        problem: ArgumentError,
    },
}

/// What is wrong with one setting.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SettingError {
    /// The value is empty.
    #[error("is empty")]
    Empty,
    /// Gateway mode's upstream or gate rules are refused.
    #[error("{0}")]
    Upstream(crate::portal::upstream::UpstreamError),
    /// Not a socket address.
    #[error("`{value}` is not a socket address such as `127.0.0.1:8080`")]
    NotSocketAddress {
        /// The value.
        value: String,
    },
    /// Not an absolute URL.
    #[error("`{value}` is not an absolute URL")]
    InvalidUrl {
        /// The value.
        value: String,
    },
    /// A scheme other than http or https.
    #[error("scheme `{scheme}` is not supported: use https (http only on a loopback host)")]
    UnsupportedScheme {
        /// The scheme.
        scheme: String,
    },
    /// `http` on a host that is not loopback.
    #[error("plain http is accepted only on a loopback host, not `{host}`: use https")]
    InsecureHttp {
        /// The host.
        host: String,
    },
    /// The public URL has a path.
    #[error("path `{path}` is not supported: serve the gateway at the root of its host")]
    HasPath {
        /// The path.
        path: String,
    },
    /// A query or fragment.
    #[error("`{value}` must not have a query or fragment")]
    HasQueryOrFragment {
        /// The value.
        value: String,
    },
    /// A user name or password in a URL.
    #[error("must not contain a user name or password")]
    HasCredentials,
    /// Required because an issuer is set.
    #[error("is required when an external provider is set (`WARDGATE_ISSUER` or provider.issuer)")]
    RequiredWithIssuer,
    /// Set although no issuer is.
    #[error(
        "is set but no issuer is: set `WARDGATE_ISSUER` too, or remove it to use the built-in \
         provider simulator"
    )]
    NeedsIssuer,
    /// An external provider has no level source.
    #[error(
        "is required when an external provider is set, unless the config file sets \
         provider.level_source"
    )]
    NoLevelSource,
    /// Both `acr_level*` and `level_source` are in the file.
    #[error("cannot be combined with provider.acr_level1 or provider.acr_level2: choose one")]
    ConflictingLevelSource,
    /// A comma-separated list has an empty item.
    #[error("`{value}` has an empty item")]
    EmptyListItem {
        /// The value.
        value: String,
    },
    /// The `acr` values are invalid.
    #[error(transparent)]
    AcrValues(#[from] LevelSourceError),
    /// The metrics token is too short to resist guessing.
    #[error(
        "is too weak: use at least 32 characters of visible ASCII (for example 32 random bytes in \
         hex)"
    )]
    WeakMetricsToken,
    /// A back-office status key that is not hex or shorter than 32 bytes.
    #[error(
        "is not a back-office status key: use at least 64 hex digits (32 random bytes), \
         comma-separated during a rotation"
    )]
    BackOfficeStatusKey,
    /// The stats token is too short to resist guessing.
    #[error(
        "is too weak: use at least 32 characters of visible ASCII (for example 32 random bytes in \
         hex)"
    )]
    WeakStatsToken,
    /// No issuer, so the built-in simulator would sign anyone in, on a public URL off loopback.
    #[error(
        "is required when the public URL `{public_url}` is not a loopback address: without an \
         issuer the built-in provider simulator would sign anyone in. Set the provider's issuer, \
         client_id and client_secret (or WARDGATE_SIMULATOR=1 for a test deployment)"
    )]
    SimulatorOffLoopback {
        /// The public URL.
        public_url: String,
    },
    /// A database scheme other than sqlite or postgres.
    #[error("scheme `{scheme}` is not supported: use `sqlite://` or `postgres://`")]
    UnsupportedDatabase {
        /// The scheme.
        scheme: String,
    },
    /// A `sqlite://` URL without a path.
    #[error("names no SQLite file: use `sqlite://PATH`")]
    NoDatabasePath,
    /// A malformed PostgreSQL URL (not echoed: it may carry a password).
    #[error("is not a valid `postgres://` URL with a host")]
    InvalidDatabaseUrl,
    /// A provider profile name that is not one of [`ProviderProfile::ALL`].
    #[error(transparent)]
    Profile(#[from] UnknownProfile),
    /// A provider id that is not a slug.
    #[error(transparent)]
    ProviderId(#[from] ProviderIdError),
    /// A required field is missing.
    #[error("is required")]
    Required,
    /// `[provider]` or a provider variable together with `[[providers]]`.
    #[error(
        "cannot be combined with [[providers]] in the config file: configure one provider with \
         [provider] and the environment, or several with [[providers]]"
    )]
    ProviderFormsCombined,
    /// `providers = []`.
    #[error("lists no provider: add a [[providers]] table, or use [provider]")]
    NoProviders,
    /// Two `[[providers]]` tables with the same id.
    #[error("id `{id}` is used by two providers")]
    DuplicateProviderId {
        /// The id.
        id: String,
    },
    /// Two providers with the same chooser label.
    #[error("is the same as provider `{other}`'s: residents could not tell them apart")]
    DuplicateLabel {
        /// The other provider's id.
        other: String,
    },
    /// Set in a `[[providers]]` table that has no issuer.
    #[error(
        "is set but the provider has no issuer: set issuer too, or remove it to use a built-in \
         provider simulator"
    )]
    NeedsTableIssuer,
    /// Missing from a `[[providers]]` table that has an issuer.
    #[error("is required when the provider has an issuer")]
    RequiredWithTableIssuer,
    /// A `standard` provider in a `[[providers]]` table has an issuer but no level source.
    #[error(
        "is required for a `standard` provider with an issuer, unless the table sets \
         level_source or level_claim"
    )]
    NoTableLevelSource,
    /// `level_claim` together with `acr_level*` or `level_source`.
    #[error("cannot be combined with acr_level1, acr_level2 or level_source: choose one")]
    ConflictingLevelClaim,
    /// An external provider's responses are encrypted and nobody supplies a decryptor.
    #[error(
        "a `{profile}` provider with an issuer sends encrypted responses, and no envelope \
         decryptor is configured: the envelope format is not public, so none can be built from \
         configuration; in your own gateway pass one to ClientConfig::envelope_decryptor and \
         declare it with ConfigLoader::supplies_decryptor, or set encrypted_responses = false if \
         this provider answers in plain JSON"
    )]
    NeedsDecryptor {
        /// The provider's profile.
        profile: ProviderProfile,
    },
    /// Only one of `authorization_endpoint` and `token_endpoint` is set.
    #[error(
        "is required when {set} is set: a provider without a discovery document is configured \
         with both its authorization and token endpoints"
    )]
    EndpointPair {
        /// Where the endpoint that is set came from.
        set: String,
    },
    /// An optional endpoint setting without `authorization_endpoint` and `token_endpoint`.
    #[error(
        "is set but authorization_endpoint and token_endpoint are not: without them the \
         provider's discovery document is used and this setting would be ignored"
    )]
    NeedsEndpoints,
    /// `require_pushed_authorization_requests = true` without the endpoint.
    #[error("is true but no pushed_authorization_request_endpoint is set")]
    NeedsParEndpoint,
    /// A token endpoint authentication method the gateway cannot use.
    #[error(
        "`{value}` is not supported: use client_secret_basic or client_secret_post (the \
         gateway is a confidential client)"
    )]
    UnsupportedAuthMethod {
        /// The value.
        value: String,
    },
    /// Not a 5-digit commune-level unit code.
    #[error("`{value}` is not a 5-digit commune-level unit code such as `30316`")]
    InvalidWardCode {
        /// The value.
        value: String,
    },
    /// `role_claim` and `role_value` are not set together.
    #[error("staff.role_claim and staff.role_value must be set together")]
    IncompleteStaffRole,
    /// `staff.role_provider` names no configured provider.
    #[error("`{value}` is not the id of a configured provider")]
    UnknownStaffRoleProvider {
        /// The value.
        value: String,
    },
    /// A timeout out of range.
    #[error("{value} minutes is out of range: use 1 to {MAX_SESSION_MINUTES}")]
    TimeoutOutOfRange {
        /// The value.
        value: i64,
    },
    /// Not a whole number.
    #[error("`{value}` is not a whole number")]
    NotANumber {
        /// The value.
        value: String,
    },
    /// A number out of its range.
    #[error("{value} is out of range: use {min} to {max}")]
    OutOfRange {
        /// The value.
        value: i64,
        /// The smallest accepted.
        min: i64,
        /// The largest accepted.
        max: i64,
    },
    /// `0` anonymous tickets per hour.
    #[error(
        "0 would mean a referral never carries a ticket for a resident who is not signed in, \
         which is never what a ward wants: use 1 to {max} (more when many residents share one \
         address)"
    )]
    NoAnonymousTickets {
        /// The largest accepted.
        max: i64,
    },
    /// Not an IP address or network.
    #[error("`{value}` is not an IP address or network such as `10.0.0.0/8`")]
    InvalidProxy {
        /// The value.
        value: String,
    },
    /// The idle timeout exceeds the absolute one.
    #[error("the idle timeout ({idle} minutes) exceeds the absolute timeout ({absolute} minutes)")]
    IdleExceedsAbsolute {
        /// The idle timeout.
        idle: i64,
        /// The absolute timeout.
        absolute: i64,
    },
}

pub(super) fn invalid(origin: Origin, problem: SettingError) -> ConfigError {
    ConfigError::Invalid { origin, problem }
}
