//! The Kenmen application (券面事項確認): the card face record with the face
//! photo, opened with 照合番号B built from what is printed on the card front.

use chrono::NaiveDate;
use serde::Serialize;
use zeroize::Zeroize;
use zeroize::Zeroizing;

use super::channel::{CardChannel, ContentLength};
use super::check_code::{CheckCodeA, CheckCodeB};
use super::cv::{CvCertificate, CvIssuerKey, IssuerSignatureError, face_digest_info};
use super::error::{CardError, Malformation};
use super::layout::{Application, kenmen};
use super::pin::LastTry;
use super::records::{Record, RecordError};
use super::verify::PinStatus;
use crate::jp::person::Sex;
use crate::platform::CardTransport;
use sha2::{Digest, Sha256};

/// The card face record (EF 0002).
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct CardFace {
    /// Birth date; `None` when the card records it as unknown (rules.md R7).
    pub birth_date: Option<NaiveDate>,
    /// Sex.
    pub sex: Sex,
    /// End of the card's validity.
    pub card_expiry: NaiveDate,
    /// The face photo: greyscale JPEG 2000 (JP2 container).
    #[serde(skip)]
    pub photo_jp2: Vec<u8>,
    /// The name as printed (image).
    #[serde(skip)]
    pub name_image: Vec<u8>,
    /// The address as printed (image).
    #[serde(skip)]
    pub address_image: Vec<u8>,
    /// The security code as printed (image).
    #[serde(skip)]
    pub security_code_image: Vec<u8>,
    /// The card's own public key field (DF24), as recorded.
    #[serde(skip)]
    pub card_public_key: Vec<u8>,
    /// The issuer's signature over the record (DF28).
    #[serde(skip)]
    pub signature: Vec<u8>,
    /// SHA-256 of the three signed segments as read from the card
    /// (DF22‖DF23‖DF24, DF25‖DF26, DF27, each TLV as written): what DF28 signs.
    #[serde(skip)]
    signed_segments: [[u8; 32]; 3],
}

impl std::fmt::Debug for CardFace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CardFace")
            .field("birth_date", &"<redacted>")
            .field("sex", &"<redacted>")
            .field("card_expiry", &self.card_expiry)
            .field("photo_jp2", &format_args!("{} bytes", self.photo_jp2.len()))
            .finish_non_exhaustive()
    }
}

impl Drop for CardFace {
    fn drop(&mut self) {
        // The photo and the printed name and address are personal data.
        self.photo_jp2.zeroize();
        self.name_image.zeroize();
        self.address_image.zeroize();
        self.security_code_image.zeroize();
    }
}

/// The JP2 signature box every JPEG 2000 file in a JP2 container starts with.
const JP2_SIGNATURE: [u8; 12] = [
    0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50, 0x20, 0x20, 0x0D, 0x0A, 0x87, 0x0A,
];

impl CardFace {
    /// Parses EF 0002 (`FF 20` { DF21 … DF2A }).
    pub fn parse(bytes: &[u8]) -> Result<Self, CardError> {
        const WHAT: &str = "card face record";
        let record = Record::parse(bytes, 0xFF20).map_err(|e| CardError::malformed(WHAT, e))?;
        let field = |e| CardError::malformed(WHAT, e);
        let bytes_of = |tag| record.require(tag).map(<[u8]>::to_vec).map_err(field);
        let photo_jp2 = bytes_of(0xDF27)?;
        if !photo_jp2.starts_with(&JP2_SIGNATURE) {
            return Err(CardError::malformed(WHAT, Malformation::NotJp2));
        }
        let segment = |tags: &[u16]| -> Result<[u8; 32], CardError> {
            let mut hash = Sha256::new();
            for tag in tags {
                hash.update(
                    record
                        .raw(*tag)
                        .ok_or(RecordError::Missing(*tag))
                        .map_err(field)?,
                );
            }
            Ok(hash.finalize().into())
        };
        let signed_segments = [
            segment(&[0xDF22, 0xDF23, 0xDF24])?,
            segment(&[0xDF25, 0xDF26])?,
            segment(&[0xDF27])?,
        ];
        Ok(Self {
            signed_segments,
            birth_date: record.optional_date(0xDF22).map_err(field)?,
            sex: record.sex(0xDF23).map_err(field)?,
            card_public_key: bytes_of(0xDF24)?,
            name_image: bytes_of(0xDF25)?,
            address_image: bytes_of(0xDF26)?,
            photo_jp2,
            signature: bytes_of(0xDF28)?,
            card_expiry: record.date(0xDF29).map_err(field)?,
            security_code_image: bytes_of(0xDF2A)?,
        })
    }
}

