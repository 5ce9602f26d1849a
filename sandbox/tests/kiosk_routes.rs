//! The kiosk's routes (`/v1/kiosk/…`) and the sandbox's maintenance
//! windows (W12), through the one routing function (`reset::handle`) as the
//! in-process link and a served sandbox answer them.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use mynakit_core::layout::{jpki, kenmen};
use mynakit_core::{
    Application, AuthorityError, AuthorityLink, AuthorityRequest, AuthorityResponse,
    IdempotencyKey, LinkError, ManualClock,
};
use mynakit_sandbox::VirtualCard;
use mynakit_sandbox::fixtures::FixtureKey;
use mynakit_sandbox::reset::kiosk::REDEMPTION_PATH;
use mynakit_sandbox::reset::token::{es256_sign, generate_p256, sec1};
use mynakit_sandbox::reset::wire::to_hex;
use mynakit_sandbox::reset::{
    InProcessLink, Kiosk, KioskError, Reservation, ReservationState, ResetAuthority, ResetError,
    ResetKind, SandboxClock, StoreChain, cancel_message, handle, handle_sandbox,
    reservation_card_message, reservation_message,
};
use p256::ecdsa::SigningKey;
use rsa::Pkcs1v15Sign;
use sha2::{Digest, Sha256};

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-06-01T09:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn key() -> IdempotencyKey {
    IdempotencyKey::generate().unwrap()
}

fn send(
    link: &dyn AuthorityLink,
    request: AuthorityRequest,
) -> Result<AuthorityResponse, AuthorityError> {
    pollster::block_on(mynakit_core::authority::send(
        link,
        request,
        &mynakit_core::SystemClock,
    ))
}

/// An in-process authority on a clock the test moves.
struct World {
    clock: Arc<ManualClock>,
    authority: Arc<ResetAuthority>,
    link: Arc<InProcessLink>,
    card: VirtualCard,
    device: SigningKey,
}

impl World {
    fn new() -> Self {
        let clock = Arc::new(ManualClock::new(start()));
        let authority = Arc::new(ResetAuthority::in_memory(clock.clone()).unwrap());
        Self {
            clock,
            link: Arc::new(InProcessLink::new(authority.clone())),
            authority,
            card: VirtualCard::sample(),
            device: generate_p256().unwrap(),
        }
    }

    fn kiosk(&self, chain: StoreChain) -> Kiosk {
        Kiosk::new(self.link.clone(), chain)
    }

    /// The body of a PIN-reset reservation (R3: no face check; R4: the
    /// signing key signs), on a fresh challenge.
    fn pin_reservation_body(&self) -> Vec<u8> {
        let challenge = self.authority.challenge(&key()).unwrap();
        let device_key = sec1(self.device.verifying_key());
        let card_message =
            reservation_card_message(&challenge.challenge, ResetKind::AuthPin, &device_key);
        let message =
            reservation_message(&challenge.challenge, ResetKind::AuthPin, None, &device_key);
        let jpki_signature = FixtureKey::CardSigning
            .private_key()
            .sign(
                Pkcs1v15Sign::new::<Sha256>(),
                &Sha256::digest(&card_message),
            )
            .unwrap();
        let label = self
            .card
            .ef_content(Application::Jpki, jpki::TOKEN_INFO)
            .unwrap();
        let kenmen = |file| to_hex(self.card.ef_content(Application::Kenmen, file).unwrap());
        serde_json::to_vec(&serde_json::json!({
            "kind": "auth_pin",
            "challenge_id": challenge.challenge_id,
            "face_check_token": null,
            "certificate": to_hex(self.card.signing_certificate().unwrap().der()),
            "jpki_signature": to_hex(&jpki_signature),
            "token_label": String::from_utf8_lossy(label).trim_end_matches([' ', '\0']),
            "face_record": kenmen(kenmen::FACE),
            "cv_certificate": kenmen(kenmen::CV_CERTIFICATE),
            "device_key": to_hex(&device_key),
            "device_signature": to_hex(&es256_sign(&self.device, &message)),
        }))
        .unwrap()
    }

    fn reserve_pin(&self) -> Reservation {
        let answer = send(
            self.link.as_ref(),
            AuthorityRequest::post("/v1/reservations", self.pin_reservation_body(), &key()),
        )
        .unwrap();
        serde_json::from_slice(&answer.body).unwrap()
    }
}

fn error_kind(response: &AuthorityResponse) -> String {
    let value: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
    value["error"].as_str().unwrap().to_owned()
}

