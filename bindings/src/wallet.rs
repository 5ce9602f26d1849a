//! The card-substitute wallet (issue 9) for Kotlin and Swift:
//! [`WalletClient`] over the core's `mynakit_core::wallet::WalletClient`,
//! its records, and one flat error enum, [`WalletError`], that a Kotlin
//! `when` or a Swift `switch` takes case by case. Thin: every decision is
//! the core's (rules W1–W12, `docs/wallet-protocol.md`).
//!
//! The steps: `begin_application` (the issuer's nonce; the device key made
//! in the app's secure area, asking the user before every use: W10) →
//! `tap` (one tap: the card information and the card's signature, W2) →
//! `submit_application` (the issuer checks and issues: W3, W4). Then,
//! offline, `records` and `record_elements`; with the user's
//! authentication, `present` (W10); `refresh` re-issues without the card
//! when W6 says so; `revoke` (W7(2), (3)); `notices` (W8, W9).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use mynakit_core::wallet as core_wallet;
use mynakit_core::wallet::mdoc as core_mdoc;
use mynakit_core::wallet::wire as core_wire;
use mynakit_core::{CardChannel, KenhojoPin, SigningPassword, Store};
use zeroize::Zeroizing;

use crate::authority::{AuthorityLink, ForeignAuthorityLink};
use crate::error::MynaKitError;
use crate::secure_area::{ForeignSecureArea, KeyInfo, SecureArea};
use crate::transport::{CardTransport, ForeignTransport};

/// A record's state (the issuer's last word, and `Expired` once the
/// corrected clock passes its end of validity).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum RecordStatus {
    /// In force.
    Valid,
    /// Temporarily stopped: the phone was reported lost (W9).
    Suspended,
    /// Stopped for good.
    Revoked,
    /// Its validity ended (W5).
    Expired,
}

/// Why a record was revoked (W7, W8(1)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum RevocationReason {
    /// W7(2), W7(3): the holder asked, from the phone.
    HolderRequest,
    /// W7(1): the holder reported the key compromised (call centre).
    KeyCompromise,
    /// W8(1)(1): the card's signing certificate was revoked.
    CertificateRevoked,
    /// W8(1)(2): a recording error was found.
    RecordingError,
    /// W8(1)(3): the holder's birthday arrived (a new record follows, W6(2)).
    Birthday,
    /// W8(1)(4): the issuer's signing key leaked.
    IssuerKeyCompromise,
    /// W8(1)(5): technical or operational necessity.
    Operational,
    /// A newer record replaced it (W6): one record in force.
    Superseded,
}

/// Why a record is re-issued (W6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ReissueReason {
    /// W6(1): validity ended.
    ValidityEnded,
    /// W6(2): the holder's birthday arrived.
    Birthday,
    /// W6(3): used more than the policy count.
    UsageCount,
    /// W6(4): the phone was recovered after a loss report.
    Recovered,
}

/// Why the card must be tapped again for a new record (W6, W10, W11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
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

/// The card secrets the application tap spends, each with its own consent
/// to spend a last try.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ApplySecret {
    /// The card-info PIN (券面事項入力補助用暗証番号, 4 digits).
    CardInfoPin,
    /// The signing password (署名用パスワード).
    SigningPassword,
}

/// The issuer's refusal kinds (`docs/wallet-protocol.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum WalletRefusal {
    /// The request was malformed (a bug on our side).
    BadRequest,
    /// No bearer token, or not this record's.
    Unauthorized,
    /// No such nonce (or used already).
    NonceUnknown,
    /// The nonce is past its lifetime.
    NonceExpired,
    /// W4: the signing certificate is not a JPKI signing certificate.
    CertificateUntrusted,
    /// W4, W6: the signing certificate expired.
    CertificateExpired,
    /// W4, W6, W8(1)(1): the signing certificate is revoked.
    CertificateRevoked,
    /// The card's signature does not verify.
    BadCardSignature,
    /// The device key's signature does not verify.
    BadDeviceSignature,
    /// The data does not match the signing certificate.
    DataMismatch,
    /// W10: the device key does not ask the user before every use, or its
    /// security level is not accepted.
    AttestationRefused,
    /// W3: a record is in force for this person.
    RecordInForce,
    /// No such record.
    RecordNotFound,
    /// W6: the re-issue asked for is not due.
    NotDue,
    /// W9: the record is suspended.
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
    Unknown,
}

macro_rules! same_enum {
    ($name:ident, $core:path { $($variant:ident),* $(,)? }) => {
        impl From<$core> for $name {
            fn from(value: $core) -> Self {
                use $core as C;
                match value { $(C::$variant => Self::$variant),* }
            }
        }
        impl From<$name> for $core {
            fn from(value: $name) -> Self {
                use $core as C;
                match value { $($name::$variant => C::$variant),* }
            }
        }
    };
}

