//! Cookie names and attributes, `Set-Cookie` rendering and `Cookie` header lookup.
//!
//! Every cookie wardgate sets is `Path=/; HttpOnly; SameSite=Lax` with a `Max-Age`. On an
//! `https` public URL it is also `Secure` and its name carries the `__Host-` prefix, which makes
//! the browser refuse it unless it is `Secure`, host-only (no `Domain`) and `Path=/`: a sibling
//! subdomain cannot plant or overwrite it. A cookie the browser should send to one path only
//! ([`CookieSettings::set_cookie_at`]) carries `__Secure-` instead, since `__Host-` requires
//! `Path=/`; its sealed value is bound to its name like every other.
//!
//! On plain `http` the gateway only runs on a loopback host (`127.0.0.0/8`, `::1`, `localhost`),
//! for development. There the cookies lose `Secure` and therefore the `__Host-` prefix, since
//! browsers refuse a `__Host-` cookie without `Secure`. Plain `http` on any other host is
//! refused: the session would travel in clear text.
//!
//! `SameSite=Lax` (not `Strict`) is needed for the login-flow cookie: the provider's redirect
//! back to the callback is a cross-site top-level `GET`, on which browsers send `Lax` cookies.
//! A provider answering with `response_mode=form_post` (a cross-site `POST`) would not get it.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

use chrono::TimeDelta;
use url::{Host, Url};

use super::seal::is_cookie_token;

/// Name of the session cookie on an `https` public URL.
pub const SESSION_COOKIE: &str = "__Host-wardgate-session";
/// Name of the login-flow cookie on an `https` public URL.
pub const LOGIN_FLOW_COOKIE: &str = "__Host-wardgate-login";
/// Name of the session cookie on plain `http` on a loopback host (development only).
pub const SESSION_COOKIE_LOOPBACK: &str = "wardgate-session";
/// Name of the login-flow cookie on plain `http` on a loopback host (development only).
pub const LOGIN_FLOW_COOKIE_LOOPBACK: &str = "wardgate-login";

/// The cookie names and attributes that fit the gateway's public URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CookieSettings {
    secure: bool,
}

