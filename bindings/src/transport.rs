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

/// The app's transport seen as the core's transport trait.
pub(crate) struct ForeignTransport(pub(crate) Arc<dyn CardTransport>);

#[async_trait::async_trait]
impl mynakit_core::CardTransport for ForeignTransport {
    fn capabilities(&self) -> mynakit_core::LinkCapabilities {
        self.0.capabilities().into()
    }

    async fn transmit(&self, command: &[u8]) -> Result<Vec<u8>, mynakit_core::TransportError> {
        self.0.transmit(command.to_vec()).await.map_err(Into::into)
    }
}