same_enum!(
    RecordStatus,
    core_wire::RecordStatus {
        Valid,
        Suspended,
        Revoked,
        Expired
    }
);
same_enum!(
    RevocationReason,
    core_wire::RevocationReason {
        HolderRequest,
        KeyCompromise,
        CertificateRevoked,
        RecordingError,
        Birthday,
        IssuerKeyCompromise,
        Operational,
        Superseded,
    }
);
same_enum!(
    ReissueReason,
    core_wire::ReissueReason {
        ValidityEnded,
        Birthday,
        UsageCount,
        Recovered
    }
);
same_enum!(
    ReapplyReason,
    core_wallet::ReapplyReason {
        CertificateExpired,
        CertificateRevoked,
        DeviceKeyInvalidated,
        RecordRevoked,
        VaultLost,
    }
);
same_enum!(
    ApplySecret,
    core_wallet::ApplySecret {
        CardInfoPin,
        SigningPassword
    }
);
same_enum!(
    WalletRefusal,
    core_wallet::WalletRefusal {
        BadRequest,
        Unauthorized,
        NonceUnknown,
        NonceExpired,
        CertificateUntrusted,
        CertificateExpired,
        CertificateRevoked,
        BadCardSignature,
        BadDeviceSignature,
        DataMismatch,
        AttestationRefused,
        RecordInForce,
        RecordNotFound,
        NotDue,
        RecordSuspended,
        RecordRevoked,
        IdempotencyKeyReused,
        NoSuchRoute,
        Internal,
        StatusListNotFound,
        Unknown,
    }
);

/// A record as the phone last knew it. No personal data (the elements are
/// read with `record_elements`).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct WalletRecord {
    /// The issuer's id of the record.
    pub record_id: String,
    /// When it was issued.
    pub issued_at: SystemTime,
    /// Start of validity.
    pub valid_from: SystemTime,
    /// End of validity (W5: the end of the one-month period in Japan time).
    pub valid_until: SystemTime,
    /// Its state now.
    pub status: RecordStatus,
    /// Why it stopped, when it was revoked.
    pub revocation_reason: Option<RevocationReason>,
    /// The record that replaced it.
    pub replaced_by: Option<String>,
    /// Presentations made with it (W6(3), W10: each counted).
    pub uses: u64,
    /// A re-issue the phone would ask for at the next refresh, as far as it
    /// can tell offline.
    pub reissue_due: Option<ReissueReason>,
    /// When the signing certificate used to apply expires: re-issue without
    /// the card is possible until then (W6).
    pub signing_certificate_not_after: SystemTime,
    /// Where its status is published (Token Status List URI).
    pub status_uri: String,
    /// Its index there.
    pub status_idx: u64,
    /// Whether it is the record in force (valid or suspended, not expired,
    /// not replaced).
    pub in_force: bool,
}

impl From<core_wallet::WalletRecord> for WalletRecord {
    fn from(r: core_wallet::WalletRecord) -> Self {
        let in_force = r.in_force();
        Self {
            record_id: r.record_id,
            issued_at: r.issued_at.into(),
            valid_from: r.valid_from.into(),
            valid_until: r.valid_until.into(),
            status: r.status.into(),
            revocation_reason: r.revocation_reason.map(Into::into),
            replaced_by: r.replaced_by,
            uses: r.uses,
            reissue_due: r.reissue_due.map(Into::into),
            signing_certificate_not_after: r.signing_certificate_not_after.into(),
            status_uri: r.status_uri,
            status_idx: r.status_idx,
            in_force,
        }
    }
}

/// What a notice to the holder says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum NoticeKind {
    /// The record was revoked (W8 Art. 8(2); the holder's own requests are
    /// confirmed too).
    Revoked {
        /// Why.
        reason: RevocationReason,
    },
    /// Suspended: the phone was reported lost (W9).
    Suspended,
    /// The suspension was lifted: the phone was recovered (W6(4)).
    Resumed,
    /// A new record was issued in place of this one (W6).
    Reissued {
        /// Why.
        reason: ReissueReason,
    },
}

impl From<core_wire::NoticeKind> for NoticeKind {
    fn from(k: core_wire::NoticeKind) -> Self {
        use core_wire::NoticeKind as K;
        match k {
            K::Revoked { reason } => Self::Revoked {
                reason: reason.into(),
            },
            K::Suspended => Self::Suspended,
            K::Resumed => Self::Resumed,
            K::Reissued { reason } => Self::Reissued {
                reason: reason.into(),
            },
        }
    }
}

/// A notice to the holder.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Notice {
    /// The notice's id (stable).
    pub id: String,
    /// The record it concerns.
    pub record_id: String,
    /// What happened.
    pub kind: NoticeKind,
    /// When.
    pub at: SystemTime,
}

impl From<core_wire::Notice> for Notice {
    fn from(n: core_wire::Notice) -> Self {
        Self {
            id: n.id,
            record_id: n.record_id,
            kind: n.kind.into(),
            at: n.at.into(),
        }
    }
}

/// A public notice (W8 Art. 8(3): revocations for reasons (4), (5)).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PublicNotice {
    /// The notice's id.
    pub id: String,
    /// The reason.
    pub reason: RevocationReason,
    /// How many records it revoked.
    pub records: u64,
    /// What the issuer says.
    pub text: String,
    /// When.
    pub at: SystemTime,
}

