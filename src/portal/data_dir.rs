//! The gateway's keys in its data directory: generated on first start, kept afterwards,
//! rotated and retired by the operator (`ward_gateway keys …`).
//!
//! # Files
//!
//! | File | Holds | Format |
//! |---|---|---|
//! | `session.keyring` | cookie-sealing keys, oldest first | [`KeyRing`]'s own |
//! | `signing.keys` | Ed25519 keys signing receipts and tickets (PKCS#8), oldest first | key set, below |
//! | `dossier.keys` | AES-256-GCM keys sealing dossiers, drafts and envelopes, oldest first | key set, below |
//! | `pseudonym.key` | the keyed hash's key (32 bytes) | raw |
//! | `keys.json` | no secret: each key's id, kind, when it was added and when it stopped being current | JSON |
//!
//! A key set file is `"WGKS" || 0x01 || count (1 byte) || count × (length (2 bytes, big
//! endian) || key)`; its last key is the current one. Every key file is written readable by
//! the owner only (0600), to a temporary file first and then renamed, so a crash never leaves
//! half a key file.
//!
//! A data directory from before key rotation holds `signing.pk8` and `dossier.key` (one key
//! each): the first start migrates them into `signing.keys` and `dossier.keys` (one key each)
//! and then removes them.
//!
//! # Rotation and retirement
//!
//! [`rotate_key`] adds a new current key of a kind; the older ones stay, so what they sealed or
//! signed still opens or verifies. Instances read the files at start: rotate, then restart
//! every instance. [`retire_key`] removes an older key once nothing still needs it
//! ([`KeyPolicy`]); it refuses, with the reason, while something may. The pseudonym key is
//! never rotated: a new one would give every resident a new pseudonym, and their drafts,
//! tickets and bookings would no longer be theirs.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use chrono::{DateTime, SubsecRound as _, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::clock::Random;
use crate::keys::{SigningKey, VerifyingKey};
use crate::pseudonym::PseudonymKey;
use crate::session::{KeyId, KeyRing};
use crate::submission::{DOSSIER_KEY_LEN, DossierKey};

/// File holding the cookie-sealing key ring.
pub const SESSION_KEYS_FILE: &str = "session.keyring";
/// File holding the Ed25519 keys that sign receipts and tickets (a key set of PKCS#8 documents).
pub const SIGNING_KEYS_FILE: &str = "signing.keys";
/// File holding the keys that seal dossiers at rest (a key set of 32-byte keys).
pub const DOSSIER_KEYS_FILE: &str = "dossier.keys";
/// File holding the key of the keyed hash that pseudonymises subjects.
pub const PSEUDONYM_KEY_FILE: &str = "pseudonym.key";
/// File describing the keys (ids, kinds, dates; no key material).
pub const KEYS_MANIFEST_FILE: &str = "keys.json";
/// The single signing key of a data directory from before rotation (PKCS#8); migrated.
pub const LEGACY_SIGNING_KEY_FILE: &str = "signing.pk8";
/// The single dossier key of a data directory from before rotation (32 bytes); migrated.
pub const LEGACY_DOSSIER_KEY_FILE: &str = "dossier.key";

/// How long a receipt stays verifiable after its signing key stopped signing: ten years.
///
/// A receipt is the resident's proof of filing and has no expiry of its own; residents keep it
/// as long as the dossier may matter (a complaint, an appeal, an audit). Ten years covers the
/// retention of administrative dossiers the design assumes; a signing key stays in the JWKS,
/// and cannot be retired, until then.
pub const RECEIPT_VERIFIABLE_FOR_DAYS: i64 = 3650;

const KEY_SET_MAGIC: &[u8; 4] = b"WGKS";
const KEY_SET_FORMAT: u8 = 1;
const MANIFEST_FORMAT: u32 = 1;
const SESSION_ID_PREFIX: &str = "session-";
const DOSSIER_ID_PREFIX: &str = "dossier-";

