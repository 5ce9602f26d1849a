//! The card's X.509 certificates: parsing, the accessors the role and chain
//! checks use, and the signing certificate's personal attributes.

use chrono::{DateTime, NaiveDate, Utc};
use const_oid::ObjectIdentifier;
use der::asn1::Utf8StringRef;
use der::{Decode, Encode};
use rsa::pkcs8::DecodePublicKey;
use rsa::{Pkcs1v15Sign, Pss, PublicKey};
use serde::Serialize;
use sha2::{Digest, Sha256};
use x509_cert::Certificate;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{
    BasicConstraints, CertificatePolicies, ExtendedKeyUsage, KeyUsage, SubjectAltName,
};
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::expiry::ExpiryState;
use crate::hex::Hex;
use crate::jp::person::Sex;

/// `sha256WithRSAEncryption`, the only signature algorithm JPKI uses.
pub(crate) const SHA256_WITH_RSA: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");

/// `id-kp-clientAuth` (RFC 5280 §4.2.1.12): the authentication certificate's EKU.
pub(crate) const CLIENT_AUTH: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.2");

/// OIDs of the signing certificate's personal attributes (SAN otherName).
pub mod attribute_oid {
    use const_oid::ObjectIdentifier;
    /// Name (氏名).
    pub const NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.392.200149.8.5.5.1");
    /// Flags marking characters of the name replaced by substitutes.
    pub const NAME_SUBSTITUTE: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.2.392.200149.8.5.5.2");
    /// Sex.
    pub const SEX: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.392.200149.8.5.5.3");
    /// Birth date, `EYYYYMMDD` (E: era 1 Meiji … 5 Reiwa, 0 unknown).
    pub const BIRTH_DATE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.392.200149.8.5.5.4");
    /// Address.
    pub const ADDRESS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.392.200149.8.5.5.5");
    /// Flags marking characters of the address replaced by substitutes.
    pub const ADDRESS_SUBSTITUTE: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.2.392.200149.8.5.5.6");
}

/// Why certificate bytes could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    /// Not a DER X.509 certificate.
    #[error("not a DER certificate: {0}")]
    Der(String),
    /// A field holds something this library cannot read.
    #[error("unreadable {field}: {detail}")]
    Field {
        /// Which field.
        field: &'static str,
        /// Why.
        detail: String,
    },
}

fn field_error(field: &'static str) -> impl Fn(der::Error) -> CertificateError {
    move |e| CertificateError::Field {
        field,
        detail: e.to_string(),
    }
}

/// A certificate read from the card, with its original DER. The signing
/// certificate carries the holder's name and address: the DER is wiped on
/// drop and `Debug` shows only the subject and serial.
#[derive(Clone, PartialEq, Eq)]
pub struct CardCertificate {
    der: Vec<u8>,
    cert: Certificate,
}

impl Drop for CardCertificate {
    fn drop(&mut self) {
        self.der.zeroize();
    }
}

impl std::fmt::Debug for CardCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CardCertificate")
            .field("subject", &self.subject())
            .field("serial", &self.serial_hex())
            .field("der_length", &self.der.len())
            .finish_non_exhaustive()
    }
}

impl CardCertificate {
    /// Parses DER; trailing bytes are an error.
    pub fn from_der(der: Vec<u8>) -> Result<Self, CertificateError> {
        let cert = Certificate::from_der(&der).map_err(|e| CertificateError::Der(e.to_string()))?;
        Ok(Self { der, cert })
    }

    /// The DER bytes as read.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The parsed certificate.
    pub fn x509(&self) -> &Certificate {
        &self.cert
    }

    /// SHA-256 of the DER: the fingerprint anchors are pinned by.
    pub fn sha256_fingerprint(&self) -> [u8; 32] {
        Sha256::digest(&self.der).into()
    }

    /// Subject distinguished name (RFC 4514 string).
    pub fn subject(&self) -> String {
        self.cert.tbs_certificate().subject().to_string()
    }

