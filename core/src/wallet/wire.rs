//! The J-LIS issuer's wire format for the card-substitute record
//! (`docs/wallet-protocol.md`): the bodies the phone sends, the answers it
//! reads, and the byte strings the card and the device key sign. One
//! definition for the phone (`wallet::client`) and the reference issuer in
//! `mynakit-sandbox`.

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroize;

use crate::hex::{hex_bytes, to_hex};
use crate::platform::{SecurityLevel, UserAuthentication};

/// The API's path prefix.
pub const API_PREFIX: &str = "/v1/wallet";

/// `POST /v1/wallet/nonces`: a one-time nonce the application or a
/// holder's request signs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NonceResponse {
    /// The nonce, lowercase hex (32 random bytes).
    pub nonce: String,
    /// When the issuer forgets it.
    pub expires_at: DateTime<Utc>,
}

/// What the card says about its holder, as the application carries it
/// (W2: the holder's information). Personal data: redacted in `Debug`,
/// wiped when dropped.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplicationData {
    /// Full name (Kenhojo basic four), family and given name separated by
    /// U+3000.
    pub name: String,
    /// Address (Kenhojo basic four).
    pub address: String,
    /// Birth date (Kenhojo basic four); `None` when the card records it as
    /// unknown.
    pub birth_date: Option<NaiveDate>,
    /// Sex, ISO/IEC 5218: 1 male, 2 female, 9 not applicable.
    pub sex: u8,
    /// The My Number, 12 digits (Kenhojo; read because this record carries
    /// it).
    pub my_number: String,
    /// The face photo from Kenmen, JPEG 2000 as on the card.
    #[serde(with = "hex_bytes")]
    pub photo_jp2: Vec<u8>,
}

impl fmt::Debug for ApplicationData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApplicationData")
            .field("name", &"<redacted>")
            .field("address", &"<redacted>")
            .field("birth_date", &"<redacted>")
            .field("sex", &"<redacted>")
            .field("my_number", &"<redacted>")
            .field(
                "photo_jp2",
                &format_args!("<{} bytes>", self.photo_jp2.len()),
            )
            .finish()
    }
}

impl Drop for ApplicationData {
    fn drop(&mut self) {
        self.name.zeroize();
        self.address.zeroize();
        self.my_number.zeroize();
        self.photo_jp2.zeroize();
    }
}

impl ApplicationData {
    /// SHA-256 of the data's JSON form as this type writes it (field order
    /// fixed by the type): what the signatures cover.
    pub fn digest(&self) -> [u8; 32] {
        // Serialising a struct of strings and numbers cannot fail.
        let json = serde_json::to_vec(self).unwrap_or_default();
        let mut json = zeroize::Zeroizing::new(json);
        let digest = Sha256::digest(json.as_slice()).into();
        json.zeroize();
        digest
    }
}

/// The device key as the platform describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceKeyDescription {
    /// SEC1 uncompressed P-256 public key.
    #[serde(with = "hex_bytes")]
    pub public_key: Vec<u8>,
    /// Where it lives, as the platform reports it.
    pub security_level: SecurityLevel,
    /// When it asks for the user, as the platform reports it (the issuer
    /// refuses a key that does not ask before every use: W10).
    pub user_authentication: UserAuthentication,
    /// The platform's attestation chain over the nonce (DER, leaf first,
    /// hex); empty when the platform has none.
    pub attestation: Vec<HexBytes>,
}

/// Bytes as a lowercase hex string in JSON.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HexBytes(#[serde(with = "hex_bytes")] pub Vec<u8>);

impl fmt::Debug for HexBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} bytes>", self.0.len())
    }
}

/// `POST /v1/wallet/applications` (W2–W4), with an `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyRequest {
    /// A nonce from `POST /v1/wallet/nonces`.
    pub nonce: String,
    /// The card's information.
    pub data: ApplicationData,
    /// The new device key.
    pub device_key: DeviceKeyDescription,
    /// The card's signing certificate (DER).
    #[serde(with = "hex_bytes")]
    pub signing_certificate: Vec<u8>,
    /// The card's signing key over [`apply_message`]: RSA PKCS#1 v1.5,
    /// SHA-256 (W2).
    #[serde(with = "hex_bytes")]
    pub card_signature: Vec<u8>,
    /// The device key over the same message, ES256 raw `r‖s`: proves the
    /// phone holds the key (and that it asked the user).
    #[serde(with = "hex_bytes")]
    pub device_signature: Vec<u8>,
    /// The holder's record in force that this application replaces,
    /// because its device key is gone (lock screen removed, biometrics
    /// changed: W10, W11) so it can neither be used nor revoked with that
    /// key. The card's signature and the record's holder token prove it is
    /// theirs; the old record stops when the new one is issued (W3 holds:
    /// never two in force).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<Replaces>,
}

