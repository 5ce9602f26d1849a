//! The PIN-reset app (issue 8) for Kotlin and Swift: [`PinResetClient`]
//! over the core's `ResetClient`, its records, and one flat error enum,
//! [`ResetError`], that a Kotlin `when` or a Swift `switch` can take case
//! by case.
//!
//! The steps (rules R1–R12, `docs/reset-protocol.md`): `begin` (what to
//! reset; the authority's challenge) → `tap` (one tap: the card face with
//! 照合番号B, the other secret, the card's signature: R4, R10) → for the
//! signing password only, `open_face_check` and `submit_capture` (R2, R3)
//! → `reserve` (24 hours: R5; the store chains: R6). `reservations` reads
//! the kept ones offline; `refresh` and `cancel` ask the authority.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use mynakit_core::reset as core_reset;
use mynakit_core::{AuthPin, CardChannel, CheckCodeB, LastTry, SigningPassword, Store};
use zeroize::Zeroizing;

use crate::authority::{AuthorityLink, ForeignAuthorityLink};
use crate::error::MynaKitError;
use crate::secure_area::{ForeignSecureArea, SecureArea};
use crate::transport::{CardTransport, ForeignTransport};

/// Which secret the reservation resets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ResetKind {
    /// The signing password (署名用パスワード, 6–16 characters): needs the
    /// 4-digit PIN (R4) and a face check (R2).
    SigningPassword,
    /// The user-authentication PIN (利用者証明用パスワード, 4 digits): needs
    /// the signing password (R4), no face check (R3).
    AuthPin,
}

impl From<ResetKind> for core_reset::ResetKind {
    fn from(k: ResetKind) -> Self {
        match k {
            ResetKind::SigningPassword => Self::SigningPassword,
            ResetKind::AuthPin => Self::AuthPin,
        }
    }
}

impl From<core_reset::ResetKind> for ResetKind {
    fn from(k: core_reset::ResetKind) -> Self {
        match k {
            core_reset::ResetKind::SigningPassword => Self::SigningPassword,
            core_reset::ResetKind::AuthPin => Self::AuthPin,
        }
    }
}

/// A store chain with reset kiosks (R6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum StoreChain {
    /// Seven-Eleven: both kinds.
    SevenEleven,
    /// AEON Retail (Honshu/Shikoku): both kinds.
    AeonRetail,
    /// AEON Hokkaido (some stores): both kinds.
    AeonHokkaido,
    /// AEON Tohoku (some stores): both kinds.
    AeonTohoku,
    /// Fuji (some stores): both kinds.
    Fuji,
    /// Lawson: the signing password only.
    Lawson,
    /// FamilyMart: the signing password only.
    FamilyMart,
    /// Ministop: the signing password only.
    Ministop,
    /// Daiei (some stores): the signing password only.
    Daiei,
}

impl From<core_reset::StoreChain> for StoreChain {
    fn from(c: core_reset::StoreChain) -> Self {
        use core_reset::StoreChain as C;
        match c {
            C::SevenEleven => Self::SevenEleven,
            C::AeonRetail => Self::AeonRetail,
            C::AeonHokkaido => Self::AeonHokkaido,
            C::AeonTohoku => Self::AeonTohoku,
            C::Fuji => Self::Fuji,
            C::Lawson => Self::Lawson,
            C::FamilyMart => Self::FamilyMart,
            C::Ministop => Self::Ministop,
            C::Daiei => Self::Daiei,
        }
    }
}

/// A liveness action the authority asks the user to perform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum LivenessAction {
    /// Turn the head to the camera's left.
    TurnLeft,
    /// Turn the head to the camera's right.
    TurnRight,
    /// Nod.
    Nod,
    /// Look up.
    LookUp,
}

impl From<core_reset::LivenessAction> for LivenessAction {
    fn from(a: core_reset::LivenessAction) -> Self {
        use core_reset::LivenessAction as A;
        match a {
            A::TurnLeft => Self::TurnLeft,
            A::TurnRight => Self::TurnRight,
            A::Nod => Self::Nod,
            A::LookUp => Self::LookUp,
        }
    }
}

impl From<LivenessAction> for core_reset::LivenessAction {
    fn from(a: LivenessAction) -> Self {
        match a {
            LivenessAction::TurnLeft => Self::TurnLeft,
            LivenessAction::TurnRight => Self::TurnRight,
            LivenessAction::Nod => Self::Nod,
            LivenessAction::LookUp => Self::LookUp,
        }
    }
}

/// Where a reservation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ReservationState {
    /// Live: a kiosk can finish it until `expires_at`.
    Reserved,
    /// Finished at a kiosk.
    Redeemed,
    /// Past its 24 hours (R5).
    Expired,
    /// Cancelled by the user.
    Cancelled,
}

