//! Provider metadata from the operator's configuration, for providers that publish no
//! discovery document (VNeID's direct integration, domain brief §1.4 C).

use super::discovery::{self, DiscoveryError, ProviderMetadata};

/// The client authentication methods a configured provider may use at its token endpoint.
const AUTH_METHODS: [&str; 3] = ["client_secret_basic", "client_secret_post", "none"];

/// A provider's endpoints as the operator configures them, for a provider without a discovery
/// document; turned into a relying party by
/// [`RelyingParty::from_endpoints`](super::RelyingParty::from_endpoints).
///
/// Settings are named as in a discovery document (RFC 8414 §2), so an operator can copy them
/// from the provider's onboarding papers. Values are kept as written and validated only when
/// the relying party is built, each error naming its setting.
///
/// Defaults stand for "not advertised": no userinfo, key-set or pushed-authorization-request
/// endpoint; `client_secret_basic` (RFC 8414's default); no RFC 9207 `iss` in the callback
/// (checked when present, not required); no `claims` parameter.
///
/// # Example
///
/// ```
/// use wardgate::oidc::ProviderEndpoints;
///
/// let endpoints = ProviderEndpoints::new(
///     "https://sso.dancuquocgia.gov.vn/auth",
///     "https://sso.dancuquocgia.gov.vn/token",
/// )
/// .userinfo_endpoint("https://sso.dancuquocgia.gov.vn/userinfo")
/// .token_endpoint_auth_method("client_secret_post");
/// // No jwks_uri: only a client that expects no ID token can use these endpoints.
/// # let _ = endpoints;
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct ProviderEndpoints {
    authorization_endpoint: String,
    token_endpoint: String,
    userinfo_endpoint: Option<String>,
    jwks_uri: Option<String>,
    pushed_authorization_request_endpoint: Option<String>,
    require_pushed_authorization_requests: bool,
    authorization_response_iss_parameter_supported: bool,
    claims_parameter_supported: bool,
    token_endpoint_auth_method: String,
}

impl ProviderEndpoints {
    /// A provider with these authorization and token endpoints and nothing else.
    pub fn new(
        authorization_endpoint: impl Into<String>,
        token_endpoint: impl Into<String>,
    ) -> Self {
        Self {
            authorization_endpoint: authorization_endpoint.into(),
            token_endpoint: token_endpoint.into(),
            userinfo_endpoint: None,
            jwks_uri: None,
            pushed_authorization_request_endpoint: None,
            require_pushed_authorization_requests: false,
            authorization_response_iss_parameter_supported: false,
            claims_parameter_supported: false,
            token_endpoint_auth_method: "client_secret_basic".to_owned(),
        }
    }

    /// The userinfo endpoint (`userinfo_endpoint`). Required by every profile that reads the
    /// identity or the level from userinfo; without it such a login fails with
    /// [`Userinfo`](super::LoginErrorKind::Userinfo).
    pub fn userinfo_endpoint(mut self, url: impl Into<String>) -> Self {
        self.userinfo_endpoint = Some(url.into());
        self
    }

    /// The key-set endpoint (`jwks_uri`), fetched when the relying party is built. Without it
    /// no ID token can be verified: only a client expecting none
    /// ([`IdTokenExpectation::Absent`](super::IdTokenExpectation::Absent)) can be built.
    pub fn jwks_uri(mut self, url: impl Into<String>) -> Self {
        self.jwks_uri = Some(url.into());
        self
    }

    /// The pushed-authorization-request endpoint (`pushed_authorization_request_endpoint`,
    /// RFC 9126).
    pub fn pushed_authorization_request_endpoint(mut self, url: impl Into<String>) -> Self {
        self.pushed_authorization_request_endpoint = Some(url.into());
        self
    }

    /// Whether the provider demands pushed authorization requests
    /// (`require_pushed_authorization_requests`, default `false`); needs
    /// [`pushed_authorization_request_endpoint`](Self::pushed_authorization_request_endpoint).
    pub fn require_pushed_authorization_requests(mut self, required: bool) -> Self {
        self.require_pushed_authorization_requests = required;
        self
    }

    /// Whether the provider puts `iss` in every callback
    /// (`authorization_response_iss_parameter_supported`, RFC 9207; default `false`). When
    /// `true`, a callback without `iss` is refused; either way an `iss` that is present must
    /// equal the configured issuer exactly.
    pub fn authorization_response_iss_parameter_supported(mut self, supported: bool) -> Self {
        self.authorization_response_iss_parameter_supported = supported;
        self
    }