/// A record an application replaces (see [`ApplyRequest::replaces`]).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replaces {
    /// The record in force.
    pub record_id: String,
    /// Its holder token (a secret: redacted in `Debug`).
    pub holder_token: String,
}

impl fmt::Debug for Replaces {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Replaces")
            .field("record_id", &self.record_id)
            .field("holder_token", &"<redacted>")
            .finish()
    }
}

/// Where a record's status is published (draft-ietf-oauth-status-list
/// `status_list` {`idx`, `uri`}).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReference {
    /// The status list token's URI.
    pub uri: String,
    /// The record's index in it.
    pub idx: u64,
}

/// `201` to an application or a re-issue: the new record.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedRecord {
    /// The issuer's id of the record.
    pub record_id: String,
    /// The ISO 18013-5 `IssuerSigned` structure (CBOR): the elements and
    /// the MSO signed by the document signer.
    #[serde(with = "hex_bytes")]
    pub issuer_signed: Vec<u8>,
    /// Start of validity (the moment of issue).
    pub valid_from: DateTime<Utc>,
    /// End of validity (W5).
    pub valid_until: DateTime<Utc>,
    /// Where its status is published.
    pub status: StatusReference,
    /// The bearer secret for the holder's reads (state, notices); the same
    /// for every record of one application chain.
    pub holder_token: String,
    /// When the signing certificate used to apply expires: re-issue is
    /// possible until then (W6).
    pub signing_certificate_not_after: DateTime<Utc>,
    /// For a re-issue: why; `None` for a first issue.
    pub reissue_reason: Option<ReissueReason>,
}

impl fmt::Debug for IssuedRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedRecord")
            .field("record_id", &self.record_id)
            .field("issuer_signed", &"<redacted>")
            .field("valid_from", &self.valid_from)
            .field("valid_until", &self.valid_until)
            .field("status", &self.status)
            .field("holder_token", &"<redacted>")
            .field(
                "signing_certificate_not_after",
                &self.signing_certificate_not_after,
            )
            .field("reissue_reason", &self.reissue_reason)
            .finish()
    }
}

/// Why a new record replaces an old one without a card tap (W6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReissueReason {
    /// W6(1): the old record's validity ended.
    ValidityEnded,
    /// W6(2): the holder's birthday arrived (ages change; W8(1)(3) revokes
    /// the old record).
    Birthday,
    /// W6(3): the record was used more than the policy count.
    UsageCount,
    /// W6(4): the phone was recovered after a loss report.
    Recovered,
}

impl ReissueReason {
    /// The rule it comes from.
    pub fn rule(self) -> &'static str {
        match self {
            Self::ValidityEnded => "W6(1)",
            Self::Birthday => "W6(2)",
            Self::UsageCount => "W6(3)",
            Self::Recovered => "W6(4)",
        }
    }
}

/// Why a record stopped for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevocationReason {
    /// W7(2), W7(3): the holder asked, from the phone.
    HolderRequest,
    /// W7(1): the holder reported the key compromised (call centre).
    KeyCompromise,
    /// W8(1)(1): the card's signing certificate was revoked.
    CertificateRevoked,
    /// W8(1)(2): a recording error was found.
    RecordingError,
    /// W8(1)(3): the holder's birthday arrived (a new record follows, W6(2)).
    Birthday,
    /// W8(1)(4): the issuer's signing key leaked.
    IssuerKeyCompromise,
    /// W8(1)(5): technical or operational necessity.
    Operational,
    /// A newer record replaced it (W6(1), (3), (4)): one record in force.
    Superseded,
}

