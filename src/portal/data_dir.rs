//! The gateway's keys in its data directory: generated on first start, kept afterwards.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::clock::Random;
use crate::keys::SigningKey;
use crate::pseudonym::PseudonymKey;
use crate::session::KeyRing;
use crate::submission::DossierKey;

/// File holding the cookie-sealing key ring.
pub const SESSION_KEYS_FILE: &str = "session.keyring";
/// File holding the Ed25519 key that signs receipts and tickets (PKCS#8).
pub const SIGNING_KEY_FILE: &str = "signing.pk8";
/// File holding the key of the keyed hash that pseudonymises subjects.
pub const PSEUDONYM_KEY_FILE: &str = "pseudonym.key";
/// File holding the key that seals dossiers at rest (32 bytes).
pub const DOSSIER_KEY_FILE: &str = "dossier.key";

/// The gateway's long-lived keys, each its own type: none can be passed where another is
/// expected, and the raw bytes are read into [`Zeroizing`] buffers and never copied out.
/// [`GatewayBuilder::keys`](super::GatewayBuilder::keys) takes them all.
pub struct GatewayKeys {
    /// Seals session and login-flow cookies.
    pub key_ring: KeyRing,
    /// Signs receipts and tickets.
    pub signing_key: SigningKey,
    /// Keys the subject pseudonyms.
    pub pseudonym_key: PseudonymKey,
    /// Seals dossiers at rest.
    pub dossier_key: DossierKey,
}

impl std::fmt::Debug for GatewayKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayKeys")
            .field("key_ring", &self.key_ring)
            .field("signing_key", &self.signing_key)
            .field("pseudonym_key", &"[redacted]")
            .field("dossier_key", &"[redacted]")
            .finish()
    }
}

/// A key file could not be read, created or understood.
#[derive(Debug, thiserror::Error)]
#[error("key file `{}`: {problem}", path.display())]
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

impl GatewayKeys {
    /// Loads the keys from `dir`, generating (and saving, readable by the owner only) any that
    /// are missing.
    ///
    /// # Errors
    ///
    /// [`DataDirError`] naming the file that could not be read, written or parsed.
    pub fn load_or_create(dir: &Path, random: &dyn Random) -> Result<Self, DataDirError> {
        fs::create_dir_all(dir).map_err(|e| DataDirError::new(dir, e))?;
        let ring_path = dir.join(SESSION_KEYS_FILE);
        let key_ring = match read(&ring_path)? {
            Some(bytes) => {
                KeyRing::from_bytes(&bytes).map_err(|e| DataDirError::new(&ring_path, e))?
            }
            None => {
                let ring =
                    KeyRing::generate(random).map_err(|e| DataDirError::new(&ring_path, e))?;
                let mut bytes = Zeroizing::new(Vec::new());
                ring.write_to(&mut *bytes)
                    .map_err(|e| DataDirError::new(&ring_path, e))?;
                write_private(&ring_path, &bytes)?;
                ring
            }
        };
        let signing_path = dir.join(SIGNING_KEY_FILE);
        let signing_key = match read(&signing_path)? {
            Some(bytes) => {
                SigningKey::from_pkcs8(&bytes).map_err(|e| DataDirError::new(&signing_path, e))?
            }
            None => {
                let (key, pkcs8) = SigningKey::generate(random)
                    .map_err(|e| DataDirError::new(&signing_path, e))?;
                write_private(&signing_path, &pkcs8)?;
                key
            }
        };
        let pseudonym_path = dir.join(PSEUDONYM_KEY_FILE);
        let pseudonym_key = match read(&pseudonym_path)? {
            Some(bytes) => bytes,
            None => {
                let mut bytes = Zeroizing::new(vec![0u8; 32]);
                random
                    .fill(&mut bytes)
                    .map_err(|e| DataDirError::new(&pseudonym_path, e))?;
                write_private(&pseudonym_path, &bytes)?;
                bytes
            }
        };
        let pseudonym_key = PseudonymKey::from_bytes(&pseudonym_key)
            .map_err(|_| DataDirError::new(&pseudonym_path, "not 32 bytes long"))?;
        let dossier_path = dir.join(DOSSIER_KEY_FILE);
        let dossier_key = match read(&dossier_path)? {
            Some(bytes) => bytes,
            None => {
                let mut bytes = Zeroizing::new(vec![0u8; 32]);
                random
                    .fill(&mut bytes)
                    .map_err(|e| DataDirError::new(&dossier_path, e))?;
                write_private(&dossier_path, &bytes)?;
                bytes
            }
        };
        let dossier_key = DossierKey::from_bytes(&dossier_key)
            .map_err(|_| DataDirError::new(&dossier_path, "not 32 bytes long"))?;
        Ok(Self {
            key_ring,
            signing_key,
            pseudonym_key,
            dossier_key,
        })
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemRandom;

    #[test]
    fn the_dossier_key_is_created_once_private_and_checked() {
        let dir = std::env::temp_dir().join(format!(
            "wardgate-datadir-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default()
        ));
        let random = SystemRandom::new();
        let first = GatewayKeys::load_or_create(&dir, &random).unwrap();
        assert!(format!("{first:?}").contains("dossier_key: \"[redacted]\""));
        let path = dir.join(DOSSIER_KEY_FILE);
        let written = fs::read(&path).unwrap();
        assert_eq!(written.len(), 32);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // A second start reads the same key instead of writing a new one.
        GatewayKeys::load_or_create(&dir, &random).unwrap();
        assert_eq!(fs::read(&path).unwrap(), written);

        fs::write(&path, [1u8; 31]).unwrap();
        let error = GatewayKeys::load_or_create(&dir, &random).unwrap_err();
        assert!(error.to_string().contains(DOSSIER_KEY_FILE), "{error}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
