//! The gateway's configuration: an optional TOML file plus the environment.
//!
//! Rules this module enforces:
//!
//! 1. Every setting has one environment variable (listed below) or one TOML field, or both; when
//!    both are set the **environment wins**. An empty environment variable counts as unset.
//! 2. The configuration is validated completely before anything starts; a bad value is refused
//!    with a [`ConfigError`] naming the variable (`WARDGATE_ISSUER`) or the file and field
//!    (`gateway.toml: provider.issuer`) and what was wrong. Unknown TOML fields are refused.
//! 3. The public URL is an absolute `https` URL, or `http` on a loopback host, at the root of its
//!    host; the redirect URI is the public URL + `/auth/callback`.
//! 4. An `http` issuer is accepted only on a loopback host. With an issuer the gateway is a
//!    confidential client: the client id and secret are required, and so is a level source
//!    (`WARDGATE_ACR_LEVEL2` or `provider.level_source`). Without an issuer the built-in provider
//!    simulator runs, and a client id or secret is refused as a likely mistake.
//! 5. `acr` values are validated through [`AcrTable`]: no empty items, no duplicates, not
//!    Keycloak's default `"0"`/`"1"`.
//! 6. Secrets (the client secret, a database password) never appear in `Debug` output or error
//!    messages.
//! 7. A provider has a [`ProviderProfile`] (`standard` unless set): `WARDGATE_PROVIDER_PROFILE`
//!    or `provider.profile`. A `standard` provider with an issuer needs a level source; the
//!    other profiles bring their own ([`ProviderProfile::default_level_source`]), which
//!    `level_claim` renames and `acr_level*` or `level_source` replace.
//! 8. Several providers are configured as `[[providers]]` tables instead of `[provider]` and
//!    the provider variables, never both. Each has a unique [`ProviderId`] slug and chooser
//!    label, and its own redirect URI, the public URL + `/auth/callback/{id}`; the single
//!    provider of `[provider]` has id `default` and keeps `/auth/callback`. A table without
//!    `issuer` runs a built-in simulator in its profile.
//! 9. A provider that publishes no discovery document is configured by its endpoints
//!    (`authorization_endpoint` and `token_endpoint`, both or neither, and optionally the
//!    others, named as in a discovery document; see [`ProviderEndpoints`]); the gateway then
//!    never asks for the document ([`ProviderConfig::relying_party`]). Endpoint settings need an
//!    issuer, and the optional ones need the two endpoints. The gateway is a confidential
//!    client, so `token_endpoint_auth_method` is `client_secret_basic` or `client_secret_post`.
//! 10. A provider with an issuer whose responses are encrypted (`vneid-direct` unless
//!     `encrypted_responses = false`) needs an envelope decryptor, which cannot be built from
//!     configuration (the format is not public): loading fails, naming the field, unless the
//!     caller says it supplies one ([`ConfigLoader::supplies_decryptor`]).
//!
//! | variable | TOML field | default |
//! | --- | --- | --- |
//! | `WARDGATE_BIND` | `bind` | `127.0.0.1:8080` |
//! | `WARDGATE_PUBLIC_URL` | `public_url` | `http://127.0.0.1:8080` |
//! | `WARDGATE_ISSUER` | `provider.issuer` | none: the built-in simulator, on a loopback public URL only |
//! | `WARDGATE_SIMULATOR` | — | unset; `1` allows the simulator off loopback (a test deployment; it never grants a staff role there) |
//! | `WARDGATE_CLIENT_ID` | `provider.client_id` | none |
//! | `WARDGATE_CLIENT_SECRET` | `provider.client_secret` | none |
//! | `WARDGATE_ACR_LEVEL1` | `provider.acr_level1` (array) | none |
//! | `WARDGATE_ACR_LEVEL2` | `provider.acr_level2` (array) | none |
//! | — | `provider.level_source` (inline table, see [`LevelSource`]) | none |
//! | `WARDGATE_PROVIDER_PROFILE` | `provider.profile` | `standard` |
//! | — | `provider.level_claim` (the profile's level claim, renamed) | the profile's |
//! | — | `provider.encrypted_responses` | `true` for `vneid-direct`, else `false` |
//! | `WARDGATE_AUTHORIZATION_ENDPOINT` | `provider.authorization_endpoint` | none: discovery at the issuer |
//! | `WARDGATE_TOKEN_ENDPOINT` | `provider.token_endpoint` | none; required with the authorization endpoint |
//! | `WARDGATE_USERINFO_ENDPOINT` | `provider.userinfo_endpoint` | none |
//! | `WARDGATE_JWKS_URI` | `provider.jwks_uri` | none: no ID token can be verified |
//! | `WARDGATE_PAR_ENDPOINT` | `provider.pushed_authorization_request_endpoint` | none |
//! | — | `provider.require_pushed_authorization_requests` | `false` |
//! | — | `provider.authorization_response_iss_parameter_supported` | `false` |
//! | `WARDGATE_TOKEN_ENDPOINT_AUTH_METHOD` | `provider.token_endpoint_auth_method` | `client_secret_basic` |
//! | — | `[[providers]]`: `id`, `label` and `hint` (`{ vi = "…", en = "…" }`), `profile`, `issuer`, `client_id`, `client_secret`, `acr_level1`, `acr_level2`, `level_source`, `level_claim`, `encrypted_responses`, and the endpoint fields above | none: the single provider above |
//! | `WARDGATE_DATABASE_URL` | `database_url` | `sqlite://` + data dir + `/wardgate.db` |
//! | `WARDGATE_DATA_DIR` | `data_dir` | `./data` |
//! | `WARDGATE_BACKOFFICE_URL` | `backoffice_url` | none: dossiers wait in the outbox |
//! | `WARDGATE_BACKOFFICE_STATUS_KEYS` | `backoffice_status_keys` (array) | none: `POST /api/backoffice/status` answers `503` |
//! | `WARDGATE_OUTBOX_LEASE_SECONDS` | `outbox_lease_seconds` (30–3600) | `300`: a crashed instance's claimed dossiers wait this long before another instance delivers them |
//! | `WARDGATE_METRICS_BIND` | `metrics_bind` | none: `/metrics` is served on no separate listener |
//! | `WARDGATE_UPSTREAM` | `upstream.url`, and `upstream.audience`, `upstream.max_body_bytes`, `[[gate]]` (`path_prefix` or `default = true`, and one of `procedure`, `level`, `public = true`) | none: the gateway serves only its own pages |
//! | `WARDGATE_UPSTREAM_CONNECT_TIMEOUT_SECONDS` | `upstream.connect_timeout_seconds` (1 to 300) | 5: connecting to the upstream, then `502` |
//! | `WARDGATE_UPSTREAM_RESPONSE_TIMEOUT_SECONDS` | `upstream.response_timeout_seconds` (1 to 86400) | 30: from the end of the resident's upload to the upstream's response head, then `504`; the upload is bounded by the body timeouts |
//! | `WARDGATE_UPSTREAM_BODY_IDLE_TIMEOUT_SECONDS` | `upstream.body_idle_timeout_seconds` (1 to 3600) | 30: a proxied body, either way, cut off after this long without data |
//! | `WARDGATE_UPSTREAM_BODY_TIMEOUT_SECONDS` | `upstream.body_timeout_seconds` (1 to 86400) | 600: a proxied body cut off after this long in all |
//! | `WARDGATE_METRICS_TOKEN` | `metrics_token` | none: `/metrics` answers `404` on the public listener |
//! | `WARDGATE_STATS_TOKEN` | `stats_token` | none: `GET /api/stats` opens to staff only |
//! | — | `ward.code`, `ward.catalog`, `ward.directory` | none, `samples/catalog.toml`, `samples/wards.toml` |
//! | — | `staff.subjects`, `staff.role_claim`, `staff.role_value` | none |
//! | — | `staff.role_provider` (the provider whose role claim counts), `staff.role_from_userinfo` (trust userinfo for the role, not only the signed ID token) | the first provider, `false` |
//! | — | `staff.idle_minutes`, `staff.absolute_minutes`, `staff.max_auth_age_minutes` | 15, 480, 5 |
//! | — | `session.idle_minutes`, `session.absolute_minutes` | 30, 480 |
//! | `WARDGATE_ASSISTED_IDLE_MINUTES` | `assisted.idle_minutes` (a resident session on an assisted device ends after this many minutes without a request; 1 to 60) | 5 |
//! | `WARDGATE_RATE_LIMIT_LOGIN_PER_MINUTE` | `rate_limit.login_per_minute` | 60; `0` turns the login limit off |
//! | `WARDGATE_RATE_LIMIT_LOGIN_BURST` | `rate_limit.login_burst` | 120 |
//! | `WARDGATE_RATE_LIMIT_SUBMIT_PER_MINUTE` | `rate_limit.submit_per_minute` | 30; `0` turns the submission limit off |
//! | `WARDGATE_RATE_LIMIT_SUBMIT_BURST` | `rate_limit.submit_burst` | 60 |
//! | `WARDGATE_RATE_LIMIT_MAX_TRACKED` | `rate_limit.max_tracked_addresses` | 100000 |
//! | `WARDGATE_TRUSTED_PROXIES` | `rate_limit.trusted_proxies` (array) | none: `X-Forwarded-For` ignored |
//! | — | `limits.attachment_max_files`, `limits.attachment_max_bytes`, `limits.attachments_max_total_bytes` | 5, 4 MiB, 8 MiB |
//! | `WARDGATE_ANONYMOUS_TICKETS_PER_HOUR` | `limits.anonymous_tickets_per_hour` (1 to 10000) | 10 new referral tickets per client address and hour for clients without a session; past it referrals render without one |
//!
//! Rate limits count per client address ([`super::rate_limit`]): login starts and callbacks
//! each get the login limit, submissions and drafts the submission one; `burst` requests pass
//! at once, then `per_minute`. Per minute is 0 to 1,000,000, a burst 1 to 1,000,000, tracked
//! addresses 1,000 to 10,000,000. Trusted proxies are IP addresses or networks
//! (`10.0.0.0/8`), comma-separated in the variable. Attachments: 0 to 20 files (0 refuses
//! attachments), 1 byte to 8 MiB per file and in total ([`AttachmentLimits::MAX`]). The
//! anonymous ticket allowance is also per address: a ward centre whose help desk puts many
//! residents behind one NAT address raises it; `0` is refused, as it would leave every referral
//! to a resident who is not signed in without a ticket.
//!
//! Relative paths in the file are relative to the file's directory; the default catalog and
//! directory paths are relative to [`ConfigLoader::defaults_base`] (the example passes the crate
//! root).
//!
//! # Layout
//!
//! The sources are kept apart from the typed configuration: `env` holds the variable names and
//! the lookup that prefers a variable to the file's field, `file` the TOML file as written, and
//! `args` the command line. The typed configuration lives in one module per concern
//! (`providers`, `database`, `ward`, `session`, `limits`), each with its validation; a typed
//! value knows where it came from only through the [`Origin`] kept for error messages. `loader`
//! puts them together, section by section.
//!
//! # Adding a setting
//!
//! Add an `Option` field to the raw file struct in `file` (so the file may omit it), look it
//! up with `Lookup::lookup` if it also has an environment variable (named in `env`), validate
//! it in its section's module, and store the validated value in [`GatewayConfig`] behind a
//! getter. Nothing else changes.
//!
//! # Example
//!
//! ```
//! use std::collections::HashMap;
//! use wardgate::portal::config::{GatewayConfig, Provider};
//!
//! let env: HashMap<&str, &str> = HashMap::from([
//!     ("WARDGATE_PUBLIC_URL", "https://dichvucong.example.vn"),
//!     ("WARDGATE_ISSUER", "https://sso.example.vn"),
//!     ("WARDGATE_CLIENT_ID", "ward-portal"),
//!     ("WARDGATE_CLIENT_SECRET", "s3cret"),
//!     ("WARDGATE_ACR_LEVEL1", "LoA1"),
//!     ("WARDGATE_ACR_LEVEL2", "LoA2"),
//! ]);
//! let config = GatewayConfig::loader(move |name| env.get(name).map(|v| v.to_string()))
//!     .load_str("gateway.toml", "[session]\nidle_minutes = 15\n")?;
//!
//! assert_eq!(config.redirect_uri().as_str(), "https://dichvucong.example.vn/auth/callback");
//! assert!(matches!(config.provider(), Provider::External(p) if p.client_id() == "ward-portal"));
//! assert_eq!(config.session().idle_minutes(), 15);
//! assert!(!format!("{config:?}").contains("s3cret"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Example: two providers, the resident chooses
//!
//! ```
//! use wardgate::portal::config::GatewayConfig;
//! use wardgate::oidc::ProviderProfile;
//!
//! let toml = r#"
//! [[providers]]
//! id = "npsp"
//! profile = "npsp"
//!
//! [[providers]]
//! id = "vneid"
//! profile = "vneid-direct"
//! label = { vi = "Ứng dụng VNeID", en = "The VNeID app" }
//! "#;
//! let config = GatewayConfig::loader(|_| None).load_str("gateway.toml", toml)?;
//! let [npsp, vneid] = config.providers() else { panic!("two providers") };
//! assert_eq!(npsp.profile(), ProviderProfile::Npsp);
//! assert_eq!(npsp.label().vi, "Cổng Dịch vụ công quốc gia");
//! assert_eq!(vneid.redirect_uri().as_str(), "http://127.0.0.1:8080/auth/callback/vneid");
//! assert_eq!(vneid.label().en, "The VNeID app");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`AcrTable`]: crate::assurance::AcrTable
//! [`ProviderProfile`]: crate::oidc::ProviderProfile
//! [`ProviderProfile::default_level_source`]: crate::oidc::ProviderProfile::default_level_source
//! [`ProviderId`]: super::ProviderId
//! [`ProviderEndpoints`]: crate::oidc::ProviderEndpoints
//! [`LevelSource`]: crate::assurance::LevelSource
//! [`AttachmentLimits::MAX`]: crate::submission::AttachmentLimits::MAX

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};

