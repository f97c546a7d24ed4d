//! Sealed sessions: the resident's session and the pending login live in encrypted cookies.
//!
//! Rules this module enforces:
//!
//! 1. Cookie values are sealed with AES-256-GCM (ring) under the newest key of a [`KeyRing`];
//!    older keys still open until they are [retired](KeyRing::retire).
//! 2. The associated data binds the format version, the key id, the purpose and the cookie name:
//!    a value moved to another cookie, or used for another purpose, is refused.
//! 3. Every sealed value carries its absolute expiry inside the ciphertext, so an expired value
//!    is refused even when the browser kept the cookie.
//! 4. Tampered, truncated, expired, moved, replayed or unknown-key values are all refused with
//!    the same opaque [`UnsealError`]; the cause goes to audit only
//!    ([`UnsealError::cause_for_audit`]).
//! 5. Values longer than [`MAX_SEALED_LEN`] are refused before decoding, and sealing never
//!    produces one, so a session cookie stays under the browsers' 4096-byte limit.
//! 6. Cookies are `__Host-` prefixed, `Secure`, `HttpOnly`, `SameSite=Lax`, `Path=/`; only plain
//!    `http` on a loopback host drops `Secure` and the prefix ([`CookieSettings`]). A cookie on a
//!    narrower path ([`CookieSettings::set_cookie_at`]) is `__Secure-` prefixed instead.
//! 7. A session ends after [`SessionConfig::idle_timeout`] without activity and after
//!    [`SessionConfig::absolute_timeout`] in any case.
//! 8. The login-flow cookie lives [`LOGIN_FLOW_LIFETIME`] and is single use on an instance
//!    ([`UsedFlowValues`]); its return path is a same-origin relative path ([`ReturnPath`]).
//! 9. A step-up is recorded per requirement ([`Session::record_step_up`]) so it is asked at most
//!    once per session (DESIGN §3 rule 3).
//!
//! # Deployment caveat
//!
//! The login-flow replay guard is per process; across several instances the provider's
//! single-use authorisation code is the backstop. Keep the key ring file readable by the gateway
//! alone, and retire a key only after the absolute timeout has passed since it stopped sealing.
//!
//! # Example
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use wardgate::assurance::{Assurance, Level, SourceKind};
//! use wardgate::clock::SystemRandom;
//! use wardgate::session::{find_cookie, CookieSettings, KeyRing, Session, SessionConfig};
//!
//! let random = SystemRandom::new();
//! let ring = KeyRing::generate(&random)?;
//! let cookies = CookieSettings::for_public_url(&"https://dichvucong.example.vn/".parse()?)?;
//! let config = SessionConfig::default();
//! let now = Utc.with_ymd_and_hms(2025, 7, 1, 8, 0, 0).single().ok_or("time")?;
//!
//! // After a verified login:
//! let issuer = "https://sso.example.vn";
//! let assurance = Assurance::new(Some(Level::Two), issuer, SourceKind::UserinfoClaim, Some(now));
//! let session = Session::new("c3ViamVjdC1oYXNo", assurance, now, &random)?;
//! let sealed = config.seal(&ring, &random, cookies.session_cookie_name(), &session)?;
//! let header = cookies.set_cookie(
//!     cookies.session_cookie_name(),
//!     &sealed,
//!     config.max_age(&session, now),
//! )?;
//! assert!(header.starts_with("__Host-wardgate-session="));
//!
//! // On the next request:
//! let cookie_header = format!("lang=vi; __Host-wardgate-session={sealed}");
//! let value = find_cookie(&cookie_header, cookies.session_cookie_name()).ok_or("no cookie")?;
//! let opened = config.open(&ring, cookies.session_cookie_name(), now, value)?;
//! assert!(opened.assurance().meets(Level::Two));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod cookie;
mod cookies;
mod encoding;
mod flow;
mod seal;

use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq as _;

use crate::assurance::{Assurance, Level};
use crate::clock::{Random, RandomError, random_token};

pub use cookie::{
    CookieConfigError, CookieSettings, CookieValueError, LOGIN_FLOW_COOKIE,
    LOGIN_FLOW_COOKIE_LOOPBACK, SESSION_COOKIE, SESSION_COOKIE_LOOPBACK, find_cookie,
};
pub use cookies::SessionCookies;
pub use flow::{
    LOGIN_FLOW_LIFETIME, LOGIN_FLOW_PURPOSE, LoginFlow, MAX_RETURN_PATH_LEN, ReturnPath,
    ReturnPathError, UsedFlowValues, seal_login_flow,
};
use seal::Encoding;
pub use seal::{
    KEY_LEN, KeyError, KeyId, KeyRing, KeyRingError, MAX_SEALED_LEN, SealError, SealingKey,
    UnsealCause, UnsealError,
};

/// The purpose sealed into session cookies.
pub const SESSION_PURPOSE: &str = "session";

/// The most step-up requirements a session remembers; older ones are forgotten first.
pub const MAX_STEP_UPS_REMEMBERED: usize = 16;

