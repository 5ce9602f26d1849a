//! The reference kiosk (R1, R4, R5, R6): at a store of a chain, the user
//! taps the card, enters the other secret and sets the new one. The kiosk
//! asks the authority for the card's live reservation
//! (`POST /v1/kiosk/lookups`), the card checks the other secret and takes
//! the new one through the sandbox's privileged command
//! ([`crate::VirtualCard::kiosk_reset`], standing in for J-LIS's secure
//! channel), and only then is the reservation redeemed
//! (`POST /v1/kiosk/redemptions`, idempotent).
//!
//! The kiosk talks to the authority through an [`AuthorityLink`], as a
//! phone does: [`super::InProcessLink`] in process, `mynakit-http` to a
//! served sandbox. Kiosk authentication (J-LIS's real kiosk channel) is not
//! modelled: the sandbox authority trusts the caller to be a kiosk.

use std::sync::Arc;

use mynakit_core::{
    AuthorityError, AuthorityLink, AuthorityRequest, AuthorityResponse, Clock, IdempotencyKey,
    SystemClock,
};
use serde::de::DeserializeOwned;

use super::authority::ResetError;
use super::http::{KioskLookup, KioskRedemption};
use super::policy::{ResetKind, StoreChain};
use crate::card::{KioskResetError, KioskTarget, VirtualCard};
use mynakit_core::reset::wire::Reservation;

/// The lookup route.
pub const LOOKUP_PATH: &str = "/v1/kiosk/lookups";
/// The redemption route.
pub const REDEMPTION_PATH: &str = "/v1/kiosk/redemptions";

/// Why the kiosk did not reset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KioskError {
    /// The authority refused (no live reservation, past 24 h, wrong chain,
    /// redeemed already …): its typed answer.
    #[error(transparent)]
    Authority(#[from] ResetError),
    /// No answer from the authority, or one the kiosk cannot use: it could
    /// not be reached, did not answer in time, is out of service (503) or
    /// limits requests (429), or refused with a body that is not the API's.
    #[error(transparent)]
    Link(AuthorityError),
    /// A success whose body is not what the API promises.
    #[error("the authority's answer is not a reservation: {reason}")]
    BadAnswer {
        /// What did not parse.
        reason: String,
    },
    /// The card took the new secret but the redemption was not confirmed
    /// (`cause`): the card's new secret stands and the reservation may
    /// still be live. Confirm again ([`Kiosk::confirm`], the same key) or
    /// redeem again with the new secret as the one set.
    #[error(
        "the card took the new secret, but the redemption of {reservation_id} was not confirmed: {cause}"
    )]
    Unconfirmed {
        /// The reservation the card was reset for.
        reservation_id: String,
        /// Why the confirmation failed.
        cause: Box<KioskError>,
    },
    /// The card refused (wrong other secret …); the reservation stays live.
    #[error(transparent)]
    Card(#[from] KioskResetError),
    /// The card has no signing certificate (a child's card).
    #[error("the card has no signing certificate")]
    NoSigningCertificate,
    /// The system's random source failed (no idempotency key could be made).
    #[error("{0}")]
    Random(String),
}

/// A kiosk of one store chain.
pub struct Kiosk {
    link: Arc<dyn AuthorityLink>,
    clock: Arc<dyn Clock>,
    chain: StoreChain,
}

impl std::fmt::Debug for Kiosk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kiosk")
            .field("chain", &self.chain)
            .finish_non_exhaustive()
    }
}

impl Kiosk {
    /// A kiosk of `chain` talking to the authority over `link`.
    pub fn new(link: Arc<dyn AuthorityLink>, chain: StoreChain) -> Self {
        Self {
            link,
            clock: Arc::new(SystemClock),
            chain,
        }
    }

    /// A kiosk of `chain` talking to `authority` in process, through the
    /// same routes a served sandbox answers ([`super::InProcessLink`]).
    pub fn in_process(authority: Arc<super::ResetAuthority>, chain: StoreChain) -> Self {
        Self::new(Arc::new(super::InProcessLink::new(authority)), chain)
    }

    /// The kiosk's clock, which only measures a `Retry-After` date sent
    /// without a `Date` (the authority's clock decides every expiry, R5).
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The kiosk's store chain.
    pub fn chain(&self) -> StoreChain {
        self.chain
    }

    /// Resets `kind` on `card`: `other` is the secret the user still knows
    /// (R4), `new` the one to set. In this order: the card's live
    /// reservation is looked up (the authority refuses past 24 h, R5, or at
    /// a chain that does not reset the kind, R6), the card checks `other`
    /// and takes `new`, and only then is the reservation redeemed; `key`
    /// makes the redemption idempotent.
    pub async fn redeem(
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
        let reservation = self.lookup(&certificate, kind).await?;
        let target = match kind {
            ResetKind::SigningPassword => KioskTarget::SigningPassword,
            ResetKind::AuthPin => KioskTarget::AuthPin,
        };
        card.kiosk_reset(target, other, new)?;
        self.confirm(&reservation.id, key)
            .await
            .map_err(|cause| KioskError::Unconfirmed {
                reservation_id: reservation.id.clone(),
                cause: Box::new(cause),
            })
    }

    /// The live reservation of `kind` for the card with `certificate`, if
    /// this chain may finish it. Changes nothing.
    pub async fn lookup(
        &self,
        certificate: &[u8],
        kind: ResetKind,
    ) -> Result<Reservation, KioskError> {
        let body = KioskLookup {
            certificate: certificate.to_vec(),
            kind,
            chain: self.chain,
        };
        // A lookup changes nothing; the key is there because every POST
        // carries one, and the authority does not keep it.
        let key = IdempotencyKey::generate().map_err(|e| KioskError::Random(e.to_string()))?;
        self.post(LOOKUP_PATH, &body, &key).await
    }

    /// Marks the reservation `id` redeemed at this chain (once the card took
    /// the new secret); a retry with the same `key` gets the same answer.
    pub async fn confirm(&self, id: &str, key: &IdempotencyKey) -> Result<Reservation, KioskError> {
        let body = KioskRedemption {
            reservation_id: id.to_owned(),
            chain: self.chain,
        };
        self.post(REDEMPTION_PATH, &body, key).await
    }

    async fn post<B: serde::Serialize, A: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        key: &IdempotencyKey,
    ) -> Result<A, KioskError> {
        let bytes = serde_json::to_vec(body).map_err(|e| KioskError::BadAnswer {
            reason: format!("the request did not encode: {e}"),
        })?;
        let request =
            AuthorityRequest::post(path, bytes, key).header("Content-Type", "application/json");
        let response = mynakit_core::authority::send(self.link.as_ref(), request, &*self.clock)
            .await
            .map_err(refusal)?;
        serde_json::from_slice(&response.body).map_err(|e| KioskError::BadAnswer {
            reason: e.to_string(),
        })
    }
}

/// A refusal with the API's typed body becomes that error; anything else
/// stays the link's.
fn refusal(error: AuthorityError) -> KioskError {
    match error {
        AuthorityError::Refused(AuthorityResponse { ref body, .. }) => {
            match serde_json::from_slice::<ResetError>(body) {
                Ok(typed) => KioskError::Authority(typed),
                Err(_) => KioskError::Link(error),
            }
        }
        other => KioskError::Link(other),
    }
}