use url::Url;

use super::limits::RequestLimits;
use super::metrics_access::MetricsToken;
use super::rate_limit::RateLimits;
use crate::submission::status::BackOfficeKey;

// Where values come from: the environment, the TOML file and the command line. The typed
// configuration below knows a value's source only through the `Origin` kept for messages.
mod args;
mod env;
mod file;

// The typed configuration, one module per concern, each with its validation.
mod backoffice;
mod database;
mod limits;
mod providers;
mod session;
mod upstream;
mod ward;

mod error;
mod loader;
mod values;

pub use args::{ArgumentError, config_file_from_args};
pub use database::{DatabaseKind, DatabaseUrl};
pub use env::ENV_ANONYMOUS_TICKETS_PER_HOUR;
pub use env::ENV_OUTBOX_LEASE_SECONDS;
pub use env::ENV_STATS_TOKEN;
pub use env::ENV_UPSTREAM;
pub use env::{
    ENV_ACR_LEVEL1, ENV_ACR_LEVEL2, ENV_AUTHORIZATION_ENDPOINT, ENV_BACKOFFICE_STATUS_KEYS,
    ENV_BACKOFFICE_URL, ENV_BIND, ENV_CLIENT_ID, ENV_CLIENT_SECRET, ENV_DATA_DIR, ENV_DATABASE_URL,
    ENV_ISSUER, ENV_JWKS_URI, ENV_METRICS_BIND, ENV_METRICS_TOKEN, ENV_PAR_ENDPOINT,
    ENV_PROVIDER_PROFILE, ENV_PUBLIC_URL, ENV_RATE_LIMIT_LOGIN_BURST,
    ENV_RATE_LIMIT_LOGIN_PER_MINUTE, ENV_RATE_LIMIT_MAX_TRACKED, ENV_RATE_LIMIT_SUBMIT_BURST,
    ENV_RATE_LIMIT_SUBMIT_PER_MINUTE, ENV_SIMULATOR, ENV_TOKEN_ENDPOINT,
    ENV_TOKEN_ENDPOINT_AUTH_METHOD, ENV_TRUSTED_PROXIES, ENV_USERINFO_ENDPOINT,
};
pub use env::{
    ENV_UPSTREAM_BODY_IDLE_TIMEOUT, ENV_UPSTREAM_BODY_TIMEOUT, ENV_UPSTREAM_CONNECT_TIMEOUT,
    ENV_UPSTREAM_RESPONSE_TIMEOUT,
};
pub use error::{ConfigError, Origin, SettingError};
pub use loader::ConfigLoader;
pub use providers::{ClientSecret, ExternalProvider, Provider, ProviderConfig};
pub use session::SessionTimeouts;
pub use ward::{StaffConfig, WardConfig};

