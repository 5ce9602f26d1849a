//! Test vectors of the card-substitute record's formats for the mdoc
//! interop suite (`scripts/suites/mdoc.sh`), which checks them with
//! pymdoccbor and a Python reading of the status list — implementations we
//! did not write.
//!
//! `wallet_vectors DIR` writes, with fresh sandbox issuer keys (test keys,
//! never real ones):
//! - `iaca.der`: the IACA root (the anchor);
//! - `issuer_signed.cbor`: a whole record (`IssuerSigned`);
//! - `device_response.cbor`: a `DeviceResponse` disclosing four elements,
//!   signed by the device key over `session_transcript.cbor`;
//! - `device_key.hex`: the device key (SEC1, hex);
//! - `status_list.cwt`: a 2-bit status list token with VALID, INVALID and
//!   SUSPENDED entries, and `status_list.json` (its URI, bits and every
//!   status as our reader sees it);
//! - `expected.json`: the elements the response discloses.

use std::convert::Infallible;
use std::path::PathBuf;

use chrono::{DateTime, Duration, NaiveDate, Timelike, Utc};
use mynakit_core::wallet::mdoc::{
    DOC_TYPE, ElementId, ElementValue, IssuerSigned, MsoInput, device_authentication_to_be_signed,
    device_response, elements_from_application, issue,
};
use mynakit_core::wallet::status_list::{
    Status, StatusList, StatusListToken, sign_status_list_token, verify_status_list_token,
};
use mynakit_core::wallet::verifier::Verifier;
use mynakit_core::wallet::wire::{ApplicationData, StatusReference};
use mynakit_sandbox::iaca::IssuerKeys;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};

const LIST_URI: &str = "https://issuer.sandbox.mynakit.invalid/v1/wallet/status-lists/1";
/// A fixed test scalar for the device key (a fixture, never a real key).
const DEVICE_SCALAR: [u8; 32] = [0x42; 32];

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn value_json(value: &ElementValue) -> serde_json::Value {
    match value {
        ElementValue::Text(t) => serde_json::json!({ "text": t }),
        ElementValue::Bytes(b) => serde_json::json!({ "bytes": hex(b) }),
        ElementValue::Unsigned(n) => serde_json::json!({ "uint": n }),
        ElementValue::Bool(b) => serde_json::json!({ "bool": b }),
        ElementValue::FullDate(d) => serde_json::json!({ "full_date": d.to_string() }),
        other => serde_json::json!({ "other": format!("{other:?}") }),
    }
}

