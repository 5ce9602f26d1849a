//! The Kenhojo application (券面事項入力補助): the card face as text, and the
//! My Number, each after the 4-digit PIN.

use chrono::NaiveDate;
use serde::Serialize;
use zeroize::Zeroize;

use super::channel::{CardChannel, ContentLength};
use super::error::{CardError, Malformation};
use super::layout::{Application, kenhojo};
use super::pin::{KenhojoPin, LastTry};
use super::records::Record;
use super::verify::PinStatus;
use crate::jp::person::{MyNumber, Sex};
use crate::platform::CardTransport;

/// The basic four (基本4情報) as the chip records them. Personal data:
/// redacted in `Debug`, name and address wiped on drop.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct BasicInfo {
    /// Full name; family and given name are separated by U+3000.
    pub name: String,
    /// Address.
    pub address: String,
    /// Birth date; `None` when the card records it as unknown (rules.md R7).
    pub birth_date: Option<NaiveDate>,
    /// Sex.
    pub sex: Sex,
}

impl std::fmt::Debug for BasicInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicInfo")
            .field("name", &"<redacted>")
            .field("address", &"<redacted>")
            .field("birth_date", &"<redacted>")
            .field("sex", &"<redacted>")
            .finish()
    }
}

impl Drop for BasicInfo {
    fn drop(&mut self) {
        self.name.zeroize();
        self.address.zeroize();
    }
}

impl BasicInfo {
    /// Family and given name, split at the ideographic space (if present).
    pub fn name_parts(&self) -> (&str, Option<&str>) {
        match self.name.split_once('\u{3000}') {
            Some((family, given)) => (family, Some(given)),
            None => (&self.name, None),
        }
    }

    /// Parses EF 0002 (`FF 20` { DF21 offsets, DF22 name, DF23 address, DF24 birth date, DF25 sex }).
    pub fn parse(bytes: &[u8]) -> Result<Self, CardError> {
        const WHAT: &str = "basic information record";
        let record = Record::parse(bytes, 0xFF20).map_err(|e| CardError::malformed(WHAT, e))?;
        let field = |e| CardError::malformed(WHAT, e);
        Ok(Self {
            name: record.text(0xDF22).map_err(field)?,
            address: record.text(0xDF23).map_err(field)?,
            birth_date: record.optional_date(0xDF24).map_err(field)?,
            sex: record.sex(0xDF25).map_err(field)?,
        })
    }
}

/// Parses EF 0001: `FF 10 0C` and twelve ASCII digits. The header is taken as
/// fixed bytes: `FF` has BER's constructed bit set, yet the content is raw digits.
pub fn parse_my_number(bytes: &[u8]) -> Result<MyNumber, CardError> {
    const WHAT: &str = "My Number record";
    match bytes {
        [0xFF, 0x10, 0x0C, rest @ ..] if let Some(digits) = rest.get(..12) => {
            let digits = std::str::from_utf8(digits)
                .map_err(|_| CardError::malformed(WHAT, Malformation::NotDigits))?;
            MyNumber::new(digits).map_err(|e| CardError::malformed(WHAT, e))
        }
        _ => Err(CardError::malformed(
            WHAT,
            Malformation::Prefix {
                expected: "FF 10 0C and twelve digits",
            },
        )),
    }
}

/// Operations on the Kenhojo application of one card session.
pub struct Kenhojo<'a, T> {
    channel: &'a mut CardChannel<T>,
}

impl<'a, T: CardTransport> Kenhojo<'a, T> {
    /// Wraps a channel.
    pub fn new(channel: &'a mut CardChannel<T>) -> Self {
        Self { channel }
    }

    /// Tries left for the Kenhojo PIN, read without spending a try.
    pub async fn pin_status(&mut self) -> Result<PinStatus, CardError> {
        self.channel
            .pin_status(Application::Kenhojo, kenhojo::PIN)
            .await
    }

    /// Verifies the PIN (once per session) and reads name, address, birth date and sex.
    pub async fn read_basic_info(
        &mut self,
        pin: &KenhojoPin,
        last_try: LastTry,
    ) -> Result<BasicInfo, CardError> {
        self.channel
            .verify_pin(Application::Kenhojo, kenhojo::PIN, pin, last_try)
            .await?;
        // Wiped on drop (read_ef's buffer).
        let bytes = self
            .channel
            .read_ef(
                Application::Kenhojo,
                kenhojo::BASIC_FOUR,
                ContentLength::Tlv,
                "basic information record",
            )
            .await?;
        BasicInfo::parse(&bytes)
    }

    /// Verifies the PIN (once per session) and reads the My Number. Only call
    /// this with a legal basis for handling it: nothing else in the library does.
    pub async fn read_my_number(
        &mut self,
        pin: &KenhojoPin,
        last_try: LastTry,
    ) -> Result<MyNumber, CardError> {
        self.channel
            .verify_pin(Application::Kenhojo, kenhojo::PIN, pin, last_try)
            .await?;
        let bytes = self
            .channel
            .read_ef(
                Application::Kenhojo,
                kenhojo::MY_NUMBER,
                ContentLength::Exact(15),
                "My Number record",
            )
            .await?;
        parse_my_number(&bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn my_number_record() {
        let mut bytes = vec![0xFF, 0x10, 0x0C];
        bytes.extend_from_slice(b"123456789018\xFF\xFF");
        assert_eq!(parse_my_number(&bytes).unwrap().expose(), "123456789018");
        assert!(parse_my_number(&bytes[..10]).is_err());
        bytes[14] = b'9';
        assert!(matches!(
            parse_my_number(&bytes),
            Err(CardError::Malformed { .. })
        ));
    }

    #[test]
    fn basic_info_is_redacted_in_debug() {
        let info = BasicInfo {
            name: "番号\u{3000}花子".into(),
            address: "東京都千代田区霞が関2-1-2".into(),
            birth_date: chrono::NaiveDate::from_ymd_opt(1985, 6, 15),
            sex: Sex::Female,
        };
        let shown = format!("{info:?}");
        for secret in ["花子", "千代田", "1985", "Female"] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }

    #[test]
    fn name_parts_split_at_ideographic_space() {
        let info = BasicInfo {
            name: "番号\u{3000}花子".into(),
            address: String::new(),
            birth_date: None,
            sex: Sex::Female,
        };
        assert_eq!(info.name_parts(), ("番号", Some("花子")));
    }
}
