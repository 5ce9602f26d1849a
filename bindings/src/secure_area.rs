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
    /// The user's authentication failed.
    #[error("the user's authentication failed")]
    UserAuthenticationFailed,
    /// The key needs the user's authentication and the phone has no secure
    /// lock screen (W10).
    #[error("no user authentication is set up")]
    NoUserAuthentication,
    /// The key was made for another purpose.
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
            SecureAreaError::UserAuthenticationFailed => Self::UserAuthenticationFailed,
            SecureAreaError::NoUserAuthentication => Self::NoUserAuthentication,
            SecureAreaError::WrongPurpose { alias } => Self::WrongPurpose { alias },
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
            E::UserAuthenticationFailed => Self::UserAuthenticationFailed,
            E::NoUserAuthentication => Self::NoUserAuthentication,
            E::WrongPurpose { alias } => Self::WrongPurpose { alias },
            E::Unavailable { reason } => Self::Unavailable { reason },
        }
    }
}

/// What a key is for (the core's `KeyPurpose`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum KeyPurpose {
    /// ES256 signatures.
    Sign,
    /// P-256 ECDH (the store's unwrapping key).
    KeyAgreement,
}

/// When a key asks for the user (the core's `UserAuthentication`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum UserAuthentication {
    /// Never.
    None,
    /// Before every use, no grace period (W10). Android:
    /// `setUserAuthenticationParameters(0, …)`; iOS: `.userPresence`.
    EveryUse,
}

/// Where a key lives (the core's `SecurityLevel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum SecurityLevel {
    /// Software only: never on a phone.
    Software,
    /// Android's TEE-backed Keystore.
    TrustedEnvironment,
    /// Android StrongBox.
    StrongBox,
    /// Apple's Secure Enclave.
    SecureEnclave,
}

/// How to make a key (the core's `KeySpec`).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct KeySpec {
    /// What it is for.
    pub purpose: KeyPurpose,
    /// When it asks for the user.
    pub user_authentication: UserAuthentication,
    /// Use StrongBox when present (Android).
    pub prefer_strong_box: bool,
    /// The challenge to attest over, if an attestation is asked.
    pub attestation_challenge: Option<Vec<u8>>,
}

/// What the secure area says about a key (the core's `KeyInfo`).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct KeyInfo {
    /// SEC1 uncompressed public key (65 bytes).
    pub public_key: Vec<u8>,
    /// What it is for.
    pub purpose: KeyPurpose,
    /// When it asks for the user, as the platform enforces it.
    pub user_authentication: UserAuthentication,
    /// Where it lives.
    pub security_level: SecurityLevel,
    /// Attestation certificate chain, DER, leaf first; empty when none.
    pub attestation: Vec<Vec<u8>>,
}

macro_rules! same_enum {
    ($name:ident { $($variant:ident),* }) => {
        impl From<$name> for mynakit_core::$name {
            fn from(value: $name) -> Self {
                match value { $($name::$variant => Self::$variant),* }
            }
        }
        impl From<mynakit_core::$name> for $name {
            fn from(value: mynakit_core::$name) -> Self {
                match value { $(mynakit_core::$name::$variant => Self::$variant),* }
            }
        }
    };
}

same_enum!(KeyPurpose { Sign, KeyAgreement });
same_enum!(UserAuthentication { None, EveryUse });
same_enum!(SecurityLevel {
    Software,
    TrustedEnvironment,
    StrongBox,
    SecureEnclave
});

impl From<mynakit_core::KeySpec> for KeySpec {
    fn from(spec: mynakit_core::KeySpec) -> Self {
        Self {
            purpose: spec.purpose.into(),
            user_authentication: spec.user_authentication.into(),
            prefer_strong_box: spec.prefer_strong_box,
            attestation_challenge: spec.attestation_challenge,
        }
    }
}