/// The gateway's long-lived keys, each its own type: none can be passed where another is
/// expected, and the raw bytes are read into [`Zeroizing`] buffers and never copied out.
/// [`GatewayBuilder::keys`](super::GatewayBuilder::keys) takes them all.
pub struct GatewayKeys {
    /// Seals session and login-flow cookies; its older keys still open.
    pub key_ring: KeyRing,
    /// Signs receipts and tickets (the current signing key).
    pub signing_key: SigningKey,
    /// Every signing key in the set, the current one first: the JWKS publishes them all, so
    /// receipts and tickets signed before a rotation still verify.
    pub verifying_keys: Vec<VerifyingKey>,
    /// Keys the subject pseudonyms.
    pub pseudonym_key: PseudonymKey,
    /// Seals dossiers at rest (the current dossier key).
    pub dossier_key: DossierKey,
    /// Dossier keys rotated out, newest first: what they sealed still opens.
    pub older_dossier_keys: Vec<DossierKey>,
}

impl std::fmt::Debug for GatewayKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayKeys")
            .field("key_ring", &self.key_ring)
            .field("signing_key", &self.signing_key)
            .field("verifying_keys", &self.verifying_keys.len())
            .field("pseudonym_key", &"[redacted]")
            .field("dossier_key", &"[redacted]")
            .field("older_dossier_keys", &self.older_dossier_keys.len())
            .finish()
    }
}

/// A key file (or the data directory) could not be read, created or understood.
#[derive(Debug, thiserror::Error)]
#[error("data directory: `{}`: {problem}", path.display())]
pub struct DataDirError {
    path: PathBuf,
    problem: String,
}

impl DataDirError {
    fn new(path: &Path, problem: impl std::fmt::Display) -> Self {
        Self {
            path: path.to_owned(),
            problem: problem.to_string(),
        }
    }
}

/// The kinds of key an operator rotates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyKind {
    /// Seals session, login-flow and staff cookies.
    Session,
    /// Signs receipts and tickets.
    Signing,
    /// Seals dossiers, drafts and outbox envelopes at rest.
    Dossier,
}

impl KeyKind {
    /// Every kind, in the order `keys list` shows them.
    pub const ALL: [Self; 3] = [Self::Session, Self::Signing, Self::Dossier];

    /// The kind's name on the command line and in `keys.json`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Session => "session",
            Self::Signing => "signing",
            Self::Dossier => "dossier",
        }
    }
}

impl std::fmt::Display for KeyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for KeyKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| format!("`{s}` is not a key kind: session, signing or dossier"))
    }
}

/// One key of the data directory, as `keys list` shows it (no key material).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// What the key is for.
    pub kind: KeyKind,
    /// Its id: `session-<n>` for a session key (the id sealed into cookies), the RFC 7638
    /// thumbprint (the JWKS `kid`) for a signing key, `dossier-<fingerprint>` for a dossier
    /// key.
    pub id: String,
    /// When it joined the data directory (the migration time for keys from before rotation).
    pub added_at: DateTime<Utc>,
    /// When a newer key replaced it; `None` for the current key.
    pub superseded_at: Option<DateTime<Utc>>,
}

impl KeyRecord {
    /// Whether it is the current key of its kind (the one that seals or signs).
    pub fn is_current(&self) -> bool {
        self.superseded_at.is_none()
    }
}

/// How long a key rotated out is still needed, by kind.
#[derive(Clone, Copy, Debug)]
pub struct KeyPolicy {
    /// The session's absolute timeout: no cookie sealed under a key outlives it.
    pub session_lifetime: TimeDelta,
    /// The longest a ticket is valid ([`DEFAULT_VALIDITY_DAYS`](crate::fallback::DEFAULT_VALIDITY_DAYS)
    /// unless the gateway issues longer ones).
    pub ticket_lifetime: TimeDelta,
    /// How long a receipt stays verifiable ([`RECEIPT_VERIFIABLE_FOR_DAYS`]).
    pub receipt_lifetime: TimeDelta,
}

impl KeyPolicy {
    /// The policy for sessions that end after `session_lifetime`, default tickets and
    /// receipts verifiable for [`RECEIPT_VERIFIABLE_FOR_DAYS`].
    pub fn new(session_lifetime: TimeDelta) -> Self {
        Self {
            session_lifetime,
            ticket_lifetime: TimeDelta::days(crate::fallback::DEFAULT_VALIDITY_DAYS),
            receipt_lifetime: TimeDelta::days(RECEIPT_VERIFIABLE_FOR_DAYS),
        }
    }

