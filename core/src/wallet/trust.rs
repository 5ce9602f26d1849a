//! The issuer's certificates as a verifier sees them: a document signer
//! (or status list signer) chain, ECDSA P-256 with SHA-256, ending at a
//! configured IACA root (ISO 18013-5 Annex B). Checks each signature, the
//! validity of each certificate at the time asked, and that the root is
//! one of the configured anchors (byte for byte).

use chrono::{DateTime, Utc};
use der::{Decode, Encode};
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{DerSignature, Signature, VerifyingKey};
use x509_cert::Certificate;

/// Why a chain is not trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainFailure {
    /// A certificate does not parse, or has no P-256 key.
    #[error("a certificate in the chain is malformed: {what}")]
    Malformed {
        /// What was wrong.
        what: String,
    },
    /// The chain does not end at a configured anchor.
    #[error("the chain does not end at a configured anchor")]
    Untrusted,
    /// A certificate's signature does not verify under its issuer's key.
    #[error("a certificate's signature does not verify")]
    BadSignature,
    /// A certificate is not valid at the time asked.
    #[error("a certificate is not valid at that time")]
    OutOfValidity,
    /// A certificate that signs another is not a CA allowed to sign
    /// certificates (basicConstraints cA, keyUsage keyCertSign), or a
    /// path-length limit is exceeded, or a certificate carries a critical
    /// extension this verifier does not know (RFC 5280 §4.2).
    #[error("the chain breaks a CA constraint: {what}")]
    Constraint {
        /// Which.
        what: String,
    },
    /// The signer's certificate is not an mdoc document signer (no
    /// extended key usage 1.0.18013.5.1.2, ISO/IEC 18013-5 Annex B.1.4).
    #[error("the signer's certificate is not an mdoc document signer")]
    NotADocumentSigner,
}

/// The mdoc document signer extended key usage (ISO/IEC 18013-5 Annex
/// B.1.4).
pub const MDOC_DS_EKU: const_oid::ObjectIdentifier =
    const_oid::ObjectIdentifier::new_unwrap("1.0.18013.5.1.2");

/// Whether the DER certificate names the mdoc document signer EKU: an
/// IACA-issued certificate for another purpose (or the IACA itself) must
/// not sign MSOs.
pub fn is_mdoc_document_signer(der: &[u8]) -> bool {
    use x509_cert::ext::pkix::ExtendedKeyUsage;
    let Ok(certificate) = Certificate::from_der(der) else {
        return false;
    };
    matches!(
        certificate.tbs_certificate().get_extension::<ExtendedKeyUsage>(),
        Ok(Some((_, eku))) if eku.0.contains(&MDOC_DS_EKU)
    )
}

fn malformed(what: &str) -> ChainFailure {
    ChainFailure::Malformed {
        what: what.to_owned(),
    }
}

/// The P-256 key of a certificate.
pub fn p256_key(certificate: &Certificate) -> Result<VerifyingKey, ChainFailure> {
    let bits = certificate
        .tbs_certificate()
        .subject_public_key_info()
        .subject_public_key
        .as_bytes()
        .ok_or_else(|| malformed("public key bits"))?;
    VerifyingKey::from_sec1_bytes(bits).map_err(|_| malformed("not a P-256 key"))
}

fn validity(certificate: &Certificate) -> (DateTime<Utc>, DateTime<Utc>) {
    let validity = certificate.tbs_certificate().validity();
    let at = |t: x509_cert::time::Time| DateTime::<Utc>::from(t.to_system_time());
    (at(validity.not_before), at(validity.not_after))
}

/// Whether `subject` is signed by `issuer` (ecdsa-with-SHA256).
fn signed_by(subject: &Certificate, issuer: &VerifyingKey) -> Result<(), ChainFailure> {
    let tbs = subject
        .tbs_certificate()
        .to_der()
        .map_err(|_| malformed("tbsCertificate"))?;
    let signature = subject
        .signature()
        .as_bytes()
        .ok_or_else(|| malformed("signature bits"))?;
    let signature = DerSignature::from_bytes(signature)
        .ok()
        .and_then(|s| Signature::try_from(s).ok())
        .ok_or(ChainFailure::BadSignature)?;
    issuer
        .verify(&tbs, &signature)
        .map_err(|_| ChainFailure::BadSignature)
}