impl From<core_reset::ReservationState> for ReservationState {
    fn from(s: core_reset::ReservationState) -> Self {
        use core_reset::ReservationState as S;
        match s {
            S::Reserved => Self::Reserved,
            S::Redeemed => Self::Redeemed,
            S::Expired => Self::Expired,
            S::Cancelled => Self::Cancelled,
        }
    }
}

/// One greyscale camera frame (64×80, 8 bits), the time it was taken (by
/// [`PinResetClient::now`]) and the action asked for then (`None`: "look
/// at the camera"). A picture of a person: never log it.
#[derive(Clone, PartialEq, Eq, uniffi::Record)]
pub struct Frame {
    /// Width in pixels (64).
    pub width: u32,
    /// Height in pixels (80).
    pub height: u32,
    /// Grey levels, row by row.
    pub grey: Vec<u8>,
    /// When it was taken.
    pub captured_at: SystemTime,
    /// The action prompted then.
    pub action: Option<LivenessAction>,
}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frame")
            .field("size", &format_args!("{}x{}", self.width, self.height))
            .field("grey", &"<redacted>")
            .field("action", &self.action)
            .finish_non_exhaustive()
    }
}

impl From<core_reset::Frame> for Frame {
    fn from(f: core_reset::Frame) -> Self {
        Self {
            width: f.width,
            height: f.height,
            grey: f.grey,
            captured_at: f.captured_at.into(),
            action: f.action.map(Into::into),
        }
    }
}

impl Frame {
    fn into_core(self) -> Result<core_reset::Frame, ResetError> {
        Ok(core_reset::Frame {
            width: self.width,
            height: self.height,
            grey: self.grey,
            captured_at: utc(self.captured_at).ok_or_else(|| ResetError::InvalidInput {
                reason: "a frame's capture time is out of range".into(),
            })?,
            action: self.action.map(Into::into),
        })
    }
}

/// A time from Kotlin or Swift as the core's, without the panic chrono's
/// own conversion has on out-of-range values.
pub(crate) fn utc(t: SystemTime) -> Option<DateTime<Utc>> {
    match t.duration_since(UNIX_EPOCH) {
        Ok(after) => {
            DateTime::from_timestamp(i64::try_from(after.as_secs()).ok()?, after.subsec_nanos())
        }
        Err(before) => {
            let d = before.duration();
            let secs = i64::try_from(d.as_secs()).ok()?;
            DateTime::from_timestamp(0, 0)?
                .checked_sub_signed(chrono::TimeDelta::new(secs, d.subsec_nanos())?)
        }
    }
}

/// The face-check session the authority opened: what to ask the user.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FaceCheckPrompt {
    /// The session's id.
    pub session_id: String,
    /// The liveness actions to ask for, in order.
    pub actions: Vec<LivenessAction>,
    /// The first capture must reach the authority by then (its clock).
    pub start_by: SystemTime,
    /// Nothing is accepted after then (its clock).
    pub ends_by: SystemTime,
    /// Captures allowed in this session.
    pub max_attempts: u32,
}

/// The authority's verdict on a capture: pass or fail, nothing more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct CaptureResult {
    /// True when the face check passed; the flow can reserve.
    pub passed: bool,
    /// Captures left in this session (0 after a failure: open a new one).
    pub attempts_left: u32,
}

/// A reservation (R1: the app reserves, a kiosk resets).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Reservation {
    /// Its id (128 bits, hex).
    pub id: String,
    /// What it resets.
    pub kind: ResetKind,
    /// When the authority made it (its clock).
    pub created_at: SystemTime,
    /// `created_at` + 24 h by the authority's clock (R5).
    pub expires_at: SystemTime,
    /// The chains whose kiosks finish it (R6).
    pub stores: Vec<StoreChain>,
    /// Its state as the authority last said.
    pub state: ReservationState,
    /// When it was redeemed or cancelled.
    pub finished_at: Option<SystemTime>,
    /// Where it was redeemed.
    pub redeemed_at_chain: Option<StoreChain>,
}

impl From<core_reset::Reservation> for Reservation {
    fn from(r: core_reset::Reservation) -> Self {
        Self {
            id: r.id,
            kind: r.kind.into(),
            created_at: r.created_at.into(),
            expires_at: r.expires_at.into(),
            stores: r.stores.into_iter().map(Into::into).collect(),
            state: r.state.into(),
            finished_at: r.finished_at.map(Into::into),
            redeemed_at_chain: r.redeemed_at_chain.map(Into::into),
        }
    }
}

/// A reservation as the phone keeps it, read offline.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct KeptReservation {
    /// As the authority last described it.
    pub reservation: Reservation,
    /// Its state now by the corrected clock: a `Reserved` one past its
    /// expiry reads `Expired` (R5).
    pub state_now: ReservationState,
    /// Time left to finish it at a kiosk, while it is reserved.
    pub time_left: Option<Duration>,
    /// The chains of `stores` where only some stores have a kiosk (R6):
    /// say so to the user.
    pub partial_chains: Vec<StoreChain>,
}

