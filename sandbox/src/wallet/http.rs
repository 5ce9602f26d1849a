//! The issuer's HTTP routes (`docs/wallet-protocol.md`) as one function
//! from a request's parts to an answer, so that the served sandbox
//! (`mynakit sandbox serve`) and an in-process link ([`WalletLink`])
//! answer byte for byte alike. No server here: the CLI brings one.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use mynakit_core::wallet::wire::{RevocationReason, is_record_id};
use mynakit_core::{
    AuthorityLink, AuthorityRequest, AuthorityResponse, IDEMPOTENCY_KEY_HEADER, IdempotencyKey,
    LinkError, format_http_date,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::error::WalletError;
use super::issuer::WalletIssuer;
use crate::reset::{ResetAuthority, SandboxClock};

/// Largest request body accepted: an application carries the face photo
/// (a few kB of JPEG 2000 on a real card), hex-encoded.
pub const MAX_BODY: usize = 1 << 20;

/// The media type of a status list token (draft-ietf-oauth-status-list).
pub const STATUS_LIST_CONTENT_TYPE: &str = "application/statuslist+cwt";

/// The body of the sandbox-only `POST /v1/sandbox/wallet/records/{id}/revocations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminRevokeBody {
    /// `recording_error` (W8(1)(2)) or `operational` (W8(1)(5)).
    pub reason: RevocationReason,
}

/// The body of the sandbox-only `POST /v1/sandbox/wallet/certificates/revocations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateRevocationBody {
    /// The signing certificate's serial, hex.
    pub serial: String,
}

