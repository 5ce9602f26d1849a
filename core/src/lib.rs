//! MynaKit core: what runs on the phone.
//!
//! Pure Rust, no FFI and no platform code. Its rooms:
//! - the card (`card`): APDUs, the session channel, the PIN guard, and the
//!   card's applications [`Jpki`], [`Kenhojo`], [`Kenmen`];
//! - PKI (`pki`): certificates, their roles, trust anchors, expiry;
//! - Japan (`jp`): era dates, civil-law periods, the person;
//! - the platform (`platform`): the traits the phone implements
//!   ([`CardTransport`], [`Clock`], [`AuthorityLink`]) and what belongs
//!   with them ([`CorrectedClock`], [`AuthorityRequest`], idempotency keys);
//! - pictures (`image`): the chip's JPEG 2000 face photo decoded to RGBA
//!   and PNG ([`Picture`]);
//! - the store (`store`): the phone's one SQLite database ([`Store`]),
//!   shared by the apps; personal data in it only sealed ([`SealingKey`]).
//!
//! The rooms are private; this page is the public surface. A session is a
//! [`CardChannel`] over a transport; the applications are views on it.

// Card and certificate bytes come from outside: no indexing or slicing
// that could panic on them (tests may index their own fixtures).
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::string_slice,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

mod card;
mod hex;
mod image;
mod jp;
mod pki;
mod platform;
pub mod portal;
pub mod reset;
mod store;
pub mod wallet;

pub use hex::Hex;

// The card.
pub use card::apdu::{
    ApduFormatError, CommandApdu, MAX_EXTENDED_NE, MAX_SHORT_NE, ResponseApdu, ResponseTooShort,
};
pub use card::ber::BerError;
pub use card::channel::{CardChannel, ContentLength, Resend};
pub use card::check_code::{
    CheckCodeA, CheckCodeB, CheckCodeError, MAX_EXPIRY_YEAR, MIN_EXPIRY_YEAR, SecurityCode,
};
pub use card::cv::{CvCertificate, CvCertificateError, CvIssuerKey, IssuerSignatureError, KeyId};
pub use card::error::{CardError, HeaderError, Malformation, Unsupported};
pub use card::jpki::{
    CertificatePresence, DigestInfo, FreeCertificate, Jpki, JpkiKey, JpkiStatus, TokenKind,
};
pub use card::kenhojo::{BasicInfo, Kenhojo, parse_my_number};
pub use card::kenmen::{CardFace, FaceRecord, Kenmen};
/// The card's file layout: AIDs, EF identifiers, instruction bytes.
pub use card::layout;
pub use card::layout::{Application, FileId};
pub use card::pin::{AuthPin, CardSecret, KenhojoPin, LastTry, PinFormatError, SigningPassword};
pub use card::records::{Record, RecordError};
pub use card::status::{Status, StatusWord};
pub use card::transcript::{Answer, Exchange, SECRET_SLOT, Transcript, TranscriptStats};
pub use card::verify::PinStatus;

// PKI.
pub use pki::{
    AUTHENTICATION_POLICY, AnchorError, CardCertificate, CertificateError, CertificateInfo,
    CertificateRole, ChainError, ExpiryState, Hierarchy, PersonalAttributes, RoleError,
    RoleFinding, SIGNING_POLICY, TEST_AUTHENTICATION_POLICY, TEST_SIGNING_POLICY, TrustAnchors,
    TrustedAnchor, attribute_oid, parse_fingerprint,
};

// Japan.
pub use jp::{
    Era, EraError, GREGORIAN_START, JapaneseDate, MyNumber, MyNumberError, Sex, check_digit,
    japan_date, jst, last_day_of_months, next_day,
};

// The platform.
pub use platform::{
    AuthorityError, AuthorityLink, AuthorityRequest, AuthorityResponse, BadHttpDate,
    BadIdempotencyKey, CardTransport, Clock, ClockOffset, CorrectedClock, IDEMPOTENCY_KEY_HEADER,
    IdempotencyKey, KeyInfo, KeyPurpose, KeySpec, LinkCapabilities, LinkError, ManualClock, Method,
    RandomUnavailable, SecureArea, SecureAreaError, SecurityLevel, SoftwareSecureArea, SystemClock,
    TransportError, UserAuthentication, UserAuthenticator, format_http_date, parse_http_date,
};
/// Sending a request to an authority: [`AuthorityLink`] plus the sorting of
/// its answers into [`AuthorityError`]s.
pub mod authority {
    pub use crate::platform::{JsonAnswerError, read_json_answer, send};
}

// Pictures.
pub use image::{MAX_JPEG2000_BYTES, MAX_PIXELS, Picture, PictureError};

// The store.
pub use store::{
    BUSY_TIMEOUT, SealError, SealingKey, Store, StoreError, StoreTx, Vault, VaultError, VaultSpec,
};