    /// Until when `record` is needed, or `None` if it is needed for good (the current key of
    /// its kind, or a dossier key: sealed dossiers are kept without end, and only their key
    /// opens them).
    pub fn needed_until(&self, record: &KeyRecord) -> Option<DateTime<Utc>> {
        let superseded = record.superseded_at?;
        match record.kind {
            KeyKind::Session => Some(superseded + self.session_lifetime),
            KeyKind::Signing => Some(superseded + self.ticket_lifetime.max(self.receipt_lifetime)),
            KeyKind::Dossier => None,
        }
    }
}

/// `keys retire` refused, or failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RetireError {
    /// No key of the data directory has this id.
    #[error("no key has the id `{id}` (see `keys list`)")]
    UnknownKey {
        /// The id asked for.
        id: String,
    },
    /// The key is the current one of its kind.
    #[error("`{id}` is the current {kind} key: rotate the {kind} key first")]
    Current {
        /// The key's id.
        id: String,
        /// Its kind.
        kind: KeyKind,
    },
    /// Cookies, receipts or tickets it sealed or signed may still be presented.
    #[error("`{id}` is still needed until {until}: {reason}")]
    NeededUntil {
        /// The key's id.
        id: String,
        /// When it stops being needed.
        until: DateTime<Utc>,
        /// What still needs it.
        reason: &'static str,
    },
    /// Dossiers it sealed are kept without end and open only with it.
    #[error(
        "`{id}` is a dossier key: dossiers, drafts and outbox envelopes sealed under it open \
         only with it, and filed dossiers are kept without end, so a dossier key is never retired"
    )]
    DossierKey {
        /// The key's id.
        id: String,
    },
    /// A key file could not be read or written.
    #[error(transparent)]
    File(#[from] DataDirError),
}

impl GatewayKeys {
    /// Loads the keys from `dir`, generating (and saving, readable by the owner only) any that
    /// are missing, and migrating single-key files from before rotation.
    ///
    /// # Errors
    ///
    /// [`DataDirError`] naming the file that could not be read, written or parsed.
    pub fn load_or_create(dir: &Path, random: &dyn Random) -> Result<Self, DataDirError> {
        let files = KeyFiles::open(dir, random, Utc::now())?;
        files.gateway_keys()
    }
}

/// The keys of `dir`, oldest first within each kind.
///
/// # Errors
///
/// [`DataDirError`] naming the file that could not be read, written or parsed, or `dir` when
/// it holds no keys yet (a mistyped `WARDGATE_DATA_DIR` must not get keys of its own).
pub fn list_keys(dir: &Path, random: &dyn Random) -> Result<Vec<KeyRecord>, DataDirError> {
    Ok(KeyFiles::open_existing(dir, random, Utc::now())?
        .manifest
        .keys)
}

/// Adds a new current key of `kind` in `dir`, dated `now`; the previous one stays to open or
/// verify what it sealed or signed. Returns the new key's record.
///
/// # Errors
///
/// [`DataDirError`] naming the file that could not be read or written (or a full session key
/// ring: 255 keys).
pub fn rotate_key(
    dir: &Path,
    kind: KeyKind,
    random: &dyn Random,
    now: DateTime<Utc>,
) -> Result<KeyRecord, DataDirError> {
    let mut files = KeyFiles::open_existing(dir, random, now)?;
    let id = match kind {
        KeyKind::Session => {
            let path = dir.join(SESSION_KEYS_FILE);
            let id = files
                .ring
                .rotate(random)
                .map_err(|e| DataDirError::new(&path, e))?;
            write_ring(&path, &files.ring)?;
            session_id(id)
        }
        KeyKind::Signing => {
            let path = dir.join(SIGNING_KEYS_FILE);
            let (key, pkcs8) =
                SigningKey::generate(random).map_err(|e| DataDirError::new(&path, e))?;
            files.signing.push(pkcs8);
            replace_private(&path, &encode_key_set(&path, &files.signing)?)?;
            key.kid().to_owned()
        }
        KeyKind::Dossier => {
            let path = dir.join(DOSSIER_KEYS_FILE);
            let key = random_key(&path, random)?;
            let id = dossier_id(&key);
            files.dossier.push(key);
            replace_private(&path, &encode_key_set(&path, &files.dossier)?)?;
            id
        }
    };
    files.reconcile(dir, now)?;
    files
        .manifest
        .keys
        .into_iter()
        .find(|record| record.id == id)
        .ok_or_else(|| DataDirError::new(&dir.join(KEYS_MANIFEST_FILE), "the new key is missing"))
}

