//! `mynakit sandbox serve`: the reference reset authority over loopback
//! HTTP, driven through mynakit-http's `HttpAuthorityLink` (the desktop's
//! authority link) as a phone drives its own.

mod common;
use common::Served;

use std::process::Command;
use std::time::Duration;

use mynakit_core::layout::{jpki, kenmen};
use mynakit_core::{
    Application, AuthorityError, AuthorityLink, AuthorityRequest, AuthorityResponse,
    IdempotencyKey, SystemClock,
};
use mynakit_http::HttpAuthorityLink;
use mynakit_sandbox::VirtualCard;
use mynakit_sandbox::fixtures::FixtureKey;
use mynakit_sandbox::reset::token::{es256_sign, generate_p256, sec1};
use mynakit_sandbox::reset::wire::to_hex;
use mynakit_sandbox::reset::{
    Challenge, Reservation, ResetKind, cancel_message, reservation_card_message,
    reservation_message,
};
use rsa::Pkcs1v15Sign;
use sha2::{Digest, Sha256};

fn send(link: &HttpAuthorityLink, request: AuthorityRequest) -> AuthorityResponse {
    pollster::block_on(link.send(request)).unwrap()
}

fn body<T: serde::de::DeserializeOwned>(response: &AuthorityResponse) -> T {
    serde_json::from_slice(&response.body).unwrap()
}

/// The body of a PIN-reset reservation (R3: no face check; R4: signed
/// with the signing key) on a fresh challenge from `link`.
fn pin_request(
    link: &HttpAuthorityLink,
    card: &VirtualCard,
    device: &p256::ecdsa::SigningKey,
) -> serde_json::Value {
    let device_key = sec1(device.verifying_key());
    let key = IdempotencyKey::generate().unwrap();
    let answer = send(
        link,
        AuthorityRequest::post("/v1/challenges", b"{}".to_vec(), &key),
    );
    assert_eq!(answer.status, 201);
    assert!(
        answer.date().is_some(),
        "every answer carries the authority's Date"
    );
    let challenge: Challenge = body(&answer);

    let message = reservation_message(&challenge.challenge, ResetKind::AuthPin, None, &device_key);
    // R4: the card's other key signs its own message (before any face check).
    let card_message =
        reservation_card_message(&challenge.challenge, ResetKind::AuthPin, &device_key);
    let jpki_signature = FixtureKey::CardSigning
        .private_key()
        .sign(
            Pkcs1v15Sign::new::<Sha256>(),
            &Sha256::digest(&card_message),
        )
        .unwrap();
    let label = card
        .ef_content(Application::Jpki, jpki::TOKEN_INFO)
        .unwrap();
    serde_json::json!({
        "kind": "auth_pin",
        "challenge_id": challenge.challenge_id,
        "face_check_token": null,
        "certificate": to_hex(card.signing_certificate().unwrap().der()),
        "jpki_signature": to_hex(&jpki_signature),
        "token_label": String::from_utf8_lossy(label).trim_end(),
        "face_record": to_hex(card.ef_content(Application::Kenmen, kenmen::FACE).unwrap()),
        "cv_certificate": to_hex(card.ef_content(Application::Kenmen, kenmen::CV_CERTIFICATE).unwrap()),
        "device_key": to_hex(&device_key),
        "device_signature": to_hex(&es256_sign(device, &message)),
    })
}

