//! The data records the card stores, byte for byte: the JPKI token
//! information and certificate-presence files, and the BER-TLV records of
//! the Kenhojo and Kenmen applications (offset tables, digests, issuer
//! signatures).

use mynakit_core::MyNumber;
use rsa::traits::PublicKeyParts;
use rsa::{Pkcs1v15Sign, PrivateKey, PublicKey};
use sha2::{Digest, Sha256};

use crate::error::SandboxError;
use crate::holder::Holder;

/// Kenhojo/Kenmen record tags.
pub mod tag {
    /// Kenhojo EF 0001 and Kenmen EF 0001 container.
    pub const CONTAINER_10: u16 = 0xFF10;
    /// Kenhojo EF 0002 and Kenmen EF 0002 container.
    pub const CONTAINER_20: u16 = 0xFF20;
    /// Kenhojo EF 0003 container.
    pub const CONTAINER_30: u16 = 0xFF30;
    /// Kenmen EF 0005 and Kenhojo EF 0005 container.
    pub const CONTAINER_40: u16 = 0xFF40;
    /// Kenhojo EF 0007 container.
    pub const CONTAINER_50: u16 = 0xFF50;
    /// Offset table in the `FF 20` records.
    pub const OFFSETS: u16 = 0xDF21;
}

/// BER definite length the way the card writes it in its records: short
/// form below 128, and from 128 on always the two-byte long form `82 hh ll`,
/// even where `81 ll` would do.
///
/// Known: every length of 128 or more in the Kenmen EF 0001–0005 and
/// Kenhojo EF 0002–0007 dumps of a J-LIS test card is `82 hh ll` (e.g. Kenmen
/// EF 0002 `DF25 82 00 A9`, Kenhojo EF 0005 `DF43 82 00 80`; myna-card
/// `tests/fixtures/*.bin`), and every shorter one is short form. Assumed:
/// nothing of 65 536 bytes or more (no EF is that big), written `83` here.
pub fn ber_length(len: usize) -> Vec<u8> {
    match len {
        0..=0x7F => vec![len as u8],
        0x80..=0xFFFF => vec![0x82, (len >> 8) as u8, len as u8],
        _ => vec![0x83, (len >> 16) as u8, (len >> 8) as u8, len as u8],
    }
}

/// DER definite length, shortest form (X.690 §10.1): for DER structures
/// such as a DigestInfo, which must be byte-exact to verify.
pub fn der_length(len: usize) -> Vec<u8> {
    match len {
        0..=0x7F => vec![len as u8],
        0x80..=0xFF => vec![0x81, len as u8],
        0x100..=0xFFFF => vec![0x82, (len >> 8) as u8, len as u8],
        _ => vec![0x83, (len >> 16) as u8, (len >> 8) as u8, len as u8],
    }
}

/// A two-byte-tag TLV.
pub fn tlv(tag: u16, value: &[u8]) -> Vec<u8> {
    let mut out = tag.to_be_bytes().to_vec();
    out.extend_from_slice(&ber_length(value.len()));
    out.extend_from_slice(value);
    out
}

/// A constructed container holding the TLVs in `fields` as they are.
pub fn container(tag: u16, fields: &[Vec<u8>]) -> Vec<u8> {
    tlv(tag, &fields.concat())
}

/// A container whose first field is a `DF21` offset table: one big-endian
/// u16 per following field, counted from the first byte of the file (the
/// container's own header included).
pub fn container_with_offsets(tag: u16, fields: &[(u16, &[u8])]) -> Result<Vec<u8>, SandboxError> {
    let encoded: Vec<Vec<u8>> = fields.iter().map(|(t, v)| tlv(*t, v)).collect();
    let table_len = 2 * fields.len();
    let table_tlv_len = 2 + ber_length(table_len).len() + table_len;
    let body_len = table_tlv_len + encoded.iter().map(Vec::len).sum::<usize>();
    let header_len = 2 + ber_length(body_len).len();
    let mut table = Vec::with_capacity(table_len);
    let mut offset = header_len + table_tlv_len;
    for field in &encoded {
        let at = u16::try_from(offset).map_err(|_| {
            SandboxError::config(
                "record",
                format!("field offset {offset} does not fit the 16-bit offset table"),
            )
        })?;
        table.extend_from_slice(&at.to_be_bytes());
        offset += field.len();
    }
    let mut all = vec![tlv(tag::OFFSETS, &table)];
    all.extend(encoded);
    Ok(container(tag, &all))
}

