//! 照合番号B: the 14-digit code that opens the Kenmen (card face) records
//! with VERIFY on EF 0012.
//!
//! It is made of three things printed on the card front: the birth date as
//! `YYMMDD` with the Japanese era year, the 4-digit Western expiry year and
//! the 4-digit security code. The PIN-reset app reads them with the camera
//! and lets the user correct each field (rules.md R8), so every error names
//! the field it comes from.

use std::fmt;

use chrono::Datelike;
use zeroize::Zeroizing;

use super::pin::CardSecret;
use crate::jp::era::{EraError, JapaneseDate, normalize_ocr};
use crate::jp::person::MyNumber;

/// The earliest expiry year accepted. A policy bound, not an official number:
/// cards have been issued since January 2016, so none can expire earlier.
pub const MIN_EXPIRY_YEAR: u16 = 2016;

/// The latest expiry year accepted. A policy bound, not an official number: a
/// card is valid at most until the holder's 10th birthday after issue, so a
/// year this far ahead can only be a misreading.
pub const MAX_EXPIRY_YEAR: u16 = 2100;

/// Which field of the card front is wrong, so the user can correct it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckCodeError {
    /// The birth date (including [`EraError::BirthDateUnknown`]: the card
    /// cannot be used, rules.md R7).
    #[error("birth date: {0}")]
    BirthDate(#[from] EraError),
    /// The expiry year; the reason, without the input.
    #[error("expiry year: {0}")]
    ExpiryYear(String),
    /// The security code is not exactly 4 digits.
    #[error("the security code must be exactly 4 digits")]
    SecurityCode,
}

/// The 4-digit security code (セキュリティコード) printed on the card front.
///
/// Wiped when dropped and never shown by `Debug`.
#[derive(Clone)]
pub struct SecurityCode(Zeroizing<[u8; 4]>);

impl SecurityCode {
    /// Checks the format: exactly 4 ASCII digits. (OCR text with full-width
    /// digits or spaces goes through [`CheckCodeB::from_card_front`].)
    pub fn new(code: &str) -> Result<Self, CheckCodeError> {
        let bytes = code.as_bytes();
        if bytes.len() != 4 || !bytes.iter().all(u8::is_ascii_digit) {
            return Err(CheckCodeError::SecurityCode);
        }
        let mut digits = Zeroizing::new([0u8; 4]);
        digits.copy_from_slice(bytes);
        Ok(Self(digits))
    }
}

impl fmt::Debug for SecurityCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecurityCode(<redacted>)")
    }
}

/// 照合番号B: era `YYMMDD` of the birth date, the Western expiry year and the
/// security code, as 14 ASCII digits (birth 1980-02-17, expiry 2035, code
/// 2285 → `55021720352285`).
///
/// Wiped when dropped, never shown by `Debug`, and has no `Display`.
#[derive(Clone)]
pub struct CheckCodeB(Zeroizing<[u8; 14]>);

impl CheckCodeB {
    /// Builds the code. The expiry year must lie within
    /// [`MIN_EXPIRY_YEAR`]`..=`[`MAX_EXPIRY_YEAR`] and be after the (Western)
    /// birth year.
    pub fn new(
        birth_date: &JapaneseDate,
        expiry_year: u16,
        security_code: &SecurityCode,
    ) -> Result<Self, CheckCodeError> {
        if !(MIN_EXPIRY_YEAR..=MAX_EXPIRY_YEAR).contains(&expiry_year) {
            return Err(CheckCodeError::ExpiryYear(format!(
                "must be a Western year from {MIN_EXPIRY_YEAR} to {MAX_EXPIRY_YEAR}"
            )));
        }
        if i32::from(expiry_year) <= birth_date.to_gregorian().year() {
            return Err(CheckCodeError::ExpiryYear(
                "must be after the birth year".to_owned(),
            ));
        }
        // YYMMDD (era year), the 4-digit expiry year, the 4-digit security code.
        let mut year_digits = [0u8; 4];
        let mut year = expiry_year;
        for digit in year_digits.iter_mut().rev() {
            *digit = b'0' + (year % 10) as u8;
            year /= 10;
        }
        let mut code = Zeroizing::new([0u8; 14]);
        let parts = birth_date
            .yymmdd()
            .into_iter()
            .chain(year_digits)
            .chain(security_code.0.iter().copied());
        for (slot, byte) in code.iter_mut().zip(parts) {
            *slot = byte;
        }
        Ok(Self(code))
    }

