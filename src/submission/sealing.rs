//! Encryption of dossiers at rest: AES-256-GCM, bound to the dossier code and the purpose.
//!
//! A dossier holds personal data (names, citizen ID numbers of the resident and family), so
//! neither the stored submission nor the queued hand-off envelope keeps it in clear. Both are
//! sealed with a [`DossierSealer`] before they reach the store.
//!
//! Sealed form: the JSON object `{"sealed": "v1.<base64url(nonce || ciphertext || tag)>"}`
//! (base64url without padding, 96-bit random nonce, 128-bit tag), so a sealed dossier still fits
//! the store's JSON columns. The hand-off envelope is stored as the text of that object.
//!
//! Associated data: `"wardgate-dossier-v1" || 0x00 || purpose || 0x00 || dossier code`, where
//! the purpose is `dossier` or `handoff`. Neither a purpose nor a dossier code holds a NUL byte,
//! so the encoding is unambiguous: a sealed value moved to another dossier, or from the
//! submission to the outbox (or back), no longer opens.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use zeroize::{Zeroize, Zeroizing};

use super::DossierCode;
use crate::clock::{Random, RandomError};

/// Length of a dossier key in bytes (AES-256).
pub const DOSSIER_KEY_LEN: usize = 32;

/// The longest sealed token, in characters, that [`DossierSealer`] opens.
const MAX_SEALED_LEN: usize = 32 * 1024 * 1024;
const TAG_LEN: usize = 16;
const PREFIX: &str = "v1.";
const FIELD: &str = "sealed";
const AAD_LABEL: &[u8] = b"wardgate-dossier-v1";

/// What a sealed value is for; part of the associated data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Purpose {
    /// The dossier in the stored submission.
    Dossier,
    /// The hand-off envelope in the outbox.
    Handoff,
    /// A resident's saved draft.
    Draft,
}

impl Purpose {
    const fn as_bytes(self) -> &'static [u8] {
        match self {
            Self::Dossier => b"dossier",
            Self::Handoff => b"handoff",
            Self::Draft => b"draft",
        }
    }
}

/// A 32-byte AES-256-GCM key for sealing dossiers.
///
/// Zeroized on drop; its `Debug` output is `DossierKey([redacted])`. It has no `Display`,
/// `Clone` or `PartialEq`.
pub struct DossierKey([u8; DOSSIER_KEY_LEN]);

impl DossierKey {
    /// A key from exactly [`DOSSIER_KEY_LEN`] bytes.
    ///
    /// # Errors
    ///
    /// [`SealKeyError::WrongLength`] when `bytes` is not 32 bytes long.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SealKeyError> {
        let key: [u8; DOSSIER_KEY_LEN] =
            bytes.try_into().map_err(|_| SealKeyError::WrongLength {
                expected: DOSSIER_KEY_LEN,
                found: bytes.len(),
            })?;
        Ok(Self(key))
    }

    /// A fresh key from `random`.
    ///
    /// # Errors
    ///
    /// [`SealKeyError::Random`] when the generator fails.
    pub fn generate(random: &dyn Random) -> Result<Self, SealKeyError> {
        let mut key = Self([0; DOSSIER_KEY_LEN]);
        random.fill(&mut key.0).map_err(SealKeyError::Random)?;
        Ok(key)
    }
}

impl Drop for DossierKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for DossierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DossierKey([redacted])")
    }
}

/// A dossier key could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealKeyError {
    /// The key material has the wrong length.
    #[error("dossier key must be {expected} bytes: found {found}")]
    WrongLength {
        /// The length required.
        expected: usize,
        /// The length given.
        found: usize,
    },
    /// The random generator failed while generating a key.
    #[error("cannot generate a dossier key")]
    Random(#[source] RandomError),
}

/// Sealing or opening a dossier failed. The messages never carry dossier content.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// The random generator failed while drawing a nonce.
    #[error("the random generator failed while sealing a dossier")]
    Random(#[source] RandomError),
    /// The dossier could not be serialized.
    #[error("the dossier could not be serialized for sealing")]
    Encode,
    /// The value is not a sealed dossier (wrong shape, version, encoding or length).
    #[error("the value is not a sealed dossier")]
    Malformed,
    /// The value does not open with this key for this dossier and purpose (tampered, moved,
    /// or sealed under another key).
    #[error("the sealed dossier does not open with this key, dossier code and purpose")]
    Open,
}

/// Seals and opens dossiers and hand-off envelopes with one AES-256-GCM key.
///
/// The AES-GCM state is built once, in [`new`](Self::new); every seal draws a fresh 96-bit nonce
/// from the injected generator. `Debug` shows no key material.
pub struct DossierSealer {
    key: LessSafeKey,
    /// Keys rotated out: they no longer seal, but what they sealed still opens.
    older: Vec<LessSafeKey>,
    random: Arc<dyn Random>,
}

