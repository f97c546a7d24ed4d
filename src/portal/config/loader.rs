//! The loader: reads the sources and builds the typed configuration, section by section.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use url::Url;

use super::super::metrics_access::MetricsToken;
use super::super::stats_api::StatsToken;
use super::env::ENV_STATS_TOKEN;
use crate::oidc::is_loopback;

use super::backoffice::{build_outbox_lease, build_status_keys};
use super::database::DatabaseUrl;
use super::env::{
    ENV_BACKOFFICE_URL, ENV_BIND, ENV_DATA_DIR, ENV_DATABASE_URL, ENV_ISSUER, ENV_METRICS_BIND,
    ENV_METRICS_TOKEN, ENV_PUBLIC_URL, ENV_SIMULATOR, EnvLookup, Lookup,
};
use super::error::{ConfigError, Origin, SettingError, invalid};
use super::file::{RawFile, parse_file, resolve};
use super::limits::{build_anonymous_tickets, build_limits, build_rate_limits};
use super::providers::{Provider, build_providers, check_decryptors};
use super::session::build_session;
use super::values::{parse_bind, parse_public_url, parse_web_url};
use super::ward::{build_assisted, build_staff, build_ward};
use super::{DEFAULT_DATA_DIR, DEFAULT_PUBLIC_URL, GatewayConfig};

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
    pub(super) fn new(env: Box<EnvLookup>) -> Self {
        Self {
            env,
            file: None,
            defaults_base: None,
            decryptors: Vec::new(),
        }
    }

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
        let from_tables = raw.providers.is_some();
        let providers = build_providers(&cx, raw.provider, raw.providers, &public_url)?;
        // Without an issuer the built-in simulator signs anyone in: only on loopback, or when a
        // test deployment asks for it.
        let simulator_allowed =
            is_loopback(&public_url) || (self.env)(ENV_SIMULATOR).is_some_and(|v| v.trim() == "1");
        let simulated = providers
            .iter()
            .position(|p| matches!(p.provider(), Provider::Simulator { .. }));
        if let (false, Some(index)) = (simulator_allowed, simulated) {
            let origin = if from_tables {
                cx.table(index, "issuer")
            } else {
                Origin::env(ENV_ISSUER)
            };
            return Err(invalid(
                origin,
                SettingError::SimulatorOffLoopback {
                    public_url: public_url.to_string(),
                },
            ));
        }
        check_decryptors(&providers, &self.decryptors)?;

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
            None => DatabaseUrl::sqlite_in(&data_dir),
        };

        let backoffice_url = cx
            .lookup(ENV_BACKOFFICE_URL, raw.backoffice_url, "backoffice_url")
            .map(|setting| parse_web_url(&setting))
            .transpose()?;

        let backoffice_status_keys = build_status_keys(&cx, raw.backoffice_status_keys)?;
        let outbox_lease = build_outbox_lease(&cx, raw.outbox_lease_seconds)?;

        let metrics_bind = cx
            .lookup(ENV_METRICS_BIND, raw.metrics_bind, "metrics_bind")
            .map(|setting| parse_bind(&setting))
            .transpose()?;
        let metrics_token = cx
            .lookup(ENV_METRICS_TOKEN, raw.metrics_token, "metrics_token")
            .map(|setting| {
                MetricsToken::new(&setting.value)
                    .map_err(|_| invalid(setting.origin, SettingError::WeakMetricsToken))
            })
            .transpose()?;
        let stats_token = cx
            .lookup(ENV_STATS_TOKEN, raw.stats_token, "stats_token")
            .map(|setting| {
                StatsToken::new(&setting.value)
                    .map_err(|_| invalid(setting.origin, SettingError::WeakStatsToken))
            })
            .transpose()?;

        let ward = build_ward(&cx, raw.ward, &file_dir, self.defaults_base.as_deref())?;
        let staff = build_staff(&cx, raw.staff)?.assisted_idle(build_assisted(&cx, raw.assisted)?);
        if let Some(named) = staff.role_provider_id()
            && !providers.iter().any(|p| p.id().as_str() == named)
        {
            return Err(invalid(
                cx.file("staff.role_provider"),
                SettingError::UnknownStaffRoleProvider {
                    value: named.to_owned(),
                },
            ));
        }
        let session = build_session(&cx, raw.session)?;
        let rate_limits = build_rate_limits(&cx, raw.rate_limit)?;
        let anonymous_tickets_per_hour =
            build_anonymous_tickets(&cx, raw.limits.anonymous_tickets_per_hour)?;
        let limits = build_limits(&cx, raw.limits)?;
        let upstream = super::upstream::build_upstream(&cx, raw.upstream, &raw.gate)?;

        Ok(GatewayConfig {
            bind,
            public_url,
            providers,
            database,
            data_dir,
            backoffice_url,
            backoffice_status_keys,
            outbox_lease,
            metrics_bind,
            metrics_token,
            stats_token,
            ward,
            staff,
            session,
            rate_limits,
            limits,
            anonymous_tickets_per_hour,
            upstream,
        })
    }
}
