//! Keyed pseudonyms for residents: the only form in which a subject or a citizen ID number
//! reaches storage, audit or statistics.
//!
//! Rules this module enforces:
//!
//! 1. A subject is stored as `base64url(HMAC-SHA256(key, "wardgate-subject\0" ‖ issuer ‖ "\0" ‖
//!    sub))`: stable for one key, different across issuers, not reversible without the key.
//! 2. A citizen ID number is normalised to its 12 digits (spaces, dots and dashes dropped) and
//!    stored only as `HMAC-SHA256(key, "wardgate-citizen-id\0" ‖ digits)`, for lookups.
//! 3. The two kinds of input are domain-separated, so a subject can never collide with a
//!    citizen ID hash.
//! 4. The key is exactly 32 bytes and `Debug` never shows it; [`Pseudonymizer::new`] does not
//!    copy the bytes, so a caller holding them in [`zeroize::Zeroizing`] has them wiped.
//!
//! # Example
//!
//! ```
//! use wardgate::pseudonym::Pseudonymizer;
//!
//! let pseudonymizer = Pseudonymizer::new(&[7u8; 32])?;
//! let a = pseudonymizer.subject("https://sso.example.vn", "8f14e45f-ceea-467f");
//! let b = pseudonymizer.subject("https://sso.example.vn", "8f14e45f-ceea-467f");
//! assert_eq!(a, b);
//! assert_eq!(a.as_str().len(), 43);
//! let id = pseudonymizer.citizen_id("089 190 000 001")?;
//! assert_eq!(id, pseudonymizer.citizen_id("089190000001")?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;
use serde::{Deserialize, Serialize};

/// Length of the pseudonymisation key, in bytes.
pub const KEY_LEN: usize = 32;

/// The 32-byte key of the subject pseudonyms, kept in [`zeroize::Zeroizing`] until dropped.
///
/// It has no `Clone`, `Display` or accessor: the bytes go only into a [`Pseudonymizer`]
/// ([`Pseudonymizer::from_key`]), never out. `Debug` prints `PseudonymKey([redacted])`.
pub struct PseudonymKey(zeroize::Zeroizing<[u8; KEY_LEN]>);

impl PseudonymKey {
    /// A key from exactly [`KEY_LEN`] bytes.
    ///
    /// # Errors
    ///
    /// [`PseudonymError::KeyLength`] when `bytes` is not 32 bytes long.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PseudonymError> {
        let mut key = zeroize::Zeroizing::new([0u8; KEY_LEN]);
        if bytes.len() != KEY_LEN {
            return Err(PseudonymError::KeyLength { found: bytes.len() });
        }
        key.copy_from_slice(bytes);
        Ok(Self(key))
    }

    /// A fresh key from `random`.
    ///
    /// # Errors
    ///
    /// [`RandomError`](crate::clock::RandomError) when the generator fails.
    pub fn generate(random: &dyn crate::clock::Random) -> Result<Self, crate::clock::RandomError> {
        let mut key = zeroize::Zeroizing::new([0u8; KEY_LEN]);
        random.fill(&mut *key)?;
        Ok(Self(key))
    }
}

impl fmt::Debug for PseudonymKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PseudonymKey([redacted])")
    }
}

/// Digits in a personal identification number (số định danh cá nhân).
const CITIZEN_ID_DIGITS: usize = 12;

/// Computes keyed pseudonyms (HMAC-SHA256 through ring).
///
/// Only ring's prepared HMAC state is kept; the key bytes passed to [`new`](Self::new) are not
/// copied. (ring does not zeroize its own key schedule; keep the process's memory private.)
#[derive(Clone)]
pub struct Pseudonymizer {
    key: hmac::Key,
}

