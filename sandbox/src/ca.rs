//! The sandbox CA: two self-signed roots shaped like the real JPKI roots
//! (`O=JPKI-SANDBOX` instead of `O=JPKI`) and the end-entity certificates
//! they issue to a card, with the extensions and attributes real JPKI
//! certificates carry (card-protocol.md, Certificates).

use std::fmt::Display;
use std::time::Duration;

use chrono::{NaiveDate, NaiveTime};
use const_oid::ObjectIdentifier;
use der::asn1::{GeneralizedTime, Ia5String, OctetString};
use der::{Any, Decode, Encode, Tag};
use mynakit_core::{
    AUTHENTICATION_POLICY, CardCertificate, SIGNING_POLICY, TEST_AUTHENTICATION_POLICY,
    TEST_SIGNING_POLICY, TrustAnchors, attribute_oid,
};
use rsa::pkcs1v15::{Signature, SigningKey};
use rsa::{PrivateKey, PublicKey};
use sha2::{Digest, Sha256};
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::certificate::TbsCertificate;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::certpolicy::{PolicyInformation, PolicyQualifierInfo};
use x509_cert::ext::pkix::crl::dp::DistributionPoint;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName, OtherName};
use x509_cert::ext::pkix::{
    AccessDescription, AuthorityInfoAccessSyntax, AuthorityKeyIdentifier, BasicConstraints,
    CertificatePolicies, CrlDistributionPoints, ExtendedKeyUsage, IssuerAltName, KeyUsage,
    KeyUsages, SubjectAltName, SubjectKeyIdentifier,
};
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};

use crate::error::SandboxError;
use crate::fixtures::{self, FixtureKey};
use crate::holder::Holder;

const COUNTRY: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.6");
const LOCALITY: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.7");
const ORGANIZATION: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.10");
const ORGANIZATIONAL_UNIT: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.11");
const COMMON_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
const CLIENT_AUTH: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.2");
const OCSP: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1");
const CPS_QUALIFIER: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.2.1");

/// Organisation in the sandbox roots' names (the real roots say `JPKI`).
pub const SANDBOX_ORGANIZATION: &str = "JPKI-SANDBOX";
/// Second OU of both roots, as in the real ones.
pub const JLIS_UNIT: &str = "Japan Agency for Local Authority Information Systems";
/// Base of the sandbox CRL distribution points.
pub const CRL_BASE: &str = "http://crl.jpki-sandbox.invalid/";
/// The sandbox OCSP responder named in AIA.
pub const OCSP_URL: &str = "http://ocsp.jpki-sandbox.invalid/";
/// CPS pointer in the policy qualifiers.
pub const CPS_URL: &str = "http://www.jpki-sandbox.invalid/cps.html";
/// Issuer alternative name organisation, as real JPKI certificates carry it.
pub const ISSUER_ALT_ORGANIZATION: &str = "公的個人認証サービス";
/// Window code that ends every signing certificate's common name.
pub const WINDOW_CODE: &str = "JPKISBX";

/// The two certificate hierarchies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hierarchy {
    /// User authentication (利用者証明用).
    Authentication,
    /// Digital signature (署名用).
    Signing,
}

impl Hierarchy {
    /// First OU of the root's name.
    pub const fn unit(self) -> &'static str {
        match self {
            Self::Authentication => "JPKI for user authentication",
            Self::Signing => "JPKI for digital signature",
        }
    }

    fn root_key(self) -> FixtureKey {
        match self {
            Self::Authentication => FixtureKey::AuthRoot,
            Self::Signing => FixtureKey::SigningRoot,
        }
    }

    fn crl_folder(self) -> &'static str {
        match self {
            Self::Authentication => "auth",
            Self::Signing => "sign",
        }
    }
}

fn issuance<E: Display>(e: E) -> SandboxError {
    SandboxError::Issuance(e.to_string())
}

/// How a name attribute's value is encoded.
#[derive(Clone, Copy)]
enum Text {
    Printable,
    Utf8,
}

