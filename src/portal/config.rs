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
//! | `WARDGATE_ISSUER` | `provider.issuer` | none: the built-in simulator |
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
//! | — | `ward.code`, `ward.catalog`, `ward.directory` | none, `samples/catalog.toml`, `samples/wards.toml` |
//! | — | `staff.subjects`, `staff.role_claim`, `staff.role_value` | none |
//! | — | `session.idle_minutes`, `session.absolute_minutes` | 30, 480 |
//! | `WARDGATE_RATE_LIMIT_LOGIN_PER_MINUTE` | `rate_limit.login_per_minute` | 60; `0` turns the login limit off |
//! | `WARDGATE_RATE_LIMIT_LOGIN_BURST` | `rate_limit.login_burst` | 120 |
//! | `WARDGATE_RATE_LIMIT_SUBMIT_PER_MINUTE` | `rate_limit.submit_per_minute` | 30; `0` turns the submission limit off |
//! | `WARDGATE_RATE_LIMIT_SUBMIT_BURST` | `rate_limit.submit_burst` | 60 |
//! | `WARDGATE_RATE_LIMIT_MAX_TRACKED` | `rate_limit.max_tracked_addresses` | 100000 |
//! | `WARDGATE_TRUSTED_PROXIES` | `rate_limit.trusted_proxies` (array) | none: `X-Forwarded-For` ignored |
//! | — | `limits.attachment_max_files`, `limits.attachment_max_bytes`, `limits.attachments_max_total_bytes` | 5, 4 MiB, 8 MiB |
//!
//! Rate limits count per client address ([`super::rate_limit`]): login starts and callbacks
//! each get the login limit, submissions and drafts the submission one; `burst` requests pass
//! at once, then `per_minute`. Per minute is 0 to 1,000,000, a burst 1 to 1,000,000, tracked
//! addresses 1,000 to 10,000,000. Trusted proxies are IP addresses or networks
//! (`10.0.0.0/8`), comma-separated in the variable. Attachments: 0 to 20 files (0 refuses
//! attachments), 1 byte to 8 MiB per file and in total ([`AttachmentLimits::MAX`]).
//!
//! Relative paths in the file are relative to the file's directory; the default catalog and
//! directory paths are relative to [`ConfigLoader::defaults_base`] (the example passes the crate
//! root).
//!
//! # Adding a setting
//!
//! Add an `Option` field to the raw file struct (so the file may omit it), look it up with
//! `lookup` if it also has an environment variable, validate it in `ConfigLoader::build`, and
//! store the validated value in [`GatewayConfig`] behind a getter. Nothing else changes.
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

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use chrono::TimeDelta;
use serde::Deserialize;
use serde_json::{Map, Value};
use url::Url;
use zeroize::Zeroizing;

use super::providers::{ProviderId, ProviderIdError, profile_texts};
use crate::assurance::{AcrTable, LevelSource, LevelSourceError};
use crate::i18n::LocalText;
use crate::oidc::{ClientConfig, ProviderEndpoints, ProviderProfile, UnknownProfile, is_loopback};
use crate::session::SessionConfig;
use crate::submission::AttachmentLimits;

use super::limits::RequestLimits;
use super::rate_limit::{RateLimit, RateLimits, TrustedProxy};

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

const DEFAULT_CATALOG: &str = "samples/catalog.toml";
const DEFAULT_DIRECTORY: &str = "samples/wards.toml";
const DEFAULT_IDLE_MINUTES: i64 = 30;
const DEFAULT_ABSOLUTE_MINUTES: i64 = 8 * 60;
/// A week: longer sessions are a configuration mistake, not a policy.
const MAX_SESSION_MINUTES: i64 = 7 * 24 * 60;

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
    ward: WardConfig,
    staff: StaffConfig,
    session: SessionTimeouts,
    rate_limits: RateLimits,
    limits: RequestLimits,
}

impl GatewayConfig {
    /// A loader reading variables through `env` (for example
    /// `|name| std::env::var(name).ok()`, or a map in tests).
    pub fn loader(env: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> ConfigLoader {
        ConfigLoader {
            env: Box::new(env),
            file: None,
            defaults_base: None,
            decryptors: Vec::new(),
        }
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
        &self.first_provider().redirect_uri
    }

    /// Whether the gateway is served over https (cookies `Secure`, HSTS sent).
    pub fn is_https(&self) -> bool {
        self.public_url.scheme() == "https"
    }

    /// The first identity provider (the only one unless `[[providers]]` lists several): the
    /// built-in simulator or an external one.
    pub fn provider(&self) -> &Provider {
        &self.first_provider().provider
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
}

/// Reads and validates a [`GatewayConfig`]; made by [`GatewayConfig::loader`].
pub struct ConfigLoader {
    env: Box<EnvLookup>,
    file: Option<PathBuf>,
    defaults_base: Option<PathBuf>,
    decryptors: Vec<String>,
}

impl fmt::Debug for ConfigLoader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigLoader")
            .field("file", &self.file)
            .field("defaults_base", &self.defaults_base)
            .field("decryptors", &self.decryptors)
            .finish_non_exhaustive()
    }
}

impl ConfigLoader {
    /// Reads the TOML file at `path` too (the `--config FILE` argument).
    #[must_use]
    pub fn file(mut self, path: impl Into<PathBuf>) -> Self {
        self.file = Some(path.into());
        self
    }

    /// Reads the TOML file at `path` too, if there is one.
    #[must_use]
    pub fn optional_file(mut self, path: Option<PathBuf>) -> Self {
        self.file = path;
        self
    }

    /// The directory the default catalog and directory paths (`samples/…`) are relative to;
    /// without it they are relative to the working directory.
    #[must_use]
    pub fn defaults_base(mut self, dir: impl Into<PathBuf>) -> Self {
        self.defaults_base = Some(dir.into());
        self
    }

    /// Says that the caller supplies an envelope decryptor for provider `id` (`default` for the
    /// single provider of `[provider]`), so its encrypted responses are not refused.
    ///
    /// The example gateway supplies none: the envelope format is not public, so no decryptor
    /// can be built from configuration. A portal that has one passes it to the provider's
    /// [`ClientConfig::envelope_decryptor`](crate::oidc::ClientConfig::envelope_decryptor).
    #[must_use]
    pub fn supplies_decryptor(mut self, id: &str) -> Self {
        self.decryptors.push(id.to_owned());
        self
    }

