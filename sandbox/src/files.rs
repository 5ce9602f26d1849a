//! The card's elementary files and who may use them: what each EF of each
//! application holds, which PIN or key opens it, and the retry counters.

use std::collections::BTreeMap;

use mynakit_core::layout::{Application, FileId, jpki, kenhojo, kenmen};
use rsa::PrivateKey;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::SandboxError;
use crate::fixtures::FixtureKey;
use crate::holder::CardConfig;
use crate::records;

/// Largest EF the sandbox builds: READ BINARY offsets have 15 bits, and a
/// bigger file (an oversized photo) could not be read by every client.
pub const MAX_EF_SIZE: usize = 0x7FFF;

/// Who may read a data EF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone.
    Free,
    /// After a successful VERIFY of any one of these key EFs in this session.
    AnyOf(&'static [FileId]),
}

/// A PIN, password or check code (照合番号) with its retry counter.
#[derive(Clone)]
pub struct Secret {
    /// `None` when no value can ever match: blocked from issue (Kenhojo EF
    /// 0012), or a Kenmen key that needs an unknown birth date.
    value: Option<Zeroizing<Vec<u8>>>,
    max_tries: u8,
    tries_left: u8,
}

impl Secret {
    fn new(value: &str, max_tries: u8) -> Self {
        Self {
            value: Some(Zeroizing::new(value.as_bytes().to_vec())),
            max_tries,
            tries_left: max_tries,
        }
    }

    fn unusable() -> Self {
        Self {
            value: None,
            max_tries: 0,
            tries_left: 0,
        }
    }

    fn from_option(value: Option<String>, max_tries: u8) -> Self {
        value.map_or_else(Self::unusable, |v| Self::new(&v, max_tries))
    }

    /// Tries left.
    pub fn tries_left(&self) -> u8 {
        self.tries_left
    }

    /// True when the secret was never usable (it answers a bare VERIFY with
    /// `63C0` rather than `6984`, as a peer measured on Kenhojo EF 0012).
    pub fn blocked_from_issue(&self) -> bool {
        self.value.is_none()
    }

    /// True when VERIFY can no longer succeed.
    pub fn is_blocked(&self) -> bool {
        self.value.is_none() || self.tries_left == 0
    }

    /// Checks `candidate`, updating the counter: reset to the maximum on a
    /// match, one less otherwise. Call only when not blocked.
    pub fn attempt(&mut self, candidate: &[u8]) -> bool {
        let Some(value) = &self.value else {
            return false;
        };
        // Compare every byte regardless of where the first difference is.
        let same_len = value.len() == candidate.len();
        let diff = value
            .iter()
            .zip(candidate)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if same_len && diff == 0 {
            self.tries_left = self.max_tries;
            true
        } else {
            self.tries_left = self.tries_left.saturating_sub(1);
            false
        }
    }
}

/// One elementary file.
#[derive(Clone)]
pub enum ElementaryFile {
    /// A transparent EF READ BINARY can read.
    Data {
        /// The bytes, exactly as long as the EF.
        content: Vec<u8>,
        /// Who may read it.
        read: Access,
    },
    /// A PIN or check-code EF (VERIFY target; READ BINARY answers `6981`).
    Secret(Secret),
    /// A private key EF (COMPUTE DIGITAL SIGNATURE target).
    Key {
        /// The key.
        key: &'static PrivateKey,
        /// The PIN that must be verified in this session first.
        unlocked_by: FileId,
    },
}

/// The files of one application.
#[derive(Clone, Default)]
pub struct ApplicationFiles {
    files: BTreeMap<u8, ElementaryFile>,
    /// Key used by COMPUTE DIGITAL SIGNATURE with P2 = `00`, without any PIN
    /// (the Kenhojo/Kenmen chip-presence signature).
    default_key: Option<&'static PrivateKey>,
}

impl ApplicationFiles {
    /// The EF with this id.
    pub fn get(&self, id: FileId) -> Option<&ElementaryFile> {
        self.files.get(&id.0)
    }

    /// The EF with this id, mutable (retry counters).
    pub fn get_mut(&mut self, id: FileId) -> Option<&mut ElementaryFile> {
        self.files.get_mut(&id.0)
    }

