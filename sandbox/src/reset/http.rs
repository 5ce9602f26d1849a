//! The reset authority's HTTP routes (`docs/reset-protocol.md`) as one
//! function from a request's parts to an answer, so that a served sandbox
//! (`mynakit sandbox serve`) and an in-process link ([`InProcessLink`])
//! answer byte for byte alike. No server here: the CLI brings one.

use mynakit_core::{
    AuthorityLink, AuthorityRequest, AuthorityResponse, IdempotencyKey, LinkError, format_http_date,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::authority::{ResetAuthority, ResetError};
use super::wire::{from_hex, hex_bytes};

/// The body of `POST /v1/reservations/{id}/cancel`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CancelBody {
    /// ES256 by the installation key over `cancel_message(id)`.
    #[serde(with = "hex_bytes")]
    pub device_signature: Vec<u8>,
}

/// Largest request body accepted (a capture of 32 frames in hex is ~330 kB).
pub const MAX_BODY: usize = 1 << 20;

/// Answers one request. `method` is upper case, `target` the path with its
/// query, `idempotency_key` the header's value if any.
pub fn handle(
    authority: &ResetAuthority,
    method: &str,
    target: &str,
    idempotency_key: Option<&str>,
    body: &[u8],
) -> AuthorityResponse {
    let now = authority.clock().now();
    let (status, answer) = match route(authority, method, target, idempotency_key, body) {
        Ok((status, json)) => (status, Ok(json)),
        Err(error) => (error.http_status(), Err(error)),
    };
    let mut headers = vec![
        ("Date".to_owned(), format_http_date(now)),
        ("Content-Type".to_owned(), "application/json".to_owned()),
    ];
    let body = match answer {
        Ok(json) => json,
        Err(error) => {
            if let Some(seconds) = error.retry_after(now) {
                headers.push(("Retry-After".to_owned(), seconds.to_string()));
            }
            serde_json::to_vec(&error).unwrap_or_default()
        }
    };
    AuthorityResponse {
        status,
        headers,
        body,
    }
}

fn json<T: Serialize>(status: u16, value: &T) -> Result<(u16, Vec<u8>), ResetError> {
    serde_json::to_vec(value)
        .map(|body| (status, body))
        .map_err(|e| ResetError::Internal {
            reason: e.to_string(),
        })
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ResetError> {
    serde_json::from_slice(body).map_err(|e| ResetError::BadRequest {
        reason: format!("body: {e}"),
    })
}

fn key(idempotency_key: Option<&str>) -> Result<IdempotencyKey, ResetError> {
    let text = idempotency_key.ok_or_else(|| ResetError::BadRequest {
        reason: "a state-changing request needs an Idempotency-Key".into(),
    })?;
    IdempotencyKey::parse(text).map_err(|_| ResetError::BadRequest {
        reason: "the Idempotency-Key is not 32 hex digits".into(),
    })
}

fn route(
    authority: &ResetAuthority,
    method: &str,
    target: &str,
    idempotency_key: Option<&str>,
    body: &[u8],
) -> Result<(u16, Vec<u8>), ResetError> {
    if body.len() > MAX_BODY {
        return Err(ResetError::BadRequest {
            reason: "body too large".into(),
        });
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        ("POST", ["v1", "face-check", "sessions"]) => json(
            201,
            &authority.open_session(&key(idempotency_key)?, &parse(body)?)?,
        ),
        ("POST", ["v1", "face-check", "sessions", id, "captures"]) => {
            let request: super::CaptureRequest = parse(body)?;
            if request.session_id != *id {
                return Err(ResetError::BadRequest {
                    reason: "the session id of the path and the body differ".into(),
                });
            }
            json(
                200,
                &authority.submit_capture(&key(idempotency_key)?, &request)?,
            )
        }
        ("POST", ["v1", "challenges"]) => json(201, &authority.challenge(&key(idempotency_key)?)?),
        ("POST", ["v1", "reservations"]) => json(
            201,
            &authority.reserve(&key(idempotency_key)?, &parse(body)?)?,
        ),
        ("GET", ["v1", "reservations"]) => {
            let device = query
                .split('&')
                .find_map(|pair| pair.strip_prefix("device_key="))
                .and_then(from_hex)
                .ok_or_else(|| ResetError::BadRequest {
                    reason: "device_key=<hex> is required".into(),
                })?;
            json(200, &authority.reservations_of(&device)?)
        }
        ("GET", ["v1", "reservations", id]) => json(200, &authority.reservation(id)?),
        ("POST", ["v1", "reservations", id, "cancel"]) => {
            let cancel: CancelBody = parse(body)?;
            json(
                200,
                &authority.cancel(&key(idempotency_key)?, id, &cancel.device_signature)?,
            )
        }
        _ => Err(ResetError::NoSuchRoute),
    }
}

/// The body of the sandbox-only `POST /v1/sandbox/clock/advance`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AdvanceBody {
    /// How far to move the authority's clock: `25h`, `90m`, `30s`, `2d`.
    pub by: String,
}

/// [`handle`] plus the sandbox-only route `POST /v1/sandbox/clock/advance`
/// (body [`AdvanceBody`], answer `{"now": …}`), which moves `clock` — the
/// authority's own clock — forward. Only a served *sandbox* has it: a
/// real authority's time is not the client's to move.
pub fn handle_sandbox(
    authority: &ResetAuthority,
    clock: &super::SandboxClock,
    method: &str,
    target: &str,
    idempotency_key: Option<&str>,
    body: &[u8],
) -> AuthorityResponse {
    if method != "POST" || target != "/v1/sandbox/clock/advance" {
        return handle(authority, method, target, idempotency_key, body);
    }
    let by = parse::<AdvanceBody>(body).and_then(|b| {
        super::clock::parse_duration(&b.by).ok_or_else(|| ResetError::BadRequest {
            reason: "by: a whole number and s, m, h or d".into(),
        })
    });
    let status_body = by.and_then(|by| {
        clock.advance(by);
        json(200, &serde_json::json!({ "now": authority.clock().now() }))
    });
    let now = authority.clock().now();
    let (status, body) = status_body
        .unwrap_or_else(|e| (e.http_status(), serde_json::to_vec(&e).unwrap_or_default()));
    AuthorityResponse {
        status,
        headers: vec![
            ("Date".to_owned(), format_http_date(now)),
            ("Content-Type".to_owned(), "application/json".to_owned()),
        ],
        body,
    }
}

/// The authority behind an [`AuthorityLink`], in process: what a phone's
/// code talks to in tests and the in-process CLI, through exactly the
/// routes a served sandbox answers.
#[derive(Debug, Clone)]
pub struct InProcessLink {
    authority: std::sync::Arc<ResetAuthority>,
}

impl InProcessLink {
    /// A link to `authority`.
    pub fn new(authority: std::sync::Arc<ResetAuthority>) -> Self {
        Self { authority }
    }
}

#[async_trait::async_trait]
impl AuthorityLink for InProcessLink {
    async fn send(&self, request: AuthorityRequest) -> Result<AuthorityResponse, LinkError> {
        Ok(handle(
            &self.authority,
            request.method().as_str(),
            request.path(),
            request.idempotency_key(),
            request.body(),
        ))
    }
}
