//! Why a command failed, its exit code, and how it is shown.

use mynakit_core::{CardError, TransportError};
use serde_json::json;

/// Exit codes scripts can rely on (documented in the README). 0 is success
/// and 2 a bad command line (clap's own code).
pub mod exit {
    /// Any failure without a code of its own.
    pub const OTHER: u8 = 1;
    /// Wrong PIN; tries are left.
    pub const WRONG_PIN: u8 = 3;
    /// The PIN is blocked.
    pub const PIN_BLOCKED: u8 = 4;
    /// No card, or the card was removed.
    pub const CARD_MISSING: u8 = 5;
    /// One try left: rerun with --allow-last-try to spend it.
    pub const LAST_TRY: u8 = 6;
    /// The card went away during VERIFY; a try may have been spent.
    pub const VERIFY_UNKNOWN: u8 = 7;
    /// A PIN or card-front text with the wrong format (nothing was sent).
    pub const BAD_INPUT: u8 = 8;
    /// The card or link cannot do this, or the file is not on this card.
    pub const NOT_SUPPORTED: u8 = 9;
    /// The card's data did not parse or did not verify.
    pub const BAD_CARD_DATA: u8 = 10;
    /// The numbers read from the card front (照合番号B) did not match the card.
    pub const WRONG_CHECK_CODE: u8 = 11;
    /// The authority could not be reached, did not answer in time, or is
    /// out of service or limiting requests (503/429, W12, P6): try again
    /// later (the JSON's `retry_after` says when, if it said).
    pub const AUTHORITY_UNAVAILABLE: u8 = 12;
    /// The authority refused: the JSON's `refusal` is its error
    /// (`reservation_expired` R5, `chain_refused` R6, `already_redeemed`, …).
    pub const AUTHORITY_REFUSED: u8 = 13;
    /// The card front's birth date is blank, unknown or missing: the reset
    /// app cannot be used with this card (rules.md R7).
    pub const BIRTH_DATE_UNKNOWN: u8 = 14;
    /// The face check did not pass (R2); the JSON has `attempts_left`.
    pub const FACE_CHECK_FAILED: u8 = 15;
    /// Locked out after too many failures (R11); the JSON has `until` and
    /// `retry_after` (seconds), when the authority said.
    pub const LOCKED_OUT: u8 = 16;
    /// A reservation of this kind is live already (one per card and kind);
    /// the JSON has its `id`.
    pub const ALREADY_RESERVED: u8 = 17;
    /// A wallet record is in force for this person already (W3): revoke
    /// it first; the JSON has its `record_id`.
    pub const RECORD_IN_FORCE: u8 = 18;
    /// The card must be tapped again for a new record (W6: the signing
    /// certificate expired or was revoked, the device key is gone); the
    /// JSON's `reason` says which.
    pub const REAPPLY_WITH_CARD: u8 = 19;
    /// The record cannot be presented now: suspended (W9), revoked or
    /// expired; the JSON has `status` and `reason`.
    pub const RECORD_NOT_USABLE: u8 = 20;
    /// The user did not approve the use of the device key (W10): declined
    /// at the prompt, or no terminal and no `--yes`.
    pub const NOT_APPROVED: u8 = 21;
    /// `wallet verify`: the presentation is not genuine (malformed, an
    /// untrusted issuer, a signature or digest that does not verify, not
    /// this session's); the JSON's `check` says which.
    pub const PRESENTATION_INVALID: u8 = 22;
    /// `wallet verify`: outside the record's validity (W5).
    pub const PRESENTATION_OUTSIDE_VALIDITY: u8 = 23;
    /// `wallet verify`: the issuer's status list says revoked.
    pub const PRESENTATION_REVOKED: u8 = 24;
    /// `wallet verify`: the issuer's status list says suspended (W9).
    pub const PRESENTATION_SUSPENDED: u8 = 25;
    /// The portal app (issue 10) has no session: never logged in, logged
    /// out, or the refresh token expired or was refused. `mynakit portal
    /// login` with the card (P2).
    pub const LOGIN_REQUIRED: u8 = 26;
    /// P7: the terms in force are not agreed; the JSON's
    /// `current_terms_version` says which to `portal terms --accept`.
    pub const TERMS_NOT_AGREED: u8 = 27;
    /// P2: the portal refused the card's login for its certificate or
    /// signature (`certificate_expired`, `certificate_revoked`,
    /// `certificate_untrusted`, `not_authentication_certificate`,
    /// `bad_card_signature`; the JSON's `refusal`).
    pub const CARD_LOGIN_REFUSED: u8 = 28;
    /// P5: an agent asked for something outside the holder's delegation,
    /// or the delegation ended.
    pub const OUTSIDE_AGENT_SCOPE: u8 = 29;
}

/// A failed command.
#[derive(Debug)]
pub enum Failure {
    /// The card operation failed.
    Card(CardError),
    /// Input refused before anything was sent.
    Input(String),
    /// Card data that parsed but does not verify (untrusted chain, bad signature).
    Verification(String),
    /// This build or platform cannot do it (PC/SC without the `pcsc` feature).
    Unsupported(String),
    /// The authority could not be reached, did not answer, or is out of
    /// service (W12, P6).
    AuthorityUnavailable {
        /// What happened.
        message: String,
        /// Seconds the authority asked to wait, if it said.
        retry_after: Option<u64>,
    },
    /// The authority refused the request.
    AuthorityRefused {
        /// The authority's snake_case error (`reservation_expired`, …).
        refusal: String,
        /// What it means.
        message: String,
    },
    /// Anything else.
    Other(String),
    /// A failure with an exit code and kind of its own, and fields for the
    /// JSON (the reset commands).
    Coded {
        /// The exit code (see [`exit`]).
        code: u8,
        /// The stable machine-readable kind.
        kind: &'static str,
        /// The human message.
        message: String,
        /// More fields of the JSON `error` object.
        details: serde_json::Map<String, serde_json::Value>,
    },
}

