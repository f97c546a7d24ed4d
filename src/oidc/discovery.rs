//! Provider discovery (OpenID Connect Discovery 1.0, RFC 8414) and endpoint validation.
//!
//! Metadata comes from the provider's discovery document ([`discover`]) or from the operator's
//! configuration ([`ProviderEndpoints`](super::ProviderEndpoints), for providers that publish
//! none); both go through the same checks ([`parse_issuer`], [`parse_endpoint`]).

use std::net::IpAddr;

use serde::Deserialize;
use url::Url;

use super::profile::ProviderProfile;
use super::transport::{HttpClient, HttpError};

/// What wardgate uses of a provider's metadata, after validation: from its discovery document,
/// or from the operator's [`ProviderEndpoints`](super::ProviderEndpoints).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ProviderMetadata {
    /// The issuer identifier, exactly as the provider states it (equal to the configured one).
    pub issuer: String,
    /// The authorization endpoint.
    pub authorization_endpoint: Url,
    /// The token endpoint.
    pub token_endpoint: Url,
    /// The userinfo endpoint, if any.
    pub userinfo_endpoint: Option<Url>,
    /// The key-set endpoint. Always present for a discovered provider; `None` only for a
    /// relying party built from configured endpoints without one, which verifies no ID token
    /// (one that arrives fails the login with
    /// [`IdTokenWithoutKeySet`](super::LoginErrorKind::IdTokenWithoutKeySet)).
    pub jwks_uri: Option<Url>,
    /// The pushed-authorization-request endpoint (RFC 9126), if any.
    pub pushed_authorization_request_endpoint: Option<Url>,
    /// Whether the provider demands pushed authorization requests.
    pub require_pushed_authorization_requests: bool,
    /// Whether the provider puts `iss` in authorization responses (RFC 9207).
    pub authorization_response_iss_parameter_supported: bool,
    /// Whether the provider supports the `claims` request parameter.
    pub claims_parameter_supported: bool,
    /// The `acr` values the provider lists, if it lists any.
    pub acr_values_supported: Vec<String>,
    /// Client authentication methods at the token endpoint.
    pub token_endpoint_auth_methods_supported: Vec<String>,
    /// PKCE methods, if listed.
    pub code_challenge_methods_supported: Vec<String>,
    /// ID-token signature algorithms the provider lists.
    pub id_token_signing_alg_values_supported: Vec<String>,
    /// The end-session endpoint (OpenID Connect RP-Initiated Logout 1.0 §2.1), if any: where
    /// signing out sends the browser so the provider's own session ends too.
    pub end_session_endpoint: Option<Url>,
}

#[derive(Deserialize)]
struct RawMetadata {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: Option<String>,
    userinfo_endpoint: Option<String>,
    jwks_uri: String,
    pushed_authorization_request_endpoint: Option<String>,
    #[serde(default)]
    require_pushed_authorization_requests: bool,
    #[serde(default)]
    authorization_response_iss_parameter_supported: bool,
    #[serde(default)]
    claims_parameter_supported: bool,
    #[serde(default)]
    acr_values_supported: Vec<String>,
    token_endpoint_auth_methods_supported: Option<Vec<String>>,
    #[serde(default)]
    code_challenge_methods_supported: Vec<String>,
    #[serde(default)]
    id_token_signing_alg_values_supported: Vec<String>,
    #[serde(default)]
    response_types_supported: Vec<String>,
    end_session_endpoint: Option<String>,
}