impl From<core_reset::KeptReservation> for KeptReservation {
    fn from(k: core_reset::KeptReservation) -> Self {
        Self {
            reservation: k.reservation.into(),
            state_now: k.state_now.into(),
            time_left: k.time_left,
            partial_chains: k.partial_chains.into_iter().map(Into::into).collect(),
        }
    }
}

/// The reset authority's refusal kinds (`docs/reset-protocol.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Refusal {
    /// The request was malformed (a bug).
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
    /// The face-check session is closed.
    SessionClosed,
    /// The challenge was spent already.
    ChallengeUsed,
    /// The face-check token was redeemed already.
    TokenReplayed,
    /// The card has a live reservation of this kind (`reservation_id`).
    AlreadyReserved,
    /// The reservation was redeemed already.
    AlreadyRedeemed,
    /// The reservation was cancelled.
    ReservationCancelled,
    /// The face-check session is past its deadline.
    SessionExpired,
    /// The challenge is past its lifetime.
    ChallengeExpired,
    /// The face-check token is past its expiry.
    TokenExpired,
    /// R5: past the 24 hours.
    ReservationExpired,
    /// The idempotency key was used for another request (a bug).
    IdempotencyKeyReused,
    /// R7: the card's birth date is unknown.
    BirthDateUnknown,
    /// R11: too many failures.
    LockedOut,
    /// The authority failed inside.
    Internal,
    /// A kind this version does not know.
    Unknown,
}

impl From<core_reset::Refusal> for Refusal {
    fn from(r: core_reset::Refusal) -> Self {
        use core_reset::Refusal as R;
        match r {
            R::BadRequest => Self::BadRequest,
            R::CertificateRefused => Self::CertificateRefused,
            R::CertificateRevoked => Self::CertificateRevoked,
            R::WrongKeyForKind => Self::WrongKeyForKind,
            R::FaceRecordRefused => Self::FaceRecordRefused,
            R::NotAPhysicalCard => Self::NotAPhysicalCard,
            R::BadSignature => Self::BadSignature,
            R::BadDeviceSignature => Self::BadDeviceSignature,
            R::TokenRequired => Self::TokenRequired,
            R::TokenNotExpected => Self::TokenNotExpected,
            R::TokenInvalid => Self::TokenInvalid,
            R::TokenForAnotherCard => Self::TokenForAnotherCard,
            R::TokenForAnotherDevice => Self::TokenForAnotherDevice,
            R::ChainRefused => Self::ChainRefused,
            R::NoSuchRoute => Self::NoSuchRoute,
            R::SessionNotFound => Self::SessionNotFound,
            R::ChallengeNotFound => Self::ChallengeNotFound,
            R::ReservationNotFound => Self::ReservationNotFound,
            R::SessionClosed => Self::SessionClosed,
            R::ChallengeUsed => Self::ChallengeUsed,
            R::TokenReplayed => Self::TokenReplayed,
            R::AlreadyReserved => Self::AlreadyReserved,
            R::AlreadyRedeemed => Self::AlreadyRedeemed,
            R::ReservationCancelled => Self::ReservationCancelled,
            R::SessionExpired => Self::SessionExpired,
            R::ChallengeExpired => Self::ChallengeExpired,
            R::TokenExpired => Self::TokenExpired,
            R::ReservationExpired => Self::ReservationExpired,
            R::IdempotencyKeyReused => Self::IdempotencyKeyReused,
            R::BirthDateUnknown => Self::BirthDateUnknown,
            R::LockedOut => Self::LockedOut,
            R::Internal => Self::Internal,
            R::Unknown => Self::Unknown,
        }
    }
}