/// Removes the key `id` from `dir` if nothing needs it any more at `now` under `policy`, or,
/// with `force` (a leaked key), even though cookies it sealed or receipts and tickets it signed
/// are still in use: they stop opening or verifying. Returns the removed key's record.
///
/// # Errors
///
/// [`RetireError`] naming why the key is kept: unknown, current, still needed (until when and
/// by what), a dossier key; or the file that could not be written.
pub fn retire_key(
    dir: &Path,
    id: &str,
    policy: &KeyPolicy,
    force: bool,
    random: &dyn Random,
    now: DateTime<Utc>,
) -> Result<KeyRecord, RetireError> {
    let mut files = KeyFiles::open_existing(dir, random, now)?;
    let record = files
        .manifest
        .keys
        .iter()
        .find(|record| record.id == id)
        .cloned()
        .ok_or_else(|| RetireError::UnknownKey { id: id.to_owned() })?;
    if record.is_current() {
        return Err(RetireError::Current {
            id: record.id,
            kind: record.kind,
        });
    }
    match (record.kind, policy.needed_until(&record)) {
        (KeyKind::Dossier, _) | (_, None) => {
            return Err(RetireError::DossierKey { id: record.id });
        }
        (kind, Some(until)) if now < until && !force => {
            return Err(RetireError::NeededUntil {
                id: record.id,
                until,
                reason: match kind {
                    KeyKind::Session => {
                        "cookies sealed under it are valid until the session's absolute timeout"
                    }
                    _ => {
                        "receipts and tickets it signed must stay verifiable (the JWKS publishes \
                         it): tickets until they expire, receipts for ten years"
                    }
                },
            });
        }
        _ => {}
    }
    match record.kind {
        KeyKind::Session => {
            let path = dir.join(SESSION_KEYS_FILE);
            let key_id = files
                .ring
                .key_ids()
                .into_iter()
                .find(|key_id| session_id(*key_id) == record.id)
                .ok_or_else(|| RetireError::UnknownKey { id: id.to_owned() })?;
            files
                .ring
                .retire(key_id)
                .map_err(|e| DataDirError::new(&path, e))?;
            write_ring(&path, &files.ring)?;
        }
        KeyKind::Dossier => return Err(RetireError::DossierKey { id: record.id }),
        KeyKind::Signing => {
            let path = dir.join(SIGNING_KEYS_FILE);
            files.signing.retain(|pkcs8| {
                SigningKey::from_pkcs8(pkcs8).map_or(true, |key| key.kid() != record.id)
            });
            replace_private(&path, &encode_key_set(&path, &files.signing)?)?;
        }
    }
    files.reconcile(dir, now)?;
    Ok(record)
}

/// Every key file of a data directory, read.
struct KeyFiles {
    ring: KeyRing,
    /// PKCS#8 documents, oldest first; the last signs.
    signing: Vec<Zeroizing<Vec<u8>>>,
    pseudonym: Zeroizing<Vec<u8>>,
    /// 32-byte keys, oldest first; the last seals.
    dossier: Vec<Zeroizing<Vec<u8>>>,
    manifest: Manifest,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Manifest {
    format: u32,
    keys: Vec<KeyRecord>,
}

impl KeyFiles {
    /// As [`open`](Self::open), for the operator's commands: refuses a directory the gateway
    /// has not started in yet.
    fn open_existing(
        dir: &Path,
        random: &dyn Random,
        now: DateTime<Utc>,
    ) -> Result<Self, DataDirError> {
        if !dir.join(SESSION_KEYS_FILE).exists() {
            return Err(DataDirError::new(
                dir,
                "holds no keys: check WARDGATE_DATA_DIR (the gateway creates its keys at first \
                 start)",
            ));
        }
        Self::open(dir, random, now)
    }

