//! Status words (SW1 SW2) and what they mean for the My Number card.

use std::fmt;

/// A raw status word.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatusWord(pub u16);

impl StatusWord {
    /// `9000`: normal processing.
    pub const OK: Self = Self(0x9000);
    /// `6282`: end of file reached before `Ne` bytes were read.
    pub const END_OF_FILE: Self = Self(0x6282);
    /// `6700`: wrong length (Lc or Le).
    pub const WRONG_LENGTH: Self = Self(0x6700);
    /// `6982`: security status not satisfied.
    pub const SECURITY_STATUS_NOT_SATISFIED: Self = Self(0x6982);
    /// `6983`: authentication method blocked.
    pub const AUTH_METHOD_BLOCKED: Self = Self(0x6983);
    /// `6984`: reference data not usable (the JPKI card's answer for a blocked PIN).
    pub const REFERENCE_DATA_NOT_USABLE: Self = Self(0x6984);
    /// `6985`: conditions of use not satisfied.
    pub const CONDITIONS_NOT_SATISFIED: Self = Self(0x6985);
    /// `6986`: command not allowed (no current EF).
    pub const NO_CURRENT_EF: Self = Self(0x6986);
    /// `6A82`: file or application not found.
    pub const FILE_NOT_FOUND: Self = Self(0x6A82);
    /// `6A86`: incorrect P1-P2.
    pub const INCORRECT_P1P2: Self = Self(0x6A86);
    /// `6B00`: offset outside the EF.
    pub const OFFSET_OUTSIDE_EF: Self = Self(0x6B00);
    /// `6D00`: instruction not supported.
    pub const INS_NOT_SUPPORTED: Self = Self(0x6D00);
    /// `6E00`: class not supported.
    pub const CLA_NOT_SUPPORTED: Self = Self(0x6E00);

    /// Builds a status word from SW1 and SW2.
    pub const fn from_bytes(sw1: u8, sw2: u8) -> Self {
        Self(u16::from_be_bytes([sw1, sw2]))
    }

    /// `63Cx` with `x` tries left.
    pub const fn verify_failed(tries_left: u8) -> Self {
        Self(0x63C0 | (tries_left as u16 & 0x0F))
    }

    /// The two bytes, SW1 first.
    pub const fn to_bytes(self) -> [u8; 2] {
        self.0.to_be_bytes()
    }

    /// SW1.
    pub const fn sw1(self) -> u8 {
        (self.0 >> 8) as u8
    }

    /// SW2.
    pub const fn sw2(self) -> u8 {
        self.0 as u8
    }

    /// What the status word means.
    pub fn meaning(self) -> Status {
        match (self.sw1(), self.sw2()) {
            (0x90, 0x00) => Status::Ok,
            (0x61, n) => Status::BytesRemaining(if n == 0 { 256 } else { u16::from(n) }),
            (0x62, 0x82) => Status::EndOfFile,
            (0x63, n) if n & 0xF0 == 0xC0 => Status::VerifyFailed {
                tries_left: n & 0x0F,
            },
            (0x67, 0x00) => Status::WrongLength,
            (0x69, 0x82) => Status::SecurityStatusNotSatisfied,
            (0x69, 0x83) | (0x69, 0x84) => Status::Blocked,
            (0x69, 0x85) => Status::ConditionsNotSatisfied,
            (0x69, 0x86) => Status::NoCurrentEf,
            (0x6A, 0x82) => Status::FileNotFound,
            (0x6A, 0x86) => Status::IncorrectParameters,
            (0x6A, 0x88) => Status::ReferenceNotFound,
            (0x6B, 0x00) => Status::OffsetOutsideEf,
            (0x6C, n) => Status::WrongLe(if n == 0 { 256 } else { u16::from(n) }),
            (0x6D, 0x00) => Status::InstructionNotSupported,
            (0x6E, 0x00) => Status::ClassNotSupported,
            _ => Status::Other(self),
        }
    }
}

impl fmt::Debug for StatusWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04X}", self.0)
    }
}

impl fmt::Display for StatusWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04X}", self.0)
    }
}

/// The meaning of a status word, as far as this card's commands care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// `9000`.
    Ok,
    /// `61xx`: this many bytes wait for GET RESPONSE.
    BytesRemaining(u16),
    /// `6282`: fewer bytes than asked for because the file ended.
    EndOfFile,
    /// `63Cx`: PIN state; after VERIFY with data, that PIN was wrong.
    VerifyFailed {
        /// Tries left.
        tries_left: u8,
    },
    /// `6700`.
    WrongLength,
    /// `6982`: a PIN must be verified first.
    SecurityStatusNotSatisfied,
    /// `6983` / `6984`: the PIN (or key) is blocked.
    Blocked,
    /// `6985`.
    ConditionsNotSatisfied,
    /// `6986`: no current EF for a READ BINARY without file reference.
    NoCurrentEf,
    /// `6A82`.
    FileNotFound,
    /// `6A86`.
    IncorrectParameters,
    /// `6A88`: the PIN or key named in P2 does not exist.
    ReferenceNotFound,
    /// `6B00`: offset past the end of the EF.
    OffsetOutsideEf,
    /// `6Cxx`: resend with this `Le`.
    WrongLe(u16),
    /// `6D00`.
    InstructionNotSupported,
    /// `6E00`.
    ClassNotSupported,
    /// Anything else.
    Other(StatusWord),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_words_the_card_uses() {
        assert_eq!(
            StatusWord(0x63C2).meaning(),
            Status::VerifyFailed { tries_left: 2 }
        );
        assert_eq!(
            StatusWord(0x63C0).meaning(),
            Status::VerifyFailed { tries_left: 0 }
        );
        assert_eq!(StatusWord(0x6984).meaning(), Status::Blocked);
        assert_eq!(StatusWord(0x6100).meaning(), Status::BytesRemaining(256));
        assert_eq!(StatusWord(0x6C10).meaning(), Status::WrongLe(16));
        assert_eq!(
            StatusWord(0x6310).meaning(),
            Status::Other(StatusWord(0x6310))
        );
        assert_eq!(StatusWord::verify_failed(3), StatusWord(0x63C3));
        assert_eq!(StatusWord(0x6A82).to_string(), "6A82");
    }
}
