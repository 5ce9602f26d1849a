//! MynaKit core: talks to the My Number card over a platform transport.
//!
//! Pure Rust, no platform code: NFC, PC/SC, key storage, network and clock
//! come in through traits the platform implements ([`CardTransport`] today).
//!
//! A session is a [`CardChannel`] over a transport; the card's applications
//! are views on it: [`Jpki`], [`Kenhojo`], [`Kenmen`].

pub mod apdu;
pub mod cert;
pub mod channel;
pub mod check_code;
pub mod era;
pub mod error;
pub mod jpki;
pub mod kenhojo;
pub mod kenmen;
pub mod layout;
pub mod period;
pub mod person;
pub mod pin;
pub mod records;
pub mod status;
pub mod transcript;
pub mod transport;
pub mod verify;

pub use channel::CardChannel;
pub use error::CardError;
pub use jpki::Jpki;
pub use kenhojo::Kenhojo;
pub use kenmen::Kenmen;
pub use transport::{CardTransport, LinkCapabilities, TransportError};

impl<T: CardTransport> CardChannel<T> {
    /// The JPKI application of this session.
    pub fn jpki(&mut self) -> Jpki<'_, T> {
        Jpki::new(self)
    }

    /// The Kenhojo application of this session.
    pub fn kenhojo(&mut self) -> Kenhojo<'_, T> {
        Kenhojo::new(self)
    }

    /// The Kenmen application of this session.
    pub fn kenmen(&mut self) -> Kenmen<'_, T> {
        Kenmen::new(self)
    }
}
