//! Who the card belongs to and how it is configured: the holder's card-face
//! facts, the secrets, the retry limits and the issue date.

use std::fmt;

use chrono::{Datelike, NaiveDate};
use mynakit_core::{MyNumber, Sex, check_digit};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::era::EraDate;
use crate::error::SandboxError;
use crate::fixtures;

/// The images printed on the card face, as the Kenmen application stores them.
/// They are pictures, not text: changing [`Holder::name`] does not redraw them.
#[derive(Clone, PartialEq, Eq)]
pub struct FaceImages {
    /// Name as printed (1-bit PNG), Kenmen DF25.
    pub name: Vec<u8>,
    /// Address as printed (1-bit PNG), Kenmen DF26.
    pub address: Vec<u8>,
    /// Security code as printed (1-bit PNG, 24×12), Kenmen DF2A.
    pub security_code: Vec<u8>,
    /// The My Number as printed on the back (1-bit PNG, 72×12), Kenmen EF 0005.
    pub my_number: Vec<u8>,
}

impl FaceImages {
    /// The committed images drawn for [`Holder::sample`].
    pub fn sample() -> Self {
        Self {
            name: fixtures::NAME_IMAGE_PNG.to_vec(),
            address: fixtures::ADDRESS_IMAGE_PNG.to_vec(),
            security_code: fixtures::SECURITY_CODE_IMAGE_PNG.to_vec(),
            my_number: fixtures::MY_NUMBER_IMAGE_PNG.to_vec(),
        }
    }
}

impl fmt::Debug for FaceImages {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaceImages")
            .field("name", &format_args!("{} bytes", self.name.len()))
            .field("address", &format_args!("{} bytes", self.address.len()))
            .field(
                "security_code",
                &format_args!("{} bytes", self.security_code.len()),
            )
            .field("my_number", &format_args!("{} bytes", self.my_number.len()))
            .finish()
    }
}

/// The card holder: what the card face says and what the chip repeats.
#[derive(Clone, PartialEq, Eq)]
pub struct Holder {
    /// Name, family and given name separated by U+3000 (ideographic space).
    pub name: String,
    /// Address with full-width digits and hyphens, as the card records it.
    pub address: String,
    /// Birth date; `None` when the resident record has none (rules.md R7).
    pub birth_date: Option<NaiveDate>,
    /// Sex.
    pub sex: Sex,
    /// The individual number.
    pub my_number: MyNumber,
    /// Last day the card itself is valid (printed on the front, Kenmen DF29).
    pub card_expiry: NaiveDate,
    /// The 4-digit security code printed on the front.
    pub security_code: String,
    /// Prefecture in romaji for the signing certificate subject (e.g. `Tokyo-to`).
    pub prefecture_romaji: String,
    /// City in romaji for the signing certificate subject (e.g. `Chiyoda-ku`).
    pub city_romaji: String,
    /// Face photo: greyscale JPEG 2000 in a JP2 container (Kenmen DF27).
    pub photo: Vec<u8>,
    /// Card-face images.
    pub images: FaceImages,
}

impl fmt::Debug for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Holder")
            .field("name", &self.name)
            .field("address", &self.address)
            .field("birth_date", &self.birth_date)
            .field("sex", &self.sex)
            .field("my_number", &self.my_number)
            .field("card_expiry", &self.card_expiry)
            .field("prefecture_romaji", &self.prefecture_romaji)
            .field("city_romaji", &self.city_romaji)
            .field("photo", &format_args!("{} bytes", self.photo.len()))
            .field("images", &self.images)
            .finish_non_exhaustive()
    }
}

/// First eleven digits of the sample holder's My Number; the twelfth is
/// computed so the number is valid but obviously made up (π).
const SAMPLE_MY_NUMBER_BODY: &str = "31415926535";

