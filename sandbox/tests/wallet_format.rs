//! The card-substitute record's formats end to end (issue 9, W1, W5, W8,
//! W9): issue with real `IssuerKeys` (IACA root + document signer) →
//! select → device response signed by a P-256 device key → `Verifier`,
//! and one test per way a presentation must fail. A status that cannot be
//! determined is reported as undetermined, never as revoked.

use std::convert::Infallible;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use ciborium::Value;
use mynakit_core::wallet::mdoc::{
    DOC_TYPE, ElementId, ElementValue, IssuerSigned, MsoInput, device_authentication_to_be_signed,
    device_response, elements_from_application, issue,
};
use mynakit_core::wallet::status_list::{
    Status, StatusList, StatusListToken, sign_status_list_token,
};
use mynakit_core::wallet::trust::{ChainFailure, is_mdoc_document_signer};
use mynakit_core::wallet::verifier::{StatusCheck, Verifier, VerifyFailure};
use mynakit_core::wallet::wire::{ApplicationData, StatusReference};
use mynakit_sandbox::iaca::IssuerKeys;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};

const LIST_URI: &str = "https://issuer.sandbox.invalid/v1/wallet/status-lists/1";
const INDEX: u64 = 5;
const NAME: &str = "番号　花子";

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

/// The moment of issue; W5 validity runs to 2026-12-16 00:00 JST.
fn issued_at() -> DateTime<Utc> {
    at("2026-11-16T01:00:00Z")
}

fn valid_until() -> DateTime<Utc> {
    at("2026-12-15T15:00:00Z")
}

/// A moment inside the validity.
fn now() -> DateTime<Utc> {
    at("2026-11-30T10:00:00Z")
}

fn data() -> ApplicationData {
    ApplicationData {
        name: NAME.into(),
        address: "東京都千代田区霞が関２−１−２".into(),
        birth_date: NaiveDate::from_ymd_opt(2005, 4, 2),
        sex: 2,
        my_number: "123456789018".into(),
        photo_jp2: vec![0, 0, 0, 0x0C, 0x6A, 0x50, 0x20, 0x20, 0x0D, 0x0A],
    }
}

fn device_key() -> SigningKey {
    SigningKey::from_slice(&[0x42; 32]).unwrap()
}

fn sec1(key: &SigningKey) -> Vec<u8> {
    key.verifying_key().to_sec1_point(false).as_bytes().to_vec()
}

struct World {
    keys: IssuerKeys,
    record: IssuerSigned,
}

fn world() -> World {
    let keys = IssuerKeys::generate(issued_at()).unwrap();
    let record = record(&keys);
    World { keys, record }
}

fn record(keys: &IssuerKeys) -> IssuerSigned {
    let today = NaiveDate::from_ymd_opt(2026, 11, 16).unwrap();
    let elements = elements_from_application(&data(), today);
    let input = MsoInput {
        device_key: sec1(&device_key()),
        signed: issued_at(),
        valid_from: issued_at(),
        valid_until: valid_until(),
        status: Some(StatusReference {
            uri: LIST_URI.into(),
            idx: INDEX,
        }),
    };
    let bytes = issue(&elements, &input, &keys.x5chain(), |tbs| {
        Ok::<_, Infallible>(keys.sign(tbs))
    })
    .unwrap();
    IssuerSigned::from_cbor(&bytes).unwrap()
}

/// A verifier's SessionTranscript (CBOR): its own nonce makes it unique.
fn transcript(nonce: &str) -> Vec<u8> {
    let value = Value::Array(vec![
        Value::Null,
        Value::Null,
        Value::Array(vec![
            Value::Text("MynaKitTestHandover".into()),
            Value::Text(nonce.into()),
        ]),
    ]);
    let mut out = Vec::new();
    ciborium::into_writer(&value, &mut out).unwrap();
    out
}

fn wanted() -> Vec<ElementId> {
    ["full_name_unicode", "portrait", "age_over_20"]
        .iter()
        .map(|id| ElementId::parse(id).unwrap())
        .collect()
}

/// The holder's response to the verifier with `nonce`, signed by `device`.
fn present(record: &IssuerSigned, nonce: &str, device: &SigningKey) -> Vec<u8> {
    let disclosed = record.select(&wanted()).unwrap();
    let tbs = device_authentication_to_be_signed(&transcript(nonce), DOC_TYPE).unwrap();
    let signature: Signature = device.sign(&tbs);
    device_response(&disclosed, &signature.to_bytes()).unwrap()
}

