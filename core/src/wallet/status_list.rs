//! The IETF Token Status List (draft-ietf-oauth-status-list, app-protocols
//! §2) in its CWT form: a bit string of `bits`-wide entries, entry `i` at
//! bits `(i·bits) mod 8` onward of byte `⌊i·bits/8⌋`, least significant
//! first, DEFLATE-compressed in zlib format, in a COSE_Sign1 (tag 18) with
//! `typ` `application/statuslist+cwt` and the claims `sub` (2, the list's
//! URI), `iat` (6), `exp` (4), `ttl` (65534) and `status_list` (65533,
//! {`bits`, `lst`}).
//!
//! The wallet's issuer uses 2 bits so VALID (0), INVALID (1) and SUSPENDED
//! (2) are all expressible — our choice (multipaz reads ISO mdoc status as
//! one bit; a one-bit reader would see SUSPENDED as VALID, so a verifier
//! that trusts our records must read two).

use std::io::{Read, Write};

use chrono::{DateTime, Duration, Utc};
use ciborium::Value;
use coset::{
    CborSerializable, CoseSign1, CoseSign1Builder, HeaderBuilder, TaggedCborSerializable, iana,
};
use flate2::Compression;
use flate2::read::ZlibDecoder;
use flate2::write::ZlibEncoder;

use super::mdoc::{decode, encode};
use super::trust::{ChainFailure, verifies_es256, verify_chain};

/// `typ` of a status list token in CWT form.
pub const STATUS_LIST_CWT_TYPE: &str = "application/statuslist+cwt";

/// The largest list this reader decompresses (a zlib bomb stops here):
/// 10⁸ two-bit entries, 25 MB. **Policy value.**
pub const MAX_LIST_BYTES: usize = 25_000_000;

const SUB: i64 = 2;
const EXP: i64 = 4;
const IAT: i64 = 6;
const TTL: i64 = 65534;
const STATUS_LIST: i64 = 65533;
const TYP: i64 = 16;
const X5CHAIN: i64 = 33;

/// A status value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// `0x00`.
    Valid,
    /// `0x01`: revoked for good.
    Invalid,
    /// `0x02`: suspended.
    Suspended,
    /// Any other value (application-specific).
    Other(u8),
}

impl Status {
    fn value(self) -> u8 {
        match self {
            Self::Valid => 0,
            Self::Invalid => 1,
            Self::Suspended => 2,
            Self::Other(v) => v,
        }
    }

    fn from_value(value: u8) -> Self {
        match value {
            0 => Self::Valid,
            1 => Self::Invalid,
            2 => Self::Suspended,
            other => Self::Other(other),
        }
    }
}

/// Why a status list could not be built, read or trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatusListError {
    /// `bits` is not 1, 2, 4 or 8.
    #[error("bits must be 1, 2, 4 or 8, not {0}")]
    Bits(u8),
    /// The index is past the list's end.
    #[error("index {0} is past the list")]
    OutOfRange(u64),
    /// The value does not fit in `bits`.
    #[error("status {0} does not fit in the list's bits")]
    TooWide(u8),
    /// The token or the list is not what the draft describes.
    #[error("malformed status list token: {what}")]
    Malformed {
        /// What was wrong.
        what: String,
    },
    /// The token is not signed by a trusted issuer.
    #[error("the status list's signer is not trusted: {0}")]
    Untrusted(ChainFailure),
    /// The signature does not verify.
    #[error("the status list's signature does not verify")]
    BadSignature,
    /// The token is for another list.
    #[error("the status list is {found}, not {expected}")]
    WrongUri {
        /// What the token says.
        found: String,
        /// What was asked for.
        expected: String,
    },
    /// The token's `exp` has passed.
    #[error("the status list expired at {0}")]
    Expired(DateTime<Utc>),
    /// The signer failed.
    #[error("the status list's signer failed")]
    Signer,
}

fn malformed(what: &str) -> StatusListError {
    StatusListError::Malformed {
        what: what.to_owned(),
    }
}

/// A list of statuses.
#[derive(Clone, PartialEq, Eq)]
pub struct StatusList {
    bits: u8,
    bytes: Vec<u8>,
}

impl std::fmt::Debug for StatusList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusList")
            .field("bits", &self.bits)
            .field("entries", &self.len())
            .finish()
    }
}