impl From<core_wire::PublicNotice> for PublicNotice {
    fn from(n: core_wire::PublicNotice) -> Self {
        Self {
            id: n.id,
            reason: n.reason.into(),
            records: n.records,
            text: n.text,
            at: n.at.into(),
        }
    }
}

/// The holder's notices and the public ones.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Notices {
    /// To this holder, oldest first.
    pub holder: Vec<Notice>,
    /// Public notices.
    pub public: Vec<PublicNotice>,
}

impl From<core_wallet::Notices> for Notices {
    fn from(n: core_wallet::Notices) -> Self {
        Self {
            holder: n.holder.into_iter().map(Into::into).collect(),
            public: n.public.into_iter().map(Into::into).collect(),
        }
    }
}

/// A re-issue that happened (W6).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Reissued {
    /// The record replaced.
    pub old_record_id: String,
    /// The new record.
    pub new_record_id: String,
    /// Why.
    pub reason: ReissueReason,
}

/// What `refresh` found and did.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RefreshReport {
    /// Every record after the refresh, newest first.
    pub records: Vec<WalletRecord>,
    /// A record issued in place of another, if one was.
    pub reissued: Option<Reissued>,
    /// The card must be tapped again for a new record, and why.
    pub reapply: Option<ReapplyReason>,
    /// The issuer's notices to this holder, oldest first.
    pub notices: Vec<Notice>,
}

impl From<core_wallet::RefreshReport> for RefreshReport {
    fn from(r: core_wallet::RefreshReport) -> Self {
        Self {
            records: r.records.into_iter().map(Into::into).collect(),
            reissued: r.reissued.map(|x| Reissued {
                old_record_id: x.old_record_id,
                new_record_id: x.new_record_id,
                reason: x.reason.into(),
            }),
            reapply: r.reapply.map(Into::into),
            notices: r.notices.into_iter().map(Into::into).collect(),
        }
    }
}

/// An element's value. Personal data: `Debug` shows only the type.
#[derive(Clone, PartialEq, Eq, uniffi::Enum)]
pub enum ElementValue {
    /// Text.
    Text {
        /// The text.
        value: String,
    },
    /// Bytes (the portrait, JPEG 2000 as on the card).
    Bytes {
        /// The bytes.
        value: Vec<u8>,
    },
    /// An unsigned number (`age_in_years`).
    Unsigned {
        /// The number.
        value: u64,
    },
    /// A flag (`age_over_18`).
    Bool {
        /// The flag.
        value: bool,
    },
    /// A date, `YYYY-MM-DD` (`birth_date`).
    FullDate {
        /// The date as ISO 8601 text.
        value: String,
    },
    /// Another CBOR value, as its encoding.
    Other {
        /// The CBOR.
        cbor: Vec<u8>,
    },
}

impl std::fmt::Debug for ElementValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self {
            Self::Text { .. } => "Text",
            Self::Bytes { .. } => "Bytes",
            Self::Unsigned { .. } => "Unsigned",
            Self::Bool { .. } => "Bool",
            Self::FullDate { .. } => "FullDate",
            Self::Other { .. } => "Other",
        };
        write!(f, "{kind}(<redacted>)")
    }
}

impl From<core_mdoc::ElementValue> for ElementValue {
    fn from(v: core_mdoc::ElementValue) -> Self {
        use core_mdoc::ElementValue as V;
        match v {
            V::Text(value) => Self::Text { value },
            V::Bytes(value) => Self::Bytes { value },
            V::Unsigned(value) => Self::Unsigned { value },
            V::Bool(value) => Self::Bool { value },
            V::FullDate(date) => Self::FullDate {
                value: date.format("%Y-%m-%d").to_string(),
            },
            V::Other(cbor) => Self::Other { cbor },
        }
    }
}

/// One element of a record: `namespace/identifier` and its value.
/// Personal data: `Debug` shows the name only.
#[derive(Clone, PartialEq, Eq, uniffi::Record)]
pub struct RecordElement {
    /// The namespace (`org.iso.23220.1.jp`, `org.iso.23220.1`).
    pub namespace: String,
    /// The identifier (`full_name_unicode`, `age_over_18`, …).
    pub identifier: String,
    /// The value.
    pub value: ElementValue,
}

impl std::fmt::Debug for RecordElement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{} = {:?}",
            self.namespace, self.identifier, self.value
        )
    }
}

