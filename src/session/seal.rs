//! Sealing: AES-256-GCM with a key ring, associated data binding version, key id, purpose and
//! cookie name.
//!
//! Wire format of a sealed value (base64url without padding):
//!
//! ```text
//! version (1 byte) || key id (1 byte) || nonce (12 random bytes) || ciphertext || tag (16)
//! ```
//!
//! The version names the payload's encoding: `0x01` JSON (every value sealed by
//! [`KeyRing::seal`], and session cookies sealed before version 2), `0x02` the session's compact
//! binary layout (`session::encoding`). Any other version is refused before decryption.
//!
//! Associated data: `version || key id || purpose || 0x00 || cookie name`. A purpose never holds
//! a NUL byte and a cookie name is an RFC 6265 token, so the encoding is unambiguous.
//!
//! Plaintext: the absolute expiry as big-endian signed Unix seconds (8 bytes), then the payload
//! in the version's encoding.

use std::fmt;
use std::io::{self, Write};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use serde::Serialize;
use serde::de::DeserializeOwned;
use zeroize::{Zeroize, Zeroizing};

use crate::clock::{Random, RandomError};

/// The longest sealed value, in characters, that [`KeyRing::open`] decodes and
/// [`KeyRing::seal`] produces.
///
/// Chosen so that a `Set-Cookie` header carrying the longest value, its name and its attributes
/// stays under the 4096 bytes browsers keep per cookie.
pub const MAX_SEALED_LEN: usize = 3800;

/// Length of a sealing key in bytes (AES-256).
pub const KEY_LEN: usize = 32;

const TAG_LEN: usize = 16;
const EXPIRY_LEN: usize = 8;
/// Version, key id and nonce.
const HEADER_LEN: usize = 1 + 1 + NONCE_LEN;
const KEY_RING_MAGIC: &[u8; 4] = b"WGKR";
const KEY_RING_FORMAT: u8 = 1;

/// A 32-byte AES-256-GCM key for sealing cookies.
///
/// Zeroized on drop; its `Debug` output is `SealingKey([redacted])`. It has no `Display`,
/// `Clone` or `PartialEq`.
pub struct SealingKey([u8; KEY_LEN]);

impl SealingKey {
    /// A key from exactly [`KEY_LEN`] bytes.
    ///
    /// # Errors
    ///
    /// [`KeyError::WrongLength`] when `bytes` is not 32 bytes long.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        let key: [u8; KEY_LEN] = bytes.try_into().map_err(|_| KeyError::WrongLength {
            expected: KEY_LEN,
            found: bytes.len(),
        })?;
        Ok(Self(key))
    }

    /// A fresh key from `random`.
    ///
    /// # Errors
    ///
    /// [`KeyError::Random`] when the generator fails.
    pub fn generate(random: &dyn Random) -> Result<Self, KeyError> {
        let mut key = Self([0; KEY_LEN]);
        random.fill(&mut key.0).map_err(KeyError::Random)?;
        Ok(key)
    }

    fn aead_key(&self) -> Result<LessSafeKey, KeyError> {
        UnboundKey::new(&AES_256_GCM, &self.0)
            .map(LessSafeKey::new)
            .map_err(|_| KeyError::WrongLength {
                expected: KEY_LEN,
                found: self.0.len(),
            })
    }
}

impl Drop for SealingKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealingKey([redacted])")
    }
}

/// Building a [`SealingKey`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key material has the wrong length.
    #[error("sealing key must be {expected} bytes: found {found}")]
    WrongLength {
        /// The length required.
        expected: usize,
        /// The length given.
        found: usize,
    },
    /// The random generator failed while generating a key.
    #[error("cannot generate a sealing key")]
    Random(#[source] RandomError),
}

/// The id of a key in a [`KeyRing`], written into every sealed value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId(u8);

impl KeyId {
    /// The key id `id`.
    pub const fn new(id: u8) -> Self {
        Self(id)
    }