/// Why a reset step stopped: one case per thing an app does differently,
/// flat for a Kotlin `when` or a Swift `switch`. The phone's store is as it
/// was before the step, or holds its whole outcome. The cases marked
/// "retry" can be retried by calling the same step again: the request goes
/// with the same idempotency key, so nothing is created twice (W12, P6).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum ResetError {
    /// The PIN or signing password was wrong; ask again, showing the tries left.
    #[error("wrong PIN or password: {tries_left} tries left")]
    WrongPin {
        /// Tries left after this one.
        tries_left: u8,
    },
    /// The card-front numbers (照合番号B) do not match the card: let the
    /// user correct them (R8). Their limit is not published: never retry on
    /// your own.
    #[error("the card-front numbers do not match this card: {tries_left} tries left")]
    WrongCheckCode {
        /// Tries left after this one.
        tries_left: u8,
    },
    /// The other secret (R4) is blocked: only the municipal office helps.
    #[error("the PIN is blocked")]
    PinBlocked,
    /// One try of the other secret is left: ask the user to confirm, then
    /// tap again with `allow_last_try`. Nothing was sent.
    #[error("only one try is left; confirm before spending it")]
    LastTryNeedsConfirmation,
    /// 照合番号B has one try left (its limit is not published): check the
    /// card front with the user, call `allow_check_code_last_try` on the
    /// flow and tap again. Nothing was sent.
    #[error("照合番号B has one try left; confirm the card front before spending it")]
    CheckCodeLastTry,
    /// The card does not report its counter: confirm, then tap again with
    /// `allow_last_try`. Nothing was sent.
    #[error("the card does not report its counter; confirm before sending the secret")]
    TriesUnknownNeedsConfirmation,
    /// The card went away while checking a secret: a try may have been
    /// spent. Never retry on your own.
    #[error("the card went away during the check; a try may have been spent")]
    VerifyOutcomeUnknown {
        /// Tries left read back, when the card was still there.
        tries_left: Option<u8>,
        /// What happened to the link.
        detail: String,
    },
    /// The card left the field: tap again (the tap starts over; nothing was
    /// kept from the interrupted one).
    #[error("the card was removed")]
    CardRemoved,
    /// The NFC link failed in another way: tap again.
    #[error("card link failed: {reason}")]
    CardLinkFailed {
        /// What the platform reported.
        reason: String,
    },
    /// The card cannot do this (no signing certificate on a child's card).
    #[error("not supported by this card: {reason}")]
    CardNotSupported {
        /// What is missing.
        reason: String,
    },
    /// The card answered with data this library cannot use.
    #[error("unusable answer from the card: {reason}")]
    MalformedCardData {
        /// Which object and why.
        reason: String,
    },
    /// R10: the JPKI token is not a physical card's (e.g. a smartphone's).
    #[error("only a physical My Number card can be used (token: {label})")]
    NotPhysicalCard {
        /// The token label the card reported.
        label: String,
    },
    /// R7: the card face has no birth date: this app cannot be used.
    #[error("the card's birth date is blank or unknown (R7)")]
    BirthDateUnknown,
    /// The authority could not be reached (W12). Retry later.
    #[error("the reset authority cannot be reached: {reason}")]
    AuthorityUnavailable {
        /// What the platform reported.
        reason: String,
    },
    /// No answer in time; the request may have acted. Retry.
    #[error("the reset authority did not answer in time")]
    AuthorityTimeout,
    /// The answer was lost; the request may have acted. Retry.
    #[error("the reset authority's answer was lost: {reason}")]
    AnswerLost {
        /// What the platform reported.
        reason: String,
    },
    /// The step was cancelled (the coroutine or task, or the NFC session).
    /// A request in flight may have acted: retry.
    #[error("the step was cancelled")]
    Cancelled,
    /// 429: the authority limits requests now (P6). Retry after the wait.
    #[error("the reset authority limits requests now")]
    RateLimited {
        /// How long it asked to wait.
        retry_after: Option<Duration>,
    },
    /// 503: maintenance or overload (W12, P6). Retry after the wait.
    #[error("the reset authority is out of service")]
    OutOfService {
        /// How long it asked to wait.
        retry_after: Option<Duration>,
    },
    /// R11: too many failed attempts on this card or installation. Retry
    /// after the wait.
    #[error("locked out")]
    LockedOut {
        /// When the lock-out ends, as the authority said.
        until: Option<SystemTime>,
        /// Its `Retry-After`.
        retry_after: Option<Duration>,
    },
    /// The authority refused the request; `refusal` says why.
    #[error("the reset authority refused: {refusal:?} (status {status})")]
    Refused {
        /// What it refused for.
        refusal: Refusal,
        /// The HTTP status.
        status: u16,
        /// For `AlreadyReserved`: the live reservation (kept on the phone now).
        reservation_id: Option<String>,
    },
    /// The authority answered with a status and no readable refusal.
    #[error("the reset authority answered with status {status}")]
    AuthorityRefused {
        /// The HTTP status.
        status: u16,
    },
    /// The face check did not pass; `attempts_left` more captures in this
    /// session (0: open a new one).
    #[error("the face check did not pass ({attempts_left} attempts left)")]
    FaceCheckFailed {
        /// Captures left in this session.
        attempts_left: u32,
    },
    /// The secret given is not the one this kind of reset needs (R4).
    #[error("this reset needs the other secret (R4)")]
    WrongSecretForKind,
    /// A step was called before the one it needs.
    #[error("{step} needs {needs} first")]
    OutOfOrder {
        /// The step called.
        step: String,
        /// What must happen before it.
        needs: String,
    },
    /// A success answer that does not parse (damaged on the way, a proxy's
    /// page). The request may have acted: retry; the same request goes
    /// under the same key and the authority repeats its first answer.
    #[error("the reset authority's answer was damaged: {reason}")]
    AnswerGarbled {
        /// What was wrong.
        reason: String,
    },
    /// An answer that parses but says something impossible, or a request
    /// that cannot be written.
    #[error("malformed answer from the reset authority: {reason}")]
    BadAnswer {
        /// What was wrong.
        reason: String,
    },
    /// Text or data the app passed is unusable (a card front that does not
    /// parse, a secret of the wrong form, a frame time out of range).
    /// Nothing was sent.
    #[error("invalid input: {reason}")]
    InvalidInput {
        /// Which field and why (never the input itself).
        reason: String,
    },
    /// The phone's store failed.
    #[error("the phone's store failed: {reason}")]
    Store {
        /// What failed.
        reason: String,
    },
    /// The secure area failed (the installation key).
    #[error("the secure area failed: {reason}")]
    SecureArea {
        /// What failed.
        reason: String,
    },
    /// Another step on this flow is still running: one at a time.
    #[error("another step on this reset flow is still running")]
    Busy,
    /// Something that should not happen (a bug).
    #[error("internal error: {reason}")]
    Internal {
        /// What happened.
        reason: String,
    },
}

