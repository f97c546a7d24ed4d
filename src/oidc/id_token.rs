//! ID-token verification (OIDC Core 3.1.3.7) on openidconnect's verifier with ring keys.

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use openidconnect::core::{
    CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
};
use openidconnect::{
    AdditionalClaims, ClaimsVerificationError, ClientId, IssuerUrl, Nonce,
    SignatureVerificationError,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::jwk::{ALLOWED_ALGORITHMS, Jwks, RingJwk};

/// The largest ID token accepted, checked before anything is decoded (openidconnect parses
/// claims before it checks the signature).
pub const MAX_ID_TOKEN_BYTES: usize = 16 * 1024;

/// Claims outside OIDC's standard set (`vot`, `vtm`, `verified_claims`, provider claims).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(transparent)]
struct ExtraClaims(Map<String, Value>);

impl AdditionalClaims for ExtraClaims {}

type IdToken = openidconnect::IdToken<
    ExtraClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

/// Verifies ID tokens from one issuer for one client.
///
/// Checks, in order: size; JOSE header (`alg` in the allow-list RS256, PS256, ES256, EdDSA;
/// `crit`, `cty` and encrypted tokens refused; `jku`, `x5u`, `jwk` and `x5c` never read);
/// `iss` equal to the issuer; `aud` containing the client and no untrusted audience; signature
/// with a key from the provider's key set; `azp` equal to the client when present (required
/// with several audiences); `exp`, `iat` and `nbf` with the allowed clock skew; `sub` present
/// and at most 255 ASCII characters; `nonce`; and `auth_time` against `max_age` when one was
/// requested.
#[derive(Clone)]
pub struct IdTokenVerifier {
    issuer: IssuerUrl,
    client_id: ClientId,
    skew: Duration,
}

impl fmt::Debug for IdTokenVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdTokenVerifier")
            .field("issuer", &self.issuer.as_str())
            .field("client_id", &self.client_id.as_str())
            .field("skew", &self.skew)
            .finish()
    }
}

/// What the login expects of the token beyond the static checks.
#[derive(Clone, Copy, Debug, Default)]
#[non_exhaustive]
pub struct Expectations<'a> {
    /// The nonce sent in the authorization request.
    pub nonce: Option<&'a str>,
    /// The `max_age` sent, if any: `auth_time` must then be present and recent enough.
    pub max_age: Option<Duration>,
}

impl<'a> Expectations<'a> {
    /// Expect `nonce` and, if given, an authentication no older than `max_age`.
    pub fn new(nonce: Option<&'a str>, max_age: Option<Duration>) -> Self {
        Self { nonce, max_age }
    }
}

/// The claims of an ID token that passed every check.
#[derive(Clone)]
pub struct VerifiedIdToken {
    subject: String,
    acr: Option<String>,
    amr: Vec<String>,
    auth_time: Option<DateTime<Utc>>,
    claims: Map<String, Value>,
}

impl fmt::Debug for VerifiedIdToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The subject and claims identify a person: never printed.
        f.debug_struct("VerifiedIdToken")
            .field("subject", &"[redacted]")
            .field("acr", &self.acr)
            .field("auth_time", &self.auth_time)
            .finish_non_exhaustive()
    }
}

impl VerifiedIdToken {
    /// The `sub` claim.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The `acr` claim.
    pub fn acr(&self) -> Option<&str> {
        self.acr.as_deref()
    }

    /// The `amr` claim.
    pub fn amr(&self) -> &[String] {
        &self.amr
    }

    /// The `auth_time` claim.
    pub fn auth_time(&self) -> Option<DateTime<Utc>> {
        self.auth_time
    }

    /// The claims used for level mapping: `acr` and every claim outside OIDC's standard set.
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }
}

