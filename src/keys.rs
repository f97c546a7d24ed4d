//! Ed25519 signing keys, compact JWS (`alg` EdDSA) and the public JWKS.
//!
//! Rules this module enforces:
//!
//! 1. A key is identified by its RFC 7638 JWK thumbprint, so the key id can be recomputed from
//!    the public key alone and cannot be chosen to collide.
//! 2. Signing uses `alg = "EdDSA"` only; verification rejects any other `alg`, a `kid` that does
//!    not match the key, a malformed token and a bad signature, each with its own error.
//! 3. Private key material never appears in `Debug` output, and the PKCS#8 bytes handed out are
//!    zeroized on drop.
//!
//! # Example
//!
//! ```
//! use wardgate::clock::SystemRandom;
//! use wardgate::keys::SigningKey;
//!
//! let (key, _pkcs8) = SigningKey::generate(&SystemRandom::new())?;
//! let jws = key.sign("example+jwt", br#"{"hello":"world"}"#)?;
//! let payload = key.verifying_key().verify(&jws)?;
//! assert_eq!(payload, br#"{"hello":"world"}"#);
//! assert_eq!(key.jwks()["keys"][0]["kid"], key.kid());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};
use zeroize::Zeroizing;

use crate::clock::Random;

/// PKCS#8 v1 prefix for an Ed25519 private key (RFC 8410), followed by the 32-byte seed.
const PKCS8_V1_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// Largest compact JWS accepted for verification, in bytes.
const MAX_JWS_LEN: usize = 16 * 1024;

/// An Ed25519 signing key with its key id.
pub struct SigningKey {
    pair: Ed25519KeyPair,
    kid: String,
}

impl SigningKey {
    /// A fresh key from `random`, with its PKCS#8 document for safe keeping.
    ///
    /// # Errors
    ///
    /// [`KeyError::Random`] when the generator fails.
    pub fn generate(random: &dyn Random) -> Result<(Self, Zeroizing<Vec<u8>>), KeyError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        random.fill(seed.as_mut()).map_err(|_| KeyError::Random)?;
        let mut pkcs8 = Zeroizing::new(Vec::with_capacity(48));
        pkcs8.extend_from_slice(&PKCS8_V1_PREFIX);
        pkcs8.extend_from_slice(seed.as_ref());
        let key = Self::from_pkcs8(&pkcs8)?;
        Ok((key, pkcs8))
    }

    /// A key from a PKCS#8 (v1 or v2) document.
    ///
    /// # Errors
    ///
    /// [`KeyError::InvalidPkcs8`] when the bytes are not an Ed25519 PKCS#8 document.
    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<Self, KeyError> {
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8)
            .map_err(|_| KeyError::InvalidPkcs8)?;
        let kid = thumbprint(pair.public_key().as_ref());
        Ok(Self { pair, kid })
    }

    /// The key id (RFC 7638 thumbprint, base64url).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public half.
    pub fn verifying_key(&self) -> VerifyingKey {
        let mut public = [0u8; 32];
        public.copy_from_slice(self.pair.public_key().as_ref());
        VerifyingKey {
            public,
            kid: self.kid.clone(),
        }
    }

    /// Signs `payload` as a compact JWS with header `{"alg":"EdDSA","kid":…,"typ":typ}`.
    ///
    /// # Errors
    ///
    /// [`KeyError::Encode`] if the header cannot be encoded (it always can; the variant exists
    /// so that no panic is needed).
    pub fn sign(&self, typ: &str, payload: &[u8]) -> Result<String, KeyError> {
        let header = serde_json::to_vec(&serde_json::json!({
            "alg": "EdDSA",
            "kid": self.kid,
            "typ": typ,
        }))
        .map_err(|_| KeyError::Encode)?;
        let mut jws = URL_SAFE_NO_PAD.encode(header);
        jws.push('.');
        jws.push_str(&URL_SAFE_NO_PAD.encode(payload));
        let signature = self.pair.sign(jws.as_bytes());
        jws.push('.');
        jws.push_str(&URL_SAFE_NO_PAD.encode(signature.as_ref()));
        Ok(jws)
    }

    /// The public key as a JWKS document `{"keys":[…]}`.
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({ "keys": [self.verifying_key().jwk()] })
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// An Ed25519 public key with its key id; verifies what the matching [`SigningKey`] signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyingKey {
    public: [u8; 32],
    kid: String,
}