#[test]
fn a_lookup_finds_the_live_reservation_and_changes_nothing() {
    let world = World::new();
    let reservation = world.reserve_pin();
    let lookup = serde_json::json!({
        "certificate": to_hex(world.card.signing_certificate().unwrap().der()),
        "kind": "auth_pin",
        "chain": "seven_eleven",
    });
    for _ in 0..2 {
        let found = send(
            world.link.as_ref(),
            AuthorityRequest::post(
                "/v1/kiosk/lookups",
                serde_json::to_vec(&lookup).unwrap(),
                &key(),
            ),
        )
        .unwrap();
        assert_eq!(found.status, 200);
        assert_eq!(
            serde_json::from_slice::<Reservation>(&found.body).unwrap(),
            reservation
        );
    }
    // No key needed: a lookup changes nothing.
    let without_key = handle(
        &world.authority,
        "POST",
        "/v1/kiosk/lookups",
        None,
        &serde_json::to_vec(&lookup).unwrap(),
    );
    assert_eq!(without_key.status, 200);

    // The authentication certificate is not the card's identity for a PIN
    // reset (R4): nothing found.
    let wrong = serde_json::json!({
        "certificate": to_hex(world.card.auth_certificate().der()),
        "kind": "auth_pin",
        "chain": "seven_eleven",
    });
    match send(
        world.link.as_ref(),
        AuthorityRequest::post(
            "/v1/kiosk/lookups",
            serde_json::to_vec(&wrong).unwrap(),
            &key(),
        ),
    ) {
        Err(AuthorityError::Refused(response)) => {
            assert_eq!(response.status, 404);
            assert_eq!(error_kind(&response), "reservation_not_found");
        }
        other => panic!("expected reservation_not_found, got {other:?}"),
    }
}

#[test]
fn a_lookup_at_the_wrong_chain_is_refused_r6() {
    let world = World::new();
    world.reserve_pin();
    let lookup = serde_json::json!({
        "certificate": to_hex(world.card.signing_certificate().unwrap().der()),
        "kind": "auth_pin",
        "chain": "lawson",
    });
    match send(
        world.link.as_ref(),
        AuthorityRequest::post(
            "/v1/kiosk/lookups",
            serde_json::to_vec(&lookup).unwrap(),
            &key(),
        ),
    ) {
        Err(AuthorityError::Refused(response)) => {
            assert_eq!(response.status, 403);
            let value: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
            assert_eq!(value["error"], "chain_refused");
            assert_eq!(value["chain"], "lawson");
            assert_eq!(value["kind"], "auth_pin");
        }
        other => panic!("expected chain_refused, got {other:?}"),
    }
}

#[test]
fn a_redemption_needs_a_key_and_a_retry_with_it_gets_the_same_answer() {
    let world = World::new();
    let reservation = world.reserve_pin();
    let body = serde_json::to_vec(&serde_json::json!({
        "reservation_id": reservation.id,
        "chain": "aeon_retail",
    }))
    .unwrap();
    let keyless = handle(&world.authority, "POST", REDEMPTION_PATH, None, &body);
    assert_eq!(keyless.status, 400);
    assert_eq!(error_kind(&keyless), "bad_request");
    assert_eq!(
        world.authority.reservation(&reservation.id).unwrap().state,
        ReservationState::Reserved
    );

    let redemption_key = key();
    let first = send(
        world.link.as_ref(),
        AuthorityRequest::post(REDEMPTION_PATH, body.clone(), &redemption_key),
    )
    .unwrap();
    let redeemed: Reservation = serde_json::from_slice(&first.body).unwrap();
    assert_eq!(redeemed.state, ReservationState::Redeemed);
    assert_eq!(redeemed.redeemed_at_chain, Some(StoreChain::AeonRetail));
    // The answer was lost: the retry gets the same reservation.
    let retry = send(
        world.link.as_ref(),
        AuthorityRequest::post(REDEMPTION_PATH, body.clone(), &redemption_key),
    )
    .unwrap();
    assert_eq!(
        serde_json::from_slice::<Reservation>(&retry.body).unwrap(),
        redeemed
    );
    // A second redemption (another key) is refused.
    match send(
        world.link.as_ref(),
        AuthorityRequest::post(REDEMPTION_PATH, body, &key()),
    ) {
        Err(AuthorityError::Refused(response)) => {
            assert_eq!(response.status, 409);
            assert_eq!(error_kind(&response), "already_redeemed");
        }
        other => panic!("expected already_redeemed, got {other:?}"),
    }
}

/// The in-process link, but the first redemption's answer is lost.
struct LosesFirstRedemption {
    inner: Arc<InProcessLink>,
    lost: Mutex<bool>,
}

