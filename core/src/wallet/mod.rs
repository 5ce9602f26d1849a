//! The smartphone card-substitute record (カード代替電磁的記録, issue 9):
//! the holder's card information as an ISO/IEC 18013-5 mdoc signed by the
//! issuer (J-LIS), bound to a device key in the phone's secure area
//! (W1), applied for with the card's signing key (W2–W4), valid one month
//! (W5), re-issued without the card (W6), revocable and suspendable
//! (W7–W9), presented with the user's authentication (W10).
//!
//! - [`wire`]: the issuer's HTTP bodies and signed messages (shared with
//!   the reference issuer in `mynakit-sandbox`).
//! - [`policy`]: the numbers no document fixes, each a documented choice.

pub mod client;
pub mod error;
pub mod mdoc;
pub mod policy;
pub mod status_list;
pub mod trust;
pub mod verifier;
pub mod wire;

pub use client::{Notices, RefreshReport, Reissued, WalletApplication, WalletClient, WalletRecord};
pub use error::{ApplySecret, ReapplyReason, WalletError, WalletRefusal};
pub use policy::validity_of_record_issued_at;
