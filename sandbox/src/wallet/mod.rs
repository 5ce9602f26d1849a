//! The reference J-LIS issuer of the smartphone card-substitute record
//! (issue 9; W1–W12 in `shared/spec/rules.md`).
//!
//! Everything here stands in for J-LIS's services so that the phone side can
//! be built and tested on a desktop: **never trust it outside tests**. The
//! HTTP API is described in `docs/wallet-protocol.md`; [`WalletIssuer`] is
//! the in-process form of the same operations (typed requests and answers,
//! the same idempotency rules, the same typed errors).
//!
//! - [`issuer`]: the card registry (W4), nonces, issuance (W2–W5),
//!   re-issue (W6), revocation and suspension (W7–W9), notices (Art. 8(2),
//!   8(3)), the status list, over its own SQLite store and a movable clock.
//! - [`registry`]: the signing certificate's checks, the person key, the
//!   birthday.
//! - [`http`]: the routes, the sandbox's admin routes, the served
//!   sandbox's dispatcher and an in-process [`WalletLink`].
//! - The issuer's IACA root and document signer: [`crate::iaca`].
//! - [`policy`]: the issuer's policy values.

pub mod error;
pub mod http;
pub mod issuer;
pub mod policy;
pub mod registry;

pub use error::WalletError;
pub use http::{WalletLink, handle, handle_sandbox, handle_served};
pub use issuer::{AdminRecord, CertificateRevocation, DEFAULT_BASE_URL, WalletIssuer};
pub use policy::IssuerPolicy;