    /// Issuer distinguished name (RFC 4514 string).
    pub fn issuer(&self) -> String {
        self.cert.tbs_certificate().issuer().to_string()
    }

    /// Serial number, upper-case hex.
    pub fn serial_hex(&self) -> String {
        Hex(self.cert.tbs_certificate().serial_number().as_bytes()).to_string()
    }

    /// Start of validity.
    pub fn not_before(&self) -> DateTime<Utc> {
        to_chrono(
            self.cert
                .tbs_certificate()
                .validity()
                .not_before
                .to_unix_duration(),
        )
    }

    /// End of validity.
    pub fn not_after(&self) -> DateTime<Utc> {
        to_chrono(
            self.cert
                .tbs_certificate()
                .validity()
                .not_after
                .to_unix_duration(),
        )
    }

    /// True when basic constraints mark this as a CA certificate.
    pub fn is_ca(&self) -> bool {
        matches!(self.cert.tbs_certificate().get_extension::<BasicConstraints>(), Ok(Some((_, bc))) if bc.ca)
    }

    /// Certificate policy OIDs, dotted.
    pub fn policies(&self) -> Vec<String> {
        self.policy_oids().iter().map(ToString::to_string).collect()
    }

    pub(crate) fn policy_oids(&self) -> Vec<ObjectIdentifier> {
        match self
            .cert
            .tbs_certificate()
            .get_extension::<CertificatePolicies>()
        {
            Ok(Some((_, policies))) => policies.0.iter().map(|p| p.policy_identifier).collect(),
            _ => Vec::new(),
        }
    }

    /// The key usage extension, when present and readable.
    pub fn key_usage(&self) -> Option<KeyUsage> {
        match self.cert.tbs_certificate().get_extension::<KeyUsage>() {
            Ok(Some((_, usage))) => Some(usage),
            _ => None,
        }
    }

    /// True when the extended key usage lists TLS client authentication.
    pub fn has_client_auth_eku(&self) -> bool {
        matches!(
            self.cert.tbs_certificate().get_extension::<ExtendedKeyUsage>(),
            Ok(Some((_, eku))) if eku.0.contains(&CLIENT_AUTH)
        )
    }

    /// The issuer's organizational-unit values, in order.
    pub(crate) fn issuer_units(&self) -> Vec<String> {
        const OU: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.11");
        self.cert
            .tbs_certificate()
            .issuer()
            .iter_rdn()
            .flat_map(|rdn| rdn.iter())
            .filter(|atv| atv.oid == OU)
            .filter_map(|atv| {
                Utf8StringRef::try_from(&atv.value)
                    .map(|s| s.as_str().to_owned())
                    .or_else(|_| {
                        der::asn1::PrintableStringRef::try_from(&atv.value)
                            .map(|s| s.as_str().to_owned())
                    })
                    .ok()
            })
            .collect()
    }

    /// The RSA public key.
    pub fn public_key(&self) -> Result<PublicKey, CertificateError> {
        let spki = self
            .cert
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .map_err(field_error("public key"))?;
        PublicKey::from_public_key_der(&spki).map_err(|e| CertificateError::Field {
            field: "public key",
            detail: e.to_string(),
        })
    }

    /// True when `signature` is this certificate's key's PKCS#1 v1.5 signature
    /// over SHA-256 of `message` (what the card's COMPUTE DIGITAL SIGNATURE
    /// produces for a SHA-256 `DigestInfo`).
    pub fn verifies_sha256_signature(&self, message: &[u8], signature: &[u8]) -> bool {
        let Ok(key) = self.public_key() else {
            return false;
        };
        key.verify(
            Pkcs1v15Sign::new::<Sha256>(),
            &Sha256::digest(message),
            signature,
        )
        .is_ok()
    }