    /// Reads the keys of `dir`, creating missing ones, migrating single-key files and bringing
    /// `keys.json` up to date (dated `now`).
    fn open(dir: &Path, random: &dyn Random, now: DateTime<Utc>) -> Result<Self, DataDirError> {
        fs::create_dir_all(dir).map_err(|e| DataDirError::new(dir, e))?;
        let ring_path = dir.join(SESSION_KEYS_FILE);
        let ring = match read(&ring_path)? {
            Some(bytes) => {
                KeyRing::from_bytes(&bytes).map_err(|e| DataDirError::new(&ring_path, e))?
            }
            None => {
                let ring =
                    KeyRing::generate(random).map_err(|e| DataDirError::new(&ring_path, e))?;
                write_ring(&ring_path, &ring)?;
                ring
            }
        };
        let signing = key_set(dir, SIGNING_KEYS_FILE, LEGACY_SIGNING_KEY_FILE, |path| {
            let (_, pkcs8) =
                SigningKey::generate(random).map_err(|e| DataDirError::new(path, e))?;
            Ok(pkcs8)
        })?;
        for pkcs8 in &signing {
            SigningKey::from_pkcs8(pkcs8)
                .map_err(|e| DataDirError::new(&dir.join(SIGNING_KEYS_FILE), e))?;
        }
        let dossier = key_set(dir, DOSSIER_KEYS_FILE, LEGACY_DOSSIER_KEY_FILE, |path| {
            random_key(path, random)
        })?;
        if dossier.iter().any(|key| key.len() != DOSSIER_KEY_LEN) {
            return Err(DataDirError::new(
                &dir.join(DOSSIER_KEYS_FILE),
                "a key is not 32 bytes long",
            ));
        }
        let pseudonym_path = dir.join(PSEUDONYM_KEY_FILE);
        let pseudonym = match read(&pseudonym_path)? {
            Some(bytes) => bytes,
            None => {
                let bytes = random_key(&pseudonym_path, random)?;
                write_private(&pseudonym_path, &bytes)?;
                bytes
            }
        };
        let manifest_path = dir.join(KEYS_MANIFEST_FILE);
        let manifest = match read(&manifest_path)? {
            Some(bytes) => {
                serde_json::from_slice(&bytes).map_err(|e| DataDirError::new(&manifest_path, e))?
            }
            None => Manifest::default(),
        };
        let mut files = Self {
            ring,
            signing,
            pseudonym,
            dossier,
            manifest,
        };
        files.reconcile(dir, now)?;
        Ok(files)
    }

    /// The keys held, by kind, with whether each is current.
    fn held(&self, dir: &Path) -> Result<Vec<(KeyKind, String, bool)>, DataDirError> {
        let mut held = Vec::new();
        let newest = self.ring.newest_id();
        for id in self.ring.key_ids() {
            held.push((KeyKind::Session, session_id(id), id == newest));
        }
        let last = self.signing.len().saturating_sub(1);
        for (index, pkcs8) in self.signing.iter().enumerate() {
            let key = SigningKey::from_pkcs8(pkcs8)
                .map_err(|e| DataDirError::new(&dir.join(SIGNING_KEYS_FILE), e))?;
            held.push((KeyKind::Signing, key.kid().to_owned(), index == last));
        }
        let last = self.dossier.len().saturating_sub(1);
        for (index, key) in self.dossier.iter().enumerate() {
            held.push((KeyKind::Dossier, dossier_id(key), index == last));
        }
        Ok(held)
    }

    /// Brings `keys.json` in line with the key files: a key not yet described is dated `now`
    /// (and, if not current, superseded `now`: the safe guess for keys from before rotation); a
    /// key no longer current is dated superseded `now`; retired keys are dropped.
    fn reconcile(&mut self, dir: &Path, now: DateTime<Utc>) -> Result<(), DataDirError> {
        // Whole seconds: what an operator reads in `keys list` and in a refusal.
        let now = now.trunc_subsecs(0);
        let held = self.held(dir)?;
        let mut keys = Vec::with_capacity(held.len());
        for (kind, id, current) in held {
            let known = self
                .manifest
                .keys
                .iter()
                .find(|record| record.kind == kind && record.id == id);
            let added_at = known.map_or(now, |record| record.added_at);
            let superseded_at = match (current, known.and_then(|record| record.superseded_at)) {
                (true, _) => None,
                (false, Some(at)) => Some(at),
                (false, None) => Some(now),
            };
            keys.push(KeyRecord {
                kind,
                id,
                added_at,
                superseded_at,
            });
        }
        if keys != self.manifest.keys || self.manifest.format != MANIFEST_FORMAT {
            self.manifest = Manifest {
                format: MANIFEST_FORMAT,
                keys,
            };
            let path = dir.join(KEYS_MANIFEST_FILE);
            let mut bytes = serde_json::to_vec_pretty(&self.manifest)
                .map_err(|e| DataDirError::new(&path, e))?;
            bytes.push(b'\n');
            replace_private(&path, &bytes)?;
        }
        Ok(())
    }

