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

pub(super) fn sweep(_tx: &Transaction<'_>, _now: DateTime<Utc>) -> Result<(), PortalError> {
    Ok(())
}

/// P7: refuses a state change while `person` has not agreed to the terms
/// version in force (`terms_not_agreed` with that version).
pub(crate) fn require_current_terms(
    _tx: &Transaction<'_>,
    _person: &str,
) -> Result<(), PortalError> {
    Ok(())
}

/// S1: the value of one self-information item of `person`, as a consent
/// delivers it to a service.
pub(crate) fn self_information(
    _tx: &Transaction<'_>,
    _person: &str,
    _item: mynakit_core::portal::wire::DataItem,
    _now: DateTime<Utc>,
) -> Result<serde_json::Value, PortalError> {
    Err(PortalError::NotFound)
}