/// The default listening address.
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";
/// The default public URL.
pub const DEFAULT_PUBLIC_URL: &str = "http://127.0.0.1:8080";
/// The default data directory.
pub const DEFAULT_DATA_DIR: &str = "./data";
/// The SQLite file name inside the data directory when no database URL is set.
pub const DEFAULT_SQLITE_FILE: &str = "wardgate.db";
/// The path of the redirect URI below the public URL.
pub const CALLBACK_PATH: &str = "/auth/callback";

/// The validated gateway configuration.
#[derive(Clone, Debug)]
pub struct GatewayConfig {
    bind: SocketAddr,
    public_url: Url,
    /// INVARIANT: not empty, ids unique (checked by `build_providers`).
    providers: Vec<ProviderConfig>,
    database: DatabaseUrl,
    data_dir: PathBuf,
    backoffice_url: Option<Url>,
    backoffice_status_keys: Vec<BackOfficeKey>,
    outbox_lease: std::time::Duration,
    metrics_bind: Option<SocketAddr>,
    metrics_token: Option<MetricsToken>,
    stats_token: Option<super::stats_api::StatsToken>,
    upstream: Option<super::upstream::Upstream>,
    ward: WardConfig,
    staff: StaffConfig,
    session: SessionTimeouts,
    rate_limits: RateLimits,
    limits: RequestLimits,
    anonymous_tickets_per_hour: NonZeroU32,
}