/// The card's public key as Kenmen stores it: `90` public exponent, `91`
/// modulus (`90 03 01 00 01 91 82 01 00` + 256 bytes for RSA-2048).
pub fn public_key_field(key: &PublicKey) -> Vec<u8> {
    let mut modulus = vec![0u8; key.size()];
    let n = key.n_bytes();
    let start = modulus.len().saturating_sub(n.len());
    modulus[start..].copy_from_slice(&n[n.len().saturating_sub(key.size())..]);
    let mut out = Vec::with_capacity(modulus.len() + 9);
    out.push(0x90);
    let e = key.e_bytes();
    out.extend_from_slice(&ber_length(e.len()));
    out.extend_from_slice(&e);
    out.push(0x91);
    out.extend_from_slice(&ber_length(modulus.len()));
    out.extend_from_slice(&modulus);
    out
}

/// PKCS#1 v1.5 signature over SHA-256 of `data`, the way the records' issuer
/// signs (a peer verifies EF 0003 with exactly this).
pub fn sign_sha256(key: &PrivateKey, data: &[u8]) -> Result<Vec<u8>, SandboxError> {
    key.sign(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(data))
        .map_err(|e| SandboxError::Signing(e.to_string()))
}

/// DER `DigestInfo { sha256, NULL }` around an arbitrary-length "digest".
/// Kenmen DF28 puts three concatenated SHA-256 values (96 bytes) in it.
pub fn sha256_digest_info(digest: &[u8]) -> Vec<u8> {
    let algorithm = [
        0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00,
    ];
    let mut octets = vec![0x04];
    octets.extend_from_slice(&der_length(digest.len()));
    octets.extend_from_slice(digest);
    let mut out = vec![0x30];
    out.extend_from_slice(&der_length(algorithm.len() + octets.len()));
    out.extend_from_slice(&algorithm);
    out.extend_from_slice(&octets);
    out
}

/// PKCS#1 v1.5 type-1 padding around `payload` as given, then the private
/// key operation: what COMPUTE DIGITAL SIGNATURE does with a DigestInfo.
pub fn sign_padded(key: &PrivateKey, payload: &[u8]) -> Result<Vec<u8>, SandboxError> {
    key.sign(Pkcs1v15Sign::new_unprefixed(), payload)
        .map_err(|e| SandboxError::Signing(e.to_string()))
}

/// Birth date as the text records write it: `YYYYMMDD`, or empty when the
/// resident record has none (an assumption: no source shows such a card).
fn birth_text(holder: &Holder) -> String {
    holder
        .birth_date
        .map(|d| d.format("%Y%m%d").to_string())
        .unwrap_or_default()
}

/// JPKI EF 0006: PKCS#11 `CK_TOKEN_INFO` with 32-bit big-endian integers,
/// 160 bytes. Field values other than label, model, flags, PIN lengths and
/// versions follow a peer's test layout and are not confirmed on a card.
pub fn token_info(label: &str, serial: &str) -> Vec<u8> {
    fn padded(out: &mut Vec<u8>, text: &str, width: usize) {
        let mut field = text.as_bytes().to_vec();
        field.resize(width, b' ');
        field.truncate(width);
        out.extend_from_slice(&field);
    }
    let mut out = Vec::with_capacity(160);
    padded(&mut out, label, 32);
    padded(&mut out, "00000000000000000000000000000001", 32);
    padded(&mut out, "E16R01NJ", 16);
    padded(&mut out, serial, 16);
    // flags: RNG | LOGIN_REQUIRED | USER_PIN_INITIALIZED | TOKEN_INITIALIZED.
    out.extend_from_slice(&0x0000_040Du32.to_be_bytes());
    // max sessions, sessions, max RW sessions, RW sessions, max PIN, min PIN.
    for n in [1u32, 0, 1, 0, 16, 6] {
        out.extend_from_slice(&n.to_be_bytes());
    }
    // Memory figures: CK_UNAVAILABLE_INFORMATION.
    for _ in 0..4 {
        out.extend_from_slice(&u32::MAX.to_be_bytes());
    }
    // Cards put ASCII "03"/"01" in the CK_VERSION slots.
    out.extend_from_slice(b"0301");
    // No clock on the token (CKF_CLOCK_ON_TOKEN unset): the time is filler.
    out.extend_from_slice(&[b'9'; 16]);
    out
}

