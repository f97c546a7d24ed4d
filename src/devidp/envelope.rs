//! The simulator's own **test** envelope format, and the decryptor that opens it.
//!
//! This is not VNeID's format, which is not publicly specified (domain brief §1.4 C, §1.9
//! question 3). It only has the same shape, so that the relying party's envelope path can be
//! tested end to end:
//!
//! ```text
//! {"data": base64(nonce ‖ AES-256-GCM(content key, body, aad = "wardgate-devidp-test:" part)),
//!  "key":  base64(nonce ‖ AES-256-GCM(wrapping key, content key, aad = "wardgate-devidp-test:key"))}
//! ```
//!
//! Standard base64 with padding; 12-byte nonces; a fresh 32-byte content key per body; the
//! 32-byte wrapping key is made at each simulator start and handed out only through
//! [`DevIdpHandle::test_decryptor`](super::DevIdpHandle::test_decryptor). `part` is
//! `token_response` or `userinfo`, so a userinfo envelope cannot be passed off as a token
//! response. An encrypted code is `base64(nonce ‖ AES-256-GCM(content key, code, aad =
//! "wardgate-devidp-test:code"))` with the wrapped content key (the `key` form above) in the
//! callback's `encrypt_key`.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::clock::{Random, RandomError};
use crate::oidc::{EnvelopeDecryptor, EnvelopeError, EnvelopePart};

/// Length of the wrapping and content keys.
const KEY_LEN: usize = 32;
/// Prefix of every associated-data string.
const AAD_PREFIX: &str = "wardgate-devidp-test:";

/// The simulator's wrapping key: seals envelopes on the server side, opens them in
/// [`TestEnvelopeDecryptor`].
#[derive(Clone)]
pub(crate) struct WrappingKey(Zeroizing<[u8; KEY_LEN]>);

impl fmt::Debug for WrappingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WrappingKey([redacted])")
    }
}

impl WrappingKey {
    /// A fresh key from `random`.
    pub(crate) fn generate(random: &dyn Random) -> Result<Self, RandomError> {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        random.fill(key.as_mut())?;
        Ok(Self(key))
    }

    /// Encrypts a response body into the envelope JSON.
    pub(crate) fn seal_body(
        &self,
        random: &dyn Random,
        part: EnvelopePart,
        body: &[u8],
    ) -> Result<Vec<u8>, SealError> {
        let (key, data) = self.seal(random, &format!("{AAD_PREFIX}{}", part.as_str()), body)?;
        serde_json::to_vec(&serde_json::json!({ "data": data, "key": key })).map_err(|_| SealError)
    }

    /// Encrypts an authorization code; returns `(encrypted code, encrypt_key)`.
    pub(crate) fn seal_code(
        &self,
        random: &dyn Random,
        code: &str,
    ) -> Result<(String, String), SealError> {
        let (key, data) = self.seal(random, &format!("{AAD_PREFIX}code"), code.as_bytes())?;
        Ok((data, key))
    }

    /// Returns `(wrapped content key, encrypted payload)`, both base64.
    fn seal(
        &self,
        random: &dyn Random,
        aad: &str,
        plaintext: &[u8],
    ) -> Result<(String, String), SealError> {
        let mut content_key = Zeroizing::new([0u8; KEY_LEN]);
        random.fill(content_key.as_mut()).map_err(|_| SealError)?;
        let data = encrypt(random, content_key.as_ref(), aad, plaintext)?;
        let key = encrypt(
            random,
            self.0.as_ref(),
            &format!("{AAD_PREFIX}key"),
            content_key.as_ref(),
        )?;
        Ok((STANDARD.encode(key), STANDARD.encode(data)))
    }

    /// Unwraps a content key from its base64 form.
    fn unwrap_key(&self, wrapped: &str) -> Option<Zeroizing<Vec<u8>>> {
        let wrapped = STANDARD.decode(wrapped).ok()?;
        let key = decrypt(self.0.as_ref(), &format!("{AAD_PREFIX}key"), wrapped)?;
        (key.len() == KEY_LEN).then_some(key)
    }
}

