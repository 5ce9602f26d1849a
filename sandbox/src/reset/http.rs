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
use super::policy::{ResetKind, StoreChain};
use super::wire::{from_hex, hex_bytes};

/// The body of `POST /v1/reservations/{id}/cancel`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CancelBody {
    /// ES256 by the installation key over `cancel_message(id)`.
    #[serde(with = "hex_bytes")]
    pub device_signature: Vec<u8>,
}

/// The body of `POST /v1/kiosk/lookups`: the kiosk asks for the card's
/// live reservation of `kind`, as its store `chain` may finish it (R5, R6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KioskLookup {
    /// DER of the certificate the reservation was signed with, as the
    /// kiosk read it from the card: the authentication certificate for a
    /// signing-password reset, the signing one for a PIN reset (R4).
    #[serde(with = "hex_bytes")]
    pub certificate: Vec<u8>,
    /// What the user resets.
    pub kind: ResetKind,
    /// The kiosk's store chain.
    pub chain: StoreChain,
}

/// The body of `POST /v1/kiosk/redemptions`: the card took the new secret;
/// the reservation is redeemed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KioskRedemption {
    /// The reservation the lookup found.
    pub reservation_id: String,
    /// The kiosk's store chain.
    pub chain: StoreChain,
}

/// The body of the sandbox-only `POST /v1/sandbox/maintenance`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MaintenanceBody {
    /// How long the window lasts from now: `10m`, `30s`, `2h` (`0s` ends one).
    #[serde(rename = "for")]
    pub length: String,
}

/// Largest request body accepted (a capture of 32 frames in hex is ~330 kB).
pub const MAX_BODY: usize = 1 << 20;

/// Answers one request. `method` is upper case, `target` the path with its
/// query, `idempotency_key` the header's value if any. While a maintenance
/// window is in force ([`ResetAuthority::begin_maintenance`]) every route
/// answers `503` with `Retry-After` and nothing runs (so nothing is
/// remembered under the idempotency key: the retry after the window runs).
pub fn handle(
    authority: &ResetAuthority,
    method: &str,
    target: &str,
    idempotency_key: Option<&str>,
    body: &[u8],
) -> AuthorityResponse {
    let now = authority.clock().now();
    let outcome = match authority.maintenance_until() {
        Some(until) => Err(ResetError::OutOfService { until }),
        None => route(authority, method, target, idempotency_key, body),
    };
    answer(now, outcome)
}

/// The HTTP answer of an outcome at `now` (the `Date`): a JSON body, or
/// the error's JSON with its status and, for 429/503, `Retry-After`.
fn answer(
    now: chrono::DateTime<chrono::Utc>,
    outcome: Result<(u16, Vec<u8>), ResetError>,
) -> AuthorityResponse {
    let (status, answer) = match outcome {
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
        // The kiosk's two steps. Kiosk authentication (J-LIS's own channel)
        // is not modelled: the sandbox trusts the caller to be a kiosk.
        ("POST", ["v1", "kiosk", "lookups"]) => {
            // Changes nothing: a POST only because a certificate is too long
            // for a query; an Idempotency-Key, if sent, is not needed.
            let lookup: KioskLookup = parse(body)?;
            json(
                200,
                &authority.redeemable(&lookup.certificate, lookup.kind, lookup.chain)?,
            )
        }
        ("POST", ["v1", "kiosk", "redemptions"]) => {
            let redemption: KioskRedemption = parse(body)?;
            json(
                200,
                &authority.confirm_redeemed(
                    &key(idempotency_key)?,
                    &redemption.reservation_id,
                    redemption.chain,
                )?,
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

/// [`handle`] plus the sandbox controls, which only a served *sandbox*
/// has (a real authority's time and service are not the client's to move):
///
/// - `POST /v1/sandbox/clock/advance` (body [`AdvanceBody`], answer
///   `{"now": …}`) moves `clock` — the authority's own clock — forward;
/// - `POST /v1/sandbox/maintenance` (body [`MaintenanceBody`], answer
///   `{"until": …, "retry_after": seconds}`) opens a maintenance window:
///   every API route answers 503 until it ends by the authority's clock.
///
/// Neither is idempotent (a retry moves the clock again, or restarts the
/// window from now), and both answer during a maintenance window.
pub fn handle_sandbox(
    authority: &ResetAuthority,
    clock: &super::SandboxClock,
    method: &str,
    target: &str,
    idempotency_key: Option<&str>,
    body: &[u8],
) -> AuthorityResponse {
    let duration = |text: &str, field: &str| {
        super::clock::parse_duration(text).ok_or_else(|| ResetError::BadRequest {
            reason: format!("{field}: a whole number and s, m, h or d"),
        })
    };
    let outcome = match (method, target) {
        ("POST", "/v1/sandbox/clock/advance") => parse::<AdvanceBody>(body)
            .and_then(|b| duration(&b.by, "by"))
            .and_then(|by| {
                clock.advance(by);
                json(200, &serde_json::json!({ "now": authority.clock().now() }))
            }),
        ("POST", "/v1/sandbox/maintenance") => parse::<MaintenanceBody>(body)
            .and_then(|b| duration(&b.length, "for"))
            .and_then(|length| {
                let until = authority.begin_maintenance(length);
                let left = ResetError::OutOfService { until }
                    .retry_after(authority.clock().now())
                    .filter(|_| authority.maintenance_until().is_some())
                    .unwrap_or(0);
                json(
                    200,
                    &serde_json::json!({ "until": until, "retry_after": left }),
                )
            }),
        _ => return handle(authority, method, target, idempotency_key, body),
    };
    answer(authority.clock().now(), outcome)
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