impl CookieSettings {
    /// The settings for a gateway reached at `public_url`.
    ///
    /// `https` gives `Secure` cookies with the `__Host-` prefix; `http` on a loopback host gives
    /// cookies without `Secure` and without the prefix.
    ///
    /// # Errors
    ///
    /// [`CookieConfigError::InsecureRemoteHost`] for `http` on a host that is not loopback,
    /// [`CookieConfigError::UnsupportedScheme`] for any scheme but `http` and `https`,
    /// [`CookieConfigError::MissingHost`] for a URL without a host.
    ///
    /// # Example
    ///
    /// ```
    /// use wardgate::session::CookieSettings;
    ///
    /// let settings = CookieSettings::for_public_url(&"https://dichvucong.example.vn/".parse()?)?;
    /// assert_eq!(settings.session_cookie_name(), "__Host-wardgate-session");
    ///
    /// let local = CookieSettings::for_public_url(&"http://127.0.0.1:8080/".parse()?)?;
    /// assert_eq!(local.session_cookie_name(), "wardgate-session");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn for_public_url(public_url: &Url) -> Result<Self, CookieConfigError> {
        let host = public_url.host().ok_or(CookieConfigError::MissingHost)?;
        match public_url.scheme() {
            "https" => Ok(Self { secure: true }),
            "http" if is_loopback(&host) => Ok(Self { secure: false }),
            "http" => Err(CookieConfigError::InsecureRemoteHost {
                host: host.to_string(),
            }),
            scheme => Err(CookieConfigError::UnsupportedScheme {
                scheme: scheme.to_owned(),
            }),
        }
    }

    /// Whether cookies carry `Secure` (and the `__Host-` prefix).
    pub fn is_secure(&self) -> bool {
        self.secure
    }

    /// The session cookie's name.
    pub fn session_cookie_name(&self) -> &'static str {
        if self.secure {
            SESSION_COOKIE
        } else {
            SESSION_COOKIE_LOOPBACK
        }
    }

    /// The name of another cookie of this portal: `__Host-` + `base` over https, `base` alone on
    /// plain-http loopback (browsers refuse `__Host-` without `Secure`).
    pub fn cookie_name(&self, base: &str) -> String {
        if self.secure {
            format!("__Host-{base}")
        } else {
            base.to_owned()
        }
    }

    /// The name of a cookie set on a narrower path than `/` (see
    /// [`set_cookie_at`](Self::set_cookie_at)): `__Secure-` + `base` over https, since browsers
    /// refuse a `__Host-` cookie whose `Path` is not `/`; `base` alone on plain-http loopback.
    pub fn path_cookie_name(&self, base: &str) -> String {
        if self.secure {
            format!("__Secure-{base}")
        } else {
            base.to_owned()
        }
    }

    /// The login-flow cookie's name.
    pub fn login_flow_cookie_name(&self) -> &'static str {
        if self.secure {
            LOGIN_FLOW_COOKIE
        } else {
            LOGIN_FLOW_COOKIE_LOOPBACK
        }
    }

    /// A `Set-Cookie` header value: `name=value; Path=/; Max-Age=…; HttpOnly; SameSite=Lax`,
    /// then `; Secure` on `https`.
    ///
    /// A negative `max_age` is written as `0`, which removes the cookie.
    ///
    /// # Errors
    ///
    /// [`CookieValueError::InvalidName`] when `name` is not an RFC 6265 token,
    /// [`CookieValueError::InvalidValue`] when `value` holds a character outside RFC 6265
    /// cookie-octets (sealed values never do).
    pub fn set_cookie(
        &self,
        name: &str,
        value: &str,
        max_age: TimeDelta,
    ) -> Result<String, CookieValueError> {
        if !is_cookie_token(name) {
            return Err(CookieValueError::InvalidName);
        }
        if !value.bytes().all(is_cookie_octet) {
            return Err(CookieValueError::InvalidValue);
        }
        Ok(self.render(name, value, Some(max_age.num_seconds().max(0))))
    }

    /// A `Set-Cookie` header value without `Max-Age` or `Expires`: a browser-session cookie,
    /// gone when the browser closes (the sealed value carries its own expiry).
    ///
    /// # Errors
    ///
    /// As [`set_cookie`](Self::set_cookie).
    pub fn set_browser_session_cookie(
        &self,
        name: &str,
        value: &str,
    ) -> Result<String, CookieValueError> {
        if !is_cookie_token(name) {
            return Err(CookieValueError::InvalidName);
        }
        if !value.bytes().all(is_cookie_octet) {
            return Err(CookieValueError::InvalidValue);
        }
        Ok(self.render(name, value, None))
    }

    /// A `Set-Cookie` header value that removes the cookie `name` (empty value, `Max-Age=0`,
    /// the same attributes it was set with).
    ///
    /// # Errors
    ///
    /// [`CookieValueError::InvalidName`] when `name` is not an RFC 6265 token.
    pub fn removal(&self, name: &str) -> Result<String, CookieValueError> {
        if !is_cookie_token(name) {
            return Err(CookieValueError::InvalidName);
        }
        Ok(self.render(name, "", Some(0)))
    }

    /// As [`set_cookie`](Self::set_cookie), with `Path={path}` instead of `Path=/`: the browser
    /// sends the cookie only to `path` and below. Name it with
    /// [`path_cookie_name`](Self::path_cookie_name).
    ///
    /// # Errors
    ///
    /// As [`set_cookie`](Self::set_cookie); [`CookieValueError::InvalidValue`] also when `path`
    /// does not start with `/` or holds a character outside cookie-octets.
    pub fn set_cookie_at(
        &self,
        name: &str,
        value: &str,
        max_age: TimeDelta,
        path: &str,
    ) -> Result<String, CookieValueError> {
        if !is_cookie_token(name) {
            return Err(CookieValueError::InvalidName);
        }
        if !value.bytes().all(is_cookie_octet) || !is_cookie_path(path) {
            return Err(CookieValueError::InvalidValue);
        }
        Ok(self.render_at(name, value, Some(max_age.num_seconds().max(0)), path))
    }

    /// The `Set-Cookie` value that removes the cookie `name` set at `path`.
    ///
    /// # Errors
    ///
    /// As [`set_cookie_at`](Self::set_cookie_at).
    pub fn removal_at(&self, name: &str, path: &str) -> Result<String, CookieValueError> {
        self.set_cookie_at(name, "", TimeDelta::zero(), path)
    }

    fn render(&self, name: &str, value: &str, max_age: Option<i64>) -> String {
        self.render_at(name, value, max_age, "/")
    }

    fn render_at(&self, name: &str, value: &str, max_age: Option<i64>, path: &str) -> String {
        let mut header = String::with_capacity(name.len() + value.len() + path.len() + 64);
        // Writing to a String cannot fail.
        let _ = write!(header, "{name}={value}; Path={path}");
        if let Some(max_age) = max_age {
            let _ = write!(header, "; Max-Age={max_age}");
        }
        header.push_str("; HttpOnly; SameSite=Lax");
        if self.secure {
            header.push_str("; Secure");
        }
        header
    }
}