impl Holder {
    /// A fictional holder: 番号　花子, born 1985-06-15, card issued 2025-04-01
    /// and valid until her tenth birthday after issue (2035-06-15).
    pub fn sample() -> Self {
        let digit = check_digit(SAMPLE_MY_NUMBER_BODY.as_bytes());
        let digits = format!("{SAMPLE_MY_NUMBER_BODY}{digit}");
        Self {
            name: "番号\u{3000}花子".to_owned(),
            address: "東京都千代田区霞が関二丁目１番２号".to_owned(),
            birth_date: NaiveDate::from_ymd_opt(1985, 6, 15),
            sex: Sex::Female,
            my_number: MyNumber::new(&digits)
                .expect("the sample My Number carries its own check digit"),
            card_expiry: NaiveDate::from_ymd_opt(2035, 6, 15).expect("a valid constant date"),
            security_code: "4821".to_owned(),
            prefecture_romaji: "Tokyo-to".to_owned(),
            city_romaji: "Chiyoda-ku".to_owned(),
            photo: fixtures::FACE_PHOTO_JP2.to_vec(),
            images: FaceImages::sample(),
        }
    }

    /// The Kenmen birth-date key: the birth date as era `YYMMDD`.
    /// `None` when the birth date is unknown or before Meiji.
    pub fn birth_date_key(&self) -> Option<String> {
        self.birth_date
            .and_then(EraDate::from_date)
            .map(|e| e.yymmdd())
    }

    /// 照合番号B: era `YYMMDD` of the birth date, the expiry year (Western,
    /// 4 digits) and the security code. `None` when the birth date is unknown.
    pub fn check_code_b(&self) -> Option<String> {
        let birth = self.birth_date_key()?;
        Some(format!(
            "{birth}{:04}{}",
            self.card_expiry.year(),
            self.security_code
        ))
    }

    /// The signing certificate's birth-date attribute, `EYYYYMMDD`
    /// (`000000000` when unknown).
    pub fn certificate_birth_date_code(&self) -> String {
        match self
            .birth_date
            .and_then(|d| EraDate::from_date(d).map(|e| (d, e)))
        {
            Some((date, era)) => format!("{}{}", era.era.digit(), date.format("%Y%m%d")),
            None => "000000000".to_owned(),
        }
    }

    /// The signing certificate's sex attribute (`1`, `2`, `3` unknown).
    pub fn certificate_sex_code(&self) -> &'static str {
        match self.sex {
            Sex::Male => "1",
            Sex::Female => "2",
            Sex::NotApplicable => "3",
        }
    }

    /// The last day of a JPKI certificate issued on `issued_on`: the holder's
    /// fifth birthday after issue. A birthday on the issue day itself does
    /// not count. Someone born on 29 February has the birthday on 28
    /// February in common years. With no birth date the sandbox uses the
    /// fifth anniversary of issue (an assumption: no source says).
    pub fn certificate_last_day(&self, issued_on: NaiveDate) -> NaiveDate {
        let Some(birth) = self.birth_date else {
            return anniversary(issued_on.month(), issued_on.day(), issued_on.year() + 5);
        };
        let this_year = anniversary(birth.month(), birth.day(), issued_on.year());
        let first_year = if this_year > issued_on {
            issued_on.year()
        } else {
            issued_on.year() + 1
        };
        anniversary(birth.month(), birth.day(), first_year + 4)
    }

    pub(crate) fn validate(&self) -> Result<(), SandboxError> {
        if self.name.is_empty() {
            return Err(SandboxError::config("holder.name", "empty"));
        }
        if self.address.is_empty() {
            return Err(SandboxError::config("holder.address", "empty"));
        }
        if self.security_code.len() != 4 || !self.security_code.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(SandboxError::config(
                "holder.security_code",
                "must be 4 digits",
            ));
        }
        if !(1000..=9999).contains(&self.card_expiry.year()) {
            return Err(SandboxError::config(
                "holder.card_expiry",
                "year must have 4 digits",
            ));
        }
        for (field, text) in [
            ("holder.prefecture_romaji", &self.prefecture_romaji),
            ("holder.city_romaji", &self.city_romaji),
        ] {
            // The subject uses PrintableString, which has no room for kana or kanji.
            if text.is_empty() || !text.bytes().all(is_printable) {
                return Err(SandboxError::config(
                    field,
                    "must be non-empty PrintableString text (romaji)",
                ));
            }
        }
        if self.birth_date.is_some() && self.birth_date_key().is_none() {
            return Err(SandboxError::config(
                "holder.birth_date",
                "before the Meiji era",
            ));
        }
        Ok(())
    }
}