    /// Reads the file, if any, and the environment, and validates the result.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the variable or the file and field that is wrong.
    pub fn load(self) -> Result<GatewayConfig, ConfigError> {
        let Some(path) = self.file.clone() else {
            return self.build(RawFile::default(), None);
        };
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::ReadFile {
            path: path.clone(),
            source,
        })?;
        let raw = parse_file(&path, &text)?;
        self.build(raw, Some(&path))
    }

    /// Validates `text` as if it were the file `file_name`, plus the environment; the file set
    /// with [`file`](Self::file) is not read.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the variable or the file and field that is wrong.
    pub fn load_str(self, file_name: &str, text: &str) -> Result<GatewayConfig, ConfigError> {
        let path = PathBuf::from(file_name);
        let raw = parse_file(&path, text)?;
        self.build(raw, Some(&path))
    }

    fn build(&self, raw: RawFile, file: Option<&Path>) -> Result<GatewayConfig, ConfigError> {
        let file_name = file.map(|p| p.display().to_string()).unwrap_or_default();
        let file_dir = file
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let cx = Lookup {
            env: self.env.as_ref(),
            file_name: &file_name,
        };

        let bind = match cx.lookup(ENV_BIND, raw.bind, "bind") {
            Some(setting) => parse_bind(&setting)?,
            None => SocketAddr::from(([127, 0, 0, 1], 8080)),
        };

        let public_url = match cx.lookup(ENV_PUBLIC_URL, raw.public_url, "public_url") {
            Some(setting) => parse_public_url(&setting)?,
            None => Url::parse(DEFAULT_PUBLIC_URL).map_err(|_| {
                invalid(
                    Origin::env(ENV_PUBLIC_URL),
                    SettingError::InvalidUrl {
                        value: DEFAULT_PUBLIC_URL.to_owned(),
                    },
                )
            })?,
        };
        let providers = build_providers(&cx, raw.provider, raw.providers, &public_url)?;
        for provider in &providers {
            let supplied = self.decryptors.iter().any(|id| id == provider.id.as_str());
            if provider.needs_decryptor() && !supplied {
                return Err(invalid(
                    provider.encrypted_origin.clone(),
                    SettingError::NeedsDecryptor {
                        profile: provider.profile,
                    },
                ));
            }
        }

        let data_dir = match cx.lookup(ENV_DATA_DIR, raw.data_dir, "data_dir") {
            Some(setting) => {
                if setting.value.trim().is_empty() {
                    return Err(invalid(setting.origin, SettingError::Empty));
                }
                resolve(&file_dir, &setting, PathBuf::from(&setting.value))
            }
            None => PathBuf::from(DEFAULT_DATA_DIR),
        };

        let database = match cx.lookup(ENV_DATABASE_URL, raw.database_url, "database_url") {
            Some(setting) => DatabaseUrl::parse(&setting.value)
                .map_err(|problem| invalid(setting.origin, problem))?,
            None => DatabaseUrl {
                kind: DatabaseKind::Sqlite,
                url: format!("sqlite://{}", data_dir.join(DEFAULT_SQLITE_FILE).display()),
            },
        };

        let backoffice_url = cx
            .lookup(ENV_BACKOFFICE_URL, raw.backoffice_url, "backoffice_url")
            .map(|setting| parse_web_url(&setting))
            .transpose()?;

        let ward = build_ward(&cx, raw.ward, &file_dir, self.defaults_base.as_deref())?;
        let staff = build_staff(&cx, raw.staff)?;
        let session = build_session(&cx, raw.session)?;
        let rate_limits = build_rate_limits(&cx, raw.rate_limit)?;
        let limits = build_limits(&cx, raw.limits)?;

        Ok(GatewayConfig {
            bind,
            public_url,
            providers,
            database,
            data_dir,
            backoffice_url,
            ward,
            staff,
            session,
            rate_limits,
            limits,
        })
    }
}

/// The path given after `--config` on the command line, if any.
///
/// Accepts `--config FILE` and `--config=FILE`; `args` excludes the program name.
///
/// # Errors
///
/// [`ConfigError::Arguments`] for an unknown argument or a `--config` without a file.
///
/// # Example
///
/// ```
/// use wardgate::portal::config::config_file_from_args;
///
/// let args = ["--config".to_owned(), "gateway.toml".to_owned()];
/// assert_eq!(config_file_from_args(args)?, Some("gateway.toml".into()));
/// assert_eq!(config_file_from_args(Vec::<String>::new())?, None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn config_file_from_args<I>(args: I) -> Result<Option<PathBuf>, ConfigError>
where
    I: IntoIterator<Item = String>,
{
    let mut args = args.into_iter();
    let mut file = None;
    while let Some(arg) = args.next() {
        let path = if arg == "--config" {
            args.next().ok_or(ConfigError::Arguments {
                problem: ArgumentError::MissingConfigFile,
            })?
        } else if let Some(path) = arg.strip_prefix("--config=") {
            path.to_owned()
        } else {
            return Err(ConfigError::Arguments {
                problem: ArgumentError::Unknown { argument: arg },
            });
        };
        if path.is_empty() {
            return Err(ConfigError::Arguments {
                problem: ArgumentError::MissingConfigFile,
            });
        }
        file = Some(PathBuf::from(path));
    }
    Ok(file)
}

/// The identity provider the gateway logs residents in with.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Provider {
    /// No issuer is configured: the built-in provider simulator runs.
    Simulator {
        /// How to read the level, when configured; `None` uses the simulator's own.
        level_source: Option<LevelSource>,
    },
    /// An external OpenID Provider.
    External(ExternalProvider),
}

/// An external OpenID Provider, registered as a confidential client.
#[derive(Clone, Debug)]
pub struct ExternalProvider {
    issuer: String,
    client_id: String,
    client_secret: ClientSecret,
    level_source: LevelSource,
    /// Boxed: most providers are discovered, and this keeps [`Provider`]'s variants close in size.
    endpoints: Option<Box<ProviderEndpoints>>,
}

impl ExternalProvider {
    /// The issuer, exactly as configured (compared exactly with the provider's `iss`).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The client id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The client secret (`client_secret_basic`, or `client_secret_post` when that is all the
    /// provider supports).
    pub fn client_secret(&self) -> &ClientSecret {
        &self.client_secret
    }

    /// Where the provider states the level.
    pub fn level_source(&self) -> &LevelSource {
        &self.level_source
    }

    /// The configured endpoints of a provider that publishes no discovery document; `None`
    /// discovers them at the issuer.
    pub fn endpoints(&self) -> Option<&ProviderEndpoints> {
        self.endpoints.as_deref()
    }
}

/// One identity provider of the configuration: `[provider]` (with the environment) or one
/// `[[providers]]` table.
#[derive(Clone, Debug)]
pub struct ProviderConfig {
    id: ProviderId,
    label: LocalText,
    hint: LocalText,
    profile: ProviderProfile,
    provider: Provider,
    redirect_uri: Url,
    encrypted_responses: bool,
    /// The field to name when the encrypted responses cannot be opened.
    encrypted_origin: Origin,
}