impl GatewayConfig {
    /// A loader reading variables through `env` (for example
    /// `|name| std::env::var(name).ok()`, or a map in tests).
    pub fn loader(env: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> ConfigLoader {
        ConfigLoader::new(Box::new(env))
    }

    /// The socket address to listen on.
    pub fn bind(&self) -> SocketAddr {
        self.bind
    }

    /// The URL residents reach the gateway at (always with path `/`).
    pub fn public_url(&self) -> &Url {
        &self.public_url
    }

    /// The first provider's redirect URI: the public URL + `/auth/callback` for the single
    /// provider of `[provider]`, + `/auth/callback/{id}` for a `[[providers]]` table.
    pub fn redirect_uri(&self) -> &Url {
        self.first_provider().redirect_uri()
    }

    /// Whether the gateway is served over https (cookies `Secure`, HSTS sent).
    pub fn is_https(&self) -> bool {
        self.public_url.scheme() == "https"
    }

    /// The first identity provider (the only one unless `[[providers]]` lists several): the
    /// built-in simulator or an external one.
    pub fn provider(&self) -> &Provider {
        self.first_provider().provider()
    }

    /// Every identity provider, in the order the chooser lists them (at least one).
    pub fn providers(&self) -> &[ProviderConfig] {
        &self.providers
    }

    fn first_provider(&self) -> &ProviderConfig {
        #[expect(
            clippy::indexing_slicing,
            reason = "the loader never builds a configuration without a provider"
        )]
        // INVARIANT: `providers` is not empty (checked by `build_providers`).
        &self.providers[0]
    }

    /// The database.
    pub fn database(&self) -> &DatabaseUrl {
        &self.database
    }

    /// The data directory (keys, the default SQLite file).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Where the outbox delivers dossiers; `None` keeps them in the store until one is set.
    pub fn backoffice_url(&self) -> Option<&Url> {
        self.backoffice_url.as_ref()
    }

    /// The secrets the back office signs its status reports with (several during a rotation);
    /// empty: `POST /api/backoffice/status` answers `503`.
    pub fn backoffice_status_keys(&self) -> &[BackOfficeKey] {
        &self.backoffice_status_keys
    }

    /// How long one instance's claimed outbox entries stay hidden from the other instances'
    /// workers ([`Outbox::lease`](crate::submission::Outbox::lease)); after a crash, another
    /// instance delivers them once it has passed.
    pub fn outbox_lease(&self) -> std::time::Duration {
        self.outbox_lease
    }

    /// Where to serve `GET /metrics` apart from the public listener
    /// ([`metrics_router`](super::metrics_router)); `None`: nowhere apart.
    pub fn metrics_bind(&self) -> Option<SocketAddr> {
        self.metrics_bind
    }

    /// The bearer token that opens `GET /metrics` on the public listener; `None`: `404` there.
    pub fn metrics_token(&self) -> Option<&MetricsToken> {
        self.metrics_token.as_ref()
    }

    /// The bearer token that opens `GET /api/stats` to a reporting system; `None`: staff only.
    pub fn stats_token(&self) -> Option<&super::stats_api::StatsToken> {
        self.stats_token.as_ref()
    }

    /// Gateway mode's upstream and gate rules (`WARDGATE_UPSTREAM` or `upstream.url`, and the
    /// `[[gate]]` tables), if configured.
    pub fn upstream(&self) -> Option<&super::upstream::Upstream> {
        self.upstream.as_ref()
    }

    /// The ward served and where its catalog and directory are read from.
    pub fn ward(&self) -> &WardConfig {
        &self.ward
    }

    /// Who is ward staff.
    pub fn staff(&self) -> &StaffConfig {
        &self.staff
    }

    /// Session timeouts.
    pub fn session(&self) -> &SessionTimeouts {
        &self.session
    }

    /// Per-address rate limits (`[rate_limit]`).
    pub fn rate_limits(&self) -> &RateLimits {
        &self.rate_limits
    }

    /// Request limits, with the attachment limits of `[limits]`.
    pub fn request_limits(&self) -> &RequestLimits {
        &self.limits
    }

    /// New referral tickets per client address and hour for clients without a session
    /// (`limits.anonymous_tickets_per_hour`, `WARDGATE_ANONYMOUS_TICKETS_PER_HOUR`; default 10),
    /// for [`GatewayBuilder::with_anonymous_tickets_per_hour`](super::GatewayBuilder::with_anonymous_tickets_per_hour).
    pub fn anonymous_tickets_per_hour(&self) -> NonZeroU32 {
        self.anonymous_tickets_per_hour
    }
}
#[cfg(test)]
mod tests;