/// Why a wallet call stopped. The phone's store is as before the call, or
/// holds its whole outcome; `is_retryable` says when calling the same step
/// again may pass (the same request then goes under the same key).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum WalletError {
    /// A wrong secret; `tries_left` before the card blocks it.
    #[error("wrong PIN or password, {tries_left} tries left")]
    WrongPin {
        /// Tries left.
        tries_left: u8,
    },
    /// The secret is blocked (unblock at the municipal office).
    #[error("the PIN is blocked")]
    PinBlocked,
    /// `secret` has one try left: nothing was sent. Confirm with the user,
    /// then `WalletApplication.allow_last_try(secret)` and tap again.
    #[error("{secret:?} has one try left: confirm before spending it")]
    LastTry {
        /// Which secret.
        secret: ApplySecret,
    },
    /// The card's try counter could not be read; confirm before trying.
    #[error("the tries left are unknown: confirm before trying")]
    TriesUnknownNeedsConfirmation,
    /// A VERIFY whose outcome is unknown (the card went away mid-check).
    #[error("whether the card counted a try is unknown: {detail}")]
    VerifyOutcomeUnknown {
        /// The tries left as last read, if known.
        tries_left: Option<u8>,
        /// What happened.
        detail: String,
    },
    /// The card was taken away: tap again.
    #[error("the card was removed")]
    CardRemoved,
    /// The card link failed: tap again.
    #[error("the card link failed: {reason}")]
    CardLinkFailed {
        /// What failed.
        reason: String,
    },
    /// Not a card this library reads.
    #[error("card not supported: {reason}")]
    CardNotSupported {
        /// Why.
        reason: String,
    },
    /// The card's data does not parse.
    #[error("malformed card data: {reason}")]
    MalformedCardData {
        /// What.
        reason: String,
    },
    /// The app's input is not valid (a PIN's format, an element name).
    #[error("invalid input: {reason}")]
    InvalidInput {
        /// What.
        reason: String,
    },
    /// The call was cancelled.
    #[error("cancelled")]
    Cancelled,
    /// The issuer cannot be reached (W12): retry later.
    #[error("the issuer is unavailable: {reason}")]
    AuthorityUnavailable {
        /// What failed.
        reason: String,
    },
    /// The issuer did not answer in time: retry.
    #[error("the issuer did not answer in time")]
    AuthorityTimeout,
    /// The request went out and the answer was lost: retry (same key).
    #[error("the answer was lost: {reason}")]
    AnswerLost {
        /// What failed.
        reason: String,
    },
    /// 429: retry after `retry_after`.
    #[error("rate limited")]
    RateLimited {
        /// How long to wait, if the issuer said.
        retry_after: Option<std::time::Duration>,
    },
    /// 503: maintenance.
    #[error("the issuer is out of service")]
    OutOfService {
        /// How long to wait, if the issuer said.
        retry_after: Option<std::time::Duration>,
    },
    /// An answer the wallet does not know what to do with.
    #[error("the issuer answered status {status}")]
    AuthorityRefused {
        /// The HTTP status.
        status: u16,
    },
    /// The issuer refused the request.
    #[error("the issuer refused: {refusal:?} (status {status})")]
    Refused {
        /// Why.
        refusal: WalletRefusal,
        /// The HTTP status.
        status: u16,
    },
    /// W3: a record is in force; revoke it before applying again.
    #[error("a record is in force already ({record_id}): W3")]
    RecordInForce {
        /// The record in force.
        record_id: String,
    },
    /// Apply again with the card (W6).
    #[error("apply again with the card: {reason:?}")]
    ReapplyWithCard {
        /// Why.
        reason: ReapplyReason,
    },
    /// The record cannot be used now (suspended, revoked, expired).
    #[error("the record cannot be used: {status:?} {reason:?}")]
    RecordNotUsable {
        /// Its state.
        status: RecordStatus,
        /// Why it stopped, when revoked.
        reason: Option<RevocationReason>,
    },
    /// No record with this id on the phone.
    #[error("no record {id} on this phone")]
    NoSuchRecord {
        /// The id.
        id: String,
    },
    /// The verifier asked for an element the record does not have.
    #[error("the record has no element {element}")]
    ElementAbsent {
        /// `namespace/identifier`.
        element: String,
    },
    /// W10: the secure area made a key that does not ask the user before
    /// every use; the wallet refuses it.
    #[error("the secure area cannot make a key that asks the user before every use (W10)")]
    UserAuthenticationNotEnforced,
    /// The user cancelled the prompt (nothing was signed).
    #[error("the user cancelled")]
    UserCancelled,
    /// The user's authentication failed.
    #[error("the user's authentication failed")]
    UserAuthenticationFailed,
    /// The phone has no secure lock screen (W10), or the app gave no way to
    /// prompt.
    #[error("no user authentication is set up")]
    NoUserAuthentication,
    /// A key the wallet needs was invalidated (lock screen removed,
    /// biometrics changed).
    #[error("the key {alias} was invalidated")]
    KeyInvalidated {
        /// Its alias.
        alias: String,
    },
    /// The secure area failed.
    #[error("the secure area failed: {reason}")]
    SecureAreaFailed {
        /// What failed.
        reason: String,
    },
    /// A step was called before the one it needs.
    #[error("{step} needs {needs} first")]
    OutOfOrder {
        /// The step.
        step: String,
        /// What must come first.
        needs: String,
    },
    /// The verifier's session transcript is unusable.
    #[error("the session transcript is unusable: {reason}")]
    BadTranscript {
        /// What was wrong.
        reason: String,
    },
    /// The card's birth date is unknown: no record can be issued.
    #[error("the card's birth date is unknown")]
    BirthDateUnknown,
    /// A damaged answer: call the same step again.
    #[error("the issuer's answer was damaged: {reason}")]
    AnswerGarbled {
        /// What was wrong.
        reason: String,
    },
    /// An answer that cannot be right.
    #[error("the issuer's answer cannot be right: {reason}")]
    BadAnswer {
        /// What was wrong.
        reason: String,
    },
    /// The phone's store failed, or a sealed record did not open.
    #[error("the store failed: {reason}")]
    Store {
        /// What failed.
        reason: String,
    },
    /// Another step on this application is still running: one at a time.
    #[error("another step on this application is still running")]
    Busy,
    /// Something that should not happen (a bug).
    #[error("internal error: {reason}")]
    Internal {
        /// What happened.
        reason: String,
    },
}

