//! The portal's refusals: typed, each with its HTTP status and its
//! `ErrorBody` kind (`docs/portal-protocol.md`, "Refusals"; the kinds the
//! phone reads as `mynakit_core::portal::PortalRefusal`).

use chrono::{DateTime, Utc};
use mynakit_core::portal::wire::ErrorBody;
use serde::{Deserialize, Serialize};

/// A refusal as a client sees it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "error", rename_all = "snake_case")]
pub enum PortalError {
    /// OAuth `invalid_request` (also any malformed body or query).
    #[error("invalid request: {reason}")]
    InvalidRequest {
        /// What is wrong.
        reason: String,
    },
    /// OAuth `invalid_client`: unknown client or unregistered redirect URI.
    #[error("invalid client: {reason}")]
    InvalidClient {
        /// What is wrong.
        reason: String,
    },
    /// OAuth `invalid_grant`: code or refresh token unknown, used,
    /// expired, another client's, or a PKCE verifier that does not match.
    #[error("invalid grant: {reason}")]
    InvalidGrant {
        /// What is wrong.
        reason: String,
    },
    /// OAuth `unsupported_grant_type`.
    #[error("unsupported grant type")]
    UnsupportedGrantType,
    /// OAuth `unsupported_response_type`.
    #[error("unsupported response type")]
    UnsupportedResponseType,
    /// OAuth `invalid_scope`.
    #[error("invalid scope")]
    InvalidScope,
    /// No bearer token, or unknown or expired (RFC 6750 `invalid_token`).
    #[error("the access token is missing, unknown or expired")]
    InvalidToken,
    /// P2: not chaining to the JPKI authentication root.
    #[error("certificate untrusted: {reason}")]
    CertificateUntrusted {
        /// Which check refused it.
        reason: String,
    },
    /// P2: a signing certificate (or another kind) offered for login.
    #[error("not a user-authentication certificate")]
    NotAuthenticationCertificate,
    /// P2: expired or not yet valid at the portal's time.
    #[error("the certificate is expired or not yet valid")]
    CertificateExpired,
    /// P2: revoked (J-LIS's list).
    #[error("the certificate is revoked")]
    CertificateRevoked,
    /// P2: the card's signature does not verify.
    #[error("the card's signature does not verify")]
    BadCardSignature,
    /// No such authorization request, or its challenge was used.
    #[error("no such challenge")]
    ChallengeUnknown,
    /// The challenge is past its lifetime.
    #[error("the challenge has expired")]
    ChallengeExpired,
    /// P7: the terms in force are not agreed.
    #[error("agree to the terms version {current_terms_version} first")]
    TermsNotAgreed {
        /// The version in force.
        current_terms_version: String,
    },
    /// P7: agreeing to a version not in force.
    #[error("that terms version is not the one in force")]
    TermsOutdated,
    /// The insurer has no record of the person.
    #[error("the insurer has no record of this person")]
    NoInsurerRecord,
    /// Already registered.
    #[error("already registered")]
    AlreadyRegistered,
    /// Not registered.
    #[error("not registered")]
    NotRegistered,
    /// No such consent request, consent, agent grant or invitation.
    #[error("not found")]
    NotFound,
    /// S1: no longer in force (answered, lapsed, withdrawn, retention ended).
    #[error("the consent is not in force")]
    ConsentNotInForce,
    /// S1: items not asked for, or none.
    #[error("items not requested")]
    ItemsNotRequested,
    /// P5: outside the delegation, or the delegation ended.
    #[error("outside the agent's scope")]
    OutsideAgentScope,
    /// The idempotency key was used before for another request.
    #[error("the idempotency key was used for another request")]
    IdempotencyKeyReused,
    /// No such route.
    #[error("no such route")]
    NoSuchRoute,
    /// P6: use is limited (traffic concentrated): 429 with `Retry-After`.
    #[error("use is limited until {until}")]
    RateLimited {
        /// When the limit ends.
        until: DateTime<Utc>,
    },
    /// Maintenance: 503 with `Retry-After`.
    #[error("out of service until {until}")]
    OutOfService {
        /// When the window ends.
        until: DateTime<Utc>,
    },
    /// The portal failed inside (not remembered under an idempotency key).
    #[error("internal failure: {reason}")]
    Internal {
        /// What failed.
        reason: String,
    },
}

impl PortalError {
    /// An `invalid_request` with `reason`.
    pub fn bad(reason: impl Into<String>) -> Self {
        Self::InvalidRequest {
            reason: reason.into(),
        }
    }

    /// An internal failure.
    pub fn internal(reason: impl std::fmt::Display) -> Self {
        Self::Internal {
            reason: reason.to_string(),
        }
    }

    /// The HTTP status (RFC 6749 §5.2: 400 for OAuth errors, 401 for
    /// `invalid_client` and `invalid_token`).
    pub fn http_status(&self) -> u16 {
        match self {
            Self::InvalidRequest { .. }
            | Self::InvalidGrant { .. }
            | Self::UnsupportedGrantType
            | Self::UnsupportedResponseType
            | Self::InvalidScope
            | Self::ItemsNotRequested => 400,
            Self::InvalidClient { .. } | Self::InvalidToken => 401,
            Self::CertificateUntrusted { .. }
            | Self::NotAuthenticationCertificate
            | Self::CertificateExpired
            | Self::CertificateRevoked
            | Self::BadCardSignature
            | Self::OutsideAgentScope => 403,
            Self::ChallengeUnknown | Self::NotFound | Self::NoSuchRoute | Self::NoInsurerRecord => {
                404
            }
            Self::TermsNotAgreed { .. }
            | Self::TermsOutdated
            | Self::AlreadyRegistered
            | Self::NotRegistered
            | Self::IdempotencyKeyReused => 409,
            Self::ChallengeExpired | Self::ConsentNotInForce => 410,
            Self::RateLimited { .. } => 429,
            Self::Internal { .. } => 500,
            Self::OutOfService { .. } => 503,
        }
    }

    /// Seconds to wait, for `Retry-After` (429, 503).
    pub fn retry_after(&self, now: DateTime<Utc>) -> Option<i64> {
        match self {
            Self::RateLimited { until } | Self::OutOfService { until } => {
                Some((*until - now).num_seconds().max(1))
            }
            _ => None,
        }
    }

    /// The body the client reads.
    pub fn body(&self) -> ErrorBody {
        let value = serde_json::to_value(self).unwrap_or_default();
        let error = value
            .get("error")
            .and_then(|e| e.as_str())
            .unwrap_or("internal")
            .to_owned();
        let current_terms_version = match self {
            Self::TermsNotAgreed {
                current_terms_version,
            } => Some(current_terms_version.clone()),
            _ => None,
        };
        ErrorBody {
            error,
            error_description: Some(self.to_string()),
            current_terms_version,
        }
    }
}

impl From<rusqlite::Error> for PortalError {
    fn from(e: rusqlite::Error) -> Self {
        Self::internal(format!("store: {e}"))
    }
}