/// JPKI EF 0008: `8F` per certificate present, then `00`.
pub fn certificate_presence(with_signing: bool) -> Vec<u8> {
    vec![if with_signing { 0x8F } else { 0x00 }, 0x8F, 0x00]
}

/// Kenhojo EF 0001: `FF 10 0C` + 12 ASCII digits + `FF FF` filler (17 bytes).
pub fn kenhojo_my_number(my_number: &MyNumber) -> Vec<u8> {
    let mut out = tlv(tag::CONTAINER_10, my_number.expose().as_bytes());
    out.extend_from_slice(&[0xFF, 0xFF]);
    out
}

/// Kenhojo EF 0002: name, address, birth date, sex behind an offset table.
pub fn kenhojo_basic_four(holder: &Holder) -> Result<Vec<u8>, SandboxError> {
    let birth = birth_text(holder);
    container_with_offsets(
        tag::CONTAINER_20,
        &[
            (0xDF22, holder.name.as_bytes()),
            (0xDF23, holder.address.as_bytes()),
            (0xDF24, birth.as_bytes()),
            (0xDF25, holder.sex.iso5218().as_bytes()),
        ],
    )
}

/// The part of an `FF 20` record Kenhojo EF 0003 hashes: the container's
/// value after the offset table (DF22 to the end).
pub fn after_offset_table(record: &[u8]) -> Option<&[u8]> {
    let value = tlv_value(record)?;
    value.get(tlv_total_len(value)?..)
}

/// The value of the TLV at the start of `bytes` (two-byte tags only).
fn tlv_value(bytes: &[u8]) -> Option<&[u8]> {
    let (header, len) = header_and_length(bytes)?;
    bytes.get(header..header.checked_add(len)?)
}

fn tlv_total_len(bytes: &[u8]) -> Option<usize> {
    let (header, len) = header_and_length(bytes)?;
    header.checked_add(len)
}

fn header_and_length(bytes: &[u8]) -> Option<(usize, usize)> {
    let first = *bytes.get(2)?;
    match first {
        0x00..=0x7F => Some((3, usize::from(first))),
        0x81..=0x83 => {
            let n = usize::from(first - 0x80);
            let len = bytes
                .get(3..3 + n)?
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
            Some((3 + n, len))
        }
        _ => None,
    }
}

/// Kenhojo EF 0003: SHA-256 of EF 0001 (all 17 bytes, filler included),
/// SHA-256 of EF 0002 from DF22 on, and the issuer's signature over the two
/// digest TLVs.
pub fn kenhojo_integrity(
    ef_0001: &[u8],
    ef_0002: &[u8],
    issuer: &PrivateKey,
) -> Result<Vec<u8>, SandboxError> {
    let after = after_offset_table(ef_0002)
        .ok_or_else(|| SandboxError::Signing("EF 0002 has no offset table".into()))?;
    let signed = [
        tlv(0xDF31, &Sha256::digest(ef_0001)),
        tlv(0xDF32, &Sha256::digest(after)),
    ]
    .concat();
    let signature = sign_sha256(issuer, &signed)?;
    Ok(container(
        tag::CONTAINER_30,
        &[signed, tlv(0xDF33, &signature)],
    ))
}