impl VerifyingKey {
    /// A key from a JWK (`kty` OKP, `crv` Ed25519, `x`); the key id is recomputed.
    ///
    /// # Errors
    ///
    /// [`KeyError::InvalidJwk`] when the JWK is not an Ed25519 public key.
    pub fn from_jwk(jwk: &serde_json::Value) -> Result<Self, KeyError> {
        if jwk["kty"] != "OKP" || jwk["crv"] != "Ed25519" {
            return Err(KeyError::InvalidJwk);
        }
        let x = jwk["x"].as_str().ok_or(KeyError::InvalidJwk)?;
        let bytes = URL_SAFE_NO_PAD
            .decode(x)
            .map_err(|_| KeyError::InvalidJwk)?;
        let public: [u8; 32] = bytes.try_into().map_err(|_| KeyError::InvalidJwk)?;
        Ok(Self {
            kid: thumbprint(&public),
            public,
        })
    }

    /// The key id (RFC 7638 thumbprint).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWK.
    pub fn jwk(&self) -> serde_json::Value {
        serde_json::json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "x": URL_SAFE_NO_PAD.encode(self.public),
            "kid": self.kid,
            "alg": "EdDSA",
            "use": "sig",
        })
    }

    /// Verifies a compact JWS and returns its payload.
    ///
    /// # Errors
    ///
    /// [`JwsError`] naming what was wrong: shape, header, algorithm, key id or signature.
    pub fn verify(&self, jws: &str) -> Result<Vec<u8>, JwsError> {
        self.verify_typed(jws, None)
    }

    /// Verifies a compact JWS whose header `typ` must equal `typ`, and returns its payload.
    ///
    /// # Errors
    ///
    /// As [`verify`](Self::verify), plus [`JwsError::WrongType`].
    pub fn verify_typed(&self, jws: &str, typ: Option<&str>) -> Result<Vec<u8>, JwsError> {
        self.verify_typed_with_limit(jws, typ, MAX_JWS_LEN)
    }

    /// As [`verify_typed`](Self::verify_typed), accepting a JWS of up to `max_len` bytes instead
    /// of 16 KiB (for documents that carry a whole dossier, such as hand-off envelopes).
    ///
    /// # Errors
    ///
    /// As [`verify_typed`](Self::verify_typed); [`JwsError::TooLarge`] names `max_len`.
    pub fn verify_typed_with_limit(
        &self,
        jws: &str,
        typ: Option<&str>,
        max_len: usize,
    ) -> Result<Vec<u8>, JwsError> {
        if jws.len() > max_len {
            return Err(JwsError::TooLarge { max: max_len });
        }
        let mut parts = jws.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwsError::Malformed);
        };
        let header_bytes = URL_SAFE_NO_PAD
            .decode(header)
            .map_err(|_| JwsError::Malformed)?;
        let header_json: serde_json::Value =
            serde_json::from_slice(&header_bytes).map_err(|_| JwsError::Malformed)?;
        if header_json["alg"] != "EdDSA" {
            return Err(JwsError::WrongAlgorithm);
        }
        if header_json["kid"] != self.kid.as_str() {
            return Err(JwsError::UnknownKey);
        }
        if let Some(typ) = typ
            && header_json["typ"] != typ
        {
            return Err(JwsError::WrongType);
        }
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| JwsError::Malformed)?;
        let signed_len = header.len() + 1 + payload.len();
        let signed = jws.get(..signed_len).ok_or(JwsError::Malformed)?;
        UnparsedPublicKey::new(&ED25519, self.public)
            .verify(signed.as_bytes(), &signature)
            .map_err(|_| JwsError::BadSignature)?;
        URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| JwsError::Malformed)
    }
}

/// Building or loading a key failed.
#[non_exhaustive]
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The random generator failed.
    #[error("the random generator failed while generating a signing key")]
    Random,
    /// The bytes are not an Ed25519 PKCS#8 document.
    #[error("the key is not an ed25519 pkcs#8 document")]
    InvalidPkcs8,
    /// The JWK is not an Ed25519 public key.
    #[error("the jwk is not an ed25519 public key")]
    InvalidJwk,
    /// The JWS header could not be encoded.
    #[error("the jws header could not be encoded")]
    Encode,
}