impl StatusList {
    /// `len` entries of `bits` each, all VALID.
    pub fn new(bits: u8, len: u64) -> Result<Self, StatusListError> {
        check_bits(bits)?;
        let total_bits = len.saturating_mul(u64::from(bits));
        let bytes = usize::try_from(total_bits.div_ceil(8))
            .map_err(|_| StatusListError::OutOfRange(len))?;
        if bytes > MAX_LIST_BYTES {
            return Err(StatusListError::OutOfRange(len));
        }
        Ok(Self {
            bits,
            bytes: vec![0; bytes],
        })
    }

    /// Bits per entry.
    pub fn bits(&self) -> u8 {
        self.bits
    }

    /// Entries in the list.
    pub fn len(&self) -> u64 {
        (self.bytes.len() as u64).saturating_mul(8) / u64::from(self.bits.max(1))
    }

    /// Whether the list has no entries.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    fn position(&self, idx: u64) -> Option<(usize, u32)> {
        let bit = idx.checked_mul(u64::from(self.bits))?;
        let byte = usize::try_from(bit / 8).ok()?;
        let shift = u32::try_from(bit % 8).ok()?;
        (byte < self.bytes.len()).then_some((byte, shift))
    }

    fn mask(&self) -> u8 {
        u8::MAX >> (8 - u32::from(self.bits))
    }

    /// The status at `idx`, if the list has it.
    pub fn get(&self, idx: u64) -> Option<Status> {
        let (byte, shift) = self.position(idx)?;
        let value = (self.bytes.get(byte)? >> shift) & self.mask();
        Some(Status::from_value(value))
    }

    /// Sets the status at `idx`.
    pub fn set(&mut self, idx: u64, status: Status) -> Result<(), StatusListError> {
        let value = status.value();
        if value > self.mask() {
            return Err(StatusListError::TooWide(value));
        }
        let mask = self.mask();
        let (byte, shift) = self.position(idx).ok_or(StatusListError::OutOfRange(idx))?;
        let slot = self
            .bytes
            .get_mut(byte)
            .ok_or(StatusListError::OutOfRange(idx))?;
        *slot = (*slot & !(mask << shift)) | (value << shift);
        Ok(())
    }

    /// The list compressed (zlib, best compression), as `lst` carries it.
    pub fn to_zlib(&self) -> Vec<u8> {
        let mut encoder = ZlibEncoder::new(Vec::new(), Compression::best());
        // Writing to a Vec cannot fail.
        let _ = encoder.write_all(&self.bytes);
        encoder.finish().unwrap_or_default()
    }

    /// A list from `lst` (zlib) and `bits`; at most [`MAX_LIST_BYTES`].
    pub fn from_zlib(bits: u8, compressed: &[u8]) -> Result<Self, StatusListError> {
        check_bits(bits)?;
        let limit = u64::try_from(MAX_LIST_BYTES).unwrap_or(u64::MAX) + 1;
        let mut bytes = Vec::new();
        ZlibDecoder::new(compressed)
            .take(limit)
            .read_to_end(&mut bytes)
            .map_err(|_| malformed("lst is not zlib"))?;
        if bytes.len() > MAX_LIST_BYTES {
            return Err(malformed("lst decompresses past the size limit"));
        }
        Ok(Self { bits, bytes })
    }
}

fn check_bits(bits: u8) -> Result<(), StatusListError> {
    if matches!(bits, 1 | 2 | 4 | 8) {
        Ok(())
    } else {
        Err(StatusListError::Bits(bits))
    }
}

/// A status list token's contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusListToken {
    /// `sub`: the list's URI.
    pub uri: String,
    /// `iat`.
    pub issued_at: DateTime<Utc>,
    /// `exp`.
    pub expires_at: DateTime<Utc>,
    /// `ttl`: how long a client may reuse it.
    pub ttl: Option<Duration>,
    /// The list.
    pub list: StatusList,
}

fn int(n: i64) -> Value {
    Value::Integer(n.into())
}

