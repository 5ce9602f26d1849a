//! The Kenhojo and Kenmen data records: a BER-TLV container (`FF 20`, …)
//! holding private-class primitive fields (`DF21` offsets, `DF22` …).

use iso7816_tlv::ber::{Tag, Tlv, Value};
use zeroize::Zeroizing;

/// Why a record does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// Broken TLV encoding.
    #[error("broken TLV: {0}")]
    Tlv(String),
    /// The outer tag is not the expected container.
    #[error("expected container {expected:04X}, found {found}")]
    WrongContainer {
        /// Expected tag.
        expected: u16,
        /// Found tag (hex).
        found: String,
    },
    /// A required field is missing.
    #[error("field {0:04X} is missing")]
    Missing(u16),
    /// A field has the wrong form.
    #[error("field {tag:04X}: {detail}")]
    BadField {
        /// The field.
        tag: u16,
        /// Why.
        detail: String,
    },
}

/// The fields of one container, in card order. They are personal data:
/// wiped on drop, and `Debug` shows only tags and lengths.
#[derive(Clone, PartialEq, Eq)]
pub struct Record {
    fields: Vec<(u16, Zeroizing<Vec<u8>>)>,
}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(
                self.fields
                    .iter()
                    .map(|(tag, value)| format!("{tag:04X}: {} bytes", value.len())),
            )
            .finish()
    }
}

fn tag_u16(tag: &Tag) -> Option<u16> {
    match tag.to_bytes() {
        [a, b] => Some(u16::from_be_bytes([*a, *b])),
        [a] => Some(u16::from(*a)),
        _ => None,
    }
}

impl Record {
    /// Parses a container with tag `container` (e.g. `0xFF20`). Bytes after
    /// the container (EF filler) are ignored.
    pub fn parse(bytes: &[u8], container: u16) -> Result<Self, RecordError> {
        let (parsed, _filler) = Tlv::parse(bytes);
        let tlv = parsed.map_err(|e| RecordError::Tlv(format!("{e:?}")))?;
        if tag_u16(tlv.tag()) != Some(container) {
            return Err(RecordError::WrongContainer {
                expected: container,
                found: crate::hex::Hex(tlv.tag().to_bytes()).to_string(),
            });
        }
        let Value::Constructed(children) = tlv.value() else {
            return Err(RecordError::Tlv("container is not constructed".into()));
        };
        let mut fields = Vec::with_capacity(children.len());
        for child in children {
            let tag = tag_u16(child.tag())
                .ok_or_else(|| RecordError::Tlv("tag longer than two bytes".into()))?;
            match child.value() {
                Value::Primitive(bytes) => fields.push((tag, Zeroizing::new(bytes.clone()))),
                Value::Constructed(_) => {
                    return Err(RecordError::BadField {
                        tag,
                        detail: "constructed where primitive expected".into(),
                    });
                }
            }
        }
        Ok(Self { fields })
    }

    /// A field's bytes.
    pub fn get(&self, tag: u16) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|(t, _)| *t == tag)
            .map(|(_, v)| v.as_slice())
    }

    /// A required field's bytes.
    pub fn require(&self, tag: u16) -> Result<&[u8], RecordError> {
        self.get(tag).ok_or(RecordError::Missing(tag))
    }

    /// A required UTF-8 text field.
    pub fn text(&self, tag: u16) -> Result<String, RecordError> {
        String::from_utf8(self.require(tag)?.to_vec()).map_err(|_| RecordError::BadField {
            tag,
            detail: "not UTF-8".into(),
        })
    }

    /// A required `YYYYMMDD` date field.
    pub fn date(&self, tag: u16) -> Result<chrono::NaiveDate, RecordError> {
        let text = self.text(tag)?;
        if text.len() != 8 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(RecordError::BadField {
                tag,
                detail: "not YYYYMMDD".into(),
            });
        }
        chrono::NaiveDate::parse_from_str(&text, "%Y%m%d").map_err(|_| RecordError::BadField {
            tag,
            detail: "not a calendar date".into(),
        })
    }

    /// A `YYYYMMDD` date field that the card leaves empty when the date is
    /// unknown (a resident record without a birth date, rules.md R7).
    pub fn optional_date(&self, tag: u16) -> Result<Option<chrono::NaiveDate>, RecordError> {
        if self.require(tag)?.iter().all(|b| *b == b' ') {
            return Ok(None);
        }
        self.date(tag).map(Some)
    }

    /// A required sex code field.
    pub fn sex(&self, tag: u16) -> Result<crate::jp::person::Sex, RecordError> {
        let text = self.text(tag)?;
        crate::jp::person::Sex::from_code(&text).ok_or_else(|| RecordError::BadField {
            tag,
            detail: "not a known sex code".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_container_with_filler() {
        let bytes = [
            0xFF, 0x20, 0x09, 0xDF, 0x22, 0x02, b'h', b'i', 0xDF, 0x25, 0x01, b'2', 0xFF, 0xFF,
            0xFF,
        ];
        let record = Record::parse(&bytes, 0xFF20).unwrap();
        assert_eq!(record.text(0xDF22).unwrap(), "hi");
        assert_eq!(record.sex(0xDF25).unwrap(), crate::jp::person::Sex::Female);
        assert_eq!(record.require(0xDF23), Err(RecordError::Missing(0xDF23)));
    }

    #[test]
    fn rejects_broken_records() {
        assert!(matches!(
            Record::parse(&[0xFF, 0x20, 0x05, 0xDF, 0x22], 0xFF20),
            Err(RecordError::Tlv(_))
        ));
        assert!(matches!(
            Record::parse(&[0xFF, 0x30, 0x00], 0xFF20),
            Err(RecordError::WrongContainer { .. })
        ));
        assert!(Record::parse(&[], 0xFF20).is_err());
        let bad_date = [
            0xFF, 0x20, 0x0B, 0xDF, 0x24, 0x08, b'1', b'9', b'8', b'0', b'1', b'3', b'3', b'2',
        ];
        assert!(matches!(
            Record::parse(&bad_date, 0xFF20).unwrap().date(0xDF24),
            Err(RecordError::BadField { .. })
        ));
    }
}