#[async_trait::async_trait]
impl AuthorityLink for LosesFirstRedemption {
    async fn send(&self, request: AuthorityRequest) -> Result<AuthorityResponse, LinkError> {
        let path = request.path().to_owned();
        let answer = self.inner.send(request).await;
        let mut lost = self.lost.lock().unwrap();
        if path == REDEMPTION_PATH && !*lost {
            *lost = true;
            return Err(LinkError::Timeout);
        }
        answer
    }
}

#[test]
fn a_lost_confirmation_says_the_card_was_reset_and_a_retry_with_the_key_redeems_once() {
    let mut world = World::new();
    let reservation = world.reserve_pin();
    let link = Arc::new(LosesFirstRedemption {
        inner: world.link.clone(),
        lost: Mutex::new(false),
    });
    let kiosk = Kiosk::new(link, StoreChain::SevenEleven);
    let redemption_key = key();
    let outcome = pollster::block_on(kiosk.redeem(
        &mut world.card,
        ResetKind::AuthPin,
        "SANDBOX1",
        "5678",
        &redemption_key,
    ));
    assert_eq!(
        outcome,
        Err(KioskError::Unconfirmed {
            reservation_id: reservation.id.clone(),
            cause: Box::new(KioskError::Link(AuthorityError::Timeout)),
        })
    );
    // The request did reach the authority (its answer was lost).
    let confirmed = pollster::block_on(kiosk.confirm(&reservation.id, &redemption_key)).unwrap();
    assert_eq!(confirmed.state, ReservationState::Redeemed);
    assert_eq!(
        world.authority.reservation(&reservation.id).unwrap(),
        confirmed
    );
}

#[test]
fn a_maintenance_window_answers_503_with_retry_after_until_it_ends_w12() {
    let world = World::new();
    let until = world.authority.begin_maintenance(TimeDelta::minutes(10));
    assert_eq!(until, start() + TimeDelta::minutes(10));
    assert_eq!(world.authority.maintenance_until(), Some(until));
    let challenge = || AuthorityRequest::post("/v1/challenges", b"{}".to_vec(), &key());
    assert_eq!(
        send(world.link.as_ref(), challenge()),
        Err(AuthorityError::OutOfService {
            retry_after: Some(Duration::from_secs(600))
        })
    );
    world.clock.advance(TimeDelta::seconds(240));
    assert_eq!(
        send(world.link.as_ref(), challenge()),
        Err(AuthorityError::OutOfService {
            retry_after: Some(Duration::from_secs(360))
        })
    );
    // Reads and unknown routes too: every API route is out of service.
    let raw = handle(&world.authority, "GET", "/v1/reservations/abc", None, &[]);
    assert_eq!(raw.status, 503);
    assert_eq!(raw.header("Retry-After"), Some("360"));
    assert_eq!(error_kind(&raw), "out_of_service");
    // Half a second before the end, a whole second is asked for.
    world
        .clock
        .advance(TimeDelta::seconds(359) + TimeDelta::milliseconds(500));
    assert_eq!(
        send(world.link.as_ref(), challenge()),
        Err(AuthorityError::OutOfService {
            retry_after: Some(Duration::from_secs(1))
        })
    );
    // At the end, by the authority's clock, the window is over.
    world.clock.advance(TimeDelta::milliseconds(500));
    assert_eq!(world.authority.maintenance_until(), None);
    assert_eq!(send(world.link.as_ref(), challenge()).unwrap().status, 201);
}

#[test]
fn a_reservation_retried_after_the_window_with_its_key_is_created_exactly_once() {
    let world = World::new();
    let body = world.pin_reservation_body();
    let reservation_key = key();
    let request = AuthorityRequest::post("/v1/reservations", body, &reservation_key);
    world.authority.begin_maintenance(TimeDelta::minutes(10));
    let refused = send(world.link.as_ref(), request.clone());
    assert!(
        matches!(
            refused,
            Err(AuthorityError::OutOfService {
                retry_after: Some(_)
            })
        ),
        "{refused:?}"
    );
    assert!(refused.unwrap_err().is_retryable());
    world.clock.advance(TimeDelta::minutes(10));
    // The same request, the same key: its challenge was not spent by the 503.
    let created = send(world.link.as_ref(), request.clone()).unwrap();
    assert_eq!(created.status, 201);
    let reservation: Reservation = serde_json::from_slice(&created.body).unwrap();
    let again = send(world.link.as_ref(), request).unwrap();
    assert_eq!(
        serde_json::from_slice::<Reservation>(&again.body).unwrap(),
        reservation
    );
    assert_eq!(
        world
            .authority
            .reservations_of(&sec1(world.device.verifying_key()))
            .unwrap(),
        vec![reservation]
    );
}