    /// True when `signature` is this certificate's key's RSASSA-PSS signature
    /// (SHA-256, MGF1-SHA-256, 32-byte salt: what the card's PSS mode gives)
    /// over SHA-256 of `message`.
    pub fn verifies_pss_sha256_signature(&self, message: &[u8], signature: &[u8]) -> bool {
        let Ok(key) = self.public_key() else {
            return false;
        };
        key.verify(
            Pss::<Sha256>::new_with_salt(32),
            &Sha256::digest(message),
            signature,
        )
        .is_ok()
    }

    /// Checks that `issuer`'s key signed this certificate.
    pub fn is_signed_by(&self, issuer: &CardCertificate) -> Result<(), super::ChainError> {
        use super::ChainError;
        if self.cert.signature_algorithm().oid != SHA256_WITH_RSA {
            return Err(ChainError::UnsupportedAlgorithm(
                self.cert.signature_algorithm().oid.to_string(),
            ));
        }
        let tbs = self
            .cert
            .tbs_certificate()
            .to_der()
            .map_err(|e| ChainError::Malformed(e.to_string()))?;
        let signature = self
            .cert
            .signature()
            .as_bytes()
            .ok_or_else(|| ChainError::Malformed("signature has unused bits".into()))?;
        let key = issuer
            .public_key()
            .map_err(|e| ChainError::Malformed(e.to_string()))?;
        key.verify(
            Pkcs1v15Sign::new::<Sha256>(),
            &Sha256::digest(&tbs),
            signature,
        )
        .map_err(|_| ChainError::BadSignature)
    }

    /// True when this certificate's subject is `other`'s issuer.
    pub(crate) fn issued(&self, other: &CardCertificate) -> bool {
        self.cert.tbs_certificate().subject() == other.cert.tbs_certificate().issuer()
    }

    /// The personal attributes of a signing certificate (`None` on a certificate without them).
    pub fn personal_attributes(&self) -> Result<Option<PersonalAttributes>, CertificateError> {
        let Some((_, san)) = self
            .cert
            .tbs_certificate()
            .get_extension::<SubjectAltName>()
            .map_err(field_error("subjectAltName"))?
        else {
            return Ok(None);
        };
        let mut attrs = PersonalAttributes::default();
        let mut any = false;
        for name in &san.0 {
            let GeneralName::OtherName(other) = name else {
                continue;
            };
            let text = || -> Result<String, CertificateError> {
                let s = Utf8StringRef::try_from(&other.value)
                    .map_err(field_error("personal attribute"))?;
                Ok(s.as_str().to_owned())
            };
            let slot = match other.type_id {
                attribute_oid::NAME => &mut attrs.name,
                attribute_oid::NAME_SUBSTITUTE => &mut attrs.name_substitute_flags,
                attribute_oid::SEX => &mut attrs.sex_code,
                attribute_oid::BIRTH_DATE => &mut attrs.birth_date_code,
                attribute_oid::ADDRESS => &mut attrs.address,
                attribute_oid::ADDRESS_SUBSTITUTE => &mut attrs.address_substitute_flags,
                _ => continue,
            };
            *slot = text()?;
            any = true;
        }
        Ok(any.then_some(attrs))
    }

    /// The expiry state at `at`, as the insurers' data table defines it,
    /// computed from the DER's own validity.
    pub fn expiry_state(&self, at: DateTime<Utc>) -> ExpiryState {
        ExpiryState::at(self.not_before(), self.not_after(), at)
    }

    /// A serialisable summary.
    pub fn info(&self) -> CertificateInfo {
        CertificateInfo {
            subject: self.subject(),
            issuer: self.issuer(),
            serial: self.serial_hex(),
            not_before: self.not_before(),
            not_after: self.not_after(),
            sha256: Hex(&self.sha256_fingerprint()).to_string(),
            policies: self.policies(),
            der_length: self.der.len(),
        }
    }
}