impl From<MynaKitError> for ResetError {
    fn from(e: MynaKitError) -> Self {
        match e {
            MynaKitError::WrongPin { tries_left } => Self::WrongPin { tries_left },
            MynaKitError::WrongCheckCode { tries_left } => Self::WrongCheckCode { tries_left },
            MynaKitError::PinBlocked => Self::PinBlocked,
            MynaKitError::LastTryNeedsConfirmation => Self::LastTryNeedsConfirmation,
            MynaKitError::TriesUnknownNeedsConfirmation => Self::TriesUnknownNeedsConfirmation,
            MynaKitError::VerifyOutcomeUnknown { tries_left, detail } => {
                Self::VerifyOutcomeUnknown { tries_left, detail }
            }
            MynaKitError::Cancelled => Self::Cancelled,
            MynaKitError::CardRemoved => Self::CardRemoved,
            MynaKitError::LinkFailed { reason } => Self::CardLinkFailed { reason },
            MynaKitError::NotSupported { reason } => Self::CardNotSupported { reason },
            MynaKitError::MalformedCardData { reason } => Self::MalformedCardData { reason },
            MynaKitError::InvalidInput { reason } => Self::InvalidInput { reason },
            MynaKitError::Untrusted { detail, .. } => Self::MalformedCardData { reason: detail },
            // The card forgot a verification mid-tap: the tap starts over.
            MynaKitError::PinRequired => Self::CardLinkFailed {
                reason: e.to_string(),
            },
            MynaKitError::SessionBusy => Self::Busy,
            MynaKitError::Internal { reason } => Self::Internal { reason },
        }
    }
}

impl From<mynakit_core::AuthorityError> for ResetError {
    fn from(e: mynakit_core::AuthorityError) -> Self {
        use mynakit_core::AuthorityError as E;
        match e {
            E::Unavailable { reason } => Self::AuthorityUnavailable { reason },
            E::Timeout => Self::AuthorityTimeout,
            E::AnswerLost { reason } => Self::AnswerLost { reason },
            E::Cancelled => Self::Cancelled,
            E::RateLimited { retry_after } => Self::RateLimited { retry_after },
            E::OutOfService { retry_after } => Self::OutOfService { retry_after },
            E::Refused(answer) => Self::AuthorityRefused {
                status: answer.status,
            },
        }
    }
}

impl From<core_reset::ResetError> for ResetError {
    fn from(e: core_reset::ResetError) -> Self {
        use core_reset::ResetError as E;
        match e {
            E::Card(card) => MynaKitError::from(card).into(),
            E::Authority(authority) => authority.into(),
            E::Refused { error, status, id } => Self::Refused {
                refusal: error.into(),
                status,
                reservation_id: id,
            },
            E::LockedOut { until, retry_after } => Self::LockedOut {
                until: until.map(Into::into),
                retry_after,
            },
            E::FaceCheckFailed { attempts_left } => Self::FaceCheckFailed { attempts_left },
            E::CheckCodeLastTry => Self::CheckCodeLastTry,
            E::NotPhysicalCard { label } => Self::NotPhysicalCard { label },
            E::BirthDateUnknown => Self::BirthDateUnknown,
            E::WrongSecretForKind => Self::WrongSecretForKind,
            E::NotAReservationId { id } => Self::InvalidInput {
                reason: format!("not a reservation id: {id:?}"),
            },
            E::OutOfOrder { step, needs } => Self::OutOfOrder {
                step: step.to_owned(),
                needs: needs.to_owned(),
            },
            E::AnswerGarbled { what } => Self::AnswerGarbled { reason: what },
            E::BadAnswer { what } => Self::BadAnswer { reason: what },
            E::Store(store) => Self::Store {
                reason: store.to_string(),
            },
            E::SecureArea(area) => Self::SecureArea {
                reason: area.to_string(),
            },
        }
    }
}

