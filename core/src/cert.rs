//! The card's X.509 certificates: parsing, the signing certificate's personal
//! attributes, chain verification against pinned anchors, and the expiry
//! state insurers use (rules.md §6).

use chrono::{DateTime, NaiveDate, Utc};
use const_oid::ObjectIdentifier;
use der::asn1::Utf8StringRef;
use der::{Decode, Encode};
use rsa::pkcs8::DecodePublicKey;
use rsa::{Pkcs1v15Sign, PublicKey};
use serde::Serialize;
use sha2::{Digest, Sha256};
use x509_cert::Certificate;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{BasicConstraints, CertificatePolicies, SubjectAltName};

use crate::period::{japan_date, last_day_of_months, next_day};
use crate::person::Sex;

/// `sha256WithRSAEncryption`, the only signature algorithm JPKI uses.
const SHA256_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");

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

/// Certificate policy of the signing certificate.
pub const SIGNING_POLICY: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.392.200149.8.5.1.1.20");
/// Certificate policy of the user-authentication certificate.
pub const AUTHENTICATION_POLICY: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.392.200149.8.5.1.3.30");

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

/// A certificate read from the card, with its original DER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardCertificate {
    der: Vec<u8>,
    cert: Certificate,
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
        crate::apdu::Hex(self.cert.tbs_certificate().serial_number().as_bytes()).to_string()
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
        match self
            .cert
            .tbs_certificate()
            .get_extension::<CertificatePolicies>()
        {
            Ok(Some((_, policies))) => policies
                .0
                .iter()
                .map(|p| p.policy_identifier.to_string())
                .collect(),
            _ => Vec::new(),
        }
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

    /// Checks that `issuer`'s key signed this certificate.
    pub fn is_signed_by(&self, issuer: &CardCertificate) -> Result<(), ChainError> {
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

    /// The expiry state at `at`, as the insurers' data table defines it.
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
            sha256: crate::apdu::Hex(&self.sha256_fingerprint()).to_string(),
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
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
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

impl PersonalAttributes {
    /// The sex, if the code is known.
    pub fn sex(&self) -> Option<Sex> {
        Sex::from_code(&self.sex_code)
    }

    /// The birth date, unless the certificate records it as unknown (era `0`).
    pub fn birth_date(&self) -> Option<NaiveDate> {
        let code = self.birth_date_code.as_bytes();
        if code.len() != 9 || code[0] == b'0' {
            return None;
        }
        NaiveDate::parse_from_str(&self.birth_date_code[1..], "%Y%m%d").ok()
    }
}

/// Where a certificate stands in time, in the insurers' terms (rules.md §6:
/// the expiry-state flag is 0 once a certificate has been expired for three
/// months or more).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
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

impl ExpiryState {
    /// The state at `at` of a validity period. The three months are counted
    /// in Japan from the day after the last valid day (civil-law counting).
    pub fn at(not_before: DateTime<Utc>, not_after: DateTime<Utc>, at: DateTime<Utc>) -> Self {
        if at < not_before {
            return Self::NotYetValid;
        }
        if at <= not_after {
            return Self::Valid;
        }
        let grace_end =
            next_day(japan_date(not_after)).and_then(|first| last_day_of_months(first, 3));
        match grace_end {
            Some(end) if japan_date(at) <= end => Self::ExpiredUnderThreeMonths,
            _ => Self::ExpiredThreeMonthsOrMore,
        }
    }

    /// The insurers' certificate expiry-state flag: `1` valid or expired under
    /// three months, `0` expired three months or more.
    pub fn insurer_flag(self) -> u8 {
        match self {
            Self::ExpiredThreeMonthsOrMore => 0,
            Self::NotYetValid | Self::Valid | Self::ExpiredUnderThreeMonths => 1,
        }
    }
}

/// Why a chain did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// No pinned or configured anchor issued this certificate.
    #[error("no trusted anchor issued this certificate (issuer: {issuer})")]
    UntrustedIssuer {
        /// The certificate's issuer DN.
        issuer: String,
    },
    /// An anchor with the issuer's name exists, but its key did not sign this.
    #[error("the signature does not verify against any trusted anchor")]
    BadSignature,
    /// Not sha256WithRSAEncryption.
    #[error("unsupported signature algorithm {0}")]
    UnsupportedAlgorithm(String),
    /// A CA certificate was presented where an end-entity certificate belongs.
    #[error("a CA certificate is not a holder's certificate")]
    NotALeaf,
    /// The leaf carries neither JPKI end-entity policy (or both).
    #[error("the certificate has no JPKI authentication or signing policy")]
    UnknownRole,
    /// The leaf is for something else than the caller expects.
    #[error("expected a {expected:?} certificate, found a {found:?} certificate")]
    WrongRole {
        /// What the caller asked for.
        expected: CertificateRole,
        /// What the certificate is.
        found: CertificateRole,
    },
    /// The certificate could not be re-encoded or its key read.
    #[error("malformed certificate: {0}")]
    Malformed(String),
}

