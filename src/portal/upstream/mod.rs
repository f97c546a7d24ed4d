//! Gateway mode: wardgate in front of an existing portal written in any language.
//!
//! Two ways to put the level-2 gate in front of an upstream portal:
//!
//! 1. **Reverse proxy.** With an upstream configured ([`Upstream`]), every request the gateway
//!    does not serve itself goes to the upstream (the router's fallback). Each path is matched to a
//!    [`GateRule`]: `public` paths are proxied as they are; a path that needs a procedure or a
//!    level is decided by the policy exactly as the portal's decision API decides, and is
//!    proxied only for an `online` decision, with the identity headers; a path no rule covers
//!    is refused (fail closed).
//! 2. **nginx `auth_request`.** `GET /auth/check?procedure=CODE` (or `?level=2`) answers `200`
//!    with the identity headers, `401` with the login URL, or `403` with the referral URL
//!    (`auth_check`).
//!
//! The identity headers are `X-Wardgate-Level`, `X-Wardgate-Subject` (the subject pseudonym,
//! never the provider's `sub`), `X-Wardgate-Procedure` and `X-Wardgate-Assertion`, a compact JWS
//! the upstream verifies with `/.well-known/jwks.json` ([`assertion`]). Every `X-Wardgate-*`
//! header a client sends is removed before proxying.

pub mod assertion;
mod body_timeout;
pub(crate) mod check;
mod headers;
mod pages;
mod proxy;
mod referral;

use std::time::Duration;

use serde::Deserialize;
use url::Url;

use crate::Level;
use crate::policy::ProcedureCode;

pub(crate) use check::auth_check;
pub(crate) use proxy::{UpstreamProxy, fallback};

/// The path of the nginx `auth_request` endpoint.
pub const AUTH_CHECK_PATH: &str = "/auth/check";

/// The largest request body proxied to the upstream unless configured otherwise: 8 MiB.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 8 * 1024 * 1024;

/// How long connecting to the upstream may take unless configured otherwise.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the upstream may take to answer with its response head unless configured otherwise.
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest gap between two pieces of a body streamed through the proxy (the upstream's
/// response body, the resident's request body) unless configured otherwise.
pub const DEFAULT_BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest time a whole body may take to stream through the proxy unless configured
/// otherwise: 8 MiB at about 15 kB/s, a poor mobile connection.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(600);

/// What a path of the upstream requires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Requirement {
    /// Anyone: proxied without identity headers.
    Public,
    /// What the catalog procedure requires online (level, freshness, presence).
    Procedure(ProcedureCode),
    /// A level, from a login at most the catalog's default age old.
    Level(Level),
}

/// A gate rule: the paths under `path_prefix` require `requirement`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GateRule {
    path_prefix: String,
    requirement: Requirement,
}

impl GateRule {
    /// A rule for the paths under `path_prefix` (`/` is the default rule, covering every path no
    /// longer prefix covers).
    ///
    /// # Errors
    ///
    /// [`UpstreamError::PathPrefix`] when the prefix does not start with `/`.
    pub fn new(path_prefix: &str, requirement: Requirement) -> Result<Self, UpstreamError> {
        if !path_prefix.starts_with('/') {
            return Err(UpstreamError::PathPrefix(path_prefix.to_owned()));
        }
        Ok(Self {
            path_prefix: path_prefix.to_owned(),
            requirement,
        })
    }

    /// The prefix.
    pub fn path_prefix(&self) -> &str {
        &self.path_prefix
    }

    /// What the paths under the prefix require.
    pub fn requirement(&self) -> &Requirement {
        &self.requirement
    }

    /// Whether `path` is under the prefix, on a segment boundary: `/a` covers `/a` and `/a/b`,
    /// never `/ab`.
    fn covers(&self, path: &str) -> bool {
        let prefix = self.path_prefix.as_str();
        match path.strip_prefix(prefix) {
            Some(rest) => prefix.ends_with('/') || rest.is_empty() || rest.starts_with('/'),
            None => false,
        }
    }
}