    /// The PIN-less key, if the application has one.
    pub fn default_key(&self) -> Option<&'static PrivateKey> {
        self.default_key
    }

    fn data(&mut self, id: FileId, content: Vec<u8>, read: Access) -> Result<(), SandboxError> {
        if content.len() > MAX_EF_SIZE {
            return Err(SandboxError::config(
                "holder",
                format!(
                    "EF {:04X} would be {} bytes; the card reads at most {MAX_EF_SIZE}",
                    id.0,
                    content.len()
                ),
            ));
        }
        self.files
            .insert(id.0, ElementaryFile::Data { content, read });
        Ok(())
    }

    fn secret(&mut self, id: FileId, secret: Secret) {
        self.files.insert(id.0, ElementaryFile::Secret(secret));
    }

    fn key(&mut self, id: FileId, key: &'static PrivateKey, unlocked_by: FileId) {
        self.files
            .insert(id.0, ElementaryFile::Key { key, unlocked_by });
    }
}

/// The certificates a card carries, DER.
pub struct CertificateFiles {
    /// User-authentication certificate (EF 000A).
    pub auth: Vec<u8>,
    /// Its CA (EF 000B).
    pub auth_ca: Vec<u8>,
    /// Signing certificate (EF 0001), absent on a child's card.
    pub signing: Option<Vec<u8>>,
    /// Its CA (EF 0002).
    pub signing_ca: Vec<u8>,
}

/// All three applications.
#[derive(Clone)]
pub struct CardFiles {
    jpki: ApplicationFiles,
    kenhojo: ApplicationFiles,
    kenmen: ApplicationFiles,
}

const KENHOJO_EF1_KEYS: &[FileId] = &[kenhojo::PIN, kenhojo::CHECK_CODE_A];
const KENHOJO_EF2_KEYS: &[FileId] = &[kenhojo::PIN, kenhojo::CHECK_CODE_B];
const KENHOJO_EF3_KEYS: &[FileId] = &[kenhojo::PIN];
/// Kenhojo's EF 0012, blocked from issue on every card a peer examined.
const KENHOJO_BLOCKED: FileId = FileId(0x12);
const KENMEN_AGE_KEYS: &[FileId] = &[kenmen::BIRTH_DATE_KEY];
const KENMEN_FACE_KEYS: &[FileId] = &[kenmen::CHECK_CODE_B, kenmen::CHECK_CODE_A];
const KENMEN_NUMBER_KEYS: &[FileId] = &[kenmen::CHECK_CODE_A];
const SIGNING_PIN_ONLY: &[FileId] = &[jpki::SIGNING_PIN];