/// The anchors a chain must end in. A CA certificate read from the card is
/// only used if its fingerprint is pinned here: a chain that ends in a
/// certificate from the same card proves nothing.
#[derive(Debug, Clone, Default)]
pub struct TrustAnchors {
    fingerprints: Vec<[u8; 32]>,
    certificates: Vec<CardCertificate>,
}

/// SHA-256 fingerprints of the production JPKI roots (card-protocol.md).
const PRODUCTION_ROOTS: [&str; 6] = [
    "4DCFC4CA0AAF9FB2A3081B3F0C991C320B3ACC008667A341EEAEC5AF1D58CA7D",
    "0D98DE47FC11B7F67126874B7028B6026A803D2638D6EDFE53176953961FADE6",
    "64114F29620C24ED2631D46476A040E7EE740D956089C00B036A6A8118C322B5",
    "19645405A1FE14377434BD55957628AC4038557C542403A2243F21C706FC9355",
    "79679C33E4CC9319440F1AD120A597FF1844E2EF217063ADB176966FD5E6FBEB",
    "D227F6CDE11D35C5252178F106F843D24651944975413B539FA2FB68DBFA365F",
];

/// Parses 64 hex digits.
pub fn parse_fingerprint(hex: &str) -> Option<[u8; 32]> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks(2).enumerate() {
        out[i] = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(out)
}

/// What a JPKI end-entity certificate is for, from its certificate policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CertificateRole {
    /// User authentication (policy `1.2.392.200149.8.5.1.3.30`).
    Authentication,
    /// Digital signature (policy `1.2.392.200149.8.5.1.1.20`).
    Signing,
}

impl CertificateRole {
    /// The role a certificate's policies give it, if exactly one.
    pub fn of(cert: &CardCertificate) -> Option<Self> {
        let policies = cert.policies();
        let has = |oid: ObjectIdentifier| policies.contains(&oid.to_string());
        match (has(AUTHENTICATION_POLICY), has(SIGNING_POLICY)) {
            (true, false) => Some(Self::Authentication),
            (false, true) => Some(Self::Signing),
            _ => None,
        }
    }
}

/// The anchor a chain ended in, and what the leaf is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrustedAnchor {
    /// The anchor's subject DN.
    pub subject: String,
    /// The anchor's SHA-256 fingerprint, hex.
    pub sha256: String,
    /// The leaf's role, from its certificate policy.
    pub role: CertificateRole,
}

impl TrustAnchors {
    /// No anchors: nothing verifies.
    pub fn none() -> Self {
        Self::default()
    }

    /// The six production JPKI roots (2015, 2019, 2023 generations).
    pub fn production() -> Self {
        Self {
            fingerprints: PRODUCTION_ROOTS
                .iter()
                .filter_map(|h| parse_fingerprint(h))
                .collect(),
            certificates: Vec::new(),
        }
    }

    /// Adds an anchor certificate the app ships (such as the sandbox CA).
    pub fn with_certificate(mut self, anchor: CardCertificate) -> Self {
        self.fingerprints.push(anchor.sha256_fingerprint());
        self.certificates.push(anchor);
        self
    }

    /// Pins a further root by its SHA-256 fingerprint.
    pub fn with_fingerprint(mut self, fingerprint: [u8; 32]) -> Self {
        self.fingerprints.push(fingerprint);
        self
    }

    /// Checks as [`Self::verify`] and that the leaf has the `expected` role,
    /// so a signing certificate is never taken for an authentication one.
    pub fn verify_as(
        &self,
        leaf: &CardCertificate,
        expected: CertificateRole,
        card_ca_certs: &[&CardCertificate],
    ) -> Result<TrustedAnchor, ChainError> {
        let anchor = self.verify(leaf, card_ca_certs)?;
        if anchor.role != expected {
            return Err(ChainError::WrongRole {
                expected,
                found: anchor.role,
            });
        }
        Ok(anchor)
    }

