//! The issuer's refusals: typed, each with its HTTP status and its
//! `WalletErrorBody` kind (`docs/wallet-protocol.md`).

use chrono::{DateTime, Utc};
use mynakit_core::wallet::wire::WalletErrorBody;
use serde::{Deserialize, Serialize};

/// A refusal as the phone (or the sandbox's admin) sees it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "error", rename_all = "snake_case")]
pub enum WalletError {
    /// The request is not well formed.
    #[error("bad request: {reason}")]
    BadRequest {
        /// What is wrong.
        reason: String,
    },
    /// No bearer token, or not the holder token of this record's chain.
    #[error("the holder token is missing or wrong")]
    Unauthorized,
    /// The idempotency key was used before for another request.
    #[error("the idempotency key was used for another request")]
    IdempotencyKeyReused,
    /// No such route in the API.
    #[error("no such route")]
    NoSuchRoute,
    /// No such record (or not this holder's).
    #[error("no such record")]
    RecordNotFound,
    /// No such status list.
    #[error("no such status list")]
    StatusListNotFound,
    /// The nonce was never issued (or was forgotten).
    #[error("no such nonce")]
    NonceNotFound,
    /// The nonce was used already (one-time).
    #[error("the nonce was used already")]
    NonceUsed,
    /// The nonce's lifetime has passed.
    #[error("the nonce has expired")]
    NonceExpired,
    /// The signing certificate does not chain to the sandbox JPKI signing
    /// CA, is not a signing certificate, or is not yet valid (W4).
    #[error("signing certificate refused: {reason}")]
    CertificateRefused {
        /// Which check refused it.
        reason: String,
    },
    /// The signing certificate's validity has ended (W4 at apply, W6 at
    /// re-issue: apply again with the card).
    #[error("the signing certificate has expired")]
    CertificateExpired,
    /// The signing certificate is revoked (W4, W6, W8(1)(1)).
    #[error("the signing certificate is revoked")]
    CertificateRevoked,
    /// The card's signature does not verify with the certificate (W2).
    #[error("the card's signature does not verify")]
    BadCardSignature,
    /// The device key's signature does not verify.
    #[error("the device signature does not verify")]
    BadDeviceSignature,
    /// The device key does not ask for the user before every use (W10).
    #[error("the device key must ask for the user before every use (W10)")]
    UserAuthenticationRequired,
    /// The device key's security level is not accepted by policy (W1, W11).
    #[error("the device key's security level is not accepted (W1)")]
    SecurityLevelRefused,
    /// The application data does not match the signing certificate.
    #[error("the application data does not match the certificate: {field}")]
    DataMismatch {
        /// Which field (never its value).
        field: String,
    },
    /// The person holds a record still in force (W3).
    #[error("a record is still in force (W3)")]
    RecordInForce {
        /// The record in force.
        record_id: String,
    },
    /// No re-issue is due for the reason given (W6).
    #[error("no re-issue is due: {reason}")]
    NotDue {
        /// What the issuer sees.
        reason: String,
    },
    /// The record is suspended: the phone was reported lost (W9).
    #[error("the record is suspended (W9)")]
    RecordSuspended,
    /// The record was revoked or replaced.
    #[error("the record is revoked: {reason}")]
    RecordRevoked {
        /// Why (the revocation reason, or what replaced it).
        reason: String,
    },
    /// A maintenance window is in force (W12).
    #[error("out of service for maintenance until {until}")]
    OutOfService {
        /// When the window ends, by the issuer's clock.
        until: DateTime<Utc>,
    },
    /// The issuer failed (its store, its keys, its randomness); retrying
    /// may help.
    #[error("internal error: {reason}")]
    Internal {
        /// What failed (no personal data).
        reason: String,
    },
}

impl WalletError {
    /// The HTTP status this error travels with.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::BadRequest { .. } => 400,
            Self::Unauthorized => 401,
            Self::CertificateRefused { .. }
            | Self::CertificateExpired
            | Self::CertificateRevoked
            | Self::BadCardSignature
            | Self::BadDeviceSignature
            | Self::UserAuthenticationRequired
            | Self::SecurityLevelRefused
            | Self::DataMismatch { .. } => 403,
            Self::NoSuchRoute
            | Self::RecordNotFound
            | Self::StatusListNotFound
            | Self::NonceNotFound => 404,
            Self::NonceUsed
            | Self::RecordInForce { .. }
            | Self::NotDue { .. }
            | Self::RecordSuspended => 409,
            Self::NonceExpired | Self::RecordRevoked { .. } => 410,
            Self::IdempotencyKeyReused => 422,
            Self::Internal { .. } => 500,
            Self::OutOfService { .. } => 503,
        }
    }

    /// The snake_case kind of the protocol's table.
    pub fn kind(&self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str().map(str::to_owned)))
            .unwrap_or_else(|| "internal".to_owned())
    }

    /// The body every refusal carries.
    pub fn body(&self) -> WalletErrorBody {
        WalletErrorBody {
            error: self.kind(),
            record_id: match self {
                Self::RecordInForce { record_id } => Some(record_id.clone()),
                _ => None,
            },
            detail: Some(self.to_string()),
        }
    }

    /// Seconds for `Retry-After` (W12): a maintenance window says when to
    /// come back (rounded up, at least 1).
    pub fn retry_after(&self, now: DateTime<Utc>) -> Option<i64> {
        match self {
            Self::OutOfService { until } => {
                let left = *until - now;
                let rounded_up = left.num_seconds() + i64::from(left.subsec_nanos() > 0);
                Some(rounded_up.max(1))
            }
            _ => None,
        }
    }

    pub(crate) fn internal(e: impl std::fmt::Display) -> Self {
        Self::Internal {
            reason: e.to_string(),
        }
    }

    pub(crate) fn bad(reason: impl Into<String>) -> Self {
        Self::BadRequest {
            reason: reason.into(),
        }
    }
}

impl From<rusqlite::Error> for WalletError {
    fn from(e: rusqlite::Error) -> Self {
        Self::internal(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_the_protocol_s_and_w3_carries_the_record() {
        let e = WalletError::RecordInForce {
            record_id: "ab".into(),
        };
        assert_eq!(e.http_status(), 409);
        let body = e.body();
        assert_eq!(body.error, "record_in_force");
        assert_eq!(body.record_id.as_deref(), Some("ab"));
        assert_eq!(
            WalletError::CertificateExpired.kind(),
            "certificate_expired"
        );
        assert_eq!(
            WalletError::RecordRevoked { reason: "x".into() }.http_status(),
            410
        );
        assert_eq!(WalletError::Unauthorized.http_status(), 401);
    }
}