impl From<uniffi::UnexpectedUniFFICallbackError> for ResetError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        Self::Internal { reason: e.reason }
    }
}

impl ResetError {
    /// Whether calling the same step again later may succeed (a link
    /// failure, 429, 503, a lock-out that ends, an interrupted tap).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::AuthorityUnavailable { .. }
                | Self::AuthorityTimeout
                | Self::AnswerLost { .. }
                | Self::AnswerGarbled { .. }
                | Self::Cancelled
                | Self::RateLimited { .. }
                | Self::OutOfService { .. }
                | Self::LockedOut { .. }
                | Self::CardRemoved
                | Self::CardLinkFailed { .. }
        )
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One reset attempt, from `begin` to `reserve`. Held by the app in memory
/// (after the app is killed, `refresh` finds any reservation the authority
/// made; a new attempt starts from `begin`). One step at a time.
#[derive(uniffi::Object)]
pub struct ResetFlow {
    kind: ResetKind,
    slot: Mutex<Option<core_reset::ResetFlow>>,
}

impl std::fmt::Debug for ResetFlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResetFlow")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// The core's flow lent to one step; given back when the step ends or is
/// dropped (a cancelled coroutine), so the flow stays usable.
struct FlowLease<'a> {
    flow: &'a ResetFlow,
    inner: Option<core_reset::ResetFlow>,
}

impl FlowLease<'_> {
    fn get(&mut self) -> Result<&mut core_reset::ResetFlow, ResetError> {
        self.inner.as_mut().ok_or_else(|| ResetError::Internal {
            reason: "a reset flow lease without a flow".into(),
        })
    }
}

impl Drop for FlowLease<'_> {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            *lock(&self.flow.slot) = Some(inner);
        }
    }
}

impl ResetFlow {
    fn lease(&self) -> Result<FlowLease<'_>, ResetError> {
        let inner = lock(&self.slot).take().ok_or(ResetError::Busy)?;
        Ok(FlowLease {
            flow: self,
            inner: Some(inner),
        })
    }

    /// The chip photo as the core decoded it, after the tap.
    pub(crate) fn chip_picture(&self) -> Result<Option<mynakit_core::Picture>, ResetError> {
        let slot = lock(&self.slot);
        let flow = slot.as_ref().ok_or(ResetError::Busy)?;
        flow.chip_photo()
            .transpose()
            .map_err(|e| ResetError::MalformedCardData {
                reason: format!("chip photo: {e}"),
            })
    }
}

#[uniffi::export]
impl ResetFlow {
    /// What this flow resets.
    pub fn kind(&self) -> ResetKind {
        self.kind
    }

    /// Whether the tap is done.
    pub fn tapped(&self) -> bool {
        lock(&self.slot).as_ref().is_some_and(|f| f.tapped())
    }

    /// Whether the face check passed (R2).
    pub fn face_check_passed(&self) -> bool {
        lock(&self.slot)
            .as_ref()
            .is_some_and(|f| f.face_check_passed())
    }

    /// Records the user's consent to spend 照合番号B's last try, after a
    /// tap answered `CheckCodeLastTry`; the next tap may spend it.
    pub fn allow_check_code_last_try(&self) -> Result<(), ResetError> {
        let mut slot = lock(&self.slot);
        let flow = slot.as_mut().ok_or(ResetError::Busy)?;
        flow.allow_check_code_last_try();
        Ok(())
    }

    /// The chip's face photo as PNG, for the app's "is this you?" screen;
    /// `None` before the tap. Personal data: show it, never log or keep it.
    pub fn chip_photo_png(&self) -> Result<Option<Vec<u8>>, ResetError> {
        self.chip_picture()?
            .map(|p| p.to_png())
            .transpose()
            .map_err(|e| ResetError::MalformedCardData {
                reason: format!("chip photo: {e}"),
            })
    }
}

/// The PIN-reset app's client of one reset authority, over the app's
/// authority link (OkHttp, URLSession), secure area (Android Keystore,
/// Secure Enclave) and the phone's store, with the system clock corrected
/// by the authority's `Date`.
#[derive(uniffi::Object)]
pub struct PinResetClient {
    client: core_reset::ResetClient,
}

impl std::fmt::Debug for PinResetClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PinResetClient").finish_non_exhaustive()
    }
}