/// Why an upstream configuration was refused.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum UpstreamError {
    /// The upstream URL is not an `http` URL with a host (the proxy speaks plain HTTP/1.1 to an
    /// upstream on the local network; TLS ends at the gateway or at nginx).
    #[error("the upstream URL must be http://host[:port], got {0:?}")]
    Url(String),
    /// A rule's prefix does not start with `/`.
    #[error("a gate rule's path_prefix must start with '/', got {0:?}")]
    PathPrefix(String),
    /// A rule names none or several of `procedure`, `level` and `public = true`.
    #[error("the gate rule for {0:?} needs exactly one of procedure, level or public = true")]
    Requirement(String),
    /// A rule's level is not 1 or 2.
    #[error("the gate rule for {0:?} has a level other than 1 or 2")]
    Level(String),
    /// A rule's procedure code is malformed.
    #[error("the gate rule for {0:?} has a malformed procedure code")]
    Procedure(String),
    /// Two rules have the same prefix.
    #[error("two gate rules have the path_prefix {0:?}")]
    Duplicate(String),
    /// A limit or timeout is zero.
    #[error("the upstream's {0} must be more than zero")]
    Zero(&'static str),
}

/// The upstream portal behind the gateway, and the rules gating its paths.
#[derive(Clone, Debug)]
pub struct Upstream {
    url: Url,
    audience: String,
    rules: Vec<GateRule>,
    max_body_bytes: u64,
    connect_timeout: Duration,
    response_timeout: Duration,
    body_idle_timeout: Duration,
    body_timeout: Duration,
}

impl Upstream {
    /// An upstream at `url` (`http://host:port`), with no rules yet: every path is refused until
    /// rules are added. The assertion's audience is the URL's origin unless set.
    ///
    /// # Errors
    ///
    /// [`UpstreamError::Url`] when `url` is not `http` with a host.
    pub fn new(url: Url) -> Result<Self, UpstreamError> {
        if url.scheme() != "http" || url.host_str().is_none() {
            return Err(UpstreamError::Url(url.to_string()));
        }
        Ok(Self {
            audience: url.origin().ascii_serialization(),
            url,
            rules: Vec::new(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            response_timeout: DEFAULT_RESPONSE_TIMEOUT,
            body_idle_timeout: DEFAULT_BODY_IDLE_TIMEOUT,
            body_timeout: DEFAULT_BODY_TIMEOUT,
        })
    }

    /// Adds a rule.
    ///
    /// # Errors
    ///
    /// [`UpstreamError::Duplicate`] when a rule already has this prefix.
    pub fn rule(mut self, rule: GateRule) -> Result<Self, UpstreamError> {
        if self.rules.iter().any(|r| r.path_prefix == rule.path_prefix) {
            return Err(UpstreamError::Duplicate(rule.path_prefix));
        }
        self.rules.push(rule);
        Ok(self)
    }

    /// The `aud` of the assertions given to the upstream.
    #[must_use]
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = audience.into();
        self
    }

    /// The largest request body proxied; a larger one is refused with `413`.
    ///
    /// # Errors
    ///
    /// [`UpstreamError::Zero`] for zero.
    pub fn max_body_bytes(mut self, bytes: u64) -> Result<Self, UpstreamError> {
        if bytes == 0 {
            return Err(UpstreamError::Zero("max_body_bytes"));
        }
        self.max_body_bytes = bytes;
        Ok(self)
    }

    /// How long connecting may take, and how long the upstream may take to answer once the
    /// upload has been sent (see [`response_timeout`](Self::response_timeout)).
    ///
    /// # Errors
    ///
    /// [`UpstreamError::Zero`] for a zero duration.
    pub fn timeouts(
        mut self,
        connect: Duration,
        response: Duration,
    ) -> Result<Self, UpstreamError> {
        if connect.is_zero() {
            return Err(UpstreamError::Zero("connect_timeout_seconds"));
        }
        if response.is_zero() {
            return Err(UpstreamError::Zero("response_timeout_seconds"));
        }
        self.connect_timeout = connect;
        self.response_timeout = response;
        Ok(self)
    }

    /// How long a body streamed through the proxy, either way, may go without data (`idle`)
    /// and take in all (`total`); past either the transfer is cut off and the connection
    /// closed, so a stalled upstream never holds a resident's connection.
    ///
    /// # Errors
    ///
    /// [`UpstreamError::Zero`] for a zero duration.
    pub fn body_timeouts(mut self, idle: Duration, total: Duration) -> Result<Self, UpstreamError> {
        if idle.is_zero() {
            return Err(UpstreamError::Zero("body_idle_timeout_seconds"));
        }
        if total.is_zero() {
            return Err(UpstreamError::Zero("body_timeout_seconds"));
        }
        self.body_idle_timeout = idle;
        self.body_timeout = total;
        Ok(self)
    }