/// Builds a distinguished name with one attribute per RDN, in the order given.
/// Real JPKI names use PrintableString for ASCII text; the issuer alternative
/// name's organisation is Japanese and therefore UTF8String.
fn name(attributes: &[(ObjectIdentifier, Text, &str)]) -> Result<Name, SandboxError> {
    let mut rdns = RdnSequence::default();
    for (oid, text, value) in attributes {
        let tag = match text {
            Text::Printable => Tag::PrintableString,
            Text::Utf8 => Tag::Utf8String,
        };
        let atv = AttributeTypeAndValue {
            oid: *oid,
            value: Any::new(tag, value.as_bytes()).map_err(issuance)?,
        };
        rdns.push(RelativeDistinguishedName::try_from(vec![atv]).map_err(issuance)?);
    }
    // `Name` has no public constructor from an RDN sequence (outside the
    // crate's hazmat feature); its DER is the sequence's DER.
    Name::from_der(&rdns.to_der().map_err(issuance)?).map_err(issuance)
}

/// The subject (= issuer) of a sandbox root.
pub fn root_name(hierarchy: Hierarchy) -> Result<Name, SandboxError> {
    name(&[
        (COUNTRY, Text::Printable, "JP"),
        (ORGANIZATION, Text::Printable, SANDBOX_ORGANIZATION),
        (ORGANIZATIONAL_UNIT, Text::Printable, hierarchy.unit()),
        (ORGANIZATIONAL_UNIT, Text::Printable, JLIS_UNIT),
    ])
}

fn extension<T: Encode + const_oid::AssociatedOid>(
    value: &T,
    critical: bool,
) -> Result<Extension, SandboxError> {
    Ok(Extension {
        extn_id: T::OID,
        critical,
        extn_value: OctetString::new(value.to_der().map_err(issuance)?).map_err(issuance)?,
    })
}

/// Key identifier: the leftmost 160 bits of SHA-256 of the subjectPublicKey
/// (RFC 7093 §2 method 1), so no SHA-1 is needed.
fn key_identifier(spki: &SubjectPublicKeyInfoOwned) -> Vec<u8> {
    Sha256::digest(spki.subject_public_key.raw_bytes())[..20].to_vec()
}

fn spki_of(key: &PublicKey) -> Result<SubjectPublicKeyInfoOwned, SandboxError> {
    SubjectPublicKeyInfoOwned::from_key(key).map_err(issuance)
}

/// A random-looking but reproducible serial: the same card configuration
/// always yields the same certificates, which keeps test transcripts stable.
fn serial(
    label: &str,
    spki: &SubjectPublicKeyInfoOwned,
    issued_on: NaiveDate,
) -> Result<SerialNumber, SandboxError> {
    let mut hash = Sha256::new();
    hash.update(label.as_bytes());
    hash.update(issued_on.to_string().as_bytes());
    hash.update(spki.subject_public_key.raw_bytes());
    let digest = hash.finalize();
    // Six bytes, positive, with a non-zero top byte so the length is fixed.
    let mut bytes = [0u8; 6];
    bytes.copy_from_slice(&digest[..6]);
    bytes[0] = (bytes[0] & 0x7F) | 0x10;
    SerialNumber::new(&bytes).map_err(issuance)
}

/// The instant `date` `time` in Japan (UTC+9).
fn jst(date: NaiveDate, time: NaiveTime) -> Result<Time, SandboxError> {
    let secs = date.and_time(time).and_utc().timestamp() - 9 * 3600;
    let secs = u64::try_from(secs)
        .map_err(|_| SandboxError::Issuance(format!("{date} is before 1970")))?;
    // The builder turns this into UTCTime for years up to 2049 (RFC 5280 §4.1.2.5).
    Ok(Time::GeneralTime(
        GeneralizedTime::from_unix_duration(Duration::from_secs(secs)).map_err(issuance)?,
    ))
}

fn start_of_day(date: NaiveDate) -> Result<Time, SandboxError> {
    jst(date, NaiveTime::MIN)
}

