//! The phone's secure hardware (Android Keystore / StrongBox, the Secure
//! Enclave): P-256 keys whose private half never leaves it. The reset app
//! keeps its installation key here (issue 8); the wallet's device keys
//! follow (issue 9). [`SoftwareSecureArea`] is a **software stand-in** for
//! the desktop and tests: its keys live in process memory or a file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

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
    /// The user's authentication failed (wrong face, fingerprint or device
    /// PIN, too many times).
    #[error("the user's authentication failed")]
    UserAuthenticationFailed,
    /// The key needs the user's authentication and the phone has none set
    /// up (no secure lock screen, W10), or no way to ask for it here.
    #[error("no user authentication is set up")]
    NoUserAuthentication,
    /// The key was made for another purpose (a signing key asked for key
    /// agreement, or the reverse).
    #[error("the key {alias} is not for this")]
    WrongPurpose {
        /// The alias asked for.
        alias: String,
    },
    /// The secure hardware failed or is absent.
    #[error("the secure area is unavailable: {reason}")]
    Unavailable {
        /// What the platform said.
        reason: String,
    },
}

/// What a key is for; a key does one thing only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyPurpose {
    /// ES256 signatures.
    Sign,
    /// P-256 ECDH (the store's unwrapping key).
    KeyAgreement,
}

/// When the key asks for the user (biometrics or the device PIN).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserAuthentication {
    /// Never (background keys: the reset app's installation key, the
    /// store's unwrapping key).
    None,
    /// Before every single use, no grace period (W10: a presentation
    /// without the user's authentication is impossible). Android:
    /// `setUserAuthenticationRequired(true)` with timeout 0; iOS:
    /// `SecAccessControl` `.userPresence`.
    EveryUse,
}

/// Where the key lives, as the platform reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecurityLevel {
    /// Process memory or a file: [`SoftwareSecureArea`], never a phone.
    Software,
    /// Android's TEE-backed Keystore.
    TrustedEnvironment,
    /// Android StrongBox (a separate secure element).
    StrongBox,
    /// Apple's Secure Enclave.
    SecureEnclave,
}

/// How to make a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpec {
    /// What it is for.
    pub purpose: KeyPurpose,
    /// When it asks for the user.
    pub user_authentication: UserAuthentication,
    /// Use StrongBox when the phone has one (Android; the Secure Enclave is
    /// always used on iOS); fall back to the TEE when it has none.
    pub prefer_strong_box: bool,
    /// The server's challenge the platform attests over (Android key
    /// attestation); `None`: no attestation asked.
    pub attestation_challenge: Option<Vec<u8>>,
}

impl KeySpec {
    /// A background signing key: no user authentication, no attestation.
    pub fn background_signing() -> Self {
        Self {
            purpose: KeyPurpose::Sign,
            user_authentication: UserAuthentication::None,
            prefer_strong_box: false,
            attestation_challenge: None,
        }
    }

    /// A device key a credential is bound to: user authentication before
    /// every use (W10), StrongBox when present, attested over `challenge`.
    pub fn device_key(challenge: Vec<u8>) -> Self {
        Self {
            purpose: KeyPurpose::Sign,
            user_authentication: UserAuthentication::EveryUse,
            prefer_strong_box: true,
            attestation_challenge: Some(challenge),
        }
    }

    /// The store's unwrapping key: ECDH, no user authentication (the app
    /// shows its records without a prompt; using one needs the prompt).
    pub fn storage() -> Self {
        Self {
            purpose: KeyPurpose::KeyAgreement,
            user_authentication: UserAuthentication::None,
            prefer_strong_box: false,
            attestation_challenge: None,
        }
    }
}

/// What the secure area says about a key.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// The public key, SEC1 uncompressed (65 bytes).
    pub public_key: Vec<u8>,
    /// What it is for.
    pub purpose: KeyPurpose,
    /// When it asks for the user, as the platform enforces it.
    pub user_authentication: UserAuthentication,
    /// Where it lives.
    pub security_level: SecurityLevel,
    /// The platform's attestation certificate chain (DER, leaf first; on
    /// Android the leaf carries the challenge and the key's properties);
    /// empty when the platform has none (iOS Secure Enclave keys, software).
    pub attestation: Vec<Vec<u8>>,
}

