//! The phone's secure hardware (Android Keystore / StrongBox, the Secure
//! Enclave): P-256 keys whose private half never leaves it. The reset app
//! keeps its installation key here (issue 8); the wallet's device keys
//! follow (issue 9). [`SoftwareSecureArea`] is a **software stand-in** for
//! the desktop and tests: its keys live in process memory or a file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use zeroize::Zeroizing;

/// Why the secure area did not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecureAreaError {
    /// No key under this alias.
    #[error("no key named {alias}")]
    KeyNotFound {
        /// The alias asked for.
        alias: String,
    },
    /// The key exists but can no longer be used (lock screen removed,
    /// biometrics changed): create a new one.
    #[error("the key {alias} was invalidated")]
    KeyInvalidated {
        /// The alias asked for.
        alias: String,
    },
    /// The user cancelled the authentication the key needs.
    #[error("the user cancelled")]
    UserCancelled,
    /// The secure hardware failed or is absent.
    #[error("the secure area is unavailable: {reason}")]
    Unavailable {
        /// What the platform said.
        reason: String,
    },
}

/// Keys in secure hardware. Object-safe: front ends hold `Arc<dyn SecureArea>`.
#[async_trait::async_trait]
pub trait SecureArea: Send + Sync {
    /// Creates a P-256 key under `alias`, replacing any key of that name,
    /// and returns its public key (SEC1 uncompressed, 65 bytes).
    async fn create_key(&self, alias: String) -> Result<Vec<u8>, SecureAreaError>;
    /// The public key under `alias` (SEC1 uncompressed), if there is one.
    async fn public_key(&self, alias: String) -> Result<Option<Vec<u8>>, SecureAreaError>;
    /// ES256 over `message` (SHA-256 inside): raw `r‖s`, 64 bytes.
    async fn sign(&self, alias: String, message: Vec<u8>) -> Result<Vec<u8>, SecureAreaError>;
    /// Deletes the key under `alias`; whether there was one.
    async fn delete_key(&self, alias: String) -> Result<bool, SecureAreaError>;
}

/// A software stand-in for the secure area: P-256 keys held in memory and,
/// with [`SoftwareSecureArea::open`], in a file readable only by the user.
/// **Not secure hardware**: the desktop CLI and tests use it; a phone uses
/// the platform's implementation.
pub struct SoftwareSecureArea {
    keys: Mutex<BTreeMap<String, SigningKey>>,
    file: Option<PathBuf>,
}

impl std::fmt::Debug for SoftwareSecureArea {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoftwareSecureArea")
            .field("file", &self.file)
            .finish_non_exhaustive()
    }
}

impl SoftwareSecureArea {
    /// Keys in memory only, gone when dropped.
    pub fn in_memory() -> Self {
        Self {
            keys: Mutex::new(BTreeMap::new()),
            file: None,
        }
    }

    /// Keys kept in `path` (created on the first key): one line per key,
    /// `alias<TAB>hex scalar`, written whole to a temporary file and renamed,
    /// so a killed process leaves the old file or the new one.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, SecureAreaError> {
        let path = path.as_ref().to_path_buf();
        let mut keys = BTreeMap::new();
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let text = Zeroizing::new(text);
                for line in text.lines().filter(|l| !l.is_empty()) {
                    let (alias, scalar) = line.split_once('\t').ok_or_else(|| unreadable(&path))?;
                    let bytes = Zeroizing::new(
                        crate::hex::from_hex(scalar).ok_or_else(|| unreadable(&path))?,
                    );
                    let key = SigningKey::from_slice(&bytes).map_err(|_| unreadable(&path))?;
                    keys.insert(alias.to_owned(), key);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(SecureAreaError::Unavailable {
                    reason: format!("{}: {e}", path.display()),
                });
            }
        }
        Ok(Self {
            keys: Mutex::new(keys),
            file: Some(path),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, SigningKey>> {
        self.keys.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn persist(&self, keys: &BTreeMap<String, SigningKey>) -> Result<(), SecureAreaError> {
        let Some(path) = &self.file else {
            return Ok(());
        };
        let mut text = Zeroizing::new(String::new());
        for (alias, key) in keys {
            let scalar = Zeroizing::new(key.to_bytes());
            text.push_str(alias);
            text.push('\t');
            text.push_str(&Zeroizing::new(crate::hex::to_hex(scalar.as_slice())));
            text.push('\n');
        }
        write_private_atomically(path, text.as_bytes()).map_err(|e| SecureAreaError::Unavailable {
            reason: format!("{}: {e}", path.display()),
        })
    }
}

fn unreadable(path: &Path) -> SecureAreaError {
    SecureAreaError::Unavailable {
        reason: format!("{}: not a key file", path.display()),
    }
}

/// Writes `bytes` to a temporary file beside `path` (mode 0600 on Unix),
/// syncs it and renames it over `path`.
fn write_private_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".new");
    let temporary = PathBuf::from(temporary);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&temporary)?;
    // A leftover temporary file keeps the mode it was created with.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)
}