    /// The id as a number.
    pub const fn get(self) -> u8 {
        self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// An ordered set of sealing keys: the newest seals, every key still in the ring opens.
///
/// Rotation: [`add`](Self::add) (or [`rotate`](Self::rotate)) a new key; values sealed under the
/// older keys still open. Once every such value has expired (the session's absolute timeout),
/// [`retire`](Self::retire) the old key: its values are refused from then on.
///
/// Each key's AES-GCM state is built once, when the key joins the ring, so opening a value costs
/// one base64 decode, one AES-GCM open and one JSON parse.
///
/// # Persistence format
///
/// [`write_to`](Self::write_to) and [`from_bytes`](Self::from_bytes) use a small binary format,
/// meant for a file readable only by the gateway in its data directory:
///
/// ```text
/// "WGKR" (4 bytes) || format 0x01 || key count n (1 byte, 1..=255)
///   || n × ( key id (1 byte) || key (32 bytes) )      oldest key first, newest last
/// ```
///
/// Retired key ids are not persisted: after a reload, a value sealed under a retired key is
/// refused as sealed under an unknown key.
pub struct KeyRing {
    // INVARIANT: ids unique across `older` and `newest`.
    /// Keys that still open, oldest first.
    older: Vec<KeyEntry>,
    /// The key that seals.
    newest: KeyEntry,
    retired: Vec<KeyId>,
}

struct KeyEntry {
    id: KeyId,
    // Kept for `write_to`; `aead` holds the expanded key.
    secret: SealingKey,
    aead: LessSafeKey,
}

impl KeyRing {
    /// A ring holding one key, which seals.
    ///
    /// # Errors
    ///
    /// [`KeyRingError::Key`] if ring refuses the key material (it does not for 32 bytes).
    pub fn new(id: KeyId, key: SealingKey) -> Result<Self, KeyRingError> {
        let aead = key.aead_key()?;
        Ok(Self {
            older: Vec::new(),
            newest: KeyEntry {
                id,
                secret: key,
                aead,
            },
            retired: Vec::new(),
        })
    }

    /// A ring holding one freshly generated key with id 1.
    ///
    /// # Errors
    ///
    /// [`KeyRingError::Key`] when the random generator fails.
    pub fn generate(random: &dyn Random) -> Result<Self, KeyRingError> {
        Self::new(KeyId::new(1), SealingKey::generate(random)?)
    }

    /// Adds `key` as the newest key: it seals from now on.
    ///
    /// # Errors
    ///
    /// [`KeyRingError::DuplicateKeyId`] when a key with `id` is already in the ring.
    pub fn add(&mut self, id: KeyId, key: SealingKey) -> Result<(), KeyRingError> {
        if self.entries().any(|entry| entry.id == id) {
            return Err(KeyRingError::DuplicateKeyId { key_id: id });
        }
        let aead = key.aead_key()?;
        let previous = std::mem::replace(
            &mut self.newest,
            KeyEntry {
                id,
                secret: key,
                aead,
            },
        );
        self.older.push(previous);
        self.retired.retain(|retired| *retired != id);
        Ok(())
    }

    /// Generates a key, adds it as the newest and returns its id.
    ///
    /// The id follows the newest one, skipping ids in the ring and, where possible, ids retired
    /// since the ring was loaded.
    ///
    /// # Errors
    ///
    /// [`KeyRingError::Full`] when all 256 ids are in use; [`KeyRingError::Key`] when the random
    /// generator fails.
    pub fn rotate(&mut self, random: &dyn Random) -> Result<KeyId, KeyRingError> {
        let in_ring = |id: u8| self.entries().any(|entry| entry.id.0 == id);
        let start = self.newest.id.0;
        let candidates = (1..=255u8).map(|step| KeyId(start.wrapping_add(step)));
        let id = candidates
            .clone()
            .find(|id| !in_ring(id.0) && !self.retired.contains(id))
            .or_else(|| candidates.clone().find(|id| !in_ring(id.0)))
            .ok_or(KeyRingError::Full)?;
        self.add(id, SealingKey::generate(random)?)?;
        Ok(id)
    }

    /// Removes the key `id`: values sealed under it are refused from now on.
    ///
    /// # Errors
    ///
    /// [`KeyRingError::UnknownKeyId`] when no key has that id; [`KeyRingError::RetireNewest`]
    /// when `id` is the key that seals (add a newer key first).
    pub fn retire(&mut self, id: KeyId) -> Result<(), KeyRingError> {
        if self.newest.id == id {
            return Err(KeyRingError::RetireNewest { key_id: id });
        }
        let position = self
            .older
            .iter()
            .position(|entry| entry.id == id)
            .ok_or(KeyRingError::UnknownKeyId { key_id: id })?;
        self.older.remove(position);
        self.retired.push(id);
        Ok(())
    }

    /// The id of the key that seals.
    pub fn newest_id(&self) -> KeyId {
        self.newest.id
    }

    /// The ids of the keys in the ring, oldest first.
    pub fn key_ids(&self) -> Vec<KeyId> {
        self.entries().map(|entry| entry.id).collect()
    }

    /// Writes the ring in the [persistence format](Self#persistence-format).
    ///
    /// # Errors
    ///
    /// Any error of `out`.
    ///
    /// # Security
    ///
    /// The output holds every key of the ring. Write it only to a file readable by the gateway
    /// alone; the intermediate buffer is zeroized.
    pub fn write_to(&self, out: &mut impl Write) -> io::Result<()> {
        let count = self.older.len() + 1;
        let mut bytes = Zeroizing::new(Vec::with_capacity(6 + count * (1 + KEY_LEN)));
        bytes.extend_from_slice(KEY_RING_MAGIC);
        bytes.push(KEY_RING_FORMAT);
        // Ids are unique bytes, so a ring holds at most 256 keys; the count byte holds 255.
        let count = u8::try_from(count)
            .map_err(|_| io::Error::other("a key ring of 256 keys cannot be written"))?;
        bytes.push(count);
        for entry in self.entries() {
            bytes.push(entry.id.0);
            bytes.extend_from_slice(&entry.secret.0);
        }
        out.write_all(&bytes)
    }

    /// Reads a ring written by [`write_to`](Self::write_to).
    ///
    /// # Errors
    ///
    /// [`KeyRingError::UnknownFormat`] when the magic bytes or the format version differ,
    /// [`KeyRingError::WrongLength`] when the length does not match the key count,
    /// [`KeyRingError::Empty`] for a count of zero, [`KeyRingError::DuplicateKeyId`] when an id
    /// appears twice.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyRingError> {
        let rest = bytes
            .strip_prefix(KEY_RING_MAGIC.as_slice())
            .and_then(|rest| rest.strip_prefix(&[KEY_RING_FORMAT]))
            .ok_or(KeyRingError::UnknownFormat)?;
        let (&count, keys) = rest.split_first().ok_or(KeyRingError::WrongLength {
            expected: 6,
            found: bytes.len(),
        })?;
        if count == 0 {
            return Err(KeyRingError::Empty);
        }
        let expected = 6 + usize::from(count) * (1 + KEY_LEN);
        if bytes.len() != expected {
            return Err(KeyRingError::WrongLength {
                expected,
                found: bytes.len(),
            });
        }
        let mut ring: Option<Self> = None;
        for chunk in keys.chunks_exact(1 + KEY_LEN) {
            let (&id, key) = chunk.split_first().ok_or(KeyRingError::WrongLength {
                expected,
                found: bytes.len(),
            })?;
            let key = SealingKey::from_bytes(key)?;
            match ring.as_mut() {
                None => ring = Some(Self::new(KeyId(id), key)?),
                Some(ring) => ring.add(KeyId(id), key)?,
            }
        }
        ring.ok_or(KeyRingError::Empty)
    }

    /// Seals `value` under the newest key for `purpose` and `cookie_name`, valid until
    /// `expires_at`.
    ///
    /// # Errors
    ///
    /// [`SealError::InvalidPurpose`] for an empty purpose or one holding a NUL byte,
    /// [`SealError::InvalidCookieName`] for a name that is not an RFC 6265 token,
    /// [`SealError::Serialize`] when `value` does not serialise, [`SealError::Random`] when the
    /// generator fails, [`SealError::TooLarge`] when the sealed value would exceed
    /// [`MAX_SEALED_LEN`].
    pub fn seal<T: Serialize + ?Sized>(
        &self,
        random: &dyn Random,
        purpose: &str,
        cookie_name: &str,
        expires_at: DateTime<Utc>,
        value: &T,
    ) -> Result<String, SealError> {
        self.seal_encoded(
            random,
            purpose,
            cookie_name,
            expires_at,
            Encoding::Json,
            |buffer| {
                serde_json::to_writer(buffer, value)
                    .map_err(|error| SealError::Serialize(Box::new(error)))
            },
        )
    }

    /// Seals the payload `write_payload` appends, in `encoding`, under the newest key.
    ///
    /// The purpose and cookie name must have been checked by the caller.
    pub(crate) fn seal_encoded(
        &self,
        random: &dyn Random,
        purpose: &str,
        cookie_name: &str,
        expires_at: DateTime<Utc>,
        encoding: Encoding,
        write_payload: impl FnOnce(&mut Vec<u8>) -> Result<(), SealError>,
    ) -> Result<String, SealError> {
        if purpose.is_empty() || purpose.contains('\0') {
            return Err(SealError::InvalidPurpose);
        }
        if !is_cookie_token(cookie_name) {
            return Err(SealError::InvalidCookieName);
        }
        let version = encoding.version();
        let entry = &self.newest;
        let mut nonce = [0u8; NONCE_LEN];
        random.fill(&mut nonce).map_err(SealError::Random)?;

        let mut buffer = Zeroizing::new(Vec::with_capacity(256));
        buffer.push(version);
        buffer.push(entry.id.0);
        buffer.extend_from_slice(&nonce);
        buffer.extend_from_slice(&expires_at.timestamp().to_be_bytes());
        write_payload(&mut buffer)?;

        let aad = associated_data(version, entry.id, purpose, cookie_name);
        let plaintext = buffer.get_mut(HEADER_LEN..).ok_or(SealError::Crypto)?;
        let tag = entry
            .aead
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad.as_slice()),
                plaintext,
            )
            .map_err(|_| SealError::Crypto)?;
        buffer.extend_from_slice(tag.as_ref());

