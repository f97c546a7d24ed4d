//! The signed receipt a resident keeps, and the signed hand-off envelope for the back office.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::assurance::{Assurance, Level, SourceKind};
use crate::audit::Channel;
use crate::fallback::WardCode;
use crate::keys::{JwsError, KeyError, VerifyingKey};
use crate::policy::ProcedureCode;
use crate::pseudonym::SubjectPseudonym;

use super::{DossierCode, PayloadDigest};

/// JWS `typ` of a receipt.
pub const RECEIPT_JWS_TYPE: &str = "wardgate-receipt+jwt";
/// JWS `typ` of a hand-off envelope.
pub const HANDOFF_JWS_TYPE: &str = "wardgate-handoff+jwt";
/// Largest hand-off envelope [`Handoff::verify`] accepts, in bytes (16 MiB: room for [`AttachmentLimits::MAX`](super::AttachmentLimits::MAX)).
pub const MAX_HANDOFF_LEN: usize = 16 * 1024 * 1024;
/// Version of the receipt and envelope payloads.
pub const RECEIPT_VERSION: u32 = 1;

/// The signed proof that a dossier was received: what the resident keeps, and anyone can verify
/// against the gateway's published keys (JWKS) with [`ReceiptVerifier`].
///
/// The wire form is the compact JWS ([`jws`](Self::jws)); its payload is the JSON object of the
/// fields below, with `v` for the version and `issued_at` in RFC 3339.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Receipt {
    /// Payload version ([`RECEIPT_VERSION`]).
    #[serde(rename = "v")]
    pub version: u32,
    /// The dossier code.
    pub dossier_code: DossierCode,
    /// When the dossier was received (whole seconds).
    pub issued_at: DateTime<Utc>,
    /// The procedure.
    pub procedure: ProcedureCode,
    /// The ward that received it.
    pub ward: WardCode,
    /// The level used.
    pub level: Level,
    /// Where the level came from.
    pub assurance_source: SourceKind,
    /// SHA-256 of the canonical JSON of the dossier, hex.
    pub payload_digest: PayloadDigest,
    /// The id of the key that signed it.
    pub kid: String,
    /// The compact JWS.
    #[serde(skip)]
    jws: String,
}

/// The signed part of a receipt.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReceiptClaims {
    pub(crate) v: u32,
    pub(crate) dossier_code: DossierCode,
    pub(crate) issued_at: DateTime<Utc>,
    pub(crate) procedure: ProcedureCode,
    pub(crate) ward: WardCode,
    pub(crate) level: Level,
    pub(crate) assurance_source: SourceKind,
    pub(crate) payload_digest: PayloadDigest,
    pub(crate) kid: String,
}

impl Receipt {
    /// The compact JWS (EdDSA, `typ` [`RECEIPT_JWS_TYPE`]).
    pub fn jws(&self) -> &str {
        &self.jws
    }

    pub(crate) fn from_claims(claims: ReceiptClaims, jws: String) -> Self {
        Self {
            version: claims.v,
            dossier_code: claims.dossier_code,
            issued_at: claims.issued_at,
            procedure: claims.procedure,
            ward: claims.ward,
            level: claims.level,
            assurance_source: claims.assurance_source,
            payload_digest: claims.payload_digest,
            kid: claims.kid,
            jws,
        }
    }

    /// Reads a receipt this gateway signed and stored, without verifying it again.
    pub(crate) fn from_stored(jws: &str) -> Result<Self, ReceiptError> {
        use base64::Engine as _;
        let payload = jws.split('.').nth(1).ok_or(ReceiptError::Payload)?;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| ReceiptError::Payload)?;
        let claims: ReceiptClaims =
            serde_json::from_slice(&bytes).map_err(|_| ReceiptError::Payload)?;
        Ok(Self::from_claims(claims, jws.to_owned()))
    }
}

/// Verifies receipts offline against the gateway's published keys.
#[derive(Clone, Debug)]
pub struct ReceiptVerifier {
    keys: Vec<VerifyingKey>,
}

impl ReceiptVerifier {
    /// A verifier trusting `keys`.
    pub fn new(keys: Vec<VerifyingKey>) -> Self {
        Self { keys }
    }

    /// A verifier trusting the Ed25519 keys of a JWKS document (`{"keys":[…]}`); keys of other
    /// types are skipped.
    ///
    /// # Errors
    ///
    /// [`ReceiptError::NoKeys`] when the document holds no Ed25519 key.
    pub fn from_jwks(jwks: &serde_json::Value) -> Result<Self, ReceiptError> {
        let keys: Vec<VerifyingKey> = jwks["keys"]
            .as_array()
            .map(|keys| {
                keys.iter()
                    .filter_map(|k| VerifyingKey::from_jwk(k).ok())
                    .collect()
            })
            .unwrap_or_default();
        if keys.is_empty() {
            return Err(ReceiptError::NoKeys);
        }
        Ok(Self { keys })
    }

    /// Verifies a receipt's compact JWS and returns the receipt.
    ///
    /// # Errors
    ///
    /// [`ReceiptError::Jws`] when no trusted key verifies it (or the `typ` is not a receipt's),
    /// [`ReceiptError::Payload`] when the payload is not a receipt, [`ReceiptError::Version`]
    /// for an unknown version, [`ReceiptError::KeyMismatch`] when the signed `kid` is not the
    /// signing key's.
    pub fn verify(&self, jws: &str) -> Result<Receipt, ReceiptError> {
        let mut last = JwsError::UnknownKey;
        for key in &self.keys {
            match key.verify_typed(jws, Some(RECEIPT_JWS_TYPE)) {
                Ok(payload) => {
                    let claims: ReceiptClaims =
                        serde_json::from_slice(&payload).map_err(|_| ReceiptError::Payload)?;
                    if claims.v != RECEIPT_VERSION {
                        return Err(ReceiptError::Version { found: claims.v });
                    }
                    if claims.kid != key.kid() {
                        return Err(ReceiptError::KeyMismatch);
                    }
                    return Ok(Receipt::from_claims(claims, jws.to_owned()));
                }
                Err(JwsError::UnknownKey) => {}
                Err(error) => last = error,
            }
        }
        Err(ReceiptError::Jws(last))
    }
}

