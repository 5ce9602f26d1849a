//! ISO/IEC 18013-5 for the My Number card record (docType
//! `org.iso.23220.1.jp.mnc`, app-protocols.md §1; identifiers as in
//! multipaz's `MyNumberCard.kt` and Apple's national-ID descriptor).
//!
//! - Issuer side: [`issue`] turns elements into `IssuerSigned` — each
//!   element an `IssuerSignedItem` with a random salt, carried as tag-24
//!   bytes, its SHA-256 in the Mobile Security Object, the MSO signed as a
//!   COSE_Sign1 (ES256) with the document signer's certificate in `x5chain`
//!   (label 33). The signature comes from a closure, so a key in an HSM fits.
//! - Holder side: [`IssuerSigned::select`] keeps only the items a verifier
//!   asked for (selective disclosure; the MSO is unchanged, the other
//!   digests reveal nothing without their salted items);
//!   [`device_authentication_to_be_signed`] and [`device_response`] make
//!   the `DeviceResponse` whose device signature covers the verifier's
//!   `SessionTranscript` (§9.1.3).
//! - Both sides parse with [`IssuerSigned::from_cbor`] and
//!   [`DeviceResponse::from_cbor`], keeping the exact bytes received (the
//!   digests are over them). Signatures are checked by `wallet::verifier`.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate, SecondsFormat, Utc};
use ciborium::Value;
use coset::{AsCborValue, CoseSign1, CoseSign1Builder, HeaderBuilder, iana};
use sha2::{Digest, Sha256};

use super::wire::{ApplicationData, StatusReference};

/// The My Number card document type.
pub const DOC_TYPE: &str = "org.iso.23220.1.jp.mnc";
/// The Japanese namespace (the card's own fields).
pub const NAMESPACE_JP: &str = "org.iso.23220.1.jp";
/// ISO/IEC TS 23220-2's generic namespace (dates, sex, ages).
pub const NAMESPACE_ISO: &str = "org.iso.23220.1";

/// COSE header label of the certificate chain (RFC 9360 `x5chain`).
const X5CHAIN: i64 = 33;

/// Every element this record may carry: (namespace, identifier).
const KNOWN: &[(&str, &str)] = &[
    (NAMESPACE_JP, "full_name_unicode"),
    (NAMESPACE_JP, "resident_address_unicode"),
    (NAMESPACE_JP, "birth_date_unicode"),
    (NAMESPACE_JP, "sex_unicode"),
    (NAMESPACE_JP, "individual_number_unicode"),
    (NAMESPACE_JP, "portrait"),
    (NAMESPACE_ISO, "birth_date"),
    (NAMESPACE_ISO, "sex"),
    (NAMESPACE_ISO, "age_over_18"),
    (NAMESPACE_ISO, "age_over_20"),
    (NAMESPACE_ISO, "age_in_years"),
];

/// Why mdoc bytes could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MdocError {
    /// Not the CBOR structure the standard describes.
    #[error("malformed {what}")]
    Malformed {
        /// What was being read.
        what: String,
    },
    /// The record has no such element.
    #[error("the record has no element {element}")]
    ElementAbsent {
        /// `namespace/identifier`.
        element: String,
    },
    /// An element name that is neither `namespace/identifier` nor one of
    /// this record's identifiers.
    #[error("unknown element {0:?}")]
    UnknownElement(String),
}

fn malformed(what: &str) -> MdocError {
    MdocError::Malformed {
        what: what.to_owned(),
    }
}

/// An element's name: namespace and identifier.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ElementId {
    /// The namespace.
    pub namespace: String,
    /// The element identifier.
    pub identifier: String,
}

impl ElementId {
    /// An element of `namespace`.
    pub fn new(namespace: &str, identifier: &str) -> Self {
        Self {
            namespace: namespace.to_owned(),
            identifier: identifier.to_owned(),
        }
    }

    /// Reads `namespace/identifier`, or a bare identifier of this record
    /// (unique across its two namespaces).
    pub fn parse(text: &str) -> Result<Self, MdocError> {
        if let Some((namespace, identifier)) = text.rsplit_once('/') {
            if namespace.is_empty() || identifier.is_empty() {
                return Err(MdocError::UnknownElement(text.to_owned()));
            }
            return Ok(Self::new(namespace, identifier));
        }
        KNOWN
            .iter()
            .find(|(_, id)| *id == text)
            .map(|(ns, id)| Self::new(ns, id))
            .ok_or_else(|| MdocError::UnknownElement(text.to_owned()))
    }
}

impl fmt::Display for ElementId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.identifier)
    }
}

/// An element's value (the CBOR types this record uses). Personal data:
/// `Debug` shows only the type.
#[derive(Clone, PartialEq, Eq)]
pub enum ElementValue {
    /// `tstr`.
    Text(String),
    /// `bstr` (the portrait).
    Bytes(Vec<u8>),
    /// `uint`.
    Unsigned(u64),
    /// `bool`.
    Bool(bool),
    /// `full-date` (tag 1004, RFC 8943).
    FullDate(NaiveDate),
    /// Any other CBOR value, kept as its encoding.
    Other(Vec<u8>),
}

impl fmt::Debug for ElementValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self {
            Self::Text(_) => "Text",
            Self::Bytes(_) => "Bytes",
            Self::Unsigned(_) => "Unsigned",
            Self::Bool(_) => "Bool",
            Self::FullDate(_) => "FullDate",
            Self::Other(_) => "Other",
        };
        write!(f, "{kind}(<redacted>)")
    }
}