        let size = base64::encoded_len(buffer.len(), false).unwrap_or(usize::MAX);
        if size > MAX_SEALED_LEN {
            return Err(SealError::TooLarge {
                size,
                limit: MAX_SEALED_LEN,
            });
        }
        Ok(URL_SAFE_NO_PAD.encode(buffer.as_slice()))
    }

    /// Opens a value sealed for `purpose` and `cookie_name`, refusing it if it expired at `now`.
    ///
    /// # Errors
    ///
    /// [`UnsealError`], one opaque error for every cause: too long, not base64url, truncated,
    /// unknown version or key, tampered, moved from another cookie or purpose, expired,
    /// undecodable payload.
    pub fn open<T: DeserializeOwned>(
        &self,
        purpose: &str,
        cookie_name: &str,
        now: DateTime<Utc>,
        value: &str,
    ) -> Result<T, UnsealError> {
        self.open_with_expiry(purpose, cookie_name, now, value)
            .map(|(value, _)| value)
    }

    /// [`open`](Self::open), also returning the expiry sealed in the value.
    pub(crate) fn open_with_expiry<T: DeserializeOwned>(
        &self,
        purpose: &str,
        cookie_name: &str,
        now: DateTime<Utc>,
        value: &str,
    ) -> Result<(T, i64), UnsealError> {
        let opened = self.open_encoded(purpose, cookie_name, now, value)?;
        // An authentic value in another encoding is not a `T`.
        if opened.encoding() != Encoding::Json {
            return Err(UnsealError(UnsealCause::MalformedPayload));
        }
        let value = serde_json::from_slice(opened.payload())
            .map_err(|_| UnsealError(UnsealCause::MalformedPayload))?;
        Ok((value, opened.expires_at()))
    }

    /// Decodes, authenticates and decrypts `value`, checks its expiry, and returns the payload
    /// with the encoding its version byte names; the caller decodes the payload.
    pub(crate) fn open_encoded(
        &self,
        purpose: &str,
        cookie_name: &str,
        now: DateTime<Utc>,
        value: &str,
    ) -> Result<OpenedPayload, UnsealError> {
        if value.len() > MAX_SEALED_LEN {
            return Err(UnsealError(UnsealCause::TooLong));
        }
        // base64's own estimate: `decode_vec` grows the buffer to it, so reserving less would
        // reallocate on every request.
        let mut bytes = Zeroizing::new(Vec::with_capacity(base64::decoded_len_estimate(
            value.len(),
        )));
        URL_SAFE_NO_PAD
            .decode_vec(value, &mut bytes)
            .map_err(|_| UnsealError(UnsealCause::NotBase64))?;
        if bytes.len() < HEADER_LEN + EXPIRY_LEN + TAG_LEN {
            return Err(UnsealError(UnsealCause::TooShort));
        }
        let (header, ciphertext) = bytes
            .split_at_mut_checked(HEADER_LEN)
            .ok_or(UnsealError(UnsealCause::TooShort))?;
        let (&version, rest) = header
            .split_first()
            .ok_or(UnsealError(UnsealCause::TooShort))?;
        let encoding =
            Encoding::from_version(version).ok_or(UnsealError(UnsealCause::UnknownVersion))?;
        let (&key_id, nonce) = rest
            .split_first()
            .ok_or(UnsealError(UnsealCause::TooShort))?;
        let key_id = KeyId(key_id);
        let Some(entry) = self.entries().rev().find(|entry| entry.id == key_id) else {
            let cause = if self.retired.contains(&key_id) {
                UnsealCause::RetiredKey
            } else {
                UnsealCause::UnknownKey
            };
            return Err(UnsealError(cause));
        };
        let nonce = Nonce::try_assume_unique_for_key(nonce)
            .map_err(|_| UnsealError(UnsealCause::TooShort))?;
        // The version is authenticated: a value cannot be relabelled as another encoding.
        let aad = associated_data(version, key_id, purpose, cookie_name);
        let plaintext = entry
            .aead
            .open_in_place(nonce, Aad::from(aad.as_slice()), ciphertext)
            .map_err(|_| UnsealError(UnsealCause::Forged))?;

        let (expiry, _) = plaintext
            .split_first_chunk::<EXPIRY_LEN>()
            .ok_or(UnsealError(UnsealCause::MalformedPayload))?;
        let expires_at = i64::from_be_bytes(*expiry);
        if now.timestamp() >= expires_at {
            return Err(UnsealError(UnsealCause::Expired));
        }
        let payload_end = bytes.len() - TAG_LEN;
        Ok(OpenedPayload {
            bytes,
            payload: HEADER_LEN + EXPIRY_LEN..payload_end,
            encoding,
            expires_at,
        })
    }

    /// Every key, oldest first.
    fn entries(&self) -> impl DoubleEndedIterator<Item = &KeyEntry> {
        self.older.iter().chain(std::iter::once(&self.newest))
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("key_ids", &self.key_ids())
            .field("newest", &self.newest_id())
            .finish_non_exhaustive()
    }
}

