//! A vault: an app's personal data at rest (the wallet's record, photo and
//! holder token, issue 9, W1, W11; the portal's tokens and insurance
//! details, issue 10) sealed under a key that only the secure area can
//! bring back. Each app has its own storage key ([`VaultSpec`]).
//!
//! Set-up, once per installation: the secure area makes a P-256 storage key
//! (ECDH, no user prompt: the app shows the holder's records without one;
//! using a record needs the device key, which prompts). The phone makes an
//! ephemeral P-256 key, agrees a secret with the storage key's public half,
//! forgets the ephemeral secret and keeps its public half and a salt in the
//! store. Each later start agrees the same secret through the secure area
//! (`key_agreement`) and derives the AES-256-GCM key with HKDF-SHA256. A
//! copy of the database without the phone's secure area opens nothing.

use std::sync::Arc;

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hkdf::{HKDF_SHA256, Salt};
use zeroize::Zeroizing;

use super::{SealError, SealingKey, Store, StoreError};
use crate::hex::{from_hex, to_hex};
use crate::platform::{KeyPurpose, KeySpec, SecureArea, SecureAreaError};

/// Which vault: the storage key's alias in the secure area, the store
/// setting with the ephemeral public key and salt, and the HKDF info, so
/// that two apps never share a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VaultSpec {
    /// The secure area's alias of the storage key.
    pub alias: &'static str,
    /// The store setting with the ephemeral public key and the salt (hex).
    pub setting: &'static str,
    /// HKDF's info string.
    pub info: &'static [u8],
}

impl VaultSpec {
    /// The wallet's vault (issue 9).
    pub const WALLET: Self = Self {
        alias: "mynakit.wallet.storage",
        setting: "wallet.vault",
        info: b"mynakit wallet vault v1",
    };
    /// The portal's vault (issue 10).
    pub const PORTAL: Self = Self {
        alias: "mynakit.portal.storage",
        setting: "portal.vault",
        info: b"mynakit portal vault v1",
    };
}

/// Why the vault did not open.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The secure area refused or failed.
    #[error(transparent)]
    SecureArea(#[from] SecureAreaError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The store has a vault but the secure area no longer has its key
    /// (the app's data restored to another phone, the key deleted): the
    /// sealed records cannot be opened; apply again.
    #[error("the vault's key is gone from the secure area")]
    KeyGone,
    /// The vault setting is damaged.
    #[error("the vault's setting is damaged")]
    Damaged,
}

/// The vault's AEAD key, derived at start and wiped with the process.
pub struct Vault {
    key: LessSafeKey,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vault(<key>)")
    }
}

impl Vault {
    /// Opens the vault, setting it up on first use.
    pub async fn open(
        secure_area: &Arc<dyn SecureArea>,
        store: &Store,
        spec: &VaultSpec,
    ) -> Result<Self, VaultError> {
        let alias = spec.alias.to_owned();
        let setting = store.transaction(|tx| tx.setting(spec.setting))?;
        let (ephemeral_public, salt) = match setting {
            Some(text) => {
                let bytes = from_hex(&text).ok_or(VaultError::Damaged)?;
                let (public, salt) = split_setting(&bytes).ok_or(VaultError::Damaged)?;
                match secure_area.key_info(alias.clone()).await? {
                    Some(info) if info.purpose == KeyPurpose::KeyAgreement => {}
                    _ => return Err(VaultError::KeyGone),
                }
                (public.to_vec(), salt.to_vec())
            }
            None => {
                // A key left by a set-up killed before the setting was
                // written sealed nothing: replacing it loses nothing.
                let info = secure_area
                    .create_key(alias.clone(), KeySpec::storage())
                    .await?;
                let storage = p256::PublicKey::from_sec1_bytes(&info.public_key)
                    .map_err(|_| VaultError::Damaged)?;
                let ephemeral = random_secret()?;
                let public = p256::elliptic_curve::sec1::ToSec1Point::to_sec1_point(
                    &ephemeral.public_key(),
                    false,
                )
                .as_bytes()
                .to_vec();
                // Checked now, so that a secure area whose ECDH disagrees
                // with the standard is caught before anything is sealed.
                let expected =
                    p256::ecdh::diffie_hellman(ephemeral.to_nonzero_scalar(), storage.as_affine());
                drop(ephemeral);
                let mut salt = vec![0u8; 32];
                getrandom::fill(&mut salt).map_err(|_| random_unavailable())?;
                let agreed = Zeroizing::new(
                    secure_area
                        .key_agreement(alias.clone(), public.clone())
                        .await?,
                );
                if agreed.as_slice() != expected.raw_secret_bytes().as_slice() {
                    return Err(VaultError::SecureArea(SecureAreaError::Unavailable {
                        reason: "the storage key's ECDH disagrees with P-256".to_owned(),
                    }));
                }
                let mut setting = public.clone();
                setting.extend_from_slice(&salt);
                let text = to_hex(&setting);
                store.transaction(|tx| tx.set_setting(spec.setting, &text))?;
                (public, salt)
            }
        };
        let shared = Zeroizing::new(secure_area.key_agreement(alias, ephemeral_public).await?);
        let key = derive(&shared, &salt, spec.info).ok_or(VaultError::Damaged)?;
        Ok(Self { key })
    }
}

