//! The card's file layout: application identifiers, elementary files and
//! instruction bytes (facts in `shared/spec/card-protocol.md`). The virtual
//! card uses the same constants, so client and card cannot drift apart.

use serde::Serialize;

/// Instruction bytes used with this card.
pub mod ins {
    /// SELECT.
    pub const SELECT: u8 = 0xA4;
    /// READ BINARY.
    pub const READ_BINARY: u8 = 0xB0;
    /// VERIFY.
    pub const VERIFY: u8 = 0x20;
    /// COMPUTE DIGITAL SIGNATURE (proprietary class `80`).
    pub const COMPUTE_DIGITAL_SIGNATURE: u8 = 0x2A;
    /// GET RESPONSE.
    pub const GET_RESPONSE: u8 = 0xC0;
    /// READ RECORD (the common card AP's record EFs) [mc src/ap/common.rs].
    pub const READ_RECORD: u8 = 0xB2;
    /// GET CHALLENGE: `00 84 00 00 Le`, 1–256 random bytes [mc src/card.rs].
    pub const GET_CHALLENGE: u8 = 0x84;
    /// INTERNAL AUTHENTICATE (the common card AP's EF 0019) [mc src/card.rs].
    pub const INTERNAL_AUTHENTICATE: u8 = 0x88;
    /// GET DATA: data objects with no EF (see [`super::data_object`]) [mc src/mf.rs].
    pub const GET_DATA: u8 = 0xCA;
}

/// COMPUTE DIGITAL SIGNATURE P1 (the scheme), measured on a real card by
/// myna-card (`src/ap/jpki.rs`); any other P1 answers `6A86`.
pub mod sign_p1 {
    /// PKCS#1 v1.5 over the data as given (normally a DigestInfo).
    pub const DIGEST_INFO: u8 = 0x00;
    /// The card hashes with SHA-256 and pads the bare hash (PKCS#1 v1.5).
    pub const HASH_BARE: u8 = 0x01;
    /// The data is a SHA-256 hash; the card wraps it in a DigestInfo (PKCS#1 v1.5).
    pub const WRAP_HASH: u8 = 0x02;
    /// The card hashes with SHA-256 and wraps the hash (PKCS#1 v1.5).
    pub const HASH_WRAP: u8 = 0x03;
    /// The data is a SHA-256 hash, signed RSASSA-PSS (MGF1-SHA-256, salt 32).
    pub const PSS_HASH: u8 = 0x04;
    /// The card hashes with SHA-256 and signs RSASSA-PSS (MGF1-SHA-256, salt 32).
    pub const PSS_DATA: u8 = 0x05;
}

/// GET DATA tags (P1-P2) the real card answers with no application
/// selected, found by sweeping P1-P2 [mc src/mf.rs]; `5F51` answers with an
/// application selected too (on some cards only then). Others: `6A88`.
pub mod data_object {
    /// Issuer identification number: a 16-byte key reference.
    pub const ISSUER_IDENTIFICATION: u16 = 0x0042;
    /// Card identification number, ASCII.
    pub const CARD_IDENTIFICATION: u16 = 0x0045;
    /// GlobalPlatform card recognition data.
    pub const CARD_RECOGNITION: u16 = 0x0066;
    /// The issuing municipality's code (全国地方公共団体コード), 5 ASCII digits.
    pub const MUNICIPALITY_CODE: u16 = 0x00F0;
    /// The card's expiry, `YYYYMMDD` ASCII.
    pub const EXPIRY: u16 = 0x00F2;
    /// Key identifier of the intermediate that signs [`CHAIN_LOWER`].
    pub const INTERMEDIATE_KEY_ID: u16 = 0x00F7;
    /// Card-verifiable certificate: root over the intermediate.
    pub const CHAIN_UPPER: u16 = 0x00F8;
    /// Card-verifiable certificate: intermediate over the key below (absent on some cards).
    pub const CHAIN_LOWER: u16 = 0x7F21;
    /// The contact-interface ATR without its initial `TS`.
    pub const CONTACT_ATR: u16 = 0x5F51;
}

