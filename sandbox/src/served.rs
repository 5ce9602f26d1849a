//! The whole served sandbox (`mynakit sandbox serve`): the reset authority
//! (issue 8), the wallet issuer (issue 9) and the portal (issue 10) on one
//! clock, as one function from a request's parts to an answer, so a test
//! can call exactly what the CLI serves.
//!
//! - `/v1/wallet…`, `/v1/sandbox/wallet/…`: the wallet issuer;
//! - the portal's paths ([`crate::portal::http::is_portal_path`]: OpenID
//!   discovery, `/v1/portal…`, `/v1/services/…`, its sandbox admin): the
//!   portal;
//! - everything else: the reset authority and the sandbox controls.
//!   `POST /v1/sandbox/clock/advance` moves the one clock all three read;
//!   a maintenance window opened by `POST /v1/sandbox/maintenance` closes
//!   all three (W12, P6).

use mynakit_core::{AuthorityResponse, IDEMPOTENCY_KEY_HEADER};

use crate::portal::PortalAuthority;
use crate::reset::{MaintenanceBody, ResetAuthority, SandboxClock};
use crate::wallet::WalletIssuer;

/// Answers one request of the served sandbox. `method` is upper case,
/// `target` the path with its query; `clock` is the clock the three
/// authorities were built on.
#[allow(clippy::too_many_arguments)] // The three authorities and a request's parts.
pub fn handle_served(
    reset_authority: &ResetAuthority,
    wallet_issuer: &WalletIssuer,
    portal: &PortalAuthority,
    clock: &SandboxClock,
    method: &str,
    target: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> AuthorityResponse {
    let path = target.split_once('?').map_or(target, |(p, _)| p);
    if crate::portal::http::is_portal_path(path) {
        return crate::portal::handle_sandbox(portal, method, target, headers, body);
    }
    let answer = without_portal(
        reset_authority,
        wallet_issuer,
        clock,
        method,
        target,
        headers,
        body,
    );
    if method == "POST"
        && path == "/v1/sandbox/maintenance"
        && answer.status == 200
        && let Some(length) = maintenance_length(body)
    {
        portal.begin_maintenance(length);
    }
    answer
}

fn maintenance_length(body: &[u8]) -> Option<chrono::TimeDelta> {
    serde_json::from_slice::<MaintenanceBody>(body)
        .ok()
        .and_then(|b| crate::reset::clock::parse_duration(&b.length))
}

/// The served sandbox of issues 8 and 9 (no portal): what
/// [`crate::wallet::handle_served`] answers.
pub(crate) fn without_portal(
    reset_authority: &ResetAuthority,
    wallet_issuer: &WalletIssuer,
    clock: &SandboxClock,
    method: &str,
    target: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> AuthorityResponse {
    let path = target.split_once('?').map_or(target, |(p, _)| p);
    if path == "/v1/wallet"
        || path.starts_with("/v1/wallet/")
        || path.starts_with("/v1/sandbox/wallet/")
    {
        return crate::wallet::handle_sandbox(wallet_issuer, method, target, headers, body);
    }
    let key = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(IDEMPOTENCY_KEY_HEADER))
        .map(|(_, v)| v.as_str());
    let answer = crate::reset::handle_sandbox(reset_authority, clock, method, target, key, body);
    // The same window for the issuer (W12): the body was just accepted.
    if method == "POST"
        && path == "/v1/sandbox/maintenance"
        && answer.status == 200
        && let Some(length) = maintenance_length(body)
    {
        wallet_issuer.begin_maintenance(length);
    }
    answer
}