fn end_of_day(date: NaiveDate) -> Result<Time, SandboxError> {
    jst(
        date,
        NaiveTime::from_hms_opt(23, 59, 59).unwrap_or(NaiveTime::MIN),
    )
}

/// A builder profile that adds exactly the extensions given, in order, so
/// the certificate layout is ours rather than a web-PKI profile's.
struct JpkiProfile {
    subject: Name,
    issuer: Name,
    extensions: Vec<Extension>,
}

impl BuilderProfile for JpkiProfile {
    fn get_issuer(&self, _subject: &Name) -> Name {
        self.issuer.clone()
    }

    fn get_subject(&self) -> Name {
        self.subject.clone()
    }

    fn build_extensions(
        &self,
        _spk: spki::SubjectPublicKeyInfoRef<'_>,
        _issuer_spk: spki::SubjectPublicKeyInfoRef<'_>,
        _tbs: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        Ok(self.extensions.clone())
    }
}

fn sign_certificate(
    profile: JpkiProfile,
    serial: SerialNumber,
    validity: Validity,
    spki: SubjectPublicKeyInfoOwned,
    issuer_key: &PrivateKey,
) -> Result<CardCertificate, SandboxError> {
    let builder = CertificateBuilder::new(profile, serial, validity, spki).map_err(issuance)?;
    let signer = SigningKey::<Sha256>::new(issuer_key.clone());
    let cert = builder.build::<_, Signature>(&signer).map_err(issuance)?;
    CardCertificate::from_der(cert.to_der().map_err(issuance)?).map_err(issuance)
}

/// Builds a self-signed root like the 2023 generation (valid 2023-07-16 to
/// 2033-07-15, JST days). The generator runs this once; the card loads the
/// committed DER.
pub fn build_root(hierarchy: Hierarchy, key: &PrivateKey) -> Result<CardCertificate, SandboxError> {
    let subject = root_name(hierarchy)?;
    let spki = spki_of(key.as_public_key())?;
    let from = NaiveDate::from_ymd_opt(2023, 7, 16).ok_or_else(|| issuance("bad constant date"))?;
    let until =
        NaiveDate::from_ymd_opt(2033, 7, 15).ok_or_else(|| issuance("bad constant date"))?;
    let extensions = vec![
        extension(
            &BasicConstraints {
                ca: true,
                path_len_constraint: None,
            },
            true,
        )?,
        extension(&KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign), true)?,
        extension(
            &SubjectKeyIdentifier(OctetString::new(key_identifier(&spki)).map_err(issuance)?),
            false,
        )?,
    ];
    let profile = JpkiProfile {
        subject: subject.clone(),
        issuer: subject,
        extensions,
    };
    let serial = serial(hierarchy.unit(), &spki, from)?;
    sign_certificate(
        profile,
        serial,
        Validity::new(start_of_day(from)?, end_of_day(until)?),
        spki,
        key,
    )
}

fn uri(text: &str) -> Result<GeneralName, SandboxError> {
    Ok(GeneralName::UniformResourceIdentifier(
        Ia5String::new(text).map_err(issuance)?,
    ))
}