impl Pseudonymizer {
    /// A pseudonymizer with a 32-byte secret key.
    ///
    /// Keep the key bytes in [`zeroize::Zeroizing`] so they are wiped after this call.
    ///
    /// # Errors
    ///
    /// [`PseudonymError::KeyLength`] when `key` is not 32 bytes.
    pub fn new(key: &[u8]) -> Result<Self, PseudonymError> {
        if key.len() != KEY_LEN {
            return Err(PseudonymError::KeyLength { found: key.len() });
        }
        Ok(Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, key),
        })
    }

    /// A pseudonymizer keyed with `key`.
    pub fn from_key(key: &PseudonymKey) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, &*key.0),
        }
    }

    /// The pseudonym of the provider's subject `sub` at `issuer`.
    pub fn subject(&self, issuer: &str, sub: &str) -> SubjectPseudonym {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(b"wardgate-subject\0");
        ctx.update(issuer.as_bytes());
        ctx.update(b"\0");
        ctx.update(sub.as_bytes());
        SubjectPseudonym(URL_SAFE_NO_PAD.encode(ctx.sign().as_ref()))
    }

    /// The lookup hash of a citizen ID number, after dropping spaces, dots and dashes.
    ///
    /// # Errors
    ///
    /// [`PseudonymError::CitizenId`] unless what remains is exactly 12 ASCII digits.
    pub fn citizen_id(&self, number: &str) -> Result<CitizenIdHash, PseudonymError> {
        let mut digits = zeroize::Zeroizing::new([0u8; CITIZEN_ID_DIGITS]);
        let mut n = 0;
        for c in number.chars() {
            if c.is_whitespace() || c == '.' || c == '-' {
                continue;
            }
            if !c.is_ascii_digit() {
                return Err(PseudonymError::CitizenId);
            }
            let slot = digits.get_mut(n).ok_or(PseudonymError::CitizenId)?;
            *slot = c as u8;
            n += 1;
        }
        if n != CITIZEN_ID_DIGITS {
            return Err(PseudonymError::CitizenId);
        }
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(b"wardgate-citizen-id\0");
        ctx.update(digits.as_ref());
        let mut hash = [0u8; 32];
        hash.copy_from_slice(ctx.sign().as_ref());
        Ok(CitizenIdHash(hash))
    }
}

impl Pseudonymizer {
    /// The secret printed on the receipt of dossier `code`, which lets its holder look the
    /// dossier's status up without signing in: 10 symbols of the ticket alphabet (about 49 bits)
    /// from a keyed hash, so it needs no storage and a retried submission prints the same one.
    pub fn dossier_secret(&self, code: &crate::submission::DossierCode) -> DossierSecret {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(b"wardgate-dossier-secret\0");
        ctx.update(code.as_str().as_bytes());
        let tag = ctx.sign();
        let alphabet = crate::fallback::ALPHABET.as_bytes();
        // 31 symbols; a byte modulo 31 is biased by under 1 %, which costs a fraction of a bit.
        let secret = tag
            .as_ref()
            .iter()
            .take(DOSSIER_SECRET_LEN)
            .map(|b| {
                let index = usize::from(*b) % alphabet.len();
                char::from(alphabet.get(index).copied().unwrap_or(b'0'))
            })
            .collect();
        DossierSecret(secret)
    }
}

/// Symbols in a [`DossierSecret`].
pub const DOSSIER_SECRET_LEN: usize = 10;

/// The secret printed on a receipt that opens the dossier's status page
/// ([`Pseudonymizer::dossier_secret`]). `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct DossierSecret(String);

impl DossierSecret {
    /// The secret, to print on the receipt.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `presented` is this secret, in constant time. Read as ticket codes are: case,
    /// spaces and dashes do not matter, and O, I, L and U read as 0, 1, 1 and V.
    pub fn matches(&self, presented: &str) -> bool {
        use subtle::ConstantTimeEq as _;
        let typed: String = presented
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .map(|c| match c.to_ascii_uppercase() {
                'O' => '0',
                'I' | 'L' => '1',
                'U' => 'V',
                other => other,
            })
            .collect();
        typed.as_bytes().ct_eq(self.0.as_bytes()).into()
    }
}

impl fmt::Debug for DossierSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DossierSecret([redacted])")
    }
}

impl fmt::Debug for Pseudonymizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pseudonymizer { key: [redacted] }")
    }
}

/// A resident's pseudonymous subject: base64url of a 32-byte HMAC (43 characters).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SubjectPseudonym(String);