/// Class byte of COMPUTE DIGITAL SIGNATURE on this card.
pub const CLA_PROPRIETARY: u8 = 0x80;

/// An application on the card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Application {
    /// 公的個人認証 (JPKI): certificates and the two RSA keys.
    Jpki,
    /// 券面事項入力補助 (Kenhojo): text of the card face and the My Number.
    Kenhojo,
    /// 券面事項確認 (Kenmen): images of the card face, face photo.
    Kenmen,
    /// 共通カードAP (the common card application): the card's serial,
    /// municipality and expiry, and a PIN-less INTERNAL AUTHENTICATE key
    /// [mc src/ap/common.rs].
    Common,
}

impl Application {
    /// The application identifier.
    pub const fn aid(self) -> &'static [u8] {
        match self {
            Self::Jpki => &[0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01],
            Self::Kenhojo => &[0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x04, 0x08],
            Self::Kenmen => &[0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x04, 0x02],
            Self::Common => &[0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x01, 0x00],
        }
    }

    /// The application that has this AID.
    pub fn from_aid(aid: &[u8]) -> Option<Self> {
        [Self::Jpki, Self::Kenhojo, Self::Kenmen, Self::Common]
            .into_iter()
            .find(|app| app.aid() == aid)
    }
}

/// An elementary file identifier. On this card every EF id is `00xx` with
/// `xx` < 0x20, so the low byte doubles as the short EF identifier (SFI).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct FileId(pub u8);

impl FileId {
    /// The two-byte file identifier used by SELECT.
    pub const fn fid(self) -> [u8; 2] {
        [0x00, self.0]
    }

    /// READ BINARY P1 selecting this EF by SFI (`0x80 | SFI`).
    pub const fn read_p1(self) -> u8 {
        0x80 | self.0
    }

    /// VERIFY / COMPUTE DIGITAL SIGNATURE P2 naming this EF by SFI (`0x80 | SFI`).
    pub const fn reference_p2(self) -> u8 {
        0x80 | self.0
    }
}

/// True when `pin` in `app` is a code derived from the card itself (照合番号A
/// or B, the Kenmen birth-date key) rather than a PIN the holder chose.
pub fn is_card_derived_code(app: Application, pin: FileId) -> bool {
    match app {
        Application::Jpki | Application::Common => false,
        Application::Kenhojo => [kenhojo::CHECK_CODE_A, kenhojo::CHECK_CODE_B].contains(&pin),
        Application::Kenmen => [
            kenmen::CHECK_CODE_A,
            kenmen::CHECK_CODE_B,
            kenmen::BIRTH_DATE_KEY,
        ]
        .contains(&pin),
    }
}

/// JPKI application files.
pub mod jpki {
    use super::FileId;
    /// Signing certificate (readable after the signing password).
    pub const SIGNING_CERT: FileId = FileId(0x01);
    /// Signing CA certificate.
    pub const SIGNING_CA_CERT: FileId = FileId(0x02);
    /// Token information (160 bytes; 32-byte label first).
    pub const TOKEN_INFO: FileId = FileId(0x06);
    /// Which certificates the card holds.
    pub const CERT_PRESENCE: FileId = FileId(0x08);
    /// A protected EF of unknown content: no PIN, password or terminal
    /// certificate made it readable on a real card [mc src/ap/jpki.rs].
    pub const PROTECTED_0009: FileId = FileId(0x09);
    /// User-authentication certificate.
    pub const AUTH_CERT: FileId = FileId(0x0A);
    /// User-authentication CA certificate.
    pub const AUTH_CA_CERT: FileId = FileId(0x0B);
    /// User-authentication private key.
    pub const AUTH_KEY: FileId = FileId(0x17);
    /// User-authentication PIN (4 digits, 3 tries).
    pub const AUTH_PIN: FileId = FileId(0x18);
    /// Signing private key.
    pub const SIGNING_KEY: FileId = FileId(0x1A);
    /// Signing password (6–16 of A–Z, 0–9; 5 tries).
    pub const SIGNING_PIN: FileId = FileId(0x1B);
}