fn main() -> Result<(), String> {
    let dir = PathBuf::from(std::env::args().nth(1).ok_or("usage: wallet_vectors DIR")?);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let write = |name: &str, bytes: &[u8]| {
        std::fs::write(dir.join(name), bytes).map_err(|e| format!("{name}: {e}"))
    };
    // Now, whole seconds (tdates carry no fractions; chrono has no clock feature here).
    let now = DateTime::<Utc>::from(std::time::SystemTime::now())
        .with_nanosecond(0)
        .ok_or("no time")?;
    let keys = IssuerKeys::generate(now)?;
    let device = SigningKey::from_slice(&DEVICE_SCALAR).map_err(|e| e.to_string())?;
    let device_public = device
        .verifying_key()
        .to_sec1_point(false)
        .as_bytes()
        .to_vec();

    let data = ApplicationData {
        name: "番号　花子".into(),
        address: "東京都千代田区霞が関２−１−２".into(),
        birth_date: NaiveDate::from_ymd_opt(1971, 9, 1),
        sex: 2,
        my_number: "123456789018".into(),
        photo_jp2: vec![
            0, 0, 0, 0x0C, 0x6A, 0x50, 0x20, 0x20, 0x0D, 0x0A, 0x87, 0x0A,
        ],
    };
    // The Japan date of issue (UTC+9, no daylight saving).
    let today = (now + Duration::hours(9)).date_naive();
    let elements = elements_from_application(&data, today);
    let index = 5;
    let mso = MsoInput {
        device_key: device_public.clone(),
        signed: now,
        valid_from: now,
        valid_until: now + Duration::days(30),
        status: Some(StatusReference {
            uri: LIST_URI.into(),
            idx: index,
        }),
    };
    let record = issue(&elements, &mso, &keys.x5chain(), |tbs| {
        Ok::<_, Infallible>(keys.sign(tbs))
    })
    .map_err(|e| e.to_string())?;
    let signed = IssuerSigned::from_cbor(&record).map_err(|e| e.to_string())?;

    // The verifier's transcript and the holder's answer.
    let transcript = {
        let value = ciborium::Value::Array(vec![
            ciborium::Value::Null,
            ciborium::Value::Null,
            ciborium::Value::Array(vec![
                ciborium::Value::Text("MynaKitInteropHandover".into()),
                ciborium::Value::Bytes((0u8..16).collect()),
            ]),
        ]);
        let mut out = Vec::new();
        ciborium::into_writer(&value, &mut out).map_err(|e| e.to_string())?;
        out
    };
    let wanted: Vec<ElementId> = ["full_name_unicode", "portrait", "age_over_20", "birth_date"]
        .iter()
        .map(|id| ElementId::parse(id).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    let disclosed = signed.select(&wanted).map_err(|e| e.to_string())?;
    let tbs =
        device_authentication_to_be_signed(&transcript, DOC_TYPE).map_err(|e| e.to_string())?;
    let signature: Signature = device.sign(&tbs);
    let response = device_response(&disclosed, &signature.to_bytes()).map_err(|e| e.to_string())?;

    // A 2-bit list: the record VALID, neighbours INVALID and SUSPENDED,
    // and a spread of every value over 40 entries.
    let mut list = StatusList::new(2, 40).map_err(|e| e.to_string())?;
    for i in 0..40u64 {
        let status = match i % 5 {
            1 => Status::Invalid,
            2 => Status::Suspended,
            4 if i > 30 => Status::Other(3),
            _ => Status::Valid,
        };
        list.set(i, status).map_err(|e| e.to_string())?;
    }
    list.set(index, Status::Valid).map_err(|e| e.to_string())?;
    let token = StatusListToken {
        uri: LIST_URI.into(),
        issued_at: now,
        expires_at: now + Duration::hours(24),
        ttl: Some(Duration::minutes(20)),
        list,
    };
    let cwt = sign_status_list_token(&token, &keys.x5chain(), |tbs| {
        Ok::<_, Infallible>(keys.sign(tbs))
    })
    .map_err(|e| e.to_string())?;
    // What our own reader sees, for the suite to compare with.
    let read = verify_status_list_token(&cwt, &[keys.iaca_der().to_vec()], LIST_URI, now)
        .map_err(|e| e.to_string())?;
    let statuses: Vec<u8> = (0..read.list.len())
        .map(|i| match read.list.get(i) {
            Some(Status::Valid) => 0,
            Some(Status::Invalid) => 1,
            Some(Status::Suspended) => 2,
            Some(Status::Other(v)) => v,
            None => 255,
        })
        .collect();

    // Our own verifier accepts what we hand out (the suite checks the rest).
    let verified = Verifier::new(vec![keys.iaca_der().to_vec()])
        .verify(&response, &transcript, now, Some(&cwt))
        .map_err(|e| format!("our own verifier refuses the vectors: {e}"))?;

    write("iaca.der", keys.iaca_der())?;
    write("issuer_signed.cbor", &record)?;
    write("device_response.cbor", &response)?;
    write("session_transcript.cbor", &transcript)?;
    write("device_key.hex", hex(&device_public).as_bytes())?;
    write("status_list.cwt", &cwt)?;
    let list_json = serde_json::json!({
        "uri": LIST_URI,
        "bits": read.list.bits(),
        "statuses": statuses,
        "record_index": index,
        "now": now.timestamp(),
    });
    write("status_list.json", list_json.to_string().as_bytes())?;
    let expected = serde_json::json!({
        "doc_type": DOC_TYPE,
        "disclosed": verified
            .elements
            .iter()
            .map(|(id, v)| serde_json::json!({
                "namespace": id.namespace,
                "identifier": id.identifier,
                "value": value_json(v),
            }))
            .collect::<Vec<_>>(),
        "record_elements": signed.elements().len(),
    });
    write("expected.json", expected.to_string().as_bytes())?;
    println!("wrote vectors to {}", dir.display());
    Ok(())
}
