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

pub(crate) fn principal_for(
    _tx: &Transaction<'_>,
    _agent: &str,
    _grant: &str,
    _needs: mynakit_core::portal::wire::AgentScope,
) -> Result<String, PortalError> {
    Err(PortalError::OutsideAgentScope)
}
