//! The reference kiosk (R1, R5, R6): at a store of a chain, the user taps
//! the card, enters the other secret and sets the new one; the kiosk finds
//! the card's live reservation, the card takes the new secret through the
//! sandbox's privileged command ([`crate::VirtualCard::kiosk_reset`],
//! standing in for J-LIS's secure channel), and the reservation is
//! redeemed.

use mynakit_core::IdempotencyKey;

use super::authority::{ResetAuthority, ResetError};
use super::policy::{ResetKind, StoreChain};
use crate::card::{KioskResetError, KioskTarget, VirtualCard};
use mynakit_core::reset::wire::Reservation;

/// Why the kiosk did not reset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KioskError {
    /// The authority refused (no live reservation, past 24 h, wrong chain,
    /// redeemed already …).
    #[error(transparent)]
    Authority(#[from] ResetError),
    /// The card refused (wrong other secret …); the reservation stays live.
    #[error(transparent)]
    Card(#[from] KioskResetError),
    /// The card has no signing certificate (a child's card).
    #[error("the card has no signing certificate")]
    NoSigningCertificate,
}

/// A kiosk of one store chain.
#[derive(Debug)]
pub struct Kiosk<'a> {
    authority: &'a ResetAuthority,
    chain: StoreChain,
}

impl<'a> Kiosk<'a> {
    /// A kiosk of `chain` talking to `authority`.
    pub fn new(authority: &'a ResetAuthority, chain: StoreChain) -> Self {
        Self { authority, chain }
    }

    /// Resets `kind` on `card`: `other` is the secret the user still knows
    /// (R4), `new` the one to set. The reservation is redeemed only once the
    /// card took the new secret; `key` makes the redemption idempotent.
    pub fn redeem(
        &self,
        card: &mut VirtualCard,
        kind: ResetKind,
        other: &str,
        new: &str,
        key: &IdempotencyKey,
    ) -> Result<Reservation, KioskError> {
        // The kiosk identifies the card by the certificate of the key the
        // reservation was made with (R4), as the authority recorded it.
        let certificate = match kind {
            ResetKind::SigningPassword => card.auth_certificate().der().to_vec(),
            ResetKind::AuthPin => card
                .signing_certificate()
                .ok_or(KioskError::NoSigningCertificate)?
                .der()
                .to_vec(),
        };
        let reservation = self.authority.redeemable(&certificate, kind, self.chain)?;
        let target = match kind {
            ResetKind::SigningPassword => KioskTarget::SigningPassword,
            ResetKind::AuthPin => KioskTarget::AuthPin,
        };
        card.kiosk_reset(target, other, new)?;
        Ok(self
            .authority
            .confirm_redeemed(key, &reservation.id, self.chain)?)
    }
}