/// Checks `chain` (DER, signer first) at `at` against `anchors` (IACA
/// certificates, DER): the chain's last certificate is an anchor or is
/// signed by one. Returns the signer's key.
pub fn verify_chain(
    chain: &[Vec<u8>],
    anchors: &[Vec<u8>],
    at: DateTime<Utc>,
) -> Result<VerifyingKey, ChainFailure> {
    let certificates = chain
        .iter()
        .map(|der| Certificate::from_der(der).map_err(|_| malformed("certificate DER")))
        .collect::<Result<Vec<_>, _>>()?;
    let signer = certificates
        .first()
        .ok_or_else(|| malformed("empty chain"))?;
    for certificate in &certificates {
        refuse_unknown_critical(certificate)?;
    }
    for (below, pair) in certificates.windows(2).enumerate() {
        if let [subject, issuer] = pair {
            may_sign_certificates(issuer, below)?;
            signed_by(subject, &p256_key(issuer)?)?;
        }
    }
    let last = certificates
        .last()
        .ok_or_else(|| malformed("empty chain"))?;
    let last_der = chain.last().ok_or_else(|| malformed("empty chain"))?;
    let mut anchored = false;
    for anchor in anchors {
        if anchor == last_der {
            anchored = true;
            break;
        }
        let Ok(anchor) = Certificate::from_der(anchor) else {
            continue;
        };
        if anchor.tbs_certificate().subject() != last.tbs_certificate().issuer() {
            continue;
        }
        // Another issuer may use the same name: only a verifying
        // signature anchors the chain.
        let Ok(anchor_key) = p256_key(&anchor) else {
            continue;
        };
        if signed_by(last, &anchor_key).is_err() {
            continue;
        }
        may_sign_certificates(&anchor, certificates.len().saturating_sub(1))?;
        let (from, until) = validity(&anchor);
        if at < from || at > until {
            return Err(ChainFailure::OutOfValidity);
        }
        anchored = true;
        break;
    }
    if !anchored {
        return Err(ChainFailure::Untrusted);
    }
    for certificate in &certificates {
        let (from, until) = validity(certificate);
        if at < from || at > until {
            return Err(ChainFailure::OutOfValidity);
        }
    }
    p256_key(signer)
}

/// Whether `issuer` may sign certificates with `below` CA certificates
/// under it in the path (RFC 5280 §4.2.1.9, §4.2.1.3).
fn may_sign_certificates(issuer: &Certificate, below: usize) -> Result<(), ChainFailure> {
    use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, KeyUsages};
    let constraint = |what: &str| ChainFailure::Constraint {
        what: what.to_owned(),
    };
    let tbs = issuer.tbs_certificate();
    let basic = tbs
        .get_extension::<BasicConstraints>()
        .map_err(|_| malformed("basicConstraints"))?
        .map(|(_, b)| b);
    let Some(basic) = basic.filter(|b| b.ca) else {
        return Err(constraint("an issuer that is not a CA"));
    };
    if let Some(limit) = basic.path_len_constraint
        && below > usize::from(limit)
    {
        return Err(constraint("the path is longer than its CA allows"));
    }
    let usage = tbs
        .get_extension::<KeyUsage>()
        .map_err(|_| malformed("keyUsage"))?
        .map(|(_, u)| u);
    if usage.is_some_and(|u| !u.0.contains(KeyUsages::KeyCertSign)) {
        return Err(constraint("an issuer without keyCertSign"));
    }
    Ok(())
}

/// Refuses a critical extension this verifier does not process.
fn refuse_unknown_critical(certificate: &Certificate) -> Result<(), ChainFailure> {
    const KNOWN: [&str; 8] = [
        "2.5.29.14", // subjectKeyIdentifier
        "2.5.29.15", // keyUsage
        "2.5.29.17", // subjectAltName
        "2.5.29.18", // issuerAltName
        "2.5.29.19", // basicConstraints
        "2.5.29.31", // cRLDistributionPoints
        "2.5.29.35", // authorityKeyIdentifier
        "2.5.29.37", // extKeyUsage
    ];
    let extensions = certificate.tbs_certificate().extensions();
    for extension in extensions.into_iter().flatten() {
        if extension.critical && !KNOWN.contains(&extension.extn_id.to_string().as_str()) {
            return Err(ChainFailure::Constraint {
                what: format!("an unknown critical extension {}", extension.extn_id),
            });
        }
    }
    Ok(())
}

/// Verifies a raw `r‖s` ES256 signature over `message`.
pub fn verifies_es256(key: &VerifyingKey, message: &[u8], signature: &[u8]) -> bool {
    Signature::from_slice(signature).is_ok_and(|s| key.verify(message, &s).is_ok())
}
