//! Facts about the holder that appear in several places on the card.

use std::fmt;

use serde::Serialize;
use zeroize::Zeroizing;

/// Sex as the card records it (ISO 5218 codes in Kenhojo/Kenmen; the
/// signing certificate uses `3` for unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    /// `1`.
    Male,
    /// `2`.
    Female,
    /// `9` (or `3` in the certificate): not applicable or unknown.
    NotApplicable,
}

impl Sex {
    /// Decodes the one-character code.
    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "1" => Some(Self::Male),
            "2" => Some(Self::Female),
            "3" | "9" => Some(Self::NotApplicable),
            _ => None,
        }
    }

    /// The ISO 5218 code the card's text records use.
    pub const fn iso5218(self) -> &'static str {
        match self {
            Self::Male => "1",
            Self::Female => "2",
            Self::NotApplicable => "9",
        }
    }
}

/// Why twelve characters are not a My Number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MyNumberError {
    /// Not twelve ASCII digits.
    #[error("a My Number is 12 digits")]
    NotTwelveDigits,
    /// The last digit does not match the check digit.
    #[error("the check digit does not match")]
    CheckDigit,
}

/// The 12-digit individual number (マイナンバー). Its use is restricted by law:
/// it is wiped on drop and never shown by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct MyNumber(Zeroizing<String>);

impl MyNumber {
    /// Checks the format and the check digit (個人番号の生成に関する省令 Art. 5).
    pub fn new(digits: &str) -> Result<Self, MyNumberError> {
        let bytes = digits.as_bytes();
        let (Some((last, first_eleven)), 12) = (bytes.split_last(), bytes.len()) else {
            return Err(MyNumberError::NotTwelveDigits);
        };
        if !bytes.iter().all(u8::is_ascii_digit) {
            return Err(MyNumberError::NotTwelveDigits);
        }
        if check_digit(first_eleven) != last - b'0' {
            return Err(MyNumberError::CheckDigit);
        }
        Ok(Self(Zeroizing::new(digits.to_owned())))
    }

    /// The digits. Handle with care: the law limits who may keep them.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for MyNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MyNumber(<redacted>)")
    }
}

/// The check digit for the first eleven digits: weights 2..=7 then 2..=6 from
/// the rightmost digit; 11 minus the remainder, or 0 when the remainder is 0 or 1.
pub fn check_digit(first_eleven: &[u8]) -> u8 {
    let sum: u32 = first_eleven
        .iter()
        .rev()
        .enumerate()
        .map(|(n, d)| {
            let n = n as u32 + 1;
            let weight = if n <= 6 { n + 1 } else { n - 5 };
            u32::from(d - b'0') * weight
        })
        .sum();
    match sum % 11 {
        0 | 1 => 0,
        r => (11 - r) as u8,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_digits() {
        // Published example number 1234 5678 9018.
        assert!(MyNumber::new("123456789018").is_ok());
        assert_eq!(
            MyNumber::new("123456789012").err(),
            Some(MyNumberError::CheckDigit)
        );
        assert_eq!(
            MyNumber::new("12345678901").err(),
            Some(MyNumberError::NotTwelveDigits)
        );
        assert_eq!(
            MyNumber::new("12345678901a").err(),
            Some(MyNumberError::NotTwelveDigits)
        );
        assert_eq!(
            format!("{:?}", MyNumber::new("123456789018").unwrap()),
            "MyNumber(<redacted>)"
        );
    }

    #[test]
    fn sex_codes() {
        assert_eq!(Sex::from_code("2"), Some(Sex::Female));
        assert_eq!(Sex::from_code("3"), Some(Sex::NotApplicable));
        assert_eq!(Sex::from_code("x"), None);
    }
}