    fn gateway_keys(self) -> Result<GatewayKeys, DataDirError> {
        let signing_path = Path::new(SIGNING_KEYS_FILE);
        let mut signing = self
            .signing
            .iter()
            .rev()
            .map(|pkcs8| SigningKey::from_pkcs8(pkcs8))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| DataDirError::new(signing_path, e))?;
        let verifying_keys = signing.iter().map(SigningKey::verifying_key).collect();
        if signing.is_empty() {
            return Err(DataDirError::new(signing_path, "the key set is empty"));
        }
        let signing_key = signing.remove(0);
        let dossier_path = Path::new(DOSSIER_KEYS_FILE);
        let mut dossier = self
            .dossier
            .iter()
            .rev()
            .map(|key| DossierKey::from_bytes(key))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| DataDirError::new(dossier_path, e))?;
        if dossier.is_empty() {
            return Err(DataDirError::new(dossier_path, "the key set is empty"));
        }
        let dossier_key = dossier.remove(0);
        let pseudonym_key = PseudonymKey::from_bytes(&self.pseudonym)
            .map_err(|_| DataDirError::new(Path::new(PSEUDONYM_KEY_FILE), "not 32 bytes long"))?;
        Ok(GatewayKeys {
            key_ring: self.ring,
            signing_key,
            verifying_keys,
            pseudonym_key,
            dossier_key,
            older_dossier_keys: dossier,
        })
    }
}

/// The key set in `file`; else the single key of `legacy`, migrated into `file` (and the
/// legacy file removed once the set is safely written); else one new key from `generate`.
fn key_set(
    dir: &Path,
    file: &str,
    legacy: &str,
    generate: impl FnOnce(&Path) -> Result<Zeroizing<Vec<u8>>, DataDirError>,
) -> Result<Vec<Zeroizing<Vec<u8>>>, DataDirError> {
    let path = dir.join(file);
    if let Some(bytes) = read(&path)? {
        return decode_key_set(&path, &bytes);
    }
    let legacy_path = dir.join(legacy);
    let (keys, migrated) = match read(&legacy_path)? {
        Some(key) => (vec![key], true),
        None => (vec![generate(&path)?], false),
    };
    replace_private(&path, &encode_key_set(&path, &keys)?)?;
    if migrated {
        fs::remove_file(&legacy_path).map_err(|e| DataDirError::new(&legacy_path, e))?;
    }
    Ok(keys)
}

fn encode_key_set(
    path: &Path,
    keys: &[Zeroizing<Vec<u8>>],
) -> Result<Zeroizing<Vec<u8>>, DataDirError> {
    let count = u8::try_from(keys.len())
        .ok()
        .filter(|count| *count > 0)
        .ok_or_else(|| DataDirError::new(path, "a key set holds 1 to 255 keys"))?;
    let mut bytes = Zeroizing::new(Vec::with_capacity(6 + keys.len() * 50));
    bytes.extend_from_slice(KEY_SET_MAGIC);
    bytes.push(KEY_SET_FORMAT);
    bytes.push(count);
    for key in keys {
        let len = u16::try_from(key.len()).map_err(|_| DataDirError::new(path, "key too long"))?;
        bytes.extend_from_slice(&len.to_be_bytes());
        bytes.extend_from_slice(key);
    }
    Ok(bytes)
}

fn decode_key_set(path: &Path, bytes: &[u8]) -> Result<Vec<Zeroizing<Vec<u8>>>, DataDirError> {
    let malformed = || DataDirError::new(path, "not a wardgate key set (format 1)");
    let rest = bytes
        .strip_prefix(KEY_SET_MAGIC.as_slice())
        .and_then(|rest| rest.strip_prefix(&[KEY_SET_FORMAT]))
        .ok_or_else(malformed)?;
    let (&count, mut rest) = rest.split_first().ok_or_else(malformed)?;
    let mut keys = Vec::with_capacity(usize::from(count));
    for _ in 0..count {
        let (len, after) = rest.split_first_chunk::<2>().ok_or_else(malformed)?;
        let len = usize::from(u16::from_be_bytes(*len));
        let key = after.get(..len).ok_or_else(malformed)?;
        keys.push(Zeroizing::new(key.to_vec()));
        rest = &after[len..];
    }
    if keys.is_empty() || !rest.is_empty() {
        return Err(malformed());
    }
    Ok(keys)
}

