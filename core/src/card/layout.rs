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
}

impl Application {
    /// The application identifier.
    pub const fn aid(self) -> &'static [u8] {
        match self {
            Self::Jpki => &[0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01],
            Self::Kenhojo => &[0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x04, 0x08],
            Self::Kenmen => &[0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x04, 0x02],
        }
    }

    /// The application that has this AID.
    pub fn from_aid(aid: &[u8]) -> Option<Self> {
        [Self::Jpki, Self::Kenhojo, Self::Kenmen]
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
        Application::Jpki => false,
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
    /// The 4-digit PIN.
    pub const PIN: FileId = FileId(0x11);
    /// 照合番号A (the My Number) opening EF 0001 only.
    pub const CHECK_CODE_A: FileId = FileId(0x14);
    /// 照合番号B opening EF 0002 only.
    pub const CHECK_CODE_B: FileId = FileId(0x15);
}

/// Kenmen (card face) application files.
pub mod kenmen {
    use super::FileId;
    /// Age record, opened by the birth-date key.
    pub const AGE: FileId = FileId(0x01);
    /// The face record: photo, images, birth date, sex, expiry.
    pub const FACE: FileId = FileId(0x02);
    /// The My Number as an image (照合番号A only).
    pub const MY_NUMBER_IMAGE: FileId = FileId(0x05);
    /// Birth-date key (era YYMMDD) opening EF 0001.
    pub const BIRTH_DATE_KEY: FileId = FileId(0x11);
    /// 照合番号B.
    pub const CHECK_CODE_B: FileId = FileId(0x12);
    /// 照合番号A.
    pub const CHECK_CODE_A: FileId = FileId(0x13);
}
