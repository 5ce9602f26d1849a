//! The two error types that cross the FFI: what the app's transport reports
//! ([`TransportFailure`]) and what an operation ends with ([`MynaKitError`]).
//!
//! Field names avoid `message` and `cause`: generated Kotlin exceptions
//! already have properties with those names.

use mynakit_core::CheckCodeError;
use mynakit_core::PinFormatError;
use mynakit_core::{AnchorError, CertificateError, CertificateRole, ChainError};
use mynakit_core::{CardError, TransportError};

/// Why the app's transport could not exchange a command with the card
/// (thrown by `CardTransport.transmit` in Kotlin and Swift).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum TransportFailure {
    /// The card left the field (Android `TagLostException`, CoreNFC
    /// `readerTransceiveErrorTagConnectionLost`).
    #[error("the card was removed")]
    CardRemoved,
    /// No card is connected.
    #[error("no card is present")]
    NoCard,
    /// The card did not answer in time.
    #[error("the card did not answer in time")]
    Timeout,
    /// The exchange was stopped because the caller was cancelled (the
    /// transport closed IsoDep or invalidated the CoreNFC session).
    #[error("the exchange was cancelled")]
    Cancelled,
    /// The link failed in another way.
    #[error("card link failed: {reason}")]
    Link {
        /// What the platform reported.
        reason: String,
    },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for TransportFailure {
    /// An exception the transport threw that is not a `TransportFailure`.
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        Self::Link { reason: e.reason }
    }
}

impl From<TransportFailure> for TransportError {
    fn from(e: TransportFailure) -> Self {
        match e {
            TransportFailure::CardRemoved => Self::CardRemoved,
            TransportFailure::NoCard => Self::NoCard,
            TransportFailure::Timeout => Self::Timeout,
            TransportFailure::Cancelled => Self::Cancelled,
            TransportFailure::Link { reason } => Self::Link { message: reason },
        }
    }
}

impl From<TransportError> for TransportFailure {
    fn from(e: TransportError) -> Self {
        match e {
            TransportError::CardRemoved => Self::CardRemoved,
            TransportError::NoCard => Self::NoCard,
            TransportError::Timeout => Self::Timeout,
            TransportError::Cancelled => Self::Cancelled,
            TransportError::Garbled { .. } => Self::Link {
                reason: e.to_string(),
            },
            TransportError::Link { message } => Self::Link { reason: message },
        }
    }
}

/// Why an operation failed: one case per thing an app does differently.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum MynaKitError {
    /// The PIN was wrong; ask again, showing the tries left.
    #[error("wrong PIN: {tries_left} tries left")]
    WrongPin {
        /// Tries left after this one.
        tries_left: u8,
    },
    /// The numbers read from the card front (照合番号B) do not match the
    /// card: let the user correct them. Their limit is not published; never
    /// retry on your own.
    #[error("the card-front numbers do not match this card: {tries_left} tries left")]
    WrongCheckCode {
        /// Tries left after this one.
        tries_left: u8,
    },
    /// The PIN is blocked: only the municipal office can reset it. Nothing
    /// was sent.
    #[error("the PIN is blocked")]
    PinBlocked,
    /// One try is left: ask the user to confirm, then call again with
    /// `allow_last_try`. Nothing was sent.
    #[error("only one PIN try is left; confirm before spending it")]
    LastTryNeedsConfirmation,
    /// The card does not say how many tries are left (it reports a PIN as
    /// verified that this session did not verify): ask the user to confirm,
    /// then call again with `allow_last_try`. Nothing was sent.
    #[error("the card does not report its PIN counter; confirm before sending the PIN")]
    TriesUnknownNeedsConfirmation,
    /// The operation was cancelled while the card was answering.
    #[error("the operation was cancelled")]
    Cancelled,
    /// The card went away while checking the PIN: the try may have been
    /// spent. Never retry on your own; read the PIN status after the user
    /// taps again.
    #[error("the card went away during the PIN check; a try may have been spent")]
    VerifyOutcomeUnknown {
        /// Tries left read back after the loss, when the card was still there.
        tries_left: Option<u8>,
        /// What happened to the link.
        detail: String,
    },
    /// The card left the field, or none is there: ask the user to tap again.
    #[error("the card was removed")]
    CardRemoved,
    /// The link to the card failed in another way (NFC error); tapping again
    /// usually helps.
    #[error("card link failed: {reason}")]
    LinkFailed {
        /// What the platform reported.
        reason: String,
    },
    /// This card or link cannot do this (no signing certificate on a child's
    /// card, a link too short for the command).
    #[error("not supported by this card or link: {reason}")]
    NotSupported {
        /// What is missing.
        reason: String,
    },
    /// The card answered with data or a status this library cannot use.
    #[error("unusable answer from the card: {reason}")]
    MalformedCardData {
        /// Which object and why.
        reason: String,
    },
    /// A PIN, password or card-front text the user typed has the wrong
    /// format, or the app passed unusable bytes. Nothing was sent.
    #[error("invalid input: {reason}")]
    InvalidInput {
        /// Which field and why (never the input itself).
        reason: String,
    },
    /// A certificate was refused: it is not for the role asked for, or no
    /// trusted anchor issued it. `reason` says which check refused it.
    #[error("not trusted: {detail}")]
    Untrusted {
        /// Which check refused the certificate.
        reason: UntrustedReason,
        /// The same in words, for logs (no personal data).
        detail: String,
    },
    /// The card asked for the PIN again although it was verified in this
    /// session (the card was reset underneath): call again, which verifies.
    #[error("the card asked for the PIN again; call again to verify it")]
    PinRequired,
    /// Another call on this session is still running: card sessions take one
    /// operation at a time.
    #[error("another operation on this card session is still running")]
    SessionBusy,
    /// Something that should not happen (a bug, or a card reset mid-session).
    #[error("internal error: {reason}")]
    Internal {
        /// What happened.
        reason: String,
    },
}