/// Lower-case, hyphenated path segment from romaji.
fn url_segment(romaji: &str) -> String {
    romaji
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

/// The sandbox CA: the two committed roots and their keys.
#[derive(Debug, Clone, Copy)]
pub struct SandboxCa {
    /// Issue with the J-LIS test-card policy OIDs instead of the production ones.
    test_card_policies: bool,
}

impl Default for SandboxCa {
    fn default() -> Self {
        Self::fixture()
    }
}

impl SandboxCa {
    /// The CA whose roots and keys are the committed fixtures.
    pub fn fixture() -> Self {
        Self {
            test_card_policies: false,
        }
    }

    /// The same CA, issuing leaves with the policy OIDs J-LIS test cards
    /// carry (`…8.5.1.0.30`, `…8.5.1.0.20`; card-protocol.md, 2026-11-30),
    /// as a test card's certificates look to a reader.
    pub fn issuing_test_card_policies(self) -> Self {
        Self {
            test_card_policies: true,
        }
    }

    /// The authentication root certificate.
    pub fn root(&self, hierarchy: Hierarchy) -> &'static CardCertificate {
        match hierarchy {
            Hierarchy::Authentication => fixtures::auth_root_certificate(),
            Hierarchy::Signing => fixtures::signing_root_certificate(),
        }
    }

    /// Both roots as configured anchors (what an app using the sandbox pins).
    pub fn trust_anchors(&self) -> TrustAnchors {
        TrustAnchors::none()
            .with_certificate(self.root(Hierarchy::Authentication).clone())
            .with_certificate(self.root(Hierarchy::Signing).clone())
    }

    /// Extensions both end-entity kinds share after their own ones:
    /// issuerAltName, CRL distribution point, OCSP, AKI, SKI.
    fn common_extensions(
        &self,
        hierarchy: Hierarchy,
        holder: &Holder,
        spki: &SubjectPublicKeyInfoOwned,
    ) -> Result<Vec<Extension>, SandboxError> {
        let issuer_alt = name(&[
            (COUNTRY, Text::Printable, "JP"),
            (ORGANIZATION, Text::Utf8, ISSUER_ALT_ORGANIZATION),
        ])?;
        // One CRL per municipality, as J-LIS does it.
        let crl = format!(
            "{CRL_BASE}{}/{}/{}.crl",
            hierarchy.crl_folder(),
            url_segment(&holder.prefecture_romaji),
            url_segment(&holder.city_romaji)
        );
        let dp = DistributionPoint {
            distribution_point: Some(DistributionPointName::FullName(vec![uri(&crl)?])),
            reasons: None,
            crl_issuer: None,
        };
        let root_spki = self
            .root(hierarchy)
            .x509()
            .tbs_certificate()
            .subject_public_key_info()
            .clone();
        let aki = AuthorityKeyIdentifier {
            key_identifier: Some(OctetString::new(key_identifier(&root_spki)).map_err(issuance)?),
            ..Default::default()
        };
        Ok(vec![
            extension(
                &IssuerAltName(vec![GeneralName::DirectoryName(issuer_alt)]),
                false,
            )?,
            extension(&CrlDistributionPoints(vec![dp]), false)?,
            extension(
                &AuthorityInfoAccessSyntax(vec![AccessDescription {
                    access_method: OCSP,
                    access_location: uri(OCSP_URL)?,
                }]),
                false,
            )?,
            extension(&aki, false)?,
            extension(
                &SubjectKeyIdentifier(OctetString::new(key_identifier(spki)).map_err(issuance)?),
                false,
            )?,
        ])
    }

    fn policy(&self, oid: ObjectIdentifier) -> Result<Extension, SandboxError> {
        let cps = Any::new(Tag::Ia5String, CPS_URL.as_bytes()).map_err(issuance)?;
        let info = PolicyInformation {
            policy_identifier: oid,
            policy_qualifiers: Some(vec![PolicyQualifierInfo {
                policy_qualifier_id: CPS_QUALIFIER,
                qualifier: Some(cps),
            }]),
        };
        // Real JPKI certificates mark their policy critical.
        extension(&CertificatePolicies(vec![info]), true)
    }

    fn validity(holder: &Holder, issued_on: NaiveDate) -> Result<Validity, SandboxError> {
        Ok(Validity::new(
            start_of_day(issued_on)?,
            end_of_day(holder.certificate_last_day(issued_on))?,
        ))
    }

    /// Issues the user-authentication certificate for `subject_key`:
    /// `C=JP, CN=<23-character opaque id>`, no personal data.
    pub fn issue_authentication(
        &self,
        holder: &Holder,
        issued_on: NaiveDate,
        subject_key: &PublicKey,
    ) -> Result<CardCertificate, SandboxError> {
        let spki = spki_of(subject_key)?;
        let subject = name(&[
            (COUNTRY, Text::Printable, "JP"),
            (COMMON_NAME, Text::Printable, &opaque_id(&spki, issued_on)),
        ])?;
        let extensions = vec![
            extension(&KeyUsage(KeyUsages::DigitalSignature.into()), true)?,
            extension(&ExtendedKeyUsage(vec![CLIENT_AUTH]), false)?,
            self.policy(if self.test_card_policies {
                TEST_AUTHENTICATION_POLICY
            } else {
                AUTHENTICATION_POLICY
            })?,
        ];
        self.issue(
            Hierarchy::Authentication,
            holder,
            issued_on,
            subject,
            extensions,
            spki,
        )
    }

    /// Issues the signing certificate for `subject_key`, carrying the
    /// holder's name, birth date, sex and address as SAN otherNames.
    pub fn issue_signing(
        &self,
        holder: &Holder,
        issued_on: NaiveDate,
        subject_key: &PublicKey,
    ) -> Result<CardCertificate, SandboxError> {
        let spki = spki_of(subject_key)?;
        let common_name = format!(
            "{}0001{WINDOW_CODE}",
            issued_on
                .and_hms_opt(10, 0, 0)
                .map(|t| t.format("%Y%m%d%H%M%S").to_string())
                .unwrap_or_default()
        );
        let subject = name(&[
            (COUNTRY, Text::Printable, "JP"),
            (LOCALITY, Text::Printable, &holder.prefecture_romaji),
            (LOCALITY, Text::Printable, &holder.city_romaji),
            (COMMON_NAME, Text::Printable, &common_name),
        ])?;
        let flags = |text: &str| "0".repeat(text.chars().count());
        let attributes = [
            (attribute_oid::NAME, holder.name.clone()),
            (
                attribute_oid::BIRTH_DATE,
                holder.certificate_birth_date_code(),
            ),
            (attribute_oid::SEX, holder.certificate_sex_code().to_owned()),
            (attribute_oid::ADDRESS, holder.address.clone()),
            (attribute_oid::NAME_SUBSTITUTE, flags(&holder.name)),
            (attribute_oid::ADDRESS_SUBSTITUTE, flags(&holder.address)),
        ];
        let san = attributes
            .iter()
            .map(|(oid, text)| {
                Ok(GeneralName::OtherName(OtherName {
                    type_id: *oid,
                    value: Any::new(Tag::Utf8String, text.as_bytes()).map_err(issuance)?,
                }))
            })
            .collect::<Result<Vec<_>, SandboxError>>()?;
        let extensions = vec![
            extension(
                &KeyUsage(KeyUsages::DigitalSignature | KeyUsages::NonRepudiation),
                true,
            )?,
            extension(&SubjectAltName(san), false)?,
            self.policy(if self.test_card_policies {
                TEST_SIGNING_POLICY
            } else {
                SIGNING_POLICY
            })?,
        ];
        self.issue(
            Hierarchy::Signing,
            holder,
            issued_on,
            subject,
            extensions,
            spki,
        )
    }

    /// Signs a leaf of `hierarchy` with its root: the extensions every JPKI
    /// leaf carries are added here, then the validity the holder's birthday sets.
    fn issue(
        &self,
        hierarchy: Hierarchy,
        holder: &Holder,
        issued_on: NaiveDate,
        subject: Name,
        mut extensions: Vec<Extension>,
        spki: SubjectPublicKeyInfoOwned,
    ) -> Result<CardCertificate, SandboxError> {
        extensions.extend(self.common_extensions(hierarchy, holder, &spki)?);
        let issuer = self
            .root(hierarchy)
            .x509()
            .tbs_certificate()
            .subject()
            .clone();
        let label = match hierarchy {
            Hierarchy::Authentication => "auth",
            Hierarchy::Signing => "sign",
        };
        let serial = serial(label, &spki, issued_on)?;
        sign_certificate(
            JpkiProfile {
                subject,
                issuer,
                extensions,
            },
            serial,
            Self::validity(holder, issued_on)?,
            spki,
            hierarchy.root_key().private_key(),
        )
    }
}

