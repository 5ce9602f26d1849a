//! Why a sandbox card could not be built. Building happens once, from a
//! configuration the test author wrote; the running card never errors (it
//! answers status words instead).

/// A configuration the real card could not have, or a certificate that could
/// not be issued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SandboxError {
    /// A configured value breaks the card's rules.
    #[error("invalid card configuration: {field}: {reason}")]
    InvalidConfig {
        /// Which field.
        field: &'static str,
        /// Which rule it breaks.
        reason: String,
    },
    /// The sandbox CA failed to build or sign a certificate.
    #[error("certificate issuance failed: {0}")]
    Issuance(String),
    /// Signing a data record failed.
    #[error("record signing failed: {0}")]
    Signing(String),
}

impl SandboxError {
    pub(crate) fn config(field: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidConfig {
            field,
            reason: reason.into(),
        }
    }
}
