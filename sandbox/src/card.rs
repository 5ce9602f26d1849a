//! The virtual card: a pure state machine from command APDU bytes to
//! response bytes. It never panics on input; every malformed or forbidden
//! command gets the status word the real card is known (or, where no source
//! says, believed) to answer.

use mynakit_core::CardCertificate;
use mynakit_core::CommandApdu;
use mynakit_core::StatusWord;
use mynakit_core::layout::{Application, CLA_PROPRIETARY, FileId, data_object, ins, sign_p1};
use rsa::{Pkcs1v15Sign, PrivateKey, Pss};
use sha2::{Digest, Sha256};

use crate::ca::{Hierarchy, SandboxCa};
use crate::error::SandboxError;
use crate::files::{Access, CardFiles, CertificateFiles, ElementaryFile};
use crate::fixtures::FixtureKey;
use crate::holder::{CardConfig, Holder};
use crate::records;

/// The answer to reset of the My Number card (OpenSC card-jpki.c).
pub const ATR: [u8; 9] = [0x3B, 0xE0, 0x00, 0xFF, 0x81, 0x31, 0xFE, 0x45, 0x14];

/// `6981`: command incompatible with the file structure (READ BINARY on a
/// key EF, VERIFY on a data EF).
pub const SW_INCOMPATIBLE_FILE: StatusWord = StatusWord(0x6981);
/// `6A88`: referenced data (a PIN or key named in P2) not found.
pub const SW_REFERENCE_NOT_FOUND: StatusWord = StatusWord(0x6A88);
/// `6F00`: no precise diagnosis (an internal failure; should never happen).
pub const SW_INTERNAL: StatusWord = StatusWord(0x6F00);
/// `6882`: secure messaging not supported — a real card's answer to SELECT
/// with a secure-messaging class byte (CLA `0C`/`08`) [mc].
pub const SW_SM_NOT_SUPPORTED: StatusWord = StatusWord(0x6882);
/// `69FC`: a real card's answer to READ BINARY and VERIFY with a
/// secure-messaging class byte outside a session [mc src/ap/jpki.rs, sm.rs].
pub const SW_SM_REFUSED: StatusWord = StatusWord(0x69FC);
/// `6A83`: record not found (READ RECORD past the last record).
pub const SW_RECORD_NOT_FOUND: StatusWord = StatusWord(0x6A83);

/// The longest input P1 = `00` pads: a 2048-bit modulus less the 11 bytes of
/// PKCS#1 v1.5 type-1 padding (RFC 8017 §9.2).
const MAX_PADDED_INPUT: usize = 256 - 11;

/// What COMPUTE DIGITAL SIGNATURE's P1 asks for (measured by a peer).
#[derive(Clone, Copy)]
enum SignMode {
    /// `00`: the data (normally a DigestInfo) is padded as given.
    DigestInfo,
    /// `01`: the card hashes with SHA-256 and pads the bare hash.
    HashBare,
    /// `02`: the data is a SHA-256 hash the card wraps in a DigestInfo.
    WrapHash,
    /// `03`: the card hashes with SHA-256 and wraps the hash.
    HashWrap,
    /// `04`: the data is a SHA-256 hash, signed RSASSA-PSS.
    PssHash,
    /// `05`: the card hashes with SHA-256 and signs RSASSA-PSS.
    PssData,
}

/// Which JPKI secret the kiosk resets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KioskTarget {
    /// The signing password (the auth PIN is the other secret).
    SigningPassword,
    /// The user-authentication PIN (the signing password is the other one).
    AuthPin,
}

/// Why the card refused the kiosk's reset command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KioskResetError {
    /// The other secret did not match (a try was spent).
    #[error("the other secret is wrong ({tries_left} tries left)")]
    WrongOtherSecret {
        /// Tries left on the other secret.
        tries_left: u8,
    },
    /// The other secret is blocked too: only the municipal office helps (R4).
    #[error("the other secret is blocked")]
    OtherSecretBlocked,
    /// The new secret has the wrong format.
    #[error("the new secret has the wrong format")]
    BadNewSecret,
    /// The card has no such secret (a card without a signing certificate).
    #[error("the card has no such secret")]
    NoSuchSecret,
}

