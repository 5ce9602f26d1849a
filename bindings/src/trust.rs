//! Certificate checks that need no card: chain to trusted anchors, expiry
//! state, signature verification.

use std::sync::Arc;

use chrono::DateTime;
use mynakit_core::CardCertificate;

use crate::error::MynaKitError;
use crate::records::{Certificate, CertificateExpiry, CertificateRole, TrustedAnchor};

/// The anchors a certificate chain must end in: the production JPKI roots
/// (pinned by fingerprint) and any anchor certificates the app ships. A CA
/// certificate read from the card counts only when pinned here.
#[derive(uniffi::Object)]
pub struct TrustAnchors {
    inner: mynakit_core::TrustAnchors,
}

#[uniffi::export]
impl TrustAnchors {
    /// The six production JPKI roots (2015, 2019 and 2023 generations).
    #[uniffi::constructor]
    pub fn production() -> Arc<Self> {
        Arc::new(Self {
            inner: mynakit_core::TrustAnchors::production(),
        })
    }

    /// No anchors: nothing verifies until anchors are added.
    #[uniffi::constructor]
    pub fn empty() -> Arc<Self> {
        Arc::new(Self {
            inner: mynakit_core::TrustAnchors::none(),
        })
    }

    /// These anchors plus an anchor certificate the app ships (DER), such as
    /// a test hierarchy's root.
    pub fn with_certificate(&self, der: Vec<u8>) -> Result<Arc<Self>, MynaKitError> {
        let anchor = CardCertificate::from_der(der).map_err(MynaKitError::bad_certificate)?;
        Ok(Arc::new(Self {
            inner: self.inner.clone().with_certificate(anchor),
        }))
    }

    /// These anchors plus every CA certificate of an anchor file the app
    /// ships: PEM (one or more `CERTIFICATE` blocks) or one DER certificate,
    /// such as a J-LIS test hierarchy's root. A file that holds no
    /// certificate, or a certificate that is not a CA, is `InvalidInput`.
    pub fn with_anchor_file(&self, contents: Vec<u8>) -> Result<Arc<Self>, MynaKitError> {
        Ok(Arc::new(Self {
            inner: self.inner.clone().with_anchor_file(&contents)?,
        }))
    }

    /// These anchors plus a root pinned by its SHA-256 fingerprint (64 hex digits).
    pub fn with_fingerprint(&self, sha256_hex: String) -> Result<Arc<Self>, MynaKitError> {
        let fingerprint = mynakit_core::parse_fingerprint(&sha256_hex).ok_or_else(|| {
            MynaKitError::InvalidInput {
                reason: "a SHA-256 fingerprint is 64 hex digits".into(),
            }
        })?;
        Ok(Arc::new(Self {
            inner: self.inner.clone().with_fingerprint(fingerprint),
        }))
    }

    /// Checks that `leaf` is a certificate for `role` and that a trusted
    /// anchor issued it. `card_ca_certificates` are CA certificates read from
    /// the card; they count only when pinned. Fails with `Untrusted` (which
    /// says which check refused it: `UntrustedReason`) otherwise.
    pub fn verify(
        &self,
        leaf: Certificate,
        role: CertificateRole,
        card_ca_certificates: Vec<Certificate>,
    ) -> Result<TrustedAnchor, MynaKitError> {
        let leaf = leaf.parse()?;
        let cas = card_ca_certificates
            .iter()
            .map(Certificate::parse)
            .collect::<Result<Vec<_>, _>>()?;
        let cas: Vec<&CardCertificate> = cas.iter().collect();
        Ok(self.inner.verify(&leaf, role, &cas)?.into())
    }
}

/// Parses a DER certificate (such as an anchor the app ships) into the
/// record the session returns.
#[uniffi::export]
pub fn parse_certificate(der: Vec<u8>) -> Result<Certificate, MynaKitError> {
    let parsed = CardCertificate::from_der(der).map_err(MynaKitError::bad_certificate)?;
    Certificate::try_from_core(&parsed).map_err(MynaKitError::bad_certificate)
}

/// The certificate's expiry state at `at_unix` (Unix seconds), in the
/// insurers' terms: three months are counted in Japan time from the day
/// after the last valid day. Computed from the certificate's DER, never from
/// the record's `not_before_unix` / `not_after_unix` (an app can edit those).
#[uniffi::export]
pub fn certificate_expiry(
    certificate: Certificate,
    at_unix: i64,
) -> Result<CertificateExpiry, MynaKitError> {
    let at = DateTime::from_timestamp(at_unix, 0).ok_or_else(|| MynaKitError::InvalidInput {
        reason: "time outside the supported range".into(),
    })?;
    Ok(certificate.parse()?.expiry_state(at).into())
}

/// True when `signature` is the certificate key's RSA PKCS#1 v1.5 signature
/// over SHA-256 of `message`, as the session's signing operations produce.
#[uniffi::export]
pub fn verify_signature(
    certificate: Certificate,
    message: Vec<u8>,
    signature: Vec<u8>,
) -> Result<bool, MynaKitError> {
    Ok(certificate
        .parse()?
        .verifies_sha256_signature(&message, &signature))
}