/// Discovery failed; the provider cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// The configured issuer is not an acceptable URL.
    #[error("issuer `{issuer}` is not an https URL (http is accepted only on a loopback host)")]
    InsecureIssuer {
        /// The issuer as configured.
        issuer: String,
    },
    /// The configured issuer is not a URL at all, or has a query or fragment.
    #[error("issuer `{issuer}` is not a valid issuer URL")]
    InvalidIssuer {
        /// The issuer as configured.
        issuer: String,
    },
    /// The provider could not be reached.
    #[error("could not fetch `{url}`")]
    Http {
        /// The URL fetched.
        url: String,
        /// The transport error.
        #[source]
        source: HttpError,
    },
    /// The provider answered with a non-success status.
    #[error("`{url}` answered with status {status}")]
    Status {
        /// The URL fetched.
        url: String,
        /// The HTTP status.
        status: u16,
    },
    /// The document is not valid JSON of the expected shape.
    #[error("`{url}` is not a valid {document} document")]
    Malformed {
        /// The URL fetched.
        url: String,
        /// Which document.
        document: &'static str,
    },
    /// The document's issuer differs from the configured one (OIDC Discovery §4.3).
    #[error("the discovery document names issuer `{found}`, expected exactly `{expected}`")]
    IssuerMismatch {
        /// The configured issuer.
        expected: String,
        /// The issuer in the document.
        found: String,
    },
    /// An endpoint is missing, not a URL, or not https.
    #[error("endpoint `{field}` = `{value}` is not an acceptable URL")]
    BadEndpoint {
        /// The metadata field.
        field: &'static str,
        /// Its value.
        value: String,
    },
    /// The provider lacks something wardgate requires.
    #[error("the provider does not support {what}")]
    Unsupported {
        /// What is missing.
        what: &'static str,
    },
    /// The client's level source cannot be trusted with this provider's profile (Keycloak's
    /// default `acr` values for a `keycloak-broker`).
    #[error("the level source does not suit the `{profile}` profile: {error}")]
    LevelSource {
        /// The provider's profile.
        profile: ProviderProfile,
        /// Why the level source was refused.
        error: crate::assurance::LevelSourceError,
    },
    /// A configured endpoint setting other than a URL has a value wardgate cannot use.
    #[error("setting `{field}` = `{value}` is not acceptable: expected {expected}")]
    BadSetting {
        /// The setting, named as in [`ProviderEndpoints`](super::ProviderEndpoints).
        field: &'static str,
        /// Its value.
        value: String,
        /// What would have been accepted.
        expected: &'static str,
    },
    /// Configured endpoints have no `jwks_uri`, but the client requires a signed ID token.
    #[error(
        "no `jwks_uri` is configured, but the client requires a signed ID token (profile \
         `{profile}`): configure `jwks_uri`, or use a profile that expects no ID token"
    )]
    KeySetRequired {
        /// The client's provider profile.
        profile: ProviderProfile,
    },
    /// Configured endpoints have no `jwks_uri`, but the client's level source reads only the ID
    /// token: every login would end without a level.
    #[error(
        "no `jwks_uri` is configured, but the level source `{source_kind}` reads the ID token: \
         configure `jwks_uri`, or read the level from userinfo"
    )]
    LevelSourceNeedsKeySet {
        /// The level source's kind, as [`SourceKind::as_str`](crate::assurance::SourceKind::as_str)
        /// names it.
        source_kind: &'static str,
    },
}

/// Whether `url` is `https`, or `http` on a loopback host (127.0.0.0/8, ::1, `localhost`).
pub(crate) fn is_secure_or_loopback(url: &Url) -> bool {
    match url.scheme() {
        "https" => true,
        "http" => is_loopback(url),
        _ => false,
    }
}

/// Whether the URL's host is a loopback address or `localhost`.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// Validates a configured issuer: an absolute https URL (http only on loopback), no query or
/// fragment.
pub(crate) fn parse_issuer(issuer: &str) -> Result<Url, DiscoveryError> {
    let url = Url::parse(issuer).map_err(|_| DiscoveryError::InvalidIssuer {
        issuer: issuer.to_owned(),
    })?;
    if url.query().is_some() || url.fragment().is_some() || url.cannot_be_a_base() {
        return Err(DiscoveryError::InvalidIssuer {
            issuer: issuer.to_owned(),
        });
    }
    if !is_secure_or_loopback(&url) {
        return Err(DiscoveryError::InsecureIssuer {
            issuer: issuer.to_owned(),
        });
    }
    Ok(url)
}

/// Validates one endpoint URL: absolute, https (http only on loopback). Errors name `field`.
pub(crate) fn parse_endpoint(field: &'static str, value: &str) -> Result<Url, DiscoveryError> {
    Url::parse(value)
        .ok()
        .filter(is_secure_or_loopback)
        .ok_or_else(|| DiscoveryError::BadEndpoint {
            field,
            value: value.to_owned(),
        })
}

/// Validates an optional endpoint URL.
pub(crate) fn parse_optional_endpoint(
    field: &'static str,
    value: Option<&str>,
) -> Result<Option<Url>, DiscoveryError> {
    value.map(|v| parse_endpoint(field, v)).transpose()
}

/// The discovery URL for `issuer` (OIDC Discovery §4: issuer + `/.well-known/openid-configuration`).
fn discovery_url(issuer: &str) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    )
}