/// What a route answers: JSON, or bytes of another type.
enum Body {
    Json(Vec<u8>),
    Bytes(&'static str, Vec<u8>),
}

/// Answers one request of the issuer's API. `method` is upper case,
/// `target` the path with its query, `headers` the request's (the
/// `Idempotency-Key` and `Authorization: Bearer <holder token>` are read
/// from them). While a maintenance window is in force every route answers
/// `503` with `Retry-After` (W12) and nothing runs.
pub fn handle(
    issuer: &WalletIssuer,
    method: &str,
    target: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> AuthorityResponse {
    let now = issuer.clock().now();
    let outcome = match issuer.maintenance_until() {
        Some(until) => Err(WalletError::OutOfService { until }),
        None => route(issuer, method, target, headers, body),
    };
    answer(now, outcome)
}

/// [`handle`] plus the sandbox's admin routes (`/v1/sandbox/wallet/…`: the
/// call centre and the authority, which a real issuer does not expose to
/// clients). They answer during a maintenance window too.
pub fn handle_sandbox(
    issuer: &WalletIssuer,
    method: &str,
    target: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> AuthorityResponse {
    let path = target.split_once('?').map_or(target, |(p, _)| p);
    if !path.starts_with("/v1/sandbox/wallet/") {
        return handle(issuer, method, target, headers, body);
    }
    let outcome = admin(issuer, method, path, headers, body);
    answer(issuer.clock().now(), outcome)
}

/// The served sandbox of issues 8 and 9: the wallet issuer's routes and
/// admin, the reset authority's routes and the sandbox controls, on one
/// clock. Forwards to [`crate::served`], whose
/// [`handle_served`](crate::served::handle_served) serves the portal too.
pub fn handle_served(
    authority: &ResetAuthority,
    issuer: &WalletIssuer,
    clock: &SandboxClock,
    method: &str,
    target: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> AuthorityResponse {
    crate::served::without_portal(authority, issuer, clock, method, target, headers, body)
}

/// The issuer behind an [`AuthorityLink`], in process: what the phone's
/// wallet client talks to in tests, through exactly the routes (admin
/// included) a served sandbox answers.
#[derive(Debug, Clone)]
pub struct WalletLink {
    issuer: Arc<WalletIssuer>,
}

impl WalletLink {
    /// A link to `issuer`.
    pub fn new(issuer: Arc<WalletIssuer>) -> Self {
        Self { issuer }
    }
}

#[async_trait::async_trait]
impl AuthorityLink for WalletLink {
    async fn send(&self, request: AuthorityRequest) -> Result<AuthorityResponse, LinkError> {
        Ok(handle_sandbox(
            &self.issuer,
            request.method().as_str(),
            request.path(),
            request.headers(),
            request.body(),
        ))
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The HTTP answer of an outcome at `now` (the `Date`).
fn answer(now: DateTime<Utc>, outcome: Result<(u16, Body), WalletError>) -> AuthorityResponse {
    let mut headers = vec![("Date".to_owned(), format_http_date(now))];
    let (status, content_type, body) = match outcome {
        Ok((status, Body::Json(json))) => (status, "application/json", json),
        Ok((status, Body::Bytes(content_type, bytes))) => (status, content_type, bytes),
        Err(error) => {
            if let Some(seconds) = error.retry_after(now) {
                headers.push(("Retry-After".to_owned(), seconds.to_string()));
            }
            if error == WalletError::Unauthorized {
                headers.push(("WWW-Authenticate".to_owned(), "Bearer".to_owned()));
            }
            (
                error.http_status(),
                "application/json",
                serde_json::to_vec(&error.body()).unwrap_or_default(),
            )
        }
    };
    headers.push(("Content-Type".to_owned(), content_type.to_owned()));
    AuthorityResponse {
        status,
        headers,
        body,
    }
}

fn json<T: Serialize>(status: u16, value: &T) -> Result<(u16, Body), WalletError> {
    serde_json::to_vec(value)
        .map(|body| (status, Body::Json(body)))
        .map_err(WalletError::internal)
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, WalletError> {
    serde_json::from_slice(body).map_err(|e| WalletError::bad(format!("body: {e}")))
}

fn key(headers: &[(String, String)]) -> Result<IdempotencyKey, WalletError> {
    let text = header(headers, IDEMPOTENCY_KEY_HEADER)
        .ok_or_else(|| WalletError::bad("a state-changing request needs an Idempotency-Key"))?;
    IdempotencyKey::parse(text)
        .map_err(|_| WalletError::bad("the Idempotency-Key is not 32 hex digits"))
}

/// The holder token of `Authorization: Bearer <token>`.
fn bearer(headers: &[(String, String)]) -> Result<String, WalletError> {
    let value = header(headers, "Authorization").ok_or(WalletError::Unauthorized)?;
    let (scheme, token) = value
        .trim()
        .split_once(' ')
        .ok_or(WalletError::Unauthorized)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer")
        || token.len() != 64
        || !token.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return Err(WalletError::Unauthorized);
    }
    Ok(token.to_ascii_lowercase())
}

fn record_id(id: &str) -> Result<&str, WalletError> {
    if is_record_id(id) {
        Ok(id)
    } else {
        Err(WalletError::RecordNotFound)
    }
}

fn route(
    issuer: &WalletIssuer,
    method: &str,
    target: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<(u16, Body), WalletError> {
    if body.len() > MAX_BODY {
        return Err(WalletError::bad("body too large"));
    }
    let path = target.split_once('?').map_or(target, |(p, _)| p);
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        ("POST", ["v1", "wallet", "nonces"]) => json(201, &issuer.nonce(&key(headers)?)?),
        ("POST", ["v1", "wallet", "applications"]) => {
            json(201, &issuer.apply(&key(headers)?, &parse(body)?)?)
        }
        ("GET", ["v1", "wallet", "records", id]) => {
            let token = bearer(headers)?;
            json(200, &issuer.record_state(&token, record_id(id)?)?)
        }
        ("POST", ["v1", "wallet", "records", id, "reissues"]) => {
            let token = bearer(headers)?;
            let id = record_id(id)?;
            json(
                201,
                &issuer.reissue(&key(headers)?, &token, id, &parse(body)?)?,
            )
        }
        ("POST", ["v1", "wallet", "records", id, "revocations"]) => {
            let token = bearer(headers)?;
            let id = record_id(id)?;
            json(
                200,
                &issuer.revoke(&key(headers)?, &token, id, &parse(body)?)?,
            )
        }
        ("GET", ["v1", "wallet", "notices"]) => json(200, &issuer.notices(&bearer(headers)?)?),
        ("GET", ["v1", "wallet", "public-notices"]) => json(200, &issuer.public_notices()?),
        ("GET", ["v1", "wallet", "status-lists", n]) => {
            let number = n.parse().map_err(|_| WalletError::StatusListNotFound)?;
            Ok((
                200,
                Body::Bytes(STATUS_LIST_CONTENT_TYPE, issuer.status_list(number)?),
            ))
        }
        ("GET", ["v1", "wallet", "iaca"]) => {
            Ok((200, Body::Bytes("application/pkix-cert", issuer.iaca_der())))
        }
        _ => Err(WalletError::NoSuchRoute),
    }
}

/// The sandbox's admin routes. The caller is not authenticated: the
/// sandbox trusts it to be the call centre or the authority.
fn admin(
    issuer: &WalletIssuer,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<(u16, Body), WalletError> {
    if body.len() > MAX_BODY {
        return Err(WalletError::bad("body too large"));
    }
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        ("GET", ["v1", "sandbox", "wallet", "records"]) => json(200, &issuer.records()?),
        ("POST", ["v1", "sandbox", "wallet", "records", id, "revocations"]) => {
            let id = record_id(id)?;
            let revoke: AdminRevokeBody = parse(body)?;
            json(
                200,
                &issuer.admin_revoke(&key(headers)?, id, revoke.reason)?,
            )
        }
        ("POST", ["v1", "sandbox", "wallet", "records", id, "lost"]) => {
            json(200, &issuer.report_lost(&key(headers)?, record_id(id)?)?)
        }
        ("POST", ["v1", "sandbox", "wallet", "records", id, "recovered"]) => {
            json(200, &issuer.recovered(&key(headers)?, record_id(id)?)?)
        }
        ("POST", ["v1", "sandbox", "wallet", "records", id, "compromised"]) => {
            json(200, &issuer.compromised(&key(headers)?, record_id(id)?)?)
        }
        ("POST", ["v1", "sandbox", "wallet", "certificates", "revocations"]) => {
            let revoke: CertificateRevocationBody = parse(body)?;
            json(
                200,
                &issuer.revoke_certificate(&key(headers)?, &revoke.serial)?,
            )
        }
        ("POST", ["v1", "sandbox", "wallet", "issuer-key", "compromise"]) => {
            json(200, &issuer.issuer_key_compromised(&key(headers)?)?)
        }
        _ => Err(WalletError::NoSuchRoute),
    }
}