impl ElementValue {
    fn to_cbor(&self) -> Value {
        match self {
            Self::Text(text) => Value::Text(text.clone()),
            Self::Bytes(bytes) => Value::Bytes(bytes.clone()),
            Self::Unsigned(n) => Value::Integer((*n).into()),
            Self::Bool(b) => Value::Bool(*b),
            Self::FullDate(date) => Value::Tag(
                1004,
                Box::new(Value::Text(date.format("%Y-%m-%d").to_string())),
            ),
            Self::Other(bytes) => decode(bytes).unwrap_or(Value::Null),
        }
    }

    fn from_cbor(value: &Value) -> Self {
        match value {
            Value::Text(text) => Self::Text(text.clone()),
            Value::Bytes(bytes) => Self::Bytes(bytes.clone()),
            Value::Bool(b) => Self::Bool(*b),
            Value::Integer(n) => match u64::try_from(*n) {
                Ok(n) => Self::Unsigned(n),
                Err(_) => Self::Other(encode(value)),
            },
            Value::Tag(1004, inner) => match inner.as_ref() {
                Value::Text(text) => NaiveDate::parse_from_str(text, "%Y-%m-%d")
                    .map(Self::FullDate)
                    .unwrap_or_else(|_| Self::Other(encode(value))),
                _ => Self::Other(encode(value)),
            },
            other => Self::Other(encode(other)),
        }
    }
}

/// The elements of a record from what the card said (W2), ages on `today`
/// (the Japan date of issue). The birth date in the JP namespace is
/// written in the Western calendar (`1985年6月15日`), as multipaz's example
/// is; `sex_unicode` is 男 / 女, and for ISO 5218's 9 "適用不能" (our
/// choice: no public source gives the text). `local_gov_code_unicode` is
/// left out: the card's basic four do not carry it.
pub fn elements_from_application(
    data: &ApplicationData,
    today: NaiveDate,
) -> Vec<(ElementId, ElementValue)> {
    let jp = |id: &str, value| (ElementId::new(NAMESPACE_JP, id), value);
    let iso = |id: &str, value| (ElementId::new(NAMESPACE_ISO, id), value);
    let mut elements = vec![
        jp("full_name_unicode", ElementValue::Text(data.name.clone())),
        jp(
            "resident_address_unicode",
            ElementValue::Text(data.address.clone()),
        ),
        jp(
            "sex_unicode",
            ElementValue::Text(
                match data.sex {
                    1 => "男",
                    2 => "女",
                    _ => "適用不能",
                }
                .to_owned(),
            ),
        ),
        jp(
            "individual_number_unicode",
            ElementValue::Text(data.my_number.clone()),
        ),
        jp("portrait", ElementValue::Bytes(data.photo_jp2.clone())),
        iso("sex", ElementValue::Unsigned(u64::from(data.sex))),
    ];
    if let Some(birth) = data.birth_date {
        let age = age_on(birth, today);
        elements.push(jp(
            "birth_date_unicode",
            ElementValue::Text(format!(
                "{}年{}月{}日",
                birth.year(),
                birth.month(),
                birth.day()
            )),
        ));
        elements.push(iso("birth_date", ElementValue::FullDate(birth)));
        elements.push(iso("age_in_years", ElementValue::Unsigned(age)));
        elements.push(iso("age_over_18", ElementValue::Bool(age >= 18)));
        elements.push(iso("age_over_20", ElementValue::Bool(age >= 20)));
    }
    elements
}

/// Full years from `birth` to `on` (a birthday counts on its day; one on
/// 29 February counts on 1 March in common years, as Japan's Act on
/// Counting Age has the age rise at the end of the day before — the
/// difference does not matter for a date-only count).
pub fn age_on(birth: NaiveDate, on: NaiveDate) -> u64 {
    let mut years = on.year() - birth.year();
    if (on.month(), on.day()) < (birth.month(), birth.day()) {
        years -= 1;
    }
    u64::try_from(years).unwrap_or(0)
}

/// What the MSO says besides the digests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MsoInput {
    /// The device key the record is bound to (SEC1 uncompressed P-256).
    pub device_key: Vec<u8>,
    /// When the MSO was signed.
    pub signed: DateTime<Utc>,
    /// Start of validity.
    pub valid_from: DateTime<Utc>,
    /// End of validity.
    pub valid_until: DateTime<Utc>,
    /// Where its status is published (18013-5 second edition §12.3.6).
    pub status: Option<StatusReference>,
}