fn sec1_public(key: &SigningKey) -> Vec<u8> {
    key.verifying_key().to_sec1_point(false).as_bytes().to_vec()
}

fn generate() -> Result<SigningKey, SecureAreaError> {
    // Almost every 32-byte string is a valid scalar; retry the rare one
    // that is not (zero or at least the group order).
    for _ in 0..16 {
        let mut bytes = Zeroizing::new([0u8; 32]);
        getrandom::fill(bytes.as_mut_slice()).map_err(|e| SecureAreaError::Unavailable {
            reason: format!("no randomness: {e}"),
        })?;
        if let Ok(key) = SigningKey::from_slice(bytes.as_slice()) {
            return Ok(key);
        }
    }
    Err(SecureAreaError::Unavailable {
        reason: "no usable random scalar".to_owned(),
    })
}

#[async_trait::async_trait]
impl SecureArea for SoftwareSecureArea {
    async fn create_key(&self, alias: String) -> Result<Vec<u8>, SecureAreaError> {
        // The key file is one `alias<TAB>key` line per key.
        if alias.is_empty() || alias.contains(['\t', '\n', '\r']) {
            return Err(SecureAreaError::Unavailable {
                reason: format!("{alias:?} cannot name a key here"),
            });
        }
        let key = generate()?;
        let public = sec1_public(&key);
        let mut keys = self.lock();
        let mut next = keys.clone();
        next.insert(alias, key);
        self.persist(&next)?;
        *keys = next;
        Ok(public)
    }

    async fn public_key(&self, alias: String) -> Result<Option<Vec<u8>>, SecureAreaError> {
        Ok(self.lock().get(&alias).map(sec1_public))
    }

    async fn sign(&self, alias: String, message: Vec<u8>) -> Result<Vec<u8>, SecureAreaError> {
        let keys = self.lock();
        let key = keys
            .get(&alias)
            .ok_or(SecureAreaError::KeyNotFound { alias })?;
        let signature: Signature = key.sign(&message);
        Ok(signature.to_bytes().to_vec())
    }

    async fn delete_key(&self, alias: String) -> Result<bool, SecureAreaError> {
        let mut keys = self.lock();
        if !keys.contains_key(&alias) {
            return Ok(false);
        }
        let mut next = keys.clone();
        next.remove(&alias);
        self.persist(&next)?;
        *keys = next;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::VerifyingKey;
    use p256::ecdsa::signature::Verifier;

    fn verifies(public: &[u8], message: &[u8], signature: &[u8]) -> bool {
        let key = VerifyingKey::from_sec1_bytes(public).unwrap();
        let signature = Signature::from_slice(signature).unwrap();
        key.verify(message, &signature).is_ok()
    }

    #[test]
    fn a_key_signs_verifiably_and_is_gone_once_deleted() {
        let area = SoftwareSecureArea::in_memory();
        pollster::block_on(async {
            let public = area.create_key("a".into()).await.unwrap();
            assert_eq!(public.len(), 65);
            let signature = area.sign("a".into(), b"hello".to_vec()).await.unwrap();
            assert_eq!(signature.len(), 64);
            assert!(verifies(&public, b"hello", &signature));
            assert!(!verifies(&public, b"other", &signature));
            assert!(area.delete_key("a".into()).await.unwrap());
            assert!(!area.delete_key("a".into()).await.unwrap());
            assert_eq!(
                area.sign("a".into(), b"x".to_vec()).await,
                Err(SecureAreaError::KeyNotFound { alias: "a".into() })
            );
        });
    }

    #[test]
    fn a_file_backed_area_keeps_its_keys_across_opens() {
        let dir = std::env::temp_dir().join(format!("mynakit-sa-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("keys");
        let _ = std::fs::remove_file(&path);
        let public = pollster::block_on(async {
            let area = SoftwareSecureArea::open(&path).unwrap();
            area.create_key("install".into()).await.unwrap()
        });
        pollster::block_on(async {
            let area = SoftwareSecureArea::open(&path).unwrap();
            assert_eq!(
                area.public_key("install".into()).await.unwrap(),
                Some(public.clone())
            );
            let signature = area.sign("install".into(), b"m".to_vec()).await.unwrap();
            assert!(verifies(&public, b"m", &signature));
        });
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "the key file is readable by others");
        }
        std::fs::write(&path, "install\tnot-hex\n").unwrap();
        assert!(matches!(
            SoftwareSecureArea::open(&path),
            Err(SecureAreaError::Unavailable { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