impl From<MynaKitError> for WalletError {
    fn from(e: MynaKitError) -> Self {
        match e {
            MynaKitError::WrongPin { tries_left } | MynaKitError::WrongCheckCode { tries_left } => {
                Self::WrongPin { tries_left }
            }
            MynaKitError::PinBlocked => Self::PinBlocked,
            // The core turns the card's last-try refusal into LastTry with
            // its secret; this one comes from elsewhere.
            MynaKitError::LastTryNeedsConfirmation
            | MynaKitError::TriesUnknownNeedsConfirmation => Self::TriesUnknownNeedsConfirmation,
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
            MynaKitError::PinRequired => Self::CardLinkFailed {
                reason: e.to_string(),
            },
            MynaKitError::SessionBusy => Self::Busy,
            MynaKitError::Internal { reason } => Self::Internal { reason },
        }
    }
}

impl From<mynakit_core::AuthorityError> for WalletError {
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

impl From<mynakit_core::SecureAreaError> for WalletError {
    fn from(e: mynakit_core::SecureAreaError) -> Self {
        use mynakit_core::SecureAreaError as E;
        match e {
            E::UserCancelled => Self::UserCancelled,
            E::UserAuthenticationFailed => Self::UserAuthenticationFailed,
            E::NoUserAuthentication => Self::NoUserAuthentication,
            E::KeyInvalidated { alias } => Self::KeyInvalidated { alias },
            other @ (E::KeyNotFound { .. } | E::WrongPurpose { .. } | E::Unavailable { .. }) => {
                Self::SecureAreaFailed {
                    reason: other.to_string(),
                }
            }
        }
    }
}

impl From<core_wallet::WalletError> for WalletError {
    fn from(e: core_wallet::WalletError) -> Self {
        use core_wallet::WalletError as E;
        match e {
            E::Card(card) => MynaKitError::from(card).into(),
            E::Authority(authority) => authority.into(),
            E::Refused { error, status } => Self::Refused {
                refusal: error.into(),
                status,
            },
            E::RecordInForce { record_id } => Self::RecordInForce { record_id },
            E::ReapplyWithCard { reason } => Self::ReapplyWithCard {
                reason: reason.into(),
            },
            E::RecordNotUsable { status, reason } => Self::RecordNotUsable {
                status: status.into(),
                reason: reason.map(Into::into),
            },
            E::NoSuchRecord { id } => Self::NoSuchRecord { id },
            E::ElementAbsent { element } => Self::ElementAbsent { element },
            E::UserAuthenticationNotEnforced => Self::UserAuthenticationNotEnforced,
            E::OutOfOrder { step, needs } => Self::OutOfOrder {
                step: step.to_owned(),
                needs: needs.to_owned(),
            },
            E::LastTry { secret } => Self::LastTry {
                secret: secret.into(),
            },
            E::BadTranscript { what } => Self::BadTranscript { reason: what },
            E::BirthDateUnknown => Self::BirthDateUnknown,
            E::AnswerGarbled { what } => Self::AnswerGarbled { reason: what },
            E::BadAnswer { what } => Self::BadAnswer { reason: what },
            E::Store(store) => Self::Store {
                reason: store.to_string(),
            },
            E::Seal(seal) => Self::Store {
                reason: seal.to_string(),
            },
            E::SecureArea(area) => area.into(),
        }
    }
}

impl From<uniffi::UnexpectedUniFFICallbackError> for WalletError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        Self::Internal { reason: e.reason }
    }
}

impl WalletError {
    /// Whether calling the same step again later may succeed: the issuer
    /// unreachable or slow (W12), 429, 503, a damaged answer, a tap
    /// interrupted. Never for a refusal or a wrong secret.
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
                | Self::CardRemoved
                | Self::CardLinkFailed { .. }
        )
    }
}

/// Whether calling the same step again later may succeed (see
/// `WalletError.is_retryable`).
#[uniffi::export]
pub fn wallet_error_is_retryable(error: &WalletError) -> bool {
    error.is_retryable()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One application, from `begin_application` to `submit_application`.
/// Held by the app in memory; one step at a time. (After the app is
/// killed, `refresh` resends an application sent without a final answer.)
#[derive(uniffi::Object)]
pub struct WalletApplication {
    slot: Mutex<Option<core_wallet::WalletApplication>>,
}

impl std::fmt::Debug for WalletApplication {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WalletApplication").finish_non_exhaustive()
    }
}

/// The core's application lent to one step; given back when the step ends
/// or is dropped (a cancelled coroutine), so the application stays usable.
struct Lease<'a> {
    owner: &'a WalletApplication,
    inner: Option<core_wallet::WalletApplication>,
}