impl From<CardError> for Failure {
    fn from(e: CardError) -> Self {
        Self::Card(e)
    }
}

impl Failure {
    /// The process exit code.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Card(e) => match e {
                CardError::Transport(
                    TransportError::CardRemoved | TransportError::NoCard | TransportError::Timeout,
                ) => exit::CARD_MISSING,
                CardError::Transport(
                    TransportError::Link { .. }
                    | TransportError::Cancelled
                    | TransportError::Garbled { .. },
                ) => exit::OTHER,
                CardError::WrongPin { .. } => exit::WRONG_PIN,
                CardError::WrongCheckCode { .. } => exit::WRONG_CHECK_CODE,
                CardError::PinBlocked => exit::PIN_BLOCKED,
                CardError::LastTryNeedsConfirmation | CardError::TriesUnknownNeedsConfirmation => {
                    exit::LAST_TRY
                }
                CardError::VerifyOutcomeUnknown { .. } => exit::VERIFY_UNKNOWN,
                CardError::NotFound { .. } | CardError::NotSupported { .. } => exit::NOT_SUPPORTED,
                CardError::Malformed { .. } | CardError::UnexpectedStatus { .. } => {
                    exit::BAD_CARD_DATA
                }
                CardError::PinRequired => exit::OTHER,
            },
            Self::Input(_) => exit::BAD_INPUT,
            Self::Verification(_) => exit::BAD_CARD_DATA,
            Self::Unsupported(_) => exit::NOT_SUPPORTED,
            Self::AuthorityUnavailable { .. } => exit::AUTHORITY_UNAVAILABLE,
            Self::AuthorityRefused { .. } => exit::AUTHORITY_REFUSED,
            Self::Other(_) => exit::OTHER,
            Self::Coded { code, .. } => *code,
        }
    }

    /// A stable machine-readable kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Card(e) => match e {
                CardError::Transport(TransportError::CardRemoved) => "card_removed",
                CardError::Transport(TransportError::NoCard) => "no_card",
                CardError::Transport(TransportError::Timeout) => "timeout",
                CardError::Transport(TransportError::Link { .. }) => "link_error",
                CardError::Transport(TransportError::Cancelled) => "cancelled",
                CardError::Transport(TransportError::Garbled { .. }) => "garbled_answer",
                CardError::WrongPin { .. } => "wrong_pin",
                CardError::WrongCheckCode { .. } => "wrong_check_code",
                CardError::PinBlocked => "pin_blocked",
                CardError::LastTryNeedsConfirmation => "last_try_needs_confirmation",
                CardError::TriesUnknownNeedsConfirmation => "tries_unknown_needs_confirmation",
                CardError::VerifyOutcomeUnknown { .. } => "verify_outcome_unknown",
                CardError::PinRequired => "pin_required",
                CardError::NotFound { .. } => "not_found",
                CardError::NotSupported { .. } => "not_supported",
                CardError::Malformed { .. } => "malformed_card_data",
                CardError::UnexpectedStatus { .. } => "unexpected_status",
            },
            Self::Input(_) => "invalid_input",
            Self::Verification(_) => "verification_failed",
            Self::Unsupported(_) => "not_supported",
            Self::AuthorityUnavailable { .. } => "authority_unavailable",
            Self::AuthorityRefused { .. } => "authority_refused",
            Self::Other(_) => "error",
            Self::Coded { kind, .. } => kind,
        }
    }

    /// The human message.
    pub fn message(&self) -> String {
        match self {
            Self::Card(CardError::LastTryNeedsConfirmation) => {
                "only one PIN try is left; nothing was sent. Rerun with --allow-last-try to spend it".into()
            }
            Self::Card(CardError::TriesUnknownNeedsConfirmation) => {
                "the card does not report its PIN counter now; nothing was sent. Rerun with --allow-last-try to send the PIN anyway".into()
            }
            Self::Card(e) => e.to_string(),
            Self::Input(m)
            | Self::Verification(m)
            | Self::Unsupported(m)
            | Self::Other(m)
            | Self::Coded { message: m, .. } => m.clone(),
            Self::AuthorityUnavailable { message, .. } | Self::AuthorityRefused { message, .. } => {
                message.clone()
            }
        }
    }

    /// The JSON form printed with `--json`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut error = json!({ "kind": self.kind(), "message": self.message(), "exit_code": self.exit_code() });
        match self {
            Self::Card(
                CardError::WrongPin { tries_left } | CardError::WrongCheckCode { tries_left },
            ) => error["tries_left"] = json!(tries_left),
            Self::Card(CardError::VerifyOutcomeUnknown { tries_left, .. }) => {
                error["tries_left"] = json!(tries_left)
            }
            Self::Coded { details, .. } => {
                for (name, value) in details {
                    error[name.as_str()] = value.clone();
                }
            }
            Self::AuthorityUnavailable { retry_after, .. } => {
                error["retry_after"] = json!(retry_after)
            }
            Self::AuthorityRefused { refusal, .. } => error["refusal"] = json!(refusal),
            _ => {}
        }
        json!({ "error": error })
    }
}
