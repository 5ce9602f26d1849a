//! Trust anchors and the chain check: a holder's certificate is trusted only
//! when a pinned or configured anchor signed it, and only for the role the
//! caller asked for.

use serde::Serialize;
use x509_cert::Certificate;

use super::certificate::{CardCertificate, CertificateError};
use super::role::{CertificateRole, Hierarchy, RoleError};
use crate::hex::Hex;

/// Why a chain did not verify. Each case says which check refused it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// Unknown CA: no pinned or configured anchor has the issuer's name.
    #[error("unknown CA: no trusted anchor is named {issuer}")]
    UntrustedIssuer {
        /// The certificate's issuer DN.
        issuer: String,
    },
    /// Bad signature: an anchor with the issuer's name exists, but its key did not sign this.
    #[error("bad signature: no trusted anchor named like the issuer signed this certificate")]
    BadSignature,
    /// Not sha256WithRSAEncryption.
    #[error("unsupported signature algorithm {0}")]
    UnsupportedAlgorithm(String),
    /// A CA certificate was presented where an end-entity certificate belongs.
    #[error("a CA certificate is not a holder's certificate")]
    NotALeaf,
    /// Nothing in the leaf says what it is for, or its fields disagree.
    #[error("unknown role: {0}")]
    UnknownRole(RoleError),
    /// Wrong role: the leaf is for something else than the caller expects.
    #[error("wrong role: expected a {expected:?} certificate, found a {found:?} certificate")]
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

/// Why an anchor file could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnchorError {
    /// Neither PEM certificates nor one DER certificate.
    #[error("not a PEM or DER certificate file: {0}")]
    NotCertificates(String),
    /// The file holds no certificate.
    #[error("the anchor file holds no certificate")]
    Empty,
    /// An anchor must be a CA certificate.
    #[error("anchor {subject} is not a CA certificate")]
    NotACa {
        /// The offending certificate's subject.
        subject: String,
    },
    /// A certificate in the file does not parse.
    #[error(transparent)]
    Certificate(#[from] CertificateError),
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
    if bytes.len() != 64 || !bytes.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let mut out = [0u8; 32];
    for (slot, pair) in out.iter_mut().zip(bytes.chunks(2)) {
        *slot = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(out)
}

/// The anchor a chain ended in, and what the leaf is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrustedAnchor {
    /// The anchor's subject DN.
    pub subject: String,
    /// The anchor's SHA-256 fingerprint, hex.
    pub sha256: String,
    /// The leaf's role.
    pub role: CertificateRole,
    /// The hierarchy the leaf's policy belongs to.
    pub hierarchy: Hierarchy,
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

    /// Adds every CA certificate of an anchor file: PEM (one or more
    /// `CERTIFICATE` blocks) or a single DER certificate. A J-LIS test
    /// hierarchy's root, or an organisation's own, comes in this way.
    pub fn with_anchor_file(mut self, contents: &[u8]) -> Result<Self, AnchorError> {
        let anchors = parse_anchor_file(contents)?;
        for anchor in anchors {
            self = self.with_certificate(anchor);
        }
        Ok(self)
    }

    /// Checks that `leaf` is a JPKI end-entity certificate for `expected`,
    /// signed by a trusted anchor. `card_ca_certs` are CA certificates read
    /// from the card; they count only when pinned. Two CA generations share
    /// one name, so every candidate with the issuer's name is tried by key.
    /// Validity dates are not judged here: [`CardCertificate::expiry_state`]
    /// says where the certificate stands in time.
    pub fn verify(
        &self,
        leaf: &CardCertificate,
        expected: CertificateRole,
        card_ca_certs: &[&CardCertificate],
    ) -> Result<TrustedAnchor, ChainError> {
        if leaf.is_ca() {
            return Err(ChainError::NotALeaf);
        }
        let finding = CertificateRole::of(leaf).map_err(ChainError::UnknownRole)?;
        if finding.role != expected {
            return Err(ChainError::WrongRole {
                expected,
                found: finding.role,
            });
        }
        let pinned = card_ca_certs
            .iter()
            .copied()
            .filter(|c| self.fingerprints.contains(&c.sha256_fingerprint()));
        let mut named_any = false;
        for candidate in self.certificates.iter().chain(pinned) {
            if !candidate.issued(leaf) || !candidate.is_ca() {
                continue;
            }
            named_any = true;
            match leaf.is_signed_by(candidate) {
                Ok(()) => {
                    return Ok(TrustedAnchor {
                        subject: candidate.subject(),
                        sha256: Hex(&candidate.sha256_fingerprint()).to_string(),
                        role: finding.role,
                        hierarchy: finding.hierarchy,
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

fn parse_anchor_file(contents: &[u8]) -> Result<Vec<CardCertificate>, AnchorError> {
    let looks_pem = contents
        .windows(b"-----BEGIN".len())
        .any(|w| w == b"-----BEGIN");
    let certificates = if looks_pem {
        let chain = Certificate::load_pem_chain(contents)
            .map_err(|e| AnchorError::NotCertificates(e.to_string()))?;
        chain
            .into_iter()
            .map(|cert| {
                der::Encode::to_der(&cert)
                    .map_err(|e| AnchorError::NotCertificates(e.to_string()))
                    .and_then(|der| CardCertificate::from_der(der).map_err(Into::into))
            })
            .collect::<Result<Vec<_>, _>>()?
    } else {
        vec![CardCertificate::from_der(contents.to_vec())?]
    };
    if certificates.is_empty() {
        return Err(AnchorError::Empty);
    }
    if let Some(leaf) = certificates.iter().find(|c| !c.is_ca()) {
        return Err(AnchorError::NotACa {
            subject: leaf.subject(),
        });
    }
    Ok(certificates)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_fingerprints_parse() {
        assert_eq!(TrustAnchors::production().fingerprints.len(), 6);
        assert_eq!(parse_fingerprint("zz"), None);
        assert_eq!(parse_fingerprint(&"é".repeat(32)), None);
    }

    #[test]
    fn an_anchor_file_of_garbage_is_a_typed_error() {
        assert!(matches!(
            TrustAnchors::none().with_anchor_file(b"-----BEGIN CERTIFICATE-----\nzz\n"),
            Err(AnchorError::NotCertificates(_))
        ));
        assert!(matches!(
            TrustAnchors::none().with_anchor_file(&[0x30, 0x03, 1, 2, 3]),
            Err(AnchorError::Certificate(_))
        ));
    }
}