impl Lease<'_> {
    fn get(&mut self) -> Result<&mut core_wallet::WalletApplication, WalletError> {
        self.inner.as_mut().ok_or_else(|| WalletError::Internal {
            reason: "an application lease without an application".into(),
        })
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            *lock(&self.owner.slot) = Some(inner);
        }
    }
}

impl WalletApplication {
    fn lease(&self) -> Result<Lease<'_>, WalletError> {
        let inner = lock(&self.slot).take().ok_or(WalletError::Busy)?;
        Ok(Lease {
            owner: self,
            inner: Some(inner),
        })
    }
}

#[uniffi::export]
impl WalletApplication {
    /// Whether the tap is done.
    pub fn tapped(&self) -> bool {
        lock(&self.slot).as_ref().is_some_and(|a| a.tapped())
    }

    /// The new device key as the platform reported it (security level,
    /// attestation); `None` while a step is running.
    pub fn device_key(&self) -> Option<KeyInfo> {
        lock(&self.slot)
            .as_ref()
            .map(|a| a.device_key().clone().into())
    }

    /// Records the user's consent to spend the last try of `secret`, after
    /// a tap answered `LastTry`; the next tap may spend it.
    pub fn allow_last_try(&self, secret: ApplySecret) -> Result<(), WalletError> {
        let mut slot = lock(&self.slot);
        let application = slot.as_mut().ok_or(WalletError::Busy)?;
        application.allow_last_try(secret.into());
        Ok(())
    }
}

/// The wallet on the phone, for one issuer: over the app's authority link
/// (OkHttp, URLSession), secure area (Android Keystore, Secure Enclave) and
/// the phone's store, with the system clock corrected by the issuer's
/// `Date`.
#[derive(uniffi::Object)]
pub struct WalletClient {
    client: core_wallet::WalletClient,
}

impl std::fmt::Debug for WalletClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WalletClient").finish_non_exhaustive()
    }
}

#[uniffi::export]
impl WalletClient {
    /// A wallet of the issuer named `authority` (its base address: the
    /// store keeps its records and clock offset under that name), reached
    /// through `link`, with the phone's store at `store_path` (created if
    /// need be) and the keys in `secure_area`.
    #[uniffi::constructor]
    pub fn new(
        link: Arc<dyn AuthorityLink>,
        authority: String,
        store_path: String,
        secure_area: Arc<dyn SecureArea>,
    ) -> Result<Arc<Self>, WalletError> {
        let store = Store::open(&store_path).map_err(|e| WalletError::Store {
            reason: e.to_string(),
        })?;
        let client = core_wallet::WalletClient::new(
            Arc::new(ForeignAuthorityLink(link)),
            Arc::new(store),
            Arc::new(ForeignSecureArea(secure_area)),
            Arc::new(mynakit_core::SystemClock),
            &authority,
        )?;
        Ok(Arc::new(Self { client }))
    }

    /// The time by the issuer's clock as last seen.
    pub fn now(&self) -> SystemTime {
        self.client.now().into()
    }

    /// Step 1: the issuer's nonce, and the device key made in the secure
    /// area (user authentication before every use: W10; StrongBox when
    /// present; attested over the nonce). Refused while a record is in
    /// force on this phone (W3).
    pub async fn begin_application(&self) -> Result<Arc<WalletApplication>, WalletError> {
        let inner = self.client.begin_application().await?;
        Ok(Arc::new(WalletApplication {
            slot: Mutex::new(Some(inner)),
        }))
    }

    /// Step 2, the one tap (W2): the card information (card-info PIN), the
    /// face photo, the signing certificate and the card's signature
    /// (signing password). No try is spent past a last one the user did
    /// not allow (`WalletApplication.allow_last_try`).
    pub async fn tap(
        &self,
        application: Arc<WalletApplication>,
        transport: Arc<dyn CardTransport>,
        card_info_pin: String,
        signing_password: String,
    ) -> Result<(), WalletError> {
        let (card_info_pin, signing_password) = (
            Zeroizing::new(card_info_pin),
            Zeroizing::new(signing_password),
        );
        let invalid = |e: mynakit_core::PinFormatError| WalletError::InvalidInput {
            reason: e.to_string(),
        };
        let pin = KenhojoPin::new(&card_info_pin).map_err(invalid)?;
        let password = SigningPassword::new(&signing_password).map_err(invalid)?;
        let mut lease = application.lease()?;
        let mut channel = CardChannel::new(ForeignTransport(transport));
        self.client
            .tap(lease.get()?, &mut channel, &pin, &password)
            .await?;
        Ok(())
    }

    /// Step 3, after the card is put away: the device key signs (one
    /// prompt), the issuer checks and issues (W3, W4), the record is kept
    /// sealed. After a retryable failure call it again: the same request
    /// goes under the same key.
    pub async fn submit_application(
        &self,
        application: Arc<WalletApplication>,
    ) -> Result<WalletRecord, WalletError> {
        let mut lease = application.lease()?;
        Ok(self.client.submit_application(lease.get()?).await?.into())
    }