/// Signs `token` as a CWT (COSE_Sign1, tag 18) with the signer chain
/// `x5chain` (DER, signer first); `sign` makes raw `r‖s` ES256.
pub fn sign_status_list_token<E>(
    token: &StatusListToken,
    x5chain: &[Vec<u8>],
    sign: impl FnOnce(&[u8]) -> Result<Vec<u8>, E>,
) -> Result<Vec<u8>, StatusListError> {
    let mut claims = vec![
        (int(SUB), Value::Text(token.uri.clone())),
        (int(IAT), int(token.issued_at.timestamp())),
        (int(EXP), int(token.expires_at.timestamp())),
    ];
    if let Some(ttl) = token.ttl {
        claims.push((int(TTL), int(ttl.num_seconds())));
    }
    claims.push((
        int(STATUS_LIST),
        Value::Map(vec![
            (Value::Text("bits".into()), int(i64::from(token.list.bits))),
            (
                Value::Text("lst".into()),
                Value::Bytes(token.list.to_zlib()),
            ),
        ]),
    ));
    let chain = match x5chain {
        [single] => Value::Bytes(single.clone()),
        many => Value::Array(many.iter().cloned().map(Value::Bytes).collect()),
    };
    CoseSign1Builder::new()
        .protected(
            HeaderBuilder::new()
                .algorithm(iana::Algorithm::ES256)
                .value(TYP, Value::Text(STATUS_LIST_CWT_TYPE.into()))
                .build(),
        )
        .unprotected(HeaderBuilder::new().value(X5CHAIN, chain).build())
        .payload(encode(&Value::Map(claims)))
        .try_create_signature(b"", sign)
        .map_err(|_| StatusListError::Signer)?
        .build()
        .to_tagged_vec()
        .map_err(|_| malformed("token"))
}