fn status_list(keys: &IssuerKeys, status: Status, uri: &str, issued: DateTime<Utc>) -> Vec<u8> {
    let mut list = StatusList::new(2, 64).unwrap();
    list.set(INDEX - 1, Status::Invalid).unwrap();
    list.set(INDEX, status).unwrap();
    list.set(INDEX + 1, Status::Suspended).unwrap();
    let token = StatusListToken {
        uri: uri.into(),
        issued_at: issued,
        expires_at: issued + Duration::hours(24),
        ttl: Some(Duration::minutes(20)),
        list,
    };
    sign_status_list_token(&token, &keys.x5chain(), |tbs| {
        Ok::<_, Infallible>(keys.sign(tbs))
    })
    .unwrap()
}

fn verifier(keys: &IssuerKeys) -> Verifier {
    Verifier::new(vec![keys.iaca_der().to_vec()])
}

/// Replaces the first occurrence of `from` in `bytes` by `to` (same length).
fn replace_first(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let pos = bytes
        .windows(from.len())
        .position(|w| w == from)
        .expect("the bytes to tamper with are present");
    let mut out = bytes.to_vec();
    out[pos..pos + to.len()].copy_from_slice(to);
    out
}

fn undetermined(
    result: Result<mynakit_core::wallet::verifier::VerifiedPresentation, VerifyFailure>,
) -> String {
    match result.expect("an unusable list is not a failure").status {
        StatusCheck::Undetermined { reason } => reason,
        StatusCheck::Valid => panic!("status must be undetermined"),
    }
}