/// Whether `path` can be a cookie's `Path` attribute: absolute, cookie-octets only.
fn is_cookie_path(path: &str) -> bool {
    path.starts_with('/') && path.bytes().all(is_cookie_octet)
}

/// The value of the first cookie called `name` in a `Cookie` request header value.
///
/// Pairs are split at `;`; surrounding spaces and tabs are ignored; pairs without `=` or with an
/// empty name are skipped; one pair of surrounding double quotes is removed from the value.
/// Names compare exactly (cookie names are case-sensitive).
///
/// # Example
///
/// ```
/// use wardgate::session::find_cookie;
///
/// let header = "theme=dark; __Host-wardgate-session=AQE; broken";
/// assert_eq!(find_cookie(header, "__Host-wardgate-session"), Some("AQE"));
/// assert_eq!(find_cookie(header, "broken"), None);
/// ```
pub fn find_cookie<'a>(cookie_header: &'a str, name: &str) -> Option<&'a str> {
    if name.is_empty() {
        return None;
    }
    // Every handler that reads a cookie scans the whole header, the session cookie's
    // 300-character value included, sixteen bytes at a time.
    let mut rest = cookie_header;
    loop {
        let (pair, next) = match crate::byte_scan::find_byte(rest.as_bytes(), b';') {
            // `;` and `=` are ASCII: the slices fall on character boundaries.
            Some(at) => (&rest[..at], Some(&rest[at + 1..])),
            None => (rest, None),
        };
        if let Some(at) = crate::byte_scan::find_byte(pair.as_bytes(), b'=') {
            let (pair_name, value) = (&pair[..at], &pair[at + 1..]);
            if pair_name.trim_matches([' ', '\t']) == name {
                let value = value.trim_matches([' ', '\t']);
                return Some(
                    value
                        .strip_prefix('"')
                        .and_then(|inner| inner.strip_suffix('"'))
                        .unwrap_or(value),
                );
            }
        }
        rest = next?;
    }
}

/// The public URL does not allow safe cookies.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CookieConfigError {
    /// Plain `http` on a host that is not loopback.
    #[error(
        "public url uses plain http on `{host}`: use https, or a loopback host for development"
    )]
    InsecureRemoteHost {
        /// The host of the public URL.
        host: String,
    },
    /// A scheme other than `http` or `https`.
    #[error("public url scheme `{scheme}` is not http or https")]
    UnsupportedScheme {
        /// The scheme given.
        scheme: String,
    },
    /// The public URL has no host.
    #[error("public url has no host")]
    MissingHost,
}

/// A cookie could not be rendered.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CookieValueError {
    /// The name is not an RFC 6265 token.
    #[error("cookie name is not a valid token")]
    InvalidName,
    /// The value holds a character that is not an RFC 6265 cookie-octet.
    #[error("cookie value holds a character not allowed in a cookie")]
    InvalidValue,
}

fn is_loopback(host: &Host<&str>) -> bool {
    match host {
        Host::Domain(domain) => {
            let domain = domain.trim_end_matches('.').to_ascii_lowercase();
            domain == "localhost" || domain.ends_with(".localhost")
        }
        Host::Ipv4(address) => Ipv4Addr::is_loopback(address),
        Host::Ipv6(address) => Ipv6Addr::is_loopback(address),
    }
}

/// RFC 6265 §4.1.1 cookie-octet.
fn is_cookie_octet(byte: u8) -> bool {
    matches!(byte, 0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e)
}
