//! The sandbox J-LIS issuer's mdoc certificates (ISO/IEC 18013-5 Annex B,
//! issue 9): an IACA root (self-signed, P-256, basicConstraints CA,
//! keyCertSign + cRLSign) and a document signer certificate signed by it
//! (digitalSignature, extendedKeyUsage 1.0.18013.5.1.2 "mdoc DS"), whose key
//! signs the records' MSOs and the status lists. **A stand-in**: both keys
//! live in the sandbox issuer's own store, in clear.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use const_oid::ObjectIdentifier;
use der::asn1::{GeneralizedTime, OctetString};
use der::{Decode, Encode};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{DerSignature, Signature, SigningKey};
use sha2::{Digest, Sha256};
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::certificate::TbsCertificate;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages, SubjectKeyIdentifier,
};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};

/// The mdoc document signer EKU (ISO/IEC 18013-5 Annex B.1.4).
pub const MDOC_DS_EKU: &str = "1.0.18013.5.1.2";

/// How long the IACA root is valid: **policy value** (sandbox), 10 years.
const IACA_YEARS: u64 = 10;
/// How long a document signer certificate is valid: **policy value**
/// (sandbox), 3 years (18013-5 caps it at 1187 days).
const DS_DAYS: u64 = 1187;

/// The issuer's IACA root and document signer, with their keys.
pub struct IssuerKeys {
    iaca_key: SigningKey,
    ds_key: SigningKey,
    iaca: Vec<u8>,
    ds: Vec<u8>,
}

impl std::fmt::Debug for IssuerKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuerKeys").finish_non_exhaustive()
    }
}

struct Profile {
    subject: Name,
    issuer: Name,
    extensions: Vec<Extension>,
}