/// Kenhojo (card-info input support) application files.
pub mod kenhojo {
    use super::FileId;
    /// The My Number (`FF 10 0C` + 12 digits).
    pub const MY_NUMBER: FileId = FileId(0x01);
    /// The basic four: name, address, birth date, sex.
    pub const BASIC_FOUR: FileId = FileId(0x02);
    /// Integrity record (hashes and signature).
    pub const SIGNATURE: FileId = FileId(0x03);
    /// The application's card-verifiable certificate (`7F21`), free to read;
    /// its key verifies EF 0003 and EF 0007 [mc src/ap/text.rs].
    pub const CV_CERTIFICATE: FileId = FileId(0x04);
    /// Application basic data (`FF40`: identification, a key id, 128 bytes of
    /// unknown meaning), free to read [mc src/ap/text.rs].
    pub const AP_BASIC_DATA: FileId = FileId(0x05);
    /// The public key a terminal encrypts a secure-messaging session key to
    /// (`A1` { `90`, `91` }); PIN or either check code [mc src/ap/text.rs].
    pub const SESSION_KEY_PUBLIC_KEY: FileId = FileId(0x06);
    /// The application's signing key, public half, signed (`FF50` { `DF51`,
    /// `DF52` }); PIN or either check code [mc src/ap/text.rs].
    pub const SIGNED_PUBLIC_KEY: FileId = FileId(0x07);
    /// Unknown: sixteen `FF` bytes on the cards examined [mc README].
    pub const UNKNOWN_0008: FileId = FileId(0x08);
    /// The 4-digit PIN.
    pub const PIN: FileId = FileId(0x11);
    /// 照合番号A (the My Number) opening EF 0001 only.
    pub const CHECK_CODE_A: FileId = FileId(0x14);
    /// 照合番号B opening EF 0002 only.
    pub const CHECK_CODE_B: FileId = FileId(0x15);
    /// A key blocked from issue on every card examined (bare VERIFY `63C0`,
    /// VERIFY `6984`); what it guards is unknown [mc src/ap/text.rs].
    pub const BLOCKED_0012: FileId = FileId(0x12);
}

/// Kenmen (card face) application files.
pub mod kenmen {
    use super::FileId;
    /// Age record, opened by the birth-date key.
    pub const AGE: FileId = FileId(0x01);
    /// The face record: photo, images, birth date, sex, expiry.
    pub const FACE: FileId = FileId(0x02);
    /// Application basic data (`FF30`: identification, a key id, version,
    /// municipality code, an opaque block), free to read [mc src/ap/surface.rs].
    pub const AP_BASIC_DATA: FileId = FileId(0x03);
    /// The application's card-verifiable certificate (`7F21`), free to read;
    /// its key verifies the face record's DF28 [mc src/ap/surface.rs].
    pub const CV_CERTIFICATE: FileId = FileId(0x04);
    /// The My Number as an image (照合番号A only).
    pub const MY_NUMBER_IMAGE: FileId = FileId(0x05);
    /// Unknown: sixteen `FF` bytes, opened by either check code [mc README].
    pub const UNKNOWN_0006: FileId = FileId(0x06);
    /// Birth-date key (era YYMMDD) opening EF 0001.
    pub const BIRTH_DATE_KEY: FileId = FileId(0x11);
    /// 照合番号B.
    pub const CHECK_CODE_B: FileId = FileId(0x12);
    /// 照合番号A.
    pub const CHECK_CODE_A: FileId = FileId(0x13);
}

/// Common card application (共通カードAP) files [mc src/ap/common.rs].
pub mod common {
    use super::FileId;
    /// Record EF: record 1 is `01 1C` + 15-digit serial + 5-digit
    /// municipality code + `YYYYMMDD` expiry (simple TLV).
    pub const CARD_INFO: FileId = FileId(0x01);
    /// A 16-byte key reference of unknown use.
    pub const KEY_REFERENCE: FileId = FileId(0x02);
    /// The key INTERNAL AUTHENTICATE signs with, no PIN needed.
    pub const INTERNAL_AUTH_KEY: FileId = FileId(0x19);
    /// The 4-digit PIN of this application.
    pub const PIN: FileId = FileId(0x1C);
}