    /// How long connecting to the upstream may take.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// How long the upstream may take to answer with its response head, counted from the
    /// moment the resident's upload has been sent (at once for a request without a body). The
    /// upload is bounded by the [body timeouts](Self::body_timeouts); connecting and uploading
    /// together by the connect timeout plus the total body timeout.
    pub fn response_timeout(&self) -> Duration {
        self.response_timeout
    }

    /// How long a proxied body may go without data.
    pub fn body_idle_timeout(&self) -> Duration {
        self.body_idle_timeout
    }

    /// How long a proxied body may take in all.
    pub fn body_timeout(&self) -> Duration {
        self.body_timeout
    }

    /// The upstream's URL.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The rules, in the order given.
    pub fn rules(&self) -> &[GateRule] {
        &self.rules
    }

    /// The rule for `path`: the longest prefix covering it, `None` when no rule does (the
    /// request is then refused).
    pub fn rule_for(&self, path: &str) -> Option<&GateRule> {
        self.rules
            .iter()
            .filter(|rule| rule.covers(path))
            .max_by_key(|rule| rule.path_prefix.len())
    }

    /// Reads the TOML form: the `[upstream]` table and the `[[gate]]` rules.
    ///
    /// # Errors
    ///
    /// [`UpstreamError`] naming the rule or setting refused.
    pub fn from_toml(
        url: Url,
        table: &UpstreamToml,
        rules: &[GateRuleToml],
    ) -> Result<Self, UpstreamError> {
        let mut upstream = Self::new(url)?;
        if let Some(audience) = &table.audience {
            upstream = upstream.audience(audience.clone());
        }
        if let Some(bytes) = table.max_body_bytes {
            upstream = upstream.max_body_bytes(bytes)?;
        }
        let seconds =
            |value: Option<u64>, default: Duration| value.map_or(default, Duration::from_secs);
        upstream = upstream.timeouts(
            seconds(table.connect_timeout_seconds, DEFAULT_CONNECT_TIMEOUT),
            seconds(table.response_timeout_seconds, DEFAULT_RESPONSE_TIMEOUT),
        )?;
        upstream = upstream.body_timeouts(
            seconds(table.body_idle_timeout_seconds, DEFAULT_BODY_IDLE_TIMEOUT),
            seconds(table.body_timeout_seconds, DEFAULT_BODY_TIMEOUT),
        )?;
        for raw in rules {
            upstream = upstream.rule(raw.rule()?)?;
        }
        Ok(upstream)
    }
}

/// The `[upstream]` table of the configuration file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamToml {
    /// `http://host:port` of the upstream portal (`WARDGATE_UPSTREAM` wins).
    pub url: Option<String>,
    /// The assertion's `aud`; the URL's origin by default.
    pub audience: Option<String>,
    /// The largest request body proxied, in bytes.
    pub max_body_bytes: Option<u64>,
    /// How long connecting to the upstream may take.
    pub connect_timeout_seconds: Option<u64>,
    /// How long the upstream may take to send its response head.
    pub response_timeout_seconds: Option<u64>,
    /// How long a body streamed through the proxy may go without data.
    pub body_idle_timeout_seconds: Option<u64>,
    /// How long a body streamed through the proxy may take in all.
    pub body_timeout_seconds: Option<u64>,
}

/// A `[[gate]]` table of the configuration file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateRuleToml {
    /// The paths covered; omitted with `default = true`.
    pub path_prefix: Option<String>,
    /// `true`: the default rule, for every path no other rule covers (as `path_prefix = "/"`).
    #[serde(default)]
    pub default: bool,
    /// A catalog procedure code.
    pub procedure: Option<String>,
    /// A level, 1 or 2.
    pub level: Option<u8>,
    /// `true`: no sign-in needed.
    #[serde(default)]
    pub public: bool,
}