/// Which check refused a certificate (`MynaKitError::Untrusted`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum UntrustedReason {
    /// No pinned or configured anchor has the issuer's name.
    UnknownCa,
    /// The certificate is for another role than the one asked for (such as
    /// the signing certificate offered as the authentication certificate).
    WrongRole {
        /// The role asked for.
        expected: CertificateRole,
        /// The role the certificate has.
        found: CertificateRole,
    },
    /// An anchor with the issuer's name exists, but its key did not sign this.
    BadSignature,
    /// A CA certificate was offered where a holder's certificate belongs.
    NotALeaf,
    /// Nothing in the certificate says what it is for, or its fields disagree.
    UnknownRole,
    /// The certificate is signed with an algorithm other than sha256WithRSAEncryption.
    UnsupportedAlgorithm,
    /// The certificate could not be re-encoded or its key read.
    MalformedCertificate,
}

impl From<uniffi::UnexpectedUniFFICallbackError> for MynaKitError {
    /// A foreign callback threw something it did not declare.
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        Self::Internal { reason: e.reason }
    }
}

impl From<TransportError> for MynaKitError {
    fn from(e: TransportError) -> Self {
        match e {
            TransportError::CardRemoved | TransportError::NoCard | TransportError::Timeout => {
                Self::CardRemoved
            }
            TransportError::Cancelled => Self::Cancelled,
            TransportError::Garbled { .. } => Self::LinkFailed {
                reason: e.to_string(),
            },
            TransportError::Link { message } => Self::LinkFailed { reason: message },
        }
    }
}

impl From<CardError> for MynaKitError {
    fn from(e: CardError) -> Self {
        match e {
            CardError::Transport(t) => t.into(),
            CardError::WrongPin { tries_left } => Self::WrongPin { tries_left },
            CardError::PinBlocked => Self::PinBlocked,
            CardError::WrongCheckCode { tries_left } => Self::WrongCheckCode { tries_left },
            CardError::LastTryNeedsConfirmation => Self::LastTryNeedsConfirmation,
            CardError::TriesUnknownNeedsConfirmation => Self::TriesUnknownNeedsConfirmation,
            CardError::VerifyOutcomeUnknown { tries_left, cause } => Self::VerifyOutcomeUnknown {
                tries_left,
                detail: cause.to_string(),
            },
            CardError::NotFound { .. } | CardError::NotSupported { .. } => Self::NotSupported {
                reason: e.to_string(),
            },
            CardError::Malformed { .. } | CardError::UnexpectedStatus { .. } => {
                Self::MalformedCardData {
                    reason: e.to_string(),
                }
            }
            CardError::PinRequired => Self::PinRequired,
        }
    }
}

impl From<PinFormatError> for MynaKitError {
    fn from(e: PinFormatError) -> Self {
        Self::InvalidInput {
            reason: e.to_string(),
        }
    }
}

impl From<CheckCodeError> for MynaKitError {
    fn from(e: CheckCodeError) -> Self {
        Self::InvalidInput {
            reason: e.to_string(),
        }
    }
}

