//! The card transport the app implements (IsoDep on Android, CoreNFC on
//! iOS), and its adapter to the core's transport trait.

use std::sync::Arc;

use crate::error::TransportFailure;

/// What the link between phone and card can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct LinkCapabilities {
    /// The link passes extended-length APDUs (Android:
    /// `isExtendedLengthApduSupported()` and a `maxTransceiveLength` above
    /// 261; iOS: always).
    pub extended_length: bool,
    /// The longest command or response, status word included, the link
    /// carries (Android `maxTransceiveLength`; iOS 65538).
    pub max_transceive_length: u32,
}

impl From<LinkCapabilities> for mynakit_core::LinkCapabilities {
    fn from(c: LinkCapabilities) -> Self {
        Self {
            extended_length: c.extended_length,
            max_transceive_length: c.max_transceive_length,
        }
    }
}

impl From<mynakit_core::LinkCapabilities> for LinkCapabilities {
    fn from(c: mynakit_core::LinkCapabilities) -> Self {
        Self {
            extended_length: c.extended_length,
            max_transceive_length: c.max_transceive_length,
        }
    }
}

/// Sends command APDUs to the card: the one thing a platform implements.
/// One call at a time per session; the session never resends a command.
#[uniffi::export(with_foreign)]
#[async_trait::async_trait]
pub trait CardTransport: Send + Sync {
    /// Sends one command APDU and returns the whole response, status word
    /// included. Throw `TransportFailure.CardRemoved` when the tag is lost.
    async fn transmit(&self, command: Vec<u8>) -> Result<Vec<u8>, TransportFailure>;

    /// What this link can carry. Read once, when a session opens; must not
    /// throw.
    fn capabilities(&self) -> LinkCapabilities;
}

/// The link a session talks through: the app's transport, or (test builds
/// only) the sandbox virtual card directly, with no foreign call per APDU.
pub(crate) enum Link {
    /// A transport implemented in Kotlin or Swift.
    Foreign(Arc<dyn CardTransport>),
    /// The sandbox card, for the Rust-only benchmark path.
    #[cfg(feature = "sandbox")]
    Virtual(mynakit_sandbox::VirtualTransport),
}

impl mynakit_core::CardTransport for Link {
    fn capabilities(&self) -> mynakit_core::LinkCapabilities {
        match self {
            Self::Foreign(transport) => transport.capabilities().into(),
            #[cfg(feature = "sandbox")]
            Self::Virtual(transport) => transport.capabilities(),
        }
    }

    async fn transmit(&self, command: &[u8]) -> Result<Vec<u8>, mynakit_core::TransportError> {
        match self {
            Self::Foreign(transport) => transport
                .transmit(command.to_vec())
                .await
                .map_err(Into::into),
            #[cfg(feature = "sandbox")]
            Self::Virtual(transport) => transport.transmit(command).await,
        }
    }
}
