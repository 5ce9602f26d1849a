//! Card-verifiable certificates (Kenmen and Kenhojo EF 0004) and the issuer
//! signature on the card face record (Kenmen EF 0002, DF28).
//!
//! The format, from myna-card 3.3.4 (`src/data.rs`, `src/ap/surface.rs`,
//! `tests/signatures.rs`, checked there against files read from a J-LIS test
//! card):
//!
//! ```text
//! 7F21 82 02 33
//!   5F4E 82 01 29   issuer key id (16) ‖ subject key id (16) ‖ 90 03 e 91 82 01 00 n
//!   5F37 82 01 00   PKCS#1 v1.5 SHA-256 signature over the 297 bytes of 5F4E
//! ```
//!
//! The CA key that signs the certificate is named by the issuer key id and
//! is not on the card (production `5000023/001` for Kenmen); J-LIS does not
//! publish these keys as such, so the caller supplies them ([`CvIssuerKey`]).
//! The certified (subject) key signs the Kenmen records; DF28 is PKCS#1 v1.5
//! over a SHA-256 DigestInfo whose digest is three SHA-256 values:
//! (DF22‖DF23‖DF24), (DF25‖DF26), (DF27), each over the TLVs as written.
//!
//! A certificate checked against a key read from the same card proves
//! nothing: trust comes only from the issuer key the caller pins.

use rsa::{BoxedUint, Pkcs1v15Sign, PublicKey};
use sha2::{Digest, Sha256};

use super::ber::{self, BerError};

/// Length of a key identifier.
const KEY_ID_LEN: usize = 16;
/// Length of the certificate body: two key ids and an RSA-2048 key (265).
const BODY_LEN: usize = 297;
/// Tags of the certificate, its body and its signature.
const TAG_CERTIFICATE: u32 = 0x7F21;
const TAG_BODY: u32 = 0x5F4E;
const TAG_SIGNATURE: u32 = 0x5F37;

/// Why a card-verifiable certificate does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CvCertificateError {
    /// Broken TLV encoding.
    #[error("broken TLV: {0}")]
    Tlv(#[from] BerError),
    /// The outer tag is not `7F21`.
    #[error("expected a card-verifiable certificate (7F21), found tag {0:X}")]
    NotACertificate(u32),
    /// No body (`5F4E`).
    #[error("no certificate body (5F4E)")]
    MissingBody,
    /// No signature (`5F37`).
    #[error("no certificate signature (5F37)")]
    MissingSignature,
    /// The body is not 297 bytes (two key ids and an RSA-2048 key).
    #[error("certificate body of {0} bytes, not 297")]
    BodyLength(usize),
    /// A key id is not 7 digits, 2 bytes, 3 digits, 4 bytes.
    #[error("malformed key identifier")]
    KeyId,
    /// The certified key is not a `90` exponent and `91` modulus RSA key.
    #[error("malformed public key: {0}")]
    PublicKey(&'static str),
}

/// Why a face record's issuer signature is not accepted. Each case is a
/// different answer: nothing checked, a forgery, or broken data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IssuerSignatureError {
    /// The CV certificate (Kenmen EF 0004) is malformed.
    #[error("malformed card-verifiable certificate: {0}")]
    MalformedCertificate(#[from] CvCertificateError),
    /// No issuer key the caller supplied has this id: nothing was checked.
    #[error("unknown certificate issuer {0}")]
    UnknownIssuer(KeyId),
    /// The CV certificate's signature does not verify with its issuer's key.
    #[error("the card-verifiable certificate's signature does not verify with issuer {0}")]
    BadCertificateSignature(KeyId),
    /// The face record's DF28 does not verify with the certified key.
    #[error("the card face record's signature (DF28) does not verify")]
    BadRecordSignature,
}

/// A 16-byte key identifier: 7 ASCII digits (the key number), two bytes
/// (`08 05` on cards seen), 3 ASCII digits (the group), 4 padding bytes
/// (myna-card `src/data.rs` `KeyId`). Compared in full.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId([u8; KEY_ID_LEN]);

impl KeyId {
    /// Takes exactly 16 bytes whose two digit groups are ASCII digits.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CvCertificateError> {
        let id: [u8; KEY_ID_LEN] = bytes.try_into().map_err(|_| CvCertificateError::KeyId)?;
        let digits = |range: std::ops::Range<usize>| {
            id.get(range)
                .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
        };
        if digits(0..7) && digits(9..12) {
            Ok(Self(id))
        } else {
            Err(CvCertificateError::KeyId)
        }
    }

    /// The seven-digit key number (`5000023`).
    pub fn number(&self) -> &str {
        self.0
            .get(..7)
            .and_then(|d| std::str::from_utf8(d).ok())
            .unwrap_or_default()
    }

    /// The three-digit group (`001`).
    pub fn group(&self) -> &str {
        self.0
            .get(9..12)
            .and_then(|d| std::str::from_utf8(d).ok())
            .unwrap_or_default()
    }

    /// All 16 bytes.
    pub fn as_bytes(&self) -> &[u8; KEY_ID_LEN] {
        &self.0
    }
}

