//! Plain data that crosses the FFI, converted from the core's types.

use chrono::{Datelike, NaiveDate};
use mynakit_core::CardCertificate;
use mynakit_core::PinStatus;
pub use mynakit_core::{CertificateRole, ExpiryState, Hierarchy, Sex};

use crate::error::MynaKitError;

/// A calendar date as printed or recorded on the card (no time of day).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct CalendarDate {
    /// Western year.
    pub year: i32,
    /// Month, 1–12.
    pub month: u8,
    /// Day of the month, 1–31.
    pub day: u8,
}

impl From<NaiveDate> for CalendarDate {
    fn from(d: NaiveDate) -> Self {
        // chrono guarantees month 1..=12 and day 1..=31.
        Self {
            year: d.year(),
            month: u8::try_from(d.month()).unwrap_or(u8::MAX),
            day: u8::try_from(d.day()).unwrap_or(u8::MAX),
        }
    }
}

// Core enums whose shape the FFI can take as it is are exposed with
// `#[uniffi::remote]`: the core stays free of UniFFI, and no mirror type or
// `From` conversion is needed. The definitions below must match the core's
// (the compiler checks that every variant exists). PinStatus (exposed as
// `PinState`), TokenKind (a tuple variant) and the records with computed
// fields keep their mirrors: a remote type keeps the core's name and shape,
// and renaming them would break the Kotlin/Swift API.

/// Sex as the card records it.
#[uniffi::remote(Enum)]
pub enum Sex {
    /// Code `1`.
    Male,
    /// Code `2`.
    Female,
    /// Code `9` (or `3` in the signing certificate): not applicable or unknown.
    NotApplicable,
}

/// What kind of JPKI token answered.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum TokenKind {
    /// A My Number card.
    PhysicalCard,
    /// The JPKI function in an Android phone.
    AndroidToken,
    /// The JPKI function in an iPhone.
    IphoneToken,
    /// An old 住基 card.
    JukiCard,
    /// A label this library does not know.
    Unknown {
        /// The label, trailing padding removed.
        label: String,
    },
}

impl From<mynakit_core::TokenKind> for TokenKind {
    fn from(k: mynakit_core::TokenKind) -> Self {
        match k {
            mynakit_core::TokenKind::PhysicalCard => Self::PhysicalCard,
            mynakit_core::TokenKind::AndroidToken => Self::AndroidToken,
            mynakit_core::TokenKind::IphoneToken => Self::IphoneToken,
            mynakit_core::TokenKind::JukiCard => Self::JukiCard,
            mynakit_core::TokenKind::Unknown(label) => Self::Unknown { label },
        }
    }
}

/// A PIN's state, read without spending a try.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum PinState {
    /// This many tries are left.
    TriesLeft {
        /// Tries left.
        tries: u8,
    },
    /// The card reports the PIN as verified in this session.
    Verified,
    /// No tries are left.
    Blocked,
}

impl From<PinStatus> for PinState {
    fn from(s: PinStatus) -> Self {
        match s {
            PinStatus::TriesLeft { tries } => Self::TriesLeft { tries },
            PinStatus::Verified => Self::Verified,
            PinStatus::Blocked => Self::Blocked,
        }
    }
}

/// The card's PINs and codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum PinKind {
    /// The JPKI user-authentication PIN (4 digits, 3 tries).
    AuthPin,
    /// The JPKI signing password (6–16 of A–Z and 0–9, 5 tries).
    SigningPassword,
    /// The Kenhojo PIN (4 digits, usually the same as the auth PIN).
    KenhojoPin,
    /// The Kenmen 照合番号B built from the card front (limit unpublished).
    CheckCodeB,
}

/// Token kind, certificates present and JPKI PIN states, read without a PIN
/// and without spending a try.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CardStatus {
    /// Which token answered.
    pub token_kind: TokenKind,
    /// The user-authentication certificate and key exist.
    pub has_authentication_certificate: bool,
    /// The signing certificate and key exist (not on a card issued to a child under 15).
    pub has_signing_certificate: bool,
    /// The authentication PIN's state.
    pub auth_pin: PinState,
    /// The signing password's state; absent without a signing certificate.
    pub signing_password: Option<PinState>,
}

/// A certificate readable without a PIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum CertificateKind {
    /// The user-authentication certificate.
    Authentication,
    /// The CA certificate that issued the authentication certificate.
    AuthenticationCa,
    /// The CA certificate that issued the signing certificate.
    SigningCa,
}

impl From<CertificateKind> for mynakit_core::FreeCertificate {
    fn from(k: CertificateKind) -> Self {
        match k {
            CertificateKind::Authentication => Self::Authentication,
            CertificateKind::AuthenticationCa => Self::AuthenticationCa,
            CertificateKind::SigningCa => Self::SigningCa,
        }
    }
}