/// Kenmen EF 0001 (age record): birth date, the card key and the issuer's
/// signature over the two TLVs before it.
pub fn kenmen_age(
    holder: &Holder,
    card_key: &PublicKey,
    issuer: &PrivateKey,
) -> Result<Vec<u8>, SandboxError> {
    let signed = [
        tlv(0xDF11, birth_text(holder).as_bytes()),
        tlv(0xDF12, &public_key_field(card_key)),
    ]
    .concat();
    let signature = sign_sha256(issuer, &signed)?;
    Ok(container(
        tag::CONTAINER_10,
        &[signed, tlv(0xDF13, &signature)],
    ))
}

/// Kenmen EF 0002 (card face). DF28 signs a SHA-256 DigestInfo whose
/// "digest" is SHA-256(DF22+DF23+DF24) ‖ SHA-256(DF25+DF26) ‖ SHA-256(DF27),
/// each over the raw TLVs; DF29 and DF2A come after it and are not signed.
pub fn kenmen_face(
    holder: &Holder,
    card_key: &PublicKey,
    issuer: &PrivateKey,
) -> Result<Vec<u8>, SandboxError> {
    let birth = birth_text(holder);
    let key = public_key_field(card_key);
    let sex = holder.sex.iso5218();
    let mut digests = Vec::with_capacity(96);
    digests.extend_from_slice(&Sha256::digest(
        [
            tlv(0xDF22, birth.as_bytes()),
            tlv(0xDF23, sex.as_bytes()),
            tlv(0xDF24, &key),
        ]
        .concat(),
    ));
    digests.extend_from_slice(&Sha256::digest(
        [
            tlv(0xDF25, &holder.images.name),
            tlv(0xDF26, &holder.images.address),
        ]
        .concat(),
    ));
    digests.extend_from_slice(&Sha256::digest(tlv(0xDF27, &holder.photo)));
    let signature = sign_padded(issuer, &sha256_digest_info(&digests))?;
    let expiry = holder.card_expiry.format("%Y%m%d").to_string();
    container_with_offsets(
        tag::CONTAINER_20,
        &[
            (0xDF22, birth.as_bytes()),
            (0xDF23, sex.as_bytes()),
            (0xDF24, &key),
            (0xDF25, &holder.images.name),
            (0xDF26, &holder.images.address),
            (0xDF27, &holder.photo),
            (0xDF28, &signature),
            (0xDF29, expiry.as_bytes()),
            (0xDF2A, &holder.images.security_code),
        ],
    )
}

/// Kenmen EF 0005: the My Number image, the card key and the issuer's
/// signature over the two TLVs before it.
pub fn kenmen_my_number_image(
    holder: &Holder,
    card_key: &PublicKey,
    issuer: &PrivateKey,
) -> Result<Vec<u8>, SandboxError> {
    let signed = [
        tlv(0xDF41, &holder.images.my_number),
        tlv(0xDF42, &public_key_field(card_key)),
    ]
    .concat();
    let signature = sign_sha256(issuer, &signed)?;
    Ok(container(
        tag::CONTAINER_40,
        &[signed, tlv(0xDF43, &signature)],
    ))
}

/// A 16-byte key identifier as the card writes them: 7 ASCII digits (the
/// key number), `08 05`, 3 ASCII digits (the group), four `00` (myna-card
/// `src/data.rs` `KeyId`, from real cards). The first digit is the
/// hierarchy: `5` production, `6` J-LIS test cards; the sandbox uses `9`.
/// Both arguments must be ASCII digits of the right length.
pub fn key_id(number: &str, group: &str) -> [u8; 16] {
    let mut id = [0u8; 16];
    for (slot, byte) in id.iter_mut().zip(
        number
            .bytes()
            .take(7)
            .chain([0x08, 0x05])
            .chain(group.bytes().take(3)),
    ) {
        *slot = byte;
    }
    id
}