impl std::fmt::Display for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.number(), self.group())
    }
}

impl std::fmt::Debug for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The padding too: two ids can differ only there.
        let padding = self.0.get(12..).unwrap_or_default();
        write!(f, "KeyId({self} {})", crate::hex::Hex(padding))
    }
}

/// Parses the card's own RSA public key encoding: `90` exponent, `91`
/// modulus, nothing else.
fn card_public_key(bytes: &[u8]) -> Result<PublicKey, CvCertificateError> {
    let mut objects = ber::objects(bytes);
    let exponent = objects
        .next()
        .transpose()?
        .filter(|t| t.tag == 0x90)
        .ok_or(CvCertificateError::PublicKey("no exponent (90)"))?;
    let modulus = objects
        .next()
        .transpose()?
        .filter(|t| t.tag == 0x91)
        .ok_or(CvCertificateError::PublicKey("no modulus (91)"))?;
    if objects.next().is_some() {
        return Err(CvCertificateError::PublicKey("bytes after the modulus"));
    }
    if modulus.value.len() != 256 {
        return Err(CvCertificateError::PublicKey("not an RSA-2048 modulus"));
    }
    PublicKey::new(
        BoxedUint::from_be_slice_vartime(modulus.value),
        BoxedUint::from_be_slice_vartime(exponent.value),
    )
    .map_err(|_| CvCertificateError::PublicKey("not a usable RSA key"))
}

/// A card-verifiable certificate (Kenmen or Kenhojo EF 0004).
#[derive(Clone, PartialEq, Eq)]
pub struct CvCertificate {
    issuer_key_id: KeyId,
    subject_key_id: KeyId,
    subject_key: PublicKey,
    body: Vec<u8>,
    signature: Vec<u8>,
}

impl std::fmt::Debug for CvCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CvCertificate")
            .field("issuer_key_id", &self.issuer_key_id)
            .field("subject_key_id", &self.subject_key_id)
            .finish_non_exhaustive()
    }
}

impl CvCertificate {
    /// Parses a certificate, with its `7F21` template (as read from an EF)
    /// or without it (as GET DATA returns one).
    pub fn parse(bytes: &[u8]) -> Result<Self, CvCertificateError> {
        let contents = if bytes.starts_with(&[0x7F]) {
            let (outer, _filler) = ber::read(bytes)?;
            if outer.tag != TAG_CERTIFICATE {
                return Err(CvCertificateError::NotACertificate(outer.tag));
            }
            outer.value
        } else {
            bytes
        };
        let mut body = None;
        let mut signature = None;
        for object in ber::objects(contents) {
            let object = object?;
            match object.tag {
                TAG_BODY => body = Some(object.value),
                TAG_SIGNATURE => signature = Some(object.value),
                // Other objects carry nothing this check needs; a missing body
                // or signature is refused below.
                _ => {}
            }
        }
        let body = body.ok_or(CvCertificateError::MissingBody)?;
        let signature = signature.ok_or(CvCertificateError::MissingSignature)?;
        if body.len() != BODY_LEN {
            return Err(CvCertificateError::BodyLength(body.len()));
        }
        let (issuer, rest) = body
            .split_at_checked(KEY_ID_LEN)
            .ok_or(CvCertificateError::BodyLength(body.len()))?;
        let (subject, key) = rest
            .split_at_checked(KEY_ID_LEN)
            .ok_or(CvCertificateError::BodyLength(body.len()))?;
        Ok(Self {
            issuer_key_id: KeyId::from_bytes(issuer)?,
            subject_key_id: KeyId::from_bytes(subject)?,
            subject_key: card_public_key(key)?,
            body: body.to_vec(),
            signature: signature.to_vec(),
        })
    }

    /// Which CA key signed this certificate (証明者鍵ID).
    pub fn issuer_key_id(&self) -> KeyId {
        self.issuer_key_id
    }

    /// Which key it certifies (被証明者鍵ID).
    pub fn subject_key_id(&self) -> KeyId {
        self.subject_key_id
    }