/// A response before encoding: data for `9000`, or a status word alone.
type Answer = Result<Vec<u8>, StatusWord>;

/// The software My Number card. Cloning copies its whole state (files,
/// counters, selection): a cheap way to start many runs from one built card.
#[derive(Clone)]
pub struct VirtualCard {
    holder: Holder,
    files: CardFiles,
    selected: Option<Application>,
    current_ef: Option<FileId>,
    /// PIN/key EFs verified in the selected application since it was selected.
    verified: Vec<FileId>,
    commands: Vec<Vec<u8>>,
    auth_certificate: CardCertificate,
    signing_certificate: Option<CardCertificate>,
    /// The day the certificates in the card were issued.
    issued_on: chrono::NaiveDate,
}

impl std::fmt::Debug for VirtualCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtualCard")
            .field("holder", &self.holder.name)
            .field("selected", &self.selected)
            .field("current_ef", &self.current_ef)
            .field("verified", &self.verified)
            .field("commands", &self.commands.len())
            .finish_non_exhaustive()
    }
}

/// GET CHALLENGE (`00 84 00 00 Le`): Le random bytes, 1 to 256; the real card
/// refuses the extended form with 6985 and answers with or without an
/// application selected [mc src/card.rs].
fn get_challenge(command: &CommandApdu, raw_len: usize) -> Answer {
    if command.p1 != 0 || command.p2 != 0 {
        return Err(StatusWord::INCORRECT_P1P2);
    }
    let Some(ne) = command.ne else {
        return Err(StatusWord::WRONG_LENGTH);
    };
    if !command.data.is_empty() {
        return Err(StatusWord::WRONG_LENGTH);
    }
    // Case 2 short is 5 bytes; anything longer is the extended form.
    if raw_len != 5 {
        return Err(StatusWord::CONDITIONS_NOT_SATISFIED);
    }
    let mut challenge = vec![0u8; usize::try_from(ne).unwrap_or(256).min(256)];
    getrandom::fill(&mut challenge).map_err(|_| SW_INTERNAL)?;
    Ok(challenge)
}

impl VirtualCard {
    /// Builds a card: issues its certificates from the sandbox CA and lays
    /// out the three applications.
    pub fn new(config: CardConfig) -> Result<Self, SandboxError> {
        config.validate()?;
        let ca = SandboxCa::fixture();
        let holder = &config.holder;
        let auth_certificate = ca.issue_authentication(
            holder,
            config.issued_on,
            FixtureKey::CardAuth.private_key().as_public_key(),
        )?;
        let signing_certificate = if config.with_signing_certificate {
            Some(ca.issue_signing(
                holder,
                config.issued_on,
                FixtureKey::CardSigning.private_key().as_public_key(),
            )?)
        } else {
            None
        };
        let files = CardFiles::build(
            &config,
            CertificateFiles {
                auth: auth_certificate.der().to_vec(),
                auth_ca: ca.root(Hierarchy::Authentication).der().to_vec(),
                signing: signing_certificate.as_ref().map(|c| c.der().to_vec()),
                signing_ca: ca.root(Hierarchy::Signing).der().to_vec(),
            },
        )?;
        Ok(Self {
            holder: config.holder.clone(),
            files,
            selected: None,
            current_ef: None,
            verified: Vec::new(),
            commands: Vec::new(),
            auth_certificate,
            signing_certificate,
            issued_on: config.issued_on,
        })
    }

    /// The day the card's certificates were issued (the configuration's
    /// `issued_on`, or the last [`Self::renew_certificates`]).
    pub fn certificates_issued_on(&self) -> chrono::NaiveDate {
        self.issued_on
    }