    /// Builds the code from the three fields as OCR reads them on the card
    /// front, full-width digits and spaces allowed:
    /// - `birth_date_text`: see [`JapaneseDate::parse_printed`] (`昭和55年2月17日生`);
    /// - `expiry_text`: `2035年2月17日まで有効`, `2035.2.17` or `2035`; the first
    ///   run of digits must be the 4-digit Western year, and the rest is
    ///   ignored;
    /// - `security_code_text`: 4 digits (`2285`, `２２８５`, `22 85`).
    pub fn from_card_front(
        birth_date_text: &str,
        expiry_text: &str,
        security_code_text: &str,
    ) -> Result<Self, CheckCodeError> {
        let birth_date = JapaneseDate::parse_printed(birth_date_text)?;
        let expiry_year = expiry_year_from_text(expiry_text)?;
        let security_code = SecurityCode::new(&Zeroizing::new(normalize_ocr(security_code_text)))?;
        Self::new(&birth_date, expiry_year, &security_code)
    }
}

/// 照合番号A: the 12-digit My Number, which opens Kenmen's face record
/// (EF 0002) and the My Number image (card-protocol.md). Only build it from
/// a My Number the caller had a legal basis to read.
#[derive(Clone)]
pub struct CheckCodeA(Zeroizing<Vec<u8>>);

impl CheckCodeA {
    /// The code of `number`.
    pub fn from_my_number(number: &MyNumber) -> Self {
        Self(Zeroizing::new(number.expose().as_bytes().to_vec()))
    }
}

impl CardSecret for CheckCodeA {
    fn verify_data(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for CheckCodeA {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CheckCodeA(<redacted>)")
    }
}

impl CardSecret for CheckCodeB {
    fn verify_data(&self) -> &[u8] {
        &self.0[..]
    }
}

impl fmt::Debug for CheckCodeB {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CheckCodeB(<redacted>)")
    }
}