impl ProviderConfig {
    /// The id: `default` for `[provider]`, the table's `id` for `[[providers]]`.
    pub fn id(&self) -> &ProviderId {
        &self.id
    }

    /// The name on the chooser (the table's `label`, else the profile's).
    pub fn label(&self) -> &LocalText {
        &self.label
    }

    /// Who should choose this provider, in plain words (the table's `hint`, else the
    /// profile's).
    pub fn hint(&self) -> &LocalText {
        &self.hint
    }

    /// The provider's profile.
    pub fn profile(&self) -> ProviderProfile {
        self.profile
    }

    /// The built-in simulator (in [`profile`](Self::profile)) or an external provider.
    pub fn provider(&self) -> &Provider {
        &self.provider
    }

    /// The redirect URI to register at the provider.
    pub fn redirect_uri(&self) -> &Url {
        &self.redirect_uri
    }

    /// Whether the provider encrypts its token and userinfo responses (`encrypted_responses`;
    /// `true` by default for `vneid-direct`).
    pub fn encrypted_responses(&self) -> bool {
        self.encrypted_responses
    }

    /// The relying party's configuration for this provider when it has an issuer: the
    /// profile's defaults, the client id and secret, the level source; `None` for a simulator
    /// (with the `devidp` feature, `ProviderConfig::start_simulator` starts one).
    ///
    /// `staff_userinfo` fetches userinfo even when the profile would not (a staff role claim
    /// lives there). A provider whose responses are encrypted still needs
    /// [`ClientConfig::envelope_decryptor`](crate::oidc::ClientConfig::envelope_decryptor).
    pub fn client_config(&self, staff_userinfo: bool) -> Option<ClientConfig> {
        let Provider::External(external) = &self.provider else {
            return None;
        };
        Some(
            ClientConfig::new(external.client_id(), self.redirect_uri.clone())
                .profile(self.profile)
                .client_secret(external.client_secret().secret())
                .level_source(external.level_source().clone())
                .fetch_userinfo(self.profile.fetches_userinfo() || staff_userinfo),
        )
    }

    /// Whether an external provider's encrypted responses need a decryptor from the caller.
    fn needs_decryptor(&self) -> bool {
        self.encrypted_responses && matches!(self.provider, Provider::External(_))
    }
}

/// The client secret; its `Debug` output is redacted and it is zeroed when dropped.
#[derive(Clone)]
pub struct ClientSecret(Zeroizing<String>);

impl ClientSecret {
    /// The secret.
    ///
    /// # Security
    ///
    /// Hand it only to the relying party; never log it or put it in an error.
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret([redacted])")
    }
}

/// A database connection URL; `Debug` hides everything but the kind for PostgreSQL (the URL may
/// carry a password).
#[derive(Clone)]
pub struct DatabaseUrl {
    kind: DatabaseKind,
    url: String,
}

impl DatabaseUrl {
    /// Which database.
    pub fn kind(&self) -> DatabaseKind {
        self.kind
    }

    /// The URL as configured.
    ///
    /// # Security
    ///
    /// A PostgreSQL URL may carry a password: hand it to the driver only, never log it.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The SQLite file path (`sqlite://data/wardgate.db` → `data/wardgate.db`), without any
    /// `?…` options; `None` for PostgreSQL.
    pub fn sqlite_path(&self) -> Option<&str> {
        if self.kind != DatabaseKind::Sqlite {
            return None;
        }
        let rest = self
            .url
            .strip_prefix("sqlite://")
            .or_else(|| self.url.strip_prefix("sqlite:"))?;
        rest.split('?').next()
    }

    fn parse(value: &str) -> Result<Self, SettingError> {
        let value = value.trim();
        let scheme = value.split(':').next().unwrap_or_default();
        match scheme {
            "sqlite" => {
                let url = Self {
                    kind: DatabaseKind::Sqlite,
                    url: value.to_owned(),
                };
                match url.sqlite_path() {
                    Some(path) if !path.is_empty() => Ok(url),
                    _ => Err(SettingError::NoDatabasePath),
                }
            }
            "postgres" | "postgresql" => {
                // Never echo the URL: it may carry a password.
                let parsed = Url::parse(value).map_err(|_| SettingError::InvalidDatabaseUrl)?;
                if parsed.host_str().is_none_or(str::is_empty) {
                    return Err(SettingError::InvalidDatabaseUrl);
                }
                Ok(Self {
                    kind: DatabaseKind::Postgres,
                    url: value.to_owned(),
                })
            }
            _ => Err(SettingError::UnsupportedDatabase {
                scheme: scheme.to_owned(),
            }),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = f.debug_struct("DatabaseUrl");
        out.field("kind", &self.kind);
        match self.kind {
            DatabaseKind::Sqlite => out.field("url", &self.url),
            DatabaseKind::Postgres => out.field("url", &"[redacted]"),
        };
        out.finish()
    }
}

/// Which database a [`DatabaseUrl`] points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DatabaseKind {
    /// `postgres://` or `postgresql://`.
    Postgres,
    /// `sqlite://` (or `sqlite:`).
    Sqlite,
}

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
    fn env(variable: &'static str) -> Self {
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

/// What is wrong with the command line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ArgumentError {
    /// `--config` without a file.
    #[error("`--config` needs a file: `--config FILE`")]
    MissingConfigFile,
    /// An argument other than `--config`.
    #[error("unknown argument `{argument}`: the only argument is `--config FILE`")]
    Unknown {
        /// The argument.
        argument: String,
    },
}