    /// **Sandbox only**: J-LIS re-issues the card's certificates on
    /// `issued_on` (a renewal at the municipal window, P3/P4): the
    /// authentication certificate and, if the card has one, the signing
    /// certificate, from the sandbox CA, with new serials and a new
    /// validity. A real renewal generates new key pairs in the card; the
    /// sandbox reuses its fixture keys (the certificates are what the
    /// portal and J-LIS's directory follow). The PINs and their counters
    /// are kept, as on a real card.
    pub fn renew_certificates(&mut self, issued_on: chrono::NaiveDate) -> Result<(), SandboxError> {
        let ca = SandboxCa::fixture();
        let auth = ca.issue_authentication(
            &self.holder,
            issued_on,
            FixtureKey::CardAuth.private_key().as_public_key(),
        )?;
        let signing = match self.signing_certificate {
            Some(_) => Some(ca.issue_signing(
                &self.holder,
                issued_on,
                FixtureKey::CardSigning.private_key().as_public_key(),
            )?),
            None => None,
        };
        let jpki_files = self.files.app_mut(Application::Jpki);
        if let Some(ElementaryFile::Data { content, .. }) =
            jpki_files.get_mut(mynakit_core::layout::jpki::AUTH_CERT)
        {
            *content = auth.der().to_vec();
        }
        if let Some(signing) = &signing
            && let Some(ElementaryFile::Data { content, .. }) =
                jpki_files.get_mut(mynakit_core::layout::jpki::SIGNING_CERT)
        {
            *content = signing.der().to_vec();
        }
        self.auth_certificate = auth;
        self.signing_certificate = signing;
        self.issued_on = issued_on;
        Ok(())
    }

    /// The kiosk's reset command (issue 8, R1, R4): checks `other` (the
    /// secret the user did not forget: the auth PIN to reset the signing
    /// password, the signing password to reset the auth PIN), then sets
    /// `new` and resets its counter, unblocking it.
    ///
    /// **Sandbox only.** A real kiosk does this through J-LIS's secure
    /// channel to the card, which this stands in for: it is a method of the
    /// virtual card, not an APDU, so no ordinary command (VERIFY, or any
    /// other the card answers) can set a secret or reset a counter. A wrong
    /// `other` counts against its own tries as a VERIFY would; it is
    /// compared as given (as VERIFY sends it: a signing password in upper
    /// case), while `new` is stored as VERIFY will send it (upper-cased).
    pub fn kiosk_reset(
        &mut self,
        target: KioskTarget,
        other: &str,
        new: &str,
    ) -> Result<(), KioskResetError> {
        use mynakit_core::CardSecret;
        use mynakit_core::layout::jpki;
        // The new secret as VERIFY will send it (a signing password's
        // letters upper-cased), so the core's own types verify it later.
        let (target_file, other_file, normalised) = match target {
            KioskTarget::SigningPassword => (
                jpki::SIGNING_PIN,
                jpki::AUTH_PIN,
                mynakit_core::SigningPassword::new(new)
                    .ok()
                    .map(|p| zeroize::Zeroizing::new(p.verify_data().to_vec())),
            ),
            KioskTarget::AuthPin => (
                jpki::AUTH_PIN,
                jpki::SIGNING_PIN,
                mynakit_core::AuthPin::new(new)
                    .ok()
                    .map(|p| zeroize::Zeroizing::new(p.verify_data().to_vec())),
            ),
        };
        let Some(normalised) = normalised else {
            return Err(KioskResetError::BadNewSecret);
        };
        let Ok(new) = std::str::from_utf8(&normalised) else {
            return Err(KioskResetError::BadNewSecret);
        };
        let app = self.files.app_mut(Application::Jpki);
        match app.get_mut(other_file) {
            Some(ElementaryFile::Secret(secret)) => {
                if secret.is_blocked() {
                    return Err(KioskResetError::OtherSecretBlocked);
                }
                if !secret.attempt(other.as_bytes()) {
                    return Err(KioskResetError::WrongOtherSecret {
                        tries_left: secret.tries_left(),
                    });
                }
            }
            _ => return Err(KioskResetError::NoSuchSecret),
        }
        match app.get_mut(target_file) {
            Some(ElementaryFile::Secret(secret)) => {
                secret.replace(new);
                Ok(())
            }
            _ => Err(KioskResetError::NoSuchSecret),
        }
    }