/// A 23-character id shaped like real authentication subjects
/// (`997794E9AGCIEG13221003A`): 8 hex digits, 6 letters, 8 digits, 1 letter.
/// Derived from the key and issue date, so it carries no personal data.
fn opaque_id(spki: &SubjectPublicKeyInfoOwned, issued_on: NaiveDate) -> String {
    let mut hash = Sha256::new();
    hash.update(b"opaque-id");
    hash.update(issued_on.to_string().as_bytes());
    hash.update(spki.subject_public_key.raw_bytes());
    let h = hash.finalize();
    let mut id = String::with_capacity(23);
    for b in &h[..4] {
        id.push_str(&format!("{b:02X}"));
    }
    id.extend(h[4..10].iter().map(|b| char::from(b'A' + b % 26)));
    id.extend(h[10..18].iter().map(|b| char::from(b'0' + b % 10)));
    id.push('A');
    id
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use rsa::traits::PublicKeyParts;

    use super::*;

    fn sample_date() -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 4, 1).unwrap()
    }

    #[test]
    fn committed_roots_are_self_signed_ca_certificates_with_the_fixture_keys() {
        let ca = SandboxCa::fixture();
        for h in [Hierarchy::Authentication, Hierarchy::Signing] {
            let root = ca.root(h);
            assert!(root.is_ca());
            assert_eq!(root.subject(), root.issuer());
            assert_eq!(
                root.subject(),
                format!("OU={JLIS_UNIT},OU={},O=JPKI-SANDBOX,C=JP", h.unit())
            );
            root.is_signed_by(root).unwrap();
            assert_eq!(
                root.public_key().unwrap().n_bytes(),
                h.root_key().private_key().n_bytes()
            );
            assert_eq!(
                root.not_before(),
                Utc.with_ymd_and_hms(2023, 7, 15, 15, 0, 0).unwrap()
            );
            assert_eq!(
                root.not_after(),
                Utc.with_ymd_and_hms(2033, 7, 15, 14, 59, 59).unwrap()
            );
        }
    }

    /// Issue 7, item 8: a J-LIS test card's certificates carry the test
    /// hierarchy's policies; their role is read from them (and from key
    /// usage, EKU and issuer) instead of being refused before the anchors.
    #[test]
    fn test_card_policies_give_the_role_and_the_test_hierarchy() {
        use mynakit_core::{CertificateRole, ChainError, Hierarchy as PolicyHierarchy};
        let ca = SandboxCa::fixture().issuing_test_card_policies();
        let holder = Holder::sample();
        let auth = ca
            .issue_authentication(
                &holder,
                sample_date(),
                FixtureKey::CardAuth.private_key().as_public_key(),
            )
            .unwrap();
        let signing = ca
            .issue_signing(
                &holder,
                sample_date(),
                FixtureKey::CardSigning.private_key().as_public_key(),
            )
            .unwrap();
        assert_eq!(
            auth.policies(),
            vec![TEST_AUTHENTICATION_POLICY.to_string()]
        );
        let anchors = ca.trust_anchors();
        let trusted = anchors
            .verify(&auth, CertificateRole::Authentication, &[])
            .unwrap();
        assert_eq!(trusted.hierarchy, PolicyHierarchy::Test);
        let trusted = anchors
            .verify(&signing, CertificateRole::Signing, &[])
            .unwrap();
        assert_eq!(trusted.role, CertificateRole::Signing);
        assert_eq!(
            anchors.verify(&signing, CertificateRole::Authentication, &[]),
            Err(ChainError::WrongRole {
                expected: CertificateRole::Authentication,
                found: CertificateRole::Signing
            })
        );
    }

    #[test]
    fn authentication_certificate_has_no_personal_data_and_verifies() {
        let ca = SandboxCa::fixture();
        let holder = Holder::sample();
        let cert = ca
            .issue_authentication(
                &holder,
                sample_date(),
                FixtureKey::CardAuth.private_key().as_public_key(),
            )
            .unwrap();
        let subject = cert.subject();
        let cn = subject
            .strip_prefix("CN=")
            .and_then(|s| s.strip_suffix(",C=JP"))
            .unwrap();
        assert_eq!(cn.len(), 23, "{subject}");
        assert!(!subject.contains("花子"));
        assert_eq!(cert.personal_attributes().unwrap(), None);
        assert_eq!(cert.policies(), vec![AUTHENTICATION_POLICY.to_string()]);
        assert!(!cert.is_ca());
        assert!(cert.serial_hex().len() >= 8);
        let anchor = ca
            .trust_anchors()
            .verify(&cert, mynakit_core::CertificateRole::Authentication, &[])
            .unwrap();
        assert!(anchor.subject.contains("JPKI for user authentication"));
        // From 2025-04-01 00:00 JST to the fifth birthday after issue, 2029-06-15 23:59:59 JST.
        assert_eq!(
            cert.not_before(),
            Utc.with_ymd_and_hms(2025, 3, 31, 15, 0, 0).unwrap()
        );
        assert_eq!(
            cert.not_after(),
            Utc.with_ymd_and_hms(2029, 6, 15, 14, 59, 59).unwrap()
        );
        // The same inputs give the same certificate.
        let again = ca
            .issue_authentication(
                &holder,
                sample_date(),
                FixtureKey::CardAuth.private_key().as_public_key(),
            )
            .unwrap();
        assert_eq!(again.der(), cert.der());
    }

    #[test]
    fn signing_certificate_carries_the_attributes() {
        let ca = SandboxCa::fixture();
        let holder = Holder::sample();
        let cert = ca
            .issue_signing(
                &holder,
                sample_date(),
                FixtureKey::CardSigning.private_key().as_public_key(),
            )
            .unwrap();
        let attrs = cert.personal_attributes().unwrap().unwrap();
        assert_eq!(attrs.name, "番号\u{3000}花子");
        assert_eq!(attrs.name_substitute_flags, "00000");
        assert_eq!(attrs.birth_date_code, "319850615");
        assert_eq!(attrs.birth_date(), NaiveDate::from_ymd_opt(1985, 6, 15));
        assert_eq!(attrs.sex_code, "2");
        assert_eq!(attrs.address, holder.address);
        assert_eq!(
            attrs.address_substitute_flags.len(),
            holder.address.chars().count()
        );
        assert_eq!(cert.policies(), vec![SIGNING_POLICY.to_string()]);
        assert_eq!(
            cert.subject(),
            "CN=202504011000000001JPKISBX,L=Chiyoda-ku,L=Tokyo-to,C=JP"
        );
        // The signing root verifies it; the authentication root does not.
        let anchor = ca
            .trust_anchors()
            .verify(&cert, mynakit_core::CertificateRole::Signing, &[])
            .unwrap();
        assert!(anchor.subject.contains("JPKI for digital signature"));
        let wrong =
            TrustAnchors::none().with_certificate(ca.root(Hierarchy::Authentication).clone());
        assert!(
            wrong
                .verify(&cert, mynakit_core::CertificateRole::Signing, &[])
                .is_err()
        );
    }

    #[test]
    fn san_othernames_are_in_card_order_with_explicit_utf8_values() {
        let ca = SandboxCa::fixture();
        let cert = ca
            .issue_signing(
                &Holder::sample(),
                sample_date(),
                FixtureKey::CardSigning.private_key().as_public_key(),
            )
            .unwrap();
        let (_, san) = cert
            .x509()
            .tbs_certificate()
            .get_extension::<SubjectAltName>()
            .unwrap()
            .unwrap();
        let arcs: Vec<String> = san
            .0
            .iter()
            .map(|n| match n {
                GeneralName::OtherName(o) => {
                    assert_eq!(der::Tagged::tag(&o.value), Tag::Utf8String);
                    o.type_id.to_string()
                }
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        let expected: Vec<String> = [1, 4, 3, 5, 2, 6]
            .iter()
            .map(|n| format!("1.2.392.200149.8.5.5.{n}"))
            .collect();
        assert_eq!(arcs, expected);
    }
}