impl GateRuleToml {
    fn rule(&self) -> Result<GateRule, UpstreamError> {
        let prefix = match (&self.path_prefix, self.default) {
            (Some(prefix), false) => prefix.clone(),
            (None, true) => "/".to_owned(),
            (Some(prefix), true) => return Err(UpstreamError::Requirement(prefix.clone())),
            (None, false) => return Err(UpstreamError::PathPrefix(String::new())),
        };
        let requirement = match (&self.procedure, self.level, self.public) {
            (Some(code), None, false) => Requirement::Procedure(
                ProcedureCode::parse(code).map_err(|_| UpstreamError::Procedure(prefix.clone()))?,
            ),
            (None, Some(level), false) => Requirement::Level(
                Level::from_number(level).ok_or_else(|| UpstreamError::Level(prefix.clone()))?,
            ),
            (None, None, true) => Requirement::Public,
            _ => return Err(UpstreamError::Requirement(prefix)),
        };
        GateRule::new(&prefix, requirement)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream(rules: &str) -> Result<Upstream, UpstreamError> {
        #[derive(Deserialize)]
        struct File {
            #[serde(default)]
            upstream: UpstreamToml,
            #[serde(default)]
            gate: Vec<GateRuleToml>,
        }
        let file: File = toml::from_str(rules).map_err(|e| UpstreamError::Url(e.to_string()))?;
        Upstream::from_toml(
            Url::parse("http://127.0.0.1:9000").map_err(|e| UpstreamError::Url(e.to_string()))?,
            &file.upstream,
            &file.gate,
        )
    }

    #[test]
    fn the_longest_prefix_on_a_segment_boundary_decides() {
        let upstream = upstream(
            r#"
            [[gate]]
            default = true
            level = 2
            [[gate]]
            path_prefix = "/static"
            public = true
            [[gate]]
            path_prefix = "/nop-ho-so/khai-sinh"
            procedure = "1.001193"
            "#,
        )
        .unwrap();
        let requirement = |path| upstream.rule_for(path).map(|r| r.requirement().clone());
        assert_eq!(requirement("/static/app.css"), Some(Requirement::Public));
        assert_eq!(
            requirement("/staticx"),
            Some(Requirement::Level(Level::Two))
        );
        assert_eq!(
            requirement("/nop-ho-so/khai-sinh"),
            Some(Requirement::Procedure(
                ProcedureCode::parse("1.001193").unwrap()
            ))
        );
        assert_eq!(requirement("/"), Some(Requirement::Level(Level::Two)));
    }

    #[test]
    fn without_a_default_rule_an_uncovered_path_has_no_rule() {
        let upstream = upstream("[[gate]]\npath_prefix = \"/a\"\npublic = true\n").unwrap();
        assert!(upstream.rule_for("/b").is_none());
        assert!(upstream.rule_for("/ab").is_none());
        assert!(upstream.rule_for("/a/b").is_some());
    }

    #[test]
    fn a_rule_needs_exactly_one_requirement() {
        assert_eq!(
            upstream("[[gate]]\npath_prefix = \"/a\"\npublic = true\nlevel = 2\n").unwrap_err(),
            UpstreamError::Requirement("/a".into())
        );
        assert_eq!(
            upstream("[[gate]]\npath_prefix = \"/a\"\n").unwrap_err(),
            UpstreamError::Requirement("/a".into())
        );
        assert_eq!(
            upstream("[[gate]]\npath_prefix = \"/a\"\nlevel = 3\n").unwrap_err(),
            UpstreamError::Level("/a".into())
        );
        assert_eq!(
            upstream("[[gate]]\npath_prefix = \"a\"\nlevel = 2\n").unwrap_err(),
            UpstreamError::PathPrefix("a".into())
        );
        assert_eq!(
            upstream("[[gate]]\npath_prefix = \"/a\"\nlevel = 2\n[[gate]]\npath_prefix = \"/a\"\npublic = true\n")
                .unwrap_err(),
            UpstreamError::Duplicate("/a".into())
        );
    }

    #[test]
    fn only_a_plain_http_upstream_is_accepted() {
        let refused = Upstream::new(Url::parse("https://portal.example.vn").unwrap());
        assert_eq!(
            refused.unwrap_err(),
            UpstreamError::Url("https://portal.example.vn/".into())
        );
    }
}
