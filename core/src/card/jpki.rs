//! The JPKI application (公的個人認証): token kind, certificates, PIN state,
//! VERIFY and signing.

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::apdu::CommandApdu;
use super::channel::{CardChannel, ContentLength, Resend};
use super::error::{CardError, Malformation};
use super::layout::{Application, CLA_PROPRIETARY, FileId, ins, jpki, sign_p1};
use super::pin::{AuthPin, CardSecret, LastTry, SigningPassword};
use super::status::Status;
use super::verify::PinStatus;
use crate::pki::CardCertificate;
use crate::platform::CardTransport;

/// What kind of JPKI token answered, from the label in EF 0006.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "label", rename_all = "snake_case")]
pub enum TokenKind {
    /// A My Number card (`JPKIAPICCTOKEN2`).
    PhysicalCard,
    /// The JPKI function in an Android phone (`JPKIAPGPSETOKEN`).
    AndroidToken,
    /// The JPKI function in an iPhone (`JPKIAPIOSTOKEN`).
    IphoneToken,
    /// An old 住基 card (`JPKIAPICCTOKEN`).
    JukiCard,
    /// A label this library does not know.
    Unknown(String),
}

impl TokenKind {
    /// Classifies the 32-byte space-padded label.
    pub fn from_label(label: &[u8]) -> Self {
        // Longest prefix first: the old card's label is a prefix of the new card's.
        const KNOWN: [(&[u8], TokenKind); 4] = [
            (b"JPKIAPICCTOKEN2", TokenKind::PhysicalCard),
            (b"JPKIAPGPSETOKEN", TokenKind::AndroidToken),
            (b"JPKIAPIOSTOKEN", TokenKind::IphoneToken),
            (b"JPKIAPICCTOKEN", TokenKind::JukiCard),
        ];
        KNOWN
            .into_iter()
            .find(|(prefix, _)| label.starts_with(prefix))
            .map(|(_, kind)| kind)
            .unwrap_or_else(|| {
                Self::Unknown(
                    String::from_utf8_lossy(label)
                        .trim_end_matches([' ', '\0'])
                        .to_owned(),
                )
            })
    }
}

/// Which certificates the card holds (EF 0008: byte 0 signing, byte 1
/// authentication; a card issued to a child under 15 has no signing certificate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CertificatePresence {
    /// The signing certificate (and key) exist.
    pub signing: bool,
    /// The user-authentication certificate (and key) exist.
    pub authentication: bool,
}

impl CertificatePresence {
    /// Decodes EF 0008.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CardError> {
        match bytes {
            [signing, authentication, _] => Ok(Self {
                signing: *signing != 0,
                authentication: *authentication != 0,
            }),
            _ => Err(CardError::malformed(
                "certificate presence",
                Malformation::Size {
                    expected: 3,
                    found: bytes.len(),
                },
            )),
        }
    }
}

/// What a card says about itself without a PIN: token kind, certificates
/// present and the JPKI PIN states (no try spent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JpkiStatus {
    /// What kind of token answered.
    pub token_kind: TokenKind,
    /// Which certificates the card holds.
    pub certificates: CertificatePresence,
    /// The user-authentication PIN's state.
    pub auth_pin: PinStatus,
    /// The signing password's state; `None` on a card without a signing certificate.
    pub signing_password: Option<PinStatus>,
}

/// The two JPKI key pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JpkiKey {
    /// User authentication (利用者証明用): unlocked by the 4-digit PIN.
    Authentication,
    /// Digital signature (署名用): unlocked by the signing password.
    Signing,
}

impl JpkiKey {
    /// The key's EF.
    pub const fn key_file(self) -> FileId {
        match self {
            Self::Authentication => jpki::AUTH_KEY,
            Self::Signing => jpki::SIGNING_KEY,
        }
    }

    /// The PIN that unlocks the key.
    pub const fn pin_file(self) -> FileId {
        match self {
            Self::Authentication => jpki::AUTH_PIN,
            Self::Signing => jpki::SIGNING_PIN,
        }
    }
}

/// A certificate on the card that can be read without a PIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FreeCertificate {
    /// The user-authentication certificate (EF 000A).
    Authentication,
    /// The CA certificate of the authentication certificate (EF 000B).
    AuthenticationCa,
    /// The CA certificate of the signing certificate (EF 0002).
    SigningCa,
}

impl FreeCertificate {
    fn file(self) -> (FileId, &'static str) {
        match self {
            Self::Authentication => (jpki::AUTH_CERT, "authentication certificate"),
            Self::AuthenticationCa => (jpki::AUTH_CA_CERT, "authentication CA certificate"),
            Self::SigningCa => (jpki::SIGNING_CA_CERT, "signing CA certificate"),
        }
    }
}