/// Building, changing or loading a [`KeyRing`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyRingError {
    /// A key could not be built.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A key with this id is already in the ring.
    #[error("key id {key_id} is already in the key ring")]
    DuplicateKeyId {
        /// The id given twice.
        key_id: KeyId,
    },
    /// No key with this id is in the ring.
    #[error("key id {key_id} is not in the key ring")]
    UnknownKeyId {
        /// The id asked for.
        key_id: KeyId,
    },
    /// The key that seals cannot be retired.
    #[error("key id {key_id} seals new values and cannot be retired: add a newer key first")]
    RetireNewest {
        /// The newest key's id.
        key_id: KeyId,
    },
    /// Every one of the 256 key ids is in use.
    #[error("the key ring has no free key id")]
    Full,
    /// The bytes are not a key ring in a known format.
    #[error("not a key ring: unknown magic bytes or format version")]
    UnknownFormat,
    /// The bytes are not as long as the key count says.
    #[error("key ring must be {expected} bytes: found {found}")]
    WrongLength {
        /// The length the header implies.
        expected: usize,
        /// The length given.
        found: usize,
    },
    /// A stored key ring holds no key.
    #[error("key ring holds no key")]
    Empty,
}

/// Sealing a value failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// The purpose is empty or holds a NUL byte.
    #[error("cannot seal: purpose must be non-empty and hold no NUL byte")]
    InvalidPurpose,
    /// The cookie name is not an RFC 6265 token.
    #[error("cannot seal: cookie name is not a valid cookie token")]
    InvalidCookieName,
    /// The value does not serialise to JSON.
    #[error("cannot seal: the value does not serialise")]
    Serialize(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The random generator failed while drawing a nonce.
    #[error("cannot seal: no nonce")]
    Random(#[source] RandomError),
    /// The sealed value would be too long for a cookie.
    #[error("cannot seal: sealed value is {size} characters, over the limit of {limit}")]
    TooLarge {
        /// The sealed length.
        size: usize,
        /// [`MAX_SEALED_LEN`].
        limit: usize,
    },
    /// ring refused to seal (it only does for inputs larger than AES-GCM allows).
    #[error("cannot seal: encryption failed")]
    Crypto,
}

/// A sealed value was refused.
///
/// One opaque error for every cause, so that a response never tells a client *why* its value
/// was refused: its `Display` is always "the sealed value was refused" and its `Debug` is
/// `UnsealError`. The cause is for audit only: [`cause_for_audit`](Self::cause_for_audit).
#[derive(Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the sealed value was refused")]
pub struct UnsealError(pub(crate) UnsealCause);

impl UnsealError {
    /// Why the value was refused.
    ///
    /// # Security
    ///
    /// For audit records and internal metrics only, never for a response: telling a client
    /// which check failed helps it forge values.
    pub fn cause_for_audit(&self) -> UnsealCause {
        self.0
    }
}

impl fmt::Debug for UnsealError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UnsealError")
    }
}

