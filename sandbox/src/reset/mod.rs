//! The reference reset authority and kiosk of issue 8 (JPKI PIN reset).
//!
//! Everything here stands in for J-LIS's services so that the phone side can
//! be built and tested on a desktop: **never trust it outside tests**. The
//! HTTP API it implements is described in `docs/reset-protocol.md`; this
//! module is the in-process form of the same operations (typed requests and
//! answers, the same idempotency rules, the same typed errors).
//!
//! - [`ResetAuthority`]: face-check sessions, face-check tokens (CWT in
//!   COSE_Sign1, ES256), server challenges, reservations (R1–R7, R10, R11),
//!   with its own SQLite store and a clock that tests move.
//! - [`FaceVerifier`] and [`ReferenceFaceVerifier`]: pass/fail on the chip
//!   photo against camera frames plus liveness evidence (R2).
//! - [`SandboxCamera`]: frames of a holder performing the asked actions.
//! - [`Kiosk`]: redeems a reservation with the card (R5, R6), over an
//!   `AuthorityLink` like a phone (the `/v1/kiosk/…` routes).

pub mod authority;
pub mod camera;
pub mod clock;
pub mod face;
pub mod http;
pub mod kiosk;
pub mod policy;
pub mod token;
pub mod wire;

pub use authority::{ResetAuthority, ResetError};
pub use camera::{CameraSubject, SandboxCamera};
pub use clock::SandboxClock;
pub use face::{
    FRAME_HEIGHT, FRAME_WIDTH, FaceFailure, FaceVerdict, FaceVerifier, Frame, LivenessAction,
    LivenessChallenge, ReferenceFaceVerifier,
};
pub use http::{
    InProcessLink, KioskLookup, KioskRedemption, MaintenanceBody, handle, handle_sandbox,
};
pub use kiosk::{Kiosk, KioskError};
pub use mynakit_core::reset::wire::{
    CaptureOutcome, CaptureRequest, Challenge, OpenSessionRequest, Reservation, ReservationState,
    ReserveRequest, SessionOpened, cancel_message, capture_message, reservation_card_message,
    reservation_message,
};
pub use policy::{Policy, ResetKind, StoreChain};
pub use token::{FaceCheckClaims, TokenError, TokenIssuer};