impl From<ChainError> for MynaKitError {
    fn from(e: ChainError) -> Self {
        let reason = match &e {
            ChainError::UntrustedIssuer { .. } => UntrustedReason::UnknownCa,
            ChainError::WrongRole { expected, found } => UntrustedReason::WrongRole {
                expected: *expected,
                found: *found,
            },
            ChainError::BadSignature => UntrustedReason::BadSignature,
            ChainError::NotALeaf => UntrustedReason::NotALeaf,
            ChainError::UnknownRole(_) => UntrustedReason::UnknownRole,
            ChainError::UnsupportedAlgorithm(_) => UntrustedReason::UnsupportedAlgorithm,
            ChainError::Malformed(_) => UntrustedReason::MalformedCertificate,
        };
        Self::Untrusted {
            reason,
            detail: e.to_string(),
        }
    }
}

impl From<AnchorError> for MynaKitError {
    /// An anchor file the app passed that is not usable: the app's input.
    fn from(e: AnchorError) -> Self {
        Self::InvalidInput {
            reason: format!("anchor file: {e}"),
        }
    }
}

impl MynaKitError {
    /// Certificate bytes the app passed in that do not parse.
    pub(crate) fn bad_certificate(e: CertificateError) -> Self {
        Self::InvalidInput {
            reason: format!("certificate: {e}"),
        }
    }

    /// A certificate read from the card whose fields do not parse.
    pub(crate) fn card_certificate(e: CertificateError) -> Self {
        Self::MalformedCardData {
            reason: format!("certificate: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_errors_map_to_the_case_an_app_handles() {
        assert_eq!(
            MynaKitError::from(CardError::WrongPin { tries_left: 2 }),
            MynaKitError::WrongPin { tries_left: 2 }
        );
        assert_eq!(
            MynaKitError::from(CardError::Transport(TransportError::Timeout)),
            MynaKitError::CardRemoved
        );
        assert_eq!(
            MynaKitError::from(CardError::NotFound { what: "file" }),
            MynaKitError::NotSupported {
                reason: "not on this card: file".into()
            }
        );
        assert_eq!(
            MynaKitError::from(CardError::VerifyOutcomeUnknown {
                tries_left: Some(1),
                cause: TransportError::CardRemoved
            }),
            MynaKitError::VerifyOutcomeUnknown {
                tries_left: Some(1),
                detail: "the card was removed".into()
            }
        );
        assert!(matches!(
            MynaKitError::from(CardError::NotFound { what: "PIN" }),
            MynaKitError::NotSupported { .. }
        ));
        assert_eq!(
            MynaKitError::from(CardError::PinRequired),
            MynaKitError::PinRequired
        );
        assert!(matches!(
            MynaKitError::from(CardError::UnexpectedStatus {
                command: "VERIFY",
                sw: mynakit_core::StatusWord(0x6A86)
            }),
            MynaKitError::MalformedCardData { .. }
        ));
        assert!(matches!(
            MynaKitError::from(PinFormatError::NotFourDigits),
            MynaKitError::InvalidInput { .. }
        ));
    }

    #[test]
    fn chain_errors_carry_which_check_refused() {
        let wrong = MynaKitError::from(ChainError::WrongRole {
            expected: CertificateRole::Authentication,
            found: CertificateRole::Signing,
        });
        assert!(matches!(
            wrong,
            MynaKitError::Untrusted {
                reason: UntrustedReason::WrongRole {
                    expected: CertificateRole::Authentication,
                    found: CertificateRole::Signing
                },
                ref detail
            } if detail.starts_with("wrong role")
        ));
        let cases = [
            (
                ChainError::UntrustedIssuer {
                    issuer: "CN=x".into(),
                },
                UntrustedReason::UnknownCa,
            ),
            (ChainError::BadSignature, UntrustedReason::BadSignature),
            (ChainError::NotALeaf, UntrustedReason::NotALeaf),
            (
                ChainError::UnknownRole(mynakit_core::RoleError::Unmarked),
                UntrustedReason::UnknownRole,
            ),
            (
                ChainError::UnsupportedAlgorithm("md5".into()),
                UntrustedReason::UnsupportedAlgorithm,
            ),
            (
                ChainError::Malformed("x".into()),
                UntrustedReason::MalformedCertificate,
            ),
        ];
        for (chain, expected) in cases {
            match MynaKitError::from(chain) {
                MynaKitError::Untrusted { reason, .. } => assert_eq!(reason, expected),
                other => panic!("expected Untrusted, got {other:?}"),
            }
        }
    }

    #[test]
    fn transport_failures_round_trip_through_the_core() {
        for failure in [
            TransportFailure::CardRemoved,
            TransportFailure::NoCard,
            TransportFailure::Timeout,
            TransportFailure::Link { reason: "x".into() },
        ] {
            let core: TransportError = failure.clone().into();
            assert_eq!(TransportFailure::from(core), failure);
        }
    }
}