    /// Whether the provider supports the `claims` request parameter
    /// (`claims_parameter_supported`, default `false`).
    pub fn claims_parameter_supported(mut self, supported: bool) -> Self {
        self.claims_parameter_supported = supported;
        self
    }

    /// How this client authenticates at the token endpoint (`token_endpoint_auth_method`):
    /// `client_secret_basic` (default), `client_secret_post`, or `none` for a public client.
    /// It must agree with whether the [`ClientConfig`](super::ClientConfig) has a secret.
    pub fn token_endpoint_auth_method(mut self, method: impl Into<String>) -> Self {
        self.token_endpoint_auth_method = method.into();
        self
    }

    /// The configured `token_endpoint_auth_method`, as written.
    pub(crate) fn auth_method(&self) -> &str {
        &self.token_endpoint_auth_method
    }

    /// Validates the configuration into metadata for `issuer`, with the same checks as a
    /// discovery document: an exact, https issuer (http only on loopback), https endpoints.
    pub(crate) fn metadata(&self, issuer: &str) -> Result<ProviderMetadata, DiscoveryError> {
        discovery::parse_issuer(issuer)?;
        let method = self.token_endpoint_auth_method.as_str();
        if !AUTH_METHODS.contains(&method) {
            return Err(DiscoveryError::BadSetting {
                field: "token_endpoint_auth_method",
                value: method.chars().take(64).collect(),
                expected: "client_secret_basic, client_secret_post or none",
            });
        }
        let pushed = discovery::parse_optional_endpoint(
            "pushed_authorization_request_endpoint",
            self.pushed_authorization_request_endpoint.as_deref(),
        )?;
        if self.require_pushed_authorization_requests && pushed.is_none() {
            return Err(DiscoveryError::BadSetting {
                field: "require_pushed_authorization_requests",
                value: "true".to_owned(),
                expected: "a `pushed_authorization_request_endpoint` to go with it",
            });
        }
        Ok(ProviderMetadata {
            issuer: issuer.to_owned(),
            authorization_endpoint: discovery::parse_endpoint(
                "authorization_endpoint",
                &self.authorization_endpoint,
            )?,
            token_endpoint: discovery::parse_endpoint("token_endpoint", &self.token_endpoint)?,
            userinfo_endpoint: discovery::parse_optional_endpoint(
                "userinfo_endpoint",
                self.userinfo_endpoint.as_deref(),
            )?,
            jwks_uri: discovery::parse_optional_endpoint("jwks_uri", self.jwks_uri.as_deref())?,
            pushed_authorization_request_endpoint: pushed,
            require_pushed_authorization_requests: self.require_pushed_authorization_requests,
            authorization_response_iss_parameter_supported: self
                .authorization_response_iss_parameter_supported,
            claims_parameter_supported: self.claims_parameter_supported,
            acr_values_supported: Vec::new(),
            end_session_endpoint: None,
            token_endpoint_auth_methods_supported: vec![method.to_owned()],
            code_challenge_methods_supported: Vec::new(),
            id_token_signing_alg_values_supported: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;
    use url::Url;

    use super::*;

    const ISSUER: &str = "https://sso.example.gov.vn";

    fn endpoints() -> ProviderEndpoints {
        ProviderEndpoints::new(
            "https://sso.example.gov.vn/auth",
            "https://sso.example.gov.vn/token",
        )
    }

    fn error(endpoints: &ProviderEndpoints, issuer: &str) -> String {
        match endpoints.metadata(issuer) {
            Ok(metadata) => panic!("accepted: {metadata:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_complete_configuration_becomes_metadata_as_written() {
        let metadata = endpoints()
            .userinfo_endpoint("https://sso.example.gov.vn/userinfo")
            .jwks_uri("https://sso.example.gov.vn/certs")
            .pushed_authorization_request_endpoint("https://sso.example.gov.vn/par")
            .require_pushed_authorization_requests(true)
            .authorization_response_iss_parameter_supported(true)
            .claims_parameter_supported(true)
            .token_endpoint_auth_method("client_secret_post")
            .metadata(ISSUER)
            .unwrap();
        // The issuer is kept exactly: no trailing slash added.
        assert_eq!(metadata.issuer, ISSUER);
        assert_eq!(
            metadata.authorization_endpoint.as_str(),
            "https://sso.example.gov.vn/auth"
        );
        assert_eq!(
            metadata.token_endpoint.as_str(),
            "https://sso.example.gov.vn/token"
        );
        assert_eq!(
            metadata.userinfo_endpoint.as_ref().map(Url::as_str),
            Some("https://sso.example.gov.vn/userinfo")
        );
        assert_eq!(
            metadata.jwks_uri.as_ref().map(Url::as_str),
            Some("https://sso.example.gov.vn/certs")
        );
        assert_eq!(
            metadata
                .pushed_authorization_request_endpoint
                .as_ref()
                .map(Url::as_str),
            Some("https://sso.example.gov.vn/par")
        );
        assert!(metadata.require_pushed_authorization_requests);
        assert!(metadata.authorization_response_iss_parameter_supported);
        assert!(metadata.claims_parameter_supported);
        assert_eq!(
            metadata.token_endpoint_auth_methods_supported,
            ["client_secret_post"]
        );
    }

    #[test]
    fn defaults_advertise_nothing_optional() {
        let metadata = endpoints().metadata(ISSUER).unwrap();
        assert_eq!(metadata.userinfo_endpoint, None);
        assert_eq!(metadata.jwks_uri, None);
        assert_eq!(metadata.pushed_authorization_request_endpoint, None);
        assert!(!metadata.require_pushed_authorization_requests);
        assert!(!metadata.authorization_response_iss_parameter_supported);
        assert!(!metadata.claims_parameter_supported);
        assert_eq!(
            metadata.token_endpoint_auth_methods_supported,
            ["client_secret_basic"]
        );
    }

    #[test]
    fn http_is_accepted_only_on_loopback() {
        let local = ProviderEndpoints::new("http://127.0.0.1:8080/auth", "http://localhost/token")
            .metadata("http://127.0.0.1:8080")
            .unwrap();
        assert_eq!(local.issuer, "http://127.0.0.1:8080");
        assert_eq!(
            error(&endpoints(), "http://sso.example.gov.vn"),
            "issuer `http://sso.example.gov.vn` is not an https URL (http is accepted only on a \
             loopback host)"
        );
        assert_eq!(
            error(&endpoints(), "https://sso.example.gov.vn?realm=citizen"),
            "issuer `https://sso.example.gov.vn?realm=citizen` is not a valid issuer URL"
        );
    }

    #[test]
    fn each_bad_endpoint_is_named() {
        let cases = [
            (
                ProviderEndpoints::new(
                    "http://sso.example.gov.vn/auth",
                    "https://sso.example.gov.vn/token",
                ),
                "endpoint `authorization_endpoint` = `http://sso.example.gov.vn/auth` is not an \
                 acceptable URL",
            ),
            (
                ProviderEndpoints::new("https://sso.example.gov.vn/auth", "/token"),
                "endpoint `token_endpoint` = `/token` is not an acceptable URL",
            ),
            (
                endpoints().userinfo_endpoint("ftp://sso.example.gov.vn/userinfo"),
                "endpoint `userinfo_endpoint` = `ftp://sso.example.gov.vn/userinfo` is not an \
                 acceptable URL",
            ),
            (
                endpoints().jwks_uri(""),
                "endpoint `jwks_uri` = `` is not an acceptable URL",
            ),
            (
                endpoints().pushed_authorization_request_endpoint("http://10.0.0.1/par"),
                "endpoint `pushed_authorization_request_endpoint` = `http://10.0.0.1/par` is not \
                 an acceptable URL",
            ),
        ];
        for (endpoints, expected) in cases {
            assert_eq!(error(&endpoints, ISSUER), expected);
        }
    }

    #[test]
    fn settings_that_cannot_work_are_named() {
        assert_eq!(
            error(
                &endpoints().token_endpoint_auth_method("private_key_jwt"),
                ISSUER
            ),
            "setting `token_endpoint_auth_method` = `private_key_jwt` is not acceptable: \
             expected client_secret_basic, client_secret_post or none"
        );
        assert_eq!(
            error(
                &endpoints().require_pushed_authorization_requests(true),
                ISSUER
            ),
            "setting `require_pushed_authorization_requests` = `true` is not acceptable: \
             expected a `pushed_authorization_request_endpoint` to go with it"
        );
    }
}
