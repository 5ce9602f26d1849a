//! The Kenhojo and Kenmen data records: a BER-TLV container (`FF 20`, …)
//! holding private-class primitive fields (`DF21` offsets, `DF22` …).
//!
//! Lengths may be in any definite BER form: the real card writes `82 00 A9`
//! where `81 A9` would do (see [`super::ber`]).

use zeroize::Zeroizing;

use super::ber::{self, BerError};

/// Why a record does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// Broken TLV encoding.
    #[error("broken TLV: {0}")]
    Tlv(#[from] BerError),
    /// The outer tag is not the expected container.
    #[error("expected container {expected:04X}, found {found}")]
    WrongContainer {
        /// Expected tag.
        expected: u16,
        /// Found tag (hex).
        found: String,
    },
    /// The container is primitive: it holds no fields.
    #[error("container {0:04X} is not constructed")]
    NotConstructed(u16),
    /// A field's tag is not a two-byte tag.
    #[error("field tag {0:X} is not a two-byte tag")]
    BadTag(u32),
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

/// One field: its tag and its bytes as written (header included), because
/// the issuer's signatures cover the fields exactly as the card wrote them.
/// Personal data: wiped on drop.
#[derive(Clone, PartialEq, Eq)]
struct Field {
    tag: u16,
    raw: Zeroizing<Vec<u8>>,
    header_len: usize,
}

impl Field {
    fn value(&self) -> &[u8] {
        self.raw.get(self.header_len..).unwrap_or_default()
    }
}

/// The fields of one container, in card order. They are personal data:
/// wiped on drop, and `Debug` shows only tags and lengths.
#[derive(Clone, PartialEq, Eq)]
pub struct Record {
    fields: Vec<Field>,
}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(
                self.fields
                    .iter()
                    .map(|field| format!("{:04X}: {} bytes", field.tag, field.value().len())),
            )
            .finish()
    }
}

impl Record {
    /// Parses a container with tag `container` (e.g. `0xFF20`). Bytes after
    /// the container (EF filler) are ignored.
    pub fn parse(bytes: &[u8], container: u16) -> Result<Self, RecordError> {
        let (outer, _filler) = ber::read(bytes)?;
        if outer.tag != u32::from(container) {
            return Err(RecordError::WrongContainer {
                expected: container,
                found: format!("{:X}", outer.tag),
            });
        }
        if !outer.constructed {
            return Err(RecordError::NotConstructed(container));
        }
        let mut fields = Vec::new();
        for child in ber::objects(outer.value) {
            let child = child?;
            let tag = u16::try_from(child.tag)
                .ok()
                .filter(|t| *t > 0xFF)
                .ok_or(RecordError::BadTag(child.tag))?;
            if child.constructed {
                return Err(RecordError::BadField {
                    tag,
                    detail: "constructed where primitive expected".into(),
                });
            }
            fields.push(Field {
                tag,
                raw: Zeroizing::new(child.raw.to_vec()),
                header_len: child.raw.len().saturating_sub(child.value.len()),
            });
        }
        Ok(Self { fields })
    }

