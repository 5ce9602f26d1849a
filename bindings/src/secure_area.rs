//! The phone's secure hardware as the app provides it (Android Keystore /
//! StrongBox, the Secure Enclave), its typed failures, and its adapter to
//! the core's `SecureArea`. The reset app keeps its installation key there
//! (issue 8).

use std::sync::Arc;

/// Why the secure area did not do what was asked (thrown by `SecureArea`
/// methods in Kotlin and Swift).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
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

impl From<uniffi::UnexpectedUniFFICallbackError> for SecureAreaError {
    /// An exception the secure area threw that is not a `SecureAreaError`.
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        Self::Unavailable { reason: e.reason }
    }
}

impl From<SecureAreaError> for mynakit_core::SecureAreaError {
    fn from(e: SecureAreaError) -> Self {
        match e {
            SecureAreaError::KeyNotFound { alias } => Self::KeyNotFound { alias },
            SecureAreaError::KeyInvalidated { alias } => Self::KeyInvalidated { alias },
            SecureAreaError::UserCancelled => Self::UserCancelled,
            SecureAreaError::Unavailable { reason } => Self::Unavailable { reason },
        }
    }
}

impl From<mynakit_core::SecureAreaError> for SecureAreaError {
    fn from(e: mynakit_core::SecureAreaError) -> Self {
        use mynakit_core::SecureAreaError as E;
        match e {
            E::KeyNotFound { alias } => Self::KeyNotFound { alias },
            E::KeyInvalidated { alias } => Self::KeyInvalidated { alias },
            E::UserCancelled => Self::UserCancelled,
            E::Unavailable { reason } => Self::Unavailable { reason },
        }
    }
}

/// P-256 keys whose private half never leaves the phone's secure hardware:
/// Android Keystore (StrongBox when present), the iOS Secure Enclave.
#[uniffi::export(with_foreign)]
#[async_trait::async_trait]
pub trait SecureArea: Send + Sync {
    /// Creates a P-256 key under `alias`, replacing any key of that name,
    /// and returns its public key, SEC1 uncompressed (65 bytes, `04‖x‖y`).
    async fn create_key(&self, alias: String) -> Result<Vec<u8>, SecureAreaError>;
    /// The public key under `alias` (SEC1 uncompressed), or none.
    async fn public_key(&self, alias: String) -> Result<Option<Vec<u8>>, SecureAreaError>;
    /// ES256 over `message` (SHA-256 inside): raw `r‖s`, 64 bytes (not DER).
    async fn sign(&self, alias: String, message: Vec<u8>) -> Result<Vec<u8>, SecureAreaError>;
    /// Deletes the key under `alias`; whether there was one.
    async fn delete_key(&self, alias: String) -> Result<bool, SecureAreaError>;
}

/// The app's secure area seen as the core's.
pub(crate) struct ForeignSecureArea(pub(crate) Arc<dyn SecureArea>);

#[async_trait::async_trait]
impl mynakit_core::SecureArea for ForeignSecureArea {
    async fn create_key(&self, alias: String) -> Result<Vec<u8>, mynakit_core::SecureAreaError> {
        Ok(self.0.create_key(alias).await?)
    }

    async fn public_key(
        &self,
        alias: String,
    ) -> Result<Option<Vec<u8>>, mynakit_core::SecureAreaError> {
        Ok(self.0.public_key(alias).await?)
    }

    async fn sign(
        &self,
        alias: String,
        message: Vec<u8>,
    ) -> Result<Vec<u8>, mynakit_core::SecureAreaError> {
        Ok(self.0.sign(alias, message).await?)
    }

    async fn delete_key(&self, alias: String) -> Result<bool, mynakit_core::SecureAreaError> {
        Ok(self.0.delete_key(alias).await?)
    }
}