/// Encrypting failed (the random generator, or serialising the envelope).
#[derive(Debug, thiserror::Error)]
#[error("could not seal a test envelope")]
pub(crate) struct SealError;

/// Opens the simulator's test envelopes and encrypted codes.
///
/// Made by [`DevIdpHandle::test_decryptor`](super::DevIdpHandle::test_decryptor) for a
/// simulator started with [`ProviderProfile::VneidDirect`](crate::oidc::ProviderProfile). It
/// knows only the simulator's own test format (see the module source), never VNeID's.
///
/// `Debug` does not print the key.
#[derive(Clone)]
pub struct TestEnvelopeDecryptor {
    key: WrappingKey,
}

impl fmt::Debug for TestEnvelopeDecryptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestEnvelopeDecryptor")
            .field("key", &"[redacted]")
            .finish()
    }
}

impl TestEnvelopeDecryptor {
    pub(crate) fn new(key: WrappingKey) -> Self {
        Self { key }
    }

    /// The decryptor as the trait object a [`ClientConfig`](crate::oidc::ClientConfig) takes.
    pub fn into_arc(self) -> Arc<dyn EnvelopeDecryptor> {
        Arc::new(self)
    }
}

impl EnvelopeDecryptor for TestEnvelopeDecryptor {
    fn open(&self, part: EnvelopePart, body: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Envelope {
            data: String,
            key: String,
        }
        let envelope: Envelope =
            serde_json::from_slice(body).map_err(|_| EnvelopeError::Malformed { part })?;
        let data = STANDARD
            .decode(&envelope.data)
            .map_err(|_| EnvelopeError::Malformed { part })?;
        let content_key = self
            .key
            .unwrap_key(&envelope.key)
            .ok_or(EnvelopeError::Decryption { part })?;
        decrypt(
            &content_key,
            &format!("{AAD_PREFIX}{}", part.as_str()),
            data,
        )
        .map(|plain| plain.to_vec())
        .ok_or(EnvelopeError::Decryption { part })
    }

    fn decrypt_code(&self, code: &str, encrypt_key: &str) -> Result<String, EnvelopeError> {
        let content_key = self
            .key
            .unwrap_key(encrypt_key)
            .ok_or(EnvelopeError::CodeDecryption)?;
        let sealed = STANDARD
            .decode(code)
            .map_err(|_| EnvelopeError::CodeDecryption)?;
        let plain = decrypt(&content_key, &format!("{AAD_PREFIX}code"), sealed)
            .ok_or(EnvelopeError::CodeDecryption)?;
        String::from_utf8(plain.to_vec()).map_err(|_| EnvelopeError::CodeDecryption)
    }
}

/// `nonce ‖ ciphertext ‖ tag` under `key`.
fn encrypt(
    random: &dyn Random,
    key: &[u8],
    aad: &str,
    plaintext: &[u8],
) -> Result<Vec<u8>, SealError> {
    let key = UnboundKey::new(&AES_256_GCM, key)
        .map(LessSafeKey::new)
        .map_err(|_| SealError)?;
    let mut nonce = [0u8; NONCE_LEN];
    random.fill(&mut nonce).map_err(|_| SealError)?;
    let mut out = nonce.to_vec();
    let mut sealed = plaintext.to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad.as_bytes()),
        &mut sealed,
    )
    .map_err(|_| SealError)?;
    out.append(&mut sealed);
    Ok(out)
}