/// ASN.1 PrintableString's character set.
pub(crate) fn is_printable(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b" '()+,-./:=?".contains(&b)
}

/// `month`/`day` in `year`, with 29 February falling back to the 28th.
fn anniversary(month: u32, day: u32, year: i32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day)
        .or_else(|| NaiveDate::from_ymd_opt(year, month, day.saturating_sub(1)))
        .unwrap_or(NaiveDate::MAX)
}

/// The card's secrets. Wiped on drop; `Debug` never shows them.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct CardSecrets {
    /// JPKI user-authentication PIN (EF 0018): 4 digits.
    pub auth_pin: String,
    /// JPKI signing password (EF 001B): 6–16 of A–Z and 0–9, at least one of each.
    pub signing_password: String,
    /// Kenhojo PIN (EF 0011): 4 digits, normally the same as the auth PIN.
    pub kenhojo_pin: String,
}

impl Default for CardSecrets {
    fn default() -> Self {
        Self {
            auth_pin: "1234".to_owned(),
            signing_password: "SANDBOX1".to_owned(),
            kenhojo_pin: "1234".to_owned(),
        }
    }
}

impl fmt::Debug for CardSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CardSecrets(<redacted>)")
    }
}

impl CardSecrets {
    fn validate(&self) -> Result<(), SandboxError> {
        let four_digits = |s: &str| s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit());
        if !four_digits(&self.auth_pin) {
            return Err(SandboxError::config("secrets.auth_pin", "must be 4 digits"));
        }
        if !four_digits(&self.kenhojo_pin) {
            return Err(SandboxError::config(
                "secrets.kenhojo_pin",
                "must be 4 digits",
            ));
        }
        let p = self.signing_password.as_bytes();
        let allowed = p
            .iter()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        let mixed = p.iter().any(u8::is_ascii_uppercase) && p.iter().any(u8::is_ascii_digit);
        if !(6..=16).contains(&p.len()) || !allowed || !mixed {
            return Err(SandboxError::config(
                "secrets.signing_password",
                "must be 6–16 of A–Z and 0–9 with at least one letter and one digit",
            ));
        }
        Ok(())
    }
}

/// Retry limits. The JPKI ones are published (3 and 5); the Kenhojo PIN is
/// 3 like the auth PIN. The limits of 照合番号A/B and the Kenmen birth-date
/// key are **not published**: the sandbox defaults them to 10, a policy
/// value, not a fact about the real card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tries {
    /// JPKI auth PIN (EF 0018).
    pub auth_pin: u8,
    /// JPKI signing password (EF 001B).
    pub signing_password: u8,
    /// Kenhojo PIN (EF 0011).
    pub kenhojo_pin: u8,
    /// Kenhojo 照合番号A/B (EF 0014, 0015). Unpublished; default 10.
    pub kenhojo_check_codes: u8,
    /// Kenmen birth-date key, 照合番号B, 照合番号A (EF 0011, 0012, 0013). Unpublished; default 10.
    pub kenmen_keys: u8,
}

impl Default for Tries {
    fn default() -> Self {
        Self {
            auth_pin: 3,
            signing_password: 5,
            kenhojo_pin: 3,
            kenhojo_check_codes: 10,
            kenmen_keys: 10,
        }
    }
}

impl Tries {
    fn validate(&self) -> Result<(), SandboxError> {
        // 63Cx has four bits for the count.
        for (field, n) in [
            ("tries.auth_pin", self.auth_pin),
            ("tries.signing_password", self.signing_password),
            ("tries.kenhojo_pin", self.kenhojo_pin),
            ("tries.kenhojo_check_codes", self.kenhojo_check_codes),
            ("tries.kenmen_keys", self.kenmen_keys),
        ] {
            if !(1..=15).contains(&n) {
                return Err(SandboxError::config(
                    field,
                    "must be 1..=15 (63Cx has four bits)",
                ));
            }
        }
        Ok(())
    }
}