/// Reserves a PIN reset over `link`; returns the reservation, the request
/// body and its key.
fn reserve_pin(
    link: &HttpAuthorityLink,
    card: &VirtualCard,
    device: &p256::ecdsa::SigningKey,
) -> (Reservation, serde_json::Value, IdempotencyKey) {
    let request = pin_request(link, card, device);
    let bytes = serde_json::to_vec(&request).unwrap();
    let key = IdempotencyKey::generate().unwrap();
    let created = send(
        link,
        AuthorityRequest::post("/v1/reservations", bytes.clone(), &key),
    );
    assert_eq!(
        created.status,
        201,
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    let reservation: Reservation = body(&created);
    (reservation, request, key)
}

#[test]
fn a_pin_reset_reserved_listed_and_cancelled_over_loopback_http() {
    let served = Served::start();
    let link = HttpAuthorityLink::new(&served.base, Duration::from_secs(10)).unwrap();
    let card = VirtualCard::sample();
    let device = generate_p256().unwrap();
    let device_key = sec1(device.verifying_key());
    let (reservation, request, key) = reserve_pin(&link, &card, &device);
    let bytes = serde_json::to_vec(&request).unwrap();
    assert_eq!(
        reservation.expires_at - reservation.created_at,
        chrono::TimeDelta::hours(24)
    );

    // The answer was lost: the retry gets the same reservation, no second one.
    let retried = send(
        &link,
        AuthorityRequest::post("/v1/reservations", bytes, &key),
    );
    assert_eq!(retried.status, 201);
    assert_eq!(body::<Reservation>(&retried), reservation);
    let listed = send(
        &link,
        AuthorityRequest::get(format!(
            "/v1/reservations?device_key={}",
            to_hex(&device_key)
        )),
    );
    assert_eq!(
        body::<Vec<Reservation>>(&listed),
        std::slice::from_ref(&reservation)
    );

    // The same request under a new key spends nothing twice: its challenge
    // is used (a typed 409).
    let again = send(
        &link,
        AuthorityRequest::post(
            "/v1/reservations",
            serde_json::to_vec(&request).unwrap(),
            &IdempotencyKey::generate().unwrap(),
        ),
    );
    assert_eq!(again.status, 409);
    let error: serde_json::Value = body(&again);
    assert_eq!(error["error"], "challenge_used");

    let cancel = serde_json::json!({"device_signature": to_hex(&es256_sign(&device, &cancel_message(&reservation.id)))});
    let cancelled = send(
        &link,
        AuthorityRequest::post(
            format!("/v1/reservations/{}/cancel", reservation.id),
            serde_json::to_vec(&cancel).unwrap(),
            &IdempotencyKey::generate().unwrap(),
        ),
    );
    assert_eq!(cancelled.status, 200);
    let fetched = send(
        &link,
        AuthorityRequest::get(format!("/v1/reservations/{}", reservation.id)),
    );
    assert_eq!(body::<serde_json::Value>(&fetched)["state"], "cancelled");
}

#[test]
fn refusals_reach_the_core_as_typed_errors() {
    let served = Served::start();
    let link = HttpAuthorityLink::new(&served.base, Duration::from_secs(10)).unwrap();
    // A session for a certificate that is not one.
    let request = serde_json::json!({"auth_certificate": "00", "device_key": "04"});
    let answer = pollster::block_on(mynakit_core::authority::send(
        &link,
        AuthorityRequest::post(
            "/v1/face-check/sessions",
            serde_json::to_vec(&request).unwrap(),
            &IdempotencyKey::generate().unwrap(),
        ),
        &SystemClock,
    ));
    match answer {
        Err(AuthorityError::Refused(response)) => {
            assert_eq!(response.status, 403);
            let error: serde_json::Value = body(&response);
            assert_eq!(error["error"], "certificate_refused");
        }
        other => panic!("expected a 403 refusal, got {other:?}"),
    }
}

#[test]
fn the_served_clock_moves_forward_and_a_reservation_expires_r5() {
    let served = Served::start();
    let link = HttpAuthorityLink::new(&served.base, Duration::from_secs(10)).unwrap();
    let card = VirtualCard::sample();
    let device = generate_p256().unwrap();
    let (reservation, _, _) = reserve_pin(&link, &card, &device);
    let moved = Command::new(env!("CARGO_BIN_EXE_mynakit"))
        .args([
            "sandbox",
            "clock",
            "advance",
            "25h",
            "--authority",
            &served.base,
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        moved.status.success(),
        "{}",
        String::from_utf8_lossy(&moved.stderr)
    );
    let now: serde_json::Value = serde_json::from_slice(&moved.stdout).unwrap();
    let now: chrono::DateTime<chrono::Utc> = serde_json::from_value(now["now"].clone()).unwrap();
    assert!(now > reservation.expires_at);
    let fetched = send(
        &link,
        AuthorityRequest::get(format!("/v1/reservations/{}", reservation.id)),
    );
    assert_eq!(body::<serde_json::Value>(&fetched)["state"], "expired");

    // Bad durations are refused before anything is sent (exit 8).
    let bad = Command::new(env!("CARGO_BIN_EXE_mynakit"))
        .args([
            "sandbox",
            "clock",
            "advance",
            "1.5h",
            "--authority",
            &served.base,
        ])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(8));
}

#[test]
fn w12_a_maintenance_window_is_a_typed_503_and_the_retry_after_it_creates_one_reservation() {
    let served = Served::start();
    let link = HttpAuthorityLink::new(&served.base, Duration::from_secs(10)).unwrap();
    let card = VirtualCard::sample();
    let device = generate_p256().unwrap();
    let bytes = serde_json::to_vec(&pin_request(&link, &card, &device)).unwrap();
    let key = IdempotencyKey::generate().unwrap();
    let request = AuthorityRequest::post("/v1/reservations", bytes, &key);

    let window = Command::new(env!("CARGO_BIN_EXE_mynakit"))
        .args([
            "sandbox",
            "maintenance",
            "5m",
            "--authority",
            &served.base,
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        window.status.success(),
        "{}",
        String::from_utf8_lossy(&window.stderr)
    );
    let sent = |request: AuthorityRequest| {
        pollster::block_on(mynakit_core::authority::send(&link, request, &SystemClock))
    };
    match sent(request.clone()) {
        Err(AuthorityError::OutOfService {
            retry_after: Some(wait),
        }) => assert!((299..=300).contains(&wait.as_secs()), "{wait:?}"),
        other => panic!("expected a 503 with Retry-After, got {other:?}"),
    }

    // `clock advance` past the window ends it (5 minutes: the challenge,
    // fetched before, lives 10); the same request with the same key then
    // creates the reservation, once.
    let moved = Command::new(env!("CARGO_BIN_EXE_mynakit"))
        .args([
            "sandbox",
            "clock",
            "advance",
            "5m",
            "--authority",
            &served.base,
        ])
        .output()
        .unwrap();
    assert!(moved.status.success());
    let created = sent(request.clone()).unwrap();
    assert_eq!(created.status, 201);
    let reservation: Reservation = body(&created);
    assert_eq!(body::<Reservation>(&sent(request).unwrap()), reservation);
    let listed = send(
        &link,
        AuthorityRequest::get(format!(
            "/v1/reservations?device_key={}",
            to_hex(&sec1(device.verifying_key()))
        )),
    );
    assert_eq!(body::<Vec<Reservation>>(&listed), vec![reservation]);

    // Not a served sandbox (nothing listening): exit 12.
    let nowhere = Command::new(env!("CARGO_BIN_EXE_mynakit"))
        .args([
            "sandbox",
            "maintenance",
            "10m",
            "--authority",
            "http://127.0.0.1:9",
        ])
        .output()
        .unwrap();
    assert_eq!(nowhere.status.code(), Some(12));
}
