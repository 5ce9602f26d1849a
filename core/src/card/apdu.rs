//! ISO/IEC 7816-4 command and response APDUs, short and extended length (cases 1–4).

use std::fmt;

use zeroize::Zeroize;

use super::status::StatusWord;
use crate::hex::Hex;

/// The largest response length a command can ask for (extended `Le = 0000`).
pub const MAX_EXTENDED_NE: u32 = 65_536;
/// The largest response length a short command can ask for (`Le = 00`).
pub const MAX_SHORT_NE: u32 = 256;

/// A command APDU. Its data is wiped on drop because VERIFY carries a PIN.
#[derive(Clone, PartialEq, Eq)]
pub struct CommandApdu {
    /// Class byte.
    pub cla: u8,
    /// Instruction byte.
    pub ins: u8,
    /// Parameter 1.
    pub p1: u8,
    /// Parameter 2.
    pub p2: u8,
    /// Command data (`Lc` is its length); empty for cases 1 and 2.
    pub data: Vec<u8>,
    /// Expected response length `Ne` (1..=65536); `None` for cases 1 and 3.
    pub ne: Option<u32>,
}

/// Why bytes are not a well-formed command APDU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ApduFormatError {
    /// Fewer than the four header bytes.
    #[error("command shorter than its 4-byte header")]
    TooShort,
    /// The body's length bytes disagree with the bytes present.
    #[error("command body length does not match Lc/Le")]
    BadLength,
    /// `Ne` outside 1..=65536 or data longer than 65535 bytes.
    #[error("Lc or Le out of range")]
    OutOfRange,
}

/// Why bytes are not a response APDU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("response of {0} bytes has no status word")]
pub struct ResponseTooShort(pub usize);

impl CommandApdu {
    /// A command with no data and no expected response (case 1).
    pub fn new(cla: u8, ins: u8, p1: u8, p2: u8) -> Self {
        Self {
            cla,
            ins,
            p1,
            p2,
            data: Vec::new(),
            ne: None,
        }
    }

    /// Adds command data (case 3, or case 4 with [`Self::expect`]).
    pub fn with_data(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.data = data.into();
        self
    }

    /// Sets the expected response length `Ne` (case 2, or case 4 with data).
    pub fn expect(mut self, ne: u32) -> Self {
        self.ne = Some(ne);
        self
    }

    /// True when this command needs extended length fields to be encoded.
    pub fn needs_extended(&self) -> bool {
        self.data.len() > 255 || self.ne.is_some_and(|ne| ne > MAX_SHORT_NE)
    }

    /// Encodes the command, in short form when it fits and extended form otherwise.
    pub fn to_bytes(&self) -> Result<Vec<u8>, ApduFormatError> {
        if self.data.len() > 65_535 || self.ne.is_some_and(|ne| ne == 0 || ne > MAX_EXTENDED_NE) {
            return Err(ApduFormatError::OutOfRange);
        }
        let mut out = Vec::with_capacity(4 + 3 + self.data.len() + 3);
        out.extend_from_slice(&[self.cla, self.ins, self.p1, self.p2]);
        let extended = self.needs_extended();
        if !self.data.is_empty() {
            if extended {
                let lc = self.data.len() as u16;
                out.push(0);
                out.extend_from_slice(&lc.to_be_bytes());
            } else {
                out.push(self.data.len() as u8);
            }
            out.extend_from_slice(&self.data);
        }
        if let Some(ne) = self.ne {
            // Ne = 256 / 65536 are written as zero bytes (ISO 7816-4 §5.1).
            if extended {
                if self.data.is_empty() {
                    out.push(0);
                }
                out.extend_from_slice(&((ne % MAX_EXTENDED_NE) as u16).to_be_bytes());
            } else {
                out.push((ne % MAX_SHORT_NE) as u8);
            }
        }
        Ok(out)
    }

    /// Decodes a command APDU, accepting exactly the encodings of ISO 7816-4 §5.1.
    pub fn parse(bytes: &[u8]) -> Result<Self, ApduFormatError> {
        let (header, body) = match bytes {
            [cla, ins, p1, p2, body @ ..] => ([*cla, *ins, *p1, *p2], body),
            _ => return Err(ApduFormatError::TooShort),
        };
        let [cla, ins, p1, p2] = header;
        let mut cmd = Self::new(cla, ins, p1, p2);
        let short_ne = |b: u8| if b == 0 { MAX_SHORT_NE } else { u32::from(b) };
        let ext_ne = |hi: u8, lo: u8| match u16::from_be_bytes([hi, lo]) {
            0 => MAX_EXTENDED_NE,
            n => u32::from(n),
        };
        match body {
            [] => {}
            // Case 2 short.
            [le] => cmd.ne = Some(short_ne(*le)),
            // Extended forms start with a zero byte and are at least 3 bytes long.
            [0, hi, lo, after @ ..] => {
                let lc = usize::from(u16::from_be_bytes([*hi, *lo]));
                if after.is_empty() {
                    // Case 2 extended.
                    cmd.ne = Some(ext_ne(*hi, *lo));
                } else if lc == 0 {
                    return Err(ApduFormatError::BadLength);
                } else if after.len() == lc {
                    cmd.data = after.to_vec();
                } else {
                    match after.split_at_checked(lc) {
                        Some((data, [le_hi, le_lo])) => {
                            cmd.data = data.to_vec();
                            cmd.ne = Some(ext_ne(*le_hi, *le_lo));
                        }
                        _ => return Err(ApduFormatError::BadLength),
                    }
                }
            }
            [lc, rest @ ..] => {
                let lc = usize::from(*lc);
                if lc == 0 {
                    return Err(ApduFormatError::BadLength);
                }
                match rest.split_at_checked(lc) {
                    Some((data, [])) => cmd.data = data.to_vec(),
                    Some((data, [le])) => {
                        cmd.data = data.to_vec();
                        cmd.ne = Some(short_ne(*le));
                    }
                    _ => return Err(ApduFormatError::BadLength),
                }
            }
        }
        Ok(cmd)
    }

