//! What can stop a reset on the phone, typed so an app can say what to do.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::card::error::CardError;
use crate::platform::{AuthorityError, SecureAreaError};
use crate::store::StoreError;

/// The reset authority's refusal kinds (`docs/reset-protocol.md`, the
/// `error` field of a refusal). Unknown kinds are kept by name.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// The request was malformed (a bug on our side).
    BadRequest,
    /// The certificate does not chain to the authority's anchors or is not valid now.
    CertificateRefused,
    /// The certificate is revoked.
    CertificateRevoked,
    /// R4: the wrong key signed for this kind of reset.
    WrongKeyForKind,
    /// The face record is not signed by the card issuer.
    FaceRecordRefused,
    /// R10: only a physical card can reserve.
    NotAPhysicalCard,
    /// The card's signature does not verify.
    BadSignature,
    /// The installation key's signature does not verify.
    BadDeviceSignature,
    /// R2: a signing-password reset needs a face-check token.
    TokenRequired,
    /// R3: a PIN reset takes no face-check token.
    TokenNotExpected,
    /// The face-check token is not valid.
    TokenInvalid,
    /// The face-check token names another card.
    TokenForAnotherCard,
    /// The face-check token names another installation.
    TokenForAnotherDevice,
    /// R6: this chain's kiosks do not reset this kind.
    ChainRefused,
    /// The path is not part of the API.
    NoSuchRoute,
    /// No such face-check session.
    SessionNotFound,
    /// No such challenge.
    ChallengeNotFound,
    /// No such reservation.
    ReservationNotFound,
    /// The face-check session is closed (passed, or out of attempts).
    SessionClosed,
    /// The challenge was spent already.
    ChallengeUsed,
    /// The face-check token was redeemed already.
    TokenReplayed,
    /// One live reservation per card and kind (its id is in `id`).
    AlreadyReserved,
    /// The reservation was redeemed already.
    AlreadyRedeemed,
    /// The reservation was cancelled.
    ReservationCancelled,
    /// The face-check session is past its deadline.
    SessionExpired,
    /// The challenge is past its lifetime.
    ChallengeExpired,
    /// The face-check token is past its `exp`.
    TokenExpired,
    /// R5: past the 24 hours.
    ReservationExpired,
    /// The idempotency key was used for another request (a bug on our side).
    IdempotencyKeyReused,
    /// R7: the card's birth date is unknown.
    BirthDateUnknown,
    /// R11: too many failures; wait (see `until`).
    LockedOut,
    /// The authority failed inside.
    Internal,
    /// A kind this version does not know.
    #[serde(other)]
    Unknown,
}

/// Why the reset flow stopped. In every case the phone's store is as it was
/// before the step (or holds the step's whole outcome); a retryable case can
/// be retried by calling the same step again.
#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    /// The card refused or the tap was interrupted (card pulled away: tap
    /// again; no PIN try was spent without the card saying so).
    #[error(transparent)]
    Card(#[from] CardError),
    /// The authority could not be reached, did not answer, limits requests
    /// (429) or is in maintenance (503). Retry the same step later: the
    /// idempotency key is kept, so nothing is created twice.
    #[error(transparent)]
    Authority(AuthorityError),
    /// The authority refused the request.
    #[error("the reset authority refused: {error:?} (status {status})")]
    Refused {
        /// What it refused for.
        error: Refusal,
        /// The HTTP status.
        status: u16,
        /// For [`Refusal::AlreadyReserved`]: the live reservation's id.
        id: Option<String>,
    },
    /// R11: too many failed attempts on this card or installation.
    #[error("locked out until {until:?}")]
    LockedOut {
        /// When the lock-out ends, as the authority said.
        until: Option<DateTime<Utc>>,
        /// Its `Retry-After`.
        retry_after: Option<Duration>,
    },
    /// The face check did not pass; `attempts_left` more captures are allowed
    /// in this session (0: open a new session).
    #[error("the face check did not pass ({attempts_left} attempts left)")]
    FaceCheckFailed {
        /// Captures left in this session.
        attempts_left: u32,
    },
    /// 照合番号B has one try left (the card says so; its limit is not
    /// published). Nothing was sent: check the card front with the user,
    /// then [`crate::reset::ResetFlow::allow_check_code_last_try`] and tap
    /// again, or send them to the municipal office.
    #[error("照合番号B has one try left: confirm the card front before spending it")]
    CheckCodeLastTry,
    /// R10: the JPKI token is not a physical card's (e.g. a smartphone's).
    #[error("only a physical My Number card can be used (token: {label})")]
    NotPhysicalCard {
        /// The token label the card reported.
        label: String,
    },
    /// R7: the card face has no birth date, so the app cannot be used.
    #[error("the card's birth date is blank or unknown: the app cannot be used (R7)")]
    BirthDateUnknown,
    /// The secret given is not the one this kind of reset needs (R4: the
    /// 4-digit PIN to reset the signing password, the signing password to
    /// reset the PIN).
    #[error("this reset needs the other secret (R4)")]
    WrongSecretForKind,
    /// Not a reservation id (hex digits): nothing was sent.
    #[error("not a reservation id: {id:?}")]
    NotAReservationId {
        /// What was given.
        id: String,
    },
    /// A step was called before the one it needs (e.g. reserve before the tap).
    #[error("{step} needs {needs} first")]
    OutOfOrder {
        /// The step called.
        step: &'static str,
        /// What must happen before it.
        needs: &'static str,
    },
    /// A success answer that does not parse (damaged on the way, or a
    /// proxy's page). The request may have acted: call the same step again;
    /// the same request goes under the same key and the authority repeats
    /// its first answer.
    #[error("the reset authority's answer was damaged: {what}")]
    AnswerGarbled {
        /// What was wrong.
        what: String,
    },
    /// An answer that parses but says something impossible (a passed face
    /// check without a token), or a request that cannot be written.
    #[error("malformed answer from the reset authority: {what}")]
    BadAnswer {
        /// What was wrong.
        what: String,
    },
    /// The phone's store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The secure area failed (the installation key).
    #[error(transparent)]
    SecureArea(#[from] SecureAreaError),
}

impl ResetError {
    /// Whether calling the same step again later may succeed: a link
    /// failure, 429, 503 or an interrupted tap.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Authority(e) => e.is_retryable(),
            Self::Card(CardError::Transport(_)) => true,
            Self::AnswerGarbled { .. } => true,
            // The lock-out is the authority's final answer to that request:
            // a later attempt is a new request (a new flow or capture).
            Self::LockedOut { .. } => true,
            _ => false,
        }
    }
}
