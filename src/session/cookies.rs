//! The sealed session cookie as one component: open it from request headers, seal it into a
//! `Set-Cookie` value, clear it.

use std::fmt;
use std::sync::Arc;

use http::{HeaderMap, header};
use url::Url;

use super::{CookieConfigError, CookieSettings, KeyRing, Session, SessionConfig, find_cookie};
use crate::clock::{Clock, Random};

/// The sealed session cookie: opens, seals and clears it from request headers.
///
/// The gate's [`SessionLayer`](crate::integrations::axum::SessionLayer) uses it once per
/// request; it needs no web framework (headers are [`http::HeaderMap`]), so an application can
/// use it directly too. Opening checks the seal, the cookie
/// name, the purpose and both timeouts; every failure is "no session".
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use chrono::Utc;
/// use http::{HeaderMap, HeaderValue, header};
/// use wardgate::assurance::{Assurance, Level, SourceKind};
/// use wardgate::clock::SystemRandom;
/// use wardgate::session::{KeyRing, Session, SessionConfig, SessionCookies};
///
/// let random = Arc::new(SystemRandom::new());
/// let cookies = SessionCookies::new(
///     &"https://dichvucong.example.vn/".parse()?,
///     Arc::new(KeyRing::generate(random.as_ref())?),
///     SessionConfig::default(),
///     Arc::new(wardgate::SystemClock),
///     random.clone(),
/// )?;
/// let now = Utc::now();
/// let assurance = Assurance::new(Some(Level::Two), "https://sso.example.vn", SourceKind::IdTokenAcr, Some(now));
/// let session = Session::new("c3ViamVjdA", assurance, now, random.as_ref())?;
///
/// // The response sets the cookie; the next request sends it back.
/// let set_cookie = cookies.set_cookie(&session).ok_or("cannot seal")?;
/// assert!(set_cookie.starts_with("__Host-wardgate-session="));
/// let pair = set_cookie.split(';').next().ok_or("no value")?;
/// let mut headers = HeaderMap::new();
/// headers.insert(header::COOKIE, HeaderValue::from_str(pair)?);
/// let opened = cookies.open(&headers).ok_or("no session")?;
/// assert!(opened.assurance().meets(Level::Two));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct SessionCookies {
    ring: Arc<KeyRing>,
    cookies: CookieSettings,
    config: SessionConfig,
    clock: Arc<dyn Clock>,
    random: Arc<dyn Random>,
}

impl fmt::Debug for SessionCookies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionCookies")
            .field("cookie", &self.cookies.session_cookie_name())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl SessionCookies {
    /// The session cookie of a site at `public_url` (which decides `__Host-` and `Secure`),
    /// sealed with `ring`, timed by `config` and `clock`.
    ///
    /// # Errors
    ///
    /// [`CookieConfigError`] when `public_url` is plain `http` off loopback.
    pub fn new(
        public_url: &Url,
        ring: Arc<KeyRing>,
        config: SessionConfig,
        clock: Arc<dyn Clock>,
        random: Arc<dyn Random>,
    ) -> Result<Self, CookieConfigError> {
        Ok(Self {
            ring,
            cookies: CookieSettings::for_public_url(public_url)?,
            config,
            clock,
            random,
        })
    }

    /// The session in the request's `Cookie` header, if it is authentic and within its
    /// timeouts.
    pub fn open(&self, headers: &HeaderMap) -> Option<Session> {
        let name = self.cookies.session_cookie_name();
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .find_map(|cookies| find_cookie(cookies, name))
            .and_then(|value| {
                self.config
                    .open(&self.ring, name, self.clock.now(), value)
                    .ok()
            })
    }

    /// The `Set-Cookie` value carrying `session`, or `None` when it cannot be sealed.
    pub fn set_cookie(&self, session: &Session) -> Option<String> {
        let name = self.cookies.session_cookie_name();
        let sealed = self
            .config
            .seal(&self.ring, self.random.as_ref(), name, session)
            .ok()?;
        let max_age = self.config.max_age(session, self.clock.now());
        self.cookies.set_cookie(name, &sealed, max_age).ok()
    }

    /// The `Set-Cookie` value that removes the session cookie.
    pub fn clear_cookie(&self) -> Option<String> {
        self.cookies
            .removal(self.cookies.session_cookie_name())
            .ok()
    }

    /// The session cookie's name.
    pub fn cookie_name(&self) -> &'static str {
        self.cookies.session_cookie_name()
    }

    /// The cookie attributes of the site.
    pub fn settings(&self) -> &CookieSettings {
        &self.cookies
    }

    /// The session timeouts.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// The key ring sealing the cookies.
    pub fn key_ring(&self) -> &Arc<KeyRing> {
        &self.ring
    }

    /// The clock deciding the timeouts.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The random generator drawing nonces.
    pub fn random(&self) -> &Arc<dyn Random> {
        &self.random
    }
}