pub(crate) async fn get_json(
    http: &dyn HttpClient,
    url: &str,
    accept: &'static str,
) -> Result<Vec<u8>, DiscoveryError> {
    let request = http::Request::get(url)
        .header(http::header::ACCEPT, accept)
        .body(Vec::new())
        .map_err(|_| DiscoveryError::BadEndpoint {
            field: "url",
            value: url.to_owned(),
        })?;
    let response = http
        .execute(request)
        .await
        .map_err(|source| DiscoveryError::Http {
            url: url.to_owned(),
            source,
        })?;
    if !response.status().is_success() {
        return Err(DiscoveryError::Status {
            url: url.to_owned(),
            status: response.status().as_u16(),
        });
    }
    Ok(response.into_body())
}

/// Whether `url` answers a plain GET with a status below 500 (any answer of the provider's own,
/// even a refusal, shows it is up).
pub(crate) async fn answers(http: &dyn HttpClient, url: &Url) -> bool {
    let Ok(request) = http::Request::get(url.as_str()).body(Vec::new()) else {
        return false;
    };
    match http.execute(request).await {
        Ok(response) => response.status().as_u16() < 500,
        Err(_) => false,
    }
}

/// Fetches and validates the discovery document of `issuer`.
pub(crate) async fn discover(
    http: &dyn HttpClient,
    issuer: &str,
) -> Result<ProviderMetadata, DiscoveryError> {
    parse_issuer(issuer)?;
    let url = discovery_url(issuer);
    let body = get_json(http, &url, "application/json").await?;
    let raw: RawMetadata =
        serde_json::from_slice(&body).map_err(|_| DiscoveryError::Malformed {
            url: url.clone(),
            document: "discovery",
        })?;
    // OIDC Discovery §4.3: the issuer must be identical to the one used for discovery.
    if raw.issuer != issuer {
        return Err(DiscoveryError::IssuerMismatch {
            expected: issuer.to_owned(),
            found: raw.issuer,
        });
    }
    let token_endpoint = match &raw.token_endpoint {
        Some(value) => parse_endpoint("token_endpoint", value)?,
        None => {
            return Err(DiscoveryError::Unsupported {
                what: "a token endpoint",
            });
        }
    };
    if !raw.response_types_supported.is_empty()
        && !raw.response_types_supported.iter().any(|t| t == "code")
    {
        return Err(DiscoveryError::Unsupported {
            what: "the authorization code flow",
        });
    }
    if !raw.code_challenge_methods_supported.is_empty()
        && !raw
            .code_challenge_methods_supported
            .iter()
            .any(|m| m == "S256")
    {
        return Err(DiscoveryError::Unsupported {
            what: "PKCE with S256",
        });
    }
    Ok(ProviderMetadata {
        authorization_endpoint: parse_endpoint(
            "authorization_endpoint",
            &raw.authorization_endpoint,
        )?,
        token_endpoint,
        userinfo_endpoint: parse_optional_endpoint(
            "userinfo_endpoint",
            raw.userinfo_endpoint.as_deref(),
        )?,
        // OIDC Discovery §3: jwks_uri is required in a discovery document.
        jwks_uri: Some(parse_endpoint("jwks_uri", &raw.jwks_uri)?),
        pushed_authorization_request_endpoint: parse_optional_endpoint(
            "pushed_authorization_request_endpoint",
            raw.pushed_authorization_request_endpoint.as_deref(),
        )?,
        require_pushed_authorization_requests: raw.require_pushed_authorization_requests,
        authorization_response_iss_parameter_supported: raw
            .authorization_response_iss_parameter_supported,
        claims_parameter_supported: raw.claims_parameter_supported,
        acr_values_supported: raw.acr_values_supported,
        // Sign-in does not depend on it: a malformed one means signing out ends only the
        // gateway's session, not that the provider cannot be used.
        end_session_endpoint: parse_optional_endpoint(
            "end_session_endpoint",
            raw.end_session_endpoint.as_deref(),
        )
        .ok()
        .flatten(),
        // RFC 8414 §2: the default is client_secret_basic.
        token_endpoint_auth_methods_supported: raw
            .token_endpoint_auth_methods_supported
            .unwrap_or_else(|| vec!["client_secret_basic".to_owned()]),
        code_challenge_methods_supported: raw.code_challenge_methods_supported,
        id_token_signing_alg_values_supported: raw.id_token_signing_alg_values_supported,
        issuer: raw.issuer,
    })
}