    /// Checks that `leaf` is a JPKI end-entity certificate signed by a
    /// trusted anchor. `card_ca_certs` are CA certificates read from the card;
    /// they count only when pinned. Two CA generations share one name, so
    /// every candidate with the issuer's name is tried by key. Validity dates
    /// are not judged here: [`CardCertificate::expiry_state`] says where the
    /// certificate stands in time.
    pub fn verify(
        &self,
        leaf: &CardCertificate,
        card_ca_certs: &[&CardCertificate],
    ) -> Result<TrustedAnchor, ChainError> {
        if leaf.is_ca() {
            return Err(ChainError::NotALeaf);
        }
        let role = CertificateRole::of(leaf).ok_or(ChainError::UnknownRole)?;
        let issuer = leaf.cert.tbs_certificate().issuer();
        let pinned = card_ca_certs
            .iter()
            .copied()
            .filter(|c| self.fingerprints.contains(&c.sha256_fingerprint()));
        let mut named_any = false;
        for candidate in self.certificates.iter().chain(pinned) {
            if candidate.cert.tbs_certificate().subject() != issuer || !candidate.is_ca() {
                continue;
            }
            named_any = true;
            match leaf.is_signed_by(candidate) {
                Ok(()) => {
                    return Ok(TrustedAnchor {
                        role,
                        subject: candidate.subject(),
                        sha256: crate::apdu::Hex(&candidate.sha256_fingerprint()).to_string(),
                    });
                }
                Err(ChainError::BadSignature) => {}
                Err(other) => return Err(other),
            }
        }
        if named_any {
            Err(ChainError::BadSignature)
        } else {
            Err(ChainError::UntrustedIssuer {
                issuer: leaf.issuer(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn expiry_states_follow_the_insurers_table() {
        let nb = utc("2021-01-10T00:00:00Z");
        // Last valid moment: 2026-01-15 23:59:59 JST.
        let na = utc("2026-01-15T14:59:59Z");
        assert_eq!(
            ExpiryState::at(nb, na, utc("2020-01-01T00:00:00Z")),
            ExpiryState::NotYetValid
        );
        assert_eq!(
            ExpiryState::at(nb, na, utc("2026-01-15T14:59:59Z")),
            ExpiryState::Valid
        );
        assert_eq!(
            ExpiryState::at(nb, na, utc("2026-01-15T15:00:00Z")),
            ExpiryState::ExpiredUnderThreeMonths
        );
        // Three months counted from 2026-01-16 end with 2026-04-15 (JST).
        assert_eq!(
            ExpiryState::at(nb, na, utc("2026-04-15T14:59:59Z")),
            ExpiryState::ExpiredUnderThreeMonths
        );
        assert_eq!(
            ExpiryState::at(nb, na, utc("2026-04-15T15:00:00Z")),
            ExpiryState::ExpiredThreeMonthsOrMore
        );
        assert_eq!(ExpiryState::ExpiredThreeMonthsOrMore.insurer_flag(), 0);
        assert_eq!(ExpiryState::ExpiredUnderThreeMonths.insurer_flag(), 1);
    }

    #[test]
    fn production_fingerprints_parse() {
        assert_eq!(TrustAnchors::production().fingerprints.len(), 6);
        assert_eq!(parse_fingerprint("zz"), None);
    }

    #[test]
    fn birth_date_codes() {
        let attrs = PersonalAttributes {
            birth_date_code: "319800301".into(),
            sex_code: "2".into(),
            ..Default::default()
        };
        assert_eq!(attrs.birth_date(), NaiveDate::from_ymd_opt(1980, 3, 1));
        assert_eq!(attrs.sex(), Some(Sex::Female));
        let unknown = PersonalAttributes {
            birth_date_code: "000000000".into(),
            ..Default::default()
        };
        assert_eq!(unknown.birth_date(), None);
    }

    #[test]
    fn garbage_is_a_typed_error() {
        assert!(matches!(
            CardCertificate::from_der(vec![0x30, 0x03, 1, 2]),
            Err(CertificateError::Der(_))
        ));
    }
}