/// A resident's session, sealed into the session cookie.
///
/// Holds a pseudonymous subject (a keyed hash computed by the caller, never the provider's raw
/// `sub`), the verified [`Assurance`], when the session began and was last used, the step-up
/// requirements already tried, and a random CSRF token. Field names are short on the wire to
/// keep the cookie small. `Debug` redacts the subject and the CSRF token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    #[serde(rename = "sub")]
    subject: String,
    #[serde(rename = "asr")]
    assurance: Assurance,
    #[serde(rename = "iat", with = "chrono::serde::ts_seconds")]
    created_at: DateTime<Utc>,
    #[serde(rename = "seen", with = "chrono::serde::ts_seconds")]
    last_seen: DateTime<Utc>,
    #[serde(rename = "stp", default, skip_serializing_if = "Vec::is_empty")]
    step_ups_tried: Vec<(Level, Option<u32>)>,
    #[serde(rename = "csrf")]
    csrf_token: CsrfToken,
}

impl Session {
    /// A new session for `subject` after a verified login, started at `now` (whole seconds).
    ///
    /// `subject` must be the caller's keyed hash of the provider's `sub`.
    ///
    /// # Errors
    ///
    /// [`RandomError`] when no CSRF token can be drawn.
    pub fn new(
        subject: impl Into<String>,
        assurance: Assurance,
        now: DateTime<Utc>,
        random: &dyn Random,
    ) -> Result<Self, RandomError> {
        let now = whole_seconds(now);
        Ok(Self {
            subject: subject.into(),
            assurance,
            created_at: now,
            last_seen: now,
            step_ups_tried: Vec::new(),
            csrf_token: CsrfToken(random_token::<32>(random)?),
        })
    }

    /// The pseudonymous subject.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The verified assurance of the login.
    pub fn assurance(&self) -> &Assurance {
        &self.assurance
    }

    /// The issuer that authenticated the resident (the assurance's issuer).
    pub fn issuer(&self) -> &str {
        self.assurance.issuer()
    }

    /// When the session began.
    pub fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }

    /// When the session was last used.
    pub fn last_seen(&self) -> DateTime<Utc> {
        self.last_seen
    }

    /// The CSRF token to embed in forms and compare on submission.
    pub fn csrf_token(&self) -> &CsrfToken {
        &self.csrf_token
    }

    /// The step-up requirements already tried: level and maximum authentication age in seconds.
    pub fn step_ups_tried(&self) -> &[(Level, Option<u32>)] {
        &self.step_ups_tried
    }

    /// Whether a step-up to `level` with `max_age_secs` was already tried in this session.
    pub fn step_up_tried(&self, level: Level, max_age_secs: Option<u32>) -> bool {
        self.step_ups_tried.contains(&(level, max_age_secs))
    }

    /// Records that a step-up to `level` with `max_age_secs` is being tried.
    ///
    /// At most [`MAX_STEP_UPS_REMEMBERED`] requirements are kept; the oldest goes first.
    pub fn record_step_up(&mut self, level: Level, max_age_secs: Option<u32>) {
        if self.step_up_tried(level, max_age_secs) {
            return;
        }
        if self.step_ups_tried.len() >= MAX_STEP_UPS_REMEMBERED {
            self.step_ups_tried.remove(0);
        }
        self.step_ups_tried.push((level, max_age_secs));
    }

    /// Forgets that a step-up to `level` with `max_age_secs` was tried (the resident asked to
    /// try again); whether it had been.
    pub fn forget_step_up(&mut self, level: Level, max_age_secs: Option<u32>) -> bool {
        let before = self.step_ups_tried.len();
        self.step_ups_tried
            .retain(|&tried| tried != (level, max_age_secs));
        self.step_ups_tried.len() != before
    }

    /// Carries the step-ups tried in `previous` over to this session when both belong to the
    /// same subject: the login that follows a step-up must not ask for it again.
    pub fn carry_step_ups_from(&mut self, previous: &Self) {
        if previous.subject != self.subject {
            return;
        }
        for &(level, max_age_secs) in &previous.step_ups_tried {
            self.record_step_up(level, max_age_secs);
        }
    }

    /// Marks the session as used at `now` (whole seconds; never moves backwards).
    pub fn touch(&mut self, now: DateTime<Utc>) {
        self.last_seen = self.last_seen.max(whole_seconds(now));
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("subject", &"[redacted]")
            .field("assurance", &self.assurance)
            .field("created_at", &self.created_at)
            .field("last_seen", &self.last_seen)
            .field("step_ups_tried", &self.step_ups_tried)
            .field("csrf_token", &self.csrf_token)
            .finish()
    }
}

/// A session's random CSRF token (32 random bytes, base64url).
///
/// `Debug` prints `CsrfToken([redacted])`; equality is constant-time.
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CsrfToken(String);

impl CsrfToken {
    /// Whether `presented` (from a form field or header) equals the token, in constant time.
    pub fn matches(&self, presented: &str) -> bool {
        self.0.as_bytes().ct_eq(presented.as_bytes()).into()
    }

