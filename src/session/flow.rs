//! The login-flow cookie: the pending login between `begin` and the callback, single use.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Mutex;

use chrono::{DateTime, TimeDelta, Utc};
use ring::digest::{SHA256, digest};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::seal::{KeyRing, SealError, UnsealCause, UnsealError};
use crate::clock::Random;

/// The purpose sealed into login-flow cookies.
pub const LOGIN_FLOW_PURPOSE: &str = "login-flow";

/// How long a login-flow cookie stays valid: the resident has this long at the provider.
pub const LOGIN_FLOW_LIFETIME: TimeDelta = TimeDelta::minutes(10);

/// The longest return path accepted, in bytes.
pub const MAX_RETURN_PATH_LEN: usize = 512;

/// Seals a pending login for the login-flow cookie `cookie_name`, valid for
/// [`LOGIN_FLOW_LIFETIME`] from `now`.
///
/// `T` is the relying party's pending login (state, nonce, PKCE verifier, requested level,
/// [`ReturnPath`]). Set the cookie with
/// [`CookieSettings::set_cookie`](super::CookieSettings::set_cookie) and `LOGIN_FLOW_LIFETIME`
/// as its `Max-Age`; open it at the callback with [`UsedFlowValues::open_once`].
///
/// # Errors
///
/// Those of [`KeyRing::seal`].
pub fn seal_login_flow<T: Serialize + ?Sized>(
    ring: &KeyRing,
    random: &dyn Random,
    cookie_name: &str,
    now: DateTime<Utc>,
    pending: &T,
) -> Result<String, SealError> {
    ring.seal(
        random,
        LOGIN_FLOW_PURPOSE,
        cookie_name,
        now + LOGIN_FLOW_LIFETIME,
        pending,
    )
}

/// What the login-flow cookie carries: the relying party's pending login and where to return.
///
/// `T` is the pending login (e.g. [`PendingLogin`](crate::oidc::PendingLogin), which holds
/// state, nonce, PKCE verifier and requested level); `Debug` shows whatever `T`'s `Debug` shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginFlow<T> {
    /// The pending login.
    #[serde(rename = "p")]
    pub pending: T,
    /// Where to send the resident once the login completes.
    #[serde(rename = "r")]
    pub return_path: ReturnPath,
}

impl<T> LoginFlow<T> {
    /// A login flow for `pending`, returning to `return_path`.
    pub fn new(pending: T, return_path: ReturnPath) -> Self {
        Self {
            pending,
            return_path,
        }
    }
}

/// The login-flow values already used on this instance: a bounded, thread-safe replay guard.
///
/// [`open_once`](Self::open_once) opens a login-flow value and records a SHA-256 digest of it
/// until the value's own expiry; a second presentation is refused. Only authentic values are
/// recorded, so garbage cannot fill the guard. When the guard is full, expired entries go first,
/// then the oldest: a flood of fresh logins can push out an entry, which the next paragraph
/// covers.
///
/// # Deployment caveat
///
/// The guard lives in one process. Behind a load balancer with several gateway instances a
/// copied flow cookie could be presented once to each; there the provider's single-use
/// authorisation code (and the PKCE verifier bound to it) is the backstop: the code in the
/// callback can be exchanged only once.
pub struct UsedFlowValues {
    capacity: usize,
    inner: Mutex<Used>,
}

#[derive(Default)]
struct Used {
    expiry_by_digest: HashMap<[u8; 32], i64>,
    order: VecDeque<([u8; 32], i64)>,
}

impl UsedFlowValues {
    /// The default capacity: 65,536 values (about 5 MB at most).
    pub const DEFAULT_CAPACITY: usize = 65_536;