/// Why [`issue`] failed.
#[derive(Debug, thiserror::Error)]
pub enum IssueError<E> {
    /// The inputs cannot make a record (e.g. a device key that is not a
    /// P-256 point).
    #[error(transparent)]
    Mdoc(#[from] MdocError),
    /// The signer failed.
    #[error("the document signer failed")]
    Signer(E),
    /// No randomness for the salts.
    #[error("no randomness for the salts")]
    Random,
}

/// Builds `IssuerSigned` (CBOR) for `elements`, bound to `mso.device_key`,
/// signed by `sign` (raw `r‖s` ES256 over the bytes it is given) with the
/// document signer chain `x5chain` (DER, signer first).
pub fn issue<E>(
    elements: &[(ElementId, ElementValue)],
    mso: &MsoInput,
    x5chain: &[Vec<u8>],
    sign: impl FnOnce(&[u8]) -> Result<Vec<u8>, E>,
) -> Result<Vec<u8>, IssueError<E>> {
    let mut namespaces: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
    let mut digests: BTreeMap<String, Vec<(u64, Vec<u8>)>> = BTreeMap::new();
    let mut ids: Vec<u64> = (0..u64::try_from(elements.len()).unwrap_or(0)).collect();
    shuffle(&mut ids).map_err(|()| IssueError::Random)?;
    for ((id, value), digest_id) in elements.iter().zip(ids) {
        let mut salt = [0u8; 32];
        getrandom::fill(&mut salt).map_err(|_| IssueError::Random)?;
        let item = Value::Map(vec![
            (text("digestID"), Value::Integer(digest_id.into())),
            (text("random"), Value::Bytes(salt.to_vec())),
            (text("elementIdentifier"), text(&id.identifier)),
            (text("elementValue"), value.to_cbor()),
        ]);
        let item_bytes = encode(&item);
        let tagged = encode(&tag24(item_bytes.clone()));
        digests
            .entry(id.namespace.clone())
            .or_default()
            .push((digest_id, Sha256::digest(&tagged).to_vec()));
        namespaces
            .entry(id.namespace.clone())
            .or_default()
            .push(item_bytes);
    }
    let value_digests = Value::Map(
        digests
            .into_iter()
            .map(|(ns, list)| {
                (
                    Value::Text(ns),
                    Value::Map(
                        list.into_iter()
                            .map(|(id, d)| (Value::Integer(id.into()), Value::Bytes(d)))
                            .collect(),
                    ),
                )
            })
            .collect(),
    );
    let mut mso_map = vec![
        (text("version"), text("1.0")),
        (text("digestAlgorithm"), text("SHA-256")),
        (text("valueDigests"), value_digests),
        (
            text("deviceKeyInfo"),
            Value::Map(vec![(text("deviceKey"), cose_key(&mso.device_key)?)]),
        ),
        (text("docType"), text(DOC_TYPE)),
        (
            text("validityInfo"),
            Value::Map(vec![
                (text("signed"), tdate(mso.signed)),
                (text("validFrom"), tdate(mso.valid_from)),
                (text("validUntil"), tdate(mso.valid_until)),
            ]),
        ),
    ];
    if let Some(status) = &mso.status {
        mso_map.push((
            text("status"),
            Value::Map(vec![(
                text("status_list"),
                Value::Map(vec![
                    (text("idx"), Value::Integer(status.idx.into())),
                    (text("uri"), text(&status.uri)),
                ]),
            )]),
        ));
    }
    let payload = encode(&tag24(encode(&Value::Map(mso_map))));
    let chain = match x5chain {
        [single] => Value::Bytes(single.clone()),
        many => Value::Array(many.iter().cloned().map(Value::Bytes).collect()),
    };
    let sign1 = CoseSign1Builder::new()
        .protected(
            HeaderBuilder::new()
                .algorithm(iana::Algorithm::ES256)
                .build(),
        )
        .unprotected(HeaderBuilder::new().value(X5CHAIN, chain).build())
        .payload(payload)
        .try_create_signature(b"", sign)
        .map_err(IssueError::Signer)?
        .build();
    let issuer_auth = sign1
        .to_cbor_value()
        .map_err(|_| IssueError::Mdoc(malformed("issuerAuth")))?;
    Ok(encode(&issuer_signed_value(
        &namespaces
            .into_iter()
            .map(|(ns, items)| {
                items
                    .into_iter()
                    .map(item_from_bytes)
                    .collect::<Result<Vec<Item>, MdocError>>()
                    .map(|items| (ns, items))
            })
            .collect::<Result<Vec<(String, Vec<Item>)>, MdocError>>()?,
        issuer_auth,
    )))
}

/// Fisher–Yates with OS randomness: digest IDs in no telling order.
fn shuffle(ids: &mut [u64]) -> Result<(), ()> {
    for i in (1..ids.len()).rev() {
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).map_err(|_| ())?;
        let j = usize::try_from(u64::from_le_bytes(bytes) % (i as u64 + 1)).unwrap_or(0);
        ids.swap(i, j);
    }
    Ok(())
}

/// One `IssuerSignedItem` as received.
#[derive(Clone)]
struct Item {
    /// The item's CBOR (inside the tag 24), exactly as received.
    bytes: Vec<u8>,
    digest_id: u64,
    identifier: String,
    value: Value,
}

fn item_from_bytes(bytes: Vec<u8>) -> Result<Item, MdocError> {
    let value = decode(&bytes).ok_or_else(|| malformed("IssuerSignedItem"))?;
    let map = as_map(&value, "IssuerSignedItem")?;
    let digest_id = get(map, "digestID")
        .and_then(as_u64)
        .ok_or_else(|| malformed("digestID"))?;
    match get(map, "random") {
        Some(Value::Bytes(salt)) if salt.len() >= 16 => {}
        _ => return Err(malformed("random (at least 16 bytes)")),
    }
    let identifier = match get(map, "elementIdentifier") {
        Some(Value::Text(id)) => id.clone(),
        _ => return Err(malformed("elementIdentifier")),
    };
    let value = get(map, "elementValue")
        .cloned()
        .ok_or_else(|| malformed("elementValue"))?;
    Ok(Item {
        bytes,
        digest_id,
        identifier,
        value,
    })
}