/// Reads and checks a status list token: its type, its signer chain to
/// one of `anchors` (IACA, DER) and signature, `sub` == `expected_uri`,
/// `exp` after `now`.
pub fn verify_status_list_token(
    bytes: &[u8],
    anchors: &[Vec<u8>],
    expected_uri: &str,
    now: DateTime<Utc>,
) -> Result<StatusListToken, StatusListError> {
    let sign1 = CoseSign1::from_tagged_slice(bytes)
        .or_else(|_| CoseSign1::from_slice(bytes))
        .map_err(|_| malformed("not a COSE_Sign1"))?;
    let typ = sign1
        .protected
        .header
        .rest
        .iter()
        .find(|(label, _)| *label == coset::Label::Int(TYP))
        .map(|(_, v)| v);
    if typ != Some(&Value::Text(STATUS_LIST_CWT_TYPE.into())) {
        return Err(malformed("typ is not application/statuslist+cwt"));
    }
    let chain = match sign1
        .unprotected
        .rest
        .iter()
        .chain(sign1.protected.header.rest.iter())
        .find(|(label, _)| *label == coset::Label::Int(X5CHAIN))
        .map(|(_, v)| v)
    {
        Some(Value::Bytes(der)) => vec![der.clone()],
        Some(Value::Array(list)) => list
            .iter()
            .map(|v| match v {
                Value::Bytes(der) => Ok(der.clone()),
                _ => Err(malformed("x5chain")),
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(malformed("no x5chain")),
    };
    let key = verify_chain(&chain, anchors, now).map_err(StatusListError::Untrusted)?;
    sign1.verify_signature(b"", |signature, tbs| {
        if verifies_es256(&key, tbs, signature) {
            Ok(())
        } else {
            Err(StatusListError::BadSignature)
        }
    })?;
    let payload = sign1
        .payload
        .as_deref()
        .ok_or_else(|| malformed("no payload"))?;
    let token = token_from_claims(payload)?;
    if token.uri != expected_uri {
        return Err(StatusListError::WrongUri {
            found: token.uri,
            expected: expected_uri.to_owned(),
        });
    }
    if now >= token.expires_at {
        return Err(StatusListError::Expired(token.expires_at));
    }
    // Issued in the future beyond any plausible clock skew: not a list
    // this verifier can place in time.
    if token.issued_at > now + MAX_CLOCK_SKEW {
        return Err(malformed("iat is in the future"));
    }
    Ok(token)
}

/// How far a list's `iat` may be ahead of the verifier's clock: **policy
/// value**, 5 minutes.
pub const MAX_CLOCK_SKEW: Duration = Duration::minutes(5);

/// The `ttl` a token claims, read without checking it (only to decide how
/// long a kept copy is reused; the copy is verified when used).
pub fn claimed_ttl(bytes: &[u8]) -> Option<Duration> {
    let sign1 = CoseSign1::from_tagged_slice(bytes)
        .or_else(|_| CoseSign1::from_slice(bytes))
        .ok()?;
    token_from_claims(sign1.payload.as_deref()?).ok()?.ttl
}

/// Reads the claims of a status list token (CWT claims map, its signature
/// already checked): `sub`, `iat`, `exp` (required here: a list without an
/// end could be replayed forever), `ttl`, `status_list`.
fn token_from_claims(payload: &[u8]) -> Result<StatusListToken, StatusListError> {
    let claims = decode(payload).ok_or_else(|| malformed("claims"))?;
    let Value::Map(claims) = claims else {
        return Err(malformed("claims"));
    };
    let claim = |label: i64| {
        claims
            .iter()
            .find(|(k, _)| matches!(k, Value::Integer(i) if i128::from(*i) == i128::from(label)))
            .map(|(_, v)| v)
    };
    let number = |label: i64| match claim(label) {
        Some(Value::Integer(n)) => i64::try_from(*n).ok(),
        _ => None,
    };
    let time = |label: i64, what: &str| {
        number(label)
            .and_then(|s| DateTime::from_timestamp(s, 0))
            .ok_or_else(|| malformed(what))
    };
    let uri = match claim(SUB) {
        Some(Value::Text(uri)) => uri.clone(),
        _ => return Err(malformed("sub")),
    };
    let issued_at = time(IAT, "iat")?;
    let expires_at = time(EXP, "exp")?;
    // A ttl chrono cannot hold, or a negative one, is refused (no panic).
    let ttl = match number(TTL) {
        None => None,
        Some(seconds) if seconds >= 0 => {
            Some(Duration::try_seconds(seconds).ok_or_else(|| malformed("ttl"))?)
        }
        Some(_) => return Err(malformed("ttl")),
    };
    let Some(Value::Map(list)) = claim(STATUS_LIST) else {
        return Err(malformed("status_list"));
    };
    let field = |name: &str| {
        list.iter()
            .find(|(k, _)| matches!(k, Value::Text(t) if t == name))
            .map(|(_, v)| v)
    };
    let bits = match field("bits") {
        Some(Value::Integer(n)) => u8::try_from(*n).map_err(|_| malformed("bits"))?,
        _ => return Err(malformed("bits")),
    };
    let Some(Value::Bytes(lst)) = field("lst") else {
        return Err(malformed("lst"));
    };
    Ok(StatusListToken {
        uri,
        issued_at,
        expires_at,
        ttl,
        list: StatusList::from_zlib(bits, lst)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_draft_s_one_bit_example_reads_as_the_draft_says() {
        // draft-ietf-oauth-status-list §4.1 example: 16 one-bit entries
        // status[0]=1, [1]=0, [2]=0, [3]=1, [4]=1, [5]=1, [6]=0, [7]=1,
        // [8]=1, [9]=1, [10]=0, [11]=0, [12]=0, [13]=1, [14]=0, [15]=1
        // → bytes 0xB9 0xA3.
        let mut list = StatusList::new(1, 16).unwrap();
        for (i, v) in [1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1]
            .into_iter()
            .enumerate()
        {
            let status = if v == 1 {
                Status::Invalid
            } else {
                Status::Valid
            };
            list.set(i as u64, status).unwrap();
        }
        assert_eq!(list.bytes, [0xb9, 0xa3]);
        let again = StatusList::from_zlib(1, &list.to_zlib()).unwrap();
        assert_eq!(again, list);
    }

    #[test]
    fn the_draft_s_two_bit_example_reads_as_the_draft_says() {
        // §4.1, 2 bits: [0]=1 [1]=2 [2]=0 [3]=3 [4]=0 [5]=1 [6]=0 [7]=1
        // [8]=1 [9]=2 [10]=3 [11]=3 → bytes 0xC9 0x44 0xF9.
        let mut list = StatusList::new(2, 12).unwrap();
        for (i, v) in [1u8, 2, 0, 3, 0, 1, 0, 1, 1, 2, 3, 3]
            .into_iter()
            .enumerate()
        {
            list.set(i as u64, Status::from_value(v)).unwrap();
        }
        assert_eq!(list.bytes, [0xc9, 0x44, 0xf9]);
        assert_eq!(list.get(1), Some(Status::Suspended));
        assert_eq!(list.get(3), Some(Status::Other(3)));
        assert_eq!(list.get(12), None);
        assert_eq!(
            list.set(12, Status::Valid),
            Err(StatusListError::OutOfRange(12))
        );
        assert!(
            StatusList::new(1, 8)
                .unwrap()
                .set(0, Status::Suspended)
                .is_err()
        );
        assert_eq!(StatusList::new(3, 8), Err(StatusListError::Bits(3)));
    }

    // Vectors from the draft's repository (github: oauth-wg/draft-ietf-oauth-status-list
    // at 2fb61cd, examples/): status_list_encoding_cbor.md,
    // status_list_encoding2_cbor.md and status_list_cwt.md; the example key
    // is src/util.py's (kid "12", public half only here).
    const DRAFT_LST_1BIT: &str = "78dadbb918000217015d";
    const DRAFT_LST_2BIT: &str = "78da3be9f2130003df0207";
    const DRAFT_CWT: &str = "d2845820a2012610781a6170706c69636174696f6e2f7374617475736c6973742b637774a1044231325850a502782168747470733a2f2f6578616d706c652e636f6d2f7374617475736c697374732f31061a648c5bea041a8898dfea19fffe19a8c019fffda2646269747301636c73744a78dadbb918000217015d584093fa4d01032b18c35e2fe1101b77fd6cc9440022caa4694450c4e4e9feab4e99d1fa6d9772ce2bf3a12e0323ded7c982c5e101a5e67f0cbc1e2b6f57ce99c279";
    const DRAFT_KEY_X: &str = "2371d69bfd03b3574f308f885a67f8981987f9869e0156cf56eeef076ec2c57a";
    const DRAFT_KEY_Y: &str = "e8dfdde44963f5bb3586d815de890928875b1c4a6481398096e60a25e9b39f53";

    fn unhex(text: &str) -> Vec<u8> {
        crate::hex::from_hex(text).unwrap()
    }

    #[test]
    fn the_draft_s_compressed_lists_decompress_to_its_bytes() {
        let one = StatusList::from_zlib(1, &unhex(DRAFT_LST_1BIT)).unwrap();
        assert_eq!(one.bytes, [0xb9, 0xa3]);
        assert_eq!(one.len(), 16);
        assert_eq!(one.get(0), Some(Status::Invalid));
        assert_eq!(one.get(1), Some(Status::Valid));
        assert_eq!(one.get(15), Some(Status::Invalid));
        let two = StatusList::from_zlib(2, &unhex(DRAFT_LST_2BIT)).unwrap();
        assert_eq!(two.bytes, [0xc9, 0x44, 0xf9]);
        assert_eq!(two.get(0), Some(Status::Invalid));
        assert_eq!(two.get(1), Some(Status::Suspended));
        assert_eq!(two.get(9), Some(Status::Suspended));
    }

    #[test]
    fn the_draft_s_cwt_example_verifies_and_reads_as_the_draft_says() {
        let token = unhex(DRAFT_CWT);
        let sign1 = CoseSign1::from_tagged_slice(&token).unwrap();
        let mut sec1 = vec![0x04];
        sec1.extend(unhex(DRAFT_KEY_X));
        sec1.extend(unhex(DRAFT_KEY_Y));
        let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).unwrap();
        let verified = sign1.verify_signature(b"", |signature, tbs| {
            verifies_es256(&key, tbs, signature).then_some(()).ok_or(())
        });
        assert_eq!(verified, Ok(()));
        let read = token_from_claims(sign1.payload.as_deref().unwrap()).unwrap();
        assert_eq!(read.uri, "https://example.com/statuslists/1");
        assert_eq!(read.issued_at.timestamp(), 1_686_920_170);
        assert_eq!(read.expires_at.timestamp(), 2_291_720_170);
        assert_eq!(read.ttl, Some(Duration::seconds(43_200)));
        assert_eq!(read.list.bits(), 1);
        assert_eq!(read.list.bytes, [0xb9, 0xa3]);
        // It names no x5chain, so it does not chain to any anchor of ours.
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        assert!(matches!(
            verify_status_list_token(&token, &[], "https://example.com/statuslists/1", now),
            Err(StatusListError::Malformed { .. })
        ));
        // One flipped bit in the claims and the draft's own key refuses it.
        let mut tampered = sign1.clone();
        *tampered.payload.as_mut().unwrap().last_mut().unwrap() ^= 1;
        let refused = tampered.verify_signature(b"", |signature, tbs| {
            verifies_es256(&key, tbs, signature).then_some(()).ok_or(())
        });
        assert_eq!(refused, Err(()));
    }

    #[test]
    fn garbage_and_bombs_are_typed_errors() {
        assert!(StatusList::from_zlib(2, b"not zlib").is_err());
        let bomb = StatusList {
            bits: 8,
            bytes: vec![0; MAX_LIST_BYTES + 1],
        }
        .to_zlib();
        assert!(StatusList::from_zlib(8, &bomb).is_err());
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        for bytes in [&[][..], &[0xd2, 0x84], &[0xa0]] {
            assert!(verify_status_list_token(bytes, &[], "u", now).is_err());
        }
    }
}