fn random_unavailable() -> VaultError {
    VaultError::SecureArea(SecureAreaError::Unavailable {
        reason: "no randomness".to_owned(),
    })
}

/// A random P-256 secret (wiped when dropped).
fn random_secret() -> Result<p256::SecretKey, VaultError> {
    // Almost every 32-byte string is a scalar; retry the rare one that is not.
    for _ in 0..16 {
        let mut bytes = Zeroizing::new([0u8; 32]);
        getrandom::fill(bytes.as_mut_slice()).map_err(|_| random_unavailable())?;
        if let Ok(secret) = p256::SecretKey::from_slice(bytes.as_slice()) {
            return Ok(secret);
        }
    }
    Err(random_unavailable())
}

fn split_setting(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (public, salt) = bytes.split_at_checked(65)?;
    (salt.len() == 32).then_some((public, salt))
}

fn derive(shared: &[u8], salt: &[u8], info: &[u8]) -> Option<LessSafeKey> {
    let prk = Salt::new(HKDF_SHA256, salt).extract(shared);
    let info = [info];
    let okm = prk.expand(&info, &AES_256_GCM).ok()?;
    let key = UnboundKey::from(okm);
    Some(LessSafeKey::new(key))
}

impl SealingKey for Vault {
    fn seal(&self, plaintext: &[u8], context: &[u8]) -> Result<Vec<u8>, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| SealError::KeyUnavailable {
            reason: format!("no randomness: {e}"),
        })?;
        let mut sealed = Zeroizing::new(plaintext.to_vec());
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context),
                &mut *sealed,
            )
            .map_err(|_| SealError::KeyUnavailable {
                reason: "AES-GCM refused the record".to_owned(),
            })?;
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&sealed);
        Ok(blob)
    }

    fn open(&self, sealed: &[u8], context: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let (nonce, body) = sealed
            .split_at_checked(NONCE_LEN)
            .ok_or(SealError::DoesNotOpen)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::DoesNotOpen)?;
        let mut buffer = Zeroizing::new(body.to_vec());
        let plain_len = self
            .key
            .open_in_place(nonce, Aad::from(context), &mut buffer)
            .map_err(|_| SealError::DoesNotOpen)?
            .len();
        buffer.truncate(plain_len);
        Ok(buffer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::SoftwareSecureArea;

    #[test]
    fn the_vault_reopens_across_starts_and_nothing_opens_without_its_key() {
        let store = Store::open_in_memory().unwrap();
        let area: Arc<dyn SecureArea> = Arc::new(SoftwareSecureArea::in_memory());
        let blob = pollster::block_on(async {
            let vault = Vault::open(&area, &store, &VaultSpec::WALLET)
                .await
                .unwrap();
            let blob = vault.seal(b"my name", b"record/1").unwrap();
            assert!(!blob.windows(7).any(|w| w == b"my name"));
            assert_eq!(
                vault.open(&blob, b"record/1").unwrap().as_slice(),
                b"my name"
            );
            assert!(matches!(
                vault.open(&blob, b"record/2"),
                Err(SealError::DoesNotOpen)
            ));
            blob
        });
        pollster::block_on(async {
            let again = Vault::open(&area, &store, &VaultSpec::WALLET)
                .await
                .unwrap();
            assert_eq!(
                again.open(&blob, b"record/1").unwrap().as_slice(),
                b"my name"
            );
            // The database on a phone without the key: nothing opens.
            let elsewhere: Arc<dyn SecureArea> = Arc::new(SoftwareSecureArea::in_memory());
            assert!(matches!(
                Vault::open(&elsewhere, &store, &VaultSpec::WALLET).await,
                Err(VaultError::KeyGone)
            ));
            // A vault of another installation's key cannot open the blob.
            let other_store = Store::open_in_memory().unwrap();
            let other = Vault::open(&elsewhere, &other_store, &VaultSpec::WALLET)
                .await
                .unwrap();
            assert!(matches!(
                other.open(&blob, b"record/1"),
                Err(SealError::DoesNotOpen)
            ));
            let mut tampered = blob.clone();
            if let Some(last) = tampered.last_mut() {
                *last ^= 1;
            }
            assert!(matches!(
                again.open(&tampered, b"record/1"),
                Err(SealError::DoesNotOpen)
            ));
        });
    }
}