impl Item {
    /// SHA-256 of the tag-24 item, as the MSO's digest covers it.
    fn digest(&self) -> Vec<u8> {
        Sha256::digest(encode(&tag24(self.bytes.clone()))).to_vec()
    }
}

/// The MSO's contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MobileSecurityObject {
    /// `docType`.
    pub doc_type: String,
    /// `digestAlgorithm`.
    pub digest_algorithm: String,
    /// The device key (SEC1 uncompressed P-256), from `deviceKeyInfo`.
    pub device_key: Vec<u8>,
    /// `validityInfo.signed`.
    pub signed: DateTime<Utc>,
    /// `validityInfo.validFrom`.
    pub valid_from: DateTime<Utc>,
    /// `validityInfo.validUntil`.
    pub valid_until: DateTime<Utc>,
    /// The status entry, if any.
    pub status: Option<StatusReference>,
    /// namespace → digestID → digest.
    pub value_digests: BTreeMap<String, BTreeMap<u64, Vec<u8>>>,
}

/// `IssuerSigned`: the items (all, or those disclosed) and `issuerAuth`.
#[derive(Clone)]
pub struct IssuerSigned {
    namespaces: Vec<(String, Vec<Item>)>,
    issuer_auth: CoseSign1,
    mso: MobileSecurityObject,
    chain: Vec<Vec<u8>>,
}

impl fmt::Debug for IssuerSigned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuerSigned")
            .field("doc_type", &self.mso.doc_type)
            .field(
                "elements",
                &self
                    .namespaces
                    .iter()
                    .map(|(_, items)| items.len())
                    .sum::<usize>(),
            )
            .finish_non_exhaustive()
    }
}

impl IssuerSigned {
    /// Parses `IssuerSigned` CBOR (its signature is not checked here).
    pub fn from_cbor(bytes: &[u8]) -> Result<Self, MdocError> {
        let value = decode(bytes).ok_or_else(|| malformed("IssuerSigned"))?;
        Self::from_value(&value)
    }

