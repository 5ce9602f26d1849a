//! What can stop the wallet on the phone, typed so an app can say what to do.

use serde::{Deserialize, Serialize};

use super::wire::{RecordStatus, RevocationReason};
use crate::card::error::CardError;
use crate::platform::{AuthorityError, SecureAreaError};
use crate::store::VaultError;
use crate::store::{SealError, StoreError};

/// The card secrets the application tap spends, each with its own consent
/// to spend a last try.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplySecret {
    /// The card-info PIN (券面事項入力補助用暗証番号, Kenhojo).
    CardInfoPin,
    /// The signing password (署名用パスワード, JPKI).
    SigningPassword,
}

/// The issuer's refusal kinds (`docs/wallet-protocol.md`, the `error` field
/// of a refusal). Unknown kinds are kept as [`WalletRefusal::Unknown`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WalletRefusal {
    /// The request was malformed (a bug on our side).
    BadRequest,
    /// No bearer token, or not this record's.
    Unauthorized,
    /// No such nonce (or used already): the issuer's `nonce_not_found`,
    /// `nonce_used`.
    #[serde(alias = "nonce_not_found", alias = "nonce_used")]
    NonceUnknown,
    /// The nonce is past its lifetime.
    NonceExpired,
    /// W4: the signing certificate does not chain to the JPKI signing CA,
    /// or is not a signing certificate.
    #[serde(alias = "certificate_refused")]
    CertificateUntrusted,
    /// W4, W6: the signing certificate expired: apply again with the card.
    CertificateExpired,
    /// W4, W6, W8(1)(1): the signing certificate is revoked.
    CertificateRevoked,
    /// The card's signature does not verify.
    BadCardSignature,
    /// The device key's signature does not verify.
    BadDeviceSignature,
    /// The data does not match the signing certificate's attributes.
    DataMismatch,
    /// W10: the device key does not ask the user before every use, or the
    /// issuer does not accept its security level.
    #[serde(
        alias = "user_authentication_required",
        alias = "security_level_refused"
    )]
    AttestationRefused,
    /// W3: a record is in force for this person (its id is in `record_id`).
    RecordInForce,
    /// No such record.
    RecordNotFound,
    /// W6: the re-issue asked for is not due.
    NotDue,
    /// W9: the record is suspended (the phone was reported lost).
    RecordSuspended,
    /// The record was revoked.
    RecordRevoked,
    /// The idempotency key was used for another request (a bug on our side).
    IdempotencyKeyReused,
    /// The path is not part of the API.
    NoSuchRoute,
    /// The issuer failed inside.
    Internal,
    /// No such status list.
    StatusListNotFound,
    /// A kind this version does not know.
    #[serde(other)]
    Unknown,
}

/// Why the card must be tapped again for a new record (W6: re-issue
/// without the card is possible only while the signing certificate used to
/// apply is valid; W10/W11: only with the same device key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReapplyReason {
    /// The signing certificate used to apply expired.
    CertificateExpired,
    /// The signing certificate used to apply was revoked.
    CertificateRevoked,
    /// The device key was invalidated (lock screen removed, biometrics
    /// changed) or is gone.
    DeviceKeyInvalidated,
    /// The record was revoked for a reason re-issue does not cure.
    RecordRevoked,
    /// The vault's key is gone from the secure area (data restored onto
    /// another phone): the records cannot be opened.
    VaultLost,
}