impl From<KeySpec> for mynakit_core::KeySpec {
    fn from(spec: KeySpec) -> Self {
        Self {
            purpose: spec.purpose.into(),
            user_authentication: spec.user_authentication.into(),
            prefer_strong_box: spec.prefer_strong_box,
            attestation_challenge: spec.attestation_challenge,
        }
    }
}

impl From<KeyInfo> for mynakit_core::KeyInfo {
    fn from(info: KeyInfo) -> Self {
        Self {
            public_key: info.public_key,
            purpose: info.purpose.into(),
            user_authentication: info.user_authentication.into(),
            security_level: info.security_level.into(),
            attestation: info.attestation,
        }
    }
}

impl From<mynakit_core::KeyInfo> for KeyInfo {
    fn from(info: mynakit_core::KeyInfo) -> Self {
        Self {
            public_key: info.public_key,
            purpose: info.purpose.into(),
            user_authentication: info.user_authentication.into(),
            security_level: info.security_level.into(),
            attestation: info.attestation,
        }
    }
}

/// P-256 keys whose private half never leaves the phone's secure hardware:
/// Android Keystore (StrongBox when present), the iOS Secure Enclave.
#[uniffi::export(with_foreign)]
#[async_trait::async_trait]
pub trait SecureArea: Send + Sync {
    /// Creates a P-256 key under `alias` as `spec` says, replacing any key
    /// of that name. Throws `NoUserAuthentication` when the spec asks for
    /// user authentication and the phone has no secure lock screen.
    async fn create_key(&self, alias: String, spec: KeySpec) -> Result<KeyInfo, SecureAreaError>;
    /// What the platform says about the key under `alias`, or none; throws
    /// `KeyInvalidated` when the platform invalidated it.
    async fn key_info(&self, alias: String) -> Result<Option<KeyInfo>, SecureAreaError>;
    /// ES256 over `message` (SHA-256 inside): raw `r‖s`, 64 bytes (not
    /// DER). A key that needs the user prompts for them first.
    async fn sign(&self, alias: String, message: Vec<u8>) -> Result<Vec<u8>, SecureAreaError>;
    /// P-256 ECDH with `peer_public_key` (SEC1): the shared x-coordinate (32
    /// bytes).
    async fn key_agreement(
        &self,
        alias: String,
        peer_public_key: Vec<u8>,
    ) -> Result<Vec<u8>, SecureAreaError>;
    /// Deletes the key under `alias`; whether there was one.
    async fn delete_key(&self, alias: String) -> Result<bool, SecureAreaError>;
}

/// The app's secure area seen as the core's.
pub(crate) struct ForeignSecureArea(pub(crate) Arc<dyn SecureArea>);

#[async_trait::async_trait]
impl mynakit_core::SecureArea for ForeignSecureArea {
    async fn create_key(
        &self,
        alias: String,
        spec: mynakit_core::KeySpec,
    ) -> Result<mynakit_core::KeyInfo, mynakit_core::SecureAreaError> {
        Ok(self.0.create_key(alias, spec.into()).await?.into())
    }

    async fn key_info(
        &self,
        alias: String,
    ) -> Result<Option<mynakit_core::KeyInfo>, mynakit_core::SecureAreaError> {
        Ok(self.0.key_info(alias).await?.map(Into::into))
    }

    async fn sign(
        &self,
        alias: String,
        message: Vec<u8>,
    ) -> Result<Vec<u8>, mynakit_core::SecureAreaError> {
        Ok(self.0.sign(alias, message).await?)
    }

    async fn key_agreement(
        &self,
        alias: String,
        peer_public_key: Vec<u8>,
    ) -> Result<Vec<u8>, mynakit_core::SecureAreaError> {
        Ok(self.0.key_agreement(alias, peer_public_key).await?)
    }

    async fn delete_key(&self, alias: String) -> Result<bool, mynakit_core::SecureAreaError> {
        Ok(self.0.delete_key(alias).await?)
    }
}