/// The key identifiers a sandbox card carries.
#[derive(Debug, Clone)]
pub struct KeyIds {
    /// The CA key that signs Kenmen EF 0004 (production `5000023/001`).
    pub kenmen_ca: [u8; 16],
    /// The key Kenmen EF 0004 certifies: municipality code + `21`, group
    /// `000` (a real card: `1322121/000` for municipality 13221).
    pub kenmen_issuer: [u8; 16],
    /// The CA key that signs Kenhojo EF 0004 (production `5000033/001`).
    pub kenhojo_ca: [u8; 16],
    /// The key Kenhojo EF 0004 certifies: municipality code + `31`.
    pub kenhojo_issuer: [u8; 16],
    /// Kenmen EF 0003 DF32 (a real test card: `6000024/001`).
    pub kenmen_basic: [u8; 16],
    /// Kenmen EF 0003 DF35's leading key id (a real card: `5900025/001`).
    pub kenmen_opaque: [u8; 16],
    /// Kenhojo EF 0005 DF42 (a real test card: `6000034/001`).
    pub kenhojo_basic: [u8; 16],
    /// The common card AP's EF 0002 and the GET DATA `0042` key reference
    /// (what it names is unknown; a sandbox value).
    pub common_reference: [u8; 16],
}

impl KeyIds {
    /// The identifiers of a sandbox card issued by [`crate::files::MUNICIPALITY_CODE`].
    pub fn for_card() -> Self {
        let municipality = crate::files::MUNICIPALITY_CODE;
        Self {
            kenmen_ca: key_id("9000023", "001"),
            kenmen_issuer: key_id(&format!("{municipality}21"), "000"),
            kenhojo_ca: key_id("9000033", "001"),
            kenhojo_issuer: key_id(&format!("{municipality}31"), "000"),
            kenmen_basic: key_id("9000024", "001"),
            kenmen_opaque: key_id("9900025", "001"),
            kenhojo_basic: key_id("9000034", "001"),
            common_reference: key_id("9000020", "001"),
        }
    }
}

/// A card-verifiable certificate (Kenhojo/Kenmen EF 0004), laid out like a
/// real card's (myna-card `src/data.rs` and `tests/fixtures/surface-0004.bin`):
///
/// ```text
/// 7F21 82 02 33
///   5F4E 82 01 29  issuer key id (16) ‖ subject key id (16) ‖ 90/91 public key (265)
///   5F37 82 01 00  PKCS#1 v1.5 SHA-256 signature over the 297 bytes of 5F4E
/// ```
pub fn cv_certificate(
    issuer_id: &[u8; 16],
    subject_id: &[u8; 16],
    subject_key: &PublicKey,
    ca: &PrivateKey,
) -> Result<Vec<u8>, SandboxError> {
    let body = [
        &issuer_id[..],
        &subject_id[..],
        &public_key_field(subject_key),
    ]
    .concat();
    let signature = sign_sha256(ca, &body)?;
    Ok(container(
        0x7F21,
        &[tlv(0x5F4E, &body), tlv(0x5F37, &signature)],
    ))
}

/// Bytes that stand for data of unknown meaning: fixed per label, so the
/// card stays deterministic.
fn opaque(label: &str, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 32);
    let mut counter = 0u32;
    while out.len() < len {
        out.extend_from_slice(&Sha256::digest(
            [label.as_bytes(), &counter.to_be_bytes()].concat(),
        ));
        counter += 1;
    }
    out.truncate(len);
    out
}

/// Kenmen EF 0003 (application basic data), free to read (myna-card
/// `src/ap/surface.rs`, `tests/fixtures/surface-0003.bin`):
/// `FF30` { `DF31` `06 03 0E 01` (spec version, extended Lc/Le support,
/// vendor id, vendor byte, as on the cards seen), `DF32` a key id, `DF33` `00`
/// version, `DF34` the municipality code, `DF35` a key id and 256 bytes whose
/// meaning is unknown (opaque placeholder here) }.
pub fn kenmen_ap_basic_data(ids: &KeyIds, municipality: &str) -> Vec<u8> {
    let df35 = [&ids.kenmen_opaque[..], &opaque("kenmen DF35", 256)].concat();
    container(
        tag::CONTAINER_30,
        &[
            tlv(0xDF31, &[0x06, 0x03, 0x0E, 0x01]),
            tlv(0xDF32, &ids.kenmen_basic),
            tlv(0xDF33, &[0x00]),
            tlv(0xDF34, municipality.as_bytes()),
            tlv(0xDF35, &df35),
        ],
    )
}