    /// Checks the certificate against the issuer key with its issuer id among
    /// `issuers` (PKCS#1 v1.5, SHA-256 over the 297-byte body).
    pub fn verify(&self, issuers: &[CvIssuerKey]) -> Result<(), IssuerSignatureError> {
        let issuer = issuers
            .iter()
            .find(|k| k.key_id == self.issuer_key_id)
            .ok_or(IssuerSignatureError::UnknownIssuer(self.issuer_key_id))?;
        issuer
            .key
            .verify(
                Pkcs1v15Sign::new::<Sha256>(),
                &Sha256::digest(&self.body),
                &self.signature,
            )
            .map_err(|_| IssuerSignatureError::BadCertificateSignature(self.issuer_key_id))
    }

    /// True when `signature` is the certified key's PKCS#1 v1.5 signature
    /// over exactly `digest_info` (a DER DigestInfo).
    pub(crate) fn certifies_signature(&self, digest_info: &[u8], signature: &[u8]) -> bool {
        self.subject_key
            .verify(Pkcs1v15Sign::new_unprefixed(), digest_info, signature)
            .is_ok()
    }
}

/// A CA key that signs card-verifiable certificates, with its key id. The
/// app supplies these (the production ones are not published by J-LIS as
/// such; a verifier gets them from J-LIS); the sandbox has its own.
#[derive(Clone, PartialEq, Eq)]
pub struct CvIssuerKey {
    key_id: KeyId,
    key: PublicKey,
}

impl std::fmt::Debug for CvIssuerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CvIssuerKey")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl CvIssuerKey {
    /// An issuer key from its id and big-endian modulus and exponent.
    pub fn new(key_id: KeyId, modulus: &[u8], exponent: &[u8]) -> Result<Self, CvCertificateError> {
        let key = PublicKey::new(
            BoxedUint::from_be_slice_vartime(modulus),
            BoxedUint::from_be_slice_vartime(exponent),
        )
        .map_err(|_| CvCertificateError::PublicKey("not a usable RSA key"))?;
        Ok(Self { key_id, key })
    }

    /// The key's id.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }
}

/// DER `DigestInfo { sha256, NULL }` around the face record's 96 bytes of
/// three SHA-256 values (RFC 8017 §9.2 with a 96-byte OCTET STRING).
const FACE_DIGEST_INFO_PREFIX: [u8; 19] = [
    0x30, 0x71, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x60,
];

/// The DigestInfo DF28 signs, from the three segments' SHA-256 values.
pub(crate) fn face_digest_info(segment_digests: &[[u8; 32]; 3]) -> Vec<u8> {
    let mut out = FACE_DIGEST_INFO_PREFIX.to_vec();
    for digest in segment_digests {
        out.extend_from_slice(digest);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_print_and_reject() {
        let id = KeyId::from_bytes(b"5000023\x08\x05001\0\0\0\0").unwrap();
        assert_eq!(id.to_string(), "5000023/001");
        assert_eq!(format!("{id:?}"), "KeyId(5000023/001 00000000)");
        assert_eq!(
            KeyId::from_bytes(b"500002X\x08\x05001\0\0\0\0"),
            Err(CvCertificateError::KeyId)
        );
        assert_eq!(KeyId::from_bytes(b"short"), Err(CvCertificateError::KeyId));
    }

    #[test]
    fn malformed_certificates_give_typed_errors() {
        assert_eq!(
            CvCertificate::parse(&[0x7F, 0x22, 0x00]),
            Err(CvCertificateError::NotACertificate(0x7F22))
        );
        assert_eq!(
            CvCertificate::parse(&[0x7F, 0x21, 0x00]),
            Err(CvCertificateError::MissingBody)
        );
        assert_eq!(
            CvCertificate::parse(&[0x5F, 0x4E, 0x01, 0x00]),
            Err(CvCertificateError::MissingSignature)
        );
        assert_eq!(
            CvCertificate::parse(&[0x5F, 0x4E, 0x01, 0x00, 0x5F, 0x37, 0x00]),
            Err(CvCertificateError::BodyLength(1))
        );
        assert_eq!(
            CvCertificate::parse(&[0x7F, 0x21, 0x05, 0x5F]),
            Err(CvCertificateError::Tlv(BerError::TruncatedValue {
                needed: 5,
                available: 1
            }))
        );
        let mut body = b"5000023\x08\x05001\0\0\0\0".to_vec();
        body.extend_from_slice(b"1310121\x08\x05000\0\0\0\0");
        body.extend_from_slice(&[0x90, 0x01, 0x03, 0x91, 0x82, 0x01, 0x02]);
        body.resize(297, 0);
        let mut cert = vec![0x5F, 0x4E, 0x82, 0x01, 0x29];
        cert.extend_from_slice(&body);
        cert.extend_from_slice(&[0x5F, 0x37, 0x00]);
        assert_eq!(
            CvCertificate::parse(&cert),
            Err(CvCertificateError::PublicKey("not an RSA-2048 modulus"))
        );
    }
}
