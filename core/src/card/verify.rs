//! PIN checks that never spend a try the user did not mean to spend.
//!
//! Every VERIFY with data is preceded by a bare VERIFY (no data), which reads
//! the try counter without spending a try; a VERIFY is never resent; a VERIFY
//! whose answer is lost is reported as such, with the counter read back.

use serde::Serialize;

use super::apdu::CommandApdu;
use super::channel::{CardChannel, InterruptedVerify, Resend};
use super::error::CardError;
use super::layout::{Application, FileId, ins, is_card_derived_code};
use super::pin::{CardSecret, LastTry};
use super::status::Status;
use crate::platform::{CardTransport, TransportError};

/// The state of a PIN, read without spending a try.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum PinStatus {
    /// This many tries are left.
    TriesLeft {
        /// Tries left.
        tries: u8,
    },
    /// The card reports the PIN as already verified in this session (some cards
    /// answer `9000` instead of the counter then).
    Verified,
    /// No tries are left.
    Blocked,
}

impl std::fmt::Display for PinStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TriesLeft { tries: 1 } => f.write_str("1 try left"),
            Self::TriesLeft { tries } => write!(f, "{tries} tries left"),
            Self::Verified => f.write_str("verified"),
            Self::Blocked => f.write_str("blocked"),
        }
    }
}

impl<T: CardTransport> CardChannel<T> {
    /// Reads a PIN's state with a bare VERIFY, which spends no try.
    pub async fn pin_status(
        &mut self,
        app: Application,
        pin: FileId,
    ) -> Result<PinStatus, CardError> {
        let fresh = self.select(app).await?;
        let command = CommandApdu::new(0x00, ins::VERIFY, 0x00, pin.reference_p2());
        let mut response = self.send(&command, Resend::Allowed).await?;
        if !fresh
            && matches!(
                response.sw.meaning(),
                Status::FileNotFound | Status::ReferenceNotFound
            )
        {
            // The card lost the selection we relied on: select again, once.
            self.forget_card_state();
            self.select(app).await?;
            response = self.send(&command, Resend::Allowed).await?;
        }
        match response.sw.meaning() {
            Status::VerifyFailed { tries_left: 0 } | Status::Blocked => Ok(PinStatus::Blocked),
            Status::VerifyFailed { tries_left } => Ok(PinStatus::TriesLeft { tries: tries_left }),
            Status::Ok => Ok(PinStatus::Verified),
            // A card without a signing certificate has no signing password.
            Status::FileNotFound | Status::ReferenceNotFound => {
                Err(CardError::NotFound { what: "PIN" })
            }
            _ => Err(CardError::UnexpectedStatus {
                command: "VERIFY (counter)",
                sw: response.sw,
            }),
        }
    }

    /// Verifies a PIN once: checks the counter first, refuses the last try
    /// unless `last_try` allows it, and never resends. Sends nothing when this
    /// session already verified exactly this secret in the selected
    /// application; a different secret is sent to the card (after the
    /// counter check), so `Ok` always means the card accepted *this* secret.
    pub async fn verify_pin(
        &mut self,
        app: Application,
        pin: FileId,
        secret: &impl CardSecret,
        last_try: LastTry,
    ) -> Result<(), CardError> {
        let data = secret.verify_data();
        if self.is_verified_with(app, pin, data) {
            return Ok(());
        }
        match last_try {
            // The counter read exists to refuse an unconfirmed last try. When
            // the caller allows it, the read protects nothing (a blocked PIN
            // answers 6984 without counting), so the round trip is saved.
            LastTry::Allow => {
                self.select(app).await?;
            }
            LastTry::Refuse => match self.pin_status(app, pin).await? {
                PinStatus::Blocked => return Err(CardError::PinBlocked),
                PinStatus::TriesLeft { tries: 1 } => {
                    return Err(CardError::LastTryNeedsConfirmation);
                }
                // Some cards answer 9000 to the bare VERIFY while a PIN is
                // verified, and then say nothing of the counter: sending a
                // secret this session has not seen succeed could spend a
                // last try unasked, and calling it verified would be a false
                // yes. The caller must confirm.
                PinStatus::Verified => return Err(CardError::TriesUnknownNeedsConfirmation),
                PinStatus::TriesLeft { .. } => {}
            },
        }
        let command = CommandApdu::new(0x00, ins::VERIFY, 0x00, pin.reference_p2()).with_data(data);
        // Stays set if this future is dropped before the answer: the caller
        // then learns that a try may have been counted.
        self.set_verify_in_flight(Some(InterruptedVerify { app, pin }));
        let sent = self.send(&command, Resend::Never).await;
        self.set_verify_in_flight(None);
        let response = match sent {
            Ok(response) => response,
            Err(CardError::Transport(cause)) => {
                return Err(self.outcome_unknown(app, pin, cause).await);
            }
            // No status word came back: the card may have counted the try
            // before the link garbled its answer.
            Err(CardError::Malformed {
                what: "response APDU",
                ..
            }) => {
                let length = self
                    .transcript()
                    .exchanges()
                    .last()
                    .map_or(0, |e| e.bytes_received());
                let cause = TransportError::Garbled { length };
                return Err(self.outcome_unknown(app, pin, cause).await);
            }
            Err(other) => return Err(other),
        };
        match response.sw.meaning() {
            Status::Ok => {
                self.mark_verified(pin, data);
                Ok(())
            }
            Status::VerifyFailed { tries_left: 0 } | Status::Blocked => {
                self.mark_unverified(pin);
                Err(CardError::PinBlocked)
            }
            Status::VerifyFailed { tries_left } => {
                self.mark_unverified(pin);
                if is_card_derived_code(app, pin) {
                    Err(CardError::WrongCheckCode { tries_left })
                } else {
                    Err(CardError::WrongPin { tries_left })
                }
            }
            _ => {
                self.mark_unverified(pin);
                Err(CardError::UnexpectedStatus {
                    command: "VERIFY",
                    sw: response.sw,
                })
            }
        }
    }

    /// The error for a VERIFY whose answer was lost: the counter is read
    /// back (a bare VERIFY spends nothing); if the card is gone too, the
    /// count is unknown.
    async fn outcome_unknown(
        &mut self,
        app: Application,
        pin: FileId,
        cause: TransportError,
    ) -> CardError {
        self.mark_unverified(pin);
        let tries_left = match self.pin_status(app, pin).await {
            Ok(PinStatus::TriesLeft { tries }) => Some(tries),
            Ok(PinStatus::Blocked) => Some(0),
            Ok(PinStatus::Verified) | Err(_) => None,
        };
        CardError::VerifyOutcomeUnknown { tries_left, cause }
    }

    /// After an operation was dropped with a VERIFY in flight, reads the
    /// counter back and returns the [`CardError::VerifyOutcomeUnknown`] the
    /// dropped caller never saw (cause [`TransportError::Cancelled`]). `None`
    /// when no VERIFY was interrupted. Clears the marker.
    pub async fn resolve_interrupted_verify(&mut self) -> Option<CardError> {
        let InterruptedVerify { app, pin } = self.take_interrupted_verify()?;
        self.forget_card_state();
        Some(
            self.outcome_unknown(app, pin, TransportError::Cancelled)
                .await,
        )
    }
}