/// Why a wallet call stopped. In every case the phone's store is as it was
/// before the call (or holds the call's whole outcome); a retryable case can
/// be retried by calling the same step again.
#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    /// The card refused or the tap was interrupted (card pulled away: tap
    /// again; no PIN try was spent without the card saying so).
    #[error(transparent)]
    Card(#[from] CardError),
    /// The issuer could not be reached, did not answer, limits requests or
    /// is in maintenance (W12). Retry later: the idempotency key and the
    /// request are kept, so nothing is created twice.
    #[error(transparent)]
    Authority(AuthorityError),
    /// The issuer refused the request.
    #[error("the issuer refused: {error:?} (status {status})")]
    Refused {
        /// What it refused for.
        error: WalletRefusal,
        /// The HTTP status.
        status: u16,
    },
    /// W3: a record is in force; revoke it before applying again.
    #[error("a record is in force already ({record_id}): W3")]
    RecordInForce {
        /// The record in force.
        record_id: String,
    },
    /// The card must be tapped again: apply anew (W6).
    #[error("apply again with the card: {reason:?}")]
    ReapplyWithCard {
        /// Why.
        reason: ReapplyReason,
    },
    /// The record cannot be used now (suspended, revoked, expired): see
    /// `WalletRecord` for why.
    #[error("the record cannot be used: {status:?} {reason:?}")]
    RecordNotUsable {
        /// Its state.
        status: RecordStatus,
        /// Why it stopped, when it was revoked.
        reason: Option<RevocationReason>,
    },
    /// No record with this id on the phone.
    #[error("no record {id} on this phone")]
    NoSuchRecord {
        /// The id asked for.
        id: String,
    },
    /// The verifier asked for an element the record does not have.
    #[error("the record has no element {element}")]
    ElementAbsent {
        /// The element, `namespace/identifier`.
        element: String,
    },
    /// W10: the secure area made a key that does not ask the user before
    /// every use; the record would be usable without the user's
    /// authentication, so the wallet refuses it.
    #[error("the secure area cannot make a key that asks the user before every use (W10)")]
    UserAuthenticationNotEnforced,
    /// A step was called before the one it needs.
    #[error("{step} needs {needs} first")]
    OutOfOrder {
        /// The step called.
        step: &'static str,
        /// What must happen before it.
        needs: &'static str,
    },
    /// `secret` has one try left (the card says so). Nothing was sent:
    /// confirm with the user, then
    /// `WalletApplication::allow_last_try` and tap
    /// again.
    #[error("{secret:?} has one try left: confirm before spending it")]
    LastTry {
        /// Which secret.
        secret: ApplySecret,
    },
    /// The verifier's session transcript is not CBOR.
    #[error("the verifier's session transcript is unusable: {what}")]
    BadTranscript {
        /// What was wrong.
        what: String,
    },
    /// The card's birth date is unknown: the record's ages cannot be
    /// computed and the issuer would refuse.
    #[error("the card's birth date is unknown")]
    BirthDateUnknown,
    /// A success answer that does not parse (damaged on the way). The
    /// request may have acted: call the same step again; the same request
    /// goes under the same key and the issuer repeats its first answer.
    #[error("the issuer's answer was damaged: {what}")]
    AnswerGarbled {
        /// What was wrong.
        what: String,
    },
    /// An answer that parses but cannot be right (a record bound to another
    /// key, another document type, a signature that does not verify).
    #[error("the issuer's answer cannot be right: {what}")]
    BadAnswer {
        /// What was wrong.
        what: String,
    },
    /// The phone's store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A sealed record did not open.
    #[error(transparent)]
    Seal(#[from] SealError),
    /// The secure area failed or the user did not authenticate.
    #[error(transparent)]
    SecureArea(#[from] SecureAreaError),
}

impl From<VaultError> for WalletError {
    fn from(e: VaultError) -> Self {
        match e {
            VaultError::SecureArea(e) => Self::SecureArea(e),
            VaultError::Store(e) => Self::Store(e),
            VaultError::KeyGone => Self::ReapplyWithCard {
                reason: ReapplyReason::VaultLost,
            },
            VaultError::Damaged => Self::Seal(SealError::DoesNotOpen),
        }
    }
}

impl WalletError {
    /// Whether calling the same step again later may succeed: a link
    /// failure, 429, 503, a damaged answer or an interrupted tap.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Authority(e) => e.is_retryable(),
            Self::Card(CardError::Transport(_)) => true,
            Self::AnswerGarbled { .. } => true,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_kind_of_the_issuer_s_table_is_known() {
        // docs/wallet-protocol.md, "Refusals".
        for kind in [
            "bad_request",
            "unauthorized",
            "certificate_refused",
            "certificate_expired",
            "certificate_revoked",
            "bad_card_signature",
            "bad_device_signature",
            "user_authentication_required",
            "security_level_refused",
            "data_mismatch",
            "no_such_route",
            "record_not_found",
            "nonce_not_found",
            "status_list_not_found",
            "nonce_used",
            "record_in_force",
            "not_due",
            "record_suspended",
            "nonce_expired",
            "record_revoked",
            "idempotency_key_reused",
            "internal",
        ] {
            let refusal: WalletRefusal =
                serde_json::from_value(serde_json::Value::String(kind.into())).unwrap();
            assert_ne!(refusal, WalletRefusal::Unknown, "{kind}");
        }
    }
}