/// Kenhojo EF 0005 (application basic data), free to read (myna-card
/// `src/ap/text.rs`, `tests/fixtures/text-0005.bin`): `FF40` { `DF41`
/// `01 03 0E 01`, `DF42` a key id, `DF43` 128 bytes: 32 of unknown meaning
/// (opaque placeholder here) then 96 `FF` }.
pub fn kenhojo_ap_basic_data(key_id: &[u8; 16]) -> Vec<u8> {
    let mut df43 = opaque("kenhojo DF43", 32);
    df43.resize(128, 0xFF);
    container(
        tag::CONTAINER_40,
        &[
            tlv(0xDF41, &[0x01, 0x03, 0x0E, 0x01]),
            tlv(0xDF42, key_id),
            tlv(0xDF43, &df43),
        ],
    )
}

/// Kenhojo EF 0006: the public key a terminal encrypts a session key to,
/// `A1` { `90` exponent, `91` modulus } (myna-card `tests/fixtures/text-0006.bin`).
pub fn session_key_public_key(key: &PublicKey) -> Vec<u8> {
    let field = public_key_field(key);
    let mut out = vec![0xA1];
    out.extend_from_slice(&ber_length(field.len()));
    out.extend_from_slice(&field);
    out
}

/// Kenhojo EF 0007: the application's signing key, public half, and the
/// issuer's PKCS#1 v1.5 SHA-256 signature over the `DF51` TLV before it
/// (myna-card `src/ap/text.rs` `SignedPublicKey`, `tests/fixtures/text-0007.bin`).
pub fn signed_public_key(key: &PublicKey, issuer: &PrivateKey) -> Result<Vec<u8>, SandboxError> {
    let signed = tlv(0xDF51, &public_key_field(key));
    let signature = sign_sha256(issuer, &signed)?;
    Ok(container(
        tag::CONTAINER_50,
        &[signed, tlv(0xDF52, &signature)],
    ))
}