/// A PKCS#1 v1.5 `DigestInfo` (RFC 8017 §9.2): what the card signs. The card
/// adds the padding; the core builds this structure so that the card never
/// signs a bare hash by mistake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestInfo(Vec<u8>);

/// DER of `DigestInfo { sha256, NULL }` up to the digest (RFC 8017 §9.2, note 1).
const SHA256_DIGEST_INFO_PREFIX: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

impl DigestInfo {
    /// Hashes `message` with SHA-256 and wraps the digest.
    pub fn sha256(message: &[u8]) -> Self {
        Self::from_sha256_digest(Sha256::digest(message).into())
    }

    /// Wraps a SHA-256 digest computed elsewhere.
    pub fn from_sha256_digest(digest: [u8; 32]) -> Self {
        let mut der = SHA256_DIGEST_INFO_PREFIX.to_vec();
        der.extend_from_slice(&digest);
        Self(der)
    }

    /// The DER bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// Operations on the JPKI application of one card session.
pub struct Jpki<'a, T> {
    channel: &'a mut CardChannel<T>,
}

impl<'a, T: CardTransport> Jpki<'a, T> {
    /// Wraps a channel.
    pub fn new(channel: &'a mut CardChannel<T>) -> Self {
        Self { channel }
    }

    /// Reads the token label (EF 0006) and classifies it.
    pub async fn token_kind(&mut self) -> Result<TokenKind, CardError> {
        let label = self
            .channel
            .read_ef(
                Application::Jpki,
                jpki::TOKEN_INFO,
                ContentLength::Exact(32),
                "token information",
            )
            .await?;
        Ok(TokenKind::from_label(&label))
    }

    /// Token kind, certificates present and the PIN states, without a PIN and
    /// without spending a try: EF 0006, EF 0008 and one bare VERIFY per PIN.
    pub async fn status(&mut self) -> Result<JpkiStatus, CardError> {
        let token_kind = self.token_kind().await?;
        let certificates = self.certificate_presence().await?;
        let auth_pin = self.pin_status(JpkiKey::Authentication).await?;
        let signing_password = if certificates.signing {
            Some(self.pin_status(JpkiKey::Signing).await?)
        } else {
            None
        };
        Ok(JpkiStatus {
            token_kind,
            certificates,
            auth_pin,
            signing_password,
        })
    }

    /// Reads which certificates the card holds (EF 0008).
    pub async fn certificate_presence(&mut self) -> Result<CertificatePresence, CardError> {
        let bytes = self
            .channel
            .read_ef(
                Application::Jpki,
                jpki::CERT_PRESENCE,
                ContentLength::Exact(3),
                "certificate presence",
            )
            .await?;
        CertificatePresence::from_bytes(&bytes)
    }

    /// Reads a certificate that needs no PIN. On a physical card this is two
    /// round trips from a fresh session when the link has extended length.
    pub async fn read_certificate(
        &mut self,
        which: FreeCertificate,
    ) -> Result<CardCertificate, CardError> {
        let (file, what) = which.file();
        self.read_certificate_file(file, what).await
    }

    async fn read_certificate_file(
        &mut self,
        file: FileId,
        what: &'static str,
    ) -> Result<CardCertificate, CardError> {
        let der = self
            .channel
            .read_ef(Application::Jpki, file, ContentLength::Tlv, what)
            .await?;
        let mut der = der;
        CardCertificate::from_der(std::mem::take(&mut *der))
            .map_err(|e| CardError::malformed(what, e))
    }

    /// Reads the signing certificate, verifying the signing password first
    /// (the card answers `6982` otherwise).
    pub async fn read_signing_certificate(
        &mut self,
        password: &SigningPassword,
        last_try: LastTry,
    ) -> Result<CardCertificate, CardError> {
        self.verify(JpkiKey::Signing, password, last_try).await?;
        self.read_certificate_file(jpki::SIGNING_CERT, "signing certificate")
            .await
    }

    /// Tries left for the PIN of `key`, read without spending a try.
    pub async fn pin_status(&mut self, key: JpkiKey) -> Result<PinStatus, CardError> {
        self.channel
            .pin_status(Application::Jpki, key.pin_file())
            .await
    }

    /// Verifies the user-authentication PIN.
    pub async fn verify_auth_pin(
        &mut self,
        pin: &AuthPin,
        last_try: LastTry,
    ) -> Result<(), CardError> {
        self.verify(JpkiKey::Authentication, pin, last_try).await
    }

    /// Verifies the signing password.
    pub async fn verify_signing_password(
        &mut self,
        password: &SigningPassword,
        last_try: LastTry,
    ) -> Result<(), CardError> {
        self.verify(JpkiKey::Signing, password, last_try).await
    }