    fn from_value(value: &Value) -> Result<Self, MdocError> {
        let map = as_map(value, "IssuerSigned")?;
        let mut namespaces = Vec::new();
        if let Some(ns_value) = get(map, "nameSpaces") {
            for (ns, items) in as_map(ns_value, "nameSpaces")? {
                let Value::Text(ns) = ns else {
                    return Err(malformed("namespace name"));
                };
                let Value::Array(items) = items else {
                    return Err(malformed("namespace items"));
                };
                let items = items
                    .iter()
                    .map(|item| match item {
                        Value::Tag(24, inner) => match inner.as_ref() {
                            Value::Bytes(bytes) => item_from_bytes(bytes.clone()),
                            _ => Err(malformed("IssuerSignedItemBytes")),
                        },
                        _ => Err(malformed("IssuerSignedItemBytes (tag 24)")),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                namespaces.push((ns.clone(), items));
            }
        }
        let auth = get(map, "issuerAuth").ok_or_else(|| malformed("issuerAuth"))?;
        let issuer_auth =
            CoseSign1::from_cbor_value(auth.clone()).map_err(|_| malformed("issuerAuth"))?;
        let payload = issuer_auth
            .payload
            .as_deref()
            .ok_or_else(|| malformed("issuerAuth payload"))?;
        let mso = parse_mso(payload)?;
        let chain = chain_of(&issuer_auth)?;
        Ok(Self {
            namespaces,
            issuer_auth,
            mso,
            chain,
        })
    }

    /// The CBOR encoding.
    pub fn to_cbor(&self) -> Vec<u8> {
        encode(&self.to_value())
    }

    fn to_value(&self) -> Value {
        issuer_signed_value(
            &self.namespaces,
            self.issuer_auth
                .clone()
                .to_cbor_value()
                .unwrap_or(Value::Null),
        )
    }

    /// The MSO as signed (parsed; the signature is not checked here).
    pub fn mso(&self) -> &MobileSecurityObject {
        &self.mso
    }

    /// The document signer chain from `x5chain` (DER, signer first).
    pub fn document_signer_chain(&self) -> &[Vec<u8>] {
        &self.chain
    }

    /// `issuerAuth` itself (for the verifier).
    pub fn issuer_auth(&self) -> &CoseSign1 {
        &self.issuer_auth
    }

    /// The elements carried.
    pub fn elements(&self) -> Vec<(ElementId, ElementValue)> {
        self.namespaces
            .iter()
            .flat_map(|(ns, items)| {
                items.iter().map(move |item| {
                    (
                        ElementId::new(ns, &item.identifier),
                        ElementValue::from_cbor(&item.value),
                    )
                })
            })
            .collect()
    }

    /// Each carried element whose digest is not the MSO's for its
    /// namespace and digestID (empty when all match).
    pub fn digest_mismatches(&self) -> Vec<ElementId> {
        let mut wrong = Vec::new();
        for (ns, items) in &self.namespaces {
            let expected = self.mso.value_digests.get(ns);
            for item in items {
                let ok = expected
                    .and_then(|d| d.get(&item.digest_id))
                    .is_some_and(|d| *d == item.digest());
                if !ok {
                    wrong.push(ElementId::new(ns, &item.identifier));
                }
            }
        }
        wrong
    }

    /// Only the `wanted` elements (selective disclosure), `issuerAuth`
    /// unchanged. An element the record lacks is an error.
    pub fn select(&self, wanted: &[ElementId]) -> Result<IssuerSigned, MdocError> {
        let mut namespaces: Vec<(String, Vec<Item>)> = Vec::new();
        for id in wanted {
            let item = self
                .namespaces
                .iter()
                .filter(|(ns, _)| *ns == id.namespace)
                .flat_map(|(_, items)| items)
                .find(|item| item.identifier == id.identifier)
                .ok_or_else(|| MdocError::ElementAbsent {
                    element: id.to_string(),
                })?;
            match namespaces.iter_mut().find(|(ns, _)| *ns == id.namespace) {
                Some((_, items)) => {
                    if !items.iter().any(|i| i.identifier == item.identifier) {
                        items.push(item.clone());
                    }
                }
                None => namespaces.push((id.namespace.clone(), vec![item.clone()])),
            }
        }
        Ok(IssuerSigned {
            namespaces,
            issuer_auth: self.issuer_auth.clone(),
            mso: self.mso.clone(),
            chain: self.chain.clone(),
        })
    }
}

fn issuer_signed_value(namespaces: &[(String, Vec<Item>)], issuer_auth: Value) -> Value {
    Value::Map(vec![
        (
            text("nameSpaces"),
            Value::Map(
                namespaces
                    .iter()
                    .map(|(ns, items)| {
                        (
                            Value::Text(ns.clone()),
                            Value::Array(items.iter().map(|i| tag24(i.bytes.clone())).collect()),
                        )
                    })
                    .collect(),
            ),
        ),
        (text("issuerAuth"), issuer_auth),
    ])
}

fn chain_of(sign1: &CoseSign1) -> Result<Vec<Vec<u8>>, MdocError> {
    let value = sign1
        .unprotected
        .rest
        .iter()
        .chain(sign1.protected.header.rest.iter())
        .find(|(label, _)| *label == coset::Label::Int(X5CHAIN))
        .map(|(_, v)| v);
    match value {
        Some(Value::Bytes(der)) => Ok(vec![der.clone()]),
        Some(Value::Array(list)) => list
            .iter()
            .map(|v| match v {
                Value::Bytes(der) => Ok(der.clone()),
                _ => Err(malformed("x5chain")),
            })
            .collect(),
        _ => Err(malformed("x5chain")),
    }
}

fn parse_mso(payload: &[u8]) -> Result<MobileSecurityObject, MdocError> {
    let outer = decode(payload).ok_or_else(|| malformed("MobileSecurityObjectBytes"))?;
    let Value::Tag(24, inner) = outer else {
        return Err(malformed("MobileSecurityObjectBytes (tag 24)"));
    };
    let Value::Bytes(bytes) = *inner else {
        return Err(malformed("MobileSecurityObjectBytes"));
    };
    let value = decode(&bytes).ok_or_else(|| malformed("MobileSecurityObject"))?;
    let map = as_map(&value, "MobileSecurityObject")?;
    let text_of = |key: &str| match get(map, key) {
        Some(Value::Text(t)) => Ok(t.clone()),
        _ => Err(malformed(key)),
    };
    let doc_type = text_of("docType")?;
    let digest_algorithm = text_of("digestAlgorithm")?;
    if digest_algorithm != "SHA-256" {
        return Err(malformed("digestAlgorithm (SHA-256 only)"));
    }
    let mut value_digests = BTreeMap::new();
    for (ns, digests) in as_map(
        get(map, "valueDigests").ok_or_else(|| malformed("valueDigests"))?,
        "valueDigests",
    )? {
        let Value::Text(ns) = ns else {
            return Err(malformed("valueDigests namespace"));
        };
        let mut per = BTreeMap::new();
        for (id, digest) in as_map(digests, "valueDigests")? {
            let (Some(id), Value::Bytes(digest)) = (as_u64(id), digest) else {
                return Err(malformed("valueDigests entry"));
            };
            per.insert(id, digest.clone());
        }
        value_digests.insert(ns.clone(), per);
    }
    let key_info = as_map(
        get(map, "deviceKeyInfo").ok_or_else(|| malformed("deviceKeyInfo"))?,
        "deviceKeyInfo",
    )?;
    let device_key = sec1_of(get(key_info, "deviceKey").ok_or_else(|| malformed("deviceKey"))?)?;
    let validity = as_map(
        get(map, "validityInfo").ok_or_else(|| malformed("validityInfo"))?,
        "validityInfo",
    )?;
    let time = |key: &str| {
        get(validity, key)
            .and_then(parse_tdate)
            .ok_or_else(|| malformed(key))
    };
    let status = match get(map, "status") {
        None => None,
        Some(status) => {
            let list = as_map(status, "status")?;
            let entry = as_map(
                get(list, "status_list").ok_or_else(|| malformed("status_list"))?,
                "status_list",
            )?;
            let idx = get(entry, "idx")
                .and_then(as_u64)
                .ok_or_else(|| malformed("status_list idx"))?;
            let uri = match get(entry, "uri") {
                Some(Value::Text(uri)) => uri.clone(),
                _ => return Err(malformed("status_list uri")),
            };
            Some(StatusReference { uri, idx })
        }
    };
    Ok(MobileSecurityObject {
        doc_type,
        digest_algorithm,
        device_key,
        signed: time("signed")?,
        valid_from: time("validFrom")?,
        valid_until: time("validUntil")?,
        status,
        value_digests,
    })
}

/// A SEC1 uncompressed P-256 key as a COSE_Key (EC2, crv P-256).
fn cose_key(sec1: &[u8]) -> Result<Value, MdocError> {
    let point = p256::PublicKey::from_sec1_bytes(sec1).map_err(|_| malformed("device key"))?;
    let encoded = p256::elliptic_curve::sec1::ToSec1Point::to_sec1_point(&point, false);
    let (Some(x), Some(y)) = (encoded.x(), encoded.y()) else {
        return Err(malformed("device key"));
    };
    Ok(Value::Map(vec![
        (Value::Integer(1.into()), Value::Integer(2.into())),
        (Value::Integer((-1).into()), Value::Integer(1.into())),
        (Value::Integer((-2).into()), Value::Bytes(x.to_vec())),
        (Value::Integer((-3).into()), Value::Bytes(y.to_vec())),
    ]))
}

/// A COSE_Key (EC2 P-256) back to SEC1 uncompressed.
fn sec1_of(key: &Value) -> Result<Vec<u8>, MdocError> {
    let map = as_map(key, "COSE_Key")?;
    let int = |label: i64| {
        map.iter()
            .find(|(k, _)| matches!(k, Value::Integer(i) if i128::from(*i) == i128::from(label)))
            .map(|(_, v)| v)
    };
    let kty = int(1).and_then(as_u64);
    let crv = int(-1).and_then(as_u64);
    let (Some(2), Some(1), Some(Value::Bytes(x)), Some(Value::Bytes(y))) =
        (kty, crv, int(-2), int(-3))
    else {
        return Err(malformed("COSE_Key (EC2 P-256)"));
    };
    let mut sec1 = vec![0x04];
    sec1.extend_from_slice(x);
    sec1.extend_from_slice(y);
    p256::PublicKey::from_sec1_bytes(&sec1).map_err(|_| malformed("COSE_Key point"))?;
    Ok(sec1)
}

/// Device side: the bytes the device key signs (the COSE Sig_structure of
/// a detached-payload COSE_Sign1, protected `{1: -7}`), whose payload is
/// `DeviceAuthenticationBytes` = #6.24(bstr .cbor ["DeviceAuthentication",
/// SessionTranscript, DocType, DeviceNameSpacesBytes]) (§9.1.3.4). The
/// verifier's `session_transcript` must be CBOR.
pub fn device_authentication_to_be_signed(
    session_transcript: &[u8],
    doc_type: &str,
) -> Result<Vec<u8>, MdocError> {
    let payload = device_authentication_bytes(session_transcript, doc_type)?;
    Ok(device_signature_template().tbs_detached_data(&payload, b""))
}

/// `DeviceAuthenticationBytes` for a transcript (empty device namespaces).
pub fn device_authentication_bytes(
    session_transcript: &[u8],
    doc_type: &str,
) -> Result<Vec<u8>, MdocError> {
    let transcript = decode(session_transcript).ok_or_else(|| malformed("SessionTranscript"))?;
    let authentication = Value::Array(vec![
        text("DeviceAuthentication"),
        transcript,
        text(doc_type),
        device_namespaces_bytes(),
    ]);
    Ok(encode(&tag24(encode(&authentication))))
}

fn device_namespaces_bytes() -> Value {
    tag24(encode(&Value::Map(Vec::new())))
}

fn device_signature_template() -> CoseSign1 {
    CoseSign1Builder::new()
        .protected(
            HeaderBuilder::new()
                .algorithm(iana::Algorithm::ES256)
                .build(),
        )
        .build()
}

/// A `DeviceResponse` (CBOR) with one document: `disclosed` and a device
/// signature (raw `r‖s` over [`device_authentication_to_be_signed`]).
pub fn device_response(
    disclosed: &IssuerSigned,
    device_signature: &[u8],
) -> Result<Vec<u8>, MdocError> {
    let mut sign1 = device_signature_template();
    sign1.signature = device_signature.to_vec();
    let device_auth = sign1
        .to_cbor_value()
        .map_err(|_| malformed("deviceSignature"))?;
    let document = Value::Map(vec![
        (text("docType"), text(&disclosed.mso.doc_type)),
        (text("issuerSigned"), disclosed.to_value()),
        (
            text("deviceSigned"),
            Value::Map(vec![
                (text("nameSpaces"), device_namespaces_bytes()),
                (
                    text("deviceAuth"),
                    Value::Map(vec![(text("deviceSignature"), device_auth)]),
                ),
            ]),
        ),
    ]);
    Ok(encode(&Value::Map(vec![
        (text("version"), text("1.0")),
        (text("documents"), Value::Array(vec![document])),
        (text("status"), Value::Integer(0.into())),
    ])))
}

/// One document of a `DeviceResponse`.
#[derive(Debug, Clone)]
pub struct Document {
    /// `docType`.
    pub doc_type: String,
    /// The disclosed items and `issuerAuth`.
    pub issuer_signed: IssuerSigned,
    /// `deviceAuth.deviceSignature` (detached payload).
    pub device_signature: CoseSign1,
    /// Whether `deviceSigned.nameSpaces` is the empty map (the only form
    /// this record uses; the device signature covers it).
    pub device_namespaces_empty: bool,
}

/// A parsed `DeviceResponse`.
#[derive(Debug, Clone)]
pub struct DeviceResponse {
    /// `version`.
    pub version: String,
    /// The documents.
    pub documents: Vec<Document>,
    /// `status` (0: OK).
    pub status: u64,
}

impl DeviceResponse {
    /// Parses a `DeviceResponse`.
    pub fn from_cbor(bytes: &[u8]) -> Result<Self, MdocError> {
        let value = decode(bytes).ok_or_else(|| malformed("DeviceResponse"))?;
        let map = as_map(&value, "DeviceResponse")?;
        let version = match get(map, "version") {
            Some(Value::Text(v)) => v.clone(),
            _ => return Err(malformed("version")),
        };
        let status = get(map, "status")
            .and_then(as_u64)
            .ok_or_else(|| malformed("status"))?;
        let documents = match get(map, "documents") {
            Some(Value::Array(list)) => {
                list.iter().map(parse_document).collect::<Result<_, _>>()?
            }
            None => Vec::new(),
            _ => return Err(malformed("documents")),
        };
        Ok(Self {
            version,
            documents,
            status,
        })
    }
}

fn parse_document(value: &Value) -> Result<Document, MdocError> {
    let map = as_map(value, "Document")?;
    let doc_type = match get(map, "docType") {
        Some(Value::Text(t)) => t.clone(),
        _ => return Err(malformed("docType")),
    };
    let issuer_signed = IssuerSigned::from_value(
        get(map, "issuerSigned").ok_or_else(|| malformed("issuerSigned"))?,
    )?;
    let device_signed = as_map(
        get(map, "deviceSigned").ok_or_else(|| malformed("deviceSigned"))?,
        "deviceSigned",
    )?;
    let device_namespaces_empty = match get(device_signed, "nameSpaces") {
        Some(Value::Tag(24, inner)) => match inner.as_ref() {
            Value::Bytes(bytes) => decode(bytes) == Some(Value::Map(Vec::new())),
            _ => false,
        },
        _ => false,
    };
    let auth = as_map(
        get(device_signed, "deviceAuth").ok_or_else(|| malformed("deviceAuth"))?,
        "deviceAuth",
    )?;
    let signature = get(auth, "deviceSignature").ok_or_else(|| malformed("deviceSignature"))?;
    let device_signature =
        CoseSign1::from_cbor_value(signature.clone()).map_err(|_| malformed("deviceSignature"))?;
    // The payload is detached (DeviceAuthenticationBytes): an attached one
    // is not this structure (and coset asserts on it when verifying).
    if device_signature.payload.is_some() {
        return Err(malformed("deviceSignature with an attached payload"));
    }
    Ok(Document {
        doc_type,
        issuer_signed,
        device_signature,
        device_namespaces_empty,
    })
}

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

fn tag24(bytes: Vec<u8>) -> Value {
    Value::Tag(24, Box::new(Value::Bytes(bytes)))
}

/// RFC 3339 `tdate` (tag 0), whole seconds, UTC.
fn tdate(at: DateTime<Utc>) -> Value {
    Value::Tag(
        0,
        Box::new(Value::Text(at.to_rfc3339_opts(SecondsFormat::Secs, true))),
    )
}

fn parse_tdate(value: &Value) -> Option<DateTime<Utc>> {
    match value {
        Value::Tag(0, inner) => match inner.as_ref() {
            Value::Text(t) => DateTime::parse_from_rfc3339(t)
                .ok()
                .map(|d| d.with_timezone(&Utc)),
            _ => None,
        },
        _ => None,
    }
}

/// CBOR encoding of a value (writing to a `Vec` cannot fail).
pub(crate) fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = ciborium::into_writer(value, &mut out);
    out
}

/// One whole CBOR item, nothing after it.
pub(crate) fn decode(bytes: &[u8]) -> Option<Value> {
    let mut reader = bytes;
    let value: Value = ciborium::from_reader(&mut reader).ok()?;
    reader.is_empty().then_some(value)
}

fn as_map<'a>(value: &'a Value, what: &str) -> Result<&'a Vec<(Value, Value)>, MdocError> {
    match value {
        Value::Map(map) => Ok(map),
        _ => Err(malformed(what)),
    }
}