/// What a holder's certificate is for.
#[uniffi::remote(Enum)]
pub enum CertificateRole {
    /// User authentication (利用者証明用, the 4-digit PIN's key).
    Authentication,
    /// Digital signature (署名用, the signing password's key).
    Signing,
}

/// Which JPKI hierarchy a certificate's policy belongs to.
#[uniffi::remote(Enum)]
pub enum Hierarchy {
    /// The production hierarchy (`…8.5.1.3.30`, `…8.5.1.1.20`).
    Production,
    /// The J-LIS test-card hierarchy (`…8.5.1.0.30`, `…8.5.1.0.20`).
    Test,
    /// No JPKI policy: the role came from key usage and issuer alone.
    Unlisted,
}

/// The signing certificate's personal attributes, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PersonalAttributes {
    /// Name.
    pub name: String,
    /// One `0`/`1` per character of the name; `1` marks a substitute character.
    pub name_substitute_flags: String,
    /// Sex, when the code is known.
    pub sex: Option<Sex>,
    /// The sex code as recorded (`1`, `2`, `3`).
    pub sex_code: String,
    /// Birth date, unless recorded as unknown.
    pub birth_date: Option<CalendarDate>,
    /// The birth date as recorded, `EYYYYMMDD` (era digit, Western date).
    pub birth_date_code: String,
    /// Address.
    pub address: String,
    /// One `0`/`1` per character of the address.
    pub address_substitute_flags: String,
}

impl From<mynakit_core::PersonalAttributes> for PersonalAttributes {
    fn from(a: mynakit_core::PersonalAttributes) -> Self {
        Self {
            sex: a.sex(),
            birth_date: a.birth_date().map(Into::into),
            name: a.name.clone(),
            name_substitute_flags: a.name_substitute_flags.clone(),
            sex_code: a.sex_code.clone(),
            birth_date_code: a.birth_date_code.clone(),
            address: a.address.clone(),
            address_substitute_flags: a.address_substitute_flags.clone(),
        }
    }
}

/// An X.509 certificate with its DER and the fields an app shows or checks.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Certificate {
    /// The DER bytes as read.
    pub der: Vec<u8>,
    /// Subject DN (RFC 4514).
    pub subject: String,
    /// Issuer DN (RFC 4514).
    pub issuer: String,
    /// Serial number, upper-case hex.
    pub serial: String,
    /// Start of validity, Unix seconds.
    pub not_before_unix: i64,
    /// End of validity, Unix seconds.
    pub not_after_unix: i64,
    /// SHA-256 of the DER, upper-case hex.
    pub sha256: String,
    /// Certificate policy OIDs, dotted.
    pub policies: Vec<String>,
    /// Basic constraints mark this as a CA certificate.
    pub is_ca: bool,
    /// The holder's attributes (signing certificate only).
    pub personal_attributes: Option<PersonalAttributes>,
}

impl Certificate {
    /// Converts a parsed certificate; unreadable personal attributes are an error.
    pub(crate) fn try_from_core(
        c: &CardCertificate,
    ) -> Result<Self, mynakit_core::CertificateError> {
        let info = c.info();
        Ok(Self {
            der: c.der().to_vec(),
            subject: info.subject,
            issuer: info.issuer,
            serial: info.serial,
            not_before_unix: info.not_before.timestamp(),
            not_after_unix: info.not_after.timestamp(),
            sha256: info.sha256,
            policies: info.policies,
            is_ca: c.is_ca(),
            personal_attributes: c.personal_attributes()?.map(Into::into),
        })
    }

    /// Converts a certificate read from the card.
    pub(crate) fn from_card(c: &CardCertificate) -> Result<Self, MynaKitError> {
        Self::try_from_core(c).map_err(MynaKitError::card_certificate)
    }

    /// Parses this record's DER again (for checks the core does on the parsed form).
    pub(crate) fn parse(&self) -> Result<CardCertificate, MynaKitError> {
        CardCertificate::from_der(self.der.clone()).map_err(MynaKitError::bad_certificate)
    }
}

/// The basic four (基本4情報) from the Kenhojo application.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct BasicInfo {
    /// Full name; family and given name separated by U+3000.
    pub name: String,
    /// The family name (the whole name when there is no U+3000).
    pub family_name: String,
    /// The given name, when the name has a U+3000.
    pub given_name: Option<String>,
    /// Address.
    pub address: String,
    /// Birth date; absent when the card records it as unknown (rules.md R7).
    pub birth_date: Option<CalendarDate>,
    /// Sex.
    pub sex: Sex,
}

