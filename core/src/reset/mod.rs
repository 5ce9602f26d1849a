//! The PIN-reset app's room (issue 8, rules R1–R12): what the phone does to
//! reserve a reset of the signing password or the user-authentication PIN,
//! which a kiosk then finishes within 24 hours.

pub mod front;
pub mod wire;
pub use front::{
    CardFront, Correction, FrontError, FrontField, FrontReading, MAX_FRONT_TEXT_CHARS,
};