    /// True for commands whose data is a secret (VERIFY), so transcripts and logs drop it.
    pub fn carries_secret(&self) -> bool {
        self.ins == super::layout::ins::VERIFY && !self.data.is_empty()
    }
}

impl Drop for CommandApdu {
    fn drop(&mut self) {
        self.data.zeroize();
    }
}

impl fmt::Debug for CommandApdu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("CommandApdu");
        s.field(
            "header",
            &format_args!(
                "{:02X} {:02X} {:02X} {:02X}",
                self.cla, self.ins, self.p1, self.p2
            ),
        );
        if self.carries_secret() {
            s.field("data", &"<redacted>");
        } else {
            s.field("data", &Hex(&self.data));
        }
        s.field("ne", &self.ne).finish()
    }
}

/// A response APDU: data followed by the two status bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct ResponseApdu {
    /// Response data.
    pub data: Vec<u8>,
    /// The trailing status word.
    pub sw: StatusWord,
}

impl ResponseApdu {
    /// Splits raw response bytes into data and status word.
    pub fn parse(bytes: &[u8]) -> Result<Self, ResponseTooShort> {
        match bytes {
            [data @ .., sw1, sw2] => Ok(Self {
                data: data.to_vec(),
                sw: StatusWord::from_bytes(*sw1, *sw2),
            }),
            _ => Err(ResponseTooShort(bytes.len())),
        }
    }

    /// Encodes data followed by the status word.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.data.len() + 2);
        out.extend_from_slice(&self.data);
        out.extend_from_slice(&self.sw.to_bytes());
        out
    }
}

impl Drop for ResponseApdu {
    fn drop(&mut self) {
        // Answers carry the My Number and the holder's data.
        self.data.zeroize();
    }
}

impl fmt::Debug for ResponseApdu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseApdu")
            .field("data", &Hex(&self.data))
            .field("sw", &self.sw)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(cmd: &CommandApdu) -> Vec<u8> {
        let bytes = cmd.to_bytes().unwrap();
        assert_eq!(&CommandApdu::parse(&bytes).unwrap(), cmd);
        bytes
    }

    #[test]
    fn encodes_all_four_cases_short_and_extended() {
        assert_eq!(
            roundtrip(&CommandApdu::new(0, 0x20, 0, 0x98)),
            [0, 0x20, 0, 0x98]
        );
        assert_eq!(
            roundtrip(&CommandApdu::new(0, 0xB0, 0x8A, 0).expect(256)),
            [0, 0xB0, 0x8A, 0, 0]
        );
        assert_eq!(
            roundtrip(&CommandApdu::new(0, 0xB0, 0x8A, 0).expect(65_536)),
            [0, 0xB0, 0x8A, 0, 0, 0, 0]
        );
        assert_eq!(
            roundtrip(&CommandApdu::new(0, 0xB0, 0, 0).expect(1000)),
            [0, 0xB0, 0, 0, 0, 0x03, 0xE8]
        );
        assert_eq!(
            roundtrip(&CommandApdu::new(0, 0x20, 0, 0x98).with_data(*b"1234")),
            [0, 0x20, 0, 0x98, 4, b'1', b'2', b'3', b'4']
        );
        assert_eq!(
            roundtrip(
                &CommandApdu::new(0x80, 0x2A, 0, 0x97)
                    .with_data([7; 3])
                    .expect(256)
            ),
            [0x80, 0x2A, 0, 0x97, 3, 7, 7, 7, 0]
        );
        let big = CommandApdu::new(0, 0xD6, 0, 0)
            .with_data(vec![1; 300])
            .expect(2);
        let bytes = roundtrip(&big);
        assert_eq!(&bytes[4..7], &[0, 0x01, 0x2C]);
        assert_eq!(&bytes[bytes.len() - 2..], &[0, 2]);
    }

    #[test]
    fn rejects_inconsistent_lengths() {
        assert_eq!(
            CommandApdu::parse(&[0, 0xA4, 4]),
            Err(ApduFormatError::TooShort)
        );
        assert_eq!(
            CommandApdu::parse(&[0, 0x20, 0, 0x80, 5, 1, 2]),
            Err(ApduFormatError::BadLength)
        );
        assert_eq!(
            CommandApdu::parse(&[0, 0x20, 0, 0x80, 0, 0, 3, 1]),
            Err(ApduFormatError::BadLength)
        );
        assert_eq!(
            CommandApdu::parse(&[0, 0x20, 0, 0x80, 0, 0, 0, 1]),
            Err(ApduFormatError::BadLength)
        );
        assert_eq!(
            CommandApdu::new(0, 0, 0, 0).expect(0).to_bytes(),
            Err(ApduFormatError::OutOfRange)
        );
    }

    #[test]
    fn debug_never_shows_verify_data() {
        let cmd = CommandApdu::new(0, 0x20, 0, 0x98).with_data(*b"9876");
        let shown = format!("{cmd:?}");
        assert!(
            !shown.contains("39383736") && shown.contains("redacted"),
            "{shown}"
        );
    }

    #[test]
    fn response_needs_a_status_word() {
        assert_eq!(ResponseApdu::parse(&[0x90]), Err(ResponseTooShort(1)));
        let r = ResponseApdu::parse(&[1, 2, 0x90, 0]).unwrap();
        assert_eq!(r.data, [1, 2]);
        assert_eq!(r.sw, StatusWord::OK);
    }
}
