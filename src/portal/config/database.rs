//! The database URL (`database_url`).

use std::fmt;
use std::path::Path;

use url::Url;

use super::DEFAULT_SQLITE_FILE;
use super::error::SettingError;

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

    /// The default: the SQLite file `wardgate.db` in the data directory.
    pub(super) fn sqlite_in(data_dir: &Path) -> Self {
        Self {
            kind: DatabaseKind::Sqlite,
            url: format!("sqlite://{}", data_dir.join(DEFAULT_SQLITE_FILE).display()),
        }
    }

    pub(super) fn parse(value: &str) -> Result<Self, SettingError> {
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
