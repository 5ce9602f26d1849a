//! A small, total BER-TLV reader (ISO/IEC 7816-4 §5.2, ISO/IEC 8825-1 §8.1)
//! for what this card stores: Kenhojo/Kenmen records and card-verifiable
//! certificates.
//!
//! Every definite length form is accepted, minimal or not: the real card
//! writes every length of 128 or more as `82 hh ll`, even where `81 ll` would
//! do (Kenmen EF 0002 `DF25 82 00 A9`, a J-LIS test card dumped by myna-card,
//! `tests/fixtures/surface-0002.bin`). The `iso7816-tlv` crate this replaces
//! re-derives each child's size from its value length, so it miscounts a
//! constructed value whose children use such lengths.
//!
//! Nothing here panics or slices outside data unchecked; every failure is a
//! typed [`BerError`].

/// Why bytes are not a BER-TLV data object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BerError {
    /// No bytes where a data object must start.
    #[error("no data object: the input is empty")]
    Empty,
    /// The first tag byte is `00`, which ISO/IEC 7816-4 forbids.
    #[error("tag byte 00 is not a tag (unwritten file?)")]
    ZeroTag,
    /// A multi-byte tag is cut off.
    #[error("the tag is cut off")]
    TruncatedTag,
    /// A tag longer than three bytes (none on this card is).
    #[error("tag longer than 3 bytes")]
    TagTooLong,
    /// The length field is missing or cut off.
    #[error("the length field is cut off")]
    TruncatedLength,
    /// Indefinite length (`80`), which ISO/IEC 7816-4 does not use.
    #[error("indefinite length (80) is not allowed here")]
    IndefiniteLength,
    /// A length field of more than four bytes, or the reserved `FF`.
    #[error("length byte {0:02X} is not a supported length form")]
    UnsupportedLength(u8),
    /// The value runs past the end of the input.
    #[error("the value needs {needed} bytes, {available} are left")]
    TruncatedValue {
        /// Bytes the length field declares.
        needed: usize,
        /// Bytes there are.
        available: usize,
    },
}

/// One data object, borrowing from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tlv<'a> {
    /// The tag bytes as a number (`0xFF20`, `0xDF25`, `0x7F21`, `0x90`).
    pub tag: u32,
    /// Bit 6 of the first tag byte: the value is itself a run of objects.
    pub constructed: bool,
    /// The value field.
    pub value: &'a [u8],
    /// The whole object as written: tag, length and value.
    pub raw: &'a [u8],
}

/// Reads the data object at the start of `input`; returns it and the bytes after it.
pub(crate) fn read(input: &[u8]) -> Result<(Tlv<'_>, &[u8]), BerError> {
    let (&first, mut rest) = input.split_first().ok_or(BerError::Empty)?;
    if first == 0x00 {
        return Err(BerError::ZeroTag);
    }
    let mut tag = u32::from(first);
    if first & 0x1F == 0x1F {
        // Subsequent tag bytes: bit 8 set means another one follows.
        let mut tag_len = 1;
        loop {
            let (&b, after) = rest.split_first().ok_or(BerError::TruncatedTag)?;
            rest = after;
            tag_len += 1;
            if tag_len > 3 {
                return Err(BerError::TagTooLong);
            }
            tag = (tag << 8) | u32::from(b);
            if b & 0x80 == 0 {
                break;
            }
        }
    }
    let (&len0, after) = rest.split_first().ok_or(BerError::TruncatedLength)?;
    rest = after;
    let len = match len0 {
        0x00..=0x7F => usize::from(len0),
        0x80 => return Err(BerError::IndefiniteLength),
        0x81..=0x84 => {
            let n = usize::from(len0 & 0x7F);
            let (digits, after) = rest.split_at_checked(n).ok_or(BerError::TruncatedLength)?;
            rest = after;
            // Leading zero bytes are allowed (`82 00 A9`): BER, not DER.
            let len = digits
                .iter()
                .fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
            usize::try_from(len).unwrap_or(usize::MAX)
        }
        _ => return Err(BerError::UnsupportedLength(len0)),
    };
    let (value, after) = rest.split_at_checked(len).ok_or(BerError::TruncatedValue {
        needed: len,
        available: rest.len(),
    })?;
    let raw_len = input.len().saturating_sub(after.len());
    let raw = input.get(..raw_len).unwrap_or_default();
    Ok((
        Tlv {
            tag,
            constructed: first & 0x20 != 0,
            value,
            raw,
        },
        after,
    ))
}

