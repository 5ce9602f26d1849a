//! PLACEHOLDER — being written (issue 10): replace this whole file.

use chrono::{DateTime, Utc};
use rusqlite::Transaction;

use super::PortalAuthority;
use super::error::PortalError;
use super::http::{Request, Route};

pub(super) const SCHEMA: &str = "";

pub(super) fn route(_portal: &PortalAuthority, _request: &Request<'_>, _admin: bool) -> Route {
    None
}

pub(super) fn seed(_tx: &Transaction<'_>, _now: DateTime<Utc>) -> Result<(), PortalError> {
    Ok(())
}

/// The sample card's holder (the sandbox's `CardConfig::sample()`).
pub const SAMPLE_PERSON: &str = "person-sample";
/// A second holder, the sample agent (P5).
pub const AGENT_PERSON: &str = "person-agent";

/// One authentication certificate in J-LIS's directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateRow {
    /// Serial, lowercase hex.
    pub serial: String,
    /// The person it was issued to.
    pub person: String,
    /// Validity start.
    pub not_before: DateTime<Utc>,
    /// Validity end.
    pub not_after: DateTime<Utc>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
    /// The serial it replaced (旧番号), if a renewal.
    pub previous_serial: Option<String>,
}

/// The person's newest authentication certificate.
pub(crate) fn latest_certificate(
    _tx: &Transaction<'_>,
    _person: &str,
) -> Result<Option<CertificateRow>, PortalError> {
    Ok(None)
}

/// Revokes every certificate of `person` (the card was returned, §6
/// reason 3); returns how many.
pub(crate) fn revoke_person_certificates(
    _tx: &Transaction<'_>,
    _person: &str,
    _now: DateTime<Utc>,
) -> Result<u64, PortalError> {
    Ok(0)
}