impl RevocationReason {
    /// The rule it comes from.
    pub fn rule(self) -> &'static str {
        match self {
            Self::HolderRequest => "W7(2)",
            Self::KeyCompromise => "W7(1)",
            Self::CertificateRevoked => "W8(1)(1)",
            Self::RecordingError => "W8(1)(2)",
            Self::Birthday => "W8(1)(3)",
            Self::IssuerKeyCompromise => "W8(1)(4)",
            Self::Operational => "W8(1)(5)",
            Self::Superseded => "W6",
        }
    }

    /// Whether the holder is notified (Art. 8(2): reasons (1), (2), (4)).
    pub fn notifies_holder(self) -> bool {
        matches!(
            self,
            Self::CertificateRevoked | Self::RecordingError | Self::IssuerKeyCompromise
        )
    }

    /// Whether a public notice is made (Art. 8(3): reasons (4), (5)).
    pub fn public_notice(self) -> bool {
        matches!(self, Self::IssuerKeyCompromise | Self::Operational)
    }
}

/// A record's state at the issuer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordStatus {
    /// In force.
    Valid,
    /// Temporarily stopped: the phone was reported lost (W9).
    Suspended,
    /// Stopped for good.
    Revoked,
    /// Its validity ended (W5).
    Expired,
}

/// The state of the card's signing certificate the record was applied with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CertificateStatus {
    /// Valid: re-issue without the card is possible (W6).
    Valid,
    /// Expired: apply again with the card.
    Expired,
    /// Revoked: apply again with the card.
    Revoked,
}

/// `GET /v1/wallet/records/{id}` (bearer: the holder token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordState {
    /// The record.
    pub record_id: String,
    /// Its state.
    pub status: RecordStatus,
    /// Why it was revoked, when it was.
    pub revocation_reason: Option<RevocationReason>,
    /// A re-issue the issuer will grant now, if any (W6).
    pub reissue_due: Option<ReissueReason>,
    /// The record that replaced it, if any.
    pub replaced_by: Option<String>,
    /// The signing certificate it was applied with.
    pub signing_certificate: CertificateStatus,
}

/// `POST /v1/wallet/records/{id}/reissues` (bearer, `Idempotency-Key`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReissueRequest {
    /// A fresh nonce.
    pub nonce: String,
    /// Why the phone asks (the issuer checks it against its own view).
    pub reason: ReissueReason,
    /// Uses counted on the phone (W6(3)).
    pub uses: u64,
    /// The device key over [`reissue_message`], ES256 raw `r‖s`.
    #[serde(with = "hex_bytes")]
    pub device_signature: Vec<u8>,
}

/// `POST /v1/wallet/records/{id}/revocations` (bearer, `Idempotency-Key`):
/// the holder stops the record (W7(2), (3)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokeRequest {
    /// A fresh nonce.
    pub nonce: String,
    /// The device key over [`revoke_message`], ES256 raw `r‖s`.
    #[serde(with = "hex_bytes")]
    pub device_signature: Vec<u8>,
}

/// What a notice says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NoticeKind {
    /// The record was revoked (Art. 8(2) for reasons (1), (2), (4); the
    /// holder's own requests are confirmed too).
    Revoked {
        /// Why.
        reason: RevocationReason,
    },
    /// The record was suspended: the phone was reported lost (W9).
    Suspended,
    /// The suspension was lifted: the phone was recovered (W6(4)).
    Resumed,
    /// A new record was issued in place of this one (W6).
    Reissued {
        /// Why.
        reason: ReissueReason,
    },
}

/// A notice to the holder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// The notice's id (stable).
    pub id: String,
    /// The record it concerns.
    pub record_id: String,
    /// What happened.
    #[serde(flatten)]
    pub kind: NoticeKind,
    /// When.
    pub at: DateTime<Utc>,
}

/// `GET /v1/wallet/notices` (bearer): the holder's notices, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeList {
    /// The notices.
    pub notices: Vec<Notice>,
}

/// A public notice (Art. 8(3): revocations for reasons (4), (5)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicNotice {
    /// The notice's id.
    pub id: String,
    /// The reason (W8(1)(4) or (5)).
    pub reason: RevocationReason,
    /// How many records it revoked.
    pub records: u64,
    /// What the issuer says.
    pub text: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// `GET /v1/wallet/public-notices`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicNoticeList {
    /// The notices, oldest first.
    pub notices: Vec<PublicNotice>,
}