impl CardFiles {
    /// Lays out the card for `config` with the given certificates.
    pub fn build(config: &CardConfig, certs: CertificateFiles) -> Result<Self, SandboxError> {
        let holder = &config.holder;
        let tries = &config.tries;
        let card_ap_key = FixtureKey::CardApplication.private_key();
        let issuer = FixtureKey::FaceIssuer.private_key();

        let mut jpki_files = ApplicationFiles::default();
        // A 16-digit serial derived from the auth certificate, stable per card.
        let digest = Sha256::digest(&certs.auth);
        let serial: String = digest[..16]
            .iter()
            .map(|b| char::from(b'0' + b % 10))
            .collect();
        jpki_files.data(
            jpki::TOKEN_INFO,
            records::token_info(&config.token_label, &serial),
            Access::Free,
        )?;
        jpki_files.data(
            jpki::CERT_PRESENCE,
            records::certificate_presence(certs.signing.is_some()),
            Access::Free,
        )?;
        jpki_files.data(jpki::AUTH_CERT, certs.auth, Access::Free)?;
        jpki_files.data(jpki::AUTH_CA_CERT, certs.auth_ca, Access::Free)?;
        jpki_files.data(jpki::SIGNING_CA_CERT, certs.signing_ca, Access::Free)?;
        jpki_files.key(
            jpki::AUTH_KEY,
            FixtureKey::CardAuth.private_key(),
            jpki::AUTH_PIN,
        );
        jpki_files.secret(
            jpki::AUTH_PIN,
            Secret::new(&config.secrets.auth_pin, tries.auth_pin),
        );
        if let Some(signing) = certs.signing {
            // A child's card has no signing certificate, key or password at all.
            jpki_files.data(jpki::SIGNING_CERT, signing, Access::AnyOf(SIGNING_PIN_ONLY))?;
            jpki_files.key(
                jpki::SIGNING_KEY,
                FixtureKey::CardSigning.private_key(),
                jpki::SIGNING_PIN,
            );
            jpki_files.secret(
                jpki::SIGNING_PIN,
                Secret::new(&config.secrets.signing_password, tries.signing_password),
            );
        }

        let mut kenhojo_files = ApplicationFiles {
            default_key: Some(card_ap_key),
            ..Default::default()
        };
        let ef1 = records::kenhojo_my_number(&holder.my_number);
        let ef2 = records::kenhojo_basic_four(holder)?;
        let ef3 = records::kenhojo_integrity(&ef1, &ef2, issuer)?;
        kenhojo_files.data(kenhojo::MY_NUMBER, ef1, Access::AnyOf(KENHOJO_EF1_KEYS))?;
        kenhojo_files.data(kenhojo::BASIC_FOUR, ef2, Access::AnyOf(KENHOJO_EF2_KEYS))?;
        kenhojo_files.data(kenhojo::SIGNATURE, ef3, Access::AnyOf(KENHOJO_EF3_KEYS))?;
        kenhojo_files.secret(
            kenhojo::PIN,
            Secret::new(&config.secrets.kenhojo_pin, tries.kenhojo_pin),
        );
        kenhojo_files.secret(KENHOJO_BLOCKED, Secret::unusable());
        kenhojo_files.secret(
            kenhojo::CHECK_CODE_A,
            Secret::new(holder.my_number.expose(), tries.kenhojo_check_codes),
        );
        kenhojo_files.secret(
            kenhojo::CHECK_CODE_B,
            Secret::from_option(holder.check_code_b(), tries.kenhojo_check_codes),
        );

        let mut kenmen_files = ApplicationFiles {
            default_key: Some(card_ap_key),
            ..Default::default()
        };
        let card_public = card_ap_key.as_public_key();
        kenmen_files.data(
            kenmen::AGE,
            records::kenmen_age(holder, card_public, issuer)?,
            Access::AnyOf(KENMEN_AGE_KEYS),
        )?;
        kenmen_files.data(
            kenmen::FACE,
            records::kenmen_face(holder, card_public, issuer)?,
            Access::AnyOf(KENMEN_FACE_KEYS),
        )?;
        kenmen_files.data(
            kenmen::MY_NUMBER_IMAGE,
            records::kenmen_my_number_image(holder, card_public, issuer)?,
            Access::AnyOf(KENMEN_NUMBER_KEYS),
        )?;
        kenmen_files.secret(
            kenmen::BIRTH_DATE_KEY,
            Secret::from_option(holder.birth_date_key(), tries.kenmen_keys),
        );
        kenmen_files.secret(
            kenmen::CHECK_CODE_B,
            Secret::from_option(holder.check_code_b(), tries.kenmen_keys),
        );
        kenmen_files.secret(
            kenmen::CHECK_CODE_A,
            Secret::new(holder.my_number.expose(), tries.kenmen_keys),
        );

        Ok(Self {
            jpki: jpki_files,
            kenhojo: kenhojo_files,
            kenmen: kenmen_files,
        })
    }

    /// One application's files.
    pub fn app(&self, app: Application) -> &ApplicationFiles {
        match app {
            Application::Jpki => &self.jpki,
            Application::Kenhojo => &self.kenhojo,
            Application::Kenmen => &self.kenmen,
        }
    }

    /// One application's files, mutable.
    pub fn app_mut(&mut self, app: Application) -> &mut ApplicationFiles {
        match app {
            Application::Jpki => &mut self.jpki,
            Application::Kenhojo => &mut self.kenhojo,
            Application::Kenmen => &mut self.kenmen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_counts_down_and_resets() {
        let mut s = Secret::new("1234", 3);
        assert!(!s.attempt(b"0000"));
        assert!(!s.attempt(b"123"));
        assert_eq!(s.tries_left(), 1);
        assert!(s.attempt(b"1234"));
        assert_eq!(s.tries_left(), 3);
        let unusable = Secret::unusable();
        assert!(unusable.is_blocked() && unusable.blocked_from_issue());
    }
}