    async fn verify(
        &mut self,
        key: JpkiKey,
        secret: &impl CardSecret,
        last_try: LastTry,
    ) -> Result<(), CardError> {
        self.channel
            .verify_pin(Application::Jpki, key.pin_file(), secret, last_try)
            .await
    }

    /// Signs a `DigestInfo` with `key`, whose PIN must have been verified in
    /// this session. Sent once, never repeated: a lost answer is an error.
    pub async fn sign(
        &mut self,
        key: JpkiKey,
        digest_info: &DigestInfo,
    ) -> Result<Vec<u8>, CardError> {
        self.compute_signature(key, sign_p1::DIGEST_INFO, digest_info.as_bytes())
            .await
    }

    /// Asks the card for an RSASSA-PSS signature (SHA-256, MGF1-SHA-256,
    /// 32-byte salt) over a SHA-256 hash the caller computed: COMPUTE DIGITAL
    /// SIGNATURE P1 `04`, which a real card supports (myna-card
    /// `src/ap/jpki.rs`). `key`'s PIN must have been verified in this session.
    /// Sent once, never repeated: a lost answer is an error. The salt is the
    /// card's, so two calls give different signatures; check one with
    /// [`CardCertificate::verifies_pss_sha256_signature`].
    pub async fn sign_pss_sha256(
        &mut self,
        key: JpkiKey,
        sha256: &[u8; 32],
    ) -> Result<Vec<u8>, CardError> {
        self.compute_signature(key, sign_p1::PSS_HASH, sha256).await
    }

    async fn compute_signature(
        &mut self,
        key: JpkiKey,
        p1: u8,
        data: &[u8],
    ) -> Result<Vec<u8>, CardError> {
        self.channel.select(Application::Jpki).await?;
        let command = CommandApdu::new(
            CLA_PROPRIETARY,
            ins::COMPUTE_DIGITAL_SIGNATURE,
            p1,
            key.key_file().reference_p2(),
        )
        .with_data(data)
        .expect(256);
        let mut response = self.channel.send(&command, Resend::Never).await?;
        match response.sw.meaning() {
            Status::Ok if response.data.len() == 256 => Ok(std::mem::take(&mut response.data)),
            Status::Ok => Err(CardError::malformed(
                "signature",
                Malformation::Size {
                    expected: 256,
                    found: response.data.len(),
                },
            )),
            Status::SecurityStatusNotSatisfied => {
                self.channel.mark_unverified(key.pin_file());
                Err(CardError::PinRequired)
            }
            Status::Blocked => Err(CardError::PinBlocked),
            _ => Err(CardError::UnexpectedStatus {
                command: "COMPUTE DIGITAL SIGNATURE",
                sw: response.sw,
            }),
        }
    }

    /// Verifies the authentication PIN (unless already verified this session)
    /// and signs `message`'s SHA-256 with the authentication key.
    pub async fn sign_with_auth_key(
        &mut self,
        pin: &AuthPin,
        message: &[u8],
        last_try: LastTry,
    ) -> Result<Vec<u8>, CardError> {
        self.verify(JpkiKey::Authentication, pin, last_try).await?;
        self.sign(JpkiKey::Authentication, &DigestInfo::sha256(message))
            .await
    }

    /// Verifies the signing password (unless already verified this session)
    /// and signs `message`'s SHA-256 with the signing key.
    pub async fn sign_with_signing_key(
        &mut self,
        password: &SigningPassword,
        message: &[u8],
        last_try: LastTry,
    ) -> Result<Vec<u8>, CardError> {
        self.verify(JpkiKey::Signing, password, last_try).await?;
        self.sign(JpkiKey::Signing, &DigestInfo::sha256(message))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_labels() {
        let pad = |s: &str| format!("{s:<32}").into_bytes();
        assert_eq!(
            TokenKind::from_label(&pad("JPKIAPICCTOKEN2")),
            TokenKind::PhysicalCard
        );
        assert_eq!(
            TokenKind::from_label(&pad("JPKIAPICCTOKEN")),
            TokenKind::JukiCard
        );
        assert_eq!(
            TokenKind::from_label(&pad("JPKIAPGPSETOKEN")),
            TokenKind::AndroidToken
        );
        assert_eq!(
            TokenKind::from_label(&pad("JPKIAPIOSTOKEN")),
            TokenKind::IphoneToken
        );
        assert_eq!(
            TokenKind::from_label(&pad("OTHER")),
            TokenKind::Unknown("OTHER".into())
        );
    }

    #[test]
    fn digest_info_is_der_sha256() {
        let di = DigestInfo::sha256(b"abc");
        assert_eq!(di.as_bytes().len(), 51);
        // SHA-256("abc") from FIPS 180-2 appendix B.1.
        assert_eq!(&di.as_bytes()[19..23], &[0xBA, 0x78, 0x16, 0xBF]);
    }
}