#[test]
fn the_kiosk_in_a_maintenance_window_changes_nothing_on_the_card() {
    let mut world = World::new();
    let reservation = world.reserve_pin();
    world.authority.begin_maintenance(TimeDelta::minutes(5));
    let outcome = pollster::block_on(world.kiosk(StoreChain::SevenEleven).redeem(
        &mut world.card,
        ResetKind::AuthPin,
        "SANDBOX1",
        "5678",
        &key(),
    ));
    assert_eq!(
        outcome,
        Err(KioskError::Link(AuthorityError::OutOfService {
            retry_after: Some(Duration::from_secs(300))
        }))
    );
    assert_eq!(
        world.card.tries_left(Application::Jpki, jpki::SIGNING_PIN),
        Some(5)
    );
    world.clock.advance(TimeDelta::minutes(5));
    let redeemed = pollster::block_on(world.kiosk(StoreChain::SevenEleven).redeem(
        &mut world.card,
        ResetKind::AuthPin,
        "SANDBOX1",
        "5678",
        &key(),
    ))
    .unwrap();
    assert_eq!(redeemed.id, reservation.id);
    assert_eq!(redeemed.state, ReservationState::Redeemed);
}

#[test]
fn the_sandbox_controls_open_a_window_that_moving_the_clock_ends() {
    let clock = Arc::new(SandboxClock::new());
    let authority = ResetAuthority::in_memory(clock.clone()).unwrap();
    let control = |target: &str, body: serde_json::Value| {
        handle_sandbox(
            &authority,
            &clock,
            "POST",
            target,
            None,
            &serde_json::to_vec(&body).unwrap(),
        )
    };
    let opened = control("/v1/sandbox/maintenance", serde_json::json!({"for": "10m"}));
    assert_eq!(opened.status, 200);
    let opened: serde_json::Value = serde_json::from_slice(&opened.body).unwrap();
    let left = opened["retry_after"].as_i64().unwrap();
    assert!((599..=600).contains(&left), "{left}");

    let api = || handle_sandbox(&authority, &clock, "GET", "/v1/reservations/abc", None, &[]);
    let during = api();
    assert_eq!(during.status, 503);
    let retry_after: i64 = during.header("Retry-After").unwrap().parse().unwrap();
    assert!((599..=600).contains(&retry_after), "{retry_after}");

    // The controls still answer during the window; moving the clock ends it.
    assert_eq!(
        control(
            "/v1/sandbox/clock/advance",
            serde_json::json!({"by": "10m"})
        )
        .status,
        200
    );
    let after = api();
    assert_eq!(after.status, 404);
    assert_eq!(error_kind(&after), "reservation_not_found");

    // `0s` ends a window at once; a bad length is a typed 400.
    control("/v1/sandbox/maintenance", serde_json::json!({"for": "1h"}));
    assert_eq!(api().status, 503);
    let ended = control("/v1/sandbox/maintenance", serde_json::json!({"for": "0s"}));
    let ended: serde_json::Value = serde_json::from_slice(&ended.body).unwrap();
    assert_eq!(ended["retry_after"], 0);
    assert_eq!(api().status, 404);
    let bad = control(
        "/v1/sandbox/maintenance",
        serde_json::json!({"for": "1.5h"}),
    );
    assert_eq!(bad.status, 400);
    assert_eq!(error_kind(&bad), "bad_request");
    // The plain API (what a real authority would serve) has no controls.
    let plain = handle(
        &authority,
        "POST",
        "/v1/sandbox/maintenance",
        Some(key().as_str()),
        br#"{"for": "10m"}"#,
    );
    assert_eq!(plain.status, 404);
    assert_eq!(error_kind(&plain), "no_such_route");
}

#[test]
fn a_cancelled_reservation_is_refused_at_the_kiosk() {
    let mut world = World::new();
    let reservation = world.reserve_pin();
    world
        .authority
        .cancel(
            &key(),
            &reservation.id,
            &es256_sign(&world.device, &cancel_message(&reservation.id)),
        )
        .unwrap();
    let outcome = pollster::block_on(world.kiosk(StoreChain::SevenEleven).redeem(
        &mut world.card,
        ResetKind::AuthPin,
        "SANDBOX1",
        "5678",
        &key(),
    ));
    assert_eq!(
        outcome,
        Err(KioskError::Authority(ResetError::ReservationCancelled))
    );
    assert_eq!(
        world.card.tries_left(Application::Jpki, jpki::SIGNING_PIN),
        Some(5)
    );
}