/// Why an ID token was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdTokenError {
    /// The token is larger than [`MAX_ID_TOKEN_BYTES`].
    #[error("the ID token is too large")]
    TooLarge,
    /// The token is not a well-formed signed JWT with the claims OIDC requires.
    #[error("the ID token is malformed")]
    Malformed,
    /// The header names an algorithm outside the allow-list (including `none` and HMAC).
    #[error("the ID token's signature algorithm is not allowed")]
    DisallowedAlgorithm,
    /// The header carries `crit`, `cty`, an unexpected `typ`, or the token is encrypted.
    #[error("the ID token's header has an unsupported parameter")]
    UnsupportedHeader,
    /// No key of the provider's key set fits the token.
    #[error("no provider key matches the ID token")]
    UnknownKey,
    /// The signature does not verify.
    #[error("the ID token's signature is invalid")]
    BadSignature,
    /// `iss` is not the provider's issuer.
    #[error("the ID token was issued by another issuer")]
    WrongIssuer,
    /// `aud` does not contain this client, or contains an untrusted audience.
    #[error("the ID token is not meant for this client")]
    WrongAudience,
    /// `azp` is present and not this client, or missing with several audiences.
    #[error("the ID token's authorized party is not this client")]
    WrongAuthorizedParty,
    /// `exp` has passed (beyond the allowed skew).
    #[error("the ID token has expired")]
    Expired,
    /// `iat` lies in the future (beyond the allowed skew).
    #[error("the ID token was issued in the future")]
    IssuedInFuture,
    /// `nbf` lies in the future (beyond the allowed skew): the token is not valid yet.
    #[error("the ID token is not valid yet")]
    NotYetValid,
    /// `sub` is empty, longer than 255 characters or not ASCII (OIDC Core §2).
    #[error("the ID token's subject is not a valid identifier")]
    InvalidSubject,
    /// `nonce` is missing or differs from the one sent.
    #[error("the ID token's nonce does not match the login")]
    NonceMismatch,
    /// `max_age` was sent but `auth_time` is missing.
    #[error("the ID token has no auth_time although max_age was requested")]
    MissingAuthTime,
    /// `auth_time` is older than the `max_age` sent.
    #[error("the authentication is older than the max_age requested")]
    AuthenticationTooOld,
}

impl IdTokenVerifier {
    /// The default clock skew allowed on `exp`, `iat`, `nbf` and `auth_time`: 60 seconds.
    pub const DEFAULT_SKEW: Duration = Duration::seconds(60);

    /// A verifier for tokens from `issuer` (compared exactly) for `client_id`.
    ///
    /// # Errors
    ///
    /// [`url::ParseError`] when `issuer` is not a URL.
    pub fn new(issuer: &str, client_id: &str) -> Result<Self, url::ParseError> {
        Ok(Self {
            issuer: IssuerUrl::new(issuer.to_owned())?,
            client_id: ClientId::new(client_id.to_owned()),
            skew: Self::DEFAULT_SKEW,
        })
    }

    /// Sets the clock skew allowed on `exp`, `iat`, `nbf` and `auth_time`.
    #[must_use]
    pub fn with_skew(mut self, skew: Duration) -> Self {
        self.skew = skew;
        self
    }

