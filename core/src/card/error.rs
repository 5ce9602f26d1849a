//! The errors a card operation can end with.

use super::status::StatusWord;
use crate::platform::TransportError;

/// Why a card operation failed. Each case is one thing an app handles differently.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CardError {
    /// The link failed (card removed, timeout). Nothing was resent.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The PIN was wrong; this many tries are left.
    #[error("wrong PIN: {tries_left} {} left", if *tries_left == 1 { "try" } else { "tries" })]
    WrongPin {
        /// Tries left after this one.
        tries_left: u8,
    },
    /// A code built from the card (照合番号A or B: the card-front numbers, or
    /// the My Number) did not match; this many tries are left. Its limit is
    /// not published: never retry it automatically.
    #[error("the numbers from the card front do not match this card ({tries_left} {} left)", if *tries_left == 1 { "try" } else { "tries" })]
    WrongCheckCode {
        /// Tries left after this one.
        tries_left: u8,
    },
    /// The PIN is blocked; only the municipal office (or a PIN reset) can unblock it.
    #[error("the PIN is blocked")]
    PinBlocked,
    /// Only one try is left: the caller must confirm before it is spent.
    #[error("only one PIN try is left; confirm explicitly before spending it")]
    LastTryNeedsConfirmation,
    /// The card will not say how many tries are left (it answers "verified"
    /// to the counter read, for a secret this session did not verify): the
    /// caller must confirm before a secret is sent.
    #[error(
        "the card does not report its PIN counter now; confirm explicitly before sending a PIN"
    )]
    TriesUnknownNeedsConfirmation,
    /// The answer to a VERIFY was lost, so the try may or may not have been spent.
    #[error("the card went away during VERIFY; a try may have been spent (tries left: {})",
        .tries_left.map_or_else(|| "unknown".to_owned(), |n| n.to_string()))]
    VerifyOutcomeUnknown {
        /// Tries left read back after the loss, when the card could still be reached.
        tries_left: Option<u8>,
        /// What happened to the link.
        cause: TransportError,
    },
    /// The card refused because the PIN for this operation has not been verified.
    #[error("the card requires the PIN for this operation")]
    PinRequired,
    /// The application or file does not exist on this card.
    #[error("not on this card: {what}")]
    NotFound {
        /// What was looked for.
        what: &'static str,
    },
    /// The card or the link cannot do this.
    #[error("not supported by this card or link: {what}")]
    NotSupported {
        /// What is missing.
        what: String,
    },
    /// The card returned data that does not parse.
    #[error("malformed {what} from the card: {detail}")]
    Malformed {
        /// Which object.
        what: &'static str,
        /// Why it does not parse.
        detail: String,
    },
    /// The card answered with a status word this command does not expect.
    #[error("the card answered {sw} to {command}")]
    UnexpectedStatus {
        /// The command.
        command: &'static str,
        /// The status word.
        sw: StatusWord,
    },
}

impl CardError {
    /// A [`CardError::Malformed`] with a detail message.
    pub fn malformed(what: &'static str, detail: impl ToString) -> Self {
        Self::Malformed {
            what,
            detail: detail.to_string(),
        }
    }
}