impl CardFace {
    /// Checks the record's issuer signature: `certificate` (Kenmen EF 0004,
    /// [`Kenmen::read_cv_certificate`]) against the issuer key among
    /// `issuers` its issuer id names, then DF28 against the key the
    /// certificate certifies. This covers birth date, sex, the card key and
    /// the images and photo as read from the card — not the expiry (DF29) or
    /// the security-code image (DF2A), which the card does not sign
    /// (myna-card `src/ap/surface.rs`). The fields of this value are copies:
    /// what is checked is the bytes as parsed.
    pub fn verify_issuer_signature(
        &self,
        certificate: &CvCertificate,
        issuers: &[CvIssuerKey],
    ) -> Result<(), IssuerSignatureError> {
        certificate.verify(issuers)?;
        if certificate
            .certifies_signature(&face_digest_info(&self.signed_segments), &self.signature)
        {
            Ok(())
        } else {
            Err(IssuerSignatureError::BadRecordSignature)
        }
    }
}

/// Operations on the Kenmen application of one card session.
pub struct Kenmen<'a, T> {
    channel: &'a mut CardChannel<T>,
}

impl<'a, T: CardTransport> Kenmen<'a, T> {
    /// Wraps a channel.
    pub fn new(channel: &'a mut CardChannel<T>) -> Self {
        Self { channel }
    }

    /// Tries left for 照合番号B, read without spending a try. The card's limit
    /// is not published, so the app must never retry on its own.
    pub async fn check_code_status(&mut self) -> Result<PinStatus, CardError> {
        self.channel
            .pin_status(Application::Kenmen, kenmen::CHECK_CODE_B)
            .await
    }

    /// Reads the application's card-verifiable certificate (EF 0004, free):
    /// the key it certifies signs the face record.
    pub async fn read_cv_certificate(&mut self) -> Result<CvCertificate, CardError> {
        const WHAT: &str = "card-verifiable certificate";
        let bytes = self
            .channel
            .read_ef(
                Application::Kenmen,
                kenmen::CV_CERTIFICATE,
                ContentLength::Tlv,
                WHAT,
            )
            .await?;
        CvCertificate::parse(&bytes).map_err(|e| CardError::malformed(WHAT, e))
    }

    /// Verifies 照合番号B (once per session) and reads the card face record.
    pub async fn read_face(
        &mut self,
        code: &CheckCodeB,
        last_try: LastTry,
    ) -> Result<CardFace, CardError> {
        Ok(self.read_face_record(code, last_try).await?.face)
    }

    /// Like [`Kenmen::read_face`], keeping the record's bytes as read: an
    /// authority checks the issuer's signature over exactly those bytes.
    pub async fn read_face_record(
        &mut self,
        code: &CheckCodeB,
        last_try: LastTry,
    ) -> Result<FaceRecord, CardError> {
        self.channel
            .verify_pin(Application::Kenmen, kenmen::CHECK_CODE_B, code, last_try)
            .await?;
        let bytes = self
            .channel
            .read_ef(
                Application::Kenmen,
                kenmen::FACE,
                ContentLength::Tlv,
                "card face record",
            )
            .await?;
        let face = CardFace::parse(&bytes)?;
        Ok(FaceRecord { bytes, face })
    }

    /// Like [`Kenmen::read_face_record`], opened with 照合番号A (the My
    /// Number, EF 0013) instead of 照合番号B: for an app that has just read
    /// the My Number with the card-info PIN (the wallet's application).
    pub async fn read_face_record_with_check_code_a(
        &mut self,
        code: &CheckCodeA,
        last_try: LastTry,
    ) -> Result<FaceRecord, CardError> {
        self.channel
            .verify_pin(Application::Kenmen, kenmen::CHECK_CODE_A, code, last_try)
            .await?;
        let bytes = self
            .channel
            .read_ef(
                Application::Kenmen,
                kenmen::FACE,
                ContentLength::Tlv,
                "card face record",
            )
            .await?;
        let face = CardFace::parse(&bytes)?;
        Ok(FaceRecord { bytes, face })
    }

    /// Like [`Kenmen::read_cv_certificate`], keeping its bytes as read.
    pub async fn read_cv_certificate_bytes(&mut self) -> Result<Vec<u8>, CardError> {
        const WHAT: &str = "card-verifiable certificate";
        let bytes = self
            .channel
            .read_ef(
                Application::Kenmen,
                kenmen::CV_CERTIFICATE,
                ContentLength::Tlv,
                WHAT,
            )
            .await?;
        CvCertificate::parse(&bytes).map_err(|e| CardError::malformed(WHAT, e))?;
        Ok(bytes.to_vec())
    }
}

/// The card face record (Kenmen EF 0002) as read, with its parse. Personal
/// data: the bytes are wiped on drop and `Debug` shows neither.
pub struct FaceRecord {
    bytes: Zeroizing<Vec<u8>>,
    face: CardFace,
}

impl FaceRecord {
    /// The record's bytes as the card returned them.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The parsed record.
    pub fn face(&self) -> &CardFace {
        &self.face
    }
}

impl std::fmt::Debug for FaceRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaceRecord").finish_non_exhaustive()
    }
}
