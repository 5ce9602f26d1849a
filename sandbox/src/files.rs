//! The card's elementary files and who may use them: what each EF of each
//! application holds, which PIN or key opens it, and the retry counters.

use std::collections::BTreeMap;

use mynakit_core::layout::{Application, FileId, common, data_object, jpki, kenhojo, kenmen};
use rsa::PrivateKey;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::SandboxError;
use crate::fixtures::FixtureKey;
use crate::holder::CardConfig;
use crate::records;

/// The issuing municipality's code (全国地方公共団体コード) every sandbox
/// card carries: 13101, Chiyoda-ku, Tokyo, where the sample holder lives.
pub const MUNICIPALITY_CODE: &str = "13101";

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
    /// By no one the sandbox knows of: READ BINARY answers `6982` whatever
    /// was verified (JPKI EF 0009 on a real card, per myna-card).
    Never,
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

    /// True when VERIFY can no longer succeed.
    pub fn is_blocked(&self) -> bool {
        self.value.is_none() || self.tries_left == 0
    }

    /// Sets a new value and resets the counter to the maximum (unblocking a
    /// blocked secret): only the kiosk reset command does this
    /// ([`crate::VirtualCard::kiosk_reset`]); no APDU can.
    pub(crate) fn replace(&mut self, value: &str) {
        self.value = Some(Zeroizing::new(value.as_bytes().to_vec()));
        self.tries_left = self.max_tries;
    }

    /// The value, for the sandbox card's saved state
    /// ([`crate::card_state`]); `None` when no value can match.
    pub(crate) fn value(&self) -> Option<&[u8]> {
        self.value.as_deref().map(Vec::as_slice)
    }

    /// The counter's maximum.
    pub(crate) fn max_tries(&self) -> u8 {
        self.max_tries
    }

    /// Puts back a saved value and counter ([`crate::card_state`]): the
    /// state the card had when the last command ended.
    pub(crate) fn restore(&mut self, value: Option<&[u8]>, tries_left: u8) {
        self.value = value.map(|v| Zeroizing::new(v.to_vec()));
        self.tries_left = tries_left.min(self.max_tries);
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
    /// A record EF (READ RECORD; READ BINARY answers `6981`).
    Records {
        /// Records 1, 2, … in order.
        records: Vec<Vec<u8>>,
        /// Who may read it.
        read: Access,
    },
    /// A key INTERNAL AUTHENTICATE signs with, without any PIN (the common
    /// card AP's EF 0019).
    AuthenticationKey(&'static PrivateKey),
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

    /// Every PIN or check-code EF, by id (the card's mutable state).
    pub(crate) fn secrets(&self) -> impl Iterator<Item = (FileId, &Secret)> {
        self.files.iter().filter_map(|(id, file)| match file {
            ElementaryFile::Secret(secret) => Some((FileId(*id), secret)),
            _ => None,
        })
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

    fn records(&mut self, id: FileId, records: Vec<Vec<u8>>, read: Access) {
        self.files
            .insert(id.0, ElementaryFile::Records { records, read });
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

/// All four applications.
#[derive(Clone)]
pub struct CardFiles {
    jpki: ApplicationFiles,
    kenhojo: ApplicationFiles,
    kenmen: ApplicationFiles,
    common: ApplicationFiles,
    /// GET DATA objects answered with no application selected, by tag.
    data_objects: BTreeMap<u16, Vec<u8>>,
}

const KENHOJO_EF1_KEYS: &[FileId] = &[kenhojo::PIN, kenhojo::CHECK_CODE_A];
const KENHOJO_EF2_KEYS: &[FileId] = &[kenhojo::PIN, kenhojo::CHECK_CODE_B];
const KENHOJO_EF3_KEYS: &[FileId] = &[kenhojo::PIN];
/// Kenhojo EF 0006 and 0007: "the PIN or either 照合番号" (myna-card
/// src/ap/text.rs, measured). EF 0008's condition is not published; the same
/// is assumed.
const KENHOJO_ANY_KEY: &[FileId] = &[kenhojo::PIN, kenhojo::CHECK_CODE_A, kenhojo::CHECK_CODE_B];
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

        // Content unknown and never readable: sixteen FF bytes as a placeholder.
        jpki_files.data(jpki::PROTECTED_0009, vec![0xFF; 16], Access::Never)?;

        let ids = records::KeyIds::for_card();
        let mut kenhojo_files = ApplicationFiles {
            default_key: Some(card_ap_key),
            ..Default::default()
        };
        let ef1 = records::kenhojo_my_number(&holder.my_number);
        let ef2 = records::kenhojo_basic_four(holder)?;
        let kenhojo_issuer = FixtureKey::KenhojoIssuer.private_key();
        let ef3 = records::kenhojo_integrity(&ef1, &ef2, kenhojo_issuer)?;
        kenhojo_files.data(kenhojo::MY_NUMBER, ef1, Access::AnyOf(KENHOJO_EF1_KEYS))?;
        kenhojo_files.data(kenhojo::BASIC_FOUR, ef2, Access::AnyOf(KENHOJO_EF2_KEYS))?;
        kenhojo_files.data(kenhojo::SIGNATURE, ef3, Access::AnyOf(KENHOJO_EF3_KEYS))?;
        kenhojo_files.data(
            kenhojo::CV_CERTIFICATE,
            records::cv_certificate(
                &ids.kenhojo_ca,
                &ids.kenhojo_issuer,
                kenhojo_issuer.as_public_key(),
                FixtureKey::KenhojoCvCa.private_key(),
            )?,
            Access::Free,
        )?;
        kenhojo_files.data(
            kenhojo::AP_BASIC_DATA,
            records::kenhojo_ap_basic_data(&ids.kenhojo_basic),
            Access::Free,
        )?;
        kenhojo_files.data(
            kenhojo::SESSION_KEY_PUBLIC_KEY,
            records::session_key_public_key(
                FixtureKey::KenhojoSession.private_key().as_public_key(),
            ),
            Access::AnyOf(KENHOJO_ANY_KEY),
        )?;
        kenhojo_files.data(
            kenhojo::SIGNED_PUBLIC_KEY,
            records::signed_public_key(card_ap_key.as_public_key(), kenhojo_issuer)?,
            Access::AnyOf(KENHOJO_ANY_KEY),
        )?;
        kenhojo_files.data(
            kenhojo::UNKNOWN_0008,
            vec![0xFF; 16],
            Access::AnyOf(KENHOJO_ANY_KEY),
        )?;
        kenhojo_files.secret(
            kenhojo::PIN,
            Secret::new(&config.secrets.kenhojo_pin, tries.kenhojo_pin),
        );
        kenhojo_files.secret(kenhojo::BLOCKED_0012, Secret::unusable());
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
            kenmen::AP_BASIC_DATA,
            records::kenmen_ap_basic_data(&ids, MUNICIPALITY_CODE),
            Access::Free,
        )?;
        kenmen_files.data(
            kenmen::CV_CERTIFICATE,
            records::cv_certificate(
                &ids.kenmen_ca,
                &ids.kenmen_issuer,
                issuer.as_public_key(),
                FixtureKey::KenmenCvCa.private_key(),
            )?,
            Access::Free,
        )?;
        kenmen_files.data(
            kenmen::UNKNOWN_0006,
            vec![0xFF; 16],
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

        // The common card AP: a 15-digit serial stable per card, from the
        // same digest as the JPKI token serial.
        let card_serial: String = digest
            .iter()
            .take(15)
            .map(|b| char::from(b'0' + b % 10))
            .collect();
        let expiry = holder.card_expiry.format("%Y%m%d").to_string();
        let mut common_files = ApplicationFiles::default();
        common_files.records(
            common::CARD_INFO,
            vec![records::common_card_info(
                &card_serial,
                MUNICIPALITY_CODE,
                &expiry,
            )],
            Access::Free,
        );
        common_files.data(
            common::KEY_REFERENCE,
            ids.common_reference.to_vec(),
            Access::Free,
        )?;
        common_files.files.insert(
            common::INTERNAL_AUTH_KEY.0,
            ElementaryFile::AuthenticationKey(FixtureKey::CommonAuth.private_key()),
        );
        // Its PIN is normally set to the same 4 digits as the JPKI auth PIN
        // (assumed; the sandbox uses the auth PIN and its retry limit).
        common_files.secret(
            common::PIN,
            Secret::new(&config.secrets.auth_pin, tries.auth_pin),
        );

        let mut data_objects = BTreeMap::new();
        data_objects.insert(
            data_object::CARD_IDENTIFICATION,
            card_serial.clone().into_bytes(),
        );
        data_objects.insert(
            data_object::MUNICIPALITY_CODE,
            MUNICIPALITY_CODE.as_bytes().to_vec(),
        );
        data_objects.insert(data_object::EXPIRY, expiry.into_bytes());
        data_objects.insert(
            data_object::ISSUER_IDENTIFICATION,
            ids.common_reference.to_vec(),
        );

        Ok(Self {
            jpki: jpki_files,
            kenhojo: kenhojo_files,
            kenmen: kenmen_files,
            common: common_files,
            data_objects,
        })
    }

    /// One application's files.
    pub fn app(&self, app: Application) -> &ApplicationFiles {
        match app {
            Application::Jpki => &self.jpki,
            Application::Kenhojo => &self.kenhojo,
            Application::Kenmen => &self.kenmen,
            Application::Common => &self.common,
        }
    }

    /// One application's files, mutable.
    pub fn app_mut(&mut self, app: Application) -> &mut ApplicationFiles {
        match app {
            Application::Jpki => &mut self.jpki,
            Application::Kenhojo => &mut self.kenhojo,
            Application::Kenmen => &mut self.kenmen,
            Application::Common => &mut self.common,
        }
    }

    /// A GET DATA object answered with no application selected.
    pub fn data_object(&self, tag: u16) -> Option<&[u8]> {
        self.data_objects.get(&tag).map(Vec::as_slice)
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
        assert!(unusable.is_blocked());
        assert_eq!(unusable.tries_left(), 0);
    }
}