impl std::fmt::Debug for KeyInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyInfo")
            .field("public_key", &crate::hex::to_hex(&self.public_key))
            .field("purpose", &self.purpose)
            .field("user_authentication", &self.user_authentication)
            .field("security_level", &self.security_level)
            .field("attestation_certificates", &self.attestation.len())
            .finish()
    }
}

/// Keys in secure hardware. Object-safe: front ends hold `Arc<dyn SecureArea>`.
#[async_trait::async_trait]
pub trait SecureArea: Send + Sync {
    /// Creates a P-256 key under `alias` as `spec` says, replacing any key
    /// of that name. Fails with [`SecureAreaError::NoUserAuthentication`]
    /// when `spec` asks for user authentication the phone cannot give.
    async fn create_key(&self, alias: String, spec: KeySpec) -> Result<KeyInfo, SecureAreaError>;
    /// What the secure area says about the key under `alias`, if there is
    /// one; [`SecureAreaError::KeyInvalidated`] when the platform has
    /// invalidated it.
    async fn key_info(&self, alias: String) -> Result<Option<KeyInfo>, SecureAreaError>;
    /// ES256 over `message` (SHA-256 inside): raw `r‖s`, 64 bytes. A key
    /// that needs the user asks for them first (the platform's prompt).
    async fn sign(&self, alias: String, message: Vec<u8>) -> Result<Vec<u8>, SecureAreaError>;
    /// P-256 ECDH with `peer_public_key` (SEC1): the shared x-coordinate,
    /// 32 bytes. A secret: the caller wipes it.
    async fn key_agreement(
        &self,
        alias: String,
        peer_public_key: Vec<u8>,
    ) -> Result<Vec<u8>, SecureAreaError>;
    /// Deletes the key under `alias`; whether there was one.
    async fn delete_key(&self, alias: String) -> Result<bool, SecureAreaError>;
}

/// The software area's stand-in for the phone's lock screen: asked before
/// every use of a key that needs the user.
pub trait UserAuthenticator: Send + Sync {
    /// Asks the user to authenticate for a use of `alias`.
    fn authenticate(&self, alias: &str) -> Result<(), SecureAreaError>;
}

#[derive(Clone)]
struct SoftwareKey {
    secret: SigningKey,
    purpose: KeyPurpose,
    user_authentication: UserAuthentication,
    invalidated: bool,
}

impl SoftwareKey {
    fn info(&self) -> KeyInfo {
        KeyInfo {
            public_key: sec1_public(&self.secret),
            purpose: self.purpose,
            user_authentication: self.user_authentication,
            security_level: SecurityLevel::Software,
            attestation: Vec::new(),
        }
    }
}

/// A software stand-in for the secure area: P-256 keys held in memory and,
/// with [`SoftwareSecureArea::open`], in a file readable only by the user.
/// **Not secure hardware**: the desktop CLI and tests use it; a phone uses
/// the platform's implementation. It has no attestation (its keys report
/// [`SecurityLevel::Software`] and an empty chain); user authentication is
/// whatever [`UserAuthenticator`] it is given, and without one a key that
/// needs the user cannot be made.
pub struct SoftwareSecureArea {
    keys: Mutex<BTreeMap<String, SoftwareKey>>,
    file: Option<PathBuf>,
    authenticator: Option<Arc<dyn UserAuthenticator>>,
}

impl std::fmt::Debug for SoftwareSecureArea {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoftwareSecureArea")
            .field("file", &self.file)
            .field("authenticator", &self.authenticator.is_some())
            .finish_non_exhaustive()
    }
}

impl SoftwareSecureArea {
    /// Keys in memory only, gone when dropped.
    pub fn in_memory() -> Self {
        Self {
            keys: Mutex::new(BTreeMap::new()),
            file: None,
            authenticator: None,
        }
    }

