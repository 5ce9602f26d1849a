//! The seam for personal data at rest: the store writes personal data only
//! as blobs sealed by a [`SealingKey`], which the platform provides from its
//! secure area (Android Keystore / StrongBox, iOS Secure Enclave or
//! Keychain). The key arrives with the wallet issue; until then the store
//! has no way to write personal data in the clear at all.

use zeroize::Zeroizing;

/// Encrypts and authenticates personal data for the store (an AEAD such as
/// AES-256-GCM under a key that never leaves the phone's secure area).
///
/// `context` names the record the blob belongs to; an implementation must
/// authenticate it (as AEAD associated data), so that a blob moved to
/// another record fails to open.
pub trait SealingKey: Send + Sync {
    /// Seals `plaintext` for the record named by `context`.
    fn seal(&self, plaintext: &[u8], context: &[u8]) -> Result<Vec<u8>, SealError>;

    /// Opens a blob sealed for `context`; fails if it was sealed for another
    /// context, by another key, or changed.
    fn open(&self, sealed: &[u8], context: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError>;
}

/// Why sealing or opening failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The blob does not open under this key and context (changed, moved,
    /// or sealed by a key that was since replaced).
    #[error("the sealed record does not open")]
    DoesNotOpen,
    /// The secure area cannot be used now (locked phone, key invalidated by a
    /// biometric change).
    #[error("the secure area is unavailable: {reason}")]
    KeyUnavailable {
        /// What the platform reported.
        reason: String,
    },
}
