//! The PIN-reset app's room (issue 8, rules R1–R12): what the phone does to
//! reserve a reset of the signing password or the user-authentication PIN,
//! which a kiosk then finishes within 24 hours (R5).
//!
//! - `wire`: the reset authority's wire format (`docs/reset-protocol.md`),
//!   shared with the reference authority in `mynakit-sandbox`.
//! - [`ResetClient`]: the flow, step by step, over the platform's
//!   authority link, secure area, clock and the store.

mod client;
mod error;
pub mod front;
pub mod wire;

pub use client::{
    CaptureResult, FaceCheckPrompt, INSTALLATION_KEY_ALIAS, KeptReservation, OtherSecret,
    ResetClient, ResetFlow,
};
pub use error::{Refusal, ResetError};
pub use front::{
    CardFront, Correction, FrontError, FrontField, FrontReading, MAX_FRONT_TEXT_CHARS,
};
pub use wire::{
    FRAME_HEIGHT, FRAME_WIDTH, Frame, LivenessAction, Reservation, ReservationState, ResetKind,
    StoreChain,
};