fn session_id(id: KeyId) -> String {
    format!("{SESSION_ID_PREFIX}{id}")
}

/// A dossier key's id: a hash of the key under a label of its own, so the id reveals nothing
/// of the key and never equals another kind's id.
fn dossier_id(key: &[u8]) -> String {
    use base64::Engine as _;
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    context.update(b"wardgate dossier key id\0");
    context.update(key);
    let digest = context.finish();
    let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref());
    format!(
        "{DOSSIER_ID_PREFIX}{}",
        encoded.get(..16).unwrap_or(&encoded)
    )
}

fn random_key(path: &Path, random: &dyn Random) -> Result<Zeroizing<Vec<u8>>, DataDirError> {
    let mut bytes = Zeroizing::new(vec![0u8; 32]);
    random
        .fill(&mut bytes)
        .map_err(|e| DataDirError::new(path, e))?;
    Ok(bytes)
}

fn write_ring(path: &Path, ring: &KeyRing) -> Result<(), DataDirError> {
    let mut bytes = Zeroizing::new(Vec::new());
    ring.write_to(&mut *bytes)
        .map_err(|e| DataDirError::new(path, e))?;
    replace_private(path, &bytes)
}

fn read(path: &Path) -> Result<Option<Zeroizing<Vec<u8>>>, DataDirError> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(Zeroizing::new(bytes))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(DataDirError::new(path, e)),
    }
}

/// Writes a new key file that only the owner can read; never overwrites an existing one.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), DataDirError> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| DataDirError::new(path, e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| DataDirError::new(path, e))
}

