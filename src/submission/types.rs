//! Identifiers and digests of submissions: dossier codes, idempotency keys, payload digests.

use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::clock::Random;
use crate::fallback::{ALPHABET, WardCode};

/// Random symbols at the end of a dossier code.
const RANDOM_SYMBOLS: usize = 6;
/// `WWWWW-YYYYMMDD-XXXXXX`.
const CODE_LEN: usize = 5 + 1 + 8 + 1 + RANDOM_SYMBOLS;

/// A human-friendly dossier code such as `30316-20260302-7K4M9Q`: the ward's 5-digit code, the
/// Vietnam-local date of receipt and six random symbols from the ticket alphabet (digits and
/// capitals without I, L, O, U, W), so it can be read out over the phone.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DossierCode([u8; CODE_LEN]);

impl DossierCode {
    /// A fresh code for `ward`, received on local `day`.
    ///
    /// # Errors
    ///
    /// [`CodeError::Random`] when the generator fails.
    pub fn generate(
        ward: WardCode,
        day: NaiveDate,
        random: &dyn Random,
    ) -> Result<Self, CodeError> {
        let alphabet = ALPHABET.as_bytes();
        let mut text = format!("{ward}-{}-", day.format("%Y%m%d"));
        let mut filled = 0;
        // Rejection sampling: bytes below 8 × 31 = 248 map uniformly onto the 31 symbols.
        for _ in 0..16 {
            let mut bytes = [0u8; 16];
            random.fill(&mut bytes).map_err(|_| CodeError::Random)?;
            for b in bytes {
                if filled == RANDOM_SYMBOLS {
                    break;
                }
                if usize::from(b) < 8 * alphabet.len() {
                    let symbol = alphabet.get(usize::from(b) % alphabet.len()).copied();
                    text.push(char::from(symbol.unwrap_or(b'0')));
                    filled += 1;
                }
            }
            if filled == RANDOM_SYMBOLS {
                return Self::parse(&text).map_err(|_| CodeError::Random);
            }
        }
        Err(CodeError::Random)
    }

    /// Parses a code as printed or typed (any case; `O` read as `0`, `I`/`L` as `1`, `U` as
    /// `V`; surrounding spaces ignored).
    ///
    /// # Errors
    ///
    /// [`CodeError::Malformed`] when it is not `WWWWW-YYYYMMDD-XXXXXX` with a real date.
    pub fn parse(text: &str) -> Result<Self, CodeError> {
        let text = text.trim();
        let bytes = text.as_bytes();
        if bytes.len() != CODE_LEN {
            return Err(CodeError::Malformed);
        }
        let mut out = [0u8; CODE_LEN];
        for (i, (slot, b)) in out.iter_mut().zip(bytes).enumerate() {
            *slot = match i {
                0..=4 | 6..=13 if b.is_ascii_digit() => *b,
                5 | 14 if *b == b'-' => *b,
                15.. => {
                    let c = match b.to_ascii_uppercase() {
                        b'O' => b'0',
                        b'I' | b'L' => b'1',
                        b'U' => b'V',
                        other => other,
                    };
                    if !ALPHABET.as_bytes().contains(&c) {
                        return Err(CodeError::Malformed);
                    }
                    c
                }
                _ => return Err(CodeError::Malformed),
            };
        }
        let date = std::str::from_utf8(&out[6..14]).map_err(|_| CodeError::Malformed)?;
        NaiveDate::parse_from_str(date, "%Y%m%d").map_err(|_| CodeError::Malformed)?;
        Ok(Self(out))
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        // INVARIANT: `parse` only stores ASCII.
        std::str::from_utf8(&self.0).unwrap_or("")
    }

    /// The ward the dossier was filed with.
    pub fn ward(&self) -> Option<WardCode> {
        self.as_str().get(..5).and_then(|w| WardCode::parse(w).ok())
    }
}

impl fmt::Display for DossierCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for DossierCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DossierCode({})", self.as_str())
    }
}

impl Serialize for DossierCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for DossierCode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Making or parsing a dossier code failed.
#[non_exhaustive]
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    /// Not `WWWWW-YYYYMMDD-XXXXXX`.
    #[error("the dossier code is not of the form 30316-20260302-7K4M9Q")]
    Malformed,
    /// The random generator failed.
    #[error("the random generator failed while making a dossier code")]
    Random,
}

/// Longest accepted idempotency key, in bytes.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// The client's `Idempotency-Key`: 1 to 255 visible ASCII characters. Scoped to the subject: two
/// residents using the same key never see each other's receipts.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Parses a header value (a quoted string as in the IETF draft is unquoted).
    ///
    /// # Errors
    ///
    /// [`IdempotencyKeyError`] when empty, longer than 255 bytes or with characters outside
    /// visible ASCII.
    pub fn parse(value: &str) -> Result<Self, IdempotencyKeyError> {
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        if value.is_empty() || value.len() > MAX_IDEMPOTENCY_KEY_LEN {
            return Err(IdempotencyKeyError);
        }
        if !value.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(IdempotencyKeyError);
        }
        Ok(Self(value.to_owned()))
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for IdempotencyKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// The idempotency key is not 1 to 255 visible ASCII characters.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("the idempotency key must be 1 to 255 visible ascii characters")]
pub struct IdempotencyKeyError;

/// SHA-256 of the canonical JSON of a dossier ([`canonical_json`]); serialised as 64 lowercase
/// hex digits, so `sha256sum` over the canonical bytes gives the same text.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PayloadDigest([u8; 32]);

impl PayloadDigest {
    /// The digest of `dossier`.
    pub fn of(dossier: &serde_json::Value) -> Self {
        let digest = ring::digest::digest(&ring::digest::SHA256, &canonical_json(dossier));
        let mut out = [0u8; 32];
        out.copy_from_slice(digest.as_ref());
        Self(out)
    }

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        crate::audit::hex(&self.0)
    }

    /// Parses 64 hex digits.
    pub fn from_hex(text: &str) -> Option<Self> {
        crate::audit::unhex(text).map(Self)
    }

    /// Constant-time equality.
    pub fn ct_eq(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq as _;
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for PayloadDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PayloadDigest({})", self.to_hex())
    }
}

impl fmt::Display for PayloadDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Serialize for PayloadDigest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for PayloadDigest {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::from_hex(&text)
            .ok_or_else(|| serde::de::Error::custom("a payload digest is 64 hex digits"))
    }
}

/// The canonical JSON encoding used for payload digests.
///
/// serde_json's compact output (no whitespace, its string escaping and number formatting) with
/// the members of every object sorted by key, comparing keys as UTF-8 bytes. For the dossiers
/// wardgate accepts (strings, integers, booleans, nested objects and arrays) this equals RFC 8785
/// (JCS) except for non-ASCII-sorted keys and exotic floats; a back office recomputes it with any
/// JSON library that sorts keys and writes compact output.
pub fn canonical_json(value: &serde_json::Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &serde_json::Value, out: &mut Vec<u8>) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                // Serialising a string into a Vec cannot fail.
                let _ = serde_json::to_writer(&mut *out, key);
                out.push(b':');
                write_canonical(value, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        scalar => {
            let _ = serde_json::to_writer(&mut *out, scalar);
        }
    }
}
