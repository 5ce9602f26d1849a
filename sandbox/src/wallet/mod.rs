//! The reference J-LIS issuer of the smartphone card-substitute record
//! (issue 9; W1–W12 in `shared/spec/rules.md`).
//!
//! Everything here stands in for J-LIS's services so that the phone side can
//! be built and tested on a desktop: **never trust it outside tests**.
//!
//! - [`registry`]: the signing certificate's checks, the person key, the
//!   birthday.
//! - [`policy`]: the issuer's policy values.

pub mod error;
pub mod policy;
pub mod registry;

pub use error::WalletError;
pub use policy::IssuerPolicy;