impl From<mynakit_core::BasicInfo> for BasicInfo {
    fn from(mut b: mynakit_core::BasicInfo) -> Self {
        let (family, given) = b.name_parts();
        let (family_name, given_name) = (family.to_owned(), given.map(str::to_owned));
        Self {
            name: std::mem::take(&mut b.name),
            family_name,
            given_name,
            address: std::mem::take(&mut b.address),
            birth_date: b.birth_date.map(Into::into),
            sex: b.sex,
        }
    }
}

/// The card face record from the Kenmen application.
#[derive(Clone, PartialEq, Eq, uniffi::Record)]
pub struct CardFace {
    /// Birth date; absent when the card records it as unknown (rules.md R7).
    pub birth_date: Option<CalendarDate>,
    /// Sex.
    pub sex: Sex,
    /// End of the card's validity.
    pub card_expiry: CalendarDate,
    /// The face photo: greyscale JPEG 2000 (JP2 container).
    pub photo_jp2: Vec<u8>,
    /// The name as printed (image).
    pub name_image: Vec<u8>,
    /// The address as printed (image).
    pub address_image: Vec<u8>,
    /// The security code as printed (image).
    pub security_code_image: Vec<u8>,
    /// The card's public key field, as recorded.
    pub card_public_key: Vec<u8>,
    /// The issuer's signature over the record.
    pub signature: Vec<u8>,
}

impl std::fmt::Debug for CardFace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CardFace")
            .field("birth_date", &self.birth_date)
            .field("sex", &self.sex)
            .field("card_expiry", &self.card_expiry)
            .field("photo_jp2", &format_args!("{} bytes", self.photo_jp2.len()))
            .finish_non_exhaustive()
    }
}

impl From<mynakit_core::CardFace> for CardFace {
    fn from(mut f: mynakit_core::CardFace) -> Self {
        Self {
            birth_date: f.birth_date.map(Into::into),
            sex: f.sex,
            card_expiry: f.card_expiry.into(),
            photo_jp2: std::mem::take(&mut f.photo_jp2),
            name_image: std::mem::take(&mut f.name_image),
            address_image: std::mem::take(&mut f.address_image),
            security_code_image: std::mem::take(&mut f.security_code_image),
            card_public_key: std::mem::take(&mut f.card_public_key),
            signature: std::mem::take(&mut f.signature),
        }
    }
}

/// Round trips and bytes of a session so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct TranscriptStats {
    /// Commands sent (each one round trip).
    pub round_trips: u32,
    /// Bytes sent.
    pub bytes_sent: u64,
    /// Bytes received.
    pub bytes_received: u64,
    /// Time spent waiting on the card, microseconds.
    pub elapsed_micros: u64,
}

impl From<mynakit_core::TranscriptStats> for TranscriptStats {
    fn from(s: mynakit_core::TranscriptStats) -> Self {
        let wide = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        Self {
            round_trips: u32::try_from(s.round_trips).unwrap_or(u32::MAX),
            bytes_sent: wide(s.bytes_sent),
            bytes_received: wide(s.bytes_received),
            elapsed_micros: u64::try_from(s.elapsed.as_micros()).unwrap_or(u64::MAX),
        }
    }
}

/// Where a certificate stands in time, in the insurers' terms.
#[uniffi::remote(Enum)]
pub enum ExpiryState {
    /// Before its start of validity.
    NotYetValid,
    /// Within validity.
    Valid,
    /// Expired less than three months ago.
    ExpiredUnderThreeMonths,
    /// Expired three months ago or more.
    ExpiredThreeMonthsOrMore,
}

/// A certificate's expiry state and the insurers' flag for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct CertificateExpiry {
    /// The state.
    pub state: ExpiryState,
    /// The insurers' certificate expiry-state flag: `1` valid or expired
    /// under three months, `0` expired three months or more.
    pub insurer_flag: u8,
}

impl From<ExpiryState> for CertificateExpiry {
    fn from(state: ExpiryState) -> Self {
        Self {
            state,
            insurer_flag: state.insurer_flag(),
        }
    }
}

/// The anchor a certificate chain ended in.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TrustedAnchor {
    /// The anchor's subject DN.
    pub subject: String,
    /// The anchor's SHA-256 fingerprint, upper-case hex.
    pub sha256: String,
    /// The leaf's role, as checked.
    pub role: CertificateRole,
    /// The hierarchy the leaf's policy belongs to (production or J-LIS test).
    pub hierarchy: Hierarchy,
}

impl From<mynakit_core::TrustedAnchor> for TrustedAnchor {
    fn from(a: mynakit_core::TrustedAnchor) -> Self {
        Self {
            subject: a.subject,
            sha256: a.sha256,
            role: a.role,
            hierarchy: a.hierarchy,
        }
    }
}