impl fmt::Debug for DossierSealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DossierSealer")
            .field("key", &"[redacted]")
            .finish_non_exhaustive()
    }
}

impl DossierSealer {
    /// A sealer with `key`, drawing nonces from `random`. The key's bytes are zeroized when
    /// `key` is dropped here.
    ///
    /// # Errors
    ///
    /// [`SealKeyError::WrongLength`] if the AES-256-GCM key cannot be built (it cannot happen
    /// with a [`DossierKey`]).
    pub fn new(key: DossierKey, random: Arc<dyn Random>) -> Result<Self, SealKeyError> {
        let unbound =
            UnboundKey::new(&AES_256_GCM, &key.0).map_err(|_| SealKeyError::WrongLength {
                expected: DOSSIER_KEY_LEN,
                found: key.0.len(),
            })?;
        Ok(Self {
            key: LessSafeKey::new(unbound),
            older: Vec::new(),
            random,
        })
    }

    /// This sealer, also opening what `older` keys sealed (keys rotated out, newest first):
    /// after a rotation, dossiers, drafts and envelopes stored before it still open. Sealing
    /// always uses the key given to [`new`](Self::new). Each key's bytes are zeroized when it is
    /// dropped here.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn with_older_keys(
        mut self,
        older: impl IntoIterator<Item = DossierKey>,
    ) -> Result<Self, SealKeyError> {
        for key in older {
            let unbound =
                UnboundKey::new(&AES_256_GCM, &key.0).map_err(|_| SealKeyError::WrongLength {
                    expected: DOSSIER_KEY_LEN,
                    found: key.0.len(),
                })?;
            self.older.push(LessSafeKey::new(unbound));
        }
        Ok(self)
    }

    /// A sealer from raw key bytes (exactly 32), drawing nonces from `random`.
    ///
    /// # Errors
    ///
    /// [`SealKeyError::WrongLength`] when `bytes` is not 32 bytes long.
    pub fn from_bytes(bytes: &[u8], random: Arc<dyn Random>) -> Result<Self, SealKeyError> {
        Self::new(DossierKey::from_bytes(bytes)?, random)
    }

    /// Seals the dossier `dossier` of `code`, for the stored submission.
    ///
    /// # Errors
    ///
    /// [`SealError::Encode`] or [`SealError::Random`].
    pub fn seal_dossier(
        &self,
        code: DossierCode,
        dossier: &serde_json::Value,
    ) -> Result<serde_json::Value, SealError> {
        let plaintext = Zeroizing::new(serde_json::to_vec(dossier).map_err(|_| SealError::Encode)?);
        let token = self.seal(Purpose::Dossier, code.as_str(), &plaintext)?;
        Ok(serde_json::json!({ FIELD: token }))
    }

    /// Opens a dossier sealed by [`seal_dossier`](Self::seal_dossier) for `code`; for staff
    /// tooling that reads a stored submission.
    ///
    /// # Errors
    ///
    /// [`SealError::Malformed`] when `sealed` is not a sealed value, [`SealError::Open`] when it
    /// was tampered with, sealed for another dossier or purpose, or under another key.
    pub fn open_dossier(
        &self,
        code: DossierCode,
        sealed: &serde_json::Value,
    ) -> Result<serde_json::Value, SealError> {
        let token = sealed
            .as_object()
            .filter(|object| object.len() == 1)
            .and_then(|object| object.get(FIELD))
            .and_then(serde_json::Value::as_str)
            .ok_or(SealError::Malformed)?;
        let plaintext = self.open(Purpose::Dossier, code.as_str(), token)?;
        serde_json::from_slice(&plaintext).map_err(|_| SealError::Malformed)
    }

    /// Seals the hand-off envelope (a compact JWS) of `code`, for the outbox: the text of a
    /// `{"sealed": "v1.…"}` object.
    ///
    /// # Errors
    ///
    /// [`SealError::Encode`] or [`SealError::Random`].
    pub fn seal_handoff(&self, code: DossierCode, envelope: &str) -> Result<String, SealError> {
        let token = self.seal(Purpose::Handoff, code.as_str(), envelope.as_bytes())?;
        serde_json::to_string(&serde_json::json!({ FIELD: token })).map_err(|_| SealError::Encode)
    }

    /// Opens an envelope sealed by [`seal_handoff`](Self::seal_handoff) for `code`.
    ///
    /// # Errors
    ///
    /// As [`open_dossier`](Self::open_dossier).
    pub fn open_handoff(&self, code: DossierCode, sealed: &str) -> Result<String, SealError> {
        if sealed.len() > MAX_SEALED_LEN + 64 {
            return Err(SealError::Malformed);
        }
        let value: serde_json::Value =
            serde_json::from_str(sealed).map_err(|_| SealError::Malformed)?;
        let token = value
            .as_object()
            .filter(|object| object.len() == 1)
            .and_then(|object| object.get(FIELD))
            .and_then(serde_json::Value::as_str)
            .ok_or(SealError::Malformed)?;
        let plaintext = self.open(Purpose::Handoff, code.as_str(), token)?;
        String::from_utf8(plaintext.to_vec()).map_err(|_| SealError::Malformed)
    }

    /// Seals a resident's draft (keyed to its draft id), in the same `{"sealed": "v1.…"}` form.
    ///
    /// # Errors
    ///
    /// [`SealError::Encode`] or [`SealError::Random`].
    pub fn seal_draft(
        &self,
        draft_id: &str,
        data: &serde_json::Value,
    ) -> Result<serde_json::Value, SealError> {
        let plaintext = Zeroizing::new(serde_json::to_vec(data).map_err(|_| SealError::Encode)?);
        let token = self.seal(Purpose::Draft, draft_id, &plaintext)?;
        Ok(serde_json::json!({ FIELD: token }))
    }

    /// Opens a draft sealed by [`seal_draft`](Self::seal_draft) for `draft_id`.
    ///
    /// # Errors
    ///
    /// As [`open_dossier`](Self::open_dossier).
    pub fn open_draft(
        &self,
        draft_id: &str,
        sealed: &serde_json::Value,
    ) -> Result<serde_json::Value, SealError> {
        let token = sealed
            .as_object()
            .filter(|object| object.len() == 1)
            .and_then(|object| object.get(FIELD))
            .and_then(serde_json::Value::as_str)
            .ok_or(SealError::Malformed)?;
        let plaintext = self.open(Purpose::Draft, draft_id, token)?;
        serde_json::from_slice(&plaintext).map_err(|_| SealError::Malformed)
    }

    fn seal(&self, purpose: Purpose, binding: &str, plaintext: &[u8]) -> Result<String, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.random.fill(&mut nonce).map_err(SealError::Random)?;
        let mut buffer = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
        buffer.extend_from_slice(&nonce);
        buffer.extend_from_slice(plaintext);
        let tag = self
            .key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad(purpose, binding)),
                &mut buffer[NONCE_LEN..],
            )
            .map_err(|_| SealError::Encode)?;
        buffer.extend_from_slice(tag.as_ref());
        let token = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(&buffer));
        if token.len() > MAX_SEALED_LEN {
            return Err(SealError::Encode);
        }
        Ok(token)
    }

    fn open(
        &self,
        purpose: Purpose,
        binding: &str,
        token: &str,
    ) -> Result<Zeroizing<Vec<u8>>, SealError> {
        if token.len() > MAX_SEALED_LEN {
            return Err(SealError::Malformed);
        }
        let encoded = token.strip_prefix(PREFIX).ok_or(SealError::Malformed)?;
        let bytes = Zeroizing::new(
            URL_SAFE_NO_PAD
                .decode(encoded)
                .map_err(|_| SealError::Malformed)?,
        );
        if bytes.len() < NONCE_LEN + TAG_LEN {
            return Err(SealError::Malformed);
        }
        let aad = aad(purpose, binding);
        // The current key first; a value sealed before a rotation opens with an older one. A
        // failed open leaves its buffer unusable, so each attempt works on its own copy.
        for key in std::iter::once(&self.key).chain(&self.older) {
            let nonce = Nonce::try_assume_unique_for_key(&bytes[..NONCE_LEN])
                .map_err(|_| SealError::Malformed)?;
            let mut attempt = Zeroizing::new(bytes.to_vec());
            if let Ok(plaintext) =
                key.open_in_place(nonce, Aad::from(aad.as_slice()), &mut attempt[NONCE_LEN..])
            {
                return Ok(Zeroizing::new(plaintext.to_vec()));
            }
        }
        Err(SealError::Open)
    }
}

/// `label || 0x00 || purpose || 0x00 || binding` (the dossier code, or the draft id).
fn aad(purpose: Purpose, binding: &str) -> Vec<u8> {
    let code = binding.as_bytes();
    let purpose = purpose.as_bytes();
    let mut aad = Vec::with_capacity(AAD_LABEL.len() + 2 + purpose.len() + code.len());
    aad.extend_from_slice(AAD_LABEL);
    aad.push(0);
    aad.extend_from_slice(purpose);
    aad.push(0);
    aad.extend_from_slice(code);
    aad
}