/// The 4-digit Western year at the start of the expiry text.
fn expiry_year_from_text(text: &str) -> Result<u16, CheckCodeError> {
    let normalised = normalize_ocr(text);
    let start = normalised
        .find(|c: char| c.is_ascii_digit())
        .ok_or_else(|| CheckCodeError::ExpiryYear("no year found".to_owned()))?;
    let digits: String = normalised
        .get(start..)
        .unwrap_or_default()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    if digits.len() != 4 {
        return Err(CheckCodeError::ExpiryYear(
            "expected the 4-digit Western year (such as 2035)".to_owned(),
        ));
    }
    digits
        .parse()
        .map_err(|_| CheckCodeError::ExpiryYear("not a number".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jp::era::Era;

    fn birth(era: Era, year: u16, month: u8, day: u8) -> JapaneseDate {
        JapaneseDate::new(era, year, month, day).unwrap()
    }

    fn code(text: &str) -> SecurityCode {
        SecurityCode::new(text).unwrap()
    }

    #[test]
    fn published_example() {
        // soltia48/myna-card: born 1980-02-17 (昭和55), expiry 2035, security code 2285.
        let birth_date =
            JapaneseDate::from_gregorian(chrono::NaiveDate::from_ymd_opt(1980, 2, 17).unwrap())
                .unwrap();
        let check = CheckCodeB::new(&birth_date, 2035, &code("2285")).unwrap();
        assert_eq!(check.verify_data(), b"55021720352285");
    }

    #[test]
    fn from_the_card_front() {
        for (birth_text, expiry_text, code_text) in [
            ("昭和55年2月17日生", "2035年2月17日まで有効", "2285"),
            (
                "昭和５５年　２月１７日生",
                "２０３５年　２月１７日まで有効",
                "２２８５",
            ),
            ("S55.2.17", "2035", "22 85"),
            ("㍼55年 2月17日", "有効期限 2035.2.17", "　2285　"),
        ] {
            let check = CheckCodeB::from_card_front(birth_text, expiry_text, code_text).unwrap();
            assert_eq!(
                check.verify_data(),
                b"55021720352285",
                "{birth_text:?} {expiry_text:?} {code_text:?}"
            );
        }
        let check = CheckCodeB::from_card_front("平成元年1月8日生", "2029年1月8日まで有効", "0007")
            .unwrap();
        assert_eq!(check.verify_data(), b"01010820290007");
        let check = CheckCodeB::from_card_front("令和２年１２月２４日生", "2025", "9999").unwrap();
        assert_eq!(check.verify_data(), b"02122420259999");
    }

    #[test]
    fn each_field_reports_its_own_error() {
        assert_eq!(
            CheckCodeB::from_card_front("昭和  年  月  日", "2035", "2285").err(),
            Some(CheckCodeError::BirthDate(EraError::BirthDateUnknown))
        );
        assert_eq!(
            CheckCodeB::from_card_front("不詳", "2035", "2285").err(),
            Some(CheckCodeError::BirthDate(EraError::BirthDateUnknown))
        );
        assert!(matches!(
            CheckCodeB::from_card_front("昭和64年1月8日", "2035", "2285"),
            Err(CheckCodeError::BirthDate(EraError::OutsideEra { .. }))
        ));
        assert_eq!(
            CheckCodeB::from_card_front("昭和55年2月30日", "2035", "2285").err(),
            Some(CheckCodeError::BirthDate(EraError::NotADate))
        );
        for expiry in [
            "",
            "まで有効",
            "35",
            "令和17年2月17日まで有効",
            "20352",
            "2035年",
            "1999",
            "2101",
            "0000",
        ] {
            let result = CheckCodeB::from_card_front("昭和55年2月17日", expiry, "2285");
            if expiry == "2035年" {
                assert!(result.is_ok());
            } else {
                assert!(
                    matches!(result, Err(CheckCodeError::ExpiryYear(_))),
                    "{expiry:?}"
                );
            }
        }
        for security in ["", "228", "22855", "22a5", "２２８", "-228"] {
            assert_eq!(
                CheckCodeB::from_card_front("昭和55年2月17日", "2035", security).err(),
                Some(CheckCodeError::SecurityCode),
                "{security:?}"
            );
        }
    }

    #[test]
    fn expiry_year_bounds() {
        let showa = birth(Era::Showa, 55, 2, 17);
        assert!(CheckCodeB::new(&showa, MIN_EXPIRY_YEAR, &code("0000")).is_ok());
        assert!(CheckCodeB::new(&showa, MAX_EXPIRY_YEAR, &code("0000")).is_ok());
        assert!(matches!(
            CheckCodeB::new(&showa, 2015, &code("0000")),
            Err(CheckCodeError::ExpiryYear(_))
        ));
        assert!(matches!(
            CheckCodeB::new(&showa, 2101, &code("0000")),
            Err(CheckCodeError::ExpiryYear(_))
        ));
        assert!(matches!(
            CheckCodeB::new(&showa, 0, &code("0000")),
            Err(CheckCodeError::ExpiryYear(_))
        ));
        // The expiry year must come after the birth year.
        let reiwa = birth(Era::Reiwa, 7, 6, 1); // 2025
        assert!(matches!(
            CheckCodeB::new(&reiwa, 2025, &code("1234")),
            Err(CheckCodeError::ExpiryYear(_))
        ));
        assert_eq!(
            CheckCodeB::new(&reiwa, 2026, &code("1234"))
                .unwrap()
                .verify_data(),
            b"07060120261234"
        );
        let late = birth(Era::Reiwa, 80, 1, 1); // 2098
        assert_eq!(
            CheckCodeB::new(&late, 2100, &code("4321"))
                .unwrap()
                .verify_data(),
            b"80010121004321"
        );
    }

    #[test]
    fn security_code_format() {
        assert!(SecurityCode::new("0123").is_ok());
        for bad in ["", "123", "12345", "12a4", "１２３４", " 123", "12 4"] {
            assert_eq!(
                SecurityCode::new(bad).err(),
                Some(CheckCodeError::SecurityCode),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn debug_hides_the_secret() {
        let security = code("2285");
        let check = CheckCodeB::from_card_front("昭和55年2月17日生", "2035", "2285").unwrap();
        let shown = format!(
            "{security:?} {check:?} {:#?} {:#?}",
            security,
            check.clone()
        );
        for secret in ["2285", "550217", "2035", "55021720352285"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("redacted"), "{shown}");
        let message = CheckCodeB::new(&birth(Era::Showa, 55, 2, 17), 1999, &security)
            .unwrap_err()
            .to_string();
        assert!(
            !message.contains("1999") && message.starts_with("expiry year"),
            "{message}"
        );
    }
}