/// Replaces `path` with `bytes`, readable by the owner only: written to a temporary file, then
/// renamed over, so readers see the old file or the new one, never half of one.
fn replace_private(path: &Path, bytes: &[u8]) -> Result<(), DataDirError> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".new");
    let temporary = PathBuf::from(temporary);
    match fs::remove_file(&temporary) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(DataDirError::new(&temporary, e)),
    }
    write_private(&temporary, bytes)?;
    fs::rename(&temporary, path).map_err(|e| DataDirError::new(path, e))?;
    if let Some(parent) = path.parent()
        && let Ok(directory) = fs::File::open(parent)
    {
        // The rename is durable once the directory is; a failure here loses nothing yet.
        let _ = directory.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemRandom;

    fn temp_dir(tag: &str) -> PathBuf {
        std::env::temp_dir().join(format!(
            "wardgate-datadir-{tag}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default()
        ))
    }

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt as _;
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn the_keys_are_created_once_private_and_checked() {
        let dir = temp_dir("create");
        let random = SystemRandom::new();
        let first = GatewayKeys::load_or_create(&dir, &random).unwrap();
        assert!(format!("{first:?}").contains("dossier_key: \"[redacted]\""));
        let path = dir.join(DOSSIER_KEYS_FILE);
        let written = fs::read(&path).unwrap();
        // "WGKS", format, count, then one 2-byte length and a 32-byte key.
        assert_eq!(written.len(), 4 + 1 + 1 + 2 + 32);
        #[cfg(unix)]
        for file in [
            SESSION_KEYS_FILE,
            SIGNING_KEYS_FILE,
            DOSSIER_KEYS_FILE,
            PSEUDONYM_KEY_FILE,
            KEYS_MANIFEST_FILE,
        ] {
            assert_eq!(mode(&dir.join(file)), 0o600, "{file}");
        }
        // A second start reads the same keys instead of writing new ones.
        let again = GatewayKeys::load_or_create(&dir, &random).unwrap();
        assert_eq!(fs::read(&path).unwrap(), written);
        assert_eq!(again.signing_key.kid(), first.signing_key.kid());

        fs::write(&path, [1u8; 31]).unwrap();
        let error = GatewayKeys::load_or_create(&dir, &random).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "data directory: `{}`: not a wardgate key set (format 1)",
                path.display()
            )
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn single_key_files_from_before_rotation_are_migrated() {
        let dir = temp_dir("migrate");
        fs::create_dir_all(&dir).unwrap();
        let random = SystemRandom::new();
        let (signing, pkcs8) = SigningKey::generate(&random).unwrap();
        fs::write(dir.join(LEGACY_SIGNING_KEY_FILE), &*pkcs8).unwrap();
        fs::write(dir.join(LEGACY_DOSSIER_KEY_FILE), [7u8; 32]).unwrap();

        let keys = GatewayKeys::load_or_create(&dir, &random).unwrap();
        assert_eq!(keys.signing_key.kid(), signing.kid());
        assert!(keys.older_dossier_keys.is_empty());
        assert!(!dir.join(LEGACY_SIGNING_KEY_FILE).exists());
        assert!(!dir.join(LEGACY_DOSSIER_KEY_FILE).exists());
        let records = list_keys(&dir, &random).unwrap();
        let dossier = records
            .iter()
            .find(|record| record.kind == KeyKind::Dossier)
            .unwrap();
        assert_eq!(dossier.id, dossier_id(&[7u8; 32]));
        assert!(dossier.is_current());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn rotation_keeps_older_keys_and_retirement_waits_until_they_are_not_needed() {
        let dir = temp_dir("rotate");
        let random = SystemRandom::new();
        let start = at("2026-01-01T00:00:00Z");
        let refused = list_keys(&dir, &random).unwrap_err();
        assert!(refused.to_string().contains("holds no keys"), "{refused}");
        assert!(!dir.join(SIGNING_KEYS_FILE).exists());
        GatewayKeys::load_or_create(&dir, &random).unwrap();
        let before = list_keys(&dir, &random).unwrap();
        assert_eq!(before.len(), 3);
        let old_signing = before[1].id.clone();
        let old_session = before[0].id.clone();
        let old_dossier = before[2].id.clone();
        for kind in KeyKind::ALL {
            let new = rotate_key(&dir, kind, &random, start).unwrap();
            assert!(new.is_current());
            assert_eq!(new.kind, kind);
        }
        let keys = GatewayKeys::load_or_create(&dir, &random).unwrap();
        assert_eq!(keys.verifying_keys.len(), 2);
        assert_eq!(keys.verifying_keys[0].kid(), keys.signing_key.kid());
        assert_eq!(keys.verifying_keys[1].kid(), old_signing);
        assert_eq!(keys.older_dossier_keys.len(), 1);
        assert_eq!(keys.key_ring.key_ids().len(), 2);

        let policy = KeyPolicy::new(TimeDelta::hours(8));
        let current = keys.signing_key.kid().to_owned();
        assert!(matches!(
            retire_key(&dir, &current, &policy, false, &random, start),
            Err(RetireError::Current {
                kind: KeyKind::Signing,
                ..
            })
        ));
        assert!(matches!(
            retire_key(&dir, "no-such-key", &policy, false, &random, start),
            Err(RetireError::UnknownKey { .. })
        ));
        assert!(matches!(
            retire_key(
                &dir,
                &old_dossier,
                &policy,
                true,
                &random,
                start + TimeDelta::days(40_000)
            ),
            Err(RetireError::DossierKey { .. })
        ));
        let refused = retire_key(
            &dir,
            &old_session,
            &policy,
            false,
            &random,
            start + TimeDelta::hours(7),
        )
        .unwrap_err();
        assert_eq!(
            refused.to_string(),
            format!(
                "`{old_session}` is still needed until 2026-01-01 08:00:00 UTC: cookies sealed \
                 under it are valid until the session's absolute timeout"
            )
        );
        retire_key(
            &dir,
            &old_session,
            &policy,
            false,
            &random,
            start + TimeDelta::hours(8),
        )
        .unwrap();
        // A signing key outlives its tickets: it verifies receipts for ten years.
        let year = start + TimeDelta::days(365);
        assert!(matches!(
            retire_key(&dir, &old_signing, &policy, false, &random, year),
            Err(RetireError::NeededUntil { until, .. }) if until == start + TimeDelta::days(3650)
        ));
        // A leaked key is retired at once when forced: its receipts stop verifying.
        retire_key(&dir, &old_signing, &policy, true, &random, year).unwrap();

        let keys = GatewayKeys::load_or_create(&dir, &random).unwrap();
        assert_eq!(keys.verifying_keys.len(), 1);
        assert_eq!(keys.key_ring.key_ids().len(), 1);
        let ids: Vec<String> = list_keys(&dir, &random)
            .unwrap()
            .into_iter()
            .map(|record| record.id)
            .collect();
        assert!(!ids.contains(&old_signing) && !ids.contains(&old_session));
        assert!(ids.contains(&old_dossier));
        fs::remove_dir_all(&dir).unwrap();
    }
}