/// Why a sealed value was refused; for audit, never for the response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UnsealCause {
    /// The value was longer than [`MAX_SEALED_LEN`]; not decoded.
    TooLong,
    /// The value is not canonical base64url without padding.
    NotBase64,
    /// The value is shorter than a header, an expiry and a tag.
    TooShort,
    /// The version byte is not one this build knows.
    UnknownVersion,
    /// The key id names no key of the ring.
    UnknownKey,
    /// The key id names a key retired since the ring was loaded.
    RetiredKey,
    /// Authentication failed: the value was tampered with or truncated, or sealed for another
    /// cookie name or purpose, or under another key with the same id. AES-GCM cannot tell these
    /// apart.
    Forged,
    /// The expiry sealed in the value has passed.
    Expired,
    /// The authentic plaintext does not decode as the expected type.
    MalformedPayload,
    /// A single-use value was presented again.
    Replayed,
    /// The session was idle for longer than the idle timeout.
    IdleTimeout,
    /// The session is older than the absolute timeout.
    AbsoluteTimeout,
}

impl UnsealCause {
    /// A stable snake_case name, for audit records and metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::TooLong => "too_long",
            Self::NotBase64 => "not_base64",
            Self::TooShort => "too_short",
            Self::UnknownVersion => "unknown_version",
            Self::UnknownKey => "unknown_key",
            Self::RetiredKey => "retired_key",
            Self::Forged => "forged",
            Self::Expired => "expired",
            Self::MalformedPayload => "malformed_payload",
            Self::Replayed => "replayed",
            Self::IdleTimeout => "idle_timeout",
            Self::AbsoluteTimeout => "absolute_timeout",
        }
    }
}