/// Opens `nonce ‖ ciphertext ‖ tag` under `key`.
fn decrypt(key: &[u8], aad: &str, sealed: Vec<u8>) -> Option<Zeroizing<Vec<u8>>> {
    let key = UnboundKey::new(&AES_256_GCM, key)
        .map(LessSafeKey::new)
        .ok()?;
    if sealed.len() < NONCE_LEN {
        return None;
    }
    let mut sealed = Zeroizing::new(sealed);
    let mut ciphertext = sealed.split_off(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(&sealed).ok()?;
    let plain_len = key
        .open_in_place(nonce, Aad::from(aad.as_bytes()), &mut ciphertext)
        .ok()?
        .len();
    ciphertext.truncate(plain_len);
    Some(Zeroizing::new(ciphertext))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemRandom;

    fn keys() -> (WrappingKey, TestEnvelopeDecryptor) {
        let key = WrappingKey::generate(&SystemRandom::new()).unwrap();
        (key.clone(), TestEnvelopeDecryptor::new(key))
    }

    #[test]
    fn sealed_bodies_open_only_as_the_part_they_were_sealed_for() {
        let (key, decryptor) = keys();
        let random = SystemRandom::new();
        let body = br#"{"citizenPid":"000187004821","accountLevel":2}"#;
        let sealed = key
            .seal_body(&random, EnvelopePart::Userinfo, body)
            .unwrap();
        assert_eq!(
            decryptor.open(EnvelopePart::Userinfo, &sealed).unwrap(),
            body
        );
        assert!(matches!(
            decryptor.open(EnvelopePart::TokenResponse, &sealed),
            Err(EnvelopeError::Decryption {
                part: EnvelopePart::TokenResponse
            })
        ));
        // Another simulator's key does not open it.
        let (_, other) = keys();
        assert!(matches!(
            other.open(EnvelopePart::Userinfo, &sealed),
            Err(EnvelopeError::Decryption { .. })
        ));
    }

    #[test]
    fn tampered_or_malformed_envelopes_are_refused() {
        let (key, decryptor) = keys();
        let sealed = key
            .seal_body(&SystemRandom::new(), EnvelopePart::TokenResponse, b"{}")
            .unwrap();
        let mut envelope: serde_json::Value = serde_json::from_slice(&sealed).unwrap();
        let mut data = STANDARD.decode(envelope["data"].as_str().unwrap()).unwrap();
        if let Some(last) = data.last_mut() {
            *last ^= 1;
        }
        envelope["data"] = STANDARD.encode(data).into();
        let tampered = serde_json::to_vec(&envelope).unwrap();
        assert!(matches!(
            decryptor.open(EnvelopePart::TokenResponse, &tampered),
            Err(EnvelopeError::Decryption { .. })
        ));
        for body in [
            &br#"{"data":"***","key":"AAAA"}"#[..],
            br#"{"data":"AAAA"}"#,
            br#"{"data":"AAAA","key":"AAAA","extra":1}"#,
            b"[]",
        ] {
            let err = decryptor
                .open(EnvelopePart::TokenResponse, body)
                .unwrap_err();
            assert!(
                matches!(err, EnvelopeError::Malformed { .. }),
                "{}: {err:?}",
                String::from_utf8_lossy(body)
            );
        }
        // Valid base64 that is too short to hold a nonce.
        assert!(matches!(
            decryptor.open(
                EnvelopePart::TokenResponse,
                br#"{"data":"AAAA","key":"AAAA"}"#
            ),
            Err(EnvelopeError::Decryption { .. })
        ));
    }

    #[test]
    fn encrypted_codes_round_trip_and_refuse_a_wrong_key() {
        let (key, decryptor) = keys();
        let random = SystemRandom::new();
        let (sealed, encrypt_key) = key.seal_code(&random, "+code/with=").unwrap();
        assert_eq!(
            decryptor.decrypt_code(&sealed, &encrypt_key).unwrap(),
            "+code/with="
        );
        let (_, other_key) = key.seal_code(&random, "other").unwrap();
        assert!(matches!(
            decryptor.decrypt_code(&sealed, &other_key),
            Err(EnvelopeError::CodeDecryption)
        ));
        assert!(matches!(
            decryptor.decrypt_code("not base64!", &encrypt_key),
            Err(EnvelopeError::CodeDecryption)
        ));
    }

    #[test]
    fn debug_output_never_shows_the_key() {
        let (key, decryptor) = keys();
        assert_eq!(format!("{key:?}"), "WrappingKey([redacted])");
        assert_eq!(
            format!("{decryptor:?}"),
            r#"TestEnvelopeDecryptor { key: "[redacted]" }"#
        );
    }
}
