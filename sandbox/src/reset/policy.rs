//! What kind of reset, which store chains can finish it (R6), and the
//! authority's policy values.
//!
//! Where the rules give a number it is cited; every other number here is a
//! **policy value of ours** with a documented default, not an official one.

use chrono::TimeDelta;
use serde::{Deserialize, Serialize};

/// Which secret the reservation resets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResetKind {
    /// The signing password (署名用パスワード, 6–16 characters): needs the
    /// card, a face check (R2) and the user-authentication PIN (R4).
    SigningPassword,
    /// The user-authentication PIN (利用者証明用パスワード, 4 digits): needs
    /// the card (R3) and the signing password (R4).
    AuthPin,
}

impl ResetKind {
    /// The name used in the API and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SigningPassword => "signing_password",
            Self::AuthPin => "auth_pin",
        }
    }

    /// The inverse of [`ResetKind::as_str`].
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "signing_password" => Some(Self::SigningPassword),
            "auth_pin" => Some(Self::AuthPin),
            _ => None,
        }
    }

    /// True when the reservation needs a face-check token (R2, R3).
    pub fn needs_face_check(self) -> bool {
        matches!(self, Self::SigningPassword)
    }
}

/// A store chain with reset kiosks (R6, the reset service's store list).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreChain {
    /// Seven-Eleven: both kinds.
    SevenEleven,
    /// AEON Retail (Honshu/Shikoku): both kinds.
    AeonRetail,
    /// AEON Hokkaido (some stores): both kinds.
    AeonHokkaido,
    /// AEON Tohoku (some stores): both kinds.
    AeonTohoku,
    /// Fuji (some stores, Chugoku/Shikoku): both kinds.
    Fuji,
    /// Lawson: the signing password only.
    Lawson,
    /// FamilyMart: the signing password only.
    FamilyMart,
    /// Ministop: the signing password only.
    Ministop,
    /// Daiei (some stores): the signing password only.
    Daiei,
}

impl StoreChain {
    /// Every chain of the store list, in its order.
    pub const ALL: [StoreChain; 9] = [
        Self::SevenEleven,
        Self::AeonRetail,
        Self::AeonHokkaido,
        Self::AeonTohoku,
        Self::Fuji,
        Self::Lawson,
        Self::FamilyMart,
        Self::Ministop,
        Self::Daiei,
    ];

    /// True when this chain's kiosks finish a reset of `kind` (R6).
    pub fn resets(self, kind: ResetKind) -> bool {
        match kind {
            ResetKind::SigningPassword => true,
            ResetKind::AuthPin => matches!(
                self,
                Self::SevenEleven
                    | Self::AeonRetail
                    | Self::AeonHokkaido
                    | Self::AeonTohoku
                    | Self::Fuji
            ),
        }
    }

    /// The chains that finish `kind` (R6).
    pub fn for_kind(kind: ResetKind) -> Vec<StoreChain> {
        Self::ALL.into_iter().filter(|c| c.resets(kind)).collect()
    }

    /// True for the chains where only some stores have a kiosk (R6 says
    /// "some stores"): apps should say so.
    pub fn partial(self) -> bool {
        matches!(
            self,
            Self::AeonHokkaido | Self::AeonTohoku | Self::Fuji | Self::Daiei
        )
    }
}

/// The authority's numbers. Only `reservation_lifetime` (R5) comes from the
/// rules; the rest are policy values (R11 says the block count is not
/// published; the session numbers follow the liveness services in
/// `app-protocols.md` §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// How long after opening the capture may start (default 180 s).
    pub start_deadline: TimeDelta,
    /// How long a face-check session lives at most (default 300 s).
    pub hard_cap: TimeDelta,
    /// Capture attempts per session (default 3).
    pub max_attempts: u32,
    /// Liveness actions asked per session (default 3; at least 3).
    pub actions: usize,
    /// Frames a capture may carry at most (default 32): bounds the work.
    pub max_frames: usize,
    /// Face-check token lifetime (default 300 s after `iat`).
    pub token_lifetime: TimeDelta,
    /// Server challenge lifetime (default 300 s).
    pub challenge_lifetime: TimeDelta,
    /// Reservation lifetime: 24 hours (R5, reset terms Art. 6(6)).
    pub reservation_lifetime: TimeDelta,
    /// Failures that lock a device or a card out (default 5; R11).
    pub lockout_failures: u32,
    /// The window those failures must fall in (default 3 minutes).
    pub lockout_window: TimeDelta,
    /// How long the lock-out lasts (default 30 minutes).
    pub lockout_duration: TimeDelta,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            start_deadline: TimeDelta::seconds(180),
            hard_cap: TimeDelta::seconds(300),
            max_attempts: 3,
            actions: 3,
            max_frames: 32,
            token_lifetime: TimeDelta::seconds(300),
            challenge_lifetime: TimeDelta::seconds(300),
            reservation_lifetime: TimeDelta::hours(24),
            lockout_failures: 5,
            lockout_window: TimeDelta::minutes(3),
            lockout_duration: TimeDelta::minutes(30),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r6_the_pin_only_at_seven_eleven_aeon_and_fuji() {
        let pin: Vec<_> = StoreChain::for_kind(ResetKind::AuthPin);
        assert_eq!(
            pin,
            [
                StoreChain::SevenEleven,
                StoreChain::AeonRetail,
                StoreChain::AeonHokkaido,
                StoreChain::AeonTohoku,
                StoreChain::Fuji
            ]
        );
        assert_eq!(StoreChain::for_kind(ResetKind::SigningPassword).len(), 9);
        assert!(!StoreChain::Lawson.resets(ResetKind::AuthPin));
        assert!(StoreChain::Lawson.resets(ResetKind::SigningPassword));
    }

    #[test]
    fn r5_reservations_live_24_hours() {
        assert_eq!(Policy::default().reservation_lifetime, TimeDelta::hours(24));
    }
}