/// The other secret (R4) for a flow of `kind`: the 4-digit PIN to reset
/// the signing password, the signing password to reset the PIN.
fn other_secret(kind: ResetKind, text: &str) -> Result<core_reset::OtherSecret, ResetError> {
    let invalid = |e: mynakit_core::PinFormatError| ResetError::InvalidInput {
        reason: e.to_string(),
    };
    Ok(match kind {
        ResetKind::SigningPassword => {
            core_reset::OtherSecret::AuthPin(AuthPin::new(text).map_err(invalid)?)
        }
        ResetKind::AuthPin => {
            core_reset::OtherSecret::SigningPassword(SigningPassword::new(text).map_err(invalid)?)
        }
    })
}

#[uniffi::export]
impl PinResetClient {
    /// A client of the authority named `authority` (its base address: the
    /// store keeps its clock offset and reservations under that name),
    /// reached through `link`, with the phone's store at `store_path`
    /// (created if need be) and the installation key in `secure_area`.
    #[uniffi::constructor]
    pub fn new(
        link: Arc<dyn AuthorityLink>,
        authority: String,
        store_path: String,
        secure_area: Arc<dyn SecureArea>,
    ) -> Result<Arc<Self>, ResetError> {
        let store = Store::open(&store_path).map_err(|e| ResetError::Store {
            reason: e.to_string(),
        })?;
        let client = core_reset::ResetClient::new(
            Arc::new(ForeignAuthorityLink(link)),
            Arc::new(store),
            Arc::new(ForeignSecureArea(secure_area)),
            Arc::new(mynakit_core::SystemClock),
            &authority,
        )?;
        Ok(Arc::new(Self { client }))
    }

    /// The time by the authority's clock as last seen (the phone's clock
    /// corrected by the offset): stamp camera frames with it.
    pub fn now(&self) -> SystemTime {
        self.client.now().into()
    }

    /// The installation key's public half (SEC1 uncompressed), created in
    /// the secure area on first use.
    pub async fn installation_key(&self) -> Result<Vec<u8>, ResetError> {
        Ok(self.client.installation_key().await?)
    }

    /// Step 1: starts a reset of `kind`; fetches the authority's challenge
    /// (which the card signs in the tap).
    pub async fn begin(&self, kind: ResetKind) -> Result<Arc<ResetFlow>, ResetError> {
        let inner = self.client.begin(kind.into()).await?;
        Ok(Arc::new(ResetFlow {
            kind,
            slot: Mutex::new(Some(inner)),
        }))
    }

    /// Step 3, the one tap over the app's card transport: builds 照合番号B
    /// from the card front as read (`昭和60年6月15日生`, `2035年6月15日まで有効`,
    /// `4821`; R8: let the user correct misread characters first), reads
    /// the card face record, checks the token is a physical card's (R10),
    /// verifies `other_secret` (R4: the 4-digit PIN for a signing-password
    /// reset, the signing password for a PIN reset) and has the card sign
    /// the challenge. A wrong 照合番号B spends no JPKI try (it is checked
    /// first); it is never retried. `allow_last_try` is the consent to spend
    /// the other secret's last try; 照合番号B has its own
    /// (`ResetFlow::allow_check_code_last_try`).
    ///
    /// A tap whose caller is cancelled while the card checks a secret
    /// cannot report whether the card counted a try (the channel goes with
    /// the call): read the PIN state (`CardSession.pin_status`) before
    /// offering the secret again.
    #[uniffi::method(default(allow_last_try = false))]
    #[allow(clippy::too_many_arguments)] // The card front's three fields, as the card prints them.
    pub async fn tap(
        &self,
        flow: Arc<ResetFlow>,
        transport: Arc<dyn CardTransport>,
        birth_date_text: String,
        expiry_text: String,
        security_code: String,
        other_secret_text: String,
        allow_last_try: bool,
    ) -> Result<(), ResetError> {
        let (birth_date_text, expiry_text, security_code, other_secret_text) = (
            Zeroizing::new(birth_date_text),
            Zeroizing::new(expiry_text),
            Zeroizing::new(security_code),
            Zeroizing::new(other_secret_text),
        );
        let check_code =
            CheckCodeB::from_card_front(&birth_date_text, &expiry_text, &security_code).map_err(
                |e| ResetError::InvalidInput {
                    reason: e.to_string(),
                },
            )?;
        let other = other_secret(flow.kind, &other_secret_text)?;
        let last_try = if allow_last_try {
            LastTry::Allow
        } else {
            LastTry::Refuse
        };
        let mut lease = flow.lease()?;
        let mut channel = CardChannel::new(ForeignTransport(transport));
        self.client
            .tap(lease.get()?, &mut channel, &check_code, &other, last_try)
            .await?;
        Ok(())
    }