    /// The tags of the fields, in card order.
    pub fn tags(&self) -> impl Iterator<Item = u16> + '_ {
        self.fields.iter().map(|f| f.tag)
    }

    /// A field exactly as written: tag, length (in the card's form) and value.
    pub fn raw(&self, tag: u16) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|f| f.tag == tag)
            .map(|f| f.raw.as_slice())
    }

    /// A field's bytes.
    pub fn get(&self, tag: u16) -> Option<&[u8]> {
        self.fields.iter().find(|f| f.tag == tag).map(Field::value)
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

    /// A two-byte-tag TLV with the length written short (`< 0x80`) or, like
    /// the real card, as `82 hh ll` (any length when `long`).
    fn tlv(tag: u16, value: &[u8], long: bool) -> Vec<u8> {
        let mut out = tag.to_be_bytes().to_vec();
        let len = u16::try_from(value.len()).unwrap();
        if long || len > 0x7F {
            out.push(0x82);
            out.extend_from_slice(&len.to_be_bytes());
        } else {
            out.push(u8::try_from(len).unwrap());
        }
        out.extend_from_slice(value);
        out
    }

    fn face_like(long: bool) -> Vec<u8> {
        let image = vec![0x5A; 0xA9];
        let body = [
            tlv(0xDF22, b"19850615", long),
            tlv(0xDF23, b"2", long),
            tlv(0xDF25, &image, long),
        ]
        .concat();
        let mut out = tlv(0xFF20, &body, long);
        out.extend_from_slice(&[0xFF; 4]);
        out
    }

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
        assert_eq!(record.tags().collect::<Vec<_>>(), [0xDF22, 0xDF25]);
    }

    #[test]
    fn short_and_long_lengths_give_the_same_fields() {
        let short = Record::parse(&face_like(false), 0xFF20).unwrap();
        let long = Record::parse(&face_like(true), 0xFF20).unwrap();
        for tag in [0xDF22, 0xDF23, 0xDF25] {
            assert_eq!(short.get(tag), long.get(tag), "{tag:04X}");
        }
        assert_eq!(long.get(0xDF25).map(<[u8]>::len), Some(0xA9));
        // The raw field keeps the card's own length form, for signatures.
        assert_eq!(
            long.raw(0xDF23),
            Some(&[0xDF, 0x23, 0x82, 0x00, 0x01, b'2'][..])
        );
        assert_eq!(short.raw(0xDF23), Some(&[0xDF, 0x23, 0x01, b'2'][..]));
        assert_eq!(
            long.raw(0xDF25).and_then(|r| r.get(..5)),
            Some(&[0xDF, 0x25, 0x82, 0x00, 0xA9][..])
        );
    }

    #[test]
    fn the_real_cards_df25_header_parses() {
        // `DF25 82 00 A9` inside `FF20 82 …`, as on a real Kenmen EF 0002
        // (myna-card tests/fixtures/surface-0002.bin); iso7816-tlv 0.4
        // failed this with TruncatedInput.
        let image = [0x89; 0xA9];
        let mut body = vec![0xDF, 0x23, 0x01, b'1', 0xDF, 0x25, 0x82, 0x00, 0xA9];
        body.extend_from_slice(&image);
        let mut bytes = vec![0xFF, 0x20, 0x82, 0x00, u8::try_from(body.len()).unwrap()];
        bytes.extend_from_slice(&body);
        let record = Record::parse(&bytes, 0xFF20).unwrap();
        assert_eq!(record.get(0xDF25), Some(&image[..]));
        assert_eq!(record.text(0xDF23).unwrap(), "1");
    }

    #[test]
    fn rejects_broken_records() {
        assert_eq!(
            Record::parse(&[0xFF, 0x20, 0x05, 0xDF, 0x22], 0xFF20),
            Err(RecordError::Tlv(BerError::TruncatedValue {
                needed: 5,
                available: 2
            }))
        );
        // A child that runs past the container's end.
        assert_eq!(
            Record::parse(&[0xFF, 0x20, 0x03, 0xDF, 0x22, 0x05, b'a', b'b'], 0xFF20),
            Err(RecordError::Tlv(BerError::TruncatedValue {
                needed: 5,
                available: 0
            }))
        );
        assert_eq!(
            Record::parse(&[0xFF, 0x30, 0x00], 0xFF20),
            Err(RecordError::WrongContainer {
                expected: 0xFF20,
                found: "FF30".into()
            })
        );
        assert_eq!(
            Record::parse(&[0xDF, 0x20, 0x00], 0xDF20),
            Err(RecordError::NotConstructed(0xDF20))
        );
        assert_eq!(
            Record::parse(&[0xFF, 0x20, 0x03, 0x90, 0x01, 0x00], 0xFF20),
            Err(RecordError::BadTag(0x90))
        );
        assert_eq!(
            Record::parse(&[], 0xFF20),
            Err(RecordError::Tlv(BerError::Empty))
        );
        let bad_date = [
            0xFF, 0x20, 0x0B, 0xDF, 0x24, 0x08, b'1', b'9', b'8', b'0', b'1', b'3', b'3', b'2',
        ];
        assert_eq!(
            Record::parse(&bad_date, 0xFF20).unwrap().date(0xDF24),
            Err(RecordError::BadField {
                tag: 0xDF24,
                detail: "not a calendar date".into()
            })
        );
    }
}
