//! `mynakit sandbox serve`: the wallet issuer (issue 9) over loopback HTTP
//! beside the reset authority, through mynakit-http's `HttpAuthorityLink`:
//! the bearer header reaches it, its status list points at the served
//! address, and the sandbox clock moves it through a month (W5, W6(1)).

mod common;
use common::Served;

use std::time::Duration;

use mynakit_core::wallet::wire::{
    ApplyRequest, DeviceKeyDescription, IssuedRecord, NonceResponse, RecordState, RecordStatus,
    ReissueReason, apply_message,
};
use mynakit_core::{
    AuthorityLink, AuthorityRequest, AuthorityResponse, IdempotencyKey, SecurityLevel,
    UserAuthentication,
};
use mynakit_http::HttpAuthorityLink;
use mynakit_sandbox::fixtures::FixtureKey;
use mynakit_sandbox::reset::token::{es256_sign, generate_p256, sec1};
use mynakit_sandbox::{Holder, VirtualCard};
use rsa::Pkcs1v15Sign;
use sha2::{Digest, Sha256};

fn send(link: &HttpAuthorityLink, request: AuthorityRequest) -> AuthorityResponse {
    pollster::block_on(link.send(request)).unwrap()
}

fn post(link: &HttpAuthorityLink, path: &str, body: Vec<u8>) -> AuthorityResponse {
    send(
        link,
        AuthorityRequest::post(path, body, &IdempotencyKey::generate().unwrap()),
    )
}

#[test]
fn the_served_issuer_applies_reads_with_the_bearer_and_moves_with_the_sandbox_clock() {
    let served = Served::start();
    let link = HttpAuthorityLink::new(&served.base, Duration::from_secs(10)).unwrap();
    let card = VirtualCard::sample();
    let holder = Holder::sample();
    let device = generate_p256().unwrap();

    let answer = post(&link, "/v1/wallet/nonces", b"{}".to_vec());
    assert_eq!(answer.status, 201);
    let nonce: NonceResponse = serde_json::from_slice(&answer.body).unwrap();
    let data = mynakit_core::wallet::wire::ApplicationData {
        name: holder.name.clone(),
        address: holder.address.clone(),
        birth_date: holder.birth_date,
        sex: 2,
        my_number: holder.my_number.expose().to_owned(),
        photo_jp2: holder.photo.clone(),
    };
    let device_key = sec1(device.verifying_key());
    let message = apply_message(&nonce.nonce, &device_key, &data.digest());
    let request = ApplyRequest {
        nonce: nonce.nonce,
        data,
        device_key: DeviceKeyDescription {
            public_key: device_key,
            security_level: SecurityLevel::Software,
            user_authentication: UserAuthentication::EveryUse,
            attestation: Vec::new(),
        },
        signing_certificate: card.signing_certificate().unwrap().der().to_vec(),
        card_signature: FixtureKey::CardSigning
            .private_key()
            .sign(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(&message))
            .unwrap(),
        device_signature: es256_sign(&device, &message),
        replaces: None,
    };
    let answer = post(
        &link,
        "/v1/wallet/applications",
        serde_json::to_vec(&request).unwrap(),
    );
    assert_eq!(
        answer.status,
        201,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let record: IssuedRecord = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(
        record.status.uri,
        format!("{}/v1/wallet/status-lists/1", served.base)
    );

    let read = |token: &str| {
        send(
            &link,
            AuthorityRequest::get(format!("/v1/wallet/records/{}", record.record_id))
                .header("Authorization", format!("Bearer {token}")),
        )
    };
    assert_eq!(read(&"00".repeat(32)).status, 401);
    let answer = read(&record.holder_token);
    assert_eq!(answer.status, 200);
    let state: RecordState = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(state.status, RecordStatus::Valid);

    let list = send(&link, AuthorityRequest::get("/v1/wallet/status-lists/1"));
    assert_eq!(list.status, 200);
    assert_eq!(
        list.header("Content-Type"),
        Some("application/statuslist+cwt")
    );
    let iaca = send(&link, AuthorityRequest::get("/v1/wallet/iaca"));
    assert_eq!(iaca.status, 200);
    assert!(!iaca.body.is_empty());

    // The sandbox clock moves the issuer: a month later the record has
    // expired and a re-issue is due (W5, W6(1)).
    let moved = post(
        &link,
        "/v1/sandbox/clock/advance",
        br#"{"by": "32d"}"#.to_vec(),
    );
    assert_eq!(moved.status, 200);
    let state: RecordState = serde_json::from_slice(&read(&record.holder_token).body).unwrap();
    // (Run in late May or June, the holder's birthday comes first.)
    assert!(
        matches!(
            (state.status, state.reissue_due),
            (RecordStatus::Expired, Some(ReissueReason::ValidityEnded))
                | (RecordStatus::Revoked, Some(ReissueReason::Birthday))
        ),
        "{state:?}"
    );
}