    /// The token, to embed in a form.
    ///
    /// # Security
    ///
    /// Put it only in pages served to this session; never log it.
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl PartialEq for CsrfToken {
    fn eq(&self, other: &Self) -> bool {
        self.matches(&other.0)
    }
}

impl Eq for CsrfToken {}

impl fmt::Debug for CsrfToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CsrfToken([redacted])")
    }
}

/// Session timeouts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionConfig {
    /// How long a session may go unused (default 30 minutes).
    pub idle_timeout: TimeDelta,
    /// How long a session lasts at most (default 8 hours).
    pub absolute_timeout: TimeDelta,
    /// How old `last_seen` may get before [`needs_touch`](Self::needs_touch) asks for a fresh
    /// cookie (default 1 minute); saves a `Set-Cookie` on most requests.
    pub touch_interval: TimeDelta,
}

impl SessionConfig {
    /// Whether `session` is still within both timeouts at `now`.
    ///
    /// # Errors
    ///
    /// [`SessionTimeoutError::Idle`] or [`SessionTimeoutError::Absolute`].
    pub fn check(&self, session: &Session, now: DateTime<Utc>) -> Result<(), SessionTimeoutError> {
        if now - session.created_at >= self.absolute_timeout {
            return Err(SessionTimeoutError::Absolute {
                created_at: session.created_at,
            });
        }
        if now - session.last_seen >= self.idle_timeout {
            return Err(SessionTimeoutError::Idle {
                last_seen: session.last_seen,
            });
        }
        Ok(())
    }

    /// When `session` ends if it is not used again: the earlier of both timeouts.
    pub fn expires_at(&self, session: &Session) -> DateTime<Utc> {
        (session.last_seen + self.idle_timeout).min(session.created_at + self.absolute_timeout)
    }

    /// The cookie's `Max-Age` at `now` (zero once expired).
    pub fn max_age(&self, session: &Session, now: DateTime<Utc>) -> TimeDelta {
        (self.expires_at(session) - now).max(TimeDelta::zero())
    }

    /// Whether the session should be [touched](Session::touch) and its cookie set again.
    pub fn needs_touch(&self, session: &Session, now: DateTime<Utc>) -> bool {
        now - session.last_seen >= self.touch_interval
    }

    /// Seals `session` for the session cookie `cookie_name`, expiring at
    /// [`expires_at`](Self::expires_at), in the session's compact binary layout (sealed format
    /// version 2).
    ///
    /// # Errors
    ///
    /// Those of [`KeyRing::seal`].
    pub fn seal(
        &self,
        ring: &KeyRing,
        random: &dyn Random,
        cookie_name: &str,
        session: &Session,
    ) -> Result<String, SealError> {
        ring.seal_encoded(
            random,
            SESSION_PURPOSE,
            cookie_name,
            self.expires_at(session),
            Encoding::SessionBinary,
            |buffer| {
                encoding::encode(session, buffer)
                    .map_err(|error| SealError::Serialize(Box::new(error)))
            },
        )
    }

    /// Opens the session cookie value and [checks](Self::check) its timeouts.
    ///
    /// Opens both the binary layout [`seal`](Self::seal) writes and the JSON session cookies
    /// sealed before it (version 1), which stay valid until their own expiry and timeouts.
    ///
    /// # Errors
    ///
    /// [`UnsealError`] for every cause, timeouts included (causes
    /// [`UnsealCause::IdleTimeout`] and [`UnsealCause::AbsoluteTimeout`]).
    pub fn open(
        &self,
        ring: &KeyRing,
        cookie_name: &str,
        now: DateTime<Utc>,
        value: &str,
    ) -> Result<Session, UnsealError> {
        let opened = ring.open_encoded(SESSION_PURPOSE, cookie_name, now, value)?;
        let session = match opened.encoding() {
            Encoding::SessionBinary => encoding::decode(opened.payload()),
            // Cookies sealed before the binary layout: still valid until they expire.
            Encoding::Json => serde_json::from_slice(opened.payload()).ok(),
        }
        .ok_or(UnsealError(UnsealCause::MalformedPayload))?;
        self.check(&session, now).map_err(|error| match error {
            SessionTimeoutError::Idle { .. } => UnsealError(UnsealCause::IdleTimeout),
            SessionTimeoutError::Absolute { .. } => UnsealError(UnsealCause::AbsoluteTimeout),
        })?;
        Ok(session)
    }
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            idle_timeout: TimeDelta::minutes(30),
            absolute_timeout: TimeDelta::hours(8),
            touch_interval: TimeDelta::minutes(1),
        }
    }
}

/// A session ran past a timeout.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionTimeoutError {
    /// Unused for longer than the idle timeout.
    #[error("session idle since {last_seen}: past the idle timeout")]
    Idle {
        /// When the session was last used.
        last_seen: DateTime<Utc>,
    },
    /// Older than the absolute timeout.
    #[error("session started at {created_at}: past the absolute timeout")]
    Absolute {
        /// When the session began.
        created_at: DateTime<Utc>,
    },
}

fn whole_seconds(time: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(time.timestamp(), 0).unwrap_or(time)
}

#[cfg(test)]
mod tests;