    /// Step 4 (signing password only, R2): opens a face-check session.
    /// Ask the user for the actions in order, then call `submit_capture`.
    pub async fn open_face_check(
        &self,
        flow: Arc<ResetFlow>,
    ) -> Result<FaceCheckPrompt, ResetError> {
        let mut lease = flow.lease()?;
        let prompt = self.client.open_face_check(lease.get()?).await?;
        Ok(FaceCheckPrompt {
            session_id: prompt.session_id,
            actions: prompt.actions.into_iter().map(Into::into).collect(),
            start_by: prompt.start_by.into(),
            ends_by: prompt.ends_by.into(),
            max_attempts: prompt.max_attempts,
        })
    }

    /// Sends one capture: a neutral frame, then the frames taken while each
    /// action was asked, stamped with [`PinResetClient::now`]. Pass or fail
    /// only.
    pub async fn submit_capture(
        &self,
        flow: Arc<ResetFlow>,
        frames: Vec<Frame>,
    ) -> Result<CaptureResult, ResetError> {
        let frames = frames
            .into_iter()
            .map(Frame::into_core)
            .collect::<Result<Vec<_>, _>>()?;
        let mut lease = flow.lease()?;
        let result = self.client.submit_capture(lease.get()?, frames).await?;
        Ok(CaptureResult {
            passed: result.passed,
            attempts_left: result.attempts_left,
        })
    }

    /// Step 5: the reservation (24 hours, R5; chains, R6), kept in the store.
    pub async fn reserve(&self, flow: Arc<ResetFlow>) -> Result<KeptReservation, ResetError> {
        let mut lease = flow.lease()?;
        Ok(self.client.reserve(lease.get()?).await?.into())
    }

    /// The reservations kept on the phone, offline: state and time left by
    /// the corrected clock, eligible chains. Newest first.
    pub fn reservations(&self) -> Result<Vec<KeptReservation>, ResetError> {
        Ok(self
            .client
            .reservations()?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Asks the authority for every reservation made with this
    /// installation key and keeps them.
    pub async fn refresh(&self) -> Result<Vec<KeptReservation>, ResetError> {
        Ok(self
            .client
            .refresh()
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Cancels reservation `id` and keeps the authority's answer.
    pub async fn cancel(&self, id: String) -> Result<KeptReservation, ResetError> {
        Ok(self.client.cancel(&id).await?.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_convert_both_ways_and_out_of_range_is_none() {
        let t = UNIX_EPOCH + Duration::new(1_780_000_000, 5);
        let back: SystemTime = utc(t).unwrap().into();
        assert_eq!(back, t);
        let before = UNIX_EPOCH - Duration::from_secs(86_400);
        assert_eq!(utc(before).unwrap().timestamp(), -86_400);
        assert_eq!(utc(UNIX_EPOCH + Duration::from_secs(u64::MAX / 4)), None);
    }

    #[test]
    fn the_other_secret_follows_the_kind_r4() {
        assert!(matches!(
            other_secret(ResetKind::SigningPassword, "1234"),
            Ok(core_reset::OtherSecret::AuthPin(_))
        ));
        assert!(matches!(
            other_secret(ResetKind::AuthPin, "SANDBOX1"),
            Ok(core_reset::OtherSecret::SigningPassword(_))
        ));
        assert!(matches!(
            other_secret(ResetKind::AuthPin, "1234"),
            Err(ResetError::InvalidInput { .. })
        ));
    }

    #[test]
    fn core_errors_map_to_flat_cases() {
        use mynakit_core::CardError;
        assert_eq!(
            ResetError::from(core_reset::ResetError::Card(CardError::WrongCheckCode {
                tries_left: 4
            })),
            ResetError::WrongCheckCode { tries_left: 4 }
        );
        assert_eq!(
            ResetError::from(core_reset::ResetError::Refused {
                error: core_reset::Refusal::AlreadyReserved,
                status: 409,
                id: Some("ab".into())
            }),
            ResetError::Refused {
                refusal: Refusal::AlreadyReserved,
                status: 409,
                reservation_id: Some("ab".into())
            }
        );
        let unavailable = ResetError::from(core_reset::ResetError::Authority(
            mynakit_core::AuthorityError::Unavailable { reason: "x".into() },
        ));
        assert!(unavailable.is_retryable());
        let garbled = ResetError::from(core_reset::ResetError::AnswerGarbled {
            what: "not JSON".into(),
        });
        assert!(matches!(garbled, ResetError::AnswerGarbled { .. }) && garbled.is_retryable());
        assert!(!ResetError::WrongPin { tries_left: 2 }.is_retryable());
    }

    #[test]
    fn frames_hide_their_pixels_in_debug() {
        let frame = Frame {
            width: 64,
            height: 80,
            grey: vec![0xAB; 4],
            captured_at: UNIX_EPOCH,
            action: Some(LivenessAction::Nod),
        };
        let text = format!("{frame:?}");
        assert!(text.contains("redacted") && !text.contains("171"), "{text}");
    }
}