/// Verifying or reading a receipt failed.
#[non_exhaustive]
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    /// The JWKS document holds no Ed25519 key.
    #[error("the jwks document holds no ed25519 key")]
    NoKeys,
    /// No trusted key verifies the JWS.
    #[error("the receipt signature does not verify: {0}")]
    Jws(#[source] JwsError),
    /// The payload is not a receipt.
    #[error("the signed payload is not a wardgate receipt")]
    Payload,
    /// The receipt version is not known.
    #[error("the receipt version {found} is not supported")]
    Version {
        /// The version found.
        found: u32,
    },
    /// The `kid` inside the receipt is not the key that signed it.
    #[error("the receipt names another key than the one that signed it")]
    KeyMismatch,
    /// Signing failed.
    #[error("signing the receipt failed: {0}")]
    Sign(#[source] KeyError),
}

/// The verified assurance as the back office receives it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct HandoffAssurance {
    /// The level.
    pub level: Level,
    /// The issuer that authenticated the resident.
    pub issuer: String,
    /// The `acr` the provider returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    /// When the resident authenticated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<DateTime<Utc>>,
    /// Where the level came from.
    pub source: SourceKind,
    /// Whether a verified, signed ID token backed the level and `auth_time` (`false`: an
    /// unsigned userinfo answer, as with VNeID direct, and `auth_time` is the login's start).
    #[serde(default = "signed_by_default")]
    pub signed_id_token: bool,
}

fn signed_by_default() -> bool {
    true
}

impl HandoffAssurance {
    pub(crate) fn new(assurance: &Assurance, level: Level) -> Self {
        Self {
            level,
            issuer: assurance.issuer().to_owned(),
            acr: assurance.acr().map(str::to_owned),
            auth_time: assurance.auth_time(),
            source: assurance.source(),
            signed_id_token: assurance.has_signed_id_token(),
        }
    }
}

/// The payload of the hand-off envelope (JWS `typ` [`HANDOFF_JWS_TYPE`]): what the back office
/// verifies with the gateway's JWKS and files. `Debug` never shows the dossier.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Handoff {
    /// Payload version ([`RECEIPT_VERSION`]).
    pub v: u32,
    /// The dossier code (also sent as the `Idempotency-Key` header).
    pub dossier_code: DossierCode,
    /// When received.
    pub issued_at: DateTime<Utc>,
    /// The procedure.
    pub procedure: ProcedureCode,
    /// The ward.
    pub ward: WardCode,
    /// The resident, pseudonymous.
    pub subject: SubjectPseudonym,
    /// The verified assurance.
    pub assurance: HandoffAssurance,
    /// SHA-256 of the canonical JSON of `payload`, hex.
    pub payload_digest: PayloadDigest,
    /// The dossier.
    pub payload: serde_json::Value,
    /// How the dossier reached the ward: `online`, or `counter` (taken in by an officer).
    /// Envelopes written before the counter existed have no `channel`: they read as `online`.
    #[serde(default)]
    pub channel: Channel,
    /// The receiving officer, pseudonymous: present for the `counter` channel only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub officer: Option<SubjectPseudonym>,
    /// The reception point (its id in the ward directory) where the officer took the dossier
    /// in: present for the `counter` channel only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reception_point: Option<String>,
    /// The label of the assisted device the resident filed from (a team or a desk, never a
    /// person's name): present only for dossiers filed on an assisted device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assisted_by: Option<String>,
}

impl std::fmt::Debug for Handoff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handoff")
            .field("v", &self.v)
            .field("dossier_code", &self.dossier_code)
            .field("issued_at", &self.issued_at)
            .field("procedure", &self.procedure)
            .field("ward", &self.ward)
            .field("subject", &self.subject)
            .field("assurance", &self.assurance)
            .field("payload_digest", &self.payload_digest)
            .field("payload", &"[redacted]")
            .field("channel", &self.channel)
            .field("officer", &self.officer)
            .field("reception_point", &self.reception_point)
            .field("assisted_by", &self.assisted_by)
            .finish()
    }
}

impl Handoff {
    /// Verifies a hand-off envelope with `keys` (the back office's side) and checks that the
    /// payload matches its digest.
    ///
    /// # Errors
    ///
    /// [`ReceiptError::Jws`], [`ReceiptError::Payload`] (also when the digest does not match),
    /// [`ReceiptError::Version`].
    pub fn verify(jws: &str, keys: &[VerifyingKey]) -> Result<Self, ReceiptError> {
        let mut last = JwsError::UnknownKey;
        for key in keys {
            match key.verify_typed_with_limit(jws, Some(HANDOFF_JWS_TYPE), MAX_HANDOFF_LEN) {
                Ok(payload) => {
                    let handoff: Self =
                        serde_json::from_slice(&payload).map_err(|_| ReceiptError::Payload)?;
                    if handoff.v != RECEIPT_VERSION {
                        return Err(ReceiptError::Version { found: handoff.v });
                    }
                    if !PayloadDigest::of(&handoff.payload).ct_eq(&handoff.payload_digest) {
                        return Err(ReceiptError::Payload);
                    }
                    return Ok(handoff);
                }
                Err(JwsError::UnknownKey) => {}
                Err(error) => last = error,
            }
        }
        Err(ReceiptError::Jws(last))
    }
}
