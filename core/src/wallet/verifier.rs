//! Checking a presentation of the card-substitute record, for whoever
//! verifies it (a desktop, a kiosk, another phone): the MSO's signature to
//! a configured IACA anchor, every disclosed digest, the document type,
//! the validity, the device signature over the verifier's own
//! `SessionTranscript`, then the status. Each failure says which check
//! failed; a status that cannot be determined is reported as such, never
//! as "revoked".

use chrono::{DateTime, Utc};

use super::mdoc::{
    DOC_TYPE, DeviceResponse, ElementId, ElementValue, MdocError, device_authentication_bytes,
};
use super::status_list::{Status, verify_status_list_token};
use super::trust::{ChainFailure, is_mdoc_document_signer, p256_key, verifies_es256, verify_chain};
use super::wire::StatusReference;

/// A presentation that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedPresentation {
    /// `docType`.
    pub doc_type: String,
    /// The disclosed elements, each matching its digest.
    pub elements: Vec<(ElementId, ElementValue)>,
    /// Start of validity.
    pub valid_from: DateTime<Utc>,
    /// End of validity.
    pub valid_until: DateTime<Utc>,
    /// What the status list said.
    pub status: StatusCheck,
}

/// The status part of a verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusCheck {
    /// The issuer's signed list says VALID.
    Valid,
    /// No usable list (none given, expired, for another URI, not trusted)
    /// or the record names none: the verifier decides what to do; the
    /// record is **not** reported revoked.
    Undetermined {
        /// Why.
        reason: String,
    },
}

/// Which check failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyFailure {
    /// The response does not parse.
    #[error("the response is malformed: {0}")]
    Malformed(MdocError),
    /// The response carries no document, or an error status.
    #[error("the response carries no document (status {status})")]
    NoDocument {
        /// The response's `status`.
        status: u64,
    },
    /// The document is not the My Number card record.
    #[error("the document is {0}, not the My Number card record")]
    DocType(String),
    /// The document signer's chain does not lead to a configured anchor.
    #[error("the issuer is not trusted: {0}")]
    UntrustedIssuer(ChainFailure),
    /// The MSO's signature does not verify.
    #[error("the issuer's signature over the MSO does not verify")]
    IssuerSignature,
    /// A disclosed element does not match its digest in the MSO.
    #[error("the element {element} does not match the signed digest")]
    DigestMismatch {
        /// `namespace/identifier`.
        element: String,
    },
    /// Before `validFrom`.
    #[error("the record is not valid yet")]
    NotYetValid,
    /// At or after `validUntil` (expiry wins over any status).
    #[error("the record has expired")]
    Expired,
    /// The device signature does not cover this transcript with the
    /// record's device key (a replay, or not the holder's phone).
    #[error("the device signature does not verify over this session")]
    DeviceSignature,
    /// The status list says INVALID.
    #[error("the record is revoked")]
    Revoked,
    /// The status list says SUSPENDED.
    #[error("the record is suspended")]
    Suspended,
    /// The status list says something this reader does not know; it is
    /// not called valid.
    #[error("the record's status is {0}")]
    UnknownStatus(u8),
}

/// The verifier, with its anchors (the issuers' IACA certificates, DER).
#[derive(Debug, Clone)]
pub struct Verifier {
    anchors: Vec<Vec<u8>>,
}

impl Verifier {
    /// A verifier trusting `anchors`.
    pub fn new(anchors: Vec<Vec<u8>>) -> Self {
        Self { anchors }
    }

