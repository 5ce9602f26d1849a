//! The errors a card operation can end with.

use super::apdu::{ApduFormatError, ResponseTooShort};
use super::cv::CvCertificateError;
use super::records::RecordError;
use super::status::StatusWord;
use crate::jp::person::MyNumberError;
use crate::pki::CertificateError;
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
    /// The card or the link cannot do this. Nothing was sent.
    #[error("not supported by this card or link: {what}")]
    NotSupported {
        /// What is missing.
        what: Unsupported,
    },
    /// The card returned data that does not parse.
    #[error("malformed {what} from the card: {reason}")]
    Malformed {
        /// Which object.
        what: &'static str,
        /// Why it does not parse.
        reason: Malformation,
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
    /// A [`CardError::Malformed`] for `what`, for one of the typed reasons
    /// below (the internal errors of the card room map into them here).
    pub fn malformed(what: &'static str, reason: impl Into<Malformation>) -> Self {
        Self::Malformed {
            what,
            reason: reason.into(),
        }
    }
}

/// What the card or link cannot do. Each is refused before anything is sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unsupported {
    /// The command does not encode (too much data for an APDU).
    #[error("a command that does not encode: {0}")]
    Encoding(#[from] ApduFormatError),
    /// Extended length needed on a link that has none.
    #[error("an extended-length command on a short-only link")]
    ExtendedOnShortLink,
    /// The command is longer than the link carries.
    #[error("a {length}-byte command on a link limited to {max} bytes")]
    CommandTooLong {
        /// The encoded command's length.
        length: usize,
        /// The link's limit.
        max: u32,
    },
    /// The answer could not come back over the link (refused before the
    /// card acts: a signature lost to the link helps nobody).
    #[error("a {ne}-byte answer on a link limited to {max} bytes")]
    AnswerTooLong {
        /// The expected answer's length.
        ne: u32,
        /// The link's limit.
        max: u32,
    },
    /// The link carries no response data at all.
    #[error("a link that cannot carry any response data")]
    NoRoomForData,
    /// A file longer than READ BINARY's 15-bit offset reaches.
    #[error("a file longer than READ BINARY's 15-bit offset")]
    FileBeyondOffsetRange,
}

/// Why data from the card is unusable: one case per kind of damage.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Malformation {
    /// Fewer than two bytes: no status word.
    #[error(transparent)]
    Answer(#[from] ResponseTooShort),
    /// A BER header the card would not write.
    #[error(transparent)]
    Header(#[from] HeaderError),
    /// A Kenhojo/Kenmen record that does not parse.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// A certificate that does not parse.
    #[error(transparent)]
    Certificate(#[from] CertificateError),
    /// A card-verifiable certificate that does not parse.
    #[error(transparent)]
    CvCertificate(#[from] CvCertificateError),
    /// A My Number that is not one.
    #[error(transparent)]
    MyNumber(#[from] MyNumberError),
    /// The card said the file ends here, before its declared length.
    #[error("the file ends at {offset} bytes, before its declared length")]
    EndsAt {
        /// Where the card said the file ends.
        offset: usize,
    },
    /// The file ended (a short read) before its declared length.
    #[error("the file ended after {read} bytes, before its declared length")]
    EndedAfter {
        /// Bytes read.
        read: usize,
    },
    /// `9000` with no data where data was asked for.
    #[error("the card returned no data at offset {offset}")]
    NoData {
        /// The offset asked for.
        offset: usize,
    },
    /// A signature by the card that does not verify with the card's own
    /// certificate (damaged on the way, or a card that is not what it says).
    #[error("a signature that does not verify with the card's certificate")]
    SignatureDoesNotVerify,
    /// A fixed-size object of the wrong size.
    #[error("{found} bytes where {expected} are expected")]
    Size {
        /// The size it must have.
        expected: usize,
        /// The size it has.
        found: usize,
    },
    /// A record whose fixed header is not there.
    #[error("does not start with {expected}")]
    Prefix {
        /// The header it must start with.
        expected: &'static str,
    },
    /// Text that must be ASCII digits is not.
    #[error("not ASCII digits")]
    NotDigits,
    /// The face photo is not a JPEG 2000 file in a JP2 container.
    #[error("the face photo is not a JPEG 2000 (JP2) file")]
    NotJp2,
}

/// Why the start of a file is no BER data object header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// The file starts with `00` or `FF FF`: it looks unwritten.
    #[error("no data object (starts with {first:02X}): the file looks unwritten")]
    Unwritten {
        /// The first byte.
        first: u8,
    },
    /// A tag longer than four bytes.
    #[error("tag longer than 4 bytes")]
    LongTag,
    /// A length form this library does not read (indefinite, or over 4 bytes).
    #[error("unsupported length byte {0:02X}")]
    Length(u8),
    /// The declared length overflows.
    #[error("length overflows")]
    Overflow,
}
