//! What kind of reset, which store chains can finish it (R6), and the
//! authority's policy values.
//!
//! Where the rules give a number it is cited; every other number here is a
//! **policy value of ours** with a documented default, not an official one.

use chrono::TimeDelta;
pub use mynakit_core::reset::wire::{ResetKind, StoreChain};

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
    /// Server challenge lifetime (default 600 s: the challenge is fetched
    /// before the tap and spent after the face check, whose session may last
    /// 300 s).
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
            challenge_lifetime: TimeDelta::seconds(600),
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
