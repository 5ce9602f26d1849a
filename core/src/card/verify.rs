//! PIN checks that never spend a try the user did not mean to spend.
//!
//! Every VERIFY with data is preceded by a bare VERIFY (no data), which reads
//! the try counter without spending a try; a VERIFY is never resent; a VERIFY
//! whose answer is lost is reported as such, with the counter read back.

use serde::Serialize;

use super::apdu::CommandApdu;
use super::channel::{CardChannel, Resend};
use super::error::CardError;
use super::layout::{Application, FileId, ins};
use super::pin::{CardSecret, LastTry};
use super::status::Status;
use crate::platform::CardTransport;

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
    /// unless `last_try` allows it, and never resends. Sends no PIN when this
    /// session already verified it in the selected application, or when the
    /// card reports it verified.
    pub async fn verify_pin(
        &mut self,
        app: Application,
        pin: FileId,
        secret: &impl CardSecret,
        last_try: LastTry,
    ) -> Result<(), CardError> {
        if self.is_verified(app, pin) {
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
                // Some cards answer 9000 to the bare VERIFY while the PIN is
                // verified. The counter is then unknown, so sending the PIN
                // could spend a last try unasked: rely on the card's word
                // instead (a later 6982 clears it).
                PinStatus::Verified => {
                    self.mark_verified(pin);
                    return Ok(());
                }
                PinStatus::TriesLeft { .. } => {}
            },
        }
        let command = CommandApdu::new(0x00, ins::VERIFY, 0x00, pin.reference_p2())
            .with_data(secret.verify_data());
        let response = match self.send(&command, Resend::Never).await {
            Ok(response) => response,
            Err(CardError::Transport(cause)) => {
                // The card may have counted the try before the answer was lost.
                // Read the counter back (a bare VERIFY spends nothing); if the
                // card is gone too, say that the count is unknown.
                let tries_left = match self.pin_status(app, pin).await {
                    Ok(PinStatus::TriesLeft { tries }) => Some(tries),
                    Ok(PinStatus::Blocked) => Some(0),
                    Ok(PinStatus::Verified) | Err(_) => None,
                };
                return Err(CardError::VerifyOutcomeUnknown { tries_left, cause });
            }
            Err(other) => return Err(other),
        };
        match response.sw.meaning() {
            Status::Ok => {
                self.mark_verified(pin);
                Ok(())
            }
            Status::VerifyFailed { tries_left: 0 } | Status::Blocked => {
                self.mark_unverified(pin);
                Err(CardError::PinBlocked)
            }
            Status::VerifyFailed { tries_left } => {
                self.mark_unverified(pin);
                Err(CardError::WrongPin { tries_left })
            }
            _ => Err(CardError::UnexpectedStatus {
                command: "VERIFY",
                sw: response.sw,
            }),
        }
    }
}