    /// Keys kept in `path` (created on the first key): one line per key,
    /// `alias<TAB>hex scalar<TAB>purpose<TAB>user authentication<TAB>
    /// invalidated` (files from before the wallet have the first two
    /// columns only: background signing keys), written whole to a temporary
    /// file and renamed, so a killed process leaves the old file or the new.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, SecureAreaError> {
        let path = path.as_ref().to_path_buf();
        let mut keys = BTreeMap::new();
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let text = Zeroizing::new(text);
                for line in text.lines().filter(|l| !l.is_empty()) {
                    let (alias, key) = parse_key_line(line).ok_or_else(|| unreadable(&path))?;
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
            authenticator: None,
        })
    }

    /// Uses `authenticator` as the lock screen: asked before each use of a
    /// key that needs the user.
    pub fn with_authenticator(mut self, authenticator: Arc<dyn UserAuthenticator>) -> Self {
        self.authenticator = Some(authenticator);
        self
    }

    /// What the phone does when the lock screen is removed or biometrics
    /// change: every key that needs the user is invalidated for good.
    /// Returns how many were.
    pub fn invalidate_user_bound_keys(&self) -> Result<usize, SecureAreaError> {
        let mut keys = self.lock();
        let mut next = keys.clone();
        let mut count = 0;
        for key in next.values_mut() {
            if key.user_authentication == UserAuthentication::EveryUse && !key.invalidated {
                key.invalidated = true;
                count += 1;
            }
        }
        self.persist(&next)?;
        *keys = next;
        Ok(count)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, SoftwareKey>> {
        self.keys.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The key under `alias`, usable for `purpose`, after the user's
    /// authentication when it needs it.
    fn usable(&self, alias: &str, purpose: KeyPurpose) -> Result<SoftwareKey, SecureAreaError> {
        let key = self
            .lock()
            .get(alias)
            .cloned()
            .ok_or_else(|| SecureAreaError::KeyNotFound {
                alias: alias.to_owned(),
            })?;
        if key.invalidated {
            return Err(SecureAreaError::KeyInvalidated {
                alias: alias.to_owned(),
            });
        }
        if key.purpose != purpose {
            return Err(SecureAreaError::WrongPurpose {
                alias: alias.to_owned(),
            });
        }
        if key.user_authentication == UserAuthentication::EveryUse {
            // Asked without holding the lock: a prompt may take a while.
            self.authenticator
                .as_ref()
                .ok_or(SecureAreaError::NoUserAuthentication)?
                .authenticate(alias)?;
        }
        Ok(key)
    }

    fn persist(&self, keys: &BTreeMap<String, SoftwareKey>) -> Result<(), SecureAreaError> {
        let Some(path) = &self.file else {
            return Ok(());
        };
        let mut text = Zeroizing::new(String::new());
        for (alias, key) in keys {
            let scalar = Zeroizing::new(key.secret.to_bytes());
            text.push_str(alias);
            text.push('\t');
            text.push_str(&Zeroizing::new(crate::hex::to_hex(scalar.as_slice())));
            text.push('\t');
            text.push_str(match key.purpose {
                KeyPurpose::Sign => "sign",
                KeyPurpose::KeyAgreement => "agree",
            });
            text.push('\t');
            text.push_str(match key.user_authentication {
                UserAuthentication::None => "none",
                UserAuthentication::EveryUse => "every-use",
            });
            text.push('\t');
            text.push_str(if key.invalidated {
                "invalidated"
            } else {
                "valid"
            });
            text.push('\n');
        }
        write_private_atomically(path, text.as_bytes()).map_err(|e| SecureAreaError::Unavailable {
            reason: format!("{}: {e}", path.display()),
        })
    }
}

fn parse_key_line(line: &str) -> Option<(&str, SoftwareKey)> {
    let mut columns = line.split('\t');
    let alias = columns.next()?;
    let bytes = Zeroizing::new(crate::hex::from_hex(columns.next()?)?);
    let secret = SigningKey::from_slice(&bytes).ok()?;
    let purpose = match columns.next().unwrap_or("sign") {
        "sign" => KeyPurpose::Sign,
        "agree" => KeyPurpose::KeyAgreement,
        _ => return None,
    };
    let user_authentication = match columns.next().unwrap_or("none") {
        "none" => UserAuthentication::None,
        "every-use" => UserAuthentication::EveryUse,
        _ => return None,
    };
    let invalidated = match columns.next().unwrap_or("valid") {
        "valid" => false,
        "invalidated" => true,
        _ => return None,
    };
    if columns.next().is_some() {
        return None;
    }
    Some((
        alias,
        SoftwareKey {
            secret,
            purpose,
            user_authentication,
            invalidated,
        },
    ))
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
    async fn create_key(&self, alias: String, spec: KeySpec) -> Result<KeyInfo, SecureAreaError> {
        // The key file is one tab-separated line per key.
        if alias.is_empty() || alias.contains(['\t', '\n', '\r']) {
            return Err(SecureAreaError::Unavailable {
                reason: format!("{alias:?} cannot name a key here"),
            });
        }
        if spec.user_authentication == UserAuthentication::EveryUse && self.authenticator.is_none()
        {
            return Err(SecureAreaError::NoUserAuthentication);
        }
        let key = SoftwareKey {
            secret: generate()?,
            purpose: spec.purpose,
            user_authentication: spec.user_authentication,
            invalidated: false,
        };
        let info = key.info();
        let mut keys = self.lock();
        let mut next = keys.clone();
        next.insert(alias, key);
        self.persist(&next)?;
        *keys = next;
        Ok(info)
    }

    async fn key_info(&self, alias: String) -> Result<Option<KeyInfo>, SecureAreaError> {
        match self.lock().get(&alias) {
            Some(key) if key.invalidated => Err(SecureAreaError::KeyInvalidated { alias }),
            Some(key) => Ok(Some(key.info())),
            None => Ok(None),
        }
    }

    async fn sign(&self, alias: String, message: Vec<u8>) -> Result<Vec<u8>, SecureAreaError> {
        let key = self.usable(&alias, KeyPurpose::Sign)?;
        let signature: Signature = key.secret.sign(&message);
        Ok(signature.to_bytes().to_vec())
    }

    async fn key_agreement(
        &self,
        alias: String,
        peer_public_key: Vec<u8>,
    ) -> Result<Vec<u8>, SecureAreaError> {
        let key = self.usable(&alias, KeyPurpose::KeyAgreement)?;
        let peer = p256::PublicKey::from_sec1_bytes(&peer_public_key).map_err(|_| {
            SecureAreaError::Unavailable {
                reason: "the peer's public key is not a P-256 point".to_owned(),
            }
        })?;
        let secret = p256::SecretKey::from(key.secret.as_nonzero_scalar());
        let shared = p256::ecdh::diffie_hellman(secret.to_nonzero_scalar(), peer.as_affine());
        Ok(shared.raw_secret_bytes().to_vec())
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
            let public = area
                .create_key("a".into(), KeySpec::background_signing())
                .await
                .unwrap()
                .public_key;
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
            area.create_key("install".into(), KeySpec::background_signing())
                .await
                .unwrap()
                .public_key
        });
        pollster::block_on(async {
            let area = SoftwareSecureArea::open(&path).unwrap();
            let info = area.key_info("install".into()).await.unwrap().unwrap();
            assert_eq!(info.public_key, public);
            assert_eq!(info.security_level, SecurityLevel::Software);
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

    struct Lock {
        answer: Mutex<Vec<Result<(), SecureAreaError>>>,
        asked: Mutex<usize>,
    }

    impl UserAuthenticator for Lock {
        fn authenticate(&self, _alias: &str) -> Result<(), SecureAreaError> {
            *self.asked.lock().unwrap() += 1;
            self.answer.lock().unwrap().pop().unwrap_or(Ok(()))
        }
    }

    fn lock_screen(answers: Vec<Result<(), SecureAreaError>>) -> Arc<Lock> {
        Arc::new(Lock {
            answer: Mutex::new(answers),
            asked: Mutex::new(0),
        })
    }

    #[test]
    fn a_key_that_needs_the_user_asks_before_every_use_and_cannot_exist_without_a_lock_screen() {
        pollster::block_on(async {
            let bare = SoftwareSecureArea::in_memory();
            assert_eq!(
                bare.create_key("d".into(), KeySpec::device_key(vec![1]))
                    .await,
                Err(SecureAreaError::NoUserAuthentication)
            );
            // Popped from the end: approve, refuse, approve.
            let lock = lock_screen(vec![Ok(()), Err(SecureAreaError::UserCancelled), Ok(())]);
            let area = SoftwareSecureArea::in_memory().with_authenticator(lock.clone());
            let info = area
                .create_key("d".into(), KeySpec::device_key(vec![1]))
                .await
                .unwrap();
            assert_eq!(info.user_authentication, UserAuthentication::EveryUse);
            assert!(area.sign("d".into(), b"1".to_vec()).await.is_ok());
            assert_eq!(
                area.sign("d".into(), b"2".to_vec()).await,
                Err(SecureAreaError::UserCancelled)
            );
            assert!(area.sign("d".into(), b"3".to_vec()).await.is_ok());
            assert_eq!(*lock.asked.lock().unwrap(), 3);
            // A background key never asks.
            area.create_key("b".into(), KeySpec::background_signing())
                .await
                .unwrap();
            area.sign("b".into(), b"4".to_vec()).await.unwrap();
            assert_eq!(*lock.asked.lock().unwrap(), 3);
        });
    }

    #[test]
    fn removing_the_lock_screen_invalidates_user_bound_keys_for_good() {
        let dir = std::env::temp_dir().join(format!("mynakit-sa-inv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("keys");
        let _ = std::fs::remove_file(&path);
        pollster::block_on(async {
            let area = SoftwareSecureArea::open(&path)
                .unwrap()
                .with_authenticator(lock_screen(vec![]));
            area.create_key("d".into(), KeySpec::device_key(vec![1]))
                .await
                .unwrap();
            area.create_key("b".into(), KeySpec::background_signing())
                .await
                .unwrap();
            assert_eq!(area.invalidate_user_bound_keys().unwrap(), 1);
        });
        pollster::block_on(async {
            let area = SoftwareSecureArea::open(&path)
                .unwrap()
                .with_authenticator(lock_screen(vec![]));
            let invalidated = SecureAreaError::KeyInvalidated { alias: "d".into() };
            assert_eq!(area.key_info("d".into()).await, Err(invalidated.clone()));
            assert_eq!(area.sign("d".into(), b"m".to_vec()).await, Err(invalidated));
            assert!(area.sign("b".into(), b"m".to_vec()).await.is_ok());
        });
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn key_agreement_matches_the_peer_side_and_keys_keep_to_their_purpose() {
        pollster::block_on(async {
            let area = SoftwareSecureArea::in_memory();
            let storage = area
                .create_key("s".into(), KeySpec::storage())
                .await
                .unwrap();
            let peer = p256::SecretKey::from_slice(&[7u8; 32]).unwrap();
            let peer_public =
                p256::elliptic_curve::sec1::ToSec1Point::to_sec1_point(&peer.public_key(), false)
                    .as_bytes()
                    .to_vec();
            let ours = area
                .key_agreement("s".into(), peer_public.clone())
                .await
                .unwrap();
            let theirs = p256::ecdh::diffie_hellman(
                peer.to_nonzero_scalar(),
                p256::PublicKey::from_sec1_bytes(&storage.public_key)
                    .unwrap()
                    .as_affine(),
            );
            assert_eq!(ours.as_slice(), theirs.raw_secret_bytes().as_slice());
            assert_eq!(
                area.sign("s".into(), b"m".to_vec()).await,
                Err(SecureAreaError::WrongPurpose { alias: "s".into() })
            );
            area.create_key("b".into(), KeySpec::background_signing())
                .await
                .unwrap();
            assert_eq!(
                area.key_agreement("b".into(), peer_public).await,
                Err(SecureAreaError::WrongPurpose { alias: "b".into() })
            );
        });
    }
}