    /// Sends again every application sent without a final answer before the
    /// app stopped; the records the issuer made.
    pub async fn resume_applications(&self) -> Result<Vec<WalletRecord>, WalletError> {
        Ok(self
            .client
            .resume_applications()
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// The records on this phone, newest first, offline.
    pub fn records(&self) -> Result<Vec<WalletRecord>, WalletError> {
        Ok(self.client.records()?.into_iter().map(Into::into).collect())
    }

    /// One record, offline.
    pub fn record(&self, record_id: String) -> Result<WalletRecord, WalletError> {
        Ok(self.client.record(&record_id)?.into())
    }

    /// The record's elements, for the holder's own screen (personal data:
    /// show, never log). No prompt.
    pub async fn record_elements(
        &self,
        record_id: String,
    ) -> Result<Vec<RecordElement>, WalletError> {
        Ok(self
            .client
            .record_elements(&record_id)
            .await?
            .into_iter()
            .map(|(id, value)| element(id, value))
            .collect())
    }

    /// A presentation (ISO 18013-5 `DeviceResponse`, CBOR) of `elements`
    /// only (`namespace/identifier`, or the identifier alone), signed over
    /// the verifier's `session_transcript` (CBOR) after the user's
    /// authentication (W10). Each use is counted (W6(3)).
    pub async fn present(
        &self,
        record_id: String,
        elements: Vec<String>,
        session_transcript: Vec<u8>,
    ) -> Result<Vec<u8>, WalletError> {
        let wanted = elements
            .iter()
            .map(|e| core_mdoc::ElementId::parse(e))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| WalletError::InvalidInput {
                reason: e.to_string(),
            })?;
        Ok(self
            .client
            .present(&record_id, &wanted, &session_transcript)
            .await?)
    }

    /// Asks the issuer for the records' state and the holder's notices, and
    /// re-issues when W6 says so (one prompt, no card), or says to apply
    /// again. The issuer unreachable (W12): the error, nothing changed.
    pub async fn refresh(&self) -> Result<RefreshReport, WalletError> {
        Ok(self.client.refresh().await?.into())
    }

    /// Stops the record for good (W7(2), (3)); the device key signs (one
    /// prompt).
    pub async fn revoke(&self, record_id: String) -> Result<WalletRecord, WalletError> {
        Ok(self.client.revoke(&record_id).await?.into())
    }

    /// The holder's notices and the public ones, fetched now.
    pub async fn notices(&self) -> Result<Notices, WalletError> {
        Ok(self.client.notices().await?.into())
    }

    /// The holder's notices kept from the last fetch, offline.
    pub fn kept_notices(&self) -> Result<Vec<Notice>, WalletError> {
        Ok(self
            .client
            .kept_notices()?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// The status list token (`application/statuslist+cwt`) at `uri`,
    /// fetched or reused within the policy `ttl`; `None` when neither: the
    /// status is then undetermined, never "revoked".
    pub async fn status_list(&self, uri: String) -> Result<Option<Vec<u8>>, WalletError> {
        Ok(self
            .client
            .status_list(&uri, mynakit_core::wallet::policy::STATUS_LIST_TTL)
            .await?)
    }
}

/// What the status list said of a verified presentation.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum StatusCheck {
    /// The issuer's signed list says VALID.
    Valid,
    /// No usable list (none given, expired, another URI, not trusted): the
    /// verifier decides; the record is **not** reported revoked.
    Undetermined {
        /// Why.
        reason: String,
    },
}

/// A presentation that passed every check.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct VerifiedPresentation {
    /// `docType` (`org.iso.23220.1.jp.mnc`).
    pub doc_type: String,
    /// The disclosed elements, each matching its signed digest.
    pub elements: Vec<RecordElement>,
    /// Start of validity.
    pub valid_from: SystemTime,
    /// End of validity.
    pub valid_until: SystemTime,
    /// The status.
    pub status: StatusCheck,
}

/// Which check of a presentation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum VerifyFailure {
    /// The response does not parse.
    #[error("the response is malformed: {reason}")]
    Malformed {
        /// What was wrong.
        reason: String,
    },
    /// No document, or an error status.
    #[error("the response carries no document (status {status})")]
    NoDocument {
        /// The response's `status`.
        status: u64,
    },
    /// Not the My Number card record.
    #[error("the document is {doc_type}, not the My Number card record")]
    DocType {
        /// The `docType` found.
        doc_type: String,
    },
    /// The document signer's chain does not lead to a given anchor.
    #[error("the issuer is not trusted: {reason}")]
    UntrustedIssuer {
        /// Why.
        reason: String,
    },
    /// The MSO's signature does not verify.
    #[error("the issuer's signature over the MSO does not verify")]
    IssuerSignature,
    /// A disclosed element does not match its digest.
    #[error("the element {element} does not match the signed digest")]
    DigestMismatch {
        /// `namespace/identifier`.
        element: String,
    },
    /// Before `validFrom`.
    #[error("the record is not valid yet")]
    NotYetValid,
    /// At or after `validUntil`.
    #[error("the record has expired")]
    Expired,
    /// The device signature does not cover this transcript with the
    /// record's device key (a replay, or not the holder's phone).
    #[error("the device signature does not verify over this session")]
    DeviceSignature,
    /// The status list says INVALID.
    #[error("the record is revoked")]
    Revoked,
    /// The status list says SUSPENDED.
    #[error("the record is suspended")]
    Suspended,
    /// A status this reader does not know (not called valid).
    #[error("the record's status is {status}")]
    UnknownStatus {
        /// The status value.
        status: u8,
    },
    /// `now` is out of the range a date can hold.
    #[error("invalid input: {reason}")]
    InvalidInput {
        /// What.
        reason: String,
    },
}