/// The body of every refusal: `{"error": "<kind>", …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletErrorBody {
    /// The snake_case kind (the protocol's table), e.g. `record_in_force`.
    pub error: String,
    /// `record_in_force`: the record in force (W3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_id: Option<String>,
    /// A human-readable detail, never personal data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

fn message(purpose: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    // Each part length-prefixed: no two different inputs give one message.
    let mut out = purpose.to_vec();
    for part in parts {
        out.extend_from_slice(&u32::try_from(part.len()).unwrap_or(u32::MAX).to_be_bytes());
        out.extend_from_slice(part);
    }
    out
}

/// What the card's signing key and the device key sign to apply: the
/// nonce, the device key and the digest of the card data.
pub fn apply_message(nonce: &str, device_key: &[u8], data_digest: &[u8; 32]) -> Vec<u8> {
    message(
        b"mynakit wallet apply v1\0",
        &[nonce.as_bytes(), &Sha256::digest(device_key), data_digest],
    )
}

/// What the device key signs to ask for a re-issue of `record_id`.
pub fn reissue_message(nonce: &str, record_id: &str, reason: ReissueReason, uses: u64) -> Vec<u8> {
    let reason = serde_json::to_string(&reason).unwrap_or_default();
    message(
        b"mynakit wallet reissue v1\0",
        &[
            nonce.as_bytes(),
            record_id.as_bytes(),
            reason.as_bytes(),
            &uses.to_be_bytes(),
        ],
    )
}

/// What the device key signs to revoke `record_id`.
pub fn revoke_message(nonce: &str, record_id: &str) -> Vec<u8> {
    message(
        b"mynakit wallet revoke v1\0",
        &[nonce.as_bytes(), record_id.as_bytes()],
    )
}

/// A record id is 32 lowercase hex digits (checked before it goes into a
/// path).
pub fn is_record_id(text: &str) -> bool {
    text.len() == 32
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A fresh record id.
pub fn new_record_id(random: &[u8; 16]) -> String {
    to_hex(random)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_separate_their_parts_and_purposes() {
        let key = [4u8; 65];
        let digest = [1u8; 32];
        assert_ne!(
            apply_message("ab", &key, &digest),
            apply_message("a", &key, &digest)
        );
        assert_ne!(revoke_message("n", "r"), revoke_message("nr", ""));
        assert_ne!(
            reissue_message("n", "r", ReissueReason::Birthday, 1),
            reissue_message("n", "r", ReissueReason::UsageCount, 1)
        );
        assert_ne!(
            reissue_message("n", "r", ReissueReason::UsageCount, 1),
            reissue_message("n", "r", ReissueReason::UsageCount, 2)
        );
    }

    #[test]
    fn application_data_debug_shows_no_personal_data() {
        let data = ApplicationData {
            name: "番号　花子".into(),
            address: "東京都".into(),
            birth_date: NaiveDate::from_ymd_opt(1990, 1, 2),
            sex: 2,
            my_number: "123456789018".into(),
            photo_jp2: vec![1, 2, 3],
        };
        let debug = format!("{data:?}");
        for secret in ["花子", "東京", "1990", "123456789018"] {
            assert!(!debug.contains(secret), "{debug}");
        }
        let mut other = data.clone();
        other.address.push('x');
        assert_ne!(data.digest(), other.digest());
    }

    #[test]
    fn reasons_notify_as_article_8_says() {
        use RevocationReason as R;
        let notified: Vec<_> = [
            R::HolderRequest,
            R::KeyCompromise,
            R::CertificateRevoked,
            R::RecordingError,
            R::Birthday,
            R::IssuerKeyCompromise,
            R::Operational,
            R::Superseded,
        ]
        .into_iter()
        .filter(|r| r.notifies_holder())
        .collect();
        assert_eq!(
            notified,
            [
                R::CertificateRevoked,
                R::RecordingError,
                R::IssuerKeyCompromise
            ]
        );
        assert!(R::Operational.public_notice() && R::IssuerKeyCompromise.public_notice());
        assert!(!R::CertificateRevoked.public_notice());
    }

    #[test]
    fn record_ids_are_checked_before_a_path() {
        assert!(is_record_id(&new_record_id(&[0xab; 16])));
        assert!(!is_record_id("../../admin"));
        assert!(!is_record_id(&"A".repeat(32)));
    }
}
