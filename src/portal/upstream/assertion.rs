//! The identity assertion given to the upstream: a short-lived compact JWS (`typ`
//! `wardgate-assertion+jwt`, EdDSA) signed with the gateway's signing key, the key that signs
//! receipts and tickets and is published at `/.well-known/jwks.json`.
//!
//! It carries the subject pseudonym, the level and where the level came from, the
//! authentication time, the procedure when a procedure gated the request, and an audience and
//! expiry so that a header copied to another service, or replayed later, is refused. No other
//! personal data.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::keys::{JwsError, KeyError, SigningKey, VerifyingKey};
use crate::session::Session;

/// The JWS `typ` of an assertion.
pub const ASSERTION_TYPE: &str = "wardgate-assertion+jwt";

/// How long an assertion is valid, in seconds: enough for one request to reach the upstream,
/// little enough that a leaked header is soon useless.
pub const ASSERTION_LIFETIME_SECONDS: i64 = 90;

/// Where the session's level came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LevelSourceClaim {
    /// The kind of source: `id_token_acr`, `userinfo_claim`, … (see
    /// [`SourceKind`](crate::assurance::SourceKind)).
    pub kind: String,
    /// Whether the level was read from a signed ID token rather than an unsigned response.
    pub signed_id_token: bool,
}

/// The claims of an assertion.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssertionClaims {
    /// The gateway's public URL.
    pub iss: String,
    /// The upstream the assertion is for.
    pub aud: String,
    /// The subject pseudonym (a keyed hash of the provider's subject, never the subject itself).
    pub sub: String,
    /// The session's level, 1 or 2.
    pub level: u8,
    /// Where the level came from.
    pub level_source: LevelSourceClaim,
    /// The procedure that gated the request, if a procedure did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub procedure: Option<String>,
    /// When the resident authenticated (seconds since the epoch), when the provider said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// When the assertion was made.
    pub iat: i64,
    /// When it lapses: [`ASSERTION_LIFETIME_SECONDS`] after `iat`.
    pub exp: i64,
}

impl AssertionClaims {
    /// The claims for `session` at `now`, for the upstream `audience`. `None` without a level
    /// (a session always has one when the policy let the request through).
    pub fn for_session(
        issuer: &str,
        audience: &str,
        session: &Session,
        procedure: Option<&str>,
        now: DateTime<Utc>,
    ) -> Option<Self> {
        let assurance = session.assurance();
        let iat = now.timestamp();
        Some(Self {
            iss: issuer.to_owned(),
            aud: audience.to_owned(),
            sub: session.subject().to_owned(),
            level: assurance.level()?.number(),
            level_source: LevelSourceClaim {
                kind: assurance.source().as_str().to_owned(),
                signed_id_token: assurance.has_signed_id_token(),
            },
            procedure: procedure.map(str::to_owned),
            auth_time: assurance.auth_time().map(|at| at.timestamp()),
            iat,
            exp: iat + ASSERTION_LIFETIME_SECONDS,
        })
    }

    /// Signs the claims with the gateway's key.
    ///
    /// # Errors
    ///
    /// [`KeyError`] when the JWS cannot be encoded.
    pub fn sign(&self, key: &SigningKey) -> Result<String, KeyError> {
        let payload = serde_json::to_vec(self).map_err(|_| KeyError::Encode)?;
        key.sign(ASSERTION_TYPE, &payload)
    }
}

/// Why an assertion was refused.
#[derive(Debug, thiserror::Error)]
pub enum AssertionError {
    /// The JWS is malformed, of another type, or not signed by the key.
    #[error("the assertion's signature does not verify: {0}")]
    Signature(#[from] JwsError),
    /// The payload is not an assertion's claims.
    #[error("the assertion's claims are malformed")]
    Claims,
    /// The assertion is for another audience.
    #[error("the assertion is for another audience")]
    Audience,
    /// The assertion has expired (or is not valid yet).
    #[error("the assertion has expired")]
    Expired,
}

/// Verifies an `X-Wardgate-Assertion` as an upstream would: the signature with a key of the
/// gateway's JWKS, the type, the audience and the validity window at `now` (a few seconds of
/// clock skew allowed).
///
/// # Errors
///
/// [`AssertionError`] naming what failed.
pub fn verify_assertion(
    key: &VerifyingKey,
    jws: &str,
    audience: &str,
    now: DateTime<Utc>,
) -> Result<AssertionClaims, AssertionError> {
    const SKEW_SECONDS: i64 = 5;
    let payload = key.verify_typed(jws, Some(ASSERTION_TYPE))?;
    let claims: AssertionClaims =
        serde_json::from_slice(&payload).map_err(|_| AssertionError::Claims)?;
    if claims.aud != audience {
        return Err(AssertionError::Audience);
    }
    let now = now.timestamp();
    if now > claims.exp + SKEW_SECONDS || now + SKEW_SECONDS < claims.iat {
        return Err(AssertionError::Expired);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;
    use crate::Level;
    use crate::assurance::{Assurance, SourceKind};
    use crate::clock::SystemRandom;

    fn session(now: DateTime<Utc>) -> Session {
        let assurance = Assurance::new(
            Some(Level::Two),
            "https://sso.example.vn",
            SourceKind::IdTokenAcr,
            Some(now - Duration::minutes(3)),
        )
        .with_signed_id_token(true);
        Session::new("pseudonym-abc", assurance, now, &SystemRandom::new()).unwrap()
    }

    #[test]
    fn an_assertion_verifies_for_its_audience_until_it_expires() {
        let random = SystemRandom::new();
        let (key, _) = SigningKey::generate(&random).unwrap();
        let now = Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).unwrap();
        let claims = AssertionClaims::for_session(
            "https://dichvucong.example.vn/",
            "http://portal.internal:9000",
            &session(now),
            Some("1.001193"),
            now,
        )
        .unwrap();
        let jws = claims.sign(&key).unwrap();
        let public = key.verifying_key();

        let verified = verify_assertion(&public, &jws, "http://portal.internal:9000", now).unwrap();
        assert_eq!(verified, claims);
        assert_eq!(verified.sub, "pseudonym-abc");
        assert_eq!(verified.level, 2);
        assert_eq!(verified.level_source.kind, "id_token_acr");
        assert!(verified.level_source.signed_id_token);
        assert_eq!(verified.exp - verified.iat, ASSERTION_LIFETIME_SECONDS);
        assert_eq!(
            verified.auth_time,
            Some((now - Duration::minutes(3)).timestamp())
        );

        assert!(matches!(
            verify_assertion(&public, &jws, "http://other:9000", now),
            Err(AssertionError::Audience)
        ));
        assert!(matches!(
            verify_assertion(
                &public,
                &jws,
                "http://portal.internal:9000",
                now + Duration::seconds(120)
            ),
            Err(AssertionError::Expired)
        ));
        let (other, _) = SigningKey::generate(&random).unwrap();
        assert!(matches!(
            verify_assertion(
                &other.verifying_key(),
                &jws,
                "http://portal.internal:9000",
                now
            ),
            Err(AssertionError::Signature(_))
        ));
    }
}