impl BuilderProfile for Profile {
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

fn text<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

fn extension<T: Encode + const_oid::AssociatedOid>(
    value: &T,
    critical: bool,
) -> Result<Extension, String> {
    Ok(Extension {
        extn_id: T::OID,
        critical,
        extn_value: OctetString::new(value.to_der().map_err(text)?).map_err(text)?,
    })
}

fn time(at: DateTime<Utc>) -> Result<Time, String> {
    let secs = u64::try_from(at.timestamp()).map_err(|_| "before 1970".to_owned())?;
    Ok(Time::GeneralTime(
        GeneralizedTime::from_unix_duration(Duration::from_secs(secs)).map_err(text)?,
    ))
}

fn spki_of(key: &SigningKey) -> Result<SubjectPublicKeyInfoOwned, String> {
    SubjectPublicKeyInfoOwned::from_key(key.verifying_key()).map_err(text)
}

fn key_identifier(spki: &SubjectPublicKeyInfoOwned) -> Result<OctetString, String> {
    let digest = Sha256::digest(spki.subject_public_key.raw_bytes());
    OctetString::new(digest.get(..20).unwrap_or_default()).map_err(text)
}

fn serial(spki: &SubjectPublicKeyInfoOwned) -> Result<SerialNumber, String> {
    let digest = Sha256::digest(spki.subject_public_key.raw_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(digest.get(..8).unwrap_or(&[0; 8]));
    bytes[0] = (bytes[0] & 0x7f) | 0x10;
    SerialNumber::new(&bytes).map_err(text)
}

fn random_key() -> Result<SigningKey, String> {
    for _ in 0..16 {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(text)?;
        if let Ok(key) = SigningKey::from_slice(&bytes) {
            return Ok(key);
        }
    }
    Err("no usable random scalar".to_owned())
}

fn build(
    profile: Profile,
    validity: Validity,
    subject_key: &SigningKey,
    issuer_key: &SigningKey,
) -> Result<Vec<u8>, String> {
    let spki = spki_of(subject_key)?;
    let builder = CertificateBuilder::new(profile, serial(&spki)?, validity, spki).map_err(text)?;
    let certificate = builder.build::<_, DerSignature>(issuer_key).map_err(text)?;
    certificate.to_der().map_err(text)
}

impl IssuerKeys {
    /// New keys and certificates valid from `now`.
    pub fn generate(now: DateTime<Utc>) -> Result<Self, String> {
        Self::from_keys(random_key()?, random_key()?, now)
    }

    fn from_keys(
        iaca_key: SigningKey,
        ds_key: SigningKey,
        now: DateTime<Utc>,
    ) -> Result<Self, String> {
        let iaca_name =
            Name::from_str("CN=MynaKit sandbox IACA (not J-LIS),O=MynaKit sandbox,C=JP")
                .map_err(text)?;
        let ds_name =
            Name::from_str("CN=MynaKit sandbox document signer (not J-LIS),O=MynaKit sandbox,C=JP")
                .map_err(text)?;
        let day = chrono::Duration::days(1);
        let start = now - day;
        let iaca_spki = spki_of(&iaca_key)?;
        let iaca = build(
            Profile {
                subject: iaca_name.clone(),
                issuer: iaca_name.clone(),
                extensions: vec![
                    extension(
                        &BasicConstraints {
                            ca: true,
                            path_len_constraint: Some(0),
                        },
                        true,
                    )?,
                    extension(&KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign), true)?,
                    extension(&SubjectKeyIdentifier(key_identifier(&iaca_spki)?), false)?,
                ],
            },
            Validity::new(
                time(start)?,
                time(
                    start + chrono::Duration::days(365 * i64::try_from(IACA_YEARS).unwrap_or(10)),
                )?,
            ),
            &iaca_key,
            &iaca_key,
        )?;
        let ds_spki = spki_of(&ds_key)?;
        let ds = build(
            Profile {
                subject: ds_name,
                issuer: iaca_name,
                extensions: vec![
                    extension(&KeyUsage(KeyUsages::DigitalSignature.into()), true)?,
                    extension(
                        &ExtendedKeyUsage(vec![ObjectIdentifier::new(MDOC_DS_EKU).map_err(text)?]),
                        true,
                    )?,
                    extension(&SubjectKeyIdentifier(key_identifier(&ds_spki)?), false)?,
                ],
            },
            Validity::new(
                time(start)?,
                time(start + chrono::Duration::days(i64::try_from(DS_DAYS).unwrap_or(1187)))?,
            ),
            &ds_key,
            &iaca_key,
        )?;
        Ok(Self {
            iaca_key,
            ds_key,
            iaca,
            ds,
        })
    }

    /// The IACA root certificate (DER): what verifiers configure as their
    /// anchor.
    pub fn iaca_der(&self) -> &[u8] {
        &self.iaca
    }

    /// The `x5chain` of the issuer's signatures: the document signer.
    pub fn x5chain(&self) -> Vec<Vec<u8>> {
        vec![self.ds.clone()]
    }

    /// ES256 by the document signer over `to_be_signed`: raw `r‖s`.
    pub fn sign(&self, to_be_signed: &[u8]) -> Vec<u8> {
        let signature: Signature = self.ds_key.sign(to_be_signed);
        signature.to_bytes().to_vec()
    }

    /// The keys and certificates, for the issuer's store: four
    /// length-prefixed fields (IACA key, DS key, IACA DER, DS DER).
    pub fn to_persisted(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for field in [
            self.iaca_key.to_bytes().to_vec(),
            self.ds_key.to_bytes().to_vec(),
            self.iaca.clone(),
            self.ds.clone(),
        ] {
            out.extend_from_slice(&u32::try_from(field.len()).unwrap_or(0).to_be_bytes());
            out.extend_from_slice(&field);
        }
        out
    }

    /// The inverse of [`IssuerKeys::to_persisted`].
    pub fn from_persisted(bytes: &[u8]) -> Result<Self, String> {
        let mut rest = bytes;
        let mut fields = Vec::new();
        for _ in 0..4 {
            let (len, tail) = rest.split_at_checked(4).ok_or("truncated keys")?;
            let len = u32::from_be_bytes(len.try_into().map_err(|_| "truncated keys")?);
            let (field, tail) = tail
                .split_at_checked(usize::try_from(len).map_err(text)?)
                .ok_or("truncated keys")?;
            fields.push(field.to_vec());
            rest = tail;
        }
        let [iaca_key, ds_key, iaca, ds] = <[Vec<u8>; 4]>::try_from(fields).map_err(|_| "keys")?;
        let iaca_key = SigningKey::from_slice(&iaca_key).map_err(text)?;
        let ds_key = SigningKey::from_slice(&ds_key).map_err(text)?;
        x509_cert::Certificate::from_der(&iaca).map_err(text)?;
        x509_cert::Certificate::from_der(&ds).map_err(text)?;
        Ok(Self {
            iaca_key,
            ds_key,
            iaca,
            ds,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mynakit_core::wallet::trust::{ChainFailure, verify_chain};

    #[test]
    fn the_document_signer_chains_to_the_iaca_and_nothing_else() {
        let now = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
        let keys = IssuerKeys::generate(now).unwrap();
        let anchors = vec![keys.iaca_der().to_vec()];
        let key = verify_chain(&keys.x5chain(), &anchors, now).unwrap();
        let signature = keys.sign(b"mso");
        assert!(mynakit_core::wallet::trust::verifies_es256(
            &key, b"mso", &signature
        ));
        let other = IssuerKeys::generate(now).unwrap();
        assert_eq!(
            verify_chain(&keys.x5chain(), &[other.iaca_der().to_vec()], now),
            Err(ChainFailure::Untrusted)
        );
        assert_eq!(
            verify_chain(
                &keys.x5chain(),
                &anchors,
                now + chrono::Duration::days(2000)
            ),
            Err(ChainFailure::OutOfValidity)
        );
        let again = IssuerKeys::from_persisted(&keys.to_persisted()).unwrap();
        assert_eq!(again.iaca_der(), keys.iaca_der());
        assert_eq!(again.x5chain(), keys.x5chain());
        assert!(IssuerKeys::from_persisted(&[0, 0, 0, 9]).is_err());
    }

    #[test]
    fn a_certificate_under_the_document_signer_is_refused_though_it_claims_the_eku() {
        let now = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
        let keys = IssuerKeys::generate(now).unwrap();
        let sub_key = random_key().unwrap();
        let ds = x509_cert::Certificate::from_der(&keys.ds).unwrap();
        let sub = build(
            Profile {
                subject: Name::from_str("CN=not a signer").unwrap(),
                issuer: ds.tbs_certificate().subject().clone(),
                extensions: vec![
                    extension(
                        &ExtendedKeyUsage(vec![ObjectIdentifier::new(MDOC_DS_EKU).unwrap()]),
                        true,
                    )
                    .unwrap(),
                ],
            },
            Validity::new(
                time(now - chrono::Duration::days(1)).unwrap(),
                time(now + chrono::Duration::days(30)).unwrap(),
            ),
            &sub_key,
            &keys.ds_key,
        )
        .unwrap();
        let chain = vec![sub, keys.ds.clone()];
        assert!(matches!(
            verify_chain(&chain, &[keys.iaca_der().to_vec()], now),
            Err(ChainFailure::Constraint { .. })
        ));
    }
}