fn to_chrono(since_epoch: std::time::Duration) -> DateTime<Utc> {
    let secs = i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX);
    DateTime::from_timestamp(secs, 0).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// A certificate summary for display and JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertificateInfo {
    /// Subject DN.
    pub subject: String,
    /// Issuer DN.
    pub issuer: String,
    /// Serial number, hex.
    pub serial: String,
    /// Start of validity.
    pub not_before: DateTime<Utc>,
    /// End of validity.
    pub not_after: DateTime<Utc>,
    /// SHA-256 of the DER, hex.
    pub sha256: String,
    /// Policy OIDs.
    pub policies: Vec<String>,
    /// Size of the DER.
    pub der_length: usize,
}

/// The signing certificate's personal attributes, as recorded (UTF-8 text).
/// Personal data: redacted in `Debug`, wiped on drop.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Zeroize, ZeroizeOnDrop)]
pub struct PersonalAttributes {
    /// Name.
    pub name: String,
    /// One `0`/`1` per character of the name; `1` marks a substitute character.
    pub name_substitute_flags: String,
    /// Sex code (`1`, `2`, `3`).
    pub sex_code: String,
    /// Birth date `EYYYYMMDD` (era digit, then the Western date).
    pub birth_date_code: String,
    /// Address.
    pub address: String,
    /// One `0`/`1` per character of the address.
    pub address_substitute_flags: String,
}

impl std::fmt::Debug for PersonalAttributes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersonalAttributes")
            .field("name", &"<redacted>")
            .field("address", &"<redacted>")
            .field("birth_date_code", &"<redacted>")
            .field("sex_code", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl PersonalAttributes {
    /// The sex, if the code is known.
    pub fn sex(&self) -> Option<Sex> {
        Sex::from_code(&self.sex_code)
    }

    /// The birth date, unless the certificate records it as unknown (era `0`)
    /// or the code is not `EYYYYMMDD` in ASCII digits.
    pub fn birth_date(&self) -> Option<NaiveDate> {
        // Character-wise, never byte slicing: the code comes from the card
        // and may hold multi-byte characters.
        let mut chars = self.birth_date_code.chars();
        let era = chars.next()?;
        let date: String = chars.collect();
        if era == '0'
            || !era.is_ascii_digit()
            || date.len() != 8
            || !date.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        NaiveDate::parse_from_str(&date, "%Y%m%d").ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn birth_date_codes() {
        let mut attrs = PersonalAttributes::default();
        attrs.birth_date_code = "319800301".into();
        attrs.sex_code = "2".into();
        assert_eq!(attrs.birth_date(), NaiveDate::from_ymd_opt(1980, 3, 1));
        assert_eq!(attrs.sex(), Some(Sex::Female));
        let mut unknown = PersonalAttributes::default();
        unknown.birth_date_code = "000000000".into();
        assert_eq!(unknown.birth_date(), None);
    }

    #[test]
    fn a_multibyte_birth_date_code_is_no_date_and_no_panic() {
        // 9 bytes, first character 3 bytes long: the old code sliced at byte 1 and panicked.
        for code in ["昭198003", "3１９８0301", "é1980030", "3+1980301"] {
            let mut attrs = PersonalAttributes::default();
            attrs.birth_date_code = code.into();
            assert_eq!(attrs.birth_date(), None, "{code}");
        }
    }

    #[test]
    fn personal_attributes_are_redacted_in_debug() {
        let mut attrs = PersonalAttributes::default();
        attrs.name = "番号　花子".into();
        attrs.address = "東京都千代田区".into();
        attrs.birth_date_code = "319800301".into();
        let shown = format!("{attrs:?}");
        assert!(!shown.contains("花子") && !shown.contains("千代田") && !shown.contains("1980"));
    }

    #[test]
    fn garbage_is_a_typed_error() {
        assert!(matches!(
            CardCertificate::from_der(vec![0x30, 0x03, 1, 2]),
            Err(CertificateError::Der(_))
        ));
    }
}