    /// A guard remembering at most `capacity` values (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            inner: Mutex::new(Used::default()),
        }
    }

    /// Opens a login-flow value, refusing one already opened here.
    ///
    /// # Errors
    ///
    /// [`UnsealError`] for every cause of [`KeyRing::open`], and when the value was opened
    /// before (cause [`UnsealCause::Replayed`]).
    pub fn open_once<T: DeserializeOwned>(
        &self,
        ring: &KeyRing,
        cookie_name: &str,
        now: DateTime<Utc>,
        value: &str,
    ) -> Result<T, UnsealError> {
        let (pending, expires_at) =
            ring.open_with_expiry(LOGIN_FLOW_PURPOSE, cookie_name, now, value)?;
        let mut key = [0u8; 32];
        key.copy_from_slice(digest(&SHA256, value.as_bytes()).as_ref());

        let mut used = match self.inner.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        used.purge(now.timestamp(), self.capacity);
        if used.expiry_by_digest.contains_key(&key) {
            return Err(UnsealError(UnsealCause::Replayed));
        }
        used.expiry_by_digest.insert(key, expires_at);
        used.order.push_back((key, expires_at));
        Ok(pending)
    }

    /// How many values are remembered.
    pub fn len(&self) -> usize {
        match self.inner.lock() {
            Ok(guard) => guard.expiry_by_digest.len(),
            Err(poisoned) => poisoned.into_inner().expiry_by_digest.len(),
        }
    }

    /// Whether no value is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Used {
    /// Drops expired entries, then the oldest until one more fits under `capacity`.
    fn purge(&mut self, now: i64, capacity: usize) {
        // Flow values share one lifetime, so `order` is nearly sorted by expiry; the rare
        // out-of-order entry waits behind a later one, which only keeps it longer.
        while let Some(&(key, expires_at)) = self.order.front() {
            if expires_at > now && self.order.len() < capacity {
                break;
            }
            self.order.pop_front();
            self.expiry_by_digest.remove(&key);
        }
    }
}

impl Default for UsedFlowValues {
    fn default() -> Self {
        Self::new(Self::DEFAULT_CAPACITY)
    }
}

impl fmt::Debug for UsedFlowValues {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UsedFlowValues")
            .field("capacity", &self.capacity)
            .field("len", &self.len())
            .finish()
    }
}

/// Where to send the resident after login: a same-origin relative path, never another site.
///
/// [`parse`](Self::parse) accepts only a path that starts with one `/` and holds visible ASCII
/// characters other than `\`, at most [`MAX_RETURN_PATH_LEN`] bytes long. It refuses
/// protocol-relative `//host`, `/\host` (which browsers read as `//host`), any scheme, control
/// characters and whitespace (browsers strip tabs and newlines, turning `/\t/host` into
/// `//host`), a percent-encoded `/`, `\` or `%` right after the leading slash (for
/// frameworks that decode before redirecting), and `.` or `..` segments, plain or
/// percent-encoded (`/..//host` normalises to `//host`). Deserialising re-applies the checks.
///
/// # Example
///
/// ```
/// use wardgate::session::ReturnPath;
///
/// let path = ReturnPath::parse("/thu-tuc/khai-sinh?phuong=30280").ok_or("refused")?;
/// assert_eq!(path.as_str(), "/thu-tuc/khai-sinh?phuong=30280");
/// assert!(ReturnPath::parse("//evil.example").is_none());
/// assert!(ReturnPath::parse("https://evil.example/").is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ReturnPath(String);

impl ReturnPath {
    /// The path `path` if it is a safe same-origin relative path.
    pub fn parse(path: &str) -> Option<Self> {
        if path.len() > MAX_RETURN_PATH_LEN {
            return None;
        }
        let rest = path.strip_prefix('/')?;
        if rest.starts_with('/') {
            return None;
        }
        // Visible ASCII only: no controls, no whitespace, no non-ASCII, no backslash.
        if !path
            .bytes()
            .all(|byte| byte.is_ascii_graphic() && byte != b'\\')
        {
            return None;
        }
        let start = rest.get(..3).map(str::to_ascii_lowercase);
        if matches!(start.as_deref(), Some("%2f" | "%5c" | "%25")) {
            return None;
        }
        // Dot segments: `/..//host` normalises to `//host` in code that re-emits the path.
        let path_part = path.split(['?', '#']).next().unwrap_or(path);
        let has_dot_segment = path_part.split('/').any(|segment| {
            let segment = segment.to_ascii_lowercase().replace("%2e", ".");
            segment == "." || segment == ".."
        });
        if has_dot_segment {
            return None;
        }
        Some(Self(path.to_owned()))
    }

    /// The site's root, `/`.
    pub fn root() -> Self {
        Self("/".to_owned())
    }

    /// The path, ready for a `Location` header.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ReturnPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for ReturnPath {
    type Error = ReturnPathError;

    fn try_from(path: String) -> Result<Self, Self::Error> {
        Self::parse(&path).ok_or(ReturnPathError)
    }
}

impl From<ReturnPath> for String {
    fn from(path: ReturnPath) -> Self {
        path.0
    }
}

/// A return path was not a safe same-origin relative path.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("return path is not a same-origin relative path")]
pub struct ReturnPathError;