/// Common card AP, EF 0001 record 1: simple TLV `01 1C` + 15-digit serial +
/// 5-digit municipality code + `YYYYMMDD` expiry (myna-card `src/ap/common.rs`).
pub fn common_card_info(serial: &str, municipality: &str, expiry: &str) -> Vec<u8> {
    let text = format!("{serial}{municipality}{expiry}");
    let mut out = vec![0x01, text.len() as u8];
    out.extend_from_slice(text.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
    use mynakit_core::Record;
    use mynakit_core::Sex;
    use rsa::Pkcs1v15Sign;

    use super::*;
    use crate::fixtures::FixtureKey;

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn record_lengths_are_written_like_the_real_card() {
        assert_eq!(ber_length(0x7F), [0x7F]);
        // The real card's `DF25 82 00 A9` and `DF43 82 00 80`: never `81`.
        assert_eq!(ber_length(0xA9), [0x82, 0x00, 0xA9]);
        assert_eq!(ber_length(0x80), [0x82, 0x00, 0x80]);
        assert_eq!(ber_length(0x100), [0x82, 0x01, 0x00]);
        assert_eq!(ber_length(0x1_0000), [0x83, 0x01, 0x00, 0x00]);
        // DER stays minimal.
        assert_eq!(der_length(0x80), [0x81, 0x80]);
        assert_eq!(der_length(0x7F), [0x7F]);
    }

    #[test]
    fn basic_four_matches_a_real_card_byte_for_byte() {
        // EF 0002 of a J-LIS test card as published by a peer (myna-card tests).
        let expected = hex(concat!(
            "ff2065df2108000e002000590064df22",
            "0fe9bb92e6a190e38080e5b9b9e4b99f",
            "df2336e69db1e4baace983bde6b885e7",
            "80ace5b882e8a6b3e5b883e5ad90e58d",
            "97efbc91efbc92efbc8defbc97efbc8d",
            "efbc92efbc90efbc92df240831393830",
            "30323137df250131"
        ));
        let holder = Holder {
            name: "黒桐\u{3000}幹也".into(),
            address: "東京都清瀬市観布子南１２－７－２０２".into(),
            birth_date: NaiveDate::from_ymd_opt(1980, 2, 17),
            sex: Sex::Male,
            ..Holder::sample()
        };
        assert_eq!(kenhojo_basic_four(&holder).unwrap(), expected);
    }

    #[test]
    fn kenhojo_my_number_layout() {
        let n = MyNumber::new("123456789018").unwrap();
        let ef = kenhojo_my_number(&n);
        assert_eq!(ef.len(), 17);
        assert_eq!(&ef[..3], &[0xFF, 0x10, 0x0C]);
        assert_eq!(&ef[3..15], b"123456789018");
        assert_eq!(&ef[15..], &[0xFF, 0xFF]);
    }

    #[test]
    fn offsets_point_at_each_field_and_long_lengths_work() {
        let big = vec![7u8; 300];
        let rec = container_with_offsets(0xFF20, &[(0xDF22, b"ab"), (0xDF23, &big), (0xDF24, b"")])
            .unwrap();
        assert_eq!(&rec[..2], &[0xFF, 0x20]);
        assert_eq!(rec[2], 0x82);
        let table = &rec[5 + 3..5 + 3 + 6];
        let offsets: Vec<usize> = table
            .chunks(2)
            .map(|c| usize::from(u16::from_be_bytes([c[0], c[1]])))
            .collect();
        assert_eq!(&rec[offsets[0]..offsets[0] + 2], &[0xDF, 0x22]);
        assert_eq!(
            &rec[offsets[1]..offsets[1] + 5],
            &[0xDF, 0x23, 0x82, 0x01, 0x2C]
        );
        assert_eq!(&rec[offsets[2]..], &[0xDF, 0x24, 0x00]);
    }

    #[test]
    fn integrity_record_digests_and_signature() {
        let holder = Holder::sample();
        let ef1 = kenhojo_my_number(&holder.my_number);
        let ef2 = kenhojo_basic_four(&holder).unwrap();
        let ef3 = kenhojo_integrity(&ef1, &ef2, FixtureKey::FaceIssuer.private_key()).unwrap();
        let record = Record::parse(&ef3, 0xFF30).unwrap();
        assert_eq!(
            record.require(0xDF31).unwrap(),
            Sha256::digest(&ef1).as_slice()
        );
        let df22_on = &ef2[3 + 2 + 1 + 8..];
        assert_eq!(&df22_on[..2], &[0xDF, 0x22]);
        assert_eq!(
            record.require(0xDF32).unwrap(),
            Sha256::digest(df22_on).as_slice()
        );
        assert_eq!(
            &ef3[..5],
            &[0xFF, 0x30, 0x82, 0x01, 0x4B],
            "same length as a real card (myna-card)"
        );
        let signed = &ef3[5..5 + 70];
        let issuer = FixtureKey::FaceIssuer.private_key().as_public_key();
        issuer
            .verify(
                Pkcs1v15Sign::new::<Sha256>(),
                &Sha256::digest(signed),
                record.require(0xDF33).unwrap(),
            )
            .unwrap();
    }

    #[test]
    fn token_info_is_160_bytes_with_the_label_first() {
        let info = token_info("JPKIAPICCTOKEN2", "0000000020500003");
        assert_eq!(info.len(), 160);
        assert_eq!(&info[..32], b"JPKIAPICCTOKEN2                 ");
        assert_eq!(&info[64..80], b"E16R01NJ        ");
        assert_eq!(&info[96..100], &[0, 0, 0x04, 0x0D]);
        assert_eq!(&info[116..124], &[0, 0, 0, 16, 0, 0, 0, 6]);
        assert_eq!(&info[124..140], &[0xFF; 16]);
        assert_eq!(&info[140..144], b"0301");
        assert_eq!(certificate_presence(false), [0x00, 0x8F, 0x00]);
    }
}