impl SubjectPseudonym {
    /// A pseudonym as stored (for stores reading rows back, and for the session's subject).
    pub fn from_stored(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The pseudonym as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SubjectPseudonym {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The keyed hash of a citizen ID number; serialised as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CitizenIdHash([u8; 32]);

impl CitizenIdHash {
    /// The hash bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lowercase hex, for storage columns.
    pub fn to_hex(&self) -> String {
        crate::audit::hex(&self.0)
    }
}

impl fmt::Debug for CitizenIdHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CitizenIdHash({})", self.to_hex())
    }
}

impl Serialize for CitizenIdHash {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for CitizenIdHash {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        crate::audit::unhex(&text)
            .map(Self)
            .ok_or_else(|| serde::de::Error::custom("a citizen id hash is 64 hex digits"))
    }
}

/// Building a pseudonymizer or a pseudonym failed.
#[non_exhaustive]
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum PseudonymError {
    /// The key is not 32 bytes.
    #[error("the pseudonymisation key must be 32 bytes, found {found}")]
    KeyLength {
        /// The length given.
        found: usize,
    },
    /// The citizen ID number is not 12 digits (the number itself is never echoed).
    #[error("the citizen id number is not 12 digits")]
    CitizenId,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> Pseudonymizer {
        Pseudonymizer::new(&[42u8; 32]).unwrap()
    }

    #[test]
    fn subject_is_stable_keyed_and_issuer_scoped() {
        let a = p().subject("https://a.example", "sub-1");
        assert_eq!(a, p().subject("https://a.example", "sub-1"));
        assert_ne!(a, p().subject("https://b.example", "sub-1"));
        assert_ne!(a, p().subject("https://a.example", "sub-2"));
        // No ambiguity between issuer and sub boundaries.
        assert_ne!(
            p().subject("https://a.example/x", "y"),
            p().subject("https://a.example", "/x\0y")
        );
        let other_key = Pseudonymizer::new(&[43u8; 32]).unwrap();
        assert_ne!(a, other_key.subject("https://a.example", "sub-1"));
        assert_eq!(a.as_str().len(), 43);
        assert!(!a.as_str().contains("sub-1"));
    }

    #[test]
    fn subject_matches_a_plain_hmac_vector() {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &[42u8; 32]);
        let tag = hmac::sign(&key, b"wardgate-subject\0iss\0sub");
        assert_eq!(
            p().subject("iss", "sub").as_str(),
            URL_SAFE_NO_PAD.encode(tag.as_ref())
        );
    }

    #[test]
    fn citizen_id_is_normalised_and_checked() {
        let a = p().citizen_id("089190000001").unwrap();
        assert_eq!(a, p().citizen_id(" 089.190-000 001 ").unwrap());
        assert_ne!(a, p().citizen_id("089190000002").unwrap());
        assert_eq!(
            p().citizen_id("08919000000"),
            Err(PseudonymError::CitizenId)
        );
        assert_eq!(
            p().citizen_id("0891900000011"),
            Err(PseudonymError::CitizenId)
        );
        assert_eq!(
            p().citizen_id("08919000000a"),
            Err(PseudonymError::CitizenId)
        );
        // Domain separation: the subject MAC of the same digits differs.
        let key = hmac::Key::new(hmac::HMAC_SHA256, &[42u8; 32]);
        let plain = hmac::sign(&key, b"089190000001");
        assert_ne!(a.as_bytes().as_slice(), plain.as_ref());
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json.len(), 66);
        assert_eq!(serde_json::from_str::<CitizenIdHash>(&json).unwrap(), a);
    }

    #[test]
    fn bad_key_length_and_debug_redaction() {
        assert_eq!(
            Pseudonymizer::new(&[1u8; 16]).unwrap_err(),
            PseudonymError::KeyLength { found: 16 }
        );
        assert_eq!(format!("{:?}", p()), "Pseudonymizer { key: [redacted] }");
        let error = p().citizen_id("12345").unwrap_err().to_string();
        assert!(!error.contains("12345"));
    }
}