    /// Verifies `token` against `keys` at time `now`.
    ///
    /// # Errors
    ///
    /// [`IdTokenError`] naming the first check that failed.
    pub fn verify(
        &self,
        token: &str,
        keys: &Jwks,
        expect: Expectations<'_>,
        now: DateTime<Utc>,
    ) -> Result<VerifiedIdToken, IdTokenError> {
        if token.len() > MAX_ID_TOKEN_BYTES {
            return Err(IdTokenError::TooLarge);
        }
        let token: IdToken = token.parse().map_err(|_| IdTokenError::Malformed)?;
        let skew = self.skew;
        let verifier = openidconnect::IdTokenVerifier::<RingJwk>::new_public_client(
            self.client_id.clone(),
            self.issuer.clone(),
            keys.0.clone(),
        )
        .set_allowed_algs(ALLOWED_ALGORITHMS)
        // OIDC Core 3.1.3.7 step 9 with a skew allowance (openidconnect has none).
        .set_time_fn(move || now - skew);
        let nonce_check = |claimed: Option<&Nonce>| -> Result<(), String> {
            match (expect.nonce, claimed) {
                (None, _) => Ok(()),
                (Some(sent), Some(claimed)) if constant_time_eq(sent, claimed.secret()) => Ok(()),
                _ => Err("nonce mismatch".to_owned()),
            }
        };
        let claims = token.claims(&verifier, nonce_check).map_err(map_error)?;

        // OIDC Core 3.1.3.7 steps 4-5 (openidconnect leaves azp to the caller).
        match claims.authorized_party() {
            Some(azp) if azp.as_str() != self.client_id.as_str() => {
                return Err(IdTokenError::WrongAuthorizedParty);
            }
            None if claims.audiences().len() > 1 => {
                return Err(IdTokenError::WrongAuthorizedParty);
            }
            _ => {}
        }
        // Step 10: iat must not lie in the future.
        if claims.issue_time() > now + skew {
            return Err(IdTokenError::IssuedInFuture);
        }
        // RFC 7519 §4.1.5: openidconnect does not read `nbf`, so it lands among the extra
        // claims; a token that is not valid yet is refused like an expired one.
        if let Some(not_before) = claims.additional_claims().0.get("nbf") {
            let not_before = numeric_date(not_before).ok_or(IdTokenError::Malformed)?;
            if not_before > now + skew {
                return Err(IdTokenError::NotYetValid);
            }
        }
        // OIDC Core §2: `sub` is a non-empty identifier of at most 255 ASCII characters.
        // openidconnect accepts any string, and the subject is what sessions and the audit key on.
        let subject = claims.subject().as_str();
        if subject.is_empty() || subject.len() > 255 || !subject.is_ascii() {
            return Err(IdTokenError::InvalidSubject);
        }
        // Step 13 / OIDC Core 3.1.2.1: max_age makes auth_time mandatory.
        let auth_time = claims.auth_time();
        if let Some(max_age) = expect.max_age {
            let at = auth_time.ok_or(IdTokenError::MissingAuthTime)?;
            if now - at > max_age + skew {
                return Err(IdTokenError::AuthenticationTooOld);
            }
        }

        let acr = claims.auth_context_ref().map(|acr| acr.as_str().to_owned());
        let amr: Vec<String> = claims
            .auth_method_refs()
            .map(|refs| refs.iter().map(|m| m.as_str().to_owned()).collect())
            .unwrap_or_default();
        let mut mapped = claims.additional_claims().0.clone();
        if let Some(acr) = &acr {
            mapped.insert("acr".to_owned(), Value::from(acr.as_str()));
        }
        Ok(VerifiedIdToken {
            subject: subject.to_owned(),
            acr,
            amr,
            auth_time,
            claims: mapped,
        })
    }
}

/// A JWT NumericDate (seconds since the epoch, possibly fractional).
fn numeric_date(value: &Value) -> Option<DateTime<Utc>> {
    let seconds = value.as_f64()?;
    if !seconds.is_finite() {
        return None;
    }
    // Whole seconds are enough: the comparison allows a skew of a minute anyway.
    DateTime::from_timestamp(seconds.trunc() as i64, 0)
}

pub(crate) fn constant_time_eq(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq as _;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

fn map_error(error: ClaimsVerificationError) -> IdTokenError {
    match error {
        ClaimsVerificationError::Expired(_) => IdTokenError::Expired,
        ClaimsVerificationError::InvalidAudience(_) => IdTokenError::WrongAudience,
        ClaimsVerificationError::InvalidIssuer(_) => IdTokenError::WrongIssuer,
        ClaimsVerificationError::InvalidNonce(_) => IdTokenError::NonceMismatch,
        ClaimsVerificationError::Unsupported(_) => IdTokenError::UnsupportedHeader,
        ClaimsVerificationError::SignatureVerification(e) => match e {
            SignatureVerificationError::DisallowedAlg(_)
            | SignatureVerificationError::NoSignature
            | SignatureVerificationError::UnsupportedAlg(_) => IdTokenError::DisallowedAlgorithm,
            SignatureVerificationError::NoMatchingKey
            | SignatureVerificationError::AmbiguousKeyId(_)
            | SignatureVerificationError::InvalidKey(_) => IdTokenError::UnknownKey,
            _ => IdTokenError::BadSignature,
        },
        _ => IdTokenError::Malformed,
    }
}