/// The data objects that fill `input` exactly, in order. Stops after the
/// first error.
pub(crate) fn objects(input: &[u8]) -> impl Iterator<Item = Result<Tlv<'_>, BerError>> {
    let mut rest = Some(input);
    std::iter::from_fn(move || {
        let bytes = rest.take()?;
        if bytes.is_empty() {
            return None;
        }
        match read(bytes) {
            Ok((tlv, after)) => {
                rest = Some(after);
                Some(Ok(tlv))
            }
            Err(e) => Some(Err(e)),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_length_form_gives_the_same_object() {
        let value = [0xAB; 3];
        for header in [
            &[0xDF, 0x25, 0x03][..],
            &[0xDF, 0x25, 0x81, 0x03],
            &[0xDF, 0x25, 0x82, 0x00, 0x03],
            &[0xDF, 0x25, 0x83, 0x00, 0x00, 0x03],
            &[0xDF, 0x25, 0x84, 0x00, 0x00, 0x00, 0x03],
        ] {
            let bytes = [header, &value[..], &[0xFF]].concat();
            let (tlv, rest) = read(&bytes).unwrap();
            assert_eq!(tlv.tag, 0xDF25, "{header:02X?}");
            assert!(!tlv.constructed);
            assert_eq!(tlv.value, value);
            assert_eq!(tlv.raw.len(), header.len() + 3);
            assert_eq!(rest, [0xFF]);
        }
    }

    #[test]
    fn the_real_cards_long_form_of_a_short_length() {
        // DF25 82 00 A9: 169 bytes with a two-byte length (real Kenmen EF 0002).
        let mut bytes = vec![0xDF, 0x25, 0x82, 0x00, 0xA9];
        bytes.extend(std::iter::repeat_n(0x55, 0xA9));
        let (tlv, rest) = read(&bytes).unwrap();
        assert_eq!(tlv.value.len(), 0xA9);
        assert!(rest.is_empty());
    }

    #[test]
    fn tags_of_one_two_and_three_bytes() {
        assert_eq!(read(&[0x90, 0x00]).unwrap().0.tag, 0x90);
        let (cv, _) = read(&[0x7F, 0x21, 0x00]).unwrap();
        assert_eq!((cv.tag, cv.constructed), (0x7F21, true));
        assert_eq!(read(&[0x5F, 0x81, 0x01, 0x00]).unwrap().0.tag, 0x5F8101);
        assert_eq!(
            read(&[0x5F, 0x81, 0x81, 0x01, 0x00]),
            Err(BerError::TagTooLong)
        );
    }

    #[test]
    fn broken_input_gives_exact_errors() {
        assert_eq!(read(&[]), Err(BerError::Empty));
        assert_eq!(read(&[0x00, 0x00]), Err(BerError::ZeroTag));
        assert_eq!(read(&[0xDF]), Err(BerError::TruncatedTag));
        assert_eq!(read(&[0xDF, 0x81]), Err(BerError::TruncatedTag));
        assert_eq!(read(&[0xDF, 0x25]), Err(BerError::TruncatedLength));
        assert_eq!(
            read(&[0xDF, 0x25, 0x82, 0x01]),
            Err(BerError::TruncatedLength)
        );
        assert_eq!(read(&[0xFF, 0x20, 0x80]), Err(BerError::IndefiniteLength));
        assert_eq!(
            read(&[0xFF, 0x20, 0x85, 0, 0, 0, 0, 1]),
            Err(BerError::UnsupportedLength(0x85))
        );
        assert_eq!(
            read(&[0xFF, 0x20, 0x84, 0xFF, 0xFF, 0xFF, 0xFF]),
            Err(BerError::TruncatedValue {
                needed: 0xFFFF_FFFF,
                available: 0
            })
        );
        assert_eq!(
            read(&[0xDF, 0x22, 0x05, b'a']),
            Err(BerError::TruncatedValue {
                needed: 5,
                available: 1
            })
        );
    }

    #[test]
    fn objects_fill_the_input_or_fail() {
        let bytes = [0xDF, 0x22, 0x01, b'a', 0xDF, 0x23, 0x82, 0x00, 0x01, b'b'];
        let all: Vec<_> = objects(&bytes).map(|t| t.unwrap().value).collect();
        assert_eq!(all, [b"a", b"b"]);
        let cut = bytes.get(..9).unwrap();
        let broken: Vec<_> = objects(cut).collect();
        assert_eq!(broken.len(), 2);
        assert_eq!(
            broken.last(),
            Some(&Err(BerError::TruncatedValue {
                needed: 1,
                available: 0
            }))
        );
        assert_eq!(objects(&[]).count(), 0);
    }

    #[test]
    fn the_channel_sizes_every_length_form_as_this_reader_does() {
        // READ BINARY stops at the object's end (channel::tlv_total_length):
        // it must agree with this reader on non-minimal lengths too.
        for bytes in [
            &[0xFF, 0x20, 0x03, 1, 2, 3][..],
            &[0xFF, 0x20, 0x81, 0x03, 1, 2, 3],
            &[0xFF, 0x20, 0x82, 0x00, 0x03, 1, 2, 3],
            &[0xFF, 0x20, 0x83, 0x00, 0x00, 0x03, 1, 2, 3],
            &[0xFF, 0x20, 0x84, 0x00, 0x00, 0x00, 0x03, 1, 2, 3],
        ] {
            let (tlv, _) = read(bytes).unwrap();
            assert_eq!(
                super::super::channel::tlv_total_length(bytes),
                Ok(Some(tlv.raw.len()))
            );
        }
    }
}