fn get<'a>(map: &'a [(Value, Value)], key: &str) -> Option<&'a Value> {
    map.iter()
        .find(|(k, _)| matches!(k, Value::Text(t) if t == key))
        .map(|(_, v)| v)
}

fn as_u64(value: &Value) -> Option<u64> {
    match value {
        Value::Integer(n) => u64::try_from(*n).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Signer;
    use p256::ecdsa::{Signature, SigningKey};

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_slice(&[seed; 32]).unwrap()
    }

    fn sec1(key: &SigningKey) -> Vec<u8> {
        key.verifying_key().to_sec1_point(false).as_bytes().to_vec()
    }

    fn sample() -> ApplicationData {
        ApplicationData {
            name: "番号　花子".into(),
            address: "東京都千代田区".into(),
            birth_date: NaiveDate::from_ymd_opt(1985, 6, 15),
            sex: 2,
            my_number: "123456789018".into(),
            photo_jp2: vec![0, 0, 0, 12, 0x6a, 0x50],
        }
    }

    fn issued() -> (Vec<u8>, SigningKey) {
        let issuer = key(3);
        let device = key(4);
        let at = DateTime::parse_from_rfc3339("2026-07-01T01:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let elements =
            elements_from_application(&sample(), NaiveDate::from_ymd_opt(2026, 7, 1).unwrap());
        let bytes = issue(
            &elements,
            &MsoInput {
                device_key: sec1(&device),
                signed: at,
                valid_from: at,
                valid_until: at + chrono::Duration::days(30),
                status: Some(StatusReference {
                    uri: "https://i.example/sl/1".into(),
                    idx: 7,
                }),
            },
            &[vec![0x30, 0x00]],
            |tbs| Ok::<_, ()>(Signature::to_bytes(&issuer.sign(tbs)).to_vec()),
        )
        .unwrap();
        (bytes, device)
    }

    #[test]
    fn an_issued_record_reads_back_with_every_digest_matching() {
        let (bytes, device) = issued();
        let record = IssuerSigned::from_cbor(&bytes).unwrap();
        assert_eq!(record.mso().doc_type, DOC_TYPE);
        assert_eq!(record.mso().device_key, sec1(&device));
        assert_eq!(record.mso().status.as_ref().unwrap().idx, 7);
        assert!(record.digest_mismatches().is_empty());
        let elements = record.elements();
        assert_eq!(elements.len(), 11);
        assert!(elements.contains(&(
            ElementId::new(NAMESPACE_ISO, "age_in_years"),
            ElementValue::Unsigned(41)
        )));
        assert!(elements.contains(&(
            ElementId::new(NAMESPACE_JP, "birth_date_unicode"),
            ElementValue::Text("1985年6月15日".into())
        )));
        assert_eq!(record.to_cbor(), bytes, "re-encoding keeps the bytes");
        assert!(!format!("{record:?}").contains("花子"));
    }

    #[test]
    fn selective_disclosure_keeps_only_what_was_asked_and_still_matches() {
        let (bytes, _) = issued();
        let record = IssuerSigned::from_cbor(&bytes).unwrap();
        let wanted = [
            ElementId::parse("age_over_20").unwrap(),
            ElementId::parse("org.iso.23220.1.jp/portrait").unwrap(),
        ];
        let disclosed = record.select(&wanted).unwrap();
        let ids: Vec<String> = disclosed
            .elements()
            .iter()
            .map(|(id, _)| id.identifier.clone())
            .collect();
        assert_eq!(ids.len(), 2);
        assert!(ids.contains(&"age_over_20".to_owned()) && ids.contains(&"portrait".to_owned()));
        let reparsed = IssuerSigned::from_cbor(&disclosed.to_cbor()).unwrap();
        assert!(reparsed.digest_mismatches().is_empty());
        assert_eq!(
            record
                .select(&[ElementId::new(NAMESPACE_ISO, "driving_privileges")])
                .unwrap_err(),
            MdocError::ElementAbsent {
                element: "org.iso.23220.1/driving_privileges".into()
            }
        );
    }

    #[test]
    fn a_changed_element_value_no_longer_matches_its_digest() {
        let (bytes, _) = issued();
        let mut record = IssuerSigned::from_cbor(&bytes).unwrap();
        // Change the age in the item's bytes (re-encoded with another value).
        for (_, items) in &mut record.namespaces {
            for item in items.iter_mut().filter(|i| i.identifier == "age_in_years") {
                let mut value = decode(&item.bytes).unwrap();
                if let Value::Map(map) = &mut value {
                    for (k, v) in map.iter_mut() {
                        if *k == text("elementValue") {
                            *v = Value::Integer(17.into());
                        }
                    }
                }
                item.bytes = encode(&value);
            }
        }
        let reparsed = IssuerSigned::from_cbor(&record.to_cbor()).unwrap();
        assert_eq!(
            reparsed.digest_mismatches(),
            [ElementId::new(NAMESPACE_ISO, "age_in_years")]
        );
    }

    #[test]
    fn a_device_response_carries_a_signature_over_the_transcript() {
        let (bytes, device) = issued();
        let record = IssuerSigned::from_cbor(&bytes).unwrap();
        let transcript = encode(&Value::Array(vec![Value::Null, Value::Null, text("x")]));
        let tbs = device_authentication_to_be_signed(&transcript, DOC_TYPE).unwrap();
        let signature: Signature = device.sign(&tbs);
        let disclosed = record
            .select(&[ElementId::parse("age_over_18").unwrap()])
            .unwrap();
        let response = device_response(&disclosed, &signature.to_bytes()).unwrap();
        let parsed = DeviceResponse::from_cbor(&response).unwrap();
        assert_eq!(parsed.version, "1.0");
        assert_eq!(parsed.status, 0);
        let document = parsed.documents.first().unwrap();
        assert_eq!(document.doc_type, DOC_TYPE);
        assert!(document.device_namespaces_empty);
        let payload = device_authentication_bytes(&transcript, DOC_TYPE).unwrap();
        assert_eq!(
            document.device_signature.tbs_detached_data(&payload, b""),
            tbs
        );
        assert!(matches!(
            device_authentication_to_be_signed(&[0xff, 0x00], DOC_TYPE),
            Err(MdocError::Malformed { .. })
        ));
    }

    #[test]
    fn ages_count_from_the_birthday_itself() {
        let birth = NaiveDate::from_ymd_opt(2006, 6, 15).unwrap();
        assert_eq!(
            age_on(birth, NaiveDate::from_ymd_opt(2026, 6, 14).unwrap()),
            19
        );
        assert_eq!(
            age_on(birth, NaiveDate::from_ymd_opt(2026, 6, 15).unwrap()),
            20
        );
    }

    #[test]
    fn garbage_is_a_typed_error() {
        for bytes in [&[][..], &[0xa0], &[0xa1, 0x60, 0x00], &[0xff; 9]] {
            assert!(IssuerSigned::from_cbor(bytes).is_err());
            assert!(DeviceResponse::from_cbor(bytes).is_err());
        }
    }
}
