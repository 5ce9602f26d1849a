//! The link to the card, implemented by the platform (NFC, PC/SC, the sandbox).

use serde::Serialize;

/// What the link between phone (or reader) and card can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LinkCapabilities {
    /// The link passes extended-length APDUs (Android `isExtendedLengthApduSupported()`).
    pub extended_length: bool,
    /// The longest command or response, status word included, the link carries
    /// (Android `getMaxTransceiveLength()`).
    pub max_transceive_length: u32,
}

impl LinkCapabilities {
    /// A link with extended length and room for a 64 KiB response.
    pub const EXTENDED: Self = Self {
        extended_length: true,
        max_transceive_length: 65_538,
    };
    /// A link limited to short APDUs.
    pub const SHORT_ONLY: Self = Self {
        extended_length: false,
        max_transceive_length: 261,
    };
}

/// Why an exchange with the card did not complete. The command may or may not
/// have reached the card.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
pub enum TransportError {
    /// The card left the field or reader (tag lost, card pulled out).
    #[error("the card was removed")]
    CardRemoved,
    /// No card is present to talk to.
    #[error("no card is present")]
    NoCard,
    /// The card did not answer in time.
    #[error("the card did not answer in time")]
    Timeout,
    /// The operation was cancelled by its caller while the command was in
    /// flight (a Kotlin coroutine or Swift task cancelled); the platform
    /// closed the link.
    #[error("the operation was cancelled while the card was answering")]
    Cancelled,
    /// Bytes came back that are no answer at all (fewer than the two bytes
    /// of a status word): the link garbled the response.
    #[error("the link returned {length} bytes, too few for a status word")]
    Garbled {
        /// Bytes received.
        length: usize,
    },
    /// The link failed in another way.
    #[error("card link failed: {message}")]
    Link {
        /// What the platform reported.
        message: String,
    },
}

/// Sends command APDUs to the card. Async because NFC stacks (CoreNFC, Kotlin
/// coroutines) are; a desktop reader can answer synchronously inside the
/// future. Object-safe: a front end holds `Arc<dyn CardTransport>`.
///
/// Dropping the future returned by [`CardTransport::transmit`] cancels the
/// exchange: an implementation must then stop the platform's exchange too
/// (close the IsoDep link, invalidate the CoreNFC session) rather than leave
/// it running unobserved.
#[async_trait::async_trait]
pub trait CardTransport: Send + Sync {
    /// What this link can carry.
    fn capabilities(&self) -> LinkCapabilities;

    /// Sends one command APDU and returns the whole response, status word included.
    async fn transmit(&self, command: &[u8]) -> Result<Vec<u8>, TransportError>;
}

#[async_trait::async_trait]
impl<T: CardTransport + ?Sized> CardTransport for &T {
    fn capabilities(&self) -> LinkCapabilities {
        (**self).capabilities()
    }

    async fn transmit(&self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        (**self).transmit(command).await
    }
}

#[async_trait::async_trait]
impl<T: CardTransport + ?Sized> CardTransport for std::sync::Arc<T> {
    fn capabilities(&self) -> LinkCapabilities {
        (**self).capabilities()
    }

    async fn transmit(&self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        (**self).transmit(command).await
    }
}

#[async_trait::async_trait]
impl<T: CardTransport + ?Sized> CardTransport for Box<T> {
    fn capabilities(&self) -> LinkCapabilities {
        (**self).capabilities()
    }

    async fn transmit(&self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        (**self).transmit(command).await
    }
}