/// How the payload of a sealed value is encoded; written as the value's version byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// Version 1: JSON, for any serde type ([`KeyRing::seal`]); the session's format before
    /// version 2, still opened.
    Json,
    /// Version 2: the session's compact binary layout (`session::encoding`).
    SessionBinary,
}

impl Encoding {
    const fn version(self) -> u8 {
        match self {
            Self::Json => 1,
            Self::SessionBinary => 2,
        }
    }

    const fn from_version(version: u8) -> Option<Self> {
        match version {
            1 => Some(Self::Json),
            2 => Some(Self::SessionBinary),
            _ => None,
        }
    }
}

/// The authentic plaintext of an opened value; zeroized on drop.
pub(crate) struct OpenedPayload {
    bytes: Zeroizing<Vec<u8>>,
    payload: std::ops::Range<usize>,
    encoding: Encoding,
    expires_at: i64,
}

impl OpenedPayload {
    pub(crate) fn encoding(&self) -> Encoding {
        self.encoding
    }

    pub(crate) fn payload(&self) -> &[u8] {
        self.bytes.get(self.payload.clone()).unwrap_or_default()
    }

    /// The absolute expiry sealed in the value, in Unix seconds.
    pub(crate) fn expires_at(&self) -> i64 {
        self.expires_at
    }
}

/// Associated data up to this length is built on the stack (every purpose and cookie name of
/// wardgate fits); longer ones on the heap.
const INLINE_AAD_LEN: usize = 96;

/// `version || key id || purpose || 0x00 || cookie name`.
struct AssociatedData {
    inline: [u8; INLINE_AAD_LEN],
    len: usize,
    heap: Vec<u8>,
}

impl AssociatedData {
    fn as_slice(&self) -> &[u8] {
        if self.heap.is_empty() {
            self.inline.get(..self.len).unwrap_or_default()
        } else {
            &self.heap
        }
    }
}

fn associated_data(version: u8, key_id: KeyId, purpose: &str, cookie_name: &str) -> AssociatedData {
    let parts: [&[u8]; 4] = [
        &[version, key_id.0],
        purpose.as_bytes(),
        &[0],
        cookie_name.as_bytes(),
    ];
    let len = parts.iter().map(|part| part.len()).sum();
    let mut aad = AssociatedData {
        inline: [0; INLINE_AAD_LEN],
        len,
        heap: Vec::new(),
    };
    if len <= INLINE_AAD_LEN {
        let mut at = 0;
        for part in parts {
            if let Some(slot) = aad.inline.get_mut(at..at + part.len()) {
                slot.copy_from_slice(part);
            }
            at += part.len();
        }
    } else {
        aad.heap = parts.concat();
    }
    aad
}

/// Whether `name` is an RFC 6265 §4.1.1 cookie-name (an RFC 2616 token).
pub(crate) fn is_cookie_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte))
}