// ---------------------------------------------------------------------------------------------
// The raw file and the lookup of values.

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    bind: Option<String>,
    public_url: Option<String>,
    database_url: Option<String>,
    data_dir: Option<String>,
    backoffice_url: Option<String>,
    provider: Option<RawProvider>,
    providers: Option<Vec<RawProviderTable>>,
    #[serde(default)]
    ward: RawWard,
    #[serde(default)]
    staff: RawStaff,
    #[serde(default)]
    session: RawSession,
    #[serde(default)]
    rate_limit: RawRateLimit,
    #[serde(default)]
    limits: RawLimits,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRateLimit {
    login_per_minute: Option<i64>,
    login_burst: Option<i64>,
    submit_per_minute: Option<i64>,
    submit_burst: Option<i64>,
    max_tracked_addresses: Option<i64>,
    trusted_proxies: Option<Vec<String>>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    attachment_max_files: Option<i64>,
    attachment_max_bytes: Option<i64>,
    attachments_max_total_bytes: Option<i64>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProvider {
    issuer: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    acr_level1: Option<Vec<String>>,
    acr_level2: Option<Vec<String>>,
    level_source: Option<LevelSource>,
    profile: Option<String>,
    level_claim: Option<String>,
    encrypted_responses: Option<bool>,
    authorization_endpoint: Option<String>,
    token_endpoint: Option<String>,
    userinfo_endpoint: Option<String>,
    jwks_uri: Option<String>,
    pushed_authorization_request_endpoint: Option<String>,
    require_pushed_authorization_requests: Option<bool>,
    authorization_response_iss_parameter_supported: Option<bool>,
    token_endpoint_auth_method: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProviderTable {
    id: Option<String>,
    label: Option<LocalText>,
    hint: Option<LocalText>,
    profile: Option<String>,
    issuer: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    acr_level1: Option<Vec<String>>,
    acr_level2: Option<Vec<String>>,
    level_source: Option<LevelSource>,
    level_claim: Option<String>,
    encrypted_responses: Option<bool>,
    authorization_endpoint: Option<String>,
    token_endpoint: Option<String>,
    userinfo_endpoint: Option<String>,
    jwks_uri: Option<String>,
    pushed_authorization_request_endpoint: Option<String>,
    require_pushed_authorization_requests: Option<bool>,
    authorization_response_iss_parameter_supported: Option<bool>,
    token_endpoint_auth_method: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWard {
    code: Option<String>,
    catalog: Option<String>,
    directory: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStaff {
    #[serde(default)]
    subjects: Vec<String>,
    role_claim: Option<String>,
    role_value: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSession {
    idle_minutes: Option<i64>,
    absolute_minutes: Option<i64>,
}

/// Reads one environment variable.
type EnvLookup = dyn Fn(&str) -> Option<String> + Send + Sync;

/// A value and where it came from.
struct Setting<T> {
    value: T,
    origin: Origin,
}

struct Lookup<'a> {
    env: &'a EnvLookup,
    file_name: &'a str,
}

impl Lookup<'_> {
    /// The environment variable if set and not empty, else the file field.
    fn lookup(
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
    fn lookup_list(
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

    fn file(&self, field: &'static str) -> Origin {
        Origin::File {
            file: self.file_name.to_owned(),
            field,
        }
    }

    fn table(&self, index: usize, field: &'static str) -> Origin {
        Origin::ProviderTable {
            file: self.file_name.to_owned(),
            index,
            field,
        }
    }

    /// Whether `variable` is set to something other than blanks.
    fn is_set(&self, variable: &str) -> bool {
        (self.env)(variable).is_some_and(|v| !v.trim().is_empty())
    }
}

fn invalid(origin: Origin, problem: SettingError) -> ConfigError {
    ConfigError::Invalid { origin, problem }
}

fn parse_file(path: &Path, text: &str) -> Result<RawFile, ConfigError> {
    toml::from_str(text).map_err(|error| {
        let line = error
            .span()
            .map(|span| text.get(..span.start).unwrap_or(text).matches('\n').count() + 1)
            .unwrap_or(1);
        ConfigError::ParseFile {
            path: path.to_path_buf(),
            line,
            message: error.message().replace('\n', " "),
        }
    })
}

/// A path from the file is relative to the file's directory; one from the environment is used
/// as given.
fn resolve(file_dir: &Path, setting: &Setting<String>, path: PathBuf) -> PathBuf {
    match setting.origin {
        Origin::File { .. } if path.is_relative() => file_dir.join(path),
        _ => path,
    }
}

// ---------------------------------------------------------------------------------------------
// Validation, one function per setting or section.

fn parse_bind(setting: &Setting<String>) -> Result<SocketAddr, ConfigError> {
    setting.value.trim().parse().map_err(|_| {
        invalid(
            setting.origin.clone(),
            SettingError::NotSocketAddress {
                value: setting.value.clone(),
            },
        )
    })
}

/// An endpoint URL: as [`parse_web_url`], but a query is allowed (RFC 6749 §3.1 lets an
/// endpoint carry one); returned as written, trimmed.
fn parse_endpoint(setting: &Setting<String>) -> Result<String, ConfigError> {
    check_url(setting, true)?;
    Ok(setting.value.trim().to_owned())
}

/// An absolute http(s) URL, http only on loopback, no credentials, no query or fragment.
fn parse_web_url(setting: &Setting<String>) -> Result<Url, ConfigError> {
    check_url(setting, false)
}

/// An absolute http(s) URL, http only on loopback, no credentials, no fragment, and no query
/// unless `query` allows one.
fn check_url(setting: &Setting<String>, query: bool) -> Result<Url, ConfigError> {
    let fail = |problem| invalid(setting.origin.clone(), problem);
    let value = setting.value.trim();
    let url = Url::parse(value).map_err(|_| {
        fail(SettingError::InvalidUrl {
            value: value.to_owned(),
        })
    })?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => {
            return Err(fail(SettingError::InsecureHttp {
                host: url.host_str().unwrap_or_default().to_owned(),
            }));
        }
        scheme => {
            return Err(fail(SettingError::UnsupportedScheme {
                scheme: scheme.to_owned(),
            }));
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(fail(SettingError::InvalidUrl {
            value: value.to_owned(),
        }));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(fail(SettingError::HasCredentials));
    }
    if (url.query().is_some() && !query) || url.fragment().is_some() {
        return Err(fail(SettingError::HasQueryOrFragment {
            value: value.to_owned(),
        }));
    }
    Ok(url)
}

fn parse_public_url(setting: &Setting<String>) -> Result<Url, ConfigError> {
    let url = parse_web_url(setting)?;
    if url.path() != "/" {
        return Err(invalid(
            setting.origin.clone(),
            SettingError::HasPath {
                path: url.path().to_owned(),
            },
        ));
    }
    Ok(url)
}

fn build_providers(
    cx: &Lookup<'_>,
    single: Option<RawProvider>,
    tables: Option<Vec<RawProviderTable>>,
    public_url: &Url,
) -> Result<Vec<ProviderConfig>, ConfigError> {
    let Some(tables) = tables else {
        return Ok(vec![build_single_provider(
            cx,
            single.unwrap_or_default(),
            public_url,
        )?]);
    };
    if single.is_some() {
        return Err(invalid(
            cx.file("provider"),
            SettingError::ProviderFormsCombined,
        ));
    }
    for variable in [
        ENV_PROVIDER_PROFILE,
        ENV_ISSUER,
        ENV_CLIENT_ID,
        ENV_CLIENT_SECRET,
        ENV_ACR_LEVEL1,
        ENV_ACR_LEVEL2,
        ENV_AUTHORIZATION_ENDPOINT,
        ENV_TOKEN_ENDPOINT,
        ENV_USERINFO_ENDPOINT,
        ENV_JWKS_URI,
        ENV_PAR_ENDPOINT,
        ENV_TOKEN_ENDPOINT_AUTH_METHOD,
    ] {
        if cx.is_set(variable) {
            return Err(invalid(
                Origin::env(variable),
                SettingError::ProviderFormsCombined,
            ));
        }
    }
    if tables.is_empty() {
        return Err(invalid(cx.file("providers"), SettingError::NoProviders));
    }
    let mut providers: Vec<ProviderConfig> = Vec::with_capacity(tables.len());
    for (index, table) in tables.into_iter().enumerate() {
        let provider = build_table_provider(cx, index, table, public_url)?;
        for earlier in &providers {
            if earlier.id == provider.id {
                return Err(invalid(
                    cx.table(index, "id"),
                    SettingError::DuplicateProviderId {
                        id: provider.id.to_string(),
                    },
                ));
            }
            if earlier.label.vi == provider.label.vi || earlier.label.en == provider.label.en {
                return Err(invalid(
                    cx.table(index, "label"),
                    SettingError::DuplicateLabel {
                        other: earlier.id.to_string(),
                    },
                ));
            }
        }
        providers.push(provider);
    }
    Ok(providers)
}

/// `[provider]` and the provider variables: the single provider, id `default`.
fn build_single_provider(
    cx: &Lookup<'_>,
    raw: RawProvider,
    public_url: &Url,
) -> Result<ProviderConfig, ConfigError> {
    let profile_setting = cx.lookup(ENV_PROVIDER_PROFILE, raw.profile, "provider.profile");
    let (profile, profile_origin) =
        parse_profile(profile_setting, Origin::env(ENV_PROVIDER_PROFILE))?;
    let issuer = cx.lookup(ENV_ISSUER, raw.issuer, "provider.issuer");
    let client_id = cx.lookup(ENV_CLIENT_ID, raw.client_id, "provider.client_id");
    let client_secret = cx.lookup(
        ENV_CLIENT_SECRET,
        raw.client_secret,
        "provider.client_secret",
    );
    if raw.level_claim.is_some()
        && (raw.acr_level1.is_some() || raw.acr_level2.is_some() || raw.level_source.is_some())
    {
        return Err(invalid(
            cx.file("provider.level_claim"),
            SettingError::ConflictingLevelClaim,
        ));
    }
    let explicit = build_level_source(cx, raw.acr_level1, raw.acr_level2, raw.level_source)?;
    let level_claim = raw.level_claim.map(|value| Setting {
        value,
        origin: cx.file("provider.level_claim"),
    });
    let level_source = with_level_claim(profile, explicit, level_claim)?;
    let encrypted = raw.encrypted_responses.map(|value| Setting {
        value,
        origin: cx.file("provider.encrypted_responses"),
    });
    let flag = |value: Option<bool>, field| {
        value.map(|value| Setting {
            value,
            origin: cx.file(field),
        })
    };
    let endpoints = EndpointSettings {
        authorization: cx.lookup(
            ENV_AUTHORIZATION_ENDPOINT,
            raw.authorization_endpoint,
            "provider.authorization_endpoint",
        ),
        token: cx.lookup(
            ENV_TOKEN_ENDPOINT,
            raw.token_endpoint,
            "provider.token_endpoint",
        ),
        userinfo: cx.lookup(
            ENV_USERINFO_ENDPOINT,
            raw.userinfo_endpoint,
            "provider.userinfo_endpoint",
        ),
        jwks: cx.lookup(ENV_JWKS_URI, raw.jwks_uri, "provider.jwks_uri"),
        pushed: cx.lookup(
            ENV_PAR_ENDPOINT,
            raw.pushed_authorization_request_endpoint,
            "provider.pushed_authorization_request_endpoint",
        ),
        require_pushed: flag(
            raw.require_pushed_authorization_requests,
            "provider.require_pushed_authorization_requests",
        ),
        iss_supported: flag(
            raw.authorization_response_iss_parameter_supported,
            "provider.authorization_response_iss_parameter_supported",
        ),
        auth_method: cx.lookup(
            ENV_TOKEN_ENDPOINT_AUTH_METHOD,
            raw.token_endpoint_auth_method,
            "provider.token_endpoint_auth_method",
        ),
    };
    let (provider, encrypted_responses, encrypted_origin) = resolve_provider(
        ProviderSettings {
            profile,
            profile_origin,
            issuer,
            client_id,
            client_secret,
            level_source,
            encrypted,
            endpoints,
        },
        &Wording {
            missing_client_id: Origin::env(ENV_CLIENT_ID),
            missing_client_secret: Origin::env(ENV_CLIENT_SECRET),
            missing_level: Origin::env(ENV_ACR_LEVEL2),
            missing_authorization_endpoint: Origin::env(ENV_AUTHORIZATION_ENDPOINT),
            missing_token_endpoint: Origin::env(ENV_TOKEN_ENDPOINT),
            needs_issuer: SettingError::NeedsIssuer,
            required: SettingError::RequiredWithIssuer,
            no_level: SettingError::NoLevelSource,
        },
    )?;
    let redirect_uri = callback_uri(public_url, CALLBACK_PATH)?;
    let (label, hint) = profile_texts(profile);
    Ok(ProviderConfig {
        id: ProviderId::default_id(),
        label,
        hint,
        profile,
        provider,
        redirect_uri,
        encrypted_responses,
        encrypted_origin,
    })
}

/// One `[[providers]]` table (the environment does not reach into it).
fn build_table_provider(
    cx: &Lookup<'_>,
    index: usize,
    raw: RawProviderTable,
    public_url: &Url,
) -> Result<ProviderConfig, ConfigError> {
    let at = |field| cx.table(index, field);
    let setting = |value: Option<String>, field| {
        value.map(|value| Setting {
            value,
            origin: at(field),
        })
    };
    let id = match raw.id {
        Some(id) => ProviderId::new(id.trim()).map_err(|error| invalid(at("id"), error.into()))?,
        None => return Err(invalid(at("id"), SettingError::Required)),
    };
    let (profile, profile_origin) = parse_profile(setting(raw.profile, "profile"), at("profile"))?;
    let text = |value: Option<LocalText>, field, default: LocalText| match value {
        Some(text) if text.is_incomplete() => Err(invalid(at(field), SettingError::Empty)),
        Some(text) => Ok(text),
        None => Ok(default),
    };
    let (default_label, default_hint) = profile_texts(profile);
    let label = text(raw.label, "label", default_label)?;
    let hint = text(raw.hint, "hint", default_hint)?;

    if raw.level_source.is_some() && (raw.acr_level1.is_some() || raw.acr_level2.is_some()) {
        return Err(invalid(
            at("level_source"),
            SettingError::ConflictingLevelSource,
        ));
    }
    if raw.level_claim.is_some()
        && (raw.acr_level1.is_some() || raw.acr_level2.is_some() || raw.level_source.is_some())
    {
        return Err(invalid(
            at("level_claim"),
            SettingError::ConflictingLevelClaim,
        ));
    }
    let explicit = match (raw.acr_level1, raw.acr_level2) {
        (None, None) => raw.level_source,
        (level1, level2) => {
            let level1 = level1.unwrap_or_default();
            let table =
                AcrTable::new(level1.clone(), level2.unwrap_or_default()).map_err(|error| {
                    let in_level1 = match &error {
                        LevelSourceError::MalformedValue { value }
                        | LevelSourceError::KeycloakDefaultAcr { value } => level1.contains(value),
                        LevelSourceError::DuplicateValue { value } => {
                            level1.iter().filter(|v| *v == value).count() > 1
                        }
                        _ => false,
                    };
                    let field = if in_level1 {
                        "acr_level1"
                    } else {
                        "acr_level2"
                    };
                    invalid(at(field), SettingError::AcrValues(error))
                })?;
            Some(LevelSource::acr(table))
        }
    };
    let level_source =
        with_level_claim(profile, explicit, setting(raw.level_claim, "level_claim"))?;
    let encrypted = raw.encrypted_responses.map(|value| Setting {
        value,
        origin: at("encrypted_responses"),
    });
    let flag = |value: Option<bool>, field| {
        value.map(|value| Setting {
            value,
            origin: at(field),
        })
    };
    let endpoints = EndpointSettings {
        authorization: setting(raw.authorization_endpoint, "authorization_endpoint"),
        token: setting(raw.token_endpoint, "token_endpoint"),
        userinfo: setting(raw.userinfo_endpoint, "userinfo_endpoint"),
        jwks: setting(raw.jwks_uri, "jwks_uri"),
        pushed: setting(
            raw.pushed_authorization_request_endpoint,
            "pushed_authorization_request_endpoint",
        ),
        require_pushed: flag(
            raw.require_pushed_authorization_requests,
            "require_pushed_authorization_requests",
        ),
        iss_supported: flag(
            raw.authorization_response_iss_parameter_supported,
            "authorization_response_iss_parameter_supported",
        ),
        auth_method: setting(raw.token_endpoint_auth_method, "token_endpoint_auth_method"),
    };
    let (provider, encrypted_responses, encrypted_origin) = resolve_provider(
        ProviderSettings {
            profile,
            profile_origin,
            issuer: setting(raw.issuer, "issuer"),
            client_id: setting(raw.client_id, "client_id"),
            client_secret: setting(raw.client_secret, "client_secret"),
            level_source,
            encrypted,
            endpoints,
        },
        &Wording {
            missing_client_id: at("client_id"),
            missing_client_secret: at("client_secret"),
            missing_level: at("acr_level2"),
            missing_authorization_endpoint: at("authorization_endpoint"),
            missing_token_endpoint: at("token_endpoint"),
            needs_issuer: SettingError::NeedsTableIssuer,
            required: SettingError::RequiredWithTableIssuer,
            no_level: SettingError::NoTableLevelSource,
        },
    )?;
    let redirect_uri = callback_uri(public_url, &id.callback_path())?;
    Ok(ProviderConfig {
        id,
        label,
        hint,
        profile,
        provider,
        redirect_uri,
        encrypted_responses,
        encrypted_origin,
    })
}

/// The profile named by `setting` (`standard` when unset) and the origin to name for it.
fn parse_profile(
    setting: Option<Setting<String>>,
    unset: Origin,
) -> Result<(ProviderProfile, Origin), ConfigError> {
    match setting {
        Some(setting) => {
            let profile = setting
                .value
                .trim()
                .parse()
                .map_err(|error: UnknownProfile| invalid(setting.origin.clone(), error.into()))?;
            Ok((profile, setting.origin))
        }
        None => Ok((ProviderProfile::default(), unset)),
    }
}

/// `level_claim` renames the claim of the profile's own level source; an explicit source
/// (`acr_level*`, `level_source`) is kept as it is.
fn with_level_claim(
    profile: ProviderProfile,
    explicit: Option<LevelSource>,
    level_claim: Option<Setting<String>>,
) -> Result<Option<LevelSource>, ConfigError> {
    let Some(claim) = level_claim else {
        return Ok(explicit);
    };
    if explicit.is_some() {
        return Ok(explicit);
    }
    let name = claim.value.trim();
    if name.is_empty() {
        return Err(invalid(claim.origin, SettingError::Empty));
    }
    Ok(Some(match profile.default_level_source() {
        LevelSource::IdTokenClaim { table, .. } => LevelSource::IdTokenClaim {
            claim: name.to_owned(),
            table,
        },
        LevelSource::UserinfoClaim { table, .. } => LevelSource::UserinfoClaim {
            claim: name.to_owned(),
            table,
        },
        // Every profile reads a claim today; should one not, the name has nothing to rename.
        other => other,
    }))
}

/// The settings of one provider, whichever form they came from.
struct ProviderSettings {
    profile: ProviderProfile,
    profile_origin: Origin,
    issuer: Option<Setting<String>>,
    client_id: Option<Setting<String>>,
    client_secret: Option<Setting<String>>,
    level_source: Option<LevelSource>,
    encrypted: Option<Setting<bool>>,
    endpoints: EndpointSettings,
}

/// The endpoint settings of one provider, for a provider without a discovery document.
struct EndpointSettings {
    authorization: Option<Setting<String>>,
    token: Option<Setting<String>>,
    userinfo: Option<Setting<String>>,
    jwks: Option<Setting<String>>,
    pushed: Option<Setting<String>>,
    require_pushed: Option<Setting<bool>>,
    iss_supported: Option<Setting<bool>>,
    auth_method: Option<Setting<String>>,
}

impl EndpointSettings {
    /// Where the first endpoint setting that is set came from, if any.
    fn first_origin(&self) -> Option<Origin> {
        [
            &self.authorization,
            &self.token,
            &self.userinfo,
            &self.jwks,
            &self.pushed,
        ]
        .into_iter()
        .flatten()
        .map(|s| &s.origin)
        .chain(self.require_pushed.iter().map(|s| &s.origin))
        .chain(self.iss_supported.iter().map(|s| &s.origin))
        .chain(self.auth_method.iter().map(|s| &s.origin))
        .next()
        .cloned()
    }

    /// The validated endpoints; `None` when neither endpoint is set (the provider is
    /// discovered).
    fn build(self, wording: &Wording) -> Result<Option<ProviderEndpoints>, ConfigError> {
        // With neither endpoint set, this is the first optional setting, if any.
        let first = self.first_origin();
        let (authorization, token) = match (self.authorization, self.token) {
            (Some(authorization), Some(token)) => (authorization, token),
            (None, None) => {
                return match first {
                    Some(origin) => Err(invalid(origin, SettingError::NeedsEndpoints)),
                    None => Ok(None),
                };
            }
            (Some(set), None) => {
                return Err(invalid(
                    wording.missing_token_endpoint.clone(),
                    SettingError::EndpointPair {
                        set: set.origin.to_string(),
                    },
                ));
            }
            (None, Some(set)) => {
                return Err(invalid(
                    wording.missing_authorization_endpoint.clone(),
                    SettingError::EndpointPair {
                        set: set.origin.to_string(),
                    },
                ));
            }
        };
        let mut endpoints =
            ProviderEndpoints::new(parse_endpoint(&authorization)?, parse_endpoint(&token)?);
        if let Some(setting) = &self.userinfo {
            endpoints = endpoints.userinfo_endpoint(parse_endpoint(setting)?);
        }
        if let Some(setting) = &self.jwks {
            endpoints = endpoints.jwks_uri(parse_endpoint(setting)?);
        }
        if let Some(setting) = &self.pushed {
            endpoints = endpoints.pushed_authorization_request_endpoint(parse_endpoint(setting)?);
        }
        if let Some(setting) = self.require_pushed {
            if setting.value && self.pushed.is_none() {
                return Err(invalid(setting.origin, SettingError::NeedsParEndpoint));
            }
            endpoints = endpoints.require_pushed_authorization_requests(setting.value);
        }
        if let Some(setting) = self.iss_supported {
            endpoints = endpoints.authorization_response_iss_parameter_supported(setting.value);
        }
        if let Some(setting) = self.auth_method {
            let method = setting.value.trim();
            // The gateway always has a client secret, so `none` cannot work.
            if !matches!(method, "client_secret_basic" | "client_secret_post") {
                return Err(invalid(
                    setting.origin.clone(),
                    SettingError::UnsupportedAuthMethod {
                        value: method.to_owned(),
                    },
                ));
            }
            endpoints = endpoints.token_endpoint_auth_method(method);
        }
        Ok(Some(endpoints))
    }
}

/// What to name, and say, when a setting is missing (the two forms word it differently).
struct Wording {
    missing_client_id: Origin,
    missing_client_secret: Origin,
    missing_level: Origin,
    missing_authorization_endpoint: Origin,
    missing_token_endpoint: Origin,
    needs_issuer: SettingError,
    required: SettingError,
    no_level: SettingError,
}

/// The simulator or an external provider, whether its responses are encrypted, and the field
/// to name if nobody can open them.
fn resolve_provider(
    settings: ProviderSettings,
    wording: &Wording,
) -> Result<(Provider, bool, Origin), ConfigError> {
    let ProviderSettings {
        profile,
        profile_origin,
        issuer,
        client_id,
        client_secret,
        level_source,
        encrypted,
        endpoints,
    } = settings;
    let encrypted_responses = encrypted
        .as_ref()
        .map_or(profile == ProviderProfile::VneidDirect, |s| s.value);
    let encrypted_origin = encrypted.map_or(profile_origin, |s| s.origin);

    let Some(issuer) = issuer else {
        let set = client_id
            .or(client_secret)
            .map(|s| s.origin)
            .or_else(|| endpoints.first_origin());
        if let Some(origin) = set {
            return Err(invalid(origin, wording.needs_issuer.clone()));
        }
        let provider = Provider::Simulator { level_source };
        return Ok((provider, encrypted_responses, encrypted_origin));
    };
    if issuer.value.trim().is_empty() {
        return Err(invalid(issuer.origin, SettingError::Empty));
    }
    // The issuer is kept exactly as written: OIDC compares it character for character.
    parse_web_url(&issuer)?;
    let client_id = match client_id {
        Some(setting) if !setting.value.trim().is_empty() => setting.value.trim().to_owned(),
        Some(setting) => return Err(invalid(setting.origin, SettingError::Empty)),
        None => {
            return Err(invalid(
                wording.missing_client_id.clone(),
                wording.required.clone(),
            ));
        }
    };
    let client_secret = match client_secret {
        Some(setting) if !setting.value.is_empty() => ClientSecret(Zeroizing::new(setting.value)),
        Some(setting) => return Err(invalid(setting.origin, SettingError::Empty)),
        None => {
            return Err(invalid(
                wording.missing_client_secret.clone(),
                wording.required.clone(),
            ));
        }
    };
    // A profiled provider brings its own level source; a standard one must be told.
    let level_source = match level_source {
        Some(source) => source,
        None if profile != ProviderProfile::Standard => profile.default_level_source(),
        None => {
            return Err(invalid(
                wording.missing_level.clone(),
                wording.no_level.clone(),
            ));
        }
    };
    let endpoints = endpoints.build(wording)?.map(Box::new);
    let provider = Provider::External(ExternalProvider {
        issuer: issuer.value.trim().to_owned(),
        client_id,
        client_secret,
        level_source,
        endpoints,
    });
    Ok((provider, encrypted_responses, encrypted_origin))
}

fn callback_uri(public_url: &Url, path: &str) -> Result<Url, ConfigError> {
    public_url.join(path).map_err(|_| {
        invalid(
            Origin::env(ENV_PUBLIC_URL),
            SettingError::InvalidUrl {
                value: public_url.to_string(),
            },
        )
    })
}

fn build_level_source(
    cx: &Lookup<'_>,
    file_level1: Option<Vec<String>>,
    file_level2: Option<Vec<String>>,
    file_source: Option<LevelSource>,
) -> Result<Option<LevelSource>, ConfigError> {
    if file_source.is_some() && (file_level1.is_some() || file_level2.is_some()) {
        return Err(invalid(
            cx.file("provider.level_source"),
            SettingError::ConflictingLevelSource,
        ));
    }
    let level1 = cx.lookup_list(ENV_ACR_LEVEL1, file_level1, "provider.acr_level1")?;
    let level2 = cx.lookup_list(ENV_ACR_LEVEL2, file_level2, "provider.acr_level2")?;
    if level1.is_none() && level2.is_none() {
        return Ok(file_source);
    }
    let level2_origin = level2
        .as_ref()
        .map_or_else(|| Origin::env(ENV_ACR_LEVEL2), |s| s.origin.clone());
    let level1_origin = level1
        .as_ref()
        .map_or_else(|| Origin::env(ENV_ACR_LEVEL1), |s| s.origin.clone());
    let level1 = level1.map(|s| s.value).unwrap_or_default();
    let level2 = level2.map(|s| s.value).unwrap_or_default();
    let table = AcrTable::new(level1.clone(), level2).map_err(|error| {
        // Name the list that holds the offending value; a value repeated across both lists is
        // reported where it repeats, in level 2.
        let in_level1 = match &error {
            LevelSourceError::MalformedValue { value }
            | LevelSourceError::KeycloakDefaultAcr { value } => level1.contains(value),
            LevelSourceError::DuplicateValue { value } => {
                level1.iter().filter(|v| *v == value).count() > 1
            }
            _ => false,
        };
        let origin = if in_level1 {
            level1_origin.clone()
        } else {
            level2_origin.clone()
        };
        invalid(origin, SettingError::AcrValues(error))
    })?;
    Ok(Some(LevelSource::acr(table)))
}

fn build_ward(
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

fn build_staff(cx: &Lookup<'_>, raw: RawStaff) -> Result<StaffConfig, ConfigError> {
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

fn build_session(cx: &Lookup<'_>, raw: RawSession) -> Result<SessionTimeouts, ConfigError> {
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

/// A whole number in `min..=max` from the variable or the file field.
fn number(
    cx: &Lookup<'_>,
    variable: Option<&'static str>,
    from_file: Option<i64>,
    field: &'static str,
    (min, max): (i64, i64),
) -> Result<Option<i64>, ConfigError> {
    let setting = match variable {
        Some(variable) => cx.lookup(variable, from_file.map(|v| v.to_string()), field),
        None => from_file.map(|value| Setting {
            value: value.to_string(),
            origin: cx.file(field),
        }),
    };
    let Some(setting) = setting else {
        return Ok(None);
    };
    let value = setting.value.trim().parse::<i64>().map_err(|_| {
        invalid(
            setting.origin.clone(),
            SettingError::NotANumber {
                value: setting.value.clone(),
            },
        )
    })?;
    if !(min..=max).contains(&value) {
        return Err(invalid(
            setting.origin,
            SettingError::OutOfRange { value, min, max },
        ));
    }
    Ok(Some(value))
}

/// The range of a rate (per minute; 0 turns the limit off) and of a burst.
const RATE_RANGE: (i64, i64) = (0, 1_000_000);
const BURST_RANGE: (i64, i64) = (1, 1_000_000);
const TRACKED_RANGE: (i64, i64) = (1_000, 10_000_000);

fn build_rate_limits(cx: &Lookup<'_>, raw: RawRateLimit) -> Result<RateLimits, ConfigError> {
    let limit = |per_minute: Option<i64>, burst: Option<i64>, default: RateLimit| {
        let per_minute = per_minute.unwrap_or_else(|| i64::from(default.per_minute()));
        let burst = burst.unwrap_or_else(|| i64::from(default.burst()));
        RateLimit::new(
            u32::try_from(per_minute).unwrap_or(u32::MAX),
            u32::try_from(burst).unwrap_or(u32::MAX),
        )
    };
    let login = limit(
        number(
            cx,
            Some(ENV_RATE_LIMIT_LOGIN_PER_MINUTE),
            raw.login_per_minute,
            "rate_limit.login_per_minute",
            RATE_RANGE,
        )?,
        number(
            cx,
            Some(ENV_RATE_LIMIT_LOGIN_BURST),
            raw.login_burst,
            "rate_limit.login_burst",
            BURST_RANGE,
        )?,
        RateLimit::DEFAULT_LOGIN,
    );
    let submit = limit(
        number(
            cx,
            Some(ENV_RATE_LIMIT_SUBMIT_PER_MINUTE),
            raw.submit_per_minute,
            "rate_limit.submit_per_minute",
            RATE_RANGE,
        )?,
        number(
            cx,
            Some(ENV_RATE_LIMIT_SUBMIT_BURST),
            raw.submit_burst,
            "rate_limit.submit_burst",
            BURST_RANGE,
        )?,
        RateLimit::DEFAULT_SUBMIT,
    );
    let max_tracked = number(
        cx,
        Some(ENV_RATE_LIMIT_MAX_TRACKED),
        raw.max_tracked_addresses,
        "rate_limit.max_tracked_addresses",
        TRACKED_RANGE,
    )?
    .map_or(RateLimits::DEFAULT_MAX_TRACKED, |v| {
        usize::try_from(v).unwrap_or(RateLimits::DEFAULT_MAX_TRACKED)
    });
    let mut trusted_proxies = Vec::new();
    if let Some(setting) = cx.lookup_list(
        ENV_TRUSTED_PROXIES,
        raw.trusted_proxies,
        "rate_limit.trusted_proxies",
    )? {
        for item in &setting.value {
            let proxy = item.parse::<TrustedProxy>().map_err(|_| {
                invalid(
                    setting.origin.clone(),
                    SettingError::InvalidProxy {
                        value: item.clone(),
                    },
                )
            })?;
            trusted_proxies.push(proxy);
        }
    }
    Ok(RateLimits {
        login,
        submit,
        max_tracked,
        trusted_proxies,
    })
}

fn build_limits(cx: &Lookup<'_>, raw: RawLimits) -> Result<RequestLimits, ConfigError> {
    let ceiling = AttachmentLimits::MAX;
    let default = AttachmentLimits::DEFAULT;
    let size = |v: i64| usize::try_from(v).unwrap_or(0);
    let cap = |v: usize| i64::try_from(v).unwrap_or(i64::MAX);
    let max_files = number(
        cx,
        None,
        raw.attachment_max_files,
        "limits.attachment_max_files",
        (0, cap(ceiling.max_files)),
    )?
    .map_or(default.max_files, size);
    let max_file_bytes = number(
        cx,
        None,
        raw.attachment_max_bytes,
        "limits.attachment_max_bytes",
        (1, cap(ceiling.max_file_bytes)),
    )?
    .map_or(default.max_file_bytes, size);
    let max_total_bytes = number(
        cx,
        None,
        raw.attachments_max_total_bytes,
        "limits.attachments_max_total_bytes",
        (1, cap(ceiling.max_total_bytes)),
    )?
    .map_or(default.max_total_bytes, size);
    Ok(RequestLimits {
        attachments: AttachmentLimits::new(max_files, max_file_bytes, max_total_bytes),
        ..RequestLimits::DEFAULT
    })
}

#[cfg(test)]
mod tests;