/// Everything that makes one virtual card.
#[derive(Debug, Clone)]
pub struct CardConfig {
    /// The holder.
    pub holder: Holder,
    /// PINs and password.
    pub secrets: CardSecrets,
    /// Day the certificates were issued (validity starts at 00:00 JST).
    pub issued_on: NaiveDate,
    /// JPKI token label (EF 0006 bytes 0–31): `JPKIAPICCTOKEN2` for a card;
    /// `JPKIAPGPSETOKEN` / `JPKIAPIOSTOKEN` imitate the smartphone tokens.
    pub token_label: String,
    /// False for a child under 15: no signing certificate, key or password.
    pub with_signing_certificate: bool,
    /// Retry limits.
    pub tries: Tries,
}

impl Default for CardConfig {
    fn default() -> Self {
        Self::sample()
    }
}

impl CardConfig {
    /// The sample holder's card, issued 2025-04-01 with both certificates.
    pub fn sample() -> Self {
        Self {
            holder: Holder::sample(),
            secrets: CardSecrets::default(),
            issued_on: NaiveDate::from_ymd_opt(2025, 4, 1).expect("a valid constant date"),
            token_label: "JPKIAPICCTOKEN2".to_owned(),
            with_signing_certificate: true,
            tries: Tries::default(),
        }
    }

    /// Checks the configuration against the card's rules.
    pub fn validate(&self) -> Result<(), SandboxError> {
        self.holder.validate()?;
        self.secrets.validate()?;
        self.tries.validate()?;
        if self.token_label.is_empty()
            || self.token_label.len() > 32
            || !self.token_label.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(SandboxError::config(
                "token_label",
                "1–32 printable ASCII characters",
            ));
        }
        if self.holder.card_expiry <= self.issued_on {
            return Err(SandboxError::config(
                "holder.card_expiry",
                "must be after issued_on",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn sample_holder_codes() {
        let h = Holder::sample();
        assert!(MyNumber::new(h.my_number.expose()).is_ok());
        // 1985-06-15 is Showa 60.
        assert_eq!(h.birth_date_key().as_deref(), Some("600615"));
        assert_eq!(h.check_code_b().as_deref(), Some("60061520354821"));
        assert_eq!(h.certificate_birth_date_code(), "319850615");
        assert_eq!(h.certificate_sex_code(), "2");
        CardConfig::sample().validate().unwrap();
    }

    #[test]
    fn published_check_code_b_example() {
        // card-protocol brief: birth 1980-02-17, expiry 2035, code 2285.
        let h = Holder {
            birth_date: Some(d(1980, 2, 17)),
            card_expiry: d(2035, 2, 17),
            security_code: "2285".into(),
            ..Holder::sample()
        };
        assert_eq!(h.check_code_b().as_deref(), Some("55021720352285"));
    }

    #[test]
    fn certificates_end_on_the_fifth_birthday_after_issue() {
        let h = Holder::sample();
        assert_eq!(h.certificate_last_day(d(2025, 4, 1)), d(2029, 6, 15));
        // Issued on the birthday: that birthday does not count.
        assert_eq!(h.certificate_last_day(d(2025, 6, 15)), d(2030, 6, 15));
        assert_eq!(h.certificate_last_day(d(2025, 6, 16)), d(2030, 6, 15));
        let leap = Holder {
            birth_date: Some(d(2000, 2, 29)),
            ..Holder::sample()
        };
        assert_eq!(leap.certificate_last_day(d(2025, 1, 10)), d(2029, 2, 28));
        assert_eq!(leap.certificate_last_day(d(2027, 1, 10)), d(2031, 2, 28));
        let unknown = Holder {
            birth_date: None,
            ..Holder::sample()
        };
        assert_eq!(unknown.certificate_last_day(d(2025, 4, 1)), d(2030, 4, 1));
        assert_eq!(unknown.certificate_birth_date_code(), "000000000");
        assert_eq!(unknown.check_code_b(), None);
    }

    #[test]
    fn rejects_configurations_the_card_cannot_have() {
        let mut c = CardConfig::sample();
        c.secrets.signing_password = "sandbox1".into();
        assert!(c.validate().is_err());
        let mut c = CardConfig::sample();
        c.tries.auth_pin = 16;
        assert!(c.validate().is_err());
        let mut c = CardConfig::sample();
        c.holder.city_romaji = "千代田区".into();
        assert!(c.validate().is_err());
        assert_eq!(
            format!("{:?}", CardSecrets::default()),
            "CardSecrets(<redacted>)"
        );
    }
}
