//! The card: APDUs and status words, the session channel and its transcript,
//! the PIN guard, and the card's three applications (JPKI, Kenhojo, Kenmen)
//! with their records. It knows nothing of the apps built on it.

pub(crate) mod apdu;
pub(crate) mod ber;
pub(crate) mod channel;
pub(crate) mod check_code;
pub(crate) mod cv;
pub(crate) mod error;
pub(crate) mod jpki;
pub(crate) mod kenhojo;
pub(crate) mod kenmen;
pub mod layout;
pub(crate) mod pin;
pub(crate) mod records;
pub(crate) mod status;
pub(crate) mod transcript;
pub(crate) mod verify;

use crate::platform::CardTransport;

impl<T: CardTransport> channel::CardChannel<T> {
    /// The JPKI application of this session.
    pub fn jpki(&mut self) -> jpki::Jpki<'_, T> {
        jpki::Jpki::new(self)
    }

    /// The Kenhojo application of this session.
    pub fn kenhojo(&mut self) -> kenhojo::Kenhojo<'_, T> {
        kenhojo::Kenhojo::new(self)
    }

    /// The Kenmen application of this session.
    pub fn kenmen(&mut self) -> kenmen::Kenmen<'_, T> {
        kenmen::Kenmen::new(self)
    }
}
