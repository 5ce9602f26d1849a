//! The portal's HTTP routes (`docs/portal-protocol.md`) as one function
//! from a request's parts to an answer, so that the served sandbox
//! (`mynakit sandbox serve`) and an in-process link ([`PortalLink`])
//! answer byte for byte alike. No server here: the CLI brings one. Each
//! room answers its own routes (`Route`); this file only dispatches.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use mynakit_core::{
    AuthorityLink, AuthorityRequest, AuthorityResponse, IDEMPOTENCY_KEY_HEADER, IdempotencyKey,
    LinkError, format_http_date,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::PortalError;
use super::{PortalAuthority, agents, consents, insurance, jlis, login};

/// Largest request body accepted (a certificate and a signature, hex).
pub const MAX_BODY: usize = 64 * 1024;

/// One request as the rooms see it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// Upper-case method.
    pub method: &'a str,
    /// The path's segments (`/v1/portal/agents/x` → `["v1", "portal", "agents", "x"]`).
    pub segments: &'a [&'a str],
    /// The query string without `?` (empty when none).
    pub query: &'a str,
    /// The headers.
    pub headers: &'a [(String, String)],
    /// The body.
    pub body: &'a [u8],
}

/// What a route answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// JSON with a status.
    Json(u16, Vec<u8>),
    /// Other bytes: status, content type, body.
    Bytes(u16, &'static str, Vec<u8>),
}

/// A room's answer: `None` when the route is not the room's.
pub type Route = Option<Result<Reply, PortalError>>;

/// Answers one request of the portal's API. While a maintenance window is
/// in force every route answers `503`, while use is limited `429` (P6),
/// both with `Retry-After`, and nothing runs.
pub fn handle(
    portal: &PortalAuthority,
    method: &str,
    target: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> AuthorityResponse {
    let now = portal.clock().now();
    let outcome = if let Some(until) = portal.maintenance_until() {
        Err(PortalError::OutOfService { until })
    } else if let Some(until) = portal.limited_until() {
        Err(PortalError::RateLimited { until })
    } else {
        dispatch(portal, method, target, headers, body, false)
    };
    answer(now, outcome)
}

/// [`handle`] plus the sandbox's admin routes (`/v1/sandbox/portal/…`,
/// `/v1/sandbox/insurer/…`, `/v1/sandbox/jlis/…`, `/v1/sandbox/services/…`:
/// J-LIS, the insurer, the sample service, which a real portal does not
/// expose). They answer during a maintenance window or a limit too.
pub fn handle_sandbox(
    portal: &PortalAuthority,
    method: &str,
    target: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> AuthorityResponse {
    let path = target.split_once('?').map_or(target, |(p, _)| p);
    if !path.starts_with("/v1/sandbox/") {
        return handle(portal, method, target, headers, body);
    }
    let outcome = dispatch(portal, method, target, headers, body, true);
    answer(portal.clock().now(), outcome)
}

/// Whether `path` is one of the portal's (API, discovery or sandbox admin).
pub fn is_portal_path(path: &str) -> bool {
    path == mynakit_core::portal::wire::DISCOVERY_PATH
        || path == "/v1/portal"
        || path.starts_with("/v1/portal/")
        || path.starts_with("/v1/services/")
        || path.starts_with("/v1/sandbox/portal/")
        || path.starts_with("/v1/sandbox/insurer/")
        || path.starts_with("/v1/sandbox/jlis/")
        || path.starts_with("/v1/sandbox/services/")
}

fn dispatch(
    portal: &PortalAuthority,
    method: &str,
    target: &str,
    headers: &[(String, String)],
    body: &[u8],
    admin: bool,
) -> Result<Reply, PortalError> {
    if body.len() > MAX_BODY {
        return Err(PortalError::bad("body too large"));
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let request = Request {
        method,
        segments: &segments,
        query,
        headers,
        body,
    };
    let routes: [fn(&PortalAuthority, &Request<'_>, bool) -> Route; 5] = [
        login::route,
        jlis::route,
        insurance::route,
        consents::route,
        agents::route,
    ];
    for route in routes {
        if let Some(outcome) = route(portal, &request, admin) {
            return outcome;
        }
    }
    Err(PortalError::NoSuchRoute)
}

/// The portal behind an [`AuthorityLink`], in process: what the phone's
/// portal client talks to in tests, through exactly the routes (admin
/// included) a served sandbox answers.
#[derive(Debug, Clone)]
pub struct PortalLink {
    portal: Arc<PortalAuthority>,
}

impl PortalLink {
    /// A link to `portal`.
    pub fn new(portal: Arc<PortalAuthority>) -> Self {
        Self { portal }
    }
}

#[async_trait::async_trait]
impl AuthorityLink for PortalLink {
    async fn send(&self, request: AuthorityRequest) -> Result<AuthorityResponse, LinkError> {
        Ok(handle_sandbox(
            &self.portal,
            request.method().as_str(),
            request.path(),
            request.headers(),
            request.body(),
        ))
    }
}

/// A header's value (names compared without case).
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The token of `Authorization: Bearer <token>`.
pub fn bearer(headers: &[(String, String)]) -> Option<String> {
    let value = header(headers, "Authorization")?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && token.len() <= 256)
        .then(|| token.to_owned())
}

/// The request's idempotency key: optional (an OAuth client sends none),
/// refused when malformed.
pub fn key(headers: &[(String, String)]) -> Result<Option<IdempotencyKey>, PortalError> {
    match header(headers, IDEMPOTENCY_KEY_HEADER) {
        None => Ok(None),
        Some(text) => IdempotencyKey::parse(text)
            .map(Some)
            .map_err(|_| PortalError::bad("the Idempotency-Key is not 32 hex digits")),
    }
}

/// A JSON reply.
pub fn json<T: Serialize>(status: u16, value: &T) -> Result<Reply, PortalError> {
    serde_json::to_vec(value)
        .map(|body| Reply::Json(status, body))
        .map_err(PortalError::internal)
}

/// A JSON body.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, PortalError> {
    serde_json::from_slice(body).map_err(|e| PortalError::bad(format!("body: {e}")))
}

/// The HTTP answer of an outcome at `now` (the `Date`).
fn answer(now: DateTime<Utc>, outcome: Result<Reply, PortalError>) -> AuthorityResponse {
    let mut headers = vec![
        ("Date".to_owned(), format_http_date(now)),
        // RFC 6749 §5.1: token answers must not be cached; nothing here is.
        ("Cache-Control".to_owned(), "no-store".to_owned()),
    ];
    let (status, content_type, body) = match outcome {
        Ok(Reply::Json(status, body)) => (status, "application/json", body),
        Ok(Reply::Bytes(status, content_type, body)) => (status, content_type, body),
        Err(error) => {
            if let Some(seconds) = error.retry_after(now) {
                headers.push(("Retry-After".to_owned(), seconds.to_string()));
            }
            if error == PortalError::InvalidToken {
                headers.push((
                    "WWW-Authenticate".to_owned(),
                    "Bearer error=\"invalid_token\"".to_owned(),
                ));
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
