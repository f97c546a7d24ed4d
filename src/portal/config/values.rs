//! Values shared by several sections: socket addresses, URLs and bounded whole numbers.

use std::net::SocketAddr;

use url::Url;

use super::env::{Lookup, Setting};
use super::error::{ConfigError, SettingError, invalid};
use crate::oidc::is_loopback;

pub(super) fn parse_bind(setting: &Setting<String>) -> Result<SocketAddr, ConfigError> {
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
pub(super) fn parse_endpoint(setting: &Setting<String>) -> Result<String, ConfigError> {
    check_url(setting, true)?;
    Ok(setting.value.trim().to_owned())
}

/// An absolute http(s) URL, http only on loopback, no credentials, no query or fragment.
pub(super) fn parse_web_url(setting: &Setting<String>) -> Result<Url, ConfigError> {
    check_url(setting, false)
}

/// An absolute http(s) URL, http only on loopback, no credentials, no fragment, and no query
/// unless `query` allows one.
pub(super) fn check_url(setting: &Setting<String>, query: bool) -> Result<Url, ConfigError> {
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

pub(super) fn parse_public_url(setting: &Setting<String>) -> Result<Url, ConfigError> {
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
/// A whole number in `min..=max` from the variable or the file field.
pub(super) fn number(
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