#[test]
fn issued_selected_presented_and_verified_with_a_valid_status() {
    let w = world();
    let response = present(&w.record, "n-1", &device_key());
    let list = status_list(&w.keys, Status::Valid, LIST_URI, now());
    let verified = verifier(&w.keys)
        .verify(&response, &transcript("n-1"), now(), Some(&list))
        .unwrap();
    assert_eq!(verified.doc_type, DOC_TYPE);
    assert_eq!(verified.status, StatusCheck::Valid);
    assert_eq!(verified.valid_from, issued_at());
    assert_eq!(verified.valid_until, valid_until());
    // Only what was selected is disclosed, with the card's values.
    let ids: Vec<String> = verified
        .elements
        .iter()
        .map(|(id, _)| id.identifier.clone())
        .collect();
    assert_eq!(ids.len(), 3);
    for id in ["full_name_unicode", "portrait", "age_over_20"] {
        assert!(ids.iter().any(|i| i == id), "{id} disclosed");
    }
    let value = |id: &str| {
        verified
            .elements
            .iter()
            .find(|(e, _)| e.identifier == id)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    assert_eq!(value("full_name_unicode"), ElementValue::Text(NAME.into()));
    assert_eq!(
        value("portrait"),
        ElementValue::Bytes(data().photo_jp2.clone())
    );
    // Born 2005-04-02, issued 2026-11-16: 21.
    assert_eq!(value("age_over_20"), ElementValue::Bool(true));
    // The undisclosed My Number is nowhere in the response.
    assert!(
        !present(&w.record, "n-1", &device_key())
            .windows(12)
            .any(|w| w == b"123456789018")
    );
}

#[test]
fn without_a_status_list_the_status_is_undetermined_not_revoked() {
    let w = world();
    let response = present(&w.record, "n-1", &device_key());
    let reason = undetermined(verifier(&w.keys).verify(&response, &transcript("n-1"), now(), None));
    assert!(!reason.is_empty());
}

#[test]
fn a_tampered_mso_fails_the_issuer_signature() {
    let w = world();
    let response = present(&w.record, "n-1", &device_key());
    // Stretch validUntil inside the signed MSO by a year.
    let tampered = replace_first(&response, b"2026-12-15T15:00:00Z", b"2027-12-15T15:00:00Z");
    assert_eq!(
        verifier(&w.keys).verify(&tampered, &transcript("n-1"), now(), None),
        Err(VerifyFailure::IssuerSignature)
    );
}

#[test]
fn a_tampered_element_value_fails_its_digest() {
    let w = world();
    let response = present(&w.record, "n-1", &device_key());
    let tampered = replace_first(&response, NAME.as_bytes(), "番号　太郎".as_bytes());
    assert_eq!(
        verifier(&w.keys).verify(&tampered, &transcript("n-1"), now(), None),
        Err(VerifyFailure::DigestMismatch {
            element: "org.iso.23220.1.jp/full_name_unicode".into()
        })
    );
}

#[test]
fn an_item_from_another_record_has_no_digest_in_this_mso() {
    // Same keys, same person, fresh salts: the other record's signed item
    // is well formed but this MSO holds no digest for it.
    let w = world();
    let other = record(&w.keys);
    let mine = w
        .record
        .select(&[ElementId::parse("full_name_unicode").unwrap()])
        .unwrap();
    let theirs = other
        .select(&[ElementId::parse("full_name_unicode").unwrap()])
        .unwrap();
    let item_of = |signed: &IssuerSigned| {
        let Value::Map(map) =
            ciborium::from_reader::<Value, _>(signed.to_cbor().as_slice()).unwrap()
        else {
            panic!("IssuerSigned is a map")
        };
        let mut out = Vec::new();
        let (_, namespaces) = map
            .iter()
            .find(|(k, _)| *k == Value::Text("nameSpaces".into()))
            .unwrap();
        ciborium::into_writer(namespaces, &mut out).unwrap();
        out
    };
    let tbs = device_authentication_to_be_signed(&transcript("n-1"), DOC_TYPE).unwrap();
    let signature: Signature = device_key().sign(&tbs);
    let response = device_response(&mine, &signature.to_bytes()).unwrap();
    let spliced = replace_first(&response, &item_of(&mine), &item_of(&theirs));
    assert_eq!(
        verifier(&w.keys).verify(&spliced, &transcript("n-1"), now(), None),
        Err(VerifyFailure::DigestMismatch {
            element: "org.iso.23220.1.jp/full_name_unicode".into()
        })
    );
}

#[test]
fn another_document_type_is_refused() {
    let w = world();
    let response = present(&w.record, "n-1", &device_key());
    // The document's own docType comes first in the response.
    let tampered = replace_first(&response, DOC_TYPE.as_bytes(), b"org.iso.23220.1.jp.xyz");
    assert_eq!(
        verifier(&w.keys).verify(&tampered, &transcript("n-1"), now(), None),
        Err(VerifyFailure::DocType("org.iso.23220.1.jp.xyz".into()))
    );
}

#[test]
fn a_device_signature_over_another_transcript_is_a_replay() {
    let w = world();
    // Signed for verifier session n-1, replayed to session n-2.
    let response = present(&w.record, "n-1", &device_key());
    assert_eq!(
        verifier(&w.keys).verify(&response, &transcript("n-2"), now(), None),
        Err(VerifyFailure::DeviceSignature)
    );
    // Signed by a key the MSO does not bind (a copied record).
    let thief = SigningKey::from_slice(&[0x17; 32]).unwrap();
    let copied = present(&w.record, "n-1", &thief);
    assert_eq!(
        verifier(&w.keys).verify(&copied, &transcript("n-1"), now(), None),
        Err(VerifyFailure::DeviceSignature)
    );
}

#[test]
fn validity_is_from_valid_from_until_before_valid_until() {
    let w = world();
    let response = present(&w.record, "n-1", &device_key());
    let v = verifier(&w.keys);
    let t = transcript("n-1");
    assert_eq!(
        v.verify(&response, &t, issued_at() - Duration::seconds(1), None),
        Err(VerifyFailure::NotYetValid)
    );
    assert!(v.verify(&response, &t, issued_at(), None).is_ok());
    assert!(
        v.verify(&response, &t, valid_until() - Duration::seconds(1), None)
            .is_ok()
    );
    assert_eq!(
        v.verify(&response, &t, valid_until(), None),
        Err(VerifyFailure::Expired)
    );
    // Expiry wins over a VALID status (draft-ietf-oauth-status-list).
    let list = status_list(&w.keys, Status::Valid, LIST_URI, valid_until());
    assert_eq!(
        v.verify(&response, &t, valid_until(), Some(&list)),
        Err(VerifyFailure::Expired)
    );
}

#[test]
fn a_record_from_an_issuer_outside_the_anchors_is_untrusted() {
    let w = world();
    let stranger = IssuerKeys::generate(issued_at()).unwrap();
    let response = present(&record(&stranger), "n-1", &device_key());
    assert_eq!(
        verifier(&w.keys).verify(&response, &transcript("n-1"), now(), None),
        Err(VerifyFailure::UntrustedIssuer(ChainFailure::Untrusted))
    );
    // No anchors at all trusts nobody.
    assert_eq!(
        Verifier::new(Vec::new()).verify(
            &present(&w.record, "n-1", &device_key()),
            &transcript("n-1"),
            now(),
            None
        ),
        Err(VerifyFailure::UntrustedIssuer(ChainFailure::Untrusted))
    );
}

#[test]
fn only_the_document_signer_certificate_counts_as_a_document_signer() {
    // ISO 18013-5 Annex B.1.4: the DS certificate names EKU 1.0.18013.5.1.2;
    // the IACA root does not, so the verifier would refuse it as signer.
    let keys = IssuerKeys::generate(issued_at()).unwrap();
    assert!(is_mdoc_document_signer(&keys.x5chain()[0]));
    assert!(!is_mdoc_document_signer(keys.iaca_der()));
    assert!(!is_mdoc_document_signer(b"not a certificate"));
}

#[test]
fn invalid_is_revoked_suspended_is_suspended_and_other_values_are_not_valid() {
    let w = world();
    let response = present(&w.record, "n-1", &device_key());
    let v = verifier(&w.keys);
    let t = transcript("n-1");
    let check = |status| {
        v.verify(
            &response,
            &t,
            now(),
            Some(&status_list(&w.keys, status, LIST_URI, now())),
        )
    };
    assert_eq!(check(Status::Invalid), Err(VerifyFailure::Revoked));
    assert_eq!(check(Status::Suspended), Err(VerifyFailure::Suspended));
    assert_eq!(
        check(Status::Other(3)),
        Err(VerifyFailure::UnknownStatus(3))
    );
    assert_eq!(check(Status::Valid).unwrap().status, StatusCheck::Valid);
}

#[test]
fn an_unusable_status_list_leaves_the_status_undetermined() {
    let w = world();
    let response = present(&w.record, "n-1", &device_key());
    let v = verifier(&w.keys);
    let t = transcript("n-1");
    // Each list below says INVALID for the record: none may be believed.
    let revoking = status_list(&w.keys, Status::Invalid, LIST_URI, now());

    // Tampered: one bit of the signature flipped.
    let mut tampered = revoking.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    undetermined(v.verify(&response, &t, now(), Some(&tampered)));

    // Expired: issued 25 hours ago with a 24-hour lifetime.
    let stale = status_list(
        &w.keys,
        Status::Invalid,
        LIST_URI,
        now() - Duration::hours(25),
    );
    undetermined(v.verify(&response, &t, now(), Some(&stale)));

    // For another list.
    let other = status_list(
        &w.keys,
        Status::Invalid,
        "https://issuer.sandbox.invalid/v1/wallet/status-lists/2",
        now(),
    );
    undetermined(v.verify(&response, &t, now(), Some(&other)));

    // Signed by an issuer the verifier does not trust.
    let stranger = IssuerKeys::generate(issued_at()).unwrap();
    let forged = status_list(&stranger, Status::Invalid, LIST_URI, now());
    undetermined(v.verify(&response, &t, now(), Some(&forged)));

    // Not a token at all.
    undetermined(v.verify(&response, &t, now(), Some(b"\xd2\x84garbage")));

    // The genuine list still revokes (the checks above are not vacuous).
    assert_eq!(
        v.verify(&response, &t, now(), Some(&revoking)),
        Err(VerifyFailure::Revoked)
    );
}

#[test]
fn malformed_responses_are_typed_failures_never_panics() {
    let w = world();
    let response = present(&w.record, "n-1", &device_key());
    let v = verifier(&w.keys);
    let t = transcript("n-1");
    for cut in [0, 1, 7, response.len() / 3, response.len() - 1] {
        assert!(matches!(
            v.verify(&response[..cut], &t, now(), None),
            Err(VerifyFailure::Malformed(_))
        ));
    }
    // A deviceSignature that carries a payload instead of a detached one
    // (COSE would assert on it): refused as malformed.
    let mut value: Value = ciborium::from_reader(response.as_slice()).unwrap();
    let sign1 = find_device_signature(&mut value).unwrap();
    let Value::Array(parts) = sign1 else {
        panic!("COSE_Sign1 is an array")
    };
    parts[2] = Value::Bytes(b"attached".to_vec());
    let mut attached = Vec::new();
    ciborium::into_writer(&value, &mut attached).unwrap();
    assert!(matches!(
        v.verify(&attached, &t, now(), None),
        Err(VerifyFailure::Malformed(_))
    ));
    // A transcript that is not CBOR cannot verify a device signature.
    assert_eq!(
        v.verify(&response, b"\xff\xff", now(), None),
        Err(VerifyFailure::DeviceSignature)
    );
}

fn find_device_signature(value: &mut Value) -> Option<&mut Value> {
    match value {
        Value::Map(entries) => {
            for (k, v) in entries.iter_mut() {
                if *k == Value::Text("deviceSignature".into()) {
                    return Some(v);
                }
                if let Some(found) = find_device_signature(v) {
                    return Some(found);
                }
            }
            None
        }
        Value::Array(items) => items.iter_mut().find_map(find_device_signature),
        _ => None,
    }
}
