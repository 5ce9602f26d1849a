//! The Mynaportal-style app (issue 10): login with the card's
//! authentication key (P2) as an OpenID Connect code flow with PKCE,
//! the health-insurance registration (P1, P3, P4, P7), the holder's
//! certificate standing (§6, app-protocols §7), consents for the
//! self-information API (S1) and agents (P5).
//!
//! - [`wire`]: the portal's HTTP bodies and the message the card signs
//!   (shared with the reference portal in `mynakit-sandbox`).
//! - [`policy`]: the numbers, official ones marked, the rest documented
//!   choices.

pub mod client;
pub mod error;
mod features;
pub mod policy;
pub mod wire;

pub use client::{LoginFlow, PortalClient, Session};
pub use error::{IdTokenError, PortalError, PortalRefusal};
pub use features::RecordedAgreement;
