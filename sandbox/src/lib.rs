//! MynaKit sandbox: a software My Number card and the CA behind it.
//!
//! [`VirtualCard`] answers APDUs like the real card does — the JPKI,
//! Kenhojo and Kenmen applications with their files, PINs, retry counters
//! and signatures — byte for byte where the facts in
//! `shared/spec/card-protocol.md` say so. [`VirtualTransport`] puts it
//! behind a [`mynakit_core::CardTransport`] with the faults of a phone's NFC
//! link (no extended length, transceive limits, a card pulled away before
//! or after it acted). [`SandboxCa`] issues the card's certificates from two
//! self-signed roots shaped like the JPKI ones; [`Sandbox::trust_anchors`]
//! is what an app pins to accept them. [`VpcdCard`] serves the card to a
//! real pcscd through vsmartcard's vpcd, writing a card-side transcript
//! ([`card_transcript`]) if asked.
//!
//! Everything here uses **test keys** committed in `sandbox/fixtures/`:
//! never trust them outside tests.
//!
//! ```
//! use mynakit_sandbox::{LinkSwitches, Sandbox};
//! use mynakit_core::CardTransport;
//!
//! let sandbox = Sandbox::new();
//! let transport = sandbox.transport(LinkSwitches::default());
//! let select = [0x00, 0xA4, 0x04, 0x0C, 0x0A, 0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01];
//! assert_eq!(transport.exchange(&select).unwrap(), [0x90, 0x00]);
//! ```

pub mod ca;
pub mod card;
pub mod card_state;
pub mod card_transcript;
pub mod era;
pub mod error;
mod files;
pub mod fixtures;
pub mod holder;
pub mod iaca;
pub mod portal;
pub mod records;
pub mod reset;
pub mod served;
pub mod transport;
pub mod vpcd;
pub mod wallet;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use mynakit_core::TrustAnchors;

pub use ca::{Hierarchy, SandboxCa};
pub use card::{ATR, KioskResetError, KioskTarget, VirtualCard};
pub use card_transcript::{TranscriptEntry, TranscriptWriter};
pub use error::SandboxError;
pub use holder::{CardConfig, CardSecrets, FaceImages, Holder, Tries};
pub use transport::{LinkSwitches, Removal, RemovalPoint, VirtualTransport};
pub use vpcd::{Ending, VpcdCard, VpcdError};

/// One virtual card, shareable by several transports (a session that
/// reconnects, or two apps racing for the card).
#[derive(Debug, Clone)]
pub struct Sandbox {
    card: Arc<Mutex<VirtualCard>>,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    /// The sample holder's card.
    pub fn new() -> Self {
        Self::from_card(VirtualCard::sample())
    }

    /// A card built from `config`.
    pub fn with_config(config: CardConfig) -> Result<Self, SandboxError> {
        Ok(Self::from_card(VirtualCard::new(config)?))
    }

    /// Wraps an already built card.
    pub fn from_card(card: VirtualCard) -> Self {
        Self {
            card: Arc::new(Mutex::new(card)),
        }
    }

    /// A new link to this card. Each transport counts its own exchanges.
    pub fn transport(&self, switches: LinkSwitches) -> VirtualTransport {
        VirtualTransport::new(Arc::clone(&self.card), switches)
    }

    /// The card, for inspection (counters, commands received, certificates).
    /// Do not hold the guard across a transport exchange: it would deadlock.
    pub fn card(&self) -> MutexGuard<'_, VirtualCard> {
        self.card.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The shared handle to the card.
    pub fn shared_card(&self) -> Arc<Mutex<VirtualCard>> {
        Arc::clone(&self.card)
    }

    /// The CA keys of the card's card-verifiable certificates (Kenmen and
    /// Kenhojo EF 0004), as an app pins the production ones.
    pub fn cv_issuer_keys(&self) -> Vec<mynakit_core::CvIssuerKey> {
        fixtures::cv_issuer_keys()
    }

    /// The two sandbox roots as configured trust anchors.
    pub fn trust_anchors(&self) -> TrustAnchors {
        SandboxCa::fixture().trust_anchors()
    }
}