    /// Checks `device_response` for the verifier's `session_transcript`
    /// (CBOR) at `now`, with `status_list` (a status list token, CWT) if
    /// the caller has one.
    pub fn verify(
        &self,
        device_response: &[u8],
        session_transcript: &[u8],
        now: DateTime<Utc>,
        status_list: Option<&[u8]>,
    ) -> Result<VerifiedPresentation, VerifyFailure> {
        let response =
            DeviceResponse::from_cbor(device_response).map_err(VerifyFailure::Malformed)?;
        let document = match response.documents.first() {
            Some(document) if response.status == 0 => document,
            _ => {
                return Err(VerifyFailure::NoDocument {
                    status: response.status,
                });
            }
        };
        let issuer_signed = &document.issuer_signed;
        let mso = issuer_signed.mso();
        if document.doc_type != DOC_TYPE || mso.doc_type != DOC_TYPE {
            return Err(VerifyFailure::DocType(document.doc_type.clone()));
        }
        // The MSO's signature, at the time it was signed and now.
        let signer = verify_chain(issuer_signed.document_signer_chain(), &self.anchors, now)
            .map_err(VerifyFailure::UntrustedIssuer)?;
        // Only a document signer signs MSOs (18013-5 Annex B.1.4).
        let is_ds = issuer_signed
            .document_signer_chain()
            .first()
            .is_some_and(|der| is_mdoc_document_signer(der));
        if !is_ds {
            return Err(VerifyFailure::UntrustedIssuer(
                ChainFailure::NotADocumentSigner,
            ));
        }
        issuer_signed
            .issuer_auth()
            .verify_signature(b"", |signature, tbs| {
                if verifies_es256(&signer, tbs, signature) {
                    Ok(())
                } else {
                    Err(VerifyFailure::IssuerSignature)
                }
            })?;
        if let Some(element) = issuer_signed.digest_mismatches().first() {
            return Err(VerifyFailure::DigestMismatch {
                element: element.to_string(),
            });
        }
        if now < mso.valid_from {
            return Err(VerifyFailure::NotYetValid);
        }
        if now >= mso.valid_until {
            return Err(VerifyFailure::Expired);
        }
        // The device signature over this verifier's transcript, by the key
        // the MSO binds (empty device namespaces only).
        if !document.device_namespaces_empty {
            return Err(VerifyFailure::DeviceSignature);
        }
        let payload = device_authentication_bytes(session_transcript, &document.doc_type)
            .map_err(|_| VerifyFailure::DeviceSignature)?;
        let device_key = p256::ecdsa::VerifyingKey::from_sec1_bytes(&mso.device_key)
            .map_err(|_| VerifyFailure::DeviceSignature)?;
        document
            .device_signature
            .verify_detached_signature(&payload, b"", |signature, tbs| {
                if verifies_es256(&device_key, tbs, signature) {
                    Ok(())
                } else {
                    Err(VerifyFailure::DeviceSignature)
                }
            })?;
        // The status list must come from the record's own issuer: the
        // anchor the MSO chained to, not any anchor this verifier trusts
        // (another issuer, or an old root after a key rotation, could
        // otherwise mark this record VALID).
        let issuer_anchor: Vec<Vec<u8>> = self
            .anchors
            .iter()
            .find(|anchor| {
                verify_chain(
                    issuer_signed.document_signer_chain(),
                    std::slice::from_ref(*anchor),
                    now,
                )
                .is_ok()
            })
            .cloned()
            .into_iter()
            .collect();
        let status = self.status(mso.status.as_ref(), status_list, &issuer_anchor, now)?;
        Ok(VerifiedPresentation {
            doc_type: document.doc_type.clone(),
            elements: issuer_signed.elements(),
            valid_from: mso.valid_from,
            valid_until: mso.valid_until,
            status,
        })
    }

    fn status(
        &self,
        reference: Option<&StatusReference>,
        token: Option<&[u8]>,
        issuer_anchor: &[Vec<u8>],
        now: DateTime<Utc>,
    ) -> Result<StatusCheck, VerifyFailure> {
        let Some(reference) = reference else {
            return Ok(undetermined("the record names no status list"));
        };
        let Some(token) = token else {
            return Ok(undetermined("no status list at hand"));
        };
        // A list that cannot be trusted or used says nothing about the
        // record: undetermined, never revoked (eudi verifier #555).
        let list = match verify_status_list_token(token, issuer_anchor, &reference.uri, now) {
            Ok(list) => list,
            Err(e) => return Ok(undetermined(&e.to_string())),
        };
        match list.list.get(reference.idx) {
            Some(Status::Valid) => Ok(StatusCheck::Valid),
            Some(Status::Invalid) => Err(VerifyFailure::Revoked),
            Some(Status::Suspended) => Err(VerifyFailure::Suspended),
            Some(Status::Other(v)) => Err(VerifyFailure::UnknownStatus(v)),
            None => Ok(undetermined("the record's index is past the list")),
        }
    }
}

fn undetermined(reason: &str) -> StatusCheck {
    StatusCheck::Undetermined {
        reason: reason.to_owned(),
    }
}

/// The public key of a DER certificate, SEC1 uncompressed (for showing
/// which anchor a CLI trusts).
pub fn certificate_key(der: &[u8]) -> Option<Vec<u8>> {
    use der::Decode;
    let certificate = x509_cert::Certificate::from_der(der).ok()?;
    p256_key(&certificate)
        .ok()
        .map(|key| key.to_sec1_point(false).as_bytes().to_vec())
}