/// Verifying a compact JWS failed.
#[non_exhaustive]
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum JwsError {
    /// Longer than the limit.
    #[error("the jws is longer than {max} bytes")]
    TooLarge {
        /// The limit.
        max: usize,
    },
    /// Not three base64url parts with a JSON header.
    #[error("the jws is malformed")]
    Malformed,
    /// The header's `alg` is not `EdDSA`.
    #[error("the jws algorithm is not `EdDSA`")]
    WrongAlgorithm,
    /// The header's `kid` is not this key's id.
    #[error("the jws was signed with an unknown key")]
    UnknownKey,
    /// The header's `typ` is not the expected one.
    #[error("the jws has the wrong `typ`")]
    WrongType,
    /// The signature does not verify.
    #[error("the jws signature is invalid")]
    BadSignature,
}

/// RFC 7638 thumbprint of an Ed25519 public key: members in lexical order, no spaces.
fn thumbprint(public: &[u8]) -> String {
    let canonical = format!(
        r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
        URL_SAFE_NO_PAD.encode(public)
    );
    let digest = ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Counting;
    impl Random for Counting {
        fn fill(&self, dest: &mut [u8]) -> Result<(), crate::clock::RandomError> {
            for (i, b) in dest.iter_mut().enumerate() {
                *b = i as u8;
            }
            Ok(())
        }
    }

    fn key() -> SigningKey {
        SigningKey::generate(&Counting).unwrap().0
    }

    #[test]
    fn sign_and_verify_round_trip() {
        let key = key();
        let jws = key.sign("t", b"payload").unwrap();
        assert_eq!(key.verifying_key().verify(&jws).unwrap(), b"payload");
        assert_eq!(
            key.verifying_key().verify_typed(&jws, Some("t")).unwrap(),
            b"payload"
        );
        assert_eq!(
            key.verifying_key().verify_typed(&jws, Some("other")),
            Err(JwsError::WrongType)
        );
    }

    #[test]
    fn verify_rejects_tampering_other_keys_and_other_algorithms() {
        let key = key();
        let jws = key.sign("t", b"payload").unwrap();
        let parts: Vec<&str> = jws.split('.').collect();
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(b"other"),
            parts[2]
        );
        assert_eq!(
            key.verifying_key().verify(&forged),
            Err(JwsError::BadSignature)
        );

        let other = SigningKey::generate(&crate::clock::SystemRandom::new())
            .unwrap()
            .0;
        assert_eq!(
            other.verifying_key().verify(&jws),
            Err(JwsError::UnknownKey)
        );

        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","kid":"x"}"#);
        let none = format!("{header}.{}.", parts[1]);
        assert_eq!(
            key.verifying_key().verify(&none),
            Err(JwsError::WrongAlgorithm)
        );
        assert_eq!(key.verifying_key().verify("a.b"), Err(JwsError::Malformed));
        let huge = "a".repeat(MAX_JWS_LEN + 1);
        assert_eq!(
            key.verifying_key().verify(&huge),
            Err(JwsError::TooLarge { max: MAX_JWS_LEN })
        );
    }

    #[test]
    fn pkcs8_round_trip_keeps_the_key_id() {
        let (key, pkcs8) = SigningKey::generate(&Counting).unwrap();
        let again = SigningKey::from_pkcs8(&pkcs8).unwrap();
        assert_eq!(key.kid(), again.kid());
        assert_eq!(
            SigningKey::from_pkcs8(b"not a key").unwrap_err(),
            KeyError::InvalidPkcs8
        );
    }

    #[test]
    fn jwks_round_trips_and_kid_is_the_rfc7638_thumbprint() {
        let key = key();
        let jwks = key.jwks();
        let jwk = &jwks["keys"][0];
        let verifying = VerifyingKey::from_jwk(jwk).unwrap();
        assert_eq!(verifying, key.verifying_key());
        assert_eq!(verifying.kid(), key.kid());
        // RFC 7638: SHA-256 is 32 bytes, 43 base64url characters.
        assert_eq!(key.kid().len(), 43);
        assert_eq!(
            VerifyingKey::from_jwk(&serde_json::json!({"kty":"RSA"})),
            Err(KeyError::InvalidJwk)
        );
    }

    #[test]
    fn rfc8037_thumbprint_vector() {
        // RFC 8037 appendix A.3: thumbprint of the example Ed25519 key.
        let x = URL_SAFE_NO_PAD
            .decode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
            .unwrap();
        assert_eq!(
            thumbprint(&x),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }

    #[test]
    fn debug_does_not_show_key_material() {
        let key = key();
        let debug = format!("{key:?}");
        assert_eq!(debug, format!("SigningKey {{ kid: {:?}, .. }}", key.kid()));
    }
}
