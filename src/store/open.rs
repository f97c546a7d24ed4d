//! [`open`]: a store from its URL.

use std::sync::Arc;

use super::{Store, StoreError};

/// Opens the store a URL names: `sqlite://…` (or `sqlite:…`) or `postgres://…` /
/// `postgresql://…`.
///
/// # Errors
///
/// [`StoreError::BadConfig`] when the text has no scheme; [`StoreError::UnsupportedScheme`] for
/// any other scheme; [`StoreError::BackendNotCompiled`] when the backend's crate feature is
/// off; otherwise what the backend's `open`/`connect` returns.
///
/// # Example
///
/// ```
/// use wardgate::store::{self, StoreError};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// let error = store::open("mysql://gateway@127.0.0.1/wardgate").await.unwrap_err();
/// assert!(matches!(error, StoreError::UnsupportedScheme { ref scheme } if scheme == "mysql"));
/// # if cfg!(feature = "sqlite") {
/// let dir = std::env::temp_dir().join(format!("wardgate-open-{}", std::process::id()));
/// let store = store::open(&format!("sqlite://{}", dir.join("wardgate.db").display())).await?;
/// let none = store.booking(&store::BookingId::from_stored("none")).await?;
/// assert!(none.is_none());
/// # std::fs::remove_dir_all(&dir)?;
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    let scheme = url
        .split_once(':')
        .map(|(scheme, _)| scheme)
        .filter(|s| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        })
        .ok_or(StoreError::BadConfig {
            reason: "the url does not start with a scheme such as `sqlite://` or `postgres://`",
        })?
        .to_ascii_lowercase();
    match scheme.as_str() {
        "sqlite" => open_sqlite(url).await,
        "postgres" | "postgresql" => open_postgres(url).await,
        _ => Err(StoreError::UnsupportedScheme { scheme }),
    }
}

#[cfg(feature = "sqlite")]
async fn open_sqlite(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    Ok(Arc::new(super::SqliteStore::open(url).await?))
}

#[cfg(not(feature = "sqlite"))]
async fn open_sqlite(_url: &str) -> Result<Arc<dyn Store>, StoreError> {
    Err(StoreError::BackendNotCompiled { feature: "sqlite" })
}

#[cfg(feature = "postgres")]
async fn open_postgres(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    Ok(Arc::new(super::PgStore::connect(url).await?))
}

#[cfg(not(feature = "postgres"))]
async fn open_postgres(_url: &str) -> Result<Arc<dyn Store>, StoreError> {
    Err(StoreError::BackendNotCompiled {
        feature: "postgres",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_url_without_a_scheme_is_refused() {
        for url in ["", "/var/lib/wardgate.db", "wardgate.db", "://x", "a b:c"] {
            let error = open(url).await.unwrap_err();
            assert_eq!(
                error.to_string(),
                "invalid store configuration: the url does not start with a scheme such as \
                 `sqlite://` or `postgres://`",
                "{url}"
            );
        }
    }

    #[tokio::test]
    async fn an_unknown_scheme_is_named_without_the_rest_of_the_url() {
        let error = open("MySQL://gateway:secret@127.0.0.1/wardgate")
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "unsupported store url scheme `mysql`: expected `sqlite://`, `postgres://` or \
             `postgresql://`"
        );
    }

    #[cfg(not(feature = "sqlite"))]
    #[tokio::test]
    async fn sqlite_without_its_feature_names_the_feature() {
        let error = open("sqlite://wardgate.db").await.unwrap_err();
        assert_eq!(
            error.to_string(),
            "the `sqlite` store backend is not compiled in: enable the crate feature `sqlite`"
        );
    }

    #[cfg(not(feature = "postgres"))]
    #[tokio::test]
    async fn postgres_without_its_feature_names_the_feature() {
        let error = open("postgresql://127.0.0.1/wardgate").await.unwrap_err();
        assert_eq!(
            error.to_string(),
            "the `postgres` store backend is not compiled in: enable the crate feature `postgres`"
        );
    }
}