    /// The sample holder's card ([`CardConfig::sample`]).
    pub fn sample() -> Self {
        Self::new(CardConfig::sample()).expect("the sample configuration is valid")
    }

    /// The answer to reset.
    pub fn atr(&self) -> &'static [u8] {
        &ATR
    }

    /// Power off and on (removal, reset): selection, current EF and security
    /// state are lost; retry counters are stored in the chip and survive.
    pub fn power_cycle(&mut self) {
        self.selected = None;
        self.current_ef = None;
        self.verified.clear();
    }

    /// Processes one command APDU and returns response data followed by SW1 SW2.
    pub fn process(&mut self, command: &[u8]) -> Vec<u8> {
        self.commands.push(command.to_vec());
        match self.dispatch(command) {
            Ok(mut data) => {
                data.extend_from_slice(&StatusWord::OK.to_bytes());
                data
            }
            Err(sw) => sw.to_bytes().to_vec(),
        }
    }

    /// Every command received since the card was built, raw and in order.
    /// For test inspection: VERIFY data (PINs) is included.
    pub fn commands_received(&self) -> &[Vec<u8>] {
        &self.commands
    }

    /// Tries left of a PIN/key EF; `None` if `file` is not one.
    pub fn tries_left(&self, app: Application, file: FileId) -> Option<u8> {
        match self.files.app(app).get(file) {
            Some(ElementaryFile::Secret(secret)) => Some(secret.tries_left()),
            _ => None,
        }
    }

    /// The application currently selected.
    pub fn selected_application(&self) -> Option<Application> {
        self.selected
    }

    /// True when `file` (a PIN/key EF) is verified in the selected application.
    pub fn is_verified(&self, file: FileId) -> bool {
        self.verified.contains(&file)
    }

    /// The bytes of a data EF, regardless of access conditions.
    pub fn ef_content(&self, app: Application, file: FileId) -> Option<&[u8]> {
        match self.files.app(app).get(file) {
            Some(ElementaryFile::Data { content, .. }) => Some(content),
            _ => None,
        }
    }

    /// The user-authentication certificate (EF 000A).
    pub fn auth_certificate(&self) -> &CardCertificate {
        &self.auth_certificate
    }

    /// The signing certificate (EF 0001), absent on a child's card.
    pub fn signing_certificate(&self) -> Option<&CardCertificate> {
        self.signing_certificate.as_ref()
    }

    /// The authentication root (EF 000B).
    pub fn auth_root_certificate(&self) -> &'static CardCertificate {
        SandboxCa::fixture().root(Hierarchy::Authentication)
    }

    /// The signing root (EF 0002).
    pub fn signing_root_certificate(&self) -> &'static CardCertificate {
        SandboxCa::fixture().root(Hierarchy::Signing)
    }

    /// The holder.
    pub fn holder(&self) -> &Holder {
        &self.holder
    }

    /// The files, for the saved state ([`crate::card_state`]).
    pub(crate) fn files(&self) -> &CardFiles {
        &self.files
    }

    /// The files, mutable, to put a saved state back ([`crate::card_state`]).
    pub(crate) fn files_mut(&mut self) -> &mut CardFiles {
        &mut self.files
    }

    fn dispatch(&mut self, raw: &[u8]) -> Answer {
        let [cla, instruction, ..] = *raw else {
            return Err(StatusWord::WRONG_LENGTH);
        };
        if raw.len() < 4 {
            return Err(StatusWord::WRONG_LENGTH);
        }
        if matches!(cla, 0x08 | 0x0C) {
            // Secure-messaging class bytes outside a session, as measured on a
            // real card [mc]: SELECT 6882, READ BINARY and VERIFY 69FC. The
            // other instructions are assumed to answer like READ BINARY.
            return Err(if instruction == ins::SELECT {
                SW_SM_NOT_SUPPORTED
            } else {
                SW_SM_REFUSED
            });
        }
        if cla != 0x00 && cla != CLA_PROPRIETARY {
            return Err(StatusWord::CLA_NOT_SUPPORTED);
        }
        let known = matches!(
            (cla, instruction),
            (0x00, ins::SELECT)
                | (0x00, ins::READ_BINARY)
                | (0x00, ins::READ_RECORD)
                | (0x00, ins::VERIFY)
                | (0x00, ins::GET_CHALLENGE)
                | (0x00, ins::GET_DATA)
                | (0x00, ins::INTERNAL_AUTHENTICATE)
                | (CLA_PROPRIETARY, ins::COMPUTE_DIGITAL_SIGNATURE)
        );
        if !known {
            // Includes GET RESPONSE: the card never sends 61xx.
            return Err(StatusWord::INS_NOT_SUPPORTED);
        }
        let command = CommandApdu::parse(raw).map_err(|_| StatusWord::WRONG_LENGTH)?;
        match instruction {
            ins::SELECT => self.select(&command),
            ins::READ_BINARY => self.read_binary(&command),
            ins::READ_RECORD => self.read_record(&command),
            ins::VERIFY => self.verify(&command),
            ins::GET_CHALLENGE => get_challenge(&command, raw.len()),
            ins::GET_DATA => self.get_data(&command),
            ins::INTERNAL_AUTHENTICATE => self.internal_authenticate(&command),
            _ => self.compute_signature(&command),
        }
    }

    /// READ RECORD: P1 the record number (from 1), P2 `04` (current EF) or
    /// `SFI << 3 | 04` (ISO 7816-4 §11.3.3; myna-card uses `00 B2 01 04`).
    fn read_record(&mut self, command: &CommandApdu) -> Answer {
        let Some(ne) = command.ne else {
            return Err(StatusWord::WRONG_LENGTH);
        };
        if !command.data.is_empty() {
            return Err(StatusWord::WRONG_LENGTH);
        }
        if command.p2 & 0x07 != 0x04 || command.p1 == 0 {
            return Err(StatusWord::INCORRECT_P1P2);
        }
        let app = self.selected.ok_or(StatusWord::NO_CURRENT_EF)?;
        let file = match command.p2 >> 3 {
            0 => self.current_ef.ok_or(StatusWord::NO_CURRENT_EF)?,
            sfi => {
                let file = FileId(sfi);
                if self.files.app(app).get(file).is_none() {
                    return Err(StatusWord::FILE_NOT_FOUND);
                }
                self.current_ef = Some(file);
                file
            }
        };
        match self.files.app(app).get(file) {
            Some(ElementaryFile::Records { records, read }) => {
                if !self.granted(*read) {
                    return Err(StatusWord::SECURITY_STATUS_NOT_SATISFIED);
                }
                let record = records
                    .get(usize::from(command.p1) - 1)
                    .ok_or(SW_RECORD_NOT_FOUND)?;
                if usize::try_from(ne).unwrap_or(usize::MAX) < record.len() {
                    // ISO 7816-4: the exact length to ask for.
                    return Err(StatusWord(0x6C00 | (record.len() as u16 & 0xFF)));
                }
                Ok(record.clone())
            }
            Some(_) => Err(SW_INCOMPATIBLE_FILE),
            None => Err(StatusWord::FILE_NOT_FOUND),
        }
    }

    /// GET DATA: the MF-level objects while no application is selected;
    /// with one selected only the contact ATR (`5F51`) answers [mc src/mf.rs].
    fn get_data(&self, command: &CommandApdu) -> Answer {
        let Some(ne) = command.ne else {
            return Err(StatusWord::WRONG_LENGTH);
        };
        if !command.data.is_empty() {
            return Err(StatusWord::WRONG_LENGTH);
        }
        let tag = u16::from_be_bytes([command.p1, command.p2]);
        let object = if tag == data_object::CONTACT_ATR {
            // The ATR without TS. The sandbox's ATR has no historical bytes,
            // like the contact ATR myna-card read from a card.
            ATR.get(1..).unwrap_or_default().to_vec()
        } else if self.selected.is_none() {
            self.files
                .data_object(tag)
                .ok_or(SW_REFERENCE_NOT_FOUND)?
                .to_vec()
        } else {
            return Err(SW_REFERENCE_NOT_FOUND);
        };
        if usize::try_from(ne).unwrap_or(usize::MAX) < object.len() {
            // A real card refuses a too-short Le on its big objects with 6700 [mc].
            return Err(StatusWord::WRONG_LENGTH);
        }
        Ok(object)
    }

    /// INTERNAL AUTHENTICATE (`00 88 00 (80|SFI) Lc challenge Le`): only the
    /// common card AP's EF 0019 answers, with no PIN; the card signs
    /// DigestInfo(SHA-256(challenge)), PKCS#1 v1.5, 1–255 challenge bytes.
    /// Keys behind a PIN answer 6982, the Kenhojo/Kenmen keys 6985 [mc src/card.rs].
    fn internal_authenticate(&self, command: &CommandApdu) -> Answer {
        if command.p1 != 0x00 {
            return Err(StatusWord::INCORRECT_P1P2);
        }
        if command.data.is_empty() || command.data.len() > 255 || command.ne.is_none() {
            return Err(StatusWord::WRONG_LENGTH);
        }
        if command.p2 == 0x00 {
            let app = self.selected.ok_or(SW_REFERENCE_NOT_FOUND)?;
            return Err(match self.files.app(app).default_key() {
                Some(_) => StatusWord::CONDITIONS_NOT_SATISFIED,
                None => SW_REFERENCE_NOT_FOUND,
            });
        }
        let (app, file) = self.referenced_file(command.p2)?;
        match self.files.app(app).get(file) {
            Some(ElementaryFile::AuthenticationKey(key)) => key
                .sign(
                    Pkcs1v15Sign::new::<Sha256>(),
                    &Sha256::digest(&command.data),
                )
                .map_err(|_| SW_INTERNAL),
            Some(ElementaryFile::Key { .. }) => Err(StatusWord::SECURITY_STATUS_NOT_SATISFIED),
            Some(_) => Err(SW_INCOMPATIBLE_FILE),
            None => Err(SW_REFERENCE_NOT_FOUND),
        }
    }

    fn select(&mut self, command: &CommandApdu) -> Answer {
        // P2 0C = no FCI; 00 (first occurrence, FCI asked) gets the same empty answer.
        let p2_ok = matches!(command.p2, 0x0C | 0x00);
        match command.p1 {
            0x04 if p2_ok => {
                if command.data.is_empty() {
                    return Err(StatusWord::WRONG_LENGTH);
                }
                let app = Application::from_aid(&command.data).ok_or(StatusWord::FILE_NOT_FOUND)?;
                if self.selected != Some(app) {
                    self.verified.clear();
                }
                self.selected = Some(app);
                self.current_ef = None;
                Ok(Vec::new())
            }
            0x02 if p2_ok => {
                let [high, low] = command.data[..] else {
                    return Err(StatusWord::WRONG_LENGTH);
                };
                let app = self.selected.ok_or(StatusWord::FILE_NOT_FOUND)?;
                let file = FileId(low);
                if high != 0 || self.files.app(app).get(file).is_none() {
                    return Err(StatusWord::FILE_NOT_FOUND);
                }
                self.current_ef = Some(file);
                Ok(Vec::new())
            }
            // SELECT MF (P1 00) answers 6A86 on a real card after reset.
            _ => Err(StatusWord::INCORRECT_P1P2),
        }
    }

    fn read_binary(&mut self, command: &CommandApdu) -> Answer {
        let Some(ne) = command.ne else {
            return Err(StatusWord::WRONG_LENGTH);
        };
        if !command.data.is_empty() {
            return Err(StatusWord::WRONG_LENGTH);
        }
        let (file, offset) = if command.p1 & 0x80 != 0 {
            // Short EF identifier in P1, 8-bit offset in P2 (ISO 7816-4 §11.2.2).
            let sfi = command.p1 & 0x1F;
            if command.p1 & 0x60 != 0 || sfi == 0 {
                return Err(StatusWord::INCORRECT_P1P2);
            }
            let app = self.selected.ok_or(StatusWord::FILE_NOT_FOUND)?;
            let file = FileId(sfi);
            if self.files.app(app).get(file).is_none() {
                return Err(StatusWord::FILE_NOT_FOUND);
            }
            // Referencing an EF by SFI makes it the current EF.
            self.current_ef = Some(file);
            (file, usize::from(command.p2))
        } else {
            let file = self.current_ef.ok_or(StatusWord::NO_CURRENT_EF)?;
            (
                file,
                usize::from(u16::from_be_bytes([command.p1, command.p2])),
            )
        };
        let app = self.selected.ok_or(StatusWord::NO_CURRENT_EF)?;
        match self.files.app(app).get(file) {
            Some(ElementaryFile::Data { content, read }) => {
                if !self.granted(*read) {
                    return Err(StatusWord::SECURITY_STATUS_NOT_SATISFIED);
                }
                if offset >= content.len() {
                    return Err(StatusWord::OFFSET_OUTSIDE_EF);
                }
                // The end of the file gives fewer bytes with 9000, never 6282.
                let end = content
                    .len()
                    .min(offset.saturating_add(usize::try_from(ne).unwrap_or(usize::MAX)));
                Ok(content.get(offset..end).unwrap_or_default().to_vec())
            }
            Some(_) => Err(SW_INCOMPATIBLE_FILE),
            None => Err(StatusWord::FILE_NOT_FOUND),
        }
    }

    fn granted(&self, access: Access) -> bool {
        match access {
            Access::Free => true,
            Access::AnyOf(keys) => keys.iter().any(|k| self.verified.contains(k)),
            Access::Never => false,
        }
    }

    /// The EF a VERIFY or COMPUTE DIGITAL SIGNATURE P2 names: `80` = the
    /// current EF, `80 | SFI` = that EF.
    fn referenced_file(&self, p2: u8) -> Result<(Application, FileId), StatusWord> {
        if p2 & 0xE0 != 0x80 {
            return Err(StatusWord::INCORRECT_P1P2);
        }
        let file = match p2 & 0x1F {
            0 => self.current_ef.ok_or(StatusWord::NO_CURRENT_EF)?,
            sfi => FileId(sfi),
        };
        let app = self.selected.ok_or(SW_REFERENCE_NOT_FOUND)?;
        Ok((app, file))
    }

    fn verify(&mut self, command: &CommandApdu) -> Answer {
        if command.p1 != 0x00 {
            return Err(StatusWord::INCORRECT_P1P2);
        }
        let (app, file) = self.referenced_file(command.p2)?;
        let secret = match self.files.app_mut(app).get_mut(file) {
            Some(ElementaryFile::Secret(secret)) => secret,
            Some(_) => return Err(SW_INCOMPATIBLE_FILE),
            None => return Err(SW_REFERENCE_NOT_FOUND),
        };
        // VERIFY returns no data: any Le is a length error (a real card
        // answered 6700 to `00 20 00 80 00`).
        if command.ne.is_some() {
            return Err(StatusWord::WRONG_LENGTH);
        }
        if command.data.is_empty() {
            // Bare VERIFY: report the counter, never change anything, even
            // right after a successful VERIFY (so "logged in" cannot be read).
            // A blocked secret reports 63C0 — no try left — whether blocked
            // from issue or by wrong tries; VERIFY with data then answers
            // 6984 [mc src/ap/text.rs, card-protocol.md 2026-11-30].
            return Err(StatusWord::verify_failed(if secret.is_blocked() {
                0
            } else {
                secret.tries_left()
            }));
        }
        if secret.is_blocked() {
            return Err(StatusWord::REFERENCE_DATA_NOT_USABLE);
        }
        if secret.attempt(&command.data) {
            if !self.verified.contains(&file) {
                self.verified.push(file);
            }
            Ok(Vec::new())
        } else {
            let left = secret.tries_left();
            self.verified.retain(|f| *f != file);
            Err(StatusWord::verify_failed(left))
        }
    }

    fn compute_signature(&mut self, command: &CommandApdu) -> Answer {
        let mode = match command.p1 {
            sign_p1::DIGEST_INFO => SignMode::DigestInfo,
            sign_p1::HASH_BARE => SignMode::HashBare,
            sign_p1::WRAP_HASH => SignMode::WrapHash,
            sign_p1::HASH_WRAP => SignMode::HashWrap,
            sign_p1::PSS_HASH => SignMode::PssHash,
            sign_p1::PSS_DATA => SignMode::PssData,
            _ => return Err(StatusWord::INCORRECT_P1P2),
        };
        let key = self.signing_key(command.p2)?;
        // The answer is the whole 256-byte signature with 9000 (never 61xx),
        // so the command must ask for it.
        if command.data.is_empty() || command.ne.is_none_or(|ne| ne < 256) {
            return Err(StatusWord::WRONG_LENGTH);
        }
        let payload = match mode {
            // The card pads whatever it is given (measured by myna-card): a
            // DigestInfo yields a standard signature, a bare hash a useless one.
            SignMode::DigestInfo if command.data.len() > MAX_PADDED_INPUT => {
                return Err(StatusWord::WRONG_LENGTH);
            }
            SignMode::DigestInfo => command.data.clone(),
            SignMode::HashBare => Sha256::digest(&command.data).to_vec(),
            SignMode::WrapHash => {
                if command.data.len() != 32 {
                    return Err(StatusWord::WRONG_LENGTH);
                }
                records::sha256_digest_info(&command.data)
            }
            SignMode::HashWrap => records::sha256_digest_info(&Sha256::digest(&command.data)),
            SignMode::PssHash | SignMode::PssData => {
                let hash = match mode {
                    SignMode::PssHash if command.data.len() != 32 => {
                        return Err(StatusWord::WRONG_LENGTH);
                    }
                    SignMode::PssHash => command.data.clone(),
                    _ => Sha256::digest(&command.data).to_vec(),
                };
                // RSASSA-PSS, SHA-256, MGF1-SHA-256, salt 32 (the hash
                // length), a fresh random salt each time like the real card.
                return key
                    .sign_with_rng(&mut getrandom::SysRng, Pss::<Sha256>::new(), &hash)
                    .map_err(|_| SW_INTERNAL);
            }
        };
        records::sign_padded(key, &payload).map_err(|_| SW_INTERNAL)
    }

    /// The key P2 names, once its PIN is verified in this session.
    fn signing_key(&self, p2: u8) -> Result<&'static PrivateKey, StatusWord> {
        if p2 == 0x00 {
            // Kenhojo/Kenmen sign with their own key without a PIN.
            let app = self.selected.ok_or(SW_REFERENCE_NOT_FOUND)?;
            return self
                .files
                .app(app)
                .default_key()
                .ok_or(StatusWord::INCORRECT_P1P2);
        }
        let (app, file) = self.referenced_file(p2)?;
        match self.files.app(app).get(file) {
            Some(ElementaryFile::Key { key, unlocked_by })
                if self.verified.contains(unlocked_by) =>
            {
                Ok(*key)
            }
            Some(ElementaryFile::Key { .. }) => Err(StatusWord::SECURITY_STATUS_NOT_SATISFIED),
            Some(_) => Err(SW_INCOMPATIBLE_FILE),
            None => Err(SW_REFERENCE_NOT_FOUND),
        }
    }
}