impl From<core_wallet::verifier::VerifyFailure> for VerifyFailure {
    fn from(e: core_wallet::verifier::VerifyFailure) -> Self {
        use core_wallet::verifier::VerifyFailure as F;
        match e {
            F::Malformed(m) => Self::Malformed {
                reason: m.to_string(),
            },
            F::NoDocument { status } => Self::NoDocument { status },
            F::DocType(doc_type) => Self::DocType { doc_type },
            F::UntrustedIssuer(chain) => Self::UntrustedIssuer {
                reason: chain.to_string(),
            },
            F::IssuerSignature => Self::IssuerSignature,
            F::DigestMismatch { element } => Self::DigestMismatch { element },
            F::NotYetValid => Self::NotYetValid,
            F::Expired => Self::Expired,
            F::DeviceSignature => Self::DeviceSignature,
            F::Revoked => Self::Revoked,
            F::Suspended => Self::Suspended,
            F::UnknownStatus(status) => Self::UnknownStatus { status },
        }
    }
}

fn element(id: core_mdoc::ElementId, value: core_mdoc::ElementValue) -> RecordElement {
    RecordElement {
        namespace: id.namespace,
        identifier: id.identifier,
        value: value.into(),
    }
}

/// Checks a presentation (`DeviceResponse`, CBOR) for the verifier's own
/// `session_transcript` at `now`: the MSO's signature to one of `anchors`
/// (IACA certificates, DER), every disclosed digest, the document type,
/// the validity, the device signature over the transcript, then the status
/// with `status_list` (a status list token) if the verifier has one. For a
/// desktop, a kiosk or another phone.
#[uniffi::export]
pub fn verify_presentation(
    anchors: Vec<Vec<u8>>,
    device_response: Vec<u8>,
    session_transcript: Vec<u8>,
    now: SystemTime,
    status_list: Option<Vec<u8>>,
) -> Result<VerifiedPresentation, VerifyFailure> {
    let now = crate::reset::utc(now).ok_or_else(|| VerifyFailure::InvalidInput {
        reason: "the time is out of range".into(),
    })?;
    let verified = core_wallet::verifier::Verifier::new(anchors).verify(
        &device_response,
        &session_transcript,
        now,
        status_list.as_deref(),
    )?;
    Ok(VerifiedPresentation {
        doc_type: verified.doc_type,
        elements: verified
            .elements
            .into_iter()
            .map(|(id, value)| element(id, value))
            .collect(),
        valid_from: verified.valid_from.into(),
        valid_until: verified.valid_until.into(),
        status: match verified.status {
            core_wallet::verifier::StatusCheck::Valid => StatusCheck::Valid,
            core_wallet::verifier::StatusCheck::Undetermined { reason } => {
                StatusCheck::Undetermined { reason }
            }
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_hide_their_values_in_debug() {
        let e = RecordElement {
            namespace: core_mdoc::NAMESPACE_JP.into(),
            identifier: "full_name_unicode".into(),
            value: ElementValue::Text {
                value: "番号　花子".into(),
            },
        };
        let text = format!("{e:?}");
        assert!(
            text.contains("full_name_unicode") && text.contains("redacted"),
            "{text}"
        );
        assert!(!text.contains("花子"), "{text}");
    }

    #[test]
    fn core_errors_map_to_flat_cases_w10_w12() {
        assert_eq!(
            WalletError::from(core_wallet::WalletError::SecureArea(
                mynakit_core::SecureAreaError::UserCancelled
            )),
            WalletError::UserCancelled
        );
        assert_eq!(
            WalletError::from(core_wallet::WalletError::RecordInForce {
                record_id: "ab".into()
            }),
            WalletError::RecordInForce {
                record_id: "ab".into()
            }
        );
        let refused = WalletError::from(core_wallet::WalletError::Refused {
            error: core_wallet::WalletRefusal::CertificateRevoked,
            status: 403,
        });
        assert_eq!(
            refused,
            WalletError::Refused {
                refusal: WalletRefusal::CertificateRevoked,
                status: 403
            }
        );
        assert!(!refused.is_retryable());
        let unavailable = WalletError::from(core_wallet::WalletError::Authority(
            mynakit_core::AuthorityError::Unavailable { reason: "x".into() },
        ));
        assert!(unavailable.is_retryable() && wallet_error_is_retryable(&unavailable));
    }

    #[test]
    fn a_verification_of_garbage_says_malformed() {
        let failure =
            verify_presentation(vec![], vec![0xff], vec![0x80], SystemTime::UNIX_EPOCH, None);
        assert!(
            matches!(failure, Err(VerifyFailure::Malformed { .. })),
            "{failure:?}"
        );
    }
}
